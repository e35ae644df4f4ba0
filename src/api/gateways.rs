//! `/devices/gateways`: the BLE gateways' list, online state and deletion (by id or by any
//! spelling of the MAC). Creating and updating them is the generic `/devices` in
//! [`super::devices`].

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::or_404;
use super::devices::{delete_and_record, typed_device_lists};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::openapi::{Deleted, NotFound};
use crate::mac;
use crate::store::devices::BLE_GATEWAY;

const GATEWAY_NOT_FOUND: &str = "Gateway not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(status))
        .routes(routes!(remove_gateway))
        .routes(routes!(remove_gateway_by_mac))
}

typed_device_lists! {
    BLE_GATEWAY, "gateways", "/devices/gateways", "/devices/gateways/status";
    list "devices_list_gateways", "List BLE gateways";
    status "devices_gateway_status", "Online state of the gateways";
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PurgeQuery {
    purge_related: Option<bool>,
    #[allow(dead_code)] // accepted for compatibility: a canonical MAC matches one gateway at most
    delete_all_matches: Option<bool>,
}

#[utoipa::path(
    delete,
    path = "/devices/gateways/{device_id}",
    operation_id = "devices_remove_gateway",
    tag = "gateways",
    summary = "Delete a gateway; purge_related (default true) also deletes its alert rules, alert events and incidents",
    params(("device_id" = i64, Path, description = "Device id"), PurgeQuery),
    responses(
        Deleted, NotFound,
        (status = 400, description = "Not a BLE_GATEWAY", body = ErrorBody),
    ),
)]
async fn remove_gateway(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PurgeQuery>,
) -> ApiResult<StatusCode> {
    let d = or_404(state.store.device(id).await, GATEWAY_NOT_FOUND)?;
    if d.device_type != BLE_GATEWAY {
        return Err(ApiError::BadRequest("Device is not a BLE_GATEWAY".into()));
    }
    delete_and_record(&state, &user, &d, q.purge_related.unwrap_or(true)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/devices/gateways/by-mac/{mac}",
    operation_id = "devices_remove_gateway_by_mac",
    tag = "gateways",
    summary = "Delete a gateway by any spelling of its MAC",
    params(("mac" = String, Path, description = "MAC address, any spelling"), PurgeQuery),
    responses(
        Deleted, NotFound,
        (status = 400, description = "Invalid MAC", body = ErrorBody),
    ),
)]
async fn remove_gateway_by_mac(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(text): ApiPath<String>,
    ApiQuery(q): ApiQuery<PurgeQuery>,
) -> ApiResult<StatusCode> {
    let mac = mac::canonical(&text).ok_or_else(|| ApiError::BadRequest("Invalid MAC".into()))?;
    let d = or_404(state.store.device_by_mac(&mac).await, GATEWAY_NOT_FOUND)?;
    if d.device_type != BLE_GATEWAY {
        return Err(ApiError::not_found(GATEWAY_NOT_FOUND));
    }
    delete_and_record(&state, &user, &d, q.purge_related.unwrap_or(true)).await?;
    Ok(StatusCode::NO_CONTENT)
}
