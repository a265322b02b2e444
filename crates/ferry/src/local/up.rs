//! `ferry local up [--detach]`: start ferry local, record it, and say how to stop it in
//! words that work as printed.

use std::path::Path;
use std::time::Duration;

use ferry_local::{LocalError, LocalServer, Options};

use super::instances::{self, Record};
use crate::Failure;
use crate::output::Printer;

const LOG_FILE: &str = "ferry-local.log";

/// The timings `up` scales (`--health-check-scale`, `--minute-seconds`).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub health_check_scale: f64,
    pub minute_seconds: f64,
}

pub async fn run(printer: &Printer, port: u16, dir: &Path, detach: bool, timing: Timing) -> Result<(), Failure> {
    let (existing, stale) = instances::at_state_dir(dir).await;
    if let Some((record, why)) = stale {
        instances::say_stale(printer, &record, &why);
    }
    if let Some((record, _)) = existing {
        return Err(Failure::input(format!(
            "ferry local already runs for this state directory ({}); stop it with `{}`, or start another one with --state-dir DIR --port 0",
            record.describe(),
            instances::down_command(dir).await
        )));
    }
    if detach { up_detached(printer, port, dir, timing).await } else { up(printer, port, dir, timing).await }
}

/// Why a port cannot be used, with what to do about it.
async fn bind_failure(port: u16, error: LocalError) -> Failure {
    if let LocalError::Bind { .. } = error {
        let endpoint = format!("http://127.0.0.1:{port}");
        if let Some(pid) = instances::probe(&endpoint).await {
            return Failure::platform(format!(
                "{error}: another ferry local (pid {pid}) listens there; `ferry local status` says which, or pick a free port with --port 0"
            ));
        }
        return Failure::platform(format!("{error}: pick another port with --port N (0 picks a free one)"));
    }
    Failure::platform(error.to_string())
}

/// In the foreground: the result (or, with `-q`, the endpoint) once it listens, then what
/// happens as it stops.
async fn up(printer: &Printer, port: u16, dir: &Path, timing: Timing) -> Result<(), Failure> {
    let Timing { health_check_scale, minute_seconds } = timing;
    let options = Options { port, state_dir: dir.to_path_buf(), health_check_scale, minute_seconds };
    let server = match LocalServer::start(options).await {
        Ok(server) => server,
        Err(e) => return Err(bind_failure(port, e).await),
    };
    let endpoint = server.endpoint();
    let record = Record {
        pid: std::process::id(),
        endpoint: endpoint.clone(),
        state_dir: Some(instances::absolute(dir)),
        started_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs()),
    };
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            server.shutdown().await;
            return Err(Failure::platform(format!("cannot handle SIGTERM: {e}")));
        }
    };
    if let Err(failure) = instances::register(printer, &record) {
        server.shutdown().await;
        return Err(failure);
    }
    let state_dir = instances::absolute(dir);
    let stop = instances::down_command(dir).await;
    if printer.json() {
        printer.json_line(&super::result(
            "local up",
            serde_json::json!({"endpoint": endpoint, "pid": record.pid, "state_dir": state_dir, "detached": false, "stop": stop}),
        ));
    } else if printer.quiet {
        printer.out(&endpoint);
    } else {
        printer.out(&format!("ferry local listening on {endpoint} (pid {})", record.pid));
        printer.out(&format!("  state and task logs: {}", state_dir.display()));
        if health_check_scale != 1.0 {
            printer.out(&format!("  health checks: intervals and timeouts x {health_check_scale} (--health-check-scale)"));
        }
        if minute_seconds != 60.0 {
            printer.out(&format!("  deployment minutes: {minute_seconds} s each (--minute-seconds)"));
        }
        printer.out(&format!("  try: aws --endpoint-url {endpoint} --region us-east-1 ecs list-clusters"));
        printer.out(&format!("  stop it with Ctrl-C or `{stop}`"));
    }
    let why = tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated",
        _ = server.shutdown_requested() => "asked",
    };
    if printer.json() {
        printer.json_line(&super::event("local up", "stopping", serde_json::json!({"pid": record.pid, "why": why})));
    } else if !printer.quiet {
        printer.out("ferry local stopping: stopping tasks and saving state");
    }
    server.shutdown().await;
    instances::unregister(&record);
    if printer.json() {
        printer.json_line(&super::event("local up", "stopped", serde_json::json!({"pid": record.pid, "state_dir": state_dir})));
    } else if !printer.quiet {
        printer.out("ferry local stopped");
    }
    Ok(())
}

async fn up_detached(printer: &Printer, port: u16, dir: &Path, timing: Timing) -> Result<(), Failure> {
    let Timing { health_check_scale, minute_seconds } = timing;
    std::fs::create_dir_all(dir).map_err(|e| Failure::platform(format!("cannot create {}: {e}", dir.display())))?;
    let dir = instances::absolute(dir);
    let _ = std::fs::remove_file(dir.join(instances::PID_FILE));
    let exe = super::ferry_exe()?;
    let log_path = dir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path).map_err(|e| Failure::platform(format!("cannot write {}: {e}", log_path.display())))?;
    let log_err = log.try_clone().map_err(|e| Failure::platform(e.to_string()))?;
    let mut command = std::process::Command::new(exe);
    command
        // Its log is text, whatever FERRY_OUTPUT says here.
        .args(["--output", "text", "local", "up", "--port", &port.to_string(), "--health-check-scale", &health_check_scale.to_string()])
        .args(["--minute-seconds", &minute_seconds.to_string()])
        .arg("--state-dir")
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| Failure::platform(format!("cannot start ferry local: {e}")))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let (Some((record, true)), _) = instances::at_state_dir(&dir).await {
            let stop = instances::down_command(&dir).await;
            if printer.json() {
                printer.json_line(&super::result(
                    "local up",
                    serde_json::json!({"endpoint": record.endpoint, "pid": record.pid, "state_dir": dir, "detached": true,
                                       "log": log_path, "stop": stop}),
                ));
            } else if printer.quiet {
                printer.out(&record.endpoint);
            } else {
                printer.out(&format!("ferry local listening on {} (pid {})", record.endpoint, record.pid));
                printer.out(&format!("  state and task logs: {} (its own log: {})", dir.display(), log_path.display()));
                printer.out(&format!("  stop it with `{stop}`"));
            }
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(Failure::platform(format!("ferry local exited ({status}) before it was ready:\n{}", log.trim_end())));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::platform(format!(
                "ferry local (pid {}) did not answer within 30 s; see {}",
                child.id(),
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
