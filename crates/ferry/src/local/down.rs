//! `ferry local down`: stop the ferry local `up` started (its tasks stop, its state is
//! saved), saying which one.

use std::path::Path;
use std::time::Duration;

use super::instances::{self, Discovery, Record};
use crate::Failure;

pub async fn run(state_dir: Option<&Path>) -> Result<(), Failure> {
    match state_dir {
        Some(dir) => {
            let (found, stale) = instances::at_state_dir(dir).await;
            if let Some((record, why)) = &stale {
                eprintln!("note: removed the stale record of ferry local {} ({why})", record.describe());
            }
            match found {
                Some((record, _)) => stop(&record).await,
                None => {
                    println!("ferry local is not running in {} (no live pid file there)", dir.display());
                    Ok(())
                }
            }
        }
        None => {
            let found = instances::discover().await;
            found.print_removed();
            let mut all = found.live.clone();
            all.extend(found.unresponsive.iter().cloned());
            match all.as_slice() {
                [] => {
                    println!("ferry local is not running (looked at {})", found.searched.join(" and "));
                    Ok(())
                }
                [record] => stop(record).await,
                several => Err(several_running(several, &found)),
            }
        }
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

async fn stop(record: &Record) -> Result<(), Failure> {
    println!("stopping ferry local {}", record.describe());
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
    match &record.state_dir {
        Some(dir) => println!("ferry local stopped (pid {}); state kept in {}", record.pid, dir.display()),
        None => println!("ferry local stopped (pid {})", record.pid),
    }
    Ok(())
}
