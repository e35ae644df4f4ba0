-- Alerts (issue 14): what the engine and the operators' lifecycle need besides the
-- original's columns. Rules gain a schedule (JSON: days of the week and time ranges in the
-- site's time zone), a cool-down and the reason the engine disabled them; events gain why
-- a session ended and who acknowledged and resolved them, when, with what note. (No index
-- on acknowledged_by/resolved_by: only a user's deletion looks them up.)

ALTER TABLE alert_rules ADD COLUMN schedule TEXT;
ALTER TABLE alert_rules ADD COLUMN cooldown_seconds INTEGER;
ALTER TABLE alert_rules ADD COLUMN disabled_reason VARCHAR(255);

ALTER TABLE alert_events ADD COLUMN close_reason VARCHAR(64);
ALTER TABLE alert_events ADD COLUMN acknowledged_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE alert_events ADD COLUMN acknowledged_at TIMESTAMPTZ;
ALTER TABLE alert_events ADD COLUMN acknowledged_note VARCHAR(1024);
ALTER TABLE alert_events ADD COLUMN resolved_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE alert_events ADD COLUMN resolved_at TIMESTAMPTZ;
ALTER TABLE alert_events ADD COLUMN resolved_note VARCHAR(1024);
