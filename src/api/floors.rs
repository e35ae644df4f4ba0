//! `/floors`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{clean, or_404, require};
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::openapi::{Deleted, Invalid, NotFound};
use super::resource::{Events, Resource, Tracked, resource_routes, find, record_saved};
use super::validate::{Checks, Patch};
use crate::events::{EventType, payload};
use crate::store::site::{Building, Floor};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct FloorCreate {
    building_id: i64,
    name: String,
    level: Option<i32>,
    description: Option<String>,
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct FloorUpdate {
    #[schema(value_type = Option<i64>)]
    building_id: Patch<i64>,
    #[schema(value_type = Option<String>)]
    name: Patch<String>,
    #[schema(value_type = Option<i32>)]
    level: Patch<i32>,
    #[schema(value_type = Option<String>)]
    description: Patch<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FloorQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    building_id: Option<i64>,
}

impl Resource for Floor {
    const NOT_FOUND: &'static str = "Floor not found";
    type Read = Floor;

    async fn show(_: &AppState, rows: Vec<Floor>) -> ApiResult<Vec<Floor>> {
        Ok(rows)
    }
}

impl Tracked for Floor {
    const EVENTS: Events = Events {
        created: EventType::FloorCreated,
        updated: EventType::FloorUpdated,
        deleted: EventType::FloorDeleted,
    };

    fn payload(&self, _: EventType) -> Value {
        payload::floor(self)
    }

    /// With its floor plans and their images; devices stay, unplaced.
    async fn delete(state: &AppState, f: &Floor) -> ApiResult<()> {
        let images = or_404(state.store.delete_floor(f.id).await, Self::NOT_FOUND)?;
        crate::media::remove_images(&state.config, &images).await;
        Ok(())
    }
}

resource_routes! {
    Floor => Floor, "floors", "/floors", "/floors/{floor_id}",
        ("floor_id", "Floor id");
    read(AuthUser) "floors_read", "Read a floor", [NotFound];
    remove(AuthUser) "floors_remove",
        "Delete a floor with its floor plans; devices stay, unplaced", [Deleted, NotFound];
}

fn check(checks: &mut Checks, f: &Floor) {
    checks.text("name", &f.name, 255);
    checks.max_len("description", f.description.as_deref(), 1024);
}

#[utoipa::path(
    get,
    path = "/floors",
    operation_id = "floors_list",
    tag = "floors",
    summary = "List floors, by id",
    params(FloorQuery),
    responses(
        (status = 200, body = Vec<Floor>),
        Invalid,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/floors",
    operation_id = "floors_create",
    tag = "floors",
    summary = "Create a floor",
    request_body = FloorCreate,
    responses(
        (status = 201, body = Floor),
        Invalid,
    ),
)]
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
    require::<Building>(&state, "building_id", Some(new.building_id)).await?;
    let f = state.store.save_floor(&new).await?;
    record_saved(&state, &user, &f, true).await?;
    Ok((StatusCode::CREATED, Json(f)))
}

#[utoipa::path(
    put,
    path = "/floors/{floor_id}",
    operation_id = "floors_update",
    tag = "floors",
    summary = "Update a floor (partial)",
    params(("floor_id" = i64, Path, description = "Floor id")),
    request_body = FloorUpdate,
    responses(
        (status = 200, body = Floor),
        NotFound, Invalid,
    ),
)]
async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FloorUpdate>,
) -> ApiResult<Json<Floor>> {
    let mut f: Floor = find(&state, id).await?;
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
    require::<Building>(&state, "building_id", Some(f.building_id)).await?;
    let f = state.store.save_floor(&f).await?;
    record_saved(&state, &user, &f, false).await?;
    Ok(Json(f))
}
