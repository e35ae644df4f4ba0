//! Time buckets (hour, day, week, month, year) in a time zone, and how much of an interval
//! falls in each. Storage is UTC and the database only filters by time; every calendar
//! question is answered here, the same way for SQLite and PostgreSQL.
//!
//! Hours are the zone's clock hours (a day that leaves daylight saving time has two hours
//! numbered 1, one that enters it has none), days run from the zone's midnight (or the first
//! instant after it, where a change of offset skips midnight), weeks start on Monday.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// The unit of a calendar report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Granularity {
    /// The calendar units a client may ask for (`granularity=`).
    pub fn calendar(text: &str) -> Option<Granularity> {
        match text {
            "day" => Some(Granularity::Day),
            "week" => Some(Granularity::Week),
            "month" => Some(Granularity::Month),
            "year" => Some(Granularity::Year),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Week => "week",
            Granularity::Month => "month",
            Granularity::Year => "year",
        }
    }
}

/// One bucket: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The first instant whose clock reads `local` in `tz`, or the first one after it when the
/// clock skips it (the start of daylight saving time).
fn first_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    // A skipped stretch is at most a few hours long.
    for _ in 0..(24 * 4) {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
        probe += Duration::minutes(15);
    }
    local.and_utc()
}

fn midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    first_instant(tz, date.and_time(chrono::NaiveTime::MIN))
}

/// The start of the bucket of unit `g` that holds `t`.
pub fn truncate(tz: Tz, g: Granularity, t: DateTime<Utc>) -> DateTime<Utc> {
    if g == Granularity::Hour {
        // By the offset in effect at `t`: in the hour repeated when clocks go back, each of
        // the two hours is its own bucket.
        let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        let local = t.naive_utc() + offset;
        let whole = local.date().and_hms_opt(local.hour(), 0, 0);
        return whole.map_or(t, |h| (h - offset).and_utc());
    }
    let date = t.with_timezone(&tz).date_naive();
    let start = match g {
        Granularity::Week => {
            date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
        }
        Granularity::Month => date.with_day(1).unwrap_or(date),
        Granularity::Year => NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date),
        Granularity::Hour | Granularity::Day => date,
    };
    midnight(tz, start)
}

/// The start of the bucket after the one starting at `start`.
fn next(tz: Tz, g: Granularity, start: DateTime<Utc>) -> DateTime<Utc> {
    let date = start.with_timezone(&tz).date_naive();
    let following = match g {
        Granularity::Hour => truncate(tz, g, start + Duration::hours(1)),
        Granularity::Day => midnight(tz, date + Duration::days(1)),
        Granularity::Week => midnight(tz, date + Duration::days(7)),
        Granularity::Month => {
            let (y, m) = if date.month() == 12 {
                (date.year() + 1, 1)
            } else {
                (date.year(), date.month() + 1)
            };
            midnight(tz, NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(date))
        }
        Granularity::Year => midnight(
            tz,
            NaiveDate::from_ymd_opt(date.year() + 1, 1, 1).unwrap_or(date),
        ),
    };
    // A zone whose offset changes by less than an hour could round back: never stall.
    if following <= start {
        start + Duration::hours(1)
    } else {
        following
    }
}

/// The buckets that cover `[from, to)`: from the one holding `from` to the last one that
/// starts before `to` (at least the one holding `from`).
pub fn buckets(tz: Tz, g: Granularity, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Bucket> {
    let mut out = Vec::new();
    let mut start = truncate(tz, g, from);
    loop {
        let end = next(tz, g, start);
        out.push(Bucket { start, end });
        if end >= to {
            return out;
        }
        start = end;
    }
}

/// `t` as the zone's clock shows it (with the offset in effect then).
pub fn local(tz: Tz, t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&tz.offset_from_utc_datetime(&t.naive_utc()).fix())
}

/// How much of `[start, end]` falls in each bucket it touches, as (index, microseconds).
/// An interval touches a bucket when they overlap for some time; an instant (a session of
/// a single sighting) touches the bucket that holds it.
pub fn spread(
    buckets: &[Bucket],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> impl Iterator<Item = (usize, i64)> + '_ {
    let first = buckets.partition_point(|b| b.end <= start);
    buckets[first..]
        .iter()
        .enumerate()
        .take_while(move |(_, b)| b.start < end || (b.start <= start && start == end))
        .filter_map(move |(i, b)| {
            let (s, e) = (start.max(b.start), end.min(b.end));
            if s < e {
                Some((first + i, micros(e - s)))
            } else if start == end && b.start <= start && start < b.end {
                Some((first + i, 0))
            } else {
                None
            }
        })
}

/// A length in microseconds (dwell is summed exactly, then shown in whole seconds).
pub fn micros(d: Duration) -> i64 {
    d.num_microseconds().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn sao_paulo_days_around_the_2018_clock_changes() {
        let tz: Tz = "America/Sao_Paulo".parse().unwrap();
        // 2018-11-04: clocks jumped from 00:00 to 01:00 (-03 → -02): a 23-hour day.
        let days = buckets(
            tz,
            Granularity::Day,
            utc("2018-11-03T12:00:00Z"),
            utc("2018-11-05T12:00:00Z"),
        );
        let starts: Vec<_> = days.iter().map(|b| b.start).collect();
        assert_eq!(
            starts,
            [
                utc("2018-11-03T03:00:00Z"),
                utc("2018-11-04T03:00:00Z"),
                utc("2018-11-05T02:00:00Z")
            ]
        );
        assert_eq!(days[1].end - days[1].start, Duration::hours(23));
        // 2019-02-16 ended at 00:00 -02 and went back to 23:00 -03: a 25-hour day.
        let day = buckets(
            tz,
            Granularity::Day,
            utc("2019-02-16T12:00:00Z"),
            utc("2019-02-16T13:00:00Z"),
        );
        assert_eq!(day[0].end - day[0].start, Duration::hours(25));
        let hours = buckets(
            tz,
            Granularity::Hour,
            utc("2019-02-17T01:00:00Z"),
            utc("2019-02-17T04:00:00Z"),
        );
        let locals: Vec<String> = hours
            .iter()
            .map(|b| local(tz, b.start).to_rfc3339())
            .collect();
        assert_eq!(
            locals,
            [
                "2019-02-16T23:00:00-02:00",
                "2019-02-16T23:00:00-03:00",
                "2019-02-17T00:00:00-03:00"
            ]
        );
    }

    #[test]
    fn weeks_start_on_monday_and_instants_touch_one_bucket() {
        let week = truncate(Tz::UTC, Granularity::Week, utc("2024-03-10T10:00:00Z"));
        assert_eq!(week, utc("2024-03-04T00:00:00Z"));
        let hours = buckets(
            Tz::UTC,
            Granularity::Hour,
            utc("2024-01-01T00:00:00Z"),
            utc("2024-01-01T03:00:00Z"),
        );
        assert_eq!(hours.len(), 3);
        let at = utc("2024-01-01T01:00:00Z");
        assert_eq!(spread(&hours, at, at).collect::<Vec<_>>(), [(1, 0)]);
        let parts: Vec<_> = spread(
            &hours,
            utc("2024-01-01T00:30:00Z"),
            utc("2024-01-01T02:00:00Z"),
        )
        .collect();
        assert_eq!(parts, [(0, 1_800_000_000), (1, 3_600_000_000)]);
    }
}
