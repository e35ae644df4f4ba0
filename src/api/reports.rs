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
use crate::reports::rollups::{self, Need};
use crate::reports::store::{AlertFilter, SessionFilter};
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

async fn person_name(state: &AppState, id: i64) -> ApiResult<String> {
    Ok(or_404(state.store.person(id).await, "Person not found")?.full_name)
}

async fn device_name(state: &AppState, id: i64) -> ApiResult<String> {
    Ok(or_404(state.store.device(id).await, "Device not found")?.name)
}

async fn building_name(state: &AppState, id: i64) -> ApiResult<String> {
    let building = state.store.fetch_by_id::<Building>(id).await;
    Ok(or_404(building, "Building not found")?.name)
}

/// The visits of a window: from the rollups where they can answer what the report
/// `need`s (whole hours, no minimum duration: [`rollups`]), otherwise from its sessions.
async fn visits_of(
    state: &AppState,
    w: &Window,
    filter: SessionFilter,
    min: Option<i64>,
    need: Need,
) -> ApiResult<Vec<Visit>> {
    let reports = &state.config.reports;
    if reports.rollup_interval_seconds > 0
        && min.unwrap_or(0) == 0
        && let Some(shape) = rollups::shape(w, need, reports.rollup_retention_days)
    {
        return Ok(rollups::presence(&state.store, w, &filter, shape).await?);
    }
    let sessions = state.store.report_sessions(w.from, w.to, &filter).await?;
    Ok(visits(w, sessions, min))
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

// ---- 2 ----

/// Totals of the window and the ten gateways, people, buildings, floors and groups with
/// the most dwell (default window: the last 7 days).
#[utoipa::path(
    get,
    path = "/reports/overview",
    operation_id = "reports_overview",
    tag = "reports",
    summary = "Presence overview of a window",
    params(OverviewQuery),
    responses(
        (status = 200, description = "The overview (CSV: the top lists, one row per item, with a `list` column)",
            content((OverviewReport = "application/json"), (String = "text/csv"))),
        Invalid,
    ),
)]
async fn overview(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<OverviewQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 7))?;
    let filter = SessionFilter {
        device_id: q.device_id,
        tag_id: q.tag_id,
        ..SessionFilter::default()
    };
    let visits = visits_of(&state, &w, filter, None, Need::Totals).await?;
    let memberships = state.store.report_group_memberships().await?;
    let body = crate::reports::overview(&w, &visits, &memberships);
    Ok(answer(
        format,
        "overview",
        both(&w),
        body,
        csv::overview_rows,
    ))
}

// ---- 3 ----

/// Where the members of a group spent their time (default window: the last 7 days).
#[utoipa::path(
    get,
    path = "/reports/person-group/{group_id}/summary",
    operation_id = "reports_person_group_summary",
    tag = "reports",
    summary = "Presence of a person group, by gateway and by person",
    params(("group_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The summary (CSV: `dwell_by_device`)",
            content((PersonGroupPresenceSummary = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn group_summary(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(group_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 7))?;
    let min = min_duration(q.min_duration_seconds)?;
    let group = or_404(
        state.store.person_group(group_id).await,
        "Person group not found",
    )?;
    let filter = SessionFilter {
        group_id: Some(group_id),
        ..SessionFilter::default()
    };
    let visits = visits_of(&state, &w, filter, min, Need::Totals).await?;
    let body = crate::reports::group_summary(&w, group_id, group.name, &visits);
    Ok(answer(
        format,
        "person-group-summary",
        both(&w),
        body,
        |b| b.dwell_by_device.clone(),
    ))
}

// ---- 4–10: a person ----

fn person_filter(person_id: i64) -> SessionFilter {
    SessionFilter {
        person_id: Some(person_id),
        ..SessionFilter::default()
    }
}

/// Where a person spent their time, by gateway (default window: the last 7 days).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/summary",
    operation_id = "reports_person_summary",
    tag = "reports",
    summary = "Presence of a person, by gateway",
    params(("person_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The summary (CSV: `dwell_by_device`)",
            content((PersonPresenceSummary = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn person_summary(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 7))?;
    let min = min_duration(q.min_duration_seconds)?;
    let name = person_name(&state, person_id).await?;
    let visits = visits_of(&state, &w, person_filter(person_id), min, Need::Totals).await?;
    let body = crate::reports::person_summary(&w, person_id, name, &visits);
    Ok(answer(format, "person-summary", both(&w), body, |b| {
        b.dwell_by_device.clone()
    }))
}

/// A person's sessions with their places, newest first (default window: the last 7 days).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/timeline",
    operation_id = "reports_person_timeline",
    tag = "reports",
    summary = "A person's sessions, newest first",
    params(("person_id" = i64, Path), TimelineQuery),
    responses(
        (status = 200, description = "The sessions (CSV: one row per session)",
            content((Vec<PersonTimelineSession> = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn person_timeline(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 7))?;
    let min = min_duration(q.min_duration_seconds)?;
    let limit = within("limit", q.limit, 500, 1..=5000)?;
    person_name(&state, person_id).await?;
    let visits = visits_of(&state, &w, person_filter(person_id), min, Need::Sessions).await?;
    let body = timeline(visits, limit as usize);
    Ok(answer(
        format,
        "person-timeline",
        both(&w),
        body,
        Clone::clone,
    ))
}

/// A person's dwell per day, week, month or year; only periods with presence are listed
/// (default window: the last 30 days).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/time-distribution/calendar",
    operation_id = "reports_person_calendar",
    tag = "reports",
    summary = "A person's dwell per calendar period",
    params(("person_id" = i64, Path), CalendarQuery),
    responses(
        (status = 200, description = "The distribution (CSV: `buckets`)",
            content((PersonTimeDistributionCalendar = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn person_calendar(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 30))?;
    let min = min_duration(q.min_duration_seconds)?;
    let g = granularity(q.granularity.as_deref())?;
    let name = person_name(&state, person_id).await?;
    let visits = visits_of(&state, &w, person_filter(person_id), min, Need::Buckets(g)).await?;
    let body = crate::reports::person_calendar(&w, g, person_id, name, &visits);
    Ok(answer(format, "person-calendar", both(&w), body, |b| {
        b.buckets.clone()
    }))
}

/// A person's dwell by hour of the day, 24 buckets (default window: the last 24 hours;
/// a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/time-distribution/hour-of-day",
    operation_id = "reports_person_hour_of_day",
    tag = "reports",
    summary = "A person's dwell by hour of the day",
    params(("person_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The distribution (CSV: `buckets`)",
            content((PersonTimeOfDayDistribution = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn person_hour_of_day(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24))?;
    let min = min_duration(q.min_duration_seconds)?;
    let name = person_name(&state, person_id).await?;
    let visits = visits_of(
        &state,
        &w,
        person_filter(person_id),
        min,
        Need::Labels(buckets::Granularity::Hour, hour_label),
    )
    .await?;
    let body = person_hours(&w, person_id, name, &visits);
    Ok(answer(format, "person-hour-of-day", both(&w), body, |b| {
        b.buckets.clone()
    }))
}

/// A person's dwell by day of the week, 7 buckets from Sunday (default window: the last
/// 30 days; a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/time-distribution/day-of-week",
    operation_id = "reports_person_day_of_week",
    tag = "reports",
    summary = "A person's dwell by day of the week",
    params(("person_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The distribution (CSV: `buckets`)",
            content((PersonDayOfWeekDistribution = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn person_day_of_week(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24 * 30))?;
    let min = min_duration(q.min_duration_seconds)?;
    let name = person_name(&state, person_id).await?;
    let visits = visits_of(
        &state,
        &w,
        person_filter(person_id),
        min,
        Need::Labels(buckets::Granularity::Day, weekday_label),
    )
    .await?;
    let body = person_weekdays(&w, person_id, name, &visits);
    Ok(answer(format, "person-day-of-week", both(&w), body, |b| {
        b.buckets.clone()
    }))
}

/// A person's dwell by hour of the day and gateway, only pairs with presence (default
/// window: the last 24 hours; a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/time-distribution/hour-by-gateway",
    operation_id = "reports_person_hour_by_gateway",
    tag = "reports",
    summary = "A person's dwell by hour of the day and gateway",
    params(("person_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The distribution (CSV: `buckets`)",
            content((PersonTimeOfDayByGateway = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn person_hour_by_gateway(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24))?;
    let min = min_duration(q.min_duration_seconds)?;
    let name = person_name(&state, person_id).await?;
    let visits = visits_of(
        &state,
        &w,
        person_filter(person_id),
        min,
        Need::Labels(buckets::Granularity::Hour, hour_label),
    )
    .await?;
    let body = person_hours_by_gateway(&w, person_id, name, &visits);
    Ok(answer(
        format,
        "person-hour-by-gateway",
        both(&w),
        body,
        |b| b.buckets.clone(),
    ))
}

/// A person's alerts: totals by type and gateway over the whole window, and the newest
/// events (default window: the last 30 days).
#[utoipa::path(
    get,
    path = "/reports/person/{person_id}/alerts",
    operation_id = "reports_person_alerts",
    tag = "reports",
    summary = "A person's alerts",
    params(("person_id" = i64, Path), PersonAlertsQuery),
    responses(
        (status = 200, description = "The report (CSV: `events`)",
            content((PersonAlertsReport = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn person_alerts(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(person_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PersonAlertsQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 30))?;
    let max_events = within("max_events", q.max_events, 1000, 1..=10_000)?;
    let name = person_name(&state, person_id).await?;
    let filter = AlertFilter {
        person_id: Some(person_id),
        device_id: q.device_id,
        event_type: q.event_type.clone().filter(|t| !t.is_empty()),
        ..AlertFilter::default()
    };
    let alerts = state.store.report_alerts(w.from, w.to, &filter).await?;
    let body = crate::reports::person_alerts(&w, person_id, name, alerts, max_events as usize);
    Ok(answer(format, "person-alerts", both(&w), body, |b| {
        b.events.clone()
    }))
}

// ---- 11–14, 18: gateways ----

/// Gateways with presence in the window, most visited first (default window: the last 7
/// days).
#[utoipa::path(
    get,
    path = "/reports/gateways/usage-summary",
    operation_id = "reports_gateways_usage_summary",
    tag = "reports",
    summary = "Presence per gateway",
    params(UsageQuery),
    responses(
        (status = 200, description = "The summary (CSV: `gateways`)",
            content((GatewayUsageSummary = "application/json"), (String = "text/csv"))),
        Invalid,
    ),
)]
async fn gateways_usage(
    State(state): State<AppState>,
    _: AuthUser,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 7))?;
    let min = min_duration(q.min_duration_seconds)?;
    let filter = SessionFilter {
        device_id: q.device_id,
        building_id: q.building_id,
        floor_id: q.floor_id,
        floor_plan_id: q.floor_plan_id,
        ..SessionFilter::default()
    };
    let visits = visits_of(&state, &w, filter, min, Need::Totals).await?;
    let body = gateway_usage(&w, &visits);
    Ok(answer(
        format,
        "gateways-usage-summary",
        both(&w),
        body,
        |b| b.gateways.clone(),
    ))
}

fn device_filter(device_id: i64) -> SessionFilter {
    SessionFilter {
        device_id: Some(device_id),
        ..SessionFilter::default()
    }
}

/// A gateway's presence by hour of the day, 24 buckets (default window: the last 7 days;
/// a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/gateways/{device_id}/time-of-day",
    operation_id = "reports_gateway_time_of_day",
    tag = "reports",
    summary = "A gateway's presence by hour of the day",
    params(("device_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The distribution (CSV: `buckets`)",
            content((GatewayTimeOfDayDistribution = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn gateway_time_of_day(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(device_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24 * 7))?;
    let min = min_duration(q.min_duration_seconds)?;
    let name = device_name(&state, device_id).await?;
    let visits = visits_of(
        &state,
        &w,
        device_filter(device_id),
        min,
        Need::Labels(buckets::Granularity::Hour, hour_label),
    )
    .await?;
    let body = gateway_hours(&w, device_id, name, &visits);
    Ok(answer(format, "gateway-time-of-day", both(&w), body, |b| {
        b.buckets.clone()
    }))
}

/// A gateway's presence hour by hour (every hour of the window), its busiest hour and how
/// long visits lasted in the window (default window: the last 24 hours; a window needs
/// both bounds).
#[utoipa::path(
    get,
    path = "/reports/gateways/{device_id}/occupancy",
    operation_id = "reports_gateway_occupancy",
    tag = "reports",
    summary = "A gateway's occupancy per hour",
    params(("device_id" = i64, Path), WindowQuery),
    responses(
        (status = 200, description = "The occupancy (CSV: `buckets`)",
            content((GatewayOccupancy = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn gateway_occupancy(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(device_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24))?;
    let name = device_name(&state, device_id).await?;
    let visits = visits_of(&state, &w, device_filter(device_id), None, Need::Sessions).await?;
    let body = occupancy(&w, device_id, name, &visits);
    Ok(answer(format, "gateway-occupancy", both(&w), body, |b| {
        b.buckets.clone()
    }))
}

/// The most distinct people at a gateway at one moment, hour by hour (default window:
/// the last 24 hours; a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/gateways/{device_id}/concurrency",
    operation_id = "reports_gateway_concurrency",
    tag = "reports",
    summary = "A gateway's peak concurrency per hour",
    params(("device_id" = i64, Path), WindowQuery),
    responses(
        (status = 200, description = "The concurrency (CSV: `buckets`)",
            content((GatewayConcurrency = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn gateway_concurrency(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(device_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24))?;
    let name = device_name(&state, device_id).await?;
    let visits = visits_of(&state, &w, device_filter(device_id), None, Need::Sessions).await?;
    let body = concurrency(&w, device_id, name, &visits);
    Ok(answer(format, "gateway-concurrency", both(&w), body, |b| {
        b.buckets.clone()
    }))
}

/// A gateway's alerts by type (default window: the last 30 days).
#[utoipa::path(
    get,
    path = "/reports/gateways/{device_id}/alerts/summary",
    operation_id = "reports_gateway_alerts_summary",
    tag = "reports",
    summary = "A gateway's alerts by type",
    params(("device_id" = i64, Path), WindowQuery),
    responses(
        (status = 200, description = "The summary (CSV: `by_type`)",
            content((AlertsSummaryReport = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn gateway_alerts(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(device_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 30))?;
    device_name(&state, device_id).await?;
    let filter = AlertFilter {
        device_id: Some(device_id),
        ..AlertFilter::default()
    };
    let alerts = state.store.report_alerts(w.from, w.to, &filter).await?;
    let body = alerts_summary(&w, "gateway", device_id, &alerts);
    Ok(answer(
        format,
        "gateway-alerts-summary",
        both(&w),
        body,
        |b| b.by_type.clone(),
    ))
}

// ---- 15–17, 19: buildings ----

fn building_filter(building_id: i64) -> SessionFilter {
    SessionFilter {
        building_id: Some(building_id),
        ..SessionFilter::default()
    }
}

/// Presence in a building and its ten busiest gateways, by sessions and by dwell
/// (default window: the last 30 days).
#[utoipa::path(
    get,
    path = "/reports/buildings/{building_id}/summary",
    operation_id = "reports_building_summary",
    tag = "reports",
    summary = "Presence in a building",
    params(("building_id" = i64, Path), DurationQuery),
    responses(
        (status = 200, description = "The summary (CSV: both gateway lists, with a `list` column)",
            content((BuildingSummary = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn building_summary(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(building_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<DurationQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 30))?;
    let min = min_duration(q.min_duration_seconds)?;
    let name = building_name(&state, building_id).await?;
    let visits = visits_of(&state, &w, building_filter(building_id), min, Need::Totals).await?;
    let body = crate::reports::building_summary(&w, building_id, name, &visits);
    Ok(answer(
        format,
        "building-summary",
        both(&w),
        body,
        csv::building_rows,
    ))
}

/// Presence in a building hour by hour, every hour of the window (default window: the
/// last 24 hours; a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/buildings/{building_id}/time-of-day",
    operation_id = "reports_building_time_of_day",
    tag = "reports",
    summary = "Presence in a building per hour",
    params(("building_id" = i64, Path), WindowQuery),
    responses(
        (status = 200, description = "The hours (CSV: one row per hour)",
            content((Vec<OccupancyBucket> = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn building_time_of_day(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(building_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24))?;
    building_name(&state, building_id).await?;
    let visits = visits_of(
        &state,
        &w,
        building_filter(building_id),
        None,
        Need::Buckets(buckets::Granularity::Hour),
    )
    .await?;
    let body = occupancy_buckets(&w, buckets::Granularity::Hour, &visits);
    Ok(answer(
        format,
        "building-time-of-day",
        both(&w),
        body,
        Clone::clone,
    ))
}

/// Presence in a building per day, week, month or year, every period of the window
/// (default window: the last 30 days; a window needs both bounds).
#[utoipa::path(
    get,
    path = "/reports/buildings/{building_id}/time-distribution/calendar",
    operation_id = "reports_building_calendar",
    tag = "reports",
    summary = "Presence in a building per calendar period",
    params(("building_id" = i64, Path), CalendarQuery),
    responses(
        (status = 200, description = "The periods (CSV: one row per period)",
            content((Vec<OccupancyBucket> = "application/json"), (String = "text/csv"))),
        Refused, NotFound, Invalid,
    ),
)]
async fn building_calendar(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(building_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::finite(24 * 30))?;
    let min = min_duration(q.min_duration_seconds)?;
    let g = granularity(q.granularity.as_deref())?;
    building_name(&state, building_id).await?;
    let visits = visits_of(
        &state,
        &w,
        building_filter(building_id),
        min,
        Need::Buckets(g),
    )
    .await?;
    let body = occupancy_buckets(&w, g, &visits);
    Ok(answer(
        format,
        "building-calendar",
        both(&w),
        body,
        Clone::clone,
    ))
}

/// The alerts of a building's gateways by type (default window: the last 30 days).
#[utoipa::path(
    get,
    path = "/reports/buildings/{building_id}/alerts/summary",
    operation_id = "reports_building_alerts_summary",
    tag = "reports",
    summary = "A building's alerts by type",
    params(("building_id" = i64, Path), WindowQuery),
    responses(
        (status = 200, description = "The summary (CSV: `by_type`)",
            content((AlertsSummaryReport = "application/json"), (String = "text/csv"))),
        NotFound, Invalid,
    ),
)]
async fn building_alerts(
    State(state): State<AppState>,
    _: AuthUser,
    ApiPath(building_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> ApiResult<Response> {
    let (w, format) = q.window(&state, WindowRule::last_hours(24 * 30))?;
    building_name(&state, building_id).await?;
    let filter = AlertFilter {
        building_id: Some(building_id),
        ..AlertFilter::default()
    };
    let alerts = state.store.report_alerts(w.from, w.to, &filter).await?;
    let body = alerts_summary(&w, "building", building_id, &alerts);
    Ok(answer(
        format,
        "building-alerts-summary",
        both(&w),
        body,
        |b| b.by_type.clone(),
    ))
}
