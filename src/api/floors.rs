//! `/floors`.

use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{clean, or_404, require};
use super::error::ApiResult;
use super::extract::{AuthUser, Page};
use super::openapi::{Deleted, Invalid, NotFound};
use super::resource::{Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{FloorCreated, FloorDeleted, FloorUpdated};
use crate::events::{EventType, payload};
use crate::store::site::{Building, Floor};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct FloorCreate {
    building_id: i64,
    name: String,
    level: Option<i32>,
    description: Option<String>,
}

patch_body! {
    pub struct FloorUpdate {
        building_id: i64,
        name: String,
        level: i32,
        description: String,
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FloorQuery {
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
    const EVENTS: Events = Events::new(FloorCreated, FloorUpdated, FloorDeleted);

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

impl Listed for Floor {
    type Query = FloorQuery;

    async fn rows(state: &AppState, q: FloorQuery) -> ApiResult<Vec<Floor>> {
        let page = Page::from_query(q.skip, q.limit, 100)?;
        Ok(state
            .store
            .list_floors(q.building_id, page.skip, page.limit)
            .await?)
    }
}

impl Editable for Floor {
    type Create = FloorCreate;
    type Update = FloorUpdate;
    type Draft = Floor;

    fn new(_: &AppState, body: FloorCreate, checks: &mut Checks) -> Floor {
        let new = Floor {
            building_id: body.building_id,
            name: body.name.trim().to_string(),
            level: body.level,
            description: clean(body.description),
            ..Floor::default()
        };
        check(checks, &new);
        new
    }

    fn apply(_: &AppState, mut f: Floor, body: FloorUpdate, checks: &mut Checks) -> Floor {
        checks.not_null("building_id", &body.building_id);
        checks.not_null("name", &body.name);
        body.building_id.apply_to(&mut f.building_id);
        body.name
            .map(|v| v.trim().to_string())
            .apply_to(&mut f.name);
        body.level.apply_to_option(&mut f.level);
        body.description.apply_to_option(&mut f.description);
        check(checks, &f);
        f
    }

    async fn save(state: &AppState, f: Floor) -> ApiResult<Floor> {
        require::<Building>(state, "building_id", Some(f.building_id)).await?;
        Ok(state.store.save_floor(&f).await?)
    }
}

resource_routes! {
    Floor => Floor, "floors", "/floors", "/floors/{floor_id}", ("floor_id", "Floor id");
    list(AuthUser, FloorQuery) "floors_list", "List floors, by id", [Invalid];
    create(AuthUser, FloorCreate, CREATED) "floors_create", "Create a floor", [Invalid];
    read(AuthUser) "floors_read", "Read a floor", [NotFound];
    update(AuthUser, put, FloorUpdate) "floors_update", "Update a floor (partial)",
        [NotFound, Invalid];
    remove(AuthUser) "floors_remove",
        "Delete a floor with its floor plans; devices stay, unplaced", [Deleted, NotFound];
}

fn check(checks: &mut Checks, f: &Floor) {
    checks.text("name", &f.name, 255);
    checks.max_len("description", f.description.as_deref(), 1024);
}
