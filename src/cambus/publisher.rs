//! The CAM-BUS publisher: each camera's configuration, retained, on its `/info` topic, and
//! `{"enabled": false}` on every topic a camera left (deleted, moved, renamed building or
//! floor, changed code or type).
//!
//! It works from a desired state kept in `cambus_info_topics`: on every change that may
//! affect a camera (a device, building or floor changed) the whole desired state is
//! recomputed, rows whose content changed become pending, and pending rows are published.
//! A failed publish stays pending and is retried, so the API never waits on the broker and
//! the broker never silently disagrees with the database. Everything is published again at
//! start (the embedded broker keeps retained messages in memory only) and after the
//! external broker reconnects.
//!
//! Publishes go through the embedded broker's local link (no connection per publish) or
//! the external broker's client; they never come back as input (the collector ignores
//! `/info`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::protocol::{Packet, Publish};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::topic::{camera_analytics, camera_segment, slug};
use crate::broker::external::BrokerState;
use crate::config::Config;
use crate::events::{EventBus, EventType};
use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::store::Store;
use crate::store::devices::{Device, TopicSpec};

/// How often pending publishes are retried.
const RETRY_EVERY: Duration = Duration::from_secs(5);
/// The hash of a disabled topic's content.
const DISABLED: &str = "disabled";

/// Where the appliance publishes.
pub enum BusOut {
    /// The embedded broker's router, through a local link.
    Embedded { tx: LinkTx, _rx: LinkRx },
    /// An external broker, and whether it is connected.
    External {
        client: rumqttc::AsyncClient,
        state: watch::Receiver<BrokerState>,
    },
}

impl BusOut {
    /// Whether a publish can reach the broker now (the external client would only queue
    /// it while disconnected, and block once its queue is full).
    fn reachable(&self) -> bool {
        match self {
            BusOut::Embedded { .. } => true,
            BusOut::External { state, .. } => state.borrow().connected,
        }
    }

    async fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> Result<(), String> {
        if !self.reachable() {
            return Err("the external MQTT broker is not connected".into());
        }
        match self {
            BusOut::Embedded { tx, .. } => tx
                .send(Packet::Publish(
                    Publish::new(
                        bytes::Bytes::from(topic.to_string()),
                        payload.into(),
                        retain,
                    ),
                    None,
                ))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            BusOut::External { client, .. } => client
                .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// A one-off publish asked by the API (uplink commands).
pub struct Command {
    pub topic: String,
    pub payload: Vec<u8>,
    pub done: oneshot::Sender<Result<(), String>>,
}

/// The API's handle on the publisher.
#[derive(Clone)]
pub struct CambusHandle {
    commands: mpsc::Sender<Command>,
}

impl CambusHandle {
    pub fn new() -> (CambusHandle, mpsc::Receiver<Command>) {
        let (commands, rx) = mpsc::channel(64);
        (CambusHandle { commands }, rx)
    }

    /// Publishes a command (QoS 1, not retained) and waits until it is handed to the broker.
    pub async fn command(&self, topic: String, payload: Vec<u8>) -> Result<(), String> {
        let (done, result) = oneshot::channel();
        let command = Command {
            topic,
            payload,
            done,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| "the MQTT publisher is not running".to_string())?;
        result
            .await
            .map_err(|_| "the MQTT publisher stopped".to_string())?
    }
}

pub struct Publisher {
    pub store: Store,
    pub config: Arc<Config>,
    pub secrets: SecretBox,
    pub metrics: Arc<Metrics>,
    pub events: EventBus,
}

/// A camera's `/info` topic and configuration.
pub struct Info {
    pub topic: String,
    pub payload: Value,
    /// Changes whenever the payload does; the password enters it sealed, not in clear.
    pub hash: String,
}

impl Publisher {
    pub async fn run(
        self,
        mut out: BusOut,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let mut changes = self.events.subscribe();
        let mut retry = tokio::time::interval(RETRY_EVERY);
        // Changes made elsewhere (another node, `seed`) reach the bus at the latest this late.
        let every = Duration::from_secs(self.config.ingest.cache_refresh_seconds);
        let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut external = match &out {
            BusOut::External { state, .. } => Some(state.clone()),
            BusOut::Embedded { .. } => None,
        };
        if let Err(err) = self.store.info_topics_all_pending().await {
            tracing::warn!(error = %err, "CAM-BUS publisher: database unavailable");
        }
        self.reconcile().await;
        loop {
            tokio::select! {
                _ = retry.tick() => {}
                _ = refresh.tick() => self.reconcile().await,
                change = changes.recv() => match change {
                    Ok(event) if affects_cameras(event.event_type) => self.reconcile().await,
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.reconcile().await,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(command) = commands.recv() => {
                    let result = out.publish(&command.topic, command.payload, false).await;
                    let _ = command.done.send(result);
                    continue;
                }
                // Reconnected: the broker may have lost what it had (a clean session, a
                // restart without persistence), so everything goes out again.
                Ok(()) = async { external.as_mut().unwrap().changed().await }, if external.is_some() => {
                    if external.as_ref().is_some_and(|s| s.borrow().connected) {
                        let _ = self.store.info_topics_all_pending().await;
                    }
                }
                () = shutdown.cancelled() => break,
            }
            self.publish_pending(&mut out).await;
        }
    }

    /// Recomputes what every `/info` topic should hold and the cameras' topic rows.
    async fn reconcile(&self) {
        if let Err(err) = self.try_reconcile().await {
            tracing::warn!(error = %err, "CAM-BUS publisher: could not compute camera configurations");
        }
    }

    async fn try_reconcile(&self) -> crate::store::Result<()> {
        let cameras = self.store.cameras().await?;
        let names = SiteNames::load(&self.store).await?;
        let mut wanted = HashSet::new();
        for camera in &cameras {
            let info = self.info(camera, &names);
            self.store
                .want_info_topic(&info.topic, Some(camera.id), true, &info.hash)
                .await?;
            // Skipped when the camera changed since it was read: that write saved its
            // own topics, and its event brings another reconcile.
            self.store
                .sync_camera_topics(camera, &camera_topics(&self.config, camera, &names))
                .await?;
            wanted.insert(info.topic);
        }
        for row in self.store.info_topics().await? {
            if row.enabled && !wanted.contains(&row.topic) {
                self.store
                    .want_info_topic(&row.topic, row.device_id, false, DISABLED)
                    .await?;
            }
        }
        Ok(())
    }

    /// The `/info` topic and configuration of a camera (the original's payload), with
    /// its password unless `cambus.publish_passwords` is off.
    pub fn info(&self, camera: &Device, names: &SiteNames) -> Info {
        let topic = info_topic(&self.config, camera, names);
        let mut payload = info_payload(&self.config, camera);
        let mut hashed = payload.clone();
        if self.config.cambus.publish_passwords {
            let sealed = camera.password_encrypted.clone();
            let password = sealed
                .as_deref()
                .and_then(|s| self.secrets.open(s))
                .unwrap_or_default();
            payload["password"] = Value::String(password);
            hashed["password"] = json!(sealed);
        }
        let digest = Sha256::digest(format!("{topic}\n{hashed}").as_bytes());
        Info {
            topic,
            payload,
            hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// Publishes every pending `/info` topic (none while the broker is out of reach: they
    /// stay pending).
    async fn publish_pending(&self, out: &mut BusOut) {
        let rows = match self.store.info_topics().await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "CAM-BUS publisher: database unavailable");
                return;
            }
        };
        let mut pending: Vec<_> = rows.into_iter().filter(|r| r.pending).collect();
        // Withdrawals first: a deleted camera's configuration (which may carry its
        // password) is replaced before anything newer goes out, so a subscriber that sees
        // a later camera's configuration no longer sees the deleted one's.
        pending.sort_by_key(|row| row.enabled);
        self.metrics
            .cambus_publish_pending
            .store(pending.len() as i64, Ordering::Relaxed);
        if pending.is_empty() || !out.reachable() {
            return;
        }
        let Ok(names) = SiteNames::load(&self.store).await else {
            return;
        };
        let gauge = &self.metrics.cambus_publish_pending;
        for row in pending {
            // The content is read now: a camera changed since the row was written makes
            // another reconcile, and the row pending again.
            let camera = match row.device_id {
                Some(id) if row.enabled => match self.store.device(id).await {
                    Ok(camera) => Some(camera),
                    // Deleted meanwhile: the next reconcile disables the topic.
                    Err(crate::store::StoreError::NotFound) => continue,
                    Err(err) => {
                        tracing::warn!(error = %err, "CAM-BUS publisher: database unavailable");
                        return;
                    }
                },
                _ => None,
            };
            let payload = match &camera {
                Some(camera) => self.info(camera, &names).payload,
                None => json!({"enabled": false}),
            };
            let bytes = serde_json::to_vec(&payload).unwrap_or_default();
            match out.publish(&row.topic, bytes, true).await {
                Ok(()) => {
                    self.metrics
                        .cambus_publishes
                        .fetch_add(1, Ordering::Relaxed);
                    match self
                        .store
                        .info_topic_published(&row.topic, &row.config_hash)
                        .await
                    {
                        Ok(()) => {
                            gauge.fetch_sub(1, Ordering::Relaxed);
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "CAM-BUS publisher: could not record a publish");
                        }
                    }
                }
                Err(err) => {
                    self.metrics
                        .cambus_publish_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic = row.topic, error = %err, attempts = row.attempts + 1, "could not publish a camera configuration; will retry");
                    let _ = self.store.info_topic_failed(&row.topic, &err).await;
                }
            }
        }
    }
}

/// Building and floor names by id, for topics.
pub struct SiteNames {
    buildings: HashMap<i64, String>,
    floors: HashMap<i64, String>,
}

impl SiteNames {
    pub async fn load(store: &Store) -> crate::store::Result<SiteNames> {
        let buildings = store.list_buildings(0, i64::MAX).await?;
        let floors = store.list_floors(None, 0, i64::MAX).await?;
        Ok(SiteNames {
            buildings: buildings.into_iter().map(|b| (b.id, b.name)).collect(),
            floors: floors.into_iter().map(|f| (f.id, f.name)).collect(),
        })
    }
}

/// `<tenant>/<building>/<floor>/camera/<camera>`, with publisher slugs: where a camera
/// lives under the camera tree (its `/info`) and the uplink tree (its commands). A camera
/// placed nowhere is `externo/externo`.
pub fn camera_path(config: &Config, camera: &Device, names: &SiteNames) -> String {
    let (building, floor) = if camera.building_id.is_none() && camera.floor_id.is_none() {
        ("externo".to_string(), "externo".to_string())
    } else {
        let name = |map: &HashMap<i64, String>, id: Option<i64>| {
            id.and_then(|id| map.get(&id)).cloned().unwrap_or_default()
        };
        (
            slug(&name(&names.buildings, camera.building_id), "building"),
            slug(&name(&names.floors, camera.floor_id), "floor"),
        )
    };
    format!(
        "{}/{building}/{floor}/camera/{}",
        slug(&config.cambus.tenant, "default"),
        camera_segment(camera),
    )
}

/// `<camera_tree>/<camera path>/info`: the camera's retained configuration.
/// A camera's CAM-BUS topics as `/devices/{id}/topics` lists them: its `/info` and one
/// event topic per analytic.
pub fn camera_topics(config: &Config, camera: &Device, names: &SiteNames) -> Vec<TopicSpec> {
    let info = info_topic(config, camera, names);
    let base = info.trim_end_matches("/info").to_string();
    let events = camera_analytics(camera)
        .into_iter()
        .map(|analytic| TopicSpec {
            kind: "cambus_event",
            topic: format!("{base}/{analytic}/events"),
            description: format!("Camera event topic ({analytic})"),
        });
    let info = TopicSpec {
        kind: "cambus_info",
        topic: info,
        description: "Camera /info for cam-bus".into(),
    };
    std::iter::once(info).chain(events).collect()
}

pub fn info_topic(config: &Config, camera: &Device, names: &SiteNames) -> String {
    format!(
        "{}/{}/info",
        config.mqtt.camera_tree,
        camera_path(config, camera, names)
    )
}

/// A camera's configuration as collectors read it, without the password.
pub fn info_payload(config: &Config, camera: &Device) -> Value {
    let text = |v: &Option<String>| Value::String(v.clone().unwrap_or_default());
    json!({
        "manufacturer": text(&camera.manufacturer),
        "model": text(&camera.model),
        "name": camera.name,
        "ip": camera.ip_address,
        "username": text(&camera.username),
        "port": camera.port.unwrap_or(80),
        "use_tls": false,
        "enabled": true,
        "shard": camera.shard.clone().unwrap_or_else(|| config.cambus.default_shard.clone()),
        "analytics": camera_analytics(camera),
        "rtsp_url": text(&camera.rtsp_url),
        "proxy_path": text(&camera.proxy_path),
        "central_path": text(&camera.central_path),
        "record_retention_minutes": camera.record_retention_minutes,
        "central_media_mtx_ip": text(&camera.central_media_mtx_ip),
    })
}

/// A camera's analytics: its own list, or its manufacturer's defaults.
fn affects_cameras(event_type: EventType) -> bool {
    use EventType::*;
    matches!(
        event_type,
        DeviceCreated
            | DeviceUpdated
            | DeviceDeleted
            | DevicePositionUpdated
            | BuildingUpdated
            | BuildingDeleted
            | FloorUpdated
            | FloorDeleted
    )
}
