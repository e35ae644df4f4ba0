-- Webhooks that never lose a message: subscriptions may name several event types, keep
-- their secret sealed, and every event they want is written to an outbox that a worker
-- delivers, retries and logs.

-- Comma-framed list of wire names (",A,B,"), NULL: every type (or the original's single
-- event_type_filter).
ALTER TABLE webhook_subscriptions ADD COLUMN event_types TEXT;
-- Set when deliveries have failed for webhooks.pause_after_hours: nothing is sent until an
-- administrator resumes it (events keep being queued).
ALTER TABLE webhook_subscriptions ADD COLUMN paused_at TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN pause_reason VARCHAR(1024);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id  INTEGER NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- What a receiver may use against replays and duplicates.
    delivery_id      VARCHAR(64) NOT NULL UNIQUE,
    event_type       VARCHAR(64) NOT NULL,
    -- The exact bytes sent.
    body             TEXT NOT NULL,
    -- PENDING, DELIVERED or FAILED (given up after webhooks.retry_hours).
    status           VARCHAR(16) NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_status_code INTEGER,
    last_error       VARCHAR(1024),
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE INDEX ix_webhook_deliveries_queue ON webhook_deliveries (status, subscription_id, id);
CREATE INDEX ix_webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);
