//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition.
//!
//! A registered definition keeps every member the caller sent (so a copy made from
//! DescribeTaskDefinition loses nothing) plus the defaults ECS fills in, so what comes back
//! looks like what the real service returns.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{Ctx, include_tags, render_tags, tags_from};
use crate::api::{ApiError, ApiResult, Input, paginate, put};
use crate::state::TaskDefinition;

/// Members of the request that are not part of the definition itself.
const NOT_STORED: &[&str] = &["tags"];

pub fn register(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let family = input.required_str("family")?.to_string();
    if family.len() > 255 || !family.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::client(
            "ClientException",
            "Family contains invalid characters. Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed.",
        ));
    }
    let tags = tags_from(input, "tags")?;
    let mut body: Map<String, Value> =
        input.0.iter().filter(|(k, _)| !NOT_STORED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let network_mode = input.str("networkMode").unwrap_or("bridge").to_string();
    let compatibilities = input.strings("requiresCompatibilities");
    let fargate = compatibilities.iter().any(|c| c == "FARGATE");
    if fargate && network_mode != "awsvpc" {
        return Err(ApiError::client("ClientException", "Fargate only supports network mode 'awsvpc'."));
    }
    if fargate && input.str("cpu").is_none() {
        return Err(ApiError::client("ClientException", "Fargate requires that 'cpu' be defined at the task level."));
    }
    let task_memory = input.str("memory").is_some();
    let containers = input.array("containerDefinitions");
    if containers.is_empty() {
        return Err(ApiError::client("ClientException", "Container list cannot be empty."));
    }
    let mut names = BTreeSet::new();
    let mut defaulted = Vec::new();
    for container in containers {
        let mut c = container.as_object().cloned().unwrap_or_default();
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(ApiError::client("ClientException", "Container.name should not be null or empty."));
        }
        if c.get("image").and_then(Value::as_str).unwrap_or_default().is_empty() {
            return Err(ApiError::client("ClientException", "Container.image should not be null or empty."));
        }
        if !names.insert(name.clone()) {
            return Err(ApiError::client(
                "ClientException",
                format!("Duplicate container name '{name}'. Container names must be unique within a task definition."),
            ));
        }
        if !task_memory && c.get("memory").is_none() && c.get("memoryReservation").is_none() {
            return Err(ApiError::client(
                "ClientException",
                format!("Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."),
            ));
        }
        apply_container_defaults(&mut c, &network_mode);
        defaulted.push(Value::Object(c));
    }
    if !names.iter().any(|n| defaulted.iter().any(|c| c["name"] == json!(n) && c.get("essential").and_then(Value::as_bool) != Some(false)))
    {
        return Err(ApiError::client("ClientException", "A task definition must have at least one essential container."));
    }
    body.insert("containerDefinitions".into(), Value::Array(defaulted));
    body.entry("volumes").or_insert_with(|| json!([]));
    body.entry("placementConstraints").or_insert_with(|| json!([]));

    let revisions = ctx.partition.task_definitions.entry(family.clone()).or_default();
    let revision = revisions.len() as i64 + 1;
    let arn = ctx.caller.arn("ecs", &format!("task-definition/{family}:{revision}"));
    let definition = TaskDefinition {
        arn: arn.clone(),
        family: family.clone(),
        revision,
        status: "ACTIVE".into(),
        registered_at: ctx.now,
        deregistered_at: None,
        registered_by: format!("arn:aws:iam::{}:root", ctx.caller.account),
        body,
    };
    let rendered = render(&definition);
    revisions.push(definition);
    let mut out = Map::new();
    out.insert("taskDefinition".into(), rendered);
    if !tags.is_empty() {
        out.insert("tags".into(), render_tags(&tags));
    }
    ctx.partition.tags.insert(arn, tags);
    Ok(Value::Object(out))
}

/// The defaults ECS adds to a container definition when it is registered.
fn apply_container_defaults(c: &mut Map<String, Value>, network_mode: &str) {
    c.entry("cpu").or_insert(json!(0));
    c.entry("essential").or_insert(json!(true));
    if let Some(Value::Array(mappings)) = c.get_mut("portMappings") {
        for mapping in mappings.iter_mut().filter_map(Value::as_object_mut) {
            mapping.entry("protocol").or_insert(json!("tcp"));
            if matches!(network_mode, "awsvpc" | "host")
                && let Some(port) = mapping.get("containerPort").cloned()
            {
                mapping.entry("hostPort").or_insert(port);
            }
        }
    } else {
        c.insert("portMappings".into(), json!([]));
    }
    for list in ["environment", "mountPoints", "volumesFrom", "systemControls"] {
        c.entry(list).or_insert(json!([]));
    }
}

pub fn render(definition: &TaskDefinition) -> Value {
    let mut out = Map::new();
    out.insert("taskDefinitionArn".into(), json!(definition.arn));
    for (k, v) in &definition.body {
        out.insert(k.clone(), v.clone());
    }
    out.insert("family".into(), json!(definition.family));
    out.insert("revision".into(), json!(definition.revision));
    out.insert("status".into(), json!(definition.status));
    out.insert("requiresAttributes".into(), json!([]));
    let mut compatibilities = vec!["EC2"];
    let awsvpc = definition.body.get("networkMode").and_then(Value::as_str) == Some("awsvpc");
    if awsvpc && definition.body.contains_key("cpu") && definition.body.contains_key("memory") {
        compatibilities.push("FARGATE");
    }
    out.insert("compatibilities".into(), json!(compatibilities));
    out.insert("registeredAt".into(), json!(definition.registered_at));
    put(&mut out, "deregisteredAt", definition.deregistered_at);
    out.insert("registeredBy".into(), json!(definition.registered_by));
    Value::Object(out)
}

pub fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let reference = input.required_str("taskDefinition")?;
    let definition =
        ctx.task_definition(reference).ok_or_else(|| ApiError::client("ClientException", "Unable to describe task definition."))?;
    let mut out = Map::new();
    out.insert("taskDefinition".into(), render(definition));
    if include_tags(input) {
        let tags = ctx.partition.tags.get(&definition.arn).map(Vec::as_slice).unwrap_or(&[]);
        out.insert("tags".into(), render_tags(tags));
    }
    Ok(Value::Object(out))
}

pub fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let status = input.str("status").unwrap_or("ACTIVE");
    let family = input.str("familyPrefix");
    let mut arns: Vec<String> = ctx
        .partition
        .task_definitions
        .iter()
        // Despite its name, familyPrefix matches the whole family, as the API reference says.
        .filter(|(f, _)| family.is_none_or(|want| want == f.as_str()))
        .flat_map(|(_, revisions)| revisions.iter())
        .filter(|t| t.status == status)
        .map(|t| t.arn.clone())
        .collect();
    if input.str("sort") == Some("DESC") {
        arns.reverse();
    }
    let (page, next) = paginate(&arns, input.str("nextToken"), input.i64("maxResults"), 100, 100)?;
    let mut out = Map::new();
    out.insert("taskDefinitionArns".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

pub fn list_families(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let status = input.str("status").unwrap_or("ACTIVE");
    let prefix = input.str("familyPrefix").unwrap_or("");
    let families: Vec<String> = ctx
        .partition
        .task_definitions
        .iter()
        .filter(|(f, _)| f.starts_with(prefix))
        .filter(|(_, revisions)| {
            let active = revisions.iter().any(|t| t.status == "ACTIVE");
            match status {
                "ACTIVE" => active,
                "INACTIVE" => !active,
                _ => true,
            }
        })
        .map(|(f, _)| f.clone())
        .collect();
    let (page, next) = paginate(&families, input.str("nextToken"), input.i64("maxResults"), 100, 100)?;
    let mut out = Map::new();
    out.insert("families".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

pub fn deregister(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let reference = input.required_str("taskDefinition")?;
    let short = reference.rsplit('/').next().unwrap_or(reference);
    let Some((family, revision)) = short.rsplit_once(':') else {
        return Err(ApiError::client("ClientException", "Task definition revision must be specified (family:revision)."));
    };
    let revision: i64 =
        revision.parse().map_err(|_| ApiError::client("ClientException", format!("Invalid revision number. Number: {revision}")))?;
    let definition = ctx
        .partition
        .task_definitions
        .get_mut(family)
        .and_then(|revisions| revisions.iter_mut().find(|t| t.revision == revision))
        .ok_or_else(|| ApiError::client("ClientException", "The specified task definition does not exist."))?;
    if definition.status == "ACTIVE" {
        definition.status = "INACTIVE".into();
        definition.deregistered_at = Some(ctx.now);
    }
    Ok(json!({ "taskDefinition": render(definition) }))
}
