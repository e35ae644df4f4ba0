-- SQLite indexes a gateway's readings later and in bulk too (see its 0025), and its
-- watermark now serves both indexes kept later. PostgreSQL keeps its
-- `(device_id, created_at)` index at every insert, so, as in 0024, the gateway table is a
-- view of every reading, read along that index.
CREATE VIEW collection_logs_by_device AS
    SELECT device_id, created_at, id FROM collection_logs;
ALTER VIEW collection_logs_by_tag_watermark RENAME TO collection_logs_merge_watermark;
