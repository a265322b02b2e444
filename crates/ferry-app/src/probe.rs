//! The prober of a deploy run: for each service behind a load balancer, light GET requests
//! through its production listener from the moment the deploy holds its lock (just before it
//! changes anything) until it ends, counted by [`ferry_core::probe::ProbeRecorder`].
//!
//! Where the requests go is decided by [`ferry_core::probe::choose_target`] from what
//! [`AwsElb::probe_target`] reads (or `probe.url`); how often, what counts as success and how
//! long a request may take come from ferry.toml ([`ferry_core::config::Config::probe`]).
//! Probing never changes a deploy's outcome today: it is reported — on the live view
//! ([`EventSink::probe`]), in the report's `probe` ([`ServiceReport::probe`]) and the
//! summary, and as a `probe` event in the ledger. The gates of blue/green and canary will ask
//! the running prober how many failed since a traffic shift (the [`ProbeGate`] port).
//!
//! Bounded: one task per probed service, started once per deployment, stopped at that
//! service's `finished` event, at the end of the run, when the run is cancelled or when
//! [`Probes`] is dropped (every task is aborted with it). A tick sends one request and
//! missed ticks are skipped, so no more than `rate` × the time probed (plus one) requests
//! are sent; requests still in flight when probing stops are abandoned and not counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_aws::alarms::AwsAlarms;
use ferry_aws::platform::AwsElb;
use ferry_core::config::CHECK_COMMAND_TIMEOUT;
use ferry_core::config::{Config, ProbeSettings};
use ferry_core::deploy::{AlarmReading, Event, GateVerdict, Gates, Outcome, Phase, PreparingCheck, Request, ServiceReport};
use ferry_core::probe::{Answer, NoProbe, ProbeGate, ProbeRecorder, ProbeStats, ProbeTarget};
use ferry_store::{EventRecord, Ledger};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::journal::now_ms;
use crate::sink::EventSink;

/// How often the live view (and JSON lines, CI log lines, as the printer throttles them)
/// hears the running figures.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The probers of one run, one per service that is behind a load balancer and has probing
/// on. Dropping it aborts every probe still running.
pub struct Probes {
    elb: AwsElb,
    /// The alarm gate's reader.
    alarms: AwsAlarms,
    client: reqwest::Client,
    /// Each service's settings (by ferry's service name); services with probing off are absent.
    settings: HashMap<String, ProbeSettings>,
    /// blue-green, canary, linear: the production rule each service's probe goes through
    /// (by ferry's service name).
    through: HashMap<String, String>,
    /// ferry.toml's directory, where a `check_command` runs.
    root: PathBuf,
    cancel: CancellationToken,
    active: Mutex<Vec<Active>>,
}

/// A deployment's probe.
struct Active {
    deployment_id: String,
    service: String,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What a probe task and the run share.
struct Shared {
    settings: ProbeSettings,
    state: State,
    recorder: ProbeRecorder,
    /// Whether the run has said where the probe sends (or why it does not).
    announced: bool,
}

enum State {
    /// Reading the load balancer's listeners and rules.
    Finding,
    Probing(ProbeTarget),
    Skipped(String),
}

impl Probes {
    /// The probers for `requests` of environment `environment`: each service's settings from
    /// `config`, all off when `enabled` is false (`--no-probe`). `cancel` stops them all (a
    /// child of the run's token). Errors (invalid input): a `probe.url` that does not render.
    pub fn new(
        config: &Config,
        environment: &str,
        requests: &[Request],
        elb: AwsElb,
        alarms: AwsAlarms,
        enabled: bool,
        cancel: CancellationToken,
    ) -> Result<Probes> {
        let mut settings = HashMap::new();
        let through = requests.iter().filter_map(|r| r.traffic.as_ref().map(|t| (r.service.clone(), t.production_rule.clone()))).collect();
        if enabled {
            for request in requests {
                let service = config.probe(environment, &request.service).map_err(Error::config)?;
                if service.enabled {
                    settings.insert(request.service.clone(), service);
                }
            }
        }
        // Redirects are answers (3xx is expected by default), not something to follow.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ferry-probe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the prober's HTTP client: {e}")))?;
        Ok(Probes { elb, alarms, client, settings, through, root: config.root.clone(), cancel, active: Mutex::new(Vec::new()) })
    }

    /// Starts and stops probes as the run goes: a deployment that took its lock
    /// ([`Phase::Locked`]) starts its service's probe (once), its `finished` event stops it.
    pub fn on_event(&self, report: &ServiceReport, event: &Event) {
        match event {
            Event::Phase { phase: Phase::Locked, .. } => self.start(report),
            Event::Finished { .. } => self.stop(&report.deployment_id),
            _ => {}
        }
    }

    fn start(&self, report: &ServiceReport) {
        let Some(settings) = self.settings.get(&report.service) else { return };
        if report.target_groups.is_empty() && settings.url.is_none() {
            return;
        }
        let Ok(mut active) = self.active.lock() else { return };
        if active.iter().any(|a| a.deployment_id == report.deployment_id) {
            return;
        }
        let shared = Arc::new(Mutex::new(Shared {
            settings: settings.clone(),
            state: State::Finding,
            recorder: ProbeRecorder::new(settings.expect.clone()),
            announced: false,
        }));
        let stop = self.cancel.child_token();
        let task = tokio::spawn(probe(
            self.elb.clone(),
            self.client.clone(),
            report.target_groups.clone(),
            self.through.get(&report.service).cloned(),
            settings.clone(),
            shared.clone(),
            stop.clone(),
        ));
        active.push(Active { deployment_id: report.deployment_id.clone(), service: report.service.clone(), shared, stop, task });
    }

    fn stop(&self, deployment_id: &str) {
        let Ok(active) = self.active.lock() else { return };
        for probe in active.iter().filter(|a| a.deployment_id == deployment_id) {
            if !probe.stop.is_cancelled() {
                probe.stop.cancel();
                if let Ok(mut shared) = probe.shared.lock() {
                    shared.recorder.finished(now_ms());
                }
            }
        }
    }

    /// Runs `run` while telling `sink` every second where each probe sends (once) and its
    /// figures so far; returns what `run` returns.
    pub async fn while_running<T>(&self, sink: &dyn EventSink, run: impl std::future::Future<Output = T>) -> T {
        if self.settings.is_empty() {
            return run.await;
        }
        tokio::pin!(run);
        let mut ticks = tokio::time::interval(REPORT_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                done = &mut run => return done,
                _ = ticks.tick() => self.report(sink),
            }
        }
    }

    /// Tells `sink` what changed since the last time.
    fn report(&self, sink: &dyn EventSink) {
        let Ok(active) = self.active.lock() else { return };
        for probe in active.iter() {
            let Ok(mut shared) = probe.shared.lock() else { continue };
            if !shared.announced {
                let announcement = match &shared.state {
                    State::Finding => None,
                    State::Probing(target) => Some(announcement(target, &shared.settings)),
                    State::Skipped(why) => Some(format!("not probing: {why}")),
                };
                if let Some(text) = announcement {
                    shared.announced = true;
                    sink.note(Some(&probe.service), &text);
                }
            }
            if let State::Probing(target) = &shared.state
                && !probe.stop.is_cancelled()
            {
                let stats = stats_of(&shared, Some(target), None);
                sink.probe(&probe.service, &probe.deployment_id, &stats);
            }
        }
    }

    /// Stops every probe and puts each one's figures in its report (`probe`), unless nothing
    /// was deployed (refused, locked, unchanged), and in the ledger as a `probe` event of its
    /// deployment. Returns the reports.
    pub fn finish(&self, mut reports: Vec<ServiceReport>, ledger: &Ledger, sink: &dyn EventSink) -> Vec<ServiceReport> {
        let Ok(mut active) = self.active.lock() else { return reports };
        for probe in active.drain(..) {
            probe.stop.cancel();
            probe.task.abort();
            let Ok(mut shared) = probe.shared.lock() else { continue };
            if shared.recorder.stats().finished_at.is_none() {
                shared.recorder.finished(now_ms());
            }
            let stats = match &shared.state {
                State::Probing(target) => stats_of(&shared, Some(target), None),
                State::Skipped(why) => stats_of(&shared, None, Some(why.clone())),
                State::Finding => stats_of(&shared, None, Some("the run ended before the listener was found".into())),
            };
            let Some(report) = reports.iter_mut().find(|r| r.deployment_id == probe.deployment_id) else { continue };
            if matches!(report.outcome, Outcome::Refused | Outcome::LockHeld | Outcome::Unchanged | Outcome::Planned) {
                continue;
            }
            let message = ledger_text(&stats);
            if let Err(e) = ledger.record_event(&report.deployment_id, &EventRecord { at: now_ms(), kind: "probe".into(), message }) {
                sink.note(Some(&report.service), &format!("warning: cannot record the probe's figures in the ledger: {e}"));
            }
            report.probe = Some(stats);
        }
        reports
    }
}

/// For the gates of traffic shifts: how many of a deployment's probe requests failed since a
/// time; None while it is not probing (not behind a load balancer, off, skipped, or still
/// finding its listener).
impl ProbeGate for Probes {
    fn failed_since(&self, deployment_id: &str, since_ms: i64) -> Option<u64> {
        let active = self.active.lock().ok()?;
        let probe = active.iter().find(|a| a.deployment_id == deployment_id)?;
        let shared = probe.shared.lock().ok()?;
        matches!(shared.state, State::Probing(_)).then(|| shared.recorder.failed_since(since_ms))
    }
}

impl Probes {
    /// [`CHECK_REQUESTS`] GETs through the preparing rule's listener to the new version's
    /// target group, with the service's probe settings (path, expected status, timeout):
    /// every one must answer as expected. Skipped (said, not failed) when probing is off for
    /// the service or ferry cannot send through that listener (HTTPS, a condition it cannot
    /// meet). Returns the verdict and where the requests went.
    async fn probe_preparing(&self, check: &PreparingCheck) -> (GateVerdict, Option<ProbeTarget>) {
        let Some(settings) = self.settings.get(&check.service) else {
            return (GateVerdict::Skipped("probing is off for this service (probe.enabled = false or --no-probe)".into()), None);
        };
        let target = match self.elb.probe_target(&check.target_group, settings.path.as_deref(), Some(&check.preparing_rule)).await {
            Ok(Ok(target)) => target,
            Ok(Err(why)) => return (GateVerdict::Skipped(why.0), None),
            Err(e) => return (GateVerdict::Failed(format!("cannot read the preparing rule's listener: {e}")), None),
        };
        let read_body = check.body.is_some() || !check.json.is_empty();
        let mut recorder = ProbeRecorder::new(settings.expect.clone());
        recorder.started(now_ms());
        let (mut failed, mut last) = (0u64, None);
        for i in 0..CHECK_REQUESTS {
            if i > 0 {
                tokio::time::sleep(CHECK_SPACING).await;
            }
            let failed_before = recorder.failed();
            let (at, latency, answer, body) = fetch(self.client.clone(), &target, settings.timeout, read_body).await;
            recorder.record(at, latency, &answer);
            // Its status (or no answer) first; then, answered as expected, its content.
            let why = if recorder.failed() > failed_before {
                recorder.stats().last_failures.last().map(|f| f.reason.clone())
            } else {
                match body {
                    Some(Ok(body)) => lacks(&body, check),
                    Some(Err(why)) => Some(format!("cannot read the answer: {why}")),
                    None => None,
                }
            };
            if let Some(why) = why {
                failed += 1;
                last = Some(why);
            }
        }
        recorder.finished(now_ms());
        let sent = recorder.sent();
        let host = target.host_header.as_deref().map(|h| format!(" (Host {h})")).unwrap_or_default();
        let verdict = if failed == 0 {
            let content = if read_body { " with the expected content" } else { "" };
            GateVerdict::Passed(format!("{sent} GET {}{host}: all answered {}{content}", target.url, settings.expect))
        } else {
            GateVerdict::Failed(format!("{failed} of {sent} GET {}{host} failed; last: {}", target.url, last.unwrap_or_default()))
        };
        (verdict, Some(target))
    }
}

/// Runs `check_command` in `root` (ferry.toml's directory) with the check's facts in its
/// environment, for at most `timeout` ([`CHECK_COMMAND_TIMEOUT`]); past it, its whole process
/// group is killed. Ok with what it did; Err with why it
/// failed (its exit code and last line of output, or the timeout).
async fn run_check_command(
    root: &Path,
    command: &[String],
    check: &PreparingCheck,
    target: Option<&ProbeTarget>,
    timeout: Duration,
) -> std::result::Result<String, String> {
    let shown = crate::words::command_text(command);
    let Some((program, args)) = command.split_first() else { return Err("check_command is empty".into()) };
    let mut child = tokio::process::Command::new(program);
    child
        .args(args)
        .current_dir(root)
        .env("FERRY_ENVIRONMENT", &check.environment)
        .env("FERRY_SERVICE", &check.service)
        .env("FERRY_TARGET_GROUP_ARN", &check.target_group)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so a timeout stops what it started too (a script's children).
        .process_group(0)
        .kill_on_drop(true);
    if let Some(target) = target {
        child.env("FERRY_CHECK_URL", &target.url);
        if let Some(host) = &target.host_header {
            child.env("FERRY_CHECK_HOST", host);
        }
    }
    let running = child.spawn().map_err(|e| format!("check_command {shown} could not start: {e}"))?;
    let group = running.id().and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
    let output = match tokio::time::timeout(timeout, running.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("check_command {shown} failed: {e}")),
        Err(_) => {
            if let Some(group) = group {
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            }
            return Err(format!("check_command {shown} did not finish within {}", humantime::format_duration(timeout)));
        }
    };
    if output.status.success() {
        return Ok(format!("check_command {shown} exited 0"));
    }
    let last = [&output.stderr, &output.stdout]
        .iter()
        .find_map(|bytes| String::from_utf8_lossy(bytes).lines().rev().find(|l| !l.trim().is_empty()).map(str::to_string))
        .map(|line| format!(": {line}"))
        .unwrap_or_default();
    let code = output.status.code().map_or("was killed by a signal".to_string(), |c| format!("exited {c}"));
    Err(format!("check_command {shown} {code}{last}"))
}

/// How many requests the checks through the preparing rule send, and how far apart.
const CHECK_REQUESTS: u32 = 10;
const CHECK_SPACING: Duration = Duration::from_millis(100);

impl Gates for Probes {
    /// [`CHECK_REQUESTS`] GETs through the preparing rule's listener to the new version's
    /// target group, with the service's probe settings (path, expected status, timeout):
    /// every one must answer as expected. Skipped (said, not failed) when probing is off for
    /// the service or ferry cannot send through that listener (HTTPS, a condition it cannot
    /// meet).
    fn check_preparing<'a>(
        &'a self,
        check: &'a PreparingCheck,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = GateVerdict> + Send + 'a>> {
        Box::pin(async move {
            let (http, target) = self.probe_preparing(check).await;
            let Some(command) = check.command.as_deref().filter(|_| !matches!(http, GateVerdict::Failed(_))) else { return http };
            match run_check_command(&self.root, command, check, target.as_ref(), CHECK_COMMAND_TIMEOUT).await {
                Ok(said) => match http {
                    GateVerdict::Passed(what) => GateVerdict::Passed(format!("{what}; {said}")),
                    GateVerdict::Skipped(why) | GateVerdict::Failed(why) => GateVerdict::Passed(format!("{said} (HTTP not probed: {why})")),
                },
                Err(why) => GateVerdict::Failed(why),
            }
        })
    }

    fn failed_since(&self, deployment_id: &str, since_ms: i64) -> Option<u64> {
        ProbeGate::failed_since(self, deployment_id, since_ms)
    }

    fn alarms<'a>(
        &'a self,
        names: &'a [String],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<Vec<AlarmReading>, String>> + Send + 'a>> {
        Box::pin(read_alarms(&self.alarms, names))
    }
}

/// The gates of a run that probes nothing (plan, rollback, scale): only the alarm gate's
/// alarms are read, so that preflight can say one does not exist.
pub struct AlarmGates(pub AwsAlarms);

impl Gates for AlarmGates {
    fn check_preparing<'a>(
        &'a self,
        _check: &'a PreparingCheck,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = GateVerdict> + Send + 'a>> {
        Box::pin(async { GateVerdict::Skipped("no HTTP checks in this run".into()) })
    }

    fn failed_since(&self, _deployment_id: &str, _since_ms: i64) -> Option<u64> {
        None
    }

    fn alarms<'a>(
        &'a self,
        names: &'a [String],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<Vec<AlarmReading>, String>> + Send + 'a>> {
        Box::pin(read_alarms(&self.0, names))
    }
}

/// The states of `names` (DescribeAlarms); the error says why they could not be read.
async fn read_alarms(alarms: &AwsAlarms, names: &[String]) -> std::result::Result<Vec<AlarmReading>, String> {
    let states = alarms.states(names).await.map_err(|e| e.to_string())?;
    Ok(states.into_iter().map(|s| AlarmReading { name: s.name, state: s.state, reason: s.reason }).collect())
}

impl Drop for Probes {
    fn drop(&mut self) {
        if let Ok(active) = self.active.lock() {
            for probe in active.iter() {
                probe.stop.cancel();
                probe.task.abort();
            }
        }
    }
}

/// The figures of a probe as its report carries them.
fn stats_of(shared: &Shared, target: Option<&ProbeTarget>, skipped: Option<String>) -> ProbeStats {
    ProbeStats {
        url: target.map(|t| t.url.clone()),
        host_header: target.and_then(|t| t.host_header.clone()),
        via: target.map(|t| t.via.clone()),
        rate: shared.settings.rate,
        skipped,
        ..shared.recorder.stats()
    }
}

/// `probing http://…/ (Host h) at 2/s, expecting 200-399 (listener 80 of web, its default action)`.
fn announcement(target: &ProbeTarget, settings: &ProbeSettings) -> String {
    format!(
        "probing {}{} at {}/s, expecting {} ({})",
        target.url,
        target.host_header.as_deref().map(|h| format!(" (Host {h})")).unwrap_or_default(),
        rate_text(settings.rate),
        settings.expect,
        target.via
    )
}

fn rate_text(rate: f64) -> String {
    if rate.fract() == 0.0 { format!("{rate:.0}") } else { format!("{rate}") }
}

fn ms(value: Option<f64>) -> String {
    value.map(|v| if v >= 100.0 { format!("{v:.0} ms") } else { format!("{v} ms") }).unwrap_or_else(|| "-".into())
}

/// The figures in a few words: `240 sent, 0 failed, p99 12 ms` (or why nothing was probed).
pub fn probe_text(stats: &ProbeStats) -> String {
    match &stats.skipped {
        Some(why) => format!("not probed: {why}"),
        None => format!("{} sent, {} failed, p99 {}", stats.sent, stats.failed, ms(stats.p99_ms)),
    }
}

/// The figures as the summary and the ledger say them: where, how many, how fast, and the
/// newest failure's reason.
pub fn summary_text(stats: &ProbeStats) -> String {
    if let Some(why) = &stats.skipped {
        return format!("not probed: {why}");
    }
    let url = stats.url.as_deref().unwrap_or("-");
    let host = stats.host_header.as_deref().map(|h| format!(" (Host {h})")).unwrap_or_default();
    let last = stats.last_failures.last().map(|f| format!("; last failure: {}", f.reason)).unwrap_or_default();
    format!(
        "probe {url}{host}: {} sent, {} failed, p50 {}, p99 {}, max {}{last}",
        stats.sent,
        stats.failed,
        ms(stats.p50_ms),
        ms(stats.p99_ms),
        ms(stats.max_ms)
    )
}

fn ledger_text(stats: &ProbeStats) -> String {
    summary_text(stats)
}

/// One probe: find where to send (unless `probe.url` says), then send at the rate until
/// `stop`.
async fn probe(
    elb: AwsElb,
    client: reqwest::Client,
    target_groups: Vec<String>,
    through: Option<String>,
    settings: ProbeSettings,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
) {
    let found = tokio::select! {
        found = find(&elb, &target_groups, through.as_deref(), &settings) => found,
        () = stop.cancelled() => return,
    };
    let target = match found {
        Ok(target) => target,
        Err(why) => {
            if let Ok(mut shared) = shared.lock() {
                shared.state = State::Skipped(why.0);
            }
            return;
        }
    };
    if let Ok(mut shared) = shared.lock() {
        shared.state = State::Probing(target.clone());
        shared.recorder.started(now_ms());
    }
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / settings.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut in_flight: JoinSet<(i64, Duration, Answer)> = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {
                in_flight.spawn(send(client.clone(), target.clone(), settings.timeout));
            }
            Some(Ok((at, latency, answer))) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok(mut shared) = shared.lock() {
                    shared.recorder.record(at, latency, &answer);
                }
            }
        }
    }
    in_flight.abort_all();
}

/// Where to send: `probe.url`, else the first target group's listener that can be probed.
async fn find(
    elb: &AwsElb,
    target_groups: &[String],
    through: Option<&str>,
    settings: &ProbeSettings,
) -> std::result::Result<ProbeTarget, NoProbe> {
    if let Some(url) = &settings.url {
        return Ok(ProbeTarget { url: url.clone(), host_header: None, via: "probe.url".into() });
    }
    let mut first: Option<NoProbe> = None;
    for group in target_groups {
        match elb.probe_target(group, settings.path.as_deref(), through).await {
            Ok(Ok(target)) => return Ok(target),
            Ok(Err(why)) => {
                first.get_or_insert(why);
            }
            Err(e) => {
                first.get_or_insert(NoProbe(format!("cannot read the load balancer's listeners: {e}")));
            }
        }
    }
    Err(first.unwrap_or_else(|| NoProbe("the service has no target group".into())))
}

/// One GET: when its answer came, how long it took (to the status line and headers), and
/// what it was.
async fn send(client: reqwest::Client, target: ProbeTarget, timeout: Duration) -> (i64, Duration, Answer) {
    let (at, latency, answer, _) = fetch(client, &target, timeout, false).await;
    (at, latency, answer)
}

/// One GET, as [`send`]; with `read_body`, the answer's body too (Err: why it could not be
/// read), within the same timeout.
async fn fetch(
    client: reqwest::Client,
    target: &ProbeTarget,
    timeout: Duration,
    read_body: bool,
) -> (i64, Duration, Answer, Option<std::result::Result<String, String>>) {
    let started = Instant::now();
    let mut request = client.get(&target.url).timeout(timeout);
    if let Some(host) = &target.host_header {
        request = request.header(reqwest::header::HOST, host);
    }
    let (answer, body) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = match read_body {
                true => Some(response.text().await.map_err(|e| innermost(&e))),
                false => None,
            };
            (Answer::Status(status), body)
        }
        Err(e) if e.is_timeout() => (Answer::NoAnswer(format!("no answer within {}", humantime::format_duration(timeout))), None),
        Err(e) if e.is_connect() => (Answer::NoAnswer(format!("cannot connect: {}", innermost(&e))), None),
        Err(e) => (Answer::NoAnswer(innermost(&e)), None),
    };
    (now_ms(), started.elapsed(), answer, body)
}

/// What an answer's body lacks of `check_body` and `check_json` (None: nothing).
fn lacks(body: &str, check: &PreparingCheck) -> Option<String> {
    if let Some(text) = &check.body
        && !body.contains(text.as_str())
    {
        return Some(format!("the answer lacks {}", ferry_core::text::quoted(text)));
    }
    if check.json.is_empty() {
        return None;
    }
    let json: serde_json::Value = match serde_json::from_str(body) {
        Ok(json) => json,
        Err(e) => return Some(format!("the answer is not JSON ({e}), so check_json cannot be read")),
    };
    for (pointer, want) in &check.json {
        let shown = if pointer.is_empty() { "the answer".to_string() } else { pointer.clone() };
        let Some(value) = json.pointer(pointer) else { return Some(format!("the answer has no {shown}")) };
        let got = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
        if &got != want {
            return Some(format!("{shown} is {}, expected {}", ferry_core::text::quoted(&got), ferry_core::text::quoted(want)));
        }
    }
    None
}

/// The deepest cause of an error (`Connection refused (os error 111)`), which says the most.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> ProbeStats {
        ProbeStats {
            url: Some("http://127.0.0.9:8080/".into()),
            host_header: Some("web.example.com".into()),
            rate: 2.0,
            expect: "200-399".into(),
            sent: 240,
            failed: 2,
            p50_ms: Some(1.2),
            p99_ms: Some(12.0),
            max_ms: Some(130.4),
            last_failures: vec![ferry_core::probe::ProbeFailure { at: 1, reason: "HTTP 502 (expected 200-399)".into() }],
            ..ProbeStats::default()
        }
    }

    #[test]
    fn the_figures_are_said_in_a_few_words_and_in_full() {
        assert_eq!(probe_text(&stats()), "240 sent, 2 failed, p99 12 ms");
        assert_eq!(
            summary_text(&stats()),
            "probe http://127.0.0.9:8080/ (Host web.example.com): 240 sent, 2 failed, p50 1.2 ms, p99 12 ms, max 130 ms; last failure: HTTP 502 (expected 200-399)"
        );
        let skipped = ProbeStats { skipped: Some("listener 443 is HTTPS".into()), ..ProbeStats::default() };
        assert_eq!(probe_text(&skipped), "not probed: listener 443 is HTTPS");
        assert_eq!(summary_text(&skipped), "not probed: listener 443 is HTTPS");
        assert_eq!(probe_text(&ProbeStats::default()), "0 sent, 0 failed, p99 -");
    }

    #[tokio::test]
    async fn a_probe_sends_at_its_rate_counts_what_failed_and_stops_when_told() {
        // A listener of our own: every third request answers 500.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = served.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 1024];
                    let _ = socket.read(&mut buffer).await;
                    let status = if n % 3 == 2 { "500 Internal Server Error" } else { "200 OK" };
                    let _ =
                        socket.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes()).await;
                });
            }
        });
        let settings = ProbeSettings {
            enabled: true,
            path: None,
            rate: 20.0,
            expect: ferry_core::probe::ExpectedStatus::default(),
            timeout: Duration::from_secs(2),
            url: Some(format!("http://127.0.0.1:{port}/")),
        };
        let shared = Arc::new(Mutex::new(Shared {
            settings: settings.clone(),
            state: State::Finding,
            recorder: ProbeRecorder::new(settings.expect.clone()),
            announced: false,
        }));
        let elb = AwsElb::new(ferry_aws::elbv2::Client::from_conf(
            ferry_aws::elbv2::Config::builder().behavior_version(ferry_aws::elbv2::config::BehaviorVersion::latest()).build(),
        ));
        let stop = CancellationToken::new();
        let started = Instant::now();
        let task = tokio::spawn(probe(elb.clone(), reqwest::Client::new(), vec![], None, settings, shared.clone(), stop.clone()));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        stop.cancel();
        task.await.expect("the probe task ends when told");
        let probed = started.elapsed().as_secs_f64();
        let (stats, via) = {
            let shared = shared.lock().expect("lock");
            let via = match &shared.state {
                State::Probing(target) => target.via.clone(),
                _ => String::new(),
            };
            (shared.recorder.stats(), via)
        };
        assert_eq!(via, "probe.url");
        // 20 a second for about a second: never more than rate × time + 1.
        assert!(stats.sent >= 10 && (stats.sent as f64) <= 20.0 * probed + 1.0, "{stats:?} in {probed}s");
        assert!(stats.failed >= 1 && stats.failed <= stats.sent.div_ceil(3), "{stats:?}");
        assert_eq!(stats.last_failures.last().map(|f| f.reason.as_str()), Some("HTTP 500 (expected 200-399)"));
        assert!(stats.p99_ms.is_some());
        let after = served.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), after, "nothing is sent once stopped");

        // What a traffic shift's gate will ask, through the port.
        let probes = Probes {
            elb,
            alarms: AwsAlarms::new(ferry_aws::cloudwatch::Client::from_conf(
                ferry_aws::cloudwatch::Config::builder().behavior_version(ferry_aws::cloudwatch::config::BehaviorVersion::latest()).build(),
            )),
            client: reqwest::Client::new(),
            settings: HashMap::new(),
            through: HashMap::new(),
            root: PathBuf::from("."),
            cancel: CancellationToken::new(),
            active: Mutex::new(vec![Active {
                deployment_id: "fd-1".into(),
                service: "web".into(),
                shared: shared.clone(),
                stop,
                task: tokio::spawn(async {}),
            }]),
        };
        let gate: &dyn ProbeGate = &probes;
        assert_eq!(gate.failed_since("fd-1", 0), Some(stats.failed));
        assert_eq!(gate.failed_since("fd-1", i64::MAX), Some(0));
        assert_eq!(gate.failed_since("fd-2", 0), None, "not probed is not none failed");
    }

    #[test]
    fn an_answer_lacking_the_checked_text_or_json_values_says_what_it_lacks() {
        let check = |body: Option<&str>, json: &[(&str, &str)]| PreparingCheck {
            environment: "prod".into(),
            service: "web".into(),
            preparing_rule: String::new(),
            target_group: String::new(),
            command: None,
            body: body.map(str::to_string),
            json: json.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        let answer = r#"{"status":"ok","ready":true,"checks":[{"name":"db","ok":1}]}"#;
        assert_eq!(lacks(answer, &check(Some("\"ok\""), &[])), None);
        assert_eq!(lacks(answer, &check(Some("degraded"), &[])), Some("the answer lacks \"degraded\"".into()));
        let all = check(None, &[("/status", "ok"), ("/ready", "true"), ("/checks/0/ok", "1")]);
        assert_eq!(lacks(answer, &all), None);
        assert_eq!(lacks(answer, &check(None, &[("/status", "up")])), Some("/status is \"ok\", expected \"up\"".into()));
        assert_eq!(lacks(answer, &check(None, &[("/version", "1")])), Some("the answer has no /version".into()));
        let not_json = lacks("<html>", &check(None, &[("/status", "ok")])).unwrap_or_default();
        assert!(not_json.starts_with("the answer is not JSON ("), "{not_json}");
    }

    #[tokio::test]
    async fn a_check_command_past_its_timeout_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().expect("tempdir");
        let check = PreparingCheck {
            environment: "prod".into(),
            service: "web".into(),
            preparing_rule: String::new(),
            target_group: String::new(),
            command: None,
            body: None,
            json: Default::default(),
        };
        let command: Vec<String> = ["sh", "-c", "sleep 1000 & echo $! > child.pid; wait"].map(String::from).to_vec();
        let why = run_check_command(dir.path(), &command, &check, None, Duration::from_millis(500)).await.expect_err("timed out");
        assert!(why.ends_with("did not finish within 500ms"), "{why}");
        let pid = std::fs::read_to_string(dir.path().join("child.pid")).expect("the script started its child");
        let proc = std::path::PathBuf::from(format!("/proc/{}", pid.trim()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while proc.exists() && std::fs::read_to_string(proc.join("stat")).is_ok_and(|s| !s.contains(") Z ")) {
            assert!(Instant::now() < deadline, "the script's child {} still runs", pid.trim());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_listener_nobody_listens_on_counts_as_failed_with_why() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let target = ProbeTarget { url: format!("http://127.0.0.1:{port}/"), host_header: None, via: "probe.url".into() };
        let (_, _, answer) = send(reqwest::Client::new(), target, Duration::from_secs(1)).await;
        match answer {
            Answer::NoAnswer(why) => assert!(why.starts_with("cannot connect: ") && why.to_lowercase().contains("refused"), "{why}"),
            other => panic!("expected no answer, got {other:?}"),
        }
    }
}
