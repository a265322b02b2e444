//! Deployments: starting one (UpdateService, CreateService) and rolling back to the last
//! completed one (the circuit breaker, StopServiceDeployment).

use serde_json::Value;

use super::record_event;
use crate::api::{Caller, alnum_id, digit_id};
use crate::state::{Deployment, Rollback, Service, ServiceDeployment, ServiceRevision};

/// Starts a new PRIMARY deployment of `definition_arn`: the old PRIMARY becomes ACTIVE, a
/// service revision and a service deployment are recorded. (Rollbacks do not come here:
/// they reactivate an earlier deployment, see `start_rollback`.)
pub fn new_deployment(
    service: &mut Service,
    definition_arn: &str,
    images: Vec<(String, String, Option<String>)>,
    caller: &Caller,
    now: f64,
) -> String {
    let cluster = service.cluster_arn.rsplit('/').next().unwrap_or_default().to_string();
    let id = format!("ecs-svc/{}", digit_id(19));
    let revision_id = digit_id(19);
    let revision_arn = caller.arn("ecs", &format!("service-revision/{cluster}/{}/{revision_id}", service.name));
    service.revisions.push(ServiceRevision {
        arn: revision_arn.clone(),
        task_definition: definition_arn.to_string(),
        launch_type: service.launch_type.clone(),
        network_configuration: service.passthrough.get("networkConfiguration").cloned(),
        load_balancers: service.passthrough.get("loadBalancers").cloned(),
        container_images: images.clone(),
        created_at: now,
    });
    let source_revisions: Vec<String> = service.deployments.iter().map(|d| d.service_revision_arn.clone()).collect();
    for old in &mut service.deployments {
        old.status = "ACTIVE".into();
        old.updated_at = now;
    }
    // A new deployment supersedes any service deployment still under way, a rollback
    // included (it would otherwise stay ROLLBACK_IN_PROGRESS for ever).
    for sd in &mut service.service_deployments {
        if matches!(sd.status.as_str(), "PENDING" | "IN_PROGRESS" | "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS") {
            sd.status = "STOPPED".into();
            sd.status_reason = Some("Service deployment stopped because a newer service deployment started.".into());
            sd.stopped_at = Some(now);
            sd.updated_at = now;
        }
    }
    let arn = caller.arn("ecs", &format!("service-deployment/{cluster}/{}/{}", service.name, alnum_id(21)));
    let threshold = circuit_breaker_threshold(&service.deployment_configuration, service.desired_count);
    let breaker = service.deployment_configuration.pointer("/deploymentCircuitBreaker/enable").and_then(Value::as_bool).unwrap_or(false);
    let alarms = service.deployment_configuration.pointer("/alarms/enable").and_then(Value::as_bool).unwrap_or(false);
    service.service_deployments.insert(
        0,
        ServiceDeployment {
            arn: arn.clone(),
            created_at: now,
            started_at: None,
            finished_at: None,
            stopped_at: None,
            updated_at: now,
            source_revision_arns: source_revisions,
            target_revision_arn: revision_arn.clone(),
            status: "PENDING".into(),
            status_reason: None,
            deployment_configuration: service.deployment_configuration.clone(),
            rollback: None,
            circuit_breaker_status: if breaker { "MONITORING" } else { "DISABLED" }.into(),
            failure_count: 0,
            threshold,
            native: None,
            hooks: Vec::new(),
            alarms_status: if alarms { "MONITORING" } else { "DISABLED" }.into(),
            triggered_alarms: Vec::new(),
        },
    );
    let deployment = Deployment {
        id: id.clone(),
        status: "PRIMARY".into(),
        task_definition: definition_arn.to_string(),
        desired_count: service.desired_count,
        failed_tasks: 0,
        created_at: now,
        updated_at: now,
        launch_type: service.launch_type.clone(),
        network_configuration: service.passthrough.get("networkConfiguration").cloned(),
        rollout_state: "IN_PROGRESS".into(),
        rollout_state_reason: format!("ECS deployment {id} in progress."),
        image_digests: images.into_iter().filter_map(|(name, _, digest)| Some((name, digest?))).collect(),
        service_deployment_arn: arn,
        service_revision_arn: revision_arn,
        target_groups: Default::default(),
    };
    service.deployments.insert(0, deployment);
    service.steady = false;
    service.consecutive_failures = 0;
    service.launch_backoff_until = 0.0;
    crate::native::begin(service, now);
    id
}

/// The circuit breaker's failure threshold for a service of deployment configuration
/// `configuration` and desired count `desired_count`, as the ECS API reference describes
/// `ThresholdConfiguration` and `ThresholdType` (botocore model ecs 2014-11-13):
/// - `COUNT`: `value` itself;
/// - `BOUNDED_PERCENT`: `value` percent of the desired count, rounded up, kept within the
///   classic bounds — at least 3, at most 200;
/// - `UNBOUNDED_PERCENT`: the same without the bounds (at least 1: a threshold of 0 would fail
///   a deployment before anything failed).
///
/// Without a `thresholdConfiguration`, ECS's default applies: `BOUNDED_PERCENT` of 50, which is
/// the threshold `ServiceDeploymentCircuitBreaker.threshold` documents (`0.5 * desired task
/// count`, 3 to 200).
pub fn circuit_breaker_threshold(configuration: &Value, desired_count: i64) -> i64 {
    let threshold = configuration.pointer("/deploymentCircuitBreaker/thresholdConfiguration");
    let member = |key: &str| threshold.and_then(|t| t.get(key));
    let value = member("value").and_then(Value::as_i64).unwrap_or(50);
    let percent = (value.saturating_mul(desired_count.max(0)).saturating_add(99) / 100).max(0);
    match member("type").and_then(Value::as_str).unwrap_or("BOUNDED_PERCENT") {
        "COUNT" => value.max(1),
        "UNBOUNDED_PERCENT" => percent.max(1),
        _ => percent.clamp(3, 200),
    }
}

/// Rolls `service` back to `target` (its last completed deployment) on behalf of service
/// deployment `sd_arn`, the way ECS does: the target deployment is *reactivated* — it
/// becomes PRIMARY again with its id, its revision and its running tasks, its rollout
/// IN_PROGRESS until the scheduler sees it steady — and the failed deployment is marked
/// FAILED and scaled in to 0 (ECS developer guide, "How the Amazon ECS deployment circuit
/// breaker detects failures"; the ECS team's walk-through in aws/copilot-cli#4838). The
/// service deployment reports ROLLBACK_REQUESTED, then ROLLBACK_IN_PROGRESS (next tick), then
/// ROLLBACK_SUCCESSFUL, with its `rollback` member naming the target's service revision.
pub fn start_rollback(service: &mut Service, sd_arn: &str, target: &Deployment, now: f64, reason: &str) {
    for failed in service.deployments.iter_mut().filter(|d| d.status == "PRIMARY") {
        failed.status = "ACTIVE".into();
        failed.rollout_state = "FAILED".into();
        failed.rollout_state_reason = reason.to_string();
        failed.desired_count = 0;
        failed.updated_at = now;
    }
    // The target is usually still listed (ACTIVE, draining or drained); if it was dropped,
    // the copy kept when it completed comes back with the same id.
    let mut reactivated = match service.deployments.iter().position(|d| d.id == target.id) {
        Some(index) => service.deployments.remove(index),
        None => target.clone(),
    };
    reactivated.status = "PRIMARY".into();
    reactivated.rollout_state = "IN_PROGRESS".into();
    reactivated.rollout_state_reason = format!("{reason} Rolling back to deploymentId {}.", target.id);
    reactivated.desired_count = service.desired_count;
    // Failures are counted against the rollback from now on (the circuit breaker watches it).
    reactivated.failed_tasks = 0;
    reactivated.updated_at = now;
    // Its completion now ends the failed service deployment's rollback.
    reactivated.service_deployment_arn = sd_arn.to_string();
    service.task_definition = reactivated.task_definition.clone();
    service.deployments.insert(0, reactivated);
    service.steady = false;
    service.consecutive_failures = 0;
    service.launch_backoff_until = 0.0;
    if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
        sd.status = "ROLLBACK_REQUESTED".into();
        sd.status_reason = Some(reason.to_string());
        sd.updated_at = now;
        sd.rollback =
            Some(Rollback { reason: reason.to_string(), started_at: now, service_revision_arn: target.service_revision_arn.clone() });
    }
    let message = format!("(service {}) rolling back to deployment {}: {reason}", service.name, target.id);
    record_event(service, now, message);
}
