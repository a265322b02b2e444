//! `ferry local status [--json]`: is ferry local running, which one (pid, endpoint, state
//! directory), and what is in it. Exits 3 when none runs.
//!
//! `--json` is `--output json`: one result object, whose `running`, `instances` and, for
//! one instance, `pid`, `endpoint`, `state_dir` (also `stateDir`, as it was first spelt) and
//! `details` (what its `/_ferry/status` says) scripts read. `-q` prints the endpoint of each
//! running instance, a line each.

use std::path::Path;

use serde_json::{Value, json};

use super::instances::{self, Record};
use crate::Failure;
use crate::output::Printer;

pub async fn run(printer: &Printer, state_dir: Option<&Path>) -> Result<(), Failure> {
    let (live, unresponsive, looked) = match state_dir {
        Some(dir) => {
            let (found, stale) = instances::at_state_dir(dir).await;
            if let Some((record, why)) = &stale {
                instances::say_stale(printer, record, why);
            }
            match found {
                Some((record, true)) => (vec![record], vec![], String::new()),
                Some((record, false)) => (vec![], vec![record], String::new()),
                None => (vec![], vec![], format!("state directory {}", instances::absolute(dir).display())),
            }
        }
        None => {
            let found = instances::discover().await;
            found.say_removed(printer);
            (found.live, found.unresponsive, found.searched.join(" and "))
        }
    };

    let mut shown = Vec::new();
    for record in &live {
        let details = details(&record.endpoint).await;
        let stop = match &record.state_dir {
            Some(dir) => instances::down_command(dir).await,
            None => format!("curl -X POST {}/_ferry/shutdown", record.endpoint),
        };
        shown.push((record, details, stop));
    }
    let outcome = if shown.is_empty() { Err(Failure::platform("ferry local is not running")) } else { Ok(()) };

    if printer.json() {
        let instances: Vec<Value> = shown
            .iter()
            .map(|(r, details, stop)| {
                json!({"pid": r.pid, "endpoint": r.endpoint, "state_dir": r.state_dir, "stateDir": r.state_dir, "answering": true,
                       "stop": stop, "details": details})
            })
            .chain(unresponsive.iter().map(
                |r| json!({"pid": r.pid, "endpoint": r.endpoint, "state_dir": r.state_dir, "stateDir": r.state_dir, "answering": false}),
            ))
            .collect();
        let mut out = super::result("local status", json!({"running": !shown.is_empty(), "instances": instances}));
        if let (Err(failure), Some(map)) = (&outcome, out.as_object_mut()) {
            map.insert("exit_code".into(), json!(failure.kind().code()));
            map.insert("outcome".into(), json!(failure.kind()));
            map.insert("reason".into(), json!(failure.to_string()));
            map.insert("looked".into(), json!(looked));
        }
        // One instance: its fields at the top, as scripts read them.
        if let ([(r, details, stop)], Some(map)) = (shown.as_slice(), out.as_object_mut()) {
            map.insert("pid".into(), json!(r.pid));
            map.insert("endpoint".into(), json!(r.endpoint));
            map.insert("state_dir".into(), json!(r.state_dir));
            map.insert("stateDir".into(), json!(r.state_dir));
            map.insert("stop".into(), json!(stop));
            map.insert("details".into(), details.clone());
        }
        if let (Some(dir), true, Some(map)) = (state_dir, shown.is_empty(), out.as_object_mut()) {
            map.insert("state_dir".into(), json!(instances::absolute(dir)));
            map.insert("stateDir".into(), json!(instances::absolute(dir)));
        }
        printer.json_line(&out);
    } else if printer.quiet {
        for (record, _, _) in &shown {
            printer.out(&record.endpoint);
        }
    } else {
        for (record, details, stop) in &shown {
            print_one(printer, record, details, stop);
        }
        for record in &unresponsive {
            printer.out(&format!(
                "ferry local pid {} is alive but does not answer at {} (state dir {})",
                record.pid,
                record.endpoint,
                record.state_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default()
            ));
        }
        if shown.is_empty() && unresponsive.is_empty() {
            printer.out(&format!("ferry local is not running (looked at {looked}); start it with `ferry local up --detach`"));
        }
    }
    outcome
}

async fn details(endpoint: &str) -> Value {
    match reqwest::get(format!("{endpoint}/_ferry/status")).await {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn print_one(printer: &Printer, record: &Record, details: &Value, stop: &str) {
    let n = |k: &str| details.get(k).and_then(Value::as_i64).unwrap_or(0);
    printer.out(&format!("ferry local is running at {} (pid {})", record.endpoint, record.pid));
    match &record.state_dir {
        Some(dir) => printer.out(&format!("  state directory: {}", dir.display())),
        None => printer.out("  state directory: unknown (it was not recorded; found on its port)"),
    }
    printer.out(&format!(
        "  clusters: {}  services: {}  running tasks: {}  repositories: {}",
        n("clusters"),
        n("services"),
        n("runningTasks"),
        n("repositories")
    ));
    let rate_limits = details.get("rateLimits") == Some(&Value::Bool(true));
    if n("faults") + n("taskFaults") > 0 || rate_limits {
        printer.out(&format!(
            "  faults: {} api, {} task; rate limits {}",
            n("faults"),
            n("taskFaults"),
            if rate_limits { "on" } else { "off" }
        ));
    }
    printer.out(&format!("  stop it with `{stop}`"));
}
