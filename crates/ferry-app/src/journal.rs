//! The engine's ports as the use cases fill them: the wall clock, locks in the ledger, and
//! the observer that passes a run's events to the sink and journals them in the ledger.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::deploy::{Event, LockRefusal, Locks, Observer, Outcome, ServiceReport, TakenOver};
use ferry_core::journal::{Interrupted, JournalError, JournalStep, Settlement, StepState};
use ferry_core::platform::Clock;
use ferry_store::{DeploymentRecord, EventRecord, Ledger, LockHolder, LockInfo, StoreError};

use crate::actor::Actor;
use crate::sink::EventSink;
use crate::words::{finish_text, progress_text};

/// How long a lock lasts without renewal: a crashed ferry frees the service after this
/// (milliseconds).
pub const LOCK_LEASE_MS: i64 = 120_000;

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The wall clock and tokio's timer.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Locks in the ledger, held by `actor` (its name, host and process).
pub struct LedgerLocks {
    pub ledger: Arc<Ledger>,
    pub actor: Actor,
}

impl LedgerLocks {
    fn holder(&self, deployment_id: &str) -> LockHolder {
        LockHolder {
            deployment_id: deployment_id.to_string(),
            who: self.actor.who.clone(),
            host: self.actor.host.clone(),
            pid: self.actor.pid,
        }
    }
}

/// Whether a lock's holder can no longer renew it: a process on this host that has exited
/// (a killed CI job, a closed laptop's ferry). A holder on another host is never known to be
/// gone; its lease decides.
pub fn holder_is_gone(holder: &LockHolder) -> bool {
    holder.host == crate::actor::host() && holder.pid != std::process::id() && !crate::actor::process_alive(holder.pid)
}

/// Whether nobody will ever finish the deployment a lock belongs to: its lease ran out, or
/// its holder is gone.
pub fn lock_is_dead(lock: &LockInfo, now: i64) -> bool {
    lock.is_expired(now) || holder_is_gone(&lock.holder)
}

/// A lock taken over, as the engine reports it: whose it was and why it could be taken.
fn taken_over(previous: &LockInfo, now: i64) -> TakenOver {
    TakenOver {
        holder: previous.holder.name(),
        deployment_id: previous.holder.deployment_id.clone(),
        pid: previous.holder.pid,
        host: previous.holder.host.clone(),
        lease_expired: previous.is_expired(now),
    }
}

impl Locks for LedgerLocks {
    fn lock_taking_over(&self, environment: &str, service: &str, deployment_id: &str) -> Result<Option<TakenOver>, LockRefusal> {
        let now = now_ms();
        match self.ledger.take_lock(environment, service, &self.holder(deployment_id), LOCK_LEASE_MS, now, &holder_is_gone) {
            // Taken from another process (a dead run of this deployment too), said so.
            Ok(previous) => {
                Ok(previous.filter(|p| !(p.holder.host == self.actor.host && p.holder.pid == self.actor.pid)).map(|p| taken_over(&p, now)))
            }
            Err(e @ StoreError::LockHeld(_)) => Err(LockRefusal::Held(e.to_string())),
            Err(e) => Err(LockRefusal::Error(e.to_string())),
        }
    }
    fn lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal> {
        match self.ledger.acquire_lock(environment, service, &self.holder(deployment_id), LOCK_LEASE_MS, now_ms()) {
            Ok(()) => Ok(()),
            Err(e @ StoreError::LockHeld(_)) => Err(LockRefusal::Held(e.to_string())),
            Err(e) => Err(LockRefusal::Error(e.to_string())),
        }
    }
    fn renew(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal> {
        self.ledger.renew_lock(environment, service, deployment_id, LOCK_LEASE_MS, now_ms()).map_err(|e| match e {
            StoreError::LockHeld(_) => LockRefusal::Held(e.to_string()),
            // The file is not the one the lock was taken in, or the lock row is gone: nobody
            // else can see this deploy's lock any more, so it must not carry on as if it had it.
            StoreError::Replaced { .. } | StoreError::TableGone { .. } => LockRefusal::Lost(e.to_string()),
            StoreError::NotFound(_) => LockRefusal::Lost(format!(
                "the lock on {service} in {environment} is gone from the ledger {} (freed with `ferry unlock`, or the ledger was edited), so another deploy may have started; check `ferry status {environment}`",
                self.ledger.location()
            )),
            other => LockRefusal::Error(other.to_string()),
        })
    }
    fn unlock(&self, environment: &str, service: &str, deployment_id: &str) {
        if let Err(e) = self.ledger.release_lock(environment, service, deployment_id) {
            tracing::warn!("cannot release the lock of {service} in {environment}: {e}");
        }
    }
}

/// The run's observer: passes every event to the sink and journals it in the ledger.
pub struct Journal<'a> {
    pub ledger: Arc<Ledger>,
    pub sink: &'a dyn EventSink,
    pub run_id: String,
    /// Deployments already in the ledger, so events and updates need no lookup.
    recorded: Mutex<HashSet<String>>,
    /// Whether an event could not be journaled yet: the first failure is said through the
    /// sink, the rest only in the log.
    event_failed: AtomicBool,
    /// The run's probers, started and stopped by its events ([`Journal::with_probes`]).
    probes: Option<&'a crate::probe::Probes>,
}

impl<'a> Journal<'a> {
    pub fn new(ledger: Arc<Ledger>, sink: &'a dyn EventSink, run_id: String) -> Self {
        Journal { ledger, sink, run_id, recorded: Default::default(), event_failed: Default::default(), probes: None }
    }

    /// The same journal, also starting each deployment's probe once it holds its lock and
    /// stopping it when it finishes.
    pub fn with_probes(mut self, probes: &'a crate::probe::Probes) -> Self {
        self.probes = Some(probes);
        self
    }

    fn is_recorded(&self, id: &str) -> bool {
        self.recorded.lock().map(|r| r.contains(id)).unwrap_or(false)
    }

    /// Records a deployment and its first event (what preflight found) in one transaction.
    fn start(&self, report: &ServiceReport, record: &DeploymentRecord) -> Result<(), StoreError> {
        let message = format!(
            "preflight passed: {} → {} ({} task definition change(s))",
            report.from_task_definition.as_deref().unwrap_or("?"),
            report.image.as_deref().or(report.to_task_definition.as_deref()).unwrap_or("?"),
            report.changes.len()
        );
        self.ledger.start_deployment(record, &EventRecord { at: report.started_at, kind: "phase:preflight".into(), message })?;
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.insert(record.id.clone());
        }
        Ok(())
    }
}

/// The ledger's record of a service's deploy, as its report stands.
pub fn record_of(report: &ServiceReport, run_id: &str) -> DeploymentRecord {
    DeploymentRecord {
        id: report.deployment_id.clone(),
        run_id: run_id.to_string(),
        kind: report.kind.to_string(),
        environment: report.environment.clone(),
        service: report.service.clone(),
        cluster: report.cluster.clone(),
        ecs_service: report.ecs_service.clone(),
        from_version: report.from_version.clone(),
        from_digest: report.from_digest.clone(),
        from_task_definition: report.from_task_definition.clone(),
        to_version: report.to_version.clone(),
        to_digest: report.to_digest.clone(),
        to_task_definition: report.to_task_definition.clone(),
        image: report.image.clone(),
        ecs_deployment_id: report.ecs_deployment_id.clone(),
        who: report.who.clone(),
        commit: report.commit.clone(),
        commit_message: report.commit_message.clone(),
        started_at: report.started_at,
        finished_at: report.finished_at,
        outcome: match report.outcome {
            _ if report.finished_at.is_none() => ferry_store::Outcome::InProgress,
            Outcome::Succeeded => ferry_store::Outcome::Succeeded,
            Outcome::Unchanged => ferry_store::Outcome::Unchanged,
            Outcome::FailedRolledBack => ferry_store::Outcome::FailedRolledBack,
            Outcome::RollbackFailed => ferry_store::Outcome::FailedRollbackFailed,
            Outcome::Planned | Outcome::Refused | Outcome::LockHeld | Outcome::Error => ferry_store::Outcome::Failed,
            // Not reached: a detached deployment has no end time, so it is in progress.
            Outcome::Detached => ferry_store::Outcome::InProgress,
        },
        reason: report.reason.clone(),
        strategy: Some(report.strategy.to_string()),
        cause: report.cause.and_then(|c| serde_json::to_value(c).ok()).and_then(|v| v.as_str().map(str::to_string)),
        rollback_deployment_id: report.rollback_deployment_id.clone(),
        gates_skipped: report.gates_skipped.clone(),
    }
}

impl Observer for Journal<'_> {
    fn wants_task_health(&self) -> bool {
        self.sink.wants_task_health()
    }

    fn event(&self, report: &ServiceReport, event: &Event) {
        if let Some(probes) = self.probes {
            probes.on_event(report, event);
        }
        self.sink.event(report, event);
        // Only deploys that took their lock are in the ledger (see `record_start`).
        if !self.is_recorded(&report.deployment_id) {
            return;
        }
        let (kind, message) = match event {
            Event::Phase { service, phase, detail } => (
                format!("phase:{}", serde_json::to_value(phase).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
                crate::words::phase_text(service, detail),
            ),
            Event::Progress { progress, rolling_back, .. } => {
                (if *rolling_back { "rollback-progress" } else { "progress" }.to_string(), progress_text(progress))
            }
            Event::EcsEvent { message, .. } => ("ecs-event".into(), message.clone()),
            Event::TaskStopped { task, reason, .. } => ("task-stopped".into(), format!("{task}: {reason}")),
            Event::TaskLog { task, container, message, .. } => ("task-log".into(), format!("{task}/{container}: {message}")),
            // Worded as the printer words it: the outcome said once.
            Event::Finished { outcome, reason, .. } => ("finished".into(), finish_text(*outcome, reason.as_deref())),
        };
        if let Err(e) = self.ledger.record_event(&report.deployment_id, &EventRecord { at: now_ms(), kind, message }) {
            if self.event_failed.swap(true, Ordering::Relaxed) {
                tracing::warn!("cannot record an event in the ledger: {e}");
            } else {
                self.sink.note(Some(&report.service), &format!("warning: cannot record events in the ledger: {e}"));
            }
        }
    }

    fn record(&self, report: &ServiceReport) {
        if let Err(e) = self.record_start(report) {
            self.sink.note(Some(&report.service), &format!("warning: cannot record the deployment in the ledger: {e}"));
        }
    }

    fn record_start(&self, report: &ServiceReport) -> Result<(), JournalError> {
        let record = record_of(report, &self.run_id);
        // A resumed deployment is in the ledger already, from the run that died.
        if report.resumed_at.is_some()
            && !self.is_recorded(&record.id)
            && matches!(self.ledger.deployment(&record.id), Ok(Some(_)))
            && let Ok(mut recorded) = self.recorded.lock()
        {
            recorded.insert(record.id.clone());
        }
        match self.is_recorded(&record.id) {
            true => self.ledger.update_deployment(&record),
            false => self.start(report, &record),
        }
        .map_err(journal_error)
    }

    fn interrupted(&self, environment: &str, service: &str) -> Result<Option<Interrupted>, JournalError> {
        self.interrupted_deployment(environment, service).map_err(journal_error)
    }

    fn step_started(&self, report: &ServiceReport, name: &str, data: &serde_json::Value) -> Result<i64, JournalError> {
        self.ledger.start_step(&report.deployment_id, name, data, now_ms()).map_err(journal_error)
    }

    fn step_finished(&self, report: &ServiceReport, seq: i64, state: StepState, data: &serde_json::Value) -> Result<(), JournalError> {
        let state = match state {
            StepState::Started => ferry_store::StepState::Started,
            StepState::Done => ferry_store::StepState::Done,
            StepState::Failed => ferry_store::StepState::Failed,
        };
        self.ledger.finish_step(&report.deployment_id, seq, state, data, now_ms()).map_err(journal_error)
    }

    fn settle(&self, interrupted: &Interrupted, settlement: &Settlement) -> Result<(), JournalError> {
        let Some(mut record) = self.ledger.deployment(&interrupted.deployment_id).map_err(journal_error)? else { return Ok(()) };
        record.outcome = ferry_store::Outcome::Interrupted;
        record.finished_at = Some(now_ms());
        record.reason = Some(settlement.reason.clone());
        record.to_task_definition = settlement.task_definition.clone().or(record.to_task_definition.take());
        record.ecs_deployment_id = settlement.ecs_deployment_id.clone().or(record.ecs_deployment_id.take());
        self.ledger.update_deployment(&record).map_err(journal_error)
    }
}

impl Journal<'_> {
    /// The journal's step rows as the engine reads them.
    fn journal_steps(&self, deployment_id: &str) -> Result<Vec<JournalStep>, StoreError> {
        Ok(self
            .ledger
            .steps(deployment_id)?
            .into_iter()
            .map(|s| JournalStep {
                seq: s.seq,
                name: s.name,
                state: match s.state {
                    ferry_store::StepState::Started => StepState::Started,
                    ferry_store::StepState::Done => StepState::Done,
                    ferry_store::StepState::Failed => StepState::Failed,
                },
                started_at: s.started_at,
                finished_at: s.finished_at,
                data: s.data,
            })
            .collect())
    }
}

/// Journals the engine's steps in the ledger, and finds the deployments dead runs left.
impl Journal<'_> {
    fn interrupted_deployment(&self, environment: &str, service: &str) -> Result<Option<Interrupted>, StoreError> {
        let Some(record) = self.ledger.unfinished(environment, service)? else { return Ok(None) };
        // Carried on by a live run (which holds the lock): not interrupted.
        if let Some(lock) = self.ledger.lock(environment, service)?
            && !lock_is_dead(&lock, now_ms())
        {
            return Ok(None);
        }
        let steps = self.journal_steps(&record.id)?;
        Ok(Some(Interrupted {
            deployment_id: record.id,
            kind: record.kind,
            strategy: record.strategy,
            to_digest: record.to_digest,
            to_version: record.to_version,
            to_task_definition: record.to_task_definition,
            from_task_definition: record.from_task_definition,
            from_digest: record.from_digest,
            from_version: record.from_version,
            started_at: record.started_at,
            steps,
        }))
    }
}

fn journal_error(e: StoreError) -> JournalError {
    JournalError(e.to_string())
}

/// The newest deployment of (`environment`, `service`) left in progress by a run that is
/// dead (see [`as_seen`]), if any.
pub fn dead_deployment(ledger: &Ledger, environment: &str, service: &str) -> Result<Option<DeploymentRecord>, StoreError> {
    let Some(record) = ledger.unfinished(environment, service)? else { return Ok(None) };
    let now = now_ms();
    Ok((as_seen(ledger, record.clone(), now).outcome == ferry_store::Outcome::Interrupted).then_some(record))
}

/// The ledger's view of a deployment for people: one still "in progress" whose run is dead
/// (its lock is gone, expired, or held by a process that exited) is shown as interrupted,
/// with the step it stopped at and what to do.
pub fn as_seen(ledger: &Ledger, mut record: DeploymentRecord, now: i64) -> DeploymentRecord {
    if record.outcome != ferry_store::Outcome::InProgress {
        return record;
    }
    let alive = match ledger.lock(&record.environment, &record.service) {
        Ok(Some(lock)) => lock.holder.deployment_id == record.id && !lock_is_dead(&lock, now),
        Ok(None) => false,
        Err(_) => true,
    };
    if alive {
        return record;
    }
    let steps = ledger.steps(&record.id).unwrap_or_default();
    if steps.last().is_some_and(|s| s.name == ferry_core::journal::names::DETACHED) {
        // Detached on purpose: in progress, followed by nobody yet.
        record.reason = Some(format!(
            "detached: its ECS deployment carries on without a ferry run following it; `ferry watch {} {}` follows it",
            record.environment, record.service
        ));
        return record;
    }
    let step = steps.last().map(|s| format!("{} ({})", s.name, s.state.as_str())).unwrap_or_else(|| "before its first step".into());
    record.outcome = ferry_store::Outcome::Interrupted;
    let at = if step.starts_with("before ") { step } else { format!("at {step}") };
    record.reason = Some(format!(
        "interrupted {at}: the run that started it is gone; the same command finishes it, another deploy of the service closes it"
    ));
    record
}

/// An observer that sees nothing: no event passed on, nothing journaled (a promotion's
/// preflight, whose plan is shown instead).
pub struct Unseen;

impl Observer for Unseen {
    fn event(&self, _report: &ServiceReport, _event: &Event) {}
    fn record(&self, _report: &ServiceReport) {}
}
