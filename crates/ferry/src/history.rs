//! `ferry history [ENV] [SERVICE]`: past deployments from the ledger, newest first
//! (ferry_app::history).

use ferry_app::Context;
use ferry_app::history::HistoryInput;

use crate::Failure;
use crate::cli::{GlobalArgs, HistoryArgs};
use crate::output::{Printer, recorded_outcome_word, table};

pub async fn run(global: &GlobalArgs, args: HistoryArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    let input = HistoryInput { environment: args.environment, service: args.service, limit: args.limit };
    let history = ferry_app::history::history(&ctx, input).await?;
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "history", "deployments": history.deployments}));
        return Ok(());
    }
    if history.deployments.is_empty() {
        printer.out(&format!("no deployments recorded in {}", history.ledger));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = history
        .deployments
        .iter()
        .map(|r| {
            vec![
                ferry_store::format_rfc3339(r.started_at),
                r.environment.clone(),
                r.service.clone(),
                r.kind.clone(),
                format!("{} → {}", r.from_version.as_deref().unwrap_or("?"), r.to_version.as_deref().unwrap_or("?")),
                recorded_outcome_word(r.outcome).to_string(),
                r.who.clone(),
                r.commit.as_deref().map(|c| c.chars().take(8).collect()).unwrap_or_else(|| "-".into()),
                r.id.clone(),
                // A deploy past the environment's gates says so first: who, and why.
                match (&r.gates_skipped, &r.reason) {
                    (Some(skipped), Some(reason)) => format!("gates skipped by {skipped}; {reason}"),
                    (Some(skipped), None) => format!("gates skipped by {skipped}"),
                    (None, reason) => reason.clone().unwrap_or_default(),
                },
            ]
        })
        .collect();
    printer.out(&table(&["STARTED", "ENV", "SERVICE", "KIND", "VERSION", "RESULT", "WHO", "COMMIT", "ID", "REASON"], &rows));
    Ok(())
}
