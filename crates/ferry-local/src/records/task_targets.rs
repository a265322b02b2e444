//! A service's tasks in its target groups, as ECS manages them for a service behind an
//! Application Load Balancer (ECS developer guide, "Use load balancing to distribute Amazon
//! ECS service traffic"; `LoadBalancer` in the ECS API reference):
//!
//! - a task is registered in each target group of its deployment's `loadBalancers` once it is
//!   RUNNING ([`register_task`]), with the service event "(service NAME) registered 1 targets
//!   in (target-group ARN)";
//! - the load balancer's view of its targets is what the scheduler counts as the task's health
//!   ([`target_health`]);
//! - before a task is stopped its targets are deregistered ([`begin_draining`], "(service
//!   NAME) has begun draining connections on N tasks."), and the stop waits until they have
//!   left their groups ([`drained`], "(service NAME) deregistered 1 targets in (target-group
//!   ARN)") — the traffic engine removes a draining target once its group's deregistration
//!   delay is over: ELB shows it `draining` until then even when nothing is in flight to it,
//!   and ECS goes by what ELB shows — and only then is the task sent SIGTERM. A rolling
//!   deployment behind a load balancer therefore takes at least the deregistration delay
//!   per batch of old tasks, as on AWS.
//!
//! Where a target is on ferry local: every task shares the host's loopback address and gets
//! its own host ports (see `runtime`), so a task is registered as `127.0.0.1` : the host port
//! bound for the container port in `ip` target groups (on AWS: the task's ENI address : the
//! container port, `awsvpc` network mode), and as [`LOCAL_INSTANCE_ID`] : the host port in
//! `instance` target groups (on AWS: the container instance : the host port, `bridge` and
//! `host` modes).

use std::collections::HashMap;

use serde_json::Value;

use super::record_event;
use super::targets::{deregister, group_in_use, register};
use crate::state::{LOCAL_INSTANCE_ID, Partition, Service, Task, TaskTarget};

/// How long past a draining target's deregistration delay the stop of its task waits for the
/// traffic engine to remove it before removing it itself (the traffic engine removes it at
/// the delay; this only bounds the wait when no traffic engine runs).
pub const DRAIN_MARGIN_SECONDS: f64 = 2.0;

/// One entry of a service's `loadBalancers` (Application Load Balancer form): the target
/// group, and the container and container port its targets are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancerEntry {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i64,
}

/// The entries of a `loadBalancers` value as the API stores it (`[{targetGroupArn,
/// containerName, containerPort}]`); entries without all three are left out.
pub fn load_balancer_entries(value: Option<&Value>) -> Vec<LoadBalancerEntry> {
    value
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|lb| {
            Some(LoadBalancerEntry {
                target_group_arn: lb.get("targetGroupArn")?.as_str()?.to_string(),
                container_name: lb.get("containerName")?.as_str()?.to_string(),
                container_port: lb.get("containerPort")?.as_i64()?,
            })
        })
        .collect()
}

/// The load balancers a task of `service` belongs to: those of the service revision its
/// deployment runs (UpdateService with new `loadBalancers` starts a deployment whose tasks use
/// the new ones; a rollback reactivates a deployment with its own). A deployment already
/// dropped from the list falls back to the newest revision of the task's task definition.
pub fn task_load_balancers(service: &Service, task: &Task) -> Vec<LoadBalancerEntry> {
    let deployment =
        task.deployment_id.as_deref().and_then(|id| service.deployments.iter().chain(service.last_completed.iter()).find(|d| d.id == id));
    let revision_arn = deployment.map(|d| d.service_revision_arn.as_str());
    let revision = match revision_arn {
        Some(arn) => service.revisions.iter().find(|r| r.arn == arn),
        None => service.revisions.iter().rev().find(|r| r.task_definition == task.task_definition_arn),
    };
    let mut entries = load_balancer_entries(revision.and_then(|r| r.load_balancers.as_ref()));
    // A blue/green deployment's green tasks register in the alternate target groups.
    if let Some(swapped) = deployment.map(|d| &d.target_groups).filter(|m| !m.is_empty()) {
        for entry in &mut entries {
            if let Some(group) = swapped.get(&entry.target_group_arn) {
                entry.target_group_arn = group.clone();
            }
        }
    }
    entries
}

/// Registers a service task that has just become RUNNING in the target groups of its
/// deployment's load balancers: for each entry, the host port bound for the entry's
/// container port, as `127.0.0.1` in an `ip` group and as [`LOCAL_INSTANCE_ID`] in an
/// `instance` group (see the module docs), with `Target.task_arn` set. A group no listener
/// uses gets the target too (DescribeTargetHealth shows it `unused`). An entry whose group no
/// longer exists, or whose container did not bind the port, registers nothing. Writes one
/// service event per target, as ECS does.
pub fn register_task(partition: &mut Partition, task_arn: &str, now: f64) {
    let Some(task) = partition.tasks.get(task_arn) else { return };
    let Some(service) = task.service_arn.as_deref().and_then(|s| partition.services.get(s)) else { return };
    let mut planned: Vec<TaskTarget> = Vec::new();
    for entry in task_load_balancers(service, task) {
        let host_port = task
            .containers
            .iter()
            .find(|c| c.name == entry.container_name)
            .and_then(|c| c.bindings.iter().find(|(container_port, _, _)| *container_port == entry.container_port))
            .map(|(_, host_port, _)| i64::from(*host_port));
        let (Some(port), Some(group)) = (host_port, partition.target_groups.get(&entry.target_group_arn)) else { continue };
        let id = if group.target_type == "ip" { "127.0.0.1" } else { LOCAL_INSTANCE_ID };
        let target = TaskTarget { target_group_arn: entry.target_group_arn, id: id.to_string(), port };
        if !planned.contains(&target) {
            planned.push(target);
        }
    }
    if planned.is_empty() {
        return;
    }
    let service_arn = service.arn.clone();
    for target in &planned {
        if let Some(group) = partition.target_groups.get_mut(&target.target_group_arn) {
            register(group, &target.id, target.port, None, Some(task_arn), now);
        }
    }
    if let Some(service) = partition.services.get_mut(&service_arn) {
        for target in &planned {
            let message = format!("(service {}) registered 1 targets in (target-group {})", service.name, target.target_group_arn);
            record_event(service, now, message);
        }
    }
    if let Some(task) = partition.tasks.get_mut(task_arn) {
        for target in planned {
            if !task.lb_targets.contains(&target) {
                task.lb_targets.push(target);
            }
        }
    }
}

/// Deregisters the targets of tasks that are to stop (each target `draining`, or gone at once
/// from a group no listener uses, see `targets::deregister`), and writes "(service NAME) has
/// begun draining connections on N tasks." once per service for the tasks that had targets.
/// A target re-registered since by someone else (another task ARN) is left alone.
pub fn begin_draining(partition: &mut Partition, task_arns: &[String], now: f64) {
    let mut per_service: Vec<(String, usize)> = Vec::new();
    for task_arn in task_arns {
        let Some(task) = partition.tasks.get(task_arn) else { continue };
        if task.lb_targets.is_empty() {
            continue;
        }
        let targets = task.lb_targets.clone();
        let service_arn = task.service_arn.clone();
        for target in &targets {
            let in_use = group_in_use(partition, &target.target_group_arn);
            let Some(group) = partition.target_groups.get_mut(&target.target_group_arn) else { continue };
            if group.targets.iter().any(|t| t.id == target.id && t.port == target.port && t.task_arn.as_deref() == Some(task_arn)) {
                deregister(group, &target.id, target.port, in_use, now);
            }
        }
        if let Some(service_arn) = service_arn {
            match per_service.iter_mut().find(|(arn, _)| *arn == service_arn) {
                Some((_, count)) => *count += 1,
                None => per_service.push((service_arn, 1)),
            }
        }
    }
    for (service_arn, count) in per_service {
        if let Some(service) = partition.services.get_mut(&service_arn) {
            let message = format!("(service {}) has begun draining connections on {count} tasks.", service.name);
            record_event(service, now, message);
        }
    }
}

/// Whether every target of a stopping task has left its group, so that the task may be sent
/// SIGTERM. A target leaves when the traffic engine removes it (its deregistration delay
/// over); one still there [`DRAIN_MARGIN_SECONDS`] after its delay, or
/// any target of a task that is `dead` (its essential container exited: nothing left to
/// drain), is removed here. A target still registered and not draining is deregistered now.
/// Each target that left is forgotten by the task and reported: "(service NAME) deregistered
/// 1 targets in (target-group ARN)".
pub fn drained(partition: &mut Partition, task_arn: &str, dead: bool, now: f64) -> bool {
    let Some(task) = partition.tasks.get(task_arn) else { return true };
    if task.lb_targets.is_empty() {
        return true;
    }
    let targets = task.lb_targets.clone();
    let service_arn = task.service_arn.clone();
    let mut left: Vec<TaskTarget> = Vec::new();
    for target in targets {
        let in_use = group_in_use(partition, &target.target_group_arn);
        let Some(group) = partition.target_groups.get_mut(&target.target_group_arn) else {
            left.push(target);
            continue;
        };
        let delay = group.deregistration_delay();
        let mine = |t: &crate::state::Target| t.id == target.id && t.port == target.port && t.task_arn.as_deref() == Some(task_arn);
        let Some(registered) = group.targets.iter().find(|t| mine(t)) else {
            left.push(target);
            continue;
        };
        let overdue = registered.draining_since.is_some_and(|since| now >= since + delay + DRAIN_MARGIN_SECONDS);
        if dead || overdue {
            group.targets.retain(|t| !mine(t));
            left.push(target);
        } else if registered.state != "draining" {
            deregister(group, &target.id, target.port, in_use, now);
            if !group.targets.iter().any(mine) {
                left.push(target);
            }
        }
    }
    if let Some(service) = service_arn.as_deref().and_then(|s| partition.services.get_mut(s)) {
        for target in &left {
            let message = format!("(service {}) deregistered 1 targets in (target-group {})", service.name, target.target_group_arn);
            record_event(service, now, message);
        }
    }
    let Some(task) = partition.tasks.get_mut(task_arn) else { return true };
    task.lb_targets.retain(|t| !left.contains(t));
    task.lb_targets.is_empty()
}

/// A task's standing with the load balancer, worst last (the order is used to keep the worst
/// of a task's targets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// `healthy`; also `unused` (no listener sends the group traffic, so the load balancer
    /// does not health-check it) and `unavailable` (health checks disabled): the ECS
    /// documentation does not say that either holds a deployment back, and a service whose
    /// target group is not yet behind a listener must be able to deploy.
    Healthy,
    /// `initial` (health checks have not decided yet) or `draining`: not healthy yet, not a
    /// failure either.
    Initial,
    /// `unhealthy`: failed its health checks.
    Unhealthy,
}

/// The worst of a task's targets, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskTargetHealth {
    pub standing: Standing,
    pub target_group_arn: String,
    /// The target's port (the task's host port).
    pub port: i64,
    /// The target's `TargetHealth.Description` (e.g. "Health checks failed with these
    /// codes: [503]").
    pub description: Option<String>,
}

/// Task ARN → the worst standing of its targets, for every task that has a target (set
/// `Target.task_arn`) in a target group. Empty, without allocating, when there is no target
/// group.
pub fn target_health(partition: &Partition) -> HashMap<String, TaskTargetHealth> {
    let mut health: HashMap<String, TaskTargetHealth> = HashMap::new();
    for group in partition.target_groups.values() {
        if !group.targets.iter().any(|t| t.task_arn.is_some()) {
            continue;
        }
        let checked = group.health_check.enabled && group_in_use(partition, &group.arn);
        for target in &group.targets {
            let Some(task_arn) = &target.task_arn else { continue };
            let standing = match target.state.as_str() {
                _ if !checked => Standing::Healthy,
                "healthy" => Standing::Healthy,
                "unhealthy" => Standing::Unhealthy,
                _ => Standing::Initial,
            };
            if health.get(task_arn).is_some_and(|h| h.standing >= standing) {
                continue;
            }
            let entry = TaskTargetHealth {
                standing,
                target_group_arn: group.arn.clone(),
                port: target.port,
                description: target.description.clone(),
            };
            health.insert(task_arn.clone(), entry);
        }
    }
    health
}

/// Target groups for tests of what ECS does with them, without the ELBv2 API.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::state::{Partition, Rule, TargetGroup};

    /// Adds target group `name` of `target_type` (`ip` or `instance`) with AWS's defaults
    /// and, when `in_use`, a listener's default rule forwarding to it; returns its ARN.
    pub fn target_group(partition: &mut Partition, name: &str, target_type: &str, in_use: bool) -> String {
        let arn = format!("arn:aws:elasticloadbalancing:{}:{}:targetgroup/{name}/0123456789abcdef", partition.region, partition.account);
        let group = TargetGroup {
            target_type: target_type.into(),
            attributes: [("deregistration_delay.timeout_seconds".to_string(), "300".to_string())].into_iter().collect(),
            ..TargetGroup::for_test(&arn, name)
        };

        partition.target_groups.insert(arn.clone(), group);
        if in_use {
            forward(partition, &arn);
        }
        arn
    }

    /// A listener's default rule that forwards to `group_arn` (the group is then in use).
    pub fn forward(partition: &mut Partition, group_arn: &str) {
        let n = partition.rules.len();
        let listener =
            format!("arn:aws:elasticloadbalancing:{}:{}:listener/app/lb/0123456789abcdef/{n:016x}", partition.region, partition.account);
        let rule = Rule {
            arn: format!("{}/{n:016x}", listener.replace(":listener/", ":listener-rule/")),
            listener_arn: listener,
            priority: "default".into(),
            is_default: true,
            conditions: serde_json::json!([]),
            actions: serde_json::json!([{"Type": "forward", "TargetGroupArn": group_arn}]),
            created_at: 0.0,
        };
        partition.rules.insert(rule.arn.clone(), rule);
    }
}
