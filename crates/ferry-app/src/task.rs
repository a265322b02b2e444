//! `ferry run`: a one-off task (a migration, a cron-like job) from a service's revision — the
//! one it runs, or with a version the one a deploy of that version would run — started with
//! ECS RunTask the way the service runs its tasks (launch type or capacity providers,
//! platform version, network configuration), its output read from CloudWatch Logs while it
//! runs, waited for, and judged by one container's exit code. The service is never changed.
//!
//! ECS's words are kept (RunTask, DescribeTasks, StopTask; `stopCode`, `stoppedReason`); the
//! task carries `startedBy` = the run's id (`ferry-run-<12 hex>`) and the tags `ferry:env`,
//! `ferry:service`, `ferry:run`, `ferry:run-by`, so it can be found again.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ferry_core::ExitKind;
use ferry_core::deploy::{Event, Locks, Observer, ServiceReport, Trace, tag_value};
use ferry_core::one_off::{self, Ending, Waited};
use ferry_core::platform::{Ecs, LogStreams, Logs, OneOffTask, PlatformError, ServiceInfo, TaskDefinitionInfo, TaskState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::journal::{SystemClock, now_ms};
use crate::project::{self, Connected, Context};
use crate::run::Interrupted;
use crate::sink::EventSink;

/// The exit code of a run whose task did not end with an exit code of its own: it never ran
/// the container (ECS could not place or start it: `TaskFailedToStart`, an image that cannot
/// be pulled, a secret that cannot be read), it was stopped by someone else, or `--timeout`
/// stopped it. ferry's "failed" (5), as for a deploy that failed.
pub const NOT_RUN: ExitKind = ExitKind::FailedRolledBack;

/// At most this many tasks per run (RunTask's `count`, 1 to 10).
pub const MAX_COUNT: i32 = 10;

/// The tag that names the run on the task (and on a revision registered for it).
pub const RUN_TAG: &str = "ferry:run";

/// How long ferry waits for tasks it stopped at `--timeout` to reach STOPPED (their last
/// lines, their exit codes), beyond which it says StopTask was sent and returns.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// How often the task's log is read while it runs (FilterLogEvents), at most.
const LOG_EVERY_MS: i64 = 1_000;

/// Which task to run, and how to wait for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskInput {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service, as named in ferry.toml, whose revision and launch settings the task takes.
    pub service: String,
    /// Run the revision a deploy of this version (image tag) would run, registered when no
    /// ACTIVE revision says exactly that; None: the service's running revision.
    pub version: Option<String>,
    /// The container whose command is replaced and whose exit code decides; None: the
    /// service's `container` in ferry.toml when it is essential, else the first essential one.
    pub container: Option<String>,
    /// The command (RunTask's `containerOverrides[].command`); empty keeps the container's own.
    pub command: Vec<String>,
    /// How many tasks (1 to 10); the run fails if any fails.
    pub count: i32,
    /// Return once the tasks are started, without waiting or reading their output.
    pub detach: bool,
    /// How long to wait before stopping the tasks (StopTask) and failing.
    pub timeout: Duration,
}

/// Where a container's output is, for the awslogs driver: its log group and the task's
/// stream (`PREFIX/CONTAINER/TASK-ID`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LogPlace {
    pub group: String,
    pub stream: String,
}

/// What a run tells its sink as it goes ([`EventSink::task_event`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TaskEvent {
    /// The revision the task runs (ARN): `registered` for this run (`--version`), or reused.
    Revision { task_definition: String, version: Option<String>, registered: bool, reused: bool },
    /// Preflight of `--version` could not check these (`field: value` each).
    NotChecked { items: Vec<String> },
    /// RunTask started these tasks (ARNs, in ECS's order).
    Started { run_id: String, task_definition: String, container: String, command: Vec<String>, tasks: Vec<String> },
    /// Where a task's output is read from; None when the container does not log with awslogs
    /// and a stream prefix (its output is then not shown).
    Logs { task: String, logs: Option<LogPlace> },
    /// A task's `lastStatus` changed (PENDING, RUNNING, ...).
    Status { task: String, last_status: String },
    /// A line the task printed (CloudWatch Logs; `timestamp` in epoch ms).
    Log { task: String, container: String, timestamp: i64, message: String },
    /// ferry asked ECS to stop the tasks (StopTask), and why.
    Stopping { tasks: Vec<String>, reason: String },
    /// A task stopped: how, and how long it ran (ECS's `startedAt` to `stoppedAt`, ms).
    Stopped { task: String, ending: Ending, run_ms: Option<i64> },
    /// The task's output could not be read (the run goes on).
    LogsUnreadable { error: String },
}

/// One task of a run as it ended (or as last seen).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TaskRun {
    pub arn: String,
    /// The task's id, the last part of its ARN.
    pub id: String,
    /// As last described (`STOPPED` once it ended).
    pub last_status: String,
    /// How it ended for the run's container; None while it runs (`--detach`, or a timeout
    /// whose stop has not finished).
    pub ending: Option<Ending>,
    /// ECS's `startedAt` and `stoppedAt`, epoch ms.
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    /// How long the task ran (stoppedAt − startedAt), ms.
    pub run_ms: Option<i64>,
    pub logs: Option<LogPlace>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunEnding {
    /// Started and not waited for (`--detach`).
    Detached,
    /// Every task's container exited 0.
    Succeeded,
    /// A task's container exited non-zero; the run exits with that code.
    Failed,
    /// A task stopped without an exit code for the container: it never ran it (ECS could
    /// not start the task), or something else stopped it. Exit [`NOT_RUN`].
    NotRun,
    /// `--timeout` passed and ferry stopped the tasks. Exit [`NOT_RUN`].
    TimedOut,
}

/// The result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct TaskResult {
    pub environment: String,
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    /// The run's id: the tasks' `startedBy` and `ferry:run` tag.
    pub run_id: String,
    /// The revision the tasks ran (ARN).
    pub task_definition: String,
    /// Registered for this run (`--version` of a revision that did not exist yet).
    pub registered: bool,
    pub version: Option<String>,
    /// The container whose command was replaced and whose exit code decides.
    pub container: String,
    /// The command the container ran instead of its own (empty: its own). Not `command`,
    /// which a result object uses for ferry's command (`run`).
    pub task_command: Vec<String>,
    pub tasks: Vec<TaskRun>,
    pub ending: RunEnding,
    /// What the process exits with: 0, the first failed task's container exit code (1 when
    /// it is outside 1..=255), or [`NOT_RUN`]'s code.
    pub exit_code: i32,
    /// From the start of the run (before preflight) to its end, ms.
    pub duration_ms: i64,
    /// Why the run failed, in words; None when it succeeded or was detached.
    pub reason: Option<String>,
}

/// The process exit code for a container's exit code: itself within 0..=255, else 1 (a code
/// the shell would wrap, 256 → 0, must not read as success).
pub fn process_exit_code(code: i32) -> i32 {
    if (0..=255).contains(&code) { code } else { 1 }
}

/// How a run whose tasks all stopped ended, judged by `container`: the first task of `arns`
/// (RunTask's order) that did not exit 0 decides — its exit code, or [`NOT_RUN`] when it has
/// none, or when ECS no longer describes it (`tasks` lacks it) — with the reason in words.
pub fn judge(arns: &[String], tasks: &[TaskState], container: &str) -> (RunEnding, i32, Option<String>) {
    for arn in arns {
        let id = one_off::task_id(arn);
        let Some(task) = tasks.iter().find(|t| &t.arn == arn) else {
            return (
                RunEnding::NotRun,
                NOT_RUN.code(),
                Some(format!("task {id}: ECS no longer describes it, so its exit code is unknown")),
            );
        };
        match one_off::ending(task, container) {
            Some(Ending::Exited { code: 0 }) => {}
            Some(Ending::Exited { code }) => {
                return (RunEnding::Failed, process_exit_code(code), Some(format!("task {id}: {container} exited {code}")));
            }
            Some(Ending::NoExitCode { stop_code, reason }) => {
                let code = stop_code.map(|c| format!("{c}: ")).unwrap_or_default();
                let said = format!("task {id} stopped without {container} exiting ({code}{reason})");
                return (RunEnding::NotRun, NOT_RUN.code(), Some(said));
            }
            None => {
                return (RunEnding::NotRun, NOT_RUN.code(), Some(format!("task {id} is still {}", task.last_status)));
            }
        }
    }
    (RunEnding::Succeeded, 0, None)
}

/// Whether a container definition is essential (ECS's default when unset: true).
fn essential(container: &Value) -> bool {
    container.get("essential").and_then(Value::as_bool).unwrap_or(true)
}

/// The container a run replaces the command of and judges: `asked` (it must be in the
/// revision), else `configured` (the service's `container` in ferry.toml) when it is an
/// essential container of the revision, else the revision's first essential container.
/// Errors: what the revision has instead, in words.
pub fn choose_container(definition: &Value, asked: Option<&str>, configured: &str) -> std::result::Result<String, String> {
    let containers: Vec<&Value> = definition.get("containerDefinitions").and_then(Value::as_array).into_iter().flatten().collect();
    let name = |c: &&Value| c.get("name").and_then(Value::as_str).map(str::to_string);
    let names: Vec<String> = containers.iter().filter_map(name).collect();
    if let Some(asked) = asked {
        return match names.iter().any(|n| n == asked) {
            true => Ok(asked.to_string()),
            false => Err(format!("--container {asked}: the revision has no such container; its containers are {}", names.join(", "))),
        };
    }
    if containers.iter().any(|c| name(c).as_deref() == Some(configured) && essential(c)) {
        return Ok(configured.to_string());
    }
    containers
        .iter()
        .find(|c| essential(c))
        .or(containers.first())
        .and_then(name)
        .ok_or_else(|| "the revision has no container definitions".to_string())
}

/// A run's tasks' tags: the environment, the service, the run, who ran it.
fn task_tags(environment: &str, service: &str, run_id: &str, who: &str) -> Vec<(String, String)> {
    vec![
        ("ferry:env".into(), environment.to_string()),
        ("ferry:service".into(), service.to_string()),
        (RUN_TAG.into(), run_id.to_string()),
        ("ferry:run-by".into(), tag_value(who)),
    ]
}

/// The poll interval while waiting, by how long the tasks have been waited for: quick at
/// first (a task that exits at once is seen within a quarter second), slower for long jobs.
pub fn poll_after(waited: Duration) -> (Duration, Duration) {
    // (interval, until this much waited)
    match waited.as_secs() {
        0..3 => (Duration::from_millis(250), Duration::from_secs(3)),
        3..15 => (Duration::from_millis(500), Duration::from_secs(15)),
        15..60 => (Duration::from_secs(1), Duration::from_secs(60)),
        _ => (Duration::from_secs(2), Duration::MAX),
    }
}

/// Runs the one-off task(s) and, unless `detach`, waits until they stop, telling the sink
/// their status and output. Returns the result also when a task failed (its `exit_code`
/// says so).
///
/// Errors: a count outside 1..=10, an unknown environment or service, a container not in
/// the revision, `--version` of an env-tag service (invalid input, exit 2); the service not
/// ACTIVE, a version preflight refuses (4); AWS (3); ECS could not place the task (RunTask
/// `failures`: [`NOT_RUN`], 5); Ctrl-C (130): before RunTask nothing was started, after it
/// the tasks are stopped (StopTask) and the error says so.
pub async fn run_task(ctx: &Context<'_>, input: TaskInput) -> Result<TaskResult> {
    let begun = now_ms();
    if !(1..=MAX_COUNT).contains(&input.count) {
        return Err(Error::input(format!("--count {}: give a number of tasks from 1 to {MAX_COUNT} (RunTask's limit)", input.count)));
    }
    if input.timeout.is_zero() {
        return Err(Error::input("--timeout 0: give a duration above zero (e.g. 30m)"));
    }
    let config = project::load_config(ctx.project)?;
    let env = config.environment(&input.environment).map_err(Error::config)?;
    let service = config.service(&input.service).map_err(Error::config)?;
    let ecs_service = config.ecs_service_name(&input.environment, &input.service).map_err(Error::config)?;
    let cluster = env.cluster.clone();
    let connected = project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref()).await?;
    let run_id = project::new_id("ferry-run");

    let chosen = ctx.before_changes("run", revision(ctx, &config, &connected, &input, &cluster, &ecs_service, &run_id)).await?;
    ctx.sink.task_event(
        &input.service,
        &TaskEvent::Revision {
            task_definition: chosen.definition.arn.clone(),
            version: input.version.clone(),
            registered: chosen.registered,
            reused: input.version.is_some() && !chosen.registered,
        },
    );
    let container =
        choose_container(&chosen.definition.definition, input.container.as_deref(), &service.container).map_err(Error::input)?;
    let task = OneOffTask {
        cluster: cluster.clone(),
        task_definition: chosen.definition.arn.clone(),
        container: Some(container.clone()),
        command: input.command.clone(),
        count: input.count,
        started_by: run_id.clone(),
        launch: chosen.service.launch.clone(),
        tags: task_tags(&input.environment, &input.service, &run_id, &ctx.actor.who),
    };
    if ctx.cancel.is_cancelled() {
        return Err(Error::interrupted_before("run"));
    }
    let arns = connected.ecs.run_task(&task).await.map_err(|e| run_task_error(e, &input))?;
    let logs: HashMap<String, Option<LogPlace>> = arns
        .iter()
        .map(|arn| {
            let place =
                one_off::awslogs_stream(&chosen.definition.definition, &container, arn).map(|(group, stream)| LogPlace { group, stream });
            (arn.clone(), place)
        })
        .collect();
    ctx.sink.task_event(
        &input.service,
        &TaskEvent::Started {
            run_id: run_id.clone(),
            task_definition: chosen.definition.arn.clone(),
            container: container.clone(),
            command: input.command.clone(),
            tasks: arns.clone(),
        },
    );
    for arn in &arns {
        ctx.sink.task_event(&input.service, &TaskEvent::Logs { task: arn.clone(), logs: logs.get(arn).cloned().flatten() });
    }
    let mut result = TaskResult {
        environment: input.environment.clone(),
        service: input.service.clone(),
        cluster: cluster.clone(),
        ecs_service,
        run_id: run_id.clone(),
        task_definition: chosen.definition.arn.clone(),
        registered: chosen.registered,
        version: input.version.clone(),
        container: container.clone(),
        task_command: input.command.clone(),
        tasks: arns.iter().map(|arn| task_run(arn, None, &container, &logs)).collect(),
        ending: RunEnding::Detached,
        exit_code: 0,
        duration_ms: 0,
        reason: None,
    };
    if input.detach {
        result.duration_ms = now_ms() - begun;
        return Ok(result);
    }

    let mut watcher = Watcher::new(ctx.sink, &connected.logs, &input.service, &container, &logs);
    let deadline = begun + input.timeout.as_millis() as i64;
    let waited = tokio::select! {
        waited = watcher.wait(&connected.ecs, &cluster, &arns, deadline) => waited?,
        _ = ctx.cancel.cancelled() => {
            let reason = format!("ferry run {run_id} interrupted (Ctrl-C or SIGTERM) by {}", ctx.actor.who);
            let stopped = stop_all(ctx.sink, &connected.ecs, &input.service, &cluster, &arns, &reason).await;
            return Err(Error::Interrupted(Box::new(Interrupted {
                command: "run",
                run_id,
                services: Vec::new(),
                reason: format!(
                    "interrupted: asked ECS to stop {} (StopTask: SIGTERM, then SIGKILL after the container's stopTimeout){}",
                    task_list(&arns),
                    stopped.map(|e| format!("; but StopTask failed: {e}")).unwrap_or_default()
                ),
            })));
        }
    };
    let states = match waited {
        Waited::Stopped(states) => {
            let (ending, code, reason) = judge(&arns, &states, &container);
            (result.ending, result.exit_code, result.reason) = (ending, code, reason);
            states
        }
        Waited::TimedOut(states) => {
            let running: Vec<String> = states.iter().filter(|t| !t.is_stopped()).map(|t| t.arn.clone()).collect();
            let limit = humantime::format_duration(input.timeout);
            let reason = format!("ferry run {run_id}: --timeout {limit} passed");
            let stop_error = stop_all(ctx.sink, &connected.ecs, &input.service, &cluster, &running, &reason).await;
            // The stopped tasks' last lines and exit codes, for a bounded while.
            let grace = now_ms() + STOP_GRACE.as_millis() as i64;
            let last = match watcher.wait(&connected.ecs, &cluster, &arns, grace).await? {
                Waited::Stopped(states) | Waited::TimedOut(states) => states,
            };
            result.ending = RunEnding::TimedOut;
            result.exit_code = NOT_RUN.code();
            let still = last.iter().filter(|t| !t.is_stopped()).count();
            result.reason = Some(format!(
                "timed out after {limit}: ferry stopped {}{}",
                task_list(&running),
                match (stop_error, still) {
                    (Some(e), _) => format!(", but StopTask failed: {e}"),
                    (None, 0) => String::new(),
                    (None, n) => format!(" ({n} still stopping: ECS carries on)"),
                }
            ));
            last
        }
    };
    result.tasks = arns.iter().map(|arn| task_run(arn, states.iter().find(|t| &t.arn == arn), &container, &logs)).collect();
    result.duration_ms = now_ms() - begun;
    Ok(result)
}

/// A run's tasks in words: `task 0f3e…` or `3 tasks (0f3e…, …)`.
fn task_list(arns: &[String]) -> String {
    let ids: Vec<&str> = arns.iter().map(|a| one_off::task_id(a)).collect();
    match ids.as_slice() {
        [one] => format!("task {one}"),
        many => format!("{} tasks ({})", many.len(), many.join(", ")),
    }
}

fn task_run(arn: &str, state: Option<&TaskState>, container: &str, logs: &HashMap<String, Option<LogPlace>>) -> TaskRun {
    TaskRun {
        arn: arn.to_string(),
        id: one_off::task_id(arn).to_string(),
        last_status: state.map(|s| s.last_status.clone()).unwrap_or_else(|| "PROVISIONING".into()),
        ending: state.and_then(|s| one_off::ending(s, container)),
        started_at: state.and_then(|s| s.started_at),
        stopped_at: state.and_then(|s| s.stopped_at),
        run_ms: state.and_then(|s| Some(s.stopped_at? - s.started_at?)),
        logs: logs.get(arn).cloned().flatten(),
    }
}

/// StopTask for each task, with the reason ECS shows; the first failure, if any.
async fn stop_all(sink: &dyn EventSink, ecs: &impl Ecs, service: &str, cluster: &str, arns: &[String], reason: &str) -> Option<String> {
    if arns.is_empty() {
        return None;
    }
    sink.task_event(service, &TaskEvent::Stopping { tasks: arns.to_vec(), reason: reason.to_string() });
    let mut failed = None;
    for arn in arns {
        if let Err(e) = ecs.stop_task(cluster, arn, reason).await {
            failed.get_or_insert(e.to_string());
        }
    }
    failed
}

/// RunTask's failures (ECS could not place or start the task) are the task not running
/// (exit 5); any other error is the platform's (3).
fn run_task_error(e: PlatformError, input: &TaskInput) -> Error {
    if e.code.as_deref() == Some("RunTaskFailure") {
        return Error::Run {
            kind: NOT_RUN,
            message: format!("{} in {}: {}; no task was started", input.service, input.environment, e.message),
            hint: Some(format!(
                "RunTask's failures (RESOURCE:CPU, RESOURCE:MEMORY, MISSING, ...) are about where the task would be placed: see the cluster's capacity, and `ferry events {} {}`",
                input.environment, input.service
            )),
        };
    }
    Error::from(e)
}

/// The revision a run starts, and the service whose launch settings it takes.
struct Chosen {
    definition: TaskDefinitionInfo,
    registered: bool,
    service: ServiceInfo,
}

/// The running revision (no version), or the one a deploy of the version would run,
/// reused or registered ([`ferry_core::deploy::Run::revision_for_task`]).
async fn revision(
    ctx: &Context<'_>,
    config: &ferry_core::config::Config,
    connected: &Connected,
    input: &TaskInput,
    cluster: &str,
    ecs_service: &str,
    run_id: &str,
) -> Result<Chosen> {
    let Some(version) = &input.version else {
        let found = connected.ecs.describe_services(cluster, &[ecs_service.to_string()]).await.map_err(|e| match e.code.as_deref() {
            Some("ClusterNotFoundException") => Error::refused(format!(
                "{} in {}: cluster {cluster} not found ({}); nothing was started",
                input.service,
                input.environment,
                connected.location(config, None)
            )),
            _ => Error::from(e),
        })?;
        let Some(service) = found.into_iter().find(|s| s.name == ecs_service && s.status == "ACTIVE") else {
            return Err(Error::refused(format!(
                "{} in {}: no ACTIVE service {ecs_service} in cluster {cluster} ({}); nothing was started",
                input.service,
                input.environment,
                connected.location(config, None)
            )));
        };
        let definition = connected.ecs.describe_task_definition(&service.task_definition).await?;
        return Ok(Chosen { definition, registered: false, service });
    };
    let (commit, commit_message) = project::git_commit(&config.root);
    let trace = Trace { deployment_id: run_id.to_string(), who: ctx.actor.who.clone(), commit, commit_message };
    let request = project::request(config, connected, &input.service, Some(version.clone()), None, None, trace)?;
    let observer = Preflight { sink: ctx.sink };
    let run = connected.run(&NoLocks, &observer);
    match run.revision_for_task(&request, RUN_TAG, run_id).await {
        Ok(found) => {
            if !found.not_checked.is_empty() {
                ctx.sink.task_event(&input.service, &TaskEvent::NotChecked { items: found.not_checked.clone() });
            }
            Ok(Chosen { definition: found.definition, registered: found.registered, service: found.service })
        }
        Err(report) => {
            let reason = report.reason.clone().unwrap_or_else(|| "preflight refused".into());
            let message = format!("{} {version} in {}: {reason}; nothing was started", input.service, input.environment);
            Err(Error::new(report.exit_kind(), message))
        }
    }
}

/// The deploy preflight's observer for `--version`: its template warnings reach the sink,
/// its other events (a deploy's phases) are not a run's.
struct Preflight<'a> {
    sink: &'a dyn EventSink,
}

impl Observer for Preflight<'_> {
    fn event(&self, report: &ServiceReport, event: &Event) {
        if let Event::Phase { detail: ferry_core::deploy::Detail::TemplateWarning { .. }, .. } = event {
            self.sink.event(report, event);
        }
    }
    fn record(&self, _report: &ServiceReport) {}
}

/// A run takes no lock: it changes no service (a revision registered for it is harmless).
struct NoLocks;

impl Locks for NoLocks {
    fn lock(&self, _environment: &str, _service: &str, _deployment_id: &str) -> std::result::Result<(), ferry_core::deploy::LockRefusal> {
        Err(ferry_core::deploy::LockRefusal::Error("ferry run takes no lock".into()))
    }
    fn renew(&self, environment: &str, service: &str, deployment_id: &str) -> std::result::Result<(), ferry_core::deploy::LockRefusal> {
        self.lock(environment, service, deployment_id)
    }
    fn unlock(&self, _environment: &str, _service: &str, _deployment_id: &str) {}
}

/// Waits for a run's tasks, telling the sink their status changes, their ends and their
/// output as it comes.
struct Watcher<'a, G: Logs> {
    sink: &'a dyn EventSink,
    /// CloudWatch Logs, where the tasks' output is read.
    cloudwatch: &'a G,
    service: &'a str,
    container: &'a str,
    logs: &'a HashMap<String, Option<LogPlace>>,
    statuses: HashMap<String, String>,
    seen: HashSet<String>,
    last_read_ms: i64,
    log_error_said: bool,
    started: std::time::Instant,
}

impl<'a, G: Logs> Watcher<'a, G> {
    fn new(
        sink: &'a dyn EventSink,
        cloudwatch: &'a G,
        service: &'a str,
        container: &'a str,
        logs: &'a HashMap<String, Option<LogPlace>>,
    ) -> Self {
        Watcher {
            sink,
            cloudwatch,
            service,
            container,
            logs,
            statuses: HashMap::new(),
            seen: HashSet::new(),
            last_read_ms: 0,
            log_error_said: false,
            started: std::time::Instant::now(),
        }
    }

    /// Polls until every task stopped or `deadline_ms` passed, quickly at first
    /// ([`poll_after`]); reads the output once more when they stopped.
    async fn wait(&mut self, ecs: &impl Ecs, cluster: &str, arns: &[String], deadline_ms: i64) -> Result<Waited> {
        loop {
            let (poll, until) = poll_after(self.started.elapsed());
            let phase_end = match until.checked_sub(self.started.elapsed()) {
                Some(left) if until != Duration::MAX => deadline_ms.min(now_ms() + left.as_millis() as i64),
                _ => deadline_ms,
            };
            let waited = one_off::wait_stopped(ecs, &SystemClock, cluster, arns, phase_end, poll, async |states: &[TaskState]| {
                self.observe(states).await;
            })
            .await?;
            match waited {
                Waited::Stopped(states) => {
                    self.read_logs(true).await;
                    return Ok(Waited::Stopped(states));
                }
                Waited::TimedOut(states) if now_ms() >= deadline_ms => return Ok(Waited::TimedOut(states)),
                Waited::TimedOut(_) => {}
            }
        }
    }

    async fn observe(&mut self, states: &[TaskState]) {
        for task in states {
            let before = self.statuses.insert(task.arn.clone(), task.last_status.clone());
            if before.as_deref() == Some(task.last_status.as_str()) {
                continue;
            }
            if task.is_stopped() {
                // Its last lines come before the line that says it stopped.
                self.read_logs(true).await;
                if let Some(ending) = one_off::ending(task, self.container) {
                    let run_ms = task.started_at.zip(task.stopped_at).map(|(a, b)| b - a);
                    self.sink.task_event(self.service, &TaskEvent::Stopped { task: task.arn.clone(), ending, run_ms });
                }
            } else {
                self.sink.task_event(self.service, &TaskEvent::Status { task: task.arn.clone(), last_status: task.last_status.clone() });
            }
        }
        self.read_logs(false).await;
    }

    /// Reads the tasks' new log events (at most every [`LOG_EVERY_MS`] unless `now`), one
    /// FilterLogEvents per log group and page.
    async fn read_logs(&mut self, now: bool) {
        let at = now_ms();
        if !now && at - self.last_read_ms < LOG_EVERY_MS {
            return;
        }
        self.last_read_ms = at;
        let mut by_group: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
        for (arn, place) in self.logs {
            if let Some(place) = place {
                by_group.entry(place.group.as_str()).or_default().push((place.stream.as_str(), arn.as_str()));
            }
        }
        for (group, streams) in by_group {
            let wanted = match streams.as_slice() {
                [(one, _)] => LogStreams::Prefix(one.to_string()),
                many => LogStreams::Names(many.iter().map(|(s, _)| s.to_string()).collect()),
            };
            match read_streams(self.cloudwatch, group, &wanted, &mut self.seen).await {
                Ok(events) => {
                    for event in events {
                        let task = streams.iter().find(|(s, _)| *s == event.stream).map(|(_, arn)| arn.to_string()).unwrap_or_default();
                        self.sink.task_event(
                            self.service,
                            &TaskEvent::Log {
                                task,
                                container: self.container.to_string(),
                                timestamp: event.timestamp,
                                message: event.message,
                            },
                        );
                    }
                }
                // The group or stream is created with the task's first line.
                Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => {}
                Err(e) if !self.log_error_said => {
                    self.log_error_said = true;
                    self.sink.task_event(self.service, &TaskEvent::LogsUnreadable { error: e.to_string() });
                }
                Err(_) => {}
            }
        }
    }
}

/// The new events of `streams` in `group` (FilterLogEvents, every page). CloudWatch Logs
/// refuses a request naming a stream that does not exist (ResourceNotFoundException: a task
/// that has not started yet, or never will, has none): then each stream is read apart, by
/// its exact name as a prefix, which a missing stream does not fail.
async fn read_streams<G: Logs>(
    logs: &G,
    group: &str,
    streams: &LogStreams,
    seen: &mut HashSet<String>,
) -> ferry_core::platform::PlatformResult<Vec<ferry_core::platform::LogEvent>> {
    let first = one_off::read_new_events(logs, group, streams, None, seen).await;
    let LogStreams::Names(names) = streams else { return first };
    match first {
        Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => {
            let mut events = Vec::new();
            for name in names {
                match one_off::read_new_events(logs, group, &LogStreams::Prefix(name.clone()), None, seen).await {
                    Ok(found) => events.extend(found),
                    Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => {}
                    Err(e) => return Err(e),
                }
            }
            events.sort_by_key(|e| e.timestamp);
            Ok(events)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::platform::StoppedContainer;
    use serde_json::json;

    fn stopped(arn: &str, exit: Option<i32>, stop_code: Option<&str>, reason: Option<&str>) -> TaskState {
        TaskState {
            arn: format!("arn:aws:ecs:eu-west-1:123456789012:task/main/{arn}"),
            last_status: "STOPPED".into(),
            stop_code: stop_code.map(str::to_string),
            stopped_reason: reason.map(str::to_string),
            containers: vec![StoppedContainer { name: "app".into(), exit_code: exit, ..Default::default() }],
            ..Default::default()
        }
    }

    /// RunTask's answer for these tasks, in its order, and DescribeTasks' for them.
    fn judged(tasks: &[TaskState]) -> (RunEnding, i32, Option<String>) {
        let arns: Vec<String> = tasks.iter().map(|t| t.arn.clone()).collect();
        judge(&arns, tasks, "app")
    }

    #[test]
    fn a_task_ecs_no_longer_describes_is_not_a_success() {
        let arns = vec![stopped("a", Some(0), None, None).arn, stopped("gone", Some(0), None, None).arn];
        let (ending, code, reason) = judge(&arns, &[stopped("a", Some(0), None, None)], "app");
        assert_eq!((ending, code), (RunEnding::NotRun, 5));
        assert_eq!(reason.as_deref(), Some("task gone: ECS no longer describes it, so its exit code is unknown"));
    }

    #[test]
    fn a_run_exits_with_the_first_failed_tasks_exit_code_or_5_when_it_never_ran() {
        assert_eq!(judged(&[stopped("a", Some(0), None, None), stopped("b", Some(0), None, None)]), (RunEnding::Succeeded, 0, None));
        let (ending, code, reason) = judged(&[stopped("a", Some(0), None, None), stopped("b", Some(3), None, None)]);
        assert_eq!((ending, code, reason.as_deref()), (RunEnding::Failed, 3, Some("task b: app exited 3")));
        let never = stopped("c", None, Some("TaskFailedToStart"), Some("CannotPullContainerError: app:9: not found"));
        let (ending, code, reason) = judged(&[never, stopped("d", Some(2), None, None)]);
        assert_eq!((ending, code), (RunEnding::NotRun, 5));
        assert_eq!(
            reason.as_deref(),
            Some("task c stopped without app exiting (TaskFailedToStart: CannotPullContainerError: app:9: not found)")
        );
        assert_eq!(NOT_RUN.code(), 5);
    }

    #[test]
    fn exit_codes_the_shell_would_wrap_do_not_read_as_success() {
        assert_eq!(process_exit_code(0), 0);
        assert_eq!(process_exit_code(3), 3);
        assert_eq!(process_exit_code(255), 255);
        assert_eq!(process_exit_code(256), 1);
        assert_eq!(process_exit_code(-1), 1);
        let (_, code, _) = judged(&[stopped("a", Some(512), None, None)]);
        assert_eq!(code, 1);
    }

    #[test]
    fn the_container_is_the_one_asked_for_else_ferry_tomls_when_essential_else_the_first_essential() {
        let td = json!({"containerDefinitions": [
            {"name": "envoy", "essential": false},
            {"name": "web"},
            {"name": "worker", "essential": true}
        ]});
        assert_eq!(choose_container(&td, Some("worker"), "web"), Ok("worker".into()));
        assert_eq!(choose_container(&td, Some("envoy"), "web"), Ok("envoy".into()), "asked for by name, essential or not");
        assert_eq!(choose_container(&td, None, "worker"), Ok("worker".into()));
        assert_eq!(choose_container(&td, None, "envoy"), Ok("web".into()), "not essential: the first essential one");
        assert_eq!(choose_container(&td, None, "gone"), Ok("web".into()));
        let wrong = choose_container(&td, Some("db"), "web").unwrap_err();
        assert_eq!(wrong, "--container db: the revision has no such container; its containers are envoy, web, worker");
        assert!(choose_container(&json!({}), None, "web").is_err());
    }

    #[test]
    fn the_run_id_fits_started_by_and_the_tasks_carry_the_runs_tags() {
        let id = project::new_id("ferry-run");
        assert!(id.len() <= 36 && id.starts_with("ferry-run-") && id.len() == "ferry-run-".len() + 12, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{id}");
        let tags = task_tags("prod", "web", &id, "alice@ci (runner #7)");
        let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ferry:env", "ferry:service", "ferry:run", "ferry:run-by"]);
        assert_eq!(tags[2].1, id);
        assert_eq!(tags[3].1, "alice@ci _runner _7_");
    }

    /// CloudWatch Logs with some streams: a request naming a stream it does not have fails
    /// with ResourceNotFoundException, as AWS's does.
    struct FakeLogs {
        streams: Vec<(&'static str, Vec<(i64, &'static str)>)>,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl FakeLogs {
        fn events_of(&self, wanted: impl Fn(&str) -> bool) -> Vec<ferry_core::platform::LogEvent> {
            let mut events: Vec<ferry_core::platform::LogEvent> = self
                .streams
                .iter()
                .filter(|(name, _)| wanted(name))
                .flat_map(|(name, events)| {
                    events.iter().map(move |(at, message)| ferry_core::platform::LogEvent {
                        timestamp: *at,
                        stream: name.to_string(),
                        message: message.to_string(),
                        id: format!("{name}-{at}"),
                    })
                })
                .collect();
            events.sort_by_key(|e| e.timestamp);
            events
        }
    }

    impl Logs for FakeLogs {
        async fn log_group_exists(&self, _group: &str) -> ferry_core::platform::PlatformResult<bool> {
            Ok(true)
        }
        async fn filter_log_events(
            &self,
            _group: &str,
            streams: &LogStreams,
            _start_ms: Option<i64>,
            _token: Option<&str>,
        ) -> ferry_core::platform::PlatformResult<ferry_core::platform::LogPage> {
            self.calls.lock().unwrap().push(format!("{streams:?}"));
            let events = match streams {
                LogStreams::All => self.events_of(|_| true),
                LogStreams::Prefix(prefix) => self.events_of(|name| name.starts_with(prefix.as_str())),
                LogStreams::Names(names) => {
                    if names.iter().any(|n| !self.streams.iter().any(|(name, _)| name == n)) {
                        let message = "The specified log stream does not exist.";
                        return Err(PlatformError::new("logs:FilterLogEvents", Some("ResourceNotFoundException".into()), message));
                    }
                    self.events_of(|name| names.iter().any(|n| n == name))
                }
            };
            Ok(ferry_core::platform::LogPage { events, next_token: None })
        }
    }

    #[tokio::test]
    async fn the_tasks_lines_are_read_though_one_of_their_streams_does_not_exist_yet() {
        let logs = FakeLogs {
            streams: vec![("jobs/app/a", vec![(1, "a1"), (3, "a2")]), ("jobs/app/b", vec![(2, "b1")])],
            calls: Default::default(),
        };
        let names = |list: &[&str]| LogStreams::Names(list.iter().map(|s| s.to_string()).collect());
        let mut seen = HashSet::new();
        let read = read_streams(&logs, "/ecs/jobs", &names(&["jobs/app/a", "jobs/app/b", "jobs/app/c"]), &mut seen).await.unwrap();
        let messages: Vec<&str> = read.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["a1", "b1", "a2"], "both tasks' lines, oldest first");
        assert_eq!(logs.calls.lock().unwrap().len(), 4, "the names once, then each stream apart");
        // Read again: nothing new, nothing twice.
        let again = read_streams(&logs, "/ecs/jobs", &names(&["jobs/app/a", "jobs/app/b", "jobs/app/c"]), &mut seen).await.unwrap();
        assert!(again.is_empty(), "{again:?}");
        // Every stream there: one call.
        logs.calls.lock().unwrap().clear();
        let both = read_streams(&logs, "/ecs/jobs", &names(&["jobs/app/a", "jobs/app/b"]), &mut HashSet::new()).await.unwrap();
        assert_eq!((both.len(), logs.calls.lock().unwrap().len()), (3, 1));
    }

    #[test]
    fn polling_is_quick_at_first_and_slower_for_long_tasks() {
        assert_eq!(poll_after(Duration::ZERO).0, Duration::from_millis(250));
        assert_eq!(poll_after(Duration::from_millis(2_900)).0, Duration::from_millis(250));
        assert_eq!(poll_after(Duration::from_secs(10)).0, Duration::from_millis(500));
        assert_eq!(poll_after(Duration::from_secs(30)).0, Duration::from_secs(1));
        assert_eq!(poll_after(Duration::from_secs(3_600)), (Duration::from_secs(2), Duration::MAX));
        // Each phase ends where the next begins.
        for waited in [0, 3, 15, 60] {
            let (_, until) = poll_after(Duration::from_secs(waited));
            assert!(until > Duration::from_secs(waited));
        }
    }
}
