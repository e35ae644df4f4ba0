//! Two appliances, one site (`docs/cluster.md`): every node serves the API; one of them, the
//! leader, does the site's stateful work. The leader is whoever holds a PostgreSQL
//! session-level advisory lock on a connection of its own (not from the pool): the lock
//! goes with the connection, so a node that dies or loses PostgreSQL loses it too.
//!
//! Each takeover bumps an epoch (`cluster_leader`); the pipeline's write batches commit only
//! while their epoch is current ([`Cluster::holds`] before each batch, and the epoch checked
//! in the batch's transaction), so a node that lost the lock cannot write after its successor
//! started. A new leader waits `cluster.lease_seconds` after taking the lock before it
//! serves: by then the previous one has noticed (it checks its lock's connection every third
//! of that) and stepped down.

pub mod live;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{Mutex, Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;

/// The advisory lock's key ("SVLEAD" in ASCII): one leader per database.
pub const LOCK_KEY: i64 = 0x5356_4c45_4144;

/// How often a standby tries for the lock, and waits before reconnecting to PostgreSQL.
const RETRY: Duration = Duration::from_secs(1);

/// What this node does on the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Cluster mode off: this node does everything.
    Single,
    Standby,
    /// Leading, in this epoch.
    Leader(i64),
}

impl Role {
    /// As `/health` says it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Single => "single",
            Role::Standby => "standby",
            Role::Leader(_) => "leader",
        }
    }

    /// Whether this node does the stateful work.
    pub fn leads(self) -> bool {
        self != Role::Standby
    }
}

/// This node's part in the cluster: its role for the API, the pipeline's fence.
#[derive(Clone)]
pub struct Cluster {
    /// The elector's view: whether this node holds the lock.
    role: Arc<watch::Sender<Role>>,
    /// What the pipeline serves: set by the leader's work once its tasks are started (the
    /// alert engine listens before the pipeline rebuilds and announces positions).
    serving: Arc<watch::Sender<Role>>,
    /// The connection holding the lock, while this node holds it.
    lock: Arc<Mutex<Option<PgConnection>>>,
    lost: Arc<Notify>,
    check_within: Duration,
    metrics: Arc<Metrics>,
}

impl Cluster {
    /// Cluster mode off, or a standby waiting for the lock.
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Cluster {
        let first = if config.cluster.enabled {
            Role::Standby
        } else {
            Role::Single
        };
        Cluster {
            role: Arc::new(watch::channel(first).0),
            serving: Arc::new(watch::channel(first).0),
            lock: Arc::default(),
            lost: Arc::default(),
            check_within: check_every(config.cluster.lease_seconds),
            metrics,
        }
    }

    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    pub fn roles(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// What the pipeline serves (see [`Cluster::serve`]).
    pub fn serving(&self) -> watch::Receiver<Role> {
        self.serving.subscribe()
    }

    /// Tells the pipeline to take over (`Role::Leader`) or to step down.
    pub fn serve(&self, role: Role) {
        self.serving.send_replace(role);
    }

    /// Whether this node still leads in `epoch`: its lock's connection answers. Asked before
    /// each write batch; a dead connection makes the node step down at once.
    pub async fn holds(&self, epoch: i64) -> bool {
        if self.role() != Role::Leader(epoch) {
            return false;
        }
        self.check().await
    }

    /// Whether the lock's connection answers; forgets it (and wakes the elector) if not.
    async fn check(&self) -> bool {
        let mut slot = self.lock.lock().await;
        let alive = match slot.as_mut() {
            Some(conn) => tokio::time::timeout(self.check_within, conn.ping())
                .await
                .is_ok_and(|answered| answered.is_ok()),
            None => false,
        };
        if !alive && slot.take().is_some() {
            tracing::error!("lost the connection holding the leader's lock; stepping down");
            self.lost.notify_waiters();
        }
        alive
    }

    fn set_role(&self, role: Role) {
        self.metrics.cluster_leader.store(
            i64::from(matches!(role, Role::Leader(_))),
            Ordering::Relaxed,
        );
        self.role.send_replace(role);
    }
}

/// How often the leader checks its lock: a third of the lease.
fn check_every(lease_seconds: u64) -> Duration {
    Duration::from_millis(lease_seconds * 1000 / 3).max(Duration::from_millis(500))
}

/// This node's name: `cluster.node_name`, else the host's name.
pub fn node_name(config: &Config) -> String {
    let configured = config.cluster.node_name.trim();
    if !configured.is_empty() {
        return configured.to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "securityvision".into())
}

/// The elector: tries for the lock every second while standing by; once it has it, bumps
/// the epoch, waits out the lease, leads until the lock's connection fails (then stands by
/// again) or `shutdown`. On shutdown it keeps the lock until `release` (the pipeline's last
/// batch is written under it), then lets go.
pub async fn run(
    cluster: Cluster,
    config: Arc<Config>,
    shutdown: CancellationToken,
    release: CancellationToken,
) {
    let node = node_name(&config);
    let lease = Duration::from_secs(config.cluster.lease_seconds);
    let options = match PgConnectOptions::from_str(&config.database_url()) {
        Ok(options) => options.application_name(&format!("securityvision-leader-lock {node}")),
        Err(err) => return tracing::error!(error = %err, "cluster: bad database.url"),
    };
    loop {
        let Some((conn, epoch)) = acquire(&options, &node, &shutdown).await else {
            return;
        };
        cluster
            .metrics
            .cluster_takeovers
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            node,
            epoch,
            lease_seconds = lease.as_secs(),
            "took the leader's lock; leading once the lease has passed"
        );
        *cluster.lock.lock().await = Some(conn);
        let held = match keep(&cluster, Some(lease), &shutdown).await {
            Keep::Elapsed => {
                cluster.set_role(Role::Leader(epoch));
                tracing::info!(node, epoch, "leading the site");
                keep(&cluster, None, &shutdown).await
            }
            other => other,
        };
        if held == Keep::Shutdown {
            release.cancelled().await;
            cluster.set_role(Role::Standby);
            *cluster.lock.lock().await = None;
            return;
        }
        cluster.set_role(Role::Standby);
        *cluster.lock.lock().await = None;
        tracing::warn!(node, epoch, "no longer leading; standing by");
        // A node that just lost its lock is suspect (its network, its database link):
        // the others get the first chance to take over.
        tokio::select! {
            () = tokio::time::sleep(lease) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Keep {
    Elapsed,
    Lost,
    Shutdown,
}

/// Checks the lock's connection every third of the lease, for `until` or for ever.
async fn keep(cluster: &Cluster, until: Option<Duration>, shutdown: &CancellationToken) -> Keep {
    let deadline = until.map(|d| tokio::time::Instant::now() + d);
    loop {
        let lost = cluster.lost.notified();
        let next = tokio::time::Instant::now() + cluster.check_within;
        let wake = deadline.map_or(next, |d| d.min(next));
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = lost => return Keep::Lost,
            () = shutdown.cancelled() => return Keep::Shutdown,
        }
        if !cluster.check().await {
            return Keep::Lost;
        }
        if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            return Keep::Elapsed;
        }
    }
}

/// Connects and tries for the lock until it has it (then bumps the epoch on the same
/// connection), or `shutdown`.
async fn acquire(
    options: &PgConnectOptions,
    node: &str,
    shutdown: &CancellationToken,
) -> Option<(PgConnection, i64)> {
    let mut warned = false;
    loop {
        match try_lock(options, node, shutdown).await {
            Ok(Some(held)) => return Some(held),
            Ok(None) => return None,
            Err(err) => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(error = %err, "cluster: PostgreSQL unavailable for the leader's lock; retrying");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = shutdown.cancelled() => return None,
        }
    }
}

const TAKE_OVER: &str = "INSERT INTO cluster_leader (id, epoch, node_name, since) \
     VALUES (1, 1, $1, now()) \
     ON CONFLICT (id) DO UPDATE SET epoch = cluster_leader.epoch + 1, \
     node_name = EXCLUDED.node_name, since = EXCLUDED.since \
     RETURNING epoch";

async fn try_lock(
    options: &PgConnectOptions,
    node: &str,
    shutdown: &CancellationToken,
) -> Result<Option<(PgConnection, i64)>, sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    loop {
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if locked {
            // Waits for a batch of the previous leader still in its transaction (it holds
            // the row); any later batch of its epoch is refused.
            let epoch: i64 = sqlx::query_scalar(TAKE_OVER)
                .bind(node)
                .fetch_one(&mut conn)
                .await?;
            return Ok(Some((conn, epoch)));
        }
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = shutdown.cancelled() => return Ok(None),
        }
    }
}
