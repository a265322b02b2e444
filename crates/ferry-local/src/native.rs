//! ECS-managed BLUE_GREEN, LINEAR and CANARY deployments (`deploymentConfiguration.strategy`
//! with the ECS deployment controller), as the ECS developer guide describes them ("Amazon
//! ECS blue/green deployments", "linear deployments", "canary deployments", "lifecycle
//! hooks") and the API reference shapes them (`AdvancedConfiguration`,
//! `DeploymentLifecycleHook`, `LinearConfiguration`, `CanaryConfiguration`,
//! `ServiceDeployment.lifecycleStage`, `ContinueServiceDeployment`).
//!
//! A service deployment of such a service walks the lifecycle stages in order:
//! RECONCILE_SERVICE, PRE_SCALE_UP, SCALE_UP (the green tasks start, registered in the
//! alternate target group, until `desiredCount` of them are healthy), POST_SCALE_UP,
//! TEST_TRAFFIC_SHIFT (the test listener rule forwards to green), POST_TEST_TRAFFIC_SHIFT,
//! PRODUCTION_TRAFFIC_SHIFT (the production rule's weights move to green: at once for
//! BLUE_GREEN, by `stepPercent` every `stepBakeTimeInMinutes` for LINEAR, `canaryPercent`
//! for `canaryBakeTimeInMinutes` then the rest for CANARY), POST_PRODUCTION_TRAFFIC_SHIFT,
//! BAKE_TIME (`bakeTimeInMinutes` with both revisions up), CLEAN_UP (blue is scaled in). The
//! roles of the two target groups then swap: the service's `loadBalancers` name the group
//! that now serves production as `targetGroupArn` and the other as the alternate, for the
//! next deployment.
//!
//! Lifecycle hooks run at their stages: a PAUSE hook stops the deployment with a
//! `lifecycleHookDetails` entry AWAITING_ACTION until ContinueServiceDeployment answers it
//! (CONTINUE, or ROLLBACK) or it expires (`timeoutConfiguration`, default 1440 minutes and
//! ROLLBACK). AWS_LAMBDA hooks are refused when the service is created or updated (ferry
//! local runs no Lambda functions; docs/local.md).
//!
//! A rollback (a hook's ROLLBACK, StopServiceDeployment ROLLBACK, the circuit breaker, a
//! CloudWatch alarm) returns production and test traffic to blue first, in the same step as
//! it reactivates the blue deployment; the scheduler then scales green in, and the service
//! deployment goes ROLLBACK_IN_PROGRESS → ROLLBACK_SUCCESSFUL.
//!
//! Minutes (bake times, hook timeouts) last [`crate::Options::minute_seconds`] seconds, 60
//! unless a test asks for less.
//!
//! ferry local starts this walk only for a service that already runs a completed deployment
//! (blue): a service's first deployment has nothing to shift from and rolls out as ECS's
//! first deployment does, into `targetGroupArn`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::api::{ApiError, alnum_id};
use crate::records::task_targets::{Standing, TaskTargetHealth};
use crate::records::{record_event, start_rollback};
use crate::state::{HookRun, NativeRollout, Partition, Service, TrafficPair};

/// The strategies this module runs (`DeploymentStrategy`).
pub const STRATEGIES: [&str; 3] = ["BLUE_GREEN", "LINEAR", "CANARY"];

/// The stages of a service deployment (`ServiceDeploymentLifecycleStage`), in order, each with
/// the hook stages (`DeploymentLifecycleHookStage`) run before its work and those run after.
const STAGES: [(&str, &[&str], &[&str]); 10] = [
    ("RECONCILE_SERVICE", &[], &["RECONCILE_SERVICE"]),
    ("PRE_SCALE_UP", &[], &["PRE_SCALE_UP"]),
    ("SCALE_UP", &[], &[]),
    ("POST_SCALE_UP", &[], &["POST_SCALE_UP"]),
    ("TEST_TRAFFIC_SHIFT", &[], &["TEST_TRAFFIC_SHIFT"]),
    ("POST_TEST_TRAFFIC_SHIFT", &[], &["POST_TEST_TRAFFIC_SHIFT"]),
    ("PRODUCTION_TRAFFIC_SHIFT", &["PRE_PRODUCTION_TRAFFIC_SHIFT"], &["PRODUCTION_TRAFFIC_SHIFT"]),
    ("POST_PRODUCTION_TRAFFIC_SHIFT", &[], &["POST_PRODUCTION_TRAFFIC_SHIFT"]),
    ("BAKE_TIME", &[], &[]),
    ("CLEAN_UP", &[], &[]),
];

/// The hook timeout when `timeoutConfiguration` gives none (API reference:
/// `DeploymentLifecycleHookTimeoutConfiguration.timeoutInMinutes`, default 1440).
const DEFAULT_HOOK_TIMEOUT_MINUTES: f64 = 1440.0;

/// The strategy of a deployment configuration when it is one this module runs.
pub fn strategy(configuration: &Value) -> Option<&str> {
    configuration.get("strategy").and_then(Value::as_str).filter(|s| STRATEGIES.contains(s))
}

fn stage_index(stage: &str) -> usize {
    STAGES.iter().position(|(s, _, _)| *s == stage).unwrap_or(0)
}

/// What the rolling scheduler must hold back while a native deployment walks its stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    /// No green task starts before SCALE_UP.
    pub launch: bool,
    /// Blue keeps running until CLEAN_UP.
    pub keep_old: bool,
    /// Green starts all its tasks at once, whatever `maximumPercent` says (both revisions
    /// run side by side in a blue/green deployment).
    pub ignore_maximum_percent: bool,
}

/// The hold for `service` now: none unless its PRIMARY deployment is a native one walking
/// its stages (not rolling back).
pub fn hold(service: &Service) -> Hold {
    let Some(primary) = service.deployments.first() else { return Hold::default() };
    let Some(sd) = service.service_deployments.iter().find(|sd| sd.arn == primary.service_deployment_arn) else { return Hold::default() };
    let Some(native) = sd.native.as_ref().filter(|n| !n.rolled_back) else { return Hold::default() };
    if !matches!(sd.status.as_str(), "PENDING" | "IN_PROGRESS") {
        return Hold::default();
    }
    let index = stage_index(&native.stage);
    Hold { launch: index < stage_index("SCALE_UP"), keep_old: native.stage != "CLEAN_UP", ignore_maximum_percent: true }
}

/// The target-group pairs of a service's `loadBalancers` (entries with an
/// `advancedConfiguration`).
fn pairs_of(load_balancers: Option<&Value>) -> Vec<TrafficPair> {
    load_balancers
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|lb| {
            let advanced = lb.get("advancedConfiguration")?;
            Some(TrafficPair {
                blue_target_group_arn: lb.get("targetGroupArn")?.as_str()?.to_string(),
                green_target_group_arn: advanced.get("alternateTargetGroupArn")?.as_str()?.to_string(),
                production_rule_arn: advanced.get("productionListenerRule")?.as_str()?.to_string(),
                test_rule_arn: advanced.get("testListenerRule").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect()
}

/// Starts the lifecycle walk of the service deployment just created for `service`'s new
/// PRIMARY deployment, when the service runs a native strategy and has a completed
/// deployment to shift from; the green deployment's tasks will register in the alternate
/// target groups. Called by `records::new_deployment`.
pub fn begin(service: &mut Service, now: f64) {
    let Some(strategy) = strategy(&service.deployment_configuration).map(str::to_string) else { return };
    let Some(blue) = service.last_completed.clone() else { return };
    if service.deployments.len() < 2 {
        return;
    }
    let pairs = pairs_of(service.passthrough.get("loadBalancers"));
    if pairs.is_empty() {
        return;
    }
    let Some(green) = service.deployments.first_mut() else { return };
    green.target_groups = pairs.iter().map(|p| (p.blue_target_group_arn.clone(), p.green_target_group_arn.clone())).collect();
    let sd_arn = green.service_deployment_arn.clone();
    if let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) {
        sd.native = Some(NativeRollout {
            strategy,
            stage: STAGES[0].0.to_string(),
            stage_started_at: now,
            hooks_done: Vec::new(),
            blue_deployment_id: blue.id,
            pairs,
            production_weight: 0.0,
            test_weight: 0.0,
            rolled_back: false,
        });
    }
}

/// Moves every native service deployment of `partition` as far as it can go at `now`: runs
/// the hooks due, does each stage's work, and rolls back on a hook's ROLLBACK. `health` is
/// the load balancers' view of the tasks (`records::task_targets::target_health`);
/// `minute_seconds` how long a minute of bake time or hook timeout lasts.
pub fn advance(partition: &mut Partition, service_arn: &str, health: &HashMap<String, TaskTargetHealth>, now: f64, minute_seconds: f64) {
    // At most one pass per stage per tick: each stage either waits or hands over.
    for _ in 0..STAGES.len() + 1 {
        match step(partition, service_arn, health, now, minute_seconds) {
            Step::Moved => continue,
            Step::Wait => return,
            Step::RollBack(reason) => {
                roll_back(partition, service_arn, &reason, now);
                return;
            }
        }
    }
}

enum Step {
    Moved,
    Wait,
    RollBack(String),
}

/// The hooks of a hook stage: their outcome so far.
enum Hooks {
    Done,
    Waiting,
    RollBack(String),
}

fn step(partition: &mut Partition, service_arn: &str, health: &HashMap<String, TaskTargetHealth>, now: f64, minute: f64) -> Step {
    let Some(service) = partition.services.get(service_arn) else { return Step::Wait };
    let Some(primary) = service.deployments.first() else { return Step::Wait };
    let green_id = primary.id.clone();
    let desired = service.desired_count;
    let sd_arn = primary.service_deployment_arn.clone();
    let Some(sd) = service.service_deployments.iter().find(|sd| sd.arn == sd_arn) else { return Step::Wait };
    let Some(native) = sd.native.clone().filter(|n| !n.rolled_back) else { return Step::Wait };
    if sd.status != "IN_PROGRESS" {
        return Step::Wait;
    }
    let configuration = sd.deployment_configuration.clone();
    let (stage, pre, post) = STAGES[stage_index(&native.stage)];
    for hook_stage in pre {
        match hooks(partition, service_arn, &sd_arn, hook_stage, &configuration, now, minute) {
            Hooks::Done => {}
            Hooks::Waiting => return Step::Wait,
            Hooks::RollBack(reason) => return Step::RollBack(reason),
        }
    }
    let minutes = |pointer: &str, default: f64| configuration.pointer(pointer).and_then(Value::as_f64).unwrap_or(default) * minute;
    let elapsed = now - native.stage_started_at;
    let done = match stage {
        "SCALE_UP" => {
            let healthy = partition
                .tasks
                .values()
                .filter(|t| t.deployment_id.as_deref() == Some(green_id.as_str()) && t.desired_status == "RUNNING" && t.is_healthy())
                .filter(|t| health.get(&t.arn).is_none_or(|h| h.standing == Standing::Healthy))
                .count() as i64;
            healthy >= desired
        }
        "TEST_TRAFFIC_SHIFT" => {
            set_weights(partition, service_arn, &sd_arn, None, Some(100.0), now);
            true
        }
        "PRODUCTION_TRAFFIC_SHIFT" => {
            let weight = native.production_weight;
            let next = match native.strategy.as_str() {
                "LINEAR" => {
                    let step = configuration.pointer("/linearConfiguration/stepPercent").and_then(Value::as_f64).unwrap_or(10.0);
                    let wait = minutes("/linearConfiguration/stepBakeTimeInMinutes", 6.0);
                    if weight <= 0.0 || elapsed >= wait { Some((weight + step).min(100.0)) } else { None }
                }
                "CANARY" => {
                    let canary = configuration.pointer("/canaryConfiguration/canaryPercent").and_then(Value::as_f64).unwrap_or(5.0);
                    let wait = minutes("/canaryConfiguration/canaryBakeTimeInMinutes", 10.0);
                    if weight <= 0.0 {
                        Some(canary.min(100.0))
                    } else if elapsed >= wait {
                        Some(100.0)
                    } else {
                        None
                    }
                }
                _ => Some(100.0),
            };
            if let Some(next) = next.filter(|n| *n > weight) {
                set_weights(partition, service_arn, &sd_arn, Some(next), None, now);
            }
            next.unwrap_or(weight) >= 100.0
        }
        "BAKE_TIME" => elapsed >= minutes("/bakeTimeInMinutes", 0.0),
        // The scheduler scales blue in and completes the deployment.
        "CLEAN_UP" => return Step::Wait,
        _ => true,
    };
    if !done {
        return Step::Wait;
    }
    for hook_stage in post {
        match hooks(partition, service_arn, &sd_arn, hook_stage, &configuration, now, minute) {
            Hooks::Done => {}
            Hooks::Waiting => return Step::Wait,
            Hooks::RollBack(reason) => return Step::RollBack(reason),
        }
    }
    let next = STAGES[(stage_index(stage) + 1).min(STAGES.len() - 1)].0;
    enter(partition, service_arn, &sd_arn, next, now);
    Step::Moved
}

/// Enters `stage`: records it (and, at CLEAN_UP, swaps the roles of the target groups).
fn enter(partition: &mut Partition, service_arn: &str, sd_arn: &str, stage: &str, now: f64) {
    let Some(service) = partition.services.get_mut(service_arn) else { return };
    let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) else { return };
    let Some(native) = sd.native.as_mut() else { return };
    native.stage = stage.to_string();
    native.stage_started_at = now;
    sd.updated_at = now;
    let id = sd_arn.rsplit('/').next().unwrap_or_default().to_string();
    if stage == "CLEAN_UP" {
        swap_roles(service);
    }
    let message = format!("(service {}) (service deployment {id}) entered lifecycle stage {stage}.", service.name);
    record_event(service, now, message);
}

/// After production traffic moved to green, the service's `loadBalancers` name the green
/// group as `targetGroupArn` and the blue one as the alternate (ECS developer guide: the
/// target groups switch roles after a successful deployment).
fn swap_roles(service: &mut Service) {
    let Some(Value::Array(entries)) = service.passthrough.get_mut("loadBalancers") else { return };
    for entry in entries.iter_mut() {
        let Some(primary) = entry.get("targetGroupArn").cloned() else { continue };
        let Some(alternate) = entry.pointer("/advancedConfiguration/alternateTargetGroupArn").cloned() else { continue };
        if let Some(object) = entry.as_object_mut() {
            object.insert("targetGroupArn".into(), alternate);
        }
        if let Some(advanced) = entry.get_mut("advancedConfiguration").and_then(Value::as_object_mut) {
            advanced.insert("alternateTargetGroupArn".into(), primary);
        }
    }
}

/// Runs the hooks configured for `hook_stage`: the first time, records one run per hook
/// (PAUSE: AWAITING_ACTION until answered or expired); then reads their outcome.
fn hooks(
    partition: &mut Partition,
    service_arn: &str,
    sd_arn: &str,
    hook_stage: &str,
    configuration: &Value,
    now: f64,
    minute: f64,
) -> Hooks {
    let Some(service) = partition.services.get_mut(service_arn) else { return Hooks::Waiting };
    let name = service.name.clone();
    let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) else { return Hooks::Waiting };
    let Some(native) = sd.native.as_mut() else { return Hooks::Waiting };
    if native.hooks_done.iter().any(|s| s == hook_stage) {
        return Hooks::Done;
    }
    let configured: Vec<&Value> = configuration
        .get("lifecycleHooks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter(|h| h.get("lifecycleStages").and_then(Value::as_array).is_some_and(|s| s.iter().any(|s| s.as_str() == Some(hook_stage))))
        .collect();
    let mut events = Vec::new();
    if !sd.hooks.iter().any(|h| h.stage == hook_stage) {
        for hook in &configured {
            let timeout =
                hook.pointer("/timeoutConfiguration/timeoutInMinutes").and_then(Value::as_f64).unwrap_or(DEFAULT_HOOK_TIMEOUT_MINUTES);
            let run = HookRun {
                hook_id: alnum_id(22),
                stage: hook_stage.to_string(),
                target_type: hook.get("targetType").and_then(Value::as_str).unwrap_or("AWS_LAMBDA").to_string(),
                target_arn: hook.get("hookTargetArn").and_then(Value::as_str).map(str::to_string),
                status: "AWAITING_ACTION".into(),
                expires_at: now + timeout * minute,
                timeout_action: hook.pointer("/timeoutConfiguration/action").and_then(Value::as_str).unwrap_or("ROLLBACK").to_string(),
            };
            events.push(format!(
                "(service {name}) service deployment paused at lifecycle stage {hook_stage}: lifecycle hook {} awaits ContinueServiceDeployment.",
                run.hook_id
            ));
            sd.hooks.push(run);
            sd.updated_at = now;
        }
    }
    let mut outcome = Hooks::Done;
    for run in sd.hooks.iter_mut().filter(|h| h.stage == hook_stage) {
        if run.status == "AWAITING_ACTION" && now >= run.expires_at {
            run.status = "TIMED_OUT".into();
            sd.updated_at = now;
            events.push(format!(
                "(service {name}) lifecycle hook {} timed out at {hook_stage}; its timeout action is {}.",
                run.hook_id, run.timeout_action
            ));
        }
        match run.status.as_str() {
            "AWAITING_ACTION" | "IN_PROGRESS" if !matches!(outcome, Hooks::RollBack(_)) => outcome = Hooks::Waiting,
            "FAILED" => outcome = Hooks::RollBack(format!("Lifecycle hook {} at {hook_stage} asked for a rollback.", run.hook_id)),
            "TIMED_OUT" if run.timeout_action == "ROLLBACK" => {
                outcome =
                    Hooks::RollBack(format!("Lifecycle hook {} at {hook_stage} timed out; its timeout action is ROLLBACK.", run.hook_id))
            }
            _ => {}
        }
    }
    if matches!(outcome, Hooks::Done) {
        native.hooks_done.push(hook_stage.to_string());
    }
    for message in events {
        record_event(service, now, message);
    }
    outcome
}

/// Answers a PAUSE hook (ContinueServiceDeployment): CONTINUE lets the deployment go on,
/// ROLLBACK rolls it back. Errors as ECS answers them: an unknown service deployment, a
/// deployment no longer in progress, a hook that is not awaiting an answer.
pub fn continue_hook(
    partition: &mut Partition,
    service_arn: &str,
    sd_arn: &str,
    hook_id: &str,
    action: &str,
    now: f64,
) -> Result<(), ApiError> {
    let Some(service) = partition.services.get_mut(service_arn) else {
        return Err(ApiError::client("ServiceDeploymentNotFoundException", "The service deployment does not exist."));
    };
    let name = service.name.clone();
    let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) else {
        return Err(ApiError::client("ServiceDeploymentNotFoundException", "The service deployment does not exist."));
    };
    if sd.status != "IN_PROGRESS" {
        return Err(ApiError::client(
            "ClientException",
            format!("The service deployment is {} and has no lifecycle hook to answer.", sd.status),
        ));
    }
    let Some(run) = sd.hooks.iter_mut().find(|h| h.hook_id == hook_id) else {
        return Err(ApiError::invalid_parameter(format!("The lifecycle hook {hook_id} does not exist in this service deployment.")));
    };
    if run.status != "AWAITING_ACTION" {
        return Err(ApiError::client("ClientException", format!("The lifecycle hook {hook_id} is {} and awaits no action.", run.status)));
    }
    run.status = if action == "ROLLBACK" { "FAILED" } else { "SUCCEEDED" }.into();
    sd.updated_at = now;
    let message = format!("(service {name}) lifecycle hook {hook_id} answered {action}.");
    record_event(service, now, message);
    Ok(())
}

/// Sets the green share of production (`production`) and test (`test`) traffic, percent, on
/// every pair's listener rules, and records it.
fn set_weights(partition: &mut Partition, service_arn: &str, sd_arn: &str, production: Option<f64>, test: Option<f64>, now: f64) {
    let Some(native) = partition
        .services
        .get(service_arn)
        .and_then(|s| s.service_deployments.iter().find(|sd| sd.arn == sd_arn))
        .and_then(|sd| sd.native.clone())
    else {
        return;
    };
    for pair in &native.pairs {
        if let Some(weight) = production {
            forward_weights(partition, &pair.production_rule_arn, pair, weight);
        }
        if let (Some(weight), Some(rule)) = (test, pair.test_rule_arn.as_deref()) {
            forward_weights(partition, rule, pair, weight);
        }
    }
    let Some(service) = partition.services.get_mut(service_arn) else { return };
    let name = service.name.clone();
    let Some(sd) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn) else { return };
    let Some(state) = sd.native.as_mut() else { return };
    let mut message = None;
    if let Some(weight) = production {
        state.production_weight = weight;
        state.stage_started_at = now;
        message = Some(format!("(service {name}) shifted {weight}% of production traffic to the new service revision."));
    }
    if let Some(weight) = test {
        state.test_weight = weight;
        message = message.or(Some(format!("(service {name}) shifted {weight}% of test traffic to the new service revision.")));
    }
    sd.updated_at = now;
    if let Some(message) = message {
        record_event(service, now, message);
    }
}

/// Rewrites the forward action of rule `rule_arn` (or of the default rule of the listener
/// it names) so that the pair's green group gets `green_percent` of its traffic and the blue
/// group the rest. ELBv2 weights are integers from 0 to 999: whole percentages are written
/// as such (95/5), others in thousandths of 999.
fn forward_weights(partition: &mut Partition, rule_arn: &str, pair: &TrafficPair, green_percent: f64) {
    let (blue, green) = if green_percent.fract() == 0.0 {
        let green = green_percent.clamp(0.0, 100.0) as i64;
        (100 - green, green)
    } else {
        let green = (green_percent.clamp(0.0, 100.0) * 9.99).round() as i64;
        (999 - green, green)
    };
    let rule = match partition.rules.get_mut(rule_arn) {
        Some(rule) => Some(rule),
        None => partition.rules.values_mut().find(|r| r.is_default && r.listener_arn == rule_arn),
    };
    let Some(rule) = rule else { return };
    let Some(actions) = rule.actions.as_array_mut() else { return };
    for action in actions.iter_mut().filter(|a| a.get("Type").and_then(Value::as_str) == Some("forward")) {
        let groups = vec![
            json!({"TargetGroupArn": pair.blue_target_group_arn, "Weight": blue}),
            json!({"TargetGroupArn": pair.green_target_group_arn, "Weight": green}),
        ];
        let stickiness = action.pointer("/ForwardConfig/TargetGroupStickinessConfig").cloned();
        let mut forward = Map::new();
        forward.insert("TargetGroups".into(), Value::Array(groups));
        if let Some(stickiness) = stickiness {
            forward.insert("TargetGroupStickinessConfig".into(), stickiness);
        }
        if let Some(object) = action.as_object_mut() {
            object.remove("TargetGroupArn");
            object.insert("ForwardConfig".into(), Value::Object(forward));
        }
    }
}

/// Rolls back the native deployment of the PRIMARY of `service_arn`: production and test
/// traffic back to blue, then blue reactivated (`records::start_rollback`), green scaled in
/// by the scheduler. Does nothing for a service whose PRIMARY is not a native deployment
/// walking its stages.
pub fn roll_back(partition: &mut Partition, service_arn: &str, reason: &str, now: f64) {
    let Some(service) = partition.services.get(service_arn) else { return };
    let Some(primary) = service.deployments.first() else { return };
    let sd_arn = primary.service_deployment_arn.clone();
    let Some(target) = service.last_completed.clone() else { return };
    if !service.service_deployments.iter().any(|sd| sd.arn == sd_arn && sd.native.as_ref().is_some_and(|n| !n.rolled_back)) {
        return;
    }
    return_traffic(partition, service_arn, &sd_arn, now);
    if let Some(service) = partition.services.get_mut(service_arn) {
        start_rollback(service, &sd_arn, &target, now, reason);
    }
}

/// Returns all production and test traffic of service deployment `sd_arn` to blue and marks
/// it rolled back (once). Called by [`roll_back`], and after a tick in which the circuit
/// breaker or an alarm rolled a native deployment back through the rolling scheduler.
pub fn return_traffic(partition: &mut Partition, service_arn: &str, sd_arn: &str, now: f64) {
    let rolled_back = partition
        .services
        .get(service_arn)
        .and_then(|s| s.service_deployments.iter().find(|sd| sd.arn == sd_arn))
        .and_then(|sd| sd.native.as_ref())
        .is_none_or(|n| n.rolled_back);
    if rolled_back {
        return;
    }
    set_weights(partition, service_arn, sd_arn, Some(0.0), Some(0.0), now);
    let Some(service) = partition.services.get_mut(service_arn) else { return };
    let mut swapped = false;
    if let Some(native) = service.service_deployments.iter_mut().find(|sd| sd.arn == sd_arn).and_then(|sd| sd.native.as_mut()) {
        native.rolled_back = true;
        swapped = native.stage == "CLEAN_UP";
    }
    // Rolled back after the roles of the groups were swapped: blue serves production again.
    if swapped {
        swap_roles(service);
    }
}

/// After the scheduler's tick: a native deployment the scheduler rolled back (the circuit
/// breaker) gets its traffic back to blue before any green task is stopped.
pub fn after_tick(partition: &mut Partition, service_arn: &str, now: f64) {
    let Some(service) = partition.services.get(service_arn) else { return };
    let pending: Vec<String> = service
        .service_deployments
        .iter()
        .filter(|sd| sd.status.starts_with("ROLLBACK_") || sd.status == "STOPPED")
        .filter(|sd| sd.native.as_ref().is_some_and(|n| !n.rolled_back))
        .map(|sd| sd.arn.clone())
        .collect();
    for sd_arn in pending {
        return_traffic(partition, service_arn, &sd_arn, now);
    }
}

/// Checks a deployment configuration's native members as ECS does before it stores them
/// (InvalidParameterException; AWS_LAMBDA hooks: UnsupportedFeatureException, see the module
/// docs): LINEAR's `stepPercent` 3.0–100.0 and `stepBakeTimeInMinutes` 0–1440, CANARY's
/// `canaryPercent` 0.1–100.0 and `canaryBakeTimeInMinutes` 0–1440, `bakeTimeInMinutes`
/// 0–1440, hook stages and timeouts.
pub fn check_configuration(configuration: &Value) -> Result<(), ApiError> {
    let number = |pointer: &str| configuration.pointer(pointer).and_then(Value::as_f64);
    let within = |pointer: &str, name: &str, low: f64, high: f64| match number(pointer) {
        Some(v) if !(low..=high).contains(&v) => {
            Err(ApiError::invalid_parameter(format!("{name} must be between {low} and {high}, but was {v}.")))
        }
        _ => Ok(()),
    };
    within("/linearConfiguration/stepPercent", "linearConfiguration.stepPercent", 3.0, 100.0)?;
    within("/linearConfiguration/stepBakeTimeInMinutes", "linearConfiguration.stepBakeTimeInMinutes", 0.0, 1440.0)?;
    within("/canaryConfiguration/canaryPercent", "canaryConfiguration.canaryPercent", 0.1, 100.0)?;
    within("/canaryConfiguration/canaryBakeTimeInMinutes", "canaryConfiguration.canaryBakeTimeInMinutes", 0.0, 1440.0)?;
    within("/bakeTimeInMinutes", "bakeTimeInMinutes", 0.0, 1440.0)?;
    let strategy = configuration.get("strategy").and_then(Value::as_str).unwrap_or("ROLLING");
    if configuration.get("linearConfiguration").is_some() && strategy != "LINEAR" {
        return Err(ApiError::invalid_parameter("linearConfiguration is only valid when the deployment strategy is LINEAR."));
    }
    if configuration.get("canaryConfiguration").is_some() && strategy != "CANARY" {
        return Err(ApiError::invalid_parameter("canaryConfiguration is only valid when the deployment strategy is CANARY."));
    }
    for hook in configuration.get("lifecycleHooks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let target_type = hook.get("targetType").and_then(Value::as_str).unwrap_or("AWS_LAMBDA");
        if target_type == "AWS_LAMBDA" {
            return Err(ApiError::client(
                "UnsupportedFeatureException",
                "ferry local does not run Lambda functions: use lifecycle hooks with targetType PAUSE (ContinueServiceDeployment answers them).",
            ));
        }
        let stages = hook.get("lifecycleStages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if stages.is_empty() {
            return Err(ApiError::invalid_parameter("A lifecycle hook must name at least one lifecycle stage in lifecycleStages."));
        }
        if let Some(minutes) = hook.pointer("/timeoutConfiguration/timeoutInMinutes").and_then(Value::as_i64)
            && !(1..=20160).contains(&minutes)
        {
            return Err(ApiError::invalid_parameter(format!(
                "lifecycleHooks timeoutConfiguration.timeoutInMinutes must be between 1 and 20160, but was {minutes}."
            )));
        }
    }
    Ok(())
}

/// Checks the `loadBalancers` of a service whose strategy is BLUE_GREEN, LINEAR or CANARY as
/// ECS does: each entry has an `advancedConfiguration` naming an alternate target group that
/// exists and differs from `targetGroupArn`, a production listener rule (and optionally a
/// test rule) that exists, whose actions are forward actions only and forward to both target
/// groups.
pub fn check_load_balancers(partition: &Partition, load_balancers: Option<&Value>) -> Result<(), ApiError> {
    let entries = load_balancers.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if entries.is_empty() {
        return Err(ApiError::invalid_parameter(
            "A service with the BLUE_GREEN, LINEAR or CANARY deployment strategy needs loadBalancers with an advancedConfiguration.",
        ));
    }
    for entry in entries {
        let Some(advanced) = entry.get("advancedConfiguration") else {
            return Err(ApiError::invalid_parameter(
                "advancedConfiguration (alternateTargetGroupArn, productionListenerRule, roleArn) is required for each load balancer of a service with the BLUE_GREEN, LINEAR or CANARY deployment strategy.",
            ));
        };
        let text = |key: &str| advanced.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
        let primary = entry.get("targetGroupArn").and_then(Value::as_str).unwrap_or_default();
        let alternate = text("alternateTargetGroupArn")
            .ok_or_else(|| ApiError::invalid_parameter("advancedConfiguration.alternateTargetGroupArn is required."))?;
        let production = text("productionListenerRule")
            .ok_or_else(|| ApiError::invalid_parameter("advancedConfiguration.productionListenerRule is required."))?;
        if text("roleArn").is_none() {
            return Err(ApiError::invalid_parameter("advancedConfiguration.roleArn is required."));
        }
        if alternate == primary {
            return Err(ApiError::invalid_parameter("The alternate target group must differ from the service's target group."));
        }
        if !partition.target_groups.contains_key(alternate) {
            return Err(ApiError::invalid_parameter(format!("The target group with targetGroupArn {alternate} does not exist.")));
        }
        for (name, rule) in [("productionListenerRule", Some(production)), ("testListenerRule", text("testListenerRule"))] {
            let Some(rule_arn) = rule else { continue };
            let found =
                partition.rules.get(rule_arn).or_else(|| partition.rules.values().find(|r| r.is_default && r.listener_arn == rule_arn));
            let Some(found) = found else {
                return Err(ApiError::invalid_parameter(format!("The listener rule {rule_arn} given as {name} does not exist.")));
            };
            let actions = found.actions.as_array().map(Vec::as_slice).unwrap_or(&[]);
            if actions.iter().any(|a| a.get("Type").and_then(Value::as_str) != Some("forward")) {
                return Err(ApiError::invalid_parameter(format!(
                    "The listener rule {rule_arn} given as {name} has actions other than forward; blue/green deployments need forward actions only."
                )));
            }
            let groups = crate::records::targets::forwarded_groups(&found.actions);
            if !groups.contains(&primary) || !groups.contains(&alternate) {
                return Err(ApiError::invalid_parameter(format!(
                    "The listener rule {rule_arn} given as {name} must forward to both target groups ({primary} and {alternate})."
                )));
            }
        }
    }
    Ok(())
}

/// The native members of a service deployment as DescribeServiceDeployments shows them:
/// `lifecycleStage`, `lifecycleHookDetails`, and the requested traffic weights of the target
/// (green) and source (blue) revisions.
pub fn render(out: &mut Map<String, Value>, native: &NativeRollout, hooks: &[HookRun]) {
    out.insert("lifecycleStage".into(), json!(native.stage));
    let details: Vec<Value> = hooks
        .iter()
        .map(|h| {
            let mut d = Map::new();
            d.insert("hookId".into(), json!(h.hook_id));
            d.insert("targetType".into(), json!(h.target_type));
            if let Some(arn) = &h.target_arn {
                d.insert("targetArn".into(), json!(arn));
            }
            d.insert("status".into(), json!(h.status));
            d.insert("expiresAt".into(), json!(h.expires_at));
            d.insert("timeoutAction".into(), json!(h.timeout_action));
            Value::Object(d)
        })
        .collect();
    out.insert("lifecycleHookDetails".into(), json!(details));
    if let Some(target) = out.get_mut("targetServiceRevision").and_then(Value::as_object_mut) {
        target.insert("requestedProductionTrafficWeight".into(), json!(native.production_weight));
        target.insert("requestedTestTrafficWeight".into(), json!(native.test_weight));
    }
    if let Some(Value::Array(sources)) = out.get_mut("sourceServiceRevisions") {
        for source in sources.iter_mut().filter_map(Value::as_object_mut) {
            source.insert("requestedProductionTrafficWeight".into(), json!(100.0 - native.production_weight));
            source.insert("requestedTestTrafficWeight".into(), json!(100.0 - native.test_weight));
        }
    }
}
