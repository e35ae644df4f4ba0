//! `/positions/history` and `/floor-plans/{id}/heatmap`: the position history the ingest
//! pipeline keeps (downsampled: see `ingest/history.rs`) as tracks to replay, and as the
//! dwell per cell of a grid over a plan. A tag's person is the one it is assigned to now.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, FieldError};
use super::extract::{ApiPath, ApiQuery, AuthUser};
use super::openapi::{Invalid, NotFound};
use super::resource::find;
use super::validate::FlexibleDateTime;
use crate::mac;
use crate::store::history::HistoryPoint;
use crate::store::people::{Person, PersonGroup, Tag};
use crate::store::site::FloorPlan;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history))
        .routes(routes!(heatmap))
}

/// Points a history answers by default, and at most.
const DEFAULT_POINTS: i64 = 50_000;
const MAX_POINTS: i64 = 200_000;
/// Heat map grid width (cells) by default, and its range; rows follow the plan's shape.
const DEFAULT_COLUMNS: i64 = 40;
const COLUMNS: std::ops::RangeInclusive<i64> = 4..=200;
const MAX_ROWS: usize = 1000;
/// A heat map may span this many times the longest history window.
const HEATMAP_WINDOWS: u32 = 31;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// The tracks of this person's tags.
    person_id: Option<i64>,
    /// The track of this tag.
    tag_id: Option<i64>,
    /// Only points on this plan; alone, every tag on it.
    floor_plan_id: Option<i64>,
    /// Start of the window (RFC 3339), inclusive.
    #[param(value_type = Option<DateTime<Utc>>)]
    from_ts: Option<FlexibleDateTime>,
    /// End of the window, exclusive; at most `positions.history_max_window_hours` after
    /// `from_ts`.
    #[param(value_type = Option<DateTime<Utc>>)]
    to_ts: Option<FlexibleDateTime>,
    /// Points at most (1 to 200000, default 50000); the earliest are kept.
    limit: Option<i64>,
}

/// Where a tag was at one moment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TrackPoint {
    ts: DateTime<Utc>,
    floor_plan_id: i64,
    /// Fractions (0–1) of the plan image, as in `/positions/current`.
    x: f64,
    y: f64,
    accuracy_m: Option<f64>,
}

/// One tag's points, ascending by time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Track {
    tag_id: i64,
    tag_mac_address: String,
    /// The person the tag is assigned to now (null: nobody).
    person_id: Option<i64>,
    person_full_name: Option<String>,
    points: Vec<TrackPoint>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PositionHistory {
    from_ts: DateTime<Utc>,
    to_ts: DateTime<Utc>,
    /// More points than `limit` matched: the latest were left out.
    truncated: bool,
    tracks: Vec<Track>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct HeatmapQuery {
    /// Start of the window (RFC 3339), inclusive.
    #[param(value_type = Option<DateTime<Utc>>)]
    from_ts: Option<FlexibleDateTime>,
    /// End of the window, exclusive; at most 31 × `positions.history_max_window_hours`
    /// after `from_ts`.
    #[param(value_type = Option<DateTime<Utc>>)]
    to_ts: Option<FlexibleDateTime>,
    /// Only the members of this person group.
    group_id: Option<i64>,
    /// Only this person.
    person_id: Option<i64>,
    /// Grid width in cells (4 to 200, default 40).
    columns: Option<i64>,
}

/// Dwell per cell of a grid over the plan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Heatmap {
    floor_plan_id: i64,
    from_ts: DateTime<Utc>,
    to_ts: DateTime<Utc>,
    columns: usize,
    /// From the plan's aspect ratio (metres, else image size, else square).
    rows: usize,
    /// Row-major, row 0 at the top of the image: seconds spent in each cell.
    cells: Vec<f64>,
    max_seconds: f64,
    total_seconds: f64,
    /// People (a tag with nobody assigned counts as one) with some dwell on the plan.
    people_count: usize,
}

/// The window `[from_ts, to_ts)`, at most `max_hours` long.
fn window(
    from: Option<FlexibleDateTime>,
    to: Option<FlexibleDateTime>,
    max_hours: u32,
) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let required = |field| {
        ApiError::invalid(FieldError::new(
            "missing",
            &["query", field],
            "Field required",
        ))
    };
    let from = from.ok_or_else(|| required("from_ts"))?.0;
    let to = to.ok_or_else(|| required("to_ts"))?.0;
    let problem =
        |msg: String| ApiError::invalid(FieldError::new("value_error", &["query", "to_ts"], msg));
    if to <= from {
        return Err(problem("to_ts must be after from_ts".into()));
    }
    if to - from > chrono::Duration::hours(i64::from(max_hours)) {
        return Err(problem(format!(
            "the window may span at most {max_hours} hours"
        )));
    }
    Ok((from, to))
}

fn no_selector() -> ApiError {
    ApiError::invalid(FieldError::new(
        "missing",
        &["query", "person_id"],
        "give person_id, tag_id or floor_plan_id",
    ))
}

fn in_range(
    value: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    field: &str,
) -> ApiResult<i64> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        return Ok(value);
    }
    Err(ApiError::invalid(FieldError::new(
        "value_error",
        &["query", field],
        format!("must be between {} and {}", range.start(), range.end()),
    )))
}

#[utoipa::path(
    get,
    path = "/positions/history",
    operation_id = "positions_history",
    tag = "positions",
    summary = "Where a person, a tag or everybody on a plan was in a time window (the replay)",
    params(HistoryQuery),
    responses((status = 200, body = PositionHistory), NotFound, Invalid),
)]
async fn history(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<PositionHistory>> {
    if q.person_id.is_none() && q.tag_id.is_none() && q.floor_plan_id.is_none() {
        return Err(no_selector());
    }
    let (from, to) = window(
        q.from_ts,
        q.to_ts,
        state.config.positions.history_max_window_hours,
    )?;
    let limit = in_range(q.limit, DEFAULT_POINTS, 1..=MAX_POINTS, "limit")?;
    if let Some(plan) = q.floor_plan_id {
        find::<FloorPlan>(&state, plan).await?;
    }
    let tags: HashMap<i64, Tag> = state
        .store
        .list_tags(None, 0, i64::MAX)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    // The tags asked for; none: every tag on the plan.
    let mut selected: Option<Vec<i64>> = None;
    if let Some(person) = q.person_id {
        find::<Person>(&state, person).await?;
        let mut carried: Vec<i64> = tags
            .values()
            .filter(|t| t.person_id == Some(person))
            .map(|t| t.id)
            .collect();
        carried.sort_unstable();
        selected = Some(carried);
    }
    if let Some(tag) = q.tag_id {
        find::<Tag>(&state, tag).await?;
        selected = Some(match selected {
            Some(carried) => carried.into_iter().filter(|t| *t == tag).collect(),
            None => vec![tag],
        });
    }
    let mut points = match (&selected, q.floor_plan_id) {
        (Some(selected), plan) => {
            let mut points = Vec::new();
            for tag in selected {
                points.extend(
                    state
                        .store
                        .tag_history(*tag, plan, (from, to), limit + 1)
                        .await?,
                );
            }
            points.sort_by_key(|p| (p.ts, p.tag_id));
            points
        }
        (None, Some(plan)) => {
            state
                .store
                .plan_history(plan, (from, to), limit + 1)
                .await?
        }
        (None, None) => return Err(no_selector()),
    };
    let truncated = points.len() as i64 > limit;
    points.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let people: HashMap<i64, Person> = state
        .store
        .list_people(0, i64::MAX)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut tracks: Vec<Track> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for p in points {
        // A tag deleted meanwhile takes its history with it.
        let Some(tag) = tags.get(&p.tag_id) else {
            continue;
        };
        let at = *index.entry(tag.id).or_insert_with(|| {
            let person = tag.person_id.and_then(|id| people.get(&id));
            tracks.push(Track {
                tag_id: tag.id,
                tag_mac_address: mac::display_stored(&tag.mac_address),
                person_id: person.map(|p| p.id),
                person_full_name: person.map(|p| p.full_name.clone()),
                points: Vec::new(),
            });
            tracks.len() - 1
        });
        tracks[at].points.push(TrackPoint {
            ts: p.ts,
            floor_plan_id: p.floor_plan_id,
            x: p.x,
            y: p.y,
            accuracy_m: p.accuracy_m,
        });
    }
    tracks.sort_by_key(|t| t.tag_id);
    Ok(Json(PositionHistory {
        from_ts: from,
        to_ts: to,
        truncated,
        tracks,
    }))
}

#[utoipa::path(
    get,
    path = "/floor-plans/{floor_plan_id}/heatmap",
    operation_id = "floor_plans_heatmap",
    tag = "positions",
    summary = "Where people spent their time on a plan: dwell seconds per grid cell",
    params(("floor_plan_id" = i64, Path, description = "Floor plan id"), HeatmapQuery),
    responses((status = 200, body = Heatmap), NotFound, Invalid),
)]
async fn heatmap(
    State(state): State<AppState>,
    _user: AuthUser,
    ApiPath(plan_id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<HeatmapQuery>,
) -> ApiResult<Json<Heatmap>> {
    let plan = find::<FloorPlan>(&state, plan_id).await?;
    let positions = &state.config.positions;
    let (from, to) = window(
        q.from_ts,
        q.to_ts,
        positions.history_max_window_hours * HEATMAP_WINDOWS,
    )?;
    let columns = in_range(q.columns, DEFAULT_COLUMNS, COLUMNS, "columns")?;
    // Who counts: everybody, or the people of the group and/or the person.
    let mut people: Option<HashSet<i64>> = None;
    if let Some(group) = q.group_id {
        find::<PersonGroup>(&state, group).await?;
        let members = state.store.group_members(group).await?;
        people = Some(members.into_iter().map(|p| p.id).collect());
    }
    if let Some(person) = q.person_id {
        find::<Person>(&state, person).await?;
        people = Some(match people {
            Some(members) => members.into_iter().filter(|p| *p == person).collect(),
            None => HashSet::from([person]),
        });
    }
    let carriers: HashMap<i64, Carrier> = state
        .store
        .list_tags(None, 0, i64::MAX)
        .await?
        .into_iter()
        .filter(|t| {
            people
                .as_ref()
                .is_none_or(|p| t.person_id.is_some_and(|id| p.contains(&id)))
        })
        .map(|t| {
            (
                t.id,
                t.person_id.map_or(Carrier::Tag(t.id), Carrier::Person),
            )
        })
        .collect();
    let cap = chrono::Duration::seconds(2 * i64::from(positions.history_keepalive_seconds));
    let mut heat = Heat::new(
        usize::try_from(columns).unwrap_or(1),
        aspect(&plan),
        (from, to),
        cap,
    );
    // From one cap before the window: a point just before it still dwells into it.
    state
        .store
        .each_plan_point(plan.id, (from - cap, to), |point| {
            if let Some(carrier) = carriers.get(&point.tag_id) {
                heat.add(*carrier, &point);
            }
        })
        .await?;
    Ok(Json(heat.finish(plan.id)))
}

/// Height over width of the plan: from its metres, else its image, else square.
fn aspect(plan: &FloorPlan) -> f64 {
    let ratio = |w: Option<f64>, h: Option<f64>| match (w, h) {
        (Some(w), Some(h)) if w > 0.0 && h > 0.0 && (h / w).is_finite() => Some(h / w),
        _ => None,
    };
    ratio(plan.width_m, plan.height_m)
        .or_else(|| ratio(plan.width, plan.height))
        .unwrap_or(1.0)
}

/// Who a tag's dwell belongs to, for `people_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Carrier {
    Person(i64),
    /// A tag nobody is assigned to.
    Tag(i64),
}

/// The heat map being accumulated: each point dwells in its cell until the same tag's
/// next point, at most `cap` (a tag that went silent), clipped to the window.
struct Heat {
    columns: usize,
    rows: usize,
    window: (DateTime<Utc>, DateTime<Utc>),
    cap: chrono::Duration,
    cells: Vec<f64>,
    /// Each tag's previous point: its cell, time and carrier.
    open: HashMap<i64, (usize, DateTime<Utc>, Carrier)>,
    dwelt: HashSet<Carrier>,
}

impl Heat {
    fn new(
        columns: usize,
        aspect: f64,
        window: (DateTime<Utc>, DateTime<Utc>),
        cap: chrono::Duration,
    ) -> Heat {
        let rows = ((columns as f64 * aspect).round() as usize).clamp(1, MAX_ROWS);
        Heat {
            columns,
            rows,
            window,
            cap,
            cells: vec![0.0; columns * rows],
            open: HashMap::new(),
            dwelt: HashSet::new(),
        }
    }

    /// Takes a tag's next point (points come in time order).
    fn add(&mut self, carrier: Carrier, point: &HistoryPoint) {
        let cell = |v: f64, n: usize| ((v.clamp(0.0, 1.0) * n as f64) as usize).min(n - 1);
        let at = cell(point.y, self.rows) * self.columns + cell(point.x, self.columns);
        if let Some(previous) = self.open.insert(point.tag_id, (at, point.ts, carrier)) {
            self.dwell(previous, Some(point.ts));
        }
    }

    /// Adds the dwell of a point in its cell, until `next` (or the cap, or the window's end).
    fn dwell(
        &mut self,
        (cell, since, carrier): (usize, DateTime<Utc>, Carrier),
        next: Option<DateTime<Utc>>,
    ) {
        let (from, to) = self.window;
        let mut until = (since + self.cap).min(to);
        if let Some(next) = next {
            until = until.min(next);
        }
        let seconds = (until - since.max(from)).num_milliseconds() as f64 / 1000.0;
        if seconds > 0.0 {
            self.cells[cell] += seconds;
            self.dwelt.insert(carrier);
        }
    }

    fn finish(mut self, floor_plan_id: i64) -> Heatmap {
        let open: Vec<_> = self.open.drain().map(|(_, last)| last).collect();
        for last in open {
            self.dwell(last, None);
        }
        Heatmap {
            floor_plan_id,
            from_ts: self.window.0,
            to_ts: self.window.1,
            columns: self.columns,
            rows: self.rows,
            max_seconds: self.cells.iter().copied().fold(0.0, f64::max),
            total_seconds: self.cells.iter().sum(),
            people_count: self.dwelt.len(),
            cells: self.cells,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::seconds(1_800_000_000 + seconds)
    }

    fn point(tag_id: i64, seconds: i64, x: f64, y: f64) -> HistoryPoint {
        HistoryPoint {
            tag_id,
            floor_plan_id: 1,
            ts: at(seconds),
            x,
            y,
            accuracy_m: None,
        }
    }

    #[test]
    fn each_point_dwells_until_the_next_capped_and_clipped() {
        let mut heat = Heat::new(4, 0.5, (at(0), at(1000)), chrono::Duration::seconds(120));
        assert_eq!((heat.columns, heat.rows), (4, 2));
        let ana = Carrier::Person(1);
        // Before the window: only the part inside counts (10 s).
        heat.add(ana, &point(1, -50, 0.1, 0.1));
        heat.add(ana, &point(1, 10, 0.9, 0.9)); // dwells 30 s (bottom right)
        heat.add(ana, &point(1, 40, 0.9, 0.1)); // 120 s at most: silent after (top right)
        heat.add(Carrier::Tag(2), &point(2, 990, 0.1, 0.9)); // 10 s, until the window's end
        let map = heat.finish(1);
        assert_eq!(map.cells, vec![10.0, 0.0, 0.0, 120.0, 10.0, 0.0, 0.0, 30.0]);
        assert_eq!(
            (map.total_seconds, map.max_seconds, map.people_count),
            (170.0, 120.0, 2)
        );
    }
}
