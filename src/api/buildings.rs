//! `/buildings`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{clean, or_404, or_409};
use super::error::ApiResult;
use super::extract::{ApiPath, AuthUser, PageQuery};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::resource::{self, Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{BuildingCreated, BuildingDeleted, BuildingUpdated};
use crate::events::{EventType, payload};
use crate::store::site::{Building, FloorPlan};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(by_code))
        .routes(routes!(read, update, remove))
        .routes(routes!(floor_plans))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BuildingCreate {
    name: String,
    code: String,
    description: Option<String>,
}

patch_body! {
    pub struct BuildingUpdate {
        name: String,
        code: String,
        description: String,
    }
}

impl Resource for Building {
    const NOT_FOUND: &'static str = "Building not found";
    type Read = Building;

    async fn show(_: &AppState, rows: Vec<Building>) -> ApiResult<Vec<Building>> {
        Ok(rows)
    }
}

impl Tracked for Building {
    const EVENTS: Events = Events::new(BuildingCreated, BuildingUpdated, BuildingDeleted);

    fn payload(&self, event: EventType) -> Value {
        payload::building(self, event)
    }

    /// With its floors, floor plans and their images; devices stay, unplaced.
    async fn delete(state: &AppState, b: &Building) -> ApiResult<()> {
        let images = or_404(state.store.delete_building(b.id).await, Self::NOT_FOUND)?;
        crate::media::remove_images(&state.config, &images).await;
        Ok(())
    }
}

impl Listed for Building {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<Building>> {
        resource::page(state, q).await
    }
}

impl Editable for Building {
    type Create = BuildingCreate;
    type Update = BuildingUpdate;
    type Draft = Building;

    fn new(_: &AppState, body: BuildingCreate, checks: &mut Checks) -> Building {
        let new = Building {
            name: body.name.trim().to_string(),
            code: body.code.trim().to_string(),
            description: clean(body.description),
            ..Building::default()
        };
        check(checks, &new);
        new
    }

    fn apply(_: &AppState, mut b: Building, body: BuildingUpdate, checks: &mut Checks) -> Building {
        checks.not_null("name", &body.name);
        checks.not_null("code", &body.code);
        body.name
            .map(|v| v.trim().to_string())
            .apply_to(&mut b.name);
        body.code
            .map(|v| v.trim().to_string())
            .apply_to(&mut b.code);
        body.description.apply_to_option(&mut b.description);
        check(checks, &b);
        b
    }

    async fn save(state: &AppState, b: Building) -> ApiResult<Building> {
        or_409(state.store.save_building(&b).await, || {
            format!("A building with code '{}' already exists", b.code)
        })
    }
}

resource_routes! {
    Building => Building, "buildings", "/buildings", "/buildings/{building_id}",
        ("building_id", "Building id");
    list(AuthUser, PageQuery) "buildings_list", "List buildings, by id", [Invalid];
    create(AuthUser, BuildingCreate, CREATED) "buildings_create", "Create a building",
        [Conflict, Invalid];
    read(AuthUser) "buildings_read", "Read a building", [NotFound];
    update(AuthUser, put, BuildingUpdate) "buildings_update", "Update a building (partial)",
        [NotFound, Conflict, Invalid];
    nested(AuthUser, floor_plans: Vec<FloorPlan> = plans_of,
        "/buildings/{building_id}/floor-plans") "buildings_floor_plans",
        "Floor plans of every floor of a building, by name", [NotFound];
    remove(AuthUser) "buildings_remove",
        "Delete a building with its floors and floor plans; devices stay, unplaced",
        [Deleted, NotFound];
}

fn check(checks: &mut Checks, b: &Building) {
    checks.text("name", &b.name, 255);
    checks.text("code", &b.code, 64);
    checks.max_len("description", b.description.as_deref(), 1024);
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
        Building::NOT_FOUND,
    )?))
}

async fn plans_of(state: &AppState, id: i64) -> ApiResult<Vec<FloorPlan>> {
    Ok(state.store.floor_plans_of_building(id).await?)
}
