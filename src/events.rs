//! The internal event bus: every change the appliance makes (a building created, a device
//! moved, …) is published here with the event type and payload the original backend sent to
//! its webhooks. Subscribers (the webhook outbox, the live stream) receive what happens
//! after they subscribe; with no subscriber an event is simply dropped.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub event_type: &'static str,
    pub timestamp: DateTime<Utc>,
    /// The user whose request caused the event, if any.
    pub user_id: Option<i64>,
    pub payload: Value,
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        EventBus {
            sender: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, event_type: &'static str, user_id: Option<i64>, payload: Value) {
        let event = Event {
            event_type,
            timestamp: crate::store::now(),
            user_id,
            payload,
        };
        tracing::debug!(event_type, "event");
        // An error only means nobody is listening.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
