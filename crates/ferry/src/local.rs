//! `ferry local up | down | status | logs | push-image`: the embedded AWS endpoint's
//! commands, a file each under `local/`. `instances` is how they find a running ferry local.

mod down;
pub mod instances;
mod logs;
pub mod push_image;
mod status;
mod up;

use std::path::PathBuf;

use crate::Failure;
use crate::cli::{GlobalArgs, LocalCommand, StateDirArg};

pub async fn run(global: &GlobalArgs, command: LocalCommand) -> Result<(), Failure> {
    match command {
        LocalCommand::Up { port, state, detach } => up::run(port, &state_dir(&state)?, detach).await,
        LocalCommand::Down { state } => down::run(state.state_dir.as_deref()).await,
        LocalCommand::Status { state, json } => status::run(state.state_dir.as_deref(), json).await,
        LocalCommand::Logs { task, container, state } => {
            logs::run(state.state_dir.as_deref(), default_state_dir(), &task, container.as_deref()).await
        }
        LocalCommand::PushImage(args) => push_image::run(global, args).await,
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
