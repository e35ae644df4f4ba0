//! The API findings of the security review (issue 11, items 7–12): roles, login throttling,
//! the live stream's authorisation, self-service passwords and the last admin, media
//! ownership and quota, slow headers, files at rest.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use securityvision::metrics::HttpRefusal;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{
    TestApp, backend_tests, detail, id, login_status, mint_token, upload_plan_image,
};

const PNG: &[u8] = include_bytes!("../fixtures/plan-40x30.png");

/// An open `/api/v1/stream`, read event by event.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, token: &str) -> Stream {
        let response = app
            .client
            .get(app.url("/api/v1/stream"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The type of the next event, or `None` once the server has ended the stream.
    async fn next(&mut self) -> Option<String> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(kind) = block.lines().find_map(|l| l.strip_prefix("event:")) {
                    return Some(kind.trim().to_string());
                }
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("the stream neither sent an event nor ended");
            match chunk {
                Ok(Some(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Events up to and including the first of type `last`.
    async fn until(&mut self, last: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(kind) = self.next().await {
            let done = kind == last;
            seen.push(kind);
            if done {
                return seen;
            }
        }
        panic!("the stream ended before {last}: {seen:?}");
    }

    /// Whether the server ends the stream (skipping events still queued).
    async fn ends(&mut self) -> bool {
        for _ in 0..100 {
            if self.next().await.is_none() {
                return true;
            }
        }
        false
    }
}

backend_tests! {
    // Item 7: what each role may do, as one table. ADMIN and SUPERADMIN answer alike.
    async fn the_role_model_as_a_table(backend: Backend) {
        let app = TestApp::start(backend).await;
        let root = app.admin_token().await;
        let (op_id, operator) = app.user_token(&root, "op@example.com", "OPERATOR").await;
        let (_, admin) = app.user_token(&root, "admin2@example.com", "ADMIN").await;
        let (_, superadmin) = app.user_token(&root, "super@example.com", "SUPERADMIN").await;
        let building = app.create("/api/v1/buildings", &root, json!({"name": "HQ", "code": "HQ"}), StatusCode::CREATED).await;
        let floor = app.create("/api/v1/floors", &root, json!({"building_id": id(&building), "name": "F"}), StatusCode::CREATED).await;
        let plan = app.create("/api/v1/floor-plans", &root, json!({"floor_id": id(&floor), "name": "P"}), StatusCode::CREATED).await;
        let camera = app.create("/api/v1/devices/cameras", &root, json!({
            "name": "Gate", "code": "GATE", "floor_plan_id": id(&plan), "ip_address": "10.0.0.10", "port": 554,
            "username": "viewer", "password": "camera-pass-1", "rtsp_url": "rtsp://10.0.0.10/stream",
            "proxy_path": "gate", "central_path": "site/gate", "central_media_mtx_ip": "10.0.0.2",
        }), StatusCode::CREATED).await;
        let cam = format!("/api/v1/devices/cameras/{}", id(&camera));
        let (b, p) = (id(&building), id(&plan));

        use StatusCode as S;
        let table: Vec<(Method, String, Option<Value>, S, S)> = vec![
            // (method, path, body, OPERATOR, ADMIN and SUPERADMIN)
            (Method::GET, "/api/v1/devices/cameras".into(), None, S::OK, S::OK),
            (Method::GET, format!("/api/v1/buildings/{b}"), None, S::OK, S::OK),
            (Method::PUT, format!("/api/v1/buildings/{b}"), Some(json!({"description": "main site"})), S::OK, S::OK),
            (Method::PUT, cam.clone(), Some(json!({"name": "Gate 1", "description": "north"})), S::OK, S::OK),
            (Method::PATCH, format!("/api/v1/devices/{}/position", id(&camera)), Some(json!({"floor_plan_id": p, "pos_x": 0.5, "pos_y": 0.5})), S::OK, S::OK),
            (Method::POST, "/api/v1/devices/cameras".into(), Some(json!({"name": "Lobby"})), S::CREATED, S::CREATED),
            // Where the stored password goes: without giving it again, even an admin is refused.
            (Method::PUT, cam.clone(), Some(json!({"rtsp_url": "rtsp://203.0.113.66/x"})), S::FORBIDDEN, S::UNPROCESSABLE_ENTITY),
            (Method::PUT, cam.clone(), Some(json!({"ip_address": "203.0.113.66"})), S::FORBIDDEN, S::UNPROCESSABLE_ENTITY),
            (Method::PUT, cam.clone(), Some(json!({"port": 8554, "password": "camera-pass-2"})), S::FORBIDDEN, S::OK),
            (Method::PUT, cam.clone(), Some(json!({"password": "camera-pass-3"})), S::FORBIDDEN, S::OK),
            (Method::PUT, cam.clone(), Some(json!({"username": "admin"})), S::FORBIDDEN, S::OK),
            (Method::PUT, cam.clone(), Some(json!({"central_media_mtx_ip": "10.0.0.3"})), S::FORBIDDEN, S::OK),
            (Method::PUT, cam.clone(), Some(json!({"central_path": "site/gate-1"})), S::FORBIDDEN, S::OK),
            (Method::POST, "/api/v1/devices/cameras".into(), Some(json!({"name": "Dock", "ip_address": "10.0.0.11", "password": "x-pass-123"})), S::FORBIDDEN, S::CREATED),
            (Method::POST, format!("{cam}/uplink/start"), None, S::FORBIDDEN, S::OK),
            (Method::POST, format!("{cam}/uplink/stop"), None, S::FORBIDDEN, S::OK),
            (Method::GET, "/api/v1/users/".into(), None, S::FORBIDDEN, S::OK),
            (Method::POST, format!("/api/v1/users/{op_id}/unlock"), None, S::FORBIDDEN, S::NO_CONTENT),
            (Method::GET, "/api/v1/support-groups/".into(), None, S::FORBIDDEN, S::OK),
            (Method::GET, "/api/v1/mqtt/credentials/".into(), None, S::FORBIDDEN, S::OK),
        ];
        for (method, path, body, for_operator, for_admins) in table {
            for (role, token, expected) in [("OPERATOR", &operator, for_operator), ("ADMIN", &admin, for_admins), ("SUPERADMIN", &superadmin, for_admins)] {
                let (status, value) = app.call(method.clone(), &path, Some(token), body.clone()).await;
                assert_eq!(status, expected, "{role}: {method} {path} {body:?} → {value}");
                if status == S::FORBIDDEN {
                    assert!(!detail(&value).is_empty());
                }
            }
        }
        let (_, stored) = app.get(&format!("/api/v1/devices/{}", id(&camera)), &root).await;
        assert_eq!((stored["ip_address"].as_str(), stored["has_password"].as_bool()), (Some("10.0.0.10"), Some(true)), "{stored}");
        // Given again, the password goes with the new address; null clears it.
        let (status, moved) = app.put(&cam, &admin, json!({"ip_address": "10.0.0.12", "password": "camera-pass-4"})).await;
        assert_eq!((status, moved["has_password"].as_bool()), (S::OK, Some(true)), "{moved}");
        let (status, cleared) = app.put(&cam, &admin, json!({"ip_address": "10.0.0.13", "password": null})).await;
        assert_eq!((status, cleared["has_password"].as_bool()), (S::OK, Some(false)), "{cleared}");
    }

    // Item 8: parallel guesses are counted before they are checked.
    async fn parallel_wrong_logins_are_counted_before_they_are_checked(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.auth.max_failed_logins = 10;
            c.auth.login_attempts_per_minute = 0;
        })
        .await;
        let password = app.admin_password.clone().unwrap();
        let token = app.admin_token().await;
        let guesses = (0..120).map(|i| login_status(&app.client, &app, "admin@localhost", if i % 2 == 0 { "wrong-1" } else { "wrong-2" }));
        let results = futures_util::future::join_all(guesses).await;
        let evaluated = results.iter().filter(|(s, _)| *s == StatusCode::BAD_REQUEST).count();
        let refused = results.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
        assert!(evaluated <= 10, "{evaluated} guesses were checked, the limit is 10");
        assert_eq!(evaluated + refused, 120, "{results:?}");
        assert_eq!(app.metrics().http_refusals(HttpRefusal::LoginLocked), refused as u64);

        // The attacker's address is locked out of the account; the real user elsewhere is not.
        let (status, _) = login_status(&app.client, &app, "admin@localhost", &password).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        let (status, value) = login_status(&app.client_from("127.0.0.2"), &app, "admin@localhost", &password).await;
        assert_eq!(status, StatusCode::OK, "{value}");

        // An administrator unlocks.
        let (status, _) = app.call(Method::POST, "/api/v1/users/1/unlock", Some(&token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = login_status(&app.client, &app, "admin@localhost", &password).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn failures_from_many_addresses_lock_the_account_until_unlocked(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.auth.max_failed_logins = 2;
            c.auth.max_failed_logins_per_account = 4;
        })
        .await;
        let admin = app.admin_token().await;
        let (op_id, _) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        for ip in ["127.0.0.2", "127.0.0.3"] {
            let client = app.client_from(ip);
            for _ in 0..2 {
                assert_eq!(login_status(&client, &app, "op@example.com", "wrong-password").await.0, StatusCode::BAD_REQUEST);
            }
        }
        let (status, value) = login_status(&app.client_from("127.0.0.4"), &app, "op@example.com", "user-password-1").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{value}");
        let (status, _) = app.call(Method::POST, &format!("/api/v1/users/{op_id}/unlock"), Some(&admin), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = login_status(&app.client_from("127.0.0.4"), &app, "op@example.com", "user-password-1").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.call(Method::POST, "/api/v1/users/999/unlock", Some(&admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn login_attempts_are_rate_limited_per_address(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.auth.login_attempts_per_minute = 5).await;
        let password = app.admin_password.clone().unwrap();
        for _ in 0..5 {
            assert_eq!(login_status(&app.client, &app, "admin@localhost", &password).await.0, StatusCode::OK);
        }
        let (status, value) = login_status(&app.client, &app, "nobody@example.com", "whatever-1").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even right passwords count: {value}");
        assert!(detail(&value).contains("address"), "{value}");
        assert_eq!(app.metrics().http_refusals(HttpRefusal::LoginRateLimited), 1);
        let (status, _) = login_status(&app.client_from("127.0.0.2"), &app, "admin@localhost", &password).await;
        assert_eq!(status, StatusCode::OK, "another address has its own budget");
    }

    // Item 9: the live stream follows the session and the role.
    async fn operators_stream_only_what_they_may_read(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (op_id, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let mut op_stream = Stream::open(&app, &operator).await;
        let mut admin_stream = Stream::open(&app, &admin).await;
        assert_eq!(app.post("/api/v1/support-groups/", &admin, json!({"name": "Night shift"})).await.0, StatusCode::OK);
        let (status, _) = app.call(Method::PATCH, &format!("/api/v1/users/{op_id}"), Some(&admin), Some(json!({"full_name": "Op"}))).await;
        assert_eq!(status, StatusCode::OK);
        app.create("/api/v1/buildings", &admin, json!({"name": "HQ", "code": "HQ"}), StatusCode::CREATED).await;

        let seen = admin_stream.until("BUILDING_CREATED").await;
        assert_eq!(seen, ["SUPPORT_GROUP_CREATED", "USER_UPDATED", "BUILDING_CREATED"]);
        let seen = op_stream.until("BUILDING_CREATED").await;
        assert_eq!(seen, ["BUILDING_CREATED"], "admin-only events reach operators");
    }

    async fn streams_end_with_the_session(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;

        // Deactivation.
        let (op_id, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let mut stream = Stream::open(&app, &operator).await;
        let (status, _) = app.call(Method::PATCH, &format!("/api/v1/users/{op_id}"), Some(&admin), Some(json!({"is_active": false}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(stream.ends().await, "the deactivated user's stream stays open");

        // The user's own password change.
        let (_, other) = app.user_token(&admin, "other@example.com", "OPERATOR").await;
        let mut stream = Stream::open(&app, &other).await;
        let body = json!({"current_password": "user-password-1", "new_password": "user-password-2"});
        assert_eq!(app.post("/api/v1/auth/change-password", &other, body).await.0, StatusCode::OK);
        assert!(stream.ends().await, "the stream outlived a password change");

        // Deletion.
        let (gone_id, gone) = app.user_token(&admin, "gone@example.com", "OPERATOR").await;
        let mut stream = Stream::open(&app, &gone).await;
        assert_eq!(app.delete(&format!("/api/v1/users/{gone_id}"), &admin).await, StatusCode::NO_CONTENT);
        assert!(stream.ends().await, "the deleted user's stream stays open");

        // Token expiry.
        let (late_id, _) = app.user_token(&admin, "late@example.com", "OPERATOR").await;
        let secret = std::fs::read_to_string(app.data_dir().join("jwt-secret")).unwrap();
        let now = chrono::Utc::now();
        let short = mint_token(secret.trim().as_bytes(), json!({
            "sub": late_id.to_string(), "role": "OPERATOR", "iat": now.timestamp(),
            "iat_ms": now.timestamp_millis(), "exp": now.timestamp() + 2,
        }));
        let mut stream = Stream::open(&app, &short).await;
        assert!(stream.ends().await, "the stream outlived its token");
    }

    async fn streams_per_user_are_capped(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.http.max_streams_per_user = 2).await;
        let admin = app.admin_token().await;
        let (_, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let _first = Stream::open(&app, &operator).await;
        let _second = Stream::open(&app, &operator).await;
        let (status, value) = app.get("/api/v1/stream", &operator).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{value}");
        assert!(detail(&value).contains("at most 2"), "{value}");
        assert_eq!(app.metrics().http_refusals(HttpRefusal::StreamLimit), 1);
        let _admins = Stream::open(&app, &admin).await;
    }

    // Item 10: one's own password needs the current one; a forced change is enforced.
    async fn changing_ones_own_password_needs_the_current_one(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let password = app.admin_password.clone().unwrap();
        let own = "/api/v1/users/1";
        for body in [json!({"password": "a-new-password-1"}), json!({"password": "a-new-password-1", "current_password": "wrong-password"})] {
            let (status, value) = app.call(Method::PATCH, own, Some(&admin), Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
            assert_eq!(value["detail"][0]["loc"], json!(["body", "current_password"]));
        }
        let body = json!({"password": "a-new-password-1", "current_password": password});
        let (status, value) = app.call(Method::PATCH, own, Some(&admin), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        let admin = app.login("admin@localhost", "a-new-password-1").await;
        // Another user's password is still an administrator's reset (no current password).
        let (op_id, _) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let (status, _) = app.call(Method::PATCH, &format!("/api/v1/users/{op_id}"), Some(&admin), Some(json!({"password": "reset-password-1"}))).await;
        assert_eq!(status, StatusCode::OK);
    }

    async fn a_pending_password_change_blocks_everything_else(backend: Backend) {
        let app = TestApp::start(backend).await;
        let password = app.admin_password.clone().unwrap();
        let generated = app.login("admin@localhost", &password).await;
        for path in ["/api/v1/buildings/", "/api/v1/users/", "/api/v1/stream"] {
            let (status, value) = app.get(path, &generated).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {value}");
            assert!(detail(&value).contains("change-password"), "{value}");
        }
        let (status, me) = app.get("/api/v1/auth/me", &generated).await;
        assert_eq!((status, me["must_change_password"].as_bool()), (StatusCode::OK, Some(true)));

        // A reset password: the same for the user it was reset for.
        let admin = app.admin_token().await;
        let (op_id, _) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let (status, _) = app.call(Method::PATCH, &format!("/api/v1/users/{op_id}"), Some(&admin), Some(json!({"password": "reset-password-1"}))).await;
        assert_eq!(status, StatusCode::OK);
        let reset = app.login("op@example.com", "reset-password-1").await;
        assert_eq!(app.get("/api/v1/buildings/", &reset).await.0, StatusCode::FORBIDDEN);
        let body = json!({"current_password": "reset-password-1", "new_password": "my-own-password-1"});
        let (status, value) = app.post("/api/v1/auth/change-password", &reset, body).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        let fresh = value["access_token"].as_str().unwrap();
        assert_eq!(app.get("/api/v1/buildings/", fresh).await.0, StatusCode::OK);
    }

    async fn two_admins_demoting_each_other_leave_one(backend: Backend) {
        let app = TestApp::start(backend).await;
        let first = app.admin_token().await;
        let (second_id, second) = app.user_token(&first, "second@example.com", "SUPERADMIN").await;
        let second_path = format!("/api/v1/users/{second_id}");
        for round in 0..6 {
            let off = json!({"is_active": false});
            let (a, b) = tokio::join!(
                app.call(Method::PATCH, &second_path, Some(&first), Some(off.clone())),
                app.call(Method::PATCH, "/api/v1/users/1", Some(&second), Some(off)),
            );
            let remaining = app.store.count_active_admins().await.unwrap();
            assert!(remaining >= 1, "round {round}: no administrator left ({a:?}, {b:?})");
            // The loser is refused by the guard (409), or, if it came second, by its own
            // deactivation (401).
            assert!(!(a.0 == StatusCode::OK && b.0 == StatusCode::OK), "round {round}: {a:?} {b:?}");
            app.sql("UPDATE users SET is_active = TRUE, tokens_valid_after = NULL").await;
        }
    }

    // Item 11: a plan only points at, and deletes, its own files; uploads have a quota.
    async fn plans_only_use_and_delete_their_own_media(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let building = app.create("/api/v1/buildings", &token, json!({"name": "B", "code": "B"}), StatusCode::CREATED).await;
        let floor = app.create("/api/v1/floors", &token, json!({"building_id": id(&building), "name": "F"}), StatusCode::CREATED).await;
        let plan_a = app.create_id("/api/v1/floor-plans", &token, json!({"floor_id": id(&floor), "name": "A"})).await;
        let plan_b = app.create_id("/api/v1/floor-plans", &token, json!({"floor_id": id(&floor), "name": "B"})).await;
        let (status, a) = upload_plan_image(&app, &token, plan_a, "plan.png", PNG.to_vec(), "image/png").await;
        assert_eq!(status, StatusCode::OK, "{a}");
        let url_a = a["image_url"].as_str().unwrap().to_string();
        let file_a = app.config.media_root().join("floor_plans").join(url_a.rsplit('/').next().unwrap());
        assert!(file_a.exists());

        let (status, value) = app.put(&format!("/api/v1/floor-plans/{plan_b}"), &token, json!({"image_url": url_a})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
        assert_eq!(value["detail"][0]["loc"], json!(["body", "image_url"]));
        let (status, _) = app.post("/api/v1/floor-plans", &token, json!({"floor_id": id(&floor), "name": "C", "image_url": url_a})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = app.put(&format!("/api/v1/floor-plans/{plan_b}"), &token, json!({"image_url": "https://cdn.example.com/b.png"})).await;
        assert_eq!(status, StatusCode::OK, "images hosted elsewhere are fine");

        // A plan pointing at another plan's file (as an older version allowed) never deletes it.
        app.sql(&format!("UPDATE floor_plans SET image_url = '{url_a}' WHERE id = {plan_b}")).await;
        let (status, _) = app.put(&format!("/api/v1/floor-plans/{plan_b}"), &token, json!({"image_url": null})).await;
        assert_eq!(status, StatusCode::OK);
        app.sql(&format!("UPDATE floor_plans SET image_url = '{url_a}' WHERE id = {plan_b}")).await;
        assert_eq!(app.delete(&format!("/api/v1/floor-plans/{plan_b}"), &token).await, StatusCode::NO_CONTENT);
        assert!(file_a.exists(), "another plan's file was deleted");
        let (_, still) = app.get(&format!("/api/v1/floor-plans/{plan_a}"), &token).await;
        assert_eq!(still["image_url"].as_str(), Some(url_a.as_str()));
        // Its own file goes with it.
        assert_eq!(app.delete(&format!("/api/v1/buildings/{}", id(&building)), &token).await, StatusCode::NO_CONTENT);
        assert!(!file_a.exists());
    }

    async fn uploads_beyond_the_media_quota_are_507(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.media.max_upload_bytes = 4096;
            c.media.quota_bytes = 4096;
        })
        .await;
        let token = app.admin_token().await;
        let building = app.create("/api/v1/buildings", &token, json!({"name": "B", "code": "B"}), StatusCode::CREATED).await;
        let floor = app.create("/api/v1/floors", &token, json!({"building_id": id(&building), "name": "F"}), StatusCode::CREATED).await;
        let plan_a = app.create_id("/api/v1/floor-plans", &token, json!({"floor_id": id(&floor), "name": "A"})).await;
        let plan_b = app.create_id("/api/v1/floor-plans", &token, json!({"floor_id": id(&floor), "name": "B"})).await;
        let mut big = PNG.to_vec();
        big.resize(3000, 0);
        assert_eq!(upload_plan_image(&app, &token, plan_a, "plan.png", big.clone(), "image/png").await.0, StatusCode::OK);
        let (status, value) = upload_plan_image(&app, &token, plan_b, "plan.png", big.clone(), "image/png").await;
        assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{value}");
        assert!(detail(&value).contains("media.quota_bytes"), "{value}");
        assert_eq!(app.metrics().http_refusals(HttpRefusal::MediaQuota), 1);
        assert_eq!(app.delete(&format!("/api/v1/floor-plans/{plan_a}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(upload_plan_image(&app, &token, plan_b, "plan.png", big, "image/png").await.0, StatusCode::OK, "deleting frees the quota");
    }
}

// Item 12: a connection that never finishes its headers is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_sending_half_a_request_line_is_closed() {
    let app = TestApp::start_with(crate::common::Backend::Sqlite, |c| {
        c.http.header_read_timeout_seconds = 1;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /hea").await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), slow.read_to_end(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(_))),
        "the half-open request was not closed: {read:?}"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));

    let mut quick = tokio::net::TcpStream::connect(&addr).await.unwrap();
    quick
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    quick.read_to_end(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
