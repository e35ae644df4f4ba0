//! Presence rollups: the reports of a long window read hours of sums instead of every
//! session (issue 17: at 10 million sessions a week holds more than two million).
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
//! The reports that list no hours (overview, summaries, usage) have the rows summed per tag
//! and gateway by the database. A week of a busy 2,000-tag site is still one or two million
//! rows (a tag touches a few gateways an hour), too many for the site-wide reports to answer
//! in 200 ms (BENCHMARKS.md, "Reports at 10 million sessions"); those want coarser rollups.
//!
//! **What stays on the sessions.** Open sessions and sessions closed since the last pass
//! (`rollup_state = 0`), and sessions of 12 hours or more (`rollup_state = 2`: one may cover
//! the same hour of two days, which a count per hour of the day must count once) are read
//! whole beside the rollups; they are few. So are the two instants a window's edge makes of
//! a rolled-up session (one that ends exactly at its start, or starts exactly at its end).
//!
//! **When the rollups answer** ([`shape`]): the window starts and ends on whole UTC hours
//! and holds at least one; it begins within the rollups' retention; there is no
//! `min_duration_seconds` (a rollup cannot tell a session's full length); every bucket of
//! the report (hours, days, … in the report's time zone) begins on a whole UTC hour (zones
//! with whole-hour offsets); and, for hour-of-day and day-of-week reports, two buckets with
//! the same label are at least 12 hours apart (not so in the hour a clock goes back twice).
//! Otherwise the report reads the sessions of the window, as before: the same numbers,
//! slower. Timelines, occupancy (its percentiles are of each visit) and concurrency always
//! read sessions, of one person or one gateway, through the `(tag_id, ended_at)` and
//! `(device_id, ended_at)` indexes.
//!
//! **Maintenance.** A pass ([`Store::roll_up_sessions`]) claims closed sessions not rolled
//! up (`rollup_state` 0 → 1, or 2 for long ones) and adds their hours to the rollups in the
//! same transaction, so a pass interrupted by a crash leaves nothing half done, and one that
//! runs again (after a restart, beside another) finds nothing to add twice. The job runs a
//! pass every `reports.rollup_interval_seconds` and deletes rollups older than
//! `reports.rollup_retention_days`; a report whose window starts before that horizon reads
//! the sessions. A closed session that a late write lengthens keeps its rolled-up length.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::Window;
use super::buckets::{self, Granularity};
use super::presence::{Rolled, Visit, visits};
use super::store::{PresenceRows, RollupRow, Session, SessionFilter};
use crate::store::{Result, Store, on_pool};

/// Sessions at least this long stay out of the rollups.
pub const LONG_SECONDS: i64 = 12 * 3600;
/// Sessions claimed per transaction.
const BATCH: i64 = 5000;
/// Rollup rows per statement (8 values each).
const ROWS_PER_STATEMENT: usize = 1000;

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

/// Whether (and how) the rollups answer for `w` (the rules are in the module's doc).
/// `retention_days`: the rollups' (0: kept for ever).
pub fn shape(w: &Window, need: Need, retention_days: u32) -> Option<Shape> {
    if !whole_hour(w.from) || !whole_hour(w.to) || w.to - w.from < Duration::hours(1) {
        return None;
    }
    if retention_days > 0 && w.from < w.now - Duration::days(i64::from(retention_days)) {
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
    let rows = store
        .report_presence_rows(w.from, w.to, filter, shape == Shape::Hours)
        .await?;
    Ok(combine(w, rows, shape))
}

fn combine(w: &Window, rows: PresenceRows, shape: Shape) -> Vec<Visit> {
    let PresenceRows {
        mut pending,
        long,
        ending_at_from,
        starting_at_to,
        rolled,
    } = rows;
    pending.extend(long);
    let mut out = visits(w, pending, None);
    out.extend(rolled.into_iter().map(|row| {
        let hour = if shape == Shape::Totals {
            w.from
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
    for s in ending_at_from {
        out.push(instant(w, s, w.from, 0, 1));
    }
    for s in starting_at_to {
        out.push(instant(w, s, w.to, 1, 0));
    }
    out
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
            window_weight: starts + if hour == w.from { continues } else { 0 },
        }),
    }
}

/// A rolled-up session that meets the window only at one of its edges: no dwell, counted
/// in the hour that holds that edge.
fn instant(w: &Window, s: Session, at: DateTime<Utc>, starts: i64, continues: i64) -> Visit {
    let row = RollupRow {
        hour: at,
        tag_id: s.tag_id,
        device_id: s.device_id,
        dwell_us: 0,
        touches: starts + continues,
        starts,
        first_start: s.started_at,
        last_end: s.ended_at,
        person_id: s.person_id,
        person_name: s.person_name,
        device_name: s.device_name,
        device_mac_address: s.device_mac_address,
        place: s.place,
    };
    rolled_visit(w, row, at, continues)
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

/// The sums of one (hour, tag, gateway).
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub dwell_us: i64,
    pub touches: i64,
    pub starts: i64,
    pub first_start: DateTime<Utc>,
    pub last_end: DateTime<Utc>,
}

/// The rollup rows, by (hour, tag, gateway), of closed sessions: each short session's hours,
/// spread as the reports spread a session over hour buckets (an instant touches the hour
/// that holds it). The benchmark's generator fills its rollups with this too.
pub fn cells(claimed: &[ClosedSession]) -> BTreeMap<(DateTime<Utc>, i64, i64), Cell> {
    let mut out: BTreeMap<(DateTime<Utc>, i64, i64), Cell> = BTreeMap::new();
    for s in claimed.iter().filter(|s| s.duration_seconds < LONG_SECONDS) {
        let hours = buckets::buckets(Tz::UTC, Granularity::Hour, s.started_at, s.ended_at);
        for (n, (i, dwell)) in buckets::spread(&hours, s.started_at, s.ended_at).enumerate() {
            let starts = i64::from(n == 0);
            out.entry((hours[i].start, s.tag_id, s.device_id))
                .and_modify(|c| {
                    c.dwell_us += dwell;
                    c.touches += 1;
                    c.starts += starts;
                    c.first_start = c.first_start.min(s.started_at);
                    c.last_end = c.last_end.max(s.ended_at);
                })
                .or_insert(Cell {
                    dwell_us: dwell,
                    touches: 1,
                    starts,
                    first_start: s.started_at,
                    last_end: s.ended_at,
                });
        }
    }
    out
}

/// Claims closed sessions not rolled up yet; long ones are only marked.
fn claim_sql() -> String {
    format!(
        "UPDATE presence_sessions \
         SET rollup_state = CASE WHEN duration_seconds >= {LONG_SECONDS} THEN 2 ELSE 1 END \
         WHERE rollup_state = 0 AND is_open = FALSE AND id IN (\
         SELECT id FROM presence_sessions WHERE rollup_state = 0 AND is_open = FALSE LIMIT $1) \
         RETURNING tag_id, device_id, started_at, ended_at, duration_seconds"
    )
}

/// Adds `rows` rows to the rollups (`?` on SQLite: its `$N` are looked up linearly).
fn upsert_sql(rows: usize, numbered: bool) -> String {
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=8)
                .map(|c| {
                    if numbered {
                        format!("${}", r * 8 + c)
                    } else {
                        "?".into()
                    }
                })
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO presence_rollups (hour, tag_id, device_id, dwell_us, touches, starts, \
         first_start, last_end) VALUES {} \
         ON CONFLICT (hour, tag_id, device_id) DO UPDATE SET \
         dwell_us = presence_rollups.dwell_us + excluded.dwell_us, \
         touches = presence_rollups.touches + excluded.touches, \
         starts = presence_rollups.starts + excluded.starts, \
         first_start = CASE WHEN excluded.first_start < presence_rollups.first_start \
             THEN excluded.first_start ELSE presence_rollups.first_start END, \
         last_end = CASE WHEN excluded.last_end > presence_rollups.last_end \
             THEN excluded.last_end ELSE presence_rollups.last_end END",
        values.join(", ")
    )
}

impl Store {
    /// One pass over at most `limit` closed sessions not rolled up yet, in one
    /// transaction; returns how many were claimed.
    pub async fn roll_up_sessions(&self, limit: i64) -> Result<usize> {
        let numbered = matches!(self, Store::Postgres(_));
        let claim = claim_sql();
        Ok(on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let claimed: Vec<ClosedSession> = sqlx::query_as(sqlx::AssertSqlSafe(claim.as_str()))
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let cells: Vec<_> = cells(&claimed).into_iter().collect();
            for chunk in cells.chunks(ROWS_PER_STATEMENT) {
                let sql = upsert_sql(chunk.len(), numbered);
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for ((hour, tag, device), c) in chunk {
                    query = query
                        .bind(*hour)
                        .bind(*tag)
                        .bind(*device)
                        .bind(c.dwell_us)
                        .bind(c.touches)
                        .bind(c.starts)
                        .bind(c.first_start)
                        .bind(c.last_end);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            claimed.len()
        }))
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

    /// Deletes the rollups of the hours before `before`.
    pub async fn delete_rollups_before(&self, before: DateTime<Utc>) -> Result<u64> {
        const SQL: &str = "DELETE FROM presence_rollups WHERE hour < $1";
        Ok(on_pool!(self, write, |pool| sqlx::query(SQL)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()))
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
