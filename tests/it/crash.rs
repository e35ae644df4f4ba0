//! Crash recovery: the real binary killed with SIGKILL while gateways publish at full speed.
//! Every QoS 1 report acknowledged before the kill is stored (a PUBACK is sent only after the
//! commit), the database opens cleanly and the appliance starts again on it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::cli::{KillOnDrop, admin_token, serve_binary};
use crate::common::{Backend, TestDatabase, backend_tests, eventually_within};

const READINGS_PER_REPORT: usize = 20;
const TAG: &str = "AC233F00C0DE";

/// Starts `serve` in `work` on `db`; returns the process, its HTTP base URL and MQTT port.
async fn serve(work: &Path, db: &TestDatabase) -> (KillOnDrop, String, u16) {
    let served = serve_binary(work, |c| {
        c.env("SV_DATABASE_URL", &db.url);
    })
    .await;
    (served.child, served.http_base, served.mqtt_port)
}

/// One value of `sql`, read straight from the database.
async fn scalar<T>(backend: Backend, db: &TestDatabase, sql: &'static str) -> T
where
    T: Send
        + Unpin
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>,
{
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

async fn stored_readings(backend: Backend, db: &TestDatabase) -> i64 {
    scalar(backend, db, "SELECT count(*) FROM collection_logs").await
}

backend_tests! {
    async fn a_kill_under_load_loses_no_acknowledged_reading(backend: Backend) {
        securityvision::tls::install_default_provider();
        let work = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(backend, work.path()).await;
        let (mut serving, base, mqtt) = serve(work.path(), &db).await;
        let token = admin_token(&base, work.path()).await;
        let created = reqwest::Client::new().post(format!("{base}/api/v1/tags/")).bearer_auth(&token)
            .json(&json!({"mac_address": TAG})).send().await.unwrap();
        assert_eq!(created.status(), reqwest::StatusCode::CREATED);
        let password = std::fs::read_to_string(work.path().join("data/initial-mqtt-gateway-password")).unwrap();

        // Four gateways publish as fast as their in-flight windows allow, counting PUBACKs.
        let acked = Arc::new(AtomicUsize::new(0));
        for g in 0..4 {
            let mut options = MqttOptions::new(format!("crash-gw-{g}"), "127.0.0.1", mqtt);
            options.set_credentials("gateway", password.trim()).set_keep_alive(Duration::from_secs(30)).set_inflight(50);
            let (client, mut events) = AsyncClient::new(options, 100);
            let acked = acked.clone();
            tokio::spawn(async move {
                while let Ok(event) = events.poll().await {
                    if let Event::Incoming(Packet::PubAck(_)) = event {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
            tokio::spawn(async move {
                let readings: Vec<Value> = (0..READINGS_PER_REPORT).map(|i| json!({"tag_mac": TAG, "rssi": -50 - i as i64})).collect();
                let payload = json!({"readings": readings}).to_string();
                let topic = format!("rtls/gateways/AC233FC0000{g}/beacon");
                while client.publish(&topic, QoS::AtLeastOnce, false, payload.clone()).await.is_ok() {}
            });
        }
        assert!(eventually_within(Duration::from_secs(60), async || acked.load(Ordering::SeqCst) >= 2000).await, "reports are acknowledged");
        serving.0.kill().unwrap();
        serving.0.wait().unwrap();
        let acknowledged = acked.load(Ordering::SeqCst) * READINGS_PER_REPORT;

        let stored = stored_readings(backend, &db).await;
        assert!(stored >= acknowledged as i64, "{acknowledged} readings acknowledged, {stored} stored");
        if backend == Backend::Sqlite {
            let check: String = scalar(backend, &db, "PRAGMA integrity_check").await;
            assert_eq!(check, "ok");
        }

        // It starts again on that database and goes on storing.
        let restarting = std::time::Instant::now();
        let (_serving, base, _) = serve(work.path(), &db).await;
        // Figures for `scripts/crash-recovery` (BENCHMARKS.md).
        eprintln!(
            "crash-recovery {backend:?}: acknowledged {acknowledged} stored {stored} healthy_after_ms {}",
            restarting.elapsed().as_millis()
        );
        let health = reqwest::get(format!("{base}/api/v1/health")).await.unwrap();
        assert_eq!(health.status(), reqwest::StatusCode::OK);
        assert!(stored_readings(backend, &db).await >= stored);
    }
}
