//! `/devices/cameras`: the cameras' list, creation, update and online state, their events,
//! the uplink commands, the collectors heard on the bus and the state of each camera's
//! published configuration. Validation and saving are the generic device's
//! ([`super::devices`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::or_404;
use super::devices::{DeviceBody, DeviceRead, save, typed_device_lists};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{AdminUser, ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::openapi::{AdminOnly, Conflict, CredentialsAdminOnly, Invalid, NotACamera, NotFound};
use super::validate::{Checks, FlexibleDateTime, Patch};
use crate::cambus::collector::CameraEventInput;
use crate::cambus::publisher::SiteNames;
use crate::cambus::topic::{self, MAX_ANALYTIC_LEN, MAX_PAYLOAD_BYTES};
use crate::store::cambus::{CameraEvent, CameraEventFilter, Collector};
use crate::store::devices::{CAMERA, Device};

const CAMERA_NOT_FOUND: &str = "Camera not found";

typed_device_lists! {
    CAMERA, "cameras", "/devices/cameras", "/devices/cameras/status";
    list "devices_list_cameras", "List cameras";
    status "devices_camera_status", "Online state of the cameras";
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create_camera))
        .routes(routes!(status))
        .routes(routes!(update_camera))
        .routes(routes!(list_events, create_event))
        .routes(routes!(uplink))
        .routes(routes!(collectors))
        .routes(routes!(published_info))
}

async fn camera(state: &AppState, id: i64) -> ApiResult<Device> {
    let device = or_404(state.store.device(id).await, CAMERA_NOT_FOUND)?;
    if device.device_type != CAMERA {
        return Err(ApiError::not_found(CAMERA_NOT_FOUND));
    }
    Ok(device)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct EventCreate {
    /// Ignored: the path names the camera.
    #[allow(dead_code)]
    device_id: Option<i64>,
    topic: String,
    analytic_type: String,
    /// Default `{}`.
    #[schema(value_type = Option<Object>)]
    payload: Option<Value>,
    /// Default: now.
    #[schema(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    occurred_at: Option<FlexibleDateTime>,
}

#[utoipa::path(
    post,
    path = "/devices/cameras/{camera_id}/events",
    operation_id = "cameras_create_event",
    tag = "cameras",
    summary = "Record a camera event (with the tagged people near the camera at that time)",
    params(("camera_id" = i64, Path, description = "Camera id")),
    request_body = EventCreate,
    responses(
        (status = 201, body = CameraEvent),
        NotACamera, Invalid,
    ),
)]
async fn create_event(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EventCreate>,
) -> ApiResult<(StatusCode, Json<CameraEvent>)> {
    let camera = camera(&state, id).await?;
    let mut checks = Checks::new();
    let topic_text = body.topic.trim();
    let analytic_type = body.analytic_type.trim();
    checks.text("topic", topic_text, 512);
    checks.text("analytic_type", analytic_type, MAX_ANALYTIC_LEN);
    let payload = body.payload.unwrap_or_else(|| json!({}));
    if !payload.is_object() {
        checks.push("payload", "dict_type", "Input should be a valid dictionary");
    } else if payload.to_string().len() > MAX_PAYLOAD_BYTES {
        checks.push(
            "payload",
            "too_long",
            format!("must be at most {MAX_PAYLOAD_BYTES} bytes of JSON"),
        );
    }
    checks.finish()?;
    let input = CameraEventInput {
        topic: topic_text,
        analytic_type,
        payload: &payload,
        occurred_at: body.occurred_at.map_or_else(Utc::now, |t| t.0),
        dedup_key: None,
        topic_kind: None,
        seen_at: None,
        fuse: true,
        epoch: None,
    };
    let id = state
        .camera_events
        .record(&camera, input)
        .await?
        .ok_or_else(|| ApiError::Conflict("Event already recorded".into()))?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.camera_event(id).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    skip: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
    /// Only events of this analytic type (e.g. `faceCapture`).
    analytic_type: Option<String>,
    /// Events at or after this time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    since: Option<FlexibleDateTime>,
    /// Events before this time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    until: Option<FlexibleDateTime>,
}

#[utoipa::path(
    get,
    path = "/devices/cameras/{camera_id}/events",
    operation_id = "cameras_list_events",
    tag = "cameras",
    summary = "A camera's events, newest first, with the people nearby",
    params(("camera_id" = i64, Path, description = "Camera id"), EventQuery),
    responses(
        (status = 200, body = Vec<CameraEvent>),
        NotACamera, Invalid,
    ),
)]
async fn list_events(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Vec<CameraEvent>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    camera(&state, id).await?;
    let filter = CameraEventFilter {
        analytic_type: q
            .analytic_type
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty()),
        since: q.since.map(|t| t.0),
        until: q.until.map(|t| t.0),
    };
    Ok(Json(
        state
            .store
            .camera_events(id, &filter, page.skip, page.limit)
            .await?,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UplinkQueued {
    status: &'static str,
    topic: String,
    #[schema(value_type = Object)]
    payload: Value,
    action: String,
}

#[utoipa::path(
    post,
    path = "/devices/cameras/{camera_id}/uplink/{action}",
    operation_id = "cameras_uplink",
    tag = "cameras",
    summary = "Ask the camera's collector to start or stop streaming to the central server",
    params(
        ("camera_id" = i64, Path, description = "Camera id"),
        ("action" = String, Path, description = "`start` or `stop`"),
    ),
    responses(
        (status = 200, body = UplinkQueued),
        (status = 400, description = "Fields the uplink needs are empty", body = ErrorBody),
        AdminOnly,
        (status = 404, description = "Not a camera, or not start/stop", body = ErrorBody),
        (status = 503, description = "The broker did not take the command", body = ErrorBody),
    ),
)]
async fn uplink(
    State(state): State<AppState>,
    _: AdminUser,
    ApiPath((id, action)): ApiPath<(i64, String)>,
) -> ApiResult<Json<UplinkQueued>> {
    if action != "start" && action != "stop" {
        return Err(ApiError::not_found("Not Found"));
    }
    let camera = camera(&state, id).await?;
    let missing: Vec<&str> = [
        ("proxy_path", &camera.proxy_path),
        ("central_path", &camera.central_path),
        ("central_media_mtx_ip", &camera.central_media_mtx_ip),
    ]
    .into_iter()
    .filter(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty()))
    .map(|(name, _)| name)
    .collect();
    if !missing.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "Campos obrigatórios ausentes para uplink: {}.",
            missing.join(", ")
        )));
    }
    let names = SiteNames::load(&state.store).await?;
    let config = state.config.as_ref();
    let path = crate::cambus::publisher::camera_path(config, &camera, &names);
    let topic = format!("{}/{path}/uplink/{action}", config.cambus.uplink_tree);
    let payload = json!({
        "cameraId": topic::camera_segment(&camera),
        "proxyPath": camera.proxy_path,
        "centralPath": camera.central_path,
        "centralHost": camera.central_media_mtx_ip,
        "centralSrtPort": config.cambus.uplink_srt_port,
        "ttlSeconds": config.cambus.uplink_ttl_seconds,
    });
    state
        .cambus
        .command(topic.clone(), payload.to_string().into_bytes())
        .await
        .map_err(|e| ApiError::Unavailable(format!("The command was not published: {e}")))?;
    Ok(Json(UplinkQueued {
        status: "queued",
        topic,
        payload,
        action,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CollectorRead {
    #[serde(flatten)]
    collector: Collector,
    /// Heard within `devices.offline_after_seconds` and not saying it is offline.
    alive: bool,
}

#[utoipa::path(
    get,
    path = "/devices/cameras/collectors",
    operation_id = "cameras_collectors",
    tag = "cameras",
    summary = "The camera collectors heard on the bus, by tenant and building, and whether they are alive",
    responses(
        (status = 200, body = Vec<CollectorRead>),
    ),
)]
async fn collectors(
    State(state): State<AppState>,
    _: AuthUser,
) -> ApiResult<Json<Vec<CollectorRead>>> {
    let window = chrono::Duration::seconds(i64::from(state.config.devices.offline_after_seconds));
    let now = Utc::now();
    Ok(Json(
        state
            .store
            .collectors()
            .await?
            .into_iter()
            .map(|collector| CollectorRead {
                alive: now - collector.last_seen_at <= window
                    && !topic::says_offline(&Value::String(collector.status.clone())),
                collector,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PublishedInfo {
    topic: String,
    /// The configuration as published, the password left out.
    #[schema(value_type = Object)]
    payload: Value,
    /// Not yet accepted by the broker (retried every few seconds).
    pending: bool,
    attempts: i32,
    last_error: Option<String>,
    published_at: Option<DateTime<Utc>>,
}

#[utoipa::path(
    get,
    path = "/devices/cameras/{camera_id}/info",
    operation_id = "cameras_published_info",
    tag = "cameras",
    summary = "The camera's configuration on the bus (retained /info) and whether the broker has it",
    params(("camera_id" = i64, Path, description = "Camera id")),
    responses(
        (status = 200, body = PublishedInfo),
        (status = 404, description = "Not a camera, or not published yet", body = ErrorBody),
    ),
)]
async fn published_info(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PublishedInfo>> {
    let camera = camera(&state, id).await?;
    let names = SiteNames::load(&state.store).await?;
    let topic = crate::cambus::publisher::info_topic(&state.config, &camera, &names);
    let row = state
        .store
        .info_topic(&topic)
        .await?
        .ok_or_else(|| ApiError::not_found("Not published yet"))?;
    let payload = crate::cambus::publisher::info_payload(&state.config, &camera);
    Ok(Json(PublishedInfo {
        topic,
        payload,
        pending: row.pending,
        attempts: row.attempts,
        last_error: row.last_error,
        published_at: row.published_at,
    }))
}

#[utoipa::path(
    post,
    path = "/devices/cameras",
    operation_id = "devices_create_camera",
    tag = "cameras",
    summary = "Create a camera (type forced to CAMERA)",
    request_body = DeviceBody,
    responses(
        (status = 201, body = DeviceRead),
        CredentialsAdminOnly, Conflict, Invalid,
    ),
)]
async fn create_camera(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(mut body): ApiJson<DeviceBody>,
) -> ApiResult<(StatusCode, Json<DeviceRead>)> {
    body.device_type = Patch::Value(CAMERA.into());
    let new = Device {
        device_type: CAMERA.into(),
        shard: Some(state.config.cambus.default_shard.clone()),
        ..Device::default()
    };
    let d = save(&state, &user, new, body, true).await?;
    Ok((StatusCode::CREATED, Json(DeviceRead::from(&d))))
}

#[utoipa::path(
    put,
    path = "/devices/cameras/{camera_id}",
    operation_id = "devices_update_camera",
    tag = "cameras",
    summary = "Update a camera (partial)",
    params(("camera_id" = i64, Path, description = "Camera id")),
    request_body = DeviceBody,
    responses(
        (status = 200, body = DeviceRead),
        (status = 400, description = "Not a camera", body = ErrorBody),
        CredentialsAdminOnly, NotFound, Conflict, Invalid,
    ),
)]
async fn update_camera(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(mut body): ApiJson<DeviceBody>,
) -> ApiResult<Json<DeviceRead>> {
    let mut d = or_404(state.store.device(id).await, CAMERA_NOT_FOUND)?;
    if d.device_type != CAMERA {
        return Err(ApiError::BadRequest("Device não é do tipo CAMERA.".into()));
    }
    body.device_type = Patch::Absent;
    if d.shard.is_none() {
        d.shard = Some(state.config.cambus.default_shard.clone());
    }
    Ok(Json(DeviceRead::from(
        &save(&state, &user, d, body, false).await?,
    )))
}
