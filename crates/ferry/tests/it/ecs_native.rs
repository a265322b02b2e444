//! strategy = "ecs-native" end to end on ferry local (issue 12): a service whose own
//! deploymentConfiguration says BLUE_GREEN, LINEAR or CANARY (as Terraform would set it),
//! behind a production and a test listener that both forward to its two target groups; ferry
//! registers the revision, makes one UpdateService, follows that service deployment through
//! ECS's lifecycle stages, and answers each PAUSE hook with its checks.
//!
//! A request loop runs through the production listener for the whole of each deploy and
//! counts every answer that is not 200 (or no answer at all).

use ferry_aws::ecs::types::{
    AdvancedConfiguration, AwsVpcConfiguration, CanaryConfiguration, ContainerDefinition, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType, DeploymentStrategy, KeyValuePair, LinearConfiguration, LoadBalancer,
    NetworkConfiguration, NetworkMode, PortMapping,
};
use ferry_aws::elbv2::types::TargetTypeEnum;
use ferry_local::Options;

use crate::blue_green::{Traffic, bg_template, healthy_in, weights};
use crate::common::*;
use crate::elb_support::*;

/// Health checks at 1/20 of AWS's timings; a deployment minute of 0.5 s.
fn world_options() -> Options {
    Options { health_check_scale: 0.05, minute_seconds: 0.5, ..Options::default() }
}

struct Stage {
    production: String,
    test: String,
    url: String,
}

/// Load balancer `web`, target groups `web-blue` and `web-green`, a production and a test
/// listener each forwarding to both (blue 100, green 0), and service `web` deployed by ECS's
/// `strategy` (with `hooks` and `extra` applied to its deployment configuration), running two
/// tasks of 1.0.0 in `web-blue`, its first deployment completed. Writes ferry.toml with
/// `strategy = "ecs-native"` for web and `native` under `[services.web.ecs_native]`.
async fn stage(
    world: &World,
    strategy: DeploymentStrategy,
    hooks: Vec<DeploymentLifecycleHook>,
    extra: impl FnOnce(
        ferry_aws::ecs::types::builders::DeploymentConfigurationBuilder,
    ) -> ferry_aws::ecs::types::builders::DeploymentConfigurationBuilder,
    native: &str,
) -> Stage {
    let elb = &world.clients.elbv2;
    let lb = elb.create_load_balancer().name("web").subnets("subnet-aaaa").subnets("subnet-bbbb").send().await.unwrap();
    let lb = &lb.load_balancers()[0];
    let dns = lb.dns_name().unwrap().to_string();
    let blue = health_checked_group(elb, "web-blue", 8080, lb.vpc_id().unwrap(), TargetTypeEnum::Ip).await;
    let green = health_checked_group(elb, "web-green", 8080, lb.vpc_id().unwrap(), TargetTypeEnum::Ip).await;
    set_deregistration_delay(elb, &blue, 1).await;
    set_deregistration_delay(elb, &green, 1).await;
    let port = free_port(&dns);
    let both = || weighted(&[(&blue, 100), (&green, 0)]);
    let production = create_listener(elb, lb.load_balancer_arn().unwrap(), port, both()).await;
    let test = create_listener(elb, lb.load_balancer_arn().unwrap(), free_port(&dns), both()).await;
    let default_rule = |listener: String| async move {
        let rules = world.clients.elbv2.describe_rules().listener_arn(listener).send().await.unwrap();
        rules.rules().iter().find(|r| r.is_default() == Some(true)).unwrap().rule_arn().unwrap().to_string()
    };
    let (production_rule, test_rule) = (default_rule(production.clone()).await, default_rule(test.clone()).await);

    let container = ContainerDefinition::builder()
        .name("app")
        .image(format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:1.0.0"))
        .essential(true)
        .memory(64)
        .entry_point(ferry_bin())
        .command("sample-app")
        .environment(KeyValuePair::builder().name("VERSION").value("1.0.0").build())
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
    let configuration = extra(
        DeploymentConfiguration::builder()
            .strategy(strategy)
            .minimum_healthy_percent(100)
            .maximum_percent(200)
            .bake_time_in_minutes(1)
            .set_lifecycle_hooks(Some(hooks)),
    )
    .build();
    let advanced = AdvancedConfiguration::builder()
        .alternate_target_group_arn(&green)
        .production_listener_rule(&production_rule)
        .test_listener_rule(&test_rule)
        .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecs-load-balancers"))
        .build();
    world
        .clients
        .ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("web")
        .task_definition(registered.task_definition().unwrap().task_definition_arn().unwrap())
        .desired_count(2)
        .health_check_grace_period_seconds(4)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(AwsVpcConfiguration::builder().subnets("subnet-aaaa").build().unwrap())
                .build(),
        )
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&blue)
                .container_name("app")
                .container_port(8080)
                .advanced_configuration(advanced)
                .build(),
        )
        .deployment_configuration(configuration)
        .send()
        .await
        .unwrap();
    world.wait_running("web", 2).await;
    eventually("the first tasks healthy in web-blue", 60, || async { (healthy_in(world, &blue).await == 2).then_some(()) }).await;
    eventually("the first deployment completed", 60, || async {
        let service = world.service("web").await;
        (service.deployments()[0].rollout_state().map(|s| s.as_str()) == Some("COMPLETED")).then_some(())
    })
    .await;
    std::fs::write(world.dir.path().join("app.json"), bg_template()).unwrap();
    world.write_config("strategies = { web = \"ecs-native\" }\ntimeout = \"60s\"\n", &["web"]);
    if !native.is_empty() {
        let mut config = std::fs::read_to_string(world.config()).unwrap();
        config.push_str(&format!("\n[services.web.ecs_native]\n{native}\n"));
        std::fs::write(world.config(), config).unwrap();
    }
    Stage { production, test, url: format!("http://{dns}:{port}/") }
}

fn pause_at(stage: DeploymentLifecycleHookStage) -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder().target_type(DeploymentLifecycleHookTargetType::Pause).lifecycle_stages(stage).build()
}

/// `ferry deploy test web=VERSION --output json` with a request loop through the production
/// listener for the whole of it: what ferry printed, and what the loop saw.
async fn deploy_under_traffic(world: &World, stage: &Stage, version: &str) -> (std::process::Output, crate::blue_green::Counts) {
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["deploy", "test", &format!("web={version}"), "--output", "json"]).await;
    (output, traffic.stop().await)
}

/// The `what` of each ecs-native event of a JSON run, with its stage or action.
fn native_events(output: &std::process::Output) -> Vec<String> {
    events_of(output)
        .iter()
        .filter(|e| e["what"].as_str().is_some_and(|w| w.starts_with("lifecycle_hook")))
        .map(|e| format!("{} {} {}", e["what"].as_str().unwrap(), e["stage"].as_str().unwrap_or(""), e["action"].as_str().unwrap_or("")))
        .collect()
}

/// The production shares (percent) the run reported for the new version, in order.
fn production_shares(output: &std::process::Output) -> Vec<f64> {
    let mut shares: Vec<f64> = Vec::new();
    for e in events_of(output).iter().filter(|e| e["what"] == "lifecycle_stage") {
        if let Some(p) = e["production_percent"].as_f64()
            && shares.last() != Some(&p)
        {
            shares.push(p);
        }
    }
    shares
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_blue_green_deploy_passes_its_checks_at_the_hook_and_moves_production_with_none_failed() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(
        &world,
        DeploymentStrategy::BlueGreen,
        vec![pause_at(DeploymentLifecycleHookStage::PostTestTrafficShift)],
        |c| c,
        "check_command = [\"sh\", \"-c\", \"test -n \\\"$FERRY_CHECK_URL\\\"\"]",
    )
    .await;
    let (output, counts) = deploy_under_traffic(&world, &stage, "1.1.0").await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(result_of(&output)["services"][0]["outcome"], "succeeded");
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(counts.versions, vec!["1.0.0".to_string(), "1.1.0".to_string()]);
    assert_eq!(
        native_events(&output),
        vec![
            "lifecycle_hook_waiting POST_TEST_TRAFFIC_SHIFT ".to_string(),
            "lifecycle_hook_checked POST_TEST_TRAFFIC_SHIFT ".to_string(),
            "lifecycle_hook_answered POST_TEST_TRAFFIC_SHIFT CONTINUE".to_string(),
        ],
        "{}",
        text(&output)
    );
    assert_eq!(production_shares(&output).last(), Some(&100.0), "{}", text(&output));
    assert_eq!(weights(&world, &stage.production).await, vec![("web-blue".to_string(), 0), ("web-green".to_string(), 100)]);
    assert_eq!(weights(&world, &stage.test).await, vec![("web-blue".to_string(), 0), ("web-green".to_string(), 100)]);
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0".to_string(), "1.1.0".to_string()]);
    // One UpdateService: ECS did the rest.
    assert_eq!(world.calls().await.get("ecs:UpdateService").copied(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_fails_at_the_hook_rolls_the_native_deploy_back_and_production_stays_on_blue() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(
        &world,
        DeploymentStrategy::BlueGreen,
        vec![pause_at(DeploymentLifecycleHookStage::PostTestTrafficShift)],
        |c| c,
        "check_command = [\"sh\", \"-c\", \"echo smoke test failed; exit 3\"]",
    )
    .await;
    let (output, counts) = deploy_under_traffic(&world, &stage, "1.1.0").await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    assert_eq!(report["cause"], "gate", "{report}");
    assert!(report["reason"].as_str().unwrap().contains("POST_TEST_TRAFFIC_SHIFT"), "{report}");
    assert!(native_events(&output).contains(&"lifecycle_hook_answered POST_TEST_TRAFFIC_SHIFT ROLLBACK".to_string()), "{}", text(&output));
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(counts.versions, vec!["1.0.0".to_string()], "production never served the new version");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-blue".to_string(), 100), ("web-green".to_string(), 0)]);
    eventually("green scaled in", 30, || async {
        (world.answering_versions("web").await == vec!["1.0.0".to_string(), "1.0.0".to_string()]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_linear_and_canary_deploys_report_each_production_step_with_none_failed() {
    for (strategy, expected) in [(DeploymentStrategy::Linear, vec![0.0, 50.0, 100.0]), (DeploymentStrategy::Canary, vec![0.0, 20.0, 100.0])]
    {
        let world = World::with_options("", &["web"], world_options()).await;
        let linear = LinearConfiguration::builder().step_percent(50.0).step_bake_time_in_minutes(4).build();
        let canary = CanaryConfiguration::builder().canary_percent(20.0).canary_bake_time_in_minutes(4).build();
        let is_linear = strategy == DeploymentStrategy::Linear;
        let stage = stage(
            &world,
            strategy,
            vec![],
            move |c| if is_linear { c.linear_configuration(linear) } else { c.canary_configuration(canary) },
            "",
        )
        .await;
        let (output, counts) = deploy_under_traffic(&world, &stage, "1.1.0").await;
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
        assert_eq!(production_shares(&output), expected, "{}", text(&output));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_native_on_a_rolling_service_is_refused_before_anything_changes() {
    let world = World::with_options("", &["web"], world_options()).await;
    let elb = &world.clients.elbv2;
    let lb = elb.create_load_balancer().name("web").subnets("subnet-aaaa").subnets("subnet-bbbb").send().await.unwrap();
    let lb = &lb.load_balancers()[0];
    let group = health_checked_group(elb, "web-tg", 8080, lb.vpc_id().unwrap(), TargetTypeEnum::Ip).await;
    create_listener(elb, lb.load_balancer_arn().unwrap(), free_port(lb.dns_name().unwrap()), forward(&group)).await;
    sample_service_behind(&world, "web", "1.0.0", 1, &group, Some(4), &[]).await;
    world.wait_running("web", 1).await;
    std::fs::write(world.dir.path().join("app.json"), bg_template()).unwrap();
    world.write_config("strategies = { web = \"ecs-native\" }\n", &["web"]);
    world.reset_calls().await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("ROLLING") && said.contains("BLUE_GREEN") && said.contains("nothing was changed"), "{said}");
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_then_status_shows_the_pause_then_watch_and_continue_finish_the_deploy() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(
        &world,
        DeploymentStrategy::BlueGreen,
        vec![pause_at(DeploymentLifecycleHookStage::PostTestTrafficShift)],
        |c| c,
        "approve = true",
    )
    .await;
    let traffic = Traffic::start(&stage.url);

    // --detach returns once ECS's deployment is started and recorded.
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--detach", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(result_of(&output)["services"][0]["outcome"], "detached", "{}", text(&output));
    assert!(events_of(&output).iter().any(|e| e["what"] == "detached"), "{}", text(&output));
    let history = world.ledger_records();
    assert_eq!(history.last().map(|r| r.outcome), Some(ferry_store::Outcome::InProgress));

    // status says where it waits, and for what.
    let paused = eventually("status to show the pause", 60, || async {
        let output = world.ferry(&["status", "test", "--output", "json"]).await;
        let paused = result_of(&output)["services"][0]["paused"].clone();
        (paused["stage"] == "POST_TEST_TRAFFIC_SHIFT").then_some(paused)
    })
    .await;
    assert_eq!(paused["waits_for"], "approval", "{paused}");
    let said = text(&world.ferry(&["status", "test"]).await);
    assert!(
        said.contains("web in test: ECS deployment paused at POST_TEST_TRAFFIC_SHIFT") && said.contains("ferry continue test web"),
        "{said}"
    );

    // watch follows it: it runs the checks at the hook, then waits for the approval.
    let watching = world.ferry_in_background(&["watch", "test", "web", "--output", "json"]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(weights(&world, &stage.production).await, vec![("web-blue".to_string(), 100), ("web-green".to_string(), 0)]);
    let answered = world.ferry(&["continue", "test", "web"]).await;
    assert_eq!(answered.status.code(), Some(0), "{}", text(&answered));
    assert!(text(&answered).contains("answered CONTINUE for web in test: lifecycle hook"), "{}", text(&answered));
    let watched = watching.await.unwrap();
    let counts = traffic.stop().await;
    assert_eq!(watched.status.code(), Some(0), "{}", text(&watched));
    assert_eq!(result_of(&watched)["services"][0]["outcome"], "succeeded", "{}", text(&watched));
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(weights(&world, &stage.production).await, vec![("web-blue".to_string(), 0), ("web-green".to_string(), 100)]);
    // One deployment in the ledger, now succeeded: watch resumed it, it did not start another.
    let records = world.ledger_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, ferry_store::Outcome::Succeeded);

    // Nothing is paused or in progress any more.
    let again = world.ferry(&["continue", "test", "web"]).await;
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    assert!(text(&again).contains("nothing to continue"), "{}", text(&again));
    let again = world.ferry(&["watch", "test", "web"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(text(&again).contains("nothing to watch") && text(&again).contains("succeeded"), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_is_refused_where_ferry_moves_the_traffic_itself() {
    let world = World::new("", &["web"]).await;
    world.write_config("strategies = { web = \"canary\" }\n", &["web"]);
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str("\n[services.web.blue_green]\nproduction_rule = \"arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/1/2/3\"\npreparing_rule = \"arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/web/1/2/4\"\nsteps = [\"10%/1m\", \"100%\"]\n");
    std::fs::write(world.config(), config).unwrap();
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--detach"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--detach") && text(&output).contains("ecs-native"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_of_a_detached_deployment_paused_at_a_hook_puts_production_back_and_says_so() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(
        &world,
        DeploymentStrategy::BlueGreen,
        vec![pause_at(DeploymentLifecycleHookStage::PostTestTrafficShift)],
        |c| c,
        "approve = true",
    )
    .await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--detach"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    eventually("the pause", 60, || async {
        let output = world.ferry(&["status", "test", "--output", "json"]).await;
        (result_of(&output)["services"][0]["paused"]["stage"] == "POST_TEST_TRAFFIC_SHIFT").then_some(())
    })
    .await;
    let traffic = Traffic::start(&stage.url);
    let output = world.ferry(&["rollback", "test", "web", "--output", "json"]).await;
    let counts = traffic.stop().await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    assert_eq!(report["cause"], "requested", "{report}");
    assert!(counts.failed.is_empty(), "no request failed: {counts:?}");
    assert_eq!(counts.versions, vec!["1.0.0".to_string()]);
    assert_eq!(weights(&world, &stage.test).await, vec![("web-blue".to_string(), 100), ("web-green".to_string(), 0)]);
    eventually("green scaled in", 30, || async {
        (world.answering_versions("web").await == vec!["1.0.0".to_string(), "1.0.0".to_string()]).then_some(())
    })
    .await;
}

/// Kill tests (issue 12): ferry is SIGKILLed at a hook — after its checks ran but before it
/// answered, and right after it answered — and the same command is run again. It must finish
/// the one deployment: no second UpdateService or revision, the hook answered once, production
/// on green, one ledger record, succeeded, and no lock left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_deploy_killed_at_a_hook_is_finished_by_the_same_command() {
    for point in ["native-after-checks", "native-after-answer"] {
        let world = World::with_options("", &["web"], world_options()).await;
        let stage =
            stage(&world, DeploymentStrategy::BlueGreen, vec![pause_at(DeploymentLifecycleHookStage::PostTestTrafficShift)], |c| c, "")
                .await;
        crate::kill::killed_at(&world, point, &["deploy", "test", "web=1.1.0"]).await;
        let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
        assert_eq!(output.status.code(), Some(0), "{point}: {}", text(&output));
        let report = &result_of(&output)["services"][0];
        assert_eq!(report["outcome"], "succeeded", "{point}: {report}");
        assert!(report["resumed_at"].is_string(), "{point}: the dead run's deployment is resumed: {report}");
        assert_eq!(weights(&world, &stage.production).await, vec![("web-blue".to_string(), 0), ("web-green".to_string(), 100)]);
        let calls = world.calls().await;
        assert_eq!(calls.get("ecs:UpdateService").copied(), Some(1), "{point}: {calls:?}");
        assert_eq!(calls.get("ecs:RegisterTaskDefinition").copied(), Some(2), "{point}: the first revision and 1.1.0's: {calls:?}");
        assert!(calls.get("ecs:ContinueServiceDeployment").copied().unwrap_or(0) <= 1, "{point}: answered once: {calls:?}");
        let records = world.ledger_records();
        assert_eq!(records.len(), 1, "{point}: {records:?}");
        assert_eq!(records[0].outcome, ferry_store::Outcome::Succeeded, "{point}");
        let status = world.ferry(&["status", "test", "--output", "json"]).await;
        assert_eq!(result_of(&status)["locks"], serde_json::json!([]), "{point}: {}", text(&status));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_service_deployed_with_another_strategy_or_with_a_rule_ecs_would_refuse_is_refused_before_anything_changes() {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, DeploymentStrategy::BlueGreen, vec![], |c| c, "").await;

    // rolling on a service ECS deploys blue/green would sit at its hooks unanswered.
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), config.replace("strategies = { web = \"ecs-native\" }", "strategies = { web = \"rolling\" }")).unwrap();
    world.reset_calls().await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        text(&output).contains("ECS's own BLUE_GREEN strategy") && text(&output).contains("strategy = \"ecs-native\""),
        "{}",
        text(&output)
    );
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);

    // A production rule that forwards to the blue group only: ECS would refuse UpdateService.
    std::fs::write(world.config(), config).unwrap();
    let blue = weights(&world, &stage.production).await[0].0.clone();
    assert_eq!(blue, "web-blue");
    let groups = world.clients.elbv2.describe_target_groups().names("web-blue").send().await.unwrap();
    let blue_arn = groups.target_groups()[0].target_group_arn().unwrap().to_string();
    world.clients.elbv2.modify_listener().listener_arn(&stage.production).default_actions(forward(&blue_arn)).send().await.unwrap();
    world.reset_calls().await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("does not forward to both target groups (web-blue and web-green)"), "{}", text(&output));
    assert_eq!(mutations(&world.calls().await), 0, "nothing registered: {:?}", world.calls().await);
}
