//! The ledger's tables, and how a file is brought up to the current schema.
//!
//! The version lives in SQLite's `PRAGMA user_version`. Migrations only ever move forward,
//! one numbered step at a time; a file with a newer version than this build knows is
//! refused rather than read, because an older ferry cannot know what the new columns mean.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 4;

/// Up to this size (the file and its write-ahead log together) opening a ledger runs
/// SQLite's `PRAGMA quick_check`, which reads every page: a few milliseconds for a ledger of
/// this size. Larger ledgers get the cheaper checks only (the schema version, and every
/// table and column of the schema).
pub const QUICK_CHECK_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// `MIGRATIONS[n]` takes a ledger from version `n` to `n + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1, V2, V3, V4];

/// Version 1. `seq` gives deployments a stable insertion order (an implicit rowid may be
/// renumbered by VACUUM); it breaks ties between deployments started in the same millisecond.
/// The column for [`DeploymentRecord::commit`](crate::DeploymentRecord::commit) is called
/// `git_commit` because COMMIT is an SQL keyword.
const V1: &str = "
CREATE TABLE deployments (
    seq                  INTEGER PRIMARY KEY,
    id                   TEXT NOT NULL UNIQUE,
    run_id               TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    environment          TEXT NOT NULL,
    service              TEXT NOT NULL,
    cluster              TEXT NOT NULL,
    ecs_service          TEXT NOT NULL,
    from_version         TEXT,
    from_digest          TEXT,
    from_task_definition TEXT,
    to_version           TEXT,
    to_digest            TEXT,
    to_task_definition   TEXT,
    image                TEXT,
    ecs_deployment_id    TEXT,
    who                  TEXT NOT NULL,
    git_commit           TEXT,
    commit_message       TEXT,
    started_at           INTEGER NOT NULL,
    finished_at          INTEGER,
    outcome              TEXT NOT NULL,
    reason               TEXT
);
CREATE INDEX deployments_by_service ON deployments (environment, service, started_at);

CREATE TABLE events (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    message       TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE locks (
    environment   TEXT NOT NULL,
    service       TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    who           TEXT NOT NULL,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    acquired_at   INTEGER NOT NULL,
    lease_until   INTEGER NOT NULL,
    PRIMARY KEY (environment, service)
);
";

/// Version 2: releases and their promotions.
///
/// A release's entries get their own table (one row per service) so a digest can be looked
/// up across releases; its commits, and a promotion's services and deployment ids, are short
/// lists always read and written whole, so they are stored as JSON arrays of strings. A
/// rejection is three nullable columns rather than a table: a release is rejected at most
/// once, for good. `seq` orders rows created in the same millisecond, as in `deployments`.
const V2: &str = "
CREATE TABLE releases (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    source           TEXT NOT NULL,
    commits          TEXT NOT NULL,
    rejected_by      TEXT,
    rejected_at      INTEGER,
    rejection_reason TEXT
);
CREATE INDEX releases_by_creation ON releases (created_at);

CREATE TABLE release_entries (
    release_id TEXT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    service    TEXT NOT NULL,
    repository TEXT NOT NULL,
    digest     TEXT NOT NULL,
    version    TEXT,
    PRIMARY KEY (release_id, service)
);
CREATE INDEX release_entries_by_digest ON release_entries (digest);

CREATE TABLE promotions (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    release_id       TEXT NOT NULL REFERENCES releases (id),
    from_environment TEXT NOT NULL,
    to_environment   TEXT NOT NULL,
    services         TEXT NOT NULL,
    approved_by      TEXT,
    who              TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    outcome          TEXT NOT NULL,
    reason           TEXT,
    deployment_ids   TEXT NOT NULL
);
CREATE INDEX promotions_by_release ON promotions (release_id, started_at);
";

/// Version 3: journaled steps, and what a deployment learns that version 2 dropped.
///
/// A deployment records its strategy (`rolling`, `env-tag`), the failure cause
/// (`circuit_breaker`, `timeout`, ...) and the ECS deployment that rolled it back. Each step
/// of a deployment is a row written before it is applied (`started`) and updated after
/// (`done` or `failed`, with what it produced in `data`, a JSON object): a re-run after a
/// crash reads where the dead run stopped from here and from AWS's own state.
const V3: &str = "
ALTER TABLE deployments ADD COLUMN strategy TEXT;
ALTER TABLE deployments ADD COLUMN cause TEXT;
ALTER TABLE deployments ADD COLUMN rollback_deployment_id TEXT;

CREATE TABLE steps (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    state         TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    data          TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);
";

/// Version 4: a deploy that skipped its environment's promotion gates
/// (`ferry deploy --skip-gates --reason TEXT`) records who and why.
const V4: &str = "
ALTER TABLE deployments ADD COLUMN gates_skipped TEXT;
";

/// Brings the file at `path` (already open as `conn`) to [`SCHEMA_VERSION`].
///
/// The common case, an up-to-date file, only reads. Otherwise the check is repeated inside
/// a `BEGIN IMMEDIATE` transaction, so two processes opening a new ledger at once do not
/// both create the tables.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    if check_version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = check_version(&tx, path)?;
    // `check_version` guarantees 0 <= found <= SCHEMA_VERSION.
    for migration in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Checks a file before anything is written to it: its schema version (not newer than this
/// build's); a file with no version has no tables (else it is another program's database,
/// or a ledger whose version was lost, and creating ferry's tables in it would hide that);
/// and a small file passes SQLite's `quick_check`.
pub(crate) fn check_before_use(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { path: path.to_path_buf(), detail };
    // One read transaction, so the version and the tables are read from the same state
    // of the file (another process may be creating the ledger at this moment).
    let snapshot = conn.unchecked_transaction()?;
    let version = check_version(&snapshot, path)?;
    if version == 0 {
        let tables = table_names(&snapshot)?;
        if !tables.is_empty() {
            return Err(corrupt(format!(
                "it has no ferry schema version but holds tables ({}): another program's \
                 database, or a ledger whose version was lost",
                tables.join(", ")
            )));
        }
        return Ok(());
    }
    if size_on_disk(path) <= QUICK_CHECK_MAX_BYTES {
        let problems =
            conn.prepare("PRAGMA quick_check(5)")?.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        if problems.first().map(String::as_str) != Some("ok") {
            return Err(corrupt(format!("SQLite's integrity check failed: {}", problems.join("; "))));
        }
    }
    Ok(())
}

/// Checks that every table of the schema is there with every column, comparing the file
/// with the schema as [`MIGRATIONS`] create it (in memory, which takes about a
/// millisecond). A ledger missing one would let a deploy run that cannot be recorded.
/// Tables and columns beyond the schema are allowed.
pub(crate) fn verify(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let expected = Connection::open_in_memory()?;
    expected.execute_batch(&MIGRATIONS.concat())?;
    let mut missing = Vec::new();
    for table in table_names(&expected)? {
        let want = column_names(&expected, &table)?;
        let have = column_names(conn, &table)?;
        if have.is_empty() {
            missing.push(format!("table {table}"));
            continue;
        }
        missing.extend(want.iter().filter(|column| !have.contains(column)).map(|column| format!("column {table}.{column}")));
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("schema version {SCHEMA_VERSION} but {} missing, so deploys could not be recorded", missing.join(", ")),
    })
}

fn table_names(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let names = conn
        .prepare(
            "SELECT name FROM sqlite_master
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// The columns of `table`; empty if there is no such table.
fn column_names(conn: &Connection, table: &str) -> Result<Vec<String>, StoreError> {
    let names = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}

/// The bytes of the file and its write-ahead log: what `quick_check` reads.
fn size_on_disk(path: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = path.as_os_str().to_os_string();
    wal.push("-wal");
    len(path) + len(Path::new(&wal))
}

fn check_version(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::Schema { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
    }
    if found < 0 {
        return Err(StoreError::Corrupt { path: path.to_path_buf(), detail: format!("negative schema version {found}") });
    }
    Ok(found)
}
