//! What the API says and what the pipeline does agree (issue 12): ids are never handed out
//! twice, an API write is seen by the very next report, deleted objects leave no state
//! behind, a posted reading counts like a report, positions survive a restart, a camera's
//! topics are there when its create answers, a gateway saying `offline` is offline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::QoS;
use serde_json::json;

use securityvision::store::readings::{IngestBatch, NewReading, ReadingFilter};

use crate::common::{Backend, TestApp, backend_tests, eventually, eventually_within, id};
use crate::mqtt::{Client, Options};

async fn gateway_client(app: &TestApp) -> Client {
    let password = app.gateway_password.as_deref().unwrap();
    Client::connect(
        app.mqtt_addr.unwrap(),
        Options::new("gw").login("gateway", password),
    )
    .await
    .unwrap()
}

/// Reports `tag` heard by `gateway` (MACs without separators) at `rssi`, QoS 1.
async fn report(gw: &Client, gateway: &str, tag: &str, rssi: i32) {
    let payload = json!({"tag_mac": tag, "rssi": rssi}).to_string();
    let topic = format!("rtls/gateways/{gateway}/beacon");
    gw.publish(&topic, QoS::AtLeastOnce, false, payload).await;
}

/// A building, floor and plan; returns the plan's id.
async fn plan(app: &TestApp, token: &str, code: &str) -> i64 {
    let building = json!({"name": format!("Building {code}"), "code": code});
    let plan = json!({"name": format!("Plan {code}")});
    app.floor_plan(token, building, plan).await
}

async fn gateway(app: &TestApp, token: &str, mac: &str, plan: i64, x: f64) -> i64 {
    let body = json!({"name": format!("GW {mac}"), "mac_address": mac, "floor_plan_id": plan, "pos_x": x, "pos_y": 0.5});
    id(&app
        .create("/api/v1/devices", token, body, StatusCode::CREATED)
        .await)
}

/// A person carrying a tag; returns (person, tag).
async fn person_with_tag(app: &TestApp, token: &str, name: &str, mac: &str) -> (i64, i64) {
    let person = json!({"full_name": name});
    let person = id(&app
        .create("/api/v1/people", token, person, StatusCode::CREATED)
        .await);
    let tag = json!({"mac_address": mac, "person_id": person});
    let tag = id(&app
        .create("/api/v1/tags", token, tag, StatusCode::CREATED)
        .await);
    (person, tag)
}

/// Every positioned person (no time window): person id → device id.
async fn positions(app: &TestApp, token: &str, query: &str) -> Vec<(i64, i64)> {
    let path = format!("/api/v1/positions/current?max_age_seconds=0{query}");
    let (status, rows) = app.get(&path, token).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["person_id"].as_i64().unwrap(),
                r["device_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn device_of(app: &TestApp, token: &str, person: i64) -> Option<i64> {
    positions(app, token, "")
        .await
        .into_iter()
        .find(|(p, _)| *p == person)
        .map(|(_, d)| d)
}

backend_tests! {
    async fn ids_of_deleted_objects_are_never_handed_out_again(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let create_all = async || {
            let plan = plan(&app, &token, "HQ").await;
            let (_, floor) = app.get(&format!("/api/v1/floor-plans/{plan}"), &token).await;
            let floor = floor["floor_id"].as_i64().unwrap();
            let (_, building) = app.get(&format!("/api/v1/floors/{floor}"), &token).await;
            let building = building["building_id"].as_i64().unwrap();
            let gateway = gateway(&app, &token, "AC233FC00001", plan, 0.5).await;
            let (person, tag) = person_with_tag(&app, &token, "Ana", "112233445566").await;
            let user = app.user_token(&token, "someone@example.com", "OPERATOR").await.0;
            [("buildings", building), ("floors", floor), ("floor-plans", plan), ("devices", gateway), ("people", person), ("tags", tag), ("users", user)]
        };
        let first = create_all().await;
        for (path, id) in first.iter().rev() {
            assert_eq!(app.delete(&format!("/api/v1/{path}/{id}"), &token).await, StatusCode::NO_CONTENT, "{path}/{id}");
        }
        let again = create_all().await;
        for ((path, old), (_, new)) in first.iter().zip(again.iter()) {
            assert!(new > old, "{path}: the new object got id {new}, the deleted one had {old}");
        }
    }
}

backend_tests! {
    // A tag's and a gateway's readings are found whether or not SQLite's tag and gateway
    // indexes have taken them in yet (migrations 0024, 0025: merged once 3 new ones have
    // come, here): listed newest first across pages and with both filters, read in
    // calibration windows, deleted one by one, with their tag and with their gateway; and
    // none is written for a tag or a gateway deleted meanwhile.
    async fn readings_are_found_before_and_after_the_tag_and_gateway_indexes_take_them(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.database.sqlite_index_merge_rows = 3).await;
        let token = app.admin_token().await;
        let hq = plan(&app, &token, "HQ").await;
        let g1 = gateway(&app, &token, "AC233FC00001", hq, 0.2).await;
        let g2 = gateway(&app, &token, "AC233FC00002", hq, 0.8).await;
        let (_, ana) = person_with_tag(&app, &token, "Ana", "112233445566").await;
        let (_, bea) = person_with_tag(&app, &token, "Bea", "112233445577").await;
        // Seven batches of two, as the pipeline writes them, each followed by what the writer
        // does after a batch: merges of three after the 2nd, 3rd, 5th and 6th leave the last
        // two past the watermark. (The running writer, idle, may merge a slice first: the
        // same slices.)
        let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
        let at = |i: i64| t0 + chrono::Duration::seconds(i);
        for i in 0..7 {
            let mut batch = IngestBatch::default();
            let ana_at = if i % 2 == 0 { g1 } else { g2 };
            for (tag_id, device_id) in [(ana, ana_at), (bea, g1)] {
                let rssi = Some(-60 - i as i32);
                batch.readings.push(NewReading { device_id, tag_id, rssi, created_at: at(i) });
            }
            app.store.store_ingest_batch(&batch).await.unwrap();
            app.store.merge_reading_indexes_when_due(false).await.unwrap();
        }
        let count = async |sql: &str| app.sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}")).await.unwrap();
        let merged = match backend {
            Backend::Sqlite => "12",
            Backend::Postgres => "14", // every reading: its indexes are kept at insert
        };
        assert_eq!(count("collection_logs_by_tag").await, merged);
        assert_eq!(count("collection_logs_by_device").await, merged);
        // One more through the broker: the newest.
        let gw = gateway_client(&app).await;
        report(&gw, "AC233FC00002", "112233445566", -50).await;
        assert!(eventually(async || readings_of(&app, &token, ana).await == 8).await);

        let list = async |query: &str| -> Vec<(i64, i64, i64)> {
            let (status, body) = app.get(&format!("/api/v1/collection-logs?tag_id={ana}{query}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array().unwrap().iter().map(|r| (r["device_id"].as_i64().unwrap(), r["rssi"].as_i64().unwrap(), id(r))).collect()
        };
        let all = list("").await;
        let heard: Vec<(i64, i64)> = all.iter().map(|&(device, rssi, _)| (device, rssi)).collect();
        assert_eq!(heard, [(g2, -50), (g1, -66), (g2, -65), (g1, -64), (g2, -63), (g1, -62), (g2, -61), (g1, -60)]);
        assert_eq!(list("&skip=2&limit=3").await, all[2..5]);
        assert_eq!(list("&skip=6&limit=5").await, all[6..]);
        let at_g1: Vec<_> = all.iter().filter(|r| r.0 == g1).cloned().collect();
        assert_eq!(list(&format!("&device_id={g1}")).await, at_g1);
        // A gateway's list: the same readings as the whole list's at that gateway, in order.
        let ids = async |query: &str| -> Vec<i64> {
            let (status, body) = app.get(&format!("/api/v1/collection-logs?{query}"), &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body.as_array().unwrap().iter().filter(|r| query.contains("device_id") || r["device_id"] == g1).map(id).collect()
        };
        let g1_readings = ids("limit=100").await;
        assert_eq!(g1_readings.len(), 11, "Ana's 4 and Bea's 7 at g1");
        assert_eq!(ids(&format!("device_id={g1}&limit=100")).await, g1_readings);
        assert_eq!(ids(&format!("device_id={g1}&skip=3&limit=4")).await, g1_readings[3..7]);
        assert_eq!(ids(&format!("device_id={g1}&skip=9&limit=5")).await, g1_readings[9..]);
        let window = app.store.tag_readings_between(ana, at(1), at(6), 100).await.unwrap();
        let rssi: Vec<Option<i32>> = window.iter().map(|r| r.rssi).collect();
        assert_eq!(rssi, [Some(-61), Some(-62), Some(-63), Some(-64), Some(-65), Some(-66)]);

        // One deleted by an administrator (a merged one): gone from the list and the index.
        let oldest = all[7].2;
        assert_eq!(app.delete(&format!("/api/v1/collection-logs/{oldest}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(list("").await, all[..7]);
        assert_eq!(count(&format!("collection_logs_by_tag WHERE id = {oldest}")).await, "0");
        assert_eq!(count(&format!("collection_logs_by_device WHERE id = {oldest}")).await, "0");

        // The tag deleted: every reading of it goes, merged or not; Bea's stay.
        assert_eq!(app.delete(&format!("/api/v1/tags/{ana}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(count(&format!("collection_logs WHERE tag_id = {ana}")).await, "0");
        assert_eq!(count(&format!("collection_logs_by_tag WHERE tag_id = {ana}")).await, "0");
        assert_eq!(readings_of(&app, &token, bea).await, 7);

        // A batch naming the deleted tag (the pipeline's view a moment old) stores the rest.
        let mut batch = IngestBatch::default();
        for tag_id in [ana, bea] {
            batch.readings.push(NewReading { device_id: g1, tag_id, rssi: Some(-70), created_at: at(10) });
        }
        app.store.store_ingest_batch(&batch).await.unwrap();
        assert_eq!(count(&format!("collection_logs WHERE tag_id = {ana}")).await, "0");
        assert_eq!(readings_of(&app, &token, bea).await, 8);

        // A reading written with its own id before the watermark (an import with kept ids
        // into a database that once held readings) is indexed by `complete_reading_indexes`.
        if backend == Backend::Sqlite {
            app.sql(&format!("INSERT INTO collection_logs (id, device_id, tag_id, rssi, created_at) \
                 VALUES ({oldest}, {g1}, {bea}, -80, '{}')", at(20).to_rfc3339())).await;
            assert_eq!(readings_of(&app, &token, bea).await, 8, "not indexed yet");
            assert_eq!(ids(&format!("device_id={g1}&limit=100")).await.len(), 8, "not indexed yet");
            // That one, and Bea's last reading, still past the watermark.
            assert_eq!(app.store.complete_reading_indexes().await.unwrap(), 2);
            assert_eq!(readings_of(&app, &token, bea).await, 9);
            assert_eq!(ids(&format!("device_id={g1}&limit=100")).await.len(), 9);
        }
        let bea_before = readings_of(&app, &token, bea).await;

        // A reading of Bea's at g2, then g1 deleted: every reading
        // heard there goes, merged or not, from the table and both indexes; g2's stays.
        let mut batch = IngestBatch::default();
        batch.readings.push(NewReading { device_id: g2, tag_id: bea, rssi: Some(-71), created_at: at(30) });
        app.store.store_ingest_batch(&batch).await.unwrap();
        assert_eq!(app.delete(&format!("/api/v1/devices/{g1}"), &token).await, StatusCode::NO_CONTENT);
        for table in ["collection_logs", "collection_logs_by_device", "collection_logs_by_tag"] {
            assert_eq!(count(&format!("{table} WHERE device_id = {g1}")).await, "0", "{table}");
        }
        assert_eq!(readings_of(&app, &token, bea).await, 1);
        assert!(bea_before > 1);
        assert_eq!(ids(&format!("device_id={g1}")).await, Vec::<i64>::new());

        // A batch naming the deleted gateway stores the rest.
        let mut batch = IngestBatch::default();
        for device_id in [g1, g2] {
            batch.readings.push(NewReading { device_id, tag_id: bea, rssi: Some(-72), created_at: at(31) });
        }
        app.store.store_ingest_batch(&batch).await.unwrap();
        assert_eq!(count(&format!("collection_logs WHERE device_id = {g1}")).await, "0");
        assert_eq!(readings_of(&app, &token, bea).await, 2);
        assert_eq!(ids(&format!("device_id={g2}&limit=100")).await.len(), 2, "Bea's two at g2");
    }
}

backend_tests! {
    // The running writer merges SQLite's new readings into its indexes by itself, a slice at
    // a time (after a batch, the presence sessions' included, or after a second without
    // one): a report of seven readings with merges of three leaves one past the watermark.
    async fn the_writer_merges_what_is_due_a_slice_at_a_time(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.database.sqlite_index_merge_rows = 3).await;
        let token = app.admin_token().await;
        let hq = plan(&app, &token, "HQ").await;
        gateway(&app, &token, "AC233FC00001", hq, 0.2).await;
        let mut records = vec![json!({"type": "Gateway", "mac": "AC233FC00001"})];
        for t in 0..7 {
            let mac = format!("1122334455{t:02X}");
            app.create("/api/v1/tags", &token, json!({"mac_address": mac}), StatusCode::CREATED).await;
            records.push(json!({"type": "iBeacon", "mac": mac, "rssi": -60 - t}));
        }
        let gw = gateway_client(&app).await;
        gw.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, json!(records).to_string()).await;
        let merged = match backend {
            Backend::Sqlite => "6",
            Backend::Postgres => "7", // every reading: its indexes are kept at insert
        };
        let count = async |table: &str| app.sql_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}")).await.unwrap();
        assert!(eventually(async || count("collection_logs").await == "7").await);
        assert!(eventually(async || count("collection_logs_by_tag").await == merged).await);
        assert_eq!(count("collection_logs_by_device").await, merged);
    }
}

/// SQLite's merges come in slices of `database.sqlite_index_merge_rows` ids; while the writer
/// is saturated they wait until four slices' worth are past the watermark; a reading is found
/// in its tag's and its gateway's lists whether merged or not. (The store alone: no writer
/// task that merges by itself.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_merges_come_in_slices_and_wait_while_the_writer_is_saturated() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("merges.db").display());
    let config = securityvision::config::DatabaseConfig {
        sqlite_index_merge_rows: 3,
        ..Default::default()
    };
    let store = securityvision::store::Store::open(&url, &config)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let pool = sqlite_pool(&url).await;
    sqlx::raw_sql(
        "INSERT INTO devices (id, name, type, mac_address, created_at, updated_at) VALUES \
             (1, 'GW', 'BLE_GATEWAY', 'AC233FC00001', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO tags (id, mac_address, created_at, updated_at) VALUES \
             (1, '112233445566', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let merged = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM collection_logs_by_tag")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let t0 = chrono::Utc::now();
    let mut written = 0;
    let mut write = async |n: i64| {
        let mut batch = IngestBatch::default();
        for i in written..written + n {
            let created_at = t0 + chrono::Duration::seconds(i);
            batch.readings.push(NewReading {
                device_id: 1,
                tag_id: 1,
                rssi: Some(-60),
                created_at,
            });
        }
        written += n;
        store.store_ingest_batch(&batch).await.unwrap();
    };
    write(11).await;
    assert_eq!(
        store.merge_reading_indexes_when_due(true).await.unwrap(),
        0,
        "11 waiting, 12 due while saturated"
    );
    write(1).await;
    assert_eq!(
        store.merge_reading_indexes_when_due(true).await.unwrap(),
        3,
        "one slice"
    );
    assert_eq!(merged().await, 3);
    assert_eq!(
        store.merge_reading_indexes_when_due(true).await.unwrap(),
        0,
        "9 waiting"
    );
    for _ in 0..3 {
        assert_eq!(
            store.merge_reading_indexes_when_due(false).await.unwrap(),
            3
        );
    }
    assert_eq!(
        store.merge_reading_indexes_when_due(false).await.unwrap(),
        0,
        "none waiting"
    );
    assert_eq!(merged().await, 12);
    write(2).await;
    assert_eq!(
        store.merge_reading_indexes_when_due(false).await.unwrap(),
        0,
        "two waiting, three due"
    );
    let newest: Vec<i64> = store
        .list_readings(
            ReadingFilter {
                device_id: None,
                tag_id: Some(1),
            },
            0,
            100,
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(newest, (1..=14).rev().collect::<Vec<i64>>());
    let at_gateway = store
        .list_readings(
            ReadingFilter {
                device_id: Some(1),
                tag_id: None,
            },
            0,
            100,
        )
        .await
        .unwrap();
    assert_eq!(at_gateway.len(), 14);
}

/// One connection to the SQLite database at `url` (created if missing), foreign keys on.
async fn sqlite_pool(url: &str) -> sqlx::SqlitePool {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr;

    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap()
}

/// A database made by the previous version (migrations up to 0006, with rows, references
/// and deleted rows) is rebuilt by 0007 with its data, indexes and foreign keys intact, and
/// its ids continue after every id ever handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_rebuild_keeps_rows_references_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("previous.db").display());
    let pool = sqlite_pool(&url).await;
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    migrator.run_to(6, &pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO buildings (id, name, code, created_at, updated_at) VALUES \
             (1, 'HQ', 'HQ', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'), \
             (2, 'Annex', 'AX', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'), \
             (3, 'Gone', 'GO', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO floors (id, building_id, name, level, created_at, updated_at) VALUES \
             (1, 1, 'Ground', 0, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'), \
             (2, 2, 'Annex ground', 0, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO floor_plans (id, floor_id, name, width_m, height_m, created_at, updated_at) VALUES \
             (1, 1, 'Plan', 40, 30, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO devices (id, floor_plan_id, building_id, floor_id, name, type, mac_address, pos_x, pos_y, \
             rssi_at_1m, created_at, updated_at) VALUES \
             (1, 1, 1, 1, 'West', 'BLE_GATEWAY', 'AC233FC00001', 0.1, 0.5, -55, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'), \
             (2, NULL, 2, 2, 'Lobby cam', 'CAMERA', NULL, NULL, NULL, NULL, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO people (id, full_name, created_at, updated_at) VALUES \
             (1, 'Ana', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO tags (id, mac_address, person_id, created_at, updated_at) VALUES \
             (1, '112233445566', 1, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO collection_logs (id, device_id, tag_id, rssi, created_at) VALUES \
             (1, 1, 1, -60, '2024-01-01T00:00:01Z'), (2, 1, 1, -61, '2024-01-01T00:00:02Z'); \
         INSERT INTO presence_sessions (id, device_id, tag_id, started_at, ended_at, is_open) VALUES \
             (1, 1, 1, '2024-01-01T00:00:01Z', '2024-01-01T00:00:02Z', 0); \
         INSERT INTO person_groups (id, name, created_at, updated_at) VALUES \
             (1, 'Staff', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO person_group_memberships (person_id, group_id) VALUES (1, 1); \
         INSERT INTO device_events (id, device_id, topic, analytic_type, payload, occurred_at, created_at, \
             dedup_key, person_id) VALUES \
             (1, 2, 'rtls/cameras/x/info', 'faceCapture', '{}', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z', 'k1', 1); \
         INSERT INTO incidents (id, device_id, device_event_id, kind, status, severity, title, created_at, updated_at) VALUES \
             (1, 2, 1, 'face', 'OPEN', 'HIGH', 'Someone', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z'); \
         INSERT INTO audit_log (occurred_at, action, entity, entity_id, details) VALUES \
             ('2024-01-01T00:00:00Z', 'create', 'building', 3, '{}'), \
             ('2024-01-01T00:00:00Z', 'create', 'tag', 7, '{}'), \
             ('2024-01-01T00:00:00Z', 'delete', 'tag', 7, '{}'); \
         DELETE FROM buildings WHERE id = 3;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let objects = "SELECT type || ' ' || name || ' ' || tbl_name FROM sqlite_master \
         WHERE name <> 'sqlite_sequence' AND name NOT LIKE '_sqlx%' ORDER BY name";
    let before: Vec<String> = sqlx::query_scalar(objects).fetch_all(&pool).await.unwrap();
    pool.close().await;

    // The new version migrates it on start (keeping the old readings).
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.database.url = Some(url.clone());
        c.ingest.retention_days = 0;
    })
    .await;
    let pool = sqlite_pool(&url).await;
    let after: Vec<String> = sqlx::query_scalar(objects).fetch_all(&pool).await.unwrap();
    // Later migrations add their own tables and indexes, and may replace an index on
    // purpose (0020: one-column indexes by (column, time) pairs).
    let replaced = indexes_dropped_after(7);
    let kept: Vec<&String> = after.iter().filter(|o| before.contains(o)).collect();
    let expected: Vec<&String> = before
        .iter()
        .filter(|o| {
            !replaced
                .iter()
                .any(|name| o.starts_with(&format!("index {name} ")))
        })
        .collect();
    assert_eq!(
        kept, expected,
        "every table and index is back under its name"
    );
    let plain: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND sql LIKE '%id %INTEGER PRIMARY KEY,%' AND sql NOT LIKE '%AUTOINCREMENT%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        plain.is_empty(),
        "tables that may still reuse ids: {plain:?}"
    );
    let violations: Vec<String> =
        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(violations.is_empty(), "{violations:?}");
    let enforced: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(enforced, 1);
    pool.close().await;

    // The rows, read through the API.
    let token = app.admin_token().await;
    let (_, device) = app.get("/api/v1/devices/1", &token).await;
    assert_eq!(
        (
            device["floor_plan_id"].as_i64(),
            device["rssi_at_1m"].as_f64(),
            device["mac_address"].as_str()
        ),
        (Some(1), Some(-55.0), Some("AC:23:3F:C0:00:01"))
    );
    let (_, tag) = app.get("/api/v1/tags/1", &token).await;
    assert_eq!(tag["person_id"].as_i64(), Some(1));
    let (_, logs) = app.get("/api/v1/collection-logs?tag_id=1", &token).await;
    assert_eq!(logs.as_array().unwrap().len(), 2);
    let (_, plan) = app.get("/api/v1/floor-plans/1", &token).await;
    assert_eq!(plan["width_m"].as_f64(), Some(40.0));
    let (_, members) = app.get("/api/v1/person-groups/1/people", &token).await;
    assert_eq!(members[0]["id"].as_i64(), Some(1), "{members}");
    assert_eq!(
        app.sql_text("SELECT CAST(device_event_id AS TEXT) FROM incidents WHERE id = 1")
            .await
            .as_deref(),
        Some("1")
    );

    // The foreign keys still act: deleting the building takes its floor and plan, and the
    // gateway is then on no plan.
    assert_eq!(
        app.delete("/api/v1/buildings/1", &token).await,
        StatusCode::NO_CONTENT
    );
    let (_, device) = app.get("/api/v1/devices/1", &token).await;
    assert_eq!(
        (
            device["floor_plan_id"].as_i64(),
            device["building_id"].as_i64()
        ),
        (None, None)
    );
    assert_eq!(
        app.get("/api/v1/floors/1", &token).await.0,
        StatusCode::NOT_FOUND
    );

    // New ids come after every id handed out: the deleted building 3 and tag 7 (named by
    // the audit log) and the building 1 just deleted.
    for (path, body, expected) in [
        (
            "/api/v1/buildings",
            json!({"name": "New", "code": "NEW"}),
            4,
        ),
        ("/api/v1/tags", json!({"mac_address": "112233445577"}), 8),
        (
            "/api/v1/devices",
            json!({"name": "East", "mac_address": "AC233FC00002"}),
            3,
        ),
    ] {
        let created = app.create(path, &token, body, StatusCode::CREATED).await;
        assert_eq!(id(&created), expected, "the next id of {path}");
    }
    app.stop().await;
}

backend_tests! {
    async fn a_deleted_gateway_or_tag_leaves_no_state_behind(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let gw = gateway_client(&app).await;
        let hq = plan(&app, &token, "HQ").await;
        let g1 = gateway(&app, &token, "AC233FC00001", hq, 0.2).await;
        let g2 = gateway(&app, &token, "AC233FC00002", hq, 0.8).await;
        let (ana, _) = person_with_tag(&app, &token, "Ana", "112233445566").await;
        report(&gw, "AC233FC00001", "112233445566", -61).await;
        report(&gw, "AC233FC00002", "112233445566", -45).await;
        assert!(eventually(async || device_of(&app, &token, ana).await == Some(g2)).await, "Ana is at G2");

        // G2 goes: Ana's next report, at G1, places her there (its old stronger signal at
        // G2 no longer holds her at a gateway that does not exist).
        assert_eq!(app.delete(&format!("/api/v1/devices/{g2}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(device_of(&app, &token, ana).await, None, "nowhere until heard again");
        report(&gw, "AC233FC00001", "112233445566", -61).await;
        assert!(eventually(async || device_of(&app, &token, ana).await == Some(g1)).await, "{:?}", positions(&app, &token, "").await);

        // The issue's repro: everything deleted and created again with one gateway.
        let g2 = gateway(&app, &token, "AC233FC00002", hq, 0.8).await;
        report(&gw, "AC233FC00002", "112233445566", -45).await;
        assert!(eventually(async || device_of(&app, &token, ana).await == Some(g2)).await);
        let (_, tags) = app.get("/api/v1/tags", &token).await;
        for tag in tags.as_array().unwrap() {
            assert_eq!(app.delete(&format!("/api/v1/tags/{}", id(tag)), &token).await, StatusCode::NO_CONTENT);
        }
        assert_eq!(app.delete(&format!("/api/v1/people/{ana}"), &token).await, StatusCode::NO_CONTENT);
        for g in [g1, g2] {
            assert_eq!(app.delete(&format!("/api/v1/devices/{g}"), &token).await, StatusCode::NO_CONTENT);
        }
        let (_, plan_row) = app.get(&format!("/api/v1/floor-plans/{hq}"), &token).await;
        let floor = plan_row["floor_id"].as_i64().unwrap();
        let (_, floor_row) = app.get(&format!("/api/v1/floors/{floor}"), &token).await;
        let building = floor_row["building_id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/floor-plans/{hq}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/api/v1/floors/{floor}"), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/api/v1/buildings/{building}"), &token).await, StatusCode::NO_CONTENT);

        let again = plan(&app, &token, "HQ").await;
        let g1 = gateway(&app, &token, "AC233FC00001", again, 0.2).await;
        let (bea, _) = person_with_tag(&app, &token, "Bea", "112233445566").await;
        report(&gw, "AC233FC00001", "112233445566", -61).await;
        let query = format!("&floor_plan_id={again}");
        assert!(eventually(async || positions(&app, &token, &query).await == vec![(bea, g1)]).await, "{:?}", positions(&app, &token, "").await);
    }

    async fn a_tag_that_changes_mac_or_person_or_a_gateway_that_changes_plan_starts_afresh(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let gw = gateway_client(&app).await;
        let hq = plan(&app, &token, "HQ").await;
        let annex = plan(&app, &token, "AX").await;
        let g1 = gateway(&app, &token, "AC233FC00001", hq, 0.2).await;
        let g2 = gateway(&app, &token, "AC233FC00002", hq, 0.8).await;
        let (ana, tag) = person_with_tag(&app, &token, "Ana", "112233445566").await;
        let walk_to_g2 = async |mac: &str| {
            report(&gw, "AC233FC00001", mac, -61).await;
            report(&gw, "AC233FC00002", mac, -45).await;
        };

        // Another MAC: another physical tag, heard at G1 only.
        walk_to_g2("112233445566").await;
        assert!(eventually(async || device_of(&app, &token, ana).await == Some(g2)).await);
        let (status, _) = app.put(&format!("/api/v1/tags/{tag}"), &token, json!({"mac_address": "112233445577"})).await;
        assert_eq!(status, StatusCode::OK);
        report(&gw, "AC233FC00001", "112233445577", -61).await;
        assert!(eventually(async || device_of(&app, &token, ana).await == Some(g1)).await, "{:?}", positions(&app, &token, "").await);

        // Another person: where Ana's tag was is not where Bea is.
        walk_to_g2("112233445577").await;
        assert!(eventually(async || device_of(&app, &token, ana).await == Some(g2)).await);
        let bea = app.create_id("/api/v1/people", &token, json!({"full_name": "Bea"})).await;
        app.put(&format!("/api/v1/tags/{tag}"), &token, json!({"person_id": bea})).await;
        let (status, body) = app.get(&format!("/api/v1/people/{bea}/current-location"), &token).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not heard since: {body}");
        assert_eq!(positions(&app, &token, "").await, vec![]);

        // G2 moves to the annex: the tag's signal there no longer places it on the HQ plan.
        walk_to_g2("112233445577").await;
        assert!(eventually(async || device_of(&app, &token, bea).await == Some(g2)).await);
        app.put(&format!("/api/v1/devices/{g2}"), &token, json!({"floor_plan_id": annex})).await;
        report(&gw, "AC233FC00001", "112233445577", -61).await;
        let query = format!("&floor_plan_id={hq}");
        assert!(eventually(async || positions(&app, &token, &query).await == vec![(bea, g1)]).await, "{:?}", positions(&app, &token, "").await);

        // Bea goes: her tag's presence ends with her (not after the 15 s gap).
        let open = format!("SELECT CAST(COUNT(*) AS TEXT) FROM presence_sessions WHERE tag_id = {tag} AND is_open = TRUE");
        assert!(eventually(async || app.sql_text(&open).await.as_deref() == Some("1")).await);
        assert_eq!(app.delete(&format!("/api/v1/people/{bea}"), &token).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || app.sql_text(&open).await.as_deref() == Some("0")).await, "closed");
    }

    async fn a_tag_created_through_the_api_is_matched_by_its_very_next_report(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let gw = gateway_client(&app).await;
        let hq = plan(&app, &token, "HQ").await;
        let g1 = gateway(&app, &token, "AC233FC00001", hq, 0.5).await;
        let mut people = Vec::new();
        for i in 0..100 {
            people.push(app.create_id("/api/v1/people", &token, json!({"full_name": format!("P{i:03}")})).await);
        }
        // Created, then reported at once: no pause between the 201 and the report.
        for (i, person) in people.iter().enumerate() {
            let mac = format!("AC233F1000{i:02X}");
            app.create("/api/v1/tags", &token, json!({"mac_address": mac, "person_id": person}), StatusCode::CREATED).await;
            report(&gw, "AC233FC00001", &mac, -60).await;
        }
        assert!(eventually(async || app.metrics().ingest_received.load(Ordering::Relaxed) == 100).await);
        assert!(eventually(async || positions(&app, &token, "").await.len() == 100).await, "{} of 100 positioned", positions(&app, &token, "").await.len());
        assert!(positions(&app, &token, "").await.iter().all(|(_, d)| *d == g1));
        assert_eq!(app.metrics().ingest_unknown_tags.load(Ordering::Relaxed), 0, "no report found its tag unknown");
    }

    async fn a_new_cameras_topics_are_listed_when_its_create_answers(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let topics = async |cam: i64| -> Vec<(String, String)> {
            let (status, list) = app.get(&format!("/api/v1/devices/{cam}/topics"), &token).await;
            assert_eq!(status, StatusCode::OK);
            let mut all: Vec<(String, String)> = list.as_array().unwrap().iter().map(|t| (t["kind"].as_str().unwrap().into(), t["topic"].as_str().unwrap().into())).collect();
            all.sort();
            all
        };
        let cam = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Gate", "code": "Gate 1", "manufacturer": "Hikvision"})).await;
        let base = "rtls/cameras/default/externo/externo/camera/gate_1";
        let expected = |base: &str, analytics: &[&str]| -> Vec<(String, String)> {
            let mut all: Vec<(String, String)> = analytics.iter().map(|a| ("cambus_event".to_string(), format!("{base}/{a}/events"))).collect();
            all.push(("cambus_info".into(), format!("{base}/info")));
            all.sort();
            all
        };
        assert_eq!(topics(cam).await, expected(base, &["VMD", "faceCapture"]));
        // Without a code the topic names the id the create gave it.
        let plain = app.create_id("/api/v1/devices/cameras", &token, json!({"name": "Plain"})).await;
        assert_eq!(topics(plain).await, expected(&format!("rtls/cameras/default/externo/externo/camera/device{plain}"), &["faceCapture"]));
        // An update answers with its topics in place, the old ones inactive, even while
        // the publisher reconciles (a reconcile that read the camera before the update
        // leaves its topics alone).
        for round in 0..5 {
            let (status, _) = app.put(&format!("/api/v1/devices/cameras/{cam}"), &token, json!({"code": format!("Gate {round}"), "analytics": ["intrusion"]})).await;
            assert_eq!(status, StatusCode::OK);
            for _ in 0..5 {
                assert_eq!(topics(cam).await, expected(&format!("rtls/cameras/default/externo/externo/camera/gate_{round}"), &["intrusion"]), "round {round}");
                // Samples over ~100 ms while the publisher reconciles in the background:
                // the answer must hold at each, whenever the reconcile runs.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        let (_, all) = app.get(&format!("/api/v1/devices/{cam}/topics?only_active=false"), &token).await;
        let active = all.as_array().unwrap().iter().filter(|t| t["is_active"] == json!(true)).count();
        assert_eq!((active, all.as_array().unwrap().len()), (2, 12), "the old topics are kept, inactive: {all}");
    }

    async fn a_posted_collection_log_moves_the_person_like_a_report(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let hq = plan(&app, &token, "HQ").await;
        let g1 = gateway(&app, &token, "AC233FC00001", hq, 0.5).await;
        let (ana, tag) = person_with_tag(&app, &token, "Ana", "112233445566").await;
        let log = app.create("/api/v1/collection-logs", &token, json!({"device_id": g1, "tag_id": tag, "rssi": -60}), StatusCode::CREATED).await;
        assert_eq!(log["tag_id"].as_i64(), Some(tag));
        let (status, location) = app.get(&format!("/api/v1/people/{ana}/current-location"), &token).await;
        assert_eq!((status, location["device_id"].as_i64()), (StatusCode::OK, Some(g1)), "{location}");
        assert_eq!(location["floor_plan_id"].as_i64(), Some(hq));
        assert_eq!(positions(&app, &token, "").await, vec![(ana, g1)]);
        let (_, current) = app.get("/api/v1/positions/current", &token).await;
        assert_eq!(current.as_array().map(Vec::len), Some(1), "within the default window too: {current}");
        let sessions = format!("SELECT CAST(COUNT(*) AS TEXT) FROM presence_sessions WHERE tag_id = {tag} AND device_id = {g1}");
        assert!(eventually(async || app.sql_text(&sessions).await.as_deref() == Some("1")).await, "a presence session");
        assert_eq!(readings_of(&app, &token, tag).await, 1, "stored once");
    }

    async fn positions_are_there_at_once_after_a_restart(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.position_stale_seconds = 600).await;
        let token = app.admin_token().await;
        let hq = plan(&app, &token, "HQ").await;
        let g1 = gateway(&app, &token, "AC233FC00001", hq, 0.2).await;
        let g2 = gateway(&app, &token, "AC233FC00002", hq, 0.8).await;
        let (ana, tag) = person_with_tag(&app, &token, "Ana", "112233445566").await;
        let (bob, _) = person_with_tag(&app, &token, "Bob", "112233445577").await;
        let gw = gateway_client(&app).await;
        report(&gw, "AC233FC00001", "112233445566", -50).await;
        report(&gw, "AC233FC00002", "112233445566", -75).await;
        report(&gw, "AC233FC00002", "112233445577", -60).await;
        assert!(eventually(async || positions(&app, &token, "").await.len() == 2).await);
        let (_, before) = app.get(&format!("/api/v1/people/{ana}/current-location"), &token).await;
        gw.disconnect().await;

        let app = app.restart().await;
        let mut after = positions(&app, &token, "").await;
        after.sort_unstable();
        assert_eq!(after, vec![(ana, g1), (bob, g2)]);
        let (status, location) = app.get(&format!("/api/v1/people/{ana}/current-location"), &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((location["x"].as_f64(), location["last_seen_at"].as_str()), (before["x"].as_f64(), before["last_seen_at"].as_str()), "the same estimate: {location} / {before}");
        assert_eq!(readings_of(&app, &token, tag).await, 2);
    }

    async fn a_gateway_that_says_offline_is_offline_at_once(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.offline_after_seconds = 30).await;
        let token = app.admin_token().await;
        let mut bus = app.events.subscribe();
        let gw = gateway_client(&app).await;
        gw.publish("rtls/gateways/AC233FC0AAAA/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        let online = async || -> Option<bool> {
            let (_, list) = app.get("/api/v1/devices/gateways/status", &token).await;
            list.as_array()?.first()?["is_online"].as_bool()
        };
        assert!(eventually(async || online().await == Some(true)).await);
        let g = app.get("/api/v1/devices/gateways", &token).await.1[0]["id"].as_i64().unwrap();
        let kinds = async || -> Vec<String> {
            let mut events = app.store.device_events(g, 10).await.unwrap();
            events.reverse();
            events.into_iter().map(|e| e.1).collect()
        };
        // The monitor notices it came online at its next pass.
        assert!(eventually_within(Duration::from_secs(20), async || kinds().await == ["GATEWAY_ONLINE"]).await);

        // Its last will: offline now, not at the end of the 30 s window.
        gw.publish("rtls/gateways/AC233FC0AAAA/status", QoS::AtLeastOnce, false, r#"{"status":"offline"}"#).await;
        assert!(eventually(async || online().await == Some(false)).await, "the status says offline");
        assert!(eventually(async || kinds().await == ["GATEWAY_ONLINE", "GATEWAY_OFFLINE"]).await, "{:?}", kinds().await);
        // Heard again: online again.
        gw.publish("rtls/gateways/AC233FC0AAAA/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || online().await == Some(true)).await);
        let published: Vec<&str> = crate::common::events_until(&app, &mut bus, |seen| seen.iter().filter(|e| e.event_type.as_str().starts_with("GATEWAY_")).count() >= 2).await.iter().map(|e| e.event_type.as_str()).filter(|t| t.starts_with("GATEWAY_")).collect();
        assert_eq!(published[..2], ["GATEWAY_ONLINE", "GATEWAY_OFFLINE"]);
    }
}

async fn readings_of(app: &TestApp, token: &str, tag: i64) -> usize {
    let (_, list) = app
        .get(&format!("/api/v1/collection-logs?tag_id={tag}"), token)
        .await;
    list.as_array().map(Vec::len).unwrap_or_default()
}

/// The indexes that the SQLite migrations numbered after `version` drop.
fn indexes_dropped_after(version: u32) -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let number: u32 = file.split('_').next().unwrap().parse().unwrap();
        if number <= version {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Some(name) = line.trim().strip_prefix("DROP INDEX ") {
                let name = name.trim_start_matches("IF EXISTS ").trim_end_matches(';');
                names.push(name.trim().to_string());
            }
        }
    }
    names
}
