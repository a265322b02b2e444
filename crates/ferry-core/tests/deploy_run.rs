//! A deploy run driven end to end through in-memory fakes of its ports: a scripted ECS, a
//! registry, a clock whose `sleep` only moves time forward (a ten-minute timeout passes in
//! an instant), a lock table and an observer that keeps everything it is told.
//!
//! Each test scripts how ECS moves the deployment ferry starts (completes, trips the circuit
//! breaker, never finishes, is replaced, has its tasks stop) and checks both what ferry
//! concluded and which calls it made to get there.

// clippy's allow-unwrap-in-tests and allow-expect-in-tests cover #[test] functions and
// #[cfg(test)] code, not the helpers of an integration test crate, which are test code too:
// a panic with a message is how a test helper reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::ExitKind;
use ferry_core::deploy::{Detail, Event, LockRefusal, Locks, Observer, Outcome, Phase, Request, Run, ServiceReport, Source, Trace};
use ferry_core::journal::{Interrupted, JournalError, JournalStep, StepState, names};
use ferry_core::platform::{
    Clock, ClusterInfo, DeploymentInfo, Ecs, Elb, ImageInfo, LogEvent, LogPage, LogStreams, Logs, PlatformError, PlatformResult, Registry,
    RunningTask, Secrets, ServiceEvent, ServiceInfo, ServiceLoadBalancer, StoppedContainer, StoppedTask, TargetGroupInfo, TargetHealthInfo,
    TaskDefinitionInfo, TaskHealth,
};
use ferry_core::rolling::FailureCause;
use ferry_core::template::Variables;
use serde_json::{Value, json};

const CLUSTER: &str = "main";
const REGISTRY_HOST: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
/// The fake clock's start: 2023-11-14, in epoch milliseconds.
const T0: i64 = 1_700_000_000_000;
const DAY_MS: i64 = 86_400_000;
const TEN_MINUTES: Duration = Duration::from_secs(600);

fn td_arn(family: &str, revision: i32) -> String {
    format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:{revision}")
}

fn digest_of(tag: &str) -> String {
    format!("sha256:{:0>64}", tag.replace('.', ""))
}

// ---------------------------------------------------------------------------------------
// The clock
// ---------------------------------------------------------------------------------------

/// Time that moves only when ferry sleeps.
struct FakeClock {
    now: AtomicI64,
}

impl FakeClock {
    fn new() -> Arc<Self> {
        Arc::new(FakeClock { now: AtomicI64::new(T0) })
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    async fn sleep(&self, duration: Duration) {
        let now = self.now.fetch_add(duration.as_millis() as i64, Ordering::SeqCst);
        assert!(now < T0 + DAY_MS, "the run was still going after a fake day: it does not end");
    }
}

// ---------------------------------------------------------------------------------------
// ECS
// ---------------------------------------------------------------------------------------

/// One call made to the fake ECS: the operation, its arguments in words, and when.
#[derive(Clone, Debug)]
struct Call {
    op: &'static str,
    args: Vec<String>,
    at: i64,
}

/// How a deployment moves, one step per DescribeServices that includes its service.
#[derive(Clone, Debug)]
enum Rollout {
    /// COMPLETED on the K-th look.
    CompleteAfter(u32),
    /// All new tasks running `all_running_ms` after creation, COMPLETED at `completed_ms`;
    /// before that nothing changes.
    CompleteAt { all_running_ms: i64, completed_ms: i64 },
    /// IN_PROGRESS forever, nothing changing.
    Never,
    /// FAILED by the circuit breaker on the `after`-th look (with an optional service event
    /// in the same observation); ECS's rollback deployment, on the previous revision,
    /// appears `rollback_delay` looks later (if the service has circuit-breaker rollback).
    CircuitBreaker { after: u32, rollback_delay: u32, event: Option<&'static str> },
    /// COMPLETED on look `complete_after`; on look `fail_after` one of its tasks crashes
    /// (failedTasks + 1, a task short) and ECS starts a replacement: a version that fails
    /// a few seconds after its deployment is done.
    CompleteThenCrash { complete_after: u32, fail_after: u32 },
    /// Someone else's deployment (another revision) becomes PRIMARY on the K-th look.
    ReplacedAfter(u32),
    /// From the `after`-th look on, one task of the deployment stops per look, as listed;
    /// with `complete_after`, the deployment is COMPLETED on that look.
    TasksStop { after: u32, stops: Vec<Stop>, complete_after: Option<u32> },
}

#[derive(Clone, Debug)]
struct Stop {
    /// ECS's stopCode: EssentialContainerExited unless said otherwise.
    code: &'static str,
    reason: &'static str,
    exit_code: Option<i32>,
    container_reason: Option<&'static str>,
}

/// How a service's deployments behave in one test.
#[derive(Clone, Debug)]
struct Script {
    /// Deployments to any revision other than the one the service started on.
    forward: Rollout,
    /// Deployments back to the revision the service started on.
    rollback: Rollout,
    /// What `roll_back_in_progress` (StopServiceDeployment ROLLBACK) answers.
    stop_rollback: bool,
    /// Whether UpdateService's answer already lists the new deployment.
    list_new_deployment: bool,
    circuit_breaker_rollback: bool,
    /// Whether a tripped circuit breaker with rollback on does start the rollback (ECS
    /// cannot when no deployment of the service ever COMPLETED).
    ecs_rolls_back: bool,
    /// How ECS's own rollbacks (circuit breaker, StopServiceDeployment ROLLBACK) look: as on
    /// AWS, the last COMPLETED deployment becomes PRIMARY again with its id and tasks
    /// (true), or as a brand-new deployment of the previous revision (false).
    reactivates: bool,
    /// The service's tasks are registered in a target group.
    behind: Option<Behind>,
    /// This long after a new deployment was created, someone stops (StopTask) its first
    /// running task and ECS starts a replacement at another address between two looks:
    /// no failure is counted and the deployment's counts stay the same.
    replace_a_task_at: Option<i64>,
}

/// A service behind a load balancer: its target group and how the new revision's targets
/// fare there (the running revision's and a rollback's are healthy).
#[derive(Clone, Debug)]
struct Behind {
    target_group_arn: String,
    /// Whether DescribeTargetGroups finds it.
    exists: bool,
    grace_seconds: Option<i32>,
    targets: Targets,
}

/// How a new task's target fares, by the time since the task started.
#[derive(Clone, Debug)]
enum Targets {
    /// `initial`, then `healthy` this long after its task started.
    HealthyAfter(i64),
    /// `initial`, then `unhealthy` for `reason` this long after its task started.
    UnhealthyAfter { after_ms: i64, reason: &'static str, description: &'static str },
}

const WEB_TG: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/0123456789abcdef";

impl Script {
    fn new(forward: Rollout) -> Self {
        Script {
            forward,
            rollback: Rollout::CompleteAfter(2),
            stop_rollback: true,
            list_new_deployment: true,
            circuit_breaker_rollback: true,
            ecs_rolls_back: true,
            reactivates: false,
            behind: None,
            replace_a_task_at: None,
        }
    }
    fn reactivating(mut self) -> Self {
        self.reactivates = true;
        self
    }
    fn rollback(mut self, rollback: Rollout) -> Self {
        self.rollback = rollback;
        self
    }
    fn stop_rollback(mut self, answer: bool) -> Self {
        self.stop_rollback = answer;
        self
    }
    /// Behind target group web-tg, with a health-check grace period.
    fn behind(mut self, grace_seconds: Option<i32>, targets: Targets) -> Self {
        self.behind = Some(Behind { target_group_arn: WEB_TG.into(), exists: true, grace_seconds, targets });
        self
    }
}

/// A deployment the fake moves along its script.
#[derive(Clone, Debug)]
struct Tracked {
    id: String,
    rollout: Rollout,
    looks: u32,
    created_at: i64,
    over: bool,
}

struct FakeService {
    info: ServiceInfo,
    initial_td: String,
    tracked: Vec<Tracked>,
    stopped: Vec<StoppedTask>,
    script: Script,
    events_made: u32,
    /// Deployment id → when its tasks started running (its first look with running tasks).
    running_since: HashMap<String, i64>,
    /// Deployment id → when its first task was replaced (`Script::replace_a_task_at`).
    replaced: HashMap<String, i64>,
}

impl FakeService {
    /// The running tasks of a deployment, awsvpc-style: each at its own address.
    fn tasks_of(&self, deployment: &DeploymentInfo) -> Vec<RunningTask> {
        let n: String = deployment.id.chars().filter(char::is_ascii_digit).collect();
        (0..deployment.running.max(0))
            .map(|i| {
                // A replacement task: another ARN, another address, started when it replaced.
                let replaced_at = self.replaced.get(&deployment.id).copied().filter(|_| i == 0);
                let (suffix, host) = match replaced_at {
                    Some(_) => (format!("{i}-replacement"), 100 + i),
                    None => (i.to_string(), i),
                };
                RunningTask {
                    arn: format!("arn:aws:ecs:eu-west-1:123456789012:task/{CLUSTER}/{}-{n}-{suffix}", self.info.name),
                    started_at: replaced_at.or_else(|| self.running_since.get(&deployment.id).copied()),
                    target_ids: vec![format!("10.0.{n}.{host}")],
                    ports: Vec::new(),
                }
            })
            .collect()
    }

    /// Every target registered in the service's target group: the running tasks of every
    /// listed deployment; the new revision's as scripted, the others healthy.
    fn targets(&self, now: i64) -> Vec<TargetHealthInfo> {
        let Some(behind) = &self.script.behind else { return Vec::new() };
        let mut targets = Vec::new();
        for d in &self.info.deployments {
            for task in self.tasks_of(d) {
                let age = task.started_at.map_or(0, |at| now - at);
                let (state, reason, description) = match (&behind.targets, d.task_definition == self.initial_td) {
                    (_, true) => ("healthy", None, None),
                    (Targets::HealthyAfter(after), false) if age >= *after => ("healthy", None, None),
                    (Targets::UnhealthyAfter { after_ms, reason, description }, false) if age >= *after_ms => {
                        ("unhealthy", Some(*reason), Some(*description))
                    }
                    _ => ("initial", Some("Elb.RegistrationInProgress"), Some("Target registration is in progress")),
                };
                targets.push(TargetHealthInfo {
                    id: task.target_ids[0].clone(),
                    port: Some(8080),
                    state: state.into(),
                    reason: reason.map(str::to_string),
                    description: description.map(str::to_string),
                });
            }
        }
        targets
    }

    fn deployment_mut(&mut self, id: &str) -> &mut DeploymentInfo {
        self.info.deployments.iter_mut().find(|d| d.id == id).expect("the deployment is listed")
    }

    fn push_event(&mut self, message: String, now: i64) {
        self.events_made += 1;
        let id = format!("{}-event-{}", self.info.name, self.events_made);
        self.info.events.insert(0, ServiceEvent { id, created_at: now, message });
    }

    /// The deployment reached steady state: it is the only one left.
    fn complete(&mut self, id: &str, now: i64) {
        self.info.deployments.retain(|d| d.id == id);
        let d = &mut self.info.deployments[0];
        d.rollout_state = Some("COMPLETED".into());
        d.running = d.desired;
        d.pending = 0;
        d.updated_at = now;
        self.info.running = d.desired;
        self.info.pending = 0;
        for t in self.tracked.iter_mut().filter(|t| t.id == id) {
            t.over = true;
        }
        let message = format!("(service {}) has reached a steady state.", self.info.name);
        self.push_event(message, now);
    }
}

/// Which deployment the fake started, why (`update`, `circuit-breaker`, `stop-rollback`,
/// `someone-else`) and when.
#[derive(Clone, Debug)]
struct Created {
    id: String,
    task_definition: String,
    cause: &'static str,
    at: i64,
}

type Key = (String, String);

#[derive(Default)]
struct EcsState {
    clusters: HashMap<String, ClusterInfo>,
    services: BTreeMap<Key, FakeService>,
    task_definitions: HashMap<String, TaskDefinitionInfo>,
    calls: Vec<Call>,
    created: Vec<Created>,
    registered: Vec<Value>,
    next_deployment: u32,
    fail_register: bool,
}

impl EcsState {
    /// A new PRIMARY deployment of `td`; the old PRIMARY becomes ACTIVE and stops following
    /// its script.
    fn start_deployment(&mut self, key: &Key, td: &str, rollout: Rollout, cause: &'static str, now: i64) -> String {
        self.next_deployment += 1;
        let id = format!("ecs-svc/{}", self.next_deployment);
        let svc = self.services.get_mut(key).expect("service");
        for d in svc.info.deployments.iter_mut().filter(|d| d.status == "PRIMARY") {
            d.status = "ACTIVE".into();
        }
        for t in &mut svc.tracked {
            t.over = true;
        }
        let desired = svc.info.desired;
        svc.info.deployments.insert(
            0,
            DeploymentInfo {
                id: id.clone(),
                status: "PRIMARY".into(),
                task_definition: td.to_string(),
                desired,
                running: 0,
                pending: desired,
                failed_tasks: 0,
                rollout_state: Some("IN_PROGRESS".into()),
                rollout_state_reason: Some("ECS deployment in progress.".into()),
                created_at: now,
                updated_at: now,
            },
        );
        svc.info.task_definition = td.to_string();
        svc.tracked.push(Tracked { id: id.clone(), rollout, looks: 0, created_at: now, over: false });
        self.created.push(Created { id: id.clone(), task_definition: td.to_string(), cause, at: now });
        id
    }

    /// ECS's own rollback: with `reactivates`, the last COMPLETED deployment of the previous
    /// revision becomes PRIMARY and IN_PROGRESS again (same id, its tasks kept) and the
    /// failed one is scaled to 0; otherwise a new deployment of the previous revision.
    fn ecs_roll_back(&mut self, key: &Key, cause: &'static str, now: i64) -> String {
        let svc = self.services.get_mut(key).expect("service");
        let (td, rollout) = (svc.initial_td.clone(), svc.script.rollback.clone());
        let completed =
            svc.info.deployments.iter().position(|d| d.task_definition == td && d.rollout_state.as_deref() == Some("COMPLETED"));
        let (true, Some(index)) = (svc.script.reactivates, completed) else {
            return self.start_deployment(key, &td, rollout, cause, now);
        };
        for d in svc.info.deployments.iter_mut().filter(|d| d.status == "PRIMARY") {
            d.status = "ACTIVE".into();
            d.desired = 0;
            d.updated_at = now;
        }
        for t in &mut svc.tracked {
            t.over = true;
        }
        let mut old = svc.info.deployments.remove(index);
        old.status = "PRIMARY".into();
        old.rollout_state = Some("IN_PROGRESS".into());
        old.desired = svc.info.desired;
        old.updated_at = now;
        let id = old.id.clone();
        svc.info.deployments.insert(0, old);
        svc.info.task_definition = td.clone();
        svc.tracked.push(Tracked { id: id.clone(), rollout, looks: 0, created_at: now, over: false });
        self.created.push(Created { id: id.clone(), task_definition: td, cause, at: now });
        id
    }

    /// One look at a service: every deployment still following its script takes a step.
    fn advance(&mut self, key: &Key, now: i64) {
        let count = self.services[key].tracked.len();
        for i in 0..count {
            let svc = self.services.get_mut(key).expect("service");
            let t = &mut svc.tracked[i];
            if t.over {
                continue;
            }
            t.looks += 1;
            let (id, looks, created_at, rollout) = (t.id.clone(), t.looks, t.created_at, t.rollout.clone());
            let mut start: Option<(String, Rollout, &'static str)> = None;
            match rollout {
                Rollout::CompleteAfter(k) => {
                    if looks >= k {
                        svc.complete(&id, now);
                    }
                }
                Rollout::CompleteAt { all_running_ms, completed_ms } => {
                    let age = now - created_at;
                    if age >= completed_ms {
                        svc.complete(&id, now);
                    } else if age >= all_running_ms {
                        let d = svc.deployment_mut(&id);
                        d.running = d.desired;
                        d.pending = 0;
                    }
                }
                Rollout::Never => {}
                Rollout::CompleteThenCrash { complete_after, fail_after } => {
                    if looks == complete_after {
                        svc.complete(&id, now);
                        // Keep following the script after COMPLETED.
                        if let Some(t) = svc.tracked.iter_mut().find(|t| t.id == id) {
                            t.over = false;
                        }
                    }
                    if looks == fail_after {
                        let n = svc.stopped.len() + 1;
                        let name = svc.info.name.clone();
                        let d = svc.deployment_mut(&id);
                        d.failed_tasks += 1;
                        d.running -= 1;
                        let td = d.task_definition.clone();
                        svc.info.running -= 1;
                        svc.stopped.push(StoppedTask {
                            arn: format!("arn:aws:ecs:eu-west-1:123456789012:task/{CLUSTER}/{name}-late-{n}"),
                            task_definition: td,
                            started_by: Some(id.clone()),
                            stop_code: Some("EssentialContainerExited".into()),
                            stopped_reason: Some("Essential container in task exited".into()),
                            containers: vec![StoppedContainer {
                                name: "web".into(),
                                exit_code: Some(139),
                                reason: None,
                                health_status: None,
                            }],
                            stopped_at: now,
                        });
                    }
                }
                Rollout::CircuitBreaker { after, rollback_delay, event } => {
                    if looks == after {
                        let d = svc.deployment_mut(&id);
                        d.rollout_state = Some("FAILED".into());
                        d.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
                        d.running = 0;
                        d.pending = 0;
                        d.updated_at = now;
                        if let Some(message) = event {
                            svc.push_event(message.to_string(), now);
                        }
                    }
                    if looks == after + rollback_delay {
                        svc.tracked[i].over = true;
                        if svc.info.circuit_breaker_rollback && svc.script.ecs_rolls_back {
                            start = Some((svc.initial_td.clone(), svc.script.rollback.clone(), "circuit-breaker"));
                        }
                    }
                }
                Rollout::ReplacedAfter(k) => {
                    if looks == k {
                        start = Some((td_arn(&svc.info.name, 99), Rollout::Never, "someone-else"));
                    }
                }
                Rollout::TasksStop { after, stops, complete_after } => {
                    if complete_after.is_some_and(|k| looks >= k) {
                        svc.complete(&id, now);
                    } else if looks >= after
                        && let Some(stop) = stops.get((looks - after) as usize)
                    {
                        let n = svc.stopped.len() + 1;
                        let d = svc.deployment_mut(&id);
                        // ECS counts failures only, not scale-in stops (a task it
                        // replaces for failing health checks is a failure).
                        if stop.code != "ServiceSchedulerInitiated" || stop.reason.contains("health checks") {
                            d.failed_tasks += 1;
                        }
                        let td = d.task_definition.clone();
                        let name = svc.info.name.clone();
                        svc.stopped.push(StoppedTask {
                            arn: format!("arn:aws:ecs:eu-west-1:123456789012:task/{CLUSTER}/{name}-{n}"),
                            task_definition: td,
                            started_by: Some(id.clone()),
                            stop_code: Some(stop.code.into()),
                            stopped_reason: Some(stop.reason.into()),
                            containers: vec![StoppedContainer {
                                name: "web".into(),
                                exit_code: stop.exit_code,
                                reason: stop.container_reason.map(str::to_string),
                                health_status: None,
                            }],
                            stopped_at: now,
                        });
                    }
                }
            }
            match start {
                Some((_, _, "circuit-breaker")) => {
                    self.ecs_roll_back(key, "circuit-breaker", now);
                }
                Some((td, rollout, cause)) => {
                    self.start_deployment(key, &td, rollout, cause, now);
                }
                None => {}
            }
        }
        let svc = self.services.get_mut(key).expect("service");
        for d in &svc.info.deployments {
            if d.running > 0 {
                svc.running_since.entry(d.id.clone()).or_insert(now);
            }
            if svc.script.replace_a_task_at.is_some_and(|after| now - d.created_at >= after)
                && d.running > 0
                && d.task_definition != svc.initial_td
            {
                svc.replaced.entry(d.id.clone()).or_insert(now);
            }
        }
    }
}

/// ECS in memory, following a script per service.
struct FakeEcs {
    clock: Arc<FakeClock>,
    state: Mutex<EcsState>,
}

impl FakeEcs {
    fn new(clock: Arc<FakeClock>) -> Self {
        let mut state = EcsState::default();
        state.clusters.insert(
            CLUSTER.into(),
            ClusterInfo { arn: format!("arn:aws:ecs:eu-west-1:123456789012:cluster/{CLUSTER}"), status: "ACTIVE".into() },
        );
        FakeEcs { clock, state: Mutex::new(state) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, EcsState> {
        self.state.lock().expect("fake ECS state")
    }

    fn log(&self, op: &'static str, args: Vec<String>) {
        let at = self.clock.now_ms();
        self.state().calls.push(Call { op, args, at });
    }

    /// A service running revision 1 of its family (image 1.0.0, registered by ferry), steady.
    fn add_service(&self, name: &str, script: Script) {
        let mut state = self.state();
        let arn = td_arn(name, 1);
        let image = format!("{REGISTRY_HOST}/web:1.0.0");
        let tags = vec![
            ("ferry:version".to_string(), "1.0.0".to_string()),
            ("ferry:digest".to_string(), digest_of("1.0.0")),
            ("team".to_string(), "payments".to_string()),
        ];
        let definition = json!({
            "taskDefinitionArn": arn,
            "family": name,
            "revision": 1,
            "status": "ACTIVE",
            "compatibilities": ["EC2"],
            "registeredAt": T0 - DAY_MS,
            "containerDefinitions": [{"name": "web", "image": image, "essential": true, "memory": 256, "portMappings": [{"containerPort": 8080}]}],
            "tags": tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
        });
        state
            .task_definitions
            .insert(arn.clone(), TaskDefinitionInfo { arn: arn.clone(), family: name.into(), revision: 1, definition, tags });
        state.next_deployment += 1;
        let deployment = DeploymentInfo {
            id: format!("ecs-svc/{}", state.next_deployment),
            status: "PRIMARY".into(),
            task_definition: arn.clone(),
            desired: 2,
            running: 2,
            rollout_state: Some("COMPLETED".into()),
            created_at: T0 - DAY_MS,
            updated_at: T0 - DAY_MS,
            ..DeploymentInfo::default()
        };
        let initial_deployment = deployment.id.clone();
        let info = ServiceInfo {
            arn: format!("arn:aws:ecs:eu-west-1:123456789012:service/{CLUSTER}/{name}"),
            name: name.into(),
            status: "ACTIVE".into(),
            task_definition: arn.clone(),
            desired: 2,
            running: 2,
            pending: 0,
            deployment_controller: "ECS".into(),
            circuit_breaker_rollback: script.circuit_breaker_rollback,
            deployment_strategy: None,
            minimum_healthy_percent: Some(100),
            maximum_percent: Some(200),
            deployments: vec![deployment],
            events: vec![ServiceEvent {
                id: format!("{name}-event-0"),
                created_at: T0 - DAY_MS,
                message: format!("(service {name}) has reached a steady state."),
            }],
            load_balancers: script
                .behind
                .iter()
                .map(|b| ServiceLoadBalancer {
                    target_group_arn: Some(b.target_group_arn.clone()),
                    container_name: "web".into(),
                    container_port: 8080,
                    advanced: None,
                })
                .collect(),
            health_check_grace_period_seconds: script.behind.as_ref().and_then(|b| b.grace_seconds),
            launch: Default::default(),
        };
        let running_since = HashMap::from([(initial_deployment, T0 - DAY_MS)]);
        let service = FakeService {
            info,
            initial_td: arn,
            tracked: Vec::new(),
            stopped: Vec::new(),
            script,
            events_made: 0,
            running_since,
            replaced: HashMap::new(),
        };
        state.services.insert((CLUSTER.to_string(), name.to_string()), service);
    }

    fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    fn calls_of(&self, op: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }

    fn count(&self, op: &str) -> usize {
        self.calls_of(op).len()
    }

    /// The calls that change something in ECS.
    fn mutations(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| matches!(c.op, "register_task_definition" | "update_service" | "roll_back_in_progress"))
            .collect()
    }

    /// DescribeServices calls made after the last UpdateService of the forward deploys: the
    /// watch loop's looks.
    fn watch_describes(&self) -> Vec<Call> {
        let calls = self.calls();
        let last_update = calls.iter().rposition(|c| c.op == "update_service").expect("an update_service call");
        calls[last_update..].iter().filter(|c| c.op == "describe_services").cloned().collect()
    }

    fn created(&self) -> Vec<Created> {
        self.state().created.clone()
    }

    fn created_by(&self, cause: &str) -> Vec<Created> {
        self.created().into_iter().filter(|c| c.cause == cause).collect()
    }

    fn with_service<T>(&self, name: &str, f: impl FnOnce(&mut FakeService) -> T) -> T {
        let mut state = self.state();
        f(state.services.get_mut(&(CLUSTER.to_string(), name.to_string())).expect("service"))
    }
}

fn not_found(operation: &str, what: &str) -> PlatformError {
    PlatformError::new(operation, Some("ClientException".into()), format!("{what} not found"))
}

impl Ecs for FakeEcs {
    async fn describe_cluster(&self, cluster: &str) -> PlatformResult<Option<ClusterInfo>> {
        self.log("describe_cluster", vec![cluster.into()]);
        Ok(self.state().clusters.get(cluster).cloned())
    }

    async fn describe_services(&self, cluster: &str, services: &[String]) -> PlatformResult<Vec<ServiceInfo>> {
        self.log("describe_services", services.to_vec());
        if services.len() > 10 {
            return Err(PlatformError::new(
                "ecs:DescribeServices",
                Some("InvalidParameterException".into()),
                "at most 10 services per call",
            ));
        }
        let now = self.clock.now_ms();
        let mut state = self.state();
        let mut out = Vec::new();
        for name in services {
            let key = (cluster.to_string(), name.clone());
            if state.services.contains_key(&key) {
                state.advance(&key, now);
                out.push(state.services[&key].info.clone());
            }
        }
        Ok(out)
    }

    async fn describe_task_definition(&self, task_definition: &str) -> PlatformResult<TaskDefinitionInfo> {
        self.log("describe_task_definition", vec![task_definition.into()]);
        let state = self.state();
        // A family name names its newest revision, as in ECS.
        let newest = || state.task_definitions.values().filter(|t| t.family == task_definition).max_by_key(|t| t.revision);
        state
            .task_definitions
            .get(task_definition)
            .or_else(newest)
            .cloned()
            .ok_or_else(|| not_found("ecs:DescribeTaskDefinition", task_definition))
    }

    fn validate_task_definition(&self, definition: &Value) -> Result<(), ferry_core::error::Error> {
        self.log("validate_task_definition", vec![]);
        match definition.get("bad") {
            Some(_) => Err(ferry_core::error::Error::invalid("unknown member \"bad\"")),
            None => Ok(()),
        }
    }

    async fn register_task_definition(&self, definition: &Value) -> PlatformResult<TaskDefinitionInfo> {
        let family = definition.get("family").and_then(Value::as_str).unwrap_or_default().to_string();
        self.log("register_task_definition", vec![family.clone()]);
        let mut state = self.state();
        if state.fail_register {
            return Err(PlatformError::new("ecs:RegisterTaskDefinition", Some("AccessDeniedException".into()), "not allowed"));
        }
        state.registered.push(definition.clone());
        let revision = state.task_definitions.values().filter(|t| t.family == family).map(|t| t.revision).max().unwrap_or(0) + 1;
        let arn = td_arn(&family, revision);
        let tags: Vec<(String, String)> = definition
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| Some((t.get("key")?.as_str()?.to_string(), t.get("value")?.as_str()?.to_string())))
            .collect();
        let mut stored = definition.clone();
        if let Some(object) = stored.as_object_mut() {
            object.insert("taskDefinitionArn".into(), json!(arn));
            object.insert("revision".into(), json!(revision));
            object.insert("status".into(), json!("ACTIVE"));
        }
        let info = TaskDefinitionInfo { arn: arn.clone(), family, revision, definition: stored, tags };
        state.task_definitions.insert(arn, info.clone());
        Ok(info)
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
        force_new_deployment: bool,
    ) -> PlatformResult<ServiceInfo> {
        self.log("update_service", vec![cluster.into(), service.into(), task_definition.into(), force_new_deployment.to_string()]);
        let now = self.clock.now_ms();
        let key = (cluster.to_string(), service.to_string());
        let mut state = self.state();
        if !state.task_definitions.contains_key(task_definition) {
            return Err(not_found("ecs:UpdateService", task_definition));
        }
        let Some(svc) = state.services.get(&key) else {
            return Err(PlatformError::new("ecs:UpdateService", Some("ServiceNotFoundException".into()), "service not found"));
        };
        let rollout = if task_definition == svc.initial_td { svc.script.rollback.clone() } else { svc.script.forward.clone() };
        let list = svc.script.list_new_deployment;
        let id = state.start_deployment(&key, task_definition, rollout, "update", now);
        let mut answer = state.services[&key].info.clone();
        if !list {
            answer.deployments.retain(|d| d.id != id);
        }
        Ok(answer)
    }

    async fn stopped_tasks(&self, cluster: &str, deployment_id: &str) -> PlatformResult<Vec<StoppedTask>> {
        self.log("stopped_tasks", vec![cluster.into(), deployment_id.into()]);
        let state = self.state();
        Ok(state
            .services
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .flat_map(|(_, s)| s.stopped.iter().filter(|t| t.started_by.as_deref() == Some(deployment_id)).cloned())
            .collect())
    }

    /// Every running task of the deployment is healthy.
    async fn task_health(&self, cluster: &str, deployment_id: &str) -> PlatformResult<TaskHealth> {
        self.log("task_health", vec![cluster.into(), deployment_id.into()]);
        let state = self.state();
        let running =
            state.services.values().flat_map(|s| s.info.deployments.iter()).find(|d| d.id == deployment_id).map_or(0, |d| d.running);
        Ok(TaskHealth { healthy: running as u32, unhealthy: 0, unknown: 0 })
    }

    async fn running_tasks(&self, cluster: &str, deployment_id: &str) -> PlatformResult<Vec<RunningTask>> {
        self.log("running_tasks", vec![cluster.into(), deployment_id.into()]);
        let state = self.state();
        Ok(state
            .services
            .values()
            .flat_map(|s| s.info.deployments.iter().filter(|d| d.id == deployment_id).flat_map(|d| s.tasks_of(d)))
            .collect())
    }

    async fn roll_back_in_progress(&self, cluster: &str, service: &str) -> PlatformResult<bool> {
        self.log("roll_back_in_progress", vec![cluster.into(), service.into()]);
        let now = self.clock.now_ms();
        let key = (cluster.to_string(), service.to_string());
        let mut state = self.state();
        let Some(svc) = state.services.get(&key) else { return Ok(false) };
        let in_progress = svc.info.deployments.iter().any(|d| d.status == "PRIMARY" && d.rollout_state.as_deref() == Some("IN_PROGRESS"));
        if !svc.script.stop_rollback || !in_progress {
            return Ok(false);
        }
        state.ecs_roll_back(&key, "stop-rollback", now);
        Ok(true)
    }
}

/// The load balancer the scripted services are behind: what ECS registered, with the
/// health the script says.
impl Elb for FakeEcs {
    async fn describe_target_group(&self, arn: &str) -> PlatformResult<Option<TargetGroupInfo>> {
        self.log("describe_target_group", vec![arn.into()]);
        let state = self.state();
        let found = state.services.values().filter_map(|s| s.script.behind.as_ref()).any(|b| b.target_group_arn == arn && b.exists);
        Ok(found.then(|| TargetGroupInfo { arn: arn.into(), name: "web-tg".into(), target_type: "ip".into() }))
    }

    async fn describe_target_health(&self, arn: &str) -> PlatformResult<Vec<TargetHealthInfo>> {
        self.log("describe_target_health", vec![arn.into()]);
        let now = self.clock.now_ms();
        let state = self.state();
        Ok(state
            .services
            .values()
            .filter(|s| s.script.behind.as_ref().is_some_and(|b| b.target_group_arn == arn))
            .flat_map(|s| s.targets(now))
            .collect())
    }
}

// ---------------------------------------------------------------------------------------
// Registry, locks, observer
// ---------------------------------------------------------------------------------------

struct FakeRegistry {
    /// (repository, tag) → digest.
    images: Mutex<HashMap<(String, String), String>>,
    calls: Mutex<Vec<String>>,
}

impl FakeRegistry {
    fn with_tags(tags: &[&str]) -> Self {
        let images = tags.iter().map(|t| (("web".to_string(), t.to_string()), digest_of(t))).collect();
        FakeRegistry { images: Mutex::new(images), calls: Mutex::new(Vec::new()) }
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("registry calls").clone()
    }
}

impl Registry for FakeRegistry {
    async fn resolve(&self, repository: &str, tag: &str) -> PlatformResult<Option<ImageInfo>> {
        self.calls.lock().expect("registry calls").push(format!("{repository}:{tag}"));
        let images = self.images.lock().expect("registry images");
        Ok(images
            .get(&(repository.to_string(), tag.to_string()))
            .map(|digest| ImageInfo { repository_uri: format!("{REGISTRY_HOST}/{repository}"), digest: digest.clone() }))
    }
    /// Reaches `registry.example.com` (a `[registries]` entry), with the same images.
    async fn image_exists(&self, image: &str) -> Option<PlatformResult<bool>> {
        let (repository, tag) = image.strip_prefix("registry.example.com/")?.split_once(':')?;
        self.calls.lock().expect("registry calls").push(image.to_string());
        Some(Ok(self.images.lock().expect("registry images").contains_key(&(repository.to_string(), tag.to_string()))))
    }
}

#[derive(Default)]
struct FakeLocks {
    /// (environment, service) → the deployment holding it.
    held: Mutex<HashMap<(String, String), String>>,
    /// (operation, service, deployment id), in order.
    log: Mutex<Vec<(&'static str, String, String)>>,
}

impl FakeLocks {
    fn hold(&self, environment: &str, service: &str, deployment_id: &str) {
        self.held.lock().expect("locks").insert((environment.into(), service.into()), deployment_id.into());
    }
    fn holder(&self, environment: &str, service: &str) -> Option<String> {
        self.held.lock().expect("locks").get(&(environment.to_string(), service.to_string())).cloned()
    }
    fn log(&self) -> Vec<(&'static str, String, String)> {
        self.log.lock().expect("lock log").clone()
    }
    fn ops(&self) -> Vec<&'static str> {
        self.log().into_iter().map(|(op, _, _)| op).collect()
    }
    fn note(&self, op: &'static str, service: &str, deployment_id: &str) {
        self.log.lock().expect("lock log").push((op, service.into(), deployment_id.into()));
    }
}

impl Locks for FakeLocks {
    fn lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal> {
        self.note("lock", service, deployment_id);
        let mut held = self.held.lock().expect("locks");
        let key = (environment.to_string(), service.to_string());
        match held.get(&key) {
            Some(holder) if holder != deployment_id => Err(LockRefusal::Held(format!("held by {holder} since 10:02"))),
            _ => {
                held.insert(key, deployment_id.into());
                Ok(())
            }
        }
    }
    fn renew(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal> {
        self.note("renew", service, deployment_id);
        match self.holder(environment, service) {
            Some(holder) if holder == deployment_id => Ok(()),
            other => Err(LockRefusal::Held(format!("held by {other:?}"))),
        }
    }
    fn unlock(&self, environment: &str, service: &str, deployment_id: &str) {
        self.note("unlock", service, deployment_id);
        let mut held = self.held.lock().expect("locks");
        let key = (environment.to_string(), service.to_string());
        if held.get(&key).is_some_and(|h| h == deployment_id) {
            held.remove(&key);
        }
    }
}

#[derive(Default)]
struct RecordingObserver {
    events: Mutex<Vec<Event>>,
    records: Mutex<Vec<ServiceReport>>,
    /// Plays a person at a terminal, who is shown the new tasks' health.
    watching: std::sync::atomic::AtomicBool,
    /// The journal of the steps, as the ledger keeps it.
    steps: Mutex<Vec<JournalStep>>,
    /// A dead run's unfinished deployment, handed to the next run that asks.
    interrupted: Mutex<Option<Interrupted>>,
    /// The dead runs' deployments closed as superseded.
    settled: Mutex<Vec<String>>,
}

impl RecordingObserver {
    fn events(&self) -> Vec<Event> {
        self.events.lock().expect("events").clone()
    }
    fn records(&self) -> Vec<ServiceReport> {
        self.records.lock().expect("records").clone()
    }
    fn stopped_tasks_reported(&self) -> usize {
        self.events().iter().filter(|e| matches!(e, Event::TaskStopped { .. })).count()
    }
}

impl Observer for RecordingObserver {
    fn event(&self, _report: &ServiceReport, event: &Event) {
        self.events.lock().expect("events").push(event.clone());
    }
    fn record(&self, report: &ServiceReport) {
        self.records.lock().expect("records").push(report.clone());
    }
    fn wants_task_health(&self) -> bool {
        self.watching.load(Ordering::SeqCst)
    }
    fn interrupted(&self, _environment: &str, _service: &str) -> Result<Option<Interrupted>, JournalError> {
        Ok(self.interrupted.lock().expect("interrupted").take())
    }
    fn step_started(&self, _report: &ServiceReport, name: &str, data: &Value) -> Result<i64, JournalError> {
        let mut steps = self.steps.lock().expect("steps");
        let seq = steps.len() as i64 + 1;
        steps.push(JournalStep { seq, name: name.into(), state: StepState::Started, started_at: 0, finished_at: None, data: data.clone() });
        Ok(seq)
    }
    fn step_finished(&self, _report: &ServiceReport, seq: i64, state: StepState, data: &Value) -> Result<(), JournalError> {
        let mut steps = self.steps.lock().expect("steps");
        let step = steps.iter_mut().find(|s| s.seq == seq).ok_or_else(|| JournalError(format!("no step {seq}")))?;
        step.state = state;
        step.data = data.clone();
        Ok(())
    }
    fn settle(&self, interrupted: &Interrupted, _settlement: &ferry_core::journal::Settlement) -> Result<(), JournalError> {
        self.settled.lock().expect("settled").push(interrupted.deployment_id.clone());
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The world a test runs in
// ---------------------------------------------------------------------------------------

struct World {
    clock: Arc<FakeClock>,
    ecs: FakeEcs,
    registry: FakeRegistry,
    locks: FakeLocks,
    observer: RecordingObserver,
    workload: FakeWorkload,
}

/// CloudWatch Logs, SSM Parameter Store and Secrets Manager in memory: the log groups,
/// parameters and secrets that exist, and the events in each group.
#[derive(Default)]
struct FakeWorkload {
    log_groups: Mutex<Vec<String>>,
    parameters: Mutex<Vec<String>>,
    secrets: Mutex<Vec<String>>,
    events: Mutex<Vec<(String, LogEvent)>>,
    /// Names (parameter, secret or log group) whose lookup fails with this error code
    /// (`AccessDeniedException`, `ThrottlingException`).
    failing: Mutex<Vec<(String, String)>>,
    /// Every existence lookup, in order: `ssm NAME`, `secretsmanager ID`, `logs GROUP`.
    asked: Mutex<Vec<String>>,
}

impl FakeWorkload {
    fn lookup(&self, service: &str, operation: &str, name: &str, known: &Mutex<Vec<String>>) -> PlatformResult<bool> {
        self.asked.lock().unwrap().push(format!("{service} {name}"));
        if let Some((_, code)) = self.failing.lock().unwrap().iter().find(|(n, _)| n == name) {
            return Err(PlatformError::new(format!("{service}:{operation}"), Some(code.clone()), format!("no {name} for you")));
        }
        Ok(known.lock().unwrap().iter().any(|k| k == name))
    }
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Logs for FakeWorkload {
    async fn log_group_exists(&self, group: &str) -> PlatformResult<bool> {
        self.lookup("logs", "DescribeLogGroups", group, &self.log_groups)
    }
    async fn filter_log_events(
        &self,
        group: &str,
        streams: &LogStreams,
        start_ms: Option<i64>,
        _token: Option<&str>,
    ) -> PlatformResult<LogPage> {
        let events = self.events.lock().unwrap();
        let wanted = |e: &LogEvent| match streams {
            LogStreams::All => true,
            LogStreams::Prefix(p) => e.stream.starts_with(p.as_str()),
            LogStreams::Names(names) => names.contains(&e.stream),
        };
        let events = events
            .iter()
            .filter(|(g, e)| g == group && wanted(e) && start_ms.is_none_or(|s| e.timestamp >= s))
            .map(|(_, e)| e.clone())
            .collect();
        Ok(LogPage { events, next_token: None })
    }
}

impl Secrets for FakeWorkload {
    async fn parameter_exists(&self, name: &str) -> PlatformResult<bool> {
        self.lookup("ssm", "DescribeParameters", name, &self.parameters)
    }
    async fn secret_exists(&self, secret_id: &str) -> PlatformResult<bool> {
        self.lookup("secretsmanager", "DescribeSecret", secret_id, &self.secrets)
    }
}

/// No service in these tests has auto scaling.
impl ferry_core::platform::AutoScaling for FakeWorkload {
    async fn describe_scalable_target(&self, _resource_id: &str) -> PlatformResult<Option<ferry_core::platform::ScalableTarget>> {
        Ok(None)
    }
    async fn register_scalable_target(&self, _target: &ferry_core::platform::ScalableTarget) -> PlatformResult<()> {
        Ok(())
    }
}

impl World {
    /// Cluster `main`, and images web:1.0.0 (running) and web:1.1.0 (to deploy).
    fn new() -> Self {
        let clock = FakeClock::new();
        World {
            ecs: FakeEcs::new(clock.clone()),
            clock,
            registry: FakeRegistry::with_tags(&["1.0.0", "1.1.0"]),
            locks: FakeLocks::default(),
            observer: RecordingObserver::default(),
            workload: FakeWorkload::default(),
        }
    }

    fn with_service(self, name: &str, script: Script) -> Self {
        self.ecs.add_service(name, script);
        self
    }

    fn run(
        &self,
    ) -> Run<'_, FakeEcs, FakeEcs, FakeRegistry, FakeClock, FakeLocks, RecordingObserver, FakeWorkload, FakeWorkload, FakeWorkload> {
        Run {
            ecs: &self.ecs,
            elb: &self.ecs,
            registry: &self.registry,
            clock: &*self.clock,
            locks: &self.locks,
            observer: &self.observer,
            logs: &self.workload,
            secrets: &self.workload,
            scaling: &self.workload,
            gates: &ferry_core::deploy::NoGates,
        }
    }

    fn deploy(&self, requests: &[Request]) -> Vec<ServiceReport> {
        futures::executor::block_on(self.run().deploy(requests))
    }

    fn deploy_one(&self, request: Request) -> ServiceReport {
        self.deploy(&[request]).remove(0)
    }

    fn plan(&self, requests: &[Request]) -> Vec<ServiceReport> {
        futures::executor::block_on(self.run().plan(requests))
    }
}

const TEMPLATE: &str = r#"{
  "family": "{{ ecs_service }}",
  "containerDefinitions": [{"name": "web", "image": "{{ image }}", "essential": true, "memory": 256, "portMappings": [{"containerPort": 8080}]}],
  "tags": [{"key": "team", "value": "payments"}]
}"#;

/// A deploy of web:`version` to the ECS service `service` in prod, from the template.
fn request(service: &str, version: &str) -> Request {
    Request {
        environment: "prod".into(),
        service: service.into(),
        ecs_service: service.into(),
        cluster: CLUSTER.into(),
        version: Some(version.into()),
        repository: "web".into(),
        container: "web".into(),
        source: Source::Template { name: format!("{service}.json"), text: TEMPLATE.into() },
        variables: Variables {
            environment: "prod".into(),
            service: service.into(),
            ecs_service: service.into(),
            cluster: CLUSTER.into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            ..Variables::default()
        },
        pin_digest: false,
        timeout: TEN_MINUTES,
        rollback_timeout: Duration::from_secs(600),
        bake: Duration::ZERO,
        max_task_failures: 3,
        trace: Trace {
            deployment_id: format!("fd-{service}"),
            who: "alice".into(),
            commit: Some("abc1234".into()),
            commit_message: Some("Ship the new checkout".into()),
        },
        kind: "deploy",
        digest: None,
        strategy: ferry_core::config::Strategy::Rolling,
        image_tag: None,
        lock_owner: None,
        force: false,
        before_deploy: None,
        after_deploy: None,
        traffic: None,
        ecs_native: None,
        detach: false,
        alarms: Vec::new(),
        gates_skipped: None,
    }
}

fn stop(reason: &'static str, exit_code: Option<i32>, container_reason: Option<&'static str>) -> Stop {
    Stop { code: "EssentialContainerExited", reason, exit_code, container_reason }
}

/// A task the scheduler stopped to scale in (desired count lowered during the deploy).
fn scale_in() -> Stop {
    Stop {
        code: "ServiceSchedulerInitiated",
        reason: "Scaling activity initiated by (deployment ecs-svc/2)",
        exit_code: None,
        container_reason: None,
    }
}

fn assert_nothing_changed(world: &World) {
    assert!(world.ecs.mutations().is_empty(), "no mutation expected, got {:?}", world.ecs.mutations());
    assert!(world.locks.log().is_empty(), "the lock was not to be touched: {:?}", world.locks.log());
}

// ---------------------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------------------

#[test]
fn a_deploy_that_completes_registers_once_updates_once_and_reports_our_deployment() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(3)));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::Ok);
    assert_eq!(world.ecs.count("register_task_definition"), 1);
    assert_eq!(world.ecs.count("update_service"), 1);
    assert_eq!(world.ecs.count("roll_back_in_progress"), 0);

    let ours = world.ecs.created_by("update");
    assert_eq!(ours.len(), 1);
    assert_eq!(report.ecs_deployment_id.as_deref(), Some(ours[0].id.as_str()));
    assert_eq!(report.from_version.as_deref(), Some("1.0.0"));
    assert_eq!(report.to_version.as_deref(), Some("1.1.0"));
    assert_eq!(report.from_task_definition.as_deref(), Some(td_arn("web", 1).as_str()));
    assert_eq!(report.to_task_definition.as_deref(), Some(td_arn("web", 2).as_str()));
    assert_eq!(report.to_digest.as_deref(), Some(digest_of("1.1.0").as_str()));
    assert_eq!(report.image.as_deref(), Some(format!("{REGISTRY_HOST}/web:1.1.0").as_str()));
    assert_eq!((report.running, report.desired), (2, 2));
    assert!(report.finished_at.is_some());

    // UpdateService got the revision just registered, and the revision carries the trace.
    let update = &world.ecs.calls_of("update_service")[0];
    assert_eq!(update.args, vec![CLUSTER.to_string(), "web".into(), td_arn("web", 2), "false".into()]);
    let registered = world.ecs.state().registered[0].clone();
    assert_eq!(registered["containerDefinitions"][0]["image"], format!("{REGISTRY_HOST}/web:1.1.0"));
    let tags = registered["tags"].as_array().expect("tags");
    let tag = |key: &str| tags.iter().find(|t| t["key"] == key).map(|t| t["value"].clone());
    assert_eq!(tag("ferry:version"), Some(json!("1.1.0")));
    assert_eq!(tag("ferry:deployment"), Some(json!("fd-web")));
    assert_eq!(tag("ferry:commit"), Some(json!("abc1234")));
    assert_eq!(tag("team"), Some(json!("payments")), "the template's own tags stay");

    // The lock was taken, then released.
    assert_eq!(world.locks.ops(), vec!["lock", "unlock"]);
    assert_eq!(world.locks.holder("prod", "web"), None);

    // The ledger saw it start changing things and end.
    let records = world.observer.records();
    assert!(records.len() >= 2);
    assert_eq!(records.last().map(|r| r.outcome), Some(Outcome::Succeeded));
    let events = world.observer.events();
    assert!(events.iter().any(|e| matches!(e, Event::EcsEvent { message, .. } if message.contains("steady state"))), "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, Event::EcsEvent { created_at, .. } if *created_at < T0)),
        "events from before the deploy are not reported"
    );
    assert!(matches!(events.last(), Some(Event::Finished { outcome: Outcome::Succeeded, .. })));
}

#[test]
fn a_deploy_from_the_live_revision_changes_only_the_image_and_ferrys_tags() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(2)));
    let mut live = request("web", "1.1.0");
    live.source = Source::Live;
    let report = world.deploy_one(live);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
    assert!(report.changes[0].path.contains("image"), "{:?}", report.changes);
    let registered = world.ecs.state().registered[0].clone();
    for read_only in ["taskDefinitionArn", "revision", "status", "compatibilities", "registeredAt"] {
        assert!(registered.get(read_only).is_none(), "{read_only} must not be sent back to RegisterTaskDefinition");
    }
    assert_eq!(registered["containerDefinitions"][0]["image"], format!("{REGISTRY_HOST}/web:1.1.0"));
    let tags = registered["tags"].as_array().expect("tags");
    assert_eq!(tags.iter().filter(|t| t["key"] == "ferry:version").count(), 1);
    assert!(tags.iter().any(|t| t["key"] == "ferry:version" && t["value"] == "1.1.0"));
    assert!(tags.iter().any(|t| t["key"] == "team" && t["value"] == "payments"));
}

#[test]
fn a_deployment_not_yet_listed_by_update_service_is_adopted_on_a_later_look() {
    let mut script = Script::new(Rollout::CompleteAfter(3));
    script.list_new_deployment = false;
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(report.ecs_deployment_id.as_deref(), Some(world.ecs.created_by("update")[0].id.as_str()));
}

// ---------------------------------------------------------------------------------------
// Refusals before anything changes
// ---------------------------------------------------------------------------------------

#[test]
fn a_version_missing_from_the_registry_is_refused_before_anything_changes() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let report = world.deploy_one(request("web", "9.9.9"));

    assert_eq!(report.outcome, Outcome::Refused);
    assert!(!report.invalid_input, "a missing image is the platform's state, not bad input");
    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("web:9.9.9") && r.contains("not found")), "{:?}", report.reason);
    assert_eq!(world.registry.calls(), vec!["web:9.9.9"]);
    assert_nothing_changed(&world);
    assert!(world.observer.records().is_empty(), "nothing changed, so nothing goes in the ledger");
}

#[test]
fn an_invalid_version_is_bad_input_and_is_refused_before_any_call() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let report = world.deploy_one(request("web", "1.0/x"));

    assert_eq!(report.outcome, Outcome::Refused);
    assert!(report.invalid_input);
    assert_eq!(report.exit_kind(), ExitKind::InvalidInput);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("'/'")), "{:?}", report.reason);
    assert!(world.registry.calls().is_empty(), "the registry is not asked about a version that cannot be a tag");
    assert!(world.ecs.calls().is_empty(), "ECS is not called either: {:?}", world.ecs.calls());
    assert_nothing_changed(&world);
}

#[test]
fn a_traffic_strategy_without_its_rules_is_refused_as_bad_input_naming_the_key_before_anything_changes() {
    for (strategy, name) in [
        (ferry_core::config::Strategy::BlueGreen, "blue-green"),
        (ferry_core::config::Strategy::Canary, "canary"),
        (ferry_core::config::Strategy::Linear, "linear"),
    ] {
        let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
        let mut planned = request("web", "1.1.0");
        planned.strategy = strategy;
        let report = world.deploy_one(planned);

        assert_eq!(report.outcome, Outcome::Refused, "{name}");
        assert_eq!(report.exit_kind(), ExitKind::InvalidInput, "{name}");
        let reason = report.reason.clone().unwrap_or_default();
        assert!(reason.starts_with(&format!("services.web.strategy = \"{name}\" needs a [services.web.blue_green] table")), "{reason}");
        assert!(reason.contains("nothing was changed"), "{reason}");
        assert_eq!(report.strategy, name);
        assert!(world.registry.calls().is_empty(), "{name}: the registry is not asked");
        assert_nothing_changed(&world);
    }
}

#[test]
fn a_template_that_ecs_would_reject_is_bad_input() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut bad = request("web", "1.1.0");
    bad.source = Source::Template { name: "web.json".into(), text: TEMPLATE.replacen('{', r#"{"bad": 1,"#, 1) };
    let report = world.deploy_one(bad);

    assert_eq!(report.outcome, Outcome::Refused);
    assert_eq!(report.exit_kind(), ExitKind::InvalidInput);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("bad")), "{:?}", report.reason);
    assert_nothing_changed(&world);
}

#[test]
fn a_service_that_is_not_active_is_refused_without_a_change() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.ecs.with_service("web", |s| s.info.status = "DRAINING".into());
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::Refused);
    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("DRAINING")), "{:?}", report.reason);
    assert_nothing_changed(&world);
}

#[test]
fn a_missing_service_or_a_missing_or_inactive_cluster_is_refused_without_a_change() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut elsewhere = request("web", "1.1.0");
    elsewhere.cluster = "nowhere".into();
    let missing_service = request("api", "1.1.0");
    let reports = world.deploy(&[elsewhere, missing_service]);

    for report in &reports {
        assert_eq!(report.outcome, Outcome::Refused, "{report:?}");
        assert!(!report.invalid_input);
        assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    }
    assert!(reports[0].reason.as_deref().is_some_and(|r| r.contains("cluster nowhere not found")), "{:?}", reports[0].reason);
    assert!(reports[1].reason.as_deref().is_some_and(|r| r.contains("service api not found")), "{:?}", reports[1].reason);
    assert_nothing_changed(&world);

    world.ecs.state().clusters.get_mut(CLUSTER).expect("cluster").status = "INACTIVE".into();
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Refused);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("INACTIVE")), "{:?}", report.reason);
    assert_nothing_changed(&world);
}

#[test]
fn a_held_lock_stops_the_deploy_and_is_left_to_its_holder() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.locks.hold("prod", "web", "fd-someone-else");
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::LockHeld);
    assert_eq!(report.exit_kind(), ExitKind::LockHeld);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("fd-someone-else")), "{:?}", report.reason);
    assert!(world.ecs.mutations().is_empty(), "{:?}", world.ecs.mutations());
    assert_eq!(world.locks.ops(), vec!["lock"], "no unlock of someone else's lock");
    assert_eq!(world.locks.holder("prod", "web").as_deref(), Some("fd-someone-else"));
}

// ---------------------------------------------------------------------------------------
// Failures and rollbacks
// ---------------------------------------------------------------------------------------

#[test]
fn a_circuit_breaker_failure_is_rolled_back_by_ecs_and_ferry_only_watches() {
    let world = World::new().with_service("web", Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 0, event: None }));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::FailedRolledBack);
    assert_eq!(report.cause, Some(FailureCause::CircuitBreaker));
    assert_eq!(world.ecs.count("update_service"), 1, "ferry does not race ECS's rollback with its own");
    assert_eq!(world.ecs.count("roll_back_in_progress"), 0);
    let rollback = world.ecs.created_by("circuit-breaker");
    assert_eq!(rollback.len(), 1);
    assert_eq!(rollback[0].task_definition, td_arn("web", 1));
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(rollback[0].id.as_str()));
    assert_eq!(report.ecs_deployment_id.as_deref(), Some(world.ecs.created_by("update")[0].id.as_str()));
    assert!(
        report.reason.as_deref().is_some_and(|r| r.contains("circuit breaker") && r.contains("rolled back to web:1")),
        "{:?}",
        report.reason
    );
    assert_eq!(world.locks.holder("prod", "web"), None);
}

#[test]
fn a_circuit_breaker_rollback_that_appears_a_look_later_is_still_left_to_ecs() {
    let world = World::new().with_service("web", Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 2, event: None }));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::CircuitBreaker));
    assert_eq!(world.ecs.count("update_service"), 1);
    assert_eq!(world.ecs.count("roll_back_in_progress"), 0);
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(world.ecs.created_by("circuit-breaker")[0].id.as_str()));
}

/// The id of the deployment the service ran before the deploy (COMPLETED, on web:1).
fn initial_deployment(world: &World, service: &str) -> String {
    world
        .ecs
        .with_service(service, |s| {
            s.info.deployments.iter().filter(|d| d.task_definition == s.initial_td).min_by_key(|d| d.created_at).map(|d| d.id.clone())
        })
        .expect("the initial deployment is listed")
}

#[test]
fn a_circuit_breaker_rollback_that_reactivates_the_last_completed_deployment_is_followed_by_its_old_id() {
    // As on AWS: the failed deployment is scaled to 0 and the COMPLETED one becomes PRIMARY
    // again, keeping its id; ferry follows that id and starts no rollback of its own.
    let world =
        World::new().with_service("web", Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 0, event: None }).reactivating());
    let before = initial_deployment(&world, "web");
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::CircuitBreaker));
    assert_eq!(world.ecs.count("update_service"), 1, "ferry does not race ECS's rollback with its own");
    assert_eq!(world.ecs.count("roll_back_in_progress"), 0);
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(before.as_str()));
    let after = world.ecs.with_service("web", |s| {
        s.info.deployments.iter().map(|d| (d.id.clone(), d.status.clone(), d.rollout_state.clone())).collect::<Vec<_>>()
    });
    assert_eq!(after, vec![(before, "PRIMARY".to_string(), Some("COMPLETED".to_string()))]);
}

#[test]
fn a_reactivating_circuit_breaker_rollback_seen_a_look_later_is_adopted_not_taken_over() {
    // The FAILED deployment is seen before ECS reactivates the old one: ferry waits for ECS
    // and must recognise the reactivated deployment (an old id) as the rollback, rather
    // than take over with its own UpdateService after the grace period.
    let world =
        World::new().with_service("web", Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 2, event: None }).reactivating());
    let before = initial_deployment(&world, "web");
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(world.ecs.count("update_service"), 1, "no takeover: {:?}", world.ecs.calls_of("update_service"));
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(before.as_str()));
}

#[test]
fn a_stop_service_deployment_rollback_that_reactivates_the_old_deployment_completes() {
    // A timeout: ferry stops ours with StopServiceDeployment ROLLBACK; ECS reactivates the
    // last COMPLETED deployment. Before, ferry never adopted an old id and the rollback
    // "did not complete" although ECS had finished it.
    let world = World::new().with_service("web", Script::new(Rollout::Never).reactivating());
    let before = initial_deployment(&world, "web");
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::Timeout));
    assert_eq!(world.ecs.count("roll_back_in_progress"), 1);
    assert_eq!(world.ecs.count("update_service"), 1, "StopServiceDeployment did it; no second UpdateService");
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(before.as_str()));
}

#[test]
fn a_circuit_breaker_without_rollback_leaves_the_rollback_to_ferry() {
    let mut script = Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 0, event: None });
    script.circuit_breaker_rollback = false;
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::CircuitBreaker));
    // Our deployment is FAILED, not in progress: StopServiceDeployment has nothing to stop,
    // so ferry rolls back with UpdateService.
    let updates = world.ecs.calls_of("update_service");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1].args[2], td_arn("web", 1));
}

#[test]
fn a_circuit_breaker_rollback_that_never_starts_is_taken_over_by_ferry_after_a_grace_period() {
    let mut script = Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 0, event: None });
    script.ecs_rolls_back = false;
    let world = World::new().with_service("web", script);
    let started = world.clock.now_ms();
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::CircuitBreaker));
    assert!(world.ecs.created_by("circuit-breaker").is_empty());
    let updates = world.ecs.calls_of("update_service");
    assert_eq!(updates.len(), 2, "ferry's own rollback, once");
    assert_eq!(updates[1].args[2], td_arn("web", 1));
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(world.ecs.created_by("update")[1].id.as_str()));
    let waited = report.finished_at.unwrap_or_default() - started;
    assert!((15_000..60_000).contains(&waited), "ferry waits the grace period, not the whole timeout: {waited} ms");
}

#[test]
fn an_unplaceable_event_of_the_failed_deploy_does_not_fail_ecss_rollback() {
    // The circuit breaker fails ours; the same observation carries the "unable to place"
    // event that explains why. ECS's rollback to web:1 then completes normally.
    let event = "(service web) was unable to place a task because no container instance met all of its requirements.";
    let world = World::new().with_service("web", Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 0, event: Some(event) }));
    let report = world.deploy_one(request("web", "1.1.0"));

    let rollback = world.ecs.created_by("circuit-breaker");
    assert_eq!(rollback.len(), 1);
    let completed =
        world.ecs.with_service("web", |s| s.info.deployments.iter().map(|d| (d.id.clone(), d.rollout_state.clone())).collect::<Vec<_>>());
    assert_eq!(report.outcome, Outcome::FailedRolledBack, "reason: {:?}; deployments when ferry stopped: {completed:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::FailedRolledBack);
}

#[test]
fn a_deployment_that_never_completes_times_out_and_is_stopped_with_a_rollback() {
    let world = World::new().with_service("web", Script::new(Rollout::Never));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::Timeout));
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("did not complete within 10m")), "{:?}", report.reason);
    assert_eq!(world.ecs.count("roll_back_in_progress"), 1);
    assert_eq!(world.ecs.count("update_service"), 1, "StopServiceDeployment did it; no second UpdateService");
    let rollback = world.ecs.created_by("stop-rollback");
    assert_eq!(rollback.len(), 1);
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(rollback[0].id.as_str()));
    // The timeout counted from the update, on the fake clock.
    let updated_at = world.ecs.calls_of("update_service")[0].at;
    let stopped_at = world.ecs.calls_of("roll_back_in_progress")[0].at;
    assert!(stopped_at - updated_at >= 600_000, "stopped {} ms after the update", stopped_at - updated_at);
    assert!(stopped_at - updated_at <= 611_000, "stopped {} ms after the update", stopped_at - updated_at);
    // The lock was kept alive over the ten minutes, then released.
    assert!(world.locks.ops().iter().filter(|op| **op == "renew").count() >= 10, "{:?}", world.locks.ops());
    assert_eq!(world.locks.holder("prod", "web"), None);
}

#[test]
fn a_timeout_without_stop_service_deployment_rolls_back_with_update_service() {
    let world = World::new().with_service("web", Script::new(Rollout::Never).stop_rollback(false));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::Timeout));
    assert_eq!(world.ecs.count("roll_back_in_progress"), 1);
    let updates = world.ecs.calls_of("update_service");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1].args, vec![CLUSTER.to_string(), "web".into(), td_arn("web", 1), "false".into()]);
    let created = world.ecs.created_by("update");
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(created[1].id.as_str()));
    assert_eq!(report.ecs_deployment_id.as_deref(), Some(created[0].id.as_str()));
}

#[test]
fn an_image_pull_failure_fails_the_deploy_at_the_first_stopped_task() {
    let pull = "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found";
    let stops = vec![
        stop(pull, None, Some(pull)),
        stop("Essential container in task exited", Some(1), None),
        stop("Essential container in task exited", Some(1), None),
    ];
    let mut req = request("web", "1.1.0");
    req.max_task_failures = 3;
    let world = World::new().with_service("web", Script::new(Rollout::TasksStop { after: 1, stops, complete_after: None }));
    let report = world.deploy_one(req);

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::ImagePull));
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("CannotPullContainerError")), "{:?}", report.reason);
    assert_eq!(world.observer.stopped_tasks_reported(), 1, "it did not wait for more tasks to stop");
    assert_eq!(world.ecs.count("stopped_tasks"), 1);
    assert_eq!(world.ecs.calls_of("stopped_tasks")[0].args[1], world.ecs.created_by("update")[0].id);
    assert_eq!(world.ecs.count("roll_back_in_progress"), 1);
}

#[test]
fn tasks_that_keep_exiting_fail_the_deploy_at_max_task_failures() {
    let stops = (0..5).map(|_| stop("Essential container in task exited", Some(137), None)).collect();
    let world = World::new().with_service("web", Script::new(Rollout::TasksStop { after: 1, stops, complete_after: None }));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::TaskFailures));
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("3 tasks") && r.contains("exited with code 137")), "{:?}", report.reason);
    assert_eq!(world.observer.stopped_tasks_reported(), 3);
}

#[test]
fn scale_in_stops_during_a_deploy_are_not_counted_as_failed_tasks() {
    // Auto scaling lowers the desired count while the new version rolls out: the scheduler
    // stops three tasks of ours (ServiceSchedulerInitiated), and one new task crashes once.
    // Only the crash is a failure; with max_task_failures 3 the deploy goes on and succeeds.
    let stops = vec![scale_in(), scale_in(), stop("Essential container in task exited", Some(1), None), scale_in()];
    let mut req = request("web", "1.1.0");
    req.max_task_failures = 3;
    let world = World::new().with_service("web", Script::new(Rollout::TasksStop { after: 1, stops, complete_after: Some(6) }));
    let report = world.deploy_one(req);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(world.observer.stopped_tasks_reported(), 1, "only the crash is reported as a stopped task");
    assert_eq!(world.ecs.count("roll_back_in_progress"), 0);
    assert_eq!(world.ecs.count("update_service"), 1);
}

#[test]
fn a_failure_reason_quotes_a_real_failure_not_a_scale_in() {
    let stops = vec![
        stop("Essential container in task exited", Some(3), None),
        scale_in(),
        stop("Essential container in task exited", Some(3), None),
        scale_in(),
        stop("Essential container in task exited", Some(3), None),
    ];
    let world = World::new().with_service("web", Script::new(Rollout::TasksStop { after: 1, stops, complete_after: None }));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.cause, Some(FailureCause::TaskFailures), "{:?}", report.reason);
    let reason = report.reason.unwrap_or_default();
    assert!(reason.contains("3 tasks") && reason.contains("exited with code 3"), "{reason}");
    assert!(!reason.contains("Scaling activity"), "{reason}");
}

#[test]
fn done_means_stable_a_task_that_crashes_after_completed_fails_the_bake_and_rolls_back() {
    // COMPLETED on the 2nd look, a task crashes on the 5th (a few seconds later): with a
    // 30 s bake the deploy is not "deployed"; ferry rolls back with UpdateService (nothing
    // is in progress for StopServiceDeployment to stop).
    let world = World::new().with_service("web", Script::new(Rollout::CompleteThenCrash { complete_after: 2, fail_after: 5 }));
    let mut req = request("web", "1.1.0");
    req.bake = Duration::from_secs(30);
    let report = world.deploy_one(req);

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::TaskFailures));
    let reason = report.reason.clone().unwrap_or_default();
    assert!(reason.contains("after the deployment completed") && reason.contains("exited with code 139"), "{reason}");
    let updates = world.ecs.calls_of("update_service");
    assert_eq!(updates.len(), 2, "the deploy, then ferry's rollback");
    assert_eq!(updates[1].args[2], td_arn("web", 1));
    let baking = world.observer.events().iter().any(|e| matches!(e, Event::Phase { phase: Phase::Baking, .. }));
    assert!(baking, "the bake is announced");
}

#[test]
fn a_deploy_that_stays_healthy_through_the_bake_succeeds_after_it() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(2)));
    let started = world.clock.now_ms();
    let mut req = request("web", "1.1.0");
    req.bake = Duration::from_secs(30);
    let report = world.deploy_one(req);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    let took = report.finished_at.unwrap_or_default() - started;
    assert!((30_000..40_000).contains(&took), "done after the bake, not before nor long after: {took} ms");
}

#[test]
fn the_rollback_has_its_own_clock_not_what_is_left_of_the_deploys_timeout() {
    // The deploy times out after 1 minute; ECS's rollback then takes 5 minutes, well within
    // the rollback's own 15. It used to inherit the deploy's 1 minute and end "needs a
    // person" (exit 6) while ECS went on to finish it.
    let script = Script::new(Rollout::Never).rollback(Rollout::CompleteAt { all_running_ms: 240_000, completed_ms: 300_000 });
    let world = World::new().with_service("web", script);
    let mut req = request("web", "1.1.0");
    req.timeout = Duration::from_secs(60);
    req.rollback_timeout = Duration::from_secs(900);
    let report = world.deploy_one(req);

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::Timeout));
    assert_eq!(report.exit_kind(), ExitKind::FailedRolledBack);
}

#[test]
fn settings_that_cannot_make_progress_are_refused_before_any_change() {
    // desiredCount 2, minimumHealthyPercent 100, maximumPercent 134: ECS may neither start
    // nor stop a task. Found only after two timeouts before; now preflight names it.
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(2)));
    world.ecs.with_service("web", |s| s.info.maximum_percent = Some(134));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::Refused, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    let reason = report.reason.unwrap_or_default();
    assert!(reason.contains("maximumPercent 134") && reason.contains("at least 150"), "{reason}");
    assert_nothing_changed(&world);
}

#[test]
fn a_rollback_to_a_deregistered_revision_is_refused_before_any_change() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(2)));
    {
        let mut state = world.ecs.state();
        let arn = td_arn("web", 5);
        let mut info = state.task_definitions[&td_arn("web", 1)].clone();
        info.arn = arn.clone();
        info.revision = 5;
        info.definition["taskDefinitionArn"] = json!(arn);
        info.definition["revision"] = json!(5);
        info.definition["status"] = json!("INACTIVE");
        state.task_definitions.insert(arn, info);
    }
    let mut req = request("web", "1.0.0");
    req.kind = "rollback";
    req.source = Source::Revision(td_arn("web", 5));
    let report = world.deploy_one(req);

    assert_eq!(report.outcome, Outcome::Refused, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    let reason = report.reason.unwrap_or_default();
    assert!(reason.contains("web:5 was deregistered (INACTIVE)") && reason.contains("ferry deploy prod web=VERSION"), "{reason}");
    assert_nothing_changed(&world);
}

#[test]
fn a_deploy_of_several_services_changes_none_when_one_fails_preflight() {
    // `ferry deploy dev web=9.9.9 worker=1.1.0` used to deploy worker and exit 4, the code
    // that promises nothing changed.
    let world = World::new()
        .with_service("web", Script::new(Rollout::CompleteAfter(2)))
        .with_service("worker", Script::new(Rollout::CompleteAfter(2)));
    let reports = world.deploy(&[request("web", "9.9.9"), request("worker", "1.1.0")]);

    assert_eq!(reports[0].outcome, Outcome::Refused, "{:?}", reports[0].reason);
    assert_eq!(reports[1].outcome, Outcome::Refused, "{:?}", reports[1].reason);
    assert!(reports[1].reason.as_deref().is_some_and(|r| r.contains("web could not start")), "{:?}", reports[1].reason);
    assert!(world.ecs.mutations().is_empty(), "{:?}", world.ecs.mutations());
    assert_eq!(world.locks.holder("prod", "worker"), None, "the lock taken is released");
}

#[test]
fn a_deploy_of_several_services_changes_none_when_one_lock_is_held() {
    let world = World::new()
        .with_service("web", Script::new(Rollout::CompleteAfter(2)))
        .with_service("worker", Script::new(Rollout::CompleteAfter(2)));
    world.locks.hold("prod", "web", "fd-other");
    let reports = world.deploy(&[request("web", "1.1.0"), request("worker", "1.1.0")]);

    assert_eq!(reports[0].outcome, Outcome::LockHeld);
    assert_eq!(reports[1].outcome, Outcome::Refused, "{:?}", reports[1].reason);
    assert!(world.ecs.mutations().is_empty(), "{:?}", world.ecs.mutations());
    assert_eq!(world.locks.holder("prod", "web").as_deref(), Some("fd-other"));
    assert_eq!(world.locks.holder("prod", "worker"), None);
}

#[test]
fn a_deployment_replaced_by_someone_else_is_not_rolled_back() {
    let world = World::new().with_service("web", Script::new(Rollout::ReplacedAfter(2)));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::RollbackFailed, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::RollbackFailed);
    assert_eq!(report.cause, Some(FailureCause::Replaced));
    let theirs = world.ecs.created_by("someone-else");
    assert_eq!(theirs.len(), 1);
    assert!(report.reason.as_deref().is_some_and(|r| r.contains(&theirs[0].id) && r.contains("web:99")), "{:?}", report.reason);
    assert_eq!(world.ecs.count("update_service"), 1, "their deployment is left alone");
    assert_eq!(world.ecs.count("roll_back_in_progress"), 0);
    assert_eq!(world.locks.holder("prod", "web"), None);
}

#[test]
fn a_rollback_that_never_completes_is_a_failed_rollback() {
    let script = Script::new(Rollout::CircuitBreaker { after: 2, rollback_delay: 0, event: None }).rollback(Rollout::Never);
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::RollbackFailed, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::RollbackFailed);
    assert_eq!(report.cause, Some(FailureCause::CircuitBreaker), "the first cause is the one reported");
    assert!(
        report.reason.as_deref().is_some_and(|r| r.contains("the rollback failed too") && r.contains("did not complete")),
        "{:?}",
        report.reason
    );
    assert_eq!(world.ecs.count("update_service"), 1);
    let rolling_back = world.observer.events().iter().filter(|e| matches!(e, Event::Phase { phase: Phase::RollingBack, .. })).count();
    assert_eq!(rolling_back, 1);
    assert_eq!(world.locks.holder("prod", "web"), None);
}

#[test]
fn a_timed_out_rollback_started_by_ferry_is_a_failed_rollback() {
    let world = World::new().with_service("web", Script::new(Rollout::Never).rollback(Rollout::Never));
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::RollbackFailed, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::Timeout));
    assert_eq!(world.ecs.count("roll_back_in_progress"), 1, "one rollback, not a rollback of the rollback");
}

#[test]
fn a_failed_registration_is_recorded_as_ended() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.ecs.state().fail_register = true;
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::Error);
    assert_eq!(world.ecs.count("update_service"), 0);
    assert_eq!(world.locks.holder("prod", "web"), None);
    let records = world.observer.records();
    assert!(!records.is_empty(), "the deploy was recorded once it held the lock");
    let last = records.last().expect("a record");
    assert_eq!((last.outcome, last.finished_at.is_some()), (Outcome::Error, true), "the last record is still {last:?}");
}

// ---------------------------------------------------------------------------------------
// The API budget
// ---------------------------------------------------------------------------------------

#[test]
fn services_of_one_cluster_are_watched_with_one_describe_services_call_per_look() {
    let single = World::new().with_service("web", Script::new(Rollout::CompleteAfter(3)));
    assert_eq!(single.deploy_one(request("web", "1.1.0")).outcome, Outcome::Succeeded);
    let single_looks = single.ecs.watch_describes().len();

    let names = ["api", "web", "worker"];
    let mut world = World::new();
    for name in names {
        world = world.with_service(name, Script::new(Rollout::CompleteAfter(3)));
    }
    let requests: Vec<Request> = names.iter().map(|n| request(n, "1.1.0")).collect();
    let reports = world.deploy(&requests);
    for report in &reports {
        assert_eq!(report.outcome, Outcome::Succeeded, "{}: {:?}", report.service, report.reason);
    }

    let looks = world.ecs.watch_describes();
    assert!(looks.len() <= single_looks + 1, "{} looks for three services, {single_looks} for one", looks.len());
    for look in &looks {
        let mut asked = look.args.clone();
        asked.sort();
        assert_eq!(asked, names, "every look describes the three together");
    }
}

#[test]
fn no_describe_services_call_names_more_than_ten_services() {
    let names: Vec<String> = (1..=12).map(|i| format!("svc{i:02}")).collect();
    let mut world = World::new();
    for name in &names {
        world = world.with_service(name, Script::new(Rollout::CompleteAfter(2)));
    }
    let requests: Vec<Request> = names.iter().map(|n| request(n, "1.1.0")).collect();
    let reports = world.deploy(&requests);
    for report in &reports {
        assert_eq!(report.outcome, Outcome::Succeeded, "{}: {:?}", report.service, report.reason);
    }

    for call in world.ecs.calls_of("describe_services") {
        assert!(call.args.len() <= 10, "{} names in one call", call.args.len());
    }
    let looks = world.ecs.watch_describes();
    let mut sizes: Vec<usize> = looks.iter().take(2).map(|c| c.args.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![2, 10], "the first look is split 10 + 2");
}

#[test]
fn a_slow_rollout_is_polled_with_backoff_and_returns_within_a_fast_poll_of_completing() {
    const ALL_RUNNING_MS: i64 = 290_000;
    const COMPLETED_MS: i64 = 300_000;
    let world =
        World::new().with_service("web", Script::new(Rollout::CompleteAt { all_running_ms: ALL_RUNNING_MS, completed_ms: COMPLETED_MS }));
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);

    let created_at = world.ecs.created_by("update")[0].at;
    let completed_at = created_at + COMPLETED_MS;
    let finished_at = report.finished_at.expect("finished");
    assert!(finished_at >= completed_at);
    assert!(finished_at - completed_at <= 500, "returned {} ms after ECS completed", finished_at - completed_at);

    let looks = world.ecs.watch_describes();
    // Polling every 0.5 s for five minutes would be 600 looks.
    assert!(looks.len() < 150, "{} DescribeServices calls for a five-minute rollout", looks.len());
    let gaps: Vec<(i64, i64)> = looks.windows(2).map(|w| (w[1].at - created_at, w[1].at - w[0].at)).collect();
    let longest = gaps.iter().map(|&(_, gap)| gap).max().unwrap_or(0);
    assert!(longest >= 5_000, "it backs off while nothing changes (longest gap {longest} ms)");
    assert!(longest <= 10_000, "but looks at least every 10 s (longest gap {longest} ms)");
    for &(at, gap) in gaps.iter().filter(|&&(at, _)| at > ALL_RUNNING_MS + 10_000) {
        assert!(gap <= 500, "near completion it polls fast, but waited {gap} ms at {at} ms");
    }
}

#[test]
fn the_new_tasks_health_is_read_only_for_someone_watching_and_sparingly() {
    let script = || Script::new(Rollout::CompleteAt { all_running_ms: 10_000, completed_ms: 20_000 });
    let pipeline = World::new().with_service("web", script());
    assert_eq!(pipeline.deploy_one(request("web", "1.1.0")).outcome, Outcome::Succeeded);
    assert_eq!(pipeline.ecs.count("task_health"), 0, "no extra calls when nobody watches");
    assert!(pipeline.observer.events().iter().all(|e| !matches!(e, Event::Progress { progress, .. } if progress.health.is_some())));

    let person = World::new().with_service("web", script());
    person.observer.watching.store(true, Ordering::SeqCst);
    assert_eq!(person.deploy_one(request("web", "1.1.0")).outcome, Outcome::Succeeded);
    let reads = person.ecs.calls_of("task_health");
    assert!(!reads.is_empty(), "health is read while the new tasks run");
    // Ten steady seconds of running tasks: every 2 s, not on every look.
    assert!(reads.len() <= 6, "10 s of running tasks, read every 2 s at most: {} reads", reads.len());
    assert!(reads.windows(2).all(|w| w[1].at - w[0].at >= 2_000), "steady progress: every 2 s, not every look: {reads:?}");
    let healthy: Vec<u32> = person
        .observer
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Progress { progress, .. } => progress.health.map(|h| h.healthy),
            _ => None,
        })
        .collect();
    assert_eq!(healthy.first(), Some(&2), "the progress line says how many new tasks are healthy: {healthy:?}");
}

// ---------------------------------------------------------------------------------------
// Behind a load balancer
// ---------------------------------------------------------------------------------------

/// The target groups of each progress event, in order: (rollout state, healthy, unhealthy,
/// expected) of web-tg.
fn web_tg_progress(world: &World) -> Vec<(String, u32, u32, u32)> {
    world
        .observer
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Progress { rolling_back: false, progress, .. } => {
                let group = progress.targets.iter().find(|g| g.target_group == "web-tg")?;
                Some((progress.rollout_state.clone(), group.healthy, group.unhealthy, group.expected))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn progress_shows_the_new_tasks_healthy_targets_per_target_group() {
    let script =
        Script::new(Rollout::CompleteAt { all_running_ms: 2_000, completed_ms: 30_000 }).behind(None, Targets::HealthyAfter(5_000));
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);

    let seen = web_tg_progress(&world);
    assert!(seen.iter().all(|&(_, _, _, expected)| expected == 2), "two new tasks, two targets to turn healthy: {seen:?}");
    assert!(seen.iter().any(|&(_, healthy, _, _)| healthy == 0), "the line shows the group before its targets are healthy: {seen:?}");
    assert_eq!(seen.last().map(|s| (s.0.as_str(), s.1)), Some(("COMPLETED", 2)), "{seen:?}");
    // The groups are data in the event: a JSON consumer reads them without parsing prose.
    let event = world.observer.events().into_iter().rfind(|e| matches!(e, Event::Progress { .. })).expect("a progress event");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["progress"]["targets"][0]["target_group"], "web-tg");
    assert_eq!(json["progress"]["targets"][0]["target_group_arn"], WEB_TG);
    assert_eq!(json["progress"]["targets"][0]["healthy"], 2);
    // Only our deployment's tasks' targets are read, sparingly.
    let reads = world.ecs.calls_of("describe_target_health");
    assert!(reads.windows(2).all(|w| w[1].at - w[0].at >= 2_000), "targets read every 2 s at most: {reads:?}");
    let listed = world.ecs.calls_of("running_tasks");
    assert!(listed.iter().all(|c| c.args[1] == report.ecs_deployment_id.clone().unwrap_or_default()), "{listed:?}");
    // The tasks are listed again only when the deployment's counts move: a task keeps its
    // address, so 28 s of the same two tasks cost one listing and a target read every 2 s.
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(reads.len() >= 10, "{reads:?}");
}

#[test]
fn a_task_replaced_between_two_looks_without_a_failure_does_not_make_the_deploy_time_out() {
    // 10 s in, someone stops a new task and ECS starts a replacement at another address:
    // the deployment's counts (running, pending, desired, failed) are the same at the next
    // look, but the listed tasks are not the deployment's any more.
    let mut script =
        Script::new(Rollout::CompleteAt { all_running_ms: 2_000, completed_ms: 30_000 }).behind(None, Targets::HealthyAfter(5_000));
    script.replace_a_task_at = Some(10_000);
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    let ours = report.ecs_deployment_id.clone().expect("our deployment");
    let replaced_at = world.ecs.with_service("web", |s| s.replaced.get(&ours).copied()).expect("a task was replaced");
    assert_eq!(web_tg_progress(&world).last().map(|s| (s.0.as_str(), s.1)), Some(("COMPLETED", 2)));
    assert!(report.finished_at.is_some_and(|at| at < replaced_at + 60_000), "well before the timeout: {:?}", report.finished_at);

    // The replacement's target, which no listed task explained, cost one more listing; the
    // looks before and after it cost one DescribeTargetHealth each and no listing.
    let listed = world.ecs.calls_of("running_tasks");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed[1].at >= replaced_at, "{listed:?}");
    let reads = world.ecs.calls_of("describe_target_health");
    assert!(reads.len() >= 10, "{reads:?}");
    assert!(reads.windows(2).all(|w| w[1].at - w[0].at >= 2_000), "targets read every 2 s at most: {reads:?}");
}

#[test]
fn a_service_without_a_load_balancer_reads_no_target_health() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAt { all_running_ms: 2_000, completed_ms: 10_000 }));
    assert_eq!(world.deploy_one(request("web", "1.1.0")).outcome, Outcome::Succeeded);
    assert_eq!(world.ecs.count("describe_target_group") + world.ecs.count("describe_target_health") + world.ecs.count("running_tasks"), 0);
    assert!(web_tg_progress(&world).is_empty());
}

#[test]
fn completed_is_not_done_until_the_new_tasks_are_healthy_in_the_load_balancer() {
    // ECS answers COMPLETED while the new targets are still `initial` (a stale answer):
    // ferry keeps looking until a read shows them healthy.
    let script = Script::new(Rollout::CompleteAfter(3)).behind(None, Targets::HealthyAfter(20_000));
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);

    let seen = web_tg_progress(&world);
    let completed: Vec<&(String, u32, u32, u32)> = seen.iter().filter(|s| s.0 == "COMPLETED").collect();
    assert_eq!(completed.first().map(|s| s.1), Some(0), "COMPLETED was seen with no healthy target first: {seen:?}");
    assert_eq!(completed.last().map(|s| s.1), Some(2), "and the deploy ended once both were healthy: {seen:?}");
    // The read that ended it was made after the targets turned healthy.
    let running_since = world.ecs.with_service("web", |s| s.running_since[report.ecs_deployment_id.as_deref().unwrap_or_default()]);
    let last_read = world.ecs.calls_of("describe_target_health").last().map(|c| c.at).expect("target reads");
    assert!(last_read >= running_since + 20_000);
    assert!(report.finished_at.is_some_and(|at| at >= last_read));
}

#[test]
fn a_completed_deployment_whose_targets_never_turn_healthy_times_out_saying_so_and_is_rolled_back() {
    let script = Script::new(Rollout::CompleteAfter(3)).behind(None, Targets::HealthyAfter(DAY_MS));
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::Timeout));
    let reason = report.reason.unwrap_or_default();
    assert!(reason.contains("did not complete within 10m (2 of 2 new tasks running, 0/2 targets healthy in web-tg)"), "{reason}");
}

#[test]
fn an_unhealthy_target_fails_the_deploy_after_the_grace_period_with_the_health_checks_reason_and_rolls_back() {
    let script = Script::new(Rollout::CompleteAt { all_running_ms: 2_000, completed_ms: 10 * 3_600_000 }).behind(
        Some(60),
        Targets::UnhealthyAfter {
            after_ms: 1_000,
            reason: "Target.ResponseCodeMismatch",
            description: "Health checks failed with these codes: [500]",
        },
    );
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));

    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::FailedRolledBack);
    assert_eq!(report.cause, Some(FailureCause::UnhealthyTargets));
    let reason = report.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("target group web-tg: Target.ResponseCodeMismatch — Health checks failed with these codes: [500] (target 10.0."),
        "{reason}"
    );
    assert!(reason.ends_with("rolled back to web:1"), "{reason}");

    // Not before the grace period: the unhealthy targets were shown, not judged.
    let seen = web_tg_progress(&world);
    assert!(seen.iter().any(|&(_, _, unhealthy, _)| unhealthy == 2), "{seen:?}");
    let ours = report.ecs_deployment_id.clone().expect("our deployment");
    let running_since = world.ecs.with_service("web", |s| s.running_since[&ours]);
    let rollback = &world.ecs.calls_of("roll_back_in_progress")[0];
    assert!(rollback.at >= running_since + 60_000, "judged {} ms after the tasks started", rollback.at - running_since);
    // Early: well before the ten-minute timeout.
    assert!(rollback.at < world.ecs.created_by("update")[0].at + TEN_MINUTES.as_millis() as i64 / 2);
    // Rolled back as any failure is: ECS's rollback deployment was watched to completion.
    assert_eq!(world.ecs.created_by("stop-rollback").len(), 1);
    assert_eq!(report.rollback_deployment_id.as_deref(), Some(world.ecs.created_by("stop-rollback")[0].id.as_str()));
}

#[test]
fn without_a_grace_period_the_first_unhealthy_look_fails_the_deploy() {
    let script = Script::new(Rollout::CompleteAt { all_running_ms: 2_000, completed_ms: 10 * 3_600_000 })
        .behind(None, Targets::UnhealthyAfter { after_ms: 3_000, reason: "Target.Timeout", description: "Request timed out" });
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.cause, Some(FailureCause::UnhealthyTargets), "{:?}", report.reason);
    assert!(report.reason.as_deref().unwrap_or_default().starts_with("target group web-tg: Target.Timeout — Request timed out"));
    let ours = report.ecs_deployment_id.clone().expect("our deployment");
    let running_since = world.ecs.with_service("web", |s| s.running_since[&ours]);
    let reads = world.ecs.calls_of("describe_target_health");
    let first_unhealthy = reads.iter().find(|c| c.at >= running_since + 3_000).expect("a read after the targets turned unhealthy");
    let rollback = &world.ecs.calls_of("roll_back_in_progress")[0];
    assert_eq!(first_unhealthy.at, rollback.at, "failed at the look that found it, not a later one");
}

#[test]
fn a_task_ecs_stopped_for_failing_its_elb_health_checks_fails_the_deploy_at_once() {
    let elb_stop = Stop {
        code: "ServiceSchedulerInitiated",
        reason: "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/0123456789abcdef)",
        exit_code: None,
        container_reason: None,
    };
    let script = Script::new(Rollout::TasksStop { after: 2, stops: vec![elb_stop], complete_after: None })
        .behind(Some(30), Targets::HealthyAfter(0));
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::FailedRolledBack, "{:?}", report.reason);
    assert_eq!(report.cause, Some(FailureCause::UnhealthyTargets));
    assert!(report.reason.as_deref().unwrap_or_default().contains("failed its load balancer health checks"), "{:?}", report.reason);
    assert_eq!(world.observer.stopped_tasks_reported(), 1, "one task, not max_task_failures (3)");
}

#[test]
fn a_missing_target_group_is_refused_before_anything_changes() {
    let mut script = Script::new(Rollout::CompleteAfter(1)).behind(None, Targets::HealthyAfter(0));
    if let Some(behind) = script.behind.as_mut() {
        behind.exists = false;
    }
    let world = World::new().with_service("web", script);
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Refused);
    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    let reason = report.reason.unwrap_or_default();
    assert!(reason.starts_with("target group web-tg of service web not found"), "{reason}");
    assert!(reason.contains(WEB_TG), "{reason}");
    assert_eq!(world.ecs.count("describe_target_group"), 1, "one read per target group");
    assert_nothing_changed(&world);
}

// ---------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------

#[test]
fn a_plan_shows_the_diff_and_changes_nothing() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let reports = world.plan(&[request("web", "1.1.0"), request("web", "1.0.0")]);

    let new_image = &reports[0];
    assert_eq!(new_image.outcome, Outcome::Planned, "{:?}", new_image.reason);
    assert_eq!(new_image.exit_kind(), ExitKind::Ok);
    assert_eq!(new_image.changes.len(), 1, "{:?}", new_image.changes);
    let change = &new_image.changes[0];
    assert!(change.path.contains("image"), "{change:?}");
    assert_eq!(change.old, Some(json!(format!("{REGISTRY_HOST}/web:1.0.0"))));
    assert_eq!(change.new, Some(json!(format!("{REGISTRY_HOST}/web:1.1.0"))));
    assert_eq!(new_image.from_version.as_deref(), Some("1.0.0"));
    assert_eq!(new_image.to_digest.as_deref(), Some(digest_of("1.1.0").as_str()));
    assert!(new_image.finished_at.is_some());

    let same_image = &reports[1];
    // What already runs: a deploy of it would change nothing (no-op deploy).
    assert_eq!(same_image.outcome, Outcome::Unchanged);
    assert!(same_image.changes.is_empty(), "read-only members, API defaults and ferry's tags are not changes: {:?}", same_image.changes);

    assert_nothing_changed(&world);
    assert!(world.observer.records().is_empty());
    assert!(world.ecs.calls().iter().all(|c| c.op != "stopped_tasks"));
}

// ---------------------------------------------------------------------------------------
// The journal, and a re-run after a crash
// ---------------------------------------------------------------------------------------

fn step(seq: i64, name: &str, state: StepState, started_at: i64, data: Value) -> JournalStep {
    JournalStep { seq, name: name.into(), state, started_at, finished_at: None, data }
}

/// What a dead run of `fd-dead` deploying web 1.1.0 did before it was killed: it registered
/// its revision and called UpdateService, and journaled both as started, never as done.
fn dead_run_after_update_service(world: &World) -> (Interrupted, String) {
    dead_run_with_memory(world, 256)
}

/// As [`dead_run_after_update_service`], the dead run's revision with `memory` MiB.
fn dead_run_with_memory(world: &World, memory: i64) -> (Interrupted, String) {
    let earlier = world.ecs.state().services[&(CLUSTER.to_string(), "web".to_string())].info.deployments[0].id.clone();
    let definition = json!({
        "family": "web",
        "containerDefinitions": [{"name": "web", "image": format!("{REGISTRY_HOST}/web:1.1.0"), "essential": true, "memory": memory, "portMappings": [{"containerPort": 8080}]}],
        // What the template renders (the same definition: a resumable target), with the
        // dead run's ferry tags.
        "tags": [{"key": "team", "value": "payments"}, {"key": "ferry:deployment", "value": "fd-dead"}, {"key": "ferry:version", "value": "1.1.0"}],
    });
    let registered = futures::executor::block_on(world.ecs.register_task_definition(&definition)).expect("register");
    let now = world.clock.now_ms();
    futures::executor::block_on(world.ecs.update_service(CLUSTER, "web", &registered.arn, false)).expect("update");
    let interrupted = Interrupted {
        deployment_id: "fd-dead".into(),
        kind: "deploy".into(),
        strategy: Some("rolling".into()),
        to_digest: Some(digest_of("1.1.0")),
        to_version: Some("1.1.0".into()),
        to_task_definition: None,
        from_task_definition: Some(td_arn("web", 1)),
        from_digest: Some(digest_of("1.0.0")),
        from_version: Some("1.0.0".into()),
        started_at: now - 1_000,
        steps: vec![
            step(
                1,
                names::PREFLIGHT,
                StepState::Done,
                now - 900,
                json!({"previous_task_definition": td_arn("web", 1), "earlier_deployments": [earlier]}),
            ),
            step(2, names::REGISTER_TASK_DEFINITION, StepState::Started, now - 800, json!({"family": "web"})),
            step(3, names::UPDATE_SERVICE, StepState::Started, now, json!({"task_definition": registered.arn})),
        ],
    };
    (interrupted, registered.arn)
}

#[test]
fn every_change_is_journaled_before_it_is_made_and_after() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(3)));
    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    let steps = world.observer.steps.lock().expect("steps").clone();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [names::PREFLIGHT, names::REGISTER_TASK_DEFINITION, names::UPDATE_SERVICE]);
    assert!(steps.iter().all(|s| s.state == StepState::Done), "{steps:?}");
    assert_eq!(steps[0].data["previous_task_definition"], td_arn("web", 1));
    assert_eq!(steps[1].data["task_definition"], td_arn("web", 2));
    assert_eq!(steps[2].data["ecs_deployment_id"].as_str(), report.ecs_deployment_id.as_deref());
    assert_eq!(report.strategy, "rolling");
}

#[test]
fn a_rerun_adopts_the_dead_runs_revision_and_deployment_instead_of_making_new_ones() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(3)));
    let (dead, revision) = dead_run_after_update_service(&world);
    let deployment = world.ecs.created_by("update")[0].id.clone();
    *world.observer.interrupted.lock().expect("interrupted") = Some(dead);

    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(report.deployment_id, "fd-dead", "the dead run's deployment, finished under its id");
    assert_eq!(world.ecs.count("register_task_definition"), 1, "only the dead run's registration");
    assert_eq!(world.ecs.count("update_service"), 1, "only the dead run's UpdateService");
    assert_eq!(report.to_task_definition.as_deref(), Some(revision.as_str()));
    assert_eq!(report.ecs_deployment_id.as_deref(), Some(deployment.as_str()));
    assert_eq!(report.from_task_definition.as_deref(), Some(td_arn("web", 1).as_str()), "what ran before the dead run");
    assert!(report.resumed_at.as_deref().is_some_and(|at| at.contains("update_service")), "{:?}", report.resumed_at);
    assert_eq!(world.locks.holder("prod", "web"), None);
}

#[test]
fn a_dead_run_of_another_version_is_closed_and_its_previous_revision_kept() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(3)));
    let (mut dead, _) = dead_run_after_update_service(&world);
    dead.to_digest = Some(digest_of("1.0.0"));
    *world.observer.interrupted.lock().expect("interrupted") = Some(dead);

    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(report.deployment_id, "fd-web", "a deployment of its own");
    assert_eq!(*world.observer.settled.lock().expect("settled"), ["fd-dead"]);
    assert_eq!(world.ecs.count("register_task_definition"), 2, "the dead run's revision is not this version's");
    assert_eq!(report.from_task_definition.as_deref(), Some(td_arn("web", 1).as_str()), "what ran before the dead run");
}

#[test]
fn a_dead_run_of_the_same_version_but_another_definition_is_superseded() {
    // The template was edited between the kill and the re-run: the fix is registered.
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(3)));
    let (dead, revision) = dead_run_with_memory(&world, 512);
    *world.observer.interrupted.lock().expect("interrupted") = Some(dead);

    let report = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(report.deployment_id, "fd-web");
    assert_eq!(*world.observer.settled.lock().expect("settled"), ["fd-dead"]);
    assert_eq!(world.ecs.count("register_task_definition"), 2);
    assert_ne!(report.to_task_definition.as_deref(), Some(revision.as_str()), "not the dead run's revision");
}

// ---------------------------------------------------------------------------------------
// No-op deploys and --force
// ---------------------------------------------------------------------------------------

/// A world where web:1.1.0 was deployed and completed: the service runs web:2, steady.
fn deployed_1_1_0() -> World {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(2)));
    let first = world.deploy_one(request("web", "1.1.0"));
    assert_eq!(first.outcome, Outcome::Succeeded, "{:?}", first.reason);
    world
}

fn again(version: &str, id: &str) -> Request {
    let mut request = request("web", version);
    request.trace.deployment_id = id.into();
    request
}

#[test]
fn a_deploy_of_what_already_runs_registers_nothing_and_updates_nothing() {
    let world = deployed_1_1_0();
    let mutations_before = world.ecs.mutations().len();

    let report = world.deploy_one(again("1.1.0", "fd-again"));

    assert_eq!(report.outcome, Outcome::Unchanged, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::Ok);
    assert_eq!(world.ecs.mutations().len(), mutations_before, "no mutation: {:?}", world.ecs.mutations());
    assert_eq!(world.ecs.count("register_task_definition"), 1, "only the first deploy registered");
    assert_eq!(world.ecs.count("update_service"), 1, "only the first deploy updated the service");
    assert!(report.changes.is_empty(), "{:?}", report.changes);
    assert_eq!(report.to_task_definition.as_deref(), Some(td_arn("web", 2).as_str()));
    assert_eq!(report.ecs_deployment_id, None);
    // Recorded in the ledger as unchanged, and the lock freed.
    assert_eq!(world.observer.records().last().map(|r| r.outcome), Some(Outcome::Unchanged));
    assert_eq!(world.locks.holder("prod", "web"), None);
    assert!(matches!(world.observer.events().last(), Some(Event::Finished { outcome: Outcome::Unchanged, .. })));
}

#[test]
fn a_plan_of_what_already_runs_is_unchanged_and_a_new_version_is_planned() {
    let world = deployed_1_1_0();
    let same = world.plan(&[again("1.1.0", "fd-plan")]).remove(0);
    assert_eq!(same.outcome, Outcome::Unchanged, "{:?}", same.reason);
    let other = world.plan(&[again("1.0.0", "fd-plan-2")]).remove(0);
    assert_eq!(other.outcome, Outcome::Planned, "{:?}", other.reason);
}

#[test]
fn a_changed_template_with_the_same_digest_registers_a_new_revision() {
    let world = deployed_1_1_0();
    let mut changed = again("1.1.0", "fd-changed");
    changed.source = Source::Template { name: "web.json".into(), text: TEMPLATE.replace("256", "512") };

    let report = world.deploy_one(changed);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(world.ecs.count("register_task_definition"), 2);
    assert_eq!(world.ecs.count("update_service"), 2);
}

#[test]
fn a_forced_deploy_of_what_already_runs_makes_one_forced_update_and_no_registration() {
    let world = deployed_1_1_0();
    let mut forced = again("1.1.0", "fd-forced");
    forced.force = true;

    let report = world.deploy_one(forced);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(world.ecs.count("register_task_definition"), 1, "no new revision");
    let updates = world.ecs.calls_of("update_service");
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[1].args, vec![CLUSTER.to_string(), "web".into(), td_arn("web", 2), "true".into()]);
    let ours = world.ecs.created_by("update");
    assert_eq!(report.ecs_deployment_id.as_deref(), ours.last().map(|d| d.id.as_str()));
    assert_eq!(report.to_task_definition.as_deref(), Some(td_arn("web", 2).as_str()));
}

// ---------------------------------------------------------------------------------------
// Preflight of what the task definition depends on
// ---------------------------------------------------------------------------------------

/// The template with a sidecar running `sidecar_image`, and `extra` members at top level.
fn with_sidecar(sidecar_image: &str, extra: &str) -> Source {
    let text = format!(
        r#"{{
  "family": "{{{{ ecs_service }}}}",{extra}
  "containerDefinitions": [
    {{"name": "web", "image": "{{{{ image }}}}", "essential": true, "memory": 256,
      "secrets": [{{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}}]}},
    {{"name": "envoy", "image": "{sidecar_image}", "essential": true, "memory": 128}}
  ]
}}"#
    );
    Source::Template { name: "web.json".into(), text }
}

#[test]
fn a_sidecar_image_missing_from_ecr_is_refused_naming_the_container_before_anything_changes() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut deploy = request("web", "1.1.0");
    deploy.source = with_sidecar(&format!("{REGISTRY_HOST}/envoy:v1.2"), "");
    let report = world.deploy_one(deploy);

    assert_eq!(report.outcome, Outcome::Refused);
    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused);
    let reason = report.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&format!("containerDefinitions[name=envoy].image: {REGISTRY_HOST}/envoy:v1.2 not found in ECR"))
            && reason.contains("eu-west-1")
            && reason.contains("123456789012"),
        "{reason}"
    );
    assert!(world.registry.calls().contains(&"envoy:v1.2".to_string()), "{:?}", world.registry.calls());
    assert_nothing_changed(&world);
}

#[test]
fn a_malformed_role_arn_is_refused_naming_the_field() {
    for (field, arn) in [("taskRoleArn", "arn:aws:iam::123456789012:user/web"), ("executionRoleArn", "arn:aws:iam::12345:role/exec")] {
        let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
        let mut deploy = request("web", "1.1.0");
        deploy.source = with_sidecar(&format!("{REGISTRY_HOST}/web:1.1.0"), &format!(r#" "{field}": "{arn}","#));
        let report = world.deploy_one(deploy);

        assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{field}");
        let reason = report.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(&format!("{field}: {arn} is not an IAM role ARN")), "{reason}");
        assert_nothing_changed(&world);
    }
}

#[test]
fn a_docker_hub_sidecar_and_the_roles_existence_are_listed_as_not_checked_and_the_deploy_goes_on() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.workload.parameters.lock().unwrap().push("arn:aws:ssm:eu-west-1:123456789012:parameter/db".into());
    let mut deploy = request("web", "1.1.0");
    deploy.source = with_sidecar(
        "envoyproxy/envoy:v1.2",
        r#" "taskRoleArn": "arn:aws-us-gov:iam::123456789012:role/app/web", "executionRoleArn": "arn:aws:iam::123456789012:role/exec","#,
    );
    let report = world.deploy_one(deploy);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    let expected = vec![
        "containerDefinitions[name=envoy].image: envoyproxy/envoy:v1.2 (neither in ECR nor in a registry of [registries])".to_string(),
        "taskRoleArn and executionRoleArn: that the roles exist (ferry does not read IAM)".to_string(),
    ];
    assert_eq!(report.not_checked, expected);
    assert_eq!(world.workload.asked(), vec!["ssm arn:aws:ssm:eu-west-1:123456789012:parameter/db"], "the secret was checked");
    assert!(!world.registry.calls().iter().any(|c| c.contains("envoy")), "Docker Hub is not asked: {:?}", world.registry.calls());
    let json = serde_json::to_value(&report).expect("report as JSON");
    assert_eq!(json["not_checked"].as_array().map(Vec::len), Some(2), "{json}");
    let said = world.observer.events().into_iter().find_map(|e| match e {
        Event::Phase { detail: Detail::NotChecked { items }, .. } => Some(items),
        _ => None,
    });
    assert_eq!(said, Some(expected), "one preflight event says it");
}

#[test]
fn a_sidecar_in_a_registry_of_registries_is_looked_up_there_and_refused_when_missing() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.workload.parameters.lock().unwrap().push("arn:aws:ssm:eu-west-1:123456789012:parameter/db".into());
    let mut deploy = request("web", "1.1.0");
    deploy.source = with_sidecar("registry.example.com/envoy:v1.2", "");

    let report = world.deploy_one(deploy.clone());

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "web.json: containerDefinitions[name=envoy].image: registry.example.com/envoy:v1.2 not found in its registry (ferry.toml's \
             [registries]); push it, or fix the image"
        )
    );
    assert_nothing_changed(&world);

    world.registry.images.lock().unwrap().insert(("envoy".into(), "v1.2".into()), digest_of("1.0.0"));
    let report = world.deploy_one(deploy);
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert!(report.not_checked.is_empty(), "it was checked: {:?}", report.not_checked);
    assert_eq!(world.registry.calls().iter().filter(|c| c.as_str() == "registry.example.com/envoy:v1.2").count(), 2);
}

/// The template with `members` added to container web (`"secrets": [...]`, ...).
fn web_with(members: &str) -> Source {
    let text = TEMPLATE.replacen(r#""memory": 256,"#, &format!(r#""memory": 256, {members},"#), 1);
    Source::Template { name: "web.json".into(), text }
}

/// Container web's awslogs `logConfiguration` writing to /ecs/web in eu-west-1, with
/// `more` options.
fn awslogs(more: &str) -> String {
    format!(
        r#""logConfiguration": {{"logDriver": "awslogs", "options": {{"awslogs-group": "/ecs/web", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "web"{more}}}}}"#
    )
}

const DB_PASSWORD: &str = r#""secrets": [{"name": "DB_PASSWORD", "valueFrom": "/app/db/password"}]"#;

#[test]
fn a_missing_ssm_parameter_is_refused_naming_the_container_and_field_before_anything_changes() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(DB_PASSWORD);

    let planned = world.plan(std::slice::from_ref(&deploy)).remove(0);
    let report = world.deploy_one(deploy.clone());

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "web.json: containerDefinitions[name=web].secrets[name=DB_PASSWORD].valueFrom: /app/db/password not found in SSM Parameter \
             Store (region eu-west-1, account 123456789012); create it, or fix valueFrom"
        )
    );
    assert_eq!(planned.outcome, Outcome::Refused, "plan refuses it too: {:?}", planned.reason);
    assert_eq!(world.workload.asked(), vec!["ssm /app/db/password"; 2]);
    assert_nothing_changed(&world);

    // Once it exists, the same deploy goes on.
    world.workload.parameters.lock().unwrap().push("/app/db/password".into());
    let report = world.deploy_one(deploy);
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert!(report.not_checked.is_empty(), "{:?}", report.not_checked);
}

#[test]
fn a_parameter_named_with_a_version_is_refused_saying_ecs_takes_no_version() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.workload.parameters.lock().unwrap().push("/app/db/password".into());
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(r#""secrets": [{"name": "DB_PASSWORD", "valueFrom": "/app/db/password:3"}]"#);

    let report = world.deploy_one(deploy);

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "web.json: containerDefinitions[name=web].secrets[name=DB_PASSWORD].valueFrom: /app/db/password:3 not found in SSM \
             Parameter Store (region eu-west-1, account 123456789012); ECS reads a parameter's latest version and takes no version in \
             valueFrom: name the parameter (/app/db/password)"
        )
    );
    assert_nothing_changed(&world);
}

#[test]
fn a_missing_secrets_manager_secret_is_looked_up_without_ecs_json_key_suffix_and_refused_with_every_other_missing_one() {
    let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf";
    let credentials = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dockerhub-XyZ123";
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(&format!(
        r#""secrets": [{{"name": "DB_PASSWORD", "valueFrom": "{secret}:password::"}}], "repositoryCredentials": {{"credentialsParameter": "{credentials}"}}"#
    ));

    let report = world.deploy_one(deploy.clone());

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    let expected = format!(
        "web.json: containerDefinitions[name=web].secrets[name=DB_PASSWORD].valueFrom: {secret}:password:: not found in Secrets Manager, \
         or scheduled for deletion (secret {secret}, region eu-west-1, account 123456789012); create it, or fix valueFrom; \
         containerDefinitions[name=web].repositoryCredentials.credentialsParameter: {credentials} not found in Secrets Manager, or \
         scheduled for deletion (region eu-west-1, account 123456789012); create it, or fix credentialsParameter"
    );
    assert_eq!(report.reason.as_deref(), Some(expected.as_str()));
    assert_eq!(world.workload.asked(), vec![format!("secretsmanager {secret}"), format!("secretsmanager {credentials}")]);
    assert_nothing_changed(&world);

    world.workload.secrets.lock().unwrap().extend([secret.to_string(), credentials.to_string()]);
    let report = world.deploy_one(deploy);
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
}

#[test]
fn a_missing_awslogs_group_is_refused_unless_ecs_is_to_create_it() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(&awslogs(""));

    let report = world.deploy_one(deploy.clone());

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "web.json: containerDefinitions[name=web].logConfiguration.options.awslogs-group: /ecs/web not found in CloudWatch Logs \
             (region eu-west-1, account 123456789012); create it (Terraform aws_cloudwatch_log_group), or set awslogs-create-group = \"true\""
        )
    );
    assert_eq!(world.workload.asked(), vec!["logs /ecs/web"]);
    assert_nothing_changed(&world);

    // awslogs-create-group: ECS creates the group when the task starts; nothing to look up.
    deploy.source = web_with(&awslogs(r#", "awslogs-create-group": "true""#));
    let report = world.deploy_one(deploy);
    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(world.workload.asked(), vec!["logs /ecs/web"], "not looked up again");
    assert!(report.not_checked.is_empty(), "{:?}", report.not_checked);
}

#[test]
fn secrets_and_log_groups_of_another_region_or_account_are_listed_as_not_checked_and_never_looked_up() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(
        r#""secrets": [
          {"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/app/a"},
          {"name": "B", "valueFrom": "arn:aws:secretsmanager:eu-west-1:210987654321:secret:b-AbCdEf:key::"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"}}"#,
    );

    let report = world.deploy_one(deploy);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(
        report.not_checked,
        vec![
            "containerDefinitions[name=web].secrets[name=A].valueFrom: arn:aws:ssm:us-east-1:123456789012:parameter/app/a \
             (region us-east-1, not the environment's eu-west-1: not checked with these credentials)"
                .to_string(),
            "containerDefinitions[name=web].secrets[name=B].valueFrom: arn:aws:secretsmanager:eu-west-1:210987654321:secret:b-AbCdEf:key:: \
             (account 210987654321, not the environment's 123456789012: not checked with these credentials)"
                .to_string(),
            "containerDefinitions[name=web].logConfiguration.options.awslogs-group: /ecs/web \
             (awslogs-region us-east-1, not the environment's eu-west-1: not checked with these credentials)"
                .to_string(),
        ]
    );
    assert!(world.workload.asked().is_empty(), "{:?}", world.workload.asked());
}

#[test]
fn a_lookup_denied_to_these_credentials_is_listed_as_not_checked_and_the_deploy_goes_on() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.workload.failing.lock().unwrap().extend([
        ("/app/db/password".to_string(), "AccessDeniedException".to_string()),
        ("/ecs/web".to_string(), "AccessDenied".to_string()),
    ]);
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(&format!("{DB_PASSWORD}, {}", awslogs("")));

    let report = world.deploy_one(deploy);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(
        report.not_checked,
        vec![
            "containerDefinitions[name=web].secrets[name=DB_PASSWORD].valueFrom: /app/db/password \
             (access denied to ssm:DescribeParameters with these credentials)"
                .to_string(),
            "containerDefinitions[name=web].logConfiguration.options.awslogs-group: /ecs/web \
             (access denied to logs:DescribeLogGroups with these credentials)"
                .to_string(),
        ]
    );
}

#[test]
fn a_lookup_that_fails_otherwise_is_a_platform_error_and_nothing_changes() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.workload.failing.lock().unwrap().push(("/app/db/password".into(), "ThrottlingException".into()));
    let mut deploy = request("web", "1.1.0");
    deploy.source = web_with(DB_PASSWORD);

    let report = world.deploy_one(deploy);

    assert_eq!(report.outcome, Outcome::Error, "{:?}", report.reason);
    assert_eq!(report.exit_kind(), ExitKind::Platform);
    assert!(report.reason.as_deref().unwrap_or_default().starts_with("ssm:DescribeParameters: "), "{:?}", report.reason);
    assert_nothing_changed(&world);
}

#[test]
fn a_secret_two_containers_share_is_looked_up_once() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.workload.parameters.lock().unwrap().push("/app/db/password".into());
    let mut deploy = request("web", "1.1.0");
    let text = TEMPLATE.replacen(
        r#""memory": 256,"#,
        &format!(r#""memory": 256, {DB_PASSWORD}}}, {{"name": "worker", "image": "busybox", "memory": 64, {DB_PASSWORD},"#),
        1,
    );
    deploy.source = Source::Template { name: "web.json".into(), text };

    let report = world.deploy_one(deploy);

    assert_eq!(report.outcome, Outcome::Succeeded, "{:?}", report.reason);
    assert_eq!(world.workload.asked(), vec!["ssm /app/db/password"]);
}

/// Adds `secrets` to container web of the service's running revision (web:1).
fn running_revision_needs(world: &World, secrets: Value) {
    let mut state = world.ecs.state();
    let td = state.task_definitions.get_mut(&td_arn("web", 1)).expect("web:1");
    td.definition["containerDefinitions"][0]["secrets"] = secrets;
}

#[test]
fn a_rollback_to_a_revision_whose_secret_is_gone_is_refused_before_anything_changes() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    running_revision_needs(&world, json!([{"name": "DB_PASSWORD", "valueFrom": "/app/db/password"}]));
    let mut rollback = request("web", "1.0.0");
    rollback.kind = "rollback";
    rollback.version = None;
    rollback.source = Source::Revision(td_arn("web", 1));

    let report = world.deploy_one(rollback);

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    let reason = report.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("containerDefinitions[name=web].secrets[name=DB_PASSWORD].valueFrom: /app/db/password not found"),
        "{reason}"
    );
    assert_nothing_changed(&world);
}

#[test]
fn an_env_tag_deploy_checks_what_the_running_revision_needs_before_moving_the_tag() {
    let world = World::new().with_service("web", Script::new(Rollout::CompleteAfter(1)));
    world.registry.images.lock().unwrap().insert(("web".into(), "prod".into()), digest_of("1.0.0"));
    running_revision_needs(&world, json!([{"name": "DB_PASSWORD", "valueFrom": "/app/db/password"}]));
    world.ecs.state().task_definitions.get_mut(&td_arn("web", 1)).expect("web:1").definition["containerDefinitions"][0]["image"] =
        json!(format!("{REGISTRY_HOST}/web:prod"));
    let mut deploy = request("web", "1.1.0");
    deploy.strategy = ferry_core::config::Strategy::EnvTag;
    deploy.image_tag = Some("prod".into());
    deploy.source = Source::Live;

    let report = world.deploy_one(deploy);

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    let reason = report.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("containerDefinitions[name=web].secrets[name=DB_PASSWORD].valueFrom: /app/db/password not found"),
        "{reason}"
    );
    assert_eq!(world.workload.asked(), vec!["ssm /app/db/password"]);
    assert_nothing_changed(&world);
    assert_eq!(
        world.registry.images.lock().unwrap().get(&("web".to_string(), "prod".to_string())),
        Some(&digest_of("1.0.0")),
        "the tag did not move"
    );
}

#[test]
fn a_load_balanced_container_port_missing_from_the_new_definition_is_refused_before_anything_changes() {
    let script = Script::new(Rollout::CompleteAfter(1)).behind(None, Targets::HealthyAfter(0));
    let world = World::new().with_service("web", script);
    let mut deploy = request("web", "1.1.0");
    deploy.source = Source::Template { name: "web.json".into(), text: TEMPLATE.replace("8080", "80") };

    let report = world.deploy_one(deploy);

    assert_eq!(report.exit_kind(), ExitKind::PreflightRefused, "{:?}", report.reason);
    assert_eq!(
        report.reason.as_deref(),
        Some(
            "web.json: service web's loadBalancers entry (target group web-tg, containerName web, containerPort 8080): the task \
             definition maps no containerPort 8080 in container web (its containers: web (80)); ECS would refuse UpdateService. Map \
             the port in the task definition, or change the service's loadBalancers"
        )
    );
    assert_nothing_changed(&world);
}
