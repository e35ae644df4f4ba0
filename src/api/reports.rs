//! `/reports/*`: the 19 reports of the original, with its paths, parameters and fields,
//! computed by [`crate::reports`] (where the original was wrong they are right; the module
//! lists how). Every report takes `time_zone` (default `site.time_zone`) and
//! `format=csv`; windows are checked before anything is read.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::or_404;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiPath, ApiQuery, AuthUser, Page};
use super::openapi::{Invalid, NotFound, Refused};
use super::validate::FlexibleDateTime;
use crate::reports::csv::{self, Row};
use crate::reports::rollups::{self, Coarse, Need};
use crate::reports::store::{Alert, AlertFilter, Columns, SessionFilter};
use crate::reports::*;
use crate::store::site::Building;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dwell_sessions))
        .routes(routes!(overview))
        .routes(routes!(group_summary))
        .routes(routes!(person_summary))
        .routes(routes!(person_timeline))
        .routes(routes!(person_calendar))
        .routes(routes!(person_hour_of_day))
        .routes(routes!(person_day_of_week))
        .routes(routes!(person_hour_by_gateway))
        .routes(routes!(person_alerts))
        .routes(routes!(gateways_usage))
        .routes(routes!(gateway_time_of_day))
        .routes(routes!(gateway_occupancy))
        .routes(routes!(gateway_concurrency))
        .routes(routes!(building_summary))
        .routes(routes!(building_time_of_day))
        .routes(routes!(building_calendar))
        .routes(routes!(gateway_alerts))
        .routes(routes!(building_alerts))
}

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> Self {
        match err {
            ReportError::BoundsRequired => ApiError::BadRequest(err.to_string()),
            ReportError::Invalid { param, message } => {
                ApiError::invalid(FieldError::new("value_error", &["query", param], message))
            }
        }
    }
}

/// Declares a report's query: the window, the time zone and the format every report
/// takes, and its own parameters.
macro_rules! report_query {
    ($name:ident { $($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        struct $name {
            /// Start of the window (ISO 8601; without an offset it is UTC).
            #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
            from_ts: Option<FlexibleDateTime>,
            /// End of the window.
            #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
            to_ts: Option<FlexibleDateTime>,
            /// The IANA time zone of hours, days and weeks (default: `site.time_zone`).
            time_zone: Option<String>,
            /// `json` (default) or `csv`.
            format: Option<String>,
            $($(#[$doc])* $field: $ty,)*
        }

        impl $name {
            fn window(&self, state: &AppState, rule: WindowRule) -> ApiResult<(Window, Format)> {
                let format = Format::of(self.format.as_deref())?;
                let tz = time_zone(self.time_zone.as_deref(), &state.config.site.time_zone)?;
                let window = Window::resolve(
                    self.from_ts.map(|t| t.0),
                    self.to_ts.map(|t| t.0),
                    rule,
                    state.config.reports.max_window_days,
                    tz,
                    crate::store::now(),
                )?;
                Ok((window, format))
            }
        }
    };
}

report_query!(WindowQuery {});
report_query!(OverviewQuery {
    device_id: Option<i64>,
    tag_id: Option<i64>,
});
report_query!(DurationQuery {
    /// Only sessions at least this long in all (seconds).
    min_duration_seconds: Option<i64>,
});
report_query!(TimelineQuery {
    /// Only sessions at least this long in all (seconds).
    min_duration_seconds: Option<i64>,
    /// 1 to 5000, default 500.
    limit: Option<i64>,
});
report_query!(CalendarQuery {
    /// Only sessions at least this long in all (seconds).
    min_duration_seconds: Option<i64>,
    /// `day` (default), `week` (from Monday), `month` or `year`.
    granularity: Option<String>,
});
report_query!(PersonAlertsQuery {
    event_type: Option<String>,
    device_id: Option<i64>,
    /// 1 to 10000, default 1000: how many events are listed (the totals count all).
    max_events: Option<i64>,
});
report_query!(UsageQuery {
    building_id: Option<i64>,
    floor_id: Option<i64>,
    floor_plan_id: Option<i64>,
    device_id: Option<i64>,
    /// Only sessions at least this long in all (seconds).
    min_duration_seconds: Option<i64>,
});

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Json,
    Csv,
}

impl Format {
    fn of(text: Option<&str>) -> ApiResult<Format> {
        match text.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(ApiError::invalid(FieldError::new(
                "value_error",
                &["query", "format"],
                format!("unknown format {other:?}: expected json or csv"),
            ))),
        }
    }
}

fn min_duration(value: Option<i64>) -> ApiResult<Option<i64>> {
    match value {
        Some(v) if v < 0 => Err(ApiError::invalid(FieldError::new(
            "greater_than_equal",
            &["query", "min_duration_seconds"],
            "min_duration_seconds must be 0 or more",
        ))),
        other => Ok(other),
    }
}

fn stamp(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "open".into(), |t| t.format("%Y%m%dT%H%M%SZ").to_string())
}

/// The report as JSON, or its main list as a CSV download named after the report and
/// its window.
fn answer<T: Serialize, R: Row>(
    format: Format,
    name: &str,
    bounds: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    body: T,
    rows: impl FnOnce(&T) -> Vec<R>,
) -> Response {
    if format == Format::Json {
        return Json(body).into_response();
    }
    let text = csv::table(&rows(&body));
    let file = format!("{name}-{}-{}.csv", stamp(bounds.0), stamp(bounds.1));
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn both(w: &Window) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    (Some(w.from), Some(w.to))
}

/// What a report is about: a person, a gateway or a building.
#[derive(Debug, Clone, Copy)]
enum Subject {
    Person(i64),
    Gateway(i64),
    Building(i64),
}

impl Subject {
    /// Its name, or 404.
    async fn name(self, state: &AppState) -> ApiResult<String> {
        Ok(match self {
            Subject::Person(id) => {
                or_404(state.store.person(id).await, "Person not found")?.full_name
            }
            Subject::Gateway(id) => or_404(state.store.device(id).await, "Device not found")?.name,
            Subject::Building(id) => {
                let building = state.store.fetch_by_id::<Building>(id).await;
                or_404(building, "Building not found")?.name
            }
        })
    }

    /// Its person, gateway and building ids, as filters take them.
    fn ids(self) -> [Option<i64>; 3] {
        match self {
            Subject::Person(id) => [Some(id), None, None],
            Subject::Gateway(id) => [None, Some(id), None],
            Subject::Building(id) => [None, None, Some(id)],
        }
    }

    fn sessions(self) -> SessionFilter {
        let [person_id, device_id, building_id] = self.ids();
        SessionFilter {
            person_id,
            device_id,
            building_id,
            ..SessionFilter::default()
        }
    }

    /// Its name (or 404) and its visits in `w`, each with its person but no names or
    /// place: what a gateway's occupancy and concurrency need of the many visits they read.
    async fn visits_with_people(
        self,
        state: &AppState,
        w: &Window,
    ) -> ApiResult<(String, Vec<Visit>)> {
        let name = self.name(state).await?;
        let sessions = state
            .store
            .report_sessions(w.from, w.to, &self.sessions(), Columns::Person)
            .await?;
        Ok((name, visits(w, sessions, None)))
    }

    /// Its alert events in `w`, or 404.
    async fn alerts_of(self, state: &AppState, w: &Window) -> ApiResult<Vec<Alert>> {
        self.name(state).await?;
        Ok(state
            .store
            .report_alerts(w.from, w.to, &self.alerts())
            .await?)
    }

    fn alerts(self) -> AlertFilter {
        let [person_id, device_id, building_id] = self.ids();
        AlertFilter {
            person_id,
            device_id,
            building_id,
            ..AlertFilter::default()
        }
    }

    /// Its name (or 404) and its visits in `w`.
    async fn visits(
        self,
        state: &AppState,
        w: &Window,
        min: Option<i64>,
        need: Need,
    ) -> ApiResult<(String, Vec<Visit>)> {
        let name = self.name(state).await?;
        Ok((name, visits_of(state, w, self.sessions(), min, need).await?))
    }
}

const BY_HOUR: Need = Need::Labels(buckets::Granularity::Hour, hour_label);

/// The visits of a window: from the rollups where they can answer what the report
/// `need`s (whole hours, no minimum duration: [`rollups`]), otherwise from its sessions.
async fn visits_of(
    state: &AppState,
    w: &Window,
    filter: SessionFilter,
    min: Option<i64>,
    need: Need,
) -> ApiResult<Vec<Visit>> {
    if let Some(shape) = rolled_shape(state, w, min, need) {
        return Ok(rollups::presence(&state.store, w, &filter, shape).await?);
    }
    let sessions = state
        .store
        .report_sessions(w.from, w.to, &filter, Columns::Joined)
        .await?;
    Ok(visits(w, sessions, min))
}

/// Whether the rollups answer a report of `w` that needs `need` without a minimum duration.
fn rolled_shape(
    state: &AppState,
    w: &Window,
    min: Option<i64>,
    need: Need,
) -> Option<rollups::Shape> {
    let reports = &state.config.reports;
    if reports.rollup_interval_seconds == 0 || min.unwrap_or(0) != 0 {
        return None;
    }
    rollups::shape(w, need, reports.rollup_retention_days)
}

/// The tallies of a summary: from the coarser rollups `coarse` where they answer,
/// otherwise from the visits.
async fn summary_of(
    state: &AppState,
    w: &Window,
    filter: SessionFilter,
    min: Option<i64>,
    coarse: Coarse,
) -> ApiResult<Summary> {
    if rolled_shape(state, w, min, Need::Totals).is_some() {
        return Ok(rollups::summary(&state.store, w, &filter, coarse).await?);
    }
    let visits = visits_of(state, w, filter, min, Need::Totals).await?;
    Ok(Summary::of(&visits))
}

/// Every bucket of unit `g` with its presence, from the gateways' hours where they answer.
async fn buckets_of(
    state: &AppState,
    w: &Window,
    filter: SessionFilter,
    min: Option<i64>,
    g: buckets::Granularity,
) -> ApiResult<Vec<OccupancyBucket>> {
    if rolled_shape(state, w, min, Need::Buckets(g)).is_some() {
        return Ok(rollups::gateway_buckets(&state.store, w, &filter, g).await?);
    }
    let visits = visits_of(state, w, filter, min, Need::Buckets(g)).await?;
    Ok(occupancy_buckets(w, g, &visits))
}

// ---- 1 ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DwellSessionsQuery {
    skip: Option<i64>,
    /// At most 1000; default 100.
    limit: Option<i64>,
    device_id: Option<i64>,
    tag_id: Option<i64>,
    /// Sessions that started at or after this time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    from_ts: Option<FlexibleDateTime>,
    /// Sessions whose last sighting is at or before this time.
    #[param(value_type = Option<chrono::DateTime<chrono::Utc>>)]
    to_ts: Option<FlexibleDateTime>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Sessions that lie inside the bounds given, newest first (a page).
#[utoipa::path(
    get,
    path = "/reports/dwell-sessions",
    operation_id = "reports_dwell_sessions",
    tag = "reports",
    summary = "Presence sessions inside a window, newest first",
    params(DwellSessionsQuery),
    responses(
        (status = 200, description = "The sessions (CSV: one row per session)",
            content((Vec<PresenceSessionRead> = "application/json"), (String = "text/csv"))),
        Invalid,
    ),
)]
async fn dwell_sessions(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<DwellSessionsQuery>,
) -> ApiResult<Response> {
    let format = Format::of(q.format.as_deref())?;
    let page = Page::from_query(q.skip, q.limit, 100)?;
    let (from, to) = (q.from_ts.map(|t| t.0), q.to_ts.map(|t| t.0));
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::invalid(FieldError::new(
            "value_error",
            &["query", "from_ts"],
            "from_ts must not be after to_ts",
        )));
    }
    let sessions = state
        .store
        .dwell_sessions(from, to, q.device_id, q.tag_id, page.skip, page.limit)
        .await?;
    let body: Vec<PresenceSessionRead> = sessions.into_iter().map(Into::into).collect();
    Ok(answer(
        format,
        "dwell-sessions",
        (from, to),
        body,
        Clone::clone,
    ))
}

/// Declares a report route once: its OpenAPI operation (a JSON body, or its main list as
/// CSV through `rows`) and its handler, which resolves the window by `rule` before `body`
/// computes the report. The CSV file is named after the operation.
macro_rules! report {
    (
        $(#[doc = $doc:tt])*
        get $path:tt $op:tt $summary:tt,
        $(($($path_param:tt)*),)? $query:ident, [$($error:ident),*],
        ($($output:tt)+), $description:tt, $rows:expr;
        async fn $name:ident($state:ident, $w:ident = $rule:expr, $q:ident $(, $id:ident)?) $body:block
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            get,
            path = $path,
            operation_id = $op,
            tag = "reports",
            summary = $summary,
            params($(($($path_param)*),)? $query),
            responses(
                (status = 200, description = $description,
                    content(($($output)+ = "application/json"), (String = "text/csv"))),
                $($error),*
            ),
        )]
        async fn $name(
            State($state): State<AppState>,
            _: AuthUser,
            $(ApiPath($id): ApiPath<i64>,)?
            ApiQuery($q): ApiQuery<$query>,
        ) -> ApiResult<Response> {
            let ($w, format) = $q.window(&$state, $rule)?;
            let body = $body;
            let name = $op.trim_start_matches("reports_").replace('_', "-");
            Ok(answer(format, &name, both(&$w), body, $rows))
        }
    };
}

// ---- 2 ----

report! {
    /// Totals of the window and the ten gateways, people, buildings, floors and groups with
    /// the most dwell (default window: the last 7 days).
    get "/reports/overview" "reports_overview" "Presence overview of a window",
    OverviewQuery, [Invalid],
    (OverviewReport), "The overview (CSV: the top lists, one row per item, with a `list` column)",
    csv::overview_rows;
    async fn overview(state, w = WindowRule::last_hours(24 * 7), q) {
        let filter = SessionFilter {
            device_id: q.device_id,
            tag_id: q.tag_id,
            ..SessionFilter::default()
        };
        // One gateway's or one tag's hours are few: read through their indexes.
        let summary = if q.device_id.is_none() && q.tag_id.is_none() {
            summary_of(&state, &w, filter, None, Coarse::Site).await?
        } else {
            Summary::of(&visits_of(&state, &w, filter, None, Need::Totals).await?)
        };
        let memberships = state.store.report_group_memberships().await?;
        crate::reports::overview(&w, &summary, &memberships)
    }
}

// ---- 3 ----

report! {
    /// Where the members of a group spent their time (default window: the last 7 days).
    get "/reports/person-group/{group_id}/summary" "reports_person_group_summary"
    "Presence of a person group, by gateway and by person",
    ("group_id" = i64, Path), DurationQuery, [NotFound, Invalid],
    (PersonGroupPresenceSummary), "The summary (CSV: `dwell_by_device`)",
    |b| b.dwell_by_device.clone();
    async fn group_summary(state, w = WindowRule::last_hours(24 * 7), q, group_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let group = or_404(
            state.store.person_group(group_id).await,
            "Person group not found",
        )?;
        let filter = SessionFilter {
            group_id: Some(group_id),
            ..SessionFilter::default()
        };
        let summary = summary_of(&state, &w, filter, min, Coarse::Group).await?;
        crate::reports::group_summary(&w, group_id, group.name, &summary)
    }
}

// ---- 4–10: a person ----

report! {
    /// Where a person spent their time, by gateway (default window: the last 7 days).
    get "/reports/person/{person_id}/summary" "reports_person_summary"
    "Presence of a person, by gateway",
    ("person_id" = i64, Path), DurationQuery, [NotFound, Invalid],
    (PersonPresenceSummary), "The summary (CSV: `dwell_by_device`)",
    |b| b.dwell_by_device.clone();
    async fn person_summary(state, w = WindowRule::last_hours(24 * 7), q, person_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let (name, visits) = Subject::Person(person_id).visits(&state, &w, min, Need::Totals).await?;
        crate::reports::person_summary(&w, person_id, name, &visits)
    }
}

report! {
    /// A person's sessions with their places, newest first (default window: the last 7 days).
    get "/reports/person/{person_id}/timeline" "reports_person_timeline"
    "A person's sessions, newest first",
    ("person_id" = i64, Path), TimelineQuery, [NotFound, Invalid],
    (Vec<PersonTimelineSession>), "The sessions (CSV: one row per session)",
    Clone::clone;
    async fn person_timeline(state, w = WindowRule::last_hours(24 * 7), q, person_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let limit = within("limit", q.limit, 500, 1..=5000)?;
        let (_, visits) = Subject::Person(person_id).visits(&state, &w, min, Need::Sessions).await?;
        timeline(visits, limit as usize)
    }
}

report! {
    /// A person's dwell per day, week, month or year; only periods with presence are listed
    /// (default window: the last 30 days).
    get "/reports/person/{person_id}/time-distribution/calendar" "reports_person_calendar"
    "A person's dwell per calendar period",
    ("person_id" = i64, Path), CalendarQuery, [NotFound, Invalid],
    (PersonTimeDistributionCalendar), "The distribution (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn person_calendar(state, w = WindowRule::last_hours(24 * 30), q, person_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let g = granularity(q.granularity.as_deref())?;
        let (name, visits) = Subject::Person(person_id).visits(&state, &w, min, Need::Buckets(g)).await?;
        crate::reports::person_calendar(&w, g, person_id, name, &visits)
    }
}

report! {
    /// A person's dwell by hour of the day, 24 buckets (default window: the last 24 hours;
    /// a window needs both bounds).
    get "/reports/person/{person_id}/time-distribution/hour-of-day" "reports_person_hour_of_day"
    "A person's dwell by hour of the day",
    ("person_id" = i64, Path), DurationQuery, [Refused, NotFound, Invalid],
    (PersonTimeOfDayDistribution), "The distribution (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn person_hour_of_day(state, w = WindowRule::finite(24), q, person_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let (name, visits) = Subject::Person(person_id).visits(&state, &w, min, BY_HOUR).await?;
        person_hours(&w, person_id, name, &visits)
    }
}

report! {
    /// A person's dwell by day of the week, 7 buckets from Sunday (default window: the last
    /// 30 days; a window needs both bounds).
    get "/reports/person/{person_id}/time-distribution/day-of-week" "reports_person_day_of_week"
    "A person's dwell by day of the week",
    ("person_id" = i64, Path), DurationQuery, [Refused, NotFound, Invalid],
    (PersonDayOfWeekDistribution), "The distribution (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn person_day_of_week(state, w = WindowRule::finite(24 * 30), q, person_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let need = Need::Labels(buckets::Granularity::Day, weekday_label);
        let (name, visits) = Subject::Person(person_id).visits(&state, &w, min, need).await?;
        person_weekdays(&w, person_id, name, &visits)
    }
}

report! {
    /// A person's dwell by hour of the day and gateway, only pairs with presence (default
    /// window: the last 24 hours; a window needs both bounds).
    get "/reports/person/{person_id}/time-distribution/hour-by-gateway" "reports_person_hour_by_gateway"
    "A person's dwell by hour of the day and gateway",
    ("person_id" = i64, Path), DurationQuery, [Refused, NotFound, Invalid],
    (PersonTimeOfDayByGateway), "The distribution (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn person_hour_by_gateway(state, w = WindowRule::finite(24), q, person_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let (name, visits) = Subject::Person(person_id).visits(&state, &w, min, BY_HOUR).await?;
        person_hours_by_gateway(&w, person_id, name, &visits)
    }
}

report! {
    /// A person's alerts: totals by type and gateway over the whole window, and the newest
    /// events (default window: the last 30 days).
    get "/reports/person/{person_id}/alerts" "reports_person_alerts" "A person's alerts",
    ("person_id" = i64, Path), PersonAlertsQuery, [NotFound, Invalid],
    (PersonAlertsReport), "The report (CSV: `events`)",
    |b| b.events.clone();
    async fn person_alerts(state, w = WindowRule::last_hours(24 * 30), q, person_id) {
        let max_events = within("max_events", q.max_events, 1000, 1..=10_000)?;
        let subject = Subject::Person(person_id);
        let name = subject.name(&state).await?;
        let filter = AlertFilter {
            device_id: q.device_id,
            event_type: q.event_type.clone().filter(|t| !t.is_empty()),
            ..subject.alerts()
        };
        let alerts = state.store.report_alerts(w.from, w.to, &filter).await?;
        crate::reports::person_alerts(&w, person_id, name, alerts, max_events as usize)
    }
}

// ---- 11–14, 18: gateways ----

report! {
    /// Gateways with presence in the window, most visited first (default window: the last 7
    /// days).
    get "/reports/gateways/usage-summary" "reports_gateways_usage_summary" "Presence per gateway",
    UsageQuery, [Invalid],
    (GatewayUsageSummary), "The summary (CSV: `gateways`)",
    |b| b.gateways.clone();
    async fn gateways_usage(state, w = WindowRule::last_hours(24 * 7), q) {
        let min = min_duration(q.min_duration_seconds)?;
        let filter = SessionFilter {
            device_id: q.device_id,
            building_id: q.building_id,
            floor_id: q.floor_id,
            floor_plan_id: q.floor_plan_id,
            ..SessionFilter::default()
        };
        let summary = summary_of(&state, &w, filter, min, Coarse::Gateways).await?;
        gateway_usage(&w, &summary)
    }
}

report! {
    /// A gateway's presence by hour of the day, 24 buckets (default window: the last 7 days;
    /// a window needs both bounds).
    get "/reports/gateways/{device_id}/time-of-day" "reports_gateway_time_of_day"
    "A gateway's presence by hour of the day",
    ("device_id" = i64, Path), DurationQuery, [Refused, NotFound, Invalid],
    (GatewayTimeOfDayDistribution), "The distribution (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn gateway_time_of_day(state, w = WindowRule::finite(24 * 7), q, device_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let (name, visits) = Subject::Gateway(device_id).visits(&state, &w, min, BY_HOUR).await?;
        gateway_hours(&w, device_id, name, &visits)
    }
}

report! {
    /// A gateway's presence hour by hour (every hour of the window), its busiest hour and how
    /// long visits lasted in the window (default window: the last 24 hours; a window needs
    /// both bounds).
    get "/reports/gateways/{device_id}/occupancy" "reports_gateway_occupancy"
    "A gateway's occupancy per hour",
    ("device_id" = i64, Path), WindowQuery, [Refused, NotFound, Invalid],
    (GatewayOccupancy), "The occupancy (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn gateway_occupancy(state, w = WindowRule::finite(24), q, device_id) {
        let (name, visits) = Subject::Gateway(device_id).visits_with_people(&state, &w).await?;
        occupancy(&w, device_id, name, &visits)
    }
}

report! {
    /// The most distinct people at a gateway at one moment, hour by hour (default window:
    /// the last 24 hours; a window needs both bounds).
    get "/reports/gateways/{device_id}/concurrency" "reports_gateway_concurrency"
    "A gateway's peak concurrency per hour",
    ("device_id" = i64, Path), WindowQuery, [Refused, NotFound, Invalid],
    (GatewayConcurrency), "The concurrency (CSV: `buckets`)",
    |b| b.buckets.clone();
    async fn gateway_concurrency(state, w = WindowRule::finite(24), q, device_id) {
        let (name, visits) = Subject::Gateway(device_id).visits_with_people(&state, &w).await?;
        concurrency(&w, device_id, name, &visits)
    }
}

report! {
    /// A gateway's alerts by type (default window: the last 30 days).
    get "/reports/gateways/{device_id}/alerts/summary" "reports_gateway_alerts_summary"
    "A gateway's alerts by type",
    ("device_id" = i64, Path), WindowQuery, [NotFound, Invalid],
    (AlertsSummaryReport), "The summary (CSV: `by_type`)",
    |b| b.by_type.clone();
    async fn gateway_alerts(state, w = WindowRule::last_hours(24 * 30), q, device_id) {
        let alerts = Subject::Gateway(device_id).alerts_of(&state, &w).await?;
        alerts_summary(&w, "gateway", device_id, &alerts)
    }
}

// ---- 15–17, 19: buildings ----

report! {
    /// Presence in a building and its ten busiest gateways, by sessions and by dwell
    /// (default window: the last 30 days).
    get "/reports/buildings/{building_id}/summary" "reports_building_summary"
    "Presence in a building",
    ("building_id" = i64, Path), DurationQuery, [NotFound, Invalid],
    (BuildingSummary), "The summary (CSV: both gateway lists, with a `list` column)",
    csv::building_rows;
    async fn building_summary(state, w = WindowRule::last_hours(24 * 30), q, building_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let subject = Subject::Building(building_id);
        let name = subject.name(&state).await?;
        let summary = summary_of(&state, &w, subject.sessions(), min, Coarse::Gateways).await?;
        crate::reports::building_summary(&w, building_id, name, &summary)
    }
}

report! {
    /// Presence in a building hour by hour, every hour of the window (default window: the
    /// last 24 hours; a window needs both bounds).
    get "/reports/buildings/{building_id}/time-of-day" "reports_building_time_of_day"
    "Presence in a building per hour",
    ("building_id" = i64, Path), WindowQuery, [Refused, NotFound, Invalid],
    (Vec<OccupancyBucket>), "The hours (CSV: one row per hour)",
    Clone::clone;
    async fn building_time_of_day(state, w = WindowRule::finite(24), q, building_id) {
        let subject = Subject::Building(building_id);
        subject.name(&state).await?;
        buckets_of(&state, &w, subject.sessions(), None, buckets::Granularity::Hour).await?
    }
}

report! {
    /// Presence in a building per day, week, month or year, every period of the window
    /// (default window: the last 30 days; a window needs both bounds).
    get "/reports/buildings/{building_id}/time-distribution/calendar" "reports_building_calendar"
    "Presence in a building per calendar period",
    ("building_id" = i64, Path), CalendarQuery, [Refused, NotFound, Invalid],
    (Vec<OccupancyBucket>), "The periods (CSV: one row per period)",
    Clone::clone;
    async fn building_calendar(state, w = WindowRule::finite(24 * 30), q, building_id) {
        let min = min_duration(q.min_duration_seconds)?;
        let g = granularity(q.granularity.as_deref())?;
        let subject = Subject::Building(building_id);
        subject.name(&state).await?;
        buckets_of(&state, &w, subject.sessions(), min, g).await?
    }
}

report! {
    /// The alerts of a building's gateways by type (default window: the last 30 days).
    get "/reports/buildings/{building_id}/alerts/summary" "reports_building_alerts_summary"
    "A building's alerts by type",
    ("building_id" = i64, Path), WindowQuery, [NotFound, Invalid],
    (AlertsSummaryReport), "The summary (CSV: `by_type`)",
    |b| b.by_type.clone();
    async fn building_alerts(state, w = WindowRule::last_hours(24 * 30), q, building_id) {
        let alerts = Subject::Building(building_id).alerts_of(&state, &w).await?;
        alerts_summary(&w, "building", building_id, &alerts)
    }
}
