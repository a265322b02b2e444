//! The proxies' access log: one JSON line per request in `<state dir>/logs/elb-access.log`,
//! so a user can see where a request went (`ferry local logs --access`). It carries what
//! an ALB access log entry says about routing (Elastic Load Balancing, "Access log entries":
//! `time`, `elb`, `client:port`, `target:port`, `elb_status_code`, `request`,
//! `target_group_arn`, `matched_rule_priority`, `actions_executed`, `error_reason`) in
//! ferry local's words:
//!
//! ```json
//! {"time":"2026-11-30T12:00:00.123Z","listener":"arn:…:listener/app/web/…/…","port":80,
//!  "client":"127.0.0.1:50312","method":"GET","host":"127.42.0.1","path":"/cart",
//!  "rule":"10","action":"forward","target_group":"web-blue","target":"127.0.0.1:41234",
//!  "status":200,"latency_ms":1.234,"error":null}
//! ```
//!
//! `latency_ms` runs from the request's arrival to its answer's headers. A request only
//! pushes its entry onto a buffer (a mutex held for the push, never across an await, and no
//! task woken); one task writes what gathered every 250 ms and flushes it, so the file is
//! at most that much behind and a request never waits for the disk. When 64k entries are
//! waiting, further ones are dropped and counted (`accessLogDropped` in `/_ferry/status`).
//! The file is rotated at 16 MiB: the previous one is kept as `elb-access.log.1`. A
//! `method`, `host` or `path` longer than 1 KiB is cut there and ends with `…` (a character
//! no request line or `Host` header can hold), so the waiting entries take bounded memory
//! however large the requests' headers.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// The access log's file name under `<state dir>/logs/`.
pub const FILE_NAME: &str = "elb-access.log";
const ROTATE_AT: u64 = 16 * 1024 * 1024;
const QUEUE: usize = 65_536;
/// How often the writer takes what gathered.
const SWEEP: Duration = Duration::from_millis(250);
/// The most bytes of a request's method, host or path an entry keeps.
pub const FIELD_LIMIT: usize = 1024;
/// Ends a field that was cut at `FIELD_LIMIT`.
const CUT: &str = "…";

/// `text` as an entry keeps it: whole when it is at most `FIELD_LIMIT` bytes, else its first
/// `FIELD_LIMIT` bytes (at a character boundary) followed by `…`. Copies only what is kept.
pub fn clipped(text: &str) -> String {
    if text.len() <= FIELD_LIMIT {
        return text.to_string();
    }
    let mut end = FIELD_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = String::with_capacity(end + CUT.len());
    kept.push_str(&text[..end]);
    kept.push_str(CUT);
    kept
}

/// Cuts `field` as `clipped` does, giving back the memory it no longer needs.
fn clip(field: &mut String) {
    if field.len() > FIELD_LIMIT {
        *field = clipped(field);
    }
}

/// One proxied request.
#[derive(Debug, Serialize)]
pub struct Entry {
    /// When it arrived, in seconds since the epoch; written as RFC 3339 in UTC with
    /// milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub time: f64,
    #[serde(serialize_with = "shared_str")]
    pub listener: Arc<str>,
    pub port: u16,
    pub client: SocketAddr,
    pub method: String,
    pub host: Option<String>,
    pub path: String,
    /// The matched rule's priority (`default` for the default rule); None when no rule
    /// matched.
    #[serde(serialize_with = "optional_shared_str")]
    pub rule: Option<Arc<str>>,
    /// `forward`, `fixed-response` or `redirect`.
    pub action: Option<&'static str>,
    #[serde(serialize_with = "optional_shared_str")]
    pub target_group: Option<Arc<str>>,
    #[serde(serialize_with = "optional_shared_str")]
    pub target: Option<Arc<str>>,
    pub status: u16,
    pub latency_ms: f64,
    /// Why the load balancer answered itself with an error (ALB's `error_reason` codes:
    /// `TargetConnectionError`, `TargetResponseError`, `TargetTimeout`, …).
    pub error: Option<&'static str>,
}

fn rfc3339<S: serde::Serializer>(seconds: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::protocol::iso8601(*seconds))
}

fn shared_str<S: serde::Serializer>(value: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value)
}

fn optional_shared_str<S: serde::Serializer>(value: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_some(&**v),
        None => s.serialize_none(),
    }
}

/// Where proxies put their entries.
#[derive(Clone, Default)]
pub struct AccessLog {
    inner: Arc<Buffer>,
}

#[derive(Default)]
struct Buffer {
    entries: Mutex<Vec<Entry>>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Adds an entry; drops it (and counts it) when the writer is that far behind. Its
    /// method, host and path are cut at `FIELD_LIMIT` bytes if the caller did not.
    pub fn write(&self, mut entry: Entry) {
        clip(&mut entry.method);
        if let Some(host) = &mut entry.host {
            clip(host);
        }
        clip(&mut entry.path);
        let mut entries = self.inner.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() < QUEUE {
            entries.push(entry);
        } else {
            drop(entries);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    fn take(&self, spare: &mut Vec<Entry>) {
        std::mem::swap(&mut *self.inner.entries.lock().unwrap_or_else(PoisonError::into_inner), spare);
    }
}

struct File {
    path: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
    size: u64,
    failed: bool,
}

impl File {
    fn open(&mut self) -> Option<&mut std::io::BufWriter<std::fs::File>> {
        if self.out.is_none() {
            match std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
                Ok(file) => {
                    self.size = file.metadata().map(|m| m.len()).unwrap_or(0);
                    self.out = Some(std::io::BufWriter::with_capacity(64 * 1024, file));
                    self.failed = false;
                }
                Err(e) => {
                    if !self.failed {
                        tracing::warn!("cannot write the access log {}: {e}", self.path.display());
                        self.failed = true;
                    }
                    return None;
                }
            }
        }
        self.out.as_mut()
    }

    fn append(&mut self, entry: &Entry) {
        let Ok(mut line) = serde_json::to_vec(entry) else { return };
        line.push(b'\n');
        if self.size + line.len() as u64 > ROTATE_AT {
            self.flush();
            self.out = None;
            let _ = std::fs::rename(&self.path, self.path.with_extension("log.1"));
        }
        let Some(out) = self.open() else { return };
        if out.write_all(&line).is_ok() {
            self.size += line.len() as u64;
        }
    }

    fn flush(&mut self) {
        if let Some(out) = &mut self.out
            && let Err(e) = out.flush()
        {
            tracing::warn!("cannot write the access log {}: {e}", self.path.display());
            self.out = None;
        }
    }
}

/// Writes what `log` gathers to `logs_dir`'s access log until `shutdown` fires (or its
/// sender is dropped), then writes the rest and returns.
pub async fn writer(logs_dir: PathBuf, log: AccessLog, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let path = logs_dir.join(FILE_NAME);
    let mut file = File { path, out: None, size: 0, failed: false };
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::new();
    loop {
        let stop = tokio::select! {
            _ = sweep.tick() => false,
            _ = shutdown.changed() => true,
        };
        log.take(&mut batch);
        if !batch.is_empty() {
            // Serializing and writing a batch takes milliseconds under load: on a blocking
            // thread, so that the proxies sharing this runtime's one thread never stall
            // behind it (measured before: 8–10 ms stalls every 250 ms at full load).
            let path = file.path.clone();
            let written = tokio::task::spawn_blocking(move || {
                for entry in batch.drain(..) {
                    file.append(&entry);
                }
                file.flush();
                (file, batch)
            })
            .await;
            (file, batch) = match written {
                Ok(back) => back,
                Err(e) => {
                    tracing::warn!("the access log writer failed ({e}); reopening {}", path.display());
                    (File { path, out: None, size: 0, failed: false }, Vec::new())
                }
            };
        }
        if stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: u16) -> Entry {
        Entry {
            time: 1_795_000_000.5,
            listener: Arc::from("arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/web/1/2"),
            port: 80,
            client: "127.0.0.1:5000".parse().unwrap(),
            method: "GET".into(),
            host: Some("127.42.0.1".into()),
            path: "/".into(),
            rule: Some(Arc::from("default")),
            action: Some("forward"),
            target_group: Some(Arc::from("web")),
            target: Some(Arc::from("127.0.0.1:8080")),
            status,
            latency_ms: 1.5,
            error: None,
        }
    }

    #[tokio::test]
    async fn entries_are_json_lines_flushed_by_shutdown() {
        let dir = tempfile_dir();
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let log = AccessLog::default();
        let task = tokio::spawn(writer(dir.clone(), log.clone(), rx));
        log.write(entry(200));
        log.write(entry(503));
        let _ = shutdown.send(true);
        task.await.unwrap();
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        let statuses: Vec<u64> =
            text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, vec![200, 503]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_queued_entry_keeps_at_most_a_kib_of_a_huge_host_and_path() {
        let log = AccessLog::default();
        let mut huge = entry(200);
        huge.host = Some("h".repeat(60_000));
        huge.path = format!("/{}", "é".repeat(30_000));
        huge.method = "M".repeat(5_000);
        log.write(huge);
        log.write(entry(200));
        let mut queued = Vec::new();
        log.take(&mut queued);
        let (cut, whole) = (&queued[0], &queued[1]);
        let host = cut.host.as_deref().unwrap();
        assert_eq!(host, format!("{}…", "h".repeat(FIELD_LIMIT)));
        assert!(cut.host.as_ref().unwrap().capacity() <= FIELD_LIMIT + CUT.len());
        assert!(cut.path.len() <= FIELD_LIMIT + CUT.len() && cut.path.ends_with('…') && cut.path.starts_with("/éé"));
        assert!(cut.path.capacity() <= FIELD_LIMIT + CUT.len());
        assert_eq!(cut.method.len(), FIELD_LIMIT + CUT.len());
        assert_eq!((whole.host.as_deref(), whole.path.as_str(), whole.method.as_str()), (Some("127.42.0.1"), "/", "GET"));
        let line: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(cut).unwrap()).unwrap();
        assert!(line["host"].as_str().unwrap().ends_with('…'));
        assert_eq!(clipped("/short"), "/short");
        assert_eq!(clipped(&"x".repeat(FIELD_LIMIT)), "x".repeat(FIELD_LIMIT));
    }

    #[test]
    fn a_full_file_is_rotated_and_the_new_one_starts_empty() {
        let dir = tempfile_dir();
        let path = dir.join(FILE_NAME);
        std::fs::write(&path, vec![b'x'; ROTATE_AT as usize - 10]).unwrap();
        let mut file = File { path: path.clone(), out: None, size: 0, failed: false };
        file.open();
        file.append(&entry(200));
        file.flush();
        assert_eq!(std::fs::metadata(path.with_extension("log.1")).unwrap().len(), ROTATE_AT - 10);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferry-access-log-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
