//! What keeps a lost ledger from going unnoticed: the checks made before SQLite sees the
//! file, the file's identity while it is open, and a record of how much history it held.
//!
//! - **An empty file with a write-ahead log.** New rows go to `FILE-wal` first and reach the
//!   main file at a checkpoint, so a ledger truncated (or replaced by an empty file) while
//!   a ferry process runs may still have its newest history in the log. SQLite deletes the
//!   log of an empty database when it opens one; ferry refuses to open it instead
//!   ([`StoreError::EmptyWithLog`]). A new ledger never looks like this: SQLite writes the
//!   main file's first page when it switches the file to WAL mode, before any log exists.
//! - **The file's identity.** An open ledger remembers the file it opened (device and
//!   inode); every call checks that the path still names that file. A ledger deleted or
//!   replaced while a deploy runs is noticed by its next call, at the latest when the deploy
//!   renews its lock, and that call fails with [`StoreError::Replaced`] instead of writing
//!   to a file nobody else reads.
//! - **The last known size.** Beside the ledger, `FILE.last-known` records how many
//!   deployments and releases the ledger held when ferry last used it. ferry never deletes
//!   either, so a ledger that holds fewer was deleted, emptied or replaced: opening it gives
//!   [`LedgerWarning::Shrunk`], once (the record then describes the file as it is). An
//!   existing file of 0 bytes with no such record gives [`LedgerWarning::EmptyFile`].

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Something found when opening the ledger that a person should know about, although the
/// ledger could be opened. Shown by ferry as a warning; see [`Ledger::warnings`](crate::Ledger::warnings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerWarning {
    /// The file existed but was empty (0 bytes), and nothing says what it held before: it
    /// was started as a new ledger.
    EmptyFile { path: PathBuf },
    /// The ledger holds fewer deployments or releases than it did when ferry last used it
    /// (as `record` remembers): it was deleted, emptied or replaced since, and that history
    /// is not in this file. Locks held in the old file are gone too.
    Shrunk { path: PathBuf, record: PathBuf, before: Counts, now: Counts },
}

impl fmt::Display for LedgerWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerWarning::EmptyFile { path } => write!(
                f,
                "the ledger {} was an empty file (0 bytes) and was started as a new ledger; \
                 if it held history, it was truncated or replaced: restore it from a backup",
                path.display()
            ),
            LedgerWarning::Shrunk { path, record, before, now } => write!(
                f,
                "the ledger {} holds {now}, but held {before} when ferry last used it: the file \
                 was deleted, emptied or replaced since, and that history is not in it. Locks \
                 held in the old file are gone too, so another deploy may be running: check \
                 `ferry status` before deploying. Restore the ledger from a backup if you have \
                 one; if a new ledger was meant, nothing to do (this is said once: {} now \
                 records the new size)",
                path.display(),
                record.display()
            ),
        }
    }
}

/// How much history a ledger holds: its deployments and releases. Neither is ever deleted,
/// so the numbers only grow while the file is the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub deployments: i64,
    pub releases: i64,
}

impl Counts {
    /// Whether `self` lacks history `earlier` had.
    fn lost_since(self, earlier: Counts) -> bool {
        self.deployments < earlier.deployments || self.releases < earlier.releases
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: i64| if n == 1 { "" } else { "s" };
        write!(f, "{} deployment{} and {} release{}", self.deployments, plural(self.deployments), self.releases, plural(self.releases))
    }
}

/// What the file looked like before SQLite opened it.
pub(crate) enum Before {
    Missing,
    Empty,
    NotEmpty,
}

/// An empty file younger than this is taken for one another ferry process is creating right
/// now (SQLite creates the file, then writes its first page), not for a ledger that lost its
/// content: no [`LedgerWarning::EmptyFile`] for it.
const BEING_CREATED: std::time::Duration = std::time::Duration::from_secs(2);

/// Looks at the file before SQLite does: refuses an empty file whose write-ahead log holds
/// something (see the module docs), and says whether the file was missing or empty.
pub(crate) fn before_open(path: &Path) -> Result<Before, StoreError> {
    let (len, modified) = match std::fs::metadata(path) {
        Ok(meta) => (meta.len(), meta.modified().ok()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Before::Missing),
        Err(source) => {
            return Err(StoreError::File { path: path.to_path_buf(), action: "read the file's size", source });
        }
    };
    if len > 0 {
        return Ok(Before::NotEmpty);
    }
    let wal = with_suffix(path, "-wal");
    match std::fs::metadata(&wal) {
        Ok(meta) if meta.len() > 0 => Err(StoreError::EmptyWithLog { path: path.to_path_buf(), wal, wal_bytes: meta.len() }),
        Ok(_) => Ok(empty(modified)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(empty(modified)),
        Err(source) => Err(StoreError::File { path: path.to_path_buf(), action: "look for the ledger's write-ahead log", source }),
    }
}

/// An empty file with no log: a ledger another process is creating, or one that lost its
/// content (or was created empty by someone else).
fn empty(modified: Option<std::time::SystemTime>) -> Before {
    let age = modified.and_then(|at| at.elapsed().ok());
    match age {
        Some(age) if age < BEING_CREATED => Before::Missing,
        _ => Before::Empty,
    }
}

/// The identity of a file: the same path may name another file tomorrow, the same
/// identity may not. `None` where the platform gives none (then nothing is checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    #[cfg(unix)]
    dev: u64,
    #[cfg(unix)]
    ino: u64,
}

impl FileId {
    /// The identity of the file at `path` now; `Ok(None)` if the platform has no notion of
    /// one; an error of kind `NotFound` if nothing is there.
    pub(crate) fn of(path: &Path) -> std::io::Result<Option<FileId>> {
        let meta = std::fs::metadata(path)?;
        Ok(Self::from_metadata(&meta))
    }

    #[cfg(unix)]
    fn from_metadata(meta: &std::fs::Metadata) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        Some(FileId { dev: meta.dev(), ino: meta.ino() })
    }

    #[cfg(not(unix))]
    fn from_metadata(_meta: &std::fs::Metadata) -> Option<FileId> {
        None
    }
}

/// Fails with [`StoreError::Replaced`] unless `path` still names the file `opened`.
pub(crate) fn still_the_same(path: &Path, opened: Option<FileId>) -> Result<(), StoreError> {
    let Some(opened) = opened else {
        return Ok(());
    };
    let replaced = |detail: &str| StoreError::Replaced { path: path.to_path_buf(), detail: detail.to_string() };
    match FileId::of(path) {
        Ok(Some(now)) if now == opened => Ok(()),
        Ok(_) => Err(replaced("replaced by another file")),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(replaced("deleted")),
        Err(source) => {
            Err(StoreError::File { path: path.to_path_buf(), action: "check that the ledger file is still the one ferry opened", source })
        }
    }
}

/// The deployments and releases the ledger holds: the highest `seq` of each (rows are never
/// deleted, so this is their number, and reading it is one index lookup, not a scan).
pub(crate) fn counts(conn: &Connection) -> rusqlite::Result<Counts> {
    conn.query_row(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM deployments),
                (SELECT COALESCE(MAX(seq), 0) FROM releases)",
        [],
        |row| Ok(Counts { deployments: row.get(0)?, releases: row.get(1)? }),
    )
}

/// Where the last known size of the ledger at `path` is kept.
pub(crate) fn record_path(path: &Path) -> PathBuf {
    with_suffix(path, ".last-known")
}

/// The record kept in `FILE.last-known`.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(default)]
    about: String,
    deployments: i64,
    releases: i64,
}

/// The last known size, if recorded. A missing or unreadable record is no record: it only
/// ever adds a warning, so a damaged one must not stop anything.
pub(crate) fn last_known(path: &Path) -> Option<Counts> {
    let text = std::fs::read_to_string(record_path(path)).ok()?;
    let record: Record = serde_json::from_str(&text).ok()?;
    Some(Counts { deployments: record.deployments, releases: record.releases })
}

/// Records `counts` as the ledger's last known size (write, then rename: a reader sees the
/// old record or the new one, never half of one).
pub(crate) fn remember(path: &Path, counts: Counts) -> std::io::Result<()> {
    let record = Record {
        about: "written by ferry: how much history its ledger held when last used, so that \
                a ledger deleted or replaced by an empty one is noticed"
            .to_string(),
        deployments: counts.deployments,
        releases: counts.releases,
    };
    let text = serde_json::to_string_pretty(&record).map_err(std::io::Error::other)?;
    let target = record_path(path);
    // One temporary name per process and thread: concurrent writers do not share one.
    let temporary = with_suffix(&target, &format!(".{}-{:?}.tmp", std::process::id(), std::thread::current().id()).replace(['(', ')'], ""));
    std::fs::write(&temporary, text + "\n")?;
    std::fs::rename(&temporary, &target).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// Compares the ledger's size with the last known one: a warning if history went missing.
/// Then records the size as it is now, when it differs.
pub(crate) fn compare_and_remember(path: &Path, now: Counts, before_open: &Before) -> Option<LedgerWarning> {
    let last = last_known(path);
    let warning = match last {
        Some(before) if now.lost_since(before) => {
            Some(LedgerWarning::Shrunk { path: path.to_path_buf(), record: record_path(path), before, now })
        }
        _ if matches!(before_open, Before::Empty) => Some(LedgerWarning::EmptyFile { path: path.to_path_buf() }),
        _ => None,
    };
    if last != Some(now) {
        // Best effort: without the record the next open only cannot compare.
        let _ = remember(path, now);
    }
    warning
}

/// `path` with `suffix` appended to its file name (`ledger.sqlite` → `ledger.sqlite-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}
