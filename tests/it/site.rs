//! Buildings, floors, floor plans and plan images.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, drain_events, id, upload_plan_image};

const PNG: &[u8] = include_bytes!("../fixtures/plan-40x30.png");

backend_tests! {
    async fn buildings_floors_and_floor_plans(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (_, token) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let mut events = app.events.subscribe();

        // Buildings: operators may write, as in the original.
        let hq = app.create("/api/v1/buildings/", &token, json!({"name": "HQ", "code": "HQ", "description": "", "address": ""}), StatusCode::CREATED).await;
        assert_eq!((hq["name"].as_str(), hq["code"].as_str(), &hq["description"]), (Some("HQ"), Some("HQ"), &Value::Null));
        let (status, body) = app.post("/api/v1/buildings", &token, json!({"name": "Other", "code": "HQ"})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, body) = app.post("/api/v1/buildings", &token, json!({"code": "X"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][0]["loc"], json!(["body", "name"]));
        let (status, body) = app.post("/api/v1/buildings", &token, json!({"name": "X", "code": "c".repeat(65)})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let annex = app.create("/api/v1/buildings", &token, json!({"name": "Annex", "code": "ANNEX"}), StatusCode::CREATED).await;

        let (status, found) = app.get("/api/v1/buildings/by-code/ANNEX", &token).await;
        assert_eq!((status, id(&found)), (StatusCode::OK, id(&annex)));
        let (status, body) = app.get("/api/v1/buildings/by-code/NOPE", &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Building not found"));
        let (status, body) = app.get("/api/v1/buildings/999", &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Building not found"));

        let (status, renamed) = app.put(&format!("/api/v1/buildings/{}", id(&hq)), &token, json!({"name": "Head Office"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((renamed["name"].as_str(), renamed["code"].as_str()), (Some("Head Office"), Some("HQ")), "partial update");
        assert!(renamed["updated_at"].as_str() > hq["updated_at"].as_str(), "updated_at moves");
        let (status, _) = app.put(&format!("/api/v1/buildings/{}", id(&hq)), &token, json!({"code": "ANNEX"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app.put(&format!("/api/v1/buildings/{}", id(&hq)), &token, json!({"name": null})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, list) = app.get("/api/v1/buildings/?skip=0&limit=10", &token).await;
        assert_eq!(list.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&hq), id(&annex)]);

        // Floors.
        let (status, body) = app.post("/api/v1/floors/", &token, json!({"building_id": 999, "name": "F1"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown building: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "building_id"]));
        let ground = app.create("/api/v1/floors/", &token, json!({"building_id": id(&hq), "name": "Ground", "level": 0}), StatusCode::CREATED).await;
        let first = app.create("/api/v1/floors", &token, json!({"building_id": id(&hq), "name": "First", "level": 1}), StatusCode::CREATED).await;
        app.create("/api/v1/floors", &token, json!({"building_id": id(&annex), "name": "Annex ground"}), StatusCode::CREATED).await;
        let (_, hq_floors) = app.get(&format!("/api/v1/floors/?building_id={}", id(&hq)), &token).await;
        assert_eq!(hq_floors.as_array().unwrap().len(), 2, "filtered before paging");
        let (status, moved) = app.put(&format!("/api/v1/floors/{}", id(&first)), &token, json!({"level": 2, "description": "top"})).await;
        assert_eq!((status, moved["level"].as_i64(), moved["name"].as_str()), (StatusCode::OK, Some(2), Some("First")));
        let (status, _) = app.put(&format!("/api/v1/floors/{}", id(&first)), &token, json!({"building_id": 12345})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = app.get("/api/v1/floors/999", &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Floor not found"));

        // Floor plans.
        let (status, _) = app.post("/api/v1/floor-plans/", &token, json!({"floor_id": 999, "name": "P"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let plan_b = app.create("/api/v1/floor-plans/", &token, json!({"floor_id": id(&ground), "name": "B plan", "width": 40.0, "height": 30.0}), StatusCode::CREATED).await;
        let plan_a = app.create("/api/v1/floor-plans/", &token, json!({"floor_id": id(&first), "name": "A plan"}), StatusCode::CREATED).await;
        let (status, _) = app.post("/api/v1/floor-plans/", &token, json!({"floor_id": id(&first), "name": "bad", "width": -1})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, plans) = app.get(&format!("/api/v1/buildings/{}/floor-plans", id(&hq)), &token).await;
        let names: Vec<&str> = plans.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["A plan", "B plan"], "ordered by name");
        let (status, _) = app.get("/api/v1/buildings/999/floor-plans", &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, updated) = app.put(&format!("/api/v1/floor-plans/{}", id(&plan_a)), &token, json!({"image_url": "https://maps.example/a.png"})).await;
        assert_eq!((status, updated["image_url"].as_str()), (StatusCode::OK, Some("https://maps.example/a.png")));
        let (status, body) = app.get("/api/v1/floor-plans/999", &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Floor plan not found"));

        // A device on a plan stays when its building goes, unplaced.
        let gw = app.create("/api/v1/devices/", &token, json!({"name": "GW", "mac_address": "aa:bb:cc:00:00:01", "floor_plan_id": id(&plan_b), "pos_x": 0.5, "pos_y": 0.5}), StatusCode::CREATED).await;
        assert_eq!((gw["floor_id"].as_i64(), gw["building_id"].as_i64()), (Some(id(&ground)), Some(id(&hq))));
        let (_, on_plan) = app.get(&format!("/api/v1/floor-plans/{}/devices", id(&plan_b)), &token).await;
        assert_eq!(on_plan.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), vec![id(&gw)]);
        assert_eq!(app.delete(&format!("/api/v1/buildings/{}", id(&hq)), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/floors/{}", id(&ground)), &token).await.0, StatusCode::NOT_FOUND, "floors go with the building");
        assert_eq!(app.get(&format!("/api/v1/floor-plans/{}", id(&plan_b)), &token).await.0, StatusCode::NOT_FOUND);
        let (status, kept) = app.get(&format!("/api/v1/devices/{}", id(&gw)), &token).await;
        assert_eq!(status, StatusCode::OK, "the device stays");
        assert_eq!((&kept["floor_plan_id"], &kept["floor_id"], &kept["building_id"]), (&Value::Null, &Value::Null, &Value::Null));
        assert_eq!((&kept["pos_x"], &kept["pos_y"]), (&Value::Null, &Value::Null), "a position means nothing without its plan");
        assert_eq!(app.delete(&format!("/api/v1/buildings/{}", id(&hq)), &token).await, StatusCode::NOT_FOUND);

        // Every change was announced on the bus and audited with its author.
        let types: Vec<&str> = drain_events(&app, &mut events).await.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>();
        let expected = ["BUILDING_CREATED", "BUILDING_CREATED", "BUILDING_UPDATED", "FLOOR_CREATED", "FLOOR_CREATED", "FLOOR_CREATED",
            "FLOOR_UPDATED", "FLOOR_PLAN_CREATED", "FLOOR_PLAN_CREATED", "FLOOR_PLAN_UPDATED", "DEVICE_CREATED", "BUILDING_DELETED"];
        assert_eq!(types, expected);
        let audit = app.store.audit_entries(Some("building"), 0, 10).await.unwrap();
        assert_eq!(audit.len(), 4);
        assert!(audit.iter().all(|e| e.user_id == Some(2)), "recorded as the operator");
    }

    async fn floor_plan_images_are_checked_stored_safely_and_served(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.media.max_upload_bytes = 4096).await;
        let token = app.admin_token().await;
        let building = app.create("/api/v1/buildings", &token, json!({"name": "B", "code": "B"}), StatusCode::CREATED).await;
        let floor = app.create("/api/v1/floors", &token, json!({"building_id": id(&building), "name": "F"}), StatusCode::CREATED).await;
        let plan = app.create("/api/v1/floor-plans", &token, json!({"floor_id": id(&floor), "name": "P"}), StatusCode::CREATED).await;
        let plan_id = id(&plan);

        // A real PNG, under a hostile file name: stored under a generated name, dimensions read.
        let (status, updated) = upload_plan_image(&app, &token, plan_id, "../../../etc/passwd.png", PNG.to_vec(), "image/png").await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!((updated["width"].as_f64(), updated["height"].as_f64()), (Some(40.0), Some(30.0)));
        let url = updated["image_url"].as_str().unwrap().to_string();
        assert!(url.starts_with("/media/floor_plans/") && url.ends_with(".png") && !url.contains(".."), "{url}");
        let stored = app.config.media_root().join("floor_plans").join(url.rsplit('/').next().unwrap());
        assert_eq!(std::fs::read(&stored).unwrap(), PNG);
        assert!(!app.config.data_dir.join("etc").exists());

        let response = app.client.get(app.url(&url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "media is public: <img> sends no token");
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
        for bad in ["/media/floor_plans/..%2F..%2Fjwt-secret", "/media/floor_plans/missing.png", "/media/other/x.png"] {
            let response = app.client.get(app.url(bad)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
        }
        // The client resolves these to paths outside /media, which the console answers.
        let secret = std::fs::read_to_string(app.config.data_dir.join("jwt-secret")).unwrap();
        for climbing in ["/media/floor_plans/../../jwt-secret", "/media/../data/jwt-secret"] {
            let body = app.client.get(app.url(climbing)).send().await.unwrap().text().await.unwrap();
            assert!(!body.contains(secret.trim()), "{climbing}");
        }

        // A text file named like an image, SVG, and a file too large are refused.
        let (status, body) = upload_plan_image(&app, &token, plan_id, "plan.png", b"hello, not an image".to_vec(), "image/png").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec();
        let (status, _) = upload_plan_image(&app, &token, plan_id, "plan.svg", svg, "image/svg+xml").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let mut big = PNG.to_vec();
        big.resize(8192, 0);
        let (status, _) = upload_plan_image(&app, &token, plan_id, "big.png", big, "image/png").await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, _) = upload_plan_image(&app, &token, 999, "plan.png", PNG.to_vec(), "image/png").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let form = reqwest::multipart::Form::new().text("other", "x");
        let response = app.client.post(app.url(&format!("/api/v1/floor-plans/{plan_id}/image"))).bearer_auth(&token).multipart(form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "no file part");
        let (_, still) = app.get(&format!("/api/v1/floor-plans/{plan_id}"), &token).await;
        assert_eq!(still["image_url"].as_str(), Some(url.as_str()), "refused uploads change nothing");

        // A new image replaces the old file; deleting the plan removes its image.
        let (_, replaced) = upload_plan_image(&app, &token, plan_id, "v2.png", PNG.to_vec(), "image/png").await;
        assert_ne!(replaced["image_url"].as_str(), Some(url.as_str()));
        assert!(!stored.exists(), "the replaced image is removed");
        let second = app.config.media_root().join("floor_plans").join(replaced["image_url"].as_str().unwrap().rsplit('/').next().unwrap());
        assert!(second.exists());
        assert_eq!(app.delete(&format!("/api/v1/floor-plans/{plan_id}"), &token).await, StatusCode::NO_CONTENT);
        assert!(!second.exists());
    }

    async fn every_site_route_needs_a_token(backend: Backend) {
        let app = TestApp::start(backend).await;
        let routes = [
            (Method::GET, "/api/v1/buildings/"), (Method::POST, "/api/v1/buildings/"), (Method::GET, "/api/v1/buildings/1"),
            (Method::PUT, "/api/v1/buildings/1"), (Method::DELETE, "/api/v1/buildings/1"), (Method::GET, "/api/v1/buildings/by-code/X"),
            (Method::GET, "/api/v1/buildings/1/floor-plans"), (Method::GET, "/api/v1/floors/"), (Method::POST, "/api/v1/floors/"),
            (Method::GET, "/api/v1/floors/1"), (Method::PUT, "/api/v1/floors/1"), (Method::DELETE, "/api/v1/floors/1"),
            (Method::GET, "/api/v1/floor-plans/"), (Method::POST, "/api/v1/floor-plans/"), (Method::GET, "/api/v1/floor-plans/1"),
            (Method::PUT, "/api/v1/floor-plans/1"), (Method::DELETE, "/api/v1/floor-plans/1"), (Method::GET, "/api/v1/floor-plans/1/devices"),
            (Method::POST, "/api/v1/floor-plans/1/image"), (Method::GET, "/api/v1/devices/"), (Method::POST, "/api/v1/devices/"),
            (Method::GET, "/api/v1/devices/status"), (Method::GET, "/api/v1/devices/1"), (Method::PUT, "/api/v1/devices/1"),
            (Method::DELETE, "/api/v1/devices/1"), (Method::PATCH, "/api/v1/devices/1/position"), (Method::GET, "/api/v1/devices/1/topics"),
            (Method::GET, "/api/v1/devices/gateways/"), (Method::GET, "/api/v1/devices/gateways/status"),
            (Method::DELETE, "/api/v1/devices/gateways/1"), (Method::DELETE, "/api/v1/devices/gateways/by-mac/AABBCCDDEEFF"),
            (Method::GET, "/api/v1/devices/cameras/"), (Method::POST, "/api/v1/devices/cameras/"), (Method::GET, "/api/v1/devices/cameras/status"),
            (Method::PUT, "/api/v1/devices/cameras/1"), (Method::GET, "/api/v1/devices/camera-groups/"), (Method::POST, "/api/v1/devices/camera-groups/"),
            (Method::GET, "/api/v1/devices/camera-groups/1"), (Method::PATCH, "/api/v1/devices/camera-groups/1"),
            (Method::DELETE, "/api/v1/devices/camera-groups/1"), (Method::GET, "/api/v1/people/"), (Method::POST, "/api/v1/people/"),
            (Method::GET, "/api/v1/people/1"), (Method::PUT, "/api/v1/people/1"), (Method::DELETE, "/api/v1/people/1"),
            (Method::GET, "/api/v1/tags/"), (Method::POST, "/api/v1/tags/"), (Method::GET, "/api/v1/tags/by-mac/AABBCCDDEEFF"),
            (Method::GET, "/api/v1/tags/1"), (Method::PUT, "/api/v1/tags/1"), (Method::DELETE, "/api/v1/tags/1"),
            (Method::GET, "/api/v1/person-groups/"), (Method::POST, "/api/v1/person-groups/"), (Method::GET, "/api/v1/person-groups/1"),
            (Method::PUT, "/api/v1/person-groups/1"), (Method::DELETE, "/api/v1/person-groups/1"), (Method::GET, "/api/v1/person-groups/1/people"),
            (Method::PUT, "/api/v1/person-groups/1/people"), (Method::GET, "/api/v1/person-groups/1/with-members"),
            (Method::GET, "/api/v1/support-groups/"), (Method::POST, "/api/v1/support-groups/"), (Method::GET, "/api/v1/support-groups/1"),
            (Method::PUT, "/api/v1/support-groups/1"), (Method::DELETE, "/api/v1/support-groups/1"),
        ];
        for (method, path) in routes {
            let (status, body) = app.call(method.clone(), path, None, Some(json!({}))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        }
    }
}
