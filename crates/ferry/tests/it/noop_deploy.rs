//! No-op deploys: a deploy of what a service already runs makes only reads (nothing
//! registered, updated or tagged) and says "already running"; `--force` makes one forced
//! UpdateService of the running revision. Counted by ferry local's `GET /_ferry/calls`.

use crate::common::*;

/// The calls that change something in AWS, of those counted.
const MUTATIONS: &[&str] = &["ecs:RegisterTaskDefinition", "ecs:UpdateService", "ecs:TagResource", "ecr:PutImage"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_deploy_makes_only_reads_and_says_already_running_and_force_makes_one_update() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let first = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(first.status.success(), "{}", text(&first));
    let running = result_of(&first)["services"][0]["to_task_definition"].as_str().unwrap().to_string();
    world.reset_calls().await;

    let again = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("already running"), "{}", text(&again));
    let calls = world.calls().await;
    for mutation in MUTATIONS {
        assert_eq!(calls.get(*mutation), None, "{mutation} on a no-op deploy: {calls:?}");
    }
    assert!(calls.contains_key("ecs:DescribeServices"), "it did look: {calls:?}");
    assert_eq!(world.service("web").await.task_definition(), Some(running.as_str()));

    // JSON: the outcome says so, and the ledger has it.
    let json = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(json.status.success(), "{}", text(&json));
    let report = &result_of(&json)["services"][0];
    assert_eq!(report["outcome"], "unchanged", "{report}");
    assert_eq!(report["to_task_definition"], running.as_str());
    assert!(world.ledger_records().iter().any(|r| r.outcome.as_str() == "unchanged"));

    // --force: one UpdateService (forceNewDeployment) of the running revision, no registration.
    world.reset_calls().await;
    let forced = world.ferry(&["deploy", "test", "web=1.1.0", "--force", "--output", "json"]).await;
    assert!(forced.status.success(), "{}", text(&forced));
    let report = &result_of(&forced)["services"][0];
    assert_eq!(report["outcome"], "succeeded", "{report}");
    assert_eq!(report["to_task_definition"], running.as_str());
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:UpdateService"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), None, "{calls:?}");
    let service = world.service("web").await;
    assert_eq!(service.task_definition(), Some(running.as_str()));
    let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY")).unwrap();
    assert_eq!(primary.id(), report["ecs_deployment_id"].as_str(), "the forced deployment is the one watched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_of_what_already_runs_says_no_change() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let first = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(first.status.success(), "{}", text(&first));

    let plan = world.ferry(&["plan", "test", "web=1.1.0"]).await;
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(text(&plan).contains("no change: already running"), "{}", text(&plan));
    let other = world.ferry(&["plan", "test", "web=1.0.0"]).await;
    assert!(text(&other).contains("task definition changes"), "{}", text(&other));
}
