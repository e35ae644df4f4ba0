//! Readings ("collection logs"): one tag heard by one gateway at one moment.

use chrono::{DateTime, Utc};

use std::collections::HashMap;

use super::history::{self, HistoryPoint};
use super::presence::SessionWrite;
use super::record::{record, select};
use super::{Result, Store, StoreError, now, on_pool};

#[derive(Debug, Clone, Default, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Reading {
    pub id: i64,
    pub device_id: i64,
    pub tag_id: i64,
    pub rssi: Option<i32>,
    pub raw_payload: Option<String>,
    pub created_at: DateTime<Utc>,
}

macro_rules! reading_columns {
    () => {
        "id, device_id, tag_id, rssi, raw_payload, created_at"
    };
}
macro_rules! new_reading_columns {
    () => {
        "device_id, tag_id, rssi, created_at"
    };
}

record!(Reading, "collection_logs", reading_columns);

/// Which readings a list returns; filters apply in SQL, before paging.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadingFilter {
    pub device_id: Option<i64>,
    pub tag_id: Option<i64>,
}

/// A reading to store in a batch.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NewReading {
    pub device_id: i64,
    pub tag_id: i64,
    pub rssi: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// Rows per multi-row statement: SQLite binds at most 32,766 parameters.
const BATCH_ROWS: usize = 1000;

/// `rows` in chunks of 1000, then of 100, 10 and 1: a handful of statement texts, each
/// prepared once and cached, rather than one per batch length (each a prepared program
/// held in the connection's statement cache: they were 23 MiB of a burst's heap).
fn sqlite_chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = [BATCH_ROWS, 100, 10, 1]
            .into_iter()
            .find(|&size| rows.len() >= size)?;
        let (chunk, rest) = rows.split_at(size);
        rows = rest;
        Some(chunk)
    })
}

/// What one round of the ingest pipeline (or several, merged while the writer was behind)
/// stores: readings, gateways' `last_seen_at`, presence sessions (one write per session,
/// the latest), position history points.
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub readings: Vec<NewReading>,
    pub seen: HashMap<i64, DateTime<Utc>>,
    pub sessions: HashMap<(i64, i64, DateTime<Utc>), SessionWrite>,
    pub history: Vec<HistoryPoint>,
    /// A cluster leader's epoch (`docs/cluster.md`): the batch commits only while it is
    /// current. `None` outside a cluster.
    pub epoch: Option<i64>,
}

impl IngestBatch {
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
            && self.seen.is_empty()
            && self.sessions.is_empty()
            && self.history.is_empty()
    }

    /// About what it holds in memory (the writer's backlog is bounded in bytes).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.readings.capacity() * size_of::<NewReading>()
            + self.seen.capacity() * size_of::<(i64, DateTime<Utc>)>()
            + self.sessions.capacity() * size_of::<((i64, i64, DateTime<Utc>), SessionWrite)>()
            + self.history.capacity() * size_of::<HistoryPoint>()
    }

    pub fn add_session(&mut self, write: SessionWrite) {
        self.sessions
            .insert((write.tag_id, write.device_id, write.started_at), write);
    }

    pub fn saw(&mut self, device_id: i64, at: DateTime<Utc>) {
        let seen = self.seen.entry(device_id).or_insert(at);
        *seen = (*seen).max(at);
    }

    /// Appends a later batch: its writes win over this one's.
    pub fn merge(&mut self, later: IngestBatch) {
        self.readings.extend(later.readings);
        for (device_id, at) in later.seen {
            self.saw(device_id, at);
        }
        self.sessions.extend(later.sessions);
        self.history.extend(later.history);
    }
}

/// How rows that refer to a tag or gateway are written.
#[derive(Clone, Copy, PartialEq)]
enum References {
    /// Plain inserts (the fast path).
    Trusted,
    /// Rows whose tag or gateway was deleted meanwhile are left out, so that one deleted
    /// tag does not fail the whole batch on a foreign key.
    Checked,
}

/// The largest reading id ever given (`AUTOINCREMENT`: ids of deleted rows included).
macro_rules! last_reading_id {
    () => {
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'collection_logs'), 0)"
    };
}

/// The last reading id whose entries are in `collection_logs_by_tag` and
/// `collection_logs_by_device` (migrations 0024, 0025): on SQLite a tag's or a gateway's
/// readings are the merged ones, found through those tables, plus those past the
/// watermark, read by id. PostgreSQL keeps both indexes at insert: there those tables are
/// views of every reading and the watermark the largest id possible.
macro_rules! merged_through {
    () => {
        "(SELECT merged_through FROM collection_logs_merge_watermark)"
    };
}

/// The merged readings of `$owner` ("tag" or "device") `$1` that pass `$and`, the first in
/// `$order` up to `$limit`, found through its index table. The limit applies there,
/// inside, so that a list stops at its page's end on both engines (PostgreSQL, whose index
/// tables are views of the readings, would otherwise sort all of the owner's readings of a
/// join of the table with itself).
macro_rules! merged_readings {
    ($owner:literal, $and:literal, $order:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            reading_columns!(),
            " FROM collection_logs WHERE id IN (SELECT id FROM collection_logs_by_",
            $owner,
            " WHERE ",
            $owner,
            "_id = $1",
            $and,
            " ORDER BY ",
            $order,
            " LIMIT ",
            $limit,
            ")"
        )
    };
}

/// The readings of `$owner` ("tag" or "device") `$1` past the watermark (at most one
/// merge's worth on SQLite, none on PostgreSQL), by id. SQLite, which has no statistics,
/// would otherwise walk its whole time index for their order, or build a temporary index
/// on the owner: the watermark is a table joined first, and the owner's term is kept off
/// any index (`+`).
macro_rules! unmerged_readings {
    ($owner:literal) => {
        concat!(
            "SELECT c.id, c.device_id, c.tag_id, c.rssi, c.raw_payload, c.created_at \
             FROM collection_logs_merge_watermark w CROSS JOIN collection_logs c \
             WHERE c.id > w.merged_through AND +c.",
            $owner,
            "_id = $1"
        )
    };
}

// The calibration windows read a tag's readings the same way.
pub(super) use {merged_readings, reading_columns, unmerged_readings};

/// Enters SQLite's readings whose ids pass `$ids` into the tag and gateway indexes, each in
/// one pass sorted by its key, then `$suffix`.
macro_rules! index_readings {
    ($suffix:literal; $($ids:expr),+) => {
        [
            concat!(
                "INSERT INTO collection_logs_by_tag (tag_id, created_at, id, device_id) \
                 SELECT tag_id, created_at, id, device_id FROM collection_logs WHERE ",
                $($ids,)+
                " ORDER BY tag_id, created_at, id",
                $suffix
            ),
            concat!(
                "INSERT INTO collection_logs_by_device (device_id, created_at, id) \
                 SELECT device_id, created_at, id FROM collection_logs WHERE ",
                $($ids,)+
                " ORDER BY device_id, created_at, id",
                $suffix
            ),
        ]
    };
}

/// Moves SQLite's readings past the watermark (up to `$1`) into the indexes, then the
/// watermark, in the same transaction: a crash repeats no merge and loses none.
const MERGE_INTO_INDEXES: [&str; 2] =
    index_readings!(""; "id > ", merged_through!(), " AND id <= $1");
const WATERMARK_AND_LAST_ID: &str =
    concat!("SELECT ", merged_through!(), ", (", last_reading_id!(), ")");
/// A merge's sorts on disk, its page cache 8 MiB (see `Store::merge_reading_indexes`).
const MERGE_PRAGMAS: &str = "PRAGMA temp_store = FILE; PRAGMA cache_size = -8192";
const MOVE_WATERMARK: &str =
    "UPDATE collection_logs_merge_watermark SET merged_through = $1 WHERE merged_through < $1";

/// While the writer is in a burst, merges wait until this many slices of
/// `database.sqlite_index_merge_rows` are past the watermark (1.2 M readings at the
/// default): a burst's merges would hold the writer, and with it the burst, for about a
/// second each (BENCHMARKS.md, "Ingest burst", session 20). The bound keeps the tail that a
/// tag's or a gateway's list reads by id, and the work left for after the burst, in check.
const MERGES_DEFERRED_WHEN_BUSY: i64 = 4;

/// Whether every tag and gateway of a batch's readings exists (SQLite: its readings have
/// no foreign keys since 0024 and 0025; `$1` and `$2` JSON arrays of distinct ids).
const OWNERS_EXIST_SQLITE: &str = "SELECT \
     (SELECT count(*) FROM tags WHERE id IN (SELECT value FROM json_each($1))) \
     = json_array_length($1) \
     AND (SELECT count(*) FROM devices WHERE id IN (SELECT value FROM json_each($2))) \
     = json_array_length($2)";

const SEEN: &str = "UPDATE devices SET last_seen_at = $2 \
     WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at < $2)";

/// PostgreSQL's readings have no foreign keys (migration 0019): checking two per row was
/// two thirds of a burst's cost there (BENCHMARKS.md, "Ingest burst"). The store keeps
/// what they kept with a lock instead. What writes readings holds it shared and writes only
/// readings whose tag and gateway exist; deleting a tag or a gateway holds it exclusively
/// and deletes their readings. So neither commits between the other's check and its write,
/// and no reading outlives its tag or gateway. SQLite's readings lost their foreign keys in
/// 0024 and 0025: the store checks a batch's tags and gateways itself
/// (`OWNERS_EXIST_SQLITE`), and its one writer connection runs one write at a time anyway.
trait ReadingOwnersLock {
    async fn lock_reading_owners(&mut self, exclusive: bool) -> Result<()>;
}

/// The advisory lock's key ("SVREAD"; the cluster's election uses another).
const READING_OWNERS_KEY: i64 = 0x5356_5245_4144;

impl ReadingOwnersLock for sqlx::PgConnection {
    async fn lock_reading_owners(&mut self, exclusive: bool) -> Result<()> {
        let sql = if exclusive {
            "SELECT pg_advisory_xact_lock($1)"
        } else {
            "SELECT pg_advisory_xact_lock_shared($1)"
        };
        sqlx::query(sql)
            .bind(READING_OWNERS_KEY)
            .execute(&mut *self)
            .await?;
        Ok(())
    }
}

impl ReadingOwnersLock for sqlx::SqliteConnection {
    async fn lock_reading_owners(&mut self, _: bool) -> Result<()> {
        Ok(())
    }
}

/// Deletes `$owner` ("tag" or "device") `$1`'s readings: the merged ones through its index
/// table, then the rest by id.
macro_rules! readings_deleted {
    ($owner:literal) => {
        [
            concat!(
                "DELETE FROM collection_logs WHERE id IN (SELECT id FROM collection_logs_by_",
                $owner,
                " WHERE ",
                $owner,
                "_id = $1)"
            ),
            concat!(
                "DELETE FROM collection_logs WHERE id > ",
                merged_through!(),
                " AND ",
                $owner,
                "_id = $1"
            ),
        ]
    };
}
const TAG_READINGS_DELETED: [&str; 2] = readings_deleted!("tag");
const GATEWAY_READINGS_DELETED: [&str; 2] = readings_deleted!("device");

/// What readings belong to: deleting one deletes its readings.
pub(super) enum ReadingOwner {
    Tag,
    Gateway,
}

impl Store {
    /// Deletes `owner` `id`'s readings, then runs `statements` (each takes the id as `$1`;
    /// the last deletes the owner's row, `NotFound` if there is none), in one transaction
    /// holding the lock that orders deletions and reading writes (`ReadingOwnersLock`).
    pub(super) async fn delete_with_readings(
        &self,
        owner: ReadingOwner,
        id: i64,
        statements: &[&'static str],
    ) -> Result<()> {
        let readings: &[&str] = match owner {
            ReadingOwner::Tag => &TAG_READINGS_DELETED,
            ReadingOwner::Gateway => &GATEWAY_READINGS_DELETED,
        };
        on_pool!(self, write, |pool| {
            let mut tx = pool.begin().await?;
            tx.lock_reading_owners(true).await?;
            let mut deleted = 0;
            for &sql in readings.iter().chain(statements) {
                deleted = sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

/// The statement listing readings with `filter`, and its ids to bind before the limit and
/// the offset. One statement per filter, each read in the order of an index: an optional
/// filter written as `$1 IS NULL OR tag_id = $1` is planned by SQLite as a walk over every
/// reading, which for a tag seldom heard meant the whole table. A tag's or a gateway's
/// readings are two parts merged in order (`merged_through!`): its index table's, then the
/// unmerged tail's, sorted. With both filters the tag's parts serve (a gateway hears far
/// more readings than a tag; `+device_id` keeps SQLite, which has no statistics, to them).
fn reading_list(filter: ReadingFilter) -> (&'static str, Vec<i64>) {
    macro_rules! newest_first {
        ($where:literal, $limit:literal) => {
            concat!(
                "SELECT ",
                reading_columns!(),
                " FROM collection_logs ",
                $where,
                " ORDER BY created_at DESC, id DESC LIMIT ",
                $limit
            )
        };
    }
    macro_rules! newest_of {
        // `$first` is the limit plus the offset: the page's last reading counted from the newest.
        ($owner:literal, $and:literal, $limit:literal, $offset:literal, $first:literal) => {
            concat!(
                merged_readings!($owner, $and, "created_at DESC, id DESC", $first),
                " UNION ALL ",
                unmerged_readings!($owner),
                $and,
                " ORDER BY created_at DESC, id DESC LIMIT ",
                $limit,
                " OFFSET ",
                $offset
            )
        };
    }
    match (filter.tag_id, filter.device_id) {
        (None, None) => (newest_first!("", "$1 OFFSET $2"), vec![]),
        (Some(tag), None) => (
            newest_of!("tag", "", "$2", "$3", "CAST($2 AS BIGINT) + $3"),
            vec![tag],
        ),
        (None, Some(device)) => (
            newest_of!("device", "", "$2", "$3", "CAST($2 AS BIGINT) + $3"),
            vec![device],
        ),
        (Some(tag), Some(device)) => (
            newest_of!(
                "tag",
                " AND +device_id = $2",
                "$3",
                "$4",
                "CAST($3 AS BIGINT) + $4"
            ),
            vec![tag, device],
        ),
    }
}

/// Whether every tag and gateway of a batch's readings exists (the ids each distinct).
const OWNERS_EXIST: &str = "SELECT (SELECT count(*) FROM tags WHERE id = ANY($1)) = cardinality($1) \
     AND (SELECT count(*) FROM devices WHERE id = ANY($2)) = cardinality($2)";

/// The distinct tags and gateways of `readings`.
fn owners(readings: &[NewReading]) -> (Vec<i64>, Vec<i64>) {
    let mut tags: Vec<i64> = readings.iter().map(|r| r.tag_id).collect();
    let mut devices: Vec<i64> = readings.iter().map(|r| r.device_id).collect();
    for ids in [&mut tags, &mut devices] {
        ids.sort_unstable();
        ids.dedup();
    }
    (tags, devices)
}

/// A cluster leader's write goes ahead only while its epoch is current (`docs/cluster.md`).
pub(super) const FENCE: &str =
    "UPDATE cluster_leader SET written_at = now() WHERE id = 1 AND epoch = $1";

/// Whether any reading of `tag_id` by `device_id` at `created_at` with `rssi` is stored: a
/// message the broker redelivered after a takeover may have been committed by the previous
/// leader, which died before acknowledging it.
const READING_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM collection_logs \
     WHERE tag_id = $1 AND created_at = $2 AND device_id = $3 \
     AND (rssi = $4 OR (rssi IS NULL AND $4 IS NULL)))";

impl Store {
    pub async fn reading_exists(&self, reading: &NewReading) -> Result<bool> {
        on_pool!(self, read, |pool| {
            Ok(sqlx::query_scalar(READING_EXISTS)
                .bind(reading.tag_id)
                .bind(reading.created_at)
                .bind(reading.device_id)
                .bind(reading.rssi)
                .fetch_one(pool)
                .await?)
        })
    }

    /// Stores a batch in one transaction. Each engine takes its fast path (measured:
    /// BENCHMARKS.md): multi-row `INSERT` with `?` placeholders on SQLite (its `$N`
    /// lookup is quadratic), rows in the order they came; binary `COPY` for readings and
    /// `INSERT … SELECT FROM UNNEST` for the rest on PostgreSQL. A batch refused on a
    /// foreign key, or whose readings name a tag or gateway that is gone (PostgreSQL's
    /// readings have no foreign keys: `ReadingOwnersLock`), is written again without
    /// those rows.
    pub async fn store_ingest_batch(&self, batch: &IngestBatch) -> Result<()> {
        match self.write_batch(batch, References::Trusted).await {
            Err(StoreError::ForeignKey(_)) => self.write_batch(batch, References::Checked).await,
            other => other,
        }
    }

    async fn write_batch(&self, batch: &IngestBatch, references: References) -> Result<()> {
        let sessions: Vec<&SessionWrite> = batch.sessions.values().collect();
        match self {
            Store::Sqlite(db) => {
                let mut tx = db.writer().begin().await?;
                // Ids given here in the order the readings came, rows written in that order:
                // appended to the table. (Rows sorted by tag served the tag index kept at
                // insert, before 0024; with it gone the sort only scattered the table's
                // inserts: BENCHMARKS.md, "Ingest burst", session 18.)
                let last_id: i64 = sqlx::query_scalar(last_reading_id!())
                    .fetch_one(&mut *tx)
                    .await?;
                if references == References::Trusted && !batch.readings.is_empty() {
                    let (tags, devices) = owners(&batch.readings);
                    let json = |ids| serde_json::to_string(&ids).expect("ids serialize");
                    let exist: bool = sqlx::query_scalar(OWNERS_EXIST_SQLITE)
                        .bind(json(tags))
                        .bind(json(devices))
                        .fetch_one(&mut *tx)
                        .await?;
                    if !exist {
                        // As the foreign keys did: written again with references checked.
                        return Err(StoreError::ForeignKey("collection_logs".into()));
                    }
                }
                let rows: Vec<(i64, &NewReading)> = (last_id + 1..).zip(&batch.readings).collect();
                for chunk in sqlite_chunks(&rows) {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sqlite_insert(
                        "collection_logs (device_id, tag_id, rssi, created_at, id)",
                        5,
                        chunk.len(),
                        references,
                        "",
                    )));
                    for (id, r) in chunk {
                        query = query
                            .bind(r.device_id)
                            .bind(r.tag_id)
                            .bind(r.rssi)
                            .bind(r.created_at)
                            .bind(id);
                    }
                    query.execute(&mut *tx).await?;
                }
                for chunk in sqlite_chunks(&sessions) {
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sqlite_insert(
                        SESSION_COLUMNS,
                        7,
                        chunk.len(),
                        references,
                        SESSION_CONFLICT,
                    )));
                    for s in chunk {
                        query = query
                            .bind(s.device_id)
                            .bind(s.tag_id)
                            .bind(s.started_at)
                            .bind(s.ended_at)
                            .bind(s.duration_seconds())
                            .bind(s.samples)
                            .bind(s.is_open);
                    }
                    query.execute(&mut *tx).await?;
                }
                for chunk in sqlite_chunks(&batch.history) {
                    let sql =
                        history::sqlite_insert(chunk.len(), references == References::Checked);
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for p in chunk {
                        query = query
                            .bind(p.tag_id)
                            .bind(p.floor_plan_id)
                            .bind(p.ts)
                            .bind(p.x)
                            .bind(p.y)
                            .bind(p.accuracy_m);
                    }
                    query.execute(&mut *tx).await?;
                }
                for (device_id, at) in &batch.seen {
                    sqlx::query(SEEN)
                        .bind(device_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Store::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                super::fence!(tx, batch.epoch);
                // A batch of sessions and sightings only writes no reading: nothing for a
                // deletion to wait for.
                if !batch.readings.is_empty() {
                    tx.lock_reading_owners(false).await?;
                }
                if references == References::Trusted && !batch.readings.is_empty() {
                    let (tags, devices) = owners(&batch.readings);
                    let exist: bool = sqlx::query_scalar(OWNERS_EXIST)
                        .bind(tags)
                        .bind(devices)
                        .fetch_one(&mut *tx)
                        .await?;
                    if !exist {
                        // As a foreign key would: written again with references checked.
                        return Err(StoreError::ForeignKey("collection_logs".into()));
                    }
                    let mut copy = tx
                        .copy_in_raw(
                            "COPY collection_logs (device_id, tag_id, rssi, created_at) \
                             FROM STDIN (FORMAT binary)",
                        )
                        .await?;
                    copy.send(copy_binary(&batch.readings)).await?;
                    copy.finish().await?;
                }
                let readings = postgres_insert(
                    "collection_logs (device_id, tag_id, rssi, created_at)",
                    "$1::bigint[], $2::bigint[], $3::int[], $4::timestamptz[]",
                    "device_id, tag_id, rssi, created_at",
                    references,
                    "",
                );
                // With references checked (a tag or gateway deleted meanwhile), rows whose
                // owner is gone are left out, which `COPY` cannot do.
                let checked = match references {
                    References::Checked => batch.readings.as_slice(),
                    References::Trusted => &[],
                };
                for chunk in checked.chunks(BATCH_ROWS * 10) {
                    sqlx::query(sqlx::AssertSqlSafe(readings.clone()))
                        .bind(chunk.iter().map(|r| r.device_id).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.tag_id).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.rssi).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.created_at).collect::<Vec<_>>())
                        .execute(&mut *tx)
                        .await?;
                }
                if !sessions.is_empty() {
                    let sql = postgres_insert(
                        SESSION_COLUMNS,
                        "$1::bigint[], $2::bigint[], $3::timestamptz[], $4::timestamptz[], \
                         $5::bigint[], $6::int[], $7::bool[]",
                        "device_id, tag_id, started_at, ended_at, duration_seconds, samples_count, is_open",
                        references,
                        SESSION_CONFLICT,
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(sessions.iter().map(|s| s.device_id).collect::<Vec<_>>())
                        .bind(sessions.iter().map(|s| s.tag_id).collect::<Vec<_>>())
                        .bind(sessions.iter().map(|s| s.started_at).collect::<Vec<_>>())
                        .bind(sessions.iter().map(|s| s.ended_at).collect::<Vec<_>>())
                        .bind(
                            sessions
                                .iter()
                                .map(|s| s.duration_seconds())
                                .collect::<Vec<_>>(),
                        )
                        .bind(sessions.iter().map(|s| s.samples).collect::<Vec<_>>())
                        .bind(sessions.iter().map(|s| s.is_open).collect::<Vec<_>>())
                        .execute(&mut *tx)
                        .await?;
                }
                if !batch.history.is_empty() {
                    let points = &batch.history;
                    let sql = history::postgres_insert(references == References::Checked);
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(points.iter().map(|p| p.tag_id).collect::<Vec<_>>())
                        .bind(points.iter().map(|p| p.floor_plan_id).collect::<Vec<_>>())
                        .bind(points.iter().map(|p| p.ts).collect::<Vec<_>>())
                        .bind(points.iter().map(|p| p.x).collect::<Vec<_>>())
                        .bind(points.iter().map(|p| p.y).collect::<Vec<_>>())
                        .bind(points.iter().map(|p| p.accuracy_m).collect::<Vec<_>>())
                        .execute(&mut *tx)
                        .await?;
                }
                for (device_id, at) in &batch.seen {
                    sqlx::query(SEEN)
                        .bind(device_id)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// SQLite: merges the readings past the watermark into the tag and gateway indexes when
    /// `database.sqlite_index_merge_rows` of them are waiting, one such slice at a time, and
    /// returns how many it merged. While the writer is in a burst (`writer_busy`),
    /// merges wait for `MERGES_DEFERRED_WHEN_BUSY` slices' worth: the burst is written
    /// first, and indexed in the quiet after it. Nothing to do on PostgreSQL, whose indexes
    /// are kept at insert.
    pub async fn merge_reading_indexes_when_due(&self, writer_busy: bool) -> Result<u64> {
        let Store::Sqlite(db) = self else {
            return Ok(0);
        };
        let (merged_through, last_id): (i64, i64) = sqlx::query_as(WATERMARK_AND_LAST_ID)
            .fetch_one(db.writer())
            .await?;
        let slices = if writer_busy {
            MERGES_DEFERRED_WHEN_BUSY
        } else {
            1
        };
        if last_id - merged_through < db.index_merge_rows() * slices {
            return Ok(0);
        }
        Ok(self.merge_reading_indexes().await?.0)
    }

    /// SQLite: indexes the next slice of readings past the watermark (ids up to
    /// `database.sqlite_index_merge_rows` past it) by tag and by gateway, each in one sorted
    /// pass, and returns how many, and whether readings past it remain. A slice keeps a
    /// merge's time (the writer waits for it) and its sort's memory bounded after a burst.
    async fn merge_reading_indexes(&self) -> Result<(u64, bool)> {
        let Store::Sqlite(db) = self else {
            return Ok((0, false));
        };
        let started = std::time::Instant::now();
        let mut conn = db.writer().acquire().await?;
        // The sorts spill to temporary files, and the merge keeps a small page cache: it
        // walks each index once, in its order. Both in memory, a slice took the appliance
        // past 150 MB during a burst, for no gain in speed (BENCHMARKS.md, "Ingest burst",
        // session 20).
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::raw_sql(MERGE_PRAGMAS).execute(&mut *conn).await?;
        let merged = Self::merge_slice(&mut conn, db.index_merge_rows()).await;
        let restore = format!("PRAGMA temp_store = MEMORY; PRAGMA cache_size = {cache}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(restore))
            .execute(&mut *conn)
            .await?;
        let (merged, through, more) = merged?;
        let took_ms = started.elapsed().as_millis();
        tracing::debug!(
            merged,
            through,
            took_ms,
            "readings merged into the tag and gateway indexes"
        );
        Ok((merged, more))
    }

    /// The next slice of up to `rows` ids past the watermark into both indexes, and the
    /// watermark past them, in one transaction: how many readings, the new watermark, and
    /// whether readings past it remain.
    async fn merge_slice(conn: &mut sqlx::SqliteConnection, rows: i64) -> Result<(u64, i64, bool)> {
        use sqlx::Connection;
        let mut tx = conn.begin().await?;
        let (merged_through, last_id): (i64, i64) = sqlx::query_as(WATERMARK_AND_LAST_ID)
            .fetch_one(&mut *tx)
            .await?;
        let through = last_id.min(merged_through + rows);
        let mut merged = 0;
        for sql in MERGE_INTO_INDEXES {
            // The same readings enter both indexes.
            merged = sqlx::query(sql)
                .bind(through)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        sqlx::query(MOVE_WATERMARK)
            .bind(through)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((merged, through, through < last_id))
    }

    /// SQLite: indexes by tag and by gateway any reading at or before the watermark that has
    /// no entries, then merges the rest. Readings written with their own ids (an import into
    /// an empty database that once held readings) may be such. Nothing to do on PostgreSQL.
    pub async fn complete_reading_indexes(&self) -> Result<u64> {
        const MISSING: [&str; 2] =
            index_readings!(" ON CONFLICT DO NOTHING"; "id <= ", merged_through!());
        let Store::Sqlite(db) = self else {
            return Ok(0);
        };
        let mut tx = db.writer().begin().await?;
        let mut indexed = 0;
        for sql in MISSING {
            indexed = sqlx::query(sql).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        loop {
            let (merged, more) = self.merge_reading_indexes().await?;
            indexed += merged;
            if !more {
                return Ok(indexed);
            }
        }
    }

    /// The newest `limit` readings stored since `since`, oldest first.
    pub async fn recent_readings(
        &self,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<NewReading>> {
        const SQL: &str = select!(
            new_reading_columns,
            "FROM collection_logs WHERE created_at >= $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let mut readings: Vec<NewReading> = on_pool!(self, read, |pool| sqlx::query_as(SQL)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        readings.reverse();
        Ok(readings)
    }

    /// Newest first (by time, then id).
    pub async fn list_readings(
        &self,
        filter: ReadingFilter,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<Reading>> {
        let (sql, ids) = reading_list(filter);
        Ok(on_pool!(self, read, |pool| {
            let mut query = sqlx::query_as(sql);
            for id in &ids {
                query = query.bind(id);
            }
            query.bind(limit).bind(skip).fetch_all(pool).await?
        }))
    }

    /// Inserts a reading stamped now (id 0), or updates a reading's RSSI and raw payload
    /// (the rest is what was heard, fixed).
    pub async fn save_reading(&self, r: &Reading) -> Result<Reading> {
        const INSERT: &str = concat!(
            "INSERT INTO collection_logs (rssi, raw_payload, device_id, tag_id, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM devices WHERE id = $3) \
             AND EXISTS (SELECT 1 FROM tags WHERE id = $4) RETURNING ",
            reading_columns!()
        );
        const UPDATE: &str = concat!(
            "UPDATE collection_logs SET rssi = $1, raw_payload = $2 WHERE id = $3 RETURNING ",
            reading_columns!()
        );
        Ok(on_pool!(self, write, |pool| if r.id == 0 {
            let mut tx = pool.begin().await?;
            tx.lock_reading_owners(false).await?;
            let saved = sqlx::query_as(INSERT)
                .bind(r.rssi)
                .bind(&r.raw_payload)
                .bind(r.device_id)
                .bind(r.tag_id)
                .bind(now())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::ForeignKey("collection_logs".into()))?;
            tx.commit().await?;
            saved
        } else {
            sqlx::query_as(UPDATE)
                .bind(r.rssi)
                .bind(&r.raw_payload)
                .bind(r.id)
                .fetch_one(pool)
                .await?
        }))
    }
}

impl Store {
    /// Deletes readings older than `cutoff`, in chunks so that a long backlog never holds
    /// the writer for long; returns how many were deleted.
    pub async fn delete_readings_before(&self, cutoff: DateTime<Utc>) -> Result<u64> {
        const CHUNK: &str = "DELETE FROM collection_logs WHERE id IN \
             (SELECT id FROM collection_logs WHERE created_at < $1 LIMIT 10000)";
        let mut total = 0;
        loop {
            let deleted = on_pool!(self, write, |pool| sqlx::query(CHUNK)
                .bind(cutoff)
                .execute(pool)
                .await?
                .rows_affected());
            total += deleted;
            if deleted == 0 {
                return Ok(total);
            }
        }
    }
}

const SESSION_COLUMNS: &str = "presence_sessions (device_id, tag_id, started_at, ended_at, \
     duration_seconds, samples_count, is_open)";

/// A session only grows: a late or repeated write (a restart, a re-sent report with the
/// same start) never shortens a stored one.
const SESSION_CONFLICT: &str = " ON CONFLICT (tag_id, device_id, started_at) DO UPDATE SET \
     ended_at = CASE WHEN excluded.ended_at > presence_sessions.ended_at \
         THEN excluded.ended_at ELSE presence_sessions.ended_at END, \
     duration_seconds = CASE WHEN excluded.duration_seconds > presence_sessions.duration_seconds \
         THEN excluded.duration_seconds ELSE presence_sessions.duration_seconds END, \
     samples_count = CASE WHEN excluded.samples_count > presence_sessions.samples_count \
         THEN excluded.samples_count ELSE presence_sessions.samples_count END, \
     is_open = excluded.is_open";

/// A multi-row insert of `rows` rows of `width` values on SQLite. Its first two values are
/// a gateway and a tag; `Checked` leaves out rows whose gateway or tag is gone.
fn sqlite_insert(
    table: &str,
    width: usize,
    rows: usize,
    references: References,
    conflict: &str,
) -> String {
    let row = format!("({})", vec!["?"; width].join(", "));
    let values = vec![row; rows].join(", ");
    match references {
        References::Trusted => format!("INSERT INTO {table} VALUES {values}{conflict}"),
        References::Checked => {
            let columns: Vec<String> = (1..=width).map(|i| format!("column{i}")).collect();
            format!(
                "INSERT INTO {table} SELECT {} FROM (VALUES {values}) \
                 WHERE column1 IN (SELECT id FROM devices) AND column2 IN (SELECT id FROM tags){conflict}",
                columns.join(", ")
            )
        }
    }
}

/// `INSERT … SELECT FROM UNNEST` on PostgreSQL; `names` name the arrays' columns, the first
/// two a gateway and a tag.
/// Readings in PostgreSQL's binary `COPY` format (the header, one tuple of four fields per
/// reading, the trailer): several times faster than `INSERT … UNNEST` (BENCHMARKS.md).
fn copy_binary(readings: &[NewReading]) -> Vec<u8> {
    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
    const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
    let mut out = Vec::with_capacity(21 + readings.len() * 46);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    for r in readings {
        out.extend_from_slice(&4i16.to_be_bytes());
        for id in [r.device_id, r.tag_id] {
            out.extend_from_slice(&8i32.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
        }
        match r.rssi {
            Some(rssi) => {
                out.extend_from_slice(&4i32.to_be_bytes());
                out.extend_from_slice(&rssi.to_be_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        out.extend_from_slice(&8i32.to_be_bytes());
        let micros = r.created_at.timestamp_micros() - POSTGRES_EPOCH_MICROS;
        out.extend_from_slice(&micros.to_be_bytes());
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

fn postgres_insert(
    table: &str,
    arrays: &str,
    names: &str,
    references: References,
    conflict: &str,
) -> String {
    match references {
        References::Trusted => {
            format!("INSERT INTO {table} SELECT * FROM UNNEST({arrays}){conflict}")
        }
        References::Checked => format!(
            "INSERT INTO {table} SELECT u.* FROM UNNEST({arrays}) AS u({names}) \
             WHERE EXISTS (SELECT 1 FROM devices d WHERE d.id = u.device_id) \
             AND EXISTS (SELECT 1 FROM tags t WHERE t.id = u.tag_id){conflict}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_chunks_cover_every_row_in_few_sizes() {
        let rows: Vec<usize> = (0..2345).collect();
        let sizes: Vec<usize> = sqlite_chunks(&rows).map(<[usize]>::len).collect();
        assert_eq!(
            sizes,
            [1000, 1000, 100, 100, 100, 10, 10, 10, 10, 1, 1, 1, 1, 1]
        );
        let joined: Vec<usize> = sqlite_chunks(&rows).flatten().copied().collect();
        assert_eq!(joined, rows);
        assert_eq!(sqlite_chunks::<usize>(&[]).count(), 0);
    }

    #[test]
    fn copy_binary_frames_each_reading_as_four_fields() {
        let at = DateTime::parse_from_rfc3339("2000-01-01T00:00:01Z")
            .unwrap()
            .with_timezone(&Utc);
        let readings = [
            NewReading {
                device_id: 1,
                tag_id: 2,
                rssi: Some(-60),
                created_at: at,
            },
            NewReading {
                device_id: 3,
                tag_id: 4,
                rssi: None,
                created_at: at,
            },
        ];
        let bytes = copy_binary(&readings);
        assert!(bytes.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert!(bytes.ends_with(&(-1i16).to_be_bytes()));
        // Header 19 bytes, trailer 2; a tuple: count 2 + two ids 12 each + RSSI 8 (or 4 when
        // NULL) + time 12.
        assert_eq!(bytes.len(), 19 + 46 + 42 + 2);
        let first = &bytes[19..19 + 46];
        assert_eq!(&first[..2], &4i16.to_be_bytes());
        // One second after PostgreSQL's epoch.
        assert_eq!(&first[38..46], &1_000_000i64.to_be_bytes());
    }

    /// Every list of readings walks an index in its order, stopping at the page's end:
    /// no walk over the table filtered row by row, no sort of a tag's or gateway's readings.
    /// A tag's or a gateway's unmerged tail (one merge's worth at most) is read by id and
    /// sorted.
    #[tokio::test]
    async fn every_list_of_readings_reads_along_an_index() {
        let (sql, _) = reading_list(ReadingFilter::default());
        let plan = crate::store::sqlite_plan(sql).await;
        assert!(
            plan.iter()
                .all(|step| step.contains("USING INDEX") && !step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
        let lists = [
            (
                None,
                Some(1),
                "SEARCH collection_logs_by_tag USING PRIMARY KEY (tag_id=?)",
            ),
            (
                Some(2),
                Some(1),
                "SEARCH collection_logs_by_tag USING PRIMARY KEY (tag_id=?)",
            ),
            (
                Some(2),
                None,
                "SEARCH collection_logs_by_device USING PRIMARY KEY (device_id=?)",
            ),
        ];
        for (device_id, tag_id, index) in lists {
            let (sql, _) = reading_list(ReadingFilter { device_id, tag_id });
            let plan = crate::store::sqlite_plan(sql).await;
            assert_eq!(
                plan,
                [
                    "MERGE (UNION ALL)",
                    // The merged part: a page's worth of ids along the index table (in its
                    // order, no sort), their rows by id, sorted.
                    "LEFT",
                    "SEARCH collection_logs USING INTEGER PRIMARY KEY (rowid=?)",
                    "LIST SUBQUERY 1",
                    index,
                    "CREATE BLOOM FILTER",
                    "USE TEMP B-TREE FOR ORDER BY",
                    // The tail: by id past the watermark, sorted.
                    "RIGHT",
                    "SCAN w",
                    "SEARCH c USING INTEGER PRIMARY KEY (rowid>?)",
                    "USE TEMP B-TREE FOR ORDER BY"
                ],
                "{device_id:?} {tag_id:?}"
            );
        }
    }

    /// On PostgreSQL (a view of every reading as the merged part, no tail) a tag's list reads
    /// along its tag index and a gateway's along its gateway index, newest first, stopping
    /// at the page's end.
    #[tokio::test]
    async fn postgres_lists_a_tags_and_a_gateways_readings_along_their_indexes() {
        let setup = "INSERT INTO devices (id, name, created_at, updated_at) \
             SELECT g, 'g' || g, now(), now() FROM generate_series(1, 200) g; \
             INSERT INTO collection_logs (device_id, tag_id, rssi, created_at) \
             SELECT n % 200 + 1, n % 500, -60, TIMESTAMPTZ '2026-01-01' + n * INTERVAL '1 second' \
             FROM generate_series(1, 50000) n";
        let statements: Vec<&str> = [None, Some(1)]
            .into_iter()
            .map(|device_id| {
                reading_list(ReadingFilter {
                    device_id,
                    tag_id: Some(1),
                })
                .0
            })
            .collect();
        let Some(plans) = crate::store::postgres_plans(setup, &statements[..1], 3).await else {
            return;
        };
        let with_device = crate::store::postgres_plans(setup, &statements[1..], 4).await;
        for plan in plans.iter().chain(with_device.iter().flatten()) {
            assert!(
                plan.contains("Index Scan Backward using ix_collection_logs_tag_time")
                    && !plan.contains("Seq Scan"),
                "{plan}"
            );
        }
        let (gateway, _) = reading_list(ReadingFilter {
            device_id: Some(1),
            tag_id: None,
        });
        let plans = crate::store::postgres_plans(setup, &[gateway], 3).await;
        for plan in plans.iter().flatten() {
            assert!(
                plan.contains("using ix_collection_logs_device_time") && !plan.contains("Seq Scan"),
                "{plan}"
            );
        }
    }

    /// A tag's and a gateway's deletions and a tag's calibration windows find the readings
    /// the same way: no walk over every reading, no temporary index.
    #[tokio::test]
    async fn the_other_reads_find_readings_through_the_index_tables() {
        let walks = |plan: &[String]| {
            plan.iter().any(|step| {
                ["SCAN c", "SCAN collection_logs"]
                    .iter()
                    .any(|table| step == table || step.starts_with(&format!("{table} ")))
                    || step.contains("AUTOMATIC")
            })
        };
        for ([merged, unmerged], key) in [
            (TAG_READINGS_DELETED, "USING PRIMARY KEY (tag_id=?)"),
            (GATEWAY_READINGS_DELETED, "USING PRIMARY KEY (device_id=?)"),
        ] {
            let plan = crate::store::sqlite_plan(merged).await;
            assert!(
                plan.iter().any(|s| s.contains(key)) && !walks(&plan),
                "{plan:?}"
            );
            let plan = crate::store::sqlite_plan(unmerged).await;
            assert!(
                plan.iter().any(|s| s.contains("(rowid>?)")) && !walks(&plan),
                "{plan:?}"
            );
        }
        let plan = crate::store::sqlite_plan(crate::store::calibration::TAG_READINGS_BETWEEN).await;
        // The tail's window is read along the time index: bounded by the window.
        assert!(!walks(&plan), "{plan:?}");
    }
}
