//! `ferry status [ENV]`: what runs where. One row per environment × service: version,
//! digest, revision, rollout state, running/desired, and when and by whom it was deployed
//! (from the revision's ferry tags, so it is right whoever deployed it from wherever).

use ferry_core::platform::Ecs;
use ferry_core::rolling::short_task_definition;
use serde::Serialize;

use crate::Failure;
use crate::cli::{GlobalArgs, StatusArgs};
use crate::output::{Printer, short_digest, table};
use crate::project;

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
                let mut row = Row { environment: env_name.clone(), service: service.clone(), ecs_service: ecs_service.clone(), ..Row::default() };
                match &described {
                    Err(e) => row.error = Some(e.to_string()),
                    Ok(found) => match found.iter().find(|s| &s.name == ecs_service) {
                        None => row.error = Some(format!("not found in cluster {}", env.cluster)),
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
    }
    let releases = environment_releases(&config, &environments, &rows);
    // A row that could not be read is a failure to report, not a status: exit 3 after
    // printing what could be read (CI must not take a blind status for a good one).
    let errors = rows.iter().filter(|r| r.error.is_some()).count();
    let outcome = if errors == 0 {
        Ok(())
    } else {
        Err(Failure::platform(format!("{errors} of {} services could not be read (see the table)", rows.len())))
    };
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "status", "services": rows, "environments": releases}));
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
    printer.out(&table(&["ENVIRONMENT", "SERVICE", "VERSION", "DIGEST", "REVISION", "ROLLOUT", "RUNNING", "DEPLOYED", "BY", ""], &table_rows));
    if releases.iter().any(|r| r.release.is_some() || r.promote_from.is_some()) {
        let rows: Vec<Vec<String>> = releases
            .iter()
            .map(|r| {
                let behind = match (&r.promote_from, r.behind.is_empty()) {
                    (Some(from), false) => format!("behind {from}: {}", r.behind.join(", ")),
                    (Some(from), true) => format!("up to date with {from}"),
                    (None, _) => String::new(),
                };
                vec![r.environment.clone(), r.release.clone().unwrap_or_else(|| "-".into()), behind]
            })
            .collect();
        printer.out("");
        printer.out(&table(&["ENVIRONMENT", "RELEASE", ""], &rows));
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
    /// Services whose digest differs from `promote_from`'s.
    behind: Vec<String>,
}

fn environment_releases(config: &ferry_core::config::Config, environments: &[String], rows: &[Row]) -> Vec<EnvironmentRelease> {
    let digests = |env: &str| -> Vec<(String, Option<String>)> {
        rows.iter().filter(|r| r.environment == env).map(|r| (r.service.clone(), r.digest.clone())).collect()
    };
    environments
        .iter()
        .map(|env| {
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
            let behind = match &promote_from {
                Some(from) if environments.contains(from) => {
                    let upstream = digests(from);
                    here.iter()
                        .filter(|(service, digest)| upstream.iter().any(|(s, d)| s == service && d != digest))
                        .map(|(service, _)| service.clone())
                        .collect()
                }
                _ => Vec::new(),
            };
            EnvironmentRelease { environment: env.clone(), release, promote_from, behind }
        })
        .collect()
}
