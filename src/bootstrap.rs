//! First-start preparation: the data directory, the JWT signing key and the first
//! administrator. Nothing has a well-known default: generated secrets are random and kept
//! in files only the service user can read.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::auth::{hash_password_in_background, random_secret};
use crate::config::Config;
use crate::store::Store;
use crate::store::users::{NewUser, ROLE_ADMIN};

pub const JWT_SECRET_FILE: &str = "jwt-secret";
pub const ADMIN_PASSWORD_FILE: &str = "initial-admin-password";
pub const GATEWAY_PASSWORD_FILE: &str = "initial-mqtt-gateway-password";
/// Username of the MQTT credential the first start creates for the site's gateways.
pub const FIRST_GATEWAY_USERNAME: &str = "gateway";

/// Creates the data directory if it is missing and makes it the owner's only (mode 0700,
/// whatever the umask, also when it already existed): it holds the database, the keys
/// and the generated passwords.
pub fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    crate::store::create_private_dir(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// Prepares the data directory and opens the configured database (not migrated).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    prepare_data_dir(config)?;
    let url = config.database_url();
    Store::open(&url, &config.database)
        .await
        .with_context(|| format!("opening database {}", crate::store::redact_url(&url)))
}

/// The JWT signing key: the configured one, else the one kept in the data directory,
/// generated on first use.
pub fn jwt_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(secret.clone());
    }
    let path = config.data_dir.join(JWT_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(secret) if secret.trim().len() >= 32 => return Ok(secret.trim().to_string()),
        Ok(_) => anyhow::bail!(
            "{} is shorter than 32 characters; delete it to generate a new key",
            path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    let secret = random_secret(48);
    write_private_file(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a new JWT signing key");
    Ok(secret)
}

const NODE_ID_FILE: &str = "node-id";

/// This node's own name, made once and kept in the data directory: its client id at an
/// external broker stays the same across restarts, so the broker keeps its session.
pub fn node_id(config: &Config) -> anyhow::Result<String> {
    let path = config.data_dir.join(NODE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    let id = random_secret(6);
    write_private_file(&path, &id)?;
    Ok(id)
}

/// What the first start created, to be shown to the operator once.
pub struct FirstAdmin {
    pub email: String,
    pub password: String,
    pub password_file: PathBuf,
}

/// On an empty database, creates the administrator named in the configuration with a
/// random password, written to `initial-admin-password` (mode 0600).
pub async fn ensure_first_admin(
    store: &Store,
    config: &Config,
) -> anyhow::Result<Option<FirstAdmin>> {
    if !config.auth.bootstrap_admin || store.first_admin_exists().await? {
        return Ok(None);
    }
    let email = crate::auth::normalize_email(&config.auth.admin_email)
        .context("auth.admin_email is not an e-mail address")?;
    let password = random_secret(18);
    let hash = hash_password_in_background(&password).await?;
    let new = NewUser {
        email: email.clone(),
        full_name: "Administrator".into(),
        hashed_password: hash,
        role: ROLE_ADMIN.into(),
        is_active: true,
        is_superuser: true,
        must_change_password: true,
    };
    let Some(user) = store.create_first_admin(&new).await? else {
        return Ok(None); // another node or process created it meanwhile
    };
    let password_file = config.data_dir.join(ADMIN_PASSWORD_FILE);
    write_private_file(&password_file, &format!("{password}\n"))?;
    store
        .audit(
            None,
            "bootstrap",
            "user",
            Some(user.id),
            serde_json::json!({"email": email}),
        )
        .await?;
    Ok(Some(FirstAdmin {
        email,
        password,
        password_file,
    }))
}

/// The MQTT credential for gateways made on the first start.
pub struct FirstGateway {
    pub username: String,
    pub password: String,
    pub password_file: PathBuf,
}

/// On the first start, creates one MQTT credential that gateways can use (publish under the
/// gateway tree only), with a random password written to `initial-mqtt-gateway-password`
/// (mode 0600). Only once: an operator who deletes it does not get it back.
pub async fn ensure_first_gateway_credential(
    store: &Store,
    config: &Config,
) -> anyhow::Result<Option<FirstGateway>> {
    const CREATED: &str = "first_gateway_credential_created";
    if store.setting(CREATED).await?.is_some() || store.count_mqtt_credentials().await? > 0 {
        return Ok(None);
    }
    let password = random_secret(18);
    let hash = hash_password_in_background(&password).await?;
    let credential = crate::store::mqtt::MqttCredential {
        username: FIRST_GATEWAY_USERNAME.into(),
        password_hash: hash,
        role: crate::store::mqtt::GATEWAY.into(),
        description: Some("Created on first start for the site's BLE gateways".into()),
        publish_acl: sqlx::types::Json(
            crate::ingest::topics::TopicTrees::new(&config.mqtt).gateway_publish_rules(),
        ),
        subscribe_acl: sqlx::types::Json(Vec::new()),
        is_active: true,
        ..Default::default()
    };
    let saved = store.save_mqtt_credential(&credential).await?;
    store.put_setting(CREATED, FIRST_GATEWAY_USERNAME).await?;
    let password_file = config.data_dir.join(GATEWAY_PASSWORD_FILE);
    write_private_file(&password_file, &format!("{password}\n"))?;
    store
        .audit(
            None,
            "bootstrap",
            "mqtt_credential",
            Some(saved.id),
            serde_json::json!({"username": saved.username}),
        )
        .await?;
    Ok(Some(FirstGateway {
        username: saved.username,
        password,
        password_file,
    }))
}

/// Writes `contents` to a file readable only by its owner, replacing any older one.
pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    set_mode(path, 0o600)?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting permissions of {}", path.display()))?;
    }
    let _ = (path, mode);
    Ok(())
}
