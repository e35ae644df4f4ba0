//! The 19 reports of `/api/v1/reports/*`: presence (dwell, visits, occupancy) from the
//! sessions the pipeline materialises, and alert counts from the alert events.
//!
//! The database selects what a window needs (by time, gateway and tag, through their
//! indexes, [`store`]), from hourly rollups where they can answer ([`rollups`]); the
//! numbers are computed here, in Rust, in the report's time zone ([`buckets`]), so SQLite
//! and PostgreSQL give the same answers.
//!
//! Where the original's reports were wrong, these are right:
//! - dwell is always the part of a session inside the window, and inside each bucket
//!   (the original counted whole hours and whole days at the edges of the window, and the
//!   person group summary counted whole sessions);
//! - a session still open counts up to now (never past `to_ts`);
//! - hour and calendar buckets with no presence are listed with 0;
//! - the person calendar spreads a session over the days (weeks, …) it covers instead of
//!   putting it whole into the day it started;
//! - the timeline fills `session_id`, `tag_id` and the place (the original answered 500);
//! - concurrency counts distinct people present at the same moment, and an hour covered
//!   by a session that neither starts nor ends in it counts that person;
//! - the overview's top buildings and floors leave out "no building/floor" before taking
//!   ten, so ten come back when there are ten;
//! - the building summary's `top_gateways_by_dwell` is ordered by dwell;
//! - the occupancy report's average and percentiles are of the dwell in the window;
//! - the person alert report's totals count every event of the window, not only the
//!   `max_events` listed;
//! - a single sighting (a session of no length) counts in the hour that holds it (the
//!   original's overlap test let one on the hour match no bucket).

mod alerts;
pub mod buckets;
pub mod csv;
mod presence;
pub mod rollups;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

pub use alerts::*;
pub use presence::*;

/// Refusals of a report request, each naming the parameter at fault.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Only one bound of a window the report needs finite.
    #[error("from_ts e to_ts são obrigatórios")]
    BoundsRequired,
    #[error("{message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
}

impl ReportError {
    fn invalid(param: &'static str, message: impl Into<String>) -> Self {
        ReportError::Invalid {
            param,
            message: message.into(),
        }
    }
}

/// How a report fills a missing window.
#[derive(Debug, Clone, Copy)]
pub struct WindowRule {
    /// The window when neither bound is given: the last this many hours.
    pub default_hours: i64,
    /// Whether a single bound is refused (400) rather than completed.
    pub finite: bool,
}

impl WindowRule {
    pub const fn last_hours(default_hours: i64) -> Self {
        WindowRule {
            default_hours,
            finite: false,
        }
    }

    pub const fn finite(default_hours: i64) -> Self {
        WindowRule {
            default_hours,
            finite: true,
        }
    }
}

/// The window of a report: `[from, to]`, the time zone of its buckets, and "now" (the
/// end of the sessions still open).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub tz: Tz,
    pub now: DateTime<Utc>,
}

impl Window {
    /// Applies the window rules: both bounds absent → the rule's default (the last N hours);
    /// one absent → 400 where the report needs both, otherwise the end is now and the start
    /// is the longest window allowed before the end; `from_ts` after `to_ts` and windows
    /// longer than `max_days` → 422.
    pub fn resolve(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        rule: WindowRule,
        max_days: u32,
        tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<Window, ReportError> {
        let longest = Duration::days(i64::from(max_days));
        let (from, to) = match (from, to) {
            (None, None) => (now - Duration::hours(rule.default_hours), now),
            (Some(_), None) | (None, Some(_)) if rule.finite => {
                return Err(ReportError::BoundsRequired);
            }
            (Some(from), None) => (from, now),
            (None, Some(to)) => (to - longest, to),
            (Some(from), Some(to)) => (from, to),
        };
        check_bounds(from, to, max_days)?;
        Ok(Window { from, to, tz, now })
    }
}

/// `from_ts` after `to_ts`, or a window longer than `max_days`: 422.
fn check_bounds(from: DateTime<Utc>, to: DateTime<Utc>, max_days: u32) -> Result<(), ReportError> {
    if from > to {
        return Err(ReportError::invalid(
            "from_ts",
            "from_ts must not be after to_ts",
        ));
    }
    if to - from > Duration::days(i64::from(max_days)) {
        return Err(ReportError::invalid(
            "to_ts",
            format!("the window may cover at most {max_days} days (reports.max_window_days)"),
        ));
    }
    Ok(())
}

/// The time zone a request names (`time_zone=`), or the site's.
pub fn time_zone(requested: Option<&str>, site: &str) -> Result<Tz, ReportError> {
    let name = requested.unwrap_or(site);
    name.parse::<Tz>().map_err(|_| {
        ReportError::invalid(
            "time_zone",
            format!("unknown time zone {name:?}: expected an IANA name such as America/Sao_Paulo"),
        )
    })
}

/// `granularity=` of a calendar report (default `day`).
pub fn granularity(requested: Option<&str>) -> Result<buckets::Granularity, ReportError> {
    let text = requested.unwrap_or("day");
    buckets::Granularity::calendar(text).ok_or_else(|| {
        ReportError::invalid(
            "granularity",
            format!("unknown granularity {text:?}: expected day, week, month or year"),
        )
    })
}

/// A bounded integer parameter.
pub fn within(
    param: &'static str,
    value: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ReportError> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ReportError::invalid(
            param,
            format!(
                "{param} must be between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn windows_are_completed_or_refused_by_the_rules() {
        let now = utc("2024-03-10T12:00:00Z");
        let resolve = |from: Option<&str>, to: Option<&str>, rule| {
            Window::resolve(from.map(utc), to.map(utc), rule, 366, Tz::UTC, now)
                .map(|w| (w.from, w.to))
        };
        let week = WindowRule::last_hours(24 * 7);
        assert_eq!(
            resolve(None, None, week).unwrap(),
            (utc("2024-03-03T12:00:00Z"), now)
        );
        let from = Some("2024-03-09T00:00:00Z");
        assert_eq!(resolve(from, None, week).unwrap().1, now);
        let to = Some("2024-03-01T00:00:00Z");
        assert_eq!(
            resolve(None, to, week).unwrap().0,
            utc("2023-03-01T00:00:00Z")
        );
        assert!(matches!(
            resolve(from, None, WindowRule::finite(24)),
            Err(ReportError::BoundsRequired)
        ));
        assert!(matches!(
            resolve(from, to, week),
            Err(ReportError::Invalid {
                param: "from_ts",
                ..
            })
        ));
        let long = resolve(Some("2023-01-01T00:00:00Z"), to, week);
        assert!(matches!(
            long,
            Err(ReportError::Invalid { param: "to_ts", .. })
        ));
    }
}
