//! The OpenAPI document and the docs page.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{TestApp, backend_tests};

const PUBLIC: &[&str] = &[
    "auth_login",
    "auth_signup",
    "health_health",
    "chatwoot_webhook",
];

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

backend_tests! {
    async fn the_document_describes_every_route_and_matches_the_router(backend: Backend) {
        let app = TestApp::start(backend).await;
        let response = app.client.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "public, like the original's");
        let doc: Value = response.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut all_refs = Vec::new();
        refs(&doc, &mut all_refs);
        for r in &all_refs {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(schemas.contains_key(name), "dangling reference {r}");
        }

        let mut ids = HashSet::new();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
                operations += 1;
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{id} has no responses");
                let public = PUBLIC.contains(&id);
                assert_eq!(op.get("security").is_none(), public, "{id}: security");
                assert_eq!(op["responses"].get("401").is_some(), !public, "{id}: 401 documented");
                // Each documented operation exists: without a token it is refused (401), not
                // missing (404/405).
                let concrete = path.replace("{mac}", "AABBCCDDEEFF").replace("{mac_address}", "AABBCCDDEEFF").replace("{code}", "X");
                let concrete = fill_path_ids(&concrete, "1");
                if !public {
                    let (status, _) = app.call(method.clone(), &concrete, None, Some(serde_json::json!({}))).await;
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {concrete} ({id})");
                }
            }
        }
        assert!(operations >= 79, "only {operations} operations documented");
        for schema in ["UserRead", "DeviceRead", "DeviceBody", "Building", "FloorPlan", "TagRead", "PersonRead", "ValidationErrorBody"] {
            assert!(schemas.contains_key(schema), "{schema} missing");
        }
        assert!(schemas["DeviceRead"]["properties"].get("password").is_none(), "credentials are write-only");
        assert!(schemas["DeviceBody"]["properties"].get("password").is_some());
    }

    async fn the_docs_page_works_offline(backend: Backend) {
        let app = TestApp::start(backend).await;
        let page = app.client.get(app.url("/docs/")).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(page.text().await.unwrap().contains("swagger-ui"));
        let init = app.client.get(app.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
        assert!(init.contains("/api/v1/openapi.json"), "the page loads our document");
        let bundle = app.client.get(app.url("/docs/swagger-ui-bundle.js")).send().await.unwrap();
        assert_eq!(bundle.status(), StatusCode::OK, "assets are embedded, not fetched from a CDN");
        assert!(bundle.bytes().await.unwrap().len() > 100_000);
    }
}

/// Replaces `{…_id}` path parameters with `id`.
pub fn fill_path_ids(path: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map_or(rest.len() - 1, |e| start + e);
        out.push_str(&rest[..start]);
        out.push_str(id);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}
