//! `GET /health`: liveness and readiness, with the database's state.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthRead {
    /// `ok`, or `degraded` when a dependency is unavailable.
    status: &'static str,
    version: &'static str,
    database: DatabaseHealth,
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
    let status = if database == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthRead {
        status: if status == StatusCode::OK {
            "ok"
        } else {
            "degraded"
        },
        version: env!("CARGO_PKG_VERSION"),
        database: DatabaseHealth {
            status: database,
            backend: state.store.kind().name(),
        },
    };
    (status, Json(body))
}
