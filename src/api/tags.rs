//! `/tags`: BLE tags, found by any spelling of their MAC.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{or_404, or_409, require};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiPath, AuthUser, Page};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::resource::{Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, Patch, patch_body};
use crate::events::EventType::{TagCreated, TagDeleted, TagUpdated};
use crate::events::{EventType, payload};
use crate::ingest::view::UnknownTag;
use crate::mac;
use crate::store::people::{Person, Tag};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(by_mac))
        .routes(routes!(unknown))
        .routes(routes!(read, update, remove))
}

/// A tag as the API shows it; `is_active` repeats `active` for the existing console.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagRead {
    pub id: i64,
    pub mac_address: String,
    pub label: Option<String>,
    pub person_id: Option<i64>,
    pub active: bool,
    pub is_active: bool,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Tag> for TagRead {
    fn from(t: &Tag) -> Self {
        TagRead {
            id: t.id,
            mac_address: mac::display_stored(&t.mac_address),
            label: t.label.clone(),
            person_id: t.person_id,
            active: t.active,
            is_active: t.active,
            notes: t.notes.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl Resource for Tag {
    const NOT_FOUND: &'static str = "Tag not found";
    type Read = TagRead;

    async fn show(_: &AppState, tags: Vec<Tag>) -> ApiResult<Vec<TagRead>> {
        Ok(tags.iter().map(TagRead::from).collect())
    }
}

impl Tracked for Tag {
    const EVENTS: Events = Events::new(TagCreated, TagUpdated, TagDeleted);

    fn payload(&self, _: EventType) -> Value {
        payload::tag(self)
    }

    async fn delete(state: &AppState, tag: &Tag) -> ApiResult<()> {
        or_404(state.store.delete_tag(tag.id).await, Self::NOT_FOUND)
    }
}

patch_body! {
    pub struct TagBody {
        mac_address: String,
        label: String,
        person_id: i64,
        #[serde(alias = "is_active")]
        active: bool,
        notes: String,
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    person_id: Option<i64>,
}

impl Listed for Tag {
    type Query = TagQuery;

    async fn rows(state: &AppState, q: TagQuery) -> ApiResult<Vec<Tag>> {
        let page = Page::from_query(q.skip, q.limit, 100)?;
        Ok(state
            .store
            .list_tags(q.person_id, page.skip, page.limit)
            .await?)
    }
}

impl Editable for Tag {
    type Create = TagBody;
    type Update = TagBody;
    type Draft = Tag;

    fn new(_: &AppState, body: TagBody, checks: &mut Checks) -> Tag {
        let new = Tag {
            active: true,
            ..Tag::default()
        };
        fill(new, body, checks, true)
    }

    fn apply(_: &AppState, t: Tag, body: TagBody, checks: &mut Checks) -> Tag {
        fill(t, body, checks, false)
    }

    async fn save(state: &AppState, t: Tag) -> ApiResult<Tag> {
        require::<Person>(state, "person_id", t.person_id).await?;
        let display = mac::display_stored(&t.mac_address);
        or_409(state.store.save_tag(&t).await, || {
            format!("A tag with MAC {display} already exists")
        })
    }
}

resource_routes! {
    Tag => TagRead, "tags", "/tags", "/tags/{tag_id}", ("tag_id", "Tag id");
    list(AuthUser, TagQuery) "tags_list", "List tags, by id", [Invalid];
    create(AuthUser, TagBody, CREATED) "tags_create", "Register a tag (any MAC spelling)",
        [Conflict, Invalid];
    read(AuthUser) "tags_read", "Read a tag", [NotFound];
    update(AuthUser, put, TagBody) "tags_update", "Update a tag (partial)",
        [NotFound, Conflict, Invalid];
    /// Deletes a tag with its readings and presence sessions.
    remove(AuthUser) "tags_remove", "Delete a tag with its readings", [Deleted, NotFound];
}

/// `body` applied to `t`; a tag is created with its MAC.
fn fill(mut t: Tag, body: TagBody, checks: &mut Checks, creating: bool) -> Tag {
    checks.not_null("mac_address", &body.mac_address);
    checks.not_null("active", &body.active);
    match &body.mac_address {
        Patch::Value(text) => match mac::canonical(text) {
            Some(m) => t.mac_address = m.as_str().to_string(),
            None => checks.push(
                "mac_address",
                "value_error",
                "not a MAC address (12 hex digits, e.g. AA:BB:CC:DD:EE:FF)",
            ),
        },
        Patch::Absent if creating => checks.push("mac_address", "missing", "Field required"),
        _ => {}
    }
    body.label.trimmed().apply_to_option(&mut t.label);
    body.person_id.apply_to_option(&mut t.person_id);
    body.active.apply_to(&mut t.active);
    body.notes.trimmed().apply_to_option(&mut t.notes);
    checks.max_len("label", t.label.as_deref(), 255);
    checks.max_len("notes", t.notes.as_deref(), 1024);
    t
}

#[utoipa::path(
    get,
    path = "/tags/by-mac/{mac_address}",
    operation_id = "tags_by_mac",
    tag = "tags",
    summary = "Find a tag by any spelling of its MAC",
    params(("mac_address" = String, Path, description = "MAC address, any spelling")),
    responses(
        (status = 200, body = TagRead),
        NotFound, Invalid,
    ),
)]
async fn by_mac(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(text): ApiPath<String>,
) -> ApiResult<Json<TagRead>> {
    let mac = mac::canonical(&text).ok_or_else(|| {
        ApiError::invalid(FieldError::new(
            "value_error",
            &["path", "mac_address"],
            "not a MAC address",
        ))
    })?;
    Ok(Json(TagRead::from(&or_404(
        state.store.tag_by_mac(&mac).await,
        Tag::NOT_FOUND,
    )?)))
}

#[utoipa::path(
    get,
    path = "/tags/unknown",
    operation_id = "tags_unknown",
    tag = "tags",
    summary = "Tags the gateways hear that nobody registered, most recently heard first (register one with POST /tags)",
    responses(
        (status = 200, body = Vec<UnknownTag>),
    ),
)]
async fn unknown(State(state): State<AppState>, _user: AuthUser) -> Json<Vec<UnknownTag>> {
    Json(state.pipeline.unknown_tags())
}
