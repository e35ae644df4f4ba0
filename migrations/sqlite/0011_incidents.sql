-- no-transaction
-- The incident desk. Every matching incident rule opens its own incident for a camera
-- event (the original's UNIQUE (device_event_id) let only the first rule succeed), so an
-- event has at most one incident opened by hand and one per rule; `incident_rule_id`
-- (no foreign key: ids are never reused, and a deleted rule must not make two of an
-- event's incidents collide) also finds the rule's open incident on the same camera for
-- its cool-down. A rule remembers that it was scoped to a camera group: when the group is
-- deleted (the foreign key clears it) the rule is skipped instead of widening to every
-- camera. SQLite cannot drop a table constraint, hence the rebuild (as in 0007).

PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TEMP TABLE _fk_violations_before AS SELECT COUNT(*) AS n FROM pragma_foreign_key_check;

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
    incident_rule_id         BIGINT,
    CONSTRAINT uq_incidents_event_rule UNIQUE (device_event_id, incident_rule_id)
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
CREATE UNIQUE INDEX uq_incidents_event_by_hand ON incidents (device_event_id)
    WHERE incident_rule_id IS NULL;
CREATE INDEX ix_incidents_rule_device ON incidents (incident_rule_id, device_id, created_at);

ALTER TABLE incident_rules ADD COLUMN camera_group_scoped INTEGER NOT NULL DEFAULT 0;
UPDATE incident_rules SET camera_group_scoped = 1 WHERE camera_group_id IS NOT NULL;

CREATE TEMP TABLE _fk_check (no_new_foreign_key_violations INTEGER NOT NULL
    CHECK (no_new_foreign_key_violations));
INSERT INTO _fk_check
    SELECT (SELECT COUNT(*) FROM pragma_foreign_key_check) <= n FROM _fk_violations_before;
DROP TABLE _fk_check;
DROP TABLE _fk_violations_before;

COMMIT;
PRAGMA foreign_keys = ON;
