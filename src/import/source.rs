//! The original backend's database, read in one repeatable-read, read-only transaction (a
//! consistent picture while the old site keeps running), with readers that accept every
//! column type its schema versions used (naive and zoned timestamps, json and jsonb, int
//! and bigint) and treat a column its version lacks as NULL.

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Connection, Row};

pub struct Source {
    conn: PgConnection,
}

/// Why reading a value failed: the row's table and column, and sqlx's reason.
fn column_error(col: &str, err: sqlx::Error) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {col}: {err}").into())
}

/// `Ok(None)` when the column is missing from this version of the schema.
fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<Option<T>, sqlx::Error>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    match row.try_get::<Option<T>, _>(col) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::ColumnNotFound(_)) => Ok(None),
        Err(err) => Err(err),
    }
}

fn is_mismatch(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::ColumnDecode { .. })
}

pub fn int(row: &PgRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    match get::<i32>(row, col) {
        Err(err) if is_mismatch(&err) => match get::<i64>(row, col) {
            Err(err) if is_mismatch(&err) => get::<i16>(row, col)
                .map(|v| v.map(i64::from))
                .map_err(|e| column_error(col, e)),
            other => other.map_err(|e| column_error(col, e)),
        },
        other => other
            .map(|v| v.map(i64::from))
            .map_err(|e| column_error(col, e)),
    }
}

pub fn text(row: &PgRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    get::<String>(row, col).map_err(|e| column_error(col, e))
}

pub fn real(row: &PgRow, col: &str) -> Result<Option<f64>, sqlx::Error> {
    match get::<f64>(row, col) {
        Err(err) if is_mismatch(&err) => get::<f32>(row, col)
            .map(|v| v.map(f64::from))
            .map_err(|e| column_error(col, e)),
        other => other.map_err(|e| column_error(col, e)),
    }
}

pub fn boolean(row: &PgRow, col: &str) -> Result<Option<bool>, sqlx::Error> {
    get::<bool>(row, col).map_err(|e| column_error(col, e))
}

/// A timestamp in UTC: zoned columns as they are, naive ones (the original's `timestamp
/// without time zone`, written by the database's `now()` in its own zone, UTC by default)
/// read as UTC. Whole microseconds, as our store keeps them.
pub fn time(row: &PgRow, col: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    match get::<DateTime<Utc>>(row, col) {
        Err(err) if is_mismatch(&err) => get::<NaiveDateTime>(row, col)
            .map(|v| v.map(|t| t.and_utc()))
            .map_err(|e| column_error(col, e)),
        other => other.map_err(|e| column_error(col, e)),
    }
}

/// A JSON column (json or jsonb, or text holding JSON; text that is not JSON is kept as
/// a JSON string).
pub fn json(row: &PgRow, col: &str) -> Result<Option<serde_json::Value>, sqlx::Error> {
    match get::<serde_json::Value>(row, col) {
        Err(err) if is_mismatch(&err) => Ok(text(row, col)?
            .map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))),
        other => other.map_err(|e| column_error(col, e)),
    }
}

/// Rows read per query: no table is ever held in memory whole.
const PAGE: i64 = 2_000;

/// The rows of a table, in id order, fetched a page at a time.
pub struct Pages {
    table: &'static str,
    after: i64,
    buffer: std::vec::IntoIter<PgRow>,
    started: bool,
    done: bool,
}

impl Pages {
    pub fn new(table: &'static str) -> Pages {
        Pages {
            table,
            after: i64::MIN,
            buffer: Vec::new().into_iter(),
            started: false,
            done: false,
        }
    }

    /// The next row (none if this version of the original lacks the table).
    pub async fn next(&mut self, source: &mut Source) -> Result<Option<PgRow>, sqlx::Error> {
        if let Some(row) = self.buffer.next() {
            return Ok(Some(row));
        }
        if !self.started {
            self.started = true;
            self.done = !source.has_table(self.table).await?;
        }
        if self.done {
            return Ok(None);
        }
        let sql = format!(
            "SELECT * FROM {} WHERE id > $1 ORDER BY id LIMIT $2",
            self.table
        );
        let page = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(self.after)
            .bind(PAGE)
            .fetch_all(&mut source.conn)
            .await?;
        self.done = (page.len() as i64) < PAGE;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.after = int(last, "id")?.unwrap_or(i64::MAX);
        self.buffer = page.into_iter();
        Ok(self.buffer.next())
    }
}

impl Source {
    pub async fn open(url: &str) -> Result<Source, sqlx::Error> {
        let mut conn = PgConnection::connect(url).await?;
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut conn)
            .await?;
        Ok(Source { conn })
    }

    /// Ends the read transaction and the connection.
    pub async fn close(mut self) {
        let _ = sqlx::raw_sql("ROLLBACK").execute(&mut self.conn).await;
        let _ = self.conn.close().await;
    }

    pub async fn has_table(&mut self, table: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(format!("public.{table}"))
            .fetch_one(&mut self.conn)
            .await
    }

    pub async fn count(&mut self, table: &str) -> Result<i64, sqlx::Error> {
        if !self.has_table(table).await? {
            return Ok(0);
        }
        let sql = format!("SELECT COUNT(*) FROM {table}");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut self.conn)
            .await
    }

    /// Every row of a link table (none if this version of the original lacks it), in
    /// `order`: small tables, read at once.
    pub async fn links(&mut self, table: &str, order: &str) -> Result<Vec<PgRow>, sqlx::Error> {
        if !self.has_table(table).await? {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT * FROM {table} ORDER BY {order}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut self.conn)
            .await
    }

    /// The next `limit` collection logs after id `after` detected since `since`.
    pub async fn readings_after(
        &mut self,
        after: i64,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<PgRow>, sqlx::Error> {
        // created_at is naive in the original: compared as UTC, as it is read.
        sqlx::query(
            "SELECT * FROM collection_logs WHERE id > $1 \
             AND ($2::timestamptz IS NULL OR created_at >= ($2::timestamptz AT TIME ZONE 'UTC')) \
             ORDER BY id LIMIT $3",
        )
        .bind(after)
        .bind(since)
        .bind(limit)
        .fetch_all(&mut self.conn)
        .await
    }

    /// The largest id `table`'s sequence has handed out (0 if none, or no sequence).
    pub async fn last_id_handed_out(&mut self, table: &str) -> Result<i64, sqlx::Error> {
        let sequence: Option<String> =
            sqlx::query_scalar("SELECT pg_get_serial_sequence($1, 'id')")
                .bind(table)
                .fetch_one(&mut self.conn)
                .await?;
        let Some(sequence) = sequence else {
            return Ok(0);
        };
        let sql = format!(
            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}"
        );
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut self.conn)
            .await
    }
}
