//! `securityvision simulate`: a load generator over real MQTT, for demos and benchmarks.
//!
//! N gateways stand on a grid over a room of `width × height` metres; M tags walk between
//! random waypoints. Each gateway reports, at the given rate, a batch of the tags it hears
//! with an RSSI from the log-distance path-loss model (−59 dBm at 1 m, exponent 2.5) plus
//! Gaussian noise and occasional multipath fades, so the positions the appliance computes
//! can be compared with the walk. With `--api`, the tags are registered first. With
//! `--score`, nothing is published: a scenario file's world goes through the locator
//! in-process and the position errors are printed (`score.rs`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

mod reference;
mod score;

pub use score::{ScenarioFile, Score};

/// The default room, which `seed --demo` builds as its ground floor.
pub const DEFAULT_WIDTH_M: f64 = 20.0;
pub const DEFAULT_HEIGHT_M: f64 = 12.0;
pub const DEFAULT_GATEWAYS: usize = 6;
pub const DEFAULT_TAGS: usize = 12;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PayloadFormat {
    /// JSON array with a gateway record (Minew JSON-LONG)
    Minew,
    /// {"readings": [{"tag_mac", "rssi"}, …]}
    Readings,
    /// Ingics $GPRP text lines
    Ingics,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The MQTT broker
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "HOST:PORT")]
    pub mqtt: String,
    /// MQTT username
    #[arg(long, default_value = "gateway")]
    pub username: Option<String>,
    /// MQTT password
    #[arg(long, env = "SV_SIMULATE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// File holding the MQTT password [default: data/initial-mqtt-gateway-password]
    #[arg(
        long,
        value_name = "PATH",
        default_value = "data/initial-mqtt-gateway-password"
    )]
    pub password_file: Option<PathBuf>,
    /// Gateways, spread evenly over the room (the defaults are the `seed --demo` site's)
    #[arg(long, default_value_t = DEFAULT_GATEWAYS)]
    pub gateways: usize,
    /// Tags walking in the room
    #[arg(long, default_value_t = DEFAULT_TAGS)]
    pub tags: usize,
    /// Room width and height, in metres
    #[arg(long, default_value_t = DEFAULT_WIDTH_M)]
    pub width: f64,
    #[arg(long, default_value_t = DEFAULT_HEIGHT_M)]
    pub height: f64,
    /// Reports per gateway per second
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds to run
    #[arg(long, default_value_t = 600.0)]
    pub duration: f64,
    #[arg(long, value_enum, default_value = "minew")]
    pub format: PayloadFormat,
    /// MQTT QoS of the reports (0 or 1)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// RSSI noise (standard deviation, dB)
    #[arg(long, default_value_t = 2.5)]
    pub noise_db: f64,
    /// Seed of the random walk and noise (the same seed, the same run)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Register the tags through this API first (e.g. http://127.0.0.1:8080)
    #[arg(long, value_name = "URL")]
    pub api: Option<String>,
    /// Administrator to register the tags as
    #[arg(long, default_value = "admin@localhost")]
    pub admin_email: String,
    /// File holding that administrator's password (or SV_ADMIN_PASSWORD)
    #[arg(long, value_name = "PATH")]
    pub admin_password_file: Option<PathBuf>,
    /// Publish nothing: run a scenario through the appliance's locator in simulated time
    /// and print the median and p95 position error and the wrong-room rate
    #[arg(long)]
    pub score: bool,
    /// With --score: the scenario file (TOML, see scenarios/) [default: scenarios/room.toml]
    #[arg(long, value_name = "FILE", requires = "score")]
    pub scenario: Option<PathBuf>,
    /// With --score: how many seeds to run, from --seed on
    #[arg(long, default_value_t = 1, requires = "score")]
    pub runs: u64,
    /// With --score: the appliance knows each gateway's true path-loss parameters (as after
    /// an on-site calibration) instead of the scenario's `[appliance]` values
    #[arg(long, requires = "score")]
    pub calibrated: bool,
    /// With --score: also score a reference filter that knows how the simulated people walk
    /// and the world's radio exactly, which no locator beats on average: the accuracy these
    /// gateways and readings allow at most
    #[arg(long, requires = "score")]
    pub reference: bool,
}

/// A simulated tag: where it really is.
pub struct Tag {
    pub mac: String,
    pub x: f64,
    pub y: f64,
    target: (f64, f64),
}

/// Gateways over an area and tags walking in it; each step yields the gateway reports.
/// The benchmark and the scorer compare the appliance's positions with `tags`.
pub struct Scenario {
    /// (MAC, x, y) in metres.
    pub gateways: Vec<(String, f64, f64)>,
    pub tags: Vec<Tag>,
    world: ScenarioFile,
    rng: rand::rngs::StdRng,
    /// Simulated time, stamped on the reports (`None`: the receiver's clock is the time).
    clock: Option<chrono::DateTime<chrono::Utc>>,
}

impl Scenario {
    /// `gateways` on a grid over a `width × height` room, the path-loss model the
    /// appliance assumes by default.
    pub fn new(
        gateways: usize,
        tags: usize,
        width: f64,
        height: f64,
        noise_db: f64,
        seed: u64,
    ) -> Scenario {
        let mut world = ScenarioFile::grid(gateways, width, height);
        world.walkers = tags;
        world.noise_db = noise_db;
        Scenario::from_file(world, seed)
    }

    /// The world a scenario file describes.
    pub fn from_file(world: ScenarioFile, seed: u64) -> Scenario {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let gateways = world
            .gateways
            .iter()
            .enumerate()
            .map(|(i, g)| (format!("AC233FC0{:04X}", i + 1), g.x, g.y))
            .collect();
        let tags = (0..world.walkers)
            .map(|i| {
                let (x, y) = world.random_point(&mut rng);
                Tag {
                    mac: format!("AC233F{:06X}", 0x10_0000 + i),
                    x,
                    y,
                    target: world.next_target((x, y), &mut rng),
                }
            })
            .collect();
        Scenario {
            gateways,
            tags,
            world,
            rng,
            clock: None,
        }
    }

    /// Stamps reports with simulated time from `start`, so that a run faster than real
    /// time (a benchmark) still shows the receiver how time passes.
    pub fn with_clock(mut self, start: chrono::DateTime<chrono::Utc>) -> Scenario {
        self.clock = Some(start);
        self
    }

    /// Moves every tag `dt` seconds along its walk.
    pub fn advance(&mut self, dt: f64) {
        if let Some(clock) = &mut self.clock {
            *clock += chrono::Duration::milliseconds((dt * 1000.0) as i64);
        }
        for tag in &mut self.tags {
            let (dx, dy) = (tag.target.0 - tag.x, tag.target.1 - tag.y);
            let distance = (dx * dx + dy * dy).sqrt();
            let step = self.world.walk_speed_m_s * dt;
            if distance <= step {
                (tag.x, tag.y) = tag.target;
                tag.target = self.world.next_target(tag.target, &mut self.rng);
            } else {
                tag.x += dx / distance * step;
                tag.y += dy / distance * step;
            }
        }
    }

    /// What each gateway hears now: (gateway index, tag index, RSSI), from the world's
    /// path-loss model of each gateway, its noise and its fades.
    pub fn hear(&mut self) -> Vec<(usize, usize, i32)> {
        let world = &self.world;
        let mut heard = Vec::new();
        for (g, gateway) in world.gateways.iter().enumerate() {
            for (t, tag) in self.tags.iter().enumerate() {
                let d = ((tag.x - gateway.x).powi(2)
                    + (tag.y - gateway.y).powi(2)
                    + gateway.height_m.powi(2))
                .sqrt()
                .max(0.1);
                let mut rssi = gateway.rssi_at_1m - 10.0 * gateway.path_loss_exponent * d.log10()
                    + gaussian(&mut self.rng) * world.noise_db;
                if self.rng.random_bool(world.fade_rate) {
                    rssi -= world.fade_db; // a multipath fade
                }
                if rssi > world.sensitivity_dbm {
                    heard.push((g, t, rssi.round() as i32));
                }
            }
        }
        heard
    }

    /// What each gateway hears now: (topic, payload) per gateway that hears any tag, and
    /// the number of readings.
    pub fn reports(&mut self, format: PayloadFormat) -> (Vec<(String, Vec<u8>)>, u64) {
        let heard = self.hear();
        let mut reports = Vec::new();
        for (g, (gateway, _, _)) in self.gateways.iter().enumerate() {
            let batch: Vec<(String, i32)> = heard
                .iter()
                .filter(|h| h.0 == g)
                .map(|&(_, t, rssi)| (self.tags[t].mac.clone(), rssi))
                .collect();
            if !batch.is_empty() {
                reports.push(encode(format, gateway, &batch, self.clock));
            }
        }
        (reports, heard.len() as u64)
    }
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.score {
        let world = match &args.scenario {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading {}", file.display()))?;
                ScenarioFile::parse(&text).with_context(|| format!("in {}", file.display()))?
            }
            None => ScenarioFile::parse(score::DEFAULT_SCENARIO)?,
        };
        score::print_scores(
            &world,
            args.seed,
            args.runs,
            args.calibrated,
            args.reference,
        );
        return Ok(());
    }
    let mut scenario = Scenario::new(
        args.gateways,
        args.tags,
        args.width,
        args.height,
        args.noise_db,
        args.seed,
    );
    if let Some(api) = &args.api {
        register_tags(api, &args, &scenario.tags).await?;
    }

    let (host, port) = args
        .mqtt
        .rsplit_once(':')
        .context("--mqtt takes HOST:PORT")?;
    let port: u16 = port.parse().context("--mqtt takes HOST:PORT")?;
    let password = match (&args.password, &args.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let mut options = MqttOptions::new(format!("simulator-{}", args.seed), host, port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(200)
        .set_max_packet_size(1 << 20, 1 << 20);
    if let Some(username) = &args.username {
        options.set_credentials(username.clone(), password.unwrap_or_default());
    }
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = acked.clone();
    let driver = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(Event::Incoming(Packet::ConnAck(ack)))
                    if ack.code != rumqttc::ConnectReturnCode::Success =>
                {
                    eprintln!("simulate: connection refused: {:?}", ack.code);
                    return;
                }
                Ok(_) => {}
                Err(err) => {
                    eprintln!("simulate: MQTT error: {err}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let qos = if args.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let tick = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let started = Instant::now();
    let (mut messages, mut readings) = (0u64, 0u64);
    let mut next = tokio::time::Instant::now();
    while started.elapsed().as_secs_f64() < args.duration {
        scenario.advance(tick.as_secs_f64());
        let (reports, heard) = scenario.reports(args.format);
        readings += heard;
        for (topic, payload) in reports {
            client.publish(topic, qos, false, payload).await?;
            messages += 1;
        }
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    // Let the last acknowledgements arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while qos == QoS::AtLeastOnce
        && acked.load(std::sync::atomic::Ordering::Relaxed) < messages
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = client.disconnect().await;
    driver.abort();
    println!(
        "simulate: {} gateways, {} tags: {messages} messages, {readings} readings in {:.1} s ({} acknowledged)",
        scenario.gateways.len(),
        scenario.tags.len(),
        started.elapsed().as_secs_f64(),
        if qos == QoS::AtLeastOnce {
            acked.load(std::sync::atomic::Ordering::Relaxed).to_string()
        } else {
            "QoS 0: none".into()
        }
    );
    Ok(())
}

/// A standard normal sample (Box–Muller).
pub(crate) fn gaussian(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

pub fn encode(
    format: PayloadFormat,
    gateway: &str,
    heard: &[(String, i32)],
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> (String, Vec<u8>) {
    let topic = format!("rtls/gateways/{gateway}/beacon");
    let stamp = |mut record: serde_json::Value| {
        if let Some(at) = at {
            record["timestamp"] = serde_json::json!(at.timestamp_millis());
        }
        record
    };
    let payload = match format {
        PayloadFormat::Minew => {
            let mut records = vec![serde_json::json!({"type": "Gateway", "mac": gateway})];
            records.extend(heard.iter().map(|(mac, rssi)| {
                stamp(serde_json::json!({"type": "iBeacon", "mac": mac, "rssi": rssi}))
            }));
            serde_json::to_vec(&records).unwrap_or_default()
        }
        PayloadFormat::Readings => {
            let readings: Vec<_> = heard
                .iter()
                .map(|(mac, rssi)| stamp(serde_json::json!({"tag_mac": mac, "rssi": rssi})))
                .collect();
            serde_json::to_vec(&serde_json::json!({"readings": readings})).unwrap_or_default()
        }
        PayloadFormat::Ingics => {
            let epoch = at
                .map(|t| format!(",{}", t.timestamp()))
                .unwrap_or_default();
            heard
                .iter()
                .map(|(mac, rssi)| format!("$GPRP,{mac},{gateway},{rssi},02010612FF{epoch}"))
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes()
        }
    };
    (topic, payload)
}

/// Registers the simulated tags through the API (existing ones are left as they are).
async fn register_tags(api: &str, args: &SimulateArgs, tags: &[Tag]) -> anyhow::Result<()> {
    let base = api.trim_end_matches('/');
    let admin_password = match &args.admin_password_file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading {}", file.display()))?
            .trim()
            .to_string(),
        None => std::env::var("SV_ADMIN_PASSWORD")
            .context("--api needs --admin-password-file or SV_ADMIN_PASSWORD")?,
    };
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": args.admin_email, "password": admin_password}))
        .send()
        .await?
        .error_for_status()
        .context("logging in to the API")?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("no token in the login answer")?
        .to_string();
    let mut created = 0;
    for tag in tags {
        let response = http
            .post(format!("{base}/api/v1/tags"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"mac_address": tag.mac, "label": format!("Simulated {}", tag.mac)}))
            .send()
            .await?;
        match response.status() {
            reqwest::StatusCode::CREATED => created += 1,
            reqwest::StatusCode::CONFLICT => {}
            other => anyhow::bail!("registering tag {}: HTTP {other}", tag.mac),
        }
    }
    println!(
        "simulate: {created} tags registered ({} already were)",
        tags.len() - created
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_cover_the_room() {
        let at = |count, width, height| {
            ScenarioFile::grid(count, width, height)
                .gateways
                .iter()
                .map(|g| (g.x, g.y))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            at(4, 6.0, 4.0),
            vec![(1.5, 1.0), (4.5, 1.0), (1.5, 3.0), (4.5, 3.0)]
        );
        assert_eq!(at(1, 10.0, 10.0), vec![(5.0, 5.0)]);
    }

    #[test]
    fn payloads_decode_back_to_the_same_readings() {
        let heard = vec![
            ("AC233F100000".to_string(), -61),
            ("AC233F100001".to_string(), -70),
        ];
        for format in [
            PayloadFormat::Minew,
            PayloadFormat::Readings,
            PayloadFormat::Ingics,
        ] {
            let (topic, payload) = encode(format, "AC233FC00001", &heard, None);
            let report = crate::ingest::decode::decode(
                &topic,
                &payload,
                &crate::ingest::topics::TopicTrees::new(&crate::config::MqttConfig::default()),
                chrono::Utc::now(),
            )
            .unwrap();
            let got: Vec<(String, Option<i32>)> = report
                .sightings
                .iter()
                .map(|s| (s.tag.as_str().to_string(), s.rssi))
                .collect();
            assert_eq!(
                got,
                vec![
                    ("AC233F100000".into(), Some(-61)),
                    ("AC233F100001".into(), Some(-70))
                ],
                "{format:?}"
            );
        }
    }
}
