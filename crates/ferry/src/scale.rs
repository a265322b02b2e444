//! `ferry scale ENV SERVICE N`: set a service's desired count within its Application Auto
//! Scaling limits (or widen them with --adjust-limits), under the service's lock, and wait
//! until it settles (ferry_app::scale).

use ferry_app::Context;
use ferry_app::scale::{ScaleInput, ScaleResult};

use crate::Failure;
use crate::cli::{GlobalArgs, ScaleArgs};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, args: ScaleArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object, also when the command is refused.
    scale(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "scale", failure))
}

async fn scale(global: &GlobalArgs, args: ScaleArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: crate::app::cancel_on_ctrl_c() };
    let input = ScaleInput {
        environment: args.environment,
        service: args.service,
        desired: args.desired,
        adjust_limits: args.adjust_limits,
        wait: !args.no_wait,
        timeout: args.timeout,
    };
    let result = ferry_app::scale::scale(&ctx, input).await?;
    if printer.json() {
        let mut line = serde_json::to_value(&result).unwrap_or_default();
        if let Some(object) = line.as_object_mut() {
            object.insert("type".into(), "result".into());
            object.insert("command".into(), "scale".into());
            object.insert("exit_code".into(), 0.into());
        }
        printer.json_line(&line);
        return Ok(());
    }
    printer.out(&scaled_text(&result));
    Ok(())
}

/// What `ferry scale` says it did.
pub fn scaled_text(result: &ScaleResult) -> String {
    let mut text = format!("{} in {}: desired count {} → {}", result.service, result.environment, result.from, result.desired);
    text.push_str(&match result.waited {
        true => format!(", {} running (settled)", result.running),
        false => format!(", {} running (not waited for)", result.running),
    });
    if let Some(limits) = &result.adjusted_limits {
        let before = result.scalable_target.as_ref().map(|t| format!(" (were {}..{})", t.min_capacity, t.max_capacity)).unwrap_or_default();
        text.push_str(&format!(
            "\nApplication Auto Scaling limits of {} widened to {}..{}{before}",
            limits.resource_id, limits.min_capacity, limits.max_capacity
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::platform::ScalableTarget;

    #[test]
    fn the_result_says_the_count_and_any_widened_limits() {
        let target = |min, max| ScalableTarget { resource_id: "service/prod/web".into(), min_capacity: min, max_capacity: max };
        let mut result = ScaleResult {
            environment: "prod".into(),
            service: "web".into(),
            cluster: "prod".into(),
            ecs_service: "web".into(),
            from: 2,
            desired: 7,
            running: 7,
            scalable_target: Some(target(1, 4)),
            adjusted_limits: Some(target(1, 7)),
            waited: true,
        };
        assert_eq!(
            scaled_text(&result),
            "web in prod: desired count 2 → 7, 7 running (settled)\nApplication Auto Scaling limits of service/prod/web widened to 1..7 (were 1..4)"
        );
        result.adjusted_limits = None;
        result.waited = false;
        result.running = 2;
        assert_eq!(scaled_text(&result), "web in prod: desired count 2 → 7, 2 running (not waited for)");
    }
}
