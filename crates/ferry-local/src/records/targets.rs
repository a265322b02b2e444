//! Registering and deregistering targets in a target group: what RegisterTargets and
//! DeregisterTargets do, and what ECS does for a service's tasks behind a load balancer
//! (registers a task once it is RUNNING, deregisters it before stopping it).
//!
//! Target states follow the ELBv2 API reference (`TargetHealth`): a new target is `initial`
//! (`Elb.RegistrationInProgress`) until its health checks decide; a deregistered target is
//! `draining` (`Target.DeregistrationInProgress`) until the group's
//! `deregistration_delay.timeout_seconds` is over, then it leaves the group (the traffic
//! engine removes it). It gets no new request from the start, and once none is in flight
//! its deregistration is complete inside, but it is shown `draining` until the delay is
//! over, as AWS shows it.

use std::collections::HashSet;

use serde_json::Value;

use crate::state::{Partition, Rule, Target, TargetGroup};

pub const REGISTRATION_IN_PROGRESS: (&str, &str) = ("Elb.RegistrationInProgress", "Target registration is in progress");
pub const DEREGISTRATION_IN_PROGRESS: (&str, &str) = ("Target.DeregistrationInProgress", "Target deregistration is in progress");

/// Registers `id:port` in `group` as `initial`. Registering a target that is already
/// registered changes nothing (AWS answers success); one that is draining is registered
/// afresh. Returns whether the group changed.
pub fn register(group: &mut TargetGroup, id: &str, port: i64, availability_zone: Option<&str>, task_arn: Option<&str>, now: f64) -> bool {
    if let Some(existing) = group.target_mut(id, port) {
        if existing.state != "draining" {
            return false;
        }
        group.targets.retain(|t| !(t.id == id && t.port == port));
    }
    let (reason, description) = REGISTRATION_IN_PROGRESS;
    group.targets.push(Target {
        id: id.to_string(),
        port,
        availability_zone: availability_zone.map(str::to_string),
        registered_at: now,
        state: "initial".into(),
        reason: Some(reason.into()),
        description: Some(description.into()),
        passes: 0,
        failures: 0,
        last_checked_at: None,
        draining_since: None,
        task_arn: task_arn.map(str::to_string),
    });
    true
}

/// Starts draining `id:port` in `group`. A target that is not registered is left alone
/// (AWS answers success for it too). With `in_use` false (no listener sends the group
/// traffic) the target leaves at once, as there is nothing to drain. Returns whether the
/// group changed.
pub fn deregister(group: &mut TargetGroup, id: &str, port: i64, in_use: bool, now: f64) -> bool {
    if !in_use {
        let before = group.targets.len();
        group.targets.retain(|t| !(t.id == id && t.port == port));
        return group.targets.len() != before;
    }
    let Some(target) = group.target_mut(id, port) else { return false };
    if target.state == "draining" {
        return false;
    }
    let (reason, description) = DEREGISTRATION_IN_PROGRESS;
    target.state = "draining".into();
    target.reason = Some(reason.into());
    target.description = Some(description.into());
    target.draining_since = Some(now);
    true
}

/// The target groups an action list forwards to (`TargetGroupArn` of a forward action and
/// every group of its `ForwardConfig`), each once, in order.
pub fn forwarded_groups(actions: &Value) -> Vec<&str> {
    let mut groups: Vec<&str> = Vec::new();
    for action in actions.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let single = action.get("TargetGroupArn").and_then(Value::as_str);
        let weighted = action.pointer("/ForwardConfig/TargetGroups").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for arn in single.into_iter().chain(weighted.iter().filter_map(|g| g.get("TargetGroupArn").and_then(Value::as_str))) {
            if !groups.contains(&arn) {
                groups.push(arn);
            }
        }
    }
    groups
}

/// The rules (default rules included) whose actions forward to `group_arn`.
pub fn rules_using<'a>(partition: &'a Partition, group_arn: &str) -> impl Iterator<Item = &'a Rule> {
    let group_arn = group_arn.to_string();
    partition.rules.values().filter(move |r| forwarded_groups(&r.actions).contains(&group_arn.as_str()))
}

/// Whether any listener sends `group_arn` traffic (a rule forwards to it, whatever its
/// weight): a group nobody uses has `unused` targets that are not health-checked.
pub fn group_in_use(partition: &Partition, group_arn: &str) -> bool {
    rules_using(partition, group_arn).next().is_some()
}

/// The target groups some listener rule forwards to (each a group [`group_in_use`]).
pub fn groups_in_use(partition: &Partition) -> HashSet<String> {
    partition.rules.values().flat_map(|r| forwarded_groups(&r.actions)).map(str::to_string).collect()
}

/// Puts the targets of every group in use now but not in `before` (the groups in use
/// before a change of listeners or rules) back to `initial` (`Elb.RegistrationInProgress`),
/// their check counters cleared: while their group was unused they were not health-checked,
/// so what is stored of them is stale, and on AWS a target group that comes into use checks
/// its targets afresh before calling one healthy. Draining targets keep draining. Returns
/// whether a target changed.
pub fn recheck_groups_back_in_use(partition: &mut Partition, before: &HashSet<String>) -> bool {
    let mut changed = false;
    for arn in groups_in_use(partition).difference(before) {
        let Some(group) = partition.target_groups.get_mut(arn) else { continue };
        for target in group.targets.iter_mut().filter(|t| t.state != "draining") {
            let (reason, description) = REGISTRATION_IN_PROGRESS;
            target.state = "initial".into();
            target.reason = Some(reason.into());
            target.description = Some(description.into());
            target.passes = 0;
            target.failures = 0;
            target.last_checked_at = None;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> TargetGroup {
        TargetGroup::for_test("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef", "web")
    }

    #[test]
    fn registering_twice_is_one_target_and_a_draining_target_comes_back_initial() {
        let mut g = group();
        assert!(register(&mut g, "127.0.0.1", 8080, None, None, 1.0));
        assert!(!register(&mut g, "127.0.0.1", 8080, None, None, 2.0));
        assert_eq!(g.targets.len(), 1);
        assert!(deregister(&mut g, "127.0.0.1", 8080, true, 3.0));
        assert_eq!(g.targets[0].state, "draining");
        assert_eq!(g.targets[0].draining_since, Some(3.0));
        assert!(register(&mut g, "127.0.0.1", 8080, None, None, 4.0));
        assert_eq!((g.targets.len(), g.targets[0].state.as_str(), g.targets[0].registered_at), (1, "initial", 4.0));
    }

    #[test]
    fn forwarded_groups_reads_single_and_weighted_forwards_once_each() {
        let actions = serde_json::json!([
            {"Type": "forward", "TargetGroupArn": "blue", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": "blue", "Weight": 90}, {"TargetGroupArn": "green", "Weight": 10}]}},
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}
        ]);
        assert_eq!(forwarded_groups(&actions), vec!["blue", "green"]);
        assert!(forwarded_groups(&serde_json::json!([])).is_empty());
    }

    #[test]
    fn a_target_of_a_group_no_listener_uses_leaves_at_once() {
        let mut g = group();
        register(&mut g, "127.0.0.1", 8080, None, None, 1.0);
        assert!(deregister(&mut g, "127.0.0.1", 8080, false, 2.0));
        assert!(g.targets.is_empty());
        assert!(!deregister(&mut g, "127.0.0.1", 8080, false, 2.0));
    }
}
