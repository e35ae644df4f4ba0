-- no-transaction
-- Ids are never handed out twice (as on PostgreSQL): every table with an integer id is
-- rebuilt with `INTEGER PRIMARY KEY AUTOINCREMENT`, keeping its rows, ids, indexes and
-- foreign keys. Without AUTOINCREMENT SQLite gives a new row the largest id + 1, so the
-- id of the newest deleted row came back, and webhooks, audit rows, incident links and
-- integrators' copies then named the wrong object.
--
-- SQLite's table rebuild (https://sqlite.org/lang_altertable.html#otheralter): with
-- foreign keys enforced, dropping the old table would run its ON DELETE actions on every
-- referencing row, so enforcement is switched off around one explicit transaction (a
-- pragma that is a no-op inside a transaction, hence `no-transaction` above), and the
-- foreign keys are checked before it commits. A failure leaves the database untouched
-- (the store rolls back and switches enforcement on again). Run twice, it does the same
-- again harmlessly.

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TEMP TABLE _fk_violations_before AS SELECT COUNT(*) AS n FROM pragma_foreign_key_check;

-- users
CREATE TABLE new_users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_users (id, email, full_name, hashed_password, role, is_active, is_superuser,
        chatwoot_agent_id, must_change_password, tokens_valid_after, created_at,
        updated_at)
    SELECT id, email, full_name, hashed_password, role, is_active, is_superuser,
        chatwoot_agent_id, must_change_password, tokens_valid_after, created_at,
        updated_at
    FROM users;
DROP TABLE users;
ALTER TABLE new_users RENAME TO users;
CREATE INDEX ix_users_chatwoot_agent_id ON users (chatwoot_agent_id);

-- audit_log
CREATE TABLE new_audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at TEXT NOT NULL,
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    action      VARCHAR(64) NOT NULL,
    entity      VARCHAR(64) NOT NULL,
    entity_id   BIGINT,
    details     TEXT
);
INSERT INTO new_audit_log (id, occurred_at, user_id, action, entity, entity_id, details)
    SELECT id, occurred_at, user_id, action, entity, entity_id, details
    FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE new_audit_log RENAME TO audit_log;
CREATE INDEX ix_audit_log_occurred_at ON audit_log (occurred_at);
CREATE INDEX ix_audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX ix_audit_log_user_id ON audit_log (user_id);

-- buildings
CREATE TABLE new_buildings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(255) NOT NULL,
    code        VARCHAR(64) NOT NULL,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_buildings_code UNIQUE (code)
);
INSERT INTO new_buildings (id, name, code, description, created_at, updated_at)
    SELECT id, name, code, description, created_at, updated_at
    FROM buildings;
DROP TABLE buildings;
ALTER TABLE new_buildings RENAME TO buildings;

-- floors
CREATE TABLE new_floors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    building_id BIGINT NOT NULL REFERENCES buildings (id) ON DELETE CASCADE,
    name        VARCHAR(255) NOT NULL,
    level       INTEGER,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
INSERT INTO new_floors (id, building_id, name, level, description, created_at, updated_at)
    SELECT id, building_id, name, level, description, created_at, updated_at
    FROM floors;
DROP TABLE floors;
ALTER TABLE new_floors RENAME TO floors;
CREATE INDEX ix_floors_building_id ON floors (building_id);

-- floor_plans
CREATE TABLE new_floor_plans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    floor_id    BIGINT NOT NULL REFERENCES floors (id) ON DELETE CASCADE,
    name        VARCHAR(255) NOT NULL,
    image_url   VARCHAR(1024),
    width       REAL,
    height      REAL,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    width_m     REAL,
    height_m    REAL
);
INSERT INTO new_floor_plans (id, floor_id, name, image_url, width, height, description, created_at,
        updated_at, width_m, height_m)
    SELECT id, floor_id, name, image_url, width, height, description, created_at,
        updated_at, width_m, height_m
    FROM floor_plans;
DROP TABLE floor_plans;
ALTER TABLE new_floor_plans RENAME TO floor_plans;
CREATE INDEX ix_floor_plans_floor_id ON floor_plans (floor_id);

-- devices
CREATE TABLE new_devices (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
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
    rssi_at_1m               DOUBLE PRECISION,
    path_loss_exponent       DOUBLE PRECISION,
    CONSTRAINT uq_devices_code UNIQUE (code),
    CONSTRAINT uq_devices_mac_address UNIQUE (mac_address)
);
INSERT INTO new_devices (id, floor_plan_id, building_id, floor_id, name, code, type, mac_address,
        description, pos_x, pos_y, ip_address, port, username, password_encrypted,
        manufacturer, model, shard, analytics, rtsp_url, proxy_path, central_path,
        record_retention_minutes, central_media_mtx_ip, last_seen_at, created_at,
        updated_at, rssi_at_1m, path_loss_exponent)
    SELECT id, floor_plan_id, building_id, floor_id, name, code, type, mac_address,
        description, pos_x, pos_y, ip_address, port, username, password_encrypted,
        manufacturer, model, shard, analytics, rtsp_url, proxy_path, central_path,
        record_retention_minutes, central_media_mtx_ip, last_seen_at, created_at,
        updated_at, rssi_at_1m, path_loss_exponent
    FROM devices;
DROP TABLE devices;
ALTER TABLE new_devices RENAME TO devices;
CREATE INDEX ix_devices_floor_plan_id ON devices (floor_plan_id);
CREATE INDEX ix_devices_building_id ON devices (building_id);
CREATE INDEX ix_devices_floor_id ON devices (floor_id);
CREATE INDEX ix_devices_type ON devices (type);

-- people
CREATE TABLE new_people (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_people (id, full_name, document_id, email, phone, user_type, active, notes, created_at,
        updated_at)
    SELECT id, full_name, document_id, email, phone, user_type, active, notes, created_at,
        updated_at
    FROM people;
DROP TABLE people;
ALTER TABLE new_people RENAME TO people;
CREATE INDEX ix_people_document_id ON people (document_id);

-- tags
CREATE TABLE new_tags (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mac_address VARCHAR(12) NOT NULL,
    label       VARCHAR(255),
    person_id   BIGINT REFERENCES people (id) ON DELETE SET NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    notes       VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_tags_mac_address UNIQUE (mac_address)
);
INSERT INTO new_tags (id, mac_address, label, person_id, active, notes, created_at, updated_at)
    SELECT id, mac_address, label, person_id, active, notes, created_at, updated_at
    FROM tags;
DROP TABLE tags;
ALTER TABLE new_tags RENAME TO tags;
CREATE INDEX ix_tags_person_id ON tags (person_id);

-- collection_logs
CREATE TABLE new_collection_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    rssi        INTEGER,
    raw_payload VARCHAR(4096),
    created_at  TEXT NOT NULL
);
INSERT INTO new_collection_logs (id, device_id, tag_id, rssi, raw_payload, created_at)
    SELECT id, device_id, tag_id, rssi, raw_payload, created_at
    FROM collection_logs;
DROP TABLE collection_logs;
ALTER TABLE new_collection_logs RENAME TO collection_logs;
CREATE INDEX ix_collection_logs_tag_time ON collection_logs (tag_id, created_at);
CREATE INDEX ix_collection_logs_device_time ON collection_logs (device_id, created_at);
CREATE INDEX ix_collection_logs_created_at ON collection_logs (created_at);

-- presence_sessions
CREATE TABLE new_presence_sessions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id        BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag_id           BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    started_at       TEXT NOT NULL,
    ended_at         TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL DEFAULT 0,
    samples_count    INTEGER NOT NULL DEFAULT 1,
    is_open          INTEGER NOT NULL DEFAULT 1
);
INSERT INTO new_presence_sessions (id, device_id, tag_id, started_at, ended_at, duration_seconds, samples_count,
        is_open)
    SELECT id, device_id, tag_id, started_at, ended_at, duration_seconds, samples_count,
        is_open
    FROM presence_sessions;
DROP TABLE presence_sessions;
ALTER TABLE new_presence_sessions RENAME TO presence_sessions;
CREATE INDEX ix_presence_sessions_tag_time ON presence_sessions (tag_id, started_at);
CREATE INDEX ix_presence_sessions_device_time ON presence_sessions (device_id, started_at);
CREATE INDEX ix_presence_sessions_started_at ON presence_sessions (started_at);
CREATE UNIQUE INDEX uq_presence_sessions_key ON presence_sessions (tag_id, device_id, started_at);

-- device_topics
CREATE TABLE new_device_topics (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    kind        VARCHAR(32) NOT NULL,
    topic       VARCHAR(512) NOT NULL,
    description VARCHAR(512),
    is_active   INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_device_topics UNIQUE (device_id, kind, topic)
);
INSERT INTO new_device_topics (id, device_id, kind, topic, description, is_active, created_at, updated_at)
    SELECT id, device_id, kind, topic, description, is_active, created_at, updated_at
    FROM device_topics;
DROP TABLE device_topics;
ALTER TABLE new_device_topics RENAME TO device_topics;

-- device_events
CREATE TABLE new_device_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    topic         VARCHAR(512) NOT NULL,
    analytic_type VARCHAR(64) NOT NULL,
    payload       TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    dedup_key     VARCHAR(64),
    person_id     BIGINT REFERENCES people (id) ON DELETE SET NULL,
    nearby_people TEXT
);
INSERT INTO new_device_events (id, device_id, topic, analytic_type, payload, occurred_at, created_at,
        dedup_key, person_id, nearby_people)
    SELECT id, device_id, topic, analytic_type, payload, occurred_at, created_at,
        dedup_key, person_id, nearby_people
    FROM device_events;
DROP TABLE device_events;
ALTER TABLE new_device_events RENAME TO device_events;
CREATE INDEX ix_device_events_device_time ON device_events (device_id, occurred_at);
CREATE INDEX ix_device_events_analytic_type ON device_events (analytic_type);
CREATE INDEX ix_device_events_occurred_at ON device_events (occurred_at);
CREATE INDEX ix_device_events_topic ON device_events (topic);
CREATE UNIQUE INDEX uq_device_events_dedup ON device_events (device_id, dedup_key);

-- person_groups
CREATE TABLE new_person_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(255) NOT NULL,
    description VARCHAR(1024),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_person_groups_name UNIQUE (name)
);
INSERT INTO new_person_groups (id, name, description, created_at, updated_at)
    SELECT id, name, description, created_at, updated_at
    FROM person_groups;
DROP TABLE person_groups;
ALTER TABLE new_person_groups RENAME TO person_groups;

-- support_groups
CREATE TABLE new_support_groups (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_support_groups (id, name, description, is_active, chatwoot_inbox_identifier, chatwoot_team_id,
        default_sla_minutes, created_at, updated_at)
    SELECT id, name, description, is_active, chatwoot_inbox_identifier, chatwoot_team_id,
        default_sla_minutes, created_at, updated_at
    FROM support_groups;
DROP TABLE support_groups;
ALTER TABLE new_support_groups RENAME TO support_groups;

-- alert_rules
CREATE TABLE new_alert_rules (
    id                            INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_alert_rules (id, name, description, rule_type, group_id, device_id, max_dwell_seconds,
        is_active, create_incident, incident_kind, incident_severity,
        incident_title_template, incident_description_template, incident_sla_minutes,
        incident_assigned_group_id, incident_assigned_to_user_id,
        incident_auto_close_on_end, created_at, updated_at)
    SELECT id, name, description, rule_type, group_id, device_id, max_dwell_seconds,
        is_active, create_incident, incident_kind, incident_severity,
        incident_title_template, incident_description_template, incident_sla_minutes,
        incident_assigned_group_id, incident_assigned_to_user_id,
        incident_auto_close_on_end, created_at, updated_at
    FROM alert_rules;
DROP TABLE alert_rules;
ALTER TABLE new_alert_rules RENAME TO alert_rules;
CREATE INDEX ix_alert_rules_group_id ON alert_rules (group_id);
CREATE INDEX ix_alert_rules_device_id ON alert_rules (device_id);
CREATE INDEX ix_alert_rules_incident_assigned_group_id ON alert_rules (incident_assigned_group_id);
CREATE INDEX ix_alert_rules_incident_assigned_to_user_id ON alert_rules (incident_assigned_to_user_id);

-- camera_groups
CREATE TABLE new_camera_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        VARCHAR(255) NOT NULL,
    description VARCHAR(1024),
    tenant      VARCHAR(255),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT uq_camera_groups_name UNIQUE (name)
);
INSERT INTO new_camera_groups (id, name, description, tenant, created_at, updated_at)
    SELECT id, name, description, tenant, created_at, updated_at
    FROM camera_groups;
DROP TABLE camera_groups;
ALTER TABLE new_camera_groups RENAME TO camera_groups;

-- incidents
CREATE TABLE new_incidents (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_incidents (id, device_id, device_event_id, kind, tenant, status, severity, title,
        description, sla_minutes, due_at, chatwoot_conversation_id, created_at,
        updated_at, closed_at, created_by_user_id, assigned_to_user_id,
        assigned_group_id)
    SELECT id, device_id, device_event_id, kind, tenant, status, severity, title,
        description, sla_minutes, due_at, chatwoot_conversation_id, created_at,
        updated_at, closed_at, created_by_user_id, assigned_to_user_id,
        assigned_group_id
    FROM incidents;
DROP TABLE incidents;
ALTER TABLE new_incidents RENAME TO incidents;
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

-- incident_messages
CREATE TABLE new_incident_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_incident_messages (id, incident_id, message_type, author_name, content, media_type, media_url,
        media_thumb_url, media_name, created_at)
    SELECT id, incident_id, message_type, author_name, content, media_type, media_url,
        media_thumb_url, media_name, created_at
    FROM incident_messages;
DROP TABLE incident_messages;
ALTER TABLE new_incident_messages RENAME TO incident_messages;
CREATE INDEX ix_incident_messages_incident_id ON incident_messages (incident_id, id);
CREATE INDEX ix_incident_messages_created_at ON incident_messages (created_at);

-- incident_attachments
CREATE TABLE new_incident_attachments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    file_name    VARCHAR(255) NOT NULL,
    content_type VARCHAR(128),
    file_size    BIGINT,
    storage_path VARCHAR(1024) NOT NULL,
    created_at   TEXT NOT NULL
);
INSERT INTO new_incident_attachments (id, incident_id, file_name, content_type, file_size, storage_path, created_at)
    SELECT id, incident_id, file_name, content_type, file_size, storage_path, created_at
    FROM incident_attachments;
DROP TABLE incident_attachments;
ALTER TABLE new_incident_attachments RENAME TO incident_attachments;
CREATE INDEX ix_incident_attachments_incident_id ON incident_attachments (incident_id);

-- incident_rules
CREATE TABLE new_incident_rules (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_incident_rules (id, name, enabled, analytic_type, device_id, tenant, severity, title_template,
        description_template, assigned_to_user_id, camera_group_id, assigned_group_id,
        created_at, updated_at)
    SELECT id, name, enabled, analytic_type, device_id, tenant, severity, title_template,
        description_template, assigned_to_user_id, camera_group_id, assigned_group_id,
        created_at, updated_at
    FROM incident_rules;
DROP TABLE incident_rules;
ALTER TABLE new_incident_rules RENAME TO incident_rules;
CREATE INDEX ix_incident_rules_enabled ON incident_rules (enabled);
CREATE INDEX ix_incident_rules_analytic_type ON incident_rules (analytic_type);
CREATE INDEX ix_incident_rules_device_id ON incident_rules (device_id);
CREATE INDEX ix_incident_rules_tenant ON incident_rules (tenant);
CREATE INDEX ix_incident_rules_camera_group_id ON incident_rules (camera_group_id);
CREATE INDEX ix_incident_rules_assigned_group_id ON incident_rules (assigned_group_id);
CREATE INDEX ix_incident_rules_assigned_to_user_id ON incident_rules (assigned_to_user_id);

-- alert_events
CREATE TABLE new_alert_events (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_alert_events (id, rule_id, event_type, person_id, tag_id, device_id, floor_plan_id, floor_id,
        building_id, group_id, incident_id, first_collection_log_id,
        last_collection_log_id, started_at, last_seen_at, ended_at, is_open, message,
        payload)
    SELECT id, rule_id, event_type, person_id, tag_id, device_id, floor_plan_id, floor_id,
        building_id, group_id, incident_id, first_collection_log_id,
        last_collection_log_id, started_at, last_seen_at, ended_at, is_open, message,
        payload
    FROM alert_events;
DROP TABLE alert_events;
ALTER TABLE new_alert_events RENAME TO alert_events;
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

-- webhook_subscriptions
CREATE TABLE new_webhook_subscriptions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              VARCHAR(255) NOT NULL,
    url               VARCHAR(1024) NOT NULL,
    secret_token      VARCHAR(255),
    event_type_filter VARCHAR(64),
    is_active         INTEGER NOT NULL DEFAULT 1,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
INSERT INTO new_webhook_subscriptions (id, name, url, secret_token, event_type_filter, is_active, created_at,
        updated_at)
    SELECT id, name, url, secret_token, event_type_filter, is_active, created_at,
        updated_at
    FROM webhook_subscriptions;
DROP TABLE webhook_subscriptions;
ALTER TABLE new_webhook_subscriptions RENAME TO webhook_subscriptions;

-- mqtt_credentials
CREATE TABLE new_mqtt_credentials (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
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
INSERT INTO new_mqtt_credentials (id, username, password_hash, role, description, publish_acl, subscribe_acl,
        is_active, last_connected_at, created_at, updated_at)
    SELECT id, username, password_hash, role, description, publish_acl, subscribe_acl,
        is_active, last_connected_at, created_at, updated_at
    FROM mqtt_credentials;
DROP TABLE mqtt_credentials;
ALTER TABLE new_mqtt_credentials RENAME TO mqtt_credentials;

-- Copying the rows with their ids set each table's sequence to its largest id. An id an
-- audit entry names was handed out too, even when its row (the newest one) is gone.
CREATE TEMP TABLE _audited (name TEXT PRIMARY KEY, entity TEXT NOT NULL);
INSERT INTO _audited (name, entity) VALUES
    ('users', 'user'), ('buildings', 'building'), ('floors', 'floor'),
    ('floor_plans', 'floor_plan'), ('devices', 'device'), ('people', 'person'),
    ('tags', 'tag'), ('collection_logs', 'collection_log'), ('person_groups', 'person_group'),
    ('support_groups', 'support_group'), ('camera_groups', 'camera_group'),
    ('mqtt_credentials', 'mqtt_credential');
INSERT INTO sqlite_sequence (name, seq)
    SELECT name, 0 FROM _audited WHERE name NOT IN (SELECT name FROM sqlite_sequence);
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((
        SELECT MAX(a.entity_id) FROM audit_log a JOIN _audited m ON a.entity = m.entity
        WHERE m.name = sqlite_sequence.name), 0))
    WHERE name IN (SELECT name FROM _audited);
DROP TABLE _audited;

-- Every reference still resolves: no violation that was not there before.
CREATE TEMP TABLE _fk_check (no_new_foreign_key_violations INTEGER NOT NULL
    CHECK (no_new_foreign_key_violations));
INSERT INTO _fk_check
    SELECT (SELECT COUNT(*) FROM pragma_foreign_key_check) <= n FROM _fk_violations_before;
DROP TABLE _fk_check;
DROP TABLE _fk_violations_before;

COMMIT;
PRAGMA foreign_keys = ON;
