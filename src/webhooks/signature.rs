//! The signatures of a delivery, so that a receiver can check it came from this appliance.
//!
//! - `X-SV-Signature: sha256=<hex>`: HMAC-SHA256 of the body alone, as the original sent
//!   it (receivers written for it keep working);
//! - `X-SV-Signature-V2: sha256=<hex>`: HMAC-SHA256 of `<X-SV-Timestamp>.<body>`, so that a
//!   receiver can also refuse an old delivery replayed later.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The two header values for `body` sent at `timestamp` (Unix seconds, as sent).
pub fn sign(key: &str, timestamp: &str, body: &[u8]) -> (String, String) {
    let mac = |parts: &[&[u8]]| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any size");
        for part in parts {
            mac.update(part);
        }
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    };
    (mac(&[body]), mac(&[timestamp.as_bytes(), b".", body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let (v1, _) = sign("Jefe", "0", b"what do ya want for nothing?");
        assert_eq!(
            v1,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // V2 signs the timestamp, a dot and the body.
        let (_, v2) = sign("Jefe", "1700000000", b"{}");
        assert_eq!(v2, sign("Jefe", "", b"1700000000.{}").0);
        assert_ne!(v2, sign("Jefe", "1700000001", b"{}").1);
    }
}
