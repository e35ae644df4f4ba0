-- CAM-BUS: camera events fused with the people nearby, deduplicated; the collectors heard
-- on the bus; the retained camera configurations (/info) the appliance publishes.

-- An event repeated by a reconnecting collector (same topic, same payload time) has the
-- same key and is stored once; events without a payload time have no key.
ALTER TABLE device_events ADD COLUMN dedup_key VARCHAR(64);
-- The person a face-recognition event named, when the name matches one.
ALTER TABLE device_events ADD COLUMN person_id BIGINT REFERENCES people (id) ON DELETE SET NULL;
-- The tagged people near the camera when the event happened (JSON array).
ALTER TABLE device_events ADD COLUMN nearby_people JSONB;
CREATE UNIQUE INDEX uq_device_events_dedup ON device_events (device_id, dedup_key);

CREATE TABLE cambus_collectors (
    tenant       VARCHAR(128) NOT NULL,
    building     VARCHAR(128) NOT NULL,
    status       VARCHAR(64) NOT NULL,
    payload      JSONB NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, building)
);

-- One row per /info topic ever published: what it should hold (the camera's configuration
-- or {"enabled": false}) and whether the broker has it yet. Rows outlive their camera, so
-- that a deleted or moved camera's old topic keeps being disabled.
CREATE TABLE cambus_info_topics (
    topic        VARCHAR(512) PRIMARY KEY,
    device_id    BIGINT,
    enabled      BOOLEAN NOT NULL,
    config_hash  VARCHAR(64) NOT NULL,
    pending      BOOLEAN NOT NULL DEFAULT TRUE,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    published_at TIMESTAMPTZ
);
