//! The few phrases both the ledger and the printer use, so a recorded event reads as the
//! terminal said it: how a deploy ended, how a rollout stands, how a run failed.

use ferry_core::deploy::{Outcome, ServiceReport};
use ferry_core::rolling::Progress;

/// How a service's deploy ended, in a few words, each said once: "rollback failed" says
/// the deploy failed too (there is no rollback without a failure).
pub fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Planned => "planned",
        Outcome::Succeeded => "deployed",
        Outcome::Refused => "refused",
        Outcome::LockHeld => "locked by another deploy",
        Outcome::FailedRolledBack => "failed, rolled back",
        Outcome::RollbackFailed => "rollback failed",
        Outcome::Error => "error",
    }
}

/// How a recorded deployment or promotion ended, in the words of [`outcome_word`] (the
/// ledger's `failed_rollback_failed` is "rollback failed", not "failed rollback failed").
pub fn recorded_outcome_word(outcome: ferry_store::Outcome) -> &'static str {
    match outcome {
        ferry_store::Outcome::InProgress => "in progress",
        ferry_store::Outcome::Succeeded => "succeeded",
        ferry_store::Outcome::FailedRolledBack => "failed, rolled back",
        ferry_store::Outcome::FailedRollbackFailed => "rollback failed",
        ferry_store::Outcome::Failed => "failed",
        ferry_store::Outcome::Interrupted => "interrupted",
    }
}

/// The line a service's deploy ends with. A failure's reason already says what became of
/// the rollback ("...; rolled back to web:3", "...; the rollback failed too: ..."), so it is
/// said alone; the outcome word leads only a reason that does not say it.
pub fn finish_text(outcome: Outcome, reason: Option<&str>) -> String {
    let reason = reason.unwrap_or_default();
    match outcome {
        Outcome::Succeeded | Outcome::Planned => outcome_word(outcome).to_string(),
        Outcome::FailedRolledBack | Outcome::RollbackFailed if reason.contains("roll") => reason.to_string(),
        other if reason.is_empty() => outcome_word(other).to_string(),
        other => format!("{}: {reason}", outcome_word(other)),
    }
}

/// The error line of a run that did not succeed: which services, and how each ended, the
/// outcome said once ("deploy of web: rollback failed", not "deploy failed: web failed,
/// rollback failed").
pub fn run_failure(command: &str, reports: &[ServiceReport]) -> String {
    let failed: Vec<&ServiceReport> = reports.iter().filter(|r| r.exit_kind() != ferry_core::ExitKind::Ok).collect();
    match failed.as_slice() {
        [one] => format!("{command} of {}: {}", one.service, outcome_word(one.outcome)),
        several => format!(
            "{command}: {}",
            several.iter().map(|r| format!("{}: {}", r.service, outcome_word(r.outcome))).collect::<Vec<_>>().join("; ")
        ),
    }
}

/// A rollout's progress in words: `new 2/3 running, 1 healthy, 1 pending, old 1 running
/// (IN_PROGRESS)`.
pub fn progress_text(p: &Progress) -> String {
    let mut text = format!("new {}/{} running", p.new_running, p.new_desired);
    // Only what ECS judged is counted: a task with no health check (or one not judged yet)
    // is UNKNOWN, neither healthy nor unhealthy, so a service without a health check never
    // reads "0 healthy".
    if let Some(health) = &p.health {
        if health.healthy > 0 {
            text.push_str(&format!(", {} healthy", health.healthy));
        }
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
