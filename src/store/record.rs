//! The shape every stored entity shares: a table with an `id`, the columns it is read
//! with, and the queries that need nothing else (by id, a page, exists, delete).
//!
//! Conventions of the store's methods, for every entity:
//! - the columns of a row type are written once, in a `<entity>_columns!()` macro next to
//!   the struct, and every query that reads that type selects exactly them;
//! - `save_<entity>` writes a whole row: it inserts when the row's id is 0 and updates it
//!   otherwise, and returns the stored row;
//!   users are the exception (`create_user`, `change_user`): a change is checked against
//!   the last administrator in the same transaction;
//! - `record_<fact>` appends something that happened (events, collectors); facts are not
//!   edited;
//! - filters are applied in SQL, never by loading rows to drop some of them in Rust.

use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Encode, FromRow, Type};

use super::{Result, Store, StoreError, on_pool};

/// What a row of either engine decodes into (a row type, a tuple).
pub trait Loadable:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}
impl<T> Loadable for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

/// A value either engine can bind.
pub trait Param:
    for<'q> Encode<'q, Sqlite> + Type<Sqlite> + for<'q> Encode<'q, Postgres> + Type<Postgres> + Send
{
}
impl<T> Param for T where
    T: for<'q> Encode<'q, Sqlite>
        + Type<Sqlite>
        + for<'q> Encode<'q, Postgres>
        + Type<Postgres>
        + Send
{
}

/// A row type with its table's generic queries; implemented with [`record!`].
pub trait Record: Loadable {
    const SELECT_BY_ID: &'static str;
    /// Ordered by id, `$1` the limit and `$2` the offset.
    const SELECT_PAGE: &'static str;
    const EXISTS: &'static str;
    const DELETE_BY_ID: &'static str;

    fn id(&self) -> i64;
}

/// `record!(Type, "table", type_columns)`: the generic queries of `Type`, read with the
/// columns that the macro `type_columns!()` lists.
macro_rules! record {
    ($ty:ty, $table:literal, $columns:ident) => {
        impl $crate::store::Record for $ty {
            const SELECT_BY_ID: &'static str =
                concat!("SELECT ", $columns!(), " FROM ", $table, " WHERE id = $1");
            const SELECT_PAGE: &'static str = concat!(
                "SELECT ",
                $columns!(),
                " FROM ",
                $table,
                " ORDER BY id LIMIT $1 OFFSET $2"
            );
            const EXISTS: &'static str =
                concat!("SELECT EXISTS (SELECT 1 FROM ", $table, " WHERE id = $1)");
            const DELETE_BY_ID: &'static str = concat!("DELETE FROM ", $table, " WHERE id = $1");

            fn id(&self) -> i64 {
                self.id
            }
        }
    };
}
pub(crate) use record;

/// `select!(type_columns, "FROM … WHERE …")`: a query reading the columns of a row type.
macro_rules! select {
    ($columns:ident, $rest:literal) => {
        concat!("SELECT ", $columns!(), " ", $rest)
    };
}
pub(crate) use select;

/// Inside `on_pool!`: runs `$insert` when `$row.id` is 0, else `$update` with the id bound
/// last; `$bind` binds the writable columns, in the order both statements use, to `$query`.
/// Evaluates to the stored row.
macro_rules! save_row {
    ($executor:expr, $row:expr, $insert:expr, $update:expr, |$query:ident| $bind:expr) => {
        if $row.id == 0 {
            let $query = sqlx::query_as($insert);
            $bind.fetch_one($executor).await?
        } else {
            let $query = sqlx::query_as($update);
            $bind.bind($row.id).fetch_one($executor).await?
        }
    };
}
pub(crate) use save_row;

/// Inside a transaction: replaces the links of `$owner` (`$delete` takes the owner's id)
/// with one `$insert` per id of `$ids` (it takes the owner's id, then the linked id).
macro_rules! replace_links {
    ($tx:ident, $delete:expr, $insert:expr, $owner:expr, $ids:expr) => {
        sqlx::query($delete).bind($owner).execute(&mut *$tx).await?;
        for id in $ids {
            sqlx::query($insert)
                .bind($owner)
                .bind(id)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use replace_links;

impl Store {
    pub async fn fetch_by_id<T: Record>(&self, id: i64) -> Result<T> {
        self.fetch_one_by(T::SELECT_BY_ID, id).await
    }

    /// A page of rows, by id.
    pub async fn fetch_page<T: Record>(&self, skip: i64, limit: i64) -> Result<Vec<T>> {
        self.fetch_all_by2(T::SELECT_PAGE, limit, skip).await
    }

    /// The row `sql` finds with `key` as `$1`; `NotFound` without one.
    pub(crate) async fn fetch_one_by<T: Loadable>(
        &self,
        sql: &'static str,
        key: impl Param,
    ) -> Result<T> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(key)
            .fetch_one(pool)
            .await?))
    }

    /// The row `sql` finds with `key` as `$1`, if any.
    pub(crate) async fn fetch_optional_by<T: Loadable>(
        &self,
        sql: &'static str,
        key: impl Param,
    ) -> Result<Option<T>> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(key)
            .fetch_optional(pool)
            .await?))
    }

    /// Every row of `sql`, which takes no parameter.
    pub(crate) async fn fetch_all<T: Loadable>(&self, sql: &'static str) -> Result<Vec<T>> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .fetch_all(pool)
            .await?))
    }

    /// Every row `sql` finds with `key` as `$1`.
    pub(crate) async fn fetch_all_by<T: Loadable>(
        &self,
        sql: &'static str,
        key: impl Param,
    ) -> Result<Vec<T>> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(key)
            .fetch_all(pool)
            .await?))
    }

    /// Every row `sql` finds with `first` as `$1` and `second` as `$2`.
    pub(crate) async fn fetch_all_by2<T: Loadable>(
        &self,
        sql: &'static str,
        first: impl Param,
        second: impl Param,
    ) -> Result<Vec<T>> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(first)
            .bind(second)
            .fetch_all(pool)
            .await?))
    }

    /// A page of what `sql` finds with `filter` as `$1` (`$2` the limit, `$3` the offset).
    pub(crate) async fn fetch_page_by<T: Loadable>(
        &self,
        sql: &'static str,
        filter: impl Param,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<T>> {
        Ok(on_pool!(self, read, |pool| sqlx::query_as(sql)
            .bind(filter)
            .bind(limit)
            .bind(skip)
            .fetch_all(pool)
            .await?))
    }

    /// The count that `sql` (a `SELECT COUNT(*)`) makes with `key` as `$1`.
    pub(crate) async fn count_by(&self, sql: &'static str, key: impl Param) -> Result<i64> {
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(pool)
            .await?))
    }

    pub async fn exists<T: Record>(&self, id: i64) -> Result<bool> {
        Ok(on_pool!(self, read, |pool| sqlx::query_scalar(T::EXISTS)
            .bind(id)
            .fetch_one(pool)
            .await?))
    }

    /// Deletes one row (what refers to it follows the foreign keys); `NotFound` when no
    /// row has that id.
    pub async fn delete_by_id<T: Record>(&self, id: i64) -> Result<()> {
        let deleted = on_pool!(self, write, |pool| sqlx::query(T::DELETE_BY_ID)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected());
        if deleted == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}
