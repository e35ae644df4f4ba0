//! Hostile clients: whatever one client does, the appliance keeps serving everyone else.
//! (Slow HTTP headers: `security::a_connection_sending_half_a_request_line_is_closed`; login
//! brute force: `security::*logins*`; a huge WebSocket frame before CONNECT:
//! `broker_security::memory_on_the_mqtt_path_is_bounded`.)

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rumqttc::QoS;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::cli::serve_binary;
use crate::common::{Backend, TestApp};
use crate::mqtt::{
    Client, Options, connect_packet, credential, publish_qos1_packet, read_packet, subscribe_packet,
};
use securityvision::broker::Refusal;

/// Long enough for a debug build on a busy CI machine.
const WAIT: Duration = Duration::from_secs(30);

/// A TCP connection to `server` from the loopback address `source` (any 127.x reaches a
/// loopback listener), to act as another machine.
async fn connect_from(source: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.parse::<IpAddr>().unwrap(), 0))?;
    socket.connect(server).await
}

/// CONNECT from `source`; the CONNACK's return code (`None`: closed without one).
async fn connack_from(
    source: &str,
    server: SocketAddr,
    id: &str,
    login: (&str, &str),
) -> (TcpStream, Option<u8>) {
    let mut stream = connect_from(source, server).await.unwrap();
    stream
        .write_all(&connect_packet(id, 120, Some(login), None))
        .await
        .unwrap();
    let code = match read_packet(&mut stream, WAIT).await {
        Some((0x20, body)) => body.get(1).copied(),
        _ => None,
    };
    (stream, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_passwords_is_rate_limited_and_counted_while_others_connect() {
    let app = TestApp::start_with(Backend::Sqlite, |c| c.mqtt.connect_rate_per_minute = 20).await;
    let addr = app.mqtt_addr.unwrap();
    let password = app.gateway_password.clone().unwrap();
    let started = std::time::Instant::now();
    let mut refused = 0;
    for i in 0..60 {
        let (_, code) = connack_from(
            "127.0.0.1",
            addr,
            &format!("guess-{i}"),
            ("gateway", &format!("guess-{i}")),
        )
        .await;
        assert_ne!(code, Some(0), "guess {i} was accepted");
        refused += 1;
    }
    let metrics = app.metrics();
    let (bad, limited) = (
        metrics.refusals(Refusal::BadCredentials),
        metrics.refusals(Refusal::ConnectRateLimited),
    );
    assert_eq!(bad + limited, refused, "every refusal counted once");
    // The bucket holds 20 and refills one every 3 s while the guesses (each a password hash)
    // go on.
    let refilled = started.elapsed().as_secs() / 3 + 1;
    assert!(
        bad <= 20 + refilled,
        "at most the rate's worth of guesses checked: {bad}"
    );
    assert!(
        limited + 20 + refilled >= 60,
        "the rest refused before the password is looked at: {limited}"
    );
    // Even the right password waits out the limit from that address...
    let (_, code) = connack_from("127.0.0.1", addr, "late", ("gateway", &password)).await;
    assert_ne!(code, Some(0));
    // ...while a gateway on another address connects and is served.
    let (mut gateway, code) =
        connack_from("127.0.0.2", addr, "honest", ("gateway", &password)).await;
    assert_eq!(code, Some(0), "another address is not punished");
    gateway
        .write_all(&publish_qos1_packet(
            "rtls/gateways/honest/status",
            1,
            b"up",
        ))
        .await
        .unwrap();
    assert!(
        read_packet(&mut gateway, WAIT)
            .await
            .is_some_and(|(kind, _)| kind == 0x40),
        "PUBACK"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_does_not_hold_up_the_others() {
    let app = TestApp::start(Backend::Sqlite).await;
    let token = app.admin_token().await;
    let addr = app.mqtt_addr.unwrap();
    let body =
        json!({"username": "watcher", "role": "CUSTOM", "subscribe_acl": ["rtls/gateways/#"]});
    let (_, watcher_password) = credential(&app, &token, body).await;

    // Subscribes to everything, then never reads its socket again.
    let mut stuck = TcpStream::connect(addr).await.unwrap();
    stuck
        .write_all(&connect_packet(
            "stuck",
            600,
            Some(("watcher", &watcher_password)),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(
        read_packet(&mut stuck, WAIT)
            .await
            .map(|(kind, body)| (kind, body[1])),
        Some((0x20, 0))
    );
    stuck
        .write_all(&subscribe_packet(1, "rtls/gateways/#", 1))
        .await
        .unwrap();
    assert!(
        read_packet(&mut stuck, WAIT)
            .await
            .is_some_and(|(kind, _)| kind == 0x90)
    );

    let mut reader = Client::connect(
        addr,
        Options::new("reader").login("watcher", &watcher_password),
    )
    .await
    .unwrap();
    reader.subscribe("rtls/gateways/#", QoS::AtLeastOnce).await;
    let publisher = Client::connect(
        addr,
        Options::new("steady").login("gateway", app.gateway_password.as_deref().unwrap()),
    )
    .await
    .unwrap();
    // 8 MB: far more than the stuck client's socket buffers hold.
    let filler = "x".repeat(4096);
    let reading = async |reader: &mut Client, n: usize| {
        for i in 0..n {
            publisher
                .publish(
                    "rtls/gateways/steady/status",
                    QoS::AtLeastOnce,
                    false,
                    format!("{i} {filler}"),
                )
                .await;
        }
        let mut seen = 0;
        while seen < n {
            let message = reader
                .message(WAIT)
                .await
                .unwrap_or_else(|| panic!("the reader got {seen} of {n}"));
            assert!(
                String::from_utf8_lossy(&message.payload).starts_with(&format!("{seen} ")),
                "in order"
            );
            seen += 1;
        }
    };
    reading(&mut reader, 2000).await;
    // Still so after the stuck client's buffers are long full.
    reading(&mut reader, 100).await;
    let (status, health) = app.get("/api/v1/health", &token).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{health}");
    drop(stuck);
}

/// The soft limit of open files of this process.
fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap_or(u64::MAX)
}

// The real binary, so that its 10,000 sockets and the test's 10,000 are in two processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_leave_the_broker_and_the_api_serving() {
    const IDLE: usize = 10_000;
    securityvision::tls::install_default_provider();
    assert!(
        open_files_limit() > IDLE as u64 + 500,
        "raise `ulimit -n` to run this test (the unit sets LimitNOFILE=65536)"
    );
    let dir = tempfile::tempdir().unwrap();
    let served = serve_binary(dir.path(), |c| {
        c.env("SV_MQTT_MAX_CONNECTIONS", (IDLE + 100).to_string());
    })
    .await;
    let (base, mqtt_port) = (served.http_base.clone(), served.mqtt_port);
    let password =
        std::fs::read_to_string(dir.path().join("data/initial-mqtt-gateway-password")).unwrap();
    let password = password.trim().to_string();
    let server: SocketAddr = format!("127.0.0.1:{mqtt_port}").parse().unwrap();

    // 40 addresses × 250 connections: within the default per-address limits (256 at once,
    // 600 CONNECTs a minute).
    let mut idle = Vec::with_capacity(IDLE);
    for batch in 0..IDLE / 250 {
        let source = format!("127.0.0.{}", batch + 2);
        let connects = (0..250).map(|i| {
            let (source, password) = (source.clone(), password.clone());
            async move {
                connack_from(
                    &source,
                    server,
                    &format!("idle-{batch}-{i}"),
                    ("gateway", &password),
                )
                .await
            }
        });
        for (stream, code) in futures_util::future::join_all(connects).await {
            assert_eq!(
                code,
                Some(0),
                "idle connection {} from {source} refused (None: no CONNACK)",
                idle.len()
            );
            idle.push(stream);
        }
    }
    assert_eq!(idle.len(), IDLE);

    // Everyone else is still served: the API, and a message through the router.
    let health = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    let (mut busy, code) =
        connack_from("127.0.0.200", server, "busy", ("gateway", &password)).await;
    assert_eq!(code, Some(0), "one more client connects");
    busy.write_all(&publish_qos1_packet(
        "rtls/gateways/busy/status",
        1,
        b"still here",
    ))
    .await
    .unwrap();
    assert!(
        read_packet(&mut busy, WAIT)
            .await
            .is_some_and(|(kind, _)| kind == 0x40),
        "the router still acknowledges"
    );
    drop(idle);
    let health = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}
