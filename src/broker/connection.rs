//! One client connection: CONNECT (authentication, client-id takeover, keep-alive, last
//! will), then packets both ways between the socket and the client's link to the router,
//! with every PUBLISH and SUBSCRIBE authorised and gateway/camera publishes handed to the
//! ingest pipeline on the way.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use rumqttd::Notification;
use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::protocol::v4::V4;
use rumqttd::protocol::{
    ConnAck, ConnectReturnCode, Disconnect, DisconnectReasonCode, Error as ProtocolError, LastWill,
    Packet, PingResp, Protocol, PubAck, PubAckReason, Publish, SubAck, Subscribe,
    SubscribeReasonCode,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::Refusal;
use super::acl::{self, Rules};
use super::{Shared, session};
use crate::ingest::{Identity, Inbound, Source, Stored, StoredReceiver};

/// Why a connection ended; decides whether its last will is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent DISCONNECT: no will.
    Clean,
    /// Socket closed or failed, keep-alive expired, protocol error, takeover: will.
    Abnormal,
    /// The router closed the link (it already forgot the client): will.
    RouterClosed,
    /// The appliance is stopping: no will.
    Shutdown,
}

/// Resolves when the first PUBLISH waiting for its PUBACK may have it (`Err`: it was not
/// stored); never while none waits.
async fn first_commit(uncommitted: &mut VecDeque<(u16, Option<StoredReceiver>)>) -> Result<(), ()> {
    match uncommitted.front_mut() {
        Some((_, Some(committed))) => committed.await.map_err(drop),
        Some((_, None)) => Ok(()),
        None => std::future::pending().await,
    }
}

pub async fn serve<S>(stream: S, peer: std::net::SocketAddr, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut input = BytesMut::with_capacity(4096);
    let mut codec = V4;
    let max_packet = shared.config.max_packet_bytes;

    // CONNECT must be the first packet, within the connect timeout.
    let connect_deadline = Duration::from_secs(shared.config.connect_timeout_seconds);
    let first = tokio::time::timeout(
        connect_deadline,
        read_connect(&mut reader, &mut input, &mut codec, max_packet),
    )
    .await;
    let (connect, will, login) = match first {
        Ok(Ok(Some((Packet::Connect(connect, _, will, _, login), _)))) => (connect, will, login),
        Ok(Err(ProtocolError::PayloadSizeLimitExceeded(_))) => {
            return shared.metrics.refused(Refusal::TooLarge);
        }
        Err(_) => return shared.metrics.refused(Refusal::ConnectTimeout),
        _ => return shared.metrics.refused(Refusal::ProtocolError),
    };

    let mut out = BytesMut::with_capacity(4096);
    let Some(client_id) = session_client_id(&connect.client_id, connect.clean_session) else {
        shared.metrics.refused(Refusal::InvalidClientId);
        let _ = refuse(
            &mut writer,
            &mut out,
            ConnectReturnCode::ClientIdentifierNotValid,
        )
        .await;
        return;
    };
    let grant = match shared
        .auth
        .authenticate(
            login
                .as_ref()
                .map(|l| (l.username.as_str(), l.password.as_str())),
        )
        .await
    {
        Ok(grant) => grant,
        Err(why) => {
            shared.metrics.refused(why);
            tracing::info!(%peer, client_id, reason = ?why, "MQTT connection refused");
            // A pause before answering slows password guessing.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let code = match why {
                Refusal::BadCredentials => ConnectReturnCode::BadUserNamePassword,
                _ => ConnectReturnCode::NotAuthorized,
            };
            let _ = refuse(&mut writer, &mut out, code).await;
            return;
        }
    };
    let username = grant.username.clone().unwrap_or_default();
    let publish_rules = Rules::new(&grant.publish, &username, &client_id);
    let subscribe_rules = Rules::new(&grant.subscribe, &username, &client_id);
    let will = will.filter(|w| {
        let allowed = std::str::from_utf8(&w.topic).is_ok_and(|t| {
            acl::valid_topic(t) && publish_rules.allows_topic(t) && !shared.is_appliance_topic(t)
        });
        if !allowed {
            shared.metrics.refused(Refusal::PublishDenied);
        }
        allowed
    });

    // Take the client id over from an older connection, which publishes its will and
    // leaves the router before this one joins.
    let owner = grant.credential_id;
    let claim = match shared
        .sessions
        .claim(&client_id, owner, &shared.metrics)
        .await
    {
        Ok(claim) => claim,
        Err(why) => {
            let code = if why == session::ClaimError::InUse {
                shared.metrics.refused(Refusal::ClientIdInUse);
                tracing::info!(%peer, client_id, "client id in use by another credential: refused");
                ConnectReturnCode::ClientIdentifierNotValid
            } else {
                ConnectReturnCode::ServerUnavailable
            };
            let _ = refuse(&mut writer, &mut out, code).await;
            return;
        }
    };

    if claim.foreign_saved_session {
        // A clean link makes the router drop the other credential's saved session.
        let links = shared.links.clone();
        let id = client_id.clone();
        let purged = match tokio::task::spawn_blocking(move || links(&id, true)).await {
            Ok(Ok((mut tx, _rx, _))) => tx.send(disconnect()).await.is_ok(),
            _ => false,
        };
        if !purged {
            let _ = refuse(&mut writer, &mut out, ConnectReturnCode::ServerUnavailable).await;
            return;
        }
    }
    let links = shared.links.clone();
    let (id, clean) = (client_id.clone(), connect.clean_session);
    let built = tokio::task::spawn_blocking(move || links(&id, clean)).await;
    let (mut link_tx, mut link_rx, connack) = match built {
        Ok(Ok(link)) => link,
        other => {
            tracing::warn!(client_id, error = ?other.err(), "the router refused a connection");
            shared.metrics.refused(Refusal::TooManyConnections);
            let _ = refuse(&mut writer, &mut out, ConnectReturnCode::ServerUnavailable).await;
            return;
        }
    };
    if let Some(packet) = Option::<Packet>::from(connack) {
        let _ = codec.write(packet, &mut out);
    }
    if writer.write_all(&out).await.is_err() {
        let _ = link_tx.send(disconnect()).await;
        return;
    }
    out.clear();
    shared
        .metrics
        .mqtt_connections_accepted
        .fetch_add(1, Ordering::Relaxed);
    shared
        .metrics
        .mqtt_connections
        .fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%peer, client_id, username, "MQTT client connected");

    let identity = Arc::new(Identity {
        credential_id: grant.credential_id,
        username: grant.username.clone(),
        client_id: client_id.clone(),
        source: Source::Embedded,
    });
    let mut conn = Connection {
        shared: shared.clone(),
        identity,
        grant,
        publish_rules,
        subscribe_rules,
        pending_subacks: HashMap::new(),
        filters: Vec::new(),
        router_acks: Vec::new(),
        uncommitted: VecDeque::new(),
        clean_session: connect.clean_session,
        codec,
        out,
    };
    // A client that asks for no keep-alive (0) is still closed after the longest one
    // allowed of silence: a dead socket must not hold its slot forever.
    let max_keep_alive = shared.config.max_keep_alive_seconds;
    let keep_alive_seconds = match connect.keep_alive {
        0 => max_keep_alive,
        asked => asked.min(max_keep_alive),
    };
    let keep_alive = Duration::from_millis(u64::from(keep_alive_seconds) * 1500);
    let end = conn
        .run(
            &mut reader,
            &mut writer,
            &mut input,
            &mut link_tx,
            &mut link_rx,
            keep_alive,
            &claim,
        )
        .await;

    if matches!(end, End::Abnormal | End::RouterClosed)
        && let Some(will) = will
    {
        conn.publish_will(&mut link_tx, will).await;
    }
    if end != End::RouterClosed {
        let _ = link_tx.send(disconnect()).await;
    }
    conn.release_filters();
    claim.leave(!conn.clean_session && end != End::RouterClosed, owner);
    let _ = writer.shutdown().await;
    drop(claim);
    shared
        .metrics
        .mqtt_connections
        .fetch_sub(1, Ordering::Relaxed);
    tracing::debug!(%peer, client_id, ?end, "MQTT client disconnected");
}

struct Connection {
    shared: Arc<Shared>,
    identity: Arc<Identity>,
    grant: super::auth::Grant,
    publish_rules: Rules,
    subscribe_rules: Rules,
    /// SUBSCRIBE packet id → which of its filters were allowed (and sent to the router).
    pending_subacks: HashMap<u16, Vec<bool>>,
    /// Filters this client subscribed to (released from the index when it leaves).
    filters: Vec<String>,
    /// Packet ids of deliveries withheld from the client, acknowledged to the router.
    router_acks: Vec<u16>,
    /// QoS 1 PUBLISHes not acknowledged yet, in order, with the commit each waits for.
    uncommitted: VecDeque<(u16, Option<StoredReceiver>)>,
    clean_session: bool,
    codec: V4,
    out: BytesMut,
}

impl Connection {
    #[allow(clippy::too_many_arguments)]
    async fn run<R, W>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        input: &mut BytesMut,
        link_tx: &mut LinkTx,
        link_rx: &mut LinkRx,
        keep_alive: Duration,
        claim: &session::Claim<'_>,
    ) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut deadline = Instant::now() + keep_alive;
        let shutdown = self.shared.shutdown.clone();
        let mut changes = self.shared.auth.changes();
        if !self.shared.auth.is_current(&self.grant) {
            return End::Abnormal;
        }
        // Clients may send their first packets in the same write as CONNECT (pipelining
        // stacks, gateways that CONNECT and PUBLISH at once): they are already buffered.
        if let Some(end) = self.handle_input(input, writer, link_tx).await {
            return end;
        }
        loop {
            tokio::select! {
                read = reader.read_buf(input) => {
                    match read {
                        Ok(0) | Err(_) => return End::Abnormal,
                        Ok(_) => {}
                    }
                    deadline = Instant::now() + keep_alive;
                    if let Some(end) = self.handle_input(input, writer, link_tx).await {
                        return end;
                    }
                }
                notification = link_rx.next() => {
                    match notification {
                        Ok(Some(Notification::Unschedule)) => {
                            if link_rx.wake().await.is_err() {
                                return End::RouterClosed;
                            }
                        }
                        Ok(Some(Notification::Disconnect(..))) | Err(_) => return End::RouterClosed,
                        Ok(Some(notification)) => self.handle_notification(notification),
                        Ok(None) => {}
                    }
                    // Write what the router has ready in one go.
                    while let Some(Ok(Some(notification))) = futures_now(link_rx.next()) {
                        match notification {
                            Notification::Unschedule => {
                                if link_rx.wake().await.is_err() {
                                    return End::RouterClosed;
                                }
                                break;
                            }
                            Notification::Disconnect(..) => return End::RouterClosed,
                            other => self.handle_notification(other),
                        }
                    }
                    for pkid in std::mem::take(&mut self.router_acks) {
                        let ack = PubAck { pkid, reason: PubAckReason::Success };
                        if link_tx.send(Packet::PubAck(ack, None)).await.is_err() {
                            return End::RouterClosed;
                        }
                    }
                    if !self.out.is_empty() {
                        if writer.write_all(&self.out).await.is_err() {
                            return End::Abnormal;
                        }
                        self.out.clear();
                    }
                }
                committed = first_commit(&mut self.uncommitted) => {
                    let acknowledged = committed.and_then(|()| {
                        if let Some((pkid, _)) = self.uncommitted.pop_front() {
                            self.write_puback(pkid);
                        }
                        self.acknowledge_committed()
                    });
                    if acknowledged.is_err() {
                        tracing::warn!(client_id = self.identity.client_id, "a report could not be stored: closing without its PUBACK");
                        return End::Abnormal;
                    }
                    if writer.write_all(&self.out).await.is_err() {
                        return End::Abnormal;
                    }
                    self.out.clear();
                }
                () = tokio::time::sleep_until(deadline) => {
                    self.shared.metrics.mqtt_keepalive_expired.fetch_add(1, Ordering::Relaxed);
                    return End::Abnormal;
                }
                () = claim.taken_over() => return End::Abnormal,
                _ = changes.changed() => {
                    if !self.shared.auth.is_current(&self.grant) {
                        tracing::info!(client_id = self.identity.client_id, "credential changed or revoked: closing its session");
                        return End::Abnormal;
                    }
                }
                () = shutdown.cancelled() => return End::Shutdown,
            }
        }
    }

    /// Handles every complete packet in `input` and writes the answers; `Some` ends the
    /// connection.
    async fn handle_input<W: AsyncWrite + Unpin>(
        &mut self,
        input: &mut BytesMut,
        writer: &mut W,
        link_tx: &mut LinkTx,
    ) -> Option<End> {
        let max_packet = self.shared.config.max_packet_bytes;
        loop {
            let header = publish_header(input);
            match self.codec.read_mut(input, max_packet) {
                Ok(packet) => {
                    if let Some(end) = self.handle_packet(packet, header, link_tx).await {
                        let _ = writer.write_all(&self.out).await;
                        return Some(end);
                    }
                }
                Err(ProtocolError::InsufficientBytes(_)) => break,
                Err(ProtocolError::PayloadSizeLimitExceeded(_)) => {
                    self.shared.metrics.refused(Refusal::TooLarge);
                    return Some(End::Abnormal);
                }
                Err(err) => {
                    tracing::debug!(client_id = self.identity.client_id, error = %err, "malformed MQTT packet");
                    self.shared.metrics.refused(Refusal::ProtocolError);
                    return Some(End::Abnormal);
                }
            }
        }
        if !self.out.is_empty() {
            if writer.write_all(&self.out).await.is_err() {
                return Some(End::Abnormal);
            }
            self.out.clear();
        }
        None
    }

    /// Handles one packet from the client; `Some` ends the connection.
    async fn handle_packet(
        &mut self,
        packet: Packet,
        header: Option<(u8, u16)>,
        link_tx: &mut LinkTx,
    ) -> Option<End> {
        match packet {
            Packet::Publish(publish, _) => {
                let (qos, pkid) = header.unwrap_or((0, 0));
                self.handle_publish(publish, qos, pkid, link_tx).await
            }
            Packet::Subscribe(subscribe, _) => self.handle_subscribe(subscribe, link_tx).await,
            Packet::Unsubscribe(unsubscribe, props) => {
                for filter in &unsubscribe.filters {
                    if let Some(i) = self.filters.iter().position(|f| f == filter) {
                        self.shared
                            .subscriptions
                            .remove(&self.filters.swap_remove(i));
                    }
                }
                link_tx
                    .send(Packet::Unsubscribe(unsubscribe, props))
                    .await
                    .err()
                    .map(|_| End::RouterClosed)
            }
            // The client acknowledges a message we forwarded: the router needs it to go on.
            Packet::PubAck(ack, props) => link_tx
                .send(Packet::PubAck(ack, props))
                .await
                .err()
                .map(|_| End::RouterClosed),
            Packet::PingReq(_) => {
                let _ = self.codec.write(Packet::PingResp(PingResp), &mut self.out);
                None
            }
            Packet::Disconnect(..) => Some(End::Clean),
            // QoS 2 is not offered (the router does not need it for our clients), nor a
            // second CONNECT.
            _ => {
                self.shared.metrics.refused(Refusal::ProtocolError);
                Some(End::Abnormal)
            }
        }
    }

    async fn handle_publish(
        &mut self,
        publish: Publish,
        qos: u8,
        pkid: u16,
        link_tx: &mut LinkTx,
    ) -> Option<End> {
        let metrics = &self.shared.metrics;
        let mut waits_for = None;
        match qos {
            0 => metrics
                .mqtt_messages_in_qos0
                .fetch_add(1, Ordering::Relaxed),
            1 => metrics
                .mqtt_messages_in_qos1
                .fetch_add(1, Ordering::Relaxed),
            _ => {
                metrics.refused(Refusal::ProtocolError);
                return Some(End::Abnormal);
            }
        };
        let Ok(topic) = std::str::from_utf8(&publish.topic) else {
            metrics.refused(Refusal::ProtocolError);
            return Some(End::Abnormal);
        };
        if !acl::valid_topic(topic) {
            metrics.refused(Refusal::ProtocolError);
            return Some(End::Abnormal);
        }
        if !self.publish_rules.allows_topic(topic) || self.shared.is_appliance_topic(topic) {
            // MQTT 3.1.1 has no negative acknowledgement: the message is dropped (and
            // counted), the client gets its PUBACK as if delivered, as Mosquitto does.
            metrics.refused(Refusal::PublishDenied);
            tracing::debug!(
                client_id = self.identity.client_id,
                topic,
                "publish refused by the ACL"
            );
        } else {
            if self.shared.is_pipeline_topic(topic) {
                let (stored, committed) = if qos == 1 {
                    let (stored, committed) = Stored::new();
                    (Some(stored), Some(committed))
                } else {
                    (None, None)
                };
                let message = Inbound {
                    topic: publish.topic.clone(),
                    payload: publish.payload.clone(),
                    qos,
                    identity: self.identity.clone(),
                    received_at: crate::store::now(),
                    stored,
                    redelivered: false,
                };
                if qos == 0 {
                    self.shared.ingest.offer(message);
                } else if self.shared.ingest.deliver(message).await.is_err() {
                    return Some(End::Shutdown);
                }
                waits_for = committed;
            }
            // Other subscribers (and retained messages) go through the router; topics
            // nobody reads never reach it, so it keeps no log for them.
            let retain = publish.retain && self.may_retain(topic, publish.payload.len());
            if retain || self.shared.subscriptions.any_match(topic) {
                let forwarded = if qos == 0 && retain == publish.retain {
                    publish
                } else {
                    Publish::new(publish.topic, publish.payload, retain)
                };
                if link_tx
                    .send(Packet::Publish(forwarded, None))
                    .await
                    .is_err()
                {
                    return Some(End::RouterClosed);
                }
            }
        }
        if qos == 1 {
            // PUBACKs go out in the order of the PUBLISHes (MQTT 3.1.1 §4.6): behind any
            // still waiting for their commit.
            if waits_for.is_none() && self.uncommitted.is_empty() {
                self.write_puback(pkid);
            } else {
                self.uncommitted.push_back((pkid, waits_for));
            }
        }
        None
    }

    fn write_puback(&mut self, pkid: u16) {
        let ack = PubAck {
            pkid,
            reason: PubAckReason::Success,
        };
        let _ = self.codec.write(Packet::PubAck(ack, None), &mut self.out);
    }

    /// Writes the PUBACKs of the leading messages that are committed; `Err` when one of them
    /// could not be stored (the connection then closes without its PUBACK, so that the
    /// client sends it again).
    fn acknowledge_committed(&mut self) -> Result<(), ()> {
        while let Some((pkid, waits_for)) = self.uncommitted.front_mut() {
            let pkid = *pkid;
            match waits_for.as_mut().map(StoredReceiver::try_recv) {
                None | Some(Ok(())) => {}
                Some(Err(tokio::sync::oneshot::error::TryRecvError::Empty)) => break,
                Some(Err(tokio::sync::oneshot::error::TryRecvError::Closed)) => return Err(()),
            }
            self.uncommitted.pop_front();
            self.write_puback(pkid);
        }
        Ok(())
    }

    async fn handle_subscribe(
        &mut self,
        subscribe: Subscribe,
        link_tx: &mut LinkTx,
    ) -> Option<End> {
        let mut allowed_flags = Vec::with_capacity(subscribe.filters.len());
        let mut allowed = Vec::new();
        for filter in subscribe.filters {
            let shared = filter.path.starts_with("$share/");
            // rumqttd 0.20 panics (and its router stays dead) when it saves a persistent
            // session whose shared group emptied as the client left: a persistent session
            // never joins a group.
            if shared && !self.clean_session {
                self.shared
                    .metrics
                    .refused(Refusal::SharedOnPersistentSession);
                allowed_flags.push(false);
                continue;
            }
            let well_formed = if shared {
                valid_share(&filter.path)
            } else {
                acl::valid_filter(&filter.path)
            };
            let ok = well_formed && self.subscribe_rules.allows_filter(&filter.path);
            if ok {
                self.shared.subscriptions.add(&filter.path);
                self.filters.push(filter.path.clone());
                allowed.push(filter);
            } else {
                self.shared.metrics.refused(Refusal::SubscribeDenied);
                tracing::debug!(
                    client_id = self.identity.client_id,
                    filter = filter.path,
                    "subscription refused by the ACL"
                );
            }
            allowed_flags.push(ok);
        }
        if allowed.is_empty() {
            let codes = vec![SubscribeReasonCode::Failure; allowed_flags.len()];
            let _ = self.codec.write(
                Packet::SubAck(
                    SubAck {
                        pkid: subscribe.pkid,
                        return_codes: codes,
                    },
                    None,
                ),
                &mut self.out,
            );
            return None;
        }
        self.pending_subacks.insert(subscribe.pkid, allowed_flags);
        let forwarded = Subscribe {
            pkid: subscribe.pkid,
            filters: allowed,
        };
        link_tx
            .send(Packet::Subscribe(forwarded, None))
            .await
            .err()
            .map(|_| End::RouterClosed)
    }

    fn handle_notification(&mut self, notification: Notification) {
        let Some(packet) = Option::<Packet>::from(notification) else {
            return;
        };
        let packet = match packet {
            // Our own PUBACKs went out when the message was handed over.
            Packet::PubAck(..) => return,
            Packet::SubAck(mut suback, props) => {
                if let Some(flags) = self.pending_subacks.remove(&suback.pkid) {
                    let mut granted = suback.return_codes.into_iter();
                    suback.return_codes = flags
                        .into_iter()
                        .map(|ok| {
                            if ok {
                                granted.next().unwrap_or(SubscribeReasonCode::Failure)
                            } else {
                                SubscribeReasonCode::Failure
                            }
                        })
                        .collect();
                }
                Packet::SubAck(suback, props)
            }
            other => other,
        };
        // Whatever the router routes here (a subscription made under other rules, a
        // session inherited somehow), a client only ever receives what its credential
        // may read.
        let readable = match &packet {
            Packet::Publish(publish, _) => std::str::from_utf8(&publish.topic)
                .is_ok_and(|topic| self.subscribe_rules.allows_topic(topic)),
            _ => true,
        };
        let start = self.out.len();
        if self.codec.write(packet, &mut self.out).is_ok()
            && self.out.len() > start
            && self.out[start] >> 4 == 3
        {
            let metrics = &self.shared.metrics;
            if !readable {
                // The router waits for an acknowledgement of a QoS 1 delivery.
                if let Some((1.., pkid)) = publish_header(&self.out[start..]) {
                    self.router_acks.push(pkid);
                }
                self.out.truncate(start);
                metrics.refused(Refusal::DeliveryDenied);
                return;
            }
            match (self.out[start] >> 1) & 3 {
                0 => metrics
                    .mqtt_messages_out_qos0
                    .fetch_add(1, Ordering::Relaxed),
                _ => metrics
                    .mqtt_messages_out_qos1
                    .fetch_add(1, Ordering::Relaxed),
            };
        }
    }

    async fn publish_will(&mut self, link_tx: &mut LinkTx, will: LastWill) {
        let topic = String::from_utf8_lossy(&will.topic).into_owned();
        if self.shared.is_pipeline_topic(&topic) {
            self.shared.ingest.offer(Inbound {
                topic: will.topic.clone(),
                payload: will.message.clone(),
                qos: 0,
                identity: self.identity.clone(),
                received_at: crate::store::now(),
                stored: None,
                redelivered: false,
            });
        }
        let retain = will.retain && self.may_retain(&topic, will.message.len());
        if retain || self.shared.subscriptions.any_match(&topic) {
            let _ = link_tx
                .send(Packet::Publish(
                    Publish::new(will.topic, will.message, retain),
                    None,
                ))
                .await;
        }
    }

    /// Whether a retained publish may be kept (the retained limits); if not, it is
    /// delivered to the subscribers of the moment only.
    fn may_retain(&self, topic: &str, bytes: usize) -> bool {
        let owner = self.identity.credential_id;
        let admitted = self.shared.retained.admit(topic, bytes, owner);
        if !admitted {
            self.shared.metrics.refused(Refusal::RetainedLimit);
        }
        admitted
    }

    /// A persistent session keeps its subscriptions in the router while the client is
    /// away, so they stay in the index too.
    fn release_filters(&mut self) {
        if self.clean_session {
            for filter in self.filters.drain(..) {
                self.shared.subscriptions.remove(&filter);
            }
        }
    }
}

fn valid_share(filter: &str) -> bool {
    match filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((group, inner)) => {
            !group.is_empty() && !group.contains(['+', '#']) && acl::valid_filter(inner)
        }
        None => false,
    }
}

/// The client id the router will know the client by. An empty id is allowed for a clean
/// session (we assign one); ids the router cannot take (`+ # / $`, control characters,
/// over 128 bytes) are refused.
fn session_client_id(id: &str, clean_session: bool) -> Option<String> {
    if id.is_empty() {
        return clean_session.then(|| format!("sv-{}", crate::auth::random_secret(9)));
    }
    let valid = id.len() <= 128
        && !id.starts_with(super::RESERVED_CLIENT_ID_PREFIX)
        && !id
            .chars()
            .any(|c| matches!(c, '+' | '#' | '/' | '$') || c.is_control());
    valid.then(|| id.to_string())
}

/// Reads the first packet, which must be a CONNECT: anything else (an HTTP request, a
/// port scan) is refused at its first byte instead of being waited on. `Ok(None)`: the
/// socket closed.
async fn read_connect<R: AsyncRead + Unpin>(
    reader: &mut R,
    input: &mut BytesMut,
    codec: &mut V4,
    max_packet: usize,
) -> Result<Option<(Packet, Option<(u8, u16)>)>, ProtocolError> {
    loop {
        if let Some(&first) = input.first()
            && first != 0x10
        {
            return Err(ProtocolError::InvalidPacketType(first >> 4));
        }
        let header = publish_header(input);
        match codec.read_mut(input, max_packet) {
            Ok(packet) => return Ok(Some((packet, header))),
            Err(ProtocolError::InsufficientBytes(_)) => {}
            Err(err) => return Err(err),
        }
        match reader.read_buf(input).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// QoS and packet id of the PUBLISH at the start of `buf`, read from the wire because
/// rumqttd keeps them private in its `Publish`.
fn publish_header(buf: &[u8]) -> Option<(u8, u16)> {
    let first = *buf.first()?;
    if first >> 4 != 3 {
        return None;
    }
    let qos = (first >> 1) & 3;
    // Remaining length: up to four bytes of 7 bits.
    let mut pos = 1;
    loop {
        let byte = *buf.get(pos)?;
        pos += 1;
        if byte & 0x80 == 0 || pos > 4 {
            break;
        }
    }
    if qos == 0 {
        return Some((0, 0));
    }
    let topic_len = u16::from_be_bytes([*buf.get(pos)?, *buf.get(pos + 1)?]) as usize;
    let at = pos + 2 + topic_len;
    Some((qos, u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?])))
}

async fn refuse<W: AsyncWrite + Unpin>(
    writer: &mut W,
    out: &mut BytesMut,
    code: ConnectReturnCode,
) -> std::io::Result<()> {
    let ack = ConnAck {
        session_present: false,
        code,
    };
    let _ = V4.write(Packet::ConnAck(ack, None), out);
    writer.write_all(out).await?;
    writer.shutdown().await
}

fn disconnect() -> Packet {
    Packet::Disconnect(
        Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
        },
        None,
    )
}

/// Polls a future once: what the router already has ready, without waiting.
fn futures_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_headers_are_read_from_the_wire() {
        // QoS 1, topic "a/b", packet id 0x1234, payload "x".
        let frame = [0x32, 8, 0, 3, b'a', b'/', b'b', 0x12, 0x34, b'x'];
        assert_eq!(publish_header(&frame), Some((1, 0x1234)));
        assert_eq!(publish_header(&[0x30, 4, 0, 1, b'a', b'x']), Some((0, 0)));
        assert_eq!(publish_header(&[0x82, 0]), None, "not a PUBLISH");
        assert_eq!(publish_header(&[0x32, 8, 0, 3]), None, "incomplete");
    }

    #[test]
    fn client_ids_the_router_cannot_take_are_refused() {
        assert_eq!(session_client_id("gw-01", false).as_deref(), Some("gw-01"));
        assert!(session_client_id("", true).unwrap().starts_with("sv-"));
        assert_eq!(session_client_id("", false), None);
        // The appliance's own links' ids are reserved.
        for bad in [
            "a/b",
            "a+b",
            "a#",
            "$SYS",
            "securityvision-publisher",
            &"x".repeat(129),
        ] {
            assert_eq!(session_client_id(bad, true), None, "{bad}");
        }
    }
}
