//! What runs where: one row per environment × service (version, digest, revision, rollout
//! state, running/desired, when and by whom it was deployed — from the revision's ferry
//! tags, so it is right whoever deployed it from wherever), and for a service that runs a
//! service per version (blue-green, canary, linear) each version with its share of the
//! production rule and its targets' health; the release each environment
//! runs and how it stands to the environment it is promoted from (behind, ahead, or
//! different: see [`standing`]); and the locks held.

use std::collections::BTreeMap;

use ferry_core::config::{Config, Service};
use ferry_core::platform::{Ecs, Elb, Route, ServiceInfo, TaggedService};
use ferry_core::strategy::blue_green::{self, tags};
use ferry_store::{DeploymentRecord, HistoryFilter, Ledger, LockInfo};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::{self, Connected, Context};
use crate::release::identify;

/// Which environments to look at.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StatusInput {
    /// One environment; None for all of ferry.toml's.
    pub environment: Option<String>,
}

/// One service in one environment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    pub environment: String,
    /// The service's name in ferry.toml.
    pub service: String,
    /// Its ECS service's name in the environment's cluster.
    pub ecs_service: String,
    /// The image tag it runs, from the revision's `ferry:version` tag or its image.
    pub version: Option<String>,
    /// The image digest it runs (`sha256:...`).
    pub digest: Option<String>,
    /// The task definition ARN the service runs.
    pub task_definition: Option<String>,
    /// The PRIMARY deployment's rollout state (`IN_PROGRESS`, `COMPLETED`, `FAILED`); for a
    /// blue-green, canary or linear service whose production traffic is split between
    /// versions, `SHIFTING`.
    pub rollout_state: Option<String>,
    /// Tasks running and desired, service-wide.
    pub running: i32,
    pub desired: i32,
    /// Tasks of the current (PRIMARY) deployment that failed: ECS's `failedTasks`. A
    /// COMPLETED deployment whose tasks keep failing shows here.
    pub failed_tasks: i32,
    /// RFC 3339.
    pub deployed_at: Option<String>,
    pub deployed_by: Option<String>,
    /// The running revision was deployed past the environment's promotion gates: `WHO:
    /// REASON` (its `ferry:gates-skipped` tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gates_skipped: Option<String>,
    /// The PRIMARY ECS deployment's id.
    pub deployment: Option<String>,
    /// Why the row could not be read (then the other fields are partly unknown).
    pub error: Option<String>,
    /// A deployment of the service that a dead run left unfinished: its id and where it
    /// stopped ("interrupted at update_service (started): ..."). The same command finishes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// ecs-native: the service deployment in progress is paused at a PAUSE lifecycle hook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<Paused>,
    /// A service that runs a service and a target group per version (blue-green, canary,
    /// linear): each version, the one with the largest share of the production rule first.
    /// The row's own version, digest, revision, rollout and counts are then that version's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionRow>,
}

/// A deployment ECS holds at a PAUSE lifecycle hook (DescribeServiceDeployments'
/// `lifecycleHookDetails`), and what it waits for.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Paused {
    pub service_deployment: String,
    /// The lifecycle stage it is paused at.
    pub stage: Option<String>,
    pub hook_id: String,
    /// About when it paused (the service deployment's `updatedAt`), RFC 3339.
    pub since: Option<String>,
    /// When ECS takes the hook's timeout action, RFC 3339, and which (CONTINUE, ROLLBACK).
    pub expires_at: Option<String>,
    pub timeout_action: Option<String>,
    /// `approval`: a person answers (`approve = true`: `ferry continue`); `checks`: the
    /// ferry deploy or watch following it answers once its checks ran.
    pub waits_for: &'static str,
}

/// One version of a service that runs a service and a target group per version: the
/// environment's own service (Terraform's), or one ferry created for a version, found by its
/// `ferry:env` and `ferry:service` tags.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VersionRow {
    /// Its ECS service's name.
    pub ecs_service: String,
    /// Its `ferry:version` tag, or what its revision runs (the environment's own service has
    /// no such tag until ferry tags it).
    pub version: Option<String>,
    /// Its `ferry:status` tag: `new`, `live` or `obsolete`; None when it has none.
    pub status: Option<String>,
    pub running: i32,
    pub desired: i32,
    /// The target group its tasks are registered with (its name), when it has one.
    pub target_group: Option<String>,
    /// Its target group's share of the production rule's forward, in percent of the weights.
    pub share: u32,
    /// Its target group's targets that are healthy, and all of them.
    pub healthy: u32,
    pub targets: u32,
}

/// The status of the environments asked for.
#[derive(Clone, Debug, Serialize)]
pub struct StatusResult {
    /// One row per environment × service, environments in ferry.toml's order.
    pub services: Vec<Row>,
    /// One per environment looked at.
    pub environments: Vec<EnvironmentRelease>,
    /// Who holds which lock, since when: a lock left by a killed deploy blocks the service
    /// until its lease runs out, and this is where a person finds it.
    pub locks: Vec<LockInfo>,
    /// Why the ledger could not be read, when it could not: then `locks` and what comes from
    /// the ledger are missing, and the status ends in exit 8 (not a status with no locks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
}

impl StatusResult {
    /// A row that could not be read is a failure to report, not a status (exit 3 after
    /// what could be read is shown: CI must not take a blind status for a good one).
    pub fn error(&self) -> Option<Error> {
        let errors = self.services.iter().filter(|r| r.error.is_some()).count();
        if errors > 0 {
            return Some(Error::platform(format!("{errors} of {} services could not be read (see the table)", self.services.len())));
        }
        self.ledger_error.as_ref().map(|e| Error::ledger(format!("the ledger could not be read, so its locks are not shown: {e}")))
    }
}

/// Reads every service of the environments asked for. A service that cannot be read is a
/// row with its `error` (see [`StatusResult::error`]); a ledger that cannot be opened
/// leaves out what only it knows. Errors: an unknown environment, a config or credentials
/// that cannot be used (invalid input, exit 2).
pub async fn status(ctx: &Context<'_>, input: StatusInput) -> Result<StatusResult> {
    let config = project::load_config(ctx.project)?;
    let environments: Vec<String> = match &input.environment {
        Some(name) => {
            config.environment(name).map_err(Error::config)?;
            vec![name.clone()]
        }
        None => config.environments.keys().cloned().collect(),
    };
    let mut ledger_error = None;
    let ledger = match project::open_ledger(ctx.project, ctx.sink).await {
        Ok(ledger) => Some(ledger),
        Err(e) => {
            ctx.sink.warning(&format!("{e}; locks and the ledger's history are not shown"));
            ledger_error = Some(e.to_string());
            None
        }
    };
    let mut rows = Vec::new();
    let mut connections: BTreeMap<String, Connected> = BTreeMap::new();
    for env_name in &environments {
        let env = config.environment(env_name).map_err(Error::config)?;
        let connected = project::connect(&config, env_name, ctx.project.endpoint_url.as_deref()).await?;
        // The newest good deploy of each service here, in one ledger read.
        let latest = ledger.as_ref().and_then(|l| l.latest_per_service(Some(env_name)).ok()).unwrap_or_default();
        let names: Vec<(String, String)> = config
            .services
            .keys()
            .map(|s| config.ecs_service_name(env_name, s).map(|n| (s.clone(), n)))
            .collect::<Result<_, _>>()
            .map_err(Error::config)?;
        // The services of the cluster with their tags, read once for the environment's
        // services that run a service per version (blue-green, canary, linear).
        let mut cluster_services: Option<std::result::Result<Vec<TaggedService>, String>> = None;
        for chunk in names.chunks(10) {
            // Those services are read with the cluster's, not here.
            let plain: Vec<String> =
                chunk.iter().filter(|(s, _)| !config.strategy(env_name, s).shifts_traffic()).map(|(_, n)| n.clone()).collect();
            let described = if plain.is_empty() { Ok(Vec::new()) } else { connected.ecs.describe_services(&env.cluster, &plain).await };
            for (service, ecs_service) in chunk {
                let mut row =
                    Row { environment: env_name.clone(), service: service.clone(), ecs_service: ecs_service.clone(), ..Row::default() };
                let reader = RowReader { config: &config, connected: &connected, latest: &latest };
                if config.strategy(env_name, service).shifts_traffic() {
                    if cluster_services.is_none() {
                        cluster_services = Some(tagged_services(&connected, &env.cluster).await);
                    }
                    match cluster_services.as_ref() {
                        Some(Ok(all)) => reader.versions(&mut row, &env.cluster, all).await,
                        Some(Err(e)) => row.error = Some(e.clone()),
                        None => {}
                    }
                } else {
                    match &described {
                        Err(e) => row.error = Some(e.to_string()),
                        Ok(found) => match found.iter().find(|s| &s.name == ecs_service) {
                            None => {
                                row.error = Some(format!("not found in cluster {} ({})", env.cluster, connected.location(&config, None)))
                            }
                            Some(info) => reader.fill(&mut row, info).await,
                        },
                    }
                }
                if let Some(ledger) = &ledger
                    && let Ok(Some(dead)) = crate::journal::dead_deployment(ledger, env_name, service)
                {
                    let seen = crate::journal::as_seen(ledger, dead, crate::journal::now_ms());
                    row.interrupted = Some(format!("{}: {}", seen.id, seen.reason.unwrap_or_default()));
                }
                rows.push(row);
            }
        }
        connections.insert(env_name.clone(), connected);
    }
    let releases = environment_releases(&config, &environments, &rows, ledger.as_deref(), &connections).await;
    let mut locks: Vec<LockInfo> = Vec::new();
    if let Some(ledger) = &ledger {
        for row in &rows {
            match ledger.lock(&row.environment, &row.service) {
                Ok(lock) => locks.extend(lock),
                Err(e) => {
                    ctx.sink.warning(&format!("cannot read the lock on {} in {}: {e}", row.service, row.environment));
                    ledger_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    Ok(StatusResult { services: rows, environments: releases, locks, ledger_error })
}

/// The services of `cluster` with their tags: one ListServices, then DescribeServices (with
/// TAGS) of ten at a time.
async fn tagged_services(connected: &Connected, cluster: &str) -> std::result::Result<Vec<TaggedService>, String> {
    let arns = connected.ecs.list_services(cluster).await.map_err(|e| e.to_string())?;
    let mut all = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(10) {
        all.extend(connected.ecs.describe_tagged_services(cluster, chunk).await.map_err(|e| e.to_string())?);
    }
    Ok(all)
}

/// What reading a row needs of its environment.
struct RowReader<'a> {
    config: &'a Config,
    connected: &'a Connected,
    /// The newest good deploy of each service in the environment, from the ledger.
    latest: &'a [DeploymentRecord],
}

impl RowReader<'_> {
    /// Fills `row` from the ECS service that runs it: counts, revision, rollout, the version
    /// and digest of the revision, and when and by whom it was deployed.
    async fn fill(&self, row: &mut Row, info: &ServiceInfo) {
        row.running = info.running;
        row.desired = info.desired;
        row.task_definition = Some(info.task_definition.clone());
        if let Some(primary) = info.primary() {
            row.rollout_state = primary.rollout_state.clone();
            row.deployment = Some(primary.id.clone());
            row.failed_tasks = primary.failed_tasks;
        }
        match self.connected.ecs.describe_task_definition(&info.task_definition).await {
            Ok(td) => {
                row.deployed_by = td.tag("ferry:deployed-by").map(str::to_string);
                row.gates_skipped = td.tag("ferry:gates-skipped").map(str::to_string);
                match self.config.services.get(&row.service) {
                    Some(svc) => match identify(self.connected, &td, svc).await {
                        Ok((version, digest)) => (row.version, row.digest) = (version, digest),
                        Err(e) => row.error = Some(e.to_string()),
                    },
                    None => row.error = Some(format!("no service {} in ferry.toml", row.service)),
                }
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        if self.config.strategy(&row.environment, &row.service) == ferry_core::config::Strategy::EcsNative {
            row.paused = self.paused(&row.service, info).await;
        }
        let last = self.latest.iter().find(|r| r.service == row.service);
        if let Some(record) = last.filter(|r| r.to_task_definition.as_deref() == Some(info.task_definition.as_str())) {
            row.deployed_at = record.finished_at.map(ferry_store::format_rfc3339);
            row.deployed_by = row.deployed_by.take().or(Some(record.who.clone()));
        } else if let Some(primary) = info.primary() {
            row.deployed_at = Some(ferry_store::format_rfc3339(primary.created_at));
        }
    }

    /// The service's service deployment in progress, when ECS holds it at a PAUSE hook.
    async fn paused(&self, service: &str, info: &ServiceInfo) -> Option<Paused> {
        let cluster = info.arn.split('/').nth(1).unwrap_or_default();
        let listed = self.connected.ecs.list_service_deployments(cluster, &info.name, &["IN_PROGRESS"]).await.ok()?;
        let deployment = self.connected.ecs.describe_service_deployment(&listed.first()?.arn).await.ok()??;
        let hook = deployment.hooks.iter().find(|h| h.target_type == "PAUSE" && h.status == "AWAITING_ACTION")?;
        let approval = self.config.services.get(service).and_then(|s| s.ecs_native.as_ref()).is_some_and(|c| c.approve);
        Some(Paused {
            service_deployment: deployment.arn.clone(),
            stage: deployment.lifecycle_stage.clone(),
            hook_id: hook.hook_id.clone(),
            since: deployment.updated_at.map(ferry_store::format_rfc3339),
            expires_at: hook.expires_at.map(ferry_store::format_rfc3339),
            timeout_action: hook.timeout_action.clone(),
            waits_for: if approval { "approval" } else { "checks" },
        })
    }

    /// Fills the row of a service that runs a service per version (blue-green, canary,
    /// linear) from the cluster's services (`all`): its versions (those
    /// [`blue_green::is_version_of`] takes: the environment's own service, or tagged with
    /// the environment and the service), each one's share of the production rule and the
    /// health of its target group; the row itself from the version with the largest share.
    async fn versions(&self, row: &mut Row, cluster: &str, all: &[TaggedService]) {
        let family: Vec<&TaggedService> = all
            .iter()
            .filter(|t| {
                t.service.name == row.ecs_service
                    || (t.tag(tags::ENV) == Some(row.environment.as_str()) && t.tag(tags::SERVICE) == Some(row.service.as_str()))
            })
            .collect();
        if family.is_empty() {
            let location = self.connected.location(self.config, None);
            row.error = Some(format!("not found in cluster {cluster} ({location}), nor any version of it tagged by ferry"));
            return;
        }
        let mut errors: Vec<String> = Vec::new();
        let route: Option<Route> = match self.config.traffic_rules(&row.environment, &row.service) {
            Err(e) => {
                errors.push(e.to_string());
                None
            }
            Ok((production, _)) => match self.connected.elb.describe_route(&production).await {
                Ok(Some(route)) => Some(route),
                Ok(None) => {
                    errors.push(format!("the production rule {production} does not exist"));
                    None
                }
                Err(e) => {
                    errors.push(e.to_string());
                    None
                }
            },
        };
        let mut health: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        let mut versions: Vec<(VersionRow, &TaggedService)> = Vec::with_capacity(family.len());
        for tagged in family {
            let service = &tagged.service;
            let groups: Vec<&str> = service.load_balancers.iter().filter_map(|lb| lb.target_group_arn.as_deref()).collect();
            // The group the production rule forwards to, when one of them is.
            let group = groups
                .iter()
                .copied()
                .find(|g| route.as_ref().is_some_and(|r| r.weights().iter().any(|(arn, _)| arn == g)))
                .or_else(|| groups.first().copied());
            let (mut healthy, mut targets) = (0, 0);
            if let Some(group) = group {
                if !health.contains_key(group) {
                    match self.connected.elb.describe_target_health(group).await {
                        Ok(found) => {
                            let up = found.iter().filter(|t| t.state == "healthy").count() as u32;
                            health.insert(group.to_string(), (up, found.len() as u32));
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (healthy, targets) = health.get(group).copied().unwrap_or_default();
            }
            let version = VersionRow {
                ecs_service: service.name.clone(),
                version: tagged.tag(tags::VERSION).map(str::to_string),
                status: tagged.tag(tags::STATUS).map(str::to_string),
                running: service.running,
                desired: service.desired,
                target_group: group.map(|g| ferry_core::platform::target_group_name(g).to_string()),
                share: match (&route, group) {
                    (Some(route), Some(group)) => blue_green::share(route, group),
                    _ => 0,
                },
                healthy,
                targets,
            };
            versions.push((version, tagged));
        }
        // The largest share first; on a tie (a blue-green overlap) the one that was live
        // before, not the new one; then the live one, then the newest.
        versions.sort_by(|(a, at), (b, bt)| {
            let live = |v: &VersionRow| v.status.as_deref() == Some(tags::LIVE);
            let new = |v: &VersionRow| v.status.as_deref() == Some(tags::NEW);
            b.share
                .cmp(&a.share)
                .then(new(a).cmp(&new(b)))
                .then(live(b).cmp(&live(a)))
                .then(bt.created_at.cmp(&at.created_at))
                .then(a.ecs_service.cmp(&b.ecs_service))
        });
        if let Some((_, top)) = versions.first() {
            self.fill(row, &top.service).await;
        }
        // Traffic split between versions: a shift is under way (or stopped half-way), whatever
        // ECS says of each service's own deployment.
        if versions.iter().filter(|(v, _)| v.share > 0).count() > 1 {
            row.rollout_state = Some("SHIFTING".to_string());
        }
        if let (Some((first, _)), Some(version)) = (versions.first_mut(), &row.version) {
            first.version = first.version.take().or(Some(version.clone()));
        }
        // A version without a `ferry:version` tag (the environment's own service) is named by
        // what its revision runs.
        for (version, tagged) in versions.iter_mut().skip(1).filter(|(v, _)| v.version.is_none()) {
            if let (Ok(td), Some(svc)) =
                (self.connected.ecs.describe_task_definition(&tagged.service.task_definition).await, self.config.services.get(&row.service))
            {
                version.version = identify(self.connected, &td, svc).await.ok().and_then(|(v, _)| v);
            }
        }
        row.versions = versions.into_iter().map(|(v, _)| v).collect();
        if !errors.is_empty() {
            errors.extend(row.error.take());
            row.error = Some(errors.join("; "));
        }
    }
}

/// The release running in an environment, and how it differs from the one it is promoted from.
#[derive(Clone, Debug, Serialize)]
pub struct EnvironmentRelease {
    pub environment: String,
    /// The content-derived id of what runs (as `ferry release` names it), when every service
    /// has a known digest.
    pub release: Option<String>,
    pub promote_from: Option<String>,
    /// Services for which `promote_from` has moved on: the digest running here ran there
    /// before the one running there now. Promoting brings them up to date.
    pub behind: Vec<String>,
    /// Services running a digest that `promote_from` ran after the one it runs now (it went
    /// back, or was rolled back, since).
    pub ahead: Vec<String>,
    /// Services running a digest that `promote_from` never ran, as far as the ledger knows
    /// (deployed here directly, a hotfix): not behind, whatever their versions say.
    pub differs: Vec<String>,
}

/// How a service in an environment stands to the same service upstream (its `promote_from`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Same,
    /// Upstream ran this digest, then moved on to the one it runs now.
    Behind,
    /// Upstream ran this digest after the one it runs now (it went back since).
    Ahead,
    /// Upstream never ran this digest (as far as the ledger knows).
    Differs,
}

/// Where `here` (the digest running in an environment) stands to `upstream` (the digest
/// running in the environment it is promoted from), given when upstream first ran each
/// digest (milliseconds). "Behind" is said only when upstream is known to have run `here`
/// before the digest it runs now: an environment running what upstream never ran (a hotfix
/// deployed straight to prod) differs from upstream, it is not behind it.
pub fn standing(here: &str, upstream: &str, first_ran_upstream: &BTreeMap<String, i64>) -> Standing {
    if here == upstream {
        return Standing::Same;
    }
    match (first_ran_upstream.get(here), first_ran_upstream.get(upstream)) {
        (None, _) => Standing::Differs,
        (Some(h), Some(u)) if u < h => Standing::Ahead,
        (Some(h), Some(u)) if u == h => Standing::Differs,
        // Upstream ran `here`, and now runs something else that came after it.
        (Some(_), _) => Standing::Behind,
    }
}

/// When `environment` first ran each digest of `service`, from the ledger: the digest each
/// successful deploy put there (when it finished), and the digest each deploy found running
/// (just before it started). A deploy recorded without the digest it found (the first one
/// after Terraform created the service) is identified from the revision it found, as the
/// status table identifies what runs. At most 20 such revisions are read.
async fn first_ran(ledger: &Ledger, connected: &Connected, service: &Service, environment: &str, name: &str) -> BTreeMap<String, i64> {
    let filter = HistoryFilter { environment: Some(environment.to_string()), service: Some(name.to_string()), limit: 10_000 };
    let records: Vec<DeploymentRecord> = ledger.history(&filter).unwrap_or_default();
    let mut first: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen = |digest: &str, at: i64| {
        let entry = first.entry(digest.to_string()).or_insert(at);
        *entry = (*entry).min(at);
    };
    let mut identified: BTreeMap<String, Option<String>> = BTreeMap::new();
    for record in &records {
        if record.outcome == ferry_store::Outcome::Succeeded
            && let Some(digest) = &record.to_digest
        {
            seen(digest, record.finished_at.unwrap_or(record.started_at));
        }
        let found = match (&record.from_digest, &record.from_task_definition) {
            (Some(digest), _) => Some(digest.clone()),
            (None, Some(arn)) if identified.contains_key(arn) => identified.get(arn).cloned().flatten(),
            (None, Some(arn)) if identified.len() < 20 => {
                let digest = match connected.ecs.describe_task_definition(arn).await {
                    Ok(td) => identify(connected, &td, service).await.ok().and_then(|(_, digest)| digest),
                    Err(_) => None,
                };
                identified.insert(arn.clone(), digest.clone());
                digest
            }
            _ => None,
        };
        if let Some(digest) = found {
            seen(&digest, record.started_at - 1);
        }
    }
    first
}

async fn environment_releases(
    config: &Config,
    environments: &[String],
    rows: &[Row],
    ledger: Option<&Ledger>,
    connections: &BTreeMap<String, Connected>,
) -> Vec<EnvironmentRelease> {
    let digests = |env: &str| -> Vec<(String, Option<String>)> {
        rows.iter().filter(|r| r.environment == env).map(|r| (r.service.clone(), r.digest.clone())).collect()
    };
    let mut out = Vec::new();
    for env in environments {
        let here = digests(env);
        let release = here
            .iter()
            .map(|(service, digest)| {
                let svc = config.services.get(service)?;
                Some(ferry_store::ReleaseEntry {
                    service: service.clone(),
                    repository: svc.repository_name().to_string(),
                    digest: digest.clone()?,
                    version: None,
                })
            })
            .collect::<Option<Vec<_>>>()
            .filter(|entries| !entries.is_empty())
            .map(|entries| ferry_store::release_id(&entries));
        let promote_from = config.environments.get(env).and_then(|e| e.promote_from.clone());
        let (mut behind, mut ahead, mut differs) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(from) = promote_from.as_ref().filter(|from| environments.contains(from)) {
            let upstream = digests(from);
            for (service, digest) in &here {
                // A digest that could not be read is in the table's error column, not here.
                let Some(digest) = digest else { continue };
                let Some(up) = upstream.iter().find(|(s, _)| s == service).and_then(|(_, d)| d.clone()) else { continue };
                if &up == digest {
                    continue;
                }
                let history = match (ledger, connections.get(from), config.services.get(service)) {
                    (Some(ledger), Some(connected), Some(svc)) => first_ran(ledger, connected, svc, from, service).await,
                    _ => BTreeMap::new(),
                };
                match standing(digest, &up, &history) {
                    Standing::Same => {}
                    Standing::Behind => behind.push(service.clone()),
                    Standing::Ahead => ahead.push(service.clone()),
                    Standing::Differs => differs.push(service.clone()),
                }
            }
        }
        out.push(EnvironmentRelease { environment: env.clone(), release, promote_from, behind, ahead, differs });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_behind_dev_when_prod_runs_something_dev_never_ran() {
        let dev: BTreeMap<String, i64> = [("sha256:old".to_string(), 100), ("sha256:new".to_string(), 200)].into();
        // prod runs a hotfix dev never ran: it differs, it is not behind.
        assert_eq!(standing("sha256:hotfix", "sha256:new", &dev), Standing::Differs);
        // prod runs what dev ran before its current digest: behind.
        assert_eq!(standing("sha256:old", "sha256:new", &dev), Standing::Behind);
        // dev went back to an older digest after prod got the newer one: prod is ahead.
        assert_eq!(standing("sha256:new", "sha256:old", &dev), Standing::Ahead);
        assert_eq!(standing("sha256:new", "sha256:new", &dev), Standing::Same);
        // Nothing recorded upstream: ferry cannot say behind.
        assert_eq!(standing("sha256:old", "sha256:new", &BTreeMap::new()), Standing::Differs);
    }
}
