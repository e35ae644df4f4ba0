//! Readings ("collection logs"): one tag heard by one gateway at one moment.

use chrono::{DateTime, Utc};

use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Reading {
    pub id: i64,
    pub device_id: i64,
    pub tag_id: i64,
    pub rssi: Option<i32>,
    pub raw_payload: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which readings a list returns; filters apply in SQL, before paging.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadingFilter {
    pub device_id: Option<i64>,
    pub tag_id: Option<i64>,
}

/// A reading to store in a batch.
#[derive(Debug, Clone)]
pub struct NewReading {
    pub device_id: i64,
    pub tag_id: i64,
    pub rssi: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// Rows per multi-row statement: SQLite binds at most 32,766 parameters.
const BATCH_ROWS: usize = 1000;

impl Store {
    /// Stores readings and gateways' `last_seen_at` in one transaction. Each engine takes its
    /// fast path (`stack-notes.md` §5): multi-row `INSERT` with `?` placeholders on SQLite
    /// (its `$N` lookup is quadratic), `INSERT … SELECT FROM UNNEST` on PostgreSQL.
    pub async fn store_readings(
        &self,
        readings: &[NewReading],
        seen: &[(i64, DateTime<Utc>)],
    ) -> Result<()> {
        const SEEN: &str = "UPDATE devices SET last_seen_at = $2 \
             WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)";
        match self {
            Store::Sqlite(db) => {
                let mut tx = db.writer().begin().await?;
                for chunk in readings.chunks(BATCH_ROWS) {
                    let mut sql = String::from(
                        "INSERT INTO collection_logs (device_id, tag_id, rssi, created_at) VALUES ",
                    );
                    for i in 0..chunk.len() {
                        sql.push_str(if i == 0 {
                            "(?, ?, ?, ?)"
                        } else {
                            ", (?, ?, ?, ?)"
                        });
                    }
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        query = query
                            .bind(r.device_id)
                            .bind(r.tag_id)
                            .bind(r.rssi)
                            .bind(r.created_at);
                    }
                    query.execute(&mut *tx).await?;
                }
                for (device_id, at) in seen {
                    sqlx::query(SEEN)
                        .bind(device_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Store::Postgres(pool) => {
                const INSERT: &str = "INSERT INTO collection_logs (device_id, tag_id, rssi, created_at) \
                     SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::timestamptz[])";
                let mut tx = pool.begin().await?;
                for chunk in readings.chunks(BATCH_ROWS * 10) {
                    let devices: Vec<i64> = chunk.iter().map(|r| r.device_id).collect();
                    let tags: Vec<i64> = chunk.iter().map(|r| r.tag_id).collect();
                    let rssi: Vec<Option<i32>> = chunk.iter().map(|r| r.rssi).collect();
                    let times: Vec<DateTime<Utc>> = chunk.iter().map(|r| r.created_at).collect();
                    sqlx::query(INSERT)
                        .bind(devices)
                        .bind(tags)
                        .bind(rssi)
                        .bind(times)
                        .execute(&mut *tx)
                        .await?;
                }
                for (device_id, at) in seen {
                    sqlx::query(SEEN)
                        .bind(device_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Newest first.
    pub async fn list_readings(
        &self,
        filter: ReadingFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Reading>> {
        const SQL: &str = "SELECT id, device_id, tag_id, rssi, raw_payload, created_at FROM collection_logs \
             WHERE ($1 IS NULL OR device_id = $1) AND ($2 IS NULL OR tag_id = $2) \
             ORDER BY id DESC LIMIT $3 OFFSET $4";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(filter.device_id)
            .bind(filter.tag_id)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    pub async fn reading(&self, id: i64) -> Result<Reading> {
        const SQL: &str = "SELECT id, device_id, tag_id, rssi, raw_payload, created_at FROM collection_logs WHERE id = $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_one(pool)
            .await?))
    }

    /// Inserts one reading stamped now.
    pub async fn insert_reading(&self, r: &Reading) -> Result<Reading> {
        const SQL: &str = "INSERT INTO collection_logs (device_id, tag_id, rssi, raw_payload, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, device_id, tag_id, rssi, raw_payload, created_at";
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(r.device_id)
            .bind(r.tag_id)
            .bind(r.rssi)
            .bind(&r.raw_payload)
            .bind(now())
            .fetch_one(pool)
            .await?))
    }

    /// Updates the RSSI and raw payload of a reading (the rest is what was heard, fixed).
    pub async fn update_reading(&self, r: &Reading) -> Result<Reading> {
        const SQL: &str = "UPDATE collection_logs SET rssi = $2, raw_payload = $3 WHERE id = $1 \
             RETURNING id, device_id, tag_id, rssi, raw_payload, created_at";
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(r.id)
            .bind(r.rssi)
            .bind(&r.raw_payload)
            .fetch_one(pool)
            .await?))
    }

    pub async fn delete_reading(&self, id: i64) -> Result<()> {
        self.delete_by_id("DELETE FROM collection_logs WHERE id = $1", id)
            .await
    }
}

impl Store {
    /// Deletes readings older than `cutoff`, in chunks so that a long backlog never holds
    /// the writer for long; returns how many were deleted.
    pub async fn delete_readings_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        const CHUNK: &str = "DELETE FROM collection_logs WHERE id IN \
             (SELECT id FROM collection_logs WHERE created_at < $1 LIMIT 10000)";
        let mut total = 0;
        loop {
            let deleted = on_pool!(self, write, |pool| sqlx::query(CHUNK)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected());
            total += deleted;
            if deleted == 0 {
                return Ok(total);
            }
        }
    }
}
