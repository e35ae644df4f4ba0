//! The OpenAPI document and the docs page.

use std::collections::{BTreeSet, HashSet};

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

/// Served but not in the document, each with its reason. Anything else the router serves
/// must be documented, so that the sweeps driven by the document (the 401 check above,
/// `authorization.rs`) reach every route.
const UNDOCUMENTED: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/health",
        "the load balancer's probe, outside the API (documented as /api/v1/health)",
    ),
    (
        "GET",
        "/metrics",
        "Prometheus text with its own scrape token, outside the API",
    ),
    (
        "GET",
        "/media/{*path}",
        "stored floor-plan images, linked from the API's `image_url`",
    ),
    ("GET", "/api/v1/openapi.json", "the document itself"),
    (
        "GET",
        "/docs",
        "the API docs page (Swagger UI, assets embedded)",
    ),
    ("GET", "/docs/", "the API docs page"),
    ("GET", "/docs/{*rest}", "the API docs page's assets"),
];

const METHODS: [&str; 9] = [
    "get", "head", "delete", "options", "patch", "post", "put", "trace", "connect",
];

/// The (method, path) pairs the router serves. axum cannot list its routes, but its
/// `Debug` output names each path and, per path, the methods it has an endpoint for (a
/// nested service, any method: "ANY"). The parse fails loudly if that output changes.
fn served_routes(router: &axum::Router) -> BTreeSet<(String, String)> {
    let text = format!("{router:?}");
    let own = &text[..text
        .find(", fallback_router:")
        .expect("axum's Router debug output")];
    let (routes, node) = own.split_at(own.find("node: Node { paths: {").expect("the route table"));
    let mut paths = std::collections::HashMap::new();
    for entry in node.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("a path entry");
        paths.insert(id.to_string(), rest[..rest.find('"').unwrap()].to_string());
    }
    let mut served = BTreeSet::new();
    for entry in routes.split("RouteId(").skip(1) {
        let (id, endpoint) = entry.split_once("): ").expect("a route entry");
        let path = paths
            .get(id)
            .unwrap_or_else(|| panic!("route {id} has no path"))
            .clone();
        if endpoint.starts_with("Route(") {
            served.insert(("ANY".to_string(), path));
            continue;
        }
        assert!(
            endpoint.starts_with("MethodRouter(MethodRouter {"),
            "unexpected endpoint: {endpoint}"
        );
        for method in METHODS {
            let field = format!("{method}: ");
            let at = endpoint
                .find(&field)
                .unwrap_or_else(|| panic!("no {method} in {endpoint}"));
            if !endpoint[at + field.len()..].starts_with("None") {
                served.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(
        served.len() > 50 && paths.len() > 50,
        "the parse found only {} routes in {text}",
        served.len()
    );
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_the_router_serves_is_documented() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::TestDatabase::create(crate::common::Backend::Sqlite, dir.path()).await;
    let config = crate::common::test_config(dir.path(), &db.url);
    let app = securityvision::server::App::prepare(
        config,
        securityvision::server::ServeOptions::default(),
    )
    .await
    .unwrap();
    let router = securityvision::api::router(app.state.clone());
    let served = served_routes(&router);
    // The document as this router serves it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let document: Value = reqwest::get(format!("{base}/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .filter(|(m, _)| METHODS.contains(&m.to_lowercase().as_str()))
        .collect();
    let excluded = |method: &str, path: &str| {
        UNDOCUMENTED
            .iter()
            .any(|(m, p, _)| (*m == method || (*m == "GET" && method == "HEAD")) && *p == path)
    };
    let missing: Vec<_> = served
        .iter()
        .filter(|(method, path)| !documented.contains(&(method.clone(), path.clone())))
        // axum answers HEAD wherever it answers GET.
        .filter(|(method, path)| {
            !(method == "HEAD" && documented.contains(&("GET".to_string(), path.clone())))
        })
        .filter(|(method, path)| !excluded(method, path))
        .collect();
    assert!(
        missing.is_empty(),
        "served but not documented (document them, or list them in UNDOCUMENTED with a reason): {missing:#?}"
    );
    // And the other way, from the router's side: every documented operation is served.
    for (method, path) in &documented {
        assert!(
            served.contains(&(method.clone(), path.clone())),
            "{method} {path} is documented but not served"
        );
    }
    for (method, path, _) in UNDOCUMENTED {
        assert!(
            served
                .iter()
                .any(|(m, p)| p == path && (m == method || *method == "ANY" || m == "ANY")),
            "{method} {path} is listed as undocumented but not served"
        );
    }
}
