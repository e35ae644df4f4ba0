-- Lists newest first with a filter, read along an index (filter column, time): a rare value
-- costs a page, not a walk over every row newer than it. Each pair replaces the index on its
-- filter column (which the pair serves as well; the open alert events' was by type, and the
-- camera events' by type alone, which nothing looks up).
DROP INDEX ix_alert_events_rule_id;
DROP INDEX ix_alert_events_event_type;
DROP INDEX ix_alert_events_person_id;
DROP INDEX ix_alert_events_tag_id;
DROP INDEX ix_alert_events_device_id;
DROP INDEX ix_alert_events_open;
DROP INDEX ix_device_events_analytic_type;
DROP INDEX ix_incidents_device_id;
DROP INDEX ix_incidents_assigned_group_id;
DROP INDEX ix_incidents_status;
DROP INDEX ix_incidents_kind;
DROP INDEX ix_incidents_severity;
CREATE INDEX ix_alert_events_rule_time ON alert_events (rule_id, started_at);
CREATE INDEX ix_alert_events_event_type_time ON alert_events (event_type, started_at);
CREATE INDEX ix_alert_events_person_time ON alert_events (person_id, started_at);
CREATE INDEX ix_alert_events_tag_time ON alert_events (tag_id, started_at);
CREATE INDEX ix_alert_events_device_time ON alert_events (device_id, started_at);
CREATE INDEX ix_alert_events_open_time ON alert_events (is_open, started_at);
CREATE INDEX ix_device_events_device_type_time ON device_events (device_id, analytic_type, occurred_at);
CREATE INDEX ix_incidents_device_time ON incidents (device_id, created_at);
CREATE INDEX ix_incidents_assigned_group_time ON incidents (assigned_group_id, created_at);
CREATE INDEX ix_incidents_status_time ON incidents (status, created_at);
CREATE INDEX ix_incidents_kind_time ON incidents (kind, created_at);
CREATE INDEX ix_incidents_severity_time ON incidents (severity, created_at);
