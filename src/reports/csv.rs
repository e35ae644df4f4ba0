//! `?format=csv`: a report's main list as CSV (RFC 4180, UTF-8, a header row). Text that a
//! spreadsheet would run as a formula (a name starting with `=`, `+`, `-`, `@`) is
//! prefixed with `'`, since names come from whoever registered people and devices.

use chrono::{DateTime, TimeZone};

use super::alerts::*;
use super::presence::*;

/// One value of a cell.
pub trait Cell {
    fn cell(&self) -> String;
}

/// Numbers and booleans as Rust writes them.
macro_rules! plain_cells {
    ($($ty:ty),+) => {$(
        impl Cell for $ty {
            fn cell(&self) -> String {
                self.to_string()
            }
        }
    )+};
}

plain_cells!(i64, i32, u32, f64, bool);

impl Cell for String {
    fn cell(&self) -> String {
        if self.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{self}")
        } else {
            self.clone()
        }
    }
}

impl Cell for &str {
    fn cell(&self) -> String {
        self.to_string().cell()
    }
}

impl<Tz: TimeZone> Cell for DateTime<Tz>
where
    Tz::Offset: std::fmt::Display,
{
    fn cell(&self) -> String {
        self.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

impl<T: Cell> Cell for Option<T> {
    fn cell(&self) -> String {
        self.as_ref().map(Cell::cell).unwrap_or_default()
    }
}

/// A row type of a CSV table: its column names and its cells.
pub trait Row {
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// Declares the columns of a row type: its fields, in order.
macro_rules! columns {
    ($($ty:ty { $($field:ident),+ $(,)? })+) => {$(
        impl Row for $ty {
            const HEADER: &'static [&'static str] = &[$(stringify!($field)),+];
            fn cells(&self) -> Vec<String> {
                vec![$(self.$field.cell()),+]
            }
        }
    )+};
}

columns! {
    PresenceSessionRead { id, device_id, tag_id, started_at, ended_at, duration_seconds, samples_count, is_open }
    GroupDwellByDevice {
        device_id, device_name, building_id, building_name, floor_id, floor_name, floor_plan_id,
        floor_plan_name, total_dwell_seconds, sessions_count, unique_people_count
    }
    PersonDwellByDevice {
        device_id, device_name, building_id, building_name, floor_id, floor_name, floor_plan_id,
        floor_plan_name, total_dwell_seconds, sessions_count
    }
    PersonTimelineSession {
        session_id, device_id, device_name, building_id, building_name, floor_id, floor_name,
        floor_plan_id, floor_plan_name, tag_id, started_at, ended_at, duration_seconds,
        samples_count, is_open
    }
    CalendarBucket { bucket_start, total_dwell_seconds, sessions_count }
    HourOfDayBucket { hour, total_dwell_seconds, sessions_count }
    DayOfWeekBucket { day_of_week, total_dwell_seconds, sessions_count }
    HourGatewayBucket { hour, device_id, device_name, total_dwell_seconds, sessions_count }
    PersonAlertEvent {
        id, event_type, device_id, device_name, building_id, building_name, floor_id, floor_name,
        floor_plan_id, floor_plan_name, tag_id, started_at, ended_at
    }
    GatewayUsageDeviceSummary {
        device_id, device_name, device_mac_address, building_id, building_name, floor_id,
        floor_name, floor_plan_id, floor_plan_name, total_dwell_seconds, sessions_count,
        unique_people_count, first_session_at, last_session_at
    }
    GatewayHourBucket { hour, total_dwell_seconds, sessions_count, unique_people_count }
    OccupancyBucket { bucket_start, total_dwell_seconds, sessions_count, unique_tags_count, unique_people_count }
    ConcurrencyBucket { bucket_start, peak_concurrency_people }
    AlertTypeCount { event_type, alerts_count }
    Ranked { list, id, name, total_sessions, total_dwell_seconds, unique_people_count }
}

/// A row of a report made of several ranked lists (the overview's tops, the building's
/// gateways): which list, and the ranked item.
#[derive(Debug, Clone)]
pub struct Ranked {
    pub list: &'static str,
    pub id: i64,
    pub name: Option<String>,
    pub total_sessions: i64,
    pub total_dwell_seconds: i64,
    pub unique_people_count: Option<i64>,
}

fn quoted(cell: String) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell
    }
}

fn line(out: &mut String, cells: impl IntoIterator<Item = String>) {
    let cells: Vec<String> = cells.into_iter().map(quoted).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// The rows as a CSV text with a header.
pub fn table<R: Row>(rows: &[R]) -> String {
    let mut out = String::new();
    line(&mut out, R::HEADER.iter().map(|h| (*h).to_string()));
    for row in rows {
        line(&mut out, row.cells());
    }
    out
}

/// The overview's top lists, one after the other.
pub fn overview_rows(report: &OverviewReport) -> Vec<Ranked> {
    let rank = |list, id, name: Option<String>, total_sessions, total_dwell_seconds| Ranked {
        list,
        id,
        name,
        total_sessions,
        total_dwell_seconds,
        unique_people_count: None,
    };
    let mut rows = Vec::new();
    for d in &report.top_devices {
        rows.push(rank(
            "top_devices",
            d.device_id,
            Some(d.device_name.clone()),
            d.total_sessions,
            d.total_dwell_seconds,
        ));
    }
    for p in &report.top_people {
        rows.push(rank(
            "top_people",
            p.person_id,
            Some(p.person_name.clone()),
            p.total_sessions,
            p.total_dwell_seconds,
        ));
    }
    for b in &report.top_buildings {
        rows.push(rank(
            "top_buildings",
            b.building_id,
            b.building_name.clone(),
            b.total_sessions,
            b.total_dwell_seconds,
        ));
    }
    for f in &report.top_floors {
        rows.push(rank(
            "top_floors",
            f.floor_id,
            f.floor_name.clone(),
            f.total_sessions,
            f.total_dwell_seconds,
        ));
    }
    for g in &report.top_groups {
        rows.push(rank(
            "top_groups",
            g.group_id,
            Some(g.group_name.clone()),
            g.total_sessions,
            g.total_dwell_seconds,
        ));
    }
    rows
}

/// The building summary's two gateway lists, one after the other.
pub fn building_rows(report: &BuildingSummary) -> Vec<Ranked> {
    let lists = [
        ("top_gateways_by_sessions", &report.top_gateways_by_sessions),
        ("top_gateways_by_dwell", &report.top_gateways_by_dwell),
    ];
    lists
        .into_iter()
        .flat_map(|(list, gateways)| {
            gateways.iter().map(move |g| Ranked {
                list,
                id: g.device_id,
                name: Some(g.device_name.clone()),
                total_sessions: g.sessions_count,
                total_dwell_seconds: g.total_dwell_seconds,
                unique_people_count: Some(g.unique_people_count),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let rows = [AlertTypeCount {
            event_type: "=HYPERLINK(\"x\"), \"y\"".into(),
            alerts_count: 2,
        }];
        assert_eq!(
            table(&rows),
            "event_type,alerts_count\r\n\"'=HYPERLINK(\"\"x\"\"), \"\"y\"\"\",2\r\n"
        );
    }
}
