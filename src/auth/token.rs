//! API tokens: HS256 JWTs carrying `sub` (the user id, as text, as the original issued
//! them), `role`, `iat` and `exp`, plus `iat_ms`: the issue time in milliseconds, so that a
//! password change invalidates the tokens issued before it even within the same second.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default)]
    pub iat_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token subject is not a user id")]
    BadSubject,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: chrono::Duration,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_minutes: u32) -> Result<Self, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            ttl: chrono::Duration::minutes(i64::from(ttl_minutes)),
        })
    }

    /// Issues a token for `user_id`; returns it with its expiry.
    pub fn issue(&self, user_id: i64, role: &str) -> Result<(String, DateTime<Utc>), TokenError> {
        let now = Utc::now();
        let expires = now + self.ttl;
        let claims = Claims {
            sub: user_id.to_string(),
            role: role.to_string(),
            iat: now.timestamp(),
            exp: expires.timestamp(),
            iat_ms: now.timestamp_millis(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, expires))
    }

    /// The last second (Unix time) at which a token with these claims is still accepted:
    /// its expiry plus the leeway allowed for clocks that differ.
    pub fn accepted_until(&self, claims: &Claims) -> i64 {
        claims.exp + i64::try_from(self.validation.leeway).unwrap_or(0)
    }

    /// Checks signature, algorithm and expiry; returns the user id and the claims.
    pub fn verify(&self, token: &str) -> Result<(i64, Claims), TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        let user_id = data
            .claims
            .sub
            .parse()
            .map_err(|_| TokenError::BadSubject)?;
        Ok((user_id, data.claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef", 60).unwrap();
        let (token, _) = keys.issue(42, "ADMIN").unwrap();
        let (id, claims) = keys.verify(&token).unwrap();
        assert_eq!((id, claims.role.as_str()), (42, "ADMIN"));

        let other = TokenKeys::new(b"another-secret-another-secret-xx", 60).unwrap();
        assert!(other.verify(&token).is_err(), "forged signature accepted");
        assert!(keys.verify("not.a.token").is_err());
    }
}
