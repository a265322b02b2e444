//! `ferry deploy ENV SERVICE=VERSION...`: preflight, lock, register, one UpdateService per
//! service, watch the exact ECS deployment, roll back on failure; several services in
//! parallel, one summary at the end.

use ferry_core::ExitKind;
use ferry_core::deploy::{Outcome, Request, Run, ServiceReport};
use ferry_core::rolling::short_task_definition;
use serde::Serialize;

use crate::Failure;
use crate::cli::{DeployArgs, GlobalArgs, PlanArgs};
use crate::output::{Printer, outcome_word, short_digest, table};
use crate::project::{self, Journal, SystemClock};

pub async fn run(global: &GlobalArgs, args: DeployArgs) -> Result<(), Failure> {
    if args.dry_run {
        return crate::plan::run(global, PlanArgs { environment: args.environment, services: args.services }).await;
    }
    let session = project::Session::open(global, &args.environment, &args.services, args.timeout, "run").await?;
    let (printer, requests, run_id) = (&session.printer, &session.requests, &session.run_id);
    let locks = session.locks();
    let journal = session.journal();
    let run =
        Run { ecs: &session.connected.ecs, registry: &session.connected.registry, clock: &SystemClock, locks: &locks, observer: &journal };
    let reports = tokio::select! {
        reports = run.deploy(requests) => reports,
        _ = tokio::signal::ctrl_c() => {
            printer.close();
            return Err(interrupted(&journal, requests, printer, run_id, "deploy"));
        }
    };
    finish(printer, run_id, "deploy", &reports)
}

/// Ctrl-C during a deploy: ECS carries on with what it was doing (a rollout, or a rollback),
/// but ferry stops watching. Say so, mark the deployments interrupted in the ledger, and free
/// the locks rather than leaving them to their lease. With `--output json`, the last line
/// is still the result object (exit code 130, each service's ECS deployment).
pub fn interrupted(journal: &Journal<'_>, requests: &[Request], printer: &Printer, run_id: &str, command: &'static str) -> Failure {
    let mut open = Vec::new();
    let mut services = Vec::new();
    for request in requests {
        let id = &request.trace.deployment_id;
        // The undo of an atomic promotion is recorded under `{id}-undo`.
        for id in [id.clone(), format!("{id}-undo")] {
            let Ok(Some(mut record)) = journal.ledger.deployment(&id) else { continue };
            if record.outcome != ferry_store::Outcome::InProgress {
                continue;
            }
            record.outcome = ferry_store::Outcome::Interrupted;
            record.finished_at = Some(crate::output::now_ms());
            record.reason = Some("interrupted: ferry stopped watching; the ECS deployment continues on its own".into());
            let _ = journal.ledger.update_deployment(&record);
            let deployment = record.ecs_deployment_id.clone();
            open.push(format!("{} ({})", request.service, deployment.as_deref().unwrap_or("no ECS deployment yet")));
            services.push(serde_json::json!({
                "deployment_id": id,
                "service": request.service,
                "outcome": "interrupted",
                "ecs_deployment_id": deployment,
            }));
        }
        let _ = journal.ledger.release_lock(&request.environment, &request.service, id);
    }
    let detail = if open.is_empty() {
        "nothing was changed".to_string()
    } else {
        format!("ECS continues these deployments on its own: {}; check with `ferry status`", open.join(", "))
    };
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": command,
            "run_id": run_id,
            "exit_code": ExitKind::Interrupted.code(),
            "outcome": ExitKind::Interrupted,
            "services": services,
            "reason": format!("interrupted: {detail}"),
        }));
    }
    Failure::new(ExitKind::Interrupted, format!("interrupted: {detail}"))
}

/// The machine-readable result of a run: the last JSON line.
#[derive(Serialize)]
struct RunResult<'a> {
    r#type: &'static str,
    command: &'static str,
    run_id: &'a str,
    exit_code: i32,
    outcome: ExitKind,
    services: &'a [ServiceReport],
}

/// Prints the summary (table or JSON result) and turns the worst outcome into the exit.
pub fn finish(printer: &Printer, run_id: &str, command: &'static str, reports: &[ServiceReport]) -> Result<(), Failure> {
    printer.close();
    let kind = reports.iter().map(ServiceReport::exit_kind).fold(ExitKind::Ok, ExitKind::worst);
    if printer.json() {
        printer.json_line(&RunResult { r#type: "result", command, run_id, exit_code: kind.code(), outcome: kind, services: reports });
    } else {
        let rows: Vec<Vec<String>> = reports
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
        for r in reports.iter().filter(|r| r.reason.is_some()) {
            let prefix = if r.outcome == Outcome::Succeeded { "warning: " } else { "" };
            printer.out(&format!("{prefix}{}: {}", r.service, r.reason.as_deref().unwrap_or_default()));
        }
    }
    if kind == ExitKind::Ok {
        return Ok(());
    }
    Err(Failure::new(kind, crate::output::run_failure(command, reports)))
}
