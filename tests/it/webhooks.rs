//! Outgoing webhooks against real HTTP receivers on loopback: signed, retried, ordered,
//! durable across a restart, and refused where they would reach private addresses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use securityvision::webhooks::signature::sign;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, backend_tests, detail, eventually_within};
use crate::mqtt::{Client, Options};

/// What a receiver got: its headers and body.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An HTTP receiver on loopback that answers 500 to its first `failures` requests, then
/// 204, and keeps every request.
struct Receiver {
    url: String,
    port: u16,
    requests: Arc<Mutex<Vec<(Received, bool)>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        Self::start_on(0, failures).await
    }

    async fn start_on(port: u16, failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<(Received, bool)>>> = Arc::default();
        let remaining = Arc::new(AtomicUsize::new(failures));
        let kept = requests.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (kept, remaining) = (kept.clone(), remaining.clone());
                async move {
                    let fail = remaining
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    kept.lock()
                        .unwrap()
                        .push((Received { headers, body }, !fail));
                    if fail {
                        AxumStatus::INTERNAL_SERVER_ERROR
                    } else {
                        AxumStatus::NO_CONTENT
                    }
                }
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            requests,
            _server: server,
        }
    }

    /// The requests answered 2xx.
    fn accepted(&self) -> Vec<Received> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ok)| *ok)
            .map(|(r, _)| r.clone())
            .collect()
    }

    fn all(&self) -> Vec<Received> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }
}

/// An appliance whose webhooks may call loopback receivers and retry after a second.
async fn app(backend: Backend) -> TestApp {
    TestApp::start_with(backend, |c| {
        c.webhooks.allow_private = true;
        c.webhooks.retry_first_seconds = 1;
    })
    .await
}

async fn subscribe(app: &TestApp, token: &str, body: Value) -> Value {
    app.create("/api/v1/webhooks", token, body, StatusCode::CREATED)
        .await
}

backend_tests! {
    async fn a_failing_receiver_gets_each_event_once_signed_after_retries(backend: Backend) {
        let app = app(backend).await;
        let token = app.admin_token().await;
        let receiver = Receiver::start(3).await;
        let secret = "a-shared-secret-of-32-characters";
        let hook = subscribe(&app, &token, json!({"name": "ERP", "url": receiver.url, "secret_token": secret, "event_types": ["BUILDING_CREATED"]})).await;
        assert_eq!(hook["secret_token"], secret, "shown in the answer that set it");
        assert_eq!(hook["has_secret"], true);

        let b = app.create_id("/api/v1/buildings", &token, json!({"name": "HQ", "code": "HQ"})).await;
        app.create_id("/api/v1/floors", &token, json!({"building_id": b, "name": "G"})).await;
        assert!(eventually_within(Duration::from_secs(30), async || !receiver.accepted().is_empty()).await, "delivered after the failures");

        let all = receiver.all();
        assert_eq!(all.len(), 4, "three failures, then one success");
        let delivery = all[0].header("x-sv-delivery").to_string();
        assert!(!delivery.is_empty());
        assert!(all.iter().all(|r| r.header("x-sv-delivery") == delivery && r.body == all[0].body), "the same delivery each time");
        let got = &receiver.accepted()[0];
        assert_eq!(got.header("x-sv-event-type"), "BUILDING_CREATED");
        assert_eq!(got.header("x-sv-webhook-id"), hook["id"].to_string());
        let body = got.json();
        assert_eq!(body["event_type"], "BUILDING_CREATED");
        assert_eq!(body["payload"]["building_id"], b);
        assert_eq!(body["payload"]["code"], "HQ");
        assert!(body["timestamp"].as_str().unwrap().ends_with("+00:00"));
        let (v1, v2) = sign(secret, got.header("x-sv-timestamp"), got.body.as_bytes());
        assert_eq!(got.header("x-sv-signature"), v1);
        assert_eq!(got.header("x-sv-signature-v2"), v2);

        // FLOOR_CREATED was not asked for; the log says what happened.
        let id = hook["id"].as_i64().unwrap();
        let (status, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
        assert_eq!(status, StatusCode::OK, "{log}");
        let log = log.as_array().unwrap();
        assert_eq!(log.len(), 1, "{log:?}");
        assert_eq!(log[0]["status"], "DELIVERED");
        assert_eq!(log[0]["attempts"], 4);
        assert_eq!(log[0]["delivery_id"], delivery);
        assert_eq!(log[0]["last_status_code"], 204);
        // Delivered once: the re-send below comes after it in the subscription's order and
        // must be the second delivery accepted, with a new id.
        assert_eq!(receiver.accepted().len(), 1, "delivered once");

        // The secret is write-only.
        let (_, read) = app.get(&format!("/api/v1/webhooks/{id}"), &token).await;
        assert_eq!(read["secret_token"], Value::Null);
        assert!(!read.to_string().contains(secret));
        let stored = app.sql_text(&format!("SELECT secret_token FROM webhook_subscriptions WHERE id = {id}")).await.unwrap();
        assert!(!stored.contains(secret), "sealed at rest");

        // Re-send and test events go to this subscription alone, with new delivery ids.
        let delivery_row = log[0]["id"].as_i64().unwrap();
        let (status, resent) = app.post(&format!("/api/v1/webhooks/{id}/deliveries/{delivery_row}/resend"), &token, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{resent}");
        let (status, _) = app.post(&format!("/api/v1/webhooks/{id}/test"), &token, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(eventually_within(Duration::from_secs(10), async || receiver.accepted().len() == 3).await);
        let accepted = receiver.accepted();
        assert_ne!(accepted[1].header("x-sv-delivery"), delivery);
        assert_eq!(accepted[1].body, accepted[0].body, "the same body");
        assert_eq!(accepted[2].header("x-sv-event-type"), "WEBHOOK_TEST");
        let (status, _) = app.post(&format!("/api/v1/webhooks/{id}/deliveries/999999/resend"), &token, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn each_subscription_gets_its_events_in_order(backend: Backend) {
        let app = app(backend).await;
        let token = app.admin_token().await;
        let receiver = Receiver::start(1).await;
        subscribe(&app, &token, json!({"name": "people", "url": receiver.url, "event_types": ["PERSON_CREATED"]})).await;
        for i in 0..6 {
            app.create_id("/api/v1/people", &token, json!({"full_name": format!("Person {i}")})).await;
        }
        assert!(eventually_within(Duration::from_secs(20), async || receiver.accepted().len() == 6).await, "{:?}", receiver.all().len());
        let names: Vec<String> = receiver.accepted().iter().map(|r| r.json()["payload"]["full_name"].as_str().unwrap().to_string()).collect();
        let expected: Vec<String> = (0..6).map(|i| format!("Person {i}")).collect();
        assert_eq!(names, expected, "the first one's retry held the others back");
    }

    async fn the_outbox_survives_a_restart(backend: Backend) {
        let app = app(backend).await;
        let token = app.admin_token().await;
        let port = crate::common::free_port();
        let url = format!("http://127.0.0.1:{port}/hook");
        let hook = subscribe(&app, &token, json!({"name": "later", "url": url, "event_types": ["BUILDING_CREATED"]})).await;
        app.create_id("/api/v1/buildings", &token, json!({"name": "A", "code": "A"})).await;
        let id = hook["id"].as_i64().unwrap();
        assert!(eventually_within(Duration::from_secs(10), async || {
            let (_, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries?status=PENDING"), &token).await;
            log[0]["attempts"].as_i64().unwrap_or(0) >= 1
        }).await, "tried while nobody listens");
        let (_, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
        assert!(log[0]["last_error"].as_str().unwrap().contains("connect"), "{log}");

        let stopped = app.stop_keeping_data().await;
        let receiver = Receiver::start_on(port, 0).await;
        assert_eq!(receiver.port, port);
        let app = stopped.start_again().await;
        assert!(eventually_within(Duration::from_secs(20), async || receiver.accepted().len() == 1).await, "delivered after the restart");
        assert_eq!(receiver.accepted()[0].json()["payload"]["code"], "A");
        app.stop().await;
    }

    async fn a_subscription_failing_for_hours_is_paused_until_resumed(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.webhooks.allow_private = true;
            c.webhooks.retry_first_seconds = 1;
            c.webhooks.pause_after_hours = 1;
        })
        .await;
        let token = app.admin_token().await;
        let mut bus = app.events.subscribe();
        let port = crate::common::free_port();
        let hook = subscribe(&app, &token, json!({"name": "down", "url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["BUILDING_CREATED"]})).await;
        let id = hook["id"].as_i64().unwrap();
        app.create_id("/api/v1/buildings", &token, json!({"name": "A", "code": "A"})).await;
        app.create_id("/api/v1/buildings", &token, json!({"name": "B", "code": "B"})).await;
        // The first event has been waiting for two hours.
        let two_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        app.sql(&format!("UPDATE webhook_deliveries SET created_at = '{two_hours_ago}' WHERE id = (SELECT MIN(id) FROM webhook_deliveries)")).await;
        assert!(eventually_within(Duration::from_secs(20), async || app.get(&format!("/api/v1/webhooks/{id}"), &token).await.1["paused_at"].is_string()).await, "paused");
        let (_, paused) = app.get(&format!("/api/v1/webhooks/{id}"), &token).await;
        assert!(paused["pause_reason"].as_str().unwrap().contains("failed deliveries"), "{paused}");
        let announced = crate::common::events_until(&app, &mut bus, |seen| seen.iter().any(|e| e.event_type.as_str() == "WEBHOOK_PAUSED")).await;
        assert!(announced.iter().any(|e| e.event_type.as_str() == "WEBHOOK_PAUSED" && e.payload["webhook_id"] == id), "announced");
        let attempts = || async {
            let (_, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
            log.as_array().unwrap().iter().map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>()
        };
        let before = attempts().await;
        // Time is the input: retries come a second apart here (retry_first_seconds = 1),
        // so three seconds would see several if the pause did not hold them.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(attempts().await, before, "nothing is tried while paused");

        // Back up, resumed: both events arrive, in order.
        let receiver = Receiver::start_on(port, 0).await;
        let (status, resumed) = app.post(&format!("/api/v1/webhooks/{id}/resume"), &token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{resumed}");
        assert_eq!(resumed["paused_at"], Value::Null);
        assert!(eventually_within(Duration::from_secs(15), async || receiver.accepted().len() == 2).await);
        let codes: Vec<Value> = receiver.accepted().iter().map(|r| r.json()["payload"]["code"].clone()).collect();
        assert_eq!(codes, [json!("A"), json!("B")]);
    }

    async fn finished_deliveries_leave_the_log_after_its_retention(backend: Backend) {
        let app = app(backend).await;
        let token = app.admin_token().await;
        let receiver = Receiver::start(0).await;
        let hook = subscribe(&app, &token, json!({"name": "ok", "url": receiver.url, "event_types": ["BUILDING_CREATED"]})).await;
        let id = hook["id"].as_i64().unwrap();
        app.create_id("/api/v1/buildings", &token, json!({"name": "A", "code": "A"})).await;
        app.create_id("/api/v1/buildings", &token, json!({"name": "B", "code": "B"})).await;
        assert!(eventually_within(Duration::from_secs(10), async || receiver.accepted().len() == 2).await);
        // A switched-off subscription keeps its queue, however old.
        let off = subscribe(&app, &token, json!({"name": "off", "url": receiver.url, "event_types": ["BUILDING_CREATED"], "is_active": false})).await;
        let off = off["id"].as_i64().unwrap();
        let month_ago = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        app.sql(&format!("INSERT INTO webhook_deliveries (subscription_id, delivery_id, event_type, body, status, attempts, next_attempt_at, created_at) VALUES ({off}, 'old-pending', 'BUILDING_CREATED', '{{}}', 'PENDING', 0, '{month_ago}', '{month_ago}')")).await;
        app.sql(&format!("UPDATE webhook_deliveries SET created_at = '{month_ago}' WHERE id = (SELECT MIN(id) FROM webhook_deliveries WHERE subscription_id = {id})")).await;

        let app = app.restart().await;
        let token = app.admin_token().await;
        let (_, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
        let codes: Vec<Value> = log.as_array().unwrap().iter().map(|d| d["body"]["payload"]["code"].clone()).collect();
        assert_eq!(codes, [json!("B")], "the month-old delivered one is gone");
        let (_, log) = app.get(&format!("/api/v1/webhooks/{off}/deliveries"), &token).await;
        assert_eq!(log[0]["delivery_id"], "old-pending", "pending deliveries stay");
        assert_eq!(log[0]["attempts"], 0, "and a switched-off subscription is not called");
    }

    async fn a_failed_test_event_does_not_hold_the_queue(backend: Backend) {
        let app = app(backend).await;
        let token = app.admin_token().await;
        let port = crate::common::free_port();
        let hook = subscribe(&app, &token, json!({"name": "x", "url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["BUILDING_CREATED"]})).await;
        let id = hook["id"].as_i64().unwrap();
        let (status, test) = app.post(&format!("/api/v1/webhooks/{id}/test"), &token, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{test}");
        assert_eq!(test["status"], "PENDING");
        assert!(eventually_within(Duration::from_secs(10), async || {
            let (_, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries?status=FAILED"), &token).await;
            log[0]["attempts"] == 1
        }).await, "one attempt, then FAILED");
        let receiver = Receiver::start_on(port, 0).await;
        app.create_id("/api/v1/buildings", &token, json!({"name": "A", "code": "A"})).await;
        assert!(eventually_within(Duration::from_secs(10), async || receiver.accepted().len() == 1).await, "the next event goes out at once");
        // The log by status, newest first, in pages.
        let log = format!("/api/v1/webhooks/{id}/deliveries");
        assert!(eventually_within(Duration::from_secs(10), async || app.get(&format!("{log}?status=DELIVERED"), &token).await.1.as_array().is_some_and(|l| l.len() == 1)).await);
        let (failed, delivered) = (crate::common::id(&test), crate::common::id(&app.get(&log, &token).await.1[0]));
        for (query, expected) in [
            ("", vec![delivered, failed]),
            ("status=FAILED", vec![failed]),
            ("status=DELIVERED", vec![delivered]),
            ("status=PENDING", vec![]),
            ("limit=1&skip=1", vec![failed]),
            ("status=FAILED&skip=1", vec![]),
        ] {
            let (status, list) = app.get(&format!("{log}?{query}"), &token).await;
            assert_eq!((status, list.as_array().unwrap().iter().map(crate::common::id).collect::<Vec<_>>()), (StatusCode::OK, expected), "{query}");
        }
    }

    async fn events_from_the_pipeline_reach_webhooks(backend: Backend) {
        let app = app(backend).await;
        let token = app.admin_token().await;
        let receiver = Receiver::start(0).await;
        subscribe(&app, &token, json!({"name": "gw", "url": receiver.url, "event_type_filter": "GATEWAY_ONLINE"})).await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        gw.publish("rtls/gateways/AC233FC0AAAA/beacon", rumqttc::QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-60}"#).await;
        assert!(eventually_within(Duration::from_secs(15), async || !receiver.accepted().is_empty()).await, "GATEWAY_ONLINE delivered");
        let got = receiver.accepted()[0].json();
        assert_eq!(got["event_type"], "GATEWAY_ONLINE");
        assert!(got["payload"]["device_id"].is_i64(), "{got}");
    }

    async fn bad_subscriptions_are_refused_and_only_admins_may_subscribe(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let cases = [
            (json!({"name": "x", "url": "http://127.0.0.1:9/hook"}), "url", "allow_private"),
            (json!({"name": "x", "url": "http://169.254.169.254/latest"}), "url", "allow_private"),
            (json!({"name": "x", "url": "ftp://example.com/"}), "url", "http"),
            (json!({"name": "x", "url": "https://u:p@example.com/"}), "url", "password"),
            (json!({"name": "x", "url": "https://example.com/", "event_types": ["NOPE"]}), "event_types", "unknown event type"),
            (json!({"name": "x", "url": "https://example.com/", "event_types": ["POSITION_CHANGED"]}), "event_types", "unknown event type"),
            (json!({"name": "x", "url": "https://example.com/", "event_type_filter": "NOPE"}), "event_type_filter", "unknown event type"),
            (json!({"name": "x", "url": "https://example.com/", "secret_token": "short"}), "secret_token", "16"),
            (json!({"name": "", "url": "https://example.com/"}), "name", "empty"),
        ];
        for (body, field, says) in cases {
            let (status, answer) = app.post("/api/v1/webhooks", &token, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
            assert!(answer.to_string().contains(field) && detail(&answer).contains(says), "{body}: {answer}");
        }
        // A name is checked when the subscription is saved, and again at every attempt (a
        // name may be pointed elsewhere later: here, the stored URL is changed behind the
        // API's back).
        let receiver = Receiver::start(0).await;
        let local = format!("http://localhost:{}/hook", receiver.port);
        let (status, answer) = app.post("/api/v1/webhooks", &token, json!({"name": "local", "url": local})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(detail(&answer).contains("allow_private"), "{answer}");
        let hook = subscribe(&app, &token, json!({"name": "later", "url": "https://hooks.example.com/in", "event_types": ["BUILDING_CREATED"]})).await;
        assert_eq!(hook["secret_token"].as_str().unwrap().len(), 43, "generated when absent");
        let id = hook["id"].as_i64().unwrap();
        app.sql(&format!("UPDATE webhook_subscriptions SET url = '{local}' WHERE id = {id}")).await;
        app.create_id("/api/v1/buildings", &token, json!({"name": "A", "code": "A"})).await;
        assert!(eventually_within(Duration::from_secs(10), async || {
            let (_, log) = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), &token).await;
            log[0]["last_error"].as_str().is_some_and(|e| e.contains("allow_private"))
        }).await, "refused at delivery");
        assert!(receiver.all().is_empty(), "never called");

        let (_, operator) = app.user_token(&token, "op@example.com", "OPERATOR").await;
        for path in ["/api/v1/webhooks", "/api/v1/webhooks/event-types", &format!("/api/v1/webhooks/{id}")] {
            assert_eq!(app.get(path, &operator).await.0, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(app.client.get(app.url(path)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{path}");
        }
        let (status, _) = app.post("/api/v1/webhooks", &operator, json!({"name": "x", "url": "https://example.com/"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The catalogue names every type webhooks carry, with its payload's shape.
        let (_, types) = app.get("/api/v1/webhooks/event-types", &token).await;
        let building = types.as_array().unwrap().iter().find(|t| t["event_type"] == "BUILDING_CREATED").unwrap();
        let payload = &building["sample_payload"]["payload"];
        for key in ["building_id", "name", "code", "label", "created_at"] {
            assert!(payload.get(key).is_some(), "{key} in {payload}");
        }
        assert!(types.as_array().unwrap().iter().all(|t| t["event_type"] != "POSITION_CHANGED"));
        assert!(types.as_array().unwrap().iter().all(|t| t["sample_payload"]["payload"].is_object()), "every type has its shape");
        let camera = types.as_array().unwrap().iter().find(|t| t["event_type"] == "CAMERA_EVENT").unwrap();
        assert!(camera["sample_payload"]["payload"].get("nearby_people").is_some(), "{camera}");
    }
}
