-- The incident desk. Every matching incident rule opens its own incident for a camera
-- event (the original's UNIQUE (device_event_id) let only the first rule succeed), so an
-- event has at most one incident opened by hand and one per rule; `incident_rule_id`
-- (no foreign key: ids are never reused, and a deleted rule must not make two of an
-- event's incidents collide) also finds the rule's open incident on the same camera for
-- its cool-down. A rule remembers that it was scoped to a camera group: when the group is
-- deleted (the foreign key clears it) the rule is skipped instead of widening to every
-- camera.
ALTER TABLE incidents DROP CONSTRAINT uq_incidents_device_event_id;
ALTER TABLE incidents ADD COLUMN incident_rule_id BIGINT;
ALTER TABLE incidents ADD CONSTRAINT uq_incidents_event_rule UNIQUE (device_event_id, incident_rule_id);
CREATE UNIQUE INDEX uq_incidents_event_by_hand ON incidents (device_event_id)
    WHERE incident_rule_id IS NULL;
CREATE INDEX ix_incidents_rule_device ON incidents (incident_rule_id, device_id, created_at);

ALTER TABLE incident_rules ADD COLUMN camera_group_scoped BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE incident_rules SET camera_group_scoped = TRUE WHERE camera_group_id IS NOT NULL;
