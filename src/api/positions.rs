//! `/positions/current`, `/positions/by-device` and `/people/{id}/current-location`: where
//! everybody is now, answered from the pipeline's tag state (the strongest smoothed signal,
//! with hysteresis; not just the latest reading as in the original), with the original's
//! fields plus the estimate on the plan (`x`, `y` as fractions of the image) and `rssi`.
//!
//! The state lives in memory on the node that received the readings; with several nodes
//! behind an external broker each answers for the share of gateways it consumes.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::or_404;
use super::error::{ApiError, ApiResult, ErrorBody, FieldError};
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::openapi::Invalid;
use crate::ingest::locate::TagPosition;
use crate::mac;
use crate::store::devices::{Device, DeviceFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current))
        .routes(routes!(by_device))
        .routes(routes!(person_location))
}

/// Where one person is.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonCurrentLocation {
    person_id: i64,
    person_full_name: String,
    tag_id: i64,
    tag_mac_address: String,
    device_id: i64,
    device_name: String,
    device_mac_address: Option<String>,
    device_pos_x: Option<f64>,
    device_pos_y: Option<f64>,
    floor_plan_id: i64,
    floor_plan_name: String,
    floor_plan_image_url: Option<String>,
    floor_id: i64,
    floor_name: String,
    building_id: i64,
    building_name: String,
    last_seen_at: DateTime<Utc>,
    /// The estimate on the plan, fractions (0–1) of the image.
    x: Option<f64>,
    y: Option<f64>,
    /// The estimate in metres from the plan's top-left corner, and its uncertainty (when
    /// the plan has `width_m`/`height_m`).
    x_m: Option<f64>,
    y_m: Option<f64>,
    accuracy_m: Option<f64>,
    /// Smoothed RSSI at the device, dBm.
    rssi: Option<f64>,
}

/// Who is at one device.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeviceCurrentOccupancy {
    device_id: i64,
    device_name: String,
    device_mac_address: Option<String>,
    device_pos_x: Option<f64>,
    device_pos_y: Option<f64>,
    floor_plan_id: i64,
    floor_plan_name: String,
    floor_plan_image_url: Option<String>,
    floor_id: i64,
    floor_name: String,
    building_id: i64,
    building_name: String,
    people: Vec<PersonCurrentLocation>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PositionQuery {
    building_id: Option<i64>,
    floor_id: Option<i64>,
    floor_plan_id: Option<i64>,
    device_id: Option<i64>,
    group_id: Option<i64>,
    /// Only people marked active (default true).
    only_active_people: Option<bool>,
    /// Window in seconds (0: no window; default `devices.position_stale_seconds`).
    max_age_seconds: Option<i64>,
}

/// Everything a location row is made of, read once per request. With `only_active_people`,
/// positions of deactivated people are left out.
async fn locate(
    state: &AppState,
    positions: Vec<TagPosition>,
    only_active_people: bool,
) -> ApiResult<Vec<PersonCurrentLocation>> {
    let store = &state.store;
    let tags: HashMap<i64, _> = store
        .list_tags(None, 0, i64::MAX)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let people: HashMap<i64, _> = store
        .list_people(0, i64::MAX)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let devices: HashMap<i64, Device> = store
        .list_devices(&DeviceFilter::default(), 0, i64::MAX)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let plans: HashMap<i64, _> = store
        .list_floor_plans(None, 0, i64::MAX)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let floors: HashMap<i64, _> = store
        .list_floors(None, 0, i64::MAX)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let buildings: HashMap<i64, _> = store
        .list_buildings(0, i64::MAX)
        .await?
        .into_iter()
        .map(|b| (b.id, b))
        .collect();
    let mut rows = Vec::new();
    for p in positions {
        let Some(tag) = tags.get(&p.tag_id) else {
            continue;
        };
        let Some(person) = tag.person_id.and_then(|id| people.get(&id)) else {
            continue;
        };
        if only_active_people && !person.active {
            continue;
        }
        let Some(device) = devices.get(&p.device_id) else {
            continue;
        };
        let Some(plan) = device.floor_plan_id.and_then(|id| plans.get(&id)) else {
            continue;
        };
        let Some(floor) = floors.get(&plan.floor_id) else {
            continue;
        };
        let Some(building) = buildings.get(&floor.building_id) else {
            continue;
        };
        let on_this_plan = p.floor_plan_id == Some(plan.id);
        rows.push(PersonCurrentLocation {
            person_id: person.id,
            person_full_name: person.full_name.clone(),
            tag_id: tag.id,
            tag_mac_address: mac::display_stored(&tag.mac_address),
            device_id: device.id,
            device_name: device.name.clone(),
            device_mac_address: device.mac_address.as_deref().map(mac::display_stored),
            device_pos_x: device.pos_x,
            device_pos_y: device.pos_y,
            floor_plan_id: plan.id,
            floor_plan_name: plan.name.clone(),
            floor_plan_image_url: plan.image_url.clone(),
            floor_id: floor.id,
            floor_name: floor.name.clone(),
            building_id: building.id,
            building_name: building.name.clone(),
            last_seen_at: p.last_seen_at,
            x: p.x.filter(|_| on_this_plan),
            y: p.y.filter(|_| on_this_plan),
            x_m: p.x_m.filter(|_| on_this_plan),
            y_m: p.y_m.filter(|_| on_this_plan),
            accuracy_m: p.accuracy_m.filter(|_| on_this_plan),
            rssi: p.rssi,
        });
    }
    Ok(rows)
}

/// One row per person (their most recently heard tag), filtered and sorted as the
/// original did. A person's newest tag decides where they are, before any filter.
async fn current_rows(
    state: &AppState,
    q: &PositionQuery,
) -> ApiResult<Vec<PersonCurrentLocation>> {
    let window = match q.max_age_seconds {
        Some(seconds) if !(0..=86_400).contains(&seconds) => {
            return Err(ApiError::invalid(FieldError::new(
                "less_than_equal",
                &["query", "max_age_seconds"],
                "must be between 0 and 86400",
            )));
        }
        Some(0) => None,
        Some(seconds) => Some(seconds),
        None => Some(i64::from(state.config.devices.position_stale_seconds)),
    };
    let cutoff = window.map(|w| Utc::now() - chrono::Duration::seconds(w));
    let positions: Vec<TagPosition> = state
        .pipeline
        .positions()
        .into_iter()
        .filter(|p| cutoff.is_none_or(|c| p.last_seen_at >= c))
        .collect();
    let only_active = q.only_active_people.unwrap_or(true);
    let mut newest: HashMap<i64, PersonCurrentLocation> = HashMap::new();
    for row in locate(state, positions, only_active).await? {
        match newest.get(&row.person_id) {
            Some(existing) if existing.last_seen_at >= row.last_seen_at => {}
            _ => {
                newest.insert(row.person_id, row);
            }
        }
    }
    let members: Option<HashSet<i64>> = match q.group_id {
        Some(group) => Some(
            state
                .store
                .group_members(group)
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect(),
        ),
        None => None,
    };
    let mut rows: Vec<PersonCurrentLocation> = newest
        .into_values()
        .filter(|r| q.device_id.is_none_or(|d| r.device_id == d))
        .filter(|r| q.floor_plan_id.is_none_or(|p| r.floor_plan_id == p))
        .filter(|r| q.floor_id.is_none_or(|f| r.floor_id == f))
        .filter(|r| q.building_id.is_none_or(|b| r.building_id == b))
        .filter(|r| members.as_ref().is_none_or(|m| m.contains(&r.person_id)))
        .collect();
    rows.sort_by(|a, b| {
        (
            a.building_id,
            a.floor_plan_id,
            a.device_id,
            &a.person_full_name,
        )
            .cmp(&(
                b.building_id,
                b.floor_plan_id,
                b.device_id,
                &b.person_full_name,
            ))
    });
    Ok(rows)
}

#[utoipa::path(
    get,
    path = "/positions/current",
    operation_id = "positions_current",
    tag = "positions",
    summary = "Where every tagged person is now, one row per person",
    params(PositionQuery),
    responses(
        (status = 200, body = Vec<PersonCurrentLocation>),
        Invalid,
    ),
)]
async fn current(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<PositionQuery>,
) -> ApiResult<Json<Vec<PersonCurrentLocation>>> {
    Ok(Json(current_rows(&state, &q).await?))
}

#[utoipa::path(
    get,
    path = "/positions/by-device",
    operation_id = "positions_by_device",
    tag = "positions",
    summary = "Who is at each gateway now (devices with nobody are not listed)",
    params(PositionQuery),
    responses(
        (status = 200, body = Vec<DeviceCurrentOccupancy>),
        Invalid,
    ),
)]
async fn by_device(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<PositionQuery>,
) -> ApiResult<Json<Vec<DeviceCurrentOccupancy>>> {
    let mut groups: Vec<DeviceCurrentOccupancy> = Vec::new();
    for row in current_rows(&state, &q).await? {
        match groups.iter_mut().find(|g| g.device_id == row.device_id) {
            Some(group) => group.people.push(row),
            None => groups.push(DeviceCurrentOccupancy {
                device_id: row.device_id,
                device_name: row.device_name.clone(),
                device_mac_address: row.device_mac_address.clone(),
                device_pos_x: row.device_pos_x,
                device_pos_y: row.device_pos_y,
                floor_plan_id: row.floor_plan_id,
                floor_plan_name: row.floor_plan_name.clone(),
                floor_plan_image_url: row.floor_plan_image_url.clone(),
                floor_id: row.floor_id,
                floor_name: row.floor_name.clone(),
                building_id: row.building_id,
                building_name: row.building_name.clone(),
                people: vec![row],
            }),
        }
    }
    for group in &mut groups {
        group
            .people
            .sort_by_key(|p| std::cmp::Reverse(p.last_seen_at));
    }
    groups.sort_by(|a, b| {
        (a.building_id, a.floor_plan_id, &a.device_name).cmp(&(
            b.building_id,
            b.floor_plan_id,
            &b.device_name,
        ))
    });
    Ok(Json(groups))
}

#[utoipa::path(
    get,
    path = "/people/{person_id}/current-location",
    operation_id = "people_current_location",
    tag = "people",
    summary = "Where one person was last located (no time window)",
    params(("person_id" = i64, Path, description = "Person id")),
    responses(
        (status = 200, body = PersonCurrentLocation),
        (status = 404, description = "Person, tags or location not found", body = ErrorBody),
    ),
)]
async fn person_location(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PersonCurrentLocation>> {
    or_404(state.store.person(id).await, "Person not found")?;
    let tags: HashSet<i64> = state
        .store
        .list_tags(Some(id), 0, i64::MAX)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    if tags.is_empty() {
        return Err(ApiError::not_found("No tags associated with this person"));
    }
    let positions: Vec<TagPosition> = state
        .pipeline
        .positions()
        .into_iter()
        .filter(|p| tags.contains(&p.tag_id))
        .collect();
    if positions.is_empty() {
        return Err(ApiError::not_found(
            "No collection logs found for this person's tags",
        ));
    }
    locate(&state, positions, false)
        .await?
        .into_iter()
        .max_by_key(|r| r.last_seen_at)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Floor plan not found"))
}
