//! Revision clean-up: deregister the old ACTIVE revisions ferry registered in each
//! service's task-definition family, keeping the newest N and every revision something
//! still needs (see [`ferry_core::gc`]): the service's own, its deployments', an in-progress
//! ferry deployment's, a RUNNING or PENDING task's, and the one `ferry rollback` would
//! return to. What `ferry promote` reads from an environment is the revision its service
//! runs, so that one is kept too; a promotion renders a new revision in the target
//! environment from the release's digests and never needs an older revision of this one.
//! Revisions without a `ferry:` tag are never touched.
//!
//! Each service is judged and cleaned under its lock, taken for that service only and freed
//! at once, so a deploy of the service never races the clean-up and no deploy waits long.
//! A dry run takes no lock and writes nothing anywhere.

use ferry_core::ExitKind;
use ferry_core::deploy::{Family, clean_up_versions, family_services};
use ferry_core::gc::{Keep, Kept, Protection, Revision, decide, rollback_by_tags};
use ferry_core::platform::Ecs;
use ferry_core::rolling::short_task_definition;
use ferry_store::{HistoryFilter, LockHolder, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::{LOCK_LEASE_MS, SystemClock, now_ms};
use crate::project::{self, Connected, Context};

/// Which environment, which services, how many revisions to keep.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GcInput {
    pub environment: String,
    /// Services of ferry.toml; empty for all of them.
    pub services: Vec<String>,
    /// How many of the newest ferry revisions of each family to keep, besides those in use;
    /// None for the environment's `keep_revisions` (refused when that is unset too).
    pub keep: Option<usize>,
    /// Judge only: deregister nothing, take no lock.
    pub dry_run: bool,
}

/// What the clean-up did (or, dry, would do).
#[derive(Clone, Debug, Serialize)]
pub struct GcResult {
    pub environment: String,
    pub keep: usize,
    pub dry_run: bool,
    pub families: Vec<FamilyResult>,
    /// Services left alone, and why (locked by a deploy, not found in the cluster).
    pub skipped: Vec<Skipped>,
    /// blue-green, canary, linear: the retired versions beyond the service's `keep` and the
    /// target groups nothing uses, deleted (or, dry, to delete).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionsResult>,
}

/// One blue-green, canary or linear service's versions cleaned up.
#[derive(Clone, Debug, Serialize)]
pub struct VersionsResult {
    pub service: String,
    /// `[services.NAME.blue_green] keep`.
    pub keep: u32,
    /// ECS services deleted (or, dry, to delete), in order.
    pub deleted_services: Vec<String>,
    /// Target groups deleted (or, dry, to delete), in order.
    pub deleted_target_groups: Vec<String>,
    /// Why it stopped before the end, when it did.
    pub left: Option<String>,
}

/// One service's family: the revisions deregistered (or, dry, to deregister), oldest first,
/// and those kept with their reasons, newest first.
#[derive(Clone, Debug, Serialize)]
pub struct FamilyResult {
    pub service: String,
    pub family: String,
    pub deregistered: Vec<String>,
    pub kept: Vec<Kept>,
}

/// A service the clean-up left alone.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub service: String,
    /// `locked` or `not_found`.
    pub reason: &'static str,
    pub detail: String,
}

/// Cleans up. Errors: an unknown environment or service (invalid input, exit 2, nothing
/// read or changed); every service locked by deploys (7, nothing changed); the platform (3)
/// or the ledger (8) — a revision deregistered before the error stays so, and running it
/// again carries on.
pub async fn gc(ctx: &Context<'_>, input: GcInput) -> Result<GcResult> {
    let config = project::load_config(ctx.project)?;
    let env = config.environment(&input.environment).map_err(Error::config)?.clone();
    for service in &input.services {
        config.service(service).map_err(Error::config)?;
    }
    let Some(keep) = input.keep.or(config.keep_revisions(&env)) else {
        return Err(Error::input(format!(
            "how many revisions to keep? neither --keep nor keep_revisions (in [environments.{env_name}] or [defaults] of {path}) says: run `ferry gc {env_name} --keep N`, or set keep_revisions = N",
            env_name = input.environment,
            path = config.path.display()
        )));
    };
    let services: Vec<String> = if input.services.is_empty() { config.services.keys().cloned().collect() } else { input.services.clone() };
    let connected = ctx.before_changes("gc", project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref())).await?;
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let gc_id = project::new_id("gc");
    let holder = LockHolder { deployment_id: gc_id.clone(), who: ctx.actor.who.clone(), host: ctx.actor.host.clone(), pid: ctx.actor.pid };
    let mut result = GcResult {
        environment: input.environment.clone(),
        keep,
        dry_run: input.dry_run,
        families: vec![],
        skipped: vec![],
        versions: vec![],
    };
    for service in &services {
        if ctx.cancel.is_cancelled() {
            return Err(Error::interrupted_before("gc"));
        }
        let ecs_service = config.ecs_service_name(&input.environment, service).map_err(Error::config)?;
        if !input.dry_run {
            match ledger.acquire_lock(&input.environment, service, &holder, LOCK_LEASE_MS, now_ms()) {
                Ok(()) => {}
                Err(StoreError::LockHeld(lock)) => {
                    let detail = format!(
                        "locked by {} (deployment {}): left alone, run gc again later",
                        lock.holder.name(),
                        lock.holder.deployment_id
                    );
                    result.skipped.push(Skipped { service: service.clone(), reason: "locked", detail });
                    continue;
                }
                Err(e) => return Err(Error::from_store(e)),
            }
        }
        let mut judged = clean_service(&connected, &config, &ledger, &env.cluster, &input, keep, service, &ecs_service).await;
        if judged.is_ok() {
            match clean_versions(&connected, &config, &env.cluster, &input, service, &ecs_service).await {
                Ok(Some(versions)) => result.versions.push(versions),
                Ok(None) => {}
                Err(e) => judged = Err(e),
            }
        }
        if !input.dry_run {
            // Freed whatever happened: nothing of the clean-up needs it any more.
            let _ = ledger.release_lock(&input.environment, service, &gc_id);
        }
        match judged? {
            Ok(family) => result.families.push(family),
            Err(skipped) => result.skipped.push(skipped),
        }
    }
    if !result.skipped.is_empty() && result.families.is_empty() && result.skipped.iter().all(|s| s.reason == "locked") {
        let names: Vec<&str> = result.skipped.iter().map(|s| s.service.as_str()).collect();
        return Err(Error::new(
            ExitKind::LockHeld,
            format!(
                "every service asked for is locked by a deploy in {} ({}): nothing cleaned up; run `ferry gc` again when the deploys are done (`ferry status {}` shows the locks)",
                input.environment,
                names.join(", "),
                input.environment
            ),
        ));
    }
    Ok(result)
}

/// blue-green, canary, linear: deletes (unless dry) the service's retired versions beyond its
/// `keep` and the target groups nothing uses ([`ferry_core::deploy::clean_up_versions`]).
/// None for the other strategies.
async fn clean_versions(
    connected: &Connected,
    config: &ferry_core::config::Config,
    cluster: &str,
    input: &GcInput,
    service: &str,
    ecs_service: &str,
) -> Result<Option<VersionsResult>> {
    let definition = config.service(service).map_err(Error::config)?;
    let Some(traffic) = project::traffic(config, &input.environment, service, definition)? else { return Ok(None) };
    let family = Family { cluster, environment: &input.environment, service, ecs_service };
    let done = clean_up_versions(&connected.ecs, &connected.elb, &SystemClock, &family, &traffic, input.dry_run).await?;
    Ok(Some(VersionsResult {
        service: service.to_string(),
        keep: traffic.keep,
        deleted_services: done.services,
        deleted_target_groups: done.target_groups,
        left: done.left,
    }))
}

/// Judges (and unless dry, cleans) one service's family. The inner Err is a skip.
#[allow(clippy::too_many_arguments)]
async fn clean_service(
    connected: &Connected,
    config: &ferry_core::config::Config,
    ledger: &ferry_store::Ledger,
    cluster: &str,
    input: &GcInput,
    keep: usize,
    service: &str,
    ecs_service: &str,
) -> Result<std::result::Result<FamilyResult, Skipped>> {
    let described = connected.ecs.describe_services(cluster, &[ecs_service.to_string()]).await?;
    let Some(info) = described.into_iter().find(|s| s.name == ecs_service && s.status != "INACTIVE") else {
        let detail = format!("service {ecs_service} not found in cluster {cluster}: nothing to judge");
        return Ok(Err(Skipped { service: service.to_string(), reason: "not_found", detail }));
    };
    let family = short_task_definition(&info.task_definition).rsplit_once(':').map(|(f, _)| f).unwrap_or_default().to_string();
    let mut protections = vec![Protection { task_definition: info.task_definition.clone(), why: Keep::Service }];
    for d in info.deployments.iter().filter(|d| d.status != "INACTIVE") {
        protections.push(Protection { task_definition: d.task_definition.clone(), why: Keep::Deployment(d.id.clone()) });
    }
    for (td, task) in connected.ecs.task_definitions_in_use(cluster).await? {
        protections.push(Protection { task_definition: td, why: Keep::Task(task) });
    }
    // blue-green, canary, linear: every version's service, the live one and those kept warm
    // for a rollback (at 0 tasks), keeps its revision.
    if config.strategy(&input.environment, service).shifts_traffic() {
        let family = Family { cluster, environment: &input.environment, service, ecs_service };
        for tagged in family_services(&connected.ecs, &family, None).await?.into_iter().filter(|s| s.service.status == "ACTIVE") {
            protections.push(Protection { task_definition: tagged.service.task_definition, why: Keep::Service });
        }
    }
    if let Some(record) = ledger.unfinished(&input.environment, service)? {
        for td in [&record.from_task_definition, &record.to_task_definition].into_iter().flatten() {
            protections.push(Protection { task_definition: td.clone(), why: Keep::InProgress(record.id.clone()) });
        }
    }
    let filter = HistoryFilter { environment: Some(input.environment.clone()), service: Some(service.to_string()), limit: 500 };
    let history = ledger.history(&filter)?;
    let current = short_task_definition(&info.task_definition);
    if let Some(previous) =
        crate::rollback::previous_good(&history, |r| r.to_task_definition.as_deref().map(short_task_definition) == Some(current))
        && let Some(td) = &previous.to_task_definition
    {
        protections.push(Protection { task_definition: td.clone(), why: Keep::Rollback });
    }

    let mut revisions = Vec::new();
    let mut versions = Vec::new();
    let mut running = None;
    for arn in connected.ecs.active_revisions(&family).await? {
        let td = connected.ecs.describe_task_definition(&arn).await?;
        let by_ferry = td.tags.iter().any(|(k, _)| k.starts_with("ferry:"));
        // A revision `ferry run --version` registered is no version to roll back to.
        let version = td.tag("ferry:version").filter(|_| td.tag(crate::task::RUN_TAG).is_none()).map(str::to_string);
        if short_task_definition(&td.arn) == current {
            running = Some((td.revision, version.clone()));
        }
        versions.push((td.revision, td.arn.clone(), version.filter(|_| by_ferry)));
        revisions.push(Revision { arn: td.arn, revision: td.revision, by_ferry });
    }
    if let Some((revision, version)) = &running
        && let Some(td) = rollback_by_tags(&versions, *revision, version.as_deref())
    {
        protections.push(Protection { task_definition: td.to_string(), why: Keep::Rollback });
    }
    let verdict = decide(&revisions, keep, &protections);
    if !input.dry_run {
        for revision in &verdict.deregister {
            connected.ecs.deregister_task_definition(revision).await?;
        }
    }
    Ok(Ok(FamilyResult { service: service.to_string(), family, deregistered: verdict.deregister, kept: verdict.kept }))
}
