//! Deletes readings older than `ingest.retention_days`, every hour (and once at start).
//! Presence sessions, which summarise them, are kept.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

pub async fn run(store: Store, retention_days: u32, shutdown: CancellationToken) {
    if retention_days == 0 {
        return; // keep everything
    }
    loop {
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(retention_days));
        match store.delete_readings_before(cutoff).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, retention_days, "old readings deleted"),
            Err(err) => tracing::warn!(error = %err, "retention: could not delete old readings"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            () = shutdown.cancelled() => break,
        }
    }
}
