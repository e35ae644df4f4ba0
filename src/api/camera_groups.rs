//! `/devices/camera-groups`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, or_409, record, require_all};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page, PageQuery};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::resource::{Events, Resource, Tracked, resource_routes, find};
use super::validate::{Checks, Patch};
use crate::events::{EventType, payload};
use crate::store::devices::Device;
use crate::store::groups::CameraGroup;

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
    const EVENTS: Events = Events {
        created: EventType::CameraGroupCreated,
        updated: EventType::CameraGroupUpdated,
        deleted: EventType::CameraGroupDeleted,
    };

    fn payload(&self, _: EventType) -> Value {
        payload::camera_group(self, None)
    }

    /// Not its cameras; refused while incident rules target the group.
    async fn delete(state: &AppState, g: &CameraGroup) -> ApiResult<()> {
        let rules = state.store.incident_rules_for_camera_group(g.id).await?;
        if rules > 0 {
            return Err(ApiError::Conflict(format!(
                "{rules} incident rule(s) target this group; delete or change them first"
            )));
        }
        or_404(state.store.delete_camera_group(g.id).await, Self::NOT_FOUND)
    }
}

resource_routes! {
    CameraGroup => CameraGroupRead, "camera-groups", "/devices/camera-groups", "/devices/camera-groups/{group_id}",
        ("group_id", "Group id");
    read(AuthUser) "camera_groups_read", "Read a camera group", [NotFound];
    /// Deletes a group (not its cameras). Refused while incident rules target it: without it
    /// they would apply to every camera.
    remove(AuthUser) "camera_groups_remove",
        "Delete a camera group (refused while incident rules target it)",
        [Deleted, NotFound, Conflict];
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct CameraGroupBody {
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    #[schema(value_type = Option<String>)]
    description: Patch<String>,
    #[schema(value_type = Option<String>)]
    tenant: Patch<String>,
    #[schema(value_type = Option<Vec<i64>>)]
    device_ids: Patch<Vec<i64>>,
}

async fn save(
    state: &AppState,
    user: &crate::store::users::User,
    mut g: CameraGroup,
    body: CameraGroupBody,
    creating: bool,
) -> ApiResult<CameraGroupRead> {
    let mut checks = Checks::new();
    if creating && body.name.is_absent() {
        checks.push("name", "missing", "Field required");
    }
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
    checks.finish()?;
    let device_ids = match body.device_ids {
        Patch::Value(ids) => Some(ids),
        Patch::Null => Some(Vec::new()),
        Patch::Absent if creating => Some(Vec::new()),
        Patch::Absent => None,
    };
    if let Some(ids) = &device_ids {
        require_all::<Device>(state, "device_ids", "device", ids).await?;
    }
    let name = g.name.clone();
    let saved = or_409(
        state
            .store
            .save_camera_group(&g, device_ids.as_deref())
            .await,
        || format!("A camera group named '{name}' already exists"),
    )?;
    let read = read_model(&saved, &state.store.camera_group_links().await?);
    let event = CameraGroup::EVENTS.saved(creating);
    let payload = payload::camera_group(&saved, Some(&read.device_ids));
    record(state, user, Change::new(event, saved.id, payload)).await?;
    Ok(read)
}

#[utoipa::path(
    get,
    path = "/devices/camera-groups",
    operation_id = "camera_groups_list",
    tag = "camera-groups",
    summary = "List camera groups",
    params(PageQuery),
    responses(
        (status = 200, body = Vec<CameraGroupRead>),
        Invalid,
    ),
)]
async fn list(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Vec<CameraGroupRead>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let groups = state
        .store
        .list_camera_groups(page.skip, page.limit)
        .await?;
    Ok(Json(CameraGroup::show(&state, groups).await?))
}

#[utoipa::path(
    post,
    path = "/devices/camera-groups",
    operation_id = "camera_groups_create",
    tag = "camera-groups",
    summary = "Create a camera group",
    request_body = CameraGroupBody,
    responses(
        (status = 201, body = CameraGroupRead),
        Conflict, Invalid,
    ),
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<CameraGroupBody>,
) -> ApiResult<(StatusCode, Json<CameraGroupRead>)> {
    Ok((
        StatusCode::CREATED,
        Json(save(&state, &user, CameraGroup::default(), body, true).await?),
    ))
}

#[utoipa::path(
    patch,
    path = "/devices/camera-groups/{group_id}",
    operation_id = "camera_groups_update",
    tag = "camera-groups",
    summary = "Update a camera group (partial; device_ids replaces the members)",
    params(("group_id" = i64, Path, description = "Group id")),
    request_body = CameraGroupBody,
    responses(
        (status = 200, body = CameraGroupRead),
        NotFound, Conflict, Invalid,
    ),
)]
async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CameraGroupBody>,
) -> ApiResult<Json<CameraGroupRead>> {
    let g = find(&state, id).await?;
    Ok(Json(save(&state, &user, g, body, false).await?))
}
