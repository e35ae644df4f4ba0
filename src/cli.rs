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
    Simulate(crate::simulate::SimulateArgs),
    /// Write a backup (database snapshot, keys, media) while the appliance runs
    Backup(BackupArgs),
    /// Put a backup back into the data directory (the appliance stopped)
    Restore(RestoreArgs),
    /// Check the configuration, database, disk space, certificates, ports and permissions
    Check,
    /// The key stored secrets are sealed with (`secret-key` in the data directory)
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Move a site from the original (Python) backend: its database and media into ours
    ImportLegacy(ImportLegacyArgs),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// After losing `secret-key`: forget every sealed value (camera and device passwords,
    /// webhook signing secrets) and make a new key. Stop the appliance first.
    Reset,
}

#[derive(Debug, Args)]
pub struct ImportLegacyArgs {
    /// The original's PostgreSQL database (read only, never changed)
    #[arg(long, value_name = "postgres://…")]
    pub from: String,
    /// The original's media directory (its MEDIA_ROOT), for floor-plan images and incident files
    #[arg(long, value_name = "DIR")]
    pub media_dir: Option<PathBuf>,
    /// Do everything but commit: report what would be imported
    #[arg(long)]
    pub dry_run: bool,
    /// Import into a database that already holds data: rows found by MAC, code, e-mail or
    /// name are kept as they are, the others added
    #[arg(long)]
    pub merge: bool,
    /// Also import collection logs (raw detections): `all` or `since=YYYY-MM-DD`
    #[arg(long, value_name = "all|since=DATE")]
    pub readings: Option<crate::import::Readings>,
    /// Also write the report as JSON to this file
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The archive to write [default: a new file in backup.dir]
    #[arg(long, value_name = "FILE")]
    pub to: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive written by `backup`
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace an existing database (it is kept beside the restored one)
    #[arg(long)]
    pub force: bool,
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
