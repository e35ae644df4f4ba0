//! The API's error type: every failure becomes `{"detail": …}` with the right status.
//! Server-side failures are logged with their cause and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// One problem with a request field, in the shape FastAPI/Pydantic used
/// (`{"type", "loc", "msg"}`), so existing clients can show it next to the field.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub loc: Vec<String>,
    pub msg: String,
}

impl FieldError {
    pub fn new(kind: &'static str, loc: &[&str], msg: impl Into<String>) -> Self {
        FieldError {
            kind,
            loc: loc.iter().map(std::string::ToString::to_string).collect(),
            msg: msg.into(),
        }
    }

    /// A problem with a field of the JSON body.
    pub fn body(field: &str, kind: &'static str, msg: impl Into<String>) -> Self {
        FieldError::new(kind, &["body", field], msg)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    InsufficientStorage(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The body of every error but validation errors.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub detail: String,
}

/// The body of a 422: one entry per problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(what.to_string())
    }

    /// A single invalid field.
    pub fn invalid(field: FieldError) -> Self {
        ApiError::Validation(vec![field])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("Not found".into()),
            // The database's text names tables, columns and constraints: logged, never sent.
            StoreError::Conflict(what) => {
                tracing::info!(constraint = %what, "refused: duplicate value");
                ApiError::Conflict("A record with this value already exists".into())
            }
            StoreError::ForeignKey(what) => {
                tracing::info!(constraint = %what, "refused: reference violation");
                ApiError::Conflict(
                    "The record references, or is referenced by, another record".into(),
                )
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

/// Work moved to a blocking thread (password hashing) that panicked.
impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::Internal(err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match self {
            ApiError::Validation(detail) => {
                (status, axum::Json(ValidationErrorBody { detail })).into_response()
            }
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                let body = ErrorBody {
                    detail: "Internal server error".into(),
                };
                (status, axum::Json(body)).into_response()
            }
            other => (
                status,
                axum::Json(ErrorBody {
                    detail: other.to_string(),
                }),
            )
                .into_response(),
        };
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conflicts_never_show_the_database_text() {
        let leaks = [
            StoreError::Conflict("UNIQUE constraint failed: tags.mac_address".into()),
            StoreError::Conflict("tags_mac_address_key".into()),
            StoreError::ForeignKey("FOREIGN KEY constraint failed".into()),
            StoreError::ForeignKey("devices_floor_plan_id_fkey".into()),
        ];
        for err in leaks {
            let response = ApiError::from(err).into_response();
            assert_eq!(response.status(), StatusCode::CONFLICT);
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let body = String::from_utf8_lossy(&body).to_lowercase();
            for word in [
                "unique",
                "foreign",
                "constraint",
                "tags",
                "devices",
                "_key",
                "fkey",
            ] {
                assert!(!body.contains(word), "{body}");
            }
        }
    }
}
