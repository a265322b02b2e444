//! `ferry logs` against ferry local, whose awslogs driver really writes the tasks' output to
//! CloudWatch Logs: what the service's tasks printed, each line with its task and container;
//! --limit, --task (id or ARN), --since; --follow printing lines printed after it started;
//! and the containers ferry cannot read, said with why.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ferry_aws::ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
use serde_json::Value;

use crate::common::*;

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn log_lines(output: &std::process::Output) -> Vec<Value> {
    json_lines(&output.stdout).into_iter().filter(|l| l["type"] == "log").collect()
}

fn task_id(arn: &str) -> String {
    arn.rsplit('/').next().unwrap().to_string()
}

/// A container of the sample image running `script` with /bin/sh, logging with `log`.
fn container(name: &str, script: &str, log: Option<LogConfiguration>) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image(format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}:1.0.0"))
        .essential(true)
        .memory(8)
        .entry_point("/bin/sh")
        .entry_point("-c")
        .command(script)
        .stop_timeout(1)
        .set_log_configuration(log)
        .build()
}

/// The awslogs driver writing to `group`, streams `prefix/CONTAINER/TASK-ID`; the group is
/// created when the first task starts.
fn awslogs(group: &str, prefix: &str) -> Option<LogConfiguration> {
    let options: HashMap<String, String> = [("awslogs-group", group), ("awslogs-stream-prefix", prefix), ("awslogs-create-group", "true")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(LogConfiguration::builder().log_driver(LogDriver::Awslogs).set_options(Some(options)).build().unwrap())
}

/// The awslogs driver writing to `group`, which nothing creates.
fn awslogs_without_creating(group: &str, prefix: &str) -> Option<LogConfiguration> {
    let options: HashMap<String, String> =
        [("awslogs-group", group), ("awslogs-stream-prefix", prefix)].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Some(LogConfiguration::builder().log_driver(LogDriver::Awslogs).set_options(Some(options)).build().unwrap())
}

fn json_file() -> Option<LogConfiguration> {
    Some(LogConfiguration::builder().log_driver(LogDriver::JsonFile).build().unwrap())
}

/// Prints "tick N from CONTAINER" every 200 ms for at most two minutes, then sleeps.
fn ticker(name: &str) -> String {
    format!("i=0; while [ $i -lt 600 ]; do echo \"tick $i from {name}\"; i=$((i+1)); sleep 0.2; done; exec sleep 600")
}

/// What Terraform would do: service `name` on a revision of `containers`, `desired` tasks
/// running.
async fn create(world: &World, name: &str, desired: i32, containers: Vec<ContainerDefinition>) {
    let registered =
        world.clients.ecs.register_task_definition().family(name).set_container_definitions(Some(containers)).send().await.unwrap();
    let arn = registered.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    world
        .clients
        .ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(name)
        .task_definition(arn)
        .desired_count(desired)
        .send()
        .await
        .unwrap();
    world.wait_running(name, desired).await;
}

/// Runs `ferry logs` until it has printed at least `want` log lines (JSON) or 20 s pass:
/// the awslogs driver sends each line as it is printed, but a task prints its first lines
/// only once it started.
async fn logs_until(world: &World, args: &[&str], want: usize) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = world.ferry(args).await;
        if out.status.code() != Some(0) || log_lines(&out).len() >= want || Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_shows_what_each_task_printed_with_its_task_and_container() {
    let world = World::new("", &["logweb"]).await;
    let envoy = container("envoy", "exec sleep 600", json_file());
    create(&world, "logweb", 2, vec![container("app", &ticker("app"), awslogs("/ecs/logweb", "web")), envoy]).await;
    let tasks: HashSet<String> = world.running_task_arns("logweb").await.iter().map(|a| task_id(a)).collect();
    assert_eq!(tasks.len(), 2);

    // Both tasks' lines, each with its task, container and stream.
    let json = ["logs", "test", "logweb", "--output", "json"];
    let out = logs_until(&world, &json, 10).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines = log_lines(&out);
    let seen_tasks: HashSet<String> = lines.iter().map(|l| l["task"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen_tasks, tasks, "{}", text(&out));
    for line in &lines {
        let id = line["task"].as_str().unwrap();
        assert_eq!(line["container"], "app");
        assert_eq!(line["group"], "/ecs/logweb");
        assert_eq!(line["stream"], format!("web/app/{id}"));
        assert!(line["message"].as_str().unwrap().starts_with("tick "), "{line}");
        assert!(line["at"].as_str().unwrap().ends_with('Z') && line["timestamp_ms"].as_i64().unwrap() > 0, "{line}");
    }
    // Oldest first.
    let times: Vec<i64> = lines.iter().map(|l| l["timestamp_ms"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let result = result_of(&out);
    assert_eq!((result["command"].as_str(), result["count"].as_u64()), (Some("logs"), Some(lines.len() as u64)));
    assert_eq!(result["skipped"][0]["container"], "envoy", "{result}");

    // Text: HH:MM:SS.mmm TASK/CONTAINER message; the sidecar said not shown, and why.
    let out = world.ferry(&["logs", "test", "logweb"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let shape = |l: &str| {
        let (time, rest) = l.split_once(' ').unwrap();
        let (who, message) = rest.split_once(' ').unwrap();
        let (task, container) = who.split_once('/').unwrap();
        time.len() == 12 && time.as_bytes()[8] == b'.' && tasks.contains(task) && container == "app" && message.contains(" from app")
    };
    assert!(!stdout.is_empty() && stdout.lines().all(shape), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not shown: envoy uses the json-file log driver; ferry logs reads CloudWatch Logs (awslogs) only"), "{stderr}");

    // --limit: the newest N.
    let out = world.ferry(&["logs", "test", "logweb", "--limit", "3", "--output", "json"]).await;
    assert_eq!(log_lines(&out).len(), 3, "{}", text(&out));

    // --task, by id and by ARN: that task's lines only.
    let arn = world.running_task_arns("logweb").await[0].clone();
    let id = task_id(&arn);
    for given in [id.as_str(), arn.as_str()] {
        let out = world.ferry(&["logs", "test", "logweb", "--task", given, "--output", "json"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let lines = log_lines(&out);
        assert!(!lines.is_empty() && lines.iter().all(|l| l["task"] == id.as_str()), "{}", text(&out));
        assert_eq!(result_of(&out)["task"], id.as_str());
    }

    // The start of an id is enough (the streams are read by name prefix).
    let out = world.ferry(&["logs", "test", "logweb", "--task", &id[..8], "--output", "json"]).await;
    let lines = log_lines(&out);
    assert!(!lines.is_empty() && lines.iter().all(|l| l["task"] == id.as_str()), "{}", text(&out));

    // A task with no lines (not one of the service's): said so, with the stream read.
    let out = world.ferry(&["logs", "test", "logweb", "--task", "0123456789abcdef"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no log events of task 0123456789abcdef in the last 10m (/ecs/logweb web/app/0123456789abcdef)"), "{stderr}");

    // The sidecar asked for by name: why it cannot be read (exit 4); a container the revision
    // does not have: its containers named (exit 2).
    let out = world.ferry(&["logs", "test", "logweb", "--container", "envoy"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("envoy uses the json-file log driver; ferry logs reads CloudWatch Logs (awslogs) only"), "{}", text(&out));
    let out = world.ferry(&["logs", "test", "logweb", "--container", "db"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("has no container \"db\"; its containers: app, envoy"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_lines_printed_after_it_started_each_once() {
    let world = World::new("", &["logweb"]).await;
    create(&world, "logweb", 1, vec![container("app", &ticker("app"), awslogs("/ecs/follow", "web"))]).await;
    let started_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut child = std::process::Command::new(ferry_bin())
        .args(["logs", "test", "logweb", "--follow", "--since", "1s", "--output", "json"])
        .arg("--config")
        .arg(world.config())
        .arg("--ledger")
        .arg(world.ledger())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Several polls (one a second) while the task prints five lines a second.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still_running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), String::new());
    child.stdout.take().unwrap().read_to_end(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(still_running, "--follow ended by itself: {stderr}");
    let lines: Vec<Value> = json_lines(&stdout).into_iter().filter(|l| l["type"] == "log").collect();
    // Lines printed a few seconds after ferry started, so read by a later poll than the first.
    let late = lines.iter().filter(|l| l["timestamp_ms"].as_i64().unwrap() > started_ms + 2500).count();
    assert!(late >= 3, "{late} late lines of {}: {stderr}", lines.len());
    // Each event once, though each poll reads again from the newest timestamp seen, in order.
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "an event printed twice");
    let ticks: Vec<u64> = lines.iter().map(|l| l["message"].as_str().unwrap().split(' ').nth(1).unwrap().parse().unwrap()).collect();
    assert!(ticks.windows(2).all(|w| w[1] == w[0] + 1), "a line missed or out of order: {ticks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_leaves_out_older_lines_a_missing_group_is_said_and_a_service_without_awslogs_is_refused_saying_why() {
    let world = World::new("", &["once", "plain", "nogroup"]).await;
    create(&world, "once", 1, vec![container("app", "echo 'started once'; exec sleep 600", awslogs("/ecs/once", "once"))]).await;
    create(&world, "plain", 1, vec![container("web", "exec sleep 600", json_file())]).await;

    let out = logs_until(&world, &["logs", "test", "once", "--output", "json"], 1).await;
    assert_eq!(log_lines(&out).iter().map(|l| l["message"].as_str().unwrap()).collect::<Vec<_>>(), ["started once"], "{}", text(&out));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = world.ferry(&["logs", "test", "once", "--since", "2s"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no log events in the last 2s (/ecs/once once/app/*)"), "{}", text(&out));

    // A group that does not exist (no awslogs-create-group: the task cannot even start) is
    // said, not an AWS error.
    let registered = world
        .clients
        .ecs
        .register_task_definition()
        .family("nogroup")
        .container_definitions(container("app", "exec sleep 600", awslogs_without_creating("/ecs/absent", "ng")))
        .send()
        .await
        .unwrap();
    let arn = registered.task_definition().unwrap().task_definition_arn().unwrap();
    world.clients.ecs.create_service().cluster(CLUSTER).service_name("nogroup").task_definition(arn).desired_count(1).send().await.unwrap();
    let out = world.ferry(&["logs", "test", "nogroup", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(result_of(&out)["missing_groups"], serde_json::json!(["/ecs/absent"]), "{}", text(&out));
    let out = world.ferry(&["logs", "test", "nogroup"]).await;
    assert!(text(&out).contains("log group /ecs/absent does not exist: nothing was logged there"), "{}", text(&out));

    world.reset_calls().await;
    let out = world.ferry(&["logs", "test", "plain", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let result = result_of(&out);
    assert_eq!(result["exit_code"], 4);
    let reason = result["reason"].as_str().unwrap();
    assert!(
        reason.contains("plain in test (plain:1): no container's logs can be read from CloudWatch Logs: web uses the json-file log driver; ferry logs reads CloudWatch Logs (awslogs) only"),
        "{reason}"
    );
    // It found out from the service's revision, and read no logs.
    let calls = world.calls().await;
    assert!(calls.contains_key("ecs:DescribeTaskDefinition") && !calls.keys().any(|op| op.starts_with("logs:")), "{calls:?}");
}
