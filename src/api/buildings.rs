//! `/buildings`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, clean, or_404, or_409, record};
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page, PageQuery};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::validate::{Checks, Patch};
use crate::events::{EventType, payload};
use crate::store::site::{Building, FloorPlan};

const NOT_FOUND: &str = "Building not found";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(by_code))
        .routes(routes!(read, update, remove))
        .routes(routes!(floor_plans))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct BuildingCreate {
    name: String,
    code: String,
    description: Option<String>,
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct BuildingUpdate {
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    #[schema(value_type = Option<String>)]
    code: Patch<String>,
    #[schema(value_type = Option<String>)]
    description: Patch<String>,
}

fn check(checks: &mut Checks, b: &Building) {
    checks.text("name", &b.name, 255);
    checks.text("code", &b.code, 64);
    checks.max_len("description", b.description.as_deref(), 1024);
}

fn duplicate(code: &str) -> String {
    format!("A building with code '{code}' already exists")
}

#[utoipa::path(
    get,
    path = "/buildings",
    operation_id = "buildings_list",
    tag = "buildings",
    summary = "List buildings, by id",
    params(PageQuery),
    responses(
        (status = 200, body = Vec<Building>),
        Invalid,
    ),
)]
async fn list(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Vec<Building>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    Ok(Json(
        state.store.list_buildings(page.skip, page.limit).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/buildings",
    operation_id = "buildings_create",
    tag = "buildings",
    summary = "Create a building",
    request_body = BuildingCreate,
    responses(
        (status = 201, body = Building),
        Conflict, Invalid,
    ),
)]
async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<BuildingCreate>,
) -> ApiResult<(StatusCode, Json<Building>)> {
    let new = Building {
        name: body.name.trim().to_string(),
        code: body.code.trim().to_string(),
        description: clean(body.description),
        ..Building::default()
    };
    let mut checks = Checks::new();
    check(&mut checks, &new);
    checks.finish()?;
    let b = or_409(state.store.save_building(&new).await, || {
        duplicate(&new.code)
    })?;
    let event = EventType::BuildingCreated;
    let change = Change::new(event, b.id, payload::building(&b, event));
    record(&state, &user, change).await?;
    Ok((StatusCode::CREATED, Json(b)))
}

#[utoipa::path(
    get,
    path = "/buildings/by-code/{code}",
    operation_id = "buildings_by_code",
    tag = "buildings",
    summary = "Find a building by its code",
    params(("code" = String, Path, description = "Building code (exact)")),
    responses(
        (status = 200, body = Building),
        NotFound,
    ),
)]
async fn by_code(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<Building>> {
    Ok(Json(or_404(
        state.store.building_by_code(&code).await,
        NOT_FOUND,
    )?))
}

#[utoipa::path(
    get,
    path = "/buildings/{building_id}",
    operation_id = "buildings_read",
    tag = "buildings",
    summary = "Read a building",
    params(("building_id" = i64, Path, description = "Building id")),
    responses(
        (status = 200, body = Building),
        NotFound,
    ),
)]
async fn read(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Building>> {
    Ok(Json(or_404(state.store.building(id).await, NOT_FOUND)?))
}

#[utoipa::path(
    put,
    path = "/buildings/{building_id}",
    operation_id = "buildings_update",
    tag = "buildings",
    summary = "Update a building (partial)",
    params(("building_id" = i64, Path, description = "Building id")),
    request_body = BuildingUpdate,
    responses(
        (status = 200, body = Building),
        NotFound, Conflict, Invalid,
    ),
)]
async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<BuildingUpdate>,
) -> ApiResult<Json<Building>> {
    let mut b = or_404(state.store.building(id).await, NOT_FOUND)?;
    let mut checks = Checks::new();
    checks.not_null("name", &body.name);
    checks.not_null("code", &body.code);
    body.name
        .map(|v| v.trim().to_string())
        .apply_to(&mut b.name);
    body.code
        .map(|v| v.trim().to_string())
        .apply_to(&mut b.code);
    body.description.apply_to_option(&mut b.description);
    check(&mut checks, &b);
    checks.finish()?;
    let b = or_409(state.store.save_building(&b).await, || duplicate(&b.code))?;
    let event = EventType::BuildingUpdated;
    let change = Change::new(event, b.id, payload::building(&b, event));
    record(&state, &user, change).await?;
    Ok(Json(b))
}

#[utoipa::path(
    delete,
    path = "/buildings/{building_id}",
    operation_id = "buildings_remove",
    tag = "buildings",
    summary = "Delete a building with its floors and floor plans; devices stay, unplaced",
    params(("building_id" = i64, Path, description = "Building id")),
    responses(
        Deleted, NotFound,
    ),
)]
async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let b = or_404(state.store.building(id).await, NOT_FOUND)?;
    let images = or_404(state.store.delete_building(id).await, NOT_FOUND)?;
    crate::media::remove_images(&state.config, &images).await;
    let event = EventType::BuildingDeleted;
    let change = Change::new(event, b.id, payload::building(&b, event));
    record(&state, &user, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/buildings/{building_id}/floor-plans",
    operation_id = "buildings_floor_plans",
    tag = "buildings",
    summary = "Floor plans of every floor of a building, by name",
    params(("building_id" = i64, Path, description = "Building id")),
    responses(
        (status = 200, body = Vec<FloorPlan>),
        NotFound,
    ),
)]
async fn floor_plans(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<FloorPlan>>> {
    or_404(state.store.building(id).await, NOT_FOUND)?;
    Ok(Json(state.store.floor_plans_of_building(id).await?))
}
