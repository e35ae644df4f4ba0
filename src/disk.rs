//! Free space under the data directory: `check` reports it, and the disk guard keeps the
//! appliance useful when it runs low. Below `disk.min_free_mb`, raw readings (the bulk of
//! what is written) stop being stored while positions, presence, events and alerts go on;
//! an event says so (stream, webhooks), an alert is opened for the operators (closed when
//! space returns), `/health` and `/metrics` show it, and storing resumes once there is room
//! again (with a margin, so that it does not flap).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::events::{EventBus, EventType, payload};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::alerts::AlertEvent;

/// The `event_type` of the appliance's own low-disk alert (it has no rule).
pub const DISK_LOW_ALERT: &str = "DISK_LOW";

/// How often the guard looks.
const EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct Space {
    /// Bytes this (unprivileged) process may still write.
    pub free: u64,
    pub total: u64,
}

pub fn space(path: &Path) -> std::io::Result<Space> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(Space {
        free: stat.f_bavail.saturating_mul(stat.f_frsize),
        total: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}

/// What the guard watches and tells.
pub struct Guard {
    pub dir: PathBuf,
    /// Bytes; 0 turns the guard off.
    pub min_free: u64,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub events: EventBus,
}

/// Watches `dir` until `stop`.
pub async fn guard(guard: Guard, stop: CancellationToken) {
    let Guard {
        dir,
        min_free,
        store,
        metrics,
        events,
    } = guard;
    if min_free == 0 {
        return;
    }
    // An alert left open by the previous run is this run's until space returns.
    let mut alert = match store.open_alert_events().await {
        Ok(open) => open
            .into_iter()
            .find(|e| e.rule_id.is_none() && e.event_type == DISK_LOW_ALERT),
        Err(_) => None,
    };
    if alert.is_some() {
        metrics.disk_low.store(true, Ordering::Relaxed);
    }
    // Storing resumes a little above the floor, so that one reading more or less does not
    // switch it back and forth.
    let resume_at = min_free + (min_free / 10).max(16 * 1024 * 1024);
    let mut ticks = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        let free = match space(&dir) {
            Ok(space) => space.free,
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot read the free disk space");
                continue;
            }
        };
        metrics.disk_free_bytes.store(free, Ordering::Relaxed);
        let low = metrics.disk_low.load(Ordering::Relaxed);
        let event = if !low && free < min_free {
            tracing::error!(free_bytes = free, min_free_bytes = min_free, dir = %dir.display(), "disk nearly full: raw readings are no longer stored (positions, events and alerts go on)");
            EventType::DiskLow
        } else if low && free >= resume_at {
            tracing::info!(
                free_bytes = free,
                "disk space recovered: raw readings are stored again"
            );
            EventType::DiskRecovered
        } else {
            continue;
        };
        metrics
            .disk_low
            .store(event == EventType::DiskLow, Ordering::Relaxed);
        events.publish(event, None, payload::disk(&dir, free, min_free));
        alert = match alert.take() {
            None if event == EventType::DiskLow => {
                open_alert(&store, &events, &dir, free, min_free).await
            }
            Some(open) if event == EventType::DiskRecovered => {
                close_alert(&store, &events, open).await;
                None
            }
            unchanged => unchanged,
        };
    }
}

/// Opens the low-disk alert (listed with the rules' alerts; operators acknowledge and
/// resolve it like them).
async fn open_alert(
    store: &Store,
    events: &EventBus,
    dir: &Path,
    free: u64,
    min_free: u64,
) -> Option<AlertEvent> {
    let now = chrono::Utc::now();
    let alert = AlertEvent {
        event_type: DISK_LOW_ALERT.into(),
        started_at: now,
        last_seen_at: now,
        is_open: true,
        message: Some(format!(
            "Pouco espaço em disco em {}: {} MB livres (mínimo {} MB); as leituras brutas não estão sendo armazenadas.",
            dir.display(),
            free / (1024 * 1024),
            min_free / (1024 * 1024)
        )),
        payload: Some(payload::disk(dir, free, min_free).to_string()),
        ..AlertEvent::default()
    };
    match store.insert_alert_event(&alert).await {
        Ok(stored) => {
            events.publish(EventType::AlertOpened, None, payload::alert_event(&stored));
            Some(stored)
        }
        Err(err) => {
            tracing::warn!(error = %err, "could not store the low-disk alert");
            None
        }
    }
}

async fn close_alert(store: &Store, events: &EventBus, mut alert: AlertEvent) {
    let now = chrono::Utc::now();
    alert.is_open = false;
    alert.ended_at = Some(now);
    alert.last_seen_at = now;
    alert.close_reason = Some("disk_recovered".into());
    match store.update_alert_event(&alert).await {
        Ok(Some(closed)) => {
            events.publish(EventType::AlertClosed, None, payload::alert_event(&closed));
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(error = %err, "could not close the low-disk alert"),
    }
}
