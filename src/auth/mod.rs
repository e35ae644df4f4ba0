//! Authentication: password hashes, API tokens, login throttling and per-address rate
//! limits.

mod password;
mod throttle;
mod token;

pub use password::{PasswordCheck, hash_password_in_background, verify_password_in_background};
pub use throttle::{AddressRateLimiter, LoginAttempt, LoginThrottle, address_key};
pub use token::{Claims, TokenError, TokenKeys};

/// Normalises an e-mail address for storage and lookup: trimmed and lower-cased (the
/// original kept the local part's case, which let `Ana@x` and `ana@x` be two accounts).
/// Returns `None` unless it looks like `local@domain`.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && email.len() <= 255
        && !domain.contains('@')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    valid.then_some(email)
}

/// A random secret of `bytes` bytes, URL-safe base64 without padding.
pub fn random_secret(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(
            normalize_email(" Ana@Example.COM "),
            Some("ana@example.com".into())
        );
        assert_eq!(
            normalize_email("admin@localhost"),
            Some("admin@localhost".into())
        );
        for bad in ["", "ana", "@x", "ana@", "a b@x", "a@b@c", "a@.x", "a@x."] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn random_secrets_differ() {
        let a = random_secret(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret(32));
    }
}
