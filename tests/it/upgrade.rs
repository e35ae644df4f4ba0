//! Upgrades with data. Every schema version this build knows counts as released: for each
//! version V, a database holding a site's rows at V (`tests/fixtures/upgrade/NNNN.sql`
//! after each migration NNNN up to V; see the README there) is migrated to this build's
//! schema the way `securityvision migrate` does (backup first), and then: every row is
//! still there with its values, the columns added since got their defaults, the
//! appliance serves the data over HTTP and stores a reading published over MQTT.
//! A new migration is picked up without editing this file; one without fixture rows fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rumqttc::QoS;
use serde_json::{Value, json};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row, SqliteConnection};

use crate::common::{Backend, TestApp, TestDatabase, backend_tests, test_config};
use crate::mqtt::{Client, Options};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade");
/// The fixture's users and the gateways' MQTT credential (README.md there).
const ADMIN: (&str, &str) = ("admin@site.example", "upgrade-admin-password-1");
const LEGACY_OPERATOR: (&str, &str) = ("operator@site.example", "correct horse battery staple");
const GATEWAY: (&str, &str) = ("site-gateways", "upgrade-gateway-password-1");

/// Tables the "rows in every table" guard skips, with the reason. Every other table of a
/// schema must hold fixture rows.
const NOT_SITE_DATA: &[(&str, &str)] = &[
    (
        "_sqlx_migrations",
        "the migrator's bookkeeping (timings, checksums), not a site's data",
    ),
    (
        "collection_logs_by_tag",
        "SQLite's tag index of the readings, kept later (0024): made from collection_logs",
    ),
    (
        "collection_logs_by_device",
        "SQLite's gateway index of the readings, kept later (0025): made from collection_logs",
    ),
    (
        "collection_logs_merge_watermark",
        "how far SQLite's tag and gateway indexes have been kept (0024, 0025)",
    ),
];

/// Tables a migration renamed (old name, new name): their rows are looked for under the
/// new name.
const RENAMED: &[(&str, &str)] = &[(
    "collection_logs_by_tag_watermark",
    "collection_logs_merge_watermark",
)];

/// The name `table` has in the latest schema.
fn named_now(table: &str) -> &str {
    RENAMED
        .iter()
        .find(|(old, _)| *old == table)
        .map_or(table, |(_, new)| new)
}

/// The value that rows written before a column existed must have in it, as a condition in
/// SQL both engines accept. A column that a migration adds to an existing table must be
/// listed here or in [`NULL_BEFORE`].
const DEFAULTS: &[(&str, &str, &str)] = &[
    // 0015: not rolled up yet (the first passes catch up)
    ("presence_sessions", "rollup_state", "rollup_state = 0"),
    // 0011: a rule with a camera group was scoped to it
    (
        "incident_rules",
        "camera_group_scoped",
        "camera_group_scoped = (camera_group_id IS NOT NULL)",
    ),
];

/// The columns added to existing tables that are NULL in the rows written before.
#[rustfmt::skip]
const NULL_BEFORE: &[(&str, &[&str])] = &[
    // 0003
    ("floor_plans", &["width_m", "height_m"]),
    // 0004
    ("device_events", &["dedup_key", "person_id", "nearby_people"]),
    // 0006: empty means the site's path-loss values
    ("devices", &["rssi_at_1m", "path_loss_exponent"]),
    // 0008: no schedule (always armed), no cool-down, not disabled by the engine
    ("alert_rules", &["schedule", "cooldown_seconds", "disabled_reason"]),
    ("alert_events", &["close_reason", "acknowledged_by", "acknowledged_at", "acknowledged_note"]),
    ("alert_events", &["resolved_by", "resolved_at", "resolved_note"]),
    // 0009: NULL event types means the original's single filter (or every type)
    ("webhook_subscriptions", &["event_types", "paused_at", "pause_reason"]),
    // 0010
    ("alert_rules", &["zone_id", "person_id", "max_absence_seconds"]),
    // 0011: incidents opened before were by hand or by the original's only rule
    ("incidents", &["incident_rule_id"]),
];

/// What every row written before `table.column` existed holds, if it is listed.
fn default_before(table: &str, column: &str) -> Option<String> {
    let null = NULL_BEFORE
        .iter()
        .any(|(t, columns)| *t == table && columns.contains(&column));
    if null {
        return Some(format!("{column} IS NULL"));
    }
    DEFAULTS
        .iter()
        .find(|(t, c, _)| *t == table && *c == column)
        .map(|(_, _, holds)| holds.to_string())
}

fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// Every version this build migrates to, oldest first.
fn versions(backend: Backend) -> Vec<i64> {
    migrator(backend)
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| m.version)
        .collect()
}

fn fixture_file(version: i64) -> PathBuf {
    Path::new(FIXTURES).join(format!("{version:04}.sql"))
}

/// A table's rows as text (every column cast), in a stable order.
type Rows = Vec<Vec<Option<String>>>;

/// Each table: its columns and rows.
type Snapshot = BTreeMap<String, (Vec<String>, Rows)>;

/// A connection of the test's own to the database under upgrade.
enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

macro_rules! on_db {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            Db::Sqlite($conn) => $body,
            Db::Postgres($conn) => $body,
        }
    };
}

impl Db {
    async fn connect(url: &str) -> Db {
        if url.starts_with("sqlite") {
            let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
            let options = options.create_if_missing(true).foreign_keys(true);
            Db::Sqlite(SqliteConnection::connect_with(&options).await.unwrap())
        } else {
            Db::Postgres(PgConnection::connect(url).await.unwrap())
        }
    }

    async fn close(self) {
        on_db!(self, |conn| conn.close().await.unwrap());
    }

    async fn migrate_to(&mut self, backend: Backend, version: i64) {
        on_db!(self, |conn| migrator(backend)
            .run_to(version, &mut *conn)
            .await
            .unwrap_or_else(|e| panic!("migrating to {version}: {e}")));
    }

    async fn script(&mut self, sql: String) {
        on_db!(self, |conn| sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map(drop))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    async fn texts(&mut self, sql: String) -> Rows {
        on_db!(self, |conn| sqlx::query(AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect())
    }

    async fn count(&mut self, sql: String) -> i64 {
        on_db!(self, |conn| sqlx::query_scalar::<_, i64>(AssertSqlSafe(
            sql.clone()
        ))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}")))
    }

    async fn tables(&mut self) -> Vec<String> {
        let sql = match self {
            Db::Sqlite(_) => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Db::Postgres(_) => {
                "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 ORDER BY 1"
            }
        };
        self.texts(sql.into())
            .await
            .into_iter()
            .filter_map(|mut row| row.remove(0))
            .collect()
    }

    async fn columns(&mut self, table: &str) -> Vec<String> {
        let sql = match self {
            Db::Sqlite(_) => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            Db::Postgres(_) => format!(
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = '{table}' \
                 ORDER BY ordinal_position"
            ),
        };
        self.texts(sql)
            .await
            .into_iter()
            .filter_map(|mut row| row.remove(0))
            .collect()
    }

    /// `columns` of every row of `table`, as text, ordered by all of them.
    async fn rows(&mut self, table: &str, columns: &[String]) -> Rows {
        let select: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect();
        let order: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
        self.texts(format!(
            "SELECT {} FROM {table} ORDER BY {}",
            select.join(", "),
            order.join(", ")
        ))
        .await
    }

    /// Every site table with its columns and rows.
    async fn snapshot(&mut self) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for table in self.tables().await {
            if NOT_SITE_DATA.iter().any(|(name, _)| *name == table) {
                continue;
            }
            let columns = self.columns(&table).await;
            let rows = self.rows(&table, &columns).await;
            snapshot.insert(table, (columns, rows));
        }
        snapshot
    }

    /// The newest migration applied.
    async fn schema_version(&mut self) -> i64 {
        self.count("SELECT MAX(version) FROM _sqlx_migrations WHERE success".into())
            .await
    }
}

/// A site's database at `version`: each migration up to it, followed by its fixture rows.
async fn load_fixture(db: &mut Db, backend: Backend, version: i64) {
    for step in versions(backend).into_iter().filter(|v| *v <= version) {
        db.migrate_to(backend, step).await;
        let file = fixture_file(step);
        let sql = std::fs::read_to_string(&file).unwrap_or_else(|_| {
            panic!(
                "migration {step:04} has no fixture: add {} with the rows a site at {step:04} \
                 has in the tables and columns it adds (see the README there)",
                file.display()
            )
        });
        db.script(sql).await;
    }
    if let Db::Postgres(_) = db {
        // The fixture names its ids; a site's rows took theirs from the identity sequences,
        // which are therefore past them.
        let identities = db
            .texts(
                "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND is_identity = 'YES'"
                    .into(),
            )
            .await;
        for row in identities {
            let (table, column) = (row[0].clone().unwrap(), row[1].clone().unwrap());
            db.script(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), MAX({column})) \
                 FROM {table} HAVING MAX({column}) IS NOT NULL"
            ))
            .await;
        }
    }
}

/// What the operator's `securityvision migrate` does: open the configured database, back
/// it up if a schema change is pending (SQLite), apply the migrations. Returns the backup
/// and how many migrations were applied.
async fn migrate_like_the_command(
    backend: Backend,
    config: &securityvision::config::Config,
) -> (Option<PathBuf>, usize) {
    let store = securityvision::bootstrap::open_store(config).await.unwrap();
    let embedded: Vec<i64> = store
        .migration_status()
        .await
        .unwrap()
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(
        embedded,
        versions(backend),
        "the library embeds other migrations than migrations/ holds: it was compiled before \
         a migration was added (cargo does not watch that directory; touch src/store/mod.rs)"
    );
    let migrations = store.migration_status().await.expect("migration status");
    let backup = securityvision::backup::before_migrating(config, &store, &migrations)
        .await
        .expect("backup before migrating");
    let applied = store.migrate().await.expect("migrations apply");
    store.close().await;
    (backup.map(|b| b.path), applied)
}

/// The database inside a backup archive, unpacked to `to`.
fn unpack_database(path: &Path, to: &Path) {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new("database.sqlite") {
            entry.unpack(to).unwrap();
            return;
        }
    }
    panic!("no database.sqlite in {}", path.display());
}

/// The ids a list endpoint answers, sorted.
fn ids(list: &Value) -> Vec<i64> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    let mut ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids
}

/// The ids of a table in a snapshot, sorted.
fn snapshot_ids(snapshot: &Snapshot, table: &str) -> Vec<i64> {
    let Some((columns, rows)) = snapshot.get(table) else {
        return Vec::new();
    };
    let at = columns.iter().position(|c| c == "id").unwrap();
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|r| r[at].as_deref().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// Upgrades the fixture at `version` to the latest schema and checks everything.
async fn upgrade_from(backend: Backend, version: i64) {
    let latest = *versions(backend).last().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(backend, dir.path()).await;
    let config = test_config(dir.path(), &database.url);

    let mut db = Db::connect(&database.url).await;
    load_fixture(&mut db, backend, version).await;
    let before = db.snapshot().await;
    for (table, (_, rows)) in &before {
        assert!(
            !rows.is_empty(),
            "table {table} exists at schema {version:04} but the fixture has no row in it: add \
             rows to tests/fixtures/upgrade/NNNN.sql of the migration that created it (or, if \
             it must stay empty, name it with the reason in NOT_SITE_DATA)"
        );
    }
    db.close().await;

    let (backup, applied) = migrate_like_the_command(backend, &config).await;
    let pending = versions(backend).iter().filter(|v| **v > version).count();
    assert_eq!(applied, pending, "from {version:04}: migrations applied");

    let mut db = Db::connect(&database.url).await;
    assert_eq!(db.schema_version().await, latest);

    // The backup taken before migrating holds the data as the previous version left it.
    match (backend, backup) {
        (Backend::Sqlite, Some(archive)) => {
            assert!(pending > 0);
            let copy = dir.path().join("pre-migrate.sqlite");
            unpack_database(&archive, &copy);
            let mut old = Db::connect(&format!("sqlite://{}", copy.display())).await;
            assert_eq!(old.schema_version().await, version);
            assert!(
                old.snapshot().await == before,
                "from {version:04}: the pre-migration backup differs from the data"
            );
            old.close().await;
        }
        (Backend::Sqlite, None) => assert_eq!(pending, 0, "from {version:04}: no backup taken"),
        (Backend::Postgres, backup) => assert!(backup.is_none(), "pg_dump's job on PostgreSQL"),
    }

    // Every row with every value it had, ids and references included.
    for (table, (columns, rows)) in &before {
        let table = named_now(table);
        let now = db.columns(table).await;
        for column in columns {
            assert!(
                now.contains(column),
                "from {version:04}: column {table}.{column} is gone"
            );
        }
        let after = db.rows(table, columns).await;
        let lost: Vec<_> = rows.iter().filter(|r| !after.contains(r)).collect();
        let new: Vec<_> = after.iter().filter(|r| !rows.contains(r)).collect();
        assert!(
            &after == rows,
            "from {version:04}: the rows of {table} changed ({} before, {} after); \
             columns {columns:?}; rows lost or changed: {lost:?}; rows now: {new:?}",
            rows.len(),
            after.len()
        );
    }
    match &mut db {
        Db::Sqlite(_) => {
            let violations = db.texts("PRAGMA foreign_key_check".into()).await;
            assert!(violations.is_empty(), "from {version:04}: {violations:?}");
            let integrity = db.texts("PRAGMA integrity_check".into()).await;
            assert_eq!(integrity, [[Some("ok".to_string())]], "from {version:04}");
        }
        Db::Postgres(_) => {
            let unchecked = db
                .count("SELECT COUNT(*) FROM pg_constraint WHERE NOT convalidated".into())
                .await;
            assert_eq!(unchecked, 0, "from {version:04}: constraints not validated");
        }
    }

    // Columns added since: the documented value in every existing row.
    for (table, (columns, _)) in &before {
        let table = named_now(table);
        for column in db.columns(table).await {
            if columns.contains(&column) {
                continue;
            }
            let Some(holds) = default_before(table, &column) else {
                panic!(
                    "{table}.{column} is new since {version:04}: add the value that existing \
                     rows get to DEFAULTS or NULL_BEFORE in tests/it/upgrade.rs"
                );
            };
            let wrong = db
                .count(format!(
                    "SELECT COUNT(*) FROM {table} WHERE NOT COALESCE({holds}, FALSE)"
                ))
                .await;
            assert_eq!(
                wrong, 0,
                "from {version:04}: {table} rows where not {holds}"
            );
        }
    }
    db.close().await;

    // The appliance starts on the upgraded database and serves the site's data.
    let app = TestApp::start_on(config, database, dir).await;
    let token = app.login(ADMIN.0, ADMIN.1).await;
    let (_, me) = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me["id"], 1, "{me}");
    assert_eq!(me["must_change_password"], false, "{me}");
    // The original backend's hash still verifies (and is upgraded on the way).
    app.login(LEGACY_OPERATOR.0, LEGACY_OPERATOR.1).await;
    for (path, table) in [
        ("/api/v1/people?limit=100", "people"),
        ("/api/v1/devices?limit=100", "devices"),
        ("/api/v1/alert-events?limit=100", "alert_events"),
        ("/api/v1/incidents?limit=100", "incidents"),
        ("/api/v1/floor-plans/1/zones", "zones"), // the fixture draws on plan 1
    ] {
        let expected = snapshot_ids(&before, table);
        if expected.is_empty() && !before.contains_key(table) {
            continue; // not in the schema at this version
        }
        let (status, list) = app.get(path, &token).await;
        assert_eq!(status, 200, "from {version:04}: GET {path}: {list}");
        // The engines may add rows once running (an absence rule opens its alert).
        let served = ids(&list);
        assert!(
            expected.iter().all(|id| served.contains(id)),
            "from {version:04}: GET {path}: {served:?}, fixture {expected:?}"
        );
    }

    // Ids are not handed out again: a new person's is past the fixture's, and on SQLite
    // upgraded across 0007 also past person 9, deleted before, whom the audit log names.
    let person = app
        .create_id(
            "/api/v1/people",
            &token,
            json!({"full_name": "After the upgrade"}),
        )
        .await;
    let newest = snapshot_ids(&before, "people").last().copied().unwrap();
    assert!(person > newest, "from {version:04}: new person {person}");
    if backend == Backend::Sqlite && version < 7 {
        assert!(
            person > 9,
            "from {version:04}: new person {person} reuses an audited id"
        );
    }

    // The pipeline works on the old data: a reading of a fixture tag by a fixture
    // gateway, published over MQTT, is stored.
    let (username, password) = match &app.gateway_password {
        // No credential at this version: the first start made the site's one.
        Some(password) => ("gateway", password.as_str()),
        None => GATEWAY,
    };
    let gateway = Client::connect(
        app.mqtt_addr.unwrap(),
        Options::new("upgrade-gw").login(username, password),
    )
    .await
    .unwrap_or_else(|code| panic!("from {version:04}: CONNECT as {username}: {code:?}"));
    gateway
        .publish(
            "rtls/gateways/AC233FC0AA01/beacon",
            QoS::AtLeastOnce,
            false,
            r#"{"tag_mac":"AC233F000001","rssi":-48}"#,
        )
        .await;
    let stored = crate::common::eventually_within(Duration::from_secs(10), async || {
        app.sql_text(
            "SELECT CAST(COUNT(*) AS TEXT) FROM collection_logs \
             WHERE device_id = 1 AND tag_id = 1 AND rssi = -48",
        )
        .await
            == Some("1".into())
    })
    .await;
    assert!(stored, "from {version:04}: the reading was not stored");
    gateway.disconnect().await;
    app.stop().await;
}

backend_tests! {
    async fn every_released_schema_upgrades_with_its_data(backend: Backend) {
        // A few versions at a time: each case waits on disk and network more than on CPU.
        for versions in versions(backend).chunks(4) {
            futures_util::future::join_all(versions.iter().map(|v| upgrade_from(backend, *v))).await;
        }
    }

    async fn duplicated_presence_sessions_keep_the_first_written(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(backend, dir.path()).await;
        let config = test_config(dir.path(), &database.url);
        let mut db = Db::connect(&database.url).await;
        load_fixture(&mut db, backend, 4).await;
        let duplicates = Path::new(FIXTURES).join("presence_duplicates.sql");
        db.script(std::fs::read_to_string(duplicates).unwrap()).await;
        db.close().await;

        migrate_like_the_command(backend, &config).await;

        let mut db = Db::connect(&database.url).await;
        let sessions = db
            .texts(
                "SELECT CAST(id AS TEXT), CAST(tag_id AS TEXT), CAST(device_id AS TEXT), \
                 CAST(duration_seconds AS TEXT), CAST(samples_count AS TEXT) \
                 FROM presence_sessions"
                    .into(),
            )
            .await;
        let mut sessions: Vec<[i64; 5]> = sessions
            .iter()
            .map(|row| std::array::from_fn(|i| row[i].as_deref().unwrap().parse().unwrap()))
            .collect();
        sessions.sort_unstable();
        assert_eq!(
            sessions,
            [
                // The fixture's own sessions (0001), no duplicates among them.
                [1, 1, 1, 1800, 120],
                [2, 1, 2, 870, 40],
                [3, 2, 1, 600, 30],
                // Of 101…103 (one key), the lowest id: the first write, not the longest
                // (102) nor the one still open (103).
                [101, 1, 1, 300, 10],
                // Near-duplicates: another tag, another gateway, a second later.
                [104, 2, 1, 300, 10],
                [105, 1, 2, 300, 10],
                [106, 1, 1, 299, 10],
                // Of 110 and 108 (written in that order), the lowest id.
                [108, 2, 2, 600, 20],
            ]
        );
        // The key is unique now.
        let duplicate = "INSERT INTO presence_sessions (id, device_id, tag_id, started_at, \
             ended_at, duration_seconds, samples_count, is_open) VALUES (200, 1, 1, \
             '2026-03-01T08:00:00+00:00', '2026-03-01T09:00:00+00:00', 3600, 1, FALSE)";
        let refused = on_db!(&mut db, |conn| sqlx::raw_sql(duplicate).execute(&mut *conn).await.map(drop));
        assert!(
            refused.as_ref().is_err_and(|e| e.as_database_error().is_some_and(sqlx::error::DatabaseError::is_unique_violation)),
            "{refused:?}"
        );
        db.close().await;
    }
}
