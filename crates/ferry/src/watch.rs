//! `ferry watch ENV SERVICE`: follow a deployment in progress (one started with `ferry
//! deploy --detach`, or whose run died) to its end (ferry_app::watch).

use ferry_app::Context;
use ferry_app::watch::{WatchInput, Watched};
use ferry_core::ExitKind;
use ferry_store::Outcome;

use crate::Failure;
use crate::cli::{GlobalArgs, WatchArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: WatchArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: crate::app::cancel_on_ctrl_c() };
    let input = WatchInput { environment: args.environment.clone(), service: args.service.clone(), timeout: args.timeout };
    match ferry_app::watch::watch(&ctx, input).await {
        Ok(Watched::Followed(deployed)) => {
            crate::deploy::print_run(&printer, &deployed.run);
            deployed.run.error().map_or(Ok(()), Err)
        }
        Ok(Watched::NothingInProgress(last)) => {
            // Exits as the last deployment ended: a CI job that watches one another runner
            // followed to its end still fails when it failed.
            let kind = match last.as_deref().map(|r| r.outcome) {
                Some(Outcome::FailedRolledBack) => ExitKind::FailedRolledBack,
                Some(Outcome::FailedRollbackFailed) => ExitKind::RollbackFailed,
                Some(Outcome::Failed | Outcome::Interrupted) => ExitKind::Platform,
                _ => ExitKind::Ok,
            };
            let said = match last.as_deref() {
                None => format!("nothing to watch: {} has never been deployed to {} by ferry", args.service, args.environment),
                Some(record) => format!(
                    "nothing to watch: no deployment of {} in {} is in progress; the last one, {} ({}), ended {}: {}",
                    args.service,
                    args.environment,
                    record.id,
                    record.to_version.as_deref().unwrap_or("?"),
                    record.finished_at.map(ferry_store::format_rfc3339).unwrap_or_else(|| "?".into()),
                    ferry_app::words::recorded_outcome_word(record.outcome)
                ),
            };
            if printer.json() {
                printer.json_line(&serde_json::json!({
                    "type": "result",
                    "command": "watch",
                    "environment": args.environment,
                    "service": args.service,
                    "in_progress": false,
                    "last": last,
                    "exit_code": kind.code(),
                }));
            } else {
                printer.out(&said);
            }
            match kind {
                ExitKind::Ok => Ok(()),
                kind => Err(Failure::new(kind, said)),
            }
        }
        Err(e) => crate::deploy::finish(&printer, Err(e)),
    }
}
