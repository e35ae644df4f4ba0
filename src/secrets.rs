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
    /// Loads the key from `<data_dir>/secret-key`, creating it if missing.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<SecretBox> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let path = data_dir.join(SECRET_KEY_FILE);
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => b64
                .decode(text.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .with_context(|| {
                    format!("{} does not hold a 32-byte base64 key", path.display())
                })?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                crate::bootstrap::write_private_file(&path, &b64.encode(&key))?;
                tracing::info!(path = %path.display(), "generated a new key for stored secrets");
                key
            }
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key");
        Ok(SecretBox { cipher })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretBox::load_or_create(dir.path()).unwrap();
        let sealed = key.seal("camera-password");
        assert!(!sealed.contains("camera-password"));
        assert_ne!(sealed, key.seal("camera-password"), "fresh nonce each time");
        assert_eq!(key.open(&sealed).as_deref(), Some("camera-password"));
        let again = SecretBox::load_or_create(dir.path()).unwrap();
        assert_eq!(
            again.open(&sealed).as_deref(),
            Some("camera-password"),
            "key persisted"
        );
        let other = SecretBox::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert_eq!(other.open(&sealed), None);
        assert_eq!(key.open("plain"), None);
    }
}
