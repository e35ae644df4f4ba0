//! `serve`: opens the store, prepares first-start state and runs the HTTP server until the
//! shutdown token is cancelled.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;
use tower::util::MapRequestLayer;

use crate::api::{self, AppState};
use crate::auth::{LoginThrottle, TokenKeys};
use crate::bootstrap::{self, FirstAdmin};
use crate::config::Config;
use crate::store::Store;

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
}

impl App {
    pub async fn prepare(config: Config, options: ServeOptions) -> anyhow::Result<App> {
        bootstrap::prepare_data_dir(&config)?;
        let url = config.database_url();
        let store = Store::connect(&url, config.database.max_connections)
            .await
            .with_context(|| format!("opening database {}", crate::config::redact_url(&url)))?;
        if options.no_migrate {
            store.ensure_schema_current().await?;
        } else {
            let applied = store
                .migrate()
                .await
                .context("applying database migrations")?;
            if applied > 0 {
                tracing::info!(applied, "database migrations applied");
            }
        }
        let secret = bootstrap::jwt_secret(&config)?;
        let tokens = TokenKeys::new(secret.as_bytes(), config.auth.token_ttl_minutes)?;
        let first_admin = bootstrap::ensure_first_admin(&store, &config).await?;
        let throttle = LoginThrottle::new(
            config.auth.max_failed_logins,
            Duration::from_secs(u64::from(config.auth.login_lockout_minutes) * 60),
        );
        let secrets = crate::secrets::SecretBox::load_or_create(&config.data_dir)?;
        let state = AppState {
            store,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            login_throttle: Arc::new(throttle),
            events: crate::events::EventBus::new(1024),
            secrets,
        };
        Ok(App { state, first_admin })
    }

    /// Serves HTTP on `listener` until `shutdown` is cancelled, then lets in-flight
    /// requests finish (bounded by the configured grace period) and closes the store.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let grace = Duration::from_secs(self.state.config.http.shutdown_grace_seconds);
        let app = MapRequestLayer::new(trim_trailing_slash).layer(api::router(self.state));
        let service =
            ServiceExt::<Request>::into_make_service_with_connect_info::<std::net::SocketAddr>(app);
        tracing::info!(address = %listener.local_addr()?, "HTTP API listening");
        let stopping = shutdown.clone();
        let server = axum::serve(listener, service)
            .with_graceful_shutdown(async move { stopping.cancelled().await });
        let mut server = std::pin::pin!(server.into_future());
        tokio::select! {
            result = &mut server => result.context("HTTP server failed")?,
            _ = shutdown.cancelled() => {
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => result.context("HTTP server failed")?,
                    Err(_) => tracing::warn!(grace_seconds = grace.as_secs(), "requests still running after the grace period; stopping anyway"),
                }
            }
        }
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
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
