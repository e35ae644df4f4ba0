//! CAM-BUS end to end: a collector publishing to the running appliance over real MQTT,
//! the camera configurations the appliance publishes read back with a real subscriber, and
//! the events fused with the tagged people nearby.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{QoS, SubscribeReasonCode};
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, eventually, free_port, id};
use crate::mqtt::{Client, Options};
use securityvision::cambus::topic::CameraRejection;

/// A COLLECTOR credential and a client connected with it.
async fn collector(app: &TestApp, token: &str, name: &str) -> Client {
    let created = app
        .create(
            "/api/v1/mqtt/credentials",
            token,
            json!({"username": name, "role": "COLLECTOR"}),
            StatusCode::CREATED,
        )
        .await;
    let password = created["password"].as_str().unwrap().to_string();
    Client::connect(
        app.mqtt_addr.unwrap(),
        Options::new(name).login(name, &password),
    )
    .await
    .unwrap()
}

/// A building HQ with a floor Ground and a 20 × 10 m plan: (building, floor, plan).
async fn site(app: &TestApp, token: &str) -> (i64, i64, i64) {
    let create = async |path: &str, body: Value| app.create_id(path, token, body).await;
    let b = create("/api/v1/buildings", json!({"name": "HQ", "code": "HQ"})).await;
    let f = create(
        "/api/v1/floors",
        json!({"building_id": b, "name": "Ground"}),
    )
    .await;
    let plan = json!({"floor_id": f, "name": "Plan", "width_m": 20.0, "height_m": 10.0});
    let p = create("/api/v1/floor-plans", plan).await;
    (b, f, p)
}

async fn events(app: &TestApp, token: &str, camera: i64, query: &str) -> Vec<Value> {
    let (status, list) = app
        .get(
            &format!("/api/v1/devices/cameras/{camera}/events?{query}"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

backend_tests! {
    async fn collector_messages_become_events_topics_and_liveness(backend: Backend) {
        // Packets up to 1 MiB reach the collector, whose own limit (256 KiB) is under test.
        let app = TestApp::start_with(backend, |c| {
            c.devices.offline_after_seconds = 4;
            c.mqtt.max_packet_bytes = 1 << 20;
        })
        .await;
        let token = app.admin_token().await;
        let (_, floor, _) = site(&app, &token).await;
        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Lobby", "code": "CAM-1", "floor_id": floor})).await;
        let bus = collector(&app, &token, "collector-hq").await;

        bus.publish("rtls/cameras/acme/hq/collector/status", QoS::AtLeastOnce, false, r#"{"status":"online","version":"1.2"}"#).await;
        assert!(eventually(async || app.get("/api/v1/devices/cameras/collectors", &token).await.1.as_array().is_some_and(|a| a.len() == 1)).await);
        let (_, collectors) = app.get("/api/v1/devices/cameras/collectors", &token).await;
        assert_eq!((collectors[0]["tenant"].as_str(), collectors[0]["building"].as_str(), collectors[0]["alive"].as_bool()), (Some("acme"), Some("hq"), Some(true)));
        assert_eq!(collectors[0]["payload"]["version"], "1.2");

        // A status (by the camera's code), then an event twice (a collector re-sending
        // after a reconnect) addressed by the publisher's slug of the code.
        let now = chrono::Utc::now();
        let status_time = now.to_rfc3339();
        bus.publish("rtls/cameras/acme/hq/ground/camera/CAM-1/status", QoS::AtLeastOnce, false, json!({"status": "online", "timestamp": status_time}).to_string()).await;
        let event_time = (now - chrono::Duration::seconds(5)).to_rfc3339();
        let face = json!({"Timestamp": event_time, "SnapshotURL": "http://nvr/1.jpg"}).to_string();
        for _ in 0..2 {
            bus.publish("rtls/cameras/acme/hq/ground/camera/cam-1/faceCapture/events", QoS::AtLeastOnce, false, face.clone()).await;
        }
        assert!(eventually(async || app.metrics().cambus_duplicates.load(Ordering::Relaxed) == 1).await);
        let stored = events(&app, &token, cam, "analytic_type=faceCapture").await;
        assert_eq!(stored.len(), 1, "stored once: {stored:?}");
        assert_eq!(stored[0]["payload"]["SnapshotURL"], "http://nvr/1.jpg");
        let occurred: chrono::DateTime<chrono::Utc> = stored[0]["occurred_at"].as_str().unwrap().parse().unwrap();
        assert!((occurred - (now - chrono::Duration::seconds(5))).num_milliseconds().abs() < 1000, "the payload's time");
        assert_eq!(events(&app, &token, cam, "analytic_type=cambus_status").await.len(), 1);
        // A heartbeat repeating the status only moves last_seen_at.
        bus.publish("rtls/cameras/acme/hq/ground/camera/CAM-1/status", QoS::AtLeastOnce, false, json!({"status": "online"}).to_string()).await;
        assert!(eventually(async || app.metrics().cambus_status_repeats.load(Ordering::Relaxed) == 1).await);
        assert_eq!(events(&app, &token, cam, "analytic_type=cambus_status").await.len(), 1);
        let since = (now + chrono::Duration::seconds(60)).format("%Y-%m-%dT%H:%M:%S");
        assert!(events(&app, &token, cam, &format!("since={since}")).await.is_empty());

        let (_, device) = app.get(&format!("/api/v1/devices/{cam}"), &token).await;
        assert!(device["last_seen_at"].is_string(), "seen: {device}");
        let (_, topics) = app.get(&format!("/api/v1/devices/{cam}/topics"), &token).await;
        let kinds: Vec<(String, String)> = topics.as_array().unwrap().iter().map(|t| (t["kind"].as_str().unwrap().into(), t["topic"].as_str().unwrap().into())).collect();
        assert!(kinds.contains(&("cambus_status".into(), "rtls/cameras/acme/hq/ground/camera/CAM-1/status".into())), "{kinds:?}");
        assert!(kinds.contains(&("cambus_event".into(), "rtls/cameras/acme/hq/ground/camera/cam-1/faceCapture/events".into())), "{kinds:?}");

        // Online once; an `offline` status (a plain-text last will) makes it offline once,
        // without counting as seen.
        let status_events = async |kind: &str| events(&app, &token, cam, &format!("analytic_type={kind}")).await.len();
        assert!(eventually(async || status_events("CAMERA_ONLINE").await == 1).await);
        let seen_before = app.get(&format!("/api/v1/devices/{cam}"), &token).await.1["last_seen_at"].clone();
        bus.publish("rtls/cameras/acme/hq/ground/camera/CAM-1/status", QoS::AtLeastOnce, false, "offline").await;
        assert!(eventually(async || status_events("CAMERA_OFFLINE").await == 1).await);
        assert_eq!(app.get(&format!("/api/v1/devices/{cam}"), &token).await.1["last_seen_at"], seen_before);
        // Time is the input: the device monitor passes every second here (a quarter of
        // offline_after_seconds) and must not repeat a transition it has seen; 1.5 s lets
        // it pass at least once more.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!((status_events("CAMERA_ONLINE").await, status_events("CAMERA_OFFLINE").await), (1, 1), "one event per transition");

        // Bad input: refused, counted, nothing stored.
        let count = events(&app, &token, cam, "limit=1000").await.len();
        let refused = |why| app.metrics().cambus_rejections(why);
        bus.publish("rtls/cameras/acme/hq/ground/camera/CAM-1/VMD/events", QoS::AtLeastOnce, false, "{not json").await;
        bus.publish("rtls/cameras/acme/hq/ground/camera/NOPE/VMD/events", QoS::AtLeastOnce, false, "{}").await;
        bus.publish(&format!("rtls/cameras/acme/hq/ground/camera/CAM-1/{}/events", "x".repeat(65)), QoS::AtLeastOnce, false, "{}").await;
        bus.publish("rtls/cameras/acme/hq/ground/camera/CAM-1/VMD/events", QoS::AtLeastOnce, false, json!({"blob": "x".repeat(300_000)}).to_string()).await;
        bus.publish("rtls/cameras/acme/hq/ground/nvr/CAM-1/status", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || refused(CameraRejection::TooLarge) == 1 && refused(CameraRejection::UnknownTopic) == 1).await);
        assert_eq!(refused(CameraRejection::Malformed), 1);
        assert_eq!(refused(CameraRejection::UnknownCamera), 1);
        // A camera registered after its collector started talking is heard at once.
        let late = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Nope", "code": "NOPE"})).await;
        bus.publish("rtls/cameras/acme/hq/ground/camera/NOPE/VMD/events", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || events(&app, &token, late, "").await.len() == 1).await);
        assert_eq!(refused(CameraRejection::AnalyticTooLong), 1);
        assert_eq!(events(&app, &token, cam, "limit=1000").await.len(), count);
        let metrics = app.client.get(app.url("/metrics")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("sv_cambus_rejected_total{reason=\"too_large\"} 1"), "{metrics}");

        // Events through the API: defaults, validation, only cameras.
        let (status, created) = app.post(&format!("/api/v1/devices/cameras/{cam}/events"), &token, json!({"topic": "manual", "analytic_type": "note", "device_id": 999})).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!((created["device_id"].as_i64(), &created["payload"]), (Some(cam), &json!({})));
        assert!(created["occurred_at"].is_string() && created["nearby_people"] == json!([]));
        let (status, body) = app.post(&format!("/api/v1/devices/cameras/{cam}/events"), &token, json!({"topic": "t", "analytic_type": "y".repeat(65)})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "analytic_type"])));
        let (status, _) = app.post(&format!("/api/v1/devices/cameras/{cam}/events"), &token, json!({"topic": "t", "analytic_type": "a", "payload": [1]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let gateway = app.create_id("/api/v1/devices", &token, json!({"name": "GW", "mac_address": "AC233FC00009"})).await;
        let (status, body) = app.post(&format!("/api/v1/devices/cameras/{gateway}/events"), &token, json!({"topic": "t", "analytic_type": "a"})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Camera not found"));
        let response = app.client.get(app.url(&format!("/api/v1/devices/cameras/{cam}/events"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    async fn camera_events_are_listed_by_type_and_period_newest_first(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (_, floor, _) = site(&app, &token).await;
        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Dock", "code": "DOCK", "floor_id": floor})).await;
        let other = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Gate", "code": "GATE", "floor_id": floor})).await;
        let start = chrono::Utc::now() - chrono::Duration::days(1);
        let time = |minutes| (start - chrono::Duration::minutes(minutes)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let record = async |camera: i64, analytic_type: &str, minutes: i64| {
            let body = json!({"topic": "manual", "analytic_type": analytic_type, "occurred_at": time(minutes)});
            app.create_id(&format!("/api/v1/devices/cameras/{camera}/events"), &token, body).await
        };
        let mut ids = vec![];
        // Two start together; the other camera's event is never listed.
        for (analytic_type, minutes) in [("VMD", 0), ("faceCapture", 10), ("VMD", 20), ("VMD", 20), ("intrusion", 30)] {
            ids.push(record(cam, analytic_type, minutes).await);
        }
        record(other, "VMD", 5).await;
        for (query, newest_first) in [
            (String::new(), vec![0, 1, 3, 2, 4]),
            ("analytic_type=VMD".into(), vec![0, 3, 2]),
            ("analytic_type=intrusion".into(), vec![4]),
            ("analytic_type=nothing".into(), vec![]),
            (format!("since={}", time(25)), vec![0, 1, 3, 2]),
            (format!("until={}", time(10)), vec![3, 2, 4]),
            (format!("analytic_type=VMD&since={}&until={}", time(25), time(5)), vec![3, 2]),
            ("analytic_type=VMD&limit=1&skip=1".into(), vec![3]),
            ("limit=2&skip=3".into(), vec![2, 4]),
        ] {
            let expected: Vec<i64> = newest_first.iter().map(|&i| ids[i]).collect();
            assert_eq!(events(&app, &token, cam, &query).await.iter().map(id).collect::<Vec<_>>(), expected, "{query}");
        }
    }

    async fn camera_configuration_is_published_retained_and_follows_changes(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (building, floor, _) = site(&app, &token).await;
        let mut bus = collector(&app, &token, "collector-cfg").await;
        assert_eq!(bus.subscribe("rtls/cameras/+/+/+/camera/+/info", QoS::AtLeastOnce).await, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);

        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({
            "name": "Gate", "code": "Gate 1", "floor_id": floor, "manufacturer": "Hikvision",
            "ip_address": "10.0.0.5", "username": "admin", "password": "cam-pass-1",
        })).await;
        let first = bus.message(Duration::from_secs(10)).await.expect("the configuration is published");
        assert_eq!(first.topic, "rtls/cameras/default/hq/ground/camera/gate_1/info");
        let config: Value = serde_json::from_slice(&first.payload).unwrap();
        assert_eq!((config["enabled"].as_bool(), config["password"].as_str(), config["ip"].as_str()), (Some(true), Some("cam-pass-1"), Some("10.0.0.5")));
        assert_eq!(config["analytics"], json!(["faceCapture", "VMD"]), "Hikvision's defaults");
        assert_eq!(config["shard"], "shard-1");
        let info_path = format!("/api/v1/devices/cameras/{cam}/info");
        assert!(eventually(async || app.get(&info_path, &token).await.1["pending"] == json!(false)).await, "recorded as published");
        let (_, info) = app.get(&info_path, &token).await;
        assert_eq!(info["topic"].as_str(), Some(first.topic.as_str()));
        assert!(info["payload"].get("password").is_none(), "{info}");

        // Renaming the floor moves the camera's topic: the old one is disabled.
        app.put(&format!("/api/v1/floors/{floor}"), &token, json!({"name": "Lobby Level"})).await;
        let new_topic = "rtls/cameras/default/hq/lobby_level/camera/gate_1/info";
        let mut moved = Vec::new();
        let by_topic = |moved: &[rumqttc::Publish], t: &str| moved.iter().rev().find(|p| p.topic == t).map(|p| serde_json::from_slice::<Value>(&p.payload).unwrap());
        crate::common::bounded("the old topic disabled and the new one published", async {
            while by_topic(&moved, "rtls/cameras/default/hq/ground/camera/gate_1/info").is_none() || by_topic(&moved, new_topic).is_none() {
                moved.push(bus.message(crate::common::WAIT).await.expect("a configuration"));
            }
        }).await;
        assert_eq!(by_topic(&moved, "rtls/cameras/default/hq/ground/camera/gate_1/info"), Some(json!({"enabled": false})));
        assert_eq!(by_topic(&moved, new_topic).and_then(|c| c["enabled"].as_bool()), Some(true), "{moved:?}");

        // Its analytics change: republished; the event topics follow.
        app.put(&format!("/api/v1/devices/cameras/{cam}"), &token, json!({"analytics": ["intrusion"]})).await;
        let mut changed = bus.message(Duration::from_secs(10)).await.unwrap();
        while changed.topic != new_topic || serde_json::from_slice::<Value>(&changed.payload).unwrap()["analytics"] != json!(["intrusion"]) {
            // The move's own messages may still be arriving.
            changed = bus.message(Duration::from_secs(10)).await.expect("the new analytics published");
        }
        let (_, topics) = app.get(&format!("/api/v1/devices/{cam}/topics"), &token).await;
        let events: Vec<&str> = topics.as_array().unwrap().iter().filter(|t| t["kind"] == "cambus_event").map(|t| t["topic"].as_str().unwrap()).collect();
        assert_eq!(events, vec!["rtls/cameras/default/hq/lobby_level/camera/gate_1/intrusion/events"]);

        // Deleted: disabled. A subscriber arriving later finds every topic's last word.
        assert_eq!(app.delete(&format!("/api/v1/devices/{cam}"), &token).await, StatusCode::NO_CONTENT);
        let gone = bus.message(Duration::from_secs(10)).await.unwrap();
        assert_eq!((gone.topic.as_str(), serde_json::from_slice::<Value>(&gone.payload).unwrap()), (new_topic, json!({"enabled": false})));
        // Nothing the appliance published came back as an event.
        assert_eq!(app.metrics().cambus_received.load(Ordering::Relaxed), 0);
        let mut late = collector(&app, &token, "collector-late").await;
        late.subscribe("rtls/cameras/#", QoS::AtLeastOnce).await;
        // The retained messages come with the subscription, before a marker published
        // after it.
        late.publish("rtls/cameras/t/b/f/camera/marker/VMD/events", QoS::AtLeastOnce, false, "{}").await;
        let mut retained = Vec::new();
        crate::common::bounded("the marker", async {
            loop {
                let got = late.message(crate::common::WAIT).await.expect("the marker");
                if got.topic.contains("/marker/") {
                    break;
                }
                retained.push(got);
            }
        }).await;
        assert_eq!(retained.len(), 2, "{retained:?}");
        assert!(retained.iter().all(|p| p.retain && serde_json::from_slice::<Value>(&p.payload).unwrap() == json!({"enabled": false})));

        // A collector may not publish configurations itself.
        let before = app.metrics().refusals(securityvision::broker::Refusal::PublishDenied);
        late.publish("rtls/cameras/default/hq/ground/camera/x/info", QoS::AtLeastOnce, true, r#"{"enabled":true}"#).await;
        assert!(eventually(async || app.metrics().refusals(securityvision::broker::Refusal::PublishDenied) == before + 1).await);
        // The refused message was dropped before its PUBACK; a camera created after it
        // publishes a configuration that must be the next message.
        late.settled().await;
        app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Marker", "code": "marker"})).await;
        let next = bus.message(crate::common::WAIT).await.expect("the marker camera's configuration");
        assert!(next.topic.ends_with("/camera/marker/info"), "the refused configuration was not published: {}", next.topic);
        let _ = building;
    }

    async fn gateways_cannot_read_camera_configurations(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        // Codes that would share a topic are refused.
        app.create("/api/v1/devices/cameras", &token, json!({"name": "A", "code": "Cam 1"}), StatusCode::CREATED).await;
        let (status, body) = app.post("/api/v1/devices/cameras", &token, json!({"name": "B", "code": "cam_1"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(detail(&body).contains("cam_1"), "{body}");
        app.create("/api/v1/devices/cameras", &token, json!({"name": "Secret cam", "code": "S1", "password": "top-secret-pw"}), StatusCode::CREATED).await;
        let mut gateway = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw-x").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        assert_eq!(gateway.subscribe("rtls/cameras/+/+/+/camera/+/info", QoS::AtLeastOnce).await, vec![SubscribeReasonCode::Failure]);
        assert_eq!(gateway.subscribe("#", QoS::AtLeastOnce).await, vec![SubscribeReasonCode::Failure]);
        // A gateway may read nothing, so no marker can reach it: half a second bounds the
        // check that nothing does.
        assert!(gateway.drain(Duration::from_millis(500)).await.is_empty());
        let mut bus = collector(&app, &token, "collector-ok").await;
        bus.subscribe("rtls/cameras/+/+/+/camera/+/info", QoS::AtLeastOnce).await;
        let mut config = bus.message(crate::common::WAIT).await.expect("collectors read it");
        while config.topic != "rtls/cameras/default/externo/externo/camera/s1/info" {
            config = bus.message(crate::common::WAIT).await.expect("collectors read it");
        }
        assert!(String::from_utf8_lossy(&config.payload).contains("top-secret-pw"));
    }

    async fn passwords_stay_out_of_the_bus_when_configured(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.cambus.publish_passwords = false).await;
        let token = app.admin_token().await;
        let mut bus = collector(&app, &token, "collector-np").await;
        bus.subscribe("rtls/cameras/#", QoS::AtLeastOnce).await;
        app.create("/api/v1/devices/cameras", &token, json!({"name": "C", "code": "C1", "password": "never-on-the-bus"}), StatusCode::CREATED).await;
        let config = bus.message(Duration::from_secs(10)).await.unwrap();
        let payload: Value = serde_json::from_slice(&config.payload).unwrap();
        assert!(payload.get("password").is_none(), "{payload}");
    }

    async fn camera_events_list_the_people_nearby(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (_, _, plan) = site(&app, &token).await;
        app.create("/api/v1/devices", &token, json!({"name": "West", "mac_address": "AC233FC00001", "floor_plan_id": plan, "pos_x": 0.1, "pos_y": 0.5}), StatusCode::CREATED).await;
        app.create("/api/v1/devices", &token, json!({"name": "East", "mac_address": "AC233FC00002", "floor_plan_id": plan, "pos_x": 0.9, "pos_y": 0.5}), StatusCode::CREATED).await;
        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "West door", "code": "WD", "floor_plan_id": plan, "pos_x": 0.12, "pos_y": 0.5})).await;
        let ana = app.create_id("/api/v1/people", &token, json!({"full_name": "Ana Souza"})).await;
        let bob = app.create_id("/api/v1/people", &token, json!({"full_name": "Bob Lima"})).await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "112233445566", "person_id": ana}), StatusCode::CREATED).await;
        app.create("/api/v1/tags", &token, json!({"mac_address": "112233445577", "person_id": bob}), StatusCode::CREATED).await;

        // Ana by the west gateway (and the camera), Bob by the east one.
        let gw = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        for _ in 0..3 {
            gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"[{"mac":"112233445566","rssi":-50},{"mac":"112233445577","rssi":-90}]"#).await;
            gw.publish("rtls/gateways/AC233FC00002/beacon", QoS::AtLeastOnce, false, r#"[{"mac":"112233445566","rssi":-90},{"mac":"112233445577","rssi":-50}]"#).await;
        }
        assert!(eventually(async || app.get("/api/v1/positions/current", &token).await.1.as_array().is_some_and(|a| a.len() == 2)).await);

        let bus = collector(&app, &token, "collector-fusion").await;
        bus.publish("rtls/cameras/acme/hq/ground/camera/WD/faceRecognition/events", QoS::AtLeastOnce, false, r#"{"Meta":{"ff_person_name":"ana souza","ff_confidence":0.93}}"#).await;
        assert!(eventually(async || !events(&app, &token, cam, "analytic_type=faceRecognition").await.is_empty()).await);
        let event = &events(&app, &token, cam, "analytic_type=faceRecognition").await[0];
        assert_eq!(event["person_id"].as_i64(), Some(ana), "the recognised name names Ana: {event}");
        let nearby = event["nearby_people"].as_array().unwrap();
        assert_eq!(nearby.len(), 1, "Bob is 15 m away: {event}");
        assert_eq!((nearby[0]["person_id"].as_i64(), nearby[0]["full_name"].as_str(), nearby[0]["via"].as_str()), (Some(ana), Some("Ana Souza"), Some("position")));
        assert!(nearby[0]["distance_m"].as_f64().unwrap() < 5.0);

        // The same through the API, for an event of now.
        let (status, created) = app.post(&format!("/api/v1/devices/cameras/{cam}/events"), &token, json!({"topic": "manual", "analytic_type": "intrusion"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["nearby_people"][0]["person_id"].as_i64(), Some(ana));
    }

    async fn external_mode_collects_and_publishes_through_the_same_handlers(backend: Backend) {
        let Some(mosquitto) = crate::broker::Mosquitto::start().await else { return };
        let port = mosquitto.port;
        let app = TestApp::start_with(backend, crate::common::external_broker(port)).await;
        let token = app.admin_token().await;
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut site_collector = Client::connect(addr, Options::new("site-collector")).await.unwrap();
        site_collector.subscribe("rtls/cameras/+/+/+/camera/+/info", QoS::AtLeastOnce).await;

        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Dock", "code": "DOCK"})).await;
        let config = site_collector.message(Duration::from_secs(10)).await.expect("published to the external broker");
        assert_eq!(config.topic, "rtls/cameras/default/externo/externo/camera/dock/info");
        // The node subscribes on connecting, before it publishes: now it hears the events.
        site_collector.publish("rtls/cameras/acme/hq/f1/camera/DOCK/VMD/events", QoS::AtLeastOnce, false, r#"{"zone":2}"#).await;
        assert!(eventually(async || events(&app, &token, cam, "analytic_type=VMD").await.len() == 1).await);
        // The retained configuration came back through the shared subscription: heard,
        // not stored.
        assert!(eventually(async || app.metrics().cambus_info_ignored.load(Ordering::Relaxed) >= 1).await);
        assert_eq!(events(&app, &token, cam, "limit=1000").await.len(), 1);
    }

    async fn a_configuration_published_while_the_broker_is_down_arrives_when_it_is_back(backend: Backend) {
        let port = free_port();
        let app = TestApp::start_with(backend, crate::common::external_broker(port)).await;
        let token = app.admin_token().await;
        // Nobody listens on the port yet: the camera is saved all the same; a command
        // cannot go out, and says so.
        let uplink = json!({"name": "Late", "code": "LATE", "proxy_path": "late", "central_path": "site/late", "central_media_mtx_ip": "10.0.0.9"});
        let cam = id(&app.create("/api/v1/devices/cameras", &token, uplink, StatusCode::CREATED).await);
        let start = format!("/api/v1/devices/cameras/{cam}/uplink/start");
        let (status, body) = app.post(&start, &token, json!({})).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(eventually(async || app.metrics().cambus_publish_pending.load(Ordering::Relaxed) >= 1).await, "the configuration waits for the broker");
        let Some(_mosquitto) = crate::broker::Mosquitto::start_on(port).await else { return };
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut site_collector = Client::connect(addr, Options::new("site-collector")).await.unwrap();
        site_collector.subscribe("rtls/cameras/#", QoS::AtLeastOnce).await;
        let config = site_collector.message(Duration::from_secs(15)).await.expect("published once the broker is back");
        assert_eq!(config.topic, "rtls/cameras/default/externo/externo/camera/late/info");
        let mut later = Client::connect(addr, Options::new("later-collector")).await.unwrap();
        later.subscribe("rtls/cameras/#", QoS::AtLeastOnce).await;
        let retained = later.message(Duration::from_secs(5)).await.expect("retained for collectors that come later");
        assert!(retained.retain && retained.topic == config.topic);
        let (status, body) = app.post(&start, &token, json!({})).await;
        assert_eq!((status, body["topic"].as_str()), (StatusCode::OK, Some("security-vision/cameras/default/externo/externo/camera/late/uplink/start")));
        assert_eq!(body["payload"]["centralHost"], "10.0.0.9");
    }
}

/// Connects with CONNECT and SUBSCRIBE in one write (as paho and embedded stacks do) and
/// collects the (topic, payload) of the retained messages that arrive. They come with the
/// subscription: a marker it publishes to itself afterwards ends the collection.
async fn pipelined_subscriber(
    app: &TestApp,
    user: &str,
    password: &str,
    filter: &str,
) -> Vec<(String, Value)> {
    use crate::mqtt::{connect_packet, publish_packet, raw, read_packet, subscribe_packet};
    use tokio::io::AsyncWriteExt;
    const MARKER: &str = "rtls/cameras/t/b/f/camera/marker/VMD/events";
    let mut bytes = connect_packet(
        &format!("paho-{}", securityvision::auth::random_secret(4)),
        30,
        Some((user, password)),
        None,
    );
    bytes.extend(subscribe_packet(1, filter, 1));
    let mut stream = raw(app.mqtt_addr.unwrap(), &bytes).await;
    assert_eq!(
        read_packet(&mut stream, Duration::from_secs(5))
            .await
            .map(|p| p.0),
        Some(0x20)
    );
    assert_eq!(
        read_packet(&mut stream, Duration::from_secs(5))
            .await
            .map(|p| p.0),
        Some(0x90),
        "SUBACK"
    );
    stream
        .write_all(&subscribe_packet(2, MARKER, 0))
        .await
        .unwrap();
    let mut seen = Vec::new();
    loop {
        let (first, body) = read_packet(&mut stream, crate::common::WAIT)
            .await
            .expect("the marker comes back");
        if first == 0x90 {
            stream.write_all(&publish_packet(MARKER, 2)).await.unwrap();
        }
        if first >> 4 != 3 {
            continue;
        }
        let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
        let topic = String::from_utf8(body[2..2 + topic_len].to_vec()).unwrap();
        if topic == MARKER {
            break;
        }
        let payload_at = 2 + topic_len + if (first >> 1) & 3 > 0 { 2 } else { 0 };
        if (first >> 1) & 3 > 0 {
            stream
                .write_all(&[0x40, 2, body[2 + topic_len], body[3 + topic_len]])
                .await
                .unwrap();
        }
        seen.push((
            topic,
            serde_json::from_slice(&body[payload_at..]).unwrap_or(Value::Null),
        ));
    }
    seen
}

backend_tests! {
    async fn no_camera_configuration_outlives_its_camera(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (_, floor, _) = site(&app, &token).await;
        let created = app.create("/api/v1/mqtt/credentials", &token, json!({"username": "paho", "role": "COLLECTOR"}), StatusCode::CREATED).await;
        let password = created["password"].as_str().unwrap().to_string();
        let filter = "rtls/cameras/+/+/+/camera/+/info";
        for round in 0..3 {
            let code = format!("cam{round}");
            let cam = app.create_id("/api/v1/devices/cameras", &token, json!({
                "name": code, "code": code, "floor_id": floor, "ip_address": "10.0.0.5", "username": "admin", "password": "cam-pass-1",
            })).await;
            let topic = format!("rtls/cameras/default/hq/ground/camera/{code}/info");
            // The retained configuration is there for a subscriber that pipelines.
            assert!(eventually(async || {
                let seen = pipelined_subscriber(&app, "paho", &password, filter).await;
                seen.iter().any(|(t, p)| *t == topic && p["enabled"] == json!(true))
            }).await, "round {round}: the configuration is published");
            // Deleted, and subscribed again at once: the camera is disabled, and no
            // configuration (which may carry its password) stays retained.
            assert_eq!(app.delete(&format!("/api/v1/devices/{cam}"), &token).await, StatusCode::NO_CONTENT);
            assert!(eventually(async || {
                let seen = pipelined_subscriber(&app, "paho", &password, filter).await;
                seen.iter().any(|(t, p)| *t == topic && *p == json!({"enabled": false}))
            }).await, "round {round}: the camera is disabled on its topic");
            let seen = pipelined_subscriber(&app, "paho", &password, filter).await;
            for (t, payload) in &seen {
                assert_eq!(payload, &json!({"enabled": false}), "{t}: a configuration outlived its camera");
            }
        }
        // A camera created and deleted before its configuration was ever read.
        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({
            "name": "Quick", "code": "quick", "floor_id": floor, "ip_address": "10.0.0.6", "password": "cam-pass-2",
        })).await;
        assert_eq!(app.delete(&format!("/api/v1/devices/{cam}"), &token).await, StatusCode::NO_CONTENT);
        // A barrier: the publisher reconciles from the database and publishes withdrawals
        // before configurations, so once a camera created after the deletion is published,
        // the deleted one has been dealt with (even though "barrier" sorts before "quick").
        app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Barrier", "code": "barrier", "floor_id": floor})).await;
        let marker = "rtls/cameras/default/hq/ground/camera/barrier/info";
        assert!(eventually(async || {
            let seen = pipelined_subscriber(&app, "paho", &password, filter).await;
            seen.iter().any(|(t, p)| t == marker && p["enabled"] == json!(true))
        }).await, "the marker camera is published");
        let seen = pipelined_subscriber(&app, "paho", &password, filter).await;
        assert!(seen.iter().filter(|(t, _)| t != marker).all(|(_, p)| *p == json!({"enabled": false})), "{seen:?}");
    }
}
