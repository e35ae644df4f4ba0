//! Devices, gateways and cameras.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, drain_events, id};

/// A building with two floors, a plan on each, and a second building.
async fn site(app: &TestApp, token: &str) -> (i64, i64, i64, i64, i64, i64) {
    let create = async |path: &str, body: Value| app.create_id(path, token, body).await;
    let b = create("/api/v1/buildings", json!({"name": "B", "code": "B"})).await;
    let f1 = create("/api/v1/floors", json!({"building_id": b, "name": "F1"})).await;
    let f2 = create("/api/v1/floors", json!({"building_id": b, "name": "F2"})).await;
    let p1 = create("/api/v1/floor-plans", json!({"floor_id": f1, "name": "P1"})).await;
    let p2 = create("/api/v1/floor-plans", json!({"floor_id": f2, "name": "P2"})).await;
    let other = create("/api/v1/buildings", json!({"name": "O", "code": "O"})).await;
    (b, f1, f2, p1, p2, other)
}

backend_tests! {
    async fn gateways_have_one_canonical_mac_and_a_consistent_location(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (b, f1, f2, p1, p2, other) = site(&app, &token).await;
        let mut events = app.events.subscribe();

        let gw = app.create("/api/v1/devices/", &token, json!({"name": "Gateway 1", "mac_address": "aa-bb-cc-dd-ee-01"}), StatusCode::CREATED).await;
        assert_eq!(gw["type"], "BLE_GATEWAY", "the default type");
        assert_eq!(gw["mac_address"], "AA:BB:CC:DD:EE:01");
        for spelling in ["AABBCCDDEE01", "aa:bb:cc:dd:ee:01"] {
            let (status, body) = app.post("/api/v1/devices", &token, json!({"name": "dup", "mac_address": spelling})).await;
            assert_eq!(status, StatusCode::CONFLICT, "{spelling}: {body}");
        }
        for bad in ["not-a-mac", "AA:BB:CC:DD:EE", "AA:BB:CC:DD:EE:FF:00"] {
            let (status, body) = app.post("/api/v1/devices", &token, json!({"name": "x", "mac_address": bad})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert_eq!(body["detail"][0]["loc"], json!(["body", "mac_address"]));
        }
        let (status, body) = app.post("/api/v1/devices", &token, json!({"name": "x", "type": "TOASTER"})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "type"])));
        let (status, body) = app.post("/api/v1/devices", &token, json!({"mac_address": "AABBCCDDEE09"})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "name"])));
        let gw_id = id(&gw);
        let path = format!("/api/v1/devices/{gw_id}");
        assert_eq!((&gw["rssi_at_1m"], &gw["path_loss_exponent"]), (&Value::Null, &Value::Null), "the site's model");
        let (status, calibrated) = app.put(&path, &token, json!({"rssi_at_1m": -47.5, "path_loss_exponent": 3.1})).await;
        assert_eq!((status, calibrated["rssi_at_1m"].as_f64(), calibrated["path_loss_exponent"].as_f64()), (StatusCode::OK, Some(-47.5), Some(3.1)));
        let (status, body) = app.put(&path, &token, json!({"rssi_at_1m": 12, "path_loss_exponent": 0.2})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<&Value> = body["detail"].as_array().unwrap().iter().map(|e| &e["loc"][1]).collect();
        assert_eq!(fields, vec!["rssi_at_1m", "path_loss_exponent"]);
        let (_, reset) = app.put(&path, &token, json!({"rssi_at_1m": null, "path_loss_exponent": null})).await;
        assert_eq!(reset["rssi_at_1m"], Value::Null);

        // Placing on a plan implies its floor and building.
        let (status, placed) = app.put(&path, &token, json!({"floor_plan_id": p1, "pos_x": 0.25, "pos_y": 0.75})).await;
        assert_eq!(status, StatusCode::OK, "{placed}");
        assert_eq!((placed["floor_id"].as_i64(), placed["building_id"].as_i64()), (Some(f1), Some(b)));
        // Contradictions and unknown ids name the field.
        let (status, body) = app.put(&path, &token, json!({"floor_plan_id": p2, "floor_id": f1})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "floor_id"])));
        let (status, body) = app.put(&path, &token, json!({"floor_plan_id": 999})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "floor_plan_id"])));
        let (status, body) = app.put(&path, &token, json!({"building_id": 999, "floor_id": null, "floor_plan_id": null})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "building_id"])));
        let (status, _) = app.put(&path, &token, json!({"pos_x": 1.5})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "positions are fractions of the plan");
        // Moving to another floor without naming a plan takes the device off the old plan.
        let (_, moved) = app.put(&path, &token, json!({"floor_id": f2})).await;
        assert_eq!((&moved["floor_plan_id"], &moved["pos_x"], moved["floor_id"].as_i64()), (&Value::Null, &Value::Null, Some(f2)));
        let (_, moved) = app.put(&path, &token, json!({"building_id": other})).await;
        assert_eq!((&moved["floor_id"], moved["building_id"].as_i64()), (&Value::Null, Some(other)));

        // The position route.
        let (status, positioned) = app.call(Method::PATCH, &format!("{path}/position"), Some(&token), Some(json!({"floor_plan_id": p2, "pos_x": 0.1, "pos_y": 0.2}))).await;
        assert_eq!(status, StatusCode::OK, "{positioned}");
        assert_eq!((positioned["pos_x"].as_f64(), positioned["floor_id"].as_i64(), positioned["building_id"].as_i64()), (Some(0.1), Some(f2), Some(b)));
        let (status, _) = app.call(Method::PATCH, "/api/v1/devices/999/position", Some(&token), Some(json!({"pos_x": 0.1}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Online status comes from last_seen_at; reading it changes nothing.
        let recent = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(); // naive: taken as UTC
        let (status, _) = app.put(&path, &token, json!({"last_seen_at": recent})).await;
        assert_eq!(status, StatusCode::OK);
        let quiet = app.create("/api/v1/devices", &token, json!({"name": "Quiet", "mac_address": "AABBCCDDEE02", "last_seen_at": "2020-01-01T00:00:00+00:00"}), StatusCode::CREATED).await;
        let cam = app.create("/api/v1/devices/cameras/", &token, json!({"name": "Cam", "code": "CAM-1"}), StatusCode::CREATED).await;
        let (_, status_list) = app.get("/api/v1/devices/status?only_gateways=true", &token).await;
        let online: Vec<(i64, bool)> = status_list.as_array().unwrap().iter().map(|s| (id(s), s["is_online"].as_bool().unwrap())).collect();
        assert_eq!(online, vec![(gw_id, true), (id(&quiet), false)]);
        let (_, all) = app.get("/api/v1/devices/status", &token).await;
        assert_eq!(all.as_array().unwrap().len(), 3);
        let (_, gw_status) = app.get("/api/v1/devices/gateways/status", &token).await;
        assert_eq!(gw_status.as_array().unwrap().len(), 2);
        assert_eq!(all[0]["mac_address"], "AA:BB:CC:DD:EE:01");
        let (_, gateways) = app.get("/api/v1/devices/gateways/", &token).await;
        assert_eq!(gateways.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![gw_id, id(&quiet)]);
        let (_, page) = app.get("/api/v1/devices/?type=BLE_GATEWAY&skip=1&limit=1", &token).await;
        assert_eq!(page.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&quiet)], "filter before paging");

        let (status, topics) = app.get(&format!("/api/v1/devices/{gw_id}/topics"), &token).await;
        assert_eq!((status, topics), (StatusCode::OK, json!([])), "camera topics: tests/it/cambus.rs");
        assert_eq!(app.get("/api/v1/devices/999/topics", &token).await.0, StatusCode::NOT_FOUND);

        // Gateway deletes: not a gateway, any MAC spelling, invalid MAC.
        assert_eq!(app.delete(&format!("/api/v1/devices/gateways/{}", id(&cam)), &token).await, StatusCode::BAD_REQUEST);
        let (status, body) = app.call(Method::DELETE, "/api/v1/devices/gateways/by-mac/zz", Some(&token), None).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::BAD_REQUEST, "Invalid MAC"));
        assert_eq!(app.delete("/api/v1/devices/gateways/by-mac/aa-bb-cc-dd-ee-02", &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.delete("/api/v1/devices/gateways/by-mac/AABBCCDDEE02", &token).await, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&format!("/api/v1/devices/gateways/{gw_id}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&path, &token).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&path, &token).await, StatusCode::NOT_FOUND);

        let types: Vec<&str> = drain_events(&app, &mut events).await.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types.iter().filter(|t| **t == "DEVICE_CREATED").count(), 3);
        assert!(types.contains(&"DEVICE_POSITION_UPDATED") && types.contains(&"DEVICE_UPDATED"));
        assert_eq!(types.iter().filter(|t| **t == "DEVICE_DELETED").count(), 2);
    }

    async fn cameras_keep_their_password_secret(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (b, f1, _, _, _, _) = site(&app, &token).await;
        let body = json!({
            "name": "Entrance", "code": "CAM-ENT", "building_id": b, "floor_id": f1, "ip_address": "10.0.0.5", "port": 554,
            "username": "admin", "password": "camera-secret-123", "manufacturer": "Dahua", "analytics": ["faceRecognition", "intrusion"],
            "type": "BLE_GATEWAY",
        });
        let cam = app.create("/api/v1/devices/cameras/", &token, body, StatusCode::CREATED).await;
        assert_eq!((cam["type"].as_str(), cam["shard"].as_str()), (Some("CAMERA"), Some("shard-1")), "type forced, default shard");
        assert_eq!(cam["analytics"], json!(["faceRecognition", "intrusion"]));
        assert_eq!(cam["has_password"], true);
        let text = cam.to_string();
        assert!(!text.contains("camera-secret-123") && cam.get("password").is_none(), "{text}");
        let stored = app.sql_text(&format!("SELECT password_encrypted FROM devices WHERE id = {}", id(&cam))).await.unwrap();
        assert!(stored.starts_with("v1:") && !stored.contains("camera-secret"), "sealed at rest: {stored}");
        let (_, listed) = app.get("/api/v1/devices/cameras/", &token).await;
        assert!(!listed.to_string().contains("camera-secret"));

        let (status, body) = app.post("/api/v1/devices/cameras/", &token, json!({"name": "Dup", "code": "CAM-ENT"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(detail(&body).contains("CAM-ENT"), "{body}");
        let (status, body) = app.post("/api/v1/devices/cameras/", &token, json!({"name": "x", "port": 70000})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "port"])));

        let path = format!("/api/v1/devices/cameras/{}", id(&cam));
        let (status, updated) = app.put(&path, &token, json!({"name": "Main entrance", "type": "BLE_GATEWAY", "analytics": []})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((updated["type"].as_str(), updated["has_password"].as_bool(), updated["analytics"].clone()), (Some("CAMERA"), Some(true), json!([])));
        let (_, cleared) = app.put(&path, &token, json!({"password": null})).await;
        assert_eq!(cleared["has_password"], false);
        let (status, body) = app.put("/api/v1/devices/cameras/999", &token, json!({"name": "x"})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Camera not found"));
        let gw = app.create("/api/v1/devices", &token, json!({"name": "GW"}), StatusCode::CREATED).await;
        let (status, body) = app.put(&format!("/api/v1/devices/cameras/{}", id(&gw)), &token, json!({"name": "x"})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::BAD_REQUEST, "Device não é do tipo CAMERA."));

        let (_, status_list) = app.get("/api/v1/devices/cameras/status", &token).await;
        assert_eq!(status_list.as_array().unwrap().len(), 1);
        assert_eq!(status_list[0]["manufacturer"], "Dahua", "status carries manufacturer (always null in the original)");
    }

    async fn deleting_a_device_keeps_incidents_and_alert_history(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Cam", "code": "C1"})).await;
        let gw = app.create_id("/api/v1/devices", &token, json!({"name": "GW", "mac_address": "AABBCCDDEE10"})).await;
        let now = "'2026-01-01T00:00:00+00:00'";
        for device in [cam, gw] {
            app.sql(&format!("INSERT INTO incidents (device_id, kind, status, severity, title, created_at, updated_at) VALUES ({device}, 'CAMERA_EVENT', 'OPEN', 'HIGH', 'x', {now}, {now})")).await;
            app.sql(&format!("INSERT INTO alert_events (event_type, device_id, started_at, last_seen_at) VALUES ('GATEWAY_OFFLINE', {device}, {now}, {now})")).await;
        }
        assert_eq!(app.delete(&format!("/api/v1/devices/{cam}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM incidents WHERE device_id IS NULL").await.as_deref(), Some("1"), "incident kept, unlinked");
        assert_eq!(app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM alert_events").await.as_deref(), Some("2"));
        // The gateway purge (the original's default) removes the related history explicitly.
        assert_eq!(app.delete(&format!("/api/v1/devices/gateways/{gw}?purge_related=true"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM incidents").await.as_deref(), Some("1"));
        assert_eq!(app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM alert_events").await.as_deref(), Some("1"));
    }
}

backend_tests! {
    async fn collection_logs_are_read_by_users_and_written_by_admins(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (_, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let gw = app.create_id("/api/v1/devices", &admin, json!({"name": "GW", "mac_address": "AABBCCDDEE20"})).await;
        let other = app.create_id("/api/v1/devices", &admin, json!({"name": "GW2", "mac_address": "AABBCCDDEE21"})).await;
        let tag = app.create_id("/api/v1/tags", &admin, json!({"mac_address": "112233445501"})).await;

        let (status, _) = app.post("/api/v1/collection-logs/", &operator, json!({"device_id": gw, "tag_id": tag, "rssi": -60})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "operators cannot inject readings");
        let first = app.create("/api/v1/collection-logs/", &admin, json!({"device_id": gw, "tag_id": tag, "rssi": -60}), StatusCode::CREATED).await;
        let second = app.create("/api/v1/collection-logs", &admin, json!({"device_id": other, "tag_id": tag, "rssi": -70, "raw_payload": "{}"}), StatusCode::CREATED).await;
        for (body, field) in [(json!({"device_id": 999, "tag_id": tag}), "device_id"), (json!({"device_id": gw, "tag_id": 999}), "tag_id"), (json!({"device_id": gw, "tag_id": tag, "rssi": 500}), "rssi")] {
            let (status, value) = app.post("/api/v1/collection-logs", &admin, body).await;
            assert_eq!((status, value["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", field])));
        }

        let (status, list) = app.get("/api/v1/collection-logs/", &operator).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&second), id(&first)], "newest first");
        let (_, filtered) = app.get(&format!("/api/v1/collection-logs/?device_id={gw}&limit=1"), &operator).await;
        assert_eq!(filtered.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&first)], "filter before paging");
        for (query, expected) in [
            (format!("tag_id={tag}"), vec![id(&second), id(&first)]),
            (format!("tag_id={tag}&device_id={other}"), vec![id(&second)]),
            (format!("tag_id={tag}&device_id={gw}&skip=1"), vec![]),
            (format!("device_id={gw}&tag_id={}", tag + 1000), vec![]),
        ] {
            let (status, list) = app.get(&format!("/api/v1/collection-logs?{query}"), &operator).await;
            assert_eq!((status, list.as_array().unwrap().iter().map(id).collect::<Vec<_>>()), (StatusCode::OK, expected), "{query}");
        }

        let path = format!("/api/v1/collection-logs/{}", id(&first));
        let (status, _) = app.put(&path, &operator, json!({"rssi": -1})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, fixed) = app.put(&path, &admin, json!({"rssi": -61})).await;
        assert_eq!((status, fixed["rssi"].as_i64(), fixed["tag_id"].as_i64()), (StatusCode::OK, Some(-61), Some(tag)));
        assert_eq!(app.delete(&path, &operator).await, StatusCode::FORBIDDEN);
        assert_eq!(app.delete(&path, &admin).await, StatusCode::NO_CONTENT);
        let (status, body) = app.get(&path, &operator).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Collection log not found"));

        // A deleted tag takes its readings with it.
        assert_eq!(app.delete(&format!("/api/v1/tags/{tag}"), &admin).await, StatusCode::NO_CONTENT);
        let (_, after) = app.get("/api/v1/collection-logs/", &admin).await;
        assert_eq!(after, json!([]));
    }
}
