//! `ferry logs ENV SERVICE [--since D] [--task ID] [--container NAME] [--limit N] [--follow]`:
//! what the service's tasks printed, from CloudWatch Logs where the awslogs driver wrote it
//! (ferry_app::logs), one line per event; --follow reads new events every second until
//! Ctrl-C.

use std::io::IsTerminal;
use std::time::Duration;

use console::style;
use ferry_app::Context;
use ferry_app::logs::{LogLine, LogsReader, Seen, newest};

use crate::Failure;
use crate::cli::{GlobalArgs, LogsArgs};
use crate::output::{Printer, now_ms};

/// How often --follow reads new events (FilterLogEvents, one page or more per container).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

pub async fn run(global: &GlobalArgs, args: LogsArgs) -> Result<(), Failure> {
    // `--output json` ends with a result object when the command fails.
    logs(global, args).await.inspect_err(|failure| crate::output::failure_result(global, "logs", failure))
}

async fn logs(global: &GlobalArgs, args: LogsArgs) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let cancel = if args.follow { crate::app::cancel_on_ctrl_c() } else { Default::default() };
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: cancel.clone() };
    let reader = LogsReader::open(&ctx, &args.environment, &args.service, args.container.as_deref(), args.task.as_deref()).await?;
    for skipped in &reader.skipped {
        printer.note(Some(&reader.service), &format!("not shown: {skipped}"));
    }
    let colour = console::colors_enabled() && std::io::stdout().is_terminal();
    let from_ms = now_ms() - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let mut seen = Seen::default();
    let read = reader.read(from_ms).await?;
    for group in &read.missing_groups {
        printer.note(
            Some(&reader.service),
            &format!(
                "log group {group} does not exist: nothing was logged there (awslogs-create-group makes it when a task starts; else create it, e.g. with Terraform)"
            ),
        );
    }
    let missing_groups = read.missing_groups;
    // Every event read counts as seen, --limit or not: --follow goes on after the newest.
    let first = seen.fresh(read.lines);
    let shown = newest(first, args.limit);
    let mut count = shown.len();
    for line in &shown {
        print_line(&printer, &reader, line, colour);
    }
    if args.follow {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            for line in seen.fresh(reader.read(seen.next_start(from_ms)).await?.lines) {
                print_line(&printer, &reader, &line, colour);
                count += 1;
            }
        }
    }
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "result",
            "command": "logs",
            "environment": reader.environment,
            "service": reader.service,
            "cluster": reader.cluster,
            "ecs_service": reader.ecs_service,
            "task_definition": reader.task_definition,
            "task": reader.task_id,
            "sources": reader.sources,
            "skipped": reader.skipped,
            "missing_groups": missing_groups,
            "count": count,
            "exit_code": 0,
        }));
    } else if count == 0 && !args.follow {
        let task_stream = reader.task_id.as_deref().unwrap_or("*");
        let streams: Vec<String> = reader.sources.iter().map(|s| format!("{} {}{task_stream}", s.group, s.stream_start())).collect();
        let task = reader.task_id.as_deref().map(|id| format!(" of task {id}")).unwrap_or_default();
        printer.note(
            Some(&reader.service),
            &format!("no log events{task} in the last {} ({})", short_duration(args.since), streams.join(", ")),
        );
    }
    Ok(())
}

fn print_line(printer: &Printer, reader: &LogsReader, line: &LogLine, colour: bool) {
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "type": "log",
            "at": rfc3339_millis(line.timestamp),
            "timestamp_ms": line.timestamp,
            "task": line.task_id,
            "container": line.container,
            "group": line.group,
            "stream": line.stream,
            "message": line.message,
            "id": line.id,
            "environment": reader.environment,
            "service": reader.service,
        }));
    } else {
        let at = style(clock_time(line.timestamp)).dim().force_styling(colour);
        let who = style(format!("{}/{}", line.task_id, line.container)).cyan().force_styling(colour);
        printer.out(&format!("{at} {who} {}", line.message.trim_end_matches(['\n', '\r'])));
    }
}

/// A duration as `--since` takes it: `2h`, `10m`, `45s`, `1500ms`.
fn short_duration(d: Duration) -> String {
    let (ms, s) = (d.as_millis(), d.as_secs());
    match () {
        _ if ms % 1000 != 0 => format!("{ms}ms"),
        _ if s != 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        _ if s != 0 && s % 60 == 0 => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

/// `HH:MM:SS.mmm` of an epoch-millisecond time, in UTC (like every time ferry prints).
fn clock_time(ms: i64) -> String {
    let of_day = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (of_day / 3_600_000, of_day / 60_000 % 60, of_day / 1000 % 60, of_day % 1000);
    format!("{h:02}:{m:02}:{s:02}.{milli:03}")
}

/// RFC 3339 with milliseconds, in UTC: `2026-11-30T18:07:17.042Z`.
fn rfc3339_millis(ms: i64) -> String {
    let seconds = ferry_store::format_rfc3339(ms);
    let base = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!("{base}.{:03}Z", ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_with_milliseconds() {
        // 2026-11-30T18:07:17.042Z
        let ms = 1_796_062_037_042;
        assert_eq!(clock_time(ms), "18:07:17.042");
        assert_eq!(rfc3339_millis(ms), "2026-11-30T18:07:17.042Z");
        assert_eq!(clock_time(0), "00:00:00.000");
        assert_eq!(rfc3339_millis(5), "1970-01-01T00:00:00.005Z");
    }

    #[test]
    fn since_is_said_as_it_was_given() {
        assert_eq!(short_duration(Duration::from_secs(600)), "10m");
        assert_eq!(short_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(short_duration(Duration::from_secs(90)), "90s");
        assert_eq!(short_duration(Duration::from_millis(1500)), "1500ms");
    }
}
