//! Camera groups and support groups.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{TestApp, backend_tests, detail, id};

backend_tests! {
    async fn camera_groups(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (_, token) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let c1 = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "C1"})).await;
        let c2 = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "C2"})).await;

        let lobby = app.create("/api/v1/devices/camera-groups/", &token, json!({"name": "Lobby", "description": "front"}), StatusCode::CREATED).await;
        assert_eq!(lobby["device_ids"], json!([]));
        let (status, _) = app.post("/api/v1/devices/camera-groups", &token, json!({"name": "Lobby"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, body) = app.post("/api/v1/devices/camera-groups", &token, json!({"name": "X", "device_ids": [c1, 999]})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "device_ids"])));
        let path = format!("/api/v1/devices/camera-groups/{}", id(&lobby));
        let (status, updated) = app.call(Method::PATCH, &path, Some(&token), Some(json!({"device_ids": [c2, c1]}))).await;
        assert_eq!((status, updated["device_ids"].clone(), updated["name"].as_str()), (StatusCode::OK, json!([c1, c2]), Some("Lobby")));
        let (_, renamed) = app.call(Method::PATCH, &path, Some(&token), Some(json!({"name": "Hall"}))).await;
        assert_eq!(renamed["device_ids"], json!([c1, c2]), "absent device_ids keep the members");
        let (_, list) = app.get("/api/v1/devices/camera-groups/", &token).await;
        assert_eq!(list[0]["device_ids"], json!([c1, c2]));
        let (status, body) = app.get("/api/v1/devices/camera-groups/999", &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "CameraGroup not found"));

        // Deleting a camera leaves the group; a group targeted by incident rules stays.
        assert_eq!(app.delete(&format!("/api/v1/devices/{c1}"), &token).await, StatusCode::NO_CONTENT);
        let (_, after) = app.get(&path, &token).await;
        assert_eq!(after["device_ids"], json!([c2]));
        let now = "'2026-01-01T00:00:00+00:00'";
        app.sql(&format!("INSERT INTO incident_rules (name, camera_group_id, created_at, updated_at) VALUES ('r', {}, {now}, {now})", id(&lobby))).await;
        assert_eq!(app.delete(&path, &token).await, StatusCode::CONFLICT);
        app.sql("DELETE FROM incident_rules").await;
        assert_eq!(app.delete(&path, &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/devices/{c2}"), &token).await.0, StatusCode::OK, "cameras stay");
    }

    async fn support_groups_are_for_admins(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (op_id, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let (status, _) = app.get("/api/v1/support-groups/", &operator).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.post("/api/v1/support-groups/", &operator, json!({"name": "x"})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let night = app.create("/api/v1/support-groups/", &admin, json!({"name": "Night shift", "default_sla_minutes": 30, "member_ids": [op_id, 999]}), StatusCode::OK).await;
        assert_eq!(night["members"], json!([{"id": op_id, "full_name": "Test User", "email": "op@example.com"}]), "unknown members ignored");
        assert_eq!(night["is_active"], true);
        let (status, body) = app.post("/api/v1/support-groups", &admin, json!({"name": "Night shift"})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::CONFLICT, "Já existe um grupo com esse nome."));
        let (status, _) = app.post("/api/v1/support-groups", &admin, json!({"name": "x", "default_sla_minutes": 0})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let day = app.create("/api/v1/support-groups", &admin, json!({"name": "Day shift"}), StatusCode::OK).await;
        let (_, list) = app.get("/api/v1/support-groups", &admin).await;
        assert_eq!(list.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect::<Vec<_>>(), vec!["Day shift", "Night shift"], "by name");

        let path = format!("/api/v1/support-groups/{}", id(&night));
        let (status, updated) = app.put(&path, &admin, json!({"member_ids": []})).await;
        assert_eq!((status, updated["members"].clone(), updated["default_sla_minutes"].as_i64()), (StatusCode::OK, json!([]), Some(30)));
        let (status, _) = app.put(&path, &admin, json!({"name": "Day shift"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, body) = app.get("/api/v1/support-groups/999", &admin).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Grupo não encontrado"));

        let now = "'2026-01-01T00:00:00+00:00'";
        app.sql(&format!("INSERT INTO incidents (kind, status, severity, title, assigned_group_id, created_at, updated_at) VALUES ('X', 'OPEN', 'LOW', 't', {}, {now}, {now})", id(&night))).await;
        let (status, body) = app.call(Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::CONFLICT, "Grupo possui incidentes associados. Desative o grupo em vez de deletar."));
        assert_eq!(app.delete(&format!("/api/v1/support-groups/{}", id(&day)), &admin).await, StatusCode::NO_CONTENT);
    }
}
