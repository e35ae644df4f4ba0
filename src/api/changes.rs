//! What every mutation does besides writing: an audit-log entry (who, what, when) and an
//! event on the internal bus. Also the checks that name a dangling reference precisely.

use serde_json::Value;

use super::AppState;
use super::error::{ApiError, ApiResult, FieldError};
use crate::events::{Event, EventType};
use crate::ingest::view::Subject;
use crate::store::Record;
use crate::store::StoreError;
use crate::store::users::User;

/// A committed change to one record: what the audit log and the event bus are told.
pub struct Change {
    pub event: EventType,
    /// The changed record's id.
    pub id: i64,
    pub payload: Value,
    /// The audit log's verb: the event's own unless the change says more (`purge`).
    pub action: &'static str,
}

impl Change {
    pub fn new(event: EventType, id: i64, payload: Value) -> Self {
        Change {
            event,
            id,
            payload,
            action: event.verb(),
        }
    }

    pub fn action(self, action: &'static str) -> Self {
        Change { action, ..self }
    }
}

/// Records a committed change: the ingest pipeline applies it (before this returns: see
/// [`crate::ingest::pipeline`], read-your-writes), then audit log, webhook outbox and
/// event bus.
pub async fn record(state: &AppState, user: &User, change: Change) -> ApiResult<()> {
    let entity = change.event.entity();
    if let Some(subject) = Subject::of(change.event) {
        let deleted = matches!(change.action, "delete" | "purge");
        state.pipeline.changed(subject, change.id, deleted).await;
    }
    state
        .store
        .audit(
            Some(user.id),
            change.action,
            entity,
            Some(change.id),
            serde_json::json!({ "event": change.event }),
        )
        .await?;
    // Webhook deliveries are stored before the API answers: a change it reported is
    // never missing from the outbox.
    let event = Event::now(change.event, Some(user.id), change.payload);
    state.outbox.write(std::slice::from_ref(&event)).await?;
    state.events.publish_stored(event);
    Ok(())
}

/// 422 naming `field` unless the referenced `T` exists.
pub async fn require<T: Record>(state: &AppState, field: &str, id: Option<i64>) -> ApiResult<()> {
    if let Some(id) = id
        && !state.store.exists::<T>(id).await?
    {
        return Err(ApiError::invalid(FieldError::body(
            field,
            "foreign_key",
            format!("{field} {id} does not exist"),
        )));
    }
    Ok(())
}

/// 422 naming `field` unless every referenced `T` exists; `what` names one in the message.
pub async fn require_all<T: Record>(
    state: &AppState,
    field: &str,
    what: &str,
    ids: &[i64],
) -> ApiResult<()> {
    for id in ids {
        if !state.store.exists::<T>(*id).await? {
            return Err(ApiError::invalid(FieldError::body(
                field,
                "foreign_key",
                format!("{what} {id} does not exist"),
            )));
        }
    }
    Ok(())
}

/// Maps "row not found" to the resource's own 404 message.
pub fn or_404<T>(result: Result<T, StoreError>, message: &str) -> ApiResult<T> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::NotFound) => Err(ApiError::not_found(message)),
        Err(err) => Err(err.into()),
    }
}

/// Maps a unique violation to 409 with the resource's own message.
pub fn or_409<T>(result: Result<T, StoreError>, message: impl FnOnce() -> String) -> ApiResult<T> {
    match result {
        Ok(value) => Ok(value),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(message())),
        Err(err) => Err(err.into()),
    }
}

/// Trims optional text; blank becomes `None`.
pub fn clean(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}
