//! `securityvision check`: what an operator runs after installing, before an upgrade or
//! when something is wrong. Each check prints one line (`ok`, `warn` or `FAIL`); the exit
//! status is non-zero when any check fails. Nothing is changed, nothing secret printed.

use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::config::Config;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{level}  {:<22} {}", self.what, self.detail)
    }
}

/// A certificate that expires within this many days is a warning.
const CERTIFICATE_WARN_DAYS: i64 = 30;

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, level: Level, what: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Finding {
            level,
            what: what.into(),
            detail: detail.into(),
        });
    }
}

/// Runs every check against `config` (already loaded and validated: that is the first
/// check, done by the caller).
pub async fn run(config: &Config, source: Option<&Path>) -> Vec<Finding> {
    let mut report = Report::default();
    let source = source.map_or_else(
        || "built-in defaults and SV_* variables".to_string(),
        |file| file.display().to_string(),
    );
    report.add(Level::Ok, "configuration", format!("valid ({source})"));
    data_dir(&mut report, &config.data_dir);
    database(&mut report, config).await;
    disk_space(&mut report, config);
    if let Some(cert) = &config.mqtt.tls_cert {
        certificate(&mut report, "MQTT TLS certificate", cert);
    }
    port(&mut report, "HTTP", config.http.listen);
    if config.mqtt.mode == crate::config::MqttMode::Embedded {
        let listeners = [
            ("MQTT", config.mqtt.listen),
            ("MQTT TLS", config.mqtt.tls_listen),
            ("MQTT WebSocket", config.mqtt.ws_listen),
        ];
        for (name, address) in listeners {
            if let Some(address) = address {
                port(&mut report, name, address);
            }
        }
    }
    report.0
}

fn data_dir(report: &mut Report, dir: &Path) {
    let what = "data directory";
    let metadata = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => {
            return report.add(
                Level::Fail,
                what,
                format!("{} is not a directory", dir.display()),
            );
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return report.add(
                Level::Warn,
                what,
                format!(
                    "{} does not exist yet (serve creates it, mode 0700)",
                    dir.display()
                ),
            );
        }
        Err(err) => return report.add(Level::Fail, what, format!("{}: {err}", dir.display())),
    };
    let mode = metadata.permissions().mode() & 0o777;
    let uid = rustix::process::geteuid().as_raw();
    if metadata.uid() != uid {
        report.add(
            Level::Fail,
            what,
            format!(
                "{} belongs to uid {}, not to this user (uid {uid}); run as the service user",
                dir.display(),
                metadata.uid()
            ),
        );
    } else if mode & 0o077 != 0 {
        report.add(
            Level::Fail,
            what,
            format!(
                "{} has mode {mode:o}; it holds keys: chmod 700",
                dir.display()
            ),
        );
    } else {
        report.add(
            Level::Ok,
            what,
            format!("{} (mode {mode:o})", dir.display()),
        );
    }
    let exposed: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 != 0)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !exposed.is_empty() {
        report.add(
            Level::Fail,
            "data files",
            format!("readable by others: {} (chmod 600)", exposed.join(", ")),
        );
    }
}

async fn database(report: &mut Report, config: &Config) {
    let what = "database";
    let url = config.database_url();
    let shown = crate::store::redact_url(&url);
    // Connecting would create it: say so instead, and change nothing.
    if let Some(file) = crate::backup::sqlite_path(config).filter(|f| !f.exists()) {
        return report.add(
            Level::Warn,
            what,
            format!("{} does not exist yet (serve creates it)", file.display()),
        );
    }
    let connect = crate::store::Store::connect(&url, 1);
    let store = match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(Ok(store)) => store,
        Ok(Err(err)) => return report.add(Level::Fail, what, format!("{shown}: {err}")),
        Err(_) => return report.add(Level::Fail, what, format!("{shown}: no answer in 10 s")),
    };
    match store.migration_status().await {
        Ok(migrations) => {
            let pending = crate::store::MigrationState::pending(&migrations);
            let applied = migrations.len() - pending;
            if pending == 0 {
                report.add(
                    Level::Ok,
                    what,
                    format!("{shown}: reachable, schema up to date ({applied} migrations)"),
                );
            } else {
                report.add(
                    Level::Warn,
                    what,
                    format!(
                        "{shown}: reachable, {pending} migration(s) pending (serve applies them, after a backup on SQLite)"
                    ),
                );
            }
        }
        Err(err) => report.add(Level::Fail, what, format!("{shown}: {err}")),
    }
    store.close().await;
}

fn disk_space(report: &mut Report, config: &Config) {
    let what = "disk space";
    // The data directory, or the nearest existing parent before the first start.
    let Some(dir) = config.data_dir.ancestors().find(|d| d.exists()) else {
        return;
    };
    match crate::disk::space(dir) {
        Ok(space) => {
            let floor = config.disk.min_free_mb * 1024 * 1024;
            let detail = format!(
                "{} MB free of {} MB under {} (readings pause below {} MB)",
                space.free / (1024 * 1024),
                space.total / (1024 * 1024),
                dir.display(),
                config.disk.min_free_mb
            );
            let level = if space.free < floor {
                Level::Fail
            } else if space.free < floor * 2 {
                Level::Warn
            } else {
                Level::Ok
            };
            report.add(level, what, detail);
        }
        Err(err) => report.add(Level::Fail, what, format!("{}: {err}", dir.display())),
    }
}

fn certificate(report: &mut Report, what: &str, path: &Path) {
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(err) => return report.add(Level::Fail, what, format!("{}: {err}", path.display())),
    };
    let parsed = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| e.to_string())
        .and_then(|(_, pem)| {
            pem.parse_x509()
                .map(|cert| cert.validity().not_after.timestamp())
                .map_err(|e| e.to_string())
        });
    let not_after = match parsed {
        Ok(t) => t,
        Err(err) => return report.add(Level::Fail, what, format!("{}: {err}", path.display())),
    };
    let days = (not_after - chrono::Utc::now().timestamp()) / 86_400;
    let until = chrono::DateTime::from_timestamp(not_after, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    let (level, detail) = if days < 0 {
        (Level::Fail, format!("expired on {until}"))
    } else if days < CERTIFICATE_WARN_DAYS {
        (Level::Warn, format!("expires on {until}, in {days} days"))
    } else {
        (Level::Ok, format!("valid until {until}"))
    };
    report.add(level, what, format!("{} {detail}", path.display()));
}

fn port(report: &mut Report, name: &str, address: SocketAddr) {
    let what = format!("{name} port");
    match std::net::TcpListener::bind(address) {
        Ok(_) => report.add(Level::Ok, what, format!("{address} is free")),
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => report.add(
            Level::Warn,
            what,
            format!("{address} is in use (the appliance already running, or another program)"),
        ),
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => report.add(
            Level::Fail,
            what,
            format!(
                "{address}: a port below 1024 needs CAP_NET_BIND_SERVICE (see the systemd unit)"
            ),
        ),
        Err(err) => report.add(Level::Fail, what, format!("{address}: {err}")),
    }
}
