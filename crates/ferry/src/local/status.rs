//! `ferry local status [--json]`: is ferry local running, which one (pid, endpoint, state
//! directory), and what is in it. Exits 3 when none runs.

use std::path::Path;

use serde_json::{Value, json};

use super::instances::{self, Record};
use crate::Failure;

pub async fn run(state_dir: Option<&Path>, as_json: bool) -> Result<(), Failure> {
    let (live, unresponsive, looked) = match state_dir {
        Some(dir) => {
            let (found, stale) = instances::at_state_dir(dir).await;
            if let Some((record, why)) = &stale {
                eprintln!("note: removed the stale record of ferry local {} ({why})", record.describe());
            }
            match found {
                Some((record, true)) => (vec![record], vec![], String::new()),
                Some((record, false)) => (vec![], vec![record], String::new()),
                None => (vec![], vec![], format!("state directory {}", instances::absolute(dir).display())),
            }
        }
        None => {
            let found = instances::discover().await;
            found.print_removed();
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

    if as_json {
        let instances: Vec<Value> = shown
            .iter()
            .map(|(r, details, stop)| {
                json!({"pid": r.pid, "endpoint": r.endpoint, "stateDir": r.state_dir, "stop": stop, "details": details})
            })
            .chain(unresponsive.iter().map(|r| json!({"pid": r.pid, "endpoint": r.endpoint, "stateDir": r.state_dir, "answering": false})))
            .collect();
        let mut out = json!({"running": !shown.is_empty(), "instances": instances});
        // One instance: its fields at the top, as scripts read them.
        if let ([(r, details, _)], Some(map)) = (shown.as_slice(), out.as_object_mut()) {
            map.insert("pid".into(), json!(r.pid));
            map.insert("endpoint".into(), json!(r.endpoint));
            map.insert("stateDir".into(), json!(r.state_dir));
            map.insert("details".into(), details.clone());
        }
        if let (Some(dir), true, Some(map)) = (state_dir, shown.is_empty(), out.as_object_mut()) {
            map.insert("stateDir".into(), json!(instances::absolute(dir)));
        }
        println!("{out}");
    } else {
        for (record, details, stop) in &shown {
            print_one(record, details, stop);
        }
        for record in &unresponsive {
            println!(
                "ferry local pid {} is alive but does not answer at {} (state dir {})",
                record.pid,
                record.endpoint,
                record.state_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default()
            );
        }
        if shown.is_empty() && unresponsive.is_empty() {
            println!("ferry local is not running (looked at {looked}); start it with `ferry local up --detach`");
        }
    }
    if shown.is_empty() {
        return Err(Failure::platform("ferry local is not running"));
    }
    Ok(())
}

async fn details(endpoint: &str) -> Value {
    match reqwest::get(format!("{endpoint}/_ferry/status")).await {
        Ok(resp) => resp.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

fn print_one(record: &Record, details: &Value, stop: &str) {
    let n = |k: &str| details.get(k).and_then(Value::as_i64).unwrap_or(0);
    println!("ferry local is running at {} (pid {})", record.endpoint, record.pid);
    match &record.state_dir {
        Some(dir) => println!("  state directory: {}", dir.display()),
        None => println!("  state directory: unknown (it was not recorded; found on its port)"),
    }
    println!(
        "  clusters: {}  services: {}  running tasks: {}  repositories: {}",
        n("clusters"),
        n("services"),
        n("runningTasks"),
        n("repositories")
    );
    let rate_limits = details.get("rateLimits") == Some(&Value::Bool(true));
    if n("faults") + n("taskFaults") > 0 || rate_limits {
        println!("  faults: {} api, {} task; rate limits {}", n("faults"), n("taskFaults"), if rate_limits { "on" } else { "off" });
    }
    println!("  stop it with `{stop}`");
}
