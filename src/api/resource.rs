//! What the API's resources share: finding a record or answering its own 404, showing
//! rows as the API does, recording a change, deleting a record; and [`by_id_routes!`],
//! the read and delete routes that every resource declares the same way.

use std::future::Future;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::AppState;
use super::changes::{Change, or_404, record};
use super::error::ApiResult;
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

/// The events of a resource's creation, update and deletion.
#[derive(Debug, Clone, Copy)]
pub struct Events {
    pub created: EventType,
    pub updated: EventType,
    pub deleted: EventType,
}

impl Events {
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

/// Declares a resource's `read` (GET `path`) and `remove` (DELETE `path`) handlers with
/// their OpenAPI annotations (a generic function cannot carry them), each a call to
/// [`read`] or [`remove`]; either may be left out. In parentheses, the extractor of the
/// caller (`AuthUser` or `AdminUser`); in brackets, the responses after 200 (read) or all
/// of them (remove); attributes (doc comments: the operation's description) go before
/// `read` or `remove`.
///
/// ```ignore
/// by_id_routes! {
///     Floor => Floor, "/floors/{floor_id}", ("floor_id", "Floor id"), "floors";
///     read(AuthUser) "floors_read", "Read a floor", [NotFound];
///     remove(AuthUser) "floors_remove", "Delete a floor", [Deleted, NotFound];
/// }
/// ```
macro_rules! by_id_routes {
    (
        $resource:ty => $read_model:ty, $path:literal, ($id:literal, $id_description:literal),
        $tag:literal;
        $($(#[$read_attr:meta])* read($read_user:ident) $read_op:literal, $read_summary:literal,
            [$($read_responses:tt)*];)?
        $($(#[$remove_attr:meta])* remove($remove_user:ident) $remove_op:literal,
            $remove_summary:literal, [$($remove_responses:tt)*];)?
    ) => {
        $(
            $(#[$read_attr])*
            #[utoipa::path(
                get,
                path = $path,
                operation_id = $read_op,
                tag = $tag,
                summary = $read_summary,
                params(($id = i64, Path, description = $id_description)),
                responses((status = 200, body = $read_model), $($read_responses)*),
            )]
            async fn read(
                axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
                _: $read_user,
                $crate::api::extract::ApiPath(id): $crate::api::extract::ApiPath<i64>,
            ) -> $crate::api::ApiResult<axum::Json<$read_model>> {
                $crate::api::resource::read::<$resource>(&state, id)
                    .await
                    .map(axum::Json)
            }
        )?
        $(
            $(#[$remove_attr])*
            #[utoipa::path(
                delete,
                path = $path,
                operation_id = $remove_op,
                tag = $tag,
                summary = $remove_summary,
                params(($id = i64, Path, description = $id_description)),
                responses($($remove_responses)*),
            )]
            async fn remove(
                axum::extract::State(state): axum::extract::State<$crate::api::AppState>,
                $remove_user(user): $remove_user,
                $crate::api::extract::ApiPath(id): $crate::api::extract::ApiPath<i64>,
            ) -> $crate::api::ApiResult<axum::http::StatusCode> {
                $crate::api::resource::remove::<$resource>(&state, &user, id).await
            }
        )?
    };
}
pub(crate) use by_id_routes;
