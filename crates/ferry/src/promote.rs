//! `ferry promote FROM TO`: ship the release running healthy in FROM to TO — exactly its
//! digests — behind TO's gates (promotion chain, rejected releases, soak time, approval),
//! all services in parallel, all or nothing when atomic.

use std::io::{BufRead, IsTerminal, Write};

use ferry_core::ExitKind;
use ferry_core::deploy::{Outcome, Run, Trace};
use ferry_core::promote::{Approval, Candidate, check_approval, check_soak};
use ferry_store::Promotion;

use crate::Failure;
use crate::cli::{GlobalArgs, PromoteArgs};
use crate::output::{Printer, now_ms, short_digest};
use crate::project::{self, Journal, LedgerLocks, SystemClock};

pub async fn run(global: &GlobalArgs, args: PromoteArgs) -> Result<(), Failure> {
    let config = project::load_config(global)?;
    config.environment(&args.from).map_err(Failure::input)?;
    let to_env = config.environment(&args.to).map_err(Failure::input)?;
    if args.from == args.to {
        return Err(Failure::input("FROM and TO are the same environment"));
    }
    if let Some(expected) = &to_env.promote_from
        && expected != &args.from
    {
        return Err(Failure::new(ExitKind::PreflightRefused, format!("{} is promoted from {expected}, not from {}", args.to, args.from)));
    }
    let services: Vec<String> = if args.services.is_empty() { config.services.keys().cloned().collect() } else { args.services.clone() };
    for s in &services {
        config.service(s).map_err(Failure::input)?;
    }
    let printer = Printer::new(global);
    let ledger = project::open_ledger(global)?;
    let who = project::who();
    let refuse = |message: String| Failure::new(ExitKind::PreflightRefused, message);

    // The release: what runs, healthy, in FROM.
    let from = project::connect(&config, &args.from, global.endpoint_url.as_deref()).await?;
    let running = crate::release::running(&config, &from, &services).await?;
    if let Some(why) = running.iter().find_map(|r| r.unhealthy.clone()) {
        return Err(refuse(format!("only what runs healthy is promoted: {why}")));
    }
    let (commit, commit_message) = project::git_commit(&config.root);
    let release = ledger
        .create_release(running.iter().map(|r| r.entry.clone()).collect(), &who, &format!("env:{}", args.from), &commit.iter().cloned().collect::<Vec<_>>(), now_ms())
        .map_err(store_failure)?;
    if let Some(rejection) = &release.rejected {
        return Err(refuse(format!(
            "release {} was rejected by {} at {}: {}; it can never be promoted",
            release.id,
            rejection.by,
            ferry_store::format_rfc3339(rejection.at),
            rejection.reason
        )));
    }
    // A part of a rejected release is rejected too: `--services` cannot sneak it through.
    let rejected = ledger.releases(10_000).map_err(store_failure)?;
    if let Some(whole) = rejected.iter().filter(|r| r.id != release.id).find(|r| {
        r.rejected.is_some() && release.entries.iter().all(|e| r.entries.iter().any(|x| x.service == e.service && x.digest == e.digest))
    }) {
        let rejection = whole.rejected.as_ref().map(|x| format!("{}: {}", x.by, x.reason)).unwrap_or_default();
        return Err(refuse(format!("these digests are part of release {}, which was rejected ({rejection})", whole.id)));
    }
    printer.note(None, &format!(
        "release {}: {}",
        release.id,
        release.entries.iter().map(|e| format!("{}={} ({})", e.service, e.version.as_deref().unwrap_or("?"), short_digest(&e.digest))).collect::<Vec<_>>().join(", ")
    ));

    // Gates: soak, then approval.
    let candidates: Vec<Candidate> = release
        .entries
        .iter()
        .map(|e| {
            let since = ledger.healthy_since(&args.from, &e.service, &e.digest).map_err(|err| Failure::ledger(err.to_string()))?;
            Ok(Candidate { service: e.service.clone(), digest: e.digest.clone(), healthy_since: since })
        })
        .collect::<Result<_, Failure>>()?;
    check_soak(to_env.soak, &args.from, &candidates, now_ms()).map_err(refuse)?;
    let approval = if args.approve {
        Approval::Flag(who.clone())
    } else if to_env.approval && std::io::stdin().is_terminal() && !printer.json() {
        ask(&format!("Promote release {} from {} to {}?", release.id, args.from, args.to), &who)
    } else {
        Approval::Missing
    };
    let approved_by = check_approval(to_env.approval, &to_env.approvers, &args.to, &approval).map_err(refuse)?;

    // Deploy exactly the release's digests.
    let to = project::connect(&config, &args.to, global.endpoint_url.as_deref()).await?;
    let run_id = project::new_id("promo");
    // A service already running its release digest, healthy, is left alone: promoting the
    // same release twice changes nothing.
    let current = crate::release::running(&config, &to, &services).await?;
    let mut requests = Vec::new();
    for entry in &release.entries {
        if current.iter().any(|c| c.entry.service == entry.service && c.entry.digest == entry.digest && c.unhealthy.is_none()) {
            printer.note(Some(&entry.service), &format!("already runs {} in {}", short_digest(&entry.digest), args.to));
            continue;
        }
        let trace = Trace { deployment_id: project::new_id("fd"), who: who.clone(), commit: commit.clone(), commit_message: commit_message.clone() };
        let mut request = project::request(&config, &to, &entry.service, entry.version.clone(), None, args.timeout, trace)?;
        request.digest = Some(entry.digest.clone());
        request.kind = "promote";
        requests.push(request);
    }
    let promotion = Promotion {
        id: run_id.clone(),
        release_id: release.id.clone(),
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
    if requests.is_empty() {
        // Nothing to do is still a result: JSON consumers always get the last line.
        if printer.json() {
            return crate::deploy::finish(&printer, &run_id, "promote", &[]);
        }
        printer.out(&format!("{} already runs release {}: nothing to promote", args.to, release.id));
        return Ok(());
    }
    ledger.insert_promotion(&promotion).map_err(store_failure)?;
    let atomic = args.atomic || (to_env.atomic && !args.no_atomic);
    printer.note(None, &format!(
        "promoting {} to {}{}{}",
        release.id,
        args.to,
        if atomic { " (atomic)" } else { "" },
        approved_by.as_ref().map(|a| format!(", approved by {a}")).unwrap_or_default()
    ));

    let locks = LedgerLocks { ledger: ledger.clone(), who };
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
            return Err(failure);
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
    finished.reason = reports.iter().filter(|r| r.outcome != Outcome::Succeeded).map(|r| format!("{}: {}", r.service, r.reason.as_deref().unwrap_or(""))).reduce(|a, b| format!("{a}; {b}"));
    if let Err(e) = ledger.update_promotion(&finished) {
        printer.note(None, &format!("warning: cannot record the promotion's end: {e}"));
    }
    crate::deploy::finish(&printer, &run_id, "promote", &reports)
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
