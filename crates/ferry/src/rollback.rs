//! `ferry rollback ENV SERVICE [--to VERSION|REVISION]`: put a service back on an earlier
//! revision, watched exactly like a deploy (and rolled forward again if that fails).
//!
//! The target is, in order: the revision or version given with `--to`; else the last
//! successful deploy in the ledger that is not what runs now; else the newest earlier
//! revision ferry tagged with a different version (for when the ledger is on another machine).

use ferry_core::config::Strategy;
use ferry_core::deploy::{Run, Source, Trace};
use ferry_core::platform::{Ecs, Registry, TaskDefinitionInfo};
use ferry_core::rolling::short_task_definition;

use crate::Failure;
use crate::cli::{GlobalArgs, RollbackArgs};
use crate::output::{Printer, short_digest};
use crate::project::{self, Connected, Journal, LedgerLocks, SystemClock};

/// How many revisions to read back when looking for a version by its tags.
const REVISIONS_TO_SEARCH: usize = 50;

pub async fn run(global: &GlobalArgs, args: RollbackArgs) -> Result<(), Failure> {
    let config = project::load_config(global)?;
    config.service(&args.service).map_err(Failure::input)?;
    let connected = project::connect(&config, &args.environment, global.endpoint_url.as_deref()).await?;
    let ledger = project::open_ledger(global)?;
    let printer = Printer::new(global);
    let env = config.environment(&args.environment).map_err(Failure::input)?;
    let ecs_service = config.ecs_service_name(&args.environment, &args.service).map_err(Failure::input)?;
    let services = connected
        .ecs
        .describe_services(&env.cluster, std::slice::from_ref(&ecs_service))
        .await
        .map_err(|e| Failure::platform(e.to_string()))?;
    let current = services.first().ok_or_else(|| {
        Failure::new(
            ferry_core::ExitKind::PreflightRefused,
            format!("service {ecs_service} not found in cluster {} ({})", env.cluster, connected.location(&config, None)),
        )
    })?;
    let running = connected.ecs.describe_task_definition(&current.task_definition).await.map_err(|e| Failure::platform(e.to_string()))?;

    let who = project::who();
    let (commit, commit_message) = project::git_commit(&config.root);
    let run_id = project::new_id("run");
    let trace = Trace { deployment_id: project::new_id("fd"), who: who.clone(), commit, commit_message };
    let service = config.service(&args.service).map_err(Failure::input)?;
    if service.strategy() == Strategy::EnvTag {
        // env-tag: the revision never changes; rolling back moves the tag to an earlier digest.
        let (digest, version, how) = env_tag_target(&config, &connected, &ledger, &args).await?;
        printer.note(Some(&args.service), &format!("rolling back to {} ({how})", short_digest(&digest)));
        let mut request = project::request(&config, &connected, &args.service, version, None, args.timeout, trace)?;
        request.kind = "rollback";
        request.digest = Some(digest);
        return execute(&printer, ledger, who, &connected, run_id, request).await;
    }
    let (target, how) = match &args.to {
        Some(to) => (resolve_to(&connected, &ledger, &args, &running, to).await?, format!("--to {to}")),
        None => match previous_good(&recent_history(&ledger, &args)?, |r| r.to_task_definition.as_deref() == Some(running.arn.as_str()))
            .cloned()
        {
            Some(record) => (record.to_task_definition.unwrap_or_default(), format!("the good deploy before it ({})", record.id)),
            None => {
                let previous = by_tags(&connected, &running, |td| {
                    td.revision < running.revision
                        && td.tag("ferry:version").is_some()
                        && td.tag("ferry:version") != running.tag("ferry:version")
                })
                .await?;
                (previous.ok_or_else(|| Failure::new(
                    ferry_core::ExitKind::PreflightRefused,
                    format!("no earlier version of {} to roll back to: the ledger has no earlier successful deploy and no earlier revision carries a ferry:version tag (use --to REVISION)", args.service),
                ))?, "the newest earlier revision tagged by ferry".to_string())
            }
        },
    };
    if target == running.arn {
        return Err(Failure::new(
            ferry_core::ExitKind::PreflightRefused,
            format!("{} already runs {}", args.service, short_task_definition(&target)),
        ));
    }
    printer.note(
        Some(&args.service),
        &format!("rolling back from {} to {} ({how})", short_task_definition(&running.arn), short_task_definition(&target)),
    );
    let mut request = project::request(&config, &connected, &args.service, None, Some(Source::Revision(target)), args.timeout, trace)?;
    request.kind = "rollback";
    execute(&printer, ledger, who, &connected, run_id, request).await
}

/// Runs the rollback like a deploy, watched the same way.
async fn execute(
    printer: &Printer,
    ledger: std::sync::Arc<ferry_store::Ledger>,
    who: String,
    connected: &Connected,
    run_id: String,
    request: ferry_core::deploy::Request,
) -> Result<(), Failure> {
    let locks = LedgerLocks { ledger: ledger.clone(), who };
    let journal = Journal::new(ledger, printer, run_id.clone());
    let run = Run { ecs: &connected.ecs, registry: &connected.registry, clock: &SystemClock, locks: &locks, observer: &journal };
    let reports = tokio::select! {
        reports = run.deploy(std::slice::from_ref(&request)) => reports,
        _ = tokio::signal::ctrl_c() => {
            printer.close();
            return Err(crate::deploy::interrupted(&journal, std::slice::from_ref(&request), printer, &run_id, "rollback"));
        }
    };
    crate::deploy::finish(printer, &run_id, "rollback", &reports)
}

/// The digest an env-tag service goes back to: `--to VERSION` (the ledger's record of it,
/// else the registry), or the newest successful deploy of another digest than the tag's now.
async fn env_tag_target(
    config: &ferry_core::config::Config,
    connected: &Connected,
    ledger: &ferry_store::Ledger,
    args: &RollbackArgs,
) -> Result<(String, Option<String>, String), Failure> {
    let service = config.service(&args.service).map_err(Failure::input)?;
    let repository = service.repository_name();
    let tag = config
        .image_tag(&args.environment, service)
        .map_err(Failure::input)?
        .ok_or_else(|| Failure::internal("an env-tag service always has an environment tag"))?;
    let refuse = |m: String| Failure::new(ferry_core::ExitKind::PreflightRefused, m);
    let current = connected
        .registry
        .resolve(repository, &tag)
        .await
        .map_err(|e| Failure::platform(e.to_string()))?
        .ok_or_else(|| refuse(format!("the environment tag {repository}:{tag} does not exist")))?
        .digest;
    let (digest, version, how) = match &args.to {
        Some(to) => {
            let recorded =
                ledger.succeeded_with_version(&args.environment, &args.service, to).map_err(|e| Failure::ledger(e.to_string()))?;
            match recorded.and_then(|r| r.to_digest) {
                Some(digest) => (digest, Some(to.clone()), format!("--to {to}, from the ledger")),
                None => {
                    let image =
                        connected.registry.resolve(repository, to).await.map_err(|e| Failure::platform(e.to_string()))?.ok_or_else(
                            || refuse(format!("version {to} of {} is neither in the ledger nor in the registry", args.service)),
                        )?;
                    (image.digest, Some(to.clone()), format!("--to {to}, from the registry"))
                }
            }
        }
        None => {
            let history = recent_history(ledger, args)?;
            let previous = previous_good(&history, |r| r.to_digest.as_deref() == Some(current.as_str()))
                .cloned()
                .ok_or_else(|| refuse(format!("no earlier digest of {} in the ledger to roll back to (use --to VERSION)", args.service)))?;
            let how = format!("the good deploy before it ({})", previous.id);
            (previous.to_digest.unwrap_or_default(), previous.to_version, how)
        }
    };
    if digest == current {
        return Err(refuse(format!("{repository}:{tag} already points at {}", short_digest(&digest))));
    }
    Ok((digest, version, how))
}

/// `--to`: a revision number, `family:N`, an ARN, or a version (ledger first, then tags).
async fn resolve_to(
    connected: &Connected,
    ledger: &ferry_store::Ledger,
    args: &RollbackArgs,
    running: &TaskDefinitionInfo,
    to: &str,
) -> Result<String, Failure> {
    if to.starts_with("arn:") {
        return Ok(to.to_string());
    }
    if let Some((family, revision)) = to.rsplit_once(':')
        && revision.chars().all(|c| c.is_ascii_digit())
        && family == running.family
    {
        return Ok(to.to_string());
    }
    if let Some(record) = ledger.succeeded_with_version(&args.environment, &args.service, to).map_err(|e| Failure::ledger(e.to_string()))?
        && let Some(td) = record.to_task_definition
    {
        return Ok(td);
    }
    if let Some(td) = by_tags(connected, running, |td| td.tag("ferry:version") == Some(to)).await? {
        return Ok(td);
    }
    // A bare number that is no version (build numbers are versions too): a revision.
    if to.chars().all(|c| c.is_ascii_digit()) {
        return Ok(format!("{}:{to}", running.family));
    }
    Err(Failure::new(
        ferry_core::ExitKind::PreflightRefused,
        format!(
            "version {to} of {} is neither in the ledger nor on any of the last {REVISIONS_TO_SEARCH} revisions of {}",
            args.service, running.family
        ),
    ))
}

/// The good deploy before the one that put `is_current` in place: rolling back from a
/// version goes to what ran before it, and rolling back twice does not go forward again.
/// Rollbacks themselves are not candidates; when what runs was not deployed by ferry, the
/// newest good deploy of something else is.
fn previous_good(
    history: &[ferry_store::DeploymentRecord],
    is_current: impl Fn(&ferry_store::DeploymentRecord) -> bool,
) -> Option<&ferry_store::DeploymentRecord> {
    let good = |r: &&ferry_store::DeploymentRecord| r.outcome == ferry_store::Outcome::Succeeded && r.kind != "rollback";
    let start = history.iter().position(|r| good(&r) && is_current(r)).map(|i| i + 1).unwrap_or(0);
    history[start..].iter().filter(good).find(|r| !is_current(r))
}

fn recent_history(ledger: &ferry_store::Ledger, args: &RollbackArgs) -> Result<Vec<ferry_store::DeploymentRecord>, Failure> {
    let filter =
        ferry_store::HistoryFilter { environment: Some(args.environment.clone()), service: Some(args.service.clone()), limit: 500 };
    ledger.history(&filter).map_err(|e| Failure::ledger(e.to_string()))
}

async fn by_tags(
    connected: &Connected,
    running: &TaskDefinitionInfo,
    wanted: impl Fn(&TaskDefinitionInfo) -> bool,
) -> Result<Option<String>, Failure> {
    let revisions =
        connected.ecs.recent_revisions(&running.family, REVISIONS_TO_SEARCH).await.map_err(|e| Failure::platform(e.to_string()))?;
    Ok(revisions.into_iter().find(|td| td.arn != running.arn && wanted(td)).map(|td| td.arn))
}
