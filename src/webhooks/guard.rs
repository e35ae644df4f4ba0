//! Which addresses a webhook may call. A subscription is written by an administrator, but
//! a URL that reaches the appliance's own network (its database, a router's admin page,
//! a cloud metadata service) turns webhooks into a way in; so private, loopback,
//! link-local and other special addresses are refused unless `webhooks.allow_private`.
//! The check runs on the URL when it is saved and on every address a name resolves to when
//! it is called (a name that resolved to a public address yesterday may not today).

use std::net::{IpAddr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum UrlError {
    #[error("not a URL")]
    NotAUrl,
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL may not carry a user name or password; use the subscription's secret")]
    Credentials,
    #[error(
        "{0} is a private, loopback or link-local address; allow such receivers with webhooks.allow_private"
    )]
    Private(IpAddr),
    #[error(
        "{0} resolves to {1}, a private, loopback or link-local address; allow such receivers with webhooks.allow_private"
    )]
    PrivateName(String, IpAddr),
}

/// Checks a receiver URL: http(s), no credentials in it, and, unless `allow_private`, no
/// literal private address (names are checked when resolved).
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, UrlError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| UrlError::NotAUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlError::Scheme);
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError::Credentials);
    }
    let host = parsed.host_str().ok_or(UrlError::NotAUrl)?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    if let Some(ip) = ip
        && !allow_private
        && !is_public(ip)
    {
        return Err(UrlError::Private(ip));
    }
    Ok(parsed)
}

/// Refuses a URL whose host name resolves only to addresses a webhook may not call (told
/// when the subscription is saved rather than at every attempt). A name that does not
/// resolve now is accepted: it may tomorrow, and each attempt checks again.
pub async fn check_resolved(url: &reqwest::Url, allow_private: bool) -> Result<(), UrlError> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Ok(());
    };
    if allow_private || host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return Ok(());
    }
    let lookup = tokio::net::lookup_host((host, port));
    let Ok(Ok(found)) = tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await
    else {
        return Ok(());
    };
    let found: Vec<IpAddr> = found.map(|a| a.ip()).collect();
    match found.first() {
        Some(&ip) if !found.iter().any(|&ip| is_public(ip)) => {
            Err(UrlError::PrivateName(host.to_string(), ip))
        }
        _ => Ok(()),
    }
}

/// Whether `ip` is an ordinary address on the internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // "This network" and reserved ranges.
                || a == 0
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves names for the webhook client, keeping only the addresses a webhook may call.
pub struct Resolver {
    pub allow_private: bool,
}

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused = found.first().map(SocketAddr::ip);
                return Err(match refused {
                    Some(ip) => UrlError::PrivateName(host, ip).to_string().into(),
                    None => format!("{host} does not resolve").into(),
                });
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_without_credentials_or_private_literals() {
        assert!(check_url("https://hooks.example.com/in", false).is_ok());
        assert!(check_url("http://203.0.114.5:8080/x", false).is_ok());
        assert_eq!(
            check_url("ftp://example.com/", false),
            Err(UrlError::Scheme)
        );
        assert_eq!(check_url("example.com/hook", false), Err(UrlError::NotAUrl));
        assert_eq!(
            check_url("https://user:pw@example.com/", false),
            Err(UrlError::Credentials)
        );
        for private in [
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://192.168.0.10/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            assert!(
                matches!(check_url(private, false), Err(UrlError::Private(_))),
                "{private}"
            );
            assert!(check_url(private, true).is_ok(), "{private} when allowed");
        }
    }
}
