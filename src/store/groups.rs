//! Camera groups (sets of devices that incident rules can target) and support groups
//! (operator teams that incidents are assigned to).

use chrono::{DateTime, Utc};

use super::record::{record, replace_links, save_row, select};
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

macro_rules! camera_group_columns {
    () => {
        "id, name, description, tenant, created_at, updated_at"
    };
}
macro_rules! support_group_columns {
    () => {
        "id, name, description, is_active, chatwoot_inbox_identifier, chatwoot_team_id, \
         default_sla_minutes, created_at, updated_at"
    };
}
macro_rules! user_short_columns {
    () => {
        "m.group_id, u.id, u.full_name, u.email"
    };
}

record!(CameraGroup, "camera_groups", camera_group_columns);
record!(SupportGroup, "support_groups", support_group_columns);

impl Store {
    /// (group id, device id) pairs of every camera group.
    pub async fn camera_group_links(&self) -> Result<Vec<(i64, i64)>> {
        const SQL: &str = "SELECT camera_group_id, device_id FROM camera_group_devices ORDER BY camera_group_id, device_id";
        self.fetch_all(SQL).await
    }

    /// Inserts (id 0) or updates a camera group and, when given, replaces its devices; in
    /// one transaction.
    pub async fn save_camera_group(
        &self,
        g: &CameraGroup,
        device_ids: Option<&[i64]>,
    ) -> Result<CameraGroup> {
        const INSERT: &str = concat!(
            "INSERT INTO camera_groups (name, description, tenant, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING ",
            camera_group_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE camera_groups SET name = $1, description = $2, tenant = $3, updated_at = $4 \
             WHERE id = $5 RETURNING ",
            camera_group_columns!()
        );
        const UNLINK: &str = "DELETE FROM camera_group_devices WHERE camera_group_id = $1";
        const LINK: &str = "INSERT INTO camera_group_devices (camera_group_id, device_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let saved: CameraGroup = save_row!(&mut *tx, g, INSERT, UPDATE, |q| q
                .bind(&g.name)
                .bind(&g.description)
                .bind(&g.tenant)
                .bind(now()));
            if let Some(ids) = device_ids {
                replace_links!(tx, UNLINK, LINK, saved.id, ids);
            }
            tx.commit().await?;
            Ok(saved)
        })
    }

    pub async fn delete_camera_group(&self, id: i64) -> Result<()> {
        self.delete_by_id::<CameraGroup>(id).await
    }

    /// Incident rules that target a camera group (deleting the group would widen them to
    /// every camera).
    pub async fn incident_rules_for_camera_group(&self, group_id: i64) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM incident_rules WHERE camera_group_id = $1";
        self.count_by(SQL, group_id).await
    }

    pub async fn list_support_groups(&self) -> Result<Vec<SupportGroup>> {
        const SQL: &str = select!(
            support_group_columns,
            "FROM support_groups ORDER BY name, id"
        );
        self.fetch_all(SQL).await
    }

    /// Members of every support group, by name.
    pub async fn support_group_members(&self) -> Result<Vec<UserShort>> {
        const SQL: &str = concat!(
            "SELECT ",
            user_short_columns!(),
            " FROM support_group_members m JOIN users u ON u.id = m.user_id \
             ORDER BY m.group_id, u.full_name, u.id"
        );
        self.fetch_all(SQL).await
    }

    /// Inserts (id 0) or updates a support group and, when given, replaces its members
    /// with the existing users among `member_ids`.
    pub async fn save_support_group(
        &self,
        g: &SupportGroup,
        member_ids: Option<&[i64]>,
    ) -> Result<SupportGroup> {
        const INSERT: &str = concat!(
            "INSERT INTO support_groups (name, description, is_active, chatwoot_inbox_identifier, \
             chatwoot_team_id, default_sla_minutes, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING ",
            support_group_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE support_groups SET name = $1, description = $2, is_active = $3, \
             chatwoot_inbox_identifier = $4, chatwoot_team_id = $5, default_sla_minutes = $6, \
             updated_at = $7 WHERE id = $8 RETURNING ",
            support_group_columns!()
        );
        const UNLINK: &str = "DELETE FROM support_group_members WHERE group_id = $1";
        const LINK: &str = "INSERT INTO support_group_members (group_id, user_id) \
             SELECT $1, id FROM users WHERE id = $2 ON CONFLICT DO NOTHING";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let saved: SupportGroup = save_row!(&mut *tx, g, INSERT, UPDATE, |q| q
                .bind(&g.name)
                .bind(&g.description)
                .bind(g.is_active)
                .bind(&g.chatwoot_inbox_identifier)
                .bind(g.chatwoot_team_id)
                .bind(g.default_sla_minutes)
                .bind(now()));
            if let Some(ids) = member_ids {
                replace_links!(tx, UNLINK, LINK, saved.id, ids);
            }
            tx.commit().await?;
            Ok(saved)
        })
    }

    /// Incidents assigned to a support group (a group with incidents is deactivated, not
    /// deleted).
    pub async fn incidents_for_support_group(&self, group_id: i64) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM incidents WHERE assigned_group_id = $1";
        self.count_by(SQL, group_id).await
    }

    pub async fn delete_support_group(&self, id: i64) -> Result<()> {
        self.delete_by_id::<SupportGroup>(id).await
    }
}
