//! `ferry continue ENV SERVICE [--rollback]`: answer an ECS-managed deployment paused at a
//! PAUSE lifecycle hook (ferry_app::proceed). The file is not `continue.rs`: `continue` is a
//! Rust keyword.

use ferry_app::Context;
use ferry_app::proceed::ContinueInput;

use crate::Failure;
use crate::cli::{ContinueArgs, GlobalArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: ContinueArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object, also when the command is refused.
    answer(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "continue", failure))
}

async fn answer(global: &GlobalArgs, args: ContinueArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    let input = ContinueInput { environment: args.environment, service: args.service, rollback: args.rollback };
    let answered = ferry_app::proceed::proceed(&ctx, input).await?;
    if printer.json() {
        let mut line = serde_json::to_value(&answered).unwrap_or_default();
        line["type"] = "result".into();
        line["command"] = "continue".into();
        line["exit_code"] = 0.into();
        printer.json_line(&line);
        return Ok(());
    }
    printer.out(&format!(
        "answered {} for {} in {}: lifecycle hook {} at {} (service deployment {})",
        answered.action,
        answered.service,
        answered.environment,
        answered.hook_id,
        answered.stage.as_deref().unwrap_or("?"),
        answered.service_deployment
    ));
    Ok(())
}
