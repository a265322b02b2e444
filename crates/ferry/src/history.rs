//! `ferry history [ENV] [SERVICE]`: past deployments from the ledger, newest first.

use ferry_store::HistoryFilter;

use crate::Failure;
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::output::{Printer, table};
use crate::project;

pub fn run(global: &GlobalArgs, args: HistoryArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    // An environment the project does not define is a typo, not an empty history.
    if let Some(env) = &args.environment
        && let Ok(config) = project::load_config(global)
        && !config.environments.contains_key(env)
    {
        let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        return Err(Failure::input(format!("no environment {env:?} in {} (known: {})", global.config.display(), known.join(", "))));
    }
    let ledger = project::open_ledger(global)?;
    let filter = HistoryFilter { environment: args.environment.clone(), service: args.service.clone(), limit: args.limit };
    let records = ledger.history(&filter).map_err(|e| Failure::ledger(e.to_string()))?;
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "history", "deployments": records}));
        return Ok(());
    }
    if records.is_empty() {
        printer.out(&format!("no deployments recorded in {}", ledger.path().display()));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                ferry_store::format_rfc3339(r.started_at),
                r.environment.clone(),
                r.service.clone(),
                r.kind.clone(),
                format!("{} → {}", r.from_version.as_deref().unwrap_or("?"), r.to_version.as_deref().unwrap_or("?")),
                crate::output::recorded_outcome_word(r.outcome).to_string(),
                r.who.clone(),
                r.commit.as_deref().map(|c| c.chars().take(8).collect()).unwrap_or_else(|| "-".into()),
                r.id.clone(),
                r.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    printer.out(&table(&["STARTED", "ENV", "SERVICE", "KIND", "VERSION", "RESULT", "WHO", "COMMIT", "ID", "REASON"], &rows));
    Ok(())
}
