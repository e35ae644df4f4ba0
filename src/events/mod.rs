//! The internal event bus: every change the appliance makes (a building created, a device
//! moved, …) is published here with the event type and payload the original backend sent to
//! its webhooks. Subscribers (the webhook outbox, the live stream) receive what happens
//! after they subscribe; with no subscriber an event is simply dropped.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;
use tokio::sync::{Notify, broadcast, mpsc};

pub mod payload;

/// Who may see events of a type on the live stream (and, later, webhooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Operators and administrators: what operators may read through the API.
    Operators,
    /// Administrators only (users, support groups, MQTT credentials).
    Admins,
}

/// Declares [`EventType`]: each type once, with its wire name (what the console, the live
/// stream and webhooks see; never change one), the kind of record it is about and the
/// audit log's default verb for it, and who may see it.
macro_rules! event_types {
    ($($variant:ident = $wire:literal, $entity:literal, $verb:literal, $audience:ident;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            pub const ALL: &[EventType] = &[$(EventType::$variant,)+];

            /// The name clients see.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $wire,)+
                }
            }

            /// The kind of record the event is about, as the audit log names it.
            pub fn entity(self) -> &'static str {
                match self {
                    $(EventType::$variant => $entity,)+
                }
            }

            /// What happened to the record, as the audit log says it unless the change
            /// says more (`purge`, `set_position`).
            pub fn verb(self) -> &'static str {
                match self {
                    $(EventType::$variant => $verb,)+
                }
            }

            pub fn audience(self) -> Audience {
                match self {
                    $(EventType::$variant => Audience::$audience,)+
                }
            }
        }
    };
}

event_types! {
    BuildingCreated = "BUILDING_CREATED", "building", "create", Operators;
    BuildingUpdated = "BUILDING_UPDATED", "building", "update", Operators;
    BuildingDeleted = "BUILDING_DELETED", "building", "delete", Operators;
    FloorCreated = "FLOOR_CREATED", "floor", "create", Operators;
    FloorUpdated = "FLOOR_UPDATED", "floor", "update", Operators;
    FloorDeleted = "FLOOR_DELETED", "floor", "delete", Operators;
    FloorPlanCreated = "FLOOR_PLAN_CREATED", "floor_plan", "create", Operators;
    FloorPlanUpdated = "FLOOR_PLAN_UPDATED", "floor_plan", "update", Operators;
    FloorPlanDeleted = "FLOOR_PLAN_DELETED", "floor_plan", "delete", Operators;
    DeviceCreated = "DEVICE_CREATED", "device", "create", Operators;
    DeviceUpdated = "DEVICE_UPDATED", "device", "update", Operators;
    DevicePositionUpdated = "DEVICE_POSITION_UPDATED", "device", "set_position", Operators;
    DeviceDeleted = "DEVICE_DELETED", "device", "delete", Operators;
    GatewayOnline = "GATEWAY_ONLINE", "device", "online", Operators;
    GatewayOffline = "GATEWAY_OFFLINE", "device", "offline", Operators;
    CameraOnline = "CAMERA_ONLINE", "device", "online", Operators;
    CameraOffline = "CAMERA_OFFLINE", "device", "offline", Operators;
    CameraEvent = "CAMERA_EVENT", "camera_event", "create", Operators;
    CameraGroupCreated = "CAMERA_GROUP_CREATED", "camera_group", "create", Operators;
    CameraGroupUpdated = "CAMERA_GROUP_UPDATED", "camera_group", "update", Operators;
    CameraGroupDeleted = "CAMERA_GROUP_DELETED", "camera_group", "delete", Operators;
    CambusCollectorStatus = "CAMBUS_COLLECTOR_STATUS", "cambus_collector", "update", Operators;
    PersonCreated = "PERSON_CREATED", "person", "create", Operators;
    PersonUpdated = "PERSON_UPDATED", "person", "update", Operators;
    PersonDeleted = "PERSON_DELETED", "person", "delete", Operators;
    PersonGroupCreated = "PERSON_GROUP_CREATED", "person_group", "create", Operators;
    PersonGroupUpdated = "PERSON_GROUP_UPDATED", "person_group", "update", Operators;
    PersonGroupDeleted = "PERSON_GROUP_DELETED", "person_group", "delete", Operators;
    TagCreated = "TAG_CREATED", "tag", "create", Operators;
    TagUpdated = "TAG_UPDATED", "tag", "update", Operators;
    TagDeleted = "TAG_DELETED", "tag", "delete", Operators;
    CollectionLogCreated = "COLLECTION_LOG_CREATED", "collection_log", "create", Operators;
    CollectionLogUpdated = "COLLECTION_LOG_UPDATED", "collection_log", "update", Operators;
    CollectionLogDeleted = "COLLECTION_LOG_DELETED", "collection_log", "delete", Operators;
    PositionChanged = "POSITION_CHANGED", "tag", "move", Operators;
    UserUpdated = "USER_UPDATED", "user", "update", Admins;
    UserDeleted = "USER_DELETED", "user", "delete", Admins;
    SupportGroupCreated = "SUPPORT_GROUP_CREATED", "support_group", "create", Admins;
    SupportGroupUpdated = "SUPPORT_GROUP_UPDATED", "support_group", "update", Admins;
    SupportGroupDeleted = "SUPPORT_GROUP_DELETED", "support_group", "delete", Admins;
    MqttCredentialCreated = "MQTT_CREDENTIAL_CREATED", "mqtt_credential", "create", Admins;
    MqttCredentialUpdated = "MQTT_CREDENTIAL_UPDATED", "mqtt_credential", "update", Admins;
    MqttCredentialRotated = "MQTT_CREDENTIAL_ROTATED", "mqtt_credential", "rotate", Admins;
    MqttCredentialRevoked = "MQTT_CREDENTIAL_REVOKED", "mqtt_credential", "revoke", Admins;
    WebhookCreated = "WEBHOOK_CREATED", "webhook", "create", Admins;
    WebhookUpdated = "WEBHOOK_UPDATED", "webhook", "update", Admins;
    WebhookDeleted = "WEBHOOK_DELETED", "webhook", "delete", Admins;
    WebhookTest = "WEBHOOK_TEST", "webhook", "test", Admins;
    WebhookPaused = "WEBHOOK_PAUSED", "webhook", "pause", Admins;
    AlertRuleCreated = "ALERT_RULE_CREATED", "alert_rule", "create", Operators;
    AlertRuleUpdated = "ALERT_RULE_UPDATED", "alert_rule", "update", Operators;
    AlertRuleDeleted = "ALERT_RULE_DELETED", "alert_rule", "delete", Operators;
    AlertOpened = "ALERT_OPENED", "alert_event", "open", Operators;
    AlertUpdated = "ALERT_UPDATED", "alert_event", "update", Operators;
    AlertClosed = "ALERT_CLOSED", "alert_event", "close", Operators;
    DiskLow = "DISK_LOW", "appliance", "disk_low", Operators;
    DiskRecovered = "DISK_RECOVERED", "appliance", "disk_recovered", Operators;
    IncidentCreated = "INCIDENT_CREATED", "incident", "create", Operators;
    IncidentUpdated = "INCIDENT_UPDATED", "incident", "update", Operators;
    IncidentStatusChanged = "INCIDENT_STATUS_CHANGED", "incident", "change_status", Operators;
    IncidentReopened = "INCIDENT_REOPENED", "incident", "reopen", Operators;
    IncidentAssigned = "INCIDENT_ASSIGNED", "incident", "assign", Operators;
    IncidentMessageCreated = "INCIDENT_MESSAGE_CREATED", "incident_message", "create", Operators;
    IncidentRuleCreated = "INCIDENT_RULE_CREATED", "incident_rule", "create", Operators;
    IncidentRuleUpdated = "INCIDENT_RULE_UPDATED", "incident_rule", "update", Operators;
    IncidentRuleDeleted = "INCIDENT_RULE_DELETED", "incident_rule", "delete", Operators;
    ZoneCreated = "ZONE_CREATED", "zone", "create", Operators;
    ZoneUpdated = "ZONE_UPDATED", "zone", "update", Operators;
    ZoneDeleted = "ZONE_DELETED", "zone", "delete", Operators;
}

impl EventType {
    /// The type named `name` (its wire name, any case).
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }
}

impl EventType {
    /// Whether webhooks may carry events of this type: every change and alert, not the
    /// positions (many per second per tag: the live stream carries them).
    pub fn goes_to_webhooks(self) -> bool {
        !matches!(self, EventType::PositionChanged)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event_type: EventType,
    pub timestamp: DateTime<Utc>,
    /// The user whose request caused the event, if any.
    pub user_id: Option<i64>,
    pub payload: Value,
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    /// Where events for webhooks go to be written to the outbox (a channel that never
    /// drops: the broadcast one lags under a flood of positions).
    outbox: Option<mpsc::UnboundedSender<Event>>,
    /// Subscribers that must not lose a change ([`EventBus::subscribe_ordered`]).
    ordered: Arc<RwLock<Vec<Weak<OrderedFeed>>>>,
}

impl EventBus {
    /// A bus whose events reach live subscribers only.
    pub fn new(capacity: usize) -> Self {
        EventBus {
            sender: broadcast::channel(capacity).0,
            outbox: None,
            ordered: Arc::default(),
        }
    }

    /// A bus that also hands every event for webhooks to the outbox writer, which reads
    /// the returned receiver.
    pub fn with_outbox(capacity: usize) -> (Self, mpsc::UnboundedReceiver<Event>) {
        let (outbox, receiver) = mpsc::unbounded_channel();
        let bus = EventBus {
            outbox: Some(outbox),
            ..EventBus::new(capacity)
        };
        (bus, receiver)
    }

    pub fn publish(&self, event_type: EventType, user_id: Option<i64>, payload: Value) {
        let event = Event::now(event_type, user_id, payload);
        if let Some(outbox) = &self.outbox
            && event_type.goes_to_webhooks()
        {
            // An error only means the appliance is stopping.
            let _ = outbox.send(event.clone());
        }
        self.broadcast(event);
    }

    /// Publishes an event whose webhook deliveries are already written (the API writes
    /// them before it answers).
    pub fn publish_stored(&self, event: Event) {
        self.broadcast(event);
    }

    /// Hands an event another node of the cluster published (`cluster/live.rs`) to this
    /// node's live streams only: its webhooks and ordered subscribers (the alert engine)
    /// were served on the node where it happened.
    pub fn relay(&self, event: Event) {
        // An error only means nobody is listening.
        let _ = self.sender.send(event);
    }

    fn broadcast(&self, event: Event) {
        tracing::debug!(event_type = event.event_type.as_str(), "event");
        let mut gone = false;
        for feed in self
            .ordered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            match feed.upgrade() {
                Some(feed) => feed.push(&event),
                None => gone = true,
            }
        }
        if gone {
            self.ordered
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|feed| feed.strong_count() > 0);
        }
        // An error only means nobody is listening.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// A subscription that never drops an event of the types `wants` selects, in the order
    /// they were published, except positions: a tag's newest `POSITION_CHANGED` replaces
    /// the one of the same tag still waiting (in its place), so a slow reader holds at
    /// most one position per tag. (The broadcast subscription loses events once it lags,
    /// device status changes among them.)
    pub fn subscribe_ordered(&self, wants: fn(EventType) -> bool) -> OrderedReceiver {
        let feed = Arc::new(OrderedFeed {
            wants,
            queue: Mutex::default(),
            ready: Notify::new(),
        });
        self.ordered
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Arc::downgrade(&feed));
        OrderedReceiver { feed }
    }
}

/// What an ordered subscriber has not read yet.
#[derive(Default)]
struct OrderedQueue {
    items: VecDeque<Queued>,
    /// The newest waiting position of each tag.
    positions: HashMap<i64, Event>,
}

enum Queued {
    Event(Event),
    /// The tag's newest position, in `positions`.
    Position(i64),
}

struct OrderedFeed {
    wants: fn(EventType) -> bool,
    queue: Mutex<OrderedQueue>,
    ready: Notify,
}

impl OrderedFeed {
    fn push(&self, event: &Event) {
        if !(self.wants)(event.event_type) {
            return;
        }
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tag = (event.event_type == EventType::PositionChanged)
            .then(|| event.payload.get("tag_id").and_then(Value::as_i64))
            .flatten();
        match tag {
            Some(tag) => {
                if queue.positions.insert(tag, event.clone()).is_none() {
                    queue.items.push_back(Queued::Position(tag));
                }
            }
            None => queue.items.push_back(Queued::Event(event.clone())),
        }
        drop(queue);
        self.ready.notify_one();
    }
}

/// The reading end of [`EventBus::subscribe_ordered`]; dropping it ends the subscription.
pub struct OrderedReceiver {
    feed: Arc<OrderedFeed>,
}

impl OrderedReceiver {
    /// The next event, waiting for one.
    pub async fn recv(&mut self) -> Event {
        loop {
            if let Some(event) = self.try_recv() {
                return event;
            }
            self.feed.ready.notified().await;
        }
    }

    /// The next event, if one waits.
    pub fn try_recv(&mut self) -> Option<Event> {
        let mut queue = self
            .feed
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(item) = queue.items.pop_front() {
            match item {
                Queued::Event(event) => return Some(event),
                Queued::Position(tag) => {
                    if let Some(event) = queue.positions.remove(&tag) {
                        return Some(event);
                    }
                }
            }
        }
        None
    }
}

impl Event {
    pub fn now(event_type: EventType, user_id: Option<i64>, payload: Value) -> Self {
        Event {
            event_type,
            timestamp: crate::store::now(),
            user_id,
            payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_ordered_feed_keeps_every_status_change_and_the_newest_position_of_each_tag() {
        let bus = EventBus::new(16);
        let mut live = bus.subscribe();
        let mut feed = bus.subscribe_ordered(|t| t != EventType::CameraEvent);
        // A burst the broadcast subscriber cannot hold, with a gateway going offline in
        // the middle of it and back at its end; nobody reads meanwhile.
        for i in 0..10_000 {
            bus.publish(
                EventType::PositionChanged,
                None,
                serde_json::json!({"tag_id": i % 10, "n": i}),
            );
            if i == 5_000 {
                bus.publish(
                    EventType::GatewayOffline,
                    None,
                    serde_json::json!({"device_id": 1}),
                );
            }
            bus.publish(EventType::CameraEvent, None, serde_json::json!({}));
        }
        bus.publish(
            EventType::GatewayOnline,
            None,
            serde_json::json!({"device_id": 1}),
        );
        assert!(
            matches!(
                live.recv().await,
                Err(broadcast::error::RecvError::Lagged(_))
            ),
            "the broadcast subscriber lost events"
        );
        let mut received = Vec::new();
        while let Some(event) = feed.try_recv() {
            received.push(event);
        }
        let kinds: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
        let mut expected = vec!["POSITION_CHANGED"; 10];
        expected.extend(["GATEWAY_OFFLINE", "GATEWAY_ONLINE"]);
        assert_eq!(kinds, expected, "every status change, one position per tag");
        let newest: Vec<i64> = received[..10]
            .iter()
            .map(|e| e.payload["n"].as_i64().unwrap())
            .collect();
        assert_eq!(
            newest,
            (9_990..10_000).collect::<Vec<_>>(),
            "the newest of each tag"
        );
        drop(feed);
        bus.publish(EventType::GatewayOnline, None, serde_json::json!({}));
        assert!(
            bus.ordered.read().unwrap().is_empty(),
            "a dropped feed is forgotten"
        );
    }

    #[test]
    fn wire_names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for &t in EventType::ALL {
            assert!(seen.insert(t.as_str()), "{t} declared twice");
            assert!(
                t.as_str()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_'),
                "{t}"
            );
            assert_eq!(EventType::parse(&t.as_str().to_lowercase()), Some(t));
        }
        assert_eq!(EventType::parse("LAGGED"), None);
        assert_eq!(
            serde_json::to_value(EventType::DeviceCreated).unwrap(),
            "DEVICE_CREATED"
        );
    }
}
