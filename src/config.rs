//! Effective configuration: built-in defaults < TOML file < environment < command-line flags.
//!
//! Every key has one canonical path (`http.listen`); the environment table maps `SV_*`
//! names, and the variable names of the original Python backend, onto those paths. Values
//! from the environment and from flags go through [`Config::set`], so a bad value is reported
//! with the key, where it came from and what is allowed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the packaged appliance keeps its configuration file.
pub const SYSTEM_CONFIG_FILE: &str = "/etc/securityvision/securityvision.toml";

/// The commented example configuration, also shipped as `config/securityvision.toml`.
pub const EXAMPLE: &str = include_str!("../config/securityvision.toml");

/// Shown instead of a secret by `config show`.
const REDACTED: &str = "<redacted>";

/// Signing keys that must never be accepted: the original backend's default and the usual
/// placeholders.
/// Sane ranges of the path-loss model (site-wide and per gateway).
pub const RSSI_AT_1M_RANGE: std::ops::RangeInclusive<f64> = -100.0..=0.0;
pub const PATH_LOSS_EXPONENT_RANGE: std::ops::RangeInclusive<f64> = 1.0..=6.0;

const WELL_KNOWN_SECRETS: &[&str] = &[
    "change-me-in-production",
    "changeme",
    "change-me",
    "secret",
    "your-secret-key",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {key} = {value:?} (from {origin}): {allowed}")]
    Invalid {
        key: &'static str,
        value: String,
        origin: String,
        allowed: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database, generated secrets and media.
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub mqtt: MqttConfig,
    pub media: MediaConfig,
    pub devices: DevicesConfig,
    pub ingest: IngestConfig,
    pub positioning: PositioningConfig,
    pub cambus: CambusConfig,
}

/// The site's path-loss model and gateway mounting, from which positions are computed
/// (gateways may override the model: `rssi_at_1m`, `path_loss_exponent` on the device).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PositioningConfig {
    /// RSSI (dBm) of a tag 1 m from a gateway.
    pub rssi_at_1m: f64,
    /// How fast the signal falls with distance (2 in free space, 2.5–4 indoors).
    pub path_loss_exponent: f64,
    /// How far above the tags the gateways hang (metres; 0 for gateways at tag height).
    pub gateway_height_m: f64,
}

impl Default for PositioningConfig {
    fn default() -> Self {
        PositioningConfig {
            rssi_at_1m: -59.0,
            path_loss_exponent: 2.5,
            gateway_height_m: 2.5,
        }
    }
}

/// The cameras' bus (CAM-BUS): events in from the collectors, configuration out to them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CambusConfig {
    /// Tenant segment of the topics the appliance publishes.
    pub tenant: String,
    /// Shard of cameras created without one.
    pub default_shard: String,
    /// Put camera passwords in the retained `/info` configuration (readable only by
    /// credentials allowed the camera tree); off for collectors that get them another way.
    pub publish_passwords: bool,
    /// Topic prefix of the uplink start/stop commands.
    pub uplink_tree: String,
    pub uplink_srt_port: u16,
    pub uplink_ttl_seconds: u32,
    /// A tagged person this close to a camera (metres, on plans whose size is known) when
    /// one of its events happens is listed with the event.
    pub nearby_radius_m: f64,
}

impl Default for CambusConfig {
    fn default() -> Self {
        CambusConfig {
            tenant: "default".into(),
            default_shard: "shard-1".into(),
            publish_passwords: true,
            uplink_tree: "security-vision/cameras".into(),
            uplink_srt_port: 8890,
            uplink_ttl_seconds: 300,
            nearby_radius_m: 5.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Where uploaded files (floor-plan images) are kept; empty means `<data_dir>/media`.
    pub root: Option<PathBuf>,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: usize,
    /// Bytes all stored uploads may take together; an upload beyond it is refused (507).
    pub quota_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevicesConfig {
    /// A device not heard from for this many seconds is offline.
    pub offline_after_seconds: u32,
    /// A tag not heard for this many seconds has no current position (the default window
    /// of `/positions/*`).
    pub position_stale_seconds: u32,
    /// A tag not heard by a gateway for longer than this ends its presence session there.
    pub presence_gap_seconds: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            root: None,
            max_upload_bytes: 10 * 1024 * 1024,
            quota_bytes: 1024 * 1024 * 1024,
        }
    }
}

impl Default for DevicesConfig {
    fn default() -> Self {
        DevicesConfig {
            offline_after_seconds: 60,
            position_stale_seconds: 15,
            presence_gap_seconds: 15,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    /// tracing filter directives; `RUST_LOG` overrides it.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Origins allowed to call the API from a browser; empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// Absolute URL under which clients reach the appliance (used in links it generates).
    pub public_base_url: Option<String>,
    /// Seconds that in-flight requests get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    /// A static bearer token for Prometheus to read `/metrics`; without it, `/metrics`
    /// needs an administrator's token.
    pub metrics_token: Option<String>,
    /// Serve the web console from this directory instead of the copy embedded in the
    /// binary (for console development: `npm run build` and reload).
    pub console_dir: Option<PathBuf>,
    /// Seconds a client has to send a request's headers before its connection is closed
    /// (slow-header attacks).
    pub header_read_timeout_seconds: u64,
    /// Live streams (`/api/v1/stream`) one user may hold open at once.
    pub max_streams_per_user: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; empty means SQLite in the data directory.
    pub url: Option<String>,
    pub max_connections: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 signing key; when empty a random key is generated and kept in the data directory.
    pub jwt_secret: Option<String>,
    pub token_ttl_minutes: u32,
    /// Whether the first start of an empty database creates an administrator with a random
    /// password. When off, the first administrator signs up through `/auth/signup`.
    pub bootstrap_admin: bool,
    /// E-mail of the administrator created on the first start of an empty database.
    pub admin_email: String,
    /// Failed logins against one account from one address within `login_lockout_minutes`
    /// before that address is locked out of that account (HTTP 429); the lockout lasts
    /// `login_lockout_minutes`, doubling with each repeat.
    pub max_failed_logins: u32,
    pub login_lockout_minutes: u32,
    /// Failed logins against one account from all addresses together before the account
    /// itself is locked (an administrator can unlock it); never below `max_failed_logins`.
    pub max_failed_logins_per_account: u32,
    /// Login attempts one address may make per minute, whatever their outcome (0: no limit).
    pub login_attempts_per_minute: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `embedded`: our own broker; `external`: consume an existing broker's topics.
    pub mode: MqttMode,
    /// Plain MQTT listener of the embedded broker; `""` switches it off (with a TLS or
    /// WebSocket listener set instead).
    #[serde(with = "optional_address")]
    pub listen: Option<SocketAddr>,
    /// MQTT over TLS listener; needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// MQTT over WebSocket listener (subprotocol `mqtt`), e.g. for browser clients.
    pub ws_listen: Option<SocketAddr>,
    /// Let clients connect without credentials (they may publish gateway reports only).
    pub allow_anonymous: bool,
    pub max_connections: usize,
    /// Largest MQTT packet accepted, in bytes; larger ones close the connection.
    pub max_packet_bytes: usize,
    /// Upper bound of the keep-alive a client may ask for, in seconds; also the idle
    /// timeout of clients that ask for none (keep-alive 0).
    pub max_keep_alive_seconds: u16,
    /// Simultaneous connections from one IP address (0: no limit).
    pub max_connections_per_address: usize,
    /// New connections one IP address may open per minute (0: no limit).
    pub connect_rate_per_minute: u32,
    /// Retained messages one credential (or the anonymous clients together) may keep.
    pub max_retained_per_credential: usize,
    /// Retained messages kept in all, and their bytes.
    pub max_retained_messages: usize,
    pub max_retained_bytes: usize,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout_seconds: u64,
    /// Topic tree of BLE gateway reports (`<tree>/#`).
    pub gateway_tree: String,
    /// Topic tree of the cameras (CAM-BUS, `<tree>/#`).
    pub camera_tree: String,
    /// Topic tree of ESPresense reports (`<tree>/devices/<id>/<room>`); `""`: off.
    pub espresense_tree: String,
    /// Topic tree of Theengs / OpenMQTTGateway reports (`<tree>/<gateway>/BTtoMQTT/<MAC>`);
    /// `""`: off.
    pub theengs_tree: String,
    /// External broker (mode = "external").
    pub external_host: String,
    pub external_port: u16,
    pub external_username: Option<String>,
    pub external_password: Option<String>,
    /// Client id prefix at the external broker; each node appends its own id (kept in
    /// the data directory), so its persistent session survives restarts.
    pub external_client_id: String,
    /// TLS to the external broker, checked against `external_ca_file` (PEM) or the
    /// system's roots.
    pub external_tls: bool,
    pub external_ca_file: Option<PathBuf>,
    /// Shared-subscription group: the nodes of one site split the messages between them.
    pub external_share_group: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttMode {
    Embedded,
    External,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Messages the hand-off from the broker to the pipeline holds; when it is full, QoS 1
    /// publishers wait for their PUBACK and QoS 0 messages are shed (counted).
    pub queue_capacity: usize,
    /// Bytes (topics and payloads) the hand-off holds; full at either limit.
    pub queue_bytes: usize,
    /// Readings one message may carry; a message with more is refused (counted).
    pub max_readings_per_message: usize,
    /// Which readings are stored: every one, at most one per tag, gateway and second, or
    /// none.
    pub raw_readings: RawReadings,
    /// Register a gateway on its first report; off: reports of unknown gateways are
    /// refused (counted).
    pub auto_register_gateways: bool,
    /// Gateways registered on first contact per credential and minute (the anonymous
    /// clients share one allowance); more wait for the next minute (counted).
    pub registrations_per_minute: u32,
    /// Whom a gateway report must come from: anyone the ACL lets publish (`none`), a
    /// client whose client id is the gateway's MAC or name (`client_id`), or one whose
    /// username is (`username`: one credential per gateway).
    pub gateway_binding: GatewayBinding,
    /// Readings older than this many days are deleted (0: keep them all).
    pub retention_days: u32,
    /// Seconds between reloads of the tag and gateway caches, so that changes made
    /// elsewhere (another node, `seed`) are picked up; this node's own API changes apply
    /// at once.
    pub cache_refresh_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayBinding {
    None,
    ClientId,
    Username,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawReadings {
    All,
    Downsampled,
    Off,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            queue_capacity: 65_536,
            queue_bytes: 64 * 1024 * 1024,
            max_readings_per_message: 2000,
            raw_readings: RawReadings::All,
            auto_register_gateways: true,
            registrations_per_minute: 30,
            gateway_binding: GatewayBinding::None,
            retention_days: 30,
            cache_refresh_seconds: 15,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        // Under systemd, `StateDirectory=` tells us where state belongs.
        let data_dir = std::env::var_os("STATE_DIRECTORY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("./data"));
        Config {
            data_dir,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            mqtt: MqttConfig::default(),
            media: MediaConfig::default(),
            devices: DevicesConfig::default(),
            ingest: IngestConfig::default(),
            positioning: PositioningConfig::default(),
            cambus: CambusConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            filter: "info,sqlx=warn,rumqttd=warn".into(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            cors_origins: Vec::new(),
            public_base_url: None,
            shutdown_grace_seconds: 10,
            metrics_token: None,
            console_dir: None,
            header_read_timeout_seconds: 20,
            max_streams_per_user: 8,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 8,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret: None,
            token_ttl_minutes: 1440,
            bootstrap_admin: true,
            admin_email: "admin@localhost".into(),
            max_failed_logins: 10,
            login_lockout_minutes: 15,
            max_failed_logins_per_account: 50,
            login_attempts_per_minute: 60,
        }
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            mode: MqttMode::Embedded,
            listen: Some(SocketAddr::from(([0, 0, 0, 0], 1883))),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            ws_listen: None,
            allow_anonymous: false,
            max_connections: 10_000,
            max_packet_bytes: 256 * 1024,
            max_keep_alive_seconds: 3600,
            max_connections_per_address: 256,
            connect_rate_per_minute: 600,
            max_retained_per_credential: 1000,
            max_retained_messages: 10_000,
            max_retained_bytes: 64 * 1024 * 1024,
            connect_timeout_seconds: 10,
            gateway_tree: "rtls/gateways".into(),
            camera_tree: "rtls/cameras".into(),
            espresense_tree: "espresense".into(),
            theengs_tree: "home".into(),
            external_host: "localhost".into(),
            external_port: 1883,
            external_username: None,
            external_password: None,
            external_client_id: "securityvision".into(),
            external_tls: false,
            external_ca_file: None,
            external_share_group: "securityvision".into(),
        }
    }
}

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("mode", &self.mode)
            .field("listen", &self.listen)
            .field("tls_listen", &self.tls_listen)
            .field("ws_listen", &self.ws_listen)
            .field("allow_anonymous", &self.allow_anonymous)
            .field("external_host", &self.external_host)
            .field("external_port", &self.external_port)
            .field("external_username", &self.external_username)
            .field(
                "external_password",
                &self.external_password.as_ref().map(|_| REDACTED),
            )
            .finish_non_exhaustive()
    }
}

// Secrets never reach logs through `{:?}`.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| REDACTED))
            .field("token_ttl_minutes", &self.token_ttl_minutes)
            .field("bootstrap_admin", &self.bootstrap_admin)
            .field("admin_email", &self.admin_email)
            .field("max_failed_logins", &self.max_failed_logins)
            .field("login_lockout_minutes", &self.login_lockout_minutes)
            .field(
                "max_failed_logins_per_account",
                &self.max_failed_logins_per_account,
            )
            .field("login_attempts_per_minute", &self.login_attempts_per_minute)
            .finish()
    }
}

/// One configuration key as the environment names it. The first name that is set wins, so
/// the `SV_*` name takes precedence over the original backend's name.
struct EnvKey {
    key: &'static str,
    names: &'static [&'static str],
    /// Secrets can also be read from a file named by `<NAME>_FILE`.
    secret: bool,
}

const ENV_KEYS: &[EnvKey] = &[
    EnvKey {
        key: "data_dir",
        names: &["SV_DATA_DIR"],
        secret: false,
    },
    EnvKey {
        key: "log.format",
        names: &["SV_LOG_FORMAT"],
        secret: false,
    },
    EnvKey {
        key: "log.filter",
        names: &["SV_LOG_FILTER"],
        secret: false,
    },
    EnvKey {
        key: "http.listen",
        names: &["SV_HTTP_LISTEN"],
        secret: false,
    },
    EnvKey {
        key: "http.cors_origins",
        names: &["SV_HTTP_CORS_ORIGINS"],
        secret: false,
    },
    EnvKey {
        key: "http.public_base_url",
        names: &["SV_PUBLIC_BASE_URL", "PUBLIC_BASE_URL"],
        secret: false,
    },
    EnvKey {
        key: "http.console_dir",
        names: &["SV_HTTP_CONSOLE_DIR"],
        secret: false,
    },
    EnvKey {
        key: "http.shutdown_grace_seconds",
        names: &["SV_HTTP_SHUTDOWN_GRACE_SECONDS"],
        secret: false,
    },
    EnvKey {
        key: "http.header_read_timeout_seconds",
        names: &["SV_HTTP_HEADER_READ_TIMEOUT_SECONDS"],
        secret: false,
    },
    EnvKey {
        key: "http.max_streams_per_user",
        names: &["SV_HTTP_MAX_STREAMS_PER_USER"],
        secret: false,
    },
    EnvKey {
        key: "media.quota_bytes",
        names: &["SV_MEDIA_QUOTA_BYTES"],
        secret: false,
    },
    EnvKey {
        key: "database.url",
        names: &["SV_DATABASE_URL", "DATABASE_URL"],
        secret: true,
    },
    EnvKey {
        key: "database.max_connections",
        names: &["SV_DATABASE_MAX_CONNECTIONS"],
        secret: false,
    },
    EnvKey {
        key: "auth.jwt_secret",
        names: &["SV_JWT_SECRET", "JWT_SECRET_KEY", "SVPOS_SECRET_KEY"],
        secret: true,
    },
    EnvKey {
        key: "auth.token_ttl_minutes",
        names: &[
            "SV_TOKEN_TTL_MINUTES",
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
            "SVPOS_ACCESS_TOKEN_EXPIRE_MINUTES",
        ],
        secret: false,
    },
    EnvKey {
        key: "auth.bootstrap_admin",
        names: &["SV_BOOTSTRAP_ADMIN"],
        secret: false,
    },
    EnvKey {
        key: "auth.admin_email",
        names: &["SV_ADMIN_EMAIL"],
        secret: false,
    },
    EnvKey {
        key: "auth.max_failed_logins",
        names: &["SV_MAX_FAILED_LOGINS"],
        secret: false,
    },
    EnvKey {
        key: "auth.login_lockout_minutes",
        names: &["SV_LOGIN_LOCKOUT_MINUTES"],
        secret: false,
    },
    EnvKey {
        key: "auth.max_failed_logins_per_account",
        names: &["SV_MAX_FAILED_LOGINS_PER_ACCOUNT"],
        secret: false,
    },
    EnvKey {
        key: "auth.login_attempts_per_minute",
        names: &["SV_LOGIN_ATTEMPTS_PER_MINUTE"],
        secret: false,
    },
    EnvKey {
        key: "media.root",
        names: &["SV_MEDIA_ROOT", "MEDIA_ROOT"],
        secret: false,
    },
    EnvKey {
        key: "media.max_upload_bytes",
        names: &["SV_MEDIA_MAX_UPLOAD_BYTES"],
        secret: false,
    },
    EnvKey {
        key: "devices.offline_after_seconds",
        names: &[
            "SV_DEVICE_OFFLINE_AFTER_SECONDS",
            "DEVICE_OFFLINE_THRESHOLD_SECONDS",
        ],
        secret: false,
    },
    EnvKey {
        key: "http.metrics_token",
        names: &["SV_METRICS_TOKEN"],
        secret: true,
    },
    EnvKey {
        key: "mqtt.mode",
        names: &["SV_MQTT_MODE"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.tls_listen",
        names: &["SV_MQTT_TLS_LISTEN"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.ws_listen",
        names: &["SV_MQTT_WS_LISTEN"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.tls_cert",
        names: &["SV_MQTT_TLS_CERT"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.tls_key",
        names: &["SV_MQTT_TLS_KEY"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.allow_anonymous",
        names: &["SV_MQTT_ALLOW_ANONYMOUS"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.max_connections",
        names: &["SV_MQTT_MAX_CONNECTIONS"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.max_packet_bytes",
        names: &["SV_MQTT_MAX_PACKET_BYTES"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.gateway_tree",
        names: &["SV_MQTT_GATEWAY_TREE", "RTLS_MQTT_TOPIC"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.camera_tree",
        names: &["SV_MQTT_CAMERA_TREE", "CAMBUS_MQTT_BASE_TOPIC"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.external_host",
        names: &["SV_MQTT_EXTERNAL_HOST", "RTLS_MQTT_HOST"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.external_port",
        names: &["SV_MQTT_EXTERNAL_PORT", "RTLS_MQTT_PORT"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.external_username",
        names: &["SV_MQTT_EXTERNAL_USERNAME", "RTLS_MQTT_USERNAME"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.external_password",
        names: &["SV_MQTT_EXTERNAL_PASSWORD", "RTLS_MQTT_PASSWORD"],
        secret: true,
    },
    EnvKey {
        key: "mqtt.external_tls",
        names: &["SV_MQTT_EXTERNAL_TLS"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.external_ca_file",
        names: &["SV_MQTT_EXTERNAL_CA_FILE"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.external_share_group",
        names: &["SV_MQTT_EXTERNAL_SHARE_GROUP"],
        secret: false,
    },
    EnvKey {
        key: "ingest.raw_readings",
        names: &["SV_INGEST_RAW_READINGS"],
        secret: false,
    },
    EnvKey {
        key: "ingest.auto_register_gateways",
        names: &["SV_INGEST_AUTO_REGISTER_GATEWAYS"],
        secret: false,
    },
    EnvKey {
        key: "ingest.retention_days",
        names: &["SV_INGEST_RETENTION_DAYS", "PRESENCE_LOG_RETENTION_DAYS"],
        secret: false,
    },
    EnvKey {
        key: "ingest.cache_refresh_seconds",
        names: &["SV_INGEST_CACHE_REFRESH_SECONDS"],
        secret: false,
    },
    EnvKey {
        key: "ingest.queue_capacity",
        names: &["SV_INGEST_QUEUE_CAPACITY"],
        secret: false,
    },
    EnvKey {
        key: "devices.position_stale_seconds",
        names: &[
            "SV_POSITION_STALE_SECONDS",
            "POSITION_STALE_THRESHOLD_SECONDS",
        ],
        secret: false,
    },
    EnvKey {
        key: "devices.presence_gap_seconds",
        names: &["SV_PRESENCE_GAP_SECONDS", "PRESENCE_SESSION_GAP_SECONDS"],
        secret: false,
    },
    EnvKey {
        key: "mqtt.listen",
        names: &["SV_MQTT_LISTEN"],
        secret: false,
    },
    EnvKey {
        key: "positioning.rssi_at_1m",
        names: &["SV_POSITIONING_RSSI_AT_1M"],
        secret: false,
    },
    EnvKey {
        key: "positioning.path_loss_exponent",
        names: &["SV_POSITIONING_PATH_LOSS_EXPONENT"],
        secret: false,
    },
    EnvKey {
        key: "positioning.gateway_height_m",
        names: &["SV_POSITIONING_GATEWAY_HEIGHT_M"],
        secret: false,
    },
    EnvKey {
        key: "cambus.tenant",
        names: &["SV_CAMBUS_TENANT", "CAMBUS_TENANT"],
        secret: false,
    },
    EnvKey {
        key: "cambus.default_shard",
        names: &["SV_CAMBUS_DEFAULT_SHARD", "CAMBUS_DEFAULT_SHARD"],
        secret: false,
    },
    EnvKey {
        key: "cambus.publish_passwords",
        names: &["SV_CAMBUS_PUBLISH_PASSWORDS"],
        secret: false,
    },
    EnvKey {
        key: "cambus.uplink_tree",
        names: &["SV_CAMBUS_UPLINK_TREE", "CAMBUS_UPLINK_BASE_TOPIC"],
        secret: false,
    },
    EnvKey {
        key: "cambus.uplink_srt_port",
        names: &["SV_CAMBUS_UPLINK_SRT_PORT", "CAMBUS_UPLINK_SRT_PORT"],
        secret: false,
    },
    EnvKey {
        key: "cambus.uplink_ttl_seconds",
        names: &["SV_CAMBUS_UPLINK_TTL_SECONDS", "CAMBUS_UPLINK_TTL_SECONDS"],
        secret: false,
    },
    EnvKey {
        key: "cambus.nearby_radius_m",
        names: &["SV_CAMBUS_NEARBY_RADIUS_M"],
        secret: false,
    },
];

/// `SV_*` variables that are not configuration keys but are read elsewhere.
const OTHER_SV_VARIABLES: &[&str] = &["SV_CONFIG", "SV_ADMIN_PASSWORD"];

/// Values given on the command line; they override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub http_listen: Option<String>,
    pub mqtt_listen: Option<String>,
}

/// A loaded configuration plus what the loader noticed along the way (printed once logging
/// is set up).
pub struct Loaded {
    pub config: Config,
    pub source_file: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Loads the configuration from the real process environment.
pub fn load(overrides: &Overrides) -> Result<Loaded, ConfigError> {
    load_from(
        overrides,
        |name| std::env::var(name).ok(),
        std::env::vars().map(|(k, _)| k),
    )
}

/// Loads the configuration with an explicit environment (tests use this).
pub fn load_from(
    overrides: &Overrides,
    env: impl Fn(&str) -> Option<String>,
    env_names: impl Iterator<Item = String>,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let file = match &overrides.config_file {
        Some(path) => Some(path.clone()),
        None => {
            let system = Path::new(SYSTEM_CONFIG_FILE);
            system.exists().then(|| system.to_path_buf())
        }
    };
    let mut config = match &file {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };

    for entry in ENV_KEYS {
        for name in entry.names {
            let value = match env(name) {
                Some(value) => Some(value),
                None if entry.secret => read_secret_file(entry.key, name, &env)?,
                None => None,
            };
            if let Some(value) = value {
                config.set(entry.key, &value, &format!("environment variable {name}"))?;
                break;
            }
        }
    }
    for name in env_names {
        if name.starts_with("SV_") && !name.starts_with("SV_TEST_") && !is_known_variable(&name) {
            warnings.push(format!("unknown environment variable {name} is ignored"));
        }
    }

    let flag = |name: &str| format!("command-line flag --{name}");
    if let Some(dir) = &overrides.data_dir {
        config.set("data_dir", &dir.to_string_lossy(), &flag("data-dir"))?;
    }
    if let Some(url) = &overrides.database_url {
        config.set("database.url", url, &flag("database-url"))?;
    }
    if let Some(addr) = &overrides.http_listen {
        config.set("http.listen", addr, &flag("http-listen"))?;
    }
    if let Some(addr) = &overrides.mqtt_listen {
        config.set("mqtt.listen", addr, &flag("mqtt-listen"))?;
    }

    config.validate()?;
    Ok(Loaded {
        config,
        source_file: file,
        warnings,
    })
}

fn is_known_variable(name: &str) -> bool {
    let base = name.strip_suffix("_FILE").unwrap_or(name);
    OTHER_SV_VARIABLES.contains(&name)
        || ENV_KEYS
            .iter()
            .any(|e| e.names.contains(&name) || (e.secret && e.names.contains(&base)))
}

fn read_secret_file(
    key: &'static str,
    name: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    let Some(path) = env(&file_var) else {
        return Ok(None);
    };
    match std::fs::read_to_string(&path) {
        Ok(contents) => Ok(Some(contents.trim_end_matches(['\r', '\n']).to_string())),
        Err(err) => Err(ConfigError::Invalid {
            key,
            value: path,
            origin: format!("environment variable {file_var}"),
            allowed: format!("a readable file holding the secret ({err})"),
        }),
    }
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.to_string(),
        })
    }

    /// Sets one key from its text form, as given in the environment or on the command line.
    pub fn set(&mut self, key: &str, value: &str, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, allowed: &str| ConfigError::Invalid {
            key,
            value: value.to_string(),
            origin: origin.to_string(),
            allowed: allowed.to_string(),
        };
        let optional = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
        match key {
            "data_dir" => self.data_dir = PathBuf::from(value),
            "log.format" => {
                self.log.format = match value.to_ascii_lowercase().as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(invalid("log.format", "one of: text, json")),
                }
            }
            "log.filter" => self.log.filter = value.to_string(),
            "http.listen" => {
                self.http.listen = value
                    .parse()
                    .map_err(|_| invalid("http.listen", "ADDR:PORT, e.g. 0.0.0.0:8080"))?
            }
            "http.cors_origins" => {
                self.http.cors_origins = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "http.public_base_url" => self.http.public_base_url = optional(value),
            "http.console_dir" => self.http.console_dir = optional(value).map(PathBuf::from),
            "http.shutdown_grace_seconds" => {
                self.http.shutdown_grace_seconds = value.parse().map_err(|_| {
                    invalid("http.shutdown_grace_seconds", "a whole number of seconds")
                })?
            }
            "http.header_read_timeout_seconds" => {
                self.http.header_read_timeout_seconds = value.parse().map_err(|_| {
                    invalid(
                        "http.header_read_timeout_seconds",
                        "a whole number of seconds, 1 to 300",
                    )
                })?
            }
            "http.max_streams_per_user" => {
                self.http.max_streams_per_user = value.parse().map_err(|_| {
                    invalid("http.max_streams_per_user", "a whole number, 1 or more")
                })?
            }
            "media.quota_bytes" => {
                self.media.quota_bytes = value
                    .parse()
                    .map_err(|_| invalid("media.quota_bytes", "a whole number of bytes"))?
            }
            "database.url" => self.database.url = optional(value),
            "database.max_connections" => {
                self.database.max_connections = value
                    .parse()
                    .map_err(|_| invalid("database.max_connections", "a whole number, 1 to 200"))?
            }
            "auth.jwt_secret" => self.auth.jwt_secret = optional(value),
            "auth.token_ttl_minutes" => {
                self.auth.token_ttl_minutes = value.parse().map_err(|_| {
                    invalid(
                        "auth.token_ttl_minutes",
                        "a whole number of minutes, 1 to 43200",
                    )
                })?
            }
            "auth.bootstrap_admin" => {
                self.auth.bootstrap_admin = parse_bool(value)
                    .ok_or_else(|| invalid("auth.bootstrap_admin", "true or false"))?
            }
            "auth.admin_email" => self.auth.admin_email = value.trim().to_string(),
            "auth.max_failed_logins" => {
                self.auth.max_failed_logins = value
                    .parse()
                    .map_err(|_| invalid("auth.max_failed_logins", "a whole number, 1 or more"))?
            }
            "auth.login_lockout_minutes" => {
                self.auth.login_lockout_minutes = value.parse().map_err(|_| {
                    invalid("auth.login_lockout_minutes", "a whole number of minutes")
                })?
            }
            "auth.max_failed_logins_per_account" => {
                self.auth.max_failed_logins_per_account = value.parse().map_err(|_| {
                    invalid(
                        "auth.max_failed_logins_per_account",
                        "a whole number, 1 or more",
                    )
                })?
            }
            "auth.login_attempts_per_minute" => {
                self.auth.login_attempts_per_minute = value.parse().map_err(|_| {
                    invalid(
                        "auth.login_attempts_per_minute",
                        "a whole number (0: no limit)",
                    )
                })?
            }
            "mqtt.listen" => {
                self.mqtt.listen = match value.trim() {
                    "" => None,
                    addr => Some(addr.parse().map_err(|_| {
                        invalid("mqtt.listen", "ADDR:PORT, e.g. 0.0.0.0:1883, or \"\" (off)")
                    })?),
                }
            }
            "media.root" => self.media.root = optional(value).map(PathBuf::from),
            "media.max_upload_bytes" => {
                self.media.max_upload_bytes = value
                    .parse()
                    .map_err(|_| invalid("media.max_upload_bytes", "a whole number of bytes"))?
            }
            "devices.offline_after_seconds" => {
                self.devices.offline_after_seconds = value.parse().map_err(|_| {
                    invalid(
                        "devices.offline_after_seconds",
                        "a whole number of seconds, 1 or more",
                    )
                })?
            }
            "http.metrics_token" => self.http.metrics_token = optional(value),
            "mqtt.mode" => {
                self.mqtt.mode = match value.trim().to_ascii_lowercase().as_str() {
                    "embedded" => MqttMode::Embedded,
                    "external" => MqttMode::External,
                    _ => return Err(invalid("mqtt.mode", "one of: embedded, external")),
                }
            }
            "mqtt.tls_listen" => {
                self.mqtt.tls_listen =
                    match optional(value) {
                        None => None,
                        Some(v) => Some(v.parse().map_err(|_| {
                            invalid("mqtt.tls_listen", "ADDR:PORT, e.g. 0.0.0.0:8883")
                        })?),
                    }
            }
            "mqtt.ws_listen" => {
                self.mqtt.ws_listen =
                    match optional(value) {
                        None => None,
                        Some(v) => Some(v.parse().map_err(|_| {
                            invalid("mqtt.ws_listen", "ADDR:PORT, e.g. 0.0.0.0:8083")
                        })?),
                    }
            }
            "mqtt.tls_cert" => self.mqtt.tls_cert = optional(value).map(PathBuf::from),
            "mqtt.tls_key" => self.mqtt.tls_key = optional(value).map(PathBuf::from),
            "mqtt.allow_anonymous" => {
                self.mqtt.allow_anonymous = parse_bool(value)
                    .ok_or_else(|| invalid("mqtt.allow_anonymous", "true or false"))?
            }
            "mqtt.max_connections" => {
                self.mqtt.max_connections = value
                    .parse()
                    .map_err(|_| invalid("mqtt.max_connections", "a whole number, 1 to 100000"))?
            }
            "mqtt.max_packet_bytes" => {
                self.mqtt.max_packet_bytes = value
                    .parse()
                    .map_err(|_| invalid("mqtt.max_packet_bytes", "a whole number of bytes"))?
            }
            // The original's RTLS_MQTT_TOPIC is a subscription filter such as `rtls/gateways/#`.
            "mqtt.gateway_tree" => {
                self.mqtt.gateway_tree = value.trim().trim_end_matches("/#").to_string()
            }
            "mqtt.camera_tree" => {
                self.mqtt.camera_tree = value.trim().trim_end_matches("/#").to_string()
            }
            "mqtt.external_host" => self.mqtt.external_host = value.trim().to_string(),
            "mqtt.external_port" => {
                self.mqtt.external_port = value
                    .parse()
                    .map_err(|_| invalid("mqtt.external_port", "a port number"))?
            }
            "mqtt.external_username" => self.mqtt.external_username = optional(value),
            "mqtt.external_password" => self.mqtt.external_password = optional(value),
            "mqtt.external_tls" => {
                self.mqtt.external_tls = parse_bool(value)
                    .ok_or_else(|| invalid("mqtt.external_tls", "true or false"))?
            }
            "mqtt.external_ca_file" => {
                self.mqtt.external_ca_file = optional(value).map(PathBuf::from)
            }
            "mqtt.external_share_group" => {
                self.mqtt.external_share_group = value.trim().to_string()
            }
            "devices.position_stale_seconds" => {
                self.devices.position_stale_seconds = value.parse().map_err(|_| {
                    invalid(
                        "devices.position_stale_seconds",
                        "a whole number of seconds",
                    )
                })?
            }
            "devices.presence_gap_seconds" => {
                self.devices.presence_gap_seconds = value.parse().map_err(|_| {
                    invalid("devices.presence_gap_seconds", "a whole number of seconds")
                })?
            }
            "ingest.raw_readings" => {
                self.ingest.raw_readings = match value.trim().to_ascii_lowercase().as_str() {
                    "all" => RawReadings::All,
                    "downsampled" => RawReadings::Downsampled,
                    "off" => RawReadings::Off,
                    _ => {
                        return Err(invalid(
                            "ingest.raw_readings",
                            "one of: all, downsampled, off",
                        ));
                    }
                }
            }
            "ingest.auto_register_gateways" => {
                self.ingest.auto_register_gateways = parse_bool(value)
                    .ok_or_else(|| invalid("ingest.auto_register_gateways", "true or false"))?
            }
            "ingest.retention_days" => {
                self.ingest.retention_days = value.parse().map_err(|_| {
                    invalid(
                        "ingest.retention_days",
                        "a whole number of days (0: keep all)",
                    )
                })?
            }
            "positioning.rssi_at_1m" => {
                self.positioning.rssi_at_1m = value
                    .parse()
                    .ok()
                    .filter(|v| RSSI_AT_1M_RANGE.contains(v))
                    .ok_or_else(|| invalid("positioning.rssi_at_1m", "dBm, -100 to 0"))?
            }
            "positioning.path_loss_exponent" => {
                self.positioning.path_loss_exponent = value
                    .parse()
                    .ok()
                    .filter(|v| PATH_LOSS_EXPONENT_RANGE.contains(v))
                    .ok_or_else(|| invalid("positioning.path_loss_exponent", "1 to 6"))?
            }
            "positioning.gateway_height_m" => {
                self.positioning.gateway_height_m = value
                    .parse()
                    .ok()
                    .filter(|v| (0.0..=20.0).contains(v))
                    .ok_or_else(|| invalid("positioning.gateway_height_m", "metres, 0 to 20"))?
            }
            "cambus.tenant" => self.cambus.tenant = value.trim().to_string(),
            "cambus.default_shard" => self.cambus.default_shard = value.trim().to_string(),
            "cambus.publish_passwords" => {
                self.cambus.publish_passwords = parse_bool(value)
                    .ok_or_else(|| invalid("cambus.publish_passwords", "true or false"))?
            }
            "cambus.uplink_tree" => {
                self.cambus.uplink_tree = value.trim().trim_end_matches('/').to_string()
            }
            "cambus.uplink_srt_port" => {
                self.cambus.uplink_srt_port = value
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| invalid("cambus.uplink_srt_port", "a port, 1 to 65535"))?
            }
            "cambus.uplink_ttl_seconds" => {
                self.cambus.uplink_ttl_seconds = value.parse().map_err(|_| {
                    invalid("cambus.uplink_ttl_seconds", "a whole number of seconds")
                })?
            }
            "cambus.nearby_radius_m" => {
                self.cambus.nearby_radius_m = value
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| {
                        invalid("cambus.nearby_radius_m", "a distance in metres, above 0")
                    })?
            }
            "ingest.cache_refresh_seconds" => {
                self.ingest.cache_refresh_seconds = value
                    .parse()
                    .ok()
                    .filter(|s| (1..=3600).contains(s))
                    .ok_or_else(|| {
                        invalid("ingest.cache_refresh_seconds", "a whole number, 1 to 3600")
                    })?
            }
            "ingest.queue_capacity" => {
                self.ingest.queue_capacity = value
                    .parse()
                    .map_err(|_| invalid("ingest.queue_capacity", "a whole number, 1000 or more"))?
            }
            other => unreachable!("configuration key {other} is not in Config::set"),
        }
        Ok(())
    }

    /// Checks the rules that a single key's type cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, value: &str, allowed: &str| ConfigError::Invalid {
            key,
            value: value.to_string(),
            origin: "the effective configuration".into(),
            allowed: allowed.to_string(),
        };
        if let Some(url) = &self.database.url
            && DatabaseKind::of(url).is_none()
        {
            return Err(invalid(
                "database.url",
                &redact_url(url),
                "a sqlite://PATH or postgres://USER:PASSWORD@HOST/DB URL",
            ));
        }
        if !(1..=200).contains(&self.database.max_connections) {
            let v = self.database.max_connections.to_string();
            return Err(invalid("database.max_connections", &v, "1 to 200"));
        }
        if let Some(secret) = &self.auth.jwt_secret
            && (secret.len() < 32 || WELL_KNOWN_SECRETS.contains(&secret.as_str()))
        {
            return Err(invalid(
                "auth.jwt_secret",
                REDACTED,
                "at least 32 characters and not a well-known default; leave it empty to \
                 have a random key generated in the data directory",
            ));
        }
        if !(1..=43_200).contains(&self.auth.token_ttl_minutes) {
            let v = self.auth.token_ttl_minutes.to_string();
            return Err(invalid(
                "auth.token_ttl_minutes",
                &v,
                "1 to 43200 minutes (30 days)",
            ));
        }
        if !(1..=100_000).contains(&self.mqtt.max_connections) {
            let v = self.mqtt.max_connections.to_string();
            return Err(invalid("mqtt.max_connections", &v, "1 to 100000"));
        }
        if !(1024..=256 * 1024 * 1024).contains(&self.mqtt.max_packet_bytes) {
            let v = self.mqtt.max_packet_bytes.to_string();
            return Err(invalid(
                "mqtt.max_packet_bytes",
                &v,
                "1024 bytes to 256 MiB",
            ));
        }
        if self.mqtt.tls_listen.is_some()
            && (self.mqtt.tls_cert.is_none() || self.mqtt.tls_key.is_none())
        {
            return Err(invalid(
                "mqtt.tls_listen",
                "set",
                "mqtt.tls_cert and mqtt.tls_key must name PEM files",
            ));
        }
        if !(1..=3600).contains(&self.ingest.cache_refresh_seconds) {
            let v = self.ingest.cache_refresh_seconds.to_string();
            return Err(invalid("ingest.cache_refresh_seconds", &v, "1 to 3600"));
        }
        let positioning = &self.positioning;
        for (key, value, ok, allowed) in [
            (
                "positioning.rssi_at_1m",
                positioning.rssi_at_1m,
                RSSI_AT_1M_RANGE.contains(&positioning.rssi_at_1m),
                "dBm, -100 to 0",
            ),
            (
                "positioning.path_loss_exponent",
                positioning.path_loss_exponent,
                PATH_LOSS_EXPONENT_RANGE.contains(&positioning.path_loss_exponent),
                "1 to 6",
            ),
            (
                "positioning.gateway_height_m",
                positioning.gateway_height_m,
                (0.0..=20.0).contains(&positioning.gateway_height_m),
                "metres, 0 to 20",
            ),
        ] {
            if !ok {
                return Err(invalid(key, &value.to_string(), allowed));
            }
        }
        if self.cambus.tenant.is_empty() || self.cambus.tenant.contains(['+', '#', '/']) {
            return Err(invalid(
                "cambus.tenant",
                &self.cambus.tenant,
                "a topic segment without / + #, e.g. default",
            ));
        }
        if !(self.cambus.nearby_radius_m.is_finite() && self.cambus.nearby_radius_m > 0.0) {
            let v = self.cambus.nearby_radius_m.to_string();
            return Err(invalid(
                "cambus.nearby_radius_m",
                &v,
                "a distance in metres, above 0",
            ));
        }
        for (key, tree, may_be_off) in [
            ("mqtt.gateway_tree", &self.mqtt.gateway_tree, false),
            ("mqtt.camera_tree", &self.mqtt.camera_tree, false),
            ("mqtt.espresense_tree", &self.mqtt.espresense_tree, true),
            ("mqtt.theengs_tree", &self.mqtt.theengs_tree, true),
            ("cambus.uplink_tree", &self.cambus.uplink_tree, false),
        ] {
            if tree.is_empty() && may_be_off {
                continue;
            }
            if tree.is_empty()
                || tree.contains(['+', '#'])
                || tree.starts_with('/')
                || tree.ends_with('/')
            {
                return Err(invalid(
                    key,
                    tree,
                    "a topic prefix without wildcards, e.g. rtls/gateways",
                ));
            }
        }
        if self.ingest.queue_capacity < 1000 {
            let v = self.ingest.queue_capacity.to_string();
            return Err(invalid("ingest.queue_capacity", &v, "1000 or more"));
        }
        if self.ingest.queue_bytes < 4 * self.mqtt.max_packet_bytes {
            let v = self.ingest.queue_bytes.to_string();
            return Err(invalid(
                "ingest.queue_bytes",
                &v,
                "at least 4 × mqtt.max_packet_bytes",
            ));
        }
        let mqtt = &self.mqtt;
        if mqtt.mode == MqttMode::Embedded
            && mqtt.listen.is_none()
            && mqtt.tls_listen.is_none()
            && mqtt.ws_listen.is_none()
        {
            return Err(invalid(
                "mqtt.listen",
                "\"\"",
                "an address, unless mqtt.tls_listen or mqtt.ws_listen is set",
            ));
        }
        if self.mqtt.max_keep_alive_seconds == 0 {
            return Err(invalid("mqtt.max_keep_alive_seconds", "0", "1 to 65535"));
        }
        if self.ingest.max_readings_per_message == 0 {
            return Err(invalid("ingest.max_readings_per_message", "0", "1 or more"));
        }
        if let Some(token) = &self.http.metrics_token
            && token.len() < 16
        {
            return Err(invalid(
                "http.metrics_token",
                REDACTED,
                "at least 16 characters",
            ));
        }
        if self.devices.offline_after_seconds == 0 {
            return Err(invalid(
                "devices.offline_after_seconds",
                "0",
                "1 or more seconds",
            ));
        }
        if self.media.max_upload_bytes < 1024 {
            let v = self.media.max_upload_bytes.to_string();
            return Err(invalid("media.max_upload_bytes", &v, "at least 1024 bytes"));
        }
        if !(1..=300).contains(&self.http.header_read_timeout_seconds) {
            let v = self.http.header_read_timeout_seconds.to_string();
            return Err(invalid("http.header_read_timeout_seconds", &v, "1 to 300"));
        }
        if self.http.max_streams_per_user == 0 {
            return Err(invalid("http.max_streams_per_user", "0", "1 or more"));
        }
        if self.media.quota_bytes < self.media.max_upload_bytes as u64 {
            let v = self.media.quota_bytes.to_string();
            return Err(invalid(
                "media.quota_bytes",
                &v,
                "at least media.max_upload_bytes",
            ));
        }
        if self.auth.max_failed_logins == 0 {
            return Err(invalid("auth.max_failed_logins", "0", "1 or more"));
        }
        if crate::auth::normalize_email(&self.auth.admin_email).is_none() {
            let v = &self.auth.admin_email;
            return Err(invalid(
                "auth.admin_email",
                v,
                "an e-mail address, e.g. admin@localhost",
            ));
        }
        for origin in &self.http.cors_origins {
            let ok = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.trim_end_matches('/').contains(['?', '#'])
                    && axum::http::HeaderValue::from_str(origin).is_ok());
            if !ok {
                return Err(invalid(
                    "http.cors_origins",
                    origin,
                    "origins such as https://console.example.com, or *",
                ));
            }
        }
        if let Some(url) = &self.http.public_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "http.public_base_url",
                url,
                "an http:// or https:// URL",
            ));
        }
        if let Some(dir) = &self.http.console_dir
            && !dir.join("index.html").is_file()
        {
            return Err(invalid(
                "http.console_dir",
                &dir.display().to_string(),
                "a directory holding a built console (index.html)",
            ));
        }
        Ok(())
    }

    /// The directory for uploaded media in effect.
    pub fn media_root(&self) -> PathBuf {
        self.media
            .root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("media"))
    }

    /// The database URL in effect: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("securityvision.db").display()
            ),
        }
    }

    /// The configuration as `config show` prints it: TOML, secrets replaced.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = Some(redact_url(&self.database_url()));
        for secret in [
            &mut shown.auth.jwt_secret,
            &mut shown.http.metrics_token,
            &mut shown.mqtt.external_password,
        ] {
            if secret.is_some() {
                *secret = Some(REDACTED.into());
            }
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|err| format!("# cannot render: {err}\n"))
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn name(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }

    pub fn of(url: &str) -> Option<DatabaseKind> {
        if url.starts_with("sqlite:") {
            Some(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DatabaseKind::Postgres)
        } else {
            None
        }
    }
}

/// Hides the secrets of a URL: the password of `postgres://user:pw@host/db`, and the value
/// of query parameters that hold one (`?password=`, `sslpassword=`, `token=`, `secret=`,
/// `api_key=`, …).
pub fn redact_url(url: &str) -> String {
    let (prefix, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    // A `?` before the `@` means the `@` is in the query, not after a user name.
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) if !userinfo.contains('?') => (Some(userinfo), host),
        _ => (None, authority),
    };
    let mut out = prefix;
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:{REDACTED}@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
    }
    let location = format!("{host}{path}");
    match location.split_once('?') {
        Some((before, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if is_secret_parameter(key) => format!("{key}={REDACTED}"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&format!("{before}?{}", query.join("&")));
        }
        None => out.push_str(&location),
    }
    out
}

fn is_secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_wherever_they_are() {
        let cases = [
            ("postgres://sv:pw@db/sv", "postgres://sv:***@db/sv"),
            ("postgres://sv@db/sv", "postgres://sv@db/sv"),
            ("sqlite://data/sv.db", "sqlite://data/sv.db"),
            (
                "postgres://db/sv?user=sv&password=pw&sslmode=require",
                "postgres://db/sv?user=sv&password=***&sslmode=require",
            ),
            (
                "postgres://sv:pw@db?sslpassword=k&application_name=x",
                "postgres://sv:***@db?sslpassword=***&application_name=x",
            ),
            (
                "postgres://db?user=a@b&Password=pw",
                "postgres://db?user=a@b&Password=***",
            ),
            (
                "https://h/x?token=t&api_key=k",
                "https://h/x?token=***&api_key=***",
            ),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown.replace("***", REDACTED), "{url}");
        }
    }
}

/// `mqtt.listen` in files: an address, or `""` for none.
mod optional_address {
    use std::net::SocketAddr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        match text.trim() {
            "" => Ok(None),
            addr => addr.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}
