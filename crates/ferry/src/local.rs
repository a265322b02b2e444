//! `ferry local up | down | status | logs | push-image`: the embedded AWS endpoint's
//! commands, a file each under `local/`. `instances` is how they find a running ferry local.
//!
//! Each prints through the one [`Printer`]: text as today, `--output json` as JSON lines on
//! stdout ending with one result object (`"type": "result"`, `"command": "local up"`, …,
//! `"exit_code"`), and `-q` only what a script needs (the endpoint of `up`, the image of
//! `push-image`, nothing for `down`).

mod down;
pub mod instances;
mod logs;
pub mod push_image;
mod status;
mod up;

use std::path::PathBuf;

use crate::Failure;
use crate::cli::{GlobalArgs, LocalCommand, OutputFormat, StateDirArg};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, command: LocalCommand) -> Result<(), Failure> {
    let mut global = global.clone();
    // `ferry local status --json` is `--output json`, as it was before there was one.
    if let LocalCommand::Status { json: true, .. } = &command {
        global.output = OutputFormat::Json;
    }
    let global = &global;
    let printer = Printer::new(global);
    match command {
        // `status` says "not running" in its own result object.
        LocalCommand::Status { state, .. } => status::run(&printer, state.state_dir.as_deref()).await,
        LocalCommand::Up { port, state, detach, health_check_scale, minute_seconds } => {
            let dir = state_dir(&state).inspect_err(|f| crate::output::failure_result(global, "local up", f))?;
            up::run(&printer, port, &dir, detach, up::Timing { health_check_scale, minute_seconds })
                .await
                .inspect_err(|f| crate::output::failure_result(global, "local up", f))
        }
        LocalCommand::Down { state } => {
            down::run(&printer, state.state_dir.as_deref()).await.inspect_err(|f| crate::output::failure_result(global, "local down", f))
        }
        LocalCommand::Logs { task, container, state, access } => {
            let logs = match (access, task) {
                (false, Some(task)) => {
                    logs::run(&printer, state.state_dir.as_deref(), default_state_dir(), &task, container.as_deref()).await
                }
                _ => logs::run_access(&printer, state.state_dir.as_deref(), default_state_dir()).await,
            };
            logs.inspect_err(|f| crate::output::failure_result(global, "local logs", f))
        }
        LocalCommand::PushImage(args) => {
            push_image::run(&printer, global, args).await.inspect_err(|f| crate::output::failure_result(global, "local push-image", f))
        }
    }
}

/// `--state-dir`, else `$XDG_STATE_HOME/ferry/local`, else `~/.local/state/ferry/local`.
pub fn state_dir(arg: &StateDirArg) -> Result<PathBuf, Failure> {
    if let Some(dir) = &arg.state_dir {
        return Ok(dir.clone());
    }
    default_state_dir().ok_or_else(|| Failure::input("cannot find a state directory: set --state-dir, XDG_STATE_HOME or HOME"))
}

/// This ferry binary's path, for task definitions and the detached `up`. When the file was
/// replaced while ferry ran (a rebuild, an upgrade), Linux names the old one
/// `PATH (deleted)`: the new file at PATH is the one to run.
pub fn ferry_exe() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::platform(format!("cannot find the ferry binary: {e}")))?;
    if let Some(live) = exe.to_str().and_then(|p| p.strip_suffix(" (deleted)")).map(PathBuf::from)
        && live.is_file()
    {
        return Ok(live);
    }
    Ok(exe)
}

fn default_state_dir() -> Option<PathBuf> {
    instances::ferry_state_home().map(|home| home.join("local"))
}

/// A result object: `"type": "result"`, the command, `"exit_code": 0`, then `fields`.
fn result(command: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut line = serde_json::json!({"type": "result", "command": command, "exit_code": 0});
    if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    line
}

/// An event of a command that runs on (`up` in the foreground): `"type": "event"`, when, the
/// command, what happened, then `fields`.
fn event(command: &str, what: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut line = serde_json::json!({
        "type": "event", "at": ferry_store::format_rfc3339(crate::output::now_ms()), "command": command, "event": what,
    });
    if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    line
}
