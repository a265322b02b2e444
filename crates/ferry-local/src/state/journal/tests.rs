//! The journal and snapshot: replay, compaction, a torn last line, a crash between the steps
//! of a compaction (each intermediate state of the files), a transaction replayed whole.

use serde_json::{Value, json};

use super::*;
use crate::api::{ApiResult, Caller, Ctx, Input};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const NOW: f64 = 1_700_000_000.0;

/// A state directory and what ferry local holds in memory for it.
struct Local {
    dir: tempfile::TempDir,
    state: State,
    journal: Journal,
}

impl Local {
    fn new(compact_at_least: u64) -> Local {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::default();
        let journal = Journal::open_with(dir.path(), &mut state, compact_at_least).unwrap();
        Local { dir, state, journal }
    }

    /// What a restart reads back from the files (after a crash: nothing else is saved).
    fn restart(self) -> Local {
        let dir = self.dir;
        let mut state = State::default();
        let journal = Journal::open_with(dir.path(), &mut state, self.journal.compact_at_least).unwrap();
        Local { dir, state, journal }
    }

    /// One request, as the server runs it: a successful write journaled before the answer
    /// (compacting when due), or undone when it cannot be.
    fn call_at(&mut self, operation: &str, input: Value, now: f64) -> ApiResult {
        let caller = Caller { account: ACCOUNT.into(), region: REGION.into() };
        let map = input.as_object().cloned().unwrap_or_default();
        let partition = self.state.partition(ACCOUNT, REGION);
        let mark = partition.dynamodb.changes.len();
        let mut ctx = Ctx { partition, caller: &caller, now };
        let result = crate::dynamodb::dispatch(operation, &mut ctx, &Input(&map)).unwrap();
        if result.is_err() || crate::server::is_read(operation) {
            return result;
        }
        let partition = self.state.partition(ACCOUNT, REGION);
        if let Err(e) = self.journal.append(partition) {
            partition.dynamodb.undo(mark);
            return Err(crate::api::ApiError::new(503, "ServiceUnavailableException", e.to_string()));
        }
        if self.journal.wants_compaction() {
            self.journal.compact(&mut self.state).unwrap();
        }
        result
    }

    fn call(&mut self, operation: &str, input: Value) -> ApiResult {
        self.call_at(operation, input, NOW)
    }

    fn put(&mut self, pk: &str, extra: Value) {
        let mut item = json!({"pk": {"S": pk}});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            item[k] = v;
        }
        self.call("PutItem", json!({"TableName": "ledger", "Item": item})).unwrap();
    }

    fn create_table(&mut self) {
        self.call(
            "CreateTable",
            json!({
                "TableName": "ledger",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"
            }),
        )
        .unwrap();
    }

    /// The tables and tokens, comparable.
    fn tables(&mut self) -> Value {
        serde_json::to_value(&self.state.partition(ACCOUNT, REGION).dynamodb).unwrap()
    }

    fn pks(&mut self) -> Vec<String> {
        let p = self.state.partition(ACCOUNT, REGION);
        p.dynamodb
            .tables
            .get("ledger")
            .map(|t| t.items.values().filter_map(|i| i.get("pk")).map(|v| format!("{:?}", v)).collect())
            .unwrap_or_default()
    }

    fn journal_bytes(&self) -> Vec<u8> {
        std::fs::read(journal_file(self.dir.path())).unwrap_or_default()
    }
}

#[test]
fn every_kind_of_write_is_replayed_from_the_journal() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    local.put("a", json!({"n": {"N": "1"}}));
    local.put("b", json!({}));
    local.put("c", json!({}));
    local
        .call("UpdateItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET n = n + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}))
        .unwrap();
    local.call("DeleteItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "b"}}})).unwrap();
    local
        .call(
            "BatchWriteItem",
            json!({"RequestItems": {"ledger": [
                {"PutRequest": {"Item": {"pk": {"S": "d"}}}},
                {"DeleteRequest": {"Key": {"pk": {"S": "c"}}}}
            ]}}),
        )
        .unwrap();
    local
        .call("UpdateTimeToLive", json!({"TableName": "ledger", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires"}}))
        .unwrap();
    let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ledger");
    local
        .call("TagResource", json!({"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "x", "Value": "y"}]}))
        .unwrap();
    local.call("UntagResource", json!({"ResourceArn": arn, "TagKeys": ["x"]})).unwrap();
    local
        .call(
            "TransactWriteItems",
            json!({"ClientRequestToken": "t1", "TransactItems": [{"Put": {"TableName": "ledger", "Item": {"pk": {"S": "e"}}}}]}),
        )
        .unwrap();
    local
        .call(
            "CreateTable",
            json!({"TableName": "gone", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}),
        )
        .unwrap();
    local.call("PutItem", json!({"TableName": "gone", "Item": {"id": {"S": "x"}}})).unwrap();
    local.call("DeleteTable", json!({"TableName": "gone"})).unwrap();
    let lines = local.journal_bytes().iter().filter(|b| **b == b'\n').count();
    assert_eq!(lines, 14, "one record per write");
    let before = local.tables();
    assert!(!std::fs::exists(snapshot_file(local.dir.path())).unwrap(), "no compaction yet");

    let mut local = local.restart();
    assert_eq!(local.tables(), before);
    let table = &local.state.partition(ACCOUNT, REGION).dynamodb.tables["ledger"];
    assert_eq!(table.ttl_attribute.as_deref(), Some("expires"));
    assert_eq!(table.tags.len(), 1);
    assert_eq!(table.items.len(), 3, "a, d, e");
    // The transaction's token was replayed: the same request again is answered as done.
    let again = json!({"ClientRequestToken": "t1", "TransactItems": [{"Put": {"TableName": "ledger", "Item": {"pk": {"S": "e"}}}}]});
    let mismatch = json!({"ClientRequestToken": "t1", "TransactItems": [{"Put": {"TableName": "ledger", "Item": {"pk": {"S": "f"}}}}]});
    local.call("TransactWriteItems", again).unwrap();
    assert_eq!(local.call("TransactWriteItems", mismatch).unwrap_err().code, "IdempotentParameterMismatchException");
}

#[test]
fn a_read_writes_nothing_and_a_write_that_changes_nothing_writes_nothing() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    local.put("a", json!({}));
    let before = local.journal_bytes();
    local.call("GetItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "a"}}})).unwrap();
    local
        .call("Query", json!({"TableName": "ledger", "KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}))
        .unwrap();
    local.call("Scan", json!({"TableName": "ledger"})).unwrap();
    local.call("DescribeTable", json!({"TableName": "ledger"})).unwrap();
    assert_eq!(local.journal_bytes(), before);
}

#[test]
fn items_a_read_found_expired_are_journaled_with_the_next_write() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    local
        .call("UpdateTimeToLive", json!({"TableName": "ledger", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires"}}))
        .unwrap();
    local.put("old", json!({"expires": {"N": (NOW + 10.0).to_string()}}));
    // A read after the expiry deletes the item in memory only; disabling TTL then must not
    // bring it back after a restart.
    local.call_at("Scan", json!({"TableName": "ledger"}), NOW + 20.0).unwrap();
    local
        .call_at(
            "UpdateTimeToLive",
            json!({"TableName": "ledger", "TimeToLiveSpecification": {"Enabled": false, "AttributeName": "expires"}}),
            NOW + 30.0,
        )
        .unwrap();
    let mut local = local.restart();
    assert!(local.pks().is_empty(), "{:?}", local.pks());
}

#[test]
fn compaction_folds_the_journal_into_the_snapshot() {
    // Compact as soon as the journal is larger than the snapshot (and 1 KiB).
    let mut local = Local::new(1024);
    local.create_table();
    for i in 0..200 {
        local.put(&format!("item-{i:03}"), json!({"payload": {"S": "x".repeat(100)}}));
    }
    local.call("DeleteItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "item-007"}}})).unwrap();
    let snapshot_len = std::fs::metadata(snapshot_file(local.dir.path())).unwrap().len();
    let journal_len = local.journal_bytes().len() as u64;
    assert!(snapshot_len > 20_000, "compacted: {snapshot_len}");
    assert!(journal_len <= snapshot_len.max(1024), "journal bounded by the snapshot: {journal_len} vs {snapshot_len}");
    let before = local.tables();
    let mut local = local.restart();
    assert_eq!(local.tables(), before);
    assert_eq!(local.pks().len(), 199);
    // Writes go on after a restart, numbered after what the snapshot holds.
    local.put("after", json!({}));
    let before = local.tables();
    let mut local = local.restart();
    assert_eq!(local.tables(), before);
}

#[test]
fn a_torn_last_line_is_ignored_and_cut_off_and_a_damaged_earlier_one_stops_the_start() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    local.put("a", json!({}));
    local.put("b", json!({}));
    let whole = local.journal_bytes();
    let before = local.tables();

    // The last record half written (a crash during its write, before its fsync and answer).
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"seq":4,"account":"123456789012","region":"eu-west-1","ops":[{"op":"put","table":"led"#);
    std::fs::write(journal_file(local.dir.path()), &torn).unwrap();
    let mut local = local.restart();
    assert_eq!(local.tables(), before);
    assert_eq!(local.journal_bytes(), whole, "the torn piece is cut off");
    // The next record starts on its own line, and both survive the next restart.
    local.put("c", json!({}));
    let mut local = local.restart();
    assert_eq!(local.pks().len(), 3);

    // A last line of garbage (zeros after a power loss) with its newline: never acknowledged either.
    let whole = local.journal_bytes();
    let mut garbage = whole.clone();
    garbage.extend_from_slice(&[0, 0, 0, b'\n']);
    std::fs::write(journal_file(local.dir.path()), &garbage).unwrap();
    let local = local.restart();
    assert_eq!(local.journal_bytes(), whole);

    // A damaged record followed by another is an acknowledged write lost: refuse to start.
    let mut damaged = whole.clone();
    let first_newline = damaged.iter().position(|b| *b == b'\n').unwrap();
    damaged[first_newline - 3] = b'#';
    std::fs::write(journal_file(local.dir.path()), &damaged).unwrap();
    let mut state = State::default();
    let err = Journal::open(local.dir.path(), &mut state).err().unwrap();
    assert!(matches!(err, LoadError::Journal { .. }), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn a_transaction_is_one_record_replayed_whole_or_not_at_all() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    let before_transaction = local.journal_bytes();
    let tables_before = local.tables();
    local
        .call(
            "TransactWriteItems",
            json!({"TransactItems": [
                {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "lock"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "step-1"}}}},
                {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "step-2"}}}}
            ]}),
        )
        .unwrap();
    let after = local.journal_bytes();
    let record = &after[before_transaction.len()..];
    assert_eq!(record.iter().filter(|b| **b == b'\n').count(), 1, "one line: {}", String::from_utf8_lossy(record));
    let tables_after = local.tables();

    // Replayed whole.
    let mut local = local.restart();
    assert_eq!(local.tables(), tables_after);
    assert_eq!(local.pks().len(), 3);

    // Torn anywhere in its line (the crash came before its answer): none of it.
    for cut in [1, record.len() / 3, record.len() / 2, record.len() - 1] {
        std::fs::write(journal_file(local.dir.path()), &after[..before_transaction.len() + cut]).unwrap();
        local = local.restart();
        assert_eq!(local.tables(), tables_before, "cut at {cut}");
        std::fs::write(journal_file(local.dir.path()), &after).unwrap();
        local = local.restart();
    }
}

#[test]
fn a_crash_at_each_step_of_a_compaction_reads_back_everything() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    for i in 0..10 {
        local.put(&format!("first-{i}"), json!({}));
    }
    local.journal.compact(&mut local.state).unwrap();
    let old_snapshot = std::fs::read(snapshot_file(local.dir.path())).unwrap();
    for i in 0..10 {
        local.put(&format!("second-{i}"), json!({}));
    }
    local.call("DeleteItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "first-3"}}})).unwrap();
    let journal = local.journal_bytes();
    let expected = local.tables();
    let dir = local.dir.path().to_path_buf();
    let tmp = snapshot_file(&dir).with_extension("json.tmp");

    // 1. Crashed while writing the new snapshot: a partial temporary file, the old snapshot,
    //    the whole journal.
    local.journal.compact(&mut local.state).unwrap();
    let new_snapshot = std::fs::read(snapshot_file(&dir)).unwrap();
    std::fs::write(&tmp, &new_snapshot[..new_snapshot.len() / 2]).unwrap();
    std::fs::write(snapshot_file(&dir), &old_snapshot).unwrap();
    std::fs::write(journal_file(&dir), &journal).unwrap();
    let mut local = local.restart();
    assert_eq!(local.tables(), expected, "partial temporary snapshot");
    assert!(!tmp.exists(), "the temporary file is removed");

    // 2. Crashed after the temporary file's fsync, before the rename: a whole temporary file.
    std::fs::write(&tmp, &new_snapshot).unwrap();
    let mut local = local.restart();
    assert_eq!(local.tables(), expected, "whole temporary snapshot not renamed");

    // 3. Crashed after the rename, before the journal was truncated: the new snapshot and a
    //    journal whose records it holds (the delete of first-3 must not be replayed over a
    //    newer put of it, nor any record twice).
    std::fs::write(snapshot_file(&dir), &new_snapshot).unwrap();
    std::fs::write(journal_file(&dir), &journal).unwrap();
    let mut local = local.restart();
    assert_eq!(local.tables(), expected, "new snapshot, old journal");
    local.put("first-3", json!({"back": {"S": "yes"}}));
    let expected = local.tables();
    let mut local = local.restart();
    assert_eq!(local.tables(), expected, "new records after the redundant ones");

    // 4. Crashed after the truncation: the snapshot alone.
    local.journal.compact(&mut local.state).unwrap();
    assert!(local.journal_bytes().is_empty());
    let mut local = local.restart();
    assert_eq!(local.tables(), expected, "snapshot alone");
}

#[test]
fn a_write_that_cannot_be_journaled_is_undone() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    local.put("kept", json!({"v": {"S": "1"}}));
    let before = local.tables();
    // The journal cannot be opened for appending: its name is taken by a directory.
    let journal = local.journal_bytes();
    std::fs::remove_file(journal_file(local.dir.path())).unwrap();
    std::fs::create_dir(journal_file(local.dir.path())).unwrap();
    local.journal.file = None;
    let err = local.call("PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": "kept"}, "v": {"S": "2"}}})).unwrap_err();
    assert_eq!(err.code, "ServiceUnavailableException");
    let err = local.call("DeleteTable", json!({"TableName": "ledger"})).unwrap_err();
    assert_eq!(err.code, "ServiceUnavailableException");
    assert_eq!(local.tables(), before, "nothing changed");
    assert!(local.state.partition(ACCOUNT, REGION).dynamodb.changes.is_empty());
    std::fs::remove_dir(journal_file(local.dir.path())).unwrap();
    std::fs::write(journal_file(local.dir.path()), journal).unwrap();
    local.put("next", json!({}));
    let expected = local.tables();
    let mut local = local.restart();
    assert_eq!(local.tables(), expected);
}

#[test]
fn tables_of_a_state_file_written_before_the_journal_move_to_a_snapshot() {
    let mut local = Local::new(COMPACT_AT_LEAST);
    local.create_table();
    local.put("legacy", json!({}));
    let expected = local.tables();
    // A state.json of the previous version: the tables inside the partition.
    let mut old = serde_json::to_value(&local.state).unwrap();
    old["partitions"][format!("{ACCOUNT}/{REGION}")]["dynamodb"] = expected.clone();
    let dir = local.dir;
    std::fs::remove_file(journal_file(dir.path())).unwrap();
    std::fs::write(dir.path().join("state.json"), serde_json::to_vec(&old).unwrap()).unwrap();

    let mut state = State::load(&dir.path().join("state.json")).unwrap();
    let _journal = Journal::open(dir.path(), &mut state).unwrap();
    assert!(snapshot_file(dir.path()).exists(), "written to a snapshot before serving");
    assert_eq!(serde_json::to_value(&state.partition(ACCOUNT, REGION).dynamodb).unwrap(), expected);
    let (_, bytes) = state.snapshot().unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("legacy"), "state.json no longer holds items");

    // Restarted with the old state.json still in place: the snapshot wins (it is newer).
    let mut state = State::load(&dir.path().join("state.json")).unwrap();
    Journal::open(dir.path(), &mut state).unwrap();
    assert_eq!(serde_json::to_value(&state.partition(ACCOUNT, REGION).dynamodb).unwrap(), expected);
}
