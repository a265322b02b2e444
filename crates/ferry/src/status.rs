//! `ferry status [ENV]`: what runs where. One row per environment × service: version,
//! digest, revision, rollout state, running/desired, and when and by whom it was deployed
//! (from the revision's ferry tags, so it is right whoever deployed it from wherever). Then
//! the release each environment runs and how it stands to the environment it is promoted
//! from (behind, ahead, or different: see [`standing`]), and the locks held.

use std::collections::BTreeMap;

use ferry_core::platform::Ecs;
use ferry_core::rolling::short_task_definition;
use ferry_store::{DeploymentRecord, HistoryFilter, Ledger, LockInfo};
use serde::Serialize;

use crate::Failure;
use crate::cli::{GlobalArgs, StatusArgs};
use crate::output::{Printer, now_ms, short_digest, table};
use crate::project::{self, Connected};

#[derive(Serialize, Default)]
struct Row {
    environment: String,
    service: String,
    ecs_service: String,
    version: Option<String>,
    digest: Option<String>,
    task_definition: Option<String>,
    rollout_state: Option<String>,
    running: i32,
    desired: i32,
    /// Tasks of the current (PRIMARY) deployment that failed: ECS's `failedTasks`. A
    /// COMPLETED deployment whose tasks keep failing shows here.
    failed_tasks: i32,
    deployed_at: Option<String>,
    deployed_by: Option<String>,
    deployment: Option<String>,
    error: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> Result<(), Failure> {
    let config = project::load_config(global)?;
    let printer = Printer::new(global);
    let environments: Vec<String> = match &args.environment {
        Some(name) => {
            config.environment(name).map_err(Failure::input)?;
            vec![name.clone()]
        }
        None => config.environments.keys().cloned().collect(),
    };
    let ledger = project::open_ledger(global).ok();
    let mut rows = Vec::new();
    let mut connections: BTreeMap<String, Connected> = BTreeMap::new();
    for env_name in &environments {
        let env = config.environment(env_name).map_err(Failure::input)?;
        let connected = project::connect(&config, env_name, global.endpoint_url.as_deref()).await?;
        // The newest good deploy of each service here, in one ledger read.
        let latest = ledger.as_ref().and_then(|l| l.latest_per_service(Some(env_name)).ok()).unwrap_or_default();
        let names: Vec<(String, String)> = config
            .services
            .keys()
            .map(|s| config.ecs_service_name(env_name, s).map(|n| (s.clone(), n)))
            .collect::<Result<_, _>>()
            .map_err(Failure::input)?;
        for chunk in names.chunks(10) {
            let ecs_names: Vec<String> = chunk.iter().map(|(_, n)| n.clone()).collect();
            let described = connected.ecs.describe_services(&env.cluster, &ecs_names).await;
            for (service, ecs_service) in chunk {
                let mut row =
                    Row { environment: env_name.clone(), service: service.clone(), ecs_service: ecs_service.clone(), ..Row::default() };
                match &described {
                    Err(e) => row.error = Some(e.to_string()),
                    Ok(found) => match found.iter().find(|s| &s.name == ecs_service) {
                        None => row.error = Some(format!("not found in cluster {} ({})", env.cluster, connected.location(&config, None))),
                        Some(info) => {
                            row.running = info.running;
                            row.desired = info.desired;
                            row.task_definition = Some(info.task_definition.clone());
                            if let Some(primary) = info.primary() {
                                row.rollout_state = primary.rollout_state.clone();
                                row.deployment = Some(primary.id.clone());
                                row.failed_tasks = primary.failed_tasks;
                            }
                            match connected.ecs.describe_task_definition(&info.task_definition).await {
                                Ok(td) => {
                                    row.deployed_by = td.tag("ferry:deployed-by").map(str::to_string);
                                    match crate::release::identify(&connected, &td, &config.services[service]).await {
                                        Ok((version, digest)) => (row.version, row.digest) = (version, digest),
                                        Err(e) => row.error = Some(e.message),
                                    }
                                }
                                Err(e) => row.error = Some(e.to_string()),
                            }
                            let last = latest.iter().find(|r| &r.service == service);
                            if let Some(record) = last.filter(|r| r.to_task_definition.as_deref() == Some(info.task_definition.as_str())) {
                                row.deployed_at = record.finished_at.map(ferry_store::format_rfc3339);
                                row.deployed_by = row.deployed_by.or(Some(record.who.clone()));
                            } else if let Some(primary) = info.primary() {
                                row.deployed_at = Some(ferry_store::format_rfc3339(primary.created_at));
                            }
                        }
                    },
                }
                rows.push(row);
            }
        }
        connections.insert(env_name.clone(), connected);
    }
    let releases = environment_releases(&config, &environments, &rows, ledger.as_deref(), &connections).await;
    // Who holds which lock, since when: a lock left by a killed deploy blocks the service
    // until its lease runs out, and this is where a person finds it (and `ferry unlock`).
    let locks: Vec<LockInfo> = match &ledger {
        Some(ledger) => rows.iter().filter_map(|r| ledger.lock(&r.environment, &r.service).ok().flatten()).collect(),
        None => Vec::new(),
    };
    // A row that could not be read is a failure to report, not a status: exit 3 after
    // printing what could be read (CI must not take a blind status for a good one).
    let errors = rows.iter().filter(|r| r.error.is_some()).count();
    let outcome = if errors == 0 {
        Ok(())
    } else {
        Err(Failure::platform(format!("{errors} of {} services could not be read (see the table)", rows.len())))
    };
    if printer.json() {
        printer.json_line(
            &serde_json::json!({"type": "result", "command": "status", "services": rows, "environments": releases, "locks": locks}),
        );
        return outcome;
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.environment.clone(),
                r.service.clone(),
                dash(&r.version),
                r.digest.as_deref().map(short_digest).unwrap_or_else(|| "-".into()),
                r.task_definition.as_deref().map(short_task_definition).unwrap_or("-").to_string(),
                dash(&r.rollout_state),
                match (&r.error, r.failed_tasks) {
                    (Some(_), _) => "-".into(),
                    (None, 0) => format!("{}/{}", r.running, r.desired),
                    (None, failed) => format!("{}/{} ({failed} failed)", r.running, r.desired),
                },
                dash(&r.deployed_at),
                dash(&r.deployed_by),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    printer
        .out(&table(&["ENVIRONMENT", "SERVICE", "VERSION", "DIGEST", "REVISION", "ROLLOUT", "RUNNING", "DEPLOYED", "BY", ""], &table_rows));
    if releases.iter().any(|r| r.release.is_some() || r.promote_from.is_some()) {
        let rows: Vec<Vec<String>> = releases
            .iter()
            .map(|r| vec![r.environment.clone(), r.release.clone().unwrap_or_else(|| "-".into()), r.standing_text()])
            .collect();
        printer.out("");
        printer.out(&table(&["ENVIRONMENT", "RELEASE", ""], &rows));
    }
    if !locks.is_empty() {
        printer.out("");
        printer.out("locks (free one with `ferry unlock ENV SERVICE --reason TEXT`):");
        let now = now_ms();
        for lock in &locks {
            printer.out(&format!("  {}", crate::unlock::lock_text(lock, now)));
        }
    }
    outcome
}

/// The release running in an environment, and how it differs from the one it is promoted from.
#[derive(Serialize)]
struct EnvironmentRelease {
    environment: String,
    /// The content-derived id of what runs (as `ferry release` names it), when every service
    /// has a known digest.
    release: Option<String>,
    promote_from: Option<String>,
    /// Services for which `promote_from` has moved on: the digest running here ran there
    /// before the one running there now. Promoting brings them up to date.
    behind: Vec<String>,
    /// Services running a digest that `promote_from` ran after the one it runs now (it went
    /// back, or was rolled back, since).
    ahead: Vec<String>,
    /// Services running a digest that `promote_from` never ran, as far as the ledger knows
    /// (deployed here directly, a hotfix): not behind, whatever their versions say.
    differs: Vec<String>,
}

impl EnvironmentRelease {
    /// "behind dev: web; differs from dev: api", or "up to date with dev".
    fn standing_text(&self) -> String {
        let Some(from) = &self.promote_from else { return String::new() };
        let parts: Vec<String> = [("behind", &self.behind), ("ahead of", &self.ahead), ("differs from", &self.differs)]
            .iter()
            .filter(|(_, services)| !services.is_empty())
            .map(|(word, services)| format!("{word} {from}: {}", services.join(", ")))
            .collect();
        if parts.is_empty() { format!("up to date with {from}") } else { parts.join("; ") }
    }
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
/// digest. "Behind" is said only when upstream is known to have run `here` before the
/// digest it runs now: an environment running what upstream never ran (a hotfix deployed
/// straight to prod) differs from upstream, it is not behind it.
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
async fn first_ran(
    ledger: &Ledger,
    connected: &Connected,
    service: &ferry_core::config::Service,
    environment: &str,
    name: &str,
) -> BTreeMap<String, i64> {
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
            (None, Some(arn)) if identified.contains_key(arn) => identified[arn].clone(),
            (None, Some(arn)) if identified.len() < 20 => {
                let digest = match connected.ecs.describe_task_definition(arn).await {
                    Ok(td) => crate::release::identify(connected, &td, service).await.ok().and_then(|(_, digest)| digest),
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
    config: &ferry_core::config::Config,
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

    #[test]
    fn the_standing_line_names_each_kind_once() {
        let release = |behind: &[&str], ahead: &[&str], differs: &[&str]| EnvironmentRelease {
            environment: "prod".into(),
            release: None,
            promote_from: Some("stage".into()),
            behind: behind.iter().map(|s| s.to_string()).collect(),
            ahead: ahead.iter().map(|s| s.to_string()).collect(),
            differs: differs.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(release(&[], &[], &[]).standing_text(), "up to date with stage");
        assert_eq!(release(&["web"], &[], &["api", "worker"]).standing_text(), "behind stage: web; differs from stage: api, worker");
        assert_eq!(release(&[], &["web"], &[]).standing_text(), "ahead of stage: web");
    }
}
