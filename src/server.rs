//! `serve`: opens the store, prepares first-start state, then runs the HTTP API, the MQTT
//! broker (or the external-broker consumer) and the ingest hand-off until the shutdown
//! token is cancelled, and stops them in order: stop accepting, close the MQTT clients
//! (everything acknowledged is in the ingest queue by then), drain the queue, close the
//! store.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::util::MapRequestLayer;
use tower::{Layer, ServiceExt};

use crate::api::{self, AppState};
use crate::auth::{AddressRateLimiter, LoginThrottle, TokenKeys};
use crate::bootstrap::{self, FirstAdmin};
use crate::broker::{self, Broker};
use crate::cambus::collector::{Collector, EventRecorder};
use crate::cambus::publisher::{BusOut, CambusHandle, Command, Publisher};
use crate::config::{Config, MqttMode};
use crate::ingest::pipeline::Pipeline;
use crate::ingest::view::{ControlReceiver, PipelineView};
use crate::jobs::device_monitor::OfflineReports;
use crate::shutdown::{NamedTask, TaskEnd};

#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Refuse to start on an outdated schema instead of migrating it.
    pub no_migrate: bool,
}

/// A prepared appliance: store open and migrated, first-start state in place.
pub struct App {
    pub state: AppState,
    /// Set when this start created the first administrator.
    pub first_admin: Option<FirstAdmin>,
    /// Set when this start created the first MQTT gateway credential.
    pub first_gateway: Option<bootstrap::FirstGateway>,
    /// Commands for the CAM-BUS publisher (started with the broker).
    cambus_commands: tokio::sync::mpsc::Receiver<Command>,
    /// The API's changes, for the ingest pipeline.
    pipeline_control: ControlReceiver,
    /// Events for webhooks that the API did not write itself, for the outbox writer.
    outbox_events: tokio::sync::mpsc::UnboundedReceiver<crate::events::Event>,
}

/// A started appliance.
pub struct Running {
    pub http_addr: SocketAddr,
    /// The embedded broker's plain, TLS and WebSocket listeners (none in external mode).
    pub mqtt_addr: Option<SocketAddr>,
    pub mqtt_tls_addr: Option<SocketAddr>,
    pub mqtt_ws_addr: Option<SocketAddr>,
    pub liveness: Liveness,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// How long each part may take to answer the liveness check.
const LIVENESS_WAIT: Duration = Duration::from_secs(5);

/// What the systemd watchdog checks: the database answers, the embedded MQTT router
/// routes, the ingest pipeline's loop turns.
#[derive(Clone)]
pub struct Liveness {
    store: crate::store::Store,
    pipeline: Arc<PipelineView>,
    router: Option<Arc<tokio::sync::Mutex<broker::RouterProbe>>>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Liveness {
    /// A status line when everything answers, else what does not.
    pub async fn check(&self) -> Result<String, String> {
        match tokio::time::timeout(LIVENESS_WAIT, self.store.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(format!("database: {err}")),
            Err(_) => return Err("database: no answer".into()),
        }
        if let Some(router) = &self.router
            && !router.lock().await.routes(LIVENESS_WAIT).await
        {
            return Err("MQTT router: not routing".into());
        }
        if !self.pipeline.ping(LIVENESS_WAIT).await {
            return Err("ingest pipeline: not turning".into());
        }
        let metrics = &self.metrics;
        Ok(format!(
            "Serving; {} MQTT connections, {} messages queued for ingest",
            metrics
                .mqtt_connections
                .load(std::sync::atomic::Ordering::Relaxed),
            metrics
                .ingest_queue_depth
                .load(std::sync::atomic::Ordering::Relaxed),
        ))
    }
}

impl Running {
    /// Waits until the appliance has stopped (after the shutdown token was cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the appliance task failed")?
    }
}

impl App {
    pub async fn prepare(config: Config, options: ServeOptions) -> anyhow::Result<App> {
        crate::tls::install_default_provider();
        let store = bootstrap::open_store(&config).await?;
        if options.no_migrate {
            store.ensure_schema_current().await?;
        } else {
            let migrations = store.migration_status().await?;
            let pending = crate::store::MigrationState::pending(&migrations);
            if pending > 0 {
                // An upgrade can be undone: the data as the previous version left it.
                if crate::backup::needed_before_migrating(&store, &migrations) {
                    let backup = crate::systemd::extending_start(
                        "Backing up the database before migrating it",
                        crate::backup::before_migrating(&config, &store, &migrations),
                    );
                    if let Some(backup) = backup.await.context("backing up before migrating")? {
                        tracing::info!(file = %backup.path.display(), "backup taken before migrating");
                    }
                }
                let status = format!("Applying {pending} database migration(s)");
                let applied = crate::systemd::extending_start(&status, store.migrate())
                    .await
                    .context("applying database migrations")?;
                tracing::info!(applied, "database migrations applied");
            }
        }
        let secret = bootstrap::jwt_secret(&config)?;
        let tokens = TokenKeys::new(secret.as_bytes(), config.auth.token_ttl_minutes)?;
        let first_admin = bootstrap::ensure_first_admin(&store, &config).await?;
        let first_gateway = bootstrap::ensure_first_gateway_credential(&store, &config).await?;
        let throttle = LoginThrottle::new(
            store.clone(),
            config.auth.max_failed_logins,
            config.auth.max_failed_logins_per_account,
            Duration::from_secs(u64::from(config.auth.login_lockout_minutes) * 60),
        );
        let login_limiter =
            AddressRateLimiter::new(store.clone(), config.auth.login_attempts_per_minute);
        let secrets =
            crate::secrets::SecretBox::load(&config.data_dir, &store.sealed_secrets().await?)?;
        let mqtt = broker::Control::new(store.clone(), &config.mqtt);
        let (cambus_handle, cambus_commands) = CambusHandle::new();
        let (pipeline, pipeline_control) = PipelineView::new();
        let config = Arc::new(config);
        let (events, outbox_events) = crate::events::EventBus::with_outbox(1024);
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let cluster = crate::cluster::Cluster::new(&config, metrics.clone());
        let chatwoot = Arc::new(crate::chatwoot::Chatwoot::new(&config, store.clone())?);
        let outbox = crate::webhooks::Outbox::new(store.clone(), metrics.clone())
            .with_chatwoot(chatwoot.is_configured());
        let pipeline = Arc::new(pipeline);
        let camera_events = Arc::new(EventRecorder {
            store: store.clone(),
            config: config.clone(),
            events: events.clone(),
            positions: pipeline.clone(),
        });
        let state = AppState {
            store: store.clone(),
            config,
            tokens: Arc::new(tokens),
            login_throttle: Arc::new(throttle),
            login_limiter: Arc::new(login_limiter),
            streams: Default::default(),
            events,
            secrets,
            metrics,
            mqtt,
            pipeline,
            camera_events,
            offline_reports: OfflineReports::default(),
            cambus: cambus_handle,
            outbox,
            chatwoot,
            cluster,
        };
        Ok(App {
            state,
            first_admin,
            first_gateway,
            cambus_commands,
            pipeline_control,
            outbox_events,
        })
    }

    /// Starts every service: HTTP on `listener`, the MQTT broker on `mqtt.listen` (or the
    /// external-broker consumer), the ingest hand-off.
    pub async fn start(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Running> {
        let state = self.state;
        let config = state.config.clone();
        let (ingest_tx, ingest_rx) = crate::ingest::channel(
            config.ingest.queue_capacity,
            config.ingest.queue_bytes,
            &config.mqtt.camera_tree,
            state.metrics.clone(),
        );
        let offline_reports = state.offline_reports.clone();
        let clustered = config.cluster.enabled;
        // Outside a cluster this node leads from the start: its leader work begins before
        // the pipeline rebuilds positions (the alert engine hears them).
        let single = if clustered {
            Vec::new()
        } else {
            leader_tasks(&state, None, shutdown.clone()).await?
        };
        // Loaded before the API serves: positions rebuilt, caches filled.
        let pipeline = Pipeline::load(
            state.store.clone(),
            state.config.clone(),
            state.metrics.clone(),
            state.events.clone(),
            state.pipeline.clone(),
            offline_reports.clone(),
            state.cluster.clone(),
        )
        .await;
        let ingest = NamedTask::spawn(
            "ingest",
            pipeline.run(ingest_rx.readings, self.pipeline_control),
        );

        let collector = NamedTask::spawn(
            "cambus-collector",
            crate::cambus::collector::run(
                ingest_rx.cameras,
                Collector {
                    recorder: state.camera_events.clone(),
                    metrics: state.metrics.clone(),
                    offline_reports: offline_reports.clone(),
                    statuses: Default::default(),
                    unknown_codes: Default::default(),
                    cluster: state.cluster.clone(),
                },
            ),
        );
        let disk_guard = NamedTask::spawn(
            "disk-guard",
            crate::disk::guard(
                crate::disk::Guard {
                    dir: config.data_dir.clone(),
                    min_free: config.disk.min_free_mb * 1024 * 1024,
                    store: state.store.clone(),
                    metrics: state.metrics.clone(),
                    events: state.events.clone(),
                },
                shutdown.clone(),
            ),
        );
        let backups = NamedTask::spawn(
            "backups",
            crate::backup::run_schedule(config.clone(), state.store.clone(), shutdown.clone()),
        );
        // Stopped after everything that publishes events, so that it writes their last.
        let outbox_stop = CancellationToken::new();
        let outbox_writer = NamedTask::spawn(
            "webhook-outbox",
            crate::webhooks::run_outbox_writer(
                state.outbox.clone(),
                self.outbox_events,
                outbox_stop.clone(),
            ),
        );
        // A cluster's elector keeps the lock until the pipeline's last batch is written.
        let release = CancellationToken::new();
        let elector = clustered.then(|| {
            NamedTask::spawn(
                "cluster-elector",
                crate::cluster::run(
                    state.cluster.clone(),
                    config.clone(),
                    shutdown.clone(),
                    release.clone(),
                ),
            )
        });
        // A cluster node's live state on the internal topic tree (consoles on standbys).
        let live = if clustered {
            let live = crate::cluster::live::Live {
                mqtt: config.mqtt.clone(),
                node_id: bootstrap::node_id(&config)?,
                events: state.events.clone(),
                view: state.pipeline.clone(),
                store: state.store.clone(),
                serving: state.cluster.serving(),
                metrics: state.metrics.clone(),
            };
            Some(NamedTask::spawn("cluster-live", live.run(shutdown.clone())))
        } else {
            None
        };
        let (broker, external, bus_out) = match config.mqtt.mode {
            MqttMode::Embedded => {
                let broker = Broker::start(
                    &config.mqtt,
                    &state.mqtt,
                    ingest_tx.clone(),
                    state.metrics.clone(),
                    shutdown.clone(),
                )
                .await?;
                let (tx, rx) = broker.local_link(broker::PUBLISHER_CLIENT_ID).await?;
                (Some(broker), None, BusOut::Embedded { tx, _rx: rx })
            }
            MqttMode::External => {
                let node_id = bootstrap::node_id(&config)?;
                let client_id = crate::broker::external::node_client_id(&config.mqtt, &node_id);
                // A cluster node's own client only publishes; the leader consumes.
                let client = crate::broker::external::client(&config.mqtt, client_id, !clustered)?;
                let bus_out = BusOut::External {
                    client: client.client.clone(),
                    state: client.state.clone(),
                };
                let filters = if clustered {
                    Vec::new()
                } else {
                    crate::broker::external::filters(&config.mqtt, false)
                };
                let consumer = crate::broker::external::run(
                    config.mqtt.clone(),
                    client,
                    filters,
                    ingest_tx.clone(),
                    shutdown.clone(),
                );
                let consumer = NamedTask::spawn("external-mqtt-consumer", consumer);
                (None, Some(consumer), bus_out)
            }
        };
        let leader = clustered.then(|| {
            NamedTask::spawn(
                "cluster-leader",
                lead(state.clone(), ingest_tx, shutdown.clone()),
            )
        });
        let publisher = Publisher {
            store: state.store.clone(),
            config: config.clone(),
            secrets: state.secrets.clone(),
            metrics: state.metrics.clone(),
            events: state.events.clone(),
        };
        let publisher = NamedTask::spawn(
            "cambus-publisher",
            publisher.run(bus_out, self.cambus_commands, shutdown.clone()),
        );
        let router = match &broker {
            Some(broker) => Some(Arc::new(tokio::sync::Mutex::new(broker.probe().await?))),
            None => None,
        };
        let liveness = Liveness {
            store: state.store.clone(),
            pipeline: state.pipeline.clone(),
            router,
            metrics: state.metrics.clone(),
        };
        let mqtt_addr = broker.as_ref().and_then(Broker::mqtt_addr);
        let mqtt_tls_addr = broker.as_ref().and_then(Broker::tls_addr);
        let mqtt_ws_addr = broker.as_ref().and_then(Broker::ws_addr);

        let store = state.store.clone();
        let streams = state.streams.clone();
        let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
        let app = MapRequestLayer::new(trim_trailing_slash).layer(api::router(state));
        let http_addr = listener.local_addr()?;
        tracing::info!(address = %http_addr, "HTTP API listening");
        let header_timeout = Duration::from_secs(config.http.header_read_timeout_seconds);
        let server = serve_http(listener, app, shutdown.clone(), header_timeout);

        // A dead MQTT router stops the whole appliance, with an error.
        let router_failed = broker
            .as_ref()
            .map(Broker::router_failed)
            .unwrap_or_default();
        tokio::spawn({
            let (router_failed, shutdown) = (router_failed.clone(), shutdown.clone());
            async move {
                tokio::select! {
                    () = router_failed.cancelled() => shutdown.cancel(),
                    () = shutdown.cancelled() => {}
                }
            }
        });
        let task = tokio::spawn(async move {
            let mut server = std::pin::pin!(server);
            tokio::select! {
                () = &mut server => {}
                () = shutdown.cancelled() => {
                    // Live streams never finish on their own: end them so that the
                    // requests still running can finish within the grace period.
                    streams.close_all();
                    if tokio::time::timeout(grace, &mut server).await.is_err() {
                        tracing::warn!(grace_seconds = grace.as_secs(), "requests still running after the grace period; stopping anyway");
                    }
                }
            }
            // The MQTT side stops after the HTTP side: by the time the broker's tasks are
            // gone, every acknowledged message is in the ingest queue, which then drains.
            if let Some(broker) = broker {
                broker.wait(grace).await;
            }
            let mut panicked = Vec::new();
            let mut stopped = |name: &'static str, end: TaskEnd<()>| {
                if let TaskEnd::Panicked(_) = end {
                    panicked.push(name);
                }
            };
            for task in leader
                .into_iter()
                .chain(external)
                .chain(live)
                .chain(single)
                .chain([publisher, backups, disk_guard])
            {
                stopped(task.name(), task.join(grace).await);
            }
            // The queues drain together, within one grace period.
            let names = [ingest.name(), collector.name()];
            let (ingest, collector) = tokio::join!(ingest.join(grace), collector.join(grace));
            stopped(names[0], ingest);
            stopped(names[1], collector);
            outbox_stop.cancel();
            stopped(outbox_writer.name(), outbox_writer.join(grace).await);
            release.cancel();
            if let Some(elector) = elector {
                stopped(elector.name(), elector.join(grace).await);
            }
            store.close().await;
            if router_failed.is_cancelled() {
                anyhow::bail!("the MQTT router stopped");
            }
            if !panicked.is_empty() {
                anyhow::bail!("stopped; these tasks had panicked: {}", panicked.join(", "));
            }
            tracing::info!("stopped");
            Ok(())
        });
        Ok(Running {
            http_addr,
            mqtt_addr,
            mqtt_tls_addr,
            mqtt_ws_addr,
            liveness,
            task,
        })
    }

    /// Runs until `shutdown` is cancelled and everything has stopped.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.start(listener, shutdown).await?.wait().await
    }
}

/// The site's stateful work, done by the leader (every node outside a cluster) until
/// `stop`: incidents, the alert engine, the device monitor, webhook deliveries, retention,
/// the presence rollups. Each rebuilds its state from the database when it starts; the
/// alert engine writes its evidence under a cluster leader's `epoch`.
async fn leader_tasks(
    state: &AppState,
    epoch: Option<i64>,
    stop: CancellationToken,
) -> anyhow::Result<Vec<NamedTask>> {
    let config = &state.config;
    // Starts after what is stored, before the engine and the collector add to it.
    let incidents = NamedTask::spawn(
        "incidents",
        crate::incidents::service::IncidentService::new(
            state.store.clone(),
            state.events.clone(),
            state.config.clone(),
            state.metrics.clone(),
        )
        .await?
        .run(state.events.subscribe(), stop.clone()),
    );
    // Subscribed before the pipeline announces the positions it rebuilds.
    let alerts = NamedTask::spawn(
        "alert-engine",
        alert_engine(state, epoch).run(
            state.events.subscribe_ordered(crate::alerts::Engine::wants),
            stop.clone(),
        ),
    );
    let monitor = NamedTask::spawn(
        "device-monitor",
        crate::jobs::device_monitor::run(
            state.store.clone(),
            state.events.clone(),
            state.offline_reports.clone(),
            config.devices.offline_after_seconds,
            stop.clone(),
        ),
    );
    let retention = NamedTask::spawn(
        "retention",
        crate::jobs::retention::run(
            state.store.clone(),
            crate::jobs::retention::Retention {
                readings_days: config.ingest.retention_days,
                history_days: config.positions.history_retention_days,
                webhook_log_days: config.webhooks.log_retention_days,
            },
            stop.clone(),
        ),
    );
    let rollups = NamedTask::spawn(
        "rollups",
        crate::reports::rollups::run(
            state.store.clone(),
            config.reports.rollup_interval_seconds,
            config.reports.rollup_retention_days,
            stop.clone(),
        ),
    );
    let deliveries = NamedTask::spawn(
        "webhook-deliveries",
        crate::webhooks::run_deliveries(
            crate::webhooks::Deliveries {
                outbox: state.outbox.clone(),
                events: state.events.clone(),
                secrets: state.secrets.clone(),
                config: config.webhooks.clone(),
                client: crate::webhooks::client(&config.webhooks)?,
                chatwoot: state.chatwoot.clone(),
            },
            stop,
        ),
    );
    Ok(vec![
        monitor, retention, rollups, deliveries, alerts, incidents,
    ])
}

/// A cluster node's part as leader: each time the elector makes it the leader, starts the
/// leader work, then has the pipeline take over (rebuilt from the database), then consumes
/// the site-wide MQTT session; stops them all when it steps down. At shutdown the pipeline
/// keeps serving until it has drained (under the lock).
async fn lead(state: AppState, ingest: crate::ingest::IngestSender, shutdown: CancellationToken) {
    use crate::cluster::Role;
    let config = state.config.clone();
    let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
    let mut roles = state.cluster.roles();
    loop {
        let role = tokio::select! {
            role = roles.wait_for(|role| matches!(role, Role::Leader(_))) => match role {
                Ok(role) => *role,
                Err(_) => return,
            },
            () = shutdown.cancelled() => return,
        };
        let term = shutdown.child_token();
        let epoch = match role {
            Role::Leader(epoch) => Some(epoch),
            _ => None,
        };
        let mut tasks = match leader_tasks(&state, epoch, term.clone()).await {
            Ok(tasks) => tasks,
            Err(err) => {
                tracing::error!(error = %err, "could not start the leader's work");
                Vec::new()
            }
        };
        state.cluster.serve(role);
        let client_id = config.mqtt.external_client_id.clone();
        match crate::broker::external::client(&config.mqtt, client_id, true) {
            Ok(client) => tasks.push(NamedTask::spawn(
                "external-mqtt-consumer",
                crate::broker::external::run(
                    config.mqtt.clone(),
                    client,
                    crate::broker::external::filters(&config.mqtt, true),
                    ingest.clone(),
                    term.clone(),
                ),
            )),
            Err(err) => tracing::error!(error = %err, "could not set up the site's MQTT consumer"),
        }
        tokio::select! {
            _ = roles.wait_for(|now| *now != role) => {}
            () = shutdown.cancelled() => {}
        }
        term.cancel();
        if !shutdown.is_cancelled() {
            state.cluster.serve(Role::Standby);
        }
        for task in tasks {
            task.join(grace).await;
        }
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// The alert engine of this configuration (`site.time_zone` is validated on load).
fn alert_engine(state: &AppState, epoch: Option<i64>) -> crate::alerts::Engine {
    let config = &state.config;
    let time_zone = config.site.time_zone.parse().unwrap_or(chrono_tz::UTC);
    crate::alerts::Engine::new(
        state.store.clone(),
        state.events.clone(),
        time_zone,
        config.alerts.session_ttl_seconds,
        config.devices.offline_after_seconds,
        epoch,
    )
}

/// Serves HTTP/1.1 on `listener` until `stopping` is cancelled, then waits for the open
/// connections to finish their requests. A connection that has not sent a request's
/// headers within `header_timeout` is closed (slow-header attacks would otherwise hold
/// connections, and memory, for ever). Handlers see the peer as `ConnectInfo<SocketAddr>`.
async fn serve_http<S>(
    listener: TcpListener,
    app: S,
    stopping: CancellationToken,
    header_timeout: Duration,
) where
    S: tower::Service<Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, typically: let some connections end.
                    tracing::warn!(error = %err, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopping.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |request: axum::http::Request<Incoming>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// `/x` and `/x/` reach the same route, as the original's clients expect. The docs page
/// keeps its slash: its assets are addressed relative to `/docs/`.
fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with(api::openapi::DOCS_PATH) {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}
