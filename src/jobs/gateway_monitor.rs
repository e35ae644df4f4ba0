//! The one place where gateways go offline and come back online: a periodic pass over
//! every gateway's `last_seen_at` (the original also flipped states on every status GET).
//! Each transition is recorded as a device event (`GATEWAY_OFFLINE` / `GATEWAY_ONLINE`) and
//! published on the event bus. The first pass only learns the states, so a restart does
//! not announce anything.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::events::EventBus;
use crate::store::Store;

/// Topic recorded with the status events (they do not come from MQTT).
pub const EVENT_TOPIC: &str = "securityvision/gateway-status";

pub async fn run(
    store: Store,
    events: EventBus,
    offline_after_seconds: u32,
    shutdown: CancellationToken,
) {
    let period = Duration::from_secs(u64::from(offline_after_seconds / 4).clamp(1, 15));
    let window = chrono::Duration::seconds(i64::from(offline_after_seconds));
    let mut online: HashMap<i64, bool> = HashMap::new();
    let mut first = true;
    loop {
        match store.gateways_last_seen().await {
            Ok(gateways) => {
                let now = Utc::now();
                for gateway in gateways {
                    let is_online = gateway
                        .last_seen_at
                        .is_some_and(|seen| now - seen <= window);
                    let previous = online.insert(gateway.id, is_online);
                    let changed = match previous {
                        Some(was) => was != is_online,
                        // A gateway registered since the last pass that is already online
                        // came online; one never heard is not news.
                        None => !first && is_online,
                    };
                    if changed {
                        let kind = if is_online {
                            "GATEWAY_ONLINE"
                        } else {
                            "GATEWAY_OFFLINE"
                        };
                        let payload = json!({
                            "device_id": gateway.id,
                            "name": gateway.name,
                            "mac_address": gateway.mac_address.as_deref().map(crate::mac::display_stored),
                            "last_seen_at": gateway.last_seen_at,
                        });
                        tracing::info!(gateway = gateway.name, kind, "gateway status changed");
                        if let Err(err) = store
                            .insert_device_event(gateway.id, EVENT_TOPIC, kind, &payload, now)
                            .await
                        {
                            tracing::warn!(error = %err, "could not record a gateway status change");
                        }
                        events.publish(kind, None, payload);
                    }
                }
                first = false;
            }
            Err(err) => tracing::warn!(error = %err, "gateway monitor: database unavailable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}
