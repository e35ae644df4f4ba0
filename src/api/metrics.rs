//! `GET /metrics`: Prometheus text. Readable with the configured `http.metrics_token`
//! (what a Prometheus scraper holds) or an administrator's token.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiResult;
use super::extract::{AdminUser, bearer_token};

pub async fn metrics(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let (mut parts, _) = request.into_parts();
    let scraper = match (&state.config.http.metrics_token, bearer_token(&parts)) {
        (Some(expected), Some(given)) => bool::from(expected.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    };
    if !scraper {
        AdminUser::from_request_parts(&mut parts, &state).await?;
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}
