//! A deploy run: one or more services of one environment, each taken through preflight,
//! lock, register, one UpdateService, watch, and rollback on failure.
//!
//! Services move in parallel but are watched by one loop, so that the whole run shares one
//! API budget: services of a cluster are described together (10 per DescribeServices call,
//! the API's limit), each polled on its own adaptive schedule, coalesced when close.
//!
//! Everything that happens is told to an [`Observer`] (the terminal, JSON lines, the
//! ledger), and each service ends with a [`ServiceReport`]: what was deployed, from what,
//! and how it ended.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};

use crate::ExitKind;
use crate::config::Strategy;
use crate::journal::{self, Facts, Interrupted, JournalError, StepState, kill_point, names};
use crate::platform::{
    Clock, ClusterInfo, Ecs, PlatformError, Registry, ServiceEvent, ServiceInfo, StoppedTask, TaskDefinitionInfo, TaskHealth,
};
use crate::rolling::{Assessment, FailureCause, Progress, Watch, poll_interval, short_task_definition, stop_reason};
use crate::strategy::{self, Desired, Observed, Step};
use crate::taskdef::{self, Change};
use crate::template::{self, Variables};

/// At most this many services are preflighted, or started, at once: enough to overlap the
/// calls' latency, few enough to stay inside ECS's request-rate budget.
pub const MAX_PARALLEL: usize = 8;
/// Looks that fall due within this window are made together, to batch DescribeServices.
const COALESCE_MS: i64 = 300;
/// Consecutive failed observations (after the SDK's own retries) before giving up on a watch.
const MAX_OBSERVATION_ERRORS: u32 = 5;

/// How often ferry looks at a baking deployment (ECS relaunches a crashed task within
/// seconds; its failedTasks counter tells).
const BAKE_POLL_MS: i64 = 2_000;

/// How long ferry waits for ECS's circuit breaker to start the rollback it promised
/// before rolling back itself. ECS creates the rollback deployment as it fails ours; when
/// it cannot (no deployment ever COMPLETED to return to), none ever appears, and waiting
/// out the whole timeout would leave the failed revision in place for nothing.
const ECS_ROLLBACK_GRACE_MS: i64 = 15_000;

/// How often the new tasks' health is read for someone watching: health checks run every
/// 5 to 300 s (30 s by default), so reading more often would show nothing new.
const HEALTH_INTERVAL_MS: i64 = 2_000;

/// How long a call made after the deadline has passed may take: one last look before the
/// deploy is given up on (an endpoint that answers is not cut off mid-answer).
const LATE_CALL_MS: i64 = 2_000;

/// Where the new task definition comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A rendered template: its name (for errors) and text.
    Template { name: String, text: String },
    /// The running revision with the container's image swapped.
    Live,
    /// An existing revision (rollback): no image to resolve, nothing to register.
    Revision(String),
}

/// Who is deploying and from what code, carried into tags and the ledger.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trace {
    /// ferry's id for this deployment (`fd-...`).
    pub deployment_id: String,
    pub who: String,
    pub commit: Option<String>,
    pub commit_message: Option<String>,
}

/// One service to deploy in a run.
#[derive(Clone, Debug)]
pub struct Request {
    pub environment: String,
    /// ferry's name of the service.
    pub service: String,
    pub ecs_service: String,
    pub cluster: String,
    /// The version (image tag) to deploy; for a rollback, the version being restored.
    pub version: Option<String>,
    /// The ECR repository name.
    pub repository: String,
    pub container: String,
    pub source: Source,
    /// Template variables known before the image is resolved (environment, vars, ...).
    pub variables: Variables,
    pub pin_digest: bool,
    /// How long the deployment may take before ferry rolls it back.
    pub timeout: Duration,
    /// How long the rollback may take, counted from its start (its own clock).
    pub rollback_timeout: Duration,
    /// How long to keep watching after ECS reports our deployment COMPLETED (zero: no
    /// bake): a new task that fails in it fails the deploy, which is rolled back.
    pub bake: Duration,
    pub max_task_failures: u32,
    pub trace: Trace,
    /// "deploy", "rollback" or "promote".
    pub kind: &'static str,
    /// Deploy exactly this digest (a promotion ships what was tested, not what a tag says now).
    pub digest: Option<String>,
    pub strategy: Strategy,
    /// The environment's registry tag: moved to the new digest after a rolling deploy
    /// succeeds; what the env-tag strategy moves before it forces a new deployment.
    pub image_tag: Option<String>,
    /// Who holds the service's lock, when not this deployment: the undo of an atomic
    /// promotion runs under the promotion's lock, so nothing can slip in between.
    pub lock_owner: Option<String>,
}

impl Request {
    pub(crate) fn lock_id(&self) -> &str {
        self.lock_owner.as_deref().unwrap_or(&self.trace.deployment_id)
    }
}

impl Request {
    /// What is wrong with the version, when it cannot be an image tag.
    fn version_error(&self) -> Option<String> {
        match (&self.version, &self.source) {
            (Some(version), Source::Template { .. } | Source::Live) => crate::check_version(version).err().map(String::from),
            _ => None,
        }
    }
}

/// How a service's deploy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Preflight passed; nothing was changed (dry run).
    Planned,
    Succeeded,
    /// Refused before anything changed.
    Refused,
    /// Another deploy holds the lock.
    LockHeld,
    /// Failed; the service runs its previous revision again.
    FailedRolledBack,
    /// Failed, and the rollback did not complete: the service needs a person.
    RollbackFailed,
    /// A platform call failed; nothing, or only a harmless new revision, was changed.
    Error,
}

impl Outcome {
    pub fn exit_kind(self) -> ExitKind {
        match self {
            Outcome::Planned | Outcome::Succeeded => ExitKind::Ok,
            Outcome::Refused => ExitKind::PreflightRefused,
            Outcome::LockHeld => ExitKind::LockHeld,
            Outcome::FailedRolledBack => ExitKind::FailedRolledBack,
            Outcome::RollbackFailed => ExitKind::RollbackFailed,
            Outcome::Error => ExitKind::Platform,
        }
    }
}

/// Everything known about one service's deploy, as it ends (and as the ledger records it).
#[derive(Clone, Debug, Serialize)]
pub struct ServiceReport {
    pub deployment_id: String,
    pub kind: &'static str,
    pub environment: String,
    pub service: String,
    pub ecs_service: String,
    pub cluster: String,
    pub from_version: Option<String>,
    pub from_digest: Option<String>,
    pub from_task_definition: Option<String>,
    pub to_version: Option<String>,
    pub to_digest: Option<String>,
    pub to_task_definition: Option<String>,
    pub image: Option<String>,
    /// The ECS deployment (`ecs-svc/...`) ferry started and watched.
    pub ecs_deployment_id: Option<String>,
    /// The ECS deployment that rolled it back, when there was one.
    pub rollback_deployment_id: Option<String>,
    pub who: String,
    pub commit: Option<String>,
    pub commit_message: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Outcome,
    pub cause: Option<FailureCause>,
    pub reason: Option<String>,
    /// The task definition changes against what runs (normalized).
    pub changes: Vec<Change>,
    /// Running/desired at the end.
    pub running: i32,
    pub desired: i32,
    /// Set when the refusal was the user's input (template, version) rather than the platform's state.
    #[serde(skip)]
    pub invalid_input: bool,
    /// The strategy that ran it (`rolling`, `env-tag`).
    pub strategy: &'static str,
    /// Set when this run finished a deployment a dead run had started (the deployment id
    /// is then the dead run's): the step it had stopped at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<String>,
}

impl ServiceReport {
    pub fn exit_kind(&self) -> ExitKind {
        if self.outcome == Outcome::Refused && self.invalid_input {
            return ExitKind::InvalidInput;
        }
        if self.outcome == Outcome::Error && self.cause == Some(FailureCause::Ledger) {
            return ExitKind::Ledger;
        }
        self.outcome.exit_kind()
    }
}

/// The steps of a deploy, as they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Preflight,
    Locked,
    Registered,
    Updated,
    /// Our deployment is COMPLETED; ferry watches the new tasks for the bake period.
    Baking,
    RollingBack,
    Done,
}

/// Something that happened during a run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step completed (or started, for rolling back): which, and its data (the printer
    /// words it; JSON consumers read the fields).
    Phase {
        service: String,
        phase: Phase,
        #[serde(flatten)]
        detail: Detail,
    },
    /// The rollout moved.
    Progress { service: String, rolling_back: bool, progress: Progress },
    /// A service event from ECS.
    EcsEvent { service: String, created_at: i64, message: String },
    /// A task of the watched deployment stopped.
    TaskStopped { service: String, task: String, reason: String },
    /// A service finished.
    Finished { service: String, outcome: Outcome, reason: Option<String> },
}

impl Event {
    pub fn service(&self) -> &str {
        match self {
            Event::Phase { service, .. }
            | Event::Progress { service, .. }
            | Event::EcsEvent { service, .. }
            | Event::TaskStopped { service, .. }
            | Event::Finished { service, .. } => service,
        }
    }
}

/// What a [`Event::Phase`] says happened, as data. Serialized flat into the event, tagged
/// `what` (`{"event": "phase", "phase": "registered", "what": "registered",
/// "task_definition": "arn:..."}`). ARNs and digests are whole; the printer shortens them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Detail {
    /// Preflight passed for a new revision: from the running version to this image.
    PreflightNewRevision { from_version: Option<String>, image: Option<String>, changes: usize },
    /// Preflight passed for a rollback to an existing revision (ARNs).
    PreflightRevision { from_task_definition: Option<String>, to_task_definition: String },
    /// Preflight passed for env-tag: the tag will move from one digest to another, then a
    /// new deployment of the running revision is forced.
    PreflightTagMove { from_version: Option<String>, to_version: Option<String>, repository: String, tag: String, from: String, to: String },
    /// The template renders something ECS ignores or will refuse (read-only members).
    TemplateWarning { template: String, warning: String },
    /// The service's lock is this deployment's (`deployment_id`); `resumed_at` is the step a
    /// dead run of it stopped at, `superseded` a dead run's deployment of another target
    /// that is closed as interrupted.
    Locked { environment: String, deployment_id: String, resumed_at: Option<String>, superseded: Option<Superseded> },
    /// The lock was taken over from a holder that is gone.
    LockTakenOver { previous: TakenOver },
    /// A renewal of the lock's lease failed (the deploy carries on; the lease is long).
    LockNotRenewed { error: String },
    /// env-tag: the environment's tag was moved (digests).
    TagMoved { repository: String, tag: String, from: String, to: String },
    /// The new revision is registered (ARN).
    Registered { task_definition: String },
    /// UpdateService made (or, `resumed`, a dead run's found): the ECS deployment watched.
    Updated { ecs_service: String, task_definition: String, ecs_deployment_id: Option<String>, resumed: bool },
    /// Our deployment COMPLETED; the new tasks are watched for `bake_ms` milliseconds.
    Baking { ecs_deployment_id: Option<String>, bake_ms: u64 },
    /// The deployment failed (`reason`) and is being rolled back to `to_task_definition`.
    RollingBack { reason: String, to_task_definition: String, method: RollbackMethod },
    /// env-tag: the tag is back on the digest it named before.
    TagRestored { repository: String, tag: String, to: String },
    /// After a rolling deploy: the environment's tag now names the deployed digest.
    EnvironmentTagMoved { repository: String, tag: String, digest: String },
    /// After a rolling deploy: the environment's tag could not be moved (the deploy stands).
    EnvironmentTagNotMoved { repository: String, tag: String, error: String },
}

/// A dead run's deployment that this one closes (another target).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Superseded {
    pub deployment_id: String,
    /// Its last journaled step, e.g. "update_service (started)".
    pub stopped_at: String,
}

/// The holder of a lock that was taken over, as the ledger had it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TakenOver {
    /// `user@host`.
    pub holder: String,
    pub deployment_id: String,
    pub pid: u32,
    pub host: String,
    /// True when its lease had run out; false when its process is known to be gone.
    pub lease_expired: bool,
}

/// How a failed deployment is rolled back (ECS API reference: StopServiceDeployment,
/// UpdateService; developer guide: deployment circuit breaker).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RollbackMethod {
    /// ECS is rolling back with this deployment (its circuit breaker, seen in progress).
    Ecs { ecs_deployment_id: String },
    /// ECS's circuit breaker failed ours and will roll back; its deployment is adopted.
    CircuitBreaker,
    /// ferry asked ECS: StopServiceDeployment with ROLLBACK.
    StopServiceDeployment,
    /// ferry: UpdateService to the previous revision.
    UpdateService,
    /// ECS started no rollback within `grace_ms`: ferry's UpdateService.
    UpdateServiceAfterGrace { grace_ms: u64 },
}

/// Receives the events of a run, and the reports as they change (to journal them).
pub trait Observer: Send + Sync {
    fn event(&self, report: &ServiceReport, event: &Event);
    /// Called when a deploy starts changing things (after the lock) and when it ends.
    fn record(&self, report: &ServiceReport);
    /// Called once a deploy holds its lock, before it changes anything: journals its start
    /// (the record and its first event). An error refuses the deploy — nothing is changed,
    /// the lock is released, the report ends in `Error` with [`FailureCause::Ledger`] — since
    /// a deploy that cannot be journaled would run unseen by history, status and rollback.
    /// The default records as [`Observer::record`] does, and never refuses.
    fn record_start(&self, report: &ServiceReport) -> Result<(), JournalError> {
        self.record(report);
        Ok(())
    }
    /// Whether progress should carry the new tasks' health: a person watching a live view
    /// wants it; a pipeline waiting for the outcome does not need the extra calls.
    fn wants_task_health(&self) -> bool {
        false
    }
    /// The deployment of (`environment`, `service`) that a run started and never finished —
    /// its process is gone, so nobody will — with its journal; None when there is none. A
    /// deployment whose run is still alive is not interrupted (its lock says so).
    fn interrupted(&self, environment: &str, service: &str) -> Result<Option<Interrupted>, JournalError> {
        let _ = (environment, service);
        Ok(None)
    }
    /// Journals the start of step `name` of the report's deployment (before it is applied),
    /// with what it will work on; returns the step's number for [`Observer::step_finished`].
    /// An error stops the deployment before the step: a step that cannot be journaled could
    /// not be resumed after a crash.
    fn step_started(&self, report: &ServiceReport, name: &str, data: &Value) -> Result<i64, JournalError> {
        let _ = (report, name, data);
        Ok(0)
    }
    /// Journals how step `seq` ended, with what it produced.
    fn step_finished(&self, report: &ServiceReport, seq: i64, state: StepState, data: &Value) -> Result<(), JournalError> {
        let _ = (report, seq, state, data);
        Ok(())
    }
    /// Closes a dead run's deployment that this one supersedes (a different target): it is
    /// recorded as interrupted, with `reason`.
    fn settle(&self, interrupted: &Interrupted, reason: &str) -> Result<(), JournalError> {
        let _ = (interrupted, reason);
        Ok(())
    }
}

/// Why a lock was not granted.
#[derive(Clone, Debug)]
pub enum LockRefusal {
    /// Someone else holds it: who and since when, in words.
    Held(String),
    /// The ledger could not be used.
    Error(String),
    /// The lock this deploy held is gone (on renewal): the ledger was deleted or replaced,
    /// or the lock was freed. Another deploy may be running; the holder must stop.
    Lost(String),
}

/// The locks that keep two deploys of one (environment, service) apart.
pub trait Locks: Send + Sync {
    fn lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal>;
    fn renew(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal>;
    fn unlock(&self, environment: &str, service: &str, deployment_id: &str);
    /// As [`Locks::lock`], also taking over a lock whose holder is known to be gone (a
    /// process on this host that has exited); returns whose lock was taken over, in words.
    fn lock_taking_over(&self, environment: &str, service: &str, deployment_id: &str) -> Result<Option<TakenOver>, LockRefusal> {
        self.lock(environment, service, deployment_id).map(|()| None)
    }
}

/// A service that passed preflight: what it runs and what it will run.
#[derive(Clone, Debug)]
struct Prepared {
    current: ServiceInfo,
    current_definition: TaskDefinitionInfo,
    /// The new task definition (native JSON with tags), or an existing revision to go back to.
    target: Target,
    /// What the journal of the dead run being resumed says it did (empty when fresh).
    facts: Facts,
    /// Resuming a dead run's deployment of the same target.
    resumed: Option<Interrupted>,
    /// A dead run's unfinished deployment of another target, closed once the lock is ours.
    supersedes: Option<Interrupted>,
}

#[derive(Clone, Debug)]
enum Target {
    Register(Value),
    Existing(TaskDefinitionInfo),
    /// env-tag: move `tag` to `digest`, then force a new deployment of the same revision.
    Force {
        definition: TaskDefinitionInfo,
        tag: String,
        digest: String,
        previous_digest: String,
        /// The digest the tag names at preflight (the previous one, unless a dead run moved it).
        tag_now: String,
    },
}

/// The parts a run works with.
pub struct Run<'a, E: Ecs, R: Registry, C: Clock, L: Locks, O: Observer> {
    pub ecs: &'a E,
    pub registry: &'a R,
    pub clock: &'a C,
    pub locks: &'a L,
    pub observer: &'a O,
}

/// The in-flight state of one service in the watch loop.
struct Active {
    index: usize,
    watch: Watch,
    rolling_back: bool,
    /// The revision to return to on failure.
    previous: String,
    deadline: i64,
    next_poll: i64,
    started: i64,
    last_progress: Option<Progress>,
    quiet_polls: u32,
    errors: u32,
    last_renew: i64,
    /// Why the forward deploy failed, once it has.
    failure: Option<(FailureCause, String)>,
    /// The last stop reason seen for a task of ours: the evidence a failure report cites.
    last_stop: Option<String>,
    /// Deployments that existed when ours started (and ours): a rollback adopts none of them.
    earlier_deployments: Vec<String>,
    /// env-tag: the tag and the digest it pointed at before, restored on rollback; and the
    /// rollback must force a new deployment (the revision does not change).
    tag_restore: Option<(String, String)>,
    /// env-tag: the tag is back on the previous digest (journaled), so it is not moved again.
    tag_restored: bool,
    /// While waiting for the circuit breaker's own rollback: when ferry stops waiting.
    ecs_rollback_deadline: Option<i64>,
    /// Once our deployment is COMPLETED: when the bake period ends.
    bake_until: Option<i64>,
    /// While baking: our deployment's running count at the last look (a drop is worth
    /// reading the stopped tasks for).
    baked_running: Option<i32>,
    /// The new tasks' health as last read, when, and the progress it was read for.
    health: Option<TaskHealth>,
    health_read_at: Option<i64>,
    health_read_for: Option<Progress>,
}

impl Active {
    /// How long a look at this service may take: its deadline, or the end of its bake
    /// when that is later (a COMPLETED deployment is not held to the deploy's timeout).
    fn watch_deadline(&self) -> i64 {
        self.bake_until.map_or(self.deadline, |until| until.max(self.deadline))
    }
}

impl<E: Ecs, R: Registry, C: Clock, L: Locks, O: Observer> Run<'_, E, R, C, L, O> {
    /// Preflight only: what each service would become, and the diff. Changes nothing.
    pub async fn plan(&self, requests: &[Request]) -> Vec<ServiceReport> {
        let mut reports: Vec<ServiceReport> = requests.iter().map(|r| self.report_for(r)).collect();
        let prepared = self.preflight_all(requests, &mut reports, vec![None; requests.len()]).await;
        for (report, prepared) in reports.iter_mut().zip(prepared) {
            if prepared.is_some() {
                report.outcome = Outcome::Planned;
                report.finished_at = Some(self.clock.now_ms());
            }
        }
        reports
    }

    /// Deploys every request; returns one report per request, in order.
    pub async fn deploy(&self, requests: &[Request]) -> Vec<ServiceReport> {
        // Several services: nothing changes unless every one passes preflight and gets its
        // lock, so exit codes 4 and 7 keep meaning "nothing changed".
        let (reports, locked) = self.deploy_holding_locks(requests).await;
        self.unlock(requests, &locked);
        reports
    }

    /// Deploys, and returns the id each request's lock is held under, when it is still held
    /// (the caller releases them with [`Run::unlock`]). Nothing is changed unless every
    /// request passed preflight and got its lock.
    ///
    /// A request for a service whose last deployment a dead run left unfinished either
    /// resumes it (same target: the deployment keeps its id, its lock and its journal) or
    /// supersedes it (another target: it is closed as interrupted once the lock is ours).
    pub(crate) async fn deploy_holding_locks(&self, requests: &[Request]) -> (Vec<ServiceReport>, Vec<Option<String>>) {
        let mut reports: Vec<ServiceReport> = requests.iter().map(|r| self.report_for(r)).collect();
        let mut interrupted = Vec::with_capacity(requests.len());
        for (request, report) in requests.iter().zip(reports.iter_mut()) {
            match self.observer.interrupted(&request.environment, &request.service) {
                Ok(found) => interrupted.push(found),
                Err(e) => {
                    let reason = format!("cannot read the ledger's journal, so nothing was changed: {e}");
                    self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(reason));
                    interrupted.push(None);
                }
            }
        }
        let prepared = self.preflight_all(requests, &mut reports, interrupted).await;
        // A resumed deployment runs under the dead run's id: its lock, journal and tags.
        let effective: Vec<Request> = requests
            .iter()
            .zip(&prepared)
            .map(|(request, prepared)| {
                let mut request = request.clone();
                if let Some(resumed) = prepared.as_ref().and_then(|p| p.resumed.as_ref()) {
                    request.trace.deployment_id = resumed.deployment_id.clone();
                }
                request
            })
            .collect();
        let mut locked: Vec<Option<String>> = vec![None; requests.len()];
        for (i, (request, report)) in effective.iter().zip(reports.iter_mut()).enumerate() {
            if let Some(prepared) = &prepared[i] {
                locked[i] = self.lock(request, report, prepared).then(|| request.lock_id().to_string());
            }
        }
        if locked.iter().any(Option::is_none) {
            let refused: Vec<String> = reports.iter().zip(&locked).filter(|(_, l)| l.is_none()).map(|(r, _)| r.service.clone()).collect();
            for (report, _) in reports.iter_mut().zip(&locked).filter(|(_, l)| l.is_some()) {
                let reason = format!("not deployed: all services move or none does, and {} could not start", refused.join(", "));
                self.finish(report, Outcome::Refused, None, Some(reason));
                self.observer.record(report);
            }
            return (reports, locked);
        }
        let started: Vec<Option<Active>> = stream::iter(effective.iter().zip(reports.iter_mut()).zip(prepared).enumerate())
            .map(|(index, ((request, report), prepared))| self.start(index, request, report, prepared))
            .buffered(MAX_PARALLEL)
            .collect()
            .await;
        let active: Vec<Active> = started.into_iter().flatten().collect();
        self.watch_all(&effective, &mut reports, active).await;
        (reports, locked)
    }

    /// Releases the locks a run took (`locked`: the id each is held under, as
    /// [`Run::deploy_holding_locks`] returns them).
    pub(crate) fn unlock(&self, requests: &[Request], locked: &[Option<String>]) {
        for (request, id) in requests.iter().zip(locked) {
            if let Some(id) = id {
                self.locks.unlock(&request.environment, &request.service, id);
            }
        }
    }

    /// Takes the service's lock for a request that passed preflight, and journals the
    /// deployment's start (or its resumption).
    fn lock(&self, request: &Request, report: &mut ServiceReport, prepared: &Prepared) -> bool {
        let taken_over = match self.locks.lock_taking_over(&request.environment, &request.service, request.lock_id()) {
            Ok(taken_over) => taken_over,
            Err(LockRefusal::Held(holder)) => {
                self.finish(report, Outcome::LockHeld, None, Some(holder));
                return false;
            }
            Err(LockRefusal::Error(message) | LockRefusal::Lost(message)) => {
                self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(format!("cannot lock in the ledger: {message}")));
                return false;
            }
        };
        report.outcome = Outcome::Refused; // not yet changed anything
        let journaled = self.observer.record_start(report).and_then(|()| match &prepared.supersedes {
            Some(dead) => self.observer.settle(
                dead,
                &format!("interrupted at {}: ferry stopped before it finished; superseded by {}", dead.stopped_at(), report.deployment_id),
            ),
            None => Ok(()),
        });
        if let Err(message) = journaled {
            // The undo of an atomic promotion runs under the promotion's lock: not ours to free.
            if request.lock_owner.is_none() {
                self.locks.unlock(&request.environment, &request.service, request.lock_id());
            }
            let reason = format!("cannot journal the deploy in the ledger, so nothing was changed: {message}");
            self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(reason));
            return false;
        }
        if let Some(previous) = taken_over {
            self.phase(report, Phase::Locked, Detail::LockTakenOver { previous });
        }
        let detail = Detail::Locked {
            environment: request.environment.clone(),
            deployment_id: request.lock_id().to_string(),
            resumed_at: prepared.resumed.as_ref().map(Interrupted::stopped_at),
            superseded: prepared
                .supersedes
                .as_ref()
                .map(|dead| Superseded { deployment_id: dead.deployment_id.clone(), stopped_at: dead.stopped_at() }),
        };
        self.phase(report, Phase::Locked, detail);
        true
    }

    /// Preflight of every request, eight at a time, from one batched snapshot.
    async fn preflight_all(
        &self,
        requests: &[Request],
        reports: &mut [ServiceReport],
        interrupted: Vec<Option<Interrupted>>,
    ) -> Vec<Option<Prepared>> {
        let snapshot = &self.snapshot(requests).await;
        stream::iter(requests.iter().zip(reports.iter_mut()).zip(interrupted))
            // A request refused before preflight (the journal could not be read) stays so.
            .map(|((r, rep), dead)| async move {
                if rep.finished_at.is_some() {
                    return None;
                }
                self.preflight(r, rep, snapshot, dead).await
            })
            .buffered(MAX_PARALLEL)
            .collect()
            .await
    }

    fn report_for(&self, r: &Request) -> ServiceReport {
        ServiceReport {
            deployment_id: r.trace.deployment_id.clone(),
            kind: r.kind,
            environment: r.environment.clone(),
            service: r.service.clone(),
            ecs_service: r.ecs_service.clone(),
            cluster: r.cluster.clone(),
            from_version: None,
            from_digest: None,
            from_task_definition: None,
            to_version: r.version.clone(),
            to_digest: None,
            to_task_definition: None,
            image: None,
            ecs_deployment_id: None,
            rollback_deployment_id: None,
            who: r.trace.who.clone(),
            commit: r.trace.commit.clone(),
            commit_message: r.trace.commit_message.clone(),
            started_at: self.clock.now_ms(),
            finished_at: None,
            outcome: Outcome::Refused,
            cause: None,
            reason: None,
            changes: Vec::new(),
            running: 0,
            desired: 0,
            invalid_input: false,
            strategy: strategy::machine(r.strategy).name(),
            resumed_at: None,
        }
    }

    fn emit(&self, report: &ServiceReport, event: Event) {
        self.observer.event(report, &event);
    }

    fn phase(&self, report: &ServiceReport, phase: Phase, detail: Detail) {
        self.emit(report, Event::Phase { service: report.service.clone(), phase, detail });
    }

    fn finish(&self, report: &mut ServiceReport, outcome: Outcome, cause: Option<FailureCause>, reason: Option<String>) {
        report.outcome = outcome;
        report.cause = cause;
        report.reason = reason.clone();
        report.finished_at = Some(self.clock.now_ms());
        self.emit(report, Event::Finished { service: report.service.clone(), outcome, reason });
    }

    /// Checks everything that can be checked without changing anything.
    async fn preflight(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        snapshot: &Snapshot,
        dead: Option<Interrupted>,
    ) -> Option<Prepared> {
        // The undo of an atomic promotion runs inside the promotion: it resumes nothing.
        let dead = dead.filter(|_| request.lock_owner.is_none());
        match self.try_preflight(request, report, snapshot, dead).await {
            Ok(prepared) => {
                let detail = match &prepared.target {
                    Target::Register(_) => Detail::PreflightNewRevision {
                        from_version: report.from_version.clone(),
                        image: report.image.clone(),
                        changes: report.changes.len(),
                    },
                    Target::Existing(td) => Detail::PreflightRevision {
                        from_task_definition: report.from_task_definition.clone(),
                        to_task_definition: td.arn.clone(),
                    },
                    Target::Force { tag, digest, previous_digest, .. } => Detail::PreflightTagMove {
                        from_version: report.from_version.clone(),
                        to_version: report.to_version.clone(),
                        repository: request.repository.clone(),
                        tag: tag.clone(),
                        from: previous_digest.clone(),
                        to: digest.clone(),
                    },
                };
                self.phase(report, Phase::Preflight, detail);
                Some(prepared)
            }
            Err(Refusal { reason, invalid_input, platform }) => {
                report.invalid_input = invalid_input;
                if platform {
                    // A call that failed (access denied, endpoint down) is not a refusal on
                    // the merits: exit 3, as for any platform error.
                    self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                } else {
                    self.finish(report, Outcome::Refused, None, Some(reason));
                }
                None
            }
        }
    }

    /// The clusters and services of a run, described once up front: one DescribeClusters per
    /// cluster and one DescribeServices per ten services, however many services deploy.
    async fn snapshot(&self, requests: &[Request]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        // A request with a bad version is refused before any call, so it is not described.
        for r in requests.iter().filter(|r| r.version_error().is_none()) {
            let names = by_cluster.entry(r.cluster.as_str()).or_default();
            if !names.contains(&r.ecs_service) {
                names.push(r.ecs_service.clone());
            }
        }
        for (cluster, names) in by_cluster {
            let described = self.ecs.describe_cluster(cluster).await;
            // A cluster that could not be described (endpoint down, access denied) fails
            // its services' preflight anyway: do not spend another bounded call per ten.
            let reachable = described.is_ok();
            snapshot.clusters.insert(cluster.to_string(), described);
            if !reachable {
                continue;
            }
            for chunk in names.chunks(10) {
                let described = self.ecs.describe_services(cluster, chunk).await;
                for name in chunk {
                    let found = described.as_ref().map(|list| list.iter().find(|s| &s.name == name).cloned()).map_err(Clone::clone);
                    snapshot.services.insert((cluster.to_string(), name.clone()), found);
                }
            }
        }
        snapshot
    }

    async fn try_preflight(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        snapshot: &Snapshot,
        dead: Option<Interrupted>,
    ) -> Result<Prepared, Refusal> {
        if let Some(error) = request.version_error() {
            return Err(Refusal::input(error));
        }
        let cluster = snapshot.clusters.get(&request.cluster).cloned().unwrap_or(Ok(None)).map_err(Refusal::platform)?;
        match cluster {
            None => return Err(Refusal::state(format!("cluster {} not found ({})", request.cluster, request.variables.ecs_location()))),
            Some(c) if c.status != "ACTIVE" => {
                return Err(Refusal::state(format!("cluster {} is {}, not ACTIVE", request.cluster, c.status)));
            }
            Some(_) => {}
        }
        let current = snapshot
            .services
            .get(&(request.cluster.clone(), request.ecs_service.clone()))
            .cloned()
            .unwrap_or(Ok(None))
            .map_err(Refusal::platform)?;
        let Some(current) = current else {
            return Err(Refusal::state(format!(
                "service {} not found in cluster {} ({})",
                request.ecs_service,
                request.cluster,
                request.variables.ecs_location()
            )));
        };
        if current.status != "ACTIVE" {
            return Err(Refusal::state(format!("service {} is {}, not ACTIVE", request.ecs_service, current.status)));
        }
        if current.deployment_controller != "ECS" {
            return Err(Refusal::state(format!(
                "service {} uses the {} deployment controller; the rolling strategy needs ECS",
                request.ecs_service, current.deployment_controller
            )));
        }
        if let Some(reason) = crate::rolling::stuck_deployment_configuration(&current) {
            return Err(Refusal::state(reason));
        }
        let current_definition = self.ecs.describe_task_definition(&current.task_definition).await.map_err(Refusal::platform)?;
        report.from_task_definition = Some(current_definition.arn.clone());
        report.from_version = current_definition.tag("ferry:version").map(str::to_string).or_else(|| {
            taskdef::container_image(&current_definition.definition, &request.container).and_then(crate::image_tag).map(str::to_string)
        });
        report.from_digest = current_definition.tag("ferry:digest").map(str::to_string);
        report.running = current.running;
        report.desired = current.desired;

        if let Source::Revision(revision) = &request.source {
            let target = self.ecs.describe_task_definition(revision).await.map_err(|e| match e.code.as_deref() {
                // ECS's answer for a revision that does not exist.
                Some("ClientException") => {
                    Refusal::state(format!("task definition {revision} not found ({}; {})", e.message, request.variables.ecs_location()))
                }
                _ => Refusal::platform(e),
            })?;
            // ECS refuses UpdateService to a deregistered revision (API reference,
            // DeregisterTaskDefinition: an INACTIVE revision cannot start new tasks or be
            // the target of a service update).
            if target.definition.get("status").and_then(Value::as_str) == Some("INACTIVE") && target.arn != current.task_definition {
                return Err(Refusal::state(format!(
                    "{} was deregistered (INACTIVE): ECS cannot deploy it again. Deploy its version instead (`ferry deploy {} {}=VERSION`), which registers a new revision",
                    short_task_definition(&target.arn),
                    request.environment,
                    request.service
                )));
            }
            if taskdef::family(&target.definition) != taskdef::family(&current_definition.definition) {
                return Err(Refusal::input(format!(
                    "{} is not a revision of {}",
                    short_task_definition(&target.arn),
                    taskdef::family(&current_definition.definition).unwrap_or("the service's family")
                )));
            }
            report.to_task_definition = Some(target.arn.clone());
            report.to_version = target.tag("ferry:version").map(str::to_string).or(report.to_version.clone());
            report.to_digest = target.tag("ferry:digest").map(str::to_string);
            report.image = taskdef::container_image(&target.definition, &request.container).map(str::to_string);
            report.changes = taskdef::diff(&without_ferry_tags(&current_definition.definition), &without_ferry_tags(&target.definition));
            let same = dead.as_ref().is_some_and(|d| d.to_task_definition.as_deref() == Some(target.arn.as_str()));
            let (facts, resumed, supersedes) = self.resume_or_supersede(request, report, dead, same);
            return Ok(Prepared { current, current_definition, target: Target::Existing(target), facts, resumed, supersedes });
        }

        let version = request.version.clone().unwrap_or_default();
        // A repository that does not exist is the platform's state, not a failed call.
        let registry_refusal = |e: PlatformError| {
            if e.code.as_deref() == Some("RepositoryNotFoundException") {
                Refusal::state(format!("{} ({})", e.message, request.variables.registry_location()))
            } else {
                Refusal::platform(e)
            }
        };
        let image = match &request.digest {
            Some(digest) => {
                self.registry.resolve_digest(&request.repository, digest).await.map_err(registry_refusal)?.ok_or_else(|| {
                    Refusal::state(format!(
                        "image {}@{digest} not found in the registry ({})",
                        request.repository,
                        request.variables.registry_location()
                    ))
                })?
            }
            None => self.registry.resolve(&request.repository, &version).await.map_err(registry_refusal)?.ok_or_else(|| {
                Refusal::state(format!(
                    "image {}:{version} not found in the registry ({})",
                    request.repository,
                    request.variables.registry_location()
                ))
            })?,
        };
        if request.strategy == Strategy::EnvTag {
            return self.prepare_env_tag(request, report, current, current_definition, image, dead).await;
        }
        let same = dead.as_ref().is_some_and(|d| d.to_digest.as_deref() == Some(image.digest.as_str()));
        let (facts, resumed, supersedes) = self.resume_or_supersede(request, report, dead, same);
        let deployment_id = resumed.as_ref().map_or(request.trace.deployment_id.as_str(), |d| d.deployment_id.as_str());
        // A promotion names the digest that was tested: deploy exactly it, whatever the tag
        // points at by now.
        let reference = if request.pin_digest || request.digest.is_some() {
            format!("{}@{}", image.repository_uri, image.digest)
        } else {
            format!("{}:{version}", image.repository_uri)
        };
        report.to_digest = Some(image.digest.clone());
        report.image = Some(reference.clone());

        let mut definition = match &request.source {
            Source::Template { name, text } => {
                let variables = Variables {
                    version: version.clone(),
                    digest: image.digest.clone(),
                    image: reference.clone(),
                    repository_uri: image.repository_uri.clone(),
                    // Not configured: the account the service lives in, from its ARN.
                    account: Some(request.variables.account.clone())
                        .filter(|a| !a.is_empty())
                        .or_else(|| crate::config::account_of_arn(&current.arn).map(str::to_string))
                        .unwrap_or_default(),
                    ..request.variables.clone()
                };
                let rendered = template::render_task_definition(name, text, &variables).map_err(|e| Refusal::input(e.to_string()))?;
                if let Some(warning) = taskdef::read_only_warning(&rendered) {
                    self.phase(report, Phase::Preflight, Detail::TemplateWarning { template: name.clone(), warning });
                }
                rendered
            }
            Source::Live | Source::Revision(_) => {
                let mut live = current_definition.definition.clone();
                taskdef::strip_read_only(&mut live);
                live
            }
        };
        // A template's errors name the template, as `ferry check` does.
        let in_template = |message: String| match &request.source {
            Source::Template { name, .. } => format!("{name}: {message}"),
            _ => message,
        };
        taskdef::set_image(&mut definition, &request.container, &reference)
            .map_err(|e| Refusal::input(in_template(format!("services.{}.container in ferry.toml: {e}", request.service))))?;
        set_tags(&mut definition, ferry_tags(request, deployment_id, &version, &image.digest));
        self.ecs.validate_task_definition(&definition).map_err(|e| Refusal::input(in_template(e.message)))?;
        report.changes = taskdef::diff(&without_ferry_tags(&current_definition.definition), &without_ferry_tags(&definition));
        if let Some(dead) = &resumed {
            // What ran before is what ran before the dead run changed anything.
            report.from_version = dead.from_version.clone().or(report.from_version.take());
            report.from_digest = dead.from_digest.clone().or(report.from_digest.take());
            report.from_task_definition = dead.from_task_definition.clone().or(report.from_task_definition.take());
        }
        Ok(Prepared { current, current_definition, target: Target::Register(definition), facts, resumed, supersedes })
    }

    /// Decides what becomes of a dead run's unfinished deployment of this service: resumed
    /// when it was deploying the same target (`same`) with the same kind and strategy —
    /// this deployment then takes its id — else superseded. Returns the journal's facts of
    /// the resumed deployment, and which of the two it is.
    fn resume_or_supersede(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        dead: Option<Interrupted>,
        same: bool,
    ) -> (Facts, Option<Interrupted>, Option<Interrupted>) {
        let Some(dead) = dead else { return (Facts::default(), None, None) };
        let strategy = strategy::machine(request.strategy).name();
        let same = same && dead.kind == request.kind && dead.strategy.as_deref().is_none_or(|s| s == strategy);
        if !same {
            return (Facts::default(), None, Some(dead));
        }
        report.deployment_id = dead.deployment_id.clone();
        report.started_at = dead.started_at;
        report.resumed_at = Some(dead.stopped_at());
        (Facts::from_steps(&dead.steps), Some(dead), None)
    }

    /// env-tag preflight: the running revision must name `repo:TAG`, and the tag must exist
    /// (its digest is what a rollback restores).
    async fn prepare_env_tag(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        current: ServiceInfo,
        current_definition: TaskDefinitionInfo,
        image: crate::platform::ImageInfo,
        dead: Option<Interrupted>,
    ) -> Result<Prepared, Refusal> {
        let tag = request.image_tag.clone().ok_or_else(|| Refusal::input("the env-tag strategy needs the environment's image_tag"))?;
        let expected = format!("{}:{tag}", image.repository_uri);
        let running = taskdef::container_image(&current_definition.definition, &request.container).ok_or_else(|| {
            Refusal::input(format!(
                "no container named {} in {}",
                crate::text::quoted(&request.container),
                short_task_definition(&current_definition.arn)
            ))
        })?;
        if running != expected {
            return Err(Refusal::state(format!(
                "the env-tag strategy needs container {} of {} to run {expected}, but it runs {running}",
                request.container,
                short_task_definition(&current_definition.arn)
            )));
        }
        let now_at = self.registry.resolve(&request.repository, &tag).await.map_err(Refusal::platform)?.ok_or_else(|| {
            Refusal::state(format!(
                "the environment tag {}:{tag} does not exist in the registry ({})",
                request.repository,
                request.variables.registry_location()
            ))
        })?;
        let same = dead.as_ref().is_some_and(|d| d.to_digest.as_deref() == Some(image.digest.as_str()));
        let (facts, resumed, supersedes) = self.resume_or_supersede(request, report, dead, same);
        // What ran before is what the tag names now — unless a dead run moved it and never
        // finished: then the digest it moved the tag from, as journaled (the tag may name
        // the dead run's digest, which nothing proved healthy).
        let moved_by_dead =
            resumed.as_ref().or(supersedes.as_ref()).map(|d| (d, Facts::from_steps(&d.steps))).filter(|(_, f)| f.tag_move_started);
        let previous_digest = match moved_by_dead {
            Some((d, f)) => f.previous_digest.or(d.from_digest.clone()).unwrap_or(now_at.digest.clone()),
            None => now_at.digest.clone(),
        };
        // What runs is what the tag points at now; the revision's tags (if any) can be stale.
        report.from_digest = Some(previous_digest.clone());
        if report.from_version.as_deref() == Some(tag.as_str()) {
            report.from_version = None;
        }
        report.to_digest = Some(image.digest.clone());
        report.image = Some(expected.clone());
        report.to_task_definition = Some(current_definition.arn.clone());
        report.changes = if previous_digest == image.digest {
            Vec::new()
        } else {
            vec![Change {
                path: expected,
                old: Some(Value::String(previous_digest.clone())),
                new: Some(Value::String(image.digest.clone())),
            }]
        };
        Ok(Prepared {
            target: Target::Force {
                definition: current_definition.clone(),
                tag,
                digest: image.digest,
                previous_digest,
                tag_now: now_at.digest,
            },
            current,
            current_definition,
            facts,
            resumed,
            supersedes,
        })
    }

    /// The mutations, as the strategy's step machine decides them ([`crate::strategy`]),
    /// each journaled before and after it is applied. Returns the watch of the ECS
    /// deployment, or None when the deploy is over (a step failed, or a resumed rollback
    /// could not start).
    async fn start(&self, index: usize, request: &Request, report: &mut ServiceReport, prepared: Option<Prepared>) -> Option<Active> {
        let prepared = prepared?;
        let machine = strategy::machine(request.strategy);
        let mut facts = prepared.facts.clone();
        let resumed = prepared.resumed.is_some();
        // A superseded dead run may have changed the service: what ran before it is the last
        // state anything proved, so a failure returns there.
        let dead_changed = prepared.supersedes.as_ref().filter(|d| {
            let f = Facts::from_steps(&d.steps);
            f.update_started_at.is_some() || f.tag_move_started
        });
        let previous = facts
            .previous_task_definition
            .clone()
            .or_else(|| prepared.resumed.as_ref().and_then(|d| d.from_task_definition.clone()))
            .or_else(|| dead_changed.and_then(|d| d.from_task_definition.clone()))
            .unwrap_or_else(|| prepared.current_definition.arn.clone());
        if let Some(dead) = dead_changed {
            report.from_task_definition = Some(previous.clone());
            report.from_version = dead.from_version.clone().or(report.from_version.take());
        }
        let earlier: Vec<String> = if resumed && facts.previous_task_definition.is_some() {
            facts.earlier_deployments.clone()
        } else {
            prepared.current.deployments.iter().map(|d| d.id.clone()).collect()
        };
        let (desired, tag_restore, mut tag_at_target, digest) = match &prepared.target {
            Target::Register(_) => (Desired::NewRevision, None, false, None),
            Target::Existing(td) => (Desired::Revision(td.arn.clone()), None, false, None),
            Target::Force { definition, tag, digest, previous_digest, tag_now } => (
                Desired::ForcedRevision(definition.arn.clone()),
                Some((tag.clone(), previous_digest.clone())),
                facts.tag_moved || tag_now == digest,
                Some(digest.clone()),
            ),
        };
        if facts.previous_task_definition.is_none() {
            let target = report.to_digest.clone().or(report.to_task_definition.clone());
            let data = journal::preflight_data(&previous, tag_restore.as_ref().map(|(_, d)| d.as_str()), &earlier, target.as_deref());
            if !self
                .journal_started(request, report, names::PREFLIGHT, &data)
                .await
                .is_some_and(|seq| self.journal_done(report, seq, &data))
            {
                return None;
            }
            facts.previous_task_definition = Some(previous.clone());
            facts.earlier_deployments = earlier.clone();
        }
        kill_point("after-preflight");
        // A registration whose answer the dead run never journaled: the family's newest
        // revision is ours if it carries our deployment id.
        let mut registered = facts.registered.clone();
        if let (None, true, Target::Register(definition)) = (&registered, facts.register_started, &prepared.target)
            && let Some(family) = taskdef::family(definition)
            && let Ok(latest) = self.ecs.describe_task_definition(family).await
            && latest.tag("ferry:deployment") == Some(report.deployment_id.as_str())
        {
            registered = Some(latest.arn.clone());
        }
        let mut service = prepared.current.clone();
        let mut before = facts.update_started_at.unwrap_or_else(|| self.clock.now_ms());
        // Each step is one of a handful; the bound only guards against a decision that loops.
        for _ in 0..8 {
            let observed = Observed { facts: &facts, service: &service, registered: registered.as_deref(), tag_at_target };
            match machine.next(&desired, &observed) {
                Step::MoveTag => {
                    let (Some((tag, previous_digest)), Some(digest)) = (&tag_restore, &digest) else { break };
                    let data = json!({"tag": tag, "from": previous_digest, "to": digest});
                    let seq = self.journal_started(request, report, names::MOVE_TAG, &data).await?;
                    if let Err(e) = self.registry.move_tag(&request.repository, digest, tag).await {
                        self.journal_failed(report, seq, &data);
                        let reason = format!("{e} (the tag and the service were not changed)");
                        self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                        self.observer.record(report);
                        return None;
                    }
                    kill_point("env-tag-after-move");
                    self.journal_done(report, seq, &data);
                    tag_at_target = true;
                    facts.tag_moved = true;
                    let detail = Detail::TagMoved {
                        repository: request.repository.clone(),
                        tag: tag.clone(),
                        from: previous_digest.clone(),
                        to: digest.clone(),
                    };
                    self.phase(report, Phase::Registered, detail);
                }
                Step::RegisterTaskDefinition => {
                    let Target::Register(definition) = &prepared.target else { break };
                    let data = json!({"family": taskdef::family(definition)});
                    let seq = self.journal_started(request, report, names::REGISTER_TASK_DEFINITION, &data).await?;
                    match self.ecs.register_task_definition(definition).await {
                        Ok(td) => {
                            kill_point("after-register");
                            self.journal_done(report, seq, &json!({"family": td.family, "task_definition": td.arn}));
                            self.phase(report, Phase::Registered, Detail::Registered { task_definition: td.arn.clone() });
                            registered = Some(td.arn);
                        }
                        Err(e) => {
                            self.journal_failed(report, seq, &data);
                            self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(e.to_string()));
                            self.observer.record(report);
                            return None;
                        }
                    }
                }
                Step::UpdateService { task_definition, force } => {
                    report.to_task_definition = Some(task_definition.clone());
                    report.outcome = Outcome::Error;
                    self.observer.record(report);
                    let data = json!({"task_definition": task_definition, "force": force});
                    let seq = self.journal_started(request, report, names::UPDATE_SERVICE, &data).await?;
                    before = self.clock.now_ms();
                    facts.update_started_at = Some(before);
                    match self.ecs.update_service(&request.cluster, &request.ecs_service, &task_definition, force).await {
                        Ok(updated) => {
                            kill_point("after-update-service");
                            // Our deployment: the PRIMARY one running our revision, the newest such.
                            let ours = updated
                                .deployments
                                .iter()
                                .filter(|d| d.task_definition == task_definition && d.status == "PRIMARY" && !earlier.contains(&d.id))
                                .max_by_key(|d| d.created_at)
                                .map(|d| d.id.clone());
                            self.journal_done(
                                report,
                                seq,
                                &json!({"task_definition": task_definition, "force": force, "ecs_deployment_id": ours}),
                            );
                            facts.update_done = true;
                            facts.updated = ours;
                            service = updated;
                        }
                        Err(e) => {
                            self.journal_failed(report, seq, &data);
                            let mut reason = format!("{e} (the service was not changed)");
                            if let (Some((tag, previous)), true) = (&tag_restore, facts.tag_moved)
                                && let Err(e) = self.restore_tag(request, report, tag, previous).await
                            {
                                reason = format!("{reason}; moving {}:{tag} back to {previous} failed too: {e}", request.repository);
                            }
                            self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                            self.observer.record(report);
                            return None;
                        }
                    }
                }
                Step::Watch { task_definition, ecs_deployment_id } => {
                    return self
                        .watch_from(
                            index,
                            request,
                            report,
                            &prepared,
                            facts,
                            previous,
                            earlier,
                            tag_restore,
                            task_definition,
                            ecs_deployment_id,
                            before,
                        )
                        .await;
                }
            }
        }
        let reason = "the strategy did not reach a deployment to watch (a bug in ferry; the same command resumes)".to_string();
        self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
        self.observer.record(report);
        None
    }

    /// Starts watching our ECS deployment (just created, or adopted from a dead run), or
    /// resumes the rollback a dead run had started.
    #[allow(clippy::too_many_arguments)]
    async fn watch_from(
        &self,
        index: usize,
        request: &Request,
        report: &mut ServiceReport,
        prepared: &Prepared,
        facts: Facts,
        previous: String,
        earlier: Vec<String>,
        tag_restore: Option<(String, String)>,
        task_definition: String,
        ours: Option<String>,
        before: i64,
    ) -> Option<Active> {
        report.to_task_definition = Some(task_definition.clone());
        report.ecs_deployment_id = ours.clone().or(report.ecs_deployment_id.take());
        report.outcome = Outcome::Error;
        // Journaled at once: whoever looks (Ctrl-C, `ferry status`, a re-run) can name the
        // ECS deployment that now exists.
        self.observer.record(report);
        // Adopted: the dead run had called UpdateService; this run did not.
        let resumed = prepared.resumed.as_ref().is_some_and(|d| Facts::from_steps(&d.steps).update_started_at.is_some());
        let detail = Detail::Updated {
            ecs_service: request.ecs_service.clone(),
            task_definition: task_definition.clone(),
            ecs_deployment_id: ours.clone(),
            resumed,
        };
        self.phase(report, Phase::Updated, detail);
        let mut watch = Watch::new(ours.clone(), task_definition, before, request.max_task_failures);
        watch.never_adopt(earlier.iter().cloned());
        watch.ignore_events(&prepared.current);
        let now = self.clock.now_ms();
        let mut active = Active {
            index,
            watch,
            rolling_back: false,
            previous: previous.clone(),
            deadline: now + request.timeout.as_millis() as i64,
            next_poll: now + 250,
            started: now,
            last_progress: None,
            quiet_polls: 0,
            errors: 0,
            last_renew: now,
            failure: None,
            last_stop: None,
            earlier_deployments: earlier.clone(),
            tag_restore,
            // A restore journaled as started is done when the tag names the previous digest.
            tag_restored: facts.tag_restored
                || (facts.tag_restore_started
                    && matches!(&prepared.target, Target::Force { tag_now, previous_digest, .. } if tag_now == previous_digest)),
            ecs_rollback_deadline: None,
            bake_until: None,
            baked_running: None,
            health: None,
            health_read_at: None,
            health_read_for: None,
        };
        if facts.rollback_started_at.is_none() {
            return Some(active);
        }
        // The dead run was rolling back: finish its rollback, adopting the rollback
        // deployment it (or ECS) started when there is one.
        let cause = facts.rollback_cause.as_deref().and_then(|c| serde_json::from_value(json!(c)).ok()).unwrap_or(FailureCause::Platform);
        let reason = facts.rollback_reason.clone().unwrap_or_else(|| "the deployment failed".into());
        let current = &prepared.current;
        let rollback = facts.rollback_deployment.clone().or_else(|| {
            current
                .deployments
                .iter()
                // The journal says a rollback started; ECS running the previous revision as
                // PRIMARY again (a new deployment, or the old one reactivated) is that rollback.
                .filter(|d| d.task_definition == previous && d.status == "PRIMARY" && Some(&d.id) != ours.as_ref())
                .max_by_key(|d| d.created_at)
                .map(|d| d.id.clone())
        });
        let ecs = match rollback {
            Some(id) => EcsRollback::Started(id),
            None => EcsRollback::None,
        };
        if self.fail(request, report, &mut active, cause, reason, ecs).await { None } else { Some(active) }
    }

    /// Journals the start of a step; on failure, ends the deploy before the step (nothing
    /// the step would change is changed) and returns None.
    async fn journal_started(&self, request: &Request, report: &mut ServiceReport, name: &str, data: &Value) -> Option<i64> {
        match self.observer.step_started(report, name, data) {
            Ok(seq) => Some(seq),
            Err(e) => {
                let reason = format!(
                    "cannot journal the step {name} in the ledger, so ferry stopped before it: {e}; run the same command again to finish the deployment"
                );
                let _ = request;
                self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(reason));
                self.observer.record(report);
                None
            }
        }
    }

    /// Journals that step `seq` is done. A failure here is said but does not stop the deploy:
    /// the step happened, and a re-run finds its effect in AWS.
    fn journal_done(&self, report: &ServiceReport, seq: i64, data: &Value) -> bool {
        if let Err(e) = self.observer.step_finished(report, seq, StepState::Done, data) {
            tracing::warn!("cannot journal the end of a step of {}: {e}", report.deployment_id);
        }
        true
    }

    fn journal_failed(&self, report: &ServiceReport, seq: i64, data: &Value) {
        if let Err(e) = self.observer.step_finished(report, seq, StepState::Failed, data) {
            tracing::warn!("cannot journal the failure of a step of {}: {e}", report.deployment_id);
        }
    }

    /// env-tag: moves the tag back to the digest it named before, journaled.
    async fn restore_tag(&self, request: &Request, report: &mut ServiceReport, tag: &str, previous: &str) -> Result<(), PlatformError> {
        let data = json!({"tag": tag, "to": previous});
        let seq = self.observer.step_started(report, names::RESTORE_TAG, &data).unwrap_or(0);
        match self.registry.move_tag(&request.repository, previous, tag).await {
            Ok(()) => {
                kill_point("env-tag-after-restore");
                self.journal_done(report, seq, &data);
                Ok(())
            }
            Err(e) => {
                self.journal_failed(report, seq, &data);
                Err(e)
            }
        }
    }

    /// The one loop that watches every started deployment (and rollback) of the run.
    async fn watch_all(&self, requests: &[Request], reports: &mut [ServiceReport], mut active: Vec<Active>) {
        while !active.is_empty() {
            let now = self.clock.now_ms();
            let earliest = active.iter().map(|a| a.next_poll).min().unwrap_or(now);
            if earliest > now {
                self.clock.sleep(Duration::from_millis((earliest - now) as u64)).await;
                continue;
            }
            // Everything due (or nearly) is looked at now, grouped by cluster, 10 per call.
            let mut by_cluster: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (slot, a) in active.iter().enumerate() {
                if a.next_poll <= now + COALESCE_MS {
                    by_cluster.entry(requests[a.index].cluster.as_str()).or_default().push(slot);
                }
            }
            let mut observed: Vec<(usize, Result<Option<ServiceInfo>, PlatformError>)> = Vec::new();
            for (cluster, slots) in by_cluster {
                for chunk in slots.chunks(10) {
                    let names: Vec<String> = chunk.iter().map(|&s| requests[active[s].index].ecs_service.clone()).collect();
                    // A call in flight does not hold the watch past a deadline.
                    let deadline = chunk.iter().map(|&s| active[s].watch_deadline()).min().unwrap_or(now);
                    match self.before(deadline, "ecs:DescribeServices", self.ecs.describe_services(cluster, &names)).await {
                        Ok(services) => {
                            for &slot in chunk {
                                let name = &requests[active[slot].index].ecs_service;
                                observed.push((slot, Ok(services.iter().find(|s| &s.name == name).cloned())));
                            }
                        }
                        Err(e) => observed.extend(chunk.iter().map(|&slot| (slot, Err(e.clone())))),
                    }
                }
            }
            let mut done = Vec::new();
            for (slot, observation) in observed {
                let a = &mut active[slot];
                let request = &requests[a.index];
                let report = &mut reports[a.index];
                if self.step(request, report, a, observation).await {
                    done.push(slot);
                }
            }
            if !done.is_empty() && done.len() < active.len() {
                kill_point("service-finished");
            }
            done.sort_unstable_by(|x, y| y.cmp(x));
            for slot in done {
                active.remove(slot);
            }
        }
    }

    /// One look at one service. Returns true when its deploy is over.
    async fn step(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        a: &mut Active,
        observation: Result<Option<ServiceInfo>, PlatformError>,
    ) -> bool {
        let now = self.clock.now_ms();
        if now - a.last_renew > 30_000 {
            a.last_renew = now;
            match self.locks.renew(&request.environment, &request.service, request.lock_id()) {
                Ok(()) => {}
                // Another deploy took the service over (our lease ran out): stop, and do not
                // roll back over it.
                Err(LockRefusal::Held(holder)) => {
                    let reason = format!("lost the lock while watching, stopped: {holder}");
                    self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                    self.observer.record(report);
                    return true;
                }
                // The lock is gone (the ledger was deleted or replaced, or the lock freed):
                // another deploy may be running unseen. Stop, without rolling back over it.
                Err(LockRefusal::Lost(message)) => {
                    let reason = match &report.ecs_deployment_id {
                        Some(id) => format!("lost the lock while watching, stopped; ECS deployment {id} continues on its own: {message}"),
                        None => format!("lost the lock while watching, stopped; the ECS deployment continues on its own: {message}"),
                    };
                    self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(reason));
                    self.observer.record(report);
                    return true;
                }
                Err(LockRefusal::Error(error)) => self.phase(report, Phase::Locked, Detail::LockNotRenewed { error }),
            }
        }
        let service = match observation {
            Ok(Some(service)) => {
                a.errors = 0;
                service
            }
            Ok(None) => {
                let reason = format!("service {} disappeared", request.ecs_service);
                return self.fail(request, report, a, FailureCause::ServiceGone, reason, EcsRollback::None).await;
            }
            Err(e) => {
                a.errors += 1;
                // Past the deadline, a service that cannot be looked at has not completed
                // (one already COMPLETED and baking has: the bake's errors count as usual).
                if now > a.deadline && a.bake_until.is_none() {
                    let what = if a.rolling_back { "the rollback" } else { "the deployment" };
                    let reason = format!(
                        "{what} was not seen to complete within {}: {e}",
                        humantime::format_duration(Duration::from_millis((a.deadline - a.started).max(0) as u64))
                    );
                    return self.fail(request, report, a, FailureCause::Timeout, reason, EcsRollback::None).await;
                }
                if a.errors >= MAX_OBSERVATION_ERRORS {
                    return self.fail(request, report, a, FailureCause::Platform, e.to_string(), EcsRollback::None).await;
                }
                a.next_poll = now + 1000 * i64::from(a.errors);
                return false;
            }
        };
        report.running = service.running;
        report.desired = service.desired;
        for event in a.watch.new_events(&service) {
            let ServiceEvent { created_at, message, .. } = event;
            self.emit(report, Event::EcsEvent { service: request.service.clone(), created_at, message });
        }
        let mut verdict = None;
        // While baking, a task short of the desired count is worth a look too: ECS's
        // failedTasks counter is the deployment's, and the circuit breaker stops counting
        // once it is COMPLETED.
        let running_now = a.watch.deployment_id.as_deref().and_then(|id| service.deployment(id)).map(|d| d.running);
        let dropped_while_baking = a.bake_until.is_some() && a.baked_running.zip(running_now).is_some_and(|(before, now)| now < before);
        if a.bake_until.is_some() {
            a.baked_running = running_now;
        }
        let mut looked = false;
        if a.watch.failures_grew(&service) || dropped_while_baking {
            looked = true;
            if let Some(fresh) = self.read_stopped(request, report, a).await {
                verdict = a.watch.judge_stopped(&fresh).map(|(cause, reason)| Assessment::Failed { cause, reason, ecs_rollback: None });
                // While baking, one failure is enough: the deployment said it was done.
                if let (Some(until), None) = (a.bake_until, &verdict)
                    && let Some(task) = fresh.iter().find(|t| crate::rolling::is_task_failure(t))
                {
                    let baked = request.bake.as_millis() as i64 - (until - now).max(0);
                    let reason = format!(
                        "a new task failed {} after the deployment completed, during the bake period: {}",
                        humantime::format_duration(Duration::from_secs((baked.max(0) / 1000) as u64)),
                        stop_reason(task)
                    );
                    verdict = Some(Assessment::Failed { cause: FailureCause::TaskFailures, reason, ecs_rollback: None });
                }
            }
        }
        let verdict = match verdict {
            Some(v) if !a.rolling_back => v,
            _ => a.watch.assess(&service),
        };
        // A failure with no stopped task quoted yet (ECS failed and rolled back between two
        // looks): read our stopped tasks once, so the reason cites a real failure.
        if let (Assessment::Failed { cause: FailureCause::CircuitBreaker | FailureCause::Replaced, .. }, None, false, false) =
            (&verdict, &a.last_stop, a.rolling_back, looked)
        {
            self.read_stopped(request, report, a).await;
        }
        match verdict {
            Assessment::InProgress(_) if a.watch.deployment_id.is_none() && a.ecs_rollback_deadline.is_some_and(|t| now > t) => {
                self.take_over_rollback(request, report, a).await
            }
            Assessment::InProgress(mut progress) => {
                progress.health = self.task_health(request, a, &progress, now).await;
                if now > a.deadline {
                    let what = if a.rolling_back { "the rollback" } else { "the deployment" };
                    let reason = format!(
                        "{what} did not complete within {} ({} of {} new tasks running)",
                        humantime::format_duration(Duration::from_millis((a.deadline - a.started).max(0) as u64)),
                        progress.new_running,
                        progress.new_desired
                    );
                    return self.fail(request, report, a, FailureCause::Timeout, reason, EcsRollback::None).await;
                }
                if progress.new_running > 0 {
                    kill_point(if a.rolling_back { "rolling-back" } else { "mid-rollout" });
                }
                if a.last_progress.as_ref() != Some(&progress) {
                    a.quiet_polls = 0;
                    self.emit(
                        report,
                        Event::Progress { service: request.service.clone(), rolling_back: a.rolling_back, progress: progress.clone() },
                    );
                    a.last_progress = Some(progress.clone());
                } else if now - a.started >= 10_000 {
                    // Quiet looks during the fast start do not count: the back-off starts
                    // at 1 s when the fast start ends.
                    a.quiet_polls += 1;
                }
                let interval = poll_interval(Duration::from_millis((now - a.started).max(0) as u64), Some(&progress), a.quiet_polls);
                a.next_poll = now + interval.as_millis() as i64;
                let known = (report.ecs_deployment_id.clone(), report.rollback_deployment_id.clone());
                if a.rolling_back {
                    report.rollback_deployment_id = a.watch.deployment_id.clone();
                } else {
                    report.ecs_deployment_id = a.watch.deployment_id.clone().or(report.ecs_deployment_id.take());
                }
                if known != (report.ecs_deployment_id.clone(), report.rollback_deployment_id.clone()) {
                    self.observer.record(report);
                }
                false
            }
            Assessment::Succeeded(progress) if !a.rolling_back && !request.bake.is_zero() && a.bake_until.is_none_or(|t| now < t) => {
                // COMPLETED, but done means stable: watch the new tasks for the bake period.
                if a.bake_until.is_none() {
                    a.bake_until = Some(now + request.bake.as_millis() as i64);
                    a.baked_running = Some(progress.new_running);
                    report.ecs_deployment_id = a.watch.deployment_id.clone();
                    self.emit(report, Event::Progress { service: request.service.clone(), rolling_back: false, progress });
                    let detail =
                        Detail::Baking { ecs_deployment_id: a.watch.deployment_id.clone(), bake_ms: request.bake.as_millis() as u64 };
                    self.phase(report, Phase::Baking, detail);
                }
                let until = a.bake_until.unwrap_or(now);
                a.next_poll = (now + BAKE_POLL_MS).min(until).max(now + 1);
                false
            }
            Assessment::Succeeded(progress) => {
                self.emit(report, Event::Progress { service: request.service.clone(), rolling_back: a.rolling_back, progress });
                if a.rolling_back {
                    kill_point("rolled-back");
                    report.rollback_deployment_id = a.watch.deployment_id.clone();
                    let (cause, reason) = a.failure.clone().unwrap_or((FailureCause::Platform, "failed".into()));
                    self.finish(
                        report,
                        Outcome::FailedRolledBack,
                        Some(cause),
                        Some(format!("{reason}; rolled back to {}", short_task_definition(&a.previous))),
                    );
                } else {
                    report.ecs_deployment_id = a.watch.deployment_id.clone();
                    let note = self.move_environment_tag(request, report).await;
                    self.finish(report, Outcome::Succeeded, None, note);
                }
                self.observer.record(report);
                true
            }
            Assessment::Failed { cause, reason, ecs_rollback } => {
                let ecs = match ecs_rollback {
                    Some(id) => EcsRollback::Started(id),
                    None => {
                        match service.primary().filter(|p| p.task_definition == a.previous && Some(&p.id) != a.watch.deployment_id.as_ref())
                        {
                            // ECS already put the previous revision back.
                            Some(p) if matches!(cause, FailureCause::CircuitBreaker | FailureCause::Replaced) => {
                                EcsRollback::Started(p.id.clone())
                            }
                            // The circuit breaker failed ours and will roll back by itself:
                            // rolling back too would race it.
                            _ if cause == FailureCause::CircuitBreaker && service.circuit_breaker_rollback => EcsRollback::Expected,
                            _ => EcsRollback::None,
                        }
                    }
                };
                self.fail(request, report, a, cause, reason, ecs).await
            }
        }
    }

    /// A platform call, given until `deadline` (or [`LATE_CALL_MS`] when that has passed):
    /// an endpoint that stalls must not hold the watch past it. The SDK bounds each call
    /// too, but by its own clock, not the deploy's.
    async fn before<T>(
        &self,
        deadline: i64,
        operation: &str,
        call: impl Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, PlatformError> {
        let allowed = (deadline - self.clock.now_ms()).max(LATE_CALL_MS);
        let call = std::pin::pin!(call);
        let timer = std::pin::pin!(self.clock.sleep(Duration::from_millis(allowed as u64)));
        match futures::future::select(call, timer).await {
            futures::future::Either::Left((result, _)) => result,
            futures::future::Either::Right(_) => {
                Err(PlatformError::new(operation, None, format!("no answer before the deadline (waited {}s)", (allowed + 999) / 1000)))
            }
        }
    }

    /// Reads the stopped tasks of our deployment and reports each new failure (a scale-in
    /// stop says nothing about the version, so only failures are reported and quoted).
    /// Returns the stopped tasks not seen before; None when there is no deployment to ask
    /// about or the call failed (the next look tries again).
    async fn read_stopped(&self, request: &Request, report: &ServiceReport, a: &mut Active) -> Option<Vec<StoppedTask>> {
        let id = a.watch.deployment_id.clone()?;
        let stopped = match self.before(a.watch_deadline(), "ecs:ListTasks", self.ecs.stopped_tasks(&request.cluster, &id)).await {
            Ok(stopped) => stopped,
            Err(e) => {
                tracing::debug!("cannot list stopped tasks: {e}");
                return None;
            }
        };
        let ours: Vec<StoppedTask> = stopped.into_iter().filter(|t| t.task_definition == a.watch.task_definition).collect();
        let fresh = a.watch.take_new_stopped(ours);
        for task in fresh.iter().filter(|t| crate::rolling::is_task_failure(t)) {
            let reason = stop_reason(task);
            a.last_stop = Some(reason.clone());
            self.emit(report, Event::TaskStopped { service: request.service.clone(), task: task.arn.clone(), reason });
        }
        Some(fresh)
    }

    /// The new tasks' health for the progress line, only when the observer shows it and
    /// new tasks run: every `HEALTH_INTERVAL_MS`, and at once when the rollout moved, since
    /// tasks turning healthy is what moves it (old tasks stop, the deployment completes).
    async fn task_health(&self, request: &Request, a: &mut Active, progress: &Progress, now: i64) -> Option<TaskHealth> {
        let deployment = a.watch.deployment_id.as_deref()?;
        if !self.observer.wants_task_health() || progress.new_running == 0 {
            return None;
        }
        let since = a.health_read_at.map_or(i64::MAX, |at| now - at);
        let moved = a.health_read_for.as_ref() != Some(progress);
        if since >= HEALTH_INTERVAL_MS || moved {
            a.health_read_at = Some(now);
            a.health_read_for = Some(progress.clone());
            match self.ecs.task_health(&request.cluster, deployment).await {
                Ok(health) => a.health = Some(health),
                Err(e) => tracing::debug!("cannot read task health: {e}"),
            }
        }
        a.health
    }

    /// After a rolling deploy: point the environment's registry tag at what now runs, so
    /// whatever names `repo:ENV` (Terraform, a person) sees the deployed digest. A failure
    /// here does not undo the deploy; it is said in the report.
    async fn move_environment_tag(&self, request: &Request, report: &ServiceReport) -> Option<String> {
        let (Some(tag), Some(digest), Strategy::Rolling) = (&request.image_tag, &report.to_digest, request.strategy) else {
            return None;
        };
        match self.registry.move_tag(&request.repository, digest, tag).await {
            Ok(()) => {
                let detail =
                    Detail::EnvironmentTagMoved { repository: request.repository.clone(), tag: tag.clone(), digest: digest.clone() };
                self.phase(report, Phase::Done, detail);
                None
            }
            Err(e) => {
                let detail =
                    Detail::EnvironmentTagNotMoved { repository: request.repository.clone(), tag: tag.clone(), error: e.to_string() };
                self.phase(report, Phase::Done, detail);
                // The report's reason says it too: the deploy succeeded with a warning.
                Some(format!("deployed, but the environment tag {}:{tag} was not moved: {e}", request.repository))
            }
        }
    }

    /// Handles a failure: starts the rollback of a forward deploy, or ends a failed rollback.
    async fn fail(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        a: &mut Active,
        cause: FailureCause,
        reason: String,
        ecs_rollback: EcsRollback,
    ) -> bool {
        if a.rolling_back {
            let (first_cause, first_reason) = a.failure.clone().unwrap_or((cause, reason.clone()));
            self.finish(
                report,
                Outcome::RollbackFailed,
                Some(first_cause),
                Some(format!("{first_reason}; the rollback failed too: {reason}")),
            );
            self.observer.record(report);
            return true;
        }
        let reason = match (&a.last_stop, cause) {
            (Some(stop), FailureCause::CircuitBreaker | FailureCause::Timeout | FailureCause::Replaced) => {
                format!("{reason} (last stopped task: {stop})")
            }
            _ => reason,
        };
        a.failure = Some((cause, reason.clone()));
        let data = json!({"cause": cause, "reason": reason});
        let Some(seq) = self.journal_started(request, report, names::ROLL_BACK, &data).await else { return true };
        if let Some((tag, previous)) = a.tag_restore.clone().filter(|_| !a.tag_restored) {
            // env-tag: the tag goes back first, so the rollback's tasks pull the old digest.
            match self.restore_tag(request, report, &tag, &previous).await {
                Ok(()) => {
                    a.tag_restored = true;
                    let detail = Detail::TagRestored { repository: request.repository.clone(), tag: tag.clone(), to: previous.clone() };
                    self.phase(report, Phase::RollingBack, detail)
                }
                Err(e) => {
                    let reason = format!("{reason}; moving {}:{tag} back to {previous} failed: {e}", request.repository);
                    self.finish(report, Outcome::RollbackFailed, Some(cause), Some(reason));
                    self.observer.record(report);
                    return true;
                }
            }
        }
        let now = self.clock.now_ms();
        let how;
        let method;
        let watch = if let EcsRollback::Started(rollback) = &ecs_rollback {
            method = "ecs";
            how = RollbackMethod::Ecs { ecs_deployment_id: rollback.clone() };
            Watch::new(Some(rollback.clone()), a.previous.clone(), a.started, request.max_task_failures)
        } else if ecs_rollback == EcsRollback::Expected {
            method = "ecs_circuit_breaker";
            how = RollbackMethod::CircuitBreaker;
            self.ecs_reactivation(a, Watch::new(None, a.previous.clone(), a.started, request.max_task_failures))
        } else if cause == FailureCause::Replaced || cause == FailureCause::ServiceGone {
            // Someone else's deployment took over, or the service is gone: rolling back would
            // fight them. Report, and leave the service as it is.
            self.finish(
                report,
                Outcome::RollbackFailed,
                Some(cause),
                Some(format!("{reason}; not rolled back (the service was changed by someone else)")),
            );
            self.observer.record(report);
            return true;
        } else {
            let in_progress = a.watch.deployment_id.is_some();
            let stopped = in_progress && matches!(self.ecs.roll_back_in_progress(&request.cluster, &request.ecs_service).await, Ok(true));
            if stopped {
                method = "stop_service_deployment";
                how = RollbackMethod::StopServiceDeployment;
                self.ecs_reactivation(a, Watch::new(None, a.previous.clone(), now, request.max_task_failures))
            } else {
                match self.update_service_back(request, a).await {
                    Ok(id) => {
                        method = "update_service";
                        how = RollbackMethod::UpdateService;
                        Watch::new(id, a.previous.clone(), now, request.max_task_failures)
                    }
                    Err(e) => {
                        self.finish(
                            report,
                            Outcome::RollbackFailed,
                            Some(cause),
                            Some(format!("{reason}; the rollback could not start: {e}")),
                        );
                        self.observer.record(report);
                        return true;
                    }
                }
            }
        };
        kill_point(if method.starts_with("ecs") { "ecs-rollback" } else { "rollback-started" });
        self.journal_done(
            report,
            seq,
            &json!({"cause": cause, "reason": reason, "method": method, "ecs_deployment_id": watch.deployment_id}),
        );
        a.ecs_rollback_deadline = (ecs_rollback == EcsRollback::Expected).then(|| self.clock.now_ms() + ECS_ROLLBACK_GRACE_MS);
        self.watch_rollback(request, report, a, watch, Detail::RollingBack { reason, to_task_definition: a.previous.clone(), method: how });
        false
    }

    /// The circuit breaker failed ours but started no rollback within the grace period
    /// (ECS has no COMPLETED deployment to return to): ferry rolls back itself. Returns
    /// true when the deploy is over (the rollback could not start).
    async fn take_over_rollback(&self, request: &Request, report: &mut ServiceReport, a: &mut Active) -> bool {
        a.ecs_rollback_deadline = None;
        let (cause, reason) = a.failure.clone().unwrap_or((FailureCause::CircuitBreaker, "failed".into()));
        let data = json!({"cause": cause, "reason": reason, "method": "update_service"});
        let Some(seq) = self.journal_started(request, report, names::ROLL_BACK, &data).await else { return true };
        match self.update_service_back(request, a).await {
            Ok(id) => {
                self.journal_done(
                    report,
                    seq,
                    &json!({"cause": cause, "reason": reason, "method": "update_service", "ecs_deployment_id": id}),
                );
                let detail = Detail::RollingBack {
                    reason,
                    to_task_definition: a.previous.clone(),
                    method: RollbackMethod::UpdateServiceAfterGrace { grace_ms: ECS_ROLLBACK_GRACE_MS as u64 },
                };
                let watch = Watch::new(id, a.previous.clone(), self.clock.now_ms(), request.max_task_failures);
                self.watch_rollback(request, report, a, watch, detail);
                false
            }
            Err(e) => {
                self.finish(report, Outcome::RollbackFailed, Some(cause), Some(format!("{reason}; the rollback could not start: {e}")));
                self.observer.record(report);
                true
            }
        }
    }

    /// UpdateService back to the previous revision; the id of the deployment it created,
    /// when the answer shows it.
    async fn update_service_back(&self, request: &Request, a: &Active) -> Result<Option<String>, PlatformError> {
        let service = self.ecs.update_service(&request.cluster, &request.ecs_service, &a.previous, a.tag_restore.is_some()).await?;
        Ok(service
            .deployments
            .iter()
            .filter(|d| {
                d.task_definition == a.previous
                    && d.status == "PRIMARY"
                    && !a.earlier_deployments.contains(&d.id)
                    && a.watch.deployment_id.as_ref() != Some(&d.id)
            })
            .max_by_key(|d| d.created_at)
            .map(|d| d.id.clone()))
    }

    /// A watch for a rollback ECS performs itself (circuit breaker, StopServiceDeployment
    /// ROLLBACK): ECS reactivates the last COMPLETED deployment, an earlier one, which the
    /// watch may then adopt. Not for ferry's own UpdateService rollback, which creates a new
    /// deployment while the old one stays ACTIVE.
    fn ecs_reactivation(&self, a: &Active, mut watch: Watch) -> Watch {
        let failed = a.watch.deployment_id.clone();
        watch.may_reactivate(a.earlier_deployments.iter().filter(|id| Some(*id) != failed.as_ref()).cloned());
        watch
    }

    /// Switches the service's watch to its rollback, whose timeout starts now (starting it
    /// can take a while: the SDK retries).
    fn watch_rollback(&self, request: &Request, report: &ServiceReport, a: &mut Active, mut watch: Watch, detail: Detail) {
        self.phase(report, Phase::RollingBack, detail);
        let now = self.clock.now_ms();
        watch.events_since = now;
        watch.inherit(&a.watch);
        watch.never_adopt(a.earlier_deployments.iter().cloned().chain(a.watch.deployment_id.clone()));
        a.watch = watch;
        a.rolling_back = true;
        a.deadline = now + request.rollback_timeout.as_millis() as i64;
        a.started = now;
        a.next_poll = now + 250;
        a.last_progress = None;
        a.quiet_polls = 0;
        a.health = None;
        a.health_read_at = None;
        a.health_read_for = None;
    }
}

/// What preflight reads about clusters and services, fetched in batches for the whole run.
#[derive(Default)]
struct Snapshot {
    clusters: BTreeMap<String, Result<Option<ClusterInfo>, PlatformError>>,
    services: BTreeMap<(String, String), Result<Option<ServiceInfo>, PlatformError>>,
}

/// Whether ECS itself is rolling a failed deployment back.
#[derive(Clone, Debug, PartialEq, Eq)]
enum EcsRollback {
    /// No: ferry rolls back.
    None,
    /// Yes, with this deployment.
    Started(String),
    /// The circuit breaker will; its deployment is adopted when it appears.
    Expected,
}

/// A refusal in preflight: the reason, and whether it was the user's input.
struct Refusal {
    reason: String,
    invalid_input: bool,
    /// A platform call failed, rather than the platform's state refusing the deploy.
    platform: bool,
}

impl Refusal {
    fn input(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), invalid_input: true, platform: false }
    }
    fn state(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), invalid_input: false, platform: false }
    }
    fn platform(e: PlatformError) -> Self {
        Refusal { reason: e.to_string(), invalid_input: false, platform: true }
    }
}

/// The tags ferry puts on a revision it registers, for traceability in AWS itself.
fn ferry_tags(request: &Request, deployment_id: &str, version: &str, digest: &str) -> Vec<(String, String)> {
    let mut tags = vec![
        ("ferry:version".to_string(), version.to_string()),
        ("ferry:digest".to_string(), digest.to_string()),
        ("ferry:deployment".to_string(), deployment_id.to_string()),
        ("ferry:env".to_string(), request.environment.clone()),
        ("ferry:deployed-by".to_string(), tag_value(&request.trace.who)),
    ];
    if let Some(commit) = &request.trace.commit {
        tags.push(("ferry:commit".into(), tag_value(commit)));
    }
    if let Some(message) = &request.trace.commit_message {
        tags.push(("ferry:commit-message".into(), tag_value(message)));
    }
    tags
}

/// AWS tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters.
pub fn tag_value(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or("");
    first_line
        .chars()
        .map(|c| if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) { c } else { '_' })
        .take(256)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Merges ferry's tags into the definition's `tags`: ferry's win, the template's others stay.
fn set_tags(definition: &mut Value, ours: Vec<(String, String)>) {
    let Some(object) = definition.as_object_mut() else { return };
    let mut tags: Vec<Value> = object
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter().filter(|t| !t.get("key").and_then(Value::as_str).is_some_and(|k| k.starts_with("ferry:"))).cloned().collect()
        })
        .unwrap_or_default();
    tags.extend(ours.into_iter().map(|(key, value)| serde_json::json!({"key": key, "value": value})));
    object.insert("tags".into(), Value::Array(tags));
}

/// The definition without ferry's own tags, which differ on every deploy by design.
fn without_ferry_tags(definition: &Value) -> Value {
    let mut copy = definition.clone();
    set_tags(&mut copy, Vec::new());
    if copy.get("tags").and_then(Value::as_array).is_some_and(Vec::is_empty)
        && let Some(object) = copy.as_object_mut()
    {
        object.remove("tags");
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_event_is_data_a_consumer_reads_without_parsing_prose() {
        let event = Event::Phase {
            service: "web".into(),
            phase: Phase::RollingBack,
            detail: Detail::RollingBack {
                reason: "2 tasks of the new deployment stopped".into(),
                to_task_definition: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3".into(),
                method: RollbackMethod::StopServiceDeployment,
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["event"], "phase");
        assert_eq!(json["phase"], "rolling_back");
        assert_eq!(json["what"], "rolling_back");
        assert_eq!(json["method"]["by"], "stop_service_deployment");
        assert_eq!(json["to_task_definition"], "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3");
        assert!(json.get("message").is_none(), "no prose in the engine's events: {json}");
    }

    #[test]
    fn tag_values_keep_to_what_aws_allows() {
        assert_eq!(tag_value("Fix: the (checkout) page #123\n\nlong body"), "Fix: the _checkout_ page _123");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
    }

    #[test]
    fn ferry_tags_replace_old_ones_and_keep_the_templates() {
        let mut td = serde_json::json!({"tags": [{"key": "team", "value": "a"}, {"key": "ferry:version", "value": "old"}]});
        set_tags(&mut td, vec![("ferry:version".into(), "new".into())]);
        assert_eq!(td["tags"], serde_json::json!([{"key": "team", "value": "a"}, {"key": "ferry:version", "value": "new"}]));
        assert_eq!(without_ferry_tags(&td)["tags"], serde_json::json!([{"key": "team", "value": "a"}]));
    }
}
