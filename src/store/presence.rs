//! Presence sessions: a tag continuously heard by one gateway (no gap longer than the
//! configured one), materialised by the pipeline as sessions open, grow and close.

use chrono::{DateTime, Utc};

use super::{Result, Store, on_pool};

/// One write of a session.
#[derive(Debug, Clone)]
pub struct SessionWrite {
    /// `None`: not stored yet (insert).
    pub id: Option<i64>,
    pub tag_id: i64,
    pub device_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub samples: i32,
    pub is_open: bool,
}

impl Store {
    /// Writes sessions in one transaction; returns the ids, in order (new ones inserted).
    pub async fn write_presence_sessions(&self, sessions: &[SessionWrite]) -> Result<Vec<i64>> {
        const INSERT: &str = "INSERT INTO presence_sessions (device_id, tag_id, started_at, ended_at, duration_seconds, \
             samples_count, is_open) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        const UPDATE: &str = "UPDATE presence_sessions SET ended_at = $2, duration_seconds = $3, samples_count = $4, \
             is_open = $5 WHERE id = $1";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let mut ids = Vec::with_capacity(sessions.len());
            for s in sessions {
                let duration = (s.ended_at - s.started_at).num_seconds();
                match s.id {
                    None => {
                        let id: i64 = sqlx::query_scalar(INSERT)
                            .bind(s.device_id)
                            .bind(s.tag_id)
                            .bind(s.started_at)
                            .bind(s.ended_at)
                            .bind(duration)
                            .bind(s.samples)
                            .bind(s.is_open)
                            .fetch_one(&mut *tx)
                            .await?;
                        ids.push(id);
                    }
                    Some(id) => {
                        sqlx::query(UPDATE)
                            .bind(id)
                            .bind(s.ended_at)
                            .bind(duration)
                            .bind(s.samples)
                            .bind(s.is_open)
                            .execute(&mut *tx)
                            .await?;
                        ids.push(id);
                    }
                }
            }
            tx.commit().await?;
            Ok(ids)
        })
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
