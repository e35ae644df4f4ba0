//! One method per table of the original: read its rows, map each to ours (or skip it,
//! with the reason), and write it. The merge key of each table is what `--merge` matches
//! on: MAC addresses, codes, e-mails, names, and for history (incidents, events) the
//! original's own timestamps, which the import keeps.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;

use super::rules;
use super::source::{Pages, boolean, int, json, real, text, time};
use super::target::{Columns, Value};
use super::{Import, Readings};

/// Collection logs are read and written in batches of this many rows.
const READINGS_BATCH: i64 = 2_000;

/// Whether `table` has an `id` column (link tables do not).
pub(super) fn has_id(table: &str) -> bool {
    !matches!(
        table,
        "person_group_memberships"
            | "support_group_members"
            | "camera_group_devices"
            | "incident_assignees"
    )
}

fn id(row: &PgRow) -> anyhow::Result<i64> {
    int(row, "id")?.context("a row without an id")
}

/// A NOT NULL timestamp; a NULL one (a hand-edited database) becomes the import's time.
fn at(row: &PgRow, col: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(time(row, col)?.unwrap_or_else(crate::store::now))
}

/// Trimmed text, NULL when empty.
fn clean(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn required(row: &PgRow, col: &str) -> anyhow::Result<String> {
    Ok(text(row, col)?.unwrap_or_default())
}

impl Import<'_> {
    /// Copies the link table `table` between the rows its two columns refer to, each
    /// given as (column, table it refers to).
    async fn copy_links(
        &mut self,
        table: &'static str,
        a: (&'static str, &'static str),
        b: (&'static str, &'static str),
    ) -> anyhow::Result<()> {
        let order = format!("{}, {}", a.0, b.0);
        for row in self.source.links(table, &order).await? {
            let ends = [(a.0, a.1, int(&row, a.0)?), (b.0, b.1, int(&row, b.0)?)];
            self.put_link(table, ends).await?;
        }
        Ok(())
    }

    pub(super) async fn users(&mut self) -> anyhow::Result<()> {
        const T: &str = "users";
        let mut emails: HashMap<String, i64> = HashMap::new();
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let raw = required(&row, "email")?;
            let Some(email) = crate::auth::normalize_email(&raw) else {
                self.skip(T, id, format!("e-mail {raw:?} is not an e-mail address"));
                continue;
            };
            if let Some(first) = emails.get(&email) {
                let reason = format!("same e-mail as user {first} once lower-cased ({email})");
                self.skip(T, id, reason);
                continue;
            }
            emails.insert(email.clone(), id);
            let (role, role_note) = rules::role(&required(&row, "role")?);
            if let Some(note) = role_note {
                self.changed(T, id, note);
            }
            let hash = required(&row, "hashed_password")?;
            if !["$bcrypt-sha256$", "$2", "$argon2"]
                .iter()
                .any(|p| hash.starts_with(p))
            {
                self.changed(
                    T,
                    id,
                    "password hash format not recognised: an administrator must set a new password",
                );
            }
            let created = at(&row, "created_at")?;
            let columns: Columns = vec![
                ("email", email.clone().into()),
                ("full_name", required(&row, "full_name")?.into()),
                ("hashed_password", hash.into()),
                ("role", role.into()),
                (
                    "is_active",
                    boolean(&row, "is_active")?.unwrap_or(true).into(),
                ),
                (
                    "is_superuser",
                    boolean(&row, "is_superuser")?.unwrap_or(false).into(),
                ),
                ("chatwoot_agent_id", int(&row, "chatwoot_agent_id")?.into()),
                ("must_change_password", false.into()),
                ("created_at", created.into()),
                (
                    "updated_at",
                    time(&row, "updated_at")?.unwrap_or(created).into(),
                ),
            ];
            self.put(T, id, vec![("email", email.into())], columns)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn buildings(&mut self) -> anyhow::Result<()> {
        const T: &str = "buildings";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let code = required(&row, "code")?;
            let columns: Columns = vec![
                ("name", required(&row, "name")?.into()),
                ("code", code.clone().into()),
                ("description", text(&row, "description")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            self.put(T, id, vec![("code", code.into())], columns)
                .await?;
        }
        Ok(())
    }

    pub(super) async fn floors(&mut self) -> anyhow::Result<()> {
        const T: &str = "floors";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let building = int(&row, "building_id")?;
            let Some(building_id) = self.mapped("buildings", building) else {
                let reason = format!("building {} not imported", building.unwrap_or_default());
                self.skip(T, id, reason);
                continue;
            };
            let name = required(&row, "name")?;
            self.floor_building.insert(id, building.unwrap_or_default());
            let columns: Columns = vec![
                ("building_id", building_id.into()),
                ("name", name.clone().into()),
                ("level", int(&row, "level")?.into()),
                ("description", text(&row, "description")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![("building_id", building_id.into()), ("name", name.into())];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn floor_plans(&mut self) -> anyhow::Result<()> {
        const T: &str = "floor_plans";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let floor = int(&row, "floor_id")?;
            let Some(floor_id) = self.mapped("floors", floor) else {
                let reason = format!("floor {} not imported", floor.unwrap_or_default());
                self.skip(T, id, reason);
                continue;
            };
            let name = required(&row, "name")?;
            let (width, height) = (real(&row, "width")?, real(&row, "height")?);
            self.plans
                .insert(id, (floor.unwrap_or_default(), width.zip(height)));
            let columns: Columns = vec![
                ("floor_id", floor_id.into()),
                ("name", name.clone().into()),
                ("image_url", Value::Text(None)),
                ("width", width.into()),
                ("height", height.into()),
                ("description", text(&row, "description")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![("floor_id", floor_id.into()), ("name", name.into())];
            let (ours, written) = self.put(T, id, key, columns).await?;
            if let (true, Some(url)) = (written, clean(text(&row, "image_url")?)) {
                self.plan_image(id, ours, &url, width.zip(height)).await?;
            }
        }
        Ok(())
    }

    /// Copies a plan's image from the original's media directory, re-checked (type from
    /// the bytes, dimensions read); a plan without its image is imported all the same.
    async fn plan_image(
        &mut self,
        id: i64,
        ours: i64,
        url: &str,
        size: Option<(f64, f64)>,
    ) -> anyhow::Result<()> {
        const T: &str = "floor_plans";
        let Some(media_dir) = self.options.media_dir.clone() else {
            self.changed_now(T, id, format!("image {url} not copied (no --media-dir)"));
            return Ok(());
        };
        let Some(file) = rules::media_file(&media_dir, url) else {
            let reason = format!(
                "image {url} not found in {}: imported without an image",
                media_dir.display()
            );
            self.changed_now(T, id, reason);
            return Ok(());
        };
        let bytes = tokio::fs::read(&file)
            .await
            .with_context(|| format!("reading {}", file.display()))?;
        let (width, height) = match crate::media::inspect_floor_plan_image(&bytes) {
            Ok((_, w, h)) => (w as f64, h as f64),
            Err(err) => {
                let reason = format!("image {}: {err}: imported without an image", file.display());
                self.changed_now(T, id, reason);
                return Ok(());
            }
        };
        let mut columns: Columns = Vec::new();
        if size.is_none() {
            columns.push(("width", Some(width).into()));
            columns.push(("height", Some(height).into()));
        }
        if !self.options.dry_run {
            let stored = crate::media::store_floor_plan_image(self.config, ours, &bytes)
                .await
                .with_context(|| format!("copying {}", file.display()))?;
            if let Some(path) = crate::media::media_path(self.config, &stored.url) {
                self.copied.push(path);
            }
            columns.push(("image_url", stored.url.into()));
        }
        if !columns.is_empty() {
            self.target.update(T, ours, &columns).await?;
        }
        self.images += 1;
        Ok(())
    }

    pub(super) async fn devices(&mut self) -> anyhow::Result<()> {
        const T: &str = "devices";
        let mut macs: HashMap<String, i64> = HashMap::new();
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let raw_type = required(&row, "type")?;
            let Some(kind) = rules::known(&raw_type, rules::DEVICE_TYPES) else {
                let reason =
                    format!("type {raw_type:?} is not BLE_GATEWAY, CAMERA or ACCESS_CONTROLLER");
                self.skip(T, id, reason);
                continue;
            };
            let mac = match clean(text(&row, "mac_address")?) {
                None => None,
                Some(raw) => match crate::mac::canonical(&raw) {
                    None => {
                        self.changed(T, id, format!("MAC {raw:?} is not a MAC address: dropped"));
                        None
                    }
                    Some(mac) => match macs.get(mac.as_str()) {
                        Some(first) => {
                            let reason = format!(
                                "MAC {raw:?} is device {first}'s once canonicalised ({mac}): dropped"
                            );
                            self.changed(T, id, reason);
                            None
                        }
                        None => {
                            macs.insert(mac.as_str().to_string(), id);
                            Some(mac.as_str().to_string())
                        }
                    },
                },
            };
            // The plan decides the floor and building, as the API keeps them.
            let plan = int(&row, "floor_plan_id")?;
            let plan_id = self.reference((T, id), "floor_plan_id", "floor_plans", plan);
            let facts = plan.and_then(|p| self.plans.get(&p).copied());
            let (mut floor, mut building) = (int(&row, "floor_id")?, int(&row, "building_id")?);
            if let (Some(_), Some((plan_floor, _))) = (plan_id, facts) {
                floor = Some(plan_floor);
                building = self.floor_building.get(&plan_floor).copied();
            } else if let Some(b) = floor.and_then(|f| self.floor_building.get(&f)) {
                building = Some(*b);
            }
            let floor_id = self.reference((T, id), "floor_id", "floors", floor);
            let building_id = self.reference((T, id), "building_id", "buildings", building);
            let (position, note) = rules::plan_fraction(
                real(&row, "pos_x")?,
                real(&row, "pos_y")?,
                plan_id.is_some(),
                facts.and_then(|(_, size)| size),
            );
            if let Some(note) = note {
                self.changed(T, id, note);
            }
            // A list of analytic names, as the API reads it back.
            let analytics = match json(&row, "analytics")? {
                Some(serde_json::Value::Null) | None => None,
                Some(list)
                    if list
                        .as_array()
                        .is_some_and(|a| a.iter().all(serde_json::Value::is_string)) =>
                {
                    Some(list)
                }
                Some(other) => {
                    let reason = format!("analytics {other} is not a list of names: dropped");
                    self.changed(T, id, reason);
                    None
                }
            };
            let password = clean(text(&row, "password")?).map(|p| self.secrets.seal(&p));
            let code = clean(text(&row, "code")?);
            let columns: Columns = vec![
                ("floor_plan_id", plan_id.into()),
                ("building_id", building_id.into()),
                ("floor_id", floor_id.into()),
                ("name", required(&row, "name")?.into()),
                ("code", code.clone().into()),
                ("type", kind.clone().into()),
                ("mac_address", mac.clone().into()),
                ("description", text(&row, "description")?.into()),
                ("pos_x", position.map(|p| p.0).into()),
                ("pos_y", position.map(|p| p.1).into()),
                ("ip_address", text(&row, "ip_address")?.into()),
                ("port", int(&row, "port")?.into()),
                ("username", text(&row, "username")?.into()),
                ("password_encrypted", password.into()),
                ("manufacturer", text(&row, "manufacturer")?.into()),
                ("model", text(&row, "model")?.into()),
                ("shard", text(&row, "shard")?.into()),
                ("analytics", analytics.into()),
                ("rtsp_url", text(&row, "rtsp_url")?.into()),
                ("proxy_path", text(&row, "proxy_path")?.into()),
                ("central_path", text(&row, "central_path")?.into()),
                (
                    "record_retention_minutes",
                    int(&row, "record_retention_minutes")?.into(),
                ),
                (
                    "central_media_mtx_ip",
                    text(&row, "central_media_mtx_ip")?.into(),
                ),
                ("last_seen_at", time(&row, "last_seen_at")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            // A device is the one with its MAC, else the one with its code; two different
            // ones would be a contradiction to resolve by hand.
            if self.options.merge {
                let by_mac = match &mac {
                    Some(m) => {
                        self.target
                            .find(T, &vec![("mac_address", m.clone().into())])
                            .await?
                    }
                    None => None,
                };
                let by_code = match &code {
                    Some(c) => {
                        self.target
                            .find(T, &vec![("code", c.clone().into())])
                            .await?
                    }
                    None => None,
                };
                if let (Some(a), Some(b)) = (by_mac, by_code)
                    && a != b
                {
                    let reason = format!("its MAC is device {a}'s here and its code device {b}'s");
                    self.skip(T, id, reason);
                    continue;
                }
                let key: Columns = match (by_mac, &mac, &code) {
                    (Some(_), Some(m), _) => vec![("mac_address", m.clone().into())],
                    (None, _, Some(c)) => vec![("code", c.clone().into())],
                    (None, Some(m), None) => vec![("mac_address", m.clone().into())],
                    _ => vec![
                        ("name", required(&row, "name")?.into()),
                        ("type", kind.clone().into()),
                    ],
                };
                self.put(T, id, key, columns).await?;
            } else {
                self.put(T, id, Vec::new(), columns).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn people(&mut self) -> anyhow::Result<()> {
        const T: &str = "people";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let name = required(&row, "full_name")?;
            let document = clean(text(&row, "document_id")?);
            let email = match clean(text(&row, "email")?) {
                Some(raw) => match crate::auth::normalize_email(&raw) {
                    Some(email) => Some(email),
                    None => {
                        self.changed(
                            T,
                            id,
                            format!("e-mail {raw:?} is not an e-mail address: dropped"),
                        );
                        None
                    }
                },
                None => None,
            };
            let columns: Columns = vec![
                ("full_name", name.clone().into()),
                ("document_id", document.clone().into()),
                ("email", email.clone().into()),
                ("phone", text(&row, "phone")?.into()),
                ("user_type", int(&row, "user_type")?.into()),
                ("active", boolean(&row, "active")?.unwrap_or(true).into()),
                ("notes", text(&row, "notes")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key: Columns = match email {
                Some(email) => vec![("email", email.into())],
                None => vec![("full_name", name.into()), ("document_id", document.into())],
            };
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn tags(&mut self) -> anyhow::Result<()> {
        const T: &str = "tags";
        let mut macs: HashMap<String, i64> = HashMap::new();
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let raw = required(&row, "mac_address")?;
            let Some(mac) = crate::mac::canonical(&raw) else {
                self.skip(T, id, format!("MAC {raw:?} is not a MAC address"));
                continue;
            };
            if let Some(first) = macs.get(mac.as_str()) {
                let reason =
                    format!("MAC {raw:?} is tag {first}'s once canonicalised ({mac}): not merged");
                self.skip(T, id, reason);
                continue;
            }
            macs.insert(mac.as_str().to_string(), id);
            let person = int(&row, "person_id")?;
            let person_id = self.reference((T, id), "person_id", "people", person);
            let columns: Columns = vec![
                ("mac_address", mac.as_str().into()),
                ("label", text(&row, "label")?.into()),
                ("person_id", person_id.into()),
                ("active", boolean(&row, "active")?.unwrap_or(true).into()),
                ("notes", text(&row, "notes")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![("mac_address", mac.as_str().into())];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn person_groups(&mut self) -> anyhow::Result<()> {
        const T: &str = "person_groups";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let name = required(&row, "name")?;
            let columns: Columns = vec![
                ("name", name.clone().into()),
                ("description", text(&row, "description")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            self.put(T, id, vec![("name", name.into())], columns)
                .await?;
        }
        self.copy_links(
            "person_group_memberships",
            ("group_id", "person_groups"),
            ("person_id", "people"),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn support_groups(&mut self) -> anyhow::Result<()> {
        const T: &str = "support_groups";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let name = required(&row, "name")?;
            // The original kept no timestamps for support groups.
            let now = crate::store::now();
            let columns: Columns = vec![
                ("name", name.clone().into()),
                ("description", text(&row, "description")?.into()),
                (
                    "is_active",
                    boolean(&row, "is_active")?.unwrap_or(true).into(),
                ),
                (
                    "chatwoot_inbox_identifier",
                    text(&row, "chatwoot_inbox_identifier")?.into(),
                ),
                ("chatwoot_team_id", int(&row, "chatwoot_team_id")?.into()),
                (
                    "default_sla_minutes",
                    int(&row, "default_sla_minutes")?.into(),
                ),
                ("created_at", now.into()),
                ("updated_at", now.into()),
            ];
            self.put(T, id, vec![("name", name.into())], columns)
                .await?;
        }
        self.copy_links(
            "support_group_members",
            ("group_id", "support_groups"),
            ("user_id", "users"),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn camera_groups(&mut self) -> anyhow::Result<()> {
        const T: &str = "camera_groups";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let name = required(&row, "name")?;
            let columns: Columns = vec![
                ("name", name.clone().into()),
                ("description", text(&row, "description")?.into()),
                ("tenant", text(&row, "tenant")?.into()),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            self.put(T, id, vec![("name", name.into())], columns)
                .await?;
        }
        self.copy_links(
            "camera_group_devices",
            ("camera_group_id", "camera_groups"),
            ("device_id", "devices"),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn device_topics(&mut self) -> anyhow::Result<()> {
        const T: &str = "device_topics";
        let mut seen: HashMap<(i64, String, String), i64> = HashMap::new();
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let device = int(&row, "device_id")?;
            let Some(device_id) = self.mapped("devices", device) else {
                self.skip(
                    T,
                    id,
                    format!("device {} not imported", device.unwrap_or_default()),
                );
                continue;
            };
            let (kind, topic) = (required(&row, "kind")?, required(&row, "topic")?);
            // (device, kind, topic) was the original's logical key, not enforced; ours is.
            if let Some(first) = seen.insert((device_id, kind.clone(), topic.clone()), id) {
                self.skip(
                    T,
                    id,
                    format!("same device, kind and topic as topic {first}"),
                );
                continue;
            }
            let columns: Columns = vec![
                ("device_id", device_id.into()),
                ("kind", kind.clone().into()),
                ("topic", topic.clone().into()),
                ("description", text(&row, "description")?.into()),
                (
                    "is_active",
                    boolean(&row, "is_active")?.unwrap_or(true).into(),
                ),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![
                ("device_id", device_id.into()),
                ("kind", kind.into()),
                ("topic", topic.into()),
            ];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn device_events(&mut self) -> anyhow::Result<()> {
        const T: &str = "device_events";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let device = int(&row, "device_id")?;
            let Some(device_id) = self.mapped("devices", device) else {
                self.skip(
                    T,
                    id,
                    format!("device {} not imported", device.unwrap_or_default()),
                );
                continue;
            };
            let topic = required(&row, "topic")?;
            let analytic = required(&row, "analytic_type")?;
            let occurred = at(&row, "occurred_at")?;
            let columns: Columns = vec![
                ("device_id", device_id.into()),
                ("topic", topic.clone().into()),
                ("analytic_type", analytic.clone().into()),
                (
                    "payload",
                    Some(json(&row, "payload")?.unwrap_or_default()).into(),
                ),
                ("occurred_at", occurred.into()),
                ("created_at", at(&row, "created_at")?.into()),
            ];
            let key = vec![
                ("device_id", device_id.into()),
                ("topic", topic.into()),
                ("analytic_type", analytic.into()),
                ("occurred_at", occurred.into()),
            ];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    /// Raw detections, only with `--readings`, in batches (a site has millions).
    pub(super) async fn collection_logs(&mut self) -> anyhow::Result<()> {
        const T: &str = "collection_logs";
        let since = match self.options.readings {
            None => {
                let read = self.source.count(T).await?;
                if read > 0 {
                    let count = self.count(T);
                    count.read = read as u64;
                    count.skipped = read as u64;
                    self.report.skipped.push(super::RowNote {
                        table: T.to_string(),
                        id: "all".to_string(),
                        reason: "collection logs are imported only with --readings".to_string(),
                    });
                }
                return Ok(());
            }
            Some(Readings::All) => None,
            Some(Readings::Since(when)) => Some(when),
        };
        // A skipped tag may have millions of logs: one note per missing device or tag.
        let mut missing: BTreeMap<String, u64> = BTreeMap::new();
        let mut after = 0;
        loop {
            let batch = self
                .source
                .readings_after(after, since, READINGS_BATCH)
                .await?;
            let Some(last) = batch.last() else {
                break;
            };
            after = id(last)?;
            let mut rows = Vec::with_capacity(batch.len());
            for row in &batch {
                let id = id(row)?;
                let (device, tag) = (int(row, "device_id")?, int(row, "tag_id")?);
                let (device_id, tag_id) =
                    (self.mapped("devices", device), self.mapped("tags", tag));
                let (Some(device_id), Some(tag_id)) = (device_id, tag_id) else {
                    let what = match device_id {
                        None => format!("device {}", device.unwrap_or_default()),
                        Some(_) => format!("tag {}", tag.unwrap_or_default()),
                    };
                    *missing.entry(what).or_default() += 1;
                    let count = self.count(T);
                    count.read += 1;
                    count.skipped += 1;
                    continue;
                };
                let created = at(row, "created_at")?;
                let columns: Columns = vec![
                    ("id", id.into()),
                    ("device_id", device_id.into()),
                    ("tag_id", tag_id.into()),
                    ("rssi", int(row, "rssi")?.into()),
                    ("raw_payload", text(row, "raw_payload")?.into()),
                    ("created_at", created.into()),
                ];
                rows.push(columns);
            }
            if self.keep_ids {
                // Into an empty target the ids are the original's: one statement a batch.
                let written = self.target.insert_rows(T, &rows).await?;
                let count = self.count(T);
                count.read += rows.len() as u64;
                count.written += written;
                continue;
            }
            for mut columns in rows {
                let Value::Int(Some(id)) = columns.remove(0).1 else {
                    unreachable!("the id comes first")
                };
                let key = columns
                    .iter()
                    .filter(|(name, _)| ["device_id", "tag_id", "created_at"].contains(name))
                    .cloned()
                    .collect();
                self.put(T, id, key, columns).await?;
            }
        }
        for (what, logs) in missing {
            self.report.skipped.push(super::RowNote {
                table: T.to_string(),
                id: what.clone(),
                reason: format!("its {logs} log(s) skipped: {what} not imported"),
            });
        }
        Ok(())
    }

    /// A collection log an alert event names: imported with its own id into an empty
    /// target (not kept in memory: there may be millions), else mapped.
    async fn log_reference(
        &mut self,
        at_id: (&str, i64),
        column: &str,
        value: Option<i64>,
    ) -> anyhow::Result<Option<i64>> {
        if !self.keep_ids {
            return Ok(self.reference(at_id, column, "collection_logs", value));
        }
        let Some(v) = value else {
            return Ok(None);
        };
        let found = self
            .target
            .find("collection_logs", &vec![("id", v.into())])
            .await?;
        if found.is_none() {
            let reason =
                format!("{column} {v}: no such row in collection_logs (or not imported): cleared");
            self.changed(at_id.0, at_id.1, reason);
        }
        Ok(found)
    }

    pub(super) async fn alert_rules(&mut self) -> anyhow::Result<()> {
        const T: &str = "alert_rules";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let name = required(&row, "name")?;
            let raw_type = required(&row, "rule_type")?;
            let mut active = boolean(&row, "is_active")?.unwrap_or(true);
            let mut disabled_reason = None;
            let rule_type = match crate::alerts::rules::RuleKind::parse(
                raw_type.trim().to_uppercase().as_str(),
            ) {
                Some(kind) => kind.as_str().to_string(),
                None => {
                    // The original stored such rules and never evaluated them.
                    if active {
                        self.changed(
                            T,
                            id,
                            format!("rule type {raw_type:?} is not known: imported disabled"),
                        );
                    }
                    active = false;
                    disabled_reason =
                        Some(format!("imported: rule type {raw_type:?} is not known"));
                    raw_type.clone()
                }
            };
            let (severity, note) =
                rules::severity("incident_severity", &required(&row, "incident_severity")?);
            if let Some(note) = note {
                self.changed(T, id, note);
            }
            let group =
                self.reference((T, id), "group_id", "person_groups", int(&row, "group_id")?);
            let device = self.reference((T, id), "device_id", "devices", int(&row, "device_id")?);
            let support = int(&row, "incident_assigned_group_id")?;
            let support = self.reference(
                (T, id),
                "incident_assigned_group_id",
                "support_groups",
                support,
            );
            let user = int(&row, "incident_assigned_to_user_id")?;
            let user = self.reference((T, id), "incident_assigned_to_user_id", "users", user);
            let created = at(&row, "created_at")?;
            let columns: Columns = vec![
                ("name", name.clone().into()),
                ("description", text(&row, "description")?.into()),
                ("rule_type", rule_type.into()),
                ("group_id", group.into()),
                ("device_id", device.into()),
                ("max_dwell_seconds", int(&row, "max_dwell_seconds")?.into()),
                ("is_active", active.into()),
                (
                    "create_incident",
                    boolean(&row, "create_incident")?.unwrap_or(false).into(),
                ),
                ("incident_kind", text(&row, "incident_kind")?.into()),
                ("incident_severity", severity.into()),
                (
                    "incident_title_template",
                    text(&row, "incident_title_template")?.into(),
                ),
                (
                    "incident_description_template",
                    text(&row, "incident_description_template")?.into(),
                ),
                (
                    "incident_sla_minutes",
                    int(&row, "incident_sla_minutes")?.into(),
                ),
                ("incident_assigned_group_id", support.into()),
                ("incident_assigned_to_user_id", user.into()),
                (
                    "incident_auto_close_on_end",
                    boolean(&row, "incident_auto_close_on_end")?
                        .unwrap_or(false)
                        .into(),
                ),
                ("disabled_reason", disabled_reason.into()),
                ("created_at", created.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![("name", name.into()), ("created_at", created.into())];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn incident_rules(&mut self) -> anyhow::Result<()> {
        const T: &str = "incident_rules";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let name = required(&row, "name")?;
            let (severity, note) = rules::severity("severity", &required(&row, "severity")?);
            if let Some(note) = note {
                self.changed(T, id, note);
            }
            let device = self.reference((T, id), "device_id", "devices", int(&row, "device_id")?);
            let user = int(&row, "assigned_to_user_id")?;
            let user = self.reference((T, id), "assigned_to_user_id", "users", user);
            let group = int(&row, "camera_group_id")?;
            let camera_group = self.reference((T, id), "camera_group_id", "camera_groups", group);
            let support = int(&row, "assigned_group_id")?;
            let support = self.reference((T, id), "assigned_group_id", "support_groups", support);
            let created = at(&row, "created_at")?;
            let columns: Columns = vec![
                ("name", name.clone().into()),
                ("enabled", boolean(&row, "enabled")?.unwrap_or(true).into()),
                ("analytic_type", text(&row, "analytic_type")?.into()),
                ("device_id", device.into()),
                ("tenant", text(&row, "tenant")?.into()),
                ("severity", severity.into()),
                ("title_template", text(&row, "title_template")?.into()),
                (
                    "description_template",
                    text(&row, "description_template")?.into(),
                ),
                ("assigned_to_user_id", user.into()),
                ("camera_group_id", camera_group.into()),
                ("camera_group_scoped", camera_group.is_some().into()),
                ("assigned_group_id", support.into()),
                ("created_at", created.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![("name", name.into()), ("created_at", created.into())];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn incidents(&mut self) -> anyhow::Result<()> {
        const T: &str = "incidents";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let closed_at = time(&row, "closed_at")?;
            let (status, note) =
                rules::incident_status(&required(&row, "status")?, closed_at.is_some());
            if let Some(note) = note {
                self.changed(T, id, note);
            }
            let (severity, note) = rules::severity("severity", &required(&row, "severity")?);
            if let Some(note) = note {
                self.changed(T, id, note);
            }
            let device = self.reference((T, id), "device_id", "devices", int(&row, "device_id")?);
            let event = int(&row, "device_event_id")?;
            let event = self.reference((T, id), "device_event_id", "device_events", event);
            let creator = int(&row, "created_by_user_id")?;
            let creator = self.reference((T, id), "created_by_user_id", "users", creator);
            let assignee = int(&row, "assigned_to_user_id")?;
            let assignee = self.reference((T, id), "assigned_to_user_id", "users", assignee);
            let group = int(&row, "assigned_group_id")?;
            let group = self.reference((T, id), "assigned_group_id", "support_groups", group);
            let (kind, title) = (required(&row, "kind")?, required(&row, "title")?);
            let created = at(&row, "created_at")?;
            let columns: Columns = vec![
                ("device_id", device.into()),
                ("device_event_id", event.into()),
                ("kind", kind.clone().into()),
                ("tenant", text(&row, "tenant")?.into()),
                ("status", status.into()),
                ("severity", severity.into()),
                ("title", title.clone().into()),
                ("description", text(&row, "description")?.into()),
                ("sla_minutes", int(&row, "sla_minutes")?.into()),
                ("due_at", time(&row, "due_at")?.into()),
                (
                    "chatwoot_conversation_id",
                    int(&row, "chatwoot_conversation_id")?.into(),
                ),
                ("created_at", created.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
                ("closed_at", closed_at.into()),
                ("created_by_user_id", creator.into()),
                ("assigned_to_user_id", assignee.into()),
                ("assigned_group_id", group.into()),
            ];
            let key = vec![
                ("kind", kind.into()),
                ("title", title.into()),
                ("created_at", created.into()),
            ];
            self.put(T, id, key, columns).await?;
        }
        self.copy_links(
            "incident_assignees",
            ("incident_id", "incidents"),
            ("user_id", "users"),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn incident_messages(&mut self) -> anyhow::Result<()> {
        const T: &str = "incident_messages";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let incident = int(&row, "incident_id")?;
            let Some(incident_id) = self.mapped("incidents", incident) else {
                self.skip(
                    T,
                    id,
                    format!("incident {} not imported", incident.unwrap_or_default()),
                );
                continue;
            };
            let content = required(&row, "content")?;
            let created = at(&row, "created_at")?;
            let message_type = clean(text(&row, "message_type")?).unwrap_or_else(|| "TEXT".into());
            let columns: Columns = vec![
                ("incident_id", incident_id.into()),
                ("message_type", message_type.into()),
                ("author_name", text(&row, "author_name")?.into()),
                ("content", content.clone().into()),
                ("media_type", text(&row, "media_type")?.into()),
                ("media_url", text(&row, "media_url")?.into()),
                ("media_thumb_url", text(&row, "media_thumb_url")?.into()),
                ("media_name", text(&row, "media_name")?.into()),
                ("created_at", created.into()),
            ];
            let key = vec![
                ("incident_id", incident_id.into()),
                ("created_at", created.into()),
                ("content", content.into()),
            ];
            let (ours, written) = self.put(T, id, key, columns).await?;
            if let (true, Some(url)) = (written, clean(text(&row, "media_url")?))
                && url.contains("/media/")
            {
                let name = text(&row, "media_name")?.unwrap_or_default();
                self.message_file(id, ours, incident_id, &url, &name, created)
                    .await?;
            }
        }
        Ok(())
    }

    /// Copies a message's uploaded file (the original's `/media/incidents/…`) into our
    /// media directory, as an attachment of the incident; the message then points at it.
    async fn message_file(
        &mut self,
        id: i64,
        ours: i64,
        incident_id: i64,
        url: &str,
        name: &str,
        created: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        const T: &str = "incident_messages";
        let Some(file) = self
            .options
            .media_dir
            .as_deref()
            .and_then(|dir| rules::media_file(dir, url))
        else {
            self.changed_now(
                T,
                id,
                format!("file {url} not found in the media directory: link kept"),
            );
            return Ok(());
        };
        let bytes = tokio::fs::read(&file)
            .await
            .with_context(|| format!("reading {}", file.display()))?;
        if crate::media::sniff_attachment(&bytes).is_none() {
            self.changed_now(
                T,
                id,
                format!("file {url} is not a supported type: link kept"),
            );
            return Ok(());
        }
        self.files += 1;
        if self.options.dry_run {
            return Ok(());
        }
        let used = self.incident_bytes.entry(incident_id).or_default();
        let stored = crate::media::store_incident_file(self.config, incident_id, &bytes, *used)
            .await
            .with_context(|| format!("copying {}", file.display()))?;
        *used += bytes.len() as u64;
        if let Some(path) = crate::media::media_path(self.config, &stored.url) {
            self.copied.push(path);
        }
        let file_name = if name.is_empty() {
            file.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            name.to_string()
        };
        let attachment: Columns = vec![
            ("incident_id", incident_id.into()),
            ("file_name", file_name.into()),
            ("content_type", stored.content_type.into()),
            ("file_size", (bytes.len() as i64).into()),
            ("storage_path", stored.storage_path.into()),
            ("created_at", created.into()),
        ];
        self.target
            .insert("incident_attachments", &attachment)
            .await?;
        self.target
            .update(T, ours, &vec![("media_url", stored.url.into())])
            .await?;
        Ok(())
    }

    /// The original's own attachment table (never written by its code, kept if a site
    /// filled it by hand).
    pub(super) async fn incident_attachments(&mut self) -> anyhow::Result<()> {
        const T: &str = "incident_attachments";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let incident = int(&row, "incident_id")?;
            let Some(incident_id) = self.mapped("incidents", incident) else {
                self.skip(
                    T,
                    id,
                    format!("incident {} not imported", incident.unwrap_or_default()),
                );
                continue;
            };
            let path = required(&row, "storage_path")?;
            let columns: Columns = vec![
                ("incident_id", incident_id.into()),
                ("file_name", required(&row, "file_name")?.into()),
                ("content_type", text(&row, "content_type")?.into()),
                ("file_size", int(&row, "file_size")?.into()),
                ("storage_path", path.clone().into()),
                ("created_at", at(&row, "created_at")?.into()),
            ];
            let key = vec![
                ("incident_id", incident_id.into()),
                ("storage_path", path.into()),
            ];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn alert_events(&mut self) -> anyhow::Result<()> {
        const T: &str = "alert_events";
        let logs_imported = self.options.readings.is_some();
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let at_id = (T, id);
            let rule = self.reference(at_id, "rule_id", "alert_rules", int(&row, "rule_id")?);
            let person = self.reference(at_id, "person_id", "people", int(&row, "person_id")?);
            let tag = self.reference(at_id, "tag_id", "tags", int(&row, "tag_id")?);
            let device = self.reference(at_id, "device_id", "devices", int(&row, "device_id")?);
            let plan = int(&row, "floor_plan_id")?;
            let plan = self.reference(at_id, "floor_plan_id", "floor_plans", plan);
            let floor = self.reference(at_id, "floor_id", "floors", int(&row, "floor_id")?);
            let building = int(&row, "building_id")?;
            let building = self.reference(at_id, "building_id", "buildings", building);
            let group = self.reference(at_id, "group_id", "person_groups", int(&row, "group_id")?);
            let incident = int(&row, "incident_id")?;
            let incident = self.reference(at_id, "incident_id", "incidents", incident);
            // Without --readings the logs stay behind by choice: no note per event.
            let (first, last) = (
                int(&row, "first_collection_log_id")?,
                int(&row, "last_collection_log_id")?,
            );
            let (first, last) = if logs_imported {
                (
                    self.log_reference(at_id, "first_collection_log_id", first)
                        .await?,
                    self.log_reference(at_id, "last_collection_log_id", last)
                        .await?,
                )
            } else {
                (None, None)
            };
            let event_type = required(&row, "event_type")?;
            let started = at(&row, "started_at")?;
            let columns: Columns = vec![
                ("rule_id", rule.into()),
                ("event_type", event_type.clone().into()),
                ("person_id", person.into()),
                ("tag_id", tag.into()),
                ("device_id", device.into()),
                ("floor_plan_id", plan.into()),
                ("floor_id", floor.into()),
                ("building_id", building.into()),
                ("group_id", group.into()),
                ("incident_id", incident.into()),
                ("first_collection_log_id", first.into()),
                ("last_collection_log_id", last.into()),
                ("started_at", started.into()),
                ("last_seen_at", at(&row, "last_seen_at")?.into()),
                ("ended_at", time(&row, "ended_at")?.into()),
                ("is_open", boolean(&row, "is_open")?.unwrap_or(false).into()),
                ("message", text(&row, "message")?.into()),
                ("payload", text(&row, "payload")?.into()),
            ];
            let key = vec![
                ("event_type", event_type.into()),
                ("started_at", started.into()),
                ("tag_id", tag.into()),
                ("device_id", device.into()),
            ];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }

    pub(super) async fn webhook_subscriptions(&mut self) -> anyhow::Result<()> {
        const T: &str = "webhook_subscriptions";
        let mut rows = Pages::new(T);
        while let Some(row) = rows.next(&mut self.source).await? {
            let id = id(&row)?;
            let (name, url) = (required(&row, "name")?, required(&row, "url")?);
            // Secrets are kept sealed, as the API stores them.
            let secret = clean(text(&row, "secret_token")?).map(|s| self.secrets.seal(&s));
            let columns: Columns = vec![
                ("name", name.clone().into()),
                ("url", url.clone().into()),
                ("secret_token", secret.into()),
                (
                    "event_type_filter",
                    clean(text(&row, "event_type_filter")?).into(),
                ),
                (
                    "is_active",
                    boolean(&row, "is_active")?.unwrap_or(true).into(),
                ),
                ("created_at", at(&row, "created_at")?.into()),
                ("updated_at", at(&row, "updated_at")?.into()),
            ];
            let key = vec![("name", name.into()), ("url", url.into())];
            self.put(T, id, key, columns).await?;
        }
        Ok(())
    }
}
