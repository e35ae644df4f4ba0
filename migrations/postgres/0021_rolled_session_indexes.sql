-- The rolled-up sessions a report reads at a window's partial edge hours, found by end or by
-- start, with every column the reports take of them: read from the index alone, instead of
-- a lookup of each row in the table (at 10 million sessions, the edges of a site-wide week
-- hold tens of thousands; BENCHMARKS.md, "Session 14"). Written once per session, when the
-- rollups' pass claims it, not on every update of an open session. The first column makes
-- the planner prefer them without statistics, as the pending and long sessions' indexes.
-- The start's index served only these reads: the new one replaces it.
DROP INDEX ix_presence_sessions_started_at;
CREATE INDEX ix_presence_sessions_rolled_ended ON presence_sessions
    (rollup_state, ended_at, started_at, tag_id, device_id, duration_seconds, samples_count, is_open)
    WHERE rollup_state = 1;
CREATE INDEX ix_presence_sessions_rolled_started ON presence_sessions
    (rollup_state, started_at, ended_at, tag_id, device_id, duration_seconds, samples_count, is_open)
    WHERE rollup_state = 1;
