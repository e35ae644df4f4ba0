//! The embedded broker, with real MQTT clients against the running appliance.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{ConnectReturnCode, QoS, SubscribeReasonCode};
use serde_json::json;

use crate::common::{TestApp, WAIT, backend_tests, bounded, eventually};
use crate::mqtt::{
    Client, Options, SelfSigned, connect_packet, credential, publish_packet, raw, server_closes,
    tls_connect,
};

/// A `watcher` credential: may read and write everything under `site/` and read the
/// gateway tree.
struct Watcher {
    addr: std::net::SocketAddr,
    password: String,
}

impl Watcher {
    async fn of(app: &TestApp) -> Self {
        let token = app.admin_token().await;
        let body = json!({"username": "watcher", "role": "CUSTOM", "publish_acl": ["site/#"], "subscribe_acl": ["site/#", "rtls/gateways/#"]});
        Watcher {
            addr: app.mqtt_addr.unwrap(),
            password: credential(app, &token, body).await.1,
        }
    }

    fn options<'a>(&'a self, id: &'a str) -> Options<'a> {
        Options::new(id).login("watcher", &self.password)
    }

    async fn connect(&self, id: &str) -> Client {
        Client::connect(self.addr, self.options(id)).await.unwrap()
    }
}

fn gateway<'a>(app: &'a TestApp, id: &'a str) -> Options<'a> {
    Options::new(id).login("gateway", app.gateway_password.as_deref().unwrap())
}

fn payloads(messages: &[rumqttc::Publish]) -> Vec<String> {
    messages
        .iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

backend_tests! {
    async fn clients_authenticate_with_stored_credentials(backend: Backend) {
        let app = TestApp::start(backend).await;
        let addr = app.mqtt_addr.unwrap();
        let ok = Client::connect(addr, gateway(&app, "gw-1")).await;
        assert!(ok.is_ok(), "the first-start gateway credential works");
        let wrong = Client::connect(addr, Options::new("gw-2").login("gateway", "not-the-password")).await;
        assert_eq!(wrong.err(), Some(ConnectReturnCode::BadUserNamePassword));
        let unknown = Client::connect(addr, Options::new("gw-3").login("nobody", "whatever-password")).await;
        assert_eq!(unknown.err(), Some(ConnectReturnCode::BadUserNamePassword));
        let anonymous = Client::connect(addr, Options::new("gw-4")).await;
        assert_eq!(anonymous.err(), Some(ConnectReturnCode::NotAuthorized), "no anonymous access by default");
        assert_eq!(app.metrics().refusals(securityvision::broker::Refusal::BadCredentials), 2);

        let open = TestApp::start_with(backend, |c| c.mqtt.allow_anonymous = true).await;
        let mut anon = Client::connect(open.mqtt_addr.unwrap(), Options::new("anon-1")).await.expect("anonymous allowed when configured");
        assert_eq!(anon.subscribe("rtls/gateways/#", QoS::AtMostOnce).await, vec![SubscribeReasonCode::Failure], "anonymous clients read nothing");
    }

    async fn messages_reach_third_party_subscribers_and_the_pipeline(backend: Backend) {
        let app = TestApp::start(backend).await;
        let watcher = Watcher::of(&app).await;
        let addr = app.mqtt_addr.unwrap();
        let mut sub = watcher.connect("watcher-1").await;
        let granted = sub.subscribe("rtls/gateways/#", QoS::AtLeastOnce).await;
        assert_eq!(granted, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);

        let gw = Client::connect(addr, gateway(&app, "gw-1")).await.unwrap();
        gw.publish("rtls/gateways/AABBCCDDEEFF/beacon", QoS::AtMostOnce, false, "q0").await;
        gw.publish("rtls/gateways/AABBCCDDEEFF/beacon", QoS::AtLeastOnce, false, "q1").await;
        // A marker last: once it is in, nothing else came before it.
        gw.publish("rtls/gateways/AABBCCDDEEFF/beacon", QoS::AtLeastOnce, false, "marker").await;
        let got = sub.messages(3).await;
        assert_eq!(payloads(&got), vec!["q0", "q1", "marker"]);
        assert_eq!(got[0].topic, "rtls/gateways/AABBCCDDEEFF/beacon");

        gw.settled().await;
        let metrics = app.metrics();
        assert_eq!(metrics.ingest_received.load(Ordering::Relaxed), 3, "all handed to the pipeline");
        assert_eq!(metrics.mqtt_messages_in_qos0.load(Ordering::Relaxed), 1);
        assert_eq!(metrics.mqtt_messages_in_qos1.load(Ordering::Relaxed), 2);

        // Retained messages reach later subscribers. The router keeps a retained message
        // as it delivers it: once a subscriber got it, a later one finds it.
        sub.subscribe("site/#", QoS::AtMostOnce).await;
        let publisher = watcher.connect("watcher-2").await;
        publisher.publish("site/config", QoS::AtLeastOnce, true, "retained-v1").await;
        assert_eq!(sub.message(WAIT).await.expect("delivered live").payload.as_ref(), b"retained-v1");
        let mut late = watcher.connect("watcher-3").await;
        late.subscribe("site/#", QoS::AtMostOnce).await;
        let retained = late.message(Duration::from_secs(3)).await.expect("the retained message");
        assert_eq!((retained.payload.as_ref(), retained.retain), (b"retained-v1".as_ref(), true));
        publisher.disconnect().await;
        gw.disconnect().await;
    }

    async fn acls_confine_gateways_to_their_tree(backend: Backend) {
        let app = TestApp::start(backend).await;
        let watcher = Watcher::of(&app).await;
        let addr = app.mqtt_addr.unwrap();
        let mut sub = watcher.connect("watcher-1").await;
        sub.subscribe("site/#", QoS::AtLeastOnce).await;

        let mut gw = Client::connect(addr, gateway(&app, "gw-1")).await.unwrap();
        gw.publish("site/elsewhere", QoS::AtLeastOnce, false, "sneaky").await;
        // A barrier instead of a pause: the refused message was dropped or handed to the
        // router before its PUBACK, so a marker sent after it reaches the router after it.
        gw.settled().await;
        let marker = watcher.connect("watcher-2").await;
        marker.publish("site/marker", QoS::AtLeastOnce, false, "marker").await;
        let first = sub.message(WAIT).await.expect("the marker");
        assert_eq!(first.payload.as_ref(), b"marker", "a gateway cannot publish outside the gateway tree");
        assert_eq!(gw.subscribe("rtls/cameras/#", QoS::AtMostOnce).await, vec![SubscribeReasonCode::Failure], "nor read the camera tree");
        assert_eq!(gw.subscribe("#", QoS::AtMostOnce).await, vec![SubscribeReasonCode::Failure]);
        let metrics = app.metrics();
        assert_eq!(metrics.refusals(securityvision::broker::Refusal::PublishDenied), 1);
        assert_eq!(metrics.refusals(securityvision::broker::Refusal::SubscribeDenied), 2);
        // A subscription mixing allowed and refused filters gets a code for each.
        sub.client.subscribe_many(vec![
            rumqttc::SubscribeFilter::new("site/a".into(), QoS::AtMostOnce),
            rumqttc::SubscribeFilter::new("rtls/cameras/#".into(), QoS::AtMostOnce),
        ]).await.unwrap();
        loop {
            match sub.next().await {
                Some(crate::mqtt::Seen::SubAck(codes)) => {
                    assert_eq!(codes, vec![SubscribeReasonCode::Success(QoS::AtMostOnce), SubscribeReasonCode::Failure]);
                    break;
                }
                Some(_) => {}
                None => panic!("no SUBACK"),
            }
        }
        // The connection survives refusals.
        gw.publish("rtls/gateways/X/beacon", QoS::AtLeastOnce, false, "fine").await;
        gw.settled().await;
        assert_eq!(app.metrics().ingest_received.load(Ordering::Relaxed), 1);
    }

    async fn last_will_and_takeover(backend: Backend) {
        let app = TestApp::start(backend).await;
        let watcher = Watcher::of(&app).await;
        let addr = app.mqtt_addr.unwrap();
        let mut sub = watcher.connect("watcher-1").await;
        sub.subscribe("site/status/#", QoS::AtLeastOnce).await;

        // An abrupt disconnect publishes the will; a clean one does not.
        let dying = Client::connect(addr, watcher.options("w-1").will("site/status/w-1", "gone")).await.unwrap();
        dying.kill();
        let will = sub.message(Duration::from_secs(3)).await.expect("the will");
        assert_eq!(will.payload.as_ref(), b"gone");
        let polite = Client::connect(addr, watcher.options("w-2").will("site/status/w-2", "gone")).await.unwrap();
        polite.disconnect().await;
        // A marker published after the clean disconnect arrives first: no will came.
        let marker = watcher.connect("marker").await;
        marker.publish("site/status/marker", QoS::AtLeastOnce, false, "marker").await;
        assert_eq!(sub.message(WAIT).await.expect("the marker").payload.as_ref(), b"marker", "no will after DISCONNECT");
        marker.disconnect().await;

        // A second connection with the same client id takes over: the first is closed
        // (its will published), the second works.
        let mut first = Client::connect(addr, watcher.options("same-id").will("site/status/same-id", "replaced")).await.unwrap();
        let second = watcher.connect("same-id").await;
        assert!(first.closed_by_server().await, "the older connection is closed");
        assert_eq!(sub.message(Duration::from_secs(3)).await.map(|p| p.payload.to_vec()), Some(b"replaced".to_vec()));
        second.publish("site/status/x", QoS::AtLeastOnce, false, "still here").await;
        assert_eq!(sub.message(Duration::from_secs(3)).await.map(|p| p.payload.to_vec()), Some(b"still here".to_vec()));
        assert_eq!(app.metrics().mqtt_takeovers.load(Ordering::Relaxed), 1);
    }

    async fn shared_subscriptions_split_the_messages(backend: Backend) {
        let app = TestApp::start(backend).await;
        let watcher = Watcher::of(&app).await;
        let mut a = watcher.connect("node-a").await;
        let mut b = watcher.connect("node-b").await;
        a.subscribe("$share/nodes/site/work/#", QoS::AtLeastOnce).await;
        b.subscribe("$share/nodes/site/work/#", QoS::AtLeastOnce).await;
        let producer = watcher.connect("producer").await;
        for i in 0..20 {
            producer.publish(&format!("site/work/{i}"), QoS::AtLeastOnce, false, i.to_string()).await;
        }
        // Twenty messages between them, each once.
        let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
        bounded("20 messages across the group", async {
            while got_a.len() + got_b.len() < 20 {
                tokio::select! {
                    Some(p) = a.message(WAIT) => got_a.push(p),
                    Some(p) = b.message(WAIT) => got_b.push(p),
                    else => panic!("no more messages"),
                }
            }
        }).await;
        let mut all: Vec<u32> = payloads(&got_a).iter().chain(&payloads(&got_b)).map(|p| p.parse().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>(), "each message to one member");
        assert!(!got_a.is_empty() && !got_b.is_empty(), "both members get a share: {} / {}", got_a.len(), got_b.len());
    }

    async fn misbehaving_clients_do_not_disturb_the_others(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.mqtt.max_packet_bytes = 1024 * 1024).await;
        let watcher = Watcher::of(&app).await;
        let addr = app.mqtt_addr.unwrap();
        let gw_password = app.gateway_password.clone().unwrap();
        let mut sub = watcher.connect("watcher-1").await;
        sub.subscribe("rtls/gateways/#", QoS::AtLeastOnce).await;
        let publisher = Client::connect(addr, gateway(&app, "steady")).await.unwrap();
        let mut expected = 0;
        let mut check = async |what: &str, publisher: &Client, sub: &mut Client| {
            expected += 1;
            publisher.publish("rtls/gateways/steady/beacon", QoS::AtLeastOnce, false, what.to_string()).await;
            let got = sub.message(Duration::from_secs(3)).await.unwrap_or_else(|| panic!("nothing delivered after: {what}"));
            assert_eq!(got.payload.as_ref(), what.as_bytes());
        };

        // Drops before its CONNACK, then reconnects with the same id (rumqttd's own
        // listener then refused every client until restart).
        for _ in 0..20 {
            let stream = raw(addr, &connect_packet("flaky", 30, Some(("gateway", &gw_password)), None)).await;
            drop(stream);
        }
        let flaky = Client::connect(addr, gateway(&app, "flaky")).await.expect("the flaky gateway reconnects");
        check("after early drops", &publisher, &mut sub).await;
        flaky.disconnect().await;

        // Garbage instead of CONNECT.
        let mut garbage = raw(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(server_closes(&mut garbage, Duration::from_secs(5)).await);
        check("after garbage", &publisher, &mut sub).await;

        // A packet over mqtt.max_packet_bytes (10 MB) closes that connection only.
        let mut big = raw(addr, &connect_packet("big", 30, Some(("gateway", &gw_password)), None)).await;
        use tokio::io::AsyncWriteExt;
        let _ = big.write_all(&publish_packet("rtls/gateways/big/x", 10 * 1024 * 1024)).await;
        assert!(server_closes(&mut big, Duration::from_secs(5)).await, "a 10 MB publish is refused");
        check("after a 10 MB publish", &publisher, &mut sub).await;
        assert!(app.metrics().refusals(securityvision::broker::Refusal::TooLarge) >= 1);

        // A half-open connection (silent past 1.5 × keep-alive) is closed and its will fires.
        let mut silent = raw(addr, &connect_packet("silent", 1, Some(("gateway", &gw_password)), Some(("rtls/gateways/silent/status", "offline")))).await;
        assert!(server_closes(&mut silent, Duration::from_secs(5)).await, "keep-alive expiry");
        let will = sub.message(Duration::from_secs(3)).await.expect("the silent client's will");
        assert_eq!(will.payload.as_ref(), b"offline");
        assert_eq!(app.metrics().mqtt_keepalive_expired.load(Ordering::Relaxed), 1);
        check("after a half-open connection", &publisher, &mut sub).await;

        // 100 clients connecting and disconnecting while messages flow.
        let churn = tokio::spawn({
            let password = gw_password.clone();
            async move {
                for i in 0..100 {
                    let id = format!("churn-{}", i % 10);
                    if let Ok(c) = Client::connect(addr, Options::new(&id).login("gateway", &password)).await {
                        if i % 2 == 0 { c.disconnect().await } else { c.kill() }
                    }
                }
            }
        });
        for i in 0..50 {
            publisher.publish("rtls/gateways/steady/beacon", QoS::AtLeastOnce, false, format!("churn {i}")).await;
        }
        churn.await.unwrap();
        // Every message of the churn arrives; `check` then proves none came twice (its
        // message must be the next one).
        let mut churned = 0;
        bounded("the 50 messages sent during the churn", async {
            while churned < 50 {
                let got = sub.message(WAIT).await.unwrap_or_else(|| panic!("no message lost during the churn: {churned} of 50"));
                churned += usize::from(got.payload.starts_with(b"churn "));
            }
        }).await;
        check("after the churn", &publisher, &mut sub).await;
        let _ = expected;
    }

    async fn credentials_are_managed_through_the_api(backend: Backend) {
        let app = TestApp::start(backend).await;
        let admin = app.admin_token().await;
        let (_, operator) = app.user_token(&admin, "op@example.com", "OPERATOR").await;
        let (status, _) = app.get("/api/v1/mqtt/credentials", &operator).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let created = app.create("/api/v1/mqtt/credentials", &admin, json!({"username": "collector-1", "role": "collector"}), StatusCode::CREATED).await;
        let password = created["password"].as_str().unwrap().to_string();
        assert!(password.len() >= 20);
        assert_eq!(created["publish_acl"], json!(["rtls/cameras/#"]));
        assert_eq!(created["subscribe_acl"], json!(["rtls/cameras/#", "security-vision/cameras/#"]), "the camera tree and the uplink commands");
        let id = created["id"].as_i64().unwrap();
        let (_, list) = app.get("/api/v1/mqtt/credentials", &admin).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "with the first-start gateway credential");
        assert!(!list.to_string().contains(&password) && list[1].get("password").is_none(), "shown once");
        let (status, _) = app.post("/api/v1/mqtt/credentials", &admin, json!({"username": "collector-1", "role": "COLLECTOR"})).await;
        assert_eq!(status, StatusCode::CONFLICT);
        for (body, field) in [
            (json!({"username": "x", "role": "ROOT"}), "role"),
            (json!({"username": "x", "role": "CUSTOM", "publish_acl": ["a/#/b"]}), "publish_acl"),
            (json!({"username": "x", "role": "CUSTOM"}), "publish_acl"),
            (json!({"username": "x y", "role": "GATEWAY"}), "username"),
            (json!({"username": "x", "role": "GATEWAY", "password": "short"}), "password"),
        ] {
            let (status, value) = app.post("/api/v1/mqtt/credentials", &admin, body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
            assert_eq!(value["detail"][0]["loc"][1], field);
        }

        // A collector reads the camera tree, a gateway cannot.
        let addr = app.mqtt_addr.unwrap();
        let mut collector = Client::connect(addr, Options::new("col-1").login("collector-1", &password)).await.unwrap();
        assert_eq!(collector.subscribe("rtls/cameras/#", QoS::AtLeastOnce).await, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);

        // Rotation: the live session closes, the old password stops working.
        let (status, rotated) = app.post(&format!("/api/v1/mqtt/credentials/{id}/rotate"), &admin, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let new_password = rotated["password"].as_str().unwrap().to_string();
        assert_ne!(new_password, password);
        assert!(collector.closed_by_server().await, "the rotated credential's session is closed");
        assert_eq!(Client::connect(addr, Options::new("col-2").login("collector-1", &password)).await.err(), Some(ConnectReturnCode::BadUserNamePassword));
        let mut collector = Client::connect(addr, Options::new("col-3").login("collector-1", &new_password)).await.unwrap();

        // Deactivation and revocation.
        let (status, _) = app.call(reqwest::Method::PATCH, &format!("/api/v1/mqtt/credentials/{id}"), Some(&admin), Some(json!({"is_active": false}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(collector.closed_by_server().await);
        assert_eq!(Client::connect(addr, Options::new("col-4").login("collector-1", &new_password)).await.err(), Some(ConnectReturnCode::BadUserNamePassword));
        assert_eq!(app.delete(&format!("/api/v1/mqtt/credentials/{id}"), &admin).await, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/mqtt/credentials/{id}"), &admin).await.0, StatusCode::NOT_FOUND);
    }

    async fn metrics_show_the_broker_and_need_a_token(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.http.metrics_token = Some("scraper-token-0123456789".into())).await;
        let addr = app.mqtt_addr.unwrap();
        let gw = Client::connect(addr, gateway(&app, "gw-1")).await.unwrap();
        gw.publish("rtls/gateways/gw-1/beacon", QoS::AtLeastOnce, false, "x").await;
        let _ = Client::connect(addr, Options::new("bad").login("gateway", "wrong-password")).await;
        gw.settled().await;
        let expected = ["sv_mqtt_connections 1", "sv_mqtt_messages_in_total{qos=\"1\"} 1", "sv_ingest_received_total 1", "sv_mqtt_refused_total{reason=\"bad_credentials\"} 1", "sv_ingest_queue_capacity 65536"];
        let scrape = async || app.client.get(app.url("/metrics")).bearer_auth("scraper-token-0123456789").send().await.unwrap().text().await.unwrap();
        // The refused client's connection is counted until its task ends.
        assert!(eventually(async || {
            let text = scrape().await;
            expected.iter().all(|line| text.lines().any(|l| l == *line))
        }).await, "{}", scrape().await);

        let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let wrong = app.client.get(app.url("/metrics")).bearer_auth("scraper-token-wrong").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let admin = app.admin_token().await;
        let response = app.client.get(app.url("/metrics")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "an administrator may read it too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_command_line_clients_work() {
    if !crate::common::tool_available("mosquitto_pub") {
        return;
    }
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    let addr = app.mqtt_addr.unwrap();
    let watcher = Watcher::of(&app).await;
    let port = addr.port().to_string();
    // `mosquitto_sub`/`mosquitto_pub` as `user` on `topic`, then `more`.
    let cli = |tool: &str, user: &str, password: &str, topic: &str, more: &[&str]| {
        let mut command = tokio::process::Command::new(tool);
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            user,
            "-P",
            password,
            "-t",
            topic,
        ]);
        command.args(more);
        command
    };
    let mut sub = cli(
        "mosquitto_sub",
        "watcher",
        &watcher.password,
        "rtls/gateways/#",
        &["-q", "1", "-W", "20"],
    )
    .stdout(std::process::Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(sub.stdout.take().unwrap()));
    // Subscribed once a probe comes through (probes published before are lost).
    let gw_password = app.gateway_password.clone().unwrap();
    let probe = Client::connect(addr, gateway(&app, "probe")).await.unwrap();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = line_tx.send(line);
        }
    });
    assert!(
        eventually(async || {
            probe
                .publish("rtls/gateways/cli/beacon", QoS::AtLeastOnce, false, "probe")
                .await;
            probe.settled().await;
            line_rx.try_recv().is_ok()
        })
        .await,
        "mosquitto_sub subscribed"
    );
    for qos in ["0", "1"] {
        let message = format!("from-cli-q{qos}");
        let status = cli(
            "mosquitto_pub",
            "gateway",
            &gw_password,
            "rtls/gateways/cli/beacon",
            &["-q", qos, "-m", &message],
        )
        .status()
        .await
        .unwrap();
        assert!(status.success());
    }
    let refused = cli(
        "mosquitto_pub",
        "gateway",
        "wrong",
        "rtls/gateways/cli/beacon",
        &["-m", "x"],
    )
    .output()
    .await
    .unwrap();
    assert!(!refused.status.success(), "wrong password refused");
    let mut got = Vec::new();
    bounded("the two messages at mosquitto_sub", async {
        while got.len() < 2 {
            match line_rx.recv().await {
                Some(line) if line == "probe" => {}
                Some(line) => got.push(line),
                None => panic!("mosquitto_sub ended after {got:?}"),
            }
        }
    })
    .await;
    assert_eq!(got, ["from-cli-q0", "from-cli-q1"]);
}

backend_tests! {
    async fn shutdown_loses_no_acknowledged_message(backend: Backend) {
        let app = TestApp::start(backend).await;
        let addr = app.mqtt_addr.unwrap();
        let mut gw = Client::connect(addr, gateway(&app, "gw-1")).await.unwrap();
        let publisher = gw.client.clone();
        let sender = tokio::spawn(async move {
            for i in 0..5000 {
                if publisher.publish("rtls/gateways/gw-1/beacon", QoS::AtLeastOnce, false, format!("{i}")).await.is_err() {
                    break;
                }
            }
        });
        // Stop the appliance in the middle of the stream.
        let mut acked = 0u64;
        bounded("500 PUBACKs", async {
            while acked < 500 {
                match gw.seen.recv().await {
                    Some(crate::mqtt::Seen::PubAck) => acked += 1,
                    Some(_) => {}
                    None => panic!("the connection closed after {acked} PUBACKs"),
                }
            }
        }).await;
        let metrics = app.metrics_handle();
        app.stop().await;
        // The PUBACKs sent before the connection closed, up to its end.
        crate::common::bounded("the connection to close", async {
            while let Some(event) = gw.seen.recv().await {
                if matches!(event, crate::mqtt::Seen::PubAck) {
                    acked += 1;
                }
            }
        }).await;
        sender.abort();
        let received = metrics.ingest_received.load(Ordering::Relaxed);
        assert!(received >= acked, "{acked} acknowledged, only {received} handed to the pipeline");
        assert!(acked >= 500);
    }
}

/// A mosquitto broker on a free loopback port, stopped when dropped.
pub struct Mosquitto {
    child: tokio::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    pub async fn start() -> Option<Mosquitto> {
        Mosquitto::start_on(crate::common::free_port()).await
    }

    /// A broker on `port` (for a broker that comes up after its clients).
    pub async fn start_on(port: u16) -> Option<Mosquitto> {
        Mosquitto::start_configured(port, "").await
    }

    /// A broker on `port` with more lines of configuration for its listener (TLS files).
    pub async fn start_configured(port: u16, listener_lines: &str) -> Option<Mosquitto> {
        Mosquitto::start_with(port, listener_lines, false).await
    }

    /// A broker keeping its sessions on disk, as Debian's does, so that it can be
    /// [restarted](Mosquitto::restart) with its queues.
    pub async fn start_persistent() -> Option<Mosquitto> {
        Mosquitto::start_with(crate::common::free_port(), "", true).await
    }

    async fn start_with(port: u16, listener_lines: &str, persistent: bool) -> Option<Mosquitto> {
        if Mosquitto::binary().is_none() {
            crate::common::tool_available("mosquitto");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let persistence = if persistent {
            // Started as root, mosquitto drops to its own user, which must be able to write
            // its sessions here.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            format!(
                "persistence true\npersistence_location {}/\n",
                dir.path().display()
            )
        } else {
            "persistence false\n".to_string()
        };
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!(
                "listener {port} 127.0.0.1\n{listener_lines}allow_anonymous true\n{persistence}"
            ),
        )
        .unwrap();
        let child = Mosquitto::run(&dir, port).await;
        Some(Mosquitto { child, port, dir })
    }

    fn binary() -> Option<&'static str> {
        ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
    }

    /// Starts mosquitto on the configuration in `dir` and waits until it listens.
    async fn run(dir: &tempfile::TempDir, port: u16) -> tokio::process::Child {
        let child = tokio::process::Command::new(Mosquitto::binary().unwrap())
            .arg("-c")
            .arg(dir.path().join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let listening = eventually(async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(listening, "mosquitto listens on {port}");
        child
    }

    /// SIGTERM (mosquitto saves its sessions, as when systemd stops it), then a new
    /// process on the same files and port.
    pub async fn restart(&mut self) {
        let pid = self.child.id().unwrap().to_string();
        let term = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        assert!(term.unwrap().success());
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("mosquitto stops on SIGTERM")
            .unwrap();
        self.child = Mosquitto::run(&self.dir, self.port).await;
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Messages a node took from the broker (gateway and camera trees).
fn received(app: &TestApp) -> u64 {
    app.metrics().ingest_received.load(Ordering::Relaxed)
        + app.metrics().cambus_received.load(Ordering::Relaxed)
}

/// Publishes probes (malformed reports: counted, never stored) until every node has taken
/// one, which shows that each has subscribed; returns how many were sent. Each probe is
/// acknowledged by the broker before the next, so each reaches exactly one node.
async fn probe_until_all_take_one(publisher: &Client, nodes: &[&TestApp]) -> u64 {
    let before: Vec<u64> = nodes.iter().map(|n| received(n)).collect();
    let mut sent = 0;
    let all = eventually(async || {
        publisher
            .publish(
                "rtls/gateways/probe/beacon",
                QoS::AtLeastOnce,
                false,
                "probe",
            )
            .await;
        publisher.settled().await;
        sent += 1;
        nodes.iter().zip(&before).all(|(n, b)| received(n) > *b)
    })
    .await;
    assert!(all, "every node subscribed at the broker");
    sent
}

backend_tests! {
    async fn external_mode_consumes_a_separate_broker_with_shared_subscriptions(backend: Backend) {
        let Some(mosquitto) = Mosquitto::start().await else { return };
        let port = mosquitto.port;
        let external = crate::common::external_broker(port);
        let shared = |c: &mut securityvision::config::Config| {
            external(c);
            c.mqtt.external_share_group = "securityvision".into();
        };
        let node_a = TestApp::start_with(backend, shared).await;
        let node_b = TestApp::start_with(backend, shared).await;
        assert!(node_a.mqtt_addr.is_none(), "no embedded broker in external mode");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let publisher = Client::connect(addr, Options::new("site-gateway")).await.unwrap();
        let mut probes = probe_until_all_take_one(&publisher, &[&node_a, &node_b]).await;
        for i in 0..40 {
            publisher.publish(&format!("rtls/gateways/gw{i}/beacon"), QoS::AtLeastOnce, false, "x").await;
        }
        publisher.publish("rtls/cameras/t/b/f/camera/c1/status", QoS::AtLeastOnce, false, "online").await;
        publisher.publish("elsewhere/topic", QoS::AtLeastOnce, false, "ignored").await;
        let total = || received(&node_a) + received(&node_b);
        assert!(eventually(async || total() == probes + 41).await, "every gateway and camera message arrives ({} of {})", total(), probes + 41);
        // Probes again, after the messages: once each node has taken one, each has taken
        // all it was given before, so a duplicate would be counted by now.
        probes += probe_until_all_take_one(&publisher, &[&node_a, &node_b]).await;
        let (a, b) = (received(&node_a), received(&node_b));
        assert_eq!(a + b, probes + 41, "every gateway and camera message once, across the nodes ({a} + {b})");
        assert!(a > 0 && b > 0, "the nodes split the traffic ({a} / {b})");
    }
}

/// Two appliances in external mode on one PostgreSQL database (the scale-out setup): the
/// broker's shared subscription splits the reports between them, each reading is stored
/// once, and what one node's API creates, the other node's pipeline uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgresql_database_store_each_reading_once() {
    // PostgreSQL only: SQLite is one file for one process, not a database nodes share.
    if !crate::common::postgres_available() {
        return;
    }
    let Some(mosquitto) = Mosquitto::start().await else {
        return;
    };
    let port = mosquitto.port;
    let external = |c: &mut securityvision::config::Config| {
        crate::common::external_broker(port)(c);
        c.mqtt.external_share_group = "securityvision".into();
        // The other node's writes reach a node's caches on its next refresh.
        c.ingest.cache_refresh_seconds = 1;
    };
    let node_a = TestApp::start_with(crate::common::Backend::Postgres, external).await;
    let node_b = node_a.another_node(external).await;
    let token = node_a.admin_token().await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let publisher = Client::connect(addr, Options::new("site-gateway"))
        .await
        .unwrap();
    let mut sent = probe_until_all_take_one(&publisher, &[&node_a, &node_b]).await;

    // Gateway and tag created through node A's API.
    node_a
        .create(
            "/api/v1/devices",
            &token,
            json!({"name": "G1", "mac_address": "AC233FC0AAAA"}),
            StatusCode::CREATED,
        )
        .await;
    node_a
        .create(
            "/api/v1/tags",
            &token,
            json!({"mac_address": "112233445566"}),
            StatusCode::CREATED,
        )
        .await;
    let stored = |n: &TestApp| n.metrics().ingest_readings_stored.load(Ordering::Relaxed);
    let report = |rssi: i64| format!(r#"{{"tag_mac":"112233445566","rssi":{rssi}}}"#);
    let topic = "rtls/gateways/AC233FC0AAAA/beacon";
    // Warm-up readings (RSSI -10) until node B's pipeline has matched A's tag.
    assert!(
        eventually(async || {
            publisher
                .publish(topic, QoS::AtLeastOnce, false, report(-10))
                .await;
            publisher.settled().await;
            sent += 1;
            stored(&node_b) > 0 && stored(&node_a) > 0
        })
        .await,
        "node B matches the tag node A created"
    );
    let both = || received(&node_a) + received(&node_b);
    assert!(
        eventually(async || both() == sent).await,
        "the warm-up is delivered"
    );

    // N reports, each RSSI once. Nothing else is in flight: each node's share is exact.
    const N: u64 = 60;
    let (before_a, before_b) = (received(&node_a), received(&node_b));
    for i in 0..N {
        publisher
            .publish(topic, QoS::AtLeastOnce, false, report(-20 - i as i64))
            .await;
    }
    assert!(
        eventually(async || both() == sent + N).await,
        "every report delivered ({} of {N})",
        both() - sent
    );
    let (took_a, took_b) = (received(&node_a) - before_a, received(&node_b) - before_b);
    let a = &node_a;
    let count = move |range: &str| {
        let sql = format!(
            "SELECT CAST(COUNT(*) AS TEXT) || ' ' || CAST(COUNT(DISTINCT rssi) AS TEXT) FROM collection_logs WHERE rssi BETWEEN {range}"
        );
        async move { a.sql_text(&sql).await.unwrap() }
    };
    let range = format!("{} AND -20", -20 - (N as i64 - 1));
    assert!(
        eventually(async || count(&range).await == format!("{N} {N}")).await,
        "every reading stored once: {}",
        count(&range).await
    );
    // Trailing readings (RSSI -80 and below) until both nodes took one and all are stored:
    // a node stores in order, so a duplicate of the N would be in the table by now.
    let (after_a, after_b) = (received(&node_a), received(&node_b));
    let mut trailing = 0;
    assert!(
        eventually(async || {
            if received(&node_a) == after_a || received(&node_b) == after_b {
                publisher
                    .publish(topic, QoS::AtLeastOnce, false, report(-80 - trailing))
                    .await;
                trailing += 1;
            }
            received(&node_a) > after_a
                && received(&node_b) > after_b
                && count(&format!("{} AND -80", -80 - (trailing - 1))).await
                    == format!("{trailing} {trailing}")
        })
        .await,
        "both nodes go on storing"
    );
    assert_eq!(
        count(&range).await,
        format!("{N} {N}"),
        "each reading stored exactly once"
    );
    assert!(
        took_a > 0 && took_b > 0,
        "both nodes took part ({took_a} / {took_b})"
    );
}

backend_tests! {
    async fn tls_listener_serves_mqtt_over_tls(backend: Backend) {
        let tls = SelfSigned::new("localhost");
        let app = TestApp::start_with(backend, |c| tls.listen(c)).await;
        let tls_addr = app.mqtt_tls_addr.expect("a TLS listener");

        let mut tls = tls_connect(tls_addr, tls.roots()).await;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let password = app.gateway_password.clone().unwrap();
        tls.write_all(&connect_packet("tls-gw", 30, Some(("gateway", &password)), None)).await.unwrap();
        let mut connack = [0u8; 4];
        tls.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted over TLS");
        tls.write_all(&publish_packet("rtls/gateways/tls-gw/beacon", 10)).await.unwrap();
        assert!(eventually(async || app.metrics().ingest_received.load(Ordering::Relaxed) == 1).await, "the report is received");

        // A plaintext client on the TLS port gets nowhere and harms nobody.
        let mut plain = raw(tls_addr, &connect_packet("plain", 30, None, None)).await;
        assert!(server_closes(&mut plain, Duration::from_secs(12)).await);
    }
}

backend_tests! {
    async fn websocket_listener_serves_mqtt(backend: Backend) {
        let app = TestApp::start_with(backend, |c| c.mqtt.ws_listen = Some("127.0.0.1:0".parse().unwrap())).await;
        let ws_addr = app.mqtt_ws_addr.expect("a WebSocket listener");
        let mut request = async_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!("ws://{ws_addr}/mqtt")).unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "mqtt".parse().unwrap());
        let tcp = tokio::net::TcpStream::connect(ws_addr).await.unwrap();
        let (ws, response) = async_tungstenite::tokio::client_async(request, tcp).await.expect("WebSocket upgrade");
        assert_eq!(response.headers()["sec-websocket-protocol"], "mqtt");
        let mut stream = ws_stream_tungstenite::WsStream::new(ws);
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let password = app.gateway_password.clone().unwrap();
        stream.write_all(&connect_packet("ws-gw", 30, Some(("gateway", &password)), None)).await.unwrap();
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted over WebSocket");
        stream.write_all(&publish_packet("rtls/gateways/ws-gw/beacon", 10)).await.unwrap();
        stream.flush().await.unwrap();
        assert!(eventually(async || app.metrics().ingest_received.load(Ordering::Relaxed) == 1).await, "the report is received");
    }
}

backend_tests! {
    async fn persistent_sessions_keep_messages_while_the_client_is_away(backend: Backend) {
        let app = TestApp::start(backend).await;
        let watcher = Watcher::of(&app).await;
        let addr = app.mqtt_addr.unwrap();
        let persistent = |id| {
            let mut o = watcher.options(id);
            o.clean_session = false;
            o
        };
        let mut away = Client::connect(addr, persistent("keeper")).await.unwrap();
        away.subscribe("site/mail/#", QoS::AtLeastOnce).await;
        away.disconnect().await;
        let sender = watcher.connect("sender").await;
        sender.publish("site/mail/1", QoS::AtLeastOnce, false, "while you were away").await;
        // Acknowledged once handed to the router, which queues it for the session before
        // the client's reconnection reaches it.
        sender.settled().await;
        let mut back = Client::connect(addr, persistent("keeper")).await.unwrap();
        let got = back.message(Duration::from_secs(3)).await.expect("the queued message");
        assert_eq!(got.payload.as_ref(), b"while you were away");
    }
}
