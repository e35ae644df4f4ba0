-- Twin of SQLite's 0007, which rebuilds its tables with AUTOINCREMENT so that ids are
-- never handed out twice. PostgreSQL's identity columns never reuse an id: nothing to do.
SELECT 1;
