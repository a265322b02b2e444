//! ECS services behind an Application Load Balancer on ferry local, driven through the
//! official AWS SDK for Rust (the ECS and ELBv2 clients, only the endpoint URL changed), with
//! real task processes (the hidden `ferry sample-app`) and real HTTP through the listener:
//! tasks registered once RUNNING, healthy by the load balancer's checks, drained before they
//! stop, and a rolling deployment under a request loop that loses no request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferry_aws::Clients;
use ferry_aws::ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, KeyValuePair, LoadBalancer, PortMapping,
    ServiceDeploymentStatus,
};
use ferry_aws::elbv2::types::TargetTypeEnum;

use crate::elb_support::*;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const CLUSTER: &str = "test";

fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// A revision of the sample app answering `version` on container port 8080; `env` adds
/// environment variables (SAMPLE_* misbehaviours).
async fn register(c: &Clients, version: &str, env: &[(&str, &str)]) -> String {
    let env = [("VERSION", version)].into_iter().chain(env.iter().copied());
    let container = ContainerDefinition::builder()
        .name("app")
        .image(format!("sample:{version}"))
        .memory(64)
        .entry_point(ferry_bin())
        .command("sample-app")
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .stop_timeout(2)
        .set_environment(Some(env.map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect()))
        .build();
    let out = c.ecs.register_task_definition().family("web").container_definitions(container).send().await.unwrap();
    out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
}

/// A load balancer and where to reach it.
struct Balancer {
    /// `http://<DNSName>:<listener port>`.
    url: String,
    target_group: String,
}

/// Load balancer "web" with an HTTP listener (on a free port of its address) whose default
/// action forwards to target group "web": `instance` targets (the sample app's task
/// definition uses the default `bridge` network mode), health checks on `/health` every 5 s
/// (scaled), 2 passes or failures to decide, a deregistration delay of `delay` seconds.
async fn balancer(c: &Clients, delay: u32) -> Balancer {
    let lb = c
        .elbv2
        .create_load_balancer()
        .name("web")
        .subnets("subnet-aaaa")
        .subnets("subnet-bbbb")
        .security_groups("sg-1234")
        .send()
        .await
        .unwrap();
    let lb = &lb.load_balancers()[0];
    let dns = lb.dns_name().unwrap().to_string();
    let target_group = health_checked_group(&c.elbv2, "web", 8080, lb.vpc_id().unwrap(), TargetTypeEnum::Instance).await;
    set_deregistration_delay(&c.elbv2, &target_group, delay).await;
    let port = free_port(&dns);
    create_listener(&c.elbv2, lb.load_balancer_arn().unwrap(), port, forward(&target_group)).await;
    Balancer { url: format!("http://{dns}:{port}"), target_group }
}

/// Service "web" of `task_definition` behind `target_group` (container "app", port 8080),
/// minimum healthy 100 %, maximum 200 %, with the circuit breaker (and rollback) on.
async fn create_service(c: &Clients, task_definition: &str, target_group: &str, desired: i32) {
    let configuration = DeploymentConfiguration::builder()
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .build();
    c.ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(task_definition)
        .desired_count(desired)
        .deployment_configuration(configuration)
        .load_balancers(LoadBalancer::builder().target_group_arn(target_group).container_name("app").container_port(8080).build())
        .send()
        .await
        .unwrap();
}

/// DescribeTargetHealth as (port, state) pairs, sorted.
async fn targets(c: &Clients, target_group: &str) -> Vec<(i32, String)> {
    let out = c.elbv2.describe_target_health().target_group_arn(target_group).send().await.unwrap();
    let mut targets: Vec<(i32, String)> = out
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let port = d.target().and_then(|t| t.port()).unwrap_or_default();
            let state = d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default();
            (port, state)
        })
        .collect();
    targets.sort();
    targets
}

/// The host ports of the service's RUNNING tasks (container port 8080), sorted, by task ARN.
async fn task_ports(c: &Clients) -> Vec<(String, i32)> {
    let arns = c.ecs.list_tasks().cluster(CLUSTER).service_name("web").send().await.unwrap().task_arns().to_vec();
    if arns.is_empty() {
        return Vec::new();
    }
    let tasks = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(arns)).send().await.unwrap();
    let mut ports: Vec<(String, i32)> = tasks
        .tasks()
        .iter()
        .filter(|t| t.last_status() == Some("RUNNING"))
        .map(|t| (t.task_arn().unwrap().to_string(), t.containers()[0].network_bindings()[0].host_port().unwrap()))
        .collect();
    ports.sort_by_key(|(_, port)| *port);
    ports
}

async fn events(c: &Clients) -> Vec<String> {
    let out = c.ecs.describe_services().cluster(CLUSTER).services("web").send().await.unwrap();
    out.services()[0].events().iter().filter_map(|e| e.message().map(str::to_string)).collect()
}

/// Waits until the newest service deployment reaches a terminal status and returns it.
async fn settle(c: &Clients) -> ServiceDeploymentStatus {
    eventually("a terminal service deployment status", 120, || async {
        let listed = c.ecs.list_service_deployments().cluster(CLUSTER).service("web").send().await.unwrap();
        let status = listed.service_deployments().first()?.status()?.clone();
        use ServiceDeploymentStatus as S;
        matches!(status, S::Successful | S::RollbackSuccessful | S::RollbackFailed | S::Stopped).then_some(status)
    })
    .await
}

/// What a request loop saw.
#[derive(Default)]
struct Load {
    sent: u64,
    failed: Vec<String>,
    versions: std::collections::BTreeSet<String>,
}

/// Sends `path` through the listener over and over (keep-alive connections, as a browser or
/// another service would) until `stop` is set or `limit` requests were sent.
async fn request_loop(url: String, path: &'static str, stop: Arc<AtomicBool>, limit: u64) -> Load {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut load = Load::default();
    while !stop.load(Ordering::Relaxed) && load.sent < limit {
        load.sent += 1;
        match client.get(format!("{url}{path}")).send().await {
            Ok(response) if response.status().is_success() => match response.json::<serde_json::Value>().await {
                Ok(body) => {
                    load.versions.insert(body["version"].as_str().unwrap_or_default().to_string());
                }
                Err(e) => load.failed.push(format!("{path}: body: {e}")),
            },
            Ok(response) => load.failed.push(format!("{path}: {}", response.status())),
            Err(e) => load.failed.push(format!("{path}: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deployment_behind_a_listener_registers_drains_and_loses_no_request() {
    let local = start(ACCOUNT, REGION, FAST_HEALTH_CHECKS).await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    // A deregistration delay longer than the slowest request (1.5 s): each batch of old
    // tasks waits for it, as on AWS.
    let lb = balancer(c, 3).await;
    let v1 = register(c, "1.0", &[]).await;
    create_service(c, &v1, &lb.target_group, 2).await;

    // Both tasks registered with their host ports, and healthy by the load balancer's checks.
    let first = eventually("2 healthy targets", 60, || async {
        let targets = targets(c, &lb.target_group).await;
        (targets.len() == 2 && targets.iter().all(|(_, state)| state == "healthy")).then_some(targets)
    })
    .await;
    let ports: Vec<i32> = task_ports(c).await.iter().map(|(_, port)| *port).collect();
    assert_eq!(first.iter().map(|(port, _)| *port).collect::<Vec<_>>(), ports, "targets are the tasks' host ports");
    assert_eq!(settle(c).await, ServiceDeploymentStatus::Successful);
    let registered = format!("(service web) registered 1 targets in (target-group {})", lb.target_group);
    assert_eq!(events(c).await.iter().filter(|e| **e == registered).count(), 2, "{:?}", events(c).await);
    let old_tasks: Vec<String> = task_ports(c).await.into_iter().map(|(arn, _)| arn).collect();

    // A rolling deployment under a request loop, with slow requests in flight all along so
    // that the old targets have something to drain.
    let stop = Arc::new(AtomicBool::new(false));
    let fast = tokio::spawn(request_loop(lb.url.clone(), "/", Arc::clone(&stop), 20_000));
    let slow: Vec<_> = (0..4).map(|_| tokio::spawn(request_loop(lb.url.clone(), "/slow/1500", Arc::clone(&stop), 200))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v2 = register(c, "2.0", &[]).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v2).send().await.unwrap();

    let mut draining_seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let new_ports = loop {
        let now = targets(c, &lb.target_group).await;
        draining_seen.extend(now.iter().filter(|(_, state)| state == "draining").map(|(port, _)| *port));
        let tasks = task_ports(c).await;
        let settled = tasks.len() == 2 && tasks.iter().all(|(arn, _)| !old_tasks.contains(arn));
        if settled && now.len() == 2 && now.iter().all(|(_, state)| state == "healthy") {
            break tasks.into_iter().map(|(_, port)| port).collect::<Vec<_>>();
        }
        assert!(Instant::now() < deadline, "the rollout did not end: targets {now:?}, tasks {tasks:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(settle(c).await, ServiceDeploymentStatus::Successful);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut load = fast.await.unwrap();
    for handle in slow {
        let slow = handle.await.unwrap();
        load.sent += slow.sent;
        load.failed.extend(slow.failed);
    }

    assert!(load.failed.is_empty(), "{} of {} requests failed during the rollout: {:?}", load.failed.len(), load.sent, load.failed);
    assert!(load.sent >= 100, "only {} requests were sent during the rollout", load.sent);
    assert_eq!(load.versions.iter().map(String::as_str).collect::<Vec<_>>(), vec!["1.0", "2.0"], "traffic moved from 1.0 to 2.0");
    // The old targets drained (seen `draining`) and left; the new ones are the new tasks.
    assert!(!draining_seen.is_empty(), "no target was ever seen draining");
    assert!(draining_seen.iter().all(|port| ports.contains(port)), "only old targets drain: {draining_seen:?} vs {ports:?}");
    let last = targets(c, &lb.target_group).await;
    assert_eq!(last.iter().map(|(port, _)| *port).collect::<Vec<_>>(), new_ports);
    let events = events(c).await;
    assert!(events.iter().any(|e| e.starts_with("(service web) has begun draining connections on ")), "{events:?}");
    let deregistered = format!("(service web) deregistered 1 targets in (target-group {})", lb.target_group);
    assert_eq!(events.iter().filter(|e| **e == deregistered).count(), 2, "{events:?}");
    let old = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(old_tasks)).send().await.unwrap();
    for task in old.tasks() {
        assert_eq!((task.last_status(), task.stop_code().map(|s| s.as_str())), (Some("STOPPED"), Some("ServiceSchedulerInitiated")));
    }
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_failing_their_target_groups_health_checks_are_stopped_and_trip_the_circuit_breaker() {
    let local = start(ACCOUNT, REGION, FAST_HEALTH_CHECKS).await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let lb = balancer(c, 1).await;
    let v1 = register(c, "1.0", &[]).await;
    create_service(c, &v1, &lb.target_group, 1).await;
    assert_eq!(settle(c).await, ServiceDeploymentStatus::Successful);

    // /health answers 503: the new targets turn unhealthy, their tasks are stopped for it.
    let v2 = register(c, "2.0", &[("SAMPLE_FAIL_HEALTH", "1")]).await;
    c.ecs.update_service().cluster(CLUSTER).service("web").task_definition(&v2).send().await.unwrap();
    assert_eq!(settle(c).await, ServiceDeploymentStatus::RollbackSuccessful);
    let stopped = c.ecs.list_tasks().cluster(CLUSTER).service_name("web").desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped);
    let stopped = stopped.send().await.unwrap().task_arns().to_vec();
    let stopped = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(stopped)).send().await.unwrap();
    let reason = format!("Task failed ELB health checks in (target-group {})", lb.target_group);
    let failed = stopped.tasks().iter().filter(|t| t.task_definition_arn() == Some(v2.as_str())).collect::<Vec<_>>();
    assert!(failed.len() >= 3, "{} v2 tasks stopped", failed.len());
    assert!(
        failed.iter().all(|t| t.stopped_reason() == Some(reason.as_str())),
        "{:?}",
        failed.iter().map(|t| t.stopped_reason()).collect::<Vec<_>>()
    );
    let events = events(c).await;
    let unhealthy = format!(") is unhealthy in (target-group {}) due to (reason ", lb.target_group);
    assert!(events.iter().any(|e| e.contains(&unhealthy)), "{events:?}");
    // The rollback left the v1 task serving, healthy in the group.
    let s = c.ecs.describe_services().cluster(CLUSTER).services("web").send().await.unwrap();
    assert_eq!(s.services()[0].task_definition(), Some(v1.as_str()));
    let last = eventually("1 healthy target", 30, || async {
        let targets = targets(c, &lb.target_group).await;
        (targets.len() == 1).then_some(targets)
    })
    .await;
    assert_eq!(last[0].1, "healthy");
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_target_has_nothing_in_flight_gets_no_sigterm_before_the_deregistration_delay_is_over() {
    let local = start(ACCOUNT, REGION, FAST_HEALTH_CHECKS).await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let delay = 4;
    let lb = balancer(c, delay).await;
    let v1 = register(c, "1.0", &[]).await;
    create_service(c, &v1, &lb.target_group, 1).await;
    assert_eq!(settle(c).await, ServiceDeploymentStatus::Successful);
    let (task, port) = task_ports(c).await.remove(0);
    eventually("the target healthy", 30, || async { targets(c, &lb.target_group).await.contains(&(port, "healthy".into())).then_some(()) })
        .await;

    // No request at all: ELB completes the deregistration inside at once, but shows the
    // target draining until the delay is over, and ECS waits for what ELB shows.
    let stopped_at = Instant::now();
    c.ecs.stop_task().cluster(CLUSTER).task(&task).send().await.unwrap();
    let direct = reqwest::Client::new();
    let mut seen_draining = 0;
    let gone = loop {
        let state = targets(c, &lb.target_group).await.into_iter().find(|(p, _)| *p == port).map(|(_, s)| s);
        let described = c.ecs.describe_tasks().cluster(CLUSTER).tasks(&task).send().await.unwrap();
        let status = described.tasks()[0].last_status().unwrap_or_default().to_string();
        match state.as_deref() {
            None => break Instant::now(),
            Some("draining") => {
                seen_draining += 1;
                // Not SIGTERMed: DEACTIVATING (STOPPING is when SIGTERM is sent), and the
                // process still answers on its own port.
                assert_eq!(status, "DEACTIVATING", "the task moved on while its target was draining");
                let answer = direct.get(format!("http://127.0.0.1:{port}/health")).send().await;
                assert!(answer.is_ok_and(|r| r.status().is_success()), "the task stopped answering while its target was draining");
            }
            Some(_) => assert_eq!(status, "RUNNING"),
        }
        assert!(stopped_at.elapsed() < Duration::from_secs(60), "the target never left its group");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(seen_draining > 0, "the target was never seen draining");
    assert!(
        gone - stopped_at >= Duration::from_secs(u64::from(delay)),
        "the target left {:?} after StopTask, before its {delay} s delay",
        gone - stopped_at
    );
    // Its own record says the same: asked to stop, stopped only after the delay.
    let (stopping, stopped) = eventually("the task STOPPED", 30, || async {
        let described = c.ecs.describe_tasks().cluster(CLUSTER).tasks(&task).send().await.unwrap();
        let t = &described.tasks()[0];
        (t.last_status() == Some("STOPPED")).then(|| (t.stopping_at().unwrap().as_secs_f64(), t.stopped_at().unwrap().as_secs_f64()))
    })
    .await;
    assert!(
        stopped - stopping >= f64::from(delay),
        "stopped {:.1} s after StopTask, before its target's {delay} s delay",
        stopped - stopping
    );
    let deregistered = format!("(service web) deregistered 1 targets in (target-group {})", lb.target_group);
    assert!(events(c).await.contains(&deregistered));
    local.server.shutdown().await;
}
