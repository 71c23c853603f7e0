//! Connections and migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Append-only: add new files at the end, never edit a released one.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_dedup.sql"),
    include_str!("../../migrations/0003_topics.sql"),
    include_str!("../../migrations/0004_alerts.sql"),
    include_str!("../../migrations/0005_first_seen.sql"),
];

/// How long a connection waits for a lock before reporting "busy".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The write-ahead log starts over only when a write transaction begins with every frame
/// copied back, and in a burst of commits the checkpoint thread never finds that moment:
/// the writer is always a commit ahead (a 200 × 50 cold ingest grew the log to 231 MiB,
/// 332 MiB on a database of 1M articles, a daemon's first round of 10,000 feeds to 2.9
/// GB). So once a commit leaves the log at half this many pages, the checkpoint thread is
/// woken after every commit; at this many (16 MiB) the commit copies back what is left
/// itself, usually little, and the next transaction starts the log over (`writer`).
pub const WAL_RESTART_PAGES: i64 = 4096;
/// When the log starts over, a file grown past this (a reader held a snapshot through a
/// burst) is cut back to it.
pub const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// The write-ahead log of the database at `path`: SQLite names it after the whole file
/// name (`news.sqlite` → `news.sqlite-wal`).
pub fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Opens (creating if needed) the database for writing and brings the schema up to
/// date. WAL journal, `synchronous = NORMAL` (a power loss may lose the last commits,
/// never corrupt), automatic checkpoints off: the writer's checkpoint thread does them
/// (and a commit, once the log reaches [`WAL_RESTART_PAGES`]).
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder { path: dir.to_path_buf(), source })?;
    }
    let open = |path: &Path| -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        // The writer runs a few dozen distinct statements; keep them all prepared.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    };
    let mut conn = open(path).map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing database for reading. Tries read-write with `query_only` first
/// (so WAL's shared-memory file can be created), then plain read-only (for a user who
/// may read the service's database but not write its folder).
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing(path.to_path_buf()));
    }
    let attempt = |flags: OpenFlags| -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
            conn.pragma_update(None, "query_only", true)?;
        }
        // Touch the schema now, so a locked or unreadable file fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    };
    let conn = attempt(OpenFlags::SQLITE_OPEN_READ_WRITE)
        .or_else(|_| attempt(OpenFlags::SQLITE_OPEN_READ_ONLY))
        .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version == 0 {
        return Err(StoreError::NotKabar(path.to_path_buf()));
    }
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::TooNew { found: version, known: MIGRATIONS.len() as i64 });
    }
    Ok(conn)
}

/// Applies the migrations not yet applied, each in its own transaction, and records
/// the version in `user_version`.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew { found: version, known });
    }
    if version == 0 {
        // A non-empty file without our version is someone else's database.
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if tables > 0 {
            return Err(StoreError::NotKabar(path.to_path_buf()));
        }
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_readers_open_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/k.db");
        drop(open_writer(&path).unwrap());
        // Reopening applies nothing twice.
        let conn = open_writer(&path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let reader = open_reader(&path).unwrap();
        let err = reader.execute("DELETE FROM feeds", []).unwrap_err();
        assert!(err.to_string().contains("readonly") || err.to_string().contains("read-only"), "{err}");
    }

    #[test]
    fn the_log_is_named_as_sqlite_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("news.sqlite");
        let _conn = open_writer(&path).unwrap(); // the migrations leave frames in the log
        assert_eq!(wal_path(&path), dir.path().join("news.sqlite-wal"));
        assert!(wal_path(&path).metadata().unwrap().len() > 0);
    }

    #[test]
    fn foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.db");
        assert!(matches!(open_reader(&missing), Err(StoreError::Missing(_))));
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t(x)").unwrap();
        assert!(matches!(open_writer(&other), Err(StoreError::NotKabar(_))));
        assert!(matches!(open_reader(&other), Err(StoreError::NotKabar(_))));
    }
}
