//! `GET /api/v1/stream`: server-sent events of what happens, as it happens — position
//! changes, gateways going offline and online, every change made through the API — for
//! the console's live map and for integrators.
//!
//! Browsers' `EventSource` cannot send headers, so besides `Authorization: Bearer` the
//! token may come as `?access_token=` (only on this route; the request log records route
//! templates, never query strings).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{authenticate, bearer_token};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// Only these event types, comma-separated (e.g. `POSITION_CHANGED,GATEWAY_OFFLINE`).
    types: Option<String>,
    /// The token, for clients that cannot send headers (EventSource).
    access_token: Option<String>,
}

#[utoipa::path(
    get,
    path = "/stream",
    operation_id = "stream_events",
    tag = "stream",
    summary = "Server-sent events: POSITION_CHANGED, GATEWAY_OFFLINE/ONLINE and every change made through the API",
    params(StreamQuery),
    responses(
        (status = 200, description = "text/event-stream; each event's `event` is its type, `data` the JSON envelope {event_type, timestamp, user_id, payload}"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
async fn stream(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let (parts, _) = request.into_parts();
    let query: StreamQuery =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
    let token = bearer_token(&parts)
        .map(str::to_string)
        .or(query.access_token)
        .ok_or_else(|| ApiError::Unauthorized("Not authenticated".into()))?;
    let user = authenticate(&state, &token).await?;
    tracing::debug!(user_id = user.id, "live stream opened");
    let wanted: Option<Vec<String>> = query.types.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let receiver = state.events.subscribe();
    let events =
        futures_util::stream::unfold((receiver, wanted), |(mut receiver, wanted)| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        if wanted
                            .as_ref()
                            .is_some_and(|w| !w.iter().any(|t| t == event.event_type))
                        {
                            continue;
                        }
                        let data = serde_json::to_string(&event).unwrap_or_default();
                        let sse = SseEvent::default().event(event.event_type).data(data);
                        return Some((Ok(sse), (receiver, wanted)));
                    }
                    // A slow reader skips what it missed and is told so.
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let sse = SseEvent::default()
                            .event("LAGGED")
                            .data(format!(r#"{{"missed":{missed}}}"#));
                        return Some((Ok(sse), (receiver, wanted)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
