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
//! - A tag's x/y on a plan against the watched zones there (`holds`: a margin as wide as
//!   the position's accuracy at the border): entering opens ZONE_ENTER sessions and starts
//!   ZONE_DWELL countdowns, leaving closes them (`left_zone`) and records ZONE_EXIT events.
//! - ABSENCE: each tick, over the last sightings kept in memory, a watched person unseen
//!   for the limit opens one event, closed when they are heard again (`seen_again`).
//! - Dwell countdowns are stored when they start, so that a restart resumes them.
//! - A rule created, changed or deleted is reloaded at once; a deleted or disabled rule
//!   closes its sessions. A rule whose gateway, zone, person or group was deleted is
//!   disabled with a reason.
//!
//! It reads an ordered feed of the bus ([`EventBus::subscribe_ordered`]): no status change
//! is ever dropped, and a tag's waiting positions are coalesced into its newest.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::rules::{RuleKind, Schedule};
use crate::events::{Event, EventBus, EventType, OrderedReceiver, payload};
use crate::geometry::{Point, Polygon, Scale};
use crate::mac::display_stored;
use crate::store::Store;
use crate::store::alerts::{AlertEvent, AlertRule, DevicePlace, TagSubject};
use crate::store::zones::ZoneShape;

/// How often timers and staleness are checked.
const TICK: Duration = Duration::from_secs(1);
/// How often the moved last evidence of open sessions is written.
const FLUSH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// The border margin of a zone on a plan of known size: the position's accuracy, at most
/// this (a wider margin would keep tags out of small zones), in metres.
const MAX_MARGIN_M: f64 = 1.0;
/// The margin when the position has no accuracy, in metres.
const DEFAULT_MARGIN_M: f64 = 0.5;
/// The margin on a plan of unknown size, as a fraction of the plan.
const MARGIN_FRACTION: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    /// A tag rule's session on one tag.
    Tag { rule: i64, tag: i64 },
    /// A device status rule's session on one device.
    Device { rule: i64, device: i64 },
    /// An absence rule's session on one person.
    Person { rule: i64, person: i64 },
}

struct Rule {
    row: AlertRule,
    kind: RuleKind,
    schedule: Option<Schedule>,
}

/// Where a tag is: its current gateway, its position on a plan if known, and when it was
/// last heard.
#[derive(Debug, Clone, Copy)]
struct TagAt {
    device: i64,
    seen: DateTime<Utc>,
    place: Option<Place>,
}

/// A position on a plan: fractions of the plan, with its accuracy in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    plan: i64,
    x: f64,
    y: f64,
    accuracy: Option<f64>,
}

/// A zone as the engine tests positions against it.
struct ZoneArea {
    plan: i64,
    name: String,
    polygon: Polygon,
    /// The plan's size in metres, when known.
    scale: Option<Scale>,
    /// The polygon's bounding box (x from, x to, y from, y to): a tag outside it does not
    /// enter, without testing every edge.
    bounds: (f64, f64, f64, f64),
}

impl ZoneArea {
    /// A stored zone; `None` when its points do not make a zone (never saved so).
    fn new(row: ZoneShape) -> Option<(i64, ZoneArea)> {
        #[derive(serde::Deserialize)]
        struct Xy {
            x: f64,
            y: f64,
        }
        let points: Vec<Xy> = serde_json::from_str(&row.points).ok()?;
        let polygon =
            Polygon::new(points.iter().map(|p| Point { x: p.x, y: p.y }).collect()).ok()?;
        let scale = match (row.width_m, row.height_m) {
            (Some(width), Some(height)) if width > 0.0 && height > 0.0 => {
                Some(Scale { width, height })
            }
            _ => None,
        };
        let bounds = points.iter().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(x0, x1, y0, y1), p| (x0.min(p.x), x1.max(p.x), y0.min(p.y), y1.max(p.y)),
        );
        Some((
            row.id,
            ZoneArea {
                plan: row.floor_plan_id,
                name: row.name,
                polygon,
                scale,
                bounds,
            },
        ))
    }

    /// Whether a tag at `place` counts as inside, given whether it was (hysteresis at the
    /// border, as wide as the position's accuracy).
    fn holds(&self, place: Place, was_inside: bool) -> bool {
        let (x0, x1, y0, y1) = self.bounds;
        let in_bounds = (x0..=x1).contains(&place.x) && (y0..=y1).contains(&place.y);
        if !was_inside && !in_bounds {
            return false;
        }
        let p = Point {
            x: place.x,
            y: place.y,
        };
        match self.scale {
            Some(scale) => {
                let margin = place.accuracy.unwrap_or(DEFAULT_MARGIN_M).min(MAX_MARGIN_M);
                self.polygon.holds(p, was_inside, margin, scale)
            }
            None => self
                .polygon
                .holds(p, was_inside, MARGIN_FRACTION, Scale::FRACTIONS),
        }
    }
}

/// An open session: the stored event as it is in memory (its `last_seen_at` moves).
struct Session {
    event: AlertEvent,
    written_seen: DateTime<Utc>,
}

/// A tag at a dwell rule's gateway or in its zone, before the limit is crossed (stored, so
/// that a restart resumes the countdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arrival {
    at: DateTime<Utc>,
    /// The tag's last evidence as stored with the countdown.
    written_seen: DateTime<Utc>,
}

pub struct Engine {
    store: Store,
    /// The cluster leader's epoch its writes of evidence go under (`docs/cluster.md`): a
    /// node that lost the lead cannot write them after its successor started.
    epoch: Option<i64>,
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
    zones: HashMap<i64, ZoneArea>,
    /// Zone rules by their zone.
    by_zone: HashMap<i64, Vec<i64>>,
    /// The zones some rule watches, by plan.
    plan_zones: HashMap<i64, Vec<i64>>,
    /// The watched zones each tag is inside, with when it entered.
    inside: HashMap<i64, Vec<(i64, DateTime<Utc>)>>,
    /// Who carries each tag (read once, forgotten when tags or people change).
    subjects: HashMap<i64, Option<TagSubject>>,
    /// The members of each person group.
    members: HashMap<i64, Vec<i64>>,
    /// ABSENCE rules.
    absence_rules: Vec<i64>,
    /// When each person was last heard (kept while ABSENCE rules run).
    person_seen: HashMap<i64, DateTime<Utc>>,
    /// People with an open absence session.
    absent: HashSet<i64>,
    /// Since when each rule has been armed: an absence is counted from then at the earliest.
    armed_since: HashMap<i64, DateTime<Utc>>,
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
        epoch: Option<i64>,
    ) -> Engine {
        Engine {
            store,
            epoch,
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
            zones: HashMap::new(),
            by_zone: HashMap::new(),
            plan_zones: HashMap::new(),
            inside: HashMap::new(),
            subjects: HashMap::new(),
            members: HashMap::new(),
            absence_rules: Vec::new(),
            person_seen: HashMap::new(),
            absent: HashSet::new(),
            armed_since: HashMap::new(),
            last_flush: Utc::now(),
            last_tick: Utc::now(),
        }
    }

    /// The events the engine reads from its feed ([`EventBus::subscribe_ordered`]).
    pub fn wants(event: EventType) -> bool {
        use EventType as E;
        matches!(
            event,
            E::PositionChanged
                | E::GatewayOffline
                | E::GatewayOnline
                | E::CameraOffline
                | E::CameraOnline
                | E::AlertRuleCreated
                | E::AlertRuleUpdated
                | E::AlertRuleDeleted
                | E::TagCreated
                | E::TagUpdated
                | E::TagDeleted
                | E::DeviceDeleted
                | E::PersonCreated
                | E::PersonUpdated
                | E::PersonDeleted
                | E::PersonGroupCreated
                | E::PersonGroupUpdated
                | E::PersonGroupDeleted
                | E::ZoneCreated
                | E::ZoneUpdated
                | E::ZoneDeleted
                | E::FloorPlanUpdated
                | E::FloorPlanDeleted
                | E::FloorDeleted
                | E::BuildingDeleted
        )
    }

    /// Runs until `shutdown`: `feed` (an ordered subscription: no status change is lost,
    /// positions are coalesced per tag) must have been subscribed before the pipeline
    /// starts announcing positions.
    pub async fn run(mut self, mut feed: OrderedReceiver, shutdown: CancellationToken) {
        self.load().await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = feed.recv() => self.handle(&event).await,
                _ = tick.tick() => self.tick(Utc::now()).await,
                () = shutdown.cancelled() => break,
            }
        }
        self.flush().await;
    }

    async fn load(&mut self) {
        self.load_zones().await;
        self.load_members().await;
        self.load_rules().await;
        let open = match self.store.open_alert_events().await {
            Ok(open) => open,
            Err(err) => return tracing::warn!(error = %err, "could not read the open alerts"),
        };
        for event in open {
            // The appliance's own alerts (low disk) are their owners' to close.
            if event.rule_id.is_none() && event.event_type == crate::disk::DISK_LOW_ALERT {
                continue;
            }
            let kind = RuleKind::parse(&event.event_type);
            let tag_rule = kind.is_some_and(RuleKind::watches_tags);
            let zone_rule = kind.is_some_and(RuleKind::watches_zone);
            let key = match (
                event.rule_id,
                event.tag_id,
                event.device_id,
                event.person_id,
            ) {
                (Some(rule), Some(tag), Some(device), _) if tag_rule => {
                    // The tag was last known at the session's gateway: its next position
                    // continues the session or moves it on; silence makes it stale.
                    self.resume_tag(tag, device, event.last_seen_at);
                    Key::Tag { rule, tag }
                }
                (Some(rule), Some(tag), _, _) if zone_rule => {
                    // Likewise, last known inside the session's zone.
                    self.resume_tag(tag, event.device_id.unwrap_or(0), event.last_seen_at);
                    self.resume_inside(rule, tag, event.started_at);
                    Key::Tag { rule, tag }
                }
                (Some(rule), _, _, Some(person)) if kind == Some(RuleKind::Absence) => {
                    self.absent.insert(person);
                    Key::Person { rule, person }
                }
                (Some(rule), _, Some(device), _) if !tag_rule && !zone_rule => {
                    Key::Device { rule, device }
                }
                // Its rule, tag, person or device was deleted while the engine was not
                // listening.
                (rule, tag, _, _) => {
                    let reason = match (rule, tag) {
                        (None, _) => "rule_deleted",
                        (_, None) if tag_rule || zone_rule => "tag_deleted",
                        _ if kind == Some(RuleKind::Absence) => "person_deleted",
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
        self.load_countdowns().await;
        self.load_people_seen().await;
        tracing::info!(
            rules = self.rules.len(),
            sessions = self.sessions.len(),
            "alert engine started"
        );
    }

    /// A tag known from a stored session or countdown, until its next position.
    fn resume_tag(&mut self, tag: i64, device: i64, seen: DateTime<Utc>) {
        self.tags.entry(tag).or_insert(TagAt {
            device,
            seen,
            place: None,
        });
    }

    /// A tag known to be inside the zone of `rule` since `at`.
    fn resume_inside(&mut self, rule: i64, tag: i64, at: DateTime<Utc>) {
        if let Some(zone) = self.rules.get(&rule).and_then(|r| r.row.zone_id) {
            let inside = self.inside.entry(tag).or_default();
            if !inside.iter().any(|(z, _)| *z == zone) {
                inside.push((zone, at));
            }
        }
    }

    /// Resumes the dwell countdowns that were running when the appliance stopped; the tag's
    /// next position continues them, its silence ends them.
    async fn load_countdowns(&mut self) {
        let countdowns = match self.store.alert_countdowns().await {
            Ok(countdowns) => countdowns,
            Err(err) => return tracing::warn!(error = %err, "could not read the dwell countdowns"),
        };
        for (rule, tag, at, seen) in countdowns {
            let Some((kind, device, limit)) = self.rules.get(&rule).map(|r| {
                (
                    r.kind,
                    r.row.device_id,
                    r.row.max_dwell_seconds.unwrap_or(0),
                )
            }) else {
                if let Err(err) = self.store.end_alert_countdown(rule, tag).await {
                    tracing::warn!(error = %err, "could not end a dwell countdown");
                }
                continue;
            };
            if !kind.dwells() || self.sessions.contains_key(&Key::Tag { rule, tag }) {
                continue;
            }
            self.resume_tag(tag, device.unwrap_or(0), seen);
            if kind.watches_zone() {
                self.resume_inside(rule, tag, at);
            }
            self.arrivals.insert(
                (rule, tag),
                Arrival {
                    at,
                    written_seen: seen,
                },
            );
            self.deadlines
                .insert((at + chrono::TimeDelta::seconds(i64::from(limit)), rule, tag));
        }
    }

    /// The last time each person was heard, read once at start when ABSENCE rules run (from
    /// then on the positions keep it), as far back as the longest limit.
    async fn load_people_seen(&mut self) {
        let longest = self
            .absence_rules
            .iter()
            .filter_map(|r| self.rules.get(r)?.row.max_absence_seconds)
            .max();
        let Some(longest) = longest else {
            return;
        };
        let since = Utc::now() - chrono::TimeDelta::seconds(i64::from(longest));
        match self.store.people_last_seen(since).await {
            Ok(seen) => {
                for (person, at) in seen {
                    let last = self.person_seen.entry(person).or_insert(at);
                    *last = (*last).max(at);
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not read when people were last seen"),
        }
    }

    async fn load_zones(&mut self) {
        match self.store.zone_shapes().await {
            Ok(rows) => self.zones = rows.into_iter().filter_map(ZoneArea::new).collect(),
            Err(err) => tracing::warn!(error = %err, "could not read the zones"),
        }
    }

    async fn load_members(&mut self) {
        match self.store.all_group_members().await {
            Ok(rows) => {
                self.members.clear();
                for (group, person) in rows {
                    self.members.entry(group).or_default().push(person);
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not read the person groups"),
        }
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
        if kind.watches_zone() && row.zone_id.is_none_or(|z| !self.zones.contains_key(&z)) {
            self.disable(row.id, "its zone was deleted").await;
            return;
        }
        if kind == RuleKind::Absence && row.person_id.is_none() && row.group_id.is_none() {
            self.disable(row.id, "its person or group was deleted")
                .await;
            return;
        }
        self.armed_since.entry(row.id).or_insert(row.updated_at);
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
        self.by_zone.clear();
        self.plan_zones.clear();
        self.absence_rules.clear();
        for rule in self.rules.values() {
            if rule.kind == RuleKind::Absence {
                self.absence_rules.push(rule.row.id);
            }
            let Some(zone) = rule.row.zone_id.filter(|_| rule.kind.watches_zone()) else {
                continue;
            };
            let Some(area) = self.zones.get(&zone) else {
                continue;
            };
            let rules = self.by_zone.entry(zone).or_default();
            if rules.is_empty() {
                self.plan_zones.entry(area.plan).or_default().push(zone);
            }
            rules.push(rule.row.id);
        }
        for rules in self.by_zone.values_mut() {
            rules.sort_unstable();
        }
        for zones in self.plan_zones.values_mut() {
            zones.sort_unstable();
        }
        self.absence_rules.sort_unstable();
        if self.absence_rules.is_empty() {
            self.person_seen.clear();
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
                let number = |key: &str| event.payload.get(key).and_then(Value::as_f64);
                let place = match (id("floor_plan_id"), number("x"), number("y")) {
                    (Some(plan), Some(x), Some(y)) => Some(Place {
                        plan,
                        x,
                        y,
                        accuracy: number("accuracy_m"),
                    }),
                    _ => None,
                };
                if let (Some(tag), Some(device)) = (id("tag_id"), id("device_id")) {
                    self.position(tag, device, place, seen).await;
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
                self.subjects.clear();
                if let Some(at) =
                    id("tag_id").and_then(|tag| self.tags.remove(&tag).map(|at| (tag, at)))
                {
                    self.leave(at.0, at.1.device, "tag_deleted").await;
                    self.forget_zones(at.0, "tag_deleted").await;
                }
            }
            EventType::TagCreated | EventType::TagUpdated => self.subjects.clear(),
            EventType::PersonCreated
            | EventType::PersonUpdated
            | EventType::PersonGroupCreated
            | EventType::PersonGroupUpdated => {
                self.subjects.clear();
                self.load_members().await;
            }
            EventType::PersonDeleted => {
                self.subjects.clear();
                self.load_members().await;
                if let Some(person) = id("person_id") {
                    self.person_deleted(person).await;
                }
            }
            EventType::PersonGroupDeleted => {
                self.subjects.clear();
                self.load_members().await;
                if let Some(group) = id("group_id") {
                    let rules = self.rules_where(|r| r.row.group_id == Some(group));
                    self.lose_rules(rules, &format!("its person group {group} was deleted"))
                        .await;
                }
            }
            // A plan's size sets the zones' margins.
            EventType::ZoneCreated | EventType::ZoneUpdated | EventType::FloorPlanUpdated => {
                self.load_zones().await;
                self.index();
            }
            EventType::ZoneDeleted => {
                if let Some(zone) = id("zone_id") {
                    self.zones.remove(&zone);
                    self.zones_gone().await;
                }
            }
            EventType::FloorPlanDeleted | EventType::FloorDeleted | EventType::BuildingDeleted => {
                self.load_zones().await;
                self.zones_gone().await;
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

    async fn position(&mut self, tag: i64, device: i64, place: Option<Place>, seen: DateTime<Utc>) {
        let previous = self.tags.insert(
            tag,
            TagAt {
                device,
                seen,
                place,
            },
        );
        if !self.plan_zones.is_empty() || self.inside.contains_key(&tag) {
            self.zones_at(tag, place, seen).await;
        }
        if !self.absence_rules.is_empty() {
            self.seen_person(tag, seen).await;
        }
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
            self.drop_arrival(rule, tag).await;
            self.close_key(Key::Tag { rule, tag }, None, reason).await;
        }
    }

    /// Starts a dwell countdown, stored so that a restart resumes it.
    async fn start_countdown(&mut self, rule_id: i64, tag: i64, at: DateTime<Utc>) {
        let Some(limit) = self
            .rules
            .get(&rule_id)
            .map(|r| i64::from(r.row.max_dwell_seconds.unwrap_or(0)))
        else {
            return;
        };
        self.arrivals.insert(
            (rule_id, tag),
            Arrival {
                at,
                written_seen: at,
            },
        );
        self.deadlines
            .insert((at + chrono::TimeDelta::seconds(limit), rule_id, tag));
        if let Err(err) = self.store.start_alert_countdown(rule_id, tag, at).await {
            tracing::warn!(error = %err, "could not store a dwell countdown");
        }
    }

    /// Ends a dwell countdown, if one runs.
    async fn drop_arrival(&mut self, rule_id: i64, tag: i64) {
        if self.arrivals.remove(&(rule_id, tag)).is_some()
            && let Err(err) = self.store.end_alert_countdown(rule_id, tag).await
        {
            tracing::warn!(error = %err, "could not end a dwell countdown");
        }
    }

    // Zones.

    /// The tag's position against the watched zones of its plan: zones entered and left
    /// (with hysteresis at the border); without a position on a plan, nothing changes.
    async fn zones_at(&mut self, tag: i64, place: Option<Place>, seen: DateTime<Utc>) {
        let Some(place) = place else {
            self.zone_evidence(tag, seen);
            return;
        };
        let was = self.inside.remove(&tag).unwrap_or_default();
        let mut now_inside = Vec::new();
        let mut entered = Vec::new();
        for &zone in self.plan_zones.get(&place.plan).into_iter().flatten() {
            let Some(area) = self.zones.get(&zone) else {
                continue;
            };
            let since = was.iter().find(|(z, _)| *z == zone).map(|(_, at)| *at);
            if area.holds(place, since.is_some()) {
                now_inside.push((zone, since.unwrap_or(seen)));
                if since.is_none() {
                    entered.push(zone);
                }
            }
        }
        let left: Vec<(i64, DateTime<Utc>)> = was
            .into_iter()
            .filter(|(zone, _)| !now_inside.iter().any(|(z, _)| z == zone))
            .collect();
        if !now_inside.is_empty() {
            self.inside.insert(tag, now_inside);
        }
        self.zone_evidence(tag, seen);
        for (zone, entered_at) in left {
            self.exit_zone(tag, zone, Some((entered_at, seen)), "left_zone")
                .await;
        }
        for zone in entered {
            for rule in self.by_zone.get(&zone).cloned().unwrap_or_default() {
                self.start_zone_rule(rule, tag, seen).await;
            }
        }
    }

    /// The tag is heard inside its zones: their sessions' last evidence moves, in memory.
    fn zone_evidence(&mut self, tag: i64, seen: DateTime<Utc>) {
        for (zone, _) in self.inside.get(&tag).into_iter().flatten() {
            for &rule in self.by_zone.get(zone).into_iter().flatten() {
                if let Some(s) = self.sessions.get_mut(&Key::Tag { rule, tag }) {
                    s.event.last_seen_at = s.event.last_seen_at.max(seen);
                }
            }
        }
    }

    /// The tag is out of `zone`: its sessions and countdowns there end; `exit` (when it
    /// entered, when it was first heard outside) when it was seen leaving, which ZONE_EXIT
    /// rules record (silence or a deletion is not an exit).
    async fn exit_zone(
        &mut self,
        tag: i64,
        zone: i64,
        exit: Option<(DateTime<Utc>, DateTime<Utc>)>,
        reason: &str,
    ) {
        for rule_id in self.by_zone.get(&zone).cloned().unwrap_or_default() {
            self.drop_arrival(rule_id, tag).await;
            self.close_key(Key::Tag { rule: rule_id, tag }, None, reason)
                .await;
            let Some((entered, left)) = exit else {
                continue;
            };
            if self
                .rules
                .get(&rule_id)
                .is_some_and(|r| r.kind == RuleKind::ZoneExit)
            {
                self.record_exit(rule_id, tag, entered, left).await;
            }
        }
    }

    /// Ends the tag's zone sessions without an exit (its silence, its deletion).
    async fn forget_zones(&mut self, tag: i64, reason: &str) {
        for (zone, _) in self.inside.remove(&tag).unwrap_or_default() {
            self.exit_zone(tag, zone, None, reason).await;
        }
    }

    /// Starts one zone rule for a tag inside its zone, unless it runs already.
    async fn start_zone_rule(&mut self, rule_id: i64, tag: i64, seen: DateTime<Utc>) {
        let key = Key::Tag { rule: rule_id, tag };
        if self.sessions.contains_key(&key) || self.arrivals.contains_key(&(rule_id, tag)) {
            return;
        }
        let Some(who) = self.subject(tag).await else {
            return;
        };
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        if !applies(rule, &who) || !self.armed(rule, seen) || self.cooling(rule, key, seen) {
            return;
        }
        let kind = rule.kind;
        match kind {
            RuleKind::ZoneEnter => {
                let message =
                    |zone: &str| format!("{} entrou na zona {zone}.", subject_label(&who));
                if let Some((event, body)) = self
                    .zone_alert(rule_id, &who, message, (seen, seen, None), json!({}))
                    .await
                {
                    self.open(key, event, body).await;
                }
            }
            RuleKind::ZoneDwell => self.start_countdown(rule_id, tag, seen).await,
            _ => {}
        }
    }

    /// A ZONE_EXIT rule records the tag leaving: one closed event at the first evidence
    /// outside.
    async fn record_exit(
        &mut self,
        rule_id: i64,
        tag: i64,
        entered: DateTime<Utc>,
        left: DateTime<Utc>,
    ) {
        let key = Key::Tag { rule: rule_id, tag };
        let Some(who) = self.subject(tag).await else {
            return;
        };
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        if !applies(rule, &who) || !self.armed(rule, left) || self.cooling(rule, key, left) {
            return;
        }
        let message = |zone: &str| format!("{} saiu da zona {zone}.", subject_label(&who));
        let more = json!({
            "entered_at": entered, "inside_seconds": seconds_between(entered, left),
            "close_reason": "left_zone",
        });
        let Some((mut event, body)) = self
            .zone_alert(rule_id, &who, message, (left, left, Some(left)), more)
            .await
        else {
            return;
        };
        event.close_reason = Some("left_zone".into());
        event.payload = Some(body.to_string());
        match self.store.insert_alert_event(&event).await {
            Ok(stored) => {
                self.closed_at.insert(key, left);
                self.events
                    .publish(EventType::AlertClosed, None, payload::alert_event(&stored));
            }
            Err(err) => tracing::warn!(error = %err, "could not record an alert"),
        }
    }

    /// The event of a zone rule about `who`, on the zone's plan, with `message` made from
    /// the zone's name; `times` = (started, last evidence, ended if closed); `more` is
    /// merged into its payload.
    async fn zone_alert(
        &self,
        rule_id: i64,
        who: &TagSubject,
        message: impl FnOnce(&str) -> String,
        (started, seen, ended): (DateTime<Utc>, DateTime<Utc>, Option<DateTime<Utc>>),
        more: Value,
    ) -> Option<(AlertEvent, Value)> {
        let rule = self.rules.get(&rule_id)?;
        let zone_id = rule.row.zone_id?;
        let area = self.zones.get(&zone_id)?;
        let place = self.plan_place(area.plan).await;
        let message = message(&area.name);
        let mut body = json!({
            "rule_id": rule_id, "rule_name": rule.row.name, "event_type": rule.kind.as_str(),
            "zone_id": zone_id, "zone_name": area.name, "tag_id": who.tag_id,
            "person_id": who.person_id, "person_full_name": who.person_full_name,
            "group_id": rule.row.group_id,
            "started_at": started, "last_seen_at": seen, "ended_at": ended,
            "is_open": ended.is_none(), "message": message,
        });
        payload::merge(&mut body, location(&place));
        payload::merge(&mut body, more);
        let event = AlertEvent {
            rule_id: Some(rule_id),
            event_type: rule.kind.as_str().into(),
            person_id: who.person_id,
            tag_id: Some(who.tag_id),
            group_id: rule.row.group_id,
            started_at: started,
            last_seen_at: seen,
            ended_at: ended,
            is_open: ended.is_none(),
            message: Some(message),
            ..located(&place)
        };
        Some((event, body))
    }

    /// A ZONE_DWELL limit passed: the alert opens, dated from the entry.
    async fn cross_zone_dwell(
        &mut self,
        rule_id: i64,
        tag: i64,
        arrival: Arrival,
        now: DateTime<Utc>,
    ) {
        let Some(who) = self.subject(tag).await else {
            return;
        };
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        let max = rule.row.max_dwell_seconds.unwrap_or(0);
        let seen = self
            .tags
            .get(&tag)
            .map_or(now, |at| at.seen)
            .max(arrival.at);
        let dwell = seconds_between(arrival.at, now);
        let message = |zone: &str| {
            format!(
                "{} está há {}s na zona {zone} (limite {max}s).",
                subject_label(&who),
                dwell.floor()
            )
        };
        let more = json!({"max_dwell_seconds": max, "dwell_seconds": dwell});
        if let Some((event, body)) = self
            .zone_alert(rule_id, &who, message, (arrival.at, seen, None), more)
            .await
        {
            self.open(Key::Tag { rule: rule_id, tag }, event, body)
                .await;
        }
    }

    /// Rules whose zone no longer exists (deleted, or with its plan) are disabled, saying
    /// why, once their sessions are over.
    async fn zones_gone(&mut self) {
        let rules = self.rules_where(|r| {
            r.kind.watches_zone() && r.row.zone_id.is_none_or(|z| !self.zones.contains_key(&z))
        });
        let mut by_zone: Vec<(i64, i64)> = rules
            .iter()
            .map(|rule| (self.rules[rule].row.zone_id.unwrap_or(0), *rule))
            .collect();
        by_zone.sort_unstable();
        for (zone, rule) in by_zone {
            self.lose_rules(vec![rule], &format!("its zone {zone} was deleted"))
                .await;
        }
        for inside in self.inside.values_mut() {
            inside.retain(|(zone, _)| self.zones.contains_key(zone));
        }
        self.inside.retain(|_, inside| !inside.is_empty());
        self.index();
    }

    // People.

    /// Who carries a tag, read once.
    async fn subject(&mut self, tag: i64) -> Option<TagSubject> {
        if let Some(known) = self.subjects.get(&tag) {
            return known.clone();
        }
        match self.store.tag_subject(tag).await {
            Ok(found) => {
                self.subjects.insert(tag, found.clone());
                found
            }
            Err(err) => {
                tracing::warn!(error = %err, "alert engine: could not read a tag");
                None
            }
        }
    }

    /// The tag's person was heard: their absence clock starts again, an open absence ends.
    async fn seen_person(&mut self, tag: i64, seen: DateTime<Utc>) {
        let person = match self.subjects.get(&tag) {
            Some(known) => known.as_ref().and_then(|s| s.person_id),
            None => self.subject(tag).await.and_then(|s| s.person_id),
        };
        let Some(person) = person else {
            return;
        };
        let last = self.person_seen.entry(person).or_insert(seen);
        *last = (*last).max(seen);
        if self.absent.remove(&person) {
            for rule in self.absence_rules.clone() {
                self.close_key(Key::Person { rule, person }, Some(seen), "seen_again")
                    .await;
            }
        }
    }

    /// The people an ABSENCE rule watches: its person (if in its group, when it has one),
    /// or its group's members.
    fn watched(&self, rule: &Rule) -> Vec<i64> {
        let members = rule
            .row
            .group_id
            .map(|g| self.members.get(&g).cloned().unwrap_or_default());
        match (rule.row.person_id, members) {
            (Some(person), Some(members)) => members.into_iter().filter(|m| *m == person).collect(),
            (Some(person), None) => vec![person],
            (None, Some(members)) => members,
            (None, None) => Vec::new(),
        }
    }

    /// Opens the absences whose limit has passed (checked each tick over the last-seen
    /// times in memory).
    async fn check_absences(&mut self, now: DateTime<Utc>) {
        let mut due = Vec::new();
        for &rule_id in &self.absence_rules {
            let Some(rule) = self.rules.get(&rule_id) else {
                continue;
            };
            if !self.armed(rule, now) {
                continue;
            }
            let limit =
                chrono::TimeDelta::seconds(i64::from(rule.row.max_absence_seconds.unwrap_or(0)));
            let armed_since = self.armed_since.get(&rule_id).copied().unwrap_or(now);
            for person in self.watched(rule) {
                let key = Key::Person {
                    rule: rule_id,
                    person,
                };
                if self.sessions.contains_key(&key) || self.cooling(rule, key, now) {
                    continue;
                }
                let since = self
                    .person_seen
                    .get(&person)
                    .map_or(armed_since, |seen| (*seen).max(armed_since));
                if now - since >= limit {
                    due.push((rule_id, person, since));
                }
            }
        }
        for (rule, person, since) in due {
            self.open_absence(rule, person, since, now).await;
        }
    }

    async fn open_absence(
        &mut self,
        rule_id: i64,
        person: i64,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let name = match self.store.person_name(person).await {
            Ok(Some(name)) => name,
            Ok(None) => return,
            Err(err) => {
                return tracing::warn!(error = %err, "alert engine: could not read a person");
            }
        };
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        let max = rule.row.max_absence_seconds.unwrap_or(0);
        let absent = seconds_between(since, now);
        let message = format!(
            "Pessoa {name} não é vista há {}s (limite {max}s).",
            absent.floor()
        );
        let body = json!({
            "rule_id": rule_id, "rule_name": rule.row.name, "event_type": rule.kind.as_str(),
            "person_id": person, "person_full_name": name, "group_id": rule.row.group_id,
            "max_absence_seconds": max, "absence_seconds": absent,
            "started_at": since, "last_seen_at": since, "ended_at": null, "is_open": true,
            "message": message,
        });
        let event = AlertEvent {
            rule_id: Some(rule_id),
            event_type: rule.kind.as_str().into(),
            person_id: Some(person),
            group_id: rule.row.group_id,
            started_at: since,
            last_seen_at: since,
            is_open: true,
            message: Some(message),
            ..AlertEvent::default()
        };
        self.open(
            Key::Person {
                rule: rule_id,
                person,
            },
            event,
            body,
        )
        .await;
        self.absent.insert(person);
    }

    async fn person_deleted(&mut self, person: i64) {
        let rules = self.rules_where(|r| r.row.person_id == Some(person));
        self.lose_rules(rules, &format!("its person {person} was deleted"))
            .await;
        let keys: Vec<Key> = self
            .sessions
            .keys()
            .filter(|k| matches!(k, Key::Person { person: p, .. } if *p == person))
            .copied()
            .collect();
        for key in keys {
            self.close_key(key, None, "person_deleted").await;
        }
        self.absent.remove(&person);
        self.person_seen.remove(&person);
    }

    /// The running rules `keep` selects, by id.
    fn rules_where(&self, keep: impl Fn(&Rule) -> bool) -> Vec<i64> {
        let mut rules: Vec<i64> = self
            .rules
            .values()
            .filter(|r| keep(r))
            .map(|r| r.row.id)
            .collect();
        rules.sort_unstable();
        rules
    }

    /// Rules that lost what they watch: their sessions and countdowns end, then they are
    /// disabled with `reason`.
    async fn lose_rules(&mut self, rules: Vec<i64>, reason: &str) {
        for rule in rules {
            self.rules.remove(&rule);
            self.close_rule_sessions(rule, "rule_disabled").await;
            let tags: Vec<i64> = self
                .arrivals
                .keys()
                .filter(|(r, _)| *r == rule)
                .map(|(_, tag)| *tag)
                .collect();
            for tag in tags {
                self.drop_arrival(rule, tag).await;
            }
            self.disable(rule, reason).await;
        }
        self.index();
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
            *subject = Some(self.subject(tag).await);
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
        let kind = rule.kind;
        match kind {
            RuleKind::ForbiddenSector => {
                let who = who.clone();
                self.open_forbidden(rule_id, &who, seen).await;
            }
            RuleKind::DwellTime => self.start_countdown(rule_id, tag, seen).await,
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
        // Purged with the device, or kept without it: disabled, saying why, once its
        // sessions are over.
        let watching = self.rules_where(|r| r.row.device_id == Some(device));
        self.lose_rules(watching, &format!("its device {device} was deleted"))
            .await;
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
                    && old.row.zone_id == new.zone_id
                    && old.row.person_id == new.person_id
                    && old.row.max_absence_seconds == new.max_absence_seconds
            }
            _ => false,
        };
        if !keeps_sessions {
            let reason = match &row {
                Some(r) if !r.is_active => "rule_disabled",
                _ => reason,
            };
            self.close_rule_sessions(rule_id, reason).await;
            let tags: Vec<i64> = self
                .arrivals
                .keys()
                .filter(|(rule, _)| *rule == rule_id)
                .map(|(_, tag)| *tag)
                .collect();
            for tag in tags {
                self.drop_arrival(rule_id, tag).await;
            }
            self.armed_since.remove(&rule_id);
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
        if self
            .rules
            .get(&rule_id)
            .is_some_and(|r| r.kind.watches_zone())
        {
            return self.judge_present_in_zone(rule_id, now).await;
        }
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

    /// Judges the tags inside a zone rule's zone now (by what is known of them, or by their
    /// last position).
    async fn judge_present_in_zone(&mut self, rule_id: i64, now: DateTime<Utc>) {
        let Some(zone) = self.rules.get(&rule_id).and_then(|r| r.row.zone_id) else {
            return;
        };
        let Some(area) = self.zones.get(&zone) else {
            return;
        };
        let present: Vec<(i64, DateTime<Utc>)> = self
            .tags
            .iter()
            .filter(|(_, at)| self.fresh(at.seen, now))
            .filter(|(tag, at)| {
                self.inside
                    .get(tag)
                    .is_some_and(|z| z.iter().any(|(id, _)| *id == zone))
                    || at
                        .place
                        .is_some_and(|p| p.plan == area.plan && area.holds(p, false))
            })
            .map(|(tag, at)| (*tag, at.seen))
            .collect();
        for (tag, seen) in present {
            let inside = self.inside.entry(tag).or_default();
            if !inside.iter().any(|(z, _)| *z == zone) {
                inside.push((zone, seen));
            }
            self.start_zone_rule(rule_id, tag, seen).await;
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
            let Some(kind) = self.rules.get(&rule).map(|r| r.kind) else {
                continue;
            };
            if self.still_there(rule, tag, now) {
                self.drop_arrival(rule, tag).await;
                if kind == RuleKind::ZoneDwell {
                    self.cross_zone_dwell(rule, tag, arrival, now).await;
                } else {
                    self.cross_dwell(rule, tag, arrival, now).await;
                }
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
            self.forget_zones(tag, &reason).await;
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
            self.armed_since.insert(rule, now);
            self.judge_present(rule, now).await;
        }
        self.check_absences(now).await;
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

    /// Whether the tag is still where the dwell rule watches (its gateway, or inside its
    /// zone), and heard recently.
    fn still_there(&self, rule: i64, tag: i64, now: DateTime<Utc>) -> bool {
        let (Some(rule), Some(at)) = (self.rules.get(&rule), self.tags.get(&tag)) else {
            return false;
        };
        self.fresh(at.seen, now)
            && match rule.row.zone_id.filter(|_| rule.kind.watches_zone()) {
                Some(zone) => self
                    .inside
                    .get(&tag)
                    .is_some_and(|z| z.iter().any(|(id, _)| *id == zone)),
                None => rule.row.device_id == Some(at.device),
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
        let countdowns: Vec<(i64, i64, DateTime<Utc>)> = self
            .arrivals
            .iter()
            .filter_map(|(&(rule, tag), a)| {
                let seen = self.tags.get(&tag)?.seen;
                (seen > a.written_seen).then_some((rule, tag, seen))
            })
            .collect();
        if !countdowns.is_empty() {
            match self
                .store
                .touch_alert_countdowns(&countdowns, self.epoch)
                .await
            {
                Ok(()) => {
                    for (rule, tag, seen) in countdowns {
                        if let Some(a) = self.arrivals.get_mut(&(rule, tag)) {
                            a.written_seen = seen;
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "could not write the dwell countdowns"),
            }
        }
        let moved: Vec<(i64, DateTime<Utc>)> = self
            .sessions
            .values()
            .filter(|s| s.event.last_seen_at > s.written_seen)
            .map(|s| (s.event.id, s.event.last_seen_at))
            .collect();
        if moved.is_empty() {
            return;
        }
        match self.store.touch_alert_events(&moved, self.epoch).await {
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

    async fn plan_place(&self, plan: i64) -> DevicePlace {
        match self.store.plan_place(plan).await {
            Ok(Some(place)) => place,
            Ok(None) => DevicePlace {
                floor_plan_id: Some(plan),
                ..DevicePlace::default()
            },
            Err(err) => {
                tracing::warn!(error = %err, "alert engine: could not read a floor plan");
                DevicePlace {
                    floor_plan_id: Some(plan),
                    ..DevicePlace::default()
                }
            }
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
        Key::Tag { rule, .. } | Key::Device { rule, .. } | Key::Person { rule, .. } => rule,
    }
}

/// Whether a rule about people applies to who carries a tag: its person, its group's
/// members, or (neither given) everyone.
fn applies(rule: &Rule, who: &TagSubject) -> bool {
    rule.row.person_id.is_none_or(|p| who.person_id == Some(p))
        && rule.row.group_id.is_none_or(|g| who.group_ids.contains(&g))
}

/// `Pessoa <name>`, else `Tag <MAC>`, as the zone messages name who moved.
fn subject_label(who: &TagSubject) -> String {
    match &who.person_full_name {
        Some(name) if !name.is_empty() => format!("Pessoa {name}"),
        _ => format!("Tag {}", who_label(who)),
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
    fn a_tag_on_a_zones_border_does_not_flap() {
        let shape = |width_m, height_m| ZoneShape {
            id: 1,
            floor_plan_id: 2,
            name: "Lab".into(),
            points: r#"[{"x":0.2,"y":0.2},{"x":0.6,"y":0.2},{"x":0.6,"y":0.6},{"x":0.2,"y":0.6}]"#
                .into(),
            width_m,
            height_m,
        };
        // A 10 m plan: the left border is at 2 m; positions good to 0.5 m.
        let (_, zone) = ZoneArea::new(shape(Some(10.0), Some(10.0))).unwrap();
        let at = |x: f64| Place {
            plan: 2,
            x,
            y: 0.4,
            accuracy: Some(0.5),
        };
        let mut inside = false;
        let mut changes = Vec::new();
        for x in [
            0.1, 0.18, 0.21, 0.19, 0.22, 0.19, 0.3, 0.21, 0.19, 0.18, 0.1,
        ] {
            let now = zone.holds(at(x), inside);
            if now != inside {
                changes.push((x, now));
            }
            inside = now;
        }
        assert_eq!(changes, [(0.3, true), (0.1, false)], "one entry, one exit");
        // Without the plan's size, the margin is a fraction of the plan.
        let (_, zone) = ZoneArea::new(shape(None, None)).unwrap();
        assert!(!zone.holds(at(0.205), false) && zone.holds(at(0.195), true));
        assert!(zone.holds(at(0.25), false) && !zone.holds(at(0.15), true));
        assert!(
            ZoneArea::new(ZoneShape {
                points: "[]".into(),
                ..shape(None, None)
            })
            .is_none()
        );
    }

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
