//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "securityvision",
    version,
    about = "On-prem RTLS and camera-event appliance"
)]
pub struct Cli {
    /// Configuration file [default: /etc/securityvision/securityvision.toml when present]
    #[arg(long, global = true, env = "SV_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, generated secrets, media) [env: SV_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… [env: SV_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: migrate the database, then serve the API
    Serve(ServeArgs),
    /// Apply pending database migrations, or list them with --status
    Migrate(MigrateArgs),
    /// Create an administrator, or with --demo a demo site
    Seed(SeedArgs),
    /// Show the effective configuration or an example file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Publish simulated gateway reports of tags walking in a room (load and demos)
    Simulate(SimulateArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PayloadFormat {
    /// JSON array with a gateway record (Minew JSON-LONG)
    Minew,
    /// {"readings": [{"tag_mac", "rssi"}, …]}
    Readings,
    /// Ingics $GPRP text lines
    Ingics,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The MQTT broker
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "HOST:PORT")]
    pub mqtt: String,
    /// MQTT username
    #[arg(long, default_value = "gateway")]
    pub username: Option<String>,
    /// MQTT password
    #[arg(long, env = "SV_SIMULATE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// File holding the MQTT password [default: data/initial-mqtt-gateway-password]
    #[arg(
        long,
        value_name = "PATH",
        default_value = "data/initial-mqtt-gateway-password"
    )]
    pub password_file: Option<PathBuf>,
    /// Gateways, spread evenly over the room (the defaults are the `seed --demo` site's)
    #[arg(long, default_value_t = crate::simulate::DEFAULT_GATEWAYS)]
    pub gateways: usize,
    /// Tags walking in the room
    #[arg(long, default_value_t = crate::simulate::DEFAULT_TAGS)]
    pub tags: usize,
    /// Room width and height, in metres
    #[arg(long, default_value_t = crate::simulate::DEFAULT_WIDTH_M)]
    pub width: f64,
    #[arg(long, default_value_t = crate::simulate::DEFAULT_HEIGHT_M)]
    pub height: f64,
    /// Reports per gateway per second
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds to run
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    #[arg(long, value_enum, default_value = "minew")]
    pub format: PayloadFormat,
    /// MQTT QoS of the reports (0 or 1)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// RSSI noise (standard deviation, dB)
    #[arg(long, default_value_t = 2.5)]
    pub noise_db: f64,
    /// Seed of the random walk and noise (the same seed, the same run)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Register the tags through this API first (e.g. http://127.0.0.1:8080)
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// Administrator to register the tags as
    #[arg(long, default_value = "admin@localhost")]
    pub admin_email: String,
    /// File holding that administrator's password (or SV_ADMIN_PASSWORD)
    #[arg(long, value_name = "PATH")]
    pub admin_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP listen address [env: SV_HTTP_LISTEN]
    #[arg(long, value_name = "ADDR:PORT")]
    pub http_listen: Option<String>,
    /// MQTT listen address [env: SV_MQTT_LISTEN]
    #[arg(long, value_name = "ADDR:PORT")]
    pub mqtt_listen: Option<String>,
    /// Refuse to start on an outdated schema instead of migrating it
    #[arg(long)]
    pub no_migrate: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// List applied and pending migrations without changing anything
    #[arg(long)]
    pub status: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Create the demo site instead (a building, two floors with drawn plans, placed
    /// gateways and cameras, people with the tags that `simulate` moves)
    #[arg(long, conflicts_with_all = ["admin_email", "admin_password", "admin_password_file"])]
    pub demo: bool,
    /// E-mail of the administrator to create [default: auth.admin_email]
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// File holding its password (first line), or `-` for standard input. Without it (or
    /// SV_ADMIN_PASSWORD) a password is generated into <data_dir>/seed-admin-password
    #[arg(long, value_name = "PATH", conflicts_with = "admin_password")]
    pub admin_password_file: Option<PathBuf>,
    /// Its password (visible to other local users in the process list: prefer
    /// --admin-password-file or SV_ADMIN_PASSWORD)
    #[arg(long, value_name = "PASSWORD")]
    pub admin_password: Option<String>,
    /// Its full name
    #[arg(long, value_name = "NAME", default_value = "Administrator")]
    pub admin_name: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted)
    Show,
    /// Print the commented example configuration
    Example,
}
