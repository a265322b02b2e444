//! The ledger suite (`ferry_store::suite`) over the embedded SQLite backend: the same cases
//! every shared backend runs.

use ferry_store::Ledger;

ferry_store::ledger_suite!(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(&dir.path().join("ledger.sqlite")).expect("open");
    (dir, ledger)
});
