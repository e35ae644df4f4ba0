//! A consistent copy of a SQLite database file through SQLite's online backup API: its pages
//! copied as they are, inside one read transaction (every commit before it, none after; the
//! appliance keeps writing meanwhile). It replaced `VACUUM INTO`, which rebuilt every table
//! and index and took more than ten minutes on a 3.6 GB database, where a page copy is bound
//! by the disk.
//!
//! sqlx has no binding for the backup API, so this calls the SQLite that sqlx links
//! (`libsqlite3-sys`) directly, on connections of its own, from a blocking thread.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr;

use libsqlite3_sys as ffi;

/// How long a step waits for a lock it cannot take at once (a reader is refused only while
/// the log is being recovered or restarted) before it gives up.
const BUSY_TIMEOUT_MS: c_int = 5_000;
/// Steps refused as busy, each after that wait, before the copy gives up.
const BUSY_RETRIES: u32 = 12;

/// Copies the database at `source` into a new file at `destination` (created here, readable
/// by its owner only; it must not exist). Blocks: run it on a blocking thread.
pub(crate) fn copy(source: &Path, destination: &Path) -> Result<(), String> {
    if source.as_os_str().is_empty() {
        return Err("an in-memory database has no file to copy".into());
    }
    let from = Connection::open(source, ffi::SQLITE_OPEN_READONLY)?;
    {
        use std::os::unix::fs::OpenOptionsExt;
        // An empty file is an empty database to SQLite.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(destination)
            .map_err(|err| format!("creating {}: {err}", destination.display()))?;
    }
    let to = Connection::open(destination, ffi::SQLITE_OPEN_READWRITE)?;
    let main = c"main";
    // SAFETY: both handles are open connections that outlive the backup, which is finished
    // below on every path; the names are NUL-terminated strings.
    let backup = unsafe { ffi::sqlite3_backup_init(to.0, main.as_ptr(), from.0, main.as_ptr()) };
    if backup.is_null() {
        return Err(to.message());
    }
    let mut step = ffi::SQLITE_BUSY;
    for _ in 0..=BUSY_RETRIES {
        // SAFETY: `backup` is the live handle returned above, not yet finished. One step
        // of every page (-1) keeps the whole copy inside one read transaction.
        step = unsafe { ffi::sqlite3_backup_step(backup, -1) };
        if step != ffi::SQLITE_BUSY {
            break;
        }
    }
    // SAFETY: finishing releases `backup`, which is not used after this.
    let finished = unsafe { ffi::sqlite3_backup_finish(backup) };
    if step != ffi::SQLITE_DONE {
        return Err(format!("{} (code {step})", errstr(step)));
    }
    if finished != ffi::SQLITE_OK {
        return Err(to.message());
    }
    Ok(())
}

/// A connection of SQLite's C API, closed when dropped.
struct Connection(*mut ffi::sqlite3);

impl Connection {
    fn open(path: &Path, flags: c_int) -> Result<Connection, String> {
        let name = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| format!("{} is not a usable file name", path.display()))?;
        let mut handle = ptr::null_mut();
        // SAFETY: `name` is NUL-terminated and `handle` a place for the new connection;
        // SQLite sets it (even on most errors, which the `Connection` below then closes).
        let code =
            unsafe { ffi::sqlite3_open_v2(name.as_ptr(), &raw mut handle, flags, ptr::null()) };
        let connection = Connection(handle);
        if code != ffi::SQLITE_OK {
            return Err(format!(
                "opening {}: {}",
                path.display(),
                connection.message()
            ));
        }
        // SAFETY: `handle` is an open connection.
        unsafe { ffi::sqlite3_busy_timeout(handle, BUSY_TIMEOUT_MS) };
        Ok(connection)
    }

    /// The connection's last error, in SQLite's words.
    fn message(&self) -> String {
        // SAFETY: the handle is open (or null, which SQLite answers with "out of memory");
        // SQLite returns a NUL-terminated string it owns, valid until the next call on
        // this connection, and it is copied at once.
        unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.0)) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // SAFETY: the handle (possibly null, which SQLite accepts) is closed once, here; no
        // backup or statement of it is left open.
        unsafe { ffi::sqlite3_close(self.0) };
    }
}

fn errstr(code: c_int) -> String {
    // SAFETY: SQLite returns a static NUL-terminated string for any code.
    unsafe { CStr::from_ptr(ffi::sqlite3_errstr(code)) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::copy;

    /// A copy taken while another connection commits holds whole transactions only (rows
    /// go in a hundred at a time), including those still in the write-ahead log.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_copy_holds_whole_transactions_while_another_connection_writes() {
        use sqlx::Connection as _;
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source.db");
        let url = format!("sqlite://{}?mode=rwc", source.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); \
             CREATE INDEX ix_t_v ON t (v); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
             INSERT INTO t (v) SELECT printf('row %06d ', i) || hex(randomblob(40)) FROM n",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let writing = tokio::spawn(async move {
            for _ in 0..200 {
                sqlx::raw_sql(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) \
                     INSERT INTO t (v) SELECT 'more ' || i FROM n",
                )
                .execute(&mut conn)
                .await
                .unwrap();
            }
            conn
        });

        let destination = dir.path().join("copy.db");
        let (from, to) = (source.clone(), destination.clone());
        tokio::task::spawn_blocking(move || copy(&from, &to))
            .await
            .unwrap()
            .unwrap();
        let conn = writing.await.unwrap();
        let copy_url = format!("sqlite://{}", destination.display());
        let mut copied = sqlx::SqliteConnection::connect(&copy_url).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t INDEXED BY ix_t_v")
            .fetch_one(&mut copied)
            .await
            .unwrap();
        assert!(rows >= 100_000 && rows % 100 == 0, "{rows} rows");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut copied)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&destination).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        // An existing file is never overwritten; a missing source and an in-memory
        // database are errors.
        let again = copy(&source, &destination).unwrap_err();
        assert!(again.starts_with("creating"), "{again}");
        let missing = copy(&dir.path().join("missing.db"), &dir.path().join("other.db"));
        assert!(missing.unwrap_err().starts_with("opening"));
        let memory = copy(std::path::Path::new(""), &dir.path().join("other.db"));
        assert!(memory.unwrap_err().contains("in-memory"));
        conn.close().await.unwrap();
    }
}
