//! Application Auto Scaling (`AnyScaleFrontendService`) for `ecs:service:DesiredCount`.
//!
//! While a scalable target is registered, the scheduler keeps the service's desired count
//! within [MinCapacity, MaxCapacity] (see `records::enforce_scalable_targets`), as the real service does: setting a
//! service to 0 without deregistering its target first does not stick.
//!
//! Scaling policies (PutScalingPolicy, DescribeScalingPolicies, DeleteScalingPolicy) are
//! stored with their target as given and answered back, never executed: no CloudWatch alarm
//! drives them, so they change no desired count. Deregistering a target deletes its policies.

use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Ctx, Input, alnum_id, paginate, put};
use crate::records::enforce_scalable_targets;
use crate::state::{ScalableTarget, ScalingPolicy};

const DIMENSION: &str = "ecs:service:DesiredCount";

/// DescribeScalingPolicies' MaxResults: 1 to 10, 10 when absent (the model's documentation).
const POLICIES_PAGE: i64 = 10;

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "RegisterScalableTarget" => register(ctx, input),
        "DescribeScalableTargets" => describe(ctx, input),
        "DeregisterScalableTarget" => deregister(ctx, input),
        "PutScalingPolicy" => put_policy(ctx, input),
        "DescribeScalingPolicies" => describe_policies(ctx, input),
        "DeleteScalingPolicy" => delete_policy(ctx, input),
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
        policies: existing.map(|t| t.policies).unwrap_or_default(),
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

fn no_target(resource_id: &str) -> ApiError {
    ApiError::client(
        "ObjectNotFoundException",
        format!("No scalable target registered for service namespace: ecs, resource ID: {resource_id}, scalable dimension: {DIMENSION}"),
    )
}

/// Deregistering a target deletes its scaling policies with it (they are stored in it).
fn deregister(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let resource_id = target_key(input)?;
    if ctx.partition.scalable_targets.remove(resource_id).is_none() {
        return Err(no_target(resource_id));
    }
    Ok(json!({}))
}

fn policy_name<'a>(input: &Input<'a>) -> Result<&'a str, ApiError> {
    input.str("PolicyName").filter(|n| !n.is_empty()).ok_or_else(|| validation("PolicyName is required"))
}

/// The request member that carries a policy type's configuration.
fn configuration_member(policy_type: &str) -> Result<&'static str, ApiError> {
    match policy_type {
        "TargetTrackingScaling" => Ok("TargetTrackingScalingPolicyConfiguration"),
        "StepScaling" => Ok("StepScalingPolicyConfiguration"),
        "PredictiveScaling" => Ok("PredictiveScalingPolicyConfiguration"),
        other => Err(validation(format!("Unsupported policy type: {other}"))),
    }
}

/// PutScalingPolicy: creates the policy, or replaces the one of that name (keeping its ARN and
/// creation time). Its configuration is stored as given; no alarm is created, so a target
/// tracking policy answers an empty `Alarms`.
fn put_policy(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let resource_id = target_key(input)?.to_string();
    let name = policy_name(input)?.to_string();
    let (region, account) = (ctx.caller.region.clone(), ctx.caller.account.clone());
    let now = ctx.now;
    let target = ctx.partition.scalable_targets.get_mut(&resource_id).ok_or_else(|| no_target(&resource_id))?;
    let existing = target.policies.get(&name);
    let Some(policy_type) = input.str("PolicyType").or(existing.map(|p| p.policy_type.as_str())).map(str::to_string) else {
        return Err(validation("PolicyType is required when creating a scaling policy"));
    };
    let member = configuration_member(&policy_type)?;
    // Updating a policy of the same type may leave its configuration out: it is kept.
    let kept = existing.filter(|p| p.policy_type == policy_type).map(|p| p.configuration.clone());
    let Some(configuration) = input.value(member).cloned().or(kept) else {
        return Err(validation(format!("{member} is required for a policy of type {policy_type}")));
    };
    let arn = existing.map(|p| p.arn.clone()).unwrap_or_else(|| {
        format!(
            "arn:aws:autoscaling:{region}:{account}:scalingPolicy:{}:resource/ecs/{resource_id}:policyName/{name}",
            uuid::Uuid::new_v4()
        )
    });
    let created_at = existing.map_or(now, |p| p.created_at);
    let tracking = policy_type == "TargetTrackingScaling";
    target.policies.insert(name.clone(), ScalingPolicy { arn: arn.clone(), name, policy_type, configuration, created_at });
    let mut out = Map::new();
    out.insert("PolicyARN".into(), json!(arn));
    if tracking {
        out.insert("Alarms".into(), json!([]));
    }
    Ok(Value::Object(out))
}

fn policy_json(resource_id: &str, p: &ScalingPolicy) -> Value {
    let mut v = json!({
        "PolicyARN": p.arn,
        "PolicyName": p.name,
        "ServiceNamespace": "ecs",
        "ResourceId": resource_id,
        "ScalableDimension": DIMENSION,
        "PolicyType": p.policy_type,
        "Alarms": [],
        "CreationTime": p.created_at,
    });
    if let Ok(member) = configuration_member(&p.policy_type) {
        v[member] = p.configuration.clone();
    }
    v
}

/// DescribeScalingPolicies: the policies of the namespace, filtered by ResourceId,
/// ScalableDimension and PolicyNames, by resource id then name, 10 to a page unless
/// MaxResults (1 to 10) says fewer.
fn describe_policies(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let namespace = input.str("ServiceNamespace").unwrap_or_default();
    let resource_id = input.str("ResourceId");
    let dimension = input.str("ScalableDimension");
    let names = input.strings("PolicyNames");
    if let Some(max) = input.i64("MaxResults").filter(|m| !(1..=POLICIES_PAGE).contains(m)) {
        return Err(validation(format!("MaxResults must be between 1 and {POLICIES_PAGE}, got {max}")));
    }
    let policies: Vec<Value> = ctx
        .partition
        .scalable_targets
        .values()
        .filter(|_| namespace == "ecs" && dimension.is_none_or(|d| d == DIMENSION))
        .filter(|t| resource_id.is_none_or(|r| r == t.resource_id))
        .flat_map(|t| t.policies.values().map(move |p| (t.resource_id.as_str(), p)))
        .filter(|(_, p)| names.is_empty() || names.contains(&p.name))
        .map(|(resource_id, p)| policy_json(resource_id, p))
        .collect();
    let (page, next) = paginate(&policies, input.str("NextToken"), input.i64("MaxResults"), POLICIES_PAGE as usize, POLICIES_PAGE as usize)
        .map_err(|_| ApiError::client("InvalidNextTokenException", "Invalid token"))?;
    let mut out = Map::new();
    out.insert("ScalingPolicies".into(), json!(page));
    put(&mut out, "NextToken", next);
    Ok(Value::Object(out))
}

fn delete_policy(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let resource_id = target_key(input)?;
    let name = policy_name(input)?;
    let removed = ctx.partition.scalable_targets.get_mut(resource_id).and_then(|t| t.policies.remove(name));
    if removed.is_none() {
        return Err(ApiError::client(
            "ObjectNotFoundException",
            format!(
                "No scaling policy found for service namespace: ecs, resource ID: {resource_id}, scalable dimension: {DIMENSION}, policy name: {name}"
            ),
        ));
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Caller;
    use crate::state::Partition;

    const RESOURCE: &str = "service/c/web";

    fn caller() -> Caller {
        Caller { account: "123456789012".into(), region: "eu-west-1".into() }
    }

    /// A partition with cluster `c`, its service `web` (desired count 1), and no target yet.
    fn world() -> Partition {
        let caller = caller();
        let mut p = Partition { account: caller.account.clone(), region: caller.region.clone(), ..Default::default() };
        let mut ecs = |operation: &str, input: Value| {
            let map = input.as_object().cloned().unwrap_or_default();
            let mut ctx = Ctx { partition: &mut p, caller: &caller, now: 1_000.0 };
            crate::ecs::dispatch(operation, &mut ctx, &Input(&map)).unwrap().unwrap();
        };
        ecs("CreateCluster", json!({"clusterName": "c"}));
        ecs(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}),
        );
        ecs("CreateService", json!({"cluster": "c", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1}));
        p
    }

    fn call_at(p: &mut Partition, now: f64, operation: &str, input: Value) -> ApiResult {
        let caller = caller();
        let map = input.as_object().cloned().unwrap_or_default();
        let mut ctx = Ctx { partition: p, caller: &caller, now };
        dispatch(operation, &mut ctx, &Input(&map)).unwrap()
    }

    fn call(p: &mut Partition, operation: &str, input: Value) -> ApiResult {
        call_at(p, 2_000.0, operation, input)
    }

    fn key() -> Value {
        json!({"ServiceNamespace": "ecs", "ResourceId": RESOURCE, "ScalableDimension": DIMENSION})
    }

    fn with(extra: Value) -> Value {
        let mut v = key();
        for (k, x) in extra.as_object().cloned().unwrap_or_default() {
            v[k] = x;
        }
        v
    }

    fn register(p: &mut Partition) {
        call(p, "RegisterScalableTarget", with(json!({"MinCapacity": 1, "MaxCapacity": 4}))).unwrap();
    }

    fn tracking(value: f64) -> Value {
        json!({
            "PolicyName": "cpu",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": value,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleInCooldown": 60,
            },
        })
    }

    fn step() -> Value {
        json!({
            "PolicyName": "steps",
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
                "Cooldown": 30,
            },
        })
    }

    fn names(out: &Value) -> Vec<&str> {
        out["ScalingPolicies"].as_array().map(|a| a.iter().filter_map(|p| p["PolicyName"].as_str()).collect()).unwrap_or_default()
    }

    #[test]
    fn a_policy_needs_a_registered_target_and_says_which_was_missing() {
        let mut p = world();
        let err = call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap_err();
        assert_eq!(err.code, "ObjectNotFoundException");
        assert_eq!(
            err.message,
            "No scalable target registered for service namespace: ecs, resource ID: service/c/web, scalable dimension: ecs:service:DesiredCount"
        );
    }

    #[test]
    fn put_answers_an_aws_shaped_arn_and_describe_returns_the_configuration_as_given() {
        let mut p = world();
        register(&mut p);
        let out = call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap();
        let arn = out["PolicyARN"].as_str().unwrap();
        let uuid = arn
            .strip_prefix("arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:")
            .and_then(|rest| rest.strip_suffix(":resource/ecs/service/c/web:policyName/cpu"))
            .unwrap_or_else(|| panic!("{arn}"));
        assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{arn}");
        assert_eq!(out["Alarms"], json!([]), "a target tracking policy answers its (here no) alarms");
        let out = call(&mut p, "PutScalingPolicy", with(step())).unwrap();
        assert!(out.get("Alarms").is_none(), "a step scaling policy has no alarms of its own: {out}");

        let described = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs", "ResourceId": RESOURCE})).unwrap();
        assert_eq!(names(&described), ["cpu", "steps"]);
        let cpu = &described["ScalingPolicies"][0];
        assert_eq!(cpu["PolicyARN"], arn);
        assert_eq!(cpu["PolicyType"], "TargetTrackingScaling");
        assert_eq!(cpu["TargetTrackingScalingPolicyConfiguration"], tracking(50.0)["TargetTrackingScalingPolicyConfiguration"]);
        assert_eq!((cpu["ResourceId"].as_str(), cpu["ScalableDimension"].as_str()), (Some(RESOURCE), Some(DIMENSION)));
        assert_eq!(cpu["CreationTime"], 2_000.0);
        assert!(cpu.get("StepScalingPolicyConfiguration").is_none());
        let steps = &described["ScalingPolicies"][1];
        assert_eq!(steps["StepScalingPolicyConfiguration"], step()["StepScalingPolicyConfiguration"]);
    }

    #[test]
    fn putting_an_existing_name_replaces_the_policy_and_keeps_its_arn_and_creation_time() {
        let mut p = world();
        register(&mut p);
        let first = call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap();
        let second = call_at(&mut p, 3_000.0, "PutScalingPolicy", with(tracking(70.0))).unwrap();
        assert_eq!(first["PolicyARN"], second["PolicyARN"]);
        let described = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs"})).unwrap();
        assert_eq!(names(&described), ["cpu"]);
        assert_eq!(described["ScalingPolicies"][0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], 70.0);
        assert_eq!(described["ScalingPolicies"][0]["CreationTime"], 2_000.0);
    }

    #[test]
    fn a_new_policy_needs_its_type_and_that_type_s_configuration() {
        let mut p = world();
        register(&mut p);
        let err = call(&mut p, "PutScalingPolicy", with(json!({"PolicyName": "x"}))).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let err = call(&mut p, "PutScalingPolicy", with(json!({"PolicyName": "x", "PolicyType": "StepScaling"}))).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        assert!(err.message.contains("StepScalingPolicyConfiguration"), "{}", err.message);
        assert!(p.scalable_targets[RESOURCE].policies.is_empty(), "a refused put stored something");
    }

    #[test]
    fn describe_filters_by_names_resource_and_dimension() {
        let mut p = world();
        register(&mut p);
        call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap();
        call(&mut p, "PutScalingPolicy", with(step())).unwrap();
        let describe = |p: &mut Partition, input: Value| call(p, "DescribeScalingPolicies", input).unwrap();
        assert_eq!(names(&describe(&mut p, json!({"ServiceNamespace": "ecs", "PolicyNames": ["steps", "nope"]}))), ["steps"]);
        assert!(names(&describe(&mut p, json!({"ServiceNamespace": "ecs", "ResourceId": "service/c/other"}))).is_empty());
        let other_dimension = json!({"ServiceNamespace": "ecs", "ScalableDimension": "dynamodb:table:ReadCapacityUnits"});
        assert!(names(&describe(&mut p, other_dimension)).is_empty());
        assert!(names(&describe(&mut p, json!({"ServiceNamespace": "dynamodb"}))).is_empty());
    }

    #[test]
    fn describe_pages_ten_by_default_and_max_results_up_to_ten() {
        let mut p = world();
        register(&mut p);
        for i in 0..12 {
            call(
                &mut p,
                "PutScalingPolicy",
                with(json!({"PolicyName": format!("p{i:02}"), "PolicyType": "StepScaling", "StepScalingPolicyConfiguration": {}})),
            )
            .unwrap();
        }
        let first = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs"})).unwrap();
        assert_eq!(names(&first).len(), 10);
        let token = first["NextToken"].as_str().unwrap();
        let rest = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs", "NextToken": token})).unwrap();
        assert_eq!(names(&rest), ["p10", "p11"]);
        assert!(rest.get("NextToken").is_none());
        let small = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs", "MaxResults": 5})).unwrap();
        assert_eq!(names(&small).len(), 5);
        let err = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs", "MaxResults": 11})).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let err = call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs", "NextToken": "garbage"})).unwrap_err();
        assert_eq!(err.code, "InvalidNextTokenException");
    }

    #[test]
    fn delete_removes_the_policy_and_a_missing_one_is_object_not_found() {
        let mut p = world();
        register(&mut p);
        call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap();
        call(&mut p, "DeleteScalingPolicy", with(json!({"PolicyName": "cpu"}))).unwrap();
        assert!(names(&call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs"})).unwrap()).is_empty());
        let err = call(&mut p, "DeleteScalingPolicy", with(json!({"PolicyName": "cpu"}))).unwrap_err();
        assert_eq!(err.code, "ObjectNotFoundException");
        assert_eq!(
            err.message,
            "No scaling policy found for service namespace: ecs, resource ID: service/c/web, scalable dimension: ecs:service:DesiredCount, policy name: cpu"
        );
    }

    #[test]
    fn reregistering_keeps_the_policies_and_deregistering_deletes_them() {
        let mut p = world();
        register(&mut p);
        call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap();
        call(&mut p, "RegisterScalableTarget", with(json!({"MaxCapacity": 6}))).unwrap();
        assert_eq!(names(&call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs"})).unwrap()), ["cpu"]);
        call(&mut p, "DeregisterScalableTarget", key()).unwrap();
        register(&mut p);
        assert!(names(&call(&mut p, "DescribeScalingPolicies", json!({"ServiceNamespace": "ecs"})).unwrap()).is_empty());
    }

    #[test]
    fn policies_survive_a_state_round_trip_and_an_older_state_without_them_loads() {
        let mut p = world();
        register(&mut p);
        call(&mut p, "PutScalingPolicy", with(tracking(50.0))).unwrap();
        let mut saved = serde_json::to_value(&p).unwrap();
        let loaded: Partition = serde_json::from_value(saved.clone()).unwrap();
        assert_eq!(loaded.scalable_targets[RESOURCE].policies["cpu"].configuration["TargetValue"], 50.0);
        saved["scalable_targets"][RESOURCE].as_object_mut().unwrap().remove("policies");
        let older: Partition = serde_json::from_value(saved).unwrap();
        assert!(older.scalable_targets[RESOURCE].policies.is_empty());
    }
}
