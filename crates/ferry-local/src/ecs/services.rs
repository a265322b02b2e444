//! CreateService, UpdateService, DescribeServices, ListServices, DeleteService, and the
//! deployments they start.
//!
//! A service keeps both views ECS offers of a rollout: the legacy `deployments` list
//! (PRIMARY/ACTIVE with `rolloutState`) and the newer service deployments and service
//! revisions. They are created together here and moved together by the scheduler, so a
//! client reading either sees the same story.

use std::collections::VecDeque;

use serde_json::{Map, Value, json};

use super::{Ctx, include_tags, render_tags, tags_from};
use crate::api::{ApiError, ApiResult, Input, paginate, put};
use crate::records::{ImageRef, find_definition, new_deployment, resolve_image};
use crate::state::{Partition, Service};

/// Members stored as given and echoed back by DescribeServices (`loadBalancers` is checked
/// first, see [`check_load_balancers`], and acted upon by the scheduler and the runtime
/// through the service revision that records it).
const PASSTHROUGH: &[&str] = &[
    "loadBalancers",
    "serviceRegistries",
    "networkConfiguration",
    "placementConstraints",
    "placementStrategy",
    "platformVersion",
    "role",
    "propagateTags",
    "enableECSManagedTags",
    "enableExecuteCommand",
    "capacityProviderStrategy",
    "serviceConnectConfiguration",
    "volumeConfigurations",
    "availabilityZoneRebalancing",
];

/// Members whose change makes UpdateService start a new deployment.
const DEPLOYMENT_TRIGGERS: &[&str] = &["networkConfiguration", "loadBalancers", "serviceRegistries", "platformVersion"];

pub fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let name = input.required_str("serviceName")?.to_string();
    if name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::invalid_parameter(
            "Invalid service name. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.",
        ));
    }
    let arn = ctx.service_arn(&cluster_arn, &name);
    match ctx.partition.services.get(&arn).map(|s| s.status.as_str()) {
        Some("ACTIVE") => return Err(ApiError::invalid_parameter("Creation of service was not idempotent.")),
        Some("DRAINING") => return Err(ApiError::invalid_parameter("Unable to Start a service that is still Draining.")),
        _ => {}
    }
    let controller = input.value("deploymentController").cloned().unwrap_or_else(|| json!({"type": "ECS"}));
    if controller.get("type").and_then(Value::as_str) != Some("ECS") {
        return Err(ApiError::client(
            "UnsupportedFeatureException",
            "ferry local supports the ECS deployment controller only (rolling updates).",
        ));
    }
    let reference = input.required_str("taskDefinition")?;
    let definition = ctx.task_definition(reference).ok_or_else(|| ApiError::invalid_parameter("TaskDefinition not found."))?;
    if definition.status != "ACTIVE" {
        return Err(ApiError::invalid_parameter("TaskDefinition is inactive."));
    }
    let definition_arn = definition.arn.clone();
    let network_mode = definition.body.get("networkMode").and_then(Value::as_str).unwrap_or("bridge").to_string();
    let launch_type = input
        .str("launchType")
        .map(str::to_string)
        .or_else(|| input.value("capacityProviderStrategy").is_none().then(|| "EC2".to_string()));
    check_launch_type(ctx, &definition_arn, launch_type.as_deref())?;
    if network_mode == "awsvpc" && input.value("networkConfiguration").is_none() {
        return Err(ApiError::invalid_parameter("Network Configuration must be provided when networkMode 'awsvpc' is specified."));
    }
    check_load_balancers(ctx.partition, input.value("loadBalancers"), &definition_arn, true)?;
    let desired_count = input.i64("desiredCount").unwrap_or(0);
    if desired_count < 0 {
        return Err(ApiError::invalid_parameter("desiredCount must be greater than or equal to 0."));
    }
    let deployment_configuration =
        merge_deployment_configuration(&default_deployment_configuration(), input.value("deploymentConfiguration"))?;
    if crate::native::strategy(&deployment_configuration).is_some() {
        crate::native::check_load_balancers(ctx.partition, input.value("loadBalancers"))?;
    }
    let tags = tags_from(input, "tags")?;
    let mut passthrough = Map::new();
    for key in PASSTHROUGH {
        if let Some(v) = input.value(key) {
            passthrough.insert(key.to_string(), v.clone());
        }
    }
    let images = container_images(ctx.partition, &definition_arn);
    let mut service = Service {
        arn: arn.clone(),
        name,
        cluster_arn,
        status: "ACTIVE".into(),
        desired_count,
        task_definition: definition_arn.clone(),
        launch_type,
        deployment_configuration,
        deployment_controller: controller,
        health_check_grace_period_seconds: input.i64("healthCheckGracePeriodSeconds"),
        scheduling_strategy: input.str("schedulingStrategy").unwrap_or("REPLICA").to_string(),
        created_at: ctx.now,
        created_by: format!("arn:aws:iam::{}:root", ctx.caller.account),
        passthrough,
        deployments: Vec::new(),
        events: VecDeque::new(),
        service_deployments: Vec::new(),
        revisions: Vec::new(),
        last_completed: None,
        steady: false,
        launch_backoff_until: 0.0,
        consecutive_failures: 0,
        autoscaling_adjusted_at: None,
    };
    new_deployment(&mut service, &definition_arn, images, ctx.caller, ctx.now);
    let rendered = render_service(ctx.partition, &service, false);
    ctx.partition.services.insert(arn.clone(), service);
    ctx.partition.tags.insert(arn, tags);
    Ok(json!({ "service": rendered }))
}

pub fn update(ctx: &mut Ctx, input: &Input) -> ApiResult {
    // Resolve everything that can fail before changing anything.
    let service_name = input.required_str("service")?;
    let cluster_arn = ctx.cluster_arn(input)?;
    let arn = ctx.service_arn(&cluster_arn, service_name);
    let Some(current) = ctx.partition.services.get(&arn).filter(|s| s.cluster_arn == cluster_arn) else {
        return Err(ApiError::client("ServiceNotFoundException", "Service not found."));
    };
    if current.status != "ACTIVE" {
        return Err(ApiError::client("ServiceNotActiveException", "Service was not ACTIVE."));
    }
    let new_definition = match input.str("taskDefinition") {
        Some(reference) => {
            let definition = ctx.task_definition(reference).ok_or_else(|| ApiError::invalid_parameter("TaskDefinition not found."))?;
            if definition.status != "ACTIVE" && definition.arn != current.task_definition {
                return Err(ApiError::invalid_parameter("TaskDefinition is inactive."));
            }
            Some(definition.arn.clone())
        }
        None => None,
    };
    if let Some(count) = input.i64("desiredCount")
        && count < 0
    {
        return Err(ApiError::invalid_parameter("desiredCount must be greater than or equal to 0."));
    }
    let deployment_configuration =
        merge_deployment_configuration(&current.deployment_configuration, input.value("deploymentConfiguration"))?;
    let target_definition = new_definition.clone().unwrap_or_else(|| current.task_definition.clone());
    if let Some(launch_type) = input.str("launchType").or(current.launch_type.as_deref()) {
        check_launch_type(ctx, &target_definition, Some(launch_type))?;
    }
    // The load balancers the next deployment uses must fit the definition it runs: new ones
    // are checked in full; the current ones, with a new task definition, for what depends on
    // the definition (its container and port must remain, its network mode fit).
    if let Some(load_balancers) = input.value("loadBalancers") {
        check_load_balancers(ctx.partition, Some(load_balancers), &target_definition, true)?;
    } else if new_definition.is_some() {
        check_load_balancers(ctx.partition, current.passthrough.get("loadBalancers"), &target_definition, false)?;
    }
    if crate::native::strategy(&deployment_configuration).is_some() {
        crate::native::check_load_balancers(ctx.partition, input.value("loadBalancers").or(current.passthrough.get("loadBalancers")))?;
    }
    let triggers_change = DEPLOYMENT_TRIGGERS.iter().any(|k| input.value(k).is_some_and(|v| current.passthrough.get(*k) != Some(v)));
    let starts_deployment = new_definition.as_ref().is_some_and(|d| *d != current.task_definition)
        || input.bool("forceNewDeployment") == Some(true)
        || triggers_change;
    let images = container_images(ctx.partition, &target_definition);

    let now = ctx.now;
    let caller = ctx.caller.clone();
    let service = ctx.partition.services.get_mut(&arn).ok_or_else(|| ApiError::client("ServiceNotFoundException", "Service not found."))?;
    service.deployment_configuration = deployment_configuration;
    if let Some(grace) = input.i64("healthCheckGracePeriodSeconds") {
        service.health_check_grace_period_seconds = Some(grace);
    }
    for key in PASSTHROUGH {
        if let Some(v) = input.value(key) {
            service.passthrough.insert(key.to_string(), v.clone());
        }
    }
    if let Some(launch_type) = input.str("launchType") {
        service.launch_type = Some(launch_type.to_string());
    }
    if let Some(count) = input.i64("desiredCount") {
        service.desired_count = count;
        if let Some(primary) = service.deployments.first_mut() {
            primary.desired_count = count;
            primary.updated_at = now;
        }
        service.steady = false;
    }
    if starts_deployment {
        service.task_definition = target_definition.clone();
        new_deployment(service, &target_definition, images, &caller, now);
    }
    let service = service.clone();
    Ok(json!({ "service": render_service(ctx.partition, &service, false) }))
}

pub fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let names = input.strings("services");
    if names.len() > 10 {
        return Err(ApiError::invalid_parameter("services can have at most 10 items."));
    }
    let with_tags = include_tags(input);
    let mut services = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        let arn = ctx.service_arn(&cluster_arn, &name);
        match ctx.partition.services.get(&arn).filter(|s| s.cluster_arn == cluster_arn) {
            Some(service) => services.push(render_service(ctx.partition, service, with_tags)),
            None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
        }
    }
    Ok(json!({ "services": services, "failures": failures }))
}

pub fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let launch_type = input.str("launchType");
    let strategy = input.str("schedulingStrategy");
    let arns: Vec<String> = ctx
        .partition
        .services
        .values()
        .filter(|s| s.cluster_arn == cluster_arn && s.status != "INACTIVE")
        .filter(|s| launch_type.is_none_or(|l| s.launch_type.as_deref() == Some(l)))
        .filter(|s| strategy.is_none_or(|st| s.scheduling_strategy == st))
        .map(|s| s.arn.clone())
        .collect();
    let (page, next) = paginate(&arns, input.str("nextToken"), input.i64("maxResults"), 10, 100)?;
    let mut out = Map::new();
    out.insert("serviceArns".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

pub fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let force = input.bool("force") == Some(true);
    let now = ctx.now;
    let service = ctx.service(input, "service")?;
    if service.status == "INACTIVE" {
        return Err(ApiError::client("ServiceNotActiveException", "Service was not ACTIVE."));
    }
    if service.desired_count > 0 && !force {
        return Err(ApiError::invalid_parameter("The service cannot be stopped while it is scaled above 0."));
    }
    service.status = "DRAINING".into();
    service.desired_count = 0;
    for deployment in &mut service.deployments {
        deployment.desired_count = 0;
        deployment.updated_at = now;
    }
    let service = service.clone();
    Ok(json!({ "service": render_service(ctx.partition, &service, false) }))
}

/// ECS's defaults for a rolling (ECS controller) service.
fn default_deployment_configuration() -> Value {
    json!({
        "deploymentCircuitBreaker": {"enable": false, "rollback": false},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "strategy": "ROLLING"
    })
}

/// Applies the members a request gives over the current configuration, and checks the
/// percentages the way ECS does.
fn merge_deployment_configuration(current: &Value, update: Option<&Value>) -> Result<Value, ApiError> {
    let mut merged = current.clone();
    if let (Some(target), Some(Value::Object(update))) = (merged.as_object_mut(), update) {
        for (k, v) in update {
            target.insert(k.clone(), v.clone());
        }
        // A new strategy leaves the settings of the one it replaces behind (a LINEAR service
        // switched to CANARY keeps no linearConfiguration), unless the request gives them.
        if let Some(strategy) = update.get("strategy").and_then(Value::as_str) {
            for (member, owner) in [("linearConfiguration", "LINEAR"), ("canaryConfiguration", "CANARY")] {
                if strategy != owner && !update.contains_key(member) {
                    target.remove(member);
                }
            }
        }
    }
    let max = merged.get("maximumPercent").and_then(Value::as_i64).unwrap_or(200);
    let min = merged.get("minimumHealthyPercent").and_then(Value::as_i64).unwrap_or(100);
    if !(0..=100).contains(&min) {
        return Err(ApiError::invalid_parameter("minimumHealthyPercent must be between 0 and 100."));
    }
    if !(100..=200).contains(&max) {
        return Err(ApiError::invalid_parameter("maximumPercent must be between 100 and 200."));
    }
    check_circuit_breaker(&merged)?;
    check_early_success_criteria(&merged, min)?;
    crate::native::check_configuration(&merged)?;
    Ok(merged)
}

/// The circuit breaker's `thresholdConfiguration` (ECS API reference `ThresholdConfiguration`,
/// `ThresholdType`): `type` and `value` are both required, `type` is COUNT, BOUNDED_PERCENT or
/// UNBOUNDED_PERCENT, and `value` an integer. The model sets no range on `value`; ferry local
/// refuses one below 1, which would make a threshold of 0 (see docs/local.md).
fn check_circuit_breaker(configuration: &Value) -> Result<(), ApiError> {
    let Some(breaker) = configuration.get("deploymentCircuitBreaker").filter(|b| !b.is_null()) else { return Ok(()) };
    if let Some(reset) = breaker.get("resetOnHealthyTask").filter(|r| !r.is_null() && !r.is_boolean()) {
        return Err(ApiError::invalid_parameter(format!(
            "deploymentCircuitBreaker.resetOnHealthyTask must be a boolean, but was {reset}."
        )));
    }
    let Some(threshold) = breaker.get("thresholdConfiguration").filter(|t| !t.is_null()) else { return Ok(()) };
    let kind = threshold.get("type").and_then(Value::as_str);
    if !matches!(kind, Some("COUNT" | "BOUNDED_PERCENT" | "UNBOUNDED_PERCENT")) {
        return Err(ApiError::invalid_parameter(
            "deploymentCircuitBreaker.thresholdConfiguration.type must be one of COUNT, BOUNDED_PERCENT, UNBOUNDED_PERCENT.",
        ));
    }
    match threshold.get("value") {
        Some(value) if value.as_i64().is_some_and(|v| v >= 1) => Ok(()),
        Some(value) => Err(ApiError::invalid_parameter(format!(
            "deploymentCircuitBreaker.thresholdConfiguration.value must be an integer of at least 1, but was {value}."
        ))),
        None => Err(ApiError::invalid_parameter("deploymentCircuitBreaker.thresholdConfiguration.value is required.")),
    }
}

/// The early success criteria (ECS API reference `DeploymentEarlySuccessCriteria`, ECS
/// developer guide "Complete Amazon ECS rolling deployments early with early success
/// criteria"): `enable` is required; `healthyPercent` is an integer from 0 to 100
/// (`HealthyPercentInteger`); `sourceServiceRevisionCleanup` is BLOCKING or DEFERRED. Enabled,
/// they need both of those, a `healthyPercent` of at least `minimumHealthyPercent`, and the
/// ROLLING strategy ("You can use early success criteria only with rolling deployment
/// strategy").
fn check_early_success_criteria(configuration: &Value, minimum_healthy_percent: i64) -> Result<(), ApiError> {
    let Some(criteria) = configuration.get("earlySuccessCriteria").filter(|c| !c.is_null()) else { return Ok(()) };
    let Some(enable) = criteria.get("enable").and_then(Value::as_bool) else {
        return Err(ApiError::invalid_parameter("earlySuccessCriteria.enable is required."));
    };
    let percent = criteria.get("healthyPercent").filter(|p| !p.is_null());
    if let Some(percent) = percent
        && !percent.as_i64().is_some_and(|p| (0..=100).contains(&p))
    {
        return Err(ApiError::invalid_parameter(format!(
            "earlySuccessCriteria.healthyPercent must be between 0 and 100, but was {percent}."
        )));
    }
    let cleanup = criteria.get("sourceServiceRevisionCleanup").filter(|c| !c.is_null());
    if let Some(cleanup) = cleanup
        && !matches!(cleanup.as_str(), Some("BLOCKING" | "DEFERRED"))
    {
        return Err(ApiError::invalid_parameter(format!(
            "earlySuccessCriteria.sourceServiceRevisionCleanup must be BLOCKING or DEFERRED, but was {cleanup}."
        )));
    }
    if !enable {
        return Ok(());
    }
    let (Some(percent), Some(_)) = (percent.and_then(Value::as_i64), cleanup) else {
        return Err(ApiError::invalid_parameter(
            "earlySuccessCriteria.healthyPercent and earlySuccessCriteria.sourceServiceRevisionCleanup are required when earlySuccessCriteria.enable is true.",
        ));
    };
    if percent < minimum_healthy_percent {
        return Err(ApiError::invalid_parameter(format!(
            "earlySuccessCriteria.healthyPercent ({percent}) must be greater than or equal to minimumHealthyPercent ({minimum_healthy_percent})."
        )));
    }
    let strategy = configuration.get("strategy").and_then(Value::as_str).unwrap_or("ROLLING");
    if strategy != "ROLLING" {
        return Err(ApiError::invalid_parameter(format!(
            "earlySuccessCriteria can only be used with the ROLLING deployment strategy, not {strategy}."
        )));
    }
    Ok(())
}

/// How many target groups a service may use (ECS developer guide, "Registering multiple
/// target groups with an Amazon ECS service").
const MAX_LOAD_BALANCERS: usize = 5;

/// Checks a service's `loadBalancers` against the task definition its tasks will run and the
/// ELBv2 records, as ECS does (InvalidParameterException, ECS's wording): at most five; each
/// an Application Load Balancer entry (`targetGroupArn`, `containerName`, `containerPort`;
/// ferry local has no Classic Load Balancer, so `loadBalancerName` is refused); the target
/// group exists and a load balancer sends it traffic (a listener rule forwards to it); its
/// target type fits the network mode (`awsvpc` needs `ip`, `bridge` and `host` need
/// `instance`); the container exists and maps the port. Without `check_groups` (the
/// current entries of a service given a new task definition), only what depends on the
/// definition is checked: a target group deleted or detached since is not this request's
/// doing.
fn check_load_balancers(
    partition: &Partition,
    load_balancers: Option<&Value>,
    definition_arn: &str,
    check_groups: bool,
) -> Result<(), ApiError> {
    let entries = load_balancers.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if entries.is_empty() {
        return Ok(());
    }
    if entries.len() > MAX_LOAD_BALANCERS {
        return Err(ApiError::invalid_parameter(format!("loadBalancers can have at most {MAX_LOAD_BALANCERS} items.")));
    }
    let definition = find_definition(partition, definition_arn).ok_or_else(|| ApiError::invalid_parameter("TaskDefinition not found."))?;
    let network_mode = definition.body.get("networkMode").and_then(Value::as_str).unwrap_or("bridge");
    for entry in entries {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        if let Some(name) = text("loadBalancerName") {
            return Err(ApiError::invalid_parameter(format!(
                "The load balancer {name} does not exist. ferry local emulates Application Load Balancers only: give targetGroupArn, containerName and containerPort instead of loadBalancerName."
            )));
        }
        let target_group_arn = text("targetGroupArn").ok_or_else(|| ApiError::invalid_parameter("Target Group Arn can not be blank."))?;
        let container_name = text("containerName").ok_or_else(|| ApiError::invalid_parameter("Container Name can not be blank."))?;
        let container_port = entry
            .get("containerPort")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::invalid_parameter("Container Port can not be blank."))?;
        let group = partition.target_groups.get(target_group_arn);
        if check_groups && group.is_none() {
            return Err(ApiError::invalid_parameter(format!("The target group with targetGroupArn {target_group_arn} does not exist.")));
        }
        if check_groups && !crate::records::targets::group_in_use(partition, target_group_arn) {
            return Err(ApiError::invalid_parameter(format!(
                "The target group with targetGroupArn {target_group_arn} does not have an associated load balancer."
            )));
        }
        if let Some(group) = group {
            let fits = match network_mode {
                "awsvpc" => group.target_type == "ip",
                "bridge" | "host" => group.target_type == "instance",
                _ => true,
            };
            if !fits {
                return Err(ApiError::invalid_parameter(format!(
                    "The provided target group {target_group_arn} has target type {}, which is incompatible with the {network_mode} network mode specified in the task definition.",
                    group.target_type
                )));
            }
        }
        let container =
            definition.containers().iter().find(|c| c.get("name").and_then(Value::as_str) == Some(container_name)).ok_or_else(|| {
                ApiError::invalid_parameter(format!("The container {container_name} does not exist in the task definition."))
            })?;
        let mapped = container
            .get("portMappings")
            .and_then(Value::as_array)
            .is_some_and(|mappings| mappings.iter().any(|m| m.get("containerPort").and_then(Value::as_i64) == Some(container_port)));
        if !mapped {
            return Err(ApiError::invalid_parameter(format!(
                "The container {container_name} did not have a container port {container_port} defined."
            )));
        }
    }
    Ok(())
}

fn check_launch_type(ctx: &Ctx, definition_arn: &str, launch_type: Option<&str>) -> Result<(), ApiError> {
    if launch_type == Some("FARGATE") {
        let fargate_ready = ctx.task_definition(definition_arn).is_some_and(|d| {
            d.body.get("networkMode").and_then(Value::as_str) == Some("awsvpc")
                && d.body.contains_key("cpu")
                && d.body.contains_key("memory")
        });
        if !fargate_ready {
            return Err(ApiError::invalid_parameter("Task definition does not support launch_type FARGATE."));
        }
    }
    Ok(())
}

/// The images of a task definition's containers, with the digest each resolves to now in
/// the emulated ECR (None for images outside it or missing from it).
pub fn container_images(partition: &Partition, definition_arn: &str) -> Vec<(String, String, Option<String>)> {
    let Some(definition) = find_definition(partition, definition_arn) else {
        return Vec::new();
    };
    definition
        .containers()
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
            let digest = match resolve_image(partition, &image) {
                ImageRef::Ecr { digest: Some(d), .. } => Some(d),
                _ => None,
            };
            (name, image, digest)
        })
        .collect()
}

pub fn render_service(partition: &Partition, service: &Service, with_tags: bool) -> Value {
    let mut running = 0;
    let mut pending = 0;
    let mut per_deployment: std::collections::HashMap<&str, (i64, i64)> = Default::default();
    for task in partition.tasks.values().filter(|t| t.service_arn.as_deref() == Some(service.arn.as_str())) {
        let counts = per_deployment.entry(task.deployment_id.as_deref().unwrap_or_default()).or_default();
        match task.last_status.as_str() {
            "RUNNING" => {
                running += 1;
                counts.0 += 1;
            }
            "PROVISIONING" | "PENDING" | "ACTIVATING" => {
                pending += 1;
                counts.1 += 1;
            }
            _ => {}
        }
    }
    let deployments: Vec<Value> = service
        .deployments
        .iter()
        .map(|d| {
            let (r, p) = per_deployment.get(d.id.as_str()).copied().unwrap_or_default();
            let mut out = Map::new();
            out.insert("id".into(), json!(d.id));
            out.insert("status".into(), json!(d.status));
            out.insert("taskDefinition".into(), json!(d.task_definition));
            out.insert("desiredCount".into(), json!(d.desired_count));
            out.insert("pendingCount".into(), json!(p));
            out.insert("runningCount".into(), json!(r));
            out.insert("failedTasks".into(), json!(d.failed_tasks));
            out.insert("createdAt".into(), json!(d.created_at));
            out.insert("updatedAt".into(), json!(d.updated_at));
            put(&mut out, "launchType", d.launch_type.clone());
            put(&mut out, "networkConfiguration", d.network_configuration.clone());
            out.insert("rolloutState".into(), json!(d.rollout_state));
            out.insert("rolloutStateReason".into(), json!(d.rollout_state_reason));
            Value::Object(out)
        })
        .collect();
    let events: Vec<Value> = service.events.iter().map(|e| json!({"id": e.id, "createdAt": e.created_at, "message": e.message})).collect();
    let pass = |key: &str, default: Value| service.passthrough.get(key).cloned().unwrap_or(default);
    let mut out = Map::new();
    out.insert("serviceArn".into(), json!(service.arn));
    out.insert("serviceName".into(), json!(service.name));
    out.insert("clusterArn".into(), json!(service.cluster_arn));
    out.insert("loadBalancers".into(), pass("loadBalancers", json!([])));
    out.insert("serviceRegistries".into(), pass("serviceRegistries", json!([])));
    out.insert("status".into(), json!(service.status));
    out.insert("desiredCount".into(), json!(service.desired_count));
    out.insert("runningCount".into(), json!(running));
    out.insert("pendingCount".into(), json!(pending));
    put(&mut out, "launchType", service.launch_type.clone());
    put(&mut out, "capacityProviderStrategy", service.passthrough.get("capacityProviderStrategy").cloned());
    if service.launch_type.as_deref() == Some("FARGATE") {
        out.insert("platformVersion".into(), pass("platformVersion", json!("LATEST")));
        out.insert("platformFamily".into(), json!("Linux"));
    }
    out.insert("taskDefinition".into(), json!(service.task_definition));
    out.insert("deploymentConfiguration".into(), service.deployment_configuration.clone());
    out.insert("deployments".into(), Value::Array(deployments));
    put(&mut out, "roleArn", service.passthrough.get("role").cloned());
    out.insert("events".into(), Value::Array(events));
    out.insert("createdAt".into(), json!(service.created_at));
    out.insert("placementConstraints".into(), pass("placementConstraints", json!([])));
    out.insert("placementStrategy".into(), pass("placementStrategy", json!([])));
    put(&mut out, "networkConfiguration", service.passthrough.get("networkConfiguration").cloned());
    put(&mut out, "healthCheckGracePeriodSeconds", service.health_check_grace_period_seconds);
    out.insert("schedulingStrategy".into(), json!(service.scheduling_strategy));
    out.insert("deploymentController".into(), service.deployment_controller.clone());
    if with_tags {
        out.insert("tags".into(), render_tags(partition.tags.get(&service.arn).map(Vec::as_slice).unwrap_or(&[])));
    }
    out.insert("createdBy".into(), json!(service.created_by));
    out.insert("enableECSManagedTags".into(), pass("enableECSManagedTags", json!(false)));
    out.insert("propagateTags".into(), pass("propagateTags", json!("NONE")));
    out.insert("enableExecuteCommand".into(), pass("enableExecuteCommand", json!(false)));
    put(&mut out, "serviceConnectConfiguration", service.passthrough.get("serviceConnectConfiguration").cloned());
    put(&mut out, "volumeConfigurations", service.passthrough.get("volumeConfigurations").cloned());
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    //! `loadBalancers` on CreateService and UpdateService: checked as ECS checks them, and a
    //! refused request changes nothing.

    use super::*;
    use crate::api::Caller;
    use crate::records::task_targets::{fixtures, load_balancer_entries};

    struct World {
        partition: Partition,
        caller: Caller,
        /// An `instance` and an `ip` target group a listener uses, and an `instance` one none uses.
        instance: String,
        ip: String,
        unused: String,
    }

    impl World {
        fn new() -> World {
            let caller = Caller { account: "123456789012".into(), region: "us-east-1".into() };
            let mut partition = Partition { account: caller.account.clone(), region: caller.region.clone(), ..Default::default() };
            let instance = fixtures::target_group(&mut partition, "web", "instance", true);
            let ip = fixtures::target_group(&mut partition, "web-ip", "ip", true);
            let unused = fixtures::target_group(&mut partition, "spare", "instance", false);
            let mut world = World { partition, caller, instance, ip, unused };
            world.call("CreateCluster", json!({"clusterName": "c"})).unwrap();
            let app =
                |image: &str, port: i64| json!([{"name": "app", "image": image, "memory": 64, "portMappings": [{"containerPort": port}]}]);
            world.call("RegisterTaskDefinition", json!({"family": "web", "containerDefinitions": app("busybox:1", 8080)})).unwrap();
            world.call("RegisterTaskDefinition", json!({"family": "web", "containerDefinitions": app("busybox:2", 9090)})).unwrap();
            world
                .call(
                    "RegisterTaskDefinition",
                    json!({"family": "vpc", "networkMode": "awsvpc", "containerDefinitions": app("busybox", 8080)}),
                )
                .unwrap();
            world
        }

        fn call(&mut self, operation: &str, input: Value) -> ApiResult {
            let map = input.as_object().cloned().unwrap_or_default();
            let mut ctx = Ctx { partition: &mut self.partition, caller: &self.caller, now: 1_000.0 };
            crate::ecs::dispatch(operation, &mut ctx, &Input(&map)).unwrap()
        }

        /// Everything ferry local knows, to compare before and after a refused request.
        fn snapshot(&self) -> Value {
            serde_json::to_value(&self.partition).unwrap()
        }
    }

    fn entry(group: &str, container: &str, port: i64) -> Value {
        json!({"targetGroupArn": group, "containerName": container, "containerPort": port})
    }

    fn create(task_definition: &str, load_balancers: Value) -> Value {
        let mut input = json!({"cluster": "c", "serviceName": "svc", "taskDefinition": task_definition, "desiredCount": 1,
                               "loadBalancers": load_balancers});
        if task_definition.starts_with("vpc") {
            input["networkConfiguration"] = json!({"awsvpcConfiguration": {"subnets": ["subnet-1"]}});
        }
        input
    }

    #[test]
    fn create_service_refuses_bad_load_balancers_in_ecs_words_and_changes_nothing() {
        let mut world = World::new();
        let missing = world.instance.replace("/web/", "/gone/");
        let (instance, ip, unused) = (world.instance.clone(), world.ip.clone(), world.unused.clone());
        let cases = [
            (
                create("web:1", json!([entry(&missing, "app", 8080)])),
                format!("The target group with targetGroupArn {missing} does not exist."),
            ),
            (
                create("web:1", json!([entry(&unused, "app", 8080)])),
                format!("The target group with targetGroupArn {unused} does not have an associated load balancer."),
            ),
            (
                create("vpc:1", json!([entry(&instance, "app", 8080)])),
                format!(
                    "The provided target group {instance} has target type instance, which is incompatible with the awsvpc network mode specified in the task definition."
                ),
            ),
            (
                create("web:1", json!([entry(&ip, "app", 8080)])),
                format!(
                    "The provided target group {ip} has target type ip, which is incompatible with the bridge network mode specified in the task definition."
                ),
            ),
            (create("web:1", json!([entry(&instance, "api", 8080)])), "The container api does not exist in the task definition.".into()),
            (
                create("web:1", json!([entry(&instance, "app", 9090)])),
                "The container app did not have a container port 9090 defined.".into(),
            ),
            (create("web:1", json!([{"targetGroupArn": instance, "containerPort": 8080}])), "Container Name can not be blank.".into()),
            (
                create(
                    "web:1",
                    json!([
                        entry(&instance, "app", 8080),
                        entry(&instance, "app", 8080),
                        entry(&instance, "app", 8080),
                        entry(&instance, "app", 8080),
                        entry(&instance, "app", 8080),
                        entry(&instance, "app", 8080)
                    ]),
                ),
                "loadBalancers can have at most 5 items.".into(),
            ),
        ];
        let before = world.snapshot();
        for (input, message) in cases {
            let error = world.call("CreateService", input.clone()).unwrap_err();
            assert_eq!((error.code.as_str(), error.message.as_str()), ("InvalidParameterException", message.as_str()), "{input}");
            assert_eq!(world.snapshot(), before, "a refused CreateService changed something: {input}");
        }
        let classic = world.call(
            "CreateService",
            create("web:1", json!([{"loadBalancerName": "classic", "containerName": "app", "containerPort": 8080}])),
        );
        let error = classic.unwrap_err();
        assert!(error.message.starts_with("The load balancer classic does not exist."), "{}", error.message);
        assert_eq!(world.snapshot(), before);

        // The same entries, right, are accepted and echoed as given.
        let created = world.call("CreateService", create("web:1", json!([entry(&instance, "app", 8080)]))).unwrap();
        assert_eq!(created["service"]["loadBalancers"], json!([entry(&instance, "app", 8080)]));
        let vpc = create("vpc:1", json!([entry(&ip, "app", 8080)]));
        let mut vpc = vpc.as_object().cloned().unwrap();
        vpc.insert("serviceName".into(), json!("vpc"));
        world.call("CreateService", Value::Object(vpc)).unwrap();
    }

    #[test]
    fn update_service_refuses_bad_load_balancers_and_a_definition_without_their_port_and_changes_nothing() {
        let mut world = World::new();
        let (instance, unused) = (world.instance.clone(), world.unused.clone());
        world.call("CreateService", create("web:1", json!([entry(&instance, "app", 8080)]))).unwrap();
        let before = world.snapshot();
        let cases = [
            (
                json!({"cluster": "c", "service": "svc", "loadBalancers": [entry(&unused, "app", 8080)]}),
                format!("The target group with targetGroupArn {unused} does not have an associated load balancer."),
            ),
            (
                json!({"cluster": "c", "service": "svc", "desiredCount": 3, "loadBalancers": [entry(&instance, "app", 80)]}),
                "The container app did not have a container port 80 defined.".to_string(),
            ),
            // web:2 maps 9090 only: the service's load balancer names 8080.
            (
                json!({"cluster": "c", "service": "svc", "taskDefinition": "web:2"}),
                "The container app did not have a container port 8080 defined.".to_string(),
            ),
        ];
        for (input, message) in cases {
            let error = world.call("UpdateService", input.clone()).unwrap_err();
            assert_eq!((error.code.as_str(), error.message.as_str()), ("InvalidParameterException", message.as_str()), "{input}");
            assert_eq!(world.snapshot(), before, "a refused UpdateService changed something: {input}");
        }
        // A new definition and load balancers that fit it go together.
        world
            .call(
                "UpdateService",
                json!({"cluster": "c", "service": "svc", "taskDefinition": "web:2", "loadBalancers": [entry(&instance, "app", 9090)]}),
            )
            .unwrap();
    }

    #[test]
    fn new_load_balancers_start_a_deployment_whose_revision_records_them() {
        let mut world = World::new();
        let instance = world.instance.clone();
        let other = fixtures::target_group(&mut world.partition, "other", "instance", true);
        world.call("CreateService", create("web:1", json!([entry(&instance, "app", 8080)]))).unwrap();
        let updated =
            world.call("UpdateService", json!({"cluster": "c", "service": "svc", "loadBalancers": [entry(&other, "app", 8080)]})).unwrap();
        assert_eq!(updated["service"]["loadBalancers"], json!([entry(&other, "app", 8080)]));
        let service = world.partition.services.values().next().unwrap();
        assert_eq!(service.deployments.len(), 2, "a new deployment");
        let revision = |d: &crate::state::Deployment| service.revisions.iter().find(|r| r.arn == d.service_revision_arn).unwrap();
        let groups =
            |d| load_balancer_entries(revision(d).load_balancers.as_ref()).into_iter().map(|e| e.target_group_arn).collect::<Vec<_>>();
        assert_eq!(groups(&service.deployments[0]), vec![other.clone()]);
        assert_eq!(groups(&service.deployments[1]), vec![instance.clone()]);

        // The same load balancers again start nothing.
        world.call("UpdateService", json!({"cluster": "c", "service": "svc", "loadBalancers": [entry(&other, "app", 8080)]})).unwrap();
        assert_eq!(world.partition.services.values().next().unwrap().deployments.len(), 2);
    }
}
