//! `/devices/gateways`: the BLE gateways' list, online state and deletion (by id or by any
//! spelling of the MAC). Creating and updating them is the generic `/devices` in
//! [`super::devices`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::or_404;
use super::devices::{
    DeviceQuery, DeviceRead, DeviceStatusRead, StatusQuery, delete_and_record, list_of, status_of,
};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::openapi::{Deleted, Invalid, NotFound};
use crate::mac;
use crate::store::devices::BLE_GATEWAY;

const GATEWAY_NOT_FOUND: &str = "Gateway not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_gateways))
        .routes(routes!(gateway_status))
        .routes(routes!(remove_gateway))
        .routes(routes!(remove_gateway_by_mac))
}

#[utoipa::path(
    get,
    path = "/devices/gateways",
    operation_id = "devices_list_gateways",
    tag = "gateways",
    summary = "List BLE gateways",
    params(DeviceQuery),
    responses(
        (status = 200, body = Vec<DeviceRead>),
        Invalid,
    ),
)]
async fn list_gateways(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> ApiResult<Json<Vec<DeviceRead>>> {
    list_of(&state, q, Some(BLE_GATEWAY)).await
}

#[utoipa::path(
    get,
    path = "/devices/gateways/status",
    operation_id = "devices_gateway_status",
    tag = "gateways",
    summary = "Online state of the gateways",
    params(StatusQuery),
    responses(
        (status = 200, body = Vec<DeviceStatusRead>),
        Invalid,
    ),
)]
async fn gateway_status(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<Vec<DeviceStatusRead>>> {
    status_of(&state, Some(BLE_GATEWAY), q.skip, q.limit).await
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
