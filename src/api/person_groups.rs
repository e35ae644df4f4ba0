//! `/person-groups`, with their members.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::changes::{or_404, or_409, record};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, Page, PageQuery};
use super::people::PersonRead;
use super::validate::{Checks, Patch};
use crate::store::people::PersonGroup;

const NOT_FOUND: &str = "Person group not found";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/person-groups", get(list).post(create))
        .route(
            "/person-groups/{group_id}",
            get(read).put(update).delete(remove),
        )
        .route(
            "/person-groups/{group_id}/people",
            get(members).put(set_members),
        )
        .route("/person-groups/{group_id}/with-members", get(with_members))
}

#[derive(Debug, Serialize)]
struct PersonGroupRead {
    id: i64,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&PersonGroup> for PersonGroupRead {
    fn from(g: &PersonGroup) -> Self {
        PersonGroupRead {
            id: g.id,
            name: g.name.clone(),
            description: g.description.clone(),
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct PersonGroupWithMembers {
    #[serde(flatten)]
    group: PersonGroupRead,
    people: Vec<PersonRead>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GroupBody {
    name: Patch<String>,
    description: Patch<String>,
}

#[derive(Debug, Deserialize)]
struct MembersBody {
    people_ids: Vec<i64>,
}

fn duplicate(name: &str) -> String {
    format!("A person group named '{name}' already exists")
}

async fn save(
    state: &AppState,
    user: &crate::store::users::User,
    mut g: PersonGroup,
    body: GroupBody,
    creating: bool,
) -> ApiResult<PersonGroup> {
    let mut checks = Checks::new();
    if creating && body.name.is_absent() {
        checks.push("name", "missing", "Field required");
    }
    checks.not_null("name", &body.name);
    body.name
        .map(|v| v.trim().to_string())
        .apply_to(&mut g.name);
    body.description
        .trimmed()
        .apply_to_option(&mut g.description);
    if !checks.has_errors() {
        checks.text("name", &g.name, 255);
    }
    checks.max_len("description", g.description.as_deref(), 1024);
    checks.finish()?;
    let saved = or_409(state.store.save_person_group(&g).await, || {
        duplicate(&g.name)
    })?;
    let (action, event) = if creating {
        ("create", "PERSON_GROUP_CREATED")
    } else {
        ("update", "PERSON_GROUP_UPDATED")
    };
    record(
        state,
        user,
        action,
        "person_group",
        saved.id,
        event,
        json!({"group_id": saved.id, "name": saved.name}),
    )
    .await?;
    Ok(saved)
}

async fn list(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Vec<PersonGroupRead>>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let groups = state
        .store
        .list_person_groups(page.skip, page.limit)
        .await?;
    Ok(Json(groups.iter().map(PersonGroupRead::from).collect()))
}

async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<PersonGroupRead>)> {
    let g = save(&state, &user, PersonGroup::default(), body, true).await?;
    Ok((StatusCode::CREATED, Json(PersonGroupRead::from(&g))))
}

async fn read(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PersonGroupRead>> {
    Ok(Json(PersonGroupRead::from(&or_404(
        state.store.person_group(id).await,
        NOT_FOUND,
    )?)))
}

async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<Json<PersonGroupRead>> {
    let g = or_404(state.store.person_group(id).await, NOT_FOUND)?;
    Ok(Json(PersonGroupRead::from(
        &save(&state, &user, g, body, false).await?,
    )))
}

/// Deletes a group and its memberships. Refused while alert rules target the group:
/// without it they would apply to everybody.
async fn remove(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let g = or_404(state.store.person_group(id).await, NOT_FOUND)?;
    let rules = state.store.alert_rules_for_group(id).await?;
    if rules > 0 {
        return Err(ApiError::Conflict(format!(
            "{rules} alert rule(s) target this group; delete or change them first"
        )));
    }
    or_404(state.store.delete_person_group(id).await, NOT_FOUND)?;
    record(
        &state,
        &user,
        "delete",
        "person_group",
        id,
        "PERSON_GROUP_DELETED",
        json!({"group_id": id, "name": g.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn member_list(state: &AppState, id: i64) -> ApiResult<Vec<PersonRead>> {
    let people = state.store.group_members(id).await?;
    let ids: Vec<i64> = people.iter().map(|p| p.id).collect();
    let memberships = if ids.is_empty() {
        Vec::new()
    } else {
        state.store.memberships(&ids).await?
    };
    Ok(people
        .iter()
        .map(|p| PersonRead::new(p, &memberships))
        .collect())
}

async fn members(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<PersonRead>>> {
    or_404(state.store.person_group(id).await, NOT_FOUND)?;
    Ok(Json(member_list(&state, id).await?))
}

async fn with_members(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<PersonGroupWithMembers>> {
    let g = or_404(state.store.person_group(id).await, NOT_FOUND)?;
    Ok(Json(PersonGroupWithMembers {
        group: PersonGroupRead::from(&g),
        people: member_list(&state, id).await?,
    }))
}

/// Replaces the members with the existing people among `people_ids` (unknown ids are
/// ignored, as in the original).
async fn set_members(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MembersBody>,
) -> ApiResult<Json<PersonGroupWithMembers>> {
    or_404(state.store.person_group(id).await, NOT_FOUND)?;
    state.store.set_group_members(id, &body.people_ids).await?;
    let g = state.store.person_group(id).await?;
    let people = member_list(&state, id).await?;
    let ids: Vec<i64> = people.iter().map(|p| p.id).collect();
    record(
        &state,
        &user,
        "set_members",
        "person_group",
        id,
        "PERSON_GROUP_UPDATED",
        json!({"group_id": id, "name": g.name, "people_ids": ids}),
    )
    .await?;
    Ok(Json(PersonGroupWithMembers {
        group: PersonGroupRead::from(&g),
        people,
    }))
}
