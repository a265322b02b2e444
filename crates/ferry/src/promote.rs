//! `ferry promote FROM TO`: ship the release running healthy in FROM to TO — exactly its
//! digests — behind TO's gates (promotion chain, rejected releases, soak time, approval),
//! all services in parallel, all or nothing when atomic.
//!
//! Before anything changes, every service that would move is preflighted in TO and the plan
//! is shown: per service, the version, image digest and task definition revision TO runs and
//! the ones it will run. The approval question comes after the plan; `--dry-run` prints the
//! plan and the gates' verdicts and stops there, having written nothing anywhere.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use ferry_core::ExitKind;
use ferry_core::config::Strategy;
use ferry_core::deploy::{Event, Observer, Outcome, Request, Run, ServiceReport, Trace};
use ferry_core::promote::{Approval, Candidate, check_approval, check_chain, check_soak};
use ferry_core::rolling::short_task_definition;
use ferry_store::{Ledger, Promotion, Rejection, ReleaseEntry};
use serde::Serialize;

use crate::Failure;
use crate::cli::{GlobalArgs, PromoteArgs};
use crate::output::{Printer, now_ms, short_digest, table};
use crate::project::{self, Journal, LedgerLocks, SystemClock};

/// How a promotion ended badly: with its result object printed (the run's summary, a dry
/// run's plan), or before it had one to print.
enum Ended {
    Reported(Failure),
    Unreported(Failure),
}

impl From<Failure> for Ended {
    fn from(failure: Failure) -> Self {
        Ended::Unreported(failure)
    }
}

pub async fn run(global: &GlobalArgs, args: PromoteArgs) -> Result<(), Failure> {
    match promote(global, args).await {
        Ok(()) => Ok(()),
        Err(Ended::Reported(failure)) => Err(failure),
        // A refusal before any plan or run (the chain, health in FROM, a rejected release,
        // soak, approval) still ends `--output json` with a result object.
        Err(Ended::Unreported(failure)) => {
            crate::output::failure_result(global, "promote", &failure);
            Err(failure)
        }
    }
}

async fn promote(global: &GlobalArgs, args: PromoteArgs) -> Result<(), Ended> {
    let config = project::load_config(global)?;
    config.environment(&args.from).map_err(Failure::input)?;
    let to_env = config.environment(&args.to).map_err(Failure::input)?;
    if args.from == args.to {
        return Err(Failure::input(format!(
            "FROM and TO are both {}: a promotion moves a release from one environment to another",
            args.to
        ))
        .into());
    }
    let refuse = |message: String| Failure::new(ExitKind::PreflightRefused, message);
    // The chain is TO's first gate, decided from the config alone: no call, no ledger.
    check_chain(|env| config.environments.get(env).and_then(|e| e.promote_from.clone()), &args.from, &args.to).map_err(refuse)?;
    let services: Vec<String> = if args.services.is_empty() { config.services.keys().cloned().collect() } else { args.services.clone() };
    for s in &services {
        config.service(s).map_err(Failure::input)?;
    }
    let printer = Printer::new(global);
    let (ledger, _scratch) = if args.dry_run { open_ledger_to_read(global)? } else { (project::open_ledger(global)?, None) };
    let who = project::who();

    // The release: what runs, healthy, in FROM.
    let from = project::connect(&config, &args.from, global.endpoint_url.as_deref()).await?;
    let running = crate::release::running(&config, &from, &services).await?;
    if let Some(why) = running.iter().find_map(|r| r.unhealthy.clone()) {
        return Err(refuse(format!("only what runs healthy is promoted: {why}")).into());
    }
    let (commit, commit_message) = project::git_commit(&config.root);
    let entries: Vec<ReleaseEntry> = running.iter().map(|r| r.entry.clone()).collect();
    // A dry run records nothing: it names the release the promotion would record, and finds
    // it (with any rejection) if it was recorded before.
    let (release_id, release_entries, rejected) = if args.dry_run {
        let (id, sorted) = ferry_store::release_of(entries).map_err(store_failure)?;
        let known = ledger.release(&id).map_err(store_failure)?;
        (id, sorted, known.and_then(|r| r.rejected))
    } else {
        let release = ledger
            .create_release(entries, &who, &format!("env:{}", args.from), &commit.iter().cloned().collect::<Vec<_>>(), now_ms())
            .map_err(store_failure)?;
        (release.id, release.entries, release.rejected)
    };
    if let Some(rejection) = &rejected {
        return Err(refuse(rejected_text(&release_id, rejection)).into());
    }
    // A part of a rejected release is rejected too: `--services` cannot sneak it through.
    let recorded = ledger.releases(10_000).map_err(store_failure)?;
    if let Some(whole) = recorded.iter().filter(|r| r.id != release_id).find(|r| {
        r.rejected.is_some() && release_entries.iter().all(|e| r.entries.iter().any(|x| x.service == e.service && x.digest == e.digest))
    }) {
        let rejection = whole.rejected.as_ref().map(|x| format!("{}: {}", x.by, x.reason)).unwrap_or_default();
        return Err(refuse(format!("these digests are part of release {}, which was rejected ({rejection})", whole.id)).into());
    }

    // The soak gate's verdict (refused below, after the plan for a dry run).
    let candidates: Vec<Candidate> = release_entries
        .iter()
        .map(|e| {
            let since = ledger.healthy_since(&args.from, &e.service, &e.digest).map_err(|err| Failure::ledger(err.to_string()))?;
            Ok(Candidate { service: e.service.clone(), digest: e.digest.clone(), healthy_since: since })
        })
        .collect::<Result<_, Failure>>()?;
    let soak = check_soak(to_env.soak, &args.from, &candidates, now_ms());
    if !args.dry_run {
        soak.clone().map_err(refuse)?;
    }

    // The plan: what runs in TO, and what each service that moves will run.
    let to = project::connect(&config, &args.to, global.endpoint_url.as_deref()).await?;
    let run_id = project::new_id("promo");
    // A service already running its release digest, healthy, is left alone: promoting the
    // same release twice changes nothing.
    let current = crate::release::running(&config, &to, &services).await?;
    let mut requests = Vec::new();
    for entry in &release_entries {
        if current.iter().any(|c| c.entry.service == entry.service && c.entry.digest == entry.digest && c.unhealthy.is_none()) {
            continue;
        }
        let trace = Trace {
            deployment_id: project::new_id("fd"),
            who: who.clone(),
            commit: commit.clone(),
            commit_message: commit_message.clone(),
        };
        let mut request = project::request(&config, &to, &entry.service, entry.version.clone(), None, args.timeout, trace)?;
        request.digest = Some(entry.digest.clone());
        request.kind = "promote";
        requests.push(request);
    }
    let locks = LedgerLocks { ledger: ledger.clone(), who: who.clone() };
    // Preflight only, seen by no one: no line printed, nothing journaled, no lock taken.
    let planned = Run { ecs: &to.ecs, registry: &to.registry, clock: &SystemClock, locks: &locks, observer: &Unseen }.plan(&requests).await;
    let plan = plan_of(&release_entries, &current, &requests, &planned);

    if args.dry_run {
        return dry_run_result(&printer, &args, &release_id, &plan, &planned, &soak, to_env.approval, &to_env.approvers, &who)
            .map_err(Ended::Reported);
    }
    if requests.is_empty() {
        // Nothing to do is still a result: JSON consumers always get the last line.
        if printer.json() {
            return crate::deploy::finish(&printer, &run_id, "promote", &[]).map_err(Ended::Reported);
        }
        printer.out(&format!("{} already runs release {release_id}: nothing to promote", args.to));
        return Ok(());
    }
    show_plan(&printer, &args, &release_id, &plan);
    if planned.iter().any(|r| r.outcome != Outcome::Planned) {
        // A service that fails preflight would stop the whole promotion: say so now,
        // before anyone is asked to approve it.
        return crate::deploy::finish(&printer, &run_id, "promote", &planned).map_err(Ended::Reported);
    }

    let approval = if args.approve {
        Approval::Flag(who.clone())
    } else if to_env.approval && std::io::stdin().is_terminal() && !printer.json() {
        ask(&format!("Promote release {release_id} from {} to {} as planned above?", args.from, args.to), &who)
    } else {
        Approval::Missing
    };
    let approved_by = check_approval(to_env.approval, &to_env.approvers, &args.to, &approval).map_err(refuse)?;

    let promotion = Promotion {
        id: run_id.clone(),
        release_id: release_id.clone(),
        from_environment: args.from.clone(),
        to_environment: args.to.clone(),
        services: services.clone(),
        approved_by: approved_by.clone(),
        who: who.clone(),
        started_at: now_ms(),
        finished_at: None,
        outcome: ferry_store::Outcome::InProgress,
        reason: None,
        deployment_ids: requests.iter().map(|r| r.trace.deployment_id.clone()).collect(),
    };
    ledger.insert_promotion(&promotion).map_err(store_failure)?;
    let atomic = args.atomic || (to_env.atomic && !args.no_atomic);
    printer.note(
        None,
        &format!(
            "promoting {release_id} to {}{}{}",
            args.to,
            if atomic { " (atomic)" } else { "" },
            approved_by.as_ref().map(|a| format!(", approved by {a}")).unwrap_or_default()
        ),
    );

    let journal = Journal::new(ledger.clone(), &printer, run_id.clone());
    let run = Run { ecs: &to.ecs, registry: &to.registry, clock: &SystemClock, locks: &locks, observer: &journal };
    let reports = tokio::select! {
        reports = run.promote(&requests, atomic) => reports,
        _ = tokio::signal::ctrl_c() => {
            printer.close();
            let failure = crate::deploy::interrupted(&journal, &requests, &printer, &run_id, "promote");
            let mut stopped = promotion;
            stopped.finished_at = Some(now_ms());
            stopped.outcome = ferry_store::Outcome::Interrupted;
            stopped.reason = Some(failure.message.clone());
            let _ = ledger.update_promotion(&stopped);
            return Err(Ended::Reported(failure));
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
        printer.note(None, &format!("warning: cannot record the promotion's end: {e}"));
    }
    crate::deploy::finish(&printer, &run_id, "promote", &reports).map_err(Ended::Reported)
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

/// The plan, one entry per service of the release, from what runs in TO (`current`) and
/// what preflight found for each service that moves (`planned`, in `requests`' order).
fn plan_of(
    entries: &[ReleaseEntry],
    current: &[crate::release::Running],
    requests: &[Request],
    planned: &[ServiceReport],
) -> Vec<PlannedService> {
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
                (Strategy::Rolling, None) => format!(
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

/// The plan as a table: per service, version, digest and revision, each from → to.
pub fn plan_table(plan: &[PlannedService]) -> String {
    let arrow = |from: Option<&str>, to: &str| match from {
        Some(from) if from == to => format!("{to} (unchanged)"),
        Some(from) => format!("{from} → {to}"),
        None => format!("? → {to}"),
    };
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|p| {
            let to_version = p.to_version.clone().unwrap_or_else(|| "?".into());
            vec![
                p.service.clone(),
                arrow(p.from_version.as_deref(), &to_version),
                arrow(p.from_digest.as_deref().map(short_digest).as_deref(), &short_digest(&p.to_digest)),
                p.revision.clone(),
            ]
        })
        .collect();
    let mut text = table(&["SERVICE", "VERSION", "DIGEST", "REVISION"], &rows);
    for p in plan.iter().filter(|p| p.action == "refused") {
        text.push_str(&format!("\n{}: refused: {}", p.service, p.reason.as_deref().unwrap_or("preflight failed")));
    }
    text
}

/// Shows the plan before any change (and before the approval question): on stderr for a
/// person, as a `plan` line in JSON.
fn show_plan(printer: &Printer, args: &PromoteArgs, release_id: &str, plan: &[PlannedService]) {
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "plan", "release": release_id, "from": args.from, "to": args.to, "services": plan}));
        return;
    }
    printer.block(&format!("release {release_id}, {} → {}:\n{}", args.from, args.to, plan_table(plan)));
}

/// `--dry-run`: the plan and the gates' verdicts, and nothing else. Exits as the promotion
/// would be decided: 4 when a gate or preflight would refuse it, else 0.
#[allow(clippy::too_many_arguments)]
fn dry_run_result(
    printer: &Printer,
    args: &PromoteArgs,
    release_id: &str,
    plan: &[PlannedService],
    planned: &[ServiceReport],
    soak: &Result<(), String>,
    approval: bool,
    approvers: &[String],
    who: &str,
) -> Result<(), Failure> {
    let approval_verdict: Result<String, String> = match (approval, args.approve) {
        (false, _) => Ok("not needed".into()),
        (true, true) => check_approval(true, approvers, &args.to, &Approval::Flag(who.to_string())).map(|_| format!("--approve as {who}")),
        (true, false) => Ok(format!(
            "needed: a terminal asks, or --approve{}",
            if approvers.is_empty() { String::new() } else { format!(" as one of: {}", approvers.join(", ")) }
        )),
    };
    let preflight = planned.iter().map(ServiceReport::exit_kind).fold(ExitKind::Ok, ExitKind::worst);
    let refusal = soak.clone().err().or_else(|| approval_verdict.clone().err());
    let kind = match (&refusal, preflight) {
        (Some(_), _) => ExitKind::PreflightRefused,
        (None, kind) => kind,
    };
    let verdict = |r: &Result<String, String>| match r {
        Ok(text) => text.clone(),
        Err(e) => format!("would refuse: {e}"),
    };
    let soak_verdict = soak.clone().map(|()| "passed".to_string());
    let to_deploy = plan.iter().filter(|p| p.action == "deploy").count();
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": "promote",
            "dry_run": true,
            "release": release_id,
            "from": args.from,
            "to": args.to,
            "plan": plan,
            "gates": {"soak": verdict(&soak_verdict), "approval": verdict(&approval_verdict)},
            "changed": false,
            "exit_code": kind.code(),
            "outcome": kind,
        }));
    } else {
        printer.out(&format!("release {release_id}, {} → {} (dry run: nothing changed):", args.from, args.to));
        printer.out(&plan_table(plan));
        printer.out(&format!("soak: {}", verdict(&soak_verdict)));
        printer.out(&format!("approval: {}", verdict(&approval_verdict)));
        printer.out(&match to_deploy {
            0 => format!("{} already runs release {release_id}: nothing to promote", args.to),
            n => format!("`ferry promote {} {}` would deploy {n} service{}", args.from, args.to, if n == 1 { "" } else { "s" }),
        });
    }
    match (kind, refusal) {
        (ExitKind::Ok, _) => Ok(()),
        (kind, Some(why)) => Err(Failure::new(kind, format!("dry run: the promotion would be refused: {why}"))),
        (kind, None) => Err(Failure::new(kind, format!("dry run: {}", crate::output::run_failure("promote", planned)))),
    }
}

/// The ledger for a dry run, which must write nothing: the real one when it exists (only
/// read), else an empty one in a scratch directory, removed when the run ends — opening the
/// real path would create it.
fn open_ledger_to_read(global: &GlobalArgs) -> Result<(Arc<Ledger>, Option<Scratch>), Failure> {
    let path = global.ledger.clone().unwrap_or_else(Ledger::default_path);
    if path.exists() {
        return Ok((project::open_ledger(global)?, None));
    }
    let dir = std::env::temp_dir().join(format!("ferry-dry-run-{}", project::new_id("ledger")));
    let scratch = Scratch(dir.clone());
    let ledger = Ledger::open(&dir.join("ledger.sqlite"))
        .map_err(|e| Failure::ledger(format!("cannot open a scratch ledger in {}: {e}", dir.display())))?;
    Ok((Arc::new(ledger), Some(scratch)))
}

/// A directory removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An observer for the plan's preflight: nothing printed (the plan is), nothing journaled.
struct Unseen;

impl Observer for Unseen {
    fn event(&self, _report: &ServiceReport, _event: &Event) {}
    fn record(&self, _report: &ServiceReport) {}
}

fn rejected_text(id: &str, rejection: &Rejection) -> String {
    format!(
        "release {id} was rejected by {} at {}: {}; it can never be promoted",
        rejection.by,
        ferry_store::format_rfc3339(rejection.at),
        rejection.reason
    )
}

/// A ledger error as the user sees it: a refusal when the ledger refused on the merits (a
/// rejected release), an internal error otherwise.
pub fn store_failure(e: ferry_store::StoreError) -> Failure {
    match e {
        ferry_store::StoreError::Invalid(message) => Failure::new(ExitKind::PreflightRefused, message),
        other => Failure::ledger(other.to_string()),
    }
}

/// Asks a yes/no question at the terminal; yes approves as `who`.
fn ask(question: &str, who: &str) -> Approval {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes") {
        Approval::Interactive(who.to_string())
    } else {
        Approval::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_prompt_shows_what_changes_per_service() {
        let plan = vec![
            PlannedService {
                service: "api".into(),
                action: "deploy",
                from_version: Some("1.0.0".into()),
                to_version: Some("1.1.0".into()),
                from_digest: Some("sha256:aaaaaaaaaaaaaaaaaaaa".into()),
                to_digest: "sha256:bbbbbbbbbbbbbbbbbbbb".into(),
                from_revision: Some("api:3".into()),
                revision: "api:3 → new revision (1 change)".into(),
                changes: 1,
                ..PlannedService::default()
            },
            PlannedService {
                service: "web".into(),
                action: "unchanged",
                from_version: Some("1.1.0".into()),
                to_version: Some("1.1.0".into()),
                from_digest: Some("sha256:bbbbbbbbbbbbbbbbbbbb".into()),
                to_digest: "sha256:bbbbbbbbbbbbbbbbbbbb".into(),
                revision: "unchanged".into(),
                ..PlannedService::default()
            },
            PlannedService {
                service: "worker".into(),
                action: "refused",
                from_version: Some("1.0.0".into()),
                to_version: Some("1.1.0".into()),
                from_digest: None,
                to_digest: "sha256:cccccccccccccccccccc".into(),
                revision: "worker:2 → new revision".into(),
                reason: Some("service worker not found in cluster stage".into()),
                ..PlannedService::default()
            },
        ];
        assert_eq!(
            plan_table(&plan),
            "SERVICE  VERSION            DIGEST                                     REVISION\n\
             api      1.0.0 → 1.1.0      sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb  api:3 → new revision (1 change)\n\
             web      1.1.0 (unchanged)  sha256:bbbbbbbbbbbb (unchanged)            unchanged\n\
             worker   1.0.0 → 1.1.0      ? → sha256:cccccccccccc                    worker:2 → new revision\n\
             worker: refused: service worker not found in cluster stage"
        );
    }
}
