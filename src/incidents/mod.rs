//! The incident desk's rules, shared by the API and the incident service: statuses and
//! their transitions, SLA defaults, the kind a camera analytic implies, templates, and the
//! SYSTEM messages that tell each change.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::store::incidents::{Incident, NewMessage};

pub mod evidence;
pub mod service;

pub const STATUSES: &[&str] = &[
    "OPEN",
    "IN_PROGRESS",
    "RESOLVED",
    "FALSE_POSITIVE",
    "CANCELED",
];
pub const SEVERITIES: &[&str] = &["LOW", "MEDIUM", "HIGH", "CRITICAL"];
/// What operators may post; SYSTEM and MEDIA are the appliance's own (the original let a
/// client post SYSTEM, D16).
pub const POSTED_MESSAGE_TYPES: &[&str] = &["TEXT", "COMMENT"];

pub const SYSTEM: &str = "SYSTEM";
pub const MEDIA: &str = "MEDIA";
/// The author of the appliance's messages, as the original named it.
pub const SYSTEM_AUTHOR: &str = "Sistema";
pub const RULE_AUTHOR: &str = "Sistema (regra de incidente)";

/// Longest SLA accepted: a year.
pub const MAX_SLA_MINUTES: i32 = 525_600;

pub fn is_active(status: &str) -> bool {
    matches!(status, "OPEN" | "IN_PROGRESS")
}

/// Why a status may not follow another (a closed incident is reopened before it is closed
/// otherwise), if it may not.
pub fn refused_transition(from: &str, to: &str) -> Option<String> {
    (!is_active(from) && !is_active(to) && from != to).then(|| {
        format!(
            "status: an incident {from} cannot become {to}; reopen it (OPEN or IN_PROGRESS) first"
        )
    })
}

/// The SLA of a severity when neither the incident nor its group gives one.
pub fn default_sla_minutes(severity: &str) -> i32 {
    match severity {
        "CRITICAL" => 15,
        "HIGH" => 60,
        "LOW" => 1440,
        _ => 240,
    }
}

/// `created_at` + the SLA.
pub fn due_at(created_at: DateTime<Utc>, sla_minutes: i32) -> DateTime<Utc> {
    created_at + Duration::minutes(i64::from(sla_minutes))
}

/// Whether an active incident is past its due time.
pub fn overdue(i: &Incident, now: DateTime<Utc>) -> bool {
    is_active(&i.status) && i.due_at.is_some_and(|due| due < now)
}

/// The incident kind a camera analytic implies (the original's order of tests).
pub fn kind_of_analytic(analytic: &str) -> &'static str {
    let a = analytic.to_lowercase();
    if a.contains("offline") || a.contains("status") {
        "CAMERA_OFFLINE"
    } else if a.contains("face") {
        "CAMERA_FACE"
    } else if a.contains("intrusion") || a.contains("alarm") {
        "CAMERA_INTRUSION"
    } else if a.contains("tamper") {
        "CAMERA_TAMPER"
    } else {
        "CAMERA_EVENT"
    }
}

/// The fields an incident rule's templates may use.
pub const CAMERA_TEMPLATE_FIELDS: &[&str] = &[
    "analytic_type",
    "camera_name",
    "rule_name",
    "device_id",
    "device_code",
    "event_id",
    "tenant",
];
/// The fields an alert rule's incident templates may use.
pub const ALERT_TEMPLATE_FIELDS: &[&str] = &[
    "rule_name",
    "event_type",
    "message",
    "alert_event_id",
    "device_id",
];

/// The first `{field}` of `template` that is not among `allowed`, or an unbalanced brace.
pub fn template_problem(template: &str, allowed: &[&str]) -> Option<String> {
    let mut rest = template;
    while let Some(start) = rest.find(['{', '}']) {
        if rest[start..].starts_with('}') {
            return Some("a '}' without its '{'".into());
        }
        let Some(len) = rest[start..].find('}') else {
            return Some("a '{' without its '}'".into());
        };
        let name = &rest[start + 1..start + len];
        if !allowed.contains(&name) {
            return Some(format!(
                "unknown field {{{name}}}; the fields are: {}",
                allowed
                    .iter()
                    .map(|f| format!("{{{f}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        rest = &rest[start + len + 1..];
    }
    None
}

/// `template` with each `{field}` replaced, or `None` when it is blank or names a field
/// it may not (the caller then uses its default).
pub fn render(template: Option<&str>, fields: &[(&str, String)]) -> Option<String> {
    let template = template.map(str::trim).filter(|t| !t.is_empty())?;
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    if template_problem(template, &names).is_some() {
        return None;
    }
    let mut text = template.to_string();
    for (name, value) in fields {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    Some(text)
}

/// At most `max` characters of `text`.
pub fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// A SYSTEM message.
pub fn system_message(author: &str, content: String) -> NewMessage {
    NewMessage {
        message_type: SYSTEM.into(),
        author_name: Some(author.into()),
        content,
        ..NewMessage::default()
    }
}

/// The SYSTEM message of a status change (the original's words).
pub fn status_message(from: &str, to: &str, by: &str) -> NewMessage {
    system_message(
        SYSTEM_AUTHOR,
        format!("Status alterado de {from} para {to} por {by}."),
    )
}

/// A text value of a camera event's payload, under any of `keys`.
pub fn payload_text<'a>(payload: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The summary of a camera event in an incident's first SYSTEM message: when, where and
/// who was recognised.
pub fn camera_event_summary(
    analytic: &str,
    camera: &str,
    at: DateTime<Utc>,
    payload: &Value,
) -> String {
    let mut text = format!(
        "Evento {analytic} na câmera {camera} em {}.",
        at.to_rfc3339()
    );
    if let Some(building) = payload_text(payload, &["Building", "building"]) {
        text.push_str(&format!(" Prédio: {building}."));
    }
    if let Some(floor) = payload_text(payload, &["Floor", "floor"]) {
        text.push_str(&format!(" Andar: {floor}."));
    }
    let meta = payload.get("Meta").unwrap_or(&Value::Null);
    if let Some(person) = payload_text(meta, &["ff_person_name", "person_name"]) {
        text.push_str(&format!(" Pessoa reconhecida: {person}"));
        if let Some(confidence) = meta
            .get("ff_confidence")
            .or_else(|| meta.get("confidence"))
            .and_then(Value::as_f64)
        {
            text.push_str(&format!(" ({:.0}%)", confidence * 100.0));
        }
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_only_their_fields() {
        assert_eq!(
            template_problem("{camera_name}: {analytic_type}", CAMERA_TEMPLATE_FIELDS),
            None
        );
        assert!(
            template_problem("{nope}", CAMERA_TEMPLATE_FIELDS)
                .unwrap()
                .contains("{nope}")
        );
        assert!(template_problem("a {b", CAMERA_TEMPLATE_FIELDS).is_some());
        let fields = [("camera_name", "Hall".to_string())];
        assert_eq!(
            render(Some("Cam {camera_name}"), &fields).as_deref(),
            Some("Cam Hall")
        );
        assert_eq!(render(Some("{other}"), &fields), None);
        assert_eq!(render(Some("  "), &fields), None);
    }

    #[test]
    fn closed_incidents_reopen_before_closing_otherwise() {
        assert!(refused_transition("OPEN", "RESOLVED").is_none());
        assert!(refused_transition("RESOLVED", "OPEN").is_none());
        assert!(refused_transition("RESOLVED", "RESOLVED").is_none());
        assert!(refused_transition("RESOLVED", "CANCELED").is_some());
    }

    #[test]
    fn kinds_follow_the_original_order() {
        assert_eq!(kind_of_analytic("cambus_status"), "CAMERA_OFFLINE");
        assert_eq!(kind_of_analytic("FaceRecognized"), "CAMERA_FACE");
        assert_eq!(kind_of_analytic("IntrusionDetection"), "CAMERA_INTRUSION");
        assert_eq!(kind_of_analytic("tampering"), "CAMERA_TAMPER");
        assert_eq!(kind_of_analytic("LineCrossing"), "CAMERA_EVENT");
    }
}
