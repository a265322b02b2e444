//! What deploy, plan, promote and rollback share: their result (one report per service),
//! and what cancelling a run does.

use std::future::Future;

use ferry_core::ExitKind;
use ferry_core::deploy::{HookKind, Outcome, Request, ServiceReport, hook_started_by};
use ferry_core::one_off::task_id;
use ferry_core::platform::Ecs;
use ferry_store::Ledger;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::journal::now_ms;
use crate::words::run_failure;

/// The result of a run: each service's report, in the order asked.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    /// `deploy`, `plan`, `promote`, `rollback`.
    pub command: &'static str,
    /// The run's id (`run-…`, `plan-…`, `promo-…`), as the ledger groups its deployments.
    pub run_id: String,
    pub services: Vec<ServiceReport>,
}

impl RunResult {
    /// The worst of the services' outcomes ([`ExitKind::Ok`] when all succeeded, or all
    /// were planned).
    pub fn kind(&self) -> ExitKind {
        self.services.iter().map(ServiceReport::exit_kind).fold(ExitKind::Ok, ExitKind::worst)
    }

    /// The run as an error, when not every service succeeded: its kind, the services that
    /// did not and how each ended, and for a lock held how to free it.
    pub fn error(&self) -> Option<Error> {
        let kind = self.kind();
        if kind == ExitKind::Ok {
            return None;
        }
        let held: Vec<&ServiceReport> = self.services.iter().filter(|r| r.outcome == Outcome::LockHeld).collect();
        // Who holds it and since when (the lock refusal's words), then how to free it.
        let hint = held.first().map(|r| {
            let holder = r.reason.as_deref().map(|reason| format!("{reason}; ")).unwrap_or_default();
            format!(
                "{holder}if that deploy is gone, free the lock with `ferry unlock {env} {service} --reason TEXT` (`ferry status {env}` lists the locks)",
                env = r.environment,
                service = r.service
            )
        });
        Some(Error::Run { kind, message: run_failure(self.command, &self.services), hint })
    }
}

/// A run stopped by its cancellation token: what it left to ECS.
#[derive(Clone, Debug, Serialize)]
pub struct Interrupted {
    pub command: &'static str,
    pub run_id: String,
    /// The deployments marked interrupted in the ledger (ECS carries each on by itself).
    pub services: Vec<InterruptedService>,
    /// `interrupted: nothing was changed`, or which ECS deployments carry on.
    pub reason: String,
}

/// A deployment a cancelled run stopped watching.
#[derive(Clone, Debug, Serialize)]
pub struct InterruptedService {
    pub deployment_id: String,
    pub service: String,
    /// Always `interrupted`.
    pub outcome: &'static str,
    /// The ECS deployment that carries on, when one was started.
    pub ecs_deployment_id: Option<String>,
}

/// Runs `run` until it ends or `cancel` is cancelled. Cancelled: ECS carries on with what
/// it was doing (a rollout, or a rollback), but ferry stops watching; the deployments of
/// `requests` still in progress are marked interrupted in the ledger and their locks freed
/// rather than left to their lease, and the error says what carries on (exit 130).
pub async fn until_cancelled(
    cancel: &CancellationToken,
    ledger: &Ledger,
    requests: &[Request],
    run_id: &str,
    command: &'static str,
    ecs: &impl Ecs,
    run: impl Future<Output = Vec<ServiceReport>>,
) -> Result<Vec<ServiceReport>, Error> {
    tokio::select! {
        // A token cancelled before the run starts stops it before it changes anything.
        biased;
        _ = cancel.cancelled() => {
            let mut stopped = stop_hook_tasks(ecs, requests).await;
            let mut interrupted = interrupted(ledger, requests, run_id, command);
            if !stopped.is_empty() {
                stopped.sort();
                interrupted.reason = format!("{}; stopped the hook tasks it was waiting for: {}", interrupted.reason, stopped.join(", "));
            }
            Err(Error::Interrupted(Box::new(interrupted)))
        }
        reports = run => Ok(reports),
    }
}

/// Stops the `before_deploy`/`after_deploy` tasks the interrupted deployments were waiting
/// for (found by their `startedBy`), as `ferry run` stops its task on Ctrl-C: a migration
/// nobody watches any more must not run on beside the next deploy's. Returns what was
/// stopped (`web before_deploy 0f3e…`); a call that fails is only logged.
async fn stop_hook_tasks(ecs: &impl Ecs, requests: &[Request]) -> Vec<String> {
    let mut stopped = Vec::new();
    for request in requests.iter().filter(|r| r.before_deploy.is_some() || r.after_deploy.is_some()) {
        for kind in [HookKind::BeforeDeploy, HookKind::AfterDeploy] {
            let started_by = hook_started_by(&request.trace.deployment_id, kind);
            let tasks = match ecs.tasks_started_by(&request.cluster, &started_by).await {
                Ok(tasks) => tasks,
                Err(e) => {
                    tracing::warn!("cannot look for {started_by}'s task to stop it: {e}");
                    continue;
                }
            };
            for task in tasks.iter().filter(|t| !t.is_stopped()) {
                let reason = format!("ferry: the deploy waiting for this {} task was interrupted", kind.name());
                match ecs.stop_task(&request.cluster, &task.arn, &reason).await {
                    Ok(()) => stopped.push(format!("{} {} {}", request.service, kind.name(), task_id(&task.arn))),
                    Err(e) => tracing::warn!("cannot stop {}: {e}", task.arn),
                }
            }
        }
    }
    stopped
}

/// Marks what `requests` left in progress interrupted, and frees their locks.
fn interrupted(ledger: &Ledger, requests: &[Request], run_id: &str, command: &'static str) -> Interrupted {
    let mut open = Vec::new();
    let mut shifts = Vec::new();
    let mut services = Vec::new();
    for request in requests {
        let id = &request.trace.deployment_id;
        // The undo of an atomic promotion is recorded under `{id}-undo`.
        for id in [id.clone(), format!("{id}-undo")] {
            let Ok(Some(mut record)) = ledger.deployment(&id) else { continue };
            if record.outcome != ferry_store::Outcome::InProgress {
                continue;
            }
            if request.traffic.is_some() {
                // A traffic shift does not carry on without ferry (ECS does not move the
                // weights): left in progress, with its lock freed below, so the same command
                // resumes it and `ferry rollback` rolls it back at once.
                shifts.push(format!(
                    "{} (run the same command to carry on, or `ferry rollback {} {}` to put traffic back)",
                    request.service, request.environment, request.service
                ));
                services.push(InterruptedService {
                    deployment_id: id,
                    service: request.service.clone(),
                    outcome: "interrupted",
                    ecs_deployment_id: None,
                });
                continue;
            }
            record.outcome = ferry_store::Outcome::Interrupted;
            record.finished_at = Some(now_ms());
            record.reason = Some("interrupted: ferry stopped watching; the ECS deployment continues on its own".into());
            if let Err(e) = ledger.update_deployment(&record) {
                tracing::warn!("cannot mark {id} interrupted in the ledger: {e}");
            }
            let deployment = record.ecs_deployment_id.clone();
            open.push(format!("{} ({})", request.service, deployment.as_deref().unwrap_or("no ECS deployment yet")));
            services.push(InterruptedService {
                deployment_id: id,
                service: request.service.clone(),
                outcome: "interrupted",
                ecs_deployment_id: deployment,
            });
        }
        // Not held (the run had not locked it yet, or freed it already) is not a problem.
        let _ = ledger.release_lock(&request.environment, &request.service, id);
    }
    let mut details = Vec::new();
    if !open.is_empty() {
        details.push(format!("ECS continues these deployments on its own: {}; check with `ferry status`", open.join(", ")));
    }
    if !shifts.is_empty() {
        details.push(format!("these traffic shifts stopped where they were: {}", shifts.join(", ")));
    }
    let detail = if details.is_empty() { "nothing was changed".to_string() } else { details.join("; ") };
    Interrupted { command, run_id: run_id.to_string(), services, reason: format!("interrupted: {detail}") }
}
