//! One-off tasks (`ferry run`, a deploy's `before_deploy` and `after_deploy` hooks): a task
//! started with ECS RunTask from a service's revision and launch settings, waited for until
//! it stops, judged by one container's exit code, and its output read from CloudWatch Logs
//! where the awslogs driver wrote it.
//!
//! ECS's words are kept: a task that never ran a container stopped with a `stopCode` such as
//! `TaskFailedToStart` and a `stoppedReason` (`CannotPullContainerError: ...`,
//! `ResourceInitializationError: ...`), see the ECS developer guide, "Amazon ECS stopped
//! task error codes".

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::platform::{Clock, Ecs, LogEvent, LogStreams, Logs, PlatformResult, TaskState};

/// The id of a task: the last part of its ARN
/// (`arn:aws:ecs:eu-west-1:123456789012:task/main/0f3e...` → `0f3e...`).
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

/// Where the awslogs driver writes `container`'s output for the task `task_arn`: its log
/// group and stream (`PREFIX/CONTAINER/TASK-ID`, the ECS developer guide, "Using the awslogs
/// log driver"). None when the container does not use awslogs or has no stream prefix (the
/// stream is then named after the Docker container id, which ECS does not report).
pub fn awslogs_stream(definition: &Value, container: &str, task_arn: &str) -> Option<(String, String)> {
    let (group, prefix) = awslogs_of(definition, container)?;
    Some((group, format!("{prefix}/{container}/{}", task_id(task_arn))))
}

/// `container`'s awslogs group and stream prefix, when it logs with awslogs and a prefix.
pub fn awslogs_of(definition: &Value, container: &str) -> Option<(String, String)> {
    let found = definition
        .get("containerDefinitions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))?;
    let log = found.get("logConfiguration")?;
    if log.get("logDriver").and_then(Value::as_str) != Some("awslogs") {
        return None;
    }
    let option = |key: &str| log.get("options").and_then(|o| o.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty());
    Some((option("awslogs-group")?.to_string(), option("awslogs-stream-prefix")?.to_string()))
}

/// How a one-off task ended, judged by one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ending {
    /// The container ran and exited with this code (0 is success).
    Exited { code: i32 },
    /// The task stopped without the container having run or reported an exit code: it
    /// could not be started (`TaskFailedToStart`), was stopped (`UserInitiated`), or its
    /// host went away. `reason` is ECS's `stoppedReason`, with the container's own reason
    /// when it has one.
    NoExitCode { stop_code: Option<String>, reason: String },
}

impl Ending {
    pub fn succeeded(&self) -> bool {
        matches!(self, Ending::Exited { code: 0 })
    }

    /// The container's exit code; None for a task that never ran it (ECS gives none, and
    /// the caller picks its own exit code).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Ending::Exited { code } => Some(*code),
            Ending::NoExitCode { .. } => None,
        }
    }
}

/// How `task` ended for `container`; None while it has not stopped.
pub fn ending(task: &TaskState, container: &str) -> Option<Ending> {
    if !task.is_stopped() {
        return None;
    }
    if let Some(code) = task.exit_code(container) {
        return Some(Ending::Exited { code });
    }
    let own = task.containers.iter().find(|c| c.name == container).and_then(|c| c.reason.clone());
    let reason = match (task.stopped_reason.clone(), own) {
        (Some(task_reason), Some(own)) if own != task_reason => format!("{task_reason} ({container}: {own})"),
        (Some(task_reason), _) => task_reason,
        (None, Some(own)) => own,
        (None, None) => "stopped without a reason from ECS".to_string(),
    };
    Some(Ending::NoExitCode { stop_code: task.stop_code.clone(), reason })
}

/// What [`wait_stopped`] saw last.
#[derive(Clone, Debug, PartialEq)]
pub enum Waited {
    /// Every task stopped.
    Stopped(Vec<TaskState>),
    /// The deadline passed first; the tasks as last described (some still running).
    TimedOut(Vec<TaskState>),
}

/// Polls DescribeTasks every `poll` until every task in `arns` is STOPPED or `deadline_ms`
/// (epoch ms, on `clock`) passes. `on_poll` sees each observation (progress, streaming
/// logs). A task ECS no longer describes is not waited for.
pub async fn wait_stopped<E: Ecs, C: Clock>(
    ecs: &E,
    clock: &C,
    cluster: &str,
    arns: &[String],
    deadline_ms: i64,
    poll: Duration,
    mut on_poll: impl AsyncFnMut(&[TaskState]),
) -> PlatformResult<Waited> {
    loop {
        let mut states = Vec::with_capacity(arns.len());
        for chunk in arns.chunks(100) {
            states.extend(ecs.describe_tasks(cluster, chunk).await?);
        }
        on_poll(&states).await;
        if states.iter().all(TaskState::is_stopped) {
            return Ok(Waited::Stopped(states));
        }
        if clock.now_ms() >= deadline_ms {
            return Ok(Waited::TimedOut(states));
        }
        clock.sleep(poll).await;
    }
}

/// Reads the events of `streams` in `group` at or after `from_ms`, every page, skipping
/// those whose id is in `seen` (and adding the new ones): FilterLogEvents pages polled from
/// the last timestamp overlap. Oldest first.
pub async fn read_new_events<G: Logs>(
    logs: &G,
    group: &str,
    streams: &LogStreams,
    from_ms: Option<i64>,
    seen: &mut HashSet<String>,
) -> PlatformResult<Vec<LogEvent>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    // A bound on pages, so a group written faster than it is read cannot hold us forever.
    for _ in 0..100 {
        let page = logs.filter_log_events(group, streams, from_ms, token.as_deref()).await?;
        for event in page.events {
            if seen.insert(event.id.clone()) {
                out.push(event);
            }
        }
        match page.next_token {
            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
            _ => break,
        }
    }
    out.sort_by_key(|e| e.timestamp);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::StoppedContainer;
    use serde_json::json;

    fn definition() -> Value {
        json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web", "awslogs-region": "eu-west-1"}}},
            {"name": "envoy", "logConfiguration": {"logDriver": "json-file"}},
            {"name": "noprefix", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}}
        ]})
    }

    #[test]
    fn the_awslogs_stream_of_a_task_is_prefix_container_task_id() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:task/main/0f3e9a";
        assert_eq!(awslogs_stream(&definition(), "app", arn), Some(("/ecs/web".into(), "web/app/0f3e9a".into())));
        assert_eq!(awslogs_stream(&definition(), "envoy", arn), None);
        assert_eq!(awslogs_stream(&definition(), "noprefix", arn), None);
        assert_eq!(awslogs_stream(&definition(), "missing", arn), None);
    }

    fn stopped(exit: Option<i32>, reason: Option<&str>, stop_code: Option<&str>) -> TaskState {
        TaskState {
            arn: "arn:aws:ecs:eu-west-1:1:task/main/abc".into(),
            last_status: "STOPPED".into(),
            stop_code: stop_code.map(str::to_string),
            stopped_reason: reason.map(str::to_string),
            containers: vec![StoppedContainer { name: "app".into(), exit_code: exit, ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn a_task_ends_with_its_containers_exit_code_or_ecss_reason() {
        let running = TaskState { last_status: "RUNNING".into(), ..stopped(None, None, None) };
        assert_eq!(ending(&running, "app"), None);
        assert_eq!(ending(&stopped(Some(0), Some("Essential container in task exited"), None), "app"), Some(Ending::Exited { code: 0 }));
        assert!(!ending(&stopped(Some(3), None, None), "app").unwrap().succeeded());
        let failed = ending(&stopped(None, Some("CannotPullContainerError: not found"), Some("TaskFailedToStart")), "app").unwrap();
        assert_eq!(
            failed,
            Ending::NoExitCode { stop_code: Some("TaskFailedToStart".into()), reason: "CannotPullContainerError: not found".into() }
        );
        assert_eq!(failed.exit_code(), None);
    }
}
