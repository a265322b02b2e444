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
    /// `deploymentConfiguration.strategy`: ROLLING, BLUE_GREEN, LINEAR or CANARY (None when
    /// ECS does not report it: ROLLING).
    pub deployment_strategy: Option<String>,
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
    /// ECS-managed blue/green (`advancedConfiguration`): the group the next deployment's
    /// green tasks register in, and the listener rules whose weights ECS moves. None for a
    /// service without it.
    pub advanced: Option<AdvancedLoadBalancing>,
}

/// A load balancer's `advancedConfiguration` (ECS API reference, `AdvancedConfiguration`),
/// for the BLUE_GREEN, LINEAR and CANARY deployment strategies.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AdvancedLoadBalancing {
    pub alternate_target_group_arn: String,
    /// A listener rule ARN (or, for a Network Load Balancer, a listener ARN).
    pub production_listener_rule: String,
    pub test_listener_rule: Option<String>,
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
    /// One CreateService call (blue/green: a service per version, see [`NewService`]);
    /// returns the service as ECS answered. ECS refuses a second service of the same name
    /// unless the call repeats the same `clientToken` and parameters, so a caller looks for
    /// the service by name before it creates one.
    fn create_service(&self, service: &NewService) -> impl Future<Output = PlatformResult<ServiceInfo>> + Send {
        let message = format!("this platform cannot create the service {} in {}", service.name, service.cluster);
        async move { Err(PlatformError::new("ecs:CreateService", None, message)) }
    }
    /// DeleteService with `force` (no need to scale to 0 first): the service goes DRAINING,
    /// then INACTIVE once its tasks stopped. Ok when it is already gone or INACTIVE, so doing
    /// it twice is the same as once.
    fn delete_service(&self, cluster: &str, service: &str) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot delete the service {service} of {cluster}");
        async move { Err(PlatformError::new("ecs:DeleteService", None, message)) }
    }
    /// TagResource of a service (its ARN): adds the tags, replacing the values of keys it
    /// already has (`ferry:status=obsolete`).
    fn tag_service(&self, service_arn: &str, tags: &[(String, String)]) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot tag the service {service_arn} ({} tag(s))", tags.len());
        async move { Err(PlatformError::new("ecs:TagResource", None, message)) }
    }
    /// UntagResource of a service (its ARN): removes these keys; a key it does not have is
    /// no error.
    fn untag_service(&self, service_arn: &str, keys: &[String]) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot untag the service {service_arn} ({})", keys.join(", "));
        async move { Err(PlatformError::new("ecs:UntagResource", None, message)) }
    }
    /// ListServices of a cluster, every page: the services' ARNs (ACTIVE and DRAINING ones;
    /// ECS does not list INACTIVE services).
    fn list_services(&self, cluster: &str) -> impl Future<Output = PlatformResult<Vec<String>>> + Send {
        let message = format!("this platform cannot list the services of {cluster}");
        async move { Err(PlatformError::new("ecs:ListServices", None, message)) }
    }
    /// DescribeServices of at most 10 services (names or ARNs) with `include = ["TAGS"]`:
    /// how a family's per-version services are found by their `ferry:*` tags. Missing
    /// services are absent.
    fn describe_tagged_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> impl Future<Output = PlatformResult<Vec<TaggedService>>> + Send {
        let message = format!("this platform cannot describe {} service(s) of {cluster} with their tags", services.len());
        async move { Err(PlatformError::new("ecs:DescribeServices", None, message)) }
    }
    /// ListServiceDeployments of a service, every page, with the `status` filter given
    /// (`SUCCESSFUL`, ...; empty for all): ECS's record of each rollout, and when it finished
    /// (ECS API reference, ListServiceDeployments; botocore `ecs/2014-11-13`,
    /// `ServiceDeploymentBrief`). ECS keeps service deployments created on or after
    /// 2024-10-25, and only for services with the ECS deployment controller; an endpoint
    /// without the call answers an error, which callers read as "ECS cannot say".
    fn list_service_deployments(
        &self,
        cluster: &str,
        service: &str,
        statuses: &[&str],
    ) -> impl Future<Output = PlatformResult<Vec<ServiceDeploymentBrief>>> + Send {
        let message = format!("this platform cannot list the service deployments of {cluster}/{service} ({})", statuses.join(", "));
        async move { Err(PlatformError::new("ecs:ListServiceDeployments", None, message)) }
    }
    /// The task definition ARN a service revision runs (DescribeServiceRevisions of one ARN,
    /// `serviceRevisions[0].taskDefinition`); None when ECS does not know the revision
    /// (`failures`: MISSING).
    fn service_revision_task_definition(&self, service_revision_arn: &str) -> impl Future<Output = PlatformResult<Option<String>>> + Send {
        let message = format!("this platform cannot describe the service revision {service_revision_arn}");
        async move { Err(PlatformError::new("ecs:DescribeServiceRevisions", None, message)) }
    }
    /// One service deployment as DescribeServiceDeployments describes it; None when ECS does
    /// not know it (`failures`: MISSING).
    fn describe_service_deployment(&self, arn: &str) -> impl Future<Output = PlatformResult<Option<ServiceDeploymentInfo>>> + Send {
        let message = format!("this platform cannot describe the service deployment {arn}");
        async move { Err(PlatformError::new("ecs:DescribeServiceDeployments", None, message)) }
    }
    /// Answers a PAUSE lifecycle hook of a BLUE_GREEN, LINEAR or CANARY service deployment
    /// (ContinueServiceDeployment): `rollback` false continues, true rolls back.
    fn continue_service_deployment(&self, arn: &str, hook_id: &str, rollback: bool) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot answer lifecycle hook {hook_id} of {arn} (rollback: {rollback})");
        async move { Err(PlatformError::new("ecs:ContinueServiceDeployment", None, message)) }
    }
}

/// A service deployment as DescribeServiceDeployments describes it (`ServiceDeployment`): the
/// members ferry follows an ECS-managed blue/green, linear or canary deployment by.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ServiceDeploymentInfo {
    pub arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL …
    pub status: String,
    pub status_reason: Option<String>,
    /// `updatedAt`, epoch milliseconds: for a deployment paused at a hook, about when it
    /// paused.
    pub updated_at: Option<i64>,
    /// `lifecycleStage` (RECONCILE_SERVICE … CLEAN_UP); None for a rolling deployment.
    pub lifecycle_stage: Option<String>,
    /// The target (green) revision's share of production and test traffic, percent.
    pub production_percent: Option<f64>,
    pub test_percent: Option<f64>,
    pub hooks: Vec<LifecycleHookInfo>,
    /// The CloudWatch alarms of `deploymentConfiguration.alarms` that went off during it
    /// (`alarms.triggeredAlarmNames`).
    pub alarms_triggered: Vec<String>,
    /// The circuit breaker as it judged this deployment (`deploymentCircuitBreaker`): failed
    /// tasks counted, and the threshold they were counted against. None when it is disabled.
    pub breaker: Option<BreakerCount>,
}

/// A service deployment's circuit breaker count (ECS API reference,
/// `ServiceDeploymentCircuitBreaker`, and the deployment configuration's
/// `thresholdConfiguration`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BreakerCount {
    pub failure_count: i32,
    pub threshold: i32,
    /// `TRIGGERED`, `MONITORING`, `MONITORING_COMPLETE`.
    pub status: String,
    /// `thresholdConfiguration` as configured (`BOUNDED_PERCENT 50`); None when ECS's
    /// default applies.
    pub configuration: Option<String>,
    /// `resetOnHealthyTask` as configured.
    pub reset_on_healthy_task: Option<bool>,
}

/// One `lifecycleHookDetails` entry.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LifecycleHookInfo {
    pub hook_id: String,
    /// PAUSE or AWS_LAMBDA.
    pub target_type: String,
    /// AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED or TIMED_OUT.
    pub status: String,
    /// When ECS takes the timeout action, epoch milliseconds.
    pub expires_at: Option<i64>,
    pub timeout_action: Option<String>,
}

/// One rollout of a service as ListServiceDeployments briefs it (`ServiceDeploymentBrief`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentBrief {
    /// `arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID`.
    pub arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED, ROLLBACK_REQUESTED,
    /// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED.
    pub status: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// When it ended (epoch milliseconds); None while it runs.
    pub finished_at: Option<i64>,
    /// The service revision it rolled out (`targetServiceRevisionArn`).
    pub target_service_revision: Option<String>,
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
    /// CreateTargetGroup `name` with the settings of the existing group `like` (protocol,
    /// port, VPC, target type, IP address type and every health check setting: protocol,
    /// port, path, matcher, interval, timeout, thresholds), tagged. ELBv2 answers the existing
    /// group when one of that name has the same settings, so doing it twice is the same as
    /// once; a group of that name with other settings is `DuplicateTargetGroupName`.
    fn create_target_group(
        &self,
        name: &str,
        like: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = PlatformResult<TargetGroupInfo>> + Send {
        let message = format!("this platform cannot create the target group {name} (like {})", target_group_name(like));
        let _ = tags;
        async move { Err(PlatformError::new("elasticloadbalancing:CreateTargetGroup", None, message)) }
    }
    /// DeleteTargetGroup. Ok when it is already gone; ELBv2 refuses (`ResourceInUse`) while
    /// a listener or rule still forwards to it.
    fn delete_target_group(&self, arn: &str) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot delete the target group {}", target_group_name(arn));
        async move { Err(PlatformError::new("elasticloadbalancing:DeleteTargetGroup", None, message)) }
    }
    /// DescribeTargetGroups by name (at most 20); the names that do not exist are absent.
    fn target_groups_named(&self, names: &[String]) -> impl Future<Output = PlatformResult<Vec<TargetGroupInfo>>> + Send {
        let message = format!("this platform cannot look up {} target group(s) by name", names.len());
        async move { Err(PlatformError::new("elasticloadbalancing:DescribeTargetGroups", None, message)) }
    }
    /// DescribeTargetGroups, every page: every target group of the account and region
    /// (what `ferry gc` reads, with [`Elb::describe_tags`], to find the groups ferry created).
    fn list_target_groups(&self) -> impl Future<Output = PlatformResult<Vec<TargetGroupInfo>>> + Send {
        async move { Err(PlatformError::new("elasticloadbalancing:DescribeTargetGroups", None, "this platform cannot list target groups")) }
    }
    /// The actions of a listener rule (DescribeRules `RuleArns`) or of a listener (its default
    /// actions, DescribeListeners), by ARN ([`RouteKind::of`]); None when it does not exist.
    fn describe_route(&self, arn: &str) -> impl Future<Output = PlatformResult<Option<Route>>> + Send {
        let message = format!("this platform cannot describe the rule or listener {arn}");
        async move { Err(PlatformError::new("elasticloadbalancing:DescribeRules", None, message)) }
    }
    /// Sets the forward action of a listener rule (ModifyRule) or a listener's default
    /// actions (ModifyListener) to these target groups and weights (`ForwardConfig`, each
    /// weight 0 to 999); the route's other actions (authentication before the forward) and
    /// its stickiness settings are kept. Returns the route as ELBv2 answered.
    fn set_forward(&self, arn: &str, target_groups: &[(String, i32)]) -> impl Future<Output = PlatformResult<Route>> + Send {
        let message = format!("this platform cannot change the forward of {arn} ({} target group(s))", target_groups.len());
        async move { Err(PlatformError::new("elasticloadbalancing:ModifyRule", None, message)) }
    }
    /// DescribeTags of at most 20 ELBv2 resources (target groups, rules, listeners), each with
    /// its tags; a resource that does not exist is absent.
    fn describe_tags(&self, arns: &[String]) -> impl Future<Output = PlatformResult<Vec<ResourceTags>>> + Send {
        let message = format!("this platform cannot describe the tags of {} resource(s)", arns.len());
        async move { Err(PlatformError::new("elasticloadbalancing:DescribeTags", None, message)) }
    }
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
    /// DescribeScalingPolicies of one ECS service's `ecs:service:DesiredCount`, every page.
    fn describe_scaling_policies(&self, resource_id: &str) -> impl Future<Output = PlatformResult<Vec<ScalingPolicy>>> + Send {
        let message = format!("this platform cannot describe the scaling policies of {resource_id}");
        async move { Err(PlatformError::new("application-autoscaling:DescribeScalingPolicies", None, message)) }
    }
    /// DeregisterScalableTarget: the target and its policies (and the alarms of its target
    /// tracking policies) are deleted, so auto scaling no longer puts a desired count back.
    /// Ok when there is none, so doing it twice is the same as once.
    fn deregister_scalable_target(&self, resource_id: &str) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot deregister the scalable target {resource_id}");
        async move { Err(PlatformError::new("application-autoscaling:DeregisterScalableTarget", None, message)) }
    }
    /// PutScalingPolicy of a policy as [`ScalingPolicy`] holds it (creates it, or updates the
    /// policy of that name), on a scalable target that exists.
    fn put_scaling_policy(&self, resource_id: &str, policy: &ScalingPolicy) -> impl Future<Output = PlatformResult<()>> + Send {
        let message = format!("this platform cannot put the scaling policy {} on {resource_id}", policy.name);
        async move { Err(PlatformError::new("application-autoscaling:PutScalingPolicy", None, message)) }
    }
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

// Blue/green, canary and linear deploys (issue 14): what they need beyond a rolling deploy
// — a service and a target group per version, the weights of a listener rule's forward, the
// auto scaling of a service to move from the old version to the new one.

/// A new ECS service, as CreateService takes it (ECS API reference, CreateService): a
/// version's service under blue/green, made from the live service's settings with another
/// name, task definition and target groups ([`NewService::like`]).
///
/// What the live service sets and this does not carry (placement constraints and
/// strategies, service registries, Service Connect, volume configurations,
/// `propagateTags`, `enableECSManagedTags`, `enableExecuteCommand`) is left to ECS's
/// defaults.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NewService {
    pub cluster: String,
    /// `serviceName`: up to 255 letters, digits, hyphens and underscores
    /// ([`crate::naming::version_service_name`]).
    pub name: String,
    /// The revision's ARN.
    pub task_definition: String,
    pub desired_count: i32,
    /// `loadBalancers`: the target groups ECS registers the tasks with.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// `launchType` or `capacityProviderStrategy`, `platformVersion`, `networkConfiguration`.
    pub launch: TaskLaunch,
    /// `deploymentConfiguration.minimumHealthyPercent` and `maximumPercent`.
    pub minimum_healthy_percent: Option<i32>,
    pub maximum_percent: Option<i32>,
    /// `deploymentConfiguration.deploymentCircuitBreaker` with `enable` and `rollback`.
    pub circuit_breaker_rollback: bool,
    /// `healthCheckGracePeriodSeconds` (only with load balancers).
    pub health_check_grace_period_seconds: Option<i32>,
    /// The service's tags (`ferry:deployment`, `ferry:version`, `ferry:env`, `ferry:status`).
    pub tags: Vec<(String, String)>,
    /// `clientToken` (at most 36 ASCII characters): the same call with the same token makes
    /// no second service.
    pub client_token: Option<String>,
}

impl NewService {
    /// A service like `live` (its launch, network and deployment settings, health check
    /// grace period and load balancers' containers and ports), named `name`, running
    /// `task_definition`, with `desired_count` tasks, each of the live service's target
    /// groups replaced as `target_groups` maps them (live ARN → new ARN; a group not in the
    /// map is left out), and `tags`.
    pub fn like(
        live: &ServiceInfo,
        cluster: &str,
        name: &str,
        task_definition: &str,
        desired_count: i32,
        target_groups: &[(String, String)],
        tags: Vec<(String, String)>,
    ) -> NewService {
        let load_balancers = live
            .load_balancers
            .iter()
            .filter_map(|lb| {
                let live_group = lb.target_group_arn.as_deref()?;
                let (_, new) = target_groups.iter().find(|(from, _)| from == live_group)?;
                Some(ServiceLoadBalancer { target_group_arn: Some(new.clone()), advanced: None, ..lb.clone() })
            })
            .collect::<Vec<_>>();
        NewService {
            cluster: cluster.to_string(),
            name: name.to_string(),
            task_definition: task_definition.to_string(),
            desired_count,
            health_check_grace_period_seconds: live.health_check_grace_period_seconds.filter(|_| !load_balancers.is_empty()),
            load_balancers,
            launch: live.launch.clone(),
            minimum_healthy_percent: live.minimum_healthy_percent,
            maximum_percent: live.maximum_percent,
            circuit_breaker_rollback: live.circuit_breaker_rollback,
            tags,
            client_token: None,
        }
    }
}

/// A service as DescribeServices with `include = ["TAGS"]` answers it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaggedService {
    pub service: ServiceInfo,
    /// `createdAt`, epoch milliseconds: which of a family's versions is newer.
    pub created_at: i64,
    pub tags: Vec<(String, String)>,
}

impl TaggedService {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// An ELBv2 resource's tags (DescribeTags' `TagDescriptions`).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceTags {
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

/// Whether an ELBv2 ARN names a listener rule or a listener: what blue/green moves traffic
/// with (`preparing_rule`, `production_rule` in ferry.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteKind {
    /// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/LB/ID/LISTENER/RULE`:
    /// its `Actions` (DescribeRules, ModifyRule).
    Rule,
    /// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/LB/ID/LISTENER`: its
    /// `DefaultActions` (DescribeListeners, ModifyListener).
    Listener,
}

impl RouteKind {
    /// The kind of an ARN, or None when it is neither a listener rule's nor a listener's.
    pub fn of(arn: &str) -> Option<RouteKind> {
        // arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:RESOURCE
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, partition, service, _, _, resource] = parts.as_slice() else { return None };
        if !partition.starts_with("aws") || *service != "elasticloadbalancing" {
            return None;
        }
        if resource.starts_with("listener-rule/") {
            Some(RouteKind::Rule)
        } else if resource.starts_with("listener/") {
            Some(RouteKind::Listener)
        } else {
            None
        }
    }
}

/// A listener rule's actions, or a listener's default actions: where blue/green reads and
/// sets the weights of its target groups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Route {
    pub arn: String,
    pub actions: Vec<crate::probe::ActionInfo>,
}

impl Route {
    /// The forward action that answers (the last by `Order`), when the route forwards.
    pub fn forward(&self) -> Option<&crate::probe::ActionInfo> {
        self.actions.iter().max_by_key(|a| a.order.unwrap_or(i32::MAX)).filter(|a| a.kind == "forward")
    }
    /// The forward's target groups and weights (ELBv2's 0 to 999); empty when the route does
    /// not forward.
    pub fn weights(&self) -> &[(String, i32)] {
        self.forward().map(|a| a.target_groups.as_slice()).unwrap_or_default()
    }
}

/// A scaling policy of a service's desired count, as DescribeScalingPolicies answers it and
/// PutScalingPolicy takes it back (Application Auto Scaling API reference).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicy {
    /// `PolicyName`.
    pub name: String,
    /// `PolicyType`: `TargetTrackingScaling` or `StepScaling` (`PredictiveScaling` is read
    /// but cannot be put back by ferry's adapter).
    pub policy_type: String,
    /// `TargetTrackingScalingPolicyConfiguration` or `StepScalingPolicyConfiguration`, as the
    /// API's JSON names its members (`TargetValue`, `PredefinedMetricSpecification`,
    /// `StepAdjustments`, ...).
    pub configuration: Value,
}

/// A service's auto scaling: its scalable target's limits and its policies — what retiring
/// a version remembers (journaled) so that the new version gets them and a rollback puts
/// them back.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingSettings {
    pub min_capacity: i32,
    pub max_capacity: i32,
    pub policies: Vec<ScalingPolicy>,
}
