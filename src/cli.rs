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
    /// Create an administrator
    Seed(SeedArgs),
    /// Show the effective configuration or an example file
    #[command(subcommand)]
    Config(ConfigCommand),
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
    /// E-mail of the administrator to create [default: auth.admin_email]
    #[arg(long, value_name = "EMAIL")]
    pub admin_email: Option<String>,
    /// Its password; generated and printed when absent
    #[arg(
        long,
        env = "SV_ADMIN_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
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
