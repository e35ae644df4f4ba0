//! What every request handler can reach: the store, the configuration and the handles of
//! the appliance's other parts.

use std::sync::Arc;

use crate::auth::{AddressRateLimiter, LoginThrottle, TokenKeys};
use crate::config::Config;
use crate::events::EventBus;
use crate::secrets::SecretBox;
use crate::store::Store;

use super::stream;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub tokens: Arc<TokenKeys>,
    pub login_throttle: Arc<LoginThrottle>,
    /// Login attempts per source address.
    pub login_limiter: Arc<AddressRateLimiter>,
    /// Live streams open per user.
    pub streams: Arc<stream::OpenStreams>,
    pub events: EventBus,
    pub secrets: SecretBox,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The broker's authentication, told when MQTT credentials change.
    pub mqtt: crate::broker::Control,
    /// What the ingest pipeline shows the API, and how the API tells it about writes.
    pub pipeline: Arc<crate::ingest::view::PipelineView>,
    /// Stores camera events, shared with the CAM-BUS collector.
    pub camera_events: Arc<crate::cambus::collector::EventRecorder>,
    /// Devices that said they are going offline.
    pub offline_reports: crate::jobs::device_monitor::OfflineReports,
    /// Publishes commands to the cameras' bus.
    pub cambus: crate::cambus::publisher::CambusHandle,
    /// Where webhook deliveries are written.
    pub outbox: crate::webhooks::Outbox,
    /// The Chatwoot integration: its status (deliveries go through the outbox).
    pub chatwoot: Arc<crate::chatwoot::Chatwoot>,
    /// This node's role on a site of several appliances (`docs/cluster.md`).
    pub cluster: crate::cluster::Cluster,
}
