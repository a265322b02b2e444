//! `ferry run ENV SERVICE [--version V] [--container C] [--detach] [--timeout D] [--count N]
//! -- COMMAND...`: a one-off task from the service's revision, its output streamed, waited
//! for, and ferry's exit code its container's (ferry_app::task).

use ferry_app::Context;
use ferry_app::task::{RunEnding, TaskEvent, TaskInput, TaskResult};
use ferry_core::deploy::{Event, ServiceReport};
use ferry_core::one_off::{Ending, task_id};

use crate::Failure;
use crate::cli::{GlobalArgs, RunArgs};
use crate::output::{Printer, now_ms};

pub async fn run(global: &GlobalArgs, args: RunArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object, also when the run fails before a task ran.
    let result = attached(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "run", failure))?;
    if result.exit_code != 0 {
        // The result is printed; what failed is said once, as every error is (also with
        // `-q`), with the container's own exit code as ferry's.
        eprintln!("error: {}", failure_text(&result));
        std::process::exit(result.exit_code);
    }
    Ok(())
}

async fn attached(global: &GlobalArgs, args: RunArgs) -> Result<TaskResult, Failure> {
    let printer = Printer::new(global);
    let sink = RunSink { printer: &printer, many: args.count > 1, said_no_logs: std::sync::atomic::AtomicBool::new(false) };
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &sink, cancel: crate::app::cancel_on_ctrl_c_or_term() };
    let input = TaskInput {
        environment: args.environment,
        service: args.service,
        version: args.version,
        container: args.container,
        command: args.command,
        count: args.count,
        detach: args.detach,
        timeout: args.timeout,
    };
    let result = ferry_app::task::run_task(&ctx, input).await?;
    if printer.json() {
        let mut line = serde_json::to_value(&result).unwrap_or_default();
        if let Some(object) = line.as_object_mut() {
            object.insert("type".into(), "result".into());
            object.insert("command".into(), "run".into());
        }
        printer.json_line(&line);
    } else if result.ending == RunEnding::Detached {
        for task in &result.tasks {
            printer.out(&task.arn);
        }
    } else if result.exit_code == 0 {
        printer.note(Some(&result.service), &done_text(&result));
    }
    Ok(result)
}

/// What a run that succeeded says last (stderr).
fn done_text(result: &TaskResult) -> String {
    let tasks = match result.tasks.as_slice() {
        [one] => format!("task {}", one.id),
        many => format!("{} tasks", many.len()),
    };
    format!("{tasks} of {} exited 0 ({:.1}s in all)", short_revision(&result.task_definition), result.duration_ms as f64 / 1000.0)
}

/// Why a run failed, after `error: `.
pub fn failure_text(result: &TaskResult) -> String {
    let reason = result.reason.clone().unwrap_or_else(|| format!("exit {}", result.exit_code));
    let what = match result.ending {
        RunEnding::TimedOut => "ferry run",
        _ => "the task",
    };
    format!("{} in {}: {what} failed: {reason} (run {})", result.service, result.environment, result.run_id)
}

/// `arn:aws:ecs:...:task-definition/web:12` → `web:12`.
fn short_revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The printer, with how a run's task events are worded: output lines on stdout (prefixed
/// by their task's id when several tasks run), progress on stderr.
struct RunSink<'a> {
    printer: &'a Printer,
    /// Several tasks: each output line says whose it is.
    many: bool,
    said_no_logs: std::sync::atomic::AtomicBool,
}

impl ferry_app::EventSink for RunSink<'_> {
    fn event(&self, report: &ServiceReport, event: &Event) {
        self.printer.event(report, event);
    }

    fn note(&self, service: Option<&str>, text: &str) {
        self.printer.note(service, text);
    }

    fn warning(&self, text: &str) {
        eprintln!("warning: {text}");
    }

    fn task_event(&self, service: &str, event: &TaskEvent) {
        if self.printer.json() {
            let line = match event {
                TaskEvent::Log { task, container, timestamp, message } => serde_json::json!({
                    "type": "log",
                    "at": ferry_store::format_rfc3339(*timestamp),
                    "timestamp_ms": timestamp,
                    "task": task_id(task),
                    "task_arn": task,
                    "container": container,
                    "message": message,
                    "service": service,
                }),
                other => {
                    let mut line = serde_json::to_value(other).unwrap_or_default();
                    if let Some(object) = line.as_object_mut() {
                        object.insert("type".into(), "event".into());
                        object.insert("at".into(), ferry_store::format_rfc3339(now_ms()).into());
                        object.insert("service".into(), service.into());
                    }
                    line
                }
            };
            self.printer.json_line(&line);
            return;
        }
        if let TaskEvent::Log { task, message, .. } = event {
            let text = message.strip_suffix('\n').unwrap_or(message);
            match self.many {
                true => self.printer.out(&format!("[{}] {text}", short_id(task))),
                false => self.printer.out(text),
            }
            return;
        }
        if let TaskEvent::Logs { logs: None, .. } = event
            && self.said_no_logs.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        if let Some(text) = event_text(event, self.printer.verbose > 0) {
            self.printer.note(Some(service), &text);
        }
    }
}

/// The first 8 characters of a task's id: enough to tell a run's tasks apart in a line.
fn short_id(arn: &str) -> &str {
    let id = task_id(arn);
    id.get(..8).unwrap_or(id)
}

/// A task event in words (stderr); None for what only `-v` shows, and for output lines.
pub fn event_text(event: &TaskEvent, verbose: bool) -> Option<String> {
    Some(match event {
        TaskEvent::Revision { task_definition, version: Some(version), registered: true, .. } => {
            format!("registered {} for version {version}", short_revision(task_definition))
        }
        TaskEvent::Revision { task_definition, version: Some(version), reused: true, .. } => {
            format!("{} is version {version} already: no new revision", short_revision(task_definition))
        }
        TaskEvent::Revision { .. } => return None,
        TaskEvent::NotChecked { items } => format!("not checked (ferry cannot look these up): {}", items.join("; ")),
        TaskEvent::Started { run_id, task_definition, container, command, tasks } => {
            let what = match command.as_slice() {
                [] => format!("{container}'s own command"),
                words => format!("`{}` in {container}", words.join(" ")),
            };
            let which = match tasks.as_slice() {
                [one] => format!("task {}", task_id(one)),
                many => format!("{} tasks ({})", many.len(), many.iter().map(|t| task_id(t)).collect::<Vec<_>>().join(", ")),
            };
            format!("started {which} of {}: {what} (run {run_id})", short_revision(task_definition))
        }
        TaskEvent::Logs { task, logs: Some(place) } if verbose => {
            format!("task {}: output from CloudWatch Logs {} {}", task_id(task), place.group, place.stream)
        }
        TaskEvent::Logs { logs: Some(_), .. } => return None,
        TaskEvent::Logs { logs: None, .. } => {
            "the container does not log with the awslogs driver and a stream prefix: its output is not shown (only its exit code)"
                .to_string()
        }
        TaskEvent::Status { task, last_status } => format!("task {} {last_status}", task_id(task)),
        TaskEvent::Stopping { tasks, reason } => {
            format!("stopping {} (StopTask: {reason})", tasks.iter().map(|t| task_id(t)).collect::<Vec<_>>().join(", "))
        }
        TaskEvent::Stopped { task, ending, run_ms } => {
            let took = run_ms.map(|ms| format!(" after {:.1}s", ms as f64 / 1000.0)).unwrap_or_default();
            match ending {
                Ending::Exited { code } => format!("task {} exited {code}{took}", task_id(task)),
                Ending::NoExitCode { stop_code, reason } => format!(
                    "task {} stopped without an exit code: {}{reason}",
                    task_id(task),
                    stop_code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default()
                ),
            }
        }
        TaskEvent::LogsUnreadable { error } => format!("cannot read the task's output (the run goes on): {error}"),
        TaskEvent::Log { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_app::task::{LogPlace, TaskRun};

    const TASK: &str = "arn:aws:ecs:eu-west-1:123456789012:task/prod/0f3e9a1c2b3d4e5f6a7b8c9d0e1f2a3b";
    const REVISION: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:12";

    #[test]
    fn a_runs_steps_read_as_sentences_with_ecss_words() {
        let started = TaskEvent::Started {
            run_id: "ferry-run-0123456789ab".into(),
            task_definition: REVISION.into(),
            container: "app".into(),
            command: vec!["bin/migrate".into(), "--yes".into()],
            tasks: vec![TASK.into()],
        };
        assert_eq!(
            event_text(&started, false).as_deref(),
            Some("started task 0f3e9a1c2b3d4e5f6a7b8c9d0e1f2a3b of web:12: `bin/migrate --yes` in app (run ferry-run-0123456789ab)")
        );
        let never = TaskEvent::Stopped {
            task: TASK.into(),
            ending: Ending::NoExitCode {
                stop_code: Some("TaskFailedToStart".into()),
                reason: "CannotPullContainerError: app:9: not found".into(),
            },
            run_ms: None,
        };
        assert_eq!(
            event_text(&never, false).as_deref(),
            Some(
                "task 0f3e9a1c2b3d4e5f6a7b8c9d0e1f2a3b stopped without an exit code: TaskFailedToStart: CannotPullContainerError: app:9: not found"
            )
        );
        let exited = TaskEvent::Stopped { task: TASK.into(), ending: Ending::Exited { code: 3 }, run_ms: Some(1_250) };
        assert_eq!(event_text(&exited, false).as_deref(), Some("task 0f3e9a1c2b3d4e5f6a7b8c9d0e1f2a3b exited 3 after 1.2s"));
        let registered =
            TaskEvent::Revision { task_definition: REVISION.into(), version: Some("1.5.0".into()), registered: true, reused: false };
        assert_eq!(event_text(&registered, false).as_deref(), Some("registered web:12 for version 1.5.0"));
        let running = TaskEvent::Revision { task_definition: REVISION.into(), version: None, registered: false, reused: false };
        assert_eq!(event_text(&running, false), None);
        let place = TaskEvent::Logs { task: TASK.into(), logs: Some(LogPlace { group: "/ecs/web".into(), stream: "web/app/0f3e".into() }) };
        assert_eq!(event_text(&place, false), None, "where the output is read from is for -v");
        assert!(event_text(&place, true).is_some_and(|t| t.ends_with("/ecs/web web/app/0f3e")));
    }

    #[test]
    fn a_failed_run_says_which_task_and_why_once() {
        let result = TaskResult {
            environment: "prod".into(),
            service: "web".into(),
            cluster: "prod".into(),
            ecs_service: "web".into(),
            run_id: "ferry-run-0123456789ab".into(),
            task_definition: REVISION.into(),
            registered: false,
            version: None,
            container: "app".into(),
            task_command: vec!["false".into()],
            tasks: vec![TaskRun {
                arn: TASK.into(),
                id: task_id(TASK).into(),
                last_status: "STOPPED".into(),
                ending: Some(Ending::Exited { code: 3 }),
                started_at: Some(1),
                stopped_at: Some(2),
                run_ms: Some(1),
                logs: None,
            }],
            ending: RunEnding::Failed,
            exit_code: 3,
            duration_ms: 2_000,
            reason: Some("task 0f3e: app exited 3".into()),
        };
        assert_eq!(failure_text(&result), "web in prod: the task failed: task 0f3e: app exited 3 (run ferry-run-0123456789ab)");
        assert_eq!(short_id(TASK), "0f3e9a1c");
    }
}
