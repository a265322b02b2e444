//! What the load balancer tests share: a ferry local of their own with SDK clients, waiting
//! for a condition, reading a failed call, and the ELBv2 setup steps they all take (a load
//! balancer and a free port on its address, target groups, the deregistration delay).

use std::time::{Duration, Instant};

use ferry_aws::elbv2::Client;
use ferry_aws::elbv2::error::ProvideErrorMetadata;
use ferry_aws::elbv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, ProtocolEnum, TargetGroupAttribute, TargetGroupTuple, TargetTypeEnum,
};
use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};

/// Health checks 20 times faster than AWS's (a 5 s interval checks every 250 ms), as
/// `ferry local up --health-check-scale 0.05` runs them.
pub const FAST_HEALTH_CHECKS: f64 = 0.05;

/// AWS's health check timing (ferry local's default).
pub const AWS_HEALTH_CHECKS: f64 = 1.0;

/// A ferry local in a directory of its own, and SDK clients for it.
pub struct Local {
    pub server: LocalServer,
    pub clients: Clients,
    pub dir: tempfile::TempDir,
}

/// ferry local on a free port with health checks `health_check_scale` times AWS's timing, and
/// clients for `account` in `region` (load balancer addresses derive from account and region:
/// a file or test with an account of its own never shares a listener address with another).
pub async fn start(account: &str, region: &str, health_check_scale: f64) -> Local {
    let dir = tempfile::tempdir().unwrap();
    let options = Options { port: 0, state_dir: dir.path().to_path_buf(), health_check_scale, ..Options::default() };
    let server = LocalServer::start(options).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), account, region)).await;
    Local { server, clients, dir }
}

/// Polls `check` every 50 ms until it returns Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The wire code and message of a failed call.
pub fn error<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> (String, String) {
    match result {
        Ok(_) => panic!("the call succeeded; an error was expected"),
        Err(e) => (e.code().unwrap_or("<no code>").to_string(), e.message().unwrap_or_default().to_string()),
    }
}

/// The wire code of a failed call (`TargetGroupNotFound`, `ValidationError`, …).
pub fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    error(result).0
}

/// The message of a failed call.
pub fn message<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    error(result).1
}

/// Load balancer `name` (subnets subnet-0a and subnet-0b): its ARN and its loopback address.
pub async fn create_lb(elb: &Client, name: &str) -> (String, String) {
    let out = elb.create_load_balancer().name(name).subnets("subnet-0a").subnets("subnet-0b").send().await.unwrap();
    let lb = &out.load_balancers()[0];
    (lb.load_balancer_arn().unwrap().to_string(), lb.dns_name().unwrap().to_string())
}

/// A port nobody listens on at `address` right now.
pub fn free_port(address: &str) -> i32 {
    i32::from(std::net::TcpListener::bind((address, 0)).unwrap().local_addr().unwrap().port())
}

/// Target group `name` of `target_type` targets, HTTP on port 8080 in vpc-0123, AWS's health
/// check defaults.
pub async fn create_tg(elb: &Client, name: &str, target_type: TargetTypeEnum) -> String {
    let out = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id("vpc-0123")
        .target_type(target_type)
        .send()
        .await
        .unwrap();
    out.target_groups()[0].target_group_arn().unwrap().to_string()
}

/// Target group `name` of `target_type` targets, HTTP on `port` in `vpc_id`, health checks on
/// `/health` every 5 s (scaled by ferry local) with a 2 s timeout, 2 passes or failures to
/// decide.
pub async fn health_checked_group(elb: &Client, name: &str, port: i32, vpc_id: &str, target_type: TargetTypeEnum) -> String {
    let out = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .vpc_id(vpc_id)
        .target_type(target_type)
        .health_check_path("/health")
        .health_check_interval_seconds(5)
        .health_check_timeout_seconds(2)
        .healthy_threshold_count(2)
        .unhealthy_threshold_count(2)
        .send()
        .await
        .unwrap();
    out.target_groups()[0].target_group_arn().unwrap().to_string()
}

/// Sets `group`'s `deregistration_delay.timeout_seconds`.
pub async fn set_deregistration_delay(elb: &Client, group: &str, seconds: u32) {
    elb.modify_target_group_attributes()
        .target_group_arn(group)
        .attributes(TargetGroupAttribute::builder().key("deregistration_delay.timeout_seconds").value(seconds.to_string()).build())
        .send()
        .await
        .unwrap();
}

/// An action forwarding to target group `tg`.
pub fn forward(tg: &str) -> Action {
    Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg).build()
}

/// An action forwarding to target groups by weight: `(ARN, weight)`.
pub fn weighted(groups: &[(&str, i32)]) -> Action {
    let mut config = ForwardActionConfig::builder();
    for (arn, weight) in groups {
        config = config.target_groups(TargetGroupTuple::builder().target_group_arn(*arn).weight(*weight).build());
    }
    Action::builder().r#type(ActionTypeEnum::Forward).forward_config(config.build()).build()
}

/// An HTTP listener of load balancer `lb` on `port` whose default action is `action`; its ARN.
pub async fn create_listener(elb: &Client, lb: &str, port: i32, action: Action) -> String {
    let out =
        elb.create_listener().load_balancer_arn(lb).protocol(ProtocolEnum::Http).port(port).default_actions(action).send().await.unwrap();
    out.listeners()[0].listener_arn().unwrap().to_string()
}

/// An awsvpc service `name` in the test cluster running `desired` tasks of the sample app's
/// `version` (family `web`, container `app` on port 8080), its tasks registered in
/// `target_group`, with a health check grace period of `grace` seconds (when given), the
/// circuit breaker on, and `tags`. Returns the revision's ARN.
pub async fn sample_service_behind(
    world: &crate::common::World,
    name: &str,
    version: &str,
    desired: i32,
    target_group: &str,
    grace: Option<i32>,
    tags: &[(&str, &str)],
) -> String {
    use crate::common::{ACCOUNT, CLUSTER, REGION, REPOSITORY, ferry_bin};
    use ferry_aws::ecs::types::{
        AwsVpcConfiguration, ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair, LoadBalancer,
        NetworkConfiguration, NetworkMode, PortMapping, Tag,
    };
    let container = ContainerDefinition::builder()
        .name("app")
        .image(format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:{version}"))
        .essential(true)
        .memory(64)
        .entry_point(ferry_bin())
        .command("sample-app")
        .environment(KeyValuePair::builder().name("VERSION").value(version).build())
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .stop_timeout(2)
        .build();
    let registered = world
        .clients
        .ecs
        .register_task_definition()
        .family("web")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    let arn = registered.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    let mut create = world
        .clients
        .ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(&arn)
        .desired_count(desired)
        .set_health_check_grace_period_seconds(grace)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("subnet-aaaa").build().unwrap())
                .build(),
        )
        .load_balancers(LoadBalancer::builder().target_group_arn(target_group).container_name("app").container_port(8080).build())
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
                .build(),
        );
    for (key, value) in tags {
        create = create.tags(Tag::builder().key(*key).value(*value).build());
    }
    create.send().await.unwrap();
    arn
}
