//! `/mqtt/credentials`: the credentials gateways, camera collectors and other clients use
//! to connect to the embedded broker (administrators only). A password is shown once, when
//! it is created or rotated; the appliance keeps only its hash.

use crate::events::EventType::{
    MqttCredentialCreated, MqttCredentialRevoked, MqttCredentialUpdated,
};
use crate::events::{EventType, payload};
use crate::ingest::topics::TopicTrees;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::types::Json as DbJson;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::changes::{or_404, or_409};
use super::error::{ApiResult, ErrorBody};
use super::extract::{AdminUser, ApiJson, ApiPath};
use super::openapi::{AdminOnly, Invalid, NotFound};
use super::resource::{
    Events, Listed, Resource, Tracked, find, record_event, record_saved, resource_routes,
};
use super::validate::{Checks, Patch, patch_body};
use crate::auth::{hash_password_in_background, random_secret};
use crate::broker::acl;
use crate::store::mqtt::{COLLECTOR, CUSTOM, GATEWAY, MqttCredential, ROLES};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(rotate))
}

/// A credential as the API shows it; `password` only in the answer that created or
/// rotated it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialRead {
    id: i64,
    username: String,
    role: String,
    description: Option<String>,
    publish_acl: Vec<String>,
    subscribe_acl: Vec<String>,
    is_active: bool,
    last_connected_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

impl CredentialRead {
    fn new(c: &MqttCredential, password: Option<String>) -> Self {
        CredentialRead {
            id: c.id,
            username: c.username.clone(),
            role: c.role.clone(),
            description: c.description.clone(),
            publish_acl: c.publish_acl.0.clone(),
            subscribe_acl: c.subscribe_acl.0.clone(),
            is_active: c.is_active,
            last_connected_at: c.last_connected_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            password,
        }
    }
}

impl Resource for MqttCredential {
    const NOT_FOUND: &'static str = "MQTT credential not found";
    type Read = CredentialRead;

    async fn show(_: &AppState, all: Vec<MqttCredential>) -> ApiResult<Vec<CredentialRead>> {
        Ok(all.iter().map(|c| CredentialRead::new(c, None)).collect())
    }
}

impl Tracked for MqttCredential {
    const EVENTS: Events = Events::new(
        MqttCredentialCreated,
        MqttCredentialUpdated,
        MqttCredentialRevoked,
    );

    fn payload(&self, _: EventType) -> Value {
        payload::mqtt_credential(self)
    }

    /// Its live sessions close.
    async fn delete(state: &AppState, c: &MqttCredential) -> ApiResult<()> {
        or_404(
            state.store.delete_mqtt_credential(c.id).await,
            Self::NOT_FOUND,
        )?;
        state.mqtt.credential_changed(c.id);
        Ok(())
    }
}

impl Listed for MqttCredential {
    type Query = ();

    async fn rows(state: &AppState, (): ()) -> ApiResult<Vec<MqttCredential>> {
        Ok(state.store.list_mqtt_credentials().await?)
    }
}

resource_routes! {
    MqttCredential => CredentialRead, "mqtt", "/mqtt/credentials",
        "/mqtt/credentials/{credential_id}", ("credential_id", "Credential id");
    list(AdminUser) "mqtt_credentials_list", "List MQTT credentials (never their passwords)",
        [AdminOnly];
    read(AdminUser) "mqtt_credentials_read", "Read an MQTT credential", [AdminOnly, NotFound];
    remove(AdminUser) "mqtt_credentials_remove",
        "Revoke a credential: it is deleted and its live sessions close",
        [(status = 204, description = "Revoked"), AdminOnly, NotFound];
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct CredentialCreate {
    username: String,
    /// `GATEWAY` (publish under the gateway tree), `COLLECTOR` (publish and read the camera
    /// tree) or `CUSTOM` (the ACLs given).
    role: String,
    description: Option<String>,
    /// Generated (and returned once) when absent.
    password: Option<String>,
    /// MQTT filters; `%u` = username, `%c` = client id. Default: the role's.
    publish_acl: Option<Vec<String>>,
    subscribe_acl: Option<Vec<String>>,
}

patch_body! {
    struct CredentialUpdate {
        description: String,
        publish_acl: Vec<String>,
        subscribe_acl: Vec<String>,
        is_active: bool,
    }
}

/// The topic rules a role grants by default.
fn role_acls(state: &AppState, role: &str) -> (Vec<String>, Vec<String>) {
    let mqtt = &state.config.mqtt;
    match role {
        GATEWAY => (TopicTrees::new(mqtt).gateway_publish_rules(), Vec::new()),
        COLLECTOR => (
            vec![format!("{}/#", mqtt.camera_tree)],
            vec![
                format!("{}/#", mqtt.camera_tree),
                format!("{}/#", state.config.cambus.uplink_tree),
            ],
        ),
        _ => (Vec::new(), Vec::new()),
    }
}

fn check_acl(checks: &mut Checks, field: &str, rules: &[String]) {
    if rules.len() > 64 || rules.iter().any(|r| !acl::valid_filter(r)) {
        checks.push(
            field,
            "value_error",
            "a list of at most 64 MQTT filters such as rtls/gateways/# or site/+/status",
        );
    }
}

#[utoipa::path(
    post,
    path = "/mqtt/credentials",
    operation_id = "mqtt_credentials_create",
    tag = "mqtt",
    summary = "Create an MQTT credential; the answer carries its password, once",
    request_body = CredentialCreate,
    responses(
        (status = 201, body = CredentialRead),
        AdminOnly, Invalid,
        (status = 409, description = "The username is taken", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiJson(body): ApiJson<CredentialCreate>,
) -> ApiResult<(StatusCode, Json<CredentialRead>)> {
    let mut checks = Checks::new();
    let username = body.username.trim().to_string();
    checks.text("username", &username, 128);
    if username.contains(|c: char| c.is_whitespace() || c.is_control()) {
        checks.push("username", "value_error", "no spaces or control characters");
    }
    // `%u` in a rule stands for the username: a wildcard or level in it would widen the rule.
    if username.contains(crate::broker::auth::USERNAME_FORBIDDEN) {
        checks.push("username", "value_error", "no '+', '#' or '/'");
    }
    let role = body.role.trim().to_ascii_uppercase();
    checks.one_of("role", &role, ROLES);
    checks.max_len("description", body.description.as_deref(), 1024);
    if let Some(p) = &body.password
        && !(12..=128).contains(&p.chars().count())
    {
        checks.push(
            "password",
            "string_length",
            "must have between 12 and 128 characters",
        );
    }
    let (default_publish, default_subscribe) = role_acls(&state, &role);
    let publish = body.publish_acl.unwrap_or(default_publish);
    let subscribe = body.subscribe_acl.unwrap_or(default_subscribe);
    check_acl(&mut checks, "publish_acl", &publish);
    check_acl(&mut checks, "subscribe_acl", &subscribe);
    if role == CUSTOM && publish.is_empty() && subscribe.is_empty() {
        checks.push(
            "publish_acl",
            "value_error",
            "a CUSTOM credential needs publish_acl or subscribe_acl",
        );
    }
    checks.finish()?;
    let password = body.password.unwrap_or_else(|| random_secret(18));
    let hash = hash_password_in_background(&password).await?;
    let new = MqttCredential {
        username: username.clone(),
        password_hash: hash,
        role,
        description: body
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty()),
        publish_acl: DbJson(publish),
        subscribe_acl: DbJson(subscribe),
        is_active: true,
        ..MqttCredential::default()
    };
    let saved = or_409(state.store.save_mqtt_credential(&new).await, || {
        format!("The MQTT username '{username}' is taken")
    })?;
    record_saved(&state, &user, &saved, true).await?;
    Ok((
        StatusCode::CREATED,
        Json(CredentialRead::new(&saved, Some(password))),
    ))
}

#[utoipa::path(
    patch,
    path = "/mqtt/credentials/{credential_id}",
    operation_id = "mqtt_credentials_update",
    tag = "mqtt",
    summary = "Change a credential's ACLs, description or active state; its live sessions reconnect under the new rules",
    params(("credential_id" = i64, Path, description = "Credential id")),
    request_body = CredentialUpdate,
    responses(
        (status = 200, body = CredentialRead),
        AdminOnly, NotFound, Invalid,
    ),
)]
async fn update(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CredentialUpdate>,
) -> ApiResult<Json<CredentialRead>> {
    let mut c: MqttCredential = find(&state, id).await?;
    let mut checks = Checks::new();
    checks.not_null("is_active", &body.is_active);
    body.description
        .trimmed()
        .apply_to_option(&mut c.description);
    checks.max_len("description", c.description.as_deref(), 1024);
    if let Patch::Value(rules) = body.publish_acl {
        check_acl(&mut checks, "publish_acl", &rules);
        c.publish_acl = DbJson(rules);
    }
    if let Patch::Value(rules) = body.subscribe_acl {
        check_acl(&mut checks, "subscribe_acl", &rules);
        c.subscribe_acl = DbJson(rules);
    }
    body.is_active.apply_to(&mut c.is_active);
    checks.finish()?;
    let saved = state.store.save_mqtt_credential(&c).await?;
    state.mqtt.credential_changed(saved.id);
    record_saved(&state, &user, &saved, false).await?;
    Ok(Json(CredentialRead::new(&saved, None)))
}

#[utoipa::path(
    post,
    path = "/mqtt/credentials/{credential_id}/rotate",
    operation_id = "mqtt_credentials_rotate",
    tag = "mqtt",
    summary = "Give a credential a new random password (returned once); its live sessions close",
    params(("credential_id" = i64, Path, description = "Credential id")),
    responses(
        (status = 200, body = CredentialRead),
        AdminOnly, NotFound,
    ),
)]
async fn rotate(
    State(state): State<AppState>,
    AdminUser(user): AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<CredentialRead>> {
    let mut c: MqttCredential = find(&state, id).await?;
    let password = random_secret(18);
    let hash = hash_password_in_background(&password).await?;
    c.password_hash = hash;
    let saved = state.store.save_mqtt_credential(&c).await?;
    state.mqtt.credential_changed(saved.id);
    record_event(&state, &user, &saved, EventType::MqttCredentialRotated).await?;
    Ok(Json(CredentialRead::new(&saved, Some(password))))
}
