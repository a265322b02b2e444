//! `ferry gc ENV --keep N [--dry-run] [--services a,b]`: deregister old revisions ferry
//! registered (ferry_app::gc), one line per family with what went and what stayed, then
//! (unless -q) each kept revision and why.

use ferry_app::Context;
use ferry_app::gc::{FamilyResult, GcInput, GcResult, VersionsResult};

use crate::Failure;
use crate::cli::{GcArgs, GlobalArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: GcArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object, also when the command is refused.
    gc(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "gc", failure))
}

async fn gc(global: &GlobalArgs, args: GcArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    let input = GcInput { environment: args.environment, services: args.services, keep: args.keep, dry_run: args.dry_run };
    let result = ferry_app::gc::gc(&ctx, input).await?;
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": "gc",
            "environment": result.environment,
            "keep": result.keep,
            "dry_run": result.dry_run,
            "families": result.families,
            "skipped": result.skipped,
            "versions": result.versions,
            "exit_code": 0,
        }));
        return Ok(());
    }
    for line in text(&result) {
        match line {
            Line::Summary(text) => printer.out(&text),
            Line::Detail(text) => printer.narrate(&text),
        }
    }
    Ok(())
}

enum Line {
    /// Said even with -q.
    Summary(String),
    Detail(String),
}

fn text(result: &GcResult) -> Vec<Line> {
    let mut lines = Vec::new();
    for family in &result.families {
        lines.push(Line::Summary(summary(family, result.dry_run)));
        for kept in &family.kept {
            let why: Vec<String> = kept.reasons.iter().map(|r| r.text()).collect();
            lines.push(Line::Detail(format!("  kept {}: {}", kept.revision, why.join("; "))));
        }
    }
    for versions in &result.versions {
        lines.push(Line::Summary(versions_summary(versions, result.dry_run)));
        if let Some(left) = &versions.left {
            lines.push(Line::Summary(format!("  {}: {left}", versions.service)));
        }
    }
    for skipped in &result.skipped {
        lines.push(Line::Summary(format!("{}: skipped, {}", skipped.service, skipped.detail)));
    }
    if result.dry_run {
        lines
            .push(Line::Detail(format!("dry run: nothing deregistered; `ferry gc {} --keep {}` does it", result.environment, result.keep)));
    }
    lines
}

/// A blue-green, canary or linear service's versions: what went (or would go).
fn versions_summary(versions: &VersionsResult, dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
    let list = |names: &[String]| if names.is_empty() { "none".to_string() } else { names.join(", ") };
    format!(
        "{} versions (keep {} retired): {verb} services {}; target groups {}",
        versions.service,
        versions.keep,
        list(&versions.deleted_services),
        list(&versions.deleted_target_groups)
    )
}

fn summary(family: &FamilyResult, dry_run: bool) -> String {
    let verb = if dry_run { "would deregister" } else { "deregistered" };
    let gone = if family.deregistered.is_empty() { String::new() } else { format!(": {}", family.deregistered.join(", ")) };
    format!("{} (family {}): {verb} {}{gone}; kept {}", family.service, family.family, family.deregistered.len(), family.kept.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::gc::{Keep, Kept};

    #[test]
    fn a_dry_run_says_what_would_go_and_why_each_kept_revision_stays() {
        let result = GcResult {
            environment: "dev".into(),
            keep: 1,
            dry_run: true,
            families: vec![FamilyResult {
                service: "web".into(),
                family: "web".into(),
                deregistered: vec!["web:1".into(), "web:2".into()],
                kept: vec![
                    Kept { revision: "web:4".into(), reasons: vec![Keep::Newest, Keep::Service] },
                    Kept { revision: "web:3".into(), reasons: vec![Keep::Task("abc".into())] },
                ],
            }],
            skipped: vec![],
            versions: vec![VersionsResult {
                service: "shop".into(),
                keep: 1,
                deleted_services: vec!["shop-1-0-0-0a1b2c3d4".into()],
                deleted_target_groups: vec!["dev-shop-1-0-0-0a1b2c3d4".into()],
                left: None,
            }],
        };
        let lines: Vec<String> = text(&result)
            .into_iter()
            .map(|l| match l {
                Line::Summary(t) | Line::Detail(t) => t,
            })
            .collect();
        assert_eq!(
            lines,
            [
                "web (family web): would deregister 2: web:1, web:2; kept 2",
                "  kept web:4: among the newest kept; the service's task definition",
                "  kept web:3: used by task abc",
                "shop versions (keep 1 retired): would delete services shop-1-0-0-0a1b2c3d4; target groups dev-shop-1-0-0-0a1b2c3d4",
                "dry run: nothing deregistered; `ferry gc dev --keep 1` does it",
            ]
        );
    }
}
