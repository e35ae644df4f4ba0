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

impl Store {
    /// Inserts or updates sessions, in order, in one transaction.
    pub async fn write_presence_sessions(&self, sessions: &[SessionWrite]) -> Result<()> {
        const UPSERT: &str = "INSERT INTO presence_sessions (device_id, tag_id, started_at, ended_at, duration_seconds, \
             samples_count, is_open) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tag_id, device_id, started_at) DO UPDATE SET ended_at = excluded.ended_at, \
             duration_seconds = excluded.duration_seconds, samples_count = excluded.samples_count, \
             is_open = excluded.is_open";
        if sessions.is_empty() {
            return Ok(());
        }
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            for s in sessions {
                sqlx::query(UPSERT)
                    .bind(s.device_id)
                    .bind(s.tag_id)
                    .bind(s.started_at)
                    .bind(s.ended_at)
                    .bind((s.ended_at - s.started_at).num_seconds())
                    .bind(s.samples)
                    .bind(s.is_open)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Closes sessions left open by a previous run (their end is their last sample).
    pub async fn close_open_presence_sessions(&self) -> Result<u64> {
        const SQL: &str = "UPDATE presence_sessions SET is_open = FALSE WHERE is_open = TRUE";
        Ok(on_pool!(self, write, |pool| sqlx::query(SQL)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
