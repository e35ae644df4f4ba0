-- The rolled-up sessions' indexes of 0021, keyed by time first. PostgreSQL drops from an
-- index's conditions a condition its predicate implies (`rollup_state = 1`), so with the state
-- as first column no condition bounded the first column and the planner never chose them: a
-- site-wide week's last partial hour was read by a scan of every session (430 ms at 10
-- million; 2 ms along this index; BENCHMARKS.md, "Session 15"). SQLite keeps 0021's.
DROP INDEX ix_presence_sessions_rolled_ended;
DROP INDEX ix_presence_sessions_rolled_started;
CREATE INDEX ix_presence_sessions_rolled_ended ON presence_sessions
    (ended_at, started_at, tag_id, device_id, duration_seconds, samples_count, is_open)
    WHERE rollup_state = 1;
CREATE INDEX ix_presence_sessions_rolled_started ON presence_sessions
    (started_at, ended_at, tag_id, device_id, duration_seconds, samples_count, is_open)
    WHERE rollup_state = 1;
