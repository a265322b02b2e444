//! Everything ferry local knows, per account and region, and how it survives a restart.
//!
//! The control plane (the API handlers) and the data plane (scheduler and task runtime)
//! share one `State` behind a mutex; nobody holds the lock across an await.
//!
//! Durability follows what a client of AWS may assume: an answered write is never lost.
//! Every successful mutating API call is written to `state.json` in the state directory,
//! durably (a temporary file, fsync, rename, fsync of the directory), *before* it is
//! answered; a write that cannot be persisted is undone and answered 503
//! `ServiceUnavailableException`. What the scheduler and task runtime change on their own
//! (task states, events, counters) is saved shortly after (every 500 ms) and on shutdown:
//! after a crash, tasks come back stopped anyway (as after a host restart). See [`Store`].
//!
//! DynamoDB tables are not in `state.json`: a write to them appends its changes to a journal
//! (fsynced before the answer), so that its cost does not grow with the items stored. See
//! [`journal`].

pub mod cloudwatch;
mod dynamodb;
mod elb;
pub mod journal;
mod logs;
mod native;
mod secrets;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use dynamodb::{DynamoDb, Table};
pub use elb::{HealthCheck, LOCAL_INSTANCE_ID, Listener, LoadBalancer, Rule, Target, TargetGroup};
pub use journal::Journal;
pub use logs::{LogGroup, LogStream};
pub use native::{HookRun, NativeRollout, TrafficPair};
pub use secrets::{Parameter, ParameterVersion, Secret, SecretVersion};

/// The key of an account and region's partition in [`State::partitions`].
pub fn partition_key(account: &str, region: &str) -> String {
    format!("{account}/{region}")
}

/// All partitions (one per account and region).
#[derive(Default, Serialize, Deserialize)]
pub struct State {
    pub partitions: BTreeMap<String, Partition>,
    /// Set by every change; the saver clears it.
    #[serde(skip)]
    pub dirty: bool,
    /// Counts snapshots taken (under the state lock), so the [`Store`] never replaces a
    /// newer snapshot on disk with an older one.
    #[serde(skip)]
    pub generation: u64,
}

impl State {
    pub fn partition(&mut self, account: &str, region: &str) -> &mut Partition {
        self.partitions.entry(partition_key(account, region)).or_insert_with(|| Partition {
            account: account.to_string(),
            region: region.to_string(),
            ..Default::default()
        })
    }

    /// The state saved at `path`; empty when there is none yet. Errors: the file cannot be
    /// read, or is not a saved state.
    pub fn load(path: &Path) -> Result<State, LoadError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| LoadError::Parse { path: path.to_path_buf(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(LoadError::Read { path: path.to_path_buf(), source }),
        }
    }

    /// A snapshot to persist: its generation and its bytes. Clears `dirty`.
    pub fn snapshot(&mut self) -> std::io::Result<(u64, Vec<u8>)> {
        self.generation += 1;
        self.dirty = false;
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        Ok((self.generation, bytes))
    }
}

/// Why the saved state could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{}: {message}", path.display())]
    Journal { path: PathBuf, message: String },
}

/// The state file, written durably and in order, and the DynamoDB journal.
///
/// Snapshots are numbered under the state lock ([`State::snapshot`]); `persist` skips one
/// older than what is already on disk, so the periodic saver (which writes outside the
/// state lock) can never overwrite an acknowledged write with an earlier snapshot.
pub struct Store {
    path: PathBuf,
    persisted: std::sync::Mutex<u64>,
    /// Appended to under the state lock (lock order: state, then journal).
    journal: std::sync::Mutex<Journal>,
}

impl Store {
    pub fn new(state_dir: &Path, journal: Journal) -> Store {
        Store { path: state_file(state_dir), persisted: std::sync::Mutex::new(0), journal: std::sync::Mutex::new(journal) }
    }

    /// The DynamoDB journal (take it with the state lock held).
    pub fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Persists a snapshot taken with [`State::snapshot`] (see [`Store::persist`]).
    pub fn persist_snapshot(&self, snapshot: std::io::Result<(u64, Vec<u8>)>) -> std::io::Result<()> {
        let (generation, bytes) = snapshot?;
        self.persist(generation, &bytes)
    }

    /// Writes snapshot `generation` unless a newer one is already on disk. When this
    /// returns Ok, the bytes (or newer ones) survive a crash of the process or the host.
    ///
    /// Errors: whatever the filesystem says (disk full, read-only, permissions).
    pub fn persist(&self, generation: u64, bytes: &[u8]) -> std::io::Result<()> {
        let mut persisted = self.persisted.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if *persisted >= generation {
            return Ok(());
        }
        write_durably(&self.path, bytes)?;
        *persisted = generation;
        Ok(())
    }
}

/// The temporary file [`write_durably`] writes `path`'s bytes to before the rename: one a
/// crash may leave behind, which a reader of `path` removes.
pub(crate) fn tmp_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("json.tmp")
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same
/// directory, fsync, rename over `path`, fsync of the directory (so the rename itself
/// survives a power loss). A failure leaves the previous file in place.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = tmp_path(path);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

pub fn state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("state.json")
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Partition {
    pub account: String,
    pub region: String,
    pub clusters: BTreeMap<String, Cluster>,
    /// family → revisions, in revision order (revision n at index n-1).
    pub task_definitions: BTreeMap<String, Vec<TaskDefinition>>,
    /// service ARN → service (INACTIVE services stay, as ECS shows them for a while).
    pub services: BTreeMap<String, Service>,
    /// task ARN → task.
    pub tasks: BTreeMap<String, Task>,
    /// resource ARN → tags, for every ECS resource type.
    pub tags: BTreeMap<String, Vec<Tag>>,
    pub repositories: BTreeMap<String, Repository>,
    /// resource id (`service/cluster/name`) → scalable target.
    pub scalable_targets: BTreeMap<String, ScalableTarget>,
    /// CloudWatch Logs: log group name → group (with its streams; their events are in the
    /// event store, `crate::logs::store`).
    #[serde(default)]
    pub log_groups: BTreeMap<String, LogGroup>,
    /// ELBv2: load balancer ARN → load balancer.
    #[serde(default)]
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    /// ELBv2: target group ARN → target group (with its targets).
    #[serde(default)]
    pub target_groups: BTreeMap<String, TargetGroup>,
    /// ELBv2: listener ARN → listener.
    #[serde(default)]
    pub listeners: BTreeMap<String, Listener>,
    /// ELBv2: rule ARN → rule (each listener's default rule included).
    #[serde(default)]
    pub rules: BTreeMap<String, Rule>,
    /// ELBv2: resource ARN → tags (load balancers, target groups, listeners, rules).
    #[serde(default)]
    pub elb_tags: BTreeMap<String, Vec<Tag>>,
    /// SSM Parameter Store: parameter name → parameter (its versions, its tags).
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    /// Secrets Manager: secret name → secret (those scheduled for deletion included).
    #[serde(default)]
    pub secrets: BTreeMap<String, Secret>,
    /// CloudWatch: alarm name → metric alarm (`cloudwatch::alarm_state` reads its state).
    #[serde(default)]
    pub alarms: BTreeMap<String, cloudwatch::MetricAlarm>,
    /// DynamoDB: tables with their items. Not written to `state.json` (see [`journal`]);
    /// read from a `state.json` written before the journal, once.
    #[serde(default, skip_serializing)]
    pub dynamodb: DynamoDb,
}

impl Partition {
    /// A copy of everything but the DynamoDB tables (what a write of another service may
    /// need to undo), in time independent of the items stored.
    pub fn clone_without_dynamodb(&mut self) -> Partition {
        let dynamodb = std::mem::take(&mut self.dynamodb);
        let copy = self.clone();
        self.dynamodb = dynamodb;
        copy
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Cluster {
    pub arn: String,
    pub name: String,
    pub status: String,
    pub settings: Value,
    pub configuration: Option<Value>,
    pub capacity_providers: Vec<String>,
    pub default_capacity_provider_strategy: Value,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: i64,
    pub status: String,
    pub registered_at: f64,
    pub deregistered_at: Option<f64>,
    pub registered_by: String,
    /// The registered definition as the API returns it (request members plus ECS defaults),
    /// without the computed members above.
    pub body: Map<String, Value>,
}

impl TaskDefinition {
    pub fn containers(&self) -> &[Value] {
        self.body.get("containerDefinitions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    pub status: String,
    pub desired_count: i64,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub deployment_configuration: Value,
    pub deployment_controller: Value,
    pub health_check_grace_period_seconds: Option<i64>,
    pub scheduling_strategy: String,
    pub created_at: f64,
    pub created_by: String,
    /// Members ECS stores and echoes without acting on them here (load balancers, network
    /// configuration, placement, service registries, propagateTags, …).
    pub passthrough: Map<String, Value>,
    /// Legacy deployments, PRIMARY first.
    pub deployments: Vec<Deployment>,
    /// Newest first, at most 100, as ECS keeps them.
    pub events: VecDeque<ServiceEvent>,
    /// Newest first.
    pub service_deployments: Vec<ServiceDeployment>,
    pub revisions: Vec<ServiceRevision>,
    /// The last deployment that reached COMPLETED: what a circuit-breaker rollback returns to.
    pub last_completed: Option<Deployment>,
    /// When the scheduler last found the service at steady state (to avoid repeating the event).
    pub steady: bool,
    /// Earliest time the scheduler may launch again after a failed task (ECS throttles
    /// relaunches of failing tasks).
    pub launch_backoff_until: f64,
    pub consecutive_failures: u32,
    /// When application auto scaling last changed desired count (for events).
    pub autoscaling_adjusted_at: Option<f64>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub failed_tasks: i64,
    pub created_at: f64,
    pub updated_at: f64,
    pub launch_type: Option<String>,
    pub network_configuration: Option<Value>,
    pub rollout_state: String,
    pub rollout_state_reason: String,
    /// container name → image digest resolved when the deployment started.
    pub image_digests: BTreeMap<String, String>,
    pub service_deployment_arn: String,
    pub service_revision_arn: String,
    /// Target group of the revision's `loadBalancers` → the group this deployment's tasks
    /// register in instead: a BLUE_GREEN, LINEAR or CANARY deployment's green tasks go to
    /// the alternate target group (`advancedConfiguration.alternateTargetGroupArn`).
    #[serde(default)]
    pub target_groups: BTreeMap<String, String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: f64,
    pub message: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct ServiceDeployment {
    pub arn: String,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub updated_at: f64,
    pub source_revision_arns: Vec<String>,
    pub target_revision_arn: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub deployment_configuration: Value,
    pub rollback: Option<Rollback>,
    pub circuit_breaker_status: String,
    pub failure_count: i64,
    pub threshold: i64,
    /// A BLUE_GREEN, LINEAR or CANARY deployment's progress (`crate::native`).
    #[serde(default)]
    pub native: Option<NativeRollout>,
    /// Its lifecycle hooks, as run so far (`lifecycleHookDetails`).
    #[serde(default)]
    pub hooks: Vec<HookRun>,
    /// The CloudWatch alarms check: `DISABLED`, `MONITORING`, `TRIGGERED` or
    /// `MONITORING_COMPLETE` (empty in state saved before it existed: DISABLED).
    #[serde(default)]
    pub alarms_status: String,
    /// Alarms found in ALARM during the deployment.
    #[serde(default)]
    pub triggered_alarms: Vec<String>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Rollback {
    pub reason: String,
    pub started_at: f64,
    pub service_revision_arn: String,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct ServiceRevision {
    pub arn: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub network_configuration: Option<Value>,
    pub load_balancers: Option<Value>,
    /// (container name, image, digest)
    pub container_images: Vec<(String, String, Option<String>)>,
    pub created_at: f64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Task {
    pub arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub group: String,
    pub started_by: Option<String>,
    pub service_arn: Option<String>,
    pub deployment_id: Option<String>,
    pub last_status: String,
    pub desired_status: String,
    pub launch_type: Option<String>,
    pub created_at: f64,
    pub pull_started_at: Option<f64>,
    pub pull_stopped_at: Option<f64>,
    pub started_at: Option<f64>,
    pub stopping_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub execution_stopped_at: Option<f64>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub health_status: String,
    pub containers: Vec<Container>,
    pub overrides: Value,
    pub network_mode: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub version: i64,
    /// When SIGKILL follows the SIGTERM of a stop (stopTimeout after it).
    pub kill_at: Option<f64>,
    /// Whether this task's failure was already counted against its deployment.
    pub failure_counted: bool,
    /// Whether the scheduler has seen this task healthy (once): the moment it does, with the
    /// circuit breaker's `resetOnHealthyTask`, its deployment's failure count goes back to 0.
    #[serde(default)]
    pub reached_healthy: bool,
    /// The targets ECS registered for this service task in its target groups (ELBv2), each
    /// until it has left its group: what the stop of the task waits for.
    #[serde(default)]
    pub lb_targets: Vec<TaskTarget>,
}

/// A target registered for a service task: `id:port` in the target group
/// `target_group_arn` (see `records::task_targets`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TaskTarget {
    pub target_group_arn: String,
    /// `127.0.0.1` (`ip` target groups) or [`LOCAL_INSTANCE_ID`] (`instance`).
    pub id: String,
    /// The host port bound for the container port the service's load balancer names.
    pub port: i64,
}

impl Task {
    pub fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }
    pub fn is_stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }
    /// Running, and not known to be unhealthy or in a health check that has yet to pass.
    pub fn is_healthy(&self) -> bool {
        self.last_status == "RUNNING"
            && self.desired_status == "RUNNING"
            && self.health_status != "UNHEALTHY"
            && (self.health_status == "HEALTHY" || !self.containers.iter().any(|c| c.has_health_check && c.essential))
    }
}

/// (containerPort, hostPort on 127.0.0.1, protocol)
pub type PortBinding = (i64, u16, String);

#[derive(Clone, Serialize, Deserialize)]
pub struct Container {
    pub arn: String,
    pub name: String,
    pub image: String,
    pub image_digest: Option<String>,
    pub essential: bool,
    pub last_status: String,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub has_health_check: bool,
    pub health_status: String,
    pub bindings: Vec<PortBinding>,
    pub runtime_id: String,
    /// Process group of the running process; None before start and after exit.
    pub pid: Option<u32>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Repository {
    pub arn: String,
    pub name: String,
    pub uri: String,
    pub created_at: f64,
    pub image_tag_mutability: String,
    pub image_scanning_configuration: Value,
    pub encryption_configuration: Value,
    /// digest → image
    pub images: BTreeMap<String, Image>,
    pub tags: Vec<Tag>,
}

impl Repository {
    /// The digest a tag points to.
    pub fn digest_of_tag(&self, tag: &str) -> Option<&str> {
        self.images.iter().find(|(_, i)| i.tags.iter().any(|t| t == tag)).map(|(d, _)| d.as_str())
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Image {
    pub manifest: String,
    pub media_type: String,
    pub tags: Vec<String>,
    pub pushed_at: f64,
    pub size_in_bytes: i64,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct ScalableTarget {
    pub arn: String,
    pub resource_id: String,
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub role_arn: String,
    pub created_at: f64,
    pub suspended_state: Value,
    /// Its scaling policies by name (PutScalingPolicy): stored as given, never executed (no
    /// CloudWatch alarm drives them). Deregistering the target deletes them, as AWS does.
    /// Absent from state files written before policies were emulated.
    #[serde(default)]
    pub policies: BTreeMap<String, ScalingPolicy>,
}

/// One Application Auto Scaling scaling policy of a scalable target.
#[derive(Clone, Serialize, Deserialize)]
pub struct ScalingPolicy {
    pub arn: String,
    pub name: String,
    /// `TargetTrackingScaling`, `StepScaling` or `PredictiveScaling`.
    pub policy_type: String,
    /// The configuration of that type (`TargetTrackingScalingPolicyConfiguration`, ...), as given.
    pub configuration: Value,
    pub created_at: f64,
}
