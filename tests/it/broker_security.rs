//! The broker's findings of the outside security review, each tried as an attacker would,
//! with real clients: raw sockets where a client must misbehave, rumqttc otherwise.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{ConnectReturnCode, QoS, SubscribeReasonCode};
use securityvision::broker::Refusal;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::common::{TestApp, backend_tests, eventually_within};
use crate::mqtt::{
    Client, DISCONNECT_PACKET, Options, SelfSigned, connect_packet, credential, raw, read_packet,
    server_closes, subscribe_packet,
};

const WAIT: Duration = Duration::from_secs(5);

/// A CONNECT with clean session off.
fn persistent_connect(client_id: &str, login: (&str, &str)) -> Vec<u8> {
    let mut packet = connect_packet(client_id, 30, Some(login), None);
    // Fixed header (type + one-to-four length bytes), "MQTT" (6), level (1), then flags.
    let length_bytes = packet[1..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    packet[1 + length_bytes + 7] &= !0x02;
    packet
}

fn persistent<'a>(id: &'a str, user: &'a str, password: &'a str) -> Options<'a> {
    let mut options = Options::new(id).login(user, password);
    options.clean_session = false;
    options
}

backend_tests! {
    async fn a_shared_subscription_on_a_persistent_session_cannot_kill_the_router(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (_, password) = credential(&app, &token, json!({"username": "coll", "role": "COLLECTOR"})).await;
        let addr = app.mqtt_addr.unwrap();

        // The reviewer's repro: a persistent session joins a group, leaves with a message
        // in flight.
        let mut attacker = raw(addr, &persistent_connect("x1", ("coll", &password))).await;
        attacker.write_all(&subscribe_packet(1, "$share/g/rtls/cameras/zz", 1)).await.unwrap();
        assert_eq!(read_packet(&mut attacker, WAIT).await, Some((0x20, vec![0, 0])));
        assert_eq!(read_packet(&mut attacker, WAIT).await, Some((0x90, vec![0, 1, 0x80])), "refused");
        assert_eq!(app.metrics().refusals(Refusal::SharedOnPersistentSession), 1);
        let publisher = Client::connect(addr, Options::new("p1").login("coll", &password)).await.unwrap();
        publisher.publish("rtls/cameras/zz", QoS::AtLeastOnce, false, "x").await;
        publisher.settled().await;
        attacker.write_all(&DISCONNECT_PACKET).await.unwrap();
        assert!(server_closes(&mut attacker, WAIT).await, "the session ends");

        // The broker still serves everyone; clean sessions may still share.
        let mut member = Client::connect(addr, Options::new("x2").login("coll", &password)).await.expect("the broker still accepts clients");
        assert_eq!(member.subscribe("$share/g/rtls/cameras/#", QoS::AtLeastOnce).await, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
        publisher.publish("rtls/cameras/zz", QoS::AtLeastOnce, false, "y").await;
        assert_eq!(member.message(WAIT).await.expect("delivered").payload.as_ref(), b"y");
    }

    async fn a_session_belongs_to_the_credential_that_made_it(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (_, coll_password) = credential(&app, &token, json!({"username": "coll", "role": "COLLECTOR"})).await;
        let gw_password = app.gateway_password.clone().unwrap();
        let addr = app.mqtt_addr.unwrap();

        // A live collector cannot be kicked off by another credential.
        let mut collector = Client::connect(addr, persistent("coll-1", "coll", &coll_password)).await.unwrap();
        collector.subscribe("rtls/cameras/#", QoS::AtLeastOnce).await;
        let thief = Client::connect(addr, persistent("coll-1", "gateway", &gw_password)).await;
        assert_eq!(thief.err(), Some(ConnectReturnCode::BadClientId));
        assert_eq!(app.metrics().refusals(Refusal::ClientIdInUse), 1);
        let sender = Client::connect(addr, Options::new("sender").login("coll", &coll_password)).await.unwrap();
        sender.publish("rtls/cameras/t/b/f/camera/c1/event", QoS::AtLeastOnce, false, "still here").await;
        assert_eq!(collector.message(WAIT).await.expect("the collector is still connected").payload.as_ref(), b"still here");
        collector.disconnect().await;

        // Its saved session (subscriptions, queued messages) is not inherited by a
        // gateway credential that takes the id while it is away.
        sender.publish("rtls/cameras/t/b/f/camera/c1/event", QoS::AtLeastOnce, false, "queued").await;
        let mut thief = Client::connect(addr, persistent("coll-1", "gateway", &gw_password)).await.expect("an id nobody holds");
        sender.publish("rtls/cameras/t/b/f/camera/c1/event", QoS::AtLeastOnce, false, "live").await;
        // A gateway credential may read nothing, so no marker can reach it: a second bounds
        // the check that nothing of the session does.
        assert!(thief.message(Duration::from_secs(1)).await.is_none(), "nothing of the collector's session reaches another credential");
    }

    async fn deliveries_follow_the_receivers_current_rules(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (id, password) = credential(&app, &token, json!({"username": "reader", "role": "CUSTOM", "publish_acl": ["site/#"], "subscribe_acl": ["site/#"]})).await;
        let addr = app.mqtt_addr.unwrap();
        let mut reader = Client::connect(addr, persistent("reader-1", "reader", &password)).await.unwrap();
        reader.subscribe("site/#", QoS::AtLeastOnce).await;
        reader.disconnect().await;
        // The admin narrows what the credential may read; its saved session still holds
        // the wider subscription in the router.
        let (status, _) = app.call(reqwest::Method::PATCH, &format!("/api/v1/mqtt/credentials/{id}"), Some(&token), Some(json!({"subscribe_acl": ["site/public/#"]}))).await;
        assert_eq!(status, StatusCode::OK);
        let mut reader = Client::connect(addr, persistent("reader-1", "reader", &password)).await.unwrap();
        let sender = Client::connect(addr, Options::new("sender").login("reader", &password)).await.unwrap();
        sender.publish("site/secret/x", QoS::AtLeastOnce, false, "secret").await;
        sender.publish("site/public/x", QoS::AtLeastOnce, false, "public").await;
        // Sent in this order on one connection: had the secret one been delivered, it
        // would come first.
        let got = reader.message(WAIT).await.expect("the public message");
        assert_eq!(got.payload.as_ref(), b"public");
        assert!(app.metrics().refusals(Refusal::DeliveryDenied) >= 1);
    }

    async fn revocation_closes_every_session_of_the_credential(backend: Backend) {
        let app = TestApp::start(backend).await;
        let token = app.admin_token().await;
        let (id, password) = credential(&app, &token, json!({"username": "revoked", "role": "CUSTOM", "publish_acl": ["site/#"], "subscribe_acl": ["site/#"]})).await;
        let (other, _) = credential(&app, &token, json!({"username": "other", "role": "CUSTOM", "publish_acl": ["x/#"]})).await;
        let addr = app.mqtt_addr.unwrap();
        let mut clients = Vec::new();
        for i in 0..5 {
            clients.push(Client::connect(addr, Options::new(&format!("r-{i}")).login("revoked", &password)).await.unwrap());
        }
        // Many changes of another credential first: no notice about ours may be lost.
        for i in 0..100 {
            let (status, _) = app.call(reqwest::Method::PATCH, &format!("/api/v1/mqtt/credentials/{other}"), Some(&token), Some(json!({"description": format!("change {i}")}))).await;
            assert_eq!(status, StatusCode::OK);
        }
        // Connections racing the revocation.
        let racing: Vec<_> = (0..10).map(|i| {
            let password = password.clone();
            tokio::spawn(async move { Client::connect(addr, Options::new(&format!("race-{i}")).login("revoked", &password)).await.ok() })
        }).collect();
        let (status, _) = app.call(reqwest::Method::PATCH, &format!("/api/v1/mqtt/credentials/{id}"), Some(&token), Some(json!({"is_active": false}))).await;
        assert_eq!(status, StatusCode::OK);
        for client in &mut clients {
            assert!(client.closed_by_server().await, "a session of the revoked credential stays open");
        }
        for race in racing {
            if let Some(mut client) = race.await.unwrap() {
                assert!(client.closed_by_server().await, "a connection authenticated during the revocation stays open");
            }
        }
        let refused = Client::connect(addr, Options::new("after").login("revoked", &password)).await;
        assert_eq!(refused.err(), Some(ConnectReturnCode::BadUserNamePassword));

        // Usernames are substituted for %u in rules: wildcards and levels are refused.
        for bad in ["a/b", "a+", "#"] {
            let (status, body) = app.post("/api/v1/mqtt/credentials", &token, json!({"username": bad, "role": "CUSTOM", "publish_acl": ["x/#"]})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        }
    }

    async fn memory_on_the_mqtt_path_is_bounded(backend: Backend) {
        let app = TestApp::start_with(backend, |c| {
            c.mqtt.max_retained_per_credential = 3;
            c.mqtt.max_connections_per_address = 4;
            c.mqtt.ws_listen = Some("127.0.0.1:0".parse().unwrap());
            c.mqtt.max_packet_bytes = 64 * 1024;
            c.mqtt.connect_timeout_seconds = 30;
            c.ingest.max_readings_per_message = 2;
        })
        .await;
        let token = app.admin_token().await;
        let gw_password = app.gateway_password.clone().unwrap();
        let addr = app.mqtt_addr.unwrap();

        // Retained messages: three per credential.
        let gateway = Client::connect(addr, Options::new("gw").login("gateway", &gw_password)).await.unwrap();
        for i in 0..5 {
            gateway.publish(&format!("rtls/gateways/gw/status{i}"), QoS::AtLeastOnce, true, "up").await;
        }
        let (_, password) = credential(&app, &token, json!({"username": "watch", "role": "CUSTOM", "subscribe_acl": ["rtls/gateways/#"]})).await;
        assert!(eventually_within(WAIT, async || app.metrics().refusals(Refusal::RetainedLimit) == 2).await);
        let mut watcher = Client::connect(addr, Options::new("w").login("watch", &password)).await.unwrap();
        watcher.subscribe("rtls/gateways/#", QoS::AtLeastOnce).await;
        // The retained messages come with the subscription, before a message published
        // after it: a marker ends the count.
        gateway.publish("rtls/gateways/gw/marker", QoS::AtLeastOnce, false, "marker").await;
        let mut retained = 0;
        crate::common::bounded("the marker", async {
            while watcher.message(WAIT).await.expect("the marker").payload.as_ref() != b"marker" {
                retained += 1;
            }
        }).await;
        assert_eq!(retained, 3, "only three retained");

        // Readings per message.
        app.create("/api/v1/tags", &token, json!({"mac_address": "AC233F000001"}), StatusCode::CREATED).await;
        gateway.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, r#"{"readings":[{"tag_mac":"AC233F000001","rssi":-60},{"tag_mac":"AC233F000001","rssi":-61},{"tag_mac":"AC233F000001","rssi":-62}]}"#).await;
        assert!(eventually_within(WAIT, async || app.metrics().ingest_rejections(securityvision::ingest::decode::Rejection::TooManyReadings) == 1).await);
        let (_, stored) = app.get("/api/v1/collection-logs/", &token).await;
        assert_eq!(stored, json!([]));
        watcher.disconnect().await;
        gateway.disconnect().await;

        // Keep-alive 0 does not mean forever: idle past the longest keep-alive allowed.
        let short = TestApp::start_with(backend, |c| c.mqtt.max_keep_alive_seconds = 1).await;
        let password = short.gateway_password.clone().unwrap();
        let mut idle = raw(short.mqtt_addr.unwrap(), &connect_packet("idle", 0, Some(("gateway", &password)), None)).await;
        assert!(server_closes(&mut idle, WAIT).await, "an idle client with keep-alive 0 is closed");

        // Connections per address.
        let mut held = Vec::new();
        for i in 0..4 {
            held.push(Client::connect(addr, Options::new(&format!("held-{i}")).login("gateway", &gw_password)).await.unwrap());
        }
        assert!(Client::connect(addr, Options::new("one-too-many").login("gateway", &gw_password)).await.is_err());
        assert_eq!(app.metrics().refusals(Refusal::TooManyFromAddress), 1);
        for client in held {
            client.disconnect().await;
        }
        assert!(eventually_within(WAIT, async || app.metrics().mqtt_connections.load(Ordering::Relaxed) == 0).await);

        // WebSocket frames are bounded by mqtt.max_packet_bytes before CONNECT is read.
        let ws_addr = app.mqtt_ws_addr.unwrap();
        let mut tcp = tokio::net::TcpStream::connect(ws_addr).await.unwrap();
        tcp.write_all(format!("GET /mqtt HTTP/1.1\r\nHost: {ws_addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n").as_bytes()).await.unwrap();
        let mut response = Vec::new();
        crate::common::bounded("the WebSocket upgrade's answer", async {
            while !response.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8];
                tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut byte).await.unwrap();
                response.push(byte[0]);
            }
        }).await;
        assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
        // A masked binary frame that announces 32 MiB.
        let mut frame = vec![0x82, 0x80 | 127];
        frame.extend_from_slice(&(32u64 << 20).to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend(std::iter::repeat_n(0u8, 4096));
        tcp.write_all(&frame).await.unwrap();
        assert!(server_closes(&mut tcp, Duration::from_secs(3)).await, "a frame over the packet limit closes the connection at once");
        assert_eq!(app.metrics().mqtt_connections.load(Ordering::Relaxed), 0);
    }
}

backend_tests! {
    async fn external_mode_speaks_tls_and_the_plain_listener_can_be_off(backend: Backend) {
        let tls = SelfSigned::new("127.0.0.1");
        let (cert, key) = (&tls.cert, &tls.key);
        let port = crate::common::free_port();
        let lines = format!("certfile {}\nkeyfile {}\n", cert.display(), key.display());
        let Some(_mosquitto) = crate::broker::Mosquitto::start_configured(port, &lines).await else { return };

        let node = TestApp::start_with(backend, |c| {
            crate::common::external_broker(port)(c);
            c.mqtt.external_tls = true;
            c.mqtt.external_ca_file = Some(cert.clone());
        })
        .await;
        let token = node.admin_token().await;
        node.create("/api/v1/tags", &token, json!({"mac_address": "AC233F112233"}), StatusCode::CREATED).await;
        // A TLS publisher (mosquitto_pub) on the same broker.
        if !crate::common::tool_available("mosquitto_pub") {
            return;
        }
        let stored = async || node.get("/api/v1/collection-logs/", &token).await.1.as_array().map_or(0, Vec::len);
        assert!(eventually_within(Duration::from_secs(10), async || {
            let _ = tokio::process::Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--cafile", cert.to_str().unwrap(), "-q", "1", "-t", "rtls/gateways/AC233FC0AAAA/beacon", "-m", r#"{"tag_mac":"AC233F112233","rssi":-60}"#])
                .status()
                .await;
            stored().await > 0
        }).await, "reports reach the node over TLS");

        // An embedded broker with TLS only.
        let tls_only = TestApp::start_with(backend, |c| {
            c.mqtt.listen = None;
            tls.listen(c);
        })
        .await;
        assert!(tls_only.mqtt_addr.is_none() && tls_only.mqtt_tls_addr.is_some());
        let mut config = securityvision::config::Config::default();
        config.mqtt.listen = None;
        assert!(config.validate().is_err(), "an embedded broker with no listener at all is refused");
    }
}
