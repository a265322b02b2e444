//! `ferry local logs TASK [--container NAME]`: a task's container logs, from the state
//! directory of the ferry local that ran it (said on stderr, not with `-q`; stdout is only
//! the log). With `--output json`, a line `{"type": "log", "task", "container", "line"}` per
//! log line, then the result object.

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

    // Where to look, with what to say about each place.
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
    fn a_task_argument_cannot_leave_the_logs_directory() {
        assert_eq!(task_id("arn:aws:ecs:us-east-1:000000000000:task/dev/abc123").unwrap(), "abc123");
        assert!(task_id("..").is_err());
        assert!(task_id("arn:aws:ecs:us-east-1:000000000000:task/dev/").is_err());
        assert!(task_id("a b").is_err());
    }
}
