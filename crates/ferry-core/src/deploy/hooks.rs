//! A deploy's hooks: `before_deploy` (a one-off task of the new revision before the service
//! changes: migrations) and `after_deploy` (once the deployment completed and baked: smoke
//! tests). Each is a task started with ECS RunTask from the new revision, with the service's
//! network and capacity settings and one container's command replaced, waited for until it
//! stops, its output shown as it prints it (CloudWatch Logs, awslogs driver), its exit code
//! deciding ([`crate::one_off`]).
//!
//! Journaled like every step: `started` with the task's `startedBy` (`DEPLOYMENT-ID/before`
//! or `/after`) before RunTask, `done` with how it ended. A re-run after a crash looks for
//! the task by that `startedBy` and waits for it rather than starting a second one; a hook
//! that passed is not run again.

use std::collections::HashSet;

use super::*;
use crate::config::{DEFAULT_HOOK_TIMEOUT, Hook};
use crate::one_off::{self, Ending, Waited};
use crate::platform::{LogStreams, OneOffTask, TaskLaunch};

/// How a hook ended, for the step that ran it.
pub(super) enum HookVerdict {
    /// The task exited 0.
    Passed,
    /// The task failed (exit code, stop reason, timeout) or could not be started: why.
    Failed(String),
    /// The step could not be journaled: the deploy was already finished (nothing started).
    Stopped,
}

/// How often a hook's task is looked at (DescribeTasks, and its new log lines).
const HOOK_POLL: Duration = Duration::from_secs(1);

/// How often a hook's task that is still running is said to be (a progress line).
const STILL_RUNNING_EVERY: Duration = Duration::from_secs(60);

/// How long a hook's task that timed out is waited for once asked to stop.
const STOP_WAIT: Duration = Duration::from_secs(120);

/// How many of the task's last log lines a failure's reason quotes.
const QUOTED_LINES: usize = 3;

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// Runs (or, `started_before`, first looks for and adopts) the hook's task of
    /// `task_definition` and waits for it; streams its log lines as [`Event::TaskLog`];
    /// renews the service's lock while it waits.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_hook(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        kind: HookKind,
        hook: &Hook,
        task_definition: &str,
        launch: &TaskLaunch,
        started_before: bool,
    ) -> HookVerdict {
        let name = kind.name();
        let container = hook.container.clone().unwrap_or_else(|| request.container.clone());
        let started_by = hook_started_by(&report.deployment_id, kind);
        let mut adopted = Vec::new();
        if started_before {
            match self.ecs.tasks_started_by(&request.cluster, &started_by).await {
                Ok(tasks) => adopted = tasks.into_iter().map(|t| t.arn).collect(),
                Err(e) => return HookVerdict::Failed(format!("cannot look for the {name} task a dead run started ({started_by}): {e}")),
            }
        }
        let data = json!({
            "started_by": started_by,
            "task_definition": task_definition,
            "container": container,
            "command": hook.command,
        });
        let Some(seq) = self.journal_started(report, name, &data) else { return HookVerdict::Stopped };
        let adopting = !adopted.is_empty();
        let arns = if adopting {
            adopted
        } else {
            let task = OneOffTask {
                cluster: request.cluster.clone(),
                task_definition: task_definition.to_string(),
                container: Some(container.clone()),
                command: hook.command.clone(),
                count: 1,
                started_by: started_by.clone(),
                launch: launch.clone(),
                tags: vec![
                    ("ferry:deployment".into(), report.deployment_id.clone()),
                    ("ferry:env".into(), request.environment.clone()),
                    ("ferry:service".into(), request.service.clone()),
                    ("ferry:hook".into(), name.into()),
                ],
            };
            match self.ecs.run_task(&task).await {
                Ok(arns) if !arns.is_empty() => arns,
                Ok(_) => {
                    self.journal_failed(report, seq, &data);
                    return HookVerdict::Failed(format!("the {name} task was not started: ECS answered RunTask with no task"));
                }
                Err(e) => {
                    self.journal_failed(report, seq, &data);
                    return HookVerdict::Failed(format!("the {name} task could not be started: {e}"));
                }
            }
        };
        kill_point(match kind {
            HookKind::BeforeDeploy => "before-deploy-started",
            HookKind::AfterDeploy => "after-deploy-started",
        });
        let task_arn = arns[0].clone();
        // Where its output goes: the revision's awslogs settings for the container.
        let stream = match self.ecs.describe_task_definition(task_definition).await {
            Ok(td) => one_off::awslogs_stream(&td.definition, &container, &task_arn),
            Err(_) => None,
        };
        let detail = Detail::HookStarted {
            hook: kind,
            task_arn: task_arn.clone(),
            command: hook.command.clone(),
            adopted: adopting,
            logs: stream.as_ref().map(|(group, name)| format!("{group} {name}")),
        };
        self.phase(report, Phase::Hook, detail);
        let started = self.clock.now_ms();
        let timeout = hook.timeout.unwrap_or(DEFAULT_HOOK_TIMEOUT);
        let deadline = started + timeout.as_millis() as i64;
        let mut seen = HashSet::new();
        let mut last_lines: Vec<String> = Vec::new();
        let mut last_renew = started;
        let task_id = one_off::task_id(&task_arn).to_string();
        let service = request.service.clone();
        let report_view = report.clone();
        let show_logs = async |seen: &mut HashSet<String>, last_lines: &mut Vec<String>| {
            let Some((group, name)) = &stream else { return };
            // A task adopted from a dead run printed before this run started: show it all.
            let from = if adopting { None } else { Some(started - 60_000) };
            let Ok(events) = one_off::read_new_events(self.logs, group, &LogStreams::Names(vec![name.clone()]), from, seen).await else {
                return;
            };
            for event in events {
                last_lines.push(event.message.clone());
                if last_lines.len() > QUOTED_LINES {
                    last_lines.remove(0);
                }
                self.emit(
                    &report_view,
                    Event::TaskLog {
                        service: service.clone(),
                        task: task_id.clone(),
                        container: container.clone(),
                        timestamp: event.timestamp,
                        message: event.message,
                    },
                );
            }
        };
        let mut last_said = started;
        let waited = one_off::wait_stopped(self.ecs, self.clock, &request.cluster, &arns, deadline, HOOK_POLL, async |states| {
            show_logs(&mut seen, &mut last_lines).await;
            let now = self.clock.now_ms();
            if now - last_said >= STILL_RUNNING_EVERY.as_millis() as i64 && states.iter().any(|t| !t.is_stopped()) {
                last_said = now;
                let running_ms = (now - started).max(0) as u64;
                self.phase(&report_view, Phase::Hook, Detail::HookRunning { hook: kind, task_arn: task_arn.clone(), running_ms });
            }
            if now - last_renew > 30_000 {
                last_renew = now;
                if let Err(e) = self.locks.renew(&request.environment, &request.service, request.lock_id()) {
                    tracing::warn!("cannot renew the lock of {} while its {name} task runs: {e:?}", request.service);
                }
            }
        })
        .await;
        // What it printed last, once it stopped (the driver flushes on exit).
        show_logs(&mut seen, &mut last_lines).await;
        let duration_ms = (self.clock.now_ms() - started).max(0) as u64;
        let (ending, reason) = match waited {
            Ok(Waited::Stopped(states)) => match states.iter().find(|t| t.arn == task_arn).and_then(|t| one_off::ending(t, &container)) {
                Some(ending) => {
                    let reason = failure_reason(name, &task_id, &ending, &last_lines);
                    (Some(ending), reason)
                }
                None => (None, Some(format!("the {name} task {task_id} is no longer described by ECS; its ending is unknown"))),
            },
            Ok(Waited::TimedOut(_)) => {
                let why = format!("ferry: {name} did not finish within {}", humantime::format_duration(timeout));
                // Stopped, and waited for: the next deploy's hook must not overlap it (a task
                // takes up to its containers' stopTimeout to stop).
                let stopped = match self.ecs.stop_task(&request.cluster, &task_arn, &why).await {
                    Ok(()) => {
                        let until = self.clock.now_ms() + STOP_WAIT.as_millis() as i64;
                        let waited = one_off::wait_stopped(self.ecs, self.clock, &request.cluster, &arns, until, HOOK_POLL, async |_| {
                            show_logs(&mut seen, &mut last_lines).await;
                        })
                        .await;
                        match waited {
                            Ok(Waited::Stopped(_)) => "it was stopped".to_string(),
                            _ => format!("it was asked to stop and had not stopped {} later", humantime::format_duration(STOP_WAIT)),
                        }
                    }
                    Err(e) => format!("stopping it failed: {e}"),
                };
                (None, Some(format!("the {name} task {task_id} did not finish within {}; {stopped}", humantime::format_duration(timeout))))
            }
            Err(e) => (None, Some(format!("cannot follow the {name} task {task_id}: {e}"))),
        };
        let passed = ending.as_ref().is_some_and(Ending::succeeded);
        let done = json!({"started_by": started_by, "task_arn": task_arn, "ending": ending, "passed": passed});
        self.journal_done(report, seq, &done);
        if let Some(ending) = ending {
            self.phase(report, Phase::Hook, Detail::HookFinished { hook: kind, task_arn, ending, duration_ms });
        }
        match reason {
            None if passed => HookVerdict::Passed,
            None => HookVerdict::Failed(format!("the {name} task {task_id} failed")),
            Some(reason) => HookVerdict::Failed(reason),
        }
    }
}

/// The `startedBy` of a deployment's hook task (at most 36 characters: letters, digits,
/// `-`, `_`, `/`): how a re-run finds the task a dead run started.
pub fn hook_started_by(deployment_id: &str, kind: HookKind) -> String {
    let suffix = match kind {
        HookKind::BeforeDeploy => "/before",
        HookKind::AfterDeploy => "/after",
    };
    let id: String = deployment_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    let room = 36 - suffix.len();
    let id = if id.len() > room { id[id.len() - room..].to_string() } else { id };
    format!("{id}{suffix}")
}

/// Why a hook failed, with the last lines it printed; None when it passed.
fn failure_reason(name: &str, task_id: &str, ending: &Ending, last_lines: &[String]) -> Option<String> {
    let said = if last_lines.is_empty() { String::new() } else { format!("; its last output: {}", last_lines.join(" | ")) };
    match ending {
        Ending::Exited { code: 0 } => None,
        Ending::Exited { code } => Some(format!("the {name} task {task_id} exited {code}{said}")),
        Ending::NoExitCode { stop_code, reason } => Some(format!(
            "the {name} task {task_id} stopped without running to its end ({}{reason}){said}",
            stop_code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hooks_started_by_fits_ecs_and_names_the_deployment() {
        assert_eq!(hook_started_by("fd-0123456789ab", HookKind::BeforeDeploy), "fd-0123456789ab/before");
        assert_eq!(hook_started_by("fd-0123456789ab", HookKind::AfterDeploy), "fd-0123456789ab/after");
        let long = hook_started_by("promo-0123456789ab-undo-0123456789ab-xyz", HookKind::BeforeDeploy);
        assert!(long.len() <= 36, "{long}");
        assert!(long.ends_with("/before"));
    }

    #[test]
    fn a_failed_hook_says_how_it_ended_and_what_it_printed_last() {
        let lines = vec!["migrating".to_string(), "ERROR: relation users exists".to_string()];
        assert_eq!(
            failure_reason("before_deploy", "abc", &Ending::Exited { code: 1 }, &lines).as_deref(),
            Some("the before_deploy task abc exited 1; its last output: migrating | ERROR: relation users exists")
        );
        assert_eq!(failure_reason("before_deploy", "abc", &Ending::Exited { code: 0 }, &lines), None);
        let never = Ending::NoExitCode { stop_code: Some("TaskFailedToStart".into()), reason: "CannotPullContainerError: x".into() };
        assert_eq!(
            failure_reason("after_deploy", "abc", &never, &[]).as_deref(),
            Some("the after_deploy task abc stopped without running to its end (TaskFailedToStart: CannotPullContainerError: x)")
        );
    }
}
