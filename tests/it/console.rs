//! The web console at `/`: the embedded copy, a console directory for development, the
//! single-page-app fallback, caching, and `/api/*` staying JSON.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};

use crate::common::{Backend, TestApp, detail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_console_is_served_at_the_root_and_for_app_routes() {
    let app = TestApp::start(Backend::Sqlite).await;
    for path in ["/", "/map", "/people/12", "/index.html"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8", "{path}");
        assert_eq!(headers[CACHE_CONTROL], "no-cache", "{path}");
        assert!(
            headers[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("<html"), "{path}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_directory_replaces_the_embedded_copy() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("console");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><html>dev console</html>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/app-1a2b3c.js"), "console.log(1)").unwrap();
    std::fs::write(root.path().join("secret.txt"), "outside").unwrap();
    let app = TestApp::start_with(Backend::Sqlite, |c| c.http.console_dir = Some(dir)).await;
    let admin = app.admin_token().await;

    let get = |path: &str| app.client.get(app.url(path)).send();
    let index = get("/live/floor/3").await.unwrap();
    assert_eq!(index.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(
        index.text().await.unwrap(),
        "<!doctype html><html>dev console</html>"
    );

    let asset = get("/assets/app-1a2b3c.js").await.unwrap();
    assert_eq!(asset.status(), StatusCode::OK);
    assert_eq!(
        asset.headers()[CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        asset.headers()[CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );

    // A missing file is a 404, not the app's page (a stale tab asking for an old asset
    // must not get HTML as JavaScript); paths cannot climb out of the directory.
    assert_eq!(
        get("/assets/gone-999.js").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    for path in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let response = raw_get(&app, path).await;
        assert!(response.starts_with("HTTP/1.1 404"), "{path}: {response}");
        assert!(!response.contains("outside"), "{path}: {response}");
    }

    // The API keeps its JSON errors, whatever the method.
    let (status, body) = app.get("/api/v1/not-a-route", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(detail(&body), "Not Found");
    let response = app.client.post(app.url("/settings")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    app.stop().await;
}

/// A request sent byte for byte: HTTP clients normalise `..` away before sending.
async fn raw_get(app: &TestApp, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}
