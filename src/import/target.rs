//! Our side of the import: one transaction on the target store (SQLite or PostgreSQL) and
//! the few statements the import needs, each written once for both engines. Rows arrive
//! as column lists of typed values, so one insert serves every table.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::store::{Store, StoreError};

/// A column value with its type, so that a NULL is bound with the column's type (PostgreSQL
/// refuses an untyped NULL where a timestamp is expected).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    /// JSON (PostgreSQL's jsonb columns; text in SQLite).
    Json(Option<serde_json::Value>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        Value::Real(v)
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(Some(v))
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::Time(Some(v))
    }
}
impl From<Option<serde_json::Value>> for Value {
    fn from(v: Option<serde_json::Value>) -> Self {
        Value::Json(v)
    }
}
impl From<Option<DateTime<Utc>>> for Value {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Value::Time(v)
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        match self {
            Value::Int(v) => v.is_none(),
            Value::Real(v) => v.is_none(),
            Value::Text(v) => v.is_none(),
            Value::Bool(v) => v.is_none(),
            Value::Time(v) => v.is_none(),
            Value::Json(v) => v.is_none(),
        }
    }
}

pub type Columns = Vec<(&'static str, Value)>;

/// Binds `$values` in order to `$query`, whichever engine it is for.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut query = $query;
        for value in $values {
            query = match value {
                Value::Int(v) => query.bind(*v),
                Value::Real(v) => query.bind(*v),
                Value::Text(v) => query.bind(v.clone()),
                Value::Bool(v) => query.bind(*v),
                Value::Time(v) => query.bind(*v),
                Value::Json(v) => query.bind(v.clone().map(sqlx::types::Json)),
            };
        }
        query
    }};
}

pub enum Target {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs `$body` with `$tx` bound to the open transaction, whichever engine it is on.
macro_rules! on_tx {
    ($target:expr, |$tx:ident| $body:expr) => {
        match $target {
            Target::Sqlite(tx) => {
                let $tx = &mut **tx;
                $body
            }
            Target::Postgres(tx) => {
                let $tx = &mut **tx;
                $body
            }
        }
    };
}

type Result<T> = std::result::Result<T, StoreError>;

impl Target {
    pub async fn begin(store: &Store) -> Result<Target> {
        Ok(match store {
            Store::Sqlite(db) => Target::Sqlite(db.writer().begin().await?),
            Store::Postgres(pool) => Target::Postgres(pool.begin().await?),
        })
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Target::Sqlite(tx) => tx.commit().await?,
            Target::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Target::Sqlite(tx) => tx.rollback().await?,
            Target::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Whether `table` holds any row.
    pub async fn has_rows(&mut self, table: &str) -> Result<bool> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {table})");
        let found: bool = on_tx!(self, |tx| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(tx)
            .await?);
        Ok(found)
    }

    /// Inserts a row and returns its id (`columns` may name the id, to keep it).
    pub async fn insert(&mut self, table: &str, columns: &Columns) -> Result<i64> {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({}) RETURNING id",
            names.join(", "),
            marks.join(", ")
        );
        let values = columns.iter().map(|(_, v)| v);
        Ok(on_tx!(self, |tx| bind_values!(
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)),
            values
        )
        .fetch_one(tx)
        .await?))
    }

    /// Inserts rows that all name the same columns, in one statement.
    pub async fn insert_rows(&mut self, table: &str, rows: &[Columns]) -> Result<u64> {
        let Some(first) = rows.first() else {
            return Ok(0);
        };
        let names: Vec<&str> = first.iter().map(|(name, _)| *name).collect();
        let width = names.len();
        // SQLite looks `$N` parameters up one by one: long statements take `?`.
        let row_marks = |row: usize| match self {
            Target::Sqlite(_) => vec!["?".to_string(); width],
            Target::Postgres(_) => (1..=width)
                .map(|i| format!("${}", row * width + i))
                .collect(),
        };
        let values: Vec<String> = (0..rows.len())
            .map(|row| format!("({})", row_marks(row).join(", ")))
            .collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            names.join(", "),
            values.join(", ")
        );
        let values = rows.iter().flat_map(|row| row.iter().map(|(_, v)| v));
        Ok(on_tx!(self, |tx| bind_values!(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            values
        )
        .execute(tx)
        .await?
        .rows_affected()))
    }

    /// Inserts a row of a link table (no id); false if it was there already.
    pub async fn link(&mut self, table: &str, columns: &Columns) -> Result<bool> {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
            names.join(", "),
            marks.join(", ")
        );
        let values = columns.iter().map(|(_, v)| v);
        let done = on_tx!(self, |tx| bind_values!(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            values
        )
        .execute(tx)
        .await?
        .rows_affected());
        Ok(done > 0)
    }

    /// The id of the row of `table` whose `key` columns hold these values (NULL matching
    /// NULL), the smallest if several do.
    pub async fn find(&mut self, table: &str, key: &Columns) -> Result<Option<i64>> {
        // `=` where there is a value, so that the indexes serve (PostgreSQL uses none for
        // IS NOT DISTINCT FROM).
        let bound: Vec<&Value> = key
            .iter()
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
            .collect();
        let mut number = 0;
        let conditions: Vec<String> = key
            .iter()
            .map(|(name, value)| {
                if value.is_null() {
                    format!("{name} IS NULL")
                } else {
                    number += 1;
                    format!("{name} = ${number}")
                }
            })
            .collect();
        let sql = format!(
            "SELECT MIN(id) FROM {table} WHERE {}",
            conditions.join(" AND ")
        );
        Ok(on_tx!(self, |tx| bind_values!(
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)),
            bound.iter().copied()
        )
        .fetch_one(tx)
        .await?))
    }

    /// Sets columns of one row.
    pub async fn update(&mut self, table: &str, id: i64, columns: &Columns) -> Result<()> {
        let sets: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (name, _))| format!("{name} = ${}", i + 1))
            .collect();
        let sql = format!(
            "UPDATE {table} SET {} WHERE id = ${}",
            sets.join(", "),
            columns.len() + 1
        );
        let values = columns.iter().map(|(_, v)| v);
        on_tx!(self, |tx| bind_values!(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            values
        )
        .bind(id)
        .execute(tx)
        .await
        .map(drop)?);
        Ok(())
    }

    /// Makes the ids `table` hands out from now on larger than `at_least` and than every
    /// id it holds (ids are never reused: integrators may still hold an id the original
    /// handed out for a row deleted since).
    pub async fn advance_ids(&mut self, table: &str, at_least: i64) -> Result<()> {
        let max_sql = format!("SELECT COALESCE(MAX(id), 0) FROM {table}");
        let highest: i64 = on_tx!(self, |tx| sqlx::query_scalar(sqlx::AssertSqlSafe(max_sql))
            .fetch_one(tx)
            .await?);
        let last = highest.max(at_least);
        if last < 1 {
            return Ok(());
        }
        // The two engines keep their counters differently: PostgreSQL in a sequence,
        // SQLite (AUTOINCREMENT) in sqlite_sequence.
        match self {
            Target::Postgres(tx) => {
                sqlx::query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2)")
                    .bind(table)
                    .bind(last)
                    .execute(&mut **tx)
                    .await?;
            }
            Target::Sqlite(tx) => {
                sqlx::query(
                    "INSERT INTO sqlite_sequence (name, seq) SELECT $1, 0 \
                     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = $1)",
                )
                .bind(table)
                .execute(&mut **tx)
                .await?;
                sqlx::query("UPDATE sqlite_sequence SET seq = MAX(seq, $2) WHERE name = $1")
                    .bind(table)
                    .bind(last)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}
