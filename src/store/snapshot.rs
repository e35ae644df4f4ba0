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

/// How long a step waits for a lock the writer holds (a checkpoint) before trying again.
const BUSY_TIMEOUT_MS: c_int = 5_000;
/// Steps that found the source locked, before giving up.
const BUSY_RETRIES: u32 = 12;

/// Copies the database at `source` into a new database file at `destination`, which must not
/// exist yet. Blocks: run it on a blocking thread.
pub(crate) fn copy(source: &Path, destination: &Path) -> Result<(), String> {
    if destination.exists() {
        return Err(format!("{} already exists", destination.display()));
    }
    let from = Connection::open(source, ffi::SQLITE_OPEN_READONLY)?;
    let to = Connection::open(
        destination,
        ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE,
    )?;
    let main = c"main";
    // SAFETY: both handles are open connections that outlive the backup, which is finished
    // below on every path; the names are NUL-terminated strings.
    let backup = unsafe { ffi::sqlite3_backup_init(to.0, main.as_ptr(), from.0, main.as_ptr()) };
    if backup.is_null() {
        return Err(to.message());
    }
    let mut step;
    let mut busy = 0;
    loop {
        // SAFETY: `backup` is the live handle returned above, not yet finished. One step
        // of every page (-1) keeps the whole copy inside one read transaction.
        step = unsafe { ffi::sqlite3_backup_step(backup, -1) };
        let locked = step == ffi::SQLITE_BUSY || step == ffi::SQLITE_LOCKED;
        busy += 1;
        if !locked || busy > BUSY_RETRIES {
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
        if self.0.is_null() {
            return "out of memory".into();
        }
        // SAFETY: the handle is open; SQLite returns a NUL-terminated string it owns, valid
        // until the next call on this connection, and it is copied at once.
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

    #[tokio::test]
    async fn a_copy_holds_what_was_committed_and_refuses_to_overwrite() {
        use sqlx::Connection as _;
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source.db");
        let url = format!("sqlite://{}?mode=rwc", source.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); \
             CREATE INDEX ix_t_v ON t (v); \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO t (v) SELECT 'row ' || i FROM n",
        )
        .execute(&mut conn)
        .await
        .unwrap();

        // The rows are still in the write-ahead log (the connection is open): the copy
        // must take them from there too.
        let destination = dir.path().join("copy.db");
        let (from, to) = (source.clone(), destination.clone());
        tokio::task::spawn_blocking(move || copy(&from, &to))
            .await
            .unwrap()
            .unwrap();
        let copy_url = format!("sqlite://{}", destination.display());
        let mut copied = sqlx::SqliteConnection::connect(&copy_url).await.unwrap();
        let (rows, last): (i64, String) =
            sqlx::query_as("SELECT count(*), max(v) FROM t INDEXED BY ix_t_v")
                .fetch_one(&mut copied)
                .await
                .unwrap();
        assert_eq!((rows, last.as_str()), (5000, "row 999"));
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut copied)
            .await
            .unwrap();
        assert_eq!(check, "ok");

        // An existing file is never overwritten, and a missing source is an error.
        let again = copy(&source, &destination).unwrap_err();
        assert!(again.contains("already exists"), "{again}");
        let missing = copy(&dir.path().join("missing.db"), &dir.path().join("other.db"));
        assert!(missing.unwrap_err().contains("opening"));
        conn.close().await.unwrap();
    }
}
