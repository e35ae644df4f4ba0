//! Evidence from cameras: the snapshot and the registered face photo a camera event points
//! at, fetched in the background (never on a request or on the MQTT path) and attached to
//! the incident as MEDIA messages. Only http(s), through the address guard of the webhooks
//! (private, loopback and link-local addresses refused unless `media.fetch_allow_private`),
//! redirects checked again, within `media.max_upload_bytes` and a timeout, and only
//! images. A failure becomes a SYSTEM message; the incident is never lost.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{MEDIA, payload_text, system_message};
use crate::config::Config;
use crate::events::{EventBus, EventType, payload};
use crate::store::Store;
use crate::store::cambus::CameraEvent;
use crate::store::incidents::NewMessage;
use crate::webhooks::guard::{Resolver, UrlError, check_url};

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 3;

/// An image a camera event points at.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub url: String,
    pub label: String,
    /// The file name shown (the original's hints).
    pub name: &'static str,
}

/// The snapshot and, for a face recognition, the registered face photo of an event.
pub fn wanted(event: &CameraEvent) -> Vec<Wanted> {
    let p = &event.payload.0;
    let analytic = payload_text(p, &["AnalyticType"]).unwrap_or(event.analytic_type.trim());
    let at = payload_text(p, &["Timestamp", "timestamp"])
        .map_or_else(|| event.occurred_at.to_rfc3339(), str::to_string);
    let mut found = Vec::new();
    if let Some(url) = payload_text(p, &["SnapshotURL", "snapshotUrl", "snapshot_url"]) {
        found.push(Wanted {
            url: url.to_string(),
            label: format!("Snapshot do evento {analytic} às {at}"),
            name: "snapshot_evento.jpg",
        });
    }
    let meta = p.get("Meta").unwrap_or(&Value::Null);
    let face = matches!(
        analytic.to_lowercase().as_str(),
        "facerecognized" | "face_recognized" | "face recognized"
    );
    if face && let Some(url) = payload_text(meta, &["ff_person_photo_url", "person_photo_url"]) {
        let name = payload_text(meta, &["ff_person_name", "person_name"]).unwrap_or("?");
        let confidence = meta
            .get("ff_confidence")
            .or_else(|| meta.get("confidence"))
            .and_then(Value::as_f64)
            .map(|c| format!(" ({:.0}%)", c * 100.0))
            .unwrap_or_default();
        found.push(Wanted {
            url: url.to_string(),
            label: format!("Face cadastrada: {name}{confidence} às {at}"),
            name: "face_cadastrada.jpg",
        });
    }
    found
}

/// Fetches `wanted` for incident `incident_id` in a task of its own, adding one message
/// per image (MEDIA, or SYSTEM saying why it is missing) written by `author`.
pub fn attach_in_background(
    store: Store,
    events: EventBus,
    config: Arc<Config>,
    incident_id: i64,
    author: &'static str,
    wanted: Vec<Wanted>,
) {
    if wanted.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for w in wanted {
            let allow_private = config.media.fetch_allow_private;
            let fetched = fetch(&config, &w.url, allow_private, "media.fetch_allow_private").await;
            let added = match fetched {
                Ok(bytes) => attach(&store, &config, incident_id, author, &w, &bytes).await,
                Err(why) => {
                    let note = system_message(
                        author,
                        format!("Não foi possível anexar: {} ({why}).", w.label),
                    );
                    store.add_incident_message(incident_id, &note).await
                }
            };
            match added {
                Ok(m) => events.publish(
                    EventType::IncidentMessageCreated,
                    None,
                    payload::incident_message(&m, "system"),
                ),
                Err(err) => tracing::warn!(incident_id, error = %err, "evidence not recorded"),
            }
        }
    });
}

async fn attach(
    store: &Store,
    config: &Config,
    incident_id: i64,
    author: &str,
    w: &Wanted,
    bytes: &[u8],
) -> crate::store::Result<crate::store::incidents::IncidentMessage> {
    let used = store.incident_attachment_bytes(incident_id).await?;
    let stored = match crate::media::sniff_attachment(bytes) {
        Some((_, _, "IMAGE")) => {
            crate::media::store_incident_file(config, incident_id, bytes, used.max(0) as u64)
                .await
                .map_err(|e| e.to_string())
        }
        _ => Err("não é uma imagem".to_string()),
    };
    match stored {
        Ok(file) => {
            let message = NewMessage {
                message_type: MEDIA.into(),
                author_name: Some(author.into()),
                content: w.label.clone(),
                media_type: Some(file.kind.into()),
                media_url: Some(file.url),
                media_thumb_url: None,
                media_name: Some(w.name.into()),
            };
            store
                .add_incident_attachment(
                    incident_id,
                    w.name,
                    file.content_type,
                    bytes.len() as i64,
                    &file.storage_path,
                    &message,
                )
                .await
        }
        Err(why) => {
            let note = system_message(
                author,
                format!("Não foi possível anexar: {} ({why}).", w.label),
            );
            store.add_incident_message(incident_id, &note).await
        }
    }
}

/// The body at `url`, following at most a few redirects, each checked like the first;
/// private addresses only when `allow_private` (the setting named `setting`).
pub(crate) async fn fetch(
    config: &Config,
    url: &str,
    allow_private: bool,
    setting: &str,
) -> Result<Vec<u8>, String> {
    let refused = |err: UrlError| match err {
        UrlError::Private(ip) | UrlError::PrivateName(_, ip) => {
            format!("{ip} é um endereço privado, de loopback ou link-local ({setting})")
        }
        other => other.to_string(),
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .user_agent(concat!("SecurityVision/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(Resolver { allow_private }))
        .tls_backend_preconfigured(
            crate::tls::roots(None)
                .and_then(crate::tls::client_config)
                .map_err(|e| e.to_string())?,
        )
        .build()
        .map_err(|e| e.to_string())?;
    let limit = config.media.max_upload_bytes;
    let mut url = check_url(url, allow_private).map_err(refused)?;
    for _ in 0..=MAX_REDIRECTS {
        let mut response = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| crate::webhooks::describe(&e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| format!("HTTP {status} sem Location"))?;
            let next = url.join(location).map_err(|e| e.to_string())?;
            url = check_url(next.as_str(), allow_private).map_err(refused)?;
            continue;
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(format!("maior que media.max_upload_bytes ({limit} bytes)"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| crate::webhooks::describe(&e))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                return Err(format!("maior que media.max_upload_bytes ({limit} bytes)"));
            }
        }
        return Ok(body);
    }
    Err("redirecionamentos demais".into())
}
