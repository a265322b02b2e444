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
    start: Instant,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Printer {
        let colors = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal();
        console::set_colors_enabled(colors);
        console::set_colors_enabled_stderr(colors);
        let live = (global.output == OutputFormat::Text && !global.quiet && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Printer { format: global.output, quiet: global.quiet, verbose: global.verbose, live, bars: Mutex::new(HashMap::new()), start: Instant::now() }
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
        if let Ok(text) = serde_json::to_string(value) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    /// A progress line (stderr): above the live view, or timestamped in a log.
    pub fn note(&self, service: Option<&str>, text: &str) {
        if self.quiet || self.json() {
            return;
        }
        let who = service.map(|s| format!("{} ", style(s).bold())).unwrap_or_default();
        match &self.live {
            Some(live) => {
                let _ = live.println(format!("{who}{text}"));
            }
            None => eprintln!("{} {who}{text}", timestamp(self.start.elapsed())),
        }
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
            }
            self.json_line(&Line {
                r#type: "event",
                at: ferry_store::format_rfc3339(now_ms()),
                deployment_id: &report.deployment_id,
                event,
            });
            return;
        }
        let service = event.service();
        match event {
            Event::Phase { phase, message, .. } => {
                let text = match phase {
                    Phase::RollingBack => style(message).yellow().to_string(),
                    _ => message.clone(),
                };
                self.note(Some(service), &text);
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
                self.note(Some(service), &style(format!("task {id} stopped: {reason}")).red().to_string());
            }
            Event::Finished { outcome, reason, .. } => {
                let text = match outcome {
                    Outcome::Succeeded => style("deployed").green().to_string(),
                    Outcome::Planned => "planned".to_string(),
                    other => style(format!("{}: {}", outcome_word(*other), reason.as_deref().unwrap_or(""))).red().to_string(),
                };
                self.finish_bar(service, &text);
                if self.live.is_none() {
                    self.note(Some(service), &text);
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
            let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {msg} [{took}]")
                .map(|style| style.with_key("took", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&elapsed(state.elapsed()));
                }))
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(service.to_string());
            bar.enable_steady_tick(Duration::from_millis(100));
            (bar, Instant::now())
        });
        let detail = progress.map(progress_text).unwrap_or_default();
        bar.set_message(format!("{word} {detail}"));
    }

    fn finish_bar(&self, service: &str, text: &str) {
        if let Ok(mut bars) = self.bars.lock()
            && let Some((bar, _)) = bars.remove(service)
        {
            bar.finish_with_message(text.to_string());
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

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

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
        Phase::RollingBack => "rolling back",
        Phase::Done => "done",
    }
    .to_string()
}

pub fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Planned => "planned",
        Outcome::Succeeded => "deployed",
        Outcome::Refused => "refused",
        Outcome::LockHeld => "locked by another deploy",
        Outcome::FailedRolledBack => "failed, rolled back",
        Outcome::RollbackFailed => "failed, rollback failed",
        Outcome::Error => "error",
    }
}

pub fn progress_text(p: &Progress) -> String {
    let mut text = format!("new {}/{} running", p.new_running, p.new_desired);
    if let Some(health) = &p.health {
        text.push_str(&format!(", {} healthy", health.healthy));
        if health.unhealthy > 0 {
            text.push_str(&format!(", {} unhealthy", health.unhealthy));
        }
    }
    if p.new_pending > 0 {
        text.push_str(&format!(", {} pending", p.new_pending));
    }
    if p.old_running > 0 {
        text.push_str(&format!(", old {} running", p.old_running));
    }
    if p.failed_tasks > 0 {
        text.push_str(&format!(", {} failed", p.failed_tasks));
    }
    text.push_str(&format!(" ({})", p.rollout_state));
    text
}

/// A plain aligned table: columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()], vec!["q".into(), "22".into()]]);
        assert_eq!(t, "A    LONGER\nxyz  1\nq    22");
    }

    #[test]
    fn digests_are_shortened() {
        assert_eq!(short_digest("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(short_digest("none"), "none");
    }
}
