//! blue-green, canary and linear deploys end to end on ferry local (issue 14): a service of
//! two awsvpc tasks behind target group `web-tg`, a *production* listener and a *preparing*
//! listener that Terraform would own, both forwarding to it; ferry brings each new version
//! up as its own service and target group, checks it through the preparing listener, moves
//! the production listener's weights, retires the old version and cleans up.
//!
//! A request loop runs through the production listener for the whole of each deploy and
//! counts every answer that is not 200 (or no answer at all).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ferry_aws::elbv2::types::TargetTypeEnum;
use ferry_local::Options;
use serde_json::Value;

use crate::common::*;
use crate::elb_support::*;

/// The template of these tests: awsvpc, no container health check (the load balancer's is
/// judged); a `-flaky` version answers 500 on `/` while its `/health` passes (users would get
/// errors, the load balancer sees it healthy); a `-crash` version exits 4 s after it starts.
pub(crate) fn bg_template() -> String {
    let exe = serde_json::to_string(ferry_bin()).unwrap();
    format!(
        r#"{{
  "family": "{{{{ service }}}}",
  "networkMode": "awsvpc",
  "containerDefinitions": [{{
    "name": "app",
    "image": "{{{{ image }}}}",
    "essential": true,
    "memory": 64,
    "entryPoint": [{exe}],
    "command": ["sample-app"],
    "portMappings": [{{"containerPort": 8080}}],
    "environment": [
      {{"name": "VERSION", "value": "{{{{ version }}}}"}},
      {{"name": "SAMPLE_FAIL_REQUESTS", "value": "{{{{ '1' if '-flaky' in version else '' }}}}"}},
      {{"name": "SAMPLE_FAIL_HEALTH", "value": "{{{{ '1' if '-unhealthy' in version else '' }}}}"}},
      {{"name": "SAMPLE_CRASH_AFTER", "value": "{{{{ '4' if '-crash' in version else '' }}}}"}}
    ],
    "stopTimeout": 2
  }}]
}}
"#
    )
}

/// What the tests set up: the listeners' ARNs and the production listener's URL.
pub(crate) struct Stage {
    pub production: String,
    pub preparing: String,
    pub blue_group: String,
    pub url: String,
}

/// Load balancer `web`, target group `web-tg`, a production and a preparing listener both
/// forwarding to it, and service `web` running two tasks of 1.0.0 behind it, healthy. Writes
/// ferry.toml with `strategy` for web in environment `test` and `[services.web.blue_green]`
/// with the two listeners and `extra`.
pub(crate) async fn stage(world: &World, strategy: &str, extra: &str) -> Stage {
    let elb = &world.clients.elbv2;
    let lb = elb.create_load_balancer().name("web").subnets("subnet-aaaa").subnets("subnet-bbbb").send().await.unwrap();
    let lb = &lb.load_balancers()[0];
    let dns = lb.dns_name().unwrap().to_string();
    let blue_group = health_checked_group(elb, "web-tg", 8080, lb.vpc_id().unwrap(), TargetTypeEnum::Ip).await;
    set_deregistration_delay(elb, &blue_group, 1).await;
    let port = free_port(&dns);
    let production = create_listener(elb, lb.load_balancer_arn().unwrap(), port, forward(&blue_group)).await;
    let preparing = create_listener(elb, lb.load_balancer_arn().unwrap(), free_port(&dns), forward(&blue_group)).await;

    sample_service_behind(world, "web", "1.0.0", 2, &blue_group, Some(4), &[]).await;
    world.wait_running("web", 2).await;
    eventually("the first tasks healthy in web-tg", 60, || async { (healthy_in(world, &blue_group).await == 2).then_some(()) }).await;
    std::fs::write(world.dir.path().join("app.json"), bg_template()).unwrap();
    world.write_config(&format!("strategies = {{ web = \"{strategy}\" }}\ntimeout = \"60s\"\n"), &["web"]);
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config
        .push_str(&format!("\n[services.web.blue_green]\nproduction_rule = \"{production}\"\npreparing_rule = \"{preparing}\"\n{extra}\n"));
    std::fs::write(world.config(), config).unwrap();
    Stage { production, preparing, blue_group, url: format!("http://{dns}:{port}/") }
}

/// Healthy targets of `group`.
pub(crate) async fn healthy_in(world: &World, group: &str) -> usize {
    let out = world.clients.elbv2.describe_target_health().target_group_arn(group).send().await.unwrap();
    out.target_health_descriptions()
        .iter()
        .filter(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str()) == Some("healthy"))
        .count()
}

/// The production listener's forward: (target group name, weight), sorted by name.
pub(crate) async fn weights(world: &World, listener: &str) -> Vec<(String, i32)> {
    let out = world.clients.elbv2.describe_listeners().listener_arns(listener).send().await.unwrap();
    let action = &out.listeners()[0].default_actions()[0];
    let mut found: Vec<(String, i32)> = match action.forward_config() {
        Some(config) => config
            .target_groups()
            .iter()
            .map(|t| (t.target_group_arn().unwrap().split('/').nth(1).unwrap().to_string(), t.weight().unwrap_or(1)))
            .collect(),
        None => vec![(action.target_group_arn().unwrap().split('/').nth(1).unwrap().to_string(), 1)],
    };
    found.sort();
    found
}

/// The services of the cluster: (name, desired, ferry:status tag), sorted by name.
pub(crate) async fn services(world: &World) -> Vec<(String, i32, Option<String>)> {
    let listed = world.clients.ecs.list_services().cluster(CLUSTER).send().await.unwrap();
    let described = world
        .clients
        .ecs
        .describe_services()
        .cluster(CLUSTER)
        .set_services(Some(listed.service_arns().to_vec()))
        .include(ferry_aws::ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let mut found: Vec<(String, i32, Option<String>)> = described
        .services()
        .iter()
        .filter(|s| s.status() == Some("ACTIVE"))
        .map(|s| {
            let status = s.tags().iter().find(|t| t.key() == Some("ferry:status")).and_then(|t| t.value()).map(str::to_string);
            (s.service_name().unwrap().to_string(), s.desired_count(), status)
        })
        .collect();
    found.sort();
    found
}

/// The names of the region's target groups, sorted.
pub(crate) async fn group_names(world: &World) -> Vec<String> {
    let out = world.clients.elbv2.describe_target_groups().send().await.unwrap();
    let mut names: Vec<String> = out.target_groups().iter().map(|g| g.target_group_name().unwrap().to_string()).collect();
    names.sort();
    names
}

/// A request loop through the production listener: GET `/` every 10 ms until stopped.
pub(crate) struct Traffic {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Counts>,
}

/// What the request loop saw.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub sent: u64,
    pub failed: Vec<String>,
    /// The versions that answered, in the order they first answered.
    pub versions: Vec<String>,
}

impl Traffic {
    pub(crate) fn start(url: &str) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let url = url.to_string();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            let mut counts = Counts::default();
            while !flag.load(Ordering::SeqCst) {
                counts.sent += 1;
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => {
                        let body: Value = response.json().await.unwrap_or_default();
                        let version = body["version"].as_str().unwrap_or("?").to_string();
                        if !counts.versions.contains(&version) {
                            counts.versions.push(version);
                        }
                    }
                    Ok(response) => counts.failed.push(format!("HTTP {}", response.status())),
                    Err(e) => counts.failed.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            counts
        });
        Traffic { stop, task }
    }

    pub(crate) async fn stop(self) -> Counts {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

/// The traffic steps of a JSON run, as `step` names in order.
fn traffic_steps(output: &std::process::Output) -> Vec<String> {
    events_of(output)
        .iter()
        .filter(|e| e["event"] == "phase" && e["phase"] == "traffic" && e["what"] == "traffic")
        .map(|e| e["step"]["step"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The percentages a run shifted production traffic to, in order.
fn shifted_to(output: &std::process::Output) -> Vec<u64> {
    events_of(output)
        .iter()
        .filter(|e| e["event"] == "phase" && e["step"]["step"] == "shift_weights")
        .filter_map(|e| e["step"]["green_percent"].as_u64())
        .collect()
}

/// `ferry deploy test web=VERSION --output json` running in the background, read until a JSON
/// line holds `needle` (a step under way): what a person at the terminal sees before Ctrl-C.
struct Running {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Running {
    async fn deploy_until(world: &World, version: &str, needle: &'static str) -> Running {
        use std::io::BufRead;
        let mut child = std::process::Command::new(ferry_bin())
            .args(["deploy", "test", &format!("web={version}"), "--output", "json", "--config"])
            .arg(world.config())
            .arg("--ledger")
            .arg(world.ledger())
            .env("FERRY_USER", "tester")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let lines = tokio::task::spawn_blocking(move || {
            for line in lines.by_ref() {
                if line.unwrap().contains(needle) {
                    break;
                }
            }
            lines
        })
        .await
        .unwrap();
        Running { child, lines }
    }

    /// Ctrl-C (SIGINT), then what it printed and how it ended.
    async fn interrupt(self) -> std::process::Output {
        let Running { child, lines } = self;
        let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::INT);
        tokio::task::spawn_blocking(move || {
            let _rest: Vec<String> = lines.map_while(Result::ok).collect();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }
}

fn world_options() -> Options {
    Options { health_check_scale: 0.05, ..Options::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_deploy_moves_every_request_to_the_new_version_with_none_failed_then_cleans_up() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"2s\"").await;
    let traffic = Traffic::start(&stage.url);

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(result_of(&output)["services"][0]["outcome"], "succeeded");
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert!(counts.sent > 100, "{counts:?}");
    assert_eq!(counts.versions, vec!["1.0.0", "1.1.0"], "{counts:?}");
    // The overlap: both versions on the production listener (50/50), then only the new one.
    assert_eq!(shifted_to(&output), vec![50, 100]);
    let steps = traffic_steps(&output);
    for step in
        ["begin", "create_target_group", "create_service", "attach_to_preparing", "shift_weights", "retire_old", "mark_live", "done"]
    {
        assert!(steps.iter().any(|s| s == step), "{step} in {steps:?}");
    }
    // The production listener forwards only to the new version's group; the old service is
    // retired (0 tasks, obsolete) and kept for an instant rollback.
    let green_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    let green_service = ferry_core::naming::version_service_name("web", "1.1.0");
    assert_eq!(weights(&world, &stage.production).await, vec![(green_group.clone(), 100)]);
    assert_eq!(
        services(&world).await,
        vec![("web".to_string(), 0, Some("obsolete".to_string())), (green_service.clone(), 2, Some("live".to_string()))]
    );
    assert_eq!(group_names(&world).await, {
        let mut names = vec![green_group.clone(), "web-tg".to_string()];
        names.sort();
        names
    });
    // The new group drains like the live one (its attributes copied, not AWS's 300 s).
    let attributes = world
        .clients
        .elbv2
        .describe_target_group_attributes()
        .target_group_arn(group_arn(&world, &green_group).await)
        .send()
        .await
        .unwrap();
    let delay = attributes.attributes().iter().find(|a| a.key() == Some("deregistration_delay.timeout_seconds")).and_then(|a| a.value());
    assert_eq!(delay, Some("1"));

    // The next version: the environment's own service (Terraform's) is not ferry's to delete;
    // 1.1.0 is retired and kept (keep = 1), the production listener on 1.0.0's successor.
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["deploy", "test", "web=1.0.0", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    let third = ferry_core::naming::version_service_name("web", "1.0.0");
    let statuses = services(&world).await;
    assert!(statuses.contains(&(third.clone(), 2, Some("live".to_string()))), "{statuses:?}");
    assert!(statuses.contains(&(green_service.clone(), 0, Some("obsolete".to_string()))), "{statuses:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![(ferry_core::naming::target_group_name("test", "web", "1.0.0"), 100)]);
    let _ = stage.blue_group;
    let _ = stage.preparing;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_deploy_holds_each_step_then_moves_all_traffic_with_none_failed() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"10%/2s\", \"50%/2s\", \"100%\"]").await;
    let traffic = Traffic::start(&stage.url);
    let started = std::time::Instant::now();
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    let took = started.elapsed();
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(counts.versions, vec!["1.0.0", "1.1.0"], "{counts:?}");
    assert_eq!(shifted_to(&output), vec![10, 50, 100]);
    assert!(traffic_steps(&output).iter().filter(|s| *s == "hold").count() >= 2, "{:?}", traffic_steps(&output));
    assert!(took >= Duration::from_secs(4), "each step was held 2 s: {took:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![(ferry_core::naming::target_group_name("test", "web", "1.1.0"), 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_deploy_adds_its_share_at_every_step_with_none_failed() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "linear", "linear = \"25%/1s\"").await;
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(shifted_to(&output), vec![25, 50, 75, 100]);
    assert_eq!(weights(&world, &stage.production).await, vec![(ferry_core::naming::target_group_name("test", "web", "1.1.0"), 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_failing_the_preparing_checks_never_sees_production_and_is_removed() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"10%/1s\", \"100%\"]").await;
    let before_services = services(&world).await;
    let before_groups = group_names(&world).await;
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["deploy", "test", "web=2.0.0-flaky", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    assert_eq!(report["cause"], "gate", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.starts_with("the checks through the preparing rule failed: 10 of 10 GET http://"), "{reason}");
    assert!(reason.contains("HTTP 500"), "{reason}");
    // Production never saw it: no shift, every answer 1.0.0, none failed.
    assert!(shifted_to(&output).is_empty(), "{:?}", shifted_to(&output));
    assert!(counts.failed.is_empty(), "{counts:?}");
    assert_eq!(counts.versions, vec!["1.0.0"]);
    // Its service and target group are gone; the preparing listener is back on web-tg.
    assert_eq!(services(&world).await, before_services);
    assert_eq!(group_names(&world).await, before_groups);
    assert_eq!(weights(&world, &stage.preparing).await, vec![("web-tg".to_string(), 1)]);
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 1)]);
}

/// The scalable target of service `name` (min, max) and its policies' names; None without one.
async fn scaling_of(world: &World, name: &str) -> Option<(i32, i32, Vec<String>)> {
    use ferry_aws::autoscaling::types::{ScalableDimension, ServiceNamespace};
    let resource = format!("service/{CLUSTER}/{name}");
    let targets = world
        .clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .unwrap();
    let target = targets.scalable_targets().first()?;
    let policies = world
        .clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .unwrap();
    let names = policies.scaling_policies().iter().map(|p| p.policy_name().to_string()).collect();
    Some((target.min_capacity(), target.max_capacity(), names))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_scaling_moves_to_the_new_version_and_a_rollback_after_retirement_brings_the_old_one_back_with_it() {
    use ferry_aws::autoscaling::types::{
        MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
        TargetTrackingScalingPolicyConfiguration,
    };
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"1s\"").await;
    let resource = format!("service/{CLUSTER}/web");
    let aas = &world.clients.autoscaling;
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(2)
        .max_capacity(6)
        .send()
        .await
        .unwrap();
    let tracking = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(50.0)
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder().predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization).build().unwrap(),
        )
        .build()
        .unwrap();
    aas.put_scaling_policy()
        .policy_name("cpu50")
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(tracking)
        .send()
        .await
        .unwrap();

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let green = ferry_core::naming::version_service_name("web", "1.1.0");
    // Retired despite auto scaling: the scalable target moved to the new version, with its policy.
    assert_eq!(scaling_of(&world, &green).await, Some((2, 6, vec!["cpu50".to_string()])));
    assert_eq!(scaling_of(&world, "web").await, None);
    assert!(services(&world).await.contains(&("web".to_string(), 0, Some("obsolete".to_string()))));

    // After retirement: the rollback scales the old version up again, with its auto scaling,
    // waits for it to be healthy, then moves the traffic back.
    let traffic = Traffic::start(&stage.url);
    // No --to: the version kept warm (here the environment's own service, which no ferry
    // tag names) is the way back.
    let output = world.ferry(&["rollback", "test", "web", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(counts.versions, vec!["1.1.0", "1.0.0"], "{counts:?}");
    let steps = traffic_steps(&output);
    assert!(steps.iter().any(|s| s == "scale_up"), "{steps:?}");
    assert!(!steps.iter().any(|s| s == "create_service" || s == "create_target_group"), "nothing made again: {steps:?}");
    assert_eq!(shifted_to(&output), vec![100], "the way back moves all traffic at once, no overlap");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 100)]);
    assert_eq!(scaling_of(&world, "web").await, Some((2, 6, vec!["cpu50".to_string()])));
    assert_eq!(scaling_of(&world, &green).await, None);
    let statuses = services(&world).await;
    assert!(statuses.contains(&("web".to_string(), 2, Some("live".to_string()))), "{statuses:?}");
    assert!(statuses.contains(&(green.clone(), 0, Some("obsolete".to_string()))), "kept for the way forward again: {statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_else_moving_the_weights_during_a_canary_stops_ferry_which_says_so_and_overwrites_nothing() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"10%/30s\", \"100%\"]").await;
    let green_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    let world = &world;
    let deploy = async { world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await };
    let meddle = async {
        // Once ferry holds 10%, someone sets 70/30 by hand.
        let both = eventually("ferry shifted 10%", 60, || async {
            let seen = weights(world, &stage.production).await;
            (seen.len() == 2).then_some(seen)
        })
        .await;
        assert!(both.contains(&(green_group.clone(), 10)), "{both:?}");
        let blue = group_arn(world, "web-tg").await;
        let green = group_arn(world, &green_group).await;
        world
            .clients
            .elbv2
            .modify_listener()
            .listener_arn(&stage.production)
            .default_actions(weighted(&[(&blue, 70), (&green, 30)]))
            .send()
            .await
            .unwrap();
    };
    let (output, ()) = tokio::join!(deploy, meddle);
    assert_eq!(output.status.code(), Some(6), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["cause"], "rule_changed", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("forwards web-tg 70%, ") && reason.contains("30%, not what ferry set (web-tg 90%, "), "{reason}");
    assert!(reason.contains("someone else changed it"), "{reason}");
    // What the person set stands.
    assert_eq!(weights(world, &stage.production).await, vec![(green_group, 30), ("web-tg".to_string(), 70)]);
}

/// The ARN of target group `name`.
async fn group_arn(world: &World, name: &str) -> String {
    let out = world.clients.elbv2.describe_target_groups().names(name).send().await.unwrap();
    out.target_groups()[0].target_group_arn().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_after_the_shift_gets_traffic_back_on_the_old_version_first_then_is_removed() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"30s\"").await;
    let before_groups = group_names(&world).await;
    let traffic = Traffic::start(&stage.url);
    // 2.0.0-crash passes the preparing checks, takes half the traffic, and its tasks exit 4 s
    // after they started: the gate (no healthy target while it receives production traffic,
    // or failed probe requests) rolls it back.
    let output = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    assert_eq!(report["cause"], "gate", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("production traffic is back on service web"), "{reason}");
    assert_eq!(shifted_to(&output), vec![50, 0], "to half, then back to none");
    // In order: traffic back on the old version first, then the new one removed.
    let steps = traffic_steps(&output);
    let position = |step: &str| steps.iter().rposition(|s| s == step).unwrap_or_else(|| panic!("{step} in {steps:?}"));
    assert!(position("roll_back") < position("shift_weights"), "{steps:?}");
    assert!(position("shift_weights") < position("delete_service"), "{steps:?}");
    assert!(position("delete_service") < position("delete_target_group"), "{steps:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 100)]);
    assert_eq!(weights(&world, &stage.preparing).await, vec![("web-tg".to_string(), 1)]);
    assert_eq!(services(&world).await, vec![("web".to_string(), 2, None)]);
    assert_eq!(group_names(&world).await, before_groups);
    // Users saw the crash until the gate moved traffic back (the failures are the crashed
    // tasks' requests in flight); the old version answered all along.
    assert!(counts.versions.contains(&"1.0.0".to_string()), "{counts:?}");
    assert!(world.answering_versions("web").await.iter().all(|v| v == "1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_names_what_a_canary_deploy_will_create_and_how_traffic_moves_and_changes_nothing() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"10%/5m\", \"50%/5m\", \"100%\"]").await;
    let (before_services, before_groups) = (services(&world).await, group_names(&world).await);
    let output = world.ferry(&["plan", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["type"] == "plan")
        .unwrap_or_else(|| panic!("a plan line: {}", text(&output)));
    let group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    let service = ferry_core::naming::version_service_name("web", "1.1.0");
    assert_eq!(plan["traffic"]["target_group"], group.as_str());
    assert_eq!(plan["traffic"]["ecs_service"], service.as_str());
    assert_eq!(plan["traffic"]["production_rule"], stage.production.as_str());
    assert_eq!(plan["traffic"]["schedule"], serde_json::json!([[10, 300], [50, 300], [100, 0]]));
    let steps = plan["steps"].as_str().unwrap();
    assert!(steps.contains(&format!("create target group {group} and service {service}")), "{steps}");
    assert!(steps.contains("then production traffic to it: 10% for 5m, 50% for 5m, 100%"), "{steps}");
    assert_eq!((services(&world).await, group_names(&world).await), (before_services, before_groups), "plan changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_deploy_hook_with_a_traffic_strategy_is_refused_before_anything_changes() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "").await;
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str("\n[services.web.after_deploy]\ncommand = [\"true\"]\n");
    std::fs::write(world.config(), config).unwrap();
    let (before_services, before_groups) = (services(&world).await, group_names(&world).await);
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("services.web.after_deploy"), "{}", text(&output));
    assert!(
        text(&output).contains("the blue-green strategy (environments.test.strategies.web) does not run after_deploy tasks yet"),
        "{}",
        text(&output)
    );
    // ferry check says so too.
    let output = world.ferry(&["check"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("does not run after_deploy tasks yet"), "{}", text(&output));
    assert_eq!((services(&world).await, group_names(&world).await), (before_services, before_groups), "nothing changed");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deploy_keeps_exactly_keep_retired_versions_and_never_deletes_what_receives_traffic() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"0s\"\nkeep = 1").await;
    for version in ["1.1.0", "1.1.0-slow", "1.0.0"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert_eq!(output.status.code(), Some(0), "{version}: {}", text(&output));
    }
    let name = |version: &str| ferry_core::naming::version_service_name("web", version);
    let group = |version: &str| ferry_core::naming::target_group_name("test", "web", version);
    // Live: 1.0.0. Kept: 1.1.0-slow, the newest retired (keep = 1). Deleted with its target
    // group: 1.1.0. The environment's own service is Terraform's, never ferry's to delete.
    let mut expected = vec![
        ("web".to_string(), 0, Some("obsolete".to_string())),
        (name("1.1.0-slow"), 0, Some("obsolete".to_string())),
        (name("1.0.0"), 2, Some("live".to_string())),
    ];
    expected.sort();
    assert_eq!(services(&world).await, expected);
    let mut groups = vec!["web-tg".to_string(), group("1.1.0-slow"), group("1.0.0")];
    groups.sort();
    assert_eq!(group_names(&world).await, groups);
    assert_eq!(weights(&world, &stage.production).await, vec![(group("1.0.0"), 100)]);

    // Back to the kept version by its name.
    let output = world.ferry(&["rollback", "test", "web", "--to", "1.1.0-slow"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(weights(&world, &stage.production).await, vec![(group("1.1.0-slow"), 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_of_a_canary_a_dead_run_left_mid_shift_puts_traffic_back_at_once_and_removes_the_new_version() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"25%/10m\", \"100%\"]").await;
    let (before_services, before_groups) = (services(&world).await, group_names(&world).await);
    // The run dies holding 25 % on the new version (a CI runner killed mid-canary).
    crate::kill::killed_at(&world, "bg-after-shift-25", &["deploy", "test", "web=1.1.0"]).await;
    let green_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    assert_eq!(weights(&world, &stage.production).await, vec![(green_group, 25), ("web-tg".to_string(), 75)]);

    let traffic = Traffic::start(&stage.url);
    let started = std::time::Instant::now();
    let output = world.ferry(&["rollback", "test", "web", "--output", "json"]).await;
    let took = started.elapsed();
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(took < Duration::from_secs(60), "not the 10 minute hold: {took:?}");
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "the deploy's record: rolled back, as asked: {report}");
    assert_eq!(report["cause"], "requested", "{report}");
    assert!(report["reason"].as_str().unwrap().starts_with("rolled back on request by tester (ferry rollback)"), "{report}");
    assert!(counts.failed.is_empty(), "{counts:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 100)]);
    assert_eq!(weights(&world, &stage.preparing).await, vec![("web-tg".to_string(), 1)]);
    assert_eq!((services(&world).await, group_names(&world).await), (before_services, before_groups));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_canary_hold_leaves_it_resumable_and_the_same_command_finishes_it() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"25%/3s\", \"100%\"]").await;
    let output = Running::deploy_until(&world, "1.1.0", "\"step\":\"hold\"").await.interrupt().await;
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    assert!(
        text(&output).contains("these traffic shifts stopped where they were: web (run the same command to carry on"),
        "{}",
        text(&output)
    );
    let green_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    assert_eq!(weights(&world, &stage.production).await, vec![(green_group.clone(), 25), ("web-tg".to_string(), 75)]);
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    assert!(ledger.lock("test", "web").unwrap().is_none(), "the lock was released");
    let interrupted = ledger.unfinished("test", "web").unwrap().expect("left in progress, to be resumed");

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(result_of(&output)["services"][0]["deployment_id"], interrupted.id.as_str(), "resumed under its id");
    assert_eq!(shifted_to(&output), vec![100], "25% was not set again");
    assert_eq!(weights(&world, &stage.production).await, vec![(green_group, 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_command_that_fails_rolls_back_before_production_and_one_that_passes_sees_the_preparing_url() {
    let world = World::with_options("", &["web"], world_options()).await;
    let failing = r#"check_command = ["sh", "-c", "echo \"smoke test against $FERRY_CHECK_URL failed\" >&2; exit 3"]"#;
    let stage = stage(&world, "blue-green", &format!("overlap = \"1s\"\n{failing}")).await;
    let before = (services(&world).await, group_names(&world).await);
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["cause"], "gate", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("exited 3: smoke test against http://"), "{reason}");
    assert!(shifted_to(&output).is_empty(), "production never saw it");
    assert_eq!((services(&world).await, group_names(&world).await), before);

    let config = std::fs::read_to_string(world.config()).unwrap();
    let passing = r#"check_command = ["sh", "-c", "echo \"$FERRY_CHECK_URL $FERRY_SERVICE\" > checked.txt"]"#;
    std::fs::write(world.config(), config.replace(failing, passing)).unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let checked = std::fs::read_to_string(world.dir.path().join("checked.txt")).expect("ran in ferry.toml's directory");
    let preparing_port = {
        let out = world.clients.elbv2.describe_listeners().listener_arns(&stage.preparing).send().await.unwrap();
        out.listeners()[0].port().unwrap()
    };
    assert!(
        checked.starts_with("http://") && checked.contains(&format!(":{preparing_port}/")) && checked.trim_end().ends_with(" web"),
        "{checked}"
    );
}

/// How many revisions family `web` has.
async fn revisions(world: &World) -> usize {
    world.clients.ecs.list_task_definitions().family_prefix("web").send().await.unwrap().task_definition_arns().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_rule_split_between_two_groups_is_refused_before_anything_is_registered() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"10%/1s\", \"100%\"]").await;
    let other = health_checked_group(&world.clients.elbv2, "web-other", 8080, "vpc-0123", TargetTypeEnum::Ip).await;
    world
        .clients
        .elbv2
        .modify_listener()
        .listener_arn(&stage.production)
        .default_actions(weighted(&[(&stage.blue_group, 90), (&other, 10)]))
        .send()
        .await
        .unwrap();
    let before = (services(&world).await, group_names(&world).await, revisions(&world).await);
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        text(&output)
            .contains("forwards web-tg 90%, web-other 10%: a blue/green, canary or linear deploy starts from one live target group")
    );
    assert!(text(&output).contains("put all traffic on one of them first"), "{}", text(&output));
    assert_eq!((services(&world).await, group_names(&world).await, revisions(&world).await), before, "nothing registered or made");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_version_is_deployed_again_as_it_is_and_refused_once_the_template_renders_it_differently() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"0s\"").await;
    for version in ["1.1.0", "1.0.0"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert_eq!(output.status.code(), Some(0), "{version}: {}", text(&output));
    }
    // 1.1.0 is retired and kept: deploying it again scales it up, registers nothing — as
    // the plan says.
    let registered = revisions(&world).await;
    let plan = text(&world.ferry(&["plan", "test", "web=1.1.0"]).await);
    let kept = ferry_core::naming::version_service_name("web", "1.1.0");
    assert!(plan.contains(&format!("scale the kept service {kept} up again (it runs web:")), "{plan}");
    assert!(!plan.contains("register a task definition revision"), "{plan}");
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(revisions(&world).await, registered, "the kept revision is deployed, none registered");
    let steps = traffic_steps(&output);
    assert!(steps.iter().any(|s| s == "scale_up") && !steps.iter().any(|s| s == "create_service"), "{steps:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![(ferry_core::naming::target_group_name("test", "web", "1.1.0"), 100)]);

    // The template changes: 1.0.0's kept service runs what it no longer renders.
    let template = std::fs::read_to_string(world.dir.path().join("app.json")).unwrap();
    std::fs::write(world.dir.path().join("app.json"), template.replace("\"memory\": 64", "\"memory\": 96")).unwrap();
    let before = (services(&world).await, group_names(&world).await, revisions(&world).await, weights(&world, &stage.preparing).await);
    let output = world.ferry(&["deploy", "test", "web=1.0.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let name = ferry_core::naming::version_service_name("web", "1.0.0");
    assert!(text(&output).contains(&format!("service {name} already runs version 1.0.0 as web:")), "{}", text(&output));
    assert!(text(&output).contains("or deploy the change as another version (nothing was changed)"), "{}", text(&output));
    let after = (services(&world).await, group_names(&world).await, revisions(&world).await, weights(&world, &stage.preparing).await);
    assert_eq!(after, before, "nothing registered, made or moved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_while_the_canary_runs_names_the_holder_and_after_ctrl_c_rolls_that_deploy_back() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"25%/10m\", \"100%\"]").await;
    let running = Running::deploy_until(&world, "1.1.0", "\"step\":\"hold\"").await;
    let output = world.ferry(&["rollback", "test", "web"]).await;
    assert_eq!(output.status.code(), Some(7), "{}", text(&output));
    assert!(
        text(&output).contains("stop that run first (Ctrl-C), then `ferry rollback test web` rolls its deployment back"),
        "{}",
        text(&output)
    );

    assert_eq!(running.interrupt().await.status.code(), Some(130));
    let output = world.ferry(&["rollback", "test", "web", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(result_of(&output)["services"][0]["cause"], "requested");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_through_the_preparing_rule_must_hold_the_checked_json_values_or_production_never_sees_the_version() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"0s\"\ncheck_json = { \"/version\" = \"9.9.9\" }").await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let reason = result_of(&output)["services"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("10 of 10 GET http://") && reason.contains("last: /version is \"1.1.0\", expected \"9.9.9\""), "{reason}");
    assert!(shifted_to(&output).is_empty());
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 1)]);

    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("\"9.9.9\"", "\"1.1.0\"")).unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let checked = events_of(&output).into_iter().find(|e| e["what"] == "checked").expect("a checked event");
    assert!(checked["summary"].as_str().unwrap().contains("with the expected content"), "{checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_canary_step_is_gated_by_the_checks_and_a_later_failure_puts_the_traffic_back() {
    let world = World::with_options("", &["web"], world_options()).await;
    // The smoke test passes once (before 10%), then fails (before 100%).
    let command = r#"check_command = ["sh", "-c", "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -lt 2 ] || { echo 'second smoke test failed' >&2; exit 4; }"]"#;
    let stage = stage(&world, "canary", &format!("steps = [\"10%/1s\", \"100%\"]\n{command}")).await;
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let reason = result_of(&output)["services"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("failed before 100%") && reason.contains("exited 4: second smoke test failed"), "{reason}");
    assert_eq!(shifted_to(&output), vec![10, 0], "10%, then back");
    assert!(counts.failed.is_empty(), "{counts:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_gc_deletes_retired_versions_beyond_keep_and_keeps_their_revisions_for_those_it_keeps() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"0s\"\nkeep = 3").await;
    for version in ["1.1.0", "1.1.0-slow", "1.0.0"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert_eq!(output.status.code(), Some(0), "{version}: {}", text(&output));
    }
    let name = |version: &str| ferry_core::naming::version_service_name("web", version);
    let group = |version: &str| ferry_core::naming::target_group_name("test", "web", version);
    assert_eq!(services(&world).await.len(), 4, "keep = 3: every retired version is still there");
    // keep = 1 now: gc deletes the older retired version, keeps the newest, never the live one.
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("keep = 3", "keep = 1")).unwrap();
    let before = (services(&world).await, group_names(&world).await);
    let dry = world.ferry(&["gc", "test", "--keep", "1", "--dry-run", "--output", "json"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert_eq!((services(&world).await, group_names(&world).await), before, "a dry run deletes nothing");
    let said: Value = serde_json::from_str(String::from_utf8_lossy(&dry.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(said["versions"][0]["deleted_services"], serde_json::json!([name("1.1.0")]), "{said}");
    assert_eq!(said["versions"][0]["deleted_target_groups"], serde_json::json!([group("1.1.0")]), "{said}");

    let output = world.ferry(&["gc", "test", "--keep", "1"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains(&format!("web versions (keep 1 retired): deleted services {}", name("1.1.0"))), "{}", text(&output));
    let mut expected = vec![
        ("web".to_string(), 0, Some("obsolete".to_string())),
        (name("1.1.0-slow"), 0, Some("obsolete".to_string())),
        (name("1.0.0"), 2, Some("live".to_string())),
    ];
    expected.sort();
    assert_eq!(services(&world).await, expected);
    let mut groups = vec!["web-tg".to_string(), group("1.1.0-slow"), group("1.0.0")];
    groups.sort();
    assert_eq!(group_names(&world).await, groups);
    assert_eq!(weights(&world, &stage.production).await, vec![(group("1.0.0"), 100)]);
    // The kept version's revision stays registered (keep 1 revision would have taken it).
    let kept = world.service(&name("1.1.0-slow")).await.task_definition().unwrap().to_string();
    let described = world.clients.ecs.describe_task_definition().task_definition(&kept).send().await.unwrap();
    assert_eq!(described.task_definition().unwrap().status().map(|s| s.as_str()), Some("ACTIVE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_service_behind_two_target_groups_is_refused_rather_than_losing_one() {
    use ferry_aws::ecs::types::LoadBalancer;
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"100%\"]").await;
    // A second load balancer's group (an internal one, say) beside web-tg.
    let (lb, dns) = create_lb(&world.clients.elbv2, "web-internal").await;
    let internal = health_checked_group(&world.clients.elbv2, "web-internal-tg", 8080, "vpc-0123", TargetTypeEnum::Ip).await;
    create_listener(&world.clients.elbv2, &lb, free_port(&dns), forward(&internal)).await;
    let both = [&stage.blue_group, &internal]
        .map(|group| LoadBalancer::builder().target_group_arn(group.as_str()).container_name("app").container_port(8080).build());
    world.clients.ecs.update_service().cluster(CLUSTER).service("web").set_load_balancers(Some(both.to_vec())).send().await.unwrap();
    let before = (services(&world).await, group_names(&world).await, revisions(&world).await);
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        text(&output).contains("registers its tasks with 2 target groups (web-tg, web-internal-tg): the canary strategy moves one"),
        "{}",
        text(&output)
    );
    assert_eq!((services(&world).await, group_names(&world).await, revisions(&world).await), before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_during_the_bake_at_100_percent_brings_the_old_version_back_behind_the_preparing_rule_first() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "blue-green", "overlap = \"0s\"").await;
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("bake = \"0s\"", "bake = \"10m\"")).unwrap();
    let status = Running::deploy_until(&world, "1.1.0", "\"step\":\"bake\"").await.interrupt().await.status;
    assert_eq!(status.code(), Some(130));
    // All production traffic is on 1.1.0: no rule forwards to web-tg, whose targets have no
    // health checks (unused) until the preparing rule forwards to it again.
    let green_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    assert_eq!(weights(&world, &stage.production).await, vec![(green_group, 100)]);
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["rollback", "test", "web", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(counts.failed.is_empty(), "{counts:?}");
    let steps = traffic_steps(&output);
    let position = |step: &str| steps.iter().position(|s| s == step).unwrap_or_else(|| panic!("{step} in {steps:?}"));
    assert!(position("restore_preparing") < position("shift_weights"), "{steps:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-tg".to_string(), 100)]);
    assert_eq!(services(&world).await, vec![("web".to_string(), 2, None)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_deploy_of_a_kept_version_is_finished_by_the_same_command_registering_nothing() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, "canary", "steps = [\"25%/2s\", \"100%\"]").await;
    for version in ["1.1.0", "1.0.0"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert_eq!(output.status.code(), Some(0), "{version}: {}", text(&output));
    }
    let registered = revisions(&world).await;
    // 1.1.0 is kept warm: its deploy scales it up and shifts 25% to it, then dies.
    crate::kill::killed_at(&world, "bg-after-shift-25", &["deploy", "test", "web=1.1.0"]).await;
    let kept = ferry_core::naming::version_service_name("web", "1.1.0");
    assert!(services(&world).await.contains(&(kept.clone(), 2, Some("new".to_string()))), "no longer obsolete once it takes traffic");
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(revisions(&world).await, registered, "the kept revision is deployed; nothing registered by either run");
    assert_eq!(weights(&world, &stage.production).await, vec![(ferry_core::naming::target_group_name("test", "web", "1.1.0"), 100)]);
    assert!(services(&world).await.contains(&(kept, 2, Some("live".to_string()))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_group_another_rule_still_forwards_to_is_left_and_said_not_a_failed_deploy() {
    let world = World::with_options("", &["web"], world_options()).await;
    stage(&world, "blue-green", "overlap = \"0s\"\nkeep = 1").await;
    for version in ["1.1.0", "1.1.0-slow"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert_eq!(output.status.code(), Some(0), "{version}: {}", text(&output));
    }
    // A listener ferry is not configured with (an earlier preparing rule, say) forwards to
    // 1.1.0's group, which the next deploy's clean-up deletes.
    let old_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    let (lb, dns) = create_lb(&world.clients.elbv2, "web-old").await;
    create_listener(&world.clients.elbv2, &lb, free_port(&dns), forward(&group_arn(&world, &old_group).await)).await;
    let output = world.ferry(&["deploy", "test", "web=1.0.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "the deploy succeeded: {}", text(&output));
    let left = events_of(&output).into_iter().find(|e| e["what"] == "target_group_left").expect("said");
    assert_eq!(left["target_group"], old_group.as_str(), "{left}");
    assert!(group_names(&world).await.contains(&old_group), "left as it is");
    assert!(!services(&world).await.iter().any(|(name, ..)| *name == ferry_core::naming::version_service_name("web", "1.1.0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_count_the_new_version_can_never_reach_is_refused_before_anything_changes() {
    let world = World::with_options("", &["web"], world_options()).await;
    stage(&world, "blue-green", "healthy = 3").await;
    let before = (services(&world).await, group_names(&world).await, revisions(&world).await);
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("services.web.blue_green.healthy = 3 in ferry.toml, but the live version (web) runs 2 task(s)"),
        "{}",
        text(&output)
    );
    assert_eq!((services(&world).await, group_names(&world).await, revisions(&world).await), before);
}
