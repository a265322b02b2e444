//! `ferry status` of a service that runs a service and a target group per version
//! (blue-green, canary, linear), on ferry local: the state a canary deploy leaves midway is
//! built by hand — the environment's own service (Terraform's, untagged) running 1.0.0 in
//! `web-blue`, a service for 1.1.0 tagged `ferry:*` in `web-green`, the production listener
//! forwarding 90/10 — and status shows each version (service, version, `ferry:status`,
//! running/desired, target group, share of the production rule, target health), the row
//! itself the version with the largest share, in JSON and in words; a rolling service in the
//! same environment reads as before.

use ferry_aws::elbv2::types::TargetTypeEnum;
use ferry_local::Options;
use serde_json::{Value, json};

use crate::common::*;
use crate::elb_support::*;

/// An awsvpc service `name` running `desired` tasks of the sample app's `version`, its tasks
/// registered in `target_group`, with `tags`.
async fn version_service(world: &World, name: &str, version: &str, desired: i32, target_group: &str, tags: &[(&str, &str)]) {
    sample_service_behind(world, name, version, desired, target_group, None, tags).await;
}

/// How many of the group's targets are healthy, and how many it has.
async fn health(world: &World, target_group: &str) -> (usize, usize) {
    let out = world.clients.elbv2.describe_target_health().target_group_arn(target_group).send().await.unwrap();
    let all = out.target_health_descriptions();
    let healthy = all.iter().filter(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str()) == Some("healthy")).count();
    (healthy, all.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_version_with_its_share_of_the_production_rule_and_its_health() {
    let world = World::with_options("", &[], Options { health_check_scale: FAST_HEALTH_CHECKS, ..Options::default() }).await;
    let elb = &world.clients.elbv2;
    let lb = elb.create_load_balancer().name("web").subnets("subnet-aaaa").subnets("subnet-bbbb").send().await.unwrap();
    let lb = &lb.load_balancers()[0];
    let (lb_arn, dns, vpc) = (lb.load_balancer_arn().unwrap(), lb.dns_name().unwrap().to_string(), lb.vpc_id().unwrap());
    let blue = health_checked_group(elb, "web-blue", 8080, vpc, TargetTypeEnum::Ip).await;
    let green = health_checked_group(elb, "web-green", 8080, vpc, TargetTypeEnum::Ip).await;
    let production = create_listener(elb, lb_arn, free_port(&dns), weighted(&[(&blue, 90), (&green, 10)])).await;
    let preparing = create_listener(elb, lb_arn, free_port(&dns), forward(&green)).await;

    // The environment's own service, as Terraform made it: no ferry tags.
    version_service(&world, "web", "1.0.0", 2, &blue, &[]).await;
    // The new version's, as a canary deploy creates it.
    let green_service = ferry_core::naming::version_service_name("web", "1.1.0");
    let tags = [
        ("ferry:env", "test"),
        ("ferry:service", "web"),
        ("ferry:version", "1.1.0"),
        ("ferry:status", "new"),
        ("ferry:deployment", "d-canary"),
    ];
    version_service(&world, &green_service, "1.1.0", 1, &green, &tags).await;
    // Another service's version in the same cluster: not one of web's.
    let other = [("ferry:env", "test"), ("ferry:service", "api"), ("ferry:version", "2.0.0"), ("ferry:status", "live")];
    version_service(&world, "api-2-0-0", "1.1.0", 0, &blue, &other).await;
    // A rolling service beside it.
    world.create_service("worker", 1, "1.0.0", false).await;
    world.wait_running("web", 2).await;
    world.wait_running(&green_service, 1).await;
    eventually("web's targets healthy", 60, || async { (health(&world, &blue).await == (2, 2)).then_some(()) }).await;
    eventually("1.1.0's target healthy", 60, || async { (health(&world, &green).await == (1, 1)).then_some(()) }).await;

    let config = format!(
        r#"[environments.test]
region = "{REGION}"
cluster = "{CLUSTER}"
endpoint_url = "{endpoint}"
credentials = "ferry-local"

[services.web]
repository = "{REPOSITORY}"
container = "app"
template = "app.json"
strategy = "canary"

[services.web.blue_green]
production_rule = "{production}"
preparing_rule = "{preparing}"
steps = ["10%/5m", "100%"]

[services.worker]
repository = "{REPOSITORY}"
container = "app"
template = "app.json"
"#,
        endpoint = world.server.endpoint()
    );
    std::fs::write(world.config(), config).unwrap();

    world.reset_calls().await;
    let output = world.ferry(&["status", "test", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    let rows = result["services"].as_array().unwrap();
    let web = rows.iter().find(|r| r["service"] == "web").unwrap();
    // The row is the version with the largest share: the environment's own service, at 90 %.
    assert_eq!(web["ecs_service"], "web", "{web}");
    assert_eq!(web["version"], "1.0.0", "{web}");
    assert_eq!(web["digest"], world.digest_of("1.0.0").await, "{web}");
    assert_eq!((web["running"].as_i64(), web["desired"].as_i64()), (Some(2), Some(2)), "{web}");
    assert!(web["task_definition"].as_str().unwrap().ends_with("/web:1"), "{web}");
    assert_eq!(web["error"], Value::Null, "{web}");
    assert_eq!(web["rollout_state"], "SHIFTING", "traffic is split between two versions: {web}");
    let versions = web["versions"].as_array().unwrap();
    let brief: Vec<Value> = versions
        .iter()
        .map(|v| {
            json!([
                v["ecs_service"],
                v["version"],
                v["status"],
                v["running"],
                v["desired"],
                v["target_group"],
                v["share"],
                v["healthy"],
                v["targets"]
            ])
        })
        .collect();
    assert_eq!(
        brief,
        [json!(["web", "1.0.0", null, 2, 2, "web-blue", 90, 2, 2]), json!([green_service, "1.1.0", "new", 1, 1, "web-green", 10, 1, 1]),],
        "{web}"
    );
    // A rolling service: the row as before, without versions.
    let worker = rows.iter().find(|r| r["service"] == "worker").unwrap();
    assert!(worker.get("versions").is_none(), "{worker}");
    assert_eq!(worker["version"], "1.0.0", "{worker}");
    // Few calls: one ListServices, DescribeServices ten at a time (the cluster's four
    // services with their tags, and worker), one read of the production listener, one
    // DescribeTargetHealth per target group.
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:ListServices"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ecs:DescribeServices"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("elasticloadbalancing:DescribeListeners"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("elasticloadbalancing:DescribeTargetHealth"), Some(&2), "{calls:?}");
    assert_eq!(mutations(&calls), 0, "{calls:?}");

    // In words: the versions on indented lines under web's row.
    let output = world.ferry(&["status", "test"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("test") && l.contains(" web ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(lines[at].contains("1.0.0") && lines[at].contains("2/2"), "{stdout}");
    let pad = " ".repeat(green_service.len() - "web".len());
    assert_eq!(lines[at + 1], format!("  web{pad}  1.0.0  -    2/2  tg web-blue   90%  2/2 healthy"), "{stdout}");
    assert_eq!(lines[at + 2], format!("  {green_service}  1.1.0  new  1/1  tg web-green  10%  1/1 healthy"), "{stdout}");
    assert!(lines[at + 3].starts_with("test") && lines[at + 3].contains("worker"), "{stdout}");
}
