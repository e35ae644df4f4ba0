//! Fuzzing of everything that takes bytes from outside: the gateway formats, CAM-BUS topics
//! and payloads, Chatwoot's inbound body, configuration files, the MQTT packets our network
//! layer reads, and multipart uploads.
//!
//! A mutation fuzzer of our own, on stable Rust: each target starts from its corpus in
//! `tests/fuzz/<target>/` (replayed first, so that every input kept there is a regression
//! test) and runs random mutations of it — bit flips, bytes and numbers that parsers trip
//! on, cuts, repeats, splices. It has no coverage feedback, unlike cargo-fuzz/libFuzzer, which
//! need a nightly, instrumented build of the whole dependency tree (about ten minutes of CI's
//! two cores) while these targets share the test binary: the suite runs these, and long
//! coverage-guided runs of the same targets (`securityvision::fuzz_targets`) use `fuzz/`
//! with `scripts/fuzz --libfuzzer`. An input that panics (or, over the
//! network, makes the appliance panic or answer 5xx) is written to `tests/fuzz/crashes/` and
//! the test fails naming it; once fixed, it moves into the target's corpus.
//!
//! Budget: `SV_FUZZ_ITERATIONS` (default below) or `SV_FUZZ_SECONDS` per target;
//! `SV_FUZZ_SEED` repeats a run. `scripts/fuzz [SECONDS]` runs them all for longer.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cli::{KillOnDrop, admin_token, serve_binary};

/// Mutated inputs per target when no budget is given (CI).
const PURE_ITERATIONS: usize = 3000;
const NETWORK_ITERATIONS: usize = 150;

fn fuzz_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fuzz_dir(target))
        .unwrap_or_else(|e| panic!("corpus of {target}: {e}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    let inputs: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!inputs.is_empty(), "the {target} corpus is empty");
    inputs
}

/// How long a target runs: a number of inputs, or a time.
struct Budget {
    iterations: usize,
    until: Option<Instant>,
}

impl Budget {
    fn of(default_iterations: usize) -> Budget {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        Budget {
            iterations: env("SV_FUZZ_ITERATIONS").map_or(default_iterations, |n| n as usize),
            until: env("SV_FUZZ_SECONDS").map(|s| Instant::now() + Duration::from_secs(s)),
        }
    }

    fn goes_on(&self, done: usize) -> bool {
        match self.until {
            Some(until) => Instant::now() < until,
            None => done < self.iterations,
        }
    }
}

fn seed() -> u64 {
    std::env::var("SV_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

/// Bytes that parsers of JSON, MQTT topics, CSV-like lines and numbers trip on.
const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"\xc3",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"-",
    b"/",
    b"#",
    b"+",
    b"$",
    b"\n",
    b"\r\n",
    b"0",
    b"-1",
    b"1e309",
    b"-9223372036854775809",
    b"99999999999999999999999",
    b"NaN",
    b"null",
    b"true",
    b"\"\"",
    b"{}",
    b"[]",
    b"\xf0\x9f\x92\xa9",
    b"9999-12-31T23:59:59Z",
    b"0000-00-00",
    b"--",
    b"=",
];

struct Mutator {
    rng: StdRng,
}

impl Mutator {
    fn new(seed: u64) -> Mutator {
        Mutator {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A mutation of `input` (from `keep` on; the bytes before stay as they are), sometimes
    /// spliced with another member of `corpus`.
    fn mutate(&mut self, input: &[u8], keep: usize, corpus: &[Vec<u8>]) -> Vec<u8> {
        let keep = keep.min(input.len());
        let mut tail = input[keep..].to_vec();
        for _ in 0..self.rng.random_range(1..=4) {
            let len = tail.len();
            let at = if len == 0 {
                0
            } else {
                self.rng.random_range(0..len)
            };
            match self.rng.random_range(0..8) {
                0 if len > 0 => tail[at] ^= 1 << self.rng.random_range(0..8),
                1 if len > 0 => tail[at] = self.rng.random(),
                2 => {
                    let bytes = INTERESTING[self.rng.random_range(0..INTERESTING.len())];
                    tail.splice(at..at, bytes.iter().copied());
                }
                3 if len > 0 => {
                    let end = (at + self.rng.random_range(1..=16)).min(len);
                    tail.drain(at..end);
                }
                4 if len > 0 => {
                    let end = (at + self.rng.random_range(1..=32)).min(len);
                    let piece: Vec<u8> = tail[at..end].to_vec();
                    for _ in 0..self.rng.random_range(1..=8) {
                        tail.splice(at..at, piece.iter().copied());
                    }
                }
                5 => tail.truncate(at),
                6 => {
                    let other = &corpus[self.rng.random_range(0..corpus.len())];
                    if !other.is_empty() {
                        let from = self.rng.random_range(0..other.len());
                        tail.truncate(at);
                        tail.extend_from_slice(&other[from..]);
                    }
                }
                _ => {
                    // A number made longer, or negative.
                    if let Some(digit) = tail.iter().position(u8::is_ascii_digit) {
                        tail.splice(digit..digit, b"-99999999999".iter().copied());
                    }
                }
            }
        }
        let mut out = input[..keep].to_vec();
        out.extend(tail);
        out
    }
}

/// Keeps a failing input and fails the test naming it.
fn crashed(target: &str, seed: u64, input: &[u8], why: &str) -> ! {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/crashes");
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("{target}-{:016x}.bin", fxhash(input));
    std::fs::File::create(dir.join(&name))
        .unwrap()
        .write_all(input)
        .unwrap();
    panic!(
        "fuzz target {target} (SV_FUZZ_SEED={seed}): {why}; input kept in tests/fuzz/crashes/{name}"
    );
}

fn fxhash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Runs `check` on the corpus, then on mutations of it, catching panics.
fn fuzz_pure(target: &str, check: impl Fn(&[u8])) {
    let corpus = corpus(target);
    let seed = seed();
    let mut mutator = Mutator::new(seed);
    let budget = Budget::of(PURE_ITERATIONS);
    let run = |input: &[u8]| {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(input))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string));
            crashed(
                target,
                seed,
                input,
                &format!("panicked: {}", why.unwrap_or_default()),
            );
        }
    };
    corpus.iter().for_each(|input| run(input));
    let mut done = 0;
    while budget.goes_on(done) {
        let input = mutator.mutate(&corpus[done % corpus.len()], 0, &corpus);
        run(&input);
        done += 1;
    }
}

#[test]
fn gateway_reports() {
    fuzz_pure("gateway", securityvision::fuzz_targets::gateway_report);
}

#[test]
fn camera_topics_and_payloads() {
    fuzz_pure("cambus", securityvision::fuzz_targets::camera_message);
}

#[test]
fn chatwoot_inbound_bodies() {
    fuzz_pure("chatwoot", securityvision::fuzz_targets::chatwoot_body);
}

#[test]
fn configuration_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("securityvision.toml");
    fuzz_pure("config", |text| {
        securityvision::fuzz_targets::configuration_file(text, &file);
    });
}

/// The real binary, its stderr kept to look for panics.
struct Appliance {
    _process: KillOnDrop,
    _work: tempfile::TempDir,
    base: String,
    mqtt: std::net::SocketAddr,
    stderr: PathBuf,
    gateway_password: String,
    token: String,
}

impl Appliance {
    async fn start() -> Appliance {
        securityvision::tls::install_default_provider();
        let work = tempfile::tempdir().unwrap();
        let stderr = work.path().join("stderr.log");
        let served = serve_binary(work.path(), |c| {
            // Many short connections from one address: not what this target is about.
            c.env("SV_MQTT_CONNECT_RATE_PER_MINUTE", "0")
                .stderr(std::fs::File::create(&stderr).unwrap());
        })
        .await;
        let (process, base, mqtt) = (served.child, served.http_base, served.mqtt_port);
        let token = admin_token(&base, work.path()).await;
        let gateway_password =
            std::fs::read_to_string(work.path().join("data/initial-mqtt-gateway-password"))
                .unwrap()
                .trim()
                .to_string();
        Appliance {
            _process: process,
            _work: work,
            base,
            mqtt: ([127, 0, 0, 1], mqtt).into(),
            stderr,
            gateway_password,
            token,
        }
    }

    /// Fails the target if the appliance panicked or stopped serving.
    async fn check(&self, target: &str, seed: u64, last: &[u8]) {
        let health = reqwest::get(format!("{}/api/v1/health", self.base)).await;
        if !health.is_ok_and(|h| h.status().is_success()) {
            crashed(
                target,
                seed,
                last,
                "the appliance stopped answering /health",
            );
        }
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        if log.contains("panicked") {
            crashed(
                target,
                seed,
                last,
                &format!("the appliance panicked:\n{log}"),
            );
        }
    }
}

/// Sends `bytes` as one MQTT client and reads whatever comes back until the server closes
/// or goes quiet.
async fn mqtt_exchange(server: std::net::SocketAddr, bytes: &[u8]) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(server).await else {
        return;
    };
    let _ = stream.write_all(bytes).await;
    let mut sink = vec![0u8; 4096];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut sink)).await
    {
        if n == 0 {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_packets() {
    let appliance = Appliance::start().await;
    // The corpus holds what a gateway sends after its CONNECT, which is made here with the
    // appliance's password.
    let connect = crate::mqtt::connect_packet(
        "fuzz-gateway",
        30,
        Some(("gateway", &appliance.gateway_password)),
        None,
    );
    let corpus: Vec<Vec<u8>> = corpus("mqtt")
        .into_iter()
        .map(|after| [connect.as_slice(), &after].concat())
        .collect();
    let (seed, budget) = (seed(), Budget::of(NETWORK_ITERATIONS));
    let mut mutator = Mutator::new(seed);
    for input in &corpus {
        mqtt_exchange(appliance.mqtt, input).await;
    }
    let mut done = 0;
    while budget.goes_on(done) {
        // Half the inputs keep their CONNECT whole, so that what follows it is read too.
        let input = &corpus[done % corpus.len()];
        let keep = if done % 2 == 0 { connect.len() } else { 0 };
        let batch: Vec<Vec<u8>> = (0..8)
            .map(|_| mutator.mutate(input, keep, &corpus))
            .collect();
        futures_util::future::join_all(
            batch
                .iter()
                .map(|bytes| mqtt_exchange(appliance.mqtt, bytes)),
        )
        .await;
        done += batch.len();
        if done % 40 < 8 {
            appliance.check("mqtt", seed, &batch[0]).await;
        }
    }
    appliance.check("mqtt", seed, b"").await;
    // And a well-behaved gateway is still served.
    let mut gateway = tokio::net::TcpStream::connect(appliance.mqtt)
        .await
        .unwrap();
    gateway.write_all(&connect).await.unwrap();
    let (kind, body) = crate::mqtt::read_packet(&mut gateway, Duration::from_secs(10))
        .await
        .expect("CONNACK");
    assert_eq!(
        (kind, body[1]),
        (0x20, 0),
        "a good CONNECT is accepted after the fuzzing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads() {
    let appliance = Appliance::start().await;
    let client = reqwest::Client::new();
    let create = async |path: &str, body: Value| -> i64 {
        let response = client
            .post(format!("{}{path}", appliance.base))
            .bearer_auth(&appliance.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let value: Value = response.json().await.unwrap();
        value["id"].as_i64().unwrap_or_else(|| panic!("{value}"))
    };
    let building = create("/api/v1/buildings", json!({"name": "HQ", "code": "HQ"})).await;
    let floor = create(
        "/api/v1/floors",
        json!({"building_id": building, "name": "F"}),
    )
    .await;
    let plan = create(
        "/api/v1/floor-plans",
        json!({"floor_id": floor, "name": "P"}),
    )
    .await;
    let url = format!("{}/api/v1/floor-plans/{plan}/image", appliance.base);

    let corpus = corpus("multipart");
    let (seed, budget) = (seed(), Budget::of(NETWORK_ITERATIONS));
    let mut mutator = Mutator::new(seed);
    let mut done = 0;
    let mut inputs: Vec<Vec<u8>> = corpus.clone();
    while !inputs.is_empty() {
        for body in inputs.drain(..) {
            let boundary = if done % 7 == 6 {
                "\"XyZ;fuzz\"; x=\"\"; boundary="
            } else {
                "XyZfuzz"
            };
            let response = client
                .post(&url)
                .bearer_auth(&appliance.token)
                .header(
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body.clone())
                .send()
                .await;
            match response {
                Ok(response) if response.status().is_server_error() => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    crashed(
                        "multipart",
                        seed,
                        &body,
                        &format!("answered {status}: {text}"),
                    );
                }
                Ok(_) => {}
                Err(err) => crashed("multipart", seed, &body, &format!("no answer: {err}")),
            }
            done += 1;
        }
        if budget.goes_on(done) {
            let seed_input = &corpus[done % corpus.len()];
            // The headers of the part are where the parser is: mutate near the start more often.
            inputs = (0..4)
                .map(|_| mutator.mutate(seed_input, 0, &corpus))
                .collect();
        }
    }
    appliance.check("multipart", seed, b"").await;
}
