//! Roll a service back to an earlier revision (or, for env-tag, an earlier digest), watched
//! exactly like a deploy (and rolled forward again if that fails).
//!
//! The target is, in order: the revision or version given with `to`; else the last
//! successful deploy in the ledger that is not what runs now; else the newest earlier
//! revision ferry tagged with a different version (for when the ledger is on another machine).

use std::sync::Arc;
use std::time::Duration;

use ferry_core::config::{Config, Strategy};
use ferry_core::deploy::{Family, Live, Request, Source, Trace, live_version};
use ferry_core::platform::{Ecs, Registry, TaskDefinitionInfo};
use ferry_core::rolling::short_task_definition;
use ferry_core::short_digest;
use ferry_store::{DeploymentRecord, HistoryFilter, Ledger};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::{Journal, LedgerLocks};
use crate::project::{self, Connected, Context};
use crate::run::{RunResult, until_cancelled};

/// How many revisions to read back when looking for a version by its tags.
pub const REVISIONS_TO_SEARCH: usize = 50;

/// What to roll back where.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RollbackInput {
    pub environment: String,
    pub service: String,
    /// A version (the ledger's, else a revision's `ferry:version` tag), a revision number,
    /// `family:N` or an ARN; None for the good deploy before what runs.
    pub to: Option<String>,
    /// How long to watch the rollback's deployment; None for the environment's `timeout`.
    pub timeout: Option<Duration>,
}

/// Chooses the target (said through the sink's note: from what, to what, why), then runs
/// it like a deploy. Errors: nothing to roll back to or already there (refused, exit 4),
/// the service missing (4), the platform or ledger (3, 8); interrupted (130), also while
/// the target is being chosen (then nothing was changed).
pub async fn rollback(ctx: &Context<'_>, input: RollbackInput) -> Result<RunResult> {
    if let Some(run) = roll_back_native_in_progress(ctx, &input).await? {
        return Ok(run);
    }
    let chosen = ctx.before_changes("rollback", choose(ctx, &input)).await?;
    execute(ctx, chosen.ledger, &chosen.connected, chosen.run_id, chosen.request).await
}

/// ecs-native: a deployment the ledger has in progress (detached, or left by a dead run)
/// whose ECS service deployment is under way — paused at a hook, or shifting — is rolled
/// back by ECS itself (StopServiceDeployment ROLLBACK: production traffic back to the
/// running version first), then followed to its end as `ferry watch` follows it. Rolled
/// back as asked is a success (exit 0, cause `requested`). None when there is no such
/// deployment: the rollback then chooses a target as usual.
async fn roll_back_native_in_progress(ctx: &Context<'_>, input: &RollbackInput) -> Result<Option<RunResult>> {
    let config = project::load_config(ctx.project)?;
    config.service(&input.service).map_err(Error::config)?;
    if config.strategy(&input.environment, &input.service) != Strategy::EcsNative || input.to.is_some() {
        return Ok(None);
    }
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    if ledger.unfinished(&input.environment, &input.service)?.is_none() {
        return Ok(None);
    }
    // A ferry run that follows it holds the lock.
    let hint = format!(
        "`ferry continue {} {} --rollback` rolls back a deployment paused at a hook without stopping that run",
        input.environment, input.service
    );
    refuse_while_locked(&ledger, input, &hint)?;
    let env = config.environment(&input.environment).map_err(Error::config)?;
    let ecs_service = config.ecs_service_name(&input.environment, &input.service).map_err(Error::config)?;
    let connected = project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref()).await?;
    if !connected.ecs.roll_back_in_progress(&env.cluster, &ecs_service).await? {
        return Ok(None);
    }
    ctx.sink.note(
        Some(&input.service),
        "rolling back ECS's deployment in progress (StopServiceDeployment ROLLBACK): production traffic goes back to the running version",
    );
    let watched = crate::watch::watch(
        ctx,
        crate::watch::WatchInput { environment: input.environment.clone(), service: input.service.clone(), timeout: input.timeout },
    )
    .await?;
    let crate::watch::Watched::Followed(deployed) = watched else { return Ok(None) };
    let mut run = deployed.run;
    run.command = "rollback";
    for report in &mut run.services {
        if report.outcome == ferry_core::deploy::Outcome::FailedRolledBack {
            report.cause = Some(ferry_core::rolling::FailureCause::Requested);
            // The ledger says so too: history shows it rolled back as asked.
            if let Some(mut record) = ledger.deployment(&report.deployment_id)? {
                record.cause = Some("requested".into());
                ledger.update_deployment(&record)?;
            }
        }
    }
    Ok(Some(run))
}

/// Exit 7 when a live run holds the service's lock: who holds it, since when, then `hint`.
fn refuse_while_locked(ledger: &Ledger, input: &RollbackInput, hint: &str) -> Result<()> {
    match ledger.lock(&input.environment, &input.service).map_err(Error::from_store)? {
        Some(lock) if !crate::journal::lock_is_dead(&lock, crate::journal::now_ms()) => {
            Err(Error::new(ferry_core::ExitKind::LockHeld, format!("{}; {hint}", ferry_store::StoreError::LockHeld(Box::new(lock)))))
        }
        _ => Ok(()),
    }
}

/// A rollback ready to run: its request, and what runs it.
struct Chosen {
    ledger: Arc<Ledger>,
    connected: Connected,
    run_id: String,
    request: Request,
}

/// Everything before the run: the target chosen, the request built. Changes nothing.
async fn choose(ctx: &Context<'_>, input: &RollbackInput) -> Result<Chosen> {
    let config = project::load_config(ctx.project)?;
    config.service(&input.service).map_err(Error::config)?;
    let connected = project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref()).await?;
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    // A deploy that is running holds the lock: say so first (exit 7), not what the rollback
    // would have chosen while that deploy moves the service under it.
    let hint =
        format!("stop that run first (Ctrl-C), then `ferry rollback {} {}` rolls its deployment back", input.environment, input.service);
    refuse_while_locked(&ledger, input, &hint)?;
    let env = config.environment(&input.environment).map_err(Error::config)?;
    let ecs_service = config.ecs_service_name(&input.environment, &input.service).map_err(Error::config)?;
    let current = match traffic_rules(&config, &input.environment, &input.service)? {
        // blue-green, canary, linear: what runs is the version the production rule sends
        // traffic to, whichever of the family's services that is.
        Some(production) => {
            let family =
                Family { cluster: &env.cluster, environment: &input.environment, service: &input.service, ecs_service: &ecs_service };
            match live_version(&connected.ecs, &connected.elb, &family, &production).await? {
                Live::Found(service) => *service,
                Live::NoRule => return Err(Error::refused(format!("the production rule {production} was not found"))),
                Live::NoForward | Live::NoService(_) => {
                    return Err(Error::refused(format!(
                        "no live version of {} found behind the production rule {production}",
                        input.service
                    )));
                }
            }
        }
        None => {
            let services = connected.ecs.describe_services(&env.cluster, std::slice::from_ref(&ecs_service)).await?;
            services.into_iter().next().ok_or_else(|| {
                Error::refused(format!(
                    "service {ecs_service} not found in cluster {} ({})",
                    env.cluster,
                    connected.location(&config, None)
                ))
            })?
        }
    };
    let current = &current;
    let running = connected.ecs.describe_task_definition(&current.task_definition).await?;

    let who = ctx.actor.who.clone();
    let (commit, commit_message) = project::git_commit(&config.root);
    let run_id = project::new_id("run");
    let trace = Trace { deployment_id: project::new_id("fd"), who, commit, commit_message };
    let service = config.service(&input.service).map_err(Error::config)?;
    // A rollback a dead run left unfinished is finished, not chosen again: what runs may be
    // its target already, and choosing anew would roll "back" to what it rolled away from.
    let unfinished = crate::journal::dead_deployment(&ledger, &input.environment, &input.service)?.filter(|r| r.kind == "rollback");
    if let Some(chosen) = roll_back_shift(ctx, &config, &connected, &ledger, input, &trace)? {
        return Ok(Chosen { ledger, connected, run_id, request: chosen });
    }
    if service.strategy() == Strategy::EnvTag {
        // env-tag: the revision never changes; rolling back moves the tag to an earlier digest.
        let (digest, version, how) =
            match unfinished.as_ref().filter(|_| input.to.is_none()).and_then(|r| r.to_digest.clone().map(|d| (d, r))) {
                Some((digest, dead)) => {
                    (digest, dead.to_version.clone(), format!("finishing {}, which a dead run left unfinished", dead.id))
                }
                None => env_tag_target(&config, &connected, &ledger, input).await?,
            };
        ctx.sink.note(Some(&input.service), &format!("rolling back to {} ({how})", short_digest(&digest)));
        let mut request = project::request(&config, &connected, &input.service, version, None, input.timeout, trace)?;
        request.kind = "rollback";
        // A rollback runs no hooks: it returns to what ran before.
        request.before_deploy = None;
        request.after_deploy = None;
        request.digest = Some(digest);
        return Ok(Chosen { ledger, connected, run_id, request });
    }
    let resumed =
        unfinished.as_ref().filter(|_| input.to.is_none()).and_then(|r| r.to_task_definition.clone().map(|td| (td, r.id.clone())));
    let (target, how) = match (&input.to, resumed) {
        (_, Some((td, id))) => (td, format!("finishing {id}, which a dead run left unfinished")),
        (Some(to), None) => {
            let kept = kept_version(&config, &connected, input, &ecs_service, current, Some(to)).await?;
            (resolve_to(&connected, &ledger, input, &running, to, kept).await?, format!("--to {to}"))
        }
        (None, None) => {
            match previous_good(&recent_history(&ledger, input)?, |r| r.to_task_definition.as_deref() == Some(running.arn.as_str()))
                .cloned()
            {
                Some(record) => (record.to_task_definition.unwrap_or_default(), format!("the good deploy before it ({})", record.id)),
                None => {
                    let previous = by_tags(&connected, &running, |td| {
                        // A revision `ferry run --version` registered never ran as the service.
                        td.revision < running.revision
                            && td.tag("ferry:version").is_some()
                            && td.tag(crate::task::RUN_TAG).is_none()
                            && td.tag("ferry:version") != running.tag("ferry:version")
                    })
                    .await?;
                    // blue-green, canary, linear: the version kept warm (the newest retired one).
                    let previous = match previous {
                        Some(previous) => Some(previous),
                        None => kept_version(&config, &connected, input, &ecs_service, current, None).await?,
                    };
                    (previous.ok_or_else(|| Error::refused(
                    format!("no earlier version of {} to roll back to: the ledger has no earlier successful deploy and no earlier revision carries a ferry:version tag (use --to REVISION)", input.service),
                ))?, "the newest earlier revision tagged by ferry".to_string())
                }
            }
        }
    };
    // What runs may be the target because a dead run's rollback got there: it is finished.
    if target == running.arn && unfinished.as_ref().and_then(|r| r.to_task_definition.as_deref()) != Some(target.as_str()) {
        return Err(Error::refused(format!("{} already runs {}", input.service, short_task_definition(&target))));
    }
    ctx.sink.note(
        Some(&input.service),
        &format!("rolling back from {} to {} ({how})", short_task_definition(&running.arn), short_task_definition(&target)),
    );
    let mut request = project::request(&config, &connected, &input.service, None, Some(Source::Revision(target)), input.timeout, trace)?;
    request.kind = "rollback";
    // blue-green, canary, linear: the way back moves all traffic at once, once the version
    // gone back to is healthy and checked (no canary steps, no overlap).
    if let Some(traffic) = request.traffic.as_mut() {
        traffic.shift = ferry_core::strategy::blue_green::Shift::AllAtOnce { overlap: Duration::ZERO };
    }
    Ok(Chosen { ledger, connected, run_id, request })
}

/// Runs the rollback like a deploy, watched the same way.
async fn execute(ctx: &Context<'_>, ledger: Arc<Ledger>, connected: &Connected, run_id: String, request: Request) -> Result<RunResult> {
    let locks = LedgerLocks { ledger: ledger.clone(), actor: ctx.actor.clone() };
    let journal = Journal::new(ledger.clone(), ctx.sink, run_id.clone());
    let run = connected.run(&locks, &journal);
    let requests = std::slice::from_ref(&request);
    let reports = until_cancelled(&ctx.cancel, &ledger, requests, &run_id, "rollback", &connected.ecs, run.deploy(requests)).await?;
    Ok(RunResult { command: "rollback", run_id, services: reports })
}

/// The digest an env-tag service goes back to: `to` as a version (the ledger's record of
/// it, else the registry), or the newest successful deploy of another digest than the
/// tag's now.
async fn env_tag_target(
    config: &Config,
    connected: &Connected,
    ledger: &Ledger,
    input: &RollbackInput,
) -> Result<(String, Option<String>, String)> {
    let service = config.service(&input.service).map_err(Error::config)?;
    let repository = service.repository_name();
    let tag = config
        .image_tag(&input.environment, service)
        .map_err(Error::config)?
        .ok_or_else(|| Error::internal("an env-tag service always has an environment tag"))?;
    let current = connected
        .registry
        .resolve(repository, &tag)
        .await?
        .ok_or_else(|| Error::refused(format!("the environment tag {repository}:{tag} does not exist")))?
        .digest;
    let (digest, version, how) = match &input.to {
        Some(to) => {
            let recorded = ledger.succeeded_with_version(&input.environment, &input.service, to).map_err(Error::from)?;
            match recorded.and_then(|r| r.to_digest) {
                Some(digest) => (digest, Some(to.clone()), format!("--to {to}, from the ledger")),
                None => {
                    let image = connected.registry.resolve(repository, to).await?.ok_or_else(|| {
                        Error::refused(format!("version {to} of {} is neither in the ledger nor in the registry", input.service))
                    })?;
                    (image.digest, Some(to.clone()), format!("--to {to}, from the registry"))
                }
            }
        }
        None => {
            let history = recent_history(ledger, input)?;
            let previous = previous_good(&history, |r| r.to_digest.as_deref() == Some(current.as_str())).cloned().ok_or_else(|| {
                Error::refused(format!("no earlier digest of {} in the ledger to roll back to (use --to VERSION)", input.service))
            })?;
            let how = format!("the good deploy before it ({})", previous.id);
            (previous.to_digest.unwrap_or_default(), previous.to_version, how)
        }
    };
    if digest == current {
        return Err(Error::refused(format!("{repository}:{tag} already points at {}", short_digest(&digest))));
    }
    Ok((digest, version, how))
}

/// `to`: a revision number, `family:N`, an ARN, or a version (ledger first, then tags).
async fn resolve_to(
    connected: &Connected,
    ledger: &Ledger,
    input: &RollbackInput,
    running: &TaskDefinitionInfo,
    to: &str,
    kept: Option<String>,
) -> Result<String> {
    if to.starts_with("arn:") {
        return Ok(to.to_string());
    }
    if let Some((family, revision)) = to.rsplit_once(':')
        && revision.chars().all(|c| c.is_ascii_digit())
        && family == running.family
    {
        return Ok(to.to_string());
    }
    if let Some(record) = ledger.succeeded_with_version(&input.environment, &input.service, to).map_err(Error::from)?
        && let Some(td) = record.to_task_definition
    {
        return Ok(td);
    }
    if let Some(td) = by_tags(connected, running, |td| td.tag("ferry:version") == Some(to)).await? {
        return Ok(td);
    }
    if let Some(td) = kept {
        return Ok(td);
    }
    // A bare number that is no version (build numbers are versions too): a revision.
    if to.chars().all(|c| c.is_ascii_digit()) {
        return Ok(format!("{}:{to}", running.family));
    }
    Err(Error::refused(format!(
        "version {to} of {} is neither in the ledger nor on any of the last {REVISIONS_TO_SEARCH} revisions of {}",
        input.service, running.family
    )))
}

/// The good deploy before the one that put `is_current` in place: rolling back from a
/// version goes to what ran before it, and rolling back twice does not go forward again.
/// Rollbacks themselves are not candidates; when what runs was not deployed by ferry, the
/// newest good deploy of something else is.
pub(crate) fn previous_good(history: &[DeploymentRecord], is_current: impl Fn(&DeploymentRecord) -> bool) -> Option<&DeploymentRecord> {
    let good = |r: &&DeploymentRecord| r.outcome == ferry_store::Outcome::Succeeded && r.kind != "rollback";
    let start = history.iter().position(|r| good(&r) && is_current(r)).map(|i| i + 1).unwrap_or(0);
    history[start..].iter().filter(good).find(|r| !is_current(r))
}

fn recent_history(ledger: &Ledger, input: &RollbackInput) -> Result<Vec<DeploymentRecord>> {
    let filter = HistoryFilter { environment: Some(input.environment.clone()), service: Some(input.service.clone()), limit: 500 };
    Ok(ledger.history(&filter)?)
}

async fn by_tags(
    connected: &Connected,
    running: &TaskDefinitionInfo,
    wanted: impl Fn(&TaskDefinitionInfo) -> bool,
) -> Result<Option<String>> {
    let revisions = connected.ecs.recent_revisions(&running.family, REVISIONS_TO_SEARCH).await?;
    Ok(revisions.into_iter().find(|td| td.arn != running.arn && wanted(td)).map(|td| td.arn))
}

/// The production rule of a blue-green, canary or linear service in `environment`, rendered;
/// None for the other strategies.
fn traffic_rules(config: &Config, environment: &str, service: &str) -> Result<Option<String>> {
    if !config.strategy(environment, service).shifts_traffic() {
        return Ok(None);
    }
    Ok(Some(config.traffic_rules(environment, service)?.0))
}

/// blue-green, canary, linear: when a dead run left a deploy (or promotion) of the service in
/// the middle of its traffic shift (it had begun: `bg_begin` is journaled) and no `--to` is
/// given, the rollback is that deployment's own, resumed under its id: production traffic back
/// on the version that was live (still warm), the preparing rule back, the new version
/// removed. Its record ends `failed_rolled_back`, cause `requested`; the command exits 0.
fn roll_back_shift(
    ctx: &Context<'_>,
    config: &Config,
    connected: &Connected,
    ledger: &Ledger,
    input: &RollbackInput,
    trace: &Trace,
) -> Result<Option<Request>> {
    if input.to.is_some() || !config.strategy(&input.environment, &input.service).shifts_traffic() {
        return Ok(None);
    }
    let Some(dead) = crate::journal::dead_deployment(ledger, &input.environment, &input.service)? else { return Ok(None) };
    let kind: &'static str = match dead.kind.as_str() {
        "deploy" => "deploy",
        "promote" => "promote",
        _ => return Ok(None),
    };
    let begun = ledger.steps(&dead.id).map_err(Error::from_store)?.iter().any(|s| s.name == ferry_core::strategy::blue_green::names::BEGIN);
    let Some(target) = dead.to_task_definition.clone().filter(|_| begun) else { return Ok(None) };
    ctx.sink.note(
        Some(&input.service),
        &format!(
            "rolling back {}, which a dead run left in the middle of its traffic shift: production traffic back on the version that was live first, then {} removed",
            dead.id,
            dead.to_version.as_deref().unwrap_or("the new version")
        ),
    );
    let mut request = project::request(
        config,
        connected,
        &input.service,
        dead.to_version.clone(),
        Some(Source::Revision(target)),
        input.timeout,
        trace.clone(),
    )?;
    request.kind = kind;
    request.before_deploy = None;
    request.after_deploy = None;
    if let Some(traffic) = request.traffic.as_mut() {
        traffic.roll_back = Some(format!("rolled back on request by {} (ferry rollback)", ctx.actor.who));
    }
    Ok(Some(request))
}

/// blue-green, canary, linear: the revision of a retired version of the service kept warm
/// beside the live one (`live`): the one whose version is `to` (its `ferry:version` tag, or
/// its container's image tag), else the newest. None for the other strategies, or when none
/// is kept.
async fn kept_version(
    config: &Config,
    connected: &Connected,
    input: &RollbackInput,
    ecs_service: &str,
    live: &ferry_core::platform::ServiceInfo,
    to: Option<&str>,
) -> Result<Option<String>> {
    if !config.strategy(&input.environment, &input.service).shifts_traffic() {
        return Ok(None);
    }
    let env = config.environment(&input.environment).map_err(Error::config)?;
    let service = config.service(&input.service).map_err(Error::config)?;
    let family = Family { cluster: &env.cluster, environment: &input.environment, service: &input.service, ecs_service };
    let mut kept: Vec<_> = ferry_core::deploy::family_services(&connected.ecs, &family, None)
        .await?
        .into_iter()
        .filter(|s| s.service.status == "ACTIVE" && s.service.name != live.name && s.service.task_definition != live.task_definition)
        .collect();
    kept.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    for tagged in kept {
        let Some(to) = to else { return Ok(Some(tagged.service.task_definition)) };
        let revision = connected.ecs.describe_task_definition(&tagged.service.task_definition).await?;
        let image_tag = ferry_core::taskdef::container_image(&revision.definition, &service.container).and_then(ferry_core::image_tag);
        if revision.tag("ferry:version") == Some(to) || tagged.tag("ferry:version") == Some(to) || image_tag == Some(to) {
            return Ok(Some(revision.arn));
        }
    }
    Ok(None)
}
