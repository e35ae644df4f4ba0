//! Storage: one `Store` over SQLite (the default) or PostgreSQL.
//!
//! Each query is written once, in SQL both engines accept (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`), and [`on_pool!`] runs the same body on whichever pool is in use. SQLite
//! gets a separate single-connection writer pool: all writes are serialised inside the
//! process, so a transaction never meets `SQLITE_BUSY` half-way.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::DatabaseConfig;

pub mod alerts;
pub mod audit;
mod calibration;
pub mod cambus;
pub mod chatwoot;
pub mod devices;
pub mod groups;
pub mod history;
pub mod incidents;
pub mod logins;
pub mod mqtt;
pub mod people;
pub mod presence;
pub mod readings;
mod record;
mod sealed;
pub mod site;
mod snapshot;
mod url;
pub mod users;
pub mod webhooks;
pub mod zones;

pub use record::Record;
pub use url::{DatabaseKind, redact_url};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the text names the constraint or column.
    #[error("duplicate value: {0}")]
    Conflict(String),
    /// A foreign key refused the write (a referenced row does not exist, or a row is still
    /// referenced).
    #[error("reference violation: {0}")]
    ForeignKey(String),
    #[error(
        "database schema is out of date: {0} pending migration(s); run `securityvision migrate`"
    )]
    SchemaOutdated(usize),
    /// A cluster leader's write refused: its epoch is no longer current (another node took
    /// over, `docs/cluster.md`).
    #[error("leader epoch {0} is no longer current")]
    Fenced(i64),
    /// A SQLite snapshot (backups) could not be written.
    #[error("copying the database: {0}")]
    Snapshot(String),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) => {
                let what = db
                    .constraint()
                    .map_or_else(|| db.message().to_string(), String::from);
                if db.is_unique_violation() {
                    StoreError::Conflict(what)
                } else if db.is_foreign_key_violation() {
                    StoreError::ForeignKey(what)
                } else {
                    StoreError::Database(sqlx::Error::Database(db))
                }
            }
            other => StoreError::Database(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// `database.sqlite_index_merge_rows`.
    index_merge_rows: i64,
}

#[derive(Clone)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool for `read` or `write` access.
macro_rules! on_pool {
    ($store:expr, read, |$pool:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(db) => {
                let $pool = db.reader();
                $body
            }
            $crate::store::Store::Postgres(db) => {
                let $pool = db;
                $body
            }
        }
    };
    ($store:expr, write, |$pool:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite(db) => {
                let $pool = db.writer();
                $body
            }
            $crate::store::Store::Postgres(db) => {
                let $pool = db;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// First in a cluster leader's transaction: the rest goes ahead only while its `epoch` is
/// current (`docs/cluster.md`); the row lock also makes a takeover wait for it.
macro_rules! fence {
    ($tx:expr, $epoch:expr) => {
        if let Some(epoch) = $epoch {
            let current = sqlx::query($crate::store::readings::FENCE)
                .bind(epoch)
                .execute(&mut *$tx)
                .await?;
            if current.rows_affected() == 0 {
                return Err($crate::store::StoreError::Fenced(epoch));
            }
        }
    };
}
pub(crate) use fence;

impl SqliteStore {
    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.read
    }
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.write
    }
    pub(crate) fn index_merge_rows(&self) -> i64 {
        self.index_merge_rows
    }
}

/// SQLite's plan for `sql` on a new database of the current schema, one line per step (its
/// parameters unbound, so NULL: a plan does not depend on their values).
#[cfg(test)]
pub(crate) async fn sqlite_plan(sql: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = Store::connect(&url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let Store::Sqlite(db) = &store else {
        unreachable!("a SQLite URL")
    };
    let explain = format!("EXPLAIN QUERY PLAN {sql}");
    sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(explain))
        .fetch_all(db.reader())
        .await
        .unwrap()
        .into_iter()
        .map(|(.., detail)| detail)
        .collect()
}

/// PostgreSQL's generic plans for `statements` (their parameters NULL, as `$1` … `$n` of
/// the types it infers), with sequential and bitmap scans off, on one database of the
/// current schema filled by `setup` and analysed; `None` without `SV_TEST_DATABASE_URL` (a
/// failure if `SV_TEST_REQUIRE_POSTGRES` is set).
#[cfg(test)]
pub(crate) async fn postgres_plans(
    setup: &str,
    statements: &[&str],
    parameters: usize,
) -> Option<Vec<String>> {
    use sqlx::Connection;
    let Some(admin) = std::env::var("SV_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("SV_TEST_REQUIRE_POSTGRES").is_err(),
            "SV_TEST_REQUIRE_POSTGRES is set but SV_TEST_DATABASE_URL is not"
        );
        return None;
    };
    let name = format!(
        "sv_plan_{}",
        crate::auth::random_secret(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    let create = format!("CREATE DATABASE {name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.split('?').next().unwrap_or(&admin);
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
    let store = Store::connect(&url, 1).await.unwrap();
    store.migrate().await.unwrap();
    let Store::Postgres(pool) = &store else {
        unreachable!("a PostgreSQL URL")
    };
    let nulls = vec!["NULL"; parameters].join(", ");
    let mut session = pool.acquire().await.unwrap();
    // VACUUM runs alone: not in the transaction of a string of statements.
    let settings = "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; \
         SET enable_bitmapscan = off";
    for step in [setup, "VACUUM ANALYZE", settings] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(step.to_string()))
            .execute(&mut *session)
            .await
            .unwrap();
    }
    let mut plans = Vec::new();
    for sql in statements {
        let explain = format!("PREPARE p AS {sql}; EXPLAIN EXECUTE p({nulls}); DEALLOCATE p");
        let mut plan = String::new();
        for row in sqlx::raw_sql(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut *session)
            .await
            .unwrap()
        {
            plan.push_str(&sqlx::Row::get::<String, _>(&row, 0));
            plan.push('\n');
        }
        plans.push(plan);
    }
    drop(session);
    store.close().await;
    let drop = format!("DROP DATABASE {name} WITH (FORCE)");
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
        .execute(&mut conn)
        .await
        .unwrap();
    Some(plans)
}

/// Asserts that SQLite reads `sql` in one step along `index`, searched (not walked whole
/// from one end), already in the list's order (no sort).
#[cfg(test)]
pub(crate) async fn assert_searches_along(sql: &str, index: &str) {
    let plan = sqlite_plan(sql).await;
    assert!(
        matches!(plan.as_slice(), [step] if step.starts_with("SEARCH ")
            && step.contains(&format!("USING INDEX {index} ("))),
        "{index}: {plan:?}"
    );
}

/// Creates `dir` and its missing parents with mode 0700 (whatever the umask).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates the SQLite file if it is missing and makes it and its `-wal`, `-shm` and
/// `-journal` files the owner's only (0600, whatever the umask): they hold every password
/// hash and sealed credential. SQLite creates those companion files with the mode of the
/// database file.
fn make_private(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(file)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            match std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
        }
    }
    let _ = file;
    Ok(())
}

/// "Now" as the store records it: UTC, whole microseconds (what PostgreSQL keeps), so a
/// value reads back identically from either engine.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// One migration as `migrate --status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationState {
    pub version: i64,
    pub description: String,
    pub applied: bool,
}

impl MigrationState {
    /// How many of `migrations` are not applied yet.
    pub fn pending(migrations: &[MigrationState]) -> usize {
        migrations.iter().filter(|m| !m.applied).count()
    }
}

impl Store {
    /// Opens the database named by `url` with `max_connections` and the default tuning.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store> {
        let config = DatabaseConfig {
            max_connections,
            ..DatabaseConfig::default()
        };
        Self::open(url, &config).await
    }

    /// Opens the database named by `url` as `config` says (its own `url` is not read),
    /// creating a SQLite file (and its directory) if needed. Does not migrate.
    pub async fn open(url: &str, config: &DatabaseConfig) -> Result<Store> {
        match DatabaseKind::of(url) {
            Some(DatabaseKind::Sqlite) => Self::connect_sqlite(url, config).await,
            Some(DatabaseKind::Postgres) => {
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?;
                Ok(Store::Postgres(pool))
            }
            None => Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL {}", redact_url(url)).into(),
            ))),
        }
    }

    async fn connect_sqlite(url: &str, config: &DatabaseConfig) -> Result<Store> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Readings arrive by the hundred thousand per second: the writer keeps the hot
            // index pages in memory (`database.sqlite_cache_mib`). Memory-mapped reads
            // (`database.sqlite_mmap_mib`) save system calls but count in the RSS once per
            // connection; both are memory against speed (BENCHMARKS.md, "Ingest burst").
            .pragma(
                "cache_size",
                format!("-{}", u64::from(config.sqlite_cache_mib) * 1024),
            )
            .pragma(
                "mmap_size",
                (u64::from(config.sqlite_mmap_mib) << 20).to_string(),
            )
            .pragma("temp_store", "memory");
        let file = options.get_filename().to_path_buf();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = file.parent()
                && !dir.as_os_str().is_empty()
            {
                create_private_dir(dir).map_err(|e| StoreError::Database(e.into()))?;
            }
            make_private(&file).map_err(|e| StoreError::Database(e.into()))?;
        }
        // The writer's index merges and migrations take seconds on purpose; sqlx would log
        // each one's whole SQL as a slow statement at WARN. The readers keep that warning.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1)),
            )
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .connect_with(options.read_only(true).pragma("cache_size", "-8192"))
            .await?;
        Ok(Store::Sqlite(SqliteStore {
            read,
            write,
            index_merge_rows: config.sqlite_index_merge_rows.into(),
        }))
    }

    pub fn kind(&self) -> DatabaseKind {
        match self {
            Store::Sqlite(_) => DatabaseKind::Sqlite,
            Store::Postgres(_) => DatabaseKind::Postgres,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self {
            Store::Sqlite(_) => &SQLITE_MIGRATIONS,
            Store::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies every pending migration; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let pending = self.pending_migrations().await?;
        let result = match self {
            Store::Sqlite(db) => self.migrator().run(db.writer()).await,
            // A connection of its own: a migration's statements take seconds on purpose,
            // and the API's pool would log each one's whole SQL at WARN (SQLite's writer is
            // set up the same way).
            Store::Postgres(pool) => {
                let options = (*pool.connect_options())
                    .clone()
                    .log_slow_statements(log::LevelFilter::Info, Duration::from_secs(1));
                let mut conn = options.connect().await?;
                let result = self.migrator().run(&mut conn).await;
                let _ = sqlx::Connection::close(conn).await;
                result
            }
        };
        if let (Err(_), Store::Sqlite(db)) = (&result, self) {
            // A `no-transaction` migration that failed half-way leaves its own transaction
            // open, and foreign keys off or temporary data on disk (0024), on the (only)
            // writer connection.
            let _ = sqlx::raw_sql("ROLLBACK").execute(db.writer()).await;
            let _ = sqlx::raw_sql("PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY")
                .execute(db.writer())
                .await;
        }
        result?;
        Ok(pending)
    }

    /// Every migration this binary knows, and whether the database has it.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>> {
        let applied = self.applied_versions().await?;
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| MigrationState {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    }

    pub async fn pending_migrations(&self) -> Result<usize> {
        Ok(MigrationState::pending(&self.migration_status().await?))
    }

    /// Refuses a schema that lacks migrations this binary needs.
    pub async fn ensure_schema_current(&self) -> Result<()> {
        match self.pending_migrations().await? {
            0 => Ok(()),
            n => Err(StoreError::SchemaOutdated(n)),
        }
    }

    async fn applied_versions(&self) -> Result<Vec<i64>> {
        // The bookkeeping table only exists once something was migrated; asking for it
        // must not create it.
        let exists: bool = match self {
            Store::Sqlite(db) => {
                sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations')",
                )
                .fetch_one(db.reader())
                .await?
            }
            Store::Postgres(pool) => {
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(pool)
                    .await?
            }
        };
        if !exists {
            return Ok(Vec::new());
        }
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .fetch_all(pool)
            .await?))
    }

    /// A trivial round trip, for `/health`.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, read, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Writes a consistent copy of a SQLite database to `path` (one read transaction:
    /// every commit before it, none after; the appliance keeps writing meanwhile). Not for
    /// PostgreSQL, whose backups are `pg_dump`'s.
    pub async fn snapshot_into(&self, path: &Path) -> Result<()> {
        let Store::Sqlite(db) = self else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                "a PostgreSQL database is backed up with pg_dump".into(),
            )));
        };
        let source: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&db.read)
                .await?;
        let destination = path.to_path_buf();
        tokio::task::spawn_blocking(move || snapshot::copy(Path::new(&source), &destination))
            .await
            .map_err(|err| err.to_string())
            .and_then(|copied| copied)
            .map_err(StoreError::Snapshot)
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(db) => {
                db.read.close().await;
                db.write.close().await;
            }
            Store::Postgres(pool) => pool.close().await,
        }
    }

    /// Records an appliance-wide fact (first value wins).
    pub async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO app_settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING";
        on_pool!(self, write, |pool| sqlx::query(SQL)
            .bind(key)
            .bind(value)
            .bind(now())
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Reads a value of the small key/value table that holds appliance-wide facts.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT value FROM app_settings WHERE key = $1";
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(SQL)
            .bind(key)
            .fetch_optional(pool)
            .await?))
    }
}
