//! Chatwoot's share of the webhook outbox (`chatwoot_deliveries`, one queue per incident)
//! and the link between an incident and its conversation.

use chrono::{DateTime, Utc};

use super::record::{record, select};
use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChatwootDelivery {
    pub id: i64,
    pub incident_id: i64,
    pub delivery_id: String,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

macro_rules! chatwoot_delivery_columns {
    () => {
        "id, incident_id, delivery_id, event_type, body, status, attempts, next_attempt_at, \
         last_error, created_at"
    };
}

record!(
    ChatwootDelivery,
    "chatwoot_deliveries",
    chatwoot_delivery_columns
);

/// The `INSERT` of one Chatwoot delivery, run in the webhook outbox's transaction.
pub(super) const ENQUEUE: &str = "INSERT INTO chatwoot_deliveries (incident_id, delivery_id, \
     event_type, body, status, attempts, next_attempt_at, created_at) \
     SELECT id, $2, $3, $4, 'PENDING', 0, $5, $5 FROM incidents WHERE id = $1";

impl Store {
    /// The oldest pending delivery of each incident, if it is due: one per incident, so
    /// that its conversation gets its messages in order.
    pub async fn due_chatwoot_deliveries(&self, limit: i64) -> Result<Vec<ChatwootDelivery>> {
        const SQL: &str = select!(
            chatwoot_delivery_columns,
            "FROM chatwoot_deliveries WHERE id IN (SELECT MIN(id) FROM chatwoot_deliveries \
             WHERE status = 'PENDING' GROUP BY incident_id) \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        self.fetch_all_by2(SQL, now(), limit).await
    }

    /// Remembers an incident's conversation (nothing else of the incident changes).
    pub async fn set_chatwoot_conversation(
        &self,
        incident_id: i64,
        conversation_id: i64,
    ) -> Result<()> {
        const SQL: &str = "UPDATE incidents SET chatwoot_conversation_id = $1 WHERE id = $2";
        on_pool!(self, write, |pool| sqlx::query(SQL)
            .bind(conversation_id)
            .bind(incident_id)
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// The incident whose conversation is `conversation_id`.
    pub async fn incident_by_conversation(
        &self,
        conversation_id: i64,
    ) -> Result<Option<super::incidents::Incident>> {
        const SQL: &str = "SELECT id FROM incidents WHERE chatwoot_conversation_id = $1 \
             ORDER BY id LIMIT 1";
        let id: Option<i64> = on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(conversation_id)
            .fetch_optional(pool)
            .await?);
        match id {
            Some(id) => Ok(Some(self.fetch_by_id(id).await?)),
            None => Ok(None),
        }
    }
}

impl Store {
    /// The name an agent's messages carry: the full name, else the e-mail, of the user
    /// linked to Chatwoot agent `agent_id`.
    pub async fn chatwoot_agent_name(&self, agent_id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT COALESCE(NULLIF(TRIM(full_name), ''), email) FROM users \
             WHERE chatwoot_agent_id = $1 ORDER BY id LIMIT 1";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(agent_id)
            .fetch_optional(pool)
            .await?))
    }
}

impl Store {
    /// Chatwoot deliveries waiting to be sent.
    pub async fn pending_chatwoot_deliveries(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM chatwoot_deliveries WHERE status = 'PENDING'";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .fetch_one(pool)
            .await?))
    }
}
