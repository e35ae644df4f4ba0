//! The hand-off from the broker to the ingest pipeline and the CAM-BUS collector: two
//! bounded queues, one for the gateway tree and one for the camera tree, of messages each
//! with the identity of the client that published it.
//!
//! What it guarantees: a QoS 1 report of the gateway tree is acknowledged (PUBACK) only once
//! what it carries is committed to the database ([`Stored`]), so that a crash loses no
//! acknowledged reading; when the queue is full the publisher's PUBACK waits (MQTT's own
//! backpressure). A
//! QoS 0 message that finds the queue full is shed and counted (`sv_ingest_shed_total`).
//! A queue is full at its message capacity or at its byte budget (topics and payloads),
//! whichever comes first, so its memory is bounded whatever the messages' sizes.
//!
//! The consumers are [`pipeline::Pipeline::run`] and [`crate::cambus::collector::run`].

mod caches;
pub mod calibrate;
pub mod decode;
mod history;
pub mod locate;
pub mod pipeline;
mod positions;
mod registration;
pub mod sessions;
pub mod topics;
mod track;
pub mod view;
mod writer;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};

use crate::metrics::Metrics;

/// Who published a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The MQTT credential used, or `None` for anonymous clients and the external broker.
    pub credential_id: Option<i64>,
    pub username: Option<String>,
    pub client_id: String,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A client of the embedded broker.
    Embedded,
    /// The external broker (mode = "external").
    External,
}

#[derive(Debug)]
pub struct Inbound {
    pub topic: Bytes,
    pub payload: Bytes,
    pub qos: u8,
    pub identity: Arc<Identity>,
    pub received_at: DateTime<Utc>,
    /// Whom to tell once the message's writes are committed (its publisher's PUBACK waits).
    pub stored: Option<Stored>,
    /// Sent again by the broker (MQTT's DUP flag): its readings may already be stored.
    pub redelivered: bool,
}

/// The promise to say when a message's writes are committed. Confirmed by the writer after
/// the commit (or at once when the message stores nothing); dropped unconfirmed when they
/// could not be stored, so that the publisher gets no PUBACK and sends the message again.
#[derive(Debug)]
pub struct Stored(tokio::sync::oneshot::Sender<()>);

/// The publisher's side of [`Stored`]: resolves `Ok` once committed, `Err` if never.
pub type StoredReceiver = tokio::sync::oneshot::Receiver<()>;

impl Stored {
    pub fn new() -> (Stored, StoredReceiver) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Stored(tx), rx)
    }

    pub fn confirm(self) {
        let _ = self.0.send(());
    }
}

#[derive(Clone)]
pub struct IngestSender {
    tx: mpsc::Sender<Inbound>,
    cameras: mpsc::Sender<Inbound>,
    /// Bytes the readings' and the cameras' queues may still take.
    budget: Arc<Semaphore>,
    camera_budget: Arc<Semaphore>,
    budget_bytes: usize,
    camera_prefix: String,
    metrics: Arc<Metrics>,
}

/// The consuming ends of the hand-off.
pub struct IngestReceivers {
    pub readings: QueueReceiver,
    pub cameras: QueueReceiver,
}

/// One queue's consuming end: gives the bytes of what it takes back to the queue's budget.
pub struct QueueReceiver {
    rx: mpsc::Receiver<Inbound>,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

impl QueueReceiver {
    pub async fn recv(&mut self) -> Option<Inbound> {
        let message = self.rx.recv().await?;
        self.budget.add_permits(cost(&message, self.budget_bytes));
        Some(message)
    }

    pub async fn recv_many(&mut self, buffer: &mut Vec<Inbound>, limit: usize) -> usize {
        let start = buffer.len();
        let received = self.rx.recv_many(buffer, limit).await;
        let bytes = buffer[start..]
            .iter()
            .map(|m| cost(m, self.budget_bytes))
            .sum();
        self.budget.add_permits(bytes);
        received
    }
}

/// What a message costs of a queue's byte budget (never more than the whole budget, so
/// that it can always get in eventually).
fn cost(message: &Inbound, budget_bytes: usize) -> usize {
    // The topic and payload, plus what a queued message costs besides.
    (message.topic.len() + message.payload.len() + 128).min(budget_bytes)
}

/// Camera messages are few (events, statuses), each a database write.
const CAMERA_QUEUE_CAPACITY: usize = 4096;
/// The camera queue's byte budget.
const CAMERA_QUEUE_BYTES: usize = 32 * 1024 * 1024;

/// The pipeline has stopped; nothing more can be handed over.
#[derive(Debug, thiserror::Error)]
#[error("the ingest pipeline has stopped")]
pub struct Closed;

/// The hand-off queues; messages under `camera_tree` go to the collector's.
pub fn channel(
    capacity: usize,
    budget_bytes: usize,
    camera_tree: &str,
    metrics: Arc<Metrics>,
) -> (IngestSender, IngestReceivers) {
    let (tx, readings) = mpsc::channel(capacity);
    let (cameras_tx, cameras) = mpsc::channel(CAMERA_QUEUE_CAPACITY);
    metrics
        .ingest_queue_capacity
        .store(capacity as i64, Ordering::Relaxed);
    let budget = Arc::new(Semaphore::new(budget_bytes));
    let camera_budget = Arc::new(Semaphore::new(CAMERA_QUEUE_BYTES));
    let sender = IngestSender {
        tx,
        cameras: cameras_tx,
        budget: budget.clone(),
        camera_budget: camera_budget.clone(),
        budget_bytes,
        camera_prefix: format!("{camera_tree}/"),
        metrics,
    };
    let receivers = IngestReceivers {
        readings: QueueReceiver {
            rx: readings,
            budget,
            budget_bytes,
        },
        cameras: QueueReceiver {
            rx: cameras,
            budget: camera_budget,
            budget_bytes: CAMERA_QUEUE_BYTES,
        },
    };
    (sender, receivers)
}

impl IngestSender {
    /// Hands over a message that will be acknowledged: waits while the queue is full.
    pub async fn deliver(&self, message: Inbound) -> Result<(), Closed> {
        let (tx, budget, budget_bytes) = self.queue_of(&message);
        let bytes = cost(&message, budget_bytes);
        budget
            .acquire_many(bytes as u32)
            .await
            .map_err(|_| Closed)?
            .forget();
        tx.send(message).await.map_err(|_| Closed)?;
        if !self.is_camera_tx(tx) {
            self.metrics
                .ingest_queue_depth
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Hands over a message that needs no acknowledgement; sheds it (counted) when the
    /// queue is full.
    pub fn offer(&self, message: Inbound) {
        let (tx, budget, budget_bytes) = self.queue_of(&message);
        let bytes = cost(&message, budget_bytes);
        let Ok(permit) = budget.try_acquire_many(bytes as u32) else {
            self.metrics.ingest_shed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send(message) {
            Ok(()) => {
                permit.forget();
                if !self.is_camera_tx(tx) {
                    self.metrics
                        .ingest_queue_depth
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.ingest_shed.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn queue_of(&self, message: &Inbound) -> (&mpsc::Sender<Inbound>, &Semaphore, usize) {
        if message.topic.starts_with(self.camera_prefix.as_bytes()) {
            (&self.cameras, &self.camera_budget, CAMERA_QUEUE_BYTES)
        } else {
            (&self.tx, &self.budget, self.budget_bytes)
        }
    }

    fn is_camera_tx(&self, tx: &mpsc::Sender<Inbound>) -> bool {
        tx.same_channel(&self.cameras)
    }
}
