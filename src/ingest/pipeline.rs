//! The consumer of the hand-off queue: decode → match gateways and tags (from caches, not
//! one query per reading) → store readings and gateways' `last_seen_at` in batches, one
//! transaction per flush.
//!
//! Tag positions, presence sessions, the offline monitor and the live stream build on this
//! (issue 5); camera-tree messages are counted and left to the CAM-BUS collector (issue 6).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use super::Inbound;
use super::decode::{self, GatewayKey, Rejection, Report};
use super::locate::{Anchor, PathLoss, TagPosition, TagState};
use crate::config::{Config, RawReadings};
use crate::events::EventBus;
use crate::mac::Mac;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::devices::{BLE_GATEWAY, Device};
use crate::store::readings::{IngestBatch, NewReading};

/// Messages taken from the queue per round, and readings written per transaction at most.
const ROUND: usize = 4096;
/// Readings the pipeline keeps for a writer that is behind before it stops taking
/// messages (QoS 1 publishers then wait for their PUBACK). About 40 bytes each.
const MAX_BACKLOG_READINGS: usize = 500_000;
/// Batches waiting for the writer are merged up to this many readings (fewer, larger
/// transactions let a writer that fell behind catch up).
const MERGE_READINGS: usize = 50_000;
/// Unknown tags remembered for the operator, at most.
const UNKNOWN_TAGS_KEPT: usize = 1000;

/// A tag heard that nobody registered: shown to operators so they can register it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnknownTag {
    pub mac_address: String,
    pub times_heard: u64,
    pub last_rssi: Option<i32>,
    pub last_gateway_id: i64,
    pub last_heard_at: DateTime<Utc>,
}

/// What the API reads of the pipeline.
#[derive(Default)]
pub struct PipelineView {
    unknown: Mutex<HashMap<Mac, UnknownTag>>,
    positions: std::sync::RwLock<HashMap<i64, TagPosition>>,
}

impl PipelineView {
    /// The latest position of every tag heard since the appliance started.
    pub fn positions(&self) -> Vec<TagPosition> {
        self.positions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Unknown tags, most recently heard first.
    pub fn unknown_tags(&self) -> Vec<UnknownTag> {
        let mut all: Vec<UnknownTag> = self
            .unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.last_heard_at));
        all
    }

    fn heard_unknown(&self, mac: Mac, gateway_id: i64, rssi: Option<i32>, at: DateTime<Utc>) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        if unknown.len() >= UNKNOWN_TAGS_KEPT && !unknown.contains_key(&mac) {
            let oldest = unknown
                .iter()
                .min_by_key(|(_, t)| t.last_heard_at)
                .map(|(m, _)| *m);
            if let Some(oldest) = oldest {
                unknown.remove(&oldest);
            }
        }
        let entry = unknown.entry(mac).or_insert_with(|| UnknownTag {
            mac_address: mac.to_string(),
            times_heard: 0,
            last_rssi: None,
            last_gateway_id: gateway_id,
            last_heard_at: at,
        });
        entry.times_heard += 1;
        entry.last_rssi = rssi;
        entry.last_gateway_id = gateway_id;
        entry.last_heard_at = at;
    }

    fn registered(&self, mac: &Mac) {
        self.unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(mac);
    }
}

struct Pipeline {
    store: Store,
    config: Arc<Config>,
    trees: super::topics::TopicTrees,
    metrics: Arc<Metrics>,
    events: EventBus,
    view: Arc<PipelineView>,
    gateways: HashMap<GatewayKey, i64>,
    /// MAC → (tag id, active).
    tags: HashMap<Mac, (i64, bool)>,
    /// Per (tag, gateway): the second of the last stored reading (downsampling).
    last_second: HashMap<(i64, i64), i64>,
    /// What this round stores (readings, gateways seen, presence sessions).
    round: IngestBatch,
    /// Where each placed gateway is drawn.
    anchors: HashMap<i64, Anchor>,
    /// Physical sizes (metres) of the plans that have one.
    plan_sizes: HashMap<i64, (f64, f64)>,
    tag_states: HashMap<i64, TagState>,
    /// Tags heard in this round, whose position is published after it.
    moved: Vec<i64>,
    sessions: super::sessions::Sessions,
    writer: mpsc::Sender<IngestBatch>,
    /// Batches the writer could not take yet (it is behind); while there are any, readings
    /// of QoS 0 messages are not stored (shed), positions go on.
    backlog: VecDeque<IngestBatch>,
    /// What the live stream was last told about each tag.
    announced: HashMap<i64, (TagPosition, std::time::Instant)>,
}

/// Consumes the queue until every sender is gone (the broker has stopped) and the last
/// batch is stored, so that nothing acknowledged is left behind.
pub async fn run(
    mut rx: super::QueueReceiver,
    store: Store,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    events: EventBus,
    view: Arc<PipelineView>,
) {
    let config_gap = config.devices.presence_gap_seconds;
    let (batches, pending) = mpsc::channel(2);
    let writer = tokio::spawn(write_batches(pending, store.clone(), metrics.clone()));
    let mut changes = events.subscribe();
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    // Changes this process did not make (another node, `seed --demo`) reach the caches
    // at the latest this late.
    let every = Duration::from_secs(config.ingest.cache_refresh_seconds);
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listening = true;
    let mut pipeline = Pipeline {
        trees: super::topics::TopicTrees::new(&config.mqtt),
        store,
        config,
        metrics,
        events,
        view,
        gateways: HashMap::new(),
        tags: HashMap::new(),
        last_second: HashMap::new(),
        round: IngestBatch::default(),
        anchors: HashMap::new(),
        plan_sizes: HashMap::new(),
        tag_states: HashMap::new(),
        moved: Vec::new(),
        announced: HashMap::new(),
        sessions: super::sessions::Sessions::new(config_gap),
        writer: batches,
        backlog: VecDeque::new(),
    };
    if let Err(err) = pipeline.store.close_open_presence_sessions().await {
        tracing::warn!(error = %err, "could not close the presence sessions of the previous run");
    }
    pipeline.load_caches().await;
    let mut batch = Vec::with_capacity(ROUND);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, ROUND) => {
                if received == 0 {
                    break;
                }
                pipeline.metrics.ingest_queue_depth.fetch_sub(received as i64, std::sync::atomic::Ordering::Relaxed);
                for message in batch.drain(..) {
                    pipeline.handle(message).await;
                }
                pipeline.publish_positions();
                pipeline.flush().await;
            }
            _ = sweep.tick() => {
                pipeline.sessions.sweep(Utc::now());
                pipeline.take_sessions();
                pipeline.flush().await;
            }
            _ = refresh.tick() => pipeline.load_caches().await,
            // Registrations and deletions made through the API change what a MAC means.
            change = changes.recv(), if listening => {
                let relevant = match &change {
                    // Gateways this pipeline registered itself (no user) are already cached.
                    Ok(event)
                        if event.event_type == "DEVICE_CREATED" && event.user_id.is_none() =>
                    {
                        false
                    }
                    Ok(event) => matches!(
                        event.event_type,
                        "TAG_CREATED"
                            | "TAG_UPDATED"
                            | "TAG_DELETED"
                            | "DEVICE_CREATED"
                            | "DEVICE_UPDATED"
                            | "DEVICE_DELETED"
                            | "DEVICE_POSITION_UPDATED"
                            | "FLOOR_PLAN_CREATED"
                            | "FLOOR_PLAN_UPDATED"
                            | "FLOOR_PLAN_DELETED"
                    ),
                    // Missed events: reload to be safe.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => {
                        listening = false;
                        false
                    }
                };
                if relevant {
                    pipeline.load_caches().await;
                }
            }
        }
    }
    pipeline.take_sessions();
    pipeline.flush().await;
    pipeline.drain_backlog().await;
    drop(pipeline);
    let _ = writer.await;
    tracing::debug!("ingest pipeline drained");
}

impl Pipeline {
    async fn load_caches(&mut self) {
        match self.store.tag_keys().await {
            Ok(tags) => {
                self.tags = tags
                    .into_iter()
                    .filter_map(|(mac, id, active)| {
                        Some((crate::mac::canonical(&mac)?, (id, active)))
                    })
                    .collect();
                for mac in self.tags.keys() {
                    self.view.registered(mac);
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not load tags"),
        }
        match self.store.list_floor_plans(None, 0, i64::MAX).await {
            Ok(plans) => {
                self.plan_sizes = plans
                    .into_iter()
                    .filter_map(|p| Some((p.id, (p.width_m?, p.height_m?))))
                    .collect();
            }
            Err(err) => tracing::warn!(error = %err, "could not load floor plans"),
        }
        match self.store.gateway_keys().await {
            Ok(gateways) => {
                self.gateways.clear();
                self.anchors.clear();
                for g in gateways {
                    if let Some(mac) = g.mac_address.as_deref().and_then(crate::mac::canonical) {
                        self.gateways.insert(GatewayKey::Mac(mac), g.id);
                    }
                    if let Some(code) = g.code {
                        self.gateways.insert(GatewayKey::Code(code), g.id);
                    }
                    if let (Some(floor_plan_id), Some(x), Some(y)) =
                        (g.floor_plan_id, g.pos_x, g.pos_y)
                    {
                        let site = &self.config.positioning;
                        let path_loss = PathLoss {
                            rssi_at_1m: g.rssi_at_1m.unwrap_or(site.rssi_at_1m),
                            exponent: g.path_loss_exponent.unwrap_or(site.path_loss_exponent),
                            height_m: site.gateway_height_m,
                        };
                        self.anchors.insert(
                            g.id,
                            Anchor {
                                floor_plan_id,
                                x,
                                y,
                                path_loss,
                            },
                        );
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not load gateways"),
        }
    }

    async fn handle(&mut self, message: Inbound) {
        self.metrics
            .ingest_received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(topic) = std::str::from_utf8(&message.topic) else {
            return self.reject(Rejection::UnknownTopic, "(not UTF-8)");
        };
        let report = match decode::decode(topic, &message.payload, &self.trees, message.received_at)
        {
            Ok(report) => report,
            Err(why) => return self.reject(why, topic),
        };
        if report.sightings.len() > self.config.ingest.max_readings_per_message {
            return self.reject(Rejection::TooManyReadings, topic);
        }
        let Some(gateway_id) = self.gateway(&report).await else {
            return;
        };
        self.round.saw(gateway_id, message.received_at);
        let policy = self.config.ingest.raw_readings;
        // A QoS 0 report was never acknowledged: while the writer is behind, its readings
        // move positions but are not stored.
        let shed = message.qos == 0 && self.writer_behind();
        for sighting in &report.sightings {
            let Some(&(tag_id, active)) = self.tags.get(&sighting.tag) else {
                self.metrics
                    .ingest_unknown_tags
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.view.heard_unknown(
                    sighting.tag,
                    gateway_id,
                    sighting.rssi,
                    message.received_at,
                );
                continue;
            };
            if !active {
                self.metrics
                    .ingest_inactive_tags
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let at = sighting.at.unwrap_or(message.received_at);
            self.tag_states
                .entry(tag_id)
                .or_default()
                .hear(gateway_id, sighting.rssi, at);
            self.sessions.heard(tag_id, gateway_id, at);
            self.moved.push(tag_id);
            let keep = match policy {
                RawReadings::All => true,
                RawReadings::Off => false,
                RawReadings::Downsampled => {
                    let second = at.timestamp();
                    self.last_second.insert((tag_id, gateway_id), second) != Some(second)
                }
            };
            if keep && shed {
                self.metrics
                    .ingest_readings_shed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else if keep {
                self.round.readings.push(NewReading {
                    device_id: gateway_id,
                    tag_id,
                    rssi: sighting.rssi,
                    created_at: at,
                });
            }
        }
        if report.skipped > 0 {
            self.metrics
                .ingest_skipped_entries
                .fetch_add(report.skipped as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Makes the positions of the tags heard in this round visible to the API, and tells
    /// the live stream about tags that moved (another gateway, or visibly on the plan) —
    /// at most every few seconds for a tag that only stays put.
    fn publish_positions(&mut self) {
        if self.moved.is_empty() {
            return;
        }
        self.moved.sort_unstable();
        self.moved.dedup();
        let mut changed = Vec::new();
        {
            let mut positions = self
                .view
                .positions
                .write()
                .unwrap_or_else(|p| p.into_inner());
            for tag_id in self.moved.drain(..) {
                let Some(position) = self
                    .tag_states
                    .get_mut(&tag_id)
                    .and_then(|s| s.position(tag_id, &self.anchors, &self.plan_sizes))
                else {
                    continue;
                };
                let news = match self.announced.get(&tag_id) {
                    None => true,
                    Some((last, when)) => {
                        let shift = (position.x.unwrap_or(0.0) - last.x.unwrap_or(0.0)).abs()
                            + (position.y.unwrap_or(0.0) - last.y.unwrap_or(0.0)).abs();
                        last.device_id != position.device_id
                            || shift > 0.01
                            || when.elapsed() > Duration::from_secs(5)
                    }
                };
                if news {
                    self.announced
                        .insert(tag_id, (position.clone(), std::time::Instant::now()));
                    changed.push(position.clone());
                }
                positions.insert(tag_id, position);
            }
        }
        for position in changed {
            self.events.publish(
                "POSITION_CHANGED",
                None,
                serde_json::to_value(&position).unwrap_or_default(),
            );
        }
    }

    fn reject(&self, why: Rejection, topic: &str) {
        self.metrics.ingest_rejected(why);
        tracing::debug!(topic, reason = why.label(), "gateway report rejected");
    }

    /// The gateway's device id: from the cache, or registered on first contact (unless the
    /// site accepts known gateways only).
    async fn gateway(&mut self, report: &Report) -> Option<i64> {
        if let Some(id) = self.gateways.get(&report.gateway) {
            return Some(*id);
        }
        if !self.config.ingest.auto_register_gateways {
            self.metrics
                .ingest_unknown_gateways
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        let (building_id, floor_id) = self.placement(report).await;
        let device = match &report.gateway {
            GatewayKey::Mac(mac) => Device {
                name: format!("Gateway {mac}"),
                code: Some(format!("GW_{}", mac.as_str())),
                mac_address: Some(mac.as_str().to_string()),
                ..Device::default()
            },
            GatewayKey::Code(code) => Device {
                name: code.clone(),
                code: Some(code.clone()),
                ..Device::default()
            },
        };
        let device = Device {
            device_type: BLE_GATEWAY.into(),
            description: Some("Auto-created from MQTT".into()),
            building_id,
            floor_id,
            ..device
        };
        match self.store.insert_device(&device).await {
            Ok(saved) => {
                tracing::info!(
                    gateway = saved.name,
                    id = saved.id,
                    "gateway registered on first contact"
                );
                self.metrics
                    .ingest_gateways_registered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.events.publish(
                    "DEVICE_CREATED",
                    None,
                    serde_json::json!({
                        "device_id": saved.id, "name": saved.name, "type": saved.device_type,
                        "mac_address": saved.mac_address.as_deref().map(crate::mac::display_stored),
                        "floor_plan_id": saved.floor_plan_id, "updated_at": saved.updated_at,
                    }),
                );
                self.gateways.insert(report.gateway.clone(), saved.id);
                Some(saved.id)
            }
            Err(err) => {
                // The MAC or code belongs to another kind of device, or was registered
                // meanwhile: reload, and refuse this message if it still does not resolve.
                tracing::warn!(error = %err, gateway = ?report.gateway, "could not register a gateway");
                self.load_caches().await;
                let id = self.gateways.get(&report.gateway).copied();
                if id.is_none() {
                    self.metrics
                        .ingest_unknown_gateways
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                id
            }
        }
    }

    /// Building and floor named by the long topic grammar: the building by code
    /// (case-insensitive) or name, the floor by level or name.
    async fn placement(&self, report: &Report) -> (Option<i64>, Option<i64>) {
        let Some(building_name) = &report.placement.building else {
            return (None, None);
        };
        let Ok(buildings) = self.store.list_buildings(0, i64::MAX).await else {
            return (None, None);
        };
        let building = buildings
            .iter()
            .find(|b| b.code.eq_ignore_ascii_case(building_name))
            .or_else(|| {
                buildings.iter().find(|b| {
                    slug(&b.name) == slug(building_name) || slug(&b.code) == slug(building_name)
                })
            });
        let Some(building) = building else {
            return (None, None);
        };
        let Some(floor_name) = &report.placement.floor else {
            return (Some(building.id), None);
        };
        let floors = self
            .store
            .list_floors(Some(building.id), 0, i64::MAX)
            .await
            .unwrap_or_default();
        let level: Option<i32> = floor_name.parse().ok();
        let floor = floors
            .iter()
            .find(|f| level.is_some() && f.level == level)
            .or_else(|| floors.iter().find(|f| slug(&f.name) == slug(floor_name)));
        (Some(building.id), floor.map(|f| f.id))
    }

    /// Hands this round's readings to the writer, which stores them while the next round is
    /// decoded. With two rounds already waiting, this waits: the queue fills, and QoS 1
    /// publishers wait for their PUBACK.
    /// Hands this round's writes to the writer without waiting for it: when it is behind,
    /// they join the backlog, which is offered again at every round and every second. Only
    /// a backlog over [`MAX_BACKLOG_READINGS`] makes the pipeline wait.
    async fn flush(&mut self) {
        if !self.round.is_empty() {
            let batch = std::mem::take(&mut self.round);
            match self.backlog.back_mut() {
                Some(last) if last.readings.len() + batch.readings.len() <= MERGE_READINGS => {
                    last.merge(batch)
                }
                _ => self.backlog.push_back(batch),
            }
        }
        while let Some(batch) = self.backlog.pop_front() {
            match self.writer.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(batch)) => {
                    self.backlog.push_front(batch);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::error!("the readings writer has stopped");
                    self.backlog.clear();
                }
            }
        }
        let mut waiting: usize = self.backlog.iter().map(|b| b.readings.len()).sum();
        while waiting > MAX_BACKLOG_READINGS {
            let Some(batch) = self.backlog.pop_front() else {
                break;
            };
            waiting -= batch.readings.len();
            if self.writer.send(batch).await.is_err() {
                tracing::error!("the readings writer has stopped");
            }
        }
        self.metrics
            .ingest_writer_backlog
            .store(waiting as i64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Hands the whole backlog over, waiting for the writer (at shutdown).
    async fn drain_backlog(&mut self) {
        while let Some(batch) = self.backlog.pop_front() {
            if self.writer.send(batch).await.is_err() {
                tracing::error!("the readings writer has stopped");
                break;
            }
        }
    }

    /// The presence sessions due to be written join this round.
    fn take_sessions(&mut self) {
        for write in self.sessions.pending() {
            self.round.add_session(write);
        }
    }

    fn writer_behind(&self) -> bool {
        !self.backlog.is_empty()
    }
}

/// Stores batches in order, one transaction each. A database hiccup must not drop what
/// was acknowledged: a failed batch is retried, then counted.
async fn write_batches(
    mut batches: mpsc::Receiver<IngestBatch>,
    store: Store,
    metrics: Arc<Metrics>,
) {
    while let Some(batch) = batches.recv().await {
        let mut stored = false;
        for attempt in 1..=5 {
            match store.store_ingest_batch(&batch).await {
                Ok(()) => {
                    stored = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, readings = batch.readings.len(), "storing readings failed");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        let counter = if stored {
            &metrics.ingest_readings_stored
        } else {
            &metrics.ingest_store_failures
        };
        counter.fetch_add(
            batch.readings.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if !stored {
            tracing::error!(
                readings = batch.readings.len(),
                "readings could not be stored"
            );
        }
    }
}

/// `Prédio A` → `predio-a`: lower case, ASCII letters and digits, runs of anything else as
/// one `-`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars().flat_map(fold_accent) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The unaccented letter of common Latin accented letters (Portuguese, Spanish, French).
fn fold_accent(c: char) -> Option<char> {
    let folded = match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
        'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'A',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'É' | 'È' | 'Ê' | 'Ë' => 'E',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
        'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
        'ç' => 'c',
        'Ç' => 'C',
        'ñ' => 'n',
        'Ñ' => 'N',
        other => other,
    };
    Some(folded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_match_building_names_the_way_people_write_them() {
        assert_eq!(slug("Prédio A"), "predio-a");
        assert_eq!(slug("  PREDIO_a "), "predio-a");
        assert_eq!(slug("Andar 1 — Recepção"), "andar-1-recepcao");
    }
}
