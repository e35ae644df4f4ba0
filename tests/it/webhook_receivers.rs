//! The concurrency limit per receiver: a receiver (scheme, host and port) that never
//! answers holds at most `webhooks.per_host_concurrency` deliveries, and another
//! receiver's deliveries go on meanwhile.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode as AxumStatus;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, backend_tests, eventually_within};

/// A receiver on loopback that holds every request until `gate` opens; counts the
/// requests in flight and the most at once.
struct Slow {
    url: String,
    gate: Arc<tokio::sync::Semaphore>,
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl Slow {
    async fn start() -> Slow {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (g, f, m) = (gate.clone(), in_flight.clone(), most.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let (gate, in_flight, most) = (g.clone(), f.clone(), m.clone());
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    drop(gate.acquire().await);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    AxumStatus::NO_CONTENT
                }
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Slow {
            url: format!("http://127.0.0.1:{port}/hook"),
            gate,
            in_flight,
            most,
            _server: server,
        }
    }
}

/// A receiver on loopback that answers at once and keeps the bodies.
async fn fast() -> (String, Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                AxumStatus::NO_CONTENT
            }
        }),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://127.0.0.1:{port}/hook"), got, server)
}

backend_tests! {
    async fn a_receiver_that_never_answers_does_not_hold_up_another(backend: Backend) {
        // Three deliveries at once in all, two per receiver; the slow receiver's three
        // subscriptions come first in the queue.
        let app = TestApp::start_with(backend, |c| {
            c.webhooks.allow_private = true;
            c.webhooks.concurrency = 3;
            c.webhooks.per_host_concurrency = 2;
            c.webhooks.timeout_seconds = 120;
        })
        .await;
        let t = app.admin_token().await;
        let slow = Slow::start().await;
        let (fast_url, fast_got, _fast) = fast().await;
        for n in 0..3 {
            let body = json!({"name": format!("slow {n}"), "url": slow.url, "event_types": ["BUILDING_CREATED"]});
            app.create("/api/v1/webhooks", &t, body, StatusCode::CREATED).await;
        }
        let body = json!({"name": "fast", "url": fast_url, "event_types": ["BUILDING_CREATED"]});
        app.create("/api/v1/webhooks", &t, body, StatusCode::CREATED).await;

        app.create_id("/api/v1/buildings", &t, json!({"name": "HQ", "code": "HQ"})).await;
        let both = async || slow.in_flight.load(Ordering::SeqCst) == 2 && !fast_got.lock().unwrap().is_empty();
        assert!(eventually_within(Duration::from_secs(20), both).await,
            "fast got {}, slow holds {}", fast_got.lock().unwrap().len(), slow.in_flight.load(Ordering::SeqCst));
        assert_eq!(slow.most.load(Ordering::SeqCst), 2, "never more than two at the slow receiver");

        // Once it answers, the third one gets through too.
        slow.gate.add_permits(100);
        let third = async || slow.most.load(Ordering::SeqCst) >= 2 && slow.in_flight.load(Ordering::SeqCst) == 0
            && app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM webhook_deliveries WHERE status = 'DELIVERED'").await.as_deref() == Some("4");
        assert!(eventually_within(Duration::from_secs(20), third).await);
        assert_eq!(slow.most.load(Ordering::SeqCst), 2);
    }
}
