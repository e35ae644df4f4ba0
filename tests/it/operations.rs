//! Running a site: the disk guard on a small file system, and `securityvision check`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rumqttc::QoS;
use serde_json::json;

use crate::common::{TestApp, backend_tests, eventually_within};
use crate::mqtt::{Client, Options};

/// A tmpfs of a few megabytes, unmounted when dropped. Mounting needs root: the test is
/// skipped without it, unless `SV_TEST_REQUIRE_TOOLS` is set (CI), which fails it.
struct SmallFileSystem {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFileSystem {
    fn mount(megabytes: u32) -> Option<SmallFileSystem> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted && std::env::var("SV_TEST_REQUIRE_TOOLS").is_ok() {
            panic!("SV_TEST_REQUIRE_TOOLS is set but a tmpfs cannot be mounted (needs root)");
        }
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(SmallFileSystem {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }
}

impl Drop for SmallFileSystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn fill(path: &Path, megabytes: usize) {
    std::fs::write(path, vec![1u8; megabytes * 1024 * 1024]).unwrap();
}

async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("scraper-token-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

backend_tests! {
    async fn a_nearly_full_disk_pauses_raw_readings_and_they_resume_with_room(backend: Backend) {
        let Some(small) = SmallFileSystem::mount(64) else { return };
        let data_dir = small.path.join("data");
        let app = TestApp::start_with(backend, |c| {
            c.data_dir = data_dir.clone();
            c.disk.min_free_mb = 24;
            c.mqtt.allow_anonymous = true;
            c.http.metrics_token = Some("scraper-token-0123456789".into());
        })
        .await;
        let token = app.admin_token().await;
        let mut bus = app.events.subscribe();
        app.create_id("/api/v1/tags", &token, json!({"mac_address": "AC233F112233"})).await;
        let gateway = Client::connect(app.mqtt_addr.unwrap(), Options::new("gw-1").login("gateway", app.gateway_password.as_deref().unwrap())).await.unwrap();
        let stored = async || app.get("/api/v1/collection-logs/?limit=1000", &token).await.1.as_array().unwrap().len();
        let report = async |rssi: i32| {
            let payload = format!(r#"{{"tag_mac":"AC233F112233","rssi":{rssi}}}"#);
            gateway.publish("rtls/gateways/AC233FC0AAAA/beacon", QoS::AtLeastOnce, false, payload).await;
        };
        let disk_status = async || app.get("/health", &token).await.1["disk"]["status"].as_str().unwrap().to_string();
        let within = Duration::from_secs(20);

        report(-60).await;
        assert!(eventually_within(within, async || stored().await == 1).await);
        assert!(eventually_within(within, async || metric(&app, "sv_disk_free_bytes").await > 0).await);
        assert_eq!(disk_status().await, "ok");

        // 48 of 64 MB taken: below the 24 MB floor.
        let ballast = small.path.join("ballast");
        fill(&ballast, 48);
        assert!(eventually_within(within, async || disk_status().await == "low").await, "the guard notices");
        let (_, health) = app.get("/health", &token).await;
        assert_eq!(health["status"], "degraded", "{health}");
        assert_eq!(metric(&app, "sv_disk_low").await, 1);
        let disk_alerts = async || {
            let (_, list) = app.get("/api/v1/alert-events?event_type=DISK_LOW", &token).await;
            list.as_array().unwrap().clone()
        };
        assert!(eventually_within(within, async || disk_alerts().await.len() == 1).await, "an alert for the operators");
        assert_eq!(disk_alerts().await[0]["is_open"], true);
        report(-61).await;
        report(-62).await;
        // The pipeline still hears them (positions, presence), it only does not store them.
        assert!(eventually_within(within, async || metric(&app, "sv_ingest_readings_unstored_disk_low_total").await == 2).await);
        assert_eq!(stored().await, 1, "raw readings wait for room");

        std::fs::remove_file(&ballast).unwrap();
        assert!(eventually_within(within, async || disk_status().await == "ok").await, "storing resumes");
        report(-63).await;
        assert!(eventually_within(within, async || stored().await == 2).await);
        let closed = disk_alerts().await;
        assert_eq!((closed.len(), &closed[0]["is_open"]), (1, &json!(false)), "{closed:?}");

        let events: Vec<String> = crate::common::events_until(&app, &mut bus, |seen| ["DISK_RECOVERED", "ALERT_OPENED", "ALERT_CLOSED"].iter().all(|t| seen.iter().any(|e| e.event_type.as_str() == *t))).await.iter().map(|e| e.event_type.as_str().to_string()).collect();
        let disk: Vec<&String> = events.iter().filter(|e| e.starts_with("DISK_")).collect();
        assert_eq!(disk, ["DISK_LOW", "DISK_RECOVERED"], "{events:?}");
        assert!(events.iter().any(|e| e == "ALERT_OPENED") && events.iter().any(|e| e == "ALERT_CLOSED"), "{events:?}");
    }
}
