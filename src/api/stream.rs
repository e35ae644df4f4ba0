//! `GET /api/v1/stream`: server-sent events of what happens, as it happens — position
//! changes, gateways going offline and online, every change made through the API — for
//! the console's live map and for integrators.
//!
//! Browsers' `EventSource` cannot send headers, so besides `Authorization: Bearer` the
//! token may come as `?access_token=` (only on this route; the request log records route
//! templates, never query strings).
//!
//! A stream is not authorised once for good: it ends when its token expires, and the user
//! is checked again every minute and whenever a user changes (password, role,
//! deactivation, deletion), so it ends with the session. Operators only get the events of
//! what they may read; each user holds at most `http.max_streams_per_user` streams.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{authenticate, bearer_token};
use crate::events::{Audience, Event, EventType};
use crate::metrics::HttpRefusal;
use crate::store::users::User;

/// How often an open stream checks that its user may still have it.
const RECHECK_EVERY: Duration = Duration::from_secs(60);

/// Whether `user` may see events of `event_type` (each type declares its audience).
pub fn visible_to(user: &User, event_type: EventType) -> bool {
    user.is_admin() || event_type.audience() == Audience::Operators
}

/// Whether `event` changed the user `user_id` (a reason to check the stream's user again).
fn concerns_user(event: &Event, user_id: i64) -> bool {
    matches!(
        event.event_type,
        EventType::UserUpdated | EventType::UserDeleted
    ) && event
        .payload
        .get("user_id")
        .and_then(serde_json::Value::as_i64)
        == Some(user_id)
}

/// The streams open per user, and the signal that ends them all when the appliance stops
/// (an open stream would otherwise hold the HTTP shutdown for its whole grace period).
#[derive(Default)]
pub struct OpenStreams {
    counts: Mutex<HashMap<i64, u32>>,
    closing: tokio_util::sync::CancellationToken,
}

/// One open stream, counted until dropped.
struct StreamSlot {
    streams: Arc<OpenStreams>,
    user_id: i64,
}

impl OpenStreams {
    /// Ends every open stream and refuses new ones (at shutdown).
    pub fn close_all(&self) {
        self.closing.cancel();
    }

    fn open(self: &Arc<Self>, user_id: i64, max: u32) -> Option<StreamSlot> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(user_id).or_insert(0);
        if *count >= max || self.closing.is_cancelled() {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            streams: self.clone(),
            user_id,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut counts = self
            .streams
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user_id);
            }
        }
    }
}

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

/// An open stream's state.
struct Live {
    state: AppState,
    token: String,
    user: User,
    receiver: broadcast::Receiver<Event>,
    wanted: Option<Vec<EventType>>,
    expires: Instant,
    recheck: tokio::time::Interval,
    _slot: StreamSlot,
}

impl Live {
    /// Checks the user again; `false` when the stream must end. A database failure keeps
    /// the stream (the next check retries).
    async fn still_allowed(&mut self) -> bool {
        match authenticate(&self.state, &self.token).await {
            Ok(user) => {
                self.user = user;
                true
            }
            Err(ApiError::Internal(err)) => {
                tracing::warn!(error = %err, "live stream: could not check the user");
                true
            }
            Err(_) => {
                tracing::debug!(user_id = self.user.id, "live stream closed: session ended");
                false
            }
        }
    }

    /// The next event to send, or `None` when the stream ends.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(self.expires) => return None,
                () = self.state.streams.closing.cancelled() => return None,
                _ = self.recheck.tick() => {
                    if !self.still_allowed().await {
                        return None;
                    }
                }
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        if concerns_user(&event, self.user.id) && !self.still_allowed().await {
                            return None;
                        }
                        let wanted = self
                            .wanted
                            .as_ref()
                            .is_none_or(|w| w.contains(&event.event_type));
                        if !wanted || !visible_to(&self.user, event.event_type) {
                            continue;
                        }
                        let data = serde_json::to_string(&event).unwrap_or_default();
                        return Some(SseEvent::default().event(event.event_type.as_str()).data(data));
                    }
                    // A slow reader skips what it missed and is told so; what it missed
                    // may have been a change to its user.
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        if !self.still_allowed().await {
                            return None;
                        }
                        return Some(
                            SseEvent::default()
                                .event("LAGGED")
                                .data(format!(r#"{{"missed":{missed}}}"#)),
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }
}

#[utoipa::path(
    get,
    path = "/stream",
    operation_id = "stream_events",
    tag = "stream",
    summary = "Server-sent events: POSITION_CHANGED, GATEWAY_OFFLINE/ONLINE and every change made through the API (operators: what they may read)",
    params(StreamQuery),
    responses(
        (status = 200, description = "text/event-stream; each event's `event` is its type, `data` the JSON envelope {event_type, timestamp, user_id, payload}. Ends when the token expires or the session ends"),
        (status = 429, description = "Too many streams open for this user", body = ErrorBody),
    ),
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
    // The stream lasts as long as the token is accepted, so that the client's reconnection
    // is refused rather than given a stream that ends at once.
    let expires_at = state
        .tokens
        .verify(&token)
        .map(|(_, claims)| state.tokens.accepted_until(&claims))
        .map_err(|_| ApiError::Unauthorized("Not authenticated".into()))?;
    let max = state.config.http.max_streams_per_user;
    let Some(slot) = state.streams.open(user.id, max) else {
        state.metrics.http_refused(HttpRefusal::StreamLimit);
        return Err(ApiError::TooManyRequests(format!(
            "Too many live streams open for this user (at most {max}); close one first"
        )));
    };
    tracing::debug!(user_id = user.id, "live stream opened");
    let left = u64::try_from(expires_at + 1 - chrono::Utc::now().timestamp()).unwrap_or(0);
    // An unknown name matches no event.
    let wanted: Option<Vec<EventType>> = query.types.map(|t| {
        t.split(',')
            .filter_map(|s| EventType::parse(s.trim()))
            .collect()
    });
    let live = Live {
        receiver: state.events.subscribe(),
        state,
        token,
        user,
        wanted,
        expires: Instant::now() + Duration::from_secs(left),
        recheck: tokio::time::interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY),
        _slot: slot,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok(event), live))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
