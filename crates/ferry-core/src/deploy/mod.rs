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
use crate::journal::{self, Facts, Interrupted, JournalError, Settlement, StepState, kill_point, names};
use crate::platform::{
    AutoScaling, Clock, ClusterInfo, Ecs, Elb, Logs, PlatformError, Registry, RunningTask, Secrets, ServiceEvent, ServiceInfo, StoppedTask,
    TargetHealthInfo, TaskDefinitionInfo, TaskHealth,
};
use crate::rolling::{Assessment, FailureCause, Progress, Watch, poll_interval, short_task_definition, stop_reason};
use crate::strategy::{self, Desired, Observed, Step};
use crate::target_health::TargetWatch;
use crate::taskdef::{self, Change};
use crate::template::{self, Variables};

mod execute;
mod hooks;
mod native;
mod preflight;
mod rollback;
mod shift;
mod task_revision;
mod watch;

use hooks::HookVerdict;
pub use hooks::hook_started_by;
use rollback::*;
pub use shift::{DRAIN_WAIT, Family, Live, VersionCleanUp, clean_up_versions, family_services, live_version};
pub use task_revision::TaskRevision;
use watch::*;

/// At most this many services are preflighted, or started, at once: enough to overlap the
/// calls' latency, few enough to stay inside ECS's request-rate budget.
pub const MAX_PARALLEL: usize = 8;

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
    /// `ferry deploy --force`: when the service already runs what is desired (a no-op
    /// deploy), make a new ECS deployment of its running revision (UpdateService
    /// `forceNewDeployment`) instead of changing nothing. No effect when something changed.
    pub force: bool,
    /// A one-off task of the new revision run before UpdateService (`before_deploy`; a
    /// migration). None for rollbacks.
    pub before_deploy: Option<crate::config::Hook>,
    /// A one-off task of the new revision run once the deployment completed and baked
    /// (`after_deploy`; smoke tests); its failure rolls the deploy back. None for rollbacks.
    pub after_deploy: Option<crate::config::Hook>,
    /// blue-green, canary and linear: the listener rules traffic moves on and how it moves
    /// (`[services.NAME.blue_green]`, rendered for the environment). None for the other
    /// strategies.
    pub traffic: Option<Traffic>,
    /// ecs-native: the checks run at each PAUSE lifecycle hook (`[services.NAME.ecs_native]`).
    /// None for the other strategies, and for ecs-native without the table (the HTTP probes
    /// through the test listener still run).
    pub ecs_native: Option<crate::config::EcsNativeConfig>,
    /// `ferry deploy --detach`: stop once the ECS deployment is started and journaled (rolling,
    /// env-tag, ecs-native), leaving it in progress in the ledger for `ferry watch`.
    pub detach: bool,
    /// The CloudWatch alarms of the service's alarm gate (`alarms`, rendered for the
    /// environment): one in ALARM while the deploy runs, shifts traffic or bakes fails it,
    /// and it is rolled back. Empty: no alarm gate.
    pub alarms: Vec<String>,
    /// This deploy skipped its environment's promotion gates (`promote_from`, `soak`,
    /// `approval`): `WHO: REASON`, recorded in the ledger and as the revision's
    /// `ferry:gates-skipped` tag.
    pub gates_skipped: Option<String>,
}

/// How a blue-green, canary or linear deploy moves traffic, from `[services.NAME.blue_green]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Traffic {
    /// The production and preparing listener rules (or listeners), ARNs.
    pub production_rule: String,
    pub preparing_rule: String,
    /// Healthy targets the new version needs before its checks; None: as many as the live
    /// version's desired count.
    pub healthy: Option<u32>,
    pub shift: crate::strategy::blue_green::Shift,
    /// Retired versions kept for an instant rollback.
    pub keep: u32,
    /// A command that must exit 0 after the HTTP checks through the preparing rule
    /// (`check_command`).
    pub check_command: Option<Vec<String>>,
    /// Text and JSON values every answer of the checks must hold (`check_body`, `check_json`).
    pub check_body: Option<String>,
    pub check_json: BTreeMap<String, String>,
    /// Roll the deployment back at once, for this reason: `ferry rollback` of a deploy that
    /// a dead run left in the middle of its traffic shift (resumed under its id).
    pub roll_back: Option<String>,
}

/// Which hook of a deploy (`[services.NAME.before_deploy]` or `after_deploy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    BeforeDeploy,
    AfterDeploy,
}

impl HookKind {
    /// As in ferry.toml and the journal: `before_deploy`, `after_deploy`.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::BeforeDeploy => "before_deploy",
            HookKind::AfterDeploy => "after_deploy",
        }
    }
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
    /// The service already ran what was desired (the task definition's normalized diff was
    /// empty and the digest the same): nothing was registered or changed ("already running").
    Unchanged,
    /// `--detach`: the ECS deployment is started and recorded, and ferry stopped there; the
    /// ledger keeps the deployment in progress and `ferry watch` follows it to its end (it
    /// resumes the deployment, as the same deploy run again would).
    Detached,
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
            Outcome::Planned | Outcome::Succeeded | Outcome::Unchanged | Outcome::Detached => ExitKind::Ok,
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
    /// What preflight could not check with the environment's credentials, one
    /// `field: value (why)` each: another registry's image, a secret or log group of another
    /// region or account, a lookup those credentials are denied, that the IAM roles exist.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<String>,
    /// The ELBv2 target groups of the service (its `loadBalancers`), as preflight found
    /// them: where the prober looks for the production listener.
    #[serde(skip)]
    pub target_groups: Vec<String>,
    /// The prober's figures (requests sent through the production listener while the
    /// deploy ran, failed, latency percentiles), for a service behind a load balancer that
    /// was probed — or why it could not be (`skipped`). None when not probed (no load
    /// balancer, probing turned off, nothing deployed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<crate::probe::ProbeStats>,
    /// The request's `gates_skipped`: who skipped the environment's promotion gates, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates_skipped: Option<String>,
}

impl ServiceReport {
    pub fn exit_kind(&self) -> ExitKind {
        if self.outcome == Outcome::Refused && self.invalid_input {
            return ExitKind::InvalidInput;
        }
        if self.outcome == Outcome::Error && self.cause == Some(FailureCause::Ledger) {
            return ExitKind::Ledger;
        }
        // `ferry rollback` of a traffic shift a dead run left: rolled back is what was asked.
        if self.outcome == Outcome::FailedRolledBack && self.cause == Some(FailureCause::Requested) {
            return ExitKind::Ok;
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
    /// A `before_deploy` or `after_deploy` task started, or ended.
    Hook,
    /// blue-green, canary, linear: a step of the traffic shift (a version's service and
    /// target group, the rules' weights, the checks, the old version's retirement).
    Traffic,
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
    /// A line a hook's task printed (CloudWatch Logs, where the awslogs driver wrote it).
    TaskLog { service: String, task: String, container: String, timestamp: i64, message: String },
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
            | Event::TaskLog { service, .. }
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
    /// Preflight passed and the service already runs what is desired: the rendered task
    /// definition equals `task_definition` (its ARN; normalized diff empty) and the digest is
    /// the same. Nothing will change, unless `force`: then a new deployment of it.
    PreflightUnchanged { task_definition: String, force: bool },
    /// The template renders something ECS ignores or will refuse (read-only members).
    TemplateWarning { template: String, warning: String },
    /// Preflight could not check these with the environment's credentials (`field: value
    /// (why)` each): images in registries ferry does not reach, secrets and log groups of
    /// another region or account or denied to these credentials, the IAM roles' existence.
    /// The deploy goes on.
    NotChecked { items: Vec<String> },
    /// The service's lock is held as `locked_as` (this deployment's id, or an atomic
    /// promotion's for its undo); `resumed_at` is the step a
    /// dead run of it stopped at, `superseded` a dead run's deployment of another target
    /// that is closed as interrupted.
    Locked { environment: String, locked_as: String, resumed_at: Option<String>, superseded: Option<Superseded> },
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
    /// A hook's task started (`adopted`: a dead run had started it; this run waits for it).
    /// `logs` says where its output is read from (`group stream`), None when it does not
    /// log with awslogs (its output is then not shown).
    HookStarted { hook: HookKind, task_arn: String, command: Vec<String>, adopted: bool, logs: Option<String> },
    /// A hook's task is still running, `running_ms` after it started: said every minute, so
    /// a long migration is not mistaken for a hung deploy (CI systems end jobs that print
    /// nothing for a while).
    HookRunning { hook: HookKind, task_arn: String, running_ms: u64 },
    /// A hook's task stopped: how it ended, after how long (ms).
    HookFinished { hook: HookKind, task_arn: String, ending: crate::one_off::Ending, duration_ms: u64 },
    /// blue-green, canary, linear: a step done or (waiting steps) under way, as the step
    /// machine named it ([`crate::strategy::blue_green::Step`]).
    Traffic { step: crate::strategy::blue_green::Step },
    /// The checks through the preparing rule: passed or not, and what was checked or why
    /// they failed.
    Checked { passed: bool, summary: String },
    /// ecs-native: the service deployment (ARN) is at lifecycle stage `stage`
    /// (RECONCILE_SERVICE … CLEAN_UP), with the new revision given `production_percent` of
    /// production and `test_percent` of test traffic (DescribeServiceDeployments).
    LifecycleStage { service_deployment: String, stage: String, production_percent: Option<f64>, test_percent: Option<f64> },
    /// ecs-native: a PAUSE lifecycle hook awaits an answer at `stage`; ECS takes its timeout
    /// action at `expires_at` (epoch ms). ferry runs the checks, then answers.
    LifecycleHookWaiting { hook_id: String, stage: String, expires_at: Option<i64>, approval: bool },
    /// ecs-native: the checks at a PAUSE hook (HTTP probes through the test listener, the
    /// check command): passed or not, and what was checked or why they failed.
    LifecycleHookChecked { stage: String, passed: bool, summary: String },
    /// `--detach`: the ECS deployment is started and recorded; ferry stops watching here.
    /// `ferry watch ENVIRONMENT SERVICE` follows it (and answers its hooks).
    Detached { ecs_deployment_id: Option<String> },
    /// ecs-native: ferry answered the hook (ContinueServiceDeployment `action`: CONTINUE or
    /// ROLLBACK).
    LifecycleHookAnswered { hook_id: String, stage: String, action: String },
    /// A target group the clean-up would delete is still in use (a rule ferry is not
    /// configured with forwards to it): left as it is, and why (ELBv2's message).
    TargetGroupLeft { target_group: String, why: String },
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
    /// ecs-native: ferry answered a lifecycle hook ROLLBACK; ECS rolls back, and its
    /// deployment is adopted.
    LifecycleHook,
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
    /// recorded as interrupted, with the settlement's reason, revision and ECS deployment.
    fn settle(&self, interrupted: &Interrupted, settlement: &Settlement) -> Result<(), JournalError> {
        let _ = (interrupted, settlement);
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
    /// The service already runs this revision with the desired digest (a no-op deploy):
    /// nothing to do, or with `force` a new deployment of it.
    Running {
        definition: TaskDefinitionInfo,
        force: bool,
    },
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
pub struct Run<'a, E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> {
    pub ecs: &'a E,
    /// The load balancers behind which services run: their target groups' health.
    pub elb: &'a B,
    pub registry: &'a R,
    pub clock: &'a C,
    pub locks: &'a L,
    pub observer: &'a O,
    /// CloudWatch Logs: that the awslogs driver's groups exist, and what hook tasks printed.
    pub logs: &'a G,
    /// SSM Parameter Store and Secrets Manager: that the containers' `secrets` exist.
    pub secrets: &'a S,
    /// Application Auto Scaling: what blue-green moves from the old version to the new.
    pub scaling: &'a A,
    /// The checks of blue-green, canary and linear deploys that need more than AWS's
    /// answers (HTTP probes): [`NoGates`] when there are none.
    pub gates: &'a dyn Gates,
}

/// What a gate of a blue-green, canary or linear deploy concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateVerdict {
    /// Passed, with what was checked (`10 requests through the preparing listener, all 200`).
    Passed(String),
    /// Failed, and why.
    Failed(String),
    /// Not checked, and why (probing off, no listener ferry can send to); the deploy goes on
    /// on target health alone, and says so.
    Skipped(String),
}

/// The gates ferry-app runs for a traffic-shifting deploy: HTTP probes through the
/// preparing listener before any production traffic, and the production prober's failures
/// while traffic moves.
pub trait Gates: Send + Sync {
    /// Probes `check.target_group` through the preparing rule (a listener rule or listener
    /// ARN) with the service's probe settings, then runs its `check_command` if it has one.
    fn check_preparing<'a>(&'a self, check: &'a PreparingCheck) -> std::pin::Pin<Box<dyn Future<Output = GateVerdict> + Send + 'a>>;
    /// How many of `deployment_id`'s production probe requests failed at or after
    /// `since_ms`; None when it is not probed.
    fn failed_since(&self, deployment_id: &str, since_ms: i64) -> Option<u64>;
    /// The states of the CloudWatch alarms `names` (an alarm that does not exist is absent).
    /// Err when they cannot be read, and why (by default: nothing reads alarms here).
    fn alarms<'a>(&'a self, names: &'a [String]) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<AlarmReading>, String>> + Send + 'a>> {
        Box::pin(async move { Err(format!("CloudWatch alarms ({}) are not read by this run", names.join(", "))) })
    }
}

/// A CloudWatch alarm's state as the alarm gate reads it (DescribeAlarms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmReading {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// `StateReason`.
    pub reason: String,
}

/// What the checks through the preparing rule check.
#[derive(Clone, Debug)]
pub struct PreparingCheck {
    pub environment: String,
    /// ferry's name of the service.
    pub service: String,
    /// The preparing rule or listener (ARN).
    pub preparing_rule: String,
    /// The new version's target group (ARN).
    pub target_group: String,
    /// `check_command`, when configured.
    pub command: Option<Vec<String>>,
    /// `check_body` and `check_json`.
    pub body: Option<String>,
    pub json: BTreeMap<String, String>,
}

/// No gates beyond target health (tests of the engine; `ferry plan`).
pub struct NoGates;

impl Gates for NoGates {
    fn check_preparing<'a>(&'a self, _check: &'a PreparingCheck) -> std::pin::Pin<Box<dyn Future<Output = GateVerdict> + Send + 'a>> {
        Box::pin(async { GateVerdict::Skipped("no HTTP checks configured".into()) })
    }
    fn failed_since(&self, _deployment_id: &str, _since_ms: i64) -> Option<u64> {
        None
    }
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// Preflight only: what each service would become, and the diff. Changes nothing. A
    /// service that already runs what is desired ends [`Outcome::Unchanged`], the others
    /// [`Outcome::Planned`].
    pub async fn plan(&self, requests: &[Request]) -> Vec<ServiceReport> {
        let mut reports: Vec<ServiceReport> = requests.iter().map(|r| self.report_for(r)).collect();
        let prepared = self.preflight_all(requests, &mut reports, vec![None; requests.len()]).await;
        for (report, prepared) in reports.iter_mut().zip(prepared) {
            if let Some(prepared) = prepared {
                // A no-op deploy plans no change: the service already runs it.
                let unchanged = matches!(prepared.target, Target::Running { force: false, .. });
                report.outcome = if unchanged { Outcome::Unchanged } else { Outcome::Planned };
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
            Some(dead) => self.observer.settle(dead, &dead.settle(&prepared.current, &report.deployment_id)),
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
            locked_as: request.lock_id().to_string(),
            resumed_at: prepared.resumed.as_ref().map(Interrupted::stopped_at),
            superseded: prepared
                .supersedes
                .as_ref()
                .map(|dead| Superseded { deployment_id: dead.deployment_id.clone(), stopped_at: dead.stopped_at() }),
        };
        self.phase(report, Phase::Locked, detail);
        true
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
            not_checked: Vec::new(),
            target_groups: Vec::new(),
            probe: None,
            gates_skipped: r.gates_skipped.clone(),
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
}
