//! `/floors`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::changes::{clean, or_404, record, require};
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::validate::{Checks, Patch};
use crate::store::groups::Table;
use crate::store::site::Floor;

const NOT_FOUND: &str = "Floor not found";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/floors", get(list).post(create))
        .route("/floors/{floor_id}", get(read).put(update).delete(remove))
}

#[derive(Deserialize)]
struct FloorCreate {
    building_id: i64,
    name: String,
    level: Option<i32>,
    description: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct FloorUpdate {
    building_id: Patch<i64>,
    name: Patch<String>,
    level: Patch<i32>,
    description: Patch<String>,
}

#[derive(Deserialize)]
struct FloorQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    building_id: Option<i64>,
}

fn check(checks: &mut Checks, f: &Floor) {
    checks.text("name", &f.name, 255);
    checks.max_len("description", f.description.as_deref(), 1024);
}

fn payload(f: &Floor) -> serde_json::Value {
    json!({"floor_id": f.id, "building_id": f.building_id, "name": f.name, "level": f.level})
}

async fn list(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<FloorQuery>,
) -> ApiResult<Json<Vec<Floor>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    Ok(Json(
        state
            .store
            .list_floors(q.building_id, page.skip, page.limit)
            .await?,
    ))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<FloorCreate>,
) -> ApiResult<(StatusCode, Json<Floor>)> {
    let new = Floor {
        building_id: body.building_id,
        name: body.name.trim().to_string(),
        level: body.level,
        description: clean(body.description),
        ..Floor::default()
    };
    let mut checks = Checks::new();
    check(&mut checks, &new);
    checks.finish()?;
    require(
        &state,
        Table::Building,
        "building_id",
        Some(new.building_id),
    )
    .await?;
    let f = state.store.insert_floor(&new).await?;
    record(
        &state,
        &user,
        "create",
        "floor",
        f.id,
        "FLOOR_CREATED",
        payload(&f),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(f)))
}

async fn read(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Floor>> {
    Ok(Json(or_404(state.store.floor(id).await, NOT_FOUND)?))
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FloorUpdate>,
) -> ApiResult<Json<Floor>> {
    let mut f = or_404(state.store.floor(id).await, NOT_FOUND)?;
    let mut checks = Checks::new();
    checks.not_null("building_id", &body.building_id);
    checks.not_null("name", &body.name);
    body.building_id.apply_to(&mut f.building_id);
    body.name
        .map(|v| v.trim().to_string())
        .apply_to(&mut f.name);
    body.level.apply_to_option(&mut f.level);
    body.description.apply_to_option(&mut f.description);
    check(&mut checks, &f);
    checks.finish()?;
    require(&state, Table::Building, "building_id", Some(f.building_id)).await?;
    let f = state.store.update_floor(&f).await?;
    record(
        &state,
        &user,
        "update",
        "floor",
        f.id,
        "FLOOR_UPDATED",
        payload(&f),
    )
    .await?;
    Ok(Json(f))
}

async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let f = or_404(state.store.floor(id).await, NOT_FOUND)?;
    let images = or_404(state.store.delete_floor(id).await, NOT_FOUND)?;
    super::media::remove_images(&state, &images).await;
    record(
        &state,
        &user,
        "delete",
        "floor",
        f.id,
        "FLOOR_DELETED",
        payload(&f),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
