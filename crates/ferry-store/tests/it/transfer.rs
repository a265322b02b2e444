//! `ferry ledger export|import` between two SQLite ledgers (the suite runs the single-ledger
//! cases on every backend; the SQLite → DynamoDB move is tested end to end in ferry's CLI tests).

use ferry_store::suite::transfer::{content, import, populate};
use ferry_store::transfer::{self, ImportCounts};
use ferry_store::{Ledger, StepState};

fn open(dir: &tempfile::TempDir, name: &str) -> Ledger {
    Ledger::open(&dir.path().join(name)).expect("open")
}

#[test]
fn an_import_into_an_empty_ledger_reproduces_the_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    let export = populate(&open(&dir, "a.sqlite"));
    let b = open(&dir, "b.sqlite");
    let counts = import(&b, &export).expect("import");
    assert_eq!(
        counts,
        ImportCounts {
            deployments_added: 2,
            events_added: 2,
            steps_added: 2,
            releases_added: 2,
            rejections_added: 1,
            promotions_added: 1,
            ..ImportCounts::default()
        }
    );
    assert_eq!(content(&transfer::export(&b, 0).expect("export")), content(&export));
    // The JSON document survives a round trip through its text.
    let text = serde_json::to_string(&export).expect("json");
    assert_eq!(serde_json::from_str::<transfer::Export>(&text).expect("parse"), export);
}

#[test]
fn an_import_cut_short_is_finished_by_running_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let export = populate(&open(&dir, "a.sqlite"));
    let b = open(&dir, "b.sqlite");
    // What a crash after the first deployment's first event and first (unfinished) step leaves.
    let first = &export.deployments[0];
    b.insert_deployment(&first.record).expect("insert");
    b.record_event(&first.record.id, &first.events[0]).expect("event");
    b.start_step(&first.record.id, &first.steps[0].name, &first.steps[0].data, first.steps[0].started_at).expect("step");
    let counts = import(&b, &export).expect("import");
    assert_eq!((counts.deployments_added, counts.deployments_present, counts.events_added, counts.steps_added), (1, 1, 1, 1));
    assert_eq!(b.steps(&first.record.id).expect("steps")[0].state, StepState::Done, "the started step was finished");
    assert_eq!(content(&transfer::export(&b, 0).expect("export")), content(&export));
}
