//! Free space under the data directory: `check` reports it, and the disk guard keeps the
//! appliance useful when it runs low. Below `disk.min_free_mb`, raw readings (the bulk of
//! what is written) stop being stored while positions, presence, events and alerts go on;
//! an event says so (stream, webhooks), `/health` and `/metrics` show it, and storing
//! resumes once there is room again (with a margin, so that it does not flap).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::events::{EventBus, EventType, payload};
use crate::metrics::Metrics;

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

/// Watches `dir` until `stop`; `min_free` bytes 0 turns the guard off.
pub async fn guard(
    dir: PathBuf,
    min_free: u64,
    metrics: Arc<Metrics>,
    events: EventBus,
    stop: CancellationToken,
) {
    if min_free == 0 {
        return;
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
    }
}
