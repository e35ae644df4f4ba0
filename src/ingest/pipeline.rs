//! The consumer of the hand-off queue: decode → match gateways and tags (from caches, not
//! one query per reading) → store readings and gateways' `last_seen_at` in batches, one
//! transaction per flush.
//!
//! Read-your-writes: an API write that changes what the pipeline matches (tags, gateways,
//! plans, people) reaches it through [`PipelineView::changed`] before the API answers, and
//! is applied before any report that entered the queue after it (the pipeline takes
//! pending changes before each round of reports). So the very next report sees the write,
//! and the state of a deleted object (or of a tag that changed person or MAC, a gateway
//! that changed plan) is gone before it, whatever the ids. Changes made elsewhere (another
//! node, `seed --demo`) reach the caches at the next refresh (`ingest.cache_refresh_seconds`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::decode::{self, GatewayKey, Rejection, Report};
use super::locate::{Anchor, PathLoss, TagPosition, TagState};
use super::{Identity, Inbound, Source};
use crate::config::{Config, GatewayBinding, RawReadings};
use crate::events::EventBus;
use crate::jobs::device_monitor::OfflineReports;
use crate::mac::Mac;
use crate::metrics::Metrics;
use crate::store::devices::{BLE_GATEWAY, Device};
use crate::store::readings::{IngestBatch, NewReading, Reading};
use crate::store::{Store, StoreError};

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
/// API writes waiting for the pipeline, at most (then the API waits to hand one over).
const CONTROL_QUEUE: usize = 256;
/// How long an API write waits for the pipeline to apply it. Only a stalled pipeline takes
/// this long; the change still comes before every later report.
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// Readings read back at start to rebuild the tags' state, at most.
const RESTORE_READINGS: i64 = 200_000;

/// How long a failed gateway registration is not tried again.
const REGISTRATION_RETRY: Duration = Duration::from_secs(60);
/// Past this many remembered failures, the memory starts afresh.
const FAILED_REGISTRATIONS_KEPT: usize = 10_000;

/// Gateway registrations per credential and minute: a credential that reports ever new
/// gateway MACs registers a few, not thousands (each costs a write and cache updates).
struct Registrations {
    per_minute: u32,
    /// Credential (`None`: anonymous) → (start of its current minute, registrations in it).
    windows: HashMap<Option<i64>, (std::time::Instant, u32)>,
}

impl Registrations {
    fn new(per_minute: u32) -> Registrations {
        Registrations {
            per_minute,
            windows: HashMap::new(),
        }
    }

    fn admit(&mut self, credential: Option<i64>, now: std::time::Instant) -> bool {
        let minute = Duration::from_secs(60);
        self.windows
            .retain(|_, (start, _)| now.duration_since(*start) < minute);
        let (_, count) = self.windows.entry(credential).or_insert((now, 0));
        if *count >= self.per_minute {
            return false;
        }
        *count += 1;
        true
    }
}

/// The tags heard that nobody registered, least recently heard evicted first: a flood of
/// made-up MACs costs a bounded map and O(log n) per sighting.
#[derive(Default)]
struct UnknownTags {
    by_mac: HashMap<Mac, UnknownTag>,
    /// (last heard, MAC), oldest first.
    by_time: std::collections::BTreeSet<(DateTime<Utc>, Mac)>,
}

impl UnknownTags {
    fn heard(&mut self, mac: Mac, gateway_id: i64, rssi: Option<i32>, at: DateTime<Utc>) {
        if let Some(known) = self.by_mac.get(&mac) {
            self.by_time.remove(&(known.last_heard_at, mac));
        } else if self.by_mac.len() >= UNKNOWN_TAGS_KEPT
            && let Some((_, oldest)) = self.by_time.pop_first()
        {
            self.by_mac.remove(&oldest);
        }
        let entry = self.by_mac.entry(mac).or_insert_with(|| UnknownTag {
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
        self.by_time.insert((at, mac));
    }

    fn forget(&mut self, mac: &Mac) {
        if let Some(known) = self.by_mac.remove(mac) {
            self.by_time.remove(&(known.last_heard_at, *mac));
        }
    }
}

/// A tag heard that nobody registered: shown to operators so they can register it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnknownTag {
    pub mac_address: String,
    pub times_heard: u64,
    pub last_rssi: Option<i32>,
    pub last_gateway_id: i64,
    pub last_heard_at: DateTime<Utc>,
}

/// The kinds of object whose changes the pipeline must apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Tag,
    Person,
    Device,
    FloorPlan,
    Floor,
    Building,
}

impl Subject {
    /// The subject an audit-log entity names, if the pipeline cares about it.
    pub fn of(entity: &str) -> Option<Subject> {
        Some(match entity {
            "tag" => Subject::Tag,
            "person" => Subject::Person,
            "device" => Subject::Device,
            "floor_plan" => Subject::FloorPlan,
            "floor" => Subject::Floor,
            "building" => Subject::Building,
            _ => return None,
        })
    }

    /// Whether such a change changes what reports are matched against (a person's name or
    /// active flag, a floor's or building's name are read when positions are asked for).
    fn matters(self, deleted: bool) -> bool {
        deleted || matches!(self, Subject::Tag | Subject::Device | Subject::FloorPlan)
    }
}

enum Control {
    Changed {
        subject: Subject,
        id: i64,
        deleted: bool,
    },
    /// A reading stored through the API, to be heard like a report.
    Heard(NewReading),
}

struct Request {
    control: Control,
    applied: oneshot::Sender<()>,
}

/// The pipeline's end of [`PipelineView`]'s changes.
pub struct ControlReceiver(mpsc::Receiver<Request>);

/// What the API reads of the pipeline, and how it tells the pipeline about its writes.
pub struct PipelineView {
    unknown: Mutex<UnknownTags>,
    positions: std::sync::RwLock<HashMap<i64, TagPosition>>,
    control: mpsc::Sender<Request>,
}

impl PipelineView {
    pub fn new() -> (PipelineView, ControlReceiver) {
        let (control, rx) = mpsc::channel(CONTROL_QUEUE);
        let view = PipelineView {
            unknown: Mutex::default(),
            positions: std::sync::RwLock::default(),
            control,
        };
        (view, ControlReceiver(rx))
    }

    /// Tells the pipeline about a committed write and waits until it has applied it.
    pub async fn changed(&self, subject: Subject, id: i64, deleted: bool) {
        if !subject.matters(deleted) {
            return;
        }
        let change = Control::Changed {
            subject,
            id,
            deleted,
        };
        self.apply(change).await;
    }

    /// Hands a reading stored through the API to the pipeline, which hears it as it hears
    /// a report (the tag's position and presence), and waits until it has.
    pub async fn heard(&self, reading: &Reading) {
        let reading = NewReading {
            device_id: reading.device_id,
            tag_id: reading.tag_id,
            rssi: reading.rssi,
            created_at: reading.created_at,
        };
        self.apply(Control::Heard(reading)).await;
    }

    async fn apply(&self, control: Control) {
        let (applied, done) = oneshot::channel();
        // Not running (a command, not `serve`): nothing to tell.
        if self
            .control
            .send(Request { control, applied })
            .await
            .is_err()
        {
            return;
        }
        if tokio::time::timeout(APPLY_WAIT, done).await.is_err() {
            tracing::warn!("the ingest pipeline is slow to apply an API change");
        }
    }

    /// The latest position of every tag heard recently.
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
        let unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        unknown
            .by_time
            .iter()
            .rev()
            .filter_map(|(_, mac)| unknown.by_mac.get(mac).cloned())
            .collect()
    }

    fn heard_unknown(&self, mac: Mac, gateway_id: i64, rssi: Option<i32>, at: DateTime<Utc>) {
        self.unknown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .heard(mac, gateway_id, rssi, at);
    }

    fn registered<'a>(&self, macs: impl IntoIterator<Item = &'a Mac>) {
        let mut unknown = self.unknown.lock().unwrap_or_else(|p| p.into_inner());
        for mac in macs {
            unknown.forget(mac);
        }
    }

    fn forget_position(&self, tag_id: i64) {
        self.positions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&tag_id);
    }
}

/// What the pipeline matches a tag by, and what makes its state another tag's when it
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TagKey {
    mac: Mac,
    active: bool,
    person_id: Option<i64>,
}

/// How the presence sessions of forgotten state end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Written as closed (the tag or gateway still exists).
    Close,
    /// Dropped: the database deletes them with their tag or gateway.
    Gone,
}

pub struct Pipeline {
    store: Store,
    config: Arc<Config>,
    trees: super::topics::TopicTrees,
    /// Gateways whose registration failed (their MAC or code belongs to another device),
    /// not tried again until the instant given.
    failed_registrations: HashMap<GatewayKey, std::time::Instant>,
    registrations: Registrations,
    metrics: Arc<Metrics>,
    events: EventBus,
    view: Arc<PipelineView>,
    offline_reports: OfflineReports,
    gateways: HashMap<GatewayKey, i64>,
    /// Gateway id → its plan.
    gateway_plans: HashMap<i64, Option<i64>>,
    /// MAC → tag id.
    tags: HashMap<Mac, i64>,
    tag_keys: HashMap<i64, TagKey>,
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
    writer_task: Option<tokio::task::JoinHandle<()>>,
    /// Batches the writer could not take yet (it is behind); while there are any, readings
    /// of QoS 0 messages are not stored (shed), positions go on.
    backlog: VecDeque<IngestBatch>,
    /// What the live stream was last told about each tag.
    announced: HashMap<i64, (TagPosition, std::time::Instant)>,
}

impl Pipeline {
    /// Loads the caches and rebuilds the tags' state from the readings stored within the
    /// position window (`devices.position_stale_seconds`), so that a restart does not
    /// empty the live positions: ready before the API serves.
    pub async fn load(
        store: Store,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        events: EventBus,
        view: Arc<PipelineView>,
        offline_reports: OfflineReports,
    ) -> Pipeline {
        let (writer, pending) = mpsc::channel(2);
        let writer_task = tokio::spawn(write_batches(pending, store.clone(), metrics.clone()));
        let mut pipeline = Pipeline {
            trees: super::topics::TopicTrees::new(&config.mqtt),
            failed_registrations: HashMap::new(),
            registrations: Registrations::new(config.ingest.registrations_per_minute),
            sessions: super::sessions::Sessions::new(config.devices.presence_gap_seconds),
            store,
            config,
            metrics,
            events,
            view,
            offline_reports,
            gateways: HashMap::new(),
            gateway_plans: HashMap::new(),
            tags: HashMap::new(),
            tag_keys: HashMap::new(),
            last_second: HashMap::new(),
            round: IngestBatch::default(),
            anchors: HashMap::new(),
            plan_sizes: HashMap::new(),
            tag_states: HashMap::new(),
            moved: Vec::new(),
            announced: HashMap::new(),
            writer,
            writer_task: Some(writer_task),
            backlog: VecDeque::new(),
        };
        if let Err(err) = pipeline.store.close_open_presence_sessions().await {
            tracing::warn!(error = %err, "could not close the presence sessions of the previous run");
        }
        pipeline.load_caches().await;
        pipeline.restore_positions().await;
        pipeline
    }

    /// Consumes the queue until every sender is gone (the broker has stopped) and the last
    /// batch is stored, so that nothing acknowledged is left behind.
    pub async fn run(mut self, mut rx: super::QueueReceiver, control: ControlReceiver) {
        let mut control = control.0;
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        // Changes this process did not make (another node, `seed --demo`) reach the caches
        // at the latest this late.
        let every = Duration::from_secs(self.config.ingest.cache_refresh_seconds);
        let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(ROUND);
        loop {
            tokio::select! {
                received = rx.recv_many(&mut batch, ROUND) => {
                    if received == 0 {
                        break;
                    }
                    self.metrics.ingest_queue_depth.fetch_sub(received as i64, std::sync::atomic::Ordering::Relaxed);
                    // API writes made before these reports entered the queue come first.
                    while let Ok(request) = control.try_recv() {
                        self.apply(request).await;
                    }
                    for message in batch.drain(..) {
                        self.handle(message).await;
                    }
                    self.publish_positions();
                    self.flush().await;
                }
                Some(request) = control.recv() => self.apply(request).await,
                _ = sweep.tick() => {
                    self.sessions.sweep(Utc::now());
                    self.take_sessions();
                    self.flush().await;
                }
                _ = refresh.tick() => self.load_caches().await,
            }
        }
        self.take_sessions();
        self.flush().await;
        self.drain_backlog().await;
        let writer = self.writer_task.take();
        drop(self);
        if let Some(writer) = writer {
            let _ = writer.await;
        }
        tracing::debug!("ingest pipeline drained");
    }

    async fn apply(&mut self, request: Request) {
        match request.control {
            Control::Changed {
                subject,
                id,
                deleted,
            } => self.changed(subject, id, deleted).await,
            Control::Heard(reading) => {
                let known = self.gateway_plans.contains_key(&reading.device_id)
                    && self.tag_keys.get(&reading.tag_id).is_some_and(|t| t.active);
                if known {
                    self.hear(
                        reading.tag_id,
                        reading.device_id,
                        reading.rssi,
                        reading.created_at,
                    );
                    self.publish_positions();
                }
            }
        }
        let _ = request.applied.send(());
    }

    /// Applies one API write. A deletion drops the object's state by its id first, so a
    /// new object that gets the same id (another node's, or SQLite before ids were never
    /// reused) starts afresh; the reload then drops the state of whatever else changed.
    async fn changed(&mut self, subject: Subject, id: i64, deleted: bool) {
        match subject {
            Subject::Tag if deleted => {
                self.forget_tag(id, Ending::Gone);
                if let Some(key) = self.tag_keys.remove(&id) {
                    self.tags.remove(&key.mac);
                }
            }
            Subject::Tag => self.reload_tag(id).await,
            Subject::Person if deleted => {
                let carried: Vec<i64> = self
                    .tag_keys
                    .iter()
                    .filter(|(_, key)| key.person_id == Some(id))
                    .map(|(tag, _)| *tag)
                    .collect();
                for tag in carried {
                    self.forget_tag(tag, Ending::Close);
                }
                self.load_tags().await;
            }
            Subject::Device => {
                if deleted {
                    self.forget_gateway(id, Ending::Gone);
                }
                self.load_gateways().await;
            }
            Subject::FloorPlan => {
                if deleted {
                    let placed: Vec<i64> = self
                        .gateway_plans
                        .iter()
                        .filter(|(_, plan)| **plan == Some(id))
                        .map(|(gateway, _)| *gateway)
                        .collect();
                    for gateway in placed {
                        self.forget_gateway(gateway, Ending::Close);
                    }
                }
                self.load_plans().await;
                self.load_gateways().await;
            }
            // Their plans go with them (and their gateways are then on none).
            Subject::Floor | Subject::Building if deleted => {
                self.load_plans().await;
                self.load_gateways().await;
            }
            Subject::Person | Subject::Floor | Subject::Building => {}
        }
    }

    async fn load_caches(&mut self) {
        self.load_tags().await;
        self.load_plans().await;
        self.load_gateways().await;
    }

    /// Reloads every tag; the state of a tag deleted, or now with another MAC, person or
    /// active flag, is dropped.
    async fn load_tags(&mut self) {
        let rows = match self.store.tag_keys().await {
            Ok(rows) => rows,
            Err(err) => return tracing::warn!(error = %err, "could not load tags"),
        };
        let keys: HashMap<i64, TagKey> = rows
            .into_iter()
            .filter_map(|(mac, id, active, person_id)| {
                let mac = crate::mac::canonical(&mac)?;
                Some((
                    id,
                    TagKey {
                        mac,
                        active,
                        person_id,
                    },
                ))
            })
            .collect();
        let stale: Vec<(i64, Ending)> = self
            .tag_keys
            .iter()
            .filter_map(|(id, old)| match keys.get(id) {
                None => Some((*id, Ending::Gone)),
                Some(new) if new != old => Some((*id, Ending::Close)),
                Some(_) => None,
            })
            .collect();
        for (id, ending) in stale {
            self.forget_tag(id, ending);
        }
        self.tags = keys.iter().map(|(id, key)| (key.mac, *id)).collect();
        self.view.registered(self.tags.keys());
        self.tag_keys = keys;
    }

    /// Reloads one tag (created or updated through the API).
    async fn reload_tag(&mut self, id: i64) {
        let tag = match self.store.tag(id).await {
            Ok(tag) => tag,
            Err(StoreError::NotFound) => return self.load_tags().await,
            Err(err) => return tracing::warn!(error = %err, "could not load a tag"),
        };
        let Some(mac) = crate::mac::canonical(&tag.mac_address) else {
            return;
        };
        let key = TagKey {
            mac,
            active: tag.active,
            person_id: tag.person_id,
        };
        match self.tag_keys.insert(id, key) {
            Some(old) if old != key => {
                self.forget_tag(id, Ending::Close);
                if self.tags.get(&old.mac) == Some(&id) {
                    self.tags.remove(&old.mac);
                }
            }
            _ => {}
        }
        self.tags.insert(mac, id);
        self.view.registered([&mac]);
    }

    async fn load_plans(&mut self) {
        match self.store.list_floor_plans(None, 0, i64::MAX).await {
            Ok(plans) => {
                self.plan_sizes = plans
                    .into_iter()
                    .filter_map(|p| Some((p.id, (p.width_m?, p.height_m?))))
                    .collect();
            }
            Err(err) => tracing::warn!(error = %err, "could not load floor plans"),
        }
    }

    /// Reloads every gateway; the state of a gateway deleted, or now on another plan, is
    /// dropped.
    async fn load_gateways(&mut self) {
        let gateways = match self.store.gateway_keys().await {
            Ok(gateways) => gateways,
            Err(err) => return tracing::warn!(error = %err, "could not load gateways"),
        };
        self.gateways.clear();
        self.anchors.clear();
        // A device changed (or the periodic refresh): a failed registration may succeed now.
        self.failed_registrations.clear();
        let mut plans = HashMap::with_capacity(gateways.len());
        for g in gateways {
            plans.insert(g.id, g.floor_plan_id);
            if let Some(mac) = g.mac_address.as_deref().and_then(crate::mac::canonical) {
                self.gateways.insert(GatewayKey::Mac(mac), g.id);
            }
            if let Some(code) = g.code {
                self.gateways.insert(GatewayKey::Code(code), g.id);
            }
            if let (Some(floor_plan_id), Some(x), Some(y)) = (g.floor_plan_id, g.pos_x, g.pos_y) {
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
        let stale: Vec<(i64, Ending)> = self
            .gateway_plans
            .iter()
            .filter_map(|(id, old)| match plans.get(id) {
                None => Some((*id, Ending::Gone)),
                Some(new) if new != old => Some((*id, Ending::Close)),
                Some(_) => None,
            })
            .collect();
        for (id, ending) in stale {
            self.forget_gateway(id, ending);
        }
        self.gateway_plans = plans;
    }

    /// Drops everything the pipeline knows of a tag.
    fn forget_tag(&mut self, tag_id: i64, ending: Ending) {
        self.tag_states.remove(&tag_id);
        self.announced.remove(&tag_id);
        self.last_second.retain(|(tag, _), _| *tag != tag_id);
        self.sessions
            .end(|tag, _| tag == tag_id, ending == Ending::Close);
        self.view.forget_position(tag_id);
    }

    /// Drops everything the pipeline knows of a gateway: the tags it heard forget it, and
    /// the tags at it are nowhere until heard again.
    fn forget_gateway(&mut self, gateway_id: i64, ending: Ending) {
        let mut lost = Vec::new();
        self.tag_states.retain(|tag, state| {
            if state.forget_gateway(gateway_id) {
                lost.push(*tag);
            }
            !state.is_empty()
        });
        for tag in lost {
            self.announced.remove(&tag);
            self.view.forget_position(tag);
        }
        self.last_second
            .retain(|(_, gateway), _| *gateway != gateway_id);
        self.sessions
            .end(|_, gateway| gateway == gateway_id, ending == Ending::Close);
    }

    /// Rebuilds the state of the tags heard within the position window from their stored
    /// readings (none when `ingest.raw_readings` is off).
    async fn restore_positions(&mut self) {
        let window =
            chrono::Duration::seconds(i64::from(self.config.devices.position_stale_seconds));
        let readings = match self
            .store
            .recent_readings(Utc::now() - window, RESTORE_READINGS)
            .await
        {
            Ok(readings) => readings,
            Err(err) => {
                return tracing::warn!(error = %err, "could not read recent readings back");
            }
        };
        for r in readings {
            let known = self.gateway_plans.contains_key(&r.device_id)
                && self.tag_keys.get(&r.tag_id).is_some_and(|t| t.active);
            if known {
                self.tag_states.entry(r.tag_id).or_default().hear(
                    r.device_id,
                    r.rssi,
                    r.created_at,
                );
                self.moved.push(r.tag_id);
            }
        }
        self.publish_positions();
    }

    /// One sighting: the tag's state and presence session.
    fn hear(&mut self, tag_id: i64, gateway_id: i64, rssi: Option<i32>, at: DateTime<Utc>) {
        self.tag_states
            .entry(tag_id)
            .or_default()
            .hear(gateway_id, rssi, at);
        self.sessions.heard(tag_id, gateway_id, at);
        self.moved.push(tag_id);
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
        if !self.bound(&report, &message.identity) {
            return self.reject(Rejection::GatewayNotBound, topic);
        }
        let Some(gateway_id) = self.gateway(&report, &message.identity).await else {
            return;
        };
        if report.offline {
            // Going away is no sign of life (spec-services D13): offline now.
            self.offline_reports.report(gateway_id, message.received_at);
        } else {
            self.round.saw(gateway_id, message.received_at);
        }
        let policy = self.config.ingest.raw_readings;
        // A QoS 0 report was never acknowledged: while the writer is behind, its readings
        // move positions but are not stored.
        let shed = message.qos == 0 && self.writer_behind();
        for sighting in &report.sightings {
            let Some(&tag_id) = self.tags.get(&sighting.tag) else {
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
            if !self.tag_keys.get(&tag_id).is_some_and(|t| t.active) {
                self.metrics
                    .ingest_inactive_tags
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let at = sighting.at.unwrap_or(message.received_at);
            self.hear(tag_id, gateway_id, sighting.rssi, at);
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
                crate::events::EventType::PositionChanged,
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
    /// Whether the publisher may report for this gateway (`ingest.gateway_binding`). Only
    /// the embedded broker knows who published: external mode is not bound.
    fn bound(&self, report: &Report, identity: &Identity) -> bool {
        if identity.source != Source::Embedded {
            return true;
        }
        match self.config.ingest.gateway_binding {
            GatewayBinding::None => true,
            GatewayBinding::ClientId => report.gateway.is_named_by(&identity.client_id),
            GatewayBinding::Username => identity
                .username
                .as_deref()
                .is_some_and(|name| report.gateway.is_named_by(name)),
        }
    }

    async fn gateway(&mut self, report: &Report, identity: &Identity) -> Option<i64> {
        if let Some(id) = self.gateways.get(&report.gateway) {
            return Some(*id);
        }
        let now = std::time::Instant::now();
        let failed_recently = self
            .failed_registrations
            .get(&report.gateway)
            .is_some_and(|until| *until > now);
        if !self.config.ingest.auto_register_gateways || failed_recently {
            self.metrics
                .ingest_unknown_gateways
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        if !self.registrations.admit(identity.credential_id, now) {
            self.metrics
                .ingest_registrations_limited
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
        match self.store.save_device(&device).await {
            Ok(saved) => {
                tracing::info!(
                    gateway = saved.name,
                    id = saved.id,
                    "gateway registered on first contact"
                );
                self.metrics
                    .ingest_gateways_registered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let event = crate::events::EventType::DeviceCreated;
                let payload = crate::events::payload::device(&saved, event);
                self.events.publish(event, None, payload);
                self.gateways.insert(report.gateway.clone(), saved.id);
                self.gateway_plans.insert(saved.id, saved.floor_plan_id);
                Some(saved.id)
            }
            Err(err) => {
                // The MAC or code belongs to another kind of device, or was registered
                // meanwhile: reload, and refuse this message if it still does not resolve.
                tracing::warn!(error = %err, gateway = ?report.gateway, "could not register a gateway");
                self.metrics
                    .ingest_registration_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.load_gateways().await;
                let id = self.gateways.get(&report.gateway).copied();
                if id.is_none() {
                    self.metrics
                        .ingest_unknown_gateways
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Not again for a while: each attempt costs a write and a reload.
                    if self.failed_registrations.len() >= FAILED_REGISTRATIONS_KEPT {
                        self.failed_registrations.clear();
                    }
                    self.failed_registrations
                        .insert(report.gateway.clone(), now + REGISTRATION_RETRY);
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
    fn unknown_tags_keep_the_most_recently_heard() {
        let mut unknown = UnknownTags::default();
        let start = Utc::now();
        let mac = |i: usize| crate::mac::canonical(&format!("AABBCC{i:06X}")).unwrap();
        for i in 0..UNKNOWN_TAGS_KEPT + 10 {
            unknown.heard(
                mac(i),
                1,
                Some(-60),
                start + chrono::Duration::milliseconds(i as i64),
            );
        }
        // Heard again: no longer the oldest.
        let late = start + chrono::Duration::seconds(10);
        unknown.heard(mac(10), 2, Some(-50), late);
        unknown.heard(mac(UNKNOWN_TAGS_KEPT + 20), 1, None, late);
        assert_eq!(unknown.by_mac.len(), UNKNOWN_TAGS_KEPT);
        assert_eq!(unknown.by_time.len(), UNKNOWN_TAGS_KEPT);
        assert!(
            !unknown.by_mac.contains_key(&mac(11)),
            "the least recently heard went"
        );
        assert_eq!(unknown.by_mac[&mac(10)].times_heard, 2);
        unknown.forget(&mac(10));
        assert_eq!(
            (unknown.by_mac.len(), unknown.by_time.len()),
            (UNKNOWN_TAGS_KEPT - 1, UNKNOWN_TAGS_KEPT - 1)
        );
    }

    #[test]
    fn registrations_are_limited_per_credential_and_minute() {
        let mut limits = Registrations::new(2);
        let now = std::time::Instant::now();
        assert!(limits.admit(Some(1), now) && limits.admit(Some(1), now));
        assert!(!limits.admit(Some(1), now), "a third in the minute");
        assert!(
            limits.admit(Some(2), now) && limits.admit(None, now),
            "others have their own"
        );
        assert!(
            limits.admit(Some(1), now + Duration::from_secs(61)),
            "the next minute"
        );
    }

    #[test]
    fn slugs_match_building_names_the_way_people_write_them() {
        assert_eq!(slug("Prédio A"), "predio-a");
        assert_eq!(slug("  PREDIO_a "), "predio-a");
        assert_eq!(slug("Andar 1 — Recepção"), "andar-1-recepcao");
    }
}
