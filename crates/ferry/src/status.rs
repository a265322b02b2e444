//! `ferry status [ENV]`: what runs where (ferry_app::status), as a table per environment ×
//! service, the release each environment runs and how it stands to the one it is promoted
//! from, and the locks held.

use ferry_app::Context;
use ferry_app::status::{EnvironmentRelease, Row, StatusInput, VersionRow};
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
            "type": "result", "command": "status", "services": status.services, "environments": status.environments, "locks": status.locks, "ledger_error": status.ledger_error,
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
    let services =
        table(&["ENVIRONMENT", "SERVICE", "VERSION", "DIGEST", "REVISION", "ROLLOUT", "RUNNING", "DEPLOYED", "BY", ""], &table_rows);
    printer.out(&with_versions(&services, &status.services));
    let releases = &status.environments;
    if releases.iter().any(|r| r.release.is_some() || r.promote_from.is_some()) {
        let rows: Vec<Vec<String>> = releases
            .iter()
            .map(|r| vec![r.environment.clone(), r.release.clone().unwrap_or_else(|| "-".into()), standing_text(r)])
            .collect();
        printer.out("");
        printer.out(&table(&["ENVIRONMENT", "RELEASE", ""], &rows));
    }
    for row in status.services.iter().filter(|r| r.gates_skipped.is_some()) {
        printer.out("");
        printer.out(&format!(
            "{} in {}: deployed past {}'s promotion gates by {}",
            row.service,
            row.environment,
            row.environment,
            row.gates_skipped.as_deref().unwrap_or_default()
        ));
    }
    for row in status.services.iter().filter(|r| r.interrupted.is_some()) {
        printer.out("");
        printer.out(&format!("{} in {}: {}", row.service, row.environment, row.interrupted.as_deref().unwrap_or_default()));
    }
    for row in &status.services {
        let Some(paused) = &row.paused else { continue };
        let waits = match paused.waits_for {
            "approval" => format!("an approval: `ferry continue {} {}` (or `--rollback`)", row.environment, row.service),
            _ => format!(
                "ferry's checks (a `ferry deploy` or `ferry watch` following it answers), or `ferry continue {} {}`",
                row.environment, row.service
            ),
        };
        printer.out("");
        printer.out(&format!(
            "{} in {}: ECS deployment paused at {} since {} (lifecycle hook {}; {} at {} unless answered); waiting for {waits}",
            row.service,
            row.environment,
            paused.stage.as_deref().unwrap_or("?"),
            paused.since.as_deref().unwrap_or("?"),
            paused.hook_id,
            paused.timeout_action.as_deref().unwrap_or("ROLLBACK"),
            paused.expires_at.as_deref().unwrap_or("?"),
        ));
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

/// The services' table with each version of a service that runs one per version (blue-green,
/// canary, linear) on an indented line under its row; when a cell spans lines (an error),
/// the versions follow the table, each group named by its service.
fn with_versions(table: &str, rows: &[Row]) -> String {
    if rows.iter().all(|r| r.versions.is_empty()) {
        return table.to_string();
    }
    let lines: Vec<&str> = table.lines().collect();
    let mut out: Vec<String> = Vec::new();
    if lines.len() == rows.len() + 1 {
        out.push(lines[0].to_string());
        for (line, row) in lines[1..].iter().zip(rows) {
            out.push(line.to_string());
            out.extend(version_lines(&row.versions));
        }
    } else {
        out.push(table.to_string());
        for row in rows.iter().filter(|r| !r.versions.is_empty()) {
            out.push(String::new());
            out.push(format!("{} in {}:", row.service, row.environment));
            out.extend(version_lines(&row.versions));
        }
    }
    out.join("\n")
}

/// One line per version, its columns aligned with the other versions' of the service:
/// `  web-1-1-0-0a1b2c3d4  1.1.0  live  4/4  tg test-web-1-1-0-0a1b2c3d4  90%  4/4 healthy`.
fn version_lines(versions: &[VersionRow]) -> Vec<String> {
    let cells: Vec<[String; 7]> = versions
        .iter()
        .map(|v| {
            [
                v.ecs_service.clone(),
                v.version.clone().unwrap_or_else(|| "-".into()),
                v.status.clone().unwrap_or_else(|| "-".into()),
                format!("{}/{}", v.running, v.desired),
                format!("tg {}", v.target_group.as_deref().unwrap_or("-")),
                format!("{}%", v.share),
                format!("{}/{} healthy", v.healthy, v.targets),
            ]
        })
        .collect();
    let mut widths = [0usize; 7];
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            let columns: Vec<String> = row
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| match i {
                    // The share, right-aligned; the last column unpadded.
                    5 => format!("{cell:>w$}"),
                    6 => cell.clone(),
                    _ => format!("{cell:<w$}"),
                })
                .collect();
            format!("  {}", columns.join("  "))
        })
        .collect()
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

    #[test]
    fn versions_are_indented_under_their_service() {
        let version = |name: &str, version: &str, status: &str, running: i32, tg: &str, share: u32, healthy: u32| VersionRow {
            ecs_service: name.into(),
            version: Some(version.into()),
            status: Some(status.into()),
            running,
            desired: running,
            target_group: Some(tg.into()),
            share,
            healthy,
            targets: healthy,
        };
        let rows = vec![
            Row {
                service: "shop".into(),
                versions: vec![
                    version("shop-1-1-0", "1.1.0", "live", 4, "dev-shop-1-1-0", 100, 4),
                    version("shop", "1.0.0", "obsolete", 0, "shop-blue", 0, 0),
                ],
                ..Row::default()
            },
            Row { service: "web".into(), ..Row::default() },
        ];
        let text = with_versions("HEADER\nshop row\nweb row", &rows);
        assert_eq!(
            text,
            "HEADER\nshop row\n  shop-1-1-0  1.1.0  live      4/4  tg dev-shop-1-1-0  100%  4/4 healthy\n  shop        1.0.0  obsolete  0/0  tg shop-blue         0%  0/0 healthy\nweb row"
        );
        // Without versions the table is as it was.
        assert_eq!(with_versions("H\nweb row", &rows[1..]), "H\nweb row");
    }
}
