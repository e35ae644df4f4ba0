//! The ingest pipeline end to end: real MQTT publishes to the running appliance, readings
//! read back through the API.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::QoS;
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, eventually};
use crate::mqtt::{Client, Options};
use securityvision::config::GatewayBinding;
use securityvision::ingest::decode::Rejection;

async fn readings(app: &TestApp, token: &str) -> Vec<Value> {
    let (_, list) = app.get("/api/v1/collection-logs/?limit=1000", token).await;
    list.as_array().unwrap().clone()
}

backend_tests! {
    async fn every_payload_form_becomes_readings_of_registered_tags(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.mqtt.allow_anonymous = true).await;
        let token = app.admin_token().await;
        // Tags registered in one spelling, heard in others.
        let tag_a = app.create_id("/api/v1/tags", &token, json!({"mac_address": "ac-23-3f-11-22-33"})).await;
        let tag_b = app.create_id("/api/v1/tags", &token, json!({"mac_address": "AA:BB:CC:DD:EE:FF"})).await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "00:00:00:00:00:01", "active": false}), StatusCode::CREATED).await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();

        let messages = [
            ("rtls/gateways/AC233FC0AAAA/beacon", r#"[{"type":"Gateway","mac":"AC233FC0AAAA"},{"type":"iBeacon","mac":"AC233F112233","rssi":-61},{"mac":"aabbccddeeff","rssi":-70}]"#.to_string()),
            ("rtls/gateways/AC233FC0AAAA/beacon", r#"{"tag_mac":"AC:23:3F:11:22:33","rssi":-62}"#.to_string()),
            ("rtls/gateways/AC233FC0AAAA/beacon", r#"{"readings":[{"tag_mac":"AABBCCDDEEFF","rssi":-71},{"tag_mac":"000000000001","rssi":-50},{"tag_mac":"123456789ABC","rssi":-80}]}"#.to_string()),
            ("rtls/gateways/AC233FC0BBBB", "$GPRP,AC233F112233,AC233FC0BBBB,-66,0201\n$GPRP,AC233F112233,AC233FC0BBBB,-67,0201".to_string()),
        ];
        for (topic, payload) in &messages {
            gw.publish(topic, QoS::AtLeastOnce, false, payload.clone()).await;
        }
        assert!(eventually(async || readings(&app, &token).await.len() == 6).await, "{:?}", readings(&app, &token).await);
        let stored = readings(&app, &token).await;
        let mut by_tag: Vec<(i64, i64)> = stored.iter().map(|r| (r["tag_id"].as_i64().unwrap(), r["rssi"].as_i64().unwrap())).collect();
        by_tag.sort_unstable();
        let mut expected = vec![(tag_a, -61), (tag_a, -62), (tag_a, -66), (tag_a, -67), (tag_b, -70), (tag_b, -71)];
        expected.sort_unstable();
        assert_eq!(by_tag, expected, "every form, every spelling; not the inactive or unknown tags");

        // Gateways were registered on first contact, in the canonical MAC form.
        let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
        let names: Vec<&str> = gateways.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["Gateway AC:23:3F:C0:AA:AA", "Gateway AC:23:3F:C0:BB:BB"]);
        assert!(gateways[0]["last_seen_at"].is_string());

        // Unknown tags are counted and listed for registration; inactive ones ignored.
        let metrics = app.metrics();
        assert_eq!(metrics.ingest_unknown_tags.load(Ordering::Relaxed), 1);
        assert_eq!(metrics.ingest_inactive_tags.load(Ordering::Relaxed), 1);
        let (_, unknown) = app.get("/api/v1/tags/unknown", &token).await;
        assert_eq!(unknown.as_array().unwrap().len(), 1);
        assert_eq!(unknown[0]["mac_address"], "12:34:56:78:9A:BC");
        assert_eq!(unknown[0]["last_rssi"], -80);
        app.create("/api/v1/tags", &token, json!({"mac_address": "123456789abc"}), StatusCode::CREATED).await;
        assert!(eventually(async || app.get("/api/v1/tags/unknown", &token).await.1 == json!([])).await, "registered tags leave the list");
        gw.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"123456789ABC","rssi":-55}"#).await;
        assert!(eventually(async || readings(&app, &token).await.len() == stored.len() + 1).await, "a newly registered tag is stored");
    }

    async fn bad_reports_are_refused_and_counted_without_junk_gateways(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        for (topic, payload) in [
            ("rtls/gateways/howbe/PredioA/2/gw/AC233FC0CCCC", "{}"),
            ("rtls/gateways/gateway-01/beacon", r#"{"tag_mac":"112233445566","rssi":-50}"#),
            ("rtls/gateways/AC233FC0AAAA/beacon", "not json"),
            ("rtls/gateways/AC233FC0AAAA/beacon", "{\"cut\": "),
        ] {
            gw.publish(topic, QoS::AtLeastOnce, false, payload).await;
        }
        gw.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, vec![0xff, 0xfe, 0x00]).await;
        // Acknowledged once decoded (and refused) or stored.
        gw.settled().await;
        let metrics = app.metrics();
        assert_eq!(metrics.ingest_received.load(Ordering::Relaxed), 5);
        assert_eq!(metrics.ingest_rejections(Rejection::NoGateway), 2);
        assert_eq!(metrics.ingest_rejections(Rejection::Malformed), 3);
        let (_, gateways) = app.get("/api/v1/devices/", &token).await;
        assert_eq!(gateways, json!([]), "no junk gateway was created");
        let text = app.client.get(app.url("/metrics")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
        assert!(text.contains("sv_ingest_rejected_total{reason=\"malformed\"} 3"), "{text}");
    }

    async fn gateways_are_placed_by_the_long_topic_grammar(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let building = app.create_id("/api/v1/buildings", &token, json!({"name": "Prédio A", "code": "PA"})).await;
        let floor = app.create_id("/api/v1/floors", &token, json!({"building_id": building, "name": "Segundo", "level": 2})).await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        gw.publish("rtls/gateways/howbe/predio-a/2/gateway/AC233FC0CCCC/status", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || app.get("/api/v1/devices/gateways/", &token).await.1.as_array().is_some_and(|g| g.len() == 1)).await);
        let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
        assert_eq!((gateways[0]["building_id"].as_i64(), gateways[0]["floor_id"].as_i64()), (Some(building), Some(floor)));
        assert_eq!(gateways[0]["mac_address"], "AC:23:3F:C0:CC:CC");
    }

    async fn only_known_gateways_when_auto_registration_is_off(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.ingest.auto_register_gateways = false).await;
        let token = app.admin_token().await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445566"})).await;
        let known = app.create_id("/api/v1/devices", &token, json!({"name": "Hall", "mac_address": "AC233FC0AAAA"})).await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        gw.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-60}"#).await;
        gw.publish("rtls/gateways/AC233FC0BBBB/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-60}"#).await;
        assert!(eventually(async || app.metrics().ingest_received.load(Ordering::Relaxed) == 2).await);
        assert!(eventually(async || readings(&app, &token).await.len() == 1).await);
        let stored = readings(&app, &token).await;
        assert_eq!((stored[0]["device_id"].as_i64(), stored[0]["tag_id"].as_i64()), (Some(known), Some(tag)));
        assert_eq!(app.metrics().ingest_unknown_gateways.load(Ordering::Relaxed), 1);
        let (_, devices) = app.get("/api/v1/devices/", &token).await;
        assert_eq!(devices.as_array().unwrap().len(), 1);
    }
}

backend_tests! {
    async fn positions_follow_the_strongest_gateway_on_the_plan(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let plan = app.floor_plan(&token, json!({"name": "HQ", "code": "HQ"}), json!({"name": "Ground plan", "width_m": 20.0, "height_m": 10.0})).await;
        let west = app.create_id("/api/v1/devices", &token, json!({"name": "West", "mac_address": "AC233FC00001", "floor_plan_id": plan, "pos_x": 0.1, "pos_y": 0.5})).await;
        let east = app.create_id("/api/v1/devices", &token, json!({"name": "East", "mac_address": "AC233FC00002", "floor_plan_id": plan, "pos_x": 0.9, "pos_y": 0.5})).await;
        let ana = app.create_id("/api/v1/people", &token, json!({"full_name": "Ana"})).await;
        let bob = app.create_id("/api/v1/people", &token, json!({"full_name": "Bob", "active": false})).await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "112233445566", "person_id": ana}), StatusCode::CREATED).await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "112233445577", "person_id": bob}), StatusCode::CREATED).await;
        let (status, body) = app.get(&format!("/api/v1/people/{ana}/current-location"), &token).await;
        assert_eq!((status, crate::common::detail(&body).as_str()), (StatusCode::NOT_FOUND, "No collection logs found for this person's tags"));

        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        for _ in 0..3 {
            gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"[{"mac":"112233445566","rssi":-55},{"mac":"112233445577","rssi":-60}]"#).await;
            gw.publish("rtls/gateways/AC233FC00002/beacon", QoS::AtLeastOnce, false, r#"[{"mac":"112233445566","rssi":-80}]"#).await;
        }
        assert!(eventually(async || app.get("/api/v1/positions/current", &token).await.1.as_array().is_some_and(|a| a.len() == 1)).await);
        let (_, current) = app.get("/api/v1/positions/current", &token).await;
        let row = &current[0];
        assert_eq!((row["person_full_name"].as_str(), row["device_id"].as_i64(), row["building_name"].as_str()), (Some("Ana"), Some(west), Some("HQ")));
        assert_eq!(row["tag_mac_address"], "11:22:33:44:55:66");
        let x = row["x"].as_f64().unwrap();
        assert!(x > 0.1 && x < 0.5, "between the gateways, nearer West: {x}");
        assert!(row["rssi"].as_f64().unwrap() < -50.0);
        assert!((row["x_m"].as_f64().unwrap() - x * 20.0).abs() < 0.01, "metres from the plan's size: {row}");
        assert!((row["y_m"].as_f64().unwrap() - 5.0).abs() < 0.5, "on the gateways' line, give or take the track's spread: {row}");
        assert!(row["accuracy_m"].as_f64().unwrap() >= 0.5);
        let (_, with_inactive) = app.get("/api/v1/positions/current?only_active_people=false", &token).await;
        assert_eq!(with_inactive.as_array().unwrap().len(), 2, "Bob is inactive");

        let (_, by_device) = app.get(&format!("/api/v1/positions/by-device?floor_plan_id={plan}&only_active_people=false"), &token).await;
        assert_eq!(by_device.as_array().unwrap().len(), 1);
        assert_eq!((by_device[0]["device_name"].as_str(), by_device[0]["people"].as_array().unwrap().len()), (Some("West"), 2));
        let (_, elsewhere) = app.get(&format!("/api/v1/positions/current?device_id={east}"), &token).await;
        assert_eq!(elsewhere, json!([]));
        let (status, _) = app.get("/api/v1/positions/current?max_age_seconds=999999", &token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let (status, location) = app.get(&format!("/api/v1/people/{ana}/current-location"), &token).await;
        assert_eq!((status, location["device_name"].as_str(), location["floor_plan_name"].as_str()), (StatusCode::OK, Some("West"), Some("Ground plan")));

        // Moving: East becomes clearly stronger.
        for _ in 0..12 {
            gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"[{"mac":"112233445566","rssi":-85}]"#).await;
            gw.publish("rtls/gateways/AC233FC00002/beacon", QoS::AtLeastOnce, false, r#"[{"mac":"112233445566","rssi":-52}]"#).await;
        }
        assert!(eventually(async || app.get("/api/v1/positions/current", &token).await.1[0]["device_id"].as_i64() == Some(east)).await, "moved to East");
    }
}

backend_tests! {
    async fn a_gateway_goes_offline_and_online_once_each(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.offline_after_seconds = 2).await;
        let token = app.admin_token().await;
        let mut bus = app.events.subscribe();
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        gw.publish("rtls/gateways/AC233FC0AAAA/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || app.get("/api/v1/devices/gateways/", &token).await.1.as_array().is_some_and(|g| g.len() == 1)).await);
        let id = app.get("/api/v1/devices/gateways/", &token).await.1[0]["id"].as_i64().unwrap();
        let kinds = async || -> Vec<String> {
            let mut events = app.store.device_events(id, 10).await.unwrap();
            events.reverse();
            events.into_iter().map(|e| e.1).collect()
        };
        // Polling the status changes nothing (the original created events on every poll).
        for _ in 0..5 {
            app.get("/api/v1/devices/gateways/status", &token).await;
        }
        assert!(eventually(async || kinds().await == ["GATEWAY_ONLINE", "GATEWAY_OFFLINE"]).await, "silence makes it offline, once: {:?}", kinds().await);
        gw.publish("rtls/gateways/AC233FC0AAAA/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || kinds().await.len() >= 3).await);
        assert_eq!(kinds().await, ["GATEWAY_ONLINE", "GATEWAY_OFFLINE", "GATEWAY_ONLINE"]);
        let published: Vec<&str> = crate::common::events_until(&app, &mut bus, |seen| seen.iter().filter(|e| e.event_type.as_str().starts_with("GATEWAY_")).count() >= 3).await.iter().map(|e| e.event_type.as_str()).filter(|t| t.starts_with("GATEWAY_")).collect();
        assert_eq!(published, ["GATEWAY_ONLINE", "GATEWAY_OFFLINE", "GATEWAY_ONLINE"], "also on the event bus");
    }
}

backend_tests! {
    async fn the_live_stream_delivers_position_changes(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let plan = app.floor_plan(&token, json!({"name": "HQ", "code": "HQ"}), json!({"name": "P"})).await;
        app.create("/api/v1/devices", &token, json!({"name": "G1", "mac_address": "AC233FC00001", "floor_plan_id": plan, "pos_x": 0.2, "pos_y": 0.2}), StatusCode::CREATED).await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445566"})).await;

        let refused = app.client.get(app.url("/api/v1/stream")).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let forged = app.client.get(app.url("/api/v1/stream?access_token=nope")).send().await.unwrap();
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
        let mut stream = app.client.get(app.url(&format!("/api/v1/stream?types=POSITION_CHANGED&access_token={token}"))).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        // An API change does not pass the type filter; the reading does.
        app.create("/api/v1/people", &token, json!({"full_name": "Someone"}), StatusCode::CREATED).await;
        gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-58}"#).await;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !text.contains("\n\n") && tokio::time::Instant::now() < deadline {
            if let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_secs(1), stream.chunk()).await {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
        assert!(text.starts_with("event: POSITION_CHANGED\n"), "{text}");
        let data: Value = serde_json::from_str(text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
        assert_eq!(data["payload"]["tag_id"], tag);
        assert_eq!(data["payload"]["floor_plan_id"], plan);
        assert_eq!(data["payload"]["x"], 0.2);
    }
}

backend_tests! {
    async fn presence_sessions_open_and_close_with_the_gap_rule(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.presence_gap_seconds = 1).await;
        let token = app.admin_token().await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445566"})).await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        let count = async |sql: &str| app.sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM presence_sessions WHERE {sql}")).await.unwrap();
        for _ in 0..3 {
            gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-60}"#).await;
            // Stored before the next: three samples, well within the 1 s gap.
            gw.settled().await;
        }
        assert!(eventually(async || count(&format!("tag_id = {tag} AND is_open = TRUE")).await == "1").await, "one open session");
        // Silence longer than the gap closes it; the next reading opens another.
        assert!(eventually(async || count("is_open = FALSE").await == "1").await, "closed after the gap");
        let samples = app.sql_text("SELECT CAST(samples_count AS TEXT) FROM presence_sessions").await.unwrap();
        assert_eq!(samples, "3");
        gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-60}"#).await;
        assert!(eventually(async || count("TRUE").await == "2").await, "a new session");
        assert_eq!(count("is_open = TRUE").await, "1");
    }
}

backend_tests! {
    async fn sigterm_under_load_loses_no_acknowledged_reading(backend: Backend) {
        use securityvision::server::{App, ServeOptions};
        let dir = tempfile::tempdir().unwrap();
        let db = crate::common::TestDatabase::create(backend, dir.path()).await;
        let config = crate::common::test_config(dir.path(), &db.url);
        let app = App::prepare(config.clone(), ServeOptions::default()).await.unwrap();
        let password = app.first_gateway.as_ref().unwrap().password.clone();
        for i in 0..10 {
            let tag = securityvision::store::people::Tag { mac_address: format!("AC233F0000{i:02X}"), active: true, ..Default::default() };
            app.state.store.save_tag(&tag).await.unwrap();
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = app.start(listener, shutdown.clone()).await.unwrap();
        let mut gw = Client::connect(running.mqtt_addr.unwrap(), Options::new("gw").login("gateway", &password)).await.unwrap();
        let publisher = gw.client.clone();
        let report: String = {
            let readings: Vec<String> = (0..10).map(|i| format!(r#"{{"mac":"AC233F0000{i:02X}","rssi":-60}}"#)).collect();
            format!("[{}]", readings.join(","))
        };
        let sender = tokio::spawn(async move {
            for _ in 0..20_000 {
                if publisher.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report.clone()).await.is_err() {
                    break;
                }
            }
        });
        let mut acked = 0u64;
        crate::common::bounded("300 PUBACKs", async {
            while acked < 300 {
                match gw.seen.recv().await {
                    Some(crate::mqtt::Seen::PubAck) => acked += 1,
                    Some(_) => {}
                    None => panic!("the connection closed after {acked} PUBACKs"),
                }
            }
        }).await;
        // SIGTERM in the middle of the stream.
        shutdown.cancel();
        running.wait().await.expect("a clean stop");
        // The PUBACKs sent before the connection closed, up to its end.
        crate::common::bounded("the connection to close", async {
            while let Some(event) = gw.seen.recv().await {
                if matches!(event, crate::mqtt::Seen::PubAck) {
                    acked += 1;
                }
            }
        }).await;
        sender.abort();

        // Restart on the same database and count.
        let again = App::prepare(config, ServeOptions::default()).await.unwrap();
        let stored = again.state.store.list_readings(Default::default(), 0, i64::MAX).await.unwrap().len() as u64;
        assert!(stored >= acked * 10, "{acked} reports (10 readings each) acknowledged, {stored} readings stored");
        again.state.store.close().await;
    }
}

backend_tests! {
    async fn old_readings_are_deleted_by_the_retention_job(backend: Backend) {
        let site = RetentionSite::prepare(backend, |c| c.ingest.retention_days = 7).await;
        let now = site.now;
        let week = chrono::Duration::days(7);
        let hour = chrono::Duration::hours(1);
        // RSSI names each reading; the job's cut-off is "now" when it runs, minus 7 days.
        let ages = [(1, now - chrono::Duration::days(30)), (2, now - week - hour), (3, now - week + hour), (4, now - chrono::Duration::days(1)), (5, now)];
        site.readings(&ages).await;
        let running = site.start().await;
        let mut left = Vec::new();
        assert!(eventually(async || {
            left = running.readings().await;
            left.len() == 3
        }).await, "the readings of the last 7 days stay: {left:?}");
        assert_eq!(left, ages[2..].to_vec(), "exactly those younger than 7 days, their times intact");
        running.stop().await;
    }

    async fn the_retention_cut_off_keeps_a_reading_exactly_at_it(backend: Backend) {
        let site = RetentionSite::prepare(backend, |_| {}).await;
        let cutoff = site.now - chrono::Duration::days(7);
        let second = chrono::Duration::seconds(1);
        site.readings(&[(1, cutoff - second), (2, cutoff), (3, cutoff + second)]).await;
        assert_eq!(site.store.delete_readings_before(cutoff).await.unwrap(), 1, "older than the cut-off: one");
        assert_eq!(readings_by_rssi(&site.store).await, [(2, cutoff), (3, cutoff + second)]);
    }

    async fn retention_days_0_keeps_every_reading(backend: Backend) {
        // Position history is still trimmed: its deletion, after the readings' turn in the
        // same pass, shows the job has run.
        let site = RetentionSite::prepare(backend, |c| {
            c.ingest.retention_days = 0;
            c.positions.history_retention_days = 1;
        }).await;
        let now = site.now;
        let ages = [(1, now - chrono::Duration::days(400)), (2, now - chrono::Duration::days(30)), (3, now)];
        site.readings(&ages).await;
        site.history_point(now - chrono::Duration::days(2)).await;
        let running = site.start().await;
        assert!(eventually(async || running.history_points().await == 0).await, "the retention job ran");
        assert_eq!(running.readings().await, ages.to_vec(), "nothing deleted");
        running.stop().await;
    }

    async fn external_mode_feeds_the_pipeline(backend: Backend) {
        let Some(mosquitto) = crate::broker::Mosquitto::start().await else { return };
        let port = mosquitto.port;
        let app = TestApp::start_with(backend, crate::common::external_broker(port)).await;
        let token = app.admin_token().await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "112233445566"}), StatusCode::CREATED).await;
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let gw = Client::connect(addr, Options::new("site-gw")).await.unwrap();
        // Until the node has subscribed, publishes are lost: repeat the report.
        assert!(eventually(async || {
            gw.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445566","rssi":-61}"#).await;
            gw.settled().await;
            !readings(&app, &token).await.is_empty()
        }).await, "a reading through the external broker");
        let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
        assert_eq!(gateways[0]["mac_address"], "AC:23:3F:C0:AA:AA");
    }
}

/// A transaction from outside the appliance that keeps it from writing readings: the
/// whole database on SQLite, the readings table on PostgreSQL.
pub enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    pub async fn take(app: &TestApp) -> WriteLock {
        use sqlx::{Connection, Executor};
        let url = app.config.database.url.clone().unwrap();
        if url.starts_with("sqlite") {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            conn.execute("BEGIN IMMEDIATE").await.unwrap();
            WriteLock::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            conn.execute("BEGIN; LOCK TABLE collection_logs IN EXCLUSIVE MODE")
                .await
                .unwrap();
            WriteLock::Postgres(conn)
        }
    }

    pub async fn release(self) {
        use sqlx::Executor;
        match self {
            WriteLock::Sqlite(mut conn) => conn.execute("COMMIT").await.map(|_| ()),
            WriteLock::Postgres(mut conn) => conn.execute("COMMIT").await.map(|_| ()),
        }
        .unwrap();
    }
}

backend_tests! {
    async fn a_writer_behind_sheds_qos0_readings_but_not_positions_or_qos1(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let plan = app.floor_plan(&token, json!({"name": "HQ", "code": "HQ"}), json!({"name": "Plan"})).await;
        let west = app.create_id("/api/v1/devices", &token, json!({"name": "West", "mac_address": "AC233FC00001", "floor_plan_id": plan, "pos_x": 0.1, "pos_y": 0.5})).await;
        let east = app.create_id("/api/v1/devices", &token, json!({"name": "East", "mac_address": "AC233FC00002", "floor_plan_id": plan, "pos_x": 0.9, "pos_y": 0.5})).await;
        let ana = app.create_id("/api/v1/people", &token, json!({"full_name": "Ana"})).await;
        let walker = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445566", "person_id": ana})).await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "112233445577"}), StatusCode::CREATED).await;
        let gw = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        let at = async |tag: i64| {
            let (_, positions) = app.get("/api/v1/positions/current", &token).await;
            positions.as_array().unwrap().iter().find(|p| p["tag_id"].as_i64() == Some(tag)).and_then(|p| p["device_id"].as_i64())
        };

        let lock = WriteLock::take(&app).await;
        // Acknowledged reports pile up for the writer, rounds apart.
        let metrics = app.metrics();
        for sent in 1..=8 {
            gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"112233445577","rssi":-60}"#).await;
            // The next report goes once the pipeline has taken this one from its queue.
            assert!(eventually(async || metrics.ingest_received.load(Ordering::Relaxed) == sent && metrics.ingest_queue_depth.load(Ordering::Relaxed) == 0).await, "report {sent} taken");
        }
        assert!(eventually(async || app.metrics().ingest_writer_backlog.load(Ordering::Relaxed) > 0).await, "the writer is behind");
        // Meanwhile a tag reported at QoS 0 walks from west to east: its position follows.
        for (topic, rssi) in [("AC233FC00001", -50), ("AC233FC00002", -90)] {
            gw.publish(&format!("rtls/gateways/{topic}/beacon"), QoS::AtMostOnce, false, format!(r#"{{"tag_mac":"112233445566","rssi":{rssi}}}"#)).await;
        }
        assert!(eventually(async || at(walker).await == Some(west)).await);
        for _ in 0..3 {
            for (topic, rssi) in [("AC233FC00001", -95), ("AC233FC00002", -45)] {
                gw.publish(&format!("rtls/gateways/{topic}/beacon"), QoS::AtMostOnce, false, format!(r#"{{"tag_mac":"112233445566","rssi":{rssi}}}"#)).await;
            }
        }
        assert!(eventually(async || at(walker).await == Some(east)).await, "positions do not wait for the writer");
        assert!(eventually(async || app.metrics().ingest_readings_shed.load(Ordering::Relaxed) == 8).await, "the QoS 0 readings were shed");

        lock.release().await;
        assert!(eventually(async || readings(&app, &token).await.len() == 8).await, "every acknowledged reading is stored");
        assert!(readings(&app, &token).await.iter().all(|r| r["tag_id"].as_i64() != Some(walker)));
        assert!(eventually(async || app.metrics().ingest_writer_backlog.load(Ordering::Relaxed) == 0).await);
    }
}

backend_tests! {
    async fn a_tag_deleted_while_its_readings_wait_does_not_lose_the_batch(backend: Backend) {
        use securityvision::store::presence::SessionWrite;
        use securityvision::store::readings::{IngestBatch, NewReading};
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let kept = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445566"})).await;
        let gone = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445577"})).await;
        let gateway = app.create_id("/api/v1/devices", &token, json!({"name": "GW", "mac_address": "AC233FC00001"})).await;
        assert_eq!(app.delete(&format!("/api/v1/tags/{gone}"), &token).await, StatusCode::NO_CONTENT);
        let now = chrono::Utc::now();
        let mut batch = IngestBatch::default();
        for tag_id in [kept, gone, kept] {
            batch.readings.push(NewReading { device_id: gateway, tag_id, rssi: Some(-60), created_at: now });
            batch.add_session(SessionWrite { tag_id, device_id: gateway, started_at: now, ended_at: now, samples: 1, is_open: true });
        }
        batch.saw(gateway, now);
        app.store.store_ingest_batch(&batch).await.unwrap();
        let stored = readings(&app, &token).await;
        assert_eq!(stored.len(), 2, "the deleted tag's reading is left out, the others kept: {stored:?}");
        assert!(stored.iter().all(|r| r["tag_id"].as_i64() == Some(kept)));
        let sessions = app.sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM presence_sessions WHERE tag_id = {kept}")).await;
        assert_eq!(sessions.as_deref(), Some("1"));
        // A session written again with an older end does not shrink.
        let mut late = IngestBatch::default();
        late.add_session(SessionWrite { tag_id: kept, device_id: gateway, started_at: now, ended_at: now - chrono::Duration::seconds(30), samples: 0, is_open: false });
        let mut longer = IngestBatch::default();
        longer.add_session(SessionWrite { tag_id: kept, device_id: gateway, started_at: now, ended_at: now + chrono::Duration::seconds(20), samples: 5, is_open: true });
        app.store.store_ingest_batch(&longer).await.unwrap();
        app.store.store_ingest_batch(&late).await.unwrap();
        let duration = app.sql_text(&format!("SELECT CAST(duration_seconds AS TEXT) FROM presence_sessions WHERE tag_id = {kept}")).await;
        assert_eq!(duration.as_deref(), Some("20"));

        // Readings alone (PostgreSQL's have no foreign keys, the store checks their owners):
        // those of a deleted tag or gateway are left out too.
        let gone_gateway = app.create_id("/api/v1/devices", &token, json!({"name": "GW2", "mac_address": "AC233FC00002"})).await;
        assert_eq!(app.delete(&format!("/api/v1/devices/{gone_gateway}"), &token).await, StatusCode::NO_CONTENT);
        let mut batch = IngestBatch::default();
        for (device_id, tag_id) in [(gateway, kept), (gateway, gone), (gone_gateway, kept)] {
            batch.readings.push(NewReading { device_id, tag_id, rssi: Some(-70), created_at: now });
        }
        app.store.store_ingest_batch(&batch).await.unwrap();
        let stored = readings(&app, &token).await;
        assert_eq!(stored.len(), 3, "one more reading, of the tag and gateway that exist: {stored:?}");
        assert_eq!(orphan_readings(&app).await, "0");
    }
}

/// Readings whose tag or gateway does not exist.
async fn orphan_readings(app: &TestApp) -> String {
    app.sql_text(
        "SELECT CAST(COUNT(*) AS TEXT) FROM collection_logs \
         WHERE tag_id NOT IN (SELECT id FROM tags) OR device_id NOT IN (SELECT id FROM devices)",
    )
    .await
    .unwrap()
}

backend_tests! {
    async fn deleting_a_tag_or_a_gateway_deletes_its_readings_even_mid_write(backend: Backend) {
        use securityvision::store::readings::{IngestBatch, NewReading};
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let gateway = app.create_id("/api/v1/devices", &token, json!({"name": "GW", "mac_address": "AC233FC00001"})).await;
        let other = app.create_id("/api/v1/devices", &token, json!({"name": "GW2", "mac_address": "AC233FC00002"})).await;
        let kept = app.create_id("/api/v1/tags", &token, json!({"mac_address": "112233445500"})).await;
        let count = async |column: &str, id: i64| {
            app.sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM collection_logs WHERE {column} = {id}")).await.unwrap()
        };
        let batch_of = |pairs: &[(i64, i64)]| IngestBatch {
            readings: pairs.iter().map(|&(device_id, tag_id)| NewReading { device_id, tag_id, rssi: Some(-60), created_at: chrono::Utc::now() }).collect(),
            ..Default::default()
        };
        // Writes and deletions race: each deletion waits for a batch in flight, or the
        // batch finds its tag gone. Either way no reading outlives its tag.
        for round in 0..12 {
            let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": format!("1122334455{:02X}", round + 1)})).await;
            app.store.store_ingest_batch(&batch_of(&[(gateway, tag), (other, tag)])).await.unwrap();
            assert_eq!(count("tag_id", tag).await, "2");
            let write = batch_of(&vec![(gateway, tag); 500].into_iter().chain([(gateway, kept)]).collect::<Vec<_>>());
            let path = format!("/api/v1/tags/{tag}");
            let (written, deleted) = tokio::join!(app.store.store_ingest_batch(&write), app.delete(&path, &token));
            written.unwrap();
            assert_eq!(deleted, StatusCode::NO_CONTENT);
            assert_eq!(count("tag_id", tag).await, "0", "round {round}: the deleted tag's readings are gone");
        }
        assert_eq!(count("tag_id", kept).await, "12", "the other tag's readings are kept");
        assert_eq!(app.delete(&format!("/api/v1/devices/{other}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(count("device_id", other).await, "0");
        assert_eq!(count("device_id", gateway).await, "12");
        assert_eq!(orphan_readings(&app).await, "0");
    }
}

backend_tests! {
    async fn every_vendor_format_arrives_over_mqtt(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": "AC233F112233"})).await;
        let gw = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        // Each vendor's topic and payload, published by the first-start gateway credential.
        let reports = [
            ("rtls/gateways/AC233FC0AAAA/beacon", r#"[{"type":"Gateway","mac":"AC233FC0AAAA"},{"type":"iBeacon","mac":"AC233F112233","rssi":-61}]"#),
            ("rtls/gateways/AC233FC0AAAA/beacon", r#"{"tag_mac":"AC:23:3F:11:22:33","rssi":-62}"#),
            ("rtls/gateways/AC233FC0AAAA/beacon", r#"{"readings":[{"tag_mac":"AC233F112233","rssi":-63}]}"#),
            ("rtls/gateways/AC233FC0BBBB", "$GPRP,AC233F112233,AC233FC0BBBB,-64,0201"),
            ("espresense/devices/ac233f112233/kitchen", r#"{"id":"ac233f112233","rssi":-65,"distance":1.5}"#),
            ("home/OMG_ESP32_BLE/BTtoMQTT/AC233F112233", r#"{"id":"AC:23:3F:11:22:33","rssi":-66}"#),
        ];
        for (topic, payload) in reports {
            gw.publish(topic, QoS::AtLeastOnce, false, payload).await;
        }
        assert!(eventually(async || readings(&app, &token).await.len() == 6).await, "{:?}", readings(&app, &token).await);
        let mut rssi: Vec<i64> = readings(&app, &token).await.iter().map(|r| { assert_eq!(r["tag_id"], tag); r["rssi"].as_i64().unwrap() }).collect();
        rssi.sort_unstable();
        assert_eq!(rssi, vec![-66, -65, -64, -63, -62, -61], "one reading of each format");
        let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
        assert_eq!(gateways.as_array().unwrap().len(), 4, "two MAC gateways, the ESPresense room and the OpenMQTTGateway node: {gateways}");
    }
}

backend_tests! {
    async fn external_mode_consumes_the_vendor_trees_and_keeps_its_session(backend: Backend) {
        let Some(mosquitto) = crate::broker::Mosquitto::start().await else { return };
        let external = crate::common::external_broker(mosquitto.port);
        let node = TestApp::start_with(backend, external).await;
        let token = node.admin_token().await;
        node.create("/api/v1/tags", &token, json!({"mac_address": "AC233F112233"}), StatusCode::CREATED).await;
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", mosquitto.port).parse().unwrap();
        let site = Client::connect(addr, Options::new("site-gateways")).await.unwrap();
        let esp = ("espresense/devices/ac233f112233/kitchen", r#"{"rssi":-65}"#);
        let omg = ("home/OMG_ESP32_BLE/BTtoMQTT/AC233F112233", r#"{"rssi":-66}"#);
        // Until the node has subscribed, publishes are lost: retry the first.
        assert!(eventually(async || {
            site.publish(esp.0, QoS::AtLeastOnce, false, esp.1).await;
            !readings(&node, &token).await.is_empty()
        }).await, "ESPresense reports arrive through the external broker");
        site.publish(omg.0, QoS::AtLeastOnce, false, omg.1).await;
        let with_rssi = async |node: &TestApp, token: &str, range: std::ops::RangeInclusive<i64>| {
            readings(node, token).await.iter().filter(|r| range.contains(&r["rssi"].as_i64().unwrap())).count()
        };
        assert!(eventually(async || with_rssi(&node, &token, -66..=-66).await == 1).await, "Theengs reports too");

        // Stopped (an upgrade): the broker keeps the node's session and queues the reports.
        let node = node.stop_keeping_data().await;
        for i in 0..20 {
            site.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, format!(r#"{{"tag_mac":"AC233F112233","rssi":-{}}}"#, 40 + i)).await;
        }
        // The broker's PUBACKs: it holds them for the node's session.
        site.settled().await;
        let node = node.start_again().await;
        let token = node.admin_token().await;
        assert!(eventually(async || with_rssi(&node, &token, -59..=-40).await == 20).await, "every report published while the node was away is stored: {} of 20", with_rssi(&node, &token, -59..=-40).await);
    }
}

backend_tests! {
    async fn gateways_can_be_bound_to_their_client_id_or_credential(backend: Backend) {
        let report = r#"{"tag_mac":"AC233F112233","rssi":-60}"#;
        for binding in [GatewayBinding::ClientId, GatewayBinding::Username] {
            let app = TestApp::start_with(backend, |c| c.ingest.gateway_binding = binding).await;
            let token = app.admin_token().await;
            app.create("/api/v1/tags", &token, json!({"mac_address": "AC233F112233"}), StatusCode::CREATED).await;
            // One credential per gateway, named by its MAC; the client id is its MAC too.
            let created = app.create("/api/v1/mqtt/credentials", &token, json!({"username": "AC233FC0AAAA", "role": "GATEWAY"}), StatusCode::CREATED).await;
            let password = created["password"].as_str().unwrap().to_string();
            let gw = Client::connect(app.mqtt_addr.unwrap(), Options::new("ac:23:3f:c0:aa:aa").login("AC233FC0AAAA", &password)).await.unwrap();
            gw.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report).await;
            assert!(eventually(async || readings(&app, &token).await.len() == 1).await, "{binding:?}: its own reports count");
            // Reporting as another gateway (moving every tag it names) is refused.
            gw.publish("rtls/gateways/AC233FC0BBBB/beacon", QoS::AtLeastOnce, false, report).await;
            assert!(eventually(async || app.metrics().ingest_rejections(Rejection::GatewayNotBound) == 1).await, "{binding:?}");
            // The shared credential with another client id is not the gateway either.
            let shared = Client::connect(app.mqtt_addr.unwrap(), Options::new("anything").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
            shared.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, report).await;
            assert!(eventually(async || app.metrics().ingest_rejections(Rejection::GatewayNotBound) == 2).await, "{binding:?}");
            assert_eq!(readings(&app, &token).await.len(), 1);
            let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
            assert_eq!(gateways.as_array().unwrap().len(), 1, "no gateway registered for a refused report");
        }
    }

    async fn gateway_registrations_are_limited_and_failures_remembered(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.ingest.registrations_per_minute = 3).await;
        let token = app.admin_token().await;
        let gw = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        for i in 0..5 {
            gw.publish(&format!("rtls/gateways/AC233FC0000{i}/beacon"), QoS::AtLeastOnce, false, r#"{"tag_mac":"AC233F112233","rssi":-60}"#).await;
        }
        assert!(eventually(async || app.metrics().ingest_registrations_limited.load(Ordering::Relaxed) == 2).await);
        let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
        assert_eq!(gateways.as_array().unwrap().len(), 3, "three registrations in the minute");

        // A MAC that belongs to a camera: the registration fails once, and is not retried
        // for every message.
        let other = TestApp::start(backend).await;
        let token = other.admin_token().await;
        other.create("/api/v1/devices/cameras", &token, json!({"name": "Cam", "code": "cam-1", "mac_address": "AC233FC0CCCC"}), StatusCode::CREATED).await;
        let gw = Client::connect(other.mqtt_addr.unwrap(), Options::new("gw-1").login("gateway", other.gateway_password.as_deref().unwrap())).await.unwrap();
        for _ in 0..10 {
            gw.publish("rtls/gateways/AC233FC0CCCC/beacon", QoS::AtLeastOnce, false, r#"{"tag_mac":"AC233F112233","rssi":-60}"#).await;
        }
        assert!(eventually(async || other.metrics().ingest_unknown_gateways.load(Ordering::Relaxed) == 10).await);
        assert_eq!(other.metrics().ingest_registration_failures.load(Ordering::Relaxed), 1);
    }
}

/// An appliance prepared but not started, with a tag and a gateway, for the retention job
/// (which runs once at start).
struct RetentionSite {
    app: securityvision::server::App,
    store: securityvision::store::Store,
    tag: i64,
    gateway: i64,
    /// Whole seconds, so that times read back compare equal on both engines.
    now: chrono::DateTime<chrono::Utc>,
    _storage: (crate::common::TestDatabase, tempfile::TempDir),
}

impl RetentionSite {
    async fn prepare(
        backend: crate::common::Backend,
        adjust: impl FnOnce(&mut securityvision::config::Config),
    ) -> RetentionSite {
        use chrono::SubsecRound;
        let dir = tempfile::tempdir().unwrap();
        let db = crate::common::TestDatabase::create(backend, dir.path()).await;
        let mut config = crate::common::test_config(dir.path(), &db.url);
        adjust(&mut config);
        let app = securityvision::server::App::prepare(
            config,
            securityvision::server::ServeOptions::default(),
        )
        .await
        .unwrap();
        let store = app.state.store.clone();
        let tag = store
            .save_tag(&securityvision::store::people::Tag {
                mac_address: "112233445566".into(),
                active: true,
                ..Default::default()
            })
            .await
            .unwrap();
        let gateway = store
            .save_device(&securityvision::store::devices::Device {
                name: "GW".into(),
                device_type: "BLE_GATEWAY".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        RetentionSite {
            app,
            store,
            tag: tag.id,
            gateway: gateway.id,
            now: chrono::Utc::now().trunc_subsecs(0),
            _storage: (db, dir),
        }
    }

    /// Stores a reading per (RSSI, time).
    async fn readings(&self, readings: &[(i32, chrono::DateTime<chrono::Utc>)]) {
        let readings = readings
            .iter()
            .map(
                |&(rssi, created_at)| securityvision::store::readings::NewReading {
                    device_id: self.gateway,
                    tag_id: self.tag,
                    rssi: Some(rssi),
                    created_at,
                },
            )
            .collect();
        let batch = securityvision::store::readings::IngestBatch {
            readings,
            ..Default::default()
        };
        self.store.store_ingest_batch(&batch).await.unwrap();
    }

    /// Stores a position history point of the tag, on a plan of its own.
    async fn history_point(&self, ts: chrono::DateTime<chrono::Utc>) {
        use securityvision::store::site::{Building, Floor, FloorPlan};
        let building = self
            .store
            .save_building(&Building {
                name: "B".into(),
                code: "B".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let floor = self
            .store
            .save_floor(&Floor {
                building_id: building.id,
                name: "F".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let plan = self
            .store
            .save_floor_plan(&FloorPlan {
                floor_id: floor.id,
                name: "P".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let point = securityvision::store::history::HistoryPoint {
            tag_id: self.tag,
            floor_plan_id: plan.id,
            ts,
            x: 0.5,
            y: 0.5,
            accuracy_m: None,
        };
        let batch = securityvision::store::readings::IngestBatch {
            history: vec![point],
            ..Default::default()
        };
        self.store.store_ingest_batch(&batch).await.unwrap();
    }

    async fn start(self) -> RunningRetention {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = self.app.start(listener, shutdown.clone()).await.unwrap();
        RunningRetention {
            running,
            shutdown,
            store: self.store,
            tag: self.tag,
            _storage: self._storage,
        }
    }
}

struct RunningRetention {
    running: securityvision::server::Running,
    shutdown: tokio_util::sync::CancellationToken,
    store: securityvision::store::Store,
    tag: i64,
    _storage: (crate::common::TestDatabase, tempfile::TempDir),
}

impl RunningRetention {
    async fn readings(&self) -> Vec<(i32, chrono::DateTime<chrono::Utc>)> {
        readings_by_rssi(&self.store).await
    }

    async fn history_points(&self) -> usize {
        let (from, to) = (chrono::DateTime::UNIX_EPOCH, chrono::Utc::now());
        self.store
            .tag_history(self.tag, None, (from, to), 100)
            .await
            .unwrap()
            .len()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.running.wait().await.unwrap();
    }
}

/// The stored readings as (RSSI, time), by RSSI.
async fn readings_by_rssi(
    store: &securityvision::store::Store,
) -> Vec<(i32, chrono::DateTime<chrono::Utc>)> {
    let mut all: Vec<_> = store
        .list_readings(Default::default(), 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.rssi.unwrap(), r.created_at))
        .collect();
    all.sort_unstable_by_key(|r| r.0);
    all
}
