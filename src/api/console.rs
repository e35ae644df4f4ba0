//! The web console: the single-page app from `web/`, built by `build.rs` and embedded in
//! the binary, served at `/` for every path the API does not claim. Unknown paths without
//! a file extension get `index.html` (the app routes them); `/api/*` stays JSON.
//!
//! Hashed assets (`/assets/…`) are cached for a year, everything else is revalidated, so a
//! new binary's console is picked up on the next load.

use std::borrow::Cow;
use std::path::Path;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

#[derive(rust_embed::RustEmbed)]
#[folder = "$OUT_DIR/console"]
struct Embedded;

/// React sets styles through the DOM (allowed); `'unsafe-inline'` for styles covers the
/// style attributes of the build-less placeholder page. No inline scripts anywhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
                   base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The router's fallback: the console for browsers, JSON 404 for API clients.
pub async fn serve(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let is_api = path == "/api" || path.starts_with("/api/");
    if is_api || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::NotFound("Not Found".into()).into_response();
    }
    let name = path.trim_start_matches('/');
    let name = if name.is_empty() { "index.html" } else { name };
    let dir = state.config.http.console_dir.as_deref();
    if let Some(bytes) = read(dir, name).await {
        return file_response(name, bytes);
    }
    let looks_like_a_file = name
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if looks_like_a_file {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    match read(dir, "index.html").await {
        Some(bytes) => file_response("index.html", bytes),
        None => ApiError::NotFound("Not Found".into()).into_response(),
    }
}

/// A console file from the configured directory, or else from the embedded copy.
async fn read(dir: Option<&Path>, name: &str) -> Option<Cow<'static, [u8]>> {
    let safe = name
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    if !safe {
        return None;
    }
    match dir {
        Some(dir) => tokio::fs::read(dir.join(name)).await.ok().map(Cow::Owned),
        None => Embedded::get(name).map(|file| file.data),
    }
}

fn file_response(name: &str, bytes: Cow<'static, [u8]>) -> Response {
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The types a Vite build produces.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
