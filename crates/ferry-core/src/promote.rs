//! Promotion: moving the set of images that was tested in one environment into the next,
//! as one release, behind the gates the target environment asks for (soak time,
//! approval), and — when atomic — all or nothing.
//!
//! The gates are pure functions over facts the caller gathers (from the ledger and the
//! platform), so every refusal is unit-tested with plain values.

use std::time::Duration;

use crate::deploy::{Locks, Observer, Outcome, Request, Run, ServiceReport, Source};
use crate::platform::{AutoScaling, Clock, Ecs, Elb, Logs, Registry, Secrets, ServiceDeploymentBrief, ServiceInfo};

/// One service of a release, as a gate sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub service: String,
    pub digest: String,
    /// What the source environment says about the digest ([`upstream`]).
    pub upstream: Upstream,
}

/// Whether a digest runs healthy in the environment a release is promoted from, and since
/// when: the facts a promotion's gates (and a direct deploy to a gated environment) read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// ECS says the environment does not run it healthy: why, in words.
    NotHealthy(String),
    /// ECS says it runs there, healthy; since when, and what said so. None when neither ECS
    /// nor the ledger can say since when.
    Healthy(Option<Since>),
}

/// When a digest went healthy in an environment — where its soak clock starts — and which
/// record said so. Times are epoch milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Since {
    /// ECS: `finishedAt` of the SUCCESSFUL service deployment (ListServiceDeployments) that
    /// rolled out the task definition the service runs (DescribeServiceRevisions).
    ServiceDeployment { at: i64, arn: String },
    /// ECS, when it keeps no such service deployment: `updatedAt` of the service's only
    /// deployment, PRIMARY with `rolloutState` COMPLETED (DescribeServices `deployments`). It
    /// moves with later updates of that deployment (a desired count change), so it is never
    /// earlier than the rollout's end: the soak is counted from then or later.
    PrimaryDeployment { at: i64, id: String },
    /// The ledger's newest successful deploy of the digest there
    /// (`Ledger::healthy_since`), read only when ECS cannot say when.
    Ledger { at: i64 },
}

impl Since {
    /// When (epoch milliseconds).
    pub fn at(&self) -> i64 {
        match self {
            Since::ServiceDeployment { at, .. } | Since::PrimaryDeployment { at, .. } | Since::Ledger { at } => *at,
        }
    }

    /// The record in words: `ECS service deployment finishedAt`, ...
    pub fn source(&self) -> &'static str {
        match self {
            Since::ServiceDeployment { .. } => "ECS service deployment finishedAt",
            Since::PrimaryDeployment { .. } => "ECS deployment updatedAt",
            Since::Ledger { .. } => "this ledger's record; ECS keeps none",
        }
    }
}

/// What ECS reports about one service in the source environment: the digest its running
/// revision carries (None when it cannot be told), why it is not healthy (a rollout under
/// way, tasks missing; None when it is), and when what it runs went live ([`ecs_since`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub digest: Option<String>,
    pub unhealthy: Option<String>,
    pub since: Option<Since>,
}

/// Decides what the source environment `from` says about `digest` of `service`:
///
/// 1. ECS decides whether it runs: another digest running, or none that can be told, or
///    the service unhealthy (rolling out, tasks missing) is [`Upstream::NotHealthy`],
///    whatever the ledger says — a ledger row never makes healthy what ECS says is not.
/// 2. ECS decides since when, when it can ([`Observed::since`]); the ledger is not read then,
///    and where the two disagree ECS wins (another runner may have deployed since).
/// 3. Only when ECS cannot say since when is `ledger` (the ledger's `healthy_since`) asked.
/// 4. Neither: healthy, since unknown ([`Upstream::Healthy`] of None): enough for
///    `promote_from` alone, refused by a soak ([`check_soak`]).
pub fn upstream(from: &str, service: &str, digest: &str, observed: &Observed, ledger: impl FnOnce() -> Option<i64>) -> Upstream {
    match observed.digest.as_deref() {
        Some(running) if running == digest => {}
        Some(running) => {
            return Upstream::NotHealthy(format!(
                "{from} runs {} of {service}, not {}",
                crate::short_digest(running),
                crate::short_digest(digest)
            ));
        }
        None => return Upstream::NotHealthy(format!("cannot tell which image digest {service} runs in {from}")),
    }
    if let Some(why) = &observed.unhealthy {
        return Upstream::NotHealthy(why.clone());
    }
    if let Some(since) = &observed.since {
        return Upstream::Healthy(Some(since.clone()));
    }
    Upstream::Healthy(ledger().map(|at| Since::Ledger { at }))
}

/// The newest SUCCESSFUL service deployment that has finished (by `createdAt`, then
/// `finishedAt`): the rollout that made what a healthy service runs live. Later ones that
/// failed or rolled back did not replace it.
pub fn newest_successful(briefs: &[ServiceDeploymentBrief]) -> Option<&ServiceDeploymentBrief> {
    briefs.iter().filter(|b| b.status == "SUCCESSFUL" && b.finished_at.is_some()).max_by_key(|b| (b.created_at, b.finished_at))
}

/// When what `service` runs went live, by ECS's records: `deployment` (the newest successful
/// service deployment and the task definition its target revision runs) when it rolled out
/// the task definition the service runs; else its only deployment's `updatedAt` when that is
/// PRIMARY, COMPLETED and of the same task definition; else None (ECS cannot say).
pub fn ecs_since(service: &ServiceInfo, deployment: Option<(&ServiceDeploymentBrief, Option<&str>)>) -> Option<Since> {
    if let Some((brief, Some(task_definition))) = deployment
        && task_definition == service.task_definition
        && let Some(at) = brief.finished_at
    {
        return Some(Since::ServiceDeployment { at, arn: brief.arn.clone() });
    }
    let primary = service.primary()?;
    (service.deployments.len() == 1
        && primary.rollout_state.as_deref() == Some("COMPLETED")
        && primary.task_definition == service.task_definition
        && primary.updated_at > 0)
        .then(|| Since::PrimaryDeployment { at: primary.updated_at, id: primary.id.clone() })
}

/// Reads [`ecs_since`]'s facts from ECS: ListServiceDeployments (SUCCESSFUL), then
/// DescribeServiceRevisions of the newest one's target. A call that fails (an endpoint
/// without service deployments, a CODE_DEPLOY or EXTERNAL service, no permission) is not
/// an error: ECS then says what its `deployments` say, or nothing.
pub async fn read_ecs_since<E: Ecs>(ecs: &E, cluster: &str, service: &ServiceInfo) -> Option<Since> {
    let briefs = match ecs.list_service_deployments(cluster, &service.name, &["SUCCESSFUL"]).await {
        Ok(briefs) => briefs,
        Err(e) => {
            tracing::debug!("no service deployments of {cluster}/{}, reading its deployments instead: {e}", service.name);
            Vec::new()
        }
    };
    let newest = newest_successful(&briefs);
    let task_definition = match newest.and_then(|b| b.target_service_revision.as_deref()) {
        Some(revision) => match ecs.service_revision_task_definition(revision).await {
            Ok(td) => td,
            Err(e) => {
                tracing::debug!("cannot read the service revision {revision}, reading {}'s deployments instead: {e}", service.name);
                None
            }
        },
        None => None,
    };
    ecs_since(service, newest.map(|b| (b, task_definition.as_deref())))
}

/// Refuses a release that does not run healthy upstream, or has not run healthy there for
/// the target's soak time ([`upstream`] says, per service). With `soak`, a digest whose
/// start neither ECS nor the ledger can say is refused too; the error lists each service
/// that has not passed, with how long it has run (since when, by which record) and how long
/// it still needs.
pub fn check_soak(soak: Option<Duration>, from: &str, candidates: &[Candidate], now: i64) -> Result<(), crate::error::Error> {
    let soak_ms = soak.map(|s| s.as_millis() as i64).unwrap_or(0);
    let mut short = Vec::new();
    let mut not_running = false;
    for c in candidates {
        match &c.upstream {
            Upstream::NotHealthy(why) => {
                not_running = true;
                short.push(format!("{}: {why}", c.service));
            }
            Upstream::Healthy(None) if soak.is_some() => short.push(format!(
                "{}: neither ECS nor this ledger says since when {} has run in {from} (no SUCCESSFUL service deployment \
                 of its task definition, no COMPLETED rollout): redeploy it there (`ferry deploy {from} {}=VERSION --force`) \
                 to start a soak clock ECS keeps",
                c.service,
                crate::short_digest(&c.digest),
                c.service
            )),
            Upstream::Healthy(Some(since)) if now - since.at() < soak_ms => {
                let ran = now - since.at();
                let left = Duration::from_secs(((soak_ms - ran).max(0) as u64).div_ceil(1000));
                short.push(format!(
                    "{}: has run {} in {from} (since {}, {}), needs {} more",
                    c.service,
                    humantime::format_duration(Duration::from_secs((ran / 1000).max(0) as u64)),
                    crate::time::format_rfc3339(since.at()),
                    since.source(),
                    humantime::format_duration(left)
                ));
            }
            Upstream::Healthy(_) => {}
        }
    }
    match (short.is_empty(), soak) {
        (true, _) => Ok(()),
        (false, Some(soak)) if !not_running => Err(crate::error::Error::refused(format!(
            "the release has not soaked for {} in {from}: {}",
            humantime::format_duration(soak),
            short.join("; ")
        ))),
        (false, _) => Err(crate::error::Error::refused(format!("only what runs healthy in {from} is promoted: {}", short.join("; ")))),
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
        | crate::config::Strategy::Linear
        | crate::config::Strategy::EcsNative => {
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
        Candidate {
            service: service.into(),
            digest: "sha256:0123456789abcdef".into(),
            upstream: Upstream::Healthy(healthy_since.map(|at| Since::ServiceDeployment { at, arn: "sd".into() })),
        }
    }

    #[test]
    fn soak_counts_from_when_each_digest_went_healthy() {
        let hour = Some(Duration::from_secs(3600));
        let now = 10_000_000;
        assert!(check_soak(hour, "dev", &[candidate("web", Some(now - 3_600_000))], now).is_ok());
        let err =
            check_soak(hour, "dev", &[candidate("web", Some(now - 3_600_000)), candidate("api", Some(now - 600_000))], now).unwrap_err();
        assert!(
            err.contains("api: has run 10m in dev (since 1970-01-01T02:36:40Z, ECS service deployment finishedAt), needs 50m more"),
            "{err}"
        );
        assert!(!err.contains("web:"), "{err}");
        // Healthy, since unknown: enough without a soak, refused with one.
        let err = check_soak(hour, "dev", &[candidate("web", None)], now).unwrap_err();
        assert!(err.contains("neither ECS nor this ledger says since when sha256:0123456789ab has run in dev"), "{err}");
        assert!(check_soak(None, "dev", &[candidate("web", None)], now).is_ok());
        assert!(check_soak(None, "dev", &[candidate("web", Some(now))], now).is_ok());
        let gone =
            Candidate { upstream: Upstream::NotHealthy("dev runs sha256:aaaa of web, not sha256:0123".into()), ..candidate("web", None) };
        let err = check_soak(None, "dev", std::slice::from_ref(&gone), now).unwrap_err();
        assert!(err.contains("only what runs healthy in dev is promoted: web: dev runs sha256:aaaa of web"), "{err}");
        let err = check_soak(hour, "dev", &[gone], now).unwrap_err();
        assert!(err.contains("only what runs healthy in dev is promoted"), "{err}");
    }

    fn running(digest: &str, since: Option<Since>) -> Observed {
        Observed { digest: Some(digest.into()), unhealthy: None, since }
    }

    #[test]
    fn ecs_decides_what_runs_and_since_when_and_the_ledger_only_fills_in_when_ecs_cannot_say() {
        let d = "sha256:1111111111111111";
        let ecs = Since::ServiceDeployment { at: 5_000, arn: "sd".into() };
        let asked = std::cell::Cell::new(false);
        let ledger = |at: Option<i64>| {
            let asked = &asked;
            move || {
                asked.set(true);
                at
            }
        };
        // ECS knows: its time, whatever the ledger would say (it is not even read).
        assert_eq!(upstream("dev", "web", d, &running(d, Some(ecs.clone())), ledger(Some(9_000))), Upstream::Healthy(Some(ecs)));
        assert!(!asked.get());
        // ECS runs it but cannot say since when: the ledger's record, else unknown.
        assert_eq!(upstream("dev", "web", d, &running(d, None), ledger(Some(9_000))), Upstream::Healthy(Some(Since::Ledger { at: 9_000 })));
        assert_eq!(upstream("dev", "web", d, &running(d, None), ledger(None)), Upstream::Healthy(None));
        // ECS runs another digest, none that can be told, or is not healthy: a ledger row
        // never makes the digest healthy.
        let other = upstream("dev", "web", d, &running("sha256:2222222222222222", None), ledger(Some(9_000)));
        assert_eq!(other, Upstream::NotHealthy("dev runs sha256:222222222222 of web, not sha256:111111111111".into()));
        let unknown = Observed { digest: None, ..Observed::default() };
        assert!(matches!(upstream("dev", "web", d, &unknown, ledger(Some(1))), Upstream::NotHealthy(w) if w.contains("cannot tell")));
        let rolling = Observed { unhealthy: Some("web in dev is still rolling out (IN_PROGRESS)".into()), ..running(d, None) };
        assert_eq!(
            upstream("dev", "web", d, &rolling, ledger(Some(1))),
            Upstream::NotHealthy("web in dev is still rolling out (IN_PROGRESS)".into())
        );
    }

    fn brief(arn: &str, status: &str, created_at: i64, finished_at: Option<i64>) -> ServiceDeploymentBrief {
        ServiceDeploymentBrief {
            arn: arn.into(),
            status: status.into(),
            created_at,
            finished_at,
            target_service_revision: Some(format!("rev-{arn}")),
        }
    }

    fn service(task_definition: &str, deployments: Vec<crate::platform::DeploymentInfo>) -> ServiceInfo {
        ServiceInfo { name: "web".into(), task_definition: task_definition.into(), deployments, ..ServiceInfo::default() }
    }

    fn primary(task_definition: &str, rollout: &str, updated_at: i64) -> crate::platform::DeploymentInfo {
        crate::platform::DeploymentInfo {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition: task_definition.into(),
            rollout_state: Some(rollout.into()),
            updated_at,
            ..Default::default()
        }
    }

    #[test]
    fn the_soak_clock_starts_when_the_successful_service_deployment_of_what_runs_finished() {
        // A later rollout that rolled back, one still going and one stopped do not count.
        let briefs = vec![
            brief("a", "SUCCESSFUL", 100, Some(200)),
            brief("b", "SUCCESSFUL", 300, Some(400)),
            brief("c", "ROLLBACK_SUCCESSFUL", 500, Some(600)),
            brief("d", "IN_PROGRESS", 700, None),
            brief("e", "STOPPED", 800, Some(900)),
        ];
        let newest = newest_successful(&briefs).unwrap();
        assert_eq!(newest.arn, "b");
        let svc = service("td:2", vec![primary("td:2", "COMPLETED", 450)]);
        assert_eq!(ecs_since(&svc, Some((newest, Some("td:2")))), Some(Since::ServiceDeployment { at: 400, arn: "b".into() }));
        // Its revision runs another task definition, or ECS does not know the revision, or
        // keeps no service deployment at all: the COMPLETED PRIMARY deployment's updatedAt.
        let from_primary = Some(Since::PrimaryDeployment { at: 450, id: "ecs-svc/1".into() });
        assert_eq!(ecs_since(&svc, Some((newest, Some("td:1")))), from_primary);
        assert_eq!(ecs_since(&svc, Some((newest, None))), from_primary);
        assert_eq!(ecs_since(&svc, None), from_primary);
        // A rollout not COMPLETED (or without a rollout state: CODE_DEPLOY, EXTERNAL), or two
        // deployments: ECS cannot say.
        assert_eq!(ecs_since(&service("td:2", vec![primary("td:2", "IN_PROGRESS", 450)]), None), None);
        let mut no_state = primary("td:2", "COMPLETED", 450);
        no_state.rollout_state = None;
        assert_eq!(ecs_since(&service("td:2", vec![no_state]), None), None);
        let mut active = primary("td:1", "COMPLETED", 50);
        active.status = "ACTIVE".into();
        assert_eq!(ecs_since(&service("td:2", vec![primary("td:2", "COMPLETED", 450), active]), None), None);
        assert_eq!(newest_successful(&[brief("x", "ROLLBACK_SUCCESSFUL", 1, Some(2))]), None);
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
