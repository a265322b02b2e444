//! The service scheduler: what ECS does for a REPLICA service with the rolling update
//! (ECS) deployment controller, one reconcile per service per tick.
//!
//! Each reconcile reads the service and its tasks and decides, like ECS:
//! - count failures (tasks that failed to start, essential containers that exited, tasks
//!   that failed their container health checks or their load balancer's health checks after
//!   the grace period) against the deployment — a task of it turning healthy sets the count
//!   back to 0 unless `resetOnHealthyTask` is false — and trip the circuit breaker at the
//!   threshold of its `thresholdConfiguration`, rolling back to the last COMPLETED
//!   deployment when asked to;
//! - start tasks of the PRIMARY deployment up to `desiredCount`, never running more than
//!   `maximumPercent` of it in all;
//! - stop tasks of older deployments while keeping `minimumHealthyPercent` healthy;
//! - mark the deployment COMPLETED (and the service deployment SUCCESSFUL or
//!   ROLLBACK_SUCCESSFUL) once the PRIMARY runs `desiredCount` healthy tasks and nothing
//!   else runs — or earlier, when its `earlySuccessCriteria` are met — then report a steady
//!   state.
//!
//! A task behind a load balancer is healthy only once its targets are healthy in every target
//! group (ECS waits for the load balancer's health checks before it counts the task), see
//! [`View::target_health`].
//!
//! The deciding is [`decide`]: a function of what the service and its tasks are now and of
//! the time, with no other input and no effect, which answers [`Action`]s. [`reconcile_all`]
//! is the thin loop that applies them through `records`, the operations on records the API
//! handlers share. It only changes records; the runtime starts and stops the processes.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::api::Caller;
use crate::records::task_targets::{Standing, TaskTargetHealth, target_health};
use crate::records::{Placement, circuit_breaker_threshold, definition_in, new_task, record_event, start_rollback, stop_task};
use crate::state::{Partition, Service, Task, TaskDefinition};

/// How long to wait before launching again after a task of the service failed, doubling
/// with each consecutive failure up to `MAX_BACKOFF` (ECS throttles relaunches the same way,
/// over longer times).
const FIRST_BACKOFF: f64 = 0.5;
const MAX_BACKOFF: f64 = 10.0;

const CIRCUIT_BREAKER_REASON: &str = "ECS deployment circuit breaker: tasks failed to start.";

const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// The start of the stopped reason of a task stopped for its load balancer's health checks:
/// "Task failed ELB health checks in (target-group ARN)", as ECS words it.
const ELB_UNHEALTHY_REASON: &str = "Task failed ELB health checks in ";

/// What the scheduler sees of one service: the service, its tasks (any status), the
/// registered task definitions (a deployment launches only a definition that exists), and
/// what the load balancers make of the tasks.
pub struct View<'a> {
    pub service: &'a Service,
    pub tasks: Vec<&'a Task>,
    pub definitions: &'a BTreeMap<String, Vec<TaskDefinition>>,
    /// Task ARN → the worst state of its targets in the target groups it is registered in
    /// (`records::task_targets::target_health`); a task with no target is absent. A task
    /// counts as healthy only while its entry, if any, is [`Standing::Healthy`].
    pub target_health: &'a HashMap<String, TaskTargetHealth>,
}

impl View<'_> {
    /// Running as desired, its container health checks passed (or none), and every target
    /// of it healthy in its target group.
    fn is_healthy(&self, task: &Task) -> bool {
        task.is_healthy() && self.target_health.get(&task.arn).is_none_or(|h| h.standing == Standing::Healthy)
    }

    /// Running, not healthy yet, and not found unhealthy either (by its container health
    /// checks or its load balancer): its health checks have yet to answer.
    fn is_awaiting_health(&self, task: &Task) -> bool {
        !self.is_healthy(task)
            && task.last_status == "RUNNING"
            && task.health_status != "UNHEALTHY"
            && self.target_health.get(&task.arn).is_none_or(|h| h.standing != Standing::Unhealthy)
    }
}

/// One change the scheduler decided, in the order it is to be applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Stop a task that failed its container health checks after the grace period
    /// (`ServiceSchedulerInitiated`, "Task failed container health checks"), with a service event.
    StopUnhealthy { task_arn: String },
    /// Stop a task whose target is unhealthy in `target_group_arn` after the grace period
    /// (`ServiceSchedulerInitiated`, "Task failed ELB health checks in (target-group ARN)"),
    /// with the service event ECS writes ("… (port P) is unhealthy in (target-group ARN) due to
    /// (reason …)").
    StopElbUnhealthy { task_arn: String, target_group_arn: String, port: i64, description: Option<String> },
    /// Count a failed task against its deployment (`failedTasks`), once.
    CountFailure { task_arn: String },
    /// A task was seen healthy for the first time. With the circuit breaker's
    /// `resetOnHealthyTask` (`reset`, the default), its deployment's failure count goes back
    /// to 0 (ECS API reference, `DeploymentCircuitBreaker`).
    TaskHealthy { task_arn: String, reset: bool },
    /// The PRIMARY's service deployment shows this `deploymentCircuitBreaker.failureCount`
    /// and `threshold` (DescribeServiceDeployments), kept current while the breaker monitors
    /// the deployment and set as it trips.
    UpdateCircuitBreaker { failure_count: i64, threshold: i64 },
    /// Hold launches until `until` after `consecutive_failures` failures in a row.
    Backoff { consecutive_failures: u32, until: f64 },
    /// The circuit breaker trips for the PRIMARY deployment.
    TripCircuitBreaker(Breaker),
    /// The PRIMARY's service deployment starts: PENDING → IN_PROGRESS, ROLLBACK_REQUESTED →
    /// ROLLBACK_IN_PROGRESS.
    BeginServiceDeployment,
    /// Stop these tasks (ARN, stopped reason) and start `start` tasks of the PRIMARY, with
    /// the service events ECS writes for them.
    Roll { stop: Vec<(String, String)>, start: i64 },
    /// The PRIMARY deployment is COMPLETED, the older ones are dropped, and its service
    /// deployment SUCCESSFUL (ROLLBACK_SUCCESSFUL for a rollback).
    CompleteDeployment,
    /// The service reached a steady state (its event, once).
    SteadyState,
    /// A DRAINING service whose tasks all stopped becomes INACTIVE.
    Inactivate,
}

/// What a tripped circuit breaker does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breaker {
    /// Reactivate the last COMPLETED deployment (`rollback: true`, and one to go back to).
    RollBack,
    /// Mark the deployment FAILED; its service deployment STOPPED, or ROLLBACK_FAILED when
    /// it was already rolling back.
    Fail { rollback_failed: bool },
}

/// Reconciles every service of a partition at time `now`: decide, then apply.
///
/// `minute_seconds`: how long a minute of a deployment's bake times and hook timeouts lasts
/// (`crate::Options::minute_seconds`).
pub fn reconcile_all(partition: &mut Partition, now: f64, minute_seconds: f64) {
    let caller = Caller { account: partition.account.clone(), region: partition.region.clone() };
    // Each service's tasks, found once per tick rather than by a scan per service.
    let mut by_service: HashMap<String, Vec<String>> = HashMap::with_capacity(partition.services.len());
    for task in partition.tasks.values() {
        if let Some(service) = &task.service_arn {
            // `entry` would clone the service ARN for every task; clone it once per service.
            match by_service.get_mut(service.as_str()) {
                Some(list) => list.push(task.arn.clone()),
                None => {
                    by_service.insert(service.clone(), vec![task.arn.clone()]);
                }
            }
        }
    }
    let health = target_health(partition);
    let arns: Vec<String> = partition.services.keys().cloned().collect();
    for arn in arns {
        let mine = by_service.remove(&arn).unwrap_or_default();
        let native = partition.services.get(&arn).is_some_and(|s| s.service_deployments.first().is_some_and(|sd| sd.native.is_some()));
        if native {
            crate::native::advance(partition, &arn, &health, now, minute_seconds);
        }
        check_alarms(partition, &arn, now);
        let actions = match partition.services.get(&arn) {
            Some(service) => {
                let tasks = mine.iter().filter_map(|a| partition.tasks.get(a)).collect();
                decide(&View { service, tasks, definitions: &partition.task_definitions, target_health: &health }, now)
            }
            None => continue,
        };
        if !actions.is_empty() {
            apply(partition, &arn, actions, &caller, now);
        }
        if native {
            crate::native::after_tick(partition, &arn, now);
        }
    }
}

/// Whether the CloudWatch alarm `name` is in the ALARM state.
fn in_alarm(partition: &Partition, name: &str) -> bool {
    crate::state::cloudwatch::alarm_state(partition, name) == Some("ALARM")
}

/// The CloudWatch alarms of a deployment (`deploymentConfiguration.alarms`, ECS developer
/// guide "How CloudWatch alarms detect Amazon ECS deployment failures"): while the PRIMARY's
/// service deployment is in progress, an alarm it names in ALARM fails it: rolled back to the
/// last completed deployment when `rollback` is set (a native one with its traffic returned
/// to blue first), else stopped. The service deployment's `alarms` show TRIGGERED and the
/// alarms found.
fn check_alarms(partition: &mut Partition, service_arn: &str, now: f64) {
    let Some(service) = partition.services.get(service_arn) else { return };
    let Some(primary) = service.deployments.first() else { return };
    let Some(sd) = service.service_deployments.iter().find(|sd| sd.arn == primary.service_deployment_arn) else { return };
    if sd.status != "IN_PROGRESS" || sd.alarms_status != "MONITORING" {
        return;
    }
    let configuration = &sd.deployment_configuration;
    let names: Vec<&str> = configuration
        .pointer("/alarms/alarmNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let firing: Vec<String> = names.iter().filter(|n| in_alarm(partition, n)).map(|n| n.to_string()).collect();
    if firing.is_empty() {
        return;
    }
    let rollback = configuration.pointer("/alarms/rollback").and_then(Value::as_bool) == Some(true);
    let sd_arn = sd.arn.clone();
    let reason = format!("ECS deployment alarms triggered: {}.", firing.join(", "));
    let target = service.last_completed.clone().filter(|t| t.id != primary.id);
    let native = sd.native.is_some();
    if let Some(service) = partition.services.get_mut(service_arn)
        && let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn)
    {
        sd.alarms_status = "TRIGGERED".into();
        sd.triggered_alarms = firing;
        sd.updated_at = now;
    }
    match target {
        Some(_) if rollback && native => crate::native::roll_back(partition, service_arn, &reason, now),
        Some(target) if rollback => {
            if let Some(service) = partition.services.get_mut(service_arn) {
                start_rollback(service, &sd_arn, &target, now, &reason);
            }
        }
        _ => {
            if let Some(service) = partition.services.get_mut(service_arn) {
                fail_primary(service, &sd_arn, "STOPPED", &reason, now);
                let name = service.name.clone();
                record_event(service, now, format!("(service {name}) deployment failed: {reason}"));
            }
        }
    }
}

fn is_failure(task: &Task) -> bool {
    matches!(task.stop_code.as_deref(), Some("TaskFailedToStart" | "EssentialContainerExited"))
        || task.stopped_reason.as_deref().is_some_and(|r| r == UNHEALTHY_REASON || r.starts_with(ELB_UNHEALTHY_REASON))
}

/// How long launches wait after `consecutive_failures` failures in a row.
fn backoff(consecutive_failures: u32) -> f64 {
    (FIRST_BACKOFF * 2f64.powi(consecutive_failures.saturating_sub(1) as i32)).min(MAX_BACKOFF)
}

/// What the scheduler does with one service at time `now`: a function of the view and the
/// time only. At steady state it answers nothing (and allocates little: this runs for every
/// service on every tick).
///
/// The steps follow one another as ECS's do, each seeing what the ones before decided:
/// a task stopped for its health checks (its containers', or its load balancer's: a target
/// `unhealthy` once `healthCheckGracePeriodSeconds` have passed since the task started; within
/// the grace period such a task is not stopped, only not healthy) is a failure counted now; failures may trip the
/// circuit breaker, whose rollback changes which deployment is PRIMARY; the PRIMARY then
/// launches and older deployments are stopped; completion is judged on the result.
pub fn decide(view: &View, now: f64) -> Vec<Action> {
    let service = view.service;
    let mut actions = Vec::new();
    if service.status == "INACTIVE" {
        return actions;
    }
    let grace = service.health_check_grace_period_seconds.unwrap_or(0) as f64;

    // Tasks that failed their container health checks or their load balancer's, once the
    // grace period is over.
    let mut unhealthy: Vec<&str> = Vec::new();
    for task in &view.tasks {
        if task.desired_status != "RUNNING" || task.last_status != "RUNNING" || !task.started_at.is_some_and(|s| now - s >= grace) {
            continue;
        }
        if task.health_status == "UNHEALTHY" {
            actions.push(Action::StopUnhealthy { task_arn: task.arn.clone() });
            unhealthy.push(&task.arn);
        } else if let Some(elb) = view.target_health.get(&task.arn).filter(|h| h.standing == Standing::Unhealthy) {
            actions.push(Action::StopElbUnhealthy {
                task_arn: task.arn.clone(),
                target_group_arn: elb.target_group_arn.clone(),
                port: elb.port,
                description: elb.description.clone(),
            });
            unhealthy.push(&task.arn);
        }
    }

    // Tasks seen healthy for the first time: each resets its deployment's failure count when
    // the circuit breaker's `resetOnHealthyTask` is true (the default: the failures that count
    // are consecutive), and leaves it when false (they accumulate over the deployment).
    let first = service.deployments.first();
    let is_first = |task: &Task| first.is_some_and(|p| task.deployment_id.as_deref() == Some(p.id.as_str()));
    let reset =
        service.deployment_configuration.pointer("/deploymentCircuitBreaker/resetOnHealthyTask").and_then(Value::as_bool) != Some(false);
    let mut primary_failed = first.map(|p| p.failed_tasks).unwrap_or(0);
    for task in &view.tasks {
        if task.reached_healthy || !view.is_healthy(task) {
            continue;
        }
        actions.push(Action::TaskHealthy { task_arn: task.arn.clone(), reset });
        if reset && is_first(task) {
            primary_failed = 0;
        }
    }

    // Failures, counted against the deployment each task belongs to.
    let failed_before = primary_failed;
    let mut failed_now = 0;
    for task in &view.tasks {
        if task.failure_counted || !(is_failure(task) || unhealthy.contains(&task.arn.as_str())) {
            continue;
        }
        actions.push(Action::CountFailure { task_arn: task.arn.clone() });
        failed_now += 1;
        if is_first(task) {
            primary_failed += 1;
        }
    }
    let mut steady = service.steady;
    let mut backoff_until = service.launch_backoff_until;
    if failed_now > 0 {
        let consecutive_failures = service.consecutive_failures + failed_now;
        backoff_until = now + backoff(consecutive_failures);
        actions.push(Action::Backoff { consecutive_failures, until: backoff_until });
        steady = false;
    }

    let Some(first) = first else { return actions };
    // The PRIMARY deployment as the steps below see it, after the circuit breaker.
    let mut primary_id = first.id.as_str();
    let mut primary_definition = first.task_definition.as_str();
    let mut rollout = first.rollout_state.as_str();
    let sd = service.service_deployments.iter().find(|sd| sd.arn == first.service_deployment_arn);
    let mut sd_status = sd.map(|sd| sd.status.as_str());

    // The circuit breaker. Cheapest test first: on most ticks the PRIMARY is not in progress.
    if rollout == "IN_PROGRESS" {
        let breaker = service.deployment_configuration.get("deploymentCircuitBreaker");
        let flag = |key: &str| breaker.and_then(|b| b.get(key)).and_then(Value::as_bool) == Some(true);
        // Of the latest desired count (`ThresholdConfiguration`), so it follows UpdateService.
        let threshold = circuit_breaker_threshold(&service.deployment_configuration, service.desired_count);
        let trips = flag("enable") && primary_failed >= threshold;
        // Failures are counted one after the other: the breaker trips at the one that reaches
        // the threshold, whichever others were found in the same tick.
        let failure_count = if trips { primary_failed.min(failed_before.max(threshold)) } else { primary_failed };
        if let Some(sd) = sd
            && (sd.circuit_breaker_status == "MONITORING" || trips)
            && (sd.failure_count, sd.threshold) != (failure_count, threshold)
        {
            actions.push(Action::UpdateCircuitBreaker { failure_count, threshold });
        }
        if trips {
            let rolling_back_already = matches!(sd_status, Some("ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS"));
            let target = service.last_completed.as_ref().filter(|t| t.id != first.id);
            match target {
                Some(target)
                    if flag("rollback") && !rolling_back_already && definition_in(view.definitions, &target.task_definition).is_some() =>
                {
                    actions.push(Action::TripCircuitBreaker(Breaker::RollBack));
                    primary_id = &target.id;
                    primary_definition = &target.task_definition;
                    sd_status = sd_status.map(|_| "ROLLBACK_REQUESTED");
                    backoff_until = 0.0;
                    steady = false;
                }
                _ => {
                    actions.push(Action::TripCircuitBreaker(Breaker::Fail { rollback_failed: rolling_back_already }));
                    rollout = "FAILED";
                    sd_status = sd_status.map(|_| if rolling_back_already { "ROLLBACK_FAILED" } else { "STOPPED" });
                }
            }
        }
    }

    if matches!(sd_status, Some("PENDING" | "ROLLBACK_REQUESTED")) {
        actions.push(Action::BeginServiceDeployment);
    }

    // The rolling update, held back while a blue/green, linear or canary deployment walks its
    // lifecycle stages (`crate::native`).
    let hold = crate::native::hold(service);
    let desired = service.desired_count;
    // The early success criteria apply to the deployment itself, not to its rollback.
    let early = early_success(service)
        .filter(|_| service.status == "ACTIVE" && rollout == "IN_PROGRESS" && matches!(sd_status, Some("PENDING" | "IN_PROGRESS")))
        .filter(|_| sd.is_none_or(|sd| sd.native.is_none()));
    let percent = |key: &str, default: i64| service.deployment_configuration.get(key).and_then(Value::as_i64).unwrap_or(default);
    let is_primary = |t: &Task| t.deployment_id.as_deref() == Some(primary_id);
    let active: Vec<&Task> =
        view.tasks.iter().copied().filter(|t| t.desired_status == "RUNNING" && !unhealthy.contains(&t.arn.as_str())).collect();
    let primary_active: Vec<&Task> = active.iter().copied().filter(|t| is_primary(t)).collect();
    let mut old_active: Vec<&Task> = active.iter().copied().filter(|t| !is_primary(t)).collect();
    let primary_active_count = primary_active.len() as i64;
    // Counted before the scale-in below stops any task, as the old-task step expects.
    let healthy_total = if old_active.is_empty() { 0 } else { active.iter().filter(|t| view.is_healthy(t)).count() as i64 };

    let mut stop: Vec<(String, String)> = Vec::new();
    // Scale in the primary when it runs more than desired (least healthy first).
    if primary_active_count > desired {
        let mut extra = primary_active;
        extra.sort_by_key(|t| (view.is_healthy(t), t.created_at as i64));
        let reason = format!("Scaling activity initiated by (deployment {primary_id})");
        for task in extra.iter().take((primary_active_count - desired.max(0)) as usize) {
            stop.push((task.arn.clone(), reason.clone()));
        }
    }
    // Once the early success criteria are met, the source revision's tasks are cleaned up
    // (all of them: `healthyPercent` is at least `minimumHealthyPercent`).
    let early_met = early.is_some_and(|e| {
        let healthy = active.iter().filter(|t| is_primary(t) && view.is_healthy(t) && !stop.iter().any(|(a, _)| *a == t.arn)).count();
        healthy as i64 >= e.healthy_tasks
    });
    // Stop old tasks: unhealthy ones freely, healthy ones down to the minimum healthy count.
    if !old_active.is_empty() && !hold.keep_old {
        let min_healthy = if early_met { 0 } else { (desired * percent("minimumHealthyPercent", 100) + 99) / 100 };
        stop_old(view, &mut old_active, healthy_total, min_healthy, &mut stop);
    }
    // Start primary tasks within maximumPercent (counting tasks still stopping, as ECS does).
    let want = desired - primary_active_count;
    let mut start = 0;
    if want > 0 && service.status == "ACTIVE" && rollout != "FAILED" && now >= backoff_until && !hold.launch {
        let max_total = desired * percent("maximumPercent", 200) / 100;
        let in_flight = if hold.ignore_maximum_percent {
            view.tasks.iter().filter(|t| !t.is_stopped() && is_primary(t)).count() as i64
        } else {
            view.tasks.iter().filter(|t| !t.is_stopped()).count() as i64
        };
        let room = (max_total.max(desired) - in_flight).max(0);
        if definition_in(view.definitions, primary_definition).is_some() {
            start = want.min(room).max(0);
        }
    }

    // Completion, judged on the tasks as they will be: started ones alive, stopped ones no
    // longer healthy (but alive until the runtime has stopped them).
    let stopping = |t: &Task| unhealthy.contains(&t.arn.as_str()) || stop.iter().any(|(a, _)| *a == t.arn);
    let primary_healthy = view.tasks.iter().filter(|t| is_primary(t) && view.is_healthy(t) && !stopping(t)).count() as i64;
    let primary_alive = view.tasks.iter().filter(|t| is_primary(t) && !t.is_stopped()).count() as i64 + start;
    let others_alive = view.tasks.iter().any(|t| !is_primary(t) && !t.is_stopped());
    let settled = primary_healthy == desired && primary_alive == desired && !others_alive && !hold.keep_old;
    // Early success completes the deployment before it is settled: BLOCKING once the source
    // revision's tasks have stopped, DEFERRED at once, their stop following its completion.
    let early_done = early.is_some_and(|e| early_met && (e.deferred || !others_alive));
    let completes = rollout == "IN_PROGRESS" && (settled || early_done);
    let completes_first = completes && early.is_some_and(|e| e.deferred);
    if completes_first {
        actions.push(Action::CompleteDeployment);
    }
    if !stop.is_empty() || start > 0 {
        steady = false;
        actions.push(Action::Roll { stop, start });
    }
    if service.status == "DRAINING" {
        if view.tasks.iter().all(|t| t.is_stopped()) {
            actions.push(Action::Inactivate);
        }
        return actions;
    }
    if completes && !completes_first {
        actions.push(Action::CompleteDeployment);
    }
    if settled && !steady {
        actions.push(Action::SteadyState);
    }
    actions
}

/// A rolling deployment's early success criteria, when enabled.
#[derive(Clone, Copy)]
struct EarlySuccess {
    /// How many of the PRIMARY's tasks must be healthy.
    healthy_tasks: i64,
    /// `sourceServiceRevisionCleanup` DEFERRED: the deployment is marked successful first and
    /// the source revision's tasks are stopped after (BLOCKING: stopped first).
    deferred: bool,
}

/// The early success criteria of `service`'s rolling deployments
/// (`deploymentConfiguration.earlySuccessCriteria`, ECS API reference
/// `DeploymentEarlySuccessCriteria`, and the ECS developer guide "Complete Amazon ECS rolling
/// deployments early with early success criteria"): when enabled, the deployment is successful
/// once `healthyPercent` of the desired count — rounded up — of its tasks are healthy, and
/// the source service revision's tasks are cleaned up before (`BLOCKING`) or after
/// (`DEFERRED`) that. Only the ROLLING strategy has them.
fn early_success(service: &Service) -> Option<EarlySuccess> {
    let configuration = &service.deployment_configuration;
    let criteria = configuration.get("earlySuccessCriteria")?;
    let rolling = configuration.get("strategy").and_then(Value::as_str).is_none_or(|s| s == "ROLLING");
    if !rolling || criteria.get("enable").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let percent = criteria.get("healthyPercent").and_then(Value::as_i64)?;
    let deferred = criteria.get("sourceServiceRevisionCleanup").and_then(Value::as_str) == Some("DEFERRED");
    Some(EarlySuccess { healthy_tasks: (service.desired_count.max(0) * percent + 99) / 100, deferred })
}

/// Picks old tasks to stop: unhealthy and not-yet-running ones freely, healthy ones down to
/// the minimum healthy count. A running task whose health check has not answered yet
/// (UNKNOWN) does not count as healthy, but it is not stopped while fewer than the minimum
/// are healthy either: stopping it then would leave nothing serving (ECS starts the new
/// tasks first when `maximumPercent` leaves room, and replaces only tasks found UNHEALTHY).
fn stop_old(view: &View, old_active: &mut [&Task], healthy_total: i64, min_healthy: i64, stop: &mut Vec<(String, String)>) {
    old_active.sort_by_key(|t| (view.is_healthy(t), t.created_at as i64));
    let mut healthy_left = healthy_total;
    for t in old_active.iter() {
        let healthy = view.is_healthy(t);
        if healthy && healthy_left - 1 < min_healthy {
            continue;
        }
        if view.is_awaiting_health(t) && healthy_left < min_healthy {
            continue;
        }
        let owner = t.deployment_id.as_deref().unwrap_or_default();
        stop.push((t.arn.clone(), format!("Scaling activity initiated by (deployment {owner})")));
        if healthy {
            healthy_left -= 1;
        }
    }
}

/// Applies what [`decide`] answered for the service `service_arn`, in order, through the
/// records operations.
fn apply(partition: &mut Partition, service_arn: &str, actions: Vec<Action>, caller: &Caller, now: f64) {
    let Partition { services, tasks, task_definitions, .. } = partition;
    let Some(service) = services.get_mut(service_arn) else { return };
    for action in actions {
        match action {
            Action::StopUnhealthy { task_arn } => {
                let Some(task) = tasks.get_mut(&task_arn) else { continue };
                stop_task(task, "ServiceSchedulerInitiated", UNHEALTHY_REASON, now);
                let message = format!("(service {}) (task {}) failed container health checks.", service.name, task.id());
                record_event(service, now, message);
            }
            Action::StopElbUnhealthy { task_arn, target_group_arn, port, description } => {
                let Some(task) = tasks.get_mut(&task_arn) else { continue };
                stop_task(task, "ServiceSchedulerInitiated", &format!("{ELB_UNHEALTHY_REASON}(target-group {target_group_arn})"), now);
                let reason = description.unwrap_or_else(|| "Health checks failed".into());
                let message = format!(
                    "(service {}) (task {}) (port {port}) is unhealthy in (target-group {target_group_arn}) due to (reason {reason}).",
                    service.name,
                    task.id()
                );
                record_event(service, now, message);
            }
            Action::CountFailure { task_arn } => {
                let Some(task) = tasks.get_mut(&task_arn) else { continue };
                task.failure_counted = true;
                if let Some(deployment) = service.deployments.iter_mut().find(|d| Some(&d.id) == task.deployment_id.as_ref()) {
                    deployment.failed_tasks += 1;
                    deployment.updated_at = now;
                }
            }
            Action::TaskHealthy { task_arn, reset } => {
                let Some(task) = tasks.get_mut(&task_arn) else { continue };
                task.reached_healthy = true;
                if reset
                    && let Some(deployment) = service.deployments.iter_mut().find(|d| Some(&d.id) == task.deployment_id.as_ref())
                    && deployment.failed_tasks != 0
                {
                    deployment.failed_tasks = 0;
                    deployment.updated_at = now;
                }
            }
            Action::UpdateCircuitBreaker { failure_count, threshold } => {
                let Some(p) = service.deployments.first() else { continue };
                let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == p.service_deployment_arn) else { continue };
                sd.failure_count = failure_count;
                sd.threshold = threshold;
                sd.updated_at = now;
            }
            Action::Backoff { consecutive_failures, until } => {
                service.consecutive_failures = consecutive_failures;
                service.launch_backoff_until = until;
                service.steady = false;
            }
            Action::TripCircuitBreaker(outcome) => trip_circuit_breaker(service, outcome, now),
            Action::BeginServiceDeployment => {
                let Some(p) = service.deployments.first() else { continue };
                let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == p.service_deployment_arn) else { continue };
                if sd.status == "PENDING" {
                    sd.status = "IN_PROGRESS".into();
                    // The tick's clock may have been read just before the request that created it.
                    sd.started_at = Some(now.max(sd.created_at));
                } else {
                    sd.status = "ROLLBACK_IN_PROGRESS".into();
                }
                sd.updated_at = now;
            }
            Action::Roll { stop, start } => {
                let mut stopped = Vec::new();
                for (arn, reason) in &stop {
                    if let Some(task) = tasks.get_mut(arn) {
                        stop_task(task, "ServiceSchedulerInitiated", reason, now);
                        stopped.push(task.id().to_string());
                    }
                }
                let mut started = Vec::new();
                if let Some(primary) = service.deployments.first()
                    && let Some(definition) = definition_in(task_definitions, &primary.task_definition)
                {
                    for _ in 0..start {
                        let task = new_task(
                            definition,
                            Placement {
                                cluster_arn: &service.cluster_arn,
                                group: format!("service:{}", service.name),
                                started_by: Some(primary.id.clone()),
                                service_arn: Some(service.arn.clone()),
                                deployment_id: Some(primary.id.clone()),
                                launch_type: service.launch_type.clone(),
                                overrides: serde_json::json!({}),
                                image_digests: &primary.image_digests,
                            },
                            caller,
                            now,
                        );
                        started.push(task.id().to_string());
                        tasks.insert(task.arn.clone(), task);
                    }
                }
                for (ids, verb) in [(started, "started"), (stopped, "stopped")] {
                    if ids.is_empty() {
                        continue;
                    }
                    service.steady = false;
                    let list: Vec<String> = ids.iter().map(|id| format!("(task {id})")).collect();
                    let what = if verb == "started" { "tasks" } else { "running tasks" };
                    let message = format!("(service {}) has {verb} {} {what}: {}.", service.name, ids.len(), list.join(" "));
                    record_event(service, now, message);
                }
            }
            Action::CompleteDeployment => complete_deployment(service, tasks, now),
            Action::SteadyState => {
                // Older deployments a DEFERRED early success left listed have no task left.
                if service.deployments.first().is_some_and(|p| p.rollout_state == "COMPLETED") {
                    service.deployments.truncate(1);
                }
                service.steady = true;
                service.consecutive_failures = 0;
                let message = format!("(service {}) has reached a steady state.", service.name);
                record_event(service, now, message);
            }
            Action::Inactivate => service.status = "INACTIVE".into(),
        }
    }
}

fn trip_circuit_breaker(service: &mut Service, outcome: Breaker, now: f64) {
    let Some(primary) = service.deployments.first() else { return };
    let primary_id = primary.id.clone();
    let sd_arn = primary.service_deployment_arn.clone();
    let name = service.name.clone();
    record_event(service, now, format!("(service {name}) (deployment {primary_id}) deployment failed: tasks failed to start."));
    // Its failure count was set by `Action::UpdateCircuitBreaker`, just before.
    if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
        sd.circuit_breaker_status = "TRIGGERED".into();
        sd.updated_at = now;
    }
    match outcome {
        Breaker::RollBack => {
            if let Some(target) = service.last_completed.clone() {
                start_rollback(service, &sd_arn, &target, now, CIRCUIT_BREAKER_REASON);
            }
        }
        Breaker::Fail { rollback_failed } => {
            let status = if rollback_failed { "ROLLBACK_FAILED" } else { "STOPPED" };
            fail_primary(service, &sd_arn, status, CIRCUIT_BREAKER_REASON, now);
        }
    }
}

/// Ends the PRIMARY deployment without a rollback: its rollout FAILED for `reason`, its
/// service deployment `sd_arn` in `status` (STOPPED, or ROLLBACK_FAILED) and finished now.
fn fail_primary(service: &mut Service, sd_arn: &str, status: &str, reason: &str, now: f64) {
    if let Some(p) = service.deployments.first_mut() {
        p.rollout_state = "FAILED".into();
        p.rollout_state_reason = reason.to_string();
        p.updated_at = now;
    }
    if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
        sd.status = status.into();
        sd.status_reason = Some(reason.to_string());
        sd.stopped_at = Some(now);
        sd.finished_at = Some(now);
        sd.updated_at = now;
    }
}

/// Marks the PRIMARY deployment COMPLETED and its service deployment SUCCESSFUL (or
/// ROLLBACK_SUCCESSFUL). The older deployments leave the list, except those whose tasks still
/// run after a DEFERRED early success: they leave it once those have stopped.
fn complete_deployment(service: &mut Service, tasks: &BTreeMap<String, Task>, now: f64) {
    let Some(primary) = service.deployments.first_mut() else { return };
    let id = primary.id.clone();
    let sd_arn = primary.service_deployment_arn.clone();
    primary.rollout_state = "COMPLETED".into();
    primary.rollout_state_reason = format!("ECS deployment {id} completed.");
    primary.updated_at = now;
    let service_arn = service.arn.clone();
    let alive = |deployment_id: &str| {
        tasks
            .values()
            .any(|t| !t.is_stopped() && t.service_arn.as_deref() == Some(&service_arn) && t.deployment_id.as_deref() == Some(deployment_id))
    };
    let mut index = 0;
    service.deployments.retain(|d| {
        index += 1;
        index == 1 || alive(&d.id)
    });
    service.last_completed = service.deployments.first().cloned();
    if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
        sd.status = if sd.status.starts_with("ROLLBACK_") { "ROLLBACK_SUCCESSFUL" } else { "SUCCESSFUL" }.into();
        sd.finished_at = Some(now);
        sd.updated_at = now;
        if sd.circuit_breaker_status == "MONITORING" {
            sd.circuit_breaker_status = "MONITORING_COMPLETE".into();
        }
        if sd.alarms_status == "MONITORING" {
            sd.alarms_status = "MONITORING_COMPLETE".into();
        }
    }
    let message = format!("(service {}) (deployment {id}) deployment completed.", service.name);
    record_event(service, now, message);
}

#[cfg(test)]
mod tests {
    //! The scheduler under a fake clock: the API handlers create and update services, the
    //! test plays the runtime (tasks start, stop, pass or fail their health checks), and
    //! the clock is a number the test moves.

    use super::*;
    use crate::api::{Ctx, Input};
    use crate::records::task_targets::{begin_draining, drained, fixtures, register_task};
    use crate::state::LOCAL_INSTANCE_ID;
    use serde_json::json;

    struct World {
        partition: Partition,
        caller: Caller,
        now: f64,
        /// The host port the next started container binds its container port 8080 to.
        next_port: u16,
        /// The traffic engine's part, played by `run_tasks`: what the health checks make of
        /// `initial` targets in groups a listener uses (None: they stay `initial`).
        health_checks: Option<&'static str>,
        /// Whether the traffic engine's part removes a draining target once its group's
        /// deregistration delay is over since it began draining (as the engine does: until
        /// then it is shown `draining`, requests in flight or not); if not, nothing removes
        /// it but the stop's own bound (delay + `DRAIN_MARGIN_SECONDS`).
        drains: bool,
    }

    impl World {
        fn new() -> World {
            let caller = Caller { account: "123456789012".into(), region: "us-east-1".into() };
            let partition = Partition { account: caller.account.clone(), region: caller.region.clone(), ..Default::default() };
            let mut world = World { partition, caller, now: 1_000.0, next_port: 40_000, health_checks: None, drains: false };
            world.call("CreateCluster", json!({"clusterName": "c"}));
            for revision in ["v1", "v2"] {
                world.call(
                    "RegisterTaskDefinition",
                    json!({"family": "web", "containerDefinitions": [{"name": "app", "image": format!("busybox:{revision}"), "memory": 64}]}),
                );
            }
            world
        }

        fn call(&mut self, operation: &str, input: Value) -> Value {
            let map = input.as_object().cloned().unwrap_or_default();
            let mut ctx = Ctx { partition: &mut self.partition, caller: &self.caller, now: self.now };
            crate::ecs::dispatch(operation, &mut ctx, &Input(&map)).unwrap().unwrap()
        }

        fn create_service(&mut self, desired: i64, configuration: Value, grace: Option<i64>) {
            let mut input = json!({"cluster": "c", "serviceName": "svc", "taskDefinition": "web:1", "desiredCount": desired,
                                   "deploymentConfiguration": configuration});
            if let Some(grace) = grace {
                input["healthCheckGracePeriodSeconds"] = json!(grace);
            }
            self.call("CreateService", input);
        }

        /// Family "api": container "app" maps container port 8080 (bridge network mode),
        /// revisions 1 and 2; and service "svc" of api:1 behind target group `group_arn`.
        fn create_service_behind(&mut self, group_arn: &str, desired: i64, configuration: Value, grace: Option<i64>) {
            for revision in ["v1", "v2"] {
                self.call(
                    "RegisterTaskDefinition",
                    json!({"family": "api", "containerDefinitions": [{"name": "app", "image": format!("busybox:{revision}"), "memory": 64,
                                                                       "portMappings": [{"containerPort": 8080}]}]}),
                );
            }
            let mut input = json!({"cluster": "c", "serviceName": "svc", "taskDefinition": "api:1", "desiredCount": desired,
                                   "deploymentConfiguration": configuration,
                                   "loadBalancers": [{"targetGroupArn": group_arn, "containerName": "app", "containerPort": 8080}]});
            if let Some(grace) = grace {
                input["healthCheckGracePeriodSeconds"] = json!(grace);
            }
            self.call("CreateService", input);
        }

        /// The targets registered for a task, in any group.
        fn targets_of(&self, task_arn: &str) -> Vec<&crate::state::Target> {
            self.partition.target_groups.values().flat_map(|g| &g.targets).filter(|t| t.task_arn.as_deref() == Some(task_arn)).collect()
        }

        fn events(&self) -> Vec<&str> {
            self.service().events.iter().map(|e| e.message.as_str()).collect()
        }

        fn deploy(&mut self, revision: &str) {
            self.call("UpdateService", json!({"cluster": "c", "service": "svc", "taskDefinition": revision}));
        }

        fn service(&self) -> &Service {
            self.partition.services.values().next().unwrap()
        }

        fn tasks(&self) -> Vec<&Task> {
            self.partition.tasks.values().collect()
        }

        /// What `read` finds in the scheduler's view of the service now.
        fn with_view<T>(&self, read: impl FnOnce(&View) -> T) -> T {
            let health = target_health(&self.partition);
            let view = View {
                service: self.service(),
                tasks: self.tasks(),
                definitions: &self.partition.task_definitions,
                target_health: &health,
            };
            read(&view)
        }

        /// What the scheduler decides now, without applying it.
        fn decide(&self) -> Vec<Action> {
            self.with_view(|view| decide(view, self.now))
        }

        fn tick(&mut self) {
            reconcile_all(&mut self.partition, self.now, 60.0);
        }

        /// The runtime's part: tasks asked to stop are STOPPED (a task with targets first
        /// DEACTIVATING, its targets deregistered, until they have left their groups); one
        /// new task of the definition `failing` fails to start (the others wait), the other
        /// new tasks are RUNNING (healthy: no health check) with container port 8080 bound
        /// to a host port of their own, and registered in their service's target groups.
        /// The traffic engine's part comes first: see `health_checks` and `drains`.
        fn run_tasks(&mut self, failing: Option<&str>) {
            let now = self.now;
            let checked: Vec<String> = self
                .partition
                .target_groups
                .keys()
                .filter(|g| crate::records::targets::group_in_use(&self.partition, g))
                .cloned()
                .collect();
            for group in self.partition.target_groups.values_mut() {
                if self.drains {
                    let delay = group.deregistration_delay();
                    group.targets.retain(|t| t.state != "draining" || t.draining_since.is_some_and(|since| now - since < delay));
                }
                for target in group.targets.iter_mut().filter(|t| t.state == "initial" && checked.contains(&group.arn)) {
                    if let Some(state) = self.health_checks {
                        target.state = state.into();
                    }
                }
            }
            let mut failures = 0;
            let mut started = Vec::new();
            let mut deactivated = Vec::new();
            let mut deactivating = Vec::new();
            for task in self.partition.tasks.values_mut() {
                if task.desired_status == "STOPPED" && task.last_status == "DEACTIVATING" {
                    deactivating.push(task.arn.clone());
                } else if task.desired_status == "STOPPED" && task.last_status == "RUNNING" && !task.lb_targets.is_empty() {
                    task.last_status = "DEACTIVATING".into();
                    deactivated.push(task.arn.clone());
                } else if task.desired_status == "STOPPED" && !task.is_stopped() {
                    task.last_status = "STOPPED".into();
                    task.stopped_at = Some(now);
                } else if task.last_status == "PROVISIONING" && failing.is_some_and(|f| task.task_definition_arn.ends_with(f)) {
                    if failures == 1 {
                        continue;
                    }
                    failures += 1;
                    task.desired_status = "STOPPED".into();
                    task.last_status = "STOPPED".into();
                    task.stop_code = Some("TaskFailedToStart".into());
                    task.stopped_reason = Some("CannotPullContainerError: pull image manifest has been retried".into());
                    task.stopped_at = Some(now);
                } else if task.last_status == "PROVISIONING" {
                    task.last_status = "RUNNING".into();
                    task.started_at = Some(now);
                    for container in &mut task.containers {
                        container.bindings = vec![(8080, self.next_port, "tcp".into())];
                        self.next_port += 1;
                    }
                    started.push(task.arn.clone());
                }
            }
            for arn in started {
                register_task(&mut self.partition, &arn, now);
            }
            begin_draining(&mut self.partition, &deactivated, now);
            for arn in deactivating {
                if drained(&mut self.partition, &arn, false, now)
                    && let Some(task) = self.partition.tasks.get_mut(&arn)
                {
                    task.last_status = "STOPPED".into();
                    task.stopped_at = Some(now);
                }
            }
        }

        /// Ticks (scheduler, then runtime) every 100 ms until the service is steady, at most `limit` ticks;
        /// `check` sees the world after each scheduler step.
        fn run_until_steady(&mut self, failing: Option<&str>, limit: usize, mut check: impl FnMut(&World)) -> usize {
            for n in 0..limit {
                self.tick();
                check(self);
                if self.service().steady {
                    return n;
                }
                self.run_tasks(failing);
                self.now += 0.1;
            }
            panic!("not steady after {limit} ticks: {:?}", self.service().events.iter().map(|e| &e.message).collect::<Vec<_>>());
        }

        /// Tasks healthy as the scheduler counts them (load balancer included).
        fn healthy(&self) -> usize {
            self.with_view(|view| view.tasks.iter().filter(|t| view.is_healthy(t)).count())
        }

        fn alive(&self) -> usize {
            self.tasks().iter().filter(|t| !t.is_stopped()).count()
        }

        fn running_of(&self, revision: &str) -> Vec<String> {
            let suffix = format!("task-definition/{revision}");
            self.tasks().iter().filter(|t| t.is_healthy() && t.task_definition_arn.ends_with(&suffix)).map(|t| t.arn.clone()).collect()
        }

        fn service_deployment_status(&self) -> &str {
            &self.service().service_deployments[0].status
        }

        /// What the ECS API answers, error included.
        fn try_call(&mut self, operation: &str, input: Value) -> Result<Value, crate::api::ApiError> {
            let map = input.as_object().cloned().unwrap_or_default();
            let mut ctx = Ctx { partition: &mut self.partition, caller: &self.caller, now: self.now };
            crate::ecs::dispatch(operation, &mut ctx, &Input(&map)).unwrap()
        }

        /// The tasks of a revision not stopped, oldest first.
        fn alive_of(&self, revision: &str) -> Vec<String> {
            let suffix = format!("task-definition/{revision}");
            let mut tasks: Vec<&Task> =
                self.tasks().into_iter().filter(|t| !t.is_stopped() && t.task_definition_arn.ends_with(&suffix)).collect();
            tasks.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.arn.cmp(&b.arn)));
            tasks.into_iter().map(|t| t.arn.clone()).collect()
        }

        /// The runtime's part for one task: it fails to start, as an image that cannot be pulled.
        fn fail_to_start(&mut self, arn: &str) {
            let task = self.partition.tasks.get_mut(arn).unwrap();
            task.desired_status = "STOPPED".into();
            task.last_status = "STOPPED".into();
            task.stop_code = Some("TaskFailedToStart".into());
            task.stopped_reason = Some("CannotPullContainerError: pull image manifest has been retried".into());
            task.stopped_at = Some(self.now);
        }

        /// The runtime's part for one task: it runs (healthy: no health check).
        fn start_running(&mut self, arn: &str) {
            let task = self.partition.tasks.get_mut(arn).unwrap();
            task.last_status = "RUNNING".into();
            task.started_at = Some(self.now);
        }

        /// Keeps tasks from starting (their launch is slow): `run_tasks` starts only
        /// PROVISIONING tasks.
        fn hold_back(&mut self, arns: &[String]) {
            for arn in arns {
                self.partition.tasks.get_mut(arn).unwrap().last_status = "PENDING".into();
            }
        }

        fn release(&mut self, arns: &[String]) {
            for arn in arns {
                self.partition.tasks.get_mut(arn).unwrap().last_status = "PROVISIONING".into();
            }
        }
    }

    fn rolling(min: i64, max: i64) -> Value {
        json!({"minimumHealthyPercent": min, "maximumPercent": max})
    }

    fn breaker(rollback: bool) -> Value {
        json!({"minimumHealthyPercent": 100, "maximumPercent": 200, "deploymentCircuitBreaker": {"enable": true, "rollback": rollback}})
    }

    #[test]
    fn a_rolling_update_keeps_minimum_healthy_and_maximum_percent_at_every_tick() {
        let mut world = World::new();
        world.create_service(4, rolling(50, 100), None);
        world.run_until_steady(None, 50, |_| {});
        assert_eq!(world.running_of("web:1").len(), 4);

        world.deploy("web:2");
        // 50 % of 4 may stop at once, and 100 % leaves no room to start before they have.
        let first = world.decide();
        let Some(Action::Roll { stop, start }) = first.iter().find(|a| matches!(a, Action::Roll { .. })) else {
            panic!("no roll in {first:?}");
        };
        assert_eq!((stop.len(), *start), (2, 0), "{first:?}");
        let ticks = world.run_until_steady(None, 100, |w| {
            assert!(w.healthy() >= 2, "fewer than minimumHealthyPercent healthy: {}", w.healthy());
            assert!(w.alive() <= 4, "more than maximumPercent in flight: {}", w.alive());
        });
        assert!(ticks > 2, "a rolling update takes more than one step");
        let service = world.service();
        assert_eq!(service.deployments.len(), 1);
        assert_eq!(service.deployments[0].rollout_state, "COMPLETED");
        assert!(service.deployments[0].task_definition.ends_with("web:2"));
        assert_eq!(world.service_deployment_status(), "SUCCESSFUL");
        assert_eq!(world.running_of("web:2").len(), 4);
        assert!(world.running_of("web:1").is_empty());
        let messages: Vec<&str> = service.events.iter().map(|e| e.message.as_str()).collect();
        assert!(messages[0].ends_with("has reached a steady state."), "{messages:?}");
        assert!(messages[1].ends_with("deployment completed."), "{messages:?}");
    }

    #[test]
    fn with_maximum_200_percent_new_tasks_start_before_any_old_one_stops() {
        let mut world = World::new();
        world.create_service(3, rolling(100, 200), None);
        world.run_until_steady(None, 50, |_| {});
        world.deploy("web:2");
        let actions = world.decide();
        assert!(actions.contains(&Action::Roll { stop: vec![], start: 3 }), "{actions:?}");
        world.run_until_steady(None, 100, |w| {
            assert!(w.healthy() >= 3, "fewer than 100 % healthy: {}", w.healthy());
            assert!(w.alive() <= 6, "more than 200 % in flight: {}", w.alive());
        });
        assert_eq!(world.running_of("web:2").len(), 3);
    }

    #[test]
    fn the_circuit_breaker_trips_at_its_threshold_and_fails_the_deployment() {
        let mut world = World::new();
        world.create_service(4, breaker(false), None);
        world.run_until_steady(None, 50, |_| {});
        let old = world.running_of("web:1");
        world.deploy("web:2");
        // The threshold for 4 tasks is 3 (half, at least 3). Failures before it leave the
        // deployment in progress; the third fails it.
        let mut failures_seen = Vec::new();
        for _ in 0..400 {
            world.tick();
            let primary = &world.service().deployments[0];
            failures_seen.push((primary.failed_tasks, primary.rollout_state.clone()));
            if primary.rollout_state == "FAILED" {
                break;
            }
            world.run_tasks(Some("web:2"));
            world.now += 0.1;
        }
        let primary = &world.service().deployments[0];
        assert_eq!((primary.failed_tasks, primary.rollout_state.as_str()), (3, "FAILED"));
        assert!(failures_seen.iter().any(|(n, state)| *n == 2 && state == "IN_PROGRESS"), "{failures_seen:?}");
        let sd = &world.service().service_deployments[0];
        assert_eq!((sd.status.as_str(), sd.circuit_breaker_status.as_str(), sd.failure_count), ("STOPPED", "TRIGGERED", 3));
        // A failed deployment launches no more, and the old tasks were never stopped.
        let launched = |w: &World| w.tasks().iter().filter(|t| t.task_definition_arn.ends_with("web:2")).count();
        let before = launched(&world);
        for _ in 0..50 {
            world.run_tasks(Some("web:2"));
            world.now += 1.0;
            world.tick();
        }
        assert_eq!(launched(&world), before);
        assert_eq!(world.running_of("web:1"), old);
    }

    #[test]
    fn a_tripped_breaker_with_rollback_reactivates_the_last_completed_deployment() {
        let mut world = World::new();
        world.create_service(4, breaker(true), None);
        world.run_until_steady(None, 50, |_| {});
        let completed = world.service().deployments[0].id.clone();
        let old = world.running_of("web:1");
        world.deploy("web:2");
        let failed = world.service().deployments[0].id.clone();
        let mut tripped = None;
        for _ in 0..400 {
            let actions = world.decide();
            if actions.contains(&Action::TripCircuitBreaker(Breaker::RollBack)) {
                tripped = Some(actions);
                break;
            }
            world.tick();
            world.run_tasks(Some("web:2"));
            world.now += 0.1;
        }
        let actions = tripped.expect("the breaker trips");
        // The rollback's service deployment starts in the same reconcile.
        assert!(actions.contains(&Action::BeginServiceDeployment), "{actions:?}");
        world.tick();
        let service = world.service();
        assert_eq!(service.deployments[0].id, completed, "the completed deployment is PRIMARY again, with its id");
        assert_eq!((service.deployments[0].status.as_str(), service.deployments[0].rollout_state.as_str()), ("PRIMARY", "IN_PROGRESS"));
        let failed_deployment = service.deployments.iter().find(|d| d.id == failed).unwrap();
        assert_eq!((failed_deployment.rollout_state.as_str(), failed_deployment.desired_count), ("FAILED", 0));
        assert_eq!(world.service_deployment_status(), "ROLLBACK_IN_PROGRESS");
        world.run_until_steady(Some("web:2"), 50, |_| {});
        assert_eq!(world.service_deployment_status(), "ROLLBACK_SUCCESSFUL");
        let service = world.service();
        assert_eq!((service.deployments.len(), service.deployments[0].rollout_state.as_str()), (1, "COMPLETED"));
        assert!(service.task_definition.ends_with("web:1"));
        // Reactivated, not replaced: the tasks that ran before the failed deployment still run.
        assert_eq!(world.running_of("web:1"), old);
    }

    /// A circuit breaker that fails the deployment (no rollback), with these members added.
    fn breaker_with(members: Value) -> Value {
        let mut configuration = breaker(false);
        for (key, value) in members.as_object().unwrap() {
            configuration["deploymentCircuitBreaker"][key] = value.clone();
        }
        configuration
    }

    #[test]
    fn the_failure_threshold_follows_the_threshold_configuration() {
        let threshold = |kind: Option<&str>, value: i64, desired: i64| {
            let configuration = match kind {
                Some(kind) => breaker_with(json!({"thresholdConfiguration": {"type": kind, "value": value}})),
                None => breaker(false),
            };
            circuit_breaker_threshold(&configuration, desired)
        };
        // Without one: half the desired count, rounded up, within 3 and 200.
        assert_eq!([threshold(None, 0, 4), threshold(None, 0, 11), threshold(None, 0, 1000)], [3, 6, 200]);
        // COUNT: the value itself, whatever the desired count.
        assert_eq!([threshold(Some("COUNT"), 2, 100), threshold(Some("COUNT"), 500, 4)], [2, 500]);
        // BOUNDED_PERCENT: that percent of the desired count, rounded up, within 3 and 200.
        assert_eq!(
            [
                threshold(Some("BOUNDED_PERCENT"), 25, 4),
                threshold(Some("BOUNDED_PERCENT"), 100, 10),
                threshold(Some("BOUNDED_PERCENT"), 50, 1000)
            ],
            [3, 10, 200]
        );
        // UNBOUNDED_PERCENT: the same without the bounds, at least 1.
        assert_eq!(
            [
                threshold(Some("UNBOUNDED_PERCENT"), 25, 4),
                threshold(Some("UNBOUNDED_PERCENT"), 50, 1000),
                threshold(Some("UNBOUNDED_PERCENT"), 10, 1),
                threshold(Some("UNBOUNDED_PERCENT"), 50, 0)
            ],
            [1, 500, 1, 1]
        );
    }

    /// Deploys web:2, whose tasks fail to start one after the other, until the breaker trips;
    /// answers the failure counts the service deployment showed along the way, from the first.
    fn fail_until_tripped(world: &mut World) -> Vec<i64> {
        world.deploy("web:2");
        let mut shown = vec![world.service().service_deployments[0].failure_count];
        for _ in 0..400 {
            world.tick();
            let sd = &world.service().service_deployments[0];
            if shown.last() != Some(&sd.failure_count) {
                shown.push(sd.failure_count);
            }
            if sd.circuit_breaker_status == "TRIGGERED" {
                return shown;
            }
            world.run_tasks(Some("web:2"));
            world.now += 0.1;
        }
        panic!("the breaker never tripped: {:?}", world.events());
    }

    #[test]
    fn each_threshold_type_trips_the_breaker_at_its_threshold() {
        // 4 desired tasks: COUNT 2 is 2; BOUNDED_PERCENT 25 is 1, raised to 3; UNBOUNDED_PERCENT 25 is 1.
        for (kind, value, expected) in [("COUNT", 2, 2), ("BOUNDED_PERCENT", 25, 3), ("UNBOUNDED_PERCENT", 25, 1)] {
            let mut world = World::new();
            world.create_service(4, breaker_with(json!({"thresholdConfiguration": {"type": kind, "value": value}})), None);
            world.run_until_steady(None, 50, |_| {});
            let shown = fail_until_tripped(&mut world);
            // Shown as DescribeServiceDeployments reports it, from the start and at each failure.
            assert_eq!(shown, (0..=expected).collect::<Vec<_>>(), "{kind}");
            let sd = &world.service().service_deployments[0];
            assert_eq!((sd.status.as_str(), sd.failure_count, sd.threshold), ("STOPPED", expected, expected), "{kind}");
            let primary = &world.service().deployments[0];
            assert_eq!((primary.rollout_state.as_str(), primary.failed_tasks), ("FAILED", expected), "{kind}");
        }
    }

    #[test]
    fn failures_found_in_one_tick_trip_the_breaker_at_its_threshold_and_the_rest_count_as_failed_tasks() {
        let mut world = World::new();
        world.create_service(4, breaker_with(json!({"thresholdConfiguration": {"type": "COUNT", "value": 2}})), None);
        world.run_until_steady(None, 50, |_| {});
        world.deploy("web:2");
        world.tick();
        let new = world.alive_of("web:2");
        assert_eq!(new.len(), 4);
        for arn in &new[..3] {
            world.fail_to_start(arn);
        }
        world.tick();
        let sd = &world.service().service_deployments[0];
        assert_eq!((sd.circuit_breaker_status.as_str(), sd.failure_count, sd.threshold), ("TRIGGERED", 2, 2));
        assert_eq!(world.service().deployments[0].failed_tasks, 3);
    }

    #[test]
    fn a_healthy_task_resets_the_failure_count_unless_reset_on_healthy_task_is_false() {
        for (reset, consecutive) in [(None, true), (Some(true), true), (Some(false), false)] {
            let mut members = json!({"thresholdConfiguration": {"type": "COUNT", "value": 3}});
            if let Some(reset) = reset {
                members["resetOnHealthyTask"] = json!(reset);
            }
            let mut world = World::new();
            world.create_service(4, breaker_with(members), None);
            world.run_until_steady(None, 50, |_| {});
            world.deploy("web:2");
            world.tick();
            let new = world.alive_of("web:2");
            assert_eq!(new.len(), 4);
            let count = |w: &World| (w.service().deployments[0].failed_tasks, w.service().service_deployments[0].failure_count);

            // Two failures, then a task of the deployment turns healthy, then a third failure.
            world.fail_to_start(&new[0]);
            world.tick();
            world.fail_to_start(&new[1]);
            world.tick();
            assert_eq!(count(&world), (2, 2), "{reset:?}");
            world.start_running(&new[2]);
            world.tick();
            assert!(world.partition.tasks[&new[2]].reached_healthy);
            world.fail_to_start(&new[3]);
            world.tick();
            let primary = &world.service().deployments[0];
            let sd = &world.service().service_deployments[0];
            if consecutive {
                // The healthy task started the count again: 1 failure since, the breaker monitors on.
                assert_eq!(count(&world), (1, 1), "{reset:?}");
                assert_eq!((primary.rollout_state.as_str(), sd.circuit_breaker_status.as_str()), ("IN_PROGRESS", "MONITORING"));
            } else {
                // The failures accumulate: the third trips it.
                assert_eq!(count(&world), (3, 3), "{reset:?}");
                assert_eq!((primary.rollout_state.as_str(), sd.circuit_breaker_status.as_str()), ("FAILED", "TRIGGERED"));
            }
        }
    }

    /// A service of 4 tasks on web:1 whose deployments succeed early once half of their tasks
    /// are healthy, cleaning up the source revision `cleanup`; web:2 deployed, its first tick
    /// taken (4 new tasks launched, 2 old ones stopped within minimumHealthyPercent 50), and
    /// 2 of its new tasks held back. Returns those.
    fn early_success_world(cleanup: &str) -> (World, Vec<String>) {
        let mut world = World::new();
        let criteria = json!({"enable": true, "healthyPercent": 50, "sourceServiceRevisionCleanup": cleanup});
        world.create_service(4, json!({"minimumHealthyPercent": 50, "maximumPercent": 200, "earlySuccessCriteria": criteria}), None);
        world.run_until_steady(None, 50, |_| {});
        world.deploy("web:2");
        world.tick();
        let new = world.alive_of("web:2");
        assert_eq!(new.len(), 4);
        world.hold_back(&new[2..]);
        assert_eq!(world.alive_of("web:1").len(), 4);
        world.run_tasks(None);
        assert_eq!((world.alive_of("web:1").len(), world.running_of("web:2").len()), (2, 2));
        (world, new[2..].to_vec())
    }

    #[test]
    fn early_success_blocking_stops_the_old_tasks_before_the_deployment_succeeds() {
        let (mut world, held) = early_success_world("BLOCKING");
        // Half the new tasks are healthy: the old ones are cleaned up, the deployment not yet done.
        let actions = world.decide();
        let old = world.alive_of("web:1");
        let Some(Action::Roll { stop, .. }) = actions.iter().find(|a| matches!(a, Action::Roll { .. })) else { panic!("{actions:?}") };
        let mut stopped: Vec<String> = stop.iter().map(|(a, _)| a.clone()).collect();
        stopped.sort();
        let mut expected = old.clone();
        expected.sort();
        assert_eq!(stopped, expected);
        assert!(!actions.contains(&Action::CompleteDeployment), "{actions:?}");
        world.tick();
        assert_eq!(world.service_deployment_status(), "IN_PROGRESS");
        // Once they have stopped, it is SUCCESSFUL, 2 of its 4 tasks yet to start.
        world.run_tasks(None);
        world.now += 0.1;
        world.tick();
        assert_eq!(world.service_deployment_status(), "SUCCESSFUL");
        let service = world.service();
        assert_eq!((service.deployments.len(), service.deployments[0].rollout_state.as_str()), (1, "COMPLETED"));
        let finished = service.service_deployments[0].finished_at.unwrap();
        assert!(old.iter().all(|a| world.partition.tasks[a].stopped_at.is_some_and(|at| at < finished)));
        assert_eq!(world.running_of("web:2").len(), 2);
        assert!(!service.steady);
        // The rest of the tasks start after it, and the service reaches a steady state.
        world.release(&held);
        world.run_until_steady(None, 50, |_| {});
        assert_eq!(world.running_of("web:2").len(), 4);
        assert_eq!(world.events()[0], "(service svc) has reached a steady state.");
    }

    #[test]
    fn early_success_deferred_succeeds_first_and_stops_the_old_tasks_after() {
        let (mut world, held) = early_success_world("DEFERRED");
        let actions = world.decide();
        let old = world.alive_of("web:1");
        let complete = actions.iter().position(|a| *a == Action::CompleteDeployment).expect("completes");
        let roll = actions.iter().position(|a| matches!(a, Action::Roll { .. })).expect("stops the old tasks");
        assert!(complete < roll, "{actions:?}");
        world.tick();
        assert_eq!(world.service_deployment_status(), "SUCCESSFUL");
        // The old tasks are still running, on their way out, and their deployment is listed
        // until they have stopped.
        assert!(old.iter().all(|a| {
            let task = &world.partition.tasks[a];
            (task.desired_status.as_str(), task.last_status.as_str()) == ("STOPPED", "RUNNING")
        }));
        let states: Vec<(&str, &str)> = world.service().deployments.iter().map(|d| (d.status.as_str(), d.rollout_state.as_str())).collect();
        assert_eq!(states, [("PRIMARY", "COMPLETED"), ("ACTIVE", "COMPLETED")]);
        let events = world.events();
        assert!(events[0].starts_with("(service svc) has stopped 2 running tasks"), "{events:?}");
        assert!(events[1].ends_with("deployment completed."), "{events:?}");
        world.release(&held);
        world.run_until_steady(None, 50, |_| {});
        assert_eq!(world.running_of("web:2").len(), 4);
        assert!(old.iter().all(|a| world.partition.tasks[a].is_stopped()));
        assert_eq!(world.service().deployments.len(), 1);
    }

    #[test]
    fn bad_threshold_or_early_success_configurations_are_refused_and_change_nothing() {
        let mut world = World::new();
        world.create_service(2, breaker(true), None);
        world.run_until_steady(None, 50, |_| {});
        let before = world.service().clone();
        let early = |criteria: Value| json!({"minimumHealthyPercent": 50, "earlySuccessCriteria": criteria});
        let threshold = |t: Value| json!({"deploymentCircuitBreaker": {"enable": true, "rollback": true, "thresholdConfiguration": t}});
        for configuration in [
            threshold(json!({"type": "COUNT", "value": 0})),
            threshold(json!({"type": "UNBOUNDED_PERCENT", "value": -5})),
            threshold(json!({"type": "PERCENT", "value": 50})),
            threshold(json!({"type": "COUNT"})),
            threshold(json!({"value": 3})),
            early(json!({"enable": true, "healthyPercent": 40, "sourceServiceRevisionCleanup": "BLOCKING"})),
            early(json!({"enable": true, "healthyPercent": 101, "sourceServiceRevisionCleanup": "BLOCKING"})),
            early(json!({"enable": true, "healthyPercent": 60})),
            early(json!({"enable": true, "healthyPercent": 60, "sourceServiceRevisionCleanup": "LATER"})),
            early(json!({"healthyPercent": 60, "sourceServiceRevisionCleanup": "BLOCKING"})),
        ] {
            let input = json!({"cluster": "c", "service": "svc", "taskDefinition": "web:2", "deploymentConfiguration": configuration});
            let error = world.try_call("UpdateService", input).expect_err(&configuration.to_string());
            assert_eq!(error.code, "InvalidParameterException", "{configuration}: {}", error.message);
            let service = world.service();
            assert_eq!(service.deployment_configuration, before.deployment_configuration, "{configuration}");
            assert_eq!(service.task_definition, before.task_definition);
            assert_eq!((service.deployments.len(), service.service_deployments.len()), (1, before.service_deployments.len()));

            let input =
                json!({"cluster": "c", "serviceName": "other", "taskDefinition": "web:1", "deploymentConfiguration": configuration});
            assert!(world.try_call("CreateService", input).is_err(), "{configuration}");
            assert_eq!(world.partition.services.len(), 1);
        }
    }

    #[test]
    fn an_unhealthy_task_is_replaced_only_after_the_grace_period() {
        let mut world = World::new();
        world.create_service(1, rolling(100, 200), Some(30));
        world.run_until_steady(None, 50, |_| {});
        let started = 2_000.0;
        let arn = world.running_of("web:1")[0].clone();
        let task = world.partition.tasks.get_mut(&arn).unwrap();
        task.started_at = Some(started);
        task.health_status = "UNHEALTHY".into();

        world.now = started + 29.9;
        assert!(world.decide().is_empty(), "{:?}", world.decide());
        world.now = started + 30.0;
        let actions = world.decide();
        assert_eq!(actions[0], Action::StopUnhealthy { task_arn: arn.clone() });
        assert_eq!(actions[1], Action::CountFailure { task_arn: arn.clone() });
        assert_eq!(actions[2], Action::Backoff { consecutive_failures: 1, until: started + 30.5 });
        world.tick();
        let task = &world.partition.tasks[&arn];
        assert_eq!((task.desired_status.as_str(), task.stopped_reason.as_deref()), ("STOPPED", Some(UNHEALTHY_REASON)));
        assert_eq!(world.service().deployments[0].failed_tasks, 1);
        assert!(world.service().events[0].message.ends_with("failed container health checks."));
    }

    #[test]
    fn launches_wait_out_a_backoff_that_doubles_with_each_failure() {
        let mut world = World::new();
        world.create_service(1, rolling(100, 200), None);
        world.tick();
        world.run_tasks(Some("web:1"));
        let failed_at = world.now;
        world.tick();
        assert_eq!(world.service().launch_backoff_until, failed_at + 0.5);
        world.now = failed_at + 0.4;
        assert!(!world.decide().iter().any(|a| matches!(a, Action::Roll { .. })), "no launch within the backoff");
        world.now = failed_at + 0.5;
        assert!(world.decide().contains(&Action::Roll { stop: vec![], start: 1 }));
        world.tick();
        world.run_tasks(Some("web:1"));
        let actions = world.decide();
        assert!(actions.contains(&Action::Backoff { consecutive_failures: 2, until: world.now + 1.0 }), "{actions:?}");
    }

    #[test]
    fn a_steady_service_decides_nothing_whatever_the_time() {
        let mut world = World::new();
        world.create_service(2, rolling(100, 200), Some(60));
        world.run_until_steady(None, 50, |_| {});
        for later in [0.0, 1.0, 60.0, 86_400.0] {
            world.now += later;
            assert_eq!(world.decide(), vec![]);
        }
    }

    #[test]
    fn a_draining_service_becomes_inactive_when_its_tasks_have_stopped() {
        let mut world = World::new();
        world.create_service(1, rolling(100, 200), None);
        world.run_until_steady(None, 50, |_| {});
        world.call("DeleteService", json!({"cluster": "c", "service": "svc", "force": true}));
        assert_eq!(world.service().status, "DRAINING");
        for _ in 0..5 {
            world.tick();
            world.run_tasks(None);
        }
        world.tick();
        assert_eq!(world.service().status, "INACTIVE");
        assert!(world.tasks().iter().all(|t| t.is_stopped()));
    }

    /// The deregistration delay `behind_a_listener` sets, as a user lowers it in dev.
    const DELAY: f64 = 1.0;

    /// Service "svc" (family "api") behind an `instance` target group a listener uses,
    /// whose health checks pass and whose deregistration delay is [`DELAY`]; returns the
    /// group's ARN.
    fn behind_a_listener(world: &mut World, desired: i64, configuration: Value, grace: Option<i64>) -> String {
        let group = fixtures::target_group(&mut world.partition, "web", "instance", true);
        if let Some(g) = world.partition.target_groups.get_mut(&group) {
            g.attributes.insert("deregistration_delay.timeout_seconds".into(), DELAY.to_string());
        }
        world.health_checks = Some("healthy");
        world.drains = true;
        world.create_service_behind(&group, desired, configuration, grace);
        group
    }

    #[test]
    fn a_task_is_registered_with_its_host_port_once_running_and_counts_as_healthy_once_its_target_is() {
        let mut world = World::new();
        let group = fixtures::target_group(&mut world.partition, "web", "instance", true);
        world.create_service_behind(&group, 1, rolling(100, 200), None);
        world.tick();
        world.run_tasks(None);
        let task = world.tasks()[0].clone();
        assert_eq!(task.last_status, "RUNNING");
        let targets = world.targets_of(&task.arn);
        assert_eq!(targets.len(), 1);
        let host_port = i64::from(task.containers[0].bindings[0].1);
        assert_eq!((targets[0].id.as_str(), targets[0].port, targets[0].state.as_str()), (LOCAL_INSTANCE_ID, host_port, "initial"));
        assert_eq!(world.events()[0], format!("(service svc) registered 1 targets in (target-group {group})"));

        // Running, but its target has not passed a health check: not healthy, not done.
        for _ in 0..5 {
            world.now += 1.0;
            world.tick();
            world.run_tasks(None);
        }
        assert_eq!(world.healthy(), 0);
        assert_eq!(world.service().deployments[0].rollout_state, "IN_PROGRESS");
        assert!(!world.service().steady);

        world.health_checks = Some("healthy");
        world.run_tasks(None);
        assert_eq!(world.healthy(), 1);
        world.tick();
        assert_eq!(world.service().deployments[0].rollout_state, "COMPLETED");
        assert!(world.service().steady);
    }

    #[test]
    fn an_ip_target_group_gets_the_loopback_address_and_the_host_port() {
        let mut world = World::new();
        let group = fixtures::target_group(&mut world.partition, "web", "ip", true);
        // `ip` target groups go with the awsvpc network mode.
        world.call(
            "RegisterTaskDefinition",
            json!({"family": "vpc", "networkMode": "awsvpc", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64,
                   "portMappings": [{"containerPort": 8080}]}]}),
        );
        world.call(
            "CreateService",
            json!({"cluster": "c", "serviceName": "svc", "taskDefinition": "vpc:1", "desiredCount": 1,
                   "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
                   "loadBalancers": [{"targetGroupArn": group, "containerName": "app", "containerPort": 8080}]}),
        );
        world.tick();
        world.run_tasks(None);
        let task = world.tasks()[0].clone();
        let targets = world.targets_of(&task.arn);
        assert_eq!(targets.len(), 1);
        assert_eq!((targets[0].id.as_str(), targets[0].port), ("127.0.0.1", i64::from(task.containers[0].bindings[0].1)));
        assert_eq!(task.lb_targets.len(), 1);
    }

    #[test]
    fn old_tasks_stop_only_once_new_targets_are_healthy_and_stay_deactivating_until_their_delay_is_over() {
        let mut world = World::new();
        let group = behind_a_listener(&mut world, 2, rolling(100, 200), None);
        world.run_until_steady(None, 50, |_| {});
        let old: Vec<String> = world.tasks().iter().map(|t| t.arn.clone()).collect();
        assert_eq!(world.partition.target_groups[&group].targets.len(), 2);

        // The new tasks' health checks do not answer yet: no old task may stop.
        world.health_checks = None;
        world.deploy("api:2");
        for _ in 0..10 {
            world.tick();
            world.run_tasks(None);
            world.now += 0.1;
        }
        assert_eq!(world.alive(), 4);
        assert!(
            old.iter().all(|a| world.partition.tasks[a].desired_status == "RUNNING"),
            "an old task stopped before the new targets were healthy"
        );

        // They pass: the old tasks are deregistered and wait, DEACTIVATING, while their targets
        // are shown draining: nothing is in flight to them, yet they stay until the
        // deregistration delay is over.
        world.health_checks = Some("healthy");
        world.tick();
        world.run_tasks(None);
        world.tick();
        world.run_tasks(None);
        let since = world.targets_of(&old[0])[0].draining_since.unwrap();
        while world.now + 0.1 < since + DELAY {
            world.now += 0.1;
            world.tick();
            world.run_tasks(None);
            for arn in &old {
                let task = &world.partition.tasks[arn];
                assert_eq!((task.desired_status.as_str(), task.last_status.as_str()), ("STOPPED", "DEACTIVATING"));
                let states: Vec<&str> = world.targets_of(arn).iter().map(|t| t.state.as_str()).collect();
                assert_eq!(states, vec!["draining"]);
            }
        }
        assert!(world.events().contains(&"(service svc) has begun draining connections on 2 tasks."), "{:?}", world.events());
        assert!(!world.events().iter().any(|e| e.contains("deregistered")));

        // The delay over, the traffic engine removes them, and only then the tasks stop.
        world.run_until_steady(None, 20, |_| {});
        assert!(old.iter().all(|a| world.partition.tasks[a].is_stopped()));
        assert!(old.iter().all(|a| world.partition.tasks[a].stopped_at.unwrap() >= since + DELAY));
        let deregistered =
            world.events().iter().filter(|e| **e == format!("(service svc) deregistered 1 targets in (target-group {group})")).count();
        assert_eq!(deregistered, 2);
        let targets = &world.partition.target_groups[&group].targets;
        assert_eq!(targets.len(), 2);
        assert!(targets.iter().all(|t| t.state == "healthy" && !old.contains(t.task_arn.as_ref().unwrap())));
    }

    #[test]
    fn a_target_still_draining_after_the_deregistration_delay_is_removed_and_the_task_stops() {
        let mut world = World::new();
        let group = behind_a_listener(&mut world, 1, rolling(0, 100), None);
        world.run_until_steady(None, 50, |_| {});
        let arn = world.tasks()[0].arn.clone();
        // No traffic engine removes it this time.
        world.drains = false;
        world.call("StopTask", json!({"cluster": "c", "task": arn}));
        world.run_tasks(None);
        world.now += DELAY + crate::records::task_targets::DRAIN_MARGIN_SECONDS - 0.1;
        world.run_tasks(None);
        assert_eq!(world.partition.tasks[&arn].last_status, "DEACTIVATING");
        world.now += 0.1;
        world.run_tasks(None);
        assert!(world.partition.tasks[&arn].is_stopped());
        assert!(world.partition.target_groups[&group].targets.iter().all(|t| t.task_arn.as_deref() != Some(arn.as_str())));
    }

    #[test]
    fn an_elb_unhealthy_task_is_stopped_only_after_the_grace_period_and_counts_as_a_failure() {
        let mut world = World::new();
        let group = behind_a_listener(&mut world, 1, rolling(100, 200), Some(30));
        world.health_checks = Some("unhealthy");
        world.tick();
        world.run_tasks(None);
        world.run_tasks(None);
        let arn = world.tasks()[0].arn.clone();
        let started = world.partition.tasks[&arn].started_at.unwrap();
        assert_eq!(world.targets_of(&arn)[0].state, "unhealthy");
        world.partition.target_groups.get_mut(&group).unwrap().targets[0].description =
            Some("Health checks failed with these codes: [503]".into());

        world.now = started + 29.9;
        let within = world.decide();
        assert!(!within.iter().any(|a| matches!(a, Action::StopElbUnhealthy { .. } | Action::CountFailure { .. })), "{within:?}");
        assert_eq!(world.healthy(), 0, "an unhealthy target is not healthy, grace period or not");

        world.now = started + 30.0;
        let port = world.targets_of(&arn)[0].port;
        let actions = world.decide();
        let stop = Action::StopElbUnhealthy {
            task_arn: arn.clone(),
            target_group_arn: group.clone(),
            port,
            description: Some("Health checks failed with these codes: [503]".into()),
        };
        assert_eq!(actions[0], stop);
        assert_eq!(actions[1], Action::CountFailure { task_arn: arn.clone() });
        world.tick();
        let task = &world.partition.tasks[&arn];
        let reason = format!("Task failed ELB health checks in (target-group {group})");
        assert_eq!((task.desired_status.as_str(), task.stopped_reason.as_deref()), ("STOPPED", Some(reason.as_str())));
        assert!(is_failure(task));
        assert_eq!(world.service().deployments[0].failed_tasks, 1);
        let expected = format!(
            "(service svc) (task {}) (port {port}) is unhealthy in (target-group {group}) due to (reason Health checks failed with these codes: [503]).",
            task.id()
        );
        assert!(world.events().contains(&expected.as_str()), "{:?}", world.events());
    }

    #[test]
    fn tasks_that_never_turn_healthy_in_their_target_group_trip_the_circuit_breaker_and_roll_back() {
        let mut world = World::new();
        behind_a_listener(&mut world, 2, breaker(true), None);
        world.run_until_steady(None, 50, |_| {});
        let old: Vec<String> = world.tasks().iter().map(|t| t.arn.clone()).collect();
        world.deploy("api:2");
        world.health_checks = Some("unhealthy");
        let mut tripped = false;
        for _ in 0..400 {
            tripped |= world.decide().contains(&Action::TripCircuitBreaker(Breaker::RollBack));
            world.tick();
            if tripped {
                break;
            }
            world.run_tasks(None);
            world.now += 0.1;
        }
        assert!(tripped, "the breaker never tripped: {:?}", world.events());
        world.health_checks = Some("healthy");
        world.run_until_steady(None, 200, |_| {});
        assert_eq!(world.service_deployment_status(), "ROLLBACK_SUCCESSFUL");
        let alive: Vec<String> = world.tasks().iter().filter(|t| !t.is_stopped()).map(|t| t.arn.clone()).collect();
        assert_eq!(alive, old, "the tasks that ran before still run");
        let failed =
            world.tasks().iter().filter(|t| t.stopped_reason.as_deref().is_some_and(|r| r.starts_with(ELB_UNHEALTHY_REASON))).count();
        assert!(failed >= 3, "{failed} tasks stopped for ELB health checks");
    }

    #[test]
    fn a_target_group_no_listener_uses_does_not_hold_the_deployment_back() {
        let mut world = World::new();
        let group = fixtures::target_group(&mut world.partition, "web", "instance", true);
        world.create_service_behind(&group, 2, rolling(100, 200), None);
        // The listener's rule goes away: the group is unused, its targets never checked.
        world.partition.rules.clear();
        world.run_until_steady(None, 50, |_| {});
        let targets = &world.partition.target_groups[&group].targets;
        assert_eq!(targets.len(), 2);
        assert!(targets.iter().all(|t| t.state == "initial"));
        let old: Vec<String> = world.tasks().iter().map(|t| t.arn.clone()).collect();

        world.deploy("api:2");
        world.run_until_steady(None, 100, |_| {});
        // Nothing to drain in an unused group: the old targets left at once.
        assert!(old.iter().all(|a| world.partition.tasks[a].is_stopped()));
        let targets = &world.partition.target_groups[&group].targets;
        assert_eq!(targets.len(), 2);
        assert!(targets.iter().all(|t| !old.contains(t.task_arn.as_ref().unwrap())));
    }

    #[test]
    fn deleting_a_service_drains_its_tasks_before_they_stop() {
        let mut world = World::new();
        let group = behind_a_listener(&mut world, 2, rolling(100, 200), None);
        world.run_until_steady(None, 50, |_| {});
        world.call("DeleteService", json!({"cluster": "c", "service": "svc", "force": true}));
        for _ in 0..3 {
            world.tick();
            world.run_tasks(None);
        }
        assert!(world.tasks().iter().all(|t| t.last_status == "DEACTIVATING"));
        assert_eq!(world.service().status, "DRAINING");
        assert!(world.partition.target_groups[&group].targets.iter().all(|t| t.state == "draining"));
        world.now += DELAY;
        for _ in 0..3 {
            world.run_tasks(None);
            world.tick();
        }
        assert!(world.tasks().iter().all(|t| t.is_stopped()));
        assert!(world.partition.target_groups[&group].targets.is_empty());
        assert_eq!(world.service().status, "INACTIVE");
    }

    #[test]
    fn new_load_balancers_take_the_new_tasks_while_the_old_tasks_leave_the_old_group() {
        let mut world = World::new();
        let blue = behind_a_listener(&mut world, 2, rolling(100, 200), None);
        world.run_until_steady(None, 50, |_| {});
        let green = fixtures::target_group(&mut world.partition, "green", "instance", true);
        world.call(
            "UpdateService",
            json!({"cluster": "c", "service": "svc", "loadBalancers": [{"targetGroupArn": green, "containerName": "app", "containerPort": 8080}]}),
        );
        world.run_until_steady(None, 100, |_| {});
        let running: Vec<String> = world.tasks().iter().filter(|t| !t.is_stopped()).map(|t| t.arn.clone()).collect();
        assert_eq!(running.len(), 2);
        assert!(world.partition.target_groups[&blue].targets.is_empty(), "the old group still has targets");
        let mut in_green: Vec<String> = world.partition.target_groups[&green].targets.iter().filter_map(|t| t.task_arn.clone()).collect();
        in_green.sort();
        assert_eq!(in_green, running);
    }
}
