-- Twin of SQLite's 0015: presence rollups per UTC hour, tag and gateway, the sessions'
-- rollup state, and the indexes of the reports filtered by gateway or tag.
CREATE TABLE presence_rollups (
    hour        TIMESTAMPTZ NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TIMESTAMPTZ NOT NULL,
    last_end    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (hour, tag_id, device_id)
);
CREATE INDEX ix_presence_rollups_tag_hour ON presence_rollups (tag_id, hour);
CREATE INDEX ix_presence_rollups_device_hour ON presence_rollups (device_id, hour);

ALTER TABLE presence_sessions ADD COLUMN rollup_state SMALLINT NOT NULL DEFAULT 0;
CREATE INDEX ix_presence_sessions_pending ON presence_sessions (rollup_state, ended_at)
    WHERE rollup_state = 0;
CREATE INDEX ix_presence_sessions_long ON presence_sessions (rollup_state, ended_at)
    WHERE rollup_state = 2;
CREATE INDEX ix_presence_sessions_device_ended ON presence_sessions (device_id, ended_at);
CREATE INDEX ix_presence_sessions_tag_ended ON presence_sessions (tag_id, ended_at);
