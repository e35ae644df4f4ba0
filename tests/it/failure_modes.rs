//! Failure modes a deployed appliance meets: the external broker restarting, the hand-off
//! queue full, the connection limit reached, a console stream lagging or outliving its
//! token, a shutdown with streams open and writes pending, raw readings downsampled or off.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

use crate::broker::Mosquitto;
use crate::common::{TestApp, backend_tests, eventually, mint_token};
use crate::ingest::WriteLock;
use crate::mqtt::{Client, Options};

/// Readings stored for the tag `tag`, counted in the database.
async fn stored_readings(app: &TestApp, tag: i64) -> i64 {
    let sql = format!("SELECT CAST(count(*) AS TEXT) FROM collection_logs WHERE tag_id = {tag}");
    app.sql_text(&sql).await.unwrap().parse().unwrap()
}

/// A gateway connection that survives its broker going away: rumqttc reconnects on the
/// next poll and sends again what was not acknowledged. Counts PUBACKs.
fn persistent_publisher(mut options: MqttOptions) -> (AsyncClient, Arc<AtomicUsize>) {
    options
        .set_keep_alive(Duration::from_secs(5))
        .set_clean_session(false);
    let (client, mut events) = AsyncClient::new(options, 1000);
    let acked = Arc::new(AtomicUsize::new(0));
    let counter = acked.clone();
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                // The broker is away: try again shortly (a real gateway's reconnect delay).
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    (client, acked)
}

/// Creates a tag and returns its id.
async fn tag(app: &TestApp, token: &str, mac: &str) -> i64 {
    app.create_id("/api/v1/tags", token, json!({"mac_address": mac}))
        .await
}

/// Registers a gateway.
async fn gateway(app: &TestApp, token: &str, mac: &str) {
    app.create_id(
        "/api/v1/devices",
        token,
        json!({"name": mac, "mac_address": mac}),
    )
    .await;
}

fn report(tag: &str, rssi: i64) -> String {
    json!({"tag_mac": tag, "rssi": rssi}).to_string()
}

backend_tests! {
    async fn the_external_broker_restarting_mid_run_loses_no_qos1_reading(backend: Backend) {
        let Some(mut broker) = Mosquitto::start_persistent().await else { return };
        let external = crate::common::external_broker(broker.port);
        let app = TestApp::start_with(backend, external).await;
        let token = app.admin_token().await;
        let tag_id = tag(&app, &token, "112233445566").await;
        // The appliance's subscription is in place once a first report is stored.
        let (gateway, acked) = persistent_publisher(MqttOptions::new("restart-gw", "127.0.0.1", broker.port));
        gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445566", -50)).await.unwrap();
        assert!(eventually(async || stored_readings(&app, tag_id).await == 1).await, "the first report arrives");

        // 100 reports before the restart, 100 while the broker is down or coming back.
        for i in 0..100 {
            gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445566", -51 - i % 40)).await.unwrap();
        }
        broker.restart().await;
        for i in 0..100 {
            gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445566", -51 - i % 40)).await.unwrap();
        }
        assert!(eventually(async || acked.load(Ordering::SeqCst) >= 201).await, "the broker acknowledged every report: {}", acked.load(Ordering::SeqCst));
        // At least once: a report whose acknowledgement to the broker was cut by the
        // restart is delivered again, so a few may be stored twice, none lost.
        assert!(eventually(async || stored_readings(&app, tag_id).await >= 201).await, "every reading is stored: {}", stored_readings(&app, tag_id).await);
        let stored = stored_readings(&app, tag_id).await;
        assert!(stored <= 201 + 100, "redelivered at most once each: {stored}");

        // The appliance reconnected and its subscription holds: a new report arrives.
        let later = tag(&app, &token, "112233445577").await;
        gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445577", -60)).await.unwrap();
        assert!(eventually(async || stored_readings(&app, later).await == 1).await, "a new report after the restart");
    }

    async fn a_full_hand_off_sheds_qos0_and_holds_qos1_back_until_there_is_room(backend: Backend) {
        // A small hand-off (4 KiB) and backlog (10 readings), so that a writer held up by a
        // lock on the database fills them quickly.
        let app = TestApp::start_with(backend, |c| {
            c.mqtt.max_packet_bytes = 1024;
            c.ingest.queue_bytes = 4096;
            c.ingest.backlog_bytes = 1;
        })
        .await;
        let token = app.admin_token().await;
        let reliable = tag(&app, &token, "112233445566").await;
        tag(&app, &token, "112233445577").await;
        // Registered beforehand: registering a gateway is a write the lock would hold up.
        gateway(&app, &token, "AC233FC0AAAA").await;
        gateway(&app, &token, "AC233FC0BBBB").await;
        let port = app.mqtt_addr.unwrap().port();
        let password = app.gateway_password.clone().unwrap();
        let mut options = MqttOptions::new("qos1-gw", "127.0.0.1", port);
        options.set_credentials("gateway", &password).set_inflight(500);
        let (qos1, acked) = persistent_publisher(options);

        // Connected, and through to the database once, before the lock.
        qos1.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445566", -50)).await.unwrap();
        assert!(eventually(async || acked.load(Ordering::SeqCst) == 1).await);

        let lock = WriteLock::take(&app).await;
        for i in 0..200 {
            qos1.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445566", -50 - i % 40)).await.unwrap();
        }
        // The pipeline stops taking messages once the backlog is over its bound; the
        // hand-off then fills and holds the rest of the QoS 1 reports back.
        let depth = async || app.metrics().ingest_queue_depth.load(Ordering::Relaxed);
        assert!(eventually(async || depth().await > 0).await, "reports wait in the hand-off");
        // QoS 0 reports that find it full are shed, counted.
        let qos0 = Client::connect(app.mqtt_addr.unwrap(), Options::new("qos0-gw").login("gateway", &password)).await.unwrap();
        for _ in 0..50 {
            qos0.publish("rtls/gateways/AC233FC0BBBB/beacon", QoS::AtMostOnce, false, report("112233445577", -70)).await;
        }
        assert!(eventually(async || app.metrics().ingest_shed.load(Ordering::Relaxed) > 0).await, "QoS 0 is shed at a full hand-off");
        // Meanwhile the appliance serves everyone else: the API, and new MQTT clients.
        let (status, _) = app.get("/api/v1/health", &token).await;
        assert_eq!(status, StatusCode::OK);
        let other = Client::connect(app.mqtt_addr.unwrap(), Options::new("another-gw").login("gateway", &password)).await;
        assert!(other.is_ok(), "a new client connects while the hand-off is full");
        assert_eq!(acked.load(Ordering::SeqCst), 1, "nothing is acknowledged before it is stored");

        lock.release().await;
        assert!(eventually(async || acked.load(Ordering::SeqCst) == 201).await, "every QoS 1 report is acknowledged once there is room: {}", acked.load(Ordering::SeqCst));
        assert_eq!(stored_readings(&app, reliable).await, 201, "and stored exactly once");
        assert!(eventually(async || depth().await == 0).await, "the hand-off empties");
    }

    async fn the_connection_limit_refuses_and_counts_then_admits_again(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.mqtt.max_connections = 3).await;
        let token = app.admin_token().await;
        let addr = app.mqtt_addr.unwrap();
        let password = app.gateway_password.clone().unwrap();
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(Client::connect(addr, Options::new(&format!("gw-{i}")).login("gateway", &password)).await.expect("under the limit"));
        }
        assert!(Client::connect(addr, Options::new("gw-over").login("gateway", &password)).await.is_err(), "the fourth is refused");
        let metrics = app.client.get(app.url("/metrics")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("sv_mqtt_refused_total{reason=\"too_many_connections\"} 1"), "counted: {metrics}");
        // One leaves: its slot is free again.
        clients.pop().unwrap().disconnect().await;
        let mut again = None;
        assert!(eventually(async || {
            again = Client::connect(addr, Options::new("gw-again").login("gateway", &password)).await.ok();
            again.is_some()
        }).await, "a slot freed by a disconnection is reused");
    }

    async fn a_lagging_stream_is_told_to_resync_and_goes_on(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let mut stream = app.client.get(app.url("/api/v1/stream")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        // Far more events than the bus keeps (1,024) and the sockets buffer, while the
        // console reads nothing; then one marker.
        for i in 0..100_000 {
            app.events.publish(securityvision::events::EventType::PositionChanged, None, json!({"tag_id": i}));
        }
        app.events.publish(securityvision::events::EventType::PositionChanged, None, json!({"tag_id": -1, "marker": true}));
        let mut buffer = String::new();
        let (mut lagged, mut marker_after_lag) = (None, false);
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(chunk)) = stream.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let data = event.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default().trim().to_string();
                    if event.contains("event: LAGGED") || event.contains("event:LAGGED") {
                        let missed: Value = serde_json::from_str(&data).unwrap();
                        lagged.get_or_insert(missed["missed"].as_u64().unwrap());
                    } else if data.contains("\"marker\":true") {
                        marker_after_lag = lagged.is_some();
                        return;
                    }
                }
            }
        });
        assert!(read.await.is_ok(), "the marker arrives after the flood");
        assert!(lagged.is_some_and(|missed| missed > 0), "the stream said it lagged, and by how much");
        assert!(marker_after_lag, "and went on after the resync notice");
    }

    async fn a_stream_ends_when_its_token_expires_and_the_token_is_refused_after(backend: Backend) {
        let app = TestApp::start(backend).await;
        let root = app.admin_token().await;
        let (user, _) = app.user_token(&root, "watcher@example.com", "OPERATOR").await;
        let secret = std::fs::read_to_string(app.data_dir().join("jwt-secret")).unwrap();
        let now = chrono::Utc::now();
        let short = mint_token(secret.trim().as_bytes(), json!({
            "sub": user.to_string(), "role": "OPERATOR",
            "iat": now.timestamp(), "iat_ms": now.timestamp_millis(), "exp": now.timestamp() + 3,
        }));
        let mut stream = app.client.get(app.url("/api/v1/stream")).bearer_auth(&short).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(_)) = stream.chunk().await {}
        });
        assert!(ended.await.is_ok(), "the stream ends when its token expires");
        // The stream lasts as long as the token is accepted, so the console's EventSource,
        // reconnecting with the same URL at once, is refused; the console
        // asks /auth/me, gets a 401 too and signs the user out (web/src/map/stream.ts).
        let again = app.client.get(app.url("/api/v1/stream")).bearer_auth(&short).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        let me = app.client.get(app.url("/api/v1/auth/me")).bearer_auth(&short).send().await.unwrap();
        assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    }

    async fn shutdown_ends_open_streams_and_stores_pending_writes(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let tag_id = tag(&app, &token, "112233445566").await;
        gateway(&app, &token, "AC233FC0AAAA").await;
        let mut streams = Vec::new();
        for _ in 0..3 {
            let stream = app.client.get(app.url("/api/v1/stream")).bearer_auth(&token).send().await.unwrap();
            assert_eq!(stream.status(), StatusCode::OK);
            streams.push(stream);
        }
        let gateway = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        let lock = WriteLock::take(&app).await;
        for i in 0..20 {
            gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report("112233445566", -50 - i)).await;
        }
        assert!(eventually(async || app.metrics().ingest_received.load(Ordering::Relaxed) == 20).await, "the reports are in the pipeline");

        // SIGTERM while the writes wait for the lock and three consoles are connected.
        let stopping = tokio::spawn(app.stop_keeping_data());
        for mut stream in streams {
            let ended = tokio::time::timeout(Duration::from_secs(30), async {
                while let Ok(Some(_)) = stream.chunk().await {}
            });
            assert!(ended.await.is_ok(), "an open stream ends at shutdown");
        }
        assert!(!stopping.is_finished(), "the shutdown waits for the pending writes");
        lock.release().await;
        let stopped = tokio::time::timeout(Duration::from_secs(60), stopping).await.expect("the shutdown completes").unwrap();
        let app = stopped.start_again().await;
        assert_eq!(stored_readings(&app, tag_id).await, 20, "the pending writes were stored before it stopped");
    }

    async fn raw_readings_downsampled_keep_one_per_second_and_off_keep_none(backend: Backend) {
        for (policy, expected) in [("downsampled", 3), ("off", 0)] {
            let app = TestApp::start_with(backend, |c| {
                c.ingest.raw_readings = serde_json::from_value(json!(policy)).unwrap();
            })
            .await;
            let token = app.admin_token().await;
            let tag_id = tag(&app, &token, "112233445566").await;
            let gateway = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
            // Four readings within one second, then one in each of the next two seconds.
            let second = chrono::Utc::now().timestamp() - 10;
            let at = |ms: i64| second * 1000 + ms;
            let readings: Vec<Value> = [0, 100, 500, 900, 1000, 2500]
                .into_iter()
                .map(|ms| json!({"tag_mac": "112233445566", "rssi": -55, "timestamp": at(ms)}))
                .collect();
            gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, json!({"readings": readings}).to_string()).await;
            // Its PUBACK comes once what it carries is committed.
            gateway.settled().await;
            assert_eq!(stored_readings(&app, tag_id).await, expected, "{policy}");
            app.stop().await;
        }
    }
}
