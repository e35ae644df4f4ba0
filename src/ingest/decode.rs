//! Decoding gateway reports: every payload form and topic grammar a site's gateways use,
//! each turned into one normalised shape (who heard, which tags, how loud, when).
//!
//! Pure functions, table-tested below with documented sample payloads:
//! - the original backend's forms on the gateway tree (`<tree>/<gatewayMAC>/<kind>` or
//!   `<tree>/<tenant>/<building>/<floor>/gateway/<gatewayMAC>/<kind>`): a JSON array
//!   ("Minew" JSON-LONG batch), a flat object, and `{"readings": [...]}`;
//! - Ingics `$GPRP,<tag>,<gateway>,<rssi>,<adv>,<epoch>` text lines;
//! - ESPresense `<espresense tree>/devices/<device-id>/<room>`;
//! - Theengs / OpenMQTTGateway `<theengs tree>/<gateway>/BTtoMQTT/<MAC>`.
//!
//! Which grammar applies is decided by [`TopicTrees::classify`], the same function the
//! broker and external mode use to route messages here.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value};

use super::topics::{TopicKind, TopicTrees};
use crate::mac::{self, Mac};

/// How a gateway is known: by MAC (BLE gateways), or by a code for nodes that only have a
/// name (ESPresense rooms, OpenMQTTGateway names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GatewayKey {
    Mac(Mac),
    Code(String),
}

impl GatewayKey {
    /// Whether `name` (a client id or username) names this gateway: its MAC in any
    /// spelling, or the name an ESPresense room or OpenMQTTGateway node reports under.
    pub fn is_named_by(&self, name: &str) -> bool {
        match self {
            GatewayKey::Mac(mac) => mac::canonical(name) == Some(*mac),
            GatewayKey::Code(code) => code
                .split_once(':')
                .is_some_and(|(_, own)| own.eq_ignore_ascii_case(name)),
        }
    }
}

/// Where the topic says a gateway is (the long grammar).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub tenant: Option<String>,
    pub building: Option<String>,
    pub floor: Option<String>,
}

/// One tag heard by the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub tag: Mac,
    pub rssi: Option<i32>,
    /// The payload's own time, when present and sane.
    pub at: Option<DateTime<Utc>>,
    /// Distance the node computed itself (ESPresense), in metres.
    pub distance_m: Option<f64>,
}

/// A decoded message: the gateway and what it heard (possibly nothing: a heartbeat).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub gateway: GatewayKey,
    pub placement: Placement,
    pub sightings: Vec<Sighting>,
    /// Entries of the payload that were not usable (bad tag MAC, no RSSI …), counted.
    pub skipped: usize,
    /// The gateway said it is going offline (a last will or status message).
    pub offline: bool,
}

/// Why a message could not be used at all; each is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The topic is not one of the known grammars.
    UnknownTopic,
    /// No MAC or name identifies the gateway.
    NoGateway,
    /// Neither JSON nor a known text format.
    Malformed,
    /// More readings in one message than `ingest.max_readings_per_message`.
    TooManyReadings,
    /// A report for a gateway the publisher is not bound to (`ingest.gateway_binding`).
    GatewayNotBound,
}

impl Rejection {
    pub const ALL: [Rejection; 5] = [
        Rejection::UnknownTopic,
        Rejection::NoGateway,
        Rejection::Malformed,
        Rejection::TooManyReadings,
        Rejection::GatewayNotBound,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Rejection::UnknownTopic => "unknown_topic",
            Rejection::NoGateway => "no_gateway",
            Rejection::Malformed => "malformed",
            Rejection::TooManyReadings => "too_many_readings",
            Rejection::GatewayNotBound => "gateway_not_bound",
        }
    }
}

pub fn decode(
    topic: &str,
    payload: &[u8],
    trees: &TopicTrees,
    now: DateTime<Utc>,
) -> Result<Report, Rejection> {
    let kind = trees.classify(topic).ok_or(Rejection::UnknownTopic)?;
    let rest = trees.rest(topic, kind).ok_or(Rejection::UnknownTopic)?;
    match kind {
        TopicKind::Gateway => gateway_tree_report(rest, payload, now),
        TopicKind::Espresense => {
            let device_room = rest
                .strip_prefix("devices/")
                .ok_or(Rejection::UnknownTopic)?;
            espresense(device_room, payload, now)
        }
        TopicKind::Theengs => {
            let mut levels = rest.splitn(3, '/');
            let (gateway, _marker) = (levels.next().unwrap_or(""), levels.next());
            theengs(gateway, levels.next().unwrap_or(""), payload, now)
        }
        // The camera tree goes to the CAM-BUS collector, never here.
        TopicKind::Camera => Err(Rejection::UnknownTopic),
    }
}

/// `<gatewayMAC>[/<kind>]` or `<tenant>/<building>/<floor>/gateway/<gatewayMAC>[/<kind>]`.
fn gateway_tree_report(
    rest: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<Report, Rejection> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        return Err(Rejection::UnknownTopic);
    }
    let (placement, gateway_segment, kind) =
        if segments.len() >= 5 && segments[3].eq_ignore_ascii_case("gateway") {
            let placement = Placement {
                tenant: Some(segments[0].to_string()),
                building: Some(segments[1].to_string()),
                floor: Some(segments[2].to_string()),
            };
            (placement, segments[4], segments.get(5).copied())
        } else {
            (Placement::default(), segments[0], segments.get(1).copied())
        };
    let topic_gateway = mac::canonical(gateway_segment);
    let text = std::str::from_utf8(payload).map_err(|_| Rejection::Malformed)?;
    let trimmed = text.trim();

    if trimmed.starts_with('$') {
        let (gateway, sightings, skipped) = ingics(trimmed, now);
        let gateway = topic_gateway.or(gateway).ok_or(Rejection::NoGateway)?;
        return Ok(Report {
            gateway: GatewayKey::Mac(gateway),
            placement,
            sightings,
            skipped,
            offline: false,
        });
    }
    let offline_word = matches!(
        trimmed.to_ascii_lowercase().as_str(),
        "offline" | "\"offline\""
    );
    let value: Value = if trimmed.is_empty() || offline_word {
        Value::Null
    } else {
        serde_json::from_str(trimmed).map_err(|_| Rejection::Malformed)?
    };
    let mut report = Report {
        gateway: GatewayKey::Code(String::new()),
        placement,
        sightings: Vec::new(),
        skipped: 0,
        offline: offline_word || is_offline_status(&value, kind),
    };
    let mut payload_gateway = None;
    match &value {
        Value::Array(records) => {
            for record in records {
                let Some(object) = record.as_object() else {
                    report.skipped += 1;
                    continue;
                };
                let kind = text_field(object, &["type"]).map(|t| t.to_ascii_lowercase());
                if kind.as_deref() == Some("gateway") {
                    payload_gateway = payload_gateway
                        .or_else(|| text_field(object, &["mac"]).and_then(|m| mac::canonical(&m)));
                    continue;
                }
                let is_detection = matches!(
                    kind.as_deref(),
                    Some("ibeacon" | "beacon" | "tag" | "eddystone")
                ) || object.contains_key("rssi")
                    || object.contains_key("RSSI");
                if is_detection {
                    push_sighting(&mut report, object, &["mac", "tag_mac"], now);
                }
            }
        }
        Value::Object(object) => {
            payload_gateway =
                text_field(object, &["gateway_mac", "gateway", "gw_mac", "device_mac"])
                    .and_then(|m| mac::canonical(&m));
            if let Some(Value::Array(readings)) = object.get("readings") {
                for reading in readings {
                    match reading.as_object() {
                        Some(r) => {
                            push_sighting(
                                &mut report,
                                r,
                                &["tag_mac", "mac", "tag", "tagMac"],
                                now,
                            );
                        }
                        None => report.skipped += 1,
                    }
                }
            } else if text_field(object, &["tag_mac", "tag", "tagMac"]).is_some()
                || (object.contains_key("mac")
                    && (object.contains_key("rssi") || object.contains_key("RSSI")))
            {
                push_sighting(
                    &mut report,
                    object,
                    &["tag_mac", "tag", "tagMac", "mac"],
                    now,
                );
            }
        }
        // Status words, numbers, null: a heartbeat.
        _ => {}
    }
    let gateway = topic_gateway
        .or(payload_gateway)
        .ok_or(Rejection::NoGateway)?;
    report.gateway = GatewayKey::Mac(gateway);
    Ok(report)
}

/// A status message saying the gateway is going away: `{"status":"offline"}`,
/// `{"online":false}`.
fn is_offline_status(value: &Value, kind: Option<&str>) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    let status_word =
        text_field(object, &["status", "state"]).is_some_and(|s| s.eq_ignore_ascii_case("offline"));
    let online_false = object.get("online").and_then(Value::as_bool) == Some(false);
    (status_word || online_false)
        && kind.is_none_or(|k| k.eq_ignore_ascii_case("status") || k.eq_ignore_ascii_case("lwt"))
}

fn push_sighting(
    report: &mut Report,
    record: &Map<String, Value>,
    mac_keys: &[&str],
    now: DateTime<Utc>,
) {
    let tag = text_field(record, mac_keys).and_then(|m| mac::canonical(&m));
    match tag {
        Some(tag) => report.sightings.push(Sighting {
            tag,
            rssi: rssi_field(record),
            at: timestamp_field(record, now),
            distance_m: None,
        }),
        None => report.skipped += 1,
    }
}

/// The first present key as text (strings as they are, numbers written out).
fn text_field(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match object.get(*k)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// RSSI in dBm from `rssi`/`RSSI` (number or numeric string), within what radios report.
fn rssi_field(object: &Map<String, Value>) -> Option<i32> {
    let value = object.get("rssi").or_else(|| object.get("RSSI"))?;
    let number = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (-150.0..=20.0)
        .contains(&number)
        .then_some(number.round() as i32)
}

fn timestamp_field(object: &Map<String, Value>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    ["timestamp", "ts", "time"]
        .iter()
        .find_map(|k| parse_time(object.get(*k)?, now))
}

/// A payload time: epoch seconds or milliseconds, or RFC 3339. Only a time within the
/// last day and no more than a minute ahead is trusted (gateway clocks drift or are unset).
pub fn parse_time(value: &Value, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let at = match value {
        Value::Number(n) => epoch(n.as_f64()?),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(number) => epoch(number),
            Err(_) => DateTime::parse_from_rfc3339(s.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        },
        _ => None,
    }?;
    (at > now - Duration::days(1) && at < now + Duration::seconds(60)).then_some(at)
}

fn epoch(number: f64) -> Option<DateTime<Utc>> {
    let millis = if number > 1e11 {
        number
    } else {
        number * 1000.0
    };
    Utc.timestamp_millis_opt(millis as i64).single()
}

/// Ingics lines: `$GPRP,<tag>,<gateway>,<rssi>,<adv>[,<epoch>]`, one per advertisement;
/// `$RSPR` (scan responses) and the BLE 5 types read the same way, `$HBRP` heartbeats
/// carry no tag.
fn ingics(text: &str, now: DateTime<Utc>) -> (Option<Mac>, Vec<Sighting>, usize) {
    let mut gateway = None;
    let mut sightings = Vec::new();
    let mut skipped = 0;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let kind = fields[0].trim_start_matches('$');
        if fields.len() >= 3 {
            gateway = gateway.or_else(|| mac::canonical(fields[2]));
        }
        if kind == "HBRP" {
            continue;
        }
        let known = matches!(kind, "GPRP" | "RSPR" | "LRAD" | "LRSR" | "1MAD" | "1MSR");
        let tag = fields.get(1).and_then(|t| mac::canonical(t));
        let rssi = fields
            .get(3)
            .and_then(|r| r.parse::<i32>().ok())
            .filter(|r| (-150..=20).contains(r));
        match (known, tag, rssi) {
            (true, Some(tag), Some(rssi)) => sightings.push(Sighting {
                tag,
                rssi: Some(rssi),
                at: fields
                    .get(5)
                    .and_then(|t| parse_time(&Value::String((*t).to_string()), now)),
                distance_m: None,
            }),
            _ => skipped += 1,
        }
    }
    (gateway, sightings, skipped)
}

/// ESPresense: `espresense/devices/<device-id>/<room>`, one message per tag per node; the
/// node is known by its room name. Device ids that are not MACs (`iBeacon:…`, `apple:…`)
/// cannot be matched to a registered tag and are skipped.
fn espresense(rest: &str, payload: &[u8], now: DateTime<Utc>) -> Result<Report, Rejection> {
    let (device, room) = rest.split_once('/').ok_or(Rejection::UnknownTopic)?;
    if room.is_empty() || room.contains('/') || device.is_empty() {
        return Err(Rejection::UnknownTopic);
    }
    let value: Value = serde_json::from_slice(payload).map_err(|_| Rejection::Malformed)?;
    let object = value.as_object().ok_or(Rejection::Malformed)?;
    let id = device.strip_prefix("known:").unwrap_or(device);
    let mut report = Report {
        gateway: GatewayKey::Code(format!("espresense:{room}")),
        placement: Placement::default(),
        sightings: Vec::new(),
        skipped: 0,
        offline: false,
    };
    match mac::canonical(id) {
        Some(tag) => report.sightings.push(Sighting {
            tag,
            rssi: rssi_field(object),
            at: timestamp_field(object, now),
            distance_m: object
                .get("distance")
                .and_then(Value::as_f64)
                .filter(|d| d.is_finite() && *d >= 0.0),
        }),
        None => report.skipped += 1,
    }
    Ok(report)
}

/// Theengs Gateway / OpenMQTTGateway: `<prefix>/<gateway>/BTtoMQTT/<MAC>`.
fn theengs(
    gateway_name: &str,
    tag: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<Report, Rejection> {
    if gateway_name.is_empty() {
        return Err(Rejection::NoGateway);
    }
    let gateway = match mac::canonical(gateway_name) {
        Some(m) => GatewayKey::Mac(m),
        None => GatewayKey::Code(format!("omg:{gateway_name}")),
    };
    let value: Value = serde_json::from_slice(payload).map_err(|_| Rejection::Malformed)?;
    let object = value.as_object().ok_or(Rejection::Malformed)?;
    let mut report = Report {
        gateway,
        placement: Placement::default(),
        sightings: Vec::new(),
        skipped: 0,
        offline: false,
    };
    let tag = mac::canonical(tag)
        .or_else(|| text_field(object, &["id", "mac"]).and_then(|m| mac::canonical(&m)));
    match tag {
        Some(tag) => report.sightings.push(Sighting {
            tag,
            rssi: rssi_field(object),
            at: timestamp_field(object, now),
            distance_m: object
                .get("distance")
                .and_then(Value::as_f64)
                .filter(|d| d.is_finite() && *d >= 0.0),
        }),
        None => report.skipped += 1,
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trees() -> TopicTrees {
        TopicTrees::new(&crate::config::MqttConfig::default())
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap()
    }

    fn mac(s: &str) -> Mac {
        mac::canonical(s).unwrap()
    }

    fn decoded(topic: &str, payload: &str) -> Result<Report, Rejection> {
        decode(topic, payload.as_bytes(), &trees(), now())
    }

    /// (tag, rssi) of each sighting.
    fn seen(report: &Report) -> Vec<(String, Option<i32>)> {
        report
            .sightings
            .iter()
            .map(|s| (s.tag.to_string(), s.rssi))
            .collect()
    }

    #[test]
    fn the_original_forms_on_the_gateway_tree() {
        // (topic, payload, gateway, sightings, skipped)
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Vec<(&'a str, Option<i32>)>,
            usize,
        );
        let cases: Vec<Case> = vec![
            // Minew JSON-LONG batch: the gateway record is not a detection.
            (
                "rtls/gateways/AC233FC0AAAA/x",
                r#"[{"type":"Gateway","mac":"AC233FC0BBBB"},{"type":"iBeacon","mac":"ac:23:3f:11:22:33","rssi":"-61"},{"mac":"AC233F445566","rssi":-70},{"type":"Unknown"},42]"#,
                "AC:23:3F:C0:AA:AA",
                vec![
                    ("AC:23:3F:11:22:33", Some(-61)),
                    ("AC:23:3F:44:55:66", Some(-70)),
                ],
                1,
            ),
            // Flat object.
            (
                "rtls/gateways/AA:BB:CC:DD:EE:01/beacon",
                r#"{"gateway_mac":"AA:BB:CC:DD:EE:01","tag_mac":"11:22:33:44:55:66","rssi":-68}"#,
                "AA:BB:CC:DD:EE:01",
                vec![("11:22:33:44:55:66", Some(-68))],
                0,
            ),
            // The README's readings list (the original ignored it).
            (
                "rtls/gateways/AC233FC0AAAA/beacon",
                r#"{"readings":[{"tag_mac":"AC233F112233","rssi":-60},{"mac":"aa-bb-cc-dd-ee-ff","rssi":-75},{"tag_mac":"nonsense","rssi":-1}]}"#,
                "AC:23:3F:C0:AA:AA",
                vec![
                    ("AC:23:3F:11:22:33", Some(-60)),
                    ("AA:BB:CC:DD:EE:FF", Some(-75)),
                ],
                1,
            ),
            // The long grammar.
            (
                "rtls/gateways/howbe/PredioA/2/gateway/AC233FC0CCCC/status",
                "{}",
                "AC:23:3F:C0:CC:CC",
                vec![],
                0,
            ),
            // Not JSON-object payloads are heartbeats.
            (
                "rtls/gateways/AC233FC0AAAA/heartbeat",
                "",
                "AC:23:3F:C0:AA:AA",
                vec![],
                0,
            ),
            (
                "rtls/gateways/AC233FC0AAAA/heartbeat",
                "42",
                "AC:23:3F:C0:AA:AA",
                vec![],
                0,
            ),
            // No MAC in the topic: the payload names the gateway.
            (
                "rtls/gateways/site-a/beacon",
                r#"{"gw_mac":"AABBCCDDEE01","tag":"112233445566","rssi":-50}"#,
                "AA:BB:CC:DD:EE:01",
                vec![("11:22:33:44:55:66", Some(-50))],
                0,
            ),
            // An RSSI out of range or unreadable is kept as unknown.
            (
                "rtls/gateways/AC233FC0AAAA/x",
                r#"[{"mac":"112233445566","rssi":"loud"},{"mac":"112233445567","rssi":999}]"#,
                "AC:23:3F:C0:AA:AA",
                vec![("11:22:33:44:55:66", None), ("11:22:33:44:55:67", None)],
                0,
            ),
        ];
        for (topic, payload, gateway, expected, skipped) in cases {
            let report =
                decoded(topic, payload).unwrap_or_else(|e| panic!("{topic} {payload}: {e:?}"));
            assert_eq!(report.gateway, GatewayKey::Mac(mac(gateway)), "{topic}");
            let expected: Vec<(String, Option<i32>)> = expected
                .into_iter()
                .map(|(t, r)| (t.to_string(), r))
                .collect();
            assert_eq!(seen(&report), expected, "{topic} {payload}");
            assert_eq!(report.skipped, skipped, "{topic} {payload}");
        }
        let long = decoded(
            "rtls/gateways/howbe/PredioA/2/gateway/AC233FC0CCCC/status",
            "{}",
        )
        .unwrap();
        assert_eq!(long.placement.building.as_deref(), Some("PredioA"));
        assert_eq!(long.placement.floor.as_deref(), Some("2"));
        assert_eq!(long.placement.tenant.as_deref(), Some("howbe"));
    }

    #[test]
    fn bad_input_is_rejected_by_reason_and_never_names_a_junk_gateway() {
        let cases = [
            // A non-MAC gateway id (the original made a gateway "BE" of "howbe").
            (
                "rtls/gateways/howbe/PredioA/2/gw/AC233FC0CCCC",
                "{}",
                Rejection::NoGateway,
            ),
            (
                "rtls/gateways/gateway-01/beacon",
                r#"{"tag_mac":"112233445566","rssi":-50}"#,
                Rejection::NoGateway,
            ),
            (
                "rtls/gateways/AC233FC0AAAA/beacon",
                "not json",
                Rejection::Malformed,
            ),
            (
                "rtls/gateways/AC233FC0AAAA/beacon",
                "{\"unterminated\": ",
                Rejection::Malformed,
            ),
            ("rtls/gateways", "{}", Rejection::UnknownTopic),
            ("rtls/gateways//", "{}", Rejection::UnknownTopic),
            ("other/tree/AC233FC0AAAA", "{}", Rejection::UnknownTopic),
            ("rtls/gatewaysX/AC233FC0AAAA", "{}", Rejection::UnknownTopic),
            ("espresense/devices/no-room", "{}", Rejection::UnknownTopic),
            (
                "espresense/devices/aabbccddeeff/kitchen",
                "[1]",
                Rejection::Malformed,
            ),
        ];
        for (topic, payload, why) in cases {
            assert_eq!(
                decoded(topic, payload).err(),
                Some(why),
                "{topic} {payload}"
            );
        }
        assert_eq!(
            decode(
                "rtls/gateways/AC233FC0AAAA/b",
                &[0xff, 0xfe],
                &trees(),
                now()
            )
            .err(),
            Some(Rejection::Malformed)
        );
    }

    #[test]
    fn offline_status_messages_are_recognised() {
        for (topic, payload, offline) in [
            (
                "rtls/gateways/AC233FC0AAAA/status",
                r#"{"status":"offline"}"#,
                true,
            ),
            ("rtls/gateways/AC233FC0AAAA/status", "offline", true),
            (
                "rtls/gateways/AC233FC0AAAA/status",
                r#"{"online":false}"#,
                true,
            ),
            (
                "rtls/gateways/AC233FC0AAAA/status",
                r#"{"status":"online"}"#,
                false,
            ),
            (
                "rtls/gateways/AC233FC0AAAA/beacon",
                r#"{"status":"offline","tag_mac":"112233445566","rssi":-1}"#,
                false,
            ),
        ] {
            assert_eq!(
                decoded(topic, payload).unwrap().offline,
                offline,
                "{topic} {payload}"
            );
        }
    }

    #[test]
    fn ingics_lines() {
        let payload = "$GPRP,D0DF5A6E3C41,F008D1789200,-71,02010612FF0D0083BC290100AAAAFFFF000000000000,1795867190\n\
                       $RSPR,D0DF5A6E3C42,F008D1789200,-80,0A09496E676963735F5345\n\
                       $HBRP,000000000000,F008D1789200,-127,0\n\
                       $GPRP,notamac,F008D1789200,-70,00\n";
        let report = decoded("rtls/gateways/F008D1789200", payload).unwrap();
        assert_eq!(report.gateway, GatewayKey::Mac(mac("F008D1789200")));
        assert_eq!(
            seen(&report),
            vec![
                ("D0:DF:5A:6E:3C:41".into(), Some(-71)),
                ("D0:DF:5A:6E:3C:42".into(), Some(-80))
            ]
        );
        assert_eq!(report.skipped, 1);
        assert_eq!(
            report.sightings[0].at,
            Some(Utc.timestamp_opt(1795867190, 0).unwrap()),
            "a sane epoch is kept"
        );
        // The gateway comes from the lines when the topic does not name it.
        let report = decoded("rtls/gateways/ingics-hall", payload).unwrap();
        assert_eq!(report.gateway, GatewayKey::Mac(mac("F008D1789200")));
    }

    #[test]
    fn espresense_reports() {
        let payload = r#"{"id":"aabbccddeeff","name":"badge","rssi@1m":-65,"rssi":-72.4,"raw":2.1,"distance":1.85,"speed":0.01,"mac":"aabbccddeeff","interval":1015}"#;
        let report = decoded("espresense/devices/aabbccddeeff/kitchen", payload).unwrap();
        assert_eq!(
            report.gateway,
            GatewayKey::Code("espresense:kitchen".into())
        );
        assert_eq!(seen(&report), vec![("AA:BB:CC:DD:EE:FF".into(), Some(-72))]);
        assert_eq!(report.sightings[0].distance_m, Some(1.85));
        let known = decoded(
            "espresense/devices/known:112233445566/office",
            r#"{"rssi":-60}"#,
        )
        .unwrap();
        assert_eq!(seen(&known), vec![("11:22:33:44:55:66".into(), Some(-60))]);
        let ibeacon = decoded(
            "espresense/devices/iBeacon:e5ca1ade-f007-ba11-0000-000000000000-1-2/office",
            r#"{"rssi":-60}"#,
        )
        .unwrap();
        assert!(
            ibeacon.sightings.is_empty() && ibeacon.skipped == 1,
            "not a MAC: cannot match a tag"
        );
    }

    #[test]
    fn theengs_and_openmqttgateway_reports() {
        let payload = r#"{"name":"Tag","id":"F3:52:85:12:34:56","rssi":-82,"brand":"GENERIC","model":"iBeacon","txpower":-59}"#;
        let report = decoded("home/OMG_ESP32_BLE/BTtoMQTT/F35285123456", payload).unwrap();
        assert_eq!(report.gateway, GatewayKey::Code("omg:OMG_ESP32_BLE".into()));
        assert_eq!(seen(&report), vec![("F3:52:85:12:34:56".into(), Some(-82))]);
        let by_mac = decoded("home/AABBCCDDEE01/BTtoMQTT/F35285123456", payload).unwrap();
        assert_eq!(by_mac.gateway, GatewayKey::Mac(mac("AABBCCDDEE01")));
        let undecoded = decoded(
            "home/gw/BTtoMQTT/undecoded",
            r#"{"id":"F3:52:85:12:34:57","rssi":-90,"manufacturerdata":"4c00"}"#,
        )
        .unwrap();
        assert_eq!(
            seen(&undecoded),
            vec![("F3:52:85:12:34:57".into(), Some(-90))]
        );
    }

    #[test]
    fn payload_times_are_used_only_when_sane() {
        let n = now();
        let at = |v: Value| parse_time(&v, n);
        assert_eq!(at(Value::from(n.timestamp())), Some(n));
        assert_eq!(at(Value::from(n.timestamp_millis())), Some(n));
        assert_eq!(
            at(Value::from("2026-11-28T11:59:00Z")),
            Some(n - Duration::seconds(60))
        );
        assert_eq!(at(Value::from(0)), None, "an unset gateway clock");
        assert_eq!(at(Value::from(n.timestamp() + 3600)), None, "in the future");
        assert_eq!(at(Value::from(n.timestamp() - 3 * 86400)), None, "days old");
        assert_eq!(at(Value::from("yesterday")), None);
    }
}
