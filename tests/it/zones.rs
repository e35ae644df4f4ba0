//! Zones through the API: polygons on a floor plan, their checks, who may change them,
//! their events, and their end with the plan.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, id};

/// A building, a floor and a plan; the plan's id.
pub async fn plan(app: &TestApp, token: &str) -> i64 {
    let plan = json!({"name": "Ground plan"});
    app.floor_plan(token, json!({"name": "HQ", "code": "HQ"}), plan)
        .await
}

fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Value {
    json!([{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}])
}

fn field_named(answer: &Value, field: &str) -> bool {
    answer["detail"]
        .as_array()
        .is_some_and(|d| d.iter().any(|d| d["loc"] == json!(["body", field])))
}

backend_tests! {
    async fn zones_are_drawn_read_changed_and_deleted(backend: Backend) {
        let app = TestApp::start(backend).await;
        let t = app.admin_token().await;
        let p = plan(&app, &t).await;
        let mut bus = app.events.subscribe();
        let path = format!("/api/v1/floor-plans/{p}/zones");
        let created = app.create(&path, &t, json!({"name": " Lab ", "color": "#e53935", "points": square(0.1, 0.1, 0.4, 0.5)}), StatusCode::CREATED).await;
        let zone = id(&created);
        assert_eq!((created["floor_plan_id"].as_i64(), created["name"].as_str(), created["color"].as_str()), (Some(p), Some("Lab"), Some("#e53935")));
        assert_eq!(created["points"], square(0.1, 0.1, 0.4, 0.5));
        for key in ["created_at", "updated_at"] {
            assert!(created[key].is_string(), "{key}: {created}");
        }
        let other = app.create_id(&path, &t, json!({"name": "Hall", "color": null, "points": square(0.5, 0.5, 0.9, 0.9)})).await;

        let (status, listed) = app.get(&path, &t).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), [zone, other]);
        let (_, filtered) = app.get(&format!("/api/v1/zones?floor_plan_id={p}"), &t).await;
        assert_eq!(filtered, listed);
        assert_eq!(app.get(&format!("/api/v1/zones?floor_plan_id={}", p + 1000), &t).await.1, json!([]));
        let (status, read) = app.get(&format!("/api/v1/zones/{zone}"), &t).await;
        assert_eq!((status, &read), (StatusCode::OK, &created));

        // A partial change: only the points move.
        let (status, moved) = app.call(Method::PATCH, &format!("/api/v1/zones/{zone}"), Some(&t), Some(json!({"points": square(0.2, 0.2, 0.3, 0.3)}))).await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!((moved["name"].as_str(), moved["color"].as_str()), (Some("Lab"), Some("#e53935")));
        assert_eq!(moved["points"], square(0.2, 0.2, 0.3, 0.3));
        let (_, recoloured) = app.call(Method::PATCH, &format!("/api/v1/zones/{zone}"), Some(&t), Some(json!({"color": null, "name": "Lab 2"}))).await;
        assert_eq!((recoloured["name"].as_str(), recoloured["color"].clone()), (Some("Lab 2"), Value::Null));

        assert_eq!(app.delete(&format!("/api/v1/zones/{other}"), &t).await, StatusCode::NO_CONTENT);
        let (status, body) = app.get(&format!("/api/v1/zones/{other}"), &t).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Zone not found"));
        assert_eq!(app.delete(&format!("/api/v1/zones/{other}"), &t).await, StatusCode::NOT_FOUND);

        let seen: Vec<(String, Value)> = crate::common::drain_events(&app, &mut bus).await.into_iter()
            .filter(|e| e.event_type.as_str().starts_with("ZONE_"))
            .map(|e| (e.event_type.as_str().to_string(), e.payload))
            .collect();
        let kinds: Vec<&str> = seen.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(kinds, ["ZONE_CREATED", "ZONE_CREATED", "ZONE_UPDATED", "ZONE_UPDATED", "ZONE_DELETED"]);
        assert_eq!((seen[0].1["zone_id"].as_i64(), seen[0].1["floor_plan_id"].as_i64()), (Some(zone), Some(p)));
        assert_eq!(seen[2].1["points"], square(0.2, 0.2, 0.3, 0.3), "the console redraws from the event");
        assert_eq!(seen[4].1["zone_id"].as_i64(), Some(other));

        // Unknown plans: 404 on the nested routes.
        let (status, body) = app.get(&format!("/api/v1/floor-plans/{}/zones", p + 1000), &t).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Floor plan not found"));
        let (status, _) = app.post(&format!("/api/v1/floor-plans/{}/zones", p + 1000), &t, json!({"name": "X", "points": square(0.1, 0.1, 0.2, 0.2)})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

backend_tests! {
    async fn operators_read_zones_and_only_administrators_change_them(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (_, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let p = plan(&app, &admin).await;
        let path = format!("/api/v1/floor-plans/{p}/zones");
        let zone = app.create_id(&path, &admin, json!({"name": "Lab", "points": square(0.1, 0.1, 0.4, 0.5)})).await;
        let item = format!("/api/v1/zones/{zone}");
        assert_eq!(app.get(&path, &operator).await.0, StatusCode::OK);
        assert_eq!(app.get(&item, &operator).await.0, StatusCode::OK);
        assert_eq!(app.get("/api/v1/zones", &operator).await.0, StatusCode::OK);
        let (status, _) = app.post(&path, &operator, json!({"name": "Mine", "points": square(0.5, 0.5, 0.6, 0.6)})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.call(Method::PATCH, &item, Some(&operator), Some(json!({"name": "Mine"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(app.delete(&item, &operator).await, StatusCode::FORBIDDEN);
        let (_, unchanged) = app.get(&item, &admin).await;
        assert_eq!(unchanged["name"], "Lab");
        assert_eq!(app.get("/api/v1/zones", &admin).await.1.as_array().unwrap().len(), 1);
        let (status, _) = app.call(Method::GET, &item, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

backend_tests! {
    async fn bad_zones_are_refused_with_the_field_named(backend: Backend) {
        let app = TestApp::start(backend).await;
        let t = app.admin_token().await;
        let p = plan(&app, &t).await;
        let path = format!("/api/v1/floor-plans/{p}/zones");
        let good = square(0.1, 0.1, 0.4, 0.5);
        let cases = [
            (json!({"name": "Z", "points": [{"x": 0.1, "y": 0.1}, {"x": 0.2, "y": 0.2}]}), "points", "at least 3 points"),
            (json!({"name": "Z", "points": [{"x": 0.1, "y": 0.1}, {"x": 1.2, "y": 0.2}, {"x": 0.1, "y": 0.5}]}), "points", "point 2 is outside the plan"),
            (json!({"name": "Z", "points": [{"x": 0.1, "y": 0.1}, {"x": 0.5, "y": -0.5}, {"x": 0.1, "y": 0.5}]}), "points", "outside the plan"),
            // A bow tie.
            (json!({"name": "Z", "points": [{"x": 0.1, "y": 0.1}, {"x": 0.5, "y": 0.5}, {"x": 0.5, "y": 0.1}, {"x": 0.1, "y": 0.5}]}), "points", "cross"),
            (json!({"name": "", "points": good}), "name", ""),
            (json!({"name": "   ", "points": good}), "name", ""),
            (json!({"points": good}), "name", ""),
            (json!({"name": "Z"}), "points", ""),
            (json!({"name": "Z", "points": "square"}), "points", ""),
            (json!({"name": "Z", "points": [{"x": "a", "y": 0.1}]}), "points", ""),
            (json!({"name": "Z", "color": "red; background: url(x)", "points": good}), "color", "#rrggbb"),
            (json!({"name": "Z".repeat(256), "points": good}), "name", ""),
        ];
        for (body, field, words) in cases {
            let (status, answer) = app.post(&path, &t, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {answer}");
            assert!(field_named(&answer, field) || answer["detail"].to_string().contains(field), "{field} named for {body}: {answer}");
            assert!(answer["detail"].to_string().contains(words), "{words:?} in {answer}");
        }
        assert_eq!(app.get(&path, &t).await.1, json!([]), "nothing stored");
        let zone = app.create_id(&path, &t, json!({"name": "Z", "points": good})).await;
        let item = format!("/api/v1/zones/{zone}");
        for (body, field) in [
            (json!({"points": [{"x": 0.1, "y": 0.1}, {"x": 0.5, "y": 0.5}, {"x": 0.5, "y": 0.1}, {"x": 0.1, "y": 0.5}]}), "points"),
            (json!({"points": null}), "points"),
            (json!({"name": null}), "name"),
            (json!({"name": ""}), "name"),
        ] {
            let (status, answer) = app.call(Method::PATCH, &item, Some(&t), Some(body.clone())).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {answer}");
            assert!(field_named(&answer, field), "{field} named for {body}: {answer}");
        }
        assert_eq!(app.get(&item, &t).await.1["points"], good, "unchanged");
        let (status, _) = app.call(Method::PATCH, "/api/v1/zones/999999", Some(&t), Some(json!({"name": "X"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

backend_tests! {
    async fn deleting_a_plan_deletes_its_zones(backend: Backend) {
        let app = TestApp::start(backend).await;
        let t = app.admin_token().await;
        let p = plan(&app, &t).await;
        let kept_plan = app.create_id("/api/v1/floor-plans", &t, json!({"floor_id": app.get(&format!("/api/v1/floor-plans/{p}"), &t).await.1["floor_id"], "name": "Other"})).await;
        let gone = app.create_id(&format!("/api/v1/floor-plans/{p}/zones"), &t, json!({"name": "Lab", "points": square(0.1, 0.1, 0.4, 0.5)})).await;
        let kept = app.create_id(&format!("/api/v1/floor-plans/{kept_plan}/zones"), &t, json!({"name": "Hall", "points": square(0.1, 0.1, 0.4, 0.5)})).await;
        assert_eq!(app.delete(&format!("/api/v1/floor-plans/{p}"), &t).await, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/zones/{gone}"), &t).await.0, StatusCode::NOT_FOUND);
        let (_, all) = app.get("/api/v1/zones", &t).await;
        assert_eq!(all.as_array().unwrap().iter().map(id).collect::<Vec<_>>(), [kept]);
    }
}
