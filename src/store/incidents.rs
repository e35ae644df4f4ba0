//! The incident desk: incidents with their assignees and timeline of messages, attachments,
//! incident rules (camera event → incident), and the links between alert events and the
//! incidents their rules opened.

use chrono::{DateTime, Utc};

use super::record::{record, save_row, select};
use super::{Result, Store, StoreError, now, on_pool};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Incident {
    pub id: i64,
    pub device_id: Option<i64>,
    pub device_event_id: Option<i64>,
    pub kind: String,
    pub tenant: Option<String>,
    pub status: String,
    pub severity: String,
    pub title: String,
    pub description: Option<String>,
    pub sla_minutes: Option<i32>,
    pub due_at: Option<DateTime<Utc>>,
    pub chatwoot_conversation_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_by_user_id: Option<i64>,
    pub assigned_to_user_id: Option<i64>,
    pub assigned_group_id: Option<i64>,
    /// The incident rule that opened it, if one did.
    pub incident_rule_id: Option<i64>,
}

#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct IncidentMessage {
    pub id: i64,
    pub incident_id: i64,
    pub message_type: String,
    pub content: String,
    pub media_type: Option<String>,
    pub media_url: Option<String>,
    pub media_thumb_url: Option<String>,
    pub media_name: Option<String>,
    pub author_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A message to add to an incident's timeline.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub message_type: String,
    pub author_name: Option<String>,
    pub content: String,
    pub media_type: Option<String>,
    pub media_url: Option<String>,
    pub media_thumb_url: Option<String>,
    pub media_name: Option<String>,
}

/// A user assigned to an incident, as embedded in it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Assignee {
    #[serde(skip)]
    pub incident_id: i64,
    pub id: i64,
    pub full_name: String,
    pub email: String,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct IncidentRule {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub analytic_type: Option<String>,
    pub device_id: Option<i64>,
    pub tenant: Option<String>,
    pub severity: String,
    pub camera_group_id: Option<i64>,
    /// It was given a camera group: once the group is deleted it applies to no camera.
    pub camera_group_scoped: bool,
    pub title_template: Option<String>,
    pub description_template: Option<String>,
    pub assigned_to_user_id: Option<i64>,
    pub assigned_group_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The filters of an incident list, each applied in SQL.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub device_id: Option<i64>,
    pub only_open: bool,
    pub status: Option<String>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    pub assigned_group_id: Option<i64>,
}

/// An open alert event whose rule wants an incident, with the rule's settings.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertForIncident {
    pub alert_event_id: i64,
    pub event_type: String,
    pub device_id: Option<i64>,
    pub message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub rule_id: i64,
    pub rule_name: String,
    pub incident_kind: Option<String>,
    pub incident_severity: String,
    pub incident_title_template: Option<String>,
    pub incident_description_template: Option<String>,
    pub incident_sla_minutes: Option<i32>,
    pub incident_assigned_group_id: Option<i64>,
    pub incident_assigned_to_user_id: Option<i64>,
}

/// The counts of the console's home page.
#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DashboardSummary {
    pub total_people: i64,
    pub total_tags: i64,
    pub total_gateways: i64,
    pub gateways_online: i64,
    pub gateways_offline: i64,
    pub active_alert_rules: i64,
    pub recent_alerts_24h: i64,
    pub open_incidents: i64,
    pub overdue_incidents: i64,
}

macro_rules! incident_columns {
    () => {
        "id, device_id, device_event_id, kind, tenant, status, severity, title, description, \
         sla_minutes, due_at, chatwoot_conversation_id, created_at, updated_at, closed_at, \
         created_by_user_id, assigned_to_user_id, assigned_group_id, incident_rule_id"
    };
}
macro_rules! message_columns {
    () => {
        "id, incident_id, message_type, content, media_type, media_url, media_thumb_url, \
         media_name, author_name, created_at"
    };
}
macro_rules! rule_columns {
    () => {
        "id, name, enabled, analytic_type, device_id, tenant, severity, camera_group_id, \
         camera_group_scoped, title_template, description_template, assigned_to_user_id, \
         assigned_group_id, created_at, updated_at"
    };
}

record!(Incident, "incidents", incident_columns);
record!(IncidentMessage, "incident_messages", message_columns);
record!(IncidentRule, "incident_rules", rule_columns);

/// "Open" in the lists: the active statuses.
macro_rules! open {
    () => {
        "status IN ('OPEN', 'IN_PROGRESS')"
    };
}

const INSERT_MESSAGE: &str = concat!(
    "INSERT INTO incident_messages (incident_id, message_type, author_name, content, \
     media_type, media_url, media_thumb_url, media_name, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
    message_columns!()
);
const UNASSIGN: &str = "DELETE FROM incident_assignees WHERE incident_id = $1";
const ASSIGN: &str = "INSERT INTO incident_assignees (incident_id, user_id) VALUES ($1, $2) \
     ON CONFLICT DO NOTHING";

/// Inside a transaction: adds each message of `$messages` to incident `$id`, into `$out`.
macro_rules! add_messages {
    ($tx:ident, $id:expr, $messages:expr, $out:ident) => {
        for m in $messages {
            let stored: IncidentMessage = sqlx::query_as(INSERT_MESSAGE)
                .bind($id)
                .bind(&m.message_type)
                .bind(&m.author_name)
                .bind(&m.content)
                .bind(&m.media_type)
                .bind(&m.media_url)
                .bind(&m.media_thumb_url)
                .bind(&m.media_name)
                .bind(now())
                .fetch_one(&mut *$tx)
                .await?;
            $out.push(stored);
        }
    };
}

/// The statement listing incidents with `f`'s filters (all bound, in the same places, to
/// every statement). One filter drives the read along its `(column, created_at)` index,
/// newest first, the others tested on its rows (the open ones, of two statuses, are read
/// along the status index and sorted: a small set): an optional filter written only as
/// `$n IS NULL OR col = $n` is planned by SQLite as a walk over every incident from the
/// newest, which for a value seldom met meant the whole table.
fn incident_list(f: &IncidentFilter) -> &'static str {
    macro_rules! newest_first {
        ($driver:expr) => {
            concat!(
                "SELECT ",
                incident_columns!(),
                " FROM incidents WHERE ",
                $driver,
                "($1 IS NULL OR device_id = $1) AND ($2 = FALSE OR ",
                open!(),
                ") AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR severity = $4) \
                 AND ($5 IS NULL OR kind = $5) AND ($6 IS NULL OR assigned_group_id = $6) \
                 ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
            )
        };
    }
    // The rarest first, as far as it can be told without statistics: a camera's incidents,
    // a group's, the open ones (few), a status, a kind, a severity.
    match (
        f.device_id,
        f.assigned_group_id,
        f.only_open,
        &f.status,
        &f.kind,
        &f.severity,
    ) {
        (Some(_), ..) => newest_first!("device_id = $1 AND "),
        (_, Some(_), ..) => newest_first!("assigned_group_id = $6 AND "),
        (_, _, true, ..) => newest_first!(concat!(open!(), " AND ")),
        (.., Some(_), _, _) => newest_first!("status = $3 AND "),
        (.., Some(_), _) => newest_first!("kind = $5 AND "),
        (.., Some(_)) => newest_first!("severity = $4 AND "),
        _ => newest_first!(""),
    }
}

impl Store {
    /// A page of incidents, newest first.
    pub async fn list_incidents(
        &self,
        f: &IncidentFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Incident>> {
        let sql = incident_list(f);
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(f.device_id)
            .bind(f.only_open)
            .bind(&f.status)
            .bind(&f.severity)
            .bind(&f.kind)
            .bind(f.assigned_group_id)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// The incidents a user works on, newest first: assigned to them (as the user or among
    /// the assignees), to a group they are a member of, and for an administrator the ones
    /// nobody is assigned to.
    pub async fn my_incidents(
        &self,
        user_id: i64,
        admin: bool,
        only_open: bool,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Incident>> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents i WHERE ($3 = FALSE OR ",
            open!(),
            ") AND (i.assigned_to_user_id = $1 \
             OR EXISTS (SELECT 1 FROM incident_assignees a WHERE a.incident_id = i.id AND a.user_id = $1) \
             OR EXISTS (SELECT 1 FROM support_group_members m \
                WHERE m.group_id = i.assigned_group_id AND m.user_id = $1) \
             OR ($2 AND i.assigned_to_user_id IS NULL AND i.assigned_group_id IS NULL \
                AND NOT EXISTS (SELECT 1 FROM incident_assignees a WHERE a.incident_id = i.id))) \
             ORDER BY i.created_at DESC, i.id DESC LIMIT $4 OFFSET $5"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(user_id)
            .bind(admin)
            .bind(only_open)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// The assignees of the incidents whose ids lie between `first` and `last`, by name.
    pub async fn incident_assignees(&self, first: i64, last: i64) -> Result<Vec<Assignee>> {
        const SQL: &str = "SELECT a.incident_id, u.id, u.full_name, u.email \
             FROM incident_assignees a JOIN users u ON u.id = a.user_id \
             WHERE a.incident_id BETWEEN $1 AND $2 ORDER BY a.incident_id, u.full_name, u.id";
        self.fetch_all_by2(SQL, first, last).await
    }

    /// The incident opened by hand (not by a rule) for a camera event.
    pub async fn incident_for_event(&self, device_event_id: i64) -> Result<Option<Incident>> {
        const SQL: &str = select!(
            incident_columns,
            "FROM incidents WHERE device_event_id = $1 AND incident_rule_id IS NULL"
        );
        self.fetch_optional_by(SQL, device_event_id).await
    }

    /// The newest active incident `rule` opened on `device` since `since` (its cool-down).
    pub async fn recent_rule_incident(
        &self,
        rule_id: i64,
        device_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Option<Incident>> {
        const SQL: &str = concat!(
            "SELECT ",
            incident_columns!(),
            " FROM incidents WHERE incident_rule_id = $1 AND device_id = $2 AND created_at >= $3 AND ",
            open!(),
            " ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(rule_id)
            .bind(device_id)
            .bind(since)
            .fetch_optional(pool)
            .await?))
    }

    /// Inserts (id 0) or updates an incident with, when given, its new assignees and the
    /// messages that tell the change, in one transaction. A new incident keeps the
    /// `created_at` it was given (its `due_at` counts from it), else now. `Conflict` when
    /// the camera event already has its incident (by hand, or from this rule). An update
    /// never clears the Chatwoot conversation id: the Chatwoot worker may have set it since
    /// the incident was read.
    pub async fn save_incident(
        &self,
        i: &Incident,
        assignee_ids: Option<&[i64]>,
        messages: &[NewMessage],
    ) -> Result<(Incident, Vec<IncidentMessage>)> {
        self.save_incident_for(i, assignee_ids, messages, None)
            .await
    }

    /// Opens an alert event's incident and points the alert event at it, in one
    /// transaction: `Conflict` (nothing saved) when the alert event has an incident already.
    pub async fn open_alert_incident(
        &self,
        i: &Incident,
        messages: &[NewMessage],
        alert_event_id: i64,
    ) -> Result<(Incident, Vec<IncidentMessage>)> {
        self.save_incident_for(i, None, messages, Some(alert_event_id))
            .await
    }

    async fn save_incident_for(
        &self,
        i: &Incident,
        assignee_ids: Option<&[i64]>,
        messages: &[NewMessage],
        alert_event_id: Option<i64>,
    ) -> Result<(Incident, Vec<IncidentMessage>)> {
        const LINK_ALERT: &str =
            "UPDATE alert_events SET incident_id = $1 WHERE id = $2 AND incident_id IS NULL";
        const INSERT: &str = concat!(
            "INSERT INTO incidents (device_id, device_event_id, kind, tenant, status, severity, \
             title, description, sla_minutes, due_at, chatwoot_conversation_id, closed_at, \
             created_by_user_id, assigned_to_user_id, assigned_group_id, incident_rule_id, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) \
             RETURNING ",
            incident_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE incidents SET device_id = $1, device_event_id = $2, kind = $3, tenant = $4, \
             status = $5, severity = $6, title = $7, description = $8, sla_minutes = $9, \
             due_at = $10, chatwoot_conversation_id = COALESCE($11, chatwoot_conversation_id), \
             closed_at = $12, \
             created_by_user_id = $13, assigned_to_user_id = $14, assigned_group_id = $15, \
             incident_rule_id = $16, updated_at = $17 WHERE id = $18 RETURNING ",
            incident_columns!()
        );
        let stamp = if i.id == 0 && i.created_at != DateTime::<Utc>::default() {
            i.created_at
        } else {
            now()
        };
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let saved: Incident = save_row!(&mut *tx, i, INSERT, UPDATE, |q| q
                .bind(i.device_id)
                .bind(i.device_event_id)
                .bind(&i.kind)
                .bind(&i.tenant)
                .bind(&i.status)
                .bind(&i.severity)
                .bind(&i.title)
                .bind(&i.description)
                .bind(i.sla_minutes)
                .bind(i.due_at)
                .bind(i.chatwoot_conversation_id)
                .bind(i.closed_at)
                .bind(i.created_by_user_id)
                .bind(i.assigned_to_user_id)
                .bind(i.assigned_group_id)
                .bind(i.incident_rule_id)
                .bind(stamp));
            if let Some(ids) = assignee_ids {
                sqlx::query(UNASSIGN)
                    .bind(saved.id)
                    .execute(&mut *tx)
                    .await?;
                for user in ids {
                    sqlx::query(ASSIGN)
                        .bind(saved.id)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            if let Some(alert) = alert_event_id {
                let linked = sqlx::query(LINK_ALERT)
                    .bind(saved.id)
                    .bind(alert)
                    .execute(&mut *tx)
                    .await?;
                if linked.rows_affected() != 1 {
                    return Err(StoreError::Conflict(
                        "the alert event has its incident already".into(),
                    ));
                }
            }
            let mut added = Vec::new();
            add_messages!(tx, saved.id, messages, added);
            tx.commit().await?;
            Ok((saved, added))
        })
    }

    /// Adds a message to an incident's timeline.
    pub async fn add_incident_message(
        &self,
        incident_id: i64,
        message: &NewMessage,
    ) -> Result<IncidentMessage> {
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            let mut added = Vec::new();
            add_messages!(tx, incident_id, std::slice::from_ref(message), added);
            tx.commit().await?;
            Ok(added.remove(0))
        })
    }

    /// An incident's messages after `after_id`, by id (the index on (incident_id, id)
    /// serves it).
    pub async fn incident_messages(
        &self,
        incident_id: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<IncidentMessage>> {
        const SQL: &str = select!(
            message_columns,
            "FROM incident_messages WHERE incident_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(incident_id)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// Records a stored attachment and the MEDIA message that shows it, in one transaction.
    pub async fn add_incident_attachment(
        &self,
        incident_id: i64,
        file_name: &str,
        content_type: &str,
        size: i64,
        storage_path: &str,
        message: &NewMessage,
    ) -> Result<IncidentMessage> {
        const SQL: &str = "INSERT INTO incident_attachments (incident_id, file_name, content_type, \
             file_size, storage_path, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(SQL)
                .bind(incident_id)
                .bind(file_name)
                .bind(content_type)
                .bind(size)
                .bind(storage_path)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            let mut added = Vec::new();
            add_messages!(tx, incident_id, std::slice::from_ref(message), added);
            tx.commit().await?;
            Ok(added.remove(0))
        })
    }

    /// The bytes an incident's attachments take.
    pub async fn incident_attachment_bytes(&self, incident_id: i64) -> Result<i64> {
        const SQL: &str = "SELECT CAST(COALESCE(SUM(file_size), 0) AS BIGINT) \
             FROM incident_attachments WHERE incident_id = $1";
        self.count_by(SQL, incident_id).await
    }

    pub async fn save_incident_rule(&self, r: &IncidentRule) -> Result<IncidentRule> {
        const INSERT: &str = concat!(
            "INSERT INTO incident_rules (name, enabled, analytic_type, device_id, tenant, severity, \
             camera_group_id, camera_group_scoped, title_template, description_template, \
             assigned_to_user_id, assigned_group_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING ",
            rule_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE incident_rules SET name = $1, enabled = $2, analytic_type = $3, device_id = $4, \
             tenant = $5, severity = $6, camera_group_id = $7, camera_group_scoped = $8, \
             title_template = $9, description_template = $10, assigned_to_user_id = $11, \
             assigned_group_id = $12, updated_at = $13 WHERE id = $14 RETURNING ",
            rule_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            r,
            INSERT,
            UPDATE,
            |q| q
                .bind(&r.name)
                .bind(r.enabled)
                .bind(&r.analytic_type)
                .bind(r.device_id)
                .bind(&r.tenant)
                .bind(&r.severity)
                .bind(r.camera_group_id)
                .bind(r.camera_group_scoped)
                .bind(&r.title_template)
                .bind(&r.description_template)
                .bind(r.assigned_to_user_id)
                .bind(r.assigned_group_id)
                .bind(now())
        )))
    }

    /// The enabled rules that match a camera event, by id: same analytic (a rule without
    /// one matches any analytic, not the camera's status messages), a tenant that agrees when the event names one, and in scope (the
    /// whole site, the camera, or a group the camera is in). Rules whose camera group was
    /// deleted come too, for the caller to skip and count.
    pub async fn matching_incident_rules(
        &self,
        device_id: i64,
        analytic_type: &str,
        tenant: Option<&str>,
        status_message: bool,
    ) -> Result<Vec<IncidentRule>> {
        const SQL: &str = concat!(
            "SELECT ",
            rule_columns!(),
            " FROM incident_rules r WHERE r.enabled \
             AND (r.analytic_type = $2 OR (r.analytic_type IS NULL AND NOT $4)) \
             AND ($3 IS NULL OR r.tenant IS NULL OR r.tenant = $3) \
             AND ((r.device_id IS NULL AND r.camera_group_id IS NULL) OR r.device_id = $1 \
                OR r.camera_group_id IN (SELECT g.camera_group_id FROM camera_group_devices g \
                    WHERE g.device_id = $1)) \
             ORDER BY r.id"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(device_id)
            .bind(analytic_type)
            .bind(tenant)
            .bind(status_message)
            .fetch_all(pool)
            .await?))
    }

    /// The last camera event and alert event the incident service judged (migration
    /// 0026). Its first start finds none and starts after what is stored then.
    pub async fn incident_cursors(&self) -> Result<(i64, i64)> {
        // `WHERE TRUE`: SQLite's parser needs it between a SELECT and ON CONFLICT.
        const FIRST_START: &str = "INSERT INTO incident_cursors (id, camera_event_id, alert_event_id) \
             SELECT 1, COALESCE((SELECT MAX(id) FROM device_events), 0), \
             COALESCE((SELECT MAX(id) FROM alert_events), 0) WHERE TRUE \
             ON CONFLICT (id) DO NOTHING";
        const SQL: &str =
            "SELECT camera_event_id, alert_event_id FROM incident_cursors WHERE id = 1";
        on_pool!(self, write, |pool| {
            sqlx::query(FIRST_START).execute(pool).await?;
        });
        let row: (i64, i64) = on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .fetch_one(pool)
            .await?);
        Ok(row)
    }

    /// Moves the incident service's cursors on (never back: a node that has just lost
    /// the leadership may still save what it had judged).
    pub async fn save_incident_cursors(
        &self,
        camera_event_id: i64,
        alert_event_id: i64,
    ) -> Result<()> {
        const SQL: &str = "UPDATE incident_cursors SET \
             camera_event_id = CASE WHEN camera_event_id < $1 THEN $1 ELSE camera_event_id END, \
             alert_event_id = CASE WHEN alert_event_id < $2 THEN $2 ELSE alert_event_id END \
             WHERE id = 1";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(camera_event_id)
                .bind(alert_event_id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Alert events opened after `after_id` whose rule creates incidents and that have none
    /// yet, by id.
    pub async fn alerts_wanting_incidents(&self, after_id: i64) -> Result<Vec<AlertForIncident>> {
        const SQL: &str = "SELECT e.id AS alert_event_id, e.event_type, e.device_id, e.message, \
             e.started_at, r.id AS rule_id, r.name AS rule_name, r.incident_kind, \
             r.incident_severity, r.incident_title_template, r.incident_description_template, \
             r.incident_sla_minutes, r.incident_assigned_group_id, r.incident_assigned_to_user_id \
             FROM alert_events e JOIN alert_rules r ON r.id = e.rule_id \
             WHERE e.id > $1 AND e.incident_id IS NULL AND r.create_incident \
             ORDER BY e.id LIMIT 500";
        self.fetch_all_by(SQL, after_id).await
    }

    /// Active incidents of alert sessions that ended after the incident last changed (or
    /// before it was ever changed: a short alert may end before its incident is opened),
    /// whose rule closes its incidents at the end (an incident reopened by hand after the
    /// end stays open).
    pub async fn incidents_to_auto_close(&self) -> Result<Vec<(Incident, i64)>> {
        const SQL: &str = "SELECT i.id, e.id FROM incidents i \
             JOIN alert_events e ON e.incident_id = i.id \
             JOIN alert_rules r ON r.id = e.rule_id \
             WHERE NOT e.is_open AND r.incident_auto_close_on_end \
             AND i.status IN ('OPEN', 'IN_PROGRESS') \
             AND (e.ended_at > i.updated_at OR i.updated_at = i.created_at) \
             ORDER BY i.id LIMIT 500";
        let pairs: Vec<(i64, i64)> = self.fetch_all(SQL).await?;
        let mut found = Vec::with_capacity(pairs.len());
        for (incident, alert) in pairs {
            found.push((self.fetch_by_id(incident).await?, alert));
        }
        Ok(found)
    }

    /// The counts of the dashboard.
    pub async fn dashboard_summary(
        &self,
        online_since: DateTime<Utc>,
        alerts_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<DashboardSummary> {
        const SQL: &str = "SELECT \
             (SELECT COUNT(*) FROM people) AS total_people, \
             (SELECT COUNT(*) FROM tags) AS total_tags, \
             (SELECT COUNT(*) FROM devices WHERE type = 'BLE_GATEWAY') AS total_gateways, \
             (SELECT COUNT(*) FROM devices WHERE type = 'BLE_GATEWAY' AND last_seen_at >= $1) \
                AS gateways_online, \
             CAST(0 AS BIGINT) AS gateways_offline, \
             (SELECT COUNT(*) FROM alert_rules WHERE is_active) AS active_alert_rules, \
             (SELECT COUNT(*) FROM alert_events WHERE started_at >= $2) AS recent_alerts_24h, \
             (SELECT COUNT(*) FROM incidents WHERE status IN ('OPEN', 'IN_PROGRESS')) \
                AS open_incidents, \
             (SELECT COUNT(*) FROM incidents WHERE status IN ('OPEN', 'IN_PROGRESS') \
                AND due_at < $3) AS overdue_incidents";
        let mut summary: DashboardSummary = on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(online_since)
            .bind(alerts_since)
            .bind(now)
            .fetch_one(pool)
            .await?);
        summary.gateways_offline = (summary.total_gateways - summary.gateways_online).max(0);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{assert_searches_along, sqlite_plan};

    /// Each filter, alone or with others, reads its incidents along an index in the list's
    /// order and stops at the page's end: no walk over the incidents filtered row by row.
    #[tokio::test]
    async fn every_list_of_incidents_reads_along_an_index() {
        let all = IncidentFilter {
            device_id: Some(1),
            only_open: true,
            status: Some("OPEN".into()),
            severity: Some("HIGH".into()),
            kind: Some("intrusion".into()),
            assigned_group_id: Some(2),
        };
        let only = |f: fn(&mut IncidentFilter)| {
            let mut filter = IncidentFilter::default();
            f(&mut filter);
            filter
        };
        for (filter, index) in [
            (all.clone(), "ix_incidents_device_time"),
            (
                IncidentFilter {
                    device_id: None,
                    ..all.clone()
                },
                "ix_incidents_assigned_group_time",
            ),
            (
                only(|f| {
                    f.status = Some("CLOSED".into());
                    f.severity = Some("LOW".into());
                }),
                "ix_incidents_status_time",
            ),
            (
                only(|f| {
                    f.kind = Some("intrusion".into());
                    f.severity = Some("LOW".into());
                }),
                "ix_incidents_kind_time",
            ),
            (
                only(|f| f.severity = Some("LOW".into())),
                "ix_incidents_severity_time",
            ),
        ] {
            assert_searches_along(incident_list(&filter), index).await;
        }
        // The open incidents, a small set, are sorted: SQLite reads the two statuses along
        // their index (it prefers that, without statistics, to the order of a partial index
        // of the open ones).
        for filter in [
            only(|f| f.only_open = true),
            only(|f| {
                f.only_open = true;
                f.kind = Some("intrusion".into());
            }),
        ] {
            let plan = sqlite_plan(incident_list(&filter)).await;
            assert_eq!(
                plan,
                [
                    "SEARCH incidents USING INDEX ix_incidents_status_time (status=?)",
                    "USE TEMP B-TREE FOR ORDER BY"
                ],
                "{filter:?}"
            );
        }
        // No filter: the newest first, a page read.
        assert_eq!(
            sqlite_plan(incident_list(&IncidentFilter::default())).await,
            ["SCAN incidents USING INDEX ix_incidents_created_at"]
        );
    }
}
