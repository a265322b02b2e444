//! `ferry local up | down | status | logs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_local::{LocalServer, Options};
use serde_json::{Value, json};

use crate::Failure;
use crate::cli::{LocalCommand, StateDirArg};

const PID_FILE: &str = "ferry-local.pid";
const LOG_FILE: &str = "ferry-local.log";

pub async fn run(command: LocalCommand) -> Result<(), Failure> {
    match command {
        LocalCommand::Up { port, state, detach } => {
            let dir = state_dir(&state)?;
            if let Some(running) = running(&dir) {
                return Err(Failure::input(format!(
                    "ferry local already runs for {} (pid {}, {}); stop it with `ferry local down`",
                    dir.display(),
                    running.pid,
                    running.endpoint
                )));
            }
            if detach { up_detached(port, &dir).await } else { up(port, &dir).await }
        }
        LocalCommand::Down { state } => down(&state_dir(&state)?).await,
        LocalCommand::Status { state, json } => status(&state_dir(&state)?, json).await,
        LocalCommand::Logs { task, container, state } => logs(&state_dir(&state)?, &task, container.as_deref()),
    }
}

/// `$XDG_STATE_HOME/ferry/local`, else `~/.local/state/ferry/local`.
pub fn state_dir(arg: &StateDirArg) -> Result<PathBuf, Failure> {
    if let Some(dir) = &arg.state_dir {
        return Ok(dir.clone());
    }
    if let Some(base) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(base).join("ferry").join("local"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::input("cannot find a state directory: set --state-dir, XDG_STATE_HOME or HOME"))?;
    Ok(PathBuf::from(home).join(".local").join("state").join("ferry").join("local"))
}

struct Running {
    pid: i32,
    endpoint: String,
}

/// The ferry local whose pid file is in `dir`, if that process is alive.
fn running(dir: &Path) -> Option<Running> {
    let text = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    let pid = value.get("pid")?.as_i64()? as i32;
    let endpoint = value.get("endpoint")?.as_str()?.to_string();
    // SAFETY: kill with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive.then_some(Running { pid, endpoint })
}

async fn up(port: u16, dir: &Path) -> Result<(), Failure> {
    let server = LocalServer::start(Options { port, state_dir: dir.to_path_buf() })
        .await
        .map_err(|e| Failure::platform(e.to_string()))?;
    let endpoint = server.endpoint();
    let pid_file = dir.join(PID_FILE);
    std::fs::write(&pid_file, json!({"pid": std::process::id(), "endpoint": endpoint}).to_string())
        .map_err(|e| Failure::platform(format!("cannot write {}: {e}", pid_file.display())))?;
    println!("ferry local listening on {endpoint}");
    println!("  state and task logs: {}", dir.display());
    println!("  try: aws --endpoint-url {endpoint} --region us-east-1 ecs list-clusters");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::platform(format!("cannot handle SIGTERM: {e}")))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = server.shutdown_requested() => {}
    }
    println!("ferry local stopping: stopping tasks and saving state");
    server.shutdown().await;
    let _ = std::fs::remove_file(&pid_file);
    println!("ferry local stopped");
    Ok(())
}

async fn up_detached(port: u16, dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::platform(format!("cannot create {}: {e}", dir.display())))?;
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    let exe = std::env::current_exe().map_err(|e| Failure::platform(format!("cannot find the ferry binary: {e}")))?;
    let log_path = dir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Failure::platform(format!("cannot write {}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| Failure::platform(e.to_string()))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(["local", "up", "--port", &port.to_string(), "--state-dir"])
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| Failure::platform(format!("cannot start ferry local: {e}")))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = running(dir)
            && reqwest::get(format!("{}/_ferry/status", r.endpoint)).await.is_ok_and(|r| r.status().is_success())
        {
            println!("ferry local listening on {} (pid {})", r.endpoint, r.pid);
            println!("  state and task logs: {}; stop it with `ferry local down`", dir.display());
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(Failure::platform(format!("ferry local exited ({status}) before it was ready:\n{log}")));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::platform(format!(
                "ferry local did not answer within 30 s; see {}",
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn down(dir: &Path) -> Result<(), Failure> {
    let Some(r) = running(dir) else {
        println!("ferry local is not running (no live pid file in {})", dir.display());
        return Ok(());
    };
    let client = reqwest::Client::new();
    if client.post(format!("{}/_ferry/shutdown", r.endpoint)).send().await.is_err() {
        // SAFETY: asking a process we started to terminate.
        unsafe { libc::kill(r.pid, libc::SIGTERM) };
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // SAFETY: signal 0 only checks that the process exists.
    while unsafe { libc::kill(r.pid, 0) } == 0 {
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::platform(format!("ferry local (pid {}) did not stop within 60 s", r.pid)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("ferry local stopped (pid {}); state kept in {}", r.pid, dir.display());
    Ok(())
}

async fn status(dir: &Path, as_json: bool) -> Result<(), Failure> {
    let Some(r) = running(dir) else {
        if as_json {
            println!("{}", json!({"running": false, "stateDir": dir}));
        } else {
            println!("ferry local is not running (state directory {})", dir.display());
        }
        return Err(Failure::platform("ferry local is not running"));
    };
    let details: Value = match reqwest::get(format!("{}/_ferry/status", r.endpoint)).await {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(e) => return Err(Failure::platform(format!("ferry local (pid {}) does not answer: {e}", r.pid))),
    };
    if as_json {
        println!("{}", json!({"running": true, "endpoint": r.endpoint, "stateDir": dir, "details": details}));
        return Ok(());
    }
    let n = |k: &str| details.get(k).and_then(Value::as_i64).unwrap_or(0);
    println!("ferry local is running at {} (pid {})", r.endpoint, r.pid);
    println!("  state directory: {}", dir.display());
    println!(
        "  clusters: {}  services: {}  running tasks: {}  repositories: {}",
        n("clusters"),
        n("services"),
        n("runningTasks"),
        n("repositories")
    );
    if n("faults") + n("taskFaults") > 0 || details.get("rateLimits") == Some(&Value::Bool(true)) {
        println!(
            "  faults: {} api, {} task; rate limits {}",
            n("faults"),
            n("taskFaults"),
            if details.get("rateLimits") == Some(&Value::Bool(true)) { "on" } else { "off" }
        );
    }
    Ok(())
}

fn logs(dir: &Path, task: &str, container: Option<&str>) -> Result<(), Failure> {
    let id = task.rsplit('/').next().unwrap_or(task);
    let task_dir = ferry_local::task_log_dir(dir, id);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&task_dir)
        .map_err(|_| Failure::input(format!("no logs for task {id} under {}", task_dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    if let Some(name) = container {
        files.retain(|p| p.file_stem().is_some_and(|s| s == name));
        if files.is_empty() {
            return Err(Failure::input(format!("task {id} has no container named {name}")));
        }
    }
    let several = files.len() > 1;
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| Failure::platform(format!("{}: {e}", file.display())))?;
        if several {
            println!("==> {} <==", file.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default());
        }
        print!("{text}");
    }
    Ok(())
}
