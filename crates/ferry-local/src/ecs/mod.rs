//! ECS (`AmazonEC2ContainerServiceV20141113`): the control plane. Handlers only change
//! state, through `records` where the scheduler changes the same records; the scheduler and
//! the task runtime act on it.

mod clusters;
mod service_deployments;
mod services;
mod tags;
mod task_definitions;
mod tasks;

use serde_json::Value;

pub use crate::api::Ctx;
use crate::api::{ApiError, ApiResult, Input};
use crate::state::{Cluster, Service, TaskDefinition};

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "CreateCluster" => clusters::create(ctx, input),
        "DescribeClusters" => clusters::describe(ctx, input),
        "ListClusters" => clusters::list(ctx, input),
        "DeleteCluster" => clusters::delete(ctx, input),
        "RegisterTaskDefinition" => task_definitions::register(ctx, input),
        "DescribeTaskDefinition" => task_definitions::describe(ctx, input),
        "ListTaskDefinitions" => task_definitions::list(ctx, input),
        "ListTaskDefinitionFamilies" => task_definitions::list_families(ctx, input),
        "DeregisterTaskDefinition" => task_definitions::deregister(ctx, input),
        "CreateService" => services::create(ctx, input),
        "UpdateService" => services::update(ctx, input),
        "DescribeServices" => services::describe(ctx, input),
        "ListServices" => services::list(ctx, input),
        "DeleteService" => services::delete(ctx, input),
        "RunTask" => tasks::run(ctx, input),
        "StopTask" => tasks::stop(ctx, input),
        "ListTasks" => tasks::list(ctx, input),
        "DescribeTasks" => tasks::describe(ctx, input),
        "TagResource" => tags::tag(ctx, input),
        "UntagResource" => tags::untag(ctx, input),
        "ListTagsForResource" => tags::list(ctx, input),
        "ListServiceDeployments" => service_deployments::list(ctx, input),
        "DescribeServiceDeployments" => service_deployments::describe(ctx, input),
        "StopServiceDeployment" => service_deployments::stop(ctx, input),
        "ContinueServiceDeployment" => service_deployments::continue_deployment(ctx, input),
        "DescribeServiceRevisions" => service_deployments::describe_revisions(ctx, input),
        _ => return None,
    })
}

impl Ctx<'_> {
    /// The cluster a request names (name or ARN; `default` when absent), which must be ACTIVE.
    pub fn cluster(&self, input: &Input) -> Result<&Cluster, ApiError> {
        self.cluster_named(input.str("cluster").unwrap_or("default"))
    }

    /// The ACTIVE cluster a name or ARN refers to.
    pub fn cluster_named(&self, reference: &str) -> Result<&Cluster, ApiError> {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        if reference.starts_with("arn:") && !reference.contains(&format!(":{}:", self.caller.account)) {
            return Err(cluster_not_found());
        }
        match self.partition.clusters.get(name) {
            Some(c) if c.status == "ACTIVE" => Ok(c),
            Some(_) => Err(ApiError::client("ClusterNotFoundException", "The referenced cluster was inactive.")),
            None => Err(cluster_not_found()),
        }
    }

    pub fn cluster_arn(&self, input: &Input) -> Result<String, ApiError> {
        self.cluster(input).map(|c| c.arn.clone())
    }

    /// The ARN a service name has in a cluster.
    pub fn service_arn(&self, cluster_arn: &str, service: &str) -> String {
        if service.starts_with("arn:") {
            return service.to_string();
        }
        let cluster = cluster_arn.rsplit('/').next().unwrap_or_default();
        self.caller.arn("ecs", &format!("service/{cluster}/{service}"))
    }

    /// The service a request names in `key` (name or ARN), ACTIVE or not.
    pub fn service(&mut self, input: &Input, key: &str) -> Result<&mut Service, ApiError> {
        let cluster_arn = self.cluster_arn(input)?;
        let name = input.required_str(key)?;
        let arn = self.service_arn(&cluster_arn, name);
        match self.partition.services.get_mut(&arn) {
            Some(s) if s.cluster_arn == cluster_arn => Ok(s),
            _ => Err(ApiError::client("ServiceNotFoundException", "Service not found.")),
        }
    }

    /// Resolves `family`, `family:revision` or an ARN to a registered task definition.
    pub fn task_definition(&self, reference: &str) -> Option<&TaskDefinition> {
        let short = reference.rsplit('/').next().unwrap_or(reference);
        if reference.starts_with("arn:") && !reference.contains(&format!(":{}:task-definition/", self.caller.account)) {
            return None;
        }
        let (family, revision) = match short.rsplit_once(':') {
            Some((family, revision)) => (family, Some(revision.parse::<i64>().ok()?)),
            None => (short, None),
        };
        let revisions = self.partition.task_definitions.get(family)?;
        match revision {
            Some(r) => revisions.iter().find(|t| t.revision == r),
            None => revisions.iter().rev().find(|t| t.status == "ACTIVE"),
        }
    }

    pub fn arn(&self, resource: &str) -> String {
        self.caller.arn("ecs", resource)
    }
}

pub fn cluster_not_found() -> ApiError {
    ApiError::client("ClusterNotFoundException", "Cluster not found.")
}

/// The tags a request carries (`[{key, value}]`), rejecting keys AWS reserves.
pub fn tags_from(input: &Input, key: &str) -> Result<Vec<crate::state::Tag>, ApiError> {
    let mut tags = Vec::new();
    for tag in input.array(key) {
        let k = tag.get("key").and_then(Value::as_str).unwrap_or_default();
        let v = tag.get("value").and_then(Value::as_str).unwrap_or_default();
        if k.is_empty() {
            return Err(ApiError::invalid_parameter("Tag keys must not be empty."));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid_parameter("Tag keys with the prefix 'aws:' are reserved for AWS use."));
        }
        tags.push(crate::state::Tag { key: k.to_string(), value: v.to_string() });
    }
    Ok(tags)
}

pub fn render_tags(tags: &[crate::state::Tag]) -> Value {
    Value::Array(tags.iter().map(|t| serde_json::json!({"key": t.key, "value": t.value})).collect())
}

/// Lists whether `include` asks for tags.
pub fn include_tags(input: &Input) -> bool {
    input.strings("include").iter().any(|i| i == "TAGS")
}
