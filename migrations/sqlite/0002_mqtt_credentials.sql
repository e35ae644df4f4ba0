-- Credentials of the clients of the embedded MQTT broker (gateways, camera collectors,
-- other site clients): a hashed password and the topic trees each may publish to and
-- subscribe to (JSON arrays of MQTT filters; %u = username, %c = client id).
CREATE TABLE mqtt_credentials (
    id                INTEGER PRIMARY KEY,
    username          VARCHAR(128) NOT NULL,
    password_hash     VARCHAR(255) NOT NULL,
    role              VARCHAR(32) NOT NULL CHECK (role IN ('GATEWAY', 'COLLECTOR', 'CUSTOM')),
    description       VARCHAR(1024),
    publish_acl       TEXT NOT NULL,
    subscribe_acl     TEXT NOT NULL,
    is_active         INTEGER NOT NULL DEFAULT 1,
    last_connected_at TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    CONSTRAINT uq_mqtt_credentials_username UNIQUE (username)
);
