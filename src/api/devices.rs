//! `/devices`: devices of every type, and what the gateways' and cameras' routes share
//! (the device's JSON, its validation and saving, listing, status and deletion).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json as DbJson;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, or_409, record};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::openapi::{Conflict, CredentialsAdminOnly, Deleted, Invalid, NotFound};
use super::resource::{Events, Listed, Resource, Tracked, find, resource_routes};
use super::validate::{Checks, FlexibleDateTime, Patch, patch_body};
use crate::cambus::publisher::{SiteNames, camera_topics};
use crate::config::{PATH_LOSS_EXPONENT_RANGE, RSSI_AT_1M_RANGE};
use crate::events::EventType::{DeviceCreated, DeviceDeleted, DeviceUpdated};
use crate::events::{EventType, payload};
use crate::mac;
use crate::store::devices::{
    BLE_GATEWAY, CAMERA, DEVICE_TYPES, Device, DeviceFilter, DeviceTopic, TopicSpec,
};
use crate::store::users::User;

const NOT_FOUND: &str = "Device not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(status))
        .routes(routes!(read, update, remove))
        .routes(routes!(set_position))
        .routes(routes!(topics))
}

/// A device as the API shows it. Credentials never appear: `has_password` says whether
/// one is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceRead {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub device_type: String,
    pub code: Option<String>,
    pub mac_address: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub pos_x: Option<f64>,
    pub pos_y: Option<f64>,
    pub building_id: Option<i64>,
    pub floor_id: Option<i64>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub shard: Option<String>,
    pub analytics: Option<Vec<String>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub ip_address: Option<String>,
    pub port: Option<i32>,
    pub username: Option<String>,
    pub has_password: bool,
    pub rtsp_url: Option<String>,
    pub proxy_path: Option<String>,
    pub central_path: Option<String>,
    pub record_retention_minutes: Option<i32>,
    pub central_media_mtx_ip: Option<String>,
    /// A gateway's path-loss calibration (dBm at 1 m, exponent); null: the site's
    /// (`positioning.*`).
    pub rssi_at_1m: Option<f64>,
    pub path_loss_exponent: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Device> for DeviceRead {
    fn from(d: &Device) -> Self {
        DeviceRead {
            id: d.id,
            name: d.name.clone(),
            description: d.description.clone(),
            device_type: d.device_type.clone(),
            code: d.code.clone(),
            mac_address: d.mac_address.as_deref().map(mac::display_stored),
            floor_plan_id: d.floor_plan_id,
            pos_x: d.pos_x,
            pos_y: d.pos_y,
            building_id: d.building_id,
            floor_id: d.floor_id,
            manufacturer: d.manufacturer.clone(),
            model: d.model.clone(),
            shard: d.shard.clone(),
            analytics: d.analytics.as_ref().map(|a| a.0.clone()),
            last_seen_at: d.last_seen_at,
            ip_address: d.ip_address.clone(),
            port: d.port,
            username: d.username.clone(),
            has_password: d.password_encrypted.is_some(),
            rtsp_url: d.rtsp_url.clone(),
            proxy_path: d.proxy_path.clone(),
            central_path: d.central_path.clone(),
            record_retention_minutes: d.record_retention_minutes,
            central_media_mtx_ip: d.central_media_mtx_ip.clone(),
            rssi_at_1m: d.rssi_at_1m,
            path_loss_exponent: d.path_loss_exponent,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct DeviceStatusRead {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    device_type: String,
    mac_address: Option<String>,
    ip_address: Option<String>,
    building_id: Option<i64>,
    floor_id: Option<i64>,
    floor_plan_id: Option<i64>,
    manufacturer: Option<String>,
    model: Option<String>,
    shard: Option<String>,
    last_seen_at: Option<DateTime<Utc>>,
    is_online: bool,
}

patch_body! {
    /// The body of every device create and update: absent fields are left alone (or take
    /// their default on create), `null` clears a field.
    pub(super) struct DeviceBody {
        name: String,
        description: String,
        #[serde(rename = "type")]
        pub(super) device_type: String,
        code: String,
        mac_address: String,
        floor_plan_id: i64,
        pos_x: f64,
        pos_y: f64,
        building_id: i64,
        floor_id: i64,
        manufacturer: String,
        model: String,
        shard: String,
        analytics: Vec<String>,
        last_seen_at: FlexibleDateTime as chrono::DateTime<chrono::Utc>,
        ip_address: String,
        port: i32,
        username: String,
        password: String,
        rtsp_url: String,
        proxy_path: String,
        central_path: String,
        record_retention_minutes: i32,
        central_media_mtx_ip: String,
        rssi_at_1m: f64,
        path_loss_exponent: f64,
    }
}

impl DeviceBody {
    /// Applies the body to `d`, collecting every problem. Location ids are checked and
    /// made consistent afterwards by [`resolve_location`].
    fn apply(self, d: &mut Device, state: &AppState, checks: &mut Checks) {
        checks.not_null("name", &self.name);
        checks.not_null("type", &self.device_type);
        self.name
            .map(|v| v.trim().to_string())
            .apply_to(&mut d.name);
        checks.text("name", &d.name, 255);
        self.device_type
            .map(|v| v.trim().to_ascii_uppercase())
            .apply_to(&mut d.device_type);
        checks.one_of("type", &d.device_type, DEVICE_TYPES);

        match self.mac_address.trimmed() {
            Patch::Value(text) => match mac::canonical(&text) {
                Some(m) => d.mac_address = Some(m.as_str().to_string()),
                None => checks.push(
                    "mac_address",
                    "value_error",
                    "not a MAC address (12 hex digits, e.g. AA:BB:CC:DD:EE:FF)",
                ),
            },
            Patch::Null => d.mac_address = None,
            Patch::Absent => {}
        }
        let texts: [(&str, Patch<String>, &mut Option<String>, usize); 11] = [
            ("description", self.description, &mut d.description, 1024),
            ("code", self.code, &mut d.code, 64),
            ("manufacturer", self.manufacturer, &mut d.manufacturer, 128),
            ("model", self.model, &mut d.model, 128),
            ("shard", self.shard, &mut d.shard, 64),
            ("ip_address", self.ip_address, &mut d.ip_address, 64),
            ("username", self.username, &mut d.username, 128),
            ("rtsp_url", self.rtsp_url, &mut d.rtsp_url, 512),
            ("proxy_path", self.proxy_path, &mut d.proxy_path, 255),
            ("central_path", self.central_path, &mut d.central_path, 255),
            (
                "central_media_mtx_ip",
                self.central_media_mtx_ip,
                &mut d.central_media_mtx_ip,
                64,
            ),
        ];
        for (field, patch, target, max) in texts {
            patch.trimmed().apply_to_option(target);
            checks.max_len(field, target.as_deref(), max);
        }
        match self.password {
            Patch::Value(p) if p.chars().count() > 128 => checks.push(
                "password",
                "string_too_long",
                "must have at most 128 characters",
            ),
            Patch::Value(p) if p.is_empty() => d.password_encrypted = None,
            Patch::Value(p) => d.password_encrypted = Some(state.secrets.seal(&p)),
            Patch::Null => d.password_encrypted = None,
            Patch::Absent => {}
        }
        match self.analytics {
            Patch::Value(list) => {
                let list: Vec<String> = list
                    .into_iter()
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect();
                if list.iter().any(|a| a.chars().count() > 64) {
                    checks.push(
                        "analytics",
                        "string_too_long",
                        "analytic names have at most 64 characters",
                    );
                }
                d.analytics = Some(DbJson(list));
            }
            Patch::Null => d.analytics = None,
            Patch::Absent => {}
        }
        self.last_seen_at
            .map(|t| t.0)
            .apply_to_option(&mut d.last_seen_at);
        self.port.apply_to_option(&mut d.port);
        if d.port.is_some_and(|p| !(1..=65535).contains(&p)) {
            checks.push("port", "value_error", "must be between 1 and 65535");
        }
        self.record_retention_minutes
            .apply_to_option(&mut d.record_retention_minutes);
        if d.record_retention_minutes.is_some_and(|m| m < 0) {
            checks.push(
                "record_retention_minutes",
                "value_error",
                "must be 0 or more",
            );
        }
        self.pos_x.apply_to_option(&mut d.pos_x);
        self.pos_y.apply_to_option(&mut d.pos_y);
        check_position(checks, d);
        self.rssi_at_1m.apply_to_option(&mut d.rssi_at_1m);
        self.path_loss_exponent
            .apply_to_option(&mut d.path_loss_exponent);
        let calibration = [
            (
                "rssi_at_1m",
                d.rssi_at_1m,
                RSSI_AT_1M_RANGE,
                "dBm, between -100 and 0",
            ),
            (
                "path_loss_exponent",
                d.path_loss_exponent,
                PATH_LOSS_EXPONENT_RANGE,
                "between 1 and 6",
            ),
        ];
        for (field, value, range, allowed) in calibration {
            if value.is_some_and(|v| !range.contains(&v)) {
                checks.push(field, "value_error", format!("must be {allowed}"));
            }
        }
    }
}

/// Positions are fractions (0–1) of the floor-plan image, as the console places them.
fn check_position(checks: &mut Checks, d: &Device) {
    for (field, value) in [("pos_x", d.pos_x), ("pos_y", d.pos_y)] {
        if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            checks.push(
                field,
                "value_error",
                "must be a fraction of the plan, between 0 and 1",
            );
        }
    }
}

/// Makes a device's building, floor and floor plan agree, in the direction of the most
/// specific one the request set: a plan implies its floor and building; a floor implies its
/// building. A request that changes the floor (or building) without naming a plan (or
/// floor) takes the device off its old plan (and floor). Contradictions and unknown ids are
/// 422 naming the field.
async fn resolve_location(
    state: &AppState,
    d: &mut Device,
    set_plan: bool,
    set_floor: bool,
    set_building: bool,
) -> ApiResult<()> {
    let unknown = |field: &str, id: i64| {
        ApiError::invalid(FieldError::body(
            field,
            "foreign_key",
            format!("{field} {id} does not exist"),
        ))
    };
    let mismatch =
        |field: &str, msg: String| ApiError::invalid(FieldError::body(field, "value_error", msg));
    if let Some(plan_id) = d.floor_plan_id {
        let plan = state
            .store
            .floor_plan(plan_id)
            .await
            .map_err(|_| unknown("floor_plan_id", plan_id))?;
        let plan_floor = state.store.floor(plan.floor_id).await?;
        let floor_moved = set_floor && d.floor_id != Some(plan.floor_id);
        let building_moved = set_building && d.building_id != Some(plan_floor.building_id);
        if set_plan {
            if floor_moved {
                return Err(mismatch(
                    "floor_id",
                    format!("floor plan {plan_id} is on floor {}", plan.floor_id),
                ));
            }
            if building_moved {
                return Err(mismatch(
                    "building_id",
                    format!(
                        "floor plan {plan_id} is in building {}",
                        plan_floor.building_id
                    ),
                ));
            }
        }
        if set_plan || !(floor_moved || building_moved) {
            d.floor_id = Some(plan.floor_id);
            d.building_id = Some(plan_floor.building_id);
            return Ok(());
        }
        d.floor_plan_id = None;
        d.pos_x = None;
        d.pos_y = None;
    }
    if let Some(floor_id) = d.floor_id {
        let floor = state
            .store
            .floor(floor_id)
            .await
            .map_err(|_| unknown("floor_id", floor_id))?;
        let building_moved = set_building && d.building_id != Some(floor.building_id);
        if set_floor && building_moved {
            return Err(mismatch(
                "building_id",
                format!("floor {floor_id} is in building {}", floor.building_id),
            ));
        }
        if set_floor || !building_moved {
            d.building_id = Some(floor.building_id);
            return Ok(());
        }
        d.floor_id = None;
    }
    if let Some(building_id) = d.building_id
        && !state
            .store
            .exists::<crate::store::site::Building>(building_id)
            .await?
    {
        return Err(unknown("building_id", building_id));
    }
    Ok(())
}

/// What a create or update changed about the location.
struct LocationFields {
    plan: bool,
    floor: bool,
    building: bool,
}

impl DeviceBody {
    fn location_fields(&self) -> LocationFields {
        LocationFields {
            plan: !self.floor_plan_id.is_absent(),
            floor: !self.floor_id.is_absent(),
            building: !self.building_id.is_absent(),
        }
    }

    fn apply_location(&mut self, d: &mut Device) {
        std::mem::take(&mut self.floor_plan_id).apply_to_option(&mut d.floor_plan_id);
        std::mem::take(&mut self.floor_id).apply_to_option(&mut d.floor_id);
        std::mem::take(&mut self.building_id).apply_to_option(&mut d.building_id);
    }
}

fn duplicate(d: &Device) -> String {
    match &d.code {
        Some(code) => format!("Já existe um device com code='{code}' ou com o mesmo mac_address."),
        None => "Já existe um device com este mac_address.".into(),
    }
}

/// Two cameras whose codes give the same topic segment (`Cam 1`, `cam_1`) would share one
/// `/info` topic on the bus: refused.
async fn check_camera_topic(state: &AppState, d: &Device) -> ApiResult<()> {
    let Some(code) = d
        .code
        .as_deref()
        .filter(|c| d.device_type == CAMERA && !c.trim().is_empty())
    else {
        return Ok(());
    };
    let segment = crate::cambus::topic::camera_segment(d);
    let clash =
        state.store.cameras().await?.into_iter().find(|other| {
            other.id != d.id && crate::cambus::topic::camera_segment(other) == segment
        });
    match clash {
        Some(other) => Err(ApiError::Conflict(format!(
            "Camera code '{code}' gives the same topic as camera '{}' ({segment})",
            other.code.unwrap_or_else(|| format!("device{}", other.id))
        ))),
        None => Ok(()),
    }
}

/// The fields that say where a device's password is used (the address the collector logs
/// in to with it).
const CREDENTIAL_TARGET: &[&str] = &["ip_address", "port", "rtsp_url"];

/// The credential and uplink fields `after` changes: who holds them can read the camera's
/// password (by pointing it elsewhere) or send its video anywhere, so only administrators
/// change them.
fn credential_changes(before: &Device, after: &Device) -> Vec<&'static str> {
    [
        ("ip_address", before.ip_address != after.ip_address),
        ("port", before.port != after.port),
        ("rtsp_url", before.rtsp_url != after.rtsp_url),
        ("username", before.username != after.username),
        (
            "password",
            before.password_encrypted != after.password_encrypted,
        ),
        ("proxy_path", before.proxy_path != after.proxy_path),
        ("central_path", before.central_path != after.central_path),
        (
            "central_media_mtx_ip",
            before.central_media_mtx_ip != after.central_media_mtx_ip,
        ),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

/// The CAM-BUS topics of a camera, as the publisher registers them (none for other
/// devices). Saved with the device, so `/devices/{id}/topics` lists them as soon as the
/// write answers; they depend on the saved id (a camera without code is `device<id>`).
async fn bus_topics(
    state: &AppState,
    d: &Device,
) -> ApiResult<impl FnOnce(&Device) -> Vec<TopicSpec> + use<>> {
    let names = if d.device_type == CAMERA {
        Some(SiteNames::load(&state.store).await?)
    } else {
        None
    };
    let config = state.config.clone();
    Ok(move |saved: &Device| {
        let Some(names) = names.filter(|_| saved.device_type == CAMERA) else {
            return Vec::new();
        };
        camera_topics(&config, saved, &names)
    })
}

/// Validates `body` against `d` (a new or a stored device) and saves the result.
pub(super) async fn save(
    state: &AppState,
    user: &User,
    mut d: Device,
    mut body: DeviceBody,
    creating: bool,
) -> ApiResult<Device> {
    let fields = body.location_fields();
    let mut checks = Checks::new();
    if creating && body.name.is_absent() {
        checks.push("name", "missing", "Field required");
    }
    let before = d.clone();
    let password_given = !body.password.is_absent();
    body.apply_location(&mut d);
    body.apply(&mut d, state, &mut checks);
    let changed = credential_changes(&before, &d);
    if !changed.is_empty() && !user.is_admin() {
        return Err(ApiError::Forbidden(format!(
            "Only administrators may set a device's credentials and where its video goes ({})",
            changed.join(", ")
        )));
    }
    if before.password_encrypted.is_some()
        && !password_given
        && changed.iter().any(|f| CREDENTIAL_TARGET.contains(f))
    {
        checks.push(
            "password",
            "missing",
            "give the password again (or null to clear it) when ip_address, port or rtsp_url \
             change: the stored password is never sent to a new address",
        );
    }
    checks.finish()?;
    resolve_location(state, &mut d, fields.plan, fields.floor, fields.building).await?;
    check_camera_topic(state, &d).await?;
    let topics = bus_topics(state, &d).await?;
    let saved = or_409(
        state.store.save_device_with_topics(&d, topics).await,
        || duplicate(&d),
    )?;
    let event = if creating {
        EventType::DeviceCreated
    } else {
        EventType::DeviceUpdated
    };
    let change = Change::new(event, saved.id, payload::device(&saved, event));
    record(state, user, change).await?;
    Ok(saved)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    #[serde(rename = "type")]
    device_type: Option<String>,
    floor_plan_id: Option<i64>,
}

/// A page of devices, of `forced_type` when given.
pub(super) async fn rows_of(
    state: &AppState,
    q: DeviceQuery,
    forced_type: Option<&str>,
) -> ApiResult<Vec<Device>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let filter = DeviceFilter {
        device_type: forced_type
            .map(String::from)
            .or(q.device_type.map(|t| t.to_ascii_uppercase())),
        floor_plan_id: q.floor_plan_id,
    };
    Ok(state
        .store
        .list_devices(&filter, page.skip, page.limit)
        .await?)
}

impl Resource for Device {
    const NOT_FOUND: &'static str = NOT_FOUND;
    type Read = DeviceRead;

    async fn show(_: &AppState, rows: Vec<Device>) -> ApiResult<Vec<DeviceRead>> {
        Ok(rows.iter().map(DeviceRead::from).collect())
    }
}

impl Listed for Device {
    type Query = DeviceQuery;

    async fn rows(state: &AppState, q: DeviceQuery) -> ApiResult<Vec<Device>> {
        rows_of(state, q, None).await
    }
}

impl Tracked for Device {
    const EVENTS: Events = Events::new(DeviceCreated, DeviceUpdated, DeviceDeleted);

    fn payload(&self, event: EventType) -> Value {
        payload::device(self, event)
    }

    /// With its readings, topics and events; what refers to it for history stays.
    async fn delete(state: &AppState, d: &Device) -> ApiResult<()> {
        or_404(state.store.delete_device(d.id, false).await, NOT_FOUND)
    }
}

resource_routes! {
    Device => DeviceRead, "devices", "/devices", "/devices/{device_id}",
        ("device_id", "Device id");
    list(AuthUser, DeviceQuery) "devices_list", "List devices of every type, by id", [Invalid];
    read(AuthUser) "devices_read", "Read a device", [NotFound];
    remove(AuthUser) "devices_remove",
        "Delete a device with its readings, topics and events; incidents and alert history are kept",
        [Deleted, NotFound];
}

/// Declares the list (`GET $path`) and online-state (`GET $path/status`) routes of one
/// device type, as `list` and `status`.
macro_rules! typed_device_lists {
    (
        $device_type:expr, $tag:literal, $path:literal, $status_path:literal;
        list $list_op:literal, $list_summary:literal;
        status $status_op:literal, $status_summary:literal;
    ) => {
        #[utoipa::path(
                            get,
                            path = $path,
                            operation_id = $list_op,
                            tag = $tag,
                            summary = $list_summary,
                            params($crate::api::devices::DeviceQuery),
                            responses(
                                (status = 200, body = Vec<$crate::api::devices::DeviceRead>),
                                $crate::api::openapi::Invalid,
                            ),
                        )]
        async fn list(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            _: $crate::api::extract::AuthUser,
            $crate::api::extract::ApiQuery(q): $crate::api::extract::ApiQuery<
                $crate::api::devices::DeviceQuery,
            >,
        ) -> $crate::api::ApiResult<axum::Json<Vec<$crate::api::devices::DeviceRead>>> {
            let rows = $crate::api::devices::rows_of(&state, q, Some($device_type)).await?;
            Ok(axum::Json(
                rows.iter()
                    .map($crate::api::devices::DeviceRead::from)
                    .collect(),
            ))
        }

        #[utoipa::path(
                            get,
                            path = $status_path,
                            operation_id = $status_op,
                            tag = $tag,
                            summary = $status_summary,
                            params($crate::api::devices::StatusQuery),
                            responses(
                                (status = 200, body = Vec<$crate::api::devices::DeviceStatusRead>),
                                $crate::api::openapi::Invalid,
                            ),
                        )]
        async fn status(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            _: $crate::api::extract::AuthUser,
            $crate::api::extract::ApiQuery(q): $crate::api::extract::ApiQuery<
                $crate::api::devices::StatusQuery,
            >,
        ) -> $crate::api::ApiResult<axum::Json<Vec<$crate::api::devices::DeviceStatusRead>>> {
            $crate::api::devices::status_of(&state, Some($device_type), q.skip, q.limit).await
        }
    };
}
pub(super) use typed_device_lists;

#[utoipa::path(
    post,
    path = "/devices",
    operation_id = "devices_create",
    tag = "devices",
    summary = "Create a device (type BLE_GATEWAY unless given)",
    request_body = DeviceBody,
    responses(
        (status = 201, body = DeviceRead),
        CredentialsAdminOnly, Conflict, Invalid,
    ),
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<DeviceBody>,
) -> ApiResult<(StatusCode, Json<DeviceRead>)> {
    let new = Device {
        device_type: BLE_GATEWAY.into(),
        ..Device::default()
    };
    let d = save(&state, &user, new, body, true).await?;
    Ok((StatusCode::CREATED, Json(DeviceRead::from(&d))))
}

#[utoipa::path(
    put,
    path = "/devices/{device_id}",
    operation_id = "devices_update",
    tag = "devices",
    summary = "Update a device (partial); a plan implies its floor and building",
    params(("device_id" = i64, Path, description = "Device id")),
    request_body = DeviceBody,
    responses(
        (status = 200, body = DeviceRead),
        CredentialsAdminOnly, NotFound, Conflict, Invalid,
    ),
)]
async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DeviceBody>,
) -> ApiResult<Json<DeviceRead>> {
    let d = find::<Device>(&state, id).await?;
    Ok(Json(DeviceRead::from(
        &save(&state, &user, d, body, false).await?,
    )))
}

patch_body! {
    struct PositionBody {
        floor_plan_id: i64,
        pos_x: f64,
        pos_y: f64,
    }
}

#[utoipa::path(
    patch,
    path = "/devices/{device_id}/position",
    operation_id = "devices_set_position",
    tag = "devices",
    summary = "Place a device on a floor plan",
    params(("device_id" = i64, Path, description = "Device id")),
    request_body = PositionBody,
    responses(
        (status = 200, body = DeviceRead),
        NotFound, Invalid,
    ),
)]
async fn set_position(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PositionBody>,
) -> ApiResult<Json<DeviceRead>> {
    let mut d: Device = find(&state, id).await?;
    let set_plan = !body.floor_plan_id.is_absent();
    body.floor_plan_id.apply_to_option(&mut d.floor_plan_id);
    body.pos_x.apply_to_option(&mut d.pos_x);
    body.pos_y.apply_to_option(&mut d.pos_y);
    let mut checks = Checks::new();
    check_position(&mut checks, &d);
    checks.finish()?;
    resolve_location(&state, &mut d, set_plan, false, false).await?;
    let topics = bus_topics(&state, &d).await?;
    let d = state.store.save_device_with_topics(&d, topics).await?;
    let event = EventType::DevicePositionUpdated;
    let change = Change::new(event, d.id, payload::device(&d, event));
    record(&state, &user, change).await?;
    Ok(Json(DeviceRead::from(&d)))
}

pub(super) async fn delete_and_record(
    state: &AppState,
    user: &User,
    d: &Device,
    purge_related: bool,
) -> ApiResult<()> {
    or_404(
        state.store.delete_device(d.id, purge_related).await,
        NOT_FOUND,
    )?;
    let event = EventType::DeviceDeleted;
    let change = Change::new(event, d.id, payload::device(d, event));
    let change = if purge_related {
        change.action("purge")
    } else {
        change
    };
    record(state, user, change).await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct StatusQuery {
    #[serde(default)]
    only_gateways: bool,
    pub(super) skip: Option<i64>,
    pub(super) limit: Option<i64>,
}

/// Online means heard from within `devices.offline_after_seconds` and not reported offline
/// since. Reading the status has no side effects (the original created alert events on
/// every poll).
pub(super) async fn status_of(
    state: &AppState,
    device_type: Option<&str>,
    skip: Option<i64>,
    limit: Option<i64>,
) -> ApiResult<Json<Vec<DeviceStatusRead>>> {
    let page = Page::from_query(skip, limit, 1000)?;
    let filter = DeviceFilter {
        device_type: device_type.map(String::from),
        ..DeviceFilter::default()
    };
    let devices = state
        .store
        .list_devices(&filter, page.skip, page.limit)
        .await?;
    let window = chrono::Duration::seconds(i64::from(state.config.devices.offline_after_seconds));
    let now = Utc::now();
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceStatusRead {
                is_online: d.last_seen_at.is_some_and(|seen| now - seen <= window)
                    && !state.offline_reports.reported_since(d.id, d.last_seen_at),
                id: d.id,
                name: d.name,
                device_type: d.device_type,
                mac_address: d.mac_address.as_deref().map(mac::display_stored),
                ip_address: d.ip_address,
                building_id: d.building_id,
                floor_id: d.floor_id,
                floor_plan_id: d.floor_plan_id,
                manufacturer: d.manufacturer,
                model: d.model,
                shard: d.shard,
                last_seen_at: d.last_seen_at,
            })
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/devices/status",
    operation_id = "devices_status",
    tag = "devices",
    summary = "Online state of every device (or only gateways)",
    params(StatusQuery),
    responses(
        (status = 200, body = Vec<DeviceStatusRead>),
        Invalid,
    ),
)]
async fn status(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> ApiResult<Json<Vec<DeviceStatusRead>>> {
    status_of(
        &state,
        q.only_gateways.then_some(BLE_GATEWAY),
        q.skip,
        q.limit,
    )
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TopicsQuery {
    only_active: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/devices/{device_id}/topics",
    operation_id = "devices_topics",
    tag = "devices",
    summary = "MQTT topics known for a device",
    params(("device_id" = i64, Path, description = "Device id"), TopicsQuery),
    responses(
        (status = 200, body = Vec<DeviceTopic>),
        NotFound,
    ),
)]
async fn topics(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<TopicsQuery>,
) -> ApiResult<Json<Vec<DeviceTopic>>> {
    find::<Device>(&state, id).await?;
    Ok(Json(
        state
            .store
            .device_topics(id, q.only_active.unwrap_or(true))
            .await?,
    ))
}
