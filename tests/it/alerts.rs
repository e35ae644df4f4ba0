//! Alerts end to end: rules through the API, real MQTT reports from a gateway, the engine's
//! events read back through `/alert-events` and seen on the event bus.

use std::time::Duration;

use chrono::SubsecRound;

use reqwest::StatusCode;
use rumqttc::QoS;
use serde_json::{Value, json};

use crate::common::{TestApp, backend_tests, detail, eventually, id};
use crate::mqtt::{Client, Options};
use securityvision::store::alerts::AlertEvent;

/// Ana (in group Visitors) carries tag 11:22:33:44:55:66; gateways G1 and G2.
struct Site {
    token: String,
    g1: i64,
    g2: i64,
    ana: i64,
    tag: i64,
    visitors: i64,
    staff: i64,
}

async fn site(app: &TestApp) -> Site {
    let token = app.admin_token().await;
    let visitors = id(&app
        .create(
            "/api/v1/person-groups",
            &token,
            json!({"name": "Visitors"}),
            StatusCode::CREATED,
        )
        .await);
    let staff = id(&app
        .create(
            "/api/v1/person-groups",
            &token,
            json!({"name": "Staff"}),
            StatusCode::CREATED,
        )
        .await);
    let ana = id(&app
        .create(
            "/api/v1/people",
            &token,
            json!({"full_name": "Ana", "group_ids": [visitors]}),
            StatusCode::CREATED,
        )
        .await);
    let tag = id(&app
        .create(
            "/api/v1/tags",
            &token,
            json!({"mac_address": "112233445566", "person_id": ana}),
            StatusCode::CREATED,
        )
        .await);
    let g1 = id(&app
        .create(
            "/api/v1/devices",
            &token,
            json!({"name": "G1", "mac_address": "AC233FC00001"}),
            StatusCode::CREATED,
        )
        .await);
    let g2 = id(&app
        .create(
            "/api/v1/devices",
            &token,
            json!({"name": "G2", "mac_address": "AC233FC00002"}),
            StatusCode::CREATED,
        )
        .await);
    Site {
        token,
        g1,
        g2,
        ana,
        tag,
        visitors,
        staff,
    }
}

async fn gateway(app: &TestApp) -> Client {
    let addr = app.mqtt_addr.unwrap();
    Client::connect(
        addr,
        Options::new("gw").login("gateway", app.gateway_password.as_deref().unwrap()),
    )
    .await
    .unwrap()
}

/// One report from each gateway: the tag is heard strongly at `near` (1 or 2).
async fn heard_at(gw: &Client, near: u8) {
    let (g1, g2) = if near == 1 { (-50, -90) } else { (-90, -50) };
    gw.publish(
        "rtls/gateways/AC233FC00001/beacon",
        QoS::AtLeastOnce,
        false,
        format!(r#"{{"tag_mac":"112233445566","rssi":{g1}}}"#),
    )
    .await;
    gw.publish(
        "rtls/gateways/AC233FC00002/beacon",
        QoS::AtLeastOnce,
        false,
        format!(r#"{{"tag_mac":"112233445566","rssi":{g2}}}"#),
    )
    .await;
}

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v1/alert-events?limit=100&{query}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

fn payload(event: &Value) -> Value {
    serde_json::from_str(event["payload"].as_str().expect("payload is a string")).unwrap()
}

async fn rule(app: &TestApp, token: &str, body: Value) -> i64 {
    id(&app
        .create("/api/v1/alert-rules", token, body, StatusCode::CREATED)
        .await)
}

/// Keeps the tag heard at `near` until `check` holds.
async fn heard_until(gw: &Client, near: u8, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        heard_at(gw, near).await;
        if check().await {
            return true;
        }
        // The tag must go on being heard while the state is awaited: a report pair every
        // 200 ms, until the deadline above.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

fn with_ttl(c: &mut securityvision::config::Config) {
    c.alerts.session_ttl_seconds = 10;
}

backend_tests! {
    async fn forbidden_sector_sessions_are_kept_per_rule_and_end_when_the_tag_moves(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let t = &s.token;
        let mut bus = app.events.subscribe();
        // D3: a rule for everybody and one for Ana's group on the same gateway; one for
        // another group does not apply to her.
        let everyone = rule(&app, t, json!({"name": "No entry", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1})).await;
        let visitors = rule(&app, t, json!({"name": "No visitors", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1, "group_id": s.visitors})).await;
        rule(&app, t, json!({"name": "No staff", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1, "group_id": s.staff})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, t, "is_open=true").await.len() == 2).await, "two sessions open");
        // More reports at the same gateway keep the same two sessions.
        for _ in 0..10 {
            heard_at(&gw, 1).await;
        }
        gw.settled().await;
        let open = events(&app, t, "").await;
        assert_eq!(open.len(), 2, "one session per rule: {open:#?}");
        let mut rules: Vec<i64> = open.iter().map(|e| e["rule_id"].as_i64().unwrap()).collect();
        rules.sort_unstable();
        assert_eq!(rules, [everyone, visitors]);
        let e = &open[0];
        assert_eq!(e["event_type"], "FORBIDDEN_SECTOR");
        assert_eq!(e["message"], "Entrada em setor proibido: Ana no gateway 'G1'.");
        assert_eq!((e["tag_id"].as_i64(), e["person_id"].as_i64(), e["device_id"].as_i64()), (Some(s.tag), Some(s.ana), Some(s.g1)));
        assert_eq!((e["is_open"].as_bool(), e["status"].as_str()), (Some(true), Some("open")));
        let p = payload(e);
        for key in ["rule_id", "rule_name", "event_type", "device_id", "device_name", "tag_id", "person_id", "person_full_name", "group_id", "floor_plan_id", "floor_id", "building_id", "started_at", "last_seen_at", "ended_at", "is_open", "message"] {
            assert!(p.get(key).is_some(), "payload has {key}: {p}");
        }
        assert_eq!((p["person_full_name"].as_str(), p["device_name"].as_str()), (Some("Ana"), Some("G1")));

        // The tag moves to G2: both sessions end there, at their last evidence.
        assert!(heard_until(&gw, 2, async || events(&app, t, "is_open=true").await.is_empty()).await, "the move ends the sessions");
        // The engine takes the reports in order: the move came after the ten reports, so
        // a session they had reopened would be listed by now.
        assert_eq!(events(&app, t, "").await.len(), 2, "never reopened");
        for e in events(&app, t, "").await {
            assert_eq!((e["is_open"].as_bool(), e["close_reason"].as_str()), (Some(false), Some("moved_to_other_device")), "{e}");
            assert_eq!(e["ended_at"], e["last_seen_at"]);
            let p = payload(&e);
            assert_eq!((p["is_open"].as_bool(), p["close_reason"].as_str()), (Some(false), Some("moved_to_other_device")));
            assert!(p["duration_seconds"].as_f64().unwrap() >= 0.0);
        }
        let kinds: Vec<(String, i64)> = crate::common::events_until(&app, &mut bus, |seen| seen.iter().filter(|e| e.event_type.as_str() == "ALERT_CLOSED").count() >= 2).await.into_iter()
            .filter(|e| e.event_type.as_str().starts_with("ALERT_") && !e.event_type.as_str().starts_with("ALERT_RULE"))
            .map(|e| (e.event_type.as_str().to_string(), e.payload["alert_event_id"].as_i64().unwrap()))
            .collect();
        assert_eq!(kinds.iter().filter(|k| k.0 == "ALERT_OPENED").count(), 2, "{kinds:?}");
        assert_eq!(kinds.iter().filter(|k| k.0 == "ALERT_CLOSED").count(), 2, "one close each, no update per reading: {kinds:?}");

        // Back at G1, then silence: a new session each, ended by the TTL.
        assert!(heard_until(&gw, 1, async || events(&app, t, "is_open=true").await.len() == 2).await);
        assert!(eventually(async || events(&app, t, "is_open=true").await.is_empty()).await, "silence ends them");
        let closed = events(&app, t, &format!("rule_id={everyone}")).await;
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[0]["close_reason"], "stale_ttl_10s", "newest first: {closed:#?}");
        assert_eq!(closed[0]["ended_at"], closed[0]["last_seen_at"]);
    }
}

backend_tests! {
    async fn a_dwell_alert_is_one_event_that_survives_a_restart(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let dwell = rule(&app, &s.token, json!({"name": "Linger", "rule_type": "DWELL_TIME", "device_id": s.g1, "max_dwell_seconds": 1})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, &s.token, "event_type=DWELL_TIME").await.len() == 1).await, "the limit passes");
        for _ in 0..10 {
            heard_at(&gw, 1).await;
        }
        let list = events(&app, &s.token, "event_type=DWELL_TIME").await;
        assert_eq!(list.len(), 1, "D4: one event, not one per reading");
        let e = &list[0];
        let event_id = id(e);
        assert_eq!((e["rule_id"].as_i64(), e["is_open"].as_bool()), (Some(dwell), Some(true)));
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with("Ana está há ") && message.ends_with("s no dispositivo G1 (limite 1s)."), "{message}");
        let p = payload(e);
        assert_eq!(p["max_dwell_seconds"], 1);
        assert!(p["dwell_seconds"].as_f64().unwrap() >= 1.0, "{p}");
        drop(gw);

        // Restarted in the middle of the session: it resumes.
        let app = app.restart().await;
        let token = app.admin_token().await;
        let gw = gateway(&app).await;
        let (_, before) = app.get(&format!("/api/v1/alert-events/{event_id}"), &token).await;
        assert_eq!(before["is_open"], true, "still open after the restart");
        let last_before = before["last_seen_at"].as_str().unwrap().to_string();
        for _ in 0..10 {
            heard_at(&gw, 1).await;
        }
        gw.settled().await;
        assert!(heard_until(&gw, 2, async || !events(&app, &token, "event_type=DWELL_TIME&is_open=true").await.iter().any(|e| id(e) == event_id)).await, "the move ends it");
        let list = events(&app, &token, "event_type=DWELL_TIME").await;
        assert_eq!(list.len(), 1, "the same session, not a new one: {list:#?}");
        let (_, after) = app.get(&format!("/api/v1/alert-events/{event_id}"), &token).await;
        assert_eq!(after["close_reason"], "moved_to_other_device");
        assert_eq!(after["ended_at"], after["last_seen_at"]);
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        assert!(parse(after["last_seen_at"].as_str().unwrap()) > parse(&last_before), "evidence after the restart moved it: {after}");
    }
}

backend_tests! {
    async fn gateway_offline_and_online_rules_record_the_gap(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.offline_after_seconds = 2).await;
        let s = site(&app).await;
        let t = &s.token;
        let offline = rule(&app, t, json!({"name": "G1 down", "rule_type": "GATEWAY_OFFLINE", "device_id": s.g1})).await;
        let online = rule(&app, t, json!({"name": "Any back", "rule_type": "GATEWAY_ONLINE"})).await;
        let gw = gateway(&app).await;
        gw.publish("rtls/gateways/AC233FC00001/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || events(&app, t, "event_type=GATEWAY_OFFLINE").await.len() == 1).await, "silence makes it offline");
        let e = &events(&app, t, "event_type=GATEWAY_OFFLINE").await[0];
        assert_eq!((e["rule_id"].as_i64(), e["device_id"].as_i64(), e["is_open"].as_bool()), (Some(offline), Some(s.g1), Some(true)));
        assert_eq!(e["message"], "Gateway 'G1' ficou OFFLINE.");
        let p = payload(e);
        assert!(p["offline_started_at"].is_string() && p["offline_seconds"].is_number(), "{p}");
        assert!(events(&app, t, "event_type=GATEWAY_ONLINE").await.is_empty(), "first heard is not a return");

        gw.publish("rtls/gateways/AC233FC00001/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || events(&app, t, "event_type=GATEWAY_ONLINE").await.len() == 1).await, "back online");
        let back = &events(&app, t, "event_type=GATEWAY_ONLINE").await[0];
        assert_eq!((back["rule_id"].as_i64(), back["is_open"].as_bool()), (Some(online), Some(false)));
        assert_eq!(back["message"], "Gateway 'G1' voltou a ficar ONLINE.");
        let gap = payload(back)["offline_seconds"].as_f64().unwrap();
        assert!(gap >= 2.0, "D6: the whole gap, from the last evidence before it: {gap}");
        let (_, closed) = app.get(&format!("/api/v1/alert-events/{}", id(e)), t).await;
        assert_eq!((closed["is_open"].as_bool(), closed["close_reason"].as_str()), (Some(false), Some("gateway_back_online")));
        assert_eq!(closed["ended_at"], back["ended_at"], "ended at the first evidence after the gap");
        // G2 was never heard: no return, and the G1 rule does not watch it.
        assert!(events(&app, t, &format!("device_id={}", s.g2)).await.is_empty());
    }
}

backend_tests! {
    async fn operators_acknowledge_and_resolve_alerts(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let (operator_id, operator) = app.user_token(&s.token, "op@example.com", "OPERATOR").await;
        rule(&app, &operator, json!({"name": "No entry", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, &operator, "").await.len() == 1).await);
        let event = id(&events(&app, &operator, "").await[0]);
        let mut bus = app.events.subscribe();
        let (status, acked) = app.post(&format!("/api/v1/alert-events/{event}/ack"), &operator, json!({"note": "on my way"})).await;
        assert_eq!(status, StatusCode::OK, "{acked}");
        assert_eq!((acked["status"].as_str(), acked["acknowledged_by"].as_i64(), acked["acknowledged_note"].as_str()), (Some("acknowledged"), Some(operator_id), Some("on my way")));
        assert!(acked["acknowledged_at"].is_string());
        let (status, body) = app.post(&format!("/api/v1/alert-events/{event}/ack"), &operator, json!({})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::CONFLICT, "Alert event already acknowledged"));
        let (status, body) = app.post(&format!("/api/v1/alert-events/{event}/resolve"), &s.token, json!({"note": "x".repeat(1025)})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, resolved) = app.post(&format!("/api/v1/alert-events/{event}/resolve"), &s.token, json!({"note": "visitor escorted out"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((resolved["status"].as_str(), resolved["resolved_note"].as_str(), resolved["acknowledged_by"].as_i64()), (Some("resolved"), Some("visitor escorted out"), Some(operator_id)));
        let (status, body) = app.post(&format!("/api/v1/alert-events/{event}/resolve"), &s.token, json!({})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::CONFLICT, "Alert event already resolved"));
        let (status, body) = app.post("/api/v1/alert-events/999999/ack", &s.token, json!({})).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Alert event not found"));
        let updates: Vec<Value> = crate::common::drain_events(&app, &mut bus).await.into_iter().filter(|e| e.event_type.as_str() == "ALERT_UPDATED").map(|e| e.payload).collect();
        assert_eq!(updates.len(), 2, "acknowledged, resolved");
        assert_eq!(updates[1]["resolved_by"].as_i64(), Some(resolved["resolved_by"].as_i64().unwrap()));
        // Resolved is the operators' step; the session itself goes on until the tag leaves.
        assert_eq!(resolved["is_open"], true);
        let (status, _) = app.get("/api/v1/alert-events?from_ts=yesterday", &s.token).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(events(&app, &s.token, "from_ts=2000-01-01&to_ts=2000-01-02").await.len(), 0);
        assert_eq!(events(&app, &s.token, "from_ts=2000-01-01T00:00:00Z&event_type=FORBIDDEN_SECTOR").await.len(), 1);
        assert_eq!(events(&app, &s.token, "to_ts=2000-01-01").await.len(), 0);
        assert_eq!(events(&app, &s.token, &format!("person_id={}&tag_id={}&is_open=true", s.ana, s.tag)).await.len(), 1);
    }
}

backend_tests! {
    async fn alert_events_are_listed_by_every_filter_newest_first(backend: Backend) {
        let app = TestApp::start(backend).await;
        let s = site(&app).await;
        let t = &s.token;
        let r = rule(&app, t, json!({"name": "No entry", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1})).await;
        let start = chrono::Utc::now().trunc_subsecs(0) - chrono::Duration::days(1);
        let ago = |minutes| start - chrono::Duration::minutes(minutes);
        // (rule, type, person and tag, gateway, open, minutes before `start`); two start together.
        let rows = [
            (Some(r), "FORBIDDEN_SECTOR", true, s.g1, true, 0),
            (Some(r), "FORBIDDEN_SECTOR", true, s.g1, false, 10),
            (None, "GATEWAY_OFFLINE", false, s.g2, false, 20),
            (None, "GATEWAY_OFFLINE", false, s.g2, true, 20),
            (Some(r), "DWELL_TIME", true, s.g2, false, 30),
            (None, "GATEWAY_ONLINE", false, s.g1, false, 40),
        ];
        let mut ids = vec![];
        for (rule_id, event_type, carried, device, is_open, minutes) in rows {
            let event = AlertEvent { rule_id, event_type: event_type.into(), person_id: carried.then_some(s.ana), tag_id: carried.then_some(s.tag), device_id: Some(device), is_open, started_at: ago(minutes), last_seen_at: ago(minutes), ..Default::default() };
            ids.push(app.store.insert_alert_event(&event).await.unwrap().id);
        }
        let time = |minutes| ago(minutes).format("%Y-%m-%dT%H:%M:%SZ");
        for (query, newest_first) in [
            (String::new(), vec![0, 1, 3, 2, 4, 5]),
            (format!("rule_id={r}"), vec![0, 1, 4]),
            ("event_type=GATEWAY_OFFLINE".into(), vec![3, 2]),
            (format!("person_id={}", s.ana), vec![0, 1, 4]),
            (format!("tag_id={}", s.tag), vec![0, 1, 4]),
            (format!("tag_id={}", s.tag + 1000), vec![]),
            (format!("device_id={}", s.g2), vec![3, 2, 4]),
            ("is_open=true".into(), vec![0, 3]),
            ("is_open=false".into(), vec![1, 2, 4, 5]),
            (format!("from_ts={}", time(25)), vec![0, 1, 3, 2]),
            (format!("to_ts={}", time(10)), vec![3, 2, 4, 5]),
            (format!("tag_id={}&device_id={}", s.tag, s.g1), vec![0, 1]),
            (format!("device_id={}&is_open=false", s.g2), vec![2, 4]),
            ("event_type=GATEWAY_OFFLINE&is_open=true".into(), vec![3]),
            ("event_type=GATEWAY_ONLINE&is_open=true".into(), vec![]),
            (format!("rule_id={r}&from_ts={}&to_ts={}", time(35), time(5)), vec![1, 4]),
            (format!("device_id={}&limit=1&skip=1", s.g2), vec![2]),
            ("is_open=false&limit=2&skip=2".into(), vec![4, 5]),
            (format!("person_id={}&limit=2", s.ana), vec![0, 1]),
        ] {
            let (status, list) = app.get(&format!("/api/v1/alert-events?{query}"), t).await;
            let expected: Vec<i64> = newest_first.iter().map(|&i| ids[i]).collect();
            assert_eq!((status, list.as_array().unwrap().iter().map(id).collect::<Vec<_>>()), (StatusCode::OK, expected), "{query}");
        }
    }
}

backend_tests! {
    async fn bad_rules_are_refused_naming_the_field(backend: Backend) {
        let app = TestApp::start(backend).await;
        let s = site(&app).await;
        let t = &s.token;
        let camera = id(&app.create("/api/v1/devices", t, json!({"name": "Cam", "type": "CAMERA"}), StatusCode::CREATED).await);
        let base = json!({"name": "R", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1});
        let with = |more: Value| {
            let mut body = base.clone();
            body.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
            body
        };
        let cases = [
            (with(json!({"rule_type": "TELEPORT"})), "rule_type"),
            (json!({"name": "R", "rule_type": "FORBIDDEN_SECTOR"}), "device_id"),
            (with(json!({"device_id": 999_999})), "device_id"),
            (with(json!({"device_id": camera})), "device_id"),
            (with(json!({"rule_type": "DWELL_TIME"})), "max_dwell_seconds"),
            (with(json!({"max_dwell_seconds": -1})), "max_dwell_seconds"),
            (with(json!({"group_id": 999_999})), "group_id"),
            (with(json!({"incident_severity": "APOCALYPTIC"})), "incident_severity"),
            (with(json!({"incident_assigned_group_id": 999_999})), "incident_assigned_group_id"),
            (with(json!({"incident_assigned_to_user_id": 999_999})), "incident_assigned_to_user_id"),
            (with(json!({"schedule": {"days": ["MON"], "ranges": [{"start": "18:00", "end": "08:00"}]}})), "schedule.ranges[0].end"),
            (with(json!({"schedule": {"days": ["FUNDAY"]}})), "schedule.days[0]"),
            (with(json!({"rule_type": "GATEWAY_OFFLINE", "group_id": s.visitors})), "group_id"),
            (with(json!({"name": ""})), "name"),
            (json!({"rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1}), "name"),
        ];
        for (body, field) in cases {
            let (status, answer) = app.post("/api/v1/alert-rules", t, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {answer}");
            assert!(answer["detail"].as_array().unwrap().iter().any(|d| d["loc"] == json!(["body", field])), "{field} named for {body}: {answer}");
        }
        assert!(app.get("/api/v1/alert-rules", t).await.1.as_array().unwrap().is_empty(), "nothing stored");

        // A good rule, read back with the original's fields and the new ones.
        let created = app.create("/api/v1/alert-rules", t, with(json!({"schedule": {"days": ["mon", "tue"], "ranges": [{"start": "08:00", "end": "18:00"}]}, "cooldown_seconds": 60, "create_incident": true, "incident_severity": "HIGH"})), StatusCode::CREATED).await;
        let rule = id(&created);
        assert_eq!(created["schedule"], json!({"days": ["MON", "TUE"], "ranges": [{"start": "08:00", "end": "18:00"}]}));
        assert_eq!((created["is_active"].as_bool(), created["incident_severity"].as_str(), created["incident_auto_close_on_end"].as_bool()), (Some(true), Some("HIGH"), Some(false)));
        let (status, updated) = app.put(&format!("/api/v1/alert-rules/{rule}"), t, json!({"is_active": false})).await;
        assert_eq!((status, updated["is_active"].as_bool(), updated["name"].as_str()), (StatusCode::OK, Some(false), Some("R")), "partial");
        let (status, body) = app.put(&format!("/api/v1/alert-rules/{rule}"), t, json!({"rule_type": "DWELL_TIME"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an update is checked whole: {body}");
        assert_eq!(app.get("/api/v1/alert-rules?is_active=false&rule_type=FORBIDDEN_SECTOR", t).await.1.as_array().unwrap().len(), 1);
        assert_eq!(app.get(&format!("/api/v1/alert-rules?device_id={}", s.g2), t).await.1, json!([]));
        assert_eq!(app.delete(&format!("/api/v1/alert-rules/{rule}"), t).await, StatusCode::NO_CONTENT);
        let (status, body) = app.get(&format!("/api/v1/alert-rules/{rule}"), t).await;
        assert_eq!((status, detail(&body).as_str()), (StatusCode::NOT_FOUND, "Alert rule not found"));
    }
}

backend_tests! {
    async fn a_deleted_gateway_disables_its_rule_and_ends_its_sessions(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let t = &s.token;
        let no_entry = rule(&app, t, json!({"name": "No entry", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, t, "is_open=true").await.len() == 1).await);
        let event = id(&events(&app, t, "").await[0]);
        assert_eq!(app.delete(&format!("/api/v1/devices/gateways/{}?purge_related=false", s.g1), t).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || app.get(&format!("/api/v1/alert-rules/{no_entry}"), t).await.1["is_active"] == false).await, "disabled");
        let (_, r) = app.get(&format!("/api/v1/alert-rules/{no_entry}"), t).await;
        assert_eq!(r["device_id"], Value::Null);
        assert!(r["disabled_reason"].as_str().unwrap().contains("deleted"), "{r}");
        let audited = async || app.store.audit_entries(Some("alert_rule"), 0, 10).await.unwrap().iter().any(|a| a.action == "disable" && a.user_id.is_none() && a.entity_id == Some(no_entry));
        assert!(eventually(audited).await, "the engine's change is audited");
        assert!(eventually(async || app.get(&format!("/api/v1/alert-events/{event}"), t).await.1["is_open"] == false).await);
        let (_, e) = app.get(&format!("/api/v1/alert-events/{event}"), t).await;
        assert_eq!(e["close_reason"], "rule_disabled", "{e}");
        // A deleted tag ends its sessions at once.
        let other = rule(&app, t, json!({"name": "G2", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g2})).await;
        assert!(heard_until(&gw, 2, async || events(&app, t, &format!("rule_id={other}&is_open=true")).await.len() == 1).await, "the engine still runs");
        assert_eq!(app.delete(&format!("/api/v1/tags/{}", s.tag), t).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || events(&app, t, &format!("rule_id={other}&is_open=true")).await.is_empty()).await);
        assert_eq!(events(&app, t, &format!("rule_id={other}")).await[0]["close_reason"], "tag_deleted");
        // Re-enabling it without a gateway is refused, naming the field.
        let (status, body) = app.put(&format!("/api/v1/alert-rules/{no_entry}"), t, json!({"is_active": true})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "device_id"]));
    }
}

backend_tests! {
    async fn a_rule_outside_its_schedule_fires_nothing_and_deleting_a_rule_ends_its_sessions(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let t = &s.token;
        // Armed on neither today nor tomorrow (UTC, the default site time zone).
        let today = chrono::Utc::now().date_naive();
        let skip = [today, today.succ_opt().unwrap()].map(|d| d.format("%a").to_string().to_uppercase());
        let days: Vec<&str> = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"].into_iter().filter(|d| !skip.contains(&d.to_string())).collect();
        let asleep = rule(&app, t, json!({"name": "Off hours", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1, "schedule": {"days": days}})).await;
        let awake = rule(&app, t, json!({"name": "Always", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1})).await;
        let gw = gateway(&app).await;
        // Both rules are judged on the tag's arrival, the earlier one first: once the
        // other has fired, the one outside its schedule has been passed over.
        assert!(heard_until(&gw, 1, async || events(&app, t, &format!("rule_id={awake}")).await.len() == 1).await);
        assert!(events(&app, t, &format!("rule_id={asleep}")).await.is_empty(), "outside its schedule");
        let event = id(&events(&app, t, &format!("rule_id={awake}")).await[0]);
        assert_eq!(app.delete(&format!("/api/v1/alert-rules/{awake}"), t).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || app.get(&format!("/api/v1/alert-events/{event}"), t).await.1["is_open"] == false).await, "ended with its rule");
        let (_, e) = app.get(&format!("/api/v1/alert-events/{event}"), t).await;
        assert_eq!((e["close_reason"].as_str(), e["rule_id"].as_i64()), (Some("rule_deleted"), None), "history kept: {e}");
    }
}

backend_tests! {
    async fn camera_offline_and_online_rules_with_the_cameras_place(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.offline_after_seconds = 4).await;
        let t = app.admin_token().await;
        let b = id(&app.create("/api/v1/buildings", &t, json!({"name": "HQ", "code": "HQ"}), StatusCode::CREATED).await);
        let f = id(&app.create("/api/v1/floors", &t, json!({"building_id": b, "name": "Ground"}), StatusCode::CREATED).await);
        let cam = id(&app.create("/api/v1/devices/cameras", &t, json!({"name": "Lobby", "code": "CAM-1", "floor_id": f}), StatusCode::CREATED).await);
        let gateway = id(&app.create("/api/v1/devices", &t, json!({"name": "G1", "mac_address": "AC233FC00001"}), StatusCode::CREATED).await);
        let (status, body) = app.post("/api/v1/alert-rules", &t, json!({"name": "x", "rule_type": "CAMERA_OFFLINE", "device_id": gateway})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a gateway is not a camera: {body}");
        let down = rule(&app, &t, json!({"name": "Lobby down", "rule_type": "CAMERA_OFFLINE", "device_id": cam})).await;
        let back = rule(&app, &t, json!({"name": "Cameras back", "rule_type": "CAMERA_ONLINE"})).await;
        let created = app.create("/api/v1/mqtt/credentials", &t, json!({"username": "collector", "role": "COLLECTOR"}), StatusCode::CREATED).await;
        let bus = Client::connect(app.mqtt_addr.unwrap(), Options::new("collector").login("collector", created["password"].as_str().unwrap())).await.unwrap();
        let topic = "rtls/cameras/acme/hq/ground/camera/CAM-1/status";
        let mut monitor = app.events.subscribe();
        bus.publish(topic, QoS::AtLeastOnce, false, json!({"status": "online"}).to_string()).await;
        // The device monitor has seen it online (the status API alone does not say so).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !matches!(tokio::time::timeout_at(deadline, monitor.recv()).await, Ok(Ok(e)) if e.event_type.as_str() == "CAMERA_ONLINE") {
            assert!(tokio::time::Instant::now() < deadline, "the monitor saw it online");
        }
        bus.publish(topic, QoS::AtLeastOnce, false, "offline").await;
        assert!(eventually(async || events(&app, &t, "event_type=CAMERA_OFFLINE").await.len() == 1).await, "offline");
        let e = &events(&app, &t, "event_type=CAMERA_OFFLINE").await[0];
        assert_eq!((e["rule_id"].as_i64(), e["device_id"].as_i64(), e["floor_id"].as_i64(), e["building_id"].as_i64()), (Some(down), Some(cam), Some(f), Some(b)));
        assert_eq!(e["message"], "Câmera 'Lobby' ficou OFFLINE.");
        let p = payload(e);
        assert_eq!((p["floor_name"].as_str(), p["building_name"].as_str(), p["device_name"].as_str()), (Some("Ground"), Some("HQ"), Some("Lobby")));
        bus.publish(topic, QoS::AtLeastOnce, false, json!({"status": "online"}).to_string()).await;
        assert!(eventually(async || events(&app, &t, "event_type=CAMERA_ONLINE").await.len() == 1).await, "back");
        let online = &events(&app, &t, "event_type=CAMERA_ONLINE").await[0];
        assert_eq!((online["rule_id"].as_i64(), online["message"].as_str()), (Some(back), Some("Câmera 'Lobby' voltou a ficar ONLINE.")));
        let (_, closed) = app.get(&format!("/api/v1/alert-events/{}", id(e)), &t).await;
        assert_eq!((closed["is_open"].as_bool(), closed["close_reason"].as_str()), (Some(false), Some("camera_back_online")));
    }
}

backend_tests! {
    async fn a_cool_down_keeps_a_rule_quiet_after_a_session(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let t = &s.token;
        let quiet = rule(&app, t, json!({"name": "Once a minute", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1, "cooldown_seconds": 600})).await;
        let witness = rule(&app, t, json!({"name": "Every time", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, t, "is_open=true").await.len() == 2).await);
        assert!(heard_until(&gw, 2, async || events(&app, t, "is_open=true").await.is_empty()).await);
        // Back at G1: the witness (judged after it) opens again, the cooled rule does not.
        assert!(heard_until(&gw, 1, async || events(&app, t, &format!("rule_id={witness}")).await.len() == 2).await);
        assert_eq!(events(&app, t, &format!("rule_id={quiet}")).await.len(), 1, "cooling down");
    }
}

backend_tests! {
    async fn an_offline_session_survives_a_restart_and_ends_when_the_gateway_is_back(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.devices.offline_after_seconds = 2).await;
        let s = site(&app).await;
        rule(&app, &s.token, json!({"name": "Down", "rule_type": "GATEWAY_OFFLINE", "device_id": s.g1})).await;
        let online = rule(&app, &s.token, json!({"name": "Back", "rule_type": "GATEWAY_ONLINE", "device_id": s.g1})).await;
        let gw = gateway(&app).await;
        gw.publish("rtls/gateways/AC233FC00001/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || events(&app, &s.token, "event_type=GATEWAY_OFFLINE&is_open=true").await.len() == 1).await);
        let offline = id(&events(&app, &s.token, "event_type=GATEWAY_OFFLINE").await[0]);
        drop(gw);

        let app = app.restart().await;
        let token = app.admin_token().await;
        let gw = gateway(&app).await;
        // Still offline after the restart: the session goes on until the gateway is heard.
        let (_, e) = app.get(&format!("/api/v1/alert-events/{offline}"), &token).await;
        assert_eq!(e["is_open"], true);
        gw.publish("rtls/gateways/AC233FC00001/heartbeat", QoS::AtLeastOnce, false, "{}").await;
        assert!(eventually(async || app.get(&format!("/api/v1/alert-events/{offline}"), &token).await.1["is_open"] == false).await, "closed when back");
        let (_, e) = app.get(&format!("/api/v1/alert-events/{offline}"), &token).await;
        assert_eq!(e["close_reason"], "gateway_back_online");
        assert!(eventually(async || events(&app, &token, &format!("rule_id={online}")).await.len() == 1).await);
        let back = &events(&app, &token, &format!("rule_id={online}")).await[0];
        assert!(payload(back)["offline_seconds"].as_f64().unwrap() >= 2.0, "the gap from before the restart: {back}");
        assert_eq!(events(&app, &token, "event_type=GATEWAY_OFFLINE").await.len(), 1, "not reopened after the restart");
    }
}

/// The site with G1 and G2 placed on a plan (left and right), and a zone "Lab" over the
/// plan's left half: heard at G1 the tag is inside, at G2 outside.
async fn zoned_site(app: &TestApp) -> (Site, i64, i64) {
    let s = site(app).await;
    let plan = crate::zones::plan(app, &s.token).await;
    for (gateway, x) in [(s.g1, 0.1), (s.g2, 0.9)] {
        let (status, body) = app
            .call(
                reqwest::Method::PATCH,
                &format!("/api/v1/devices/{gateway}/position"),
                Some(&s.token),
                Some(json!({"floor_plan_id": plan, "pos_x": x, "pos_y": 0.5})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let zone = app
        .create_id(
            &format!("/api/v1/floor-plans/{plan}/zones"),
            &s.token,
            json!({"name": "Lab", "points": [{"x": 0.0, "y": 0.0}, {"x": 0.5, "y": 0.0}, {"x": 0.5, "y": 1.0}, {"x": 0.0, "y": 1.0}]}),
        )
        .await;
    (s, plan, zone)
}

backend_tests! {
    async fn zone_rules_see_a_tag_enter_stay_and_leave_by_its_position(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let (s, plan, zone) = zoned_site(&app).await;
        let t = &s.token;
        let enter = rule(&app, t, json!({"name": "Into the lab", "rule_type": "ZONE_ENTER", "zone_id": zone})).await;
        let exit = rule(&app, t, json!({"name": "Ana out", "rule_type": "ZONE_EXIT", "zone_id": zone, "person_id": s.ana})).await;
        let dwell = rule(&app, t, json!({"name": "Visitors linger", "rule_type": "ZONE_DWELL", "zone_id": zone, "group_id": s.visitors, "max_dwell_seconds": 1})).await;
        let staff = rule(&app, t, json!({"name": "Staff in", "rule_type": "ZONE_ENTER", "zone_id": zone, "group_id": s.staff})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, t, "is_open=true").await.len() == 2).await, "entered, then the dwell limit passed");
        for _ in 0..10 {
            heard_at(&gw, 1).await;
        }
        gw.settled().await;
        let open = events(&app, t, "").await;
        assert_eq!(open.len(), 2, "one entry, one dwell, nothing for staff: {open:#?}");
        let entered = events(&app, t, &format!("rule_id={enter}")).await.remove(0);
        assert_eq!(entered["message"], "Pessoa Ana entrou na zona Lab.");
        assert_eq!((entered["event_type"].as_str(), entered["tag_id"].as_i64(), entered["person_id"].as_i64(), entered["floor_plan_id"].as_i64()), (Some("ZONE_ENTER"), Some(s.tag), Some(s.ana), Some(plan)));
        let p = payload(&entered);
        assert_eq!((p["zone_id"].as_i64(), p["zone_name"].as_str(), p["floor_plan_id"].as_i64(), p["floor_plan_name"].as_str()), (Some(zone), Some("Lab"), Some(plan), Some("Ground plan")));
        let lingering = events(&app, t, &format!("rule_id={dwell}")).await.remove(0);
        let message = lingering["message"].as_str().unwrap();
        assert!(message.starts_with("Pessoa Ana está há ") && message.ends_with("s na zona Lab (limite 1s)."), "{message}");
        assert_eq!(lingering["started_at"], entered["started_at"], "dated from the entry");
        assert!(payload(&lingering)["dwell_seconds"].as_f64().unwrap() >= 1.0);

        // Out of the zone: both sessions end, and the exit is recorded.
        assert!(heard_until(&gw, 2, async || events(&app, t, "is_open=true").await.is_empty()).await, "leaving ends them");
        for id_ in [enter, dwell] {
            let e = events(&app, t, &format!("rule_id={id_}")).await.remove(0);
            assert_eq!((e["close_reason"].as_str(), e["is_open"].as_bool()), (Some("left_zone"), Some(false)), "{e}");
            assert_eq!(e["ended_at"], e["last_seen_at"], "ended at the last evidence inside");
        }
        assert!(eventually(async || events(&app, t, &format!("rule_id={exit}")).await.len() == 1).await);
        // The move came after the ten reports inside: anything they had opened is listed.
        assert_eq!(events(&app, t, "").await.len(), 3, "one entry, one dwell, one exit");
        let left = events(&app, t, &format!("rule_id={exit}")).await.remove(0);
        assert_eq!((left["message"].as_str(), left["is_open"].as_bool(), left["floor_plan_id"].as_i64()), (Some("Pessoa Ana saiu da zona Lab."), Some(false), Some(plan)));
        let p = payload(&left);
        assert_eq!((p["zone_id"].as_i64(), p["zone_name"].as_str()), (Some(zone), Some("Lab")));
        assert!(p["inside_seconds"].as_f64().unwrap() > 0.0, "{p}");
        // Staying outside records nothing more.
        for _ in 0..10 {
            heard_at(&gw, 2).await;
        }
        // Back inside: the engine sees the entry after the reports outside, so by then
        // anything those reports caused is listed.
        assert!(heard_until(&gw, 1, async || events(&app, t, &format!("rule_id={enter}")).await.len() == 2).await, "entered again");
        assert_eq!(events(&app, t, &format!("rule_id={exit}")).await.len(), 1, "staying outside records nothing more");
        assert!(events(&app, t, &format!("rule_id={staff}")).await.is_empty(), "not for Ana's group");
    }
}

backend_tests! {
    async fn a_deleted_zone_disables_its_rules_and_a_deleted_plan_its_zones_rules(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let (s, plan, zone) = zoned_site(&app).await;
        let t = &s.token;
        let enter = rule(&app, t, json!({"name": "Into the lab", "rule_type": "ZONE_ENTER", "zone_id": zone})).await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, t, "is_open=true").await.len() == 1).await);
        assert_eq!(app.delete(&format!("/api/v1/zones/{zone}"), t).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || app.get(&format!("/api/v1/alert-rules/{enter}"), t).await.1["is_active"] == false).await, "disabled");
        let (_, r) = app.get(&format!("/api/v1/alert-rules/{enter}"), t).await;
        assert_eq!(r["zone_id"], Value::Null);
        assert!(r["disabled_reason"].as_str().unwrap().contains(&format!("zone {zone} was deleted")), "{r}");
        assert!(eventually(async || events(&app, t, "is_open=true").await.is_empty()).await);
        assert_eq!(events(&app, t, "").await[0]["close_reason"], "rule_disabled");
        let (status, body) = app.put(&format!("/api/v1/alert-rules/{enter}"), t, json!({"is_active": true})).await;
        assert_eq!((status, body["detail"][0]["loc"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "zone_id"])));

        // The plan goes with its zones: their rules are disabled too.
        let other = app.create_id(&format!("/api/v1/floor-plans/{plan}/zones"), t, json!({"name": "Hall", "points": [{"x": 0.6, "y": 0.1}, {"x": 0.9, "y": 0.1}, {"x": 0.9, "y": 0.9}]})).await;
        let exit = rule(&app, t, json!({"name": "Out of the hall", "rule_type": "ZONE_EXIT", "zone_id": other})).await;
        assert_eq!(app.delete(&format!("/api/v1/floor-plans/{plan}"), t).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || app.get(&format!("/api/v1/alert-rules/{exit}"), t).await.1["is_active"] == false).await, "disabled with the plan");
        // The engine still runs.
        let g2 = rule(&app, t, json!({"name": "G2", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g2})).await;
        assert!(heard_until(&gw, 2, async || events(&app, t, &format!("rule_id={g2}&is_open=true")).await.len() == 1).await);
    }
}

backend_tests! {
    async fn absence_rules_open_when_a_person_goes_unseen_and_close_when_seen(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let s = site(&app).await;
        let t = &s.token;
        let bad = [
            (json!({"name": "A", "rule_type": "ABSENCE", "person_id": s.ana}), "max_absence_seconds"),
            (json!({"name": "A", "rule_type": "ABSENCE", "max_absence_seconds": 60}), "person_id"),
            (json!({"name": "A", "rule_type": "ABSENCE", "person_id": 999_999, "max_absence_seconds": 60}), "person_id"),
            (json!({"name": "A", "rule_type": "ABSENCE", "person_id": s.ana, "max_absence_seconds": -5}), "max_absence_seconds"),
            (json!({"name": "Z", "rule_type": "ZONE_ENTER"}), "zone_id"),
            (json!({"name": "Z", "rule_type": "ZONE_EXIT", "zone_id": 999_999}), "zone_id"),
            (json!({"name": "Z", "rule_type": "GATEWAY_OFFLINE", "person_id": s.ana}), "person_id"),
            (json!({"name": "Z", "rule_type": "FORBIDDEN_SECTOR", "device_id": s.g1, "zone_id": 1}), "zone_id"),
        ];
        for (body, field) in bad {
            let (status, answer) = app.post("/api/v1/alert-rules", t, body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} → {answer}");
            assert!(answer["detail"].as_array().unwrap().iter().any(|d| d["loc"] == json!(["body", field])), "{field} named for {body}: {answer}");
        }
        // Armed on neither today nor tomorrow.
        let today = chrono::Utc::now().date_naive();
        let skip = [today, today.succ_opt().unwrap()].map(|d| d.format("%a").to_string().to_uppercase());
        let days: Vec<&str> = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"].into_iter().filter(|d| !skip.contains(&d.to_string())).collect();
        let asleep = rule(&app, t, json!({"name": "Off hours", "rule_type": "ABSENCE", "person_id": s.ana, "max_absence_seconds": 1, "schedule": {"days": days}})).await;
        let ana = rule(&app, t, json!({"name": "Where is Ana", "rule_type": "ABSENCE", "person_id": s.ana, "max_absence_seconds": 2})).await;
        let group = rule(&app, t, json!({"name": "Visitors", "rule_type": "ABSENCE", "group_id": s.visitors, "max_absence_seconds": 2})).await;
        let created = app.get(&format!("/api/v1/alert-rules/{ana}"), t).await.1;
        assert_eq!((created["person_id"].as_i64(), created["max_absence_seconds"].as_i64()), (Some(s.ana), Some(2)));
        assert!(eventually(async || events(&app, t, "event_type=ABSENCE&is_open=true").await.len() == 2).await, "unseen for the limit");
        let absent = events(&app, t, &format!("rule_id={ana}")).await.remove(0);
        let message = absent["message"].as_str().unwrap();
        assert!(message.starts_with("Pessoa Ana não é vista há ") && message.ends_with("s (limite 2s)."), "{message}");
        assert_eq!((absent["person_id"].as_i64(), absent["is_open"].as_bool()), (Some(s.ana), Some(true)));
        let p = payload(&absent);
        assert!(p["absence_seconds"].as_f64().unwrap() >= 2.0, "{p}");
        assert_eq!((p["max_absence_seconds"].as_i64(), p["person_full_name"].as_str()), (Some(2), Some("Ana")));
        assert_eq!(events(&app, t, &format!("rule_id={group}")).await[0]["group_id"].as_i64(), Some(s.visitors));
        // One event while the absence lasts, not one per tick. Time is the input here:
        // absence is checked each second, so 1.5 s spans at least one more check.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(events(&app, t, "event_type=ABSENCE").await.len(), 2);

        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, t, "event_type=ABSENCE&is_open=true").await.is_empty()).await, "seen again");
        for e in events(&app, t, "event_type=ABSENCE").await {
            assert_eq!(e["close_reason"], "seen_again", "{e}");
            let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
            assert!(parse(&e["ended_at"]) >= parse(&e["started_at"]));
        }
        assert!(events(&app, t, &format!("rule_id={asleep}")).await.is_empty(), "outside its schedule");

        // Ana deleted: her rules are disabled, saying why; the group's rule runs on.
        assert_eq!(app.delete(&format!("/api/v1/people/{}", s.ana), t).await, StatusCode::NO_CONTENT);
        assert!(eventually(async || app.get(&format!("/api/v1/alert-rules/{ana}"), t).await.1["is_active"] == false).await, "disabled");
        let (_, r) = app.get(&format!("/api/v1/alert-rules/{ana}"), t).await;
        assert!(r["disabled_reason"].as_str().unwrap().contains(&format!("person {} was deleted", s.ana)), "{r}");
        assert_eq!(app.get(&format!("/api/v1/alert-rules/{group}"), t).await.1["is_active"], true);
    }
}

backend_tests! {
    async fn a_restart_resumes_the_dwell_countdowns(backend: Backend) {
        let app = TestApp::start_with(backend, with_ttl).await;
        let (s, _, zone) = zoned_site(&app).await;
        let dwell = rule(&app, &s.token, json!({"name": "Linger at G1", "rule_type": "DWELL_TIME", "device_id": s.g1, "max_dwell_seconds": 4})).await;
        let zone_dwell = rule(&app, &s.token, json!({"name": "Linger in the lab", "rule_type": "ZONE_DWELL", "zone_id": zone, "max_dwell_seconds": 4})).await;
        let gw = gateway(&app).await;
        let mut countdowns = Vec::new();
        let stored = heard_until(&gw, 1, async || {
            countdowns = app.store.alert_countdowns().await.unwrap();
            countdowns.len() == 2
        }).await;
        assert!(stored, "both countdowns stored: {countdowns:?}");
        drop(gw);

        // Restarted before the limits pass: the countdowns go on from the arrivals.
        let app = app.restart().await;
        let token = app.admin_token().await;
        let gw = gateway(&app).await;
        assert!(heard_until(&gw, 1, async || events(&app, &token, "is_open=true").await.len() == 2).await, "the limits pass");
        for (rule_id, _, arrived, _) in countdowns {
            let e = events(&app, &token, &format!("rule_id={rule_id}")).await.remove(0);
            let started = chrono::DateTime::parse_from_rfc3339(e["started_at"].as_str().unwrap()).unwrap();
            assert_eq!(started, arrived, "dated from the arrival before the restart: {e}");
            assert!([dwell, zone_dwell].contains(&rule_id));
        }
        assert!(app.store.alert_countdowns().await.unwrap().is_empty(), "crossed countdowns are forgotten");
    }
}
