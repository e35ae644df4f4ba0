-- SQLite indexes a tag's readings later and in bulk (see its 0024): readings past a
-- watermark are read by id, the others through `collection_logs_by_tag`. PostgreSQL keeps
-- its `(tag_id, created_at)` index at every insert (its `COPY` path is not limited by it),
-- so here every reading counts as merged: the tag table is a view of all of them, read
-- along that index, and the watermark is the largest id possible. One SQL text per query
-- still serves both engines.
CREATE VIEW collection_logs_by_tag AS
    SELECT tag_id, created_at, id, device_id FROM collection_logs;
CREATE VIEW collection_logs_by_tag_watermark AS
    SELECT 1 AS id, CAST(9223372036854775807 AS BIGINT) AS merged_through;
