//! ferry local driven through the official AWS SDK for Rust, with only the endpoint URL
//! changed: the scenarios a deploy tool depends on, with real task processes (the hidden
//! `ferry sample-app`) answering real HTTP.

use std::time::{Duration, Instant};

use crate::elb_support::eventually;
use ferry_aws::ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, DesiredStatus, HealthCheck, KeyValuePair, PortMapping,
    ServiceDeploymentStatus, Tag,
};
use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const CLUSTER: &str = "test";

struct Local {
    server: LocalServer,
    clients: Clients,
    _dir: tempfile::TempDir,
}

async fn start() -> Local {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir).await
}

async fn start_in(dir: tempfile::TempDir) -> Local {
    let server = LocalServer::start(Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() }).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    Local { server, clients, _dir: dir }
}

fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// A revision of the sample app; `env` adds environment variables (SAMPLE_* misbehaviours).
async fn register(c: &Clients, family: &str, image: &str, env: &[(&str, &str)], health: bool) -> String {
    let container = sample_container(image, env, health.then_some(1));
    let out = c.ecs.register_task_definition().family(family).container_definitions(container).send().await.unwrap();
    out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
}

/// The sample app's container, with a health check every `health_interval` seconds if given.
fn sample_container(image: &str, env: &[(&str, &str)], health_interval: Option<i32>) -> ContainerDefinition {
    let mut container = ContainerDefinition::builder()
        .name("app")
        .image(image)
        .memory(64)
        .entry_point(ferry_bin())
        .command("sample-app")
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .stop_timeout(2)
        .set_environment(Some(env.iter().map(|(k, v)| KeyValuePair::builder().name(*k).value(*v).build()).collect()));
    if let Some(interval) = health_interval {
        container = container.health_check(
            HealthCheck::builder()
                .command("CMD")
                .command(ferry_bin())
                .command("sample-app")
                .command("--check")
                .interval(interval)
                .timeout(2)
                .retries(1)
                .build()
                .unwrap(),
        );
    }
    container.build()
}

/// A one-container task definition that runs `script` with /bin/sh; returns its ARN.
async fn register_shell_job(c: &Clients, family: &str, script: &str, stop_timeout: Option<i32>) -> String {
    let container = ContainerDefinition::builder()
        .name("main")
        .image("busybox")
        .memory(8)
        .entry_point("/bin/sh")
        .command("-c")
        .command(script)
        .set_stop_timeout(stop_timeout)
        .build();
    let out = c.ecs.register_task_definition().family(family).container_definitions(container).send().await.unwrap();
    out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
}

/// Waits until the task is STOPPED and returns it.
async fn stopped_task(c: &Clients, task_arn: &str) -> ferry_aws::ecs::types::Task {
    eventually("the task to stop", 20, || async {
        let t = c.ecs.describe_tasks().cluster(CLUSTER).tasks(task_arn).send().await.unwrap().tasks()[0].clone();
        (t.last_status() == Some("STOPPED")).then_some(t)
    })
    .await
}

/// Creates service "web" of `task_definition` with ECS's default deployment configuration.
async fn create_web_service(c: &Clients, task_definition: &str, desired: i32) {
    c.ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(task_definition)
        .desired_count(desired)
        .send()
        .await
        .unwrap();
}

/// Creates service "web" of `task_definition` with the given deployment configuration.
async fn create_web_service_with(c: &Clients, task_definition: &str, desired: i32, config: DeploymentConfiguration) {
    c.ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(task_definition)
        .desired_count(desired)
        .deployment_configuration(config)
        .send()
        .await
        .unwrap();
}

fn breaker(rollback: bool) -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(rollback).build())
        .build()
}

async fn service(c: &Clients, name: &str) -> ferry_aws::ecs::types::Service {
    let out = c.ecs.describe_services().cluster(CLUSTER).services(name).send().await.unwrap();
    out.services().first().cloned().unwrap()
}

async fn running_tasks(c: &Clients, name: &str) -> Vec<ferry_aws::ecs::types::Task> {
    let arns = c.ecs.list_tasks().cluster(CLUSTER).service_name(name).send().await.unwrap().task_arns().to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(arns)).send().await.unwrap().tasks().to_vec()
}

/// Waits until the newest service deployment reaches a terminal status and returns it.
async fn settle(c: &Clients, name: &str) -> ServiceDeploymentStatus {
    eventually("a terminal service deployment status", 90, || async {
        let listed = c.ecs.list_service_deployments().cluster(CLUSTER).service(name).send().await.unwrap();
        let status = listed.service_deployments().first()?.status()?.clone();
        use ServiceDeploymentStatus as S;
        matches!(status, S::Successful | S::RollbackSuccessful | S::RollbackFailed | S::Stopped).then_some(status)
    })
    .await
}

async fn version_of(port: i32) -> String {
    let body: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/")).await.unwrap().json().await.unwrap();
    body["version"].as_str().unwrap().to_string()
}

async fn answering_versions(c: &Clients, name: &str) -> Vec<String> {
    let mut versions = Vec::new();
    for task in running_tasks(c, name).await {
        let port = task.containers()[0].network_bindings()[0].host_port().unwrap();
        versions.push(version_of(port).await);
    }
    versions.sort();
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_rolls_forward_trips_the_circuit_breaker_rolls_back_and_replaces_a_stopped_task() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let v1 = register(c, "web", "sample:1.0", &[("VERSION", "1.0")], true).await;
    create_web_service_with(c, &v1, 2, breaker(true)).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    assert_eq!(answering_versions(c, "web").await, vec!["1.0", "1.0"], "both tasks answer HTTP on their ports");
    let first_tasks: Vec<String> = running_tasks(c, "web").await.iter().map(|t| t.task_arn().unwrap().to_string()).collect();

    // Update to a new revision: SUCCESSFUL/COMPLETED, old tasks stopped.
    let v2 = register(c, "web", "sample:2.0", &[("VERSION", "2.0")], true).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v2).send().await.unwrap();
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    let s = service(c, "web").await;
    assert_eq!(s.deployments().len(), 1);
    assert_eq!(s.deployments()[0].task_definition(), Some(v2.as_str()));
    assert_eq!(s.deployments()[0].rollout_state().map(|r| r.as_str()), Some("COMPLETED"));
    assert_eq!(s.running_count(), 2);
    assert!(s.events()[0].message().unwrap().contains("has reached a steady state"));
    let old = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(first_tasks)).send().await.unwrap();
    for t in old.tasks() {
        assert_eq!(t.last_status(), Some("STOPPED"));
        assert_eq!(t.stop_code().map(|s| s.as_str()), Some("ServiceSchedulerInitiated"));
    }
    assert_eq!(answering_versions(c, "web").await, vec!["2.0", "2.0"]);

    // A revision whose process exits 1: circuit breaker, rollback to v2.
    let v3 = register(c, "web", "sample:3.0", &[("SAMPLE_FAIL_AT_START", "1")], true).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v3).send().await.unwrap();
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::RollbackSuccessful);
    let s = service(c, "web").await;
    assert_eq!(s.task_definition(), Some(v2.as_str()), "rolled back to the previous revision");
    assert_eq!(s.running_count(), s.desired_count());
    assert_eq!(s.deployments().len(), 1);
    let sd_arn = c.ecs.list_service_deployments().cluster(CLUSTER).service("web").send().await.unwrap().service_deployments()[0]
        .service_deployment_arn()
        .unwrap()
        .to_string();
    let sd = c.ecs.describe_service_deployments().service_deployment_arns(sd_arn).send().await.unwrap();
    let sd = &sd.service_deployments()[0];
    assert_eq!(sd.deployment_circuit_breaker().unwrap().status().map(|s| s.as_str()), Some("TRIGGERED"));
    assert!(sd.deployment_circuit_breaker().unwrap().failure_count() >= 3);
    assert!(sd.rollback().unwrap().reason().unwrap().contains("circuit breaker"));
    let stopped = c.ecs.list_tasks().cluster(CLUSTER).service_name("web").desired_status(DesiredStatus::Stopped).send().await.unwrap();
    let stopped = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(stopped.task_arns().to_vec())).send().await.unwrap();
    let failed = stopped.tasks().iter().find(|t| t.task_definition_arn() == Some(v3.as_str())).expect("a failed v3 task");
    assert_eq!(failed.stop_code().map(|s| s.as_str()), Some("EssentialContainerExited"));
    assert_eq!(failed.containers()[0].exit_code(), Some(1));

    // Stop a task by hand: the scheduler replaces it.
    let victim = running_tasks(c, "web").await[0].task_arn().unwrap().to_string();
    c.ecs.stop_task().cluster(CLUSTER).task(&victim).reason("chaos").send().await.unwrap();
    eventually("a replacement task", 30, || async {
        let tasks = running_tasks(c, "web").await;
        let running = tasks.iter().filter(|t| t.last_status() == Some("RUNNING")).count();
        (running == 2 && tasks.iter().all(|t| t.task_arn() != Some(victim.as_str()))).then_some(())
    })
    .await;
    let stopped = c.ecs.describe_tasks().cluster(CLUSTER).tasks(&victim).send().await.unwrap();
    assert_eq!(stopped.tasks()[0].stopped_reason(), Some("chaos"));
    assert_eq!(stopped.tasks()[0].stop_code().map(|s| s.as_str()), Some("UserInitiated"));
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_ecr_image_is_missing_stops_with_cannot_pull_container_error() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    c.ecr.create_repository().repository_name("web").send().await.unwrap();
    let image = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web:missing");
    let td = register(c, "pull", &image, &[], false).await;
    let run = c.ecs.run_task().cluster(CLUSTER).task_definition(&td).send().await.unwrap();
    let arn = run.tasks()[0].task_arn().unwrap().to_string();
    let task = stopped_task(c, &arn).await;
    assert_eq!(task.stop_code().map(|s| s.as_str()), Some("TaskFailedToStart"));
    assert!(task.stopped_reason().unwrap().starts_with("CannotPullContainerError"), "{:?}", task.stopped_reason());
    local.server.shutdown().await;
}

fn manifest(seed: &str) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{:0>64}", seed), "size": 10},
        "layers": []
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_redeploy_picks_up_a_moved_tag_and_the_old_revision_keeps_its_digest() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    c.ecr.create_repository().repository_name("web").send().await.unwrap();
    let put = |m: String, tag: &'static str| c.ecr.put_image().repository_name("web").image_manifest(m).image_tag(tag).send();
    let first = put(manifest("aa"), "prod").await.unwrap().image().unwrap().image_id().unwrap().image_digest().unwrap().to_string();
    let image = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web:prod");
    let td = register(c, "envtag", &image, &[], false).await;
    create_web_service(c, &td, 1).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    assert_eq!(running_tasks(c, "web").await[0].containers()[0].image_digest(), Some(first.as_str()));

    // Move the tag the way people retag with the CLI: BatchGetImage + PutImage.
    let second = put(manifest("bb"), "build-2").await.unwrap().image().unwrap().image_id().unwrap().image_digest().unwrap().to_string();
    let got = c
        .ecr
        .batch_get_image()
        .repository_name("web")
        .image_ids(ferry_aws::ecr::types::ImageIdentifier::builder().image_tag("build-2").build())
        .send()
        .await
        .unwrap();
    let raw = got.images()[0].image_manifest().unwrap().to_string();
    let moved = c.ecr.put_image().repository_name("web").image_manifest(raw.clone()).image_tag("prod").send().await.unwrap();
    assert_eq!(moved.image().unwrap().image_id().unwrap().image_digest(), Some(second.as_str()), "retag keeps the digest");
    let again = c.ecr.put_image().repository_name("web").image_manifest(raw).image_tag("prod").send().await;
    assert_eq!(again.unwrap_err().into_service_error().meta().code(), Some("ImageAlreadyExistsException"));

    c.ecs.update_service().cluster(CLUSTER).service("web").force_new_deployment(true).send().await.unwrap();
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    assert_eq!(running_tasks(c, "web").await[0].containers()[0].image_digest(), Some(second.as_str()));
    // Each service revision keeps the digest its deployment resolved.
    let listed = c.ecs.list_service_deployments().cluster(CLUSTER).service("web").send().await.unwrap();
    let revisions: Vec<String> =
        listed.service_deployments().iter().map(|d| d.target_service_revision_arn().unwrap().to_string()).collect();
    let described = c.ecs.describe_service_revisions().set_service_revision_arns(Some(revisions)).send().await.unwrap();
    let digests: Vec<&str> = described.service_revisions().iter().map(|r| r.container_images()[0].image_digest().unwrap()).collect();
    assert_eq!(digests, vec![second.as_str(), first.as_str()]);
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_aws_error_and_change_nothing() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let td = register(c, "web", "sample:1", &[], false).await;
    create_web_service(c, &td, 0).await;
    let snapshot = || async {
        let services = c.ecs.list_services().cluster(CLUSTER).send().await.unwrap().service_arns().to_vec();
        let defs = c.ecs.list_task_definitions().send().await.unwrap().task_definition_arns().to_vec();
        let s = service(c, "web").await;
        (services, defs, s.task_definition().map(str::to_string), s.desired_count(), s.deployments().len())
    };
    let before = snapshot().await;

    let err = c.ecs.update_service().cluster("nope").service("web").desired_count(3).send().await.unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("ClusterNotFoundException"));
    let err = c.ecs.update_service().cluster(CLUSTER).service("web").task_definition("missing:9").send().await.unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("InvalidParameterException"));
    let err = c
        .ecs
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .desired_count(2)
        .deployment_configuration(DeploymentConfiguration::builder().maximum_percent(50).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("InvalidParameterException"));
    let err = c.ecs.create_service().cluster(CLUSTER).service_name("web").task_definition(&td).send().await.unwrap_err();
    assert_eq!(err.into_service_error().meta().message(), Some("Creation of service was not idempotent."));
    let err = c
        .ecs
        .register_task_definition()
        .family("bad")
        .container_definitions(ContainerDefinition::builder().name("x").image("i").build())
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().meta().message().unwrap().contains("memory"));
    let err = c.ecs.describe_task_definition().task_definition("ghost").send().await.unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("ClientException"));

    // Wrong JSON types and unknown actions, as a hand-written client might send them.
    let http = reqwest::Client::new();
    let raw = |target: &str, body: &str| {
        http.post(local.server.endpoint())
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", format!("AmazonEC2ContainerServiceV20141113.{target}"))
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/ecs/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .body(body.to_string())
            .send()
    };
    let r = raw("UpdateService", r#"{"cluster":"test","service":"web","desiredCount":"two"}"#).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "SerializationException");
    assert!(body["message"].as_str().unwrap().contains("desiredCount"));
    let r = raw("RegisterTaskDefinition", r#"{"containerDefinitions":[]}"#).await.unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "InvalidParameterException");
    assert!(body["message"].as_str().unwrap().contains("'family'"));
    let r = raw("LaunchRockets", "{}").await.unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "UnknownOperationException");
    let r = http
        .post(local.server.endpoint())
        .header("x-amz-target", "AmazonEC2ContainerServiceV20141113.ListClusters")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");

    assert_eq!(snapshot().await, before, "failed requests changed nothing");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_scalable_target_keeps_desired_count_in_range_until_deregistered() {
    use ferry_aws::autoscaling::types::{ScalableDimension, ServiceNamespace};
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let td = register(c, "web", "sample:1", &[], false).await;
    create_web_service(c, &td, 1).await;
    let resource = format!("service/{CLUSTER}/web");
    c.autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(2)
        .max_capacity(4)
        .send()
        .await
        .unwrap();
    assert_eq!(service(c, "web").await.desired_count(), 2, "registering raises capacity to the minimum");
    let described = c.autoscaling.describe_scalable_targets().service_namespace(ServiceNamespace::Ecs).send().await.unwrap();
    assert_eq!(described.scalable_targets()[0].min_capacity(), 2);

    // The trap: scaling to zero without deregistering does not stick.
    let updated = c.ecs.update_service().cluster(CLUSTER).service("web").desired_count(0).send().await.unwrap();
    assert_eq!(updated.service().unwrap().desired_count(), 0);
    eventually("auto scaling to restore the minimum", 15, || async { (service(c, "web").await.desired_count() == 2).then_some(()) }).await;

    c.autoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .unwrap();
    c.ecs.update_service().cluster(CLUSTER).service("web").desired_count(0).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(ferry_local_reaction_ms() + 500)).await;
    assert_eq!(service(c, "web").await.desired_count(), 0, "after deregistering, zero sticks");
    let err = c
        .autoscaling
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("ObjectNotFoundException"));
    local.server.shutdown().await;
}

/// Application Auto Scaling's reaction delay in ferry local (2 s, see autoscaling.rs).
fn ferry_local_reaction_ms() -> u64 {
    2000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_services_start_their_tasks_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let local = start_in(dir).await;
    let c = &local.clients;
    let cluster =
        c.ecs.create_cluster().cluster_name(CLUSTER).tags(Tag::builder().key("team").value("platform").build()).send().await.unwrap();
    let cluster_arn = cluster.cluster().unwrap().cluster_arn().unwrap().to_string();
    c.ecr.create_repository().repository_name("web").send().await.unwrap();
    c.ecr.put_image().repository_name("web").image_manifest(manifest("cc")).image_tag("1").send().await.unwrap();
    let td = register(c, "web", "sample:1", &[], false).await;
    create_web_service(c, &td, 2).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    let before: Vec<String> = running_tasks(c, "web").await.iter().map(|t| t.task_arn().unwrap().to_string()).collect();
    let Local { server, _dir, .. } = local;
    server.shutdown().await;

    let server = LocalServer::start(Options { port: 0, state_dir: path, ..Default::default() }).await.unwrap();
    let c = Clients::new(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    let tags = c.ecs.list_tags_for_resource().resource_arn(&cluster_arn).send().await.unwrap();
    assert_eq!(tags.tags()[0].value(), Some("platform"));
    let images = c.ecr.list_images().repository_name("web").send().await.unwrap();
    assert_eq!(images.image_ids()[0].image_tag(), Some("1"));
    assert_eq!(service(&c, "web").await.task_definition(), Some(td.as_str()));
    let after = eventually("the service's tasks to run again", 30, || async {
        let tasks = running_tasks(&c, "web").await;
        let running: Vec<String> =
            tasks.iter().filter(|t| t.last_status() == Some("RUNNING")).map(|t| t.task_arn().unwrap().to_string()).collect();
        (running.len() == 2).then_some(running)
    })
    .await;
    assert!(after.iter().all(|a| !before.contains(a)), "tasks are new, as after a host restart");
    let old = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(before)).send().await.unwrap();
    assert!(old.tasks().iter().all(|t| t.last_status() == Some("STOPPED")));
    server.shutdown().await;
    drop(_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_service_deployment_rolls_back_a_deployment_that_never_gets_healthy() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let good = register(c, "web", "sample:1", &[("VERSION", "good")], true).await;
    create_web_service(c, &good, 1).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    // Unhealthy tasks keep being replaced; with no circuit breaker the deployment never ends.
    let sick = register(c, "web", "sample:2", &[("SAMPLE_FAIL_HEALTH", "1")], true).await;
    c.ecs
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .task_definition(&sick)
        .health_check_grace_period_seconds(0)
        .send()
        .await
        .unwrap();
    let arn = eventually("the new deployment to be in progress", 20, || async {
        let listed = c.ecs.list_service_deployments().cluster(CLUSTER).service("web").send().await.unwrap();
        let d = listed.service_deployments().first()?;
        (d.status() == Some(&ServiceDeploymentStatus::InProgress)).then(|| d.service_deployment_arn().unwrap().to_string())
    })
    .await;
    eventually("a sick task to be stopped for failing health checks", 30, || async {
        let s = service(c, "web").await;
        s.events().iter().any(|e| e.message().unwrap_or_default().contains("failed container health checks")).then_some(())
    })
    .await;
    c.ecs.stop_service_deployment().service_deployment_arn(&arn).stop_type("ROLLBACK".into()).send().await.unwrap();
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::RollbackSuccessful);
    assert_eq!(answering_versions(c, "web").await, vec!["good"]);
    let again = c.ecs.stop_service_deployment().service_deployment_arn(&arn).send().await.unwrap_err();
    assert_eq!(again.into_service_error().meta().code(), Some("ConflictException"));
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_throttling_and_server_errors_are_absorbed_by_the_sdk_retry() {
    let local = start().await;
    let c = &local.clients;
    let admin = reqwest::Client::new();
    for (error, status) in [("ThrottlingException", 400), ("ServiceUnavailableException", 503)] {
        let r = admin
            .post(format!("{}/_ferry/faults", local.server.endpoint()))
            .json(&serde_json::json!({"action": "ecs:*", "error": error, "status": status, "probability": 0.1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    // 30 calls at a 19 % error rate: some are certainly retried (p(no fault) < 0.1 %),
    // none fails 8 times in a row in practice.
    for i in 0..30 {
        c.ecs
            .register_task_definition()
            .family(format!("f{}", i % 3))
            .container_definitions(ContainerDefinition::builder().name("a").image("i").memory(8).command("true").build())
            .send()
            .await
            .unwrap();
    }
    // Every page of a paginated list arrives despite the faults.
    let all: Vec<String> =
        c.ecs.list_task_definitions().max_results(7).into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.unwrap();
    assert_eq!(all.len(), 30);
    let status: serde_json::Value =
        admin.get(format!("{}/_ferry/status", local.server.endpoint())).send().await.unwrap().json().await.unwrap();
    assert!(status["injectedErrors"].as_u64().unwrap() > 0, "faults were injected: {status}");
    // A bad admin request is refused and adds nothing.
    let r = admin
        .post(format!("{}/_ferry/faults", local.server.endpoint()))
        .json(&serde_json::json!({"action": "*", "probability": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let faults: serde_json::Value =
        admin.get(format!("{}/_ferry/faults", local.server.endpoint())).send().await.unwrap().json().await.unwrap();
    assert_eq!(faults["faults"].as_array().unwrap().len(), 2);
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_task_overrides_and_logs_reach_the_process() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let arn = register_shell_job(c, "job", "echo original", None).await;
    let run = c
        .ecs
        .run_task()
        .cluster(CLUSTER)
        .task_definition(&arn)
        .overrides(
            ferry_aws::ecs::types::TaskOverride::builder()
                .container_overrides(
                    ferry_aws::ecs::types::ContainerOverride::builder()
                        .name("main")
                        .command("-c")
                        .command("echo hello $GREETING; exit 7")
                        .environment(KeyValuePair::builder().name("GREETING").value("from ferry").build())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let task_arn = run.tasks()[0].task_arn().unwrap().to_string();
    let task = stopped_task(c, &task_arn).await;
    assert_eq!(task.containers()[0].exit_code(), Some(7));
    assert_eq!(task.stop_code().map(|s| s.as_str()), Some("EssentialContainerExited"));
    let id = task_arn.rsplit('/').next().unwrap();
    let log = std::fs::read_to_string(ferry_local::task_log_dir(local._dir.path(), id).join("main.log")).unwrap();
    assert_eq!(log.trim(), "hello from ferry");
    // startedBy: at most 36 of ECS's characters; refused otherwise, with no task started.
    for bad in ["a".repeat(37), "job:1".to_string()] {
        let err = c.ecs.run_task().cluster(CLUSTER).task_definition(&arn).started_by(&bad).send().await.unwrap_err();
        assert_eq!(err.as_service_error().and_then(|e| e.meta().code()), Some("InvalidParameterException"), "{bad}");
    }
    let ok = c.ecs.run_task().cluster(CLUSTER).task_definition(&arn).started_by("fd-0123456789ab/before_x-Y").send().await.unwrap();
    assert_eq!(ok.tasks().len(), 1);
    let listed =
        c.ecs.list_tasks().cluster(CLUSTER).family("job").desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped).send().await;
    let running = c.ecs.list_tasks().cluster(CLUSTER).family("job").send().await.unwrap();
    assert_eq!(listed.unwrap().task_arns().len() + running.task_arns().len(), 2, "the refused runs started nothing");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_task_sends_sigterm_then_sigkill_after_the_stop_timeout() {
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    // Ignores SIGTERM (and so does its child), so only SIGKILL ends it.
    let arn = register_shell_job(c, "stubborn", "trap '' TERM; echo started; sleep 60", Some(1)).await;
    let run = c.ecs.run_task().cluster(CLUSTER).task_definition(&arn).send().await.unwrap();
    let task_arn = run.tasks()[0].task_arn().unwrap().to_string();
    let id = task_arn.rsplit('/').next().unwrap().to_string();
    let log = ferry_local::task_log_dir(local._dir.path(), &id).join("main.log");
    eventually("the process to start", 20, || async { std::fs::read_to_string(&log).ok().filter(|l| l.contains("started")) }).await;
    c.ecs.stop_task().cluster(CLUSTER).task(&task_arn).send().await.unwrap();
    let task = stopped_task(c, &task_arn).await;
    assert_eq!(task.containers()[0].exit_code(), Some(128 + 9), "killed by SIGKILL");
    let stopping = task.stopping_at().unwrap().as_secs_f64();
    let stopped = task.stopped_at().unwrap().as_secs_f64();
    assert!(stopped - stopping >= 1.0, "SIGKILL came only after stopTimeout ({stopping} → {stopped})");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_task_crashes_are_replaced_by_the_scheduler() {
    let local = start().await;
    let c = &local.clients;
    let admin = reqwest::Client::new();
    let r = admin
        .post(format!("{}/_ferry/task-faults", local.server.endpoint()))
        .json(&serde_json::json!({"family": "flaky", "crashAfterSeconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let td = register(c, "flaky", "sample:1", &[], false).await;
    create_web_service(c, &td, 1).await;
    let crashed = eventually("a crashed task", 30, || async {
        let listed = c.ecs.list_tasks().cluster(CLUSTER).service_name("web").desired_status(DesiredStatus::Stopped).send().await.unwrap();
        let arn = listed.task_arns().first()?.clone();
        let t = c.ecs.describe_tasks().cluster(CLUSTER).tasks(arn).send().await.unwrap().tasks()[0].clone();
        (t.last_status() == Some("STOPPED")).then_some(t)
    })
    .await;
    assert_eq!(crashed.stop_code().map(|s| s.as_str()), Some("EssentialContainerExited"));
    assert_eq!(crashed.containers()[0].exit_code(), Some(137));
    let r = admin.delete(format!("{}/_ferry/task-faults", local.server.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 204);
    eventually("a replacement that keeps running", 30, || async {
        let s = service(c, "web").await;
        let tasks = running_tasks(c, "web").await;
        let up_for_2s = tasks.iter().any(|t| {
            t.last_status() == Some("RUNNING")
                && t.started_at().is_some_and(|s| {
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() - s.as_secs_f64() > 2.0
                })
        });
        (s.running_count() == 1 && up_for_2s).then_some(())
    })
    .await;
    local.server.shutdown().await;
}

/// The service's RUNNING task ARNs, sorted.
async fn running_arns(c: &Clients, name: &str) -> Vec<String> {
    let mut arns: Vec<String> = running_tasks(c, name)
        .await
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .filter_map(|t| t.task_arn().map(str::to_string))
        .collect();
    arns.sort();
    arns
}

/// The newest service deployment of `name`, described.
async fn newest_service_deployment(c: &Clients, name: &str) -> ferry_aws::ecs::types::ServiceDeployment {
    let listed = c.ecs.list_service_deployments().cluster(CLUSTER).service(name).send().await.unwrap();
    let arn = listed.service_deployments()[0].service_deployment_arn().unwrap().to_string();
    c.ecs.describe_service_deployments().service_deployment_arns(arn).send().await.unwrap().service_deployments()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_breaker_rollback_reactivates_the_completed_deployment_and_keeps_its_tasks() {
    // ECS rolls back by making the last COMPLETED deployment PRIMARY again (its id, its
    // tasks), scaling the failed one to 0 — not by a new deployment that replaces every
    // healthy task.
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let v1 = register(c, "web", "sample:1.0", &[("VERSION", "1.0")], true).await;
    create_web_service_with(c, &v1, 2, breaker(true)).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    let good = service(c, "web").await;
    let good_id = good.deployments()[0].id().unwrap().to_string();
    let good_tasks = running_arns(c, "web").await;
    let good_revision = newest_service_deployment(c, "web").await.target_service_revision().unwrap().arn().unwrap().to_string();

    let v2 = register(c, "web", "sample:2.0", &[("SAMPLE_FAIL_AT_START", "1")], true).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v2).send().await.unwrap();
    let failed_id = service(c, "web").await.deployments()[0].id().unwrap().to_string();
    assert_ne!(failed_id, good_id);

    // While it rolls back: the old deployment is PRIMARY again, the failed one ACTIVE, FAILED, 0 desired.
    let during = eventually("the old deployment to be PRIMARY again", 60, || async {
        let s = service(c, "web").await;
        (s.deployments()[0].id() == Some(good_id.as_str())).then_some(s)
    })
    .await;
    if let Some(failed) = during.deployments().iter().find(|d| d.id() == Some(failed_id.as_str())) {
        assert_eq!(failed.status(), Some("ACTIVE"));
        assert_eq!(failed.rollout_state().map(|r| r.as_str()), Some("FAILED"));
        assert_eq!(failed.desired_count(), 0);
    }
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::RollbackSuccessful);

    let after = service(c, "web").await;
    let ids: Vec<&str> = after.deployments().iter().filter_map(|d| d.id()).collect();
    assert_eq!(ids, vec![good_id.as_str()], "the reactivated deployment, with its old id");
    assert_eq!(after.deployments()[0].rollout_state().map(|r| r.as_str()), Some("COMPLETED"));
    assert_eq!(after.task_definition(), Some(v1.as_str()));
    assert_eq!(running_arns(c, "web").await, good_tasks, "no healthy task was replaced");
    let sd = newest_service_deployment(c, "web").await;
    assert_eq!(sd.status(), Some(&ServiceDeploymentStatus::RollbackSuccessful));
    assert_eq!(sd.rollback().unwrap().service_revision_arn(), Some(good_revision.as_str()));
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_deploy_with_min_100_max_100_and_one_task_rolls_back_with_stop_service_deployment() {
    // minimumHealthyPercent 100 and maximumPercent 100 with one task: ECS may neither start a
    // new task nor stop the old one. Rolling back used to create a third deployment that
    // could not start a task either; reactivating the old one finishes at once.
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let v1 = register(c, "web", "sample:1.0", &[("VERSION", "1.0")], false).await;
    let config = DeploymentConfiguration::builder().minimum_healthy_percent(100).maximum_percent(100).build();
    create_web_service_with(c, &v1, 1, config).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    let good_id = service(c, "web").await.deployments()[0].id().unwrap().to_string();
    let good_tasks = running_arns(c, "web").await;

    let v2 = register(c, "web", "sample:2.0", &[("VERSION", "2.0")], false).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v2).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sd = newest_service_deployment(c, "web").await;
    assert_eq!(sd.status(), Some(&ServiceDeploymentStatus::InProgress), "stuck, as on ECS");
    assert_eq!(running_arns(c, "web").await, good_tasks);

    c.ecs
        .stop_service_deployment()
        .service_deployment_arn(sd.service_deployment_arn().unwrap())
        .stop_type(ferry_aws::ecs::types::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .unwrap();
    let right_after = newest_service_deployment(c, "web").await.status().cloned();
    assert!(
        matches!(
            right_after,
            Some(
                ServiceDeploymentStatus::RollbackRequested
                    | ServiceDeploymentStatus::RollbackInProgress
                    | ServiceDeploymentStatus::RollbackSuccessful
            )
        ),
        "{right_after:?}"
    );
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::RollbackSuccessful);
    let after = service(c, "web").await;
    let ids: Vec<&str> = after.deployments().iter().filter_map(|d| d.id()).collect();
    assert_eq!(ids, vec![good_id.as_str()], "two deployments at most, never three; the old one is back");
    assert_eq!(after.task_definition(), Some(v1.as_str()));
    assert_eq!(running_arns(c, "web").await, good_tasks);
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_superseded_by_a_new_deployment_is_stopped_not_left_in_progress() {
    // minimumHealthyPercent 0: the bad deployment replaces the old tasks, so the reactivated
    // deployment must start tasks again (4 s each), which leaves time to supersede it.
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let slow = register(c, "web", "sample:1.0", &[("VERSION", "1.0"), ("SAMPLE_START_DELAY_MS", "4000")], false).await;
    let config = DeploymentConfiguration::builder()
        .minimum_healthy_percent(0)
        .maximum_percent(100)
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .build();
    create_web_service_with(c, &slow, 2, config).await;
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    let bad = register(c, "web", "sample:2.0", &[("SAMPLE_FAIL_AT_START", "1")], false).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&bad).send().await.unwrap();
    let rolling_back = eventually("a rollback in progress", 60, || async {
        let sd = newest_service_deployment(c, "web").await;
        matches!(sd.status(), Some(ServiceDeploymentStatus::RollbackRequested | ServiceDeploymentStatus::RollbackInProgress))
            .then(|| sd.service_deployment_arn().unwrap().to_string())
    })
    .await;

    let good = register(c, "web", "sample:3.0", &[("VERSION", "3.0")], false).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&good).send().await.unwrap();
    assert_eq!(settle(c, "web").await, ServiceDeploymentStatus::Successful);
    let described = c.ecs.describe_service_deployments().service_deployment_arns(&rolling_back).send().await.unwrap();
    let sd = &described.service_deployments()[0];
    assert_eq!(sd.status(), Some(&ServiceDeploymentStatus::Stopped), "superseded, as any deployment in progress is");
    assert!(sd.started_at().unwrap().secs() >= sd.created_at().unwrap().secs(), "started no earlier than created");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_tasks_whose_health_is_not_yet_known_are_not_stopped_before_new_ones_are_healthy() {
    // Deploying right after the old tasks started: their health check (every 5 s) has not
    // answered, so they are UNKNOWN — not healthy, but not unhealthy either. With
    // minimumHealthyPercent 100 they used to be stopped at once, leaving nothing running.
    let local = start().await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let with_slow_check = |version: &str| sample_container(&format!("sample:{version}"), &[("VERSION", version)], Some(5));
    let v1 = c.ecs.register_task_definition().family("web").container_definitions(with_slow_check("1.0")).send().await.unwrap();
    let v1 = v1.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    create_web_service(c, &v1, 2).await;
    let old = eventually("two old tasks RUNNING", 30, || async {
        let arns = running_arns(c, "web").await;
        (arns.len() == 2).then_some(arns)
    })
    .await;
    let v2 = c.ecs.register_task_definition().family("web").container_definitions(with_slow_check("2.0")).send().await.unwrap();
    let v2 = v2.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v2).send().await.unwrap();

    // Until the rollout completes, old tasks still running plus new tasks HEALTHY are never
    // fewer than the minimum (2): nothing stops an old task before a new one is healthy.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tasks = running_tasks(c, "web").await;
        let old_running = tasks
            .iter()
            .filter(|t| old.iter().any(|a| Some(a.as_str()) == t.task_arn()))
            .filter(|t| t.last_status() == Some("RUNNING") && t.desired_status() == Some("RUNNING"))
            .count();
        let new_healthy = tasks
            .iter()
            .filter(|t| t.task_definition_arn() == Some(v2.as_str()))
            .filter(|t| t.health_status().map(|h| h.as_str()) == Some("HEALTHY"))
            .count();
        assert!(old_running + new_healthy >= 2, "old running {old_running} + new healthy {new_healthy} < 2");
        let s = service(c, "web").await;
        if s.deployments().len() == 1 && s.deployments()[0].rollout_state().map(|r| r.as_str()) == Some("COMPLETED") {
            break;
        }
        assert!(Instant::now() < deadline, "the rollout did not complete");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    local.server.shutdown().await;
}
