//! Chatwoot: each incident mirrored into a conversation of its own, and agents' messages
//! brought back by the inbound webhook ([`inbound`]).
//!
//! Nothing is called on a request: what an incident sends is written to the webhook
//! outbox (`chatwoot_deliveries`, see [`crate::webhooks::Outbox::write`]) and the webhook
//! worker calls [`Chatwoot::deliver`], one delivery per incident at a time (in order),
//! retried with the webhooks' backoff. Every note we post carries
//! `content_attributes.sv_source = securityvision` and a `sv-` source id, which is how
//! the inbound webhook knows our own echoes.

pub mod inbound;

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::config::{ChatwootConfig, Config, WebhooksConfig};
use crate::events::EventType;
use crate::store::Store;
use crate::store::chatwoot::ChatwootDelivery;
use crate::store::groups::SupportGroup;
use crate::store::incidents::Incident;
use crate::webhooks::guard::check_url;

/// What went wrong with a call: the HTTP status if there was an answer, and why.
pub type Failure = (Option<i32>, String);

/// Chatwoot's answers are small; a bigger one is not read.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The integration: its settings, its HTTP client, what it learnt (inbox, contact) and how
/// its last calls went.
pub struct Chatwoot {
    api: Option<Api>,
    status: Mutex<Status>,
}

/// What `GET /chatwoot/status` shows: this node's last outcomes since it started.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

struct Api {
    base: String,
    account: String,
    inbox: String,
    token: String,
    contact_identifier: String,
    incident_base_url: Option<String>,
    allow_private: bool,
    client: reqwest::Client,
    store: Store,
    /// Inbox ids by identifier or name, found once.
    inboxes: tokio::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// The shared contact's id, found once.
    contact: tokio::sync::Mutex<Option<i64>>,
}

/// Whether outbound calls are configured: enabled, with a server, account, inbox and token.
pub fn configured(c: &ChatwootConfig) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    c.enabled && set(&c.base_url) && set(&c.account_id) && set(&c.inbox) && set(&c.api_token)
}

impl Chatwoot {
    pub fn new(config: &Config, store: Store) -> anyhow::Result<Self> {
        let c = &config.chatwoot;
        let api = if configured(c) {
            let text = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_string();
            let contact = c.contact_identifier.trim();
            Some(Api {
                base: text(&c.base_url).trim_end_matches('/').to_string(),
                account: text(&c.account_id),
                inbox: text(&c.inbox),
                token: text(&c.api_token),
                contact_identifier: if contact.is_empty() {
                    "securityvision-system".into()
                } else {
                    contact.into()
                },
                incident_base_url: c
                    .incident_base_url
                    .as_deref()
                    .map(|u| u.trim().trim_end_matches('/').to_string())
                    .filter(|u| !u.is_empty()),
                allow_private: c.allow_private,
                client: crate::webhooks::client(&WebhooksConfig {
                    allow_private: c.allow_private,
                    timeout_seconds: 20,
                    ..config.webhooks.clone()
                })?,
                store,
                inboxes: tokio::sync::Mutex::default(),
                contact: tokio::sync::Mutex::default(),
            })
        } else {
            None
        };
        Ok(Chatwoot {
            api,
            status: Mutex::new(Status::default()),
        })
    }

    pub fn is_configured(&self) -> bool {
        self.api.is_some()
    }

    pub fn status(&self) -> Status {
        self.status.lock().expect("not poisoned").clone()
    }

    /// The receiver the webhook worker's per-host limit counts Chatwoot's calls under.
    pub fn receiver(&self) -> String {
        self.api
            .as_ref()
            .map_or_else(String::new, |api| crate::webhooks::receiver(&api.base))
    }

    /// Sends one outbox delivery to the incident's conversation (creating it first when
    /// it has none); remembers the outcome for the status page.
    pub async fn deliver(&self, d: &ChatwootDelivery) -> Result<(), Failure> {
        let Some(api) = &self.api else {
            return Err((None, "Chatwoot is not configured".into()));
        };
        let outcome = api.deliver(d).await;
        let mut status = self.status.lock().expect("not poisoned");
        match &outcome {
            Ok(()) => status.last_success_at = Some(Utc::now()),
            Err((_, error)) => {
                status.last_error = Some(error.clone());
                status.last_error_at = Some(Utc::now());
            }
        }
        outcome
    }
}

impl Api {
    async fn deliver(&self, d: &ChatwootDelivery) -> Result<(), Failure> {
        let event: Value = serde_json::from_str(&d.body).unwrap_or_default();
        let payload = &event["payload"];
        let incident: Incident = match self.store.fetch_by_id(d.incident_id).await {
            Ok(incident) => incident,
            // Deleted meanwhile: nothing left to tell.
            Err(crate::store::StoreError::NotFound) => return Ok(()),
            Err(err) => return Err((None, format!("reading the incident: {err}"))),
        };
        let group = self.group(&incident).await?;
        let (conversation, created) = self.conversation(&incident, group.as_ref()).await?;
        let summary = summary(self, &incident, group.as_ref());
        let summary_id = format!("sv-incident-{}", incident.id);
        match d.event_type.as_str() {
            t if t == EventType::IncidentCreated.as_str() => {
                self.note(conversation, &summary, &summary_id).await
            }
            t if t == EventType::IncidentMessageCreated.as_str() => {
                if created {
                    self.note(conversation, &summary, &summary_id).await?;
                }
                let content = message_text(payload);
                if content.is_empty() {
                    return Ok(());
                }
                let source = format!("sv-msg-{}", payload["message_id"]);
                self.note(conversation, &content, &source).await
            }
            // A status change tells itself in a SYSTEM message; the conversation follows
            // the incident: resolved when it is closed, open again when it is reopened.
            _ => {
                let state = if crate::incidents::is_active(&incident.status) {
                    "open"
                } else {
                    "resolved"
                };
                let path = format!("conversations/{conversation}/toggle_status");
                self.call(
                    reqwest::Method::POST,
                    &path,
                    Some(json!({ "status": state })),
                )
                .await
                .map(drop)
            }
        }
    }

    /// The incident's support group, whose inbox and team its conversation goes to.
    async fn group(&self, incident: &Incident) -> Result<Option<SupportGroup>, Failure> {
        let Some(id) = incident.assigned_group_id else {
            return Ok(None);
        };
        match self.store.fetch_by_id(id).await {
            Ok(group) => Ok(Some(group)),
            Err(crate::store::StoreError::NotFound) => Ok(None),
            Err(err) => Err((None, format!("reading the support group: {err}"))),
        }
    }

    /// The incident's conversation, and whether it was just created.
    async fn conversation(
        &self,
        incident: &Incident,
        group: Option<&SupportGroup>,
    ) -> Result<(i64, bool), Failure> {
        if let Some(id) = incident.chatwoot_conversation_id {
            return Ok((id, false));
        }
        let wanted = group
            .and_then(|g| g.chatwoot_inbox_identifier.as_deref())
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .unwrap_or(&self.inbox);
        let inbox = self.inbox(wanted).await?;
        if let Some(id) = self.find_conversation(incident, inbox).await {
            self.remember(incident.id, id).await?;
            return Ok((id, false));
        }
        let contact = self.contact().await?;
        let mut body = json!({
            "source_id": format!("incident-{}", incident.id),
            "inbox_id": inbox,
            "contact_id": contact,
            "status": "open",
            "custom_attributes": {
                "incident_id": incident.id,
                "incident_created_at": incident.created_at.to_rfc3339(),
                "severity": incident.severity,
                "status": incident.status,
                "tenant": incident.tenant,
                "device_id": incident.device_id,
            },
        });
        if let Some(team) = group.and_then(|g| g.chatwoot_team_id) {
            body["team_id"] = json!(team);
        }
        let id = match self
            .call(reqwest::Method::POST, "conversations", Some(body))
            .await
        {
            Ok(answer) => id_in(&answer).ok_or_else(|| no_id("the new conversation"))?,
            Err((Some(422), why)) => self
                .find_conversation(incident, inbox)
                .await
                .ok_or((Some(422), why))?,
            Err(failure) => return Err(failure),
        };
        self.remember(incident.id, id).await?;
        Ok((id, true))
    }

    async fn remember(&self, incident_id: i64, conversation: i64) -> Result<(), Failure> {
        self.store
            .set_chatwoot_conversation(incident_id, conversation)
            .await
            .map_err(|e| (None, format!("storing the conversation id: {e}")))
    }

    /// The conversation whose custom attributes name the incident; any error: none.
    async fn find_conversation(&self, incident: &Incident, inbox: i64) -> Option<i64> {
        let filter = |key: &str, value: String| {
            json!({"attribute_key": key, "filter_operator": "equal_to",
                   "values": [value], "query_operator": "AND"})
        };
        let body = json!({"payload": [
            filter("incident_id", incident.id.to_string()),
            filter("incident_created_at", incident.created_at.to_rfc3339()),
            filter("inbox_id", inbox.to_string()),
        ]});
        let answer = self
            .call(reqwest::Method::POST, "conversations/filter", Some(body))
            .await
            .ok()?;
        answer["payload"].as_array()?.first().and_then(id_in)
    }

    /// The id of the inbox `wanted` names: its id, identifier or name.
    async fn inbox(&self, wanted: &str) -> Result<i64, Failure> {
        if let Ok(id) = wanted.parse() {
            return Ok(id);
        }
        if let Some(id) = self.inboxes.lock().await.get(wanted) {
            return Ok(*id);
        }
        let answer = self.call(reqwest::Method::GET, "inboxes", None).await?;
        let list = answer["payload"].as_array().cloned().unwrap_or_default();
        let id = list
            .iter()
            .find(|i| i["identifier"] == wanted || i["name"] == wanted)
            .and_then(id_in)
            .ok_or_else(|| (None, format!("Chatwoot has no inbox named {wanted}")))?;
        self.inboxes.lock().await.insert(wanted.to_string(), id);
        Ok(id)
    }

    /// The shared contact, found or created.
    async fn contact(&self) -> Result<i64, Failure> {
        if let Some(id) = *self.contact.lock().await {
            return Ok(id);
        }
        let id = match self.search_contact().await? {
            Some(id) => id,
            None => {
                let body = json!({"identifier": self.contact_identifier, "name": "SecurityVision"});
                match self
                    .call(reqwest::Method::POST, "contacts", Some(body))
                    .await
                {
                    Ok(answer) => {
                        let contact = &answer["payload"]["contact"];
                        id_in(contact)
                            .or_else(|| id_in(&answer["payload"]))
                            .or_else(|| id_in(&answer))
                            .ok_or_else(|| no_id("the new contact"))?
                    }
                    // Taken meanwhile: it exists now.
                    Err((Some(422), why)) => {
                        self.search_contact().await?.ok_or((Some(422), why))?
                    }
                    Err(failure) => return Err(failure),
                }
            }
        };
        *self.contact.lock().await = Some(id);
        Ok(id)
    }

    async fn search_contact(&self) -> Result<Option<i64>, Failure> {
        let path = format!("contacts/search?q={}", url_encode(&self.contact_identifier));
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let list = answer["payload"].as_array().cloned().unwrap_or_default();
        let exact = list
            .iter()
            .find(|c| c["identifier"] == self.contact_identifier.as_str());
        Ok(exact.or(list.first()).and_then(id_in))
    }

    /// Posts a private note; a 422 is a duplicate source id (an earlier attempt got
    /// through), so done.
    async fn note(&self, conversation: i64, content: &str, source_id: &str) -> Result<(), Failure> {
        let body = json!({
            "content": content,
            "message_type": "outgoing",
            "private": true,
            "source_id": source_id,
            "content_attributes": {"sv_source": "securityvision"},
        });
        let path = format!("conversations/{conversation}/messages");
        match self.call(reqwest::Method::POST, &path, Some(body)).await {
            Ok(_) | Err((Some(422), _)) => Ok(()),
            Err(failure) => Err(failure),
        }
    }

    /// One call under `/api/v1/accounts/<account>/`: the JSON answer of a 2xx.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let url = format!("{}/api/v1/accounts/{}/{path}", self.base, self.account);
        let url = check_url(&url, self.allow_private).map_err(|e| {
            let text = e
                .to_string()
                .replace("webhooks.allow_private", "chatwoot.allow_private");
            (None, text)
        })?;
        let mut request = self
            .client
            .request(method, url)
            .header("api_access_token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| (None, crate::webhooks::describe(&e)))?;
        let status = response.status();
        let code = i32::from(status.as_u16());
        let mut answer = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| (Some(code), crate::webhooks::describe(&e)))?
        {
            answer.extend_from_slice(&chunk);
            if answer.len() > MAX_ANSWER_BYTES {
                return Err((Some(code), "Chatwoot's answer is too big".into()));
            }
        }
        if !status.is_success() {
            return Err((Some(code), format!("Chatwoot answered {status} to {path}")));
        }
        Ok(serde_json::from_slice(&answer).unwrap_or_default())
    }
}

/// The first note of a conversation: the original's words.
fn summary(api: &Api, i: &Incident, group: Option<&SupportGroup>) -> String {
    let mut lines = vec![
        format!("[Incidente #{}] {}", i.id, i.title),
        format!("Status: {} | Severidade: {}", i.status, i.severity),
        format!(
            "Tenant: {} | Dispositivo: {}",
            i.tenant.as_deref().unwrap_or("-"),
            i.device_id.map_or_else(|| "-".into(), |d| d.to_string())
        ),
    ];
    if let Some(g) = group {
        let team = g
            .chatwoot_team_id
            .map_or_else(|| "-".into(), |t| t.to_string());
        lines.push(format!("Grupo: {} (team_id={team})", g.name));
    }
    if let Some(base) = &api.incident_base_url {
        lines.push(format!("Acesse: {base}/{}", i.id));
    }
    lines.join("\n")
}

/// A timeline message as a note: `<author>:\n<content>`, a file's address appended.
fn message_text(payload: &Value) -> String {
    let text = |key: &str| payload[key].as_str().unwrap_or_default().trim().to_string();
    let (author, content) = (text("author_name"), text("content"));
    let mut note = match (author.is_empty(), content.is_empty()) {
        (false, false) => format!("{author}:\n{content}"),
        (true, _) => content,
        (false, true) => author,
    };
    let media = text("media_url");
    if !media.is_empty() {
        note.push_str(&format!("\n\n[arquivo anexado]: {media}"));
    }
    note
}

fn id_in(value: &Value) -> Option<i64> {
    value["id"]
        .as_i64()
        .or_else(|| value["id"].as_str().and_then(|s| s.parse().ok()))
}

fn no_id(what: &str) -> Failure {
    (None, format!("Chatwoot's answer for {what} has no id"))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// How long a Chatwoot call may take, for the delivery's lease.
pub const TIMEOUT: Duration = Duration::from_secs(20);
