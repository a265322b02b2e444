//! `ferry events ENV SERVICE [--since D] [--limit N] [--follow]`: the service's ECS events,
//! oldest first like a log (ferry_app::events); --follow polls for new ones until Ctrl-C.

use std::collections::HashSet;
use std::time::Duration;

use ferry_app::Context;
use ferry_app::events::{EventsReader, select};
use ferry_core::platform::ServiceEvent;

use crate::Failure;
use crate::cli::{EventsArgs, GlobalArgs};
use crate::output::{Printer, now_ms};

/// How often --follow asks ECS for new events.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

pub async fn run(global: &GlobalArgs, args: EventsArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object when the command fails.
    events(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "events", failure))
}

async fn events(global: &GlobalArgs, args: EventsArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let cancel = if args.follow { crate::app::cancel_on_ctrl_c() } else { Default::default() };
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: cancel.clone() };
    let reader = EventsReader::open(&ctx, &args.environment, &args.service).await?;
    let since_ms = args.since.map(|d| now_ms() - d.as_millis() as i64);
    let first = reader.read().await?;
    let mut seen: HashSet<String> = first.iter().map(|e| e.id.clone()).collect();
    let shown = select(first, since_ms, args.limit);
    let mut count = shown.len();
    for event in &shown {
        print_event(&printer, &reader, event);
    }
    if args.follow {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            for event in reader.read().await? {
                if seen.insert(event.id.clone()) {
                    print_event(&printer, &reader, &event);
                    count += 1;
                }
            }
        }
    }
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": "events",
            "environment": reader.environment,
            "service": reader.service,
            "cluster": reader.cluster,
            "ecs_service": reader.ecs_service,
            "count": count,
            "exit_code": 0,
        }));
    } else if count == 0 && !args.follow {
        printer.note(Some(&reader.service), "no events (ECS keeps a service's newest 100)");
    }
    Ok(())
}

fn print_event(printer: &Printer, reader: &EventsReader, event: &ServiceEvent) {
    let at = ferry_store::format_rfc3339(event.created_at);
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "event",
            "at": at,
            "id": event.id,
            "message": event.message,
            "environment": reader.environment,
            "service": reader.service,
        }));
    } else {
        printer.out(&format!("{at}  {}", event.message));
    }
}
