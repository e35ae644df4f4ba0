//! External broker mode: the appliance consumes the gateway and camera trees of an existing
//! broker cluster through shared subscriptions (`$share/<group>/<tree>/#`), so several nodes
//! on one PostgreSQL split the traffic. Messages reach the same hand-off as in embedded
//! mode, and a QoS 1 message is acknowledged to the broker only once it is in the queue.
//!
//! The node connects with a stable client id (`<external_client_id>-<node id>`) and a
//! persistent session with QoS 1 subscriptions, so the broker queues what arrives while
//! the node is away (a restart, an upgrade) and delivers it when it is back. TLS to the
//! broker (`external_tls`) uses the system's roots or the given CA file.
//!
//! In a cluster (`docs/cluster.md`) only the leader consumes, with the site-wide client id
//! (`<external_client_id>`, no shared subscription): the broker queues for that one session
//! while no node leads, and the next leader resumes it. Every node also has a client of its
//! own (`<external_client_id>-<node id>`, clean session, no subscriptions) for its CAM-BUS
//! publishes, and one for the live state (`cluster/live.rs`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS, TlsConfiguration, Transport,
};
use std::path::Path;
use tokio::sync::watch;
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

use crate::config::MqttConfig;
use crate::ingest::{Identity, Inbound, IngestSender, Source, Stored, StoredReceiver};

/// A client of the external broker: the handle (also used to publish camera
/// configurations) and the event loop that [`run`] drives.
pub struct ExternalClient {
    pub client: AsyncClient,
    event_loop: EventLoop,
    client_id: String,
    /// Whether the broker is connected, and how many times it connected: publishers wait
    /// while it is down and publish again after each reconnection.
    pub state: watch::Receiver<BrokerState>,
    state_tx: watch::Sender<BrokerState>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerState {
    pub connected: bool,
    pub connections: u64,
}

impl ExternalClient {
    /// The handle and the event loop, for a task that drives the client itself.
    pub fn into_parts(self) -> (AsyncClient, EventLoop) {
        (self.client, self.event_loop)
    }
}

/// A node's own client id.
pub fn node_client_id(config: &MqttConfig, node_id: &str) -> String {
    format!("{}-{node_id}", config.external_client_id)
}

/// A client with `client_id`; `persistent`: the broker keeps its session (and queues for
/// its subscriptions) while it is away.
pub fn client(
    config: &MqttConfig,
    client_id: String,
    persistent: bool,
) -> anyhow::Result<ExternalClient> {
    let mut options = MqttOptions::new(
        client_id.clone(),
        config.external_host.clone(),
        config.external_port,
    );
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(!persistent)
        .set_manual_acks(true)
        .set_max_packet_size(config.max_packet_bytes, config.max_packet_bytes);
    if config.external_tls {
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(config.external_ca_file.as_deref())?),
        )));
    }
    if let Some(username) = &config.external_username {
        options.set_credentials(
            username.clone(),
            config.external_password.clone().unwrap_or_default(),
        );
    }
    let (client, event_loop) = AsyncClient::new(options, 1024);
    let (state_tx, state) = watch::channel(BrokerState::default());
    Ok(ExternalClient {
        client,
        event_loop,
        client_id,
        state,
        state_tx,
    })
}

/// TLS to the external broker: the broker's certificate is checked against `ca_file`
/// (PEM) or, without one, the system's trusted roots.
fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<ClientConfig> {
    let roots = crate::tls::roots(ca_file).context("mqtt.external_ca_file")?;
    if roots.is_empty() {
        anyhow::bail!(
            "no trusted CA certificate for the external MQTT broker (mqtt.external_ca_file)"
        );
    }
    crate::tls::client_config(roots)
}

/// What a consumer subscribes to: the gateway and camera trees, shared among the nodes in
/// `external_share_group` unless `site_wide` (a cluster's leader: its session alone).
pub fn filters(config: &MqttConfig, site_wide: bool) -> Vec<String> {
    crate::ingest::topics::TopicTrees::new(config)
        .filters()
        .into_iter()
        .map(|filter| match config.external_share_group.as_str() {
            "" => filter,
            _ if site_wide => filter,
            group => format!("$share/{group}/{filter}"),
        })
        .collect()
}

/// Runs until `shutdown`; reconnects on its own after failures. Subscribes to `filters`
/// (none: a client that only publishes).
pub async fn run(
    config: MqttConfig,
    external: ExternalClient,
    filters: Vec<String>,
    ingest: IngestSender,
    shutdown: CancellationToken,
) {
    let ExternalClient {
        client,
        event_loop: mut eventloop,
        client_id,
        state_tx,
        ..
    } = external;
    let identity = Arc::new(Identity {
        credential_id: None,
        username: config.external_username.clone(),
        client_id,
        source: Source::External,
    });
    // Each message is acknowledged to the broker once its writes are committed, in order:
    // until then the broker keeps it for our session.
    let (acks, mut committed) = tokio::sync::mpsc::channel::<(Publish, StoredReceiver)>(4096);
    tokio::spawn({
        let client = client.clone();
        async move {
            while let Some((publish, stored)) = committed.recv().await {
                if stored.await.is_ok() {
                    let _ = client.try_ack(&publish);
                } else {
                    tracing::warn!(
                        topic = publish.topic,
                        "a report could not be stored: left unacknowledged at the external broker"
                    );
                }
            }
        }
    });
    tracing::info!(
        host = config.external_host,
        port = config.external_port,
        ?filters,
        "consuming an external MQTT broker"
    );
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            () = shutdown.cancelled() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                state_tx.send_modify(|s| {
                    s.connected = true;
                    s.connections += 1;
                });
                // Subscribing again is harmless when the broker kept the session, and
                // needed when it did not (it restarted, or expired the session).
                for filter in &filters {
                    if let Err(err) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                        tracing::warn!(filter, error = %err, "could not subscribe at the external broker");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = Inbound {
                    topic: bytes::Bytes::copy_from_slice(publish.topic.as_bytes()),
                    payload: publish.payload.clone(),
                    qos: publish.qos as u8,
                    identity: identity.clone(),
                    received_at: crate::store::now(),
                    stored: None,
                    redelivered: publish.dup,
                };
                if publish.qos == QoS::AtMostOnce {
                    ingest.offer(message);
                } else {
                    let (stored, committed_rx) = Stored::new();
                    if ingest
                        .deliver(Inbound {
                            stored: Some(stored),
                            ..message
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                    if acks.send((publish, committed_rx)).await.is_err() {
                        break;
                    }
                }
            }
            Ok(_) => {}
            Err(err) => {
                state_tx.send_if_modified(|s| std::mem::replace(&mut s.connected, false));
                tracing::warn!(error = %err, "external MQTT broker unavailable; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => break,
                }
            }
        }
    }
    let _ = client.try_disconnect();
}
