//! Camera groups (sets of devices that incident rules can target) and support groups
//! (operator teams that incidents are assigned to), plus existence checks used to name
//! dangling references precisely.

use chrono::{DateTime, Utc};

use super::{Result, Store, now, on_pool};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct CameraGroup {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub tenant: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct SupportGroup {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    pub chatwoot_inbox_identifier: Option<String>,
    pub chatwoot_team_id: Option<i64>,
    pub default_sla_minutes: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user as embedded in a support group.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserShort {
    #[serde(skip)]
    pub group_id: i64,
    pub id: i64,
    pub full_name: String,
    pub email: String,
}

/// Tables whose rows other rows point at.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Building,
    Floor,
    FloorPlan,
    Device,
    Person,
    PersonGroup,
    Tag,
    User,
}

impl Store {
    pub async fn exists(&self, table: Table, id: i64) -> Result<bool> {
        let sql = match table {
            Table::Building => "SELECT EXISTS (SELECT 1 FROM buildings WHERE id = $1)",
            Table::Floor => "SELECT EXISTS (SELECT 1 FROM floors WHERE id = $1)",
            Table::FloorPlan => "SELECT EXISTS (SELECT 1 FROM floor_plans WHERE id = $1)",
            Table::Device => "SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1)",
            Table::Person => "SELECT EXISTS (SELECT 1 FROM people WHERE id = $1)",
            Table::PersonGroup => "SELECT EXISTS (SELECT 1 FROM person_groups WHERE id = $1)",
            Table::Tag => "SELECT EXISTS (SELECT 1 FROM tags WHERE id = $1)",
            Table::User => "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)",
        };
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await?))
    }

    pub async fn list_camera_groups(&self, skip: i64, limit: i64) -> Result<Vec<CameraGroup>> {
        const SQL: &str = "SELECT id, name, description, tenant, created_at, updated_at \
             FROM camera_groups ORDER BY id LIMIT $1 OFFSET $2";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    pub async fn camera_group(&self, id: i64) -> Result<CameraGroup> {
        const SQL: &str = "SELECT id, name, description, tenant, created_at, updated_at FROM camera_groups WHERE id = $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_one(pool)
            .await?))
    }

    /// (group id, device id) pairs of every camera group.
    pub async fn camera_group_links(&self) -> Result<Vec<(i64, i64)>> {
        const SQL: &str = "SELECT camera_group_id, device_id FROM camera_group_devices ORDER BY camera_group_id, device_id";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }

    /// Inserts (id 0) or updates a camera group and, when given, replaces its devices; in
    /// one transaction.
    pub async fn save_camera_group(
        &self,
        g: &CameraGroup,
        device_ids: Option<&[i64]>,
    ) -> Result<CameraGroup> {
        const INSERT: &str = "INSERT INTO camera_groups (name, description, tenant, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id, name, description, tenant, created_at, updated_at";
        const UPDATE: &str = "UPDATE camera_groups SET name = $1, description = $2, tenant = $3, updated_at = $4 \
             WHERE id = $5 RETURNING id, name, description, tenant, created_at, updated_at";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            macro_rules! fields {
                ($sql:expr) => {
                    sqlx::query_as::<_, CameraGroup>($sql)
                        .bind(&g.name)
                        .bind(&g.description)
                        .bind(&g.tenant)
                        .bind(now())
                };
            }
            let saved = if g.id == 0 {
                fields!(INSERT).fetch_one(&mut *tx).await?
            } else {
                fields!(UPDATE).bind(g.id).fetch_one(&mut *tx).await?
            };
            if let Some(ids) = device_ids {
                sqlx::query("DELETE FROM camera_group_devices WHERE camera_group_id = $1")
                    .bind(saved.id)
                    .execute(&mut *tx)
                    .await?;
                for device_id in ids {
                    sqlx::query(
                        "INSERT INTO camera_group_devices (camera_group_id, device_id) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(saved.id)
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(saved)
        })
    }

    pub async fn delete_camera_group(&self, id: i64) -> Result<()> {
        self.delete_by_id("DELETE FROM camera_groups WHERE id = $1", id)
            .await
    }

    /// Incident rules that target a camera group (deleting the group would widen them to
    /// every camera).
    pub async fn incident_rules_for_camera_group(&self, group_id: i64) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM incident_rules WHERE camera_group_id = $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(group_id)
            .fetch_one(pool)
            .await?))
    }

    pub async fn list_support_groups(&self) -> Result<Vec<SupportGroup>> {
        const SQL: &str = "SELECT id, name, description, is_active, chatwoot_inbox_identifier, chatwoot_team_id, \
             default_sla_minutes, created_at, updated_at FROM support_groups ORDER BY name, id";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }

    pub async fn support_group(&self, id: i64) -> Result<SupportGroup> {
        const SQL: &str = "SELECT id, name, description, is_active, chatwoot_inbox_identifier, chatwoot_team_id, \
             default_sla_minutes, created_at, updated_at FROM support_groups WHERE id = $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(id)
            .fetch_one(pool)
            .await?))
    }

    /// Members of every support group, by name.
    pub async fn support_group_members(&self) -> Result<Vec<UserShort>> {
        const SQL: &str = "SELECT m.group_id, u.id, u.full_name, u.email FROM support_group_members m \
             JOIN users u ON u.id = m.user_id ORDER BY m.group_id, u.full_name, u.id";
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .fetch_all(pool)
            .await?))
    }

    /// Inserts (id 0) or updates a support group and, when given, replaces its members
    /// with the existing users among `member_ids`.
    pub async fn save_support_group(
        &self,
        g: &SupportGroup,
        member_ids: Option<&[i64]>,
    ) -> Result<SupportGroup> {
        const INSERT: &str = "INSERT INTO support_groups (name, description, is_active, chatwoot_inbox_identifier, \
             chatwoot_team_id, default_sla_minutes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             RETURNING id, name, description, is_active, chatwoot_inbox_identifier, chatwoot_team_id, \
             default_sla_minutes, created_at, updated_at";
        const UPDATE: &str = "UPDATE support_groups SET name = $1, description = $2, is_active = $3, \
             chatwoot_inbox_identifier = $4, chatwoot_team_id = $5, default_sla_minutes = $6, updated_at = $7 \
             WHERE id = $8 RETURNING id, name, description, is_active, chatwoot_inbox_identifier, \
             chatwoot_team_id, default_sla_minutes, created_at, updated_at";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            macro_rules! fields {
                ($sql:expr) => {
                    sqlx::query_as::<_, SupportGroup>($sql)
                        .bind(&g.name)
                        .bind(&g.description)
                        .bind(g.is_active)
                        .bind(&g.chatwoot_inbox_identifier)
                        .bind(g.chatwoot_team_id)
                        .bind(g.default_sla_minutes)
                        .bind(now())
                };
            }
            let saved = if g.id == 0 {
                fields!(INSERT).fetch_one(&mut *tx).await?
            } else {
                fields!(UPDATE).bind(g.id).fetch_one(&mut *tx).await?
            };
            if let Some(ids) = member_ids {
                sqlx::query("DELETE FROM support_group_members WHERE group_id = $1")
                    .bind(saved.id)
                    .execute(&mut *tx)
                    .await?;
                for user_id in ids {
                    sqlx::query(
                        "INSERT INTO support_group_members (group_id, user_id) \
                         SELECT $1, id FROM users WHERE id = $2 ON CONFLICT DO NOTHING",
                    )
                    .bind(saved.id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// Incidents assigned to a support group (a group with incidents is deactivated, not
    /// deleted).
    pub async fn incidents_for_support_group(&self, group_id: i64) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM incidents WHERE assigned_group_id = $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(group_id)
            .fetch_one(pool)
            .await?))
    }

    pub async fn delete_support_group(&self, id: i64) -> Result<()> {
        self.delete_by_id("DELETE FROM support_groups WHERE id = $1", id)
            .await
    }
}
