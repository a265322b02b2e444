//! How DynamoDB tables survive a restart: a snapshot and a journal of item-level changes,
//! beside `state.json` and not in it.
//!
//! Why not `state.json`: it is rewritten whole for every write, so with the items in it a
//! PutItem cost grew with every item already stored (ferry's shared ledger made a 51-service
//! deploy 13.6 → 47.6 s over four rounds, docs/benchmarks.md). Here a write costs what it
//! changed: one line appended to the journal and an fsync, before the answer.
//!
//! Files, in the state directory:
//! - `dynamodb.journal`: JSON lines, one [`Record`] per successful write request (PutItem,
//!   UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, CreateTable, DeleteTable,
//!   UpdateTimeToLive, TagResource, UntagResource): the items it touched as they now are
//!   (`put` with the item, or `delete`), a table's settings (`table`, without items), a
//!   deleted table (`drop`), a transaction token (`token`). A request is one line, so a
//!   transaction or batch is replayed whole or not at all. Each record has a sequence number,
//!   one more than the previous.
//! - `dynamodb.snapshot.json`: every partition's tables with their items and the sequence
//!   number of the last record it contains.
//!
//! A write is acknowledged only after its line (ending in `\n`) was written and fsynced. A
//! line that cannot be written is cut off again (the file truncated to where it was), the
//! request undone and answered 503, as for `state.json`.
//!
//! Startup: read the snapshot (if any), then apply the journal's records whose sequence
//! number is above the snapshot's, in order. The last line may be torn (a crash or power loss
//! during its write): a final piece without `\n`, or a last line that does not parse, was
//! never acknowledged (the answer waits for the whole line and the fsync) and is ignored and
//! cut off. A damaged line *before* other records is an acknowledged write that cannot be
//! read: ferry local refuses to start rather than silently lose it.
//!
//! Compaction, once the journal is larger than the snapshot (and at least
//! [`COMPACT_AT_LEAST`]): (1) write the whole state to `dynamodb.snapshot.json.tmp`, fsync;
//! (2) rename it over `dynamodb.snapshot.json`, fsync the directory; (3) truncate the journal,
//! fsync. A crash before (2) leaves the old snapshot and the whole journal (the temporary file
//! is removed at startup); between (2) and (3) the new snapshot and a journal whose records
//! are all at or below its sequence number, skipped on replay; after (3) the snapshot alone.
//! Each state reads back as everything acknowledged. Since the journal grows to the size of
//! the snapshot before it is folded in, a write's share of compaction is proportional to its
//! own size. Compaction runs under the state lock, between two requests.
//!
//! Migration: a `state.json` written before this kept the tables in it; when there is no
//! snapshot yet, those tables are loaded and written to a snapshot before serving.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dynamodb::{Change, DynamoDb, Table};
use super::{LoadError, Partition, State, write_durably};
use crate::dynamodb::value::Item;

/// The journal is compacted into the snapshot once it is larger than the snapshot and this.
pub const COMPACT_AT_LEAST: u64 = 4 * 1024 * 1024;

pub fn journal_file(state_dir: &Path) -> PathBuf {
    state_dir.join("dynamodb.journal")
}

pub fn snapshot_file(state_dir: &Path) -> PathBuf {
    state_dir.join("dynamodb.snapshot.json")
}

/// One change in a journal record.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    /// A table was created or its settings changed: the table without items (its items stay).
    Table { table: Box<Table> },
    /// A table was deleted, with its items.
    Drop { table: String },
    /// An item is now this.
    Put { table: String, key: String, item: Item },
    /// An item is gone.
    Delete { table: String, key: String },
    /// A transaction's client token.
    Token { token: String, digest: String, at: f64 },
}

/// One write request's changes to one partition: one line of the journal.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub account: String,
    pub region: String,
    pub ops: Vec<Op>,
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    seq: u64,
    partitions: BTreeMap<&'a str, PartitionOut<'a>>,
}

#[derive(Serialize)]
struct PartitionOut<'a> {
    account: &'a str,
    region: &'a str,
    dynamodb: &'a DynamoDb,
}

#[derive(Deserialize)]
struct SnapshotIn {
    seq: u64,
    partitions: BTreeMap<String, PartitionIn>,
}

#[derive(Deserialize)]
struct PartitionIn {
    account: String,
    region: String,
    dynamodb: DynamoDb,
}

/// The ops that bring a replayed partition to what `changes` left in `dynamodb`: each item,
/// table and token touched, as it is now. Empty when nothing changed.
pub fn ops(dynamodb: &DynamoDb) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut seen_items = std::collections::BTreeSet::new();
    for change in &dynamodb.changes {
        match change {
            Change::Item { table, key, .. } => {
                if !seen_items.insert((table.as_str(), key.as_str())) {
                    continue;
                }
                match dynamodb.tables.get(table).and_then(|t| t.items.get(key)) {
                    Some(item) => ops.push(Op::Put { table: table.clone(), key: key.clone(), item: item.clone() }),
                    None => ops.push(Op::Delete { table: table.clone(), key: key.clone() }),
                }
            }
            Change::Created { table } | Change::Settings { table, .. } => match dynamodb.tables.get(table) {
                Some(t) => ops.push(Op::Table { table: Box::new(t.without_items()) }),
                None => ops.push(Op::Drop { table: table.clone() }),
            },
            Change::Deleted { table } => {
                // Dropped, and maybe created again since: the table as it is now.
                ops.push(Op::Drop { table: table.name.clone() });
                if let Some(t) = dynamodb.tables.get(&table.name) {
                    ops.push(Op::Table { table: Box::new(t.without_items()) });
                }
            }
            Change::Token { token, .. } => {
                if let Some((digest, at)) = dynamodb.transaction_tokens.get(token) {
                    ops.push(Op::Token { token: token.clone(), digest: digest.clone(), at: *at });
                }
            }
        }
    }
    ops
}

/// Applies a record's ops to its partition's tables.
pub fn apply(dynamodb: &mut DynamoDb, ops: Vec<Op>) {
    for op in ops {
        match op {
            Op::Table { table } => match dynamodb.tables.get_mut(&table.name) {
                Some(existing) => {
                    let items = std::mem::take(&mut existing.items);
                    *existing = Table { items, ..*table };
                }
                None => {
                    dynamodb.tables.insert(table.name.clone(), *table);
                }
            },
            Op::Drop { table } => {
                dynamodb.tables.remove(&table);
            }
            Op::Put { table, key, item } => {
                if let Some(t) = dynamodb.tables.get_mut(&table) {
                    t.items.insert(key, item);
                }
            }
            Op::Delete { table, key } => {
                if let Some(t) = dynamodb.tables.get_mut(&table) {
                    t.items.remove(&key);
                }
            }
            Op::Token { token, digest, at } => {
                dynamodb.transaction_tokens.insert(token, (digest, at));
            }
        }
    }
}

/// The DynamoDB journal and snapshot of one state directory.
pub struct Journal {
    dir: PathBuf,
    /// Open for appending, once the first record was written.
    file: Option<std::fs::File>,
    /// Bytes of whole records in the journal: where the next record starts.
    len: u64,
    /// The sequence number of the last record (or of the snapshot, when none followed).
    seq: u64,
    /// The size of the last snapshot.
    snapshot_len: u64,
    /// Compact once the journal is larger than this and the snapshot.
    compact_at_least: u64,
}

impl Journal {
    /// Loads the tables into `state` (snapshot, then journal) and opens the journal for
    /// appending. Tables `state.json` still held (written before the journal) are kept when
    /// there is no snapshot, and written to one at once.
    ///
    /// Errors: a file that cannot be read or written, a snapshot that does not parse, a
    /// damaged record before the journal's last line.
    pub fn open(state_dir: &Path, state: &mut State) -> Result<Journal, LoadError> {
        Self::open_with(state_dir, state, COMPACT_AT_LEAST)
    }

    pub fn open_with(state_dir: &Path, state: &mut State, compact_at_least: u64) -> Result<Journal, LoadError> {
        let snapshot_path = snapshot_file(state_dir);
        let journal_path = journal_file(state_dir);
        let read_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LoadError::Read { path, source }
        };
        // A snapshot never renamed into place (a crash during compaction): the old snapshot
        // and the journal still hold everything.
        match std::fs::remove_file(super::tmp_path(&snapshot_path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(read_error(&snapshot_path)(e)),
            _ => {}
        }
        let mut journal = Journal { dir: state_dir.to_path_buf(), file: None, len: 0, seq: 0, snapshot_len: 0, compact_at_least };
        let legacy = match std::fs::read(&snapshot_path) {
            Ok(bytes) => {
                let snapshot: SnapshotIn =
                    serde_json::from_slice(&bytes).map_err(|source| LoadError::Parse { path: snapshot_path.clone(), source })?;
                for partition in state.partitions.values_mut() {
                    partition.dynamodb = DynamoDb::default();
                }
                for p in snapshot.partitions.into_values() {
                    state.partition(&p.account, &p.region).dynamodb = p.dynamodb;
                }
                journal.seq = snapshot.seq;
                journal.snapshot_len = bytes.len() as u64;
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                state.partitions.values().any(|p| !p.dynamodb.tables.is_empty() || !p.dynamodb.transaction_tokens.is_empty())
            }
            Err(e) => return Err(read_error(&snapshot_path)(e)),
        };
        let bytes = match std::fs::read(&journal_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(read_error(&journal_path)(e)),
        };
        let (records, whole) = parse_journal(&bytes).map_err(|message| LoadError::Journal { path: journal_path.clone(), message })?;
        for record in records {
            if record.seq <= journal.seq {
                continue;
            }
            journal.seq = record.seq;
            apply(&mut state.partition(&record.account, &record.region).dynamodb, record.ops);
        }
        journal.len = whole as u64;
        if whole < bytes.len() {
            // The torn last line of a write that was never answered: cut it off, so that the
            // next record starts on a line of its own.
            let cut = (|| {
                let file = std::fs::OpenOptions::new().write(true).open(&journal_path)?;
                file.set_len(whole as u64)?;
                file.sync_all()
            })();
            cut.map_err(read_error(&journal_path))?;
            tracing::warn!("{}: ignored a torn last record (never acknowledged)", journal_path.display());
        }
        if legacy {
            journal.compact(state).map_err(read_error(&snapshot_path))?;
        }
        Ok(journal)
    }

    /// Appends the record of a request's changes to `partition` and fsyncs it: when this
    /// returns Ok, the changes survive a crash. Clears the partition's changes then. Nothing
    /// to write when there are no changes.
    ///
    /// Errors: whatever the filesystem says; the journal is as it was, the changes are kept
    /// (the caller undoes them).
    pub fn append(&mut self, partition: &mut Partition) -> std::io::Result<()> {
        if partition.dynamodb.changes.is_empty() {
            return Ok(());
        }
        let record = Record {
            seq: self.seq + 1,
            account: partition.account.clone(),
            region: partition.region.clone(),
            ops: ops(&partition.dynamodb),
        };
        let mut line = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.append_line(&line)?;
        self.seq = record.seq;
        partition.dynamodb.changes.clear();
        Ok(())
    }

    fn append_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let path = journal_file(&self.dir);
                let file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                // Whatever a failed write may have left after the last whole record goes.
                file.set_len(self.len)?;
                // The file's name survives a power loss too.
                std::fs::File::open(&self.dir)?.sync_all()?;
                self.file.insert(file)
            }
        };
        match file.write_all(line).and_then(|()| file.sync_data()) {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut the partial line off; if even that fails, reopen (and cut) next time.
                if file.set_len(self.len).and_then(|()| file.sync_data()).is_err() {
                    self.file = None;
                }
                Err(e)
            }
        }
    }

    /// Whether the journal has grown enough to be folded into the snapshot.
    pub fn wants_compaction(&self) -> bool {
        self.len > self.compact_at_least.max(self.snapshot_len)
    }

    /// Writes every partition's tables to the snapshot, then empties the journal (see the
    /// module documentation for a crash at each step). The state's pending changes are in
    /// the snapshot then, and cleared.
    ///
    /// Errors: whatever the filesystem says; the files read back as before (or as the new
    /// snapshot with a journal it makes redundant).
    pub fn compact(&mut self, state: &mut State) -> std::io::Result<()> {
        let snapshot = SnapshotOut {
            seq: self.seq,
            partitions: state
                .partitions
                .iter()
                .filter(|(_, p)| !p.dynamodb.tables.is_empty() || !p.dynamodb.transaction_tokens.is_empty())
                .map(|(k, p)| (k.as_str(), PartitionOut { account: &p.account, region: &p.region, dynamodb: &p.dynamodb }))
                .collect(),
        };
        let bytes = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
        write_durably(&snapshot_file(&self.dir), &bytes)?;
        self.snapshot_len = bytes.len() as u64;
        for partition in state.partitions.values_mut() {
            partition.dynamodb.changes.clear();
        }
        // The snapshot holds everything now; records at or below its sequence number are
        // skipped on replay, so a failure from here on loses nothing.
        let path = journal_file(&self.dir);
        let truncated = match &mut self.file {
            Some(file) => file.set_len(0).and_then(|()| file.sync_data()),
            None => match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(file) => file.set_len(0).and_then(|()| file.sync_data()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            },
        };
        match truncated {
            Ok(()) => self.len = 0,
            Err(e) => tracing::warn!("{}: cannot truncate after compaction (its records are in the snapshot): {e}", path.display()),
        }
        Ok(())
    }
}

/// The journal's records, and the length of the part made of whole records. A torn last line
/// (no `\n`, or not a record) is left out; a damaged line before another is an error.
fn parse_journal(bytes: &[u8]) -> Result<(Vec<Record>, usize), String> {
    let mut records = Vec::new();
    let mut start = 0;
    let mut whole = 0;
    let mut damaged: Option<(usize, serde_json::Error)> = None;
    let mut line_number = 0;
    while let Some(end) = bytes[start..].iter().position(|b| *b == b'\n').map(|i| start + i) {
        line_number += 1;
        let line = &bytes[start..end];
        start = end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some((n, e)) = damaged.take() {
            return Err(format!(
                "record on line {n} is damaged ({e}) and followed by others: an acknowledged write cannot be read; move the file away to start without the journaled DynamoDB writes"
            ));
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => {
                records.push(record);
                whole = start;
            }
            Err(e) => damaged = Some((line_number, e)),
        }
    }
    Ok((records, whole))
}

#[cfg(test)]
mod tests;
