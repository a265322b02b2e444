//! The ports of `ferry-core` implemented over the AWS SDK: [`AwsEcs`] for ECS, [`AwsElb`]
//! for Elastic Load Balancing v2 and [`EcrRegistry`] for ECR. Every list is paginated; throttling is absorbed by the SDK's
//! retries configured in [`crate::sdk_config`] and ferry's own pacing ([`crate::pacer`]).
//! Built from [`crate::Clients`] (`with_reach`), their errors name the endpoint, the cause
//! and the fix when a call cannot reach it ([`crate::reach`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, DesiredStatus, HealthStatus, ServiceDeploymentStatus, StopServiceDeploymentStopType, TaskDefinitionField,
};
use ferry_core::platform::{
    AdvancedLoadBalancing, BreakerCount, ClusterInfo, DeploymentInfo, Ecs, Elb, ImageInfo, LifecycleHookInfo, OneOffTask, PlatformError,
    PlatformResult, PortBinding, Registry, RunningTask, ServiceDeploymentBrief, ServiceDeploymentInfo, ServiceEvent, ServiceInfo,
    ServiceLoadBalancer, StoppedContainer, StoppedTask, TagMove, TargetGroupInfo, TargetHealthInfo, TaskDefinitionInfo, TaskHealth,
    TaskLaunch, TaskState,
};
use ferry_core::probe::{ActionInfo, ConditionInfo, ListenerInfo, LoadBalancerInfo, NoProbe, ProbeTarget, RuleInfo};
use serde_json::{Value, json};

use crate::pacer::Pacer;
use crate::reach::{AsResponse, Reach};
use crate::{ecr, ecs, elbv2, taskdef};

pub use crate::reach::platform_error;

/// The clients' reach, when known: errors name the endpoint, the cause and the fix. Each
/// adapter holds one and turns every SDK error into a [`PlatformError`] through it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Explainer(Option<Arc<Reach>>);

impl Explainer {
    pub(crate) fn new(reach: Arc<Reach>) -> Self {
        Explainer(Some(reach))
    }

    pub(crate) fn error<E, R>(&self, operation: &str, error: SdkError<E, R>) -> PlatformError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + AsResponse,
    {
        match &self.0 {
            Some(reach) => reach.error(operation, error),
            None => platform_error(operation, error),
        }
    }
}

fn millis(time: Option<&aws_sdk_ecs::primitives::DateTime>) -> i64 {
    time.and_then(|t| t.to_millis().ok()).unwrap_or(0)
}

/// ECS through the SDK, paced below ECS's request buckets, with task definitions cached
/// (a revision never changes once registered).
#[derive(Clone, Debug)]
pub struct AwsEcs {
    pub client: ecs::Client,
    /// Describe and List calls: below ECS's read bucket (burst 50, 20 per second).
    pub(crate) reads: Arc<Pacer>,
    /// Each write action has a bucket of its own at ECS: RegisterTaskDefinition,
    /// UpdateService, StopServiceDeployment.
    registers: Arc<Pacer>,
    pub(crate) updates: Arc<Pacer>,
    stops: Arc<Pacer>,
    /// RunTask (its own bucket at ECS).
    runs: Arc<Pacer>,
    revisions: Arc<Mutex<HashMap<String, TaskDefinitionInfo>>>,
    /// Container instance ARN → its EC2 instance id (what `instance` target groups name a
    /// task's host by); a container instance keeps its instance for good.
    instances: Arc<Mutex<HashMap<String, String>>>,
    /// The other write actions blue/green makes (CreateService, DeleteService, TagResource,
    /// UntagResource), each rare: one shared bucket of the same size.
    pub(crate) changes: Arc<Pacer>,
    pub(crate) reach: Explainer,
}

impl AwsEcs {
    /// The tasks `deployment_id` started, RUNNING or STOPPED as asked: every ListTasks page,
    /// then DescribeTasks a hundred at a time. Each page and each describe is a call of its
    /// own, so each is paced.
    async fn deployment_tasks(&self, cluster: &str, deployment_id: &str, status: DesiredStatus) -> PlatformResult<Vec<ecs::types::Task>> {
        let mut arns = Vec::new();
        let mut pages = self.client.list_tasks().cluster(cluster).started_by(deployment_id).desired_status(status).into_paginator().send();
        loop {
            self.reads.take().await;
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|e| self.reach.error("ecs:ListTasks", e))?;
            arns.extend(page.task_arns().iter().cloned());
        }
        let mut tasks = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(100) {
            self.reads.take().await;
            let out = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.reach.error("ecs:DescribeTasks", e))?;
            tasks.extend(out.tasks().iter().cloned());
        }
        Ok(tasks)
    }

    pub fn new(client: ecs::Client) -> Self {
        AwsEcs {
            client,
            // Just under the buckets AWS documents by example (reads 50 burst, 20 per
            // second) and ferry local models for writes (20 burst, 5 per second each).
            reads: Arc::new(Pacer::new(45, 18)),
            registers: Arc::new(Pacer::new(18, 5)),
            updates: Arc::new(Pacer::new(18, 5)),
            stops: Arc::new(Pacer::new(18, 5)),
            runs: Arc::new(Pacer::new(18, 5)),
            revisions: Arc::default(),
            instances: Arc::default(),
            changes: Arc::new(Pacer::new(18, 5)),
            reach: Explainer::default(),
        }
    }

    /// The EC2 instance ids of container instances, from the cache or one
    /// DescribeContainerInstances per hundred not seen before.
    async fn ec2_instance_ids(&self, cluster: &str, arns: &[&str]) -> PlatformResult<HashMap<String, String>> {
        let cached = |arn: &str| self.instances.lock().ok().and_then(|known| known.get(arn).cloned());
        let mut unknown: Vec<String> = arns.iter().filter(|a| cached(a).is_none()).map(|a| a.to_string()).collect();
        unknown.sort();
        unknown.dedup();
        for chunk in unknown.chunks(100) {
            self.reads.take().await;
            let out = self
                .client
                .describe_container_instances()
                .cluster(cluster)
                .set_container_instances(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.reach.error("ecs:DescribeContainerInstances", e))?;
            if let Ok(mut known) = self.instances.lock() {
                for instance in out.container_instances() {
                    if let (Some(arn), Some(id)) = (instance.container_instance_arn(), instance.ec2_instance_id()) {
                        known.insert(arn.to_string(), id.to_string());
                    }
                }
            }
        }
        Ok(arns.iter().filter_map(|a| cached(a).map(|id| (a.to_string(), id))).collect())
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Explainer(Some(reach));
        self
    }

    /// The newest `limit` ACTIVE revisions of a family, described with their tags, newest
    /// first: where `ferry rollback` finds a version when the ledger does not know it.
    pub async fn recent_revisions(&self, family: &str, limit: usize) -> PlatformResult<Vec<TaskDefinitionInfo>> {
        let arns = self.family_revisions(family, ecs::types::SortOrder::Desc, Some(limit)).await?;
        let mut revisions = Vec::new();
        for arn in arns.into_iter().take(limit) {
            revisions.push(self.describe_task_definition(&arn).await?);
        }
        Ok(revisions)
    }
}

impl AwsEcs {
    /// Sends one UpdateService (paced under ECS's write bucket) and answers the service as it
    /// now is: what a deploy's update and `ferry scale` share.
    async fn send_update(
        &self,
        update: ecs::operation::update_service::builders::UpdateServiceFluentBuilder,
    ) -> PlatformResult<ServiceInfo> {
        self.updates.take().await;
        let out = update.send().await.map_err(|e| self.reach.error("ecs:UpdateService", e))?;
        out.service().map(service_info).ok_or_else(|| PlatformError::new("ecs:UpdateService", None, "the answer holds no service"))
    }

    /// Every ACTIVE revision of exactly `family` (ListTaskDefinitions by family prefix, all
    /// pages, other families that start alike left out), oldest first: what `ferry gc` judges.
    pub async fn active_revisions(&self, family: &str) -> PlatformResult<Vec<String>> {
        self.family_revisions(family, ecs::types::SortOrder::Asc, None).await
    }

    /// The ARNs of the ACTIVE revisions of exactly `family` in `order` (ListTaskDefinitions
    /// by family prefix, page after page, each page paced like any read), stopping once
    /// `limit` are found. `familyPrefix` also matches families that start alike (`web`
    /// matches `web-worker`): those are left out.
    async fn family_revisions(&self, family: &str, order: ecs::types::SortOrder, limit: Option<usize>) -> PlatformResult<Vec<String>> {
        let mut arns = Vec::new();
        let mut pages = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .status(ecs::types::TaskDefinitionStatus::Active)
            .sort(order)
            .into_paginator()
            .send();
        loop {
            self.reads.take().await;
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|e| self.reach.error("ecs:ListTaskDefinitions", e))?;
            arns.extend(
                page.task_definition_arns()
                    .iter()
                    .filter(|a| a.rsplit('/').next().and_then(|r| r.rsplit_once(':')).is_some_and(|(f, _)| f == family))
                    .cloned(),
            );
            if limit.is_some_and(|limit| arns.len() >= limit) {
                break;
            }
        }
        Ok(arns)
    }

    /// The task definitions of the cluster's tasks that are RUNNING or about to be (desired
    /// status RUNNING, PENDING included), each with a task id using it: every ListTasks
    /// page, then DescribeTasks a hundred at a time.
    pub async fn task_definitions_in_use(&self, cluster: &str) -> PlatformResult<Vec<(String, String)>> {
        let mut arns = Vec::new();
        let mut pages = self.client.list_tasks().cluster(cluster).desired_status(DesiredStatus::Running).into_paginator().send();
        loop {
            self.reads.take().await;
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|e| self.reach.error("ecs:ListTasks", e))?;
            arns.extend(page.task_arns().iter().cloned());
        }
        let mut used = Vec::new();
        for chunk in arns.chunks(100) {
            self.reads.take().await;
            let out = self
                .client
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.reach.error("ecs:DescribeTasks", e))?;
            for task in out.tasks() {
                if let (Some(td), Some(arn)) = (task.task_definition_arn(), task.task_arn()) {
                    used.push((td.to_string(), arn.rsplit('/').next().unwrap_or(arn).to_string()));
                }
            }
        }
        Ok(used)
    }

    /// DeregisterTaskDefinition: the revision becomes INACTIVE (tasks and services using it
    /// carry on; no new ones can start from it). Doing it twice is the same as once.
    pub async fn deregister_task_definition(&self, task_definition: &str) -> PlatformResult<()> {
        self.registers.take().await;
        self.client
            .deregister_task_definition()
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DeregisterTaskDefinition", e))?;
        if let Ok(mut revisions) = self.revisions.lock() {
            revisions.retain(|arn, _| !arn.ends_with(&format!("/{}", task_definition.rsplit('/').next().unwrap_or(task_definition))));
        }
        Ok(())
    }
}

/// A service as ferry-core sees it.
pub fn service_info(service: &ecs::types::Service) -> ServiceInfo {
    let deployments = service
        .deployments()
        .iter()
        .map(|d| DeploymentInfo {
            id: d.id().unwrap_or_default().to_string(),
            status: d.status().unwrap_or_default().to_string(),
            task_definition: d.task_definition().unwrap_or_default().to_string(),
            desired: d.desired_count(),
            running: d.running_count(),
            pending: d.pending_count(),
            failed_tasks: d.failed_tasks(),
            rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
            rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            created_at: millis(d.created_at()),
            updated_at: millis(d.updated_at()),
        })
        .collect();
    let events = service
        .events()
        .iter()
        .map(|e| ServiceEvent {
            id: e.id().unwrap_or_default().to_string(),
            created_at: millis(e.created_at()),
            message: e.message().unwrap_or_default().to_string(),
        })
        .collect();
    ServiceInfo {
        arn: service.service_arn().unwrap_or_default().to_string(),
        name: service.service_name().unwrap_or_default().to_string(),
        status: service.status().unwrap_or_default().to_string(),
        task_definition: service.task_definition().unwrap_or_default().to_string(),
        desired: service.desired_count(),
        running: service.running_count(),
        pending: service.pending_count(),
        deployment_controller: service
            .deployment_controller()
            .map(|c| c.r#type().as_str().to_string())
            .unwrap_or_else(|| "ECS".to_string()),
        circuit_breaker_rollback: service
            .deployment_configuration()
            .and_then(|c| c.deployment_circuit_breaker())
            .is_some_and(|b| b.enable() && b.rollback()),
        deployment_strategy: service.deployment_configuration().and_then(|c| c.strategy()).map(|s| s.as_str().to_string()),
        minimum_healthy_percent: service.deployment_configuration().and_then(|c| c.minimum_healthy_percent()),
        maximum_percent: service.deployment_configuration().and_then(|c| c.maximum_percent()),
        deployments,
        events,
        load_balancers: service
            .load_balancers()
            .iter()
            .map(|lb| ServiceLoadBalancer {
                target_group_arn: lb.target_group_arn().map(str::to_string),
                container_name: lb.container_name().unwrap_or_default().to_string(),
                container_port: lb.container_port().unwrap_or_default(),
                advanced: lb.advanced_configuration().and_then(|a| {
                    Some(AdvancedLoadBalancing {
                        alternate_target_group_arn: a.alternate_target_group_arn()?.to_string(),
                        production_listener_rule: a.production_listener_rule()?.to_string(),
                        test_listener_rule: a.test_listener_rule().map(str::to_string),
                    })
                }),
            })
            .collect(),
        health_check_grace_period_seconds: service.health_check_grace_period_seconds(),
        launch: TaskLaunch {
            launch_type: service.launch_type().map(|t| t.as_str().to_string()),
            capacity_provider_strategy: service
                .capacity_provider_strategy()
                .iter()
                .map(|c| json!({"capacityProvider": c.capacity_provider(), "weight": c.weight(), "base": c.base()}))
                .collect(),
            platform_version: service.platform_version().map(str::to_string),
            network_configuration: service.network_configuration().and_then(|n| n.awsvpc_configuration()).map(|a| {
                let mut vpc = json!({"subnets": a.subnets(), "securityGroups": a.security_groups()});
                if let Some(ip) = a.assign_public_ip() {
                    vpc["assignPublicIp"] = json!(ip.as_str());
                }
                json!({ "awsvpcConfiguration": vpc })
            }),
        },
    }
}

/// A service's launch settings as the SDK takes them for RunTask and CreateService (the
/// reverse of [`service_info`]'s `launch`).
pub(crate) struct SdkLaunch {
    pub launch_type: Option<ecs::types::LaunchType>,
    /// None when the service has none (an empty list would be sent as one).
    pub capacity_provider_strategy: Option<Vec<ecs::types::CapacityProviderStrategyItem>>,
    pub platform_version: Option<String>,
    pub network_configuration: Option<ecs::types::NetworkConfiguration>,
}

/// [`SdkLaunch`] of `launch`; an error (naming `operation` and the member) when the SDK
/// refuses a member as built.
pub(crate) fn sdk_launch(launch: &TaskLaunch, operation: &str) -> PlatformResult<SdkLaunch> {
    let refused = |member: &str, e: &dyn std::fmt::Display| PlatformError::new(operation, None, format!("{member}: {e}"));
    let mut strategy = Vec::new();
    for item in &launch.capacity_provider_strategy {
        let Some(name) = item.get("capacityProvider").and_then(Value::as_str) else { continue };
        let built = ecs::types::CapacityProviderStrategyItem::builder()
            .capacity_provider(name)
            .weight(item.get("weight").and_then(Value::as_i64).unwrap_or(0) as i32)
            .base(item.get("base").and_then(Value::as_i64).unwrap_or(0) as i32)
            .build()
            .map_err(|e| refused("capacityProviderStrategy", &e))?;
        strategy.push(built);
    }
    let network_configuration = match launch.network_configuration.as_ref().and_then(|n| n.get("awsvpcConfiguration")) {
        None => None,
        Some(vpc) => {
            let strings = |key: &str| -> Vec<String> {
                vpc.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
            };
            let mut config = ecs::types::AwsVpcConfiguration::builder()
                .set_subnets(Some(strings("subnets")))
                .set_security_groups(Some(strings("securityGroups")));
            if let Some(ip) = vpc.get("assignPublicIp").and_then(Value::as_str) {
                config = config.assign_public_ip(ecs::types::AssignPublicIp::from(ip));
            }
            let config = config.build().map_err(|e| refused("networkConfiguration.awsvpcConfiguration", &e))?;
            Some(ecs::types::NetworkConfiguration::builder().awsvpc_configuration(config).build())
        }
    };
    Ok(SdkLaunch {
        launch_type: launch.launch_type.as_deref().map(ecs::types::LaunchType::from),
        capacity_provider_strategy: (!strategy.is_empty()).then_some(strategy),
        platform_version: launch.platform_version.clone(),
        network_configuration,
    })
}

/// A task's containers as DescribeTasks answered them: name, exit code, reason, health.
fn containers_of(task: &ecs::types::Task) -> Vec<StoppedContainer> {
    task.containers()
        .iter()
        .map(|c| StoppedContainer {
            name: c.name().unwrap_or_default().to_string(),
            exit_code: c.exit_code(),
            reason: c.reason().map(str::to_string),
            health_status: c.health_status().map(|h| h.as_str().to_string()),
        })
        .collect()
}

/// A task as DescribeTasks answered it.
fn task_state(task: &ecs::types::Task) -> TaskState {
    TaskState {
        arn: task.task_arn().unwrap_or_default().to_string(),
        task_definition: task.task_definition_arn().unwrap_or_default().to_string(),
        last_status: task.last_status().unwrap_or_default().to_string(),
        started_by: task.started_by().map(str::to_string),
        stop_code: task.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: task.stopped_reason().map(str::to_string),
        containers: containers_of(task),
        started_at: task.started_at().and_then(|t| t.to_millis().ok()),
        stopped_at: task.stopped_at().and_then(|t| t.to_millis().ok()),
    }
}

/// The private IPv4 address of an awsvpc task: its network interface attachment's
/// `privateIPv4Address`, else a container's `networkInterfaces`.
fn private_ip(task: &ecs::types::Task) -> Option<String> {
    let attached = task
        .attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value());
    let interface = || task.containers().iter().flat_map(|c| c.network_interfaces()).find_map(|n| n.private_ipv4_address());
    attached.or_else(interface).filter(|ip| !ip.is_empty()).map(str::to_string)
}

/// ECS tags as (key, value) pairs.
pub(crate) fn tag_pairs(tags: &[ecs::types::Tag]) -> Vec<(String, String)> {
    tags.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect()
}

fn task_definition_info(td: &ecs::types::TaskDefinition, tags: &[ecs::types::Tag]) -> TaskDefinitionInfo {
    TaskDefinitionInfo {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        definition: taskdef::to_json(td, tags),
        tags: tag_pairs(tags),
    }
}

impl Ecs for AwsEcs {
    // Blue/green's calls ([`crate::traffic`]).
    async fn create_service(&self, service: &ferry_core::platform::NewService) -> PlatformResult<ServiceInfo> {
        self.sdk_create_service(service).await
    }
    async fn delete_service(&self, cluster: &str, service: &str) -> PlatformResult<()> {
        self.sdk_delete_service(cluster, service).await
    }
    async fn tag_service(&self, service_arn: &str, tags: &[(String, String)]) -> PlatformResult<()> {
        self.sdk_tag_service(service_arn, tags).await
    }
    async fn untag_service(&self, service_arn: &str, keys: &[String]) -> PlatformResult<()> {
        self.sdk_untag_service(service_arn, keys).await
    }
    async fn list_services(&self, cluster: &str) -> PlatformResult<Vec<String>> {
        self.sdk_list_services(cluster).await
    }
    async fn describe_tagged_services(
        &self,
        cluster: &str,
        services: &[String],
    ) -> PlatformResult<Vec<ferry_core::platform::TaggedService>> {
        self.sdk_describe_tagged_services(cluster, services).await
    }

    async fn describe_cluster(&self, cluster: &str) -> PlatformResult<Option<ClusterInfo>> {
        self.reads.take().await;
        let out =
            self.client.describe_clusters().clusters(cluster).send().await.map_err(|e| self.reach.error("ecs:DescribeClusters", e))?;
        Ok(out.clusters().first().map(|c| ClusterInfo {
            arn: c.cluster_arn().unwrap_or_default().to_string(),
            status: c.status().unwrap_or_default().to_string(),
        }))
    }

    async fn describe_services(&self, cluster: &str, services: &[String]) -> PlatformResult<Vec<ServiceInfo>> {
        self.reads.take().await;
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DescribeServices", e))?;
        Ok(out.services().iter().map(service_info).collect())
    }

    async fn describe_task_definition(&self, task_definition: &str) -> PlatformResult<TaskDefinitionInfo> {
        // Only a full ARN names one revision for good (`family` alone means the latest).
        let cached = task_definition.starts_with("arn:") && task_definition.contains(":task-definition/");
        if cached && let Some(info) = self.revisions.lock().ok().and_then(|r| r.get(task_definition).cloned()) {
            return Ok(info);
        }
        self.reads.take().await;
        let out = self
            .client
            .describe_task_definition()
            .task_definition(task_definition)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DescribeTaskDefinition", e))?;
        let td = out
            .task_definition()
            .ok_or_else(|| PlatformError::new("ecs:DescribeTaskDefinition", None, "the answer holds no task definition"))?;
        let info = task_definition_info(td, out.tags());
        if cached && let Ok(mut revisions) = self.revisions.lock() {
            revisions.insert(task_definition.to_string(), info.clone());
        }
        Ok(info)
    }

    fn validate_task_definition(&self, definition: &Value) -> Result<(), ferry_core::error::Error> {
        taskdef::register_input(definition).map(|_| ()).map_err(|e| ferry_core::error::Error::invalid(format!("task definition: {e}")))
    }

    async fn register_task_definition(&self, definition: &Value) -> PlatformResult<TaskDefinitionInfo> {
        let input = taskdef::register_input(definition)
            .map_err(|e| PlatformError::new("ecs:RegisterTaskDefinition", None, format!("task definition: {e}")))?;
        self.registers.take().await;
        let out = taskdef::register(&self.client, input).await.map_err(|e| self.reach.error("ecs:RegisterTaskDefinition", e))?;
        let td = out
            .task_definition()
            .ok_or_else(|| PlatformError::new("ecs:RegisterTaskDefinition", None, "the answer holds no task definition"))?;
        Ok(task_definition_info(td, out.tags()))
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> PlatformResult<ServiceInfo> {
        let update = self.client.update_service().cluster(cluster).service(service);
        self.send_update(update.task_definition(task_definition).force_new_deployment(force_new_deployment)).await
    }

    async fn run_task(&self, task: &OneOffTask) -> PlatformResult<Vec<String>> {
        let launch = sdk_launch(&task.launch, "ecs:RunTask")?;
        let mut call = self
            .client
            .run_task()
            .cluster(&task.cluster)
            .task_definition(&task.task_definition)
            .count(task.count.max(1))
            .started_by(&task.started_by)
            .set_launch_type(launch.launch_type)
            .set_capacity_provider_strategy(launch.capacity_provider_strategy)
            .set_platform_version(launch.platform_version)
            .set_network_configuration(launch.network_configuration);
        if let Some(container) = task.container.as_ref().filter(|_| !task.command.is_empty()) {
            let override_ = ecs::types::ContainerOverride::builder().name(container).set_command(Some(task.command.clone())).build();
            call = call.overrides(ecs::types::TaskOverride::builder().container_overrides(override_).build());
        }
        for (key, value) in &task.tags {
            call = call.tags(ecs::types::Tag::builder().key(key).value(value).build());
        }
        self.runs.take().await;
        let out = call.send().await.map_err(|e| self.reach.error("ecs:RunTask", e))?;
        if let Some(failure) = out.failures().first() {
            let reason = failure.reason().unwrap_or("no reason given");
            let detail = failure.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            return Err(PlatformError::new(
                "ecs:RunTask",
                Some("RunTaskFailure".to_string()),
                format!("ECS could not start the task: {reason}{detail}"),
            ));
        }
        Ok(out.tasks().iter().filter_map(|t| t.task_arn()).map(str::to_string).collect())
    }

    async fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> PlatformResult<Vec<TaskState>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        self.reads.take().await;
        let out = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(tasks.iter().take(100).cloned().collect()))
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DescribeTasks", e))?;
        Ok(out.tasks().iter().map(task_state).collect())
    }

    async fn tasks_started_by(&self, cluster: &str, started_by: &str) -> PlatformResult<Vec<TaskState>> {
        let mut found = Vec::new();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            found.extend(self.deployment_tasks(cluster, started_by, status).await?.iter().map(task_state));
        }
        Ok(found)
    }

    async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> PlatformResult<()> {
        self.stops.take().await;
        let reason: String = reason.chars().take(255).collect();
        self.client.stop_task().cluster(cluster).task(task).reason(reason).send().await.map_err(|e| self.reach.error("ecs:StopTask", e))?;
        Ok(())
    }

    async fn set_desired_count(&self, cluster: &str, service: &str, desired: i32) -> PlatformResult<ServiceInfo> {
        self.send_update(self.client.update_service().cluster(cluster).service(service).desired_count(desired)).await
    }

    async fn task_health(&self, cluster: &str, deployment_id: &str) -> PlatformResult<TaskHealth> {
        let mut health = TaskHealth::default();
        for task in self.deployment_tasks(cluster, deployment_id, DesiredStatus::Running).await? {
            if task.last_status() != Some("RUNNING") {
                continue;
            }
            match task.health_status() {
                Some(HealthStatus::Healthy) => health.healthy += 1,
                Some(HealthStatus::Unhealthy) => health.unhealthy += 1,
                _ => health.unknown += 1,
            }
        }
        Ok(health)
    }

    async fn running_tasks(&self, cluster: &str, deployment_id: &str) -> PlatformResult<Vec<RunningTask>> {
        let tasks: Vec<ecs::types::Task> = self
            .deployment_tasks(cluster, deployment_id, DesiredStatus::Running)
            .await?
            .into_iter()
            .filter(|t| t.last_status() == Some("RUNNING"))
            .collect();
        let instance_arns: Vec<&str> = tasks.iter().filter_map(|t| t.container_instance_arn()).collect();
        let instances = if instance_arns.is_empty() { HashMap::new() } else { self.ec2_instance_ids(cluster, &instance_arns).await? };
        Ok(tasks
            .iter()
            .map(|t| RunningTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                started_at: t.started_at().and_then(|at| at.to_millis().ok()),
                target_ids: private_ip(t)
                    .into_iter()
                    .chain(t.container_instance_arn().and_then(|arn| instances.get(arn).cloned()))
                    .collect(),
                ports: t
                    .containers()
                    .iter()
                    .flat_map(|c| {
                        c.network_bindings().iter().filter_map(|b| {
                            Some(PortBinding {
                                container: c.name().unwrap_or_default().to_string(),
                                container_port: b.container_port()?,
                                host_port: b.host_port(),
                            })
                        })
                    })
                    .collect(),
            })
            .collect())
    }

    async fn stopped_tasks(&self, cluster: &str, deployment_id: &str) -> PlatformResult<Vec<StoppedTask>> {
        let tasks = self.deployment_tasks(cluster, deployment_id, DesiredStatus::Stopped).await?;
        Ok(tasks
            .iter()
            .map(|t| StoppedTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                started_by: t.started_by().map(str::to_string),
                stop_code: t.stop_code().map(|c| c.as_str().to_string()),
                stopped_reason: t.stopped_reason().map(str::to_string),
                containers: containers_of(t),
                stopped_at: millis(t.stopped_at()),
            })
            .collect())
    }

    async fn list_service_deployments(
        &self,
        cluster: &str,
        service: &str,
        statuses: &[&str],
    ) -> PlatformResult<Vec<ServiceDeploymentBrief>> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.reads.take().await;
            let out = self
                .client
                .list_service_deployments()
                .cluster(cluster)
                .service(service)
                .set_status(Some(statuses.iter().map(|s| ServiceDeploymentStatus::from(*s)).collect()))
                .max_results(100)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| self.reach.error("ecs:ListServiceDeployments", e))?;
            found.extend(out.service_deployments().iter().map(|d| ServiceDeploymentBrief {
                arn: d.service_deployment_arn().unwrap_or_default().to_string(),
                status: d.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                created_at: millis(d.created_at()),
                finished_at: d.finished_at().and_then(|t| t.to_millis().ok()),
                target_service_revision: d.target_service_revision_arn().map(str::to_string),
            }));
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok(found),
            }
        }
    }

    async fn service_revision_task_definition(&self, service_revision_arn: &str) -> PlatformResult<Option<String>> {
        self.reads.take().await;
        let out = self
            .client
            .describe_service_revisions()
            .service_revision_arns(service_revision_arn)
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DescribeServiceRevisions", e))?;
        Ok(out
            .service_revisions()
            .iter()
            .find(|r| r.service_revision_arn() == Some(service_revision_arn))
            .and_then(|r| r.task_definition())
            .map(str::to_string))
    }

    async fn describe_service_deployment(&self, arn: &str) -> PlatformResult<Option<ServiceDeploymentInfo>> {
        self.reads.take().await;
        let out = self
            .client
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DescribeServiceDeployments", e))?;
        Ok(out.service_deployments().iter().find(|d| d.service_deployment_arn() == Some(arn)).map(|d| {
            let target = d.target_service_revision();
            ServiceDeploymentInfo {
                arn: arn.to_string(),
                status: d.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                status_reason: d.status_reason().map(str::to_string),
                updated_at: d.updated_at().and_then(|t| t.to_millis().ok()),
                alarms_triggered: d.alarms().map(|a| a.triggered_alarm_names().to_vec()).unwrap_or_default(),
                lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
                production_percent: target.and_then(|t| t.requested_production_traffic_weight()),
                test_percent: target.and_then(|t| t.requested_test_traffic_weight()),
                breaker: d.deployment_circuit_breaker().filter(|b| b.status().is_some_and(|s| s.as_str() != "DISABLED")).map(|b| {
                    let configured = d.deployment_configuration().and_then(|c| c.deployment_circuit_breaker());
                    BreakerCount {
                        failure_count: b.failure_count(),
                        threshold: b.threshold(),
                        status: b.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                        configuration: configured
                            .and_then(|c| c.threshold_configuration())
                            .map(|t| format!("{} {}", t.r#type().as_str(), t.value())),
                        reset_on_healthy_task: configured.and_then(|c| c.reset_on_healthy_task()),
                    }
                }),
                hooks: d
                    .lifecycle_hook_details()
                    .iter()
                    .map(|h| LifecycleHookInfo {
                        hook_id: h.hook_id().unwrap_or_default().to_string(),
                        target_type: h.target_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                        status: h.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                        expires_at: h.expires_at().and_then(|t| t.to_millis().ok()),
                        timeout_action: h.timeout_action().map(|a| a.as_str().to_string()),
                    })
                    .collect(),
            }
        }))
    }

    async fn continue_service_deployment(&self, arn: &str, hook_id: &str, rollback: bool) -> PlatformResult<()> {
        self.stops.take().await;
        let action = if rollback { DeploymentLifecycleHookAction::Rollback } else { DeploymentLifecycleHookAction::Continue };
        self.client
            .continue_service_deployment()
            .service_deployment_arn(arn)
            .hook_id(hook_id)
            .action(action)
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:ContinueServiceDeployment", e))?;
        Ok(())
    }

    async fn roll_back_in_progress(&self, cluster: &str, service: &str) -> PlatformResult<bool> {
        self.stops.take().await;
        let listed = self
            .client
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .status(ServiceDeploymentStatus::InProgress)
            .status(ServiceDeploymentStatus::Pending)
            .send()
            .await;
        let listed = match listed {
            Ok(listed) => listed,
            // Older endpoints (and some emulators) lack service deployments: fall back.
            Err(e) => {
                tracing::debug!(
                    "ListServiceDeployments failed, rolling back with UpdateService: {}",
                    self.reach.error("ecs:ListServiceDeployments", e)
                );
                return Ok(false);
            }
        };
        let Some(arn) = listed.service_deployments().iter().find_map(|d| d.service_deployment_arn()) else {
            return Ok(false);
        };
        match self
            .client
            .stop_service_deployment()
            .service_deployment_arn(arn)
            .stop_type(StopServiceDeploymentStopType::Rollback)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                tracing::debug!(
                    "StopServiceDeployment failed, rolling back with UpdateService: {}",
                    self.reach.error("ecs:StopServiceDeployment", e)
                );
                Ok(false)
            }
        }
    }
}

/// Elastic Load Balancing v2 through the SDK, built from the same configuration (region,
/// credentials, endpoint, timeouts, retries) as the ECS client, and paced like it.
#[derive(Clone, Debug)]
pub struct AwsElb {
    pub client: elbv2::Client,
    /// Describe calls: just under ELBv2's bucket for them, per account and region (40
    /// burst, 10 per second; ELB user guide, "Request throttling for the ELB API").
    pub(crate) reads: Arc<Pacer>,
    /// Changes (CreateTargetGroup, DeleteTargetGroup, ModifyRule, ModifyListener): well
    /// below ELBv2's buckets for them, which are smaller than the Describe one.
    pub(crate) writes: Arc<Pacer>,
    pub(crate) reach: Explainer,
}

impl AwsElb {
    pub fn new(client: elbv2::Client) -> Self {
        AwsElb { client, reads: Arc::new(Pacer::new(36, 9)), writes: Arc::new(Pacer::new(10, 2)), reach: Explainer::default() }
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Explainer(Some(reach));
        self
    }
}

impl Elb for AwsElb {
    // Blue/green's calls ([`crate::traffic`]).
    async fn create_target_group(&self, name: &str, like: &str, tags: &[(String, String)]) -> PlatformResult<TargetGroupInfo> {
        self.sdk_create_target_group(name, like, tags).await
    }
    async fn delete_target_group(&self, arn: &str) -> PlatformResult<()> {
        self.sdk_delete_target_group(arn).await
    }
    async fn target_groups_named(&self, names: &[String]) -> PlatformResult<Vec<TargetGroupInfo>> {
        self.sdk_target_groups_named(names).await
    }
    async fn list_target_groups(&self) -> PlatformResult<Vec<TargetGroupInfo>> {
        self.sdk_list_target_groups().await
    }
    async fn describe_route(&self, arn: &str) -> PlatformResult<Option<ferry_core::platform::Route>> {
        self.sdk_describe_route(arn).await
    }
    async fn set_forward(&self, arn: &str, target_groups: &[(String, i32)]) -> PlatformResult<ferry_core::platform::Route> {
        self.sdk_set_forward(arn, target_groups).await
    }
    async fn describe_tags(&self, arns: &[String]) -> PlatformResult<Vec<ferry_core::platform::ResourceTags>> {
        self.sdk_describe_tags(arns).await
    }

    async fn describe_target_group(&self, arn: &str) -> PlatformResult<Option<TargetGroupInfo>> {
        self.reads.take().await;
        match self.client.describe_target_groups().target_group_arns(arn).send().await {
            Ok(out) => Ok(out.target_groups().first().map(crate::traffic::target_group_info)),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_target_group_not_found_exception()) => Ok(None),
            Err(e) => Err(self.reach.error("elasticloadbalancing:DescribeTargetGroups", e)),
        }
    }

    async fn describe_target_health(&self, arn: &str) -> PlatformResult<Vec<TargetHealthInfo>> {
        self.reads.take().await;
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| self.reach.error("elasticloadbalancing:DescribeTargetHealth", e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let health = d.target_health();
                TargetHealthInfo {
                    id: d.target().and_then(|t| t.id()).unwrap_or_default().to_string(),
                    port: d.target().and_then(|t| t.port()),
                    state: health.and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                    reason: health.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                }
            })
            .collect())
    }
}

/// What the prober needs to find a service's production listener (`ferry_core::probe`):
/// DescribeTargetGroups, DescribeLoadBalancers, DescribeListeners and DescribeRules, each
/// paced like the other Describe calls, every page read.
impl AwsElb {
    /// Where to probe target group `target_group` (its ARN): the load balancers it is attached
    /// to (DescribeTargetGroups' `LoadBalancerArns`), each one's listeners and their rules,
    /// decided by [`ferry_core::probe::choose_target`] with the configured `path`. `Ok(Err)`
    /// says why there is nothing to probe (the group is gone or attached to no load balancer,
    /// or what `choose_target` found); `Err` is a call that failed.
    ///
    /// `through` (a listener or listener rule ARN): only that listener is considered (the
    /// production or preparing rule of a blue/green deploy, whose groups other listeners may
    /// also forward to).
    pub async fn probe_target(
        &self,
        target_group: &str,
        path: Option<&str>,
        through: Option<&str>,
    ) -> PlatformResult<Result<ProbeTarget, NoProbe>> {
        let name = ferry_core::platform::target_group_name(target_group);
        self.reads.take().await;
        let groups = match self.client.describe_target_groups().target_group_arns(target_group).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_target_group_not_found_exception()) => {
                return Ok(Err(NoProbe(format!("target group {name} not found"))));
            }
            Err(e) => return Err(self.reach.error("elasticloadbalancing:DescribeTargetGroups", e)),
        };
        let arns: Vec<String> = groups.target_groups().iter().flat_map(|g| g.load_balancer_arns().iter().cloned()).collect();
        if arns.is_empty() {
            return Ok(Err(NoProbe(format!("target group {name} is attached to no load balancer"))));
        }
        let mut first: Option<NoProbe> = None;
        for lb in self.describe_load_balancers(&arns).await? {
            let mut listeners = self.listeners_with_rules(&lb.arn).await?;
            if let Some(through) = through {
                listeners.retain(|l| l.arn == through || l.rules.iter().any(|r| r.arn == through));
                if listeners.is_empty() {
                    first.get_or_insert(NoProbe(format!("no listener of {} holds {through}", lb.name)));
                    continue;
                }
            }
            match ferry_core::probe::choose_target(target_group, &lb, &listeners, path, through) {
                Ok(target) => return Ok(Ok(target)),
                Err(why) => {
                    first.get_or_insert(why);
                }
            }
        }
        Ok(Err(first.unwrap_or_else(|| NoProbe(format!("the load balancers of target group {name} were not found")))))
    }

    /// DescribeLoadBalancers of `arns` (at most 20 a call, as the API allows), every page; a
    /// load balancer that is gone is left out.
    pub async fn describe_load_balancers(&self, arns: &[String]) -> PlatformResult<Vec<LoadBalancerInfo>> {
        let mut found = Vec::new();
        for chunk in arns.chunks(20) {
            let mut marker: Option<String> = None;
            loop {
                self.reads.take().await;
                let out = match self
                    .client
                    .describe_load_balancers()
                    .set_load_balancer_arns(Some(chunk.to_vec()))
                    .set_marker(marker.clone())
                    .send()
                    .await
                {
                    Ok(out) => out,
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_load_balancer_not_found_exception()) => break,
                    Err(e) => return Err(self.reach.error("elasticloadbalancing:DescribeLoadBalancers", e)),
                };
                found.extend(out.load_balancers().iter().map(|lb| LoadBalancerInfo {
                    arn: lb.load_balancer_arn().unwrap_or_default().to_string(),
                    name: lb.load_balancer_name().unwrap_or_default().to_string(),
                    dns_name: lb.dns_name().unwrap_or_default().to_string(),
                    scheme: lb.scheme().map(|s| s.as_str().to_string()).unwrap_or_default(),
                }));
                marker = out.next_marker().filter(|m| !m.is_empty()).map(str::to_string);
                if marker.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// The listeners of load balancer `lb` (DescribeListeners, every page), each with its
    /// rules (DescribeRules, every page; the default rule among them). A load balancer or
    /// listener that is gone has none.
    pub async fn listeners_with_rules(&self, lb: &str) -> PlatformResult<Vec<ListenerInfo>> {
        let mut listeners = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.reads.take().await;
            let out = match self.client.describe_listeners().load_balancer_arn(lb).set_marker(marker.clone()).send().await {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_load_balancer_not_found_exception()) => break,
                Err(e) => return Err(self.reach.error("elasticloadbalancing:DescribeListeners", e)),
            };
            listeners.extend(out.listeners().iter().map(|l| ListenerInfo {
                arn: l.listener_arn().unwrap_or_default().to_string(),
                port: l.port().unwrap_or_default(),
                protocol: l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
                default_actions: l.default_actions().iter().map(action_info).collect(),
                rules: Vec::new(),
            }));
            marker = out.next_marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        for listener in &mut listeners {
            listener.rules = self.rules(&listener.arn).await?;
        }
        Ok(listeners)
    }

    /// DescribeRules of one listener, every page.
    async fn rules(&self, listener: &str) -> PlatformResult<Vec<RuleInfo>> {
        let mut rules = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.reads.take().await;
            let out = match self.client.describe_rules().listener_arn(listener).set_marker(marker.clone()).send().await {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_listener_not_found_exception()) => break,
                Err(e) => return Err(self.reach.error("elasticloadbalancing:DescribeRules", e)),
            };
            rules.extend(out.rules().iter().map(|r| RuleInfo {
                arn: r.rule_arn().unwrap_or_default().to_string(),
                priority: r.priority().unwrap_or("default").to_string(),
                is_default: r.is_default().unwrap_or(false),
                conditions: r.conditions().iter().map(condition_info).collect(),
                actions: r.actions().iter().map(action_info).collect(),
            }));
            marker = out.next_marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        Ok(rules)
    }
}

/// An ELBv2 action as the prober reads it: a forward's groups from `TargetGroupArn` (weight 1)
/// or `ForwardConfig.TargetGroups` (a missing weight is 1).
pub(crate) fn action_info(action: &elbv2::types::Action) -> ActionInfo {
    let mut target_groups: Vec<(String, i32)> = action.target_group_arn().map(|arn| vec![(arn.to_string(), 1)]).unwrap_or_default();
    if let Some(config) = action.forward_config() {
        for tuple in config.target_groups() {
            if let Some(arn) = tuple.target_group_arn()
                && !target_groups.iter().any(|(known, _)| known == arn)
            {
                target_groups.push((arn.to_string(), tuple.weight().unwrap_or(1)));
            }
        }
    }
    ActionInfo { kind: action.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(), order: action.order(), target_groups }
}

/// A rule condition's field and values, from `Values` or the field's own config; a query
/// string pair as `key=value` (or `value`); regular-expression values make the field
/// `path-pattern (regex)` / `host-header (regex)`, which the prober does not judge.
fn condition_info(condition: &elbv2::types::RuleCondition) -> ConditionInfo {
    let field = condition.field().unwrap_or_default().to_string();
    let mut values: Vec<String> = condition.values().to_vec();
    let mut regex = false;
    if let Some(config) = condition.path_pattern_config() {
        values.extend(config.values().iter().cloned());
        regex |= !config.regex_values().is_empty();
    }
    if let Some(config) = condition.host_header_config() {
        values.extend(config.values().iter().cloned());
        regex |= !config.regex_values().is_empty();
    }
    if let Some(config) = condition.http_request_method_config() {
        values.extend(config.values().iter().cloned());
    }
    if let Some(config) = condition.http_header_config() {
        let header = config.http_header_name().unwrap_or_default();
        values.extend(config.values().iter().map(|v| format!("{header}: {v}")));
    }
    if let Some(config) = condition.query_string_config() {
        values.extend(config.values().iter().map(|pair| match pair.key() {
            Some(key) => format!("{key}={}", pair.value().unwrap_or_default()),
            None => pair.value().unwrap_or_default().to_string(),
        }));
    }
    if let Some(config) = condition.source_ip_config() {
        values.extend(config.values().iter().cloned());
    }
    regex |= !condition.regex_values().is_empty();
    // The same values may come in `Values` and in the field's config.
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.clone()));
    ConditionInfo { field: if regex { format!("{field} (regex)") } else { field }, values }
}

/// ECR as the image registry: tag → digest through DescribeImages.
#[derive(Debug)]
pub struct EcrRegistry {
    pub client: ecr::Client,
    reach: Explainer,
}

impl EcrRegistry {
    pub fn new(client: ecr::Client) -> Self {
        EcrRegistry { client, reach: Explainer::default() }
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Explainer(Some(reach));
        self
    }

    /// One DescribeImages: the image's details, None when the registry does not have it.
    async fn describe_image(&self, repository: &str, id: ecr::types::ImageIdentifier) -> PlatformResult<Option<ecr::types::ImageDetail>> {
        match self.client.describe_images().repository_name(repository).image_ids(id).send().await {
            Ok(out) => Ok(out.image_details().first().cloned()),
            Err(e) if e.code() == Some("ImageNotFoundException") => Ok(None),
            Err(e) if e.code() == Some("RepositoryNotFoundException") => Err(PlatformError::new(
                "ecr:DescribeImages",
                Some("RepositoryNotFoundException".into()),
                format!("repository {repository} does not exist in the registry"),
            )),
            Err(e) => Err(self.reach.error("ecr:DescribeImages", e)),
        }
    }

    /// The image as ferry-core sees it. The repository URI is built the way ECR builds it
    /// (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME`) from the registry id DescribeImages
    /// returns, which saves a DescribeRepositories call per deploy.
    fn image_info(&self, repository: &str, detail: &ecr::types::ImageDetail, digest: &str) -> ImageInfo {
        let region = self.client.config().region().map(|r| r.as_ref().to_string()).unwrap_or_default();
        let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        let registry = detail.registry_id().unwrap_or_default();
        ImageInfo { repository_uri: format!("{registry}.dkr.ecr.{region}.{suffix}/{repository}"), digest: digest.to_string() }
    }

    async fn batch_get_image(
        &self,
        repository: &str,
        ids: Vec<ecr::types::ImageIdentifier>,
    ) -> PlatformResult<ecr::operation::batch_get_image::BatchGetImageOutput> {
        self.client
            .batch_get_image()
            .repository_name(repository)
            .set_image_ids(Some(ids))
            .accepted_media_types("application/vnd.oci.image.manifest.v1+json")
            .accepted_media_types("application/vnd.oci.image.index.v1+json")
            .accepted_media_types("application/vnd.docker.distribution.manifest.v2+json")
            .accepted_media_types("application/vnd.docker.distribution.manifest.list.v2+json")
            .send()
            .await
            .map_err(|e| self.reach.error("ecr:BatchGetImage", e))
    }

    /// PutImage of `image`'s exact manifest bytes under `tag`.
    async fn put_tag(&self, repository: &str, image: &ecr::types::Image, digest: &str, tag: &str) -> PlatformResult<()> {
        let manifest = image.image_manifest().ok_or_else(|| {
            PlatformError::new("ecr:BatchGetImage", None, format!("{repository}@{digest} came back without its manifest"))
        })?;
        let mut put = self.client.put_image().repository_name(repository).image_tag(tag).image_manifest(manifest).image_digest(digest);
        if let Some(media_type) = image.image_manifest_media_type() {
            put = put.image_manifest_media_type(media_type);
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ImageAlreadyExistsException") => Ok(()),
            Err(e) => Err(self.reach.error("ecr:PutImage", e)),
        }
    }
}

impl Registry for EcrRegistry {
    async fn resolve(&self, repository: &str, tag: &str) -> PlatformResult<Option<ImageInfo>> {
        let Some(detail) = self.describe_image(repository, ecr::types::ImageIdentifier::builder().image_tag(tag).build()).await? else {
            return Ok(None);
        };
        Ok(detail.image_digest().map(|digest| self.image_info(repository, &detail, digest)))
    }

    async fn resolve_digest(&self, repository: &str, digest: &str) -> PlatformResult<Option<ImageInfo>> {
        let detail = self.describe_image(repository, ecr::types::ImageIdentifier::builder().image_digest(digest).build()).await?;
        Ok(detail.map(|d| self.image_info(repository, &d, digest)))
    }

    /// ECR retags without layers: BatchGetImage for the manifest bytes, PutImage of the same
    /// bytes under the tag (the digest cannot change). A tag already there is success.
    async fn move_tag(&self, repository: &str, digest: &str, tag: &str) -> PlatformResult<()> {
        let got = self.batch_get_image(repository, vec![ecr::types::ImageIdentifier::builder().image_digest(digest).build()]).await?;
        let image = got.images().first().ok_or_else(|| {
            PlatformError::new(
                "ecr:BatchGetImage",
                Some("ImageNotFoundException".into()),
                format!("{repository}@{digest} is not in the registry"),
            )
        })?;
        self.put_tag(repository, image, digest, tag).await
    }

    /// Two calls: one BatchGetImage for both tags (the source's manifest, the tag's current
    /// digest), then PutImage — rather than two DescribeImages before the move.
    async fn copy_tag(&self, repository: &str, source: &str, tag: &str) -> PlatformResult<Option<TagMove>> {
        let ids = [source, tag].map(|t| ecr::types::ImageIdentifier::builder().image_tag(t).build());
        let got = self.batch_get_image(repository, ids.to_vec()).await?;
        let tagged = |t: &str| got.images().iter().find(|i| i.image_id().and_then(|id| id.image_tag()) == Some(t));
        let Some(image) = tagged(source) else {
            let failure = got.failures().iter().find(|f| f.image_id().and_then(|id| id.image_tag()) == Some(source));
            return match failure.and_then(|f| f.failure_code()) {
                None | Some(ecr::types::ImageFailureCode::ImageNotFound | ecr::types::ImageFailureCode::ImageTagDoesNotMatchDigest) => {
                    Ok(None)
                }
                Some(code) => Err(PlatformError::new(
                    "ecr:BatchGetImage",
                    Some(code.as_str().to_string()),
                    format!("{repository}:{source}: {}", failure.and_then(|f| f.failure_reason()).unwrap_or(code.as_str())),
                )),
            };
        };
        let digest =
            image.image_id().and_then(|id| id.image_digest()).map(str::to_string).ok_or_else(|| {
                PlatformError::new("ecr:BatchGetImage", None, format!("{repository}:{source} came back without its digest"))
            })?;
        let previous = tagged(tag).and_then(|i| i.image_id()).and_then(|id| id.image_digest()).map(str::to_string);
        if previous.as_deref() != Some(digest.as_str()) {
            self.put_tag(repository, image, &digest, tag).await?;
        }
        Ok(Some(TagMove { digest, previous }))
    }
}
