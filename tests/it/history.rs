//! Position history and heat maps: a tag walks and stands still (real MQTT reports with
//! their own timestamps), the history keeps it downsampled, `/positions/history` replays
//! it and `/floor-plans/{id}/heatmap` shows where it stayed.

use std::sync::atomic::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use rumqttc::QoS;
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, eventually};
use crate::mqtt::{Client, Options};

const TAG: &str = "112233445566";

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A plan of 20 × 10 m with a gateway at each end (West at x 0.1, East at x 0.9, both at
/// y 0.5): the plan's id.
async fn site(app: &TestApp, token: &str) -> i64 {
    let hq = json!({"name": "HQ", "code": "HQ"});
    let plan = json!({"name": "Ground plan", "width_m": 20.0, "height_m": 10.0});
    let plan = app.floor_plan(token, hq, plan).await;
    for (name, mac, x) in [("West", "AC233FC00001", 0.1), ("East", "AC233FC00002", 0.9)] {
        app.create("/api/v1/devices", token, json!({"name": name, "mac_address": mac, "floor_plan_id": plan, "pos_x": x, "pos_y": 0.5}), StatusCode::CREATED)
            .await;
    }
    plan
}

/// Publishes what both gateways heard of `TAG` at `at`, and waits until the pipeline has
/// taken both reports: whatever is published next falls in a later round.
async fn heard(app: &TestApp, gw: &Client, at: DateTime<Utc>, west: i32, east: i32) {
    let received = &app.metrics().ingest_received;
    let target = received.load(Ordering::Relaxed) + 2;
    for (gateway, rssi) in [("AC233FC00001", west), ("AC233FC00002", east)] {
        let payload = json!([{"mac": TAG, "rssi": rssi, "timestamp": at.timestamp()}]).to_string();
        gw.publish(
            &format!("rtls/gateways/{gateway}/beacon"),
            QoS::AtLeastOnce,
            false,
            payload,
        )
        .await;
    }
    assert!(eventually(async || received.load(Ordering::Relaxed) >= target).await);
}

async fn gateway(app: &TestApp) -> Client {
    let password = app.gateway_password.as_deref().unwrap();
    Client::connect(
        app.mqtt_addr.unwrap(),
        Options::new("gw").login("gateway", password),
    )
    .await
    .unwrap()
}

/// The points of the only track of a history answer.
fn points(history: &Value) -> Vec<Value> {
    assert_eq!(
        history["tracks"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );
    history["tracks"][0]["points"].as_array().unwrap().clone()
}

fn ts(point: &Value) -> DateTime<Utc> {
    point["ts"].as_str().unwrap().parse().unwrap()
}

/// The history of `query` over `[from, to)`, once it has `n` points at least.
async fn history_with(
    app: &TestApp,
    token: &str,
    query: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    n: usize,
) -> Value {
    let path = format!(
        "/api/v1/positions/history?{query}&from_ts={}&to_ts={}",
        rfc(from),
        rfc(to)
    );
    let mut last = Value::Null;
    let found = eventually(async || {
        let (status, body) = app.get(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        last = body;
        last["tracks"].as_array().is_some_and(|t| {
            t.iter()
                .map(|t| t["points"].as_array().unwrap().len())
                .sum::<usize>()
                >= n
        })
    })
    .await;
    assert!(found, "{path}: {last}");
    last
}

backend_tests! {
    async fn a_walk_is_kept_downsampled_replayed_and_heated(backend: Backend) {
        // A metre for a move: a tag standing still wanders by tens of centimetres as the two
        // gateways' reports of one second land in one pipeline round or in two (which
        // depends on the machine's load), and this test counts the keepalives.
        let app = TestApp::start_with(backend, |c| {
            c.positions.history_keepalive_seconds = 10;
            c.positions.history_min_move_m = 1.0;
        })
        .await;
        let token = app.admin_token().await;
        let plan = site(&app, &token).await;
        let ana = app.create_id("/api/v1/people", &token, json!({"full_name": "Ana Souza"})).await;
        let bob = app.create_id("/api/v1/people", &token, json!({"full_name": "Bob"})).await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": TAG, "person_id": ana})).await;
        let gw = gateway(&app).await;

        // Two hours ago, by the reports' own clock: 20 s walking from West to East, then
        // 80 s standing by East; one report per gateway and second.
        let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 7200, 0).unwrap();
        for i in 0..100 {
            let (west, east) = if i < 20 { (-50 - 3 * i / 2, -80 + 3 * i / 2) } else { (-80, -50) };
            heard(&app, &gw, t0 + secs(i.into()), west, east).await;
        }
        let window = (t0 - secs(60), t0 + secs(200));
        let by_tag = history_with(&app, &token, &format!("tag_id={tag}"), window, 8).await;
        assert_eq!((by_tag["from_ts"].as_str(), by_tag["truncated"].as_bool()), (Some(rfc(window.0).as_str()), Some(false)));
        let track = &by_tag["tracks"][0];
        assert_eq!((track["tag_id"].as_i64(), track["person_id"].as_i64(), track["person_full_name"].as_str()), (Some(tag), Some(ana), Some("Ana Souza")));
        assert_eq!(track["tag_mac_address"], "11:22:33:44:55:66");
        // Points are written with the readings of the round that made them: once the last
        // reading is stored, so is the last point.
        let stored = &app.metrics().ingest_readings_stored;
        assert!(eventually(async || stored.load(Ordering::Relaxed) >= 200).await);
        let kept = points(&history_with(&app, &token, &format!("tag_id={tag}"), window, 0).await);
        assert!((8..=40).contains(&kept.len()), "downsampled, not one point per second heard (100): {}", kept.len());
        let times: Vec<DateTime<Utc>> = kept.iter().map(ts).collect();
        assert_eq!(times[0], t0, "the first position is always kept");
        assert!(times.windows(2).all(|w| w[1] - w[0] >= secs(2)), "ascending, at most one per interval: {times:?}");
        assert!(times.iter().filter(|t| **t < t0 + secs(20)).count() >= 5, "the walk is kept: {times:?}");
        let gaps: Vec<i64> = times.windows(2).map(|w| (w[1] - w[0]).num_seconds()).collect();
        assert_eq!(&gaps[gaps.len() - 3..], &[10, 10, 10], "standing still: one point per keepalive: {times:?}");
        for p in &kept {
            assert_eq!(p["floor_plan_id"].as_i64(), Some(plan));
            assert!((0.0..=1.0).contains(&p["x"].as_f64().unwrap()) && p["accuracy_m"].as_f64().unwrap() >= 0.5, "{p}");
        }
        let last = kept.last().unwrap();
        assert!(last["x"].as_f64().unwrap() > 0.8, "it stood by East: {last}");

        // The same track by person and by plan.
        let by_person = history_with(&app, &token, &format!("person_id={ana}"), window, kept.len()).await;
        assert_eq!(points(&by_person), kept);
        let by_plan = history_with(&app, &token, &format!("floor_plan_id={plan}"), window, kept.len()).await;
        assert_eq!(points(&by_plan), kept);
        let (_, nobody) = app.get(&format!("/api/v1/positions/history?person_id={bob}&from_ts={}&to_ts={}", rfc(window.0), rfc(window.1)), &token).await;
        assert_eq!(nobody["tracks"], json!([]));
        let (_, limited) = app.get(&format!("/api/v1/positions/history?tag_id={tag}&limit=3&from_ts={}&to_ts={}", rfc(window.0), rfc(window.1)), &token).await;
        assert_eq!((points(&limited).len(), limited["truncated"].as_bool()), (3, Some(true)));
        assert_eq!(points(&limited), kept[..3], "the earliest points");

        // The heat map: each point dwells until the next (at most two keepalives), the
        // last one until the cap.
        let columns = 8;
        let heat_path = |extra: &str| format!("/api/v1/floor-plans/{plan}/heatmap?columns={columns}&from_ts={}&to_ts={}{extra}", rfc(window.0), rfc(window.1));
        let (status, heat) = app.get(&heat_path(""), &token).await;
        assert_eq!(status, StatusCode::OK, "{heat}");
        assert_eq!((heat["floor_plan_id"].as_i64(), heat["columns"].as_i64(), heat["rows"].as_i64()), (Some(plan), Some(8), Some(4)), "rows from the plan's 2:1 shape");
        let cells: Vec<f64> = heat["cells"].as_array().unwrap().iter().map(|c| c.as_f64().unwrap()).collect();
        assert_eq!(cells.len(), 32);
        let dwell: f64 = gaps.iter().map(|g| (*g).min(20) as f64).sum::<f64>() + 20.0;
        let total = heat["total_seconds"].as_f64().unwrap();
        assert!((total - dwell).abs() < 0.01 && (cells.iter().sum::<f64>() - total).abs() < 0.01, "{total} vs {dwell}: {heat}");
        // Every cell, computed here from the kept points: each dwells in its cell until the
        // next (at most 20 s), the last one 20 s.
        let cell = |v: f64, n: usize| ((v * n as f64) as usize).min(n - 1);
        let cell_of = |p: &Value| cell(p["y"].as_f64().unwrap(), 4) * columns + cell(p["x"].as_f64().unwrap(), columns);
        let mut expected = vec![0.0; 32];
        for (p, dwell) in kept.iter().zip(gaps.iter().map(|g| (*g).min(20) as f64).chain([20.0])) {
            expected[cell_of(p)] += dwell;
        }
        assert!(cells.iter().zip(&expected).all(|(c, e)| (c - e).abs() < 0.01), "{expected:?} vs {heat}");
        // The tag stood still by East, in one cell or across a border between two: the
        // hottest cell is in the column where it stood.
        let hottest = cells.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(hottest % columns, cell_of(last) % columns, "the hottest cell is where the tag stood: {heat}");
        assert_eq!(heat["max_seconds"].as_f64(), Some(cells[hottest]));
        assert_eq!(heat["people_count"].as_i64(), Some(1));

        // Filtered by person and by group.
        let (_, hers) = app.get(&heat_path(&format!("&person_id={ana}")), &token).await;
        assert_eq!(hers["cells"], heat["cells"]);
        let group = app.create_id("/api/v1/person-groups", &token, json!({"name": "Visitors"})).await;
        let (status, _) = app.put(&format!("/api/v1/person-groups/{group}/people"), &token, json!({"people_ids": [bob]})).await;
        assert_eq!(status, StatusCode::OK);
        let (_, visitors) = app.get(&heat_path(&format!("&group_id={group}")), &token).await;
        assert_eq!((visitors["total_seconds"].as_f64(), visitors["people_count"].as_i64()), (Some(0.0), Some(0)));
        let (_, not_her) = app.get(&heat_path(&format!("&group_id={group}&person_id={ana}")), &token).await;
        assert_eq!(not_her["total_seconds"].as_f64(), Some(0.0), "the person must be in the group");
    }

    async fn a_deleted_tag_and_a_restart_leave_no_memory_behind(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        site(&app, &token).await;
        let old = app.create_id("/api/v1/tags", &token, json!({"mac_address": TAG})).await;
        let gw = gateway(&app).await;
        let t0 = DateTime::from_timestamp(Utc::now().timestamp() - 600, 0).unwrap();
        let window = (t0 - secs(60), t0 + secs(60));
        heard(&app, &gw, t0, -55, -75).await;
        history_with(&app, &token, &format!("tag_id={old}"), window, 1).await;
        let remembered = || app.metrics().position_history_tags.load(Ordering::Relaxed);
        assert!(eventually(async || remembered() == 1).await, "the recorder remembers the tag");

        // Deleted: forgotten, its history gone with it; the same MAC registered again is a
        // new tag, whose first point is kept.
        assert_eq!(app.delete(&format!("/api/v1/tags/{old}"), &token).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || remembered() == 0).await, "the recorder forgot the deleted tag");
        let path = format!("/api/v1/positions/history?tag_id={old}&from_ts={}&to_ts={}", rfc(window.0), rfc(window.1));
        let (status, body) = app.get(&path, &token).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Tag not found"));
        let new = app.create_id("/api/v1/tags", &token, json!({"mac_address": TAG})).await;
        assert!(new > old, "ids are never reused");
        heard(&app, &gw, t0 + secs(1), -55, -75).await;
        let history = history_with(&app, &token, &format!("tag_id={new}"), window, 1).await;
        assert_eq!(ts(&points(&history)[0]), t0 + secs(1));
        assert_eq!(history["tracks"][0]["person_id"], Value::Null, "nobody carries it");

        // After a restart the memory is empty: the next point is kept, even one second on.
        let app = app.restart().await;
        let token = app.admin_token().await;
        let gw = gateway(&app).await;
        heard(&app, &gw, t0 + secs(2), -55, -75).await;
        let history = history_with(&app, &token, &format!("tag_id={new}"), window, 2).await;
        let times: Vec<DateTime<Utc>> = points(&history).iter().map(ts).collect();
        assert_eq!(times, [t0 + secs(1), t0 + secs(2)]);
    }

    async fn old_points_are_deleted_by_the_retention_job(backend: Backend) {
        use securityvision::store::history::HistoryPoint;
        use securityvision::store::readings::IngestBatch;
        let app = TestApp::start_with(backend, |c| c.positions.history_retention_days = 30).await;
        let token = app.admin_token().await;
        let plan = site(&app, &token).await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": TAG})).await;
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let point = |days: i64| HistoryPoint { tag_id: tag, floor_plan_id: plan, ts: now - chrono::Duration::days(days), x: 0.5, y: 0.5, accuracy_m: None };
        let batch = IngestBatch { history: vec![point(40), point(31), point(29), point(0)], ..Default::default() };
        app.store.store_ingest_batch(&batch).await.unwrap();
        let around = |days: i64| {
            let at = now - chrono::Duration::days(days);
            (at - secs(3600), at + secs(3600))
        };
        for days in [40, 31, 29, 0] {
            history_with(&app, &token, &format!("tag_id={tag}"), around(days), 1).await;
        }
        // The job runs at start, then hourly.
        let app = app.restart().await;
        let token = app.admin_token().await;
        let left = async |days: i64| {
            let (from, to) = around(days);
            let path = format!("/api/v1/positions/history?tag_id={tag}&from_ts={}&to_ts={}", rfc(from), rfc(to));
            app.get(&path, &token).await.1["tracks"].as_array().unwrap().len()
        };
        assert!(eventually(async || left(40).await == 0 && left(31).await == 0).await, "points older than 30 days are deleted");
        assert_eq!((left(29).await, left(0).await), (1, 1), "younger points stay");
    }

    async fn points_of_a_tag_or_plan_deleted_meanwhile_do_not_fail_the_batch(backend: Backend) {
        use securityvision::store::history::HistoryPoint;
        use securityvision::store::readings::IngestBatch;
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let plan = site(&app, &token).await;
        let tag = app.create_id("/api/v1/tags", &token, json!({"mac_address": TAG})).await;
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let point = |tag_id, floor_plan_id, seconds| HistoryPoint { tag_id, floor_plan_id, ts: now - secs(seconds), x: 0.5, y: 0.5, accuracy_m: Some(1.0) };
        // Written by the pipeline just before the tag or the plan went.
        let batch = IngestBatch { history: vec![point(tag, plan, 30), point(999_999, plan, 20), point(tag, 999_999, 10)], ..Default::default() };
        app.store.store_ingest_batch(&batch).await.unwrap();
        let history = history_with(&app, &token, &format!("tag_id={tag}"), (now - secs(60), now), 1).await;
        assert_eq!(points(&history).len(), 1, "the rest of the batch is stored: {history}");
    }

    async fn bad_requests_are_refused_with_a_detail(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let plan = site(&app, &admin).await;
        let ana = app.create_id("/api/v1/people", &admin, json!({"full_name": "Ana"})).await;
        let tag = app.create_id("/api/v1/tags", &admin, json!({"mac_address": TAG, "person_id": ana})).await;
        let group = app.create_id("/api/v1/person-groups", &admin, json!({"name": "Staff"})).await;
        let hour = "from_ts=2026-12-01T14:00:00Z&to_ts=2026-12-01T15:00:00Z";
        let (_, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        for path in [
            format!("/api/v1/positions/history?tag_id={tag}&{hour}"),
            format!("/api/v1/positions/history/?person_id={ana}&{hour}"),
            format!("/api/v1/positions/history?floor_plan_id={plan}&{hour}&limit=200000"),
            format!("/api/v1/positions/history?person_id={ana}&floor_plan_id={plan}&from_ts=2026-12-01T00:00:00Z&to_ts=2026-12-02T00:00:00Z"),
            format!("/api/v1/floor-plans/{plan}/heatmap?{hour}"),
            format!("/api/v1/floor-plans/{plan}/heatmap?group_id={group}&person_id={ana}&columns=200&from_ts=2026-10-31T00:00:00Z&to_ts=2026-12-01T00:00:00Z"),
        ] {
            let (status, body) = app.get(&path, &operator).await;
            assert_eq!(status, StatusCode::OK, "an operator reads {path}: {body}");
            let (status, _) = app.call(reqwest::Method::GET, &path, None, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without a token");
        }
        let history = "/api/v1/positions/history";
        let heatmap = format!("/api/v1/floor-plans/{plan}/heatmap");
        for (path, expected) in [
            (format!("{history}?{hour}"), StatusCode::UNPROCESSABLE_ENTITY), // no selector
            (format!("{history}?tag_id={tag}"), StatusCode::UNPROCESSABLE_ENTITY), // no window
            (format!("{history}?tag_id={tag}&from_ts=2026-12-01T14:00:00Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id={tag}&from_ts=2026-12-01T15:00:00Z&to_ts=2026-12-01T14:00:00Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id={tag}&from_ts=2026-12-01T15:00:00Z&to_ts=2026-12-01T15:00:00Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id={tag}&from_ts=2026-12-01T00:00:00Z&to_ts=2026-12-02T00:00:01Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id={tag}&from_ts=yesterday&to_ts=2026-12-01T15:00:00Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id=abc&{hour}"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id={tag}&{hour}&limit=0"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id={tag}&{hour}&limit=200001"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{history}?tag_id=999999&{hour}"), StatusCode::NOT_FOUND),
            (format!("{history}?person_id=999999&{hour}"), StatusCode::NOT_FOUND),
            (format!("{history}?floor_plan_id=999999&{hour}"), StatusCode::NOT_FOUND),
            (format!("/api/v1/floor-plans/999999/heatmap?{hour}"), StatusCode::NOT_FOUND),
            (format!("{heatmap}?{hour}&group_id=999999"), StatusCode::NOT_FOUND),
            (format!("{heatmap}?{hour}&person_id=999999"), StatusCode::NOT_FOUND),
            (format!("{heatmap}?{hour}&columns=3"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{heatmap}?{hour}&columns=201"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{heatmap}?from_ts=2026-12-01T15:00:00Z&to_ts=2026-12-01T14:00:00Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{heatmap}?from_ts=2026-10-31T00:00:00Z&to_ts=2026-12-01T00:00:01Z"), StatusCode::UNPROCESSABLE_ENTITY),
            (format!("{heatmap}?to_ts=2026-12-01T14:00:00Z"), StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let (status, body) = app.get(&path, &admin).await;
            assert_eq!(status, expected, "{path}: {body}");
            assert!(!detail(&body).is_empty() && body["detail"] != Value::Null, "{path}: {body}");
        }
    }
}
