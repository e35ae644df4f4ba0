//! The OpenAPI document (generated from the route annotations, so it cannot drift from the
//! router) at `/api/v1/openapi.json`, and the API docs page at `/docs` (Swagger UI, its
//! assets embedded in the binary: it works offline). Both are public, as in the original:
//! they describe the API, not the site's data.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;

pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/docs";

/// The document's frame: title, version, the bearer-token scheme.
pub fn base() -> OpenApi {
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some("A token from POST /api/v1/auth/login"))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("SecurityVision")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "REST API of the SecurityVision appliance. Every route needs a bearer token \
                     except login, first-admin signup and health. Errors are {\"detail\": …}.",
                ))
                .build(),
        )
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme("bearer", SecurityScheme::Http(bearer))
                .build(),
        ))
        .build()
}

/// Serves `document` and the docs page.
pub fn docs(document: OpenApi) -> Router<AppState> {
    SwaggerUi::new(DOCS_PATH)
        .url(DOCUMENT_PATH, document)
        .into()
}
