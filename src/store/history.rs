//! Position history: the tags' downsampled positions on their plans (written by the ingest
//! writer with the readings, see [`super::readings`]), read back as tracks and heat maps,
//! and deleted by age.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;

use super::{Result, Store, on_pool};

/// One point of a tag's track: where on a plan (fractions of the image), when, how sure.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HistoryPoint {
    pub tag_id: i64,
    pub floor_plan_id: i64,
    pub ts: DateTime<Utc>,
    pub x: f64,
    pub y: f64,
    pub accuracy_m: Option<f64>,
}

macro_rules! point_columns {
    () => {
        "tag_id, floor_plan_id, ts, x, y, accuracy_m"
    };
}

const TABLE: &str = "position_history (tag_id, floor_plan_id, ts, x, y, accuracy_m)";

/// The multi-row insert of `rows` points on SQLite (`?` placeholders: see
/// [`super::readings`]); `checked` leaves out points whose tag or plan is gone.
pub(super) fn sqlite_insert(rows: usize, checked: bool) -> String {
    let values = vec!["(?, ?, ?, ?, ?, ?)"; rows].join(", ");
    if checked {
        format!(
            "INSERT INTO {TABLE} SELECT column1, column2, column3, column4, column5, column6 \
             FROM (VALUES {values}) WHERE column1 IN (SELECT id FROM tags) \
             AND column2 IN (SELECT id FROM floor_plans)"
        )
    } else {
        format!("INSERT INTO {TABLE} VALUES {values}")
    }
}

/// The insert of a batch of points on PostgreSQL, from one array per column.
pub(super) fn postgres_insert(checked: bool) -> String {
    let arrays = "$1::bigint[], $2::bigint[], $3::timestamptz[], $4::float8[], $5::float8[], \
                  $6::float8[]";
    if checked {
        format!(
            "INSERT INTO {TABLE} SELECT u.* FROM UNNEST({arrays}) \
             AS u(tag_id, floor_plan_id, ts, x, y, accuracy_m) \
             WHERE EXISTS (SELECT 1 FROM tags t WHERE t.id = u.tag_id) \
             AND EXISTS (SELECT 1 FROM floor_plans p WHERE p.id = u.floor_plan_id)"
        )
    } else {
        format!("INSERT INTO {TABLE} SELECT * FROM UNNEST({arrays})")
    }
}

impl Store {
    /// One tag's points in `[from, to)`, on one plan if given, oldest first, at most
    /// `limit` (through the index on (tag, time)).
    pub async fn tag_history(
        &self,
        tag_id: i64,
        floor_plan_id: Option<i64>,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: i64,
    ) -> Result<Vec<HistoryPoint>> {
        const SQL: &str = concat!(
            "SELECT ",
            point_columns!(),
            " FROM position_history WHERE tag_id = $1 AND ts >= $2 AND ts < $3 \
             AND ($4 IS NULL OR floor_plan_id = $4) ORDER BY ts, id LIMIT $5"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(tag_id)
            .bind(from)
            .bind(to)
            .bind(floor_plan_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Every point on a plan in `[from, to)`, oldest first, at most `limit` (through the
    /// index on (plan, time)).
    pub async fn plan_history(
        &self,
        floor_plan_id: i64,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        limit: i64,
    ) -> Result<Vec<HistoryPoint>> {
        const SQL: &str = concat!(
            "SELECT ",
            point_columns!(),
            " FROM position_history WHERE floor_plan_id = $1 AND ts >= $2 AND ts < $3 \
             ORDER BY ts, id LIMIT $4"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(floor_plan_id)
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Hands every point on a plan in `[from, to)` to `each`, oldest first, streamed: a
    /// month of a busy plan never sits in memory at once.
    pub async fn each_plan_point(
        &self,
        floor_plan_id: i64,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        mut each: impl FnMut(HistoryPoint),
    ) -> Result<()> {
        const SQL: &str = concat!(
            "SELECT ",
            point_columns!(),
            " FROM position_history WHERE floor_plan_id = $1 AND ts >= $2 AND ts < $3 \
             ORDER BY ts, id"
        );
        on_pool!(self, read, |pool| {
            let mut rows = sqlx::query_as::<_, HistoryPoint>(SQL)
                .bind(floor_plan_id)
                .bind(from)
                .bind(to)
                .fetch(pool);
            while let Some(point) = rows.try_next().await? {
                each(point);
            }
        });
        Ok(())
    }

    /// Deletes points older than `cutoff`, plan by plan (every point has a plan, deleted
    /// with it, and the (plan, time) index finds them) in chunks, so that a long backlog never holds the
    /// writer for long; returns how many were deleted.
    pub async fn delete_history_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        const PLANS: &str = "SELECT id FROM floor_plans";
        const CHUNK: &str = "DELETE FROM position_history WHERE id IN \
             (SELECT id FROM position_history WHERE floor_plan_id = $1 AND ts < $2 LIMIT 10000)";
        let plans: Vec<i64> = on_pool!(self, read, |pool| sqlx::query_scalar(PLANS)
            .fetch_all(pool)
            .await?);
        let mut total = 0;
        for plan in plans {
            loop {
                let deleted = on_pool!(self, write, |pool| sqlx::query(CHUNK)
                    .bind(plan)
                    .bind(cutoff)
                    .execute(pool)
                    .await?
                    .rows_affected());
                total += deleted;
                if deleted == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }
}
