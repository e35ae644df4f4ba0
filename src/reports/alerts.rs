//! The alert reports' numbers, from the alert events of a window.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Window;
use super::store::Alert;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertTypeCount {
    pub event_type: String,
    pub alerts_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertDeviceCount {
    pub device_id: Option<i64>,
    pub device_name: Option<String>,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub alerts_count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonAlertEvent {
    pub id: i64,
    pub event_type: String,
    pub device_id: Option<i64>,
    pub device_name: Option<String>,
    pub building_id: Option<i64>,
    pub building_name: Option<String>,
    pub floor_id: Option<i64>,
    pub floor_name: Option<String>,
    pub floor_plan_id: Option<i64>,
    pub floor_plan_name: Option<String>,
    pub tag_id: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// A person's alerts: totals over every alert of the window, the newest `max_events` listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonAlertsReport {
    pub person_id: i64,
    pub person_full_name: String,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_alerts: i64,
    pub first_alert_at: Option<DateTime<Utc>>,
    pub last_alert_at: Option<DateTime<Utc>>,
    pub by_type: Vec<AlertTypeCount>,
    pub by_device: Vec<AlertDeviceCount>,
    pub events: Vec<PersonAlertEvent>,
}

fn by_type(alerts: &[Alert]) -> Vec<AlertTypeCount> {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for a in alerts {
        *counts.entry(&a.event_type).or_default() += 1;
    }
    let mut list: Vec<_> = counts
        .into_iter()
        .map(|(t, n)| AlertTypeCount {
            event_type: t.to_string(),
            alerts_count: n,
        })
        .collect();
    list.sort_by(|a, b| {
        b.alerts_count
            .cmp(&a.alerts_count)
            .then_with(|| a.event_type.cmp(&b.event_type))
    });
    list
}

/// `alerts` newest first, as the store reads them.
pub fn person_alerts(
    w: &Window,
    person_id: i64,
    name: String,
    alerts: Vec<Alert>,
    max_events: usize,
) -> PersonAlertsReport {
    let mut devices: BTreeMap<Option<i64>, (i64, &Alert)> = BTreeMap::new();
    for a in &alerts {
        devices.entry(a.device_id).or_insert((0, a)).0 += 1;
    }
    let mut by_device: Vec<AlertDeviceCount> = devices
        .into_values()
        .map(|(n, a)| AlertDeviceCount {
            device_id: a.device_id,
            device_name: a.device_name.clone(),
            building_id: a.place.building_id,
            building_name: a.place.building_name.clone(),
            floor_id: a.place.floor_id,
            floor_name: a.place.floor_name.clone(),
            alerts_count: n,
        })
        .collect();
    by_device.sort_by(|a, b| {
        b.alerts_count
            .cmp(&a.alerts_count)
            .then(a.device_id.cmp(&b.device_id))
    });
    PersonAlertsReport {
        person_id,
        person_full_name: name,
        from_ts: w.from,
        to_ts: w.to,
        total_alerts: alerts.len() as i64,
        first_alert_at: alerts.iter().map(|a| a.started_at).min(),
        last_alert_at: alerts.iter().map(|a| a.started_at).max(),
        by_type: by_type(&alerts),
        by_device,
        events: alerts
            .into_iter()
            .take(max_events)
            .map(|a| PersonAlertEvent {
                id: a.id,
                event_type: a.event_type,
                device_id: a.device_id,
                device_name: a.device_name,
                building_id: a.place.building_id,
                building_name: a.place.building_name,
                floor_id: a.place.floor_id,
                floor_name: a.place.floor_name,
                floor_plan_id: a.place.floor_plan_id,
                floor_plan_name: a.place.floor_plan_name,
                tag_id: a.tag_id,
                started_at: a.started_at,
                ended_at: a.ended_at,
            })
            .collect(),
    }
}

/// Alerts of a gateway or building, counted by type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertsSummaryReport {
    /// `gateway` or `building`.
    pub scope: String,
    pub scope_id: i64,
    pub from_ts: DateTime<Utc>,
    pub to_ts: DateTime<Utc>,
    pub total_alerts: i64,
    pub by_type: Vec<AlertTypeCount>,
}

pub fn alerts_summary(
    w: &Window,
    scope: &str,
    scope_id: i64,
    alerts: &[Alert],
) -> AlertsSummaryReport {
    AlertsSummaryReport {
        scope: scope.into(),
        scope_id,
        from_ts: w.from,
        to_ts: w.to,
        total_alerts: alerts.len() as i64,
        by_type: by_type(alerts),
    }
}
