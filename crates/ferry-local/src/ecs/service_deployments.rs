//! ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment,
//! DescribeServiceRevisions: the newer view of a service's rollouts.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::Ctx;
use crate::api::{ApiError, ApiResult, Input, paginate, put};
use crate::records::start_rollback;
use crate::state::{Partition, Service, ServiceDeployment};

pub fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let service = ctx.service(input, "service")?.clone();
    let statuses = input.strings("status");
    let after = input.value("createdAt").and_then(|c| c.get("after")).and_then(Value::as_f64);
    let before = input.value("createdAt").and_then(|c| c.get("before")).and_then(Value::as_f64);
    let briefs: Vec<Value> = service
        .service_deployments
        .iter()
        .filter(|sd| statuses.is_empty() || statuses.contains(&sd.status))
        .filter(|sd| after.is_none_or(|a| sd.created_at >= a) && before.is_none_or(|b| sd.created_at <= b))
        .map(|sd| {
            let mut out = Map::new();
            out.insert("serviceDeploymentArn".into(), json!(sd.arn));
            out.insert("serviceArn".into(), json!(service.arn));
            out.insert("clusterArn".into(), json!(service.cluster_arn));
            put(&mut out, "startedAt", sd.started_at);
            out.insert("createdAt".into(), json!(sd.created_at));
            put(&mut out, "finishedAt", sd.finished_at);
            out.insert("targetServiceRevisionArn".into(), json!(sd.target_revision_arn));
            out.insert("status".into(), json!(sd.status));
            put(&mut out, "statusReason", sd.status_reason.clone());
            Value::Object(out)
        })
        .collect();
    let (page, next) = paginate(&briefs, input.str("nextToken"), input.i64("maxResults"), 20, 100)?;
    let mut out = Map::new();
    out.insert("serviceDeployments".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

pub fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = input.strings("serviceDeploymentArns");
    if arns.len() > 20 {
        return Err(ApiError::invalid_parameter("serviceDeploymentArns can have at most 20 items."));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in arns {
        match find(ctx.partition, &arn) {
            Some((service, sd)) => found.push(render(ctx.partition, service, sd)),
            None => failures.push(json!({"arn": arn, "reason": "MISSING", "detail": "The service deployment does not exist."})),
        }
    }
    Ok(json!({ "serviceDeployments": found, "failures": failures }))
}

pub fn stop(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.required_str("serviceDeploymentArn")?.to_string();
    let Some((service, sd)) = find(ctx.partition, &arn) else {
        return Err(ApiError::client("ServiceDeploymentNotFoundException", "The service deployment does not exist."));
    };
    if !matches!(sd.status.as_str(), "PENDING" | "IN_PROGRESS") {
        return Err(ApiError::client("ConflictException", format!("The service deployment is {} and cannot be stopped.", sd.status)));
    }
    // After the state checks, as ECS answers a finished deployment with a conflict whatever
    // the stop type.
    let stop_type = input.str("stopType").unwrap_or("ROLLBACK");
    if stop_type != "ROLLBACK" {
        return Err(ApiError::client("UnsupportedFeatureException", "ferry local supports stopType ROLLBACK for rolling deployments."));
    }
    let Some(target) = service.last_completed.clone() else {
        return Err(ApiError::client("ConflictException", "The service has no completed deployment to roll back to."));
    };
    let service_arn = service.arn.clone();
    let native = sd.native.as_ref().is_some_and(|n| !n.rolled_back);
    let now = ctx.now;
    let reason = "Service deployment rolled back because of a user request (StopServiceDeployment).";
    if native {
        // Production traffic goes back to blue in the same step.
        crate::native::roll_back(ctx.partition, &service_arn, reason, now);
        return Ok(json!({ "serviceDeploymentArn": arn }));
    }
    let Some(service) = ctx.partition.services.get_mut(&service_arn) else {
        return Err(ApiError::client("ServiceDeploymentNotFoundException", "The service deployment does not exist."));
    };
    start_rollback(service, &arn, &target, now, reason);
    Ok(json!({ "serviceDeploymentArn": arn }))
}

/// ContinueServiceDeployment: answers a PAUSE lifecycle hook of a BLUE_GREEN, LINEAR or
/// CANARY service deployment with CONTINUE (the default) or ROLLBACK (`crate::native`).
pub fn continue_deployment(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.required_str("serviceDeploymentArn")?.to_string();
    let hook_id = input.required_str("hookId")?.to_string();
    let action = input.str("action").unwrap_or("CONTINUE").to_string();
    let Some((service, _)) = find(ctx.partition, &arn) else {
        return Err(ApiError::client("ServiceDeploymentNotFoundException", "The service deployment does not exist."));
    };
    let service_arn = service.arn.clone();
    crate::native::continue_hook(ctx.partition, &service_arn, &arn, &hook_id, &action, ctx.now)?;
    Ok(json!({ "serviceDeploymentArn": arn }))
}

pub fn describe_revisions(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = input.strings("serviceRevisionArns");
    if arns.len() > 20 {
        return Err(ApiError::invalid_parameter("serviceRevisionArns can have at most 20 items."));
    }
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in arns {
        let hit = service_of(ctx.partition, &arn).and_then(|s| s.revisions.iter().find(|r| r.arn == arn).map(|r| (s, r)));
        match hit {
            Some((service, revision)) => {
                let mut out = Map::new();
                out.insert("serviceRevisionArn".into(), json!(revision.arn));
                out.insert("serviceArn".into(), json!(service.arn));
                out.insert("clusterArn".into(), json!(service.cluster_arn));
                out.insert("taskDefinition".into(), json!(revision.task_definition));
                put(&mut out, "launchType", revision.launch_type.clone());
                put(&mut out, "loadBalancers", revision.load_balancers.clone());
                put(&mut out, "networkConfiguration", revision.network_configuration.clone());
                let images: Vec<Value> = revision
                    .container_images
                    .iter()
                    .map(|(name, image, digest)| {
                        let mut i = Map::new();
                        i.insert("containerName".into(), json!(name));
                        put(&mut i, "imageDigest", digest.clone());
                        i.insert("image".into(), json!(image));
                        Value::Object(i)
                    })
                    .collect();
                out.insert("containerImages".into(), json!(images));
                out.insert("guardDutyEnabled".into(), json!(false));
                out.insert("createdAt".into(), json!(revision.created_at));
                found.push(Value::Object(out));
            }
            None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
        }
    }
    Ok(json!({ "serviceRevisions": found, "failures": failures }))
}

/// The service an ARN of the form `…:service-deployment/cluster/service/id` (or
/// `service-revision/…`) belongs to.
fn service_of<'a>(partition: &'a Partition, arn: &str) -> Option<&'a Service> {
    let (prefix, resource) = arn.rsplit_once(':')?;
    let mut parts = resource.split('/');
    let _kind = parts.next()?;
    let cluster = parts.next()?;
    let service = parts.next()?;
    partition.services.get(&format!("{prefix}:service/{cluster}/{service}"))
}

fn find<'a>(partition: &'a Partition, arn: &str) -> Option<(&'a Service, &'a ServiceDeployment)> {
    let service = service_of(partition, arn)?;
    service.service_deployments.iter().find(|sd| sd.arn == arn).map(|sd| (service, sd))
}

fn render(partition: &Partition, service: &Service, sd: &ServiceDeployment) -> Value {
    // Task counts per service revision, through the deployment each task belongs to.
    let revision_of: HashMap<&str, &str> = service.deployments.iter().map(|d| (d.id.as_str(), d.service_revision_arn.as_str())).collect();
    let mut counts: HashMap<&str, (i64, i64)> = HashMap::new();
    for task in partition.tasks.values().filter(|t| t.service_arn.as_deref() == Some(service.arn.as_str())) {
        let Some(revision) = task.deployment_id.as_deref().and_then(|d| revision_of.get(d)) else { continue };
        let entry = counts.entry(revision).or_default();
        match task.last_status.as_str() {
            "RUNNING" => entry.0 += 1,
            "PROVISIONING" | "PENDING" | "ACTIVATING" => entry.1 += 1,
            _ => {}
        }
    }
    let requested: HashMap<&str, i64> = service.deployments.iter().map(|d| (d.service_revision_arn.as_str(), d.desired_count)).collect();
    let summary = |arn: &str, requested_default: i64| {
        let (running, pending) = counts.get(arn).copied().unwrap_or_default();
        json!({
            "arn": arn,
            "requestedTaskCount": requested.get(arn).copied().unwrap_or(requested_default),
            "runningTaskCount": running,
            "pendingTaskCount": pending,
        })
    };
    let mut out = Map::new();
    out.insert("serviceDeploymentArn".into(), json!(sd.arn));
    out.insert("serviceArn".into(), json!(service.arn));
    out.insert("clusterArn".into(), json!(service.cluster_arn));
    out.insert("createdAt".into(), json!(sd.created_at));
    put(&mut out, "startedAt", sd.started_at);
    put(&mut out, "finishedAt", sd.finished_at);
    put(&mut out, "stoppedAt", sd.stopped_at);
    out.insert("updatedAt".into(), json!(sd.updated_at));
    let sources: Vec<Value> = sd.source_revision_arns.iter().map(|a| summary(a, 0)).collect();
    out.insert("sourceServiceRevisions".into(), json!(sources));
    out.insert("targetServiceRevision".into(), summary(&sd.target_revision_arn, 0));
    out.insert("status".into(), json!(sd.status));
    put(&mut out, "statusReason", sd.status_reason.clone());
    out.insert("deploymentConfiguration".into(), sd.deployment_configuration.clone());
    if let Some(rollback) = &sd.rollback {
        out.insert(
            "rollback".into(),
            json!({"reason": rollback.reason, "startedAt": rollback.started_at, "serviceRevisionArn": rollback.service_revision_arn}),
        );
    }
    out.insert(
        "deploymentCircuitBreaker".into(),
        json!({"status": sd.circuit_breaker_status, "failureCount": sd.failure_count, "threshold": sd.threshold}),
    );
    let alarm_names = sd.deployment_configuration.pointer("/alarms/alarmNames").cloned().unwrap_or_else(|| json!([]));
    let alarms_status = if sd.alarms_status.is_empty() { "DISABLED" } else { sd.alarms_status.as_str() };
    out.insert("alarms".into(), json!({"status": alarms_status, "alarmNames": alarm_names, "triggeredAlarmNames": sd.triggered_alarms}));
    if let Some(native) = &sd.native {
        crate::native::render(&mut out, native, &sd.hooks);
    }
    Value::Object(out)
}
