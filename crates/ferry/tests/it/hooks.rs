//! A deploy's hooks against ferry local: `before_deploy` runs a one-off task of the new
//! revision before the service changes (a migration that fails stops the deploy with the
//! service untouched, and its output is shown), `after_deploy` runs once the deployment
//! completed (a failure rolls back). A kill while the hook's task runs: the same command
//! waits for that task rather than starting a second one.

use crate::common::*;
use crate::kill::killed_at;

/// A sleeper service whose container logs with awslogs, and whose hook commands are shell
/// lines (`entryPoint` is `sh -c`, so a hook's `command` is one script).
const HOOKED: &str = r#"{
  "family": "{{ service }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essential": true,
    "memory": 16,
    "entryPoint": ["/bin/sh", "-c"],
    "command": ["exec sleep 600"],
    "environment": [{"name": "VERSION", "value": "{{ version }}"}],
    "logConfiguration": {"logDriver": "awslogs", "options": {
      "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web", "awslogs-create-group": "true"}},
    "stopTimeout": 1
  }]
}
"#;

/// A world with service `web` on the hooked template and the given hook tables.
async fn world_with_hooks(hooks: &str) -> World {
    let world = World::new("", &[]).await;
    std::fs::write(world.dir.path().join("hooked.json"), HOOKED).unwrap();
    let config = std::fs::read_to_string(world.config()).unwrap();
    let config =
        format!("{config}\n[services.web]\nrepository = \"{REPOSITORY}\"\ncontainer = \"app\"\ntemplate = \"hooked.json\"\n{hooks}\n");
    std::fs::write(world.config(), config).unwrap();
    world.create_service("web", 1, "1.0.0", true).await;
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_exits_1_stops_the_deploy_with_the_service_untouched_and_its_output_shown() {
    let world = world_with_hooks(
        "[services.web.before_deploy]\ncommand = [\"echo migrating users; echo 'ERROR: relation users exists' >&2; exit 1\"]\n",
    )
    .await;
    let before = world.service("web").await.task_definition().unwrap().to_string();
    world.reset_calls().await;

    let out = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(4), "refused, nothing of the service changed: {said}");
    assert!(said.contains("before_deploy"), "{said}");
    assert!(said.contains("exited 1"), "{said}");
    assert!(said.contains("the service was not changed"), "{said}");
    assert!(said.contains("migrating users"), "the task's output is shown: {said}");
    assert!(said.contains("ERROR: relation users exists"), "stderr too: {said}");

    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RunTask"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ecs:UpdateService"), None, "the service is untouched: {calls:?}");
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()));
    let record = world.ledger_records().into_iter().find(|r| r.service == "web").expect("recorded");
    assert_eq!(record.outcome.as_str(), "failed", "{record:?}");
    assert_eq!(record.cause.as_deref(), Some("hook"), "{record:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_exits_0_runs_with_the_new_revision_before_the_service_changes() {
    let world = world_with_hooks("[services.web.before_deploy]\ncommand = [\"echo migrated to $VERSION\"]\n").await;
    let out = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let report = &result_of(&out)["services"][0];
    assert_eq!(report["outcome"], "succeeded", "{report}");
    // The hook ran the new revision: it printed the new version.
    let lines = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(lines.contains("migrated to 1.1.0"), "{lines}");
    // The hook's task is the new revision's, started by this deployment.
    let deployment = report["deployment_id"].as_str().unwrap();
    let tasks = world
        .clients
        .ecs
        .list_tasks()
        .cluster(CLUSTER)
        .started_by(format!("{deployment}/before"))
        .desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.task_arns().len(), 1, "one hook task");
    let described = world.clients.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(tasks.task_arns().to_vec())).send().await.unwrap();
    let task = &described.tasks()[0];
    assert_eq!(task.task_definition_arn(), report["to_task_definition"].as_str());
    // It had stopped when ECS created the deployment of the new revision.
    let service = world.service("web").await;
    let primary = service.deployments().iter().find(|d| d.status() == Some("PRIMARY")).unwrap();
    let stopped_at = task.stopped_at().unwrap().to_millis().unwrap();
    assert!(stopped_at <= primary.created_at().unwrap().to_millis().unwrap(), "the hook ran before the service changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_test_that_fails_after_the_deploy_rolls_it_back() {
    let world = world_with_hooks("[services.web.after_deploy]\ncommand = [\"echo smoke failed; exit 3\"]\n").await;
    let before = world.service("web").await.task_definition().unwrap().to_string();
    let out = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(5), "failed, rolled back: {said}");
    assert!(said.contains("after_deploy task"), "{said}");
    assert!(said.contains("exited 3"), "{said}");
    assert!(said.contains("smoke failed"), "{said}");
    assert_eq!(world.service("web").await.task_definition(), Some(before.as_str()), "back on the previous revision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_while_its_migration_runs_waits_for_that_task_when_run_again() {
    let world = world_with_hooks("[services.web.before_deploy]\ncommand = [\"echo start; sleep 2; echo done\"]\n").await;
    world.reset_calls().await;
    killed_at(&world, "before-deploy-started", &["deploy", "test", "web=1.1.0"]).await;
    let again = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&again);
    assert!(again.status.success(), "{said}");
    assert!(said.contains("waiting for the task a dead run started"), "{said}");
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RunTask"), Some(&1), "one migration, not two: {calls:?}");
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ecs:UpdateService"), Some(&1), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_without_a_command_is_refused_naming_the_key_and_nothing_changes() {
    let world = world_with_hooks("[services.web.before_deploy]\ncommand = []\n").await;
    world.reset_calls().await;
    let out = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("services.web.before_deploy.command"), "{said}");
    let calls = world.calls().await;
    assert!(calls.keys().all(|c| c.contains(":Describe") || c.contains(":List") || c.contains(":Get")), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_while_its_smoke_test_runs_waits_for_that_task_and_finishes() {
    let world = world_with_hooks("[services.web.after_deploy]\ncommand = [\"echo smoke; sleep 2; echo ok\"]\n").await;
    world.reset_calls().await;
    killed_at(&world, "after-deploy-started", &["deploy", "test", "web=1.1.0"]).await;
    let again = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(again.status.success(), "{}", text(&again));
    let report = &result_of(&again)["services"][0];
    assert_eq!(report["outcome"], "succeeded", "{report}");
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RunTask"), Some(&1), "one smoke test, not two: {calls:?}");
    assert_eq!(calls.get("ecs:UpdateService"), Some(&1), "{calls:?}");
    assert_eq!(world.service("web").await.task_definition(), report["to_task_definition"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_where_the_hooks_run_and_runs_none() {
    let world = world_with_hooks(
        "[services.web.before_deploy]\ncommand = [\"bin/migrate\", \"--yes\"]\n[services.web.after_deploy]\ncommand = [\"bin/smoke\"]\n",
    )
    .await;
    world.reset_calls().await;
    let plan = world.ferry(&["plan", "test", "web=1.1.0"]).await;
    let said = text(&plan);
    assert!(plan.status.success(), "{said}");
    assert!(
        said.contains(
            "register a task definition revision, run the before_deploy task (bin/migrate --yes) with the new revision, stop if it fails, UpdateService"
        ),
        "{said}"
    );
    assert!(said.contains("once it completed, run the after_deploy task (bin/smoke), roll back if it fails"), "{said}");
    assert_eq!(world.calls().await.get("ecs:RunTask"), None);
}
