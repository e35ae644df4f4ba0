//! Presence rollups: the reports of a long window read sums of hours and days instead of
//! every session (issue 17: at 10 million sessions a week holds more than two million).
//!
//! **Shape.** One row per UTC hour, tag and gateway (`presence_rollups`): the dwell of the
//! tag's closed sessions at that gateway inside that hour, how many of them touch the hour
//! (`touches`), how many start in it (`starts`, their first hour), the earliest start and
//! the latest end among them. Keyed by tag, not person, so the person (and the gateway's
//! place) is looked up when the report runs, as the session path does. Every report's
//! numbers follow from these, exactly:
//! - dwell adds up over hours, tags and gateways;
//! - a session touching a window (or a bucket) is counted once: by touch in its first hour,
//!   by start in the later ones (a window made of whole hours holds every hour a session
//!   touches inside it);
//! - distinct people, tags and gateways are sets of the rows' keys;
//! - first and last sessions are the minimum of the starts and the maximum of the ends.
//!
//! The reports of one person or one gateway read these rows through the `(tag_id, hour)`
//! and `(device_id, hour)` indexes: a week is a few hundred rows. The reports of the whole
//! site, a building or a large group cannot: a week of a busy 2,000-tag site is one or two
//! million rows (a tag touches a few gateways an hour; BENCHMARKS.md, "Reports at 10
//! million sessions"). They read coarser rollups, the same sums for a coarser key, each
//! chosen for what those reports output:
//! - **per hour and gateway** (`presence_gateway_hours`, 100 × 168 rows for a week of 100
//!   gateways), with the tags present (`tag_ids`): the gateways usage summary, the building
//!   summary, time of day and calendar, and the overview's gateways, buildings and floors.
//!   Distinct people are not additive (a person at a gateway on Monday and Tuesday is one),
//!   so each row lists its tags and the report takes the union of the lists it reads: a
//!   few dozen ids per row, where a row per (day, gateway, tag) would be as many rows as
//!   the lists hold ids. The pass appends to a list (`||`, one statement on both engines,
//!   safe beside another pass), so a tag may be listed twice; the report counts it once;
//! - **per tag**, by UTC day (`presence_tag_days`) and by hour (`presence_tag_hours`): the
//!   overview's people, groups, distinct tags and people, and its totals. A window of whole
//!   hours reads its whole UTC days from the first and the hours before and after them from
//!   the second (2,000 tags × (6 days + 24 hours) rows for a week, at most, against 2,000 ×
//!   168 hours);
//! - **per tag and gateway by UTC day** (`presence_tag_gateway_days`, keyed by tag first):
//!   the person group summary (per person, per gateway, and distinct people per gateway of
//!   the group's tags), with the hours at the window's edges from `presence_rollups`.
//!
//! A day's `touches` counts a session once however many of its hours it touches, so a
//! window of days and hours still counts a session once: by touch in the window's first
//! hour or day, by start after it. The database sums the per-tag rows over the window; the
//! gateway hours are summed here, with the lists. The tables hold nothing but sums of
//! `presence_rollups` rows (the pass writes them together; migration 0018 filled them from
//! it), and deleting a tag or a gateway, which deletes its sessions, makes the rows that
//! summed it without its key again from the finer rows (triggers of migration 0018), so
//! every report stays that of the sessions.
//!
//! **What stays on the sessions.** Open sessions and sessions closed since the last pass
//! (`rollup_state = 0`), and sessions of 12 hours or more (`rollup_state = 2`: one may cover
//! the same hour of two days, which a count per hour of the day must count once) are read
//! whole beside the rollups; they are few.
//!
//! **The edges.** The rollups answer for the whole UTC hours inside a window; its edges,
//! where it starts or ends within an hour (the console's and integrators' "the last 7 days"
//! end now), are read from the sessions that touch them, whole (rolled-up ones only: the
//! others are read anyway), through the indexes: an edge piece `[a, b]` holds the sessions
//! that end in it (the rolled-up sessions' index by end), that start in it and end after it
//! (theirs by start; both hold every column these reads take, so that no row is looked up
//! in the table), and those that cover it and more on both sides, found from the rows of
//! the hour holding `b` (`store.rs`, `spanning_query`). Each such session counts as the
//! sessions' path counts it (once, its dwell clipped to the window, into every bucket it
//! touches), and what it added to the rollups of the window's whole hours is taken off them
//! (the same cells the pass made of it, negated), so a session touching an edge and the
//! whole hours counts once. Distinct people, tags and gateways, first and last sessions
//! are sets, minima and maxima: a session taken off the hours is still counted at the
//! edge. A window with no whole hour (inside one hour, or across two partial ones) is one
//! edge piece. On a whole-hour edge the piece would be a single instant: only the
//! rolled-up sessions that end exactly at the window's start, or start exactly at its end,
//! are read there. The
//! summaries and gateway buckets, which look every person's name and every gateway's place
//! up once ([`Lookups`]) or need neither, read these sessions with their person only
//! (tens of thousands of rows at the edges of a site-wide week: the other joins cost more
//! than the rows), and take those lying wholly in a partial edge hour (most of them: they
//! touch no whole hour, so nothing is taken off for them) summed per tag and gateway
//! ([`Read::InsideEdges`]) from their own four columns.
//!
//! **When the rollups answer** ([`shape`]): the hour that holds the window's start is
//! within the rollups' retention; there is no `min_duration_seconds` (a rollup cannot tell
//! a session's full length); every bucket of the report (hours, days, … in the report's
//! time zone) that begins inside the window begins on a whole UTC hour (zones with
//! whole-hour offsets: an hour goes whole into one bucket); and, for hour-of-day and
//! day-of-week reports, two buckets with the same label are at least 12 hours apart (not
//! so in the hour a clock goes back twice). Otherwise the report reads the sessions of the
//! window, as before: the same numbers, slower. Timelines, occupancy (its percentiles are
//! of each visit) and concurrency always read sessions, of one person or one gateway,
//! through the `(tag_id, ended_at)` and `(device_id, ended_at)` indexes.
//!
//! **Maintenance.** A pass ([`Store::roll_up_sessions`]) claims closed sessions not rolled
//! up (`rollup_state` 0 → 1, or 2 for long ones) and adds their hours and days to every
//! rollup table in the same transaction, so a pass interrupted by a crash leaves nothing half done, and one that
//! runs again (after a restart, beside another) finds nothing to add twice. The job runs a
//! pass every `reports.rollup_interval_seconds` and deletes the rollups (hours and days)
//! that start before `reports.rollup_retention_days`; a report whose window starts before
//! that horizon reads the sessions (and one that starts after it reads no deleted day). A
//! closed session that a late write lengthens keeps its rolled-up length (read whole at an
//! edge, it is taken off the hours of its new length).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::Window;
use super::buckets::{self, Granularity};
use super::presence::{
    Gateway, OccupancyBucket, Rolled, Summary, Tally, Visit, occupancy_of, per_bucket, visits,
    window_buckets,
};
use super::store::{
    Columns, GatewayHourRow, GatewaySums, PresenceRows, Read, RollupRow, Session, SessionFilter,
    TotalsRow,
};
use crate::store::{Result, Store, on_pool};

/// Sessions at least this long stay out of the rollups.
pub const LONG_SECONDS: i64 = 12 * 3600;
/// Sessions claimed per transaction.
const BATCH: i64 = 5000;

/// What a report needs from presence.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// Each session (a timeline, percentiles of visits, concurrency).
    Sessions,
    /// Sums over the window only.
    Totals,
    /// Sums per bucket of this unit.
    Buckets(Granularity),
    /// Sums per label (hour of day, day of week) of the buckets of this unit.
    Labels(Granularity, fn(DateTime<Tz>) -> usize),
}

/// How the rollups answer a report, when they can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Summed per tag and gateway over the window.
    Totals,
    /// Hour by hour.
    Hours,
}

fn whole_hour(t: DateTime<Utc>) -> bool {
    t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0
}

/// The UTC hour that holds `t`.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// The first whole UTC hour at or after `t`.
pub fn hour_from(t: DateTime<Utc>) -> DateTime<Utc> {
    if whole_hour(t) {
        t
    } else {
        hour_of(t) + Duration::hours(1)
    }
}

/// The whole UTC hours inside `[from, to]`, as `[first, end)` (`first == end` when there is
/// none).
pub fn whole_hours(from: DateTime<Utc>, to: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = hour_from(from);
    (first, hour_of(to).max(first))
}

/// Whether (and how) the rollups answer for `w` (the rules are in the module's doc).
/// `retention_days`: the rollups' (0: kept for ever).
pub fn shape(w: &Window, need: Need, retention_days: u32) -> Option<Shape> {
    if retention_days > 0 && hour_of(w.from) < w.now - Duration::days(i64::from(retention_days)) {
        return None;
    }
    let (g, label) = match need {
        Need::Sessions => return None,
        Need::Totals => return Some(Shape::Totals),
        Need::Buckets(g) => (g, None),
        Need::Labels(g, label) => (g, Some(label)),
    };
    let list = buckets::buckets(w.tz, g, w.from, w.to);
    if list
        .iter()
        .any(|b| b.start > w.from && b.start < w.to && !whole_hour(b.start))
    {
        return None;
    }
    if let Some(label) = label {
        let mut last_end: BTreeMap<usize, DateTime<Utc>> = BTreeMap::new();
        for b in &list {
            let l = label(b.start.with_timezone(&w.tz));
            if last_end
                .insert(l, b.end)
                .is_some_and(|end| b.start - end < Duration::seconds(LONG_SECONDS))
            {
                return None;
            }
        }
    }
    Some(Shape::Hours)
}

/// The visits of `w` from the rollups and the sessions not in them.
pub async fn presence(
    store: &Store,
    w: &Window,
    filter: &SessionFilter,
    shape: Shape,
) -> Result<Vec<Visit>> {
    let by_hour = shape == Shape::Hours;
    let mut rows = store
        .report_presence_rows(
            w.from,
            w.to,
            filter,
            &[Read::Hours { by_hour }],
            Columns::Joined,
        )
        .await?;
    let rolled = std::mem::take(&mut rows.rolled);
    let mut out = unrolled(w, rows);
    let first = whole_hours(w.from, w.to).0;
    out.extend(rolled.into_iter().map(|row| {
        let hour = if shape == Shape::Totals {
            first
        } else {
            row.hour
        };
        let continues = if shape == Shape::Totals {
            0
        } else {
            row.touches - row.starts
        };
        rolled_visit(w, row, hour, continues)
    }));
    Ok(out)
}

/// The visits of the sessions read beside the rollups: those not rolled up, and the
/// rolled-up ones read whole at the window's edges, each taken off the rollups of the
/// window's whole hours that hold it (so that it counts once, and its dwell once).
fn unrolled(w: &Window, rows: PresenceRows) -> Vec<Visit> {
    let PresenceRows {
        mut pending,
        long,
        mut edges,
        ..
    } = rows;
    pending.extend(long);
    let mut out = visits(w, pending, None);
    edges.sort_by_key(|s| s.id);
    edges.dedup_by_key(|s| s.id);
    let (first, end) = whole_hours(w.from, w.to);
    for s in &edges {
        out.extend(taken_off(s, first, end));
    }
    out.extend(visits(w, edges, None));
    out
}

/// What a rolled-up session adds to the rollups of the hours `[first, end)`, negated: the
/// cells [`cells`] made of it (the same spread), as rollup visits.
fn taken_off(
    s: &Session,
    first: DateTime<Utc>,
    end: DateTime<Utc>,
) -> impl Iterator<Item = Visit> + '_ {
    let hours = buckets::buckets(Tz::UTC, Granularity::Hour, s.started_at, s.ended_at);
    let spread: Vec<(usize, i64)> = buckets::spread(&hours, s.started_at, s.ended_at).collect();
    spread
        .into_iter()
        .enumerate()
        .map(move |(n, (i, dwell))| (hours[i].start, n == 0, dwell))
        .filter(move |(hour, _, _)| *hour >= first && *hour < end)
        .map(move |(hour, starts, dwell)| {
            let (starts, continues) = if starts { (-1, 0) } else { (0, -1) };
            Visit {
                session: s.clone(),
                start: hour,
                end: hour,
                dwell: -dwell,
                rolled: Some(Rolled {
                    hour,
                    starts,
                    continues,
                    window_weight: starts + if hour == first { continues } else { 0 },
                }),
            }
        })
}

/// Which coarser rollups a summary reads (the module's doc says why each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coarse {
    /// The whole site: the gateways' hours (without their tags) and each tag's days.
    Site,
    /// Gateways (a building, a floor, a plan, or all): their hours with the tags present.
    Gateways,
    /// The tags of a group: their days at each gateway.
    Group,
}

/// The tags' people and the people's names, and the gateways, as the reports show them.
struct Lookups {
    people: HashMap<i64, Option<i64>>,
    names: HashMap<i64, String>,
    gateways: HashMap<i64, Gateway>,
}

impl Lookups {
    async fn read(store: &Store) -> Result<Lookups> {
        let mut people = HashMap::new();
        let mut names = HashMap::new();
        for (tag, person, name) in store.report_tag_people().await? {
            people.insert(tag, person);
            if let (Some(person), Some(name)) = (person, name) {
                names.insert(person, name);
            }
        }
        let gateways = store.report_gateways().await?;
        Ok(Lookups {
            people,
            names,
            gateways,
        })
    }

    fn person(&self, tag: i64) -> Option<i64> {
        self.people.get(&tag).copied().flatten()
    }

    /// The people of `tags`, once each.
    fn people_of(&self, tags: &[i64]) -> Vec<i64> {
        let mut people: Vec<i64> = tags.iter().filter_map(|t| self.person(*t)).collect();
        people.sort_unstable();
        people.dedup();
        people
    }
}

/// The tags the gateway hours `rows` list, once each, in order. A week's lists name each
/// tag once an hour (a site-wide week: a million names), so they are marked in a bitmap by
/// id rather than gathered and sorted; ids past [`BITMAP_IDS`] are sorted apart.
fn listed(rows: &[&GatewayHourRow]) -> Vec<i64> {
    let mut marks: Vec<u64> = Vec::new();
    let mut beyond = Vec::new();
    for id in rows.iter().flat_map(|r| ids_in(&r.tag_ids)) {
        match usize::try_from(id) {
            Ok(n) if n < BITMAP_IDS => {
                if marks.len() <= n / 64 {
                    marks.resize(n / 64 + 1, 0);
                }
                marks[n / 64] |= 1 << (n % 64);
            }
            _ => beyond.push(id),
        }
    }
    beyond.sort_unstable();
    beyond.dedup();
    let marked = marks.iter().enumerate().flat_map(|(word, bits)| {
        (0..64)
            .filter(move |bit| bits & (1 << bit) != 0)
            .map(move |bit| (word * 64 + bit) as i64)
    });
    marked.chain(beyond).collect()
}

/// Ids under this are marked in [`listed`]'s bitmap (at most 2 MiB of it).
const BITMAP_IDS: usize = 1 << 24;

/// The ids of a comma-separated list of tag ids; anything else in it is skipped.
fn ids_in(list: &str) -> impl Iterator<Item = i64> + '_ {
    list.as_bytes().split(|b| *b == b',').filter_map(|digits| {
        let digit = |d: &u8| d.is_ascii_digit().then(|| i64::from(d - b'0'));
        let first = digit(digits.first()?)?;
        digits[1..]
            .iter()
            .try_fold(first, |n, d| n.checked_mul(10)?.checked_add(digit(d)?))
    })
}

/// A tag's sums over the window (at one gateway, or at all) as a tally, the tag and its
/// `person` present.
fn tally_of(r: &TotalsRow, person: Option<i64>) -> Tally {
    let mut tally = Tally::rolled(r.sessions, r.dwell_us, r.first_start, r.last_end);
    tally.present(r.tag_id, person);
    tally
}

/// The summary of `w` (whole hours: [`Shape::Totals`]) from the coarser rollups `coarse`
/// and the sessions not in them.
pub async fn summary(
    store: &Store,
    w: &Window,
    filter: &SessionFilter,
    coarse: Coarse,
) -> Result<Summary> {
    let reads: &[Read] = match coarse {
        Coarse::Site => &[
            Read::GatewayHours(GatewaySums::PerGateway),
            Read::Tags,
            Read::InsideEdges,
        ],
        Coarse::Gateways => &[
            Read::GatewayHours(GatewaySums::PerGatewayWithTags),
            Read::InsideEdges,
        ],
        Coarse::Group => &[Read::TagGateways, Read::InsideEdges],
    };
    let mut rows = store
        .report_presence_rows(w.from, w.to, filter, reads, Columns::Person)
        .await?;
    let hours = std::mem::take(&mut rows.gateway_hours);
    let totals = [
        std::mem::take(&mut rows.tags),
        std::mem::take(&mut rows.tag_gateways),
    ]
    .concat();
    let lookups = Lookups::read(store).await?;
    let first = whole_hours(w.from, w.to).0;
    let mut out = Summary::default();
    // The gateways' hours, summed per gateway (a session counted once: by touch in the
    // window's first hour, by start after it; rows the database summed hold that count in
    // both).
    let mut by_device: BTreeMap<i64, Vec<&GatewayHourRow>> = BTreeMap::new();
    for r in &hours {
        by_device.entry(r.device_id).or_default().push(r);
    }
    let mut everyone = Vec::new();
    for (device, list) in by_device {
        let tally = out.by_device.entry(device).or_default();
        for r in &list {
            let sessions = if r.hour == first { r.touches } else { r.starts };
            tally.merge(&Tally::rolled(
                sessions,
                r.dwell_us,
                Some(r.first_start),
                Some(r.last_end),
            ));
        }
        if coarse == Coarse::Site {
            // The tags' sums come without their span: the site's is the gateways'.
            out.all.span_over(tally);
        }
        if coarse == Coarse::Gateways {
            out.all.merge(tally);
            let tags = listed(&list);
            everyone.extend_from_slice(&tags);
            let people = lookups.people_of(&tags);
            tally.present_all(tags, people);
        }
    }
    everyone.sort_unstable();
    everyone.dedup();
    let people = lookups.people_of(&everyone);
    out.all.present_all(everyone, people);
    // Tags over the window (per gateway for a group), and the sessions lying inside the
    // window's partial edge hours, summed per tag and gateway.
    let inside: Vec<_> = std::mem::take(&mut rows.inside_edges)
        .into_iter()
        .flat_map(|(_, sums)| sums)
        .collect();
    let sums = (totals.iter().map(|r| (r, coarse == Coarse::Group)))
        .chain(inside.iter().map(|r| (r, true)));
    for (r, per_gateway) in sums {
        let person = lookups.person(r.tag_id);
        let tally = tally_of(r, person);
        out.all.merge(&tally);
        if per_gateway {
            out.by_device.entry(r.device_id).or_default().merge(&tally);
        }
        if let Some(person) = person {
            out.by_person.entry(person).or_default().merge(&tally);
        }
    }
    // The sessions read beside the rollups come without names and places.
    out.merge(Summary::of(&unrolled(w, rows)));
    for device in out.by_device.keys() {
        if let Some(g) = lookups.gateways.get(device) {
            out.gateways.insert(*device, g.clone());
        }
    }
    for person in out.by_person.keys() {
        if let Some(name) = lookups.names.get(person) {
            out.names.insert(*person, name.clone());
        }
    }
    Ok(out)
}

/// The buckets of unit `g` of `w` ([`Shape::Hours`]) from the gateways' hours with the
/// tags present, and the sessions not in them.
pub async fn gateway_buckets(
    store: &Store,
    w: &Window,
    filter: &SessionFilter,
    g: Granularity,
) -> Result<Vec<OccupancyBucket>> {
    let mut rows = store
        .report_presence_rows(
            w.from,
            w.to,
            filter,
            &[Read::GatewayHours(GatewaySums::PerHour), Read::InsideEdges],
            Columns::Person,
        )
        .await?;
    let hours = std::mem::take(&mut rows.gateway_hours);
    let inside_edges = std::mem::take(&mut rows.inside_edges);
    let lookups = Lookups::read(store).await?;
    let list = window_buckets(w, g);
    let mut tallies = per_bucket(w, &list, &unrolled(w, rows));
    // Each partial edge hour lies in one bucket (those that begin inside the window begin
    // on whole hours): the one that holds the piece's start.
    for (start, sums) in inside_edges {
        let i = list.partition_point(|b| b.end <= start);
        let Some(tally) = tallies.get_mut(i).filter(|_| list[i].start <= start) else {
            continue;
        };
        for r in &sums {
            tally.merge(&tally_of(r, lookups.person(r.tag_id)));
        }
    }
    let mut by_bucket: BTreeMap<usize, Vec<&GatewayHourRow>> = BTreeMap::new();
    for r in &hours {
        let i = list.partition_point(|b| b.end <= r.hour);
        let Some(b) = list.get(i).filter(|b| b.start <= r.hour) else {
            continue;
        };
        // Sessions continuing from before count in the bucket's first whole hour in the
        // window.
        let first = if r.hour == hour_from(b.start.max(w.from)) {
            r.touches - r.starts
        } else {
            0
        };
        tallies[i].merge(&Tally::rolled(
            r.starts + first,
            r.dwell_us,
            Some(r.first_start),
            Some(r.last_end),
        ));
        by_bucket.entry(i).or_default().push(r);
    }
    for (i, rows) in by_bucket {
        let tags = listed(&rows);
        let people = lookups.people_of(&tags);
        tallies[i].present_all(tags, people);
    }
    Ok(occupancy_of(w, &list, tallies))
}

fn rolled_visit(w: &Window, row: RollupRow, hour: DateTime<Utc>, continues: i64) -> Visit {
    let starts = row.starts;
    let session = Session {
        id: 0,
        device_id: row.device_id,
        tag_id: row.tag_id,
        started_at: row.first_start,
        ended_at: row.last_end,
        duration_seconds: 0,
        samples_count: 0,
        is_open: false,
        person_id: row.person_id,
        person_name: row.person_name,
        device_name: row.device_name,
        device_mac_address: row.device_mac_address,
        place: row.place,
    };
    Visit {
        session,
        start: hour,
        end: hour,
        dwell: row.dwell_us,
        rolled: Some(Rolled {
            hour,
            starts,
            continues,
            window_weight: starts
                + if hour == hour_from(w.from) {
                    continues
                } else {
                    0
                },
        }),
    }
}

/// A closed session, as a pass claims it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClosedSession {
    pub tag_id: i64,
    pub device_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
}

/// The sums of the sessions of one row of a rollup table.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub dwell_us: i64,
    pub touches: i64,
    pub starts: i64,
    pub first_start: DateTime<Utc>,
    pub last_end: DateTime<Utc>,
}

impl Cell {
    fn of(s: &ClosedSession, dwell_us: i64, first: bool) -> Cell {
        Cell {
            dwell_us,
            touches: 1,
            starts: i64::from(first),
            first_start: s.started_at,
            last_end: s.ended_at,
        }
    }

    fn add(&mut self, other: &Cell) {
        self.dwell_us += other.dwell_us;
        self.touches += other.touches;
        self.starts += other.starts;
        self.first_start = self.first_start.min(other.first_start);
        self.last_end = self.last_end.max(other.last_end);
    }
}

fn add<K: Ord>(map: &mut BTreeMap<K, Cell>, key: K, cell: Cell) {
    map.entry(key).and_modify(|c| c.add(&cell)).or_insert(cell);
}

/// What closed sessions add to each rollup table, by the table's key.
#[derive(Debug, Default)]
pub struct Cells {
    /// (hour, tag, gateway): `presence_rollups`.
    pub hours: BTreeMap<(DateTime<Utc>, i64, i64), Cell>,
    /// (hour, gateway), with the tags present: `presence_gateway_hours`.
    pub gateway_hours: BTreeMap<(DateTime<Utc>, i64), (Cell, BTreeSet<i64>)>,
    /// (hour, tag): `presence_tag_hours`.
    pub tag_hours: BTreeMap<(DateTime<Utc>, i64), Cell>,
    /// (day, tag): `presence_tag_days`.
    pub tag_days: BTreeMap<(DateTime<Utc>, i64), Cell>,
    /// (day, tag, gateway): `presence_tag_gateway_days`.
    pub tag_gateway_days: BTreeMap<(DateTime<Utc>, i64, i64), Cell>,
}

impl Cells {
    /// Rows, all tables together.
    pub fn len(&self) -> usize {
        self.hours.len()
            + self.gateway_hours.len()
            + self.tag_hours.len()
            + self.tag_days.len()
            + self.tag_gateway_days.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows to add, table by table, each in key order (two passes that meet lock
    /// rows in the same order).
    fn rows(&self) -> Vec<(&'static Table, Vec<Row>)> {
        let row = |at, ids: &[i64], cell: &Cell, tags| Row {
            at,
            ids: ids.to_vec(),
            cell: *cell,
            tags,
        };
        vec![
            (
                &HOURS,
                self.hours
                    .iter()
                    .map(|((h, t, d), c)| row(*h, &[*t, *d], c, None))
                    .collect(),
            ),
            (
                &GATEWAY_HOURS,
                self.gateway_hours
                    .iter()
                    .map(|((h, d), (c, tags))| {
                        let list: Vec<String> = tags.iter().map(i64::to_string).collect();
                        row(*h, &[*d], c, Some(list.join(",")))
                    })
                    .collect(),
            ),
            (
                &TAG_HOURS,
                self.tag_hours
                    .iter()
                    .map(|((h, t), c)| row(*h, &[*t], c, None))
                    .collect(),
            ),
            (
                &TAG_DAYS,
                self.tag_days
                    .iter()
                    .map(|((d, t), c)| row(*d, &[*t], c, None))
                    .collect(),
            ),
            (
                &TAG_GATEWAY_DAYS,
                self.tag_gateway_days
                    .iter()
                    .map(|((d, t, g), c)| row(*d, &[*t, *g], c, None))
                    .collect(),
            ),
        ]
    }
}

/// The UTC day that holds `t`.
pub fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::days(1)).unwrap_or(t)
}

/// The rollup rows of closed sessions: each short session's hours, spread as the reports
/// spread a session over hour buckets (an instant touches the hour that holds it), and its
/// days (touched once, started in the first). The benchmark's generator uses this too.
pub fn cells(claimed: &[ClosedSession]) -> Cells {
    let mut out = Cells::default();
    for s in claimed.iter().filter(|s| s.duration_seconds < LONG_SECONDS) {
        let hours = buckets::buckets(Tz::UTC, Granularity::Hour, s.started_at, s.ended_at);
        let mut day: Option<(DateTime<Utc>, Cell)> = None;
        for (n, (i, dwell)) in buckets::spread(&hours, s.started_at, s.ended_at).enumerate() {
            let (hour, cell) = (hours[i].start, Cell::of(s, dwell, n == 0));
            add(&mut out.hours, (hour, s.tag_id, s.device_id), cell);
            add(&mut out.tag_hours, (hour, s.tag_id), cell);
            out.gateway_hours
                .entry((hour, s.device_id))
                .and_modify(|(c, tags)| {
                    c.add(&cell);
                    tags.insert(s.tag_id);
                })
                .or_insert_with(|| (cell, BTreeSet::from([s.tag_id])));
            match &mut day {
                Some((d, c)) if *d == day_of(hour) => c.dwell_us += dwell,
                _ => {
                    if let Some((d, c)) = day.take() {
                        out.add_day(s, d, c);
                    }
                    day = Some((day_of(hour), cell));
                }
            }
        }
        if let Some((d, c)) = day {
            out.add_day(s, d, c);
        }
    }
    out
}

impl Cells {
    fn add_day(&mut self, s: &ClosedSession, day: DateTime<Utc>, cell: Cell) {
        add(&mut self.tag_days, (day, s.tag_id), cell);
        add(
            &mut self.tag_gateway_days,
            (day, s.tag_id, s.device_id),
            cell,
        );
    }
}

/// A rollup table: its period column, its other key columns, whether it lists its tags.
struct Table {
    name: &'static str,
    keys: &'static [&'static str],
    tags: bool,
}

const HOURS: Table = Table {
    name: "presence_rollups",
    keys: &["hour", "tag_id", "device_id"],
    tags: false,
};
const GATEWAY_HOURS: Table = Table {
    name: "presence_gateway_hours",
    keys: &["hour", "device_id"],
    tags: true,
};
const TAG_HOURS: Table = Table {
    name: "presence_tag_hours",
    keys: &["hour", "tag_id"],
    tags: false,
};
const TAG_DAYS: Table = Table {
    name: "presence_tag_days",
    keys: &["day", "tag_id"],
    tags: false,
};
const TAG_GATEWAY_DAYS: Table = Table {
    name: "presence_tag_gateway_days",
    keys: &["day", "tag_id", "device_id"],
    tags: false,
};

/// Every rollup table, by the column of its period (for the retention).
const TABLES: [&Table; 5] = [
    &HOURS,
    &GATEWAY_HOURS,
    &TAG_HOURS,
    &TAG_DAYS,
    &TAG_GATEWAY_DAYS,
];

impl Table {
    fn columns(&self) -> usize {
        self.keys.len() + 5 + usize::from(self.tags)
    }

    /// Adds the rows `source` gives (`VALUES` or a `SELECT`); a row already there gets the
    /// sums added and the tags appended.
    fn upsert_sql(&self, source: &str) -> String {
        let (tags, append) = if self.tags {
            (
                ", tag_ids",
                format!(
                    ", tag_ids = {0}.tag_ids || ',' || excluded.tag_ids",
                    self.name
                ),
            )
        } else {
            ("", String::new())
        };
        format!(
            "INSERT INTO {t} ({keys}, dwell_us, touches, starts, first_start, last_end{tags}) \
             {source} ON CONFLICT ({keys}) DO UPDATE SET \
             dwell_us = {t}.dwell_us + excluded.dwell_us, \
             touches = {t}.touches + excluded.touches, \
             starts = {t}.starts + excluded.starts, \
             first_start = CASE WHEN excluded.first_start < {t}.first_start \
                 THEN excluded.first_start ELSE {t}.first_start END, \
             last_end = CASE WHEN excluded.last_end > {t}.last_end \
                 THEN excluded.last_end ELSE {t}.last_end END{append}",
            t = self.name,
            keys = self.keys.join(", "),
        )
    }

    /// `rows` rows on SQLite: multi-row `VALUES` with `?` (its `$N` are looked up
    /// linearly).
    fn sqlite_upsert(&self, rows: usize) -> String {
        let row = format!("({})", vec!["?"; self.columns()].join(", "));
        self.upsert_sql(&format!("VALUES {}", vec![row; rows].join(", ")))
    }

    /// Any number of rows on PostgreSQL: one array per column, as the sessions are
    /// written, so a table's rows are one statement with a fixed text (multi-row `VALUES`
    /// sent a new text, to be parsed and planned, for each chunk).
    fn postgres_upsert(&self) -> String {
        let types = std::iter::once("timestamptz")
            .chain(std::iter::repeat_n("bigint", self.keys.len() - 1 + 3))
            .chain(["timestamptz", "timestamptz"])
            .chain(self.tags.then_some("text"));
        let arrays: Vec<String> = types
            .enumerate()
            .map(|(i, t)| format!("${}::{t}[]", i + 1))
            .collect();
        self.upsert_sql(&format!("SELECT * FROM UNNEST({})", arrays.join(", ")))
    }
}

/// One row to add.
struct Row {
    at: DateTime<Utc>,
    ids: Vec<i64>,
    cell: Cell,
    tags: Option<String>,
}

/// Most values in one statement (SQLite allows 32,766).
const MAX_VALUES: usize = 9000;

/// Adds `cells` to the rollups on one SQLite connection (the pass's, and the benchmark's
/// generator); the number of rows written.
pub async fn add_cells_sqlite(conn: &mut sqlx::SqliteConnection, cells: &Cells) -> Result<usize> {
    let mut written = 0;
    for (table, rows) in cells.rows() {
        for chunk in rows.chunks(MAX_VALUES / table.columns()) {
            let sql = table.sqlite_upsert(chunk.len());
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for row in chunk {
                query = query.bind(row.at);
                for id in &row.ids {
                    query = query.bind(*id);
                }
                query = query
                    .bind(row.cell.dwell_us)
                    .bind(row.cell.touches)
                    .bind(row.cell.starts)
                    .bind(row.cell.first_start)
                    .bind(row.cell.last_end);
                if let Some(tags) = &row.tags {
                    query = query.bind(tags.as_str());
                }
            }
            query.execute(&mut *conn).await?;
            written += chunk.len();
        }
    }
    Ok(written)
}

/// Adds `cells` to the rollups on one PostgreSQL connection, a statement per table.
pub async fn add_cells_postgres(conn: &mut sqlx::PgConnection, cells: &Cells) -> Result<usize> {
    let mut written = 0;
    for (table, rows) in cells.rows() {
        if rows.is_empty() {
            continue;
        }
        let column = |f: fn(&Row) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let times = |f: fn(&Row) -> DateTime<Utc>| rows.iter().map(f).collect::<Vec<_>>();
        let mut query =
            sqlx::query(sqlx::AssertSqlSafe(table.postgres_upsert())).bind(times(|r| r.at));
        for k in 0..table.keys.len() - 1 {
            query = query.bind(rows.iter().map(|r| r.ids[k]).collect::<Vec<i64>>());
        }
        query = query
            .bind(column(|r| r.cell.dwell_us))
            .bind(column(|r| r.cell.touches))
            .bind(column(|r| r.cell.starts))
            .bind(times(|r| r.cell.first_start))
            .bind(times(|r| r.cell.last_end));
        if table.tags {
            let tags: Vec<String> = rows
                .iter()
                .map(|r| r.tags.clone().unwrap_or_default())
                .collect();
            query = query.bind(tags);
        }
        query.execute(&mut *conn).await?;
        written += rows.len();
    }
    Ok(written)
}

/// One pass on `$pool`: claims, then adds with `$add`, in one transaction.
macro_rules! pass {
    ($pool:expr, $claim:expr, $limit:expr, $add:ident) => {{
        let mut tx = $pool.begin().await?;
        let claimed: Vec<ClosedSession> = sqlx::query_as(sqlx::AssertSqlSafe($claim))
            .bind($limit)
            .fetch_all(&mut *tx)
            .await?;
        $add(&mut tx, &cells(&claimed)).await?;
        tx.commit().await?;
        claimed.len()
    }};
}

/// Claims the closed sessions not rolled up yet that end first, about `$1` of them (all
/// those ending at the last one's end); long ones are only marked. The batch is bounded by
/// an end read once, not by `id IN (… LIMIT $1)`: with statistics from before the sessions
/// closed (autovacuum's, after a long stop) PostgreSQL planned that as a nested loop that
/// ran the subquery again for each pending session, minutes per batch (BENCHMARKS.md, "The
/// pass"). Both scans are of the pending sessions' index; `rollup_state = 0` is checked
/// again on each row, so a concurrent pass claims nothing twice.
fn claim_sql() -> String {
    format!(
        "UPDATE presence_sessions \
         SET rollup_state = CASE WHEN duration_seconds >= {LONG_SECONDS} THEN 2 ELSE 1 END \
         WHERE rollup_state = 0 AND is_open = FALSE AND ended_at <= (\
         SELECT MAX(ended_at) FROM (SELECT ended_at FROM presence_sessions \
         WHERE rollup_state = 0 AND is_open = FALSE ORDER BY ended_at LIMIT $1) AS oldest) \
         RETURNING tag_id, device_id, started_at, ended_at, duration_seconds"
    )
}

impl Store {
    /// One pass over about `limit` closed sessions not rolled up yet (the oldest by end,
    /// and any ending with the last), in one transaction; returns how many were claimed.
    pub async fn roll_up_sessions(&self, limit: i64) -> Result<usize> {
        let claim = claim_sql();
        Ok(match self {
            Store::Sqlite(db) => pass!(db.writer(), claim.as_str(), limit, add_cells_sqlite),
            Store::Postgres(db) => pass!(db, claim.as_str(), limit, add_cells_postgres),
        })
    }

    /// Rolls up every closed session not rolled up yet; returns how many.
    pub async fn roll_up_all_sessions(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = self.roll_up_sessions(BATCH).await?;
            total += n;
            if (n as i64) < BATCH {
                return Ok(total);
            }
        }
    }

    /// Deletes the rollups of the hours (and days) that start before `before`: a window
    /// that starts after it reads no day that starts before it.
    pub async fn delete_rollups_before(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut deleted = 0;
        for table in TABLES {
            let sql = format!("DELETE FROM {} WHERE {} < $1", table.name, table.keys[0]);
            deleted += on_pool!(self, write, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected());
        }
        Ok(deleted)
    }
}

/// The job: a pass every `interval_seconds` (0: no rollups; the reports then read the
/// sessions), and rollups older than `retention_days` deleted every hour (0: kept).
pub async fn run(
    store: Store,
    interval_seconds: u64,
    retention_days: u32,
    shutdown: CancellationToken,
) {
    if interval_seconds == 0 {
        return;
    }
    let mut next_retention = tokio::time::Instant::now();
    loop {
        match store.roll_up_all_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "presence sessions rolled up"),
            Err(err) => tracing::warn!(error = %err, "rolling up presence sessions failed"),
        }
        if retention_days > 0 && tokio::time::Instant::now() >= next_retention {
            let cutoff = Utc::now() - Duration::days(i64::from(retention_days));
            match store.delete_rollups_before(cutoff).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "old presence rollups deleted"),
                Err(err) => tracing::warn!(error = %err, "deleting old presence rollups failed"),
            }
            next_retention += StdDuration::from_secs(3600);
        }
        tokio::select! {
            () = tokio::time::sleep(StdDuration::from_secs(interval_seconds)) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour_listing(tag_ids: &str) -> GatewayHourRow {
        GatewayHourRow {
            hour: DateTime::UNIX_EPOCH,
            device_id: 1,
            dwell_us: 0,
            touches: 0,
            starts: 0,
            first_start: DateTime::UNIX_EPOCH,
            last_end: DateTime::UNIX_EPOCH,
            tag_ids: tag_ids.to_string(),
        }
    }

    /// Each tag once, in order, whether its id is marked in the bitmap or beyond it; what
    /// is not an id (empty, signed, too long for an `i64`) is skipped.
    #[test]
    fn the_tags_listed_are_each_named_once_in_order() {
        let beyond = (BITMAP_IDS as i64 + 5).to_string();
        let rows = [
            hour_listing(&format!("7,3,{beyond},64,3")),
            hour_listing(&format!("64,,1,x,-2,99999999999999999999,{beyond},0")),
            hour_listing(""),
        ];
        let rows: Vec<&GatewayHourRow> = rows.iter().collect();
        assert_eq!(listed(&rows), vec![0, 1, 3, 7, 64, BITMAP_IDS as i64 + 5]);
    }
}
