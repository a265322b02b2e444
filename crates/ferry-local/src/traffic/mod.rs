//! The traffic engine of ELBv2: each listener a real HTTP/1.1 reverse proxy on its load
//! balancer's address, health checks of every target over HTTP, and draining of
//! deregistered targets. It reads the records of `state::elb` and writes target health;
//! the API handlers (`elbv2`) never reach in here.
//!
//! One reconcile loop ([`Traffic::start`]) does, every 100 ms and whenever a health check
//! ends, under the state lock and never across an await:
//! - applies health check results to the `Target` records (`health`), and starts the
//!   checks that are due;
//! - removes draining targets that have no request in flight, or whose group's
//!   `deregistration_delay.timeout_seconds` (default 300) has passed since deregistration
//!   ("Deregistration delay" in the ALB guide: the load balancer stops sending new requests
//!   to a deregistering target and lets in-flight requests complete);
//! - when the ELB records changed (a hash of what routes traffic, `table::fingerprint`),
//!   builds a new routing table (`table`) and publishes it: a request reads it through an
//!   `Arc` swap and never takes the state lock;
//! - makes sure each listener's proxy (`proxy`) listens on `<DNSName>:<Port>` (the load
//!   balancer's loopback address): bound once; a listener deleted, or whose port changed,
//!   has its proxy stopped.
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
use tokio::sync::{mpsc, watch};

use self::health::{CheckResult, HealthClient, Plan};
use self::proxy::Shared;
use self::table::{Table, TargetKey, TargetSlot};
use crate::api::now;
use crate::records::targets::REGISTRATION_IN_PROGRESS;
use crate::runtime::lock;
use crate::state::State;

/// How often the loop looks at the records when nothing wakes it earlier.
const TICK: Duration = Duration::from_millis(100);
/// How long a listener whose port could not be bound waits before the next try.
const BIND_RETRY: Duration = Duration::from_secs(2);

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

/// The running traffic engine: what the admin path may ask of it.
pub struct Traffic {
    shared: Arc<Shared>,
    listeners: Mutex<Vec<ListenerStatus>>,
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
        let traffic = Arc::new(Traffic { shared: Arc::new(Shared::new(log.clone())), listeners: Mutex::default() });
        let scale = if health_check_scale.is_finite() && health_check_scale > 0.0 { health_check_scale } else { 1.0 };
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        let reconciler = Reconciler {
            state,
            traffic: Arc::clone(&traffic),
            scale,
            fingerprint: None,
            slots: HashMap::new(),
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
    /// Of the records the published table was built from.
    fingerprint: Option<u64>,
    /// Every registered target's slot (in-flight count, draining flag), kept across tables.
    slots: HashMap<TargetKey, Arc<TargetSlot>>,
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
            self.bind_listeners();
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
            if let Some(schedule) = self.checks.get_mut(&outcome.key) {
                schedule.running = false;
            }
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
        changed |= self.drain(&mut state, t);
        if changed {
            state.dirty = true;
        }
        let fingerprint = table::fingerprint(&state);
        if self.fingerprint == Some(fingerprint) {
            return;
        }
        self.fingerprint = Some(fingerprint);
        let mut table = Table::default();
        let mut plans = HashMap::new();
        let mut registered = HashSet::new();
        for (key, partition) in &state.partitions {
            table::add_partition(&mut table, partition, &mut self.slots);
            plans.extend(health::plans(key, partition, self.scale).into_iter().map(|p| (p.key.clone(), p)));
            for group in partition.target_groups.values() {
                registered.extend(group.targets.iter().map(|t| (group.arn.clone(), t.id.clone(), t.port)));
            }
        }
        drop(state);
        self.slots.retain(|key, slot| registered.contains(key) || slot.in_flight() > 0);
        let instant = Instant::now();
        self.checks.retain(|key, _| plans.contains_key(key));
        for key in plans.keys() {
            self.checks.entry(key.clone()).or_insert(Schedule { next_due: instant, running: false });
        }
        self.plans = plans;
        self.wanted = table.listeners.iter().map(|(arn, l)| Wanted { arn: arn.clone(), addr: SocketAddr::new(l.ip, l.port) }).collect();
        self.wanted.sort_by(|a, b| a.arn.cmp(&b.arn));
        self.wanted_changed = true;
        self.traffic.shared.publish(table);
    }

    /// Removes the draining targets that are done: no request in flight (after which none
    /// can start: see `TargetSlot`), or past their group's deregistration delay. Returns
    /// whether any left.
    fn drain(&self, state: &mut State, t: f64) -> bool {
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
                    let in_flight = self.slots.get(&(arn.clone(), target.id.clone(), target.port)).map_or(0, |slot| slot.drain());
                    let expired = target.draining_since.is_none_or(|since| t - since >= delay);
                    in_flight > 0 && !expired
                });
                removed |= group.targets.len() != before;
            }
        }
        removed
    }

    /// Starts the proxies of new listeners, stops those of listeners gone or moved, retries
    /// failed binds when due, and publishes what listens.
    fn bind_listeners(&mut self) {
        if !self.wanted_changed && self.failed.is_empty() {
            return;
        }
        self.wanted_changed = false;
        let mut status_changed = false;
        let wanted: HashMap<&str, SocketAddr> = self.wanted.iter().map(|w| (w.arn.as_str(), w.addr)).collect();
        let before = self.proxies.len() + self.failed.len();
        self.proxies.retain(|arn, running| wanted.get(arn.as_str()) == Some(&running.addr));
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
                    tokio::spawn(proxy::serve(listener, arn, Arc::clone(&self.traffic.shared), stopped));
                    self.proxies.insert(w.arn.clone(), Running { addr: w.addr, stop });
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
