//! What the benchmarks share: the release binary started in a process of its own, a floor
//! plan to place gateways on, the administrator's login, the console stream's events and
//! what /proc and the database say. Each benchmark declares `mod common;`.

// Each benchmark is a crate of its own and uses part of this module.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use securityvision::store::Store;
use securityvision::store::devices::{BLE_GATEWAY, Device};
use securityvision::store::site::{Building, Floor, FloorPlan};
use serde_json::{Value, json};

/// A floor plan, on the floor "G" of a building.
pub struct Plan {
    pub building_id: i64,
    pub floor_id: i64,
    pub id: i64,
}

impl Plan {
    /// Saves the building `(name, code)`, its floor and the plan `name` of `size` metres.
    pub async fn save(store: &Store, building: (&str, &str), name: &str, size: (f64, f64)) -> Plan {
        let building = Building {
            name: building.0.into(),
            code: building.1.into(),
            ..Default::default()
        };
        let building = store.save_building(&building).await.unwrap();
        let floor = Floor {
            building_id: building.id,
            name: "G".into(),
            ..Default::default()
        };
        let floor = store.save_floor(&floor).await.unwrap();
        let plan = FloorPlan {
            floor_id: floor.id,
            name: name.into(),
            width_m: Some(size.0),
            height_m: Some(size.1),
            ..Default::default()
        };
        let plan = store.save_floor_plan(&plan).await.unwrap();
        Plan {
            building_id: building.id,
            floor_id: floor.id,
            id: plan.id,
        }
    }

    /// A BLE gateway on the plan, at `at` (fractions of its width and height) if given.
    pub fn gateway(&self, name: String, mac: String, at: Option<(f64, f64)>) -> Device {
        Device {
            name,
            device_type: BLE_GATEWAY.into(),
            mac_address: Some(mac),
            floor_plan_id: Some(self.id),
            floor_id: Some(self.floor_id),
            building_id: Some(self.building_id),
            pos_x: at.map(|(x, _)| x),
            pos_y: at.map(|(_, y)| y),
            ..Default::default()
        }
    }
}

/// POSTs `body` to `url`, with the bearer `token` if given: the JSON answer.
async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut request = http.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Logs in as the first administrator: the access token.
pub async fn login(http: &reqwest::Client, base: &str, password: &str) -> String {
    let body = json!({"email": "admin@localhost", "password": password});
    let login = post(http, format!("{base}/api/v1/auth/login"), None, body).await;
    login["access_token"].as_str().unwrap().to_string()
}

/// [`login`], then the change to `new_password` that a generated password must have
/// before anything else is allowed: the access token.
pub async fn first_login(
    http: &reqwest::Client,
    base: &str,
    password: &str,
    new_password: &str,
) -> String {
    let token = login(http, base, password).await;
    let body = json!({"current_password": password, "new_password": new_password});
    let url = format!("{base}/api/v1/auth/change-password");
    let changed = post(http, url, Some(&token), body).await;
    changed["access_token"]
        .as_str()
        .map_or(token, str::to_string)
}

/// The console stream's events, taken out of the chunks they arrive in.
#[derive(Default)]
pub struct Events {
    buffer: String,
}

impl Events {
    /// Adds `chunk`: the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        let mut events = Vec::new();
        while let Some(end) = self.buffer.find("\n\n") {
            events.push(self.buffer.drain(..end + 2).collect());
        }
        events
    }
}

/// The JSON of a stream event's `data:` line.
pub fn data(event: &str) -> Option<Value> {
    let data = event.lines().find_map(|l| l.strip_prefix("data:"))?;
    serde_json::from_str(data.trim()).ok()
}

/// The appliance under test: the release binary in a process of its own.
pub struct Appliance {
    pub child: tokio::process::Child,
    pub pid: u32,
    pub base: String,
    pub mqtt_port: u16,
    pub work: tempfile::TempDir,
    pub database_url: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Appliance {
    /// Starts `securityvision serve` on loopback ports with the defaults, on `database_url`
    /// (`None`: SQLite in a temporary directory), plus `env` (configuration variables).
    pub async fn start(database_url: Option<String>, env: &[(&str, &str)]) -> Appliance {
        let work = tempfile::tempdir().unwrap();
        let database_url = database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                work.path().join("data/securityvision.db").display()
            )
        });
        let (http, mqtt_port) = (free_port(), free_port());
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_securityvision"))
            .current_dir(work.path())
            .env("SV_CONFIG", "/dev/null")
            .env("SV_DATA_DIR", work.path().join("data"))
            .env("SV_DATABASE_URL", &database_url)
            .env("SV_LOG_FILTER", "warn")
            .envs(env.iter().copied())
            .args(["serve", "--http-listen", &format!("127.0.0.1:{http}")])
            .args(["--mqtt-listen", &format!("127.0.0.1:{mqtt_port}")])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the appliance starts");
        let pid = child.id().unwrap();
        let base = format!("http://127.0.0.1:{http}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(reqwest::get(format!("{base}/api/v1/health")).await, Ok(r) if r.status().is_success())
        {
            assert!(Instant::now() < deadline, "the appliance answers /health");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Appliance {
            child,
            pid,
            base,
            mqtt_port,
            work,
            database_url,
        }
    }

    /// The password of the `gateway` MQTT credential the first start generated.
    pub fn gateway_password(&self) -> String {
        std::fs::read_to_string(self.work.path().join("data/initial-mqtt-gateway-password"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Stops it as systemd does (SIGTERM) and waits for its exit.
    pub async fn stop(&mut self) -> std::process::ExitStatus {
        std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the appliance stops within a minute of SIGTERM")
            .unwrap()
    }
}

/// HTTP as the console speaks it, with an administrator's token.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    /// Logs in with the generated password (and "changes" it to itself, as the first
    /// login must).
    pub async fn login(appliance: &Appliance) -> Api {
        let http = reqwest::Client::new();
        let password_file = appliance.work.path().join("data/initial-admin-password");
        let password = std::fs::read_to_string(password_file).unwrap();
        let password = password.trim();
        let token = first_login(&http, &appliance.base, password, password).await;
        Api {
            http,
            base: appliance.base.clone(),
            token,
        }
    }

    pub async fn create(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }
}

/// One line of /proc/<pid>/status, in MiB (`VmRSS`, `RssAnon`, `RssFile`…).
pub fn status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Readings in the database (`COUNT(*)`), read over a connection of the bench's own.
pub async fn count_readings(url: &str) -> i64 {
    use sqlx::Connection;
    let sql = "SELECT count(*) FROM collection_logs";
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }
}

/// CPU seconds (user and system) spent by process `pid`; with `children`, also by its
/// children that have exited and been waited for. `/proc/<pid>/stat` counts in clock ticks,
/// 100 a second on Linux.
pub fn cpu_seconds(pid: u32, children: bool) -> f64 {
    let Some(fields) = stat_fields(pid) else {
        return 0.0;
    };
    // After the command's name: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    let ticks = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    let own = ticks(14).unwrap_or(0.0) + ticks(15).unwrap_or(0.0);
    let exited = if children {
        ticks(16).unwrap_or(0.0) + ticks(17).unwrap_or(0.0)
    } else {
        0.0
    };
    (own + exited) / 100.0
}

/// CPU seconds of a PostgreSQL server on this machine: its postmaster, its backends and
/// helpers still running, and those that have exited.
pub fn server_cpu_seconds(postmaster: u32) -> f64 {
    let running: f64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(postmaster))
        .map(|pid| cpu_seconds(pid, false))
        .sum();
    cpu_seconds(postmaster, true) + running
}

/// The parent of process `pid`.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The fields of `/proc/<pid>/stat` after the command's name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}
