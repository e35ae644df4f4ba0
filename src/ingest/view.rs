//! What the API reads of the pipeline (live positions, unknown tags) and how the API tells
//! the pipeline about its writes, waiting until they are applied (read-your-writes: see
//! [`super::pipeline`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::locate::TagPosition;
use crate::events::EventType;
use crate::mac::Mac;
use crate::store::readings::{NewReading, Reading};

/// Unknown tags remembered for the operator, at most.
const UNKNOWN_TAGS_KEPT: usize = 1000;
/// API writes waiting for the pipeline, at most (then the API waits to hand one over).
const CONTROL_QUEUE: usize = 256;
/// How long an API write waits for the pipeline to apply it. Only a stalled pipeline takes
/// this long; the change still comes before every later report.
const APPLY_WAIT: Duration = Duration::from_secs(5);

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
    /// The subject an event is about, if the pipeline cares about it. Every type is named,
    /// so that a new one is a decision, not a silent `None`.
    pub fn of(event: EventType) -> Option<Subject> {
        use EventType as E;
        Some(match event {
            E::TagCreated | E::TagUpdated | E::TagDeleted | E::PositionChanged => Subject::Tag,
            E::PersonCreated | E::PersonUpdated | E::PersonDeleted => Subject::Person,
            E::DeviceCreated
            | E::DeviceUpdated
            | E::DevicePositionUpdated
            | E::DeviceDeleted
            | E::GatewayOnline
            | E::GatewayOffline
            | E::CameraOnline
            | E::CameraOffline => Subject::Device,
            E::FloorPlanCreated | E::FloorPlanUpdated | E::FloorPlanDeleted => Subject::FloorPlan,
            E::FloorCreated | E::FloorUpdated | E::FloorDeleted => Subject::Floor,
            E::BuildingCreated | E::BuildingUpdated | E::BuildingDeleted => Subject::Building,
            E::CameraEvent
            | E::CameraGroupCreated
            | E::CameraGroupUpdated
            | E::CameraGroupDeleted
            | E::CambusCollectorStatus
            | E::PersonGroupCreated
            | E::PersonGroupUpdated
            | E::PersonGroupDeleted
            | E::CollectionLogCreated
            | E::CollectionLogUpdated
            | E::CollectionLogDeleted
            | E::UserUpdated
            | E::UserDeleted
            | E::SupportGroupCreated
            | E::SupportGroupUpdated
            | E::SupportGroupDeleted
            | E::MqttCredentialCreated
            | E::MqttCredentialUpdated
            | E::MqttCredentialRotated
            | E::MqttCredentialRevoked
            | E::WebhookCreated
            | E::WebhookUpdated
            | E::WebhookDeleted
            | E::WebhookTest
            | E::WebhookPaused
            | E::AlertRuleCreated
            | E::AlertRuleUpdated
            | E::AlertRuleDeleted
            | E::AlertOpened
            | E::AlertUpdated
            | E::AlertClosed
            | E::DiskLow
            | E::DiskRecovered
            | E::IncidentCreated
            | E::IncidentUpdated
            | E::IncidentStatusChanged
            | E::IncidentReopened
            | E::IncidentAssigned
            | E::IncidentMessageCreated
            | E::IncidentRuleCreated
            | E::IncidentRuleUpdated
            | E::IncidentRuleDeleted
            | E::ZoneCreated
            | E::ZoneUpdated
            | E::ZoneDeleted => return None,
        })
    }

    /// Whether such a change changes what reports are matched against (a person's name or
    /// active flag, a floor's or building's name are read when positions are asked for).
    fn matters(self, deleted: bool) -> bool {
        deleted || matches!(self, Subject::Tag | Subject::Device | Subject::FloorPlan)
    }
}

pub(super) enum Control {
    Changed {
        subject: Subject,
        id: i64,
        deleted: bool,
    },
    /// A reading stored through the API, to be heard like a report.
    Heard(NewReading),
    /// Nothing to do: answered to prove that the loop turns (the systemd watchdog).
    Ping,
}

pub(super) struct Request {
    pub(super) control: Control,
    pub(super) applied: oneshot::Sender<()>,
}

/// The pipeline's end of [`PipelineView`]'s changes.
pub struct ControlReceiver(pub(super) mpsc::Receiver<Request>);

/// What the API reads of the pipeline, and how it tells the pipeline about its writes.
pub struct PipelineView {
    unknown: Mutex<UnknownTags>,
    pub(super) positions: std::sync::RwLock<HashMap<i64, TagPosition>>,
    /// A cluster standby's copy of the leader's positions (`cluster/live.rs`), which the API
    /// reads instead of the pipeline's own while it exists.
    replica: std::sync::RwLock<Option<HashMap<i64, TagPosition>>>,
    control: mpsc::Sender<Request>,
}

impl PipelineView {
    pub fn new() -> (PipelineView, ControlReceiver) {
        let (control, rx) = mpsc::channel(CONTROL_QUEUE);
        let view = PipelineView {
            unknown: Mutex::default(),
            positions: std::sync::RwLock::default(),
            replica: std::sync::RwLock::default(),
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

    /// Whether the pipeline's loop takes a request within `within`: the watchdog's proof
    /// that it is not stuck.
    pub async fn ping(&self, within: Duration) -> bool {
        let (applied, done) = oneshot::channel();
        let request = Request {
            control: Control::Ping,
            applied,
        };
        let answered = async { self.control.send(request).await.is_ok() && done.await.is_ok() };
        tokio::time::timeout(within, answered)
            .await
            .unwrap_or(false)
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

    /// The latest position of every tag heard recently (on a cluster standby, the leader's).
    pub fn positions(&self) -> Vec<TagPosition> {
        let replica = self
            .replica
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(replica) = replica.as_ref() {
            return replica.values().cloned().collect();
        }
        self.positions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The tags the pipeline itself places (not the replica's).
    pub(crate) fn own_position_tags(&self) -> std::collections::HashSet<i64> {
        self.positions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect()
    }

    /// From now on the API reads the replica (kept if it exists, else empty).
    pub(crate) fn start_replica(&self) {
        self.replica
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(HashMap::new);
    }

    /// Drops the replica (the pipeline owns the positions now); returns its tags.
    pub(crate) fn stop_replica(&self) -> Vec<i64> {
        self.replica
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .map(|replica| replica.into_keys().collect())
            .unwrap_or_default()
    }

    /// Puts the leader's position of a tag in the replica; `false` when there is none
    /// (this node leads): checked under the replica's lock, so a position that arrives
    /// as the node takes over cannot outlive [`PipelineView::stop_replica`].
    pub(crate) fn replicate(&self, position: TagPosition) -> bool {
        match self
            .replica
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            Some(replica) => {
                replica.insert(position.tag_id, position);
                true
            }
            None => false,
        }
    }

    /// Unknown tags, most recently heard first.
    pub fn unknown_tags(&self) -> Vec<UnknownTag> {
        let unknown = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        unknown
            .by_time
            .iter()
            .rev()
            .filter_map(|(_, mac)| unknown.by_mac.get(mac).cloned())
            .collect()
    }

    pub(super) fn heard_unknown(
        &self,
        mac: Mac,
        gateway_id: i64,
        rssi: Option<i32>,
        at: DateTime<Utc>,
    ) {
        self.unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .heard(mac, gateway_id, rssi, at);
    }

    pub(super) fn registered<'a>(&self, macs: impl IntoIterator<Item = &'a Mac>) {
        let mut unknown = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for mac in macs {
            unknown.forget(mac);
        }
    }

    /// Forgets a tag's position, the pipeline's and the replica's (a tag deleted through
    /// this node's API, or by the leader).
    pub(crate) fn forget_position(&self, tag_id: i64) {
        self.positions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&tag_id);
        if let Some(replica) = self
            .replica
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            replica.remove(&tag_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tag_id: i64, device_id: i64) -> TagPosition {
        TagPosition {
            tag_id,
            device_id,
            last_seen_at: Utc::now(),
            rssi: None,
            floor_plan_id: None,
            x: None,
            y: None,
            x_m: None,
            y_m: None,
            accuracy_m: None,
        }
    }

    #[test]
    fn the_replica_replaces_the_pipelines_positions_while_it_exists() {
        let (view, _control) = PipelineView::new();
        view.positions.write().unwrap().insert(1, at(1, 10));
        assert!(!view.replicate(at(2, 20)), "no replica: this node leads");
        view.start_replica();
        assert!(
            view.positions().is_empty(),
            "a fresh replica, not the pipeline's"
        );
        assert!(view.replicate(at(2, 20)) && view.replicate(at(3, 30)));
        assert!(view.replicate(at(2, 21)), "updated");
        let mut seen: Vec<_> = view
            .positions()
            .iter()
            .map(|p| (p.tag_id, p.device_id))
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, [(2, 21), (3, 30)]);
        view.forget_position(3);
        assert_eq!(
            view.positions().len(),
            1,
            "a forgotten tag leaves the replica"
        );
        view.start_replica();
        assert_eq!(view.positions().len(), 1, "starting again keeps it");
        assert_eq!(view.stop_replica(), [2]);
        assert!(
            !view.replicate(at(4, 40)),
            "stopped: the pipeline owns the positions"
        );
        let own: Vec<_> = view.positions().iter().map(|p| p.tag_id).collect();
        assert_eq!(own, [1], "the pipeline's own again");
    }

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
}
