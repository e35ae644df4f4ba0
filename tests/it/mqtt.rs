//! MQTT clients for the tests: rumqttc with its event loop in a task, and raw sockets for
//! the misbehaving clients.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, LastWill, MqttOptions, Packet, Publish, QoS,
    SubscribeReasonCode,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

/// What a test client saw.
#[derive(Debug)]
pub enum Seen {
    Publish(Publish),
    SubAck(Vec<SubscribeReasonCode>),
    PubAck,
    Disconnected,
}

pub struct Client {
    pub client: AsyncClient,
    pub seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
    /// QoS 1 messages sent through [`Client::publish`], and PUBACKs received.
    sent: AtomicU64,
    acks: watch::Receiver<u64>,
}

pub struct Options<'a> {
    pub id: &'a str,
    pub credentials: Option<(&'a str, &'a str)>,
    pub will: Option<(&'a str, &'a str)>,
    pub clean_session: bool,
    pub keep_alive: u64,
}

impl<'a> Options<'a> {
    pub fn new(id: &'a str) -> Self {
        Options {
            id,
            credentials: None,
            will: None,
            clean_session: true,
            keep_alive: 30,
        }
    }

    pub fn login(mut self, username: &'a str, password: &'a str) -> Self {
        self.credentials = Some((username, password));
        self
    }

    pub fn will(mut self, topic: &'a str, message: &'a str) -> Self {
        self.will = Some((topic, message));
        self
    }
}

impl Client {
    /// Connects and waits for the CONNACK; `Err` carries a refusal's return code.
    pub async fn connect(
        addr: SocketAddr,
        options: Options<'_>,
    ) -> Result<Client, ConnectReturnCode> {
        let mut mqtt = MqttOptions::new(options.id, addr.ip().to_string(), addr.port());
        mqtt.set_keep_alive(Duration::from_secs(options.keep_alive))
            .set_clean_session(options.clean_session)
            .set_max_packet_size(16 << 20, 16 << 20);
        if let Some((user, password)) = options.credentials {
            mqtt.set_credentials(user, password);
        }
        if let Some((topic, message)) = options.will {
            mqtt.set_last_will(LastWill::new(topic, message, QoS::AtMostOnce, false));
        }
        let (client, mut eventloop) = AsyncClient::new(mqtt, 1000);
        // The first CONNACK decides; the event loop is not cancel-safe, so it is only
        // polled inside its own task.
        let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (acks_tx, acks) = watch::channel(0);
        let task = tokio::spawn(async move {
            let mut ack_tx = Some(ack_tx);
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if let Some(tx) = ack_tx.take() {
                            let _ = tx.send(Ok(ack.code));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = seen_tx.send(Seen::Publish(p));
                    }
                    Ok(Event::Incoming(Packet::SubAck(s))) => {
                        let _ = seen_tx.send(Seen::SubAck(s.return_codes));
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acks_tx.send_modify(|n| *n += 1);
                        let _ = seen_tx.send(Seen::PubAck);
                    }
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                        if let Some(tx) = ack_tx.take() {
                            let _ = tx.send(Err(code));
                        }
                        return;
                    }
                    Err(_) => {
                        if let Some(tx) = ack_tx.take() {
                            let _ = tx.send(Err(ConnectReturnCode::ServiceUnavailable));
                        }
                        let _ = seen_tx.send(Seen::Disconnected);
                        return;
                    }
                }
            }
        });
        match tokio::time::timeout(Duration::from_secs(10), ack_rx).await {
            Ok(Ok(Ok(ConnectReturnCode::Success))) => Ok(Client {
                client,
                seen,
                task,
                sent: AtomicU64::new(0),
                acks,
            }),
            Ok(Ok(Ok(code) | Err(code))) => {
                task.abort();
                Err(code)
            }
            _ => {
                task.abort();
                Err(ConnectReturnCode::ServiceUnavailable)
            }
        }
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<SubscribeReasonCode> {
        self.client.subscribe(filter, qos).await.unwrap();
        loop {
            match self.next().await {
                Some(Seen::SubAck(codes)) => return codes,
                Some(_) => {}
                None => panic!("no SUBACK for {filter}"),
            }
        }
    }

    pub async fn publish(&self, topic: &str, qos: QoS, retain: bool, payload: impl Into<Vec<u8>>) {
        if qos != QoS::AtMostOnce {
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        self.client
            .publish(topic, qos, retain, payload.into())
            .await
            .unwrap();
    }

    /// Waits until every QoS 1 message sent through [`Client::publish`] is acknowledged.
    /// The appliance sends a PUBACK once it has handled the message (stored it, or
    /// refused it), in order: what was published before is settled too.
    pub async fn settled(&self) {
        let sent = self.sent.load(Ordering::SeqCst);
        let mut acks = self.acks.clone();
        let what = format!("{sent} PUBACKs");
        let acked = crate::common::bounded(&what, acks.wait_for(|n| *n >= sent)).await;
        assert!(acked.is_ok(), "the connection closed before {what}");
    }

    /// The next event, waiting at most 5 s.
    pub async fn next(&mut self) -> Option<Seen> {
        tokio::time::timeout(Duration::from_secs(5), self.seen.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next message, waiting at most `wait`.
    pub async fn message(&mut self, wait: Duration) -> Option<Publish> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Publish(p))) => return Some(p),
                Ok(Some(_)) => {}
                _ => return None,
            }
        }
    }

    /// The next `n` messages; fails the test if they do not all arrive within
    /// [`crate::common::WAIT`].
    pub async fn messages(&mut self, n: usize) -> Vec<Publish> {
        let mut all = Vec::new();
        while all.len() < n {
            let message = self.message(crate::common::WAIT).await;
            all.push(message.unwrap_or_else(|| panic!("got {} of {n} messages", all.len())));
        }
        all
    }

    /// Collects messages until none arrives for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Publish> {
        let mut all = Vec::new();
        while let Some(p) = self.message(quiet).await {
            all.push(p);
        }
        all
    }

    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }

    /// Drops the connection without DISCONNECT (the will fires).
    pub fn kill(self) {
        self.task.abort();
    }

    /// Whether the server closed the connection (within 10 s: CI machines are loaded).
    pub async fn closed_by_server(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Disconnected) | None) => return true,
                Ok(Some(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

/// A CONNECT packet, for raw-socket clients.
pub fn connect_packet(
    client_id: &str,
    keep_alive: u16,
    login: Option<(&str, &str)>,
    will: Option<(&str, &str)>,
) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut flags = 0x02;
    let mut body = Vec::new();
    text(&mut body, "MQTT");
    body.push(4);
    if will.is_some() {
        flags |= 0x04;
    }
    if login.is_some() {
        flags |= 0xC0;
    }
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    text(&mut body, client_id);
    if let Some((topic, message)) = will {
        text(&mut body, topic);
        text(&mut body, message);
    }
    if let Some((user, password)) = login {
        text(&mut body, user);
        text(&mut body, password);
    }
    let mut packet = vec![0x10];
    encode_length(&mut packet, body.len());
    packet.extend(body);
    packet
}

/// A QoS 0 PUBLISH of `payload_len` bytes, for raw-socket clients.
pub fn publish_packet(topic: &str, payload_len: usize) -> Vec<u8> {
    let mut packet = vec![0x30];
    encode_length(&mut packet, 2 + topic.len() + payload_len);
    packet.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    packet.extend_from_slice(topic.as_bytes());
    packet.extend(std::iter::repeat_n(b'x', payload_len));
    packet
}

fn encode_length(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

/// Opens a raw connection and sends `bytes`.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Whether the server closes `stream` within `wait` (reads until EOF).
pub async fn server_closes(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// A SUBSCRIBE of one filter, for raw-socket clients.
pub fn subscribe_packet(pkid: u16, filter: &str, qos: u8) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    body.extend_from_slice(&(filter.len() as u16).to_be_bytes());
    body.extend_from_slice(filter.as_bytes());
    body.push(qos);
    let mut packet = vec![0x82];
    encode_length(&mut packet, body.len());
    packet.extend(body);
    packet
}

/// A QoS 1 PUBLISH with packet id `pkid`, for raw-socket clients.
pub fn publish_qos1_packet(topic: &str, pkid: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x32];
    encode_length(&mut packet, 2 + topic.len() + 2 + payload.len());
    packet.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    packet.extend_from_slice(topic.as_bytes());
    packet.extend_from_slice(&pkid.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

pub const DISCONNECT_PACKET: [u8; 2] = [0xE0, 0];

/// Reads one MQTT packet from a raw stream: (first byte, body). `None` on close or after
/// `wait`.
pub async fn read_packet<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    wait: Duration,
) -> Option<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let read = async {
        let first = stream.read_u8().await.ok()?;
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let byte = stream.read_u8().await.ok()?;
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.ok()?;
        Some((first, body))
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// Creates an MQTT credential through the API; returns its id and password.
pub async fn credential(
    app: &crate::common::TestApp,
    token: &str,
    body: serde_json::Value,
) -> (i64, String) {
    let created = app
        .create(
            "/api/v1/mqtt/credentials",
            token,
            body,
            reqwest::StatusCode::CREATED,
        )
        .await;
    (
        created["id"].as_i64().unwrap(),
        created["password"].as_str().unwrap().to_string(),
    )
}

/// A self-signed certificate for `name`, with its key, in a temporary directory.
pub struct SelfSigned {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    der: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

impl SelfSigned {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let certified = rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
        let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        SelfSigned {
            cert,
            key,
            der: certified.cert.der().clone(),
            _dir: dir,
        }
    }

    /// The appliance's TLS listener on a free loopback port, with this certificate.
    pub fn listen(&self, c: &mut securityvision::config::Config) {
        c.mqtt.tls_listen = Some("127.0.0.1:0".parse().unwrap());
        c.mqtt.tls_cert = Some(self.cert.clone());
        c.mqtt.tls_key = Some(self.key.clone());
    }

    /// Roots that trust this certificate alone.
    pub fn roots(&self) -> tokio_rustls::rustls::RootCertStore {
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        roots
    }
}

/// A TLS connection to `addr`, trusting `roots`, for the server name `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    roots: tokio_rustls::rustls::RootCertStore,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio_rustls::rustls::ClientConfig;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.expect("TLS handshake")
}
