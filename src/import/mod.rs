//! `import-legacy`: moves a site from the original (Python) backend. Reads its PostgreSQL
//! database in one repeatable-read, read-only transaction and writes ours in one
//! transaction, so that a dry run, a refusal or any error leaves the target as it was.
//! Every row is counted (read, written, already present, skipped); every skipped row and
//! every value changed on the way (a role we do not know, a position in pixels, a MAC in
//! another spelling that collides) is reported with its reason.

mod rules;
mod source;
mod tables;
mod target;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::secrets::SecretBox;
use crate::store::{Store, redact_url};
use source::Source;
use target::Target;

/// Which collection logs (raw detections) to bring along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readings {
    All,
    Since(DateTime<Utc>),
}

impl std::str::FromStr for Readings {
    type Err = String;

    /// `all`, or `since=<date>` (`2025-01-31` or an RFC 3339 time).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "all" {
            return Ok(Readings::All);
        }
        let Some(when) = s.strip_prefix("since=") else {
            return Err("expected `all` or `since=<date or RFC 3339 time>`".to_string());
        };
        if let Ok(time) = DateTime::parse_from_rfc3339(when) {
            return Ok(Readings::Since(time.with_timezone(&Utc)));
        }
        NaiveDate::parse_from_str(when, "%Y-%m-%d")
            .map(|day| Readings::Since(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()))
            .map_err(|_| format!("{when:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"))
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    /// The original's database URL (postgres://…).
    pub from: String,
    /// The original's media directory (its MEDIA_ROOT).
    pub media_dir: Option<PathBuf>,
    pub dry_run: bool,
    pub merge: bool,
    pub readings: Option<Readings>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub read: u64,
    pub written: u64,
    /// Found in the target already (`--merge`).
    pub present: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowNote {
    pub table: String,
    /// The row's id in the original (a link table's: both ids).
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub dry_run: bool,
    pub merge: bool,
    /// Whether the rows were kept (false on a dry run).
    pub committed: bool,
    /// Whether imported rows kept the original's ids (the target was empty).
    pub ids_kept: bool,
    pub tables: Vec<TableCount>,
    /// Floor-plan images and incident files found and checked (copied unless a dry run).
    pub plan_images: u64,
    pub incident_files: u64,
    /// Rows not imported, and why.
    pub skipped: Vec<RowNote>,
    /// Rows imported with a value changed or dropped, and why.
    pub changed: Vec<RowNote>,
}

impl Report {
    pub fn table(&self, name: &str) -> Option<&TableCount> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// The report as an operator reads it.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "Import from {} into {}", self.source, self.target);
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>8} {:>8} {:>8}",
            "table", "read", "written", "present", "skipped"
        );
        for t in &self.tables {
            let _ = writeln!(
                out,
                "{:<28} {:>8} {:>8} {:>8} {:>8}",
                t.table, t.read, t.written, t.present, t.skipped
            );
        }
        let _ = writeln!(
            out,
            "Floor-plan images: {}; incident files: {}",
            self.plan_images, self.incident_files
        );
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nSkipped rows:");
            for n in &self.skipped {
                let _ = writeln!(out, "  {} {}: {}", n.table, n.id, n.reason);
            }
        }
        if !self.changed.is_empty() {
            let _ = writeln!(out, "\nImported with changes:");
            for n in &self.changed {
                let _ = writeln!(out, "  {} {}: {}", n.table, n.id, n.reason);
            }
        }
        let outcome = if self.committed {
            "Committed."
        } else {
            "Dry run: nothing was written."
        };
        let _ = writeln!(
            out,
            "\n{outcome}{}",
            if self.ids_kept && self.committed {
                " Ids kept from the original."
            } else {
                ""
            }
        );
        out
    }
}

/// The tables we write, in the order their references need; a non-empty one makes the
/// target non-empty.
const TARGET_TABLES: &[&str] = &[
    "users",
    "buildings",
    "floors",
    "floor_plans",
    "devices",
    "people",
    "tags",
    "person_groups",
    "person_group_memberships",
    "support_groups",
    "support_group_members",
    "camera_groups",
    "camera_group_devices",
    "device_topics",
    "device_events",
    "collection_logs",
    "alert_rules",
    "incident_rules",
    "incidents",
    "incident_assignees",
    "incident_messages",
    "incident_attachments",
    "alert_events",
    "webhook_subscriptions",
];

/// The original's tables this appliance has no counterpart for (spec §12.2).
const NOT_IMPORTED: &[(&str, &str)] = &[
    (
        "locations",
        "locations have no counterpart here (zones on floor plans replace them)",
    ),
    ("location_floors", "locations have no counterpart here"),
    ("location_rules", "locations have no counterpart here"),
    (
        "device_users",
        "access-control identities have no counterpart here",
    ),
    (
        "presence_daily_usage",
        "daily usage is recomputed from presence sessions here",
    ),
];

/// A mapped id: where the original's row went.
type IdMap = HashMap<i64, i64>;

pub(crate) struct Import<'a> {
    config: &'a Config,
    options: &'a Options,
    source: Source,
    target: Target,
    secrets: SecretBox,
    keep_ids: bool,
    ids: HashMap<&'static str, IdMap>,
    report: Report,
    /// Files copied into our media directory, removed again if nothing is committed.
    copied: Vec<PathBuf>,
    /// The original's plans: their floor and size (positions are converted with it).
    plans: HashMap<i64, (i64, Option<(f64, f64)>)>,
    /// The original's floors: their building.
    floor_building: HashMap<i64, i64>,
    /// Plan images and incident files checked (and, unless a dry run, copied).
    images: u64,
    files: u64,
    /// The bytes of the files copied for each incident (ours), against its quota.
    incident_bytes: HashMap<i64, u64>,
    /// Changes noted for the row being mapped, reported once it is written.
    pending: Vec<RowNote>,
}

/// Runs the import and returns its report. Refuses a non-empty target unless merging.
pub async fn run(config: &Config, options: &Options) -> anyhow::Result<Report> {
    let store = crate::bootstrap::open_store(config).await?;
    let result = import_into(config, options, &store).await;
    store.close().await;
    result
}

async fn import_into(config: &Config, options: &Options, store: &Store) -> anyhow::Result<Report> {
    // The source first: a mistyped URL changes nothing here.
    let source = Source::open(&options.from).await.with_context(|| {
        format!(
            "opening the original database {}",
            redact_url(&options.from)
        )
    })?;
    store
        .migrate()
        .await
        .context("bringing the target's schema up to date")?;
    // With `--merge` the target may already hold values sealed with its key: the same
    // check as at start, so that imported secrets are sealed with the key that opens them.
    let secrets = SecretBox::load(&config.data_dir, &store.sealed_secrets().await?)?;
    let mut target = Target::begin(store).await?;
    let mut empty = true;
    for table in TARGET_TABLES {
        if target.has_rows(table).await? {
            empty = false;
            break;
        }
    }
    if !empty && !options.merge {
        target.rollback().await?;
        source.close().await;
        anyhow::bail!(
            "the target database already holds data; import into an empty database (run \
             import-legacy before the first `serve`), or pass --merge to add what is missing"
        );
    }
    let mut import = Import {
        config,
        options,
        source,
        target,
        secrets,
        keep_ids: empty,
        ids: HashMap::new(),
        report: Report {
            source: redact_url(&options.from),
            target: redact_url(&config.database_url()),
            dry_run: options.dry_run,
            merge: options.merge,
            ids_kept: empty,
            ..Report::default()
        },
        copied: Vec::new(),
        plans: HashMap::new(),
        floor_building: HashMap::new(),
        images: 0,
        files: 0,
        incident_bytes: HashMap::new(),
        pending: Vec::new(),
    };
    let outcome = import.all().await;
    let Import {
        source,
        target,
        mut report,
        copied,
        images,
        files,
        ..
    } = import;
    report.plan_images = images;
    report.incident_files = files;
    source.close().await;
    let commit = outcome.is_ok() && !options.dry_run;
    let finished = if commit {
        target.commit().await.map_err(anyhow::Error::from)
    } else {
        target.rollback().await.map_err(anyhow::Error::from)
    };
    if !(commit && finished.is_ok()) {
        for file in &copied {
            let _ = tokio::fs::remove_file(file).await;
        }
    }
    outcome?;
    finished?;
    if commit {
        // Readings imported with their own ids may sit before the watermark of SQLite's
        // tag and gateway indexes (migrations 0024, 0025).
        store
            .complete_reading_indexes()
            .await
            .context("indexing the imported readings by tag and gateway")?;
    }
    report.committed = commit;
    Ok(report)
}

impl Import<'_> {
    async fn all(&mut self) -> anyhow::Result<()> {
        self.users().await.context("users")?;
        self.buildings().await.context("buildings")?;
        self.floors().await.context("floors")?;
        self.floor_plans().await.context("floor plans")?;
        self.devices().await.context("devices")?;
        self.people().await.context("people")?;
        self.tags().await.context("tags")?;
        self.person_groups().await.context("person groups")?;
        self.support_groups().await.context("support groups")?;
        self.camera_groups().await.context("camera groups")?;
        self.device_topics().await.context("device topics")?;
        self.device_events().await.context("device events")?;
        self.collection_logs().await.context("collection logs")?;
        self.alert_rules().await.context("alert rules")?;
        self.incident_rules().await.context("incident rules")?;
        self.incidents().await.context("incidents")?;
        self.incident_messages()
            .await
            .context("incident messages")?;
        self.incident_attachments()
            .await
            .context("incident attachments")?;
        self.alert_events().await.context("alert events")?;
        self.webhook_subscriptions()
            .await
            .context("webhook subscriptions")?;
        for (table, reason) in NOT_IMPORTED {
            let read = self.source.count(table).await?;
            if read > 0 {
                let count = self.count(table);
                count.read = read as u64;
                count.skipped = read as u64;
                self.report.skipped.push(RowNote {
                    table: table.to_string(),
                    id: "all".to_string(),
                    reason: reason.to_string(),
                });
            }
        }
        let written: serde_json::Map<String, serde_json::Value> = self
            .report
            .tables
            .iter()
            .filter(|t| t.written > 0)
            .map(|t| (t.table.clone(), t.written.into()))
            .collect();
        if !written.is_empty() {
            // Who brought these rows in, and from where (the password redacted).
            let details = serde_json::json!({
                "source": self.report.source,
                "merge": self.options.merge,
                "written": written,
            });
            let entry: target::Columns = vec![
                ("occurred_at", crate::store::now().into()),
                ("user_id", target::Value::Int(None)),
                ("action", "import".into()),
                ("entity", "site".into()),
                ("entity_id", target::Value::Int(None)),
                ("details", Some(details).into()),
            ];
            self.target.insert("audit_log", &entry).await?;
        }
        if self.keep_ids {
            for table in TARGET_TABLES.iter().filter(|t| tables::has_id(t)) {
                let handed_out = self.source.last_id_handed_out(table).await.unwrap_or(0);
                self.target.advance_ids(table, handed_out).await?;
            }
        }
        Ok(())
    }

    fn count(&mut self, table: &str) -> &mut TableCount {
        if let Some(i) = self.report.tables.iter().position(|t| t.table == table) {
            return &mut self.report.tables[i];
        }
        self.report.tables.push(TableCount {
            table: table.to_string(),
            ..TableCount::default()
        });
        self.report.tables.last_mut().expect("just pushed")
    }

    /// Counts a row read and not imported, with the reason.
    fn skip(&mut self, table: &str, id: impl ToString, reason: impl Into<String>) {
        self.pending.clear();
        let count = self.count(table);
        count.read += 1;
        count.skipped += 1;
        self.report.skipped.push(RowNote {
            table: table.to_string(),
            id: id.to_string(),
            reason: reason.into(),
        });
    }

    /// Notes a change to the row about to be written (dropped if it is not written).
    fn changed(&mut self, table: &str, id: impl ToString, reason: impl Into<String>) {
        self.pending.push(RowNote {
            table: table.to_string(),
            id: id.to_string(),
            reason: reason.into(),
        });
    }

    /// Notes a change to a row already written.
    fn changed_now(&mut self, table: &str, id: impl ToString, reason: impl Into<String>) {
        self.report.changed.push(RowNote {
            table: table.to_string(),
            id: id.to_string(),
            reason: reason.into(),
        });
    }

    /// Where the original's row `id` of `table` went, if it was imported.
    fn mapped(&self, table: &str, id: Option<i64>) -> Option<i64> {
        self.ids.get(table)?.get(&id?).copied()
    }

    /// A nullable reference: mapped, or cleared with a note when its row was not imported.
    fn reference(
        &mut self,
        (table, id): (&str, i64),
        column: &str,
        to: &'static str,
        value: Option<i64>,
    ) -> Option<i64> {
        let mapped = self.mapped(to, value);
        if let (Some(v), None) = (value, mapped) {
            self.changed(
                table,
                id,
                format!("{column} {v}: no such row in {to} (or not imported): cleared"),
            );
        }
        mapped
    }

    /// Writes one row, or with `--merge` finds it by `key` first. Returns our id and
    /// whether it was written now.
    async fn put(
        &mut self,
        table: &'static str,
        id: i64,
        key: target::Columns,
        mut columns: target::Columns,
    ) -> anyhow::Result<(i64, bool)> {
        self.count(table).read += 1;
        if self.options.merge
            && let Some(ours) = self.target.find(table, &key).await?
        {
            self.pending.clear();
            self.count(table).present += 1;
            self.ids.entry(table).or_default().insert(id, ours);
            return Ok((ours, false));
        }
        if self.keep_ids {
            columns.insert(0, ("id", id.into()));
        }
        let ours = self
            .target
            .insert(table, &columns)
            .await
            .with_context(|| format!("writing {table} {id}"))?;
        self.count(table).written += 1;
        self.report.changed.append(&mut self.pending);
        self.ids.entry(table).or_default().insert(id, ours);
        Ok((ours, true))
    }

    /// Writes one row of a link table whose two ends are `(table, original id)`.
    async fn put_link(
        &mut self,
        table: &'static str,
        ends: [(&'static str, &'static str, Option<i64>); 2],
    ) -> anyhow::Result<()> {
        let label = ends
            .iter()
            .map(|(_, to, v)| format!("{to} {}", v.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" / ");
        let mut columns = target::Columns::new();
        for (column, to, value) in ends {
            match self.mapped(to, value) {
                Some(ours) => columns.push((column, ours.into())),
                None => {
                    self.skip(
                        table,
                        &label,
                        format!("{column} {}: not imported", value.unwrap_or_default()),
                    );
                    return Ok(());
                }
            }
        }
        self.count(table).read += 1;
        if self.target.link(table, &columns).await? {
            self.count(table).written += 1;
        } else {
            self.count(table).present += 1;
        }
        Ok(())
    }
}
