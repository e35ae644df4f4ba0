//! The embedded MQTT broker: rumqttd's router is the pub/sub engine; the network layer
//! (listeners, CONNECT, authentication, authorisation, takeover, keep-alive, last will,
//! shutdown) is ours, on rumqttd's public local-link API and protocol codec. Why:
//! docs/architecture.md ("Decisions").

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
use crate::metrics::Metrics;
use crate::store::Store;

pub mod acl;
pub mod auth;
mod connection;
pub mod external;
mod limits;
mod refusal;
mod retained;
mod session;
mod tls;

pub use refusal::Refusal;

/// Builds a link to the router for a client id (blocking: it waits for the router's
/// ConnAck). The router's sender has a type rumqttd does not export, so it lives in here.
type LinkFactory =
    Arc<dyn Fn(&str, bool) -> Result<(LinkTx, LinkRx, Notification), String> + Send + Sync>;

/// Client ids starting with this belong to the appliance's own links to the router;
/// network clients may not use them (taking one over would silently cut that link off).
pub const RESERVED_CLIENT_ID_PREFIX: &str = "securityvision-";
/// The CAM-BUS publisher's link.
pub const PUBLISHER_CLIENT_ID: &str = "securityvision-publisher";
/// The watchdog's own link and the topic it publishes to itself.
const PROBE_CLIENT_ID: &str = "securityvision-watchdog";
const PROBE_TOPIC: &str = "securityvision/watchdog";

/// What every connection shares.
pub(crate) struct Shared {
    config: MqttConfig,
    auth: Arc<auth::Authenticator>,
    sessions: session::Sessions,
    subscriptions: session::Subscriptions,
    retained: retained::RetainedLimits,
    links: LinkFactory,
    ingest: IngestSender,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    trees: crate::ingest::topics::TopicTrees,
    camera_prefix: String,
}

impl Shared {
    /// Topics handed to the ingest pipeline or the CAM-BUS collector.
    fn is_pipeline_topic(&self, topic: &str) -> bool {
        self.trees.classify(topic).is_some()
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
}

impl Control {
    pub fn new(store: Store, config: &MqttConfig) -> Control {
        Control {
            auth: Arc::new(auth::Authenticator::new(store, config)),
        }
    }

    /// Forgets verified passwords and closes the sessions of a credential that changed or
    /// was revoked, so that its clients reconnect under the new rules (or not at all).
    pub fn credential_changed(&self, credential_id: i64) {
        self.auth.credential_changed(credential_id);
    }
}

/// The running broker.
pub struct Broker {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    router_failed: CancellationToken,
    mqtt_addr: Option<SocketAddr>,
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
        let (links, router_gone) = spawn_router(config);
        let tracker = TaskTracker::new();
        let router_failed = CancellationToken::new();
        tracker.spawn(supervise_router(
            router_gone,
            router_failed.clone(),
            shutdown.clone(),
        ));
        let shared = Arc::new(Shared {
            config: config.clone(),
            auth: control.auth.clone(),
            sessions: session::Sessions::default(),
            subscriptions: session::Subscriptions::default(),
            retained: retained::RetainedLimits::new(config),
            links,
            ingest,
            metrics,
            shutdown: shutdown.clone(),
            trees: crate::ingest::topics::TopicTrees::new(config),
            camera_prefix: format!("{}/", config.camera_tree),
        });
        let slots = Slots {
            total: Arc::new(Semaphore::new(config.max_connections)),
            per_address: limits::AddressLimits::new(
                config.max_connections_per_address,
                config.connect_rate_per_minute,
            ),
        };

        let mut mqtt_addr = None;
        if let Some(addr) = config.listen {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for MQTT on {addr} (mqtt.listen)"))?;
            mqtt_addr = Some(listener.local_addr()?);
            tracing::info!(address = %listener.local_addr()?, "MQTT broker listening");
            tracker.spawn(accept_loop(
                listener,
                Transport::Plain,
                shared.clone(),
                slots.clone(),
                tracker.clone(),
            ));
        }

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
            router_failed,
            mqtt_addr,
            tls_addr,
            ws_addr,
        })
    }

    /// Cancelled if rumqttd's router stops (it runs on a thread of its own, and a panic
    /// there would leave every client unserved): the appliance then stops with an error,
    /// so that systemd restarts it, instead of answering CONNECTs it cannot serve.
    pub fn router_failed(&self) -> CancellationToken {
        self.router_failed.clone()
    }

    pub fn mqtt_addr(&self) -> Option<SocketAddr> {
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

    /// A link that proves the router routes (see [`RouterProbe`]).
    pub async fn probe(&self) -> anyhow::Result<RouterProbe> {
        let (mut tx, rx) = self.local_link(PROBE_CLIENT_ID).await?;
        tx.try_subscribe(PROBE_TOPIC)
            .map_err(|e| anyhow::anyhow!("subscribing the watchdog probe: {e}"))?;
        Ok(RouterProbe { tx, rx, sent: 0 })
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

/// Starts rumqttd's router on its own thread; returns how to link to it and how to tell
/// whether it has stopped.
fn spawn_router(config: &MqttConfig) -> (LinkFactory, impl Fn() -> bool + Send + 'static) {
    let router_tx = rumqttd::Router::new(0, router_config(config)).spawn();
    let gone = {
        let router_tx = router_tx.clone();
        move || router_tx.is_disconnected()
    };
    let links: LinkFactory = Arc::new(move |client_id: &str, clean_session: bool| {
        LinkBuilder::new(client_id, router_tx.clone())
            .clean_session(clean_session)
            .dynamic_filters(true)
            .build()
            .map_err(|e| e.to_string())
    });
    (links, gone)
}

/// Watches the router's thread: when it ends (a panic inside rumqttd, or its loop
/// returning), its end of the channel is dropped.
async fn supervise_router(
    router_gone: impl Fn() -> bool,
    failed: CancellationToken,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if router_gone() {
            tracing::error!(
                "the MQTT router stopped; stopping the appliance so that it is restarted"
            );
            failed.cancel();
            return;
        }
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

/// Connection slots: in all, and per source address.
#[derive(Clone)]
struct Slots {
    total: Arc<Semaphore>,
    per_address: Arc<limits::AddressLimits>,
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
    slots: Slots,
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
            () = shutdown.cancelled() => break,
        };
        let address_slot = match slots.per_address.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                shared.metrics.refused(why);
                drop(stream);
                continue;
            }
        };
        let Ok(slot) = slots.total.clone().try_acquire_owned() else {
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
                    let upgrade = async_tungstenite::tokio::accept_hdr_async_with_config(
                        stream,
                        websocket::MqttSubprotocol,
                        Some(websocket::limits(shared.config.max_packet_bytes)),
                    );
                    match tokio::time::timeout(handshake_time, upgrade).await {
                        Ok(Ok(ws)) => {
                            connection::serve(
                                ws_stream_tungstenite::WsStream::new(ws),
                                peer,
                                shared,
                            )
                            .await;
                        }
                        _ => shared.metrics.refused(Refusal::ProtocolError),
                    }
                }
            }
            drop((slot, address_slot));
        });
    }
    tracing::debug!("MQTT listener stopped");
}

mod websocket {
    use async_tungstenite::tungstenite::handshake::server::{
        Callback, ErrorResponse, Request, Response,
    };
    use async_tungstenite::tungstenite::http::HeaderValue;
    use async_tungstenite::tungstenite::protocol::WebSocketConfig;

    /// No frame or message larger than one MQTT packet may be, so a client cannot make us
    /// buffer more before its CONNECT is even read.
    pub fn limits(max_packet_bytes: usize) -> WebSocketConfig {
        WebSocketConfig {
            max_frame_size: Some(max_packet_bytes + 16),
            max_message_size: Some(max_packet_bytes + 16),
            ..WebSocketConfig::default()
        }
    }

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

/// The systemd watchdog's proof that the MQTT router is not stuck: a link of the
/// appliance's own that publishes a counter to itself and waits for it to come back.
pub struct RouterProbe {
    tx: LinkTx,
    rx: LinkRx,
    sent: u64,
}

impl RouterProbe {
    /// Whether a message goes round the router within `within`. Never blocks on a full
    /// router queue: that counts as stuck.
    pub async fn routes(&mut self, within: Duration) -> bool {
        self.sent += 1;
        let payload = self.sent.to_string();
        if self.tx.try_publish(PROBE_TOPIC, payload.clone()).is_err() {
            return false;
        }
        let rx = &mut self.rx;
        let echoed = async {
            loop {
                match rx.next().await {
                    Ok(Some(Notification::Forward(forward)))
                        if forward.publish.payload.as_ref() == payload.as_bytes() =>
                    {
                        return true;
                    }
                    Ok(Some(Notification::Unschedule)) => {
                        if rx.wake().await.is_err() {
                            return false;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        };
        tokio::time::timeout(within, echoed).await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use rumqttd::protocol::{Filter, Packet, QoS, RetainForwardRule, Subscribe};

    use super::*;

    /// rumqttd 0.20's router panics when a persistent session whose shared group emptied
    /// leaves with a message in flight (which is why connections never let a persistent
    /// session subscribe `$share/…`); the supervisor notices such a death.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_router_is_noticed() {
        let config = crate::config::Config::default().mqtt;
        let (links, gone) = spawn_router(&config);
        let failed = CancellationToken::new();
        let watcher = tokio::spawn(supervise_router(
            gone,
            failed.clone(),
            CancellationToken::new(),
        ));

        let link = |id: &'static str, clean| {
            let links = links.clone();
            tokio::task::spawn_blocking(move || links(id, clean))
        };
        let (mut member, mut member_rx, _) = link("x1", false).await.unwrap().unwrap();
        let (mut publisher, _publisher_rx, _) = link("x2", true).await.unwrap().unwrap();
        let filter = Filter {
            path: "$share/g/rtls/cameras/zz".into(),
            qos: QoS::AtLeastOnce,
            nolocal: false,
            preserve_retain: false,
            retain_forward_rule: RetainForwardRule::OnEverySubscribe,
        };
        let subscribe = Subscribe {
            pkid: 1,
            filters: vec![filter],
        };
        member
            .send(Packet::Subscribe(subscribe, None))
            .await
            .unwrap();
        publisher.publish("rtls/cameras/zz", "x").unwrap();
        // Wait for the delivery, and leave it unacknowledged.
        let delivered = async {
            loop {
                match member_rx.next().await {
                    Ok(Some(Notification::Forward(_))) => break,
                    Ok(Some(Notification::Unschedule)) => member_rx.wake().await.unwrap(),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(5), delivered)
            .await
            .expect("the message reaches the member");
        assert!(!failed.is_cancelled());
        member.send(connection_disconnect()).await.unwrap();

        tokio::time::timeout(Duration::from_secs(5), failed.cancelled())
            .await
            .expect("the supervisor notices that the router died");
        watcher.await.unwrap();
    }

    fn connection_disconnect() -> Packet {
        Packet::Disconnect(
            rumqttd::protocol::Disconnect {
                reason_code: rumqttd::protocol::DisconnectReasonCode::NormalDisconnection,
            },
            None,
        )
    }
}
