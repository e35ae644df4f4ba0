//! `/person-groups`, with their members.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, or_409, record};
use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath, AuthUser, PageQuery};
use super::openapi::{Conflict, Deleted, Invalid, NotFound};
use super::people::PersonRead;
use super::resource::{self, Editable, Events, Listed, Resource, Tracked, find, resource_routes};
use super::validate::{Checks, patch_body};
use crate::events::EventType::{PersonGroupCreated, PersonGroupDeleted, PersonGroupUpdated};
use crate::events::{EventType, payload};
use crate::store::people::{Person, PersonGroup};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(members, set_members))
        .routes(routes!(with_members))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonGroupRead {
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

impl Resource for PersonGroup {
    const NOT_FOUND: &'static str = "Person group not found";
    type Read = PersonGroupRead;

    async fn show(_: &AppState, groups: Vec<PersonGroup>) -> ApiResult<Vec<PersonGroupRead>> {
        Ok(groups.iter().map(PersonGroupRead::from).collect())
    }
}

impl Tracked for PersonGroup {
    const EVENTS: Events = Events::new(PersonGroupCreated, PersonGroupUpdated, PersonGroupDeleted);

    fn payload(&self, _: EventType) -> Value {
        payload::person_group(self, None)
    }

    /// With its memberships; refused while alert rules target the group.
    async fn delete(state: &AppState, g: &PersonGroup) -> ApiResult<()> {
        let rules = state.store.alert_rules_for_group(g.id).await?;
        resource::untargeted(rules, "alert rule(s)")?;
        or_404(state.store.delete_person_group(g.id).await, Self::NOT_FOUND)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonGroupWithMembers {
    #[serde(flatten)]
    group: PersonGroupRead,
    people: Vec<PersonRead>,
}

patch_body! {
    pub struct PersonGroupBody {
        name: String,
        description: String,
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MembersBody {
    people_ids: Vec<i64>,
}

impl Listed for PersonGroup {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<PersonGroup>> {
        resource::page(state, q).await
    }
}

impl Editable for PersonGroup {
    type Create = PersonGroupBody;
    type Update = PersonGroupBody;
    type Draft = PersonGroup;

    fn new(state: &AppState, body: PersonGroupBody, checks: &mut Checks) -> PersonGroup {
        if body.name.is_absent() {
            checks.push("name", "missing", "Field required");
        }
        Self::apply(state, PersonGroup::default(), body, checks)
    }

    fn apply(
        _: &AppState,
        mut g: PersonGroup,
        body: PersonGroupBody,
        checks: &mut Checks,
    ) -> PersonGroup {
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
        g
    }

    async fn save(state: &AppState, g: PersonGroup) -> ApiResult<PersonGroup> {
        or_409(state.store.save_person_group(&g).await, || {
            format!("A person group named '{}' already exists", g.name)
        })
    }
}

resource_routes! {
    PersonGroup => PersonGroupRead, "person-groups", "/person-groups",
        "/person-groups/{group_id}", ("group_id", "Group id");
    list(AuthUser, PageQuery) "person_groups_list", "List person groups, by id", [Invalid];
    create(AuthUser, PersonGroupBody, CREATED) "person_groups_create",
        "Create a person group", [Conflict, Invalid];
    read(AuthUser) "person_groups_read", "Read a person group", [NotFound];
    update(AuthUser, put, PersonGroupBody) "person_groups_update",
        "Update a person group (partial)", [NotFound, Conflict, Invalid];
    nested(AuthUser, members: Vec<PersonRead> = member_list,
        "/person-groups/{group_id}/people") "person_groups_members", "Members of a group",
        [NotFound];
    nested(AuthUser, with_members: PersonGroupWithMembers = group_with_members,
        "/person-groups/{group_id}/with-members") "person_groups_with_members",
        "A group with its members", [NotFound];
    /// Deletes a group and its memberships. Refused while alert rules target the group:
    /// without it they would apply to everybody.
    remove(AuthUser) "person_groups_remove",
        "Delete a person group (refused while alert rules target it)",
        [Deleted, NotFound, Conflict];
}

async fn member_list(state: &AppState, id: i64) -> ApiResult<Vec<PersonRead>> {
    let people = state.store.group_members(id).await?;
    Person::show(state, people).await
}

async fn group_with_members(state: &AppState, id: i64) -> ApiResult<PersonGroupWithMembers> {
    Ok(PersonGroupWithMembers {
        group: PersonGroupRead::from(&find::<PersonGroup>(state, id).await?),
        people: member_list(state, id).await?,
    })
}

/// Replaces the members with the existing people among `people_ids` (unknown ids are
/// ignored, as in the original).
#[utoipa::path(
    put,
    path = "/person-groups/{group_id}/people",
    operation_id = "person_groups_set_members",
    tag = "person-groups",
    summary = "Replace the members (unknown people are ignored)",
    params(("group_id" = i64, Path, description = "Group id")),
    request_body = MembersBody,
    responses(
        (status = 200, body = PersonGroupWithMembers),
        NotFound, Invalid,
    ),
)]
async fn set_members(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MembersBody>,
) -> ApiResult<Json<PersonGroupWithMembers>> {
    find::<PersonGroup>(&state, id).await?;
    state.store.set_group_members(id, &body.people_ids).await?;
    let g = state.store.person_group(id).await?;
    let people = member_list(&state, id).await?;
    let ids: Vec<i64> = people.iter().map(|p| p.id).collect();
    let change = Change::new(
        EventType::PersonGroupUpdated,
        id,
        payload::person_group(&g, Some(&ids)),
    )
    .action("set_members");
    record(&state, &user, change).await?;
    Ok(Json(PersonGroupWithMembers {
        group: PersonGroupRead::from(&g),
        people,
    }))
}
