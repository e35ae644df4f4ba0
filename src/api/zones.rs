//! `/zones` and `/floor-plans/{id}/zones`: polygons drawn on a floor plan, in plan
//! fractions, that zone alert rules watch. Writes are configuration (administrators);
//! the alert engine hears of them through the event bus (`ZONE_*`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::clean;
use super::error::ApiResult;
use super::extract::{AdminUser, ApiJson, ApiPath, AuthUser, Page};
use super::openapi::{Deleted, Invalid, NotFound};
use super::resource::{Editable, Events, Listed, Resource, Tracked, find, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{ZoneCreated, ZoneDeleted, ZoneUpdated};
use crate::events::{EventType, payload};
use crate::geometry::Polygon;
use crate::store::site::FloorPlan;
use crate::store::zones::Zone;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, update, remove))
        .routes(routes!(zones_of_plan, create_on_plan))
}

/// A point on the plan: fractions of the image's width and height, origin top-left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ZonePoint {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ZoneRead {
    id: i64,
    floor_plan_id: i64,
    name: String,
    /// A CSS colour, `#rgb` or `#rrggbb`.
    color: Option<String>,
    points: Vec<ZonePoint>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&Zone> for ZoneRead {
    fn from(z: &Zone) -> Self {
        ZoneRead {
            id: z.id,
            floor_plan_id: z.floor_plan_id,
            name: z.name.clone(),
            color: z.color.clone(),
            points: points_of(z),
            created_at: z.created_at,
            updated_at: z.updated_at,
        }
    }
}

/// The stored points of a zone (checked when saved).
pub fn points_of(z: &Zone) -> Vec<ZonePoint> {
    serde_json::from_str(&z.points).unwrap_or_default()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ZoneCreate {
    name: String,
    color: Option<String>,
    /// At least 3 points, in order, edges not crossing.
    points: Vec<ZonePoint>,
}

patch_body! {
    pub struct ZoneUpdate {
        name: String,
        color: String,
        points: Vec<ZonePoint>,
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ZoneQuery {
    skip: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
    floor_plan_id: Option<i64>,
}

impl Resource for Zone {
    const NOT_FOUND: &'static str = "Zone not found";
    type Read = ZoneRead;

    async fn show(_: &AppState, rows: Vec<Zone>) -> ApiResult<Vec<ZoneRead>> {
        Ok(rows.iter().map(ZoneRead::from).collect())
    }
}

impl Tracked for Zone {
    const EVENTS: Events = Events::new(ZoneCreated, ZoneUpdated, ZoneDeleted);

    fn payload(&self, event: EventType) -> Value {
        payload::zone(self, event)
    }
}

impl Listed for Zone {
    type Query = ZoneQuery;

    async fn rows(state: &AppState, q: ZoneQuery) -> ApiResult<Vec<Zone>> {
        let page = Page::from_query(q.skip, q.limit, 100)?;
        Ok(state
            .store
            .list_zones(q.floor_plan_id, page.skip, page.limit)
            .await?)
    }
}

impl Editable for Zone {
    /// The plan (from the path) and the body.
    type Create = (i64, ZoneCreate);
    type Update = ZoneUpdate;
    type Draft = Zone;

    fn new(_: &AppState, (plan, body): (i64, ZoneCreate), checks: &mut Checks) -> Zone {
        let zone = Zone {
            floor_plan_id: plan,
            name: body.name.trim().to_string(),
            color: clean(body.color),
            points: check_points(checks, &body.points),
            ..Zone::default()
        };
        check(checks, &zone);
        zone
    }

    fn apply(_: &AppState, mut z: Zone, body: ZoneUpdate, checks: &mut Checks) -> Zone {
        checks.not_null("name", &body.name);
        checks.not_null("points", &body.points);
        body.name
            .map(|v| v.trim().to_string())
            .apply_to(&mut z.name);
        body.color.trimmed().apply_to_option(&mut z.color);
        if let Some(points) = body.points.value() {
            z.points = check_points(checks, points);
        }
        check(checks, &z);
        z
    }

    async fn save(state: &AppState, z: Zone) -> ApiResult<Zone> {
        Ok(state.store.save_zone(&z).await?)
    }
}

resource_routes! {
    Zone => ZoneRead, "zones", "/zones", "/zones/{zone_id}", ("zone_id", "Zone id");
    list(AuthUser, ZoneQuery) "zones_list", "List zones, by id", [Invalid];
    read(AuthUser) "zones_read", "Read a zone", [NotFound];
    update(AdminUser, patch, ZoneUpdate) "zones_update", "Update a zone (partial)",
        [NotFound, Invalid];
    /// Rules on the zone stay, disabled by the alert engine with the reason.
    remove(AdminUser) "zones_remove", "Delete a zone", [Deleted, NotFound];
}

fn check(checks: &mut Checks, z: &Zone) {
    checks.text("name", &z.name, 255);
    if let Some(color) = z.color.as_deref() {
        let hex = color.strip_prefix('#').unwrap_or("");
        if !matches!(hex.len(), 3 | 6) || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            checks.push(
                "color",
                "value_error",
                "must be a colour as #rgb or #rrggbb",
            );
        }
    }
}

/// The points as stored (JSON text); a polygon that cannot be a zone is named in `checks`.
fn check_points(checks: &mut Checks, points: &[ZonePoint]) -> String {
    let vertices = points
        .iter()
        .map(|p| crate::geometry::Point { x: p.x, y: p.y })
        .collect();
    if let Err(err) = Polygon::new(vertices) {
        checks.push("points", "value_error", err.to_string());
    }
    serde_json::to_string(points).unwrap_or_default()
}

#[utoipa::path(
    get,
    path = "/floor-plans/{floor_plan_id}/zones",
    operation_id = "floor_plans_zones",
    tag = "zones",
    summary = "Zones drawn on a floor plan, by id",
    params(("floor_plan_id" = i64, Path, description = "Floor plan id")),
    responses((status = 200, body = Vec<ZoneRead>), NotFound),
)]
async fn zones_of_plan(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(plan): ApiPath<i64>,
) -> ApiResult<Json<Vec<ZoneRead>>> {
    find::<FloorPlan>(&state, plan).await?;
    let zones = state.store.list_zones(Some(plan), 0, i64::MAX).await?;
    Ok(Json(zones.iter().map(ZoneRead::from).collect()))
}

#[utoipa::path(
    post,
    path = "/floor-plans/{floor_plan_id}/zones",
    operation_id = "zones_create",
    tag = "zones",
    summary = "Draw a zone on a floor plan",
    params(("floor_plan_id" = i64, Path, description = "Floor plan id")),
    request_body = ZoneCreate,
    responses((status = 201, body = ZoneRead), NotFound, Invalid),
)]
async fn create_on_plan(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(plan): ApiPath<i64>,
    ApiJson(body): ApiJson<ZoneCreate>,
) -> ApiResult<(StatusCode, Json<ZoneRead>)> {
    find::<FloorPlan>(&state, plan).await?;
    let zone = super::resource::create::<Zone>(&state, &user, (plan, body)).await?;
    Ok((StatusCode::CREATED, Json(zone)))
}
