//! What an on-site calibration reads: one tag's readings while it stood at a known point.

use chrono::{DateTime, Utc};

use super::readings::NewReading;
use super::{Result, Store, on_pool};

impl Store {
    /// A tag's readings from `from` to `to` (inclusive), oldest first, at most `limit`.
    pub async fn tag_readings_between(
        &self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<NewReading>> {
        const SQL: &str = "SELECT device_id, tag_id, rssi, created_at FROM collection_logs \
             WHERE tag_id = $1 AND created_at >= $2 AND created_at <= $3 \
             ORDER BY created_at, id LIMIT $4";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(tag_id)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }
}
