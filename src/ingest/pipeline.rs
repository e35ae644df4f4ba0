//! The consumer of the hand-off queue, its loop: decode → match gateways and tags (from
//! caches, not one query per reading) → store readings and gateways' `last_seen_at` in
//! batches, one transaction per flush. The loop's other jobs live beside it: the API's
//! [`view`](super::view), the [`caches`](super::caches), gateway
//! [`registration`](super::registration), [`positions`](super::positions) and the batch
//! [`writer`](super::writer).
//!
//! Read-your-writes: an API write that changes what the pipeline matches (tags, gateways,
//! plans, people) reaches it through [`PipelineView::changed`] before the API answers, and
//! is applied before any report that entered the queue after it (the pipeline takes
//! pending changes before each round of reports). So the very next report sees the write,
//! and the state of a deleted object (or of a tag that changed person or MAC, a gateway
//! that changed plan) is gone before it, whatever the ids. Changes made elsewhere (another
//! node, `seed --demo`) reach the caches at the next refresh (`ingest.cache_refresh_seconds`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::Inbound;
use super::caches::TagKey;
use super::decode::{self, GatewayKey, Rejection};
use super::locate::{Anchor, TagPosition, TagState};
use super::registration::Registrations;
use super::view::{Control, ControlReceiver, PipelineView, Request};
use super::writer::{Pending, write_batches};
use crate::cluster::{Cluster, Role};
use crate::config::{Config, RawReadings};
use crate::events::EventBus;
use crate::jobs::device_monitor::OfflineReports;
use crate::mac::Mac;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::readings::{IngestBatch, NewReading};

/// Messages taken from the queue per round, and readings written per transaction at most.
const ROUND: usize = 4096;

pub struct Pipeline {
    pub(super) store: Store,
    pub(super) config: Arc<Config>,
    pub(super) trees: super::topics::TopicTrees,
    /// Gateways whose registration failed (their MAC or code belongs to another device),
    /// not tried again until the instant given.
    pub(super) failed_registrations: HashMap<GatewayKey, std::time::Instant>,
    pub(super) registrations: Registrations,
    pub(super) metrics: Arc<Metrics>,
    pub(super) events: EventBus,
    pub(super) view: Arc<PipelineView>,
    pub(super) offline_reports: OfflineReports,
    pub(super) gateways: HashMap<GatewayKey, i64>,
    /// Gateway id → its plan.
    pub(super) gateway_plans: HashMap<i64, Option<i64>>,
    /// MAC → tag id.
    pub(super) tags: HashMap<Mac, i64>,
    pub(super) tag_keys: HashMap<i64, TagKey>,
    /// Per (tag, gateway): the second of the last stored reading (downsampling).
    pub(super) last_second: HashMap<(i64, i64), i64>,
    /// What this round stores (readings, gateways seen, presence sessions).
    pub(super) round: IngestBatch,
    /// Where each placed gateway is drawn.
    pub(super) anchors: HashMap<i64, Anchor>,
    /// Physical sizes (metres) of the plans that have one.
    pub(super) plan_sizes: HashMap<i64, (f64, f64)>,
    pub(super) tag_states: HashMap<i64, TagState>,
    /// Tags heard in this round, whose position is published after it.
    pub(super) moved: Vec<i64>,
    pub(super) sessions: super::sessions::Sessions,
    /// The QoS 1 messages of this round, whose PUBACKs wait for its commit.
    pub(super) round_stored: Vec<super::Stored>,
    pub(super) writer: mpsc::Sender<Pending>,
    pub(super) writer_task: Option<tokio::task::JoinHandle<()>>,
    /// Batches the writer could not take yet (it is behind); while there are any, readings
    /// of QoS 0 messages are not stored (shed), positions go on.
    pub(super) backlog: VecDeque<Pending>,
    /// What the live stream was last told about each tag.
    pub(super) announced: HashMap<i64, (TagPosition, std::time::Instant)>,
    /// Which positions join the position history.
    pub(super) recorder: super::history::Recorder,
    /// Whether this node serves the site's stateful work (always, outside a cluster).
    pub(super) serving: tokio::sync::watch::Receiver<Role>,
}

impl Pipeline {
    /// Loads the caches and rebuilds the tags' state from the readings stored within the
    /// position window (`devices.position_stale_seconds`), so that a restart does not
    /// empty the live positions: ready before the API serves. A cluster's standby only
    /// loads the caches; it rebuilds when it takes over.
    pub async fn load(
        store: Store,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        events: EventBus,
        view: Arc<PipelineView>,
        offline_reports: OfflineReports,
        cluster: Cluster,
    ) -> Pipeline {
        let (writer, pending) = mpsc::channel(2);
        let writer_task = tokio::spawn(write_batches(
            pending,
            store.clone(),
            metrics.clone(),
            cluster.clone(),
        ));
        let mut serving = cluster.serving();
        let leads = serving.borrow_and_update().leads();
        let mut pipeline = Pipeline {
            serving,
            trees: super::topics::TopicTrees::new(&config.mqtt),
            failed_registrations: HashMap::new(),
            registrations: Registrations::new(config.ingest.registrations_per_minute),
            sessions: super::sessions::Sessions::new(config.devices.presence_gap_seconds),
            recorder: super::history::Recorder::new(&config.positions),
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
            round_stored: Vec::new(),
            anchors: HashMap::new(),
            plan_sizes: HashMap::new(),
            tag_states: HashMap::new(),
            moved: Vec::new(),
            announced: HashMap::new(),
            writer,
            writer_task: Some(writer_task),
            backlog: VecDeque::new(),
        };
        pipeline.load_caches().await;
        if leads {
            pipeline.take_over().await;
        }
        pipeline
    }

    /// Starts serving the site: the presence sessions the previous leader (or run) left
    /// open are closed, the tags' state is rebuilt from the database.
    async fn take_over(&mut self) {
        if let Err(err) = self.store.close_open_presence_sessions().await {
            tracing::warn!(error = %err, "could not close the presence sessions of the previous run");
        }
        self.restore_positions().await;
    }

    /// Follows a change of role (cluster mode). Stepping down forgets the state without
    /// writing it, and drops what waits for the writer: those messages are not
    /// acknowledged, so the broker hands them to the next leader.
    async fn follow_role(&mut self) {
        if !self.serving.has_changed().unwrap_or(false) {
            return;
        }
        let role = *self.serving.borrow_and_update();
        tracing::info!(
            role = role.label(),
            "ingest pipeline follows the node's role"
        );
        if role.leads() {
            self.load_caches().await;
            self.take_over().await;
        } else {
            self.round = IngestBatch::default();
            self.round_stored.clear();
            self.backlog.clear();
            self.tag_states.clear();
            self.moved.clear();
            self.announced.clear();
            self.sessions =
                super::sessions::Sessions::new(self.config.devices.presence_gap_seconds);
            self.recorder = super::history::Recorder::new(&self.config.positions);
            self.view
                .positions
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
        }
    }

    fn leads(&self) -> bool {
        self.serving.borrow().leads()
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
        // Only a wake-up: `follow_role` reads `self.serving`.
        let mut roles = self.serving.clone();
        loop {
            tokio::select! {
                received = rx.recv_many(&mut batch, ROUND) => {
                    if received == 0 {
                        break;
                    }
                    self.metrics.ingest_queue_depth.fetch_sub(received as i64, std::sync::atomic::Ordering::Relaxed);
                    self.follow_role().await;
                    // API writes made before these reports entered the queue come first.
                    while let Ok(request) = control.try_recv() {
                        self.apply(request).await;
                    }
                    if !self.leads() {
                        // Left by a consumer that stopped: unacknowledged, for the next leader.
                        batch.clear();
                    }
                    for message in batch.drain(..) {
                        self.handle(message).await;
                    }
                    self.publish_positions();
                    self.flush().await;
                }
                Some(request) = control.recv() => self.apply(request).await,
                Ok(()) = roles.changed() => self.follow_role().await,
                _ = sweep.tick() => {
                    self.sessions.sweep(Utc::now());
                    self.recorder.sweep();
                    self.metrics.position_history_tags.store(self.recorder.len() as i64, std::sync::atomic::Ordering::Relaxed);
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
                let known = self.leads()
                    && self.gateway_plans.contains_key(&reading.device_id)
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
            Control::Ping => {}
        }
        let _ = request.applied.send(());
    }

    /// One sighting: the tag's state and presence session.
    pub(super) fn hear(
        &mut self,
        tag_id: i64,
        gateway_id: i64,
        rssi: Option<i32>,
        at: DateTime<Utc>,
    ) {
        self.tag_states
            .entry(tag_id)
            .or_default()
            .hear(gateway_id, rssi, at);
        self.sessions.heard(tag_id, gateway_id, at);
        self.moved.push(tag_id);
    }

    async fn handle(&mut self, mut message: Inbound) {
        let stored = message.stored.take();
        self.process(message).await;
        self.round_stored.extend(stored);
    }

    async fn process(&mut self, message: Inbound) {
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
            // Going away is no sign of life (the original counted it as one): offline now.
            self.offline_reports.report(gateway_id, message.received_at);
        } else {
            self.round.saw(gateway_id, message.received_at);
        }
        // Disk nearly full: positions and presence go on, raw readings wait for room.
        let disk_low = self
            .metrics
            .disk_low
            .load(std::sync::atomic::Ordering::Relaxed);
        let policy = self.config.ingest.raw_readings;
        // A QoS 0 report was never acknowledged: while the writer is behind, its readings
        // move positions but are not stored.
        let shed = message.qos == 0 && self.writer_behind();
        let first = self.round.readings.len();
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
            if keep && disk_low {
                self.metrics
                    .ingest_readings_unstored_disk_low
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else if keep && shed {
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
        if message.redelivered {
            self.skip_stored(first).await;
        }
        if report.skipped > 0 {
            self.metrics
                .ingest_skipped_entries
                .fetch_add(report.skipped as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Leaves out the readings from `first` on that are already stored: the message is a
    /// redelivery (a new leader resuming the session) that the previous leader may have
    /// committed without acknowledging. Exact for payloads that carry their own time.
    async fn skip_stored(&mut self, first: usize) {
        let mut kept = Vec::new();
        for reading in self.round.readings.split_off(first) {
            match self.store.reading_exists(&reading).await {
                Ok(true) => {
                    self.metrics
                        .cluster_duplicates_skipped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(false) => kept.push(reading),
                Err(err) => {
                    tracing::warn!(error = %err, "could not check a redelivered reading; storing it");
                    kept.push(reading);
                }
            }
        }
        self.round.readings.extend(kept);
    }

    fn reject(&self, why: Rejection, topic: &str) {
        self.metrics.ingest_rejected(why);
        tracing::debug!(topic, reason = why.label(), "gateway report rejected");
    }
}
