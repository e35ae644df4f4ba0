//! The fuzz targets of what takes bytes from outside without a server around it: each
//! function takes arbitrary bytes and panics only if a property that must hold does not.
//! Two drivers run them: `tests/it/fuzz.rs` (corpus-driven mutations on stable Rust, in
//! the test suite and `scripts/fuzz`) and `fuzz/` (cargo-fuzz, libFuzzer's coverage-guided
//! search, for long runs on nightly: `scripts/fuzz --libfuzzer`). The MQTT and multipart
//! targets need the running appliance and live in `tests/it/fuzz.rs` only.

use chrono::Utc;
use serde_json::Value;

/// "topic\npayload", as the corpus files hold them.
pub fn topic_and_payload(input: &[u8]) -> (String, &[u8]) {
    let split = input
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(input.len());
    let payload = input.get(split + 1..).unwrap_or_default();
    (
        String::from_utf8_lossy(&input[..split]).into_owned(),
        payload,
    )
}

/// A gateway report in any vendor format: decoded or refused, never more sightings than
/// bytes.
pub fn gateway_report(input: &[u8]) {
    let trees = crate::ingest::topics::TopicTrees::new(&crate::config::MqttConfig::default());
    let (topic, payload) = topic_and_payload(input);
    if let Ok(report) = crate::ingest::decode::decode(&topic, payload, &trees, Utc::now()) {
        assert!(
            report.sightings.len() <= payload.len(),
            "more sightings than bytes"
        );
    }
}

/// A CAM-BUS topic and payload.
pub fn camera_message(input: &[u8]) {
    use crate::cambus::topic;
    let (name, payload) = topic_and_payload(input);
    let _ = topic::parse(&name, "rtls/cameras");
    if let Ok(value) = serde_json::from_slice::<Value>(payload) {
        let _ = topic::payload_time(&value, Utc::now());
        let _ = topic::status_analytic(&value, "status");
        let _ = topic::says_offline(&value);
        let _ = topic::recognised_name(&value);
    }
}

/// Chatwoot's inbound webhook body: never trusted with a wrong signature, read or refused.
pub fn chatwoot_body(body: &[u8]) {
    use crate::chatwoot::inbound;
    let config = crate::config::ChatwootConfig {
        webhook_secret: Some("fuzz-secret".into()),
        ..Default::default()
    };
    assert!(!inbound::trusted(
        &config,
        Some("sha256=00"),
        Some("1700000000"),
        body,
        1_700_000_000
    ));
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let _ = inbound::read(&value);
    }
}

/// A configuration file, written to `file`: loaded or refused with an error, and a loaded
/// one prints (redacted).
pub fn configuration_file(text: &[u8], file: &std::path::Path) {
    use crate::config::{Overrides, load_from};
    std::fs::write(file, text).expect("the fuzz directory is writable");
    let overrides = Overrides {
        config_file: Some(file.to_path_buf()),
        data_dir: file.parent().map(|dir| dir.join("data")),
        ..Overrides::default()
    };
    if let Ok(loaded) = load_from(&overrides, |_| None, std::iter::empty()) {
        assert!(!loaded.config.to_redacted_toml().is_empty());
    }
}
