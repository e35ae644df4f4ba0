//! The embedded MQTT broker: rumqttd's router is the pub/sub engine; the network layer
//! (listeners, CONNECT, authentication, authorisation, takeover, keep-alive, last will,
//! shutdown) is ours, on rumqttd's public local-link API and protocol codec. See
//! ARCHITECTURE.md §4 for why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttd::local::{LinkBuilder, LinkRx, LinkTx};
use rumqttd::{Notification, RouterConfig};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MqttConfig;
use crate::ingest::IngestSender;
use crate::metrics::{Metrics, Refusal};
use crate::store::Store;

pub mod acl;
pub mod auth;
mod connection;
pub mod external;
mod session;
mod tls;

/// Builds a link to the router for a client id (blocking: it waits for the router's
/// ConnAck). The router's sender has a type rumqttd does not export, so it lives in here.
type LinkFactory =
    Arc<dyn Fn(&str, bool) -> Result<(LinkTx, LinkRx, Notification), String> + Send + Sync>;

/// Client ids starting with this belong to the appliance's own links to the router;
/// network clients may not use them (taking one over would silently cut that link off).
pub const RESERVED_CLIENT_ID_PREFIX: &str = "securityvision-";
/// The CAM-BUS publisher's link.
pub const PUBLISHER_CLIENT_ID: &str = "securityvision-publisher";

/// What every connection shares.
pub(crate) struct Shared {
    config: MqttConfig,
    auth: Arc<auth::Authenticator>,
    sessions: session::Sessions,
    subscriptions: session::Subscriptions,
    links: LinkFactory,
    ingest: IngestSender,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// Ids of credentials that changed or were revoked: their sessions close.
    revoked: tokio::sync::broadcast::Sender<i64>,
    gateway_prefix: String,
    camera_prefix: String,
}

impl Shared {
    /// Topics handed to the ingest pipeline: the gateway and camera trees.
    fn is_pipeline_topic(&self, topic: &str) -> bool {
        topic.starts_with(&self.gateway_prefix) || topic.starts_with(&self.camera_prefix)
    }

    /// Topics only the appliance publishes to: the cameras' `/info` configurations. A
    /// client publishing there would replace a camera's configuration under the
    /// collectors' feet.
    fn is_appliance_topic(&self, topic: &str) -> bool {
        topic.starts_with(&self.camera_prefix)
            && matches!(
                crate::cambus::topic::parse(topic, &self.config.camera_tree),
                Ok(crate::cambus::topic::CameraTopic::Info { .. })
            )
    }
}

/// What the rest of the appliance may ask of the broker's authentication, before and
/// while it runs.
#[derive(Clone)]
pub struct Control {
    auth: Arc<auth::Authenticator>,
    revoked: tokio::sync::broadcast::Sender<i64>,
}

impl Control {
    pub fn new(store: Store, config: &MqttConfig) -> Control {
        Control {
            auth: Arc::new(auth::Authenticator::new(store, config)),
            revoked: tokio::sync::broadcast::channel(64).0,
        }
    }

    /// Forgets verified passwords and closes the sessions of a credential that changed or
    /// was revoked, so that its clients reconnect under the new rules (or not at all).
    pub fn credential_changed(&self, credential_id: i64) {
        self.auth.invalidate();
        let _ = self.revoked.send(credential_id);
    }
}

/// The running broker.
pub struct Broker {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    mqtt_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    ws_addr: Option<SocketAddr>,
}

impl Broker {
    /// Starts the router and the listeners. Stops accepting when `shutdown` is cancelled;
    /// [`Broker::wait`] then waits for the connections to close.
    pub async fn start(
        config: &MqttConfig,
        control: &Control,
        ingest: IngestSender,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Broker> {
        let router_tx = rumqttd::Router::new(0, router_config(config)).spawn();
        let links: LinkFactory = Arc::new(move |client_id: &str, clean_session: bool| {
            LinkBuilder::new(client_id, router_tx.clone())
                .clean_session(clean_session)
                .dynamic_filters(true)
                .build()
                .map_err(|e| e.to_string())
        });
        let shared = Arc::new(Shared {
            config: config.clone(),
            auth: control.auth.clone(),
            sessions: session::Sessions::default(),
            subscriptions: session::Subscriptions::default(),
            links,
            ingest,
            metrics,
            shutdown: shutdown.clone(),
            revoked: control.revoked.clone(),
            gateway_prefix: format!("{}/", config.gateway_tree),
            camera_prefix: format!("{}/", config.camera_tree),
        });
        let tracker = TaskTracker::new();
        let slots = Arc::new(Semaphore::new(config.max_connections));

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening for MQTT on {} (mqtt.listen)", config.listen))?;
        let mqtt_addr = listener.local_addr()?;
        tracing::info!(address = %mqtt_addr, "MQTT broker listening");
        tracker.spawn(accept_loop(
            listener,
            Transport::Plain,
            shared.clone(),
            slots.clone(),
            tracker.clone(),
        ));

        let mut tls_addr = None;
        if let (Some(addr), Some(cert), Some(key)) =
            (config.tls_listen, &config.tls_cert, &config.tls_key)
        {
            let acceptor = tls::acceptor(cert, key)?;
            let listener = TcpListener::bind(addr).await.with_context(|| {
                format!("listening for MQTT over TLS on {addr} (mqtt.tls_listen)")
            })?;
            tls_addr = Some(listener.local_addr()?);
            tracing::info!(address = %listener.local_addr()?, "MQTT broker listening (TLS)");
            tracker.spawn(accept_loop(
                listener,
                Transport::Tls(acceptor),
                shared.clone(),
                slots.clone(),
                tracker.clone(),
            ));
        }
        let mut ws_addr = None;
        if let Some(addr) = config.ws_listen {
            let listener = TcpListener::bind(addr).await.with_context(|| {
                format!("listening for MQTT over WebSocket on {addr} (mqtt.ws_listen)")
            })?;
            ws_addr = Some(listener.local_addr()?);
            tracing::info!(address = %listener.local_addr()?, "MQTT broker listening (WebSocket)");
            tracker.spawn(accept_loop(
                listener,
                Transport::WebSocket,
                shared.clone(),
                slots,
                tracker.clone(),
            ));
        }
        tracker.close();
        Ok(Broker {
            shared,
            tracker,
            mqtt_addr,
            tls_addr,
            ws_addr,
        })
    }

    pub fn mqtt_addr(&self) -> SocketAddr {
        self.mqtt_addr
    }

    /// A link of the appliance's own to the router, for server-side publishes (camera
    /// configurations, commands): no socket, no ingest hand-off, so what the appliance
    /// publishes never comes back to it as input.
    pub async fn local_link(&self, client_id: &str) -> anyhow::Result<(LinkTx, LinkRx)> {
        let links = self.shared.links.clone();
        let id = client_id.to_string();
        let (tx, rx, _) = tokio::task::spawn_blocking(move || links(&id, true))
            .await?
            .map_err(|e| anyhow::anyhow!("linking to the MQTT router: {e}"))?;
        Ok((tx, rx))
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    /// Waits (at most `grace`) for the listeners and connections to finish after shutdown.
    pub async fn wait(self, grace: Duration) {
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("MQTT connections still open after the grace period");
        }
        drop(self.shared);
    }
}

/// Router sizing, explicit (rumqttd's `Default` is all zeros). Each subscribed filter keeps
/// an in-memory log of up to `max_segment_size × max_segment_count` bytes, which is the lag
/// a slow subscriber may build up before it loses messages.
fn router_config(config: &MqttConfig) -> RouterConfig {
    RouterConfig {
        // Room for the appliance's own links besides the clients.
        max_connections: config.max_connections + 64,
        max_outgoing_packet_count: 20_000,
        max_segment_size: 4 * 1024 * 1024,
        max_segment_count: 4,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    }
}

/// How a listener's connections carry MQTT.
#[derive(Clone)]
enum Transport {
    Plain,
    Tls(tokio_rustls::TlsAcceptor),
    WebSocket,
}

async fn accept_loop(
    listener: TcpListener,
    transport: Transport,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    tracker: TaskTracker,
) {
    let shutdown = shared.shutdown.clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "MQTT accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            shared.metrics.refused(Refusal::TooManyConnections);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let transport = transport.clone();
        // Handshakes run in the connection's own task, so a slow one holds up nobody.
        tracker.spawn(async move {
            let handshake_time = Duration::from_secs(shared.config.connect_timeout_seconds);
            match transport {
                Transport::Plain => connection::serve(stream, peer, shared).await,
                Transport::Tls(acceptor) => {
                    match tokio::time::timeout(handshake_time, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => connection::serve(stream, peer, shared).await,
                        _ => shared.metrics.refused(Refusal::ProtocolError),
                    }
                }
                Transport::WebSocket => {
                    let upgrade = async_tungstenite::tokio::accept_hdr_async(
                        stream,
                        websocket::MqttSubprotocol,
                    );
                    match tokio::time::timeout(handshake_time, upgrade).await {
                        Ok(Ok(ws)) => {
                            connection::serve(
                                ws_stream_tungstenite::WsStream::new(ws),
                                peer,
                                shared,
                            )
                            .await
                        }
                        _ => shared.metrics.refused(Refusal::ProtocolError),
                    }
                }
            }
            drop(slot);
        });
    }
    tracing::debug!("MQTT listener stopped");
}

mod websocket {
    use async_tungstenite::tungstenite::handshake::server::{
        Callback, ErrorResponse, Request, Response,
    };
    use async_tungstenite::tungstenite::http::HeaderValue;

    /// Answers the WebSocket upgrade with the `mqtt` subprotocol, which MQTT clients
    /// (mqtt.js, Paho) require.
    pub struct MqttSubprotocol;

    impl Callback for MqttSubprotocol {
        fn on_request(
            self,
            _request: &Request,
            mut response: Response,
        ) -> Result<Response, ErrorResponse> {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
            Ok(response)
        }
    }
}
