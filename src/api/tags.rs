//! `/tags`: BLE tags, found by any spelling of their MAC.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::changes::{or_404, or_409, record, require};
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page};
use super::validate::{Checks, Patch};
use crate::mac;
use crate::store::groups::Table;
use crate::store::people::Tag;

const NOT_FOUND: &str = "Tag not found";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tags", get(list).post(create))
        .route("/tags/by-mac/{mac_address}", get(by_mac))
        .route("/tags/{tag_id}", get(read).put(update).delete(remove))
}

/// A tag as the API shows it; `is_active` repeats `active` for the existing console.
#[derive(Debug, Serialize)]
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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TagBody {
    mac_address: Patch<String>,
    label: Patch<String>,
    person_id: Patch<i64>,
    #[serde(alias = "is_active")]
    active: Patch<bool>,
    notes: Patch<String>,
}

#[derive(Deserialize)]
struct TagQuery {
    skip: Option<i64>,
    limit: Option<i64>,
    person_id: Option<i64>,
}

fn payload(t: &Tag) -> serde_json::Value {
    json!({
        "tag_id": t.id, "code": null, "mac_address": mac::display_stored(&t.mac_address),
        "person_id": t.person_id, "label": t.label,
    })
}

async fn save(
    state: &AppState,
    user: &crate::store::users::User,
    mut t: Tag,
    body: TagBody,
    creating: bool,
) -> ApiResult<Tag> {
    let mut checks = Checks::new();
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
    checks.finish()?;
    require(state, Table::Person, "person_id", t.person_id).await?;
    let display = mac::display_stored(&t.mac_address);
    let saved = or_409(state.store.save_tag(&t).await, || {
        format!("A tag with MAC {display} already exists")
    })?;
    let (action, event) = if creating {
        ("create", "TAG_CREATED")
    } else {
        ("update", "TAG_UPDATED")
    };
    record(state, user, action, "tag", saved.id, event, payload(&saved)).await?;
    Ok(saved)
}

async fn list(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<TagQuery>,
) -> ApiResult<Json<Vec<TagRead>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let tags = state
        .store
        .list_tags(q.person_id, page.skip, page.limit)
        .await?;
    Ok(Json(tags.iter().map(TagRead::from).collect()))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<TagBody>,
) -> ApiResult<(StatusCode, Json<TagRead>)> {
    let t = save(
        &state,
        &user,
        Tag {
            active: true,
            ..Tag::default()
        },
        body,
        true,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(TagRead::from(&t))))
}

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
        NOT_FOUND,
    )?)))
}

async fn read(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TagRead>> {
    Ok(Json(TagRead::from(&or_404(
        state.store.tag(id).await,
        NOT_FOUND,
    )?)))
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TagBody>,
) -> ApiResult<Json<TagRead>> {
    let t = or_404(state.store.tag(id).await, NOT_FOUND)?;
    Ok(Json(TagRead::from(
        &save(&state, &user, t, body, false).await?,
    )))
}

/// Deletes a tag with its readings and presence sessions.
async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let t = or_404(state.store.tag(id).await, NOT_FOUND)?;
    or_404(state.store.delete_tag(id).await, NOT_FOUND)?;
    record(
        &state,
        &user,
        "delete",
        "tag",
        id,
        "TAG_DELETED",
        payload(&t),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
