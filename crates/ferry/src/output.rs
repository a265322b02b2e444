//! The one printer every command writes through, so the three audiences get what they need:
//! a person at a terminal (a live line per service, ECS events above it, a summary table),
//! a CI log (plain timestamped lines), and a machine (`--output json`: JSON lines of events
//! on stdout, then one result object).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use console::style;
use ferry_core::deploy::{Event, Outcome, Phase, ServiceReport};
use ferry_core::rolling::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat};

pub struct Printer {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
    /// A live view on a terminal; plain lines otherwise.
    live: Option<MultiProgress>,
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
    /// Each probed service's live line text and probe figures, and when they were last said
    /// in a log or as a JSON line.
    probes: Mutex<HashMap<String, ProbeLine>>,
    start: Instant,
}

/// What the printer keeps of a service's probe.
#[derive(Default)]
struct ProbeLine {
    /// The live line's text without the probe's figures.
    base: String,
    /// `probe 240 sent, 0 failed, p99 12 ms`, once the probe has figures.
    figures: Option<String>,
    /// When the figures were last printed (a log line or a JSON line).
    said_at: Option<Instant>,
}

/// How often a probe's running figures are printed in a log (plain lines), and as JSON lines.
const PROBE_LOG_EVERY: Duration = Duration::from_secs(10);
const PROBE_JSON_EVERY: Duration = Duration::from_secs(5);

impl Printer {
    pub fn new(global: &GlobalArgs) -> Printer {
        let colors = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal();
        console::set_colors_enabled(colors);
        console::set_colors_enabled_stderr(colors);
        let live = (global.output == OutputFormat::Text && !global.quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        let printer = Printer {
            format: global.output,
            quiet: global.quiet,
            verbose: global.verbose,
            live,
            bars: Mutex::new(HashMap::new()),
            probes: Mutex::new(HashMap::new()),
            start: Instant::now(),
        };
        printer.show_retries();
        printer
    }

    /// Shows the AWS calls' retries of an endpoint that does not answer as they happen
    /// ("endpoint unreachable, retrying (1)"), from whichever task makes the call: the SDK
    /// retries on its own, and a person must not wait on silence.
    fn show_retries(&self) {
        let (format, quiet, live, start) = (self.format, self.quiet, self.live.clone(), self.start);
        ferry_aws::reach::on_retry(move |retry| {
            let (what, notice) = match &retry.problem {
                ferry_aws::reach::Problem::Throttled(_) => ("throttled", "throttled"),
                problem if problem.is_unreachable() => ("endpoint unreachable", "endpoint_unreachable"),
                _ => ("endpoint answered, but not as AWS", "endpoint_not_aws"),
            };
            if format == OutputFormat::Json {
                let line = serde_json::json!({
                    "type": "notice",
                    "at": ferry_store::format_rfc3339(now_ms()),
                    "notice": notice,
                    "operation": retry.operation,
                    "retry": retry.retry,
                    "endpoint": retry.endpoint,
                    "problem": retry.problem.to_string(),
                });
                write_json_line(&line);
                return;
            }
            if quiet {
                return;
            }
            let text = format!("{what}, retrying ({}): {} at {}: {}", retry.retry, retry.operation, retry.endpoint, retry.problem);
            let text = style(text).yellow().to_string();
            match &live {
                Some(live) => {
                    let _ = live.println(text);
                }
                None => eprintln!("{} {text}", timestamp(start.elapsed())),
            }
        });
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// Whether progress lines show the new tasks' health: on the live view (a person is
    /// watching) and with `-v`, not in a quiet CI log (it costs API calls).
    pub fn shows_task_health(&self) -> bool {
        (self.live.is_some() || self.verbose > 0) && !self.quiet
    }

    /// One JSON line on stdout.
    pub fn json_line(&self, value: &impl Serialize) {
        write_json_line(value);
    }

    /// A progress line (stderr): above the live view, or timestamped in a log.
    pub fn note(&self, service: Option<&str>, text: &str) {
        self.say(service, text, |line| line);
    }

    /// [`Printer::note`] painted line by line: on the live view a long note is wrapped to
    /// the terminal's width (80 columns when unknown), and each line is painted on its own,
    /// so a colour never runs into the live lines below it. A log keeps one line per note.
    fn say(&self, service: Option<&str>, text: &str, paint: impl Fn(String) -> String) {
        if self.quiet || self.json() {
            return;
        }
        match &self.live {
            Some(live) => {
                let who = service.map(|s| format!("{} ", elide_middle(s, MAX_SERVICE_COLUMNS))).unwrap_or_default();
                let lines = wrap(&format!("{who}{text}"), terminal_width(), 2);
                let bold = service.map(|s| elide_middle(s, MAX_SERVICE_COLUMNS));
                let painted: Vec<String> = lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, line)| match (i, &bold) {
                        // The service name stays bold, the rest takes the note's colour.
                        (0, Some(name)) if line.starts_with(name.as_str()) => {
                            format!("{}{}", style(name).bold(), paint(line[name.len()..].to_string()))
                        }
                        _ => paint(line),
                    })
                    .collect();
                let _ = live.println(painted.join("\n"));
            }
            None => {
                let who = service.map(|s| format!("{} ", style(s).bold())).unwrap_or_default();
                eprintln!("{} {who}{}", timestamp(self.start.elapsed()), paint(text.to_string()));
            }
        }
    }

    /// Several lines on stderr for the person running ferry (a plan before its approval
    /// question): above the live view, or as they are in a log. Nothing in JSON or quiet mode.
    pub fn block(&self, text: &str) {
        if self.quiet || self.json() {
            return;
        }
        match &self.live {
            // The live lines step aside while the text is written as it is.
            Some(live) => live.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    /// Tells a person what a guided command (`ferry demo`) is doing, on stdout: not in JSON
    /// mode (the commands it runs print their own JSON lines) nor with `-q`.
    pub fn narrate(&self, text: &str) {
        if self.json() || self.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Prints a result or report on stdout (never in JSON mode, where results are objects).
    pub fn out(&self, text: &str) {
        if self.json() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// Shows one event of a deploy run.
    pub fn event(&self, report: &ServiceReport, event: &Event) {
        if self.json() {
            #[derive(Serialize)]
            struct Line<'a> {
                r#type: &'static str,
                at: String,
                deployment_id: &'a str,
                #[serde(flatten)]
                event: &'a Event,
                /// A phase in words, beside its fields (the other events carry ECS's words).
                #[serde(skip_serializing_if = "Option::is_none")]
                message: Option<String>,
            }
            let message = match event {
                Event::Phase { service, detail, .. } => Some(ferry_app::words::phase_text(service, detail)),
                _ => None,
            };
            self.json_line(&Line {
                r#type: "event",
                at: ferry_store::format_rfc3339(now_ms()),
                deployment_id: &report.deployment_id,
                event,
                message,
            });
            return;
        }
        let service = event.service();
        match event {
            Event::Phase { phase, detail, .. } => {
                let message = &ferry_app::words::phase_text(service, detail);
                match phase {
                    Phase::RollingBack => self.say(Some(service), message, |l| style(l).yellow().to_string()),
                    _ => self.note(Some(service), message),
                }
                self.set_bar(service, &phase_word(*phase), None);
            }
            Event::Progress { rolling_back, progress, .. } => {
                let word = if *rolling_back { "rolling back" } else { "rolling" };
                if self.live.is_none() || self.verbose > 0 {
                    self.note(Some(service), &format!("{word}: {}", progress_text(progress)));
                }
                self.set_bar(service, word, Some(progress));
            }
            Event::EcsEvent { message, .. } => self.note(Some(service), &format!("{} {message}", style("ecs:").dim())),
            Event::TaskStopped { task, reason, .. } => {
                let id = task.rsplit('/').next().unwrap_or(task);
                self.say(Some(service), &format!("task {id} stopped: {reason}"), |l| style(l).red().to_string());
            }
            Event::TaskLog { container, message, .. } => {
                // A hook's output, as it printed it: said even with a live view, dimmed prefix.
                self.say(Some(service), &format!("{} {message}", style(format!("{container} |")).dim()), |l| l);
            }
            Event::Finished { outcome, reason, .. } => {
                let text = finish_text(*outcome, reason.as_deref());
                let paint = |line: String| match outcome {
                    Outcome::Succeeded | Outcome::Unchanged => style(line).green().to_string(),
                    Outcome::Planned => line,
                    _ => style(line).red().to_string(),
                };
                self.finish_bar(service, &text, paint);
                if self.live.is_none() {
                    self.say(Some(service), &text, paint);
                }
            }
        }
    }

    fn set_bar(&self, service: &str, word: &str, progress: Option<&Progress>) {
        let Some(live) = &self.live else { return };
        let Ok(mut bars) = self.bars.lock() else { return };
        let (bar, _) = bars.entry(service.to_string()).or_insert_with(|| {
            let bar = live.add(ProgressBar::new_spinner());
            // The elapsed time is drawn on every tick, not only when the message changes.
            // Keep this template in step with `bar_line`, which says how wide it draws.
            let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{took}]")
                .map(|style| {
                    style.with_key("took", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&elapsed(state.elapsed()));
                    })
                })
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(100));
            (bar, Instant::now())
        });
        let detail = progress.map(progress_text).unwrap_or_default();
        let mut text = format!("{word} {detail}").trim_end().to_string();
        if let Ok(mut probes) = self.probes.lock() {
            let line = probes.entry(service.to_string()).or_default();
            line.base = text.clone();
            if let Some(figures) = &line.figures {
                text = format!("{text} · {figures}");
            }
        }
        let (prefix, message) = bar_parts(service, &text, terminal_width());
        bar.set_prefix(prefix);
        bar.set_message(message);
    }

    /// A probe's running figures: on the live view at the end of the service's line; in a
    /// log a line every 10 s; with `--output json` a `probe` line every 5 s.
    pub fn probe(&self, service: &str, deployment_id: &str, stats: &ferry_core::probe::ProbeStats) {
        let figures = format!("probe {}", ferry_app::probe::probe_text(stats));
        let Ok(mut probes) = self.probes.lock() else { return };
        let line = probes.entry(service.to_string()).or_default();
        line.figures = Some(figures.clone());
        let every = if self.json() { PROBE_JSON_EVERY } else { PROBE_LOG_EVERY };
        let due = line.said_at.is_none_or(|at| at.elapsed() >= every);
        if self.json() {
            if due {
                line.said_at = Some(Instant::now());
                self.json_line(&serde_json::json!({
                    "type": "probe",
                    "at": ferry_store::format_rfc3339(now_ms()),
                    "deployment_id": deployment_id,
                    "service": service,
                    "probe": stats,
                }));
            }
            return;
        }
        match &self.live {
            Some(_) => {
                let text = format!("{} · {figures}", line.base);
                // Never the bars' lock while holding the probes' (`set_bar` takes them the other way).
                drop(probes);
                if let Ok(bars) = self.bars.lock()
                    && let Some((bar, _)) = bars.get(service)
                {
                    bar.set_message(bar_parts(service, &text, terminal_width()).1);
                }
            }
            // A log line says something once a request has come back.
            None if due && stats.sent > 0 => {
                line.said_at = Some(Instant::now());
                drop(probes);
                self.note(Some(service), &figures);
            }
            None => {}
        }
    }

    fn finish_bar(&self, service: &str, text: &str, paint: impl Fn(String) -> String) {
        if let Ok(mut bars) = self.bars.lock()
            && let Some((bar, _)) = bars.remove(service)
        {
            let (prefix, message) = bar_parts(service, text, terminal_width());
            bar.set_prefix(prefix);
            bar.finish_with_message(paint(message));
        }
    }

    /// Ends the live view so the summary prints below it.
    pub fn close(&self) {
        if let Ok(mut bars) = self.bars.lock() {
            for (_, (bar, _)) in bars.drain() {
                bar.abandon();
            }
        }
        if let Some(live) = &self.live {
            let _ = live.clear();
        }
    }
}

/// The printer is where ferry-app's use cases say what happens: events and notes as
/// [`Printer::event`] and [`Printer::note`] show them, warnings on stderr whatever the format
/// (stdout may be JSON a pipeline parses), a promotion's plan before its approval question.
impl ferry_app::EventSink for Printer {
    fn event(&self, report: &ServiceReport, event: &Event) {
        Printer::event(self, report, event);
    }

    fn note(&self, service: Option<&str>, text: &str) {
        Printer::note(self, service, text);
    }

    fn warning(&self, text: &str) {
        eprintln!("warning: {text}");
    }

    fn promotion_plan(&self, plan: &ferry_app::promote::PromotionPlan) {
        crate::promote::show_plan(self, plan);
    }

    fn wants_task_health(&self) -> bool {
        self.shows_task_health()
    }

    fn probe(&self, service: &str, deployment_id: &str, stats: &ferry_core::probe::ProbeStats) {
        Printer::probe(self, service, deployment_id, stats);
    }
}

pub use ferry_app::journal::now_ms;

fn timestamp(since_start: Duration) -> String {
    format!("{} +{:>5.1}s", ferry_store::format_rfc3339(now_ms()), since_start.as_secs_f64())
}

fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 { format!("{}m{:02}s", s / 60, s % 60) } else { format!("{:.1}s", d.as_secs_f64()) }
}

fn phase_word(phase: Phase) -> String {
    match phase {
        Phase::Preflight => "preflight passed",
        Phase::Locked => "locked",
        Phase::Registered => "registered",
        Phase::Updated => "deploying",
        Phase::Baking => "baking",
        Phase::Hook => "hook",
        Phase::Traffic => "traffic",
        Phase::RollingBack => "rolling back",
        Phase::Done => "done",
    }
    .to_string()
}

pub use ferry_app::words::{finish_text, outcome_word, progress_text, recorded_outcome_word};

/// A plain aligned table: columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    // Padded cells are cut short: a 100,000-character version would be echoed whole, and a
    // width past 65,535 is more than Rust's formatting takes.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter().enumerate().map(|(i, c)| if i + 1 < row.len() { ferry_core::text::excerpt_to(c, 64) } else { c.clone() }).collect()
        })
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| if i + 1 == cells.len() { c.clone() } else { format!("{c:<w$}", w = widths[i]) })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

pub use ferry_core::short_digest;

/// The result object of a command that failed before it had another to print, so
/// `--output json` always ends with one: the exit code, its kind, and the message.
pub fn failure_result(global: &GlobalArgs, command: &str, failure: &crate::Failure) {
    if global.output != OutputFormat::Json {
        return;
    }
    let line = serde_json::json!({
        "type": "result",
        "command": command,
        "exit_code": failure.kind().code(),
        "outcome": failure.kind(),
        "reason": failure.to_string(),
    });
    write_json_line(&line);
}

/// Whether this process printed its JSON result object (`"type": "result"`) already.
static RESULT_WRITTEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a JSON result object was printed: a command that fails without one gets
/// [`failure_result`]'s, so `--output json` always ends with a result (docs/ci.md).
pub fn result_written() -> bool {
    RESULT_WRITTEN.load(std::sync::atomic::Ordering::SeqCst)
}

/// One JSON line on stdout, flushed at once (a CI step reading the lines sees each as it
/// happens).
fn write_json_line(value: &impl Serialize) {
    if serde_json::to_value(value).is_ok_and(|v| v.get("type").and_then(serde_json::Value::as_str) == Some("result")) {
        RESULT_WRITTEN.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    if let Ok(text) = serde_json::to_string(value) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// The width the live view draws in: the terminal's, else 80 columns.
fn terminal_width() -> usize {
    console::Term::stderr().size_checked().map(|(_, columns)| usize::from(columns)).filter(|w| *w >= 20).unwrap_or(80)
}

/// The widest a service name is shown on the live view; longer ones keep their start and end.
const MAX_SERVICE_COLUMNS: usize = 24;

/// What a live line spends besides its prefix and message: the spinner and a space, the
/// space after the prefix, and " [" + the elapsed time (at most 7 columns, "999m59s") + "]".
const BAR_OVERHEAD: usize = 2 + 1 + 2 + 7 + 1;

/// `text` shortened to `max` columns by cutting out its middle: `checkout-…-eu-west-1`.
pub fn elide_middle(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    if max < 2 {
        return "…".chars().take(max).collect();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    format!("{}…{}", chars[..head].iter().collect::<String>(), chars[chars.len() - tail..].iter().collect::<String>())
}

/// A live line's prefix (the service) and message, cut so the whole line — as the bar's
/// template draws it, see [`bar_line`] — fits `width` columns: the service name elided in
/// its middle, the message cut at its end with "…".
pub fn bar_parts(service: &str, message: &str, width: usize) -> (String, String) {
    let room = width.saturating_sub(BAR_OVERHEAD);
    let prefix = elide_middle(service, MAX_SERVICE_COLUMNS.min(room / 2).max(1));
    let message = console::truncate_str(message, room.saturating_sub(console::measure_text_width(&prefix)), "…").into_owned();
    (prefix, message)
}

/// A live line as the bar draws it (`{spinner} {prefix} {msg} [{took}]`), for tests and for
/// measuring: what the terminal shows for `service` saying `message` after `took`.
#[cfg(test)]
pub fn bar_line(service: &str, message: &str, took: &str, width: usize) -> String {
    let (prefix, message) = bar_parts(service, message, width);
    format!("⠋ {prefix} {message} [{took}]")
}

/// `text` broken into lines of at most `width` columns at spaces, later lines indented by
/// `indent`; a word wider than a line is cut with "…". ANSI colour codes take no columns.
pub fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let prefix = if lines.is_empty() && line.is_empty() { 0 } else { indent };
            let room = width.saturating_sub(prefix).max(1);
            let word = console::truncate_str(word, room, "…");
            let used = console::measure_text_width(&line);
            if line.is_empty() {
                line = format!("{}{word}", " ".repeat(prefix));
            } else if used + 1 + console::measure_text_width(&word) <= width {
                line.push(' ');
                line.push_str(&word);
            } else {
                // `word` was already cut to this room: a non-empty line means a later line.
                lines.push(std::mem::take(&mut line));
                line = format!("{}{word}", " ".repeat(indent));
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_app::words::run_failure;

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["q".into(), "22".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\nq    22");
    }

    fn progress(health: Option<ferry_core::platform::TaskHealth>) -> Progress {
        Progress { rollout_state: "IN_PROGRESS".into(), new_running: 2, new_desired: 2, health, ..Progress::default() }
    }

    #[test]
    fn no_0_healthy_for_a_service_without_a_health_check() {
        use ferry_core::platform::TaskHealth;
        // ECS reports UNKNOWN for tasks without a health check: not healthy, not unhealthy.
        let unknown = progress(Some(TaskHealth { healthy: 0, unhealthy: 0, unknown: 2 }));
        assert_eq!(progress_text(&unknown), "new 2/2 running (IN_PROGRESS)");
        let judged = progress(Some(TaskHealth { healthy: 1, unhealthy: 1, unknown: 0 }));
        assert_eq!(progress_text(&judged), "new 2/2 running, 1 healthy, 1 unhealthy (IN_PROGRESS)");
        let partly = progress(Some(TaskHealth { healthy: 1, unhealthy: 0, unknown: 1 }));
        assert_eq!(progress_text(&partly), "new 2/2 running, 1 healthy (IN_PROGRESS)");
    }

    #[test]
    fn live_lines_fit_80_columns_with_a_long_service_name_and_a_long_reason() {
        let service = "checkout-payment-reconciliation-worker-eu-west-1-blue";
        let reason = format!(
            "Task failed container health checks: {}; rolled back to {service}:41",
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref".repeat(2)
        );
        for took in ["0.1s", "59.9s", "12m03s", "999m59s"] {
            let line = bar_line(service, &reason, took, 80);
            assert!(console::measure_text_width(&line) <= 80, "{} columns: {line}", console::measure_text_width(&line));
            assert!(line.ends_with(&format!("[{took}]")), "{line}");
        }
        let (prefix, message) = bar_parts(service, &reason, 80);
        // The service keeps its start and its end; the reason keeps its start.
        assert_eq!(prefix, "checkout-pay…west-1-blue");
        assert_eq!(prefix.chars().count(), MAX_SERVICE_COLUMNS);
        assert!(message.starts_with("Task failed container health checks: ") && message.ends_with('…'), "{message}");
        // Short lines are left alone.
        assert_eq!(
            bar_parts("web", "rolling new 1/2 running (IN_PROGRESS)", 80),
            ("web".to_string(), "rolling new 1/2 running (IN_PROGRESS)".to_string())
        );
        // Notes above the live view wrap instead: every line fits, nothing is lost but
        // a word wider than a line.
        let note = format!("{service} task 0f3c9a1e stopped: {reason}");
        let lines = wrap(&note, 80, 2);
        assert!(lines.len() > 1 && lines.iter().all(|l| console::measure_text_width(l) <= 80), "{lines:#?}");
        assert_eq!(lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "), note);
        assert!(wrap(&"x".repeat(200), 80, 2).iter().all(|l| console::measure_text_width(l) <= 80));
        // Colour codes take no columns.
        let red = style("a".repeat(79)).red().force_styling(true).to_string();
        assert_eq!(wrap(&red, 80, 2), vec![red.clone()]);
    }

    #[test]
    fn no_failed_rollback_failed_each_outcome_word_said_once() {
        assert_eq!(outcome_word(Outcome::RollbackFailed), "rollback failed");
        assert_eq!(recorded_outcome_word(ferry_store::Outcome::FailedRollbackFailed), "rollback failed");
        assert_eq!(recorded_outcome_word(ferry_store::Outcome::FailedRolledBack), "failed, rolled back");
        // The reason says what became of the rollback; the word is not said again.
        let rolled_back = finish_text(Outcome::FailedRolledBack, Some("2 tasks failed to start; rolled back to web:3"));
        assert_eq!(rolled_back, "2 tasks failed to start; rolled back to web:3");
        let rollback_failed = finish_text(Outcome::RollbackFailed, Some("timed out; the rollback failed too: it did not complete"));
        assert_eq!(rollback_failed, "timed out; the rollback failed too: it did not complete");
        assert_eq!(
            finish_text(Outcome::RollbackFailed, Some("moving app:prod back failed: denied")),
            "rollback failed: moving app:prod back failed: denied"
        );
        assert_eq!(finish_text(Outcome::Refused, Some("image app:9 not found")), "refused: image app:9 not found");
        assert_eq!(finish_text(Outcome::Succeeded, None), "deployed");
        for line in [rolled_back, rollback_failed] {
            assert!(!line.contains("failed rollback failed") && !line.contains("failed, rollback failed"), "{line}");
            assert!(line.matches("rolled back").count() <= 1 && line.matches("rollback failed").count() <= 1, "{line}");
        }
    }

    #[test]
    fn a_run_that_failed_names_each_service_and_its_outcome_once() {
        let report = |service: &str, outcome: Outcome| ServiceReport {
            deployment_id: format!("fd-{service}"),
            kind: "deploy",
            environment: "prod".into(),
            service: service.into(),
            ecs_service: service.into(),
            cluster: "prod".into(),
            from_version: None,
            from_digest: None,
            from_task_definition: None,
            to_version: None,
            to_digest: None,
            to_task_definition: None,
            image: None,
            ecs_deployment_id: None,
            rollback_deployment_id: None,
            gates_skipped: None,
            who: "tester".into(),
            commit: None,
            commit_message: None,
            started_at: 0,
            finished_at: Some(1),
            outcome,
            cause: None,
            reason: None,
            changes: Vec::new(),
            running: 0,
            desired: 0,
            invalid_input: false,
            strategy: "rolling",
            resumed_at: None,
            not_checked: Vec::new(),
            target_groups: Vec::new(),
            probe: None,
        };
        let one = run_failure("deploy", &[report("web", Outcome::RollbackFailed), report("api", Outcome::Succeeded)]);
        assert_eq!(one, "deploy of web: rollback failed");
        let two = run_failure("promote", &[report("web", Outcome::FailedRolledBack), report("worker", Outcome::LockHeld)]);
        assert_eq!(two, "promote: web: failed, rolled back; worker: locked by another deploy");
    }

    #[test]
    fn digests_are_shortened() {
        assert_eq!(short_digest("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(short_digest("none"), "none");
    }
}
