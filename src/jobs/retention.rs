//! Deletes what has aged out, every hour (and once at start): readings older than
//! `ingest.retention_days` (presence sessions, which summarise them, are kept), position
//! history older than `positions.history_retention_days`, and finished webhook deliveries
//! older than `webhooks.log_retention_days` (pending ones are never deleted). 0 keeps
//! everything of that kind.

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::store::Store;
use crate::store::webhooks::DeliveryTable;

/// How many days each kind of record is kept; 0: for ever.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub readings_days: u32,
    pub history_days: u32,
    pub webhook_log_days: u32,
}

pub async fn run(store: Store, keep: Retention, shutdown: CancellationToken) {
    if keep.readings_days == 0 && keep.history_days == 0 && keep.webhook_log_days == 0 {
        return;
    }
    let cutoff = |days: u32| Utc::now() - chrono::Duration::days(i64::from(days));
    loop {
        if keep.readings_days > 0 {
            let deleted = store
                .delete_readings_before(cutoff(keep.readings_days))
                .await;
            report("readings", keep.readings_days, deleted);
        }
        if keep.history_days > 0 {
            let deleted = store.delete_history_before(cutoff(keep.history_days)).await;
            report("position history points", keep.history_days, deleted);
        }
        if keep.webhook_log_days > 0 {
            let deleted = store
                .delete_finished_deliveries_before(
                    DeliveryTable::Webhooks,
                    cutoff(keep.webhook_log_days),
                )
                .await;
            report("webhook deliveries", keep.webhook_log_days, deleted);
            let deleted = store
                .delete_finished_deliveries_before(
                    DeliveryTable::Chatwoot,
                    cutoff(keep.webhook_log_days),
                )
                .await;
            report("Chatwoot deliveries", keep.webhook_log_days, deleted);
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

fn report(what: &str, days: u32, deleted: crate::store::Result<u64>) {
    match deleted {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(deleted, days, "old {what} deleted"),
        Err(err) => tracing::warn!(error = %err, "retention: could not delete old {what}"),
    }
}
