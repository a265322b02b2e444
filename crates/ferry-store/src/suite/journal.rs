//! The ledger suite: journal. Each case takes an empty ledger.

use crate::{DeploymentRecord, Ledger, LockHolder, Outcome, StepState, StoreError};
use serde_json::json;

const T0: i64 = 1_700_000_000_000;
const LEASE: i64 = 120_000;

fn in_progress(id: &str, started_at: i64) -> DeploymentRecord {
    DeploymentRecord {
        id: id.into(),
        run_id: "fr-1".into(),
        kind: "deploy".into(),
        environment: "prod".into(),
        service: "web".into(),
        who: "alice".into(),
        started_at,
        strategy: Some("rolling".into()),
        ..Default::default()
    }
}

fn holder(id: &str, pid: u32) -> LockHolder {
    LockHolder { deployment_id: id.into(), who: "alice".into(), host: "laptop".into(), pid }
}

pub fn steps_are_journaled_before_and_after_in_order(ledger: &Ledger) {
    ledger.insert_deployment(&in_progress("fd-1", T0)).expect("insert");
    let register = ledger.start_step("fd-1", "register_task_definition", &json!({"family": "web"}), T0 + 1).expect("start");
    ledger.finish_step("fd-1", register, StepState::Done, &json!({"task_definition": "web:2"}), T0 + 2).expect("finish");
    let update = ledger.start_step("fd-1", "update_service", &json!({"task_definition": "web:2"}), T0 + 3).expect("start");

    let steps = ledger.steps("fd-1").expect("steps");
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].name.as_str(), steps[0].state, steps[0].finished_at), ("register_task_definition", StepState::Done, Some(T0 + 2)));
    assert_eq!(steps[0].data, json!({"task_definition": "web:2"}), "the data is what the step produced");
    assert_eq!((steps[1].seq, steps[1].state, steps[1].finished_at), (update, StepState::Started, None));
    assert!(update > register);
}

pub fn a_step_of_an_unknown_deployment_is_refused_and_writes_nothing(ledger: &Ledger) {
    let err = ledger.start_step("fd-nope", "update_service", &json!({}), T0).expect_err("unknown deployment");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(ledger.steps("fd-nope").expect("steps").is_empty());
    let err = ledger.finish_step("fd-nope", 1, StepState::Done, &json!({}), T0).expect_err("unknown step");
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

pub fn the_newest_unfinished_deployment_is_found(ledger: &Ledger) {
    assert_eq!(ledger.unfinished("prod", "web").expect("query"), None);
    ledger
        .insert_deployment(&DeploymentRecord { outcome: Outcome::Succeeded, finished_at: Some(T0 + 5), ..in_progress("fd-1", T0) })
        .expect("insert");
    ledger.insert_deployment(&in_progress("fd-2", T0 + 10)).expect("insert");
    ledger.insert_deployment(&DeploymentRecord { service: "api".into(), ..in_progress("fd-3", T0 + 20) }).expect("insert");
    assert_eq!(ledger.unfinished("prod", "web").expect("query").map(|r| r.id), Some("fd-2".into()));
    assert_eq!(ledger.unfinished("dev", "web").expect("query"), None);
}

pub fn a_lock_whose_holder_is_gone_is_taken_over_and_says_whose_it_was(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", 100), LEASE, T0).expect("first");
    // A live holder keeps it, lease or not.
    let err = ledger.take_lock("prod", "web", &holder("fd-2", 200), LEASE, T0 + 1, &|_| false).expect_err("held");
    assert!(matches!(err, StoreError::LockHeld(_)), "{err:?}");
    // Its process is gone: taken over at once, long before the lease ends.
    let taken = ledger.take_lock("prod", "web", &holder("fd-2", 200), LEASE, T0 + 2, &|h| h.pid == 100).expect("taken over");
    assert_eq!(taken.map(|l| l.holder.deployment_id), Some("fd-1".into()));
    assert_eq!(ledger.lock("prod", "web").expect("read").map(|l| l.holder.deployment_id), Some("fd-2".into()));
}

pub fn a_resumed_deployment_takes_its_own_lock_only_from_a_dead_process(ledger: &Ledger) {
    ledger.acquire_lock("prod", "web", &holder("fd-1", 100), LEASE, T0).expect("first");
    // Another live process resuming the same deployment is refused: one deployment, one run.
    let err = ledger.take_lock("prod", "web", &holder("fd-1", 300), LEASE, T0 + 1, &|_| false).expect_err("two runs of fd-1");
    assert!(matches!(err, StoreError::LockHeld(_)), "{err:?}");
    // Once pid 100 is gone, the resumed run takes it; acquired_at is the deployment's.
    let taken = ledger.take_lock("prod", "web", &holder("fd-1", 300), LEASE, T0 + 2, &|h| h.pid == 100).expect("resumed");
    assert_eq!(taken.map(|l| l.holder.pid), Some(100), "taken over from the dead process, and said so");
    let lock = ledger.lock("prod", "web").expect("read").expect("held");
    assert_eq!((lock.holder.pid, lock.acquired_at), (300, T0));
}
