//! The alarm gate (issue 12): `alarms = [...]` on a service names CloudWatch alarms that
//! ferry reads while a deploy runs and bakes (and, for blue-green, canary and linear, while
//! traffic moves); one in ALARM fails the deploy, which is rolled back. An alarm that does not
//! exist is refused before anything changes. Against ferry local's CloudWatch.

use ferry_aws::cloudwatch::types::{ComparisonOperator, StateValue, Statistic};

use crate::common::*;

async fn put_alarm(world: &World, name: &str) {
    let cloudwatch = &world.clients.cloudwatch;
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
    set_alarm(world, name, StateValue::Ok).await;
}

async fn set_alarm(world: &World, name: &str, state: StateValue) {
    world.clients.cloudwatch.set_alarm_state().alarm_name(name).state_value(state).state_reason("set by the test").send().await.unwrap();
}

fn with_alarms(world: &World, alarms: &str) {
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config = config.replace("container = \"app\"\n", &format!("container = \"app\"\nalarms = {alarms}\n"));
    std::fs::write(world.config(), config).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_that_goes_off_while_a_rolling_deploy_bakes_rolls_it_back() {
    let world = World::new("bake = \"30s\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    world.wait_running("web", 1).await;
    put_alarm(&world, "test-web-5xx").await;
    with_alarms(&world, "[\"{{ environment }}-web-5xx\"]");
    let deploy = world.ferry_in_background(&["deploy", "test", "web=1.1.0", "--output", "json"]);
    // Once the new deployment completed (ferry bakes it), the alarm goes off.
    crate::elb_support::eventually("the new deployment completed", 60, || async {
        let service = world.service("web").await;
        let primary = &service.deployments()[0];
        (primary.task_definition().unwrap().ends_with(":2") && primary.rollout_state().map(|s| s.as_str()) == Some("COMPLETED"))
            .then_some(())
    })
    .await;
    set_alarm(&world, "test-web-5xx", StateValue::Alarm).await;
    let output = deploy.await.unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    assert_eq!(report["cause"], "alarm", "{report}");
    assert!(report["reason"].as_str().unwrap().contains("CloudWatch alarm test-web-5xx is in ALARM: set by the test"), "{report}");
    assert!(events_of(&output).iter().any(|e| e["what"] == "baking"), "it failed while baking: {}", text(&output));
    crate::elb_support::eventually("1.0.0 back", 60, || async {
        (world.answering_versions("web").await == vec!["1.0.0".to_string()]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_gate_naming_an_alarm_that_does_not_exist_is_refused_before_anything_changes() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    world.wait_running("web", 1).await;
    put_alarm(&world, "web-5xx").await;
    with_alarms(&world, "[\"web-5xx\", \"web-latncy\"]");
    world.reset_calls().await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let said = text(&output);
    assert!(
        said.contains("services.web.alarms in ferry.toml: no CloudWatch metric alarm named web-latncy")
            && said.contains("nothing was changed"),
        "{said}"
    );
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
    // plan says the same, and changes nothing either.
    let output = world.ferry(&["plan", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("web-latncy"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_in_ok_let_the_deploy_through() {
    let world = World::new("bake = \"2s\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    world.wait_running("web", 1).await;
    put_alarm(&world, "web-5xx").await;
    with_alarms(&world, "[\"web-5xx\"]");
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(world.calls().await.get("monitoring:DescribeAlarms").copied().unwrap_or(0) >= 2, "{:?}", world.calls().await);
}
