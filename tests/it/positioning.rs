//! On-site calibration: `POST /positioning/calibrations` fits each gateway's path-loss
//! model from stored readings of a tag that stood at known points.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail};

/// The world: a 10 × 8 m plan, 4 gateways 2.5 m above the tags (the site's default height),
/// whose true model is −62 dBm at 1 m and exponent 2.2.
const WIDTH: f64 = 10.0;
const HEIGHT: f64 = 8.0;
const GATEWAYS: [(f64, f64); 4] = [(2.0, 2.0), (8.0, 2.0), (2.0, 6.0), (8.0, 6.0)];
const TRUE_RSSI_AT_1M: f64 = -62.0;
const TRUE_EXPONENT: f64 = 2.2;

/// The plan, its gateways (set 5 dB off the truth, alternately too loud and too quiet)
/// and a tag.
async fn site(app: &TestApp, token: &str) -> (i64, Vec<i64>, i64) {
    let create = async |path: &str, body: Value| app.create_id(path, token, body).await;
    let b = create("/api/v1/buildings", json!({"name": "B", "code": "B"})).await;
    let f = create("/api/v1/floors", json!({"building_id": b, "name": "F"})).await;
    let plan = create(
        "/api/v1/floor-plans",
        json!({"floor_id": f, "name": "P", "width_m": WIDTH, "height_m": HEIGHT}),
    )
    .await;
    let mut gateways = Vec::new();
    for (i, (x, y)) in GATEWAYS.iter().enumerate() {
        let off = if i % 2 == 0 { 5.0 } else { -5.0 };
        let body = json!({
            "name": format!("GW{i}"), "type": "BLE_GATEWAY", "mac_address": format!("AC233FC0000{i}"),
            "floor_plan_id": plan, "pos_x": x / WIDTH, "pos_y": y / HEIGHT,
            "rssi_at_1m": TRUE_RSSI_AT_1M + off, "path_loss_exponent": TRUE_EXPONENT,
        });
        gateways.push(create("/api/v1/devices", body).await);
    }
    let tag = create("/api/v1/tags", json!({"mac_address": "AC233F100001"})).await;
    (plan, gateways, tag)
}

/// Stores what the gateways heard of the tag standing at (x, y) metres: 12 readings each,
/// the true model plus a small deterministic noise (−2 to +2 dB, mean 0). Returns the
/// window's start and end.
async fn stand(
    app: &TestApp,
    token: &str,
    gateways: &[i64],
    tag: i64,
    (x, y): (f64, f64),
) -> (String, String) {
    let from = chrono::Utc::now();
    for k in 0..12 {
        for (gateway, (gx, gy)) in gateways.iter().zip(GATEWAYS) {
            let d = ((x - gx).powi(2) + (y - gy).powi(2) + 2.5f64.powi(2)).sqrt();
            let noise = f64::from((k * 7 + *gateway as i32) % 5 - 2);
            let rssi = (TRUE_RSSI_AT_1M - 10.0 * TRUE_EXPONENT * d.log10() + noise).round();
            let body = json!({"device_id": gateway, "tag_id": tag, "rssi": rssi as i32});
            let (status, value) = app.post("/api/v1/collection-logs", token, body).await;
            assert_eq!(status, StatusCode::CREATED, "{value}");
        }
    }
    let to = chrono::Utc::now() + chrono::Duration::milliseconds(1);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    (from.to_rfc3339(), to.to_rfc3339())
}

const POINTS: [(f64, f64); 4] = [(1.0, 1.0), (5.0, 4.0), (9.0, 7.0), (2.5, 7.5)];

backend_tests! {
    async fn calibration_recovers_mis_set_gateways_and_cuts_the_error(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (plan, gateways, tag) = site(&app, &token).await;
        let mut points = Vec::new();
        for (x, y) in POINTS {
            let (from, to) = stand(&app, &token, &gateways, tag, (x, y)).await;
            points.push(json!({"x": x / WIDTH, "y": y / HEIGHT, "from_ts": from, "to_ts": to}));
        }
        let body = json!({"floor_plan_id": plan, "tag_id": tag, "points": points});
        let (status, fit) = app.post("/api/v1/positioning/calibrations", &token, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{fit}");
        assert_eq!(fit["applied"], false);
        for g in fit["gateways"].as_array().unwrap() {
            assert_eq!(g["samples"], 48, "{g}");
            let a = g["rssi_at_1m"].as_f64().unwrap();
            let n = g["path_loss_exponent"].as_f64().unwrap();
            assert!((a - TRUE_RSSI_AT_1M).abs() < 1.0, "{g}");
            assert!((n - TRUE_EXPONENT).abs() < 0.15, "{g}");
            assert!((g["rssi_at_1m_before"].as_f64().unwrap() - TRUE_RSSI_AT_1M).abs() == 5.0, "{g}");
        }
        let (before, after) = (
            fit["mean_error_before_m"].as_f64().unwrap(),
            fit["mean_error_after_m"].as_f64().unwrap(),
        );
        assert!(after < before, "{fit}");
        assert_eq!(fit["points"].as_array().unwrap().len(), 4);
        // Shown only: the gateways keep their values.
        let (_, gw) = app.get(&format!("/api/v1/devices/{}", gateways[0]), &token).await;
        assert_eq!(gw["rssi_at_1m"], TRUE_RSSI_AT_1M + 5.0);

        // Applied: saved on the gateways, and a second calibration starts from them.
        let mut apply = body.clone();
        apply["apply"] = json!(true);
        let (status, applied) = app.post("/api/v1/positioning/calibrations", &token, apply).await;
        assert_eq!((status, &applied["applied"]), (StatusCode::OK, &json!(true)), "{applied}");
        let (_, gw) = app.get(&format!("/api/v1/devices/{}", gateways[0]), &token).await;
        assert_eq!(gw["rssi_at_1m"], applied["gateways"][0]["rssi_at_1m"]);
        assert_eq!(gw["path_loss_exponent"], applied["gateways"][0]["path_loss_exponent"]);
        let (_, again) = app.post("/api/v1/positioning/calibrations", &token, body).await;
        assert_eq!(again["gateways"][0]["rssi_at_1m_before"], applied["gateways"][0]["rssi_at_1m"]);
        assert!(again["mean_error_before_m"].as_f64().unwrap() < before, "{again}");
    }

    async fn calibration_refuses_bad_input(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (plan, gateways, tag) = site(&app, &token).await;
        let (from, to) = stand(&app, &token, &gateways, tag, (5.0, 4.0)).await;
        let point = json!({"x": 0.5, "y": 0.5, "from_ts": from, "to_ts": to});
        let call = async |body: Value| app.post("/api/v1/positioning/calibrations", &token, body).await;

        // Too few points.
        let (status, body) = call(json!({"floor_plan_id": plan, "tag_id": tag, "points": [point, point]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&body).contains("points"), "{body}");
        // A window in the future, one that ends before it starts, a point off the plan.
        let later = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
        let future = json!({"x": 0.5, "y": 0.5, "from_ts": from, "to_ts": later});
        let backwards = json!({"x": 0.5, "y": 0.5, "from_ts": to, "to_ts": from});
        let off = json!({"x": 1.5, "y": 0.5, "from_ts": from, "to_ts": to});
        let (status, body) = call(json!({"floor_plan_id": plan, "tag_id": tag, "points": [future, backwards, off]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let kinds: Vec<&str> = body["detail"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["in_the_future", "invalid", "out_of_range"], "{body}");
        // Three points at the same place: too few different distances to fit anything.
        let (status, body) = call(json!({"floor_plan_id": plan, "tag_id": tag, "points": [point, point, point]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&body).contains("same distance"), "{body}");
        // Windows without readings.
        let empty = json!({"x": 0.5, "y": 0.5, "from_ts": "2020-01-01T00:00:00Z", "to_ts": "2020-01-01T00:01:00Z"});
        let (status, body) = call(json!({"floor_plan_id": plan, "tag_id": tag, "points": [empty, empty, empty]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&body).contains("0 readings"), "{body}");
        // Neither tag_id nor tag_mac_address; an unknown field.
        let points = json!([point, point, point]);
        let (status, _) = call(json!({"floor_plan_id": plan, "points": points})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = call(json!({"floor_plan_id": plan, "tag_id": tag, "points": points, "bogus": 1})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        // Unknown plan, tag or MAC: 404.
        let (status, body) = call(json!({"floor_plan_id": 999_999, "tag_id": tag, "points": points})).await;
        assert_eq!((status, detail(&body)), (StatusCode::NOT_FOUND, "Floor plan not found".into()));
        let (status, _) = call(json!({"floor_plan_id": plan, "tag_id": 999_999, "points": points})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(json!({"floor_plan_id": plan, "tag_mac_address": "AC:23:3F:99:99:99", "points": points})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // A plan without a size.
        let (_, p) = app.get(&format!("/api/v1/floor-plans/{plan}"), &token).await;
        let bare = app.create_id("/api/v1/floor-plans", &token, json!({"floor_id": p["floor_id"], "name": "No size"})).await;
        let (status, body) = call(json!({"floor_plan_id": bare, "tag_id": tag, "points": points})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&body).contains("width_m"), "{body}");
    }
}
