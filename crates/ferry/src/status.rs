//! `ferry status [ENV]`: what runs where (ferry_app::status), as a table per environment ×
//! service, the release each environment runs and how it stands to the one it is promoted
//! from, and the locks held.

use ferry_app::Context;
use ferry_app::status::{EnvironmentRelease, StatusInput};
use ferry_core::rolling::short_task_definition;

use crate::Failure;
use crate::cli::{GlobalArgs, StatusArgs};
use crate::output::{Printer, now_ms, short_digest, table};

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    let status = ferry_app::status::status(&ctx, StatusInput { environment: args.environment }).await?;
    let outcome = status.error().map_or(Ok(()), Err);
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result", "command": "status", "services": status.services, "environments": status.environments, "locks": status.locks,
        }));
        return outcome;
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let table_rows: Vec<Vec<String>> = status
        .services
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
    let releases = &status.environments;
    if releases.iter().any(|r| r.release.is_some() || r.promote_from.is_some()) {
        let rows: Vec<Vec<String>> = releases
            .iter()
            .map(|r| vec![r.environment.clone(), r.release.clone().unwrap_or_else(|| "-".into()), standing_text(r)])
            .collect();
        printer.out("");
        printer.out(&table(&["ENVIRONMENT", "RELEASE", ""], &rows));
    }
    for row in status.services.iter().filter(|r| r.interrupted.is_some()) {
        printer.out("");
        printer.out(&format!("{} in {}: {}", row.service, row.environment, row.interrupted.as_deref().unwrap_or_default()));
    }
    if !status.locks.is_empty() {
        printer.out("");
        printer.out("locks (free one with `ferry unlock ENV SERVICE --reason TEXT`):");
        let now = now_ms();
        for lock in &status.locks {
            printer.out(&format!("  {}", crate::unlock::lock_text(lock, now)));
        }
    }
    outcome
}

/// "behind dev: web; differs from dev: api", or "up to date with dev".
fn standing_text(release: &EnvironmentRelease) -> String {
    let Some(from) = &release.promote_from else { return String::new() };
    let parts: Vec<String> = [("behind", &release.behind), ("ahead of", &release.ahead), ("differs from", &release.differs)]
        .iter()
        .filter(|(_, services)| !services.is_empty())
        .map(|(word, services)| format!("{word} {from}: {}", services.join(", ")))
        .collect();
    if parts.is_empty() { format!("up to date with {from}") } else { parts.join("; ") }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(standing_text(&release(&[], &[], &[])), "up to date with stage");
        assert_eq!(standing_text(&release(&["web"], &[], &["api", "worker"])), "behind stage: web; differs from stage: api, worker");
        assert_eq!(standing_text(&release(&[], &["web"], &[])), "ahead of stage: web");
    }
}
