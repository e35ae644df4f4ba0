//! `/people`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::require_all;
use super::error::ApiResult;
use super::extract::{AuthUser, PageQuery};
use super::openapi::{Deleted, Invalid, NotFound};
use super::resource::{self, Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, Patch, patch_body};
use crate::events::EventType::{PersonCreated, PersonDeleted, PersonUpdated};
use crate::events::{EventType, payload};
use crate::store::people::{Membership, Person, PersonGroup};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
}

/// A person as the API shows it, with the fields the original added later (`cpf`,
/// `status`) and the groups the existing console expects.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PersonRead {
    pub id: i64,
    pub full_name: String,
    pub document_id: Option<String>,
    pub cpf: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub user_type: Option<i32>,
    pub active: bool,
    pub status: &'static str,
    pub notes: Option<String>,
    pub groups: Vec<GroupRef>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PersonRead {
    pub fn new(p: &Person, memberships: &[Membership]) -> Self {
        PersonRead {
            id: p.id,
            full_name: p.full_name.clone(),
            document_id: p.document_id.clone(),
            cpf: p.document_id.clone(),
            email: p.email.clone(),
            phone: p.phone.clone(),
            user_type: p.user_type,
            active: p.active,
            status: if p.active { "ACTIVE" } else { "INACTIVE" },
            notes: p.notes.clone(),
            groups: memberships
                .iter()
                .filter(|m| m.person_id == p.id)
                .map(|m| GroupRef {
                    id: m.group_id,
                    name: m.group_name.clone(),
                })
                .collect(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl Resource for Person {
    const NOT_FOUND: &'static str = "Person not found";
    type Read = PersonRead;

    async fn show(state: &AppState, people: Vec<Person>) -> ApiResult<Vec<PersonRead>> {
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
}

impl Tracked for Person {
    const EVENTS: Events = Events::new(PersonCreated, PersonUpdated, PersonDeleted);

    fn payload(&self, event: EventType) -> Value {
        payload::person(self, event)
    }
}

patch_body! {
    /// Create and update body; `name` and `cpf` are accepted as the original's aliases.
    pub struct PersonBody {
        #[serde(alias = "name")]
        full_name: String,
        #[serde(alias = "cpf")]
        document_id: String,
        email: String,
        phone: String,
        user_type: i32,
        #[serde(alias = "is_active")]
        active: bool,
        notes: String,
        /// Replaces the person's group memberships when present.
        group_ids: Vec<i64>,
    }
}

impl Listed for Person {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<Person>> {
        resource::page(state, q).await
    }
}

impl Editable for Person {
    type Create = PersonBody;
    type Update = PersonBody;
    /// With the group ids that replace its memberships, if the body gave them.
    type Draft = (Person, Option<Vec<i64>>);

    fn new(state: &AppState, body: PersonBody, checks: &mut Checks) -> Self::Draft {
        if body.full_name.is_absent() {
            checks.push("full_name", "missing", "Field required");
        }
        let new = Person {
            active: true,
            ..Person::default()
        };
        Self::apply(state, new, body, checks)
    }

    fn apply(_: &AppState, mut p: Person, body: PersonBody, checks: &mut Checks) -> Self::Draft {
        checks.not_null("full_name", &body.full_name);
        checks.not_null("active", &body.active);
        body.full_name
            .map(|v| v.trim().to_string())
            .apply_to(&mut p.full_name);
        body.document_id
            .trimmed()
            .apply_to_option(&mut p.document_id);
        body.email.trimmed().apply_to_option(&mut p.email);
        body.phone.trimmed().apply_to_option(&mut p.phone);
        body.user_type.apply_to_option(&mut p.user_type);
        body.active.apply_to(&mut p.active);
        body.notes.trimmed().apply_to_option(&mut p.notes);
        if !checks.has_errors() {
            checks.text("full_name", &p.full_name, 255);
        }
        checks.max_len("document_id", p.document_id.as_deref(), 64);
        checks.max_len("email", p.email.as_deref(), 255);
        checks.max_len("phone", p.phone.as_deref(), 32);
        checks.max_len("notes", p.notes.as_deref(), 1024);
        let group_ids = match body.group_ids {
            Patch::Value(ids) => Some(ids),
            Patch::Null => Some(Vec::new()),
            Patch::Absent => None,
        };
        (p, group_ids)
    }

    async fn save(state: &AppState, (p, group_ids): Self::Draft) -> ApiResult<Person> {
        if let Some(ids) = &group_ids {
            require_all::<PersonGroup>(state, "group_ids", "person group", ids).await?;
        }
        Ok(state.store.save_person(&p, group_ids.as_deref()).await?)
    }
}

resource_routes! {
    Person => PersonRead, "people", "/people", "/people/{person_id}",
        ("person_id", "Person id");
    list(AuthUser, PageQuery) "people_list", "List people with their groups, by id",
        [Invalid];
    create(AuthUser, PersonBody, CREATED) "people_create", "Create a person", [Invalid];
    read(AuthUser) "people_read", "Read a person", [NotFound];
    update(AuthUser, put, PersonBody) "people_update",
        "Update a person (partial; group_ids replaces the memberships)", [NotFound, Invalid];
    /// Deletes a person. Their tags stay registered, unassigned; alert history keeps its
    /// events without the person.
    remove(AuthUser) "people_remove", "Delete a person; their tags stay, unassigned",
        [Deleted, NotFound];
}
