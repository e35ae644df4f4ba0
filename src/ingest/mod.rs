//! The hand-off from the broker to the ingest pipeline: a bounded queue of messages from
//! the gateway and camera topic trees, each with the identity of the client that
//! published it.
//!
//! What it guarantees: a QoS 1 message is acknowledged (PUBACK) only once it is in this
//! queue; when the queue is full the publisher's PUBACK waits (MQTT's own backpressure). A
//! QoS 0 message that finds the queue full is shed and counted (`sv_ingest_shed_total`).
//!
//! The consumer is [`pipeline::run`].

pub mod decode;
pub mod locate;
pub mod pipeline;
pub mod sessions;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

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

#[derive(Debug, Clone)]
pub struct Inbound {
    pub topic: Bytes,
    pub payload: Bytes,
    pub qos: u8,
    pub identity: Arc<Identity>,
    pub received_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct IngestSender {
    tx: mpsc::Sender<Inbound>,
    metrics: Arc<Metrics>,
}

/// The pipeline has stopped; nothing more can be handed over.
#[derive(Debug, thiserror::Error)]
#[error("the ingest pipeline has stopped")]
pub struct Closed;

pub fn channel(capacity: usize, metrics: Arc<Metrics>) -> (IngestSender, mpsc::Receiver<Inbound>) {
    let (tx, rx) = mpsc::channel(capacity);
    metrics
        .ingest_queue_capacity
        .store(capacity as i64, Ordering::Relaxed);
    (IngestSender { tx, metrics }, rx)
}

impl IngestSender {
    /// Hands over a message that will be acknowledged: waits while the queue is full.
    pub async fn deliver(&self, message: Inbound) -> Result<(), Closed> {
        self.tx.send(message).await.map_err(|_| Closed)?;
        self.metrics
            .ingest_queue_depth
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Hands over a message that needs no acknowledgement; sheds it (counted) when the
    /// queue is full.
    pub fn offer(&self, message: Inbound) {
        match self.tx.try_send(message) {
            Ok(()) => {
                self.metrics
                    .ingest_queue_depth
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.ingest_shed.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}
