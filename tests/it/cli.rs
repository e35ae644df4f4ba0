//! The real binary: `serve`, `migrate`, `seed` and `config`, as an operator runs them.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{Backend, TestDatabase, backend_tests, eventually, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_securityvision");

/// The binary with a clean environment: no `SV_*` or original-backend variables leak in.
pub fn securityvision(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.env("SV_CONFIG", "/dev/null");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A child process that is killed when the test ends, passed or failed.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the appliance at `base` answers `/health`.
pub async fn wait_for_health(base: &str) {
    let healthy = crate::common::eventually(async || {
        reqwest::get(format!("{base}/health"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(healthy, "the appliance did not become healthy at {base}");
}

/// The real binary serving on free loopback ports, killed when dropped.
pub struct Served {
    pub child: KillOnDrop,
    pub http_base: String,
    pub mqtt_port: u16,
}

/// Starts `securityvision serve` in `work` (data directory `work/data`) with HTTP and MQTT
/// on free loopback ports and its output discarded; `configure` adds arguments and
/// environment, or keeps the output. Returns once `/health` answers.
pub async fn serve_binary(work: &Path, configure: impl FnOnce(&mut Command)) -> Served {
    let (http, mqtt) = (free_port(), free_port());
    let mut command = securityvision(work);
    command
        .args([
            "serve",
            "--http-listen",
            &format!("127.0.0.1:{http}"),
            "--mqtt-listen",
            &format!("127.0.0.1:{mqtt}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    configure(&mut command);
    let child = KillOnDrop(command.spawn().expect("the binary starts"));
    let http_base = format!("http://127.0.0.1:{http}");
    wait_for_health(&http_base).await;
    Served {
        child,
        http_base,
        mqtt_port: mqtt,
    }
}

/// An administrator's token on a fresh appliance started by [`serve_binary`] in `work`
/// (its generated password changed to itself).
pub async fn admin_token(base: &str, work: &Path) -> String {
    let password = std::fs::read_to_string(work.join("data/initial-admin-password")).unwrap();
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "admin@localhost", "password": password.trim()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_string();
    let changed: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/change-password"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"current_password": password.trim(), "new_password": password.trim()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    changed["access_token"]
        .as_str()
        .map_or(token, str::to_string)
}

backend_tests! {
    async fn serve_starts_on_defaults_and_stops_on_sigterm(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        let port = free_port();
        let mut command = securityvision(dir.path());
        command.args(["serve", "--http-listen", &format!("127.0.0.1:{port}"), "--mqtt-listen", "127.0.0.1:0"]);
        if backend == Backend::Postgres {
            command.env("SV_DATABASE_URL", &db.url);
        }
        let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_for_health(&base).await;

        // Data directory in the working directory, secrets readable by the owner only.
        let data = dir.path().join("data");
        let password_file = data.join("initial-admin-password");
        let password = std::fs::read_to_string(&password_file).expect("initial admin password written");
        use std::os::unix::fs::PermissionsExt;
        for file in [&password_file, &data.join("jwt-secret")] {
            assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600, "{}", file.display());
        }
        assert_eq!(data.join("securityvision.db").exists(), backend == Backend::Sqlite);

        let client = reqwest::Client::new();
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "admin@localhost", "password": password.trim()}))
            .send().await.unwrap().json().await.unwrap();
        let token = login["access_token"].as_str().expect("token");
        let me = client.get(format!("{base}/api/v1/auth/me")).bearer_auth(token).send().await.unwrap();
        assert_eq!(me.status(), reqwest::StatusCode::OK);

        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
        let all = text(&output);
        assert!(output.status.success(), "exit after SIGTERM: {:?}\n{all}", output.status);
        assert!(all.contains("initial-admin-password"), "says where the password is:\n{all}");
        assert!(!all.contains(password.trim()), "password printed to a non-terminal:\n{all}");
        assert!(all.contains("stopped"), "{all}");
    }

    async fn migrate_status_lists_pending_then_applied_and_is_idempotent(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
        let status = run(securityvision(dir.path()).args(["--database-url", &db.url, "migrate", "--status"]));
        assert!(status.status.success(), "{}", text(&status));
        assert!(text(&status).contains("pending  baseline"), "{}", text(&status));
        assert!(text(&status).contains(&format!("0 applied, {migrations} pending")), "{}", text(&status));

        let refused = run(securityvision(dir.path()).args(["--database-url", &db.url, "serve", "--no-migrate", "--http-listen", "127.0.0.1:0"]));
        assert!(!refused.status.success());
        assert!(text(&refused).contains("out of date"), "{}", text(&refused));

        let first = run(securityvision(dir.path()).args(["--database-url", &db.url, "migrate"]));
        assert!(first.status.success() && text(&first).contains(&format!("{migrations} migration(s) applied")), "{}", text(&first));
        let second = run(securityvision(dir.path()).args(["--database-url", &db.url, "migrate"]));
        assert!(second.status.success() && text(&second).contains("0 migration(s) applied"), "{}", text(&second));
        let status = run(securityvision(dir.path()).args(["--database-url", &db.url, "migrate", "--status"]));
        assert!(text(&status).contains("applied  baseline") && text(&status).contains(&format!("{migrations} applied, 0 pending")), "{}", text(&status));
    }

    async fn seed_creates_an_administrator_once(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        let seed = |extra: &[&str]| {
            let mut command = securityvision(dir.path());
            command.args(["--database-url", &db.url, "seed", "--admin-email", "ops@example.com"]).args(extra);
            run(&mut command)
        };
        let output = seed(&["--admin-password", "a-chosen-password"]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("created administrator ops@example.com"));
        let again = seed(&[]);
        assert!(!again.status.success());
        assert!(text(&again).contains("already exists"), "{}", text(&again));
        let short = run(securityvision(dir.path()).args(["--database-url", &db.url, "seed", "--admin-email", "b@example.com", "--admin-password", "short"]));
        assert!(!short.status.success());

        let store = securityvision::store::Store::connect(&db.url, 1).await.unwrap();
        let user = store.user_by_email("ops@example.com").await.unwrap().unwrap();
        assert!(user.is_admin() && user.hashed_password.starts_with("$argon2id$"));
        assert!(store.first_admin_exists().await.unwrap(), "serve will not create another admin");
        store.close().await;
    }
}

#[test]
fn a_bad_configuration_value_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(securityvision(dir.path())
        .env("SV_HTTP_LISTEN", "localhost")
        .arg("serve"));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let message = text(&output);
    assert!(
        message.contains("http.listen")
            && message.contains("SV_HTTP_LISTEN")
            && message.contains("ADDR:PORT"),
        "{message}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing created on a bad configuration"
    );

    let output = run(securityvision(dir.path())
        .env("SVPOS_SECRET_KEY", "change-me-in-production")
        .arg("serve"));
    assert_eq!(
        output.status.code(),
        Some(2),
        "the original's default signing key is refused"
    );
}

#[test]
fn config_show_prints_the_effective_configuration_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(securityvision(dir.path())
        .env("DATABASE_URL", "postgres://sv:hunter2-pw@db.example/sv")
        .env("SV_JWT_SECRET", "signing-key-that-must-stay-secret-123")
        .args(["--data-dir", "/srv/sv", "config", "show"]));
    assert!(output.status.success(), "{}", text(&output));
    let shown = text(&output);
    assert!(shown.contains("data_dir = \"/srv/sv\""), "{shown}");
    assert!(
        shown.contains("postgres://sv:<redacted>@db.example/sv"),
        "{shown}"
    );
    assert!(
        !shown.contains("hunter2") && !shown.contains("must-stay-secret"),
        "{shown}"
    );

    let example = run(securityvision(dir.path()).args(["config", "example"]));
    assert_eq!(
        String::from_utf8_lossy(&example.stdout),
        securityvision::config::EXAMPLE
    );
}

backend_tests! {
    async fn simulate_registers_tags_and_feeds_the_pipeline(backend: Backend) {
        let app = crate::common::TestApp::start(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let mqtt = app.mqtt_addr.unwrap().to_string();
        let gateway_password = app.gateway_password.clone().unwrap();
        let admin_password = app.admin_password.clone().unwrap();
        // The generated password must be changed (here: to itself) before the API serves it.
        let token = app.admin_token().await;
        let api = app.base.clone();
        let output = tokio::task::spawn_blocking(move || {
            run(securityvision(dir.path())
                .env("SV_SIMULATE_PASSWORD", gateway_password)
                .env("SV_ADMIN_PASSWORD", admin_password)
                .args(["simulate", "--mqtt", &mqtt, "--api", &api, "--gateways", "4", "--tags", "10", "--rate", "5", "--duration", "1", "--format", "readings"]))
        })
        .await
        .unwrap();
        assert!(output.status.success(), "{}", text(&output));
        let report = text(&output);
        assert!(report.contains("10 tags registered"), "{report}");
        let readings: u64 = report.split(" readings").next().and_then(|s| s.rsplit(' ').next()).and_then(|n| n.parse().ok()).expect("a reading count");
        assert!(readings > 0);
        let stored = async || app.get("/api/v1/collection-logs/?limit=1000", &token).await.1.as_array().unwrap().len() as u64;
        assert!(eventually(async || stored().await == readings).await, "every acknowledged reading is stored: {} of {readings}", stored().await);
        let (_, tags) = app.get("/api/v1/tags/", &token).await;
        assert_eq!(tags.as_array().unwrap().len(), 10);
    }
}

backend_tests! {
    async fn the_demo_site_comes_alive_with_the_simulator(backend: Backend) {
        let app = crate::common::TestApp::start_with(backend, |c| c.ingest.cache_refresh_seconds = 1).await;
        let dir = tempfile::tempdir().unwrap();
        let database_url = app.config.database.url.clone().unwrap();
        let data_dir = app.data_dir();
        let seed = |dir: &Path| {
            run(securityvision(dir)
                .args(["--data-dir", data_dir.to_str().unwrap(), "--database-url", &database_url, "seed", "--demo"]))
        };
        let output = seed(dir.path());
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("10 gateways, 3 cameras, 12 people with tags"), "{}", text(&output));
        let again = seed(dir.path());
        assert!(!again.status.success(), "a second demo is refused");
        assert!(text(&again).contains("already exists"), "{}", text(&again));

        let token = app.admin_token().await;
        let (_, plans) = app.get("/api/v1/floor-plans/", &token).await;
        let office = plans.as_array().unwrap().iter().find(|p| p["name"] == "Open office").unwrap().clone();
        assert_eq!((office["width_m"].as_f64(), office["height_m"].as_f64()), (Some(20.0), Some(12.0)));
        let image = app.client.get(app.url(office["image_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(image.status(), reqwest::StatusCode::OK);
        assert_eq!(image.headers()["content-type"], "image/png");
        let (_, gateways) = app.get(&format!("/api/v1/devices/?type=BLE_GATEWAY&floor_plan_id={}", office["id"]), &token).await;
        assert_eq!(gateways.as_array().unwrap().len(), 6);

        // The running appliance picks up the seeded tags (another process wrote them) on
        // its next cache refresh, which nothing announces: the simulator's defaults walk
        // them on the demo's ground floor, a second at a time, until all are located.
        let mqtt = app.mqtt_addr.unwrap().to_string();
        let gateway_password = app.gateway_password.clone().unwrap();
        let dir = std::sync::Arc::new(dir);
        let mut located = Vec::new();
        assert!(eventually(async || {
            let (dir, mqtt, password) = (dir.clone(), mqtt.clone(), gateway_password.clone());
            let output = tokio::task::spawn_blocking(move || {
                run(securityvision(dir.path())
                    .env("SV_SIMULATE_PASSWORD", password)
                    .args(["simulate", "--mqtt", &mqtt, "--rate", "4", "--duration", "1"]))
            })
            .await
            .unwrap();
            assert!(output.status.success(), "{}", text(&output));
            located = app.get("/api/v1/positions/current", &token).await.1.as_array().unwrap().clone();
            located.len() == 12
        }).await, "every demo person is located: {located:?}");
        for row in &located {
            assert_eq!(row["floor_plan_id"], office["id"], "{row}");
            assert!(row["person_full_name"].as_str().is_some_and(|n| !n.is_empty()), "{row}");
            let x_m = row["x_m"].as_f64().unwrap();
            assert!((0.0..=20.0).contains(&x_m), "{row}");
        }
    }
}

/// The data directory, the database and its `-wal`/`-shm` files are the service user's
/// only, whatever the umask and whatever their mode was before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    // `sh` sets the umask, then becomes the appliance.
    let child = Command::new("sh")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SV_CONFIG", "/dev/null")
        .args(["-c", "umask 000 && exec \"$0\" \"$@\"", BIN, "serve"])
        .args([
            "--http-listen",
            &format!("127.0.0.1:{port}"),
            "--mqtt-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_health(&format!("http://127.0.0.1:{port}")).await;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in [
        "securityvision.db",
        "securityvision.db-wal",
        "securityvision.db-shm",
        "jwt-secret",
        "secret-key",
    ] {
        let path = data.join(file);
        assert!(path.exists(), "{file}");
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
}

/// `seed` takes its password from a file or standard input; a generated one goes to a 0600
/// file, not to the output; `--admin-password` still works, with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_reads_passwords_from_files_or_stdin_and_never_prints_a_generated_one() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let seed = |email: &str| {
        let mut command = securityvision(dir.path());
        command.args(["seed", "--admin-email", email]);
        command
    };
    let mut child = seed("stdin@example.com")
        .args(["--admin-password-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from-stdin-pass\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));

    let file = dir.path().join("pw.txt");
    std::fs::write(&file, "from-file-pass\n").unwrap();
    let output =
        run(seed("file@example.com").args(["--admin-password-file", file.to_str().unwrap()]));
    assert!(output.status.success(), "{}", text(&output));

    let output = run(seed("flag@example.com").args(["--admin-password", "from-flag-pass"]));
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("warning"), "{}", text(&output));

    let output = run(&mut seed("generated@example.com"));
    assert!(output.status.success(), "{}", text(&output));
    let generated_file = dir.path().join("data/seed-admin-password");
    let generated = std::fs::read_to_string(&generated_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(generated.len() >= 16);
    assert!(
        !text(&output).contains(&generated),
        "a generated password was printed: {}",
        text(&output)
    );
    assert!(
        text(&output).contains("seed-admin-password"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::metadata(&generated_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    let url = format!(
        "sqlite://{}",
        dir.path().join("data/securityvision.db").display()
    );
    let store = securityvision::store::Store::connect(&url, 1)
        .await
        .unwrap();
    for (email, password) in [
        ("stdin@example.com", "from-stdin-pass"),
        ("file@example.com", "from-file-pass"),
        ("flag@example.com", "from-flag-pass"),
        ("generated@example.com", generated.as_str()),
    ] {
        let hash = store
            .user_by_email(email)
            .await
            .unwrap()
            .unwrap()
            .hashed_password;
        let check = securityvision::auth::verify_password_in_background(password, Some(hash))
            .await
            .unwrap();
        assert!(check.is_valid(), "{email}");
    }
    store.close().await;
}

// As systemd runs it (`Type=notify`, `WatchdogSec=`): `READY=1` once it serves, then
// keep-alives with a status line while it is healthy, and `STOPPING=1` on SIGTERM.
backend_tests! {
    async fn serve_tells_systemd_it_is_ready_then_keeps_the_watchdog_fed(backend: Backend) {
        securityvision::tls::install_default_provider();
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, dir.path()).await;
        let socket_path = dir.path().join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let port = free_port();
        let mut command = securityvision(dir.path());
        command
            .args(["--database-url", &db.url, "serve", "--http-listen", &format!("127.0.0.1:{port}"), "--mqtt-listen", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "900000");
        let mut child = KillOnDrop(command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());

        let received = tokio::task::spawn_blocking(move || {
            let mut messages = Vec::new();
            let mut buffer = [0u8; 4096];
            // READY, then a few keep-alives.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while messages.iter().filter(|m: &&String| m.contains("WATCHDOG=1")).count() < 3 {
                assert!(std::time::Instant::now() < deadline, "three keep-alives within a minute: {messages:?}");
                let n = socket.recv(&mut buffer).expect("a notification within a minute");
                messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
            }
            (socket, messages)
        });
        let (socket, mut messages) = received.await.unwrap();
        // A fresh database is migrated first (no backup: no data), with the start's timeout
        // extended meanwhile.
        let ready = messages.iter().position(|m| m.starts_with("READY=1")).unwrap();
        let starting: Vec<String> = messages.drain(..ready).collect();
        assert!(starting[0].starts_with("STATUS=Applying "), "{starting:?}");
        assert!(starting.iter().all(|m| m.ends_with("\nEXTEND_TIMEOUT_USEC=90000000")), "{starting:?}");
        assert!(messages[0].starts_with("READY=1\nSTATUS=Serving HTTP on"), "{messages:?}");
        // Ready means serving: the API answers at once.
        let health = reqwest::get(format!("http://127.0.0.1:{port}/health")).await.unwrap();
        assert_eq!(health.status(), reqwest::StatusCode::OK);
        let keep_alive = messages.iter().find(|m| m.contains("WATCHDOG=1")).unwrap();
        assert!(keep_alive.contains("STATUS=Serving; 0 MQTT connections"), "{keep_alive}");

        let status = Command::new("kill").args(["-TERM", &child.0.id().to_string()]).status().unwrap();
        assert!(status.success());
        let stopping = tokio::task::spawn_blocking(move || {
            let mut buffer = [0u8; 4096];
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                assert!(std::time::Instant::now() < deadline, "STOPPING within a minute");
                let n = socket.recv(&mut buffer).expect("STOPPING within a minute");
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                if message.starts_with("STOPPING=1") {
                    return message;
                }
            }
        });
        stopping.await.unwrap();
        assert!(child.0.wait().unwrap().success());
    }
}

// A backup taken while the simulator writes holds every row committed before it began, and
// restores into a fresh data directory that a new appliance serves (same keys: the same
// administrator logs in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_into_a_fresh_appliance() {
    let app = crate::common::TestApp::start(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let admin_password = app.admin_password.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mqtt, api) = (app.mqtt_addr.unwrap().to_string(), app.base.clone());
    let (gateway_password, simulator_password) = (
        app.gateway_password.clone().unwrap(),
        admin_password.clone(),
    );
    let simulator_dir = dir.path().to_path_buf();
    let simulator = tokio::task::spawn_blocking(move || {
        run(securityvision(&simulator_dir)
            .env("SV_SIMULATE_PASSWORD", gateway_password)
            .env("SV_ADMIN_PASSWORD", simulator_password)
            .args([
                "simulate",
                "--mqtt",
                &mqtt,
                "--api",
                &api,
                "--gateways",
                "4",
                "--tags",
                "20",
                "--rate",
                "100",
                "--duration",
                "6",
                "--format",
                "readings",
            ]))
    });
    let count = || async {
        let row = app
            .sql_text("SELECT count(*) || ' ' || coalesce(max(id), 0) FROM collection_logs")
            .await
            .unwrap();
        let (n, max) = row.split_once(' ').unwrap();
        (n.parse::<i64>().unwrap(), max.parse::<i64>().unwrap())
    };
    // Wait until readings flow, then note what is committed and take the backup.
    let (mut before, mut last_id) = (0, 0);
    let flowing = eventually(async || {
        (before, last_id) = count().await;
        before > 50
    })
    .await;
    assert!(flowing, "readings flow: {before} stored");
    let archive = dir.path().join("site.tar.gz");
    let (data_dir, db_url) = (
        app.config.data_dir.clone(),
        app.config.database.url.clone().unwrap(),
    );
    let backup = {
        let (dir, archive) = (dir.path().to_path_buf(), archive.clone());
        tokio::task::spawn_blocking(move || {
            run(securityvision(&dir)
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["--database-url", &db_url, "backup", "--to"])
                .arg(&archive))
        })
        .await
        .unwrap()
    };
    assert!(backup.status.success(), "{}", text(&backup));
    let simulated = simulator.await.unwrap();
    assert!(simulated.status.success(), "{}", text(&simulated));
    let (after, _) = count().await;
    assert!(
        after > before,
        "the simulator went on writing during the backup"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Restore into a fresh data directory, then serve it.
    let fresh = tempfile::tempdir().unwrap();
    let restored = run(securityvision(fresh.path())
        .arg("--data-dir")
        .arg(fresh.path().join("data"))
        .arg("restore")
        .arg(&archive));
    assert!(restored.status.success(), "{}", text(&restored));
    let again = run(securityvision(fresh.path())
        .arg("--data-dir")
        .arg(fresh.path().join("data"))
        .arg("restore")
        .arg(&archive));
    assert!(
        !again.status.success() && text(&again).contains("--force"),
        "an existing database is not overwritten silently: {}",
        text(&again)
    );

    let url = format!(
        "sqlite://{}",
        fresh.path().join("data/securityvision.db").display()
    );
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM collection_logs WHERE id <= ?")
        .bind(last_id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        kept, before,
        "every row committed before the backup began is in it"
    );
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);

    // The restored data directory is `fresh/data`, the binary's default there.
    let serving = serve_binary(fresh.path(), |_| {}).await;
    let base = serving.http_base.clone();
    let client = reqwest::Client::new();
    let login: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": app.admin_email, "password": admin_password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let restored_token = login["access_token"]
        .as_str()
        .expect("the same administrator logs in");
    let tags: serde_json::Value = client
        .get(format!("{base}/api/v1/tags/"))
        .bearer_auth(restored_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags.as_array().unwrap().len(), 20, "{tags}");
    let logs = client
        .get(format!("{base}/api/v1/collection-logs/?limit=5"))
        .bearer_auth(restored_token)
        .send()
        .await
        .unwrap();
    assert_eq!(logs.status(), reqwest::StatusCode::OK);
    assert_eq!(
        logs.json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // A token of the original appliance is valid on the restored one: the key came back.
    let me = client
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), reqwest::StatusCode::OK);
}

// On PostgreSQL the archive holds the keys and media, and the command says how to dump the
// database itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_holds_the_keys_and_names_pg_dump() {
    if !crate::common::postgres_available() {
        return;
    }
    let app = crate::common::TestApp::start(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("site.tar.gz");
    let db_url = app.config.database.url.clone().unwrap();
    let backup = run(securityvision(dir.path())
        .arg("--data-dir")
        .arg(&app.config.data_dir)
        .args(["--database-url", &db_url, "backup", "--to"])
        .arg(&archive));
    let report = text(&backup);
    assert!(backup.status.success(), "{report}");
    assert!(report.contains("pg_dump --format=custom"), "{report}");
    let database = db_url.rsplit('/').next().unwrap();
    assert!(report.contains(&format!("/{database}'")), "{report}");
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("securityvision-backup.json"), "{listing}");
    assert!(listing.contains("data/secret-key"), "{listing}");
    assert!(!listing.contains("database.sqlite"), "{listing}");
}

/// A SQLite database in `data` as version 6 of the schema left it, with one building.
async fn an_old_sqlite_database_with_a_building(data: &Path) {
    std::fs::create_dir(data).unwrap();
    let url = format!("sqlite://{}", data.join("securityvision.db").display());
    let options = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true);
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options)
        .await
        .unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let migrator = sqlx::migrate::Migrator::new(migrations).await.unwrap();
    migrator.run_to(6, &mut conn).await.unwrap();
    sqlx::raw_sql("INSERT INTO buildings (name, code, created_at, updated_at) VALUES ('HQ', 'HQ', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z')")
        .execute(&mut conn).await.unwrap();
    drop(conn);
}

// Under systemd, `serve` on such a database says what it does before it is ready (and
// extends the start's timeout while the backup and the migrations run), then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_upgrades_an_old_database_telling_systemd_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    an_old_sqlite_database_with_a_building(&data).await;
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let port = free_port();
    let mut command = securityvision(dir.path());
    command
        .arg("--data-dir")
        .arg(&data)
        .args([
            "serve",
            "--http-listen",
            &format!("127.0.0.1:{port}"),
            "--mqtt-listen",
            "127.0.0.1:0",
        ])
        .env("NOTIFY_SOCKET", &socket_path);
    let _child = KillOnDrop(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let messages = tokio::task::spawn_blocking(move || {
        let mut messages = Vec::new();
        let mut buffer = [0u8; 4096];
        while !messages.iter().any(|m: &String| m.starts_with("READY=1")) {
            let n = socket.recv(&mut buffer).expect("READY within a minute");
            messages.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
        }
        messages
    })
    .await
    .unwrap();
    // A backup, then the migrations, each announced and extending the start (more than
    // once if it takes over 30 s), then ready.
    let (ready, starting) = messages.split_last().unwrap();
    assert!(ready.starts_with("READY=1"), "{messages:?}");
    assert!(
        starting[0].starts_with("STATUS=Backing up the database before migrating"),
        "{messages:?}"
    );
    assert!(
        starting.iter().any(|m| m.starts_with("STATUS=Applying ")),
        "{messages:?}"
    );
    assert!(
        starting
            .iter()
            .all(|m| m.contains("\nEXTEND_TIMEOUT_USEC=")),
        "{messages:?}"
    );
    // Ready came after the backup was written.
    let backups: Vec<_> = std::fs::read_dir(data.join("backups")).unwrap().collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
}

// An upgrade can be undone: migrating a SQLite database that already has data first writes
// a backup of it as the previous version left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_existing_data_backs_it_up_first() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    an_old_sqlite_database_with_a_building(&data).await;

    let migrated = run(securityvision(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .arg("migrate"));
    assert!(migrated.status.success(), "{}", text(&migrated));
    let backups: Vec<_> = std::fs::read_dir(data.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("securityvision-pre-migrate-") && text(&migrated).contains(&name),
        "{}",
        text(&migrated)
    );

    // The backup restores the previous version's database, its row included.
    let fresh = tempfile::tempdir().unwrap();
    let restored = run(securityvision(fresh.path())
        .arg("--data-dir")
        .arg(fresh.path())
        .arg("restore")
        .arg(&backups[0]));
    assert!(restored.status.success(), "{}", text(&restored));
    let url = format!(
        "sqlite://{}",
        fresh.path().join("securityvision.db").display()
    );
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, 6);
    let name: String = sqlx::query_scalar("SELECT name FROM buildings")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(name, "HQ");

    // Nothing to migrate, no backup.
    let again = run(securityvision(dir.path())
        .arg("--data-dir")
        .arg(&data)
        .arg("migrate"));
    assert!(again.status.success());
    assert_eq!(std::fs::read_dir(data.join("backups")).unwrap().count(), 1);
}

// `check` says what is wrong in lines an operator can act on, and fails (exit 1) on a
// failure: a data directory others can read, an expired certificate; a busy port warns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_what_an_operator_must_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let check = |extra: &[(&str, &std::ffi::OsStr)]| {
        let mut command = securityvision(dir.path());
        command
            .arg("--data-dir")
            .arg(&data)
            .arg("check")
            .env("SV_HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .env("SV_MQTT_LISTEN", "127.0.0.1:0");
        for (key, value) in extra {
            command.env(key, value);
        }
        run(&mut command)
    };
    let before = check(&[]);
    assert!(
        before.status.success(),
        "nothing created yet is only a warning: {}",
        text(&before)
    );
    assert!(
        text(&before).contains("warn  data directory"),
        "{}",
        text(&before)
    );
    assert!(
        run(securityvision(dir.path())
            .arg("--data-dir")
            .arg(&data)
            .arg("migrate"))
        .status
        .success()
    );

    let healthy = check(&[]);
    let report = text(&healthy);
    assert!(healthy.status.success(), "{report}");
    for line in [
        "ok    configuration",
        "ok    data directory",
        "ok    database",
        "schema up to date",
        "ok    disk space",
        "ok    HTTP port",
    ] {
        assert!(report.contains(line), "{line} in:\n{report}");
    }

    // Someone made the data directory world-readable, and the HTTP port is taken.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _busy = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let keys_exposed = check(&[]);
    let report = text(&keys_exposed);
    assert_eq!(keys_exposed.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL  data directory") && report.contains("chmod 700"),
        "{report}"
    );
    assert!(
        report.contains("warn  HTTP port") && report.contains("in use"),
        "{report}"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();

    // An expired MQTT TLS certificate.
    let mut params = rcgen::CertificateParams::new(vec!["broker.site".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (dir.path().join("broker.crt"), dir.path().join("broker.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let expired = check(&[
        ("SV_MQTT_TLS_CERT", cert_file.as_os_str()),
        ("SV_MQTT_TLS_KEY", key_file.as_os_str()),
        ("SV_MQTT_TLS_LISTEN", std::ffi::OsStr::new("127.0.0.1:0")),
    ]);
    let report = text(&expired);
    assert_eq!(expired.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL  MQTT TLS certificate") && report.contains("expired on 2021-01-01"),
        "{report}"
    );
}

backend_tests! {
    async fn a_lost_secret_key_stops_the_start_until_restored_or_reset(backend: Backend) {
        let app = crate::common::TestApp::start(backend).await;
        let token = app.admin_token().await;
        let camera = app.create_id("/api/v1/devices/cameras", &token, serde_json::json!({
            "name": "Gate", "ip_address": "10.0.0.10", "username": "viewer", "password": "camera-pass-1",
        })).await;
        let (data_dir, db_url) = (app.data_dir(), app.config.database.url.clone().unwrap());
        let stopped = app.stop_keeping_data().await;
        let key_file = data_dir.join("secret-key");
        let key = std::fs::read(&key_file).unwrap();
        let serve = |dir: &Path| {
            let mut command = securityvision(dir);
            command
                .env("SV_DATA_DIR", &data_dir)
                .env("SV_DATABASE_URL", &db_url)
                .args(["serve", "--http-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"]);
            command
        };
        let work = tempfile::tempdir().unwrap();

        std::fs::remove_file(&key_file).unwrap();
        let refused = run(&mut serve(work.path()));
        let said = text(&refused);
        assert!(!refused.status.success(), "started without its key:\n{said}");
        assert!(said.contains("secret-key is missing") && said.contains("secrets reset"), "{said}");
        assert!(!key_file.exists(), "no new key written over the loss");

        // Another appliance's key is refused too.
        let mut other = key.clone();
        other[..4].copy_from_slice(b"AAAA");
        std::fs::write(&key_file, &other).unwrap();
        let said = text(&run(&mut serve(work.path())));
        assert!(said.contains("does not open the values sealed"), "{said}");

        // Reset: the sealed values are forgotten, a new key made; the appliance starts.
        std::fs::remove_file(&key_file).unwrap();
        let reset = run(securityvision(work.path())
            .env("SV_DATA_DIR", &data_dir)
            .env("SV_DATABASE_URL", &db_url)
            .args(["secrets", "reset"]));
        let said = text(&reset);
        assert!(reset.status.success(), "{said}");
        assert!(said.contains("Forgot 1 device password(s) and 0 webhook"), "{said}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
        let app = stopped.start_again().await;
        let token = app.admin_token().await;
        let (_, stored) = app.get(&format!("/api/v1/devices/{camera}"), &token).await;
        assert_eq!(stored["has_password"], false, "{stored}");
        assert_eq!(stored["ip_address"], "10.0.0.10", "the rest of the device is kept");
    }
}
