-- SQLite twin of migrations/postgres/0001_baseline.sql (same version, same tables, same
-- constraints); the deliberate differences from the original backend are listed there.
-- Dialect: INTEGER PRIMARY KEY is the rowid; timestamps are TEXT in RFC 3339 UTC as sqlx
-- writes them (they sort in time order); JSON is TEXT; booleans are INTEGER 0/1.

CREATE TABLE app_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    email                VARCHAR(255) NOT NULL,
    full_name            VARCHAR(255) NOT NULL,
    hashed_password      VARCHAR(255) NOT NULL,
    role                 VARCHAR(32) NOT NULL DEFAULT 'OPERATOR'
                         CHECK (role IN ('OPERATOR', 'ADMIN', 'SUPERADMIN')),
    is_active            INTEGER NOT NULL DEFAULT 1,
    is_superuser         INTEGER NOT NULL DEFAULT 0,
    chatwoot_agent_id    BIGINT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    tokens_valid_after   TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    CONSTRAINT uq_users_email UNIQUE (email)
);
CREATE INDEX ix_users_chatwoot_agent_id ON users (chatwoot_agent_id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action      VARCHAR(64) NOT NULL,
    entity      VARCHAR(64) NOT NULL,
    entity_id   BIGINT,
    details     TEXT
);
CREATE INDEX ix_audit_log_occurred_at ON audit_log (occurred_at);
CREATE INDEX ix_audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX ix_audit_log_user_id ON audit_log (user_id);

CREATE TABLE buildings (
    id          INTEGER PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    code        VARCHAR(64) NOT NULL,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_buildings_code UNIQUE (code)
);

CREATE TABLE floors (
    id          INTEGER PRIMARY KEY,
    building_id BIGINT NOT NULL REFERENCES buildings (id) ON DELETE CASCADE,
    name        VARCHAR(255) NOT NULL,
    level       INTEGER,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX ix_floors_building_id ON floors (building_id);

CREATE TABLE floor_plans (
    id          INTEGER PRIMARY KEY,
    floor_id    BIGINT NOT NULL REFERENCES floors (id) ON DELETE CASCADE,
    name        VARCHAR(255) NOT NULL,
    image_url   VARCHAR(1024),
    width       REAL,
    height      REAL,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX ix_floor_plans_floor_id ON floor_plans (floor_id);

CREATE TABLE devices (
    id                       INTEGER PRIMARY KEY,
    floor_plan_id            BIGINT REFERENCES floor_plans (id) ON DELETE SET NULL,
    building_id              BIGINT REFERENCES buildings (id) ON DELETE SET NULL,
    floor_id                 BIGINT REFERENCES floors (id) ON DELETE SET NULL,
    name                     VARCHAR(255) NOT NULL,
    code                     VARCHAR(64),
    type                     VARCHAR(32) NOT NULL DEFAULT 'BLE_GATEWAY'
                             CHECK (type IN ('BLE_GATEWAY', 'CAMERA', 'ACCESS_CONTROLLER')),
    mac_address              VARCHAR(12),
    description              VARCHAR(1024),
    pos_x                    REAL,
    pos_y                    REAL,
    ip_address               VARCHAR(64),
    port                     INTEGER,
    username                 VARCHAR(128),
    password_encrypted       TEXT,
    manufacturer             VARCHAR(128),
    model                    VARCHAR(128),
    shard                    VARCHAR(64),
    analytics                TEXT,
    rtsp_url                 VARCHAR(512),
    proxy_path               VARCHAR(255),
    central_path             VARCHAR(255),
    record_retention_minutes INTEGER,
    central_media_mtx_ip     VARCHAR(64),
    last_seen_at             TEXT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    CONSTRAINT uq_devices_code UNIQUE (code),
    CONSTRAINT uq_devices_mac_address UNIQUE (mac_address)
);
CREATE INDEX ix_devices_floor_plan_id ON devices (floor_plan_id);
CREATE INDEX ix_devices_building_id ON devices (building_id);
CREATE INDEX ix_devices_floor_id ON devices (floor_id);
CREATE INDEX ix_devices_type ON devices (type);

CREATE TABLE people (
    id          INTEGER PRIMARY KEY,
    full_name   VARCHAR(255) NOT NULL,
    document_id VARCHAR(64),
    email       VARCHAR(255),
    phone       VARCHAR(32),
    user_type   INTEGER,
    active      INTEGER NOT NULL DEFAULT 1,
    notes       VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX ix_people_document_id ON people (document_id);

CREATE TABLE tags (
    id          INTEGER PRIMARY KEY,
    mac_address VARCHAR(12) NOT NULL,
    label       VARCHAR(255),
    person_id   BIGINT REFERENCES people (id) ON DELETE SET NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    notes       VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_tags_mac_address UNIQUE (mac_address)
);
CREATE INDEX ix_tags_person_id ON tags (person_id);

CREATE TABLE collection_logs (
    id          INTEGER PRIMARY KEY,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    rssi        INTEGER,
    raw_payload VARCHAR(4096),
    created_at  TEXT NOT NULL
);
CREATE INDEX ix_collection_logs_tag_time ON collection_logs (tag_id, created_at);
CREATE INDEX ix_collection_logs_device_time ON collection_logs (device_id, created_at);
CREATE INDEX ix_collection_logs_created_at ON collection_logs (created_at);

CREATE TABLE presence_sessions (
    id               INTEGER PRIMARY KEY,
    device_id        BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag_id           BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    started_at       TEXT NOT NULL,
    ended_at         TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL DEFAULT 0,
    samples_count    INTEGER NOT NULL DEFAULT 1,
    is_open          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX ix_presence_sessions_tag_time ON presence_sessions (tag_id, started_at);
CREATE INDEX ix_presence_sessions_device_time ON presence_sessions (device_id, started_at);
CREATE INDEX ix_presence_sessions_started_at ON presence_sessions (started_at);

CREATE TABLE device_topics (
    id          INTEGER PRIMARY KEY,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind        VARCHAR(32) NOT NULL,
    topic       VARCHAR(512) NOT NULL,
    description VARCHAR(512),
    is_active   INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_device_topics UNIQUE (device_id, kind, topic)
);

CREATE TABLE device_events (
    id            INTEGER PRIMARY KEY,
    device_id     BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    topic         VARCHAR(512) NOT NULL,
    analytic_type VARCHAR(64) NOT NULL,
    payload       TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX ix_device_events_device_time ON device_events (device_id, occurred_at);
CREATE INDEX ix_device_events_analytic_type ON device_events (analytic_type);
CREATE INDEX ix_device_events_occurred_at ON device_events (occurred_at);
CREATE INDEX ix_device_events_topic ON device_events (topic);

CREATE TABLE person_groups (
    id          INTEGER PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_person_groups_name UNIQUE (name)
);

CREATE TABLE person_group_memberships (
    person_id BIGINT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    group_id  BIGINT NOT NULL REFERENCES person_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (person_id, group_id)
);
CREATE INDEX ix_person_group_memberships_group_id ON person_group_memberships (group_id);

CREATE TABLE support_groups (
    id                        INTEGER PRIMARY KEY,
    name                      VARCHAR(100) NOT NULL,
    description               TEXT,
    is_active                 INTEGER NOT NULL DEFAULT 1,
    chatwoot_inbox_identifier VARCHAR(255),
    chatwoot_team_id          BIGINT,
    default_sla_minutes       INTEGER,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    CONSTRAINT uq_support_groups_name UNIQUE (name)
);

CREATE TABLE support_group_members (
    group_id BIGINT NOT NULL REFERENCES support_groups (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX ix_support_group_members_user_id ON support_group_members (user_id);

CREATE TABLE alert_rules (
    id                            INTEGER PRIMARY KEY,
    name                          VARCHAR(255) NOT NULL,
    description                   VARCHAR(1024),
    rule_type                     VARCHAR(64) NOT NULL,
    group_id                      BIGINT REFERENCES person_groups (id) ON DELETE SET NULL,
    device_id                     BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    max_dwell_seconds             INTEGER,
    is_active                     INTEGER NOT NULL DEFAULT 1,
    create_incident               INTEGER NOT NULL DEFAULT 0,
    incident_kind                 VARCHAR(64),
    incident_severity             VARCHAR(16) NOT NULL DEFAULT 'MEDIUM'
                                  CHECK (incident_severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    incident_title_template       VARCHAR(255),
    incident_description_template TEXT,
    incident_sla_minutes          INTEGER,
    incident_assigned_group_id    BIGINT REFERENCES support_groups (id) ON DELETE SET NULL,
    incident_assigned_to_user_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    incident_auto_close_on_end    INTEGER NOT NULL DEFAULT 0,
    created_at                    TEXT NOT NULL,
    updated_at                    TEXT NOT NULL
);
CREATE INDEX ix_alert_rules_group_id ON alert_rules (group_id);
CREATE INDEX ix_alert_rules_device_id ON alert_rules (device_id);
CREATE INDEX ix_alert_rules_incident_assigned_group_id ON alert_rules (incident_assigned_group_id);
CREATE INDEX ix_alert_rules_incident_assigned_to_user_id ON alert_rules (incident_assigned_to_user_id);

CREATE TABLE camera_groups (
    id          INTEGER PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    description VARCHAR(1024),
    tenant      VARCHAR(255),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_camera_groups_name UNIQUE (name)
);

CREATE TABLE camera_group_devices (
    camera_group_id BIGINT NOT NULL REFERENCES camera_groups (id) ON DELETE CASCADE,
    device_id       BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    PRIMARY KEY (camera_group_id, device_id)
);
CREATE INDEX ix_camera_group_devices_device_id ON camera_group_devices (device_id);

CREATE TABLE incidents (
    id                       INTEGER PRIMARY KEY,
    device_id                BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    device_event_id          BIGINT REFERENCES device_events (id) ON DELETE SET NULL,
    kind                     VARCHAR(64) NOT NULL,
    tenant                   VARCHAR(64),
    status                   VARCHAR(32) NOT NULL
                             CHECK (status IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'FALSE_POSITIVE', 'CANCELED')),
    severity                 VARCHAR(32) NOT NULL
                             CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    title                    VARCHAR(255) NOT NULL,
    description              TEXT,
    sla_minutes              INTEGER,
    due_at                   TEXT,
    chatwoot_conversation_id BIGINT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    closed_at                TEXT,
    created_by_user_id       BIGINT REFERENCES users (id) ON DELETE SET NULL,
    assigned_to_user_id      BIGINT REFERENCES users (id) ON DELETE SET NULL,
    assigned_group_id        BIGINT REFERENCES support_groups (id) ON DELETE SET NULL,
    CONSTRAINT uq_incidents_device_event_id UNIQUE (device_event_id)
);
CREATE INDEX ix_incidents_device_id ON incidents (device_id);
CREATE INDEX ix_incidents_kind ON incidents (kind);
CREATE INDEX ix_incidents_tenant ON incidents (tenant);
CREATE INDEX ix_incidents_status ON incidents (status);
CREATE INDEX ix_incidents_severity ON incidents (severity);
CREATE INDEX ix_incidents_due_at ON incidents (due_at);
CREATE INDEX ix_incidents_chatwoot_conversation_id ON incidents (chatwoot_conversation_id);
CREATE INDEX ix_incidents_created_at ON incidents (created_at);
CREATE INDEX ix_incidents_closed_at ON incidents (closed_at);
CREATE INDEX ix_incidents_assigned_group_id ON incidents (assigned_group_id);
CREATE INDEX ix_incidents_assigned_to_user_id ON incidents (assigned_to_user_id);
CREATE INDEX ix_incidents_created_by_user_id ON incidents (created_by_user_id);

CREATE TABLE incident_assignees (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX ix_incident_assignees_user_id ON incident_assignees (user_id);

CREATE TABLE incident_messages (
    id              INTEGER PRIMARY KEY,
    incident_id     BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    message_type    VARCHAR(32) NOT NULL DEFAULT 'TEXT',
    author_name     VARCHAR(255),
    content         TEXT NOT NULL,
    media_type      VARCHAR(32),
    media_url       TEXT,
    media_thumb_url TEXT,
    media_name      VARCHAR(255),
    created_at      TEXT NOT NULL
);
CREATE INDEX ix_incident_messages_incident_id ON incident_messages (incident_id, id);
CREATE INDEX ix_incident_messages_created_at ON incident_messages (created_at);

CREATE TABLE incident_attachments (
    id           INTEGER PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    file_name    VARCHAR(255) NOT NULL,
    content_type VARCHAR(128),
    file_size    BIGINT,
    storage_path VARCHAR(1024) NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX ix_incident_attachments_incident_id ON incident_attachments (incident_id);

CREATE TABLE incident_rules (
    id                   INTEGER PRIMARY KEY,
    name                 VARCHAR(255) NOT NULL,
    enabled              INTEGER NOT NULL DEFAULT 1,
    analytic_type        VARCHAR(128),
    device_id            BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    tenant               VARCHAR(64),
    severity             VARCHAR(32) NOT NULL DEFAULT 'MEDIUM'
                         CHECK (severity IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    title_template       VARCHAR(255),
    description_template TEXT,
    assigned_to_user_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    camera_group_id      BIGINT REFERENCES camera_groups (id) ON DELETE SET NULL,
    assigned_group_id    BIGINT REFERENCES support_groups (id) ON DELETE SET NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX ix_incident_rules_enabled ON incident_rules (enabled);
CREATE INDEX ix_incident_rules_analytic_type ON incident_rules (analytic_type);
CREATE INDEX ix_incident_rules_device_id ON incident_rules (device_id);
CREATE INDEX ix_incident_rules_tenant ON incident_rules (tenant);
CREATE INDEX ix_incident_rules_camera_group_id ON incident_rules (camera_group_id);
CREATE INDEX ix_incident_rules_assigned_group_id ON incident_rules (assigned_group_id);
CREATE INDEX ix_incident_rules_assigned_to_user_id ON incident_rules (assigned_to_user_id);

CREATE TABLE alert_events (
    id                      INTEGER PRIMARY KEY,
    rule_id                 BIGINT REFERENCES alert_rules (id) ON DELETE SET NULL,
    event_type              VARCHAR(64) NOT NULL,
    person_id               BIGINT REFERENCES people (id) ON DELETE SET NULL,
    tag_id                  BIGINT REFERENCES tags (id) ON DELETE SET NULL,
    device_id               BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    floor_plan_id           BIGINT REFERENCES floor_plans (id) ON DELETE SET NULL,
    floor_id                BIGINT REFERENCES floors (id) ON DELETE SET NULL,
    building_id             BIGINT REFERENCES buildings (id) ON DELETE SET NULL,
    group_id                BIGINT REFERENCES person_groups (id) ON DELETE SET NULL,
    incident_id             BIGINT REFERENCES incidents (id) ON DELETE SET NULL,
    first_collection_log_id BIGINT REFERENCES collection_logs (id) ON DELETE SET NULL,
    last_collection_log_id  BIGINT REFERENCES collection_logs (id) ON DELETE SET NULL,
    started_at              TEXT NOT NULL,
    last_seen_at            TEXT NOT NULL,
    ended_at                TEXT,
    is_open                 INTEGER NOT NULL DEFAULT 1,
    message                 VARCHAR(1024),
    payload                 TEXT
);
CREATE INDEX ix_alert_events_rule_id ON alert_events (rule_id);
CREATE INDEX ix_alert_events_event_type ON alert_events (event_type);
CREATE INDEX ix_alert_events_person_id ON alert_events (person_id);
CREATE INDEX ix_alert_events_tag_id ON alert_events (tag_id);
CREATE INDEX ix_alert_events_device_id ON alert_events (device_id);
CREATE INDEX ix_alert_events_floor_plan_id ON alert_events (floor_plan_id);
CREATE INDEX ix_alert_events_floor_id ON alert_events (floor_id);
CREATE INDEX ix_alert_events_building_id ON alert_events (building_id);
CREATE INDEX ix_alert_events_group_id ON alert_events (group_id);
CREATE INDEX ix_alert_events_incident_id ON alert_events (incident_id);
CREATE INDEX ix_alert_events_first_collection_log_id ON alert_events (first_collection_log_id);
CREATE INDEX ix_alert_events_last_collection_log_id ON alert_events (last_collection_log_id);
CREATE INDEX ix_alert_events_started_at ON alert_events (started_at);
CREATE INDEX ix_alert_events_open ON alert_events (is_open, event_type);

CREATE TABLE webhook_subscriptions (
    id                INTEGER PRIMARY KEY,
    name              VARCHAR(255) NOT NULL,
    url               VARCHAR(1024) NOT NULL,
    secret_token      VARCHAR(255),
    event_type_filter VARCHAR(64),
    is_active         INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
