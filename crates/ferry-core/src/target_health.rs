//! Target health: how the new tasks of a deployment stand in their service's target
//! groups, and when that says the version is bad.
//!
//! ECS registers each task of a service behind a load balancer as a target of every target
//! group in the service's `loadBalancers`, and the load balancer's health checks decide
//! whether it gets traffic. The watch reads them (DescribeTargetHealth) for three things:
//! the progress line (`web-tg 2/4 healthy`), an early failure that quotes the health
//! check's reason (`Target.ResponseCodeMismatch`) instead of a timeout, and success that
//! means the new tasks are healthy in the load balancer, not only COMPLETED in ECS.
//!
//! Pure functions and a little state over observations, so every verdict is unit-tested
//! without a platform.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::platform::{RunningTask, ServiceLoadBalancer, StoppedTask, TargetHealthInfo, target_group_name};

/// How one target group stands for the new deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GroupHealth {
    /// The target group's name (`web-tg`).
    pub target_group: String,
    pub target_group_arn: String,
    /// Targets of the new deployment's tasks that are `healthy`.
    pub healthy: u32,
    /// Targets of the new deployment's tasks that are `unhealthy` (whether or not the
    /// grace period is over).
    pub unhealthy: u32,
    /// How many healthy targets done takes: the new deployment's desired count (each of
    /// its tasks is one target in each group).
    pub expected: u32,
}

/// One new task's target in one target group.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskTarget {
    pub task: String,
    pub started_at: Option<i64>,
    pub target_group_arn: String,
    /// Its health; None while the task is not registered (yet).
    pub health: Option<TargetHealthInfo>,
}

/// The target groups of a service that ferry can read (ELBv2 ones), each once, with the
/// container and port ECS registers.
pub fn target_groups(load_balancers: &[ServiceLoadBalancer]) -> Vec<(&str, &ServiceLoadBalancer)> {
    let mut groups: Vec<(&str, &ServiceLoadBalancer)> = Vec::new();
    for lb in load_balancers {
        if let Some(arn) = lb.target_group_arn.as_deref()
            && !groups.iter().any(|(seen, _)| *seen == arn)
        {
            groups.push((arn, lb));
        }
    }
    groups
}

/// Ties each running task of the new deployment to its target in each target group.
///
/// A target is the task's when its port is the one the task's container port is reached at
/// (its host port when ECS bound one, else the container port: awsvpc), and its id is one
/// the task is known by: the private IP of its network interface (`ip` target groups, the
/// awsvpc tasks of Fargate and EC2) or its container instance's EC2 instance id (`instance`
/// target groups, bridge and host networking). Port and id together tell tasks apart on
/// AWS, where every awsvpc task listens on the same port at its own address, and every
/// bridge task on an instance at its own host port. A task known by no id (ferry local,
/// where every task listens on 127.0.0.1 at a port of its own) is told by its port alone.
pub fn match_targets(
    tasks: &[RunningTask],
    load_balancers: &[ServiceLoadBalancer],
    health: &BTreeMap<String, Vec<TargetHealthInfo>>,
) -> Vec<TaskTarget> {
    let mut out = Vec::new();
    for (arn, lb) in target_groups(load_balancers) {
        let targets = health.get(arn).map(Vec::as_slice).unwrap_or(&[]);
        for task in tasks {
            let target = targets
                .iter()
                .filter(|t| is_target_of(task, lb, t))
                // A task registered again after a drain has one live entry: prefer it.
                .min_by_key(|t| t.state.contains("draining"));
            out.push(TaskTarget {
                task: task.arn.clone(),
                started_at: task.started_at,
                target_group_arn: arn.to_string(),
                health: target.cloned(),
            });
        }
    }
    out
}

/// Whether `target` is `task`'s in the group `lb` names (see [`match_targets`]).
fn is_target_of(task: &RunningTask, lb: &ServiceLoadBalancer, target: &TargetHealthInfo) -> bool {
    target.port == Some(task.target_port(&lb.container_name, lb.container_port))
        && (task.target_ids.is_empty() || task.target_ids.contains(&target.id))
}

/// A target of one group: the group's ARN, the target's id and port.
type TargetKey = (String, String, Option<i32>);

/// Every target of the service's groups in `health`, with whether one of `tasks` is its.
fn classify(
    tasks: &[RunningTask],
    load_balancers: &[ServiceLoadBalancer],
    health: &BTreeMap<String, Vec<TargetHealthInfo>>,
) -> HashMap<TargetKey, bool> {
    let mut out = HashMap::new();
    for (arn, lb) in target_groups(load_balancers) {
        for target in health.get(arn).map(Vec::as_slice).unwrap_or(&[]) {
            let ours = tasks.iter().any(|task| is_target_of(task, lb, target));
            let key = (arn.to_string(), target.id.clone(), target.port);
            *out.entry(key).or_insert(false) |= ours;
        }
    }
    out
}

/// Each target group's count of healthy and unhealthy targets of the new tasks.
pub fn summarize(load_balancers: &[ServiceLoadBalancer], observed: &[TaskTarget], expected: u32) -> Vec<GroupHealth> {
    target_groups(load_balancers)
        .into_iter()
        .map(|(arn, _)| {
            let ours = || observed.iter().filter(move |t| t.target_group_arn == arn).filter_map(|t| t.health.as_ref());
            GroupHealth {
                target_group: target_group_name(arn).to_string(),
                target_group_arn: arn.to_string(),
                healthy: ours().filter(|h| h.state == "healthy").count() as u32,
                unhealthy: ours().filter(|h| is_unhealthy(h)).count() as u32,
                expected,
            }
        })
        .collect()
}

/// Whether every target group has as many healthy targets of the new tasks as the
/// deployment wants tasks.
pub fn all_healthy(groups: &[GroupHealth]) -> bool {
    groups.iter().all(|g| g.healthy >= g.expected)
}

/// A target that failed its health checks: `unhealthy` (or `unhealthy.draining`), for a
/// reason that is the target's. `Elb.InternalError` is the load balancer's own trouble,
/// not evidence against the version.
fn is_unhealthy(health: &TargetHealthInfo) -> bool {
    health.state.starts_with("unhealthy") && health.reason.as_deref() != Some("Elb.InternalError")
}

/// A failed health check in words: `target group web-tg: Target.ResponseCodeMismatch —
/// Health checks failed with these codes: [500] (target 10.0.1.7:8080)`.
fn unhealthy_text(target_group_arn: &str, health: &TargetHealthInfo) -> String {
    let mut text = format!("target group {}: ", target_group_name(target_group_arn));
    match (&health.reason, &health.description) {
        (Some(reason), Some(description)) => text.push_str(&format!("{reason} — {description}")),
        (Some(reason), None) => text.push_str(reason),
        (None, Some(description)) => text.push_str(description),
        (None, None) => text.push_str("the target is unhealthy"),
    }
    match health.port {
        Some(port) => text.push_str(&format!(" (target {}:{port})", health.id)),
        None => text.push_str(&format!(" (target {})", health.id)),
    }
    text
}

/// A deployment's running, pending, desired and failed task counts: while they stay the
/// same, so do its tasks.
pub type DeploymentCounts = (i32, i32, i32, i32);

/// What the watch knows about the new tasks' targets between looks.
///
/// **One look is enough.** A target reads `unhealthy` only after `UnhealthyThresholdCount`
/// consecutive failed health checks (2 to 10; ELBv2 API reference, `TargetGroup`): the load
/// balancer has already confirmed it. And past the grace period ECS itself replaces the
/// task at once (it deregisters it, so the target turns `draining` and its reason is gone):
/// waiting for a second look would mostly find the reason lost, and the replacement is one
/// more task of a version the load balancer already judged. So the first look past the
/// grace period that finds a new task's target unhealthy fails the deploy.
///
/// **The grace period** (`healthCheckGracePeriodSeconds`) counts from the task's start:
/// ECS's `startedAt`, or when ferry first saw the task running if that is later (ECS's
/// clock and this machine's may differ; ferry then errs on the side of waiting). An
/// unhealthy target inside it is shown, and remembered, but not judged: ECS ignores the
/// load balancer for that long too, and a slow start is what the grace period is for.
#[derive(Clone, Debug, Default)]
pub struct TargetWatch {
    /// Task ARN → when ferry first saw it running (epoch ms).
    first_seen: HashMap<String, i64>,
    /// Task ARN → its last unhealthy target in words: quoted when ECS stops the task for
    /// failing its load balancer health checks before ferry saw that past the grace period.
    last_unhealthy: HashMap<String, String>,
    /// When targets were last read.
    pub read_at: Option<i64>,
    /// When the look that first found the deployment COMPLETED was made: success needs a
    /// read at or after it.
    pub completed_seen_at: Option<i64>,
    /// The groups as last read.
    pub groups: Vec<GroupHealth>,
    /// The new tasks as last listed, with the deployment's counts when they were.
    pub tasks: Option<(DeploymentCounts, Vec<RunningTask>)>,
    /// Every target of the groups at the last read, with whether a listed task was its:
    /// what tells that the listed tasks may no longer be the deployment's.
    last_targets: Option<HashMap<TargetKey, bool>>,
    /// Consecutive reads that failed.
    pub errors: u32,
}

impl TargetWatch {
    /// Takes one read of the new tasks and their targets: sets the groups' health, and
    /// returns a failure when a new task's target is unhealthy past the grace period.
    pub fn observe(
        &mut self,
        now: i64,
        tasks: &[RunningTask],
        load_balancers: &[ServiceLoadBalancer],
        health: &BTreeMap<String, Vec<TargetHealthInfo>>,
        expected: u32,
        grace_ms: i64,
    ) -> Option<String> {
        self.read_at = Some(now);
        self.errors = 0;
        for task in tasks {
            self.first_seen.entry(task.arn.clone()).or_insert(now);
        }
        let observed = match_targets(tasks, load_balancers, health);
        self.groups = summarize(load_balancers, &observed, expected);
        self.last_targets = Some(classify(tasks, load_balancers, health));
        let mut failure = None;
        for target in &observed {
            let Some(h) = target.health.as_ref().filter(|h| is_unhealthy(h)) else { continue };
            let text = unhealthy_text(&target.target_group_arn, h);
            self.last_unhealthy.insert(target.task.clone(), text.clone());
            let seen = self.first_seen.get(&target.task).copied().unwrap_or(now);
            let started = target.started_at.map_or(seen, |at| at.max(seen));
            if failure.is_none() && now - started >= grace_ms {
                failure = Some(text);
            }
        }
        failure
    }

    /// Whether a read of the groups says the listed tasks may no longer be the
    /// deployment's, though its counts did not move (a task stopped, by StopTask say, and
    /// its replacement started between two looks, no failure counted): a target no listed
    /// task is known by appeared since the last read, or a target a listed task had is
    /// gone. Targets of other deployments' tasks were there at the last read and match
    /// none of ours, so a steady rollout (old targets draining and leaving, ours turning
    /// healthy) lists nothing again; each change not explained costs one listing.
    pub fn tasks_outdated(
        &self,
        tasks: &[RunningTask],
        load_balancers: &[ServiceLoadBalancer],
        health: &BTreeMap<String, Vec<TargetHealthInfo>>,
    ) -> bool {
        let Some(before) = &self.last_targets else { return false };
        let now = classify(tasks, load_balancers, health);
        let appeared = now.iter().any(|(key, ours)| !ours && !before.contains_key(key));
        let gone = before.iter().any(|(key, ours)| *ours && !now.contains_key(key));
        appeared || gone
    }

    /// A new task that ECS stopped for failing its load balancer health checks ("Task
    /// failed ELB health checks in (target-group …)"): ECS does so only past the grace
    /// period, so one is enough. The reason quotes the health check's, when ferry saw it.
    pub fn judge_stopped(&self, stopped: &[StoppedTask]) -> Option<String> {
        let task = stopped.iter().find(|t| t.stopped_reason.as_deref().is_some_and(|r| r.contains("ELB health checks")))?;
        let ecs = task.stopped_reason.clone().unwrap_or_default();
        Some(match self.last_unhealthy.get(&task.arn) {
            Some(text) => format!("{text}; ECS stopped the task: {ecs}"),
            None => format!("a new task failed its load balancer health checks: {ecs}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::PortBinding;

    const TG: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/0123456789abcdef";
    const ADMIN: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/admin-tg/fedcba9876543210";

    fn lb(arn: &str, port: i32) -> ServiceLoadBalancer {
        ServiceLoadBalancer { target_group_arn: Some(arn.into()), container_name: "web".into(), container_port: port, advanced: None }
    }

    fn awsvpc_task(arn: &str, ip: &str, started_at: i64) -> RunningTask {
        RunningTask { arn: arn.into(), started_at: Some(started_at), target_ids: vec![ip.into()], ports: Vec::new() }
    }

    fn local_task(arn: &str, host_port: i32, started_at: i64) -> RunningTask {
        RunningTask {
            arn: arn.into(),
            started_at: Some(started_at),
            target_ids: Vec::new(),
            ports: vec![PortBinding { container: "web".into(), container_port: 8080, host_port: Some(host_port) }],
        }
    }

    fn target(id: &str, port: i32, state: &str, reason: Option<&str>, description: Option<&str>) -> TargetHealthInfo {
        TargetHealthInfo {
            id: id.into(),
            port: Some(port),
            state: state.into(),
            reason: reason.map(str::to_string),
            description: description.map(str::to_string),
        }
    }

    fn health(groups: &[(&str, Vec<TargetHealthInfo>)]) -> BTreeMap<String, Vec<TargetHealthInfo>> {
        groups.iter().map(|(arn, targets)| (arn.to_string(), targets.clone())).collect()
    }

    /// Group `TG`'s one target, 10.0.1.7:8080, unhealthy as its health checks get `status`.
    fn failing_with(status: u16) -> BTreeMap<String, Vec<TargetHealthInfo>> {
        let description = format!("Health checks failed with these codes: [{status}]");
        health(&[(TG, vec![target("10.0.1.7", 8080, "unhealthy", Some("Target.ResponseCodeMismatch"), Some(&description))])])
    }

    #[test]
    fn awsvpc_targets_are_told_apart_by_address_on_the_same_port() {
        // Old and new tasks all listen on 8080, each at its own address.
        let tasks = [awsvpc_task("new-1", "10.0.1.7", 0), awsvpc_task("new-2", "10.0.2.9", 0)];
        let read = health(&[(
            TG,
            vec![
                target("10.0.0.5", 8080, "healthy", None, None),
                target("10.0.1.7", 8080, "healthy", None, None),
                target("10.0.2.9", 8080, "initial", Some("Elb.RegistrationInProgress"), None),
            ],
        )]);
        let groups = summarize(&[lb(TG, 8080)], &match_targets(&tasks, &[lb(TG, 8080)], &read), 2);
        assert_eq!(groups.len(), 1);
        assert_eq!((groups[0].target_group.as_str(), groups[0].healthy, groups[0].expected), ("web-tg", 1, 2));
        assert!(!all_healthy(&groups));
    }

    #[test]
    fn instance_targets_are_the_container_instance_and_the_host_port() {
        let task = RunningTask {
            arn: "new-1".into(),
            started_at: Some(0),
            target_ids: vec!["i-0abc".into()],
            ports: vec![PortBinding { container: "web".into(), container_port: 8080, host_port: Some(32768) }],
        };
        let read = health(&[(
            TG,
            vec![
                // Another task on the same instance, and one on another instance at our port.
                target("i-0abc", 32769, "unhealthy", Some("Target.Timeout"), None),
                target("i-0def", 32768, "unhealthy", Some("Target.Timeout"), None),
                target("i-0abc", 32768, "healthy", None, None),
            ],
        )]);
        let matched = match_targets(&[task], &[lb(TG, 8080)], &read);
        assert_eq!(matched[0].health.as_ref().map(|h| h.state.as_str()), Some("healthy"));
    }

    #[test]
    fn tasks_without_an_address_are_told_apart_by_their_host_port() {
        // ferry local: every task on 127.0.0.1, each on a port of its own.
        let tasks = [local_task("new-1", 41001, 0), local_task("new-2", 41002, 0)];
        let read =
            health(&[(TG, vec![target("127.0.0.1", 41000, "healthy", None, None), target("127.0.0.1", 41002, "healthy", None, None)])]);
        let matched = match_targets(&tasks, &[lb(TG, 8080)], &read);
        assert_eq!(matched.len(), 2);
        assert_eq!(matched[0].health, None, "new-1 is not registered yet");
        assert_eq!(matched[1].health.as_ref().map(|h| h.port), Some(Some(41002)));
    }

    #[test]
    fn each_target_group_is_counted_once_and_a_classic_load_balancer_not_at_all() {
        let classic = ServiceLoadBalancer { target_group_arn: None, container_name: "web".into(), container_port: 8080, advanced: None };
        let lbs = [lb(TG, 8080), lb(TG, 8080), lb(ADMIN, 8080), classic];
        let tasks = [awsvpc_task("new-1", "10.0.1.7", 0)];
        let read = health(&[
            (TG, vec![target("10.0.1.7", 8080, "healthy", None, None)]),
            (ADMIN, vec![target("10.0.1.7", 8080, "unhealthy", Some("Target.Timeout"), Some("Request timed out"))]),
        ]);
        let groups = summarize(&lbs, &match_targets(&tasks, &lbs, &read), 1);
        let names: Vec<&str> = groups.iter().map(|g| g.target_group.as_str()).collect();
        assert_eq!(names, ["web-tg", "admin-tg"]);
        assert_eq!((groups[0].healthy, groups[1].healthy, groups[1].unhealthy), (1, 0, 1));
        assert!(!all_healthy(&groups));
    }

    #[test]
    fn an_unhealthy_target_fails_only_past_the_grace_period_with_the_reason() {
        let mut watch = TargetWatch::default();
        let tasks = [awsvpc_task("new-1", "10.0.1.7", 1_000)];
        let read = failing_with(500);
        // First seen a second after it started, still registering.
        let registering = health(&[(TG, vec![target("10.0.1.7", 8080, "initial", Some("Elb.RegistrationInProgress"), None)])]);
        assert_eq!(watch.observe(2_000, &tasks, &[lb(TG, 8080)], &registering, 1, 30_000), None);
        // 30 s grace: at 20 s it is shown, not judged.
        assert_eq!(watch.observe(21_000, &tasks, &[lb(TG, 8080)], &read, 1, 30_000), None);
        assert_eq!(watch.groups[0].unhealthy, 1);
        assert_eq!(watch.observe(31_000, &tasks, &[lb(TG, 8080)], &read, 1, 30_000), None, "30 s since ferry first saw it");
        let reason = watch.observe(32_000, &tasks, &[lb(TG, 8080)], &read, 1, 30_000).expect("past the grace period");
        assert_eq!(
            reason,
            "target group web-tg: Target.ResponseCodeMismatch — Health checks failed with these codes: [500] (target 10.0.1.7:8080)"
        );
    }

    #[test]
    fn the_grace_period_counts_from_when_ferry_saw_the_task_if_that_is_later() {
        // ECS's clock says the task started long ago; ferry first sees it now.
        let mut watch = TargetWatch::default();
        let tasks = [awsvpc_task("new-1", "10.0.1.7", 0)];
        let read = health(&[(TG, vec![target("10.0.1.7", 8080, "unhealthy", Some("Target.Timeout"), None)])]);
        assert_eq!(watch.observe(100_000, &tasks, &[lb(TG, 8080)], &read, 1, 10_000), None);
        assert!(watch.observe(110_000, &tasks, &[lb(TG, 8080)], &read, 1, 10_000).is_some());
    }

    #[test]
    fn the_load_balancers_own_trouble_is_not_held_against_the_version() {
        let mut watch = TargetWatch::default();
        let tasks = [awsvpc_task("new-1", "10.0.1.7", 0)];
        let read = health(&[(TG, vec![target("10.0.1.7", 8080, "unhealthy", Some("Elb.InternalError"), None)])]);
        assert_eq!(watch.observe(600_000, &tasks, &[lb(TG, 8080)], &read, 1, 0), None);
        assert_eq!(watch.groups[0].unhealthy, 0);
    }

    #[test]
    fn a_replaced_task_outdates_the_listed_tasks_but_a_steady_rollout_does_not() {
        let lbs = [lb(TG, 8080)];
        let listed = [awsvpc_task("new-1", "10.0.1.7", 0), awsvpc_task("new-2", "10.0.2.9", 0)];
        let old = target("10.0.0.5", 8080, "healthy", None, None);
        let new_1 = target("10.0.1.7", 8080, "initial", Some("Elb.RegistrationInProgress"), None);
        let mut watch = TargetWatch::default();
        let first = health(&[(TG, vec![old.clone(), new_1.clone()])]);
        assert!(!watch.tasks_outdated(&listed, &lbs, &first), "nothing to compare with before the first read");
        watch.observe(1_000, &listed, &lbs, &first, 2, 0);
        // The old target drains and leaves, new-2 registers, new-1 turns healthy: all
        // explained by the listed tasks.
        let healthy_1 = target("10.0.1.7", 8080, "healthy", None, None);
        let new_2 = target("10.0.2.9", 8080, "initial", Some("Elb.RegistrationInProgress"), None);
        let draining = target("10.0.0.5", 8080, "draining", Some("Target.DeregistrationInProgress"), None);
        let steady = health(&[(TG, vec![draining, healthy_1.clone(), new_2.clone()])]);
        assert!(!watch.tasks_outdated(&listed, &lbs, &steady));
        watch.observe(2_000, &listed, &lbs, &steady, 2, 0);
        let gone_old = health(&[(TG, vec![healthy_1.clone(), new_2.clone()])]);
        assert!(!watch.tasks_outdated(&listed, &lbs, &gone_old));
        watch.observe(3_000, &listed, &lbs, &gone_old, 2, 0);
        // new-2 was stopped and replaced at another address: its target is gone, another
        // one no listed task is known by appeared.
        let replacement = target("10.0.3.4", 8080, "initial", Some("Elb.RegistrationInProgress"), None);
        let replaced = health(&[(TG, vec![healthy_1.clone(), replacement.clone()])]);
        assert!(watch.tasks_outdated(&listed, &lbs, &replaced));
        // Either change alone is enough.
        assert!(watch.tasks_outdated(&listed, &lbs, &health(&[(TG, vec![healthy_1.clone()])])), "a listed task's target is gone");
        let added = health(&[(TG, vec![healthy_1.clone(), new_2, replacement.clone()])]);
        assert!(watch.tasks_outdated(&listed, &lbs, &added), "a target no listed task is known by appeared");
        // Listed again, the replacement is ours; a target that is no task's, once seen, costs
        // no further listing.
        let relisted = [awsvpc_task("new-1", "10.0.1.7", 0), awsvpc_task("new-3", "10.0.3.4", 0)];
        let stray = target("10.0.9.9", 8080, "healthy", None, None);
        let after = health(&[(TG, vec![healthy_1, replacement, stray])]);
        watch.observe(4_000, &relisted, &lbs, &after, 2, 0);
        assert_eq!(watch.groups[0].healthy, 1);
        assert!(!watch.tasks_outdated(&relisted, &lbs, &after));
    }

    #[test]
    fn a_task_ecs_stopped_for_its_elb_health_checks_fails_quoting_the_reason_seen_before() {
        let mut watch = TargetWatch::default();
        let tasks = [awsvpc_task("new-1", "10.0.1.7", 0)];
        let read = failing_with(503);
        // Seen inside the grace period, then ECS replaced the task.
        assert_eq!(watch.observe(1_000, &tasks, &[lb(TG, 8080)], &read, 1, 60_000), None);
        let stopped = StoppedTask {
            arn: "new-1".into(),
            stop_code: Some("ServiceSchedulerInitiated".into()),
            stopped_reason: Some(format!("Task failed ELB health checks in (target-group {TG})")),
            ..StoppedTask::default()
        };
        let reason = watch.judge_stopped(std::slice::from_ref(&stopped)).expect("an ELB health failure");
        assert!(
            reason.starts_with("target group web-tg: Target.ResponseCodeMismatch — Health checks failed with these codes: [503]"),
            "{reason}"
        );
        assert!(reason.contains("ECS stopped the task: Task failed ELB health checks"), "{reason}");
        // Another stop is not an ELB health failure.
        let crashed = StoppedTask { stopped_reason: Some("Essential container in task exited".into()), ..stopped };
        assert_eq!(watch.judge_stopped(&[crashed]), None);
    }
}
