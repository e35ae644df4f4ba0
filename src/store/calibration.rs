//! What an on-site calibration reads: one tag's readings while it stood at a known point.

use chrono::{DateTime, Utc};

use super::readings::{NewReading, merged_readings, reading_columns, unmerged_readings};
use super::{Result, Store, on_pool};

/// Tag `$1`'s readings from `$2` to `$3`: the merged part through the tag index, and the
/// tail past the watermark (migration 0024, `store::readings`).
pub(super) const TAG_READINGS_BETWEEN: &str = concat!(
    merged_readings!(
        "tag",
        " AND created_at >= $2 AND created_at <= $3",
        "created_at, id",
        "$4"
    ),
    " UNION ALL ",
    unmerged_readings!("tag"),
    " AND created_at >= $2 AND created_at <= $3 ORDER BY created_at, id LIMIT $4"
);

impl Store {
    /// A tag's readings from `from` to `to` (inclusive), oldest first, at most `limit`.
    pub async fn tag_readings_between(
        &self,
        tag_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<NewReading>> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(
            TAG_READINGS_BETWEEN
        )
        .bind(tag_id)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }
}
