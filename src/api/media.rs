//! Uploaded media: floor-plan images, stored under the media directory with generated
//! names and served at `/media/…`. The type is recognised from the bytes, never from the
//! file name or the declared type; SVG (which can carry scripts) is refused.
//!
//! `/media` is public, as in the original: browsers load plan images with `<img>`, which
//! sends no bearer token. Names are 128-bit random, so a file can only be fetched by who was
//! given its URL.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::config::Config;

const FLOOR_PLANS: &str = "floor_plans";

pub struct StoredImage {
    pub url: String,
    pub width: usize,
    pub height: usize,
}

/// Checks that `bytes` is a PNG, JPEG or WebP image and writes it under a new name.
pub async fn store_floor_plan_image(config: &Config, bytes: &[u8]) -> ApiResult<StoredImage> {
    let not_an_image = || ApiError::BadRequest("File must be an image (PNG, JPEG or WebP)".into());
    let extension = match imagesize::image_type(bytes).map_err(|_| not_an_image())? {
        imagesize::ImageType::Png => "png",
        imagesize::ImageType::Jpeg => "jpg",
        imagesize::ImageType::Webp => "webp",
        _ => return Err(not_an_image()),
    };
    let size = imagesize::blob_size(bytes).map_err(|_| not_an_image())?;
    if size.width == 0 || size.height == 0 {
        return Err(not_an_image());
    }
    let name = format!("{}.{extension}", random_name());
    let dir = config.media_root().join(FLOOR_PLANS);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    tokio::fs::write(dir.join(&name), bytes)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let base = config
        .http
        .public_base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    Ok(StoredImage {
        url: format!("{base}/media/{FLOOR_PLANS}/{name}"),
        width: size.width,
        height: size.height,
    })
}

fn random_name() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Deletes the files behind image URLs that point into our media directory; other URLs
/// (images hosted elsewhere) are left alone. Failures are only logged.
pub async fn remove_images(state: &AppState, urls: &[String]) {
    for url in urls {
        if let Some(path) = media_path(state, url)
            && let Err(err) = tokio::fs::remove_file(&path).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %err, "could not remove an old image");
        }
    }
}

/// Maps a `/media/<dir>/<name>` URL (absolute or not) to a file under the media root,
/// accepting only names we generate (no separators, no dot-dot).
fn media_path(state: &AppState, url: &str) -> Option<PathBuf> {
    let rest = &url[url.find("/media/")? + "/media/".len()..];
    let (dir, name) = rest.split_once('/')?;
    let safe = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    (dir == FLOOR_PLANS && safe(name)).then(|| state.config.media_root().join(dir).join(name))
}

/// `GET /media/{*path}`: a stored file, with its type from its extension and
/// `X-Content-Type-Options: nosniff`.
pub async fn serve(State(state): State<AppState>, uri: axum::http::Uri) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound("Not Found".into());
    let path = media_path(&state, uri.path()).ok_or_else(not_found)?;
    let content_type = match path.extension().and_then(|e| e.to_str()) {
        Some("png") => "image/png",
        Some("jpg") => "image/jpeg",
        Some("webp") => "image/webp",
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
