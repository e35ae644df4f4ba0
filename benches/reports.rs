//! The 19 reports at 10 million sessions (issue 17; BENCHMARKS.md has the figures).
//!
//!     cargo bench --bench reports
//!     SV_BENCH_SESSIONS=1000000 cargo bench --bench reports    # a smaller history first
//!
//! Writes 30 days of presence for 2,000 tags (one person each, ten groups) at 100 gateways
//! in two buildings — about `SV_BENCH_SESSIONS` sessions (default 10 million), short visits
//! around each tag's corner of the site and now and then a 13-hour one — with their rollups,
//! hourly and coarser (computed by `reports::rollups::cells` and added by
//! `reports::rollups::add_cells_*`, the pass's own code), and one tag's
//! position history (a point every 2 s for the 30 days). Then it starts the appliance and
//! times each report over HTTP for the last whole-hour 7-day window and for a 7-day window
//! ending 37 minutes past an hour (median of 5 runs after one warm-up), one person's
//! history for one hour, and the pass that rolls sessions up. On SQLite, and on
//! PostgreSQL too when `SV_BENCH_DATABASE_URL` names an empty database (`SV_BENCH_SQLITE=0`:
//! PostgreSQL only). `SV_BENCH_SQLITE_FILE=path` writes SQLite's history there and keeps it
//! (the file must not exist).

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};

use securityvision::reports::rollups::{self, ClosedSession, LONG_SECONDS, cells};
use sqlx::Connection;

mod common;

const TAGS: usize = 2_000;
const GATEWAYS: usize = 100;
const DAYS: i64 = 30;
const GROUPS: usize = 10;
const RUNS: usize = 5;

fn main() {
    securityvision::tls::install_default_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let sessions: usize = std::env::var("SV_BENCH_SESSIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    runtime.block_on(async {
        if std::env::var("SV_BENCH_SQLITE").as_deref() != Ok("0") {
            bench(None, sessions).await;
        }
        if let Ok(url) = std::env::var("SV_BENCH_DATABASE_URL") {
            bench(Some(url), sessions).await;
        }
    });
}

/// splitmix64: a fixed, reproducible history without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

struct Site {
    devices: Vec<i64>,
    tags: Vec<i64>,
    person: i64,
    group: i64,
    building: i64,
    plan: i64,
}

async fn site(store: &securityvision::store::Store) -> Site {
    use securityvision::store::people::{Person, PersonGroup, Tag};
    let mut devices = Vec::new();
    let mut buildings = Vec::new();
    let mut plans = Vec::new();
    for b in 0..2 {
        let (name, code) = (format!("Building {b}"), format!("B{b}"));
        let plan =
            common::Plan::save(store, (&name, &code), &format!("Plan {b}"), (100.0, 50.0)).await;
        for g in 0..GATEWAYS / 2 {
            let device = plan.gateway(
                format!("GW {b}-{g}"),
                format!("AC233FC1{b:02X}{g:02X}"),
                None,
            );
            devices.push(store.save_device(&device).await.unwrap().id);
        }
        buildings.push(plan.building_id);
        plans.push(plan.id);
    }
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let group = PersonGroup {
            name: format!("Team {g}"),
            ..Default::default()
        };
        groups.push(store.save_person_group(&group).await.unwrap().id);
    }
    let mut tags = Vec::new();
    let mut first_person = 0;
    for i in 0..TAGS {
        let person = Person {
            full_name: format!("Person {i}"),
            active: true,
            ..Default::default()
        };
        let person = store
            .save_person(&person, Some(&[groups[i % GROUPS]]))
            .await
            .unwrap();
        if i == 0 {
            first_person = person.id;
        }
        let tag = Tag {
            mac_address: format!("C0FFEE{i:06X}"),
            person_id: Some(person.id),
            active: true,
            ..Default::default()
        };
        tags.push(store.save_tag(&tag).await.unwrap().id);
    }
    Site {
        devices,
        tags,
        person: first_person,
        group: groups[0],
        building: buildings[0],
        plan: plans[0],
    }
}

/// Where a tag is in its history.
struct Cursor {
    t: DateTime<Utc>,
}

/// One tag's visits that start before `until`: back-to-back (mean cycle `cycle` seconds:
/// 85% present, 15% gap), 80% at the three gateways of its corner, the others anywhere,
/// and about one 13-hour stay in ten days.
#[allow(clippy::too_many_arguments)]
fn tag_history(
    rng: &mut Rng,
    site: &Site,
    index: usize,
    cursor: &mut Cursor,
    until: DateTime<Utc>,
    end: DateTime<Utc>,
    cycle: f64,
    out: &mut Vec<ClosedSession>,
) {
    let long_chance = cycle / (10.0 * 86_400.0);
    while cursor.t < until {
        let t = cursor.t;
        let home = index % GATEWAYS;
        let g = if rng.unit() < 0.8 {
            (home + rng.below(3) as usize) % GATEWAYS
        } else {
            rng.below(GATEWAYS as u64) as usize
        };
        let length = if rng.unit() < long_chance {
            13.0 * 3600.0
        } else {
            cycle * (0.3 + 1.1 * rng.unit())
        };
        let ended = (t + chrono::Duration::milliseconds((length * 1000.0) as i64)).min(end);
        out.push(ClosedSession {
            tag_id: site.tags[index],
            device_id: site.devices[g],
            started_at: t,
            ended_at: ended,
            duration_seconds: (ended - t).num_seconds(),
        });
        let gap = cycle * 0.3 * rng.unit();
        cursor.t = ended + chrono::Duration::milliseconds((gap * 1000.0) as i64 + 1000);
    }
}

/// `rolled`: written as the pass leaves them (in the rollups, or too long for them);
/// otherwise waiting for the pass.
async fn insert_sessions(conn: &mut Conn, sessions: &[ClosedSession], rolled: bool) {
    let state = |s: &ClosedSession| -> i16 {
        match (rolled, s.duration_seconds >= LONG_SECONDS) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        }
    };
    match conn {
        Conn::Sqlite(c) => {
            for chunk in sessions.chunks(1000) {
                let row = "(?, ?, ?, ?, ?, 3, FALSE, ?)";
                let sql = format!(
                    "INSERT INTO presence_sessions (device_id, tag_id, started_at, ended_at, \
                     duration_seconds, samples_count, is_open, rollup_state) VALUES {}",
                    vec![row; chunk.len()].join(", ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for s in chunk {
                    q = q
                        .bind(s.device_id)
                        .bind(s.tag_id)
                        .bind(s.started_at)
                        .bind(s.ended_at)
                        .bind(s.duration_seconds)
                        .bind(state(s));
                }
                q.execute(&mut *c).await.unwrap();
            }
        }
        Conn::Pg(c) => {
            for chunk in sessions.chunks(20_000) {
                sqlx::query(
                    "INSERT INTO presence_sessions (device_id, tag_id, started_at, ended_at, \
                     duration_seconds, samples_count, is_open, rollup_state) \
                     SELECT d, t, s, e, du, 3, FALSE, st FROM UNNEST($1::bigint[], $2::bigint[], \
                     $3::timestamptz[], $4::timestamptz[], $5::bigint[], $6::smallint[]) \
                     AS u(d, t, s, e, du, st)",
                )
                .bind(chunk.iter().map(|s| s.device_id).collect::<Vec<_>>())
                .bind(chunk.iter().map(|s| s.tag_id).collect::<Vec<_>>())
                .bind(chunk.iter().map(|s| s.started_at).collect::<Vec<_>>())
                .bind(chunk.iter().map(|s| s.ended_at).collect::<Vec<_>>())
                .bind(chunk.iter().map(|s| s.duration_seconds).collect::<Vec<_>>())
                .bind(chunk.iter().map(state).collect::<Vec<_>>())
                .execute(&mut *c)
                .await
                .unwrap();
            }
        }
    }
}

/// The rollups of `sessions`, every table, added as the pass adds them.
async fn insert_rollups(conn: &mut Conn, sessions: &[ClosedSession]) -> usize {
    let cells = cells(sessions);
    match conn {
        Conn::Sqlite(c) => rollups::add_cells_sqlite(c, &cells).await,
        Conn::Pg(c) => rollups::add_cells_postgres(c, &cells).await,
    }
    .unwrap()
}

/// One point every 2 s for one tag, walking on its plan.
async fn insert_history(conn: &mut Conn, tag: i64, plan: i64, from: DateTime<Utc>, points: i64) {
    let ts: Vec<DateTime<Utc>> = (0..points)
        .map(|i| from + chrono::Duration::seconds(2 * i))
        .collect();
    let xy: Vec<f64> = (0..points).map(|i| (i % 1000) as f64 / 10.0).collect();
    match conn {
        Conn::Sqlite(c) => {
            for (ts, xy) in ts.chunks(2000).zip(xy.chunks(2000)) {
                let row = "(?, ?, ?, ?, ?, 1.5)";
                let sql = format!(
                    "INSERT INTO position_history (tag_id, floor_plan_id, ts, x, y, accuracy_m) \
                     VALUES {}",
                    vec![row; ts.len()].join(", ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (t, v) in ts.iter().zip(xy) {
                    q = q.bind(tag).bind(plan).bind(*t).bind(*v).bind(*v / 2.0);
                }
                q.execute(&mut *c).await.unwrap();
            }
        }
        Conn::Pg(c) => {
            for (ts, xy) in ts.chunks(50_000).zip(xy.chunks(50_000)) {
                sqlx::query(
                    "INSERT INTO position_history (tag_id, floor_plan_id, ts, x, y, accuracy_m) \
                     SELECT $1, $2, t, v, v / 2, 1.5 FROM UNNEST($3::timestamptz[], \
                     $4::float8[]) AS u(t, v)",
                )
                .bind(tag)
                .bind(plan)
                .bind(ts.to_vec())
                .bind(xy.to_vec())
                .execute(&mut *c)
                .await
                .unwrap();
            }
        }
    }
}

async fn connect(url: &str) -> Conn {
    if url.starts_with("sqlite") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
            .unwrap()
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
            .pragma("cache_size", "-1000000");
        Conn::Sqlite(
            sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap(),
        )
    } else {
        Conn::Pg(sqlx::PgConnection::connect(url).await.unwrap())
    }
}

async fn execute(conn: &mut Conn, sql: &'static str) {
    match conn {
        Conn::Sqlite(c) => sqlx::query(sql).execute(&mut *c).await.map(drop),
        Conn::Pg(c) => sqlx::query(sql).execute(&mut *c).await.map(drop),
    }
    .unwrap();
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

async fn bench(url: Option<String>, target: usize) {
    let backend = if url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let dir = tempfile::tempdir().unwrap();
    // `SV_BENCH_SQLITE_FILE` keeps SQLite's history after the run, for `EXPLAIN QUERY PLAN`.
    let file = std::env::var("SV_BENCH_SQLITE_FILE")
        .map_or_else(|_| dir.path().join("bench.db"), std::path::PathBuf::from);
    let url = url.unwrap_or_else(|| format!("sqlite://{}", file.display()));
    let mut config = securityvision::config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    config.database.url = Some(url.clone());
    config.mqtt.listen = Some("127.0.0.1:0".parse().unwrap());
    config.log.filter = "warn".into();
    // The pass would find nothing to do: the generator writes the rollups itself.
    config.reports.rollup_interval_seconds = 3600;
    let app = securityvision::server::App::prepare(config, Default::default())
        .await
        .unwrap();
    let store = app.state.store.clone();
    let password = app.first_admin.as_ref().unwrap().password.clone();
    let site = site(&store).await;

    let end = Utc::now()
        .duration_trunc(chrono::Duration::hours(1))
        .unwrap();
    let start = end - chrono::Duration::days(DAYS);
    let cycle = (DAYS * 86_400) as f64 * TAGS as f64 / target as f64;
    let mut conn = connect(&url).await;
    let began = Instant::now();
    let (mut sessions, mut rollups) = (0, 0);
    let mut rng = Rng(17);
    let mut cursors: Vec<Cursor> = (0..TAGS)
        .map(|_| Cursor {
            t: start + chrono::Duration::seconds(rng.below(600) as i64),
        })
        .collect();
    // Day by day (a transaction each), every tag, so that the time indexes grow at their
    // end; the rollups of a visit that crosses midnight are added to on the next day.
    execute(&mut conn, "BEGIN").await;
    for day in 1..=DAYS {
        let until = start + chrono::Duration::days(day);
        let mut list = Vec::new();
        for (i, cursor) in cursors.iter_mut().enumerate() {
            tag_history(&mut rng, &site, i, cursor, until, end, cycle, &mut list);
        }
        insert_sessions(&mut conn, &list, true).await;
        sessions += list.len();
        rollups += insert_rollups(&mut conn, &list).await;
        execute(&mut conn, "COMMIT").await;
        execute(&mut conn, "BEGIN").await;
    }
    insert_history(&mut conn, site.tags[0], site.plan, start, DAYS * 86_400 / 2).await;
    execute(&mut conn, "COMMIT").await;
    // PostgreSQL's autovacuum would gather statistics after such a load; SQLite has none
    // on an appliance (nothing runs ANALYZE), so none here either.
    if backend == "PostgreSQL" {
        execute(&mut conn, "ANALYZE").await;
    }
    println!(
        "{backend}: {sessions} sessions, {rollups} rollup rows, {} history points written in {:.0} s",
        DAYS * 86_400 / 2,
        began.elapsed().as_secs_f64()
    );

    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = app.start(http, shutdown.clone()).await.unwrap();
    tokio::spawn(running.wait());
    let client = reqwest::Client::new();
    let token = common::first_login(&client, &base, &password, "Bench-Reports-2026!").await;

    let text = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (p, g, d, b) = (site.person, site.group, site.devices[0], site.building);
    // The last 7 days ending on the last whole hour, then ending 37 minutes after the
    // hour before it (as "the last 7 days" ending now: the rollups answer for the whole
    // hours, the sessions at the two partial edges for the rest).
    let partial = chrono::Duration::minutes(23);
    for (to, kind) in [
        (end, "7-day window"),
        (end - partial, "7-day window on partial hours"),
    ] {
        let w = format!(
            "from_ts={}&to_ts={}",
            text(to - chrono::Duration::days(7)),
            text(to)
        );
        let reports = [
            (
                "dwell-sessions",
                format!("reports/dwell-sessions?device_id={d}&{w}"),
            ),
            ("overview", format!("reports/overview?{w}")),
            (
                "person-group summary",
                format!("reports/person-group/{g}/summary?{w}"),
            ),
            ("person summary", format!("reports/person/{p}/summary?{w}")),
            (
                "person timeline",
                format!("reports/person/{p}/timeline?{w}"),
            ),
            (
                "person calendar",
                format!("reports/person/{p}/time-distribution/calendar?{w}"),
            ),
            (
                "person hour of day",
                format!("reports/person/{p}/time-distribution/hour-of-day?{w}"),
            ),
            (
                "person day of week",
                format!("reports/person/{p}/time-distribution/day-of-week?{w}"),
            ),
            (
                "person hour by gateway",
                format!("reports/person/{p}/time-distribution/hour-by-gateway?{w}"),
            ),
            ("person alerts", format!("reports/person/{p}/alerts?{w}")),
            (
                "gateways usage summary",
                format!("reports/gateways/usage-summary?{w}"),
            ),
            (
                "gateway time of day",
                format!("reports/gateways/{d}/time-of-day?{w}"),
            ),
            (
                "gateway occupancy",
                format!("reports/gateways/{d}/occupancy?{w}"),
            ),
            (
                "gateway concurrency",
                format!("reports/gateways/{d}/concurrency?{w}"),
            ),
            (
                "building summary",
                format!("reports/buildings/{b}/summary?{w}"),
            ),
            (
                "building time of day",
                format!("reports/buildings/{b}/time-of-day?{w}"),
            ),
            (
                "building calendar",
                format!("reports/buildings/{b}/time-distribution/calendar?{w}"),
            ),
            (
                "gateway alerts",
                format!("reports/gateways/{d}/alerts/summary?{w}"),
            ),
            (
                "building alerts",
                format!("reports/buildings/{b}/alerts/summary?{w}"),
            ),
            (
                "position history, 1 person, 1 hour",
                format!(
                    "positions/history?person_id={p}&from_ts={}&to_ts={}",
                    text(end - chrono::Duration::hours(30)),
                    text(end - chrono::Duration::hours(29))
                ),
            ),
        ];
        let time = async |path: &str| {
            let mut times = Vec::new();
            for run in 0..=RUNS {
                let began = Instant::now();
                let response = client
                    .get(format!("{base}/api/v1/{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let _body = response.bytes().await.unwrap();
                assert!(status.is_success(), "{path}: {status}");
                if run > 0 {
                    times.push(began.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times
        };
        println!("{backend}, {kind} ({w}), median of {RUNS} runs:");
        for (name, path) in &reports {
            let times = time(path).await;
            let max = times.iter().copied().fold(0.0, f64::max);
            println!("  {name:<36} {:>8.1} ms (max {max:.1})", median(times));
        }
    }

    // The pass: 100,000 sessions closed in the history's last two hours, rolled up in
    // passes of 5,000. They end before `end`, as on a live site: sessions ending in the
    // future would be scanned by the last piece's covering read of every later run on a
    // kept database (BENCHMARKS.md, session 16).
    let later: Vec<ClosedSession> = (0..100_000)
        .map(|i| {
            let t = end - chrono::Duration::seconds(6_000 - i / TAGS as i64 * 600);
            ClosedSession {
                tag_id: site.tags[i as usize % TAGS],
                device_id: site.devices[i as usize % GATEWAYS],
                started_at: t,
                ended_at: t + chrono::Duration::seconds(300),
                duration_seconds: 300,
            }
        })
        .collect();
    execute(&mut conn, "BEGIN").await;
    insert_sessions(&mut conn, &later, false).await;
    execute(&mut conn, "COMMIT").await;
    let began = Instant::now();
    let rolled = store.roll_up_all_sessions().await.unwrap();
    let seconds = began.elapsed().as_secs_f64();
    println!(
        "{backend}: the pass rolled up {rolled} sessions in {seconds:.1} s ({:.0} sessions/s)",
        rolled as f64 / seconds
    );
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(500)).await;
}
