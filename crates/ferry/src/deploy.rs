//! `ferry deploy ENV SERVICE=VERSION...`: preflight, lock, register, one UpdateService per
//! service, watch the exact ECS deployment, roll back on failure; several services in
//! parallel, one summary at the end (ferry_app::deploy).

use ferry_app::deploy::{DeployInput, Deployed, RevisionCleanup};
use ferry_app::{Context, Interrupted, RunResult};
use ferry_core::ExitKind;
use ferry_core::deploy::{Outcome, ServiceReport};
use ferry_core::rolling::short_task_definition;
use serde::Serialize;

use crate::Failure;
use crate::cli::{DeployArgs, GlobalArgs, PlanArgs};
use crate::output::{Printer, outcome_word, short_digest, table};

pub async fn run(global: &GlobalArgs, args: DeployArgs) -> Result<(), Failure> {
    if args.dry_run {
        return crate::plan::run(global, PlanArgs { environment: args.environment, services: args.services, vars: args.vars }).await;
    }
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project_with_vars(global, args.vars), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: crate::app::cancel_on_ctrl_c() };
    let input = DeployInput {
        environment: args.environment,
        services: args.services,
        timeout: args.timeout,
        force: args.force,
        no_probe: args.no_probe,
        skip_gates: args.skip_gates.then(|| args.reason.unwrap_or_default()),
        detach: args.detach,
        resuming: false,
    };
    match ferry_app::deploy::deploy_and_clean_up(&ctx, input).await {
        Ok(deployed) => {
            print_deployed(&printer, &deployed);
            deployed.run.error().map_or(Ok(()), Err)
        }
        Err(e) => finish(&printer, Err(e)),
    }
}

/// A deploy's summary, then what the clean-up of old revisions (`keep_revisions`) did, one
/// line per service; with `--output json`, the run's result with `revisions` in it.
fn print_deployed(printer: &Printer, deployed: &Deployed) {
    let Some(cleanup) = &deployed.revisions else {
        print_run(printer, &deployed.run);
        return;
    };
    if printer.json() {
        printer.close();
        let run = &deployed.run;
        let kind = run.kind();
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": run.command,
            "run_id": run.run_id,
            "exit_code": kind.code(),
            "outcome": kind,
            "services": run.services,
            "revisions": cleanup,
        }));
        return;
    }
    print_run(printer, &deployed.run);
    for line in cleanup_lines(cleanup) {
        printer.out(&line);
    }
}

fn cleanup_lines(cleanup: &RevisionCleanup) -> Vec<String> {
    let mut lines = Vec::new();
    for family in &cleanup.families {
        let n = family.deregistered.len();
        let noun = if n == 1 { "revision" } else { "revisions" };
        lines.push(format!("removed {n} old {noun} of {} (kept {})", family.service, family.kept.len()));
    }
    for skipped in &cleanup.skipped {
        lines.push(format!("warning: old revisions of {} not removed: {}", skipped.service, skipped.detail));
    }
    if let Some(warning) = &cleanup.warning {
        lines.push(format!("warning: {warning}"));
    }
    lines
}

/// Prints how a run ended — its summary, or what an interruption left to ECS — and returns
/// its error, if any: the one end of deploy, plan, promote and rollback.
pub fn finish(printer: &Printer, result: Result<RunResult, Failure>) -> Result<(), Failure> {
    match result {
        Ok(run) => {
            print_run(printer, &run);
            run.error().map_or(Ok(()), Err)
        }
        Err(Failure::Interrupted(interrupted)) => {
            printer.close();
            print_interrupted(printer, &interrupted);
            Err(Failure::Interrupted(interrupted))
        }
        Err(e) => Err(e),
    }
}

/// Ctrl-C during a run: ECS carries on with what it was doing (a rollout, or a rollback),
/// but ferry stopped watching. With `--output json`, the last line is still the result
/// object (exit code 130, each service's ECS deployment); the error line says the rest.
fn print_interrupted(printer: &Printer, interrupted: &Interrupted) {
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": interrupted.command,
            "run_id": interrupted.run_id,
            "exit_code": ExitKind::Interrupted.code(),
            "outcome": ExitKind::Interrupted,
            "services": interrupted.services,
            "reason": interrupted.reason,
        }));
    }
}

/// The machine-readable result of a run: the last JSON line.
#[derive(Serialize)]
struct RunLine<'a> {
    r#type: &'static str,
    command: &'static str,
    run_id: &'a str,
    exit_code: i32,
    outcome: ExitKind,
    services: &'a [ServiceReport],
}

/// The summary of a run: a table (and each service's reason), or the JSON result.
pub fn print_run(printer: &Printer, run: &RunResult) {
    printer.close();
    let kind = run.kind();
    if printer.json() {
        printer.json_line(&RunLine {
            r#type: "result",
            command: run.command,
            run_id: &run.run_id,
            exit_code: kind.code(),
            outcome: kind,
            services: &run.services,
        });
        return;
    }
    let rows: Vec<Vec<String>> = run
        .services
        .iter()
        .map(|r| {
            vec![
                r.service.clone(),
                outcome_word(r.outcome).to_string(),
                r.from_version.clone().unwrap_or_else(|| "-".into()),
                r.to_version.clone().unwrap_or_else(|| "-".into()),
                r.to_digest.as_deref().map(short_digest).unwrap_or_else(|| "-".into()),
                r.to_task_definition.as_deref().map(short_task_definition).unwrap_or("-").to_string(),
                r.ecs_deployment_id.clone().unwrap_or_else(|| "-".into()),
                r.finished_at.map(|f| format!("{:.1}s", (f - r.started_at) as f64 / 1000.0)).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    printer.out("");
    printer.out(&table(&["SERVICE", "RESULT", "FROM", "TO", "DIGEST", "REVISION", "ECS DEPLOYMENT", "TIME"], &rows));
    for r in run.services.iter().filter(|r| r.reason.is_some()) {
        let prefix = if r.outcome == Outcome::Succeeded { "warning: " } else { "" };
        printer.out(&format!("{prefix}{}: {}", r.service, r.reason.as_deref().unwrap_or_default()));
    }
    // What the probe through each load balancer saw while the deploy ran.
    for r in &run.services {
        if let Some(probe) = &r.probe {
            printer.out(&format!("{}: {}", r.service, ferry_app::probe::summary_text(probe)));
        }
    }
}
