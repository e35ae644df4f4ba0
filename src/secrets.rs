//! Secrets the appliance must keep but never show (camera and device passwords): sealed
//! with XChaCha20-Poly1305 under a key kept in the data directory (`secret-key`, mode
//! 0600, generated on first use). Nodes sharing one PostgreSQL database must share it.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Shown instead of a secret (logs, errors, `config show`).
pub const REDACTED: &str = "<redacted>";

pub const SECRET_KEY_FILE: &str = "secret-key";
const PREFIX: &str = "v1:";

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// Loads the key from `<data_dir>/secret-key`, creating it if missing — unless `sealed`
    /// (the values stored sealed) shows that a key existed: a lost or replaced key must not
    /// silently leave every stored camera password unreadable.
    pub fn load(data_dir: &Path, sealed: &[String]) -> anyhow::Result<SecretBox> {
        let path = data_dir.join(SECRET_KEY_FILE);
        let recovery = format!(
            "restore {} from a backup (`securityvision restore`), or run `securityvision secrets reset` \
             to forget the {} sealed value(s) (camera and device passwords, webhook signing secrets: \
             enter them again afterwards)",
            path.display(),
            sealed.len()
        );
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => decode_key(&text).with_context(|| {
                format!("{} does not hold a 32-byte base64 key", path.display())
            })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                anyhow::ensure!(
                    sealed.is_empty(),
                    "{} is missing, but the database holds values sealed with it: {recovery}",
                    path.display()
                );
                return Self::create(&path);
            }
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let secrets = SecretBox::with_key(&key);
        let unreadable = sealed.iter().filter(|s| secrets.open(s).is_none()).count();
        anyhow::ensure!(
            sealed.is_empty() || unreadable < sealed.len(),
            "{} does not open the values sealed in the database (another appliance's key?): {recovery}",
            path.display()
        );
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "some stored secrets do not open with the secret key"
            );
        }
        Ok(secrets)
    }

    /// Writes a new random key to `path` (replacing any).
    pub fn create(path: &Path) -> anyhow::Result<SecretBox> {
        let mut key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut key);
        crate::bootstrap::write_private_file(
            path,
            &base64::engine::general_purpose::STANDARD.encode(&key),
        )?;
        tracing::info!(path = %path.display(), "generated a new key for stored secrets");
        Ok(SecretBox::with_key(&key))
    }

    fn with_key(key: &[u8]) -> SecretBox {
        let cipher = XChaCha20Poly1305::new_from_slice(key).expect("32-byte key");
        SecretBox { cipher }
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The plaintext, or `None` if `sealed` was not made with this key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed.strip_prefix(PREFIX)?)
            .ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

fn decode_key(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .filter(|k| k.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretBox::load(dir.path(), &[]).unwrap();
        let sealed = key.seal("camera-password");
        assert!(!sealed.contains("camera-password"));
        assert_ne!(sealed, key.seal("camera-password"), "fresh nonce each time");
        assert_eq!(key.open(&sealed).as_deref(), Some("camera-password"));
        let again = SecretBox::load(dir.path(), std::slice::from_ref(&sealed)).unwrap();
        assert_eq!(
            again.open(&sealed).as_deref(),
            Some("camera-password"),
            "key persisted"
        );
        let other = SecretBox::load(tempfile::tempdir().unwrap().path(), &[]).unwrap();
        assert_eq!(other.open(&sealed), None);
        assert_eq!(key.open("plain"), None);
    }

    #[test]
    fn a_lost_or_foreign_key_is_refused_while_sealed_values_exist() {
        let dir = tempfile::tempdir().unwrap();
        let sealed = vec![
            SecretBox::load(dir.path(), &[])
                .unwrap()
                .seal("camera-password"),
        ];
        let foreign = tempfile::tempdir().unwrap();
        SecretBox::load(foreign.path(), &[]).unwrap();
        std::fs::copy(
            foreign.path().join(SECRET_KEY_FILE),
            dir.path().join(SECRET_KEY_FILE),
        )
        .unwrap();
        let err = SecretBox::load(dir.path(), &sealed)
            .err()
            .expect("a foreign key is refused");
        assert!(format!("{err:#}").contains("does not open"), "{err:#}");
        std::fs::remove_file(dir.path().join(SECRET_KEY_FILE)).unwrap();
        let err = SecretBox::load(dir.path(), &sealed)
            .err()
            .expect("a missing key is refused");
        assert!(format!("{err:#}").contains("secrets reset"), "{err:#}");
        assert!(
            !dir.path().join(SECRET_KEY_FILE).exists(),
            "no new key written over the loss"
        );
    }
}
