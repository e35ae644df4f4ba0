//! What the reports read: presence sessions and alert events of a window, each with its
//! person and its gateway's place (floor plan → floor → building), filtered in SQL through
//! the indexes (by time, gateway, tag). One SQL text serves both engines: the filters a
//! request uses are appended in the same order on either.

use std::collections::HashMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};

use super::presence::{Gateway, PresenceSessionRead};
use crate::store::{Result, Store, on_pool};

/// Where a gateway is (each part missing when the gateway is not placed).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct Place {
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
}

/// A presence session with what the reports show about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id: i64,
    pub device_id: i64,
    pub tag_id: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_seconds: i64,
    pub samples_count: i32,
    pub is_open: bool,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub device_name: String,
    pub device_mac_address: Option<String>,
    #[sqlx(flatten)]
    pub place: Place,
}

/// An alert event with its gateway's place.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Alert {
    pub id: i64,
    pub event_type: String,
    pub device_id: Option<i64>,
    pub device_name: Option<String>,
    pub tag_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    pub place: Place,
}

/// Which sessions a report reads, besides the window.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub device_id: Option<i64>,
    pub tag_id: Option<i64>,
    /// Sessions of the tags the person holds now.
    pub person_id: Option<i64>,
    /// Sessions of the tags of the group's members.
    pub group_id: Option<i64>,
    pub building_id: Option<i64>,
    pub floor_id: Option<i64>,
    pub floor_plan_id: Option<i64>,
}

/// Which alert events a report reads, besides the window.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub person_id: Option<i64>,
    pub device_id: Option<i64>,
    pub building_id: Option<i64>,
    pub event_type: Option<String>,
}

const PLACE_COLUMNS: &str = "d.floor_plan_id, fp.name AS floor_plan_name, fp.floor_id, \
     f.name AS floor_name, f.building_id, b.name AS building_name";

const PLACE_JOINS: &str = "LEFT JOIN floor_plans fp ON fp.id = d.floor_plan_id \
     LEFT JOIN floors f ON f.id = fp.floor_id \
     LEFT JOIN buildings b ON b.id = f.building_id";

/// How old an open session's last sighting may be: the pipeline writes it every round and
/// closes it after `devices.presence_gap_seconds` of silence (at most an hour), and closes
/// a previous run's at start.
const OPEN_SESSION_LAG: Duration = Duration::hours(1);

/// Gateways placed in a building (through their floor plan).
const IN_BUILDING: &str = "SELECT dd.id FROM devices dd \
     JOIN floor_plans pp ON pp.id = dd.floor_plan_id \
     JOIN floors ff ON ff.id = pp.floor_id WHERE ff.building_id = ";

enum Bind {
    Int(i64),
    Text(String),
}

/// A query text being built: each condition binds the next `$N`.
struct Conditions {
    sql: String,
    binds: Vec<Bind>,
    first: usize,
}

impl Conditions {
    fn new(sql: String, first: usize) -> Self {
        Conditions {
            sql,
            binds: Vec::new(),
            first,
        }
    }

    fn next(&self) -> usize {
        self.first + self.binds.len()
    }

    /// `AND <prefix>$N<suffix>` for a value that is set.
    fn int(&mut self, value: Option<i64>, prefix: &str, suffix: &str) {
        if let Some(v) = value {
            let _ = write!(self.sql, " AND {prefix}${}{suffix}", self.next());
            self.binds.push(Bind::Int(v));
        }
    }

    fn text(&mut self, value: Option<&str>, prefix: &str) {
        if let Some(v) = value {
            let _ = write!(self.sql, " AND {prefix}${}", self.next());
            self.binds.push(Bind::Text(v.to_string()));
        }
    }
}

/// `$query` with the conditions' values bound, in order.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
            };
        }
        query
    }};
}

/// Runs a window query on `$exec`: `$1` and `$2` are the window's bounds, then any further
/// `$bound`s, then the filters' values.
macro_rules! run_window {
    ($exec:expr, $row:ty, $conditions:expr, $from:expr, $to:expr $(, $bound:expr)*) => {{
        let Conditions { sql, binds, .. } = $conditions;
        let query = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql))
            .bind($from)
            .bind($to)
            $(.bind($bound))*;
        bind_all!(query, binds).fetch_all($exec).await?
    }};
}

/// [`run_window!`] for sessions read with `$columns`.
macro_rules! run_sessions {
    ($exec:expr, $columns:expr, $conditions:expr, $from:expr, $to:expr $(, $bound:expr)*) => {{
        match $columns {
            Columns::Joined => run_window!($exec, Session, $conditions, $from, $to $(, $bound)*),
            Columns::Person => {
                run_window!($exec, SessionOfPerson, $conditions, $from, $to $(, $bound)*)
                    .into_iter()
                    .map(Session::from)
                    .collect::<Vec<Session>>()
            }
        }
    }};
}

macro_rules! fetch_window {
    ($store:expr, $row:ty, $conditions:expr, $from:expr, $to:expr) => {{
        on_pool!($store, read, |pool| run_window!(
            pool,
            $row,
            $conditions,
            $from,
            $to
        ))
    }};
}

/// Sessions that overlap `[$1, $2]`.
const OVERLAP: &str = "s.started_at <= $2 AND s.ended_at >= $1";
/// Sessions not rolled up yet (open, or closed since the rollups' last pass).
const PENDING: &str = "s.rollup_state = 0 AND s.started_at <= $2 AND s.ended_at >= $1";
/// Sessions too long for the rollups.
const LONG: &str = "s.rollup_state = 2 AND s.started_at <= $2 AND s.ended_at >= $1";
/// Rolled-up sessions that end exactly at the window's start: inside it they are an
/// instant, which no rollup hour of the window holds. The other bound is compared through
/// `COALESCE` so that no index serves it: without statistics SQLite would otherwise read
/// every earlier session of a gateway or a tag by its start instead of looking the end up.
const ENDING_AT_FROM: &str = "s.rollup_state = 1 AND s.ended_at = $1 \
     AND COALESCE(s.started_at, s.ended_at) < $1 AND COALESCE(s.started_at, s.ended_at) <= $2";
/// Rolled-up sessions that start exactly at the window's end (an instant inside it).
const STARTING_AT_TO: &str =
    "s.rollup_state = 1 AND s.started_at = $2 AND COALESCE(s.ended_at, s.started_at) >= $1";
/// Rolled-up sessions that end inside an edge piece `[$1, $2]` of a window.
const ENDING_IN: &str = "s.rollup_state = 1 AND s.ended_at >= $1 AND s.ended_at <= $2";
/// Rolled-up sessions that start inside an edge piece `[$1, $2]` and end after it (the end
/// through `COALESCE`, so that the start's index serves).
const STARTING_IN: &str = "s.rollup_state = 1 AND s.started_at >= $1 AND s.started_at <= $2 \
     AND COALESCE(s.ended_at, s.started_at) > $2";

/// Rolled-up sessions that end inside an edge piece `[$1, $2]` of a window and start
/// before it (the start through `COALESCE`, so that the end's index serves).
const CROSSING_INTO: &str = "s.rollup_state = 1 AND s.ended_at >= $1 AND s.ended_at <= $2 \
     AND COALESCE(s.started_at, s.ended_at) < $1";
/// Rolled-up sessions that lie in a window's first partial hour `[$1, $2)`: they end before
/// its first whole hour `$2`.
const INSIDE_FIRST: &str = "s.rollup_state = 1 AND s.ended_at >= $1 AND s.ended_at < $2";
/// Rolled-up sessions that lie in a window's last partial hour `[$1, $2]`: they start in it.
const INSIDE_LAST: &str = "s.rollup_state = 1 AND s.started_at >= $1 AND s.started_at <= $2";

/// A session's own columns.
const SESSION_COLUMNS: &str = "s.id, s.device_id, s.tag_id, s.started_at, s.ended_at, \
     s.duration_seconds, s.samples_count, s.is_open";

/// What a report reads of each session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    /// The session, its person and its gateway's place.
    Joined,
    /// The session and its tag's person, without the names and the place (the summaries
    /// take them from lookups read once; occupancy and concurrency need neither). Each
    /// costs a lookup or two per session, more than the session's own row (BENCHMARKS.md,
    /// "Site-wide reports on partial hours").
    Person,
}

/// A session and its tag's person ([`Columns::Person`]).
#[derive(Debug, sqlx::FromRow)]
struct SessionOfPerson {
    #[sqlx(flatten)]
    session: PresenceSessionRead,
    person_id: Option<i64>,
}

impl From<SessionOfPerson> for Session {
    fn from(
        SessionOfPerson {
            session: s,
            person_id,
        }: SessionOfPerson,
    ) -> Session {
        Session {
            id: s.id,
            device_id: s.device_id,
            tag_id: s.tag_id,
            started_at: s.started_at,
            ended_at: s.ended_at,
            duration_seconds: s.duration_seconds,
            samples_count: s.samples_count,
            is_open: s.is_open,
            person_id,
            person_name: None,
            device_name: String::new(),
            device_mac_address: None,
            place: Place::default(),
        }
    }
}

/// The rows `from` (a table or a join, ending with the sessions as `s`) `WHERE` the
/// `condition` holds, as sessions with the `columns`.
fn sessions_where(columns: Columns, from: &str, condition: &str) -> String {
    match columns {
        Columns::Joined => format!(
            "SELECT {SESSION_COLUMNS}, t.person_id, p.full_name AS person_name, \
             d.name AS device_name, d.mac_address AS device_mac_address, {PLACE_COLUMNS} \
             FROM {from} \
             JOIN tags t ON t.id = s.tag_id \
             LEFT JOIN people p ON p.id = t.person_id \
             JOIN devices d ON d.id = s.device_id {PLACE_JOINS} \
             WHERE {condition}"
        ),
        Columns::Person => format!(
            "SELECT {SESSION_COLUMNS}, t.person_id FROM {from} \
             JOIN tags t ON t.id = s.tag_id WHERE {condition}"
        ),
    }
}

impl SessionFilter {
    /// Adds the filter's conditions to `c`, on the `tag_id` and `device_id` columns of
    /// the rows `of` (an alias and a dot, or nothing), the floor and the plan as `floor`
    /// and `plan` say (each the text before and after the value).
    fn add_to(&self, c: &mut Conditions, of: &str, floor: (&str, &str), plan: (&str, &str)) {
        c.int(self.device_id, &format!("{of}device_id = "), "");
        c.int(self.tag_id, &format!("{of}tag_id = "), "");
        c.int(
            self.person_id,
            &format!("{of}tag_id IN (SELECT id FROM tags WHERE person_id = "),
            ")",
        );
        c.int(
            self.group_id,
            &format!(
                "{of}tag_id IN (SELECT tt.id FROM tags tt JOIN person_group_memberships m \
                 ON m.person_id = tt.person_id WHERE m.group_id = "
            ),
            ")",
        );
        c.int(
            self.building_id,
            &format!("{of}device_id IN ({IN_BUILDING}"),
            ")",
        );
        c.int(self.floor_id, floor.0, floor.1);
        c.int(self.floor_plan_id, plan.0, plan.1);
    }
}

/// The sessions of `filter` that meet `window` (a condition on `$1` and `$2`).
fn session_query(window: &str, filter: &SessionFilter, columns: Columns) -> Conditions {
    session_query_by(window, filter, columns, "s.ended_at")
}

/// The same, in the order of `by`: the index that orders them is the one SQLite takes.
fn session_query_by(
    window: &str,
    filter: &SessionFilter,
    columns: Columns,
    by: &str,
) -> Conditions {
    let mut c = Conditions::new(sessions_where(columns, "presence_sessions s", window), 3);
    match columns {
        // The place is joined: its columns filter.
        Columns::Joined => filter.add_to(
            &mut c,
            "s.",
            ("fp.floor_id = ", ""),
            ("d.floor_plan_id = ", ""),
        ),
        Columns::Person => rollup_filter(&mut c, filter, "s."),
    }
    // By end: without statistics SQLite then reads the window through the end's index.
    let _ = write!(c.sql, " ORDER BY {by}, s.id");
    c
}

/// An hour of rollups of one tag at one gateway (or, summed over the window, all its hours:
/// `starts` then counts each session once), with the tag's person and the gateway's place.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RollupRow {
    pub hour: DateTime<Utc>,
    pub tag_id: i64,
    pub device_id: i64,
    pub dwell_us: i64,
    pub touches: i64,
    pub starts: i64,
    pub first_start: DateTime<Utc>,
    pub last_end: DateTime<Utc>,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub device_name: String,
    pub device_mac_address: Option<String>,
    #[sqlx(flatten)]
    pub place: Place,
}

/// An hour of one gateway, summed over its tags, with the tags present (decimal ids
/// separated by commas, possibly repeated).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GatewayHourRow {
    pub hour: DateTime<Utc>,
    pub device_id: i64,
    pub dwell_us: i64,
    pub touches: i64,
    pub starts: i64,
    pub first_start: DateTime<Utc>,
    pub last_end: DateTime<Utc>,
    pub tag_ids: String,
}

/// The sums of a tag (at one gateway, or at all: `device_id` 0) over the window, each
/// session counted once; its sessions' first start and last end unless read without them
/// ([`Read::Tags`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TotalsRow {
    pub tag_id: i64,
    pub device_id: i64,
    pub dwell_us: i64,
    pub sessions: i64,
    #[sqlx(default)]
    pub first_start: Option<DateTime<Utc>>,
    #[sqlx(default)]
    pub last_end: Option<DateTime<Utc>>,
}

/// Which rollups a report reads ([`super::rollups`] says which answers what).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Per hour, tag and gateway: by hour, or summed per tag and gateway over the window.
    Hours { by_hour: bool },
    /// Per hour and gateway, as [`GatewaySums`] says.
    GatewayHours(GatewaySums),
    /// Per tag over the window: its days, and the hours at the window's edges; without the
    /// first start and last end (the text `MIN` and `MAX` cost a third of the read, and the
    /// site's span is in the gateways' hours).
    Tags,
    /// Per tag and gateway over the window: their days, and the hours at the edges.
    TagGateways,
    /// The rolled-up sessions that lie wholly in a partial hour at the window's edge (a
    /// window with whole hours), summed per tag and gateway into
    /// [`PresenceRows::inside_edges`] instead of read whole into `edges`: they touch no
    /// whole hour, so nothing is taken off the rollups for them, and a site-wide week holds
    /// tens of thousands.
    InsideEdges,
}

/// How [`Read::GatewayHours`] reads the gateways' hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewaySums {
    /// Hour by hour, with the tags present.
    PerHour,
    /// Summed per gateway over the window, without the tags.
    PerGateway,
    /// Summed per gateway, with the hours' lists of tags joined into one: a row per
    /// gateway, where a row per hour costs more to hand over than its numbers do to add up.
    PerGatewayWithTags,
}

/// What [`Store::report_presence_rows`] read.
#[derive(Debug, Default)]
pub struct PresenceRows {
    pub pending: Vec<Session>,
    pub long: Vec<Session>,
    /// Rolled-up sessions read whole at the window's edges (one may be read twice).
    pub edges: Vec<Session>,
    pub rolled: Vec<RollupRow>,
    pub gateway_hours: Vec<GatewayHourRow>,
    pub tags: Vec<TotalsRow>,
    pub tag_gateways: Vec<TotalsRow>,
    /// [`Read::InsideEdges`]: per edge piece (its start), the sums of its sessions per tag
    /// and gateway, their dwell clipped to the window.
    pub inside_edges: Vec<(DateTime<Utc>, Vec<TotalsRow>)>,
}

/// A session as [`Read::InsideEdges`] reads it.
#[derive(Debug, sqlx::FromRow)]
struct EdgeSession {
    tag_id: i64,
    device_id: i64,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
}

/// The sessions of `filter` that meet `window` (a condition on `$1` and `$2`), their own
/// tag, gateway, start and end only, in the order of `by`.
fn edge_session_query(window: &str, filter: &SessionFilter, by: &str) -> Conditions {
    let mut c = Conditions::new(
        format!(
            "SELECT s.tag_id, s.device_id, s.started_at, s.ended_at \
             FROM presence_sessions s WHERE {window}"
        ),
        3,
    );
    rollup_filter(&mut c, filter, "s.");
    let _ = write!(c.sql, " ORDER BY {by}");
    c
}

/// `sessions` summed per tag and gateway, each counted once, its dwell clipped to
/// `[from, to]`.
fn sum_per_tag_and_gateway(
    sessions: Vec<EdgeSession>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<TotalsRow> {
    let mut sums: HashMap<(i64, i64), TotalsRow> = HashMap::new();
    for s in sessions {
        let dwell = super::buckets::micros(s.ended_at.min(to) - s.started_at.max(from));
        sums.entry((s.tag_id, s.device_id))
            .and_modify(|row| {
                row.dwell_us += dwell;
                row.sessions += 1;
                // Set by the insert below: never `None` here.
                row.first_start = row.first_start.map(|t| t.min(s.started_at));
                row.last_end = row.last_end.map(|t| t.max(s.ended_at));
            })
            .or_insert(TotalsRow {
                tag_id: s.tag_id,
                device_id: s.device_id,
                dwell_us: dwell,
                sessions: 1,
                first_start: Some(s.started_at),
                last_end: Some(s.ended_at),
            });
    }
    sums.into_values().collect()
}

/// The filter's conditions on the tag and the gateway of a rollup row (`of`: its alias and
/// a dot, or nothing).
fn rollup_filter(c: &mut Conditions, filter: &SessionFilter, of: &str) {
    filter.add_to(
        c,
        of,
        (
            &format!(
                "{of}device_id IN (SELECT dd.id FROM devices dd JOIN floor_plans pp \
                 ON pp.id = dd.floor_plan_id WHERE pp.floor_id = "
            ),
            ")",
        ),
        (
            &format!("{of}device_id IN (SELECT dd.id FROM devices dd WHERE dd.floor_plan_id = "),
            ")",
        ),
    );
}

/// Rolled-up sessions that cover an edge piece `[$1, $2]` of a window and more on both
/// sides (they start before it and end after it). No index on the sessions finds them (a
/// start or an end out of the piece, up to 12 hours away), but each one touches the hour
/// `$3` that holds `$2`: its tag and gateway have a row there that started before `$1`,
/// and it ends no later than that row's last end. So the rows of that hour are read first
/// (`CROSS JOIN` keeps that order on SQLite), then each one's sessions through the
/// `(tag_id, ended_at)` index (the gateway and the start through `COALESCE`, so that the
/// key's index, which has no end, does not serve; the state through `+ 0`, so that the
/// rolled-up sessions' indexes, which would read 12 hours of ends for each row, do not
/// either). `$4` bounds the end for a planner that reads the sessions first (PostgreSQL's
/// generic plans): a rolled-up session lasts less than 12 hours, so one that starts before
/// `$1` ends before `$1` + 12 hours. The sessions are found first, on their own (a
/// materialised `WITH`), then joined to their tag, person and place: with those joins in
/// the same `FROM`, PostgreSQL (past its `join_collapse_limit`) kept the rollup rows for
/// last and read 12 hours of ends instead (85 ms at 10 million for none found).
fn spanning_query(filter: &SessionFilter, columns: Columns) -> Conditions {
    let mut c = Conditions::new(String::new(), 5);
    rollup_filter(&mut c, filter, "r.");
    let conditions = std::mem::take(&mut c.sql);
    c.sql = format!(
        "WITH spanning AS MATERIALIZED (SELECT {SESSION_COLUMNS} \
         FROM presence_rollups r CROSS JOIN presence_sessions s \
         WHERE r.hour = $3 AND r.first_start < $1{conditions} \
         AND s.tag_id = r.tag_id AND s.ended_at > $2 AND s.ended_at <= r.last_end \
         AND s.ended_at < $4 \
         AND COALESCE(s.device_id, r.device_id) = r.device_id \
         AND COALESCE(s.started_at, s.ended_at) < $1 AND s.rollup_state + 0 = 1) {}",
        sessions_where(columns, "spanning s", "TRUE"),
    );
    c
}

/// What a window reads beside the rollups of its whole hours, at each edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// The window starts on a whole hour: the sessions that end exactly there.
    EndingAt,
    /// The window ends on a whole hour: the sessions that start exactly there.
    StartingAt,
    /// The part of the window out of its whole hours, `[from, to]`: every rolled-up
    /// session that touches it, read whole.
    Piece(DateTime<Utc>, DateTime<Utc>),
}

/// The edges of the window `[from, to]` whose whole hours are `[first, end)`.
fn edges(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Edge> {
    if first == end {
        return vec![Edge::Piece(from, to)];
    }
    let start = if from == first {
        Edge::EndingAt
    } else {
        Edge::Piece(from, first)
    };
    let stop = if to == end {
        Edge::StartingAt
    } else {
        Edge::Piece(end, to)
    };
    vec![start, stop]
}

/// The gateway hours `[$1, $2)` of the gateways `filter` keeps (it names no tag), with
/// their tags; or summed per gateway, a session counted once (`touches` and `starts` both
/// the window's count), with their lists joined or without them.
fn gateway_hours_query(sums: GatewaySums, filter: &SessionFilter) -> Conditions {
    let tag_ids = match sums {
        GatewaySums::PerHour => None,
        GatewaySums::PerGateway => Some("''"),
        GatewaySums::PerGatewayWithTags => Some("string_agg(tag_ids, ',')"),
    };
    let sql = match tag_ids {
        None => "SELECT hour, device_id, dwell_us, touches, starts, first_start, last_end, \
                 tag_ids FROM presence_gateway_hours WHERE hour >= $1 AND hour < $2"
            .to_string(),
        Some(tag_ids) => format!(
            "SELECT MIN(hour) AS hour, device_id, CAST(SUM(dwell_us) AS BIGINT) AS dwell_us, \
             CAST(SUM(CASE WHEN hour = $1 THEN touches ELSE starts END) AS BIGINT) AS touches, \
             CAST(SUM(CASE WHEN hour = $1 THEN touches ELSE starts END) AS BIGINT) AS starts, \
             MIN(first_start) AS first_start, MAX(last_end) AS last_end, {tag_ids} AS tag_ids \
             FROM presence_gateway_hours WHERE hour >= $1 AND hour < $2"
        ),
    };
    let mut c = Conditions::new(sql, 3);
    rollup_filter(&mut c, filter, "");
    if tag_ids.is_some() {
        c.sql.push_str(" GROUP BY device_id");
    }
    c
}

/// The sums per tag (`by_gateway`: per tag and gateway) over the window `[$1, $2)` of
/// whole hours: the whole UTC days `[$3, $4)` from the day tables, the hours before and
/// after them from the hour tables. A session is counted once: by touch in the window's
/// first hour or day, by start after it. With the sessions' span per tag and gateway only:
/// a group's summary shows it per gateway, the overview only the site's.
fn totals_query(by_gateway: bool, filter: &SessionFilter) -> Conditions {
    let (days, hours, device, span, span_sums) = if by_gateway {
        (
            "presence_tag_gateway_days",
            "presence_rollups",
            "device_id",
            ", first_start, last_end",
            ", MIN(first_start) AS first_start, MAX(last_end) AS last_end",
        )
    } else {
        (
            "presence_tag_days",
            "presence_tag_hours",
            "CAST(0 AS BIGINT)",
            "",
            "",
        )
    };
    let mut c = Conditions::new(String::new(), 5);
    rollup_filter(&mut c, filter, "");
    // Each part takes the same conditions, on the same `$N`.
    let conditions = std::mem::take(&mut c.sql);
    let part = |table: &str, period: &str, from: &str, to: &str| {
        format!(
            "SELECT {period} AS at, tag_id, {device} AS device_id, dwell_us, touches, \
             starts{span} FROM {table} \
             WHERE {period} >= {from} AND {period} < {to}{conditions}"
        )
    };
    c.sql = format!(
        "SELECT tag_id, device_id, CAST(SUM(dwell_us) AS BIGINT) AS dwell_us, \
         CAST(SUM(CASE WHEN at = $1 THEN touches ELSE starts END) AS BIGINT) AS sessions\
         {span_sums} FROM ({} UNION ALL {} UNION ALL {}) u GROUP BY tag_id, device_id",
        part(days, "day", "$3", "$4"),
        part(hours, "hour", "$1", "$3"),
        part(hours, "hour", "$4", "$2"),
    );
    c
}

/// The whole UTC days of `[from, to)`, as `[first, end)` (both `to` when there is none).
fn whole_days(from: DateTime<Utc>, to: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let first = super::rollups::day_of(from - Duration::microseconds(1)) + Duration::days(1);
    let end = super::rollups::day_of(to);
    if first < end { (first, end) } else { (to, to) }
}

/// The rollup rows of the hours `[$1, $2)` that `filter` keeps, hour by hour or summed per
/// tag and gateway (a session counted once: in the window's first hour by touch, after it
/// by start). Filtered in the inner query, through the rollups' indexes.
fn rollup_query(by_hour: bool, filter: &SessionFilter) -> Conditions {
    let inner = if by_hour {
        "SELECT hour, tag_id, device_id, dwell_us, touches, starts, first_start, last_end \
         FROM presence_rollups WHERE hour >= $1 AND hour < $2"
    } else {
        "SELECT MIN(hour) AS hour, tag_id, device_id, \
         CAST(SUM(dwell_us) AS BIGINT) AS dwell_us, CAST(SUM(touches) AS BIGINT) AS touches, \
         CAST(SUM(CASE WHEN hour = $1 THEN touches ELSE starts END) AS BIGINT) AS starts, \
         MIN(first_start) AS first_start, MAX(last_end) AS last_end \
         FROM presence_rollups WHERE hour >= $1 AND hour < $2"
    };
    let mut c = Conditions::new(inner.to_string(), 3);
    rollup_filter(&mut c, filter, "");
    if !by_hour {
        c.sql.push_str(" GROUP BY tag_id, device_id");
    }
    c.sql = format!(
        "SELECT r.hour, r.tag_id, r.device_id, r.dwell_us, r.touches, r.starts, \
         r.first_start, r.last_end, t.person_id, p.full_name AS person_name, \
         d.name AS device_name, d.mac_address AS device_mac_address, {PLACE_COLUMNS} \
         FROM ({}) r JOIN tags t ON t.id = r.tag_id \
         LEFT JOIN people p ON p.id = t.person_id \
         JOIN devices d ON d.id = r.device_id {PLACE_JOINS}",
        c.sql
    );
    c
}

impl Store {
    /// The sessions that may overlap `[from, to]`, by end: those that started
    /// before its end and were last seen after its start, or shortly before it while still
    /// open (an open session lasts until now; the caller clips), with the `columns`.
    pub async fn report_sessions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: &SessionFilter,
        columns: Columns,
    ) -> Result<Vec<Session>> {
        let c = session_query(OVERLAP, filter, columns);
        let from = from - OPEN_SESSION_LAG;
        Ok(on_pool!(self, read, |pool| run_sessions!(
            pool, columns, c, from, to
        )))
    }

    /// What a report of the window `[from, to]` reads when the rollups answer
    /// ([`super::rollups`]), in one snapshot (a session rolled up meanwhile is counted
    /// once): the rollup rows of its whole UTC hours, the rolled-up sessions at its edges,
    /// and the sessions not rolled up, each session with the `columns`.
    pub async fn report_presence_rows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: &SessionFilter,
        reads: &[Read],
        columns: Columns,
    ) -> Result<PresenceRows> {
        let repeatable = matches!(self, Store::Postgres(_));
        let lagged = from - OPEN_SESSION_LAG;
        let (first, end) = super::rollups::whole_hours(from, to);
        let edges = edges(from, to, first, end);
        let sum_inside = reads.contains(&Read::InsideEdges) && first < end;
        Ok(on_pool!(self, read, |pool| {
            let mut tx = pool.begin().await?;
            if repeatable {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let mut rows = PresenceRows {
                pending: run_sessions!(
                    &mut *tx,
                    columns,
                    session_query(PENDING, filter, columns),
                    lagged,
                    to
                ),
                long: run_sessions!(
                    &mut *tx,
                    columns,
                    session_query(LONG, filter, columns),
                    from,
                    to
                ),
                ..PresenceRows::default()
            };
            for edge in &edges {
                match *edge {
                    Edge::EndingAt => rows.edges.extend(run_sessions!(
                        &mut *tx,
                        columns,
                        session_query(ENDING_AT_FROM, filter, columns),
                        first,
                        end
                    )),
                    Edge::StartingAt => rows.edges.extend(run_sessions!(
                        &mut *tx,
                        columns,
                        session_query_by(STARTING_AT_TO, filter, columns, "s.started_at"),
                        first,
                        end
                    )),
                    Edge::Piece(a, b) => {
                        // In a partial hour of a window with whole hours, the sessions
                        // lying wholly in it are summed: in the first, those that end
                        // before its end; in the last, those that start in it.
                        let (first_hour, last_hour) =
                            (sum_inside && b == first, sum_inside && b != first);
                        if sum_inside {
                            let (inside, by) = if first_hour {
                                (INSIDE_FIRST, "s.ended_at")
                            } else {
                                (INSIDE_LAST, "s.started_at")
                            };
                            let sessions = run_window!(
                                &mut *tx,
                                EdgeSession,
                                edge_session_query(inside, filter, by),
                                a,
                                b
                            );
                            rows.inside_edges
                                .push((a, sum_per_tag_and_gateway(sessions, from, to)));
                        }
                        // The others, whole: those ending in the piece (in the first
                        // partial hour, at its end only; in the last, those that started
                        // before it)...
                        let (ending, since) = match (first_hour, last_hour) {
                            (true, _) => (ENDING_IN, b),
                            (_, true) => (CROSSING_INTO, a),
                            _ => (ENDING_IN, a),
                        };
                        rows.edges.extend(run_sessions!(
                            &mut *tx,
                            columns,
                            session_query(ending, filter, columns),
                            since,
                            b
                        ));
                        // ... those starting in it and ending after it ...
                        if !last_hour {
                            rows.edges.extend(run_sessions!(
                                &mut *tx,
                                columns,
                                session_query_by(STARTING_IN, filter, columns, "s.started_at"),
                                a,
                                b
                            ));
                        }
                        // ... and those covering it.
                        rows.edges.extend(run_sessions!(
                            &mut *tx,
                            columns,
                            spanning_query(filter, columns),
                            a,
                            b,
                            super::rollups::hour_of(b),
                            a + Duration::seconds(super::rollups::LONG_SECONDS)
                        ));
                    }
                }
            }
            for read in reads {
                match *read {
                    Read::Hours { by_hour } => {
                        rows.rolled = run_window!(
                            &mut *tx,
                            RollupRow,
                            rollup_query(by_hour, filter),
                            first,
                            end
                        );
                    }
                    Read::GatewayHours(sums) => {
                        rows.gateway_hours = run_window!(
                            &mut *tx,
                            GatewayHourRow,
                            gateway_hours_query(sums, filter),
                            first,
                            end
                        );
                    }
                    Read::InsideEdges => {}
                    Read::Tags | Read::TagGateways => {
                        // The whole hours' bounds, then their whole days (`totals_query`).
                        let (day, last_day) = whole_days(first, end);
                        let by_gateway = *read == Read::TagGateways;
                        let totals = run_window!(
                            &mut *tx,
                            TotalsRow,
                            totals_query(by_gateway, filter),
                            first,
                            end,
                            day,
                            last_day
                        );
                        if by_gateway {
                            rows.tag_gateways = totals;
                        } else {
                            rows.tags = totals;
                        }
                    }
                }
            }
            tx.commit().await?;
            rows
        }))
    }

    /// The alert events that started within `[from, to]`, newest first.
    pub async fn report_alerts(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: &AlertFilter,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT e.id, e.event_type, e.device_id, d.name AS device_name, e.tag_id, \
             e.started_at, e.ended_at, {PLACE_COLUMNS} \
             FROM alert_events e LEFT JOIN devices d ON d.id = e.device_id {PLACE_JOINS} \
             WHERE e.started_at >= $1 AND e.started_at <= $2"
        );
        let mut c = Conditions::new(sql, 3);
        c.int(filter.person_id, "e.person_id = ", "");
        c.int(filter.device_id, "e.device_id = ", "");
        c.int(
            filter.building_id,
            &format!("e.device_id IN ({IN_BUILDING}"),
            ")",
        );
        c.text(filter.event_type.as_deref(), "e.event_type = ");
        c.sql.push_str(" ORDER BY e.started_at DESC, e.id DESC");
        Ok(fetch_window!(self, Alert, c, from, to))
    }

    /// Sessions that lie within the bounds given (`started_at ≥ from`, `ended_at ≤ to`),
    /// newest first, one page.
    pub async fn dwell_sessions(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        device_id: Option<i64>,
        tag_id: Option<i64>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Session>> {
        let mut c = Conditions::new(
            sessions_where(Columns::Joined, "presence_sessions s", "TRUE"),
            3,
        );
        c.int(device_id, "s.device_id = ", "");
        c.int(tag_id, "s.tag_id = ", "");
        // The bounds are bound as text-free timestamps below, after the paging.
        let n = c.next();
        if from.is_some() {
            let _ = write!(c.sql, " AND s.started_at >= ${n}");
        }
        if to.is_some() {
            let _ = write!(
                c.sql,
                " AND s.ended_at <= ${}",
                n + usize::from(from.is_some())
            );
        }
        c.sql
            .push_str(" ORDER BY s.started_at DESC, s.id DESC LIMIT $1 OFFSET $2");
        let Conditions { sql, binds, .. } = c;
        Ok(on_pool!(self, read, |pool| {
            let query = sqlx::query_as::<_, Session>(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .bind(skip);
            let mut query = bind_all!(query, binds);
            if let Some(from) = from {
                query = query.bind(from);
            }
            if let Some(to) = to {
                query = query.bind(to);
            }
            query.fetch_all(pool).await?
        }))
    }

    /// Each tag's person and the person's name, as (tag id, person id, name).
    pub async fn report_tag_people(&self) -> Result<Vec<(i64, Option<i64>, Option<String>)>> {
        const SQL: &str = "SELECT t.id, t.person_id, p.full_name FROM tags t \
             LEFT JOIN people p ON p.id = t.person_id";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }

    /// Every gateway's name, address and place.
    pub async fn report_gateways(&self) -> Result<HashMap<i64, Gateway>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            name: String,
            mac_address: Option<String>,
            #[sqlx(flatten)]
            place: Place,
        }
        let sql = format!(
            "SELECT d.id, d.name, d.mac_address, {PLACE_COLUMNS} FROM devices d {PLACE_JOINS}"
        );
        let rows: Vec<Row> = on_pool!(self, read, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|r| {
                let gateway = Gateway {
                    name: r.name,
                    mac_address: r.mac_address,
                    place: r.place,
                };
                (r.id, gateway)
            })
            .collect())
    }

    /// Each person's groups, as (person id, group id, group name).
    pub async fn report_group_memberships(&self) -> Result<Vec<(i64, i64, String)>> {
        const SQL: &str = "SELECT m.person_id, g.id, g.name FROM person_group_memberships m \
             JOIN person_groups g ON g.id = m.group_id ORDER BY g.id";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which of the rolled-up sessions' indexes a read at a window's edge goes along.
    #[derive(Clone, Copy)]
    enum Along {
        End,
        Start,
    }

    impl Along {
        fn sqlite_index(self) -> &'static str {
            match self {
                Along::End => "ix_presence_sessions_rolled_ended",
                Along::Start => "ix_presence_sessions_rolled_started",
            }
        }

        /// On PostgreSQL the sessions' end index holds every column the reads take
        /// (migration 0023, which dropped the rolled-up one).
        fn postgres_index(self) -> &'static str {
            match self {
                Along::End => "ix_presence_sessions_ended_at",
                Along::Start => "ix_presence_sessions_rolled_started",
            }
        }
    }

    /// The reads of rolled-up sessions at a window's partial edges, each with the index it
    /// should go along.
    fn edge_reads() -> [(Conditions, Along); 5] {
        let everyone = SessionFilter::default();
        [
            (
                edge_session_query(INSIDE_FIRST, &everyone, "s.ended_at"),
                Along::End,
            ),
            (
                edge_session_query(INSIDE_LAST, &everyone, "s.started_at"),
                Along::Start,
            ),
            (
                session_query(ENDING_IN, &everyone, Columns::Person),
                Along::End,
            ),
            (
                session_query(CROSSING_INTO, &everyone, Columns::Person),
                Along::End,
            ),
            (
                session_query_by(STARTING_IN, &everyone, Columns::Person, "s.started_at"),
                Along::Start,
            ),
        ]
    }

    /// The rolled-up sessions at a window's partial edges are read along the rolled-up
    /// sessions' indexes, from the index alone (no lookup of each row in the table).
    #[tokio::test]
    async fn edge_sessions_are_read_from_the_rolled_up_indexes() {
        for (query, along) in edge_reads() {
            let plan = crate::store::sqlite_plan(&query.sql).await;
            let index = along.sqlite_index();
            let covering = format!("SEARCH s USING COVERING INDEX {index} (");
            assert!(plan[0].starts_with(&covering), "{index}: {plan:?}");
        }
    }

    /// PostgreSQL, among 20,000 rolled-up sessions, reads them along an index whose first
    /// column is the period's: by start the rolled-up sessions' (with the state first, as
    /// on SQLite, it never chose it: the partial index's predicate takes `rollup_state = 1`
    /// out of its conditions), by end the sessions' end index.
    #[tokio::test]
    async fn postgres_reads_edge_sessions_along_the_rolled_up_indexes() {
        let setup = "INSERT INTO devices (id, name, created_at, updated_at) \
             VALUES (1, 'g', now(), now()); \
             INSERT INTO tags (id, mac_address, created_at, updated_at) \
             VALUES (1, 'AABBCCDDEE01', now(), now()); \
             INSERT INTO presence_sessions (device_id, tag_id, started_at, ended_at, \
             duration_seconds, samples_count, is_open, rollup_state) \
             SELECT 1, 1, TIMESTAMPTZ '2026-01-01' + n * INTERVAL '1 minute', \
             TIMESTAMPTZ '2026-01-01' + n * INTERVAL '1 minute' + INTERVAL '30 seconds', \
             30, 3, FALSE, 1 FROM generate_series(1, 20000) n";
        let reads = edge_reads();
        let statements: Vec<&str> = reads.iter().map(|(query, _)| query.sql.as_str()).collect();
        let Some(plans) = crate::store::postgres_plans(setup, &statements, 2).await else {
            return;
        };
        for ((_, along), plan) in reads.iter().zip(plans) {
            let index = along.postgres_index();
            let read = format!(" using {index} on presence_sessions s");
            assert!(plan.contains(&read), "{index}: {plan}");
        }
    }

    /// The sessions covering an edge piece are looked up by tag and end for each rollup
    /// row of the piece's hour, whatever the filter: not along the rolled-up sessions'
    /// indexes, which would read 12 hours of sessions for each row.
    #[tokio::test]
    async fn spanning_sessions_are_read_by_tag_and_end() {
        let filters = [
            SessionFilter::default(),
            SessionFilter {
                device_id: Some(1),
                ..Default::default()
            },
            SessionFilter {
                building_id: Some(1),
                ..Default::default()
            },
        ];
        for filter in filters {
            for columns in [Columns::Person, Columns::Joined] {
                let plan = crate::store::sqlite_plan(&spanning_query(&filter, columns).sql).await;
                let sessions = plan.iter().find(|step| step.starts_with("SEARCH s "));
                assert!(
                    sessions.is_some_and(|step| step
                        .starts_with("SEARCH s USING INDEX ix_presence_sessions_tag_ended (")),
                    "{filter:?} {columns:?}: {plan:?}"
                );
            }
        }
    }
}
