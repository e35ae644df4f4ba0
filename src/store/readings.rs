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

impl Store {
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
