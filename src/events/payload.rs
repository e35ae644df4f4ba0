//! The payload of each event, one builder per kind of record: the shapes the original
//! backend sent to its webhooks, kept field for field (clients read them).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::EventType;
use crate::mac::display_stored;
use crate::store::alerts::{AlertEvent, AlertRule};
use crate::store::cambus::NewCameraEvent;
use crate::store::devices::{Device, DeviceSeen};
use crate::store::groups::{CameraGroup, SupportGroup};
use crate::store::incidents::{Incident, IncidentMessage, IncidentRule};
use crate::store::mqtt::MqttCredential;
use crate::store::people::{Person, PersonGroup, Tag};
use crate::store::readings::Reading;
use crate::store::site::{Building, Floor, FloorPlan};
use crate::store::webhooks::Subscription;
use crate::store::zones::Zone;

/// BUILDING_*; `label` is the name, or the code when the name is empty.
pub fn building(b: &Building, event: EventType) -> Value {
    let label = if b.name.is_empty() { &b.code } else { &b.name };
    let mut payload = json!({"building_id": b.id, "name": b.name, "code": b.code, "label": label});
    stamp(&mut payload, event, b.created_at, b.updated_at);
    payload
}

/// FLOOR_*.
pub fn floor(f: &Floor) -> Value {
    json!({"floor_id": f.id, "building_id": f.building_id, "name": f.name, "level": f.level})
}

/// FLOOR_PLAN_*.
pub fn floor_plan(p: &FloorPlan) -> Value {
    json!({"floor_plan_id": p.id, "floor_id": p.floor_id, "name": p.name, "image_url": p.image_url})
}

/// DEVICE_*: a move carries the position instead of the type, a deletion no time stamp.
pub fn device(d: &Device, event: EventType) -> Value {
    let mut payload = json!({
        "device_id": d.id, "name": d.name,
        "mac_address": d.mac_address.as_deref().map(display_stored),
        "floor_plan_id": d.floor_plan_id,
    });
    if event == EventType::DevicePositionUpdated {
        payload["pos_x"] = json!(d.pos_x);
        payload["pos_y"] = json!(d.pos_y);
    } else {
        payload["type"] = json!(d.device_type);
        if event != EventType::DeviceDeleted {
            payload["updated_at"] = json!(d.updated_at);
        }
    }
    payload
}

/// GATEWAY_ONLINE/OFFLINE, CAMERA_ONLINE/OFFLINE.
pub fn device_status(d: &DeviceSeen) -> Value {
    json!({
        "device_id": d.id,
        "name": d.name,
        "code": d.code,
        "mac_address": d.mac_address.as_deref().map(display_stored),
        "last_seen_at": d.last_seen_at,
    })
}

/// CAMERA_GROUP_*: creations and updates list the cameras.
pub fn camera_group(g: &CameraGroup, device_ids: Option<&[i64]>) -> Value {
    members(
        json!({"camera_group_id": g.id, "name": g.name}),
        "device_ids",
        device_ids,
    )
}

/// PERSON_*.
pub fn person(p: &Person, event: EventType) -> Value {
    let mut payload = json!({"person_id": p.id, "full_name": p.full_name});
    stamp(&mut payload, event, p.created_at, p.updated_at);
    payload
}

/// PERSON_GROUP_*: a change of members lists them.
pub fn person_group(g: &PersonGroup, people_ids: Option<&[i64]>) -> Value {
    members(
        json!({"group_id": g.id, "name": g.name}),
        "people_ids",
        people_ids,
    )
}

/// TAG_* (`code` is always null: the original's tags had one, ours are known by MAC).
pub fn tag(t: &Tag) -> Value {
    json!({
        "tag_id": t.id, "code": null, "mac_address": display_stored(&t.mac_address),
        "person_id": t.person_id, "label": t.label,
    })
}

/// COLLECTION_LOG_*.
pub fn reading(r: &Reading) -> Value {
    json!({"collection_log_id": r.id, "device_id": r.device_id, "tag_id": r.tag_id, "rssi": r.rssi})
}

/// USER_*: an update names the fields it changed.
pub fn user(user_id: i64, fields: Option<&[&str]>) -> Value {
    let mut payload = json!({ "user_id": user_id });
    if let Some(fields) = fields {
        payload["fields"] = json!(fields);
    }
    payload
}

/// SUPPORT_GROUP_*: creations and updates list the members.
pub fn support_group(g: &SupportGroup, member_ids: Option<&[i64]>) -> Value {
    members(
        json!({"group_id": g.id, "name": g.name}),
        "member_ids",
        member_ids,
    )
}

/// MQTT_CREDENTIAL_* (never the secret).
pub fn mqtt_credential(c: &MqttCredential) -> Value {
    json!({"credential_id": c.id, "username": c.username, "role": c.role, "is_active": c.is_active})
}

/// CAMERA_EVENT: a stored camera event, the camera it came from and the people nearby.
pub fn camera_event(id: i64, camera: &Device, e: &NewCameraEvent) -> Value {
    json!({
        "event_id": id, "device_id": camera.id, "camera_name": camera.name,
        "camera_code": camera.code, "analytic_type": e.analytic_type,
        "occurred_at": e.occurred_at, "floor_plan_id": camera.floor_plan_id,
        "person_id": e.person_id, "nearby_people": e.nearby_people,
    })
}

/// CAMBUS_COLLECTOR_STATUS: a camera collector's status message.
pub fn collector_status(tenant: &str, building: &str, status: &str) -> Value {
    json!({"tenant": tenant, "building": building, "status": status})
}

/// DISK_LOW / DISK_RECOVERED: the file system of the data directory and its free space.
pub fn disk(path: &std::path::Path, free_bytes: u64, min_free_bytes: u64) -> Value {
    json!({"path": path.display().to_string(), "free_bytes": free_bytes, "min_free_bytes": min_free_bytes})
}

/// WEBHOOK_* (never the secret).
pub fn webhook(s: &Subscription) -> Value {
    json!({"webhook_id": s.id, "name": s.name, "url": s.url, "is_active": s.is_active})
}

/// The payload of `event` as its builder makes it from an empty record: the shape that
/// webhooks and the live stream carry (`GET /webhooks/event-types`).
pub fn sample(event: EventType) -> Option<Value> {
    use EventType as E;
    Some(match event.entity() {
        "building" => building(&Building::default(), event),
        "floor" => floor(&Floor::default()),
        "floor_plan" => floor_plan(&FloorPlan::default()),
        "device" => match event {
            E::GatewayOnline | E::GatewayOffline | E::CameraOnline | E::CameraOffline => {
                device_status(&DeviceSeen::default())
            }
            _ => device(&Device::default(), event),
        },
        "camera_group" => camera_group(&CameraGroup::default(), Some(&[])),
        "person" => person(&Person::default(), event),
        "person_group" => person_group(&PersonGroup::default(), Some(&[])),
        "tag" => tag(&Tag::default()),
        "collection_log" => reading(&Reading::default()),
        "user" => user(0, None),
        "support_group" => support_group(&SupportGroup::default(), Some(&[])),
        "mqtt_credential" => mqtt_credential(&MqttCredential::default()),
        "webhook" => webhook(&Subscription::default()),
        "alert_rule" => alert_rule(&AlertRule::default(), event),
        "alert_event" => alert_event(&AlertEvent::default()),
        "zone" => zone(&Zone::default(), event),
        "camera_event" => {
            let event = NewCameraEvent {
                device_id: 0,
                topic: "",
                analytic_type: "",
                payload: &Value::Null,
                occurred_at: DateTime::default(),
                dedup_key: None,
                person_id: None,
                nearby_people: &[],
            };
            camera_event(0, &Device::default(), &event)
        }
        "cambus_collector" => collector_status("", "", ""),
        "appliance" => disk(std::path::Path::new(""), 0, 0),
        "incident" => incident(&Incident::default(), None),
        "incident_message" => incident_message(&IncidentMessage::default(), "api"),
        "incident_rule" => incident_rule(&IncidentRule::default()),
        _ => return None,
    })
}

/// INCIDENT_CREATED, _UPDATED, _STATUS_CHANGED, _REOPENED, _ASSIGNED: the original's
/// shape, `previous_status` set on a status change.
pub fn incident(i: &Incident, previous_status: Option<&str>) -> Value {
    json!({
        "incident_id": i.id, "status": i.status, "previous_status": previous_status,
        "severity": i.severity, "title": i.title, "device_id": i.device_id,
        "device_event_id": i.device_event_id, "assigned_group_id": i.assigned_group_id,
        "assigned_to_user_id": i.assigned_to_user_id, "kind": i.kind, "tenant": i.tenant,
        "sla_minutes": i.sla_minutes, "due_at": i.due_at, "created_at": i.created_at,
        "updated_at": i.updated_at, "closed_at": i.closed_at,
        "incident_rule_id": i.incident_rule_id,
    })
}

/// INCIDENT_MESSAGE_CREATED; `source` says who wrote it: `api` (an operator) or `system`
/// (the appliance: status changes, rules, alerts).
pub fn incident_message(m: &IncidentMessage, source: &str) -> Value {
    json!({
        "incident_id": m.incident_id, "message_id": m.id, "message_type": m.message_type,
        "content": m.content, "author_name": m.author_name, "source": source,
        "media_url": m.media_url, "media_type": m.media_type, "media_name": m.media_name,
        "created_at": m.created_at,
    })
}

/// INCIDENT_RULE_*.
pub fn incident_rule(r: &IncidentRule) -> Value {
    json!({
        "rule_id": r.id, "name": r.name, "enabled": r.enabled,
        "analytic_type": r.analytic_type, "device_id": r.device_id,
        "camera_group_id": r.camera_group_id, "tenant": r.tenant, "severity": r.severity,
        "assigned_to_user_id": r.assigned_to_user_id,
        "assigned_group_id": r.assigned_group_id,
    })
}

/// ALERT_RULE_*: the rule with its incident settings (the original's creation carried only
/// the incident settings, D26); a deletion only what identifies the rule.
pub fn alert_rule(r: &AlertRule, event: EventType) -> Value {
    let mut payload = json!({
        "rule_id": r.id, "name": r.name, "description": r.description,
        "rule_type": r.rule_type, "group_id": r.group_id, "device_id": r.device_id,
        "zone_id": r.zone_id, "person_id": r.person_id,
    });
    if event != EventType::AlertRuleDeleted {
        let more = json!({
            "max_dwell_seconds": r.max_dwell_seconds,
            "max_absence_seconds": r.max_absence_seconds, "is_active": r.is_active,
            "disabled_reason": r.disabled_reason,
            "create_incident": r.create_incident, "incident_kind": r.incident_kind,
            "incident_severity": r.incident_severity,
            "incident_title_template": r.incident_title_template,
            "incident_description_template": r.incident_description_template,
            "incident_sla_minutes": r.incident_sla_minutes,
            "incident_assigned_group_id": r.incident_assigned_group_id,
            "incident_assigned_to_user_id": r.incident_assigned_to_user_id,
            "incident_auto_close_on_end": r.incident_auto_close_on_end,
        });
        merge(&mut payload, more);
    }
    stamp(&mut payload, event, r.created_at, r.updated_at);
    payload
}

/// ALERT_OPENED/UPDATED/CLOSED: the event's stored payload with its columns set over it,
/// as the original's alert webhooks (a payload that is not JSON is passed as
/// `raw_payload`), plus the session's end and the operators' steps.
pub fn alert_event(e: &AlertEvent) -> Value {
    let mut payload = match e.payload.as_deref().map(serde_json::from_str::<Value>) {
        Some(Ok(stored @ Value::Object(_))) => stored,
        Some(_) => json!({"raw_payload": e.payload}),
        None => json!({}),
    };
    let columns = json!({
        "alert_event_id": e.id, "event_type": e.event_type, "message": e.message,
        "rule_id": e.rule_id, "device_id": e.device_id, "tag_id": e.tag_id,
        "person_id": e.person_id, "building_id": e.building_id, "floor_id": e.floor_id,
        "floor_plan_id": e.floor_plan_id, "started_at": e.started_at,
        "last_seen_at": e.last_seen_at, "ended_at": e.ended_at, "is_open": e.is_open,
        "close_reason": e.close_reason,
        "acknowledged_by": e.acknowledged_by, "acknowledged_at": e.acknowledged_at,
        "resolved_by": e.resolved_by, "resolved_at": e.resolved_at,
    });
    merge(&mut payload, columns);
    payload
}

/// ZONE_*: the polygon with its points (the console outlines it); a deletion only what
/// identifies the zone.
pub fn zone(z: &Zone, event: EventType) -> Value {
    let mut payload = json!({"zone_id": z.id, "floor_plan_id": z.floor_plan_id, "name": z.name});
    if event != EventType::ZoneDeleted {
        payload["color"] = json!(z.color);
        payload["points"] = serde_json::from_str(&z.points).unwrap_or_else(|_| json!([]));
    }
    stamp(&mut payload, event, z.created_at, z.updated_at);
    payload
}

/// Sets every key of `more` on `payload` (both objects).
pub fn merge(payload: &mut Value, more: Value) {
    if let (Value::Object(target), Value::Object(more)) = (payload, more) {
        target.extend(more);
    }
}

/// `created_at` on a creation, `updated_at` on an update.
fn stamp(payload: &mut Value, event: EventType, created: DateTime<Utc>, updated: DateTime<Utc>) {
    match event.verb() {
        "create" => payload["created_at"] = json!(created),
        "update" => payload["updated_at"] = json!(updated),
        _ => {}
    }
}

fn members(mut payload: Value, key: &str, ids: Option<&[i64]>) -> Value {
    if let Some(ids) = ids {
        payload[key] = json!(ids);
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventType::*;

    fn keys(payload: Value) -> Vec<String> {
        let mut keys: Vec<String> = payload.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &str) -> Vec<String> {
        let mut keys: Vec<String> = keys.split(' ').map(str::to_string).collect();
        keys.sort();
        keys
    }

    /// The fields clients read, per event: a change here breaks webhooks and the console.
    #[test]
    fn each_event_keeps_the_original_fields() {
        let b = Building::default();
        let d = Device::default();
        let p = Person::default();
        let cases = [
            (
                building(&b, BuildingCreated),
                "building_id name code label created_at",
            ),
            (
                building(&b, BuildingUpdated),
                "building_id name code label updated_at",
            ),
            (building(&b, BuildingDeleted), "building_id name code label"),
            (floor(&Floor::default()), "floor_id building_id name level"),
            (
                floor_plan(&FloorPlan::default()),
                "floor_plan_id floor_id name image_url",
            ),
            (
                device(&d, DeviceCreated),
                "device_id name type mac_address floor_plan_id updated_at",
            ),
            (
                device(&d, DeviceUpdated),
                "device_id name type mac_address floor_plan_id updated_at",
            ),
            (
                device(&d, DevicePositionUpdated),
                "device_id name mac_address floor_plan_id pos_x pos_y",
            ),
            (
                device(&d, DeviceDeleted),
                "device_id name type mac_address floor_plan_id",
            ),
            (
                device_status(&DeviceSeen {
                    id: 1,
                    name: String::new(),
                    device_type: String::new(),
                    mac_address: None,
                    code: None,
                    last_seen_at: None,
                }),
                "device_id name code mac_address last_seen_at",
            ),
            (
                camera_group(&CameraGroup::default(), Some(&[1])),
                "camera_group_id name device_ids",
            ),
            (
                camera_group(&CameraGroup::default(), None),
                "camera_group_id name",
            ),
            (person(&p, PersonCreated), "person_id full_name created_at"),
            (person(&p, PersonUpdated), "person_id full_name updated_at"),
            (person(&p, PersonDeleted), "person_id full_name"),
            (
                person_group(&PersonGroup::default(), Some(&[1])),
                "group_id name people_ids",
            ),
            (person_group(&PersonGroup::default(), None), "group_id name"),
            (
                tag(&Tag::default()),
                "tag_id code mac_address person_id label",
            ),
            (
                reading(&Reading::default()),
                "collection_log_id device_id tag_id rssi",
            ),
            (user(1, Some(&["password"])), "user_id fields"),
            (user(1, None), "user_id"),
            (
                support_group(&SupportGroup::default(), Some(&[1])),
                "group_id name member_ids",
            ),
            (
                support_group(&SupportGroup::default(), None),
                "group_id name",
            ),
            (
                mqtt_credential(&MqttCredential::default()),
                "credential_id username role is_active",
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(keys(payload), sorted(expected));
        }
    }
}
