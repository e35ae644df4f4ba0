//! `/support-groups`: operator teams (admins only).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{Change, or_404, or_409, record};
use super::error::{ApiError, ApiResult};
use super::extract::AdminUser;
use super::openapi::{AdminOnly, Conflict, Deleted, Invalid, NotFound};
use super::resource::{Editable, Events, Listed, Resource, Tracked, resource_routes};
use super::validate::{Checks, Patch, patch_body};
use crate::events::EventType::{SupportGroupCreated, SupportGroupDeleted, SupportGroupUpdated};
use crate::events::{EventType, payload};
use crate::store::groups::{SupportGroup, UserShort};
use crate::store::users::User;

const DUPLICATE: &str = "Já existe um grupo com esse nome.";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupportGroupRead {
    id: i64,
    name: String,
    description: Option<String>,
    is_active: bool,
    default_sla_minutes: Option<i32>,
    chatwoot_inbox_identifier: Option<String>,
    chatwoot_team_id: Option<i64>,
    members: Vec<UserShort>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn read_model(g: &SupportGroup, members: &[UserShort]) -> SupportGroupRead {
    SupportGroupRead {
        id: g.id,
        name: g.name.clone(),
        description: g.description.clone(),
        is_active: g.is_active,
        default_sla_minutes: g.default_sla_minutes,
        chatwoot_inbox_identifier: g.chatwoot_inbox_identifier.clone(),
        chatwoot_team_id: g.chatwoot_team_id,
        members: members
            .iter()
            .filter(|m| m.group_id == g.id)
            .cloned()
            .collect(),
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

impl Resource for SupportGroup {
    const NOT_FOUND: &'static str = "Grupo não encontrado";
    type Read = SupportGroupRead;

    async fn show(state: &AppState, groups: Vec<SupportGroup>) -> ApiResult<Vec<SupportGroupRead>> {
        let members = state.store.support_group_members().await?;
        Ok(groups.iter().map(|g| read_model(g, &members)).collect())
    }
}

impl Tracked for SupportGroup {
    const EVENTS: Events = Events::new(
        SupportGroupCreated,
        SupportGroupUpdated,
        SupportGroupDeleted,
    );

    fn payload(&self, _: EventType) -> Value {
        payload::support_group(self, None)
    }

    /// Refused while incidents are assigned to the group.
    async fn delete(state: &AppState, g: &SupportGroup) -> ApiResult<()> {
        if state.store.incidents_for_support_group(g.id).await? > 0 {
            return Err(ApiError::Conflict(
                "Grupo possui incidentes associados. Desative o grupo em vez de deletar.".into(),
            ));
        }
        or_404(
            state.store.delete_support_group(g.id).await,
            Self::NOT_FOUND,
        )
    }
}

patch_body! {
    pub struct SupportGroupBody {
        name: String,
        description: String,
        is_active: bool,
        default_sla_minutes: i32,
        chatwoot_inbox_identifier: String,
        chatwoot_team_id: i64,
        /// Replaces the members (with the existing users among them) when present.
        member_ids: Vec<i64>,
    }
}

impl Listed for SupportGroup {
    type Query = ();

    async fn rows(state: &AppState, (): ()) -> ApiResult<Vec<SupportGroup>> {
        Ok(state.store.list_support_groups().await?)
    }
}

impl Editable for SupportGroup {
    type Create = SupportGroupBody;
    type Update = SupportGroupBody;
    /// With the user ids that replace its members, if any.
    type Draft = (SupportGroup, Option<Vec<i64>>);

    fn new(_: &AppState, body: SupportGroupBody, checks: &mut Checks) -> Self::Draft {
        if body.name.is_absent() {
            checks.push("name", "missing", "Field required");
        }
        let new = SupportGroup {
            is_active: true,
            ..SupportGroup::default()
        };
        fill(new, body, checks, true)
    }

    fn apply(
        _: &AppState,
        g: SupportGroup,
        body: SupportGroupBody,
        checks: &mut Checks,
    ) -> Self::Draft {
        fill(g, body, checks, false)
    }

    async fn save(state: &AppState, (g, member_ids): Self::Draft) -> ApiResult<SupportGroup> {
        or_409(
            state
                .store
                .save_support_group(&g, member_ids.as_deref())
                .await,
            || DUPLICATE.into(),
        )
    }

    /// With its members in the payload.
    async fn saved(
        state: &AppState,
        user: &User,
        g: &SupportGroup,
        creating: bool,
    ) -> ApiResult<()> {
        let read = read_model(g, &state.store.support_group_members().await?);
        let member_ids: Vec<i64> = read.members.iter().map(|m| m.id).collect();
        let payload = payload::support_group(g, Some(&member_ids));
        let event = Self::EVENTS.saved(creating);
        record(state, user, Change::new(event, g.id, payload)).await
    }
}

resource_routes! {
    SupportGroup => SupportGroupRead, "support-groups", "/support-groups",
        "/support-groups/{group_id}", ("group_id", "Group id");
    list(AdminUser) "support_groups_list", "List support groups, by name", [AdminOnly];
    /// Creates a group; 200 (not 201), as the original answered.
    create(AdminUser, SupportGroupBody, OK) "support_groups_create",
        "Create a support group (200, as the original)", [AdminOnly, Conflict, Invalid];
    read(AdminUser) "support_groups_read", "Read a support group", [AdminOnly, NotFound];
    update(AdminUser, put, SupportGroupBody) "support_groups_update",
        "Update a support group (partial; member_ids replaces the members)",
        [AdminOnly, NotFound, Conflict, Invalid];
    remove(AdminUser) "support_groups_remove",
        "Delete a support group (refused while incidents are assigned to it)",
        [Deleted, AdminOnly, NotFound, Conflict];
}

/// `body` applied to `g`; a new group has no members unless the body names them.
fn fill(
    mut g: SupportGroup,
    body: SupportGroupBody,
    checks: &mut Checks,
    creating: bool,
) -> (SupportGroup, Option<Vec<i64>>) {
    checks.not_null("name", &body.name);
    checks.not_null("is_active", &body.is_active);
    body.name
        .map(|v| v.trim().to_string())
        .apply_to(&mut g.name);
    body.description
        .trimmed()
        .apply_to_option(&mut g.description);
    body.is_active.apply_to(&mut g.is_active);
    body.default_sla_minutes
        .apply_to_option(&mut g.default_sla_minutes);
    body.chatwoot_inbox_identifier
        .trimmed()
        .apply_to_option(&mut g.chatwoot_inbox_identifier);
    body.chatwoot_team_id
        .apply_to_option(&mut g.chatwoot_team_id);
    if !checks.has_errors() {
        checks.text("name", &g.name, 100);
    }
    checks.max_len(
        "chatwoot_inbox_identifier",
        g.chatwoot_inbox_identifier.as_deref(),
        255,
    );
    if g.default_sla_minutes.is_some_and(|m| m <= 0) {
        checks.push(
            "default_sla_minutes",
            "greater_than",
            "must be a positive number of minutes",
        );
    }
    let member_ids = match body.member_ids {
        Patch::Value(ids) => Some(ids),
        Patch::Absent if creating => Some(Vec::new()),
        _ => None,
    };
    (g, member_ids)
}
