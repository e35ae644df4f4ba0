//! The batch writer: each round's readings, gateways seen and presence sessions go to a
//! task that stores them one transaction per batch, while the next round is decoded. When it
//! falls behind, batches wait in a bounded backlog.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::Stored;
use super::pipeline::Pipeline;
use crate::cluster::{Cluster, Role};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::readings::IngestBatch;

/// Batches waiting for the writer are merged up to this many readings (fewer, larger
/// transactions let a writer that fell behind catch up).
const MERGE_READINGS: usize = 50_000;

/// A batch to store, and the QoS 1 messages whose PUBACK waits for its commit.
#[derive(Default)]
pub(super) struct Pending {
    pub batch: IngestBatch,
    pub stored: Vec<Stored>,
}

impl Pending {
    /// About what it holds in memory, for `ingest.backlog_bytes`.
    fn bytes(&self) -> usize {
        // A waiting PUBACK is a oneshot channel: a pointer here, its shared state elsewhere.
        const STORED_BYTES: usize = 96;
        self.batch.bytes() + self.stored.len() * STORED_BYTES
    }
}

impl Pipeline {
    /// Hands this round's writes to the writer without waiting for it: when it is behind,
    /// they join the backlog, which is offered again at every round and every second. Only
    /// a backlog over `ingest.backlog_bytes` makes the pipeline wait (QoS 1 publishers
    /// then wait for their PUBACK).
    pub(super) async fn flush(&mut self) {
        if self.round.is_empty() {
            // Nothing of these messages to store: their PUBACKs need not wait.
            self.round_stored.drain(..).for_each(Stored::confirm);
        } else {
            let mut batch = std::mem::take(&mut self.round);
            batch.epoch = match *self.serving.borrow() {
                Role::Leader(epoch) => Some(epoch),
                _ => None,
            };
            let stored = std::mem::take(&mut self.round_stored);
            match self.backlog.back_mut() {
                Some(last)
                    if last.batch.readings.len() + batch.readings.len() <= MERGE_READINGS =>
                {
                    last.batch.merge(batch);
                    last.stored.extend(stored);
                }
                _ => self.backlog.push_back(Pending { batch, stored }),
            }
        }
        while let Some(batch) = self.backlog.pop_front() {
            match self.writer.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(batch)) => {
                    self.backlog.push_front(batch);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::error!("the readings writer has stopped");
                    self.backlog.clear();
                }
            }
        }
        let mut waiting: usize = self.backlog.iter().map(Pending::bytes).sum();
        while waiting > self.config.ingest.backlog_bytes {
            let Some(batch) = self.backlog.pop_front() else {
                break;
            };
            waiting -= batch.bytes();
            if self.writer.send(batch).await.is_err() {
                tracing::error!("the readings writer has stopped");
            }
        }
        let readings: usize = self.backlog.iter().map(|p| p.batch.readings.len()).sum();
        self.metrics
            .ingest_writer_backlog
            .store(readings as i64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Hands the whole backlog over, waiting for the writer (at shutdown).
    pub(super) async fn drain_backlog(&mut self) {
        while let Some(batch) = self.backlog.pop_front() {
            if self.writer.send(batch).await.is_err() {
                tracing::error!("the readings writer has stopped");
                break;
            }
        }
    }

    /// The presence sessions due to be written join this round.
    pub(super) fn take_sessions(&mut self) {
        for write in self.sessions.pending() {
            self.round.add_session(write);
        }
    }

    pub(super) fn writer_behind(&self) -> bool {
        !self.backlog.is_empty()
    }
}

/// A writer that spent more than this share of the last window storing batches is in a
/// burst: SQLite's index merges then wait (`Store::merge_reading_indexes_when_due`). A
/// quarter is about 100,000 readings a second on the bench machine, ten times a large
/// site's steady load; in a burst the pipeline, not the writer, may be the limit, so the
/// writer's share can stay under a half (BENCHMARKS.md, "Ingest burst", session 20).
const SATURATED: f64 = 0.25;
const LOAD_WINDOW: Duration = Duration::from_secs(1);
/// A writer without a batch for this long merges what is due.
const IDLE: Duration = Duration::from_secs(1);

/// The share of the last window (about `LOAD_WINDOW`) the writer spent storing batches.
struct WriterLoad {
    window_start: Instant,
    busy: Duration,
    last_share: f64,
}

impl WriterLoad {
    fn new() -> Self {
        WriterLoad {
            window_start: Instant::now(),
            busy: Duration::ZERO,
            last_share: 0.0,
        }
    }

    /// A batch took `took` to store, until `now`.
    fn stored(&mut self, took: Duration, now: Instant) {
        self.busy += took;
        let window = now - self.window_start;
        if window >= LOAD_WINDOW {
            self.last_share = self.busy.as_secs_f64() / window.as_secs_f64();
            self.busy = Duration::ZERO;
            self.window_start = now;
        }
    }

    fn saturated(&self) -> bool {
        self.last_share > SATURATED
    }
}

/// Merges SQLite's readings into its tag and gateway indexes when due. A failed merge is
/// logged and tried again later: the readings are stored either way.
async fn merge_when_due(store: &Store, writer_busy: bool) {
    if let Err(e) = store.merge_reading_indexes_when_due(writer_busy).await {
        tracing::warn!(error = %e, "merging new readings into the tag and gateway indexes failed");
    }
}

/// Stores batches in order, one transaction each, then lets their messages' PUBACKs go. A
/// database hiccup is retried; a batch that still fails is counted and its messages are left
/// unacknowledged (their publishers send them again). A cluster leader's batch is written
/// only while it holds the lock (fencing: `docs/cluster.md`). Between batches, and after a
/// second without one, SQLite's index merges run when due.
pub(super) async fn write_batches(
    mut batches: mpsc::Receiver<Pending>,
    store: Store,
    metrics: Arc<Metrics>,
    cluster: Cluster,
) {
    let mut load = WriterLoad::new();
    loop {
        let Pending {
            batch,
            stored: waiting,
        } = match tokio::time::timeout(IDLE, batches.recv()).await {
            Ok(Some(pending)) => pending,
            Ok(None) => break,
            Err(_idle) => {
                merge_when_due(&store, false).await;
                continue;
            }
        };
        let leads = match (cluster.role(), batch.epoch) {
            (Role::Single, None) => true,
            (_, Some(epoch)) => cluster.holds(epoch).await,
            _ => false,
        };
        if !leads {
            metrics
                .cluster_fenced_batches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                readings = batch.readings.len(),
                "not leading: batch left unwritten and unacknowledged"
            );
            continue;
        }
        let (mut stored, mut fenced) = (false, false);
        let started = Instant::now();
        for attempt in 1..=5 {
            match store.store_ingest_batch(&batch).await {
                Ok(()) => {
                    stored = true;
                    break;
                }
                Err(err @ crate::store::StoreError::Fenced(_)) => {
                    metrics
                        .cluster_fenced_batches
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(error = %err, "batch refused: another node leads");
                    fenced = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, attempt, readings = batch.readings.len(), "storing readings failed");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
            }
        }
        if fenced {
            continue;
        }
        let counter = if stored {
            &metrics.ingest_readings_stored
        } else {
            &metrics.ingest_store_failures
        };
        counter.fetch_add(
            batch.readings.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        if stored {
            load.stored(started.elapsed(), Instant::now());
            waiting.into_iter().for_each(Stored::confirm);
            merge_when_due(&store, load.saturated()).await;
        } else {
            tracing::error!(
                readings = batch.readings.len(),
                "readings could not be stored"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_is_saturated_after_a_window_mostly_spent_storing() {
        let mut load = WriterLoad::new();
        let start = load.window_start;
        let ms = Duration::from_millis;
        assert!(!load.saturated(), "a new writer is not");
        load.stored(ms(200), start + ms(500));
        load.stored(ms(100), start + ms(900));
        assert!(!load.saturated(), "the window is not over");
        load.stored(ms(100), start + ms(1000));
        assert!(load.saturated(), "400 ms of 1000");
        load.stored(ms(300), start + ms(2500));
        assert!(!load.saturated(), "300 ms of 1500");
        load.stored(ms(1200), start + ms(3700));
        assert!(load.saturated(), "one long batch");
    }
}
