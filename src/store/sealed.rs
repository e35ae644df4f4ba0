//! The values sealed with the data directory's `secret-key` (camera and device passwords,
//! webhook signing secrets), read at start to check that the key still opens them.

use super::{Result, Store, on_pool};

/// Sealed values carry this prefix (see `secrets::SecretBox::seal`).
const SEALED_PREFIX_PATTERN: &str = "v1:%";

impl Store {
    /// Every sealed value stored.
    pub async fn sealed_secrets(&self) -> Result<Vec<String>> {
        const SQL: &str = "SELECT password_encrypted FROM devices WHERE password_encrypted LIKE $1 \
             UNION ALL SELECT secret_token FROM webhook_subscriptions WHERE secret_token LIKE $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(SEALED_PREFIX_PATTERN)
            .fetch_all(pool)
            .await?))
    }

    /// Forgets every sealed value (after the key was lost): returns how many device passwords
    /// and webhook secrets were cleared.
    pub async fn clear_sealed_secrets(&self) -> Result<(u64, u64)> {
        const DEVICES: &str =
            "UPDATE devices SET password_encrypted = NULL WHERE password_encrypted LIKE $1";
        const WEBHOOKS: &str =
            "UPDATE webhook_subscriptions SET secret_token = NULL WHERE secret_token LIKE $1";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let devices = sqlx::query(DEVICES)
                .bind(SEALED_PREFIX_PATTERN)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let webhooks = sqlx::query(WEBHOOKS)
                .bind(SEALED_PREFIX_PATTERN)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok((devices, webhooks))
        })
    }
}
