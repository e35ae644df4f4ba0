//! The 19 reports, against a known history written straight into the store: two
//! buildings, five gateways (one not placed), three people (one with two tags), a tag of
//! nobody, a group, sessions that cross the window's edges and the hours, a session still
//! open, a single sighting on the hour, and alert events. Every expected number below is
//! worked out by hand from the fixture (comments show the sums), never by our code.

use chrono::{DateTime, DurationRound, Utc};
use reqwest::StatusCode;
use securityvision::store::alerts::AlertEvent;
use securityvision::store::presence::SessionWrite;
use securityvision::store::readings::IngestBatch;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, backend_tests, detail};

fn t(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The site of the fixture.
struct Site {
    b1: i64,
    b2: i64,
    f1: i64,
    p1: i64,
    /// G1 "Recepção" and G2 "Sala" on building 1's plan, G3 "Depósito" and G5 "Corredor"
    /// on building 2's, G4 "Solto" nowhere.
    g: [i64; 6],
    ana: i64,
    bruno: i64,
    carla: i64,
    /// Ana's two tags, Bruno's, Carla's, and a tag of nobody.
    ta1: i64,
    ta2: i64,
    tb: i64,
    tc: i64,
    tx: i64,
    equipe: i64,
}

async fn site(app: &TestApp, token: &str) -> Site {
    let create = async |path: &str, body: Value| app.create_id(path, token, body).await;
    let b1 = create("/api/v1/buildings", json!({"name": "Sede", "code": "SEDE"})).await;
    let b2 = create(
        "/api/v1/buildings",
        json!({"name": "Anexo", "code": "ANEXO"}),
    )
    .await;
    let f1 = create(
        "/api/v1/floors",
        json!({"building_id": b1, "name": "Térreo"}),
    )
    .await;
    let f2 = create(
        "/api/v1/floors",
        json!({"building_id": b2, "name": "Anexo 1"}),
    )
    .await;
    let p1 = create(
        "/api/v1/floor-plans",
        json!({"floor_id": f1, "name": "Planta T"}),
    )
    .await;
    let p2 = create(
        "/api/v1/floor-plans",
        json!({"floor_id": f2, "name": "Planta A"}),
    )
    .await;
    let gateway = async |name: &str, mac: &str, plan: Option<i64>| {
        create(
            "/api/v1/devices",
            json!({"name": name, "mac_address": mac, "floor_plan_id": plan}),
        )
        .await
    };
    let g1 = gateway("Recepção", "AC233FC0A001", Some(p1)).await;
    let g2 = gateway("Sala", "AC233FC0A002", Some(p1)).await;
    let g3 = gateway("Depósito", "AC233FC0A003", Some(p2)).await;
    let g4 = gateway("Solto", "AC233FC0A004", None).await;
    let g5 = gateway("Corredor", "AC233FC0A005", Some(p2)).await;
    let equipe = create("/api/v1/person-groups", json!({"name": "Equipe"})).await;
    let ana = create(
        "/api/v1/people",
        json!({"full_name": "Ana", "group_ids": [equipe]}),
    )
    .await;
    let bruno = create(
        "/api/v1/people",
        json!({"full_name": "Bruno", "group_ids": [equipe]}),
    )
    .await;
    let carla = create("/api/v1/people", json!({"full_name": "Carla"})).await;
    let tag = async |mac: &str, person: Option<i64>| {
        create(
            "/api/v1/tags",
            json!({"mac_address": mac, "person_id": person}),
        )
        .await
    };
    let ta1 = tag("112233440001", Some(ana)).await;
    let ta2 = tag("112233440002", Some(ana)).await;
    let tb = tag("112233440003", Some(bruno)).await;
    let tc = tag("112233440004", Some(carla)).await;
    let tx = tag("112233440005", None).await;
    Site {
        b1,
        b2,
        f1,
        p1,
        g: [0, g1, g2, g3, g4, g5],
        ana,
        bruno,
        carla,
        ta1,
        ta2,
        tb,
        tc,
        tx,
        equipe,
    }
}

async fn write_sessions(app: &TestApp, sessions: &[(i64, i64, &str, &str, bool)]) {
    let mut batch = IngestBatch::default();
    for &(tag_id, device_id, start, end, is_open) in sessions {
        batch.add_session(SessionWrite {
            tag_id,
            device_id,
            started_at: t(start),
            ended_at: t(end),
            samples: 3,
            is_open,
        });
    }
    app.store.store_ingest_batch(&batch).await.unwrap();
    // Closed sessions go to the rollups at once, so the reports of whole hours below
    // read them there.
    app.store.roll_up_all_sessions().await.unwrap();
}

/// An app whose rollups are kept for ever (the fixture's history is years old) and
/// filled by the fixture itself (`write_sessions`), not by the job.
async fn start(backend: Backend) -> TestApp {
    TestApp::start_with(backend, |c| {
        c.reports.rollup_retention_days = 0;
        c.reports.rollup_interval_seconds = 3600;
    })
    .await
}

async fn write_alert(
    app: &TestApp,
    event_type: &str,
    person_id: Option<i64>,
    device_id: i64,
    at: &str,
) {
    let event = AlertEvent {
        event_type: event_type.into(),
        person_id,
        device_id: Some(device_id),
        started_at: t(at),
        last_seen_at: t(at),
        ended_at: Some(t(at)),
        is_open: false,
        ..AlertEvent::default()
    };
    app.store.insert_alert_event(&event).await.unwrap();
}

/// The main window: Monday 2024-03-04, 10:00 to 13:00 UTC.
const W: &str = "from_ts=2024-03-04T10:00:00Z&to_ts=2024-03-04T13:00:00Z";

/// Writes the history of the main window:
/// - s1 Ana/TA1 @G1 09:30–10:30 (1800 s inside the window)
/// - s2 Ana/TA2 @G1 10:15–11:15 (3600 s; overlaps s1: Ana is one person)
/// - s3 Bruno @G1 09:00–14:00 (10800 s; hour 12 has no start or end of his)
/// - s4 Carla @G2 11:00:00 single sighting (0 s, counts in hour 11)
/// - s5 Carla @G3 12:30–12:50 (1200 s)
/// - s6 nobody's tag @G4 10:00–10:10 (600 s, no building)
/// - s7 Ana/TA1 @G2 from 12:40, still open (last sighting 12:45; counts to 13:00: 1200 s)
/// - s8 Bruno @G2 13:30–14:00, s9 Carla @G3 08:00–09:59:59: outside the window
/// - s10–s12 Carla @G5 10:00–10:01, 10:05–10:06, 10:10–10:11 (60 s each)
///
/// Alerts: Ana FORBIDDEN_SECTOR @G1 10:05 and 12:00, DWELL_TIME @G2 11:00, and 09:00
/// (outside); GATEWAY_OFFLINE @G3 10:30; Bruno DWELL_TIME @G3 12:10.
async fn history(app: &TestApp, s: &Site) {
    let g = s.g;
    write_sessions(
        app,
        &[
            (
                s.ta1,
                g[1],
                "2024-03-04T09:30:00Z",
                "2024-03-04T10:30:00Z",
                false,
            ),
            (
                s.ta2,
                g[1],
                "2024-03-04T10:15:00Z",
                "2024-03-04T11:15:00Z",
                false,
            ),
            (
                s.tb,
                g[1],
                "2024-03-04T09:00:00Z",
                "2024-03-04T14:00:00Z",
                false,
            ),
            (
                s.tc,
                g[2],
                "2024-03-04T11:00:00Z",
                "2024-03-04T11:00:00Z",
                false,
            ),
            (
                s.tc,
                g[3],
                "2024-03-04T12:30:00Z",
                "2024-03-04T12:50:00Z",
                false,
            ),
            (
                s.tx,
                g[4],
                "2024-03-04T10:00:00Z",
                "2024-03-04T10:10:00Z",
                false,
            ),
            (
                s.ta1,
                g[2],
                "2024-03-04T12:40:00Z",
                "2024-03-04T12:45:00Z",
                true,
            ),
            (
                s.tb,
                g[2],
                "2024-03-04T13:30:00Z",
                "2024-03-04T14:00:00Z",
                false,
            ),
            (
                s.tc,
                g[3],
                "2024-03-04T08:00:00Z",
                "2024-03-04T09:59:59Z",
                false,
            ),
            (
                s.tc,
                g[5],
                "2024-03-04T10:00:00Z",
                "2024-03-04T10:01:00Z",
                false,
            ),
            (
                s.tc,
                g[5],
                "2024-03-04T10:05:00Z",
                "2024-03-04T10:06:00Z",
                false,
            ),
            (
                s.tc,
                g[5],
                "2024-03-04T10:10:00Z",
                "2024-03-04T10:11:00Z",
                false,
            ),
        ],
    )
    .await;
    write_alert(
        app,
        "FORBIDDEN_SECTOR",
        Some(s.ana),
        g[1],
        "2024-03-04T10:05:00Z",
    )
    .await;
    write_alert(app, "DWELL_TIME", Some(s.ana), g[2], "2024-03-04T11:00:00Z").await;
    write_alert(
        app,
        "FORBIDDEN_SECTOR",
        Some(s.ana),
        g[1],
        "2024-03-04T12:00:00Z",
    )
    .await;
    write_alert(
        app,
        "FORBIDDEN_SECTOR",
        Some(s.ana),
        g[1],
        "2024-03-04T09:00:00Z",
    )
    .await;
    write_alert(app, "GATEWAY_OFFLINE", None, g[3], "2024-03-04T10:30:00Z").await;
    write_alert(
        app,
        "DWELL_TIME",
        Some(s.bruno),
        g[3],
        "2024-03-04T12:10:00Z",
    )
    .await;
}

async fn report(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/reports/{path}"), token).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// `[field]` of each item of a list.
fn column(list: &Value, field: &str) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item[field].clone())
        .collect()
}

/// Polls a query until its first column reads `expected` (the rollup job runs every second).
async fn wait_for(app: &TestApp, sql: &str, expected: &str) {
    for _ in 0..200 {
        if app.sql_text(sql).await.as_deref() == Some(expected) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{sql}: {:?}, expected {expected}", app.sql_text(sql).await);
}

/// An hour as the engine stores it (SQLite: sqlx's text of a UTC time).
fn hour_literal(backend: Backend, rfc3339: &str) -> String {
    match backend {
        Backend::Sqlite => format!("'{}'", t(rfc3339).to_rfc3339()),
        Backend::Postgres => format!("'{rfc3339}'"),
    }
}

/// Every row of a rollup table as text, in key order (`tag_ids` as the sorted set of tags:
/// the pass may list a tag twice, in the order the sessions came).
async fn table_rows(app: &TestApp, backend: Backend, table: &str, keys: &str) -> Vec<String> {
    let lists = table.ends_with("gateway_hours");
    let cols = format!(
        "{keys}, dwell_us, touches, starts, first_start, last_end{}",
        if lists { ", tag_ids" } else { "" }
    );
    let row = cols
        .split(", ")
        .map(|c| format!("CAST({c} AS TEXT)"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    let sql = match backend {
        Backend::Sqlite => format!(
            "SELECT group_concat(r, ';') FROM (SELECT {row} AS r FROM {table} ORDER BY {keys})"
        ),
        Backend::Postgres => format!("SELECT string_agg({row}, ';' ORDER BY {keys}) FROM {table}"),
    };
    let text = app.sql_text(&sql).await.unwrap_or_default();
    text.split(';')
        .map(|r| match r.rsplit_once('|') {
            Some((head, tags)) if lists => {
                let mut tags: Vec<i64> = tags.split(',').map(|t| t.parse().unwrap()).collect();
                tags.sort_unstable();
                tags.dedup();
                format!("{head}|{tags:?}")
            }
            _ => r.to_string(),
        })
        .collect()
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-6)
}

backend_tests! {
    async fn presence_reports_count_the_dwell_inside_the_window(backend: Backend) {
        let app = start(backend).await;
        let admin = app.admin_token().await;
        let s = site(&app, &admin).await;
        history(&app, &s).await;
        // Any authenticated user may read reports.
        let (_, token) = app.user_token(&admin, "operator@example.com", "OPERATOR").await;
        let token = token.as_str();
        let g = s.g;

        // 2. Overview.
        let o = report(&app, token, &format!("overview?{W}")).await;
        let sum = &o["summary"];
        assert_eq!(sum["total_sessions"], 10, "s1–s7 and s10–s12: {sum}");
        // 1800 + 3600 + 10800 + 0 + 1200 + 600 + 1200 + 3 × 60
        assert_eq!(sum["total_dwell_seconds"], 19380);
        assert!(close(&sum["avg_dwell_seconds"], 1938.0), "{sum}");
        assert_eq!((sum["total_unique_tags"].clone(), sum["total_unique_devices"].clone(), sum["total_unique_people"].clone()), (json!(5), json!(5), json!(3)));
        assert_eq!(sum["first_session_at"], "2024-03-04T09:00:00Z");
        assert_eq!(sum["last_session_at"], "2024-03-04T14:00:00Z");
        assert_eq!(sum["from_ts"], "2024-03-04T10:00:00Z");
        // G1 16200; G2 1200 in 2 sessions before G3 1200 in 1; G4 600; G5 180.
        assert_eq!(column(&o["top_devices"], "device_id"), [g[1], g[2], g[3], g[4], g[5]].map(|v| json!(v)));
        assert_eq!(column(&o["top_devices"], "total_dwell_seconds"), [16200, 1200, 1200, 600, 180].map(|v| json!(v)));
        assert_eq!(o["top_devices"][0]["device_name"], "Recepção");
        // Bruno 10800; Ana 1800 + 3600 + 1200; Carla 0 + 1200 + 180.
        assert_eq!(column(&o["top_people"], "person_name"), ["Bruno", "Ana", "Carla"].map(|v| json!(v)));
        assert_eq!(column(&o["top_people"], "total_dwell_seconds"), [10800, 6600, 1380].map(|v| json!(v)));
        assert_eq!(column(&o["top_people"], "total_sessions"), [1, 3, 5].map(|v| json!(v)));
        // Building 1: G1 + G2; building 2: G3 + G5; G4's 600 s have no building.
        assert_eq!(column(&o["top_buildings"], "building_id"), [s.b1, s.b2].map(|v| json!(v)));
        assert_eq!(column(&o["top_buildings"], "total_dwell_seconds"), [17400, 1380].map(|v| json!(v)));
        assert_eq!(o["top_floors"][0]["floor_id"], s.f1);
        assert_eq!(o["top_floors"][0]["building_name"], "Sede");
        assert_eq!(o["top_groups"], json!([{"group_id": s.equipe, "group_name": "Equipe", "total_sessions": 4, "total_dwell_seconds": 17400}]));
        let filtered = report(&app, token, &format!("overview?{W}&tag_id={}", s.ta1)).await;
        assert_eq!(filtered["summary"]["total_dwell_seconds"], 1800 + 1200);

        // 3. Person group: dwell inside the window (the original summed whole sessions).
        let gs = report(&app, token, &format!("person-group/{}/summary?{W}", s.equipe)).await;
        assert_eq!((gs["total_dwell_seconds"].clone(), gs["total_sessions"].clone(), gs["total_unique_people"].clone()), (json!(17400), json!(4), json!(2)));
        assert_eq!(gs["group_name"], "Equipe");
        assert_eq!(column(&gs["dwell_by_device"], "total_dwell_seconds"), [16200, 1200].map(|v| json!(v)));
        assert_eq!(column(&gs["dwell_by_device"], "unique_people_count"), [2, 1].map(|v| json!(v)));
        assert_eq!(gs["dwell_by_device"][0]["floor_plan_id"], s.p1);
        assert_eq!(column(&gs["dwell_by_person"], "person_full_name"), ["Bruno", "Ana"].map(|v| json!(v)));
        assert_eq!(column(&gs["dwell_by_person"], "total_dwell_seconds"), [10800, 6600].map(|v| json!(v)));
        assert_eq!(gs["top_device_id"], g[1]);

        // 4. Person summary.
        let ps = report(&app, token, &format!("person/{}/summary?{W}", s.ana)).await;
        assert_eq!((ps["total_dwell_seconds"].clone(), ps["total_sessions"].clone()), (json!(6600), json!(3)));
        assert_eq!(ps["person_full_name"], "Ana");
        assert_eq!(ps["first_session_at"], "2024-03-04T09:30:00Z");
        assert_eq!(ps["last_session_at"], "2024-03-04T12:45:00Z");
        assert_eq!(column(&ps["dwell_by_device"], "device_id"), [g[1], g[2]].map(|v| json!(v)));
        assert_eq!(column(&ps["dwell_by_device"], "total_dwell_seconds"), [5400, 1200].map(|v| json!(v)));
        assert_eq!(ps["dwell_by_device"][0]["building_name"], "Sede");
        assert_eq!(ps["top_device_id"], g[1]);
        // Carla with at least 1 s in all: the single sighting is left out.
        let carla = report(&app, token, &format!("person/{}/summary?{W}&min_duration_seconds=1", s.carla)).await;
        assert_eq!((carla["total_sessions"].clone(), carla["total_dwell_seconds"].clone()), (json!(4), json!(1380)));

        // 5. Timeline: ids, tags and places filled (the original answered 500).
        let (_, listed) = app.get(&format!("/api/v1/reports/dwell-sessions?tag_id={}", s.ta1), token).await;
        let open_id = listed[0]["id"].clone();
        assert_eq!(listed[0]["is_open"], true);
        let tl = report(&app, token, &format!("person/{}/timeline?{W}", s.ana)).await;
        assert_eq!(column(&tl, "started_at"), ["2024-03-04T12:40:00Z", "2024-03-04T10:15:00Z", "2024-03-04T09:30:00Z"].map(|v| json!(v)));
        assert_eq!(column(&tl, "duration_seconds"), [1200, 3600, 1800].map(|v| json!(v)));
        assert_eq!(column(&tl, "tag_id"), [s.ta1, s.ta2, s.ta1].map(|v| json!(v)));
        assert_eq!(tl[0]["session_id"], open_id);
        assert_eq!(tl[0]["is_open"], true);
        assert_eq!((tl[0]["device_name"].clone(), tl[0]["floor_plan_name"].clone(), tl[0]["floor_name"].clone(), tl[0]["building_id"].clone()), (json!("Sala"), json!("Planta T"), json!("Térreo"), json!(s.b1)));
        let short = report(&app, token, &format!("person/{}/timeline?{W}&limit=2", s.ana)).await;
        assert_eq!(short.as_array().unwrap().len(), 2);

        // 7. Hour of day: hour 10 = s1 1800 + s2 2700; hour 11 = s2 900; hour 12 = s7 1200.
        let h = report(&app, token, &format!("person/{}/time-distribution/hour-of-day?{W}", s.ana)).await;
        let buckets = h["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 24);
        assert_eq!(column(&h["buckets"], "total_dwell_seconds")[9..13], [0, 4500, 900, 1200].map(|v| json!(v)));
        assert_eq!(column(&h["buckets"], "sessions_count")[9..13], [0, 2, 1, 1].map(|v| json!(v)));

        // 8. Day of week: Monday (1) holds it all.
        let d = report(&app, token, &format!("person/{}/time-distribution/day-of-week?{W}", s.ana)).await;
        assert_eq!(column(&d["buckets"], "total_dwell_seconds"), [0, 6600, 0, 0, 0, 0, 0].map(|v| json!(v)));
        assert_eq!(d["buckets"][1], json!({"day_of_week": 1, "total_dwell_seconds": 6600, "sessions_count": 3}));

        // 9. Hour by gateway.
        let hg = report(&app, token, &format!("person/{}/time-distribution/hour-by-gateway?{W}", s.ana)).await;
        assert_eq!(hg["buckets"], json!([
            {"hour": 10, "device_id": g[1], "device_name": "Recepção", "total_dwell_seconds": 4500, "sessions_count": 2},
            {"hour": 11, "device_id": g[1], "device_name": "Recepção", "total_dwell_seconds": 900, "sessions_count": 1},
            {"hour": 12, "device_id": g[2], "device_name": "Sala", "total_dwell_seconds": 1200, "sessions_count": 1},
        ]));

        // 6. Calendar: the open session s7 lasts until the end of the window (now is
        // later), spread over the days: 03-04 gets 3600 + 3600 + 40800 (12:40–24:00),
        // 03-05 gets 86400; 03-03 has nothing and is not listed.
        let c = report(&app, token, &format!("person/{}/time-distribution/calendar?from_ts=2024-03-03T00:00:00Z&to_ts=2024-03-06T00:00:00Z", s.ana)).await;
        assert_eq!(c["granularity"], "day");
        assert_eq!(c["buckets"], json!([
            {"bucket_start": "2024-03-04T00:00:00Z", "total_dwell_seconds": 48000, "sessions_count": 3},
            {"bucket_start": "2024-03-05T00:00:00Z", "total_dwell_seconds": 86400, "sessions_count": 1},
        ]));
        let weekly = report(&app, token, &format!("person/{}/time-distribution/calendar?from_ts=2024-03-03T00:00:00Z&to_ts=2024-03-06T00:00:00Z&granularity=week", s.ana)).await;
        assert_eq!(column(&weekly["buckets"], "bucket_start"), ["2024-03-04T00:00:00Z"].map(|v| json!(v)), "weeks start on Monday; Sunday 03-03 is empty");
        assert_eq!(weekly["buckets"][0]["total_dwell_seconds"], 48000 + 86400);

        // 11. Gateways: by distinct people, then dwell.
        let u = report(&app, token, &format!("gateways/usage-summary?{W}")).await;
        assert_eq!(column(&u["gateways"], "device_id"), [g[1], g[2], g[3], g[5], g[4]].map(|v| json!(v)));
        assert_eq!(column(&u["gateways"], "unique_people_count"), [2, 2, 1, 1, 0].map(|v| json!(v)));
        assert_eq!(column(&u["gateways"], "sessions_count"), [3, 2, 1, 3, 1].map(|v| json!(v)));
        assert_eq!((u["total_sessions"].clone(), u["total_dwell_seconds"].clone(), u["total_devices"].clone(), u["top_device_id"].clone()), (json!(10), json!(19380), json!(5), json!(g[1])));
        assert_eq!(u["gateways"][0]["device_mac_address"], "AC233FC0A001");
        assert_eq!(u["gateways"][4]["building_id"], Value::Null);
        let b2 = report(&app, token, &format!("gateways/usage-summary?{W}&building_id={}", s.b2)).await;
        assert_eq!(column(&b2["gateways"], "device_id"), [g[3], g[5]].map(|v| json!(v)));

        // 12. Gateway G1 by hour of day: 10 = 1800 + 2700 + 3600; 11 = 900 + 3600; 12 = 3600.
        let gt = report(&app, token, &format!("gateways/{}/time-of-day?{W}", g[1])).await;
        assert_eq!(gt["buckets"][10], json!({"hour": 10, "total_dwell_seconds": 8100, "sessions_count": 3, "unique_people_count": 2}));
        assert_eq!(gt["buckets"][11], json!({"hour": 11, "total_dwell_seconds": 4500, "sessions_count": 2, "unique_people_count": 2}));
        assert_eq!(gt["buckets"][12], json!({"hour": 12, "total_dwell_seconds": 3600, "sessions_count": 1, "unique_people_count": 1}));
        assert_eq!(gt["buckets"][9]["total_dwell_seconds"], 0, "the hour before the window counts nothing");

        // 13. Occupancy of G1: three hours, the first partial hours clipped to the window.
        let oc = report(&app, token, &format!("gateways/{}/occupancy?{W}", g[1])).await;
        assert_eq!(oc["buckets"], json!([
            {"bucket_start": "2024-03-04T10:00:00Z", "total_dwell_seconds": 8100, "sessions_count": 3, "unique_tags_count": 3, "unique_people_count": 2},
            {"bucket_start": "2024-03-04T11:00:00Z", "total_dwell_seconds": 4500, "sessions_count": 2, "unique_tags_count": 2, "unique_people_count": 2},
            {"bucket_start": "2024-03-04T12:00:00Z", "total_dwell_seconds": 3600, "sessions_count": 1, "unique_tags_count": 1, "unique_people_count": 1},
        ]));
        assert_eq!(oc["peak"], json!({"bucket_start": "2024-03-04T10:00:00Z", "unique_people_count": 2}));
        // Dwell inside the window: 1800, 3600, 10800.
        assert!(close(&oc["avg_dwell_seconds"], 5400.0), "{oc}");
        assert!(close(&oc["p50_dwell_seconds"], 3600.0));
        assert!(close(&oc["p95_dwell_seconds"], 3600.0 + 0.9 * 7200.0));
        // A day without presence: zero-filled hours, no statistics.
        let empty = report(&app, token, &format!("gateways/{}/occupancy?from_ts=2024-03-05T10:00:00Z&to_ts=2024-03-05T13:00:00Z", g[1])).await;
        assert_eq!(column(&empty["buckets"], "total_dwell_seconds"), [0, 0, 0].map(|v| json!(v)));
        assert_eq!(empty["peak"], json!({"bucket_start": "2024-03-05T10:00:00Z", "unique_people_count": 0}));
        assert_eq!(empty["avg_dwell_seconds"], Value::Null);

        // 14. Concurrency of G1: Ana (two overlapping tags) is one person; Bruno covers
        // hour 12 without starting or ending in it.
        let cc = report(&app, token, &format!("gateways/{}/concurrency?{W}", g[1])).await;
        assert_eq!(column(&cc["buckets"], "peak_concurrency_people"), [2, 2, 1].map(|v| json!(v)));
        // G2: Carla's single sighting at 11:00, Ana from 12:40.
        let c2 = report(&app, token, &format!("gateways/{}/concurrency?{W}", g[2])).await;
        assert_eq!(column(&c2["buckets"], "peak_concurrency_people"), [0, 1, 1].map(|v| json!(v)));

        // 15. Building 2: G5 has more sessions, G3 more dwell.
        let bs = report(&app, token, &format!("buildings/{}/summary?{W}", s.b2)).await;
        assert_eq!((bs["total_sessions"].clone(), bs["total_dwell_seconds"].clone(), bs["unique_people_count"].clone(), bs["unique_tags_count"].clone()), (json!(4), json!(1380), json!(1), json!(1)));
        assert!(close(&bs["avg_dwell_seconds"], 345.0));
        assert_eq!(column(&bs["top_gateways_by_sessions"], "device_id"), [g[5], g[3]].map(|v| json!(v)));
        assert_eq!(column(&bs["top_gateways_by_dwell"], "device_id"), [g[3], g[5]].map(|v| json!(v)));
        assert_eq!(bs["building_name"], "Anexo");

        // 16. Building 1 hour by hour: 10 = 1800 + 2700 + 3600; 11 = 900 + 3600 + 0 (Carla's
        // sighting); 12 = 3600 + 1200.
        let bt = report(&app, token, &format!("buildings/{}/time-of-day?{W}", s.b1)).await;
        assert_eq!(column(&bt, "total_dwell_seconds"), [8100, 4500, 4800].map(|v| json!(v)));
        assert_eq!(column(&bt, "sessions_count"), [3, 3, 2].map(|v| json!(v)));
        assert_eq!(column(&bt, "unique_people_count"), [2, 3, 2].map(|v| json!(v)));

        // 17. Building 1 by day, zero-filled, the partial days cut to the window:
        // 03-04 = s1 3600 + s2 3600 + s3 18000 + s4 0 + s7 40800 + s8 1800; 03-05 = s7 until noon.
        let bc = report(&app, token, &format!("buildings/{}/time-distribution/calendar?from_ts=2024-03-03T12:00:00Z&to_ts=2024-03-05T12:00:00Z", s.b1)).await;
        assert_eq!(column(&bc, "bucket_start"), ["2024-03-03T00:00:00Z", "2024-03-04T00:00:00Z", "2024-03-05T00:00:00Z"].map(|v| json!(v)));
        assert_eq!(column(&bc, "total_dwell_seconds"), [0, 67800, 43200].map(|v| json!(v)));
        assert_eq!(column(&bc, "sessions_count"), [0, 6, 1].map(|v| json!(v)));

        // 1. Sessions inside the bounds (containment), newest first.
        let (_, inside) = app.get(&format!("/api/v1/reports/dwell-sessions?device_id={}&{W}", g[1]), token).await;
        assert_eq!(column(&inside, "tag_id"), [json!(s.ta2)]);
        let (_, all) = app.get(&format!("/api/v1/reports/dwell-sessions?device_id={}", g[1]), token).await;
        assert_eq!(column(&all, "started_at"), ["2024-03-04T10:15:00Z", "2024-03-04T09:30:00Z", "2024-03-04T09:00:00Z"].map(|v| json!(v)));
        assert_eq!(all[2]["duration_seconds"], 18000);
        let (_, page) = app.get(&format!("/api/v1/reports/dwell-sessions?device_id={}&skip=1&limit=1", g[1]), token).await;
        assert_eq!(column(&page, "started_at"), [json!("2024-03-04T09:30:00Z")]);
    }

    async fn alert_reports_count_every_alert_of_the_window(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let token = token.as_str();
        let s = site(&app, token).await;
        history(&app, &s).await;
        let g = s.g;

        // 10. Ana: three alerts in the window (09:00 is outside); one listed, all counted.
        let a = report(&app, token, &format!("person/{}/alerts?{W}&max_events=1", s.ana)).await;
        assert_eq!(a["total_alerts"], 3);
        assert_eq!(a["first_alert_at"], "2024-03-04T10:05:00Z");
        assert_eq!(a["last_alert_at"], "2024-03-04T12:00:00Z");
        assert_eq!(a["by_type"], json!([{"event_type": "FORBIDDEN_SECTOR", "alerts_count": 2}, {"event_type": "DWELL_TIME", "alerts_count": 1}]));
        assert_eq!(column(&a["by_device"], "device_id"), [g[1], g[2]].map(|v| json!(v)));
        assert_eq!(column(&a["by_device"], "alerts_count"), [2, 1].map(|v| json!(v)));
        assert_eq!(a["by_device"][0]["building_name"], "Sede");
        let events = a["events"].as_array().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0]["started_at"].clone(), events[0]["floor_plan_name"].clone()), (json!("2024-03-04T12:00:00Z"), json!("Planta T")));
        let typed = report(&app, token, &format!("person/{}/alerts?{W}&event_type=DWELL_TIME", s.ana)).await;
        assert_eq!(typed["total_alerts"], 1);

        // 18. Gateway G3: an offline alert and Bruno's dwell alert (ties by name).
        let ga = report(&app, token, &format!("gateways/{}/alerts/summary?{W}", g[3])).await;
        assert_eq!(ga, json!({
            "scope": "gateway", "scope_id": g[3], "from_ts": "2024-03-04T10:00:00Z", "to_ts": "2024-03-04T13:00:00Z",
            "total_alerts": 2,
            "by_type": [{"event_type": "DWELL_TIME", "alerts_count": 1}, {"event_type": "GATEWAY_OFFLINE", "alerts_count": 1}],
        }));
        // 19. Buildings, through their gateways' plans.
        let b1 = report(&app, token, &format!("buildings/{}/alerts/summary?{W}", s.b1)).await;
        assert_eq!((b1["scope"].clone(), b1["total_alerts"].clone()), (json!("building"), json!(3)));
        let b2 = report(&app, token, &format!("buildings/{}/alerts/summary?{W}", s.b2)).await;
        assert_eq!(b2["total_alerts"], 2);
    }

    async fn report_buckets_follow_the_time_zone_across_daylight_saving_changes(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let token = token.as_str();
        let s = site(&app, token).await;
        let g1 = s.g[1];
        // São Paulo, 2018-11-04: midnight (-03) jumped to 01:00 (-02), a 23-hour day.
        // Ana 23:00 on the 3rd to 02:00 on the 4th by the clock: two real hours, one per day.
        // 2019-02-17: 00:00 (-02) went back to 23:00 (-03) of the 16th, a 25-hour Saturday.
        // Bruno 23:30 (-02) to 23:30 (-03): one hour, all of it at 23 h on Saturday.
        write_sessions(&app, &[
            (s.ta1, g1, "2018-11-04T02:00:00Z", "2018-11-04T04:00:00Z", false),
            (s.tb, g1, "2019-02-17T01:30:00Z", "2019-02-17T02:30:00Z", false),
        ]).await;
        let tz = "time_zone=America/Sao_Paulo";

        let days = report(&app, token, &format!("buildings/{}/time-distribution/calendar?from_ts=2018-11-03T03:00:00Z&to_ts=2018-11-05T03:00:00Z&{tz}", s.b1)).await;
        assert_eq!(column(&days, "bucket_start"), ["2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"].map(|v| json!(v)));
        assert_eq!(column(&days, "total_dwell_seconds"), [3600, 3600, 0].map(|v| json!(v)));
        // The same window in UTC: one day holds both hours.
        let utc = report(&app, token, &format!("buildings/{}/time-distribution/calendar?from_ts=2018-11-03T03:00:00Z&to_ts=2018-11-05T03:00:00Z&time_zone=UTC", s.b1)).await;
        assert_eq!(column(&utc, "total_dwell_seconds"), [0, 7200, 0].map(|v| json!(v)));

        let window = "from_ts=2018-11-04T00:00:00Z&to_ts=2018-11-04T06:00:00Z";
        let hours = report(&app, token, &format!("person/{}/time-distribution/hour-of-day?{window}&{tz}", s.ana)).await;
        let dwell = column(&hours["buckets"], "total_dwell_seconds");
        assert_eq!((dwell[23].clone(), dwell[0].clone(), dwell[1].clone()), (json!(3600), json!(0), json!(3600)), "23 h on the 3rd, 01 h on the 4th (00 h never happened)");
        let hours = report(&app, token, &format!("person/{}/time-distribution/hour-of-day?{window}&time_zone=UTC", s.ana)).await;
        let dwell = column(&hours["buckets"], "total_dwell_seconds");
        assert_eq!((dwell[2].clone(), dwell[3].clone()), (json!(3600), json!(3600)));

        let window = "from_ts=2019-02-17T00:00:00Z&to_ts=2019-02-17T04:00:00Z";
        let hours = report(&app, token, &format!("person/{}/time-distribution/hour-of-day?{window}&{tz}", s.bruno)).await;
        assert_eq!(hours["buckets"][23], json!({"hour": 23, "total_dwell_seconds": 3600, "sessions_count": 1}));
        let week = report(&app, token, &format!("person/{}/time-distribution/day-of-week?{window}&{tz}", s.bruno)).await;
        assert_eq!(week["buckets"][6]["total_dwell_seconds"], 3600, "still Saturday in São Paulo");
        let week = report(&app, token, &format!("person/{}/time-distribution/day-of-week?{window}&time_zone=UTC", s.bruno)).await;
        assert_eq!(week["buckets"][0]["total_dwell_seconds"], 3600, "Sunday in UTC");
        // The repeated hour is two buckets.
        let oc = report(&app, token, &format!("gateways/{g1}/occupancy?from_ts=2019-02-17T01:00:00Z&to_ts=2019-02-17T04:00:00Z&{tz}")).await;
        assert_eq!(column(&oc["buckets"], "bucket_start"), ["2019-02-16T23:00:00-02:00", "2019-02-16T23:00:00-03:00", "2019-02-17T00:00:00-03:00"].map(|v| json!(v)));
        assert_eq!(column(&oc["buckets"], "total_dwell_seconds"), [1800, 1800, 0].map(|v| json!(v)));

        // The site's zone is the default.
        let mut app = app;
        app.config.site.time_zone = "America/Sao_Paulo".into();
        let app = app.restart().await;
        let token = app.admin_token().await;
        let oc = report(&app, &token, &format!("gateways/{g1}/occupancy?from_ts=2019-02-17T01:00:00Z&to_ts=2019-02-17T02:00:00Z")).await;
        assert_eq!(oc["buckets"][0]["bucket_start"], "2019-02-16T23:00:00-02:00");
    }

    async fn reports_refuse_bad_windows_parameters_and_unknown_ids(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let token = token.as_str();
        let s = site(&app, token).await;
        let g1 = s.g[1];
        let loc = |body: &Value| body["detail"][0]["loc"].clone();
        let cases: &[(&str, &str)] = &[
            ("overview?from_ts=2024-03-05T00:00:00Z&to_ts=2024-03-04T00:00:00Z", "from_ts"),
            ("dwell-sessions?from_ts=2024-03-05T00:00:00Z&to_ts=2024-03-04T00:00:00Z", "from_ts"),
            ("overview?from_ts=2023-01-01T00:00:00Z&to_ts=2024-03-01T00:00:00Z", "to_ts"),
            ("person/1/time-distribution/calendar?granularity=fortnight", "granularity"),
            ("buildings/1/time-distribution/calendar?granularity=hourly", "granularity"),
            ("overview?time_zone=Mars/Olympus_Mons", "time_zone"),
            ("overview?format=xml", "format"),
            ("person/1/timeline?limit=0", "limit"),
            ("person/1/timeline?limit=5001", "limit"),
            ("person/1/alerts?max_events=0", "max_events"),
            ("person/1/summary?min_duration_seconds=-1", "min_duration_seconds"),
        ];
        for (path, param) in cases {
            let (status, body) = app.get(&format!("/api/v1/reports/{path}"), token).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
            assert_eq!(loc(&body), json!(["query", param]), "{path}: {body}");
        }
        let (status, body) = app.get("/api/v1/reports/overview?from_ts=yesterday", token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&body).contains("datetime"), "{body}");
        // The longest window is configurable.
        let ok = "gateways/usage-summary?from_ts=2024-01-01T00:00:00Z&to_ts=2024-12-31T00:00:00Z";
        report(&app, token, ok).await;

        // A report that needs a finite window, given one bound.
        for path in [
            format!("gateways/{g1}/occupancy?from_ts=2024-03-04T00:00:00Z"),
            format!("gateways/{g1}/concurrency?to_ts=2024-03-04T00:00:00Z"),
            format!("buildings/{}/time-of-day?from_ts=2024-03-04T00:00:00Z", s.b1),
            format!("person/{}/time-distribution/hour-of-day?to_ts=2024-03-04T00:00:00Z", s.ana),
        ] {
            let (status, body) = app.get(&format!("/api/v1/reports/{path}"), token).await;
            assert_eq!((status, detail(&body)), (StatusCode::BAD_REQUEST, "from_ts e to_ts são obrigatórios".to_string()), "{path}");
        }

        for (path, message) in [
            ("person/999999/summary", "Person not found"),
            ("person/999999/timeline", "Person not found"),
            ("person/999999/alerts", "Person not found"),
            ("person/999999/time-distribution/calendar", "Person not found"),
            ("gateways/999999/occupancy", "Device not found"),
            ("gateways/999999/alerts/summary", "Device not found"),
            ("buildings/999999/summary", "Building not found"),
            ("buildings/999999/time-distribution/calendar", "Building not found"),
            ("person-group/999999/summary", "Person group not found"),
        ] {
            let (status, body) = app.get(&format!("/api/v1/reports/{path}"), token).await;
            assert_eq!((status, detail(&body)), (StatusCode::NOT_FOUND, message.to_string()), "{path}");
        }

        let (status, body) = app.call(reqwest::Method::GET, "/api/v1/reports/overview", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

        let mut app = app;
        app.config.reports.max_window_days = 7;
        let narrow = app.restart().await;
        let token = narrow.admin_token().await;
        let (status, body) = narrow.get(&format!("/api/v1/reports/{ok}"), &token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(detail(&body).contains("7 days"), "{body}");
        // A single bound is completed: the end is now, the start at most 7 days before.
        let (status, body) = narrow.get("/api/v1/reports/overview?to_ts=2024-03-04T00:00:00Z", &token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["summary"]["from_ts"], "2024-02-26T00:00:00Z");
    }

    async fn every_report_downloads_as_csv(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        history(&app, &s).await;
        let g = s.g;

        let get = async |path: String| {
            let response = app.client.get(app.url(&format!("/api/v1/reports/{path}"))).bearer_auth(&token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers().clone();
            (headers, response.text().await.unwrap())
        };
        let (headers, text) = get(format!("person/{}/timeline?{W}&format=csv", s.ana)).await;
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(headers["content-disposition"], "attachment; filename=\"person-timeline-20240304T100000Z-20240304T130000Z.csv\"");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 3, "{text}");
        assert!(lines[0].starts_with("session_id,device_id,device_name,building_id"), "{text}");
        let header: Vec<&str> = lines[0].split(',').collect();
        let duration = header.iter().position(|h| *h == "duration_seconds").unwrap();
        assert_eq!(lines[1].split(',').nth(duration), Some("1200"), "{text}");

        // Which list each report downloads, and how many rows the fixture gives it.
        let expected: Vec<(String, &str, usize)> = vec![
            (format!("dwell-sessions?device_id={}", g[1]), "id,device_id,tag_id", 3),
            (format!("overview?{W}"), "list,id,name", 5 + 3 + 2 + 2 + 1),
            (format!("person-group/{}/summary?{W}", s.equipe), "device_id,device_name", 2),
            (format!("person/{}/summary?{W}", s.ana), "device_id,device_name", 2),
            (format!("person/{}/time-distribution/calendar?{W}", s.ana), "bucket_start,", 1),
            (format!("person/{}/time-distribution/hour-of-day?{W}", s.ana), "hour,", 24),
            (format!("person/{}/time-distribution/day-of-week?{W}", s.ana), "day_of_week,", 7),
            (format!("person/{}/time-distribution/hour-by-gateway?{W}", s.ana), "hour,device_id", 3),
            (format!("person/{}/alerts?{W}", s.ana), "id,event_type", 3),
            (format!("gateways/usage-summary?{W}"), "device_id,device_name,device_mac_address", 5),
            (format!("gateways/{}/time-of-day?{W}", g[1]), "hour,", 24),
            (format!("gateways/{}/occupancy?{W}", g[1]), "bucket_start,", 3),
            (format!("gateways/{}/concurrency?{W}", g[1]), "bucket_start,peak_concurrency_people", 3),
            (format!("gateways/{}/alerts/summary?{W}", g[3]), "event_type,alerts_count", 2),
            (format!("buildings/{}/summary?{W}", s.b2), "list,id,name", 4),
            (format!("buildings/{}/time-of-day?{W}", s.b1), "bucket_start,", 3),
            (format!("buildings/{}/time-distribution/calendar?{W}", s.b1), "bucket_start,", 1),
            (format!("buildings/{}/alerts/summary?{W}", s.b1), "event_type,alerts_count", 2),
        ];
        for (path, header, rows) in expected {
            let (headers, text) = get(format!("{path}&format=csv")).await;
            assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\""), "{path}");
            let lines: Vec<&str> = text.lines().collect();
            assert!(lines[0].starts_with(header), "{path}: {text}");
            assert_eq!(lines.len(), 1 + rows, "{path}: {text}");
        }
        let (_, text) = get(format!("overview?{W}&format=csv")).await;
        assert!(text.contains("top_people,") && text.contains(",Bruno,1,10800,"), "{text}");
    }

    async fn an_open_session_counts_until_now(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        // Open, last written 30 minutes ago (before the window starts): it still counts,
        // from the window's start until now.
        let now = Utc::now();
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut batch = IngestBatch::default();
        batch.add_session(SessionWrite { tag_id: s.ta1, device_id: s.g[1], started_at: now - chrono::Duration::hours(2), ended_at: now - chrono::Duration::minutes(30), samples: 9, is_open: true });
        app.store.store_ingest_batch(&batch).await.unwrap();
        let from = now - chrono::Duration::minutes(10);
        let window = format!("from_ts={}&to_ts={}", text(from), text(now + chrono::Duration::minutes(10)));
        let p = report(&app, &token, &format!("person/{}/summary?{window}", s.ana)).await;
        assert_eq!(p["total_sessions"], 1, "{p}");
        let dwell = p["total_dwell_seconds"].as_i64().unwrap();
        assert!((599..=1200).contains(&dwell), "from the window's start (rounded down to the second) to now, never past its end: {dwell}");
    }

    async fn overview_lists_ten_buildings_when_there_are_ten(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        // Ten more buildings with a little presence each, and a lot of it on the gateway
        // that has no building: the original dropped that group after taking ten.
        let mut sessions = vec![(s.tx, s.g[4], "2024-03-04T10:00:00Z", "2024-03-04T12:00:00Z", false)];
        for i in 0..10 {
            let b = app.create_id("/api/v1/buildings", &token, json!({"name": format!("B{i}"), "code": format!("B{i}")})).await;
            let f = app.create_id("/api/v1/floors", &token, json!({"building_id": b, "name": "F"})).await;
            let p = app.create_id("/api/v1/floor-plans", &token, json!({"floor_id": f, "name": "P"})).await;
            let gw = app.create_id("/api/v1/devices", &token, json!({"name": format!("G{i}"), "mac_address": format!("AC233FC0B0{i:02}"), "floor_plan_id": p})).await;
            sessions.push((s.tb, gw, "2024-03-04T10:00:00Z", "2024-03-04T10:01:00Z", false));
        }
        write_sessions(&app, &sessions).await;
        let o = report(&app, &token, &format!("overview?{W}")).await;
        assert_eq!(o["top_buildings"].as_array().unwrap().len(), 10, "{}", o["top_buildings"]);
        assert_eq!(o["top_floors"].as_array().unwrap().len(), 10);
        assert_eq!(o["top_devices"][0]["device_id"], s.g[4]);
        assert_eq!(o["top_people"][0]["person_id"], s.bruno);
    }

    async fn rollups_give_the_numbers_of_the_sessions(backend: Backend) {
        // First without rollups: every report reads the sessions.
        let app = TestApp::start_with(backend, |c| {
            c.reports.rollup_retention_days = 0;
            c.reports.rollup_interval_seconds = 0;
        })
        .await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        history(&app, &s).await;
        let g = s.g;
        // Beside the main history: 30 hours of Carla (too long for the rollups), Bruno
        // until exactly the window's start and Ana from exactly its end (an instant inside
        // it each), and a week of Ana's mornings and evenings for the calendars.
        let mut more = vec![
            (s.tc, g[2], "2024-03-03T08:00:00Z".to_string(), "2024-03-04T14:00:00Z".to_string()),
            (s.tb, g[3], "2024-03-04T09:40:00Z".into(), "2024-03-04T10:00:00Z".into()),
            (s.ta2, g[3], "2024-03-04T13:00:00Z".into(), "2024-03-04T13:20:00Z".into()),
            // At the edges of the windows on partial hours below: until exactly 10:20, a
            // single sighting then, from exactly 12:40.
            (s.tb, g[5], "2024-03-04T10:00:00Z".into(), "2024-03-04T10:20:00Z".into()),
            (s.tx, g[2], "2024-03-04T10:20:00Z".into(), "2024-03-04T10:20:00Z".into()),
            (s.tc, g[1], "2024-03-04T12:40:00Z".into(), "2024-03-04T12:55:00Z".into()),
            // Wholly inside those edges' partial hours (summed per tag and gateway there):
            // two of the same tag at one gateway after 10:20, one before 12:40.
            (s.tx, g[4], "2024-03-04T10:25:00Z".into(), "2024-03-04T10:28:30Z".into()),
            (s.tx, g[4], "2024-03-04T10:31:00Z".into(), "2024-03-04T10:35:00Z".into()),
            (s.tb, g[4], "2024-03-04T12:05:00Z".into(), "2024-03-04T12:15:00Z".into()),
        ];
        for day in 1..=7 {
            more.push((s.ta1, g[2], format!("2024-03-0{day}T08:50:00Z"), format!("2024-03-0{day}T09:10:00Z")));
            more.push((s.ta2, g[5], format!("2024-03-0{day}T20:30:00Z"), format!("2024-03-0{day}T23:59:59Z")));
        }
        let more: Vec<_> = more.iter().map(|(t, d, a, b)| (*t, *d, a.as_str(), b.as_str(), false)).collect();
        write_sessions(&app, &more).await;
        assert_eq!(app.sql_text("SELECT CAST(COUNT(*) AS TEXT) FROM presence_sessions WHERE rollup_state = 2").await.unwrap(), "1", "Bruno's 5 hours are short, Carla's 30 are not");

        let week = "from_ts=2024-03-01T00:00:00Z&to_ts=2024-03-08T00:00:00Z";
        // Whole hours, not whole days: the coarser rollups' days and the hours around them.
        let days = "from_ts=2024-03-02T21:00:00Z&to_ts=2024-03-06T09:00:00Z";
        // Windows on partial hours: the rollups answer for their whole hours, the sessions
        // at the edges for the rest. Both edges mid-hour; the start or the end only; inside
        // one hour; across two partial hours; days and a week with partial edges (Carla's
        // 30 hours and Bruno's 5 cross them, s1, s2 and s5 cross 10:20 and 12:40).
        let mid = "from_ts=2024-03-04T10:20:00Z&to_ts=2024-03-04T12:40:00Z";
        let partial = [
            mid.to_string(),
            "from_ts=2024-03-04T10:30:00Z&to_ts=2024-03-04T13:00:00Z".into(),
            "from_ts=2024-03-04T10:00:00Z&to_ts=2024-03-04T12:30:00Z".into(),
            "from_ts=2024-03-04T10:05:00Z&to_ts=2024-03-04T10:45:00Z".into(),
            "from_ts=2024-03-04T10:40:00Z&to_ts=2024-03-04T11:20:00Z".into(),
            "from_ts=2024-03-02T21:17:00Z&to_ts=2024-03-06T09:43:00Z".into(),
            "from_ts=2024-03-01T00:30:00Z&to_ts=2024-03-07T23:30:00Z&time_zone=America/Sao_Paulo".into(),
        ];
        let mut paths = Vec::new();
        for window in [W.to_string(), week.to_string(), format!("{week}&time_zone=America/Sao_Paulo"), format!("{W}&time_zone=Asia/Kolkata"), days.to_string()].into_iter().chain(partial.clone()) {
            let w = window.as_str();
            paths.extend([
                format!("overview?{w}"),
                format!("overview?{w}&device_id={}", g[1]),
                format!("overview?{w}&tag_id={}", s.ta1),
                format!("person-group/{}/summary?{w}", s.equipe),
                format!("person/{}/time-distribution/calendar?{w}", s.ana),
                format!("person/{}/time-distribution/calendar?{w}&granularity=week", s.ana),
                format!("person/{}/time-distribution/hour-of-day?{w}", s.ana),
                format!("person/{}/time-distribution/day-of-week?{w}", s.ana),
                format!("person/{}/time-distribution/hour-by-gateway?{w}", s.ana),
                format!("gateways/usage-summary?{w}"),
                format!("gateways/usage-summary?{w}&building_id={}", s.b2),
                format!("gateways/usage-summary?{w}&floor_id={}", s.f1),
                format!("gateways/usage-summary?{w}&floor_plan_id={}", s.p1),
                format!("gateways/{}/time-of-day?{w}", g[1]),
                format!("gateways/{}/time-of-day?{w}", g[5]),
                format!("buildings/{}/summary?{w}", s.b1),
                format!("buildings/{}/summary?{w}", s.b2),
                format!("buildings/{}/time-of-day?{w}", s.b1),
                format!("buildings/{}/time-distribution/calendar?{w}", s.b2),
                format!("buildings/{}/time-distribution/calendar?{w}&granularity=week", s.b1),
                format!("buildings/{}/time-of-day?{w}", s.b2),
            ]);
            for person in [s.ana, s.bruno, s.carla] {
                paths.push(format!("person/{person}/summary?{w}"));
            }
        }
        // A start closes the sessions a previous run left open (Ana's at 12:40): restart
        // once before, so that both sides read the same sessions.
        let mut app = app.restart().await;
        let token = app.admin_token().await;
        let mut before = Vec::new();
        for path in &paths {
            before.push(report(&app, &token, path).await);
        }

        // Then from the rollups (the fixture rolled every closed session up).
        app.config.reports.rollup_interval_seconds = 3600;
        let app = app.restart().await;
        let token = app.admin_token().await;
        for (path, expected) in paths.iter().zip(&before) {
            assert_eq!(&report(&app, &token, path).await, expected, "{path}");
        }
        // Deleting a tag and a gateway deletes their sessions: the rollups follow.
        assert_eq!(app.delete(&format!("/api/v1/tags/{}", s.ta2), &token).await, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/api/v1/devices/{}", g[3]), &token).await, StatusCode::NO_CONTENT);
        let mut rolled = Vec::new();
        for path in &paths {
            rolled.push(report(&app, &token, path).await);
        }
        let mut app = app;
        app.config.reports.rollup_interval_seconds = 0;
        let mut app = app.restart().await;
        let token = app.admin_token().await;
        for (path, expected) in paths.iter().zip(&rolled) {
            assert_eq!(&report(&app, &token, path).await, expected, "{path} after the deletions");
        }
        assert_ne!(rolled, before, "the deleted tag and gateway had sessions in the windows");
        app.config.reports.rollup_interval_seconds = 3600;
        let app = app.restart().await;
        let token = app.admin_token().await;

        // Open sessions and sessions not rolled up yet across the partial windows' edges:
        // Bruno from 12:35, last seen on the 8th, still open (counted to each window's
        // end, as the restart below, which closes it, counts it to its last sighting), and
        // Ana's first tag's 12:30–12:50, closed since the last pass.
        let mut batch = IngestBatch::default();
        for (tag_id, device_id, start, end, is_open) in [
            (s.tb, g[5], "2024-03-04T12:35:00Z", "2024-03-08T00:00:00Z", true),
            (s.ta1, g[5], "2024-03-04T12:30:00Z", "2024-03-04T12:50:00Z", false),
        ] {
            batch.add_session(SessionWrite { tag_id, device_id, started_at: t(start), ended_at: t(end), samples: 3, is_open });
        }
        app.store.store_ingest_batch(&batch).await.unwrap();
        let edged: Vec<String> = paths.iter().filter(|p| partial.iter().any(|w| p.ends_with(w.as_str()))).cloned().collect();
        let mut rolled = Vec::new();
        for path in &edged {
            rolled.push(report(&app, &token, path).await);
        }
        let fresh = {
            let mut app = app;
            app.config.reports.rollup_interval_seconds = 0;
            let app = app.restart().await;
            let token = app.admin_token().await;
            let mut fresh = Vec::new();
            for path in &edged {
                fresh.push(report(&app, &token, path).await);
            }
            let mut app = app;
            app.config.reports.rollup_interval_seconds = 3600;
            (fresh, app.restart().await)
        };
        let (fresh, app) = fresh;
        for ((path, rolled), fresh) in edged.iter().zip(&rolled).zip(&fresh) {
            assert_eq!(rolled, fresh, "{path} with open and pending sessions");
        }
        let token = app.admin_token().await;

        // They were read: a row changed in each table shows in the reports that read it,
        // on whole hours and on partial ones.
        let ten = hour_literal(backend, "2024-03-04T10:00:00Z");
        let eleven = hour_literal(backend, "2024-03-04T11:00:00Z");
        // `field` of the body, or all of it.
        let changed = async |table: &str, at: &str, path: &str, field: &str| {
            let pick = |body: Value| if field.is_empty() { body } else { body[field].clone() };
            let was = pick(report(&app, &token, path).await);
            app.sql(&format!("UPDATE {table} SET dwell_us = dwell_us + 7000000000 WHERE {at}")).await;
            let now = pick(report(&app, &token, path).await);
            assert_ne!(now, was, "{table}: {path}");
        };
        let day = hour_literal(backend, "2024-03-04T00:00:00Z");
        let mid_week = "from_ts=2024-03-01T00:30:00Z&to_ts=2024-03-07T23:30:00Z";
        changed("presence_rollups", &format!("hour = {ten}"), &format!("person/{}/summary?{W}", s.ana), "total_dwell_seconds").await;
        changed("presence_tag_hours", &format!("hour = {ten}"), &format!("overview?{W}"), "summary").await;
        changed("presence_tag_days", &format!("day = {day}"), &format!("overview?{week}"), "summary").await;
        changed("presence_gateway_hours", &format!("hour = {ten}"), &format!("gateways/usage-summary?{W}"), "total_dwell_seconds").await;
        changed("presence_tag_gateway_days", &format!("day = {day}"), &format!("person-group/{}/summary?{week}", s.equipe), "total_dwell_seconds").await;
        changed("presence_rollups", &format!("hour = {ten}"), &format!("person-group/{}/summary?{W}", s.equipe), "total_dwell_seconds").await;
        changed("presence_rollups", &format!("hour = {eleven}"), &format!("person/{}/summary?{mid}", s.bruno), "total_dwell_seconds").await;
        changed("presence_tag_hours", &format!("hour = {eleven}"), &format!("overview?{mid}"), "summary").await;
        changed("presence_tag_days", &format!("day = {day}"), &format!("overview?{mid_week}"), "summary").await;
        changed("presence_gateway_hours", &format!("hour = {eleven}"), &format!("gateways/usage-summary?{mid}"), "total_dwell_seconds").await;
        changed("presence_tag_gateway_days", &format!("day = {day}"), &format!("person-group/{}/summary?{mid_week}", s.equipe), "total_dwell_seconds").await;
        changed("presence_gateway_hours", &format!("hour = {eleven}"), &format!("buildings/{}/time-of-day?{mid}", s.b1), "").await;
        // A window inside one hour reads no whole hour, but finds the sessions covering it
        // through that hour's rows: without them, Bruno's 09:00–14:00 is missed.
        let inside = "from_ts=2024-03-04T10:05:00Z&to_ts=2024-03-04T10:45:00Z";
        let was = report(&app, &token, &format!("person/{}/summary?{inside}", s.bruno)).await;
        app.sql(&format!("DELETE FROM presence_rollups WHERE hour = {ten}")).await;
        let now = report(&app, &token, &format!("person/{}/summary?{inside}", s.bruno)).await;
        assert_ne!(now["total_sessions"], was["total_sessions"], "{was} {now}");
    }

    async fn the_migration_fills_the_coarser_rollups_as_the_pass_does(backend: Backend) {
        let app = start(backend).await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        history(&app, &s).await;
        let g = s.g;
        // Across midnight, an instant on it, eleven hours over it; in two batches, so that
        // the pass adds to rows (and lists) it wrote before.
        write_sessions(&app, &[
            (s.ta1, g[2], "2024-03-05T23:10:00Z", "2024-03-06T02:20:00Z", false),
            (s.tb, g[5], "2024-03-06T00:00:00Z", "2024-03-06T00:00:00Z", false),
        ]).await;
        write_sessions(&app, &[
            (s.tc, g[2], "2024-03-05T22:00:00Z", "2024-03-06T09:00:00Z", false),
            (s.tb, g[2], "2024-03-05T23:30:00Z", "2024-03-06T00:30:00Z", false),
        ]).await;
        let tables = [
            ("presence_gateway_hours", "hour, device_id"),
            ("presence_tag_hours", "hour, tag_id"),
            ("presence_tag_days", "day, tag_id"),
            ("presence_tag_gateway_days", "day, tag_id, device_id"),
        ];
        // Migration 0018's statements that fill the tables from `presence_rollups`, into
        // copies of them.
        let migration = match backend {
            Backend::Sqlite => include_str!("../../migrations/sqlite/0018_coarse_rollups.sql"),
            Backend::Postgres => include_str!("../../migrations/postgres/0018_coarse_rollups.sql"),
        };
        let start = migration.find("-- The sessions rolled up before this migration").unwrap();
        let end = migration.find("-- Deleting a tag or a gateway").unwrap();
        let mut fill = migration[start..end].to_string();
        for (table, _) in tables {
            let copy = table.replace("presence_", "filled_");
            app.sql(&format!("CREATE TABLE {copy} AS SELECT * FROM {table} WHERE 1 = 0")).await;
            fill = fill.replace(&format!("{table} "), &format!("{copy} "));
        }
        app.sql(&fill).await;
        for (table, keys) in tables {
            let passed = table_rows(&app, backend, table, keys).await;
            assert!(passed.len() > 10, "{table}: {passed:?}");
            assert_eq!(table_rows(&app, backend, &table.replace("presence_", "filled_"), keys).await, passed, "{table}");
        }
    }

    async fn rollups_follow_sessions_as_they_close_and_catch_up_after_a_restart(backend: Backend) {
        // No rollup job at first: sessions written as the pipeline writes them stay pending.
        let mut app = TestApp::start_with(backend, |c| {
            c.reports.rollup_retention_days = 0;
            c.reports.rollup_interval_seconds = 0;
        })
        .await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        let g = s.g;
        let write = async |app: &TestApp, sessions: &[(i64, i64, &str, &str, bool)]| {
            let mut batch = IngestBatch::default();
            for &(tag_id, device_id, start, end, is_open) in sessions {
                batch.add_session(SessionWrite { tag_id, device_id, started_at: t(start), ended_at: t(end), samples: 3, is_open });
            }
            app.store.store_ingest_batch(&batch).await.unwrap();
        };
        // Ana opens a session at 09:30 and closes it at 10:30; Bruno is seen once at 11:00;
        // Carla 10:50–13:10; Ana's second tag 13 hours (too long for the rollups).
        write(&app, &[(s.ta1, g[1], "2024-03-04T09:30:00Z", "2024-03-04T10:00:00Z", true)]).await;
        write(&app, &[
            (s.ta1, g[1], "2024-03-04T09:30:00Z", "2024-03-04T10:30:00Z", false),
            (s.tb, g[2], "2024-03-04T11:00:00Z", "2024-03-04T11:00:00Z", false),
            (s.tc, g[3], "2024-03-04T10:50:00Z", "2024-03-04T13:10:00Z", false),
            (s.ta2, g[1], "2024-03-04T08:00:00Z", "2024-03-04T21:00:00Z", false),
        ]).await;
        let sums = |table: &str| format!("SELECT CAST(COUNT(*) AS TEXT) || '/' || CAST(COALESCE(SUM(dwell_us), 0) AS TEXT) || '/' \
             || CAST(COALESCE(SUM(touches), 0) AS TEXT) || '/' || CAST(COALESCE(SUM(starts), 0) AS TEXT) FROM {table}");
        let totals = &sums("presence_rollups");
        // The coarser rollups, in the order of `coarser` below.
        let coarser_tables = ["presence_gateway_hours", "presence_tag_hours", "presence_tag_days", "presence_tag_gateway_days"];
        let coarser = async |app: &TestApp| {
            let mut out = Vec::new();
            for table in coarser_tables {
                out.push(app.sql_text(&sums(table)).await.unwrap());
            }
            out
        };
        let pending = "SELECT CAST(COUNT(*) AS TEXT) FROM presence_sessions WHERE rollup_state = 0";
        assert_eq!(app.sql_text(totals).await.unwrap(), "0/0/0/0");
        assert_eq!(coarser(&app).await, ["0/0/0/0"; 4]);
        assert_eq!(app.sql_text(pending).await.unwrap(), "4");

        // Started again with the job: it catches up. Rows (hour: dwell s, touches, starts):
        // Ana 09 (1800, 1, 1), 10 (1800, 1, 0); Bruno 11 (0, 1, 1); Carla 10 (600, 1, 1),
        // 11 and 12 (3600, 1, 0), 13 (600, 1, 0): 7 rows, 12000 s, 7 touches, 3 starts.
        app.config.reports.rollup_interval_seconds = 1;
        let app = app.restart().await;
        let caught_up = "7/12000000000/7/3";
        wait_for(&app, pending, "0").await;
        assert_eq!(app.sql_text(totals).await.unwrap(), caught_up);
        // The same hours per gateway and per tag (each tag at one gateway an hour here);
        // per day, one row for each of Ana, Bruno and Carla, each session touching it once.
        let coarse_caught_up = ["7/12000000000/7/3", "7/12000000000/7/3", "3/12000000000/3/3", "3/12000000000/3/3"];
        assert_eq!(coarser(&app).await, coarse_caught_up);
        let tags = format!("SELECT tag_ids FROM presence_gateway_hours WHERE hour = {} AND device_id = {}", hour_literal(backend, "2024-03-04T10:00:00Z"), g[1]);
        assert_eq!(app.sql_text(&tags).await.unwrap(), s.ta1.to_string());
        let row = "SELECT CAST(dwell_us AS TEXT) || '/' || CAST(touches AS TEXT) || '/' || CAST(starts AS TEXT) FROM presence_rollups \
             WHERE hour = '2024-03-04T10:00:00Z' AND tag_id = ";
        let carla = format!("{row}{}", s.tc);
        assert_eq!(app.sql_text(&carla.replace("'2024-03-04T10:00:00Z'", &hour_literal(backend, "2024-03-04T10:00:00Z"))).await.unwrap(), "600000000/1/1");
        // Again: nothing is added twice, by a pass or by another restart.
        assert_eq!(app.store.roll_up_all_sessions().await.unwrap(), 0);
        let app = app.restart().await;
        assert_eq!(app.store.roll_up_all_sessions().await.unwrap(), 0);
        assert_eq!(app.sql_text(totals).await.unwrap(), caught_up);
        assert_eq!(coarser(&app).await, coarse_caught_up);

        // While the app runs, a session joins the rollups once it closes: Bruno 12:00–12:20.
        write(&app, &[(s.tb, g[1], "2024-03-04T12:00:00Z", "2024-03-04T12:05:00Z", true)]).await;
        write(&app, &[(s.tb, g[1], "2024-03-04T12:00:00Z", "2024-03-04T12:20:00Z", false)]).await;
        wait_for(&app, totals, "8/13200000000/8/4").await;
        // Bruno's second day row at another gateway: his day now touched twice.
        assert_eq!(coarser(&app).await, ["8/13200000000/8/4", "8/13200000000/8/4", "3/13200000000/4/4", "4/13200000000/4/4"]);
        let token = app.admin_token().await;
        let o = report(&app, &token, &format!("overview?{W}")).await;
        // 10–13: Ana 1800, Bruno 0 + 1200, Carla 600 + 3600 + 3600, Ana's long tag 10800.
        assert_eq!(o["summary"]["total_dwell_seconds"], 1800 + 1200 + 7800 + 10800);
        assert_eq!(o["summary"]["total_sessions"], 5);
    }

    async fn old_rollups_are_deleted_and_their_reports_read_the_sessions(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.reports.rollup_retention_days = 400;
            c.reports.rollup_interval_seconds = 1;
        })
        .await;
        let token = app.admin_token().await;
        let s = site(&app, &token).await;
        let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let hour = |days: i64| {
            let t = Utc::now() - chrono::Duration::days(days);
            t.duration_trunc(chrono::Duration::hours(1)).unwrap()
        };
        let (old, recent) = (hour(500), hour(2));
        let spans: Vec<(String, String)> = [old, recent]
            .iter()
            .map(|h| (text(*h), text(*h + chrono::Duration::minutes(45))))
            .collect();
        write_sessions(&app, &[
            (s.ta1, s.g[1], &spans[0].0, &spans[0].1, false),
            (s.ta1, s.g[1], &spans[1].0, &spans[1].1, false),
        ]).await;
        let count = "SELECT CAST((SELECT COUNT(*) FROM presence_rollups) + (SELECT COUNT(*) FROM presence_gateway_hours) \
             + (SELECT COUNT(*) FROM presence_tag_hours) + (SELECT COUNT(*) FROM presence_tag_days) \
             + (SELECT COUNT(*) FROM presence_tag_gateway_days) AS TEXT)";
        assert_eq!(app.sql_text(count).await.unwrap(), "10");
        // The job deletes rollups older than 400 days when it starts, then every hour: a
        // row of each table is left.
        let app = app.restart().await;
        wait_for(&app, count, "5").await;
        let token = app.admin_token().await;
        for h in [old, recent] {
            let window = format!("from_ts={}&to_ts={}", text(h), text(h + chrono::Duration::hours(1)));
            let o = report(&app, &token, &format!("overview?{window}")).await;
            assert_eq!((o["summary"]["total_sessions"].clone(), o["summary"]["total_dwell_seconds"].clone()), (json!(1), json!(2700)), "{window}");
            let u = report(&app, &token, &format!("gateways/usage-summary?{window}")).await;
            assert_eq!((u["total_sessions"].clone(), u["gateways"][0]["unique_people_count"].clone()), (json!(1), json!(1)), "{window}");
        }
    }
}
