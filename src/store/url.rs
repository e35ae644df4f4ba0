//! Database URLs: which engine a URL names, and how a URL is shown without its secrets (in
//! logs, errors and `config show`).

use crate::secrets::REDACTED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }

    pub fn of(url: &str) -> Option<DatabaseKind> {
        if url.starts_with("sqlite:") {
            Some(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DatabaseKind::Postgres)
        } else {
            None
        }
    }
}

/// Hides the secrets of a URL: the password of `postgres://user:pw@host/db`, and the value
/// of query parameters that hold one (`?password=`, `sslpassword=`, `token=`, `secret=`,
/// `api_key=`, …).
pub fn redact_url(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    // A `?` before the `@` means the `@` is in the query, not after a user name.
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) if !userinfo.contains('?') => (Some(userinfo), host),
        _ => (None, authority),
    };
    let mut out = prefix;
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:{REDACTED}@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
    }
    let location = format!("{host}{path}");
    match location.split_once('?') {
        Some((before, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_secret_parameter(key) => format!("{key}={REDACTED}"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&format!("{before}?{}", query.join("&")));
        }
        None => out.push_str(&location),
    }
    out
}

fn is_secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_wherever_they_are() {
        let cases = [
            ("postgres://sv:pw@db/sv", "postgres://sv:***@db/sv"),
            ("postgres://sv@db/sv", "postgres://sv@db/sv"),
            ("sqlite://data/sv.db", "sqlite://data/sv.db"),
            (
                "postgres://db/sv?user=sv&password=pw&sslmode=require",
                "postgres://db/sv?user=sv&password=***&sslmode=require",
            ),
            (
                "postgres://sv:pw@db?sslpassword=k&application_name=x",
                "postgres://sv:***@db?sslpassword=***&application_name=x",
            ),
            (
                "postgres://db?user=a@b&Password=pw",
                "postgres://db?user=a@b&Password=***",
            ),
            (
                "https://h/x?token=t&api_key=k",
                "https://h/x?token=***&api_key=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown.replace("***", REDACTED), "{url}");
        }
    }
}
