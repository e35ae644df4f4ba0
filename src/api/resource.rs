//! What the API's resources share, written once: listing, finding a record or answering
//! its own 404, showing rows as the API does, creating and updating (validate, save,
//! answer 409 on a duplicate, record the change), deleting; and [`resource_routes!`], which
//! declares those routes with their OpenAPI annotations.
//!
//! A resource adopts what it serves, one trait per step, and keeps only what differs:
//! - [`Resource`]: its 404 `detail` and its read model (`GET /things/{id}`);
//! - [`Listed`]: its query and how it fetches a page (`GET /things`);
//! - [`Tracked`]: its events and their payload, how it is deleted (`DELETE /things/{id}`);
//! - [`Editable`]: its bodies, how a body makes a new row ([`Editable::new`]) or changes a
//!   stored one ([`Editable::apply`]), each collecting every problem in [`Checks`], and how
//!   the result is saved ([`Editable::save`]: the references it needs, its own 409)
//!   (`POST /things`, `PUT` or `PATCH /things/{id}`).
//!
//! Then one [`resource_routes!`] declares the handlers (see `buildings.rs`), with the
//! nested lists under an item (`GET /things/{id}/parts`); a route that does something else
//! (a lookup by code, an upload, a custom answer) stays a handler of its own beside it. A
//! partial-update body is declared with [`patch_body!`](super::validate::patch_body).

use std::future::Future;

use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use super::changes::{Change, or_404, record};
use super::error::{ApiError, ApiResult};
use super::extract::{Page, PageQuery};
use super::validate::Checks;
use crate::events::EventType;
use crate::store::Record;
use crate::store::users::User;

/// A stored record the API serves by id.
pub trait Resource: Record + Sync {
    /// The `detail` of its 404.
    const NOT_FOUND: &'static str;
    /// What the API answers for one row.
    type Read: Serialize + Send;

    /// Shows rows as the API does; a read model that needs related rows loads them once
    /// for all the rows.
    fn show(
        state: &AppState,
        rows: Vec<Self>,
    ) -> impl Future<Output = ApiResult<Vec<Self::Read>>> + Send;
}

/// A resource the API lists, a page at a time.
pub trait Listed: Resource {
    /// The query of its list: paging and filters.
    type Query: DeserializeOwned + Send;

    /// The rows of one page, in the list's order.
    fn rows(
        state: &AppState,
        query: Self::Query,
    ) -> impl Future<Output = ApiResult<Vec<Self>>> + Send;
}

/// A resource whose changes go to the audit log and the event bus through [`record`].
pub trait Tracked: Resource {
    const EVENTS: Events;

    /// The payload of an event about this row alone.
    fn payload(&self, event: EventType) -> Value;

    /// Deletes `row`; by default the row alone (what refers to it follows the foreign
    /// keys).
    fn delete(state: &AppState, row: &Self) -> impl Future<Output = ApiResult<()>> + Send {
        async move {
            let deleted = state.store.delete_by_id::<Self>(row.id()).await;
            or_404(deleted, Self::NOT_FOUND)
        }
    }
}

/// A resource the API creates and updates from a JSON body.
pub trait Editable: Tracked {
    /// The body of a creation.
    type Create: DeserializeOwned + Send;
    /// The body of an update: `Patch` fields, absent ones left alone.
    type Update: DeserializeOwned + Send;
    /// What [`Editable::save`] writes: the row, with what else a body changes (its
    /// memberships, the image it replaces).
    type Draft: Send;

    /// The new row `body` describes; every problem goes to `checks`.
    fn new(state: &AppState, body: Self::Create, checks: &mut Checks) -> Self::Draft;

    /// The stored `row` changed by `body`; every problem goes to `checks`.
    fn apply(state: &AppState, row: Self, body: Self::Update, checks: &mut Checks) -> Self::Draft;

    /// Saves a valid draft: checks what it refers to (422), writes it (its own 409 on a
    /// duplicate), and does what the write implies.
    fn save(state: &AppState, draft: Self::Draft) -> impl Future<Output = ApiResult<Self>> + Send;

    /// Records the saved row; by default with [`record_saved`].
    fn saved(
        state: &AppState,
        user: &User,
        row: &Self,
        creating: bool,
    ) -> impl Future<Output = ApiResult<()>> + Send {
        record_saved(state, user, row, creating)
    }
}

/// The events of a resource's creation, update and deletion.
#[derive(Debug, Clone, Copy)]
pub struct Events {
    pub created: EventType,
    pub updated: EventType,
    pub deleted: EventType,
}

impl Events {
    pub const fn new(created: EventType, updated: EventType, deleted: EventType) -> Self {
        Events {
            created,
            updated,
            deleted,
        }
    }

    pub fn saved(self, creating: bool) -> EventType {
        if creating { self.created } else { self.updated }
    }
}

/// The record with this id, or the resource's 404.
pub async fn find<T: Resource>(state: &AppState, id: i64) -> ApiResult<T> {
    or_404(state.store.fetch_by_id(id).await, T::NOT_FOUND)
}

/// One row as the API shows it.
pub async fn show<T: Resource>(state: &AppState, row: T) -> ApiResult<T::Read> {
    let shown = T::show(state, vec![row]).await?;
    Ok(shown
        .into_iter()
        .next()
        .expect("`Resource::show` answers one read model per row"))
}

/// The record with this id as the API shows it, or the resource's 404.
pub async fn read<T: Resource>(state: &AppState, id: i64) -> ApiResult<T::Read> {
    show(state, find::<T>(state, id).await?).await
}

/// Records `event` about `row`, with the row's own payload.
pub async fn record_event<T: Tracked>(
    state: &AppState,
    user: &User,
    row: &T,
    event: EventType,
) -> ApiResult<()> {
    record(
        state,
        user,
        Change::new(event, row.id(), row.payload(event)),
    )
    .await
}

/// Records the creation or the update of `row`.
pub async fn record_saved<T: Tracked>(
    state: &AppState,
    user: &User,
    row: &T,
    creating: bool,
) -> ApiResult<()> {
    record_event(state, user, row, T::EVENTS.saved(creating)).await
}

/// Deletes the record with this id ([`Tracked::delete`]) and records it: 204, or the
/// resource's 404.
pub async fn remove<T: Tracked>(state: &AppState, user: &User, id: i64) -> ApiResult<StatusCode> {
    let row = find::<T>(state, id).await?;
    T::delete(state, &row).await?;
    record_event(state, user, &row, T::EVENTS.deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One page of the list, shown.
pub async fn list<T: Listed>(state: &AppState, query: T::Query) -> ApiResult<Vec<T::Read>> {
    let rows = T::rows(state, query).await?;
    T::show(state, rows).await
}

/// The rows of a plain list ([`PageQuery`]): one page, by id.
pub async fn page<T: Resource>(state: &AppState, q: PageQuery) -> ApiResult<Vec<T>> {
    let page = Page::from_query(q.skip, q.limit, 100)?;
    Ok(state.store.fetch_page(page.skip, page.limit).await?)
}

/// Refuses to delete a group while `count` of `rules` ("alert rule(s)", …) target it.
pub fn untargeted(count: i64, rules: &str) -> ApiResult<()> {
    if count > 0 {
        return Err(ApiError::Conflict(format!(
            "{count} {rules} target this group; delete or change them first"
        )));
    }
    Ok(())
}

/// Creates the record `body` describes: 422 with every problem, or saved and recorded.
pub async fn create<T: Editable>(
    state: &AppState,
    user: &User,
    body: T::Create,
) -> ApiResult<T::Read> {
    let mut checks = Checks::new();
    let draft = T::new(state, body, &mut checks);
    checks.finish()?;
    let row = T::save(state, draft).await?;
    T::saved(state, user, &row, true).await?;
    show(state, row).await
}

/// Updates the record with this id: its 404, 422 with every problem, or saved and
/// recorded.
pub async fn update<T: Editable>(
    state: &AppState,
    user: &User,
    id: i64,
    body: T::Update,
) -> ApiResult<T::Read> {
    let row = find::<T>(state, id).await?;
    let mut checks = Checks::new();
    let draft = T::apply(state, row, body, &mut checks);
    checks.finish()?;
    let row = T::save(state, draft).await?;
    T::saved(state, user, &row, false).await?;
    show(state, row).await
}

/// Declares a resource's routes with their OpenAPI annotations (a generic function cannot
/// carry them), each handler a call to [`list`], [`create`], [`read`], [`update`] or
/// [`remove`], or a nested list; declare the ones the resource has, in any order. The
/// header names the resource, its read model, its tag, its collection path, and its item
/// path with the id parameter. Each route then gives, in parentheses, the extractor of the
/// caller (`AuthUser` or `AdminUser`) and:
/// - `list`: the query type (with its paging and filters), if it takes one;
/// - `create`: the body type and the success status (`CREATED`, or `OK` where the
///   original said 200);
/// - `update`: the method (`put` or `patch`) and the body type;
/// - `nested` (a list under an item, `GET /things/{id}/parts`): the handler's name, the
///   answer's type, the function that fetches it for the item's id, and the path; the
///   item's 404 comes first;
///
/// then the operation id, its summary, and in brackets the responses after the success
/// (all of them for `remove`). Attributes (doc comments: the operation's description) go
/// before the route. The handlers are named after the routes (a nested list: as given),
/// for `routes!`.
///
/// ```ignore
/// resource_routes! {
///     Floor => Floor, "floors", "/floors", "/floors/{floor_id}", ("floor_id", "Floor id");
///     list(AuthUser, FloorQuery) "floors_list", "List floors, by id", [Invalid];
///     create(AuthUser, FloorCreate, CREATED) "floors_create", "Create a floor", [Invalid];
///     read(AuthUser) "floors_read", "Read a floor", [NotFound];
///     update(AuthUser, put, FloorUpdate) "floors_update", "Update a floor (partial)",
///         [NotFound, Invalid];
///     nested(AuthUser, plans: Vec<FloorPlan> = plans_of, "/floors/{floor_id}/floor-plans")
///         "floors_plans", "Floor plans of a floor", [NotFound];
///     /// Deletes a floor with its floor plans.
///     remove(AuthUser) "floors_remove", "Delete a floor", [Deleted, NotFound];
/// }
/// ```
macro_rules! resource_routes {
    (
        $resource:ty => $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        ($id:literal, $id_description:literal);
        $($(#[$attr:meta])* $route:ident($($args:tt)*) $op:literal, $summary:literal,
            [$($responses:tt)*];)*
    ) => {
        $(
            $crate::api::resource::resource_routes!(@$route($($args)*) [$(#[$attr])*]
                $resource, $read_model, $tag, $list_path, $item_path, $id, $id_description,
                $op, $summary, [$($responses)*]);
        )*
    };
    (
        @list($user:ident $(, $query:ty)?) [$(#[$attr:meta])*]
        $resource:ty, $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        $id:literal, $id_description:literal, $op:literal, $summary:literal,
        [$($responses:tt)*]
    ) => {
        $(#[$attr])*
        #[utoipa::path(
            get,
            path = $list_path,
            operation_id = $op,
            tag = $tag,
            summary = $summary,
            $(params($query),)?
            responses((status = 200, body = Vec<$read_model>), $($responses)*),
        )]
        async fn list(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            _: $user,
            $($crate::api::extract::ApiQuery(query): $crate::api::extract::ApiQuery<$query>,)?
        ) -> $crate::api::ApiResult<axum::Json<Vec<$read_model>>> {
            let query = $crate::api::resource::resource_routes!(@query query $($query)?);
            $crate::api::resource::list::<$resource>(&state, query)
                .await
                .map(axum::Json)
        }
    };
    (@query $var:ident $query:ty) => { $var };
    (@query $var:ident) => { () };
    (
        @create($user:ident, $body:ty, $status:ident) [$(#[$attr:meta])*]
        $resource:ty, $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        $id:literal, $id_description:literal, $op:literal, $summary:literal,
        [$($responses:tt)*]
    ) => {
        $(#[$attr])*
        #[utoipa::path(
            post,
            path = $list_path,
            operation_id = $op,
            tag = $tag,
            summary = $summary,
            request_body = $body,
            responses((status = StatusCode::$status, body = $read_model), $($responses)*),
        )]
        async fn create(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            $user(user): $user,
            $crate::api::extract::ApiJson(body): $crate::api::extract::ApiJson<$body>,
        ) -> $crate::api::ApiResult<(axum::http::StatusCode, axum::Json<$read_model>)> {
            let created = $crate::api::resource::create::<$resource>(&state, &user, body).await?;
            Ok((axum::http::StatusCode::$status, axum::Json(created)))
        }
    };
    (
        @read($user:ident) [$(#[$attr:meta])*]
        $resource:ty, $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        $id:literal, $id_description:literal, $op:literal, $summary:literal,
        [$($responses:tt)*]
    ) => {
        $(#[$attr])*
        #[utoipa::path(
            get,
            path = $item_path,
            operation_id = $op,
            tag = $tag,
            summary = $summary,
            params(($id = i64, Path, description = $id_description)),
            responses((status = 200, body = $read_model), $($responses)*),
        )]
        async fn read(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            _: $user,
            $crate::api::extract::ApiPath(id): $crate::api::extract::ApiPath<i64>,
        ) -> $crate::api::ApiResult<axum::Json<$read_model>> {
            $crate::api::resource::read::<$resource>(&state, id)
                .await
                .map(axum::Json)
        }
    };
    (
        @update($user:ident, $method:ident, $body:ty) [$(#[$attr:meta])*]
        $resource:ty, $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        $id:literal, $id_description:literal, $op:literal, $summary:literal,
        [$($responses:tt)*]
    ) => {
        $(#[$attr])*
        #[utoipa::path(
            $method,
            path = $item_path,
            operation_id = $op,
            tag = $tag,
            summary = $summary,
            params(($id = i64, Path, description = $id_description)),
            request_body = $body,
            responses((status = 200, body = $read_model), $($responses)*),
        )]
        async fn update(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            $user(user): $user,
            $crate::api::extract::ApiPath(id): $crate::api::extract::ApiPath<i64>,
            $crate::api::extract::ApiJson(body): $crate::api::extract::ApiJson<$body>,
        ) -> $crate::api::ApiResult<axum::Json<$read_model>> {
            $crate::api::resource::update::<$resource>(&state, &user, id, body)
                .await
                .map(axum::Json)
        }
    };
    (
        @nested($user:ident, $name:ident: $nested:ty = $fetch:path, $path:literal)
        [$(#[$attr:meta])*]
        $resource:ty, $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        $id:literal, $id_description:literal, $op:literal, $summary:literal,
        [$($responses:tt)*]
    ) => {
        $(#[$attr])*
        #[utoipa::path(
            get,
            path = $path,
            operation_id = $op,
            tag = $tag,
            summary = $summary,
            params(($id = i64, Path, description = $id_description)),
            responses((status = 200, body = $nested), $($responses)*),
        )]
        async fn $name(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            _: $user,
            $crate::api::extract::ApiPath(id): $crate::api::extract::ApiPath<i64>,
        ) -> $crate::api::ApiResult<axum::Json<$nested>> {
            $crate::api::resource::find::<$resource>(&state, id).await?;
            $fetch(&state, id).await.map(axum::Json)
        }
    };
    (
        @remove($user:ident) [$(#[$attr:meta])*]
        $resource:ty, $read_model:ty, $tag:literal, $list_path:literal, $item_path:literal,
        $id:literal, $id_description:literal, $op:literal, $summary:literal,
        [$($responses:tt)*]
    ) => {
        $(#[$attr])*
        #[utoipa::path(
            delete,
            path = $item_path,
            operation_id = $op,
            tag = $tag,
            summary = $summary,
            params(($id = i64, Path, description = $id_description)),
            responses($($responses)*),
        )]
        async fn remove(
            axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
            $user(user): $user,
            $crate::api::extract::ApiPath(id): $crate::api::extract::ApiPath<i64>,
        ) -> $crate::api::ApiResult<axum::http::StatusCode> {
            $crate::api::resource::remove::<$resource>(&state, &user, id).await
        }
    };
}
pub(crate) use resource_routes;
