-- Position history (issue 17): the tags' positions on their plans, downsampled by the
-- pipeline (one point per tag every few seconds while it moves, a keepalive point while it
-- stands still), for replays and heat maps. Kept `positions.history_retention_days`;
-- deleted with the tag or the plan. Ids are never reused, as everywhere (0007).
CREATE TABLE position_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tag_id        BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    floor_plan_id BIGINT NOT NULL REFERENCES floor_plans (id) ON DELETE CASCADE,
    ts            TEXT NOT NULL,
    x             REAL NOT NULL,
    y             REAL NOT NULL,
    accuracy_m    REAL
);
-- One tag's (or person's) track, and everything on a plan (heat maps, and retention, which
-- deletes plan by plan so that no index on the time alone is needed).
CREATE INDEX ix_position_history_tag_ts ON position_history (tag_id, ts);
CREATE INDEX ix_position_history_plan_ts ON position_history (floor_plan_id, ts);
