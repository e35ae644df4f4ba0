//! What the reports read: presence sessions and alert events of a window, each with its
//! person and its gateway's place (floor plan → floor → building), filtered in SQL through
//! the indexes (by time, gateway, tag). One SQL text serves both engines: the filters a
//! request uses are appended in the same order on either.

use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};

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

macro_rules! fetch_window {
    ($store:expr, $row:ty, $conditions:expr, $from:expr, $to:expr) => {{
        let Conditions { sql, binds, .. } = $conditions;
        on_pool!($store, read, |pool| {
            let mut query = sqlx::query_as::<_, $row>(sqlx::AssertSqlSafe(sql))
                .bind($from)
                .bind($to);
            for bind in binds {
                query = match bind {
                    Bind::Int(v) => query.bind(v),
                    Bind::Text(v) => query.bind(v),
                };
            }
            query.fetch_all(pool).await?
        })
    }};
}

impl Store {
    /// The sessions that may overlap `[from, to]`, by end: those that started
    /// before its end and were last seen after its start, or shortly before it while still
    /// open (an open session lasts until now; the caller clips).
    pub async fn report_sessions(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        filter: &SessionFilter,
    ) -> Result<Vec<Session>> {
        let from = from - OPEN_SESSION_LAG;
        let sql = format!(
            "SELECT s.id, s.device_id, s.tag_id, s.started_at, s.ended_at, s.duration_seconds, \
             s.samples_count, s.is_open, t.person_id, p.full_name AS person_name, \
             d.name AS device_name, d.mac_address AS device_mac_address, {PLACE_COLUMNS} \
             FROM presence_sessions s \
             JOIN tags t ON t.id = s.tag_id \
             LEFT JOIN people p ON p.id = t.person_id \
             JOIN devices d ON d.id = s.device_id {PLACE_JOINS} \
             WHERE s.started_at <= $2 AND s.ended_at >= $1"
        );
        let mut c = Conditions::new(sql, 3);
        c.int(filter.device_id, "s.device_id = ", "");
        c.int(filter.tag_id, "s.tag_id = ", "");
        c.int(
            filter.person_id,
            "s.tag_id IN (SELECT id FROM tags WHERE person_id = ",
            ")",
        );
        c.int(
            filter.group_id,
            "s.tag_id IN (SELECT tt.id FROM tags tt JOIN person_group_memberships m \
             ON m.person_id = tt.person_id WHERE m.group_id = ",
            ")",
        );
        c.int(
            filter.building_id,
            &format!("s.device_id IN ({IN_BUILDING}"),
            ")",
        );
        c.int(filter.floor_id, "fp.floor_id = ", "");
        c.int(filter.floor_plan_id, "d.floor_plan_id = ", "");
        // By end: without statistics SQLite then reads the window through the end's index.
        c.sql.push_str(" ORDER BY s.ended_at, s.id");
        Ok(fetch_window!(self, Session, c, from, to))
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
        let sql = format!(
            "SELECT s.id, s.device_id, s.tag_id, s.started_at, s.ended_at, s.duration_seconds, \
             s.samples_count, s.is_open, t.person_id, p.full_name AS person_name, \
             d.name AS device_name, d.mac_address AS device_mac_address, {PLACE_COLUMNS} \
             FROM presence_sessions s \
             JOIN tags t ON t.id = s.tag_id \
             LEFT JOIN people p ON p.id = t.person_id \
             JOIN devices d ON d.id = s.device_id {PLACE_JOINS} \
             WHERE TRUE"
        );
        let mut c = Conditions::new(sql, 3);
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
            let mut query = sqlx::query_as::<_, Session>(sqlx::AssertSqlSafe(sql))
                .bind(limit)
                .bind(skip);
            for bind in binds {
                query = match bind {
                    Bind::Int(v) => query.bind(v),
                    Bind::Text(v) => query.bind(v),
                };
            }
            if let Some(from) = from {
                query = query.bind(from);
            }
            if let Some(to) = to {
                query = query.bind(to);
            }
            query.fetch_all(pool).await?
        }))
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
