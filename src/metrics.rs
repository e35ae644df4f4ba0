//! Counters and gauges of the running appliance, rendered as Prometheus text at `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use crate::broker::Refusal;
use crate::cambus::topic::CameraRejection;
use crate::ingest::decode::Rejection;

/// Why the HTTP API refused a request under one of its limits; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpRefusal {
    /// Too many login attempts from one address.
    LoginRateLimited,
    /// A login on a locked account, or from an address locked out of it.
    LoginLocked,
    /// A user already holding `http.max_streams_per_user` live streams.
    StreamLimit,
    /// An upload beyond `media.quota_bytes`.
    MediaQuota,
}

impl HttpRefusal {
    const ALL: [HttpRefusal; 4] = [
        HttpRefusal::LoginRateLimited,
        HttpRefusal::LoginLocked,
        HttpRefusal::StreamLimit,
        HttpRefusal::MediaQuota,
    ];

    fn label(self) -> &'static str {
        match self {
            HttpRefusal::LoginRateLimited => "login_rate_limited",
            HttpRefusal::LoginLocked => "login_locked",
            HttpRefusal::StreamLimit => "stream_limit",
            HttpRefusal::MediaQuota => "media_quota",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    pub mqtt_connections: AtomicI64,
    pub mqtt_connections_accepted: AtomicU64,
    pub mqtt_messages_in_qos0: AtomicU64,
    pub mqtt_messages_in_qos1: AtomicU64,
    pub mqtt_messages_out_qos0: AtomicU64,
    pub mqtt_messages_out_qos1: AtomicU64,
    pub mqtt_keepalive_expired: AtomicU64,
    pub mqtt_takeovers: AtomicU64,
    refusals: [AtomicU64; Refusal::ALL.len()],
    /// Messages handed from the broker to the ingest pipeline.
    pub ingest_received: AtomicU64,
    /// QoS 0 messages shed because the hand-off queue was full.
    pub ingest_shed: AtomicU64,
    pub ingest_queue_depth: AtomicI64,
    pub ingest_queue_capacity: AtomicI64,
    ingest_rejections: [AtomicU64; Rejection::ALL.len()],
    /// Readings of tags nobody registered.
    pub ingest_unknown_tags: AtomicU64,
    /// Readings of tags marked inactive (ignored).
    pub ingest_inactive_tags: AtomicU64,
    /// Entries of a report that could not be used (no tag MAC, not an object …).
    pub ingest_skipped_entries: AtomicU64,
    pub ingest_gateways_registered: AtomicU64,
    /// Reports from gateways that are not registered, when auto-registration is off.
    pub ingest_unknown_gateways: AtomicU64,
    /// Reports of new gateways past a credential's registrations per minute.
    pub ingest_registrations_limited: AtomicU64,
    /// Gateway registrations that failed (the MAC or code belongs to another device).
    pub ingest_registration_failures: AtomicU64,
    pub ingest_readings_stored: AtomicU64,
    /// Readings that could not be stored after retries.
    pub ingest_store_failures: AtomicU64,
    /// Readings of QoS 0 reports not stored because the writer was behind.
    pub ingest_readings_shed: AtomicU64,
    /// Readings waiting for a writer that is behind.
    pub ingest_writer_backlog: AtomicI64,
    /// Tags whose last position history point the pipeline remembers.
    pub position_history_tags: AtomicI64,
    /// Messages of the camera tree handed to the CAM-BUS collector.
    pub cambus_received: AtomicU64,
    cambus_rejections: [AtomicU64; 5],
    pub cambus_events_stored: AtomicU64,
    /// Events already stored (a collector repeating itself after a reconnect).
    pub cambus_duplicates: AtomicU64,
    /// Camera statuses repeating the last one stored (only `last_seen_at` moved).
    pub cambus_status_repeats: AtomicU64,
    /// `/info` messages heard on the bus (the appliance's own configuration channel).
    pub cambus_info_ignored: AtomicU64,
    /// Events and statuses that could not be stored.
    pub cambus_store_failures: AtomicU64,
    /// Incident rules skipped because the camera group they targeted was deleted.
    pub incident_rules_orphaned: AtomicU64,
    /// Camera events or alerts whose incident could not be opened or closed.
    pub incident_failures: AtomicU64,
    /// Retained `/info` configurations published, failed, and waiting.
    pub cambus_publishes: AtomicU64,
    pub cambus_publish_failures: AtomicU64,
    pub cambus_publish_pending: AtomicI64,
    http_refusals: [AtomicU64; 4],
    /// Webhook deliveries: events written to the outbox, deliveries answered 2xx, failed
    /// attempts (retried), deliveries given up, outbox writes that failed (retried).
    pub webhooks_queued: AtomicU64,
    pub webhooks_delivered: AtomicU64,
    pub webhooks_attempts_failed: AtomicU64,
    pub webhooks_given_up: AtomicU64,
    pub webhooks_outbox_failures: AtomicU64,
    pub chatwoot_delivered: AtomicU64,
    pub chatwoot_attempts_failed: AtomicU64,
    pub chatwoot_inbound_refused: AtomicU64,
    /// Free bytes under the data directory (the disk guard's last look), and whether it is
    /// below `disk.min_free_mb` (raw readings not stored).
    pub disk_free_bytes: AtomicU64,
    pub disk_low: AtomicBool,
    /// Readings not stored because the disk was low.
    pub ingest_readings_unstored_disk_low: AtomicU64,
    /// Cluster mode (`docs/cluster.md`): 1 while this node leads, takeovers it made, write
    /// batches refused because it no longer led, redelivered readings already stored.
    pub cluster_leader: AtomicI64,
    pub cluster_takeovers: AtomicU64,
    pub cluster_fenced_batches: AtomicU64,
    pub cluster_duplicates_skipped: AtomicU64,
    /// Live state on the internal topic tree (`cluster/live.rs`): messages this node sent,
    /// received from the others, and dropped (the broker's client full while the broker was
    /// away, or received faster than taken).
    pub cluster_live_sent: AtomicU64,
    pub cluster_live_received: AtomicU64,
    pub cluster_live_dropped: AtomicU64,
}

impl Metrics {
    pub fn refused(&self, why: Refusal) {
        self.refusals[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn ingest_rejected(&self, why: Rejection) {
        self.ingest_rejections[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn ingest_rejections(&self, why: Rejection) -> u64 {
        self.ingest_rejections[why as usize].load(Ordering::Relaxed)
    }

    pub fn cambus_rejected(&self, why: CameraRejection) {
        self.cambus_rejections[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn cambus_rejections(&self, why: CameraRejection) -> u64 {
        self.cambus_rejections[why as usize].load(Ordering::Relaxed)
    }

    pub fn refusals(&self, why: Refusal) -> u64 {
        self.refusals[why as usize].load(Ordering::Relaxed)
    }

    pub fn http_refused(&self, why: HttpRefusal) {
        self.http_refusals[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn http_refusals(&self, why: HttpRefusal) -> u64 {
        self.http_refusals[why as usize].load(Ordering::Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, kind: &str, value: i64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as i64;
        counter(
            "sv_mqtt_connections",
            "Clients connected to the embedded broker.",
            "gauge",
            self.mqtt_connections.load(Ordering::Relaxed),
        );
        counter(
            "sv_mqtt_connections_accepted_total",
            "Client connections accepted (CONNACK sent).",
            "counter",
            get(&self.mqtt_connections_accepted),
        );
        counter(
            "sv_mqtt_keepalive_expired_total",
            "Connections closed because the client fell silent.",
            "counter",
            get(&self.mqtt_keepalive_expired),
        );
        counter(
            "sv_mqtt_takeovers_total",
            "Connections replaced by a new one with the same client id.",
            "counter",
            get(&self.mqtt_takeovers),
        );
        counter(
            "sv_ingest_received_total",
            "Messages handed from the broker to the ingest pipeline.",
            "counter",
            get(&self.ingest_received),
        );
        counter(
            "sv_ingest_shed_total",
            "QoS 0 messages shed because the ingest queue was full.",
            "counter",
            get(&self.ingest_shed),
        );
        counter(
            "sv_ingest_queue_depth",
            "Messages waiting in the ingest queue.",
            "gauge",
            self.ingest_queue_depth.load(Ordering::Relaxed),
        );
        counter(
            "sv_disk_free_bytes",
            "Free bytes under the data directory (checked every 5 s).",
            "gauge",
            i64::try_from(self.disk_free_bytes.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
        );
        counter(
            "sv_disk_low",
            "1 while free disk space is below disk.min_free_mb (raw readings not stored).",
            "gauge",
            i64::from(self.disk_low.load(Ordering::Relaxed)),
        );
        counter(
            "sv_ingest_queue_capacity",
            "Capacity of the ingest queue.",
            "gauge",
            self.ingest_queue_capacity.load(Ordering::Relaxed),
        );
        let ingest_counters = [
            (
                "sv_ingest_unknown_tag_readings_total",
                "Readings of tags nobody registered (see GET /api/v1/tags/unknown).",
                &self.ingest_unknown_tags,
            ),
            (
                "sv_ingest_inactive_tag_readings_total",
                "Readings of inactive tags, ignored.",
                &self.ingest_inactive_tags,
            ),
            (
                "sv_ingest_skipped_entries_total",
                "Entries of gateway reports that were not usable readings.",
                &self.ingest_skipped_entries,
            ),
            (
                "sv_ingest_gateways_registered_total",
                "Gateways registered on first contact.",
                &self.ingest_gateways_registered,
            ),
            (
                "sv_ingest_unknown_gateway_reports_total",
                "Reports from unregistered gateways (auto-registration off).",
                &self.ingest_unknown_gateways,
            ),
            (
                "sv_ingest_registrations_limited_total",
                "Reports of new gateways refused past their credential's registrations per minute.",
                &self.ingest_registrations_limited,
            ),
            (
                "sv_ingest_registration_failures_total",
                "Gateway registrations that failed (MAC or code of another device); not retried for a minute.",
                &self.ingest_registration_failures,
            ),
            (
                "sv_ingest_readings_stored_total",
                "Readings stored.",
                &self.ingest_readings_stored,
            ),
            (
                "sv_ingest_store_failures_total",
                "Readings that could not be stored after retries.",
                &self.ingest_store_failures,
            ),
            (
                "sv_ingest_readings_shed_total",
                "Readings of QoS 0 reports not stored because the writer was behind.",
                &self.ingest_readings_shed,
            ),
            (
                "sv_ingest_readings_unstored_disk_low_total",
                "Readings not stored because free disk space was below disk.min_free_mb.",
                &self.ingest_readings_unstored_disk_low,
            ),
        ];
        for (name, help, value) in ingest_counters {
            counter(name, help, "counter", get(value));
        }
        let cambus_counters: [(&str, &str, &AtomicU64); 10] = [
            (
                "sv_cambus_status_repeats_total",
                "Camera statuses repeating the last one stored (only last_seen_at moved).",
                &self.cambus_status_repeats,
            ),
            (
                "sv_cambus_received_total",
                "Messages of the camera tree handed to the CAM-BUS collector.",
                &self.cambus_received,
            ),
            (
                "sv_cambus_events_stored_total",
                "Camera events and statuses stored.",
                &self.cambus_events_stored,
            ),
            (
                "sv_cambus_duplicates_total",
                "Camera events already stored (repeated by a collector).",
                &self.cambus_duplicates,
            ),
            (
                "sv_cambus_info_ignored_total",
                "/info messages heard on the bus and not stored (the appliance's own channel).",
                &self.cambus_info_ignored,
            ),
            (
                "sv_cambus_store_failures_total",
                "Camera events and statuses that could not be stored.",
                &self.cambus_store_failures,
            ),
            (
                "sv_incident_rules_orphaned_total",
                "Incident rules skipped because their camera group was deleted.",
                &self.incident_rules_orphaned,
            ),
            (
                "sv_incident_failures_total",
                "Camera events or alerts whose incident could not be opened or closed.",
                &self.incident_failures,
            ),
            (
                "sv_cambus_publishes_total",
                "Retained camera configurations (/info) published.",
                &self.cambus_publishes,
            ),
            (
                "sv_cambus_publish_failures_total",
                "Publishes of camera configurations that failed (retried).",
                &self.cambus_publish_failures,
            ),
        ];
        for (name, help, value) in cambus_counters {
            counter(name, help, "counter", get(value));
        }
        let webhook_counters: [(&str, &str, &AtomicU64); 8] = [
            (
                "sv_webhooks_queued_total",
                "Webhook deliveries written to the outbox.",
                &self.webhooks_queued,
            ),
            (
                "sv_webhooks_delivered_total",
                "Webhook deliveries a receiver accepted (2xx).",
                &self.webhooks_delivered,
            ),
            (
                "sv_webhooks_attempts_failed_total",
                "Webhook attempts that failed and will be retried.",
                &self.webhooks_attempts_failed,
            ),
            (
                "sv_webhooks_given_up_total",
                "Webhook deliveries given up after webhooks.retry_hours (status FAILED).",
                &self.webhooks_given_up,
            ),
            (
                "sv_webhooks_outbox_failures_total",
                "Writes to the webhook outbox that failed (retried).",
                &self.webhooks_outbox_failures,
            ),
            (
                "sv_chatwoot_delivered_total",
                "Incident events delivered to their Chatwoot conversation.",
                &self.chatwoot_delivered,
            ),
            (
                "sv_chatwoot_attempts_failed_total",
                "Attempts to deliver to Chatwoot that failed (retried, or given up).",
                &self.chatwoot_attempts_failed,
            ),
            (
                "sv_chatwoot_inbound_refused_total",
                "Inbound Chatwoot webhook calls refused for a bad signature or token (401).",
                &self.chatwoot_inbound_refused,
            ),
        ];
        for (name, help, value) in webhook_counters {
            counter(name, help, "counter", get(value));
        }
        counter(
            "sv_cluster_leader",
            "1 while this node leads the site's stateful work (cluster mode), else 0.",
            "gauge",
            self.cluster_leader.load(Ordering::Relaxed),
        );
        counter(
            "sv_cluster_takeovers_total",
            "Times this node took the leader's lock.",
            "counter",
            get(&self.cluster_takeovers),
        );
        counter(
            "sv_cluster_fenced_batches_total",
            "Write batches and camera events refused because this node no longer led (left unacknowledged).",
            "counter",
            get(&self.cluster_fenced_batches),
        );
        counter(
            "sv_cluster_duplicates_skipped_total",
            "Readings of messages redelivered after a takeover that were already stored.",
            "counter",
            get(&self.cluster_duplicates_skipped),
        );
        let live_counters = [
            (
                "sv_cluster_live_sent_total",
                "Messages this node sent to the internal topic tree (positions, events).",
                &self.cluster_live_sent,
            ),
            (
                "sv_cluster_live_received_total",
                "Messages of the other nodes taken from the internal topic tree.",
                &self.cluster_live_received,
            ),
            (
                "sv_cluster_live_dropped_total",
                "Live-state messages dropped: not taken by the broker's client (broker away), or received faster than this node took them.",
                &self.cluster_live_dropped,
            ),
        ];
        for (name, help, value) in live_counters {
            counter(name, help, "counter", get(value));
        }
        counter(
            "sv_ingest_writer_backlog",
            "Readings waiting for a writer that is behind.",
            "gauge",
            self.ingest_writer_backlog.load(Ordering::Relaxed),
        );
        counter(
            "sv_position_history_tags",
            "Tags whose last position history point the ingest pipeline remembers.",
            "gauge",
            self.position_history_tags.load(Ordering::Relaxed),
        );
        counter(
            "sv_cambus_publish_pending",
            "Camera configurations (/info) waiting to be published.",
            "gauge",
            self.cambus_publish_pending.load(Ordering::Relaxed),
        );
        labelled(
            &mut out,
            (
                "sv_ingest_rejected_total",
                "Gateway reports rejected, by reason.",
            ),
            "reason",
            Rejection::ALL.map(|why| (why.label(), self.ingest_rejections(why))),
        );
        labelled(
            &mut out,
            (
                "sv_cambus_rejected_total",
                "Camera-tree messages refused, by reason.",
            ),
            "reason",
            CameraRejection::ALL.map(|why| (why.label(), self.cambus_rejections(why))),
        );
        labelled(
            &mut out,
            (
                "sv_mqtt_messages_in_total",
                "Messages received from clients, by QoS.",
            ),
            "qos",
            [
                ("0", get(&self.mqtt_messages_in_qos0) as u64),
                ("1", get(&self.mqtt_messages_in_qos1) as u64),
            ],
        );
        labelled(
            &mut out,
            (
                "sv_mqtt_messages_out_total",
                "Messages delivered to subscribers, by QoS.",
            ),
            "qos",
            [
                ("0", get(&self.mqtt_messages_out_qos0) as u64),
                ("1", get(&self.mqtt_messages_out_qos1) as u64),
            ],
        );
        labelled(
            &mut out,
            (
                "sv_mqtt_refused_total",
                "Connections and packets refused, by reason.",
            ),
            "reason",
            Refusal::ALL.map(|why| (why.label(), self.refusals(why))),
        );
        labelled(
            &mut out,
            (
                "sv_http_refused_total",
                "HTTP requests refused by the API's limits, by reason.",
            ),
            "reason",
            HttpRefusal::ALL.map(|why| (why.label(), self.http_refusals(why))),
        );
        out
    }
}

/// A counter with one label: its help, its type, and one line per label value.
fn labelled<const N: usize>(
    out: &mut String,
    (name, help): (&str, &str),
    label: &str,
    values: [(&str, u64); N],
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, count) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {count}");
    }
}
