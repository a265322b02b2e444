//! The ledger suite: deployments_and_locks. Each case takes an empty ledger.

use crate::{DeploymentRecord, EventRecord, HistoryFilter, Ledger, LockHolder, Outcome, StoreError};

const T0: i64 = 1_795_428_000_000; // 2026-11-23T10:00:00Z
const MINUTE: i64 = 60_000;

/// A minimal in-progress deployment; tests fill in what they care about.
pub fn deployment(id: &str, environment: &str, service: &str, started_at: i64) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        run_id: format!("run-{id}"),
        kind: "deploy".into(),
        environment: environment.into(),
        service: service.into(),
        cluster: format!("{environment}-cluster"),
        ecs_service: format!("{service}-{environment}"),
        from_version: None,
        from_digest: None,
        from_task_definition: None,
        to_version: None,
        to_digest: None,
        to_task_definition: None,
        image: None,
        ecs_deployment_id: None,
        who: "alice".into(),
        commit: None,
        commit_message: None,
        started_at,
        finished_at: None,
        outcome: Outcome::InProgress,
        reason: None,
        strategy: None,
        cause: None,
        rollback_deployment_id: None,
        gates_skipped: None,
    }
}

/// A finished deployment of `version`, deployed as task definition revision `revision`.
fn finished(
    id: &str,
    environment: &str,
    service: &str,
    started_at: i64,
    version: &str,
    revision: u32,
    outcome: Outcome,
) -> DeploymentRecord {
    DeploymentRecord {
        to_version: Some(version.into()),
        to_task_definition: Some(task_definition(service, revision)),
        finished_at: Some(started_at + MINUTE),
        outcome,
        ..deployment(id, environment, service, started_at)
    }
}

fn task_definition(family: &str, revision: u32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:{revision}")
}

pub fn holder(deployment_id: &str, who: &str) -> LockHolder {
    LockHolder { deployment_id: deployment_id.into(), who: who.into(), host: format!("{who}-laptop"), pid: 4242 }
}

fn ids(records: &[DeploymentRecord]) -> Vec<&str> {
    records.iter().map(|record| record.id.as_str()).collect()
}

// Deployments

pub fn every_field_survives_insert_update_and_read(ledger: &Ledger) {
    let inserted = DeploymentRecord {
        id: "fd-20261123-ab12cd".into(),
        run_id: "fr-20261123-0001".into(),
        kind: "rollback".into(),
        environment: "prod".into(),
        service: "web".into(),
        cluster: "prod-cluster".into(),
        ecs_service: "web-prod".into(),
        from_version: Some("1.4.1".into()),
        from_digest: Some("sha256:aaaa".into()),
        from_task_definition: Some(task_definition("web", 41)),
        to_version: Some("1.4.2".into()),
        to_digest: Some("sha256:bbbb".into()),
        to_task_definition: None,
        image: Some("registry.example.com/web@sha256:bbbb".into()),
        ecs_deployment_id: None,
        who: "alice@example.com".into(),
        commit: Some("0123456789abcdef".into()),
        commit_message: Some("Fix the 'quote' and \"double\" handling; DROP TABLE nothing".into()),
        started_at: T0,
        finished_at: None,
        outcome: Outcome::InProgress,
        reason: None,
        strategy: None,
        cause: None,
        rollback_deployment_id: None,
        gates_skipped: None,
    };
    ledger.insert_deployment(&inserted).expect("insert");
    assert_eq!(ledger.deployment(&inserted.id).expect("read"), Some(inserted.clone()));

    let updated = DeploymentRecord {
        from_version: Some("1.4.0".into()),
        from_digest: Some("sha256:cccc".into()),
        from_task_definition: Some(task_definition("web", 40)),
        to_version: Some("1.4.3".into()),
        to_digest: Some("sha256:dddd".into()),
        to_task_definition: Some(task_definition("web", 42)),
        image: Some("registry.example.com/web@sha256:dddd".into()),
        ecs_deployment_id: Some("ecs-svc/1234567890123456789".into()),
        commit: Some("fedcba9876543210".into()),
        commit_message: None,
        finished_at: Some(T0 + 5 * MINUTE),
        outcome: Outcome::FailedRolledBack,
        reason: Some("3 tasks stopped: Essential container in task exited".into()),
        strategy: None,
        cause: None,
        rollback_deployment_id: None,
        gates_skipped: None,
        ..inserted.clone()
    };
    ledger.update_deployment(&updated).expect("update");
    assert_eq!(ledger.deployment(&inserted.id).expect("read"), Some(updated.clone()));

    // Identity fields are fixed at insert.
    let renamed = DeploymentRecord { environment: "dev".into(), who: "mallory".into(), started_at: 0, ..updated.clone() };
    ledger.update_deployment(&renamed).expect("update");
    assert_eq!(ledger.deployment(&inserted.id).expect("read"), Some(updated));
}

pub fn every_outcome_is_stored_and_read_back(ledger: &Ledger) {
    for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
        let record = DeploymentRecord { outcome, ..deployment(&format!("fd-{i}"), "dev", "web", T0) };
        ledger.insert_deployment(&record).expect("insert");
        assert_eq!(ledger.deployment(&record.id).expect("read").map(|r| r.outcome), Some(outcome));
    }
}

pub fn unknown_deployments_are_not_found(ledger: &Ledger) {
    assert_eq!(ledger.deployment("fd-missing").expect("read"), None);
    let err = ledger.update_deployment(&deployment("fd-missing", "dev", "web", T0)).expect_err("update of nothing");
    assert!(matches!(&err, StoreError::NotFound(message) if message.contains("fd-missing")), "{err}");
}

pub fn a_duplicate_deployment_id_is_refused(ledger: &Ledger) {
    ledger.insert_deployment(&deployment("fd-1", "dev", "web", T0)).expect("insert");
    let err = ledger.insert_deployment(&deployment("fd-1", "prod", "api", T0 + 1)).expect_err("duplicate");
    assert!(err.to_string().contains(&ledger.location()), "{err}");
    assert_eq!(ledger.deployment("fd-1").expect("read").map(|r| r.environment), Some("dev".into()));
}

pub fn history_is_newest_first_filtered_and_limited(ledger: &Ledger) {
    // Inserted out of order; fd-4 and fd-5 start in the same millisecond.
    for record in [
        deployment("fd-2", "prod", "web", T0 + 2),
        deployment("fd-1", "prod", "web", T0 + 1),
        deployment("fd-3", "dev", "web", T0 + 3),
        deployment("fd-4", "prod", "api", T0 + 4),
        deployment("fd-5", "prod", "web", T0 + 4),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }

    let all = ledger.history(&HistoryFilter::default()).expect("history");
    assert_eq!(ids(&all), ["fd-5", "fd-4", "fd-3", "fd-2", "fd-1"], "ties go to the later insert");

    let prod = HistoryFilter { environment: Some("prod".into()), ..Default::default() };
    assert_eq!(ids(&ledger.history(&prod).expect("history")), ["fd-5", "fd-4", "fd-2", "fd-1"]);

    let web = HistoryFilter { service: Some("web".into()), ..Default::default() };
    assert_eq!(ids(&ledger.history(&web).expect("history")), ["fd-5", "fd-3", "fd-2", "fd-1"]);

    let prod_web = HistoryFilter { environment: Some("prod".into()), service: Some("web".into()), limit: 2 };
    assert_eq!(ids(&ledger.history(&prod_web).expect("history")), ["fd-5", "fd-2"]);

    let nowhere = HistoryFilter { environment: Some("stage".into()), ..Default::default() };
    assert!(ledger.history(&nowhere).expect("history").is_empty());
}

pub fn history_without_a_limit_returns_fifty(ledger: &Ledger) {
    for i in 0..60 {
        ledger.insert_deployment(&deployment(&format!("fd-{i:02}"), "dev", "web", T0 + i)).expect("insert");
    }
    let history = ledger.history(&HistoryFilter::default()).expect("history");
    assert_eq!(history.len(), 50);
    assert_eq!(history[0].id, "fd-59");
    let all = ledger.history(&HistoryFilter { limit: 100, ..Default::default() }).expect("history");
    assert_eq!(all.len(), 60);
}

pub fn last_succeeded_skips_failures_and_the_excluded_task_definition(ledger: &Ledger) {
    for record in [
        finished("fd-1", "prod", "web", T0, "1.0.0", 1, Outcome::Succeeded),
        finished("fd-2", "prod", "web", T0 + MINUTE, "1.1.0", 2, Outcome::Succeeded),
        finished("fd-3", "prod", "web", T0 + 2 * MINUTE, "1.2.0", 3, Outcome::Succeeded),
        finished("fd-4", "prod", "web", T0 + 3 * MINUTE, "1.3.0", 4, Outcome::FailedRolledBack),
        finished("fd-5", "prod", "web", T0 + 4 * MINUTE, "1.3.1", 5, Outcome::Failed),
        DeploymentRecord {
            outcome: Outcome::InProgress,
            ..finished("fd-6", "prod", "web", T0 + 5 * MINUTE, "1.4.0", 6, Outcome::InProgress)
        },
        // The same service elsewhere, and another service here, newer than all of the above.
        finished("fd-7", "dev", "web", T0 + 6 * MINUTE, "2.0.0", 7, Outcome::Succeeded),
        finished("fd-8", "prod", "api", T0 + 6 * MINUTE, "9.0.0", 1, Outcome::Succeeded),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }

    let last = ledger.last_succeeded("prod", "web", None).expect("query").map(|r| r.id);
    assert_eq!(last.as_deref(), Some("fd-3"));

    // Rolling back from revision 3 (running now) must land on revision 2.
    let running = task_definition("web", 3);
    let previous = ledger.last_succeeded("prod", "web", Some(&running)).expect("query").map(|r| r.id);
    assert_eq!(previous.as_deref(), Some("fd-2"));

    // Excluding something never deployed changes nothing.
    let other = task_definition("web", 99);
    let last = ledger.last_succeeded("prod", "web", Some(&other)).expect("query").map(|r| r.id);
    assert_eq!(last.as_deref(), Some("fd-3"));

    assert_eq!(ledger.last_succeeded("stage", "web", None).expect("query"), None);
}

pub fn last_succeeded_excludes_every_deployment_of_the_running_task_definition(ledger: &Ledger) {
    for record in [
        finished("fd-1", "prod", "web", T0, "1.0.0", 1, Outcome::Succeeded),
        finished("fd-2", "prod", "web", T0 + MINUTE, "1.1.0", 2, Outcome::Succeeded),
        // Revision 2 deployed a second time (a redeploy of the same release).
        finished("fd-3", "prod", "web", T0 + 2 * MINUTE, "1.1.0", 2, Outcome::Succeeded),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }
    let running = task_definition("web", 2);
    let previous = ledger.last_succeeded("prod", "web", Some(&running)).expect("query").map(|r| r.id);
    assert_eq!(previous.as_deref(), Some("fd-1"));

    // A record without a task definition did not deploy the excluded one, so it counts.
    let untracked =
        DeploymentRecord { to_task_definition: None, ..finished("fd-4", "prod", "web", T0 + 30_000, "1.0.1", 0, Outcome::Succeeded) };
    ledger.insert_deployment(&untracked).expect("insert");
    let previous = ledger.last_succeeded("prod", "web", Some(&running)).expect("query").map(|r| r.id);
    assert_eq!(previous.as_deref(), Some("fd-4"));
}

pub fn latest_per_service_is_the_newest_success_of_each(ledger: &Ledger) {
    for record in [
        finished("fd-1", "prod", "web", T0, "1.0.0", 1, Outcome::Succeeded),
        finished("fd-2", "prod", "web", T0 + MINUTE, "1.1.0", 2, Outcome::Succeeded),
        finished("fd-3", "prod", "web", T0 + 2 * MINUTE, "1.2.0", 3, Outcome::FailedRolledBack),
        finished("fd-4", "prod", "api", T0, "3.0.0", 1, Outcome::Succeeded),
        finished("fd-5", "dev", "web", T0 + 3 * MINUTE, "1.2.0", 3, Outcome::Succeeded),
        // Never succeeded anywhere: not running, not reported.
        finished("fd-6", "prod", "worker", T0, "0.1.0", 1, Outcome::Failed),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }

    let everywhere = ledger.latest_per_service(None).expect("query");
    assert_eq!(ids(&everywhere), ["fd-5", "fd-4", "fd-2"], "sorted by environment, then service");

    let prod = ledger.latest_per_service(Some("prod")).expect("query");
    assert_eq!(ids(&prod), ["fd-4", "fd-2"]);
    assert_eq!(prod[1].to_version.as_deref(), Some("1.1.0"));

    assert!(ledger.latest_per_service(Some("stage")).expect("query").is_empty());
}

pub fn succeeded_with_version_finds_the_newest_success_of_that_version(ledger: &Ledger) {
    for record in [
        finished("fd-1", "prod", "web", T0, "1.0.0", 1, Outcome::Succeeded),
        finished("fd-2", "prod", "web", T0 + MINUTE, "1.0.0", 2, Outcome::Succeeded),
        finished("fd-3", "prod", "web", T0 + 2 * MINUTE, "1.0.0", 3, Outcome::FailedRolledBack),
        finished("fd-4", "prod", "web", T0 + 3 * MINUTE, "1.1.0", 4, Outcome::Succeeded),
        finished("fd-5", "dev", "web", T0 + 4 * MINUTE, "1.0.0", 5, Outcome::Succeeded),
    ] {
        ledger.insert_deployment(&record).expect("insert");
    }
    let found = ledger.succeeded_with_version("prod", "web", "1.0.0").expect("query").map(|r| r.id);
    assert_eq!(found.as_deref(), Some("fd-2"));
    assert_eq!(ledger.succeeded_with_version("prod", "web", "0.9.0").expect("query"), None);
    assert_eq!(ledger.succeeded_with_version("prod", "api", "1.0.0").expect("query"), None);
}

// Events

pub fn events_come_back_in_the_order_they_were_recorded(ledger: &Ledger) {
    ledger.insert_deployment(&deployment("fd-1", "prod", "web", T0)).expect("insert");
    ledger.insert_deployment(&deployment("fd-2", "prod", "api", T0)).expect("insert");
    // Timestamps out of order on purpose: sources' clocks differ, recording order wins.
    let recorded = [
        EventRecord { at: T0 + 3, kind: "phase".into(), message: "registering task definition".into() },
        EventRecord { at: T0 + 1, kind: "ecs".into(), message: "(service web-prod) has started 2 tasks".into() },
        EventRecord { at: T0 + 2, kind: "task_stopped".into(), message: "Essential container in task exited".into() },
    ];
    for event in &recorded {
        ledger.record_event("fd-1", event).expect("record");
        ledger.record_event("fd-2", &EventRecord { message: format!("api: {}", event.message), ..event.clone() }).expect("record");
    }
    assert_eq!(ledger.events("fd-1").expect("events"), recorded);
    assert_eq!(ledger.events("fd-2").expect("events").len(), 3);
    assert!(ledger.events("fd-unknown").expect("events").is_empty());
}

pub fn an_event_for_an_unknown_deployment_is_refused(ledger: &Ledger) {
    let event = EventRecord { at: T0, kind: "phase".into(), message: "hello".into() };
    let err = ledger.record_event("fd-nowhere", &event).expect_err("no such deployment");
    assert!(matches!(&err, StoreError::NotFound(message) if message.contains("fd-nowhere")), "{err}");
}

// Locks

pub fn a_second_holder_is_refused_with_the_first_holder_named(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice"), 10 * MINUTE, T0).expect("first");

    let err = ledger.acquire_lock("prod", "web", &holder("fd-2", "bob"), 10 * MINUTE, T0 + MINUTE).expect_err("second");
    let StoreError::LockHeld(info) = &err else { panic!("expected LockHeld, got {err:?}") };
    assert_eq!(info.holder, holder("fd-1", "alice"));
    assert_eq!((info.acquired_at, info.lease_until), (T0, T0 + 10 * MINUTE));
    assert_eq!(
        err.to_string(),
        "web in prod is being deployed by alice@alice-laptop (pid 4242, deployment fd-1) \
         since 2026-11-23T10:00:00Z; lease until 2026-11-23T10:10:00Z"
    );

    // Other services and environments are independent.
    ledger.acquire_lock("prod", "api", &holder("fd-2", "bob"), 10 * MINUTE, T0 + MINUTE).expect("other service");
    ledger.acquire_lock("dev", "web", &holder("fd-3", "bob"), 10 * MINUTE, T0 + MINUTE).expect("other environment");
    assert_eq!(ledger.lock("prod", "web").expect("lock").map(|l| l.holder.deployment_id).as_deref(), Some("fd-1"));
}

pub fn an_expired_lease_is_taken_over(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice"), 10 * MINUTE, T0).expect("first");
    // Still valid one millisecond before the end...
    ledger.acquire_lock("prod", "web", &holder("fd-2", "bob"), 10 * MINUTE, T0 + 10 * MINUTE - 1).expect_err("still held");
    // ...and free from the end on.
    ledger.acquire_lock("prod", "web", &holder("fd-2", "bob"), 10 * MINUTE, T0 + 10 * MINUTE).expect("take over");
    let lock = ledger.lock("prod", "web").expect("lock").expect("held");
    assert_eq!(lock.holder, holder("fd-2", "bob"));
    assert_eq!((lock.acquired_at, lock.lease_until), (T0 + 10 * MINUTE, T0 + 20 * MINUTE));
}

pub fn the_same_deployment_may_acquire_again(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice"), 10 * MINUTE, T0).expect("first");
    // Resumed from another process: same deployment, new pid.
    let resumed = LockHolder { pid: 5151, ..holder("fd-1", "alice") };
    ledger.acquire_lock("prod", "web", &resumed, 10 * MINUTE, T0 + MINUTE).expect("again");
    let lock = ledger.lock("prod", "web").expect("lock").expect("held");
    assert_eq!(lock.holder, resumed);
    assert_eq!((lock.acquired_at, lock.lease_until), (T0, T0 + 11 * MINUTE), "acquired_at kept, lease extended");
}

pub fn renewing_extends_the_lease_and_a_stale_holder_is_refused(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice"), 10 * MINUTE, T0).expect("first");
    ledger.renew_lock("prod", "web", "fd-1", 10 * MINUTE, T0 + 5 * MINUTE).expect("renew");
    assert_eq!(ledger.lock("prod", "web").expect("lock").map(|l| l.lease_until), Some(T0 + 15 * MINUTE));
    // bob cannot take it at the original lease end any more.
    ledger.acquire_lock("prod", "web", &holder("fd-2", "bob"), 10 * MINUTE, T0 + 10 * MINUTE).expect_err("renewed");

    // alice stalls past her lease; bob takes over; alice's renewal must fail, naming bob.
    ledger.acquire_lock("prod", "web", &holder("fd-2", "bob"), 10 * MINUTE, T0 + 16 * MINUTE).expect("take over");
    let err = ledger.renew_lock("prod", "web", "fd-1", 10 * MINUTE, T0 + 17 * MINUTE).expect_err("stale");
    assert!(matches!(&err, StoreError::LockHeld(info) if info.holder.deployment_id == "fd-2"), "{err:?}");
    assert_eq!(ledger.lock("prod", "web").expect("lock").map(|l| l.lease_until), Some(T0 + 26 * MINUTE));
}

pub fn a_lapsed_lease_nobody_took_can_still_be_renewed(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice"), MINUTE, T0).expect("first");
    ledger.renew_lock("prod", "web", "fd-1", MINUTE, T0 + 5 * MINUTE).expect("renew");
    assert_eq!(ledger.lock("prod", "web").expect("lock").map(|l| l.lease_until), Some(T0 + 6 * MINUTE));
}

pub fn renewing_a_lock_that_is_gone_is_not_found(ledger: &Ledger) {
    let err = ledger.renew_lock("prod", "web", "fd-1", MINUTE, T0).expect_err("no lock");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub fn release_by_a_non_holder_is_a_no_op(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", "alice"), 10 * MINUTE, T0).expect("first");
    ledger.release_lock("prod", "web", "fd-2").expect("no-op");
    ledger.release_lock("dev", "web", "fd-1").expect("no-op elsewhere");
    assert_eq!(ledger.lock("prod", "web").expect("lock").map(|l| l.holder.deployment_id).as_deref(), Some("fd-1"));

    ledger.release_lock("prod", "web", "fd-1").expect("release");
    assert_eq!(ledger.lock("prod", "web").expect("lock"), None);
    ledger.acquire_lock("prod", "web", &holder("fd-2", "bob"), 10 * MINUTE, T0 + MINUTE).expect("free again");
}
