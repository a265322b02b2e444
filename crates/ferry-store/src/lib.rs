//! ferry's ledger: the record of every deployment ferry makes, the events it saw along the
//! way, the locks that keep two deploys of the same (environment, service) apart, and the
//! releases (sets of images named by their content) promoted from one environment to the next.
//!
//! The ledger is one SQLite file per user (see [`Ledger::default_path`]), opened by every
//! ferry process; SQLite's file locking is what makes a lock taken here hold across
//! processes. It is history and coordination, not the source of truth: the resources ferry
//! creates in AWS carry their own tags, so losing the ledger loses history, never the
//! ability to converge.
//!
//! Losing history must not go unnoticed, though: [`Ledger::open`] refuses a file it cannot
//! trust (damaged, missing part of the schema, emptied while its write-ahead log still holds
//! rows) and reports one that holds less history than when ferry last used it
//! ([`Ledger::warnings`]); an open ledger whose file is deleted or replaced fails every call
//! from then on ([`StoreError::Replaced`]), so a deploy holding a lock in it notices.
//!
//! The API is synchronous (the calls are short, local writes) and takes the current time
//! explicitly, as milliseconds since the Unix epoch, wherever time matters: there is no
//! clock in here, so tests decide when leases run out.
//!
//! ```no_run
//! use ferry_store::{Ledger, LockHolder, StoreError};
//!
//! let ledger = Ledger::open(&Ledger::default_path())?;
//! let me = LockHolder { deployment_id: "fd-1".into(), who: "alice".into(), host: "laptop".into(), pid: 42 };
//! let now = 1_700_000_000_000;
//! match ledger.acquire_lock("prod", "web", &me, 10 * 60 * 1000, now) {
//!     Ok(()) => { /* deploy, renewing the lease, then release */ }
//!     Err(StoreError::LockHeld(info)) => eprintln!("{info}"),
//!     Err(other) => return Err(other),
//! }
//! # Ok::<(), StoreError>(())
//! ```

mod backend;
mod deployments;
mod error;
mod events;
mod guard;
mod locks;
mod model;
mod promotions;
mod releases;
mod schema;
mod steps;
#[cfg(feature = "suite")]
pub mod suite;
pub mod transfer;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub use backend::{Ledger, LedgerBackend};
pub use error::StoreError;
/// RFC 3339 of the ledger's timestamps; see [`ferry_core::time::format_rfc3339`].
pub use ferry_core::time::format_rfc3339;
pub use guard::{Counts, LedgerWarning};
pub use locks::Unlock;
pub use model::{
    DeploymentRecord, EventRecord, HistoryFilter, LockHolder, LockInfo, Outcome, ParseOutcomeError, Promotion, Rejection, Release,
    ReleaseEntry, StepRecord, StepState,
};
pub use releases::{release_id, release_of};
pub use schema::{QUICK_CHECK_MAX_BYTES, SCHEMA_VERSION};

/// How long a call waits for another process's write to finish before giving up. Writes
/// are a handful of rows, so anything near this means something is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The embedded SQLite ledger. `Send + Sync`: one connection behind a mutex, shared by the
/// threads of a process; other processes open their own.
pub struct SqliteLedger {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// The file opened, so a ledger deleted or replaced while open is noticed.
    identity: Option<guard::FileId>,
    warnings: Vec<LedgerWarning>,
}

impl std::fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLedger").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteLedger {
    /// Opens the ledger at `path`, creating its directory and tables if needed.
    ///
    /// WAL mode, so `ferry status` can read while a deploy writes; a 5 s busy timeout, so
    /// concurrent ferry processes wait for each other instead of failing.
    ///
    /// Nothing is changed in a file that is not sound, and each refusal names the path:
    /// a schema version newer than [`SCHEMA_VERSION`] ([`StoreError::Schema`]); a file that
    /// is not an SQLite database, another program's database, a ledger missing a table or
    /// column of the schema, or (for files up to [`QUICK_CHECK_MAX_BYTES`]) one that fails
    /// SQLite's `quick_check` ([`StoreError::Corrupt`]); an empty file whose write-ahead log
    /// is not ([`StoreError::EmptyWithLog`]). A ledger that holds less history than when
    /// ferry last used it opens with a [`LedgerWarning`] (see [`Ledger::warnings`]).
    pub fn open(path: &Path) -> Result<SqliteLedger, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: path.to_path_buf(), source })?;
        }
        let before = guard::before_open(path)?;
        Self::configure(path, &before).map_err(|e| e.in_ledger(path))
    }

    fn configure(path: &Path, before: &guard::Before) -> Result<SqliteLedger, StoreError> {
        let mut conn = Connection::open(path)?;
        let identity = guard::FileId::of(path).map_err(|source| StoreError::File {
            path: path.to_path_buf(),
            action: "read the file's identity",
            source,
        })?;
        // Before anything that may need a lock, so even the first statements wait.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        schema::check_before_use(&conn, path)?;
        use_wal(&conn)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn, path)?;
        schema::verify(&conn, path)?;
        let counts = guard::counts(&conn)?;
        let warnings = guard::compare_and_remember(path, counts, before).into_iter().collect();
        Ok(SqliteLedger { conn: Mutex::new(conn), path: path.to_path_buf(), identity, warnings })
    }

    /// What opening the ledger found that a person should know, although it could be
    /// opened: a ledger holding less history than when ferry last used it, or an empty file
    /// started anew. ferry prints these as warnings.
    pub fn warnings(&self) -> &[LedgerWarning] {
        &self.warnings
    }

    /// The documented per-user default: `$FERRY_LEDGER` if set, else
    /// `$XDG_DATA_HOME/ferry/ledger.sqlite`, else `$HOME/.local/share/ferry/ledger.sqlite`.
    ///
    /// Empty variables count as unset, and a relative `XDG_DATA_HOME` is ignored, as the XDG
    /// base directory specification requires. With no `HOME` either, the path is relative to
    /// the current directory.
    pub fn default_path() -> PathBuf {
        default_path_from(|name| std::env::var_os(name))
    }

    /// The file this ledger was opened from, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection and names the ledger in any error it returns.
    ///
    /// First checks that the path still names the file that was opened: a ledger deleted or
    /// replaced meanwhile fails every call with [`StoreError::Replaced`], so a deploy
    /// notices (at the latest when it renews its lock) rather than writing on, and holding
    /// locks, in a file no other ferry process reads.
    ///
    /// A poisoned mutex is recovered: the panic that poisoned it cannot have left a
    /// transaction open (rusqlite rolls back on drop), so the connection is still sound.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        guard::still_the_same(&self.path, self.identity)?;
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut conn).map_err(|e| e.in_ledger(&self.path))
    }

    /// Records the ledger's size beside it after a deployment or release was added (see
    /// [`LedgerWarning::Shrunk`]). Best effort: a record that cannot be written only means
    /// a later loss may go unnoticed, which is no reason to fail the write that succeeded.
    fn remember_size(&self, conn: &Connection) {
        if let Ok(counts) = guard::counts(conn) {
            let _ = guard::remember(&self.path, counts);
        }
    }
}

/// Switches the file to WAL mode, once in its life: the mode is stored in the file.
///
/// SQLite does not call the busy handler for this conversion (it needs exclusive access to
/// the file), so two processes opening a new ledger at once would see one of them fail with
/// "database is locked" despite the busy timeout. Hence the retries, within the same budget,
/// and the check first: a ledger that is already in WAL mode takes no lock here at all.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        // Returns the resulting mode; a file system without WAL support keeps its old one,
        // and the ledger still works (readers then wait for writers), so that is accepted.
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

fn default_path_from(var: impl Fn(&str) -> Option<OsString>) -> PathBuf {
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
    if let Some(path) = var("FERRY_LEDGER") {
        return PathBuf::from(path);
    }
    let data_home = var("XDG_DATA_HOME").map(PathBuf::from).filter(|dir| dir.is_absolute()).unwrap_or_else(|| {
        let home = var("HOME").map(PathBuf::from).unwrap_or_default();
        home.join(".local").join("share")
    });
    data_home.join("ferry").join("ledger.sqlite")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| vars.iter().find(|(key, _)| *key == name).map(|(_, value)| OsString::from(value))
    }

    #[test]
    fn ferry_ledger_wins_over_xdg_and_home() {
        let vars = [("FERRY_LEDGER", "/srv/ferry.db"), ("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/a")];
        assert_eq!(default_path_from(env(&vars)), PathBuf::from("/srv/ferry.db"));
    }

    #[test]
    fn xdg_data_home_wins_over_home() {
        let vars = [("FERRY_LEDGER", ""), ("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/a")];
        assert_eq!(default_path_from(env(&vars)), PathBuf::from("/xdg/ferry/ledger.sqlite"));
    }

    #[test]
    fn home_is_the_fallback_and_a_relative_xdg_data_home_is_ignored() {
        let vars = [("XDG_DATA_HOME", "relative"), ("HOME", "/home/a")];
        assert_eq!(default_path_from(env(&vars)), PathBuf::from("/home/a/.local/share/ferry/ledger.sqlite"));
        assert_eq!(default_path_from(env(&[("HOME", "/home/a")])), PathBuf::from("/home/a/.local/share/ferry/ledger.sqlite"));
    }

    #[test]
    fn the_ledger_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ledger>();
        assert_send_sync::<SqliteLedger>();
    }
}
