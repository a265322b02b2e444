//! `ferry release create|list|show|reject`: releases are immutable sets of service → image
//! digest, named by their content, the thing `ferry promote` moves between environments.

use ferry_core::platform::{Ecs, Registry};
use ferry_store::{Ledger, Release, ReleaseEntry};

use crate::Failure;
use crate::cli::{GlobalArgs, ReleaseCommand};
use crate::output::{Printer, now_ms, short_digest, table};
use crate::project::{self, Connected};

/// A service as it runs in an environment: its release entry, and whether it is healthy.
pub struct Running {
    pub entry: ReleaseEntry,
    /// Why it is not healthy (rollout in progress, tasks missing), if it is not.
    pub unhealthy: Option<String>,
}

/// What runs in an environment for the given services: the digest of each service's
/// container, from the revision's `ferry:digest` tag, a digest-pinned image, or the
/// registry's answer for its tag.
pub async fn running(config: &ferry_core::config::Config, connected: &Connected, services: &[String]) -> Result<Vec<Running>, Failure> {
    let env = config.environment(&connected.name).map_err(Failure::input)?;
    let mut out = Vec::new();
    for chunk in services.chunks(10) {
        let names: Vec<String> =
            chunk.iter().map(|s| config.ecs_service_name(&connected.name, s)).collect::<Result<_, _>>().map_err(Failure::input)?;
        let described = connected.ecs.describe_services(&env.cluster, &names).await.map_err(|e| Failure::platform(e.to_string()))?;
        for (service, ecs_name) in chunk.iter().zip(&names) {
            let info = described.iter().find(|s| &s.name == ecs_name).ok_or_else(|| {
                Failure::new(
                    ferry_core::ExitKind::PreflightRefused,
                    format!(
                        "service {ecs_name} not found in cluster {} of {} ({})",
                        env.cluster,
                        connected.name,
                        connected.location(config, None)
                    ),
                )
            })?;
            let td = connected.ecs.describe_task_definition(&info.task_definition).await.map_err(|e| Failure::platform(e.to_string()))?;
            let svc = config.service(service).map_err(Failure::input)?;
            let (version, digest) = identify(connected, &td, svc).await?;
            let digest = digest.ok_or_else(|| {
                Failure::new(
                    ferry_core::ExitKind::PreflightRefused,
                    format!("{service} in {}: cannot tell which image digest it runs", connected.name),
                )
            })?;
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
            });
        }
    }
    Ok(out)
}

/// Which version and digest a revision runs for a service's container: the `ferry:digest`
/// tag ferry put on it, else a digest in the image reference, else the registry's digest
/// for the image's tag (an env-tag revision names `repo:ENV`, whatever the tag points at).
pub async fn identify(
    connected: &Connected,
    td: &ferry_core::platform::TaskDefinitionInfo,
    service: &ferry_core::config::Service,
) -> Result<(Option<String>, Option<String>), Failure> {
    let image = ferry_core::taskdef::container_image(&td.definition, &service.container).unwrap_or_default().to_string();
    let version = td.tag("ferry:version").map(str::to_string).or_else(|| ferry_core::image_tag(&image).map(str::to_string));
    let digest = match (td.tag("ferry:digest"), ferry_core::image_digest(&image), ferry_core::image_tag(&image)) {
        (Some(d), _, _) => Some(d.to_string()),
        (None, Some(d), _) => Some(d.to_string()),
        (None, None, Some(tag)) => connected
            .registry
            .resolve(service.repository_name(), tag)
            .await
            .map_err(|e| Failure::platform(e.to_string()))?
            .map(|i| i.digest),
        (None, None, None) => None,
    };
    Ok((version, digest))
}

pub async fn run(global: &GlobalArgs, command: ReleaseCommand) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let ledger = project::open_ledger(global)?;
    match command {
        ReleaseCommand::Create { from_env, env, versions } => {
            let config = project::load_config(global)?;
            let (commit, _) = project::git_commit(&config.root);
            let commits: Vec<String> = commit.into_iter().collect();
            let (entries, source) = match (from_env, env) {
                (Some(from), _) => {
                    let connected = project::connect(&config, &from, global.endpoint_url.as_deref()).await?;
                    let services: Vec<String> = config.services.keys().cloned().collect();
                    let running = running(&config, &connected, &services).await?;
                    if let Some(why) = running.iter().find_map(|r| r.unhealthy.clone()) {
                        return Err(Failure::new(ferry_core::ExitKind::PreflightRefused, format!("a release is what runs healthy: {why}")));
                    }
                    (running.into_iter().map(|r| r.entry).collect::<Vec<_>>(), format!("env:{from}"))
                }
                (None, env_name) if !versions.is_empty() => {
                    let env_name = match env_name {
                        Some(name) => name,
                        None => first_environment(&config)?,
                    };
                    let connected = project::connect(&config, &env_name, global.endpoint_url.as_deref()).await?;
                    let mut entries = Vec::new();
                    for sv in &versions {
                        let svc = config.service(&sv.service).map_err(Failure::input)?;
                        ferry_core::check_version(&sv.version).map_err(Failure::input)?;
                        let image = connected
                            .registry
                            .resolve(svc.repository_name(), &sv.version)
                            .await
                            .map_err(|e| Failure::platform(e.to_string()))?
                            .ok_or_else(|| {
                                Failure::new(
                                    ferry_core::ExitKind::PreflightRefused,
                                    format!(
                                        "image {}:{} not found in the registry ({})",
                                        svc.repository_name(),
                                        sv.version,
                                        connected.location(&config, Some(svc))
                                    ),
                                )
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
                (None, _) => {
                    return Err(Failure::input(
                        "say what the release holds: --from-env ENV (what runs there), or SERVICE=VERSION ... (resolved in --env ENV's registry)",
                    ));
                }
            };
            let release =
                ledger.create_release(entries, &project::who(), &source, &commits, now_ms()).map_err(crate::promote::store_failure)?;
            show(&printer, &ledger, &release)
        }
        ReleaseCommand::List { limit } => {
            let releases = ledger.releases(limit).map_err(|e| Failure::ledger(e.to_string()))?;
            if printer.json() {
                printer.json_line(&serde_json::json!({"type": "result", "command": "release list", "releases": releases}));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = releases
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        ferry_store::format_rfc3339(r.created_at),
                        r.created_by.clone(),
                        r.source.clone(),
                        r.entries
                            .iter()
                            .map(|e| format!("{}={}", e.service, e.version.as_deref().unwrap_or(&short_digest(&e.digest))))
                            .collect::<Vec<_>>()
                            .join(" "),
                        r.rejected.as_ref().map(|x| format!("rejected by {}: {}", x.by, x.reason)).unwrap_or_default(),
                    ]
                })
                .collect();
            printer.out(&table(&["RELEASE", "CREATED", "BY", "FROM", "SERVICES", ""], &rows));
            Ok(())
        }
        ReleaseCommand::Show { id } => {
            let release = find(&ledger, &id)?;
            show(&printer, &ledger, &release)
        }
        ReleaseCommand::Reject { id, reason } => {
            let release = find(&ledger, &id)?;
            let release =
                ledger.reject_release(&release.id, &project::who(), &reason, now_ms()).map_err(|e| Failure::ledger(e.to_string()))?;
            show(&printer, &ledger, &release)
        }
    }
}

pub fn find(ledger: &Ledger, id: &str) -> Result<Release, Failure> {
    ledger
        .release(id)
        .map_err(|e| match e {
            ferry_store::StoreError::Invalid(message) => Failure::input(message),
            other => Failure::ledger(other.to_string()),
        })?
        .ok_or_else(|| Failure::input(format!("no release {id} in {}", ledger.path().display())))
}

fn show(printer: &Printer, ledger: &Ledger, release: &Release) -> Result<(), Failure> {
    let promotions = ledger.promotions(Some(&release.id), 20).map_err(|e| Failure::ledger(e.to_string()))?;
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "release", "release": release, "promotions": promotions}));
        return Ok(());
    }
    printer.out(&format!(
        "release {} (created {} by {}, from {})",
        release.id,
        ferry_store::format_rfc3339(release.created_at),
        release.created_by,
        release.source
    ));
    if let Some(r) = &release.rejected {
        printer.out(&format!("REJECTED {} by {}: {}", ferry_store::format_rfc3339(r.at), r.by, r.reason));
    }
    let rows: Vec<Vec<String>> = release
        .entries
        .iter()
        .map(|e| vec![e.service.clone(), e.version.clone().unwrap_or_else(|| "-".into()), e.repository.clone(), e.digest.clone()])
        .collect();
    printer.out(&table(&["SERVICE", "VERSION", "REPOSITORY", "DIGEST"], &rows));
    for p in &promotions {
        printer.out(&format!(
            "promoted {} → {} {} by {}{}: {}",
            p.from_environment,
            p.to_environment,
            ferry_store::format_rfc3339(p.started_at),
            p.who,
            p.approved_by.as_ref().map(|a| format!(" (approved by {a})")).unwrap_or_default(),
            crate::output::recorded_outcome_word(p.outcome)
        ));
    }
    Ok(())
}

/// Where versions are built into: the one environment of the chain that nothing promotes
/// into (`dev`, where CI deploys), so `ferry release create web=1.4.2` needs no `--env`.
fn first_environment(config: &ferry_core::config::Config) -> Result<String, Failure> {
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
        [] => Err(Failure::input(
            "say which environment's registry resolves the versions: --env ENV (no environment starts a promote_from chain)",
        )),
        many => Err(Failure::input(format!(
            "say which environment's registry resolves the versions: --env ENV (the chains start at {})",
            many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}
