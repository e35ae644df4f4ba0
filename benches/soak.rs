//! Soak: the real binary at a site's load for an hour (BENCHMARKS.md, "Soak").
//!
//!     cargo bench --bench soak                     # 60 minutes on SQLite
//!     SV_SOAK_MINUTES=5 cargo bench --bench soak   # a shorter run
//!     SV_SOAK_DATABASE_URL=postgres://… cargo bench --bench soak   # on an empty PostgreSQL database
//!
//! The load: 2,000 tags walking over a 100 × 50 m plan watched by 100 gateways (a 10 × 10
//! grid); each report holds 10 readings heard by one of the four gateways nearest to the
//! tags, RSSI from the distance, 8,000 readings/s at QoS 1 over 10 connections. 20 cameras
//! send an analytic event every 5 s each through a collector; 5 console streams
//! (`/api/v1/stream`) read everything. Once a second a probe report places one of 50 probe
//! tags at the other end of the plan; the time from its publish to its `POSITION_CHANGED`
//! on a stream is the latency.
//!
//! Every 10 s it samples the appliance's RSS and open file descriptors (from /proc), the
//! readings acknowledged and the probes' latencies. At the end the publishers stop, the
//! appliance is stopped with SIGTERM, and the stored readings are counted in the database
//! (`COUNT(*)`) against the readings acknowledged. It writes `target/soak/samples.csv` and
//! `target/soak/soak.svg` (memory, descriptors and latency over time).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

mod common;
use common::{Api, Appliance};

const TAGS: usize = 2_000;
const PROBES: usize = 50;
const GRID: usize = 10; // gateways per side
const WIDTH_M: f64 = 100.0;
const HEIGHT_M: f64 = 50.0;
const READINGS_PER_SECOND: usize = 8_000;
const READINGS_PER_REPORT: usize = 10;
const CONNECTIONS: usize = 10;
const CAMERAS: usize = 20;
const STREAMS: usize = 5;
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples before this are the warm-up (caches filling), left out of the growth figure.
const WARM_UP: Duration = Duration::from_secs(300);

fn main() {
    securityvision::tls::install_default_provider();
    let minutes: f64 = std::env::var("SV_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(60.0);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(soak(Duration::from_secs_f64(minutes * 60.0)));
}

/// Where a walker is at `t` seconds: a slow circle (radius 3 m, one lap in about two
/// minutes) around a home spread over the plan.
fn walker(tag: usize, t: f64) -> (f64, f64) {
    let home_x = 5.0 + (tag * 37 % 90) as f64;
    let home_y = 5.0 + (tag * 53 % 40) as f64;
    let phase = tag as f64 * 0.7;
    let angle = t / 20.0 + phase;
    (home_x + 3.0 * angle.cos(), home_y + 3.0 * angle.sin())
}

fn gateway_mac(g: usize) -> String {
    format!("AC233FC0{g:04X}")
}

fn gateway_position(g: usize) -> (f64, f64) {
    let step_x = WIDTH_M / GRID as f64;
    let step_y = HEIGHT_M / GRID as f64;
    (
        step_x * ((g % GRID) as f64 + 0.5),
        step_y * ((g / GRID) as f64 + 0.5),
    )
}

fn tag_mac(tag: usize) -> String {
    format!("AC233F{tag:06X}")
}

fn probe_mac(probe: usize) -> String {
    format!("AC2340{probe:06X}")
}

/// RSSI of a tag `d` metres away from the path-loss model's defaults.
fn rssi(d: f64) -> i64 {
    (-59.0 - 25.0 * d.max(0.3).log10()).round() as i64
}

/// The site: a plan, the gateways on a grid, the tags, the cameras and a collector.
/// Returns the probe tags' ids and the collector's password.
async fn build_site(api: &Api) -> (HashMap<i64, usize>, String) {
    let building = api
        .create("/buildings", json!({"name": "Soak", "code": "SOAK"}))
        .await;
    let floor = api
        .create(
            "/floors",
            json!({"building_id": building["id"], "name": "Ground"}),
        )
        .await;
    let plan = api
        .create(
            "/floor-plans",
            json!({"floor_id": floor["id"], "name": "Hall", "width_m": WIDTH_M, "height_m": HEIGHT_M}),
        )
        .await;
    for g in 0..GRID * GRID {
        let (x, y) = gateway_position(g);
        api.create(
            "/devices",
            json!({"name": format!("GW {g}"), "mac_address": gateway_mac(g), "floor_plan_id": plan["id"],
                   "pos_x": x / WIDTH_M, "pos_y": y / HEIGHT_M}),
        )
        .await;
    }
    for tag in 0..TAGS {
        api.create("/tags", json!({"mac_address": tag_mac(tag)}))
            .await;
    }
    let mut probes = HashMap::new();
    for probe in 0..PROBES {
        let created = api
            .create("/tags", json!({"mac_address": probe_mac(probe)}))
            .await;
        probes.insert(created["id"].as_i64().unwrap(), probe);
    }
    for camera in 0..CAMERAS {
        api.create(
            "/devices/cameras",
            json!({"name": format!("Camera {camera}"), "code": format!("CAM-{camera}"), "floor_id": floor["id"]}),
        )
        .await;
    }
    let collector = api
        .create(
            "/mqtt/credentials",
            json!({"username": "soak-collector", "role": "COLLECTOR"}),
        )
        .await;
    (probes, collector["password"].as_str().unwrap().to_string())
}

/// When each probe tag's latest report went out.
type ProbesSent = Arc<Mutex<HashMap<usize, Instant>>>;

/// What the load has seen so far.
#[derive(Default)]
struct Counters {
    readings_acknowledged: AtomicU64,
    camera_events_acknowledged: AtomicU64,
    stream_events: AtomicU64,
    stream_reconnects: AtomicU64,
    probes_sent: AtomicU64,
    /// Latencies (ms) of the probes seen since the last sample.
    latencies: Mutex<Vec<f64>>,
}

fn mqtt_client(
    id: &str,
    port: u16,
    username: &str,
    password: &str,
) -> (AsyncClient, rumqttc::EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options
        .set_credentials(username, password)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    AsyncClient::new(options, 1_000)
}

/// Polls a connection until it closes, calling `on_ack` for each PUBACK.
fn acknowledgements(
    mut events: rumqttc::EventLoop,
    running: Arc<AtomicBool>,
    on_ack: impl Fn() + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => on_ack(),
                Ok(_) => {}
                Err(err) => {
                    if running.load(Ordering::Relaxed) {
                        eprintln!("soak: a load connection ended: {err}");
                    }
                    return;
                }
            }
        }
    });
}

/// Connection `c` publishes its share of READINGS_PER_SECOND until `running` is cleared.
async fn gateways(
    c: usize,
    port: u16,
    password: String,
    running: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> AsyncClient {
    let (client, events) = mqtt_client(&format!("soak-gateways-{c}"), port, "gateway", &password);
    let acks = counters.clone();
    acknowledgements(events, running.clone(), move || {
        acks.readings_acknowledged
            .fetch_add(READINGS_PER_REPORT as u64, Ordering::Relaxed);
    });
    const TICK_MS: usize = 50;
    let reports_per_tick = READINGS_PER_SECOND / READINGS_PER_REPORT / CONNECTIONS * TICK_MS / 1000;
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_MS as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let tags_per_connection = TAGS / CONNECTIONS;
    let mut report = 0usize;
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        let t = started.elapsed().as_secs_f64();
        for _ in 0..reports_per_tick {
            // Ten neighbouring tags of this connection's share, heard by one of the four
            // gateways nearest the first of them.
            let first =
                c * tags_per_connection + (report * READINGS_PER_REPORT) % tags_per_connection;
            let (x, y) = walker(first, t);
            let (col, row) = (
                ((x / (WIDTH_M / GRID as f64)) as usize).min(GRID - 2),
                ((y / (HEIGHT_M / GRID as f64)) as usize).min(GRID - 2),
            );
            let g = (row + (report / 2) % 2) * GRID + col + report % 2;
            let (gx, gy) = gateway_position(g);
            let mut records = vec![json!({"type": "Gateway", "mac": gateway_mac(g)})];
            for tag in first..first + READINGS_PER_REPORT {
                let (tx, ty) = walker(tag, t);
                let d = ((tx - gx).powi(2) + (ty - gy).powi(2)).sqrt();
                records.push(json!({"type": "iBeacon", "mac": tag_mac(tag), "rssi": rssi(d)}));
            }
            if !publish_report(&client, g, &records).await {
                return client;
            }
            report += 1;
        }
    }
    client
}

/// Publishes `records` as a report of the gateway `g` (QoS 1): false once the connection
/// is gone.
async fn publish_report(client: &AsyncClient, g: usize, records: &impl serde::Serialize) -> bool {
    let topic = format!("rtls/gateways/{}/beacon", gateway_mac(g));
    let payload = serde_json::to_vec(records).unwrap();
    client
        .publish(topic, QoS::AtLeastOnce, false, payload)
        .await
        .is_ok()
}

/// Once a second a probe tag is heard only by the gateway in one corner, then the other.
async fn probes(
    port: u16,
    password: String,
    running: Arc<AtomicBool>,
    counters: Arc<Counters>,
    sent: ProbesSent,
) {
    let (client, events) = mqtt_client("soak-probes", port, "gateway", &password);
    acknowledgements(events, running.clone(), || {});
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n = 0usize;
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        let probe = n % PROBES;
        let corner = if (n / PROBES).is_multiple_of(2) {
            0
        } else {
            GRID * GRID - 1
        };
        let records = json!([{"type": "Gateway", "mac": gateway_mac(corner)},
                             {"type": "iBeacon", "mac": probe_mac(probe), "rssi": -45}]);
        sent.lock().unwrap().insert(probe, Instant::now());
        if !publish_report(&client, corner, &records).await {
            return;
        }
        counters.probes_sent.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
}

/// Each camera sends an analytic event every 5 s through one collector connection.
async fn cameras(port: u16, password: String, running: Arc<AtomicBool>, counters: Arc<Counters>) {
    let (client, events) = mqtt_client("soak-collector", port, "soak-collector", &password);
    let acks = counters.clone();
    acknowledgements(events, running.clone(), move || {
        acks.camera_events_acknowledged
            .fetch_add(1, Ordering::Relaxed);
    });
    let mut tick = tokio::time::interval(Duration::from_millis(5_000 / CAMERAS as u64));
    let mut n = 0usize;
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        let camera = n % CAMERAS;
        let topic = format!("rtls/cameras/soak/hq/ground/camera/CAM-{camera}/faceCapture/events");
        let payload = json!({"Timestamp": chrono::Utc::now().to_rfc3339(), "SnapshotURL": format!("http://nvr/{n}.jpg")});
        if client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .await
            .is_err()
        {
            return;
        }
        n += 1;
    }
}

/// One console stream, read until the soak ends (reconnecting if the appliance closes it).
/// The first stream also times the probes.
async fn stream(
    api: Arc<Api>,
    timing: Option<(HashMap<i64, usize>, ProbesSent)>,
    running: Arc<AtomicBool>,
    counters: Arc<Counters>,
) {
    while running.load(Ordering::Relaxed) {
        let Ok(mut response) = api
            .http
            .get(format!("{}/api/v1/stream", api.base))
            .bearer_auth(&api.token)
            .send()
            .await
        else {
            counters.stream_reconnects.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await; // the appliance is busy: retry
            continue;
        };
        let mut events = common::Events::default();
        while running.load(Ordering::Relaxed) {
            let Ok(Ok(Some(chunk))) =
                tokio::time::timeout(Duration::from_secs(5), response.chunk()).await
            else {
                break;
            };
            let arrived = Instant::now();
            for event in events.push(&chunk) {
                counters.stream_events.fetch_add(1, Ordering::Relaxed);
                let Some((probes, sent)) = &timing else {
                    continue;
                };
                if !event.contains("POSITION_CHANGED") {
                    continue;
                }
                let Some(envelope) = common::data(&event) else {
                    continue;
                };
                let probe = envelope["payload"]["tag_id"]
                    .as_i64()
                    .and_then(|id| probes.get(&id));
                if let Some(at) = probe.and_then(|p| sent.lock().unwrap().remove(p)) {
                    let ms = arrived.duration_since(at).as_secs_f64() * 1000.0;
                    counters.latencies.lock().unwrap().push(ms);
                }
            }
        }
        if running.load(Ordering::Relaxed) {
            counters.stream_reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One sample of the appliance and the load.
struct Sample {
    minutes: f64,
    rss_mib: f64,
    fds: usize,
    readings_acknowledged: u64,
    stream_events: u64,
    probes_seen: usize,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn soak(duration: Duration) {
    let mut appliance = Appliance::start(std::env::var("SV_SOAK_DATABASE_URL").ok(), &[]).await;
    let api = Arc::new(Api::login(&appliance).await);
    let setting_up = Instant::now();
    let (probe_ids, collector_password) = build_site(&api).await;
    println!(
        "soak: site built in {:.1} s ({TAGS} tags + {PROBES} probes, {} gateways, {CAMERAS} cameras); running {:.0} min",
        setting_up.elapsed().as_secs_f64(),
        GRID * GRID,
        duration.as_secs_f64() / 60.0
    );
    let gateway_password = appliance.gateway_password();

    let running = Arc::new(AtomicBool::new(true));
    let counters = Arc::new(Counters::default());
    let sent = Arc::new(Mutex::new(HashMap::new()));
    for s in 0..STREAMS {
        let timing = (s == 0).then(|| (probe_ids.clone(), sent.clone()));
        tokio::spawn(stream(
            api.clone(),
            timing,
            running.clone(),
            counters.clone(),
        ));
    }
    let port = appliance.mqtt_port;
    let publishers: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            tokio::spawn(gateways(
                c,
                port,
                gateway_password.clone(),
                running.clone(),
                counters.clone(),
            ))
        })
        .collect();
    tokio::spawn(probes(
        port,
        gateway_password.clone(),
        running.clone(),
        counters.clone(),
        sent.clone(),
    ));
    tokio::spawn(cameras(
        port,
        collector_password,
        running.clone(),
        counters.clone(),
    ));

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.tick().await;
    while started.elapsed() < duration {
        tick.tick().await;
        let mut latencies = std::mem::take(&mut *counters.latencies.lock().unwrap());
        latencies.sort_by(f64::total_cmp);
        let sample = Sample {
            minutes: started.elapsed().as_secs_f64() / 60.0,
            rss_mib: common::status_mib(appliance.pid, "VmRSS"),
            fds: common::open_files(appliance.pid),
            readings_acknowledged: counters.readings_acknowledged.load(Ordering::Relaxed),
            stream_events: counters.stream_events.load(Ordering::Relaxed),
            probes_seen: latencies.len(),
            p50_ms: percentile(&latencies, 0.50),
            p99_ms: percentile(&latencies, 0.99),
        };
        println!(
            "{:6.1} min  RSS {:6.1} MiB  fds {:4}  acked {:>10} readings  stream {:>9} events  probes {:3}  p50 {:6.1} ms  p99 {:6.1} ms",
            sample.minutes,
            sample.rss_mib,
            sample.fds,
            sample.readings_acknowledged,
            sample.stream_events,
            sample.probes_seen,
            sample.p50_ms,
            sample.p99_ms
        );
        samples.push(sample);
    }

    // Stop the load, let the last acknowledgements arrive, stop the appliance as systemd does.
    running.store(false, Ordering::Relaxed);
    for publisher in publishers {
        let client = publisher.await.unwrap();
        let _ = client.disconnect().await;
    }
    let mut last = counters.readings_acknowledged.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await; // no PUBACK for 2 s: all are in
        let now = counters.readings_acknowledged.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
    }
    let acknowledged = counters.readings_acknowledged.load(Ordering::Relaxed);
    let rss_end = common::status_mib(appliance.pid, "VmRSS");
    let status = appliance.stop().await;
    let stored = common::count_readings(&appliance.database_url).await;

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/soak");
    std::fs::create_dir_all(&out).unwrap();
    write_csv(&out.join("samples.csv"), &samples);
    write_svg(&out.join("soak.svg"), &samples);
    summarise(
        &samples,
        &counters,
        acknowledged,
        stored,
        rss_end,
        status,
        &out,
    );
}

fn summarise(
    samples: &[Sample],
    counters: &Counters,
    acknowledged: u64,
    stored: i64,
    rss_end: f64,
    status: std::process::ExitStatus,
    out: &Path,
) {
    let warm = WARM_UP.as_secs_f64() / 60.0;
    let after: Vec<&Sample> = samples.iter().filter(|s| s.minutes >= warm).collect();
    let after = if after.is_empty() {
        samples.iter().collect()
    } else {
        after
    };
    let first_rss = after.first().map_or(0.0, |s| s.rss_mib);
    let max_rss = after.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    let (min_fds, max_fds) = after.iter().fold((usize::MAX, 0), |(lo, hi), s| {
        (lo.min(s.fds), hi.max(s.fds))
    });
    let p99s: Vec<f64> = after
        .iter()
        .map(|s| s.p99_ms)
        .filter(|p| p.is_finite())
        .collect();
    let probes_seen: usize = samples.iter().map(|s| s.probes_seen).sum();
    let probes_sent = counters.probes_sent.load(Ordering::Relaxed);
    // The probes' readings are stored too but not counted in `acknowledged`.
    let load_stored = stored - i64::try_from(probes_sent).unwrap();
    let minutes = samples.last().map_or(0.0, |s| s.minutes);
    let mut text = String::new();
    let _ = writeln!(text, "soak: {minutes:.0} min, {} samples", samples.len());
    let _ = writeln!(
        text,
        "  readings: {acknowledged} acknowledged (≈ {:.0}/s), {load_stored} stored besides the probes: {}",
        acknowledged as f64 / (minutes * 60.0),
        if load_stored >= acknowledged as i64 {
            "none lost".to_string()
        } else {
            format!("{} LOST", acknowledged as i64 - load_stored)
        }
    );
    let _ = writeln!(
        text,
        "  RSS after warm-up: {first_rss:.1} MiB at {warm:.0} min, max {max_rss:.1} MiB (+{:.1}%), {rss_end:.1} MiB at the end",
        (max_rss / first_rss - 1.0) * 100.0
    );
    let _ = writeln!(text, "  open files after warm-up: {min_fds}–{max_fds}");
    let _ = writeln!(
        text,
        "  probes: {probes_seen} of {probes_sent} seen on the stream; per-sample p99 {:.1}–{:.1} ms (median of samples {:.1} ms)",
        p99s.iter().copied().fold(f64::INFINITY, f64::min),
        p99s.iter().copied().fold(0.0, f64::max),
        {
            let mut sorted = p99s.clone();
            sorted.sort_by(f64::total_cmp);
            percentile(&sorted, 0.5)
        }
    );
    let _ = writeln!(
        text,
        "  camera events acknowledged: {}; stream events read by {STREAMS} streams: {}, reconnects {}",
        counters.camera_events_acknowledged.load(Ordering::Relaxed),
        counters.stream_events.load(Ordering::Relaxed),
        counters.stream_reconnects.load(Ordering::Relaxed)
    );
    let _ = writeln!(text, "  appliance exit after SIGTERM: {status}");
    let _ = writeln!(
        text,
        "  samples: {}, plot: {}",
        out.join("samples.csv").display(),
        out.join("soak.svg").display()
    );
    print!("{text}");
    std::fs::write(out.join("summary.txt"), text).unwrap();
}

fn write_csv(path: &PathBuf, samples: &[Sample]) {
    let mut csv = String::from(
        "minutes,rss_mib,open_files,readings_acknowledged,stream_events,probes_seen,p50_ms,p99_ms\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{:.2},{:.1},{},{},{},{},{:.1},{:.1}",
            s.minutes,
            s.rss_mib,
            s.fds,
            s.readings_acknowledged,
            s.stream_events,
            s.probes_seen,
            s.p50_ms,
            s.p99_ms
        );
    }
    std::fs::write(path, csv).unwrap();
}

/// Two panels over time: RSS (MiB) and open files; p50 and p99 latency (ms).
fn write_svg(path: &PathBuf, samples: &[Sample]) {
    const W: f64 = 800.0;
    const PANEL: f64 = 220.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 30.0;
    let minutes = samples.last().map_or(1.0, |s| s.minutes).max(1.0);
    let x = |m: f64| LEFT + m / minutes * (W - LEFT - 20.0);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
"##,
        2.0 * (PANEL + TOP + 30.0)
    );
    let mut panel = |index: usize, title: &str, series: &[(&str, &str, Vec<f64>)]| {
        let top = TOP + index as f64 * (PANEL + TOP + 30.0);
        let max = series
            .iter()
            .flat_map(|(_, _, v)| v.iter().copied().filter(|v| v.is_finite()))
            .fold(1.0, f64::max)
            * 1.1;
        let y = |v: f64| top + PANEL - v / max * PANEL;
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}" font-weight="bold">{title}</text>"#,
            top - 10.0
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{}" height="{PANEL}" fill="none" stroke="#999"/>"##,
            W - LEFT - 20.0
        );
        for tick in 0..=4 {
            let v = max * f64::from(tick) / 4.0;
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{v:.0}</text>"#,
                LEFT - 5.0,
                y(v) + 4.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{minutes:.0} min</text>"#,
            W - 20.0,
            top + PANEL + 15.0
        );
        for (i, (name, colour, values)) in series.iter().enumerate() {
            let points: Vec<String> = samples
                .iter()
                .zip(values)
                .filter(|(_, v)| v.is_finite())
                .map(|(s, v)| format!("{:.1},{:.1}", x(s.minutes), y(*v)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
                points.join(" ")
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" fill="{colour}">{name}</text>"#,
                LEFT + 10.0 + 150.0 * i as f64,
                top + 15.0
            );
        }
    };
    panel(
        0,
        "Appliance memory and open files",
        &[
            (
                "RSS (MiB)",
                "#1f77b4",
                samples.iter().map(|s| s.rss_mib).collect(),
            ),
            (
                "open files",
                "#2ca02c",
                samples.iter().map(|s| s.fds as f64).collect(),
            ),
        ],
    );
    panel(
        1,
        "Publish → stream latency of the probes (ms)",
        &[
            ("p50", "#ff7f0e", samples.iter().map(|s| s.p50_ms).collect()),
            ("p99", "#d62728", samples.iter().map(|s| s.p99_ms).collect()),
        ],
    );
    svg.push_str("</svg>\n");
    std::fs::write(path, svg).unwrap();
}
