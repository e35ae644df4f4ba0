//! CAM-BUS storage: camera events (deduplicated, with the people nearby), the topics a
//! camera uses, the collectors heard on the bus, and the retained `/info` configurations
//! the appliance publishes.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::devices::{CAMERA, Device, DeviceFilter};
use super::record::{record, select};
use super::{Result, Store, now, on_pool};

/// A tagged person near a camera when one of its events happened.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NearbyPerson {
    pub person_id: i64,
    pub full_name: String,
    pub tag_id: i64,
    /// Distance to the camera in metres, when the plan's size is known.
    pub distance_m: Option<f64>,
    /// How the person was placed: `position` (their estimated position) or `gateway`
    /// (heard by the gateway nearest to the camera).
    pub via: String,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CameraEvent {
    pub id: i64,
    pub device_id: i64,
    pub topic: String,
    pub analytic_type: String,
    #[schema(value_type = Object)]
    pub payload: Json<serde_json::Value>,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// The person a face-recognition event named, when the name matches one.
    pub person_id: Option<i64>,
    #[schema(value_type = Vec<NearbyPerson>)]
    pub nearby_people: Option<Json<Vec<NearbyPerson>>>,
}

pub struct NewCameraEvent<'a> {
    pub device_id: i64,
    pub topic: &'a str,
    pub analytic_type: &'a str,
    pub payload: &'a serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    /// Same key, same event: stored once.
    pub dedup_key: Option<String>,
    pub person_id: Option<i64>,
    pub nearby_people: &'a [NearbyPerson],
}

#[derive(Debug, Default)]
pub struct CameraEventFilter {
    pub analytic_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Collector {
    pub tenant: String,
    pub building: String,
    pub status: String,
    #[schema(value_type = Object)]
    pub payload: Json<serde_json::Value>,
    pub last_seen_at: DateTime<Utc>,
}

/// A retained `/info` topic and what it should hold.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InfoTopic {
    pub topic: String,
    pub device_id: Option<i64>,
    pub enabled: bool,
    pub config_hash: String,
    pub pending: bool,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
}

macro_rules! event_columns {
    () => {
        "id, device_id, topic, analytic_type, payload, occurred_at, created_at, person_id, nearby_people"
    };
}

macro_rules! collector_columns {
    () => {
        "tenant, building, status, payload, last_seen_at"
    };
}
macro_rules! info_topic_columns {
    () => {
        "topic, device_id, enabled, config_hash, pending, attempts, last_error, published_at"
    };
}

record!(CameraEvent, "device_events", event_columns);

/// The statement listing a camera's events with `filter` (all bound, in the same places, to
/// either statement), newest first along the camera's index, or with a type along the
/// camera's and type's: written only as `$2 IS NULL OR analytic_type = $2`, a type had SQLite
/// walk every event of the camera for a type it seldom reports, and the period every event
/// after its end. An absent bound is infinite: PostgreSQL's `'-infinity'`/`'infinity'`, and
/// on SQLite text sorting before and after every timestamp.
fn camera_event_list(filter: &CameraEventFilter) -> &'static str {
    macro_rules! newest_first {
        ($where:literal) => {
            concat!(
                "SELECT ",
                event_columns!(),
                " FROM device_events WHERE device_id = $1 AND ",
                $where,
                " ORDER BY occurred_at DESC, id DESC LIMIT $5 OFFSET $6"
            )
        };
    }
    match filter.analytic_type {
        // The period's end is tested on each row: with both bounds in the range, SQLite
        // (without statistics) prefers the camera's index to the camera's and type's.
        Some(_) => newest_first!(
            "analytic_type = $2 AND occurred_at >= COALESCE($3, '-infinity') \
             AND ($4 IS NULL OR occurred_at < $4)"
        ),
        None => newest_first!(
            "occurred_at >= COALESCE($3, '-infinity') AND occurred_at < COALESCE($4, 'infinity') \
             AND ($2 IS NULL OR analytic_type = $2)"
        ),
    }
}

impl Store {
    /// Every camera, by id.
    pub async fn cameras(&self) -> Result<Vec<Device>> {
        let filter = DeviceFilter {
            device_type: Some(CAMERA.into()),
            ..DeviceFilter::default()
        };
        self.list_devices(&filter, 0, i64::MAX).await
    }

    /// Stores a camera event unless one with the same dedup key exists (`None` then), in
    /// one transaction with the topic's registration and, with `seen_at`, the camera's
    /// `last_seen_at` (only ever moved forward). With a cluster leader's `epoch`, only while
    /// that epoch is current ([`StoreError::Fenced`] otherwise, nothing written).
    pub async fn record_camera_event(
        &self,
        event: &NewCameraEvent<'_>,
        topic_kind: Option<(&str, &str)>,
        seen_at: Option<DateTime<Utc>>,
        epoch: Option<i64>,
    ) -> Result<Option<i64>> {
        const INSERT: &str = "INSERT INTO device_events (device_id, topic, analytic_type, payload, occurred_at, created_at, \
             dedup_key, person_id, nearby_people) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING RETURNING id";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            super::fence!(tx, epoch);
            let id: Option<i64> = sqlx::query_scalar(INSERT)
                .bind(event.device_id)
                .bind(event.topic)
                .bind(event.analytic_type)
                .bind(Json(event.payload))
                .bind(event.occurred_at)
                .bind(now())
                .bind(&event.dedup_key)
                .bind(event.person_id)
                .bind(Json(event.nearby_people))
                .fetch_optional(&mut *tx)
                .await?;
            if id.is_some() {
                if let Some((kind, description)) = topic_kind {
                    sqlx::query(UPSERT_TOPIC)
                        .bind(event.device_id)
                        .bind(kind)
                        .bind(event.topic)
                        .bind(description)
                        .bind(now())
                        .execute(&mut *tx)
                        .await?;
                }
                if let Some(at) = seen_at {
                    sqlx::query(SEEN)
                        .bind(at)
                        .bind(event.device_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Moves a device's `last_seen_at` forward to `at`.
    pub async fn device_seen(&self, device_id: i64, at: DateTime<Utc>) -> Result<()> {
        on_pool!(self, write, |pool| {
            sqlx::query(SEEN)
                .bind(at)
                .bind(device_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A camera's events, newest first.
    pub async fn camera_events(
        &self,
        device_id: i64,
        filter: &CameraEventFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<CameraEvent>> {
        let sql = camera_event_list(filter);
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(device_id)
            .bind(&filter.analytic_type)
            .bind(filter.since)
            .bind(filter.until)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// Camera events stored after `after_id`, by id, at most `limit` (what the incident
    /// rules have not seen yet).
    pub async fn camera_events_after(&self, after_id: i64, limit: i64) -> Result<Vec<CameraEvent>> {
        const SQL: &str = select!(
            event_columns,
            "FROM device_events WHERE id > $1 ORDER BY id LIMIT $2"
        );
        self.fetch_all_by2(SQL, after_id, limit).await
    }

    pub async fn camera_event(&self, id: i64) -> Result<CameraEvent> {
        self.fetch_by_id(id).await
    }

    /// The active person carrying an active tag.
    pub async fn tag_holder(&self, tag_id: i64) -> Result<Option<(i64, String)>> {
        const SQL: &str = "SELECT p.id, p.full_name FROM tags t JOIN people p ON p.id = t.person_id \
             WHERE t.id = $1 AND t.active = TRUE AND p.active = TRUE";
        self.fetch_optional_by(SQL, tag_id).await
    }

    /// Tags that were at a gateway at `at` (a presence session spanning it, allowing
    /// `slack` after a session's last reading).
    pub async fn tags_present_at(
        &self,
        device_id: i64,
        at: DateTime<Utc>,
        slack: chrono::Duration,
    ) -> Result<Vec<i64>> {
        const SQL: &str = "SELECT DISTINCT tag_id FROM presence_sessions \
             WHERE device_id = $1 AND started_at <= $2 AND ended_at >= $3 ORDER BY tag_id";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(device_id)
            .bind(at)
            .bind(at - slack)
            .fetch_all(pool)
            .await?))
    }

    /// The one active person with this name (case-insensitive), if exactly one has it.
    pub async fn person_named(&self, name: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM people WHERE lower(full_name) = lower($1) AND active = TRUE \
             ORDER BY id LIMIT 2";
        let ids: Vec<i64> = on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(name)
            .fetch_all(pool)
            .await?);
        Ok((ids.len() == 1).then(|| ids[0]))
    }

    pub async fn record_collector(
        &self,
        tenant: &str,
        building: &str,
        status: &str,
        payload: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO cambus_collectors (tenant, building, status, payload, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, building) DO UPDATE SET \
             status = excluded.status, payload = excluded.payload, last_seen_at = excluded.last_seen_at";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(tenant)
                .bind(building)
                .bind(status)
                .bind(Json(payload))
                .bind(at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn collectors(&self) -> Result<Vec<Collector>> {
        const SQL: &str = select!(
            collector_columns,
            "FROM cambus_collectors ORDER BY tenant, building"
        );
        self.fetch_all(SQL).await
    }

    pub async fn info_topics(&self) -> Result<Vec<InfoTopic>> {
        const SQL: &str = select!(info_topic_columns, "FROM cambus_info_topics ORDER BY topic");
        self.fetch_all(SQL).await
    }

    pub async fn info_topic(&self, topic: &str) -> Result<Option<InfoTopic>> {
        const SQL: &str = select!(
            info_topic_columns,
            "FROM cambus_info_topics WHERE topic = $1"
        );
        self.fetch_optional_by(SQL, topic).await
    }

    /// Sets what an `/info` topic should hold; a change makes it pending again.
    pub async fn want_info_topic(
        &self,
        topic: &str,
        device_id: Option<i64>,
        enabled: bool,
        config_hash: &str,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO cambus_info_topics (topic, device_id, enabled, config_hash, pending, attempts) \
             VALUES ($1, $2, $3, $4, TRUE, 0) ON CONFLICT (topic) DO UPDATE SET \
             device_id = excluded.device_id, enabled = excluded.enabled, config_hash = excluded.config_hash, \
             pending = TRUE, attempts = 0 \
             WHERE cambus_info_topics.config_hash <> excluded.config_hash \
             OR cambus_info_topics.enabled <> excluded.enabled";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(topic)
                .bind(device_id)
                .bind(enabled)
                .bind(config_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Marks every `/info` topic pending (the embedded broker forgets retained messages
    /// when it stops).
    pub async fn info_topics_all_pending(&self) -> Result<()> {
        on_pool!(self, write, |pool| {
            sqlx::query("UPDATE cambus_info_topics SET pending = TRUE, attempts = 0")
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records a publish of `topic` with `config_hash`; a topic changed meanwhile stays
    /// pending.
    pub async fn info_topic_published(&self, topic: &str, config_hash: &str) -> Result<()> {
        const SQL: &str = "UPDATE cambus_info_topics SET pending = FALSE, attempts = 0, last_error = NULL, \
             published_at = $1 WHERE topic = $2 AND config_hash = $3";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(now())
                .bind(topic)
                .bind(config_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn info_topic_failed(&self, topic: &str, error: &str) -> Result<()> {
        const SQL: &str = "UPDATE cambus_info_topics SET attempts = attempts + 1, last_error = $1 WHERE topic = $2";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(error)
                .bind(topic)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}

pub(super) const UPSERT_TOPIC: &str = "INSERT INTO device_topics (device_id, kind, topic, description, is_active, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, TRUE, $5, $5) ON CONFLICT (device_id, kind, topic) DO UPDATE SET \
     description = excluded.description, is_active = TRUE, updated_at = excluded.updated_at \
     WHERE device_topics.is_active = FALSE OR device_topics.description <> excluded.description";

const SEEN: &str = "UPDATE devices SET last_seen_at = $1 WHERE id = $2 \
     AND (last_seen_at IS NULL OR last_seen_at < $1)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{assert_searches_along, sqlite_plan};

    /// A camera's events are read along an index in the list's order, stopping at the
    /// page's end, whichever filters are given.
    #[tokio::test]
    async fn every_list_of_camera_events_reads_along_an_index() {
        let period = (Some(Utc::now()), None);
        for (analytic_type, index) in [
            (None, "ix_device_events_device_time"),
            (
                Some("face".to_string()),
                "ix_device_events_device_type_time",
            ),
        ] {
            for (since, until) in [(None, None), period, (None, period.0)] {
                let filter = CameraEventFilter {
                    analytic_type: analytic_type.clone(),
                    since,
                    until,
                };
                let sql = camera_event_list(&filter);
                assert_searches_along(sql, index).await;
                // The period's start bounds the walk.
                assert!(
                    sqlite_plan(sql).await[0].contains("occurred_at>?"),
                    "{filter:?}"
                );
            }
        }
    }
}
