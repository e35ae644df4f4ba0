//! `/incidents`: the incident desk (any user; visibility by assignment is `/incidents/my`).
//! Statuses move by the rules of [`crate::incidents`]; every status, assignment and SLA
//! change adds a SYSTEM message to the timeline and is announced (INCIDENT_*).

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, record};
use super::error::{ApiError, ApiResult, ErrorBody, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::openapi::{Conflict, Invalid, NotFound};
use super::resource::{Listed, Resource, find, resource_routes, show};
use super::validate::{Checks, FlexibleDateTime, Patch, patch_body};
use crate::events::{EventType, payload};
use crate::incidents::{
    self, MAX_SLA_MINUTES, POSTED_MESSAGE_TYPES, SEVERITIES, STATUSES, SYSTEM_AUTHOR,
    default_sla_minutes, due_at, is_active, kind_of_analytic, refused_transition, status_message,
    system_message,
};
use crate::metrics::HttpRefusal;
use crate::store::StoreError;
use crate::store::devices::CAMERA;
use crate::store::groups::SupportGroup;
use crate::store::incidents::{Assignee, Incident, IncidentFilter, IncidentMessage, NewMessage};
use crate::store::now;
use crate::store::users::User;

const NOT_FOUND: &str = "Incident not found";
const EVENT_NOT_FOUND: &str = "DeviceEvent not found";
const DEVICE_NOT_FOUND: &str = "Device not found";
const NOT_A_CAMERA: &str = "Incidents from events are currently supported only for CAMERA devices";

pub fn router(max_upload_bytes: usize) -> OpenApiRouter<AppState> {
    let (schemas, paths, upload) = routes!(attach);
    // Room for the multipart framing around the file itself.
    let upload = upload.layer(DefaultBodyLimit::max(max_upload_bytes + 16 * 1024));
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(mine))
        .routes(routes!(read, update))
        .routes(routes!(from_event))
        .routes(routes!(from_device_event))
        .routes(routes!(messages, post_message))
        .routes(routes!(poll_messages))
        .routes((schemas, paths, upload))
}

/// A support group as embedded in an incident.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupShort {
    id: i64,
    name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentRead {
    id: i64,
    device_id: Option<i64>,
    device_event_id: Option<i64>,
    kind: String,
    tenant: Option<String>,
    status: String,
    severity: String,
    title: String,
    description: Option<String>,
    sla_minutes: Option<i32>,
    due_at: Option<DateTime<Utc>>,
    /// Active and past `due_at`.
    overdue: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    assigned_group: Option<GroupShort>,
    assigned_to_user_id: Option<i64>,
    assignees: Vec<Assignee>,
    created_by_user_id: Option<i64>,
    /// The incident rule that opened it.
    incident_rule_id: Option<i64>,
    chatwoot_conversation_id: Option<i64>,
}

impl Resource for Incident {
    const NOT_FOUND: &'static str = NOT_FOUND;
    type Read = IncidentRead;

    async fn show(state: &AppState, rows: Vec<Incident>) -> ApiResult<Vec<IncidentRead>> {
        let (Some(first), Some(last)) = (
            rows.iter().map(|i| i.id).min(),
            rows.iter().map(|i| i.id).max(),
        ) else {
            return Ok(Vec::new());
        };
        let assignees = state.store.incident_assignees(first, last).await?;
        let groups = state.store.list_support_groups().await?;
        let now = Utc::now();
        Ok(rows
            .into_iter()
            .map(|i| IncidentRead {
                overdue: incidents::overdue(&i, now),
                assigned_group: i.assigned_group_id.and_then(|id| {
                    groups.iter().find(|g| g.id == id).map(|g| GroupShort {
                        id: g.id,
                        name: g.name.clone(),
                    })
                }),
                assignees: assignees
                    .iter()
                    .filter(|a| a.incident_id == i.id)
                    .cloned()
                    .collect(),
                id: i.id,
                device_id: i.device_id,
                device_event_id: i.device_event_id,
                kind: i.kind,
                tenant: i.tenant,
                status: i.status,
                severity: i.severity,
                title: i.title,
                description: i.description,
                sla_minutes: i.sla_minutes,
                due_at: i.due_at,
                created_at: i.created_at,
                updated_at: i.updated_at,
                closed_at: i.closed_at,
                assigned_to_user_id: i.assigned_to_user_id,
                created_by_user_id: i.created_by_user_id,
                incident_rule_id: i.incident_rule_id,
                chatwoot_conversation_id: i.chatwoot_conversation_id,
            })
            .collect())
    }
}

/// The filters of `GET /incidents`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    /// Only OPEN and IN_PROGRESS.
    #[serde(default)]
    only_open: bool,
    device_id: Option<i64>,
    status: Option<String>,
    severity: Option<String>,
    kind: Option<String>,
    assigned_group_id: Option<i64>,
}

impl Listed for Incident {
    type Query = IncidentQuery;

    async fn rows(state: &AppState, q: IncidentQuery) -> ApiResult<Vec<Incident>> {
        let page = Page::from_query(q.skip, q.limit, 100)?;
        let status = q.status.map(|s| s.trim().to_uppercase());
        let severity = q.severity.map(|s| s.trim().to_uppercase());
        let mut problems = Vec::new();
        if let Some(s) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
            problems.push(query_error("status", s, STATUSES));
        }
        if let Some(s) = severity.as_deref().filter(|s| !SEVERITIES.contains(s)) {
            problems.push(query_error("severity", s, SEVERITIES));
        }
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        let filter = IncidentFilter {
            device_id: q.device_id,
            only_open: q.only_open,
            status,
            severity,
            kind: q.kind,
            assigned_group_id: q.assigned_group_id,
        };
        Ok(state
            .store
            .list_incidents(&filter, page.skip, page.limit)
            .await?)
    }
}

fn query_error(field: &str, value: &str, allowed: &[&str]) -> FieldError {
    FieldError::new(
        "enum",
        &["query", field],
        format!("{field} {value:?} must be one of: {}", allowed.join(", ")),
    )
}

resource_routes! {
    Incident => IncidentRead, "incidents", "/incidents", "/incidents/{incident_id}",
        ("incident_id", "Incident id");
    list(AuthUser, IncidentQuery) "incidents_list",
        "List incidents, newest first (filters: only_open, device_id, status, severity, kind, assigned_group_id)",
        [Invalid];
    read(AuthUser) "incidents_read", "Read an incident", [NotFound];
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MyQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    #[serde(default)]
    only_open: bool,
}

/// The caller's incidents: assigned to them (as the user or among the assignees) or to a
/// support group they belong to; an administrator also sees those nobody is assigned to.
#[utoipa::path(
    get,
    path = "/incidents/my",
    operation_id = "incidents_my",
    tag = "incidents",
    summary = "The caller's incidents, newest first",
    params(MyQuery),
    responses((status = 200, body = Vec<IncidentRead>), Invalid),
)]
async fn mine(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(q): ApiQuery<MyQuery>,
) -> ApiResult<Json<Vec<IncidentRead>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let rows = state
        .store
        .my_incidents(user.id, user.is_admin(), q.only_open, page.skip, page.limit)
        .await?;
    Ok(Json(Incident::show(&state, rows).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IncidentCreate {
    /// The device (camera, gateway) the incident is about, if any.
    device_id: Option<i64>,
    /// Default CAMERA_EVENT.
    kind: Option<String>,
    tenant: Option<String>,
    /// OPEN (default) or IN_PROGRESS.
    status: Option<String>,
    /// LOW, MEDIUM (default), HIGH or CRITICAL.
    severity: Option<String>,
    title: String,
    description: Option<String>,
    /// Default: the support group's, else the severity's (CRITICAL 15, HIGH 60, MEDIUM 240,
    /// LOW 1440).
    sla_minutes: Option<i32>,
    /// Default: creation + the SLA.
    #[schema(value_type = Option<DateTime<Utc>>)]
    due_at: Option<FlexibleDateTime>,
    assigned_to_user_id: Option<i64>,
    assigned_group_id: Option<i64>,
    #[serde(default)]
    assignee_ids: Vec<i64>,
}

/// Opens an incident by hand.
#[utoipa::path(
    post,
    path = "/incidents",
    operation_id = "incidents_create",
    tag = "incidents",
    summary = "Open an incident",
    request_body = IncidentCreate,
    responses((status = 201, body = IncidentRead), Invalid),
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<IncidentCreate>,
) -> ApiResult<(StatusCode, Json<IncidentRead>)> {
    let mut checks = Checks::new();
    let status = upper(body.status, "OPEN");
    if !is_active(&status) {
        checks.push("status", "enum", "a new incident is OPEN or IN_PROGRESS");
    }
    let severity = upper(body.severity, "MEDIUM");
    checks.one_of("severity", &severity, SEVERITIES);
    let title = body.title.trim().to_string();
    checks.text("title", &title, 255);
    let kind = body
        .kind
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "CAMERA_EVENT".into());
    checks.max_len("kind", Some(&kind), 64);
    let tenant = super::changes::clean(body.tenant);
    checks.max_len("tenant", tenant.as_deref(), 64);
    check_sla(&mut checks, body.sla_minutes);
    checks.finish()?;
    if let Some(device) = body.device_id {
        state
            .store
            .device(device)
            .await
            .map_err(|_| reference("device_id", format!("device {device} does not exist")))?;
    }
    check_assignment(
        &state,
        body.assigned_to_user_id,
        body.assigned_group_id,
        &body.assignee_ids,
    )
    .await?;
    let sla = sla_of(&state, body.sla_minutes, body.assigned_group_id, &severity).await?;
    let created = now();
    let incident = Incident {
        device_id: body.device_id,
        kind,
        tenant,
        status,
        severity,
        title,
        description: super::changes::clean(body.description),
        sla_minutes: Some(sla),
        due_at: Some(body.due_at.map_or_else(|| due_at(created, sla), |d| d.0)),
        created_at: created,
        created_by_user_id: Some(user.id),
        assigned_to_user_id: body.assigned_to_user_id,
        assigned_group_id: body.assigned_group_id,
        ..Incident::default()
    };
    let opened = system_message(
        SYSTEM_AUTHOR,
        format!("Incidente aberto por {}.", user_name(&user)),
    );
    let (saved, messages) = state
        .store
        .save_incident(&incident, Some(&dedup(body.assignee_ids)), &[opened])
        .await?;
    announce_created(&state, &user, &saved, &messages).await?;
    Ok((StatusCode::CREATED, Json(show(&state, saved).await?)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct IncidentFromDeviceEventCreate {
    /// The camera event (required by `/incidents/from-event`; the path's wins on
    /// `/incidents/from-device-event/{id}`).
    device_event_id: Option<i64>,
    title: Option<String>,
    description: Option<String>,
    /// LOW, MEDIUM (default), HIGH or CRITICAL.
    severity: Option<String>,
    assigned_group_id: Option<i64>,
    sla_minutes: Option<i32>,
    tenant: Option<String>,
}

/// Opens the incident of a camera event (any device), or answers the one it has.
#[utoipa::path(
    post,
    path = "/incidents/from-event",
    operation_id = "incidents_from_event",
    tag = "incidents",
    summary = "Open the incident of a camera event (or answer the existing one)",
    request_body = IncidentFromDeviceEventCreate,
    responses((status = 201, body = IncidentRead), NotFound, Conflict, Invalid),
)]
async fn from_event(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<IncidentFromDeviceEventCreate>,
) -> ApiResult<(StatusCode, Json<IncidentRead>)> {
    let Some(event_id) = body.device_event_id else {
        return Err(ApiError::invalid(FieldError::body(
            "device_event_id",
            "missing",
            "Field required",
        )));
    };
    open_from_event(&state, &user, event_id, body, false).await
}

/// Opens the incident of a camera's event (kind CAMERA_ISSUE), or answers the one it has.
#[utoipa::path(
    post,
    path = "/incidents/from-device-event/{device_event_id}",
    operation_id = "incidents_from_device_event",
    tag = "incidents",
    summary = "Open the incident of a camera's event (kind CAMERA_ISSUE; or answer the existing one)",
    params(("device_event_id" = i64, Path, description = "Camera event id")),
    request_body = IncidentFromDeviceEventCreate,
    responses(
        (status = 201, body = IncidentRead),
        (status = 400, description = "The event's device is not a camera", body = ErrorBody),
        NotFound, Conflict, Invalid,
    ),
)]
async fn from_device_event(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(event_id): ApiPath<i64>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<IncidentRead>)> {
    // The original required a body; none is needed.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        IncidentFromDeviceEventCreate::default()
    } else {
        super::extract::parse_json(&body)?
    };
    open_from_event(&state, &user, event_id, body, true).await
}

async fn open_from_event(
    state: &AppState,
    user: &User,
    event_id: i64,
    body: IncidentFromDeviceEventCreate,
    cameras_only: bool,
) -> ApiResult<(StatusCode, Json<IncidentRead>)> {
    let event = or_404(state.store.camera_event(event_id).await, EVENT_NOT_FOUND)?;
    if let Some(existing) = state.store.incident_for_event(event_id).await? {
        return Ok((StatusCode::CREATED, Json(show(state, existing).await?)));
    }
    let device = or_404(state.store.device(event.device_id).await, DEVICE_NOT_FOUND)?;
    if cameras_only && device.device_type != CAMERA {
        return Err(ApiError::BadRequest(NOT_A_CAMERA.into()));
    }
    let mut checks = Checks::new();
    let severity = upper(body.severity, "MEDIUM");
    checks.one_of("severity", &severity, SEVERITIES);
    let analytic = event.analytic_type.trim().to_string();
    let title = super::changes::clean(body.title)
        .unwrap_or_else(|| format!("Incidente de câmera (evento {analytic})"));
    checks.text("title", &title, 255);
    let tenant = super::changes::clean(body.tenant)
        .or_else(|| incidents::payload_text(&event.payload, &["tenant"]).map(str::to_string));
    checks.max_len("tenant", tenant.as_deref(), 64);
    check_sla(&mut checks, body.sla_minutes);
    checks.finish()?;
    check_assignment(state, None, body.assigned_group_id, &[]).await?;
    let sla = sla_of(state, body.sla_minutes, body.assigned_group_id, &severity).await?;
    let camera_name = if device.name.trim().is_empty() {
        format!("CAM {}", device.id)
    } else {
        device.name.clone()
    };
    let description = super::changes::clean(body.description).unwrap_or_else(|| {
        format!(
            "Incidente gerado a partir do evento {} ({analytic}) do dispositivo {camera_name}.",
            event.id
        )
    });
    let kind = if cameras_only {
        "CAMERA_ISSUE"
    } else {
        kind_of_analytic(&analytic)
    };
    let created = now();
    let incident = Incident {
        device_id: Some(device.id),
        device_event_id: Some(event.id),
        kind: kind.into(),
        tenant,
        status: "OPEN".into(),
        severity: severity.clone(),
        title,
        description: Some(description),
        sla_minutes: Some(sla),
        due_at: Some(due_at(created, sla)),
        created_at: created,
        created_by_user_id: Some(user.id),
        assigned_group_id: body.assigned_group_id,
        ..Incident::default()
    };
    let summary =
        incidents::camera_event_summary(&analytic, &camera_name, event.occurred_at, &event.payload);
    let opened = system_message(
        SYSTEM_AUTHOR,
        format!(
            "{summary} Severidade: {severity}. Aberto manualmente pelo operador {}.",
            user_name(user)
        ),
    );
    let (saved, messages) = match state.store.save_incident(&incident, None, &[opened]).await {
        Ok(saved) => saved,
        // Opened at the same moment by someone else.
        Err(StoreError::Conflict(_)) => {
            return match state.store.incident_for_event(event_id).await? {
                Some(existing) => Ok((StatusCode::CREATED, Json(show(state, existing).await?))),
                None => Err(ApiError::Conflict(
                    "Incident already exists for this device_event_id".into(),
                )),
            };
        }
        Err(err) => return Err(err.into()),
    };
    announce_created(state, user, &saved, &messages).await?;
    incidents::evidence::attach_in_background(
        state.store.clone(),
        state.events.clone(),
        state.config.clone(),
        saved.id,
        SYSTEM_AUTHOR,
        incidents::evidence::wanted(&event),
    );
    Ok((StatusCode::CREATED, Json(show(state, saved).await?)))
}

patch_body! {
    pub struct IncidentUpdate {
        title: String,
        description: String,
        /// LOW, MEDIUM, HIGH or CRITICAL.
        severity: String,
        /// OPEN, IN_PROGRESS, RESOLVED, FALSE_POSITIVE or CANCELED; a closed incident is
        /// reopened (OPEN or IN_PROGRESS) before it is closed otherwise (409).
        status: String,
        chatwoot_conversation_id: i64,
        /// Changing it moves `due_at` to creation + the new SLA (unless `due_at` is given).
        sla_minutes: i32,
        due_at: FlexibleDateTime as DateTime<Utc>,
        tenant: String,
        kind: String,
        assigned_to_user_id: i64,
        assigned_group_id: i64,
        /// Replaces the assignees.
        assignee_ids: Vec<i64>,
    }
}

/// Changes an incident. Status, assignment and SLA changes add SYSTEM messages.
#[utoipa::path(
    patch,
    path = "/incidents/{incident_id}",
    operation_id = "incidents_update",
    tag = "incidents",
    summary = "Change an incident (partial)",
    params(("incident_id" = i64, Path, description = "Incident id")),
    request_body = IncidentUpdate,
    responses((status = 200, body = IncidentRead), NotFound, Conflict, Invalid),
)]
async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IncidentUpdate>,
) -> ApiResult<Json<IncidentRead>> {
    let old: Incident = find(&state, id).await?;
    let mut new = old.clone();
    let mut checks = Checks::new();
    for (field, value) in [
        ("title", &body.title),
        ("severity", &body.severity),
        ("status", &body.status),
        ("kind", &body.kind),
    ] {
        checks.not_null(field, value);
    }
    body.title
        .map(|t| t.trim().to_string())
        .apply_to(&mut new.title);
    body.description
        .trimmed()
        .apply_to_option(&mut new.description);
    body.severity
        .map(|s| s.trim().to_uppercase())
        .apply_to(&mut new.severity);
    body.status
        .map(|s| s.trim().to_uppercase())
        .apply_to(&mut new.status);
    body.chatwoot_conversation_id
        .apply_to_option(&mut new.chatwoot_conversation_id);
    body.sla_minutes
        .clone()
        .apply_to_option(&mut new.sla_minutes);
    body.due_at
        .clone()
        .map(|d| d.0)
        .apply_to_option(&mut new.due_at);
    body.tenant.trimmed().apply_to_option(&mut new.tenant);
    body.kind
        .map(|k| k.trim().to_string())
        .apply_to(&mut new.kind);
    body.assigned_to_user_id
        .apply_to_option(&mut new.assigned_to_user_id);
    body.assigned_group_id
        .apply_to_option(&mut new.assigned_group_id);
    checks.text("title", &new.title, 255);
    checks.one_of("severity", &new.severity, SEVERITIES);
    checks.one_of("status", &new.status, STATUSES);
    checks.text("kind", &new.kind, 64);
    checks.max_len("tenant", new.tenant.as_deref(), 64);
    check_sla(&mut checks, body.sla_minutes.value().copied());
    checks.finish()?;
    if let Some(why) = refused_transition(&old.status, &new.status) {
        return Err(ApiError::Conflict(why));
    }
    let assignee_ids = match body.assignee_ids {
        Patch::Value(ids) => Some(dedup(ids)),
        Patch::Null => Some(Vec::new()),
        Patch::Absent => None,
    };
    let assignee_changed = new.assigned_to_user_id != old.assigned_to_user_id;
    let group_changed = new.assigned_group_id != old.assigned_group_id;
    check_assignment(
        &state,
        new.assigned_to_user_id.filter(|_| assignee_changed),
        new.assigned_group_id.filter(|_| group_changed),
        assignee_ids.as_deref().unwrap_or(&[]),
    )
    .await?;
    let old_assignees: Vec<i64> = state
        .store
        .incident_assignees(id, id)
        .await?
        .iter()
        .map(|a| a.id)
        .collect();
    let assignees_changed = assignee_ids.as_ref().is_some_and(|ids| {
        let (mut a, mut b) = (ids.clone(), old_assignees.clone());
        a.sort_unstable();
        b.sort_unstable();
        a != b
    });
    // Closing stamps `closed_at`; reopening clears it.
    if is_active(&new.status) {
        new.closed_at = None;
    } else if new.closed_at.is_none() {
        new.closed_at = Some(now());
    }
    let sla_changed = new.sla_minutes != old.sla_minutes;
    if sla_changed
        && body.due_at.is_absent()
        && let Some(sla) = new.sla_minutes
    {
        new.due_at = Some(due_at(new.created_at, sla));
    }
    let by = user_name(&user);
    let mut notes = Vec::new();
    let status_changed = new.status != old.status;
    let assignment_changed = assignee_changed || group_changed || assignees_changed;
    if status_changed {
        notes.push(status_message(&old.status, &new.status, &by));
    }
    if assignment_changed {
        let text = assignment_text(&state, &new, assignee_ids.as_deref()).await?;
        notes.push(system_message(
            SYSTEM_AUTHOR,
            format!("Atribuição alterada por {by}: {text}."),
        ));
    }
    if sla_changed || new.due_at != old.due_at {
        let sla = new
            .sla_minutes
            .map_or_else(|| "sem SLA".to_string(), |m| format!("{m} min"));
        let due = new
            .due_at
            .map_or_else(|| "sem prazo".to_string(), |d| d.to_rfc3339());
        notes.push(system_message(
            SYSTEM_AUTHOR,
            format!("SLA alterado por {by}: {sla}, prazo {due}."),
        ));
    }
    let (saved, messages) = state
        .store
        .save_incident(&new, assignee_ids.as_deref(), &notes)
        .await?;
    if status_changed {
        let event = if is_active(&saved.status) && !is_active(&old.status) {
            EventType::IncidentReopened
        } else {
            EventType::IncidentStatusChanged
        };
        let payload = payload::incident(&saved, Some(&old.status));
        record(&state, &user, Change::new(event, saved.id, payload)).await?;
    }
    if assignment_changed {
        let payload = payload::incident(&saved, None);
        let change = Change::new(EventType::IncidentAssigned, saved.id, payload);
        record(&state, &user, change).await?;
    }
    if !(status_changed || assignment_changed) {
        let payload = payload::incident(&saved, None);
        let change = Change::new(EventType::IncidentUpdated, saved.id, payload);
        record(&state, &user, change).await?;
    }
    announce_messages(&state, &user, &messages).await?;
    Ok(Json(show(&state, saved).await?))
}

/// Who the incident is assigned to, in words.
async fn assignment_text(
    state: &AppState,
    i: &Incident,
    assignee_ids: Option<&[i64]>,
) -> ApiResult<String> {
    let mut parts = Vec::new();
    if let Some(id) = i.assigned_to_user_id {
        let name = state
            .store
            .user_by_id(id)
            .await
            .map_or_else(|_| format!("#{id}"), |u| user_name(&u));
        parts.push(format!("responsável {name}"));
    }
    if let Some(id) = i.assigned_group_id {
        let name = state
            .store
            .fetch_by_id::<SupportGroup>(id)
            .await
            .map_or_else(|_| format!("#{id}"), |g| g.name);
        parts.push(format!("grupo {name}"));
    }
    if let Some(ids) = assignee_ids.filter(|ids| !ids.is_empty()) {
        let mut names = Vec::new();
        for id in ids {
            names.push(
                state
                    .store
                    .user_by_id(*id)
                    .await
                    .map_or_else(|_| format!("#{id}"), |u| user_name(&u)),
            );
        }
        parts.push(format!("participantes {}", names.join(", ")));
    }
    Ok(if parts.is_empty() {
        "ninguém".into()
    } else {
        parts.join("; ")
    })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only messages with a larger id (polling).
    after_id: Option<i64>,
    /// 1 to 500.
    limit: Option<i64>,
}

/// An incident's timeline, oldest first; `after_id` gives only what is newer.
#[utoipa::path(
    get,
    path = "/incidents/{incident_id}/messages",
    operation_id = "incidents_messages",
    tag = "incidents",
    summary = "An incident's messages, by id (after_id: only newer ones)",
    params(("incident_id" = i64, Path, description = "Incident id"), MessagesQuery),
    responses((status = 200, body = Vec<IncidentMessage>), NotFound, Invalid),
)]
async fn messages(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> ApiResult<Json<Vec<IncidentMessage>>> {
    list_messages(&state, id, q, 500).await
}

/// The original's polling path (`incidents` twice), kept for its clients.
#[utoipa::path(
    get,
    path = "/incidents/incidents/{incident_id}/messages",
    operation_id = "incidents_messages_poll",
    tag = "incidents",
    summary = "An incident's messages after after_id (the original's polling path)",
    params(("incident_id" = i64, Path, description = "Incident id"), MessagesQuery),
    responses((status = 200, body = Vec<IncidentMessage>), NotFound, Invalid),
)]
async fn poll_messages(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<MessagesQuery>,
) -> ApiResult<Json<Vec<IncidentMessage>>> {
    list_messages(&state, id, q, 200).await
}

async fn list_messages(
    state: &AppState,
    id: i64,
    q: MessagesQuery,
    default_limit: i64,
) -> ApiResult<Json<Vec<IncidentMessage>>> {
    let limit = q.limit.unwrap_or(default_limit);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid(FieldError::new(
            "less_than_equal",
            &["query", "limit"],
            "limit must be between 1 and 500",
        )));
    }
    find::<Incident>(state, id).await?;
    let messages = state
        .store
        .incident_messages(id, q.after_id.unwrap_or(0), limit)
        .await?;
    Ok(Json(messages))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IncidentMessageCreate {
    /// TEXT (default) or COMMENT; SYSTEM and MEDIA are the appliance's own.
    message_type: Option<String>,
    content: String,
    /// Ignored: the author is the caller.
    #[allow(dead_code)]
    author_name: Option<String>,
    media_type: Option<String>,
    /// An http(s) URL or a path of this appliance.
    media_url: Option<String>,
    media_thumb_url: Option<String>,
    media_name: Option<String>,
}

/// Adds a message to an incident's timeline, written by the caller.
#[utoipa::path(
    post,
    path = "/incidents/{incident_id}/messages",
    operation_id = "incidents_post_message",
    tag = "incidents",
    summary = "Post a message (author: the caller)",
    params(("incident_id" = i64, Path, description = "Incident id")),
    request_body = IncidentMessageCreate,
    responses((status = 201, body = IncidentMessage), NotFound, Invalid),
)]
async fn post_message(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IncidentMessageCreate>,
) -> ApiResult<(StatusCode, Json<IncidentMessage>)> {
    find::<Incident>(&state, id).await?;
    let mut checks = Checks::new();
    let message_type = upper(body.message_type, "TEXT");
    checks.one_of("message_type", &message_type, POSTED_MESSAGE_TYPES);
    checks.text("content", &body.content, 8000);
    let media_url = super::changes::clean(body.media_url);
    let media_thumb_url = super::changes::clean(body.media_thumb_url);
    for (field, url) in [
        ("media_url", &media_url),
        ("media_thumb_url", &media_thumb_url),
    ] {
        checks.max_len(field, url.as_deref(), 1024);
        if url.as_deref().is_some_and(|u| {
            !(u.starts_with("https://") || u.starts_with("http://") || u.starts_with('/'))
        }) {
            checks.push(
                field,
                "url",
                "must be an http(s) URL or a path of this appliance",
            );
        }
    }
    let media_type = super::changes::clean(body.media_type).map(|t| t.to_uppercase());
    checks.max_len("media_type", media_type.as_deref(), 32);
    let media_name = super::changes::clean(body.media_name);
    checks.max_len("media_name", media_name.as_deref(), 255);
    checks.finish()?;
    let message = NewMessage {
        message_type,
        author_name: Some(user_name(&user)),
        content: body.content.trim().to_string(),
        media_type,
        media_url,
        media_thumb_url,
        media_name,
    };
    let stored = state.store.add_incident_message(id, &message).await?;
    announce_messages(&state, &user, std::slice::from_ref(&stored)).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// The multipart body of an attachment.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AttachmentUpload {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The message's text (default `Arquivo anexado: <name>`).
    description: Option<String>,
}

/// Attaches a file (PNG, JPEG, GIF or WebP image, PDF, plain text, MP4 or WebM video,
/// recognised from its bytes) as a MEDIA message.
#[utoipa::path(
    post,
    path = "/incidents/{incident_id}/attachments",
    operation_id = "incidents_attach",
    tag = "incidents",
    summary = "Attach a file (multipart field `file`, optional `description`)",
    params(("incident_id" = i64, Path, description = "Incident id")),
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = IncidentMessage),
        NotFound, Invalid,
        (status = 413, description = "Larger than media.max_upload_bytes", body = ErrorBody),
        (status = 507, description = "The incident's or the appliance's media quota is used up", body = ErrorBody),
    ),
)]
async fn attach(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<IncidentMessage>)> {
    find::<Incident>(&state, id).await?;
    let (mut file, mut description) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                let name = field.file_name().map(str::to_string);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((name, bytes));
            }
            Some("description") => {
                description = Some(field.text().await.map_err(multipart_error)?);
            }
            _ => {}
        }
    }
    let Some((name, bytes)) = file else {
        return Err(ApiError::invalid(FieldError::body(
            "file",
            "missing",
            "Field required",
        )));
    };
    if bytes.len() > state.config.media.max_upload_bytes {
        return Err(ApiError::PayloadTooLarge);
    }
    let description = super::changes::clean(description);
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 8000)
    {
        return Err(ApiError::invalid(FieldError::body(
            "description",
            "string_too_long",
            "must have at most 8000 characters",
        )));
    }
    let used = state.store.incident_attachment_bytes(id).await?;
    let stored = crate::media::store_incident_file(
        &state.config,
        id,
        &bytes,
        u64::try_from(used).unwrap_or(0),
    )
    .await
    .inspect_err(|err| {
        if matches!(err, crate::media::MediaError::QuotaUsed { .. }) {
            state.metrics.http_refused(HttpRefusal::MediaQuota);
        }
    })?;
    // The name the user gave, for display only: no path, no control characters.
    let file_name = name
        .as_deref()
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|n| !n.trim().is_empty())
        .map_or_else(
            || "upload.bin".to_string(),
            |n| incidents::truncate(&n, 255),
        );
    let message = NewMessage {
        message_type: incidents::MEDIA.into(),
        author_name: Some(user_name(&user)),
        content: description.unwrap_or_else(|| format!("Arquivo anexado: {file_name}")),
        media_type: Some(stored.kind.into()),
        media_url: Some(stored.url),
        media_thumb_url: None,
        media_name: Some(file_name.clone()),
    };
    let saved = state
        .store
        .add_incident_attachment(
            id,
            &file_name,
            stored.content_type,
            bytes.len() as i64,
            &stored.storage_path,
            &message,
        )
        .await?;
    announce_messages(&state, &user, std::slice::from_ref(&saved)).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(format!("invalid multipart body: {}", err.body_text()))
    }
}

/// Records INCIDENT_CREATED and the messages that came with the incident.
async fn announce_created(
    state: &AppState,
    user: &User,
    incident: &Incident,
    messages: &[IncidentMessage],
) -> ApiResult<()> {
    let payload = payload::incident(incident, None);
    let change = Change::new(EventType::IncidentCreated, incident.id, payload);
    record(state, user, change).await?;
    announce_messages(state, user, messages).await
}

/// Records INCIDENT_MESSAGE_CREATED for each message.
async fn announce_messages(
    state: &AppState,
    user: &User,
    messages: &[IncidentMessage],
) -> ApiResult<()> {
    for m in messages {
        let source = if m.message_type == incidents::SYSTEM {
            "system"
        } else {
            "api"
        };
        let payload = payload::incident_message(m, source);
        let change = Change::new(EventType::IncidentMessageCreated, m.id, payload);
        record(state, user, change).await?;
    }
    Ok(())
}

/// An optional text upper-cased and trimmed, or `default`.
fn upper(value: Option<String>, default: &str) -> String {
    value
        .map(|v| v.trim().to_uppercase())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn check_sla(checks: &mut Checks, sla: Option<i32>) {
    if sla.is_some_and(|m| !(1..=MAX_SLA_MINUTES).contains(&m)) {
        checks.push(
            "sla_minutes",
            "range",
            format!("must be between 1 and {MAX_SLA_MINUTES} minutes"),
        );
    }
}

/// The SLA given, else the support group's default, else the severity's.
async fn sla_of(
    state: &AppState,
    given: Option<i32>,
    group: Option<i64>,
    severity: &str,
) -> ApiResult<i32> {
    if let Some(sla) = given {
        return Ok(sla);
    }
    let group_default = match group {
        Some(id) => {
            state
                .store
                .fetch_by_id::<SupportGroup>(id)
                .await?
                .default_sla_minutes
        }
        None => None,
    };
    Ok(group_default.unwrap_or_else(|| default_sla_minutes(severity)))
}

fn reference(field: &str, msg: String) -> ApiError {
    ApiError::invalid(FieldError::body(field, "foreign_key", msg))
}

/// 422 naming the field unless each user exists and is active and the group exists and is
/// active.
async fn check_assignment(
    state: &AppState,
    user: Option<i64>,
    group: Option<i64>,
    assignees: &[i64],
) -> ApiResult<()> {
    let users = user
        .map(|u| ("assigned_to_user_id", u))
        .into_iter()
        .chain(assignees.iter().map(|u| ("assignee_ids", *u)));
    for (field, id) in users {
        match state.store.user_by_id(id).await {
            Ok(u) if u.is_active => {}
            Ok(_) => return Err(reference(field, format!("user {id} is inactive"))),
            Err(StoreError::NotFound) => {
                return Err(reference(field, format!("user {id} does not exist")));
            }
            Err(err) => return Err(err.into()),
        }
    }
    if let Some(id) = group {
        match state.store.fetch_by_id::<SupportGroup>(id).await {
            Ok(g) if g.is_active => {}
            Ok(_) => {
                return Err(reference(
                    "assigned_group_id",
                    format!("support group {id} is inactive"),
                ));
            }
            Err(StoreError::NotFound) => {
                return Err(reference(
                    "assigned_group_id",
                    format!("support group {id} does not exist"),
                ));
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

fn dedup(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// How messages name a user: the full name, else the e-mail.
fn user_name(user: &User) -> String {
    if user.full_name.trim().is_empty() {
        user.email.clone()
    } else {
        user.full_name.clone()
    }
}
