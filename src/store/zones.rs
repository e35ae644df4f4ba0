//! Zones: polygons drawn on a floor plan (plan fractions), their points stored as JSON text.

use chrono::{DateTime, Utc};

use super::record::{record, save_row, select};
use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Zone {
    pub id: i64,
    pub floor_plan_id: i64,
    pub name: String,
    pub color: Option<String>,
    /// JSON text: `[{"x": …, "y": …}, …]`, checked by `geometry::Polygon` when saved.
    pub points: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the alert engine needs of a zone.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ZoneShape {
    pub id: i64,
    pub floor_plan_id: i64,
    pub name: String,
    pub points: String,
    pub width_m: Option<f64>,
    pub height_m: Option<f64>,
}

macro_rules! zone_columns {
    () => {
        "id, floor_plan_id, name, color, points, created_at, updated_at"
    };
}

record!(Zone, "zones", zone_columns);

impl Store {
    /// Zones by id, of one plan or all.
    pub async fn list_zones(
        &self,
        floor_plan_id: Option<i64>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Zone>> {
        const SQL: &str = select!(
            zone_columns,
            "FROM zones WHERE ($1 IS NULL OR floor_plan_id = $1) ORDER BY id LIMIT $2 OFFSET $3"
        );
        self.fetch_page_by(SQL, floor_plan_id, skip, limit).await
    }

    /// Every zone with its plan's size in metres, if known (the alert engine's cache).
    pub async fn zone_shapes(&self) -> Result<Vec<ZoneShape>> {
        const SQL: &str = "SELECT z.id, z.floor_plan_id, z.name, z.points, p.width_m, p.height_m \
             FROM zones z JOIN floor_plans p ON p.id = z.floor_plan_id ORDER BY z.id";
        self.fetch_all(SQL).await
    }

    /// Inserts (id 0) or updates a zone; stamps `updated_at`.
    pub async fn save_zone(&self, z: &Zone) -> Result<Zone> {
        const INSERT: &str = concat!(
            "INSERT INTO zones (floor_plan_id, name, color, points, updated_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            zone_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE zones SET floor_plan_id = $1, name = $2, color = $3, points = $4, \
             updated_at = $5 WHERE id = $6 RETURNING ",
            zone_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            z,
            INSERT,
            UPDATE,
            |q| q
                .bind(z.floor_plan_id)
                .bind(&z.name)
                .bind(&z.color)
                .bind(&z.points)
                .bind(now())
        )))
    }
}
