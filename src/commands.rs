//! The subcommands. Each loads the configuration, runs, and reports failures on stderr
//! with a non-zero exit status.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::auth::{hash_password_in_background, normalize_email, random_secret};
use crate::bootstrap;
use crate::cli::{Cli, Command, ConfigCommand, SecretsCommand, SeedArgs};
use crate::config::{self, Config, Overrides};
use crate::server::{App, ServeOptions};
use crate::store::users::{NewUser, ROLE_ADMIN};

pub fn run(cli: Cli) -> ExitCode {
    crate::tls::install_default_provider();
    let mut overrides = Overrides {
        config_file: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..Overrides::default()
    };
    if let Command::Serve(args) = &cli.command {
        overrides.http_listen = args.http_listen.clone();
        overrides.mqtt_listen = args.mqtt_listen.clone();
    }
    let loaded = match config::load(&overrides) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("securityvision: {err}");
            return ExitCode::from(2);
        }
    };
    let config = loaded.config;

    if let Command::Config(what) = &cli.command {
        match what {
            ConfigCommand::Show => print!("{}", config.to_redacted_toml()),
            ConfigCommand::Example => print!("{}", config::EXAMPLE),
        }
        return ExitCode::SUCCESS;
    }

    crate::telemetry::init(&config.log);
    if let Some(file) = &loaded.source_file {
        tracing::info!(file = %file.display(), "configuration file loaded");
    }
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("securityvision: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(config, args.no_migrate).await,
            Command::Migrate(args) => migrate(config, args.status).await,
            Command::Seed(args) => seed(config, args).await,
            Command::Simulate(args) => crate::simulate::run(args).await,
            Command::Backup(args) => backup(config, args.to).await,
            Command::Restore(args) => restore(&config, &args.file, args.force),
            Command::Check => check(&config, loaded.source_file.as_deref()).await,
            Command::Secrets(SecretsCommand::Reset) => reset_secrets(&config).await,
            Command::ImportLegacy(args) => import_legacy(&config, args).await,
            Command::Config(_) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("securityvision: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config, no_migrate: bool) -> anyhow::Result<()> {
    let http_addr = config.http.listen;
    let app = App::prepare(config, ServeOptions { no_migrate }).await?;
    if let Some(admin) = &app.first_admin {
        announce_first_admin(admin);
    }
    if let Some(gateway) = &app.first_gateway {
        announce_first_gateway(gateway);
    }
    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("listening on {http_addr} (http.listen)"))?;
    let shutdown = CancellationToken::new();
    crate::shutdown::cancel_on_signal(shutdown.clone());
    let running = app.start(listener, shutdown.clone()).await?;
    // Started by systemd (`Type=notify`): ready now that HTTP and MQTT listen on a migrated
    // database; then the watchdog keep-alives.
    if let Some(notifier) = crate::systemd::Notifier::from_env() {
        let mqtt = running
            .mqtt_addr
            .map_or_else(|| "external broker".to_string(), |a| a.to_string());
        notifier.send(&format!(
            "READY=1\nSTATUS=Serving HTTP on {}, MQTT on {mqtt}",
            running.http_addr
        ));
        let liveness = running.liveness.clone();
        tokio::spawn(crate::systemd::supervise(
            notifier,
            move || {
                let liveness = liveness.clone();
                async move { liveness.check().await }
            },
            shutdown,
        ));
    }
    running.wait().await
}

/// Forgets what the lost key sealed and makes a new key, so that the appliance starts again.
async fn reset_secrets(config: &Config) -> anyhow::Result<()> {
    let store = bootstrap::open_store(config).await?;
    store.ensure_schema_current().await?;
    let cleared = store.clear_sealed_secrets().await;
    store.close().await;
    let (devices, webhooks) = cleared?;
    let key = config.data_dir.join(crate::secrets::SECRET_KEY_FILE);
    crate::secrets::SecretBox::create(&key)?;
    println!(
        "Forgot {devices} device password(s) and {webhooks} webhook signing secret(s); a new key is in {}.\n\
         Enter the camera passwords again (PUT /api/v1/devices/cameras/{{id}}) and give the webhooks new secrets.",
        key.display()
    );
    Ok(())
}

async fn backup(config: Config, to: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let store = bootstrap::open_store(&config).await?;
    store.ensure_schema_current().await?;
    let to =
        to.unwrap_or_else(|| crate::backup::archive_path(&crate::backup::backup_dir(&config), ""));
    let written = crate::backup::write(&config, &store, &to).await;
    store.close().await;
    let written = written?;
    println!(
        "Backup written to {} ({} bytes, mode 0600).",
        written.path.display(),
        written.bytes
    );
    if written.database == crate::store::DatabaseKind::Postgres {
        println!(
            "It holds the keys and media. The PostgreSQL database is backed up with its own tool, e.g.\n  pg_dump --format=custom --file=securityvision.pgdump '{}'",
            crate::store::redact_url(&config.database_url())
        );
    }
    Ok(())
}

async fn import_legacy(config: &Config, args: crate::cli::ImportLegacyArgs) -> anyhow::Result<()> {
    let options = crate::import::Options {
        from: args.from,
        media_dir: args.media_dir,
        dry_run: args.dry_run,
        merge: args.merge,
        readings: args.readings,
    };
    let report = crate::import::run(config, &options).await?;
    print!("{}", report.render());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn check(config: &Config, source: Option<&std::path::Path>) -> anyhow::Result<()> {
    let findings = crate::check::run(config, source).await;
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings
        .iter()
        .filter(|f| f.level == crate::check::Level::Fail)
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

fn restore(config: &Config, file: &std::path::Path, force: bool) -> anyhow::Result<()> {
    let restored = crate::backup::restore(config, file, force)?;
    println!(
        "Restored the backup of {} ({} files) into {}.",
        restored.created_at.to_rfc3339(),
        restored.files,
        config.data_dir.display()
    );
    if restored.database == "postgres" {
        println!(
            "The backup holds no database: restore the PostgreSQL dump with pg_restore before starting."
        );
    }
    Ok(())
}

/// Tells the operator about the generated administrator. The password itself is printed
/// only on an interactive terminal, so that it does not end up in the system journal;
/// the file always has it.
fn announce_first_admin(admin: &bootstrap::FirstAdmin) {
    println!();
    println!("  First start: created administrator {}", admin.email);
    if std::io::stdout().is_terminal() {
        println!("  Password (shown once): {}", admin.password);
    }
    println!(
        "  The password is in {} (mode 0600).",
        admin.password_file.display()
    );
    println!("  Log in and change it; then delete that file.");
    println!();
    tracing::info!(email = %admin.email, file = %admin.password_file.display(), "first administrator created");
}

/// Tells the operator about the generated MQTT credential for gateways, as for the admin.
fn announce_first_gateway(gateway: &bootstrap::FirstGateway) {
    println!(
        "  MQTT: created the credential '{}' for the site's gateways.",
        gateway.username
    );
    if std::io::stdout().is_terminal() {
        println!("  Password (shown once): {}", gateway.password);
    }
    println!(
        "  The password is in {} (mode 0600).",
        gateway.password_file.display()
    );
    println!();
    tracing::info!(username = %gateway.username, file = %gateway.password_file.display(), "first MQTT gateway credential created");
}

async fn migrate(config: Config, status_only: bool) -> anyhow::Result<()> {
    let store = bootstrap::open_store(&config).await?;
    if status_only {
        let migrations = store.migration_status().await?;
        println!(
            "database: {} ({})",
            crate::store::redact_url(&config.database_url()),
            store.kind().name()
        );
        for m in &migrations {
            let state = if m.applied { "applied" } else { "pending" };
            println!("{:>6}  {:<8} {}", m.version, state, m.description);
        }
        let pending = crate::store::MigrationState::pending(&migrations);
        println!(
            "{} applied, {} pending",
            migrations.len() - pending,
            pending
        );
    } else {
        let migrations = store.migration_status().await?;
        if let Some(backup) = crate::backup::before_migrating(&config, &store, &migrations).await? {
            println!(
                "Backup of the data before migrating: {}",
                backup.path.display()
            );
        }
        let applied = store.migrate().await?;
        println!("{applied} migration(s) applied; the schema is up to date");
    }
    store.close().await;
    Ok(())
}

async fn seed(config: Config, args: SeedArgs) -> anyhow::Result<()> {
    let store = bootstrap::open_store(&config).await?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    if args.demo {
        let site = crate::demo::seed(&store, &config).await?;
        store.close().await;
        println!(
            "demo site created: building {} ({}), {} gateways, {} cameras, {} people with tags",
            crate::demo::BUILDING_CODE,
            site.building_id,
            site.gateways,
            site.cameras,
            site.people
        );
        println!("make them walk: securityvision simulate");
        return Ok(());
    }
    let email_text = args
        .admin_email
        .clone()
        .unwrap_or_else(|| config.auth.admin_email.clone());
    let email = normalize_email(&email_text)
        .with_context(|| format!("{email_text:?} is not an e-mail address"))?;
    if store.user_by_email(&email).await?.is_some() {
        anyhow::bail!("a user with e-mail {email} already exists");
    }
    let (password, generated) = match admin_password(&args)? {
        Some(p) if p.chars().count() >= 8 => (p, false),
        Some(_) => anyhow::bail!("the admin password must have at least 8 characters"),
        None => (random_secret(18), true),
    };
    let hash = hash_password_in_background(&password).await?;
    let user = store
        .create_user(&NewUser {
            email: email.clone(),
            full_name: args.admin_name,
            hashed_password: hash,
            role: ROLE_ADMIN.into(),
            is_active: true,
            is_superuser: true,
            must_change_password: generated,
        })
        .await?;
    store.mark_first_admin_created(&email).await?;
    store
        .audit(
            None,
            "seed",
            "user",
            Some(user.id),
            serde_json::json!({"email": email}),
        )
        .await?;
    println!("created administrator {email}");
    if generated {
        let file = config.data_dir.join(SEED_PASSWORD_FILE);
        bootstrap::write_private_file(&file, &format!("{password}\n"))?;
        // Only on a terminal: a password on stdout ends up in logs and CI output.
        if std::io::stdout().is_terminal() {
            println!("password (shown once): {password}");
        }
        println!(
            "its password is in {} (mode 0600); log in, change it, delete that file",
            file.display()
        );
    }
    store.close().await;
    Ok(())
}

/// Where `seed` writes the password it generates.
const SEED_PASSWORD_FILE: &str = "seed-admin-password";

/// The administrator's password for `seed`: from `--admin-password-file` (`-`: standard
/// input), `--admin-password` (with a warning: other local users see it in the process
/// list) or `SV_ADMIN_PASSWORD`; `None` to generate one.
fn admin_password(args: &SeedArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.admin_password_file {
        let text = if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("reading the admin password from standard input")?;
            text
        } else {
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin password from {}", path.display()))?
        };
        let password = text.lines().next().unwrap_or_default().to_string();
        return Ok(Some(password));
    }
    if let Some(password) = &args.admin_password {
        eprintln!(
            "securityvision: warning: --admin-password is visible to other local users (process \
             list, shell history); prefer --admin-password-file or SV_ADMIN_PASSWORD"
        );
        return Ok(Some(password.clone()));
    }
    Ok(std::env::var("SV_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty()))
}
