-- no-transaction
-- A gateway's readings are indexed later and in bulk too (issue 19; BENCHMARKS.md, "Ingest
-- burst", session 19), as 0024 did for a tag's. With the tag index gone, the
-- `(device_id, created_at)` index was most of what was left of a burst's cost: each
-- transaction inserted into the middle of 200 gateways' ranges (side by side, dropping it
-- took a burst of reports of 10 from 102–117k to 171–186k readings/s). Readings past the
-- watermark are read by id; the store moves them into `collection_logs_by_device` and
-- `collection_logs_by_tag` in the same merge (`Store::merge_reading_indexes`), so one
-- watermark, renamed here, serves both.
--
-- The gateway's foreign key goes too, for the reason the tag's went: with no index led by
-- `device_id`, deleting a gateway had SQLite walk every reading. The store checks a batch's
-- gateways as it checks its tags, and deletes a gateway's readings before the gateway.
--
-- The table is rebuilt as 0024 rebuilt it, keeping its ids and its AUTOINCREMENT counter.

-- The sort that fills the new index spills to temporary files, not memory (see 0024).
PRAGMA temp_store = FILE;
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TEMP TABLE _fk_violations_before AS SELECT COUNT(*) AS n FROM pragma_foreign_key_check;
CREATE TEMP TABLE _last_reading_id AS
    SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'collection_logs'), 0) AS seq;

CREATE TABLE new_collection_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   BIGINT NOT NULL,
    tag_id      BIGINT NOT NULL,
    rssi        INTEGER,
    raw_payload VARCHAR(4096),
    created_at  TEXT NOT NULL
);
INSERT INTO new_collection_logs (id, device_id, tag_id, rssi, raw_payload, created_at)
    SELECT id, device_id, tag_id, rssi, raw_payload, created_at
    FROM collection_logs ORDER BY id;
-- The gateway's index goes with the old table (and 0024's trigger, made again below);
-- named here as the one index not made again.
DROP INDEX ix_collection_logs_device_time;
DROP TABLE collection_logs;
ALTER TABLE new_collection_logs RENAME TO collection_logs;
CREATE INDEX ix_collection_logs_created_at ON collection_logs (created_at);
DELETE FROM sqlite_sequence WHERE name = 'collection_logs';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'collection_logs', MAX(seq, COALESCE((SELECT MAX(id) FROM collection_logs), 0))
    FROM _last_reading_id;

-- One watermark for both indexes kept later.
ALTER TABLE collection_logs_by_tag_watermark RENAME TO collection_logs_merge_watermark;

-- The gateway index, kept later: every reading up to the watermark has its entry here.
CREATE TABLE collection_logs_by_device (
    device_id  BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    id         BIGINT NOT NULL,
    PRIMARY KEY (device_id, created_at, id)
) WITHOUT ROWID;
INSERT INTO collection_logs_by_device (device_id, created_at, id)
    SELECT device_id, created_at, id FROM collection_logs
    WHERE id <= (SELECT merged_through FROM collection_logs_merge_watermark)
    ORDER BY device_id, created_at, id;

-- A deleted reading (retention, a tag, a gateway, an administrator) takes its entries
-- with it.
CREATE TRIGGER collection_logs_merged_delete AFTER DELETE ON collection_logs
BEGIN
    DELETE FROM collection_logs_by_tag
    WHERE tag_id = OLD.tag_id AND created_at = OLD.created_at AND id = OLD.id;
    DELETE FROM collection_logs_by_device
    WHERE device_id = OLD.device_id AND created_at = OLD.created_at AND id = OLD.id;
END;

-- Every reference still resolves: no violation that was not there before.
CREATE TEMP TABLE _fk_check (no_new_foreign_key_violations INTEGER NOT NULL
    CHECK (no_new_foreign_key_violations));
INSERT INTO _fk_check
    SELECT (SELECT COUNT(*) FROM pragma_foreign_key_check) <= n FROM _fk_violations_before;
DROP TABLE _fk_check;
DROP TABLE _fk_violations_before;
DROP TABLE _last_reading_id;

COMMIT;
PRAGMA foreign_keys = ON;
PRAGMA temp_store = MEMORY;
