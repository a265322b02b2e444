//! One ledger, several stores: the operations every backend provides ([`LedgerBackend`]) and
//! the handle ferry passes around ([`Ledger`]).
//!
//! The embedded backend is [`SqliteLedger`] (one file per machine). A shared backend lives
//! where its SDK lives (the DynamoDB one is in `ferry-aws`) and is wrapped with
//! [`Ledger::from_backend`]. Every backend passes the same suite ([`crate::suite`]), so a
//! caller never needs to know which one it talks to.

use std::ops::Deref;
use std::path::Path;

use crate::{
    DeploymentRecord, EventRecord, HistoryFilter, LedgerWarning, LockHolder, LockInfo, Promotion, Release, ReleaseEntry, SqliteLedger,
    StepRecord, StepState, StoreError, Unlock,
};

/// What a ledger store does. Times are milliseconds since the Unix epoch, passed in: no
/// backend reads a clock, so tests decide when leases run out.
///
/// Each method's contract is the one documented on [`SqliteLedger`]'s method of the same
/// name (the reference implementation); the suite in [`crate::suite`] checks every backend
/// against it. Calls are synchronous and short: a backend over a network store blocks the
/// calling thread for one round trip or a few.
pub trait LedgerBackend: Send + Sync + std::fmt::Debug {
    /// Where the ledger lives, for messages: a file's path, or `dynamodb://TABLE (REGION)`.
    fn location(&self) -> String;

    /// Records a new deployment; a duplicate id is refused ([`StoreError::Invalid`]).
    fn insert_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError>;
    /// As [`LedgerBackend::insert_deployment`] with its first event, both or neither.
    fn start_deployment(&self, record: &DeploymentRecord, first_event: &EventRecord) -> Result<(), StoreError>;
    /// Replaces a recorded deployment's fields; [`StoreError::NotFound`] when it is not recorded.
    fn update_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError>;
    /// The newest deployment of (`environment`, `service`) still in progress.
    fn unfinished(&self, environment: &str, service: &str) -> Result<Option<DeploymentRecord>, StoreError>;
    /// One deployment by id.
    fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError>;
    /// Deployments newest first, filtered and limited as [`HistoryFilter`] says.
    fn history(&self, filter: &HistoryFilter) -> Result<Vec<DeploymentRecord>, StoreError>;
    /// The newest successful deployment of (`environment`, `service`) whose task definition is
    /// not `excluding_task_definition` (what a rollback goes back to).
    fn last_succeeded(
        &self,
        environment: &str,
        service: &str,
        excluding_task_definition: Option<&str>,
    ) -> Result<Option<DeploymentRecord>, StoreError>;
    /// The newest successful deployment of each (environment, service), in `environment` or all.
    fn latest_per_service(&self, environment: Option<&str>) -> Result<Vec<DeploymentRecord>, StoreError>;
    /// The newest successful deployment of `version` of (`environment`, `service`).
    fn succeeded_with_version(&self, environment: &str, service: &str, version: &str) -> Result<Option<DeploymentRecord>, StoreError>;
    /// Since when `digest` has run in (`environment`, `service`) by the ledger's record: the
    /// finish of the success that put it there, when no later success moved the service.
    fn healthy_since(&self, environment: &str, service: &str, digest: &str) -> Result<Option<i64>, StoreError>;

    /// Appends an event to a recorded deployment ([`StoreError::NotFound`] otherwise).
    fn record_event(&self, deployment_id: &str, event: &EventRecord) -> Result<(), StoreError>;
    /// A deployment's events in the order they were recorded.
    fn events(&self, deployment_id: &str) -> Result<Vec<EventRecord>, StoreError>;

    /// Takes the lock on (`environment`, `service`) as a lease: refused with
    /// [`StoreError::LockHeld`] while another live holder's lease runs; returns the lock taken
    /// over, if any. Exactly one of several concurrent callers wins.
    fn take_lock(
        &self,
        environment: &str,
        service: &str,
        holder: &LockHolder,
        lease_ms: i64,
        now: i64,
        holder_is_gone: &dyn Fn(&LockHolder) -> bool,
    ) -> Result<Option<LockInfo>, StoreError>;
    /// Takes the lock, or re-acquires this deployment's own; see [`LedgerBackend::take_lock`].
    fn acquire_lock(&self, environment: &str, service: &str, holder: &LockHolder, lease_ms: i64, now: i64) -> Result<(), StoreError> {
        let own = |current: &LockHolder| current.deployment_id == holder.deployment_id;
        self.take_lock(environment, service, holder, lease_ms, now, &own).map(|_| ())
    }
    /// Extends `deployment_id`'s lease to `now + lease_ms`.
    fn renew_lock(&self, environment: &str, service: &str, deployment_id: &str, lease_ms: i64, now: i64) -> Result<(), StoreError>;
    /// Releases the lock if `deployment_id` holds it; otherwise does nothing.
    fn release_lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), StoreError>;
    /// The lock as stored, expired or not.
    fn lock(&self, environment: &str, service: &str) -> Result<Option<LockInfo>, StoreError>;
    /// Frees the lock whoever holds it, recording who did and why (`ferry unlock`).
    fn unlock(&self, environment: &str, service: &str, by: &str, reason: &str, now: i64) -> Result<Option<Unlock>, StoreError>;
    /// The locks on (`environment`, `service`) freed by a person, oldest first.
    fn unlocks(&self, environment: &str, service: &str) -> Result<Vec<Unlock>, StoreError>;

    /// Records a release (idempotent: the same entries return the first record unchanged).
    fn create_release(
        &self,
        entries: Vec<ReleaseEntry>,
        created_by: &str,
        source: &str,
        commits: &[String],
        now: i64,
    ) -> Result<Release, StoreError>;
    /// A release by its id or a unique prefix of it.
    fn release(&self, id: &str) -> Result<Option<Release>, StoreError>;
    /// Releases newest first, at most `limit` (0: the default limit).
    fn releases(&self, limit: usize) -> Result<Vec<Release>, StoreError>;
    /// Rejects a release for good; the first rejection is kept.
    fn reject_release(&self, id: &str, by: &str, reason: &str, now: i64) -> Result<Release, StoreError>;

    /// Records a promotion of a recorded, not rejected release.
    fn insert_promotion(&self, promotion: &Promotion) -> Result<(), StoreError>;
    /// Replaces a recorded promotion's fields.
    fn update_promotion(&self, promotion: &Promotion) -> Result<(), StoreError>;
    /// Promotions newest first, of one release or all, at most `limit` (0: the default).
    fn promotions(&self, release_id: Option<&str>, limit: usize) -> Result<Vec<Promotion>, StoreError>;

    /// Journals the start of a step; returns its sequence number within the deployment.
    fn start_step(&self, deployment_id: &str, name: &str, data: &serde_json::Value, now: i64) -> Result<i64, StoreError>;
    /// Journals the end of step `seq`.
    fn finish_step(&self, deployment_id: &str, seq: i64, state: StepState, data: &serde_json::Value, now: i64) -> Result<(), StoreError>;
    /// A deployment's journaled steps in order.
    fn steps(&self, deployment_id: &str) -> Result<Vec<StepRecord>, StoreError>;
}

/// An open ledger, whichever store it is in. Derefs to [`LedgerBackend`], so every
/// operation is called on it directly (`ledger.history(&filter)`).
#[derive(Debug)]
pub struct Ledger {
    backend: Box<dyn LedgerBackend>,
    warnings: Vec<LedgerWarning>,
}

impl Ledger {
    /// Opens the embedded SQLite ledger at `path`; see [`SqliteLedger::open`] for what is
    /// refused.
    pub fn open(path: &Path) -> Result<Ledger, StoreError> {
        let sqlite = SqliteLedger::open(path)?;
        let warnings = sqlite.warnings().to_vec();
        Ok(Ledger { backend: Box::new(sqlite), warnings })
    }

    /// A ledger over another store (a shared one, such as DynamoDB).
    pub fn from_backend(backend: Box<dyn LedgerBackend>) -> Ledger {
        Ledger { backend, warnings: Vec::new() }
    }

    /// The SQLite ledger's per-user default path; see [`SqliteLedger::default_path`].
    pub fn default_path() -> std::path::PathBuf {
        SqliteLedger::default_path()
    }

    /// What opening the ledger found that a person should know (see
    /// [`SqliteLedger::warnings`]); none for a shared store.
    pub fn warnings(&self) -> &[LedgerWarning] {
        &self.warnings
    }
}

impl Deref for Ledger {
    type Target = dyn LedgerBackend;

    fn deref(&self) -> &Self::Target {
        self.backend.as_ref()
    }
}

impl LedgerBackend for SqliteLedger {
    fn location(&self) -> String {
        self.path().display().to_string()
    }
    fn insert_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        SqliteLedger::insert_deployment(self, record)
    }
    fn start_deployment(&self, record: &DeploymentRecord, first_event: &EventRecord) -> Result<(), StoreError> {
        SqliteLedger::start_deployment(self, record, first_event)
    }
    fn update_deployment(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        SqliteLedger::update_deployment(self, record)
    }
    fn unfinished(&self, environment: &str, service: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        SqliteLedger::unfinished(self, environment, service)
    }
    fn deployment(&self, id: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        SqliteLedger::deployment(self, id)
    }
    fn history(&self, filter: &HistoryFilter) -> Result<Vec<DeploymentRecord>, StoreError> {
        SqliteLedger::history(self, filter)
    }
    fn last_succeeded(&self, environment: &str, service: &str, excluding: Option<&str>) -> Result<Option<DeploymentRecord>, StoreError> {
        SqliteLedger::last_succeeded(self, environment, service, excluding)
    }
    fn latest_per_service(&self, environment: Option<&str>) -> Result<Vec<DeploymentRecord>, StoreError> {
        SqliteLedger::latest_per_service(self, environment)
    }
    fn succeeded_with_version(&self, environment: &str, service: &str, version: &str) -> Result<Option<DeploymentRecord>, StoreError> {
        SqliteLedger::succeeded_with_version(self, environment, service, version)
    }
    fn healthy_since(&self, environment: &str, service: &str, digest: &str) -> Result<Option<i64>, StoreError> {
        SqliteLedger::healthy_since(self, environment, service, digest)
    }
    fn record_event(&self, deployment_id: &str, event: &EventRecord) -> Result<(), StoreError> {
        SqliteLedger::record_event(self, deployment_id, event)
    }
    fn events(&self, deployment_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        SqliteLedger::events(self, deployment_id)
    }
    fn take_lock(
        &self,
        environment: &str,
        service: &str,
        holder: &LockHolder,
        lease_ms: i64,
        now: i64,
        holder_is_gone: &dyn Fn(&LockHolder) -> bool,
    ) -> Result<Option<LockInfo>, StoreError> {
        SqliteLedger::take_lock(self, environment, service, holder, lease_ms, now, holder_is_gone)
    }
    fn renew_lock(&self, environment: &str, service: &str, deployment_id: &str, lease_ms: i64, now: i64) -> Result<(), StoreError> {
        SqliteLedger::renew_lock(self, environment, service, deployment_id, lease_ms, now)
    }
    fn release_lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), StoreError> {
        SqliteLedger::release_lock(self, environment, service, deployment_id)
    }
    fn lock(&self, environment: &str, service: &str) -> Result<Option<LockInfo>, StoreError> {
        SqliteLedger::lock(self, environment, service)
    }
    fn unlock(&self, environment: &str, service: &str, by: &str, reason: &str, now: i64) -> Result<Option<Unlock>, StoreError> {
        SqliteLedger::unlock(self, environment, service, by, reason, now)
    }
    fn unlocks(&self, environment: &str, service: &str) -> Result<Vec<Unlock>, StoreError> {
        SqliteLedger::unlocks(self, environment, service)
    }
    fn create_release(
        &self,
        entries: Vec<ReleaseEntry>,
        created_by: &str,
        source: &str,
        commits: &[String],
        now: i64,
    ) -> Result<Release, StoreError> {
        SqliteLedger::create_release(self, entries, created_by, source, commits, now)
    }
    fn release(&self, id: &str) -> Result<Option<Release>, StoreError> {
        SqliteLedger::release(self, id)
    }
    fn releases(&self, limit: usize) -> Result<Vec<Release>, StoreError> {
        SqliteLedger::releases(self, limit)
    }
    fn reject_release(&self, id: &str, by: &str, reason: &str, now: i64) -> Result<Release, StoreError> {
        SqliteLedger::reject_release(self, id, by, reason, now)
    }
    fn insert_promotion(&self, promotion: &Promotion) -> Result<(), StoreError> {
        SqliteLedger::insert_promotion(self, promotion)
    }
    fn update_promotion(&self, promotion: &Promotion) -> Result<(), StoreError> {
        SqliteLedger::update_promotion(self, promotion)
    }
    fn promotions(&self, release_id: Option<&str>, limit: usize) -> Result<Vec<Promotion>, StoreError> {
        SqliteLedger::promotions(self, release_id, limit)
    }
    fn start_step(&self, deployment_id: &str, name: &str, data: &serde_json::Value, now: i64) -> Result<i64, StoreError> {
        SqliteLedger::start_step(self, deployment_id, name, data, now)
    }
    fn finish_step(&self, deployment_id: &str, seq: i64, state: StepState, data: &serde_json::Value, now: i64) -> Result<(), StoreError> {
        SqliteLedger::finish_step(self, deployment_id, seq, state, data, now)
    }
    fn steps(&self, deployment_id: &str) -> Result<Vec<StepRecord>, StoreError> {
        SqliteLedger::steps(self, deployment_id)
    }
}
