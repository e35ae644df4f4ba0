//! Burst: the release binary takes 1,000,000 QoS 1 readings (`SV_BURST_READINGS`) as fast as ten publishers can
//! send them (BENCHMARKS.md, "Ingest burst").
//!
//!     cargo bench --bench burst                                 # SQLite
//!     SV_BURST_DATABASE_URL=postgres://… cargo bench --bench burst   # an empty PostgreSQL database
//!     SV_BURST_REPORT_SIZES=100 cargo bench --bench burst         # one report size
//!
//! The site: 10,000 registered tags, 200 registered gateways, the appliance on its defaults.
//! For each report size (10 and 100 readings: Minew JSON arrays), a fresh appliance; ten
//! connections from this process publish 1,000,000 readings at QoS 1 (1,000 messages in flight
//! each), with the payloads encoded beforehand so that the publishers are not the limit.
//! The rate is rows counted in the database (`COUNT(*)`, polled) from the first publish to
//! the last row; the memory is the appliance's RSS (and its anonymous and file-backed
//! parts) sampled every 100 ms from the first publish until 10 s after the last row.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

mod common;
use common::{Api, Appliance, count_readings, status_mib};

const TAGS: usize = 10_000;
const GATEWAYS: usize = 200;
/// Readings in a burst (`SV_BURST_READINGS`, 1,000,000 by default).
fn readings() -> usize {
    std::env::var("SV_BURST_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}
const CONNECTIONS: usize = 10;
/// Reports each connection keeps in flight (`SV_BURST_IN_FLIGHT`): a PUBACK waits for the commit,
/// so a narrow window leaves the pipeline idle while the writer commits (BENCHMARKS.md).
fn in_flight() -> u16 {
    std::env::var("SV_BURST_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn main() {
    securityvision::tls::install_default_provider();
    let sizes: Vec<usize> = std::env::var("SV_BURST_REPORT_SIZES")
        .unwrap_or_else(|_| "10,100".into())
        .split(',')
        .map(|s| s.trim().parse().expect("report sizes: numbers"))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for size in sizes {
        runtime.block_on(burst(size));
    }
}

fn gateway_mac(g: usize) -> String {
    format!("AC233FD0{g:04X}")
}

fn tag_mac(tag: usize) -> String {
    format!("AC233E{tag:06X}")
}

/// The site's gateways and tags, created through the API (eight requests at a time).
async fn build_site(api: &Api) {
    let gateways = (0..GATEWAYS).map(|g| {
        (
            "/devices",
            json!({"name": format!("GW {g}"), "mac_address": gateway_mac(g)}),
        )
    });
    let tags = (0..TAGS).map(|t| ("/tags", json!({"mac_address": tag_mac(t)})));
    futures_util::stream::iter(gateways.chain(tags))
        .for_each_concurrent(8, |(path, body)| async move {
            api.create(path, body).await;
        })
        .await;
}

/// Report `n` of a connection's share: `size` consecutive tags heard by one gateway.
fn payload(n: usize, size: usize) -> (String, Vec<u8>) {
    let g = n % GATEWAYS;
    let first = n * size % TAGS;
    let mut records = vec![json!({"type": "Gateway", "mac": gateway_mac(g)})];
    for i in 0..size {
        let rssi = -50 - ((n + i) % 40) as i64;
        records.push(json!({"type": "iBeacon", "mac": tag_mac((first + i) % TAGS), "rssi": rssi}));
    }
    (
        format!("rtls/gateways/{}/beacon", gateway_mac(g)),
        serde_json::to_vec(&records).unwrap(),
    )
}

/// One connection publishes `reports` and returns when each has its PUBACK.
async fn publish(port: u16, password: String, c: usize, reports: Vec<(String, Vec<u8>)>) {
    let mut options = MqttOptions::new(format!("burst-{c}"), "127.0.0.1", port);
    options
        .set_credentials("gateway", password)
        .set_keep_alive(Duration::from_secs(60))
        .set_inflight(in_flight())
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 1_000);
    let expected = reports.len();
    let publisher = tokio::spawn(async move {
        for (topic, payload) in reports {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
        client
    });
    let mut acked = 0;
    while acked < expected {
        match events.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(err) => panic!("burst connection {c}: {err}"),
        }
    }
    let client = publisher.await.unwrap();
    let _ = client.try_disconnect();
}

/// The appliance's memory, sampled until `done` is set (then for 10 s more).
#[derive(Default)]
struct Memory {
    peak_rss: f64,
    peak_anon: f64,
    peak_file: f64,
}

async fn burst(size: usize) {
    let mut appliance = Appliance::start(std::env::var("SV_BURST_DATABASE_URL").ok(), &[]).await;
    let api = Api::login(&appliance).await;
    let setting_up = Instant::now();
    build_site(&api).await;
    let messages = readings() / size;
    let per_connection = messages / CONNECTIONS;
    let shares: Vec<Vec<(String, Vec<u8>)>> = (0..CONNECTIONS)
        .map(|c| {
            (0..per_connection)
                .map(|i| payload(c * per_connection + i, size))
                .collect()
        })
        .collect();
    let before = count_readings(&appliance.database_url).await;
    let rss_before = status_mib(appliance.pid, "VmRSS");
    println!(
        "burst: site built in {:.1} s ({TAGS} tags, {GATEWAYS} gateways); {messages} reports of {size} readings; RSS {rss_before:.0} MiB",
        setting_up.elapsed().as_secs_f64()
    );

    let pid = appliance.pid;
    let sampling = Arc::new(AtomicU64::new(1));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut memory = Memory::default();
            while sampling.load(Ordering::Relaxed) == 1 {
                memory.peak_rss = memory.peak_rss.max(status_mib(pid, "VmRSS"));
                memory.peak_anon = memory.peak_anon.max(status_mib(pid, "RssAnon"));
                memory.peak_file = memory.peak_file.max(status_mib(pid, "RssFile"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            memory
        })
    };

    let start = Instant::now();
    let password = appliance.gateway_password();
    let publishers: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(c, share)| tokio::spawn(publish(appliance.mqtt_port, password.clone(), c, share)))
        .collect();
    let expected = before + (per_connection * CONNECTIONS * size) as i64;
    let acknowledged = tokio::spawn(async move {
        for p in publishers {
            p.await.unwrap();
        }
        start.elapsed()
    });
    let mut stored = before;
    let deadline = Instant::now() + Duration::from_secs(600);
    while stored < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stored = count_readings(&appliance.database_url).await;
    }
    let elapsed = start.elapsed();
    let acknowledged = acknowledged.await.unwrap();
    // SQLite indexes a burst by tag and by gateway in the quiet after it: for how long.
    let merge_rows: i64 = std::env::var("SV_DATABASE_SQLITE_INDEX_MERGE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let mut indexed = None;
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(10) {
        if indexed.is_none() && unindexed_readings(&appliance.database_url).await < merge_rows {
            indexed = Some(after.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sampling.store(0, Ordering::Relaxed);
    let memory = sampler.await.unwrap();
    let rss_after = status_mib(pid, "VmRSS");
    let anon_after = status_mib(pid, "RssAnon");
    let stored = count_readings(&appliance.database_url).await - before;
    let status = appliance.stop().await;
    let sent = (expected - before) as f64;
    println!(
        "burst on {}, reports of {size}: {stored}/{sent} readings stored ({} lost), {:.0} readings/s (rows counted; publishers acknowledged in {:.2} s); \
         RSS peak {:.0} MiB (anonymous {:.0}, file-backed {:.0}), 10 s after {rss_after:.0} MiB (anonymous {anon_after:.0}); \
         indexed (less than a merge's worth left) {} after the last row; exit {status}",
        if appliance.database_url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        sent as i64 - stored,
        stored as f64 / elapsed.as_secs_f64(),
        acknowledged.as_secs_f64(),
        memory.peak_rss,
        memory.peak_anon,
        memory.peak_file,
        indexed.map_or("not within 10 s".to_string(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        )),
    );
}

/// SQLite: readings past the index watermark (migrations 0024, 0025); none on PostgreSQL.
async fn unindexed_readings(url: &str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("postgres") {
        return 0;
    }
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'collection_logs') \
             - (SELECT merged_through FROM collection_logs_merge_watermark)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}
