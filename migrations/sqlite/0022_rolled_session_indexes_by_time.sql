-- Keying the rolled-up sessions' indexes by time first is a PostgreSQL change (see its
-- 0022): SQLite uses 0021's `rollup_state = 1` as an equality on their first column, and
-- prefers them for it without statistics (the unit test
-- `edge_sessions_are_read_from_the_rolled_up_indexes` checks its plans).
SELECT 1;
