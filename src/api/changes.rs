//! What every mutation does besides writing: an audit-log entry (who, what, when) and an
//! event on the internal bus. Also the checks that name a dangling reference precisely.

use serde_json::Value;

use super::AppState;
use super::error::{ApiError, ApiResult, FieldError};
use crate::ingest::pipeline::Subject;
use crate::store::Record;
use crate::store::StoreError;
use crate::store::users::User;

/// Records a committed change: the ingest pipeline applies it (before this returns: see
/// [`crate::ingest::pipeline`], read-your-writes), then audit log and event bus.
pub async fn record(
    state: &AppState,
    user: &User,
    action: &str,
    entity: &str,
    entity_id: i64,
    event_type: &'static str,
    payload: Value,
) -> ApiResult<()> {
    if let Some(subject) = Subject::of(entity) {
        let deleted = matches!(action, "delete" | "purge");
        state.pipeline.changed(subject, entity_id, deleted).await;
    }
    state
        .store
        .audit(
            Some(user.id),
            action,
            entity,
            Some(entity_id),
            serde_json::json!({ "event": event_type }),
        )
        .await?;
    state.events.publish(event_type, Some(user.id), payload);
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
