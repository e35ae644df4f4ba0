//! Presence sessions: a tag continuously heard by one gateway (no gap longer than the
//! configured one), materialised by the pipeline as sessions open, grow and close.

use chrono::{DateTime, Utc};

use super::{Result, Store, on_pool};

/// One write of a session, identified by its tag, gateway and start.
#[derive(Debug, Clone)]
pub struct SessionWrite {
    pub tag_id: i64,
    pub device_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub samples: i32,
    pub is_open: bool,
}

impl SessionWrite {
    pub fn duration_seconds(&self) -> i64 {
        (self.ended_at - self.started_at).num_seconds()
    }
}

impl Store {
    /// Closes sessions left open by a previous run (their end is their last sample).
    pub async fn close_open_presence_sessions(&self) -> Result<u64> {
        const SQL: &str = "UPDATE presence_sessions SET is_open = FALSE WHERE is_open = TRUE";
        Ok(on_pool!(self, write, |pool| sqlx::query(SQL)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
