//! Alert rules and alert events: what the engine watches for and what it found, with the
//! operators' acknowledge/resolve lifecycle.

use chrono::{DateTime, Utc};

use super::record::{record, save_row, select};
use super::{Result, Store, StoreError, now, on_pool};

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub rule_type: String,
    pub group_id: Option<i64>,
    pub device_id: Option<i64>,
    pub max_dwell_seconds: Option<i32>,
    pub is_active: bool,
    pub create_incident: bool,
    pub incident_kind: Option<String>,
    pub incident_severity: String,
    pub incident_title_template: Option<String>,
    pub incident_description_template: Option<String>,
    pub incident_sla_minutes: Option<i32>,
    pub incident_assigned_group_id: Option<i64>,
    pub incident_assigned_to_user_id: Option<i64>,
    pub incident_auto_close_on_end: bool,
    /// JSON text of a [`crate::alerts::schedule::Schedule`]; `None`: always armed.
    pub schedule: Option<String>,
    pub cooldown_seconds: Option<i32>,
    /// Why the engine switched the rule off (its gateway was deleted, …).
    pub disabled_reason: Option<String>,
    /// The zone a zone rule watches.
    pub zone_id: Option<i64>,
    /// The one person the rule applies to (zone and absence rules).
    pub person_id: Option<i64>,
    pub max_absence_seconds: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct AlertEvent {
    pub id: i64,
    pub rule_id: Option<i64>,
    pub event_type: String,
    pub person_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub device_id: Option<i64>,
    pub floor_plan_id: Option<i64>,
    pub floor_id: Option<i64>,
    pub building_id: Option<i64>,
    pub group_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub first_collection_log_id: Option<i64>,
    pub last_collection_log_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub is_open: bool,
    pub message: Option<String>,
    /// JSON text (the original served it as a string).
    pub payload: Option<String>,
    pub close_reason: Option<String>,
    pub acknowledged_by: Option<i64>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_note: Option<String>,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_note: Option<String>,
}

/// Where a device is, with names, for an alert event's location fields.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct DevicePlace {
    pub device_id: i64,
    pub device_name: String,
    pub mac_address: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
}

/// Who carries a tag: the tag's MAC, its person and that person's groups.
#[derive(Debug, Clone, Default)]
pub struct TagSubject {
    pub tag_id: i64,
    pub mac_address: String,
    pub person_id: Option<i64>,
    pub person_full_name: Option<String>,
    pub group_ids: Vec<i64>,
}

/// The filters of the alert rules' list.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub rule_type: Option<String>,
    pub group_id: Option<i64>,
    pub device_id: Option<i64>,
    pub is_active: Option<bool>,
    pub create_incident: Option<bool>,
}

/// The filters of the alert events' list.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub rule_id: Option<i64>,
    pub event_type: Option<String>,
    pub person_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub device_id: Option<i64>,
    pub is_open: Option<bool>,
    /// Events that started at or after.
    pub from: Option<DateTime<Utc>>,
    /// Events that started before.
    pub to: Option<DateTime<Utc>>,
}

/// Who did what to an alert event, with an optional note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Acknowledge,
    Resolve,
}

macro_rules! alert_rule_columns {
    () => {
        "id, name, description, rule_type, group_id, device_id, max_dwell_seconds, is_active, \
         create_incident, incident_kind, incident_severity, incident_title_template, \
         incident_description_template, incident_sla_minutes, incident_assigned_group_id, \
         incident_assigned_to_user_id, incident_auto_close_on_end, schedule, cooldown_seconds, \
         disabled_reason, zone_id, person_id, max_absence_seconds, created_at, updated_at"
    };
}
macro_rules! alert_event_columns {
    () => {
        "id, rule_id, event_type, person_id, tag_id, device_id, floor_plan_id, floor_id, \
         building_id, group_id, incident_id, first_collection_log_id, last_collection_log_id, \
         started_at, last_seen_at, ended_at, is_open, message, payload, close_reason, \
         acknowledged_by, acknowledged_at, acknowledged_note, resolved_by, resolved_at, \
         resolved_note"
    };
}

record!(AlertRule, "alert_rules", alert_rule_columns);
record!(AlertEvent, "alert_events", alert_event_columns);

/// The statement listing alert events with `f`'s filters (all bound, in the same places, to
/// every statement). One filter drives the read along its `(column, started_at)` index,
/// newest first, the others tested on its rows: an optional filter written only as
/// `$n IS NULL OR col = $n` is planned by SQLite as a walk over every event from the newest,
/// which for a value seldom met meant the whole table. The period bounds the index's range
/// (an absent bound is infinite: PostgreSQL's `'-infinity'`/`'infinity'`, and on SQLite
/// text sorting before and after every timestamp).
fn alert_event_list(f: &EventFilter) -> &'static str {
    macro_rules! newest_first {
        ($driver:literal) => {
            concat!(
                "SELECT ",
                alert_event_columns!(),
                " FROM alert_events WHERE ",
                $driver,
                "started_at >= COALESCE($7, '-infinity') \
                     AND started_at < COALESCE($8, 'infinity') AND ($1 IS NULL OR rule_id = $1) \
                     AND ($2 IS NULL OR event_type = $2) AND ($3 IS NULL OR person_id = $3) \
                     AND ($4 IS NULL OR tag_id = $4) AND ($5 IS NULL OR device_id = $5) \
                     AND ($6 IS NULL OR is_open = $6) \
                     ORDER BY started_at DESC, id DESC LIMIT $9 OFFSET $10"
            )
        };
    }
    // The rarest first, as far as it can be told without statistics: a tag's or a person's
    // events, a gateway's, a rule's; the open ones (few), a type, the closed ones (most).
    // Open or closed is written out, so that PostgreSQL's generic plan, which cannot tell
    // a rare `is_open = $6` from a common one, knows which.
    match (
        f.tag_id,
        f.person_id,
        f.device_id,
        f.rule_id,
        f.is_open,
        &f.event_type,
    ) {
        (Some(_), ..) => newest_first!("tag_id = $4 AND "),
        (_, Some(_), ..) => newest_first!("person_id = $3 AND "),
        (_, _, Some(_), ..) => newest_first!("device_id = $5 AND "),
        (_, _, _, Some(_), ..) => newest_first!("rule_id = $1 AND "),
        (.., Some(true), _) => newest_first!("is_open = TRUE AND "),
        (.., Some(_)) => newest_first!("event_type = $2 AND "),
        (.., Some(false), None) => newest_first!("is_open = FALSE AND "),
        _ => newest_first!(""),
    }
}

/// The open events, oldest first: `= TRUE`, so that SQLite reads them along
/// `(is_open, started_at)` (a bare `WHERE is_open` walks every event).
const OPEN_ALERT_EVENTS: &str = select!(
    alert_event_columns,
    "FROM alert_events WHERE is_open = TRUE ORDER BY started_at, id"
);

impl Store {
    pub async fn list_alert_rules(
        &self,
        f: &RuleFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<AlertRule>> {
        const SQL: &str = select!(
            alert_rule_columns,
            "FROM alert_rules WHERE ($1 IS NULL OR rule_type = $1) \
             AND ($2 IS NULL OR group_id = $2) AND ($3 IS NULL OR device_id = $3) \
             AND ($4 IS NULL OR is_active = $4) AND ($5 IS NULL OR create_incident = $5) \
             ORDER BY id LIMIT $6 OFFSET $7"
        );
        Ok(on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(&f.rule_type)
            .bind(f.group_id)
            .bind(f.device_id)
            .bind(f.is_active)
            .bind(f.create_incident)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// The rules the engine runs.
    pub async fn active_alert_rules(&self) -> Result<Vec<AlertRule>> {
        const SQL: &str = select!(
            alert_rule_columns,
            "FROM alert_rules WHERE is_active ORDER BY id"
        );
        self.fetch_all(SQL).await
    }

    pub async fn alert_rule(&self, id: i64) -> Result<Option<AlertRule>> {
        const SQL: &str = select!(alert_rule_columns, "FROM alert_rules WHERE id = $1");
        self.fetch_optional_by(SQL, id).await
    }

    /// Inserts (id 0) or updates a rule; a saved rule is no longer disabled by the engine.
    pub async fn save_alert_rule(&self, r: &AlertRule) -> Result<AlertRule> {
        const INSERT: &str = concat!(
            "INSERT INTO alert_rules (name, description, rule_type, group_id, device_id, \
             max_dwell_seconds, is_active, create_incident, incident_kind, incident_severity, \
             incident_title_template, incident_description_template, incident_sla_minutes, \
             incident_assigned_group_id, incident_assigned_to_user_id, \
             incident_auto_close_on_end, schedule, cooldown_seconds, disabled_reason, \
             zone_id, person_id, max_absence_seconds, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21, $22, $23, $23) RETURNING ",
            alert_rule_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE alert_rules SET name = $1, description = $2, rule_type = $3, group_id = $4, \
             device_id = $5, max_dwell_seconds = $6, is_active = $7, create_incident = $8, \
             incident_kind = $9, incident_severity = $10, incident_title_template = $11, \
             incident_description_template = $12, incident_sla_minutes = $13, \
             incident_assigned_group_id = $14, incident_assigned_to_user_id = $15, \
             incident_auto_close_on_end = $16, schedule = $17, cooldown_seconds = $18, \
             disabled_reason = $19, zone_id = $20, person_id = $21, max_absence_seconds = $22, \
             updated_at = $23 WHERE id = $24 RETURNING ",
            alert_rule_columns!()
        );
        Ok(on_pool!(self, write, |pool| save_row!(
            pool,
            r,
            INSERT,
            UPDATE,
            |q| q
                .bind(&r.name)
                .bind(&r.description)
                .bind(&r.rule_type)
                .bind(r.group_id)
                .bind(r.device_id)
                .bind(r.max_dwell_seconds)
                .bind(r.is_active)
                .bind(r.create_incident)
                .bind(&r.incident_kind)
                .bind(&r.incident_severity)
                .bind(&r.incident_title_template)
                .bind(&r.incident_description_template)
                .bind(r.incident_sla_minutes)
                .bind(r.incident_assigned_group_id)
                .bind(r.incident_assigned_to_user_id)
                .bind(r.incident_auto_close_on_end)
                .bind(&r.schedule)
                .bind(r.cooldown_seconds)
                .bind(&r.disabled_reason)
                .bind(r.zone_id)
                .bind(r.person_id)
                .bind(r.max_absence_seconds)
                .bind(now())
        )))
    }

    /// Switches a rule off, saying why; `None` when the rule is gone.
    pub async fn disable_alert_rule(&self, id: i64, reason: &str) -> Result<Option<AlertRule>> {
        const SQL: &str = concat!(
            "UPDATE alert_rules SET is_active = FALSE, disabled_reason = $1, updated_at = $2 \
             WHERE id = $3 RETURNING ",
            alert_rule_columns!()
        );
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(reason)
            .bind(now())
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    /// Newest first (by start, then id).
    pub async fn list_alert_events(
        &self,
        f: &EventFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<AlertEvent>> {
        let sql = alert_event_list(f);
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(f.rule_id)
            .bind(&f.event_type)
            .bind(f.person_id)
            .bind(f.tag_id)
            .bind(f.device_id)
            .bind(f.is_open)
            .bind(f.from)
            .bind(f.to)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// The open events, oldest first: the engine's sessions at start.
    pub async fn open_alert_events(&self) -> Result<Vec<AlertEvent>> {
        self.fetch_all(OPEN_ALERT_EVENTS).await
    }

    /// Records a new event (its id is ignored) and returns it stored.
    pub async fn insert_alert_event(&self, e: &AlertEvent) -> Result<AlertEvent> {
        const SQL: &str = concat!(
            "INSERT INTO alert_events (rule_id, event_type, person_id, tag_id, device_id, \
             floor_plan_id, floor_id, building_id, group_id, started_at, last_seen_at, \
             ended_at, is_open, message, payload, close_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             RETURNING ",
            alert_event_columns!()
        );
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(e.rule_id)
            .bind(&e.event_type)
            .bind(e.person_id)
            .bind(e.tag_id)
            .bind(e.device_id)
            .bind(e.floor_plan_id)
            .bind(e.floor_id)
            .bind(e.building_id)
            .bind(e.group_id)
            .bind(e.started_at)
            .bind(e.last_seen_at)
            .bind(e.ended_at)
            .bind(e.is_open)
            .bind(&e.message)
            .bind(&e.payload)
            .bind(&e.close_reason)
            .fetch_one(pool)
            .await?))
    }

    /// Writes what moves during a session (last evidence, message, payload) and whether it
    /// is closed (with its end and reason); `None` when the event is gone.
    pub async fn update_alert_event(&self, e: &AlertEvent) -> Result<Option<AlertEvent>> {
        const SQL: &str = concat!(
            "UPDATE alert_events SET last_seen_at = $1, ended_at = $2, is_open = $3, \
             message = $4, payload = $5, close_reason = $6 WHERE id = $7 RETURNING ",
            alert_event_columns!()
        );
        Ok(on_pool!(self, write, |pool| sqlx::query_as(SQL)
            .bind(e.last_seen_at)
            .bind(e.ended_at)
            .bind(e.is_open)
            .bind(&e.message)
            .bind(&e.payload)
            .bind(&e.close_reason)
            .bind(e.id)
            .fetch_optional(pool)
            .await?))
    }

    /// The dwell countdowns running (rule, tag, arrived, last seen): the engine's arrivals
    /// at start.
    pub async fn alert_countdowns(&self) -> Result<Vec<(i64, i64, DateTime<Utc>, DateTime<Utc>)>> {
        const SQL: &str = "SELECT rule_id, tag_id, arrived_at, last_seen_at FROM alert_countdowns ORDER BY rule_id, tag_id";
        self.fetch_all(SQL).await
    }

    /// Records that a dwell countdown started (a tag arrived), replacing an older one.
    pub async fn start_alert_countdown(
        &self,
        rule_id: i64,
        tag_id: i64,
        arrived_at: DateTime<Utc>,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO alert_countdowns (rule_id, tag_id, arrived_at, last_seen_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (rule_id, tag_id) \
             DO UPDATE SET arrived_at = $3, last_seen_at = $3";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(rule_id)
                .bind(tag_id)
                .bind(arrived_at)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Forgets a countdown (the tag left, or the limit passed).
    pub async fn end_alert_countdown(&self, rule_id: i64, tag_id: i64) -> Result<()> {
        const SQL: &str = "DELETE FROM alert_countdowns WHERE rule_id = $1 AND tag_id = $2";
        on_pool!(self, write, |pool| {
            sqlx::query(SQL)
                .bind(rule_id)
                .bind(tag_id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Moves the last evidence of running countdowns forward (the engine's periodic flush).
    pub async fn touch_alert_countdowns(
        &self,
        seen: &[(i64, i64, DateTime<Utc>)],
        epoch: Option<i64>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE alert_countdowns SET last_seen_at = $1 \
             WHERE rule_id = $2 AND tag_id = $3 AND last_seen_at < $1";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            super::fence!(tx, epoch);
            for (rule, tag, at) in seen {
                sqlx::query(SQL)
                    .bind(*at)
                    .bind(*rule)
                    .bind(*tag)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// The last time each person's tags were heard since `since`, from their presence
    /// sessions (the engine's absence clocks at start, read once).
    pub async fn people_last_seen(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(i64, DateTime<Utc>)>> {
        const SQL: &str = "SELECT t.person_id, MAX(s.ended_at) FROM presence_sessions s \
             JOIN tags t ON t.id = s.tag_id WHERE t.person_id IS NOT NULL AND s.ended_at >= $1 \
             GROUP BY t.person_id";
        self.fetch_all_by(SQL, since).await
    }

    /// The members of person groups (the people group rules apply to).
    pub async fn all_group_members(&self) -> Result<Vec<(i64, i64)>> {
        const SQL: &str =
            "SELECT group_id, person_id FROM person_group_memberships ORDER BY group_id, person_id";
        self.fetch_all(SQL).await
    }

    /// Moves the last evidence of open sessions forward (the engine's periodic flush), in
    /// one transaction.
    pub async fn touch_alert_events(
        &self,
        seen: &[(i64, DateTime<Utc>)],
        epoch: Option<i64>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE alert_events SET last_seen_at = $1 WHERE id = $2 AND is_open AND last_seen_at < $1";
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            super::fence!(tx, epoch);
            for (id, at) in seen {
                sqlx::query(SQL)
                    .bind(*at)
                    .bind(*id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Acknowledges or resolves an event: `Conflict` when it is already resolved (or, to
    /// acknowledge, already acknowledged); `NotFound` when there is no such event. Resolving
    /// an event nobody acknowledged acknowledges it too.
    pub async fn step_alert_event(
        &self,
        id: i64,
        step: Step,
        user_id: i64,
        note: Option<&str>,
    ) -> Result<AlertEvent> {
        const ACK: &str = concat!(
            "UPDATE alert_events SET acknowledged_by = $1, acknowledged_at = $2, \
             acknowledged_note = $3 \
             WHERE id = $4 AND acknowledged_at IS NULL AND resolved_at IS NULL RETURNING ",
            alert_event_columns!()
        );
        const RESOLVE: &str = concat!(
            "UPDATE alert_events SET resolved_by = $1, resolved_at = $2, resolved_note = $3, \
             acknowledged_by = CASE WHEN acknowledged_at IS NULL THEN $1 ELSE acknowledged_by END, \
             acknowledged_at = COALESCE(acknowledged_at, $2) \
             WHERE id = $4 AND resolved_at IS NULL RETURNING ",
            alert_event_columns!()
        );
        let sql = match step {
            Step::Acknowledge => ACK,
            Step::Resolve => RESOLVE,
        };
        let changed: Option<AlertEvent> = on_pool!(self, write, |pool| sqlx::query_as(sql)
            .bind(user_id)
            .bind(now())
            .bind(note)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        match changed {
            Some(event) => Ok(event),
            None if self.exists::<AlertEvent>(id).await? => {
                Err(StoreError::Conflict("alert event state".into()))
            }
            None => Err(StoreError::NotFound),
        }
    }

    /// A device's name and place, for the location fields of an alert event.
    pub async fn device_place(&self, device_id: i64) -> Result<Option<DevicePlace>> {
        const SQL: &str = "SELECT d.id AS device_id, d.name AS device_name, d.mac_address, \
             d.floor_plan_id, p.name AS floor_plan_name, COALESCE(p.floor_id, d.floor_id) AS floor_id, \
             f.name AS floor_name, COALESCE(f.building_id, d.building_id) AS building_id, \
             b.name AS building_name FROM devices d \
             LEFT JOIN floor_plans p ON p.id = d.floor_plan_id \
             LEFT JOIN floors f ON f.id = COALESCE(p.floor_id, d.floor_id) \
             LEFT JOIN buildings b ON b.id = COALESCE(f.building_id, d.building_id) \
             WHERE d.id = $1";
        self.fetch_optional_by(SQL, device_id).await
    }

    /// A floor plan's place, with names, for the location fields of a zone's alert event
    /// (the device fields empty).
    pub async fn plan_place(&self, floor_plan_id: i64) -> Result<Option<DevicePlace>> {
        const SQL: &str = "SELECT p.id AS floor_plan_id, p.name AS floor_plan_name, \
             p.floor_id, f.name AS floor_name, f.building_id, b.name AS building_name \
             FROM floor_plans p LEFT JOIN floors f ON f.id = p.floor_id \
             LEFT JOIN buildings b ON b.id = f.building_id WHERE p.id = $1";
        type Row = (
            i64,
            String,
            i64,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = self.fetch_optional_by(SQL, floor_plan_id).await?;
        Ok(row.map(
            |(plan, plan_name, floor, floor_name, building, building_name)| DevicePlace {
                floor_plan_id: Some(plan),
                floor_plan_name: Some(plan_name),
                floor_id: Some(floor),
                floor_name,
                building_id: building,
                building_name,
                ..DevicePlace::default()
            },
        ))
    }

    /// A person's name; `None` when the person is gone.
    pub async fn person_name(&self, person_id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT full_name FROM people WHERE id = $1";
        let row: Option<(String,)> = self.fetch_optional_by(SQL, person_id).await?;
        Ok(row.map(|(name,)| name))
    }

    /// Who carries a tag; `None` when the tag is gone.
    pub async fn tag_subject(&self, tag_id: i64) -> Result<Option<TagSubject>> {
        const TAG: &str = "SELECT t.mac_address, t.person_id, p.full_name FROM tags t \
             LEFT JOIN people p ON p.id = t.person_id WHERE t.id = $1";
        const GROUPS: &str =
            "SELECT group_id FROM person_group_memberships WHERE person_id = $1 ORDER BY group_id";
        let Some((mac_address, person_id, person_full_name)) = self
            .fetch_optional_by::<(String, Option<i64>, Option<String>)>(TAG, tag_id)
            .await?
        else {
            return Ok(None);
        };
        let group_ids = match person_id {
            Some(person) => self
                .fetch_all_by::<(i64,)>(GROUPS, person)
                .await?
                .into_iter()
                .map(|(g,)| g)
                .collect(),
            None => Vec::new(),
        };
        Ok(Some(TagSubject {
            tag_id,
            mac_address,
            person_id,
            person_full_name,
            group_ids,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::assert_searches_along;

    /// Each filter, alone or with others, reads its events along an index in the list's
    /// order and stops at the page's end: no walk over the events filtered row by row.
    #[tokio::test]
    async fn every_list_of_alert_events_reads_along_an_index() {
        let all = EventFilter {
            rule_id: Some(1),
            event_type: Some("dwell".into()),
            person_id: Some(2),
            tag_id: Some(3),
            device_id: Some(4),
            is_open: Some(false),
            from: Some(Utc::now()),
            to: Some(Utc::now()),
        };
        for (filter, index) in [
            (EventFilter::default(), "ix_alert_events_started_at"),
            (
                EventFilter {
                    from: all.from,
                    ..Default::default()
                },
                "ix_alert_events_started_at",
            ),
            (all.clone(), "ix_alert_events_tag_time"),
            (
                EventFilter {
                    tag_id: None,
                    ..all.clone()
                },
                "ix_alert_events_person_time",
            ),
            (
                EventFilter {
                    device_id: all.device_id,
                    is_open: Some(true),
                    ..Default::default()
                },
                "ix_alert_events_device_time",
            ),
            (
                EventFilter {
                    rule_id: all.rule_id,
                    event_type: all.event_type.clone(),
                    ..Default::default()
                },
                "ix_alert_events_rule_time",
            ),
            (
                EventFilter {
                    is_open: Some(true),
                    event_type: all.event_type.clone(),
                    ..Default::default()
                },
                "ix_alert_events_open_time",
            ),
            (
                EventFilter {
                    is_open: Some(false),
                    event_type: all.event_type.clone(),
                    ..Default::default()
                },
                "ix_alert_events_event_type_time",
            ),
            (
                EventFilter {
                    is_open: Some(false),
                    to: all.to,
                    ..Default::default()
                },
                "ix_alert_events_open_time",
            ),
        ] {
            assert_searches_along(alert_event_list(&filter), index).await;
        }
    }

    /// The engine's start reads the open events along their index, not every event.
    #[tokio::test]
    async fn the_open_events_are_read_along_an_index() {
        assert_searches_along(OPEN_ALERT_EVENTS, "ix_alert_events_open_time").await;
    }
}
