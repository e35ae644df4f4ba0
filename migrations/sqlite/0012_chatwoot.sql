-- Chatwoot's share of the webhook outbox: what an incident sends to its conversation,
-- delivered by the webhook worker with the same retries, in order per incident.
CREATE TABLE chatwoot_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id      INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    delivery_id      VARCHAR(64) NOT NULL UNIQUE,
    -- The event that caused it, and its webhook body (what is sent is built from it).
    event_type       VARCHAR(64) NOT NULL,
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
CREATE INDEX ix_chatwoot_deliveries_queue ON chatwoot_deliveries (status, incident_id, id);
