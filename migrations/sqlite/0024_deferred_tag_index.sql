-- no-transaction
-- A tag's readings are indexed later and in bulk (issue 19; BENCHMARKS.md, "Ingest burst",
-- sessions 17 and 18). The `(tag_id, created_at)` index, kept at every insert, had each
-- transaction rewrite thousands of its leaf pages at 10,000 tags: half of a burst's cost.
-- Instead readings land in `collection_logs` with no tag index, and the store moves those
-- past a watermark into `collection_logs_by_tag` every few hundred thousand, in one pass
-- sorted by tag (`src/store/readings.rs`, `Store::merge_tag_index`). A tag's readings are the
-- merged ones plus those past the watermark.
--
-- The tag's foreign key goes too: with no index led by `tag_id`, SQLite checked a deleted
-- tag's readings by walking every reading. The store keeps what it kept, as on PostgreSQL
-- since 0019: readings are written only for tags that exist, and deleting a tag deletes
-- its readings first (one writer connection orders the two).
--
-- The table is rebuilt as 0007 rebuilt it (foreign keys off around one explicit
-- transaction, checked before it commits), keeping its ids and its AUTOINCREMENT counter.

-- The sort that fills the tag index spills to temporary files rather than memory (the
-- store's connections keep temporary data in memory): a site's millions of readings would
-- otherwise be sorted in RAM (5 M readings: 600 MB).
PRAGMA temp_store = FILE;
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TEMP TABLE _fk_violations_before AS SELECT COUNT(*) AS n FROM pragma_foreign_key_check;
CREATE TEMP TABLE _last_reading_id AS
    SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'collection_logs'), 0) AS seq;

CREATE TABLE new_collection_logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    tag_id      BIGINT NOT NULL,
    rssi        INTEGER,
    raw_payload VARCHAR(4096),
    created_at  TEXT NOT NULL
);
INSERT INTO new_collection_logs (id, device_id, tag_id, rssi, raw_payload, created_at)
    SELECT id, device_id, tag_id, rssi, raw_payload, created_at
    FROM collection_logs ORDER BY id;
-- The tag index goes with the old table; named here as the one index not made again.
DROP INDEX ix_collection_logs_tag_time;
DROP TABLE collection_logs;
ALTER TABLE new_collection_logs RENAME TO collection_logs;
CREATE INDEX ix_collection_logs_device_time ON collection_logs (device_id, created_at);
CREATE INDEX ix_collection_logs_created_at ON collection_logs (created_at);
DELETE FROM sqlite_sequence WHERE name = 'collection_logs';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'collection_logs', MAX(seq, COALESCE((SELECT MAX(id) FROM collection_logs), 0))
    FROM _last_reading_id;

-- The tag index, kept later: every reading up to `merged_through` has its entry here (its
-- gateway too, so that a tag's list at one gateway pages without reading every row).
CREATE TABLE collection_logs_by_tag (
    tag_id     BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    id         BIGINT NOT NULL,
    device_id  BIGINT NOT NULL,
    PRIMARY KEY (tag_id, created_at, id)
) WITHOUT ROWID;
INSERT INTO collection_logs_by_tag (tag_id, created_at, id, device_id)
    SELECT tag_id, created_at, id, device_id FROM collection_logs
    ORDER BY tag_id, created_at, id;

CREATE TABLE collection_logs_by_tag_watermark (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    merged_through BIGINT NOT NULL
);
INSERT INTO collection_logs_by_tag_watermark (id, merged_through)
    SELECT 1, seq FROM sqlite_sequence WHERE name = 'collection_logs';

-- A deleted reading (retention, a gateway, an administrator) takes its entry with it.
CREATE TRIGGER collection_logs_by_tag_delete AFTER DELETE ON collection_logs
BEGIN
    DELETE FROM collection_logs_by_tag
    WHERE tag_id = OLD.tag_id AND created_at = OLD.created_at AND id = OLD.id;
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
