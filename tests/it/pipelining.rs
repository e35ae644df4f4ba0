//! Clients that send their first packets in the same write as CONNECT (embedded MQTT
//! stacks, pipelining clients): those packets are the session's first, on every listener.

use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::QoS;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::common::{TestApp, backend_tests, eventually_within};
use crate::mqtt::{
    Client, DISCONNECT_PACKET, Options, SelfSigned, connect_packet, publish_qos1_packet,
    read_packet, subscribe_packet, tls_connect,
};

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

#[derive(Debug, Clone, Copy)]
enum Listener {
    Tcp,
    Tls,
    WebSocket,
}

struct Site {
    app: TestApp,
    token: String,
    roots: tokio_rustls::rustls::RootCertStore,
    _tls: SelfSigned,
}

async fn site(backend: crate::common::Backend) -> Site {
    let tls = SelfSigned::new("localhost");
    let app = TestApp::start_with(backend, |c| {
        tls.listen(c);
        c.mqtt.ws_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let token = app.admin_token().await;
    let roots = tls.roots();
    Site {
        app,
        token,
        roots,
        _tls: tls,
    }
}

impl Site {
    async fn open(&self, listener: Listener) -> Box<dyn Duplex> {
        match listener {
            Listener::Tcp => Box::new(
                tokio::net::TcpStream::connect(self.app.mqtt_addr.unwrap())
                    .await
                    .unwrap(),
            ),
            Listener::Tls => {
                Box::new(tls_connect(self.app.mqtt_tls_addr.unwrap(), self.roots.clone()).await)
            }
            Listener::WebSocket => {
                let addr = self.app.mqtt_ws_addr.unwrap();
                let mut request =
                    async_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                        format!("ws://{addr}/mqtt"),
                    )
                    .unwrap();
                request
                    .headers_mut()
                    .insert("sec-websocket-protocol", "mqtt".parse().unwrap());
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let (ws, _) = async_tungstenite::tokio::client_async(request, tcp)
                    .await
                    .expect("WebSocket upgrade");
                Box::new(ws_stream_tungstenite::WsStream::new(ws))
            }
        }
    }

    async fn readings(&self) -> usize {
        let (_, list) = self
            .app
            .get("/api/v1/collection-logs/?limit=1000", &self.token)
            .await;
        list.as_array().unwrap().len()
    }
}

/// Sends `bytes` in one write (one WebSocket frame).
async fn send_at_once(stream: &mut Box<dyn Duplex>, bytes: &[u8]) {
    stream.write_all(bytes).await.unwrap();
    stream.flush().await.unwrap();
}

const WAIT: Duration = Duration::from_secs(5);

backend_tests! {
    async fn packets_sent_with_connect_are_handled_on_every_listener(backend: Backend) {
        let site = site(backend).await;
        let app = &site.app;
        let watcher = app.create("/api/v1/mqtt/credentials", &site.token, json!({"username": "watcher", "role": "CUSTOM", "publish_acl": [], "subscribe_acl": ["rtls/gateways/#"]}), StatusCode::CREATED).await;
        let watcher_password = watcher["password"].as_str().unwrap().to_string();
        let gw_password = app.gateway_password.clone().unwrap();
        app.create("/api/v1/tags", &site.token, json!({"mac_address": "AC233F000001"}), StatusCode::CREATED).await;
        let publisher = Client::connect(app.mqtt_addr.unwrap(), Options::new("steady").login("gateway", &gw_password)).await.unwrap();
        let report = br#"{"tag_mac":"AC233F000001","rssi":-60}"#;
        let mut stored = 0;

        for (n, listener) in [Listener::Tcp, Listener::Tls, Listener::WebSocket].into_iter().enumerate() {
            // CONNECT + SUBSCRIBE: the SUBACK comes, and the subscription delivers.
            let mut sub = site.open(listener).await;
            let mut bytes = connect_packet(&format!("watch-{n}"), 30, Some(("watcher", &watcher_password)), None);
            bytes.extend(subscribe_packet(7, "rtls/gateways/#", 1));
            send_at_once(&mut sub, &bytes).await;
            assert_eq!(read_packet(&mut sub, WAIT).await, Some((0x20, vec![0, 0])), "{listener:?}: CONNACK");
            assert_eq!(read_packet(&mut sub, WAIT).await, Some((0x90, vec![0, 7, 1])), "{listener:?}: SUBACK of the pipelined SUBSCRIBE");
            publisher.publish("rtls/gateways/AC233FC00001/beacon", QoS::AtLeastOnce, false, "hello").await;
            let (first, body) = read_packet(&mut sub, WAIT).await.unwrap_or_else(|| panic!("{listener:?}: nothing delivered"));
            assert_eq!(first >> 4, 3, "{listener:?}: a PUBLISH");
            assert!(body.ends_with(b"hello"));

            // CONNECT + PUBLISH QoS 1: PUBACK, and the reading is stored.
            let mut gw = site.open(listener).await;
            let mut bytes = connect_packet(&format!("gw-a-{n}"), 30, Some(("gateway", &gw_password)), None);
            bytes.extend(publish_qos1_packet("rtls/gateways/AC233FC00002/beacon", 42, report));
            send_at_once(&mut gw, &bytes).await;
            assert_eq!(read_packet(&mut gw, WAIT).await, Some((0x20, vec![0, 0])), "{listener:?}: CONNACK");
            assert_eq!(read_packet(&mut gw, WAIT).await, Some((0x40, vec![0, 42])), "{listener:?}: PUBACK of the pipelined PUBLISH");
            stored += 1;
            assert!(eventually_within(WAIT, async || site.readings().await == stored).await, "{listener:?}: the reading is stored");

            // CONNECT + PUBLISH + DISCONNECT in one write: the reading is stored.
            let mut once = site.open(listener).await;
            let mut bytes = connect_packet(&format!("gw-b-{n}"), 30, Some(("gateway", &gw_password)), None);
            bytes.extend(publish_qos1_packet("rtls/gateways/AC233FC00003/beacon", 1, report));
            bytes.extend(DISCONNECT_PACKET);
            send_at_once(&mut once, &bytes).await;
            stored += 1;
            assert!(eventually_within(WAIT, async || site.readings().await == stored).await, "{listener:?}: the reading sent before DISCONNECT is stored");
        }
    }
}
