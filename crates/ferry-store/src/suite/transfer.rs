//! The ledger suite: export and import (`ferry ledger export|import`).

use serde_json::json;

use crate::transfer::{self, Export, ImportCounts};
use crate::{DeploymentRecord, EventRecord, Ledger, LockHolder, Outcome, Promotion, ReleaseEntry, StepState, StoreError};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

/// Fills `ledger` with a bit of everything an export carries: two deployments (one with
/// events and journaled steps, one still in progress), two releases (one rejected) and a
/// promotion. Returns the export of it.
pub fn populate(ledger: &Ledger) -> Export {
    let entry = |service: &str, digest: &str| ReleaseEntry {
        service: service.into(),
        repository: format!("registry.example.com/{service}"),
        digest: digest.into(),
        version: Some("1.2.0".into()),
    };
    let good = ledger
        .create_release(vec![entry("web", "sha256:aa"), entry("api", "sha256:bb")], "alice", "env:dev", &["abc123".into()], T0)
        .expect("release");
    let bad = ledger.create_release(vec![entry("web", "sha256:cc")], "bob", "versions", &[], T0 + MINUTE).expect("release");
    ledger.reject_release(&bad.id, "carol", "crashes on start", T0 + 2 * MINUTE).expect("reject");
    let record = |id: &str, started_at: i64, outcome: Outcome| DeploymentRecord {
        id: id.into(),
        run_id: "fr-1".into(),
        kind: "deploy".into(),
        environment: "prod".into(),
        service: "web".into(),
        cluster: "main".into(),
        ecs_service: "web".into(),
        to_version: Some("1.2.0".into()),
        to_digest: Some("sha256:aa".into()),
        started_at,
        finished_at: (outcome != Outcome::InProgress).then_some(started_at + MINUTE),
        outcome,
        who: "alice".into(),
        ..DeploymentRecord::default()
    };
    let first = record("fd-1", T0 + 3 * MINUTE, Outcome::Succeeded);
    ledger
        .start_deployment(&first, &EventRecord { at: first.started_at, kind: "phase".into(), message: "registering".into() })
        .expect("start");
    ledger
        .record_event("fd-1", &EventRecord { at: first.started_at + 1, kind: "ecs".into(), message: "steady state".into() })
        .expect("event");
    let seq = ledger.start_step("fd-1", "register_task_definition", &json!({"family": "web"}), first.started_at + 2).expect("step");
    ledger.finish_step("fd-1", seq, StepState::Done, &json!({"revision": "web:7"}), first.started_at + 3).expect("step done");
    ledger.start_step("fd-1", "update_service", &json!({"service": "web"}), first.started_at + 4).expect("step");
    ledger.insert_deployment(&record("fd-2", T0 + 5 * MINUTE, Outcome::InProgress)).expect("insert");
    ledger
        .insert_promotion(&Promotion {
            id: "fp-1".into(),
            release_id: good.id.clone(),
            from_environment: "dev".into(),
            to_environment: "prod".into(),
            services: vec!["web".into(), "api".into()],
            approved_by: Some("dave".into()),
            who: "alice".into(),
            started_at: T0 + 3 * MINUTE,
            finished_at: Some(T0 + 4 * MINUTE),
            outcome: Outcome::Succeeded,
            reason: None,
            deployment_ids: vec!["fd-1".into()],
        })
        .expect("promotion");
    transfer::export(ledger, T0 + 10 * MINUTE).expect("export")
}

/// Imports as `importer` at T0, progress unheard.
pub fn import_as(ledger: &Ledger, export: &Export, importer: &str) -> Result<ImportCounts, crate::StoreError> {
    let holder = LockHolder { deployment_id: format!("import-{importer}"), who: importer.into(), host: "runner".into(), pid: 1 };
    transfer::import(ledger, export, transfer::ImportRun { holder, holder_is_gone: &|_| false, now: &|| T0, progress: &mut |_, _| {} })
}

/// [`import_as`] by `admin`.
pub fn import(ledger: &Ledger, export: &Export) -> Result<ImportCounts, crate::StoreError> {
    import_as(ledger, export, "admin")
}

/// The parts of an export that say what the ledger holds (not where or when it was read).
pub fn content(export: &Export) -> Export {
    Export { source: String::new(), exported_at: 0, ..export.clone() }
}

pub fn an_export_holds_everything_and_importing_it_again_adds_nothing(ledger: &Ledger) {
    let export = populate(ledger);
    assert_eq!(export.deployments.iter().map(|d| d.record.id.as_str()).collect::<Vec<_>>(), ["fd-1", "fd-2"], "oldest first");
    assert_eq!((export.deployments[0].events.len(), export.deployments[0].steps.len()), (2, 2));
    assert_eq!(export.releases.len(), 2);
    assert!(export.releases[1].rejected.is_some(), "the rejection travels with its release");
    assert_eq!(export.promotions.len(), 1);
    let counts = import(ledger, &export).expect("import");
    assert_eq!(
        counts,
        ImportCounts { deployments_present: 2, releases_present: 2, promotions_present: 1, ..ImportCounts::default() },
        "nothing is added twice"
    );
    assert_eq!(content(&transfer::export(ledger, T0).expect("export")), content(&export));
}

pub fn a_damaged_export_is_refused_and_changes_nothing(ledger: &Ledger) {
    let export = populate(ledger);
    let before = content(&export);
    let mut wrong_format = export.clone();
    wrong_format.format = "something-else".into();
    let mut newer = export.clone();
    newer.version = transfer::EXPORT_VERSION + 1;
    let mut twice = export.clone();
    let mut extra = twice.deployments[1].clone();
    extra.steps.clear();
    twice.deployments.push(extra);
    let mut tampered = export.clone();
    tampered.releases[0].entries[0].digest = "sha256:ff".into();
    tampered.deployments[1].record.id = "fd-new".into();
    let mut gap = export.clone();
    gap.deployments[0].steps[1].seq = 5;
    gap.deployments[1].record.id = "fd-new".into();
    for (what, bad) in [
        ("format", wrong_format),
        ("version", newer),
        ("an id twice", twice),
        ("a step seq gap", gap),
        ("a release whose entries do not hash to its id", tampered),
    ] {
        let err = import(ledger, &bad).expect_err(what);
        assert!(matches!(err, StoreError::Invalid(_)), "{what}: {err:?}");
        assert_eq!(content(&transfer::export(ledger, T0).expect("export")), before, "{what}: nothing changed");
    }
}

pub fn an_import_while_another_runs_is_refused_naming_it_and_changes_nothing(ledger: &Ledger) {
    let export = populate(ledger);
    let (environment, service) = transfer::IMPORT_LOCK;
    let first = LockHolder { deployment_id: "import-alice".into(), who: "alice".into(), host: "runner-a".into(), pid: 7 };
    ledger.acquire_lock(environment, service, &first, transfer::IMPORT_LEASE_MS, T0).expect("the first import's lock");
    let mut other = export.clone();
    other.deployments[1].record.id = "fd-new".into();
    let err = import_as(ledger, &other, "bob").expect_err("a second import");
    assert!(matches!(&err, StoreError::LockHeld(info) if info.holder.who == "alice"), "{err:?}");
    assert_eq!(ledger.deployment("fd-new").expect("read"), None, "nothing written");
    ledger.release_lock(environment, service, "import-alice").expect("release");
    assert_eq!(import_as(ledger, &other, "bob").expect("then it runs").deployments_added, 1);
    assert_eq!(ledger.lock(environment, service).expect("read"), None, "an import frees its lock");
}
