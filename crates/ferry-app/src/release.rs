//! Releases: immutable sets of service → image digest, named by their content, the thing a
//! promotion moves between environments. Create one from what runs healthy in an
//! environment or from versions; list, show and reject them. Also what runs where
//! ([`running`], [`identify`]), which promotion and status read too.

use ferry_core::config::{Config, Service};
use ferry_core::deploy::{Family, Live, live_version};
use ferry_core::platform::{Ecs, Registry, ServiceInfo, TaskDefinitionInfo};
use ferry_store::{Ledger, Promotion, Release, ReleaseEntry, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::now_ms;
use crate::project::{self, Connected, Context, ServiceVersion};

/// A service as it runs in an environment: its release entry, and whether it is healthy.
#[derive(Clone, Debug, Serialize)]
pub struct Running {
    pub entry: ReleaseEntry,
    /// Why it is not healthy (rollout in progress, tasks missing), if it is not.
    pub unhealthy: Option<String>,
    /// The ECS service that runs it, as DescribeServices answered (for a blue-green, canary
    /// or linear service, its live version's).
    #[serde(skip)]
    pub ecs: ServiceInfo,
}

/// What runs in an environment for the given services: the digest of each service's
/// container, from the revision's `ferry:digest` tag, a digest-pinned image, or the
/// registry's answer for its tag. A blue-green, canary or linear service runs its live
/// version: the family's service behind the production rule ([`live_service`]). Errors: a
/// service missing, or whose digest cannot be told (refused, exit 4); the platform (3).
pub async fn running(config: &Config, connected: &Connected, services: &[String]) -> Result<Vec<Running>> {
    let env = config.environment(&connected.name).map_err(Error::config)?;
    let mut out = Vec::new();
    for chunk in services.chunks(10) {
        let names: Vec<String> =
            chunk.iter().map(|s| config.ecs_service_name(&connected.name, s)).collect::<Result<_, _>>().map_err(Error::config)?;
        let described = connected.ecs.describe_services(&env.cluster, &names).await?;
        for (service, ecs_name) in chunk.iter().zip(&names) {
            let missing = || {
                Error::refused(format!(
                    "service {ecs_name} not found in cluster {} of {} ({})",
                    env.cluster,
                    connected.name,
                    connected.location(config, None)
                ))
            };
            let live;
            let info = if config.strategy(&connected.name, service).shifts_traffic() {
                live = live_service(config, connected, service).await?.ok_or_else(missing)?;
                &live
            } else {
                described.iter().find(|s| &s.name == ecs_name).ok_or_else(missing)?
            };
            let td = connected.ecs.describe_task_definition(&info.task_definition).await?;
            let svc = config.service(service).map_err(Error::config)?;
            let (version, digest) = identify(connected, &td, svc).await?;
            let digest =
                digest.ok_or_else(|| Error::refused(format!("{service} in {}: cannot tell which image digest it runs", connected.name)))?;
            let primary = info.primary();
            let unhealthy =
                if info.deployments.len() > 1 || primary.and_then(|p| p.rollout_state.as_deref()).is_some_and(|s| s != "COMPLETED") {
                    Some(format!(
                        "{service} in {} is still rolling out ({})",
                        connected.name,
                        primary.and_then(|p| p.rollout_state.clone()).unwrap_or_else(|| "IN_PROGRESS".into())
                    ))
                } else if info.running < info.desired {
                    Some(format!("{service} in {} runs {} of {} tasks", connected.name, info.running, info.desired))
                } else {
                    None
                };
            out.push(Running {
                entry: ReleaseEntry { service: service.clone(), repository: svc.repository_name().to_string(), digest, version },
                unhealthy,
                ecs: info.clone(),
            });
        }
    }
    Ok(out)
}

/// The live version of a blue-green, canary or linear service in `connected`: the ACTIVE
/// service of its family whose target group the production rule sends the most traffic to
/// ([`ferry_core::deploy::live_version`]). None when there is none; refused (exit 4) when
/// the production rule does not exist.
pub async fn live_service(config: &Config, connected: &Connected, service: &str) -> Result<Option<ServiceInfo>> {
    let env = config.environment(&connected.name).map_err(Error::config)?;
    let ecs_service = config.ecs_service_name(&connected.name, service).map_err(Error::config)?;
    let (production, _) = config.traffic_rules(&connected.name, service).map_err(Error::config)?;
    let family = Family { cluster: &env.cluster, environment: &connected.name, service, ecs_service: &ecs_service };
    Ok(match live_version(&connected.ecs, &connected.elb, &family, &production).await? {
        Live::Found(found) => Some(*found),
        Live::NoRule => {
            return Err(Error::refused(format!("the production rule {production} of {service} in {} was not found", connected.name)));
        }
        Live::NoForward | Live::NoService(_) => None,
    })
}

/// Which version and digest a revision runs for a service's container: the `ferry:digest`
/// tag ferry put on it, else a digest in the image reference, else the registry's digest
/// for the image's tag (an env-tag revision names `repo:ENV`, whatever the tag points at).
/// Either may be unknown (None). Errors: the registry (platform, exit 3).
pub async fn identify(connected: &Connected, td: &TaskDefinitionInfo, service: &Service) -> Result<(Option<String>, Option<String>)> {
    let image = ferry_core::taskdef::container_image(&td.definition, &service.container).unwrap_or_default().to_string();
    let version = td.tag("ferry:version").map(str::to_string).or_else(|| ferry_core::image_tag(&image).map(str::to_string));
    let digest = match (td.tag("ferry:digest"), ferry_core::image_digest(&image), ferry_core::image_tag(&image)) {
        (Some(d), _, _) => Some(d.to_string()),
        (None, Some(d), _) => Some(d.to_string()),
        (None, None, Some(tag)) => connected.registry.resolve(service.repository_name(), tag).await?.map(|i| i.digest),
        (None, None, None) => None,
    };
    Ok((version, digest))
}

/// What a new release holds: what runs in an environment, or versions resolved in one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CreateInput {
    /// Every service as it runs, healthy, in this environment.
    FromEnvironment(String),
    /// These versions, resolved to digests in `environment`'s registry (None: the one
    /// environment that starts the promotion chain).
    Versions { environment: Option<String>, versions: Vec<ServiceVersion> },
}

/// What to do with releases.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ReleaseInput {
    /// Record a release ([`create`]).
    Create(CreateInput),
    /// The newest `limit` releases ([`list`]).
    List { limit: usize },
    /// One release, by its id or an unambiguous prefix of it ([`show`]).
    Show { id: String },
    /// Reject a release for good, saying why ([`reject`]).
    Reject { id: String, reason: String },
}

/// What a release command found or did.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ReleaseResult {
    /// Releases, newest first.
    Listed(Vec<Release>),
    /// The release created, shown or rejected, with its promotions.
    Shown(ReleaseShown),
}

/// Runs a release command. Errors: those of [`create`], [`list`], [`show`] and [`reject`].
pub async fn release(ctx: &Context<'_>, input: ReleaseInput) -> Result<ReleaseResult> {
    Ok(match input {
        ReleaseInput::Create(create_input) => ReleaseResult::Shown(create(ctx, create_input).await?),
        ReleaseInput::List { limit } => ReleaseResult::Listed(list(ctx, limit).await?),
        ReleaseInput::Show { id } => ReleaseResult::Shown(show(ctx, &id).await?),
        ReleaseInput::Reject { id, reason } => ReleaseResult::Shown(reject(ctx, &id, &reason).await?),
    })
}

/// A release and the promotions of it (the newest 20).
#[derive(Clone, Debug, Serialize)]
pub struct ReleaseShown {
    pub release: Release,
    pub promotions: Vec<Promotion>,
}

/// Records a release (or finds it, when the same digests were recorded before: releases
/// are named by their content). Errors: nothing said to hold (invalid input, exit 2); a
/// service not healthy or an image not found (refused, 4); platform (3), ledger (8).
pub async fn create(ctx: &Context<'_>, input: CreateInput) -> Result<ReleaseShown> {
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let config = project::load_config(ctx.project)?;
    let (commit, _) = project::git_commit(&config.root);
    let commits: Vec<String> = commit.into_iter().collect();
    let endpoint = ctx.project.endpoint_url.as_deref();
    let (entries, source) = match input {
        CreateInput::FromEnvironment(from) => {
            let connected = project::connect(&config, &from, endpoint).await?;
            let services: Vec<String> = config.services.keys().cloned().collect();
            let running = running(&config, &connected, &services).await?;
            if let Some(why) = running.iter().find_map(|r| r.unhealthy.clone()) {
                return Err(Error::refused(format!("a release is what runs healthy: {why}")));
            }
            (running.into_iter().map(|r| r.entry).collect::<Vec<_>>(), format!("env:{from}"))
        }
        CreateInput::Versions { environment, versions } if !versions.is_empty() => {
            let env_name = match environment {
                Some(name) => name,
                None => first_environment(&config)?,
            };
            let connected = project::connect(&config, &env_name, endpoint).await?;
            let mut entries = Vec::new();
            for sv in &versions {
                let svc = config.service(&sv.service).map_err(Error::config)?;
                ferry_core::check_version(&sv.version).map_err(Error::config)?;
                let image = connected.registry.resolve(svc.repository_name(), &sv.version).await?.ok_or_else(|| {
                    Error::refused(format!(
                        "image {}:{} not found in the registry ({})",
                        svc.repository_name(),
                        sv.version,
                        connected.location(&config, Some(svc))
                    ))
                })?;
                entries.push(ReleaseEntry {
                    service: sv.service.clone(),
                    repository: svc.repository_name().to_string(),
                    digest: image.digest,
                    version: Some(sv.version.clone()),
                });
            }
            (entries, "versions".to_string())
        }
        CreateInput::Versions { .. } => {
            return Err(Error::input(
                "say what the release holds: --from-env ENV (what runs there), or SERVICE=VERSION ... (resolved in --env ENV's registry)",
            ));
        }
    };
    let release = ledger.create_release(entries, &ctx.actor.who, &source, &commits, now_ms()).map_err(Error::from_store)?;
    shown(&ledger, release)
}

/// The newest `limit` releases, newest first. Errors: the ledger (exit 8).
pub async fn list(ctx: &Context<'_>, limit: usize) -> Result<Vec<Release>> {
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    Ok(ledger.releases(limit)?)
}

/// A release by its id or an unambiguous prefix of it. Errors: no such release, or an
/// ambiguous prefix (invalid input, exit 2); the ledger (8).
pub async fn show(ctx: &Context<'_>, id: &str) -> Result<ReleaseShown> {
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let release = find(&ledger, id)?;
    shown(&ledger, release)
}

/// Rejects a release for good, recording who and why: it can never be promoted again.
/// Errors as [`show`].
pub async fn reject(ctx: &Context<'_>, id: &str, reason: &str) -> Result<ReleaseShown> {
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let release = find(&ledger, id)?;
    let release = ledger.reject_release(&release.id, &ctx.actor.who, reason, now_ms())?;
    shown(&ledger, release)
}

fn shown(ledger: &Ledger, release: Release) -> Result<ReleaseShown> {
    let promotions = ledger.promotions(Some(&release.id), 20)?;
    Ok(ReleaseShown { release, promotions })
}

/// A release by its id or a prefix of it.
pub fn find(ledger: &Ledger, id: &str) -> Result<Release> {
    ledger
        .release(id)
        .map_err(|e| match e {
            StoreError::Invalid(message) => Error::input(message),
            other => Error::from(other),
        })?
        .ok_or_else(|| Error::input(format!("no release {id} in {}", ledger.location())))
}

/// Where versions are built into: the one environment of the chain that nothing promotes
/// into (`dev`, where CI deploys), so `ferry release create web=1.4.2` needs no `--env`.
fn first_environment(config: &Config) -> Result<String> {
    let promoted_into: std::collections::BTreeSet<&str> = config.environments.values().filter_map(|e| e.promote_from.as_deref()).collect();
    let starts: Vec<&String> = config
        .environments
        .iter()
        .filter(|(name, env)| env.promote_from.is_none() && promoted_into.contains(name.as_str()))
        .map(|(name, _)| name)
        .collect();
    match starts.as_slice() {
        [only] => Ok(only.to_string()),
        _ if config.environments.len() == 1 => Ok(config.environments.keys().next().cloned().unwrap_or_default()),
        [] => Err(Error::input(
            "say which environment's registry resolves the versions: --env ENV (no environment starts a promote_from chain)",
        )),
        many => Err(Error::input(format!(
            "say which environment's registry resolves the versions: --env ENV (the chains start at {})",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}
