-- Rollups of presence (issue 17), so that no report reads every session of a long window.
-- Per UTC hour, tag and gateway: the dwell of the closed sessions inside that hour (in
-- microseconds), how many of them touch the hour, how many start in it, the earliest start
-- and the latest end among them. `src/reports/rollups.rs` fills them from closed sessions and
-- says how the reports combine them with the sessions not rolled up.
CREATE TABLE presence_rollups (
    hour        TEXT NOT NULL,
    tag_id      BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dwell_us    BIGINT NOT NULL,
    touches     BIGINT NOT NULL,
    starts      BIGINT NOT NULL,
    first_start TEXT NOT NULL,
    last_end    TEXT NOT NULL,
    PRIMARY KEY (hour, tag_id, device_id)
) WITHOUT ROWID;
CREATE INDEX ix_presence_rollups_tag_hour ON presence_rollups (tag_id, hour);
CREATE INDEX ix_presence_rollups_device_hour ON presence_rollups (device_id, hour);

-- Where a session stands with the rollups: 0 not yet rolled up (open, or closed since the
-- last pass), 1 in the rollups, 2 too long for them (read from this table). Sessions of
-- before this migration start at 0: the first passes roll them up.
ALTER TABLE presence_sessions ADD COLUMN rollup_state SMALLINT NOT NULL DEFAULT 0;
-- The few sessions the reports read beside the rollups (the first column makes the planner
-- prefer these small indexes to the end's index without statistics).
CREATE INDEX ix_presence_sessions_pending ON presence_sessions (rollup_state, ended_at)
    WHERE rollup_state = 0;
CREATE INDEX ix_presence_sessions_long ON presence_sessions (rollup_state, ended_at)
    WHERE rollup_state = 2;
-- Reports filtered by gateway or tag read the sessions of a window by end.
CREATE INDEX ix_presence_sessions_device_ended ON presence_sessions (device_id, ended_at);
CREATE INDEX ix_presence_sessions_tag_ended ON presence_sessions (tag_id, ended_at);
