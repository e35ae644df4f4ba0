-- The sessions' end index with every column the reports take is a PostgreSQL change (see its
-- 0023): SQLite reads the sessions covering an edge through the hour's rollups, and the
-- others at the edges along 0021's covering indexes.
SELECT 1;
