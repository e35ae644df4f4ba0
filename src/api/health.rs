//! `GET /health`: liveness and readiness, with the state of the database and of the MQTT
//! side (mode, connected clients, ingest queue).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::atomic::Ordering;

use serde::Serialize;

use super::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthRead {
    /// `ok`, or `degraded` when a dependency is unavailable.
    status: &'static str,
    version: &'static str,
    /// `single` (one appliance), or on a site of several (`cluster.enabled`) `leader` (this
    /// node does the stateful work) or `standby`.
    role: &'static str,
    database: DatabaseHealth,
    mqtt: MqttHealth,
    disk: DiskHealth,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiskHealth {
    /// `ok`, or `low` when free space under the data directory is below
    /// `disk.min_free_mb`: raw readings are not stored (positions, events, alerts go on).
    status: &'static str,
    /// Free bytes under the data directory at the last look (every 5 s; 0 before it).
    free_bytes: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MqttHealth {
    /// `embedded` or `external`.
    mode: &'static str,
    /// Clients connected to the embedded broker.
    connections: i64,
    /// Messages waiting in the ingest queue, and its capacity.
    ingest_queue_depth: i64,
    ingest_queue_capacity: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DatabaseHealth {
    /// `ok` or `unavailable`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    backend: &'static str,
}

#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health_health",
    tag = "health",
    summary = "Liveness and readiness, with the database state",
    responses(
        (status = 200, body = HealthRead),
        (status = 503, description = "The database is unreachable", body = HealthRead),
    ),
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthRead>) {
    let database = match state.store.ping().await {
        Ok(()) => "ok",
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            "unavailable"
        }
    };
    let disk_low = state.metrics.disk_low.load(Ordering::Relaxed);
    let status = if database == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthRead {
        // Low disk degrades the node but it still serves (HTTP 200).
        status: if status == StatusCode::OK && !disk_low {
            "ok"
        } else {
            "degraded"
        },
        version: env!("CARGO_PKG_VERSION"),
        role: state.cluster.role().label(),
        database: DatabaseHealth {
            status: database,
            backend: state.store.kind().name(),
        },
        mqtt: MqttHealth {
            mode: match state.config.mqtt.mode {
                crate::config::MqttMode::Embedded => "embedded",
                crate::config::MqttMode::External => "external",
            },
            connections: state.metrics.mqtt_connections.load(Ordering::Relaxed),
            ingest_queue_depth: state.metrics.ingest_queue_depth.load(Ordering::Relaxed),
            ingest_queue_capacity: state.metrics.ingest_queue_capacity.load(Ordering::Relaxed),
        },
        disk: DiskHealth {
            status: if disk_low { "low" } else { "ok" },
            free_bytes: state.metrics.disk_free_bytes.load(Ordering::Relaxed),
        },
    };
    (status, Json(body))
}
