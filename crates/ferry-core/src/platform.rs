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
    /// The load balancers the service's tasks are registered with (`loadBalancers`).
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// `healthCheckGracePeriodSeconds`: how long after a task starts ECS ignores its load
    /// balancer health checks. None when not set (ECS then uses 0).
    pub health_check_grace_period_seconds: Option<i32>,
    /// Where and how the service's tasks are placed: what a one-off task of the service
    /// (`ferry run`, a deploy hook) is started with.
    pub launch: TaskLaunch,
}

/// How a service's tasks are launched (DescribeServices' members of the same names, as
/// native ECS JSON): what RunTask takes to start a task the way the service does.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskLaunch {
    /// `EC2`, `FARGATE` or `EXTERNAL`; None with a capacity provider strategy.
    pub launch_type: Option<String>,
    /// `[{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]`; empty when none.
    pub capacity_provider_strategy: Vec<Value>,
    /// Fargate's `platformVersion` (`LATEST`, `1.4.0`).
    pub platform_version: Option<String>,
    /// `{"awsvpcConfiguration": {"subnets": [...], "securityGroups": [...], "assignPublicIp": "DISABLED"}}`.
    pub network_configuration: Option<Value>,
}

/// A one-off task to start with ECS RunTask: a revision, run the way a service runs its
/// tasks, with one container's command replaced (`overrides.containerOverrides`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OneOffTask {
    pub cluster: String,
    /// The task definition ARN (`family:revision` is accepted too).
    pub task_definition: String,
    /// The container whose `command` is replaced; None runs every container as defined.
    pub container: Option<String>,
    /// The new command; empty keeps the definition's.
    pub command: Vec<String>,
    /// How many tasks (RunTask's `count`, 1 to 10).
    pub count: i32,
    /// RunTask's `startedBy` (at most 36 letters, digits, `-`, `_`, `/`): what finds the
    /// task again after a crash.
    pub started_by: String,
    pub launch: TaskLaunch,
    /// Tags of the task (`ferry:deployment`, ...).
    pub tags: Vec<(String, String)>,
}

/// A task as DescribeTasks reports it: where it is in its lifecycle and how it ended.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    pub arn: String,
    pub task_definition: String,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING,
    /// STOPPED.
    pub last_status: String,
    pub started_by: Option<String>,
    /// `EssentialContainerExited`, `TaskFailedToStart`, `UserInitiated`, ...
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    /// Per container: name, exit code (None until it exits, or when it never ran), reason.
    pub containers: Vec<StoppedContainer>,
    /// Epoch milliseconds; None until the task started or stopped.
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
}

impl TaskState {
    pub fn is_stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }
    /// The exit code of `container` once it exited.
    pub fn exit_code(&self, container: &str) -> Option<i32> {
        self.containers.iter().find(|c| c.name == container).and_then(|c| c.exit_code)
    }
}

/// One entry of a service's `loadBalancers`: where ECS registers each task, and which of
/// its containers and ports it registers.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLoadBalancer {
    /// The ELBv2 target group; None for a Classic Load Balancer (`loadBalancerName`),
    /// whose health ferry does not read.
    pub target_group_arn: Option<String>,
    pub container_name: String,
    pub container_port: i32,
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

/// A RUNNING task of a deployment, with what a load balancer knows it by.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunningTask {
    pub arn: String,
    /// When it started (epoch ms, ECS's `startedAt`); None until it has.
    pub started_at: Option<i64>,
    /// The ids a target of this task is registered under: its network interface's private
    /// IPv4 address (awsvpc, `ip` target groups) and its container instance's EC2 instance
    /// id (`instance` target groups). Empty when neither is known; a target is then told by
    /// its port alone.
    pub target_ids: Vec<String>,
    /// Its containers' port bindings (`networkBindings`).
    pub ports: Vec<PortBinding>,
}

impl RunningTask {
    /// The port a target group reaches `container`'s `container_port` at: the host port
    /// ECS bound it to (bridge networking, and ferry local, where every task has its own
    /// port on 127.0.0.1), else the container port itself (awsvpc: the task has its own
    /// address and ECS reports no binding).
    pub fn target_port(&self, container: &str, container_port: i32) -> i32 {
        self.ports
            .iter()
            .find(|p| p.container == container && p.container_port == container_port)
            .and_then(|p| p.host_port)
            .unwrap_or(container_port)
    }
}

/// A container port and the host port it is bound to.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortBinding {
    pub container: String,
    pub container_port: i32,
    pub host_port: Option<i32>,
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
    /// The RUNNING tasks started by `deployment_id`, with where a load balancer reaches
    /// them: what ties a target in a target group to a task of the deployment. Costs a
    /// ListTasks and a DescribeTasks per hundred tasks (and, for tasks on EC2 container
    /// instances, a DescribeContainerInstances for instances not seen before).
    fn running_tasks(&self, cluster: &str, deployment_id: &str) -> impl Future<Output = PlatformResult<Vec<RunningTask>>> + Send {
        let message = format!("this platform cannot list {cluster}/{deployment_id}'s running tasks");
        async move { Err(PlatformError::new("ecs:running_tasks", None, message)) }
    }
    /// One UpdateService call that sets only the service's desired count (`ferry scale`);
    /// returns the service as ECS answered.
    fn set_desired_count(&self, cluster: &str, service: &str, desired: i32) -> impl Future<Output = PlatformResult<ServiceInfo>> + Send {
        let message = format!("this platform cannot set the desired count of {cluster}/{service} to {desired}");
        async move { Err(PlatformError::new("ecs:UpdateService", None, message)) }
    }
    /// One RunTask call; returns the ARNs of the tasks started. A task ECS could not place
    /// (RunTask's `failures`: `RESOURCE:MEMORY`, `MISSING`, ...) is an error naming the
    /// reason, and then none was started.
    fn run_task(&self, task: &OneOffTask) -> impl Future<Output = PlatformResult<Vec<String>>> + Send {
        let message = format!("this platform cannot run a task of {}", task.task_definition);
        async move { Err(PlatformError::new("ecs:RunTask", None, message)) }
    }
    /// DescribeTasks of at most 100 tasks; a task ECS no longer knows is absent.
    fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> impl Future<Output = PlatformResult<Vec<TaskState>>> + Send {
        let message = format!("this platform cannot describe {} task(s) of {cluster}", tasks.len());
        async move { Err(PlatformError::new("ecs:DescribeTasks", None, message)) }
    }
    /// The tasks `started_by` started (ListTasks by `startedBy`, RUNNING and STOPPED that ECS
    /// still shows, about an hour), described: how a crashed run finds the one-off task it
    /// had started.
    fn tasks_started_by(&self, cluster: &str, started_by: &str) -> impl Future<Output = PlatformResult<Vec<TaskState>>> + Send {
        let message = format!("this platform cannot list the tasks {started_by} started in {cluster}");
        async move { Err(PlatformError::new("ecs:ListTasks", None, message)) }
    }
    /// One StopTask call, with the reason ECS shows (`stoppedReason`, at most 255 characters).
    fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot stop {task} in {cluster} ({reason})");
        async move { Err(PlatformError::new("ecs:StopTask", None, message)) }
    }
}

/// One log event (CloudWatch Logs' `FilteredLogEvent`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    /// When it was printed, epoch milliseconds.
    pub timestamp: i64,
    pub stream: String,
    pub message: String,
    /// CloudWatch's id of the event: what tells an event read twice (FilterLogEvents pages
    /// overlap when polled from the last timestamp).
    pub id: String,
}

/// Which streams of a log group to read.
#[derive(Clone, Debug, PartialEq)]
pub enum LogStreams {
    /// Every stream of the group.
    All,
    /// The streams whose names start with this (`web/app/` for every task of a container).
    Prefix(String),
    /// These streams (at most 100).
    Names(Vec<String>),
}

/// A page of log events, oldest first, and the token of the next page when there is one.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

/// CloudWatch Logs, as ferry needs it: where the awslogs driver writes, and what it wrote.
pub trait Logs: Send + Sync {
    /// Whether the log group exists (DescribeLogGroups by name prefix, exact name kept).
    fn log_group_exists(&self, group: &str) -> impl Future<Output = PlatformResult<bool>> + Send;
    /// One FilterLogEvents page of `group`: events at or after `start_ms` (epoch ms) in the
    /// streams asked, oldest first. `token` continues a previous page.
    fn filter_log_events(
        &self,
        group: &str,
        streams: &LogStreams,
        start_ms: Option<i64>,
        token: Option<&str>,
    ) -> impl Future<Output = PlatformResult<LogPage>> + Send;
}

/// Where tasks' `secrets` come from: SSM Parameter Store and Secrets Manager, as preflight
/// checks them (that they exist, never their values).
pub trait Secrets: Send + Sync {
    /// Whether the SSM parameter exists (a name, `/path/name`, or its ARN), read with
    /// DescribeParameters so that no value is decrypted.
    fn parameter_exists(&self, name: &str) -> impl Future<Output = PlatformResult<bool>> + Send;
    /// Whether the Secrets Manager secret exists and is not scheduled for deletion (a name
    /// or an ARN, complete or partial), read with DescribeSecret.
    fn secret_exists(&self, secret_id: &str) -> impl Future<Output = PlatformResult<bool>> + Send;
}

/// A target group, as preflight checks it.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupInfo {
    pub arn: String,
    pub name: String,
    /// `instance`, `ip`, `lambda` or `alb`.
    pub target_type: String,
}

/// One target of a target group and its health (`TargetHealthDescription`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealthInfo {
    /// An IP address (`ip` target groups) or an EC2 instance id (`instance`).
    pub id: String,
    pub port: Option<i32>,
    /// `initial`, `healthy`, `unhealthy`, `unhealthy.draining`, `draining`, `unused` or
    /// `unavailable`.
    pub state: String,
    /// `Target.ResponseCodeMismatch`, `Target.Timeout`, `Elb.RegistrationInProgress`, ...
    pub reason: Option<String>,
    /// AWS's words for the reason (`Health checks failed with these codes: [500]`).
    pub description: Option<String>,
}

/// Elastic Load Balancing (v2), as the deploy logic needs it: what ECS registers a
/// service's tasks in, and how healthy they are there.
pub trait Elb: Send + Sync {
    /// One DescribeTargetGroups of one target group; None when it does not exist.
    fn describe_target_group(&self, arn: &str) -> impl Future<Output = PlatformResult<Option<TargetGroupInfo>>> + Send;
    /// DescribeTargetHealth: every target registered in the group, with its health.
    fn describe_target_health(&self, arn: &str) -> impl Future<Output = PlatformResult<Vec<TargetHealthInfo>>> + Send;
}

/// The name in a target group's ARN (`arn:aws:elasticloadbalancing:eu-west-1:123456789012:
/// targetgroup/web-tg/0123456789abcdef` → `web-tg`), or the ARN when it is not one.
pub fn target_group_name(arn: &str) -> &str {
    arn.split_once(":targetgroup/").and_then(|(_, rest)| rest.split('/').next()).filter(|n| !n.is_empty()).unwrap_or(arn)
}

/// The running tasks of one deployment, by the `healthStatus` ECS reports for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskHealth {
    pub healthy: u32,
    pub unhealthy: u32,
    /// No health check, or not judged yet.
    pub unknown: u32,
}

/// An Application Auto Scaling scalable target of a service's desired count (namespace
/// `ecs`, scalable dimension `ecs:service:DesiredCount`).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScalableTarget {
    /// `service/CLUSTER/SERVICE`.
    pub resource_id: String,
    pub min_capacity: i32,
    pub max_capacity: i32,
}

impl ScalableTarget {
    /// The resource id of an ECS service's scalable target: `service/CLUSTER/SERVICE`.
    pub fn resource_id(cluster: &str, service: &str) -> String {
        format!("service/{cluster}/{service}")
    }
    /// Whether a desired count of `count` is within [MinCapacity, MaxCapacity].
    pub fn allows(&self, count: i32) -> bool {
        (self.min_capacity..=self.max_capacity).contains(&count)
    }
    /// The limits widened just enough to include `count`.
    pub fn widened_to(&self, count: i32) -> ScalableTarget {
        ScalableTarget {
            resource_id: self.resource_id.clone(),
            min_capacity: self.min_capacity.min(count),
            max_capacity: self.max_capacity.max(count),
        }
    }
}

/// Application Auto Scaling, as `ferry scale` needs it: the limits of a service's desired
/// count.
pub trait AutoScaling: Send + Sync {
    /// DescribeScalableTargets of one ECS service's `ecs:service:DesiredCount`; None when the
    /// service has no scalable target.
    fn describe_scalable_target(&self, resource_id: &str) -> impl Future<Output = PlatformResult<Option<ScalableTarget>>> + Send;
    /// RegisterScalableTarget with new MinCapacity and MaxCapacity (an existing target is
    /// updated; its policies stay).
    fn register_scalable_target(&self, target: &ScalableTarget) -> impl Future<Output = PlatformResult<()>> + Send;
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

    /// Whether the image a container definition names outside ECR
    /// (`HOST[:PORT][/PREFIX]/REPOSITORY[:TAG|@DIGEST]`) exists, when this registry reaches
    /// its host (a `[registries]` entry of ferry.toml): Some(Ok(found)); None when it does not
    /// (the image cannot be checked here). A missing repository is Some(Ok(false)).
    fn image_exists(&self, image: &str) -> impl Future<Output = Option<PlatformResult<bool>>> + Send {
        let _ = image;
        std::future::ready(None)
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
