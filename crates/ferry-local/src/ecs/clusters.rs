//! CreateCluster, DescribeClusters, ListClusters, DeleteCluster.

use serde_json::{Map, Value, json};

use super::{Ctx, cluster_not_found, include_tags, render_tags, tags_from};
use crate::api::{ApiError, ApiResult, Input, paginate, put};
use crate::state::{Cluster, Partition};

pub fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("clusterName").unwrap_or("default").to_string();
    if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::invalid_parameter(
            "Invalid cluster name. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.",
        ));
    }
    let tags = tags_from(input, "tags")?;
    let arn = ctx.arn(&format!("cluster/{name}"));
    let existing_active = ctx.partition.clusters.get(&name).is_some_and(|c| c.status == "ACTIVE");
    if !existing_active {
        let cluster = Cluster {
            arn: arn.clone(),
            name: name.clone(),
            status: "ACTIVE".into(),
            settings: input.value("settings").cloned().unwrap_or_else(|| json!([{"name": "containerInsights", "value": "disabled"}])),
            configuration: input.value("configuration").cloned(),
            capacity_providers: input.strings("capacityProviders"),
            default_capacity_provider_strategy: input.value("defaultCapacityProviderStrategy").cloned().unwrap_or_else(|| json!([])),
        };
        ctx.partition.clusters.insert(name.clone(), cluster);
        ctx.partition.tags.insert(arn, tags);
    }
    // CreateCluster is idempotent on an ACTIVE cluster of the same name.
    let cluster = ctx.partition.clusters.get(&name).ok_or_else(cluster_not_found)?;
    Ok(json!({ "cluster": render(ctx.partition, cluster, true) }))
}

pub fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let mut names = input.strings("clusters");
    if names.is_empty() {
        names.push("default".into());
    }
    if names.len() > 100 {
        return Err(ApiError::invalid_parameter("clusters can have at most 100 items."));
    }
    let with_tags = include_tags(input);
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for reference in names {
        let name = reference.rsplit('/').next().unwrap_or(&reference).to_string();
        match ctx.partition.clusters.get(&name) {
            Some(c) => clusters.push(render(ctx.partition, c, with_tags)),
            None => failures.push(json!({
                "arn": if reference.starts_with("arn:") { reference.clone() } else { ctx.arn(&format!("cluster/{name}")) },
                "reason": "MISSING"
            })),
        }
    }
    Ok(json!({ "clusters": clusters, "failures": failures }))
}

pub fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns: Vec<String> = ctx.partition.clusters.values().filter(|c| c.status == "ACTIVE").map(|c| c.arn.clone()).collect();
    let (page, next) = paginate(&arns, input.str("nextToken"), input.i64("maxResults"), 100, 100)?;
    let mut out = Map::new();
    out.insert("clusterArns".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

pub fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let cluster = ctx.cluster_named(input.required_str("cluster")?)?;
    let arn = cluster.arn.clone();
    let name = cluster.name.clone();
    if ctx.partition.services.values().any(|s| s.cluster_arn == arn && s.status != "INACTIVE") {
        return Err(ApiError::client("ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."));
    }
    if ctx.partition.tasks.values().any(|t| t.cluster_arn == arn && !t.is_stopped()) {
        return Err(ApiError::client("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active."));
    }
    let cluster = ctx.partition.clusters.get_mut(&name).ok_or_else(cluster_not_found)?;
    cluster.status = "INACTIVE".into();
    let cluster = cluster.clone();
    Ok(json!({ "cluster": render(ctx.partition, &cluster, false) }))
}

fn render(partition: &Partition, cluster: &Cluster, with_tags: bool) -> Value {
    let tasks = partition.tasks.values().filter(|t| t.cluster_arn == cluster.arn);
    let (mut running, mut pending) = (0, 0);
    for t in tasks {
        match t.last_status.as_str() {
            "RUNNING" => running += 1,
            "PROVISIONING" | "PENDING" | "ACTIVATING" => pending += 1,
            _ => {}
        }
    }
    let active_services = partition.services.values().filter(|s| s.cluster_arn == cluster.arn && s.status == "ACTIVE").count();
    let mut out = Map::new();
    out.insert("clusterArn".into(), json!(cluster.arn));
    out.insert("clusterName".into(), json!(cluster.name));
    put(&mut out, "configuration", cluster.configuration.clone());
    out.insert("status".into(), json!(cluster.status));
    out.insert("registeredContainerInstancesCount".into(), json!(0));
    out.insert("runningTasksCount".into(), json!(running));
    out.insert("pendingTasksCount".into(), json!(pending));
    out.insert("activeServicesCount".into(), json!(active_services));
    out.insert("statistics".into(), json!([]));
    if with_tags {
        out.insert("tags".into(), render_tags(partition.tags.get(&cluster.arn).map(Vec::as_slice).unwrap_or(&[])));
    }
    out.insert("settings".into(), cluster.settings.clone());
    out.insert("capacityProviders".into(), json!(cluster.capacity_providers));
    out.insert("defaultCapacityProviderStrategy".into(), cluster.default_capacity_provider_strategy.clone());
    Value::Object(out)
}
