//! `ferry check`: validate ferry.toml and every template, offline, for every environment
//! (ferry_app::check), and say what is wrong, file by file.

use ferry_app::Context;

use crate::Failure;
use crate::cli::{CheckArgs, GlobalArgs};
use crate::output::Printer;

pub fn run(global: &GlobalArgs, args: CheckArgs) -> Result<(), Failure> {
    let (project, actor) = (crate::app::project_with_vars(global, args.vars), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &ferry_app::sink::Silent, cancel: Default::default() };
    let checked = ferry_app::check::check(&ctx)?;
    let printer = Printer::new(global);
    if printer.json() {
        let messages: Vec<&String> = checked.problems.iter().map(|p| &p.message).collect();
        printer.json_line(&serde_json::json!({
            "type": "result", "command": "check", "ok": checked.problems.is_empty(), "checked": checked.checked,
            "problems": messages, "warnings": checked.warnings,
        }));
    } else {
        for p in &checked.problems {
            printer.out(&format!("✗ {}", p.message));
        }
        for w in &checked.warnings {
            printer.out(&format!("! {w}"));
        }
        if checked.problems.is_empty() {
            printer.out(&format!("✓ {}: {} environment(s) × {} service(s) valid", checked.config, checked.environments, checked.services));
        }
    }
    checked.error().map_or(Ok(()), Err)
}
