//! The traffic engine of ELBv2: each listener a real HTTP/1.1 reverse proxy on its load
//! balancer's address, health checks of every target over HTTP, and draining of
//! deregistered targets. It reads the records of `state::elb` and writes target health;
//! the API handlers (`elbv2`) never reach in here.
//!
//! One reconcile loop ([`Traffic::start`]) does, every 100 ms, whenever a health check
//! ends and whenever an API write published new routes, under the state lock and never
//! across an await:
//! - applies health check results to the `Target` records (`health`), and starts the
//!   checks that are due;
//! - ends the deregistration of draining targets as the ALB guide describes it
//!   ("Deregistration delay"): a draining target gets no new request; once it has none in
//!   flight its deregistration is complete inside (its idle pooled connections are closed),
//!   but its record stays, shown `draining` (`Target.DeregistrationInProgress`), until its
//!   group's `deregistration_delay.timeout_seconds` (default 300) has passed since it was
//!   deregistered; then it is removed ([`drain`]). ECS sees only that record: a task behind
//!   the group is stopped once its target is gone (`records::task_targets`);
//! - when the ELB records changed (a hash of what routes traffic, `table::fingerprint`),
//!   builds a new routing table (`table`) and publishes it: a request reads it through an
//!   `Arc` swap and never takes the state lock;
//! - makes sure each listener's proxy (`proxy`) listens on `<DNSName>:<Port>` (the load
//!   balancer's loopback address): bound once; a listener deleted, or whose port changed,
//!   has its proxy stopped, and its port let go of, before any new port is bound.
//!
//! A successful ELBv2 write does not wait for the loop: before it is answered, still under
//! the state lock, the API publishes the routing table of the new records
//! ([`Traffic::publish_routes`]), so the next request is routed by them (rules, actions,
//! weights, targets). It also wakes the loop, which binds a new listener's port (or stops a
//! deleted one's) and schedules new targets' health checks within milliseconds. A write that
//! adds, moves or removes a listener is answered once the loop has done so
//! ([`Traffic::listeners_applied`], at most [`APPLY_WAIT`]): a port a deleted listener leaves
//! is free when DeleteListener answers, so a listener created on it at once (Terraform
//! replacing one) is not refused as "in use" by ferry local's own proxy.
//!
//! A port that cannot be bound (taken by another process, or below 1024 without the
//! privilege to bind it: root, `CAP_NET_BIND_SERVICE`, or a lower
//! `net.ipv4.ip_unprivileged_port_start`) is logged, shown in `/_ferry/status` under
//! `listeners` with the error, and retried every 2 s; the API still answers for it.
//!
//! Requests are logged to `<state dir>/logs/elb-access.log` (`access_log`).

pub mod access_log;
pub mod health;
pub mod proxy;
pub mod table;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, watch};

use self::health::{CheckResult, HealthClient, Plan};
use self::proxy::{Shared, Upstream};
use self::table::{Table, TargetKey, TargetSlot};
use crate::api::now;
use crate::records::targets::REGISTRATION_IN_PROGRESS;
use crate::runtime::lock;
use crate::state::State;

/// How often the loop looks at the records when nothing wakes it earlier.
const TICK: Duration = Duration::from_millis(100);
/// How long a listener whose port could not be bound waits before the next try.
const BIND_RETRY: Duration = Duration::from_secs(2);
/// How long an ELBv2 write that changed the listeners waits for the proxies to follow.
pub const APPLY_WAIT: Duration = Duration::from_secs(2);
/// How long a stopped proxy is given to let go of its port before the next bind.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// A listener's proxy as `/_ferry/status` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerStatus {
    pub listener_arn: String,
    /// `ip:port` it listens (or tries to listen) on.
    pub address: String,
    pub listening: bool,
    /// Why it does not listen (the bind error), when it does not.
    pub error: Option<String>,
}

/// The running traffic engine: what the API and the admin path may ask of it.
pub struct Traffic {
    shared: Arc<Shared>,
    /// What the routing table is built with; taken only under the state lock (state lock
    /// first), by the reconcile loop and by [`Traffic::publish_routes`].
    routes: Mutex<Routes>,
    /// Wakes the reconcile loop when new routes were published.
    wake: Notify,
    listeners: Mutex<Vec<ListenerStatus>>,
    /// The `Routes::generation` whose listeners the proxies listen for (bound, or tried and
    /// failed), with those of deleted or moved listeners stopped.
    applied: watch::Sender<u64>,
}

/// What the routing table is built with besides the records, kept across tables.
#[derive(Default)]
struct Routes {
    /// Of the records the published table was built from.
    fingerprint: Option<u64>,
    /// Counts the tables published: the loop compares it with the last one it has seen.
    generation: u64,
    /// Each listener of the published table and where it listens.
    listening: HashMap<String, SocketAddr>,
    /// The generation of the last table that added, moved or removed a listener.
    listeners_moved: u64,
    /// Every registered target's slot (in-flight count, draining flag).
    slots: HashMap<TargetKey, Arc<TargetSlot>>,
    /// Every routed target's connection pool to it. A draining target's is dropped once it
    /// has no request in flight, which closes its idle pooled connections.
    clients: HashMap<TargetKey, Upstream>,
}

impl Routes {
    /// Builds the routing table of `state` and publishes it, unless the records route as
    /// those of the published table did. Returns whether it published.
    fn publish(&mut self, state: &State, shared: &Shared) -> bool {
        let fingerprint = table::fingerprint(state);
        if self.fingerprint == Some(fingerprint) {
            return false;
        }
        self.fingerprint = Some(fingerprint);
        let mut table = Table::default();
        let mut registered = HashSet::new();
        for partition in state.partitions.values() {
            table::add_partition(&mut table, partition, &mut self.slots, &mut self.clients);
            for group in partition.target_groups.values() {
                registered.extend(group.targets.iter().map(|t| (group.arn.clone(), t.id.clone(), t.port)));
            }
        }
        self.slots.retain(|key, slot| registered.contains(key) || slot.in_flight() > 0);
        self.clients.retain(|key, _| registered.contains(key));
        self.generation += 1;
        let listening: HashMap<String, SocketAddr> =
            table.listeners.iter().map(|(arn, l)| (arn.clone(), SocketAddr::new(l.ip, l.port))).collect();
        if listening != self.listening {
            self.listening = listening;
            self.listeners_moved = self.generation;
        }
        shared.publish(table);
        true
    }
}

impl Traffic {
    /// Starts the traffic engine on a thread of its own ("ferry-local-traffic", with a
    /// single-threaded tokio runtime): the reconcile loop, the listener proxies, the health
    /// checks and the access log writer. A request is then served start to end on one
    /// thread, client and target connections alike, with no hand-over between threads (a
    /// wake-up of another thread costs more than the proxying itself); the API's runtime
    /// and the task processes keep the other cores. It all ends when `shutdown` fires,
    /// every proxy stopped and the access log flushed; the returned task resolves then.
    ///
    /// `health_check_scale` multiplies health check intervals and timeouts (1.0 is AWS's
    /// timing; anything not positive and finite counts as 1.0).
    pub fn start(
        state: Arc<Mutex<State>>,
        logs_dir: &Path,
        health_check_scale: f64,
        shutdown: watch::Receiver<bool>,
    ) -> (Arc<Traffic>, tokio::task::JoinHandle<()>) {
        let log = access_log::AccessLog::default();
        let traffic = Arc::new(Traffic::new(log.clone()));
        let scale = if health_check_scale.is_finite() && health_check_scale > 0.0 { health_check_scale } else { 1.0 };
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let reconciler = Reconciler {
            state,
            traffic: Arc::clone(&traffic),
            scale,
            generation: 0,
            wanted: Vec::new(),
            wanted_changed: false,
            proxies: HashMap::new(),
            failed: HashMap::new(),
            plans: HashMap::new(),
            checks: HashMap::new(),
            results_tx,
            results_rx,
            health: health::client(),
        };
        let logs_dir = logs_dir.to_path_buf();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("ferry-local-traffic".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!("cannot start the load balancers' traffic engine: {e}");
                    return;
                }
            };
            runtime.block_on(async move {
                let writer = tokio::spawn(access_log::writer(logs_dir, log, shutdown.clone()));
                reconciler.run(shutdown).await;
                let _ = writer.await;
            });
            let _ = done.send(());
        });
        if let Err(e) = thread {
            tracing::error!("cannot start the load balancers' traffic engine: {e}");
        }
        // Resolves once the thread is done (at once if it could not start).
        let task = tokio::spawn(async move {
            let _ = finished.await;
        });
        (traffic, task)
    }

    fn new(log: access_log::AccessLog) -> Traffic {
        Traffic {
            shared: Arc::new(Shared::new(log)),
            routes: Mutex::default(),
            wake: Notify::new(),
            listeners: Mutex::default(),
            applied: watch::Sender::new(0),
        }
    }

    /// Publishes the routing table of `state` now, when its ELB records route differently
    /// than the published table, and wakes the reconcile loop to bind new listeners' ports
    /// and schedule new targets' health checks. The API calls it after a successful ELBv2
    /// write, under the state lock and before answering: the next request through a
    /// listener is routed by what the write made (see the module docs). Synchronous, no
    /// I/O: it hashes the ELB records and, when they changed, rebuilds the table.
    ///
    /// Returns the generation to wait for with [`Traffic::listeners_applied`] (outside the
    /// state lock) when a listener was added, moved or removed.
    pub fn publish_routes(&self, state: &State) -> Option<u64> {
        let mut routes = self.routes();
        if !routes.publish(state, &self.shared) {
            return None;
        }
        self.wake.notify_one();
        (routes.listeners_moved == routes.generation).then_some(routes.generation)
    }

    /// Waits, at most [`APPLY_WAIT`], until the proxies follow the listeners of routing
    /// table `generation` (from [`Traffic::publish_routes`]): those of deleted or moved
    /// listeners stopped and their ports free, new ones bound or their bind tried. Never
    /// call it holding the state lock: the reconcile loop needs it to get there.
    pub async fn listeners_applied(&self, generation: u64) {
        let mut applied = self.applied.subscribe();
        let _ = tokio::time::timeout(APPLY_WAIT, applied.wait_for(|g| *g >= generation)).await;
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every listener's proxy: where it listens, or why it cannot.
    pub fn listeners(&self) -> Vec<ListenerStatus> {
        self.listeners.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Access log lines dropped because the writer fell behind.
    pub fn access_log_dropped(&self) -> u64 {
        self.shared.log.dropped()
    }
}

/// A listener the records say should listen.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wanted {
    arn: String,
    addr: SocketAddr,
}

struct Running {
    addr: SocketAddr,
    /// Dropping it (or sending true) stops the proxy.
    stop: watch::Sender<bool>,
    /// The proxy's accept loop: done once it has closed its listening socket.
    serving: tokio::task::JoinHandle<()>,
}

struct Failed {
    addr: SocketAddr,
    retry_at: Instant,
    error: String,
}

struct Schedule {
    next_due: Instant,
    running: bool,
}

/// A health check's result, sent back to the loop.
struct Outcome {
    partition: String,
    key: TargetKey,
    result: CheckResult,
}

struct Reconciler {
    state: Arc<Mutex<State>>,
    traffic: Arc<Traffic>,
    scale: f64,
    /// `Routes::generation` of the table that `plans` and `wanted` were last read with.
    generation: u64,
    wanted: Vec<Wanted>,
    /// Whether `wanted` changed since the proxies were last compared with it.
    wanted_changed: bool,
    proxies: HashMap<String, Running>,
    failed: HashMap<String, Failed>,
    plans: HashMap<TargetKey, Plan>,
    checks: HashMap<TargetKey, Schedule>,
    results_tx: mpsc::UnboundedSender<Outcome>,
    results_rx: mpsc::UnboundedReceiver<Outcome>,
    health: HealthClient,
}

impl Reconciler {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut outcomes = Vec::new();
        loop {
            let started = self.start_due_checks(Instant::now());
            self.reconcile(&started, std::mem::take(&mut outcomes));
            self.bind_listeners().await;
            self.traffic.applied.send_if_modified(|applied| {
                let newer = self.generation > *applied;
                *applied = (*applied).max(self.generation);
                newer
            });
            let next_check = self.checks.values().filter(|s| !s.running).map(|s| s.next_due).min();
            let wait = next_check.map_or(TICK, |due| due.saturating_duration_since(Instant::now()).min(TICK));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                Some(outcome) = self.results_rx.recv() => {
                    outcomes.push(outcome);
                    while let Ok(more) = self.results_rx.try_recv() {
                        outcomes.push(more);
                    }
                }
                _ = self.traffic.wake.notified() => {}
                _ = shutdown.changed() => break,
            }
        }
        for (_, running) in self.proxies.drain() {
            let _ = running.stop.send(true);
        }
    }

    /// Spawns every health check that is due; returns the targets checked.
    fn start_due_checks(&mut self, now: Instant) -> Vec<(String, TargetKey)> {
        let mut started = Vec::new();
        for (key, schedule) in &mut self.checks {
            if schedule.running || schedule.next_due > now {
                continue;
            }
            let Some(plan) = self.plans.get(key).cloned() else { continue };
            schedule.running = true;
            schedule.next_due = now + plan.interval;
            started.push((plan.partition.clone(), key.clone()));
            let (client, tx) = (self.health.clone(), self.results_tx.clone());
            tokio::spawn(async move {
                let result = health::check(&client, &plan).await;
                let _ = tx.send(Outcome { partition: plan.partition, key: plan.key, result });
            });
        }
        started
    }

    /// Everything that needs the state lock, in one short hold.
    fn reconcile(&mut self, started: &[(String, TargetKey)], outcomes: Vec<Outcome>) {
        let t = now();
        let mut state = lock(&self.state);
        let mut changed = false;
        for (partition, (group, id, port)) in started {
            let target =
                state.partitions.get_mut(partition).and_then(|p| p.target_groups.get_mut(group)).and_then(|g| g.target_mut(id, *port));
            if let Some(target) = target
                && target.state == "initial"
                && target.reason.as_deref() == Some(REGISTRATION_IN_PROGRESS.0)
            {
                let (reason, description) = health::INITIAL_HEALTH_CHECKING;
                target.reason = Some(reason.into());
                target.description = Some(description.into());
                changed = true;
            }
        }
        for outcome in outcomes {
            // No longer scheduled: its group went unused (or the target left) while the
            // check ran. What it found is not a fresh check of a group back in use.
            let Some(schedule) = self.checks.get_mut(&outcome.key) else { continue };
            schedule.running = false;
            let (group_arn, id, port) = &outcome.key;
            let Some(group) = state.partitions.get_mut(&outcome.partition).and_then(|p| p.target_groups.get_mut(group_arn)) else {
                continue;
            };
            let settings = group.health_check.clone();
            let Some(target) = group.target_mut(id, *port) else { continue };
            if target.state == "draining" {
                continue;
            }
            let verdict = health::next_state(target, outcome.result, &settings);
            changed |= health::apply(target, verdict, t);
        }
        let mut routes = self.traffic.routes();
        changed |= drain(&mut routes, &mut state, t);
        if changed {
            state.dirty = true;
        }
        routes.publish(&state, &self.traffic.shared);
        if routes.generation == self.generation {
            return;
        }
        // New routes (published here or by an API write): what is checked and what listens.
        self.generation = routes.generation;
        drop(routes);
        let mut plans = HashMap::new();
        for (key, partition) in &state.partitions {
            plans.extend(health::plans(key, partition, self.scale).into_iter().map(|p| (p.key.clone(), p)));
        }
        let table = self.traffic.shared.table();
        drop(state);
        let instant = Instant::now();
        self.checks.retain(|key, _| plans.contains_key(key));
        for key in plans.keys() {
            self.checks.entry(key.clone()).or_insert(Schedule { next_due: instant, running: false });
        }
        self.plans = plans;
        self.wanted = table.listeners.iter().map(|(arn, l)| Wanted { arn: arn.clone(), addr: SocketAddr::new(l.ip, l.port) }).collect();
        self.wanted.sort_by(|a, b| a.arn.cmp(&b.arn));
        self.wanted_changed = true;
    }

    /// Stops the proxies of listeners gone or moved and waits until they have let go of
    /// their ports (a new listener may want one of them), then starts the proxies of new
    /// listeners, retries failed binds when due, and publishes what listens.
    async fn bind_listeners(&mut self) {
        if !self.wanted_changed && self.failed.is_empty() {
            return;
        }
        self.wanted_changed = false;
        let mut status_changed = false;
        let wanted: HashMap<String, SocketAddr> = self.wanted.iter().map(|w| (w.arn.clone(), w.addr)).collect();
        let before = self.proxies.len() + self.failed.len();
        let gone: Vec<String> = self
            .proxies
            .iter()
            .filter(|(arn, running)| wanted.get(arn.as_str()) != Some(&running.addr))
            .map(|(arn, _)| arn.clone())
            .collect();
        for arn in gone {
            if let Some(running) = self.proxies.remove(&arn) {
                let _ = running.stop.send(true);
                // Its accept loop returns at once, closing the socket; the connections it
                // accepted end on their own.
                if tokio::time::timeout(STOP_WAIT, running.serving).await.is_err() {
                    tracing::warn!("listener {arn}: its proxy on {} did not stop within {STOP_WAIT:?}", running.addr);
                }
            }
        }
        self.failed.retain(|arn, failed| wanted.get(arn.as_str()) == Some(&failed.addr));
        status_changed |= self.proxies.len() + self.failed.len() != before;
        let now = Instant::now();
        for w in &self.wanted {
            if self.proxies.contains_key(&w.arn) || self.failed.get(&w.arn).is_some_and(|f| f.retry_at > now) {
                continue;
            }
            match bind(w.addr) {
                Ok(listener) => {
                    let (stop, stopped) = watch::channel(false);
                    let arn: Arc<str> = Arc::from(w.arn.as_str());
                    let serving = tokio::spawn(proxy::serve(listener, arn, Arc::clone(&self.traffic.shared), stopped));
                    self.proxies.insert(w.arn.clone(), Running { addr: w.addr, stop, serving });
                    if self.failed.remove(&w.arn).is_some() {
                        tracing::info!("listener {} now listens on {}", w.arn, w.addr);
                    }
                    status_changed = true;
                }
                Err(error) => {
                    let error = bind_error(w.addr, &error);
                    let said = self.failed.get(&w.arn).is_some_and(|f| f.error == error);
                    if !said {
                        tracing::warn!("listener {}: {error}; retrying every {} s", w.arn, BIND_RETRY.as_secs());
                        status_changed = true;
                    }
                    self.failed.insert(w.arn.clone(), Failed { addr: w.addr, retry_at: now + BIND_RETRY, error });
                }
            }
        }
        if status_changed {
            let status = self
                .wanted
                .iter()
                .map(|w| ListenerStatus {
                    listener_arn: w.arn.clone(),
                    address: w.addr.to_string(),
                    listening: self.proxies.contains_key(&w.arn),
                    error: self.failed.get(&w.arn).map(|f| f.error.clone()),
                })
                .collect();
            *self.traffic.listeners.lock().unwrap_or_else(PoisonError::into_inner) = status;
        }
    }
}

/// Ends the deregistration of draining targets (ALB guide, "Deregistration delay": "If a
/// deregistering target has no in-flight requests and no active connections, Elastic Load
/// Balancing immediately completes the deregistration process, without waiting for the
/// deregistration delay to elapse. However, even though target deregistration is complete,
/// the status of the target is displayed as draining until the deregistration delay timeout
/// expires"):
/// - a draining target with no request in flight is done inside: none can start again (see
///   `TargetSlot`), and its connection pool is dropped, closing its idle connections;
/// - its record stays, `draining`, until its group's deregistration delay has passed since
///   `draining_since`; then it is removed, requests still in flight or not.
///
/// Returns whether a target was removed.
fn drain(routes: &mut Routes, state: &mut State, t: f64) -> bool {
    let mut removed = false;
    for partition in state.partitions.values_mut() {
        for group in partition.target_groups.values_mut() {
            if !group.targets.iter().any(|x| x.state == "draining") {
                continue;
            }
            let delay = group.deregistration_delay();
            let arn = group.arn.clone();
            let before = group.targets.len();
            group.targets.retain(|target| {
                if target.state != "draining" {
                    return true;
                }
                let key = (arn.clone(), target.id.clone(), target.port);
                let idle = routes.slots.get(&key).is_none_or(|slot| slot.drain() == 0);
                if idle {
                    routes.clients.remove(&key);
                }
                target.draining_since.is_some_and(|since| t - since < delay)
            });
            removed |= group.targets.len() != before;
        }
    }
    removed
}

/// Binds a listener's address (std's bind sets `SO_REUSEADDR`, so a restart finds its
/// ports again at once).
fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// A bind error in words that say what to do.
fn bind_error(addr: SocketAddr, error: &std::io::Error) -> String {
    let hint = match error.kind() {
        std::io::ErrorKind::AddrInUse => ": another process listens there; free the port or give the listener another one".to_string(),
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            ": ports below 1024 need root, CAP_NET_BIND_SERVICE or net.ipv4.ip_unprivileged_port_start <= {}; or give the listener a port >= 1024",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable if matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback()) => {
            ": this system does not route all of 127.0.0.0/8 to the loopback interface (Linux does; on macOS add the address with `sudo ifconfig lo0 alias ADDRESS`)".to_string()
        }
        _ => String::new(),
    };
    format!("cannot listen on {addr}: {error}{hint}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::elbv2::test_support::{call, forward_from_a_listener, world};
    use crate::records::targets::{deregister, register};
    use crate::records::task_targets::fixtures;

    const DELAY: f64 = 10.0;

    /// A state with group "web" (deregistration delay [`DELAY`]) a listener forwards to, its
    /// target 127.0.0.1:8080 healthy and routed; returns the state, the target's key, and
    /// what routes it.
    fn routed_target() -> (State, TargetKey, Routes, Shared) {
        let mut state = State::default();
        let partition = state.partition("123456789012", "us-east-1");
        let arn = fixtures::target_group(partition, "web", "ip", false);
        forward_from_a_listener(partition, "shop", &arn);
        let group = partition.target_groups.get_mut(&arn).unwrap();
        group.attributes.insert("deregistration_delay.timeout_seconds".into(), DELAY.to_string());
        register(group, "127.0.0.1", 8080, None, None, 100.0);
        group.targets[0].state = "healthy".into();
        let (mut routes, shared) = (Routes::default(), Shared::new(access_log::AccessLog::default()));
        assert!(routes.publish(&state, &shared));
        let key = (arn, "127.0.0.1".to_string(), 8080);
        assert!(routes.clients.contains_key(&key));
        (state, key, routes, shared)
    }

    fn deregister_at(state: &mut State, key: &TargetKey, now: f64) {
        let group = state.partitions.values_mut().next().unwrap().target_groups.get_mut(&key.0).unwrap();
        assert!(deregister(group, &key.1, key.2, true, now));
    }

    fn shown(state: &State, key: &TargetKey) -> Option<String> {
        let group = &state.partitions.values().next().unwrap().target_groups[&key.0];
        group.targets.iter().find(|t| t.id == key.1 && t.port == key.2).map(|t| t.state.clone())
    }

    #[test]
    fn a_draining_target_with_nothing_in_flight_is_shown_draining_until_its_delay_is_over_then_removed() {
        let (mut state, key, mut routes, shared) = routed_target();
        deregister_at(&mut state, &key, 200.0);
        routes.publish(&state, &shared);

        // Nothing in flight: done inside at once (no request may start, its pool dropped),
        // yet shown draining for the whole delay.
        assert!(!drain(&mut routes, &mut state, 200.1));
        assert!(routes.slots[&key].is_draining());
        assert!(!routes.slots[&key].try_acquire());
        assert!(!routes.clients.contains_key(&key), "the drained target's connection pool was kept");
        assert!(!drain(&mut routes, &mut state, 200.0 + DELAY - 0.01));
        assert_eq!(shown(&state, &key).as_deref(), Some("draining"));

        // The delay over: removed, and the next table forgets it.
        assert!(drain(&mut routes, &mut state, 200.0 + DELAY));
        assert_eq!(shown(&state, &key), None);
        assert!(routes.publish(&state, &shared));
        assert!(!routes.slots.contains_key(&key));
    }

    #[test]
    fn a_draining_target_keeps_its_connection_pool_while_a_request_is_in_flight_and_drops_it_once_none_is() {
        let (mut state, key, mut routes, shared) = routed_target();
        let slot = Arc::clone(&routes.slots[&key]);
        assert!(slot.try_acquire());
        deregister_at(&mut state, &key, 200.0);
        routes.publish(&state, &shared);

        assert!(!drain(&mut routes, &mut state, 201.0));
        assert!(routes.clients.contains_key(&key), "the pool of a target with a request in flight was dropped");
        slot.release();
        assert!(!drain(&mut routes, &mut state, 202.0));
        assert!(!routes.clients.contains_key(&key));
        assert_eq!(shown(&state, &key).as_deref(), Some("draining"));
    }

    #[test]
    fn a_draining_target_is_removed_at_its_delay_even_with_a_request_in_flight() {
        let (mut state, key, mut routes, shared) = routed_target();
        let slot = Arc::clone(&routes.slots[&key]);
        assert!(slot.try_acquire());
        deregister_at(&mut state, &key, 200.0);
        routes.publish(&state, &shared);
        assert!(!drain(&mut routes, &mut state, 200.0 + DELAY - 0.01));
        assert!(drain(&mut routes, &mut state, 200.0 + DELAY));
        assert_eq!(shown(&state, &key), None);
        // The request goes on; its slot is kept until it ends.
        assert!(routes.publish(&state, &shared));
        assert_eq!(routes.slots[&key].in_flight(), 1);
        slot.release();
    }

    #[test]
    fn a_target_registered_again_while_draining_takes_requests_over_a_new_pool() {
        let (mut state, key, mut routes, shared) = routed_target();
        deregister_at(&mut state, &key, 200.0);
        routes.publish(&state, &shared);
        drain(&mut routes, &mut state, 200.1);
        assert!(!routes.clients.contains_key(&key));

        let group = state.partitions.values_mut().next().unwrap().target_groups.get_mut(&key.0).unwrap();
        assert!(register(group, &key.1, key.2, None, None, 201.0));
        assert!(routes.publish(&state, &shared));
        assert!(!routes.slots[&key].is_draining());
        assert!(routes.clients.contains_key(&key));
        let table = shared.table();
        let listener = table.listeners.values().next().unwrap();
        let table::RouteAction::Forward(forward) = &listener.rules[0].action else { panic!("not a forward") };
        assert_eq!(forward.groups[0].group.targets.len(), 1, "the target registered again is routed (fail-open while initial)");
    }

    /// 20 load balancers with a listener each (a default rule and 5 path rules), 50 target
    /// groups, 100 targets: the size of the idle benchmark (docs/benchmarks.md).
    fn twenty_balancers() -> State {
        let mut p = world();
        let mut groups = Vec::new();
        for g in 0..50 {
            let out = call(
                &mut p,
                "CreateTargetGroup",
                json!({"Name": format!("tg-{g}"), "Protocol": "HTTP", "Port": 80, "VpcId": "vpc-1", "TargetType": "ip"}),
                0.0,
            )
            .unwrap();
            let arn = out["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string();
            let targets = json!([{"Id": "127.0.0.1", "Port": 20_000 + 2 * g}, {"Id": "127.0.0.1", "Port": 20_001 + 2 * g}]);
            call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 0.0).unwrap();
            groups.push(arn);
        }
        for lb in 0..20 {
            let lb_arn = forward_from_a_listener(&mut p, &format!("lb-{lb}"), &groups[lb]);
            let listener = p.listeners.values().find(|l| l.load_balancer_arn == lb_arn).unwrap().arn.clone();
            // A group serves one load balancer: rule 1 forwards to one of groups 20–39,
            // rule 2 of the first ten to one of groups 40–49, the others as the default.
            for r in 0..5 {
                let group = match r {
                    1 => &groups[20 + lb],
                    2 if lb < 10 => &groups[40 + lb],
                    _ => &groups[lb],
                };
                let input = json!({"ListenerArn": listener, "Priority": r + 1,
                    "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": [format!("/r{r}/*")]}}],
                    "Actions": [{"Type": "forward", "TargetGroupArn": group}]});
                call(&mut p, "CreateRule", input, 0.0).unwrap();
            }
        }
        let mut state = State::default();
        state.partitions.insert(crate::state::partition_key(&p.account, &p.region), p);
        state
    }

    #[test]
    fn publishing_routes_rebuilds_the_table_only_when_the_records_route_differently() {
        let mut state = twenty_balancers();
        let traffic = Traffic::new(access_log::AccessLog::default());
        traffic.publish_routes(&state);
        let first = traffic.shared.table();
        assert_eq!(first.listeners.len(), 20);
        assert!(first.listeners.values().all(|l| l.rules.len() == 6));
        assert_eq!(traffic.routes().clients.len(), 100);

        // Nothing that routes changed: the same table.
        traffic.publish_routes(&state);
        assert!(Arc::ptr_eq(&first, &traffic.shared.table()));

        // A rule's action changed: a new table, with it, at once.
        let p = state.partitions.values_mut().next().unwrap();
        let rule = p.rules.values_mut().find(|r| !r.is_default).unwrap();
        rule.actions = json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418"}}]);
        let (listener, priority) = (rule.listener_arn.clone(), rule.priority.clone());
        traffic.publish_routes(&state);
        let table = traffic.shared.table();
        assert!(!Arc::ptr_eq(&first, &table));
        let routed = table.listeners[&listener].rules.iter().find(|r| *r.priority == *priority).unwrap();
        assert!(matches!(&routed.action, table::RouteAction::Fixed(f) if f.status == 418));
    }
}
