//! The data plane: a task is its containers run as host processes.
//!
//! Every tick the engine runs the service scheduler, then moves each task one step through
//! the ECS lifecycle — PROVISIONING → PENDING (image check: a missing ECR image stops the
//! task with `CannotPullContainerError`) → RUNNING (processes started, ports bound; a service
//! task behind a load balancer is registered in its target groups) and, once its desired
//! status is STOPPED, DEACTIVATING (its targets deregistered; it stays DEACTIVATING until they
//! have left their groups, which the load balancer shows at the end of their deregistration
//! delay, as ECS waits for the load balancer before stopping a task) → STOPPING (SIGTERM to each container's process group, SIGKILL after `stopTimeout`)
//! → STOPPED. A watcher per process records its exit code; an essential container that exits
//! stops its task. Container `healthCheck` commands run on their interval and drive
//! `healthStatus`.
//!
//! Every task's containers listen on 127.0.0.1, each container port on a host port of its own
//! (`Container.bindings`): that address and port is what a target group gets for the task
//! (`records::task_targets`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use crate::api::now;
use crate::faults::Faults;
use crate::records::{ImageRef, resolve_image};
use crate::state::{Partition, PortBinding, State, Task};

/// How often the scheduler and the task lifecycle advance.
pub const TICK: Duration = Duration::from_millis(100);
/// ECS's default `stopTimeout`: SIGKILL this long after SIGTERM.
const DEFAULT_STOP_TIMEOUT: f64 = 30.0;
/// Stopped tasks stay visible for an hour, as on ECS, then are forgotten.
const STOPPED_TASK_RETENTION: f64 = 3600.0;

pub struct Engine {
    pub state: Arc<Mutex<State>>,
    pub faults: Arc<Mutex<Faults>>,
    pub logs_dir: PathBuf,
    /// CloudWatch Logs' events, where the awslogs driver writes container output.
    pub log_events: Arc<crate::logs::store::EventStore>,
    /// How long a minute of a deployment's bake times and hook timeouts lasts, seconds
    /// (`crate::Options::minute_seconds`).
    pub minute_seconds: f64,
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the state is
/// always left consistent between statements, so it stays usable.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a container needs to start, read from its definition under the lock.
struct Launch {
    name: String,
    image: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    working_directory: Option<String>,
    ports: Vec<(i64, String)>,
    health_check: Option<Value>,
}

impl Engine {
    /// Tasks that were running when ferry local last stopped are gone, as after a host
    /// restart: record them as stopped so their services start replacements.
    pub fn recover(&self) {
        let mut state = lock(&self.state);
        let t = now();
        for partition in state.partitions.values_mut() {
            // Their targets leave their groups at once: nothing listens there any more.
            let registered: Vec<String> = partition.tasks.values().filter(|t| !t.lb_targets.is_empty()).map(|t| t.arn.clone()).collect();
            for arn in &registered {
                crate::records::task_targets::drained(partition, arn, true, t);
            }
            for task in partition.tasks.values_mut().filter(|t| !t.is_stopped()) {
                task.desired_status = "STOPPED".into();
                task.last_status = "STOPPED".into();
                task.stop_code = Some("TerminationNotice".into());
                task.stopped_reason = Some("Host restarted: ferry local was stopped while the task ran".into());
                task.failure_counted = true;
                task.stopped_at = Some(t);
                task.execution_stopped_at = Some(t);
                for c in &mut task.containers {
                    c.pid = None;
                    if c.last_status != "STOPPED" {
                        c.last_status = "STOPPED".into();
                    }
                }
            }
        }
        state.dirty = true;
    }

    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_prune = now();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = shutdown.changed() => return,
            }
            let t = now();
            let mut state = lock(&self.state);
            let mut changed = false;
            for partition in state.partitions.values_mut() {
                crate::records::enforce_scalable_targets(partition, t, false);
                crate::scheduler::reconcile_all(partition, t, self.minute_seconds);
                changed |= self.drive_tasks(partition, t);
            }
            if t - last_prune > 60.0 {
                last_prune = t;
                for partition in state.partitions.values_mut() {
                    partition.tasks.retain(|_, task| task.stopped_at.is_none_or(|s| t - s < STOPPED_TASK_RETENTION));
                }
            }
            // The scheduler writes events and counters on most ticks; mark dirty only when
            // something a restart must keep has changed, or periodically via the saver.
            if changed {
                state.dirty = true;
            }
        }
    }

    /// Moves every task one step. Returns whether any task changed.
    fn drive_tasks(self: &Arc<Self>, partition: &mut Partition, t: f64) -> bool {
        let mut changed = false;
        // Tasks that leave RUNNING this tick: their targets are deregistered together (one
        // "has begun draining connections" event per service, as ECS writes it).
        let mut deactivated: Vec<String> = Vec::new();
        // A task RUNNING as desired has no step to take (its process watcher and health
        // loop report changes): skipping it here keeps an idle tick from cloning every ARN.
        let arns: Vec<String> = partition
            .tasks
            .iter()
            .filter(|(_, task)| !task.is_stopped() && (task.desired_status != "RUNNING" || task.last_status != "RUNNING"))
            .map(|(a, _)| a.clone())
            .collect();
        for arn in arns {
            let Some(task) = partition.tasks.get(&arn) else { continue };
            let step = (task.desired_status.clone(), task.last_status.clone());
            let mut moved = true;
            match (step.0.as_str(), step.1.as_str()) {
                ("RUNNING", "PROVISIONING") => {
                    if let Some(task) = partition.tasks.get_mut(&arn) {
                        task.last_status = "PENDING".into();
                        task.pull_started_at = Some(t);
                    }
                }
                ("RUNNING", "PENDING") => self.start(partition, &arn, t),
                ("RUNNING", _) => moved = false,
                (_, "PROVISIONING" | "PENDING") => {
                    if let Some(task) = partition.tasks.get_mut(&arn) {
                        finish_stop(task, t);
                    }
                }
                (_, "RUNNING") => {
                    if let Some(task) = partition.tasks.get_mut(&arn) {
                        task.last_status = "DEACTIVATING".into();
                        task.version += 1;
                        deactivated.push(arn.clone());
                    }
                }
                (_, "DEACTIVATING") => {
                    // SIGTERM only once the task's targets have left their groups (their
                    // deregistration delay over); a task whose essential container has
                    // exited has nothing left to drain.
                    let dead =
                        task.stop_code.as_deref() == Some("EssentialContainerExited") || task.containers.iter().all(|c| c.pid.is_none());
                    if !crate::records::task_targets::drained(partition, &arn, dead, t) {
                        continue;
                    }
                    let timeout = stop_timeout(partition, &arn);
                    if let Some(task) = partition.tasks.get_mut(&arn) {
                        task.last_status = "STOPPING".into();
                        task.kill_at = Some(t + timeout);
                        task.version += 1;
                        signal_all(task, libc::SIGTERM);
                    }
                }
                (_, _) => {
                    if let Some(task) = partition.tasks.get_mut(&arn) {
                        if task.containers.iter().all(|c| c.pid.is_none()) {
                            finish_stop(task, t);
                        } else if task.kill_at.is_some_and(|k| t >= k) {
                            signal_all(task, libc::SIGKILL);
                        } else {
                            moved = false;
                        }
                    }
                }
            }
            changed |= moved;
        }
        if !deactivated.is_empty() {
            crate::records::task_targets::begin_draining(partition, &deactivated, t);
        }
        changed
    }

    /// PENDING → RUNNING: check images, start every container's process.
    fn start(self: &Arc<Self>, partition: &mut Partition, arn: &str, t: f64) {
        let partition_key = format!("{}/{}", partition.account, partition.region);
        let Some(task) = partition.tasks.get(arn) else { return };
        let Some(definition) = crate::records::find_definition(partition, &task.task_definition_arn).cloned() else {
            if let Some(task) = partition.tasks.get_mut(arn) {
                fail_to_start(task, "TaskFailedToStart", "ResourceInitializationError: the task definition no longer exists", t);
            }
            return;
        };
        let family = definition.family.clone();
        // The container secrets, read before any image is pulled, as the ECS agent does.
        let mut secrets = match crate::records::resolve_secrets(partition, &definition) {
            Ok(secrets) => secrets,
            Err(reason) => {
                if let Some(task) = partition.tasks.get_mut(arn) {
                    fail_to_start(task, "TaskFailedToStart", &reason, t);
                }
                return;
            }
        };

        // The image pull: ECR images must exist (by the digest the deployment resolved).
        let mut digests = HashMap::new();
        for container in &task.containers {
            match resolve_image(partition, &container.image) {
                ImageRef::NotEcr => {}
                ImageRef::Ecr { digest, repository, .. } => {
                    let pinned = container.image_digest.clone();
                    let still_there = match &pinned {
                        Some(d) => partition.repositories.get(&repository).is_some_and(|r| r.images.contains_key(d)),
                        None => digest.is_some(),
                    };
                    if !still_there {
                        let image = container.image.clone();
                        let reason = format!(
                            "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {image}: {image}: not found"
                        );
                        if let Some(task) = partition.tasks.get_mut(arn) {
                            fail_to_start(task, "TaskFailedToStart", &reason, t);
                        }
                        return;
                    }
                    digests.insert(container.name.clone(), pinned.or(digest));
                }
            }
        }
        let fault = lock(&self.faults)
            .tasks
            .iter()
            .find(|f| task.containers.iter().any(|c| f.applies(&family, &c.image, digests.get(&c.name).and_then(|d| d.as_deref()))))
            .cloned();
        if fault.as_ref().is_some_and(|f| f.fail_to_start) {
            if let Some(task) = partition.tasks.get_mut(arn) {
                fail_to_start(
                    task,
                    "TaskFailedToStart",
                    "CannotStartContainerError: failed to start (task fault injected through the ferry local admin path)",
                    t,
                );
            }
            return;
        }

        let mut launches = launches_for(task, &definition);
        for launch in &mut launches {
            launch.env.extend(secrets.remove(&launch.name).unwrap_or_default());
        }
        let task_id = task.id().to_string();
        let log_dir = self.logs_dir.join(&task_id);
        let mut started: Vec<(String, u32, Vec<PortBinding>)> = Vec::new();
        let mut failure = None;
        for launch in launches {
            match self.spawn(partition, &partition_key, arn, &log_dir, &launch, digests.get(&launch.name).cloned().flatten()) {
                Ok((pid, bindings)) => started.push((launch.name.clone(), pid, bindings)),
                Err(reason) => {
                    failure = Some(reason);
                    break;
                }
            }
        }
        let Some(task) = partition.tasks.get_mut(arn) else { return };
        for (name, pid, bindings) in &started {
            if let Some(c) = task.containers.iter_mut().find(|c| &c.name == name) {
                c.pid = Some(*pid);
                c.bindings = bindings.clone();
                c.last_status = "RUNNING".into();
                c.runtime_id = format!("{task_id}-{}", crate::api::hex_id(10));
                if let Some(Some(d)) = digests.get(name) {
                    c.image_digest = Some(d.clone());
                }
            }
        }
        if let Some(reason) = failure {
            // Containers already started are stopped with the task.
            signal_all(task, libc::SIGKILL);
            fail_to_start(task, "TaskFailedToStart", &reason, t);
            return;
        }
        task.last_status = "RUNNING".into();
        task.pull_stopped_at = Some(t);
        task.started_at = Some(t);
        task.version += 1;
        if let Some(seconds) = fault.and_then(|f| f.crash_after_seconds) {
            let pids: Vec<u32> = task.containers.iter().filter(|c| c.essential).filter_map(|c| c.pid).collect();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
                for pid in pids {
                    // SAFETY: kill(2) on a process group we started; harmless if it is gone.
                    unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
                }
            });
        }
        // Ports bound, processes started: a service task joins its target groups now.
        crate::records::task_targets::register_task(partition, arn, t);
    }

    /// Starts one container's process; returns its pid and port bindings.
    fn spawn(
        self: &Arc<Self>,
        partition: &mut Partition,
        partition_key: &str,
        task_arn: &str,
        log_dir: &std::path::Path,
        launch: &Launch,
        digest: Option<String>,
    ) -> Result<(u32, Vec<PortBinding>), String> {
        let Some((program, args)) = launch.argv.split_first() else {
            return Err(format!(
                "CannotStartContainerError: container '{}' has no entryPoint or command; ferry local runs them as a host process (it cannot run an image's own default command)",
                launch.name
            ));
        };
        // The log driver first: a group that is missing fails the task before anything runs.
        let awslogs = crate::logs::awslogs::prepare(partition, task_arn, &launch.name, (now() * 1000.0).round() as i64)?;
        let mut bindings = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        for (i, (container_port, protocol)) in launch.ports.iter().enumerate() {
            let port = free_port().map_err(|e| format!("CannotStartContainerError: no free port on 127.0.0.1: {e}"))?;
            env.push((format!("PORT_{container_port}"), port.to_string()));
            if i == 0 {
                env.push(("PORT".into(), port.to_string()));
            }
            bindings.push((*container_port, port, protocol.clone()));
        }
        std::fs::create_dir_all(log_dir).map_err(|e| format!("CannotStartContainerError: {e}"))?;
        let log_path = log_dir.join(format!("{}.log", launch.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("CannotStartContainerError: {}: {e}", log_path.display()))?;
        let mut command = tokio::process::Command::new(program);
        command.args(args).env_clear().stdin(Stdio::null());
        // With awslogs, ferry local reads the output and writes both the file and the events;
        // otherwise the process writes its file itself.
        let capture = match awslogs {
            Some(destination) => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                Some((destination, log))
            }
            None => {
                let log_err = log.try_clone().map_err(|e| format!("CannotStartContainerError: {e}"))?;
                command.stdout(Stdio::from(log)).stderr(Stdio::from(log_err));
                None
            }
        };
        for key in ["PATH", "HOME", "TMPDIR", "LANG"] {
            if let Ok(v) = std::env::var(key) {
                command.env(key, v);
            }
        }
        command.env("FERRY_LOCAL_TASK_ARN", task_arn);
        command.env("FERRY_LOCAL_CONTAINER_NAME", &launch.name);
        command.env("FERRY_LOCAL_IMAGE", &launch.image);
        if let Some(d) = &digest {
            command.env("FERRY_LOCAL_IMAGE_DIGEST", d);
        }
        for (k, v) in launch.env.iter().chain(env.iter()) {
            command.env(k, v);
        }
        if let Some(dir) = &launch.working_directory {
            if !std::path::Path::new(dir).is_dir() {
                return Err(format!("CannotStartContainerError: working directory {dir} does not exist on this host"));
            }
            command.current_dir(dir);
        }
        command.process_group(0);
        // SAFETY: prctl is async-signal-safe; it asks the kernel to kill the container
        // process if ferry local dies, so no task outlives the emulator.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| {
            format!("CannotStartContainerError: failed to create task for container {}: exec: \"{program}\": {e}", launch.name)
        })?;
        let pid = child.id().ok_or_else(|| "CannotStartContainerError: process exited at once".to_string())?;
        if let Some((destination, log)) = capture {
            let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
            crate::logs::awslogs::capture(Arc::clone(&self.state), Arc::clone(&self.log_events), destination, log, stdout, stderr);
        }
        let engine = Arc::clone(self);
        let (key, arn, name) = (partition_key.to_string(), task_arn.to_string(), launch.name.clone());
        tokio::spawn(async move {
            let status = child.wait().await;
            let code = match status {
                Ok(s) => s.code().map(i64::from).or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    s.signal().map(|sig| 128 + i64::from(sig))
                }),
                Err(_) => None,
            };
            engine.container_exited(&key, &arn, &name, code);
        });
        if let Some(check) = &launch.health_check {
            let engine = Arc::clone(self);
            let check = check.clone();
            let env: Vec<(String, String)> = launch.env.iter().chain(env.iter()).cloned().collect();
            let (partition_key, task_arn, name) = (partition_key.to_string(), task_arn.to_string(), launch.name.clone());
            tokio::spawn(async move { engine.health_loop(partition_key, task_arn, name, check, env).await });
        }
        Ok((pid, bindings))
    }

    fn container_exited(&self, partition_key: &str, task_arn: &str, name: &str, code: Option<i64>) {
        let mut state = lock(&self.state);
        state.dirty = true;
        let t = now();
        let Some(task) = state.partitions.get_mut(partition_key).and_then(|p| p.tasks.get_mut(task_arn)) else { return };
        let Some(container) = task.containers.iter_mut().find(|c| c.name == name) else { return };
        container.pid = None;
        container.exit_code = code;
        container.last_status = "STOPPED".into();
        let essential = container.essential;
        if essential && task.desired_status == "RUNNING" {
            task.desired_status = "STOPPED".into();
            task.stop_code = Some("EssentialContainerExited".into());
            task.stopped_reason = Some("Essential container in task exited".into());
            task.stopping_at = Some(t);
            task.version += 1;
        }
    }

    async fn health_loop(self: Arc<Self>, partition_key: String, task_arn: String, name: String, check: Value, env: Vec<(String, String)>) {
        let command: Vec<String> = check
            .get("command")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let seconds = |key: &str, default: i64| check.get(key).and_then(Value::as_i64).unwrap_or(default) as f64;
        let interval = seconds("interval", 30).max(1.0);
        let timeout = seconds("timeout", 5).max(1.0);
        let retries = check.get("retries").and_then(Value::as_i64).unwrap_or(3).max(1);
        let start_period = seconds("startPeriod", 0);
        let argv: Vec<String> = match command.split_first() {
            Some((kind, rest)) if kind == "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), rest.join(" ")],
            Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
            Some((kind, _)) if kind == "NONE" => return,
            _ => command.clone(),
        };
        let Some((program, args)) = argv.split_first() else { return };
        let started = now();
        let mut failures = 0;
        loop {
            tokio::time::sleep(Duration::from_secs_f64(interval)).await;
            let running = {
                let state = lock(&self.state);
                state
                    .partitions
                    .get(&partition_key)
                    .and_then(|p| p.tasks.get(&task_arn))
                    .and_then(|t| t.containers.iter().find(|c| c.name == name))
                    .is_some_and(|c| c.pid.is_some())
            };
            if !running {
                return;
            }
            let mut probe = tokio::process::Command::new(program);
            probe.args(args).env_clear().stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
            for key in ["PATH", "HOME"] {
                if let Ok(v) = std::env::var(key) {
                    probe.env(key, v);
                }
            }
            probe.envs(env.iter().cloned());
            let ok = match tokio::time::timeout(Duration::from_secs_f64(timeout), probe.status()).await {
                Ok(Ok(status)) => status.success(),
                _ => false,
            };
            let in_start_period = now() - started < start_period;
            let status = if ok {
                failures = 0;
                Some("HEALTHY")
            } else if in_start_period {
                None
            } else {
                failures += 1;
                (failures >= retries).then_some("UNHEALTHY")
            };
            if let Some(status) = status {
                let mut state = lock(&self.state);
                let Some(task) = state.partitions.get_mut(&partition_key).and_then(|p| p.tasks.get_mut(&task_arn)) else {
                    return;
                };
                if let Some(c) = task.containers.iter_mut().find(|c| c.name == name) {
                    c.health_status = status.into();
                }
                update_task_health(task);
            }
        }
    }

    /// Stops every task process (SIGTERM, then SIGKILL after `grace`), for shutdown.
    pub async fn stop_all(&self, grace: Duration) {
        {
            let mut state = lock(&self.state);
            for p in state.partitions.values_mut() {
                for task in p.tasks.values_mut() {
                    signal_all(task, libc::SIGTERM);
                }
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let alive = {
                let state = lock(&self.state);
                state.partitions.values().flat_map(|p| p.tasks.values()).any(|t| t.containers.iter().any(|c| c.pid.is_some()))
            };
            if !alive || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut state = lock(&self.state);
        for p in state.partitions.values_mut() {
            for task in p.tasks.values_mut() {
                signal_all(task, libc::SIGKILL);
            }
        }
    }
}

/// The containers of a task as processes to start: definition, then RunTask overrides.
fn launches_for(task: &Task, definition: &crate::state::TaskDefinition) -> Vec<Launch> {
    let overrides = task.overrides.get("containerOverrides").and_then(Value::as_array).cloned().unwrap_or_default();
    definition
        .containers()
        .iter()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let strings = |v: Option<&Value>| -> Vec<String> {
                v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
            };
            let over = overrides.iter().find(|o| o.get("name").and_then(Value::as_str) == Some(name.as_str()));
            let mut command = strings(c.get("command"));
            if let Some(o) = over.and_then(|o| o.get("command")) {
                command = strings(Some(o));
            }
            let mut argv = strings(c.get("entryPoint"));
            argv.extend(command);
            let pairs = |v: Option<&Value>| -> Vec<(String, String)> {
                v.and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|kv| Some((kv.get("name")?.as_str()?.to_string(), kv.get("value")?.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let mut env = pairs(c.get("environment"));
            env.extend(pairs(over.and_then(|o| o.get("environment"))));
            let ports = c
                .get("portMappings")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| {
                            Some((
                                m.get("containerPort")?.as_i64()?,
                                m.get("protocol").and_then(Value::as_str).unwrap_or("tcp").to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Launch {
                name,
                argv,
                image: c.get("image").and_then(Value::as_str).unwrap_or_default().to_string(),
                env,
                working_directory: c.get("workingDirectory").and_then(Value::as_str).map(str::to_string),
                ports,
                health_check: c.get("healthCheck").cloned(),
            }
        })
        .collect()
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn stop_timeout(partition: &Partition, arn: &str) -> f64 {
    let Some(task) = partition.tasks.get(arn) else { return DEFAULT_STOP_TIMEOUT };
    crate::records::find_definition(partition, &task.task_definition_arn)
        .map(|d| {
            d.containers()
                .iter()
                .filter_map(|c| c.get("stopTimeout").and_then(Value::as_i64))
                .max()
                .map(|s| s as f64)
                .unwrap_or(DEFAULT_STOP_TIMEOUT)
        })
        .unwrap_or(DEFAULT_STOP_TIMEOUT)
}

fn signal_all(task: &Task, signal: i32) {
    for pid in task.containers.iter().filter_map(|c| c.pid) {
        // SAFETY: kill(2) on the process group of a process we started.
        unsafe { libc::kill(-(pid as i32), signal) };
    }
}

fn fail_to_start(task: &mut Task, code: &str, reason: &str, t: f64) {
    task.desired_status = "STOPPED".into();
    task.stop_code = Some(code.to_string());
    task.stopped_reason = Some(reason.to_string());
    task.stopping_at = Some(t);
    for c in &mut task.containers {
        if c.pid.is_none() {
            c.reason = Some(reason.to_string());
        }
    }
    finish_stop(task, t);
}

fn finish_stop(task: &mut Task, t: f64) {
    task.last_status = "STOPPED".into();
    task.stopped_at = Some(t);
    task.execution_stopped_at = Some(t);
    task.kill_at = None;
    task.version += 1;
    for c in &mut task.containers {
        c.last_status = "STOPPED".into();
    }
}

/// A task's health from its essential containers' health checks, as ECS computes it.
fn update_task_health(task: &mut Task) {
    let checked: Vec<&str> =
        task.containers.iter().filter(|c| c.essential && c.has_health_check).map(|c| c.health_status.as_str()).collect();
    task.health_status = if checked.contains(&"UNHEALTHY") {
        "UNHEALTHY"
    } else if !checked.is_empty() && checked.iter().all(|s| *s == "HEALTHY") {
        "HEALTHY"
    } else {
        "UNKNOWN"
    }
    .into();
}

#[cfg(test)]
mod tests {
    //! The task lifecycle with real processes behind a target group: registration once
    //! RUNNING, and the drain that SIGTERM waits for. The test plays the traffic engine (it
    //! marks targets healthy and removes a draining one, as the engine does once its
    //! deregistration delay is over) and drives the steps itself.

    use super::*;
    use crate::api::{Caller, Ctx, Input};
    use crate::records::task_targets::fixtures;
    use serde_json::json;

    const KEY: &str = "123456789012/us-east-1";

    fn engine() -> (Arc<Engine>, PathBuf) {
        let logs = std::env::temp_dir().join(format!("ferry-local-runtime-test-{}", crate::api::hex_id(12)));
        let mut state = State::default();
        state.partition("123456789012", "us-east-1");
        let engine = Engine {
            state: Arc::new(Mutex::new(state)),
            faults: Arc::default(),
            logs_dir: logs.clone(),
            log_events: Arc::new(crate::logs::store::EventStore::new(&logs)),
            minute_seconds: 60.0,
        };
        (Arc::new(engine), logs)
    }

    fn call(engine: &Engine, operation: &str, input: serde_json::Value) {
        let caller = Caller { account: "123456789012".into(), region: "us-east-1".into() };
        let map = input.as_object().cloned().unwrap_or_default();
        let mut state = lock(&engine.state);
        let partition = state.partitions.get_mut(KEY).unwrap();
        let mut ctx = Ctx { partition, caller: &caller, now: now() };
        crate::ecs::dispatch(operation, &mut ctx, &Input(&map)).unwrap().unwrap();
    }

    /// Target group web (instance targets, in use) and, in cluster c, service svc of one task of
    /// family web with `container` (named app, port 8080) behind it, its task placed; returns
    /// the group's ARN.
    fn service_behind_a_group(engine: &Engine, container: serde_json::Value) -> String {
        let group = {
            let mut state = lock(&engine.state);
            fixtures::target_group(state.partitions.get_mut(KEY).unwrap(), "web", "instance", true)
        };
        call(engine, "CreateCluster", json!({"clusterName": "c"}));
        call(engine, "RegisterTaskDefinition", json!({"family": "web", "containerDefinitions": [container]}));
        call(
            engine,
            "CreateService",
            json!({"cluster": "c", "serviceName": "svc", "taskDefinition": "web:1", "desiredCount": 1,
                   "loadBalancers": [{"targetGroupArn": group, "containerName": "app", "containerPort": 8080}]}),
        );
        let mut state = lock(&engine.state);
        crate::scheduler::reconcile_all(state.partitions.get_mut(KEY).unwrap(), now(), 60.0);
        group
    }

    /// One tick of the task lifecycle (no scheduler), then what `check` reads of the partition.
    fn step<T>(engine: &Arc<Engine>, check: impl FnOnce(&mut Partition) -> T) -> T {
        let mut state = lock(&engine.state);
        let partition = state.partitions.get_mut(KEY).unwrap();
        engine.drive_tasks(partition, now());
        check(partition)
    }

    /// Ticks the task lifecycle every 50 ms until task `arn` is stopped, for at most 100 ticks;
    /// whether it stopped.
    async fn stops_within_5s(engine: &Arc<Engine>, arn: &str) -> bool {
        for _ in 0..100 {
            if step(engine, |p| p.tasks[arn].is_stopped()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    fn alive(pid: u32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid as i32, 0) == 0 }
    }

    #[tokio::test]
    async fn a_service_task_is_registered_with_its_bound_port_and_gets_sigterm_only_once_its_target_has_drained() {
        let (engine, logs) = engine();
        let group = service_behind_a_group(
            &engine,
            json!({"name": "app", "image": "busybox", "memory": 8, "entryPoint": ["/bin/sh", "-c", "sleep 600"],
                   "portMappings": [{"containerPort": 8080}], "stopTimeout": 2}),
        );
        // PROVISIONING → PENDING → RUNNING: started, port bound, registered.
        step(&engine, |_| ());
        let (arn, pid, host_port) = step(&engine, |p| {
            let task = p.tasks.values().next().unwrap();
            assert_eq!(task.last_status, "RUNNING");
            (task.arn.clone(), task.containers[0].pid.unwrap(), task.containers[0].bindings[0].1)
        });
        step(&engine, |p| {
            let targets = &p.target_groups[&group].targets;
            assert_eq!(targets.len(), 1);
            assert_eq!((targets[0].id.as_str(), targets[0].port), (crate::state::LOCAL_INSTANCE_ID, i64::from(host_port)));
            assert_eq!(targets[0].task_arn.as_deref(), Some(arn.as_str()));
            let events: Vec<&str> = p.services.values().next().unwrap().events.iter().map(|e| e.message.as_str()).collect();
            assert!(events.contains(&format!("(service svc) registered 1 targets in (target-group {group})").as_str()), "{events:?}");
        });

        // Stopped: deregistered, draining, and the process untouched while the target drains.
        call(&engine, "StopTask", json!({"cluster": "c", "task": arn}));
        for _ in 0..5 {
            step(&engine, |p| {
                assert_eq!(p.tasks[&arn].last_status, "DEACTIVATING");
                assert_eq!(p.target_groups[&group].targets[0].state, "draining");
            });
        }
        assert!(alive(pid), "SIGTERM before the target drained");

        // Its deregistration delay over, the traffic engine removes the target: then SIGTERM,
        // then STOPPED.
        step(&engine, |p| p.target_groups.get_mut(&group).unwrap().targets.clear());
        assert!(stops_within_5s(&engine, &arn).await, "the task did not stop once drained");
        assert!(!alive(pid));
        step(&engine, |p| {
            let events: Vec<&str> = p.services.values().next().unwrap().events.iter().map(|e| e.message.as_str()).collect();
            assert!(events.contains(&"(service svc) has begun draining connections on 1 tasks."), "{events:?}");
            assert!(events.contains(&format!("(service svc) deregistered 1 targets in (target-group {group})").as_str()), "{events:?}");
            assert!(p.tasks[&arn].lb_targets.is_empty());
        });
        let _ = std::fs::remove_dir_all(logs);
    }

    #[tokio::test]
    async fn a_task_whose_essential_container_exited_leaves_its_target_group_without_waiting() {
        let (engine, logs) = engine();
        let group = service_behind_a_group(
            &engine,
            json!({"name": "app", "image": "busybox", "memory": 8, "entryPoint": ["/bin/sh", "-c", "sleep 600"],
                   "portMappings": [{"containerPort": 8080}]}),
        );
        step(&engine, |_| ());
        let (arn, pid) = step(&engine, |p| {
            let task = p.tasks.values().next().unwrap();
            (task.arn.clone(), task.containers[0].pid.unwrap())
        });
        // The container dies on its own; the target stays healthy as far as anyone knows.
        step(&engine, |p| p.target_groups.get_mut(&group).unwrap().targets[0].state = "healthy".into());
        // SAFETY: kill(2) on the process group the runtime started for the container.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        assert!(stops_within_5s(&engine, &arn).await, "a dead task waited for a drain");
        step(&engine, |p| {
            assert_eq!(p.tasks[&arn].stop_code.as_deref(), Some("EssentialContainerExited"));
            assert!(p.target_groups[&group].targets.is_empty(), "a stopped task's target stayed in its group");
        });
        let _ = std::fs::remove_dir_all(logs);
    }
}
