//! `ferry promote FROM TO`: ship the release running healthy in FROM to TO — exactly its
//! digests — behind TO's gates (promotion chain, rejected releases, soak time, approval),
//! all services in parallel, all or nothing when atomic (ferry_app::promote).
//!
//! Before anything changes, the plan is shown: per service, the version, image digest and
//! task definition revision TO runs and the ones it will run. The approval question (asked
//! here, at the terminal) comes after the plan; `--dry-run` prints the plan and the gates'
//! verdicts and stops there, having written nothing anywhere.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

use ferry_app::promote::{DryRun, PlannedService, PromoteInput, PromoteResult, PromotionPlan};
use ferry_app::{Approver, CancellationToken, Context};

use crate::Failure;
use crate::cli::{GlobalArgs, PromoteArgs};
use crate::output::{Printer, short_digest, table};

pub async fn run(global: &GlobalArgs, args: PromoteArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project_with_vars(global, args.vars), crate::app::actor());
    let cancel = crate::app::cancel_on_ctrl_c();
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: cancel.clone() };
    let input = PromoteInput {
        from: args.from,
        to: args.to,
        services: args.services,
        atomic: args.atomic,
        no_atomic: args.no_atomic,
        approve: args.approve,
        timeout: args.timeout,
        dry_run: args.dry_run,
    };
    let approver = Terminal { asks: std::io::stdin().is_terminal() && !printer.json(), cancel };
    match ferry_app::promote::promote(&ctx, input, &approver).await {
        Ok(PromoteResult::Ran(run)) => crate::deploy::finish(&printer, Ok(run)),
        Ok(PromoteResult::DryRun(dry)) => {
            print_dry_run(&printer, &dry);
            dry.error().map_or(Ok(()), Err)
        }
        Ok(PromoteResult::Unchanged { release, to, run_id }) => {
            // Nothing to do is still a result: JSON consumers always get the last line.
            if printer.json() {
                let run = ferry_app::RunResult { command: "promote", run_id, services: Vec::new() };
                return crate::deploy::finish(&printer, Ok(run));
            }
            printer.out(&format!("{to} already runs release {release}: nothing to promote"));
            Ok(())
        }
        Err(interrupted @ Failure::Interrupted(_)) => crate::deploy::finish(&printer, Err(interrupted)),
        // A refusal before any plan or run (the chain, health in FROM, a rejected release,
        // soak, approval) still ends `--output json` with a result object.
        Err(failure) => {
            crate::output::failure_result(global, "promote", &failure);
            Err(failure)
        }
    }
}

/// The plan as a table: per service, version, digest and revision, each from → to.
pub fn plan_table(plan: &[PlannedService]) -> String {
    let arrow = |from: Option<&str>, to: &str| match from {
        Some(from) if from == to => format!("{to} (unchanged)"),
        Some(from) => format!("{from} → {to}"),
        None => format!("? → {to}"),
    };
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|p| {
            let to_version = p.to_version.clone().unwrap_or_else(|| "?".into());
            vec![
                p.service.clone(),
                arrow(p.from_version.as_deref(), &to_version),
                arrow(p.from_digest.as_deref().map(short_digest).as_deref(), &short_digest(&p.to_digest)),
                p.revision.clone(),
            ]
        })
        .collect();
    let mut text = table(&["SERVICE", "VERSION", "DIGEST", "REVISION"], &rows);
    for p in plan.iter().filter(|p| p.action == "refused") {
        text.push_str(&format!("\n{}: refused: {}", p.service, p.reason.as_deref().unwrap_or("preflight failed")));
    }
    text
}

/// Shows the plan before any change (and before the approval question): on stderr for a
/// person, as a `plan` line in JSON.
pub fn show_plan(printer: &Printer, plan: &PromotionPlan) {
    if printer.json() {
        printer.json_line(
            &serde_json::json!({"type": "plan", "release": plan.release, "from": plan.from, "to": plan.to, "services": plan.services}),
        );
        return;
    }
    printer.block(&format!("release {}, {} → {}:\n{}", plan.release, plan.from, plan.to, plan_table(&plan.services)));
}

/// `--dry-run`: the plan and the gates' verdicts, and nothing else.
fn print_dry_run(printer: &Printer, dry: &DryRun) {
    let kind = dry.kind;
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": "promote",
            "dry_run": true,
            "release": dry.release,
            "release_recorded": dry.release_recorded,
            "from": dry.from,
            "to": dry.to,
            "plan": dry.plan,
            "gates": {"soak": dry.gates.soak, "approval": dry.gates.approval, "healthy_since": dry.gates.healthy_since},
            "changed": false,
            "exit_code": kind.code(),
            "outcome": kind,
        }));
        return;
    }
    printer.out(&format!("release {}, {} → {} (dry run: nothing changed):", dry.release, dry.from, dry.to));
    if !dry.release_recorded && dry.to_deploy() > 0 {
        printer.out(&format!(
            "release {} is not recorded yet: the promotion records it (to review or reject it first, `ferry release create --from-env {}`)",
            dry.release, dry.from
        ));
    }
    printer.out(&plan_table(&dry.plan));
    printer.out(&format!("soak: {}", dry.gates.soak));
    printer.out(&format!("approval: {}", dry.gates.approval));
    printer.out(&match dry.to_deploy() {
        0 => format!("{} already runs release {}: nothing to promote", dry.to, dry.release),
        n => format!("`ferry promote {} {}` would deploy {n} service{}", dry.from, dry.to, if n == 1 { "" } else { "s" }),
    });
}

/// The person at the terminal, asked when TO requires approval (never with JSON output or
/// without a terminal). Ctrl-C while asked is a no (the promotion then ends interrupted).
struct Terminal {
    asks: bool,
    cancel: CancellationToken,
}

impl Approver for Terminal {
    fn approve(&self, question: &str) -> bool {
        if !self.asks {
            return false;
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        // The answer is read on its own thread, so Ctrl-C (which cancels the token rather
        // than killing ferry) ends the question without waiting for a line.
        let (sender, answers) = mpsc::channel();
        let reader = std::thread::Builder::new().name("approval".into()).spawn(move || {
            let mut answer = String::new();
            let read = std::io::stdin().lock().read_line(&mut answer).is_ok();
            let _ = sender.send(read && matches!(answer.trim(), "y" | "Y" | "yes"));
        });
        if reader.is_err() {
            return false;
        }
        loop {
            match answers.recv_timeout(Duration::from_millis(100)) {
                Ok(yes) => return yes,
                Err(mpsc::RecvTimeoutError::Timeout) if !self.cancel.is_cancelled() => continue,
                Err(_) => {
                    eprintln!();
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_prompt_shows_what_changes_per_service() {
        let plan = vec![
            PlannedService {
                service: "api".into(),
                action: "deploy",
                from_version: Some("1.0.0".into()),
                to_version: Some("1.1.0".into()),
                from_digest: Some("sha256:aaaaaaaaaaaaaaaaaaaa".into()),
                to_digest: "sha256:bbbbbbbbbbbbbbbbbbbb".into(),
                from_revision: Some("api:3".into()),
                revision: "api:3 → new revision (1 change)".into(),
                changes: 1,
                ..PlannedService::default()
            },
            PlannedService {
                service: "web".into(),
                action: "unchanged",
                from_version: Some("1.1.0".into()),
                to_version: Some("1.1.0".into()),
                from_digest: Some("sha256:bbbbbbbbbbbbbbbbbbbb".into()),
                to_digest: "sha256:bbbbbbbbbbbbbbbbbbbb".into(),
                revision: "unchanged".into(),
                ..PlannedService::default()
            },
            PlannedService {
                service: "worker".into(),
                action: "refused",
                from_version: Some("1.0.0".into()),
                to_version: Some("1.1.0".into()),
                from_digest: None,
                to_digest: "sha256:cccccccccccccccccccc".into(),
                revision: "worker:2 → new revision".into(),
                reason: Some("service worker not found in cluster stage".into()),
                ..PlannedService::default()
            },
        ];
        assert_eq!(
            plan_table(&plan),
            "SERVICE  VERSION            DIGEST                                     REVISION\n\
             api      1.0.0 → 1.1.0      sha256:aaaaaaaaaaaa → sha256:bbbbbbbbbbbb  api:3 → new revision (1 change)\n\
             web      1.1.0 (unchanged)  sha256:bbbbbbbbbbbb (unchanged)            unchanged\n\
             worker   1.0.0 → 1.1.0      ? → sha256:cccccccccccc                    worker:2 → new revision\n\
             worker: refused: service worker not found in cluster stage"
        );
    }
}
