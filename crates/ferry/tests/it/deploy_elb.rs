//! `ferry deploy` of a service behind an Application Load Balancer on ferry local: the
//! rolling watch reads the new tasks' targets (DescribeTargetHealth through the ELBv2
//! adapter, tied to the tasks by the address and port DescribeTasks gives), shows them per
//! target group, declares success only once they are healthy, and fails a version whose
//! health endpoint answers 503 with the health check's reason, then rolls it back.
//!
//! The service is what Terraform would own: an awsvpc service with an `ip` target group
//! (health checks on `/health`, 5 s apart and 2 to decide, run 20 times faster by ferry
//! local's health check scale), a listener forwarding to it, and a grace period.

use ferry_aws::elbv2::types::TargetTypeEnum;
use ferry_local::Options;
use serde_json::Value;

use crate::common::*;
use crate::elb_support::*;

/// The sample app's template (see [`template`]) in the awsvpc network mode that `ip` target
/// groups need, without a container health check: the load balancer's is the one judged.
pub(crate) fn awsvpc_template() -> String {
    let template = template().replace("\"family\": \"{{ service }}\",", "\"family\": \"{{ service }}\",\n  \"networkMode\": \"awsvpc\",");
    template.lines().filter(|line| !line.contains("\"healthCheck\"")).collect::<Vec<_>>().join("\n")
}

/// The states of the target group's targets, sorted.
async fn target_states(world: &World, target_group: &str) -> Vec<String> {
    let out = world.clients.elbv2.describe_target_health().target_group_arn(target_group).send().await.unwrap();
    let mut states: Vec<String> = out
        .target_health_descriptions()
        .iter()
        .map(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default())
        .collect();
    states.sort();
    states
}

/// Load balancer `web` with a listener forwarding to target group `web-tg`, and service
/// `web` running `desired` tasks of 1.0.0 behind it (healthy there), with a health check
/// grace period of `grace` seconds and the circuit breaker on. Returns the target group.
pub(crate) async fn service_behind_a_balancer(world: &World, desired: i32, grace: i32) -> String {
    let elb = &world.clients.elbv2;
    let lb = elb.create_load_balancer().name("web").subnets("subnet-aaaa").subnets("subnet-bbbb").send().await.unwrap();
    let lb = &lb.load_balancers()[0];
    let dns = lb.dns_name().unwrap().to_string();
    let target_group = health_checked_group(elb, "web-tg", 8080, lb.vpc_id().unwrap(), TargetTypeEnum::Ip).await;
    // A short drain, so the rollback does not wait out AWS's default of 300 s.
    set_deregistration_delay(elb, &target_group, 1).await;
    create_listener(elb, lb.load_balancer_arn().unwrap(), free_port(&dns), forward(&target_group)).await;

    sample_service_behind(world, "web", "1.0.0", desired, &target_group, Some(grace), &[]).await;
    world.wait_running("web", desired).await;
    let healthy = vec!["healthy".to_string(); desired as usize];
    eventually("the first tasks healthy in web-tg", 60, || async { (target_states(world, &target_group).await == healthy).then_some(()) })
        .await;
    std::fs::write(world.dir.path().join("app.json"), awsvpc_template()).unwrap();
    target_group
}

/// Each progress event's web-tg entry, in order.
fn web_tg_progress(output: &std::process::Output) -> Vec<Value> {
    events_of(output)
        .iter()
        .filter(|e| e["event"] == "progress")
        .filter_map(|e| e["progress"]["targets"].as_array()?.iter().find(|g| g["target_group"] == "web-tg").cloned())
        .collect()
}

/// A run as a person reads it, without what depends on timing: the in-between progress
/// lines (the COMPLETED one kept), ECS's service events (registered, draining, steady state)
/// and the stopped tasks (how many ferry sees before it ends depends on when it looked).
fn settled(output: &std::process::Output) -> String {
    let shown = crate::readable::shown(output);
    shown
        .lines()
        .filter(|line| !line.contains(" ecs: "))
        .filter(|line| !line.contains(" rolling: ") || line.ends_with("(COMPLETED)"))
        .filter(|line| !line.contains(" rolling back: "))
        .filter(|line| !(line.contains(" task ") && line.contains(" stopped: ")))
        // The probe through the listener (tests/it/probe.rs): its figures depend on timing.
        .filter(|line| !line.contains(" probe ") && !line.contains(" probing "))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_behind_a_load_balancer_succeeds_once_the_new_targets_are_healthy() {
    let world = World::with_options("", &["web"], Options { health_check_scale: 0.05, ..Options::default() }).await;
    let target_group = service_behind_a_balancer(&world, 2, 4).await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let seen = web_tg_progress(&output);
    let last = seen.last().unwrap_or_else(|| panic!("progress names web-tg: {}", text(&output)));
    assert_eq!((last["healthy"].as_u64(), last["expected"].as_u64()), (Some(2), Some(2)), "{seen:?}");
    assert_eq!(last["target_group_arn"], target_group.as_str());
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0", "1.1.0"]);
    // Success took two healthy targets tied to the new tasks by their address and host
    // port (the old tasks' were draining by then): a wrong match would have counted none
    // and run into the timeout.
    assert_eq!(result_of(&output)["services"][0]["outcome"], "succeeded");

    // As a person reads it in CI: the progress line names the group.
    let output = world.ferry(&["deploy", "test", "web=1.0.0"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let settled = settled(&output);
    assert!(settled.contains("rolling: new 2/2 running; web-tg 2/2 healthy (COMPLETED)"), "{settled}");
    crate::readable::settings(&[world.dir.path()]).bind(|| insta::assert_snapshot!("deploy_elb_healthy", settled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_failing_its_load_balancer_health_check_fails_with_the_reason_code_and_is_rolled_back() {
    let world = World::with_options("", &["web"], Options { health_check_scale: 0.05, ..Options::default() }).await;
    let target_group = service_behind_a_balancer(&world, 2, 4).await;
    let before = world.service("web").await.task_definition().unwrap().to_string();

    let output = world.ferry(&["deploy", "test", "web=2.0.0-unhealthy", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    assert_eq!(report["cause"], "unhealthy_targets", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("target group web-tg: Target.ResponseCodeMismatch — Health checks failed with these codes: [503]"),
        "{reason}"
    );
    assert!(reason.ends_with("rolled back to web:1"), "{reason}");
    assert!(web_tg_progress(&output).iter().any(|g| g["unhealthy"].as_u64() > Some(0)), "the unhealthy targets were shown");
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()), "back on the previous revision");
    assert_eq!(world.answering_versions("web").await, vec!["1.0.0", "1.0.0"]);
    let healthy = vec!["healthy".to_string(); 2];
    eventually("only the old tasks left, healthy", 30, || async { (target_states(&world, &target_group).await == healthy).then_some(()) })
        .await;

    // As a person reads it: the reason, the rollback, the exit code.
    let output = world.ferry(&["deploy", "test", "web=2.0.0-unhealthy"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let mut settings = crate::readable::settings(&[world.dir.path()]);
    // Which ferry saw first: the target unhealthy past the grace period, or ECS stopping it.
    settings.add_filter(
        r"\(target 127\.0\.0\.1:\[PORT\]\)(; ECS stopped the task: [^;]*)?",
        "(target 127.0.0.1:[PORT])[; ECS stopped the task]",
    );
    settings.bind(|| insta::assert_snapshot!("deploy_elb_unhealthy", settled(&output)));
}
