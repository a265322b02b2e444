//! Where running ferry locals are recorded, so that `down`, `status`, `logs` and
//! `push-image` without `--state-dir` find the one `up` started, wherever its state
//! directory is.
//!
//! Each `ferry local up` records itself (pid, endpoint, state directory, start time) twice
//! and removes both records when it stops:
//! - `STATE_DIR/ferry-local.pid`: what `--state-dir DIR` looks up (and what scripts grep);
//! - `$XDG_STATE_HOME/ferry/local-instances/<pid>.json` (else under
//!   `~/.local/state/ferry/`): the list the commands without flags read.
//!
//! A record is believed only when its endpoint's `/_ferry/status` answers with its pid, so
//! a pid the system has since given to another program is never signalled. A record whose
//! process is gone (killed, machine restarted) is stale: it is removed, and said so. When
//! nothing is recorded, the default port (`FERRY_LOCAL_PORT`, else 4590) is probed, which
//! finds a ferry local started under another HOME.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_app::EventSink as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Failure;
use crate::output::Printer;

pub const PID_FILE: &str = "ferry-local.pid";

/// One `ferry local up`, as it recorded itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub pid: u32,
    pub endpoint: String,
    /// Absolute. For an instance found by probing the port, what its `/_ferry/status`
    /// says (None from an older ferry local that does not say).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub started_at: Option<u64>,
}

impl Record {
    /// `pid 4242 at http://127.0.0.1:4590, state dir /home/me/.local/state/ferry/local`
    pub fn describe(&self) -> String {
        let dir = match &self.state_dir {
            Some(dir) => dir.display().to_string(),
            None => "unknown (not recorded; found by its port)".to_string(),
        };
        format!("pid {} at {}, state dir {dir}", self.pid, self.endpoint)
    }
}

/// What a record turned out to be.
pub enum Liveness {
    /// Its endpoint answers with its pid.
    Live,
    /// Its process is alive and looks like ferry local, but the endpoint does not answer.
    Unresponsive,
    /// Gone; the reason in words.
    Stale(String),
}

/// What commands without `--state-dir` found.
#[derive(Default)]
pub struct Discovery {
    pub live: Vec<Record>,
    pub unresponsive: Vec<Record>,
    /// Stale records removed, with why: printed so a user knows what happened to them.
    pub removed: Vec<(Record, String)>,
    /// Where it looked, in words, for "not running" messages.
    pub searched: Vec<String>,
}

impl Discovery {
    /// Says each stale record removed.
    pub fn say_removed(&self, printer: &Printer) {
        for (record, why) in &self.removed {
            say_stale(printer, record, why);
        }
    }
}

/// Says that a stale record was removed: a note on stderr (none with `-q`), or in JSON mode
/// a notice line on stdout.
pub fn say_stale(printer: &Printer, record: &Record, why: &str) {
    let text = format!("removed the stale record of ferry local {} ({why})", record.describe());
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "notice",
            "at": ferry_store::format_rfc3339(crate::output::now_ms()),
            "notice": "stale_record_removed",
            "pid": record.pid,
            "endpoint": record.endpoint,
            "state_dir": record.state_dir,
            "reason": why,
            "message": text,
        }));
        return;
    }
    printer.block(&format!("note: {text}"));
}

/// `$XDG_STATE_HOME/ferry`, else `~/.local/state/ferry`.
pub fn ferry_state_home() -> Option<PathBuf> {
    if let Some(base) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(base).join("ferry"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".local").join("state").join("ferry"))
}

fn registry_dir() -> Option<PathBuf> {
    ferry_state_home().map(|home| home.join("local-instances"))
}

/// The port `up` listens on by default, where commands also probe.
pub fn default_port() -> u16 {
    std::env::var("FERRY_LOCAL_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(ferry_local::DEFAULT_PORT)
}

/// `dir` made absolute (and resolved, when it exists), so records name it the same from any
/// working directory.
pub fn absolute(dir: &Path) -> PathBuf {
    if let Ok(resolved) = dir.canonicalize() {
        return resolved;
    }
    std::env::current_dir().map(|cwd| cwd.join(dir)).unwrap_or_else(|_| dir.to_path_buf())
}

/// Writes both records of a ferry local that just started. The pid file must be written
/// (it is how `--state-dir` finds it); the registry entry is best effort, with a warning.
pub fn register(printer: &Printer, record: &Record) -> Result<(), Failure> {
    let text = serde_json::to_string(record).map_err(|e| Failure::internal(e.to_string()))?;
    if let Some(dir) = &record.state_dir {
        let pid_file = dir.join(PID_FILE);
        std::fs::write(&pid_file, &text).map_err(|e| Failure::platform(format!("cannot write {}: {e}", pid_file.display())))?;
    }
    match registry_dir() {
        Some(registry) => {
            let path = registry.join(format!("{}.json", record.pid));
            if let Err(e) = std::fs::create_dir_all(&registry).and_then(|()| std::fs::write(&path, &text)) {
                printer.warning(&format!(
                    "cannot record this ferry local in {} ({e}); commands will need --state-dir {}",
                    path.display(),
                    record.state_dir.as_deref().unwrap_or(Path::new("DIR")).display()
                ));
            }
        }
        None => printer.warning("neither XDG_STATE_HOME nor HOME is set: commands will need --state-dir to find this ferry local"),
    }
    Ok(())
}

/// Removes both records of `record` (the pid file only if it still names this pid).
pub fn unregister(record: &Record) {
    if let Some(dir) = &record.state_dir {
        let pid_file = dir.join(PID_FILE);
        if read_record(&pid_file).is_some_and(|r| r.pid == record.pid) {
            let _ = std::fs::remove_file(&pid_file);
        }
    }
    if let Some(registry) = registry_dir() {
        let path = registry.join(format!("{}.json", record.pid));
        if read_record(&path).is_some_and(|r| r.endpoint == record.endpoint) {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn read_record(path: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Does a process with this pid exist (ours or another user's)? A zombie (exited, not yet
/// reaped by its parent) does not count.
pub fn pid_exists(pid: u32) -> bool {
    ferry_app::actor::process_alive(pid) && !is_zombie(pid)
}

/// `/proc/PID/stat`'s state is `Z`. False where the system does not say.
fn is_zombie(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // "PID (COMMAND) STATE ...": the command may hold spaces and parentheses.
    stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
}

/// Asks the endpoint's `/_ferry/status` for its pid.
pub async fn probe(endpoint: &str) -> Option<u32> {
    probe_status(endpoint).await.map(|(pid, _)| pid)
}

/// The endpoint's pid and state directory, as its `/_ferry/status` reports them.
async fn probe_status(endpoint: &str) -> Option<(u32, Option<PathBuf>)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
    let response = client.get(format!("{endpoint}/_ferry/status")).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    let pid = body.get("pid")?.as_u64().and_then(|p| u32::try_from(p).ok())?;
    Some((pid, body.get("stateDir").and_then(Value::as_str).map(PathBuf::from)))
}

/// Is this pid's program a `ferry local up`? None where the system does not say (no /proc).
fn runs_ferry_local(pid: u32) -> Option<bool> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    Some(args.windows(2).any(|w| w[0] == b"local" && w[1] == b"up"))
}

pub async fn liveness(record: &Record) -> Liveness {
    if !pid_exists(record.pid) {
        return Liveness::Stale(format!("process {} is gone", record.pid));
    }
    match probe(&record.endpoint).await {
        Some(pid) if pid == record.pid => Liveness::Live,
        Some(other) => Liveness::Stale(format!("{} is now served by pid {other}", record.endpoint)),
        None if runs_ferry_local(record.pid) == Some(false) => {
            Liveness::Stale(format!("pid {} now belongs to another program", record.pid))
        }
        None => Liveness::Unresponsive,
    }
}

/// The ferry local recorded in `dir`'s pid file. A stale pid file is removed and reported.
pub async fn at_state_dir(dir: &Path) -> (Option<(Record, bool)>, Option<(Record, String)>) {
    let pid_file = dir.join(PID_FILE);
    let Some(mut record) = read_record(&pid_file) else { return (None, None) };
    if record.state_dir.is_none() {
        record.state_dir = Some(absolute(dir));
    }
    match liveness(&record).await {
        Liveness::Live => (Some((record, true)), None),
        Liveness::Unresponsive => (Some((record, false)), None),
        Liveness::Stale(why) => {
            unregister(&record);
            let _ = std::fs::remove_file(&pid_file);
            (None, Some((record, why)))
        }
    }
}

/// Every running ferry local `up` recorded; stale records are removed. When none is
/// recorded, whatever ferry local answers on the default port.
pub async fn discover() -> Discovery {
    let mut found = Discovery::default();
    if let Some(registry) = registry_dir() {
        found.searched.push(format!("the records in {}", registry.display()));
        let mut paths: Vec<PathBuf> =
            std::fs::read_dir(&registry).map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
            let Some(record) = read_record(&path) else {
                let _ = std::fs::remove_file(&path);
                continue;
            };
            match liveness(&record).await {
                Liveness::Live => found.live.push(record),
                Liveness::Unresponsive => found.unresponsive.push(record),
                Liveness::Stale(why) => {
                    unregister(&record);
                    let _ = std::fs::remove_file(&path);
                    found.removed.push((record, why));
                }
            }
        }
    }
    if found.live.is_empty() && found.unresponsive.is_empty() {
        let endpoint = format!("http://127.0.0.1:{}", default_port());
        found.searched.push(format!("{endpoint} (the default port)"));
        if let Some((pid, state_dir)) = probe_status(&endpoint).await {
            found.live.push(Record { pid, endpoint, state_dir, started_at: None });
        }
    }
    found
}

/// A path as a shell word: as is when it is plain, else in single quotes.
pub fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | '@' | '%' | ',' | '='));
    if plain { text } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

/// The command that stops the ferry local in `dir`, as short as it can be while still
/// naming that one: `ferry local down` when it is what that finds, else with --state-dir.
pub async fn down_command(dir: &Path) -> String {
    let dir = absolute(dir);
    let from_env = std::env::var_os("FERRY_LOCAL_STATE_DIR").filter(|v| !v.is_empty()).map(|v| absolute(Path::new(&v)));
    let plain_finds_it = match from_env {
        Some(env_dir) => env_dir == dir,
        None => {
            let found = discover().await;
            found.unresponsive.is_empty() && found.live.len() == 1 && found.live[0].state_dir.as_deref() == Some(dir.as_path())
        }
    };
    if plain_finds_it { "ferry local down".to_string() } else { format!("ferry local down --state-dir {}", shell_word(&dir)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_quote_what_a_shell_would_split() {
        assert_eq!(shell_word(Path::new("/tmp/a-b_c.d")), "/tmp/a-b_c.d");
        assert_eq!(shell_word(Path::new("/tmp/my dir")), "'/tmp/my dir'");
        assert_eq!(shell_word(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }

    #[test]
    fn a_record_reads_back_the_way_it_was_written() {
        let record = Record { pid: 42, endpoint: "http://127.0.0.1:1".into(), state_dir: Some("/x".into()), started_at: Some(7) };
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.contains("\"pid\":42"), "scripts grep the pid file for \"pid\":N: {text}");
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
    }
}
