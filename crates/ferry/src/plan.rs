//! `ferry plan ENV SERVICE=VERSION...` (and `ferry deploy --dry-run`): preflight every
//! service and show what would change, as a normalized task definition diff
//! (ferry_app::plan). Changes nothing.

use ferry_app::Context;
use ferry_app::plan::{PlanInput, Steps};
use ferry_app::words::command_text;
use ferry_core::config::Strategy;
use ferry_core::deploy::Outcome;
use ferry_core::rolling::short_task_definition;
use ferry_core::taskdef::render_diff;

use crate::Failure;
use crate::cli::{GlobalArgs, PlanArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: PlanArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project_with_vars(global, args.vars), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: crate::app::cancel_on_ctrl_c() };
    let plan = match ferry_app::plan::plan(&ctx, PlanInput { environment: args.environment, services: args.services }).await {
        Ok(plan) => plan,
        Err(e) => return crate::deploy::finish(&printer, Err(e)),
    };
    printer.close();
    for (report, steps) in plan.planned() {
        if printer.json() {
            // What a CI job reads before it approves: each service's steps, hooks included.
            printer.json_line(&serde_json::json!({
                "type": "plan",
                "service": report.service,
                "outcome": report.outcome,
                "steps": steps_text(steps),
                "before_deploy": steps.before_deploy,
                "after_deploy": steps.after_deploy,
                "traffic": steps.traffic,
            }));
        }
        printer.out(&format!(
            "\n{} in {}: {} → {} ({})",
            report.service,
            report.environment,
            report.from_version.as_deref().unwrap_or("?"),
            report.to_version.as_deref().unwrap_or("?"),
            report.image.as_deref().unwrap_or("?")
        ));
        if !report.not_checked.is_empty() {
            printer.out(&format!("  not checked (each says why): {}", report.not_checked.join("; ")));
        }
        if report.outcome == Outcome::Unchanged {
            let running = report.to_task_definition.as_deref().map(short_task_definition).unwrap_or("?");
            printer.out(&format!("  no change: already running {running} (deploy with --force for a new deployment of it)"));
            continue;
        }
        printer.out(&format!("  steps: {}", steps_text(steps)));
        if report.changes.is_empty() {
            printer.out("  task definition: no changes");
        } else {
            printer.out("  task definition changes:");
            for line in render_diff(&report.changes).lines() {
                printer.out(&format!("    {line}"));
            }
        }
    }
    crate::deploy::finish(&printer, Ok(plan.run))
}

/// What a deploy of a service will do, in order, with its hooks where they run.
fn steps_text(steps: &Steps) -> String {
    let repository = &steps.repository;
    let before = match &steps.before_deploy {
        Some(command) => format!("run the before_deploy task ({}) with the new revision, stop if it fails, ", command_text(command)),
        None => String::new(),
    };
    let after = match &steps.after_deploy {
        Some(command) => format!("; once it completed, run the after_deploy task ({}), roll back if it fails", command_text(command)),
        None => String::new(),
    };
    if let Some(traffic) = &steps.traffic {
        let seconds = |s: u64| ferry_app::words::duration_text(std::time::Duration::from_secs(s));
        let schedule: Vec<String> = traffic
            .schedule
            .iter()
            .map(|(percent, hold)| if *hold == 0 { format!("{percent}%") } else { format!("{percent}% for {}", seconds(*hold)) })
            .collect();
        let bring_up = match &traffic.kept {
            Some(revision) => format!(
                "{before}scale the kept service {} up again (it runs {}, nothing is registered), forward the preparing rule to its target group {}",
                traffic.ecs_service,
                short_task_definition(revision),
                traffic.target_group
            ),
            None => format!(
                "register a task definition revision, {before}create target group {} and service {} like the live version's, \
                 forward the preparing rule to it",
                traffic.target_group, traffic.ecs_service
            ),
        };
        return format!(
            "{bring_up}, wait for its healthy targets, probe it through the preparing listener; \
             then production traffic to it: {}; bake {}; move the auto scaling to it, retire the old version \
             (0 tasks, ferry:status=obsolete), delete obsolete versions beyond the newest {}. \
             A failed gate puts production traffic back on the old version first, then removes the new one",
            schedule.join(", "),
            seconds(traffic.bake_s),
            traffic.keep
        );
    }
    let strategy = match (steps.strategy, &steps.image_tag) {
        (Strategy::EnvTag, Some(tag)) => format!(
            "move {repository}:{tag} to the version's digest, {before}force a new deployment of the running revision, watch it; \
             on failure move the tag back and roll back"
        ),
        (_, Some(tag)) => format!(
            "register a task definition revision, {before}UpdateService, watch the deployment, roll back on failure; \
             once it succeeds move {repository}:{tag} to the deployed digest"
        ),
        _ => format!("register a task definition revision, {before}UpdateService, watch the deployment, roll back on failure"),
    };
    format!("{strategy}{after}")
}
