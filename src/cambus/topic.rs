//! The CAM-BUS topic grammar (the original collectors' `<tree>/<tenant>/<building>/<floor>/camera/<code>/…`), the publisher's slug, and the pieces of
//! a camera payload the appliance reads. Pure functions, table-tested.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::Value;

/// Analytic names longer than this are refused (the column's limit).
pub const MAX_ANALYTIC_LEN: usize = 64;
/// Larger camera payloads are refused (events carry metadata and image URLs, not images).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// What a topic under the camera tree is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraTopic {
    /// `<tree>/<tenant>/<building>/collector/status`
    CollectorStatus { tenant: String, building: String },
    /// `<tree>/<tenant>/<building>/<floor>/camera/<code>/info` — the appliance's own
    /// configuration channel, never stored as an event.
    Info { code: String },
    /// `<tree>/<tenant>/<building>/<floor>/camera/<code>/status`
    Status { code: String },
    /// `<tree>/<tenant>/<building>/<floor>/camera/<code>/<analytic>/events`
    Event { code: String, analytic: String },
}

/// Why a camera-tree message was refused; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraRejection {
    /// Not one of the grammars, or a device type other than `camera`.
    UnknownTopic,
    /// The analytic segment is longer than [`MAX_ANALYTIC_LEN`].
    AnalyticTooLong,
    /// The payload is not a JSON object.
    Malformed,
    /// No camera has this code (or slug of it).
    UnknownCamera,
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    TooLarge,
}

impl CameraRejection {
    pub const ALL: [CameraRejection; 5] = [
        CameraRejection::UnknownTopic,
        CameraRejection::AnalyticTooLong,
        CameraRejection::Malformed,
        CameraRejection::UnknownCamera,
        CameraRejection::TooLarge,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CameraRejection::UnknownTopic => "unknown_topic",
            CameraRejection::AnalyticTooLong => "analytic_too_long",
            CameraRejection::Malformed => "malformed",
            CameraRejection::UnknownCamera => "unknown_camera",
            CameraRejection::TooLarge => "too_large",
        }
    }
}

/// Parses a topic of the camera tree `tree` (as the original did, longer topics are read
/// with the same segment positions).
pub fn parse(topic: &str, tree: &str) -> Result<CameraTopic, CameraRejection> {
    let rest = topic
        .strip_prefix(tree)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or(CameraRejection::UnknownTopic)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let last = *segments.last().unwrap_or(&"");
    if segments.len() == 4 && segments[2] == "collector" && last == "status" {
        return Ok(CameraTopic::CollectorStatus {
            tenant: segments[0].to_string(),
            building: segments[1].to_string(),
        });
    }
    let camera = |min_len: usize| -> Result<String, CameraRejection> {
        if segments.len() < min_len || segments[3] != "camera" || segments[4].is_empty() {
            return Err(CameraRejection::UnknownTopic);
        }
        Ok(segments[4].to_string())
    };
    match last {
        "info" => Ok(CameraTopic::Info { code: camera(6)? }),
        "status" => Ok(CameraTopic::Status { code: camera(6)? }),
        "events" => {
            let code = camera(7)?;
            let analytic = segments[5];
            if analytic.is_empty() {
                return Err(CameraRejection::UnknownTopic);
            }
            if analytic.chars().count() > MAX_ANALYTIC_LEN {
                return Err(CameraRejection::AnalyticTooLong);
            }
            Ok(CameraTopic::Event {
                code,
                analytic: analytic.to_string(),
            })
        }
        _ => Err(CameraRejection::UnknownTopic),
    }
}

/// The publisher's slug of a name, as the original made it: trimmed, `default` when empty,
/// lower-case, spaces to `_`, `/` to `-`. Unlike the original, MQTT wildcards (`+`, `#`)
/// also become `-`: a name holding one would give a topic nobody can publish to.
pub fn slug(name: &str, default: &str) -> String {
    let name = name.trim();
    let name = if name.is_empty() { default } else { name };
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            ' ' => '_',
            '/' | '+' | '#' => '-',
            c => c,
        })
        .collect()
}

/// The topic segment that names a camera: the publisher slug of its code, or
/// `device<id>` for a camera without one.
pub fn camera_segment(camera: &crate::store::devices::Device) -> String {
    let code = camera
        .code
        .clone()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| format!("device{}", camera.id));
    slug(&code, "camera")
}

/// A camera's analytics: its own list, or its manufacturer's defaults.
pub fn camera_analytics(camera: &crate::store::devices::Device) -> Vec<String> {
    match &camera.analytics {
        Some(list) if !list.0.is_empty() => list.0.clone(),
        _ => default_analytics(camera.manufacturer.as_deref()),
    }
}

/// The analytics a camera publishes when none are configured, by manufacturer.
pub fn default_analytics(manufacturer: Option<&str>) -> Vec<String> {
    let manufacturer = manufacturer.unwrap_or_default().to_lowercase();
    let names: &[&str] = if manufacturer.contains("hikvision") {
        &["faceCapture", "VMD"]
    } else if manufacturer.contains("dahua") {
        &[
            "FaceDetection",
            "CrossLineDetection",
            "CrossRegionDetection",
        ]
    } else {
        &["faceCapture"]
    };
    names.iter().map(std::string::ToString::to_string).collect()
}

/// The fields a camera payload may carry its time in, in order of preference.
pub const PAYLOAD_TIME_KEYS: [&str; 3] = ["Timestamp", "timestamp", "dateTime"];

/// The event time a payload gives (`Timestamp`, `timestamp` or `dateTime`: RFC 3339, a
/// time without zone read as UTC, or epoch seconds/milliseconds), as text and as a time.
/// Only a time within the last 30 days and at most a minute ahead is trusted.
pub fn payload_time(payload: &Value, now: DateTime<Utc>) -> Option<(String, DateTime<Utc>)> {
    ["Timestamp", "timestamp", "dateTime"]
        .iter()
        .find_map(|key| {
            let value = payload.get(key)?;
            let text = match value {
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let at = parse_time(&text)?;
            (at > now - Duration::days(30) && at < now + Duration::seconds(60))
                .then_some((text, at))
        })
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(number) = text.parse::<f64>() {
        let millis = if number > 1e11 {
            number
        } else {
            number * 1000.0
        };
        return DateTime::from_timestamp_millis(millis as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

/// The analytic type of an info or status message: the payload's `AnalyticType`,
/// `analyticType` or `eventType`, else the message kind.
pub fn status_analytic(payload: &Value, fallback: &str) -> String {
    ["AnalyticType", "analyticType", "eventType"]
        .iter()
        .find_map(|k| payload.get(k)?.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map_or_else(
            || fallback.to_string(),
            |s| s.chars().take(MAX_ANALYTIC_LEN).collect(),
        )
}

/// Whether a status payload says the camera is offline (`"offline"`, or an object whose
/// `status`/`Status`/`state` is "offline", or `online: false`).
pub fn says_offline(payload: &Value) -> bool {
    let offline = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("offline"))
    };
    offline(payload)
        || ["status", "Status", "state", "State"]
            .iter()
            .any(|k| payload.get(k).is_some_and(offline))
        || payload.get("online") == Some(&Value::Bool(false))
}

/// The recognised person's name in a face-recognition event.
pub fn recognised_name(payload: &Value) -> Option<&str> {
    let meta = payload.get("Meta")?;
    ["ff_person_name", "person_name"]
        .iter()
        .find_map(|k| meta.get(k)?.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TREE: &str = "rtls/cameras";

    #[test]
    fn topics_of_the_grammar() {
        let code = |c: &str| c.to_string();
        let cases = [
            (
                "rtls/cameras/acme/hq/collector/status",
                Ok(CameraTopic::CollectorStatus {
                    tenant: code("acme"),
                    building: code("hq"),
                }),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera/cam-1/info",
                Ok(CameraTopic::Info {
                    code: code("cam-1"),
                }),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera/cam-1/status",
                Ok(CameraTopic::Status {
                    code: code("cam-1"),
                }),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera/cam-1/x/y/status",
                Ok(CameraTopic::Status {
                    code: code("cam-1"),
                }),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera/cam-1/faceCapture/events",
                Ok(CameraTopic::Event {
                    code: code("cam-1"),
                    analytic: code("faceCapture"),
                }),
            ),
            (
                "rtls/cameras/acme/hq/f1/nvr/cam-1/status",
                Err(CameraRejection::UnknownTopic),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera//status",
                Err(CameraRejection::UnknownTopic),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera/cam-1/events",
                Err(CameraRejection::UnknownTopic),
            ),
            (
                "rtls/cameras/acme/hq/f1/camera/cam-1/other",
                Err(CameraRejection::UnknownTopic),
            ),
            (
                "rtls/camerasX/acme/hq/f1/camera/c/status",
                Err(CameraRejection::UnknownTopic),
            ),
            (
                "rtls/gateways/AC233FC00001/status",
                Err(CameraRejection::UnknownTopic),
            ),
        ];
        for (topic, expected) in cases {
            assert_eq!(parse(topic, TREE), expected, "{topic}");
        }
        let long = format!("rtls/cameras/a/b/c/camera/d/{}/events", "x".repeat(65));
        assert_eq!(parse(&long, TREE), Err(CameraRejection::AnalyticTooLong));
    }

    #[test]
    fn publisher_slugs() {
        assert_eq!(slug("  Main Building ", "building"), "main_building");
        assert_eq!(slug("", "building"), "building");
        assert_eq!(slug("A/B", "x"), "a-b");
        assert_eq!(slug("Térreo", "x"), "térreo");
        assert_eq!(slug("lab+#1", "x"), "lab--1");
    }

    #[test]
    fn analytics_by_manufacturer() {
        assert_eq!(
            default_analytics(Some("HIKVISION Digital")),
            ["faceCapture", "VMD"]
        );
        assert_eq!(default_analytics(Some("Dahua")).len(), 3);
        assert_eq!(default_analytics(None), ["faceCapture"]);
    }

    #[test]
    fn payload_times() {
        let now = "2026-11-28T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = |p: Value| payload_time(&p, now).map(|(_, t)| t.to_rfc3339());
        assert_eq!(
            at(json!({"Timestamp": "2026-11-28T11:59:00Z"})).as_deref(),
            Some("2026-11-28T11:59:00+00:00")
        );
        assert_eq!(
            at(json!({"dateTime": "2026-11-28T13:59:00+02:00"})).as_deref(),
            Some("2026-11-28T11:59:00+00:00")
        );
        assert_eq!(
            at(json!({"timestamp": "2026-11-28 11:00:00"})).as_deref(),
            Some("2026-11-28T11:00:00+00:00"),
            "no zone: UTC"
        );
        assert_eq!(
            at(json!({"timestamp": 1_795_852_800})).as_deref(),
            Some("2026-11-28T08:00:00+00:00")
        );
        assert_eq!(
            at(json!({"timestamp": "2026-12-28T11:00:00Z"})),
            None,
            "future"
        );
        assert_eq!(
            at(json!({"timestamp": "2020-01-01T00:00:00Z"})),
            None,
            "too old"
        );
        assert_eq!(at(json!({"timestamp": "yesterday"})), None);
        assert_eq!(at(json!({})), None);
    }

    #[test]
    fn statuses_and_names() {
        assert!(says_offline(&json!("offline")));
        assert!(says_offline(&json!({"status": "OFFLINE"})));
        assert!(says_offline(&json!({"online": false})));
        assert!(!says_offline(&json!({"status": "online"})));
        assert_eq!(
            status_analytic(&json!({"eventType": "heartbeat"}), "cambus_status"),
            "heartbeat"
        );
        assert_eq!(
            status_analytic(&json!({}), "cambus_status"),
            "cambus_status"
        );
        assert_eq!(
            recognised_name(&json!({"Meta": {"ff_person_name": " Ana Souza "}})),
            Some("Ana Souza")
        );
        assert_eq!(recognised_name(&json!({"Meta": {}})), None);
    }
}
