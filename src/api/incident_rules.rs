//! `/incident-rules`: which camera events open incidents, and how (any user). Every
//! enabled rule that matches an event applies ([`crate::incidents::service`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{clean, require};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{AuthUser, PageQuery};
use super::openapi::{Deleted, Invalid, NotFound};
use super::resource::{self, Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{IncidentRuleCreated, IncidentRuleDeleted, IncidentRuleUpdated};
use crate::events::{EventType, payload};
use crate::incidents::{CAMERA_TEMPLATE_FIELDS, SEVERITIES, template_problem};
use crate::store::StoreError;
use crate::store::devices::Device;
use crate::store::groups::{CameraGroup, SupportGroup};
use crate::store::incidents::IncidentRule;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IncidentRuleRead {
    id: i64,
    name: String,
    enabled: bool,
    analytic_type: Option<String>,
    device_id: Option<i64>,
    tenant: Option<String>,
    severity: String,
    camera_group_id: Option<i64>,
    /// Its camera group was deleted: the rule applies to no camera until it is given a
    /// scope again.
    orphaned: bool,
    title_template: Option<String>,
    description_template: Option<String>,
    assigned_to_user_id: Option<i64>,
    assigned_group_id: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Resource for IncidentRule {
    const NOT_FOUND: &'static str = "IncidentRule not found";
    type Read = IncidentRuleRead;

    async fn show(_: &AppState, rows: Vec<IncidentRule>) -> ApiResult<Vec<IncidentRuleRead>> {
        Ok(rows
            .into_iter()
            .map(|r| IncidentRuleRead {
                orphaned: r.camera_group_scoped && r.camera_group_id.is_none(),
                id: r.id,
                name: r.name,
                enabled: r.enabled,
                analytic_type: r.analytic_type,
                device_id: r.device_id,
                tenant: r.tenant,
                severity: r.severity,
                camera_group_id: r.camera_group_id,
                title_template: r.title_template,
                description_template: r.description_template,
                assigned_to_user_id: r.assigned_to_user_id,
                assigned_group_id: r.assigned_group_id,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
            .collect())
    }
}

impl Listed for IncidentRule {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<IncidentRule>> {
        resource::page(state, q).await
    }
}

impl Tracked for IncidentRule {
    const EVENTS: Events = Events::new(
        IncidentRuleCreated,
        IncidentRuleUpdated,
        IncidentRuleDeleted,
    );

    fn payload(&self, _: EventType) -> Value {
        payload::incident_rule(self)
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct IncidentRuleCreate {
    name: String,
    #[serde(default = "enabled")]
    enabled: bool,
    /// The camera analytic it reacts to (exact); none: any.
    analytic_type: Option<String>,
    device_id: Option<i64>,
    tenant: Option<String>,
    /// LOW, MEDIUM (default), HIGH or CRITICAL.
    severity: Option<String>,
    camera_group_id: Option<i64>,
    /// Fields: {analytic_type}, {camera_name}, {rule_name}, {device_id}, {device_code},
    /// {event_id}, {tenant}.
    title_template: Option<String>,
    description_template: Option<String>,
    assigned_to_user_id: Option<i64>,
    assigned_group_id: Option<i64>,
}

fn enabled() -> bool {
    true
}

patch_body! {
    pub struct IncidentRuleUpdate {
        name: String,
        enabled: bool,
        analytic_type: String,
        device_id: i64,
        tenant: String,
        severity: String,
        camera_group_id: i64,
        title_template: String,
        description_template: String,
        assigned_to_user_id: i64,
        assigned_group_id: i64,
    }
}

impl Editable for IncidentRule {
    type Create = IncidentRuleCreate;
    type Update = IncidentRuleUpdate;
    type Draft = IncidentRule;

    fn new(_: &AppState, body: IncidentRuleCreate, checks: &mut Checks) -> IncidentRule {
        let rule = IncidentRule {
            name: body.name.trim().to_string(),
            enabled: body.enabled,
            analytic_type: clean(body.analytic_type),
            device_id: body.device_id,
            tenant: clean(body.tenant),
            severity: body
                .severity
                .map(|s| s.trim().to_uppercase())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "MEDIUM".into()),
            camera_group_id: body.camera_group_id,
            title_template: clean(body.title_template),
            description_template: clean(body.description_template),
            assigned_to_user_id: body.assigned_to_user_id,
            assigned_group_id: body.assigned_group_id,
            ..IncidentRule::default()
        };
        check(checks, rule)
    }

    fn apply(
        _: &AppState,
        mut r: IncidentRule,
        body: IncidentRuleUpdate,
        checks: &mut Checks,
    ) -> IncidentRule {
        checks.not_null("name", &body.name);
        checks.not_null("enabled", &body.enabled);
        checks.not_null("severity", &body.severity);
        body.name
            .map(|n| n.trim().to_string())
            .apply_to(&mut r.name);
        body.enabled.apply_to(&mut r.enabled);
        body.analytic_type
            .trimmed()
            .apply_to_option(&mut r.analytic_type);
        body.device_id.apply_to_option(&mut r.device_id);
        body.tenant.trimmed().apply_to_option(&mut r.tenant);
        body.severity
            .map(|s| s.trim().to_uppercase())
            .apply_to(&mut r.severity);
        body.camera_group_id.apply_to_option(&mut r.camera_group_id);
        body.title_template
            .trimmed()
            .apply_to_option(&mut r.title_template);
        body.description_template
            .trimmed()
            .apply_to_option(&mut r.description_template);
        body.assigned_to_user_id
            .apply_to_option(&mut r.assigned_to_user_id);
        body.assigned_group_id
            .apply_to_option(&mut r.assigned_group_id);
        check(checks, r)
    }

    async fn save(state: &AppState, mut r: IncidentRule) -> ApiResult<IncidentRule> {
        require::<Device>(state, "device_id", r.device_id).await?;
        require::<CameraGroup>(state, "camera_group_id", r.camera_group_id).await?;
        require::<SupportGroup>(state, "assigned_group_id", r.assigned_group_id).await?;
        if let Some(id) = r.assigned_to_user_id {
            match state.store.user_by_id(id).await {
                Ok(u) if u.is_active => {}
                Ok(_) | Err(StoreError::NotFound) => {
                    return Err(ApiError::invalid(FieldError::body(
                        "assigned_to_user_id",
                        "foreign_key",
                        format!("user {id} does not exist or is inactive"),
                    )));
                }
                Err(err) => return Err(err.into()),
            }
        }
        // Scoped to a group, it stays scoped: its group's deletion must not widen it.
        r.camera_group_scoped = r.camera_group_id.is_some();
        Ok(state.store.save_incident_rule(&r).await?)
    }
}

/// Every problem of a rule, its templates included.
fn check(checks: &mut Checks, r: IncidentRule) -> IncidentRule {
    checks.text("name", &r.name, 255);
    checks.one_of("severity", &r.severity, SEVERITIES);
    checks.max_len("analytic_type", r.analytic_type.as_deref(), 128);
    checks.max_len("tenant", r.tenant.as_deref(), 64);
    checks.max_len("title_template", r.title_template.as_deref(), 255);
    checks.max_len(
        "description_template",
        r.description_template.as_deref(),
        8000,
    );
    for (field, template) in [
        ("title_template", &r.title_template),
        ("description_template", &r.description_template),
    ] {
        if let Some(problem) = template
            .as_deref()
            .and_then(|t| template_problem(t, CAMERA_TEMPLATE_FIELDS))
        {
            checks.push(field, "template", problem);
        }
    }
    r
}

resource_routes! {
    IncidentRule => IncidentRuleRead, "incident-rules", "/incident-rules",
        "/incident-rules/{rule_id}", ("rule_id", "Incident rule id");
    list(AuthUser, PageQuery) "incident_rules_list", "List incident rules, by id", [Invalid];
    create(AuthUser, IncidentRuleCreate, CREATED) "incident_rules_create",
        "Create an incident rule", [Invalid];
    read(AuthUser) "incident_rules_read", "Read an incident rule", [NotFound];
    update(AuthUser, patch, IncidentRuleUpdate) "incident_rules_update",
        "Change an incident rule (partial)", [NotFound, Invalid];
    remove(AuthUser) "incident_rules_remove", "Delete an incident rule", [Deleted, NotFound];
}
