//! `ferry deploy` end to end: the ferry binary against an embedded ferry local, through the
//! real AWS SDK, with tasks that are real processes (the sample app).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;
use ferry_aws::ecs::types::ContainerDefinition;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_registers_one_tagged_revision_updates_once_and_watches_its_own_deployment() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    world.reset_calls().await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    assert_eq!(result["exit_code"], 0);
    let report = &result["services"][0];
    assert_eq!(report["outcome"], "succeeded");
    assert_eq!(report["from_version"], "1.0.0");
    assert_eq!(report["to_version"], "1.1.0");

    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ecs:UpdateService"), Some(&1), "{calls:?}");
    // Nobody watches a pipeline's progress: no task is listed for its health.
    assert_eq!(calls.get("ecs:ListTasks"), None, "{calls:?}");
    assert!(events_of(&output).iter().all(|e| e.get("progress").is_none_or(|p| p.get("health").is_none())));

    // The service runs the revision ferry registered, and the deployment ferry watched is
    // the one ECS completed.
    let service = world.service("web").await;
    assert_eq!(service.task_definition(), report["to_task_definition"].as_str());
    let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY")).unwrap();
    assert_eq!(primary.id(), report["ecs_deployment_id"].as_str());
    assert_eq!(primary.rollout_state().map(|s| s.as_str()), Some("COMPLETED"));
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0", "1.1.0"]);

    // The revision carries ferry's tags.
    let described = world
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .include(ferry_aws::ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let tags: BTreeMap<&str, &str> = described.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags.get("ferry:version"), Some(&"1.1.0"));
    assert_eq!(tags.get("ferry:deployment"), report["deployment_id"].as_str().as_ref());
    assert_eq!(tags.get("ferry:digest").copied(), report["to_digest"].as_str());
    assert_eq!(tags.get("ferry:deployed-by"), Some(&"tester"));

    // The ledger has the deployment, its ECS deployment id, and the events seen.
    let records = world.ledger_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, ferry_store::Outcome::Succeeded);
    assert_eq!(records[0].ecs_deployment_id.as_deref(), primary.id());
    assert_eq!(records[0].who, "tester");
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    let events = ledger.events(&records[0].id).unwrap();
    assert!(events.iter().any(|e| e.kind == "ecs-event" && e.message.contains("deployment completed")), "{events:?}");
    assert!(ledger.lock("test", "web").unwrap().is_none(), "the lock is released");

    // status and history tell the same story.
    let status = world.ferry(&["status", "--output", "json"]).await;
    let status = result_of(&status);
    assert_eq!(status["services"][0]["version"], "1.1.0");
    assert_eq!(status["services"][0]["running"], 2);
    let history = world.ferry(&["history", "test", "web"]).await;
    assert!(text(&history).contains("1.0.0 → 1.1.0") && text(&history).contains("succeeded"), "{}", text(&history));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_verbose_progress_shows_how_many_new_tasks_are_healthy() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "-v", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let health: Vec<Value> = events_of(&output).iter().filter_map(|e| e["progress"].get("health").cloned()).collect();
    assert!(!health.is_empty(), "{}", text(&output));
    for h in &health {
        let counted = ["healthy", "unhealthy", "unknown"].iter().map(|k| h[k].as_u64().unwrap()).sum::<u64>();
        assert!((1..=2).contains(&counted), "the running new tasks, by health: {h}");
    }
    // The text view shows the same progress lines; how it words health (never "0 healthy"
    // for tasks not judged yet) is unit-tested with the printer, since whether a look falls
    // between the new tasks turning healthy and the rollout completing is a matter of timing.
    let text_output = world.ferry(&["deploy", "test", "web=1.0.0", "-v"]).await;
    assert!(text_output.status.success(), "{}", text(&text_output));
    assert!(text(&text_output).contains("rolling: new 2/2 running"), "{}", text(&text_output));
    assert!(!text(&text_output).contains("0 healthy"), "{}", text(&text_output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_process_exits_is_rolled_back_by_the_circuit_breaker_and_reported_with_its_stop_reason() {
    // ferry's own task-failure limit is high, so ECS's circuit breaker acts first.
    let world = World::new("max_task_failures = 50", &["web"]).await;
    let before = world.create_service("web", 2, "1.0.0", true).await;
    let before_deployment = world.service("web").await.deployments()[0].id().unwrap().to_string();
    let before_tasks = world.running_task_arns("web").await;

    let output = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back");
    assert_eq!(report["rollback_deployment_id"], before_deployment.as_str(), "ECS reactivated the COMPLETED deployment: {report}");
    assert_eq!(world.running_task_arns("web").await, before_tasks, "a rollback keeps the healthy tasks");
    assert_eq!(report["cause"], "circuit_breaker");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("circuit breaker"), "{reason}");
    assert!(reason.contains("Essential container in task exited") && reason.contains("exited with code 1"), "{reason}");
    assert!(events_of(&output).iter().any(|e| e["event"] == "task_stopped"), "task stops are reported as they happen");
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()));
    assert_eq!(world.ledger_records()[0].outcome, ferry_store::Outcome::FailedRolledBack);
    // The ledger's last event says how it ended once, as the printer does (it read
    // "failed, rolled back: …; rolled back to web:1").
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    let events = ledger.events(&world.ledger_records()[0].id).unwrap();
    let finished = events.iter().rfind(|e| e.kind == "finished").expect("a finished event");
    assert!(!finished.message.starts_with("failed, rolled back"), "{}", finished.message);
    assert_eq!(finished.message.matches("rolled back").count(), 1, "{}", finished.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_breaker_with_a_threshold_configuration_is_reported_with_its_count_and_threshold() {
    use ferry_aws::ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, ThresholdConfiguration, ThresholdType};
    let world = World::new("max_task_failures = 50", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    let breaker = DeploymentCircuitBreaker::builder()
        .enable(true)
        .rollback(true)
        .reset_on_healthy_task(false)
        .threshold_configuration(ThresholdConfiguration::builder().r#type(ThresholdType::Count).value(2).build().unwrap())
        .build();
    world
        .clients
        .ecs
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .deployment_configuration(DeploymentConfiguration::builder().deployment_circuit_breaker(breaker).build())
        .send()
        .await
        .unwrap();

    let output = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["cause"], "circuit_breaker", "{report}");
    let reason = report["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "circuit breaker: 2 failed tasks, threshold 2 (thresholdConfiguration COUNT 2, failures not reset by a healthy task)"
        ),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_becomes_healthy_times_out_and_ferry_rolls_it_back() {
    let world = World::new("timeout = \"6s\"\nmax_task_failures = 100", &["web"]).await;
    let first = world.create_service("web", 2, "1.0.0", false).await;
    let ok = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(ok.status.success(), "{}", text(&ok));
    let good = world.service("web").await.task_definition().unwrap().to_string();
    assert_ne!(good, first);
    let good_deployment = world.service("web").await.deployments()[0].id().unwrap().to_string();
    let good_tasks = world.running_task_arns("web").await;

    let output = world.ferry(&["deploy", "test", "web=2.0.0-unhealthy", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["cause"], "timeout");
    assert!(report["reason"].as_str().unwrap().contains("did not complete within 6s"), "{report}");
    // StopServiceDeployment ROLLBACK: ECS reactivates the last COMPLETED deployment (same id,
    // same tasks); ferry follows that id.
    assert_eq!(report["rollback_deployment_id"], good_deployment.as_str(), "{report}");
    let service = world.service("web").await;
    assert_eq!(service.task_definition(), Some(good.as_str()), "back on the previous good revision");
    assert_eq!(service.deployments().len(), 1);
    assert_eq!(service.deployments()[0].id(), Some(good_deployment.as_str()));
    assert_eq!(world.running_task_arns("web").await, good_tasks, "the good tasks were kept, not replaced");
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0", "1.1.0"]);
    // The failed revision stays registered (it is history), the running one too.
    let revisions = world.revisions("web").await;
    assert!(revisions.contains(&good) && revisions.len() == 3, "{revisions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn done_means_stable_a_version_that_crashes_seconds_after_completed_is_rolled_back() {
    // 2.0.0-flaky turns healthy, its deployment reaches COMPLETED, then each task exits
    // 6 s after it started. ferry used to say "deployed" (exit 0); the bake catches it.
    let world = World::new("bake = \"30s\"\nmax_task_failures = 50", &["web"]).await;
    let before = world.create_service("web", 2, "1.0.0", false).await;

    let output = world.ferry(&["deploy", "test", "web=2.0.0-flaky", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["outcome"], "failed_rolled_back", "{report}");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("exited with code 3"), "the crash is quoted: {reason}");
    assert!(events_of(&output).iter().any(|e| e["event"] == "phase" && e["phase"] == "baking"), "the bake is announced");
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()), "back on the previous revision");
    assert_eq!(world.ledger_records()[0].outcome, ferry_store::Outcome::FailedRolledBack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_that_stays_healthy_through_the_bake_succeeds() {
    let world = World::new("bake = \"3s\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(events_of(&output).iter().any(|e| e["event"] == "phase" && e["phase"] == "baking"));
    assert_eq!(world.answering_versions("web").await, vec!["1.1.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_refused_in_preflight_and_changes_nothing() {
    let world = World::new("", &["web"]).await;
    let before = world.create_service("web", 1, "1.0.0", true).await;
    let revisions = world.revisions("web").await;
    let deployments = world.service("web").await.deployments().len();
    world.reset_calls().await;

    let output = world.ferry(&["deploy", "test", "web=9.9.9"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("image app:9.9.9 not found in the registry"), "{}", text(&output));

    let calls = world.calls().await;
    assert_eq!(mutations(&calls), 0, "no mutating call: {calls:?}");
    assert_eq!(world.revisions("web").await, revisions, "no new revision");
    let service = world.service("web").await;
    assert_eq!(service.task_definition(), Some(before.as_str()));
    assert_eq!(service.deployments().len(), deployments);
    assert!(world.ledger_records().is_empty(), "a refused deploy changed nothing worth recording");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_deploys_of_one_service_one_is_refused_naming_the_holder() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let (a, b) = tokio::join!(world.ferry(&["deploy", "test", "web=1.1.0-slow"]), world.ferry(&["deploy", "test", "web=1.1.0-slow"]));
    let codes = [a.status.code(), b.status.code()];
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(7)), "one deploys, one is refused: {codes:?}\n{}\n{}", text(&a), text(&b));
    let refused = if a.status.code() == Some(7) { &a } else { &b };
    assert!(text(refused).contains("being deployed by tester"), "{}", text(refused));
    assert_eq!(world.revisions("web").await.len(), 2, "the refused deploy registered nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_deploy_in_one_run_each_tracked_separately() {
    let world = World::new("", &["api", "web", "worker"]).await;
    for name in ["api", "web", "worker"] {
        world.create_service(name, 1, "1.0.0", true).await;
    }
    let output = world.ferry(&["deploy", "test", "api=1.1.0", "web=1.1.0", "worker=1.1.0", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    let services = result["services"].as_array().unwrap();
    assert_eq!(services.len(), 3);
    let mut deployments = std::collections::HashSet::new();
    for (report, name) in services.iter().zip(["api", "web", "worker"]) {
        assert_eq!(report["service"], name);
        assert_eq!(report["outcome"], "succeeded");
        deployments.insert(report["ecs_deployment_id"].as_str().unwrap().to_string());
        assert_eq!(world.service(name).await.task_definition(), report["to_task_definition"].as_str());
    }
    assert_eq!(deployments.len(), 3, "each service's own deployment was watched");
    assert_eq!(world.ledger_records().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_more_than_100_tasks_deploys() {
    let world = World::new("timeout = \"3m\"", &["big"]).await;
    world.create_service("big", 105, "1.0.0", true).await;
    let output = world.ferry(&["deploy", "test", "big=1.1.0", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let service = world.service("big").await;
    assert_eq!(service.running_count(), 105);
    assert_eq!(service.task_definition(), result_of(&output)["services"][0]["to_task_definition"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_tasks_of_a_deployment_are_read_across_pages() {
    use ferry_core::platform::Ecs;
    let world = World::new("", &["big"]).await;
    let container = ContainerDefinition::builder()
        .name("app")
        .image(format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:1.0.0"))
        .essential(true)
        .memory(16)
        .entry_point("/bin/sh")
        .entry_point("-c")
        .command("exit 2")
        .build();
    let td = world.clients.ecs.register_task_definition().family("oneshot").container_definitions(container).send().await.unwrap();
    let arn = td.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    for _ in 0..11 {
        world.clients.ecs.run_task().cluster(CLUSTER).task_definition(&arn).count(10).started_by("ecs-svc/pages").send().await.unwrap();
    }
    let ecs = ferry_aws::platform::AwsEcs::new(world.clients.ecs.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stopped = ecs.stopped_tasks(CLUSTER, "ecs-svc/pages").await.unwrap();
        if stopped.len() == 110 && stopped.iter().all(|t| t.containers[0].exit_code == Some(2)) {
            break;
        }
        assert!(Instant::now() < deadline, "expected 110 stopped tasks with exit code 2, got {}", stopped.len());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_on_a_tenth_of_calls_do_not_fail_a_deploy() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 2, "1.0.0", true).await;
    for fault in [
        json!({"action": "*", "error": "ThrottlingException", "probability": 0.05}),
        json!({"action": "*", "error": "ServiceUnavailableException", "status": 503, "probability": 0.05}),
    ] {
        let response = world.http.post(format!("{}/_ferry/faults", world.server.endpoint())).json(&fault).send().await.unwrap();
        assert!(response.status().is_success());
    }
    // At least three deploys, and on until faults were injected (a deploy makes ~10
    // calls, so three can draw none; ten draw none with odds of about 1 in 30 000).
    let mut last = "";
    for (n, version) in ["1.1.0", "1.0.0"].into_iter().cycle().take(10).enumerate() {
        let output = world.ferry(&["deploy", "test", &format!("web={version}")]).await;
        assert!(output.status.success(), "{}", text(&output));
        last = version;
        let status: Value =
            world.http.get(format!("{}/_ferry/status", world.server.endpoint())).send().await.unwrap().json().await.unwrap();
        if n >= 2 && status["injectedErrors"].as_u64().unwrap() > 0 {
            break;
        }
    }
    let status: Value = world.http.get(format!("{}/_ferry/status", world.server.endpoint())).send().await.unwrap().json().await.unwrap();
    assert!(status["injectedErrors"].as_u64().unwrap() > 0, "faults were injected: {status}");
    assert_eq!(world.answering_versions("web").await, vec![last, last]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_returns_to_the_previous_good_version_and_to_a_named_one() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    assert!(world.ferry(&["deploy", "test", "web=1.0.0"]).await.status.success());
    let v1 = world.service("web").await.task_definition().unwrap().to_string();
    assert!(world.ferry(&["deploy", "test", "web=1.1.0"]).await.status.success());
    let v2 = world.service("web").await.task_definition().unwrap().to_string();

    let output = world.ferry(&["rollback", "test", "web", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["kind"], "rollback");
    assert_eq!(report["to_version"], "1.0.0");
    assert_eq!(world.service("web").await.task_definition(), Some(v1.as_str()));
    assert_eq!(world.answering_versions("web").await, vec!["1.0.0"]);

    // Rolling back again goes to what ran before 1.0.0 (nothing ferry knows), never forward to 1.1.0.
    let again = world.ferry(&["rollback", "test", "web"]).await;
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));
    assert!(text(&again).contains("no earlier version of web"), "{}", text(&again));
    assert_eq!(world.service("web").await.task_definition(), Some(v1.as_str()));

    let output = world.ferry(&["rollback", "test", "web", "--to", "1.1.0"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(world.service("web").await.task_definition(), Some(v2.as_str()));

    let output = world.ferry(&["rollback", "test", "web", "--to", "7.7.7"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains("version 7.7.7"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_normalized_diff_and_changes_nothing() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    assert!(world.ferry(&["deploy", "test", "web=1.0.0"]).await.status.success());
    let revisions = world.revisions("web").await;
    world.reset_calls().await;

    let output = world.ferry(&["plan", "test", "web=1.1.0"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let out = text(&output);
    assert!(out.contains("containerDefinitions[app].image"), "{out}");
    assert!(out.contains("containerDefinitions[app].environment[VERSION]"), "{out}");
    assert!(!out.contains("essential") && !out.contains("portMappings"), "defaults are not differences: {out}");
    let dry = world.ferry(&["deploy", "test", "web=1.1.0", "--dry-run", "--output", "json"]).await;
    assert_eq!(result_of(&dry)["services"][0]["outcome"], "planned");
    assert_eq!(mutations(&world.calls().await), 0);
    assert_eq!(world.revisions("web").await, revisions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_naming_what_is_wrong_and_changes_nothing() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    world.reset_calls().await;
    let cases: &[(&[&str], i32, &str)] = &[
        (&["deploy", "test", "web"], 2, "expected SERVICE=VERSION"),
        (&["deploy", "prod", "web=1.1.0"], 2, "no environment named \"prod\""),
        (&["deploy", "test", "api=1.1.0"], 2, "no service named \"api\""),
        (&["deploy", "test", "web=1.1.0/beta"], 2, "contains '/'"),
        (&["deploy", "test", "web=1.1.0", "web=1.0.0"], 2, "web is given twice"),
        (&["deploy", "test", "web=1.1.0", "--timeout", "soon"], 2, "invalid duration"),
        (&["rollback", "test", "web", "--to", "7"], 4, "task definition web:7 not found"),
    ];
    for (args, code, message) in cases {
        let output = world.ferry(args).await;
        assert_eq!(output.status.code(), Some(*code), "{args:?}: {}", text(&output));
        assert!(text(&output).contains(message), "{args:?}: {}", text(&output));
    }
    // A template that uses an undefined variable: `ferry check` names the file and line,
    // and a deploy is refused before any change.
    let broken = template().replace("{{ version }}\"}", "{{ verison }}\"}");
    let line = broken.lines().position(|l| l.contains("verison")).unwrap() + 1;
    std::fs::write(world.dir.path().join("app.json"), broken).unwrap();
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert!(text(&check).contains(&format!("app.json: line {line}")) && text(&check).contains("verison"), "{}", text(&check));
    let deploy = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(deploy.status.code(), Some(2), "{}", text(&deploy));
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_from_a_live_service_writes_a_template_that_deploys_only_a_new_image() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let project = world.dir.path().join("imported");
    std::fs::create_dir_all(&project).unwrap();
    let config = project.join("ferry.toml");
    let output = std::process::Command::new(ferry_bin())
        .args([
            "init",
            "--from-service",
            &format!("{CLUSTER}/web"),
            "--environment",
            "test",
            "--region",
            REGION,
            "--endpoint-url",
            &world.server.endpoint(),
            "--config",
        ])
        .arg(&config)
        .env("AWS_ACCESS_KEY_ID", ACCOUNT)
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let template: Value = serde_json::from_str(&std::fs::read_to_string(project.join("deploy/web.json")).unwrap()).unwrap();
    assert_eq!(template["containerDefinitions"][0]["image"], "{{ image }}");
    assert!(template.get("revision").is_none() && template.get("taskDefinitionArn").is_none());
    let toml = std::fs::read_to_string(&config).unwrap();
    assert!(toml.contains("repository = \"000000000000.dkr.ecr.us-east-1.amazonaws.com/app\""), "{toml}");
    // init wrote ferry local's credentials (issue 8, item 10): plan as it is; only the image changes.
    assert!(toml.contains("\ncredentials = \"ferry-local\""), "{toml}");
    let plan = std::process::Command::new(ferry_bin())
        .args(["plan", "test", "web=1.1.0", "--config"])
        .arg(&config)
        .arg("--ledger")
        .arg(world.ledger())
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(
        text(&plan).contains("1 change") || text(&plan).lines().filter(|l| l.trim_start().starts_with('~')).count() == 1,
        "{}",
        text(&plan)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_deploy_records_it_interrupted_and_frees_the_lock() {
    use std::io::BufRead;
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let mut child = std::process::Command::new(ferry_bin())
        .args(["deploy", "test", "web=1.1.0-slow", "--output", "json", "--config"])
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("FERRY_USER", "tester")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        // Wait until the UpdateService has been made, then interrupt.
        for line in lines.by_ref() {
            if line.unwrap().contains("\"phase\":\"updated\"") {
                break;
            }
        }
        let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::INT);
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        (rest, child.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    let (rest, output) = output;
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    // It names the ECS deployment UpdateService created (it used to say "no ECS deployment yet").
    assert!(text(&output).contains("interrupted: ECS continues these deployments on its own: web (ecs-svc/"), "{}", text(&output));
    // --output json ends with the result object, also on Ctrl-C.
    let last: serde_json::Value = serde_json::from_str(rest.last().expect("a last JSON line")).unwrap();
    assert_eq!(last["type"], "result", "{last}");
    assert_eq!(last["exit_code"], 130, "{last}");
    assert!(last["services"][0]["ecs_deployment_id"].as_str().is_some_and(|d| d.starts_with("ecs-svc/")), "{last}");
    let records = world.ledger_records();
    assert_eq!(records[0].outcome, ferry_store::Outcome::Interrupted);
    let ledger = ferry_store::Ledger::open(&world.ledger()).unwrap();
    assert!(ledger.lock("test", "web").unwrap().is_none(), "the lock was released");
    // The next deploy is not refused.
    assert!(world.ferry(&["deploy", "test", "web=1.1.0"]).await.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_tag_moves_the_tag_forces_a_deployment_and_moves_it_back_on_failure() {
    let world = World::new("", &["tagged"]).await;
    let revision = world.create_service("tagged", 2, "test", true).await;
    let v1 = world.digest_of("1.0.0").await;
    let v11 = world.digest_of("1.1.0").await;
    assert_eq!(world.digest_of("test").await, v1);

    let output = world.ferry(&["deploy", "test", "tagged=1.1.0", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let report = &result_of(&output)["services"][0];
    assert_eq!(report["to_digest"], v11.as_str());
    assert_eq!(world.digest_of("test").await, v11, "the environment tag moved");
    let service = world.service("tagged").await;
    assert_eq!(service.task_definition(), Some(revision.as_str()), "env-tag keeps the revision");
    assert_eq!(service.deployments()[0].id(), report["ecs_deployment_id"].as_str(), "ferry watched the forced deployment");
    assert_eq!(world.answering_digests("tagged").await, vec![v11.clone(), v11.clone()]);

    // A version whose tasks cannot start: the tag goes back, the service runs 1.1.0 again.
    let broken = world.digest_of("2.0.0-crash").await;
    let fault = json!({"digest": broken, "failToStart": true});
    world.http.post(format!("{}/_ferry/task-faults", world.server.endpoint())).json(&fault).send().await.unwrap();
    let output = world.ferry(&["deploy", "test", "tagged=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    assert_eq!(world.digest_of("test").await, v11, "the tag was moved back");
    assert_eq!(world.answering_digests("tagged").await, vec![v11.clone(), v11.clone()]);
    assert!(
        events_of(&output).iter().any(|e| e["message"].as_str().is_some_and(|m| m.contains("moved app:test back to"))),
        "{}",
        text(&output)
    );

    // Rolling back an env-tag service moves the tag to an earlier digest and forces again.
    let nothing_earlier = world.ferry(&["rollback", "test", "tagged"]).await;
    assert_eq!(nothing_earlier.status.code(), Some(4), "{}", text(&nothing_earlier));
    assert!(text(&nothing_earlier).contains("no earlier digest of tagged in the ledger"), "{}", text(&nothing_earlier));
    let back = world.ferry(&["rollback", "test", "tagged", "--to", "1.0.0"]).await;
    assert!(back.status.success(), "{}", text(&back));
    assert_eq!(world.digest_of("test").await, v1);
    assert_eq!(world.answering_digests("tagged").await, vec![v1.clone(), v1.clone()]);
    assert_eq!(world.service("tagged").await.task_definition(), Some(revision.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_moves_the_environment_tag_after_it_succeeds() {
    let world = World::new("image_tag = \"{{ environment }}-current\"", &["web"]).await;
    world.create_service("web", 1, "1.0.0", true).await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(world.digest_of("test-current").await, world.digest_of("1.1.0").await);
    assert!(text(&output).contains("moved app:test-current to"), "{}", text(&output));

    // By hand, on ECR: one BatchGetImage for both tags, one PutImage.
    world.reset_calls().await;
    let tagged = world.ferry(&["tag", "web", "1.0.0", "test", "--output", "json"]).await;
    assert!(tagged.status.success(), "{}", text(&tagged));
    let result = result_of(&tagged);
    assert_eq!(result["digest"].as_str(), Some(world.digest_of("1.0.0").await.as_str()));
    assert_eq!(result["previous_digest"].as_str(), Some(world.digest_of("1.1.0").await.as_str()));
    assert_eq!(world.digest_of("test-current").await, world.digest_of("1.0.0").await);
    let calls = world.calls().await;
    assert_eq!((calls.get("ecr:BatchGetImage"), calls.get("ecr:PutImage")), (Some(&1), Some(&1)), "{calls:?}");
    // A version that is not there: exit 4, and the tag stays.
    let missing = world.ferry(&["tag", "web", "9.9.9", "test"]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", text(&missing));
    assert!(text(&missing).contains("image app:9.9.9 not found in the registry (ECR: region us-east-1"), "{}", text(&missing));
    assert_eq!(world.digest_of("test-current").await, world.digest_of("1.0.0").await);
    assert_eq!(world.calls().await.get("ecr:PutImage"), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_read_arns_from_the_environments_terraform_state() {
    let state = json!({"version": 4, "terraform_version": "1.9.0", "resources": [
        {"mode": "managed", "type": "aws_iam_role", "name": "task", "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
         "instances": [{"schema_version": 0, "attributes": {"arn": "arn:aws:iam::000000000000:role/web-task", "name": "web-task"}}]}
    ]});
    let world = World::new("tfstate = \"terraform.tfstate\"", &["web"]).await;
    std::fs::write(world.dir.path().join("terraform.tfstate"), state.to_string()).unwrap();
    let with_role = template().replacen(
        "\"family\": \"{{ service }}\",",
        "\"family\": \"{{ service }}\",\n  \"taskRoleArn\": \"{{ tfstate('aws_iam_role.task.arn') }}\",",
        1,
    );
    std::fs::write(world.dir.path().join("app.json"), with_role).unwrap();
    world.create_service("web", 1, "1.0.0", true).await;
    let check = world.ferry(&["check"]).await;
    assert!(check.status.success(), "{}", text(&check));
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let td = world
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(world.service("web").await.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(td.task_definition().unwrap().task_role_arn(), Some("arn:aws:iam::000000000000:role/web-task"));
    // A resource the state does not have is named in the error, and nothing is deployed.
    std::fs::write(
        world.dir.path().join("app.json"),
        template().replacen(
            "\"family\": \"{{ service }}\",",
            "\"family\": \"{{ service }}\",\n  \"taskRoleArn\": \"{{ tfstate('aws_iam_role.worker.arn') }}\",",
            1,
        ),
    )
    .unwrap();
    let check = world.ferry(&["check"]).await;
    assert_eq!(check.status.code(), Some(2));
    assert!(text(&check).contains("no resource aws_iam_role.worker in the state (it has: aws_iam_role.task)"), "{}", text(&check));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_version_whose_task_failures_and_circuit_breaker_trip_together_is_rolled_back_once() {
    // ferry's own limit (3 failed tasks, the default) and ECS's circuit breaker trip at about
    // the same moment: ferry must follow ECS's rollback, not start a second one that ECS's
    // reactivation then leaves at 0/0 until the rollback timeout.
    let world = World::new("timeout = \"60s\"\nrollback_timeout = \"60s\"", &["web"]).await;
    let before = world.create_service("web", 2, "1.0.0", true).await;
    let started = std::time::Instant::now();
    let output = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(50), "took {:?}: {}", started.elapsed(), text(&output));
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()));
    assert_eq!(world.answering_versions("web").await, vec!["1.0.0", "1.0.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_whose_ecr_image_does_not_exist_is_refused_in_preflight_naming_it() {
    let world = World::new("", &["web"]).await;
    let before = world.create_service("web", 1, "1.0.0", true).await;
    let sidecar = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/envoy:v1.2");
    let with_sidecar = template().replacen(
        r#""containerDefinitions": [{"#,
        &format!(r#""containerDefinitions": [{{"name": "envoy", "image": "{sidecar}", "essential": false, "memory": 32}}, {{"#),
        1,
    );
    std::fs::write(world.dir.path().join("app.json"), with_sidecar).unwrap();
    world.reset_calls().await;

    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(text(&output).contains(&format!("containerDefinitions[name=envoy].image: {sidecar} not found in ECR")), "{}", text(&output));
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), None, "{calls:?}");
    assert_eq!(mutations(&calls), 0, "no mutating call: {calls:?}");
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()));
}
