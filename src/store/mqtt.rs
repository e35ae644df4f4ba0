//! Credentials of the embedded broker's clients.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::record::{record, save_row, select};
use super::{Result, Store, now, on_pool};

pub const GATEWAY: &str = "GATEWAY";
pub const COLLECTOR: &str = "COLLECTOR";
pub const CUSTOM: &str = "CUSTOM";
pub const ROLES: &[&str] = &[GATEWAY, COLLECTOR, CUSTOM];

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct MqttCredential {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub description: Option<String>,
    pub publish_acl: Json<Vec<String>>,
    pub subscribe_acl: Json<Vec<String>>,
    pub is_active: bool,
    pub last_connected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! credential_columns {
    () => {
        "id, username, password_hash, role, description, publish_acl, subscribe_acl, is_active, \
         last_connected_at, created_at, updated_at"
    };
}

record!(MqttCredential, "mqtt_credentials", credential_columns);

impl Store {
    pub async fn list_mqtt_credentials(&self) -> Result<Vec<MqttCredential>> {
        const SQL: &str = select!(credential_columns, "FROM mqtt_credentials ORDER BY id");
        self.fetch_all(SQL).await
    }

    pub async fn mqtt_credential_by_username(
        &self,
        username: &str,
    ) -> Result<Option<MqttCredential>> {
        const SQL: &str = select!(
            credential_columns,
            "FROM mqtt_credentials WHERE username = $1"
        );
        self.fetch_optional_by(SQL, username).await
    }

    /// Inserts (id 0) or updates a credential.
    pub async fn save_mqtt_credential(&self, c: &MqttCredential) -> Result<MqttCredential> {
        const INSERT: &str = concat!(
            "INSERT INTO mqtt_credentials (username, password_hash, role, description, publish_acl, \
             subscribe_acl, is_active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             RETURNING ",
            credential_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE mqtt_credentials SET username = $1, password_hash = $2, role = $3, description = $4, \
             publish_acl = $5, subscribe_acl = $6, is_active = $7, updated_at = $8 WHERE id = $9 RETURNING ",
            credential_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            c,
            INSERT,
            UPDATE,
            |q| q
                .bind(&c.username)
                .bind(&c.password_hash)
                .bind(&c.role)
                .bind(&c.description)
                .bind(&c.publish_acl)
                .bind(&c.subscribe_acl)
                .bind(c.is_active)
                .bind(now())
        )))
    }

    pub async fn delete_mqtt_credential(&self, id: i64) -> Result<()> {
        self.delete_by_id::<MqttCredential>(id).await
    }

    pub async fn count_mqtt_credentials(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM mqtt_credentials";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .fetch_one(pool)
            .await?))
    }

    pub async fn touch_mqtt_credential(&self, id: i64) -> Result<()> {
        const SQL: &str = "UPDATE mqtt_credentials SET last_connected_at = $2 WHERE id = $1";
        on_pool!(self, write, |pool| sqlx::query(SQL)
            .bind(id)
            .bind(now())
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }
}
