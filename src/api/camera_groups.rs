//! `/devices/camera-groups`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, or_409, record, require_all};
use super::error::ApiResult;
use super::extract::{AuthUser, PageQuery};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::resource::{self, Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, Patch, patch_body};
use crate::events::EventType::{CameraGroupCreated, CameraGroupDeleted, CameraGroupUpdated};
use crate::events::{EventType, payload};
use crate::store::devices::Device;
use crate::store::groups::CameraGroup;
use crate::store::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CameraGroupRead {
    id: i64,
    name: String,
    description: Option<String>,
    tenant: Option<String>,
    device_ids: Vec<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn read_model(g: &CameraGroup, links: &[(i64, i64)]) -> CameraGroupRead {
    CameraGroupRead {
        id: g.id,
        name: g.name.clone(),
        description: g.description.clone(),
        tenant: g.tenant.clone(),
        device_ids: links
            .iter()
            .filter(|(group, _)| *group == g.id)
            .map(|(_, d)| *d)
            .collect(),
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

impl Resource for CameraGroup {
    const NOT_FOUND: &'static str = "CameraGroup not found";
    type Read = CameraGroupRead;

    async fn show(state: &AppState, groups: Vec<CameraGroup>) -> ApiResult<Vec<CameraGroupRead>> {
        let links = state.store.camera_group_links().await?;
        Ok(groups.iter().map(|g| read_model(g, &links)).collect())
    }
}

impl Tracked for CameraGroup {
    const EVENTS: Events = Events::new(CameraGroupCreated, CameraGroupUpdated, CameraGroupDeleted);

    fn payload(&self, _: EventType) -> Value {
        payload::camera_group(self, None)
    }

    /// Not its cameras; refused while incident rules target the group.
    async fn delete(state: &AppState, g: &CameraGroup) -> ApiResult<()> {
        let rules = state.store.incident_rules_for_camera_group(g.id).await?;
        resource::untargeted(rules, "incident rule(s)")?;
        or_404(state.store.delete_camera_group(g.id).await, Self::NOT_FOUND)
    }
}

patch_body! {
    pub struct CameraGroupBody {
        name: String,
        description: String,
        tenant: String,
        device_ids: Vec<i64>,
    }
}

impl Listed for CameraGroup {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<CameraGroup>> {
        resource::page(state, q).await
    }
}

impl Editable for CameraGroup {
    type Create = CameraGroupBody;
    type Update = CameraGroupBody;
    /// With the camera ids that replace its members, if any.
    type Draft = (CameraGroup, Option<Vec<i64>>);

    fn new(_: &AppState, body: CameraGroupBody, checks: &mut Checks) -> Self::Draft {
        if body.name.is_absent() {
            checks.push("name", "missing", "Field required");
        }
        fill(CameraGroup::default(), body, checks, true)
    }

    fn apply(
        _: &AppState,
        g: CameraGroup,
        body: CameraGroupBody,
        checks: &mut Checks,
    ) -> Self::Draft {
        fill(g, body, checks, false)
    }

    async fn save(state: &AppState, (g, device_ids): Self::Draft) -> ApiResult<CameraGroup> {
        if let Some(ids) = &device_ids {
            require_all::<Device>(state, "device_ids", "device", ids).await?;
        }
        or_409(
            state
                .store
                .save_camera_group(&g, device_ids.as_deref())
                .await,
            || format!("A camera group named '{}' already exists", g.name),
        )
    }

    /// With its cameras in the payload.
    async fn saved(
        state: &AppState,
        user: &User,
        g: &CameraGroup,
        creating: bool,
    ) -> ApiResult<()> {
        let read = read_model(g, &state.store.camera_group_links().await?);
        let payload = payload::camera_group(g, Some(&read.device_ids));
        let event = Self::EVENTS.saved(creating);
        record(state, user, Change::new(event, g.id, payload)).await
    }
}

resource_routes! {
    CameraGroup => CameraGroupRead, "camera-groups", "/devices/camera-groups",
        "/devices/camera-groups/{group_id}", ("group_id", "Group id");
    list(AuthUser, PageQuery) "camera_groups_list", "List camera groups", [Invalid];
    create(AuthUser, CameraGroupBody, CREATED) "camera_groups_create",
        "Create a camera group", [Conflict, Invalid];
    read(AuthUser) "camera_groups_read", "Read a camera group", [NotFound];
    update(AuthUser, patch, CameraGroupBody) "camera_groups_update",
        "Update a camera group (partial; device_ids replaces the members)",
        [NotFound, Conflict, Invalid];
    /// Deletes a group (not its cameras). Refused while incident rules target it: without it
    /// they would apply to every camera.
    remove(AuthUser) "camera_groups_remove",
        "Delete a camera group (refused while incident rules target it)",
        [Deleted, NotFound, Conflict];
}

/// `body` applied to `g`; a new group has no cameras unless the body names them.
fn fill(
    mut g: CameraGroup,
    body: CameraGroupBody,
    checks: &mut Checks,
    creating: bool,
) -> (CameraGroup, Option<Vec<i64>>) {
    checks.not_null("name", &body.name);
    body.name
        .map(|v| v.trim().to_string())
        .apply_to(&mut g.name);
    body.description
        .trimmed()
        .apply_to_option(&mut g.description);
    body.tenant.trimmed().apply_to_option(&mut g.tenant);
    if !checks.has_errors() {
        checks.text("name", &g.name, 255);
    }
    checks.max_len("description", g.description.as_deref(), 1024);
    checks.max_len("tenant", g.tenant.as_deref(), 255);
    let device_ids = match body.device_ids {
        Patch::Value(ids) => Some(ids),
        Patch::Null => Some(Vec::new()),
        Patch::Absent if creating => Some(Vec::new()),
        Patch::Absent => None,
    };
    (g, device_ids)
}
