//! `/dashboard/summary`: the counts of the console's home page.

use axum::Json;
use axum::extract::State;
use chrono::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiResult;
use super::extract::AuthUser;
use crate::store::incidents::DashboardSummary;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

/// People, tags, gateways (online: heard within `devices.offline_after_seconds`), active
/// alert rules, alerts of the last 24 h, and open and overdue incidents.
#[utoipa::path(
    get,
    path = "/dashboard/summary",
    operation_id = "dashboard_summary",
    tag = "dashboard",
    summary = "The site's counts for the home page",
    responses((status = 200, body = DashboardSummary)),
)]
async fn summary(State(state): State<AppState>, _: AuthUser) -> ApiResult<Json<DashboardSummary>> {
    let now = crate::store::now();
    let online_since =
        now - Duration::seconds(i64::from(state.config.devices.offline_after_seconds));
    let summary = state
        .store
        .dashboard_summary(online_since, now - Duration::hours(24), now)
        .await?;
    Ok(Json(summary))
}
