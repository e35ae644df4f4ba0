//! `/auth`: login (JSON body or OAuth2 password form), first-admin signup, the caller's own
//! profile and password.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody, FieldError};
use super::extract::{ApiJson, INACTIVE_USER, SessionUser, parse_json};
use super::openapi::{Invalid, Refused};
use super::users::{EMAIL_TAKEN, UserCreate, UserRead, new_user_from};
use super::validate::Checks;
use crate::auth::{
    PasswordCheck, hash_password_in_background, normalize_email, verify_password_in_background,
};
use crate::events::{EventType, payload};
use crate::metrics::HttpRefusal;
use crate::store::users::{ROLE_ADMIN, User};

const BAD_LOGIN: &str = "E-mail ou senha inválidos";
const TOO_MANY_ATTEMPTS: &str = "Muitas tentativas de login. Tente novamente mais tarde.";
const TOO_MANY_FROM_ADDRESS: &str =
    "Too many login attempts from this address. Try again in a minute.";
const SIGNUP_CLOSED: &str = "Signup desabilitado. Apenas admins podem criar usuários.";

/// The routes that need no token.
pub fn public_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(signup))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(change_password))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginJson {
    email: String,
    password: String,
}

/// The OAuth2 password grant form (what Swagger's "Authorize" and many tools send).
#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    /// Seconds until the token expires.
    expires_in: i64,
}

fn token_response(state: &AppState, user: &User) -> ApiResult<TokenResponse> {
    let (token, expires) = state
        .tokens
        .issue(user.id, &user.role)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(TokenResponse {
        access_token: token,
        token_type: "bearer",
        expires_in: (expires - chrono::Utc::now()).num_seconds(),
    })
}

#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "auth_login",
    tag = "auth",
    summary = "Log in with e-mail and password (JSON body, or the OAuth2 password form with username/password)",
    request_body = LoginJson,
    responses(
        (status = 200, body = TokenResponse),
        Refused, Invalid,
        (status = 429, description = "Too many failed attempts on this account, or too many attempts from this address", body = ErrorBody),
    ),
)]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> ApiResult<Json<TokenResponse>> {
    if !state.login_limiter.check(peer.ip()).await? {
        state.metrics.http_refused(HttpRefusal::LoginRateLimited);
        return Err(ApiError::TooManyRequests(TOO_MANY_FROM_ADDRESS.into()));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = bytes::Bytes::from_request(request, &state)
        .await
        .map_err(|r| ApiError::BadRequest(r.body_text()))?;
    let (email, password) = if is_form {
        let form: LoginForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
            ApiError::invalid(FieldError::new(
                "missing",
                &["body"],
                format!("username and password are required: {e}"),
            ))
        })?;
        (form.username, form.password)
    } else {
        let json: LoginJson = parse_json(&body)?;
        (json.email, json.password)
    };
    let email = normalize_email(&email).ok_or_else(|| {
        ApiError::invalid(FieldError::body(
            "email",
            "value_error",
            "not a valid e-mail address",
        ))
    })?;

    // Counted as failed before the password is checked: parallel guesses cannot pass the
    // check together.
    let Some(attempt) = state.login_throttle.begin(&email, peer.ip()).await? else {
        state.metrics.http_refused(HttpRefusal::LoginLocked);
        return Err(ApiError::TooManyRequests(TOO_MANY_ATTEMPTS.into()));
    };
    let user = state.store.user_by_email(&email).await?;
    let stored = user.as_ref().map(|u| u.hashed_password.clone());
    let check = verify_password_in_background(&password, stored).await?;
    let Some(user) = user.filter(|_| check.is_valid()) else {
        tracing::info!(email = %email, address = %peer.ip(), "failed login");
        return Err(ApiError::BadRequest(BAD_LOGIN.into()));
    };
    state.login_throttle.succeeded(attempt).await?;
    // The original issued tokens to deactivated users; we refuse at the door.
    if !user.is_active {
        return Err(ApiError::BadRequest(INACTIVE_USER.into()));
    }
    if check == PasswordCheck::ValidLegacy {
        upgrade_legacy_hash(&state, &user, password).await;
    }
    Ok(Json(token_response(&state, &user)?))
}

/// Replaces a legacy bcrypt hash by argon2id after a successful login.
async fn upgrade_legacy_hash(state: &AppState, user: &User, password: String) {
    let Ok(hash) = hash_password_in_background(&password).await else {
        return;
    };
    let result = state
        .store
        .change_user(user.id, |u| {
            u.hashed_password = hash;
            Ok::<_, ()>(())
        })
        .await;
    match result {
        Ok(_) => tracing::info!(
            user_id = user.id,
            "legacy password hash upgraded to argon2id"
        ),
        Err(err) => {
            tracing::warn!(user_id = user.id, error = %err, "could not upgrade legacy password hash");
        }
    }
}

/// Creates the first administrator, only while none exists. Atomic: of two concurrent
/// calls one wins, the other gets 403.
#[utoipa::path(
    post,
    path = "/auth/signup",
    operation_id = "auth_signup",
    tag = "auth",
    summary = "Create the first administrator (only while none exists)",
    request_body = UserCreate,
    responses(
        (status = 200, body = UserRead),
        (status = 403, description = "An administrator already exists", body = ErrorBody),
        Refused, Invalid,
    ),
)]
async fn signup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UserCreate>,
) -> ApiResult<Json<UserRead>> {
    if state.store.first_admin_exists().await? {
        return Err(ApiError::Forbidden(SIGNUP_CLOSED.into()));
    }
    let mut new = new_user_from(body).await?;
    new.role = ROLE_ADMIN.into();
    new.is_superuser = true;
    new.is_active = true;
    if state.store.user_by_email(&new.email).await?.is_some() {
        return Err(ApiError::BadRequest(EMAIL_TAKEN.into()));
    }
    match state.store.create_first_admin(&new).await {
        Ok(Some(user)) => {
            state
                .store
                .audit(
                    Some(user.id),
                    "signup",
                    "user",
                    Some(user.id),
                    json!({"email": user.email}),
                )
                .await?;
            Ok(Json(UserRead::from(&user)))
        }
        Ok(None) => Err(ApiError::Forbidden(SIGNUP_CLOSED.into())),
        Err(crate::store::StoreError::Conflict(_)) => Err(ApiError::BadRequest(EMAIL_TAKEN.into())),
        Err(err) => Err(err.into()),
    }
}

#[utoipa::path(
    get,
    path = "/auth/me",
    operation_id = "auth_me",
    tag = "auth",
    summary = "The caller",
    responses(
        (status = 200, body = UserRead),
    ),
)]
async fn me(SessionUser(user): SessionUser) -> Json<UserRead> {
    Json(UserRead::from(&user))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ChangePassword {
    current_password: String,
    new_password: String,
}

/// Changes the caller's own password. Tokens issued before the change stop working; the
/// response carries a fresh one.
#[utoipa::path(
    post,
    path = "/auth/change-password",
    operation_id = "auth_change_password",
    tag = "auth",
    summary = "Change one's own password; returns a fresh token, older tokens stop working",
    request_body = ChangePassword,
    responses(
        (status = 200, body = TokenResponse),
        Invalid,
        (status = 429, description = "Too many wrong current passwords", body = ErrorBody),
    ),
)]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    SessionUser(user): SessionUser,
    ApiJson(body): ApiJson<ChangePassword>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    let mut checks = Checks::new();
    super::users::check_password(&mut checks, "new_password", &body.new_password);
    checks.finish()?;
    // A stolen token must not turn this into a way round the login throttle.
    let Some(attempt) = state.login_throttle.begin(&user.email, peer.ip()).await? else {
        state.metrics.http_refused(HttpRefusal::LoginLocked);
        return Err(ApiError::TooManyRequests(TOO_MANY_ATTEMPTS.into()));
    };
    let stored = Some(user.hashed_password.clone());
    if !verify_password_in_background(&body.current_password, stored)
        .await?
        .is_valid()
    {
        return Err(ApiError::invalid(FieldError::body(
            "current_password",
            "value_error",
            "the current password is wrong",
        )));
    }
    state.login_throttle.succeeded(attempt).await?;
    let hash = hash_password_in_background(&body.new_password).await?;
    let updated = state
        .store
        .change_user(user.id, |u| {
            u.hashed_password = hash;
            u.must_change_password = false;
            u.tokens_valid_after = Some(crate::store::now());
            Ok::<_, ()>(())
        })
        .await
        .map_err(super::users::update_error)?;
    state
        .store
        .audit(
            Some(user.id),
            "change_password",
            "user",
            Some(user.id),
            json!({}),
        )
        .await?;
    let payload = payload::user(user.id, Some(&["password"]));
    state
        .events
        .publish(EventType::UserUpdated, Some(user.id), payload);
    Ok((StatusCode::OK, Json(token_response(&state, &updated)?)))
}
