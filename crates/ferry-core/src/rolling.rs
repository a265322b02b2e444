//! The rolling strategy's judgement: given what ECS reports about a service, is *our*
//! deployment done, still going, or failed — and how soon to look again.
//!
//! Pure functions over observations, so every verdict is unit-tested without a platform.
//! The rules, and why:
//! - We watch the one ECS deployment our UpdateService created (by id), never "the service":
//!   a service can be stable on the *old* revision after ECS quietly rolled back.
//! - Success needs all three: our deployment is PRIMARY, its rolloutState is COMPLETED, and
//!   the service's task definition is ours.
//! - Our deployment FAILED, or no longer PRIMARY (a circuit-breaker rollback or someone
//!   else's deploy replaced it), or gone: failure, never success.
//! - Evidence ends a deploy early: a task of ours that could not pull its image will not do
//!   better next time; repeated task failures (essential container exits, failing health
//!   checks) and "unable to place" events mean the rollout will not converge.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;

use crate::platform::{ServiceEvent, ServiceInfo, StoppedTask};

/// Why a deployment failed, as a kind CI can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// ECS's deployment circuit breaker failed the rollout (and rolled back, if enabled).
    CircuitBreaker,
    /// Another deployment replaced ours before it completed.
    Replaced,
    /// A task of ours could not pull its image.
    ImagePull,
    /// Tasks of ours kept stopping (essential container exits, failing health checks).
    TaskFailures,
    /// A new task's target failed its load balancer health checks past the service's
    /// grace period (see [`crate::target_health::TargetWatch`]).
    UnhealthyTargets,
    /// ECS could not place tasks.
    Unplaceable,
    /// The service is no longer ACTIVE, or vanished.
    ServiceGone,
    /// The deployment did not complete in time.
    Timeout,
    /// A platform call failed in a way retries did not absorb.
    Platform,
    /// The ledger could not take or keep the lock, or record the deploy.
    Ledger,
    /// A `before_deploy` or `after_deploy` task failed (its exit code, its stop reason, or
    /// its timeout).
    Hook,
    /// A gate of a blue-green, canary or linear deploy failed: the checks through the
    /// preparing rule, probe requests through the production listener, no healthy target.
    Gate,
    /// ECS rolled an ECS-managed (ecs-native) deployment back at a lifecycle hook: the hook
    /// was answered ROLLBACK (`ferry continue --rollback`, or anyone's
    /// ContinueServiceDeployment), or it timed out with ROLLBACK as its timeout action.
    LifecycleHook,
    /// Someone stopped the deployment with a rollback (StopServiceDeployment ROLLBACK) while
    /// this run followed it.
    Stopped,
    /// A CloudWatch alarm the service's alarm gate names (`alarms` in ferry.toml) went into
    /// ALARM while the deploy ran or baked.
    Alarm,
    /// Someone else changed the production or preparing rule while ferry moved traffic on
    /// it: ferry stopped without overwriting it.
    RuleChanged,
    /// Rolled back because someone asked (`ferry rollback` of a traffic shift a dead run
    /// left): production traffic is back on the old version, as asked.
    Requested,
}

/// Where a rollout stands, for the progress line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Progress {
    /// IN_PROGRESS, COMPLETED, FAILED as ECS reports it.
    pub rollout_state: String,
    pub new_running: i32,
    pub new_pending: i32,
    pub new_desired: i32,
    /// Tasks of older deployments still running.
    pub old_running: i32,
    pub failed_tasks: i32,
    /// The new tasks' health, when someone watching asked for it (see
    /// [`crate::deploy::Observer::wants_task_health`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::platform::TaskHealth>,
    /// Behind a load balancer: the new tasks' targets in each of the service's target
    /// groups (`web-tg 2/4 healthy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<crate::target_health::GroupHealth>,
}

impl Progress {
    /// All new tasks are up; what remains is draining the old ones and ECS's steady-state
    /// check, which end soon: poll fast.
    pub fn near_completion(&self) -> bool {
        self.new_desired > 0 && self.new_running >= self.new_desired
    }
}

/// The verdict on one observation.
#[derive(Clone, Debug, PartialEq)]
pub enum Assessment {
    InProgress(Progress),
    Succeeded(Progress),
    Failed {
        cause: FailureCause,
        reason: String,
        /// The deployment ECS started to roll back ours, when it did (circuit breaker).
        ecs_rollback: Option<String>,
    },
}

/// What we watch: one ECS deployment expected to run one task definition.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The ECS deployment (`ecs-svc/...`); None until it is identified (a rollback started
    /// by StopServiceDeployment is found on the next observation).
    pub deployment_id: Option<String>,
    /// The task definition ARN the deployment must end up running.
    pub task_definition: String,
    /// Only deployments created at or after this instant (epoch ms) can be adopted.
    pub not_before: i64,
    /// Events before this instant (epoch ms) belong to an earlier watch (the failed forward
    /// deploy, for a rollback) and are not judged here.
    pub events_since: i64,
    pub max_task_failures: u32,
    seen_events: HashSet<String>,
    seen_failed_tasks: i32,
    seen_stopped: HashSet<String>,
    counted_failures: u32,
    /// Deployments that existed before: never adopted, whatever their timestamps say.
    not_adoptable: HashSet<String>,
    /// Earlier deployments a rollback may adopt once ECS makes one PRIMARY again: ECS rolls
    /// back by reactivating the last COMPLETED deployment (same id, its tasks kept), not by
    /// creating a new one (ECS developer guide, "deployment circuit breaker").
    reactivatable: HashSet<String>,
    /// Events an earlier watch already judged (the failed deploy's, for a rollback).
    inherited_events: HashSet<String>,
}

impl Watch {
    pub fn new(deployment_id: Option<String>, task_definition: String, not_before: i64, max_task_failures: u32) -> Self {
        Watch {
            deployment_id,
            task_definition,
            not_before,
            events_since: not_before,
            max_task_failures,
            seen_events: HashSet::new(),
            seen_failed_tasks: 0,
            seen_stopped: HashSet::new(),
            counted_failures: 0,
            not_adoptable: HashSet::new(),
            reactivatable: HashSet::new(),
            inherited_events: HashSet::new(),
        }
    }

    /// Earlier deployments this watch (a rollback's) adopts if ECS reactivates one: the
    /// PRIMARY deployment running our task definition, whatever its age. ECS's circuit
    /// breaker and StopServiceDeployment ROLLBACK return to the last COMPLETED deployment
    /// this way; an UpdateService rollback creates a new deployment instead, and the old
    /// one stays ACTIVE, so PRIMARY tells the two apart.
    pub fn may_reactivate(&mut self, ids: impl IntoIterator<Item = String>) {
        self.reactivatable.extend(ids);
    }

    /// Deployments this watch must not adopt (those that existed before it started): the
    /// creation-time slack that absorbs clock skew would otherwise let an old deployment
    /// of the same revision pass for the new one.
    pub fn never_adopt(&mut self, ids: impl IntoIterator<Item = String>) {
        self.not_adoptable.extend(ids);
    }

    /// Service events not seen before and not older than the watch, oldest first.
    pub fn new_events(&mut self, service: &ServiceInfo) -> Vec<ServiceEvent> {
        // ECS lists events newest first: reversed, events of the same millisecond keep the
        // order they happened in through the (stable) sort by time.
        let mut fresh: Vec<ServiceEvent> = service
            .events
            .iter()
            .rev()
            .filter(|e| e.created_at >= self.not_before - 1000 && !self.seen_events.contains(&e.id))
            .cloned()
            .collect();
        for e in &fresh {
            self.seen_events.insert(e.id.clone());
        }
        fresh.sort_by_key(|e| e.created_at);
        fresh
    }

    /// Carries what an earlier watch of the same service already knew: the events it
    /// reported (a rollback's watch does not report them again) and the deployments it
    /// would never adopt.
    pub fn inherit(&mut self, earlier: &Watch) {
        self.seen_events.extend(earlier.seen_events.iter().cloned());
        self.inherited_events.extend(earlier.seen_events.iter().cloned());
        self.not_adoptable.extend(earlier.not_adoptable.iter().cloned());
    }

    /// Marks events as already seen (those that existed before the deploy started).
    pub fn ignore_events(&mut self, service: &ServiceInfo) {
        for e in &service.events {
            self.seen_events.insert(e.id.clone());
        }
    }

    /// True when our deployment's failed-task count grew since the last look: the stopped
    /// tasks are worth fetching for their reasons. The count can also fall: with the circuit
    /// breaker's `resetOnHealthyTask` (true by default) ECS sets it back to 0 when a task turns
    /// healthy, so it counts consecutive failures (API reference, `Deployment.failedTasks`);
    /// the next failure after a reset is growth again.
    pub fn failures_grew(&mut self, service: &ServiceInfo) -> bool {
        let Some(id) = &self.deployment_id else { return false };
        let Some(ours) = service.deployment(id) else { return false };
        let grew = ours.failed_tasks > self.seen_failed_tasks;
        self.seen_failed_tasks = ours.failed_tasks;
        grew
    }

    /// Keeps the stopped tasks not seen before (each is reported and judged once).
    pub fn take_new_stopped(&mut self, stopped: Vec<StoppedTask>) -> Vec<StoppedTask> {
        stopped.into_iter().filter(|t| self.seen_stopped.insert(t.arn.clone())).collect()
    }

    /// Judges newly stopped tasks of our deployment. Returns a failure when the evidence
    /// says the rollout cannot succeed. Only failures count (see [`is_task_failure`]): a
    /// task the scheduler stopped to scale in, or a person stopped, is not evidence.
    pub fn judge_stopped(&mut self, new: &[StoppedTask]) -> Option<(FailureCause, String)> {
        let mut last = None;
        for task in new.iter().filter(|t| is_task_failure(t)) {
            let reason = stop_reason(task);
            if is_image_pull_failure(task) {
                return Some((FailureCause::ImagePull, format!("a task of the new deployment could not pull its image: {reason}")));
            }
            self.counted_failures += 1;
            last = Some(reason);
        }
        if self.counted_failures >= self.max_task_failures {
            return Some((
                FailureCause::TaskFailures,
                format!("{} tasks of the new deployment stopped (last: {})", self.counted_failures, last.unwrap_or_default()),
            ));
        }
        None
    }

    /// The verdict on one observation of the service.
    pub fn assess(&mut self, service: &ServiceInfo) -> Assessment {
        if service.status != "ACTIVE" {
            return Assessment::Failed {
                cause: FailureCause::ServiceGone,
                reason: format!("the service is {} (it was ACTIVE when the deploy started)", service.status),
                ecs_rollback: None,
            };
        }
        if self.deployment_id.is_none() {
            // Adopt the deployment that runs our task definition and started after us.
            if let Some(d) = service
                .deployments
                .iter()
                .filter(|d| {
                    d.task_definition == self.task_definition
                        && ((d.created_at >= self.not_before - 1000 && !self.not_adoptable.contains(&d.id))
                            || (d.status == "PRIMARY" && self.reactivatable.contains(&d.id)))
                })
                .max_by_key(|d| (d.status == "PRIMARY", d.created_at))
            {
                self.deployment_id = Some(d.id.clone());
            } else {
                return Assessment::InProgress(Progress { rollout_state: "PENDING".into(), ..Progress::default() });
            }
        }
        let id = self.deployment_id.clone().unwrap_or_default();
        let Some(ours) = service.deployment(&id) else {
            // ECS's circuit breaker rolls back by reactivating a deployment that existed
            // before ours; when that finishes before we look, ours is simply gone. Someone
            // else's deploy would be a new deployment, never an earlier one.
            if let Some(primary) = service.primary().filter(|p| self.not_adoptable.contains(&p.id) && service.circuit_breaker_rollback) {
                return Assessment::Failed {
                    cause: FailureCause::CircuitBreaker,
                    reason: format!(
                        "ECS's deployment circuit breaker rolled deployment {id} back to {} ({}); ours is no longer listed",
                        primary.id,
                        short_task_definition(&primary.task_definition)
                    ),
                    ecs_rollback: Some(primary.id.clone()),
                };
            }
            return Assessment::Failed {
                cause: FailureCause::Replaced,
                reason: format!(
                    "deployment {id} is no longer listed; the service now runs {}",
                    short_task_definition(&service.task_definition)
                ),
                ecs_rollback: None,
            };
        };
        let old_running: i32 = service.deployments.iter().filter(|d| d.id != id).map(|d| d.running).sum();
        let progress = Progress {
            rollout_state: ours.rollout_state.clone().unwrap_or_else(|| "IN_PROGRESS".into()),
            new_running: ours.running,
            new_pending: ours.pending,
            new_desired: ours.desired,
            old_running,
            failed_tasks: ours.failed_tasks,
            health: None,
            targets: Vec::new(),
        };
        if ours.rollout_state.as_deref() == Some("FAILED") {
            let rollback = service.primary().filter(|p| p.id != id).map(|p| p.id.clone());
            let reason = ours.rollout_state_reason.clone().unwrap_or_else(|| "ECS reports the rollout FAILED".into());
            return Assessment::Failed { cause: FailureCause::CircuitBreaker, reason, ecs_rollback: rollback };
        }
        if ours.status != "PRIMARY" {
            let primary = service.primary();
            return Assessment::Failed {
                cause: FailureCause::Replaced,
                reason: format!(
                    "deployment {id} was replaced by {} running {}",
                    primary.map(|p| p.id.as_str()).unwrap_or("another deployment"),
                    short_task_definition(primary.map(|p| p.task_definition.as_str()).unwrap_or(&service.task_definition))
                ),
                ecs_rollback: None,
            };
        }
        if let Some(event) = service.events.iter().find(|e| {
            e.created_at >= self.events_since && !self.inherited_events.contains(&e.id) && e.message.contains("unable to place a task")
        }) {
            return Assessment::Failed { cause: FailureCause::Unplaceable, reason: event.message.clone(), ecs_rollback: None };
        }
        let completed = match ours.rollout_state.as_deref() {
            Some(state) => state == "COMPLETED",
            // Without rolloutState (old API versions): done when ours is the only deployment
            // and runs at the desired count.
            None => service.deployments.len() == 1 && ours.running == ours.desired && ours.pending == 0,
        };
        if completed && service.task_definition == self.task_definition {
            return Assessment::Succeeded(progress);
        }
        Assessment::InProgress(progress)
    }
}

/// Whether ECS can replace a service's tasks at all under its deployment configuration,
/// by the arithmetic ECS uses (ECS developer guide, "Deployment configuration"; API
/// reference, `DeploymentConfiguration`): during a rolling deployment at most
/// ⌊desired × maximumPercent / 100⌋ tasks may be RUNNING or PENDING, and at least
/// ⌈desired × minimumHealthyPercent / 100⌉ must stay healthy. When the first is not above
/// the desired count and the second not below it, ECS may neither start a new task nor stop
/// an old one: the deployment can never progress. Returns why, naming the settings and the
/// nearest values that work; None when it can progress (or nothing runs).
pub fn stuck_deployment_configuration(service: &ServiceInfo) -> Option<String> {
    let desired = i64::from(service.desired);
    if desired <= 0 {
        return None;
    }
    let min = i64::from(service.minimum_healthy_percent.unwrap_or(100));
    let max = i64::from(service.maximum_percent.unwrap_or(200));
    let most = desired * max / 100;
    let least = (desired * min + 99) / 100;
    if most > desired || least < desired {
        return None;
    }
    // The smallest maximumPercent that allows one extra task, and the largest
    // minimumHealthyPercent that allows one task to stop.
    let max_needed = ((desired + 1) * 100 + desired - 1) / desired;
    let min_allowed = (desired - 1) * 100 / desired;
    Some(format!(
        "service {} cannot be deployed: with desiredCount {desired}, minimumHealthyPercent {min} keeps at least {least} \
         task{} running and maximumPercent {max} allows at most {most}, so ECS can neither start a new task nor stop an old \
         one. Raise deploymentConfiguration.maximumPercent to at least {max_needed} or lower minimumHealthyPercent to at most \
         {min_allowed} (in Terraform: deployment_maximum_percent / deployment_minimum_healthy_percent)",
        service.name,
        if least == 1 { "" } else { "s" },
    ))
}

/// How long to wait before the next look: fast at the start (most failures show early) and
/// near completion (so the tool returns soon after ECS finishes), backing off in between
/// so a slow rollout of a big service does not spend the account's API budget.
pub fn poll_interval(since_start: Duration, progress: Option<&Progress>, quiet_polls: u32) -> Duration {
    const FAST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(10);
    if since_start < Duration::from_secs(10) || progress.is_some_and(Progress::near_completion) {
        return FAST;
    }
    // Nothing changed for `quiet_polls` looks: back off 1 s, 1.5 s, 2.25 s, ... up to 10 s.
    let factor = 1.5f64.powi(quiet_polls.min(8) as i32);
    Duration::from_secs_f64((1.0 * factor).min(MAX.as_secs_f64()))
}

/// The stop reason in the user's words: ECS's reason, plus each container's exit.
pub fn stop_reason(task: &StoppedTask) -> String {
    let mut reason = task.stopped_reason.clone().unwrap_or_else(|| "stopped".into());
    let details: Vec<String> = task
        .containers
        .iter()
        .filter_map(|c| match (&c.exit_code, &c.reason) {
            (Some(code), Some(r)) => Some(format!("{} exited with code {code}: {r}", c.name)),
            (Some(code), None) => Some(format!("{} exited with code {code}", c.name)),
            (None, Some(r)) => Some(format!("{}: {r}", c.name)),
            (None, None) if c.health_status.as_deref() == Some("UNHEALTHY") => Some(format!("{} was UNHEALTHY", c.name)),
            _ => None,
        })
        .collect();
    if !details.is_empty() {
        reason = format!("{reason} ({})", details.join("; "));
    }
    reason
}

/// Whether a stopped task is a *failure* in ECS's sense — what its `failedTasks` counter and
/// the deployment circuit breaker count: the task failed to start (stopCode
/// `TaskFailedToStart`: image pull, resource initialization, container start), an essential
/// container exited (`EssentialContainerExited`), or the task failed its container or load
/// balancer health checks (ECS stops those with `ServiceSchedulerInitiated` and says so in
/// `stoppedReason`). A scale-in (`ServiceSchedulerInitiated`, "Scaling activity initiated
/// by …"), a person's StopTask (`UserInitiated`), a Spot interruption or a host termination
/// is not a failure of the version. Source: ECS developer guide, "How the Amazon ECS
/// deployment circuit breaker detects failures" and "Amazon ECS stopped task error codes";
/// the `TaskStopCode` enum of the ECS model.
pub fn is_task_failure(task: &StoppedTask) -> bool {
    if matches!(task.stop_code.as_deref(), Some("TaskFailedToStart" | "EssentialContainerExited")) {
        return true;
    }
    const FAILURE_REASONS: [&str; 6] = [
        "Essential container in task exited",
        "failed container health checks",
        "failed ELB health checks",
        "CannotPullContainerError",
        "CannotStartContainerError",
        "ResourceInitializationError",
    ];
    task.stopped_reason.as_deref().is_some_and(|r| FAILURE_REASONS.iter().any(|f| r.contains(f)))
}

fn is_image_pull_failure(task: &StoppedTask) -> bool {
    let mentions = |text: &str| text.contains("CannotPullContainerError") || text.contains("pull image manifest");
    task.stopped_reason.as_deref().is_some_and(mentions) || task.containers.iter().any(|c| c.reason.as_deref().is_some_and(mentions))
}

/// `arn:aws:ecs:...:task-definition/web:12` → `web:12`.
pub fn short_task_definition(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{DeploymentInfo, ServiceEvent, StoppedContainer};

    const NEW: &str = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2";
    const OLD: &str = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1";

    fn deployment(id: &str, status: &str, td: &str, running: i32, state: &str) -> DeploymentInfo {
        DeploymentInfo {
            id: id.into(),
            status: status.into(),
            task_definition: td.into(),
            desired: 2,
            running,
            rollout_state: Some(state.into()),
            created_at: 1_000,
            ..DeploymentInfo::default()
        }
    }

    fn service(td: &str, deployments: Vec<DeploymentInfo>) -> ServiceInfo {
        ServiceInfo { status: "ACTIVE".into(), task_definition: td.into(), desired: 2, deployments, ..ServiceInfo::default() }
    }

    fn watch() -> Watch {
        Watch::new(Some("ecs-svc/new".into()), NEW.into(), 1_000, 3)
    }

    #[test]
    fn events_of_the_same_moment_come_out_in_the_order_they_happened() {
        let event = |id: &str, at: i64| ServiceEvent { id: id.into(), created_at: at, message: id.into() };
        // Newest first, as ECS lists them: "second" and "third" in the same millisecond.
        let mut s = service(NEW, vec![deployment("ecs-svc/new", "PRIMARY", NEW, 0, "IN_PROGRESS")]);
        s.events = vec![event("third", 2_000), event("second", 2_000), event("first", 1_500)];
        let said: Vec<String> = watch().new_events(&s).into_iter().map(|e| e.message).collect();
        assert_eq!(said, vec!["first", "second", "third"]);
    }

    #[test]
    fn a_failure_after_the_count_was_reset_by_a_healthy_task_is_noticed() {
        let mut watch = watch();
        let mut ours = deployment("ecs-svc/new", "PRIMARY", NEW, 1, "IN_PROGRESS");
        let mut look = |failed: i32| {
            ours.failed_tasks = failed;
            watch.failures_grew(&service(NEW, vec![ours.clone()]))
        };
        assert!(look(2), "0 -> 2 grew");
        assert!(!look(2), "unchanged");
        assert!(!look(0), "reset by a healthy task (resetOnHealthyTask)");
        assert!(look(1), "the next failure after the reset is noticed");
    }

    #[test]
    fn our_deployment_completed_on_our_revision_is_success() {
        let s = service(NEW, vec![deployment("ecs-svc/new", "PRIMARY", NEW, 2, "COMPLETED")]);
        assert!(matches!(watch().assess(&s), Assessment::Succeeded(_)));
    }

    #[test]
    fn in_progress_reports_new_and_old_tasks() {
        let s = service(
            NEW,
            vec![deployment("ecs-svc/new", "PRIMARY", NEW, 1, "IN_PROGRESS"), deployment("ecs-svc/old", "ACTIVE", OLD, 2, "COMPLETED")],
        );
        match watch().assess(&s) {
            Assessment::InProgress(p) => {
                assert_eq!((p.new_running, p.new_desired, p.old_running), (1, 2, 2));
                assert!(!p.near_completion());
            }
            other => panic!("expected in progress, got {other:?}"),
        }
    }

    #[test]
    fn a_stable_service_after_a_circuit_breaker_rollback_is_never_success() {
        // ECS rolled back: the old revision is PRIMARY and COMPLETED, ours FAILED.
        let mut failed = deployment("ecs-svc/new", "ACTIVE", NEW, 0, "FAILED");
        failed.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let s = service(OLD, vec![deployment("ecs-svc/rb", "PRIMARY", OLD, 2, "COMPLETED"), failed]);
        match watch().assess(&s) {
            Assessment::Failed { cause, reason, ecs_rollback } => {
                assert_eq!(cause, FailureCause::CircuitBreaker);
                assert!(reason.contains("circuit breaker"));
                assert_eq!(ecs_rollback.as_deref(), Some("ecs-svc/rb"));
            }
            other => panic!("expected failure, got {other:?}"),
        }
        // And once our deployment has dropped off the list, still a failure.
        let s = service(OLD, vec![deployment("ecs-svc/rb", "PRIMARY", OLD, 2, "COMPLETED")]);
        assert!(matches!(watch().assess(&s), Assessment::Failed { cause: FailureCause::Replaced, .. }));
    }

    #[test]
    fn a_newer_deployment_replacing_ours_is_a_failure() {
        let s = service(
            OLD,
            vec![deployment("ecs-svc/other", "PRIMARY", OLD, 0, "IN_PROGRESS"), deployment("ecs-svc/new", "ACTIVE", NEW, 1, "IN_PROGRESS")],
        );
        match watch().assess(&s) {
            Assessment::Failed { cause, reason, .. } => {
                assert_eq!(cause, FailureCause::Replaced);
                assert!(reason.contains("ecs-svc/other") && reason.contains("web:1"), "{reason}");
            }
            other => panic!("expected failure, got {other:?}"),
        }
    }

    #[test]
    fn completed_on_someone_elses_revision_is_not_success() {
        let s = service(OLD, vec![deployment("ecs-svc/new", "PRIMARY", NEW, 2, "COMPLETED")]);
        assert!(matches!(watch().assess(&s), Assessment::InProgress(_)));
    }

    #[test]
    fn an_inactive_service_fails_the_deploy() {
        let mut s = service(NEW, vec![deployment("ecs-svc/new", "PRIMARY", NEW, 0, "IN_PROGRESS")]);
        s.status = "DRAINING".into();
        assert!(matches!(watch().assess(&s), Assessment::Failed { cause: FailureCause::ServiceGone, .. }));
    }

    #[test]
    fn unable_to_place_events_fail_early() {
        let mut s = service(NEW, vec![deployment("ecs-svc/new", "PRIMARY", NEW, 0, "IN_PROGRESS")]);
        s.events.push(ServiceEvent {
            id: "e1".into(),
            created_at: 2_000,
            message: "(service web) was unable to place a task because no container instance met all of its requirements.".into(),
        });
        assert!(matches!(watch().assess(&s), Assessment::Failed { cause: FailureCause::Unplaceable, .. }));
    }

    #[test]
    fn a_rollback_deployment_is_adopted_by_its_task_definition() {
        let mut w = Watch::new(None, OLD.into(), 5_000, 3);
        let mut rb = deployment("ecs-svc/rb", "PRIMARY", OLD, 1, "IN_PROGRESS");
        rb.created_at = 5_200;
        let mut stale = deployment("ecs-svc/first", "ACTIVE", OLD, 1, "COMPLETED");
        stale.created_at = 10;
        let s = service(OLD, vec![rb, stale]);
        assert!(matches!(w.assess(&s), Assessment::InProgress(_)));
        assert_eq!(w.deployment_id.as_deref(), Some("ecs-svc/rb"));
    }

    #[test]
    fn a_deployment_that_existed_before_is_never_adopted_even_if_recent() {
        // The old deployment was created 0.5 s before the rollback started (within the
        // clock-skew slack); the rollback's own deployment does not exist yet.
        let mut w = Watch::new(None, OLD.into(), 5_000, 3);
        w.never_adopt(["ecs-svc/old".to_string()]);
        let mut old = deployment("ecs-svc/old", "ACTIVE", OLD, 1, "COMPLETED");
        old.created_at = 4_500;
        let s = service(NEW, vec![deployment("ecs-svc/new", "PRIMARY", NEW, 0, "FAILED"), old]);
        assert!(matches!(w.assess(&s), Assessment::InProgress(_)));
        assert_eq!(w.deployment_id, None);
    }

    fn stopped(arn: &str, reason: &str, exit: Option<i32>) -> StoppedTask {
        StoppedTask {
            arn: arn.into(),
            stopped_reason: Some(reason.into()),
            containers: vec![StoppedContainer { name: "web".into(), exit_code: exit, ..StoppedContainer::default() }],
            ..StoppedTask::default()
        }
    }

    #[test]
    fn an_image_pull_failure_ends_the_deploy_at_once() {
        let mut w = watch();
        let verdict = w.judge_stopped(&[stopped("t1", "CannotPullContainerError: pull image manifest has been retried", None)]);
        let (cause, reason) = verdict.expect("fails");
        assert_eq!(cause, FailureCause::ImagePull);
        assert!(reason.contains("CannotPullContainerError"));
    }

    #[test]
    fn task_failures_count_up_to_the_limit_once_per_task() {
        let mut w = watch();
        let t1 = stopped("t1", "Essential container in task exited", Some(1));
        let new = w.take_new_stopped(vec![t1.clone()]);
        assert!(w.judge_stopped(&new).is_none());
        assert!(w.take_new_stopped(vec![t1.clone()]).is_empty(), "the same task is not taken twice");
        let new = w.take_new_stopped(vec![t1.clone(), stopped("t2", "Essential container in task exited", Some(1))]);
        assert_eq!(new.len(), 1);
        assert!(w.judge_stopped(&new).is_none());
        let new = w.take_new_stopped(vec![stopped("t3", "Essential container in task exited", Some(3))]);
        let (cause, reason) = w.judge_stopped(&new).expect("third failure");
        assert_eq!(cause, FailureCause::TaskFailures);
        assert!(reason.contains("3 tasks") && reason.contains("web exited with code 3"), "{reason}");
    }

    #[test]
    fn only_failures_count_as_failures_not_scale_in_or_user_stops() {
        let mut w = watch();
        let scale_in = |arn: &str| StoppedTask {
            arn: arn.into(),
            stop_code: Some("ServiceSchedulerInitiated".into()),
            stopped_reason: Some("Scaling activity initiated by (deployment ecs-svc/1)".into()),
            ..StoppedTask::default()
        };
        let user = StoppedTask {
            arn: "u".into(),
            stop_code: Some("UserInitiated".into()),
            stopped_reason: Some("chaos".into()),
            ..StoppedTask::default()
        };
        let unhealthy = StoppedTask {
            arn: "h".into(),
            stop_code: Some("ServiceSchedulerInitiated".into()),
            stopped_reason: Some("Task failed container health checks".into()),
            ..StoppedTask::default()
        };
        assert!(!is_task_failure(&scale_in("s")));
        assert!(!is_task_failure(&user));
        assert!(is_task_failure(&unhealthy));
        let new = w.take_new_stopped(vec![scale_in("s1"), scale_in("s2"), scale_in("s3"), user]);
        assert!(w.judge_stopped(&new).is_none(), "four stops, none a failure");
        let new = w.take_new_stopped(vec![stopped("c1", "Essential container in task exited", Some(1)), unhealthy]);
        assert!(w.judge_stopped(&new).is_none(), "two failures, limit three");
        let (cause, reason) = w.judge_stopped(&[stopped("c2", "Essential container in task exited", Some(2))]).expect("third failure");
        assert_eq!(cause, FailureCause::TaskFailures);
        assert!(reason.starts_with("3 tasks"), "{reason}");
    }

    #[test]
    fn settings_that_cannot_make_progress_are_named_with_what_would_work() {
        let with = |desired: i32, min: i32, max: i32| ServiceInfo {
            name: "web".into(),
            desired,
            minimum_healthy_percent: Some(min),
            maximum_percent: Some(max),
            ..ServiceInfo::default()
        };
        // The example: 2 tasks, 100 % / 134 %: at most 2, at least 2.
        let reason = stuck_deployment_configuration(&with(2, 100, 134)).expect("stuck");
        assert!(reason.contains("minimumHealthyPercent 100") && reason.contains("maximumPercent 134"), "{reason}");
        assert!(reason.contains("at least 150") && reason.contains("at most 50"), "{reason}");
        let reason = stuck_deployment_configuration(&with(1, 100, 100)).expect("stuck");
        assert!(reason.contains("at least 200") && reason.contains("at most 0"), "{reason}");
        assert_eq!(stuck_deployment_configuration(&with(2, 100, 150)), None);
        assert_eq!(stuck_deployment_configuration(&with(2, 50, 100)), None);
        assert_eq!(stuck_deployment_configuration(&with(4, 75, 100)), None, "one task may stop first");
        assert_eq!(stuck_deployment_configuration(&with(0, 100, 100)), None, "nothing to replace");
        let defaults = ServiceInfo { name: "web".into(), desired: 3, ..ServiceInfo::default() };
        assert_eq!(stuck_deployment_configuration(&defaults), None, "ECS's defaults, 100 / 200");
    }

    #[test]
    fn a_deployment_gone_after_ecs_reactivated_an_earlier_one_is_a_circuit_breaker_rollback() {
        let mut w = watch();
        w.deployment_id = Some("ecs-svc/new".into());
        w.never_adopt(["ecs-svc/old".to_string()]);
        let mut s = service(OLD, vec![deployment("ecs-svc/old", "PRIMARY", OLD, 2, "COMPLETED")]);
        s.circuit_breaker_rollback = true;
        match w.assess(&s) {
            Assessment::Failed { cause, ecs_rollback, .. } => {
                assert_eq!(cause, FailureCause::CircuitBreaker);
                assert_eq!(ecs_rollback.as_deref(), Some("ecs-svc/old"));
            }
            other => panic!("{other:?}"),
        }
        // A new deployment by someone else is still "replaced".
        let mut w = watch();
        w.deployment_id = Some("ecs-svc/new".into());
        w.never_adopt(["ecs-svc/old".to_string()]);
        let s2 = ServiceInfo {
            circuit_breaker_rollback: true,
            ..service(OLD, vec![deployment("ecs-svc/theirs", "PRIMARY", OLD, 2, "IN_PROGRESS")])
        };
        assert!(matches!(w.assess(&s2), Assessment::Failed { cause: FailureCause::Replaced, .. }));
    }

    #[test]
    fn events_are_reported_once_and_only_new_ones() {
        let mut w = watch();
        let mut s = service(NEW, vec![]);
        s.events = vec![
            ServiceEvent { id: "b".into(), created_at: 3_000, message: "second".into() },
            ServiceEvent { id: "a".into(), created_at: 2_000, message: "first".into() },
            ServiceEvent { id: "old".into(), created_at: -10_000, message: "before the deploy".into() },
        ];
        let fresh: Vec<String> = w.new_events(&s).into_iter().map(|e| e.message).collect();
        assert_eq!(fresh, vec!["first", "second"]);
        assert!(w.new_events(&s).is_empty());
    }

    #[test]
    fn polling_is_fast_early_and_near_completion_and_backs_off_between() {
        let early = poll_interval(Duration::from_secs(2), None, 5);
        assert_eq!(early, Duration::from_millis(500));
        let middle = Progress { new_running: 1, new_desired: 4, ..Progress::default() };
        let first = poll_interval(Duration::from_secs(30), Some(&middle), 0);
        let later = poll_interval(Duration::from_secs(30), Some(&middle), 4);
        assert!(later > first);
        assert!(poll_interval(Duration::from_secs(300), Some(&middle), 50) <= Duration::from_secs(10));
        let near = Progress { new_running: 4, new_desired: 4, old_running: 2, ..Progress::default() };
        assert_eq!(poll_interval(Duration::from_secs(300), Some(&near), 50), Duration::from_millis(500));
    }
}
