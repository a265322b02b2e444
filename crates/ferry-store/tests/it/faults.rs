//! The ledger's faults (issue 8, item 11), each a test named after it: a ledger that lost its
//! history is noticed, a damaged one is refused before anything is written, a deployment and
//! its first event are written together, and a ledger deleted or replaced while a deploy
//! holds a lock is noticed by the holder.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ferry_store::{Counts, DeploymentRecord, EventRecord, Ledger, LedgerWarning, LockHolder, Outcome, ReleaseEntry, StoreError};

const T0: i64 = 1_795_428_000_000;
const LEASE: i64 = 120_000;

fn deployment(id: &str) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        run_id: format!("run-{id}"),
        kind: "deploy".into(),
        environment: "prod".into(),
        service: "web".into(),
        cluster: "prod".into(),
        ecs_service: "web".into(),
        from_version: None,
        from_digest: None,
        from_task_definition: None,
        to_version: Some("1.0.0".into()),
        to_digest: None,
        to_task_definition: None,
        image: None,
        ecs_deployment_id: None,
        who: "alice".into(),
        commit: None,
        commit_message: None,
        started_at: T0,
        finished_at: None,
        outcome: Outcome::InProgress,
        reason: None,
        strategy: None,
        cause: None,
        rollback_deployment_id: None,
        gates_skipped: None,
    }
}

fn event(message: &str) -> EventRecord {
    EventRecord { at: T0, kind: "phase:preflight".into(), message: message.into() }
}

fn holder(deployment_id: &str) -> LockHolder {
    LockHolder { deployment_id: deployment_id.into(), who: "alice".into(), host: "laptop".into(), pid: 4242 }
}

fn path_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("ledger.sqlite")
}

/// A ledger with `n` deployments (each with its first event) and one release.
fn ledger_with_history(path: &Path, n: usize) {
    let ledger = Ledger::open(path).expect("open");
    for i in 0..n {
        ledger.start_deployment(&deployment(&format!("fd-{i}")), &event("preflight passed")).expect("start");
    }
    let entry = ReleaseEntry {
        service: "web".into(),
        repository: "app".into(),
        digest: format!("sha256:{:0>64}", 1),
        version: Some("1.0.0".into()),
    };
    ledger.create_release(vec![entry], "alice", "dev", &[], T0).expect("release");
}

fn truncate(path: &Path) {
    OpenOptions::new().write(true).truncate(true).open(path).expect("truncate");
}

fn wal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

// An empty file that replaced one with history

#[test]
fn a_zero_length_ledger_that_had_history_warns_loudly_instead_of_passing_as_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    ledger_with_history(&path, 3);
    truncate(&path);

    let ledger = Ledger::open(&path).expect("an empty file still opens");
    let warnings = ledger.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let LedgerWarning::Shrunk { before, now, .. } = &warnings[0] else {
        panic!("expected Shrunk, got {warnings:?}");
    };
    assert_eq!(*before, Counts { deployments: 3, releases: 1 });
    assert_eq!(*now, Counts::default());
    let message = warnings[0].to_string();
    assert!(message.contains("holds 0 deployments and 0 releases, but held 3 deployments and 1 release"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("another deploy may be running"), "{message}");
    drop(ledger);

    // Said once: the record now describes the new ledger.
    let again = Ledger::open(&path).expect("reopen");
    assert_eq!(again.warnings(), &[]);
}

#[test]
fn a_deleted_ledger_recreated_empty_warns_loudly_instead_of_passing_as_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    ledger_with_history(&path, 2);
    std::fs::remove_file(&path).expect("rm");

    let ledger = Ledger::open(&path).expect("open");
    assert!(matches!(ledger.warnings(), [LedgerWarning::Shrunk { before, .. }] if before.deployments == 2), "{:?}", ledger.warnings());
}

#[test]
fn a_zero_length_ledger_whose_write_ahead_log_holds_history_is_refused_and_the_log_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    // A process that is still running: its newest rows are in the log, not the file yet.
    let running = Ledger::open(&path).expect("open");
    running.start_deployment(&deployment("fd-1"), &event("preflight passed")).expect("start");
    let wal = wal_of(&path);
    let wal_bytes = std::fs::metadata(&wal).expect("the log exists").len();
    assert!(wal_bytes > 0);
    truncate(&path);

    let err = Ledger::open(&path).expect_err("must be refused");
    assert!(matches!(&err, StoreError::EmptyWithLog { path: p, wal_bytes: n, .. } if p == &path && *n == wal_bytes), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("write-ahead log"), "{message}");
    assert!(message.contains("Restore the ledger from a backup"), "{message}");
    // SQLite would have deleted the log of an empty database; it is still there, whole.
    assert_eq!(std::fs::metadata(&wal).expect("the log is kept").len(), wal_bytes);
}

#[test]
fn an_existing_empty_file_with_no_record_is_started_as_new_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    std::fs::write(&path, b"").expect("touch");
    // Not one being created by another process this instant.
    let a_minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options().write(true).open(&path).and_then(|file| file.set_modified(a_minute_ago)).expect("set mtime");
    let ledger = Ledger::open(&path).expect("open");
    assert_eq!(ledger.warnings(), &[LedgerWarning::EmptyFile { path: path.clone() }]);
    // A ledger that never existed opens without a word, and so does an empty file another
    // process created an instant ago (it is writing the first page).
    let fresh = Ledger::open(&dir.path().join("new.sqlite")).expect("open");
    assert_eq!(fresh.warnings(), &[]);
    let being_created = dir.path().join("racing.sqlite");
    std::fs::write(&being_created, b"").expect("touch");
    assert_eq!(Ledger::open(&being_created).expect("open").warnings(), &[]);
}

#[test]
fn a_ledger_that_grew_opens_without_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    ledger_with_history(&path, 1);
    let ledger = Ledger::open(&path).expect("open");
    assert_eq!(ledger.warnings(), &[]);
    ledger.insert_deployment(&deployment("fd-more")).expect("insert");
    drop(ledger);
    assert_eq!(Ledger::open(&path).expect("open").warnings(), &[]);
}

// A missing table, a damaged file, another program's database

#[test]
fn a_ledger_missing_a_table_is_refused_on_open_so_no_deploy_runs_unrecorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    ledger_with_history(&path, 1);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute_batch("DROP TABLE events").expect("drop");
    drop(raw);

    let err = Ledger::open(&path).expect_err("must be refused");
    assert!(matches!(&err, StoreError::Corrupt { path: p, detail } if p == &path && detail.contains("table events")), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("could not be recorded"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    // Nothing was changed: the table was not quietly recreated.
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let events: i64 = raw.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'events'", [], |row| row.get(0)).expect("query");
    assert_eq!(events, 0);
}

#[test]
fn a_ledger_missing_a_column_is_refused_on_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    ledger_with_history(&path, 1);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute_batch("ALTER TABLE deployments DROP COLUMN reason").expect("drop column");
    drop(raw);

    let err = Ledger::open(&path).expect_err("must be refused");
    assert!(matches!(&err, StoreError::Corrupt { detail, .. } if detail.contains("column deployments.reason")), "{err:?}");
}

#[test]
fn a_corrupt_ledger_is_refused_on_open_not_passed_unnoticed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    ledger_with_history(&path, 300);
    let pages = std::fs::metadata(&path).expect("size").len() / 4096;
    assert!(pages > 8, "{pages} pages");
    // Garbage over the middle of the file: pages of tables that opening does not read.
    let mut file = OpenOptions::new().write(true).open(&path).expect("open");
    file.seek(SeekFrom::Start(4096 * (pages / 2))).expect("seek");
    file.write_all(&[0xA5; 4096]).expect("write");
    drop(file);

    let err = Ledger::open(&path).expect_err("must be refused");
    assert!(matches!(&err, StoreError::Corrupt { path: p, .. } if p == &path), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("restore it from a backup"), "{message}");
}

#[test]
fn another_programs_database_is_refused_not_taken_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute_batch("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('bob')").expect("create");
    drop(raw);

    let err = Ledger::open(&path).expect_err("must be refused");
    assert!(matches!(&err, StoreError::Corrupt { detail, .. } if detail.contains("users")), "{err:?}");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let tables: i64 = raw.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'", [], |row| row.get(0)).expect("query");
    assert_eq!(tables, 1, "ferry's tables were created in another program's database");
}

// A row and its first event

#[test]
fn a_deployment_and_its_first_event_are_written_together() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(&path_in(&dir)).expect("open");
    ledger.start_deployment(&deployment("fd-1"), &event("preflight passed: a → b")).expect("start");
    assert!(ledger.deployment("fd-1").expect("read").is_some());
    let events = ledger.events("fd-1").expect("events");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].message, "preflight passed: a → b");
}

#[test]
fn a_deployment_whose_first_event_cannot_be_written_is_not_recorded_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    drop(Ledger::open(&path).expect("create"));
    // A failing write, as a full disk would make one.
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.execute_batch("CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END").expect("trigger");
    drop(raw);

    let ledger = Ledger::open(&path).expect("open");
    let err = ledger.start_deployment(&deployment("fd-1"), &event("preflight passed")).expect_err("must fail");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(ledger.deployment("fd-1").expect("read"), None, "a row without its event");
}

// The ledger deleted or replaced while a lock is held

#[test]
fn a_ledger_deleted_mid_run_fails_the_holders_lock_renewal_instead_of_dropping_the_lock_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    let first = Ledger::open(&path).expect("open");
    first.start_deployment(&deployment("fd-1"), &event("preflight passed")).expect("start");
    first.acquire_lock("prod", "web", &holder("fd-1"), LEASE, T0).expect("lock");

    std::fs::remove_file(&path).expect("rm");
    // A second deploy opens a new, empty ledger and finds no lock: it is told history (and
    // so any lock) went missing ...
    let second = Ledger::open(&path).expect("open");
    assert!(matches!(second.warnings(), [LedgerWarning::Shrunk { .. }]), "{:?}", second.warnings());
    second.acquire_lock("prod", "web", &holder("fd-2"), LEASE, T0 + 1_000).expect("the lock is free in the new file");

    // ... and the first deploy notices on its next renewal, naming what happened.
    let err = first.renew_lock("prod", "web", "fd-1", LEASE, T0 + 30_000).expect_err("must notice");
    assert!(matches!(&err, StoreError::Replaced { path: p, detail } if p == &path && detail == "replaced by another file"), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("another deploy may have started"), "{message}");
    // Nothing more goes to the file nobody reads.
    let update = first.update_deployment(&deployment("fd-1"));
    assert!(matches!(update, Err(StoreError::Replaced { .. })), "{update:?}");
}

#[test]
fn a_ledger_deleted_and_not_recreated_fails_the_renewal_as_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    let ledger = Ledger::open(&path).expect("open");
    ledger.acquire_lock("prod", "web", &holder("fd-1"), LEASE, T0).expect("lock");
    std::fs::remove_file(&path).expect("rm");
    let err = ledger.renew_lock("prod", "web", "fd-1", LEASE, T0 + 30_000).expect_err("must notice");
    assert!(matches!(&err, StoreError::Replaced { detail, .. } if detail == "deleted"), "{err:?}");
}

#[test]
fn a_ledger_replaced_by_a_copy_fails_the_renewal_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = path_in(&dir);
    let ledger = Ledger::open(&path).expect("open");
    ledger.acquire_lock("prod", "web", &holder("fd-1"), LEASE, T0).expect("lock");
    // A backup restored over it: same content, another file.
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&path, &copy).expect("copy");
    std::fs::rename(&copy, &path).expect("replace");
    let err = ledger.renew_lock("prod", "web", "fd-1", LEASE, T0 + 30_000).expect_err("must notice");
    assert!(matches!(err, StoreError::Replaced { .. }), "{err:?}");
}
