//! The hand-off from the broker to the ingest pipeline and the CAM-BUS collector: two
//! bounded queues, one for the gateway tree and one for the camera tree, of messages each
//! with the identity of the client that published it.
//!
//! What it guarantees: a QoS 1 message is acknowledged (PUBACK) only once it is in its
//! queue; when the queue is full the publisher's PUBACK waits (MQTT's own backpressure). A
//! QoS 0 message that finds the queue full is shed and counted (`sv_ingest_shed_total`).
//!
//! The consumers are [`pipeline::Pipeline::run`] and [`crate::cambus::collector::run`].

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
    cameras: mpsc::Sender<Inbound>,
    camera_prefix: String,
    metrics: Arc<Metrics>,
}

/// The consuming ends of the hand-off.
pub struct IngestReceivers {
    pub readings: mpsc::Receiver<Inbound>,
    pub cameras: mpsc::Receiver<Inbound>,
}

/// Camera messages are few (events, statuses), each a database write.
const CAMERA_QUEUE_CAPACITY: usize = 4096;

/// The pipeline has stopped; nothing more can be handed over.
#[derive(Debug, thiserror::Error)]
#[error("the ingest pipeline has stopped")]
pub struct Closed;

/// The hand-off queues; messages under `camera_tree` go to the collector's.
pub fn channel(
    capacity: usize,
    camera_tree: &str,
    metrics: Arc<Metrics>,
) -> (IngestSender, IngestReceivers) {
    let (tx, readings) = mpsc::channel(capacity);
    let (cameras_tx, cameras) = mpsc::channel(CAMERA_QUEUE_CAPACITY);
    metrics
        .ingest_queue_capacity
        .store(capacity as i64, Ordering::Relaxed);
    let sender = IngestSender {
        tx,
        cameras: cameras_tx,
        camera_prefix: format!("{camera_tree}/"),
        metrics,
    };
    (sender, IngestReceivers { readings, cameras })
}

impl IngestSender {
    /// Hands over a message that will be acknowledged: waits while the queue is full.
    pub async fn deliver(&self, message: Inbound) -> Result<(), Closed> {
        if self.is_camera(&message) {
            return self.cameras.send(message).await.map_err(|_| Closed);
        }
        self.tx.send(message).await.map_err(|_| Closed)?;
        self.metrics
            .ingest_queue_depth
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Hands over a message that needs no acknowledgement; sheds it (counted) when the
    /// queue is full.
    pub fn offer(&self, message: Inbound) {
        if self.is_camera(&message) {
            if self.cameras.try_send(message).is_err() {
                self.metrics.ingest_shed.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
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

impl IngestSender {
    fn is_camera(&self, message: &Inbound) -> bool {
        message.topic.starts_with(self.camera_prefix.as_bytes())
    }
}
