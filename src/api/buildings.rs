//! `/buildings`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::changes::{clean, or_404, or_409, record};
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page, PageQuery};
use super::validate::{Checks, Patch};
use crate::store::site::{Building, FloorPlan};

const NOT_FOUND: &str = "Building not found";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/buildings", get(list).post(create))
        .route("/buildings/by-code/{code}", get(by_code))
        .route(
            "/buildings/{building_id}",
            get(read).put(update).delete(remove),
        )
        .route("/buildings/{building_id}/floor-plans", get(floor_plans))
}

#[derive(Deserialize)]
struct BuildingCreate {
    name: String,
    code: String,
    description: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct BuildingUpdate {
    name: Patch<String>,
    code: Patch<String>,
    description: Patch<String>,
}

fn check(checks: &mut Checks, b: &Building) {
    checks.text("name", &b.name, 255);
    checks.text("code", &b.code, 64);
    checks.max_len("description", b.description.as_deref(), 1024);
}

fn label(b: &Building) -> String {
    if !b.name.is_empty() {
        b.name.clone()
    } else {
        b.code.clone()
    }
}

fn duplicate(code: &str) -> String {
    format!("A building with code '{code}' already exists")
}

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
    let b = or_409(state.store.insert_building(&new).await, || {
        duplicate(&new.code)
    })?;
    let payload = json!({"building_id": b.id, "name": b.name, "code": b.code, "label": label(&b), "created_at": b.created_at});
    record(
        &state,
        &user,
        "create",
        "building",
        b.id,
        "BUILDING_CREATED",
        payload,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(b)))
}

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

async fn read(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Building>> {
    Ok(Json(or_404(state.store.building(id).await, NOT_FOUND)?))
}

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
    let b = or_409(state.store.update_building(&b).await, || duplicate(&b.code))?;
    let payload = json!({"building_id": b.id, "name": b.name, "code": b.code, "label": label(&b), "updated_at": b.updated_at});
    record(
        &state,
        &user,
        "update",
        "building",
        b.id,
        "BUILDING_UPDATED",
        payload,
    )
    .await?;
    Ok(Json(b))
}

async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let b = or_404(state.store.building(id).await, NOT_FOUND)?;
    let images = or_404(state.store.delete_building(id).await, NOT_FOUND)?;
    super::media::remove_images(&state, &images).await;
    let payload = json!({"building_id": b.id, "name": b.name, "code": b.code, "label": label(&b)});
    record(
        &state,
        &user,
        "delete",
        "building",
        b.id,
        "BUILDING_DELETED",
        payload,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn floor_plans(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<FloorPlan>>> {
    or_404(state.store.building(id).await, NOT_FOUND)?;
    Ok(Json(state.store.floor_plans_of_building(id).await?))
}
