//! Promote the release running healthy in FROM to TO — exactly its digests — behind TO's
//! gates (promotion chain, rejected releases, soak time, approval), all services in
//! parallel, all or nothing when atomic.
//!
//! Before anything changes, every service that would move is preflighted in TO and the plan
//! is passed to the sink: per service, the version, image digest and task definition
//! revision TO runs and the ones it will run. Approval is asked for after the plan; a dry
//! run returns the plan and the gates' verdicts and stops there, having written nothing
//! anywhere.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::ExitKind;
use ferry_core::config::Strategy;
use ferry_core::deploy::{Outcome, Request, ServiceReport, Trace};
use ferry_core::promote::{Approval, check_approval, check_chain, check_soak};
use ferry_core::rolling::short_task_definition;
use ferry_store::{Ledger, Promotion, Rejection, ReleaseEntry};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::{Journal, LedgerLocks, Unseen, now_ms};
use crate::project::{self, Context, Project};
use crate::release::{Running, running};
use crate::run::{RunResult, until_cancelled};
use crate::sink::{Approver, EventSink};
use crate::upstream::HealthySince;
use crate::words::run_failure;

/// What to promote from where to where.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PromoteInput {
    pub from: String,
    pub to: String,
    /// The services to promote; empty for all of ferry.toml's.
    pub services: Vec<String>,
    /// All or nothing, whatever TO's `atomic` says.
    pub atomic: bool,
    /// Not all or nothing, whatever TO's `atomic` says (`atomic` wins).
    pub no_atomic: bool,
    /// Approved by the actor (`--approve`), where TO requires approval.
    pub approve: bool,
    /// How long to watch each deployment; None for TO's `timeout`.
    pub timeout: Option<Duration>,
    /// Plan and judge the gates only; write nothing anywhere.
    pub dry_run: bool,
}

/// A promotion's plan: the release and what it does to each of its services in TO.
#[derive(Clone, Debug, Serialize)]
pub struct PromotionPlan {
    pub release: String,
    pub from: String,
    pub to: String,
    pub services: Vec<PlannedService>,
}

/// What a promotion will do to one service in TO.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlannedService {
    pub service: String,
    /// "deploy", "unchanged" (TO already runs the release's digest) or "refused" (preflight
    /// would stop the promotion; `reason` says why).
    pub action: &'static str,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
    pub from_digest: Option<String>,
    pub to_digest: String,
    pub from_revision: Option<String>,
    /// The revision it will run, when it exists already (an env-tag service keeps its own).
    pub to_revision: Option<String>,
    /// The revision column in words: `web:7 → new revision (2 changes)`.
    pub revision: String,
    /// Task definition changes besides the image (normalized, as `ferry plan` counts them).
    pub changes: usize,
    pub reason: Option<String>,
}

/// How a promotion ended.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum PromoteResult {
    /// A dry run: the plan and the gates' verdicts.
    DryRun(DryRun),
    /// TO runs the release already, healthy: nothing was done.
    Unchanged { release: String, to: String, run_id: String },
    /// The promotion ran (or preflight in TO refused it before any change, the reports
    /// `refused`): each service's report.
    Ran(RunResult),
}

impl PromoteResult {
    /// The promotion as an error, when it did not (or, dry, would not) succeed.
    pub fn error(&self) -> Option<Error> {
        match self {
            PromoteResult::DryRun(dry) => dry.error(),
            PromoteResult::Unchanged { .. } => None,
            PromoteResult::Ran(run) => run.error(),
        }
    }
}

/// A dry run's findings.
#[derive(Clone, Debug, Serialize)]
pub struct DryRun {
    pub release: String,
    /// Whether the ledger holds the release already. A dry run records nothing, so a release
    /// seen for the first time is recorded only by the promotion itself (or `ferry release
    /// create --from-env FROM`), and cannot be rejected before that.
    pub release_recorded: bool,
    pub from: String,
    pub to: String,
    pub plan: Vec<PlannedService>,
    pub gates: Gates,
    /// How the promotion would be decided: 4 when a gate or preflight would refuse it.
    pub kind: ExitKind,
    /// The gate that would refuse it, in words.
    #[serde(skip)]
    pub refusal: Option<String>,
    /// Preflight's reports in TO.
    #[serde(skip)]
    pub preflight: Vec<ServiceReport>,
}

/// The gates' verdicts in words: `passed`, `not needed`, `would refuse: …`.
#[derive(Clone, Debug, Serialize)]
pub struct Gates {
    pub soak: String,
    pub approval: String,
    /// Since when each service's digest has run healthy in FROM, and by which record (ECS's
    /// service deployment first): where the soak clock started.
    pub healthy_since: Vec<HealthySince>,
}

impl DryRun {
    /// How many services the promotion would deploy.
    pub fn to_deploy(&self) -> usize {
        self.plan.iter().filter(|p| p.action == "deploy").count()
    }

    /// The refusal the promotion would meet, as an error (exit 4, or preflight's kind).
    pub fn error(&self) -> Option<Error> {
        match (self.kind, &self.refusal) {
            (ExitKind::Ok, _) => None,
            (kind, Some(why)) => Some(Error::new(kind, format!("dry run: the promotion would be refused: {why}"))),
            (kind, None) => Some(Error::new(kind, format!("dry run: {}", run_failure("promote", &self.preflight)))),
        }
    }
}

/// Promotes. `approver` is asked (after the plan went to the sink) when TO requires
/// approval and the input does not give it.
///
/// Errors before any change: FROM and TO the same, an unknown environment or service
/// (invalid input, exit 2); a gate (chain, health in FROM, a rejected release, soak,
/// approval: refused, 4); platform (3) or ledger (8). A promotion that ran returns its
/// reports ([`PromoteResult::error`] says how it failed); cancelled during the run, the
/// promotion is recorded interrupted and [`Error::Interrupted`] returned (130).
pub async fn promote(ctx: &Context<'_>, input: PromoteInput, approver: &dyn Approver) -> Result<PromoteResult> {
    let config = project::load_config(ctx.project)?;
    config.environment(&input.from).map_err(Error::config)?;
    let to_env = config.environment(&input.to).map_err(Error::config)?;
    if input.from == input.to {
        return Err(Error::input(format!(
            "FROM and TO are both {}: a promotion moves a release from one environment to another",
            input.to
        )));
    }
    // The chain is TO's first gate, decided from the config alone: no call, no ledger.
    check_chain(|env| config.environments.get(env).and_then(|e| e.promote_from.clone()), &input.from, &input.to).map_err(Error::refused)?;
    let services: Vec<String> = if input.services.is_empty() { config.services.keys().cloned().collect() } else { input.services.clone() };
    for s in &services {
        config.service(s).map_err(Error::config)?;
    }
    let (ledger, _scratch) = if input.dry_run {
        open_ledger_to_read(ctx.project, ctx.sink).await?
    } else {
        (project::open_ledger(ctx.project, ctx.sink).await?, None)
    };
    let who = ctx.actor.who.clone();
    let endpoint = ctx.project.endpoint_url.as_deref();

    // The release: what runs, healthy, in FROM.
    let from = project::connect(&config, &input.from, endpoint).await?;
    // Until the run starts, cancelling stops the promotion having changed nothing.
    let running_from = ctx.before_changes("promote", running(&config, &from, &services)).await?;
    if let Some(why) = running_from.iter().find_map(|r| r.unhealthy.clone()) {
        return Err(Error::refused(format!("only what runs healthy is promoted: {why}")));
    }
    let (commit, commit_message) = project::git_commit(&config.root);
    let entries: Vec<ReleaseEntry> = running_from.iter().map(|r| r.entry.clone()).collect();
    // A dry run records nothing: it names the release the promotion would record, and finds
    // it (with any rejection) if it was recorded before.
    let mut release_recorded = true;
    let (release_id, release_entries, rejected) = if input.dry_run {
        let (id, sorted) = ferry_store::release_of(entries).map_err(Error::from_store)?;
        let known = ledger.release(&id).map_err(Error::from_store)?;
        release_recorded = known.is_some();
        (id, sorted, known.and_then(|r| r.rejected))
    } else {
        let release = ledger
            .create_release(entries, &who, &format!("env:{}", input.from), &commit.iter().cloned().collect::<Vec<_>>(), now_ms())
            .map_err(Error::from_store)?;
        (release.id, release.entries, release.rejected)
    };
    if let Some(rejection) = &rejected {
        return Err(Error::refused(rejected_text(&release_id, rejection)));
    }
    // A part of a rejected release is rejected too: `services` cannot sneak it through.
    let recorded = ledger.releases(10_000).map_err(Error::from_store)?;
    if let Some(whole) = recorded.iter().filter(|r| r.id != release_id).find(|r| {
        r.rejected.is_some() && release_entries.iter().all(|e| r.entries.iter().any(|x| x.service == e.service && x.digest == e.digest))
    }) {
        let rejection = whole.rejected.as_ref().map(|x| format!("{}: {}", x.by, x.reason)).unwrap_or_default();
        return Err(Error::refused(format!("these digests are part of release {}, which was rejected ({rejection})", whole.id)));
    }

    // The soak gate's verdict (refused below, after the plan for a dry run): since when each
    // digest has run healthy in FROM, by ECS's records first (crate::upstream).
    let from_cluster = config.environment(&input.from).map_err(Error::config)?.cluster.clone();
    let wanted: Vec<(String, String)> = release_entries.iter().map(|e| (e.service.clone(), e.digest.clone())).collect();
    let candidates =
        ctx.before_changes("promote", crate::upstream::candidates(&from, &from_cluster, &running_from, &ledger, &wanted)).await?;
    let healthy_since: Vec<HealthySince> = candidates.iter().map(HealthySince::of).collect();
    let soak = check_soak(to_env.soak, &input.from, &candidates, now_ms());
    if !input.dry_run {
        soak.clone().map_err(Error::refused)?;
    }

    // The plan: what runs in TO, and what each service that moves will run.
    let to = project::connect(&config, &input.to, endpoint).await?;
    let run_id = project::new_id("promo");
    let atomic = input.atomic || (to_env.atomic && !input.no_atomic);
    if !input.dry_run
        && let Some(finished) = finish_dead_promotion(ctx, &ledger, &config, &to, &input, atomic, &run_id).await?
    {
        return Ok(finished);
    }
    // A service already running its release digest, healthy, is left alone: promoting the
    // same release twice changes nothing.
    let current = ctx.before_changes("promote", running(&config, &to, &services)).await?;
    let mut requests = Vec::new();
    for entry in &release_entries {
        // ... unless a dead run left its deployment there unfinished: that one is resumed
        // (watched to its end, baked, recorded), not left "in progress" with its lock held.
        let unfinished =
            !input.dry_run && crate::journal::dead_deployment(&ledger, &input.to, &entry.service).map_err(Error::from_store)?.is_some();
        if !unfinished
            && current.iter().any(|c| c.entry.service == entry.service && c.entry.digest == entry.digest && c.unhealthy.is_none())
        {
            continue;
        }
        let trace = Trace {
            deployment_id: project::new_id("fd"),
            who: who.clone(),
            commit: commit.clone(),
            commit_message: commit_message.clone(),
        };
        let mut request = project::request(&config, &to, &entry.service, entry.version.clone(), None, input.timeout, trace)?;
        request.digest = Some(entry.digest.clone());
        request.kind = "promote";
        requests.push(request);
    }
    let locks = LedgerLocks { ledger: ledger.clone(), actor: ctx.actor.clone() };
    // Preflight only, seen by no one: no event passed on, nothing journaled, no lock taken.
    let preflight = to.run(&locks, &Unseen);
    let planned = ctx.before_changes("promote", async { Ok(preflight.plan(&requests).await) }).await?;
    let plan = PromotionPlan {
        release: release_id.clone(),
        from: input.from.clone(),
        to: input.to.clone(),
        services: plan_of(&release_entries, &current, &requests, &planned),
    };

    if input.dry_run {
        let dry =
            dry_run(&input, plan, planned, (soak.clone().err().map(String::from), healthy_since), to_env.approval, &to_env.approvers, &who);
        return Ok(PromoteResult::DryRun(DryRun { release_recorded, ..dry }));
    }
    if requests.is_empty() {
        return Ok(PromoteResult::Unchanged { release: release_id, to: input.to.clone(), run_id });
    }
    ctx.sink.promotion_plan(&plan);
    if planned.iter().any(|r| r.outcome != Outcome::Planned) {
        // A service that fails preflight would stop the whole promotion: say so now,
        // before anyone is asked to approve it.
        return Ok(PromoteResult::Ran(RunResult { command: "promote", run_id, services: planned }));
    }

    let approval = if input.approve {
        Approval::Flag(who.clone())
    } else if to_env.approval
        && approver.approve(&format!("Promote release {release_id} from {} to {} as planned above?", input.from, input.to))
    {
        Approval::Interactive(who.clone())
    } else {
        Approval::Missing
    };
    // Cancelled while the question was asked: nothing is recorded, nothing changed.
    if ctx.cancel.is_cancelled() {
        return Err(Error::interrupted_before("promote"));
    }
    let approved_by = check_approval(to_env.approval, &to_env.approvers, &input.to, &approval).map_err(Error::refused)?;

    let promotion = Promotion {
        id: run_id.clone(),
        release_id: release_id.clone(),
        from_environment: input.from.clone(),
        to_environment: input.to.clone(),
        services: services.clone(),
        approved_by: approved_by.clone(),
        who: who.clone(),
        started_at: now_ms(),
        finished_at: None,
        outcome: ferry_store::Outcome::InProgress,
        reason: None,
        deployment_ids: requests.iter().map(|r| r.trace.deployment_id.clone()).collect(),
    };
    ledger.insert_promotion(&promotion).map_err(Error::from_store)?;
    ctx.sink.note(
        None,
        &format!(
            "promoting {release_id} to {}{}{}",
            input.to,
            if atomic { " (atomic)" } else { "" },
            approved_by.as_ref().map(|a| format!(", approved by {a}")).unwrap_or_default()
        ),
    );

    // Each service behind a load balancer is probed through its production listener.
    let probes =
        crate::probe::Probes::new(&config, &input.to, &requests, to.elb.clone(), to.alarms.0.clone(), true, ctx.cancel.child_token())?;
    let journal = Journal::new(ledger.clone(), ctx.sink, run_id.clone()).with_probes(&probes);
    let run = to.run_with_gates(&locks, &journal, &probes);
    let promoting = probes.while_running(ctx.sink, run.promote(&requests, atomic));
    let reports = match until_cancelled(&ctx.cancel, &ledger, &requests, &run_id, "promote", &to.ecs, promoting).await {
        Ok(reports) => probes.finish(reports, &ledger, ctx.sink),
        Err(interrupted) => {
            let mut stopped = promotion;
            stopped.finished_at = Some(now_ms());
            stopped.outcome = ferry_store::Outcome::Interrupted;
            stopped.reason = Some(interrupted.to_string());
            if let Err(e) = ledger.update_promotion(&stopped) {
                tracing::warn!("cannot record the promotion's interruption: {e}");
            }
            return Err(interrupted);
        }
    };
    let kind = reports.iter().map(|r| r.exit_kind()).fold(ExitKind::Ok, ExitKind::worst);
    let mut finished = promotion;
    finished.finished_at = Some(now_ms());
    finished.outcome = match kind {
        ExitKind::Ok => ferry_store::Outcome::Succeeded,
        ExitKind::FailedRolledBack => ferry_store::Outcome::FailedRolledBack,
        ExitKind::RollbackFailed => ferry_store::Outcome::FailedRollbackFailed,
        _ => ferry_store::Outcome::Failed,
    };
    finished.reason = reports
        .iter()
        .filter(|r| r.outcome != Outcome::Succeeded)
        .map(|r| format!("{}: {}", r.service, r.reason.as_deref().unwrap_or("")))
        .reduce(|a, b| format!("{a}; {b}"));
    if let Err(e) = ledger.update_promotion(&finished) {
        ctx.sink.note(None, &format!("warning: cannot record the promotion's end: {e}"));
    }
    Ok(PromoteResult::Ran(RunResult { command: "promote", run_id, services: reports }))
}

/// Settles a promotion to TO that a dead run left in progress (its services' locks are
/// free, expired, or held by processes that are gone). When it was atomic, a service
/// failed and others had moved, its undo never finished: it is finished now — the services
/// that moved go back to what they ran before, under the dead run's locks — and that is
/// this run's result (exit 5). Otherwise it is closed as interrupted and None is returned:
/// the promotion then runs as usual, leaving alone what already runs the release and
/// resuming each service's unfinished deployment.
async fn finish_dead_promotion(
    ctx: &Context<'_>,
    ledger: &Arc<Ledger>,
    config: &ferry_core::config::Config,
    to: &project::Connected,
    input: &PromoteInput,
    atomic: bool,
    run_id: &str,
) -> Result<Option<PromoteResult>> {
    let promotions = ledger.promotions(None, 20).map_err(Error::from_store)?;
    let Some(mut dead) = promotions.into_iter().find(|p| p.to_environment == input.to && p.outcome == ferry_store::Outcome::InProgress)
    else {
        return Ok(None);
    };
    let now = now_ms();
    let mut records = Vec::new();
    for id in &dead.deployment_ids {
        let Some(record) = ledger.deployment(id).map_err(Error::from_store)? else { continue };
        if let Some(lock) = ledger.lock(&record.environment, &record.service).map_err(Error::from_store)?
            && !crate::journal::lock_is_dead(&lock, now)
        {
            // A live run carries it on: not ours to settle (its locks refuse this run).
            return Ok(None);
        }
        records.push(record);
    }
    use ferry_store::Outcome as Recorded;
    let failed: Vec<String> = records
        .iter()
        .filter(|r| matches!(r.outcome, Recorded::Failed | Recorded::FailedRolledBack | Recorded::FailedRollbackFailed))
        .map(|r| r.service.clone())
        .collect();
    // What moved, or may have: finished, or left in progress by the dead run (its UpdateService
    // or tag move may have happened). All of it goes back.
    let moved: Vec<&ferry_store::DeploymentRecord> =
        records.iter().filter(|r| matches!(r.outcome, Recorded::Succeeded | Recorded::InProgress)).collect();
    dead.finished_at = Some(now);
    if !atomic || failed.is_empty() || moved.is_empty() {
        // Services the dead run had finished keep its lock until now; the others' locks are
        // taken over as their deployments resume.
        for record in records.iter().filter(|r| r.outcome != Recorded::InProgress) {
            ledger.release_lock(&record.environment, &record.service, &record.id).map_err(Error::from_store)?;
        }
        dead.outcome = Recorded::Interrupted;
        dead.reason = Some(format!("interrupted: the run that started it is gone; {run_id} took over"));
        ledger.update_promotion(&dead).map_err(Error::from_store)?;
        return Ok(None);
    }
    let why = format!("the promotion {} is atomic and {} failed", dead.id, failed.join(", "));
    ctx.sink.note(None, &format!("finishing the undo of {}, which a dead run left unfinished: {why}", dead.id));
    let mut undo = Vec::new();
    for record in &moved {
        let trace = Trace { deployment_id: project::new_id("fd"), who: ctx.actor.who.clone(), commit: None, commit_message: None };
        let service = config.service(&record.service).map_err(Error::config)?;
        let mut request = match service.strategy() {
            // env-tag: the tag goes back to the digest it had, and ECS redeploys.
            Strategy::EnvTag => {
                let mut request = project::request(config, to, &record.service, record.from_version.clone(), None, input.timeout, trace)?;
                request.digest = record.from_digest.clone();
                request
            }
            // blue-green, canary, linear: back to the revision, whose retired service is scaled up again.
            Strategy::Rolling | Strategy::BlueGreen | Strategy::Canary | Strategy::Linear | Strategy::EcsNative => {
                let revision = record.from_task_definition.clone().unwrap_or_default();
                project::request(
                    config,
                    to,
                    &record.service,
                    None,
                    Some(ferry_core::deploy::Source::Revision(revision)),
                    input.timeout,
                    trace,
                )?
            }
        };
        request.kind = "rollback";
        // A rollback runs no hooks: it returns to what ran before.
        request.before_deploy = None;
        request.after_deploy = None;
        // Under the dead run's lock, which it held for the whole promotion.
        request.lock_owner = Some(record.id.clone());
        undo.push(request);
    }
    let locks = LedgerLocks { ledger: ledger.clone(), actor: ctx.actor.clone() };
    let journal = Journal::new(ledger.clone(), ctx.sink, run_id.to_string());
    let run = to.run(&locks, &journal);
    let mut reports = until_cancelled(&ctx.cancel, ledger, &undo, run_id, "promote", &to.ecs, run.deploy(&undo)).await?;
    let mut all_back = true;
    for (report, record) in reports.iter_mut().zip(&moved) {
        let mut moved_record = (*record).clone();
        moved_record.finished_at = Some(now_ms());
        if report.outcome == Outcome::Succeeded {
            report.outcome = Outcome::FailedRolledBack;
            report.reason = Some(format!("deployed, then rolled back: {why}"));
            moved_record.outcome = Recorded::FailedRolledBack;
        } else {
            all_back = false;
            report.outcome = Outcome::RollbackFailed;
            report.reason = Some(format!("deployed, but rolling it back ({why}) failed: {}", report.reason.clone().unwrap_or_default()));
            moved_record.outcome = Recorded::FailedRollbackFailed;
        }
        moved_record.reason = report.reason.clone();
        ledger.update_deployment(&moved_record).map_err(Error::from_store)?;
    }
    // An undo the dead run had started is superseded by this one.
    for record in &moved {
        if let Some(mut started) = ledger.deployment(&format!("{}-undo", record.id)).map_err(Error::from_store)?
            && started.outcome == Recorded::InProgress
        {
            started.outcome = Recorded::Interrupted;
            started.finished_at = Some(now_ms());
            started.reason = Some(format!("interrupted: the run that started it is gone; {run_id} finished the undo"));
            ledger.update_deployment(&started).map_err(Error::from_store)?;
        }
    }
    // The failed services' locks, held by the dead run until its undo was done.
    for record in records.iter().filter(|r| failed.contains(&r.service)) {
        ledger.release_lock(&record.environment, &record.service, &record.id).map_err(Error::from_store)?;
    }
    dead.outcome = if all_back { Recorded::FailedRolledBack } else { Recorded::FailedRollbackFailed };
    dead.reason = Some(why);
    ledger.update_promotion(&dead).map_err(Error::from_store)?;
    Ok(Some(PromoteResult::Ran(RunResult { command: "promote", run_id: run_id.to_string(), services: reports })))
}

/// The plan, one entry per service of the release, from what runs in TO (`current`) and
/// what preflight found for each service that moves (`planned`, in `requests`' order).
fn plan_of(entries: &[ReleaseEntry], current: &[Running], requests: &[Request], planned: &[ServiceReport]) -> Vec<PlannedService> {
    entries
        .iter()
        .map(|entry| {
            let now = current.iter().find(|c| c.entry.service == entry.service);
            let mut line = PlannedService {
                service: entry.service.clone(),
                action: "unchanged",
                from_version: now.and_then(|c| c.entry.version.clone()),
                to_version: entry.version.clone(),
                from_digest: now.map(|c| c.entry.digest.clone()),
                to_digest: entry.digest.clone(),
                ..PlannedService::default()
            };
            let Some((request, report)) = requests.iter().zip(planned).find(|(r, _)| r.service == entry.service) else {
                line.revision = "unchanged".into();
                return line;
            };
            line.from_revision = report.from_task_definition.as_deref().map(|arn| short_task_definition(arn).to_string());
            line.to_revision = report.to_task_definition.as_deref().map(|arn| short_task_definition(arn).to_string());
            line.changes = report.changes.len();
            let from = line.from_revision.clone().unwrap_or_else(|| "?".into());
            line.revision = match (request.strategy, &line.to_revision) {
                (_, Some(to)) => format!("{from} → {to}"),
                (Strategy::EnvTag, None) => format!("{from}, same revision (moves its image tag, forces a deployment)"),
                (Strategy::Rolling | Strategy::BlueGreen | Strategy::Canary | Strategy::Linear | Strategy::EcsNative, None) => format!(
                    "{from} → new revision{}",
                    match line.changes {
                        0 => String::new(),
                        1 => " (1 change)".into(),
                        n => format!(" ({n} changes)"),
                    }
                ),
            };
            if report.outcome == Outcome::Planned {
                line.action = "deploy";
            } else {
                line.action = "refused";
                line.reason = report.reason.clone();
            }
            line
        })
        .collect()
}

/// The dry run's verdicts: soak (`soak`: the gate's refusal if any, and where each service's
/// clock started) and approval as the real run would judge them, and the kind the promotion
/// would end with.
fn dry_run(
    input: &PromoteInput,
    plan: PromotionPlan,
    preflight: Vec<ServiceReport>,
    (soak_refusal, healthy_since): (Option<String>, Vec<HealthySince>),
    approval: bool,
    approvers: &[String],
    who: &str,
) -> DryRun {
    // (the verdict when it passes, the refusal when it does not)
    let (approval_passed, approval_refusal) = match (approval, input.approve) {
        (false, _) => ("not needed".to_string(), None),
        (true, true) => match check_approval(true, approvers, &input.to, &Approval::Flag(who.to_string())) {
            Ok(_) => (format!("--approve as {who}"), None),
            Err(refusal) => (String::new(), Some(refusal.message)),
        },
        (true, false) => (
            format!(
                "needed: a terminal asks, or --approve{}",
                if approvers.is_empty() { String::new() } else { format!(" as one of: {}", approvers.join(", ")) }
            ),
            None,
        ),
    };
    let kind_of_preflight = preflight.iter().map(ServiceReport::exit_kind).fold(ExitKind::Ok, ExitKind::worst);
    let verdict = |passed: String, refusal: &Option<String>| match refusal {
        None => passed,
        Some(e) => format!("would refuse: {e}"),
    };
    let gates =
        Gates { soak: verdict("passed".to_string(), &soak_refusal), approval: verdict(approval_passed, &approval_refusal), healthy_since };
    let refusal = soak_refusal.or(approval_refusal);
    let kind = match (&refusal, kind_of_preflight) {
        (Some(_), _) => ExitKind::PreflightRefused,
        (None, kind) => kind,
    };
    DryRun {
        release: plan.release,
        release_recorded: true,
        from: plan.from,
        to: plan.to,
        plan: plan.services,
        gates,
        kind,
        refusal,
        preflight,
    }
}

/// The ledger for a dry run, which must write nothing: the real one when it exists (only
/// read; a shared one always exists), else an empty one in a scratch directory, removed when
/// the run ends — opening the real path would create it.
async fn open_ledger_to_read(project: &Project, sink: &dyn EventSink) -> Result<(Arc<Ledger>, Option<Scratch>)> {
    let location = project::ledger_location(project)?;
    let exists = match &location {
        project::LedgerLocation::Sqlite(path) => path.exists(),
        project::LedgerLocation::Dynamodb { .. } => true,
    };
    if exists {
        return Ok((project::open_ledger_at(location, sink).await?, None));
    }
    let dir = std::env::temp_dir().join(format!("ferry-dry-run-{}", project::new_id("ledger")));
    let scratch = Scratch(dir.clone());
    let path = dir.join("ledger.sqlite");
    let ledger =
        Ledger::open(&path).map_err(|e| Error::ledger_at(format!("cannot open a scratch ledger in {}: {e}", dir.display()), &path, e))?;
    Ok((Arc::new(ledger), Some(scratch)))
}

/// A directory removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rejected_text(id: &str, rejection: &Rejection) -> String {
    format!(
        "release {id} was rejected by {} at {}: {}; it can never be promoted",
        rejection.by,
        ferry_store::format_rfc3339(rejection.at),
        rejection.reason
    )
}
