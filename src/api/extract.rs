//! Request extractors whose rejections are API errors (`{"detail": …}`, 401/422) instead of
//! axum's plain-text defaults, and the authenticated-user extractors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, FieldError};
use crate::store::users::User;

/// A JSON body; malformed JSON and wrong field types give 422 naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises a JSON body, reporting the path of the offending field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let mut loc: Vec<String> = vec!["body".into()];
        loc.extend(
            err.path()
                .iter()
                .map(std::string::ToString::to_string)
                .filter(|s| s != "?" && s != "."),
        );
        let inner = err.into_inner();
        let message = inner.to_string();
        let kind = if inner.is_syntax() || inner.is_eof() {
            "json_invalid"
        } else if let Some(field) = missing_field(&message) {
            loc.push(field);
            "missing"
        } else {
            "invalid_type"
        };
        ApiError::invalid(FieldError {
            kind,
            loc,
            msg: message,
        })
    })
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// Query parameters; bad values give 422.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|err| {
                ApiError::invalid(FieldError::new(
                    "invalid_query",
                    &["query"],
                    err.to_string(),
                ))
            })
    }
}

/// Path parameters; a non-integer id gives 422.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection| {
                ApiError::invalid(FieldError::new(
                    "invalid_path",
                    &["path"],
                    rejection.body_text(),
                ))
            })
    }
}

/// `skip`/`limit` paging, validated (the original passed negative values to the database).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub skip: i64,
    pub limit: i64,
}

pub const MAX_PAGE: i64 = 1000;

impl Page {
    /// Validates the `skip` and `limit` query parameters; `default_limit` applies when
    /// `limit` is absent.
    pub fn from_query(
        skip: Option<i64>,
        limit: Option<i64>,
        default_limit: i64,
    ) -> Result<Self, ApiError> {
        let page = Page {
            skip: skip.unwrap_or(0),
            limit: limit.unwrap_or(default_limit),
        };
        let mut errors = Vec::new();
        if page.skip < 0 {
            errors.push(FieldError::new(
                "greater_than_equal",
                &["query", "skip"],
                "skip must be 0 or more",
            ));
        }
        if !(0..=MAX_PAGE).contains(&page.limit) {
            errors.push(FieldError::new(
                "less_than_equal",
                &["query", "limit"],
                format!("limit must be between 0 and {MAX_PAGE}"),
            ));
        }
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// The query of a plain list endpoint.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
}

const NOT_AUTHENTICATED: &str = "Not authenticated";
const INVALID_CREDENTIALS: &str = "Não foi possível validar as credenciais";
pub const INACTIVE_USER: &str = "Usuário inativo";
const NOT_ADMIN: &str = "Permissão insuficiente para acessar este recurso.";
pub const MUST_CHANGE_PASSWORD: &str = "Password change required: set a new password with \
     POST /api/v1/auth/change-password before using the API";

/// The caller, authenticated by a bearer token: an existing, active user whose token was
/// issued after its last password change, and who has no pending forced password change.
pub struct AuthUser(pub User);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, required_token(parts)?)
            .await
            .map(AuthUser)
    }
}

/// Like [`AuthUser`], but also a user who must change their password first: only for
/// `/auth/me` and `/auth/change-password`.
pub struct SessionUser(pub User);

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        session_user(state, required_token(parts)?)
            .await
            .map(SessionUser)
    }
}

/// The bearer token, or the 401 every authenticated route answers without one.
fn required_token(parts: &Parts) -> Result<&str, ApiError> {
    bearer_token(parts).ok_or_else(|| ApiError::Unauthorized(NOT_AUTHENTICATED.into()))
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}

/// The user a token belongs to, allowed to use the API: [`session_user`], refused (403)
/// while a password change is pending (a generated or reset password).
pub async fn authenticate(state: &AppState, token: &str) -> Result<User, ApiError> {
    let user = session_user(state, token).await?;
    if user.must_change_password {
        return Err(ApiError::Forbidden(MUST_CHANGE_PASSWORD.into()));
    }
    Ok(user)
}

/// The user a token belongs to: an existing, active user whose token was issued after
/// its last password change or deactivation.
pub async fn session_user(state: &AppState, token: &str) -> Result<User, ApiError> {
    let invalid = || ApiError::Unauthorized(INVALID_CREDENTIALS.into());
    let (user_id, claims) = state.tokens.verify(token).map_err(|_| invalid())?;
    let user = match state.store.user_by_id(user_id).await {
        Ok(user) => user,
        Err(crate::store::StoreError::NotFound) => return Err(invalid()),
        Err(err) => return Err(err.into()),
    };
    if user
        .tokens_valid_after
        .is_some_and(|after| claims.iat_ms < after.timestamp_millis())
    {
        return Err(invalid());
    }
    if !user.is_active {
        return Err(ApiError::BadRequest(INACTIVE_USER.into()));
    }
    Ok(user)
}

/// An authenticated administrator (superuser flag, or role ADMIN/SUPERADMIN).
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if !user.is_admin() {
            return Err(ApiError::Forbidden(NOT_ADMIN.into()));
        }
        Ok(AdminUser(user))
    }
}
