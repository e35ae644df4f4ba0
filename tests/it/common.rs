//! The test harness: the real application, started in-process on a random loopback port
//! with its own data directory, on SQLite or on PostgreSQL (a fresh database per test on
//! the server named by `SV_TEST_DATABASE_URL`).

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use securityvision::config::Config;
use securityvision::server::{App, ServeOptions};
use securityvision::store::Store;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares each test once and runs it as two tests, `<name>::sqlite` and
/// `<name>::postgres`. The PostgreSQL one is skipped (with a note) when
/// `SV_TEST_DATABASE_URL` is unset, and fails instead when `SV_TEST_REQUIRE_POSTGRES` is set.
macro_rules! backend_tests {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($backend: $crate::common::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    case($crate::common::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::common::postgres_available() {
                        case($crate::common::Backend::Postgres).await
                    }
                }
            }
        )*
    };
}
pub(crate) use backend_tests;

/// Whether PostgreSQL tests can run; panics if they are required but not configured.
pub fn postgres_available() -> bool {
    let configured = std::env::var("SV_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if !configured && std::env::var("SV_TEST_REQUIRE_POSTGRES").is_ok() {
        panic!("SV_TEST_REQUIRE_POSTGRES is set but SV_TEST_DATABASE_URL is not");
    }
    if !configured {
        eprintln!("skipped: set SV_TEST_DATABASE_URL=postgres://… to run the PostgreSQL variant");
    }
    configured
}

/// Whether a command-line tool the test needs (e.g. `mosquitto_pub`) is installed; the
/// test is skipped without it, unless `SV_TEST_REQUIRE_TOOLS` is set (CI), which fails it.
pub fn tool_available(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()));
    if !found && std::env::var("SV_TEST_REQUIRE_TOOLS").is_ok() {
        panic!("SV_TEST_REQUIRE_TOOLS is set but {name} is not installed");
    }
    if !found {
        eprintln!("skipped: {name} is not installed");
    }
    found
}

/// A database for one test: a SQLite file in the test's directory, or a PostgreSQL
/// database created for it and dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<(String, String)>, // (admin URL, database name)
}

impl TestDatabase {
    pub async fn create(backend: Backend, dir: &Path) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.join("test.db").display()),
                postgres: None,
            },
            Backend::Postgres => {
                let admin_url =
                    std::env::var("SV_TEST_DATABASE_URL").expect("SV_TEST_DATABASE_URL");
                let name = format!(
                    "sv_test_{}",
                    securityvision::auth::random_secret(9)
                        .to_lowercase()
                        .replace(['-', '_'], "x")
                );
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .expect("connect to SV_TEST_DATABASE_URL");
                sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
                )
                .await
                .expect("create test database");
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let url = format!(
                    "{}/{name}",
                    &base[..base.rfind('/').expect("URL with a database path")]
                );
                TestDatabase {
                    url,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async context: use a small runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(sql))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A configuration for a test: everything in `dir`, nothing listening on fixed ports.
pub fn test_config(dir: &Path, database_url: &str) -> Config {
    let mut config = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    config.database.url = Some(database_url.to_string());
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    config.mqtt.listen = Some("127.0.0.1:0".parse().unwrap());
    config.http.shutdown_grace_seconds = 2;
    config
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub events: securityvision::events::EventBus,
    metrics: std::sync::Arc<securityvision::metrics::Metrics>,
    pub config: Config,
    pub admin_email: String,
    pub admin_password: Option<String>,
    /// Password of the `gateway` MQTT credential made on first start.
    pub gateway_password: Option<String>,
    /// The embedded broker's plain listener (embedded mode).
    pub mqtt_addr: Option<std::net::SocketAddr>,
    pub mqtt_tls_addr: Option<std::net::SocketAddr>,
    pub mqtt_ws_addr: Option<std::net::SocketAddr>,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    // Dropped last: the database outlives the server.
    storage: Option<(TestDatabase, TempDir)>,
}

/// Runs `$body` with `$conn`, a new connection to the database `$config` names, whichever
/// engine it is (the two connection types share no trait that `query_scalar` accepts).
macro_rules! on_test_database {
    ($config:expr, |$conn:ident| $body:expr) => {{
        let url = $config.database.url.clone().unwrap();
        if url.starts_with("sqlite") {
            let mut $conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            $body
        } else {
            let mut $conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .unwrap();
            $body
        }
    }};
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        TestApp::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = TestDatabase::create(backend, dir.path()).await;
        let mut config = test_config(dir.path(), &db.url);
        adjust(&mut config);
        TestApp::launch(config, (db, dir), (None, None)).await
    }

    /// Starts the application on a database and data directory prepared beforehand (by
    /// an import, say).
    pub async fn start_on(config: Config, db: TestDatabase, dir: TempDir) -> TestApp {
        TestApp::launch(config, (db, dir), (None, None)).await
    }

    /// Starts another node on this app's database, with its own data directory (and so
    /// its own node id and signing key): two appliances of one site. The database stays
    /// this app's, dropped with it.
    pub async fn another_node(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = self.config.database.url.clone().expect("a database URL");
        let mut config = test_config(dir.path(), &url);
        adjust(&mut config);
        let shared = TestDatabase {
            url,
            postgres: None,
        };
        let passwords = (self.admin_password.clone(), self.gateway_password.clone());
        TestApp::launch(config, (shared, dir), passwords).await
    }

    /// Stops the server the way SIGTERM does, then starts a new one on the same database
    /// and data directory (its first start's passwords still valid).
    pub async fn restart(mut self) -> TestApp {
        self.halt().await;
        let storage = self.storage.take().expect("storage");
        let passwords = (self.admin_password.take(), self.gateway_password.take());
        TestApp::launch(self.config.clone(), storage, passwords).await
    }

    async fn launch(
        config: Config,
        storage: (TestDatabase, TempDir),
        (admin_password, gateway_password): (Option<String>, Option<String>),
    ) -> TestApp {
        let app = App::prepare(config.clone(), ServeOptions::default())
            .await
            .expect("app starts");
        let admin_password = app
            .first_admin
            .as_ref()
            .map(|a| a.password.clone())
            .or(admin_password);
        let gateway_password = app
            .first_gateway
            .as_ref()
            .map(|g| g.password.clone())
            .or(gateway_password);
        let store = app.state.store.clone();
        let events = app.state.events.clone();
        let metrics = app.state.metrics.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let running = app
            .start(listener, shutdown.clone())
            .await
            .expect("app starts");
        let (mqtt_addr, mqtt_tls_addr, mqtt_ws_addr) = (
            running.mqtt_addr,
            running.mqtt_tls_addr,
            running.mqtt_ws_addr,
        );
        let server = tokio::spawn(running.wait());
        TestApp {
            base,
            client: reqwest::Client::new(),
            store,
            events,
            metrics,
            admin_email: config.auth.admin_email.clone(),
            config,
            admin_password,
            gateway_password,
            mqtt_addr,
            mqtt_tls_addr,
            mqtt_ws_addr,
            shutdown,
            server: Some(server),
            storage: Some(storage),
        }
    }

    pub fn metrics(&self) -> &securityvision::metrics::Metrics {
        &self.metrics
    }

    /// The metrics, kept past [`TestApp::stop`].
    pub fn metrics_handle(&self) -> std::sync::Arc<securityvision::metrics::Metrics> {
        self.metrics.clone()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Stops the server the way SIGTERM does, keeping its database and data directory
    /// for [`StoppedApp::start_again`].
    pub async fn stop_keeping_data(mut self) -> StoppedApp {
        self.halt().await;
        StoppedApp {
            storage: self.storage.take().expect("storage"),
            passwords: (self.admin_password.take(), self.gateway_password.take()),
            config: self.config.clone(),
        }
    }

    async fn halt(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with an optional bearer token and JSON body; returns status and body
    /// (JSON, or `Value::Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{path}: body is not JSON: {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> StatusCode {
        self.call(Method::DELETE, path, Some(token), None).await.0
    }

    /// POSTs `body` and returns the created object, asserting the status.
    pub async fn create(
        &self,
        path: &str,
        token: &str,
        body: Value,
        expected: StatusCode,
    ) -> Value {
        let (status, value) = self.post(path, token, body.clone()).await;
        assert_eq!(status, expected, "POST {path} {body} → {value}");
        value
    }

    /// The id of a row created by a POST that must answer 201.
    pub async fn create_id(&self, path: &str, token: &str, body: Value) -> i64 {
        id(&self.create(path, token, body, StatusCode::CREATED).await)
    }

    /// A floor "Ground" in the `building` given, with the floor plan `plan` (its
    /// `floor_id` added): the plan's id.
    pub async fn floor_plan(&self, token: &str, building: Value, mut plan: Value) -> i64 {
        let b = self.create_id("/api/v1/buildings", token, building).await;
        let floor = json!({"building_id": b, "name": "Ground"});
        plan["floor_id"] = json!(self.create_id("/api/v1/floors", token, floor).await);
        self.create_id("/api/v1/floor-plans", token, plan).await
    }

    /// Runs SQL directly against the test database (for setting up rows that no API of
    /// this build writes yet, and for checking what is stored).
    pub async fn sql(&self, sql: &str) {
        execute_sql(&self.config, sql).await;
    }

    /// The first column of the first row of a query, as text.
    pub async fn sql_text(&self, sql: &str) -> Option<String> {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        on_test_database!(self.config, |conn| sqlx::query_scalar(sql)
            .fetch_optional(&mut conn)
            .await
            .unwrap())
    }

    /// Logs in with JSON; panics unless it succeeds.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = serde_json::json!({ "email": email, "password": password });
        let (status, value) = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "login of {email} failed: {value}");
        value["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// A token of the administrator created at first start. Its generated password must
    /// be changed before the API serves it: the first call "changes" it to itself.
    pub async fn admin_token(&self) -> String {
        let password = self
            .admin_password
            .clone()
            .expect("the first start created an admin");
        let token = self.login(&self.admin_email, &password).await;
        let (_, me) = self.get("/api/v1/auth/me", &token).await;
        if me["must_change_password"] != true {
            return token;
        }
        let body = serde_json::json!({"current_password": password, "new_password": password});
        let (status, value) = self
            .post("/api/v1/auth/change-password", &token, body)
            .await;
        assert_eq!(status, StatusCode::OK, "{value}");
        value["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// A client whose connections come from `ip` (any 127.x address reaches the loopback
    /// listener), to act as another source address.
    pub fn client_from(&self, ip: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    }

    /// Creates a user through the API (as admin) and returns a token of theirs.
    pub async fn user_token(&self, admin_token: &str, email: &str, role: &str) -> (i64, String) {
        let body = serde_json::json!({
            "email": email, "full_name": "Test User", "role": role, "password": "user-password-1"
        });
        let (status, user) = self.post("/api/v1/users/", admin_token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        (
            user["id"].as_i64().unwrap(),
            self.login(email, "user-password-1").await,
        )
    }
}

/// An application stopped by [`TestApp::stop_keeping_data`].
pub struct StoppedApp {
    config: Config,
    passwords: (Option<String>, Option<String>),
    storage: (TestDatabase, TempDir),
}

impl StoppedApp {
    pub async fn start_again(self) -> TestApp {
        TestApp::launch(self.config, self.storage, self.passwords).await
    }

    /// Runs SQL on the stopped app's database: what another node, or an operator, does
    /// while this one is down.
    pub async fn sql(&self, sql: &str) {
        execute_sql(&self.config, sql).await;
    }
}

/// Runs SQL on the database `config` names.
async fn execute_sql(config: &Config, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    on_test_database!(config, |conn| {
        sqlx::Executor::execute(&mut conn, sql).await.unwrap();
    });
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The events published on the bus since `rx` subscribed, up to a marker this function
/// publishes last: every event published before the call is in, without waiting on a
/// timer. For the API's events, published before it answers.
pub async fn drain_events(
    app: &TestApp,
    rx: &mut tokio::sync::broadcast::Receiver<securityvision::events::Event>,
) -> Vec<securityvision::events::Event> {
    events_until(app, rx, |_| true).await
}

/// Like [`drain_events`], for events that a background task publishes after the state it
/// stored (the state a test waits for may be visible a moment before its event): goes on
/// past the marker, with a new one, until `enough` holds of what arrived (at most
/// [`WAIT`]). What `enough` does not ask for is still only what came before a marker.
pub async fn events_until(
    app: &TestApp,
    rx: &mut tokio::sync::broadcast::Receiver<securityvision::events::Event>,
    enough: impl Fn(&[securityvision::events::Event]) -> bool,
) -> Vec<securityvision::events::Event> {
    use securityvision::events::{Event, EventType};
    let mut events = Vec::new();
    bounded("the events on the bus", async {
        for marker in 0u64.. {
            let payload = serde_json::json!({ "test_marker": marker });
            app.events.publish_stored(Event {
                event_type: EventType::WebhookTest,
                timestamp: chrono::Utc::now(),
                user_id: None,
                payload: payload.clone(),
            });
            loop {
                let event = rx
                    .recv()
                    .await
                    .expect("the bus keeps every event for the test");
                if event.payload == payload {
                    break;
                }
                if event.payload.get("test_marker").is_none() {
                    events.push(event);
                }
            }
            if enough(&events) {
                return;
            }
            // The next event a background task publishes, then a new marker.
            let event = rx
                .recv()
                .await
                .expect("the bus keeps every event for the test");
            events.push(event);
        }
    })
    .await;
    events
}

/// The `id` of a created resource.
pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// A loopback port nobody listens on (bound, noted, released), taken below the kernel's
/// ephemeral range (32768–60999 on Linux): the servers that the tests running in parallel
/// start on port 0 cannot take it between now and its use (a broker started a second
/// later on it once met another test's broker there).
pub fn free_port() -> u16 {
    loop {
        let port = rand::random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Configures external-broker mode against a broker on loopback `port`.
pub fn external_broker(port: u16) -> impl Fn(&mut Config) + Copy {
    move |c: &mut Config| {
        c.mqtt.mode = securityvision::config::MqttMode::External;
        c.mqtt.external_host = "127.0.0.1".into();
        c.mqtt.external_port = port;
    }
}

/// How long a test waits for a state it expects, or for an acknowledgement: generous, since
/// a wait ends as soon as the state holds, and a loaded CI machine is slow.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `check` until it holds, for at most [`WAIT`].
pub async fn eventually(check: impl AsyncFnMut() -> bool) -> bool {
    eventually_within(WAIT, check).await
}

/// Polls `check` every 50 ms until it holds, for at most `limit`. The only polling sleep of
/// the suite: a state that no event announces is read again after a short pause.
pub async fn eventually_within(
    limit: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs `wait` (a loop waiting for acknowledgements, say) for at most [`WAIT`]; past that
/// the test fails naming `what` it waited for, instead of spinning forever.
pub async fn bounded<T>(what: &str, wait: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("waited {WAIT:?} for {what}"))
}

/// The `detail` of an error body, as text.
/// `POST /api/v1/auth/login` from `client` (whose address the throttles count): the
/// status and the body.
pub async fn login_status(
    client: &reqwest::Client,
    app: &TestApp,
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    let response = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn detail(body: &Value) -> String {
    match &body["detail"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Uploads a floor plan's image as multipart; returns the status and the body (JSON, or
/// the text when it is not JSON).
pub async fn upload_plan_image(
    app: &TestApp,
    token: &str,
    plan: i64,
    file_name: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> (StatusCode, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name.to_string())
        .mime_str(mime)
        .unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let response = app
        .client
        .post(app.url(&format!("/api/v1/floor-plans/{plan}/image")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Mints an HS256 token signed with `secret` (independently of the code under test).
pub fn mint_token(secret: &[u8], claims: Value) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64.encode(claims.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    format!(
        "{header}.{payload}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}
