-- Alerts (issue 14): what the engine and the operators' lifecycle need besides the
-- original's columns. Rules gain a schedule (JSON: days of the week and time ranges in the
-- site's time zone), a cool-down and the reason the engine disabled them; events gain why
-- a session ended and who acknowledged and resolved them, when, with what note.

ALTER TABLE alert_rules ADD COLUMN schedule TEXT;
ALTER TABLE alert_rules ADD COLUMN cooldown_seconds INTEGER;
ALTER TABLE alert_rules ADD COLUMN disabled_reason VARCHAR(255);

ALTER TABLE alert_events ADD COLUMN close_reason VARCHAR(64);
ALTER TABLE alert_events ADD COLUMN acknowledged_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE alert_events ADD COLUMN acknowledged_at TEXT;
ALTER TABLE alert_events ADD COLUMN acknowledged_note VARCHAR(1024);
ALTER TABLE alert_events ADD COLUMN resolved_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE alert_events ADD COLUMN resolved_at TEXT;
ALTER TABLE alert_events ADD COLUMN resolved_note VARCHAR(1024);
CREATE INDEX ix_alert_events_acknowledged_by ON alert_events (acknowledged_by);
CREATE INDEX ix_alert_events_resolved_by ON alert_events (resolved_by);
