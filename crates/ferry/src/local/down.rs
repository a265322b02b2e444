//! `ferry local down`: stop the ferry local `up` started (its tasks stop, its state is
//! saved), saying which one.

use std::path::Path;
use std::time::Duration;

use super::instances::{self, Discovery, Record};
use crate::Failure;
use crate::output::Printer;

/// Text: which one it stops, then that it stopped. JSON: one result object (`stopped`, and
/// the pid, endpoint and state directory of the one stopped). `-q`: nothing.
pub async fn run(printer: &Printer, state_dir: Option<&Path>) -> Result<(), Failure> {
    match state_dir {
        Some(dir) => {
            let (found, stale) = instances::at_state_dir(dir).await;
            if let Some((record, why)) = &stale {
                instances::say_stale(printer, record, why);
            }
            match found {
                Some((record, _)) => stop(printer, &record).await,
                None => {
                    let looked = format!("state directory {}", instances::absolute(dir).display());
                    not_running(printer, &format!("ferry local is not running in {} (no live pid file there)", dir.display()), &looked);
                    Ok(())
                }
            }
        }
        None => {
            let found = instances::discover().await;
            found.say_removed(printer);
            let mut all = found.live.clone();
            all.extend(found.unresponsive.iter().cloned());
            match all.as_slice() {
                [] => {
                    let looked = found.searched.join(" and ");
                    not_running(printer, &format!("ferry local is not running (looked at {looked})"), &looked);
                    Ok(())
                }
                [record] => stop(printer, record).await,
                several => Err(several_running(several, &found)),
            }
        }
    }
}

/// Nothing to stop: not an error (`down` is what a script runs to be sure).
fn not_running(printer: &Printer, text: &str, looked: &str) {
    if printer.json() {
        printer.json_line(&super::result("local down", serde_json::json!({"stopped": false, "running": false, "looked": looked})));
    } else if !printer.quiet {
        printer.out(text);
    }
}

/// Several are running: stop none and say how to stop each.
fn several_running(several: &[Record], found: &Discovery) -> Failure {
    let mut message = format!("{} ferry locals are running; say which to stop (nothing was stopped):", several.len());
    for record in several {
        let how = match &record.state_dir {
            Some(dir) => format!("ferry local down --state-dir {}", instances::shell_word(dir)),
            None => format!("curl -X POST {}/_ferry/shutdown", record.endpoint),
        };
        let silent = if found.unresponsive.contains(record) { " (not answering)" } else { "" };
        message.push_str(&format!("\n  {}{silent}: {how}", record.describe()));
    }
    Failure::input(message)
}

async fn stop(printer: &Printer, record: &Record) -> Result<(), Failure> {
    if !printer.quiet {
        printer.out(&format!("stopping ferry local {}", record.describe()));
    }
    let asked = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| Failure::internal(e.to_string()))?
        .post(format!("{}/_ferry/shutdown", record.endpoint))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if !asked {
        // It does not answer; its record (checked against its command line) says it is a
        // ferry local, so ask it the way Ctrl-C would.
        if let Some(pid) = i32::try_from(record.pid).ok().filter(|p| *p > 0).and_then(rustix::process::Pid::from_raw) {
            // Gone already, or not ours to signal: the wait below tells which.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while instances::pid_exists(record.pid) {
        if tokio::time::Instant::now() >= deadline {
            let log = match &record.state_dir {
                Some(dir) => format!("; its log (when started with --detach) is {}", dir.join("ferry-local.log").display()),
                None => String::new(),
            };
            return Err(Failure::platform(format!(
                "ferry local (pid {}) did not stop within 60 s{log}; `kill {}` stops it",
                record.pid, record.pid
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    instances::unregister(record);
    if printer.json() {
        printer.json_line(&super::result(
            "local down",
            serde_json::json!({"stopped": true, "pid": record.pid, "endpoint": record.endpoint, "state_dir": record.state_dir}),
        ));
        return Ok(());
    }
    if printer.quiet {
        return Ok(());
    }
    match &record.state_dir {
        Some(dir) => printer.out(&format!("ferry local stopped (pid {}); state kept in {}", record.pid, dir.display())),
        None => printer.out(&format!("ferry local stopped (pid {})", record.pid)),
    }
    Ok(())
}
