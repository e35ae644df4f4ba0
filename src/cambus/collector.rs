//! The CAM-BUS collector: consumes the camera tree (from the embedded broker's hand-off or
//! the external broker, through the same queue) and stores what the collectors report.
//!
//! - `…/collector/status`: which collectors are alive, for which building.
//! - `…/camera/<code>/status`: a camera event; the camera is seen, unless the status says
//!   `offline`, which the device monitor turns into `CAMERA_OFFLINE`.
//! - `…/camera/<code>/<analytic>/events`: a camera event, with the tagged people nearby and
//!   the person a face recognition named.
//! - `…/camera/<code>/info` is the appliance's own retained configuration: never stored.
//!
//! An event repeated with the same topic and payload time (a collector re-sending after a
//! reconnect) is stored once. Bad messages are refused and counted by reason.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::nearby;
use super::topic::{self, CameraRejection, CameraTopic};
use crate::cluster::{Cluster, Role};
use crate::config::Config;
use crate::events::{EventBus, EventType, payload};
use crate::ingest::Inbound;
use crate::ingest::view::PipelineView;
use crate::jobs::device_monitor::OfflineReports;
use crate::metrics::Metrics;
use crate::store::cambus::NewCameraEvent;
use crate::store::devices::{CAMERA, Device};
use crate::store::{Store, StoreError};

pub struct Collector {
    pub recorder: Arc<EventRecorder>,
    pub metrics: Arc<Metrics>,
    pub offline_reports: OfflineReports,
    /// Per camera, the last status stored (its content without times) and when: a
    /// heartbeat repeating it only moves `last_seen_at`.
    pub statuses: Mutex<HashMap<i64, (String, DateTime<Utc>)>>,
    /// Codes that matched no camera, and when: a collector flooding the bus with an
    /// unknown camera costs one database lookup per UNKNOWN_CODE_KEPT, not one per message.
    pub unknown_codes: Mutex<HashMap<String, std::time::Instant>>,
    /// This node's role: in a cluster, camera events are stored under the leader's epoch.
    pub cluster: Cluster,
}

const UNKNOWN_CODE_KEPT: std::time::Duration = std::time::Duration::from_secs(10);
/// More unknown codes than this at once: the list starts afresh (bounded memory).
const UNKNOWN_CODES_MAX: usize = 10_000;

/// A repeated status is stored again at least this often, as a trace of the camera's life.
const STATUS_REPEAT_STORED_EVERY: chrono::Duration = chrono::Duration::minutes(10);

/// Stores camera events (from the bus or the API) with the people nearby and the person a
/// face recognition named, and announces them on the event bus.
pub struct EventRecorder {
    pub store: Store,
    pub config: Arc<Config>,
    pub events: EventBus,
    pub positions: Arc<PipelineView>,
}

/// One camera event to record.
pub struct CameraEventInput<'a> {
    pub topic: &'a str,
    pub analytic_type: &'a str,
    pub payload: &'a Value,
    pub occurred_at: DateTime<Utc>,
    pub dedup_key: Option<String>,
    /// The `device_topics` row (kind, description) the topic is registered as.
    pub topic_kind: Option<(&'a str, &'a str)>,
    /// When the event shows the camera alive (moves `last_seen_at` forward), if it does.
    pub seen_at: Option<DateTime<Utc>>,
    /// Whether to look for the tagged people nearby (analytic events).
    pub fuse: bool,
    /// The cluster leader's epoch the collector stores under: refused once another node
    /// took over (`None`: outside a cluster, and the API's events).
    pub epoch: Option<i64>,
}

impl EventRecorder {
    /// The stored event's id, or `None` when it was already stored (same dedup key).
    pub async fn record(
        &self,
        camera: &Device,
        input: CameraEventInput<'_>,
    ) -> crate::store::Result<Option<i64>> {
        let nearby_people = if input.fuse {
            nearby::people_near(
                &self.store,
                camera,
                &self.positions.positions(),
                input.occurred_at,
                self.config.cambus.nearby_radius_m,
                Utc::now(),
            )
            .await?
        } else {
            Vec::new()
        };
        let person_id = match topic::recognised_name(input.payload) {
            Some(name) => self.store.person_named(name).await?,
            None => None,
        };
        let event = NewCameraEvent {
            device_id: camera.id,
            topic: input.topic,
            analytic_type: input.analytic_type,
            payload: input.payload,
            occurred_at: input.occurred_at,
            dedup_key: input.dedup_key,
            person_id,
            nearby_people: &nearby_people,
        };
        let id = self
            .store
            .record_camera_event(&event, input.topic_kind, input.seen_at, input.epoch)
            .await?;
        if let Some(id) = id {
            self.events.publish(
                EventType::CameraEvent,
                None,
                payload::camera_event(id, camera, &event),
            );
        }
        Ok(id)
    }
}

/// Consumes the queue until every sender is gone (the broker has stopped).
pub async fn run(mut rx: crate::ingest::QueueReceiver, collector: Collector) {
    let mut changes = collector.recorder.events.subscribe();
    loop {
        tokio::select! {
            // Changes first: a camera registered just before its message arrived is known.
            biased;
            // A camera registered or renamed may be one that was unknown a moment ago.
            Ok(event) = changes.recv() => {
                if matches!(event.event_type, EventType::DeviceCreated | EventType::DeviceUpdated) {
                    collector.unknown_codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
                }
            }
            // (Missed events only delay a newly registered camera by UNKNOWN_CODE_KEPT.)
            message = rx.recv() => match message {
                // Its PUBACK waits until it is stored; one that could not be is left
                // unacknowledged, for its publisher to send again.
                Some(mut message) => {
                    let stored = message.stored.take();
                    if collector.handle(message).await
                        && let Some(stored) = stored
                    {
                        stored.confirm();
                    }
                }
                None => break,
            },
        }
    }
    tracing::debug!("CAM-BUS collector drained");
}

impl Collector {
    /// Stores (or refuses) one message; `false` when it could not be stored.
    async fn handle(&self, message: Inbound) -> bool {
        self.metrics.cambus_received.fetch_add(1, Ordering::Relaxed);
        let Ok(topic_text) = std::str::from_utf8(&message.topic) else {
            self.reject(CameraRejection::UnknownTopic, "(not UTF-8)");
            return true;
        };
        let parsed = match topic::parse(topic_text, &self.recorder.config.mqtt.camera_tree) {
            Ok(parsed) => parsed,
            Err(why) => {
                self.reject(why, topic_text);
                return true;
            }
        };
        if message.payload.len() > topic::MAX_PAYLOAD_BYTES {
            self.reject(CameraRejection::TooLarge, topic_text);
            return true;
        }
        let payload = match (&parsed, decode_payload(&message.payload)) {
            (CameraTopic::Info { .. }, _) => {
                self.metrics
                    .cambus_info_ignored
                    .fetch_add(1, Ordering::Relaxed);
                return true;
            }
            (CameraTopic::Event { .. }, Some(object @ Value::Object(_))) => object,
            (CameraTopic::Event { .. }, _) | (_, None) => {
                self.reject(CameraRejection::Malformed, topic_text);
                return true;
            }
            (_, Some(value)) => value,
        };
        let result = match parsed {
            CameraTopic::CollectorStatus { tenant, building } => {
                self.collector_status(&tenant, &building, &payload, &message)
                    .await
            }
            CameraTopic::Status { code } => {
                self.camera_message(topic_text, &code, None, &payload, &message)
                    .await
            }
            CameraTopic::Event { code, analytic } => {
                self.camera_message(topic_text, &code, Some(&analytic), &payload, &message)
                    .await
            }
            CameraTopic::Info { .. } => Ok(()),
        };
        if let Err(StoreError::Fenced(epoch)) = result {
            // Left unacknowledged at the broker, for the node that leads now.
            self.metrics
                .cluster_fenced_batches
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                topic = topic_text,
                epoch,
                "camera event not stored: this node no longer leads"
            );
            return false;
        }
        if let Err(err) = result {
            self.metrics
                .cambus_store_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(topic = topic_text, error = %err, "could not store a CAM-BUS message");
            return false;
        }
        true
    }

    fn reject(&self, why: CameraRejection, topic: &str) {
        self.metrics.cambus_rejected(why);
        tracing::debug!(topic, reason = why.label(), "CAM-BUS message refused");
    }

    async fn collector_status(
        &self,
        tenant: &str,
        building: &str,
        payload: &Value,
        message: &Inbound,
    ) -> crate::store::Result<()> {
        let status = payload
            .as_str()
            .or_else(|| payload.get("status").and_then(Value::as_str))
            .unwrap_or("online")
            .trim()
            .chars()
            .take(64)
            .collect::<String>();
        self.recorder
            .store
            .record_collector(tenant, building, &status, payload, message.received_at)
            .await?;
        self.recorder.events.publish(
            EventType::CambusCollectorStatus,
            None,
            payload::collector_status(tenant, building, &status),
        );
        Ok(())
    }

    /// A camera's status or analytic event.
    async fn camera_message(
        &self,
        topic_text: &str,
        code: &str,
        analytic: Option<&str>,
        payload: &Value,
        message: &Inbound,
    ) -> crate::store::Result<()> {
        let Some(camera) = self.camera(code).await? else {
            self.reject(CameraRejection::UnknownCamera, topic_text);
            return Ok(());
        };
        let now = Utc::now();
        let payload_time = topic::payload_time(payload, now);
        let occurred_at = payload_time
            .as_ref()
            .map_or(message.received_at, |(_, at)| *at);
        // A collector re-sending after a reconnect sends the same bytes: same topic, same
        // payload (whose time says it is not a new event of the same kind).
        let dedup_key = payload_time.map(|_| {
            let mut digest = Sha256::new();
            digest.update(topic_text.as_bytes());
            digest.update([0]);
            digest.update(&message.payload);
            digest.finalize()[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        });
        let (analytic_type, topic_kind, description, offline) = match analytic {
            Some(analytic) => (
                analytic.to_string(),
                "cambus_event",
                format!("Camera event topic ({analytic})"),
                false,
            ),
            None => (
                topic::status_analytic(payload, "cambus_status"),
                "cambus_status",
                "Camera status for cam-bus".to_string(),
                topic::says_offline(payload),
            ),
        };
        // Alive as of the event, but never later than it arrived (a camera clock ahead
        // would otherwise outlive its own offline report).
        let seen_at = (!offline).then(|| occurred_at.min(message.received_at));
        if offline {
            self.offline_reports.report(camera.id, occurred_at);
        }
        if analytic.is_none() && self.repeated_status(camera.id, payload, occurred_at) {
            if let Some(at) = seen_at {
                self.recorder.store.device_seen(camera.id, at).await?;
            }
            self.metrics
                .cambus_status_repeats
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let input = CameraEventInput {
            topic: topic_text,
            analytic_type: &analytic_type,
            payload,
            occurred_at,
            dedup_key,
            topic_kind: Some((topic_kind, &description)),
            seen_at,
            fuse: analytic.is_some(),
            epoch: self.epoch()?,
        };
        let stored = self.recorder.record(&camera, input).await?;
        match stored {
            Some(_) => self
                .metrics
                .cambus_events_stored
                .fetch_add(1, Ordering::Relaxed),
            None => self
                .metrics
                .cambus_duplicates
                .fetch_add(1, Ordering::Relaxed),
        };
        Ok(())
    }
}

impl Collector {
    /// The epoch to store camera events under: none outside a cluster; a standby stores
    /// none (what its consumer left in the queue when it stepped down is for the leader).
    fn epoch(&self) -> crate::store::Result<Option<i64>> {
        match self.cluster.role() {
            Role::Single => Ok(None),
            Role::Leader(epoch) => Ok(Some(epoch)),
            Role::Standby => Err(StoreError::Fenced(0)),
        }
    }
}

/// A camera by its code, or else by the topic segment collectors name it by (the
/// publisher's slug of its code, `device<id>` without one).
async fn camera_for_topic(store: &Store, segment: &str) -> crate::store::Result<Option<Device>> {
    match store.device_by_code(segment).await {
        Ok(device) if device.device_type == CAMERA => return Ok(Some(device)),
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(err) => return Err(err),
    }
    Ok(store
        .cameras()
        .await?
        .into_iter()
        .find(|c| topic::camera_segment(c) == segment))
}

impl Collector {
    /// The camera a topic names; unknown codes are remembered for a while.
    async fn camera(&self, code: &str) -> crate::store::Result<Option<Device>> {
        let known_unknown = {
            let unknown = self
                .unknown_codes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            unknown
                .get(code)
                .is_some_and(|since| since.elapsed() < UNKNOWN_CODE_KEPT)
        };
        if known_unknown {
            return Ok(None);
        }
        let camera = camera_for_topic(&self.recorder.store, code).await?;
        let mut unknown = self
            .unknown_codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if camera.is_none() {
            if unknown.len() >= UNKNOWN_CODES_MAX {
                unknown.clear();
            }
            unknown.insert(code.to_string(), std::time::Instant::now());
        } else {
            unknown.remove(code);
        }
        Ok(camera)
    }

    /// Whether a status says what the camera's last stored status said, recently; if not,
    /// it becomes the last stored one.
    fn repeated_status(&self, camera_id: i64, payload: &Value, at: DateTime<Utc>) -> bool {
        let mut content = payload.clone();
        if let Some(object) = content.as_object_mut() {
            for key in topic::PAYLOAD_TIME_KEYS {
                object.remove(key);
            }
        }
        let content = content.to_string();
        let mut statuses = self
            .statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((last, stored_at)) = statuses.get(&camera_id)
            && *last == content
            && at - *stored_at < STATUS_REPEAT_STORED_EVERY
        {
            return true;
        }
        statuses.insert(camera_id, (content, at));
        false
    }
}

/// A payload as JSON; a short plain-text payload (a last will saying `offline`) as a
/// string. Anything else is malformed.
fn decode_payload(bytes: &[u8]) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        return Some(value);
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let plain = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    plain.then(|| Value::String(text.to_string()))
}
