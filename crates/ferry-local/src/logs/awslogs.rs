//! The `awslogs` log driver: a container whose definition has `logConfiguration.logDriver =
//! "awslogs"` sends each line of its stdout and stderr to CloudWatch Logs as an event, stamped
//! with the time it was read, in group `awslogs-group` and stream
//! `awslogs-stream-prefix/CONTAINER-NAME/TASK-ID` (the ECS developer guide, "Using the awslogs
//! log driver"; the prefix is required, as on Fargate). The lines also go to the container's
//! log file (`logs/<task id>/<container>.log`), byte for byte, as without the driver.
//!
//! At container start the group must exist, unless `awslogs-create-group` is `"true"` (then it
//! is created); otherwise the task fails to start as Fargate's does, stop code
//! `TaskFailedToStart`, reason `ResourceInitializationError: failed to validate logger args: …
//! The specified log group does not exist. …` (ECS developer guide, "Amazon ECS stopped task
//! error messages"). The stream is created then. A line longer than CloudWatch's event limit
//! (256 KiB less 26 bytes, the Docker driver's split) becomes several events; an empty line
//! none (an event needs a message).

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use super::store::{EventStore, StoredEvent};
use crate::runtime::lock;
use crate::state::{Partition, State};

/// The most a line event may hold (Docker's awslogs driver splits longer lines here).
const MAX_EVENT_BYTES: usize = 262_144 - 26;
/// At most this many lines go to the store in one write.
const MAX_BATCH: usize = 1_000;

/// Where one container's output goes: the partition key (`account/region`), group and stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub partition: String,
    pub group: String,
    pub stream: String,
}

/// Reads container `container`'s log configuration in task `task_arn` and, for `awslogs`, makes
/// its group (with `awslogs-create-group`) and stream ready at `now_ms`. Ok(None): the
/// container does not use the awslogs driver. Err: why the task cannot start, as the stopped
/// reason ECS gives (`ResourceInitializationError: failed to validate logger args: …`).
pub fn prepare(partition: &mut Partition, task_arn: &str, container: &str, now_ms: i64) -> Result<Option<Destination>, String> {
    let Some(task) = partition.tasks.get(task_arn) else { return Ok(None) };
    let task_id = task.id().to_string();
    let Some(definition) = crate::records::find_definition(partition, &task.task_definition_arn) else { return Ok(None) };
    let Some(config) = definition
        .containers()
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|c| c.get("logConfiguration"))
    else {
        return Ok(None);
    };
    if config.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
        return Ok(None);
    }
    let option = |key: &str| config.pointer(&format!("/options/{key}")).and_then(Value::as_str).filter(|v| !v.is_empty());
    let invalid = |why: String| format!("ResourceInitializationError: failed to validate logger args: {why}");
    let group = option("awslogs-group").ok_or_else(|| invalid("must specify a value for log opt 'awslogs-group'".into()))?;
    let prefix = option("awslogs-stream-prefix").ok_or_else(|| {
        invalid(format!(
            "container {container}: log opt 'awslogs-stream-prefix' is required (ferry local names streams as Fargate does: PREFIX/CONTAINER/TASK-ID)"
        ))
    })?;
    let region = option("awslogs-region").unwrap_or(&partition.region);
    if region != partition.region {
        return Err(invalid(format!(
            "awslogs-region {region} is not the task's region {}: ferry local sends container logs to the task's own region only",
            partition.region
        )));
    }
    let stream = format!("{prefix}/{container}/{task_id}");
    let create_group = option("awslogs-create-group") == Some("true");
    let (group, stream) = (group.to_string(), stream);
    if !partition.log_groups.contains_key(&group) {
        if !create_group {
            return Err(invalid(
                "create stream has been retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not exist. : exit status 1".into(),
            ));
        }
        if group.is_empty()
            || group.len() > 512
            || !group.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#'))
        {
            return Err(invalid(format!(
                "create stream has been retried 1 times: failed to create Cloudwatch log group: InvalidParameterException: 1 validation error detected: Value '{group}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+ : exit status 1"
            )));
        }
        partition.log_groups.insert(group.clone(), super::new_group(&group, now_ms));
    }
    let created = super::new_stream(partition, &group, &stream, now_ms);
    if let Some(g) = partition.log_groups.get_mut(&group) {
        g.streams.entry(stream.clone()).or_insert(created);
    }
    let key = crate::state::partition_key(&partition.account, &partition.region);
    Ok(Some(Destination { partition: key, group, stream }))
}

/// Copies a container's `stdout` and `stderr` to its log file `log`, line by line as they
/// come, and sends each line to `to` in CloudWatch Logs. Runs until both pipes close (the
/// process and whatever it started have exited).
pub fn capture<O, E>(
    state: Arc<Mutex<State>>,
    store: Arc<EventStore>,
    to: Destination,
    log: std::fs::File,
    stdout: Option<O>,
    stderr: Option<E>,
) where
    O: AsyncRead + Unpin + Send + 'static,
    E: AsyncRead + Unpin + Send + 'static,
{
    let log = Arc::new(log);
    let (tx, rx) = mpsc::channel::<StoredEvent>(4 * MAX_BATCH);
    if let Some(out) = stdout {
        tokio::spawn(read_lines(out, Arc::clone(&log), tx.clone()));
    }
    if let Some(err) = stderr {
        tokio::spawn(read_lines(err, Arc::clone(&log), tx.clone()));
    }
    drop(tx);
    tokio::spawn(forward(state, store, to, rx));
}

/// Reads `pipe` line by line: each line to the log file as read, and as an event to `tx`.
async fn read_lines<R: AsyncRead + Unpin>(pipe: R, log: Arc<std::fs::File>, tx: mpsc::Sender<StoredEvent>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader).take(MAX_EVENT_BYTES as u64).read_until(b'\n', &mut line).await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let timestamp = super::millis(crate::api::now());
        if let Err(e) = (&*log).write_all(&line) {
            tracing::warn!("cannot write a container's log file: {e}");
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() {
            continue;
        }
        let event = StoredEvent { timestamp, ingestion_time: timestamp, message: String::from_utf8_lossy(text).into_owned() };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

/// Writes the lines `rx` receives to the stream, a batch at a time (what arrived together),
/// under the state lock, as PutLogEvents would (not fsynced: no one waits for an answer).
/// Lines for a stream or group deleted meanwhile are dropped, as the Docker driver drops
/// them on ResourceNotFoundException.
async fn forward(state: Arc<Mutex<State>>, store: Arc<EventStore>, to: Destination, mut rx: mpsc::Receiver<StoredEvent>) {
    let mut warned = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let ingested = super::millis(crate::api::now());
        for event in &mut batch {
            event.ingestion_time = ingested;
        }
        let mut state = lock(&state);
        let stream = state
            .partitions
            .get_mut(&to.partition)
            .and_then(|p| p.log_groups.get_mut(&to.group))
            .and_then(|g| g.streams.get_mut(&to.stream));
        let Some(stream) = stream else {
            if !warned {
                warned = true;
                tracing::warn!("log stream {} of group {} is gone: container output no longer sent to it", to.stream, to.group);
            }
            continue;
        };
        match store.append(&stream.file, &batch, false) {
            Ok(()) => {
                super::record_batch(stream, &batch);
                state.dirty = true;
            }
            Err(e) => tracing::warn!("cannot write log events of stream {}: {e}", to.stream),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Caller, Ctx, Input};
    use serde_json::json;

    const KEY: &str = "123456789012/us-east-1";

    /// A partition with one task of a definition whose container `app` has `options` for the
    /// awslogs driver; the task's ARN.
    fn task_with(options: Value) -> (State, String) {
        let mut state = State::default();
        let partition = state.partition("123456789012", "us-east-1");
        let caller = Caller { account: "123456789012".into(), region: "us-east-1".into() };
        let mut ctx = Ctx { partition, caller: &caller, now: 1_000.0 };
        let definition = json!({"family": "web", "containerDefinitions": [{
            "name": "app", "image": "busybox", "memory": 8, "entryPoint": ["true"],
            "logConfiguration": {"logDriver": "awslogs", "options": options}}]});
        let ecs =
            |ctx: &mut Ctx, op: &str, input: Value| crate::ecs::dispatch(op, ctx, &Input(input.as_object().unwrap())).unwrap().unwrap();
        ecs(&mut ctx, "CreateCluster", json!({"clusterName": "c"}));
        ecs(&mut ctx, "RegisterTaskDefinition", definition);
        let out = ecs(&mut ctx, "RunTask", json!({"cluster": "c", "taskDefinition": "web:1"}));
        let arn = out["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        (state, arn)
    }

    #[test]
    fn a_missing_group_fails_the_task_as_fargate_says() {
        let (mut state, arn) =
            task_with(json!({"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}));
        let partition = state.partitions.get_mut(KEY).unwrap();
        let reason = prepare(partition, &arn, "app", 5).unwrap_err();
        assert!(reason.starts_with("ResourceInitializationError: failed to validate logger args: "), "{reason}");
        assert!(reason.contains("ResourceNotFoundException: The specified log group does not exist."), "{reason}");
        assert!(partition.log_groups.is_empty(), "nothing created");
    }

    #[test]
    fn create_group_true_creates_the_group_and_the_stream_is_prefix_container_task_id() {
        let (mut state, arn) =
            task_with(json!({"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}));
        let partition = state.partitions.get_mut(KEY).unwrap();
        let to = prepare(partition, &arn, "app", 5).unwrap().unwrap();
        let task_id = arn.rsplit('/').next().unwrap();
        assert_eq!(to, Destination { partition: KEY.into(), group: "/ecs/web".into(), stream: format!("ecs/app/{task_id}") });
        let group = &partition.log_groups["/ecs/web"];
        assert_eq!(group.created_at, 5);
        assert!(group.streams.contains_key(&to.stream));
        assert_eq!(prepare(partition, &arn, "other", 5).unwrap(), None, "a container the definition does not name");
    }

    #[test]
    fn a_missing_prefix_or_group_option_or_another_region_is_refused() {
        for options in [
            json!({"awslogs-group": "g", "awslogs-create-group": "true"}),
            json!({"awslogs-stream-prefix": "p"}),
            json!({"awslogs-group": "g", "awslogs-stream-prefix": "p", "awslogs-region": "eu-west-1", "awslogs-create-group": "true"}),
        ] {
            let (mut state, arn) = task_with(options.clone());
            let partition = state.partitions.get_mut(KEY).unwrap();
            let reason = prepare(partition, &arn, "app", 5).unwrap_err();
            assert!(reason.starts_with("ResourceInitializationError: failed to validate logger args: "), "{options}: {reason}");
            assert!(partition.log_groups.is_empty(), "{options}: nothing created");
        }
    }

    #[tokio::test]
    async fn output_lines_reach_the_file_byte_for_byte_and_the_stream_as_events() {
        let dir = tempfile::tempdir().unwrap();
        let (state, arn) = task_with(json!({"awslogs-group": "g", "awslogs-stream-prefix": "p", "awslogs-create-group": "true"}));
        let state = Arc::new(Mutex::new(state));
        let to = prepare(lock(&state).partitions.get_mut(KEY).unwrap(), &arn, "app", 5).unwrap().unwrap();
        let store = Arc::new(EventStore::new(dir.path()));
        let log_path = dir.path().join("app.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let out: &[u8] = b"first line\n\nsecond line\nno newline at the end";
        let err: &[u8] = b"an error\n";
        capture(Arc::clone(&state), Arc::clone(&store), to.clone(), log, Some(out), Some(err));
        let file = lock(&state).partitions[KEY].log_groups["g"].streams[&to.stream].file.clone();
        let mut messages = Vec::new();
        for _ in 0..100 {
            messages.clear();
            store.scan(&file, |_, e| messages.push(e.message)).unwrap();
            if messages.len() == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        messages.sort();
        assert_eq!(messages, vec!["an error", "first line", "no newline at the end", "second line"]);
        let written = std::fs::read_to_string(&log_path).unwrap();
        assert!(written.contains("first line\n\nsecond line\nno newline at the end"), "{written:?}");
        assert!(written.contains("an error\n"));
        let state = lock(&state);
        let stream = &state.partitions[KEY].log_groups["g"].streams[&to.stream];
        assert!(stream.first_event.is_some() && stream.last_ingestion.is_some());
        assert!(state.dirty);
    }
}
