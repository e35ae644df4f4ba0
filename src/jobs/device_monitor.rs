//! The one place where gateways and cameras go offline and come back online: a periodic
//! pass over every device's `last_seen_at` (the original also flipped states on every
//! status GET). A gateway or camera that reported itself `offline` is offline from that
//! report (the monitor makes a pass at once) until it is seen again. Each transition is
//! recorded as a device event (`GATEWAY_OFFLINE` / `GATEWAY_ONLINE`, `CAMERA_OFFLINE` /
//! `CAMERA_ONLINE`) and published on the event bus. The first pass only learns the states, so a restart does not announce
//! anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::events::{EventBus, EventType, payload};
use crate::store::Store;
use crate::store::devices::CAMERA;

/// Topic recorded with the gateways' status events (they do not come from MQTT).
pub const GATEWAY_EVENT_TOPIC: &str = "securityvision/gateway-status";
/// Topic recorded with the cameras' status events.
pub const CAMERA_EVENT_TOPIC: &str = "securityvision/camera-status";

/// Offline reports of devices (a gateway's or a camera's status saying `offline`), shared
/// between the pipeline and the CAM-BUS collector that hear them, the monitor that acts on
/// them and the status API.
#[derive(Debug, Default, Clone)]
pub struct OfflineReports(Arc<Reports>);

#[derive(Debug, Default)]
struct Reports {
    at: Mutex<HashMap<i64, DateTime<Utc>>>,
    /// Wakes the monitor for a pass.
    new: Notify,
}

impl OfflineReports {
    pub fn report(&self, device_id: i64, at: DateTime<Utc>) {
        self.0
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(device_id, at);
        self.0.new.notify_one();
    }

    /// Whether the device reported itself offline after it was last seen.
    pub fn reported_since(&self, device_id: i64, last_seen: Option<DateTime<Utc>>) -> bool {
        let reports = self
            .0
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reports
            .get(&device_id)
            .is_some_and(|at| last_seen.is_none_or(|seen| *at >= seen))
    }
}

pub async fn run(
    store: Store,
    events: EventBus,
    offline_reports: OfflineReports,
    offline_after_seconds: u32,
    shutdown: CancellationToken,
) {
    let period = Duration::from_secs(u64::from(offline_after_seconds / 4).clamp(1, 15));
    let window = chrono::Duration::seconds(i64::from(offline_after_seconds));
    let mut online: HashMap<i64, bool> = HashMap::new();
    let mut first = true;
    loop {
        match store.devices_last_seen().await {
            Ok(devices) => {
                let now = Utc::now();
                for device in devices {
                    let is_online = device.last_seen_at.is_some_and(|seen| now - seen <= window)
                        && !offline_reports.reported_since(device.id, device.last_seen_at);
                    let previous = online.insert(device.id, is_online);
                    let changed = match previous {
                        Some(was) => was != is_online,
                        // A device registered since the last pass that is already online
                        // came online; one never heard is not news.
                        None => !first && is_online,
                    };
                    if !changed {
                        continue;
                    }
                    let camera = device.device_type == CAMERA;
                    let kind = match (camera, is_online) {
                        (false, true) => EventType::GatewayOnline,
                        (false, false) => EventType::GatewayOffline,
                        (true, true) => EventType::CameraOnline,
                        (true, false) => EventType::CameraOffline,
                    };
                    let topic = if camera {
                        CAMERA_EVENT_TOPIC
                    } else {
                        GATEWAY_EVENT_TOPIC
                    };
                    let payload = payload::device_status(&device);
                    tracing::info!(
                        device = device.name,
                        kind = kind.as_str(),
                        "device status changed"
                    );
                    if let Err(err) = store
                        .record_device_event(device.id, topic, kind.as_str(), &payload, now)
                        .await
                    {
                        tracing::warn!(error = %err, "could not record a device status change");
                    }
                    events.publish(kind, None, payload);
                }
                first = false;
            }
            Err(err) => tracing::warn!(error = %err, "device monitor: database unavailable"),
        }
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = offline_reports.0.new.notified() => {}
            () = shutdown.cancelled() => break,
        }
    }
}
