//! The service scheduler: what ECS does for a REPLICA service with the rolling update
//! (ECS) deployment controller, one reconcile per service per tick.
//!
//! Each reconcile reads the service and its tasks and decides, like ECS:
//! - count failures (tasks that failed to start, essential containers that exited, tasks
//!   that failed their health checks after the grace period) against the deployment, and
//!   trip the circuit breaker at its threshold, rolling back to the last COMPLETED
//!   deployment when asked to;
//! - start tasks of the PRIMARY deployment up to `desiredCount`, never running more than
//!   `maximumPercent` of it in all;
//! - stop tasks of older deployments while keeping `minimumHealthyPercent` healthy;
//! - mark the deployment COMPLETED (and the service deployment SUCCESSFUL or
//!   ROLLBACK_SUCCESSFUL) once the PRIMARY runs `desiredCount` healthy tasks and nothing
//!   else runs, then report a steady state.
//!
//! It only changes records; the runtime starts and stops the processes.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::records::{Placement, circuit_breaker_threshold, definition_in, new_task, record_event, start_rollback, stop_task};
use crate::state::{Partition, Service, Task};
use crate::wire::Caller;

/// How long to wait before launching again after a task of the service failed, doubling
/// with each consecutive failure up to `MAX_BACKOFF` (ECS throttles relaunches the same way,
/// over longer times).
const FIRST_BACKOFF: f64 = 0.5;
const MAX_BACKOFF: f64 = 10.0;

const CIRCUIT_BREAKER_REASON: &str = "ECS deployment circuit breaker: tasks failed to start.";

pub fn reconcile_all(partition: &mut Partition, now: f64) {
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
    let arns: Vec<String> = partition.services.keys().cloned().collect();
    for arn in arns {
        let mut mine = by_service.remove(&arn).unwrap_or_default();
        reconcile(partition, &arn, &mut mine, &caller, now);
    }
}

fn is_failure(task: &Task) -> bool {
    matches!(task.stop_code.as_deref(), Some("TaskFailedToStart" | "EssentialContainerExited"))
        || task.stopped_reason.as_deref() == Some(UNHEALTHY_REASON)
}

const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// Reconciles one service; `mine` holds the ARNs of its tasks (new ones are added to it).
///
/// This runs for every service on every tick, so a service at steady state should cost
/// little: nothing is cloned or looked up unless the step that needs it has work to do.
pub fn reconcile(partition: &mut Partition, service_arn: &str, mine: &mut Vec<String>, caller: &Caller, now: f64) {
    let Partition { services, tasks, task_definitions, .. } = partition;
    let Some(service) = services.get_mut(service_arn) else { return };
    if service.status == "INACTIVE" {
        return;
    }
    let grace = service.health_check_grace_period_seconds.unwrap_or(0) as f64;

    // Replace tasks that failed their container health checks once the grace period is over.
    for arn in mine.iter() {
        let Some(task) = tasks.get_mut(arn) else { continue };
        if task.desired_status == "RUNNING"
            && task.last_status == "RUNNING"
            && task.health_status == "UNHEALTHY"
            && task.started_at.is_some_and(|s| now - s >= grace)
        {
            stop_task(task, "ServiceSchedulerInitiated", UNHEALTHY_REASON, now);
            let message = format!("(service {}) (task {}) failed container health checks.", service.name, task.id());
            record_event(service, now, message);
        }
    }

    // Count failures against the deployment each task belongs to.
    let mut failed_now = 0;
    for arn in mine.iter() {
        let Some(task) = tasks.get_mut(arn) else { continue };
        if task.failure_counted || !is_failure(task) {
            continue;
        }
        task.failure_counted = true;
        failed_now += 1;
        if let Some(deployment) = service.deployments.iter_mut().find(|d| Some(&d.id) == task.deployment_id.as_ref()) {
            deployment.failed_tasks += 1;
            deployment.updated_at = now;
        }
    }
    if failed_now > 0 {
        service.consecutive_failures += failed_now;
        let backoff = (FIRST_BACKOFF * 2f64.powi(service.consecutive_failures.saturating_sub(1) as i32)).min(MAX_BACKOFF);
        service.launch_backoff_until = now + backoff;
        service.steady = false;
    }

    trip_circuit_breaker(service, task_definitions, now);

    if let Some(p) = service.deployments.first()
        && let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == p.service_deployment_arn)
        && matches!(sd.status.as_str(), "PENDING" | "ROLLBACK_REQUESTED")
    {
        if sd.status == "PENDING" {
            sd.status = "IN_PROGRESS".into();
            // The tick's clock may have been read just before the request that created it.
            sd.started_at = Some(now.max(sd.created_at));
        } else {
            sd.status = "ROLLBACK_IN_PROGRESS".into();
        }
        sd.updated_at = now;
    }

    let Some(primary_id) = service.deployments.first().map(|p| p.id.clone()) else { return };
    let desired = service.desired_count;
    let percent =
        |service: &Service, key: &str, default: i64| service.deployment_configuration.get(key).and_then(Value::as_i64).unwrap_or(default);

    let active: Vec<&String> = mine.iter().filter(|a| tasks.get(*a).is_some_and(|t| t.desired_status == "RUNNING")).collect();
    let is_primary = |t: &Task| t.deployment_id.as_deref() == Some(primary_id.as_str());
    let primary_active: Vec<&String> = active.iter().copied().filter(|a| is_primary(&tasks[*a])).collect();
    let mut old_active: Vec<&String> = active.iter().copied().filter(|a| !is_primary(&tasks[*a])).collect();
    let primary_active_count = primary_active.len() as i64;
    // Counted before the scale-in below stops any task, as the old-task step expects.
    let healthy_total = if old_active.is_empty() { 0 } else { active.iter().filter(|a| tasks[**a].is_healthy()).count() as i64 };

    let mut started = Vec::new();
    let mut stopped = Vec::new();

    // Scale in the primary when it runs more than desired (least healthy first).
    if primary_active_count > desired {
        let mut extra = primary_active.clone();
        extra.sort_by_key(|a| (tasks[*a].is_healthy(), tasks[*a].created_at as i64));
        for arn in extra.into_iter().take(primary_active.len() - desired.max(0) as usize) {
            if let Some(t) = tasks.get_mut(arn) {
                stop_task(t, "ServiceSchedulerInitiated", &format!("Scaling activity initiated by (deployment {primary_id})"), now);
                stopped.push(t.id().to_string());
            }
        }
    }

    // Stop old tasks: unhealthy ones freely, healthy ones down to the minimum healthy count.
    if !old_active.is_empty() {
        let min_healthy = (desired * percent(service, "minimumHealthyPercent", 100) + 99) / 100;
        stop_old(tasks, &mut old_active, healthy_total, min_healthy, now, &mut stopped);
    }

    // Start primary tasks within maximumPercent (counting tasks still stopping, as ECS does).
    let want = desired - primary_active_count;
    let launching_allowed = want > 0
        && service.status == "ACTIVE"
        && service.deployments.first().is_some_and(|p| p.rollout_state != "FAILED")
        && now >= service.launch_backoff_until;
    if launching_allowed {
        let max_total = desired * percent(service, "maximumPercent", 200) / 100;
        let in_flight = mine.iter().filter(|a| tasks.get(*a).is_some_and(|t| !t.is_stopped())).count() as i64;
        let room = (max_total.max(desired) - in_flight).max(0);
        let primary = &service.deployments[0];
        let definition = definition_in(task_definitions, &primary.task_definition);
        if let Some(definition) = definition {
            for _ in 0..want.min(room).max(0) {
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
                mine.push(task.arn.clone());
                tasks.insert(task.arn.clone(), task);
            }
        }
    }

    if !started.is_empty() {
        service.steady = false;
        let list: Vec<String> = started.iter().map(|id| format!("(task {id})")).collect();
        let message = format!("(service {}) has started {} tasks: {}.", service.name, started.len(), list.join(" "));
        record_event(service, now, message);
    }
    if !stopped.is_empty() {
        service.steady = false;
        let list: Vec<String> = stopped.iter().map(|id| format!("(task {id})")).collect();
        let message = format!("(service {}) has stopped {} running tasks: {}.", service.name, stopped.len(), list.join(" "));
        record_event(service, now, message);
    }

    complete_if_done(service, mine, tasks, now);
}

/// Stops old tasks: unhealthy and not-yet-running ones freely, healthy ones down to the
/// minimum healthy count. A running task whose health check has not answered yet (UNKNOWN)
/// does not count as healthy, but it is not stopped while fewer than the minimum are
/// healthy either: stopping it then would leave nothing serving (ECS starts the new tasks
/// first when `maximumPercent` leaves room, and replaces only tasks found UNHEALTHY).
fn stop_old(
    tasks: &mut BTreeMap<String, Task>,
    old_active: &mut [&String],
    healthy_total: i64,
    min_healthy: i64,
    now: f64,
    stopped: &mut Vec<String>,
) {
    old_active.sort_by_key(|a| (tasks[*a].is_healthy(), tasks[*a].created_at as i64));
    let mut healthy_left = healthy_total;
    for arn in old_active.iter() {
        let Some(t) = tasks.get_mut(*arn) else { continue };
        let healthy = t.is_healthy();
        if healthy && healthy_left - 1 < min_healthy {
            continue;
        }
        let awaiting_health = !healthy && t.last_status == "RUNNING" && t.health_status != "UNHEALTHY";
        if awaiting_health && healthy_left < min_healthy {
            continue;
        }
        let owner = t.deployment_id.clone().unwrap_or_default();
        stop_task(t, "ServiceSchedulerInitiated", &format!("Scaling activity initiated by (deployment {owner})"), now);
        stopped.push(t.id().to_string());
        if healthy {
            healthy_left -= 1;
        }
    }
}

fn trip_circuit_breaker(service: &mut Service, definitions: &BTreeMap<String, Vec<crate::state::TaskDefinition>>, now: f64) {
    // Cheapest test first: on most ticks the primary deployment is not in progress.
    let Some(primary) = service.deployments.first() else { return };
    if primary.rollout_state != "IN_PROGRESS" {
        return;
    }
    let breaker = service.deployment_configuration.get("deploymentCircuitBreaker");
    let flag = |key: &str| breaker.and_then(|b| b.get(key)).and_then(Value::as_bool) == Some(true);
    if !flag("enable") {
        return;
    }
    let rollback = flag("rollback");
    let threshold = circuit_breaker_threshold(primary.desired_count);
    if primary.failed_tasks < threshold {
        return;
    }
    let primary_id = primary.id.clone();
    let sd_arn = primary.service_deployment_arn.clone();
    let failed = primary.failed_tasks;
    let name = service.name.clone();
    record_event(service, now, format!("(service {name}) (deployment {primary_id}) deployment failed: tasks failed to start."));
    let rolling_back_already = service
        .service_deployments
        .iter()
        .any(|sd| sd.arn == sd_arn && matches!(sd.status.as_str(), "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS"));
    if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
        sd.circuit_breaker_status = "TRIGGERED".into();
        sd.failure_count = failed;
        sd.updated_at = now;
    }
    let target = service.last_completed.clone().filter(|t| t.id != primary_id);
    match (rollback && !rolling_back_already, target) {
        (true, Some(target)) if definition_in(definitions, &target.task_definition).is_some() => {
            start_rollback(service, &sd_arn, &target, now, CIRCUIT_BREAKER_REASON);
        }
        _ => {
            if let Some(p) = service.deployments.first_mut() {
                p.rollout_state = "FAILED".into();
                p.rollout_state_reason = CIRCUIT_BREAKER_REASON.into();
                p.updated_at = now;
            }
            if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
                sd.status = if rolling_back_already { "ROLLBACK_FAILED" } else { "STOPPED" }.into();
                sd.status_reason = Some(CIRCUIT_BREAKER_REASON.into());
                sd.stopped_at = Some(now);
                sd.finished_at = Some(now);
                sd.updated_at = now;
            }
        }
    }
}

fn complete_if_done(service: &mut Service, mine: &[String], tasks: &BTreeMap<String, Task>, now: f64) {
    let Some(primary) = service.deployments.first() else { return };
    let mine: Vec<&Task> = mine.iter().filter_map(|a| tasks.get(a)).collect();
    let primary_healthy = mine.iter().filter(|t| t.deployment_id.as_deref() == Some(primary.id.as_str()) && t.is_healthy()).count() as i64;
    let primary_alive = mine.iter().filter(|t| t.deployment_id.as_deref() == Some(primary.id.as_str()) && !t.is_stopped()).count() as i64;
    let others_alive = mine.iter().any(|t| t.deployment_id.as_deref() != Some(primary.id.as_str()) && !t.is_stopped());
    let settled = primary_healthy == service.desired_count && primary_alive == service.desired_count && !others_alive;

    if service.status == "DRAINING" {
        if mine.iter().all(|t| t.is_stopped()) {
            service.status = "INACTIVE".into();
        }
        return;
    }
    if !settled {
        return;
    }
    if primary.rollout_state == "IN_PROGRESS" {
        let id = primary.id.clone();
        let sd_arn = primary.service_deployment_arn.clone();
        if let Some(p) = service.deployments.first_mut() {
            p.rollout_state = "COMPLETED".into();
            p.rollout_state_reason = format!("ECS deployment {id} completed.");
            p.updated_at = now;
        }
        service.deployments.truncate(1);
        service.last_completed = service.deployments.first().cloned();
        if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
            sd.status = if sd.status.starts_with("ROLLBACK_") { "ROLLBACK_SUCCESSFUL" } else { "SUCCESSFUL" }.into();
            sd.finished_at = Some(now);
            sd.updated_at = now;
            if sd.circuit_breaker_status == "MONITORING" {
                sd.circuit_breaker_status = "MONITORING_COMPLETE".into();
            }
        }
        let message = format!("(service {}) (deployment {id}) deployment completed.", service.name);
        record_event(service, now, message);
    }
    if !service.steady {
        service.steady = true;
        service.consecutive_failures = 0;
        let message = format!("(service {}) has reached a steady state.", service.name);
        record_event(service, now, message);
    }
}
