-- Readings without foreign keys (issue 19): PostgreSQL checked both per row, even under
-- `COPY`, and those checks were two thirds of a burst's cost (BENCHMARKS.md, "Ingest
-- burst"). The store keeps what they kept (src/store/readings.rs, `ReadingOwnersLock`):
-- readings are written only for tags and gateways that exist, and deleting a tag or a
-- gateway deletes its readings, under an advisory lock that orders the two.
ALTER TABLE collection_logs DROP CONSTRAINT collection_logs_device_id_fkey;
ALTER TABLE collection_logs DROP CONSTRAINT collection_logs_tag_id_fkey;
