//! Promotion: moving the set of images that was tested in one environment into the next,
//! as one release, behind the gates the target environment asks for (soak time,
//! approval), and — when atomic — all or nothing.
//!
//! The gates are pure functions over facts the caller gathers (from the ledger and the
//! platform), so every refusal is unit-tested with plain values.

use std::time::Duration;

use crate::deploy::{Locks, Observer, Outcome, Request, Run, ServiceReport, Source};
use crate::platform::{AutoScaling, Clock, Ecs, Elb, Logs, Registry, Secrets};

/// One service of a release, as a gate sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub service: String,
    pub digest: String,
    /// When this digest became healthy in the source environment (epoch ms), if known.
    pub healthy_since: Option<i64>,
}

/// Refuses a release that is not recorded as healthy upstream, or has not run healthy there
/// for the target's soak time. Every service must have gone healthy in FROM through a
/// successful deploy (the ledger's record) and, with `soak`, have run its digest that long;
/// the error lists each one that has not, with how long it still needs.
pub fn check_soak(soak: Option<Duration>, from: &str, candidates: &[Candidate], now: i64) -> Result<(), crate::error::Error> {
    let soak_ms = soak.map(|s| s.as_millis() as i64).unwrap_or(0);
    let mut short = Vec::new();
    for c in candidates {
        match c.healthy_since {
            None => short.push(format!(
                "{}: no record that {} went healthy in {from} (soak time is counted from a successful ferry deploy there)",
                c.service,
                crate::short_digest(&c.digest)
            )),
            Some(since) if now - since < soak_ms => {
                let left = Duration::from_secs(((soak_ms - (now - since)).max(0) as u64).div_ceil(1000));
                short.push(format!(
                    "{}: has run {} in {from}, needs {} more",
                    c.service,
                    humantime::format_duration(Duration::from_secs(((now - since) / 1000).max(0) as u64)),
                    humantime::format_duration(left)
                ));
            }
            Some(_) => {}
        }
    }
    match (short.is_empty(), soak) {
        (true, _) => Ok(()),
        (false, Some(soak)) => Err(crate::error::Error::refused(format!(
            "the release has not soaked for {} in {from}: {}",
            humantime::format_duration(soak),
            short.join("; ")
        ))),
        (false, None) => {
            Err(crate::error::Error::refused(format!("only what is recorded as healthy in {from} is promoted: {}", short.join("; "))))
        }
    }
}

/// Refuses a promotion that goes against the chain the environments' `promote_from` draw.
///
/// `promote_from(env)` is that environment's `promote_from`. When TO names one, FROM must be
/// it. When TO names none, it takes releases from anywhere except downstream of it: a
/// release flows down the chain (dev → stage → prod), so `ferry promote prod dev` is refused
/// unless dev's own `promote_from` says prod. The refusal names the chain and what would
/// allow it.
pub fn check_chain(promote_from: impl Fn(&str) -> Option<String>, from: &str, to: &str) -> Result<(), crate::error::Error> {
    match promote_from(to) {
        Some(expected) if expected == from => return Ok(()),
        Some(expected) => {
            return Err(crate::error::Error::refused(format!(
                "{to} is promoted from {expected}, not from {from}: `ferry promote {expected} {to}` follows the chain \
                 (to take releases from {from}, set promote_from = \"{from}\" in [environments.{to}])"
            )));
        }
        None => {}
    }
    // Walk up from FROM: if TO is upstream of it, this promotion runs against the chain.
    let mut chain = vec![from.to_string()];
    let mut at = from.to_string();
    while let Some(up) = promote_from(&at) {
        if chain.contains(&up) {
            break; // a loop in the config; check reports it
        }
        chain.push(up.clone());
        if up == to {
            chain.reverse();
            return Err(crate::error::Error::refused(format!(
                "{from} → {to} goes against the promotion chain ({}): releases move down it, and {to} names no \
                 promote_from, so it takes none. To put what runs in {from} into {to} on purpose, deploy its versions \
                 there (`ferry deploy {to} SERVICE=VERSION`), or set promote_from = \"{from}\" in [environments.{to}]",
                chain.join(" → ")
            )));
        }
        at = up;
    }
    Ok(())
}

/// How a promotion into an environment that asks for approval was approved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approval {
    /// `--approve` by this user.
    Flag(String),
    /// A person answered yes at the terminal.
    Interactive(String),
    /// Nobody approved.
    Missing,
}

/// Decides whether a promotion may go ahead; returns who approved it (for the record).
pub fn check_approval(required: bool, approvers: &[String], to: &str, approval: &Approval) -> Result<Option<String>, crate::error::Error> {
    if !required {
        return Ok(match approval {
            Approval::Flag(who) | Approval::Interactive(who) => Some(who.clone()),
            Approval::Missing => None,
        });
    }
    let allowed = |who: &str| approvers.is_empty() || approvers.iter().any(|a| a == who || who.split('@').next() == Some(a.as_str()));
    match approval {
        Approval::Missing => Err(crate::error::Error::refused(format!(
            "{to} needs an approval: answer at a terminal, or pass --approve{}",
            if approvers.is_empty() { String::new() } else { format!(" as one of: {}", approvers.join(", ")) }
        ))),
        Approval::Flag(who) | Approval::Interactive(who) if !allowed(who) => {
            Err(crate::error::Error::refused(format!("{who} may not approve promotions into {to} (approvers: {})", approvers.join(", "))))
        }
        Approval::Flag(who) | Approval::Interactive(who) => Ok(Some(who.clone())),
    }
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// Deploys a release's services; when `atomic` and any of them fails, the ones that
    /// moved are rolled back, so the environment never ends up half promoted. Each report
    /// says what happened to its service.
    pub async fn promote(&self, requests: &[Request], atomic: bool) -> Vec<ServiceReport> {
        if !atomic {
            return self.deploy(requests).await;
        }
        // Atomic: nothing changes unless every service passed preflight and got its lock,
        // and the locks are held until the undo (if any) is done.
        let (mut reports, locked) = self.deploy_holding_locks(requests).await;
        // A resumed service runs under its dead run's id: the undo runs under that lock.
        let requests: Vec<Request> = requests
            .iter()
            .zip(&reports)
            .map(|(request, report)| {
                let mut request = request.clone();
                request.trace.deployment_id = report.deployment_id.clone();
                request
            })
            .collect();
        let requests = &requests[..];
        let failed: Vec<String> = reports.iter().filter(|r| r.outcome != Outcome::Succeeded).map(|r| r.service.clone()).collect();
        let moved: Vec<usize> = (0..reports.len()).filter(|&i| reports[i].outcome == Outcome::Succeeded).collect();
        if failed.is_empty() || moved.is_empty() {
            self.unlock(requests, &locked);
            return reports;
        }
        let undo: Vec<Request> = moved.iter().map(|&i| undo_request(&requests[i], &reports[i])).collect();
        crate::journal::kill_point("promotion-undo");
        let undone = self.deploy(&undo).await;
        self.unlock(requests, &locked);
        let why = format!("the promotion is atomic and {} failed", failed.join(", "));
        for (&i, rollback) in moved.iter().zip(undone) {
            let report = &mut reports[i];
            report.rollback_deployment_id = rollback.ecs_deployment_id.clone();
            report.finished_at = rollback.finished_at;
            if rollback.outcome == Outcome::Succeeded {
                report.outcome = Outcome::FailedRolledBack;
                report.reason = Some(format!("deployed, then rolled back: {why}"));
            } else {
                report.outcome = Outcome::RollbackFailed;
                report.reason = Some(format!("deployed, but rolling it back ({why}) failed: {}", rollback.reason.unwrap_or_default()));
            }
            self.observer.record(report);
        }
        reports
    }
}

/// The request that puts a service back where it was before a promotion moved it.
fn undo_request(request: &Request, report: &ServiceReport) -> Request {
    let mut undo = request.clone();
    undo.kind = "rollback";
    // A rollback runs no hooks: it returns to what ran before.
    undo.before_deploy = None;
    undo.after_deploy = None;
    undo.lock_owner = Some(request.lock_id().to_string());
    undo.trace.deployment_id = format!("{}-undo", request.trace.deployment_id);
    undo.version = report.from_version.clone();
    match request.strategy {
        // env-tag: the tag goes back to the digest it had, and ECS redeploys.
        crate::config::Strategy::EnvTag => {
            undo.digest = report.from_digest.clone();
            undo.source = Source::Live;
        }
        // blue-green, canary, linear: back to the revision, whose retired service is scaled up again.
        crate::config::Strategy::Rolling
        | crate::config::Strategy::BlueGreen
        | crate::config::Strategy::Canary
        | crate::config::Strategy::Linear => {
            undo.digest = None;
            undo.source = Source::Revision(report.from_task_definition.clone().unwrap_or_default());
        }
    }
    undo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(service: &str, healthy_since: Option<i64>) -> Candidate {
        Candidate { service: service.into(), digest: "sha256:0123456789abcdef".into(), healthy_since }
    }

    #[test]
    fn soak_counts_from_when_each_digest_went_healthy() {
        let hour = Some(Duration::from_secs(3600));
        let now = 10_000_000;
        assert!(check_soak(hour, "dev", &[candidate("web", Some(now - 3_600_000))], now).is_ok());
        let err =
            check_soak(hour, "dev", &[candidate("web", Some(now - 3_600_000)), candidate("api", Some(now - 600_000))], now).unwrap_err();
        assert!(err.contains("api: has run 10m in dev, needs 50m more"), "{err}");
        assert!(!err.contains("web:"), "{err}");
        let err = check_soak(hour, "dev", &[candidate("web", None)], now).unwrap_err();
        assert!(err.contains("no record that sha256:0123456789ab went healthy in dev"), "{err}");
        assert!(check_soak(None, "dev", &[candidate("web", Some(now))], now).is_ok());
        let err = check_soak(None, "dev", &[candidate("web", None)], now).unwrap_err();
        assert!(err.contains("only what is recorded as healthy in dev is promoted"), "{err}");
    }

    #[test]
    fn a_promotion_against_the_chain_is_refused_unless_promote_from_allows_it() {
        let chain = |env: &str| match env {
            "stage" => Some("dev".to_string()),
            "prod" => Some("stage".to_string()),
            _ => None,
        };
        assert_eq!(check_chain(chain, "dev", "stage"), Ok(()));
        assert_eq!(check_chain(chain, "stage", "prod"), Ok(()));
        let err = check_chain(chain, "prod", "dev").unwrap_err();
        assert!(err.message.starts_with("prod → dev goes against the promotion chain (dev → stage → prod)"), "{err}");
        assert!(err.contains("set promote_from = \"prod\" in [environments.dev]"), "{err}");
        let err = check_chain(chain, "prod", "stage").unwrap_err();
        assert!(err.message.starts_with("stage is promoted from dev, not from prod"), "{err}");
        let err = check_chain(chain, "dev", "prod").unwrap_err();
        assert!(err.message.starts_with("prod is promoted from stage, not from dev"), "{err}");
        // An environment outside the chain takes releases from anywhere but downstream.
        assert_eq!(check_chain(chain, "prod", "sandbox"), Ok(()));
        // ... and promote_from allows what it names, even upstream.
        let back = |env: &str| if env == "dev" { Some("prod".to_string()) } else { chain(env) };
        assert_eq!(check_chain(back, "prod", "dev"), Ok(()));
    }

    #[test]
    fn approval_needs_an_allowed_approver() {
        let approvers = vec!["alice".to_string()];
        assert_eq!(check_approval(true, &approvers, "prod", &Approval::Flag("alice@ci".into())), Ok(Some("alice@ci".into())));
        let err = check_approval(true, &approvers, "prod", &Approval::Flag("bob".into())).unwrap_err();
        assert!(err.contains("bob may not approve promotions into prod (approvers: alice)"), "{err}");
        let err = check_approval(true, &approvers, "prod", &Approval::Missing).unwrap_err();
        assert!(err.contains("prod needs an approval") && err.contains("--approve as one of: alice"), "{err}");
        assert_eq!(check_approval(true, &[], "prod", &Approval::Interactive("carol".into())), Ok(Some("carol".into())));
        assert_eq!(check_approval(false, &[], "stage", &Approval::Missing), Ok(None));
    }
}
