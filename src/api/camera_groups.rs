//! `/devices/camera-groups`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, or_409, record};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page, PageQuery};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::validate::{Checks, Patch};
use crate::events::{EventType, payload};
use crate::store::devices::Device;
use crate::store::groups::CameraGroup;

const NOT_FOUND: &str = "CameraGroup not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CameraGroupRead {
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
    for id in device_ids.iter().flatten() {
        if !state.store.exists::<Device>(*id).await? {
            return Err(ApiError::invalid(FieldError::body(
                "device_ids",
                "foreign_key",
                format!("device {id} does not exist"),
            )));
        }
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
    let event = if creating {
        EventType::CameraGroupCreated
    } else {
        EventType::CameraGroupUpdated
    };
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
    let links = state.store.camera_group_links().await?;
    Ok(Json(groups.iter().map(|g| read_model(g, &links)).collect()))
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
    get,
    path = "/devices/camera-groups/{group_id}",
    operation_id = "camera_groups_read",
    tag = "camera-groups",
    summary = "Read a camera group",
    params(("group_id" = i64, Path, description = "Group id")),
    responses(
        (status = 200, body = CameraGroupRead),
        NotFound,
    ),
)]
async fn read(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CameraGroupRead>> {
    let g = or_404(state.store.camera_group(id).await, NOT_FOUND)?;
    Ok(Json(read_model(
        &g,
        &state.store.camera_group_links().await?,
    )))
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
    let g = or_404(state.store.camera_group(id).await, NOT_FOUND)?;
    Ok(Json(save(&state, &user, g, body, false).await?))
}

/// Deletes a group (not its cameras). Refused while incident rules target it: without it
/// they would apply to every camera.
#[utoipa::path(
    delete,
    path = "/devices/camera-groups/{group_id}",
    operation_id = "camera_groups_remove",
    tag = "camera-groups",
    summary = "Delete a camera group (refused while incident rules target it)",
    params(("group_id" = i64, Path, description = "Group id")),
    responses(
        Deleted, NotFound, Conflict,
    ),
)]
async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let g = or_404(state.store.camera_group(id).await, NOT_FOUND)?;
    let rules = state.store.incident_rules_for_camera_group(id).await?;
    if rules > 0 {
        return Err(ApiError::Conflict(format!(
            "{rules} incident rule(s) target this group; delete or change them first"
        )));
    }
    or_404(state.store.delete_camera_group(id).await, NOT_FOUND)?;
    let change = Change::new(
        EventType::CameraGroupDeleted,
        id,
        payload::camera_group(&g, None),
    );
    record(&state, &user, change).await?;
    Ok(StatusCode::NO_CONTENT)
}
