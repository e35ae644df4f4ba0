//! Effective configuration: built-in defaults < TOML file < environment < command-line flags.
//!
//! The structs below declare each key once: its path (`http.listen`), type, default and
//! meaning. The rest follows from them. A key's environment variable is `SV_` and its path
//! in capitals (`SV_HTTP_LISTEN`); [`ENV_ALIASES`] lists the few other names. A value from
//! the environment or a flag is put at its path into the file's TOML table, typed like the
//! key's default, and the table is deserialized once, so a bad value is reported with the
//! key, where it came from and what is allowed. [`Config::rules`] holds every range and
//! every rule across keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::de::value::StringDeserializer;
use serde::{Deserialize, Deserializer, Serialize};

use crate::secrets::REDACTED;
use crate::store::{DatabaseKind, redact_url};

/// Where the packaged appliance keeps its configuration file.
pub const SYSTEM_CONFIG_FILE: &str = "/etc/securityvision/securityvision.toml";

/// The commented example configuration, also shipped as `config/securityvision.toml`.
pub const EXAMPLE: &str = include_str!("../config/securityvision.toml");

/// Sane ranges of the path-loss model (site-wide and per gateway).
pub const RSSI_AT_1M_RANGE: std::ops::RangeInclusive<f64> = -100.0..=0.0;
pub const PATH_LOSS_EXPONENT_RANGE: std::ops::RangeInclusive<f64> = 1.0..=6.0;

/// Signing keys that must never be accepted: the original backend's default and the usual
/// placeholders.
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
        key: String,
        value: String,
        origin: String,
        allowed: String,
    },
}

#[derive(Clone, Serialize, Deserialize)]
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
    pub positions: PositionsConfig,
    pub cambus: CambusConfig,
    pub webhooks: WebhooksConfig,
    pub site: SiteConfig,
    pub alerts: AlertsConfig,
    pub backup: BackupConfig,
    pub disk: DiskConfig,
    pub incidents: IncidentsConfig,
    pub chatwoot: ChatwootConfig,
    pub reports: ReportsConfig,
    pub cluster: ClusterConfig,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's time zone (an IANA name such as `America/Sao_Paulo`): alert rules'
    /// schedules are read in it, and reports' hours and days unless a report asks for
    /// another.
    pub time_zone: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            time_zone: "UTC".into(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// An alert session on a tag ends when the tag has not been heard for this many
    /// seconds (10 or more: a tag that stays put is announced every 5 s). The original's
    /// was twice its position window: 30 s.
    pub session_ttl_seconds: u32,
}

/// The `/reports/*` operations.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// The longest window a report may cover, in days: a longer one is refused (HTTP 422)
    /// instead of reading that much history.
    pub max_window_days: u32,
    /// Seconds between two passes that add the sessions closed since to the hourly
    /// presence rollups; 0: no rollups (reports read every session of their window).
    pub rollup_interval_seconds: u64,
    /// Days the hourly presence rollups are kept (longer than raw readings); a report
    /// whose window starts earlier reads the sessions. 0: for ever.
    pub rollup_retention_days: u32,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            max_window_days: 366,
            rollup_interval_seconds: 10,
            rollup_retention_days: 400,
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            session_ttl_seconds: 30,
        }
    }
}

/// Backups (`securityvision backup`, the daily schedule, and the one taken before a
/// migration).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups are written; empty: `<data_dir>/backups`.
    pub dir: Option<PathBuf>,
    /// A daily backup at this time (`HH:MM`, the site's time zone); empty: none.
    pub schedule: String,
    /// Scheduled (and pre-migration) backups kept; older ones are deleted.
    pub keep: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            dir: None,
            schedule: String::new(),
            keep: 7,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// After an incident rule opened an incident on a camera, the rule's further events on
    /// that camera for this many seconds become messages of that incident (while it is
    /// open) instead of new incidents; 0: every event opens one.
    pub rule_cooldown_seconds: u32,
    /// Bytes the attachments of one incident may take together (each file at most
    /// `media.max_upload_bytes`, all media within `media.quota_bytes`).
    pub attachment_quota_bytes: u64,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            rule_cooldown_seconds: 300,
            attachment_quota_bytes: 200 * 1024 * 1024,
        }
    }
}

impl BackupConfig {
    /// The daily time of `schedule`, if one is set (validated on load).
    pub fn schedule_time(&self) -> Option<chrono::NaiveTime> {
        chrono::NaiveTime::parse_from_str(self.schedule.trim(), "%H:%M").ok()
    }
}

/// Two appliances on one site (`docs/cluster.md`): one leader of the stateful work, chosen
/// with a PostgreSQL advisory lock; the others stand by.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Take part in leader election (PostgreSQL and `mqtt.mode = "external"` only).
    pub enabled: bool,
    /// This node's name in `/health`, the logs and `cluster_leader`; empty: the host name.
    pub node_name: String,
    /// The leader checks its lock's connection at least every third of this, and a new
    /// leader waits this long after taking the lock before it consumes (the old leader has
    /// stepped down by then).
    pub lease_seconds: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_name: String::new(),
            lease_seconds: 10,
        }
    }
}

/// The disk guard (see `disk.rs`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskConfig {
    /// Below this much free space under the data directory (MB), raw readings are not
    /// stored until there is room again; 0: never stop.
    pub min_free_mb: u64,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig { min_free_mb: 512 }
    }
}

/// The site's path-loss model and gateway mounting, from which positions are computed
/// (gateways may override the model: `rssi_at_1m`, `path_loss_exponent` on the device).
#[derive(Clone, Serialize, Deserialize)]
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

/// The position history (replays, heat maps): what the pipeline keeps of the tags'
/// positions, how long, and how much the history routes may ask for.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PositionsConfig {
    /// Keep a position history at all.
    pub history_enabled: bool,
    /// At most one point per tag this often (seconds) while it moves.
    pub history_interval_seconds: u32,
    /// A move shorter than this (metres) is not a move (on plans without a size: 1% of
    /// the plan).
    pub history_min_move_m: f64,
    /// A tag that stays put still gets a point this often (seconds), so its dwell is known.
    pub history_keepalive_seconds: u32,
    /// Points older than this many days are deleted (0: keep them all).
    pub history_retention_days: u32,
    /// The longest window `/positions/history` answers (hours); heat maps may span 31
    /// times as long.
    pub history_max_window_hours: u32,
}

impl Default for PositionsConfig {
    fn default() -> Self {
        PositionsConfig {
            history_enabled: true,
            history_interval_seconds: 2,
            history_min_move_m: 0.3,
            history_keepalive_seconds: 60,
            history_retention_days: 30,
            history_max_window_hours: 24,
        }
    }
}

/// The cameras' bus (CAM-BUS): events in from the collectors, configuration out to them.
#[derive(Clone, Serialize, Deserialize)]
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
    #[serde(deserialize_with = "topic_tree")]
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

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Where uploaded files (floor-plan images) are kept; empty means `<data_dir>/media`.
    pub root: Option<PathBuf>,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: usize,
    /// Bytes all stored uploads may take together; an upload beyond it is refused (507).
    pub quota_bytes: u64,
    /// Whether camera evidence (snapshot and face images an event points at) may be
    /// fetched from private, loopback and link-local addresses (an NVR on the site's own
    /// network); off, such a URL is refused and the incident says why.
    pub fetch_allow_private: bool,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether webhooks may call private, loopback and link-local addresses (a receiver on
    /// the site's own network); off, a URL that resolves to one is refused.
    pub allow_private: bool,
    /// How long a delivery is retried before it is given up and marked FAILED.
    pub retry_hours: u32,
    /// A subscription whose oldest undelivered event has waited this long is paused (an
    /// event says so) until an administrator resumes it; 0: never. Less than
    /// `retry_hours`.
    pub pause_after_hours: u32,
    /// The wait after a first failure; it doubles with each failure, up to an hour, with
    /// ±20 % jitter.
    pub retry_first_seconds: u32,
    /// Deliveries in flight at once, across subscriptions (one at a time per subscription,
    /// which keeps its order).
    pub concurrency: usize,
    /// Deliveries in flight at once to one receiver (scheme, host and port of the URL; the
    /// Chatwoot server is one too), so that a slow receiver never holds up the others.
    pub per_host_concurrency: usize,
    /// Longest wait for a receiver's answer (connecting included).
    pub timeout_seconds: u32,
    /// Delivered and given-up deliveries are kept this many days in the log; 0: for ever
    /// (pending ones are never deleted).
    pub log_retention_days: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            allow_private: false,
            retry_hours: 24,
            retry_first_seconds: 10,
            pause_after_hours: 6,
            concurrency: 8,
            per_host_concurrency: 2,
            timeout_seconds: 10,
            log_retention_days: 14,
        }
    }
}

/// Chatwoot: incidents mirrored into conversations (through the webhook outbox), and the
/// inbound webhook that brings agents' messages back.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatwootConfig {
    /// Off: nothing is sent (the inbound webhook still answers).
    pub enabled: bool,
    /// The Chatwoot server, http(s).
    pub base_url: Option<String>,
    /// The account id (digits).
    pub account_id: Option<String>,
    /// The inbox: its id (digits), identifier or name.
    pub inbox: Option<String>,
    /// An agent's or bot's API access token.
    pub api_token: Option<String>,
    /// The shared contact every incident's conversation is opened with.
    pub contact_identifier: String,
    /// The console's incident page, `/<id>` appended, in each conversation's summary.
    pub incident_base_url: Option<String>,
    /// The HMAC secret Chatwoot signs its webhook calls with.
    pub webhook_secret: Option<String>,
    /// The original's static token in `X-Chatwoot-Signature` (weaker: a replayable
    /// password, not a signature of the body).
    pub webhook_token: Option<String>,
    /// Whether the Chatwoot server and its attachments may be on private, loopback or
    /// link-local addresses (a Chatwoot on the site's own network).
    pub allow_private: bool,
}

impl Default for ChatwootConfig {
    fn default() -> Self {
        ChatwootConfig {
            enabled: false,
            base_url: None,
            account_id: None,
            inbox: None,
            api_token: None,
            contact_identifier: "security-vision-system".into(),
            incident_base_url: None,
            webhook_secret: None,
            webhook_token: None,
            allow_private: false,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
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
            fetch_allow_private: false,
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

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    #[serde(deserialize_with = "any_case")]
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

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(deserialize_with = "address")]
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
    /// SQLite: the writer's page cache, in MiB (the hot pages of the readings' indexes).
    pub sqlite_cache_mib: u32,
    /// SQLite: how much of the file each connection reads through memory mapping, in MiB
    /// (0: none; reads then go through system calls and the readers' own caches).
    pub sqlite_mmap_mib: u32,
    /// SQLite: how many new readings wait before they are merged into the tag and gateway
    /// indexes, each in one sorted pass (migrations 0024, 0025), and how many one merge
    /// takes at most. During a burst merges wait for four times as many.
    /// More: a faster burst, longer merges, a longer tail read by id in a tag's or a
    /// gateway's lists. (Named `sqlite_tag_index_merge_rows` before 0025, when only the
    /// tag index was merged.)
    #[serde(alias = "sqlite_tag_index_merge_rows")]
    pub sqlite_index_merge_rows: u32,
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
    #[serde(deserialize_with = "any_case")]
    pub mode: MqttMode,
    /// Plain MQTT listener of the embedded broker; `""` switches it off (with a TLS or
    /// WebSocket listener set instead).
    #[serde(with = "optional_address")]
    pub listen: Option<SocketAddr>,
    /// MQTT over TLS listener; needs `tls_cert` and `tls_key`.
    #[serde(deserialize_with = "optional_address::deserialize")]
    pub tls_listen: Option<SocketAddr>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// MQTT over WebSocket listener (subprotocol `mqtt`), e.g. for browser clients.
    #[serde(deserialize_with = "optional_address::deserialize")]
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
    #[serde(deserialize_with = "topic_tree")]
    pub gateway_tree: String,
    /// Topic tree of the cameras (CAM-BUS, `<tree>/#`).
    #[serde(deserialize_with = "topic_tree")]
    pub camera_tree: String,
    /// Topic tree of ESPresense reports (`<tree>/devices/<id>/<room>`); `""`: off.
    #[serde(deserialize_with = "topic_tree")]
    pub espresense_tree: String,
    /// Topic tree of Theengs / OpenMQTTGateway reports (`<tree>/<gateway>/BTtoMQTT/<MAC>`);
    /// `""`: off.
    #[serde(deserialize_with = "topic_tree")]
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

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Messages the hand-off from the broker to the pipeline holds; when it is full, QoS 1
    /// publishers wait for their PUBACK and QoS 0 messages are shed (counted).
    pub queue_capacity: usize,
    /// Bytes (topics and payloads) the hand-off holds; full at either limit.
    pub queue_bytes: usize,
    /// Readings one message may carry; a message with more is refused (counted).
    pub max_readings_per_message: usize,
    /// Bytes of writes (readings, presence sessions, positions) kept for a writer that is
    /// behind before the pipeline stops taking messages: QoS 0 ones are then shed at the
    /// hand-off, QoS 1 publishers wait.
    pub backlog_bytes: usize,
    /// Which readings are stored: every one, at most one per tag, gateway and second, or
    /// none.
    #[serde(deserialize_with = "any_case")]
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
            queue_bytes: 4 * 1024 * 1024,
            max_readings_per_message: 2000,
            backlog_bytes: 4 * 1024 * 1024,
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
            .map_or_else(|| PathBuf::from("./data"), PathBuf::from);
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
            positions: PositionsConfig::default(),
            cambus: CambusConfig::default(),
            webhooks: WebhooksConfig::default(),
            site: SiteConfig::default(),
            alerts: AlertsConfig::default(),
            backup: BackupConfig::default(),
            disk: DiskConfig::default(),
            incidents: IncidentsConfig::default(),
            chatwoot: ChatwootConfig::default(),
            reports: ReportsConfig::default(),
            cluster: ClusterConfig::default(),
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
            sqlite_cache_mib: 16,
            sqlite_mmap_mib: 0,
            sqlite_index_merge_rows: 300_000,
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
            external_share_group: String::new(),
        }
    }
}

// Secrets never reach logs through `{:?}`.
macro_rules! redacted_debug {
    ($($section:ty),* $(,)?) => {$(
        impl std::fmt::Debug for $section {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match redacted_table(self) {
                    Ok(table) => write!(f, "{}", toml::Value::Table(table)),
                    Err(_) => f.write_str(stringify!($section)),
                }
            }
        }
    )*};
}

redacted_debug!(
    Config,
    LogConfig,
    HttpConfig,
    DatabaseConfig,
    AuthConfig,
    MqttConfig,
    MediaConfig,
    DevicesConfig,
    IngestConfig,
    PositioningConfig,
    CambusConfig,
    ChatwootConfig,
);

/// Environment names of keys besides the derived `SV_<KEY>`: the original backend's, and
/// the shorter `SV_*` names of earlier releases. The derived name wins, then this order.
const ENV_ALIASES: &[(&str, &[&str])] = &[
    (
        "http.public_base_url",
        &["SV_PUBLIC_BASE_URL", "PUBLIC_BASE_URL"],
    ),
    ("http.metrics_token", &["SV_METRICS_TOKEN"]),
    ("database.url", &["DATABASE_URL"]),
    (
        "auth.jwt_secret",
        &["SV_JWT_SECRET", "JWT_SECRET_KEY", "SVPOS_SECRET_KEY"],
    ),
    (
        "auth.token_ttl_minutes",
        &[
            "SV_TOKEN_TTL_MINUTES",
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
            "SVPOS_ACCESS_TOKEN_EXPIRE_MINUTES",
        ],
    ),
    ("auth.bootstrap_admin", &["SV_BOOTSTRAP_ADMIN"]),
    ("auth.admin_email", &["SV_ADMIN_EMAIL"]),
    ("auth.max_failed_logins", &["SV_MAX_FAILED_LOGINS"]),
    ("auth.login_lockout_minutes", &["SV_LOGIN_LOCKOUT_MINUTES"]),
    (
        "auth.max_failed_logins_per_account",
        &["SV_MAX_FAILED_LOGINS_PER_ACCOUNT"],
    ),
    (
        "auth.login_attempts_per_minute",
        &["SV_LOGIN_ATTEMPTS_PER_MINUTE"],
    ),
    ("media.root", &["MEDIA_ROOT"]),
    (
        "devices.offline_after_seconds",
        &[
            "SV_DEVICE_OFFLINE_AFTER_SECONDS",
            "DEVICE_OFFLINE_THRESHOLD_SECONDS",
        ],
    ),
    (
        "devices.position_stale_seconds",
        &[
            "SV_POSITION_STALE_SECONDS",
            "POSITION_STALE_THRESHOLD_SECONDS",
        ],
    ),
    (
        "devices.presence_gap_seconds",
        &["SV_PRESENCE_GAP_SECONDS", "PRESENCE_SESSION_GAP_SECONDS"],
    ),
    ("mqtt.gateway_tree", &["RTLS_MQTT_TOPIC"]),
    ("mqtt.camera_tree", &["CAMBUS_MQTT_BASE_TOPIC"]),
    ("mqtt.external_host", &["RTLS_MQTT_HOST"]),
    ("mqtt.external_port", &["RTLS_MQTT_PORT"]),
    ("mqtt.external_username", &["RTLS_MQTT_USERNAME"]),
    ("mqtt.external_password", &["RTLS_MQTT_PASSWORD"]),
    ("ingest.retention_days", &["PRESENCE_LOG_RETENTION_DAYS"]),
    ("cambus.tenant", &["CAMBUS_TENANT"]),
    ("alerts.session_ttl_seconds", &["ALERT_SESSION_TTL_SECONDS"]),
    ("cambus.default_shard", &["CAMBUS_DEFAULT_SHARD"]),
    ("cambus.uplink_tree", &["CAMBUS_UPLINK_BASE_TOPIC"]),
    ("cambus.uplink_srt_port", &["CAMBUS_UPLINK_SRT_PORT"]),
    ("cambus.uplink_ttl_seconds", &["CAMBUS_UPLINK_TTL_SECONDS"]),
    ("chatwoot.enabled", &["CHATWOOT_ENABLED"]),
    ("chatwoot.base_url", &["CHATWOOT_BASE_URL"]),
    ("chatwoot.api_token", &["CHATWOOT_API_ACCESS_TOKEN"]),
    ("chatwoot.account_id", &["CHATWOOT_DEFAULT_ACCOUNT_ID"]),
    ("chatwoot.inbox", &["CHATWOOT_DEFAULT_INBOX_IDENTIFIER"]),
    (
        "chatwoot.contact_identifier",
        &["CHATWOOT_DEFAULT_CONTACT_IDENTIFIER"],
    ),
    ("chatwoot.webhook_token", &["CHATWOOT_WEBHOOK_TOKEN"]),
    (
        "chatwoot.incident_base_url",
        &["CHATWOOT_INCIDENT_BASE_URL"],
    ),
];

/// Keys that hold secrets, and how each is shown (in logs, `config show` and errors). Each
/// can also be read from the file named by `<NAME>_FILE`.
const SECRETS: &[(&str, Show)] = &[
    ("database.url", redact_url),
    ("auth.jwt_secret", hide),
    ("http.metrics_token", hide),
    ("mqtt.external_password", hide),
    ("chatwoot.api_token", hide),
    ("chatwoot.webhook_secret", hide),
    ("chatwoot.webhook_token", hide),
];

/// How a secret is shown.
type Show = fn(&str) -> String;

fn hide(_: &str) -> String {
    REDACTED.into()
}

fn secret(key: &str) -> Option<Show> {
    SECRETS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, show)| *show)
}

/// `SV_*` variables that are not configuration keys but are read elsewhere.
const OTHER_SV_VARIABLES: &[&str] = &["SV_CONFIG", "SV_ADMIN_PASSWORD", "SV_SIMULATE_PASSWORD"];

/// How a key's value is written in the environment, from its default's type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    /// Every integer key is unsigned.
    Integer,
    Float,
    Text,
    /// Comma-separated.
    List,
    /// Text, or empty for none (every optional key is a URL, path, address or secret).
    OptionalText,
}

/// One configuration key as the structs declare it.
struct Key {
    path: String,
    kind: Kind,
}

/// Every configuration key (`http.listen`), as the structs declare them.
pub fn keys() -> Vec<String> {
    declared_keys().into_iter().map(|key| key.path).collect()
}

fn declared_keys() -> Vec<Key> {
    // The data directory's default comes from the process environment; its text is not needed.
    let defaults = Config {
        data_dir: PathBuf::new(),
        ..Config::default()
    };
    // JSON keeps the keys whose default is none, which TOML leaves out.
    let json = serde_json::to_value(defaults).expect("the defaults serialize");
    let mut keys = Vec::new();
    collect_keys("", &json, &mut keys);
    keys
}

fn collect_keys(prefix: &str, value: &serde_json::Value, keys: &mut Vec<Key>) {
    use serde_json::Value;
    let Value::Object(fields) = value else {
        return;
    };
    for (name, value) in fields {
        let path = match prefix {
            "" => name.clone(),
            _ => format!("{prefix}.{name}"),
        };
        let kind = match value {
            Value::Object(_) => {
                collect_keys(&path, value, keys);
                continue;
            }
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) if n.is_f64() => Kind::Float,
            Value::Number(_) => Kind::Integer,
            Value::String(_) => Kind::Text,
            Value::Array(_) => Kind::List,
            Value::Null => Kind::OptionalText,
        };
        keys.push(Key { path, kind });
    }
}

impl Key {
    /// The environment names of the key, the one that wins first: `SV_` and the path in
    /// capitals, then its aliases.
    fn env_names(&self) -> Vec<String> {
        let derived = format!("SV_{}", self.path.replace('.', "_").to_ascii_uppercase());
        let aliases = ENV_ALIASES
            .iter()
            .filter(|(key, _)| *key == self.path)
            .flat_map(|(_, names)| names.iter().map(std::string::ToString::to_string));
        std::iter::once(derived).chain(aliases).collect()
    }

    /// The TOML value of `text` as the environment or a flag gives it (`None`: back to the
    /// default), or what the key's type takes.
    fn parse(&self, text: &str) -> Result<Option<toml::Value>, &'static str> {
        let text = text.trim();
        Ok(Some(match self.kind {
            Kind::Bool => toml::Value::Boolean(parse_bool(text).ok_or("true or false")?),
            Kind::Integer => {
                let number = text.parse::<u64>().ok().and_then(|n| i64::try_from(n).ok());
                toml::Value::Integer(number.ok_or("a whole number")?)
            }
            Kind::Float => toml::Value::Float(text.parse().map_err(|_| "a number")?),
            Kind::Text => toml::Value::String(text.into()),
            Kind::List => toml::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| toml::Value::String(item.into()))
                    .collect(),
            ),
            Kind::OptionalText if text.is_empty() => return Ok(None),
            Kind::OptionalText => toml::Value::String(text.into()),
        }))
    }

    /// The first of the key's environment names that is set, and its value; a secret's
    /// value can come from the file named by `<NAME>_FILE`.
    fn read_env(
        &self,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(String, String)>, ConfigError> {
        for name in self.env_names() {
            if let Some(value) = env(&name) {
                return Ok(Some((name, value)));
            }
            let file_var = format!("{name}_FILE");
            let Some(path) = secret(&self.path).and_then(|_| env(&file_var)) else {
                continue;
            };
            return match std::fs::read_to_string(&path) {
                Ok(contents) => Ok(Some((
                    file_var,
                    contents.trim_end_matches(['\r', '\n']).to_string(),
                ))),
                Err(err) => Err(ConfigError::Invalid {
                    key: self.path.clone(),
                    value: path,
                    origin: format!("environment variable {file_var}"),
                    allowed: format!("a readable file holding the secret ({err})"),
                }),
            };
        }
        Ok(None)
    }
}

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
    let file = match &overrides.config_file {
        Some(path) => Some(path.clone()),
        None => {
            let system = Path::new(SYSTEM_CONFIG_FILE);
            system.exists().then(|| system.to_path_buf())
        }
    };
    let mut layers = match &file {
        Some(path) => Layers::from_file(path)?,
        None => Layers::default(),
    };

    let keys = declared_keys();
    for key in &keys {
        if let Some((name, value)) = key.read_env(&env)? {
            layers.set(key, &value, format!("environment variable {name}"))?;
        }
    }
    let warnings = env_names
        .filter(|name| {
            name.starts_with("SV_") && !name.starts_with("SV_TEST_") && !is_known(&keys, name)
        })
        .map(|name| format!("unknown environment variable {name} is ignored"))
        .collect();

    let flags = [
        (
            "data_dir",
            (overrides.data_dir.as_ref()).map(|dir| dir.to_string_lossy().into_owned()),
        ),
        ("database.url", overrides.database_url.clone()),
        ("http.listen", overrides.http_listen.clone()),
        ("mqtt.listen", overrides.mqtt_listen.clone()),
    ];
    for (path, value) in flags {
        let Some(value) = value else { continue };
        let key = keys.iter().find(|key| key.path == path);
        let key = key.expect("command-line flags set declared keys");
        let flag = path.replace(['.', '_'], "-");
        layers.set(key, &value, format!("command-line flag --{flag}"))?;
    }

    let config = layers.deserialize()?;
    config.check(|key| layers.origin(key))?;
    Ok(Loaded {
        config,
        source_file: file,
        warnings,
    })
}

fn is_known(keys: &[Key], name: &str) -> bool {
    let base = name.strip_suffix("_FILE");
    OTHER_SV_VARIABLES.contains(&name)
        || keys.iter().any(|key| {
            key.env_names().iter().any(|known| {
                known == name || (secret(&key.path).is_some() && Some(known.as_str()) == base)
            })
        })
}

/// The file's TOML table with the values of the environment and the flags put in at their
/// keys, and where each of those came from.
#[derive(Default)]
struct Layers {
    table: toml::Table,
    file: Option<PathBuf>,
    /// Key → (origin, value as given).
    given: std::collections::HashMap<String, (String, String)>,
}

impl Layers {
    fn from_file(path: &Path) -> Result<Layers, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let parse_error = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        // Checked alone first: its errors point at a line of the file.
        toml::from_str::<Config>(&text).map_err(|err| parse_error(err.to_string()))?;
        let table = text.parse().map_err(|err| parse_error(format!("{err}")))?;
        Ok(Layers {
            table,
            file: Some(path.to_path_buf()),
            given: Default::default(),
        })
    }

    fn set(&mut self, key: &Key, text: &str, origin: String) -> Result<(), ConfigError> {
        let value = key.parse(text).map_err(|what| ConfigError::Invalid {
            key: key.path.clone(),
            value: text.to_string(),
            origin: origin.clone(),
            allowed: allowed(&key.path, what),
        })?;
        let mut table = &mut self.table;
        let (sections, leaf) = match key.path.rsplit_once('.') {
            Some((sections, leaf)) => (sections.split('.').collect(), leaf),
            None => (Vec::new(), key.path.as_str()),
        };
        for section in sections {
            let slot = table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            table = slot
                .as_table_mut()
                .expect("the file was checked: sections are tables");
        }
        match value {
            Some(value) => table.insert(leaf.to_string(), value),
            None => table.remove(leaf),
        };
        self.given
            .insert(key.path.clone(), (origin, text.to_string()));
        Ok(())
    }

    /// Where the value of `key` came from.
    fn origin(&self, key: &str) -> String {
        if let Some((origin, _)) = self.given.get(key) {
            return origin.clone();
        }
        let mut parts = key.split('.');
        let leaf = parts.next_back();
        let section = parts.try_fold(&self.table, |table, part| table.get(part)?.as_table());
        let in_file = section
            .zip(leaf)
            .is_some_and(|(table, leaf)| table.contains_key(leaf));
        match &self.file {
            Some(path) if in_file => format!("configuration file {}", path.display()),
            _ => "the default".into(),
        }
    }

    fn deserialize(&self) -> Result<Config, ConfigError> {
        serde_path_to_error::deserialize(toml::Value::Table(self.table.clone())).map_err(|err| {
            let key = err.path().to_string();
            let value = self.given.get(&key).map(|(_, text)| text.clone());
            ConfigError::Invalid {
                value: value.unwrap_or_default(),
                origin: self.origin(&key),
                allowed: err.inner().message().to_string(),
                key,
            }
        })
    }
}

/// What `key` allows: `what` its type takes, and the key's rule if it has one.
fn allowed(key: &str, what: &str) -> String {
    let rules = Config::default().rules();
    match rules.iter().find(|(k, _, _)| *k == key) {
        Some((_, _, rule)) => format!("{what}, {rule}"),
        None => what.to_string(),
    }
}

impl Config {
    /// Checks the rules that a single key's type cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check(|_| "the effective configuration".into())
    }

    fn check(&self, origin: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        let rules = self.rules();
        let Some((key, _, allowed)) = rules.into_iter().find(|(_, holds, _)| !holds) else {
            return Ok(());
        };
        Err(ConfigError::Invalid {
            key: key.into(),
            value: self.shown_value(key),
            origin: origin(key),
            allowed: allowed.into(),
        })
    }

    /// Every rule a value must follow besides its type, as (key, whether it holds, what is
    /// allowed); loading reports the first that fails.
    fn rules(&self) -> Vec<(&'static str, bool, &'static str)> {
        let (http, auth, mqtt, media) = (&self.http, &self.auth, &self.mqtt, &self.media);
        let (ingest, positioning, cambus) = (&self.ingest, &self.positioning, &self.cambus);
        let tree = |tree: &str, may_be_off: bool| {
            (tree.is_empty() && may_be_off)
                || !(tree.is_empty()
                    || tree.contains(['+', '#'])
                    || tree.starts_with('/')
                    || tree.ends_with('/'))
        };
        const TREE: &str = "a topic prefix without wildcards, e.g. rtls/gateways";
        let cors_origin = |origin: &String| {
            origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.trim_end_matches('/').contains(['?', '#'])
                    && axum::http::HeaderValue::from_str(origin).is_ok())
        };
        vec![
            (
                "database.url",
                (self.database.url.as_deref()).is_none_or(|url| DatabaseKind::of(url).is_some()),
                "a sqlite://PATH or postgres://USER:PASSWORD@HOST/DB URL",
            ),
            (
                "database.max_connections",
                (1..=200).contains(&self.database.max_connections),
                "1 to 200",
            ),
            (
                "database.sqlite_cache_mib",
                (1..=4096).contains(&self.database.sqlite_cache_mib),
                "1 to 4096",
            ),
            (
                "database.sqlite_mmap_mib",
                self.database.sqlite_mmap_mib <= 65_536,
                "0 to 65536",
            ),
            (
                "database.sqlite_index_merge_rows",
                (1..=10_000_000).contains(&self.database.sqlite_index_merge_rows),
                "1 to 10000000",
            ),
            (
                "auth.jwt_secret",
                (auth.jwt_secret.as_deref())
                    .is_none_or(|s| s.len() >= 32 && !WELL_KNOWN_SECRETS.contains(&s)),
                "at least 32 characters and not a well-known default; leave it empty to \
                 have a random key generated in the data directory",
            ),
            (
                "webhooks.retry_hours",
                (1..=720).contains(&self.webhooks.retry_hours),
                "1 to 720 hours (30 days)",
            ),
            (
                "webhooks.pause_after_hours",
                self.webhooks.pause_after_hours < self.webhooks.retry_hours,
                "fewer hours than webhooks.retry_hours (0: never pause)",
            ),
            (
                "webhooks.retry_first_seconds",
                (1..=3600).contains(&self.webhooks.retry_first_seconds),
                "1 to 3600 seconds",
            ),
            (
                "webhooks.concurrency",
                (1..=256).contains(&self.webhooks.concurrency),
                "1 to 256",
            ),
            (
                "webhooks.per_host_concurrency",
                (1..=64).contains(&self.webhooks.per_host_concurrency),
                "1 to 64",
            ),
            (
                "chatwoot.base_url",
                (self.chatwoot.base_url.as_deref()).is_none_or(|url| {
                    reqwest::Url::parse(url)
                        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                }),
                "an http(s) URL, e.g. https://chat.example.com",
            ),
            (
                "chatwoot.account_id",
                (self.chatwoot.account_id.as_deref())
                    .is_none_or(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())),
                "the account's number",
            ),
            (
                "webhooks.timeout_seconds",
                (1..=120).contains(&self.webhooks.timeout_seconds),
                "1 to 120 seconds",
            ),
            (
                "auth.token_ttl_minutes",
                (1..=43_200).contains(&auth.token_ttl_minutes),
                "1 to 43200 minutes (30 days)",
            ),
            (
                "mqtt.max_connections",
                (1..=100_000).contains(&mqtt.max_connections),
                "1 to 100000",
            ),
            (
                "mqtt.max_packet_bytes",
                (1024..=256 * 1024 * 1024).contains(&mqtt.max_packet_bytes),
                "1024 bytes to 256 MiB",
            ),
            (
                "mqtt.tls_listen",
                mqtt.tls_listen.is_none() || (mqtt.tls_cert.is_some() && mqtt.tls_key.is_some()),
                "mqtt.tls_cert and mqtt.tls_key must name PEM files",
            ),
            (
                "ingest.cache_refresh_seconds",
                (1..=3600).contains(&ingest.cache_refresh_seconds),
                "1 to 3600",
            ),
            (
                "positioning.rssi_at_1m",
                RSSI_AT_1M_RANGE.contains(&positioning.rssi_at_1m),
                "dBm, -100 to 0",
            ),
            (
                "positioning.path_loss_exponent",
                PATH_LOSS_EXPONENT_RANGE.contains(&positioning.path_loss_exponent),
                "1 to 6",
            ),
            (
                "positions.history_interval_seconds",
                (1..=3600).contains(&self.positions.history_interval_seconds),
                "1 to 3600 seconds",
            ),
            (
                "positions.history_min_move_m",
                (0.0..=100.0).contains(&self.positions.history_min_move_m),
                "metres, 0 to 100",
            ),
            (
                "positions.history_keepalive_seconds",
                (self.positions.history_interval_seconds..=3600)
                    .contains(&self.positions.history_keepalive_seconds),
                "positions.history_interval_seconds to 3600 seconds",
            ),
            (
                "positions.history_max_window_hours",
                (1..=24 * 31).contains(&self.positions.history_max_window_hours),
                "1 to 744 hours (31 days)",
            ),
            (
                "positioning.gateway_height_m",
                (0.0..=20.0).contains(&positioning.gateway_height_m),
                "metres, 0 to 20",
            ),
            (
                "cambus.tenant",
                !(cambus.tenant.is_empty() || cambus.tenant.contains(['+', '#', '/'])),
                "a topic segment without / + #, e.g. default",
            ),
            (
                "cambus.nearby_radius_m",
                cambus.nearby_radius_m.is_finite() && cambus.nearby_radius_m > 0.0,
                "a distance in metres, above 0",
            ),
            (
                "cambus.uplink_srt_port",
                cambus.uplink_srt_port > 0,
                "a port, 1 to 65535",
            ),
            ("mqtt.gateway_tree", tree(&mqtt.gateway_tree, false), TREE),
            ("mqtt.camera_tree", tree(&mqtt.camera_tree, false), TREE),
            (
                "mqtt.espresense_tree",
                tree(&mqtt.espresense_tree, true),
                TREE,
            ),
            ("mqtt.theengs_tree", tree(&mqtt.theengs_tree, true), TREE),
            ("cambus.uplink_tree", tree(&cambus.uplink_tree, false), TREE),
            (
                "ingest.queue_capacity",
                ingest.queue_capacity >= 1000,
                "1000 or more",
            ),
            (
                "ingest.queue_bytes",
                ingest.queue_bytes >= 4 * mqtt.max_packet_bytes,
                "at least 4 × mqtt.max_packet_bytes",
            ),
            (
                "mqtt.listen",
                mqtt.mode == MqttMode::External
                    || mqtt.listen.is_some()
                    || mqtt.tls_listen.is_some()
                    || mqtt.ws_listen.is_some(),
                "an address, unless mqtt.tls_listen or mqtt.ws_listen is set",
            ),
            (
                "mqtt.max_keep_alive_seconds",
                mqtt.max_keep_alive_seconds > 0,
                "1 to 65535",
            ),
            (
                "ingest.max_readings_per_message",
                ingest.max_readings_per_message > 0,
                "1 or more",
            ),
            (
                "ingest.backlog_bytes",
                ingest.backlog_bytes > 0,
                "1 or more",
            ),
            (
                "http.metrics_token",
                (http.metrics_token.as_ref()).is_none_or(|token| token.len() >= 16),
                "at least 16 characters",
            ),
            (
                "devices.offline_after_seconds",
                self.devices.offline_after_seconds > 0,
                "1 or more seconds",
            ),
            (
                "alerts.session_ttl_seconds",
                self.alerts.session_ttl_seconds >= 10,
                "10 seconds or more (a tag that stays put is announced every 5 s)",
            ),
            (
                "backup.schedule",
                self.backup.schedule.trim().is_empty() || self.backup.schedule_time().is_some(),
                "a time of day, HH:MM (24 h, the site's time zone), or empty for none",
            ),
            (
                "cluster.enabled",
                !self.cluster.enabled
                    || DatabaseKind::of(&self.database_url()) == Some(DatabaseKind::Postgres),
                "false with SQLite: a cluster's nodes share one PostgreSQL (database.url = \
                 postgres://…)",
            ),
            (
                "cluster.enabled",
                !self.cluster.enabled || mqtt.mode == MqttMode::External,
                "false with the embedded broker: a cluster's nodes consume one external \
                 broker (mqtt.mode = \"external\")",
            ),
            (
                "cluster.lease_seconds",
                (3..=300).contains(&self.cluster.lease_seconds),
                "3 to 300 seconds",
            ),
            (
                "disk.min_free_mb",
                self.disk.min_free_mb <= 1_048_576,
                "0 (off) to 1048576 (1 TB)",
            ),
            (
                "backup.keep",
                (1..=1000).contains(&self.backup.keep),
                "1 to 1000",
            ),
            (
                "site.time_zone",
                self.site.time_zone.parse::<chrono_tz::Tz>().is_ok(),
                "an IANA time zone name, such as UTC or America/Sao_Paulo",
            ),
            (
                "media.max_upload_bytes",
                media.max_upload_bytes >= 1024,
                "at least 1024 bytes",
            ),
            (
                "http.header_read_timeout_seconds",
                (1..=300).contains(&http.header_read_timeout_seconds),
                "1 to 300",
            ),
            (
                "http.max_streams_per_user",
                http.max_streams_per_user > 0,
                "1 or more",
            ),
            (
                "reports.max_window_days",
                (1..=3660).contains(&self.reports.max_window_days),
                "1 to 3660 days",
            ),
            (
                "reports.rollup_interval_seconds",
                self.reports.rollup_interval_seconds <= 3600,
                "0 to 3600",
            ),
            (
                "incidents.rule_cooldown_seconds",
                self.incidents.rule_cooldown_seconds <= 86_400,
                "0 to 86400",
            ),
            (
                "incidents.attachment_quota_bytes",
                self.incidents.attachment_quota_bytes >= media.max_upload_bytes as u64,
                "at least media.max_upload_bytes",
            ),
            (
                "media.quota_bytes",
                media.quota_bytes >= media.max_upload_bytes as u64,
                "at least media.max_upload_bytes",
            ),
            (
                "auth.max_failed_logins",
                auth.max_failed_logins > 0,
                "1 or more",
            ),
            (
                "auth.admin_email",
                crate::auth::normalize_email(&auth.admin_email).is_some(),
                "an e-mail address, e.g. admin@localhost",
            ),
            (
                "http.cors_origins",
                http.cors_origins.iter().all(cors_origin),
                "origins such as https://console.example.com, or *",
            ),
            (
                "http.public_base_url",
                (http.public_base_url.as_ref())
                    .is_none_or(|url| url.starts_with("http://") || url.starts_with("https://")),
                "an http:// or https:// URL",
            ),
            (
                "http.console_dir",
                (http.console_dir.as_ref()).is_none_or(|dir| dir.join("index.html").is_file()),
                "a directory holding a built console (index.html)",
            ),
        ]
    }

    /// The value of `key` as an error shows it: as text, a secret redacted.
    fn shown_value(&self, key: &str) -> String {
        fn text(value: &serde_json::Value) -> String {
            match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Array(items) => {
                    items.iter().map(text).collect::<Vec<_>>().join(",")
                }
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            }
        }
        let json = serde_json::to_value(self).unwrap_or_default();
        let value = json
            .pointer(&format!("/{}", key.replace('.', "/")))
            .map(text)
            .unwrap_or_default();
        match secret(key) {
            Some(show) if !value.is_empty() => show(&value),
            _ => value,
        }
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
        shown.database.url = Some(self.database_url());
        // Back through the structs, so that the keys keep their declared order.
        redacted_table(&shown)
            .and_then(|table| Ok(toml::Value::Table(table).try_into::<Config>()?))
            .and_then(|shown| Ok(toml::to_string_pretty(&shown)?))
            .unwrap_or_else(|err| format!("# cannot render: {err}\n"))
    }
}

/// `value` as TOML, its secrets redacted. Secrets are found by their field names, which no
/// other key shares.
fn redacted_table<T: Serialize>(value: &T) -> Result<toml::Table, Box<dyn std::error::Error>> {
    fn redact(table: &mut toml::Table) {
        for (name, value) in table.iter_mut() {
            match value {
                toml::Value::Table(inner) => redact(inner),
                toml::Value::String(text) => {
                    let leaf = |key: &&(&str, _)| key.0.rsplit('.').next() == Some(name);
                    if let Some((_, show)) = SECRETS.iter().find(leaf) {
                        *text = show(text);
                    }
                }
                _ => {}
            }
        }
    }
    let mut table = toml::Table::try_from(value)?;
    redact(&mut table);
    Ok(table)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_env(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: std::collections::HashMap<_, _> = env.iter().copied().collect();
        let overrides = Overrides {
            config_file: Some(PathBuf::from("/dev/null")),
            ..Overrides::default()
        };
        let names = env
            .keys()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>();
        let loaded = load_from(
            &overrides,
            |n| env.get(n).map(std::string::ToString::to_string),
            names.into_iter(),
        )?;
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        Ok(loaded.config)
    }

    #[test]
    fn every_key_is_settable_from_its_derived_variable() {
        let defaults = serde_json::to_value(Config::default()).unwrap();
        for key in declared_keys() {
            let pointer = format!("/{}", key.path.replace('.', "/"));
            let default = &defaults.pointer(&pointer).unwrap();
            let (text, expected) = match key.kind {
                Kind::Bool => {
                    let flipped = !default.as_bool().unwrap();
                    (flipped.to_string(), serde_json::json!(flipped))
                }
                Kind::Integer => {
                    let next = default.as_u64().unwrap() + 1;
                    (next.to_string(), serde_json::json!(next))
                }
                Kind::Float => {
                    let next = default.as_f64().unwrap() + 0.5;
                    (next.to_string(), serde_json::json!(next))
                }
                Kind::List => (
                    " https://a.example , https://b.example".into(),
                    serde_json::json!(["https://a.example", "https://b.example"]),
                ),
                Kind::Text => ("x/y".into(), serde_json::json!("x/y")),
                Kind::OptionalText => ("127.0.0.1:9".into(), serde_json::json!("127.0.0.1:9")),
            };
            let name = key.env_names()[0].clone();
            assert_eq!(
                name,
                format!("SV_{}", key.path.replace('.', "_").to_uppercase())
            );
            match load_env(&[(name.as_str(), text.as_str())]) {
                Ok(config) => {
                    let json = serde_json::to_value(config).unwrap();
                    assert_eq!(json.pointer(&pointer), Some(&expected), "{name}={text}");
                }
                // A value that this key's type or rule refuses (text that is no address, a
                // cluster without PostgreSQL) still reached the key.
                Err(ConfigError::Invalid {
                    key: refused,
                    origin,
                    ..
                }) => {
                    assert_eq!(refused, key.path);
                    assert_eq!(origin, format!("environment variable {name}"));
                }
                Err(err) => panic!("{name}={text}: {err}"),
            }
        }
    }

    #[test]
    fn each_environment_name_belongs_to_one_declared_key() {
        let keys = declared_keys();
        let paths: Vec<&str> = keys.iter().map(|key| key.path.as_str()).collect();
        let aliased = ENV_ALIASES.iter().map(|(key, _)| key);
        for key in aliased.chain(SECRETS.iter().map(|(key, _)| key)) {
            assert!(paths.contains(key), "{key} is not a configuration key");
        }
        let mut names: Vec<String> = keys.iter().flat_map(Key::env_names).collect();
        names.extend(
            OTHER_SV_VARIABLES
                .iter()
                .map(std::string::ToString::to_string),
        );
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "an environment name is read twice");
    }

    #[test]
    fn rules_and_secrets_name_declared_keys() {
        let paths = keys();
        for (key, _, _) in Config::default().rules() {
            assert!(paths.iter().any(|path| path == key), "rule for {key}");
        }
        // Secrets are redacted by their field names.
        for (secret, _) in SECRETS {
            let leaf = |path: &str| path.rsplit('.').next().unwrap().to_string();
            let sharing = paths.iter().filter(|path| leaf(path) == leaf(secret));
            assert_eq!(sharing.count(), 1, "{secret}");
        }
    }

    #[test]
    fn the_example_names_only_variables_that_are_read_and_every_alias() {
        let keys = declared_keys();
        let words = EXAMPLE.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        for word in words.filter(|word| word.starts_with("SV_") && word.len() > 3) {
            assert!(is_known(&keys, word), "{word} in the example is not read");
        }
        for name in ENV_ALIASES.iter().flat_map(|(_, names)| names.iter()) {
            assert!(EXAMPLE.contains(name), "{name} is not in the example");
        }
    }

    #[test]
    fn the_command_lines_variables_are_known() {
        use clap::CommandFactory;
        fn variables(command: &clap::Command, out: &mut Vec<String>) {
            let envs = command.get_arguments().filter_map(|arg| arg.get_env());
            out.extend(envs.map(|env| env.to_string_lossy().into_owned()));
            for sub in command.get_subcommands() {
                variables(sub, out);
            }
        }
        let mut names = Vec::new();
        variables(&crate::cli::Cli::command(), &mut names);
        assert!(!names.is_empty());
        for name in names {
            assert!(
                is_known(&declared_keys(), &name),
                "{name} would be warned about"
            );
        }
    }

    #[test]
    fn flags_override_their_keys() {
        let overrides = Overrides {
            config_file: Some(PathBuf::from("/dev/null")),
            data_dir: Some(PathBuf::from("/srv/sv")),
            database_url: Some("sqlite:///srv/other.db".into()),
            http_listen: Some("127.0.0.1:1".into()),
            mqtt_listen: Some(String::new()),
        };
        let env = |name: &str| (name == "SV_MQTT_WS_LISTEN").then(|| "127.0.0.1:3".to_string());
        let config = load_from(&overrides, env, std::iter::empty())
            .unwrap()
            .config;
        assert_eq!(config.data_dir, PathBuf::from("/srv/sv"));
        assert_eq!(config.database_url(), "sqlite:///srv/other.db");
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:1");
        assert_eq!(config.mqtt.listen, None);
        let overrides = Overrides {
            http_listen: Some("nowhere".into()),
            ..overrides
        };
        let err = load_from(&overrides, |_| None, std::iter::empty())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("command-line flag --http-listen"),
            "{err}"
        );
    }
}

/// An enum written in lower case, read whatever its case; a wrong name is answered with the
/// list of names.
fn any_case<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<T, D::Error> {
    /// Keeps serde's list of the variants when a name is unknown.
    #[derive(Debug)]
    struct OneOf(String);
    impl std::fmt::Display for OneOf {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for OneOf {}
    impl serde::de::Error for OneOf {
        fn custom<M: std::fmt::Display>(message: M) -> Self {
            OneOf(message.to_string())
        }
        fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
            OneOf(format!("one of: {}", expected.join(", ")))
        }
    }
    let name = String::deserialize(d)?.trim().to_ascii_lowercase();
    T::deserialize(StringDeserializer::<OneOf>::new(name)).map_err(serde::de::Error::custom)
}

/// A topic tree; a trailing `/#` (the original's `RTLS_MQTT_TOPIC` is a subscription filter)
/// or `/` is dropped.
fn topic_tree<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let tree = String::deserialize(d)?;
    let tree = tree.trim().trim_end_matches("/#").trim_end_matches('/');
    Ok(tree.to_string())
}

fn address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    (text.trim().parse()).map_err(|_| serde::de::Error::custom("ADDR:PORT, e.g. 0.0.0.0:8080"))
}

/// An optional listener: an address, or `""` for none (how a file switches off a listener
/// that is on by default).
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
            addr => addr.parse().map(Some).map_err(|_| {
                serde::de::Error::custom("ADDR:PORT, e.g. 0.0.0.0:1883, or \"\" (off)")
            }),
        }
    }
}
