//! `/collection-logs`: stored readings. Anyone signed in may read them; only
//! administrators may add, correct or delete one (they are the evidence of where people
//! were, and the original let anyone inject them).

use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::require;
use super::error::ApiResult;
use super::extract::{AdminUser, AuthUser, Page};
use super::openapi::{AdminOnly, Deleted, Invalid, NotFound};
use super::resource::{Editable, Events, Listed, Resource, Tracked, record_saved, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{CollectionLogCreated, CollectionLogDeleted, CollectionLogUpdated};
use crate::events::{EventType, payload};
use crate::store::devices::Device;
use crate::store::people::Tag;
use crate::store::readings::{Reading, ReadingFilter};
use crate::store::users::User;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadingQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    device_id: Option<i64>,
    tag_id: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReadingCreate {
    device_id: i64,
    tag_id: i64,
    rssi: Option<i32>,
    raw_payload: Option<String>,
}

patch_body! {
    pub struct ReadingUpdate {
        rssi: i32,
        raw_payload: String,
    }
}

impl Resource for Reading {
    const NOT_FOUND: &'static str = "Collection log not found";
    type Read = Reading;

    async fn show(_: &AppState, rows: Vec<Reading>) -> ApiResult<Vec<Reading>> {
        Ok(rows)
    }
}

impl Tracked for Reading {
    const EVENTS: Events = Events::new(
        CollectionLogCreated,
        CollectionLogUpdated,
        CollectionLogDeleted,
    );

    fn payload(&self, _: EventType) -> Value {
        payload::reading(self)
    }
}

impl Listed for Reading {
    type Query = ReadingQuery;

    async fn rows(state: &AppState, q: ReadingQuery) -> ApiResult<Vec<Reading>> {
        let page = Page::from_query(q.skip, q.limit, 100)?;
        let filter = ReadingFilter {
            device_id: q.device_id,
            tag_id: q.tag_id,
        };
        Ok(state
            .store
            .list_readings(filter, page.skip, page.limit)
            .await?)
    }
}

impl Editable for Reading {
    type Create = ReadingCreate;
    type Update = ReadingUpdate;
    type Draft = Reading;

    fn new(_: &AppState, body: ReadingCreate, checks: &mut Checks) -> Reading {
        let new = Reading {
            device_id: body.device_id,
            tag_id: body.tag_id,
            rssi: body.rssi,
            raw_payload: body.raw_payload,
            ..Reading::default()
        };
        check(checks, &new);
        new
    }

    fn apply(_: &AppState, mut r: Reading, body: ReadingUpdate, checks: &mut Checks) -> Reading {
        body.rssi.apply_to_option(&mut r.rssi);
        body.raw_payload.apply_to_option(&mut r.raw_payload);
        check(checks, &r);
        r
    }

    async fn save(state: &AppState, r: Reading) -> ApiResult<Reading> {
        // A stored reading's device and tag cannot change (id 0: a new one).
        if r.id == 0 {
            require::<Device>(state, "device_id", Some(r.device_id)).await?;
            require::<Tag>(state, "tag_id", Some(r.tag_id)).await?;
        }
        Ok(state.store.save_reading(&r).await?)
    }

    async fn saved(state: &AppState, user: &User, r: &Reading, creating: bool) -> ApiResult<()> {
        if creating {
            // Heard like a report: the tag's position and presence follow.
            state.pipeline.heard(r).await;
        }
        record_saved(state, user, r, creating).await
    }
}

resource_routes! {
    Reading => Reading, "collection-logs", "/collection-logs", "/collection-logs/{log_id}",
        ("log_id", "Reading id");
    list(AuthUser, ReadingQuery) "collection_logs_list", "List readings, newest first",
        [Invalid];
    create(AdminUser, ReadingCreate, CREATED) "collection_logs_create",
        "Record a reading by hand (administrators)", [AdminOnly, Invalid];
    read(AuthUser) "collection_logs_read", "Read a reading", [NotFound];
    update(AdminUser, put, ReadingUpdate) "collection_logs_update",
        "Correct the RSSI or raw payload of a reading (administrators)",
        [AdminOnly, NotFound, Invalid];
    remove(AdminUser) "collection_logs_remove", "Delete a reading (administrators)",
        [Deleted, AdminOnly, NotFound];
}

fn check(checks: &mut Checks, r: &Reading) {
    if r.rssi.is_some_and(|v| !(-150..=20).contains(&v)) {
        checks.push("rssi", "value_error", "must be between -150 and 20 dBm");
    }
    checks.max_len("raw_payload", r.raw_payload.as_deref(), 4096);
}
