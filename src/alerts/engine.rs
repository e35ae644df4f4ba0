//! The alert engine: one task that keeps each rule's open sessions in memory and moves
//! them on transitions.
//!
//! - A tag's current gateway changes (`POSITION_CHANGED` with another `device_id`): the
//!   sessions of the tag on the old gateway's rules close (`moved_to_other_device`), the
//!   new gateway's rules that apply to the tag open theirs. A session is keyed by (rule,
//!   tag), so two rules on one gateway never close each other's (D3).
//! - The same gateway again: only the session's last evidence moves, in memory; it is
//!   written every few seconds and at close, never per reading.
//! - A tag not heard for the session TTL: its sessions close (`stale_ttl_<n>s`) with
//!   `ended_at` = the last evidence.
//! - Dwell: the tag's arrival starts a timer; the alert is one event, opened when the limit
//!   is crossed (with `started_at` = the arrival) and closed when the tag leaves (D4).
//! - A device goes offline or comes back (`GATEWAY_*`/`CAMERA_*` from the device monitor):
//!   status rules open an offline session and close it when the device is back, with
//!   `offline_started_at` = its last evidence before the gap and `ended_at` = the first
//!   after it (D6); ONLINE rules record the return as a closed event.
//! - A rule created, changed or deleted is reloaded at once; a deleted or disabled rule
//!   closes its sessions. A rule whose gateway was deleted is disabled with a reason.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::rules::{RuleKind, Schedule};
use crate::events::{Event, EventBus, EventType, payload};
use crate::mac::display_stored;
use crate::store::Store;
use crate::store::alerts::{AlertEvent, AlertRule, DevicePlace, TagSubject};

/// How often timers and staleness are checked.
const TICK: Duration = Duration::from_secs(1);
/// How often the moved last evidence of open sessions is written.
const FLUSH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    /// A tag rule's session on one tag.
    Tag { rule: i64, tag: i64 },
    /// A device status rule's session on one device.
    Device { rule: i64, device: i64 },
}

struct Rule {
    row: AlertRule,
    kind: RuleKind,
    schedule: Option<Schedule>,
}

/// Where a tag is: its current gateway and when it was last heard.
#[derive(Debug, Clone, Copy)]
struct TagAt {
    device: i64,
    seen: DateTime<Utc>,
}

/// An open session: the stored event as it is in memory (its `last_seen_at` moves).
struct Session {
    event: AlertEvent,
    written_seen: DateTime<Utc>,
}

/// A tag at a dwell rule's gateway, before the limit is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arrival {
    at: DateTime<Utc>,
}

pub struct Engine {
    store: Store,
    events: EventBus,
    time_zone: Tz,
    ttl: chrono::TimeDelta,
    /// A device unheard for this long is offline (the device monitor's window).
    offline_after: chrono::TimeDelta,
    rules: HashMap<i64, Rule>,
    /// Tag rules by their gateway.
    by_device: HashMap<i64, Vec<i64>>,
    sessions: HashMap<Key, Session>,
    tags: HashMap<i64, TagAt>,
    arrivals: HashMap<(i64, i64), Arrival>,
    /// Dwell deadlines: (when, rule, tag).
    deadlines: BTreeSet<(DateTime<Utc>, i64, i64)>,
    /// When a device went offline (its last evidence), for ONLINE rules.
    offline_since: HashMap<i64, DateTime<Utc>>,
    /// When each (rule, subject) last closed, for cool-downs.
    closed_at: HashMap<Key, DateTime<Utc>>,
    last_flush: DateTime<Utc>,
    last_tick: DateTime<Utc>,
}

impl Engine {
    /// `ttl_seconds`: a tag unheard for that long ends its sessions; `offline_after_seconds`:
    /// the device monitor's window.
    pub fn new(
        store: Store,
        events: EventBus,
        time_zone: Tz,
        ttl_seconds: u32,
        offline_after_seconds: u32,
    ) -> Engine {
        Engine {
            store,
            events,
            time_zone,
            ttl: chrono::TimeDelta::seconds(i64::from(ttl_seconds)),
            offline_after: chrono::TimeDelta::seconds(i64::from(offline_after_seconds)),
            rules: HashMap::new(),
            by_device: HashMap::new(),
            sessions: HashMap::new(),
            tags: HashMap::new(),
            arrivals: HashMap::new(),
            deadlines: BTreeSet::new(),
            offline_since: HashMap::new(),
            closed_at: HashMap::new(),
            last_flush: Utc::now(),
            last_tick: Utc::now(),
        }
    }

    /// Runs until `shutdown`: `bus` must have been subscribed before the pipeline starts
    /// announcing positions.
    pub async fn run(mut self, mut bus: Receiver<Event>, shutdown: CancellationToken) {
        self.load().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                received = bus.recv() => match received {
                    Ok(event) => self.handle(&event).await,
                    Err(RecvError::Lagged(missed)) => {
                        // Positions come again within seconds; rules may have changed.
                        tracing::warn!(missed, "alert engine fell behind the event bus; reloading rules");
                        self.load_rules().await;
                        self.close_orphans().await;
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => self.tick(Utc::now()).await,
                () = shutdown.cancelled() => break,
            }
        }
        self.flush().await;
    }

    async fn load(&mut self) {
        self.load_rules().await;
        let open = match self.store.open_alert_events().await {
            Ok(open) => open,
            Err(err) => return tracing::warn!(error = %err, "could not read the open alerts"),
        };
        for event in open {
            let tag_rule = RuleKind::parse(&event.event_type).is_some_and(RuleKind::watches_tags);
            let key = match (event.rule_id, event.tag_id, event.device_id) {
                (Some(rule), Some(tag), Some(device)) if tag_rule => {
                    // The tag was last known at the session's gateway: its next position
                    // continues the session or moves it on; silence makes it stale.
                    self.tags.entry(tag).or_insert(TagAt {
                        device,
                        seen: event.last_seen_at,
                    });
                    Key::Tag { rule, tag }
                }
                (Some(rule), _, Some(device)) if !tag_rule => Key::Device { rule, device },
                // Its rule, tag or device was deleted while the engine was not listening.
                (rule, tag, _) => {
                    let reason = match (rule, tag) {
                        (None, _) => "rule_deleted",
                        (_, None) if tag_rule => "tag_deleted",
                        _ => "device_deleted",
                    };
                    self.close(event, event_end(None), reason).await;
                    continue;
                }
            };
            let written_seen = event.last_seen_at;
            self.sessions.insert(
                key,
                Session {
                    event,
                    written_seen,
                },
            );
        }
        self.back_while_stopped().await;
        self.close_orphans().await;
        tracing::info!(
            rules = self.rules.len(),
            sessions = self.sessions.len(),
            "alert engine started"
        );
    }

    /// Ends the sessions of rules that are no longer running (deleted or switched off
    /// while the engine was not listening).
    async fn close_orphans(&mut self) {
        let orphans: Vec<Key> = self
            .sessions
            .keys()
            .filter(|k| !self.rules.contains_key(&rule_of(**k)))
            .copied()
            .collect();
        for key in orphans {
            self.close_key(key, None, "rule_disabled").await;
        }
    }

    /// Offline sessions of devices heard again while the appliance was stopped end (the
    /// device monitor's first pass only learns states): at the latest evidence, the first
    /// one after the gap being unknown.
    async fn back_while_stopped(&mut self) {
        let offline: Vec<(Key, DateTime<Utc>)> = self
            .sessions
            .iter()
            .filter(|(k, _)| matches!(k, Key::Device { .. }))
            .map(|(k, s)| (*k, s.event.started_at))
            .collect();
        if offline.is_empty() {
            return;
        }
        let devices = match self.store.devices_last_seen().await {
            Ok(devices) => devices,
            Err(err) => return tracing::warn!(error = %err, "could not read the devices"),
        };
        let now = Utc::now();
        for (key, started) in offline {
            let Key::Device { device, .. } = key else {
                continue;
            };
            let seen = devices
                .iter()
                .find(|d| d.id == device)
                .and_then(|d| d.last_seen_at);
            if let Some(seen) =
                seen.filter(|seen| *seen > started && now - *seen <= self.offline_after)
            {
                let camera = self
                    .sessions
                    .get(&key)
                    .is_some_and(|s| s.event.event_type == RuleKind::CameraOffline.as_str());
                let reason = if camera {
                    "camera_back_online"
                } else {
                    "gateway_back_online"
                };
                self.close_key(key, Some(seen), reason).await;
            }
        }
    }

    async fn load_rules(&mut self) {
        match self.store.active_alert_rules().await {
            Ok(rows) => {
                self.rules.clear();
                for row in rows {
                    self.add_rule(row).await;
                }
                self.index();
            }
            Err(err) => tracing::warn!(error = %err, "could not read the alert rules"),
        }
    }

    /// Takes a stored active rule in; one that lost its device is disabled instead.
    async fn add_rule(&mut self, row: AlertRule) {
        let Some(kind) = RuleKind::parse(&row.rule_type) else {
            return; // stored by the original, inert
        };
        if kind.needs_device() && row.device_id.is_none() {
            self.disable(row.id, "its gateway was deleted").await;
            return;
        }
        let schedule = row
            .schedule
            .as_deref()
            .and_then(|s| serde_json::from_str::<Schedule>(s).ok());
        self.rules.insert(
            row.id,
            Rule {
                row,
                kind,
                schedule,
            },
        );
    }

    fn index(&mut self) {
        self.by_device.clear();
        for rule in self.rules.values() {
            if let (true, Some(device)) = (rule.kind.watches_tags(), rule.row.device_id) {
                self.by_device.entry(device).or_default().push(rule.row.id);
            }
        }
        for rules in self.by_device.values_mut() {
            rules.sort_unstable();
        }
    }

    async fn disable(&mut self, rule_id: i64, reason: &str) {
        tracing::warn!(rule_id, reason, "alert rule disabled");
        match self.store.disable_alert_rule(rule_id, reason).await {
            Ok(Some(row)) => {
                let event = EventType::AlertRuleUpdated;
                // In the audit log without an author: the appliance did it.
                let details = json!({ "event": event, "disabled_reason": reason });
                if let Err(err) = self
                    .store
                    .audit(None, "disable", event.entity(), Some(rule_id), details)
                    .await
                {
                    tracing::warn!(error = %err, "could not audit a disabled alert rule");
                }
                self.events
                    .publish(event, None, payload::alert_rule(&row, event));
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, rule_id, "could not disable an alert rule"),
        }
    }

    async fn handle(&mut self, event: &Event) {
        let id = |key: &str| event.payload.get(key).and_then(Value::as_i64);
        match event.event_type {
            EventType::PositionChanged => {
                let seen = event
                    .payload
                    .get("last_seen_at")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or(event.timestamp);
                if let (Some(tag), Some(device)) = (id("tag_id"), id("device_id")) {
                    self.position(tag, device, seen).await;
                }
            }
            EventType::GatewayOffline | EventType::CameraOffline => {
                if let Some(device) = id("device_id") {
                    self.device_offline(device, &event.payload, event.timestamp)
                        .await;
                }
            }
            EventType::GatewayOnline | EventType::CameraOnline => {
                if let Some(device) = id("device_id") {
                    self.device_online(device, &event.payload, event.timestamp)
                        .await;
                }
            }
            EventType::AlertRuleCreated | EventType::AlertRuleUpdated => {
                if let Some(rule) = id("rule_id") {
                    self.reload_rule(rule, "rule_changed").await;
                }
            }
            EventType::AlertRuleDeleted => {
                if let Some(rule) = id("rule_id") {
                    self.reload_rule(rule, "rule_deleted").await;
                }
            }
            EventType::TagDeleted => {
                if let Some(at) =
                    id("tag_id").and_then(|tag| self.tags.remove(&tag).map(|at| (tag, at)))
                {
                    self.leave(at.0, at.1.device, "tag_deleted").await;
                }
            }
            EventType::DeviceDeleted => {
                if let Some(device) = id("device_id") {
                    self.device_deleted(device).await;
                }
            }
            _ => {}
        }
    }

    // Tags.

    async fn position(&mut self, tag: i64, device: i64, seen: DateTime<Utc>) {
        let previous = self.tags.insert(tag, TagAt { device, seen });
        match previous {
            // The common case, a tag staying put: evidence only, in memory.
            Some(at) if at.device == device => {
                for &rule in self.by_device.get(&device).into_iter().flatten() {
                    if let Some(s) = self.sessions.get_mut(&Key::Tag { rule, tag }) {
                        s.event.last_seen_at = s.event.last_seen_at.max(seen);
                    }
                }
            }
            _ => {
                if let Some(at) = previous {
                    self.leave(tag, at.device, "moved_to_other_device").await;
                }
                self.arrive(tag, device, seen).await;
            }
        }
    }

    /// Ends the tag's sessions and arrivals on the rules of `device`.
    async fn leave(&mut self, tag: i64, device: i64, reason: &str) {
        for rule in self.by_device.get(&device).cloned().unwrap_or_default() {
            self.arrivals.remove(&(rule, tag));
            self.close_key(Key::Tag { rule, tag }, None, reason).await;
        }
    }

    /// The tag is now at `device`: the rules there that apply to it start.
    async fn arrive(&mut self, tag: i64, device: i64, seen: DateTime<Utc>) {
        let rules = self.by_device.get(&device).cloned().unwrap_or_default();
        if rules.is_empty() {
            return;
        }
        let mut subject = None;
        for rule_id in rules {
            self.start_tag_rule(rule_id, tag, seen, &mut subject).await;
        }
    }

    /// Starts one tag rule for a tag at its gateway, unless it is already running there;
    /// `subject` caches who carries the tag across the rules of one arrival.
    async fn start_tag_rule(
        &mut self,
        rule_id: i64,
        tag: i64,
        seen: DateTime<Utc>,
        subject: &mut Option<Option<TagSubject>>,
    ) {
        let key = Key::Tag { rule: rule_id, tag };
        if self.sessions.contains_key(&key) || self.arrivals.contains_key(&(rule_id, tag)) {
            return;
        }
        if subject.is_none() {
            *subject = Some(match self.store.tag_subject(tag).await {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(error = %err, "alert engine: could not read a tag");
                    None
                }
            });
        }
        let Some(Some(who)) = subject.as_ref() else {
            return;
        };
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        if rule
            .row
            .group_id
            .is_some_and(|g| !who.group_ids.contains(&g))
            || !self.armed(rule, seen)
            || self.cooling(rule, key, seen)
        {
            return;
        }
        match rule.kind {
            RuleKind::ForbiddenSector => {
                let who = who.clone();
                self.open_forbidden(rule_id, &who, seen).await;
            }
            RuleKind::DwellTime => {
                let limit = i64::from(rule.row.max_dwell_seconds.unwrap_or(0));
                self.arrivals.insert((rule_id, tag), Arrival { at: seen });
                self.deadlines
                    .insert((seen + chrono::TimeDelta::seconds(limit), rule_id, tag));
            }
            _ => {}
        }
    }

    async fn open_forbidden(&mut self, rule_id: i64, who: &TagSubject, seen: DateTime<Utc>) {
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        let Some(device) = rule.row.device_id else {
            return;
        };
        let place = self.place(device).await;
        let message = format!(
            "Entrada em setor proibido: {} no gateway '{}'.",
            who_label(who),
            device_label(&place)
        );
        let mut body = json!({
            "rule_id": rule_id, "rule_name": rule.row.name, "event_type": rule.kind.as_str(),
            "device_id": device, "device_name": place.device_name, "tag_id": who.tag_id,
            "person_id": who.person_id, "person_full_name": who.person_full_name,
            "group_id": rule.row.group_id,
            "started_at": seen, "last_seen_at": seen, "ended_at": null, "is_open": true,
            "message": message, "first_collection_log_id": null, "last_collection_log_id": null,
        });
        payload::merge(&mut body, location(&place));
        let event = AlertEvent {
            rule_id: Some(rule_id),
            event_type: rule.kind.as_str().into(),
            person_id: who.person_id,
            tag_id: Some(who.tag_id),
            device_id: Some(device),
            group_id: rule.row.group_id,
            started_at: seen,
            last_seen_at: seen,
            is_open: true,
            message: Some(message),
            ..located(&place)
        };
        let key = Key::Tag {
            rule: rule_id,
            tag: who.tag_id,
        };
        self.open(key, event, body).await;
    }

    /// A dwell limit passed: the alert opens, dated from the arrival.
    async fn cross_dwell(&mut self, rule_id: i64, tag: i64, arrival: Arrival, now: DateTime<Utc>) {
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        let (Some(device), Some(at)) = (rule.row.device_id, self.tags.get(&tag).copied()) else {
            return;
        };
        let max = rule.row.max_dwell_seconds.unwrap_or(0);
        let (rule_name, group_id) = (rule.row.name.clone(), rule.row.group_id);
        let who = match self.store.tag_subject(tag).await {
            Ok(Some(who)) => who,
            Ok(None) => return,
            Err(err) => return tracing::warn!(error = %err, "alert engine: could not read a tag"),
        };
        let place = self.place(device).await;
        let dwell = (now - arrival.at).num_milliseconds() as f64 / 1000.0;
        let device_name = if place.device_name.is_empty() {
            format!("Device {device}")
        } else {
            place.device_name.clone()
        };
        let message = format!(
            "{} está há {}s no dispositivo {} (limite {}s).",
            who_label(&who),
            dwell.floor(),
            device_name,
            max
        );
        let mut body = json!({
            "rule_id": rule_id, "rule_name": rule_name, "event_type": RuleKind::DwellTime.as_str(),
            "device_id": device, "device_name": device_name, "tag_id": tag,
            "person_id": who.person_id, "person_full_name": who.person_full_name,
            "max_dwell_seconds": max, "dwell_seconds": dwell,
            "started_at": arrival.at, "last_seen_at": at.seen, "is_open": true,
            "message": message, "first_collection_log_id": null, "last_collection_log_id": null,
        });
        payload::merge(&mut body, location(&place));
        let event = AlertEvent {
            rule_id: Some(rule_id),
            event_type: RuleKind::DwellTime.as_str().into(),
            person_id: who.person_id,
            tag_id: Some(tag),
            device_id: Some(device),
            group_id,
            started_at: arrival.at,
            last_seen_at: at.seen.max(arrival.at),
            is_open: true,
            message: Some(message),
            ..located(&place)
        };
        self.open(Key::Tag { rule: rule_id, tag }, event, body)
            .await;
    }

    // Devices.

    async fn device_offline(&mut self, device: i64, status: &Value, now: DateTime<Utc>) {
        let last_seen: Option<DateTime<Utc>> = status
            .get("last_seen_at")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let since = last_seen.unwrap_or(now);
        self.offline_since.insert(device, since);
        let rules = self.status_rules(device, &[RuleKind::GatewayOffline, RuleKind::CameraOffline]);
        if rules.is_empty() {
            return;
        }
        let place = self.place(device).await;
        for rule_id in rules {
            let key = Key::Device {
                rule: rule_id,
                device,
            };
            let Some(rule) = self.rules.get(&rule_id) else {
                continue;
            };
            if self.sessions.contains_key(&key)
                || !self.armed(rule, now)
                || self.cooling(rule, key, now)
            {
                continue;
            }
            let message = format!(
                "{} '{}' ficou OFFLINE.",
                device_noun(rule.kind),
                device_label(&place)
            );
            let mut body = json!({
                "rule_id": rule_id, "rule_name": rule.row.name, "event_type": rule.kind.as_str(),
                "device_id": device, "device_name": place.device_name,
                "offline_started_at": since,
                "offline_seconds": seconds_between(since, now),
                "started_at": now, "last_seen_at": now, "is_open": true, "message": message,
            });
            payload::merge(&mut body, location(&place));
            let event = AlertEvent {
                rule_id: Some(rule_id),
                event_type: rule.kind.as_str().into(),
                device_id: Some(device),
                started_at: now,
                last_seen_at: now,
                is_open: true,
                message: Some(message),
                ..located(&place)
            };
            self.open(key, event, body).await;
        }
    }

    async fn device_online(&mut self, device: i64, status: &Value, now: DateTime<Utc>) {
        let back: DateTime<Utc> = status
            .get("last_seen_at")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or(now);
        let since = self.offline_since.remove(&device);
        let offline_rules =
            self.status_rules(device, &[RuleKind::GatewayOffline, RuleKind::CameraOffline]);
        let mut since_from_session = None;
        for rule in offline_rules {
            let key = Key::Device { rule, device };
            if let Some(s) = self.sessions.get(&key) {
                since_from_session = payload_time(&s.event, "offline_started_at");
                let reason = if s.event.event_type == RuleKind::CameraOffline.as_str() {
                    "camera_back_online"
                } else {
                    "gateway_back_online"
                };
                self.close_key(key, Some(back), reason).await;
            }
        }
        // A return pairs with a known gap (as the original's); a device heard for the first
        // time did not come back.
        let Some(since) = since.or(since_from_session) else {
            return;
        };
        let rules = self.status_rules(device, &[RuleKind::GatewayOnline, RuleKind::CameraOnline]);
        if rules.is_empty() {
            return;
        }
        let place = self.place(device).await;
        for rule_id in rules {
            let Some(rule) = self.rules.get(&rule_id) else {
                continue;
            };
            let key = Key::Device {
                rule: rule_id,
                device,
            };
            if !self.armed(rule, now) || self.cooling(rule, key, now) {
                continue;
            }
            let message = format!(
                "{} '{}' voltou a ficar ONLINE.",
                device_noun(rule.kind),
                device_label(&place)
            );
            let mut body = json!({
                "rule_id": rule_id, "rule_name": rule.row.name, "event_type": rule.kind.as_str(),
                "device_id": device, "device_name": place.device_name,
                "offline_started_at": since,
                "offline_seconds": seconds_between(since, back),
                "is_open": false, "ended_at": back, "message": message,
            });
            payload::merge(&mut body, location(&place));
            let event = AlertEvent {
                rule_id: Some(rule_id),
                event_type: rule.kind.as_str().into(),
                device_id: Some(device),
                started_at: back,
                last_seen_at: back,
                ended_at: Some(back),
                is_open: false,
                message: Some(message),
                payload: Some(body.to_string()),
                ..located(&place)
            };
            match self.store.insert_alert_event(&event).await {
                Ok(stored) => {
                    self.closed_at.insert(key, now);
                    self.events.publish(
                        EventType::AlertClosed,
                        None,
                        payload::alert_event(&stored),
                    );
                }
                Err(err) => tracing::warn!(error = %err, "could not record an alert"),
            }
        }
    }

    /// The status rules of these kinds that watch `device` (by id, or every device of
    /// their type: the device's type is the kind's, as the bus event said).
    fn status_rules(&self, device: i64, kinds: &[RuleKind]) -> Vec<i64> {
        let mut rules: Vec<i64> = self
            .rules
            .values()
            .filter(|r| kinds.contains(&r.kind) && r.row.device_id.is_none_or(|d| d == device))
            .map(|r| r.row.id)
            .collect();
        rules.sort_unstable();
        rules
    }

    async fn device_deleted(&mut self, device: i64) {
        let watching: Vec<i64> = self
            .rules
            .values()
            .filter(|r| r.row.device_id == Some(device))
            .map(|r| r.row.id)
            .collect();
        for rule in watching {
            // Purged with the device, or kept without it: disabled, saying why, once its
            // sessions are over.
            self.rules.remove(&rule);
            self.close_rule_sessions(rule, "rule_disabled").await;
            self.disable(rule, &format!("its device {device} was deleted"))
                .await;
        }
        let on_device: Vec<Key> = self
            .sessions
            .keys()
            .filter(|k| matches!(k, Key::Device { device: d, .. } if *d == device))
            .copied()
            .collect();
        for key in on_device {
            self.close_key(key, None, "device_deleted").await;
        }
        self.offline_since.remove(&device);
        self.index();
    }

    // Rules.

    async fn reload_rule(&mut self, rule_id: i64, reason: &str) {
        let row = match self.store.alert_rule(rule_id).await {
            Ok(row) => row,
            Err(err) => return tracing::warn!(error = %err, "could not read an alert rule"),
        };
        let old = self.rules.remove(&rule_id);
        let keeps_sessions = match (&old, &row) {
            (Some(old), Some(new)) => {
                new.is_active
                    && old.row.rule_type == new.rule_type
                    && old.row.device_id == new.device_id
                    && old.row.group_id == new.group_id
                    && old.row.max_dwell_seconds == new.max_dwell_seconds
            }
            _ => false,
        };
        if !keeps_sessions {
            let reason = match &row {
                Some(r) if !r.is_active => "rule_disabled",
                _ => reason,
            };
            self.close_rule_sessions(rule_id, reason).await;
            self.arrivals.retain(|(rule, _), _| *rule != rule_id);
        }
        if let Some(row) = row.filter(|r| r.is_active) {
            self.add_rule(row).await;
        }
        self.index();
        self.judge_present(rule_id, Utc::now()).await;
    }

    /// Judges the tags already at a tag rule's gateway now, not at their next move (a rule
    /// created, changed or armed by its schedule while they are there).
    async fn judge_present(&mut self, rule_id: i64, now: DateTime<Utc>) {
        let Some(device) = self
            .rules
            .get(&rule_id)
            .filter(|r| r.kind.watches_tags())
            .and_then(|r| r.row.device_id)
        else {
            return;
        };
        let present: Vec<(i64, DateTime<Utc>)> = self
            .tags
            .iter()
            .filter(|(_, at)| at.device == device && self.fresh(at.seen, now))
            .map(|(tag, at)| (*tag, at.seen))
            .collect();
        for (tag, seen) in present {
            self.start_tag_rule(rule_id, tag, seen, &mut None).await;
        }
    }

    async fn close_rule_sessions(&mut self, rule_id: i64, reason: &str) {
        let keys: Vec<Key> = self
            .sessions
            .keys()
            .filter(|k| rule_of(**k) == rule_id)
            .copied()
            .collect();
        for key in keys {
            self.close_key(key, None, reason).await;
        }
    }

    // Time.

    async fn tick(&mut self, now: DateTime<Utc>) {
        while let Some(&(due, rule, tag)) = self.deadlines.first() {
            if due > now {
                break;
            }
            self.deadlines.pop_first();
            // A deadline of an earlier visit finds the tag's arrival missing, or newer.
            let Some(arrival) = self.arrivals.get(&(rule, tag)).copied().filter(|a| {
                self.rules.get(&rule).is_some_and(|r| {
                    now - a.at
                        >= chrono::TimeDelta::seconds(i64::from(
                            r.row.max_dwell_seconds.unwrap_or(0),
                        ))
                })
            }) else {
                continue;
            };
            let still_there = self.tags.get(&tag).is_some_and(|at| {
                self.rules.get(&rule).and_then(|r| r.row.device_id) == Some(at.device)
                    && self.fresh(at.seen, now)
            });
            if still_there {
                self.arrivals.remove(&(rule, tag));
                self.cross_dwell(rule, tag, arrival, now).await;
            }
        }
        let stale: Vec<(i64, i64)> = self
            .tags
            .iter()
            .filter(|(_, at)| !self.fresh(at.seen, now))
            .map(|(tag, at)| (*tag, at.device))
            .collect();
        let reason = format!("stale_ttl_{}s", self.ttl.num_seconds());
        for (tag, device) in stale {
            self.tags.remove(&tag);
            self.leave(tag, device, &reason).await;
        }
        // Rules whose schedule just armed them judge the tags already there.
        let armed_now: Vec<i64> = self
            .rules
            .values()
            .filter(|r| {
                r.schedule.is_some() && self.armed(r, now) && !self.armed(r, self.last_tick)
            })
            .map(|r| r.row.id)
            .collect();
        for rule in armed_now {
            self.judge_present(rule, now).await;
        }
        self.last_tick = now;
        // Sessions outside their rule's schedule end.
        let disarmed: Vec<Key> = self
            .sessions
            .iter()
            .filter(|(k, _)| {
                self.rules
                    .get(&rule_of(**k))
                    .is_some_and(|r| !self.armed(r, now))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in disarmed {
            self.close_key(key, None, "outside_schedule").await;
        }
        if now - self.last_flush >= FLUSH_EVERY {
            self.flush().await;
        }
    }

    fn fresh(&self, seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - seen <= self.ttl
    }

    fn armed(&self, rule: &Rule, at: DateTime<Utc>) -> bool {
        rule.schedule
            .as_ref()
            .is_none_or(|s| s.armed(at.with_timezone(&self.time_zone).naive_local()))
    }

    /// Whether the rule closed a session on the same subject less than its cool-down ago.
    fn cooling(&self, rule: &Rule, key: Key, now: DateTime<Utc>) -> bool {
        let cooldown = i64::from(rule.row.cooldown_seconds.unwrap_or(0));
        cooldown > 0
            && self
                .closed_at
                .get(&key)
                .is_some_and(|closed| now - *closed < chrono::TimeDelta::seconds(cooldown))
    }

    /// Writes the moved last evidence of open sessions; forgets cool-downs that are over.
    async fn flush(&mut self) {
        let now = Utc::now();
        self.last_flush = now;
        let rules = &self.rules;
        self.closed_at.retain(|key, closed| {
            rules.get(&rule_of(*key)).is_some_and(|r| {
                now - *closed
                    < chrono::TimeDelta::seconds(i64::from(r.row.cooldown_seconds.unwrap_or(0)))
            })
        });
        let moved: Vec<(i64, DateTime<Utc>)> = self
            .sessions
            .values()
            .filter(|s| s.event.last_seen_at > s.written_seen)
            .map(|s| (s.event.id, s.event.last_seen_at))
            .collect();
        if moved.is_empty() {
            return;
        }
        match self.store.touch_alert_events(&moved).await {
            Ok(()) => {
                for s in self.sessions.values_mut() {
                    s.written_seen = s.event.last_seen_at;
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not write the alerts' last evidence"),
        }
    }

    // Sessions.

    async fn open(&mut self, key: Key, mut event: AlertEvent, body: Value) {
        event.payload = Some(body.to_string());
        match self.store.insert_alert_event(&event).await {
            Ok(stored) => {
                tracing::info!(
                    alert_event_id = stored.id,
                    event_type = stored.event_type,
                    "alert opened"
                );
                self.events
                    .publish(EventType::AlertOpened, None, payload::alert_event(&stored));
                let written_seen = stored.last_seen_at;
                self.sessions.insert(
                    key,
                    Session {
                        event: stored,
                        written_seen,
                    },
                );
            }
            Err(err) => tracing::warn!(error = %err, "could not record an alert"),
        }
    }

    /// Closes the session of `key`, if open; `ended_at` is `end` or its last evidence.
    async fn close_key(&mut self, key: Key, end: Option<DateTime<Utc>>, reason: &str) {
        if let Some(session) = self.sessions.remove(&key) {
            self.closed_at.insert(key, Utc::now());
            self.close(session.event, event_end(end), reason).await;
        }
    }

    async fn close(
        &mut self,
        mut event: AlertEvent,
        end: impl FnOnce(&AlertEvent) -> DateTime<Utc>,
        reason: &str,
    ) {
        let ended = end(&event).max(event.started_at);
        event.is_open = false;
        event.ended_at = Some(ended);
        event.close_reason = Some(reason.into());
        let mut body = event
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        payload::merge(
            &mut body,
            json!({
                "is_open": false, "ended_at": ended, "last_seen_at": event.last_seen_at,
                "started_at": event.started_at,
                "duration_seconds": seconds_between(event.started_at, ended),
                "close_reason": reason,
            }),
        );
        event.payload = Some(body.to_string());
        match self.store.update_alert_event(&event).await {
            Ok(Some(stored)) => {
                tracing::info!(alert_event_id = stored.id, reason, "alert closed");
                self.events
                    .publish(EventType::AlertClosed, None, payload::alert_event(&stored));
            }
            // Deleted with its rule or device.
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "could not close an alert"),
        }
    }

    async fn place(&self, device: i64) -> DevicePlace {
        match self.store.device_place(device).await {
            Ok(Some(place)) => place,
            Ok(None) => DevicePlace {
                device_id: device,
                ..DevicePlace::default()
            },
            Err(err) => {
                tracing::warn!(error = %err, "alert engine: could not read a device");
                DevicePlace {
                    device_id: device,
                    ..DevicePlace::default()
                }
            }
        }
    }
}

fn rule_of(key: Key) -> i64 {
    match key {
        Key::Tag { rule, .. } | Key::Device { rule, .. } => rule,
    }
}

/// The end of a session: `end` when given, else its last evidence.
fn event_end(end: Option<DateTime<Utc>>) -> impl FnOnce(&AlertEvent) -> DateTime<Utc> {
    move |e: &AlertEvent| end.unwrap_or(e.last_seen_at)
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0)
}

fn payload_time(event: &AlertEvent, key: &str) -> Option<DateTime<Utc>> {
    let body: Value = serde_json::from_str(event.payload.as_deref()?).ok()?;
    serde_json::from_value(body.get(key)?.clone()).ok()
}

/// The person's name, else the tag's MAC, else `Tag <id>`.
fn who_label(who: &TagSubject) -> String {
    match (&who.person_full_name, who.mac_address.is_empty()) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, false) => display_stored(&who.mac_address),
        _ => format!("Tag {}", who.tag_id),
    }
}

/// The device's name, else its MAC, else `Device <id>`.
fn device_label(place: &DevicePlace) -> String {
    if !place.device_name.is_empty() {
        place.device_name.clone()
    } else if let Some(mac) = place.mac_address.as_deref() {
        display_stored(mac)
    } else {
        format!("Device {}", place.device_id)
    }
}

fn device_noun(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::CameraOffline | RuleKind::CameraOnline => "Câmera",
        _ => "Gateway",
    }
}

fn location(place: &DevicePlace) -> Value {
    json!({
        "floor_plan_id": place.floor_plan_id, "floor_plan_name": place.floor_plan_name,
        "floor_id": place.floor_id, "floor_name": place.floor_name,
        "building_id": place.building_id, "building_name": place.building_name,
    })
}

/// An event with the location columns of `place`.
fn located(place: &DevicePlace) -> AlertEvent {
    AlertEvent {
        floor_plan_id: place.floor_plan_id,
        floor_id: place.floor_id,
        building_id: place.building_id,
        ..AlertEvent::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fall_back_as_the_original() {
        let mut who = TagSubject {
            tag_id: 7,
            mac_address: "AABBCCDDEEFF".into(),
            person_full_name: Some("Ana".into()),
            ..TagSubject::default()
        };
        assert_eq!(who_label(&who), "Ana");
        who.person_full_name = None;
        assert_eq!(who_label(&who), "AA:BB:CC:DD:EE:FF");
        who.mac_address.clear();
        assert_eq!(who_label(&who), "Tag 7");
        let place = DevicePlace {
            device_id: 3,
            ..DevicePlace::default()
        };
        assert_eq!(device_label(&place), "Device 3");
    }
}
