//! HTTP behaviour shared by every route: paths, errors, health, CORS, shutdown.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{Backend, TestApp, backend_tests, detail};

backend_tests! {
    async fn paths_answer_with_and_without_trailing_slash(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        for path in ["/api/v1/users", "/api/v1/users/", "/api/v1/auth/me", "/api/v1/auth/me/", "/health", "/health/"] {
            let (status, _) = app.get(path, &admin).await;
            assert_eq!(status, StatusCode::OK, "{path}");
        }
    }

    async fn unknown_paths_and_methods_are_json_errors(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (status, body) = app.get("/api/v1/no-such-thing", &admin).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(detail(&body), "Not Found");
        let (status, body) = app.call(Method::PUT, "/api/v1/auth/me", Some(&admin), Some(json!({}))).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(detail(&body), "Method Not Allowed");
    }

    async fn paging_parameters_are_validated(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        for query in ["skip=-1", "limit=-5", "limit=100000", "skip=abc"] {
            let (status, body) = app.get(&format!("/api/v1/users/?{query}"), &admin).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
            assert!(body["detail"].is_array(), "{query}: {body}");
        }
    }

    async fn health_reports_the_database(backend: Backend) {
        let app = TestApp::start(backend).await;
        let response = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "no token needed");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["database"]["status"], "ok");
        let expected = match backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" };
        assert_eq!(body["database"]["backend"], expected);
        assert_eq!(body["mqtt"]["mode"], "embedded");
        assert_eq!(body["mqtt"]["ingest_queue_capacity"], 65536);
        assert_eq!(body["role"], "single", "one appliance, no cluster");

        app.store.close().await;
        let response = app.client.get(app.url("/api/v1/health")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["database"]["status"], "unavailable");
    }

    async fn cross_origin_requests_only_from_configured_origins(backend: Backend) {
        let closed = TestApp::start(backend).await;
        let preflight = |app: &TestApp, origin: &str| {
            app.client
                .request(Method::OPTIONS, app.url("/api/v1/auth/me"))
                .header("origin", origin.to_string())
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
        };
        let response = preflight(&closed, "https://evil.example").await.unwrap();
        assert!(response.headers().get("access-control-allow-origin").is_none(), "no CORS by default");

        let open = TestApp::start_with(backend, |c| c.http.cors_origins = vec!["https://console.example".into()]).await;
        let response = preflight(&open, "https://console.example").await.unwrap();
        assert_eq!(response.headers()["access-control-allow-origin"], "https://console.example");
        assert!(response.headers().get("access-control-allow-credentials").is_none());
        let response = preflight(&open, "https://evil.example").await.unwrap();
        assert!(response.headers().get("access-control-allow-origin").is_none());
    }

    async fn graceful_shutdown_stops_the_server(backend: Backend) {
        let app = TestApp::start(backend).await;
        let base = app.base.clone();
        app.stop().await;
        let refused = reqwest::Client::new().get(format!("{base}/health")).send().await;
        assert!(refused.is_err(), "the listener is closed after shutdown");
    }
}
