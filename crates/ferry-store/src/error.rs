//! What can go wrong with the ledger, worded for the person who has to fix it.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use crate::model::LockInfo;

/// A ledger error. Each variant names what a user can act on: the file, the holder of a
/// lock, the missing record, the refused request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation. `path` is the ledger's file; it is `None` only between
    /// the failing call and [`Ledger`](crate::Ledger)'s public method, which fills it in.
    #[error("ledger {}: {source}", display_path(.path))]
    Sqlite {
        path: Option<PathBuf>,
        #[source]
        source: rusqlite::Error,
    },
    /// The ledger's directory could not be created.
    #[error("ledger {path}: cannot create its directory: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The ledger's file could not be examined (its size, its identity, its write-ahead log).
    #[error("ledger {path}: cannot {action}: {source}")]
    File {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Someone else is deploying this (environment, service) and their lease is still valid.
    /// Boxed so every `Result<_, StoreError>` stays small.
    #[error("{0}")]
    LockHeld(Box<LockInfo>),
    /// The deployment or lock the call refers to is not in the ledger.
    #[error("{0}")]
    NotFound(String),
    /// The call asks for something the ledger must not record or cannot answer: a release
    /// with no services or one service twice, an ambiguous release id prefix, a promotion of
    /// a rejected release. The message says what is wrong and, where it can, what to give.
    #[error("{0}")]
    Invalid(String),
    /// The file exists but is not an SQLite database, is damaged (it fails SQLite's
    /// integrity check, or a table or column of ferry's schema is missing), or is another
    /// program's database.
    #[error(
        "ledger {path}: not a readable ferry ledger (not an SQLite database, or damaged): {detail}; \
         nothing was changed. Move the file away and keep it (ferry then starts a new, empty \
         ledger) or restore it from a backup; `sqlite3 FILE .recover` may save its rows"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// The main file is empty but its write-ahead log (`-wal`) is not: the file was truncated
    /// or replaced while its newest history was still in the log. Refused rather than
    /// opened, because SQLite deletes the log of an empty database when it opens one.
    #[error(
        "ledger {path}: the file is empty (0 bytes) but its write-ahead log {wal} holds \
         {wal_bytes} bytes: the ledger was truncated or replaced, and its history may still be \
         in that log. Not opened, so the log is kept; nothing was changed. Restore the ledger \
         from a backup, or move both files away to start a new, empty ledger"
    )]
    EmptyWithLog { path: PathBuf, wal: PathBuf, wal_bytes: u64 },
    /// The file this ledger was opened from was deleted, or another file took its place,
    /// while this process had it open: what it writes from now on goes to a file nobody else
    /// reads, and the locks it holds are gone from the one they do.
    #[error(
        "ledger {path}: the file was {detail} while ferry had it open, so the locks this run \
         holds are gone from the ledger other ferry processes read, and another deploy may have \
         started; nothing more is written to it. Check `ferry status` and `ferry history` for \
         a deploy that may be running, and restore the ledger from a backup if history is missing"
    )]
    Replaced { path: PathBuf, detail: String },
    /// The file was written by a newer ferry; reading it could silently misinterpret it.
    #[error(
        "ledger {path}: schema version {found} is newer than this ferry understands ({supported}); \
         upgrade ferry, or point FERRY_LEDGER at another file"
    )]
    Schema { path: PathBuf, found: i64, supported: i64 },
    /// A shared ledger's store (DynamoDB) refused or failed a call, or is not a ferry
    /// ledger: a table that does not exist, access denied, throttling that outlasted the
    /// retries, a table whose keys are not ferry's, an endpoint that does not answer.
    /// `location` is the ledger's [`location`](crate::LedgerBackend::location)
    /// (`dynamodb://TABLE (REGION)`); `detail` says what failed and what to do.
    #[error("ledger {location}: {detail}")]
    Remote { location: String, detail: String },
    /// A shared ledger's table does not exist (never created, or deleted while ferry used
    /// it): like [`StoreError::Replaced`] for a file, a deploy holding a lock in it must stop.
    #[error("ledger {location}: {detail}")]
    TableGone { location: String, detail: String },
    /// The shared ledger was written by a newer ferry (its schema item says so); nothing
    /// was read or written.
    #[error(
        "ledger {location}: schema version {found} is newer than this ferry understands ({supported}); \
         nothing was changed. Upgrade ferry, or point the [ledger] settings at another table"
    )]
    RemoteSchema { location: String, found: i64, supported: i64 },
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Sqlite { path: None, source }
    }
}

impl StoreError {
    /// Attaches the ledger's path, and turns SQLite's "not a database" and "malformed"
    /// failures into [`StoreError::Corrupt`], whose message says what the file is not.
    pub(crate) fn in_ledger(self, ledger: &Path) -> StoreError {
        match self {
            StoreError::Sqlite { path: None, source } => {
                let unreadable = matches!(source.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt));
                if unreadable {
                    StoreError::Corrupt { path: ledger.to_path_buf(), detail: source.to_string() }
                } else {
                    StoreError::Sqlite { path: Some(ledger.to_path_buf()), source }
                }
            }
            other => other,
        }
    }
}

fn display_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => path.display().to_string(),
        None => "(unknown file)".to_string(),
    }
}
