//! The records the ledger keeps: deployments, the events seen during them, locks, releases
//! and their promotions.

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use ferry_core::time::format_rfc3339;

/// Who is deploying: enough for a colleague who is refused the lock to find them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockHolder {
    /// ferry's deployment id; the lock belongs to the deployment, not to the process, so a
    /// resumed deployment can re-acquire it.
    pub deployment_id: String,
    /// The user (or CI identity) running ferry.
    pub who: String,
    pub host: String,
    pub pid: u32,
}

impl LockHolder {
    /// Who holds the lock, as people write it: `user@host`, said once. ferry's own holders
    /// carry `who = "user@host"` already (its default identity), so the host is added only
    /// to a bare name (`$FERRY_USER=alice` → `alice@laptop`), and a name that has its own
    /// `@` elsewhere gets the host apart (`alice@ci (on runner-7)`), never `root@vm@vm`.
    pub fn name(&self) -> String {
        let suffix = format!("@{}", self.host);
        if self.host.is_empty() || self.who.ends_with(&suffix) {
            self.who.clone()
        } else if self.who.contains('@') {
            format!("{} (on {})", self.who, self.host)
        } else {
            format!("{}{suffix}", self.who)
        }
    }
}

/// The lock on one (environment, service), as stored.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LockInfo {
    pub environment: String,
    pub service: String,
    pub holder: LockHolder,
    /// Milliseconds since the Unix epoch.
    pub acquired_at: i64,
    /// Milliseconds since the Unix epoch. From this instant on, the lock may be taken over:
    /// a deploy that crashed without releasing it must not block the service forever.
    pub lease_until: i64,
}

impl LockInfo {
    /// Whether the lease has run out at `now`, so another deployment may take the lock over.
    pub fn is_expired(&self, now: i64) -> bool {
        self.lease_until <= now
    }
}

impl fmt::Display for LockInfo {
    /// "web in prod is being deployed by alice@host (pid 123, deployment fd-…) since …; lease until …"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in {} is being deployed by {} (pid {}, deployment {}) since {}; lease until {}",
            self.service,
            self.environment,
            self.holder.name(),
            self.holder.pid,
            self.holder.deployment_id,
            format_rfc3339(self.acquired_at),
            format_rfc3339(self.lease_until),
        )
    }
}

/// How a deployment ended (or that it has not yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    InProgress,
    Succeeded,
    /// Failed, and ferry put the previous version back.
    FailedRolledBack,
    /// Failed, and so did the rollback: the service needs a human.
    FailedRollbackFailed,
    /// Failed before anything had to be rolled back.
    Failed,
    /// ferry stopped (signal, crash, lost lease) before the deployment finished.
    Interrupted,
    /// The service already ran what was asked for: nothing was registered or changed (a
    /// no-op deploy).
    Unchanged,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::InProgress,
        Outcome::Succeeded,
        Outcome::FailedRolledBack,
        Outcome::FailedRollbackFailed,
        Outcome::Failed,
        Outcome::Interrupted,
        Outcome::Unchanged,
    ];

    /// The snake_case name, as stored in the ledger and printed in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InProgress => "in_progress",
            Outcome::Succeeded => "succeeded",
            Outcome::FailedRolledBack => "failed_rolled_back",
            Outcome::FailedRollbackFailed => "failed_rollback_failed",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
            Outcome::Unchanged => "unchanged",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of [`Outcome`]'s names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown deployment outcome {0:?} (expected one of: in_progress, succeeded, failed_rolled_back, failed_rollback_failed, failed, interrupted, unchanged)"
)]
pub struct ParseOutcomeError(pub String);

impl FromStr for Outcome {
    type Err = ParseOutcomeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL.into_iter().find(|outcome| outcome.as_str() == s).ok_or_else(|| ParseOutcomeError(s.to_string()))
    }
}

impl ToSql for Outcome {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Outcome {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e: ParseOutcomeError| FromSqlError::Other(Box::new(e)))
    }
}

/// One deployment of one service to one environment: what ran before, what ferry put in its
/// place, who asked, and how it ended. Times are milliseconds since the Unix epoch. The
/// default is an empty record in progress, for filling in with `..Default::default()`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploymentRecord {
    /// ferry's deployment id, e.g. "fd-20261123-ab12cd".
    pub id: String,
    /// One `ferry deploy` invocation may deploy several services; they share this id.
    pub run_id: String,
    /// "deploy" or "rollback".
    pub kind: String,
    pub environment: String,
    /// ferry's service name.
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    pub from_version: Option<String>,
    pub from_digest: Option<String>,
    /// Task definition ARN that was running before.
    pub from_task_definition: Option<String>,
    pub to_version: Option<String>,
    pub to_digest: Option<String>,
    /// Task definition ARN ferry registered and deployed.
    pub to_task_definition: Option<String>,
    /// The image reference deployed.
    pub image: Option<String>,
    /// The "ecs-svc/…" id of the ECS deployment ferry started: the one it watches, never "any".
    pub ecs_deployment_id: Option<String>,
    pub who: String,
    pub commit: Option<String>,
    pub commit_message: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// The strategy that ran it: "rolling" or "env-tag" (None in records older than schema 3).
    #[serde(default)]
    pub strategy: Option<String>,
    /// Why it failed, as a snake_case cause ("circuit_breaker", "timeout", "task_failures",
    /// "platform", "ledger", ...), when it did.
    #[serde(default)]
    pub cause: Option<String>,
    /// The ECS deployment (`ecs-svc/...`) that rolled it back, when there was one.
    #[serde(default)]
    pub rollback_deployment_id: Option<String>,
    /// A deploy that skipped its environment's promotion gates: `WHO: REASON`
    /// (`ferry deploy --skip-gates --reason TEXT`).
    #[serde(default)]
    pub gates_skipped: Option<String>,
}

/// One journaled step of a deployment: written before the step is applied and updated
/// after, so a re-run after a crash knows what the dead run did, and what it may have done.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepRecord {
    /// 1, 2, ... in the order the steps started.
    pub seq: i64,
    /// The step's name: "register_task_definition", "update_service", "move_tag", ...
    pub name: String,
    pub state: StepState,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// What the step works on and what it produced (a JSON object): the revision
    /// registered, the ECS deployment started, the digests a tag moved between.
    pub data: serde_json::Value,
}

/// Where a journaled step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Written before the step was applied: the step may or may not have happened in AWS.
    Started,
    Done,
    Failed,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
        }
    }
}

impl FromStr for StepState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [StepState::Started, StepState::Done, StepState::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown step state {s:?} (expected started, done or failed)"))
    }
}

/// Something observed during a deployment: an ECS service event, a phase change, a task
/// stop reason. Kept so `ferry history` can explain a failure after the fact.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventRecord {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub kind: String,
    pub message: String,
}

/// One service's image in a [`Release`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReleaseEntry {
    /// ferry's service name.
    pub service: String,
    /// The image repository, e.g. "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web".
    pub repository: String,
    /// The manifest digest, e.g. "sha256:…": what was tested, and what is shipped.
    pub digest: String,
    /// The tag the digest was resolved from, for people; not part of the release's identity
    /// (a tag can move, the digest cannot).
    pub version: Option<String>,
}

/// An immutable set of images, one per service, promoted between environments as one.
///
/// Its id is derived from its content (see [`release_id`](crate::release_id)), so the same
/// set of images is always the same release, however often and by whomever it is created.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Release {
    /// "rel-" and 12 hex digits.
    pub id: String,
    /// Sorted by service.
    pub entries: Vec<ReleaseEntry>,
    /// Who created it first; creating it again changes nothing.
    pub created_by: String,
    /// Milliseconds since the Unix epoch, of the first creation.
    pub created_at: i64,
    /// Where the set came from: "env:dev" (what ran there) or "versions" (named by hand).
    pub source: String,
    /// The commit(s) the images were built from, as given at creation.
    pub commits: Vec<String>,
    /// Set once, for good: a rejected release is never promoted again.
    pub rejected: Option<Rejection>,
}

/// Why a [`Release`] may no longer be promoted, and who decided it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    pub by: String,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub reason: String,
}

/// One `ferry promote FROM TO`: a release moved from one environment to the next. Times are
/// milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Promotion {
    /// ferry's promotion id, chosen by the caller.
    pub id: String,
    pub release_id: String,
    pub from_environment: String,
    pub to_environment: String,
    /// The services promoted (all of the release's, or those of `--services`).
    pub services: Vec<String>,
    /// The person who approved it, for environments that require approval.
    pub approved_by: Option<String>,
    /// Who ran the promotion.
    pub who: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// The ferry deployment ids this promotion made, rollbacks included.
    pub deployment_ids: Vec<String>,
}

/// Which deployments [`Ledger::history`](crate::Ledger::history) returns.
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    pub environment: Option<String>,
    pub service: Option<String>,
    /// At most this many, newest first; 0 means [`HistoryFilter::DEFAULT_LIMIT`].
    pub limit: usize,
}

impl HistoryFilter {
    /// What `limit: 0` means: enough for a terminal screen, not the whole ledger.
    pub const DEFAULT_LIMIT: usize = 50;

    pub(crate) fn effective_limit(&self) -> i64 {
        effective_limit(self.limit)
    }
}

/// A listing's `limit` as SQL wants it: 0 means [`HistoryFilter::DEFAULT_LIMIT`], for
/// releases and promotions as for deployments.
pub(crate) fn effective_limit(limit: usize) -> i64 {
    let limit = if limit == 0 { HistoryFilter::DEFAULT_LIMIT } else { limit };
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A list of strings stored as one JSON array (a release's commits, a promotion's services
/// and deployment ids): always read and written whole, so a table of their own would only
/// add joins.
pub(crate) struct StringList<'a>(pub &'a [String]);

impl ToSql for StringList<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let json = serde_json::to_string(self.0).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(ToSqlOutput::from(json))
    }
}

/// A column written by [`StringList`], read back. A damaged value is a conversion error,
/// not an empty list, so it is noticed.
pub(crate) struct StoredList(pub Vec<String>);

impl FromSql for StoredList {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?).map(StoredList).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_stored_names() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
            let json = serde_json::to_string(&outcome).expect("serialize");
            assert_eq!(json, format!("\"{}\"", outcome.as_str()), "serde and as_str agree");
        }
        assert!("rolled_back".parse::<Outcome>().is_err());
    }

    #[test]
    fn lock_info_names_the_holder_and_both_instants() {
        let info = LockInfo {
            environment: "prod".into(),
            service: "web".into(),
            holder: LockHolder { deployment_id: "fd-20261123-ab12cd".into(), who: "alice".into(), host: "build-7".into(), pid: 123 },
            acquired_at: 1_795_428_000_000,
            lease_until: 1_795_428_300_000,
        };
        assert_eq!(
            info.to_string(),
            "web in prod is being deployed by alice@build-7 (pid 123, deployment fd-20261123-ab12cd) \
             since 2026-11-23T10:00:00Z; lease until 2026-11-23T10:05:00Z"
        );
        assert!(!info.is_expired(1_795_428_299_999));
        assert!(info.is_expired(1_795_428_300_000));
    }

    #[test]
    fn the_lock_holder_reads_user_at_host_once_not_root_at_vm_at_vm() {
        let holder = |who: &str, host: &str| LockHolder { deployment_id: "fd-1".into(), who: who.into(), host: host.into(), pid: 1 };
        assert_eq!(holder("root@vm", "vm").name(), "root@vm");
        assert_eq!(holder("alice", "laptop").name(), "alice@laptop");
        assert_eq!(holder("alice@ci", "runner-7").name(), "alice@ci (on runner-7)");
        let info =
            LockInfo { environment: "prod".into(), service: "web".into(), holder: holder("root@vm", "vm"), acquired_at: 0, lease_until: 1 };
        assert!(info.to_string().contains("being deployed by root@vm (pid 1"), "{info}");
        assert!(!info.to_string().contains("@vm@vm"), "{info}");
    }

    #[test]
    fn a_zero_limit_means_the_default() {
        assert_eq!(HistoryFilter::default().effective_limit(), 50);
        assert_eq!(HistoryFilter { limit: 3, ..Default::default() }.effective_limit(), 3);
    }
}
