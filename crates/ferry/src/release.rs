//! `ferry release create|list|show|reject`: releases are immutable sets of service → image
//! digest, named by their content, the thing `ferry promote` moves between environments
//! (ferry_app::release).

use ferry_app::Context;
use ferry_app::release::{CreateInput, ReleaseInput, ReleaseResult, ReleaseShown};
use ferry_store::Release;

use crate::Failure;
use crate::cli::{GlobalArgs, ReleaseCommand};
use crate::output::{Printer, recorded_outcome_word, short_digest, table};

pub async fn run(global: &GlobalArgs, command: ReleaseCommand) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    let input = match command {
        ReleaseCommand::Create { from_env: Some(from), .. } => ReleaseInput::Create(CreateInput::FromEnvironment(from)),
        ReleaseCommand::Create { from_env: None, env, versions } => {
            ReleaseInput::Create(CreateInput::Versions { environment: env, versions })
        }
        ReleaseCommand::List { limit } => ReleaseInput::List { limit },
        ReleaseCommand::Show { id } => ReleaseInput::Show { id },
        ReleaseCommand::Reject { id, reason } => ReleaseInput::Reject { id, reason },
    };
    match ferry_app::release::release(&ctx, input).await? {
        ReleaseResult::Listed(releases) => list(&printer, &releases),
        ReleaseResult::Shown(shown) => show(&printer, &shown),
    }
    Ok(())
}

/// The releases as a table, or the JSON result.
fn list(printer: &Printer, releases: &[Release]) {
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "release list", "releases": releases}));
        return;
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
}

/// A release (what it holds, whether it was rejected) and its promotions, or the JSON result.
fn show(printer: &Printer, shown: &ReleaseShown) {
    let (release, promotions) = (&shown.release, &shown.promotions);
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "release", "release": release, "promotions": promotions}));
        return;
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
    for p in promotions {
        printer.out(&format!(
            "promoted {} → {} {} by {}{}: {}",
            p.from_environment,
            p.to_environment,
            ferry_store::format_rfc3339(p.started_at),
            p.who,
            p.approved_by.as_ref().map(|a| format!(" (approved by {a})")).unwrap_or_default(),
            recorded_outcome_word(p.outcome)
        ));
    }
}
