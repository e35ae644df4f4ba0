//! MQTT benchmarks of the embedded broker (BENCHMARKS.md has the figures).
//!
//!     cargo bench --bench mqtt                 # every scenario
//!     cargo bench --bench mqtt -- handoff      # or: mosquitto, idle, ingest, latency, webhooks, alerts, history
//!     cargo bench --bench mqtt -- ingest 100000   # ingest with another number of tags
//!
//! `accuracy` scores the positions against the simulator's ground truth (4 ceiling gateways
//! in a 6 × 4 m room, RSSI noise σ 2.5 dB, 10% multipath fades of −6 dB).
//! `ingest` measures the whole RTLS path (published → decoded → stored) on SQLite, and on
//! PostgreSQL too when `SV_BENCH_DATABASE_URL` names an empty database. `latency` measures
//! publish → position on the live stream under a steady 10,000 readings/s. `history-off`
//! and `history-on` run `ingest` with the gateways placed on a plan (every reading moves a
//! position) without and with the position history: what recording costs; `rollups-off`
//! and `rollups-on` do the same without the presence rollups and with a pass every second,
//! while sessions close during the burst (2,000 tags, each staying `SV_BENCH_LAPS` laps,
//! default 100, at a gateway; the session closes a second after it left).
//!
//! The appliance (broker + ingest hand-off) runs in this process; the publishing clients
//! run in a child process (this same program, `--load`), talking MQTT over loopback.
//! `mosquitto` compares with Debian's mosquitto and an external subscriber.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use securityvision::metrics::Metrics;
use tokio::io::AsyncBufReadExt;

mod common;

const CLIENTS: usize = 10;
const MESSAGES: usize = 200_000;
const IDLE_CONNECTIONS: usize = 5_000;

fn main() {
    securityvision::tls::install_default_provider();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("--load") => runtime.block_on(load(&args[1..])),
        Some("--idle") => runtime.block_on(idle(&args[1..])),
        Some("--load-reports") => runtime.block_on(load_reports(&args[1..])),
        Some("--load-steady") => runtime.block_on(load_steady(&args[1..])),
        filter => runtime.block_on(async {
            let run = |name: &str| filter.is_none_or(|f| name.contains(f));
            if run("handoff") {
                for qos in [0, 1] {
                    handoff(qos).await;
                }
            }
            if run("mosquitto") {
                for qos in [0, 1] {
                    mosquitto(qos).await;
                }
            }
            if run("idle") {
                idle_connections().await;
            }
            if run("accuracy") {
                accuracy().await;
            }
            if run("ingest") {
                let tags = args
                    .get(1)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(INGEST_TAGS);
                ingest(None, tags).await;
                if let Ok(url) = std::env::var("SV_BENCH_DATABASE_URL") {
                    ingest(Some(url), tags).await;
                }
            }
            for (name, history) in [("history-off", false), ("history-on", true)] {
                if run(name) {
                    let moving = Moving {
                        history,
                        ..Moving::default()
                    };
                    ingest_history(None, moving).await;
                    if let Ok(url) = std::env::var("SV_BENCH_DATABASE_URL") {
                        ingest_history(Some(url), moving).await;
                    }
                }
            }
            // The presence rollups' pass (every second here, 10 s by default) while sessions
            // close: 2,000 tags (500 readings each), each staying SV_BENCH_LAPS laps
            // (default 100: a session of 100 readings) at a gateway; its session there
            // closes a second after it left.
            let laps = std::env::var("SV_BENCH_LAPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            for (name, rollup_interval) in [("rollups-off", 0), ("rollups-on", 1)] {
                if run(name) {
                    let moving = Moving {
                        tags: 2_000,
                        rollup_interval,
                        laps_per_gateway: laps,
                        presence_gap: 1,
                        ..Moving::default()
                    };
                    ingest_history(None, moving).await;
                    if let Ok(url) = std::env::var("SV_BENCH_DATABASE_URL") {
                        ingest_history(Some(url), moving).await;
                    }
                }
            }
            if run("latency") {
                latency().await;
            }
            if run("webhooks") {
                for subscriptions in [1, 10] {
                    webhook_deliveries(subscriptions).await;
                }
                ingest_with_webhooks().await;
            }
            if run("alerts") {
                ingest_with_alert_rules().await;
            }
        }),
    }
}

/// A running appliance for a benchmark.
struct Appliance {
    port: u16,
    http_port: u16,
    admin_password: String,
    store: securityvision::store::Store,
    events: securityvision::events::EventBus,
    metrics: Arc<Metrics>,
    shutdown: tokio_util::sync::CancellationToken,
    view: Arc<securityvision::ingest::view::PipelineView>,
    _dir: tempfile::TempDir,
}

/// Starts the appliance, anonymous MQTT allowed, on a temporary SQLite database or on the
/// PostgreSQL database `url`, with `tags` registered and `site` set up before it starts.
async fn appliance_on<F: AsyncFnOnce(&securityvision::store::Store)>(
    url: Option<String>,
    tags: &[String],
    site: F,
) -> Appliance {
    appliance_with(url, tags, site, |_| {}).await
}

/// [`appliance_on`] with `adjust` applied to its configuration.
async fn appliance_with<F: AsyncFnOnce(&securityvision::store::Store)>(
    url: Option<String>,
    tags: &[String],
    site: F,
    adjust: impl FnOnce(&mut securityvision::config::Config),
) -> Appliance {
    let dir = tempfile::tempdir().unwrap();
    let mut config = securityvision::config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    config.database.url = url;
    config.mqtt.listen = Some("127.0.0.1:0".parse().unwrap());
    config.mqtt.allow_anonymous = true;
    config.log.filter = "warn".into();
    // The webhook receivers of the benchmarks listen on loopback.
    config.webhooks.allow_private = true;
    // The load's 200 gateways all register at once (a site's gateways come one by one;
    // the default limit of 30 a minute would leave most of them out).
    config.ingest.registrations_per_minute = 10_000;
    adjust(&mut config);
    let app = securityvision::server::App::prepare(config, Default::default())
        .await
        .unwrap();
    let metrics = app.state.metrics.clone();
    let store = app.state.store.clone();
    let events = app.state.events.clone();
    let admin_password = app
        .first_admin
        .as_ref()
        .map(|a| a.password.clone())
        .unwrap_or_default();
    for mac in tags {
        let tag = securityvision::store::people::Tag {
            mac_address: mac.clone(),
            active: true,
            ..Default::default()
        };
        store.save_tag(&tag).await.unwrap();
    }
    site(&store).await;
    let view = app.state.pipeline.clone();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = http.local_addr().unwrap().port();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = app.start(http, shutdown.clone()).await.unwrap();
    let port = running.mqtt_addr.unwrap().port();
    tokio::spawn(running.wait());
    Appliance {
        port,
        http_port,
        admin_password,
        store,
        events,
        metrics,
        shutdown,
        view,
        _dir: dir,
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn spawn_self(args: &[String]) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// Messages/s from the load process into the in-process hand-off.
async fn handoff(qos: u8) {
    let Appliance {
        port,
        metrics,
        shutdown,
        _dir,
        ..
    } = appliance_on(None, &[], async |_| {}).await;
    let mut child = spawn_self(&["--load".into(), port.to_string(), qos.to_string()]);
    let (first, last) = wait_for(
        || metrics.ingest_received.load(Ordering::Relaxed) as usize,
        MESSAGES,
    )
    .await;
    let publisher = child_report(&mut child).await;
    let received = metrics.ingest_received.load(Ordering::Relaxed);
    let shed = metrics.ingest_shed.load(Ordering::Relaxed);
    report(
        &format!("embedded broker → hand-off, QoS {qos}"),
        received as usize,
        shed as usize,
        first,
        last,
        &publisher,
    );
    println!("    appliance RSS after the run: {} MiB", rss_kib() / 1024);
    shutdown.cancel();
}

/// The same load against mosquitto, read by an external subscriber in this process.
async fn mosquitto(qos: u8) {
    let Some(binary) = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("mosquitto not installed: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n")).unwrap();
    let _broker = tokio::process::Command::new(binary)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut options = MqttOptions::new("bench-subscriber", "127.0.0.1", port);
    options
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    client
        .subscribe(
            "rtls/gateways/#",
            if qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            },
        )
        .await
        .unwrap();
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(_)) = event {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = spawn_self(&["--load".into(), port.to_string(), qos.to_string()]);
    let (first, last) = wait_for(|| received.load(Ordering::Relaxed), MESSAGES).await;
    let publisher = child_report(&mut child).await;
    report(
        &format!("mosquitto → external subscriber, QoS {qos}"),
        received.load(Ordering::Relaxed),
        0,
        first,
        last,
        &publisher,
    );
}

/// Memory held by idle connections.
async fn idle_connections() {
    let Appliance {
        port,
        metrics,
        shutdown,
        _dir,
        ..
    } = appliance_on(None, &[], async |_| {}).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib();
    let mut child = spawn_self(&[
        "--idle".into(),
        port.to_string(),
        IDLE_CONNECTIONS.to_string(),
    ]);
    let start = Instant::now();
    while (metrics.mqtt_connections.load(Ordering::Relaxed) as usize) < IDLE_CONNECTIONS
        && start.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected = metrics.mqtt_connections.load(Ordering::Relaxed);
    let took = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    println!(
        "idle connections: {connected} held (keep-alive 60 s), connected in {:.1} s; appliance RSS {} MiB → {} MiB, {:.1} KiB per connection",
        took.as_secs_f64(),
        before / 1024,
        after / 1024,
        (after.saturating_sub(before)) as f64 / connected.max(1) as f64
    );
    drop(child.stdin.take());
    let _ = child.wait().await;
    shutdown.cancel();
}

/// Waits until `count()` reaches `target` (or stalls for 10 s); returns the instants of the
/// first message and of the last.
async fn wait_for(count: impl Fn() -> usize, target: usize) -> (Instant, Instant) {
    while count() == 0 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let first = Instant::now();
    let (mut last_seen, mut last_change) = (0, Instant::now());
    loop {
        let n = count();
        if n >= target {
            return (first, Instant::now());
        }
        if n != last_seen {
            (last_seen, last_change) = (n, Instant::now());
        } else if last_change.elapsed() > Duration::from_secs(10) {
            return (first, last_change);
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

async fn child_report(child: &mut tokio::process::Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .ok()
        .and_then(|l| l.ok().flatten());
    let _ = child.wait().await;
    line.unwrap_or_default()
}

fn report(
    name: &str,
    received: usize,
    shed: usize,
    first: Instant,
    last: Instant,
    publisher: &str,
) {
    let seconds = last.duration_since(first).as_secs_f64().max(1e-9);
    println!(
        "{name}: {received}/{MESSAGES} received, {} lost, {shed} shed, {:.0} msg/s ({publisher})",
        MESSAGES.saturating_sub(received),
        received as f64 / seconds
    );
}

/// The load process: CLIENTS connections publishing MESSAGES in all, 119-byte JSON each.
async fn load(args: &[String]) {
    let port: u16 = args[0].parse().unwrap();
    let qos = if args[1] == "0" {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        tasks.push(tokio::spawn(async move {
            let mac = format!("AC233F{c:06X}");
            let mut options = MqttOptions::new(format!("bench-{c}"), "127.0.0.1", port);
            options.set_keep_alive(Duration::from_secs(30)).set_inflight(100);
            let (client, mut eventloop) = AsyncClient::new(options, 10_000);
            let topic = format!("rtls/gateways/{mac}/beacon");
            let per_client = MESSAGES / CLIENTS;
            let publisher = tokio::spawn(async move {
                for i in 0..per_client {
                    let payload = format!(r#"{{"mac":"AABBCCDD{:04X}","rssi":-{},"gw":"{mac}","ts":1764000000{:03},"battery":97,"tx":-59,"seq":{i:07}}}"#, i % 65536, 40 + i % 50, i % 1000);
                    client.publish(&topic, qos, false, payload).await.unwrap();
                }
                client
            });
            let mut acked = 0;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked += 1;
                        if acked == per_client {
                            break;
                        }
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Publish(_))) if qos == QoS::AtMostOnce => {
                        acked += 1;
                        if acked == per_client {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(err) => panic!("load client: {err}"),
                }
            }
            let client = publisher.await.unwrap();
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "publisher: {CLIENTS} clients sent {MESSAGES} in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

/// The idle process: `count` connections that only keep alive, until stdin closes.
async fn idle(args: &[String]) {
    let port: u16 = args[0].parse().unwrap();
    let count: usize = args[1].parse().unwrap();
    let mut loops = Vec::new();
    for i in 0..count {
        let mut options = MqttOptions::new(format!("idle-{i}"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(60));
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        loops.push(tokio::spawn(async move {
            let _client = client;
            while eventloop.poll().await.is_ok() {}
        }));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut line = String::new();
    let _ = tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
}

const INGEST_TAGS: usize = 10_000;
const INGEST_GATEWAYS: usize = 200;
const READINGS_PER_MESSAGE: usize = 10;
const INGEST_MESSAGES: usize = 100_000;

/// What a `--load-reports` child achieved.
struct Ingested {
    /// Readings published.
    total: usize,
    stored: usize,
    /// Readings stored per second, from the first to the last.
    per_second: f64,
    /// The child's own report.
    publisher: String,
}

/// Runs a `--load-reports` child (with `more` arguments) against `port` until every
/// reading it publishes is stored, or stops arriving.
async fn ingest_load(port: u16, tags: usize, more: &[&str], metrics: &Metrics) -> Ingested {
    let mut args = vec![
        "--load-reports".to_string(),
        port.to_string(),
        tags.to_string(),
    ];
    args.extend(more.iter().map(ToString::to_string));
    let mut child = spawn_self(&args);
    let total = INGEST_MESSAGES * READINGS_PER_MESSAGE;
    let count = || metrics.ingest_readings_stored.load(Ordering::Relaxed) as usize;
    let (first, last) = wait_for(count, total).await;
    let publisher = child_report(&mut child).await;
    let stored = count();
    let seconds = last.duration_since(first).as_secs_f64().max(1e-9);
    Ingested {
        total,
        stored,
        per_second: stored as f64 / seconds,
        publisher,
    }
}

fn backend_name(url: &Option<String>) -> &'static str {
    if url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// End to end: QoS 1 reports of 10 readings each, from a separate process, until every
/// reading is stored (10,000 registered tags, 200 gateways).
async fn ingest(url: Option<String>, tags: usize) {
    let backend = backend_name(&url);
    let Appliance {
        port,
        metrics,
        shutdown,
        _dir,
        ..
    } = appliance_on(url, &ingest_tags(tags), async |_| {}).await;
    let before = rss_kib();
    let Ingested {
        total,
        stored,
        per_second,
        publisher,
    } = ingest_load(port, tags, &[], &metrics).await;
    println!(
        "ingest on {backend}, {tags} tags: {stored}/{total} readings stored ({} unknown, {} lost), {per_second:.0} readings/s end to end ({publisher}); RSS {} MiB → {} MiB",
        metrics.ingest_unknown_tags.load(Ordering::Relaxed),
        total.saturating_sub(stored),
        before / 1024,
        rss_kib() / 1024
    );
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// How the tags of [`ingest_history`] move, and what the appliance does with it.
#[derive(Debug, Clone, Copy)]
struct Moving {
    /// Tags registered and heard.
    tags: usize,
    /// The position history on.
    history: bool,
    /// `reports.rollup_interval_seconds` (0: no rollups).
    rollup_interval: u64,
    /// Laps of the tags that each tag stays at a gateway.
    laps_per_gateway: usize,
    /// `devices.presence_gap_seconds`.
    presence_gap: u32,
}

impl Default for Moving {
    fn default() -> Self {
        Moving {
            tags: INGEST_TAGS,
            history: false,
            rollup_interval: 10,
            laps_per_gateway: 1,
            presence_gap: 15,
        }
    }
}

/// `ingest` with its INGEST_GATEWAYS gateways placed on a 100 × 50 m plan (a 20 × 10
/// grid) and every tag moving to the next gateway every `moving.laps_per_gateway` laps of
/// the tags.
async fn ingest_history(url: Option<String>, moving: Moving) {
    let backend = backend_name(&url);
    let place = async |store: &securityvision::store::Store| {
        let plan = common::Plan::save(store, ("Bench", "B"), "Hall", (100.0, 50.0)).await;
        for g in 0..INGEST_GATEWAYS {
            let at = (
                ((g % 20) as f64 + 0.5) / 20.0,
                ((g / 20) as f64 + 0.5) / 10.0,
            );
            let device = plan.gateway(format!("GW {g}"), format!("AC233FC0{g:04X}"), Some(at));
            store.save_device(&device).await.unwrap();
        }
    };
    // The CPU the ingest costs, less noisy than its rate on two cores shared with the
    // load: this process's (the appliance; the load runs in a child) and, on PostgreSQL,
    // the server's (found as the parent of a backend).
    let postmaster = match &url {
        Some(url) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            common::parent_of(backend.unsigned_abs())
        }
        None => None,
    };
    let tags = ingest_tags(moving.tags);
    let Appliance {
        port,
        metrics,
        shutdown,
        store,
        _dir,
        ..
    } = appliance_with(url, &tags, place, |c| {
        c.positions.history_enabled = moving.history;
        c.reports.rollup_interval_seconds = moving.rollup_interval;
        c.devices.presence_gap_seconds = moving.presence_gap;
    })
    .await;
    let laps = moving.laps_per_gateway.to_string();
    let cpu = || {
        let appliance = common::cpu_seconds(std::process::id(), false);
        (
            appliance,
            postmaster.map_or(0.0, common::server_cpu_seconds),
        )
    };
    let before = cpu();
    let Ingested {
        total,
        stored,
        per_second,
        publisher,
    } = ingest_load(port, moving.tags, &[&laps], &metrics).await;
    let after = cpu();
    let (appliance_cpu, server_cpu) = (after.0 - before.0, after.1 - before.1);
    // What the pass left behind (every closed session with the rollups off).
    let left = store.roll_up_all_sessions().await.unwrap();
    let plans = store.list_floor_plans(None, 0, 1).await.unwrap();
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let points = store
        .plan_history(plans[0].id, (now - hour, now + hour), i64::MAX)
        .await
        .unwrap()
        .len();
    println!(
        "ingest on {backend}, gateways placed, {} tags moving every {laps} laps, history {}, rollups every {} s (0: off): {stored}/{total} readings stored, {per_second:.0} readings/s end to end ({publisher}); CPU {appliance_cpu:.1} s appliance + {server_cpu:.1} s database server = {:.1} µs a reading; {points} history points; {left} closed sessions not rolled up at the end",
        moving.tags,
        if moving.history { "on" } else { "off" },
        moving.rollup_interval,
        (appliance_cpu + server_cpu) * 1e6 / stored.max(1) as f64,
    );
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The report load process: CLIENTS connections publish INGEST_MESSAGES reports of
/// READINGS_PER_MESSAGE readings (Minew arrays), QoS 1, from INGEST_GATEWAYS gateways.
async fn load_reports(args: &[String]) {
    let port: u16 = args[0].parse().unwrap();
    let tags: usize = args[1].parse().unwrap();
    // Laps of the tags each tag stays at a gateway (0: never moves).
    let laps_per_gateway: usize = args.get(2).map_or(0, |a| a.parse().unwrap());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        tasks.push(tokio::spawn(async move {
            let mut options = MqttOptions::new(format!("gateways-{c}"), "127.0.0.1", port);
            // Each connection's window of reports not acknowledged yet (a PUBACK waits for
            // the commit): SV_BENCH_INFLIGHT, default 100.
            let inflight = std::env::var("SV_BENCH_INFLIGHT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            options
                .set_keep_alive(Duration::from_secs(30))
                .set_inflight(inflight)
                .set_max_packet_size(1 << 20, 1 << 20);
            let (client, mut eventloop) = AsyncClient::new(options, 10_000);
            let per_client = INGEST_MESSAGES / CLIENTS;
            let publisher = tokio::spawn(async move {
                for i in 0..per_client {
                    // Moving tags: the clients take turns, so that the laps go out one
                    // after the other and a tag is heard at a steady pace (in tenths,
                    // each client's tenth of the laps would arrive at once, and a tag
                    // ten times every few seconds).
                    let n = if laps_per_gateway > 0 {
                        i * CLIENTS + c
                    } else {
                        c * per_client + i
                    };
                    let (topic, payload) = gateway_report(n, tags, laps_per_gateway);
                    client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                        .unwrap();
                }
                client
            });
            let mut acked = 0;
            while acked < per_client {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                    Ok(_) => {}
                    Err(err) => panic!("load client: {err}"),
                }
            }
            let client = publisher.await.unwrap();
            let _ = client.try_disconnect();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "publisher: {CLIENTS} clients, {INGEST_MESSAGES} reports acknowledged in {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

/// Report number `n`: a Minew array of READINGS_PER_MESSAGE readings of `tags` tags, from
/// one of INGEST_GATEWAYS gateways (each tag is heard by the next gateway every
/// `laps_per_gateway` laps of the tags; 0: never).
fn gateway_report(n: usize, tags: usize, laps_per_gateway: usize) -> (String, Vec<u8>) {
    let lap = (n / (tags / READINGS_PER_MESSAGE).max(1))
        .checked_div(laps_per_gateway)
        .unwrap_or(0);
    let gateway = format!("AC233FC0{:04X}", (n + lap) % INGEST_GATEWAYS);
    let mut records = vec![serde_json::json!({"type": "Gateway", "mac": gateway})];
    for r in 0..READINGS_PER_MESSAGE {
        let tag = (n * READINGS_PER_MESSAGE + r) % tags;
        records.push(serde_json::json!({"type": "iBeacon", "mac": format!("AC233F{tag:06X}"), "rssi": -50 - (r as i64)}));
    }
    (
        format!("rtls/gateways/{gateway}/beacon"),
        serde_json::to_vec(&records).unwrap(),
    )
}

fn ingest_tags(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("AC233F{i:06X}")).collect()
}

const STEADY_READINGS_PER_SECOND: usize = 10_000;
const LATENCY_PROBES: usize = 500;

/// Publish → position on the live stream (`GET /api/v1/stream`, server-sent events), while
/// a separate process keeps 10,000 readings/s of 10,000 tags flowing. Each probe is the
/// first report of a tag not heard before, so its position is news at once; probes go out
/// every 20 ms at QoS 1 from a client of their own.
async fn latency() {
    let probes: Vec<String> = (0..LATENCY_PROBES)
        .map(|i| format!("AC2340{i:06X}"))
        .collect();
    let mut tags = ingest_tags(INGEST_TAGS);
    tags.extend(probes.iter().cloned());
    // SQLite merges new readings into its tag and gateway indexes every 100,000 here (every
    // 10 s at this rate), so that merges, which hold the writer, fall inside the probes'
    // 10 s. A site at this rate on the defaults merges 300,000 every 30 s.
    let appliance = appliance_with(
        None,
        &tags,
        async |_| {},
        |config| {
            config.database.sqlite_index_merge_rows = 100_000;
        },
    )
    .await;
    let ids: std::collections::HashMap<i64, usize> = {
        let keys = appliance.store.tag_keys().await.unwrap();
        let by_mac: std::collections::HashMap<String, i64> =
            keys.into_iter().map(|(mac, id, _, _)| (mac, id)).collect();
        probes
            .iter()
            .enumerate()
            .map(|(i, mac)| (by_mac[mac], i))
            .collect()
    };

    // The live stream, as the console reads it.
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", appliance.http_port);
    // A generated password must be changed before the token reads anything.
    let token = common::first_login(
        &http,
        &base,
        &appliance.admin_password,
        "Bench-Latency-2026!",
    )
    .await;
    let mut stream = http
        .get(format!("{base}/api/v1/stream?types=POSITION_CHANGED"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK, "the live stream");
    let sent: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
        Arc::new(std::sync::Mutex::new(vec![None; LATENCY_PROBES]));

    // The stream is read from the start, as the console reads it. A reader that began
    // with the probes would first work through the positions queued for it meanwhile (one
    // per tag of the load) and count that backlog as the first probes' latency.
    let reader_sent = sent.clone();
    let stop_reading = tokio_util::sync::CancellationToken::new();
    let stop = stop_reading.clone();
    let mut reader = tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(LATENCY_PROBES);
        let mut events = common::Events::default();
        let (opened, mut received, mut bytes) = (Instant::now(), 0usize, 0usize);
        while latencies.len() < LATENCY_PROBES {
            let chunk = tokio::select! {
                chunk = stream.chunk() => chunk,
                () = stop.cancelled() => break,
            };
            let Ok(Some(chunk)) = chunk else {
                break;
            };
            let arrived = Instant::now();
            bytes += chunk.len();
            for event in events.push(&chunk) {
                received += 1;
                let Some(envelope) = common::data(&event) else {
                    continue;
                };
                let Some(&probe) = envelope["payload"]["tag_id"]
                    .as_i64()
                    .and_then(|id| ids.get(&id))
                else {
                    continue;
                };
                if let Some(at) = reader_sent.lock().unwrap()[probe].take() {
                    latencies.push(arrived.duration_since(at));
                }
            }
        }
        let seconds = opened.elapsed().as_secs_f64();
        println!(
            "the stream carried {:.0} positions/s ({:.0} KiB/s) while {STEADY_READINGS_PER_SECOND} readings/s of {INGEST_TAGS} tags came in",
            received as f64 / seconds,
            bytes as f64 / 1024.0 / seconds
        );
        latencies
    });

    let mut load = spawn_self(&["--load-steady".into(), appliance.port.to_string()]);
    tokio::time::sleep(Duration::from_secs(3)).await; // the load settles
    let rss_under_load = rss_kib();
    let port = appliance.port;
    let probe_sent = sent.clone();
    let prober = tokio::spawn(async move {
        let mut options = MqttOptions::new("probe", "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for (i, mac) in probes.iter().enumerate() {
            tick.tick().await;
            let payload = serde_json::json!([{"type": "Gateway", "mac": "AC233FC00001"}, {"type": "iBeacon", "mac": mac, "rssi": -55}]);
            probe_sent.lock().unwrap()[i] = Some(Instant::now());
            client
                .publish(
                    "rtls/gateways/AC233FC00001/beacon",
                    QoS::AtLeastOnce,
                    false,
                    serde_json::to_vec(&payload).unwrap(),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    });

    // Every probe seen, or what was seen in 30 s.
    let mut latencies = tokio::select! {
        latencies = &mut reader => latencies.unwrap(),
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            stop_reading.cancel();
            reader.await.unwrap()
        }
    };
    prober.abort();
    let _ = load.kill().await;
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "latency publish → stream at {STEADY_READINGS_PER_SECOND} readings/s: {} of {LATENCY_PROBES} probes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} readings stored meanwhile; RSS {} MiB",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        appliance
            .metrics
            .ingest_readings_stored
            .load(Ordering::Relaxed),
        rss_under_load / 1024,
    );
    drop(appliance.events);
    appliance.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// A steady load: STEADY_READINGS_PER_SECOND readings/s (reports of 10) at QoS 1 until
/// killed.
async fn load_steady(args: &[String]) {
    let port: u16 = args[0].parse().unwrap();
    let mut options = MqttOptions::new("steady", "127.0.0.1", port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let per_tick = STEADY_READINGS_PER_SECOND / READINGS_PER_MESSAGE / 100;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut n = 0;
    loop {
        tick.tick().await;
        for _ in 0..per_tick {
            let (topic, payload) = gateway_report(n, INGEST_TAGS, 0);
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
            n += 1;
        }
    }
}

/// Positions against the simulator's truth.
async fn accuracy() {
    use securityvision::simulate::Scenario;
    const WIDTH: f64 = 6.0;
    const HEIGHT: f64 = 4.0;
    const STEP_S: f64 = 0.5;
    // Simulated time, stamped on the reports: the run goes 20 times faster than real time
    // and ends before the appliance's clock (payload times must not be in the future).
    let start = chrono::Utc::now() - chrono::Duration::seconds(250);
    let mut scenario = Scenario::new(4, 20, WIDTH, HEIGHT, 2.5, 7).with_clock(start);
    let tags: Vec<String> = scenario.tags.iter().map(|t| t.mac.clone()).collect();
    let gateways = scenario.gateways.clone();
    let place = async |store: &securityvision::store::Store| {
        let plan = common::Plan::save(store, ("Sim", "SIM"), "Room", (WIDTH, HEIGHT)).await;
        for (mac, x, y) in &gateways {
            let device = plan.gateway(mac.clone(), mac.clone(), Some((x / WIDTH, y / HEIGHT)));
            store.save_device(&device).await.unwrap();
        }
    };
    let appliance = appliance_on(None, &tags, place).await;
    let mut options = MqttOptions::new("accuracy", "127.0.0.1", appliance.port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let mut errors = Vec::new();
    let (mut wrong_half, mut answers) = (0, 0);
    for step in 0..400 {
        scenario.advance(STEP_S);
        let (reports, _) = scenario.reports(securityvision::simulate::PayloadFormat::Minew);
        for (topic, payload) in reports {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        if step < 10 {
            continue; // the smoothing settles
        }
        // Tags were registered in order on an empty database: tag id n is tag n - 1.
        for p in appliance.view.positions() {
            let truth = &scenario.tags[p.tag_id as usize - 1];
            let (Some(x), Some(y)) = (p.x_m, p.y_m) else {
                continue;
            };
            errors.push(((x - truth.x).powi(2) + (y - truth.y).powi(2)).sqrt());
            answers += 1;
            if (x < WIDTH / 2.0) != (truth.x < WIDTH / 2.0) {
                wrong_half += 1;
            }
        }
    }
    errors.sort_by(f64::total_cmp);
    let at = |q: f64| errors[((errors.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "accuracy (4 gateways, 6 x 4 m, sigma 2.5 dB, 10% fades of -6 dB, 20 walking tags, {} estimates): median {:.2} m, p95 {:.2} m, wrong half of the room {:.1}%",
        errors.len(),
        at(0.5),
        at(0.95),
        100.0 * f64::from(wrong_half) / f64::from(answers.max(1))
    );
    appliance.shutdown.cancel();
}

/// A webhook receiver on loopback that answers 204 at once and counts the requests.
async fn webhook_receiver() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            async { axum::http::StatusCode::NO_CONTENT }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

/// `count` subscriptions to every event type, all to `url`.
async fn subscribe_webhooks(store: &securityvision::store::Store, url: &str, count: usize) {
    for i in 0..count {
        let subscription = securityvision::store::webhooks::Subscription {
            name: format!("bench-{i}"),
            url: url.to_string(),
            is_active: true,
            ..Default::default()
        };
        store
            .save_webhook_subscription(&subscription)
            .await
            .unwrap();
    }
}

const WEBHOOK_EVENTS: usize = 2_000;

/// Events/s from the bus to a fast local receiver: WEBHOOK_EVENTS events published as the
/// pipeline and the device monitor publish theirs, through the outbox, to `subscriptions`
/// subscriptions (each gets its events one at a time, in order).
async fn webhook_deliveries(subscriptions: usize) {
    let (url, received) = webhook_receiver().await;
    let Appliance {
        events,
        metrics,
        shutdown,
        _dir,
        ..
    } = appliance_on(None, &[], async |store| {
        subscribe_webhooks(store, &url, subscriptions).await;
    })
    .await;
    let started = Instant::now();
    for i in 0..WEBHOOK_EVENTS {
        events.publish(
            securityvision::events::EventType::GatewayOnline,
            None,
            serde_json::json!({"device_id": i, "name": format!("gw-{i}")}),
        );
    }
    let total = WEBHOOK_EVENTS * subscriptions;
    let (_, last) = wait_for(|| received.load(Ordering::Relaxed), total).await;
    let seconds = last.duration_since(started).as_secs_f64().max(1e-9);
    println!(
        "webhooks, {subscriptions} subscription(s): {}/{total} delivered ({} recorded), {:.0} deliveries/s from publish to receiver; RSS {} MiB",
        received.load(Ordering::Relaxed),
        metrics.webhooks_delivered.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed) as f64 / seconds,
        rss_kib() / 1024
    );
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// The ingest benchmark with 10 subscriptions to every event type (gateways coming
/// online, …), beside the same run without.
async fn ingest_with_webhooks() {
    let (url, received) = webhook_receiver().await;
    let tags = ingest_tags(INGEST_TAGS);
    for subscriptions in [0, 10] {
        let Appliance {
            port,
            metrics,
            shutdown,
            _dir,
            ..
        } = appliance_on(None, &tags, async |store| {
            subscribe_webhooks(store, &url, subscriptions).await;
        })
        .await;
        let Ingested {
            total,
            stored,
            per_second,
            ..
        } = ingest_load(port, INGEST_TAGS, &[], &metrics).await;
        println!(
            "ingest on SQLite with {subscriptions} webhook subscriptions: {stored}/{total} readings stored, {per_second:.0} readings/s; {} deliveries so far",
            received.load(Ordering::Relaxed)
        );
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

const ALERT_ZONES: usize = 200;
const ALERT_PEOPLE: usize = 100;

/// The ingest benchmark on a site drawn for alerts (its 200 gateways placed on one plan in
/// a 20 × 10 grid, so that tags have x/y; 200 zones over the cells; 100 of the tags carried
/// by people of one group), without rules and with 1,000 active ones of every type.
async fn ingest_with_alert_rules() {
    for rules in [0, 1_000] {
        let Appliance {
            port,
            metrics,
            shutdown,
            store: site_store,
            _dir,
            ..
        } = appliance_on(None, &[], async |store| alert_site(store, rules).await).await;
        let Ingested {
            total,
            stored,
            per_second,
            ..
        } = ingest_load(port, INGEST_TAGS, &[], &metrics).await;
        let alerts = async || {
            let filter = securityvision::store::alerts::EventFilter::default();
            site_store
                .list_alert_events(&filter, 0, 1_000_000)
                .await
                .map_or(0, |e| e.len())
        };
        let at_end = alerts().await;
        // The engine trails the ingest: its alerts once they stop growing for 3 s.
        let mut settled = at_end;
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let now = alerts().await;
            if now == settled {
                break;
            }
            settled = now;
        }
        println!(
            "ingest on SQLite with {rules} alert rules: {stored}/{total} readings stored, {per_second:.0} readings/s; {at_end} alert events when the last reading was stored, {settled} once settled",
        );
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The site of [`ingest_with_alert_rules`], with `rules` rules: per 1,000, 200
/// FORBIDDEN_SECTOR and 200 DWELL_TIME (one per gateway, for the group), 150 each of
/// ZONE_ENTER, ZONE_EXIT, ZONE_DWELL (the group), 25 GATEWAY_OFFLINE and 25 GATEWAY_ONLINE
/// (every gateway), 100 ABSENCE (one per person, an hour).
async fn alert_site(store: &securityvision::store::Store, rules: usize) {
    use securityvision::store::{alerts, people, zones};
    let plan = common::Plan::save(store, ("HQ", "HQ"), "Ground plan", (100.0, 50.0)).await;
    let cell = |i: usize| ((i % 20) as f64 * 0.05, (i / 20) as f64 * 0.1);
    let mut gateways = Vec::new();
    for g in 0..INGEST_GATEWAYS {
        let (x, y) = cell(g);
        let at = (x + 0.025, y + 0.05);
        let device = plan.gateway(format!("G{g}"), format!("AC233FC0{g:04X}"), Some(at));
        let device = store.save_device(&device).await.unwrap();
        gateways.push(device.id);
    }
    let mut zone_ids = Vec::new();
    for z in 0..ALERT_ZONES {
        let (x, y) = cell(z);
        let points = serde_json::json!([
            {"x": x + 0.005, "y": y + 0.01}, {"x": x + 0.045, "y": y + 0.01},
            {"x": x + 0.045, "y": y + 0.09}, {"x": x + 0.005, "y": y + 0.09},
        ]);
        let zone = store
            .save_zone(&zones::Zone {
                floor_plan_id: plan.id,
                name: format!("Z{z}"),
                points: points.to_string(),
                ..Default::default()
            })
            .await
            .unwrap();
        zone_ids.push(zone.id);
    }
    let group = store
        .save_person_group(&people::PersonGroup {
            name: "Visitors".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut persons = Vec::new();
    for p in 0..ALERT_PEOPLE {
        let person = store
            .save_person(
                &people::Person {
                    full_name: format!("Person {p}"),
                    active: true,
                    ..Default::default()
                },
                Some(&[group.id][..]),
            )
            .await
            .unwrap();
        persons.push(person.id);
    }
    for (i, mac) in ingest_tags(INGEST_TAGS).into_iter().enumerate() {
        let tag = people::Tag {
            mac_address: mac,
            active: true,
            // Every 100th tag is carried by one of the group.
            person_id: (i % 100 == 0).then(|| persons[(i / 100) % ALERT_PEOPLE]),
            ..Default::default()
        };
        store.save_tag(&tag).await.unwrap();
    }
    let mut made = 0;
    let mut add = async |rule: alerts::AlertRule| {
        if made < rules {
            let rule = alerts::AlertRule {
                name: format!("R{made}"),
                is_active: true,
                incident_severity: "MEDIUM".into(),
                ..rule
            };
            store.save_alert_rule(&rule).await.unwrap();
            made += 1;
        }
    };
    let of = |kind: &str| alerts::AlertRule {
        rule_type: kind.into(),
        ..Default::default()
    };
    for &gateway in &gateways {
        for kind in ["FORBIDDEN_SECTOR", "DWELL_TIME"] {
            add(alerts::AlertRule {
                device_id: Some(gateway),
                group_id: Some(group.id),
                max_dwell_seconds: Some(60),
                ..of(kind)
            })
            .await;
        }
    }
    for kind in ["ZONE_ENTER", "ZONE_EXIT", "ZONE_DWELL"] {
        for &zone in &zone_ids[..150] {
            add(alerts::AlertRule {
                zone_id: Some(zone),
                group_id: Some(group.id),
                max_dwell_seconds: Some(60),
                ..of(kind)
            })
            .await;
        }
    }
    for kind in ["GATEWAY_OFFLINE", "GATEWAY_ONLINE"] {
        for _ in 0..25 {
            add(of(kind)).await;
        }
    }
    for &person in &persons {
        add(alerts::AlertRule {
            person_id: Some(person),
            max_absence_seconds: Some(3_600),
            ..of("ABSENCE")
        })
        .await;
    }
    assert_eq!(made, rules, "the rules of the benchmark");
}
