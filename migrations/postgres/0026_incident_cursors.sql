-- How far the incident service has judged camera events and alert events, kept across
-- restarts and leadership takeovers: the service starts where the previous leader stopped,
-- not after whatever is stored when it starts (events stored in between were never judged).
-- One row, written by the service; absent until its first start, which starts after what
-- is stored then.
CREATE TABLE incident_cursors (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    camera_event_id BIGINT NOT NULL,
    alert_event_id  BIGINT NOT NULL
);
