//! Webhook subscriptions and their outbox: one delivery row per event a subscription
//! wants, written before anyone is called, delivered in order and retried by the worker
//! (`crate::webhooks`).

use chrono::{DateTime, Utc};

use super::record::{record, save_row, select};
use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Subscription {
    pub id: i64,
    pub name: String,
    pub url: String,
    /// Sealed with the appliance's key; a value written by the original backend may still
    /// be in clear (see `crate::webhooks::signing_key`).
    pub secret_token: Option<String>,
    /// The original's single type; `None`: no restriction from it.
    pub event_type_filter: Option<String>,
    /// Comma-framed wire names (`,A,B,`); `None`: every type.
    pub event_types: Option<String>,
    pub is_active: bool,
    /// Set when its deliveries kept failing (see `crate::webhooks`); cleared by a resume.
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! subscription_columns {
    () => {
        "id, name, url, secret_token, event_type_filter, event_types, is_active, paused_at, \
         pause_reason, created_at, updated_at"
    };
}

record!(Subscription, "webhook_subscriptions", subscription_columns);

pub const PENDING: &str = "PENDING";
pub const DELIVERED: &str = "DELIVERED";
pub const FAILED: &str = "FAILED";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub subscription_id: i64,
    pub delivery_id: String,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

macro_rules! delivery_columns {
    () => {
        "id, subscription_id, delivery_id, event_type, body, status, attempts, next_attempt_at, \
         last_status_code, last_error, created_at, delivered_at"
    };
}

record!(Delivery, "webhook_deliveries", delivery_columns);

/// An event on its way to the outbox: the body is final (the bytes every receiver gets).
pub struct Outgoing<'a> {
    pub event_type: &'a str,
    pub body: &'a str,
    /// The incident whose Chatwoot conversation gets it too, if any.
    pub chatwoot_incident: Option<i64>,
}

/// The two delivery outboxes, the webhook subscriptions' and Chatwoot's: the same delivery
/// state in each, claimed, attempted and purged alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryTable {
    Webhooks,
    Chatwoot,
}

/// The statements on the delivery state of an outbox.
struct OutboxSql {
    claim: &'static str,
    finish: &'static str,
    delete_finished: &'static str,
}

/// The statements of the outbox table `$table`.
macro_rules! outbox_sql {
    ($table:literal) => {
        OutboxSql {
            claim: concat!(
                "UPDATE ",
                $table,
                " SET next_attempt_at = $1 \
                 WHERE id = $2 AND status = 'PENDING' AND next_attempt_at = $3"
            ),
            finish: concat!(
                "UPDATE ",
                $table,
                " SET status = $1, attempts = attempts + 1, \
                 last_status_code = $2, last_error = $3, next_attempt_at = $4, \
                 delivered_at = CASE WHEN $1 = 'DELIVERED' THEN $5 ELSE delivered_at END \
                 WHERE id = $6"
            ),
            delete_finished: concat!(
                "DELETE FROM ",
                $table,
                " WHERE status <> 'PENDING' AND created_at < $1"
            ),
        }
    };
}

impl DeliveryTable {
    const fn sql(self) -> OutboxSql {
        match self {
            DeliveryTable::Webhooks => outbox_sql!("webhook_deliveries"),
            DeliveryTable::Chatwoot => outbox_sql!("chatwoot_deliveries"),
        }
    }
}

/// The subscriptions that want an event of type `$1`, given `$2` = `%,<type>,%`.
macro_rules! wanting {
    () => {
        "FROM webhook_subscriptions WHERE is_active \
         AND (event_type_filter IS NULL OR event_type_filter = $1) \
         AND (event_types IS NULL OR event_types LIKE $2)"
    };
}

/// The statement listing a subscription's deliveries, newest first; with a status, along the
/// queue's index (status, subscription, id): along the subscription's alone, SQLite walked
/// all its deliveries for a status seldom met.
fn delivery_list(status: Option<&str>) -> &'static str {
    match status {
        Some(_) => select!(
            delivery_columns,
            "FROM webhook_deliveries WHERE status = $2 AND subscription_id = $1 \
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ),
        None => select!(
            delivery_columns,
            "FROM webhook_deliveries WHERE subscription_id = $1 AND ($2 IS NULL OR status = $2) \
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ),
    }
}

impl Store {
    pub async fn save_webhook_subscription(&self, s: &Subscription) -> Result<Subscription> {
        const INSERT: &str = concat!(
            "INSERT INTO webhook_subscriptions (name, url, secret_token, event_type_filter, event_types, \
             is_active, updated_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
            subscription_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE webhook_subscriptions SET name = $1, url = $2, secret_token = $3, event_type_filter = $4, \
             event_types = $5, is_active = $6, updated_at = $7 WHERE id = $8 RETURNING ",
            subscription_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            s,
            INSERT,
            UPDATE,
            |q| q
                .bind(&s.name)
                .bind(&s.url)
                .bind(&s.secret_token)
                .bind(&s.event_type_filter)
                .bind(&s.event_types)
                .bind(s.is_active)
                .bind(now())
        )))
    }

    /// Writes one delivery of each event for every subscription that wants it (and for
    /// Chatwoot when it does), in one transaction: the webhook deliveries written; the
    /// worker is told by the caller.
    pub async fn enqueue_webhooks(&self, events: &[Outgoing<'_>]) -> Result<u64> {
        const SQL: &str = concat!(
            "INSERT INTO webhook_deliveries (subscription_id, delivery_id, event_type, body, status, \
             attempts, next_attempt_at, created_at) \
             SELECT id, $3 || '-' || CAST(id AS TEXT), $1, $4, 'PENDING', 0, $5, $5 ",
            wanting!()
        );
        let mut queued = 0;
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            for event in events {
                queued += sqlx::query(SQL)
                    .bind(event.event_type)
                    .bind(format!("%,{},%", event.event_type))
                    .bind(crate::webhooks::new_delivery_id())
                    .bind(event.body)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if let Some(incident) = event.chatwoot_incident {
                    sqlx::query(super::chatwoot::ENQUEUE)
                        .bind(incident)
                        .bind(crate::webhooks::new_delivery_id())
                        .bind(event.event_type)
                        .bind(event.body)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(queued)
    }

    /// The oldest pending delivery of each active, unpaused subscription, if it is due:
    /// one per subscription, so that a subscription's events arrive in order.
    pub async fn due_webhook_deliveries(&self, limit: i64) -> Result<Vec<Delivery>> {
        const SQL: &str = select!(
            delivery_columns,
            "FROM webhook_deliveries WHERE id IN (SELECT MIN(d.id) FROM webhook_deliveries d \
             JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.status = 'PENDING' AND s.is_active AND s.paused_at IS NULL \
             GROUP BY d.subscription_id) \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        );
        self.fetch_all_by2(SQL, now(), limit).await
    }

    /// A subscription's deliveries, newest first, optionally with one status.
    pub async fn webhook_deliveries(
        &self,
        subscription_id: i64,
        status: Option<&str>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        let sql = delivery_list(status);
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(subscription_id)
            .bind(status)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// Pauses (`Some(reason)`) or resumes (`None`) a subscription's deliveries; the
    /// subscription as it now is.
    pub async fn pause_webhook_subscription(
        &self,
        id: i64,
        reason: Option<&str>,
    ) -> Result<Subscription> {
        const SQL: &str = concat!(
            "UPDATE webhook_subscriptions SET paused_at = $1, pause_reason = $2 WHERE id = $3 \
             RETURNING ",
            subscription_columns!()
        );
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(reason.map(|_| now()))
            .bind(reason)
            .bind(id)
            .fetch_one(pool)
            .await?))
    }

    /// Queues one delivery for one subscription (a re-send, a test event), with a new
    /// delivery id, at the end of its queue.
    pub async fn queue_webhook_delivery(
        &self,
        subscription_id: i64,
        event_type: &str,
        body: &str,
    ) -> Result<Delivery> {
        const SQL: &str = concat!(
            "INSERT INTO webhook_deliveries (subscription_id, delivery_id, event_type, body, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'PENDING', 0, $5, $5) \
             RETURNING ",
            delivery_columns!()
        );
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(subscription_id)
            .bind(crate::webhooks::new_delivery_id())
            .bind(event_type)
            .bind(body)
            .bind(now())
            .fetch_one(pool)
            .await?))
    }

    /// Takes a due delivery of `table` (its `id` and its `due` time as read) until
    /// `until`; another node, or this one after a crash, retries it once that has passed.
    /// False when someone else took it first.
    pub async fn claim_delivery(
        &self,
        table: DeliveryTable,
        id: i64,
        due: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let claimed = on_pool!(self, write, |pool| sqlx::query(table.sql().claim)
            .bind(until)
            .bind(id)
            .bind(due)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(claimed == 1)
    }

    /// Records an attempt: delivered, retried at `next` with `error`, or given up.
    pub async fn finish_delivery_attempt(
        &self,
        table: DeliveryTable,
        id: i64,
        status: &str,
        status_code: Option<i32>,
        error: Option<&str>,
        next: DateTime<Utc>,
    ) -> Result<()> {
        on_pool!(self, write, |pool| sqlx::query(table.sql().finish)
            .bind(status)
            .bind(status_code)
            .bind(error.map(|e| e.chars().take(1024).collect::<String>()))
            .bind(next)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Deletes delivered and given-up deliveries created before `cutoff`.
    pub async fn delete_finished_deliveries_before(
        &self,
        table: DeliveryTable,
        cutoff: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(on_pool!(self, write, |pool| sqlx::query(
            table.sql().delete_finished
        )
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::assert_searches_along;

    /// A subscription's deliveries are read along an index in the list's order, stopping at
    /// the page's end, with or without a status.
    #[tokio::test]
    async fn every_list_of_deliveries_reads_along_an_index() {
        for (status, index) in [
            (None, "ix_webhook_deliveries_subscription"),
            (Some("FAILED"), "ix_webhook_deliveries_queue"),
        ] {
            assert_searches_along(delivery_list(status), index).await;
        }
    }
}
