//! The few phrases both the ledger and the printer use, so a recorded event reads as the
//! terminal said it: how a deploy ended, how a rollout stands, how a run failed.

use ferry_core::deploy::{Detail, Outcome, RollbackMethod, ServiceReport};
use ferry_core::one_off::Ending;
use ferry_core::rolling::Progress;

/// A command as a shell would take it back (`sh -c 'echo hi; exit 3'`): how a hook's or a
/// one-off task's command is shown. Words a shell cannot quote (a NUL) are shown joined.
pub fn command_text(words: &[String]) -> String {
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// How a service's deploy ended, in a few words, each said once: "rollback failed" says
/// the deploy failed too (there is no rollback without a failure).
pub fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Planned => "planned",
        Outcome::Succeeded => "deployed",
        Outcome::Unchanged => "already running",
        Outcome::Refused => "refused",
        Outcome::LockHeld => "locked by another deploy",
        Outcome::FailedRolledBack => "failed, rolled back",
        Outcome::RollbackFailed => "rollback failed",
        Outcome::Error => "error",
        Outcome::Detached => "started, detached",
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
        ferry_store::Outcome::Unchanged => "unchanged (already running)",
    }
}

/// The line a service's deploy ends with. A failure's reason already says what became of
/// the rollback ("...; rolled back to web:3", "...; the rollback failed too: ..."), so it is
/// said alone; the outcome word leads only a reason that does not say it.
pub fn finish_text(outcome: Outcome, reason: Option<&str>) -> String {
    let reason = reason.unwrap_or_default();
    match outcome {
        Outcome::Succeeded | Outcome::Planned | Outcome::Unchanged => outcome_word(outcome).to_string(),
        Outcome::FailedRolledBack | Outcome::RollbackFailed if reason.contains("roll") => reason.to_string(),
        // A before_deploy task failed before the service changed: nothing to roll back.
        Outcome::FailedRolledBack if reason.contains("the service was not changed") => format!("failed: {reason}"),
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
/// (IN_PROGRESS)`; behind a load balancer, the new tasks' targets in each target group
/// follow: `new 2/3 running, old 1 running; web-tg 1/3 healthy, 1 unhealthy (IN_PROGRESS)`.
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
    for group in &p.targets {
        text.push_str(&format!("; {} {}/{} healthy", group.target_group, group.healthy, group.expected));
        if group.unhealthy > 0 {
            text.push_str(&format!(", {} unhealthy", group.unhealthy));
        }
    }
    text.push_str(&format!(" ({})", p.rollout_state));
    text
}

/// A phase event in words, as the terminal shows it and the ledger records it: ARNs and
/// digests shortened (`web:42`, `sha256:0123456789ab`).
pub fn phase_text(service: &str, detail: &Detail) -> String {
    use ferry_core::rolling::short_task_definition as revision;
    use ferry_core::short_digest as digest;
    match detail {
        Detail::PreflightNewRevision { from_version, image, changes } => format!(
            "preflight passed: {} → {} ({changes} change{})",
            from_version.as_deref().unwrap_or("?"),
            image.as_deref().unwrap_or("?"),
            if *changes == 1 { "" } else { "s" }
        ),
        Detail::PreflightRevision { from_task_definition, to_task_definition } => {
            format!("preflight passed: {} → {}", revision(from_task_definition.as_deref().unwrap_or("?")), revision(to_task_definition))
        }
        Detail::PreflightTagMove { from_version, to_version, repository, tag, from, to } => format!(
            "preflight passed: {} → {} (move {repository}:{tag} from {} to {}, then force a new deployment)",
            from_version.as_deref().unwrap_or("?"),
            to_version.as_deref().unwrap_or("?"),
            digest(from),
            digest(to)
        ),
        Detail::PreflightUnchanged { task_definition, force: false } => {
            format!("preflight passed: already running {}, nothing to change", revision(task_definition))
        }
        Detail::PreflightUnchanged { task_definition, force: true } => {
            format!("preflight passed: already running {}; --force: a new deployment of it", revision(task_definition))
        }
        Detail::TemplateWarning { template, warning } => format!("{template}: {warning}"),
        Detail::NotChecked { items } => format!("preflight could not check (each says why): {}", items.join("; ")),
        Detail::Locked { environment, locked_as: deployment_id, resumed_at, superseded } => match (resumed_at, superseded) {
            (Some(step), _) => {
                // "at update_service (started)", or "before its first step".
                let at = if step.starts_with("before ") { step.clone() } else { format!("at {step}") };
                format!("locked {service} in {environment} as {deployment_id}, resuming the deployment a dead run left {at}")
            }
            (None, Some(dead)) => format!(
                "locked {service} in {environment} as {deployment_id}; {} (left unfinished at {}) is closed as interrupted",
                dead.deployment_id, dead.stopped_at
            ),
            (None, None) => format!("locked {service} in {environment} as {deployment_id}"),
        },
        Detail::LockTakenOver { previous } => {
            let why = if previous.lease_expired {
                "its lease had run out".to_string()
            } else {
                format!("its process {} on {} is gone", previous.pid, previous.host)
            };
            format!("took over the lock: {} held it for {} and {why}", previous.holder, previous.deployment_id)
        }
        Detail::LockNotRenewed { error } => format!("could not renew the lock: {error}"),
        Detail::TagMoved { repository, tag, from, to } => format!("moved {repository}:{tag} from {} to {}", digest(from), digest(to)),
        Detail::Registered { task_definition } => format!("registered {}", revision(task_definition)),
        Detail::Updated { ecs_service, task_definition, ecs_deployment_id, resumed } => format!(
            "{} service {ecs_service} → {} (deployment {})",
            if *resumed { "resumed watching" } else { "updated" },
            revision(task_definition),
            ecs_deployment_id.as_deref().unwrap_or("not yet listed")
        ),
        Detail::Baking { ecs_deployment_id, bake_ms } => format!(
            "deployment {} COMPLETED; baking for {} (a new task that fails now rolls it back)",
            ecs_deployment_id.as_deref().unwrap_or("?"),
            humantime::format_duration(std::time::Duration::from_millis(*bake_ms))
        ),
        Detail::RollingBack { reason, to_task_definition, method } => {
            let to = revision(to_task_definition);
            match method {
                RollbackMethod::Ecs { ecs_deployment_id } => {
                    format!("{reason}; ECS is rolling back to {to} (deployment {ecs_deployment_id})")
                }
                RollbackMethod::CircuitBreaker => format!("{reason}; ECS's circuit breaker is rolling back to {to}"),
                RollbackMethod::LifecycleHook => format!("{reason}; answered the lifecycle hook ROLLBACK, ECS is rolling back to {to}"),
                RollbackMethod::StopServiceDeployment => format!("{reason}; rolling back to {to} (StopServiceDeployment ROLLBACK)"),
                RollbackMethod::UpdateService => format!("{reason}; rolling back to {to} (UpdateService)"),
                RollbackMethod::UpdateServiceAfterGrace { grace_ms } => format!(
                    "ECS started no rollback within {}; rolling back to {to} (UpdateService)",
                    humantime::format_duration(std::time::Duration::from_millis(*grace_ms))
                ),
            }
        }
        Detail::TagRestored { repository, tag, to } => format!("moved {repository}:{tag} back to {}", digest(to)),
        Detail::EnvironmentTagMoved { repository, tag, digest: moved_to } => format!("moved {repository}:{tag} to {}", digest(moved_to)),
        Detail::EnvironmentTagNotMoved { repository, tag, error } => {
            format!("deployed, but the environment tag {repository}:{tag} was not moved: {error}")
        }
        Detail::HookStarted { hook, task_arn, command, adopted, logs } => {
            let id = ferry_core::one_off::task_id(task_arn);
            let what = if *adopted { "waiting for the task a dead run started" } else { "started task" };
            let logs = match logs {
                Some(at) => format!("; its output: {at}"),
                None => "; it does not log with awslogs, so its output is not shown".to_string(),
            };
            format!("{}: {what} {id} ({}){logs}", hook.name(), command_text(command))
        }
        Detail::HookRunning { hook, task_arn, running_ms } => format!(
            "{}: task {} still running ({})",
            hook.name(),
            ferry_core::one_off::task_id(task_arn),
            humantime::format_duration(std::time::Duration::from_secs(running_ms / 1000))
        ),
        Detail::HookFinished { hook, task_arn, ending, duration_ms } => {
            let id = ferry_core::one_off::task_id(task_arn);
            let took = humantime::format_duration(std::time::Duration::from_secs(duration_ms / 1000));
            match ending {
                Ending::Exited { code: 0 } => format!("{}: task {id} exited 0 after {took}", hook.name()),
                Ending::Exited { code } => format!("{}: task {id} exited {code} after {took}", hook.name()),
                Ending::NoExitCode { stop_code, reason } => format!(
                    "{}: task {id} stopped without an exit code ({}{reason})",
                    hook.name(),
                    stop_code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default()
                ),
            }
        }
        Detail::Traffic { step } => traffic_text(step),
        Detail::LifecycleStage { stage, production_percent, test_percent, .. } => {
            let share = |p: &Option<f64>| p.map(|p| format!("{p}%")).unwrap_or_else(|| "?".into());
            format!(
                "ECS deployment at {stage}: new version has {} of production, {} of test traffic",
                share(production_percent),
                share(test_percent)
            )
        }
        Detail::LifecycleHookWaiting { hook_id, stage, approval: false, .. } => {
            format!("lifecycle hook {hook_id} paused the deployment at {stage}: checking")
        }
        Detail::LifecycleHookWaiting { hook_id, stage, approval: true, .. } => format!(
            "lifecycle hook {hook_id} paused the deployment at {stage}: checking, then waiting for `ferry continue` (or `ferry continue --rollback`)"
        ),
        Detail::Detached { ecs_deployment_id } => format!(
            "detached: ECS deployment {} started and recorded; `ferry watch` follows it",
            ecs_deployment_id.as_deref().unwrap_or("(not listed yet)")
        ),
        Detail::LifecycleHookChecked { stage, passed: true, summary } => format!("checks at {stage} passed: {summary}"),
        Detail::LifecycleHookChecked { stage, passed: false, summary } => format!("checks at {stage} failed: {summary}"),
        Detail::LifecycleHookAnswered { hook_id, stage, action } => format!("answered lifecycle hook {hook_id} at {stage}: {action}"),
        Detail::Checked { passed: true, summary } => format!("checks through the preparing rule passed: {summary}"),
        Detail::Checked { passed: false, summary } => format!("checks through the preparing rule failed: {summary}"),
        Detail::TargetGroupLeft { target_group, why } => {
            format!("left target group {target_group}: it is still in use ({why}); delete it once nothing forwards to it")
        }
    }
}

/// A duration as people write it (`1m 30s`).
pub fn duration_text(duration: std::time::Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// A step of a blue-green, canary or linear deploy in words (target groups by name).
pub fn traffic_text(step: &ferry_core::strategy::blue_green::Step) -> String {
    use ferry_core::platform::target_group_name as group;
    use ferry_core::rolling::short_task_definition as revision;
    use ferry_core::strategy::blue_green::{Ending as Bg, Step};
    let remaining = |until_ms: &i64| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        humantime::format_duration(std::time::Duration::from_secs(((until_ms - now).max(0) as u64).div_ceil(1000))).to_string()
    };
    let weights = |forward: &[(String, i32)]| {
        let total: i32 = forward.iter().map(|(_, w)| (*w).max(0)).sum();
        forward
            .iter()
            .map(|(arn, w)| format!("{} {}%", group(arn), if total > 0 { w * 100 / total } else { 0 }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = |forward: &[(String, i32)]| forward.iter().map(|(arn, _)| group(arn)).collect::<Vec<_>>().join(", ");
    match step {
        Step::Begin { blue } => format!(
            "live: service {} ({}, {} tasks) behind {}",
            blue.service,
            blue.version.as_deref().unwrap_or("no ferry:version tag"),
            blue.desired,
            group(&blue.target_group)
        ),
        Step::CreateTargetGroup { name, like, .. } => format!("created target group {name} (settings of {})", group(like)),
        Step::CreateService { name, task_definition, desired, .. } => {
            format!("created service {name}: {desired} tasks of {}", revision(task_definition))
        }
        Step::AttachToPreparing { target_group, .. } => format!("the preparing rule forwards to {}", group(target_group)),
        Step::WaitHealthy { target_group, required } => format!("waiting for {required} healthy targets in {}", group(target_group)),
        Step::RunChecks { target_group, .. } => format!("checking {} through the preparing rule", group(target_group)),
        Step::ShiftWeights { forward, .. } => format!("production traffic: {}", weights(forward)),
        Step::Hold { green_percent, until_ms } => format!("holding {green_percent}% for {} more", remaining(until_ms)),
        Step::Bake { until_ms } => format!("baking at 100% for {} more (a failed gate rolls back)", remaining(until_ms)),
        Step::CopyScaling { service, settings } => format!(
            "auto scaling on {service}: {}..{} tasks, {} polic{}",
            settings.min_capacity,
            settings.max_capacity,
            settings.policies.len(),
            if settings.policies.len() == 1 { "y" } else { "ies" }
        ),
        Step::RetireOld { service, .. } => format!("retired {service}: auto scaling deregistered, 0 tasks, tagged ferry:status=obsolete"),
        Step::MarkLive { service, .. } => format!("{service} tagged ferry:status=live"),
        Step::ScaleUp { service, desired } => format!("scaling {service} up to {desired} tasks"),
        Step::DeleteService { service } => format!("deleted service {service}"),
        Step::DeleteTargetGroup { arn } => format!("deleted target group {}", group(arn)),
        Step::WaitDrained { service } => format!("waiting for the deleted service {service} to drain, so its target group can go"),
        Step::RestorePreparing { forward, .. } => format!("the preparing rule forwards to {} again", names(forward)),
        Step::RollBack { reason } => format!("rolling back: {reason}"),
        Step::Stop { reason } => format!("stopped: {reason}"),
        Step::Done { ending: Bg::Deployed } => "all production traffic on the new version; the old one retired".into(),
        Step::Done { ending: Bg::AlreadyLive } => "this version already receives all production traffic".into(),
        Step::Done { ending: Bg::RolledBack } => "rolled back: production traffic on the old version, the new one removed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::deploy::{Superseded, TakenOver};
    use ferry_core::target_health::GroupHealth;

    #[test]
    fn a_command_is_shown_as_a_shell_would_take_it_back() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(command_text(&words(&["bin/migrate", "--yes"])), "bin/migrate --yes");
        assert_eq!(command_text(&words(&["sh", "-c", "echo hi; exit 3"])), "sh -c 'echo hi; exit 3'");
        assert_eq!(command_text(&words(&["a\0b"])), "a\0b", "a NUL cannot be quoted: shown as it is");
    }

    #[test]
    fn progress_names_each_target_group_with_its_healthy_targets() {
        let group = |name: &str, healthy, unhealthy| GroupHealth {
            target_group: name.into(),
            target_group_arn: format!("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/{name}/0123456789abcdef"),
            healthy,
            unhealthy,
            expected: 4,
        };
        let progress = Progress {
            rollout_state: "IN_PROGRESS".into(),
            new_running: 3,
            new_desired: 4,
            new_pending: 1,
            old_running: 2,
            targets: vec![group("web-tg", 2, 1), group("admin-tg", 3, 0)],
            ..Progress::default()
        };
        assert_eq!(
            progress_text(&progress),
            "new 3/4 running, 1 pending, old 2 running; web-tg 2/4 healthy, 1 unhealthy; admin-tg 3/4 healthy (IN_PROGRESS)"
        );
    }

    #[test]
    fn phases_read_as_the_terminal_says_them() {
        let arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3";
        let rolling_back =
            Detail::RollingBack { reason: "timed out".into(), to_task_definition: arn.into(), method: RollbackMethod::UpdateService };
        assert_eq!(phase_text("web", &rolling_back), "timed out; rolling back to web:3 (UpdateService)");
        let locked = Detail::Locked {
            environment: "prod".into(),
            locked_as: "fd-2".into(),
            resumed_at: None,
            superseded: Some(Superseded { deployment_id: "fd-1".into(), stopped_at: "update_service (started)".into() }),
        };
        assert_eq!(
            phase_text("web", &locked),
            "locked web in prod as fd-2; fd-1 (left unfinished at update_service (started)) is closed as interrupted"
        );
        let taken = Detail::LockTakenOver {
            previous: TakenOver {
                holder: "ci@runner".into(),
                deployment_id: "fd-1".into(),
                pid: 42,
                host: "runner".into(),
                lease_expired: false,
            },
        };
        assert_eq!(phase_text("web", &taken), "took over the lock: ci@runner held it for fd-1 and its process 42 on runner is gone");
        let moved = Detail::TagMoved {
            repository: "app".into(),
            tag: "prod".into(),
            from: format!("sha256:{}", "a".repeat(64)),
            to: format!("sha256:{}", "b".repeat(64)),
        };
        assert_eq!(phase_text("web", &moved), "moved app:prod from sha256:aaaaaaaaaaaa to sha256:bbbbbbbbbbbb");
    }
}
