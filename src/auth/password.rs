//! Password hashes: argon2id for everything new; the original backend's passlib
//! `bcrypt_sha256` hashes (formats v1 and v2) still verify, so imported users can log in,
//! and are replaced by argon2id at their next login.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Valid,
    /// Valid, but stored in a legacy format that should be replaced.
    ValidLegacy,
    Invalid,
}

impl PasswordCheck {
    pub fn is_valid(self) -> bool {
        self != PasswordCheck::Invalid
    }
}

/// Hashes a password with argon2id (the crate's defaults: 19 MiB, 2 passes). CPU-bound:
/// call it from a blocking thread.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters cannot fail")
        .to_string()
}

/// At most one password hash per core at a time (each takes 19 MiB and a core's worth of
/// time): what is beyond waits its turn instead of exhausting memory and the blocking pool.
fn hashing_permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Arc::new(Semaphore::new(cores))
    })
}

/// Runs CPU-bound `work` on a blocking thread once one of `permits` is free.
async fn run_limited<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    // The semaphore is never closed.
    let permit = permits.clone().acquire_owned().await.ok();
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
}

/// [`hash_password`] on a blocking thread, so that it does not hold up the async workers;
/// at most one per core at a time.
pub async fn hash_password_in_background(password: &str) -> Result<String, tokio::task::JoinError> {
    let password = password.to_string();
    run_limited(hashing_permits(), move || hash_password(&password)).await
}

/// [`verify_password`] on a blocking thread, at most one per core at a time (login and
/// MQTT CONNECT share the limit). With no stored hash (unknown account) it verifies
/// against a hash of a random password and reports `Invalid`: it then takes as long as for
/// a real account, so timing does not tell which accounts exist.
pub async fn verify_password_in_background(
    password: &str,
    stored: Option<String>,
) -> Result<PasswordCheck, tokio::task::JoinError> {
    let password = password.to_string();
    run_limited(hashing_permits(), move || match stored {
        Some(stored) => verify_password(&password, &stored),
        None => {
            verify_password(&password, dummy_hash());
            PasswordCheck::Invalid
        }
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&super::random_secret(16)))
}

/// Checks `password` against any hash format we accept. CPU-bound: call it from a
/// blocking thread.
pub fn verify_password(password: &str, stored: &str) -> PasswordCheck {
    if stored.starts_with("$argon2") {
        let valid = PasswordHash::new(stored).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        });
        return if valid {
            PasswordCheck::Valid
        } else {
            PasswordCheck::Invalid
        };
    }
    if let Some(rest) = stored.strip_prefix("$bcrypt-sha256$") {
        return match verify_bcrypt_sha256(password, rest) {
            Some(true) => PasswordCheck::ValidLegacy,
            _ => PasswordCheck::Invalid,
        };
    }
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => PasswordCheck::ValidLegacy,
            _ => PasswordCheck::Invalid,
        };
    }
    PasswordCheck::Invalid
}

/// passlib's bcrypt_sha256, after its `$bcrypt-sha256$` prefix:
/// - v2: `v=2,t=2b,r=12$<salt22>$<checksum31>`; bcrypt runs over
///   base64(HMAC-SHA256(key = salt text, message = password));
/// - v1: `2b,12$<salt22>$<checksum31>`; bcrypt runs over base64(SHA-256(password)).
fn verify_bcrypt_sha256(password: &str, rest: &str) -> Option<bool> {
    let mut parts = rest.split('$');
    let (params, salt, checksum) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || salt.len() != 22 || checksum.len() != 31 {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let (variant, rounds, digest) = if let Some(v2) = params.strip_prefix("v=2,") {
        let (ident, rounds) = parse_ident_rounds(v2, "t=", "r=")?;
        let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).ok()?;
        mac.update(password.as_bytes());
        (ident, rounds, b64.encode(mac.finalize().into_bytes()))
    } else {
        let (ident, rounds) = parse_ident_rounds(params, "", "")?;
        (
            ident,
            rounds,
            b64.encode(Sha256::digest(password.as_bytes())),
        )
    };
    if !matches!(variant, "2a" | "2b" | "2y") || !(4..=31).contains(&rounds) {
        return None;
    }
    let standard = format!("${variant}${rounds:02}${salt}{checksum}");
    bcrypt::verify(digest, &standard).ok()
}

/// Parses `<ident_prefix><ident>,<rounds_prefix><rounds>` such as `t=2b,r=12` or `2b,12`.
fn parse_ident_rounds<'a>(
    s: &'a str,
    ident_prefix: &str,
    rounds_prefix: &str,
) -> Option<(&'a str, u32)> {
    let (ident, rounds) = s.split_once(',')?;
    let ident = ident.strip_prefix(ident_prefix)?;
    let rounds = rounds.strip_prefix(rounds_prefix)?.parse().ok()?;
    Some((ident, rounds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let hash = hash_password("s3cret-password");
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            verify_password("s3cret-password", &hash),
            PasswordCheck::Valid
        );
        assert_eq!(verify_password("wrong", &hash), PasswordCheck::Invalid);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limited_work_never_exceeds_its_permits() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let permits = Arc::new(Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks = (0..12).map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            run_limited(&permits, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for result in futures_util::future::join_all(tasks).await {
            result.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2, "{peak:?}");
    }

    #[test]
    fn garbage_hashes_never_verify() {
        for stored in [
            "",
            "plain",
            "$bcrypt-sha256$v=2,t=2b,r=12$short$x",
            "$argon2id$nonsense",
        ] {
            assert_eq!(
                verify_password("plain", stored),
                PasswordCheck::Invalid,
                "{stored}"
            );
        }
    }
}
