//! `ferry local logs TASK [--container NAME]`: a task's container logs, from the state
//! directory of the ferry local that ran it (said on stderr, not with `-q`; stdout is only
//! the log). With `--output json`, a line `{"type": "log", "task", "container", "line"}` per
//! log line, then the result object.
//!
//! `ferry local logs --access`: the load balancers' access log (`logs/elb-access.log`, a
//! JSON line per request through a listener), a readable line per request; with
//! `--output json`, the entries as `{"type": "access", …}` lines, then the result object.

use std::path::{Path, PathBuf};

use super::instances;
use crate::Failure;
use crate::output::Printer;

pub async fn run(
    printer: &Printer,
    state_dir: Option<&Path>,
    default_dir: Option<PathBuf>,
    task: &str,
    container: Option<&str>,
) -> Result<(), Failure> {
    let id = task_id(task)?;
    if let Some(name) = container
        && (name.is_empty() || name.contains('/') || name.starts_with('.'))
    {
        return Err(Failure::input(format!("--container {name:?} is not a container name (as in the task definition, e.g. web)")));
    }
    let places = places(printer, state_dir, default_dir).await;
    let Some((dir, whose)) = places.iter().find(|(dir, _)| ferry_local::task_log_dir(dir, id).is_dir()) else {
        let looked: Vec<String> = places.iter().map(|(dir, _)| ferry_local::task_log_dir(dir, id).display().to_string()).collect();
        return Err(Failure::input(format!(
            "no logs for task {id} under {}; task ids are the last part of a task ARN (`aws ecs list-tasks --cluster CLUSTER`), and a task's logs are kept for an hour after it stops",
            if looked.is_empty() { "any state directory".to_string() } else { looked.join(" or ") }
        )));
    };
    let task_dir = ferry_local::task_log_dir(dir, id);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&task_dir)
        .map_err(|e| Failure::platform(format!("cannot read {}: {e}", task_dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    if let Some(name) = container {
        let names: Vec<String> = files.iter().filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().to_string())).collect();
        files.retain(|p| p.file_stem().is_some_and(|s| s == name));
        if files.is_empty() {
            return Err(Failure::input(format!("task {id} has no container named {name}; it has: {}", names.join(", "))));
        }
    }
    printer.block(&format!("logs of task {id} from {}{whose}", dir.display()));
    let several = files.len() > 1;
    let (mut containers, mut lines) = (Vec::new(), 0usize);
    for file in files {
        let bytes = std::fs::read(&file).map_err(|e| Failure::platform(format!("{}: {e}", file.display())))?;
        // A program may write anything: bytes that are not UTF-8 are shown as U+FFFD.
        let text = String::from_utf8_lossy(&bytes);
        let name = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        if printer.json() {
            for line in text.lines() {
                printer.json_line(&serde_json::json!({"type": "log", "task": id, "container": name, "line": line}));
            }
        } else {
            if several {
                printer.out(&format!("==> {name} <=="));
            }
            // A last line without its newline gets one, so the next header starts a line.
            if !text.is_empty() {
                printer.out(text.strip_suffix('\n').unwrap_or(&text));
            }
        }
        lines += text.lines().count();
        containers.push(name);
    }
    if printer.json() {
        printer.json_line(&super::result(
            "local logs",
            serde_json::json!({"task": id, "state_dir": dir, "containers": containers, "lines": lines}),
        ));
    }
    Ok(())
}

/// Where to look for logs, with what to say about each place: the given state directory;
/// else every running ferry local's, then the default one.
async fn places(printer: &Printer, state_dir: Option<&Path>, default_dir: Option<PathBuf>) -> Vec<(PathBuf, String)> {
    let mut places: Vec<(PathBuf, String)> = Vec::new();
    match state_dir {
        Some(dir) => places.push((instances::absolute(dir), String::new())),
        None => {
            let found = instances::discover().await;
            found.say_removed(printer);
            for record in found.live.iter().chain(&found.unresponsive) {
                if let Some(dir) = &record.state_dir {
                    places.push((dir.clone(), format!(" (ferry local pid {} at {})", record.pid, record.endpoint)));
                }
            }
            if let Some(dir) = default_dir.map(|d| instances::absolute(&d))
                && !places.iter().any(|(p, _)| *p == dir)
            {
                places.push((dir, " (the default state directory)".to_string()));
            }
        }
    }
    places
}

/// `ferry local logs --access`: the access log of the first place that has one.
pub async fn run_access(printer: &Printer, state_dir: Option<&Path>, default_dir: Option<PathBuf>) -> Result<(), Failure> {
    let places = places(printer, state_dir, default_dir).await;
    let file = |dir: &Path| dir.join("logs").join(ferry_local::ACCESS_LOG);
    let Some((dir, whose)) = places.iter().find(|(dir, _)| file(dir).is_file()) else {
        let looked: Vec<String> = places.iter().map(|(dir, _)| file(dir).display().to_string()).collect();
        return Err(Failure::input(format!(
            "no access log under {}; ferry local writes one once a request reaches a load balancer's listener (aws elbv2 describe-listeners says where they listen)",
            if looked.is_empty() { "any state directory".to_string() } else { looked.join(" or ") }
        )));
    };
    printer.block(&format!("access log from {}{whose}", dir.display()));
    let path = file(dir);
    // The rotated file first, when there is one: the lines in the order they were written.
    let mut text = std::fs::read(path.with_extension("log.1")).unwrap_or_default();
    text.extend(std::fs::read(&path).map_err(|e| Failure::platform(format!("{}: {e}", path.display())))?);
    let text = String::from_utf8_lossy(&text);
    let mut requests = 0usize;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        requests += 1;
        let entry: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(line).ok();
        match (printer.json(), entry) {
            (true, Some(entry)) => {
                let mut out = serde_json::Map::new();
                out.insert("type".into(), "access".into());
                out.extend(entry);
                printer.json_line(&serde_json::Value::Object(out));
            }
            (true, None) => printer.json_line(&serde_json::json!({"type": "access", "line": line})),
            (false, Some(entry)) => printer.out(&access_line(&entry)),
            (false, None) => printer.out(line),
        }
    }
    if printer.json() {
        printer.json_line(&super::result("local logs", serde_json::json!({"access_log": path, "state_dir": dir, "requests": requests})));
    }
    Ok(())
}

/// One access log entry, readable:
/// `2026-11-30T12:00:00.123Z :80 GET shop.local/cart -> rule 10 forward web-blue 127.0.0.1:41234 200 1.2 ms`.
fn access_line(entry: &serde_json::Map<String, serde_json::Value>) -> String {
    let text = |key: &str| entry.get(key).and_then(serde_json::Value::as_str).unwrap_or("-");
    let number = |key: &str| entry.get(key).and_then(serde_json::Value::as_f64);
    let mut line = format!(
        "{} :{} {} {}{} -> rule {} {}",
        text("time"),
        number("port").unwrap_or(0.0),
        text("method"),
        text("host"),
        text("path"),
        text("rule"),
        text("action"),
    );
    if entry.get("target_group").is_some_and(|v| !v.is_null()) {
        line.push_str(&format!(" {} {}", text("target_group"), text("target")));
    }
    line.push_str(&format!(" {} {:.1} ms", number("status").unwrap_or(0.0), number("latency_ms").unwrap_or(0.0)));
    if let Some(error) = entry.get("error").and_then(serde_json::Value::as_str) {
        line.push_str(&format!(" ({error})"));
    }
    line
}

/// The task id of a task id or ARN; anything that could leave the logs directory is refused.
fn task_id(task: &str) -> Result<&str, Failure> {
    let id = task.rsplit('/').next().unwrap_or(task);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Failure::input(format!(
            "{task:?} is not a task id or ARN (e.g. 7c9e6679f4a54c2d8b1a0c3e5f7a9b1d or arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID)"
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_log_entry_reads_as_where_the_request_went() {
        let entry = serde_json::json!({"time": "2026-11-30T12:00:00.123Z", "port": 80, "method": "GET", "host": "shop.local",
            "path": "/cart", "rule": "10", "action": "forward", "target_group": "web-blue", "target": "127.0.0.1:41234",
            "status": 200, "latency_ms": 1.234, "error": null});
        assert_eq!(
            access_line(entry.as_object().unwrap()),
            "2026-11-30T12:00:00.123Z :80 GET shop.local/cart -> rule 10 forward web-blue 127.0.0.1:41234 200 1.2 ms"
        );
        let refused = serde_json::json!({"time": "t", "port": 80, "method": "GET", "host": "h", "path": "/", "rule": "default",
            "action": "forward", "target_group": "web", "target": "127.0.0.1:1", "status": 502, "latency_ms": 0.5, "error": "TargetConnectionError"});
        assert!(access_line(refused.as_object().unwrap()).ends_with("502 0.5 ms (TargetConnectionError)"));
    }

    #[test]
    fn a_task_argument_cannot_leave_the_logs_directory() {
        assert_eq!(task_id("arn:aws:ecs:us-east-1:000000000000:task/dev/abc123").unwrap(), "abc123");
        assert!(task_id("..").is_err());
        assert!(task_id("arn:aws:ecs:us-east-1:000000000000:task/dev/").is_err());
        assert!(task_id("a b").is_err());
    }
}
