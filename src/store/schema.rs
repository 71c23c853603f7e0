//! Connections and migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use super::sql::{Backend, Db, PgConn, blocking};
use crate::config::{Database, Postgres};

/// Append-only: add new files at the end, never edit a released one.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_dedup.sql"),
    include_str!("../../migrations/0003_topics.sql"),
    include_str!("../../migrations/0004_alerts.sql"),
    include_str!("../../migrations/0005_first_seen.sql"),
    include_str!("../../migrations/0006_pages.sql"),
];

/// PostgreSQL's migrations, in `migrations/postgres/`; append-only as SQLite's. The
/// version is the row of `kabar_schema`.
const PG_MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_fleet.sql"),
    include_str!("../../migrations/postgres/0003_own_story.sql"),
];

/// The advisory lock a PostgreSQL migration holds: workers starting together migrate
/// one after another, and the later ones find nothing to do.
const PG_MIGRATION_LOCK: i64 = 0x6b61_6261_7201;

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
/// (and a commit, once the log reaches [`WAL_RESTART_PAGES`]). A file that is not a
/// kabar database, or one newer than this kabar, is refused before anything about it
/// changes (its journal mode included). The caller holds the writer's lock (`lock`).
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    prepare_folder(path)?;
    let open_error = |source| StoreError::Open { path: path.to_path_buf(), source };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    check_kabar(&conn, path)?;
    let configure = |conn: &Connection| -> rusqlite::Result<()> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        // The writer runs a few dozen distinct statements; keep them all prepared, and
        // planned once: without the planner's stability guarantee SQLite planned the
        // duplicate lookups again for each article, for the values bound (5 % of a cold
        // fetch's CPU; their plans are the same indexed searches either way).
        conn.set_prepared_statement_cache_capacity(64);
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(())
    };
    configure(&conn).map_err(open_error)?;
    let mut conn = conn;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Makes the database's folder (and refuses a path that is itself a folder).
pub fn prepare_folder(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Err(StoreError::NotAFile(path.to_path_buf()));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder { path: dir.to_path_buf(), source })?;
    }
    Ok(())
}

/// Refuses a file that is someone else's database (tables but no version of ours) or
/// a kabar database newer than this build. Reads only.
fn check_kabar(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open { path: path.to_path_buf(), source };
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(open_error)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew { found: version, known });
    }
    if version < 0 {
        return Err(StoreError::NotKabar(path.to_path_buf()));
    }
    if version == 0 {
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(open_error)?;
        if tables > 0 {
            return Err(StoreError::NotKabar(path.to_path_buf()));
        }
    }
    Ok(())
}

/// Opens an existing database for reading, read-only: a reader never writes, not even
/// the journal mode, and a reader's close never checkpoints. A user who may read the
/// database but not write its folder cannot create WAL's shared-memory file; when no
/// writer holds the lock and no write-ahead log is left over, such a user reads the
/// file as immutable (nothing else is changing it).
fn open_sqlite_reader(path: &Path) -> Result<Connection, StoreError> {
    if path.is_dir() {
        return Err(StoreError::NotAFile(path.to_path_buf()));
    }
    if !path.exists() {
        return Err(StoreError::Missing(path.to_path_buf()));
    }
    let attempt = |target: &str, flags: OpenFlags| -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(target, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Touch the schema now, so a locked or unreadable file fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        Ok(conn)
    };
    let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY;
    let conn = match attempt(&path.to_string_lossy(), read_only) {
        Ok(conn) => conn,
        Err(e) => {
            let log_left = std::fs::metadata(wal_path(path)).is_ok_and(|m| m.len() > 0);
            let immutable = !log_left && super::lock::writer(path).is_none();
            match immutable_uri(path).filter(|_| immutable) {
                Some(uri) => attempt(&uri, read_only | OpenFlags::SQLITE_OPEN_URI),
                None => Err(e),
            }
            .map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?
        }
    };
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version <= 0 {
        return Err(StoreError::NotKabar(path.to_path_buf()));
    }
    if version > MIGRATIONS.len() as i64 {
        return Err(StoreError::TooNew { found: version, known: MIGRATIONS.len() as i64 });
    }
    Ok(conn)
}

/// Opens the store for reading: the SQLite file read-only, or a PostgreSQL connection
/// (which checks the schema's version but never migrates).
pub fn open_reader(at: &Database) -> Result<Db, StoreError> {
    match at {
        Database::Sqlite(path) => Ok(Db::Sqlite(open_sqlite_reader(path)?)),
        Database::Postgres(pg) => blocking(Backend::Postgres, || open_postgres(pg, false)),
    }
}

/// Connects to PostgreSQL; for a writer (`migrate`), brings the schema up to date
/// first. A database with tables but no kabar schema, or a newer schema, is refused
/// before anything in it changes.
pub fn open_postgres(pg: &Postgres, migrate: bool) -> Result<Db, StoreError> {
    let mut config: postgres::Config =
        pg.url.parse().map_err(|e: postgres::Error| StoreError::PostgresUrl(e.to_string()))?;
    if let Some(password) = &pg.password {
        config.password(password);
    }
    if config.get_application_name().is_none() {
        config.application_name("kabar");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(BUSY_TIMEOUT);
    }
    let client = config
        .connect(postgres::NoTls)
        .map_err(|source| StoreError::PostgresConnect { url: pg.url.clone(), source })?;
    let mut db = Db::Postgres(Box::new(PgConn::new(client)));
    let known = PG_MIGRATIONS.len() as i64;
    let tx = db.begin()?;
    if migrate {
        tx.exec("SELECT pg_advisory_xact_lock(?1)", crate::store::sql::args![PG_MIGRATION_LOCK])?;
    }
    let has_schema: bool = tx.value("SELECT to_regclass('kabar_schema') IS NOT NULL", &[])?;
    let version: i64 = if has_schema {
        tx.value("SELECT coalesce(max(version), 0) FROM kabar_schema", &[])?
    } else {
        let tables: i64 =
            tx.value("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", &[])?;
        if tables > 0 {
            return Err(StoreError::NotKabarPostgres(pg.url.clone()));
        }
        0
    };
    if version > known {
        return Err(StoreError::TooNew { found: version, known });
    }
    if !migrate {
        if version == 0 {
            return Err(StoreError::MissingPostgres(pg.url.clone()));
        }
        tx.commit()?;
        return Ok(db);
    }
    if !has_schema {
        tx.batch("CREATE TABLE kabar_schema (version BIGINT NOT NULL)")?;
    }
    for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch(sql)?;
        tx.exec("INSERT INTO kabar_schema (version) VALUES (?1)", crate::store::sql::args![i as i64 + 1])?;
        tracing::info!(version = i + 1, "PostgreSQL schema migrated");
    }
    tx.commit()?;
    Ok(db)
}

/// `file:/abs/path?mode=ro&immutable=1`, the path percent-encoded.
fn immutable_uri(path: &Path) -> Option<String> {
    let absolute = std::fs::canonicalize(path).ok()?;
    let url = url::Url::from_file_path(absolute).ok()?;
    Some(format!("{url}?mode=ro&immutable=1"))
}

/// Applies the migrations not yet applied, each in its own transaction, and records
/// the version in `user_version` (checked by [`check_kabar`] first).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
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
        let reader = open_sqlite_reader(&path).unwrap();
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
    fn foreign_and_newer_files_are_refused_unchanged_and_folders_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let journal = |p: &Path| -> String {
            Connection::open(p).unwrap().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap()
        };
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t(x)").unwrap();
        let newer = dir.path().join("newer.db");
        Connection::open(&newer).unwrap().execute_batch("CREATE TABLE t(x); PRAGMA user_version = 99").unwrap();
        let negative = dir.path().join("negative.db");
        Connection::open(&negative).unwrap().execute_batch("PRAGMA user_version = -1").unwrap();
        assert!(matches!(open_writer(&other), Err(StoreError::NotKabar(_))));
        assert!(matches!(open_writer(&newer), Err(StoreError::TooNew { found: 99, .. })));
        assert!(matches!(open_writer(&negative), Err(StoreError::NotKabar(_))));
        // Refused before anything changed: both still use a rollback journal.
        assert_eq!(journal(&other), "delete");
        assert_eq!(journal(&newer), "delete");
        assert!(!wal_path(&other).exists() && !wal_path(&newer).exists());
        for f in [open_writer(dir.path()).err(), open_sqlite_reader(dir.path()).err()] {
            let e = f.expect("a folder is refused");
            assert!(matches!(e, StoreError::NotAFile(_)), "{e}");
            assert!(e.to_string().contains("is a folder"), "{e}");
        }
    }

    #[test]
    fn a_reader_leaves_the_database_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        drop(open_writer(&path).unwrap());
        let before = std::fs::read(&path).unwrap();
        let reader = open_sqlite_reader(&path).unwrap();
        assert!(reader.execute("DELETE FROM feeds", []).is_err());
        drop(reader);
        assert_eq!(std::fs::read(&path).unwrap(), before, "the reader changed the database file");
    }

    #[test]
    fn foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.db");
        assert!(matches!(open_sqlite_reader(&missing), Err(StoreError::Missing(_))));
        let other = dir.path().join("other.db");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE t(x)").unwrap();
        assert!(matches!(open_writer(&other), Err(StoreError::NotKabar(_))));
        assert!(matches!(open_sqlite_reader(&other), Err(StoreError::NotKabar(_))));
    }
}
