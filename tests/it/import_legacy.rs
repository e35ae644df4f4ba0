//! `import-legacy`: a database of the original backend (its schema written from the
//! specification, `tests/fixtures/legacy_schema.sql`, with sample rows of every table and
//! the odd values it allowed, `legacy_rows.sql`) and its media directory, imported into
//! SQLite and PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use securityvision::import::{Options, Readings, Report};
use serde_json::Value;

use crate::common::{
    Backend, TestApp, TestDatabase, backend_tests, postgres_available, test_config,
};

const PLAN_PNG: &[u8] = include_bytes!("../fixtures/plan-40x30.png");
/// The password behind the admin's and Ana's hashes (passlib_bcrypt_sha256.json).
const ADMIN_PASSWORD: &str = "senha-Forte-123";
const ANA_PASSWORD: &str = "correct horse battery staple";

/// The original's database (on the test PostgreSQL server) and media directory.
struct Legacy {
    db: TestDatabase,
    media: PathBuf,
}

async fn legacy(dir: &Path) -> Legacy {
    let db = TestDatabase::create(Backend::Postgres, dir).await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    for sql in [
        include_str!("../fixtures/legacy_schema.sql"),
        include_str!("../fixtures/legacy_rows.sql"),
    ] {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
    let media = dir.join("old-media");
    std::fs::create_dir_all(media.join("floor_plans")).unwrap();
    std::fs::create_dir_all(media.join("incidents/1")).unwrap();
    std::fs::write(media.join("floor_plans/floor_1.png"), PLAN_PNG).unwrap();
    std::fs::write(
        media.join("incidents/1/20250202090600000000_photo.png"),
        PLAN_PNG,
    )
    .unwrap();
    Legacy { db, media }
}

fn options(legacy: &Legacy) -> Options {
    Options {
        from: legacy.db.url.clone(),
        media_dir: Some(legacy.media.clone()),
        dry_run: false,
        merge: false,
        readings: None,
    }
}

/// (table, read, written, skipped) of a first import without readings.
const FIRST_IMPORT: &[(&str, u64, u64, u64)] = &[
    ("users", 4, 2, 2),
    ("buildings", 2, 2, 0),
    ("floors", 3, 2, 1),
    ("floor_plans", 2, 2, 0),
    ("devices", 5, 4, 1),
    ("people", 3, 3, 0),
    ("tags", 4, 2, 2),
    ("person_groups", 1, 1, 0),
    ("person_group_memberships", 2, 2, 0),
    ("support_groups", 1, 1, 0),
    ("support_group_members", 1, 1, 0),
    ("camera_groups", 1, 1, 0),
    ("camera_group_devices", 1, 1, 0),
    ("device_topics", 1, 1, 0),
    ("device_events", 1, 1, 0),
    ("collection_logs", 4, 0, 4),
    ("alert_rules", 2, 2, 0),
    ("incident_rules", 1, 1, 0),
    ("incidents", 2, 2, 0),
    ("incident_assignees", 1, 1, 0),
    ("incident_messages", 2, 2, 0),
    ("alert_events", 1, 1, 0),
    ("webhook_subscriptions", 1, 1, 0),
    ("locations", 1, 0, 1),
];

fn assert_counts(report: &Report, present: bool) {
    for (table, read, written, skipped) in FIRST_IMPORT {
        let count = report
            .table(table)
            .unwrap_or_else(|| panic!("{table} in the report"));
        let (w, p) = if present {
            (0, *written)
        } else {
            (*written, 0)
        };
        assert_eq!(
            (count.read, count.written, count.present, count.skipped),
            (*read, w, p, *skipped),
            "{table}: read, written, present, skipped"
        );
    }
    assert_eq!(
        report.tables.len(),
        FIRST_IMPORT.len(),
        "{:?}",
        report.tables
    );
}

fn reasons(notes: &[securityvision::import::RowNote]) -> Vec<String> {
    notes
        .iter()
        .map(|n| format!("{} {}: {}", n.table, n.id, n.reason))
        .collect()
}

fn has(notes: &[String], table_id: &str, words: &str) -> bool {
    notes
        .iter()
        .any(|n| n.starts_with(&format!("{table_id}:")) && n.contains(words))
}

/// Every target table the import writes, with its row count.
const TABLES: &[&str] = &[
    "users",
    "buildings",
    "floors",
    "floor_plans",
    "devices",
    "people",
    "tags",
    "person_groups",
    "person_group_memberships",
    "support_groups",
    "support_group_members",
    "camera_groups",
    "camera_group_devices",
    "device_topics",
    "device_events",
    "collection_logs",
    "alert_rules",
    "incident_rules",
    "incidents",
    "incident_assignees",
    "incident_messages",
    "incident_attachments",
    "alert_events",
    "webhook_subscriptions",
];

/// The first column of the first row, as text.
async fn scalar(url: &str, sql: &'static str) -> String {
    if url.starts_with("sqlite") {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }
}

async fn row_counts(url: &str) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for table in TABLES {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let n: i64 = if url.starts_with("sqlite") {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        };
        counts.push((table.to_string(), n));
    }
    counts
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                pending.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// One row of the target as `a|b|c` text (NULL as `-`), the same on both engines.
async fn row(app: &TestApp, table: &str, id: i64, columns: &[&str]) -> String {
    let joined = columns
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), '-')"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    app.sql_text(&format!("SELECT {joined} FROM {table} WHERE id = {id}"))
        .await
        .unwrap_or_else(|| panic!("{table} {id} imported"))
}

/// Values as both engines' text agrees on: booleans as 1/0 (PostgreSQL says true/false),
/// whole floats without ".0" (SQLite keeps it).
fn same_text(row: &str) -> String {
    row.split('|')
        .map(|v| match v {
            "true" => "1".to_string(),
            "false" => "0".to_string(),
            v if v.parse::<f64>().is_ok() => v.strip_suffix(".0").unwrap_or(v).to_string(),
            v => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

async fn link_rows(app: &TestApp, table: &str, a: &str, b: &str) -> String {
    app.sql_text(&format!(
        "SELECT COALESCE(STRING_AGG(CAST({a} AS TEXT) || '-' || CAST({b} AS TEXT), ','), '') \
         FROM (SELECT {a}, {b} FROM {table} ORDER BY {a}, {b}) AS links"
    ))
    .await
    .unwrap_or_default()
}

backend_tests! {
    async fn the_original_site_is_imported_row_by_row_and_its_users_log_in_with_their_old_passwords(backend: Backend) {
        if backend == Backend::Sqlite && !postgres_available() {
            return; // the original's database is PostgreSQL
        }
        let source_dir = tempfile::tempdir().unwrap();
        let legacy = legacy(source_dir.path()).await;
        let dir = tempfile::tempdir().unwrap();
        let target = TestDatabase::create(backend, dir.path()).await;
        let config = test_config(dir.path(), &target.url);

        let report = securityvision::import::run(&config, &options(&legacy)).await.unwrap();
        assert!(report.committed && report.ids_kept, "{report:?}");
        assert_counts(&report, false);
        assert_eq!((report.plan_images, report.incident_files), (1, 1));
        let skipped = reasons(&report.skipped);
        let changed = reasons(&report.changed);
        for (table_id, words) in [
            ("users 3", "same e-mail as user 2"),
            ("users 4", "not an e-mail address"),
            ("floors 3", "building 99 not imported"),
            ("devices 5", "TURNSTILE"),
            ("tags 2", "tag 1's once canonicalised"),
            ("tags 3", "not a MAC address"),
            ("collection_logs all", "--readings"),
            ("locations all", "no counterpart"),
        ] {
            assert!(has(&skipped, table_id, words), "{table_id} skipped ({words}): {skipped:#?}");
        }
        for (table_id, words) in [
            ("users 2", "mapped to OPERATOR"),
            ("floor_plans 2", "not found"),
            ("devices 1", "converted to fractions"),
            ("devices 2", "device 1's once canonicalised"),
            ("devices 4", "not a MAC address"),
            ("devices 4", "outside the plan"),
            ("devices 4", "not a list of names"),
            ("people 3", "not an e-mail address"),
            ("tags 4", "person_id 99"),
            ("alert_rules 2", "imported disabled"),
            ("alert_rules 2", "mapped to MEDIUM"),
            ("incidents 2", "mapped to RESOLVED"),
            ("incidents 2", "mapped to MEDIUM"),
        ] {
            assert!(has(&changed, table_id, words), "{table_id} changed ({words}): {changed:#?}");
        }
        assert_eq!(changed.len(), 13, "{changed:#?}");

        let media_root = config.media_root();
        let app = TestApp::start_on(config, target, dir).await;

        // Every imported row, with the original's ids.
        let expected: &[(&str, i64, &[&str], &str)] = &[
            ("users", 1, &["email", "full_name", "role", "is_active", "is_superuser", "chatwoot_agent_id", "must_change_password"],
                "admin@site.example|Site Admin|ADMIN|1|0|7|0"),
            ("users", 2, &["email", "role"], "ana@site.example|OPERATOR"),
            ("buildings", 1, &["name", "code", "description"], "Headquarters|HQ|Main building"),
            ("buildings", 2, &["name", "code", "description"], "Annex|ANX|-"),
            ("floors", 1, &["building_id", "name", "level"], "1|Ground|0"),
            ("floors", 2, &["building_id", "name", "level", "description"], "2|First|1|Offices"),
            ("floor_plans", 1, &["floor_id", "name", "width", "height"], "1|Ground plan|800.0|600.0"),
            ("floor_plans", 2, &["floor_id", "name", "image_url", "width"], "2|First plan|-|-"),
            ("devices", 1, &["type", "code", "mac_address", "pos_x", "pos_y", "floor_plan_id", "floor_id", "building_id", "ip_address", "manufacturer"],
                "BLE_GATEWAY|GW-1|AABBCCDDEE01|0.5|0.25|1|1|1|10.0.0.11|Minew"),
            ("devices", 2, &["type", "code", "mac_address", "building_id", "floor_id"], "BLE_GATEWAY|GW-2|-|2|-"),
            ("devices", 3, &["type", "code", "pos_x", "pos_y", "port", "username", "shard", "rtsp_url"],
                "CAMERA|CAM-1|0.2|0.3|554|viewer|shard-a|rtsp://10.0.0.21/stream"),
            ("devices", 4, &["code", "mac_address", "pos_x", "floor_plan_id"], "GW-4|-|-|1"),
            ("people", 1, &["full_name", "document_id", "email", "phone", "user_type", "active"],
                "Maria Silva|RG-1|maria@site.example|+55 11 5555-0001|1|1"),
            ("people", 2, &["full_name", "document_id", "email", "notes"], "João Souza|123|-|Contractor"),
            ("people", 3, &["full_name", "email", "active"], "Carla Dias|-|0"),
            ("tags", 1, &["mac_address", "label", "person_id"], "C30000000001|Badge Maria|1"),
            ("tags", 4, &["mac_address", "label", "person_id"], "C30000000004|Badge of someone deleted|-"),
            ("person_groups", 1, &["name"], "Visitors"),
            ("support_groups", 1, &["name", "description", "is_active", "chatwoot_inbox_identifier", "chatwoot_team_id", "default_sla_minutes"],
                "Security|Guards|1|inbox-1|3|30"),
            ("camera_groups", 1, &["name", "tenant"], "Lobby|acme"),
            ("device_topics", 1, &["device_id", "kind", "topic"], "3|cambus_event|cambus/acme/hq/CAM-1/event"),
            ("device_events", 1, &["device_id", "analytic_type", "topic"], "3|FACE|cambus/acme/hq/CAM-1/event"),
            ("alert_rules", 1, &["name", "rule_type", "group_id", "device_id", "is_active", "incident_severity"],
                "Visitors off the lobby|FORBIDDEN_SECTOR|1|1|1|HIGH"),
            ("alert_rules", 2, &["rule_type", "is_active", "incident_severity"], "CROWDING|0|MEDIUM"),
            ("incident_rules", 1, &["name", "enabled", "analytic_type", "tenant", "severity", "title_template", "camera_group_id", "camera_group_scoped", "assigned_group_id"],
                "Faces in the lobby|1|FACE|acme|HIGH|{camera_name}: {analytic_type}|1|1|1"),
            ("incidents", 1, &["device_id", "device_event_id", "kind", "tenant", "status", "severity", "title", "sla_minutes", "created_by_user_id", "assigned_to_user_id", "assigned_group_id"],
                "3|1|CAMERA_FACE|acme|OPEN|HIGH|Face at the lobby|60|1|2|1"),
            ("incidents", 2, &["kind", "status", "severity"], "CAMERA_ISSUE|RESOLVED|MEDIUM"),
            ("incident_messages", 1, &["incident_id", "message_type", "author_name", "content"], "1|TEXT|Site Admin|Checking the camera"),
            ("incident_messages", 2, &["incident_id", "message_type", "media_type", "media_name"], "1|MEDIA|IMAGE|photo.png"),
            ("alert_events", 1, &["rule_id", "event_type", "person_id", "tag_id", "device_id", "floor_plan_id", "floor_id", "building_id", "group_id", "first_collection_log_id", "is_open", "message", "payload"],
                "1|FORBIDDEN_SECTOR|1|1|1|1|1|1|1|-|0|Maria Silva em setor proibido|{\"rule\": 1}"),
            ("webhook_subscriptions", 1, &["name", "url", "event_type_filter", "is_active"], "ERP|https://erp.example/hooks/sv|FORBIDDEN_SECTOR|1"),
        ];
        for (table, id, columns, want) in expected {
            let got = row(&app, table, *id, columns).await;
            assert_eq!(same_text(&got), same_text(want), "{table} {id} {columns:?}");
        }
        assert_eq!(link_rows(&app, "person_group_memberships", "group_id", "person_id").await, "1-1,1-2");
        assert_eq!(link_rows(&app, "support_group_members", "group_id", "user_id").await, "1-1");
        assert_eq!(link_rows(&app, "camera_group_devices", "camera_group_id", "device_id").await, "1-3");
        assert_eq!(link_rows(&app, "incident_assignees", "incident_id", "user_id").await, "1-2");

        // The import is in the audit log.
        let audit = app.sql_text("SELECT CAST(details AS TEXT) FROM audit_log WHERE action = 'import' AND entity = 'site'").await.unwrap();
        assert!(audit.contains("buildings") && audit.contains("incident_messages"), "{audit}");

        // Timestamps kept, through the API.
        let token = app.login("admin@site.example", ADMIN_PASSWORD).await;
        let (_, building) = app.get("/api/v1/buildings/1", &token).await;
        let created: chrono::DateTime<chrono::Utc> = building["created_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(created.to_rfc3339(), "2025-01-10T08:00:00.123456+00:00");

        // Old passwords work and are upgraded to argon2id on first login.
        let hash = app.sql_text("SELECT hashed_password FROM users WHERE id = 1").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        app.login("ana@site.example", ANA_PASSWORD).await;
        let (status, _) = app
            .call(reqwest::Method::POST, "/api/v1/auth/login", None,
                Some(serde_json::json!({"email": "ana@site.example", "password": "wrong"})))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a wrong password is still refused");

        // Camera passwords and webhook secrets sealed with our key.
        let sealed = app.sql_text("SELECT password_encrypted FROM devices WHERE id = 3").await.unwrap();
        assert!(!sealed.contains("cam-secret"));
        let secrets = securityvision::secrets::SecretBox::load(&app.data_dir(), &[]).unwrap();
        assert_eq!(secrets.open(&sealed).as_deref(), Some("cam-secret"));
        let secret = app.sql_text("SELECT secret_token FROM webhook_subscriptions WHERE id = 1").await.unwrap();
        assert_eq!(secrets.open(&secret).as_deref(), Some("old-secret-token-123"));
        let (_, camera) = app.get("/api/v1/devices/3", &token).await;
        assert_eq!(camera["has_password"], true, "{camera}");
        assert_eq!(camera["analytics"], serde_json::json!(["face", "intrusion"]), "{camera}");

        // The plan image and the incident file, copied and served.
        let (_, plan) = app.get("/api/v1/floor-plans/1", &token).await;
        let url = plan["image_url"].as_str().unwrap().to_string();
        assert!(url.starts_with("/media/floor_plans/1-") && url.ends_with(".png"), "{url}");
        let message = app.sql_text("SELECT media_url FROM incident_messages WHERE id = 2").await.unwrap();
        assert!(message.starts_with("/media/incidents/1/"), "{message}");
        for url in [&url, &message] {
            let response = app.client.get(app.url(url)).bearer_auth(&token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            assert_eq!(response.bytes().await.unwrap().as_ref(), PLAN_PNG, "{url}");
        }
        assert_eq!(files_under(&media_root).len(), 2);
        assert_eq!(row(&app, "incident_attachments", 1, &["incident_id", "file_name", "content_type"]).await, "1|photo.png|image/png");

        // New rows get ids the original never handed out (it had gone up to building 10).
        let building = app.create_id("/api/v1/buildings/", &token, serde_json::json!({"name": "New", "code": "NEW"})).await;
        assert_eq!(building, 11);
        let person = app.create_id("/api/v1/people/", &token, serde_json::json!({"full_name": "New Person"})).await;
        assert_eq!(person, 4);
        app.stop().await;
    }

    async fn a_dry_run_writes_nothing_a_full_target_is_refused_and_a_second_merge_changes_nothing(backend: Backend) {
        if backend == Backend::Sqlite && !postgres_available() {
            return;
        }
        let source_dir = tempfile::tempdir().unwrap();
        let legacy = legacy(source_dir.path()).await;
        let dir = tempfile::tempdir().unwrap();
        let target = TestDatabase::create(backend, dir.path()).await;
        let config = test_config(dir.path(), &target.url);
        let empty: Vec<(String, i64)> = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
        let readings = Some(Readings::Since("2025-02-01T00:00:00Z".parse().unwrap()));

        let dry = Options { dry_run: true, readings, ..options(&legacy) };
        let report = securityvision::import::run(&config, &dry).await.unwrap();
        assert!(!report.committed);
        assert_eq!(report.table("buildings").unwrap().written, 2, "a dry run counts what it would write");
        assert_eq!(report.table("collection_logs").unwrap().written, 3);
        assert_eq!(row_counts(&target.url).await, empty, "a dry run writes no row");
        assert!(files_under(&config.media_root()).is_empty(), "a dry run copies no file");

        let first = securityvision::import::run(&config, &Options { readings, ..options(&legacy) }).await.unwrap();
        assert!(first.committed);
        let after_first = row_counts(&target.url).await;
        let files = files_under(&config.media_root());
        assert_eq!(files.len(), 2);

        let refused = securityvision::import::run(&config, &options(&legacy)).await.unwrap_err();
        assert!(format!("{refused:#}").contains("--merge"), "{refused:#}");
        assert_eq!(row_counts(&target.url).await, after_first);

        let merge = Options { merge: true, readings, ..options(&legacy) };
        let second = securityvision::import::run(&config, &merge).await.unwrap();
        assert!(second.committed && !second.ids_kept);
        for count in &second.tables {
            assert_eq!(count.written, 0, "{count:?}");
            let before = first.table(&count.table).unwrap();
            assert_eq!((count.read, count.present, count.skipped), (before.read, before.written, before.skipped), "{}", count.table);
        }
        assert!(second.changed.is_empty(), "{:#?}", second.changed);
        assert_eq!(row_counts(&target.url).await, after_first, "a second merge changes nothing");
        assert_eq!(files_under(&config.media_root()), files);

        // A merge into a site that already has its own data adds the rest, remapping ids.
        let app = TestApp::start_on(config.clone(), target, dir).await;
        let token = app.login("admin@site.example", ADMIN_PASSWORD).await;
        let status = app.delete("/api/v1/devices/3", &token).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let third = securityvision::import::run(&config, &merge).await.unwrap();
        let devices = third.table("devices").unwrap();
        assert_eq!((devices.written, devices.present), (1, 3));
        let camera = app.sql_text("SELECT CAST(id AS TEXT) FROM devices WHERE code = 'CAM-1'").await.unwrap();
        assert_eq!(camera, "6", "a new id, never a reused one");
        let links = link_rows(&app, "camera_group_devices", "camera_group_id", "device_id").await;
        assert_eq!(links, "1-6");
        app.stop().await;
    }

    async fn an_error_half_way_leaves_the_target_and_its_media_as_they_were(backend: Backend) {
        if backend == Backend::Sqlite && !postgres_available() {
            return;
        }
        let source_dir = tempfile::tempdir().unwrap();
        let legacy = legacy(source_dir.path()).await;
        let dir = tempfile::tempdir().unwrap();
        let target = TestDatabase::create(backend, dir.path()).await;
        let mut config = test_config(dir.path(), &target.url);
        // The plan image is copied, then the incident's file does not fit.
        config.incidents.attachment_quota_bytes = 10;
        let failed = securityvision::import::run(&config, &options(&legacy)).await.unwrap_err();
        assert!(format!("{failed:#}").contains("incident"), "{failed:#}");
        let empty: Vec<(String, i64)> = TABLES.iter().map(|t| (t.to_string(), 0)).collect();
        assert_eq!(row_counts(&target.url).await, empty);
        assert!(files_under(&config.media_root()).is_empty(), "{:?}", files_under(&config.media_root()));
    }

    async fn the_command_imports_a_site_and_never_shows_the_source_password(backend: Backend) {
        if backend == Backend::Sqlite && !postgres_available() {
            return;
        }
        let source_dir = tempfile::tempdir().unwrap();
        let legacy = legacy(source_dir.path()).await;
        let dir = tempfile::tempdir().unwrap();
        let target = TestDatabase::create(backend, dir.path()).await;
        // More readings and camera events than one batch (or page) holds.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&legacy.db.url).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO collection_logs (device_id, tag_id, rssi, created_at) \
             SELECT 1, 1, -50, TIMESTAMP '2025-03-02 00:00:00' + g * INTERVAL '1 second' \
             FROM generate_series(1, 4500) AS g; \
             INSERT INTO device_events (device_id, topic, analytic_type, payload, occurred_at) \
             SELECT 3, 'cambus/acme/hq/CAM-1/event', 'MOTION', '{}', TIMESTAMPTZ '2025-03-02 00:00:00+00' + g * INTERVAL '1 second' \
             FROM generate_series(1, 2100) AS g",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        // The test server trusts local connections: the password is there to be hidden.
        let from = legacy.db.url.replacen("://postgres@", "://postgres:hunter2-secret@", 1);
        assert_ne!(from, legacy.db.url);
        let report_file = dir.path().join("import.json");
        let mut command = Command::new(env!("CARGO_BIN_EXE_securityvision"));
        command
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SV_CONFIG", "/dev/null")
            .env("SV_DATABASE_URL", &target.url)
            .args(["--data-dir", &dir.path().join("data").display().to_string(), "import-legacy", "--from", &from])
            .args(["--media-dir", &legacy.media.display().to_string(), "--readings", "all"])
            .args(["--report", &report_file.display().to_string()]);
        let output = command.output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{text}");
        assert!(text.contains("collection_logs") && text.contains("Committed."), "{text}");
        assert!(text.contains("tags 2: MAC"), "{text}");
        let json = std::fs::read_to_string(&report_file).unwrap();
        let audit = scalar(&target.url, "SELECT CAST(details AS TEXT) FROM audit_log WHERE action = 'import'").await;
        let logs_of_event = "SELECT CAST(first_collection_log_id AS TEXT) || '-' || CAST(last_collection_log_id AS TEXT) \
            FROM alert_events WHERE id = 1";
        assert_eq!(scalar(&target.url, logs_of_event).await, "1-2", "the alert's readings, imported with their ids");
        assert!(audit.contains("<redacted>"), "{audit}");
        for shown in [&text, &json, &audit] {
            assert!(!shown.contains("hunter2-secret"), "{shown}");
        }
        let report: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(report["committed"], true);
        let logs = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "collection_logs").unwrap();
        assert_eq!((logs["read"].as_i64(), logs["written"].as_i64(), logs["skipped"].as_i64()), (Some(4504), Some(4503), Some(1)));
        let events = report["tables"].as_array().unwrap().iter().find(|t| t["table"] == "device_events").unwrap();
        assert_eq!((events["read"].as_i64(), events["written"].as_i64()), (Some(2101), Some(2101)));
        assert!(report["skipped"].as_array().unwrap().iter().any(|n| n["table"] == "collection_logs" && n["id"] == "tag 2" && n["reason"].as_str().unwrap().contains("1 log(s)")));

        // A bad --readings value is refused before anything runs.
        let output = Command::new(env!("CARGO_BIN_EXE_securityvision"))
            .env_clear()
            .env("SV_CONFIG", "/dev/null")
            .args(["import-legacy", "--from", &from, "--readings", "since=yesterday"])
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("yesterday"));
    }
}
