-- The sessions' end index, with every column the reports take of a session: a site-wide
-- window on partial hours reads the sessions that cover its first piece along 12 hours of
-- ends (PostgreSQL's plan: with no tag to start from it reads the ends, not the hour's
-- rollups), each looked up in the table until now (85-115 ms at 10 million; 26-36 ms from
-- the index alone; BENCHMARKS.md, "Session 15"). It also serves the reads by end that
-- 0022's `ix_presence_sessions_rolled_ended` did, so that index goes: the number of index
-- entries each session writes stays the same. SQLite has no INCLUDE and plans these reads
-- otherwise (its rolled-up sessions' indexes stay).
DROP INDEX ix_presence_sessions_ended_at;
DROP INDEX ix_presence_sessions_rolled_ended;
CREATE INDEX ix_presence_sessions_ended_at ON presence_sessions (ended_at)
    INCLUDE (started_at, tag_id, device_id, rollup_state, id, duration_seconds, samples_count,
        is_open);
