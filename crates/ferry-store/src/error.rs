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
    /// The file exists but is not an SQLite database, or is damaged.
    #[error(
        "ledger {path}: not a readable ferry ledger (not an SQLite database, or damaged): {detail}"
    )]
    Corrupt { path: PathBuf, detail: String },
    /// The file was written by a newer ferry; reading it could silently misinterpret it.
    #[error(
        "ledger {path}: schema version {found} is newer than this ferry understands ({supported}); \
         upgrade ferry, or point FERRY_LEDGER at another file"
    )]
    Schema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
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
                let unreadable = matches!(
                    source.sqlite_error_code(),
                    Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
                );
                if unreadable {
                    StoreError::Corrupt {
                        path: ledger.to_path_buf(),
                        detail: source.to_string(),
                    }
                } else {
                    StoreError::Sqlite {
                        path: Some(ledger.to_path_buf()),
                        source,
                    }
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
