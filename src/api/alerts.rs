//! `/alert-rules` (what the alert engine watches for) and `/alert-events` (what it found,
//! with the operators' acknowledge and resolve steps). The engine hears of rule changes
//! through the event bus (`ALERT_RULE_*`), at once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, record, require};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page, parse_json};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::resource::{Events, Resource, Tracked, find, record_saved, resource_routes};
use super::validate::{Checks, FlexibleDateTime, Patch};
use crate::alerts::{RuleKind, Schedule};
use crate::events::{EventType, payload};
use crate::store::alerts::{AlertEvent, AlertRule, EventFilter, RuleFilter, Step};
use crate::store::devices::Device;
use crate::store::groups::SupportGroup;
use crate::store::people::{Person, PersonGroup};
use crate::store::users::User;
use crate::store::zones::Zone;

const SEVERITIES: &[&str] = &["LOW", "MEDIUM", "HIGH", "CRITICAL"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(read, update_rule, remove))
        .routes(routes!(list_events))
        .routes(routes!(read_event))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertRuleRead {
    id: i64,
    name: String,
    description: Option<String>,
    rule_type: String,
    group_id: Option<i64>,
    device_id: Option<i64>,
    max_dwell_seconds: Option<i32>,
    is_active: bool,
    create_incident: bool,
    incident_kind: Option<String>,
    incident_severity: String,
    incident_title_template: Option<String>,
    incident_description_template: Option<String>,
    incident_sla_minutes: Option<i32>,
    incident_assigned_group_id: Option<i64>,
    incident_assigned_to_user_id: Option<i64>,
    incident_auto_close_on_end: bool,
    /// When the rule is armed (absent: always), in the site's time zone.
    schedule: Option<Schedule>,
    /// After a session of the rule ends, none opens again on the same tag or device for
    /// this long.
    cooldown_seconds: Option<i32>,
    /// Why the engine switched the rule off (its gateway was deleted, …).
    disabled_reason: Option<String>,
    /// The zone of a `ZONE_ENTER`, `ZONE_EXIT` or `ZONE_DWELL` rule.
    zone_id: Option<i64>,
    /// The one person a zone or `ABSENCE` rule applies to.
    person_id: Option<i64>,
    /// The limit of an `ABSENCE` rule.
    max_absence_seconds: Option<i32>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&AlertRule> for AlertRuleRead {
    fn from(r: &AlertRule) -> Self {
        AlertRuleRead {
            id: r.id,
            name: r.name.clone(),
            description: r.description.clone(),
            rule_type: r.rule_type.clone(),
            group_id: r.group_id,
            device_id: r.device_id,
            max_dwell_seconds: r.max_dwell_seconds,
            is_active: r.is_active,
            create_incident: r.create_incident,
            incident_kind: r.incident_kind.clone(),
            incident_severity: r.incident_severity.clone(),
            incident_title_template: r.incident_title_template.clone(),
            incident_description_template: r.incident_description_template.clone(),
            incident_sla_minutes: r.incident_sla_minutes,
            incident_assigned_group_id: r.incident_assigned_group_id,
            incident_assigned_to_user_id: r.incident_assigned_to_user_id,
            incident_auto_close_on_end: r.incident_auto_close_on_end,
            schedule: r
                .schedule
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok()),
            cooldown_seconds: r.cooldown_seconds,
            disabled_reason: r.disabled_reason.clone(),
            zone_id: r.zone_id,
            person_id: r.person_id,
            max_absence_seconds: r.max_absence_seconds,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Resource for AlertRule {
    const NOT_FOUND: &'static str = "Alert rule not found";
    type Read = AlertRuleRead;

    async fn show(_: &AppState, rules: Vec<AlertRule>) -> ApiResult<Vec<AlertRuleRead>> {
        Ok(rules.iter().map(AlertRuleRead::from).collect())
    }
}

impl Tracked for AlertRule {
    const EVENTS: Events = Events::new(
        EventType::AlertRuleCreated,
        EventType::AlertRuleUpdated,
        EventType::AlertRuleDeleted,
    );

    fn payload(&self, event: EventType) -> Value {
        payload::alert_rule(self, event)
    }
}

resource_routes! {
    AlertRule => AlertRuleRead, "alerts", "/alert-rules", "/alert-rules/{rule_id}",
        ("rule_id", "Rule id");
    read(AuthUser) "alert_rules_read", "Read an alert rule", [NotFound];
    /// Its alert events are kept (without the rule); its open ones are closed.
    remove(AuthUser) "alert_rules_remove", "Delete an alert rule", [Deleted, NotFound];
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct AlertRuleBody {
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    #[schema(value_type = Option<String>)]
    description: Patch<String>,
    /// `FORBIDDEN_SECTOR`, `DWELL_TIME`, `GATEWAY_OFFLINE`, `GATEWAY_ONLINE`,
    /// `CAMERA_OFFLINE`, `CAMERA_ONLINE`, `ZONE_ENTER`, `ZONE_EXIT`, `ZONE_DWELL`, `ABSENCE`.
    #[schema(value_type = Option<String>)]
    rule_type: Patch<String>,
    /// A person group: the rule applies to its members only (tag, zone and absence rules).
    #[schema(value_type = Option<i64>)]
    group_id: Patch<i64>,
    /// The gateway (tag rules, required) or the device (status rules; absent: every
    /// gateway or camera).
    #[schema(value_type = Option<i64>)]
    device_id: Patch<i64>,
    /// Required for `DWELL_TIME` and `ZONE_DWELL`.
    #[schema(value_type = Option<i32>)]
    max_dwell_seconds: Patch<i32>,
    /// The zone watched: required for `ZONE_ENTER`, `ZONE_EXIT`, `ZONE_DWELL`.
    #[schema(value_type = Option<i64>)]
    zone_id: Patch<i64>,
    /// One person the rule applies to (zone and absence rules).
    #[schema(value_type = Option<i64>)]
    person_id: Patch<i64>,
    /// Required for `ABSENCE`: how long a person may go unseen.
    #[schema(value_type = Option<i32>)]
    max_absence_seconds: Patch<i32>,
    #[schema(value_type = Option<bool>)]
    is_active: Patch<bool>,
    #[schema(value_type = Option<bool>)]
    create_incident: Patch<bool>,
    #[schema(value_type = Option<String>)]
    incident_kind: Patch<String>,
    /// `LOW`, `MEDIUM` (default), `HIGH`, `CRITICAL`.
    #[schema(value_type = Option<String>)]
    incident_severity: Patch<String>,
    #[schema(value_type = Option<String>)]
    incident_title_template: Patch<String>,
    #[schema(value_type = Option<String>)]
    incident_description_template: Patch<String>,
    #[schema(value_type = Option<i32>)]
    incident_sla_minutes: Patch<i32>,
    #[schema(value_type = Option<i64>)]
    incident_assigned_group_id: Patch<i64>,
    #[schema(value_type = Option<i64>)]
    incident_assigned_to_user_id: Patch<i64>,
    #[schema(value_type = Option<bool>)]
    incident_auto_close_on_end: Patch<bool>,
    #[schema(value_type = Option<Schedule>)]
    schedule: Patch<Schedule>,
    #[schema(value_type = Option<i32>)]
    cooldown_seconds: Patch<i32>,
}

/// Applies `body` to `r`, checks the result and its references; the rule as it would be
/// stored.
async fn merged(
    state: &AppState,
    mut r: AlertRule,
    body: AlertRuleBody,
    creating: bool,
) -> ApiResult<AlertRule> {
    let mut checks = Checks::new();
    for (field, absent) in [
        ("name", body.name.is_absent()),
        ("rule_type", body.rule_type.is_absent()),
    ] {
        if creating && absent {
            checks.push(field, "missing", "Field required");
        }
    }
    checks.not_null("name", &body.name);
    checks.not_null("rule_type", &body.rule_type);
    checks.not_null("is_active", &body.is_active);
    checks.not_null("create_incident", &body.create_incident);
    checks.not_null("incident_severity", &body.incident_severity);
    checks.not_null(
        "incident_auto_close_on_end",
        &body.incident_auto_close_on_end,
    );
    body.name
        .map(|v| v.trim().to_string())
        .apply_to(&mut r.name);
    body.description
        .trimmed()
        .apply_to_option(&mut r.description);
    body.rule_type
        .map(|v| v.trim().to_ascii_uppercase())
        .apply_to(&mut r.rule_type);
    body.group_id.apply_to_option(&mut r.group_id);
    body.device_id.apply_to_option(&mut r.device_id);
    body.max_dwell_seconds
        .apply_to_option(&mut r.max_dwell_seconds);
    body.zone_id.apply_to_option(&mut r.zone_id);
    body.person_id.apply_to_option(&mut r.person_id);
    body.max_absence_seconds
        .apply_to_option(&mut r.max_absence_seconds);
    body.is_active.apply_to(&mut r.is_active);
    body.create_incident.apply_to(&mut r.create_incident);
    body.incident_kind
        .trimmed()
        .apply_to_option(&mut r.incident_kind);
    body.incident_severity
        .map(|v| v.trim().to_ascii_uppercase())
        .apply_to(&mut r.incident_severity);
    body.incident_title_template
        .trimmed()
        .apply_to_option(&mut r.incident_title_template);
    body.incident_description_template
        .trimmed()
        .apply_to_option(&mut r.incident_description_template);
    body.incident_sla_minutes
        .apply_to_option(&mut r.incident_sla_minutes);
    body.incident_assigned_group_id
        .apply_to_option(&mut r.incident_assigned_group_id);
    body.incident_assigned_to_user_id
        .apply_to_option(&mut r.incident_assigned_to_user_id);
    body.incident_auto_close_on_end
        .apply_to(&mut r.incident_auto_close_on_end);
    body.cooldown_seconds
        .apply_to_option(&mut r.cooldown_seconds);
    if let Patch::Value(schedule) = &body.schedule {
        for (field, msg) in schedule.problems() {
            checks.push(&field, "value_error", msg);
        }
    }
    match body.schedule {
        Patch::Value(s) => {
            r.schedule = Some(serde_json::to_string(&s.normalised()).unwrap_or_default());
        }
        Patch::Null => r.schedule = None,
        Patch::Absent => {}
    }
    if checks.has_errors() {
        // Missing or null required fields: the rest would only repeat them.
        return checks.finish().map(|()| r);
    }
    checks.text("name", &r.name, 255);
    checks.max_len("description", r.description.as_deref(), 1024);
    checks.max_len("incident_kind", r.incident_kind.as_deref(), 64);
    checks.max_len(
        "incident_title_template",
        r.incident_title_template.as_deref(),
        255,
    );
    checks.one_of("incident_severity", &r.incident_severity, SEVERITIES);
    for (field, value) in [
        ("max_dwell_seconds", r.max_dwell_seconds),
        ("incident_sla_minutes", r.incident_sla_minutes),
        ("cooldown_seconds", r.cooldown_seconds),
        ("max_absence_seconds", r.max_absence_seconds),
    ] {
        if value.is_some_and(|v| v < 0) {
            checks.push(field, "greater_than_equal", "must be 0 or more");
        }
    }
    let kind = RuleKind::parse(&r.rule_type);
    match kind {
        None => checks.push(
            "rule_type",
            "enum",
            format!("must be one of: {}", RuleKind::names().join(", ")),
        ),
        Some(kind) => {
            if kind.needs_device() && r.device_id.is_none() {
                checks.push(
                    "device_id",
                    "missing",
                    format!("{} needs the gateway it watches", kind.as_str()),
                );
            }
            if kind.dwells() && r.max_dwell_seconds.is_none() {
                checks.push(
                    "max_dwell_seconds",
                    "missing",
                    format!("{} needs its limit in seconds", kind.as_str()),
                );
            }
            if kind.watches_zone() && r.zone_id.is_none() {
                checks.push(
                    "zone_id",
                    "missing",
                    format!("{} needs the zone it watches", kind.as_str()),
                );
            }
            if !kind.watches_zone() && r.zone_id.is_some() {
                checks.push("zone_id", "value_error", "only zone rules watch a zone");
            }
            if kind == RuleKind::Absence {
                if r.max_absence_seconds.is_none_or(|s| s < 1) {
                    checks.push(
                        "max_absence_seconds",
                        "missing",
                        "ABSENCE needs its limit in seconds (1 or more)",
                    );
                }
                if r.person_id.is_none() && r.group_id.is_none() {
                    checks.push(
                        "person_id",
                        "missing",
                        "ABSENCE watches one person (person_id) or a group (group_id)",
                    );
                }
            }
            if !kind.watches_people() {
                for (field, set) in [
                    ("group_id", r.group_id.is_some()),
                    ("person_id", r.person_id.is_some()),
                ] {
                    if set {
                        checks.push(
                            field,
                            "value_error",
                            "only tag, zone and ABSENCE rules apply to people",
                        );
                    }
                }
            }
        }
    }
    checks.finish()?;
    require::<PersonGroup>(state, "group_id", r.group_id).await?;
    require::<Person>(state, "person_id", r.person_id).await?;
    require::<Zone>(state, "zone_id", r.zone_id).await?;
    require::<SupportGroup>(
        state,
        "incident_assigned_group_id",
        r.incident_assigned_group_id,
    )
    .await?;
    require::<User>(
        state,
        "incident_assigned_to_user_id",
        r.incident_assigned_to_user_id,
    )
    .await?;
    if let (Some(kind), Some(device_id)) = (kind, r.device_id) {
        let problem = match state.store.fetch_by_id::<Device>(device_id).await {
            Err(crate::store::StoreError::NotFound) => {
                Some(format!("device_id {device_id} does not exist"))
            }
            Err(err) => return Err(err.into()),
            Ok(d) if d.device_type != kind.device_type() => Some(format!(
                "{} watches a {}; device {device_id} is a {}",
                kind.as_str(),
                kind.device_type(),
                d.device_type
            )),
            Ok(_) => None,
        };
        if let Some(msg) = problem {
            return Err(ApiError::invalid(FieldError::body(
                "device_id",
                "foreign_key",
                msg,
            )));
        }
    }
    // Saved by someone, the rule is theirs again: the engine's reason no longer holds.
    if r.is_active {
        r.disabled_reason = None;
    }
    Ok(r)
}

async fn save(
    state: &AppState,
    user: &User,
    r: AlertRule,
    body: AlertRuleBody,
    creating: bool,
) -> ApiResult<AlertRuleRead> {
    let r = merged(state, r, body, creating).await?;
    let saved = state.store.save_alert_rule(&r).await?;
    record_saved(state, user, &saved, creating).await?;
    Ok(AlertRuleRead::from(&saved))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RuleQuery {
    skip: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
    rule_type: Option<String>,
    group_id: Option<i64>,
    device_id: Option<i64>,
    is_active: Option<bool>,
    create_incident: Option<bool>,
}

#[utoipa::path(
    get,
    path = "/alert-rules",
    operation_id = "alert_rules_list",
    tag = "alerts",
    summary = "List alert rules, by id (filters applied before paging)",
    params(RuleQuery),
    responses((status = 200, body = Vec<AlertRuleRead>), Invalid),
)]
async fn list_rules(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<RuleQuery>,
) -> ApiResult<Json<Vec<AlertRuleRead>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let filter = RuleFilter {
        rule_type: q.rule_type.filter(|t| !t.is_empty()),
        group_id: q.group_id,
        device_id: q.device_id,
        is_active: q.is_active,
        create_incident: q.create_incident,
    };
    let rules = state
        .store
        .list_alert_rules(&filter, page.skip, page.limit)
        .await?;
    Ok(Json(rules.iter().map(AlertRuleRead::from).collect()))
}

#[utoipa::path(
    post,
    path = "/alert-rules",
    operation_id = "alert_rules_create",
    tag = "alerts",
    summary = "Create an alert rule",
    request_body = AlertRuleBody,
    responses((status = 201, body = AlertRuleRead), Invalid),
)]
async fn create_rule(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<AlertRuleBody>,
) -> ApiResult<(StatusCode, Json<AlertRuleRead>)> {
    let rule = AlertRule {
        is_active: true,
        incident_severity: "MEDIUM".into(),
        ..AlertRule::default()
    };
    let saved = save(&state, &user, rule, body, true).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(
    put,
    path = "/alert-rules/{rule_id}",
    operation_id = "alert_rules_update",
    tag = "alerts",
    summary = "Update an alert rule (partial)",
    params(("rule_id" = i64, Path, description = "Rule id")),
    request_body = AlertRuleBody,
    responses((status = 200, body = AlertRuleRead), NotFound, Invalid),
)]
async fn update_rule(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AlertRuleBody>,
) -> ApiResult<Json<AlertRuleRead>> {
    let rule = find::<AlertRule>(&state, id).await?;
    Ok(Json(save(&state, &user, rule, body, false).await?))
}

// Alert events.

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertEventRead {
    id: i64,
    rule_id: Option<i64>,
    event_type: String,
    person_id: Option<i64>,
    tag_id: Option<i64>,
    device_id: Option<i64>,
    floor_plan_id: Option<i64>,
    floor_id: Option<i64>,
    building_id: Option<i64>,
    group_id: Option<i64>,
    incident_id: Option<i64>,
    first_collection_log_id: Option<i64>,
    last_collection_log_id: Option<i64>,
    message: Option<String>,
    /// A JSON document as a string, as the original served it.
    payload: Option<String>,
    started_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    is_open: bool,
    /// Why the session ended (`moved_to_other_device`, `stale_ttl_30s`,
    /// `gateway_back_online`, `rule_deleted`, …).
    close_reason: Option<String>,
    /// `open`, `acknowledged` or `resolved`: the operators' step, apart from whether the
    /// session is still going on (`is_open`).
    status: &'static str,
    acknowledged_by: Option<i64>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_note: Option<String>,
    resolved_by: Option<i64>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_note: Option<String>,
}

impl From<&AlertEvent> for AlertEventRead {
    fn from(e: &AlertEvent) -> Self {
        let status = if e.resolved_at.is_some() {
            "resolved"
        } else if e.acknowledged_at.is_some() {
            "acknowledged"
        } else {
            "open"
        };
        AlertEventRead {
            id: e.id,
            rule_id: e.rule_id,
            event_type: e.event_type.clone(),
            person_id: e.person_id,
            tag_id: e.tag_id,
            device_id: e.device_id,
            floor_plan_id: e.floor_plan_id,
            floor_id: e.floor_id,
            building_id: e.building_id,
            group_id: e.group_id,
            incident_id: e.incident_id,
            first_collection_log_id: e.first_collection_log_id,
            last_collection_log_id: e.last_collection_log_id,
            message: e.message.clone(),
            payload: e.payload.clone(),
            started_at: e.started_at,
            last_seen_at: e.last_seen_at,
            ended_at: e.ended_at,
            is_open: e.is_open,
            close_reason: e.close_reason.clone(),
            status,
            acknowledged_by: e.acknowledged_by,
            acknowledged_at: e.acknowledged_at,
            acknowledged_note: e.acknowledged_note.clone(),
            resolved_by: e.resolved_by,
            resolved_at: e.resolved_at,
            resolved_note: e.resolved_note.clone(),
        }
    }
}

impl Resource for AlertEvent {
    const NOT_FOUND: &'static str = "Alert event not found";
    type Read = AlertEventRead;

    async fn show(_: &AppState, events: Vec<AlertEvent>) -> ApiResult<Vec<AlertEventRead>> {
        Ok(events.iter().map(AlertEventRead::from).collect())
    }
}

#[utoipa::path(
    get,
    path = "/alert-events/{event_id}",
    operation_id = "alert_events_read",
    tag = "alerts",
    summary = "Read an alert event",
    params(("event_id" = i64, Path, description = "Alert event id")),
    responses((status = 200, body = AlertEventRead), NotFound),
)]
async fn read_event(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AlertEventRead>> {
    super::resource::read::<AlertEvent>(&state, id)
        .await
        .map(Json)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventQuery {
    skip: Option<i64>,
    /// At most 1000; default 20.
    limit: Option<i64>,
    rule_id: Option<i64>,
    /// Ignored when empty.
    event_type: Option<String>,
    person_id: Option<i64>,
    tag_id: Option<i64>,
    device_id: Option<i64>,
    /// Only sessions still going on (`true`) or ended (`false`).
    is_open: Option<bool>,
    /// Events that started at or after this time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    from_ts: Option<FlexibleDateTime>,
    /// Events that started before this time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    to_ts: Option<FlexibleDateTime>,
}

#[utoipa::path(
    get,
    path = "/alert-events",
    operation_id = "alert_events_list",
    tag = "alerts",
    summary = "List alert events, newest first",
    params(EventQuery),
    responses((status = 200, body = Vec<AlertEventRead>), Invalid),
)]
async fn list_events(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Vec<AlertEventRead>>> {
    let page = Page::from_query(q.skip, q.limit, 20)?;
    let filter = EventFilter {
        rule_id: q.rule_id,
        event_type: q.event_type.filter(|t| !t.is_empty()),
        person_id: q.person_id,
        tag_id: q.tag_id,
        device_id: q.device_id,
        is_open: q.is_open,
        from: q.from_ts.map(|t| t.0),
        to: q.to_ts.map(|t| t.0),
    };
    let events = state
        .store
        .list_alert_events(&filter, page.skip, page.limit)
        .await?;
    Ok(Json(events.iter().map(AlertEventRead::from).collect()))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct StepBody {
    /// What the operator saw or did (at most 1024 characters).
    note: Option<String>,
}

/// The body of an acknowledge or resolve, which may be empty.
fn step_body(body: &[u8]) -> ApiResult<StepBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(StepBody::default())
    } else {
        parse_json(body)
    }
}

async fn step(
    state: &AppState,
    user: &User,
    id: i64,
    step: Step,
    body: StepBody,
) -> ApiResult<Json<AlertEventRead>> {
    let note = body
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let mut checks = Checks::new();
    checks.max_len("note", note.as_deref(), 1024);
    checks.finish()?;
    let event = match state
        .store
        .step_alert_event(id, step, user.id, note.as_deref())
        .await
    {
        Ok(event) => event,
        Err(crate::store::StoreError::NotFound) => {
            return Err(ApiError::not_found(AlertEvent::NOT_FOUND));
        }
        Err(crate::store::StoreError::Conflict(_)) => {
            let current = find::<AlertEvent>(state, id).await?;
            let detail = if current.resolved_at.is_some() {
                "Alert event already resolved"
            } else {
                "Alert event already acknowledged"
            };
            return Err(ApiError::Conflict(detail.into()));
        }
        Err(err) => return Err(err.into()),
    };
    let action = match step {
        Step::Acknowledge => "acknowledge",
        Step::Resolve => "resolve",
    };
    let change = Change::new(EventType::AlertUpdated, id, payload::alert_event(&event));
    record(state, user, change.action(action)).await?;
    Ok(Json(AlertEventRead::from(&event)))
}

/// Acknowledges an alert event: who, when, with an optional note. 409 once acknowledged
/// or resolved.
#[utoipa::path(
    post,
    path = "/alert-events/{event_id}/ack",
    operation_id = "alert_events_ack",
    tag = "alerts",
    summary = "Acknowledge an alert event",
    params(("event_id" = i64, Path, description = "Alert event id")),
    request_body = StepBody,
    responses((status = 200, body = AlertEventRead), NotFound, Conflict, Invalid),
)]
async fn acknowledge(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    body: Bytes,
) -> ApiResult<Json<AlertEventRead>> {
    step(&state, &user, id, Step::Acknowledge, step_body(&body)?).await
}

/// Resolves an alert event (acknowledging it too when nobody had): who, when, with an
/// optional note. 409 once resolved.
#[utoipa::path(
    post,
    path = "/alert-events/{event_id}/resolve",
    operation_id = "alert_events_resolve",
    tag = "alerts",
    summary = "Resolve an alert event",
    params(("event_id" = i64, Path, description = "Alert event id")),
    request_body = StepBody,
    responses((status = 200, body = AlertEventRead), NotFound, Conflict, Invalid),
)]
async fn resolve(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    body: Bytes,
) -> ApiResult<Json<AlertEventRead>> {
    step(&state, &user, id, Step::Resolve, step_body(&body)?).await
}
