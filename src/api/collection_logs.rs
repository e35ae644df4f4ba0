//! `/collection-logs`: stored readings. Anyone signed in may read them; only
//! administrators may add, correct or delete one (they are the evidence of where people
//! were, and the original let anyone inject them).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::require;
use super::error::ApiResult;
use super::extract::{AdminUser, ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::openapi::{AdminOnly, Deleted, Invalid, NotFound};
use super::resource::{Events, Resource, Tracked, resource_routes, find, record_saved};
use super::validate::{Checks, Patch};
use crate::events::{EventType, payload};
use crate::store::devices::Device;
use crate::store::people::Tag;
use crate::store::readings::{Reading, ReadingFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReadingQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    device_id: Option<i64>,
    tag_id: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ReadingCreate {
    device_id: i64,
    tag_id: i64,
    rssi: Option<i32>,
    raw_payload: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default)]
struct ReadingUpdate {
    #[schema(value_type = Option<i32>)]
    rssi: Patch<i32>,
    #[schema(value_type = Option<String>)]
    raw_payload: Patch<String>,
}

impl Resource for Reading {
    const NOT_FOUND: &'static str = "Collection log not found";
    type Read = Reading;

    async fn show(_: &AppState, rows: Vec<Reading>) -> ApiResult<Vec<Reading>> {
        Ok(rows)
    }
}

impl Tracked for Reading {
    const EVENTS: Events = Events {
        created: EventType::CollectionLogCreated,
        updated: EventType::CollectionLogUpdated,
        deleted: EventType::CollectionLogDeleted,
    };

    fn payload(&self, _: EventType) -> Value {
        payload::reading(self)
    }
}

resource_routes! {
    Reading => Reading, "collection-logs", "/collection-logs", "/collection-logs/{log_id}",
        ("log_id", "Reading id");
    read(AuthUser) "collection_logs_read", "Read a reading", [NotFound];
    remove(AdminUser) "collection_logs_remove", "Delete a reading (administrators)",
        [Deleted, AdminOnly, NotFound];
}

fn check(checks: &mut Checks, r: &Reading) {
    if r.rssi.is_some_and(|v| !(-150..=20).contains(&v)) {
        checks.push("rssi", "value_error", "must be between -150 and 20 dBm");
    }
    checks.max_len("raw_payload", r.raw_payload.as_deref(), 4096);
}

#[utoipa::path(
    get,
    path = "/collection-logs",
    operation_id = "collection_logs_list",
    tag = "collection-logs",
    summary = "List readings, newest first",
    params(ReadingQuery),
    responses(
        (status = 200, body = Vec<Reading>),
        Invalid,
    ),
)]
async fn list(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<ReadingQuery>,
) -> ApiResult<Json<Vec<Reading>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let filter = ReadingFilter {
        device_id: q.device_id,
        tag_id: q.tag_id,
    };
    Ok(Json(
        state
            .store
            .list_readings(filter, page.skip, page.limit)
            .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/collection-logs",
    operation_id = "collection_logs_create",
    tag = "collection-logs",
    summary = "Record a reading by hand (administrators)",
    request_body = ReadingCreate,
    responses(
        (status = 201, body = Reading),
        AdminOnly, Invalid,
    ),
)]
async fn create(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiJson(body): ApiJson<ReadingCreate>,
) -> ApiResult<(StatusCode, Json<Reading>)> {
    let new = Reading {
        device_id: body.device_id,
        tag_id: body.tag_id,
        rssi: body.rssi,
        raw_payload: body.raw_payload,
        ..Reading::default()
    };
    let mut checks = Checks::new();
    check(&mut checks, &new);
    checks.finish()?;
    require::<Device>(&state, "device_id", Some(new.device_id)).await?;
    require::<Tag>(&state, "tag_id", Some(new.tag_id)).await?;
    let r = state.store.save_reading(&new).await?;
    // Heard like a report: the tag's position and presence follow.
    state.pipeline.heard(&r).await;
    record_saved(&state, &user, &r, true).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[utoipa::path(
    put,
    path = "/collection-logs/{log_id}",
    operation_id = "collection_logs_update",
    tag = "collection-logs",
    summary = "Correct the RSSI or raw payload of a reading (administrators)",
    params(("log_id" = i64, Path, description = "Reading id")),
    request_body = ReadingUpdate,
    responses(
        (status = 200, body = Reading),
        AdminOnly, NotFound, Invalid,
    ),
)]
async fn update(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReadingUpdate>,
) -> ApiResult<Json<Reading>> {
    let mut r: Reading = find(&state, id).await?;
    body.rssi.apply_to_option(&mut r.rssi);
    body.raw_payload.apply_to_option(&mut r.raw_payload);
    let mut checks = Checks::new();
    check(&mut checks, &r);
    checks.finish()?;
    let r = state.store.save_reading(&r).await?;
    record_saved(&state, &user, &r, false).await?;
    Ok(Json(r))
}
