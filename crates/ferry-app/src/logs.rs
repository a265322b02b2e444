//! A service's logs: what its tasks printed, read from CloudWatch Logs where ECS's `awslogs`
//! log driver writes it.
//!
//! Where to read comes from the task definition the service runs (its PRIMARY deployment's
//! revision, or with a task asked for, that task's own revision): each container whose
//! `logConfiguration.logDriver` is `awslogs` writes to the group `awslogs-group`, one stream
//! per task named `PREFIX/CONTAINER/TASK-ID` after its `awslogs-stream-prefix` (the ECS
//! developer guide, "Using the awslogs log driver"). A container that logs elsewhere (another
//! driver, or awslogs without a stream prefix, whose streams are named after Docker container
//! ids ECS does not report) cannot be read, and is said so, never silently left out.
//!
//! Events are read with FilterLogEvents (every page), one container at a time, and merged
//! oldest first. Following a service reads again from the newest timestamp seen; [`Seen`]
//! drops the events of that millisecond already shown, since those reads overlap.

use std::collections::HashSet;
use std::time::Duration;

use ferry_core::one_off::{read_new_events, task_id};
use ferry_core::platform::{Ecs, LogEvent, LogStreams, Logs};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::project::{self, Connected, Context};

/// Which service's logs, and which of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogsInput {
    pub environment: String,
    pub service: String,
    /// Only events at most this old (`ferry logs` asks for 10 minutes unless told).
    pub since: Duration,
    /// Only this task's streams: its id (`0f3e…`, or the start of it) or ARN.
    pub task: Option<String>,
    /// Only this container's [default: every container that logs with awslogs].
    pub container: Option<String>,
    /// Only the newest N events.
    pub limit: Option<usize>,
}

/// Where one container's awslogs driver writes: its group, and the prefix of its streams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogSource {
    /// The container's name in the task definition.
    pub container: String,
    /// `awslogs-group` (`/ecs/web`).
    pub group: String,
    /// `awslogs-stream-prefix` (`web`): the container's streams are `PREFIX/CONTAINER/TASK-ID`.
    pub stream_prefix: String,
}

impl LogSource {
    /// What each of this container's streams starts with: `PREFIX/CONTAINER/`.
    pub fn stream_start(&self) -> String {
        format!("{}/{}/", self.stream_prefix, self.container)
    }

    /// The streams to read: every task's of this container, or the task's whose id is or
    /// starts with `task_id`. A prefix, never a list of names: FilterLogEvents refuses a
    /// named stream that does not exist (ResourceNotFoundException), and a task that has not
    /// printed yet has none.
    pub fn streams(&self, task_id: Option<&str>) -> LogStreams {
        LogStreams::Prefix(format!("{}{}", self.stream_start(), task_id.unwrap_or_default()))
    }
}

/// A container whose output ferry cannot read, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub container: String,
    /// Said after the container's name: "uses the json-file log driver; ferry logs reads
    /// CloudWatch Logs (awslogs) only".
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.container, self.reason)
    }
}

/// One container of a task definition, as `ferry logs` sees it: where it logs, or why
/// ferry cannot read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLogs {
    pub container: String,
    pub source: std::result::Result<LogSource, Unreadable>,
}

/// Where each container of `definition` (native ECS JSON, `containerDefinitions`) logs, in
/// the definition's order. `region` is the environment's: a container whose `awslogs-region`
/// names another cannot be read there (empty: not checked).
pub fn container_logs(definition: &Value, region: &str) -> Vec<ContainerLogs> {
    let containers = definition.get("containerDefinitions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(|name| (name, c)))
        .map(|(name, c)| ContainerLogs { container: name.to_string(), source: source_of(name, c, region) })
        .collect()
}

/// Where the container `c` named `name` logs.
fn source_of(name: &str, c: &Value, region: &str) -> std::result::Result<LogSource, Unreadable> {
    let unreadable = |reason: String| Unreadable { container: name.to_string(), reason };
    const ONLY: &str = "ferry logs reads CloudWatch Logs (awslogs) only";
    let Some(config) = c.get("logConfiguration").filter(|v| !v.is_null()) else {
        return Err(unreadable(format!(
            "has no logConfiguration, so its output stays with the container runtime on its host (Docker's default json-file driver); {ONLY}"
        )));
    };
    let driver = config.get("logDriver").and_then(Value::as_str).unwrap_or("(none)");
    if driver != "awslogs" {
        return Err(unreadable(format!("uses the {driver} log driver; {ONLY}")));
    }
    let option = |key: &str| config.get("options").and_then(|o| o.get(key)).and_then(Value::as_str).filter(|s| !s.is_empty());
    let Some(group) = option("awslogs-group") else {
        return Err(unreadable("uses the awslogs driver without awslogs-group, so ferry cannot tell which log group it writes to".into()));
    };
    let Some(prefix) = option("awslogs-stream-prefix") else {
        return Err(unreadable(format!(
            "uses the awslogs driver without awslogs-stream-prefix: its streams in {group} are named after Docker container ids, which ECS does not report, so ferry cannot tell which task wrote what (set awslogs-stream-prefix in its logConfiguration.options)"
        )));
    };
    if let Some(other) = option("awslogs-region").filter(|r| !region.is_empty() && *r != region) {
        return Err(unreadable(format!(
            "sends its logs to {other} (awslogs-region), and ferry reads CloudWatch Logs in the environment's region {region}"
        )));
    }
    Ok(LogSource { container: name.to_string(), group: group.to_string(), stream_prefix: prefix.to_string() })
}

/// The containers to read: `container` alone, or every container that can be read. `what`
/// names the revision in errors (`web in prod (web:12)`). Also returns the containers left
/// out because they cannot be read (only when no container was asked for).
///
/// Errors: `container` is not in the revision (invalid input, exit 2, naming its
/// containers); `container` cannot be read, or no container can (refused, exit 4, saying why).
pub fn pick(containers: Vec<ContainerLogs>, container: Option<&str>, what: &str) -> Result<(Vec<LogSource>, Vec<Unreadable>)> {
    if let Some(wanted) = container {
        let names: Vec<&str> = containers.iter().map(|c| c.container.as_str()).collect();
        return match containers.iter().find(|c| c.container == wanted) {
            Some(ContainerLogs { source: Ok(source), .. }) => Ok((vec![source.clone()], Vec::new())),
            Some(ContainerLogs { source: Err(why), .. }) => Err(Error::refused(format!("{what}: {why}"))),
            None => Err(Error::input(format!("{what} has no container {wanted:?}; its containers: {}", names.join(", ")))),
        };
    }
    let (sources, unreadable): (Vec<_>, Vec<_>) = containers.into_iter().map(|c| c.source).partition(std::result::Result::is_ok);
    let sources: Vec<LogSource> = sources.into_iter().filter_map(std::result::Result::ok).collect();
    let unreadable: Vec<Unreadable> = unreadable.into_iter().filter_map(std::result::Result::err).collect();
    if sources.is_empty() {
        let why = if unreadable.is_empty() {
            "it has no containers".to_string()
        } else {
            unreadable.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        };
        return Err(Error::refused(format!("{what}: no container's logs can be read from CloudWatch Logs: {why}")));
    }
    Ok((sources, unreadable))
}

/// The parts of a stream the awslogs driver named for an ECS task: `PREFIX/CONTAINER/TASK-ID`
/// (the prefix may hold `/` itself; a container name or task id cannot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamName<'a> {
    pub prefix: &'a str,
    pub container: &'a str,
    pub task_id: &'a str,
}

/// `PREFIX/CONTAINER/TASK-ID` taken apart; None for a stream not named that way (every part
/// non-empty).
pub fn parse_stream(name: &str) -> Option<StreamName<'_>> {
    let mut parts = name.rsplitn(3, '/');
    let task_id = parts.next().filter(|s| !s.is_empty())?;
    let container = parts.next().filter(|s| !s.is_empty())?;
    let prefix = parts.next().filter(|s| !s.is_empty())?;
    Some(StreamName { prefix, container, task_id })
}

/// One event a task printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// When the driver read it, epoch milliseconds.
    pub timestamp: i64,
    /// The task's id, from the stream's name (the whole stream name when it is not
    /// `PREFIX/CONTAINER/TASK-ID`).
    pub task_id: String,
    pub container: String,
    pub group: String,
    pub stream: String,
    pub message: String,
    /// CloudWatch's id of the event, unique in its group.
    pub id: String,
}

impl LogLine {
    /// `event` of `source`'s group, with the task and container its stream names.
    pub fn of(source: &LogSource, event: LogEvent) -> LogLine {
        let (task_id, container) = match parse_stream(&event.stream) {
            Some(name) if name.prefix == source.stream_prefix => (name.task_id.to_string(), name.container.to_string()),
            _ => (event.stream.clone(), source.container.clone()),
        };
        LogLine {
            timestamp: event.timestamp,
            task_id,
            container,
            group: source.group.clone(),
            stream: event.stream,
            message: event.message,
            id: event.id,
        }
    }
}

/// The newest `limit` of `lines` (oldest first), still oldest first.
pub fn newest(mut lines: Vec<LogLine>, limit: Option<usize>) -> Vec<LogLine> {
    if let Some(limit) = limit {
        let skip = lines.len().saturating_sub(limit);
        lines.drain(..skip);
    }
    lines
}

/// What a follower has shown: the newest timestamp, and the events of that millisecond
/// (by group and id). A read from that timestamp on returns them again; older ones it never
/// returns, so they need not be kept.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    newest_ms: Option<i64>,
    at_newest: HashSet<(String, String)>,
}

impl Seen {
    /// Where the next read starts: the newest timestamp shown, or `from_ms` before anything
    /// was (epoch ms).
    pub fn next_start(&self, from_ms: i64) -> i64 {
        self.newest_ms.map_or(from_ms, |newest| newest.max(from_ms))
    }

    /// Of `lines`, those not shown yet, oldest first; they count as shown from now on. Lines
    /// older than the newest shown are dropped (a read from [`Seen::next_start`] returns
    /// none).
    pub fn fresh(&mut self, mut lines: Vec<LogLine>) -> Vec<LogLine> {
        lines.sort_by_key(|l| l.timestamp);
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let key = (line.group.clone(), line.id.clone());
            match self.newest_ms {
                Some(newest) if line.timestamp < newest => continue,
                Some(newest) if line.timestamp == newest => {
                    if !self.at_newest.insert(key) {
                        continue;
                    }
                }
                _ => {
                    self.newest_ms = Some(line.timestamp);
                    self.at_newest.clear();
                    self.at_newest.insert(key);
                }
            }
            out.push(line);
        }
        out
    }
}

/// A service whose logs can be read again and again (`--follow`).
pub struct LogsReader {
    connected: Connected,
    pub environment: String,
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    /// The revision whose containers' log configuration is read (its ARN).
    pub task_definition: String,
    /// The containers read.
    pub sources: Vec<LogSource>,
    /// The containers left out because ferry cannot read them.
    pub skipped: Vec<Unreadable>,
    /// The task asked for (its id); None for every task.
    pub task_id: Option<String>,
}

impl LogsReader {
    /// Finds where the service's containers log: DescribeServices (the PRIMARY deployment's
    /// revision), with `task` asked for DescribeTasks (that task's revision, when ECS still
    /// describes it), then DescribeTaskDefinition.
    ///
    /// Errors: an unknown environment or service, an empty task id, or a container the
    /// revision does not have (invalid input, exit 2); no such ECS service, or nothing that
    /// can be read (refused, exit 4, saying which container logs where); AWS (exit 3).
    pub async fn open(
        ctx: &Context<'_>,
        environment: &str,
        service: &str,
        container: Option<&str>,
        task: Option<&str>,
    ) -> Result<LogsReader> {
        let config = project::load_config(ctx.project)?;
        let env = config.environment(environment).map_err(Error::config)?;
        config.service(service).map_err(Error::config)?;
        let ecs_service = config.ecs_service_name(environment, service).map_err(Error::config)?;
        let task_id = match task.map(str::trim) {
            Some(given) => {
                let id = self::task_id(given);
                if id.is_empty() || id.contains(char::is_whitespace) {
                    return Err(Error::input(format!("--task {given:?} is not a task: give its id or ARN (e.g. 0f3e9a…)")));
                }
                Some(id.to_string())
            }
            None => None,
        };
        let connected = project::connect(&config, environment, ctx.project.endpoint_url.as_deref()).await?;
        let cluster = env.cluster.clone();
        let found = connected.ecs.describe_services(&cluster, std::slice::from_ref(&ecs_service)).await?;
        let Some(info) = found.into_iter().find(|s| s.name == ecs_service) else {
            return Err(Error::refused(format!(
                "{service} in {environment}: no service {ecs_service} in cluster {cluster} ({})",
                connected.endpoint.as_deref().unwrap_or(&connected.region)
            )));
        };
        let mut revision = info.primary().map_or_else(|| info.task_definition.clone(), |d| d.task_definition.clone());
        if let Some(id) = &task_id {
            // A task of an earlier revision (during a deploy, or stopped since) logs where
            // that revision says. Best effort: a task ECS no longer describes, or the start of
            // an id, is read where the service's revision says.
            match connected.ecs.describe_tasks(&cluster, std::slice::from_ref(id)).await {
                Ok(tasks) => {
                    if let Some(found) = tasks.into_iter().find(|t| self::task_id(&t.arn) == id && !t.task_definition.is_empty()) {
                        revision = found.task_definition;
                    }
                }
                Err(e) => tracing::debug!("task {id} not described ({e}); reading where the service's revision logs"),
            }
        }
        let definition = connected.ecs.describe_task_definition(&revision).await?;
        let what = format!("{service} in {environment} ({}:{})", definition.family, definition.revision);
        let (sources, skipped) = pick(container_logs(&definition.definition, &connected.region), container, &what)?;
        Ok(LogsReader {
            connected,
            environment: environment.to_string(),
            service: service.to_string(),
            cluster,
            ecs_service,
            task_definition: definition.arn,
            sources,
            skipped,
            task_id,
        })
    }

    /// Every event at or after `from_ms` (epoch ms) of the containers read (of the task
    /// asked for, or of every task), oldest first: FilterLogEvents, every page (at most 100
    /// per container), per container. A log group that does not exist (yet: the awslogs
    /// driver's `awslogs-create-group` makes it when a task first starts) has no events and
    /// is named in [`LogRead::missing_groups`]. Errors: AWS (exit 3).
    pub async fn read(&self, from_ms: i64) -> Result<LogRead> {
        read_sources(&self.connected.logs, &self.sources, self.task_id.as_deref(), from_ms).await
    }
}

/// [`LogsReader::read`] over any [`Logs`]: each source's events at or after `from_ms`, every
/// page, merged oldest first; a group that does not exist named in `missing_groups`.
pub async fn read_sources<G: Logs>(logs: &G, sources: &[LogSource], task_id: Option<&str>, from_ms: i64) -> Result<LogRead> {
    let mut read = LogRead::default();
    for source in sources {
        let streams = source.streams(task_id);
        match read_new_events(logs, &source.group, &streams, Some(from_ms), &mut HashSet::new()).await {
            Ok(events) => read.lines.extend(events.into_iter().map(|e| LogLine::of(source, e))),
            Err(e) if e.code.as_deref() == Some("ResourceNotFoundException") => {
                if !read.missing_groups.contains(&source.group) {
                    read.missing_groups.push(source.group.clone());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Stable: the events of one container and millisecond keep CloudWatch's order.
    read.lines.sort_by_key(|l| l.timestamp);
    Ok(read)
}

/// What one [`LogsReader::read`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogRead {
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// The log groups of the containers read that do not exist.
    pub missing_groups: Vec<String>,
}

/// The logs read once.
#[derive(Clone, Debug, Serialize)]
pub struct LogsResult {
    pub environment: String,
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    pub task_definition: String,
    pub sources: Vec<LogSource>,
    pub skipped: Vec<Unreadable>,
    pub task_id: Option<String>,
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// The log groups of the containers read that do not exist.
    pub missing_groups: Vec<String>,
}

/// Reads the service's logs once, as asked.
pub async fn logs(ctx: &Context<'_>, input: LogsInput) -> Result<LogsResult> {
    let reader = LogsReader::open(ctx, &input.environment, &input.service, input.container.as_deref(), input.task.as_deref()).await?;
    let from_ms = crate::journal::now_ms() - i64::try_from(input.since.as_millis()).unwrap_or(i64::MAX);
    let read = reader.read(from_ms).await?;
    let lines = newest(read.lines, input.limit);
    Ok(LogsResult {
        environment: reader.environment,
        service: reader.service,
        cluster: reader.cluster,
        ecs_service: reader.ecs_service,
        task_definition: reader.task_definition,
        sources: reader.sources,
        skipped: reader.skipped,
        task_id: reader.task_id,
        lines,
        missing_groups: read.missing_groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::platform::{LogPage, PlatformError, PlatformResult};
    use serde_json::json;

    fn definition() -> Value {
        json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web", "awslogs-region": "eu-west-1"}}},
            {"name": "envoy", "logConfiguration": {"logDriver": "json-file"}},
            {"name": "noprefix", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}}},
            {"name": "plain"},
            {"name": "elsewhere", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web", "awslogs-region": "us-east-1"}}},
            {"name": "worker", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/worker", "awslogs-stream-prefix": "batch/jobs"}}}
        ]})
    }

    fn app() -> LogSource {
        LogSource { container: "app".into(), group: "/ecs/web".into(), stream_prefix: "web".into() }
    }

    #[test]
    fn each_container_logs_to_its_awslogs_group_or_says_why_ferry_cannot_read_it() {
        let found = container_logs(&definition(), "eu-west-1");
        let names: Vec<&str> = found.iter().map(|c| c.container.as_str()).collect();
        assert_eq!(names, ["app", "envoy", "noprefix", "plain", "elsewhere", "worker"]);
        assert_eq!(found[0].source, Ok(app()));
        let why = |i: usize| found[i].source.clone().unwrap_err().to_string();
        assert_eq!(why(1), "envoy uses the json-file log driver; ferry logs reads CloudWatch Logs (awslogs) only");
        assert!(why(2).starts_with("noprefix uses the awslogs driver without awslogs-stream-prefix"), "{}", why(2));
        assert!(why(3).starts_with("plain has no logConfiguration"), "{}", why(3));
        assert!(why(4).contains("us-east-1 (awslogs-region)") && why(4).contains("region eu-west-1"), "{}", why(4));
        assert_eq!(
            found[5].source,
            Ok(LogSource { container: "worker".into(), group: "/ecs/worker".into(), stream_prefix: "batch/jobs".into() })
        );
    }

    #[test]
    fn every_readable_container_by_default_and_the_others_named() {
        let (sources, skipped) = pick(container_logs(&definition(), "eu-west-1"), None, "web in prod (web:3)").unwrap();
        assert_eq!(sources.iter().map(|s| s.container.as_str()).collect::<Vec<_>>(), ["app", "worker"]);
        assert_eq!(skipped.iter().map(|s| s.container.as_str()).collect::<Vec<_>>(), ["envoy", "noprefix", "plain", "elsewhere"]);
    }

    #[test]
    fn a_container_asked_for_is_read_alone_or_refused_saying_why() {
        let containers = || container_logs(&definition(), "eu-west-1");
        let (sources, skipped) = pick(containers(), Some("app"), "web in prod (web:3)").unwrap();
        assert_eq!((sources, skipped), (vec![app()], vec![]));

        let refused = pick(containers(), Some("envoy"), "web in prod (web:3)").unwrap_err();
        assert_eq!(refused.kind(), ferry_core::ExitKind::PreflightRefused);
        assert_eq!(
            refused.to_string(),
            "web in prod (web:3): envoy uses the json-file log driver; ferry logs reads CloudWatch Logs (awslogs) only"
        );

        let unknown = pick(containers(), Some("db"), "web in prod (web:3)").unwrap_err();
        assert_eq!(unknown.kind(), ferry_core::ExitKind::InvalidInput);
        assert_eq!(
            unknown.to_string(),
            "web in prod (web:3) has no container \"db\"; its containers: app, envoy, noprefix, plain, elsewhere, worker"
        );
    }

    #[test]
    fn nothing_readable_is_refused_naming_each_container_and_its_driver() {
        let definition = json!({"containerDefinitions": [
            {"name": "web", "logConfiguration": {"logDriver": "json-file"}},
            {"name": "sidecar", "logConfiguration": {"logDriver": "awsfirelens", "options": {}}}
        ]});
        let refused = pick(container_logs(&definition, "eu-west-1"), None, "web in prod (web:3)").unwrap_err();
        assert_eq!(refused.kind(), ferry_core::ExitKind::PreflightRefused);
        assert_eq!(
            refused.to_string(),
            "web in prod (web:3): no container's logs can be read from CloudWatch Logs: web uses the json-file log driver; ferry logs reads CloudWatch Logs (awslogs) only; sidecar uses the awsfirelens log driver; ferry logs reads CloudWatch Logs (awslogs) only"
        );
    }

    #[test]
    fn a_stream_is_prefix_container_task_id_and_the_prefix_may_hold_slashes() {
        assert_eq!(parse_stream("web/app/0f3e9a"), Some(StreamName { prefix: "web", container: "app", task_id: "0f3e9a" }));
        assert_eq!(parse_stream("batch/jobs/worker/77aa"), Some(StreamName { prefix: "batch/jobs", container: "worker", task_id: "77aa" }));
        assert_eq!(parse_stream("app/0f3e9a"), None);
        assert_eq!(parse_stream("web//0f3e9a"), None);
        assert_eq!(parse_stream("web/app/"), None);
        assert_eq!(parse_stream("0123456789abcdef"), None);
    }

    #[test]
    fn a_line_names_its_task_and_container_from_the_stream() {
        let event = |stream: &str| LogEvent { timestamp: 5, stream: stream.into(), message: "hello".into(), id: "e1".into() };
        let line = LogLine::of(&app(), event("web/app/0f3e9a"));
        assert_eq!((line.task_id.as_str(), line.container.as_str(), line.group.as_str()), ("0f3e9a", "app", "/ecs/web"));
        // A stream named some other way is shown whole, under the container read.
        let line = LogLine::of(&app(), event("something-else"));
        assert_eq!((line.task_id.as_str(), line.container.as_str()), ("something-else", "app"));
    }

    #[test]
    fn a_task_reads_its_own_stream_and_no_task_every_stream_of_the_container() {
        assert_eq!(app().streams(Some("0f3e9a")), LogStreams::Prefix("web/app/0f3e9a".into()));
        assert_eq!(app().streams(None), LogStreams::Prefix("web/app/".into()));
    }

    fn line(id: &str, at: i64) -> LogLine {
        LogLine {
            timestamp: at,
            task_id: "t".into(),
            container: "app".into(),
            group: "/ecs/web".into(),
            stream: "web/app/t".into(),
            message: format!("line {id}"),
            id: id.into(),
        }
    }

    fn ids(lines: Vec<LogLine>) -> Vec<String> {
        lines.into_iter().map(|l| l.id).collect()
    }

    #[test]
    fn following_shows_each_event_once_though_reads_from_the_newest_timestamp_overlap() {
        let mut seen = Seen::default();
        assert_eq!(seen.next_start(1_000), 1_000);
        assert_eq!(ids(seen.fresh(vec![line("a", 1_000), line("b", 1_200), line("c", 1_200)])), ["a", "b", "c"]);
        assert_eq!(seen.next_start(1_000), 1_200);
        // The next read starts at 1200: b and c again, and d printed in the same millisecond.
        assert_eq!(ids(seen.fresh(vec![line("b", 1_200), line("c", 1_200), line("d", 1_200)])), ["d"]);
        // Nothing new.
        assert!(seen.fresh(vec![line("b", 1_200), line("c", 1_200), line("d", 1_200)]).is_empty());
        // Newer events; the ones of 1200 are forgotten, since a read from 1300 never returns them.
        assert_eq!(ids(seen.fresh(vec![line("d", 1_200), line("e", 1_300)])), ["e"]);
        assert_eq!(seen.next_start(1_000), 1_300);
        assert_eq!(seen.at_newest.len(), 1);
    }

    #[test]
    fn the_same_id_in_another_group_is_another_event() {
        let mut seen = Seen::default();
        seen.fresh(vec![line("a", 1_000)]);
        let mut other = line("a", 1_000);
        other.group = "/ecs/worker".into();
        assert_eq!(seen.fresh(vec![other]).len(), 1);
    }

    /// CloudWatch Logs in memory: events per group, FilterLogEvents by stream prefix from a
    /// start time, two events a page (the token is the next index), a missing group refused
    /// as AWS does.
    struct FakeLogs {
        groups: Vec<(&'static str, Vec<LogEvent>)>,
    }

    impl Logs for FakeLogs {
        async fn log_group_exists(&self, group: &str) -> PlatformResult<bool> {
            Ok(self.groups.iter().any(|(g, _)| *g == group))
        }

        async fn filter_log_events(
            &self,
            group: &str,
            streams: &LogStreams,
            start_ms: Option<i64>,
            token: Option<&str>,
        ) -> PlatformResult<LogPage> {
            let Some((_, events)) = self.groups.iter().find(|(g, _)| *g == group) else {
                let message = "ResourceNotFoundException: The specified log group does not exist.";
                return Err(PlatformError::new("logs:FilterLogEvents", Some("ResourceNotFoundException".into()), message));
            };
            let prefix = match streams {
                LogStreams::Prefix(p) => p.as_str(),
                other => panic!("ferry logs reads by prefix, not {other:?}"),
            };
            let matching: Vec<LogEvent> =
                events.iter().filter(|e| e.stream.starts_with(prefix) && e.timestamp >= start_ms.unwrap_or(0)).cloned().collect();
            let from: usize = token.map_or(0, |t| t.parse().unwrap());
            let next = (from + 2 < matching.len()).then(|| (from + 2).to_string());
            Ok(LogPage { events: matching.into_iter().skip(from).take(2).collect(), next_token: next })
        }
    }

    fn event(stream: &str, at: i64, id: &str) -> LogEvent {
        LogEvent { timestamp: at, stream: stream.into(), message: format!("{stream} {at}"), id: id.into() }
    }

    fn fake() -> FakeLogs {
        FakeLogs {
            groups: vec![
                (
                    "/ecs/web",
                    vec![
                        event("web/app/t1", 100, "a1"),
                        event("web/app/t2", 150, "a2"),
                        event("web/app/t1", 300, "a3"),
                        event("web/app/t2", 400, "a4"),
                        event("web/app/t1", 500, "a5"),
                        event("other/app/t9", 200, "x1"),
                    ],
                ),
                ("/ecs/sidecar", vec![event("web/envoy/t1", 120, "e1"), event("web/envoy/t2", 450, "e2")]),
            ],
        }
    }

    fn envoy(group: &str) -> LogSource {
        LogSource { container: "envoy".into(), group: group.into(), stream_prefix: "web".into() }
    }

    #[tokio::test]
    async fn every_page_of_every_container_merged_oldest_first() {
        let read = read_sources(&fake(), &[app(), envoy("/ecs/sidecar")], None, 0).await.unwrap();
        let seen: Vec<(String, String, i64)> = read.lines.iter().map(|l| (l.task_id.clone(), l.container.clone(), l.timestamp)).collect();
        let expected = [
            ("t1", "app", 100),
            ("t1", "envoy", 120),
            ("t2", "app", 150),
            ("t1", "app", 300),
            ("t2", "app", 400),
            ("t2", "envoy", 450),
            ("t1", "app", 500),
        ];
        let expected: Vec<(String, String, i64)> = expected.iter().map(|(t, c, at)| (t.to_string(), c.to_string(), *at)).collect();
        assert_eq!(seen, expected, "another prefix's stream (other/app/t9) stays out");
        assert!(read.missing_groups.is_empty());
    }

    #[tokio::test]
    async fn a_task_and_a_start_time_narrow_the_read() {
        let read = read_sources(&fake(), &[app(), envoy("/ecs/sidecar")], Some("t2"), 200).await.unwrap();
        assert_eq!(ids(read.lines), ["a4", "e2"]);
    }

    #[tokio::test]
    async fn a_missing_group_is_named_and_the_others_still_read() {
        let read = read_sources(&fake(), &[envoy("/ecs/nothing"), app()], None, 0).await.unwrap();
        assert_eq!(read.missing_groups, ["/ecs/nothing"]);
        assert_eq!(read.lines.len(), 5);
    }

    #[test]
    fn limit_keeps_the_newest_lines_oldest_first() {
        let all = vec![line("a", 1), line("b", 2), line("c", 3)];
        assert_eq!(ids(newest(all.clone(), Some(2))), ["b", "c"]);
        assert_eq!(ids(newest(all.clone(), None)), ["a", "b", "c"]);
        assert_eq!(ids(newest(all, Some(10))), ["a", "b", "c"]);
    }
}
