//! Application Auto Scaling (`AnyScaleFrontendService`) for `ecs:service:DesiredCount`.
//!
//! While a scalable target is registered, the scheduler keeps the service's desired count
//! within [MinCapacity, MaxCapacity] (see `records::enforce_scalable_targets`), as the real service does: setting a
//! service to 0 without deregistering its target first does not stick.

use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Ctx, Input, alnum_id, paginate, put};
use crate::records::enforce_scalable_targets;
use crate::state::ScalableTarget;

const DIMENSION: &str = "ecs:service:DesiredCount";

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "RegisterScalableTarget" => register(ctx, input),
        "DescribeScalableTargets" => describe(ctx, input),
        "DeregisterScalableTarget" => deregister(ctx, input),
        _ => return None,
    })
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

/// Checks namespace and dimension, and returns the resource id.
fn target_key<'a>(input: &Input<'a>) -> Result<&'a str, ApiError> {
    let namespace = input.str("ServiceNamespace").unwrap_or_default();
    if namespace != "ecs" {
        return Err(validation(format!("ferry local supports the ecs service namespace only, got '{namespace}'")));
    }
    let resource_id = input.str("ResourceId").unwrap_or_default();
    if input.str("ScalableDimension").is_some_and(|d| d != DIMENSION) {
        return Err(validation(format!("Unsupported scalable dimension for ecs; expected {DIMENSION}")));
    }
    Ok(resource_id)
}

/// The service ARN a resource id `service/CLUSTER/NAME` names, if it exists and is ACTIVE.
fn service_arn_for(ctx: &Ctx, resource_id: &str) -> Result<String, ApiError> {
    let mut parts = resource_id.split('/');
    let (Some("service"), Some(cluster), Some(name), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(validation(format!("Unsupported resource ID format: {resource_id}; expected service/CLUSTER/SERVICE")));
    };
    let arn = ctx.caller.arn("ecs", &format!("service/{cluster}/{name}"));
    match ctx.partition.services.get(&arn) {
        Some(s) if s.status == "ACTIVE" => Ok(arn),
        _ => Err(validation(format!("ECS service doesn't exist: {resource_id}"))),
    }
}

fn register(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let resource_id = target_key(input)?.to_string();
    service_arn_for(ctx, &resource_id)?;
    let existing = ctx.partition.scalable_targets.get(&resource_id).cloned();
    let min = input.i64("MinCapacity").or(existing.as_ref().map(|t| t.min_capacity));
    let max = input.i64("MaxCapacity").or(existing.as_ref().map(|t| t.max_capacity));
    let (Some(min), Some(max)) = (min, max) else {
        return Err(validation("MinCapacity and MaxCapacity are required when registering a new scalable target"));
    };
    if min < 0 || max < min {
        return Err(validation(format!("Maximum capacity ({max}) cannot be less than minimum capacity ({min})")));
    }
    let target = ScalableTarget {
        arn: existing.as_ref().map(|t| t.arn.clone()).unwrap_or_else(|| {
            ctx.caller.arn("application-autoscaling", &format!("scalable-target/{}", alnum_id(32).to_lowercase()))
        }),
        resource_id: resource_id.clone(),
        min_capacity: min,
        max_capacity: max,
        role_arn: input.str("RoleARN").map(str::to_string).unwrap_or_else(|| {
            existing.as_ref().map(|t| t.role_arn.clone()).unwrap_or_else(|| {
                format!(
                    "arn:aws:iam::{}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
                    ctx.caller.account
                )
            })
        }),
        created_at: existing.as_ref().map(|t| t.created_at).unwrap_or(ctx.now),
        suspended_state: input.value("SuspendedState").cloned().unwrap_or_else(|| {
            existing.as_ref().map(|t| t.suspended_state.clone()).unwrap_or_else(|| {
                json!({"DynamicScalingInSuspended": false, "DynamicScalingOutSuspended": false, "ScheduledScalingSuspended": false})
            })
        }),
    };
    let arn = target.arn.clone();
    ctx.partition.scalable_targets.insert(resource_id, target);
    // Registering brings the current capacity into range at once, as the real service does.
    enforce_scalable_targets(ctx.partition, ctx.now, true);
    Ok(json!({ "ScalableTargetARN": arn }))
}

fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let namespace = input.str("ServiceNamespace").unwrap_or_default();
    let ids = input.strings("ResourceIds");
    let dimension = input.str("ScalableDimension");
    let targets: Vec<Value> = ctx
        .partition
        .scalable_targets
        .values()
        .filter(|_| namespace == "ecs")
        .filter(|t| ids.is_empty() || ids.contains(&t.resource_id))
        .filter(|_| dimension.is_none_or(|d| d == DIMENSION))
        .map(|t| {
            json!({
                "ServiceNamespace": "ecs",
                "ResourceId": t.resource_id,
                "ScalableDimension": DIMENSION,
                "MinCapacity": t.min_capacity,
                "MaxCapacity": t.max_capacity,
                "RoleARN": t.role_arn,
                "CreationTime": t.created_at,
                "SuspendedState": t.suspended_state,
                "ScalableTargetARN": t.arn,
            })
        })
        .collect();
    let (page, next) = paginate(&targets, input.str("NextToken"), input.i64("MaxResults"), 50, 50).map_err(|e| validation(e.message))?;
    let mut out = Map::new();
    out.insert("ScalableTargets".into(), json!(page));
    put(&mut out, "NextToken", next);
    Ok(Value::Object(out))
}

fn deregister(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let resource_id = target_key(input)?;
    if ctx.partition.scalable_targets.remove(resource_id).is_none() {
        return Err(ApiError::client(
            "ObjectNotFoundException",
            format!(
                "No scalable target registered for service namespace: ecs, resource ID: {resource_id}, scalable dimension: {DIMENSION}"
            ),
        ));
    }
    Ok(json!({}))
}
