//! The event store: one append-only file of JSON lines per log stream, under
//! `<state dir>/cloudwatch-logs/<account>/<region>/<group>/<stream>-<id>.jsonl`.
//!
//! A line is one event, `{"t": timestamp, "i": ingestion time, "m": message}` (epoch
//! milliseconds); its 1-based line number is its sequence number in the stream, which orders
//! events of equal timestamp and makes their `eventId`. Nothing is kept in memory: a read
//! scans the file once and keeps at most one page of events (see `query`). A line cut short
//! by a crash is skipped when read and never glued to the next one (an append after it starts
//! on a new line).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directory of the event store under the state directory.
pub const DIR: &str = "cloudwatch-logs";

/// One stored event. Times are epoch milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    #[serde(rename = "t")]
    pub timestamp: i64,
    #[serde(rename = "i")]
    pub ingestion_time: i64,
    #[serde(rename = "m")]
    pub message: String,
}

/// Where the events of every stream are kept (see the module docs).
#[derive(Debug)]
pub struct EventStore {
    root: PathBuf,
}

impl EventStore {
    /// The store under `state_dir` (nothing is created until an event is written).
    pub fn new(state_dir: &Path) -> EventStore {
        EventStore { root: state_dir.join(DIR) }
    }

    /// A new stream's file name, relative to the store: readable (group and stream names with
    /// anything but `[A-Za-z0-9._-]` replaced, cut to 100 characters) and unique (a random id).
    pub fn new_file(account: &str, region: &str, group: &str, stream: &str) -> String {
        format!("{}/{}/{}/{}-{}.jsonl", clean(account), clean(region), clean(group), clean(stream), crate::api::hex_id(12))
    }

    fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// Appends `events` to `file`. With `durable`, the data (and a new file's directory entry)
    /// is on disk when this returns, as a PutLogEvents answer requires; the awslogs driver
    /// writes without, as the container's own log file is written.
    ///
    /// Errors: whatever the filesystem says; the file is then unchanged or holds a cut line
    /// that readers skip.
    pub fn append(&self, file: &str, events: &[StoredEvent], durable: bool) -> std::io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let path = self.path(file);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
        let existed = path.exists();
        if !existed {
            std::fs::create_dir_all(&dir)?;
        }
        let mut handle = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let mut buf = Vec::with_capacity(events.iter().map(|e| e.message.len() + 48).sum());
        // A line a crash cut short is closed first, so that it stays one bad line.
        let len = handle.metadata()?.len();
        if len > 0 {
            let mut last = [0u8; 1];
            handle.read_exact_at(&mut last, len - 1)?;
            if last[0] != b'\n' {
                buf.push(b'\n');
            }
        }
        for event in events {
            serde_json::to_writer(&mut buf, event).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        handle.write_all(&buf)?;
        if durable {
            handle.sync_data()?;
            if !existed {
                File::open(&dir)?.sync_all()?;
            }
        }
        Ok(())
    }

    /// Calls `each(sequence number, event)` for every event of `file`, in the order they were
    /// written (a file never written holds none). Lines that are not events are skipped but
    /// keep their number.
    pub fn scan(&self, file: &str, mut each: impl FnMut(u64, StoredEvent)) -> std::io::Result<()> {
        let handle = match File::open(self.path(file)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut reader = BufReader::with_capacity(64 * 1024, handle);
        let mut line = Vec::new();
        let mut seq = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            if line.last() != Some(&b'\n') {
                // Being written, or cut by a crash: not an event yet.
                return Ok(());
            }
            seq += 1;
            if let Ok(event) = serde_json::from_slice::<StoredEvent>(&line) {
                each(seq, event);
            }
        }
    }

    /// Deletes the event files of `files` (missing ones are no error), then the directories
    /// left empty. Errors are logged: a file left behind is only disk space.
    pub fn remove(&self, files: &[String]) {
        for file in files {
            let path = self.path(file);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("cannot delete log events {}: {e}", path.display());
            }
            // The group's directory, once it holds nothing (remove_dir refuses otherwise).
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// A name as a file name: `[A-Za-z0-9._-]` kept, anything else `_`, at most 100 characters.
fn clean(name: &str) -> String {
    let cleaned: String =
        name.chars().take(100).map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    match cleaned.as_str() {
        "" | "." | ".." => format!("_{cleaned}"),
        _ => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: i64, m: &str) -> StoredEvent {
        StoredEvent { timestamp: t, ingestion_time: t + 1, message: m.to_string() }
    }

    fn all(store: &EventStore, file: &str) -> Vec<(u64, StoredEvent)> {
        let mut out = Vec::new();
        store.scan(file, |seq, e| out.push((seq, e))).unwrap();
        out
    }

    #[test]
    fn events_come_back_in_write_order_with_their_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::new(dir.path());
        let file = EventStore::new_file("1", "us-east-1", "/ecs/web", "ecs/app/abc");
        assert!(file.starts_with("1/us-east-1/_ecs_web/ecs_app_abc-"), "{file}");
        assert!(all(&store, &file).is_empty(), "a file never written holds no events");
        store.append(&file, &[event(5, "one"), event(3, "two \"quoted\"\nnewline")], true).unwrap();
        store.append(&file, &[event(9, "three")], false).unwrap();
        let got = all(&store, &file);
        assert_eq!(got, vec![(1, event(5, "one")), (2, event(3, "two \"quoted\"\nnewline")), (3, event(9, "three"))]);
    }

    #[test]
    fn a_line_cut_by_a_crash_is_skipped_and_not_glued_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::new(dir.path());
        let file = "a/b/g/s-1.jsonl";
        store.append(file, &[event(1, "first")], false).unwrap();
        // A crash in the middle of a line.
        let path = dir.path().join(DIR).join(file);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"t":2,"i":2,"m":"cu"#).unwrap();
        assert_eq!(all(&store, file).len(), 1, "a line without its newline is not an event yet");
        store.append(file, &[event(3, "after")], false).unwrap();
        let got = all(&store, file);
        assert_eq!(got, vec![(1, event(1, "first")), (3, event(3, "after"))]);
    }

    #[test]
    fn removing_files_removes_the_emptied_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = EventStore::new(dir.path());
        let (a, b) = ("x/y/g/a-1.jsonl".to_string(), "x/y/g/b-2.jsonl".to_string());
        store.append(&a, &[event(1, "a")], false).unwrap();
        store.append(&b, &[event(1, "b")], false).unwrap();
        store.remove(std::slice::from_ref(&a));
        assert!(dir.path().join(DIR).join("x/y/g").is_dir(), "b is still there");
        store.remove(&[b, "x/y/g/never-written.jsonl".to_string()]);
        assert!(!dir.path().join(DIR).join("x/y/g").exists());
        assert_eq!(clean(".."), "_..");
        assert_eq!(clean("a/b:c*"), "a_b_c_");
    }
}
