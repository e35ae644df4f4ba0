//! Outgoing webhooks that never lose a message.
//!
//! Every event a subscription wants is first written to an outbox table
//! (`webhook_deliveries`): by the API before it answers (see `api::changes::record`), and
//! right after the fact for the pipeline's, the device monitor's and the cameras' events,
//! which the event bus hands to [`run_outbox_writer`] on a channel that never drops. The
//! delivery worker ([`run_deliveries`]) then posts each subscription's deliveries one at a
//! time, oldest first, signed, and retries a failure with exponential backoff and jitter
//! until `webhooks.retry_hours` have passed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use rand::Rng;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::WebhooksConfig;
use crate::events::{Event, EventType};
use crate::metrics::Metrics;
use crate::secrets::SecretBox;
use crate::store::Store;
use crate::store::webhooks::{DELIVERED, Delivery, DeliveryTable, FAILED, Outgoing, PENDING};

pub mod guard;
pub mod signature;

/// A new delivery id: what a receiver can use against replays and duplicates.
pub fn new_delivery_id() -> String {
    let bytes: [u8; 12] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The body every receiver of `event` gets: the original's envelope.
pub fn body(event: &Event) -> String {
    serde_json::json!({
        "event_type": event.event_type,
        "timestamp": event.timestamp.to_rfc3339_opts(SecondsFormat::Micros, false),
        "payload": event.payload,
    })
    .to_string()
}

/// Writes events to the outbox and wakes the delivery worker.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// Whether incidents are mirrored into Chatwoot.
    chatwoot: bool,
}

impl Outbox {
    pub fn new(store: Store, metrics: Arc<Metrics>) -> Self {
        Outbox {
            store,
            wake: Arc::new(Notify::new()),
            metrics,
            chatwoot: false,
        }
    }

    /// Also queues incidents' events for their Chatwoot conversation.
    pub fn with_chatwoot(self, chatwoot: bool) -> Self {
        Outbox { chatwoot, ..self }
    }

    /// Writes one delivery per subscription that wants each event, in one transaction.
    pub async fn write(&self, events: &[Event]) -> crate::store::Result<()> {
        let bodies: Vec<(&Event, String)> = events
            .iter()
            .filter(|e| e.event_type.goes_to_webhooks())
            .map(|e| (e, body(e)))
            .collect();
        if bodies.is_empty() {
            return Ok(());
        }
        let outgoing: Vec<Outgoing> = bodies
            .iter()
            .map(|(e, body)| Outgoing {
                event_type: e.event_type.as_str(),
                body,
                chatwoot_incident: self.chatwoot.then(|| chatwoot_incident(e)).flatten(),
            })
            .collect();
        let to_chatwoot = outgoing.iter().any(|o| o.chatwoot_incident.is_some());
        let queued = self.store.enqueue_webhooks(&outgoing).await?;
        if queued > 0 || to_chatwoot {
            self.metrics
                .webhooks_queued
                .fetch_add(queued, Ordering::Relaxed);
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Queues one delivery for one subscription (a re-send, a test event) and wakes the
    /// worker.
    pub async fn queue(
        &self,
        subscription_id: i64,
        event_type: &str,
        body: &str,
    ) -> crate::store::Result<Delivery> {
        let queued = self
            .store
            .queue_webhook_delivery(subscription_id, event_type, body)
            .await?;
        self.wake.notify_one();
        Ok(queued)
    }

    /// Tells the worker to look again (a resumed subscription).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The incident whose Chatwoot conversation is told about `event`: its creation, its
/// messages (not those that came from Chatwoot) and its status changes.
fn chatwoot_incident(event: &Event) -> Option<i64> {
    let wanted = match event.event_type {
        EventType::IncidentCreated
        | EventType::IncidentStatusChanged
        | EventType::IncidentReopened => true,
        EventType::IncidentMessageCreated => event.payload["source"] != "chatwoot",
        _ => false,
    };
    wanted
        .then(|| event.payload["incident_id"].as_i64())
        .flatten()
}

/// The receiver a URL reaches, as the per-host limit counts it: scheme, host and port.
pub fn receiver(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => url.to_string(),
    }
}

/// Writes the events the bus hands over until `stop`, then what is left in the channel; a
/// failed write is retried, never dropped (at `stop`, tried a few more times).
pub async fn run_outbox_writer(
    outbox: Outbox,
    mut events: mpsc::UnboundedReceiver<Event>,
    stop: CancellationToken,
) {
    let mut batch = Vec::new();
    loop {
        let stopping = tokio::select! {
            received = events.recv_many(&mut batch, 256) => received == 0,
            () = stop.cancelled() => true,
        };
        if stopping {
            while let Ok(event) = events.try_recv() {
                batch.push(event);
            }
        }
        let mut tries = 0;
        while let Err(err) = outbox.write(&batch).await {
            outbox
                .metrics
                .webhooks_outbox_failures
                .fetch_add(1, Ordering::Relaxed);
            tries += 1;
            if stopping && tries >= 5 {
                tracing::error!(error = %err, events = batch.len(), "webhook events not written to the outbox at shutdown");
                break;
            }
            tracing::warn!(error = %err, events = batch.len(), "webhook outbox write failed; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        batch.clear();
        if stopping {
            return;
        }
    }
}

/// What the delivery worker needs.
pub struct Deliveries {
    pub outbox: Outbox,
    /// Where a paused subscription is announced.
    pub events: crate::events::EventBus,
    pub secrets: SecretBox,
    pub config: WebhooksConfig,
    pub client: reqwest::Client,
    pub chatwoot: Arc<crate::chatwoot::Chatwoot>,
}

/// Slots per receiver (`webhooks.per_host_concurrency`), made when first needed.
struct Receivers {
    per_host: usize,
    slots: std::collections::HashMap<String, Arc<Semaphore>>,
}

impl Receivers {
    /// A slot for one delivery to `receiver`, if it has one free.
    fn try_take(&mut self, receiver: String) -> Option<tokio::sync::OwnedSemaphorePermit> {
        // Receivers with nothing in flight are forgotten.
        self.slots.retain(|_, s| Arc::strong_count(s) > 1);
        let per_host = self.per_host;
        let slots = self
            .slots
            .entry(receiver)
            .or_insert_with(|| Arc::new(Semaphore::new(per_host)));
        slots.clone().try_acquire_owned().ok()
    }
}

/// Delivers due deliveries until `shutdown`: each subscription's (and each incident's, for
/// Chatwoot) oldest pending one, at most `webhooks.concurrency` at once and
/// `webhooks.per_host_concurrency` to one receiver; woken by new deliveries, else every
/// second.
pub async fn run_deliveries(deliveries: Deliveries, shutdown: CancellationToken) {
    let deliveries = Arc::new(deliveries);
    let slots = Arc::new(Semaphore::new(deliveries.config.concurrency));
    let mut receivers = Receivers {
        per_host: deliveries.config.per_host_concurrency,
        slots: std::collections::HashMap::new(),
    };
    let store = deliveries.outbox.store.clone();
    loop {
        let limit = i64::try_from(deliveries.config.concurrency).unwrap_or(8) * 4;
        if deliveries.chatwoot.is_configured() {
            deliver_to_chatwoot(&deliveries, &slots, &mut receivers, limit).await;
        }
        match store.due_webhook_deliveries(limit).await {
            Ok(due) => {
                for delivery in due {
                    if slots.available_permits() == 0 {
                        break;
                    }
                    let url = match store
                        .fetch_by_id::<crate::store::webhooks::Subscription>(
                            delivery.subscription_id,
                        )
                        .await
                    {
                        Ok(subscription) => subscription.url,
                        // Deleted meanwhile, or unreadable: the attempt tells.
                        Err(_) => String::new(),
                    };
                    // A busy receiver's deliveries wait; the others' go on.
                    let Some(host_slot) = receivers.try_take(receiver(&url)) else {
                        continue;
                    };
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        break;
                    };
                    let lease = Utc::now()
                        + chrono::Duration::seconds(
                            i64::from(deliveries.config.timeout_seconds) + 30,
                        );
                    match store
                        .claim_delivery(
                            DeliveryTable::Webhooks,
                            delivery.id,
                            delivery.next_attempt_at,
                            lease,
                        )
                        .await
                    {
                        Ok(true) => {
                            let deliveries = deliveries.clone();
                            tokio::spawn(async move {
                                deliveries.attempt(delivery).await;
                                drop((slot, host_slot));
                            });
                        }
                        Ok(false) => {}
                        Err(err) => tracing::warn!(error = %err, "claiming a webhook delivery"),
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "reading due webhook deliveries"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = deliveries.outbox.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Starts the due Chatwoot deliveries that have slots.
async fn deliver_to_chatwoot(
    deliveries: &Arc<Deliveries>,
    slots: &Arc<Semaphore>,
    receivers: &mut Receivers,
    limit: i64,
) {
    let store = &deliveries.outbox.store;
    let due = match store.due_chatwoot_deliveries(limit).await {
        Ok(due) => due,
        Err(err) => {
            tracing::warn!(error = %err, "reading due Chatwoot deliveries");
            return;
        }
    };
    for delivery in due {
        let Some(host_slot) = receivers.try_take(deliveries.chatwoot.receiver()) else {
            return;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            return;
        };
        let lease = Utc::now()
            + chrono::Duration::from_std(crate::chatwoot::TIMEOUT * 8).unwrap_or_default();
        match store
            .claim_delivery(
                DeliveryTable::Chatwoot,
                delivery.id,
                delivery.next_attempt_at,
                lease,
            )
            .await
        {
            Ok(true) => {
                let deliveries = deliveries.clone();
                tokio::spawn(async move {
                    deliveries.attempt_chatwoot(delivery).await;
                    drop((slot, host_slot));
                });
            }
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "claiming a Chatwoot delivery"),
        }
    }
}

impl Deliveries {
    /// One attempt at a Chatwoot delivery, recorded as a webhook's is.
    async fn attempt_chatwoot(&self, delivery: crate::store::chatwoot::ChatwootDelivery) {
        let metrics = &self.outbox.metrics;
        let now = Utc::now();
        let (status, code, error, next) = match self.chatwoot.deliver(&delivery).await {
            Ok(()) => {
                metrics.chatwoot_delivered.fetch_add(1, Ordering::Relaxed);
                (DELIVERED, None, None, now)
            }
            Err((code, error)) => {
                metrics
                    .chatwoot_attempts_failed
                    .fetch_add(1, Ordering::Relaxed);
                let give_up_at = delivery.created_at
                    + chrono::Duration::hours(i64::from(self.config.retry_hours));
                let next = now + backoff(self.config.retry_first_seconds, delivery.attempts);
                let status = if next > give_up_at { FAILED } else { PENDING };
                tracing::warn!(delivery = %delivery.delivery_id, incident = delivery.incident_id, %error, status, "Chatwoot delivery failed");
                (status, code, Some(error), next)
            }
        };
        if let Err(err) = self
            .outbox
            .store
            .finish_delivery_attempt(
                DeliveryTable::Chatwoot,
                delivery.id,
                status,
                code,
                error.as_deref(),
                next,
            )
            .await
        {
            tracing::warn!(error = %err, "recording a Chatwoot attempt");
        }
        self.outbox.wake();
    }

    /// One attempt at `delivery`, recorded: delivered, retried later, or given up.
    async fn attempt(&self, delivery: Delivery) {
        let store = &self.outbox.store;
        let metrics = &self.outbox.metrics;
        let outcome = match store
            .fetch_by_id::<crate::store::webhooks::Subscription>(delivery.subscription_id)
            .await
        {
            Ok(subscription) if subscription.is_active && subscription.paused_at.is_none() => {
                self.post(&subscription, &delivery).await
            }
            // Switched off or paused meanwhile: its queue waits, untouched.
            Ok(_) => return,
            // Deleted meanwhile: its deliveries went with it.
            Err(crate::store::StoreError::NotFound) => return,
            Err(err) => Err((None, format!("reading the subscription: {err}"))),
        };
        let now = Utc::now();
        let result = match outcome {
            Ok(code) => {
                metrics.webhooks_delivered.fetch_add(1, Ordering::Relaxed);
                store
                    .finish_delivery_attempt(
                        DeliveryTable::Webhooks,
                        delivery.id,
                        DELIVERED,
                        Some(code),
                        None,
                        now,
                    )
                    .await
            }
            Err((code, error)) => {
                let give_up_at = delivery.created_at
                    + chrono::Duration::hours(i64::from(self.config.retry_hours));
                let next = now + backoff(self.config.retry_first_seconds, delivery.attempts);
                // A test event is a one-shot probe: it never holds the real events queued
                // behind it.
                let one_shot = delivery.event_type == EventType::WebhookTest.as_str();
                let status = if next > give_up_at || one_shot {
                    FAILED
                } else {
                    PENDING
                };
                if status == PENDING && self.stuck(&delivery, now) {
                    self.pause(delivery.subscription_id, &error).await;
                }
                if status == FAILED {
                    metrics.webhooks_given_up.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(delivery = %delivery.delivery_id, %error, "webhook delivery given up");
                } else {
                    metrics
                        .webhooks_attempts_failed
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(delivery = %delivery.delivery_id, %error, "webhook delivery failed; will retry");
                }
                store
                    .finish_delivery_attempt(
                        DeliveryTable::Webhooks,
                        delivery.id,
                        status,
                        code,
                        Some(&error),
                        next,
                    )
                    .await
            }
        };
        if let Err(err) = result {
            // The lease runs out and the delivery is tried again: at least once.
            tracing::warn!(error = %err, "recording a webhook attempt");
        }
        // The subscription's next delivery, if any, is now at the head of its queue.
        self.outbox.wake();
    }

    /// Whether the subscription has been failing long enough to pause: its oldest
    /// undelivered event (this one: deliveries go in order) has waited
    /// `webhooks.pause_after_hours`, and this is not its first try (after the appliance
    /// was down for hours, one failure is not enough).
    fn stuck(&self, delivery: &Delivery, now: chrono::DateTime<Utc>) -> bool {
        let limit = i64::from(self.config.pause_after_hours);
        limit > 0
            && delivery.attempts >= 2
            && now - delivery.created_at > chrono::Duration::hours(limit)
    }

    /// Stops delivering to a subscription until an administrator resumes it, and says so.
    async fn pause(&self, subscription_id: i64, error: &str) {
        let reason = format!(
            "paused after {} hours of failed deliveries; last error: {error}",
            self.config.pause_after_hours
        );
        let store = &self.outbox.store;
        match store
            .pause_webhook_subscription(subscription_id, Some(&reason))
            .await
        {
            Ok(paused) => {
                tracing::warn!(webhook = paused.id, url = %paused.url, %reason, "webhook subscription paused");
                let mut payload = crate::events::payload::webhook(&paused);
                payload["reason"] = serde_json::json!(reason);
                let details =
                    serde_json::json!({"event": EventType::WebhookPaused, "reason": reason});
                if let Err(err) = store
                    .audit(None, "pause", "webhook", Some(paused.id), details)
                    .await
                {
                    tracing::warn!(error = %err, "auditing a paused webhook");
                }
                self.events.publish(EventType::WebhookPaused, None, payload);
            }
            Err(err) => tracing::warn!(error = %err, "pausing a webhook subscription"),
        }
    }

    /// Posts the delivery: the status code of a 2xx answer, or what went wrong.
    async fn post(
        &self,
        subscription: &crate::store::webhooks::Subscription,
        delivery: &Delivery,
    ) -> Result<i32, (Option<i32>, String)> {
        guard::check_url(&subscription.url, self.config.allow_private)
            .map_err(|e| (None, e.to_string()))?;
        let timestamp = Utc::now().timestamp().to_string();
        let mut request = self
            .client
            .post(&subscription.url)
            .header("Content-Type", "application/json")
            .header("X-SV-Webhook-Id", subscription.id.to_string())
            .header("X-SV-Event-Type", &delivery.event_type)
            .header("X-SV-Delivery", &delivery.delivery_id)
            .header("X-SV-Timestamp", &timestamp);
        if let Some(key) = signing_key(&self.secrets, subscription) {
            let (v1, v2) = signature::sign(&key, &timestamp, delivery.body.as_bytes());
            request = request
                .header("X-SV-Signature", v1)
                .header("X-SV-Signature-V2", v2);
        }
        let response = request
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| (None, describe(&e)))?;
        let code = i32::from(response.status().as_u16());
        // The body is not read: a receiver's answer is its status.
        if response.status().is_success() {
            Ok(code)
        } else {
            Err((
                Some(code),
                format!("the receiver answered {}", response.status()),
            ))
        }
    }
}

/// The subscription's HMAC key: sealed by this appliance, or in clear when the original
/// backend wrote it.
pub fn signing_key(
    secrets: &SecretBox,
    subscription: &crate::store::webhooks::Subscription,
) -> Option<String> {
    let stored = subscription.secret_token.as_deref()?;
    if stored.is_empty() {
        return None;
    }
    Some(secrets.open(stored).unwrap_or_else(|| stored.to_string()))
}

/// Waits `first` seconds after the first failure, doubling up to an hour, ±20 % so that
/// receivers coming back are not hit by every retry at once.
fn backoff(first: u32, attempts_before: i32) -> chrono::Duration {
    let base = f64::from(first) * 2f64.powi(attempts_before.clamp(0, 20));
    let seconds = base.min(3600.0) * rand::rng().random_range(0.8..1.2);
    chrono::Duration::milliseconds((seconds * 1000.0) as i64)
}

/// A transport error in words, with its cause (reqwest's own text names only the URL).
pub fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The client every delivery uses: no redirects, no proxy from the environment, the
/// configured timeout, TLS with the system's roots, and a resolver that refuses private
/// addresses unless allowed.
pub fn client(config: &WebhooksConfig) -> anyhow::Result<reqwest::Client> {
    let timeout = Duration::from_secs(u64::from(config.timeout_seconds));
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("SecurityVision/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(guard::Resolver {
            allow_private: config.allow_private,
        }))
        .tls_backend_preconfigured(crate::tls::client_config(crate::tls::roots(None)?)?)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_at_an_hour() {
        for attempts in 0..6 {
            let expected = 10.0 * 2f64.powi(attempts);
            let got = backoff(10, attempts).num_milliseconds() as f64 / 1000.0;
            assert!(
                got >= expected * 0.8 && got <= expected * 1.2,
                "{attempts}: {got}"
            );
        }
        let late = backoff(10, 30).num_seconds();
        assert!((2880..=4320).contains(&late), "{late}");
    }

    #[test]
    fn delivery_ids_are_unique_hex() {
        let a = new_delivery_id();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_delivery_id());
    }
}
