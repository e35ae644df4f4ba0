//! Backups a site can restore: one archive (`.tar.gz`, mode 0600) holding a consistent
//! snapshot of the SQLite database (a page copy in one read transaction, taken while the
//! appliance runs and writes: `store::snapshot`), the keys the appliance generated in its
//! data directory, and the media directory. On PostgreSQL the database belongs to the
//! site's own tools: the archive carries the keys and media, and says which `pg_dump` to
//! run beside it.
//!
//! Taken by `securityvision backup`, every day at `backup.schedule`, and before `serve`
//! migrates an existing SQLite database to a new schema (after a package upgrade).

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::store::{DatabaseKind, MigrationState, Store};

/// The first entry of every archive.
const MANIFEST: &str = "securityvision-backup.json";
const DATABASE_ENTRY: &str = "database.sqlite";
const DATA_PREFIX: &str = "data";
const MEDIA_PREFIX: &str = "media";
/// The SQLite files of the data directory: in the archive as one snapshot, not as files.
const DATABASE_FILES: [&str; 3] = [
    "securityvision.db",
    "securityvision.db-wal",
    "securityvision.db-shm",
];
/// Names of the archives this module writes (and prunes).
const ARCHIVE_PREFIX: &str = "securityvision-";
const ARCHIVE_SUFFIX: &str = ".tar.gz";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The layout of the archive; a later layout is refused by an older binary.
    format: u32,
    /// The version of the binary that wrote it.
    version: String,
    created_at: DateTime<Utc>,
    /// `sqlite` (the archive holds the database) or `postgres` (it does not).
    database: String,
}

const FORMAT: u32 = 1;

/// What a backup wrote.
#[derive(Debug)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub database: DatabaseKind,
}

/// The default place of backups: `backup.dir`, else `<data_dir>/backups`.
pub fn backup_dir(config: &Config) -> PathBuf {
    config
        .backup
        .dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("backups"))
}

/// A fresh archive name in `dir`, e.g. `securityvision-20261201T031500Z.tar.gz`.
pub fn archive_path(dir: &Path, label: &str) -> PathBuf {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    dir.join(format!("{ARCHIVE_PREFIX}{label}{stamp}{ARCHIVE_SUFFIX}"))
}

/// Writes a backup of the site to `to` (replaced atomically when complete).
pub async fn write(config: &Config, store: &Store, to: &Path) -> anyhow::Result<Written> {
    let parent = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    crate::store::create_private_dir(parent)?;
    let staging = Staging::new(parent)?;
    let snapshot = staging.path.join(DATABASE_ENTRY);
    let database = store.kind();
    if database == DatabaseKind::Sqlite {
        store
            .snapshot_into(&snapshot)
            .await
            .context("taking a snapshot of the SQLite database")?;
    }
    let manifest = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: Utc::now(),
        database: database.name().to_lowercase(),
    };
    let data_dir = config.data_dir.clone();
    let media = config.media_root();
    let partial = staging.path.join("archive.partial");
    let destination = to.to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let file = private_file(&partial)?;
        let gzip = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gzip);
        tar.follow_symlinks(false);
        let manifest = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(Utc::now().timestamp().unsigned_abs());
        tar.append_data(&mut header, MANIFEST, manifest.as_slice())?;
        if snapshot.exists() {
            tar.append_path_with_name(&snapshot, DATABASE_ENTRY)?;
        }
        for entry in std::fs::read_dir(&data_dir)
            .with_context(|| format!("reading {}", data_dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            let is_database = DATABASE_FILES.iter().any(|db| name == *db);
            if entry.file_type()?.is_file() && !is_database {
                tar.append_path_with_name(entry.path(), Path::new(DATA_PREFIX).join(&name))?;
            }
        }
        if media.is_dir() {
            tar.append_dir_all(MEDIA_PREFIX, &media)?;
        }
        let gzip = tar.into_inner()?;
        let file = gzip
            .finish()?
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        std::fs::rename(&partial, &destination)
            .with_context(|| format!("writing {}", destination.display()))?;
        Ok(bytes)
    })
    .await??;
    drop(staging);
    Ok(Written {
        path: to.to_path_buf(),
        bytes,
        database,
    })
}

/// A private working directory beside the archive, removed however the backup ends.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn new(parent: &Path) -> anyhow::Result<Staging> {
        let path = parent.join(format!(".backup-{}", crate::auth::random_secret(12)));
        crate::store::create_private_dir(&path)?;
        Ok(Staging { path })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A new file only the owner can read, whatever the umask.
fn private_file(path: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// What a restore put back.
#[derive(Debug)]
pub struct Restored {
    pub created_at: DateTime<Utc>,
    pub database: String,
    pub files: usize,
}

/// Puts a backup back into the configured data directory, media directory and (for a
/// SQLite backup) database. The appliance must be stopped. An existing database is kept
/// beside the restored one (`….before-restore-<time>`) and replaced only with `force`.
pub fn restore(config: &Config, from: &Path, force: bool) -> anyhow::Result<Restored> {
    let file = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = archive.entries()?;
    let manifest: Manifest = {
        let mut first = entries
            .next()
            .context("the archive is empty")?
            .context("reading the archive")?;
        if first.path()?.as_ref() != Path::new(MANIFEST) {
            bail!("{} is not a SecurityVision backup", from.display());
        }
        let mut text = String::new();
        first.read_to_string(&mut text)?;
        serde_json::from_str(&text).context("reading the backup's manifest")?
    };
    if manifest.format > FORMAT {
        bail!(
            "this backup was written by version {} in a later format; restore it with that version",
            manifest.version
        );
    }
    let database_path = sqlite_path(config);
    if manifest.database == "sqlite" && database_path.is_none() {
        bail!("this backup holds a SQLite database, but database.url points at PostgreSQL");
    }
    if let Some(db) = database_path.as_deref().filter(|db| db.exists()) {
        if !force {
            bail!(
                "{} already exists; stop the appliance and add --force to replace it (the old one is kept beside it)",
                db.display()
            );
        }
        let aside = db.with_extension(format!(
            "db.before-restore-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::rename(db, &aside).with_context(|| format!("moving {} aside", db.display()))?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    crate::store::create_private_dir(&config.data_dir)?;
    let media = config.media_root();
    let mut files = 0;
    for entry in entries {
        let mut entry = entry.context("reading the archive")?;
        let path = entry.path()?.into_owned();
        if !path.components().all(|c| matches!(c, Component::Normal(_))) {
            bail!("the archive has an unsafe path: {}", path.display());
        }
        let target = if path == Path::new(DATABASE_ENTRY) {
            match &database_path {
                Some(db) => db.clone(),
                None => continue,
            }
        } else if let Ok(rest) = path.strip_prefix(DATA_PREFIX) {
            config.data_dir.join(rest)
        } else if let Ok(rest) = path.strip_prefix(MEDIA_PREFIX) {
            media.join(rest)
        } else {
            continue;
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => crate::store::create_private_dir(&target)?,
            tar::EntryType::Regular => {
                if let Some(parent) = target.parent() {
                    crate::store::create_private_dir(parent)?;
                }
                let _ = std::fs::remove_file(&target);
                let mut out = private_file(&target)?;
                std::io::copy(&mut entry, &mut out)?;
                out.sync_all()?;
                files += 1;
            }
            // Links and devices are never written by a backup.
            _ => bail!("the archive has an unexpected entry: {}", path.display()),
        }
    }
    Ok(Restored {
        created_at: manifest.created_at,
        database: manifest.database,
        files,
    })
}

/// The SQLite database file of this configuration, if it uses SQLite on a file: read as
/// the connection reads it (`sqlite:` or `sqlite://`, a relative path, `%`-escapes, options
/// after `?`).
pub(crate) fn sqlite_path(config: &Config) -> Option<PathBuf> {
    use std::str::FromStr;
    let url = config.database_url();
    if DatabaseKind::of(&url) != Some(DatabaseKind::Sqlite) {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).ok()?;
    let file = options.get_filename();
    // `sqlite::memory:` names no file (sqlx gives it a `file:` URI of its own).
    let in_memory = file.to_str().is_some_and(|f| f.starts_with("file:"));
    (!in_memory).then(|| file.to_path_buf())
}

/// Keeps the newest `keep` archives in `dir` whose names start with `label`.
fn prune(dir: &Path, label: &str, keep: usize) -> anyhow::Result<()> {
    let prefix = format!("{ARCHIVE_PREFIX}{label}");
    let mut archives: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(ARCHIVE_SUFFIX))
        })
        .collect();
    // The names carry the time: sorted by name is sorted by age.
    archives.sort();
    let surplus = archives.len().saturating_sub(keep);
    for old in &archives[..surplus] {
        std::fs::remove_file(old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(())
}

/// Scheduled backups: every day at `backup.schedule` (HH:MM in the site's time zone), the
/// newest `backup.keep` kept. A failed backup is logged and retried the next day.
pub async fn run_schedule(config: std::sync::Arc<Config>, store: Store, stop: CancellationToken) {
    let Some(at) = config.backup.schedule_time() else {
        return;
    };
    let time_zone: chrono_tz::Tz = config.site.time_zone.parse().unwrap_or(chrono_tz::UTC);
    loop {
        let wait = until_next(Utc::now(), at, time_zone);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        let dir = backup_dir(&config);
        let to = archive_path(&dir, "daily-");
        match write(&config, &store, &to).await {
            Ok(written) => {
                tracing::info!(file = %written.path.display(), bytes = written.bytes, "scheduled backup written");
                if let Err(err) = prune(&dir, "daily-", config.backup.keep as usize) {
                    tracing::warn!(error = %err, "pruning old backups failed");
                }
            }
            Err(err) => tracing::error!(error = %format!("{err:#}"), "scheduled backup failed"),
        }
    }
}

/// How long from `now` until the next `at` o'clock in `zone` (a day when a daylight-saving
/// change skips it: the next valid one).
fn until_next(now: DateTime<Utc>, at: chrono::NaiveTime, zone: chrono_tz::Tz) -> Duration {
    use chrono::TimeZone;
    let local = now.with_timezone(&zone).date_naive();
    (0..3)
        .filter_map(|days| {
            let date = local + chrono::Days::new(days);
            zone.from_local_datetime(&date.and_time(at)).earliest()
        })
        .map(|next| next.with_timezone(&Utc))
        .find(|next| *next > now)
        .and_then(|next| (next - now).to_std().ok())
        .unwrap_or(Duration::from_secs(24 * 3600))
}

/// Whether migrating `store`, whose migrations stand as `migrations` says, takes a backup
/// first: a SQLite database with data (some migrations applied) and a schema change to come.
pub fn needed_before_migrating(store: &Store, migrations: &[MigrationState]) -> bool {
    let pending = migrations.iter().any(|m| !m.applied);
    let applied = migrations.iter().any(|m| m.applied);
    store.kind() == DatabaseKind::Sqlite && pending && applied
}

/// Before `serve` migrates a SQLite database that already has data to a newer schema: a
/// backup in the backup directory, so that an upgrade can be undone. `migrations` is the
/// store's `migration_status`.
pub async fn before_migrating(
    config: &Config,
    store: &Store,
    migrations: &[MigrationState],
) -> anyhow::Result<Option<Written>> {
    if !needed_before_migrating(store, migrations) {
        return Ok(None);
    }
    let dir = backup_dir(config);
    let written = write(config, store, &archive_path(&dir, "pre-migrate-")).await?;
    prune(&dir, "pre-migrate-", config.backup.keep as usize)?;
    Ok(Some(written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    #[test]
    fn the_sqlite_file_is_read_from_the_url_as_the_connection_reads_it() {
        let file = |url: &str| {
            let mut config = Config::default();
            config.database.url = Some(url.into());
            sqlite_path(&config)
        };
        let path = |p: &str| Some(PathBuf::from(p));
        assert_eq!(
            file("sqlite:///var/lib/sv/sv.db?mode=rwc"),
            path("/var/lib/sv/sv.db")
        );
        assert_eq!(file("sqlite:site.db"), path("site.db"));
        assert_eq!(file("sqlite://data/my%20site.db"), path("data/my site.db"));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("postgres://sv@localhost/sv"), None);
    }

    #[test]
    fn the_next_run_is_today_or_tomorrow_in_the_site_time_zone() {
        let at = NaiveTime::from_hms_opt(3, 30, 0).unwrap();
        let now = "2026-12-01T02:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            until_next(now, at, chrono_tz::UTC),
            Duration::from_secs(90 * 60)
        );
        let later = "2026-12-01T04:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            until_next(later, at, chrono_tz::UTC),
            Duration::from_secs(23 * 3600 + 30 * 60)
        );
        // São Paulo is UTC-3: 03:30 there is 06:30 UTC.
        let zone: chrono_tz::Tz = "America/Sao_Paulo".parse().unwrap();
        assert_eq!(
            until_next(now, at, zone),
            Duration::from_secs(4 * 3600 + 30 * 60)
        );
    }

    #[test]
    fn pruning_keeps_the_newest_of_one_label() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "securityvision-daily-20261101T000000Z.tar.gz",
            "securityvision-daily-20261102T000000Z.tar.gz",
            "securityvision-daily-20261103T000000Z.tar.gz",
            "securityvision-pre-migrate-20261101T000000Z.tar.gz",
            "securityvision-20261101T000000Z.tar.gz",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        prune(dir.path(), "daily-", 2).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "securityvision-20261101T000000Z.tar.gz",
                "securityvision-daily-20261102T000000Z.tar.gz",
                "securityvision-daily-20261103T000000Z.tar.gz",
                "securityvision-pre-migrate-20261101T000000Z.tar.gz",
            ]
        );
    }
}
