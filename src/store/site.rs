//! The site: buildings, their floors, and the floor plans drawn for each floor.

use chrono::{DateTime, Utc};

use super::record::{record, save_row, select};
use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Building {
    pub id: i64,
    pub name: String,
    pub code: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Floor {
    pub id: i64,
    pub building_id: i64,
    pub name: String,
    pub level: Option<i32>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FloorPlan {
    pub id: i64,
    pub floor_id: i64,
    pub name: String,
    pub image_url: Option<String>,
    pub width: Option<f64>,
    pub height: Option<f64>,
    /// The image's physical size in metres.
    pub width_m: Option<f64>,
    pub height_m: Option<f64>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! building_columns {
    () => {
        "id, name, code, description, created_at, updated_at"
    };
}
macro_rules! floor_columns {
    () => {
        "id, building_id, name, level, description, created_at, updated_at"
    };
}
macro_rules! plan_columns {
    () => {
        "id, floor_id, name, image_url, width, height, width_m, height_m, description, created_at, updated_at"
    };
}

record!(Building, "buildings", building_columns);
record!(Floor, "floors", floor_columns);
record!(FloorPlan, "floor_plans", plan_columns);

impl Store {
    pub async fn list_buildings(&self, skip: i64, limit: i64) -> Result<Vec<Building>> {
        self.fetch_page(skip, limit).await
    }

    pub async fn building_by_code(&self, code: &str) -> Result<Building> {
        const SQL: &str = select!(building_columns, "FROM buildings WHERE code = $1");
        self.fetch_one_by(SQL, code).await
    }

    /// Inserts (id 0) or updates a building; stamps `updated_at`.
    pub async fn save_building(&self, b: &Building) -> Result<Building> {
        const INSERT: &str = concat!(
            "INSERT INTO buildings (name, code, description, updated_at, created_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING ",
            building_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE buildings SET name = $1, code = $2, description = $3, updated_at = $4 \
             WHERE id = $5 RETURNING ",
            building_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            b,
            INSERT,
            UPDATE,
            |q| q
                .bind(&b.name)
                .bind(&b.code)
                .bind(&b.description)
                .bind(now())
        )))
    }

    /// Deletes a building with its floors and floor plans; devices placed there stay,
    /// unplaced. Returns the deleted plans' ids and image URLs (their files can go too).
    pub async fn delete_building(&self, id: i64) -> Result<Vec<(i64, String)>> {
        const IMAGES: &str = "SELECT fp.id, fp.image_url FROM floor_plans fp JOIN floors f ON f.id = fp.floor_id \
             WHERE f.building_id = $1 AND fp.image_url IS NOT NULL";
        const UNPLACE: &str = "UPDATE devices SET pos_x = NULL, pos_y = NULL, updated_at = $2 \
             WHERE floor_plan_id IN (SELECT fp.id FROM floor_plans fp JOIN floors f ON f.id = fp.floor_id \
             WHERE f.building_id = $1)";
        const SQL: &str = "DELETE FROM buildings WHERE id = $1";
        self.delete_returning_images(IMAGES, UNPLACE, SQL, id).await
    }

    /// The floor plans of every floor of a building, by plan name.
    pub async fn floor_plans_of_building(&self, building_id: i64) -> Result<Vec<FloorPlan>> {
        const SQL: &str = concat!(
            "SELECT ",
            plan_columns!(),
            " FROM floor_plans WHERE floor_id IN (SELECT id FROM floors WHERE building_id = $1) \
             ORDER BY name, id"
        );
        self.fetch_all_by(SQL, building_id).await
    }

    pub async fn list_floors(
        &self,
        building_id: Option<i64>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Floor>> {
        const SQL: &str = select!(
            floor_columns,
            "FROM floors WHERE ($1 IS NULL OR building_id = $1) ORDER BY id LIMIT $2 OFFSET $3"
        );
        self.fetch_page_by(SQL, building_id, skip, limit).await
    }

    pub async fn floor(&self, id: i64) -> Result<Floor> {
        self.fetch_by_id(id).await
    }

    /// Inserts (id 0) or updates a floor; stamps `updated_at`.
    pub async fn save_floor(&self, f: &Floor) -> Result<Floor> {
        const INSERT: &str = concat!(
            "INSERT INTO floors (building_id, name, level, description, updated_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            floor_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE floors SET building_id = $1, name = $2, level = $3, description = $4, updated_at = $5 \
             WHERE id = $6 RETURNING ",
            floor_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            f,
            INSERT,
            UPDATE,
            |q| q
                .bind(f.building_id)
                .bind(&f.name)
                .bind(f.level)
                .bind(&f.description)
                .bind(now())
        )))
    }

    /// Deletes a floor with its floor plans; devices stay, unplaced.
    pub async fn delete_floor(&self, id: i64) -> Result<Vec<(i64, String)>> {
        const IMAGES: &str =
            "SELECT id, image_url FROM floor_plans WHERE floor_id = $1 AND image_url IS NOT NULL";
        const UNPLACE: &str = "UPDATE devices SET pos_x = NULL, pos_y = NULL, updated_at = $2 \
             WHERE floor_plan_id IN (SELECT id FROM floor_plans WHERE floor_id = $1)";
        const SQL: &str = "DELETE FROM floors WHERE id = $1";
        self.delete_returning_images(IMAGES, UNPLACE, SQL, id).await
    }

    pub async fn list_floor_plans(
        &self,
        floor_id: Option<i64>,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<FloorPlan>> {
        const SQL: &str = select!(
            plan_columns,
            "FROM floor_plans WHERE ($1 IS NULL OR floor_id = $1) ORDER BY id LIMIT $2 OFFSET $3"
        );
        self.fetch_page_by(SQL, floor_id, skip, limit).await
    }

    pub async fn floor_plan(&self, id: i64) -> Result<FloorPlan> {
        self.fetch_by_id(id).await
    }

    /// Inserts (id 0) or updates a floor plan; stamps `updated_at`.
    pub async fn save_floor_plan(&self, p: &FloorPlan) -> Result<FloorPlan> {
        const INSERT: &str = concat!(
            "INSERT INTO floor_plans (floor_id, name, image_url, width, height, width_m, height_m, description, \
             updated_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ",
            plan_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE floor_plans SET floor_id = $1, name = $2, image_url = $3, width = $4, height = $5, \
             width_m = $6, height_m = $7, description = $8, updated_at = $9 WHERE id = $10 RETURNING ",
            plan_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            p,
            INSERT,
            UPDATE,
            |q| q
                .bind(p.floor_id)
                .bind(&p.name)
                .bind(&p.image_url)
                .bind(p.width)
                .bind(p.height)
                .bind(p.width_m)
                .bind(p.height_m)
                .bind(&p.description)
                .bind(now())
        )))
    }

    /// Deletes a floor plan; its devices stay, unplaced.
    pub async fn delete_floor_plan(&self, id: i64) -> Result<Vec<(i64, String)>> {
        const IMAGES: &str =
            "SELECT id, image_url FROM floor_plans WHERE id = $1 AND image_url IS NOT NULL";
        const UNPLACE: &str = "UPDATE devices SET pos_x = NULL, pos_y = NULL, updated_at = $2 WHERE floor_plan_id = $1";
        const SQL: &str = "DELETE FROM floor_plans WHERE id = $1";
        self.delete_returning_images(IMAGES, UNPLACE, SQL, id).await
    }

    /// In one transaction for `id`: collects plan ids and image URLs (`images`), clears the position
    /// of the devices on the plans that go (`unplace`; the foreign keys then clear their
    /// plan, floor and building), and runs `delete`. `NotFound` if nothing was deleted.
    async fn delete_returning_images(
        &self,
        images: &'static str,
        unplace: &'static str,
        delete: &'static str,
        id: i64,
    ) -> Result<Vec<(i64, String)>> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(unplace)
                .bind(id)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            let urls: Vec<(i64, String)> =
                sqlx::query_as(images).bind(id).fetch_all(&mut *tx).await?;
            let deleted = sqlx::query(delete)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Err(super::StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(urls)
        })
    }
}
