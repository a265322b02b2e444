//! ferry local's CloudWatch Logs through the official AWS SDK for Rust: the awslogs driver
//! of a service task (its printed lines come back through GetLogEvents and FilterLogEvents in
//! the stream PREFIX/CONTAINER/TASK-ID, and in its log file), a missing log group stopping the
//! task as ECS does, and `awslogs-create-group`.

use std::collections::HashMap;

use crate::elb_support::{code, eventually};
use ferry_aws::ecs::types::{ContainerDefinition, LogConfiguration, LogDriver};
use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};

const ACCOUNT: &str = "210987654321";
const REGION: &str = "eu-central-1";
const CLUSTER: &str = "logs";

struct Local {
    server: LocalServer,
    clients: Clients,
    dir: tempfile::TempDir,
}

async fn start() -> Local {
    let local = start_in(tempfile::tempdir().unwrap()).await;
    local.clients.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    local
}

async fn start_in(dir: tempfile::TempDir) -> Local {
    let server = LocalServer::start(Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() }).await.unwrap();
    let clients = Clients::new(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    Local { server, clients, dir }
}

/// Registers family `family`: one container "app" running `script` with /bin/sh, logging with
/// the awslogs driver and `options`; returns the revision's ARN.
async fn register(c: &Clients, family: &str, script: &str, options: &[(&str, &str)]) -> String {
    let options: HashMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let container = ContainerDefinition::builder()
        .name("app")
        .image("busybox")
        .memory(8)
        .entry_point("/bin/sh")
        .command("-c")
        .command(script)
        .stop_timeout(2)
        .log_configuration(LogConfiguration::builder().log_driver(LogDriver::Awslogs).set_options(Some(options)).build().unwrap())
        .build();
    let out = c.ecs.register_task_definition().family(family).container_definitions(container).send().await.unwrap();
    out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
}

/// The service's one task, once it has one in `status`.
async fn service_task(c: &Clients, service: &str, status: &str) -> ferry_aws::ecs::types::Task {
    eventually(&format!("a {status} task of service {service}"), 30, || async {
        let mut arns = c.ecs.list_tasks().cluster(CLUSTER).service_name(service).send().await.unwrap().task_arns().to_vec();
        if status == "STOPPED" {
            let stopped =
                c.ecs.list_tasks().cluster(CLUSTER).service_name(service).desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped);
            arns.extend(stopped.send().await.unwrap().task_arns().to_vec());
        }
        if arns.is_empty() {
            return None;
        }
        let tasks = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(arns)).send().await.unwrap();
        tasks.tasks().iter().find(|t| t.last_status() == Some(status)).cloned()
    })
    .await
}

async fn create_service(c: &Clients, name: &str, task_definition: &str) {
    c.ecs.create_service().cluster(CLUSTER).service_name(name).task_definition(task_definition).desired_count(1).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_tasks_printed_lines_come_back_through_get_and_filter_log_events_in_its_stream() {
    let local = start().await;
    let c = &local.clients;
    c.logs.create_log_group().log_group_name("/ecs/web").send().await.unwrap();
    // A stream of someone else's in the same group: FilterLogEvents must keep them apart.
    c.logs.create_log_stream().log_group_name("/ecs/web").log_stream_name("other").send().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let event = ferry_aws::logs::types::InputLogEvent::builder().timestamp(now).message("hello from elsewhere").build().unwrap();
    c.logs.put_log_events().log_group_name("/ecs/web").log_stream_name("other").log_events(event).send().await.unwrap();

    let script = "echo 'hello from stdout'; echo 'oops on stderr' >&2; echo 'second line'; exec sleep 600";
    let td =
        register(c, "web", script, &[("awslogs-group", "/ecs/web"), ("awslogs-region", REGION), ("awslogs-stream-prefix", "ecs")]).await;
    create_service(c, "web", &td).await;
    let task = service_task(c, "web", "RUNNING").await;
    let task_id = task.task_arn().unwrap().rsplit('/').next().unwrap().to_string();
    let stream = format!("ecs/app/{task_id}");

    let events = eventually("three events in the task's stream", 20, || async {
        let out = c.logs.get_log_events().log_group_name("/ecs/web").log_stream_name(&stream).start_from_head(true).send().await.ok()?;
        (out.events().len() >= 3).then_some(out)
    })
    .await;
    let mut messages: Vec<&str> = events.events().iter().map(|e| e.message().unwrap()).collect();
    messages.sort();
    assert_eq!(messages, vec!["hello from stdout", "oops on stderr", "second line"]);
    let started = task.started_at().map(|t| t.secs() * 1000).unwrap();
    for e in events.events() {
        let t = e.timestamp().unwrap();
        assert!(t >= started - 1000 && t <= now + 60_000, "each line carries the time it was printed: {t} vs task start {started}");
        assert!(e.ingestion_time().unwrap() >= t);
    }
    // Nothing more: the forward token comes back unchanged.
    let forward = events.next_forward_token().unwrap().to_string();
    let again = c.logs.get_log_events().log_group_name("/ecs/web").log_stream_name(&stream).next_token(&forward).send().await.unwrap();
    assert!(again.events().is_empty());
    assert_eq!(again.next_forward_token(), Some(forward.as_str()));

    // FilterLogEvents across the group, as `aws logs tail` asks: the task's lines in its
    // stream, the other stream's line in its own.
    let filtered = c.logs.filter_log_events().log_group_name("/ecs/web").filter_pattern("oops").send().await.unwrap();
    assert_eq!(filtered.events().len(), 1);
    assert_eq!(filtered.events()[0].log_stream_name(), Some(stream.as_str()));
    assert_eq!(filtered.events()[0].message(), Some("oops on stderr"));
    assert!(filtered.events()[0].event_id().is_some());
    let all = c.logs.filter_log_events().log_group_name("/ecs/web").send().await.unwrap();
    let by_stream: Vec<(&str, &str)> = all.events().iter().map(|e| (e.log_stream_name().unwrap(), e.message().unwrap())).collect();
    assert_eq!(by_stream.len(), 4, "{by_stream:?}");
    assert!(by_stream.contains(&("other", "hello from elsewhere")));
    assert_eq!(by_stream.iter().filter(|(s, _)| *s == stream).count(), 3);
    let prefixed = c.logs.filter_log_events().log_group_name("/ecs/web").log_stream_name_prefix("ecs/app/").send().await.unwrap();
    assert_eq!(prefixed.events().len(), 3);

    // The stream is described as AWS does, and the task's log file has the same lines.
    let streams = c.logs.describe_log_streams().log_group_name("/ecs/web").log_stream_name_prefix("ecs/").send().await.unwrap();
    assert_eq!(streams.log_streams().len(), 1);
    let described = &streams.log_streams()[0];
    assert_eq!(described.log_stream_name(), Some(stream.as_str()));
    assert_eq!(described.arn(), Some(format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/web:log-stream:{stream}").as_str()));
    assert!(described.last_event_timestamp().is_some());
    let file = std::fs::read_to_string(ferry_local::task_log_dir(local.dir.path(), &task_id).join("app.log")).unwrap();
    for line in ["hello from stdout\n", "oops on stderr\n", "second line\n"] {
        assert!(file.contains(line), "{file:?} lacks {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_group_stops_the_task_with_ecs_resource_initialization_error() {
    let local = start().await;
    let c = &local.clients;
    let td =
        register(c, "nogroup", "echo never; exec sleep 600", &[("awslogs-group", "/ecs/missing"), ("awslogs-stream-prefix", "ecs")]).await;
    create_service(c, "nogroup", &td).await;
    let task = service_task(c, "nogroup", "STOPPED").await;
    assert_eq!(task.stop_code().map(|s| s.as_str()), Some("TaskFailedToStart"));
    let reason = task.stopped_reason().unwrap();
    assert!(reason.starts_with("ResourceInitializationError: failed to validate logger args: "), "{reason}");
    assert!(reason.contains("ResourceNotFoundException: The specified log group does not exist."), "{reason}");
    assert!(task.started_at().is_none(), "the task never ran");
    // No group was made on the way.
    let err = c.logs.describe_log_streams().log_group_name("/ecs/missing").send().await;
    assert_eq!(code(err), "ResourceNotFoundException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awslogs_create_group_true_creates_the_group_and_the_lines_land_in_it() {
    let local = start().await;
    let c = &local.clients;
    let options = [("awslogs-group", "/ecs/created"), ("awslogs-stream-prefix", "svc"), ("awslogs-create-group", "true")];
    let td = register(c, "created", "echo 'created and logged'; exec sleep 600", &options).await;
    create_service(c, "created", &td).await;
    let task = service_task(c, "created", "RUNNING").await;
    let task_id = task.task_arn().unwrap().rsplit('/').next().unwrap().to_string();
    let groups = c.logs.describe_log_groups().log_group_name_prefix("/ecs/created").send().await.unwrap();
    assert_eq!(groups.log_groups().len(), 1);
    let group = &groups.log_groups()[0];
    assert_eq!(group.arn(), Some(format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/created:*").as_str()));
    assert_eq!(group.log_group_arn(), Some(format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/created").as_str()));
    let stream = format!("svc/app/{task_id}");
    let messages = eventually("the line in the created group", 20, || async {
        let out = c.logs.get_log_events().log_group_name("/ecs/created").log_stream_name(&stream).send().await.ok()?;
        let messages: Vec<String> = out.events().iter().filter_map(|e| e.message().map(str::to_string)).collect();
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(messages, vec!["created and logged"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_log_events_survive_a_restart_and_are_kept_apart_from_the_state_file() {
    let local = start().await;
    let c = &local.clients;
    c.logs.create_log_group().log_group_name("kept").send().await.unwrap();
    c.logs.create_log_stream().log_group_name("kept").log_stream_name("s").send().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let events: Vec<_> = (0..3)
        .map(|i| ferry_aws::logs::types::InputLogEvent::builder().timestamp(now + i).message(format!("event {i}")).build().unwrap())
        .collect();
    c.logs.put_log_events().log_group_name("kept").log_stream_name("s").set_log_events(Some(events)).send().await.unwrap();
    let state = std::fs::read_to_string(local.dir.path().join("state.json")).unwrap();
    assert!(state.contains("\"kept\"") && !state.contains("event 1"), "groups in state.json, events elsewhere");

    let Local { server, dir, .. } = local;
    server.shutdown().await;
    let local = start_in(dir).await;
    let c = &local.clients;
    let out = c.logs.get_log_events().log_group_name("kept").log_stream_name("s").start_from_head(true).send().await.unwrap();
    let messages: Vec<&str> = out.events().iter().map(|e| e.message().unwrap()).collect();
    assert_eq!(messages, vec!["event 0", "event 1", "event 2"]);
    let streams = c.logs.describe_log_streams().log_group_name("kept").send().await.unwrap();
    assert_eq!(streams.log_streams()[0].last_event_timestamp(), Some(now + 2));
    local.server.shutdown().await;
}
