//! The audit log: who changed what, and when.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::record::select;
use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<i64>,
    pub details: Option<Json<serde_json::Value>>,
}

macro_rules! audit_columns {
    () => {
        "id, occurred_at, user_id, action, entity, entity_id, details"
    };
}

impl Store {
    /// Records one change. `details` must never contain secrets.
    pub async fn audit(
        &self,
        user_id: Option<i64>,
        action: &str,
        entity: &str,
        entity_id: Option<i64>,
        details: serde_json::Value,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO audit_log (occurred_at, user_id, action, entity, entity_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, write, |pool| sqlx::query(SQL)
            .bind(now())
            .bind(user_id)
            .bind(action)
            .bind(entity)
            .bind(entity_id)
            .bind(Json(&details))
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// The newest entries first, optionally for one entity kind.
    pub async fn audit_entries(
        &self,
        entity: Option<&str>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        const SQL: &str = select!(
            audit_columns,
            "FROM audit_log WHERE ($1 IS NULL OR entity = $1) ORDER BY id DESC LIMIT $2 OFFSET $3"
        );
        self.fetch_page_by(SQL, entity.map(str::to_owned), skip, limit)
            .await
    }
}
