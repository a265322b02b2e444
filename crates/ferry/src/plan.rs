//! `ferry plan ENV SERVICE=VERSION...` (and `ferry deploy --dry-run`): preflight every
//! service and show what would change, as a normalized task definition diff. Changes
//! nothing: no revision is registered, no service updated, no lock taken.

use ferry_core::config::Strategy;
use ferry_core::deploy::{Outcome, Request, Run};
use ferry_core::taskdef::render_diff;

use crate::Failure;
use crate::cli::{GlobalArgs, PlanArgs};
use crate::project::{self, SystemClock};

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<(), Failure> {
    let session = project::Session::open(global, &args.environment, &args.services, None, "plan").await?;
    let (printer, run_id) = (&session.printer, &session.run_id);
    let locks = session.locks();
    let journal = session.journal();
    let run =
        Run { ecs: &session.connected.ecs, registry: &session.connected.registry, clock: &SystemClock, locks: &locks, observer: &journal };
    let reports = run.plan(&session.requests).await;
    printer.close();
    for (report, request) in reports.iter().zip(&session.requests).filter(|(r, _)| r.outcome == Outcome::Planned) {
        printer.out(&format!(
            "\n{} in {}: {} → {} ({})",
            report.service,
            report.environment,
            report.from_version.as_deref().unwrap_or("?"),
            report.to_version.as_deref().unwrap_or("?"),
            report.image.as_deref().unwrap_or("?")
        ));
        printer.out(&format!("  steps: {}", steps(request)));
        if report.changes.is_empty() {
            printer.out("  task definition: no changes");
        } else {
            printer.out("  task definition changes:");
            for line in render_diff(&report.changes).lines() {
                printer.out(&format!("    {line}"));
            }
        }
    }
    crate::deploy::finish(printer, run_id, "plan", &reports)
}

/// What a deploy of `request` will do, in order.
fn steps(request: &Request) -> String {
    let repository = &request.repository;
    match (request.strategy, &request.image_tag) {
        (Strategy::EnvTag, Some(tag)) => format!(
            "move {repository}:{tag} to the version's digest, force a new deployment of the running revision, watch it; \
             on failure move the tag back and roll back"
        ),
        (_, Some(tag)) => format!(
            "register a task definition revision, UpdateService, watch the deployment, roll back on failure; \
             once it succeeds move {repository}:{tag} to the deployed digest"
        ),
        _ => "register a task definition revision, UpdateService, watch the deployment, roll back on failure".to_string(),
    }
}
