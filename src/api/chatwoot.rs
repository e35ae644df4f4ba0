//! Chatwoot: the inbound webhook (`POST /integrations/chatwoot/webhook`, the original's
//! route) that brings agents' messages into their incident, and the integration's status
//! for the console (`GET /chatwoot/status`, administrators).
//!
//! Differences from the original, on purpose: with `chatwoot.webhook_secret` the call must
//! carry Chatwoot's HMAC signature (the original's static token still works, documented as
//! weaker); a refused call is counted and logged without the values; `message_updated`
//! is not stored again; attachments are fetched in the background, http(s) only, through
//! the address guard, within the upload limit and a timeout.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::AdminUser;
use super::openapi::AdminOnly;
use crate::chatwoot::inbound::{self, Attachment, Inbound};
use crate::events::{Event, EventType, payload};
use crate::incidents::{MEDIA, SYSTEM};
use crate::store::incidents::{Incident, NewMessage};

/// The inbound webhook: Chatwoot carries no token of ours (its signature is checked).
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webhook))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

/// The integration as the console shows it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ChatwootStatus {
    /// Enabled, with a server, account, inbox and token: incidents are mirrored.
    configured: bool,
    base_url: Option<String>,
    /// Whether inbound calls must be signed (`chatwoot.webhook_secret`) or carry the
    /// static token (`chatwoot.webhook_token`); neither: every inbound call is refused.
    inbound_signed: bool,
    inbound_token: bool,
    /// Deliveries waiting (pending) in the outbox.
    pending: i64,
    #[serde(flatten)]
    last: crate::chatwoot::Status,
}

#[utoipa::path(
    get,
    path = "/chatwoot/status",
    operation_id = "chatwoot_status",
    tag = "chatwoot",
    summary = "Whether Chatwoot is configured, and how this node's last calls went",
    responses((status = 200, body = ChatwootStatus), AdminOnly),
)]
async fn status(
    State(state): State<AppState>,
    AdminUser(_): AdminUser,
) -> ApiResult<Json<ChatwootStatus>> {
    let c = &state.config.chatwoot;
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    Ok(Json(ChatwootStatus {
        configured: state.chatwoot.is_configured(),
        base_url: c.base_url.clone(),
        inbound_signed: set(&c.webhook_secret),
        inbound_token: set(&c.webhook_token),
        pending: state.store.pending_chatwoot_deliveries().await?,
        last: state.chatwoot.status(),
    }))
}

#[utoipa::path(
    post,
    path = "/integrations/chatwoot/webhook",
    operation_id = "chatwoot_webhook",
    tag = "chatwoot",
    summary = "Chatwoot's webhook: an agent's message added to its incident",
    description = "Needs no token of ours: with `chatwoot.webhook_secret` the call must carry \
        Chatwoot's HMAC signature (or the original's static token), else 401 \
        `{\"detail\": \"Invalid Chatwoot signature\"}` and nothing changes.",
    request_body(content = Value, description = "Chatwoot's webhook payload"),
    responses((status = 204, description = "Handled (or ignored)")),
)]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let config = &state.config.chatwoot;
    let signature = header("x-chatwoot-signature");
    let timestamp = header("x-chatwoot-timestamp");
    let now = chrono::Utc::now().timestamp();
    if !inbound::trusted(config, signature, timestamp, &body, now) {
        state
            .metrics
            .chatwoot_inbound_refused
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            signed = signature.is_some(),
            bytes = body.len(),
            "Chatwoot webhook refused: bad signature or token"
        );
        return Err(ApiError::Unauthorized("Invalid Chatwoot signature".into()));
    }
    let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(message) = inbound::read(&payload) else {
        return Ok(StatusCode::NO_CONTENT);
    };
    if message.echo {
        return Ok(StatusCode::NO_CONTENT);
    }
    let Some(incident) = incident_of(&state, &message).await? else {
        tracing::info!(
            conversation = message.conversation_id,
            "Chatwoot message for no known incident; ignored"
        );
        return Ok(StatusCode::NO_CONTENT);
    };
    let author = author(&state, &message).await?;
    if !message.content.is_empty() {
        let note = NewMessage {
            message_type: if message.private { SYSTEM } else { "OPERATOR" }.into(),
            author_name: Some(author.clone()),
            content: message.content.clone(),
            ..NewMessage::default()
        };
        let added = state.store.add_incident_message(incident.id, &note).await?;
        announce(&state, &added).await?;
    }
    fetch_attachments(&state, &incident, &author, &message);
    Ok(StatusCode::NO_CONTENT)
}

/// The incident of the conversation, else the one the conversation names (which is then
/// linked to it).
async fn incident_of(state: &AppState, m: &Inbound) -> ApiResult<Option<Incident>> {
    if let Some(conversation) = m.conversation_id
        && let Some(found) = state.store.incident_by_conversation(conversation).await?
    {
        return Ok(Some(found));
    }
    let Some(id) = m.named_incident else {
        return Ok(None);
    };
    let found = match state.store.fetch_by_id::<Incident>(id).await {
        Ok(found) => found,
        Err(crate::store::StoreError::NotFound) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    if let Some(conversation) = m.conversation_id {
        state
            .store
            .set_chatwoot_conversation(found.id, conversation)
            .await?;
    }
    Ok(Some(found))
}

async fn author(state: &AppState, m: &Inbound) -> ApiResult<String> {
    if let Some(agent) = m.agent_id
        && let Some(name) = state.store.chatwoot_agent_name(agent).await?
    {
        return Ok(name);
    }
    Ok(m.sender_name.clone().unwrap_or_else(|| "Chatwoot".into()))
}

/// INCIDENT_MESSAGE_CREATED, from `chatwoot` (so that it is not sent back).
async fn announce(state: &AppState, m: &crate::store::incidents::IncidentMessage) -> ApiResult<()> {
    let event = Event::now(
        EventType::IncidentMessageCreated,
        None,
        payload::incident_message(m, "chatwoot"),
    );
    state.outbox.write(std::slice::from_ref(&event)).await?;
    state.events.publish_stored(event);
    Ok(())
}

/// Each attachment fetched in a task of its own and stored as a MEDIA message (or a
/// SYSTEM one saying why it could not be).
fn fetch_attachments(state: &AppState, incident: &Incident, author: &str, m: &Inbound) {
    if m.attachments.is_empty() {
        return;
    }
    let (state, incident_id, author) = (state.clone(), incident.id, author.to_string());
    let (attachments, text) = (m.attachments.clone(), m.content.clone());
    tokio::spawn(async move {
        for a in attachments {
            let message = attach(&state, incident_id, &author, &a, &text).await;
            match message {
                Ok(m) => {
                    if let Err(err) = announce(&state, &m).await {
                        tracing::warn!(incident_id, error = %err, "announcing a Chatwoot attachment");
                    }
                }
                Err(err) => {
                    tracing::warn!(incident_id, error = %err, "Chatwoot attachment not recorded");
                }
            }
        }
    });
}

async fn attach(
    state: &AppState,
    incident_id: i64,
    author: &str,
    a: &Attachment,
    text: &str,
) -> crate::store::Result<crate::store::incidents::IncidentMessage> {
    let config = &state.config;
    let allow_private = config.chatwoot.allow_private || config.media.fetch_allow_private;
    let fetched =
        crate::incidents::evidence::fetch(config, &a.url, allow_private, "chatwoot.allow_private")
            .await;
    let stored = match fetched {
        Ok(bytes) => {
            let used = state.store.incident_attachment_bytes(incident_id).await?;
            crate::media::store_incident_file(config, incident_id, &bytes, used.max(0) as u64)
                .await
                .map(|file| (file, bytes.len()))
                .map_err(|e| e.to_string())
        }
        Err(why) => Err(why),
    };
    match stored {
        Ok((file, size)) => {
            let content = if text.is_empty() {
                format!("Arquivo recebido via Chatwoot: {}", a.name)
            } else {
                text.to_string()
            };
            let message = NewMessage {
                message_type: MEDIA.into(),
                author_name: Some(author.into()),
                content,
                media_type: Some(file.kind.into()),
                media_url: Some(file.url),
                media_thumb_url: None,
                media_name: Some(a.name.clone()),
            };
            state
                .store
                .add_incident_attachment(
                    incident_id,
                    &a.name,
                    file.content_type,
                    size as i64,
                    &file.storage_path,
                    &message,
                )
                .await
        }
        Err(why) => {
            let note = crate::incidents::system_message(
                crate::incidents::SYSTEM_AUTHOR,
                format!("Não foi possível anexar {} do Chatwoot ({why}).", a.name),
            );
            state.store.add_incident_message(incident_id, &note).await
        }
    }
}
