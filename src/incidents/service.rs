//! The incident service: opens incidents from camera events (incident rules) and from
//! alerts (alert rules with `create_incident`), and closes an alert's incident when the
//! alert ends (`incident_auto_close_on_end`).
//!
//! It reads what to do from the database, after its cursors (camera events and alert events
//! by id, kept in the database: a restart or a takeover by another node goes on where the
//! last leader stopped), and is woken by the bus: a missed bus event (a lagging receiver)
//! only delays the work to the next wake or tick, and nothing is done twice (an event's
//! incident per rule is unique; an alert event points at its incident). An event whose
//! incident could not be made is tried again at the next wake or tick, a few times.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::{
    RULE_AUTHOR, SYSTEM_AUTHOR, camera_event_summary, default_sla_minutes, due_at,
    kind_of_analytic, payload_text, render, status_message, system_message, truncate,
};
use crate::config::Config;
use crate::events::{Event, EventBus, EventType, payload};
use crate::metrics::Metrics;
use crate::store::cambus::CameraEvent;
use crate::store::groups::SupportGroup;
use crate::store::incidents::{AlertForIncident, Incident, IncidentMessage};
use crate::store::{Store, StoreError, now};

/// Without a wake, the service looks again this often.
const TICK: Duration = Duration::from_secs(5);
/// Camera events read at once.
const BATCH: i64 = 500;
/// How many times in a row an event is tried before it is passed over: a failure that does
/// not go away must not hold back every event after it.
const ATTEMPTS: u32 = 3;

pub struct IncidentService {
    store: Store,
    events: EventBus,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    /// The last camera event and alert event judged (saved after each pass).
    camera_cursor: i64,
    alert_cursor: i64,
    camera_failing: Failing,
    alert_failing: Failing,
}

/// The event that failed last, and how many times in a row.
#[derive(Debug, Default)]
struct Failing {
    id: i64,
    attempts: u32,
}

impl Failing {
    /// Counts a failure of `what` `id`; true while it is to be tried again (it then stays
    /// past the cursor), false when it is passed over (logged).
    fn try_again(&mut self, id: i64, what: &str) -> bool {
        if self.id != id {
            *self = Failing { id, attempts: 0 };
        }
        self.attempts += 1;
        if self.attempts < ATTEMPTS {
            return true;
        }
        tracing::error!(
            id,
            "incidents: {what} {id} passed over after {ATTEMPTS} failed attempts"
        );
        false
    }
}

impl IncidentService {
    /// Starts where the last leader stopped, or at the first start after what is stored
    /// then: call it before the camera collector and the alert engine start.
    pub async fn new(
        store: Store,
        events: EventBus,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
    ) -> crate::store::Result<Self> {
        let (camera_cursor, alert_cursor) = store.incident_cursors().await?;
        Ok(IncidentService {
            store,
            events,
            config,
            metrics,
            camera_cursor,
            alert_cursor,
            camera_failing: Failing::default(),
            alert_failing: Failing::default(),
        })
    }

    /// Runs until `shutdown`; `bus` subscribed before the collector and the engine start.
    pub async fn run(mut self, mut bus: Receiver<Event>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            let (cameras, alerts) = tokio::select! {
                () = shutdown.cancelled() => break,
                _ = tick.tick() => (true, true),
                received = bus.recv() => match received {
                    Ok(event) => match event.event_type {
                        EventType::CameraEvent => (true, false),
                        EventType::AlertOpened | EventType::AlertClosed => (false, true),
                        _ => continue,
                    },
                    Err(RecvError::Lagged(_)) => (true, true),
                    Err(RecvError::Closed) => break,
                },
            };
            if cameras {
                self.camera_events().await;
            }
            if alerts {
                self.alerts().await;
            }
            if let Err(err) = self
                .store
                .save_incident_cursors(self.camera_cursor, self.alert_cursor)
                .await
            {
                self.failed("could not save how far it got", &err);
            }
        }
    }

    fn failed(&self, what: &str, err: &StoreError) {
        self.metrics
            .incident_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %err, "incidents: {what}");
    }

    async fn camera_events(&mut self) {
        loop {
            let batch = match self
                .store
                .camera_events_after(self.camera_cursor, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(err) => return self.failed("could not read camera events", &err),
            };
            for event in &batch {
                if let Err(err) = self.apply_rules(event).await {
                    self.failed("an incident rule could not apply", &err);
                    if self.camera_failing.try_again(event.id, "camera event") {
                        return;
                    }
                }
                self.camera_cursor = event.id;
            }
            if batch.len() < BATCH as usize {
                return;
            }
        }
    }

    /// Every matching rule applies: a new incident, or within the rule's cool-down on this
    /// camera a message on the incident it opened.
    async fn apply_rules(&self, event: &CameraEvent) -> crate::store::Result<()> {
        let analytic = event.analytic_type.trim();
        let tenant = payload_text(&event.payload, &["tenant", "Tenant"]);
        // A camera's status and configuration messages are stored as events too.
        let status_message = analytic.starts_with("cambus_")
            || event.topic.ends_with("/status")
            || event.topic.ends_with("/info");
        let rules = self
            .store
            .matching_incident_rules(event.device_id, analytic, tenant, status_message)
            .await?;
        if rules.is_empty() {
            return Ok(());
        }
        let camera = match self.store.device(event.device_id).await {
            Ok(camera) => camera,
            Err(StoreError::NotFound) => return Ok(()),
            Err(err) => return Err(err),
        };
        let camera_name = if camera.name.trim().is_empty() {
            format!("CAM {}", camera.id)
        } else {
            camera.name.clone()
        };
        let summary =
            camera_event_summary(analytic, &camera_name, event.occurred_at, &event.payload);
        let cooldown =
            chrono::Duration::seconds(i64::from(self.config.incidents.rule_cooldown_seconds));
        for rule in rules {
            if rule.camera_group_scoped && rule.camera_group_id.is_none() {
                self.metrics
                    .incident_rules_orphaned
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    rule = rule.id,
                    "incident rule skipped: its camera group was deleted"
                );
                continue;
            }
            if !cooldown.is_zero()
                && let Some(open) = self
                    .store
                    .recent_rule_incident(rule.id, camera.id, now() - cooldown)
                    .await?
            {
                // This event's own incident: it is being judged again (after a failure).
                if open.device_event_id == Some(event.id) {
                    continue;
                }
                let message = system_message(
                    RULE_AUTHOR,
                    format!(
                        "Novo evento {} ({analytic}) da regra '{}'. {summary}",
                        event.id, rule.name
                    ),
                );
                let added = self.store.add_incident_message(open.id, &message).await?;
                self.announce_messages(&[added]);
                continue;
            }
            let fields = [
                ("analytic_type", analytic.to_string()),
                ("camera_name", camera_name.clone()),
                ("rule_name", rule.name.clone()),
                ("device_id", camera.id.to_string()),
                ("device_code", camera.code.clone().unwrap_or_default()),
                ("event_id", event.id.to_string()),
                ("tenant", tenant.unwrap_or_default().to_string()),
            ];
            let title = render(rule.title_template.as_deref(), &fields)
                .unwrap_or_else(|| format!("[AUTO] {analytic} na câmera {camera_name}"));
            let description =
                render(rule.description_template.as_deref(), &fields).unwrap_or_else(|| {
                    format!(
                        "Incidente criado automaticamente pela regra '{}' ao receber o evento {} \
                         ({analytic}) da câmera {camera_name}.",
                        rule.name, event.id
                    )
                });
            let sla = self
                .group_sla(rule.assigned_group_id, &rule.severity)
                .await?;
            let created = now();
            let incident = Incident {
                device_id: Some(camera.id),
                device_event_id: Some(event.id),
                kind: kind_of_analytic(analytic).into(),
                tenant: payload_text(&event.payload, &["tenant"])
                    .map(str::to_string)
                    .or_else(|| rule.tenant.clone()),
                status: "OPEN".into(),
                severity: rule.severity.clone(),
                title: truncate(&title, 255),
                description: Some(description),
                sla_minutes: Some(sla),
                due_at: Some(due_at(created, sla)),
                created_at: created,
                assigned_to_user_id: rule.assigned_to_user_id,
                assigned_group_id: rule.assigned_group_id,
                incident_rule_id: Some(rule.id),
                ..Incident::default()
            };
            let message = system_message(
                RULE_AUTHOR,
                format!(
                    "Incidente criado pela regra '{}' para o evento {} na câmera {camera_name}. \
                     {summary} Severidade: {}.",
                    rule.name, event.id, rule.severity
                ),
            );
            match self.store.save_incident(&incident, None, &[message]).await {
                Ok((saved, messages)) => {
                    self.announce(&saved, &messages);
                    super::evidence::attach_in_background(
                        self.store.clone(),
                        self.events.clone(),
                        self.config.clone(),
                        saved.id,
                        RULE_AUTHOR,
                        super::evidence::wanted(event),
                    );
                }
                // The event already has this rule's incident.
                Err(StoreError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// The SLA of a new incident: its support group's default, else the severity's.
    async fn group_sla(&self, group: Option<i64>, severity: &str) -> crate::store::Result<i32> {
        let group_default = match group {
            Some(id) => match self.store.fetch_by_id::<SupportGroup>(id).await {
                Ok(g) => g.default_sla_minutes,
                Err(StoreError::NotFound) => None,
                Err(err) => return Err(err),
            },
            None => None,
        };
        Ok(group_default.unwrap_or_else(|| default_sla_minutes(severity)))
    }

    async fn alerts(&mut self) {
        match self.store.alerts_wanting_incidents(self.alert_cursor).await {
            Ok(alerts) => {
                for alert in alerts {
                    if let Err(err) = self.open_for_alert(&alert).await {
                        self.failed("could not open an alert's incident", &err);
                        let id = alert.alert_event_id;
                        if self.alert_failing.try_again(id, "alert event") {
                            break;
                        }
                    }
                    self.alert_cursor = alert.alert_event_id;
                }
            }
            Err(err) => self.failed("could not read alert events", &err),
        }
        match self.store.incidents_to_auto_close().await {
            Ok(ended) => {
                for (incident, alert_id) in ended {
                    if let Err(err) = self.close_for_alert(incident, alert_id).await {
                        self.failed("could not close an alert's incident", &err);
                    }
                }
            }
            Err(err) => self.failed("could not read ended alerts", &err),
        }
    }

    async fn open_for_alert(&self, a: &AlertForIncident) -> crate::store::Result<()> {
        let message = a.message.clone().unwrap_or_else(|| a.event_type.clone());
        let fields = [
            ("rule_name", a.rule_name.clone()),
            ("event_type", a.event_type.clone()),
            ("message", message.clone()),
            ("alert_event_id", a.alert_event_id.to_string()),
            (
                "device_id",
                a.device_id.map(|d| d.to_string()).unwrap_or_default(),
            ),
        ];
        let title = render(a.incident_title_template.as_deref(), &fields)
            .unwrap_or_else(|| format!("[ALERTA] {}: {message}", a.rule_name));
        let description = render(a.incident_description_template.as_deref(), &fields)
            .unwrap_or_else(|| {
                format!(
                    "Incidente criado pela regra de alerta '{}' ao abrir o alerta {} ({}).",
                    a.rule_name, a.alert_event_id, a.event_type
                )
            });
        let sla = match a.incident_sla_minutes.filter(|m| *m > 0) {
            Some(sla) => sla,
            None => {
                self.group_sla(a.incident_assigned_group_id, &a.incident_severity)
                    .await?
            }
        };
        let created = now();
        let incident = Incident {
            device_id: a.device_id,
            kind: a
                .incident_kind
                .clone()
                .filter(|k| !k.trim().is_empty())
                .unwrap_or_else(|| a.event_type.clone()),
            status: "OPEN".into(),
            severity: a.incident_severity.clone(),
            title: truncate(&title, 255),
            description: Some(description),
            sla_minutes: Some(sla),
            due_at: Some(due_at(created, sla)),
            created_at: created,
            assigned_to_user_id: a.incident_assigned_to_user_id,
            assigned_group_id: a.incident_assigned_group_id,
            ..Incident::default()
        };
        let note = system_message(
            SYSTEM_AUTHOR,
            format!(
                "Incidente criado pela regra de alerta '{}' (alerta {}: {message}, desde {}).",
                a.rule_name,
                a.alert_event_id,
                a.started_at.to_rfc3339()
            ),
        );
        let (saved, messages) = match self
            .store
            .open_alert_incident(&incident, &[note], a.alert_event_id)
            .await
        {
            Ok(opened) => opened,
            // Another pass (or the node before a takeover) opened it.
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(err) => return Err(err),
        };
        self.announce(&saved, &messages);
        Ok(())
    }

    async fn close_for_alert(
        &self,
        mut incident: Incident,
        alert_id: i64,
    ) -> crate::store::Result<()> {
        let previous = std::mem::replace(&mut incident.status, "RESOLVED".into());
        incident.closed_at = Some(Utc::now());
        let messages = [
            system_message(
                SYSTEM_AUTHOR,
                format!("O alerta {alert_id} terminou: incidente encerrado automaticamente."),
            ),
            status_message(&previous, "RESOLVED", SYSTEM_AUTHOR),
        ];
        let (saved, added) = self.store.save_incident(&incident, None, &messages).await?;
        self.events.publish(
            EventType::IncidentStatusChanged,
            None,
            payload::incident(&saved, Some(&previous)),
        );
        self.announce_messages(&added);
        Ok(())
    }

    fn announce(&self, incident: &Incident, messages: &[IncidentMessage]) {
        self.events.publish(
            EventType::IncidentCreated,
            None,
            payload::incident(incident, None),
        );
        self.announce_messages(messages);
    }

    fn announce_messages(&self, messages: &[IncidentMessage]) {
        for m in messages {
            self.events.publish(
                EventType::IncidentMessageCreated,
                None,
                payload::incident_message(m, "system"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_tried_a_few_times_in_a_row_then_passed_over() {
        let mut failing = Failing::default();
        assert!(failing.try_again(7, "event") && failing.try_again(7, "event"));
        assert!(
            !failing.try_again(7, "event"),
            "the third failure in a row passes it over"
        );
        assert!(
            failing.try_again(8, "event"),
            "the next event starts again from one"
        );
    }
}
