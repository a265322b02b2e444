//! `ferry run` against ferry local: a one-off task from the service's revision (or the one a
//! version would deploy), its exit code as ferry's, ECS's stop reason when it never ran,
//! --detach, --timeout, --count, Ctrl-C, and the service itself left alone.

use std::time::{Duration, Instant};

use ferry_aws::ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
use serde_json::Value;

use crate::common::*;

/// The one-off service's template: a container that sleeps unless told otherwise, logging
/// with the awslogs driver.
const JOBS: &str = r#"{
  "family": "{{ service }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essential": true,
    "memory": 16,
    "command": ["sleep", "600"],
    "environment": [{"name": "VERSION", "value": "{{ version }}"}],
    "logConfiguration": {"logDriver": "awslogs", "options": {
      "awslogs-group": "/ecs/{{ service }}", "awslogs-region": "{{ region }}",
      "awslogs-stream-prefix": "{{ service }}", "awslogs-create-group": "true"}},
    "stopTimeout": 1
  }]
}
"#;

/// A world with the service `jobs` (template jobs.json) created by "Terraform" on a revision
/// of `version`'s image, with no task of its own running.
async fn jobs_world(version: &str) -> World {
    let world = World::new("", &[]).await;
    std::fs::write(world.dir.path().join("jobs.json"), JOBS).unwrap();
    let mut config = std::fs::read_to_string(world.config()).unwrap();
    config.push_str("\n[services.jobs]\nrepository = \"app\"\ncontainer = \"app\"\ntemplate = \"jobs.json\"\n");
    std::fs::write(world.config(), config).unwrap();
    create_jobs_service(&world, "jobs", version).await;
    world
}

async fn create_jobs_service(world: &World, name: &str, version: &str) -> String {
    let container = ContainerDefinition::builder()
        .name("app")
        .image(format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:{version}"))
        .essential(true)
        .memory(16)
        .command("sleep")
        .command("600")
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", format!("/ecs/{name}"))
                .options("awslogs-region", REGION)
                .options("awslogs-stream-prefix", name)
                .options("awslogs-create-group", "true")
                .build()
                .unwrap(),
        )
        .stop_timeout(1)
        .build();
    let registered = world.clients.ecs.register_task_definition().family(name).container_definitions(container).send().await.unwrap();
    let arn = registered.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    world.clients.ecs.create_service().cluster(CLUSTER).service_name(name).task_definition(&arn).desired_count(0).send().await.unwrap();
    arn
}

async fn describe_task(world: &World, arn: &str) -> ferry_aws::ecs::types::Task {
    let out = world
        .clients
        .ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .tasks(arn)
        .include(ferry_aws::ecs::types::TaskField::Tags)
        .send()
        .await
        .unwrap();
    out.tasks()[0].clone()
}

/// Runs `ferry ARGS` in the world's project, the global options first: everything after
/// `--` is the task's command, so nothing may follow it.
async fn ferry(world: &World, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(ferry_bin());
    command
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .args(args)
        .env("FERRY_USER", "tester")
        .env("NO_COLOR", "1")
        .env_remove("FERRY_OUTPUT")
        .current_dir(world.dir.path());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn lines_of(output: &std::process::Output, kind: &str) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasks_exit_code_is_ferrys_and_the_task_carries_the_runs_id_and_tags() {
    let world = jobs_world("1.0.0").await;
    let ok = ferry(&world, &["run", "test", "jobs", "--", "sh", "-c", "echo all good; exit 0"]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("exited 0"), "{}", text(&ok));

    let failed = ferry(&world, &["run", "test", "jobs", "--output", "json", "--", "sh", "-c", "echo migrating 3 tables; exit 3"]).await;
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed));
    let result = result_of(&failed);
    assert_eq!(
        (result["command"].as_str(), result["ending"].as_str(), result["exit_code"].as_i64()),
        (Some("run"), Some("failed"), Some(3))
    );
    assert_eq!(result["container"], "app");
    let arn = result["tasks"][0]["arn"].as_str().unwrap().to_string();
    assert_eq!(result["tasks"][0]["ending"], serde_json::json!({"kind": "exited", "code": 3}));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("exited 3"), "{}", text(&failed));

    // ECS has it as ferry said: stopped, exit 3, started by the run, tagged.
    let task = describe_task(&world, &arn).await;
    assert_eq!(task.last_status(), Some("STOPPED"));
    assert_eq!(task.containers()[0].exit_code(), Some(3));
    let run_id = result["run_id"].as_str().unwrap();
    assert!(run_id.starts_with("ferry-run-") && run_id.len() <= 36, "{run_id}");
    assert_eq!(task.started_by(), Some(run_id));
    let tag = |key: &str| task.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string);
    assert_eq!((tag("ferry:env"), tag("ferry:service"), tag("ferry:run")), (Some("test".into()), Some("jobs".into()), Some(run_id.into())));
    // It ran the service's revision, with the command replaced.
    assert_eq!(task.task_definition_arn(), world.service("jobs").await.task_definition());
    assert_eq!(task.overrides().unwrap().container_overrides()[0].command(), ["sh", "-c", "echo migrating 3 tables; exit 3"]);
    assert!(result["duration_ms"].as_i64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_output_is_streamed_from_cloudwatch_logs() {
    let world = jobs_world("1.0.0").await;
    let out = ferry(&world, &["run", "test", "jobs", "--", "sh", "-c", "echo first line; echo second line; exit 0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["first line", "second line"], "the task's lines, in order, on stdout: {}", text(&out));

    let json = ferry(&world, &["run", "test", "jobs", "--output", "json", "--", "sh", "-c", "echo one; echo two >&2; exit 4"]).await;
    assert_eq!(json.status.code(), Some(4), "{}", text(&json));
    // stdout's and stderr's lines both, in whichever order the driver read its two pipes.
    let mut logs: Vec<String> = lines_of(&json, "log").iter().map(|l| l["message"].as_str().unwrap().to_string()).collect();
    logs.sort();
    assert_eq!(logs, ["one", "two"], "{}", text(&json));
    let result = result_of(&json);
    let log = &lines_of(&json, "log")[0];
    assert_eq!(log["task"], result["tasks"][0]["id"]);
    assert_eq!(log["container"], "app");
    assert_eq!(result["tasks"][0]["logs"]["group"], "/ecs/jobs");

    // -q: the task's lines on stdout, and on stderr only the error.
    let quiet = ferry(&world, &["-q", "run", "test", "jobs", "--", "sh", "-c", "echo only this; exit 2"]).await;
    assert_eq!(quiet.status.code(), Some(2), "{}", text(&quiet));
    assert_eq!(String::from_utf8_lossy(&quiet.stdout), "only this\n");
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(stderr.starts_with("error: jobs in test: the task failed: ") && stderr.lines().count() == 1, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_cannot_start_shows_ecss_stop_reason_and_exits_5() {
    let world = jobs_world("9.9.9-missing").await;
    world.reset_calls().await;
    let out = ferry(&world, &["run", "test", "jobs", "--", "sh", "-c", "exit 0"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("TaskFailedToStart") && said.contains("CannotPullContainerError"), "{said}");
    assert!(said.contains("stopped without an exit code"), "{said}");

    let json = ferry(&world, &["run", "test", "jobs", "--output", "json", "--", "true"]).await;
    assert_eq!(json.status.code(), Some(5), "{}", text(&json));
    let result = result_of(&json);
    assert_eq!((result["ending"].as_str(), result["exit_code"].as_i64()), (Some("not_run"), Some(5)));
    assert_eq!(result["tasks"][0]["ending"]["kind"], "no_exit_code");
    assert_eq!(result["tasks"][0]["ending"]["stop_code"], "TaskFailedToStart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_fault_that_fails_the_start_is_said_and_exits_5() {
    let world = jobs_world("1.0.0").await;
    let fault = serde_json::json!({"family": "jobs", "failToStart": true});
    let answer = world.http.post(format!("{}/_ferry/task-faults", world.server.endpoint())).json(&fault).send().await.unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    let out = ferry(&world, &["run", "test", "jobs", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(text(&out).contains("CannotStartContainerError"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detach_prints_the_task_arn_and_returns_while_the_task_runs() {
    let world = jobs_world("1.0.0").await;
    let started = Instant::now();
    let out = ferry(&world, &["run", "test", "jobs", "--detach", "--", "sleep", "30"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(20), "it waited for the task: {:?}", started.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let arn = stdout.trim();
    assert!(arn.starts_with("arn:aws:ecs:") && arn.contains(":task/test/"), "{stdout}");
    let task = describe_task(&world, arn).await;
    assert_ne!(task.last_status(), Some("STOPPED"), "the task still runs after ferry returned");
    world.clients.ecs.stop_task().cluster(CLUSTER).task(arn).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_the_task_with_a_reason_and_fails() {
    let world = jobs_world("1.0.0").await;
    world.reset_calls().await;
    let out = ferry(&world, &["run", "test", "jobs", "--timeout", "3s", "--output", "json", "--", "sleep", "60"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let result = result_of(&out);
    assert_eq!(result["ending"], "timed_out");
    assert!(result["reason"].as_str().unwrap().contains("timed out after 3s"), "{result}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out after 3s"), "{}", text(&out));
    assert_eq!(world.calls().await.get("ecs:StopTask"), Some(&1));
    let task = describe_task(&world, result["tasks"][0]["arn"].as_str().unwrap()).await;
    assert_eq!(task.last_status(), Some("STOPPED"));
    assert!(task.stopped_reason().unwrap_or_default().contains("--timeout 3s passed"), "{:?}", task.stopped_reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_runs_that_many_tasks_and_all_must_succeed() {
    let world = jobs_world("1.0.0").await;
    let out = ferry(&world, &["run", "test", "jobs", "--count", "3", "--output", "json", "--", "sh", "-c", "echo counted; exit 0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let result = result_of(&out);
    let tasks = result["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    // Each task's line, each said once, with its task.
    let logs = lines_of(&out, "log");
    let mut from: Vec<&str> = logs.iter().map(|l| l["task"].as_str().unwrap()).collect();
    from.sort();
    let mut ids: Vec<&str> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(from, ids, "{}", text(&out));
    assert!(logs.iter().all(|l| l["message"] == "counted"), "{}", text(&out));
    assert!(tasks.iter().all(|t| t["ending"]["code"] == 0), "{result}");
    let listed = world
        .clients
        .ecs
        .list_tasks()
        .cluster(CLUSTER)
        .started_by(result["run_id"].as_str().unwrap())
        .desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.task_arns().len(), 3);

    let plain = ferry(&world, &["run", "test", "jobs", "--count", "2", "--", "sh", "-c", "echo counted"]).await;
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    let stdout = String::from_utf8_lossy(&plain.stdout).to_string();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with('[') && l.ends_with("] counted") && l.len() == "[01234567] counted".len()), "{stdout}");

    let too_many = ferry(&world, &["run", "test", "jobs", "--count", "11", "--", "true"]).await;
    assert_eq!(too_many.status.code(), Some(2), "{}", text(&too_many));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_registers_the_revision_a_deploy_would_run_once_and_leaves_the_service_alone() {
    let world = jobs_world("1.0.0").await;
    let bootstrap = world.service("jobs").await.task_definition().unwrap().to_string();
    world.reset_calls().await;
    let out =
        ferry(&world, &["run", "test", "jobs", "--version", "1.1.0", "--output", "json", "--", "sh", "-c", "echo $VERSION; exit 0"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let result = result_of(&out);
    assert_eq!(result["registered"], true, "{result}");
    let registered = result["task_definition"].as_str().unwrap().to_string();
    assert_ne!(registered, bootstrap);
    let revision = world
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(&registered)
        .include(ferry_aws::ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let tag = |key: &str| revision.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string);
    assert_eq!(tag("ferry:version").as_deref(), Some("1.1.0"));
    assert_eq!(tag("ferry:run").as_deref(), result["run_id"].as_str());
    let image = revision.task_definition().unwrap().container_definitions()[0].image().unwrap().to_string();
    assert!(image.ends_with(":1.1.0"), "{image}");
    // The service is untouched: no UpdateService, same revision.
    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:UpdateService"), None, "{calls:?}");
    assert_eq!(calls.get("ecs:RegisterTaskDefinition"), Some(&1), "{calls:?}");
    assert_eq!(world.service("jobs").await.task_definition(), Some(bootstrap.as_str()));

    // Again: the same revision, not a second one.
    world.reset_calls().await;
    let again = ferry(&world, &["run", "test", "jobs", "--version", "1.1.0", "--output", "json", "--", "true"]).await;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        (result_of(&again)["registered"].as_bool(), result_of(&again)["task_definition"].as_str()),
        (Some(false), Some(registered.as_str()))
    );
    let calls = world.calls().await;
    assert_eq!((calls.get("ecs:RegisterTaskDefinition"), calls.get("ecs:UpdateService")), (None, None), "{calls:?}");

    // Once deployed, the version's revision is the running one, and that is what runs.
    let deployed = world.ferry(&["deploy", "test", "jobs=1.1.0-slow", "--output", "json"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    let running = world.service("jobs").await.task_definition().unwrap().to_string();
    world.reset_calls().await;
    let current = ferry(&world, &["run", "test", "jobs", "--version", "1.1.0-slow", "--output", "json", "--", "true"]).await;
    assert_eq!(current.status.code(), Some(0), "{}", text(&current));
    assert_eq!(
        (result_of(&current)["registered"].as_bool(), result_of(&current)["task_definition"].as_str()),
        (Some(false), Some(running.as_str()))
    );
    assert_eq!(world.calls().await.get("ecs:RegisterTaskDefinition"), None);

    // A version that does not exist is refused by preflight, nothing started.
    world.reset_calls().await;
    let missing = ferry(&world, &["run", "test", "jobs", "--version", "7.7.7", "--", "true"]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", text(&missing));
    assert!(text(&missing).contains("7.7.7") && text(&missing).contains("not found"), "{}", text(&missing));
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_attached_stops_the_task_and_exits_130() {
    stopping_ferry_run_stops_its_task("-INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_attached_stops_the_task_as_ctrl_c_does() {
    stopping_ferry_run_stops_its_task("-TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_container_or_service_is_refused_before_any_task_starts() {
    let world = jobs_world("1.0.0").await;
    world.reset_calls().await;
    let out = ferry(&world, &["run", "test", "jobs", "--container", "db", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--container db: the revision has no such container; its containers are app"), "{}", text(&out));
    let out = ferry(&world, &["run", "test", "nosuch", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(world.calls().await.get("ecs:RunTask"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_of_an_env_tag_service_is_refused_with_why_and_nothing_started() {
    let world = World::new("", &["tagged"]).await;
    world.create_service("tagged", 1, "test", false).await;
    world.reset_calls().await;
    let out = ferry(&world, &["run", "test", "tagged", "--version", "1.1.0", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("env-tag strategy") && text(&out).contains("cannot move the tag"), "{}", text(&out));
    let calls = world.calls().await;
    assert_eq!((calls.get("ecs:RunTask"), calls.get("ecs:RegisterTaskDefinition")), (None, None), "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_without_history_never_picks_a_revision_ferry_run_registered() {
    let world = jobs_world("1.0.0").await;
    // `ferry run --version` registers a revision (tagged ferry:run) that never runs as the service.
    let run = world.ferry(&["run", "test", "jobs", "--version", "1.1.0", "--", "true"]).await;
    assert!(run.status.success(), "{}", text(&run));
    let deploy = world.ferry(&["deploy", "test", "jobs=2.0.0-flaky"]).await;
    assert!(deploy.status.success(), "{}", text(&deploy));
    let deployed = world.service("jobs").await.task_definition().unwrap().to_string();
    // A fresh runner: no ledger, so rollback looks at the revisions' tags.
    std::fs::remove_file(world.ledger()).unwrap();
    let rollback = world.ferry(&["rollback", "test", "jobs"]).await;
    let said = text(&rollback);
    assert_eq!(rollback.status.code(), Some(4), "the only earlier ferry revision is ferry run's: {said}");
    assert!(said.contains("no earlier version of jobs to roll back to"), "{said}");
    assert_eq!(world.service("jobs").await.task_definition(), Some(deployed.as_str()), "nothing changed");
}

/// `ferry run` attached to a task, sent `signal` (`kill SIGNAL`) once the task runs: it stops
/// the task (StopTask with ferry's reason) and exits 130.
async fn stopping_ferry_run_stops_its_task(signal: &str) {
    let world = jobs_world("1.0.0").await;
    let child = std::process::Command::new(ferry_bin())
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .args(["run", "test", "jobs", "--", "sleep", "60"])
        .env("NO_COLOR", "1")
        .current_dir(world.dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the task runs, then Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(30);
    let arn = loop {
        let listed = world.clients.ecs.list_tasks().cluster(CLUSTER).family("jobs").send().await.unwrap();
        if let Some(arn) = listed.task_arns().first()
            && describe_task(&world, arn).await.last_status() == Some("RUNNING")
        {
            break arn.clone();
        }
        assert!(Instant::now() < deadline, "the task never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // ferry subscribes to SIGINT after it started the task; give it a moment to be waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(text(&out).contains("interrupted") && text(&out).contains("StopTask"), "{}", text(&out));
    let task = describe_task(&world, &arn).await;
    assert_eq!(task.desired_status(), Some("STOPPED"));
    assert!(task.stopped_reason().unwrap_or_default().contains("interrupted (Ctrl-C or SIGTERM)"), "{:?}", task.stopped_reason());
}
