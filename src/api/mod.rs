//! The HTTP API under `/api/v1`, one module per resource, and the router that joins them.

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::routing::get;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub mod alerts;
pub mod auth;
pub mod buildings;
pub mod camera_groups;
pub mod cameras;
pub mod changes;
pub mod chatwoot;
pub mod collection_logs;
mod console;
pub mod dashboard;
pub mod devices;
pub mod error;
pub mod extract;
pub mod floor_plans;
pub mod floors;
pub mod gateways;
pub mod health;
pub mod history;
pub mod incident_rules;
pub mod incidents;
pub mod media;
pub mod metrics;
pub mod mqtt_credentials;
pub mod openapi;
pub mod people;
pub mod person_groups;
pub mod positioning;
pub mod positions;
pub mod reports;
pub mod resource;
mod state;
pub mod stream;
pub mod support_groups;
pub mod tags;
pub mod users;
pub mod validate;
pub mod webhooks;
pub mod zones;

pub use error::{ApiError, ApiResult};
pub use state::AppState;

/// The whole HTTP application. Trailing slashes are handled by the caller (see
/// [`crate::server`]), so routes are declared without them.
pub fn router(state: AppState) -> Router {
    // Login, signup and health need no token; the document says so of no other route.
    let public = OpenApiRouter::new()
        .routes(routes!(health::health))
        .merge(auth::public_router())
        .merge(chatwoot::public_router());
    let secured = OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(support_groups::router())
        .merge(buildings::router())
        .merge(floors::router())
        .merge(floor_plans::router(state.config.media.max_upload_bytes))
        .merge(devices::router())
        .merge(gateways::router())
        .merge(cameras::router())
        .merge(camera_groups::router())
        .merge(people::router())
        .merge(tags::router())
        .merge(person_groups::router())
        .merge(collection_logs::router())
        .merge(mqtt_credentials::router())
        .merge(webhooks::router())
        .merge(chatwoot::router())
        .merge(positions::router())
        .merge(positioning::router())
        .merge(reports::router())
        .merge(history::router())
        .merge(alerts::router())
        .merge(incidents::router(state.config.media.max_upload_bytes))
        .merge(incident_rules::router())
        .merge(dashboard::router())
        .merge(zones::router())
        .merge(stream::router());
    let api = OpenApiRouter::with_openapi(openapi::base())
        .merge(public)
        .merge(openapi::secured(secured));
    let (api, document) = OpenApiRouter::new().nest("/api/v1", api).split_for_parts();
    let cors = cors_layer(&state.config.http.cors_origins);
    Router::new()
        .route("/health", get(health::health))
        .route("/media/{*path}", get(media::serve))
        .route("/metrics", get(metrics::metrics))
        .merge(api)
        .merge(openapi::docs(document))
        .fallback(console::serve)
        .method_not_allowed_fallback(|| async { method_not_allowed() })
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(cors)
        .with_state(state)
}

fn method_not_allowed() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = axum::Json(serde_json::json!({ "detail": "Method Not Allowed" }));
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}

/// Logs the route template (not the raw path, which may hold ids or MACs) and the method.
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!("http", method = %request.method(), route)
}

/// Cross-origin access: none unless origins are configured. Tokens travel in the
/// `Authorization` header, never in cookies, so credentials are never allowed.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(std::time::Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}
