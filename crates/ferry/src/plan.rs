//! `ferry plan ENV SERVICE=VERSION...` (and `ferry deploy --dry-run`): preflight every
//! service and show what would change, as a normalized task definition diff. Changes
//! nothing: no revision is registered, no service updated, no lock taken.

use ferry_core::deploy::{Outcome, Request, Run, Trace};
use ferry_core::taskdef::render_diff;

use crate::Failure;
use crate::cli::{GlobalArgs, PlanArgs};
use crate::output::Printer;
use crate::project::{self, Journal, LedgerLocks, SystemClock};

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<(), Failure> {
    let config = project::load_config(global)?;
    for sv in &args.services {
        config.service(&sv.service).map_err(Failure::input)?;
    }
    let connected = project::connect(&config, &args.environment, global.endpoint_url.as_deref()).await?;
    let ledger = project::open_ledger(global)?;
    let printer = Printer::new(global);
    let who = project::who();
    let (commit, commit_message) = project::git_commit(&config.root);
    let run_id = project::new_id("plan");
    let requests = args
        .services
        .iter()
        .map(|sv| {
            let trace = Trace { deployment_id: project::new_id("fd"), who: who.clone(), commit: commit.clone(), commit_message: commit_message.clone() };
            project::request(&config, &connected, &sv.service, Some(sv.version.clone()), None, None, trace)
        })
        .collect::<Result<Vec<Request>, Failure>>()?;
    let locks = LedgerLocks { ledger: ledger.clone(), who };
    let journal = Journal { ledger, printer: &printer, run_id: run_id.clone() };
    let run = Run { ecs: &connected.ecs, registry: &connected.registry, clock: &SystemClock, locks: &locks, observer: &journal };
    let reports = run.plan(&requests).await;
    printer.close();
    for report in reports.iter().filter(|r| r.outcome == Outcome::Planned) {
        printer.out(&format!(
            "\n{} in {}: {} → {} ({})",
            report.service,
            report.environment,
            report.from_version.as_deref().unwrap_or("?"),
            report.to_version.as_deref().unwrap_or("?"),
            report.image.as_deref().unwrap_or("?")
        ));
        printer.out("  steps: register a task definition revision, UpdateService, watch the deployment, roll back on failure");
        if report.changes.is_empty() {
            printer.out("  task definition: no changes");
        } else {
            printer.out("  task definition changes:");
            for line in render_diff(&report.changes).lines() {
                printer.out(&format!("    {line}"));
            }
        }
    }
    crate::deploy::finish(&printer, &run_id, "plan", &reports)
}
