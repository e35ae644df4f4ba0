//! `/users`: user administration (admins only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody, FieldError};
use super::extract::{AdminUser, ApiJson, ApiPath, Page, PageQuery};
use super::openapi::{AdminOnly, Deleted, Invalid, NotFound, Refused};
use super::resource::{Listed, Resource, find, resource_routes};
use super::validate::{Checks, patch_body};
use crate::auth::{hash_password_in_background, normalize_email, verify_password_in_background};
use crate::events::{EventType, payload};
use crate::store::StoreError;
use crate::store::users::{NewUser, ROLE_OPERATOR, ROLE_SUPERADMIN, ROLES, UpdateError, User};

pub const EMAIL_TAKEN: &str = "Já existe um usuário com este e-mail";
const ONLY_SUPERADMIN: &str = "Only a SUPERADMIN can grant SUPERADMIN or superuser rights";
const MIN_PASSWORD: usize = 8;
const MAX_PASSWORD: usize = 128;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(unlock))
}

/// A user as the API shows it; never the password hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserRead {
    pub id: i64,
    pub email: String,
    pub full_name: String,
    pub role: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub chatwoot_agent_id: Option<i64>,
    /// Set for the generated first admin until it chooses its own password.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&User> for UserRead {
    fn from(u: &User) -> Self {
        UserRead {
            id: u.id,
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role.clone(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            chatwoot_agent_id: u.chatwoot_agent_id,
            must_change_password: u.must_change_password,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

impl Resource for User {
    const NOT_FOUND: &'static str = "Usuário não encontrado";
    type Read = UserRead;

    async fn show(_: &AppState, users: Vec<User>) -> ApiResult<Vec<UserRead>> {
        Ok(users.iter().map(UserRead::from).collect())
    }
}

impl Listed for User {
    type Query = PageQuery;

    async fn rows(state: &AppState, q: PageQuery) -> ApiResult<Vec<User>> {
        let page = Page::from_query(q.skip, q.limit, 200)?;
        Ok(state.store.list_users(page.skip, page.limit).await?)
    }
}

resource_routes! {
    User => UserRead, "users", "/users", "/users/{user_id}", ("user_id", "User id");
    list(AdminUser, PageQuery) "users_list", "List users, by id", [AdminOnly, Invalid];
    read(AdminUser) "users_read", "Read a user", [AdminOnly, NotFound];
}

fn default_role() -> String {
    ROLE_OPERATOR.into()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UserCreate {
    pub email: String,
    pub full_name: String,
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default = "default_true")]
    pub is_active: bool,
    #[serde(default)]
    pub is_superuser: bool,
    pub password: String,
}

patch_body! {
    struct UserUpdate {
        email: String,
        full_name: String,
        role: String,
        is_active: bool,
        is_superuser: bool,
        chatwoot_agent_id: i64,
        /// Sets a new password (an admin resetting it); the user must change it at next login.
        password: String,
        /// The caller's current password: required when the caller changes their own password.
        current_password: String,
    }
}

pub fn check_password(checks: &mut Checks, field: &str, password: &str) {
    let len = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&len) {
        checks.push(
            field,
            "string_length",
            format!("must have between {MIN_PASSWORD} and {MAX_PASSWORD} characters"),
        );
    }
}

/// Validates a `UserCreate` and hashes its password.
pub async fn new_user_from(body: UserCreate) -> ApiResult<NewUser> {
    let mut checks = Checks::new();
    let email = normalize_email(&body.email);
    if email.is_none() {
        checks.push("email", "value_error", "not a valid e-mail address");
    }
    checks.text("full_name", &body.full_name, 255);
    checks.one_of("role", &body.role, ROLES);
    check_password(&mut checks, "password", &body.password);
    checks.finish()?;
    let hashed_password = hash_password_in_background(&body.password).await?;
    Ok(NewUser {
        email: email.unwrap_or_default(),
        full_name: body.full_name.trim().to_string(),
        hashed_password,
        role: body.role,
        is_active: body.is_active,
        is_superuser: body.is_superuser,
        must_change_password: false,
    })
}

/// Maps a refused user update to the API's answer.
pub fn update_error<E: Into<ApiError>>(err: UpdateError<E>) -> ApiError {
    match err {
        UpdateError::Refused(e) => e.into(),
        UpdateError::LastAdmin => ApiError::Conflict(
            "The last active administrator cannot be removed, deactivated or demoted".into(),
        ),
        UpdateError::Store(StoreError::NotFound) => ApiError::not_found(User::NOT_FOUND),
        UpdateError::Store(StoreError::Conflict(_)) => ApiError::BadRequest(EMAIL_TAKEN.into()),
        UpdateError::Store(other) => other.into(),
    }
}

impl From<()> for ApiError {
    fn from((): ()) -> Self {
        ApiError::Internal(anyhow::anyhow!("update refused without a reason"))
    }
}

#[utoipa::path(
    post,
    path = "/users",
    operation_id = "users_create",
    tag = "users",
    summary = "Create a user",
    request_body = UserCreate,
    responses(
        (status = 201, body = UserRead),
        Refused, AdminOnly, Invalid,
    ),
)]
async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiJson(body): ApiJson<UserCreate>,
) -> ApiResult<(StatusCode, Json<UserRead>)> {
    if (body.role == ROLE_SUPERADMIN || body.is_superuser) && !admin.is_superadmin() {
        return Err(ApiError::Forbidden(ONLY_SUPERADMIN.into()));
    }
    let new = new_user_from(body).await?;
    let user = match state.store.create_user(&new).await {
        Err(StoreError::Conflict(_)) => return Err(ApiError::BadRequest(EMAIL_TAKEN.into())),
        other => other?,
    };
    let details = json!({"email": user.email, "role": user.role});
    state
        .store
        .audit(Some(admin.id), "create", "user", Some(user.id), details)
        .await?;
    Ok((StatusCode::CREATED, Json(UserRead::from(&user))))
}

#[utoipa::path(
    patch,
    path = "/users/{user_id}",
    operation_id = "users_update",
    tag = "users",
    summary = "Update a user (partial; also e-mail and password)",
    params(("user_id" = i64, Path, description = "User id")),
    request_body = UserUpdate,
    responses(
        (status = 200, body = UserRead),
        AdminOnly, NotFound, Invalid,
        (status = 409, description = "Would remove the last active administrator", body = ErrorBody),
    ),
)]
async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
    ApiJson(body): ApiJson<UserUpdate>,
) -> ApiResult<Json<UserRead>> {
    let mut checks = Checks::new();
    for (field, patch) in [
        ("email", &body.email),
        ("full_name", &body.full_name),
        ("role", &body.role),
    ] {
        checks.not_null(field, patch);
    }
    checks.not_null("is_active", &body.is_active);
    checks.not_null("is_superuser", &body.is_superuser);
    checks.not_null("password", &body.password);
    let email = body.email.value().map(|e| normalize_email(e));
    if email.as_ref().is_some_and(Option::is_none) {
        checks.push("email", "value_error", "not a valid e-mail address");
    }
    if let Some(name) = body.full_name.value() {
        checks.text("full_name", name, 255);
    }
    if let Some(role) = body.role.value() {
        checks.one_of("role", role, ROLES);
    }
    if let Some(password) = body.password.value() {
        check_password(&mut checks, "password", password);
    }
    checks.finish()?;
    if user_id == admin.id && !body.password.is_absent() {
        let current = body.current_password.value().cloned().unwrap_or_default();
        let stored = Some(admin.hashed_password.clone());
        if current.is_empty()
            || !verify_password_in_background(&current, stored)
                .await?
                .is_valid()
        {
            return Err(ApiError::invalid(FieldError::body(
                "current_password",
                "value_error",
                "changing one's own password needs the current one",
            )));
        }
    }
    let grants_superadmin = body.role.value().is_some_and(|r| r == ROLE_SUPERADMIN)
        || body.is_superuser.value() == Some(&true);
    if grants_superadmin && !admin.is_superadmin() {
        return Err(ApiError::Forbidden(ONLY_SUPERADMIN.into()));
    }
    let new_hash = match body.password.value() {
        Some(password) => Some(hash_password_in_background(password).await?),
        None => None,
    };
    let changed: Vec<&str> = [
        ("email", body.email.is_absent()),
        ("full_name", body.full_name.is_absent()),
        ("role", body.role.is_absent()),
        ("is_active", body.is_active.is_absent()),
        ("is_superuser", body.is_superuser.is_absent()),
        ("chatwoot_agent_id", body.chatwoot_agent_id.is_absent()),
        ("password", body.password.is_absent()),
    ]
    .into_iter()
    .filter_map(|(field, absent)| (!absent).then_some(field))
    .collect();

    let updated = state
        .store
        .change_user(user_id, |user| {
            if user.is_superadmin() && !admin.is_superadmin() {
                return Err(ApiError::Forbidden(ONLY_SUPERADMIN.into()));
            }
            if let Some(Some(email)) = email {
                user.email = email;
            }
            body.full_name.apply_to(&mut user.full_name);
            body.role.apply_to(&mut user.role);
            body.is_superuser.apply_to(&mut user.is_superuser);
            body.chatwoot_agent_id
                .apply_to_option(&mut user.chatwoot_agent_id);
            let was_active = user.is_active;
            body.is_active.apply_to(&mut user.is_active);
            if let Some(hash) = new_hash {
                user.hashed_password = hash;
                user.must_change_password = user.id != admin.id;
            }
            // A reset password or a deactivation ends the sessions opened before it.
            if !body.password.is_absent() || (was_active && !user.is_active) {
                user.tokens_valid_after = Some(crate::store::now());
            }
            Ok(())
        })
        .await
        .map_err(update_error)?;
    state
        .store
        .audit(
            Some(admin.id),
            "update",
            "user",
            Some(user_id),
            json!({ "fields": changed }),
        )
        .await?;
    // Open live streams of this user check it again (role, deactivation, password).
    let payload = payload::user(user_id, Some(&changed));
    state
        .events
        .publish(EventType::UserUpdated, Some(admin.id), payload);
    Ok(Json(UserRead::from(&updated)))
}

#[utoipa::path(
    delete,
    path = "/users/{user_id}",
    operation_id = "users_remove",
    tag = "users",
    summary = "Delete a user",
    params(("user_id" = i64, Path, description = "User id")),
    responses(
        Deleted, AdminOnly, NotFound,
        (status = 409, description = "The last active administrator", body = ErrorBody),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let target: User = find(&state, user_id).await?;
    if target.is_superadmin() && !admin.is_superadmin() {
        return Err(ApiError::Forbidden(ONLY_SUPERADMIN.into()));
    }
    state
        .store
        .delete_user(user_id)
        .await
        .map_err(update_error)?;
    let details = json!({"email": target.email});
    state
        .store
        .audit(Some(admin.id), "delete", "user", Some(user_id), details)
        .await?;
    let payload = payload::user(user_id, None);
    state
        .events
        .publish(EventType::UserDeleted, Some(admin.id), payload);
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the login lockouts of a user (after an attack from elsewhere, or a forgotten
/// password since remembered): every address may try again at once.
#[utoipa::path(
    post,
    path = "/users/{user_id}/unlock",
    operation_id = "users_unlock",
    tag = "users",
    summary = "End a user's login lockouts",
    params(("user_id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Unlocked"),
        AdminOnly, NotFound,
    ),
)]
async fn unlock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    ApiPath(user_id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let target: User = find(&state, user_id).await?;
    state.login_throttle.unlock(&target.email).await?;
    state
        .store
        .audit(Some(admin.id), "unlock", "user", Some(user_id), json!({}))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
