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
    assert_eq!(out.status.code(), Some(5), "failed, the service on its previous revision: {said}");
    assert!(said.contains("failed: the before_deploy task"), "said as a failure, not a rollback: {said}");
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
    assert_eq!(record.outcome.as_str(), "failed_rolled_back", "{record:?}");
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
    // JSON: a plan line per service, with its steps and its hooks' commands.
    let json = world.ferry(&["plan", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(json.status.success(), "{}", text(&json));
    let stdout = String::from_utf8_lossy(&json.stdout).to_string();
    let line: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "plan")
        .unwrap_or_else(|| panic!("no plan line: {stdout}"));
    assert_eq!(line["service"], "web", "{line}");
    assert_eq!(line["before_deploy"], serde_json::json!(["bin/migrate", "--yes"]), "{line}");
    assert_eq!(line["after_deploy"], serde_json::json!(["bin/smoke"]), "{line}");
    assert!(line["steps"].as_str().unwrap().contains("run the before_deploy task (bin/migrate --yes)"), "{line}");
    assert_eq!(world.calls().await.get("ecs:RunTask"), None);
}

/// The hook tasks a deployment started (`DEPLOYMENT/before` or `/after`), described.
async fn hook_tasks(world: &World, started_by_suffix: &str) -> Vec<ferry_aws::ecs::types::Task> {
    let mut arns = Vec::new();
    for status in [ferry_aws::ecs::types::DesiredStatus::Running, ferry_aws::ecs::types::DesiredStatus::Stopped] {
        let listed = world.clients.ecs.list_tasks().cluster(CLUSTER).family("web").desired_status(status).send().await.unwrap();
        arns.extend(listed.task_arns().iter().cloned());
    }
    if arns.is_empty() {
        return Vec::new();
    }
    let described = world.clients.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(arns)).send().await.unwrap();
    described.tasks().iter().filter(|t| t.started_by().is_some_and(|s| s.ends_with(started_by_suffix))).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_times_out_is_stopped_and_waited_for_before_the_deploy_ends() {
    // It ignores SIGTERM: it stops only at the container's stopTimeout (1 s), with SIGKILL.
    let world = world_with_hooks(
        "[services.web.before_deploy]\ncommand = [\"trap 'echo TERM-ignored' TERM; echo hanging; while true; do sleep 0.2; done\"]\ntimeout = \"2s\"\n",
    )
    .await;
    let out = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(5), "{said}");
    assert!(said.contains("did not finish within 2s; it was stopped"), "{said}");
    let tasks = hook_tasks(&world, "/before").await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].last_status(), Some("STOPPED"), "stopped before ferry returned: {:?}", tasks[0]);
    assert!(tasks[0].stopped_reason().unwrap_or_default().contains("did not finish within 2s"), "{:?}", tasks[0].stopped_reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_a_migration_runs_stops_its_task() {
    let world = world_with_hooks("[services.web.before_deploy]\ncommand = [\"echo migrating; sleep 60\"]\n").await;
    let child = std::process::Command::new(ferry_bin())
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .args(["deploy", "test", "web=1.1.0"])
        .env("NO_COLOR", "1")
        .env("FERRY_USER", "tester")
        .current_dir(world.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if hook_tasks(&world, "/before").await.iter().any(|t| t.last_status() == Some("RUNNING")) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the migration never ran");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("stopped the hook tasks it was waiting for: web before_deploy"), "{said}");
    let tasks = hook_tasks(&world, "/before").await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].desired_status(), Some("STOPPED"), "{:?}", tasks[0]);
    assert!(tasks[0].stopped_reason().unwrap_or_default().contains("was interrupted"), "{:?}", tasks[0].stopped_reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_in_a_container_the_revision_lacks_or_a_non_essential_one_is_refused_before_anything_is_registered() {
    let world = world_with_hooks("[services.web.before_deploy]\ncommand = [\"true\"]\ncontainer = \"nope\"\n").await;
    world.reset_calls().await;
    let out = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("services.web.before_deploy.container: \"nope\" is not a container of the task definition (it has app)"),
        "{said}"
    );
    let plan = world.ferry(&["plan", "test", "web=1.1.0"]).await;
    assert_eq!(plan.status.code(), Some(2), "plan says so too: {}", text(&plan));

    // A sidecar that is not essential: the task would not end with the hook's command.
    let template = HOOKED.replace(
        r#""stopTimeout": 1
  }]"#,
        r#""stopTimeout": 1
  }, {"name": "side", "image": "{{ image }}", "essential": false, "memory": 16, "entryPoint": ["/bin/sh", "-c"], "command": ["exec sleep 600"]}]"#,
    );
    std::fs::write(world.dir.path().join("hooked.json"), template).unwrap();
    let config = std::fs::read_to_string(world.config()).unwrap().replace("container = \"nope\"", "container = \"side\"");
    std::fs::write(world.config(), config).unwrap();
    let out = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("services.web.before_deploy.container: \"side\" is not essential"), "{said}");
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), None, "{calls:?}");
    assert_eq!(calls.get("ecs:RunTask"), None, "{calls:?}");
}
