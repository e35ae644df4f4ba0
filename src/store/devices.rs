//! Devices: BLE gateways, cameras and access controllers share one table.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::readings::ReadingOwner;
use super::record::{record, save_row, select};
use super::{Result, Store, now, on_pool};

pub const BLE_GATEWAY: &str = "BLE_GATEWAY";
pub const CAMERA: &str = "CAMERA";
pub const ACCESS_CONTROLLER: &str = "ACCESS_CONTROLLER";
pub const DEVICE_TYPES: &[&str] = &[BLE_GATEWAY, CAMERA, ACCESS_CONTROLLER];

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Device {
    pub id: i64,
    pub floor_plan_id: Option<i64>,
    pub building_id: Option<i64>,
    pub floor_id: Option<i64>,
    pub name: String,
    pub code: Option<String>,
    #[sqlx(rename = "type")]
    pub device_type: String,
    /// Canonical 12-digit form.
    pub mac_address: Option<String>,
    pub description: Option<String>,
    pub pos_x: Option<f64>,
    pub pos_y: Option<f64>,
    pub ip_address: Option<String>,
    pub port: Option<i32>,
    pub username: Option<String>,
    /// Sealed with the appliance's secret key; never leaves the appliance through the API.
    pub password_encrypted: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub shard: Option<String>,
    pub analytics: Option<Json<Vec<String>>>,
    pub rtsp_url: Option<String>,
    pub proxy_path: Option<String>,
    pub central_path: Option<String>,
    pub record_retention_minutes: Option<i32>,
    pub central_media_mtx_ip: Option<String>,
    /// Path-loss calibration of a gateway; `None`: the site's.
    pub rssi_at_1m: Option<f64>,
    pub path_loss_exponent: Option<f64>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeviceTopic {
    pub id: i64,
    pub device_id: i64,
    pub kind: String,
    pub topic: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A topic a device uses on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub kind: &'static str,
    pub topic: String,
    pub description: String,
}

/// Inside a transaction: makes `wanted` a device's active CAM-BUS topics (upserted), and
/// every other active one of those kinds inactive.
macro_rules! sync_topics {
    ($tx:ident, $device_id:expr, $wanted:expr) => {{
        const ACTIVE: &str = "SELECT kind, topic FROM device_topics WHERE device_id = $1 \
             AND is_active = TRUE AND kind IN ('cambus_info', 'cambus_event')";
        const DEACTIVATE: &str = "UPDATE device_topics SET is_active = FALSE, updated_at = $1 \
             WHERE device_id = $2 AND kind = $3 AND topic = $4";
        let (device_id, wanted): (i64, &[TopicSpec]) = ($device_id, $wanted);
        for t in wanted {
            sqlx::query(super::cambus::UPSERT_TOPIC)
                .bind(device_id)
                .bind(t.kind)
                .bind(&t.topic)
                .bind(&t.description)
                .bind(now())
                .execute(&mut *$tx)
                .await?;
        }
        let active: Vec<(String, String)> = sqlx::query_as(ACTIVE)
            .bind(device_id)
            .fetch_all(&mut *$tx)
            .await?;
        for (kind, topic) in &active {
            if !wanted.iter().any(|t| t.kind == kind && &t.topic == topic) {
                sqlx::query(DEACTIVATE)
                    .bind(now())
                    .bind(device_id)
                    .bind(kind)
                    .bind(topic)
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}

/// A gateway as the ingest pipeline knows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatewayKeyRow {
    pub id: i64,
    pub mac_address: Option<String>,
    pub code: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub pos_x: Option<f64>,
    pub pos_y: Option<f64>,
    pub rssi_at_1m: Option<f64>,
    pub path_loss_exponent: Option<f64>,
}

/// Which devices a list returns; every filter is applied in SQL, before paging.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub device_type: Option<String>,
    pub floor_plan_id: Option<i64>,
}

macro_rules! device_columns {
    () => {
        "id, floor_plan_id, building_id, floor_id, name, code, type, mac_address, description, \
         pos_x, pos_y, ip_address, port, username, password_encrypted, manufacturer, model, shard, \
         analytics, rtsp_url, proxy_path, central_path, record_retention_minutes, \
         central_media_mtx_ip, rssi_at_1m, path_loss_exponent, last_seen_at, created_at, updated_at"
    };
}

macro_rules! topic_columns {
    () => {
        "id, device_id, kind, topic, description, is_active, created_at, updated_at"
    };
}
macro_rules! gateway_key_columns {
    () => {
        "id, mac_address, code, floor_plan_id, pos_x, pos_y, rssi_at_1m, path_loss_exponent"
    };
}
macro_rules! device_seen_columns {
    () => {
        "id, name, type, mac_address, code, last_seen_at"
    };
}

record!(Device, "devices", device_columns);

/// Binds every writable column of a device, in the order of `device_columns!` after `id`
/// (up to `last_seen_at`).
macro_rules! bind_device {
    ($query:expr, $d:expr) => {
        $query
            .bind($d.floor_plan_id)
            .bind($d.building_id)
            .bind($d.floor_id)
            .bind(&$d.name)
            .bind(&$d.code)
            .bind(&$d.device_type)
            .bind(&$d.mac_address)
            .bind(&$d.description)
            .bind($d.pos_x)
            .bind($d.pos_y)
            .bind(&$d.ip_address)
            .bind($d.port)
            .bind(&$d.username)
            .bind(&$d.password_encrypted)
            .bind(&$d.manufacturer)
            .bind(&$d.model)
            .bind(&$d.shard)
            .bind(&$d.analytics)
            .bind(&$d.rtsp_url)
            .bind(&$d.proxy_path)
            .bind(&$d.central_path)
            .bind($d.record_retention_minutes)
            .bind(&$d.central_media_mtx_ip)
            .bind($d.rssi_at_1m)
            .bind($d.path_loss_exponent)
            .bind($d.last_seen_at)
    };
}

const INSERT_DEVICE: &str = concat!(
    "INSERT INTO devices (floor_plan_id, building_id, floor_id, name, code, type, mac_address, \
     description, pos_x, pos_y, ip_address, port, username, password_encrypted, manufacturer, \
     model, shard, analytics, rtsp_url, proxy_path, central_path, record_retention_minutes, \
     central_media_mtx_ip, rssi_at_1m, path_loss_exponent, last_seen_at, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27, $27) RETURNING ",
    device_columns!()
);

const UPDATE_DEVICE: &str = concat!(
    "UPDATE devices SET floor_plan_id = $1, building_id = $2, floor_id = $3, name = $4, code = $5, \
     type = $6, mac_address = $7, description = $8, pos_x = $9, pos_y = $10, ip_address = $11, \
     port = $12, username = $13, password_encrypted = $14, manufacturer = $15, model = $16, \
     shard = $17, analytics = $18, rtsp_url = $19, proxy_path = $20, central_path = $21, \
     record_retention_minutes = $22, central_media_mtx_ip = $23, rssi_at_1m = $24, \
     path_loss_exponent = $25, last_seen_at = $26, updated_at = $27 WHERE id = $28 RETURNING ",
    device_columns!()
);

impl Store {
    pub async fn list_devices(
        &self,
        filter: &DeviceFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Device>> {
        const SQL: &str = concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE ($1 IS NULL OR type = $1) AND ($2 IS NULL OR floor_plan_id = $2) \
             ORDER BY id LIMIT $3 OFFSET $4"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(&filter.device_type)
            .bind(filter.floor_plan_id)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    pub async fn device(&self, id: i64) -> Result<Device> {
        self.fetch_by_id(id).await
    }

    /// Looks a device up by its canonical MAC.
    pub async fn device_by_mac(&self, mac: &crate::mac::Mac) -> Result<Device> {
        const SQL: &str = select!(device_columns, "FROM devices WHERE mac_address = $1");
        self.fetch_one_by(SQL, mac.as_str()).await
    }

    pub async fn device_by_code(&self, code: &str) -> Result<Device> {
        const SQL: &str = select!(device_columns, "FROM devices WHERE code = $1");
        self.fetch_one_by(SQL, code).await
    }

    /// Inserts (id 0) or updates a device; stamps `updated_at`.
    pub async fn save_device(&self, d: &Device) -> Result<Device> {
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            d,
            INSERT_DEVICE,
            UPDATE_DEVICE,
            |q| bind_device!(q, d).bind(now())
        )))
    }

    /// Makes a camera's CAM-BUS topics `wanted` (the publisher, after a floor or building
    /// rename), unless the camera was written since it was read: that write saved its own
    /// topics. `false` when skipped.
    pub async fn sync_camera_topics(&self, camera: &Device, wanted: &[TopicSpec]) -> Result<bool> {
        // Locks the row (PostgreSQL) or the database (SQLite) and checks it is unchanged.
        const UNCHANGED: &str =
            "UPDATE devices SET updated_at = updated_at WHERE id = $1 AND updated_at = $2";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let unchanged = sqlx::query(UNCHANGED)
                .bind(camera.id)
                .bind(camera.updated_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if unchanged {
                sync_topics!(tx, camera.id, wanted);
            }
            tx.commit().await?;
            Ok(unchanged)
        })
    }

    /// Inserts (id 0) or updates a device and, in the same transaction, makes
    /// `topics(saved device)` its active CAM-BUS topics (`cambus_info`, `cambus_event`), so
    /// that a camera's topics are listed as soon as the camera is.
    pub async fn save_device_with_topics(
        &self,
        d: &Device,
        topics: impl FnOnce(&Device) -> Vec<TopicSpec>,
    ) -> Result<Device> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let saved: Device = save_row!(&mut *tx, d, INSERT_DEVICE, UPDATE_DEVICE, |q| {
                bind_device!(q, d).bind(now())
            });
            let wanted = topics(&saved);
            sync_topics!(tx, saved.id, &wanted);
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// Deletes a device with what is its own (readings, presence sessions, topics, camera
    /// events, group links). Incidents, alert events and rules that refer to it are kept,
    /// without the reference. With `purge_related`, those alert rules, alert events and
    /// incidents are deleted too.
    pub async fn delete_device(&self, id: i64, purge_related: bool) -> Result<()> {
        const PURGE: [&str; 4] = [
            "DELETE FROM alert_events WHERE device_id = $1 OR rule_id IN (SELECT id FROM alert_rules WHERE device_id = $1)",
            "DELETE FROM alert_rules WHERE device_id = $1",
            "DELETE FROM incidents WHERE device_id = $1",
            "DELETE FROM devices WHERE id = $1",
        ];
        let statements = if purge_related {
            &PURGE[..]
        } else {
            &PURGE[3..]
        };
        self.delete_with_readings(ReadingOwner::Gateway, id, statements)
            .await
    }

    /// Every gateway (BLE gateways and named nodes) by MAC and by code, with where it is
    /// drawn, for the pipeline's cache.
    pub async fn gateway_keys(&self) -> Result<Vec<GatewayKeyRow>> {
        const SQL: &str = select!(
            gateway_key_columns,
            "FROM devices WHERE type = 'BLE_GATEWAY'"
        );
        self.fetch_all(SQL).await
    }

    pub async fn device_topics(
        &self,
        device_id: i64,
        only_active: bool,
    ) -> Result<Vec<DeviceTopic>> {
        const SQL: &str = select!(
            topic_columns,
            "FROM device_topics WHERE device_id = $1 AND ($2 = FALSE OR is_active = TRUE) ORDER BY id"
        );
        self.fetch_all_by2(SQL, device_id, only_active).await
    }
}

/// A gateway's or camera's liveness, for the offline monitor.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct DeviceSeen {
    pub id: i64,
    pub name: String,
    #[sqlx(rename = "type")]
    pub device_type: String,
    pub mac_address: Option<String>,
    pub code: Option<String>,
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn devices_last_seen(&self) -> Result<Vec<DeviceSeen>> {
        const SQL: &str = select!(
            device_seen_columns,
            "FROM devices WHERE type IN ('BLE_GATEWAY', 'CAMERA') ORDER BY id"
        );
        self.fetch_all(SQL).await
    }

    /// Records an event of a device (camera analytics, gateway status changes).
    pub async fn record_device_event(
        &self,
        device_id: i64,
        topic: &str,
        analytic_type: &str,
        payload: &serde_json::Value,
        occurred_at: DateTime<Utc>,
    ) -> Result<i64> {
        const SQL: &str = "INSERT INTO device_events (device_id, topic, analytic_type, payload, occurred_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        Ok(on_pool!(self, write, |pool| sqlx::query_scalar(SQL)
            .bind(device_id)
            .bind(topic)
            .bind(analytic_type)
            .bind(Json(payload))
            .bind(occurred_at)
            .bind(now())
            .fetch_one(pool)
            .await?))
    }

    /// Events of a device, newest first: (id, analytic type, payload, occurred at).
    pub async fn device_events(
        &self,
        device_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, Json<serde_json::Value>, DateTime<Utc>)>> {
        const SQL: &str = "SELECT id, analytic_type, payload, occurred_at FROM device_events WHERE device_id = $1 \
             ORDER BY occurred_at DESC, id DESC LIMIT $2";
        self.fetch_all_by2(SQL, device_id, limit).await
    }
}
