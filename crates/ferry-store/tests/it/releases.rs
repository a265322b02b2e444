//! Releases, promotions and soak times through the public API, on real SQLite files in
//! temporary directories; and the move of a version 1 ledger to version 2.

use ferry_store::suite::releases::{create, promotion};
use ferry_store::{Ledger, Outcome, Promotion, SCHEMA_VERSION};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

// Releases

#[test]
fn a_version_1_ledger_is_upgraded_and_keeps_its_deployments() {
    assert_eq!(SCHEMA_VERSION, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute_batch(V1_SCHEMA).expect("v1 schema");
        conn.execute(
            "INSERT INTO deployments (id, run_id, kind, environment, service, cluster, ecs_service,
                 to_digest, who, started_at, finished_at, outcome)
             VALUES ('fd-old', 'fr-old', 'deploy', 'dev', 'web', 'dev-cluster', 'web-dev',
                 'sha256:aa', 'alice', ?1, ?2, 'succeeded')",
            (T0, T0 + MINUTE),
        )
        .expect("v1 deployment");
        conn.execute(
            "INSERT INTO events (deployment_id, seq, at, kind, message)
             VALUES ('fd-old', 1, ?1, 'phase', 'registering task definition')",
            [T0],
        )
        .expect("v1 event");
        conn.pragma_update(None, "user_version", 1).expect("user_version");
    }

    let ledger = Ledger::open(&path).expect("open v1");
    let old = ledger.deployment("fd-old").expect("read").expect("kept");
    assert_eq!((old.environment.as_str(), old.outcome, old.to_digest.as_deref()), ("dev", Outcome::Succeeded, Some("sha256:aa")));
    assert_eq!(ledger.events("fd-old").expect("events").len(), 1);
    assert_eq!(ledger.healthy_since("dev", "web", "sha256:aa").expect("query"), Some(T0 + MINUTE), "old deployments count for soak");
    // Version 3's columns read as unknown for an old deployment, and its journal works.
    assert_eq!((old.strategy, old.cause, old.rollback_deployment_id), (None, None, None));
    // So does version 4's: no gate was skipped.
    assert_eq!(old.gates_skipped, None);
    let seq = ledger.start_step("fd-old", "update_service", &serde_json::json!({"task_definition": "web:2"}), T0).expect("journal");
    assert_eq!(ledger.steps("fd-old").expect("steps").iter().map(|s| s.seq).collect::<Vec<_>>(), [seq]);

    // The new tables are there and work.
    assert!(ledger.releases(0).expect("list").is_empty());
    let release = create(&ledger, 1, T0 + 2 * MINUTE);
    ledger
        .insert_promotion(&Promotion { deployment_ids: vec!["fd-old".into()], ..promotion("fp-1", &release.id, T0 + 3 * MINUTE) })
        .expect("promote");
    drop(ledger);

    let conn = rusqlite::Connection::open(&path).expect("raw open");
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version");
    assert_eq!(version, 4);

    // And it opens again as an up-to-date ledger, with everything in it.
    let reopened = Ledger::open(&path).expect("reopen");
    assert_eq!(reopened.release(&release.id).expect("read"), Some(release));
    assert_eq!(reopened.promotions(None, 0).expect("list").len(), 1);
    assert!(reopened.deployment("fd-old").expect("read").is_some());
}
// Migration

/// The version 1 schema exactly as ferry 0.1 created it; frozen here, not taken from the
/// crate, so the test keeps checking the upgrade of real old files.
const V1_SCHEMA: &str = "
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
