//! The OpenAPI document (generated from the route annotations, so it cannot drift from the
//! router) at `/api/v1/openapi.json`, and the API docs page at `/docs` (Swagger UI, its
//! assets embedded in the binary: it works offline). Both are public, as in the original:
//! they describe the API, not the site's data.

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::{IntoResponses, Modify};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;
use super::error::{ErrorBody, FieldError, ValidationErrorBody};

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
                // Named by the responses below, which do not register what they name.
                .schema_from::<ErrorBody>()
                .schema_from::<ValidationErrorBody>()
                .schema_from::<FieldError>()
                .build(),
        ))
        .build()
}

/// The routes of `router` documented as needing a bearer token: each operation gets the
/// `bearer` requirement and the 401 answer, so no route writes them out.
pub fn secured(mut router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    BearerToken.modify(router.get_openapi_mut());
    router
}

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut OpenApi) {
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                operation
                    .security
                    .get_or_insert_with(|| vec![bearer.clone()]);
                for (status, response) in Unauthorized::responses() {
                    operation
                        .responses
                        .responses
                        .entry(status)
                        .or_insert(response);
                }
            }
        }
    }
}

/// Declares the responses many routes share, each once: a route lists them by name in its
/// `responses(...)`.
macro_rules! shared_responses {
    ($($name:ident = $status:tt, $description:tt $(, $body:ty)?;)+) => {$(
        #[derive(IntoResponses)]
        #[response(status = $status, description = $description)]
        pub struct $name $((pub $body))?;
    )+};
}

shared_responses! {
    Deleted = 204, "Deleted";
    Refused = 400, "Refused", ErrorBody;
    // Added to every secured operation by `secured`.
    Unauthorized = 401, "Missing or invalid token", ErrorBody;
    AdminOnly = 403, "Not an administrator", ErrorBody;
    CredentialsAdminOnly = 403,
        "Credential or uplink fields changed by a non-administrator", ErrorBody;
    NotFound = 404, "Not found", ErrorBody;
    NotACamera = 404, "Not a camera", ErrorBody;
    Conflict = 409, "Duplicate value or still referenced", ErrorBody;
    Invalid = 422,
        "Invalid request; each problem names its field", ValidationErrorBody;
}

/// Serves `document` and the docs page.
pub fn docs(document: OpenApi) -> Router<AppState> {
    SwaggerUi::new(DOCS_PATH)
        .url(DOCUMENT_PATH, document)
        .into()
}
