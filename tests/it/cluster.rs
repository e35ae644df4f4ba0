//! Two appliances, one site (docs/cluster.md): two real `serve` processes on one PostgreSQL
//! database and Debian's mosquitto. A gateway publishes QoS 1 readings at a steady rate,
//! each with its own time; the leader is killed (SIGKILL) or cut off from PostgreSQL
//! (`pg_terminate_backend` on its lock's connection). The standby takes over within the
//! lease plus a few seconds, every reading is stored exactly once, positions go on, and a
//! cut-off leader stops writing before its successor starts. A console connected to the
//! standby is live before and after the failover (the internal topic tree).
//! PostgreSQL only: skipped with a note without SV_TEST_DATABASE_URL or mosquitto.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::broker::Mosquitto;
use crate::cli::{KillOnDrop, securityvision, wait_for_health};
use crate::common::{Backend, TestDatabase, eventually_within, free_port};

const LEASE_SECONDS: u64 = 3;
const METRICS_TOKEN: &str = "cluster-test-metrics-token";
const JWT_SECRET: &str = "cluster-test-signing-key-shared-by-both-nodes";
const GATEWAY: &str = "AC233FC00001";
const TAGS: [&str; 3] = ["112233440001", "112233440002", "112233440003"];

/// One appliance process of the cluster.
struct Node {
    process: KillOnDrop,
    base: String,
    work: tempfile::TempDir,
}

impl Node {
    async fn start(name: &str, db: &TestDatabase, mqtt_port: u16) -> Node {
        let work = tempfile::tempdir().unwrap();
        let http = free_port();
        let mut command = securityvision(work.path());
        command
            .env("SV_DATABASE_URL", &db.url)
            .env("SV_MQTT_MODE", "external")
            .env("SV_MQTT_EXTERNAL_HOST", "127.0.0.1")
            .env("SV_MQTT_EXTERNAL_PORT", mqtt_port.to_string())
            .env("SV_CLUSTER_ENABLED", "true")
            .env("SV_CLUSTER_NODE_NAME", name)
            .env("SV_CLUSTER_LEASE_SECONDS", LEASE_SECONDS.to_string())
            .env("SV_HTTP_METRICS_TOKEN", METRICS_TOKEN)
            // The nodes share what they sign tokens with (docs/cluster.md).
            .env("SV_JWT_SECRET", JWT_SECRET)
            .env("SV_HTTP_SHUTDOWN_GRACE_SECONDS", "2")
            .args(["serve", "--http-listen", &format!("127.0.0.1:{http}")]);
        let log = std::fs::File::create(work.path().join("serve.log")).unwrap();
        let process = KillOnDrop(command.stdout(Stdio::null()).stderr(log).spawn().unwrap());
        let base = format!("http://127.0.0.1:{http}");
        wait_for_health(&base).await;
        Node {
            process,
            base,
            work,
        }
    }

    async fn role(&self) -> Option<String> {
        let health: Value = reqwest::get(format!("{}/health", self.base))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        health["role"].as_str().map(str::to_string)
    }

    /// One line of `/metrics`.
    async fn metric(&self, name: &str) -> i64 {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .parse()
            .unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.work.path().join("serve.log")).unwrap_or_default()
    }
}

/// A site: mosquitto, one database, nodes `a` (started first: it migrates and leads) and
/// `b`, a gateway and three tagged people on a plan. `None` when a tool is missing.
struct Site {
    mosquitto: Mosquitto,
    db: TestDatabase,
    a: Node,
    b: Node,
    token: String,
    /// The gateway's and the tags' ids.
    gateway_id: i64,
    tag_ids: Vec<i64>,
}

impl Site {
    async fn start() -> Option<Site> {
        if !crate::common::postgres_available() {
            return None;
        }
        securityvision::tls::install_default_provider();
        // The broker queues for the site's session while no node leads.
        let mosquitto =
            Mosquitto::start_configured(free_port(), "max_queued_messages 100000\n").await?;
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(Backend::Postgres, dir.path()).await;
        let a = Node::start("a", &db, mosquitto.port).await;
        let b = Node::start("b", &db, mosquitto.port).await;
        assert!(
            eventually_within(Duration::from_secs(LEASE_SECONDS + 10), async || {
                a.role().await.as_deref() == Some("leader")
            })
            .await,
            "a leads: {}",
            a.log()
        );
        assert_eq!(b.role().await.as_deref(), Some("standby"));
        let token = crate::cli::admin_token(&a.base, a.work.path()).await;
        let mut site = Site {
            mosquitto,
            db,
            a,
            b,
            token,
            gateway_id: 0,
            tag_ids: Vec::new(),
        };
        site.furnish().await;
        Some(site)
    }

    async fn create(&self, path: &str, body: Value) -> i64 {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1{path}", self.a.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{path}");
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    async fn furnish(&mut self) {
        let building = self
            .create("/buildings", json!({"name": "HQ", "code": "HQ"}))
            .await;
        let floor = self
            .create(
                "/floors",
                json!({"building_id": building, "name": "Ground"}),
            )
            .await;
        let plan = self
            .create(
                "/floor-plans",
                json!({"floor_id": floor, "name": "Ground plan"}),
            )
            .await;
        self.gateway_id = self
            .create(
                "/devices",
                json!({"name": "Hall", "mac_address": GATEWAY, "floor_plan_id": plan, "pos_x": 0.5, "pos_y": 0.5}),
            )
            .await;
        for (i, tag) in TAGS.iter().enumerate() {
            let person = self
                .create("/people", json!({"full_name": format!("Person {i}")}))
                .await;
            let tag = self
                .create("/tags", json!({"mac_address": tag, "person_id": person}))
                .await;
            self.tag_ids.push(tag);
        }
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// Readings stored, and distinct readings (each is told apart by its tag and time).
    async fn readings(&self) -> (i64, i64) {
        (
            self.scalar("SELECT count(*) FROM collection_logs").await,
            self.scalar("SELECT count(DISTINCT (tag_id, created_at)) FROM collection_logs")
                .await,
        )
    }

    /// The dwell alerts as `node` lists them: (id, open, last seen in ms since the epoch).
    async fn dwell_alerts(&self, node: &Node) -> Vec<(i64, bool, i64)> {
        let events: Value = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/alert-events?limit=100&event_type=DWELL_TIME",
                node.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut alerts: Vec<_> = events
            .as_array()
            .unwrap_or_else(|| panic!("alert events: {events}"))
            .iter()
            .map(|e| {
                let seen = e["last_seen_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map_or(0, |t| t.timestamp_millis());
                (e["id"].as_i64().unwrap(), e["is_open"] == true, seen)
            })
            .collect();
        alerts.sort_unstable();
        alerts
    }

    /// The people whose position `node` shows, heard after `since` (ms since the epoch).
    async fn positions_since(&self, node: &Node, since: i64) -> usize {
        let rows: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/positions/current", node.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rows.as_array()
            .unwrap_or_else(|| panic!("positions: {rows}"))
            .iter()
            .filter(|row| {
                row["last_seen_at"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.timestamp_millis() > since)
            })
            .count()
    }
}

/// A gateway publishing one QoS 1 reading every 10 ms, each with a time of its own (ms,
/// strictly increasing), round-robin over the tags; counts the broker's PUBACKs.
struct Gateway {
    sent: Arc<AtomicUsize>,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Gateway {
    fn start(port: u16) -> Gateway {
        let (sent, acked, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let mut options = MqttOptions::new("cluster-test-gateway", "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut events) = AsyncClient::new(options, 100);
        tokio::spawn({
            let acked = acked.clone();
            async move {
                while let Ok(event) = events.poll().await {
                    if let Event::Incoming(Packet::PubAck(_)) = event {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        tokio::spawn({
            let (sent, stop) = (sent.clone(), stop.clone());
            async move {
                let topic = format!("rtls/gateways/{GATEWAY}/beacon");
                let mut last = 0;
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let at = chrono::Utc::now().timestamp_millis().max(last + 1);
                    last = at;
                    let payload = json!([{"mac": TAGS[i % TAGS.len()], "rssi": -50 - (i % 30) as i64, "timestamp": at}]);
                    if client
                        .publish(&topic, QoS::AtLeastOnce, false, payload.to_string())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        Gateway { sent, acked, stop }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stops and waits until the broker has acknowledged everything sent; returns how many.
    async fn finish(&self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = self.sent();
        assert!(
            eventually_within(Duration::from_secs(10), async || {
                self.acked.load(Ordering::SeqCst) >= sent
            })
            .await,
            "the broker acknowledged every reading"
        );
        sent
    }
}

/// Waits until every one of `published` readings is stored, and checks none twice.
async fn stored_exactly_once(site: &Site, published: usize) {
    let published = published as i64;
    let mut last = (0, 0);
    let complete = eventually_within(Duration::from_secs(30), async || {
        last = site.readings().await;
        last.0 >= published
    })
    .await;
    // Duplicates, if any, would still be on their way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rows, distinct) = site.readings().await;
    assert!(
        complete,
        "{published} published, {} stored\n--- a ---\n{}\n--- b ---\n{}",
        last.0,
        site.a.log(),
        site.b.log()
    );
    assert_eq!(
        (rows, distinct),
        (published, published),
        "each reading stored once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_a_killed_leader_and_no_reading_is_lost_or_doubled() {
    let Some(mut site) = Site::start().await else {
        return;
    };
    site.create(
        "/alert-rules",
        json!({"name": "Linger", "rule_type": "DWELL_TIME", "device_id": site.gateway_id, "max_dwell_seconds": 1}),
    )
    .await;
    let gateway = Gateway::start(site.mosquitto.port);
    assert!(
        eventually_within(Duration::from_secs(20), async || site.readings().await.0
            >= 200)
        .await,
        "the leader stores: {}",
        site.a.log()
    );
    assert_eq!(site.positions_since(&site.a, 0).await, TAGS.len());
    let mut lingering = Vec::new();
    assert!(
        eventually_within(Duration::from_secs(15), async || {
            lingering = site.dwell_alerts(&site.a).await;
            lingering.len() == TAGS.len() && lingering.iter().all(|a| a.1)
        })
        .await,
        "a dwell alert opens for each tag: {lingering:?}"
    );

    site.a.process.0.kill().unwrap();
    site.a.process.0.wait().unwrap();
    let killed_at = chrono::Utc::now().timestamp_millis();
    let sent_at_kill = gateway.sent();
    let took_over = eventually_within(Duration::from_secs(LEASE_SECONDS + 5), async || {
        site.b.role().await.as_deref() == Some("leader")
    })
    .await;
    assert!(
        took_over,
        "b leads within the lease + 5 s: {}",
        site.b.log()
    );
    let failover_ms = chrono::Utc::now().timestamp_millis() - killed_at;
    let delayed = gateway.sent() - sent_at_kill;
    assert!(
        gateway.sent() > sent_at_kill,
        "readings were published while no node led"
    );
    // Positions go on at the new leader.
    assert!(
        eventually_within(Duration::from_secs(10), async || {
            site.positions_since(&site.b, killed_at).await == TAGS.len()
        })
        .await,
        "b shows the tags' new positions"
    );
    // The open dwell alerts go on at the new leader: the same ones, still open, seen since.
    let ids: Vec<i64> = lingering.iter().map(|a| a.0).collect();
    let mut now = Vec::new();
    assert!(
        eventually_within(Duration::from_secs(20), async || {
            now = site.dwell_alerts(&site.b).await;
            now.iter().map(|a| a.0).collect::<Vec<_>>() == ids
                && now.iter().all(|a| a.1 && a.2 > killed_at)
        })
        .await,
        "the dwell alerts continue: before {lingering:?}, now {now:?}"
    );
    let published = gateway.finish().await;
    stored_exactly_once(&site, published).await;
    assert_eq!(site.b.metric("sv_cluster_leader").await, 1);
    assert_eq!(site.b.metric("sv_cluster_takeovers_total").await, 1);
    // Figures for `scripts/failover-bench` (BENCHMARKS.md).
    eprintln!(
        "failover: leader_after_ms {failover_ms} published {published} redelivered_already_stored {} published_while_no_leader {delayed}",
        site.b.metric("sv_cluster_duplicates_skipped_total").await
    );
    assert_eq!(
        site.scalar("SELECT epoch FROM cluster_leader").await,
        2,
        "one takeover after the first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_postgresql_stops_writing_before_the_next_one_starts() {
    let Some(site) = Site::start().await else {
        return;
    };
    let gateway = Gateway::start(site.mosquitto.port);
    assert!(
        eventually_within(Duration::from_secs(20), async || site.readings().await.0
            >= 200)
        .await,
        "the leader stores: {}",
        site.a.log()
    );

    // The leader's lock lives on one connection: end it, as a partition would. (The
    // writers' batches hold another advisory lock, for a moment each.)
    let terminated = site
        .scalar(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
             WHERE locktype = 'advisory' AND granted \
             AND (classid::bigint << 32) + objid::bigint = {} \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            securityvision::cluster::LOCK_KEY
        ))
        .await;
    assert_eq!(terminated, 1, "one node holds the lock");

    // Watch both: a must stand by (and stop writing) before b leads.
    let (mut a_stood_down, mut a_stored_then) = (None, 0);
    let mut b_leads = false;
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(LEASE_SECONDS + 10) {
        if a_stood_down.is_none() && site.a.role().await.as_deref() == Some("standby") {
            a_stood_down = Some(tokio::time::Instant::now());
            a_stored_then = site.a.metric("sv_ingest_readings_stored_total").await;
        }
        if site.b.role().await.as_deref() == Some("leader") {
            b_leads = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(b_leads, "b leads: {}", site.b.log());
    assert!(
        a_stood_down.is_some(),
        "a stood down before b led: {}",
        site.a.log()
    );
    assert_eq!(site.a.metric("sv_cluster_leader").await, 0);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let published = gateway.finish().await;
    stored_exactly_once(&site, published).await;
    assert_eq!(
        site.a.metric("sv_ingest_readings_stored_total").await,
        a_stored_then,
        "a wrote nothing once it stood down"
    );
    assert_eq!(site.b.role().await.as_deref(), Some("leader"));
    assert_eq!(
        site.a.role().await.as_deref(),
        Some("standby"),
        "a stands by"
    );
    let epoch_and_node = {
        let mut conn = sqlx::PgConnection::connect(&site.db.url).await.unwrap();
        sqlx::query_as::<_, (i64, String)>("SELECT epoch, node_name FROM cluster_leader")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(epoch_and_node, (2, "b".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_the_dead_leader_stored_but_did_not_acknowledge_are_not_stored_again() {
    let Some(mut site) = Site::start().await else {
        return;
    };
    // No node leads: what the gateway publishes waits at the broker for the site's session.
    site.b.process.0.kill().unwrap();
    site.b.process.0.wait().unwrap();
    site.a.process.0.kill().unwrap();
    site.a.process.0.wait().unwrap();
    let gateway = Gateway::start(site.mosquitto.port);
    assert!(
        eventually_within(Duration::from_secs(10), async || gateway.sent() >= 30).await,
        "the gateway publishes"
    );
    let published = gateway.finish().await;

    // A leader that dies between its commit and its acknowledgements: it takes messages of
    // the site's session, stores their readings, and never acknowledges them.
    let mut options = MqttOptions::new("securityvision", "127.0.0.1", site.mosquitto.port);
    options.set_clean_session(false).set_manual_acks(true);
    let (_client, mut events) = AsyncClient::new(options, 100);
    let mut taken = Vec::new();
    while taken.len() < 10 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("the broker hands the queued messages over")
            .unwrap();
        if let Event::Incoming(Packet::Publish(publish)) = event {
            taken.push(publish);
        }
    }
    drop(events);
    let mut conn = sqlx::PgConnection::connect(&site.db.url).await.unwrap();
    for publish in &taken {
        let reading: Value = serde_json::from_slice(&publish.payload).unwrap();
        let reading = &reading[0];
        let tag = TAGS.iter().position(|t| reading["mac"] == *t).unwrap();
        let at = chrono::DateTime::from_timestamp_millis(reading["timestamp"].as_i64().unwrap())
            .unwrap();
        sqlx::query(
            "INSERT INTO collection_logs (device_id, tag_id, rssi, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(site.gateway_id)
        .bind(site.tag_ids[tag])
        .bind(reading["rssi"].as_i64().unwrap() as i32)
        .bind(at)
        .execute(&mut conn)
        .await
        .unwrap();
    }

    // The next leader resumes the session: the broker sends those messages again (DUP).
    let c = Node::start("c", &site.db, site.mosquitto.port).await;
    assert!(
        eventually_within(Duration::from_secs(LEASE_SECONDS + 10), async || {
            c.role().await.as_deref() == Some("leader")
        })
        .await,
        "c leads: {}",
        c.log()
    );
    site.a = c;
    stored_exactly_once(&site, published).await;
    assert_eq!(
        site.a.metric("sv_cluster_duplicates_skipped_total").await,
        taken.len() as i64,
        "the readings already stored were recognised"
    );
}

/// A console's live stream on a node: the events it received, as (type, tag id, last seen
/// in ms since the epoch) for positions, read in the background.
struct Console {
    events: Arc<std::sync::Mutex<Vec<(String, i64, i64)>>>,
}

impl Console {
    async fn open(node: &Node, token: &str) -> Console {
        let mut response = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/stream?types=POSITION_CHANGED,BUILDING_CREATED",
                node.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let events = Arc::new(std::sync::Mutex::new(Vec::new()));
        tokio::spawn({
            let events = events.clone();
            async move {
                let mut buffer = String::new();
                while let Ok(Some(chunk)) = response.chunk().await {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                            continue;
                        };
                        let event: Value = serde_json::from_str(data.trim()).unwrap();
                        let payload = &event["payload"];
                        let seen = payload["last_seen_at"]
                            .as_str()
                            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                            .map_or(0, |t| t.timestamp_millis());
                        events.lock().unwrap().push((
                            event["event_type"].as_str().unwrap().to_string(),
                            payload["tag_id"].as_i64().unwrap_or(0),
                            seen,
                        ));
                    }
                }
            }
        });
        Console { events }
    }

    fn received(&self, event_type: &str) -> usize {
        let events = self.events.lock().unwrap();
        events.iter().filter(|e| e.0 == event_type).count()
    }

    /// The tags whose position the stream announced, seen after `since`.
    fn tags_seen_after(&self, since: i64) -> usize {
        let events = self.events.lock().unwrap();
        let tags: std::collections::HashSet<i64> = events
            .iter()
            .filter(|(kind, _, seen)| kind == "POSITION_CHANGED" && *seen > since)
            .map(|(_, tag, _)| *tag)
            .collect();
        tags.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_the_standby_is_live_before_and_after_a_failover() {
    let Some(mut site) = Site::start().await else {
        return;
    };
    let console = Console::open(&site.b, &site.token).await;
    let gateway = Gateway::start(site.mosquitto.port);
    assert!(
        eventually_within(Duration::from_secs(20), async || {
            console.tags_seen_after(0) == TAGS.len()
        })
        .await,
        "the standby's stream announces the positions the leader computes: {}",
        site.b.log()
    );
    assert!(
        eventually_within(Duration::from_secs(10), async || {
            site.positions_since(&site.b, 0).await == TAGS.len()
        })
        .await,
        "the standby's /positions/current shows the leader's positions"
    );
    assert_eq!(site.b.role().await.as_deref(), Some("standby"));
    assert!(site.b.metric("sv_cluster_live_received_total").await > 0);
    // What happens through the leader's API reaches the standby's consoles too.
    site.create("/buildings", json!({"name": "Annex", "code": "AX"}))
        .await;
    assert!(
        eventually_within(Duration::from_secs(10), async || {
            console.received("BUILDING_CREATED") == 1
        })
        .await,
        "the standby's stream relays the leader's events"
    );

    site.a.process.0.kill().unwrap();
    site.a.process.0.wait().unwrap();
    let killed_at = chrono::Utc::now().timestamp_millis();
    assert!(
        eventually_within(Duration::from_secs(LEASE_SECONDS + 5), async || {
            site.b.role().await.as_deref() == Some("leader")
        })
        .await,
        "b leads: {}",
        site.b.log()
    );
    assert!(
        eventually_within(Duration::from_secs(15), async || {
            console.tags_seen_after(killed_at) == TAGS.len()
        })
        .await,
        "the same stream goes on with the new leader's positions: {}",
        site.b.log()
    );
    gateway.finish().await;

    // A node that starts now builds its replica from the retained positions alone.
    let c = Node::start("c", &site.db, site.mosquitto.port).await;
    assert!(
        eventually_within(Duration::from_secs(10), async || {
            site.positions_since(&c, 0).await == TAGS.len()
        })
        .await,
        "c rebuilt the positions from the retained messages: {}",
        c.log()
    );
    assert_eq!(c.role().await.as_deref(), Some("standby"));
    // A tag deleted at the leader leaves the replicas.
    let deleted = reqwest::Client::new()
        .delete(format!("{}/api/v1/tags/{}", site.b.base, site.tag_ids[0]))
        .bearer_auth(&site.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let remaining: std::collections::HashSet<i64> = site.tag_ids[1..].iter().copied().collect();
    let mut retained = Default::default();
    assert!(
        eventually_within(Duration::from_secs(10), async || {
            retained = retained_positions(site.mosquitto.port).await;
            retained == remaining
        })
        .await,
        "the broker keeps the positions of the tags left, {remaining:?}, not {retained:?}"
    );
    // A reading posted through a standby's API moves the tag at the leader.
    let before = chrono::Utc::now().timestamp_millis();
    let posted = reqwest::Client::new()
        .post(format!("{}/api/v1/collection-logs", c.base))
        .bearer_auth(&site.token)
        .json(&json!({"device_id": site.gateway_id, "tag_id": site.tag_ids[1], "rssi": -40}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    assert!(
        eventually_within(Duration::from_secs(10), async || {
            site.positions_since(&site.b, before).await == 1
        })
        .await,
        "the leader heard the reading c stored: {}",
        site.b.log()
    );
    site.a = c;
}

/// The tags whose position the broker keeps as a retained message of the internal tree.
async fn retained_positions(port: u16) -> std::collections::HashSet<i64> {
    let options = MqttOptions::new("cluster-test-retained", "127.0.0.1", port);
    let (client, mut events) = AsyncClient::new(options, 100);
    client
        .subscribe("securityvision/internal/positions/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut tags = std::collections::HashSet::new();
    // The retained messages come right after the SUBACK; a quiet second ends them.
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(1), events.poll()).await {
        if let Event::Incoming(Packet::Publish(publish)) = event
            && publish.retain
            && !publish.payload.is_empty()
        {
            let tag = publish.topic.rsplit('/').next().unwrap();
            tags.insert(tag.parse().unwrap());
        }
    }
    tags
}

/// Camera events and the alert engine's evidence are fenced as reading batches are: what a
/// node writes under an epoch that is no longer current (another node took over) is
/// refused, and nothing of it is written; the API's (no epoch) and the current leader's are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_events_and_alert_evidence_of_an_old_epoch_are_not_written() {
    if !crate::common::postgres_available() {
        return;
    }
    let app = crate::common::TestApp::start(Backend::Postgres).await;
    let token = app.admin_token().await;
    let building = app
        .create_id(
            "/api/v1/buildings",
            &token,
            json!({"name": "HQ", "code": "HQ"}),
        )
        .await;
    let floor = app
        .create_id(
            "/api/v1/floors",
            &token,
            json!({"building_id": building, "name": "G"}),
        )
        .await;
    let camera = app
        .create_id(
            "/api/v1/devices/cameras",
            &token,
            json!({"name": "Lobby", "code": "CAM-1", "floor_id": floor}),
        )
        .await;
    let mut conn = sqlx::PgConnection::connect(app.config.database.url.as_deref().unwrap())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO cluster_leader (id, epoch, node_name, since) VALUES (1, 2, 'b', now())",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let payload = json!({"event": "motion"});
    let event = |key: &str| securityvision::store::cambus::NewCameraEvent {
        device_id: camera,
        topic: "rtls/cameras/acme/hq/camera/CAM-1/motion/events",
        analytic_type: "motion",
        payload: &payload,
        occurred_at: chrono::Utc::now(),
        dedup_key: Some(key.to_string()),
        person_id: None,
        nearby_people: &[],
    };
    let seen = Some(chrono::Utc::now());
    let stale = app
        .store
        .record_camera_event(&event("a"), Some(("cambus_event", "x")), seen, Some(1))
        .await;
    assert!(
        matches!(stale, Err(securityvision::store::StoreError::Fenced(1))),
        "{stale:?}"
    );
    let count = |sql: &'static str| {
        let url = app.config.database.url.clone().unwrap();
        async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT count(*) FROM device_events").await, 0);
    assert_eq!(
        count("SELECT count(*) FROM devices WHERE last_seen_at IS NOT NULL").await,
        0,
        "nothing of the refused event was written"
    );
    for (key, epoch) in [("b", Some(2)), ("c", None)] {
        let stored = app
            .store
            .record_camera_event(&event(key), None, None, epoch)
            .await
            .unwrap();
        assert!(stored.is_some(), "epoch {epoch:?}");
    }
    assert_eq!(count("SELECT count(*) FROM device_events").await, 2);

    // The alert engine's saves (periodic, and its last at step-down).
    let now = chrono::Utc::now();
    let stale = app.store.touch_alert_events(&[(1, now)], Some(1)).await;
    assert!(
        matches!(stale, Err(securityvision::store::StoreError::Fenced(1))),
        "{stale:?}"
    );
    let stale = app
        .store
        .touch_alert_countdowns(&[(1, 1, now)], Some(1))
        .await;
    assert!(
        matches!(stale, Err(securityvision::store::StoreError::Fenced(1))),
        "{stale:?}"
    );
    app.store
        .touch_alert_events(&[(1, now)], Some(2))
        .await
        .unwrap();
    app.store
        .touch_alert_countdowns(&[(1, 1, now)], Some(2))
        .await
        .unwrap();
}
