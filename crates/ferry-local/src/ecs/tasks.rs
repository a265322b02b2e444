//! RunTask, StopTask, ListTasks, DescribeTasks, and the task records the scheduler creates.
//! Starting and stopping the processes is the runtime's job; these handlers only set the
//! desired status.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::services::container_images;
use super::{Ctx, include_tags, render_tags, tags_from};
use crate::api::{ApiError, ApiResult, Input, paginate, put};
use crate::records::{Placement, new_task, stop_task};
use crate::state::{Partition, Task};

pub fn run(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let reference = input.required_str("taskDefinition")?;
    let definition = ctx.task_definition(reference).ok_or_else(|| ApiError::invalid_parameter("TaskDefinition not found."))?.clone();
    if definition.status != "ACTIVE" {
        return Err(ApiError::invalid_parameter("TaskDefinition is inactive."));
    }
    let count = input.i64("count").unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(ApiError::invalid_parameter("count must be between 1 and 10."));
    }
    if definition.body.get("networkMode").and_then(Value::as_str) == Some("awsvpc") && input.value("networkConfiguration").is_none() {
        return Err(ApiError::invalid_parameter("Network Configuration must be provided when networkMode 'awsvpc' is specified."));
    }
    // RunTask's `startedBy` (ECS API reference): "Up to 36 letters (uppercase and lowercase),
    // numbers, hyphens (-), forward slash (/), and underscores (_) are allowed." The message is
    // ferry local's: AWS's exact words for RunTask were not found.
    if let Some(by) = input.str("startedBy")
        && (by.chars().count() > 36 || !by.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '/' | '_')))
    {
        return Err(ApiError::invalid_parameter(
            "startedBy: up to 36 letters (uppercase and lowercase), numbers, hyphens (-), forward slash (/), and underscores (_) are allowed.",
        ));
    }
    let overrides = input.value("overrides").cloned().unwrap_or_else(|| json!({}));
    for o in overrides.get("containerOverrides").and_then(Value::as_array).into_iter().flatten() {
        let name = o.get("name").and_then(Value::as_str).unwrap_or_default();
        if !definition.containers().iter().any(|c| c.get("name").and_then(Value::as_str) == Some(name)) {
            return Err(ApiError::invalid_parameter(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
    }
    let tags = tags_from(input, "tags")?;
    let digests: BTreeMap<String, String> =
        container_images(ctx.partition, &definition.arn).into_iter().filter_map(|(name, _, digest)| Some((name, digest?))).collect();
    let mut rendered = Vec::new();
    for _ in 0..count {
        let task = new_task(
            &definition,
            Placement {
                cluster_arn: &cluster_arn,
                group: input.str("group").map(str::to_string).unwrap_or_else(|| format!("family:{}", definition.family)),
                started_by: input.str("startedBy").map(str::to_string),
                service_arn: None,
                deployment_id: None,
                launch_type: Some(input.str("launchType").unwrap_or("EC2").to_string()),
                overrides: overrides.clone(),
                image_digests: &digests,
            },
            ctx.caller,
            ctx.now,
        );
        ctx.partition.tags.insert(task.arn.clone(), tags.clone());
        rendered.push(render_task(ctx.partition, &task, !tags.is_empty()));
        ctx.partition.tasks.insert(task.arn.clone(), task);
    }
    Ok(json!({ "tasks": rendered, "failures": [] }))
}

pub fn stop(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let reference = input.required_str("task")?;
    let arn = task_arn(ctx, &cluster_arn, reference);
    let now = ctx.now;
    let task = ctx
        .partition
        .tasks
        .get_mut(&arn)
        .filter(|t| t.cluster_arn == cluster_arn)
        .ok_or_else(|| ApiError::invalid_parameter("The referenced task was not found."))?;
    stop_task(task, "UserInitiated", input.str("reason").unwrap_or("Task stopped by user"), now);
    let task = task.clone();
    Ok(json!({ "task": render_task(ctx.partition, &task, false) }))
}

pub fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let desired = input.str("desiredStatus").unwrap_or("RUNNING");
    let service_arn = match input.str("serviceName") {
        Some(name) => {
            let arn = ctx.service_arn(&cluster_arn, name);
            if !ctx.partition.services.contains_key(&arn) {
                return Err(ApiError::client("ServiceNotFoundException", "Service not found."));
            }
            Some(arn)
        }
        None => None,
    };
    let family = input.str("family");
    let started_by = input.str("startedBy");
    let launch_type = input.str("launchType");
    let arns: Vec<String> = ctx
        .partition
        .tasks
        .values()
        .filter(|t| t.cluster_arn == cluster_arn && t.desired_status == desired)
        .filter(|t| service_arn.is_none() || t.service_arn == service_arn)
        .filter(|t| family.is_none_or(|f| family_of(&t.task_definition_arn) == f))
        .filter(|t| started_by.is_none_or(|s| t.started_by.as_deref() == Some(s)))
        .filter(|t| launch_type.is_none_or(|l| t.launch_type.as_deref() == Some(l)))
        .map(|t| t.arn.clone())
        .collect();
    let (page, next) = paginate(&arns, input.str("nextToken"), input.i64("maxResults"), 100, 100)?;
    let mut out = Map::new();
    out.insert("taskArns".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

pub fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster_arn = ctx.cluster_arn(input)?;
    let references = input.strings("tasks");
    if references.len() > 100 {
        return Err(ApiError::invalid_parameter("tasks can have at most 100 items."));
    }
    let with_tags = include_tags(input);
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for reference in references {
        let arn = task_arn(ctx, &cluster_arn, &reference);
        match ctx.partition.tasks.get(&arn).filter(|t| t.cluster_arn == cluster_arn) {
            Some(task) => tasks.push(render_task(ctx.partition, task, with_tags)),
            None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
        }
    }
    Ok(json!({ "tasks": tasks, "failures": failures }))
}

fn task_arn(ctx: &Ctx, cluster_arn: &str, reference: &str) -> String {
    if reference.starts_with("arn:") {
        return reference.to_string();
    }
    let cluster = cluster_arn.rsplit('/').next().unwrap_or_default();
    ctx.arn(&format!("task/{cluster}/{reference}"))
}

fn family_of(definition_arn: &str) -> &str {
    let short = definition_arn.rsplit('/').next().unwrap_or_default();
    short.rsplit_once(':').map(|(f, _)| f).unwrap_or(short)
}

pub fn render_task(partition: &Partition, task: &Task, with_tags: bool) -> Value {
    let awsvpc = task.network_mode == "awsvpc";
    // A stable id derived from the task id, so the attachment keeps its id across calls.
    let tid = task.id();
    let attachment_id = format!(
        "{}-{}-{}-{}-{}",
        &tid[..8.min(tid.len())],
        &tid[8..12.min(tid.len())],
        &tid[12..16.min(tid.len())],
        &tid[16..20.min(tid.len())],
        &tid[20.min(tid.len())..]
    );
    let containers: Vec<Value> = task
        .containers
        .iter()
        .map(|c| {
            let mut out = Map::new();
            out.insert("containerArn".into(), json!(c.arn));
            out.insert("taskArn".into(), json!(task.arn));
            out.insert("name".into(), json!(c.name));
            out.insert("image".into(), json!(c.image));
            put(&mut out, "imageDigest", c.image_digest.clone());
            if !c.runtime_id.is_empty() {
                out.insert("runtimeId".into(), json!(c.runtime_id));
            }
            out.insert("lastStatus".into(), json!(c.last_status));
            put(&mut out, "exitCode", c.exit_code);
            put(&mut out, "reason", c.reason.clone());
            let bindings: Vec<Value> = c
                .bindings
                .iter()
                .map(|(container_port, host_port, protocol)| {
                    json!({"bindIP": "127.0.0.1", "containerPort": container_port, "hostPort": host_port, "protocol": protocol})
                })
                .collect();
            out.insert("networkBindings".into(), json!(bindings));
            let interfaces = if awsvpc { json!([{"attachmentId": attachment_id, "privateIpv4Address": "127.0.0.1"}]) } else { json!([]) };
            out.insert("networkInterfaces".into(), interfaces);
            // Without a health check ECS reports the container's health as UNKNOWN (API
            // reference, Container.healthStatus); it does not leave the member out.
            out.insert("healthStatus".into(), json!(c.health_status));
            out.insert("cpu".into(), json!(c.cpu.unwrap_or(0).to_string()));
            if let Some(memory) = c.memory {
                out.insert("memory".into(), json!(memory.to_string()));
            }
            Value::Object(out)
        })
        .collect();
    let mut out = Map::new();
    let attachments = if awsvpc {
        let status = if task.is_stopped() { "DELETED" } else { "ATTACHED" };
        json!([{
            "id": attachment_id,
            "type": "ElasticNetworkInterface",
            "status": status,
            "details": [
                {"name": "networkInterfaceId", "value": format!("eni-{}", &attachment_id.replace('-', "")[..17])},
                {"name": "privateDnsName", "value": "localhost"},
                {"name": "privateIPv4Address", "value": "127.0.0.1"}
            ]
        }])
    } else {
        json!([])
    };
    out.insert("attachments".into(), attachments);
    out.insert("attributes".into(), json!([{"name": "ecs.cpu-architecture", "value": std::env::consts::ARCH}]));
    out.insert("availabilityZone".into(), json!(format!("{}a", region_of(&task.arn))));
    out.insert("clusterArn".into(), json!(task.cluster_arn));
    out.insert("connectivity".into(), json!("CONNECTED"));
    put(&mut out, "connectivityAt", task.pull_started_at);
    out.insert("containers".into(), Value::Array(containers));
    put(&mut out, "cpu", task.cpu.clone());
    out.insert("createdAt".into(), json!(task.created_at));
    out.insert("desiredStatus".into(), json!(task.desired_status));
    out.insert("enableExecuteCommand".into(), json!(false));
    put(&mut out, "executionStoppedAt", task.execution_stopped_at);
    out.insert("group".into(), json!(task.group));
    out.insert("healthStatus".into(), json!(task.health_status));
    out.insert("lastStatus".into(), json!(task.last_status));
    put(&mut out, "launchType", task.launch_type.clone());
    put(&mut out, "memory", task.memory.clone());
    let mut overrides = task.overrides.as_object().cloned().unwrap_or_default();
    overrides.entry("containerOverrides").or_insert(json!([]));
    overrides.entry("inferenceAcceleratorOverrides").or_insert(json!([]));
    out.insert("overrides".into(), Value::Object(overrides));
    if task.launch_type.as_deref() == Some("FARGATE") {
        out.insert("platformVersion".into(), json!("1.4.0"));
        out.insert("platformFamily".into(), json!("Linux"));
    }
    put(&mut out, "pullStartedAt", task.pull_started_at);
    put(&mut out, "pullStoppedAt", task.pull_stopped_at);
    put(&mut out, "startedAt", task.started_at);
    put(&mut out, "startedBy", task.started_by.clone());
    put(&mut out, "stopCode", task.stop_code.clone().filter(|_| task.desired_status == "STOPPED"));
    put(&mut out, "stoppedAt", task.stopped_at);
    put(&mut out, "stoppedReason", task.stopped_reason.clone().filter(|_| task.desired_status == "STOPPED"));
    put(&mut out, "stoppingAt", task.stopping_at);
    if with_tags {
        out.insert("tags".into(), render_tags(partition.tags.get(&task.arn).map(Vec::as_slice).unwrap_or(&[])));
    }
    out.insert("taskArn".into(), json!(task.arn));
    out.insert("taskDefinitionArn".into(), json!(task.task_definition_arn));
    out.insert("version".into(), json!(task.version));
    Value::Object(out)
}

fn region_of(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or("us-east-1")
}
