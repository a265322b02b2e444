//! The ports: what the deploy logic needs from ECS, the registry and the clock, as traits.
//! `ferry-aws` implements them over the AWS SDK; unit tests implement them in memory.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

/// A platform call that failed, in the platform's words.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct PlatformError {
    /// The API operation, e.g. `ecs:UpdateService`.
    pub operation: String,
    /// The error code AWS returned (`AccessDeniedException`), when there was one.
    pub code: Option<String>,
    pub message: String,
}

impl PlatformError {
    pub fn new(operation: impl Into<String>, code: Option<String>, message: impl Into<String>) -> Self {
        PlatformError { operation: operation.into(), code, message: message.into() }
    }
}

pub type PlatformResult<T> = Result<T, PlatformError>;

/// A cluster as preflight sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterInfo {
    pub arn: String,
    pub status: String,
}

/// One entry of a service's legacy `deployments` list: what ECS reports about a rollout.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInfo {
    /// `ecs-svc/...`
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    /// IN_PROGRESS, COMPLETED or FAILED.
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A service event (`(service web) has reached a steady state.`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: i64,
    pub message: String,
}

/// One DescribeServices observation of a service.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceInfo {
    pub arn: String,
    pub name: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    /// ECS, CODE_DEPLOY or EXTERNAL.
    pub deployment_controller: String,
    pub circuit_breaker_rollback: bool,
    /// `deploymentConfiguration.minimumHealthyPercent` and `maximumPercent`, when reported
    /// (ECS's defaults for a REPLICA service are 100 and 200).
    pub minimum_healthy_percent: Option<i32>,
    pub maximum_percent: Option<i32>,
    pub deployments: Vec<DeploymentInfo>,
    /// Newest first, as ECS lists them.
    pub events: Vec<ServiceEvent>,
}

impl ServiceInfo {
    pub fn deployment(&self, id: &str) -> Option<&DeploymentInfo> {
        self.deployments.iter().find(|d| d.id == id)
    }
    pub fn primary(&self) -> Option<&DeploymentInfo> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }
}

/// A registered task definition revision.
#[derive(Clone, Debug, Serialize)]
pub struct TaskDefinitionInfo {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// The revision as native ECS JSON (what DescribeTaskDefinition returns, tags included).
    pub definition: Value,
    /// The revision's tags (`ferry:version`, ...).
    pub tags: Vec<(String, String)>,
}

impl TaskDefinitionInfo {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A task that stopped, with the reasons ECS gives.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoppedTask {
    pub arn: String,
    pub task_definition: String,
    /// The deployment that started it (`startedBy`).
    pub started_by: Option<String>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Per container: name, exit code, reason.
    pub containers: Vec<StoppedContainer>,
    pub stopped_at: i64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StoppedContainer {
    pub name: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub health_status: Option<String>,
}

/// An image found in the registry.
#[derive(Clone, Debug, Serialize)]
pub struct ImageInfo {
    /// The repository URI (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`).
    pub repository_uri: String,
    pub digest: String,
}

/// ECS, as the deploy logic needs it.
pub trait Ecs: Send + Sync {
    fn describe_cluster(&self, cluster: &str) -> impl Future<Output = PlatformResult<Option<ClusterInfo>>> + Send;
    /// At most 10 names (the API's limit); missing services are simply absent.
    fn describe_services(&self, cluster: &str, services: &[String]) -> impl Future<Output = PlatformResult<Vec<ServiceInfo>>> + Send;
    fn describe_task_definition(&self, task_definition: &str) -> impl Future<Output = PlatformResult<TaskDefinitionInfo>> + Send;
    /// Checks, offline, that native ECS JSON is a valid RegisterTaskDefinition request
    /// (unknown fields, wrong types, bad enum values), naming the field that is wrong.
    fn validate_task_definition(&self, definition: &Value) -> Result<(), crate::error::Error>;
    /// Registers a task definition given as native ECS JSON (with its `tags`).
    fn register_task_definition(&self, definition: &Value) -> impl Future<Output = PlatformResult<TaskDefinitionInfo>> + Send;
    /// One UpdateService call; returns the service as ECS answered.
    fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> impl Future<Output = PlatformResult<ServiceInfo>> + Send;
    /// Stopped tasks started by `deployment_id` (`ecs-svc/...`), all pages.
    fn stopped_tasks(&self, cluster: &str, deployment_id: &str) -> impl Future<Output = PlatformResult<Vec<StoppedTask>>> + Send;
    /// Asks ECS to roll back the in-progress service deployment (StopServiceDeployment with
    /// ROLLBACK). Ok(false) when there is no in-progress service deployment to stop or the
    /// platform does not offer the call; the caller then rolls back with UpdateService.
    fn roll_back_in_progress(&self, cluster: &str, service: &str) -> impl Future<Output = PlatformResult<bool>> + Send;
    /// The health of the RUNNING tasks started by `deployment_id`, as their health checks
    /// (container and load balancer) report it. Costs a ListTasks and a DescribeTasks per
    /// hundred tasks, so it is read only for someone watching.
    fn task_health(&self, cluster: &str, deployment_id: &str) -> impl Future<Output = PlatformResult<TaskHealth>> + Send {
        let message = format!("this platform cannot read the health of {cluster}/{deployment_id}'s tasks");
        async move { Err(PlatformError::new("ecs:task_health", None, message)) }
    }
}

/// The running tasks of one deployment, by the `healthStatus` ECS reports for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskHealth {
    pub healthy: u32,
    pub unhealthy: u32,
    /// No health check, or not judged yet.
    pub unknown: u32,
}

/// The image registry, as the deploy logic needs it.
pub trait Registry: Send + Sync {
    /// The image `repository:tag`, or None if the tag is not there.
    fn resolve(&self, repository: &str, tag: &str) -> impl Future<Output = PlatformResult<Option<ImageInfo>>> + Send;

    /// The image `repository@digest`, or None if the registry does not have it.
    fn resolve_digest(&self, repository: &str, digest: &str) -> impl Future<Output = PlatformResult<Option<ImageInfo>>> + Send {
        let message = format!("this registry cannot look up {repository}@{digest} by digest");
        async move { Err(PlatformError::new("registry:resolve_digest", None, message)) }
    }

    /// Points `repository:tag` at `digest` (the manifest is copied, never a layer);
    /// doing it twice is the same as once.
    fn move_tag(&self, repository: &str, digest: &str, tag: &str) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this registry cannot move the tag {repository}:{tag} to {digest}");
        async move { Err(PlatformError::new("registry:move_tag", None, message)) }
    }

    /// Points `repository:tag` at what `repository:source` (a version tag) names; None
    /// when `source` is not there. Registries that can do it in fewer calls override this
    /// resolve-resolve-move.
    fn copy_tag(&self, repository: &str, source: &str, tag: &str) -> impl Future<Output = PlatformResult<Option<TagMove>>> + Send {
        async move {
            let Some(image) = self.resolve(repository, source).await? else { return Ok(None) };
            let previous = self.resolve(repository, tag).await?.map(|i| i.digest);
            self.move_tag(repository, &image.digest, tag).await?;
            Ok(Some(TagMove { digest: image.digest, previous }))
        }
    }
}

/// What moving a tag did: the digest it names now, and the one it named before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagMove {
    pub digest: String,
    pub previous: Option<String>,
}

/// Time, passed in so that the strategy can be driven by a fake clock in tests.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}
