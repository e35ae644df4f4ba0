//! Live state on every node (`docs/cluster.md`): a console connected to a standby sees
//! positions and events as one connected to the leader does. Each node has a client of its
//! own on the site's broker (`<external_client_id>-<node id>-live`, clean session) and:
//!
//! - sends the events published on its own bus (alerts, device status, its API's changes)
//!   to `securityvision/internal/events/<node id>`, and relays those of the other nodes to
//!   its live streams ([`EventBus::relay`]: not to its webhooks or alert engine);
//! - while it leads, keeps one retained message per placed tag under
//!   `securityvision/internal/positions/<tag id>`, and an empty retained message (MQTT's
//!   deletion) for a tag its pipeline no longer places;
//! - while it stands by, keeps the replica of those positions that its `/positions/*` read;
//! - while it leads, hears a reading posted through another node's API (its
//!   `COLLECTION_LOG_CREATED`) as its own API's: the tag's position and presence follow.
//!
//! The replica's life ([`PipelineView`]): **created** when the node stands by (at start, or
//! stepping down) and **rebuilt from the retained messages** the broker sends on each
//! subscription (a clean session subscribes on every connection, and again on stepping
//! down); **updated** by each live position message, which also becomes a
//! `POSITION_CHANGED` on the node's stream; **a tag removed** by an empty message or when
//! the node's own pipeline forgets the tag (deleted through its API); **dropped** when the
//! node takes over, since its pipeline then owns the positions — the tags it held are
//! remembered, and their retained messages deleted unless the pipeline places them again.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, Event as MqttEvent, EventLoop, Packet, Publish, QoS};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::Role;
use crate::config::MqttConfig;
use crate::events::{Event, EventBus, EventType};
use crate::ingest::locate::TagPosition;
use crate::ingest::view::PipelineView;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::readings::Reading;

/// The internal topic tree; the broker must let only the nodes publish and read under it.
pub const TREE: &str = "securityvision/internal";

/// Messages of the other nodes waiting for the live state task, at most.
const INCOMING: usize = 4096;

/// How often the leader deletes the retained positions of tags its pipeline forgot.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// What the live state task works with.
pub struct Live {
    pub mqtt: MqttConfig,
    pub node_id: String,
    pub events: EventBus,
    pub view: Arc<PipelineView>,
    pub store: Store,
    pub serving: watch::Receiver<Role>,
    pub metrics: Arc<Metrics>,
}

fn positions_topic(tag_id: i64) -> String {
    format!("{TREE}/positions/{tag_id}")
}

/// A position as it travels: the same fields as the API shows.
#[derive(Deserialize)]
#[serde(remote = "TagPosition")]
struct Position {
    tag_id: i64,
    device_id: i64,
    last_seen_at: DateTime<Utc>,
    rssi: Option<f64>,
    floor_plan_id: Option<i64>,
    x: Option<f64>,
    y: Option<f64>,
    x_m: Option<f64>,
    y_m: Option<f64>,
    accuracy_m: Option<f64>,
}

/// An event as it travels (the live stream's envelope).
#[derive(Deserialize)]
struct Envelope {
    event_type: String,
    timestamp: DateTime<Utc>,
    user_id: Option<i64>,
    payload: Value,
}

impl Live {
    /// Runs until `shutdown`; reconnects on its own.
    pub async fn run(self, shutdown: CancellationToken) {
        let client_id = format!(
            "{}-live",
            crate::broker::external::node_client_id(&self.mqtt, &self.node_id)
        );
        let (client, eventloop) = match crate::broker::external::client(
            &self.mqtt, client_id, false,
        ) {
            Ok(client) => client.into_parts(),
            Err(err) => {
                return tracing::error!(error = %err, "live state: could not set up the broker client");
            }
        };
        let (incoming, mut received) = mpsc::channel(INCOMING);
        let connection = tokio::spawn(drive(
            client.clone(),
            eventloop,
            incoming,
            self.metrics.clone(),
            shutdown.clone(),
        ));
        // Only what happens on this node: relayed events never enter it.
        let mut local = self.events.subscribe_ordered(|_| true);
        let mut published: HashSet<i64> = HashSet::new();
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        let mut serving = self.serving.clone();
        if !serving.borrow_and_update().leads() {
            self.view.start_replica();
        }
        loop {
            tokio::select! {
                event = local.recv() => self.send(&client, event, &mut published),
                Some(publish) = received.recv() => self.receive(&publish),
                Ok(()) = serving.changed() => {
                    let role = *serving.borrow_and_update();
                    if role.leads() {
                        published.extend(self.view.stop_replica());
                    } else {
                        published.clear();
                        self.view.start_replica();
                        // The retained positions again, for the new replica.
                        subscribe(&client);
                    }
                }
                _ = sweep.tick(), if self.serving.borrow().leads() => {
                    let placed = self.view.own_position_tags();
                    published.retain(|tag| {
                        placed.contains(tag)
                            || !self.publish(&client, positions_topic(*tag), true, Vec::new())
                    });
                }
                () = shutdown.cancelled() => break,
            }
        }
        let _ = client.try_disconnect();
        let _ = connection.await;
    }

    /// Sends an event of this node: a position (only the leader's pipeline places tags) as
    /// the tag's retained message, anything else to this node's event topic.
    fn send(&self, client: &AsyncClient, event: Event, published: &mut HashSet<i64>) {
        if event.event_type == EventType::PositionChanged {
            let Some(tag_id) = event.payload.get("tag_id").and_then(Value::as_i64) else {
                return;
            };
            let payload = serde_json::to_vec(&event.payload).unwrap_or_default();
            if self.publish(client, positions_topic(tag_id), true, payload) {
                published.insert(tag_id);
            }
        } else {
            let payload = serde_json::to_vec(&event).unwrap_or_default();
            let topic = format!("{TREE}/events/{}", self.node_id);
            self.publish(client, topic, false, payload);
        }
    }

    /// Hands a message to the client without waiting: while the broker is away the client's
    /// queue fills, and this node's events must not pile up behind it. `false` when it
    /// could not take it.
    fn publish(&self, client: &AsyncClient, topic: String, retain: bool, payload: Vec<u8>) -> bool {
        match client.try_publish(topic, QoS::AtLeastOnce, retain, payload) {
            Ok(()) => {
                self.metrics
                    .cluster_live_sent
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(err) => {
                self.metrics
                    .cluster_live_dropped
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %err, "live state: message not sent");
                false
            }
        }
    }

    /// A message of another node: a position for the replica (and the stream, when it is
    /// news rather than a retained copy), or an event for the stream.
    fn receive(&self, publish: &Publish) {
        let Some(rest) = publish.topic.strip_prefix(TREE) else {
            return;
        };
        if let Some(tag) = rest.strip_prefix("/positions/") {
            // The leader's own positions, coming back.
            let Ok(tag_id) = tag.parse::<i64>() else {
                return;
            };
            if self.serving.borrow().leads() {
                return;
            }
            self.metrics
                .cluster_live_received
                .fetch_add(1, Ordering::Relaxed);
            if publish.payload.is_empty() {
                return self.view.forget_position(tag_id);
            }
            let Ok(position) =
                Position::deserialize(&mut serde_json::Deserializer::from_slice(&publish.payload))
            else {
                return tracing::debug!(topic = publish.topic, "live state: unreadable position");
            };
            let payload = serde_json::to_value(&position).unwrap_or_default();
            if self.view.replicate(position) && !publish.retain {
                self.events
                    .relay(Event::now(EventType::PositionChanged, None, payload));
            }
        } else if let Some(node) = rest.strip_prefix("/events/") {
            if node == self.node_id {
                return;
            }
            self.metrics
                .cluster_live_received
                .fetch_add(1, Ordering::Relaxed);
            let Ok(envelope) = serde_json::from_slice::<Envelope>(&publish.payload) else {
                return tracing::debug!(topic = publish.topic, "live state: unreadable event");
            };
            // A type this version does not know (a newer node's) is not shown.
            let Some(event_type) = EventType::parse(&envelope.event_type) else {
                return;
            };
            if event_type == EventType::CollectionLogCreated && self.serving.borrow().leads() {
                self.hear(
                    envelope
                        .payload
                        .get("collection_log_id")
                        .and_then(Value::as_i64),
                );
            }
            self.events.relay(Event {
                event_type,
                timestamp: envelope.timestamp,
                user_id: envelope.user_id,
                payload: envelope.payload,
            });
        }
    }
}

impl Live {
    /// Has the pipeline hear a reading another node's API stored (its pipeline, standing
    /// by, did not), read back for its time.
    fn hear(&self, reading_id: Option<i64>) {
        let Some(id) = reading_id else { return };
        let (store, view) = (self.store.clone(), self.view.clone());
        tokio::spawn(async move {
            match store.fetch_by_id::<Reading>(id).await {
                Ok(reading) => view.heard(&reading).await,
                Err(err) => {
                    tracing::debug!(id, error = %err, "live state: a reading posted elsewhere is gone");
                }
            }
        });
    }
}

/// Drives the client's connection until `shutdown`, in a task of its own (its polling must
/// not be interrupted): subscribes on each connection, hands the messages received to the
/// live state task without ever waiting for it (a message it has no room for is dropped and
/// counted), and acknowledges them.
async fn drive(
    client: AsyncClient,
    mut eventloop: EventLoop,
    incoming: mpsc::Sender<Publish>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        let polled = tokio::select! {
            polled = eventloop.poll() => polled,
            () = shutdown.cancelled() => break,
        };
        match polled {
            Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => subscribe(&client),
            Ok(MqttEvent::Incoming(Packet::Publish(publish))) => {
                let _ = client.try_ack(&publish);
                if incoming.try_send(publish).is_err() {
                    metrics.cluster_live_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "live state: broker unavailable; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    // Sends the DISCONNECT queued by the live state task, if the broker is there.
    let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
}

/// Subscribes to the positions and the events of the tree (the broker sends the retained
/// positions again).
fn subscribe(client: &AsyncClient) {
    for filter in [format!("{TREE}/positions/+"), format!("{TREE}/events/+")] {
        if let Err(err) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
            tracing::warn!(filter, error = %err, "live state: could not subscribe");
        }
    }
}
