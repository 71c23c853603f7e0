//! SQLite: the only module that names rusqlite.
//!
//! * `schema`: opens connections with the right pragmas and applies the append-only
//!   migrations in `migrations/`.
//! * `writer`: one thread owns the only writing connection; every poll is one
//!   `BEGIN IMMEDIATE` transaction (all of it lands, or none). WAL checkpoints run on a
//!   second connection, off the write path, except the one that lets the log start over
//!   when it reaches [`WAL_RESTART_PAGES`].
//! * `reader`: read-only connections for the CLI (and any other front end); in WAL
//!   mode they never block the writer and are never blocked by it.

mod ingest;
mod lock;
mod reader;
mod schema;
mod sql;
mod tsquery;
mod writer;

use std::path::PathBuf;

pub use lock::{lock_path, writer as running_writer};
pub use reader::{ArticleHtml, Budget, Reader, ScanFilter, ScanRow};
pub use schema::{WAL_RESTART_PAGES, wal_path};
pub use sql::Backend;
pub use writer::{Pending, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database at {}: run `kabar fetch` or `kabar run` first", .0.display())]
    Missing(PathBuf),
    #[error("{} is a folder, not a database file (storage.database names the file)", .0.display())]
    NotAFile(PathBuf),
    #[error("{} is in use by another writer ({holder}); one process writes a database at a time, so stop it first (a running daemon polls every feed itself)", .path.display())]
    InUse { path: PathBuf, holder: String },
    #[error("cannot lock {}: {source}", .path.display())]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("cannot open the database {}: {source}", .path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("{} is not a kabar database", .0.display())]
    NotKabar(PathBuf),
    #[error("the database schema (version {found}) is newer than this kabar (version {known}); upgrade kabar")]
    TooNew { found: i64, known: i64 },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("storage.url is not a PostgreSQL connection string: {0}")]
    PostgresUrl(String),
    #[error("cannot connect to PostgreSQL at {url}: {}", postgres_message(.source))]
    PostgresConnect { url: String, source: postgres::Error },
    #[error("the PostgreSQL database at {0} has tables but no kabar schema; give kabar a database of its own")]
    NotKabarPostgres(String),
    #[error("the PostgreSQL database at {0} has no kabar schema yet: run `kabar fetch` or `kabar run` first")]
    MissingPostgres(String),
    #[error("PostgreSQL error: {}", postgres_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("database error: column {column}: {problem}")]
    Column { column: usize, problem: String },
    #[error("database error: a statement returned no row")]
    NoRow,
    #[error("cannot create the database folder {}: {source}", .path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("internal error while writing: {0}")]
    Panicked(String),
    #[error(
        "the lease on {host} (fence {fence}) is no longer this worker's: another worker took the host over, so this poll's results were not stored"
    )]
    LeaseLost { host: String, fence: i64 },
    #[error("the read ran past its time budget or was cancelled")]
    OutOfBudget,
}

/// A PostgreSQL error with the server's own message and detail, when it sent them.
fn postgres_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}
