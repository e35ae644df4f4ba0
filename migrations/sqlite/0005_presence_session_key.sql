-- A presence session is identified by its tag, gateway and start, so that the pipeline can
-- write sessions without waiting for the ids of new rows (the writes go through the same
-- background writer as readings, and the pipeline never waits for the database).
DELETE FROM presence_sessions WHERE id NOT IN (
    SELECT MIN(id) FROM presence_sessions GROUP BY tag_id, device_id, started_at
);
CREATE UNIQUE INDEX uq_presence_sessions_key ON presence_sessions (tag_id, device_id, started_at);
