//! Users of the API and console.

use chrono::{DateTime, Utc};

use super::record::{record, select};
use super::{Record, Result, Store, StoreError, now, on_pool};

pub const ROLE_OPERATOR: &str = "OPERATOR";
pub const ROLE_ADMIN: &str = "ADMIN";
pub const ROLE_SUPERADMIN: &str = "SUPERADMIN";
pub const ROLES: &[&str] = &[ROLE_OPERATOR, ROLE_ADMIN, ROLE_SUPERADMIN];

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub full_name: String,
    pub hashed_password: String,
    pub role: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub chatwoot_agent_id: Option<i64>,
    pub must_change_password: bool,
    pub tokens_valid_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Admin level, as the original defines it: the superuser flag or an admin role.
    pub fn is_admin(&self) -> bool {
        self.is_superuser || self.role == ROLE_ADMIN || self.role == ROLE_SUPERADMIN
    }

    /// Highest level: may grant `SUPERADMIN` and the superuser flag.
    pub fn is_superadmin(&self) -> bool {
        self.is_superuser || self.role == ROLE_SUPERADMIN
    }
}

/// A user to create; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub full_name: String,
    pub hashed_password: String,
    pub role: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub must_change_password: bool,
}

macro_rules! user_columns {
    () => {
        "id, email, full_name, hashed_password, role, is_active, is_superuser, \
         chatwoot_agent_id, must_change_password, tokens_valid_after, created_at, updated_at"
    };
}

record!(User, "users", user_columns);

const SELECT_BY_EMAIL: &str = select!(user_columns, "FROM users WHERE email = $1");
/// Admins that can still log in; the last of them cannot be removed.
const COUNT_ACTIVE_ADMINS: &str = "SELECT COUNT(*) FROM users WHERE is_active = TRUE \
     AND (is_superuser = TRUE OR role IN ('ADMIN', 'SUPERADMIN'))";
const INSERT: &str = concat!(
    "INSERT INTO users (email, full_name, hashed_password, role, is_active, is_superuser, \
     must_change_password, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING ",
    user_columns!()
);
const UPDATE: &str = concat!(
    "UPDATE users SET email = $2, full_name = $3, hashed_password = $4, role = $5, \
     is_active = $6, is_superuser = $7, chatwoot_agent_id = $8, must_change_password = $9, \
     tokens_valid_after = $10, updated_at = $11 WHERE id = $1 RETURNING ",
    user_columns!()
);

/// Runs the INSERT of a `NewUser` on any executor of either engine.
macro_rules! insert_user {
    ($executor:expr, $user:expr) => {
        sqlx::query_as::<_, User>(INSERT)
            .bind(&$user.email)
            .bind(&$user.full_name)
            .bind(&$user.hashed_password)
            .bind(&$user.role)
            .bind($user.is_active)
            .bind($user.is_superuser)
            .bind($user.must_change_password)
            .bind(now())
            .fetch_one($executor)
            .await?
    };
}

/// Key in `app_settings` claimed by whoever creates the first administrator.
const FIRST_ADMIN_KEY: &str = "first_admin_created";

/// Written first by every change that could remove an administrator: the row lock it takes
/// makes such changes wait for each other, so the last-admin count in one of them always
/// sees what the others committed (PostgreSQL's READ COMMITTED would otherwise let two
/// admins demote each other, each counting the other as remaining; SQLite has a single
/// writer anyway).
const ADMIN_GUARD: &str = "INSERT INTO app_settings (key, value, updated_at) \
     VALUES ('admin_guard', '', $1) \
     ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at";

impl Store {
    pub async fn create_user(&self, user: &NewUser) -> Result<User> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let created = insert_user!(&mut *tx, user);
            tx.commit().await?;
            Ok(created)
        })
    }

    /// Creates `user` as the first administrator, unless an administrator was ever created
    /// before (returns `None`). Atomic: of two concurrent calls, exactly one succeeds,
    /// because both race for one primary key in `app_settings`.
    pub async fn create_first_admin(&self, user: &NewUser) -> Result<Option<User>> {
        let admins = self.count_active_admins().await?;
        if admins > 0 {
            return Ok(None);
        }
        const CLAIM: &str = "INSERT INTO app_settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let claimed = sqlx::query(CLAIM)
                .bind(FIRST_ADMIN_KEY)
                .bind(&user.email)
                .bind(now())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                return Ok(None);
            }
            let created = insert_user!(&mut *tx, user);
            tx.commit().await?;
            Ok(Some(created))
        })
    }

    /// Whether the first administrator has been created (by first start, seed or signup).
    pub async fn first_admin_exists(&self) -> Result<bool> {
        Ok(self.setting(FIRST_ADMIN_KEY).await?.is_some() || self.count_active_admins().await? > 0)
    }

    /// Records that an administrator exists without creating one (the `seed` command
    /// creates its admin through `create_user`).
    pub async fn mark_first_admin_created(&self, email: &str) -> Result<()> {
        self.put_setting(FIRST_ADMIN_KEY, email).await
    }

    pub async fn count_active_admins(&self) -> Result<i64> {
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(
            COUNT_ACTIVE_ADMINS
        )
        .fetch_one(pool)
        .await?))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<User> {
        self.fetch_by_id(id).await
    }

    /// Looks a user up by e-mail; `email` must already be normalised.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.fetch_optional_by(SELECT_BY_EMAIL, email).await
    }

    pub async fn list_users(&self, skip: i64, limit: i64) -> Result<Vec<User>> {
        self.fetch_page(skip, limit).await
    }

    /// Applies `change` to the stored user and writes it back, in one transaction. The
    /// closure sees the current row and may refuse the change; if the result would leave
    /// no active administrator, the update is refused with `LastAdmin` (race-free: see
    /// [`ADMIN_GUARD`]).
    pub async fn change_user<E>(
        &self,
        id: i64,
        change: impl FnOnce(&mut User) -> std::result::Result<(), E>,
    ) -> std::result::Result<User, UpdateError<E>> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            sqlx::query(ADMIN_GUARD)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            let mut user: User = sqlx::query_as(User::SELECT_BY_ID)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            let was_admin = user.is_admin() && user.is_active;
            change(&mut user).map_err(UpdateError::Refused)?;
            user.updated_at = now();
            let updated: User = sqlx::query_as(UPDATE)
                .bind(user.id)
                .bind(&user.email)
                .bind(&user.full_name)
                .bind(&user.hashed_password)
                .bind(&user.role)
                .bind(user.is_active)
                .bind(user.is_superuser)
                .bind(user.chatwoot_agent_id)
                .bind(user.must_change_password)
                .bind(user.tokens_valid_after)
                .bind(user.updated_at)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            if was_admin && !(updated.is_admin() && updated.is_active) {
                let remaining: i64 = sqlx::query_scalar(COUNT_ACTIVE_ADMINS)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
                if remaining == 0 {
                    return Err(UpdateError::LastAdmin);
                }
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(updated)
        })
    }

    /// Deletes a user, refusing to delete the last active administrator.
    pub async fn delete_user(&self, id: i64) -> std::result::Result<(), UpdateError<()>> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            sqlx::query(ADMIN_GUARD)
                .bind(now())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            let deleted = sqlx::query(User::DELETE_BY_ID)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?
                .rows_affected();
            if deleted == 0 {
                return Err(StoreError::NotFound.into());
            }
            let remaining: i64 = sqlx::query_scalar(COUNT_ACTIVE_ADMINS)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            if remaining == 0 {
                return Err(UpdateError::LastAdmin);
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error("the change was refused")]
    Refused(E),
    #[error("the last active administrator cannot be removed, deactivated or demoted")]
    LastAdmin,
    #[error(transparent)]
    Store(#[from] StoreError),
}
