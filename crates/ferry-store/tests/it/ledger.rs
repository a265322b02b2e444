//! The ledger through its public API, on real SQLite files in temporary directories.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;

use ferry_store::suite::deployments_and_locks::{deployment, holder};
use ferry_store::{Ledger, SCHEMA_VERSION, StoreError};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

// Deployments

#[test]
fn two_ledgers_on_one_file_racing_for_a_lock_have_exactly_one_winner() {
    const ROUNDS: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = Arc::new(dir.path().join("ledger.sqlite"));
    let barrier = Arc::new(Barrier::new(2));

    // Each racer reports every round as Ok(won) or Err(what went wrong) and never panics
    // before the last barrier, so one racer failing cannot leave the other waiting forever.
    let racers: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|who| {
            let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
            thread::spawn(move || {
                let ledger = Ledger::open(&path);
                (0..ROUNDS)
                    .map(|round| {
                        barrier.wait();
                        let ledger = ledger.as_ref().map_err(|e| format!("open: {e}"))?;
                        let me = holder(&format!("fd-{who}-{round}"), who);
                        match ledger.acquire_lock("prod", &format!("svc-{round}"), &me, 10 * MINUTE, T0) {
                            Ok(()) => Ok(who.to_string()),
                            Err(StoreError::LockHeld(info)) => Ok(info.holder.who.clone()),
                            Err(other) => Err(format!("{who}: {other}")),
                        }
                    })
                    .collect::<Vec<Result<String, String>>>()
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|racer| racer.join().expect("racer")).collect();

    let ledger = Ledger::open(&path).expect("open");
    let (alice, bob) = (&results[0], &results[1]);
    assert_eq!((alice.len(), bob.len()), (ROUNDS, ROUNDS));
    for (round, (alice_saw, bob_saw)) in alice.iter().zip(bob).enumerate() {
        // Both name the same winner: the loser's LockHeld points at the one who got it.
        let alice_saw = alice_saw.as_ref().expect("alice's acquire");
        let bob_saw = bob_saw.as_ref().expect("bob's acquire");
        assert_eq!(alice_saw, bob_saw, "round {round}: both cannot have won");
        let stored = ledger.lock("prod", &format!("svc-{round}")).expect("lock").expect("held");
        assert_eq!(&stored.holder.who, alice_saw, "round {round}: the ledger agrees");
    }
}

// Opening

#[test]
fn open_creates_missing_parent_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a").join("b").join("ledger.sqlite");
    let ledger = Ledger::open(&path).expect("open");
    assert_eq!(ledger.location(), path.display().to_string());
    ledger.insert_deployment(&deployment("fd-1", "dev", "web", T0)).expect("insert");
    drop(ledger);
    assert!(path.is_file());
    // And the data is there when opened again.
    let reopened = Ledger::open(&path).expect("reopen");
    assert!(reopened.deployment("fd-1").expect("read").is_some());
}

/// Regression: SQLite does not run the busy handler for `PRAGMA journal_mode = WAL`, so
/// processes opening a brand-new ledger at the same moment failed with "database is locked".
#[test]
fn simultaneous_first_opens_of_a_new_ledger_all_succeed() {
    const FILES: usize = 12;
    const OPENERS: usize = 8;
    for file in 0..FILES {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Arc::new(dir.path().join("ledger.sqlite"));
        let barrier = Arc::new(Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (path, barrier) = (Arc::clone(&path), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    Ledger::open(&path).map(drop).map_err(|e| e.to_string())
                })
            })
            .collect();
        for opener in openers {
            opener.join().expect("opener").unwrap_or_else(|e| panic!("file {file}: {e}"));
        }
    }
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_naming_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    std::fs::write(&path, "this is a ferry.toml, not a database\n".repeat(100)).expect("write");
    let err = Ledger::open(&path).expect_err("not a database");
    assert!(matches!(&err, StoreError::Corrupt { path: p, .. } if p == &path), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    drop(Ledger::open(&path).expect("create"));
    set_user_version(&path, SCHEMA_VERSION + 1);

    let err = Ledger::open(&path).expect_err("newer schema");
    match &err {
        StoreError::Schema { path: p, found, supported } => {
            assert_eq!((p.as_path(), *found, *supported), (path.as_path(), SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected Schema, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()) && message.contains("upgrade ferry"), "{message}");
}

#[test]
fn a_new_ledger_is_stamped_with_the_current_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    drop(Ledger::open(&path).expect("create"));
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version");
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal_mode");
    assert_eq!(mode, "wal");
}

fn set_user_version(path: &Path, version: i64) {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    conn.pragma_update(None, "user_version", version).expect("set user_version");
}
