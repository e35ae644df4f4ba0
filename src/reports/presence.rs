//! The presence reports' numbers, computed from the sessions of a window: each function
//! takes what [`super::store`] read and returns the report's body.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Window;
use super::buckets::{self, Bucket, Granularity, local, micros};
use super::store::{Place, Session};

const MICROS: i64 = 1_000_000;

/// A session as a report sees it: the part inside the window.
#[derive(Debug, Clone)]
pub struct Visit {
    pub session: Session,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Microseconds inside the window.
    pub dwell: i64,
    /// Set when this is not one session but an hour of rolled-up sessions of one tag at
    /// one gateway ([`super::rollups`]): `session` then carries its tag, gateway, place,
    /// earliest start and latest end, and `dwell` the dwell of the hour.
    /// Negative (each count and the dwell) for a session read whole at the window's edge,
    /// taken off the rollups that also hold it.
    pub rolled: Option<Rolled>,
}

/// How many sessions an hour of rollups stands for.
#[derive(Debug, Clone, Copy)]
pub struct Rolled {
    /// The UTC hour.
    pub hour: DateTime<Utc>,
    /// Sessions that start in the hour (their first hour).
    pub starts: i64,
    /// Sessions that touch the hour but started before it.
    pub continues: i64,
    /// Sessions this row adds to a count over the whole window: those that start in it,
    /// and, in the window's first whole hour, also those continuing into it.
    pub window_weight: i64,
}

impl Visit {
    fn person(&self) -> Option<i64> {
        self.session.person_id
    }
}

/// The sessions that overlap the window, each clipped to it; a session still open lasts
/// until now. `min_duration` keeps sessions at least that long in all (not only inside the
/// window).
pub fn visits(window: &Window, sessions: Vec<Session>, min_duration: Option<i64>) -> Vec<Visit> {
    sessions
        .into_iter()
        .filter_map(|session| {
            let end = if session.is_open {
                session.ended_at.max(window.now)
            } else {
                session.ended_at
            };
            let full = if session.is_open {
                (end - session.started_at).num_seconds()
            } else {
                session.duration_seconds
            };
            if session.started_at > window.to
                || end < window.from
                || min_duration.is_some_and(|min| full < min)
            {
                return None;
            }
            let (start, end) = (session.started_at.max(window.from), end.min(window.to));
            Some(Visit {
                dwell: micros(end - start),
                session,
                start,
                end,
                rolled: None,
            })
        })
        .collect()
}

/// Sums over a set of sessions (or parts of them).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    sessions: BTreeSet<i64>,
    /// Sessions counted from rollups (never also in `sessions`: a session is either
    /// rolled up or read whole).
    counted: i64,
    dwell: i64,
    people: BTreeSet<i64>,
    tags: BTreeSet<i64>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl Tally {
    /// Sums read from the rollups: `sessions` counted once each, `dwell` in microseconds.
    /// `first` and `last`: the sessions' first start and last end, when read.
    pub fn rolled(
        sessions: i64,
        dwell: i64,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
    ) -> Tally {
        Tally {
            counted: sessions,
            dwell,
            first,
            last,
            ..Tally::default()
        }
    }

    /// Adds a tag present, and its person.
    pub fn present(&mut self, tag: i64, person: Option<i64>) {
        self.tags.insert(tag);
        self.people.extend(person);
    }

    /// Adds tags present and their people: many, so each set is built again at once
    /// (from sorted values) rather than grown one value at a time.
    pub fn present_all(&mut self, tags: Vec<i64>, people: Vec<i64>) {
        fn union(set: &mut BTreeSet<i64>, mut more: Vec<i64>) {
            more.extend(set.iter());
            more.sort_unstable();
            more.dedup();
            *set = more.into_iter().collect();
        }
        union(&mut self.tags, tags);
        union(&mut self.people, people);
    }

    fn add(&mut self, visit: &Visit, dwell: i64) {
        let weight = visit.rolled.map_or(0, |r| r.window_weight);
        self.add_weighted(visit, dwell, weight);
    }

    /// `weight`: the sessions a rolled-up visit adds here (ignored for a session).
    fn add_weighted(&mut self, visit: &Visit, dwell: i64, weight: i64) {
        if visit.rolled.is_some() {
            self.counted += weight;
        } else {
            self.sessions.insert(visit.session.id);
        }
        self.dwell += dwell;
        self.people.extend(visit.person());
        self.tags.insert(visit.session.tag_id);
        let (started, ended) = (visit.session.started_at, visit.session.ended_at);
        self.first = Some(self.first.map_or(started, |f| f.min(started)));
        self.last = Some(self.last.map_or(ended, |l| l.max(ended)));
    }

    pub fn merge(&mut self, other: &Tally) {
        self.sessions.extend(&other.sessions);
        self.counted += other.counted;
        self.dwell += other.dwell;
        self.people.extend(&other.people);
        self.tags.extend(&other.tags);
        self.span_over(other);
    }

    /// Widens the first start and last end to hold `other`'s.
    pub fn span_over(&mut self, other: &Tally) {
        self.first = match (self.first, other.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(other.last);
    }

    fn of<'a>(visits: impl IntoIterator<Item = &'a Visit>) -> Tally {
        let mut tally = Tally::default();
        for v in visits {
            tally.add(v, v.dwell);
        }
        tally
    }

    fn count(&self) -> i64 {
        self.sessions.len() as i64 + self.counted
    }

    fn seconds(&self) -> i64 {
        self.dwell / MICROS
    }

    fn people(&self) -> i64 {
        self.people.len() as i64
    }

    /// Mean dwell inside the window per session, in seconds.
    fn mean(&self) -> Option<f64> {
        (self.count() > 0).then(|| self.dwell as f64 / 1e6 / self.count() as f64)
    }
}

/// Tallies grouped by a key, in key order.
fn group_by<K: Ord>(visits: &[Visit], key: impl Fn(&Visit) -> Option<K>) -> BTreeMap<K, Tally> {
    let mut groups: BTreeMap<K, Tally> = BTreeMap::new();
    for v in visits {
        if let Some(k) = key(v) {
            groups.entry(k).or_default().add(v, v.dwell);
        }
    }
    groups
}

/// The largest first (by dwell, then sessions, then key), at most `limit`.
fn top<K: Ord + Copy>(groups: BTreeMap<K, Tally>, limit: usize) -> Vec<(K, Tally)> {
    let mut list: Vec<_> = groups.into_iter().collect();
    list.sort_by(|a, b| {
        (b.1.dwell.cmp(&a.1.dwell))
            .then(b.1.count().cmp(&a.1.count()))
            .then(a.0.cmp(&b.0))
    });
    list.truncate(limit);
    list
}

fn place_of(visits: &[Visit], device_id: i64) -> (String, Option<String>, Place) {
    visits
        .iter()
        .find(|v| v.session.device_id == device_id)
        .map_or_else(
            || (format!("Device {device_id}"), None, Place::default()),
            |v| {
                let s = &v.session;
                (
                    s.device_name.clone(),
                    s.device_mac_address.clone(),
                    s.place.clone(),
                )
            },
        )
}

/// A gateway as the reports name and place it.
#[derive(Debug, Clone, Default)]
pub struct Gateway {
    pub name: String,
    pub mac_address: Option<String>,
    pub place: Place,
}

/// What the summaries (overview, person group, gateways usage, building) are made of:
/// tallies over the window, per gateway and per person, from visits ([`Summary::of`]) or
/// from the coarser rollups ([`super::rollups`]).
#[derive(Debug, Default)]
pub struct Summary {
    pub all: Tally,
    pub by_device: BTreeMap<i64, Tally>,
    pub by_person: BTreeMap<i64, Tally>,
    pub gateways: HashMap<i64, Gateway>,
    pub names: HashMap<i64, String>,
}

impl Summary {
    pub fn of(visits: &[Visit]) -> Summary {
        let mut out = Summary {
            all: Tally::of(visits),
            by_device: group_by(visits, |v| Some(v.session.device_id)),
            by_person: group_by(visits, Visit::person),
            ..Summary::default()
        };
        for v in visits {
            let s = &v.session;
            out.gateways.entry(s.device_id).or_insert_with(|| Gateway {
                name: s.device_name.clone(),
                mac_address: s.device_mac_address.clone(),
                place: s.place.clone(),
            });
            if let (Some(person), Some(name)) = (s.person_id, &s.person_name) {
                out.names.insert(person, name.clone());
            }
        }
        out
    }

    /// Adds the tallies of other sessions.
    pub fn merge(&mut self, other: Summary) {
        self.all.merge(&other.all);
        for (id, t) in other.by_device {
            self.by_device.entry(id).or_default().merge(&t);
        }
        for (id, t) in other.by_person {
            self.by_person.entry(id).or_default().merge(&t);
        }
        for (id, g) in other.gateways {
            self.gateways.entry(id).or_insert(g);
        }
        self.names.extend(other.names);
    }

    /// A gateway's name, address and place.
    fn gateway(&self, id: i64) -> (String, Option<String>, Place) {
        self.gateways.get(&id).map_or_else(
            || (format!("Device {id}"), None, Place::default()),
            |g| (g.name.clone(), g.mac_address.clone(), g.place.clone()),
        )
    }

    /// The place of the first gateway found with `has`.
    fn place_where(&self, has: impl Fn(&Place) -> bool) -> Place {
        self.gateways
            .values()
            .map(|g| &g.place)
            .find(|p| has(p))
            .cloned()
            .unwrap_or_default()
    }

    /// The gateways' tallies merged by a part of their place.
    fn by_place(&self, part: impl Fn(&Place) -> Option<i64>) -> BTreeMap<i64, Tally> {
        let mut out: BTreeMap<i64, Tally> = BTreeMap::new();
        for (id, t) in &self.by_device {
            if let Some(key) = self.gateways.get(id).and_then(|g| part(&g.place)) {
                out.entry(key).or_default().merge(t);
            }
        }
        out
    }
}

// ---- 1. dwell-sessions ----

/// A stored presence session.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PresenceSessionRead {
    pub id: i64,
    pub device_id: i64,
    pub tag_id: i64,
    pub started_at: DateTime<Utc>,
    /// The last sighting (while the session is open, it still grows).
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub samples_count: i32,
    pub is_open: bool,
}

impl From<Session> for PresenceSessionRead {
    fn from(s: Session) -> Self {
        PresenceSessionRead {
            id: s.id,
            device_id: s.device_id,
            tag_id: s.tag_id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            duration_seconds: s.duration_seconds,
            samples_count: s.samples_count,
            is_open: s.is_open,
        }
    }
}

// ---- 2. overview ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverviewSummary {
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_sessions: i64,
    pub total_unique_tags: i64,
    pub total_unique_devices: i64,
    pub total_unique_people: i64,
    /// Seconds inside the window.
    pub total_dwell_seconds: i64,
    pub avg_dwell_seconds: f64,
    pub first_session_at: Option<DateTime<Utc>>,
    pub last_session_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopDevice {
    pub device_id: i64,
    pub device_name: String,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopPerson {
    pub person_id: i64,
    pub person_name: String,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopBuilding {
    pub building_id: i64,
    pub building_name: Option<String>,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopFloor {
    pub floor_id: i64,
    pub floor_name: Option<String>,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopGroup {
    pub group_id: i64,
    pub group_name: String,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
}

/// The site at a glance: totals and the ten largest of each kind, by dwell.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OverviewReport {
    pub summary: OverviewSummary,
    pub top_devices: Vec<TopDevice>,
    pub top_people: Vec<TopPerson>,
    pub top_buildings: Vec<TopBuilding>,
    pub top_floors: Vec<TopFloor>,
    pub top_groups: Vec<TopGroup>,
}

/// `memberships`: (person id, group id, group name).
pub fn overview(
    w: &Window,
    summary: &Summary,
    memberships: &[(i64, i64, String)],
) -> OverviewReport {
    let all = &summary.all;
    let report = OverviewSummary {
        from_ts: w.from,
        to_ts: w.to,
        total_sessions: all.count(),
        total_unique_tags: all.tags.len() as i64,
        total_unique_devices: summary.by_device.len() as i64,
        total_unique_people: all.people(),
        total_dwell_seconds: all.seconds(),
        avg_dwell_seconds: all.mean().unwrap_or(0.0),
        first_session_at: all.first,
        last_session_at: all.last,
    };
    let top_devices = top(summary.by_device.clone(), 10)
        .into_iter()
        .map(|(id, t)| TopDevice {
            device_id: id,
            device_name: summary.gateway(id).0,
            total_sessions: t.count(),
            total_dwell_seconds: t.seconds(),
        })
        .collect();
    let top_people = top(summary.by_person.clone(), 10)
        .into_iter()
        .map(|(id, t)| TopPerson {
            person_id: id,
            person_name: summary
                .names
                .get(&id)
                .map_or_else(|| format!("Pessoa {id}"), Clone::clone),
            total_sessions: t.count(),
            total_dwell_seconds: t.seconds(),
        })
        .collect();
    let top_buildings = top(summary.by_place(|p| p.building_id), 10)
        .into_iter()
        .map(|(id, t)| TopBuilding {
            building_id: id,
            building_name: summary
                .place_where(|p| p.building_id == Some(id))
                .building_name,
            total_sessions: t.count(),
            total_dwell_seconds: t.seconds(),
        })
        .collect();
    let top_floors = top(summary.by_place(|p| p.floor_id), 10)
        .into_iter()
        .map(|(id, t)| {
            let place = summary.place_where(|p| p.floor_id == Some(id));
            TopFloor {
                floor_id: id,
                floor_name: place.floor_name,
                building_id: place.building_id,
                building_name: place.building_name,
                total_sessions: t.count(),
                total_dwell_seconds: t.seconds(),
            }
        })
        .collect();
    let mut groups: BTreeMap<i64, Tally> = BTreeMap::new();
    let mut group_names: HashMap<i64, &str> = HashMap::new();
    for (person, group, name) in memberships {
        group_names.insert(*group, name);
        if let Some(tally) = summary.by_person.get(person) {
            groups.entry(*group).or_default().merge(tally);
        }
    }
    let top_groups = top(groups, 10)
        .into_iter()
        .map(|(id, t)| TopGroup {
            group_id: id,
            group_name: group_names
                .get(&id)
                .map_or_else(String::new, |n| (*n).to_string()),
            total_sessions: t.count(),
            total_dwell_seconds: t.seconds(),
        })
        .collect();
    OverviewReport {
        summary: report,
        top_devices,
        top_people,
        top_buildings,
        top_floors,
        top_groups,
    }
}

// ---- 3. person group summary, 4. person summary ----

/// Dwell of a person group at one gateway.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupDwellByDevice {
    pub device_id: i64,
    pub device_name: String,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
    pub unique_people_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupPersonDwellSummary {
    pub person_id: i64,
    pub person_full_name: String,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
}

/// Where the members of a group spent their time (dwell inside the window).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonGroupPresenceSummary {
    pub group_id: i64,
    pub group_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_dwell_seconds: i64,
    pub total_sessions: i64,
    pub total_unique_people: i64,
    pub first_session_at: Option<DateTime<Utc>>,
    pub last_session_at: Option<DateTime<Utc>>,
    pub dwell_by_device: Vec<GroupDwellByDevice>,
    pub dwell_by_person: Vec<GroupPersonDwellSummary>,
    pub top_device_id: Option<i64>,
}

pub fn group_summary(
    w: &Window,
    group_id: i64,
    group_name: String,
    summary: &Summary,
) -> PersonGroupPresenceSummary {
    let all = &summary.all;
    let dwell_by_device: Vec<GroupDwellByDevice> = top(summary.by_device.clone(), usize::MAX)
        .into_iter()
        .map(|(id, t)| {
            let (device_name, _, p) = summary.gateway(id);
            GroupDwellByDevice {
                device_id: id,
                device_name,
                building_id: p.building_id,
                building_name: p.building_name,
                floor_id: p.floor_id,
                floor_name: p.floor_name,
                floor_plan_id: p.floor_plan_id,
                floor_plan_name: p.floor_plan_name,
                total_dwell_seconds: t.seconds(),
                sessions_count: t.count(),
                unique_people_count: t.people(),
            }
        })
        .collect();
    let dwell_by_person = top(summary.by_person.clone(), usize::MAX)
        .into_iter()
        .map(|(id, t)| GroupPersonDwellSummary {
            person_id: id,
            person_full_name: summary.names.get(&id).cloned().unwrap_or_default(),
            total_dwell_seconds: t.seconds(),
            sessions_count: t.count(),
        })
        .collect();
    PersonGroupPresenceSummary {
        group_id,
        group_name,
        from_ts: w.from,
        to_ts: w.to,
        total_dwell_seconds: all.seconds(),
        total_sessions: all.count(),
        total_unique_people: all.people(),
        first_session_at: all.first,
        last_session_at: all.last,
        top_device_id: dwell_by_device.first().map(|d| d.device_id),
        dwell_by_device,
        dwell_by_person,
    }
}

/// Dwell of a person at one gateway.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonDwellByDevice {
    pub device_id: i64,
    pub device_name: String,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
}

/// Where a person spent their time (dwell inside the window), by gateway.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonPresenceSummary {
    pub person_id: i64,
    pub person_full_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_dwell_seconds: i64,
    pub total_sessions: i64,
    pub first_session_at: Option<DateTime<Utc>>,
    pub last_session_at: Option<DateTime<Utc>>,
    pub dwell_by_device: Vec<PersonDwellByDevice>,
    pub top_device_id: Option<i64>,
}

pub fn person_summary(
    w: &Window,
    person_id: i64,
    name: String,
    visits: &[Visit],
) -> PersonPresenceSummary {
    let all = Tally::of(visits);
    let dwell_by_device: Vec<PersonDwellByDevice> =
        top(group_by(visits, |v| Some(v.session.device_id)), usize::MAX)
            .into_iter()
            .map(|(id, t)| {
                let (device_name, _, p) = place_of(visits, id);
                PersonDwellByDevice {
                    device_id: id,
                    device_name,
                    building_id: p.building_id,
                    building_name: p.building_name,
                    floor_id: p.floor_id,
                    floor_name: p.floor_name,
                    floor_plan_id: p.floor_plan_id,
                    floor_plan_name: p.floor_plan_name,
                    total_dwell_seconds: t.seconds(),
                    sessions_count: t.count(),
                }
            })
            .collect();
    PersonPresenceSummary {
        person_id,
        person_full_name: name,
        from_ts: w.from,
        to_ts: w.to,
        total_dwell_seconds: all.seconds(),
        total_sessions: all.count(),
        first_session_at: all.first,
        last_session_at: all.last,
        top_device_id: dwell_by_device.first().map(|d| d.device_id),
        dwell_by_device,
    }
}

// ---- 5. timeline ----

/// One session of a person, with its place; `duration_seconds` is the part inside the
/// window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonTimelineSession {
    pub session_id: i64,
    pub device_id: i64,
    pub device_name: String,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub tag_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub samples_count: i32,
    pub is_open: bool,
}

/// Newest first, at most `limit`.
pub fn timeline(visits: Vec<Visit>, limit: usize) -> Vec<PersonTimelineSession> {
    let mut list: Vec<_> = visits
        .into_iter()
        .map(|v| {
            let s = v.session;
            PersonTimelineSession {
                session_id: s.id,
                device_id: s.device_id,
                device_name: s.device_name,
                building_id: s.place.building_id,
                building_name: s.place.building_name,
                floor_id: s.place.floor_id,
                floor_name: s.place.floor_name,
                floor_plan_id: s.place.floor_plan_id,
                floor_plan_name: s.place.floor_plan_name,
                tag_id: s.tag_id,
                started_at: s.started_at,
                ended_at: s.ended_at,
                duration_seconds: v.dwell / MICROS,
                samples_count: s.samples_count,
                is_open: s.is_open,
            }
        })
        .collect();
    list.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then(b.session_id.cmp(&a.session_id))
    });
    list.truncate(limit);
    list
}

// ---- bucketed reports ----

/// Tallies per bucket of visits (already cut to the window, so the first and last
/// buckets count only their part inside it). A rolled-up hour goes whole into the bucket
/// that holds it (the rollups are used only where buckets are made of whole hours); its
/// sessions continuing from before count in the bucket's first whole hour inside the window.
pub fn per_bucket(w: &Window, list: &[Bucket], visits: &[Visit]) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); list.len()];
    for v in visits {
        if let Some(r) = v.rolled {
            let i = list.partition_point(|b| b.end <= r.hour);
            if let Some(b) = list.get(i).filter(|b| b.start <= r.hour) {
                let first = if r.hour == super::rollups::hour_from(b.start.max(w.from)) {
                    r.continues
                } else {
                    0
                };
                tallies[i].add_weighted(v, v.dwell, r.starts + first);
            }
            continue;
        }
        for (i, dwell) in buckets::spread(list, v.start, v.end) {
            tallies[i].add(v, dwell);
        }
    }
    tallies
}

/// The window's buckets of unit `g` in its time zone.
pub fn window_buckets(w: &Window, g: Granularity) -> Vec<Bucket> {
    buckets::buckets(w.tz, g, w.from, w.to)
}

/// Dwell and visits of one calendar bucket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarBucket {
    /// The bucket's first instant, in the report's time zone.
    pub bucket_start: DateTime<FixedOffset>,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonTimeDistributionCalendar {
    pub person_id: i64,
    pub person_full_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub granularity: String,
    /// Buckets with presence, oldest first.
    pub buckets: Vec<CalendarBucket>,
}

pub fn person_calendar(
    w: &Window,
    g: Granularity,
    person_id: i64,
    name: String,
    visits: &[Visit],
) -> PersonTimeDistributionCalendar {
    let list = window_buckets(w, g);
    let buckets = per_bucket(w, &list, visits)
        .into_iter()
        .zip(&list)
        .filter(|(t, _)| t.count() > 0)
        .map(|(t, b)| CalendarBucket {
            bucket_start: local(w.tz, b.start),
            total_dwell_seconds: t.seconds(),
            sessions_count: t.count(),
        })
        .collect();
    PersonTimeDistributionCalendar {
        person_id,
        person_full_name: name,
        from_ts: w.from,
        to_ts: w.to,
        granularity: g.name().into(),
        buckets,
    }
}

/// The hour of the day of a bucket (0–23).
pub fn hour_label(t: DateTime<chrono_tz::Tz>) -> usize {
    t.hour() as usize
}

/// The day of the week of a bucket (0 = Sunday).
pub fn weekday_label(t: DateTime<chrono_tz::Tz>) -> usize {
    t.weekday().num_days_from_sunday() as usize
}

/// Tallies by a label of each bucket (hour of day, day of week), over the whole window.
fn by_label(
    w: &Window,
    g: Granularity,
    visits: &[Visit],
    slots: usize,
    label: impl Fn(DateTime<chrono_tz::Tz>) -> usize,
) -> Vec<Tally> {
    let list = window_buckets(w, g);
    let mut out = vec![Tally::default(); slots];
    for (t, b) in per_bucket(w, &list, visits).into_iter().zip(&list) {
        out[label(b.start.with_timezone(&w.tz))].merge(&t);
    }
    out
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourOfDayBucket {
    /// 0–23, the report's time zone.
    pub hour: u32,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonTimeOfDayDistribution {
    pub person_id: i64,
    pub person_full_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    /// 24 buckets, hour 0 first.
    pub buckets: Vec<HourOfDayBucket>,
}

pub fn person_hours(
    w: &Window,
    person_id: i64,
    name: String,
    visits: &[Visit],
) -> PersonTimeOfDayDistribution {
    let buckets = by_label(w, Granularity::Hour, visits, 24, hour_label)
        .into_iter()
        .enumerate()
        .map(|(hour, t)| HourOfDayBucket {
            hour: hour as u32,
            total_dwell_seconds: t.seconds(),
            sessions_count: t.count(),
        })
        .collect();
    PersonTimeOfDayDistribution {
        person_id,
        person_full_name: name,
        from_ts: w.from,
        to_ts: w.to,
        buckets,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayOfWeekBucket {
    /// 0 = Sunday … 6 = Saturday, the report's time zone.
    pub day_of_week: u32,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonDayOfWeekDistribution {
    pub person_id: i64,
    pub person_full_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    /// 7 buckets, Sunday first.
    pub buckets: Vec<DayOfWeekBucket>,
}

pub fn person_weekdays(
    w: &Window,
    person_id: i64,
    name: String,
    visits: &[Visit],
) -> PersonDayOfWeekDistribution {
    let buckets = by_label(w, Granularity::Day, visits, 7, weekday_label)
        .into_iter()
        .enumerate()
        .map(|(day, t)| DayOfWeekBucket {
            day_of_week: day as u32,
            total_dwell_seconds: t.seconds(),
            sessions_count: t.count(),
        })
        .collect();
    PersonDayOfWeekDistribution {
        person_id,
        person_full_name: name,
        from_ts: w.from,
        to_ts: w.to,
        buckets,
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HourGatewayBucket {
    pub hour: u32,
    pub device_id: i64,
    pub device_name: String,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonTimeOfDayByGateway {
    pub person_id: i64,
    pub person_full_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    /// Only (hour, gateway) pairs with presence, by hour then gateway name.
    pub buckets: Vec<HourGatewayBucket>,
}

pub fn person_hours_by_gateway(
    w: &Window,
    person_id: i64,
    name: String,
    visits: &[Visit],
) -> PersonTimeOfDayByGateway {
    let devices: BTreeSet<i64> = visits.iter().map(|v| v.session.device_id).collect();
    let mut buckets = Vec::new();
    for device in devices {
        let mine: Vec<Visit> = visits
            .iter()
            .filter(|v| v.session.device_id == device)
            .cloned()
            .collect();
        let device_name = place_of(&mine, device).0;
        for (hour, t) in by_label(w, Granularity::Hour, &mine, 24, hour_label)
            .into_iter()
            .enumerate()
        {
            if t.count() > 0 {
                buckets.push(HourGatewayBucket {
                    hour: hour as u32,
                    device_id: device,
                    device_name: device_name.clone(),
                    total_dwell_seconds: t.seconds(),
                    sessions_count: t.count(),
                });
            }
        }
    }
    buckets.sort_by(|a, b| {
        a.hour
            .cmp(&b.hour)
            .then_with(|| a.device_name.cmp(&b.device_name))
            .then(a.device_id.cmp(&b.device_id))
    });
    PersonTimeOfDayByGateway {
        person_id,
        person_full_name: name,
        from_ts: w.from,
        to_ts: w.to,
        buckets,
    }
}

// ---- 11. gateways usage ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayUsageDeviceSummary {
    pub device_id: i64,
    pub device_name: String,
    pub device_mac_address: Option<String>,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
    pub unique_people_count: i64,
    pub first_session_at: Option<DateTime<Utc>>,
    pub last_session_at: Option<DateTime<Utc>>,
}

/// Gateways with presence in the window, the most visited first (by distinct people,
/// then dwell).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayUsageSummary {
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
    pub total_devices: i64,
    pub gateways: Vec<GatewayUsageDeviceSummary>,
    pub top_device_id: Option<i64>,
}

pub fn gateway_usage(w: &Window, summary: &Summary) -> GatewayUsageSummary {
    let mut list: Vec<_> = summary.by_device.iter().collect();
    list.sort_by(|a, b| {
        (b.1.people().cmp(&a.1.people()))
            .then(b.1.dwell.cmp(&a.1.dwell))
            .then(a.0.cmp(b.0))
    });
    let gateways: Vec<_> = list
        .into_iter()
        .map(|(&id, t)| {
            let (device_name, mac, p) = summary.gateway(id);
            GatewayUsageDeviceSummary {
                device_id: id,
                device_name,
                device_mac_address: mac,
                building_id: p.building_id,
                building_name: p.building_name,
                floor_id: p.floor_id,
                floor_name: p.floor_name,
                floor_plan_id: p.floor_plan_id,
                floor_plan_name: p.floor_plan_name,
                total_dwell_seconds: t.seconds(),
                sessions_count: t.count(),
                unique_people_count: t.people(),
                first_session_at: t.first,
                last_session_at: t.last,
            }
        })
        .collect();
    GatewayUsageSummary {
        from_ts: w.from,
        to_ts: w.to,
        total_sessions: summary.all.count(),
        total_dwell_seconds: gateways.iter().map(|g| g.total_dwell_seconds).sum(),
        total_devices: gateways.len() as i64,
        top_device_id: gateways.first().map(|g| g.device_id),
        gateways,
    }
}

// ---- 12. gateway time of day ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayHourBucket {
    pub hour: u32,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
    pub unique_people_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayTimeOfDayDistribution {
    pub device_id: i64,
    pub device_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    /// 24 buckets, hour 0 first.
    pub buckets: Vec<GatewayHourBucket>,
}

pub fn gateway_hours(
    w: &Window,
    device_id: i64,
    device_name: String,
    visits: &[Visit],
) -> GatewayTimeOfDayDistribution {
    let buckets = by_label(w, Granularity::Hour, visits, 24, hour_label)
        .into_iter()
        .enumerate()
        .map(|(hour, t)| GatewayHourBucket {
            hour: hour as u32,
            total_dwell_seconds: t.seconds(),
            sessions_count: t.count(),
            unique_people_count: t.people(),
        })
        .collect();
    GatewayTimeOfDayDistribution {
        device_id,
        device_name,
        from_ts: w.from,
        to_ts: w.to,
        buckets,
    }
}

// ---- 13. occupancy, 16./17. building buckets ----

/// Presence in one bucket of the window (cut to the window).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OccupancyBucket {
    /// The bucket's first instant, in the report's time zone.
    pub bucket_start: DateTime<FixedOffset>,
    pub total_dwell_seconds: i64,
    pub sessions_count: i64,
    pub unique_tags_count: i64,
    pub unique_people_count: i64,
}

/// Every bucket of the window, empty ones with 0, oldest first.
pub fn occupancy_buckets(w: &Window, g: Granularity, visits: &[Visit]) -> Vec<OccupancyBucket> {
    let list = window_buckets(w, g);
    let tallies = per_bucket(w, &list, visits);
    occupancy_of(w, &list, tallies)
}

/// The buckets `list` of tallies `tallies`.
pub fn occupancy_of(w: &Window, list: &[Bucket], tallies: Vec<Tally>) -> Vec<OccupancyBucket> {
    tallies
        .into_iter()
        .zip(list)
        .map(|(t, b)| OccupancyBucket {
            bucket_start: local(w.tz, b.start),
            total_dwell_seconds: t.seconds(),
            sessions_count: t.count(),
            unique_tags_count: t.tags.len() as i64,
            unique_people_count: t.people(),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OccupancyPeak {
    pub bucket_start: Option<DateTime<FixedOffset>>,
    pub unique_people_count: i64,
}

/// A gateway's hours: presence per hour, the busiest hour, and how long visits lasted
/// inside the window (mean and continuous percentiles, null without visits).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayOccupancy {
    pub device_id: i64,
    pub device_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub buckets: Vec<OccupancyBucket>,
    pub peak: OccupancyPeak,
    pub avg_dwell_seconds: Option<f64>,
    pub p50_dwell_seconds: Option<f64>,
    pub p95_dwell_seconds: Option<f64>,
}

pub fn occupancy(
    w: &Window,
    device_id: i64,
    device_name: String,
    visits: &[Visit],
) -> GatewayOccupancy {
    let buckets = occupancy_buckets(w, Granularity::Hour, visits);
    let mut peak = OccupancyPeak {
        bucket_start: buckets.first().map(|b| b.bucket_start),
        unique_people_count: 0,
    };
    for b in &buckets {
        if b.unique_people_count > peak.unique_people_count {
            peak = OccupancyPeak {
                bucket_start: Some(b.bucket_start),
                unique_people_count: b.unique_people_count,
            };
        }
    }
    let mut dwell: Vec<f64> = visits.iter().map(|v| v.dwell as f64 / 1e6).collect();
    dwell.sort_by(f64::total_cmp);
    GatewayOccupancy {
        device_id,
        device_name,
        from_ts: w.from,
        to_ts: w.to,
        buckets,
        peak,
        avg_dwell_seconds: Tally::of(visits).mean(),
        p50_dwell_seconds: percentile(&dwell, 0.5),
        p95_dwell_seconds: percentile(&dwell, 0.95),
    }
}

/// The continuous percentile of sorted values (linear between neighbours, as PostgreSQL's
/// `percentile_cont`).
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p * last as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

// ---- 14. concurrency ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConcurrencyBucket {
    pub bucket_start: DateTime<FixedOffset>,
    /// The most distinct people at the gateway at one moment of the hour.
    pub peak_concurrency_people: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayConcurrency {
    pub device_id: i64,
    pub device_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub buckets: Vec<ConcurrencyBucket>,
}

/// A stretch of time, `[start, end)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// Each person's presence is the union of their sessions (two tags, or two overlapping
/// sessions, count once); the peak of an hour is the most people present at one instant
/// of it, including those present since before it began.
pub fn concurrency(
    w: &Window,
    device_id: i64,
    device_name: String,
    visits: &[Visit],
) -> GatewayConcurrency {
    let mut by_person: BTreeMap<i64, Vec<Span>> = BTreeMap::new();
    for v in visits {
        if let Some(person) = v.person() {
            by_person.entry(person).or_default().push((v.start, v.end));
        }
    }
    // Presence is [arrival, departure); a single sighting lasts a microsecond. At one
    // instant departures come first: one person leaving as another arrives is one.
    let mut events: Vec<(DateTime<Utc>, i64)> = Vec::new();
    for spans in by_person.values_mut() {
        spans.sort();
        let mut merged: Vec<Span> = Vec::new();
        for &(s, e) in spans.iter() {
            let e = e.max(s + chrono::Duration::microseconds(1));
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            events.push((s, 1));
            events.push((e, -1));
        }
    }
    events.sort();
    let list = window_buckets(w, Granularity::Hour);
    let mut buckets = Vec::with_capacity(list.len());
    let (mut i, mut present) = (0usize, 0i64);
    for b in &list {
        while i < events.len() && events[i].0 <= b.start {
            present += events[i].1;
            i += 1;
        }
        let mut peak = present;
        while i < events.len() && events[i].0 < b.end {
            present += events[i].1;
            peak = peak.max(present);
            i += 1;
        }
        buckets.push(ConcurrencyBucket {
            bucket_start: local(w.tz, b.start),
            peak_concurrency_people: peak,
        });
    }
    GatewayConcurrency {
        device_id,
        device_name,
        from_ts: w.from,
        to_ts: w.to,
        buckets,
    }
}

// ---- 15. building summary ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildingGateway {
    pub device_id: i64,
    pub device_name: String,
    pub sessions_count: i64,
    pub total_dwell_seconds: i64,
    pub unique_people_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BuildingSummary {
    pub building_id: i64,
    pub building_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
    pub unique_people_count: i64,
    pub unique_tags_count: i64,
    pub avg_dwell_seconds: Option<f64>,
    /// Ten gateways with the most sessions.
    pub top_gateways_by_sessions: Vec<BuildingGateway>,
    /// Ten gateways with the most dwell.
    pub top_gateways_by_dwell: Vec<BuildingGateway>,
}

pub fn building_summary(
    w: &Window,
    building_id: i64,
    building_name: String,
    summary: &Summary,
) -> BuildingSummary {
    let all = &summary.all;
    let gateways: Vec<(i64, &Tally)> = summary.by_device.iter().map(|(id, t)| (*id, t)).collect();
    let row = |(id, t): &(i64, &Tally)| BuildingGateway {
        device_id: *id,
        device_name: summary.gateway(*id).0,
        sessions_count: t.count(),
        total_dwell_seconds: t.seconds(),
        unique_people_count: t.people(),
    };
    let mut by_sessions = gateways.clone();
    by_sessions.sort_by(|a, b| {
        (b.1.count().cmp(&a.1.count()))
            .then(b.1.dwell.cmp(&a.1.dwell))
            .then(a.0.cmp(&b.0))
    });
    let mut by_dwell = gateways;
    by_dwell.sort_by(|a, b| {
        (b.1.dwell.cmp(&a.1.dwell))
            .then(b.1.count().cmp(&a.1.count()))
            .then(a.0.cmp(&b.0))
    });
    BuildingSummary {
        building_id,
        building_name,
        from_ts: w.from,
        to_ts: w.to,
        total_sessions: all.count(),
        total_dwell_seconds: all.seconds(),
        unique_people_count: all.people(),
        unique_tags_count: all.tags.len() as i64,
        avg_dwell_seconds: all.mean(),
        top_gateways_by_sessions: by_sessions.iter().take(10).map(row).collect(),
        top_gateways_by_dwell: by_dwell.iter().take(10).map(row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_continuous() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[0.0, 10.0], 0.95), Some(9.5));
    }
}
