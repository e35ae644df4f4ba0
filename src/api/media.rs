//! `/media/…`: the stored media ([`crate::media`]) served.
//!
//! `/media` is public, as in the original: browsers load plan images with `<img>`, which
//! sends no bearer token. Names are 128-bit random, so a file can only be fetched by who was
//! given its URL.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::AppState;
use super::error::{ApiError, ApiResult, FieldError};
use crate::media::{MediaError, is_incident_file, media_path, served_type};

impl From<MediaError> for ApiError {
    fn from(err: MediaError) -> ApiError {
        match err {
            MediaError::NotAnImage => ApiError::BadRequest(err.to_string()),
            MediaError::UnsupportedAttachment => {
                ApiError::invalid(FieldError::body("file", "file_type", err.to_string()))
            }
            MediaError::QuotaUsed { .. } | MediaError::IncidentQuotaUsed { .. } => {
                ApiError::InsufficientStorage(err.to_string())
            }
            MediaError::Io(err) => ApiError::Internal(err.into()),
        }
    }
}

/// `GET /media/{*path}`: a stored file, with its type from its extension and
/// `X-Content-Type-Options: nosniff`; an incident file that is not an image is a download
/// (`Content-Disposition: attachment`), never a page of this origin.
pub async fn serve(State(state): State<AppState>, uri: axum::http::Uri) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound("Not Found".into());
    let path = media_path(&state.config, uri.path()).ok_or_else(not_found)?;
    let incident_file = is_incident_file(&state.config, &path);
    let (content_type, inline) = match served_type(&path) {
        Some((content_type, inline)) if incident_file || inline && content_type != "image/gif" => {
            (content_type, inline)
        }
        _ => return Err(not_found()),
    };
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(err) => return Err(ApiError::Internal(err.into())),
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !inline {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    Ok(response)
}
