//! ELBv2: RegisterTargets, DeregisterTargets, DescribeTargetHealth.
//!
//! Registering and deregistering go through `records::targets`, which the ECS scheduler
//! uses for a service's tasks too; the traffic engine's health checks move targets between
//! `initial`, `healthy` and `unhealthy` and remove drained ones.
//!
//! ferry local has one host. An `instance` target group takes any well-formed instance id
//! (`i-` and 8 or 17 hex digits, e.g. [`crate::state::LOCAL_INSTANCE_ID`]) and reaches
//! every one on 127.0.0.1 at the target's port. An `ip` target group takes IPv4 addresses
//! in the ranges AWS allows for targets (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,
//! 100.64.0.0/10) and, on ferry local, loopback (127.0.0.0/8), where tasks listen; a
//! publicly routable address is refused (`InvalidTarget`).

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::target_groups::existing;
use super::{Ctx, check_range, validation};
use crate::api::{ApiError, ApiResult, Input};
use crate::records::targets::{deregister, group_in_use, register};
use crate::state::{Target, TargetGroup};

/// AWS's quota of targets per target group (draining targets count until they leave).
pub(crate) const MAX_TARGETS: usize = 1000;

pub const NOT_IN_USE: (&str, &str) = ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer");
pub const NOT_REGISTERED: (&str, &str) = ("Target.NotRegistered", "Target is not registered to the target group");
pub const HEALTH_CHECK_DISABLED: (&str, &str) = ("Target.HealthCheckDisabled", "Health checks are disabled for the target group");

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "RegisterTargets" => register_targets(ctx, input),
        "DeregisterTargets" => deregister_targets(ctx, input),
        "DescribeTargetHealth" => describe_health(ctx, input),
        _ => return None,
    })
}

/// A target of a request, checked against its group.
struct Described {
    id: String,
    /// The request's port, or the group's when it gives none.
    port: i64,
    /// Whether the request gave the port.
    port_given: bool,
    availability_zone: Option<String>,
}

/// The request's `Targets`, each checked: an id of the group's target type, a port 1–65535
/// (the group's port when omitted), an Availability Zone only for `ip` targets.
///
/// Errors: `ValidationError` ("Instance ID 'x' is not valid", "The IP address 'x' is not a
/// valid IPv4 address": AWS's wording), `InvalidTarget` for a publicly routable address.
fn described(ctx: &Ctx, group: &TargetGroup, input: &Input) -> Result<Vec<Described>, ApiError> {
    let mut targets = Vec::new();
    for (i, target) in input.array("Targets").iter().enumerate() {
        let id = target.get("Id").and_then(Value::as_str).unwrap_or_default().to_string();
        check_id(group, &id)?;
        let port_given = target.get("Port").and_then(Value::as_i64);
        let port = port_given.or(group.port).unwrap_or(0);
        check_range(&format!("targets.{}.member.port", i + 1), port, 1, 65535)?;
        let availability_zone = match target.get("AvailabilityZone").and_then(Value::as_str) {
            Some(_) if group.target_type == "instance" => {
                return Err(validation("The Availability Zone parameter is not supported for target groups with target type 'instance'"));
            }
            Some(zone) => {
                let in_region = zone
                    .strip_prefix(ctx.caller.region.as_str())
                    .is_some_and(|z| z.len() == 1 && z.chars().all(|c| c.is_ascii_lowercase()));
                if zone != "all" && !in_region {
                    return Err(validation(format!("Availability Zone '{zone}' is not valid in region '{}'", ctx.caller.region)));
                }
                Some(zone.to_string())
            }
            None => None,
        };
        targets.push(Described { id, port, port_given: port_given.is_some(), availability_zone });
    }
    Ok(targets)
}

fn check_id(group: &TargetGroup, id: &str) -> Result<(), ApiError> {
    if group.target_type == "ip" {
        let address: Ipv4Addr = id.parse().map_err(|_| validation(format!("The IP address '{id}' is not a valid IPv4 address")))?;
        let [a, b, ..] = address.octets();
        let allowed = address.is_loopback() || address.is_private() || (a == 100 && (64..128).contains(&b));
        if !allowed {
            return Err(ApiError::client(
                "InvalidTargetException",
                format!(
                    "The IP address '{id}' is publicly routable: ip targets must be in 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 or, on ferry local, 127.0.0.0/8"
                ),
            ));
        }
        return Ok(());
    }
    let hex = id.strip_prefix("i-").unwrap_or_default();
    if !(hex.len() == 8 || hex.len() == 17) || !hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(validation(format!("Instance ID '{id}' is not valid")));
    }
    Ok(())
}

/// RegisterTargets: registers each target as `initial` (`Elb.RegistrationInProgress`); one
/// already registered is left as it is, a draining one is registered afresh. All targets
/// are checked before any is registered.
///
/// Errors: `TargetGroupNotFound`, `ValidationError` and `InvalidTarget` (see
/// [`described`]), `TooManyTargets` above 1000 targets in the group.
fn register_targets(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let group = existing(ctx.partition, input)?;
    let arn = group.arn.clone();
    let targets = described(ctx, group, input)?;
    let mut count = group.targets.len();
    let mut counted: Vec<(&str, i64)> = Vec::new();
    for t in &targets {
        let registered = group.targets.iter().any(|r| r.id == t.id && r.port == t.port);
        if !registered && !counted.contains(&(t.id.as_str(), t.port)) {
            counted.push((&t.id, t.port));
            count += 1;
        }
    }
    if count > MAX_TARGETS {
        return Err(ApiError::client(
            "TooManyTargetsException",
            format!("The quota for the number of targets per target group has been reached ({MAX_TARGETS})"),
        ));
    }
    let default_zone = format!("{}a", ctx.caller.region);
    let now = ctx.now;
    if let Some(group) = ctx.partition.target_groups.get_mut(&arn) {
        for t in &targets {
            let zone = t.availability_zone.as_deref().unwrap_or(&default_zone);
            register(group, &t.id, t.port, Some(zone), None, now);
        }
    }
    Ok(json!({}))
}

/// DeregisterTargets: each target starts draining (`Target.DeregistrationInProgress`): it
/// gets no new request, and leaves the group once the group's deregistration delay is over
/// (shown `draining` until then, even once nothing is in flight to it, as on AWS); in a
/// group no listener uses it leaves at once. A target that is not registered is
/// ignored: AWS answers success for it.
///
/// Errors: `TargetGroupNotFound`, `ValidationError` and `InvalidTarget` for malformed ids.
fn deregister_targets(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let group = existing(ctx.partition, input)?;
    let arn = group.arn.clone();
    let targets = described(ctx, group, input)?;
    let in_use = group_in_use(ctx.partition, &arn);
    let now = ctx.now;
    if let Some(group) = ctx.partition.target_groups.get_mut(&arn) {
        for t in &targets {
            deregister(group, &t.id, t.port, in_use, now);
        }
    }
    Ok(json!({}))
}

/// DescribeTargetHealth: the health of every registered target, or of the targets listed
/// (a listed target without a port stands for all its registrations).
///
/// States: a draining target is `draining`; in a group no listener rule forwards to, the
/// others are `unused` (`Target.NotInUse`); with health checks disabled `unavailable`
/// (`Target.HealthCheckDisabled`); otherwise what registration and the health checks made
/// of them (`initial`, `healthy`, `unhealthy`, with their reason codes). A listed target
/// that is not registered is `unused` (`Target.NotRegistered`). `HealthCheckPort` is the
/// port health checks use; `AdministrativeOverride` is always `no_override` (ferry local
/// has no zonal shift); `AnomalyDetection` is answered when `Include` asks for it and the
/// group uses the `weighted_random` algorithm.
///
/// Errors: `TargetGroupNotFound`, `ValidationError` and `InvalidTarget` for malformed ids.
fn describe_health(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let group = existing(ctx.partition, input)?;
    let listed = described(ctx, group, input)?;
    let in_use = group_in_use(ctx.partition, &group.arn);
    let include = input.strings("Include");
    let anomaly = include.iter().any(|i| i == "AnomalyDetection" || i == "All")
        && group.attributes.get("load_balancing.algorithm.type").is_some_and(|a| a == "weighted_random");
    let mut descriptions = Vec::new();
    if input.value("Targets").is_none() {
        for target in &group.targets {
            descriptions.push(describe_target(group, target, in_use, anomaly));
        }
    } else {
        for t in &listed {
            let matching: Vec<&Target> = group.targets.iter().filter(|r| r.id == t.id && (!t.port_given || r.port == t.port)).collect();
            if matching.is_empty() {
                descriptions.push(not_registered(group, t));
            }
            for target in matching {
                descriptions.push(describe_target(group, target, in_use, anomaly));
            }
        }
    }
    Ok(json!({ "TargetHealthDescriptions": descriptions }))
}

fn describe_target(group: &TargetGroup, target: &Target, in_use: bool, anomaly: bool) -> Value {
    let (state, reason, description) = if target.state == "draining" {
        (target.state.as_str(), target.reason.as_deref(), target.description.as_deref())
    } else if !in_use {
        ("unused", Some(NOT_IN_USE.0), Some(NOT_IN_USE.1))
    } else if !group.health_check.enabled {
        ("unavailable", Some(HEALTH_CHECK_DISABLED.0), Some(HEALTH_CHECK_DISABLED.1))
    } else if target.state == "healthy" {
        ("healthy", None, None)
    } else {
        (target.state.as_str(), target.reason.as_deref(), target.description.as_deref())
    };
    let mut health = serde_json::Map::new();
    health.insert("State".into(), json!(state));
    crate::api::put(&mut health, "Reason", reason);
    crate::api::put(&mut health, "Description", description);
    let mut out = json!({
        "Target": render_target(&target.id, target.port, target.availability_zone.as_deref()),
        "HealthCheckPort": health_check_port(group, target.port),
        "TargetHealth": health,
        "AdministrativeOverride": {
            "State": "no_override",
            "Reason": "AdministrativeOverride.NoOverride",
            "Description": "No override is currently active on target"
        }
    });
    if anomaly {
        out["AnomalyDetection"] = json!({"Result": "normal", "MitigationInEffect": "no"});
    }
    out
}

fn not_registered(group: &TargetGroup, t: &Described) -> Value {
    json!({
        "Target": render_target(&t.id, t.port, t.availability_zone.as_deref()),
        "HealthCheckPort": health_check_port(group, t.port),
        "TargetHealth": {"State": "unused", "Reason": NOT_REGISTERED.0, "Description": NOT_REGISTERED.1}
    })
}

fn render_target(id: &str, port: i64, availability_zone: Option<&str>) -> Value {
    let mut target = serde_json::Map::new();
    target.insert("Id".into(), json!(id));
    target.insert("Port".into(), json!(port));
    crate::api::put(&mut target, "AvailabilityZone", availability_zone);
    Value::Object(target)
}

/// The port health checks of a target registered on `port` use.
fn health_check_port(group: &TargetGroup, port: i64) -> String {
    if group.health_check.port == "traffic-port" { port.to_string() } else { group.health_check.port.clone() }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{call, world};
    use super::*;
    use crate::state::Partition;

    fn group(p: &mut Partition, target_type: &str) -> String {
        let input =
            json!({"Name": format!("g-{target_type}"), "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1", "TargetType": target_type});
        call(p, "CreateTargetGroup", input, 100.0).unwrap()["TargetGroups"][0]["TargetGroupArn"].as_str().unwrap().to_string()
    }

    fn health(p: &mut Partition, input: Value) -> Vec<Value> {
        call(p, "DescribeTargetHealth", input, 100.0).unwrap()["TargetHealthDescriptions"].as_array().unwrap().clone()
    }

    /// Makes a listener rule forward to `arn`, so its targets are in use.
    fn use_group(p: &mut Partition, arn: &str) {
        super::super::test_support::forward_from_a_listener(p, "lb", arn);
    }

    #[test]
    fn targets_of_a_group_no_listener_uses_are_unused_and_leave_at_once() {
        let mut p = world();
        let arn = group(&mut p, "ip");
        let targets = json!([{"Id": "127.0.0.1", "Port": 9001}, {"Id": "127.0.0.1"}]);
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 100.0).unwrap();
        let described = health(&mut p, json!({"TargetGroupArn": arn}));
        assert_eq!(described.len(), 2);
        assert_eq!(
            described[0],
            json!({
                "Target": {"Id": "127.0.0.1", "Port": 9001, "AvailabilityZone": "us-east-1a"},
                "HealthCheckPort": "9001",
                "TargetHealth": {"State": "unused", "Reason": "Target.NotInUse",
                                 "Description": "Target group is not configured to receive traffic from the load balancer"},
                "AdministrativeOverride": {"State": "no_override", "Reason": "AdministrativeOverride.NoOverride",
                                           "Description": "No override is currently active on target"}
            })
        );
        assert_eq!(described[1]["Target"]["Port"], 8080, "the group's port by default");
        call(&mut p, "DeregisterTargets", json!({"TargetGroupArn": arn, "Targets": [{"Id": "127.0.0.1", "Port": 9001}]}), 100.0).unwrap();
        assert_eq!(health(&mut p, json!({"TargetGroupArn": arn})).len(), 1);
    }

    #[test]
    fn a_new_target_of_a_group_in_use_is_initial_and_a_deregistered_one_drains() {
        let mut p = world();
        let arn = group(&mut p, "instance");
        use_group(&mut p, &arn);
        let targets = json!([{"Id": crate::state::LOCAL_INSTANCE_ID, "Port": 9001}]);
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 100.0).unwrap();
        let described = health(&mut p, json!({"TargetGroupArn": arn}));
        assert_eq!(
            described[0]["TargetHealth"],
            json!({"State": "initial", "Reason": "Elb.RegistrationInProgress", "Description": "Target registration is in progress"})
        );
        // Registering again changes nothing.
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 150.0).unwrap();
        assert_eq!(p.target_groups[&arn].targets.len(), 1);
        assert_eq!(p.target_groups[&arn].targets[0].registered_at, 100.0);
        p.target_groups.get_mut(&arn).unwrap().targets[0].state = "healthy".into();
        assert_eq!(health(&mut p, json!({"TargetGroupArn": arn}))[0]["TargetHealth"], json!({"State": "healthy"}));
        call(&mut p, "DeregisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 200.0).unwrap();
        let described = health(&mut p, json!({"TargetGroupArn": arn}));
        assert_eq!(
            described[0]["TargetHealth"],
            json!({"State": "draining", "Reason": "Target.DeregistrationInProgress", "Description": "Target deregistration is in progress"})
        );
        assert_eq!(p.target_groups[&arn].targets[0].draining_since, Some(200.0));
    }

    #[test]
    fn a_group_back_in_use_checks_its_targets_afresh_and_fails_open_to_them_meanwhile() {
        let mut p = world();
        let arn = group(&mut p, "ip");
        let lb = super::super::test_support::forward_from_a_listener(&mut p, "lb", &arn);
        let listener = p.listeners.values().find(|l| l.load_balancer_arn == lb).unwrap().arn.clone();
        let targets = json!([{"Id": "127.0.0.1", "Port": 9001}, {"Id": "127.0.0.1", "Port": 9002}, {"Id": "127.0.0.1", "Port": 9003}]);
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 100.0).unwrap();
        // Checked while in use: 9001 healthy, 9002 unhealthy, 9003 deregistered and draining.
        for (t, state) in p.target_groups.get_mut(&arn).unwrap().targets.iter_mut().zip(["healthy", "unhealthy", "initial"]) {
            (t.state, t.reason, t.description) = (state.into(), None, None);
            (t.passes, t.failures, t.last_checked_at) = (3, 1, Some(150.0));
        }
        call(&mut p, "DeregisterTargets", json!({"TargetGroupArn": arn, "Targets": [{"Id": "127.0.0.1", "Port": 9003}]}), 160.0).unwrap();
        let states = |p: &mut Partition| -> Vec<Value> {
            health(p, json!({"TargetGroupArn": arn})).iter().map(|d| d["TargetHealth"]["State"].clone()).collect()
        };
        let fixed = json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}]);
        let forward = json!([{"Type": "forward", "TargetGroupArn": arn}]);

        // No rule forwards to the group: unused, not checked, the stored states kept.
        call(&mut p, "ModifyListener", json!({"ListenerArn": listener, "DefaultActions": fixed}), 200.0).unwrap();
        assert_eq!(states(&mut p), [json!("unused"), json!("unused"), json!("draining")]);
        assert_eq!(p.target_groups[&arn].targets[0].state, "healthy");

        // Forwarded to again: initial, to be checked afresh, counters cleared; the draining
        // one keeps draining.
        call(&mut p, "ModifyListener", json!({"ListenerArn": listener, "DefaultActions": forward}), 300.0).unwrap();
        let described = health(&mut p, json!({"TargetGroupArn": arn}));
        let initial =
            json!({"State": "initial", "Reason": "Elb.RegistrationInProgress", "Description": "Target registration is in progress"});
        assert_eq!((&described[0]["TargetHealth"], &described[1]["TargetHealth"]), (&initial, &initial));
        assert_eq!(described[2]["TargetHealth"]["State"], "draining");
        let stored = &p.target_groups[&arn].targets;
        assert!(stored[..2].iter().all(|t| (t.passes, t.failures, t.last_checked_at) == (0, 0, None)), "{stored:?}");
        assert_eq!(stored[2].draining_since, Some(160.0));

        // Meanwhile the listener fails open to every target not draining, as ALB does.
        let mut table = crate::traffic::table::Table::default();
        crate::traffic::table::add_partition(&mut table, &p, &mut Default::default(), &mut Default::default());
        let routes = &table.listeners[&listener];
        let crate::traffic::table::RouteAction::Forward(forward) = &routes.rules[0].action else { panic!("a forward") };
        let mut routed: Vec<&str> = forward.groups[0].group.targets.iter().map(|t| &*t.authority).collect();
        routed.sort_unstable();
        assert_eq!(routed, ["127.0.0.1:9001", "127.0.0.1:9002"]);

        // A group that stays in use keeps its targets' health across a rule change.
        p.target_groups.get_mut(&arn).unwrap().targets[0].state = "healthy".into();
        call(&mut p, "ModifyListener", json!({"ListenerArn": listener, "DefaultActions": forward_again(&arn)}), 400.0).unwrap();
        assert_eq!(p.target_groups[&arn].targets[0].state, "healthy");
    }

    fn forward_again(arn: &str) -> Value {
        json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": arn, "Weight": 1}]}}])
    }

    #[test]
    fn a_listed_target_that_is_not_registered_is_unused_not_registered() {
        let mut p = world();
        let arn = group(&mut p, "ip");
        use_group(&mut p, &arn);
        call(
            &mut p,
            "RegisterTargets",
            json!({"TargetGroupArn": arn, "Targets": [{"Id": "10.0.0.1", "Port": 80}, {"Id": "10.0.0.1", "Port": 81}]}),
            100.0,
        )
        .unwrap();
        let described = health(&mut p, json!({"TargetGroupArn": arn, "Targets": [{"Id": "10.0.0.2", "Port": 80}, {"Id": "10.0.0.1"}]}));
        assert_eq!(described.len(), 3, "the one not registered, then both registrations of 10.0.0.1");
        assert_eq!(
            described[0]["TargetHealth"],
            json!({"State": "unused", "Reason": "Target.NotRegistered", "Description": "Target is not registered to the target group"})
        );
        assert_eq!((&described[1]["Target"]["Port"], &described[2]["Target"]["Port"]), (&json!(80), &json!(81)));
        // Deregistering a target that is not registered succeeds and changes nothing.
        call(&mut p, "DeregisterTargets", json!({"TargetGroupArn": arn, "Targets": [{"Id": "10.0.0.9", "Port": 80}]}), 100.0).unwrap();
        assert!(p.target_groups[&arn].targets.iter().all(|t| t.state == "initial"));
    }

    #[test]
    fn disabled_health_checks_and_anomaly_detection_are_answered_as_aws_does() {
        let mut p = world();
        let arn = group(&mut p, "ip");
        use_group(&mut p, &arn);
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": [{"Id": "10.0.0.1"}]}), 100.0).unwrap();
        let attrs = json!([{"Key": "load_balancing.algorithm.type", "Value": "weighted_random"}]);
        call(&mut p, "ModifyTargetGroupAttributes", json!({"TargetGroupArn": arn, "Attributes": attrs}), 100.0).unwrap();
        let described = health(&mut p, json!({"TargetGroupArn": arn, "Include": ["AnomalyDetection"]}));
        assert_eq!(described[0]["AnomalyDetection"], json!({"Result": "normal", "MitigationInEffect": "no"}));
        assert!(health(&mut p, json!({"TargetGroupArn": arn}))[0].get("AnomalyDetection").is_none());
        p.target_groups.get_mut(&arn).unwrap().health_check.enabled = false;
        assert_eq!(health(&mut p, json!({"TargetGroupArn": arn}))[0]["TargetHealth"]["State"], "unavailable");
    }

    #[test]
    fn ids_ports_and_zones_are_checked_and_a_refused_registration_registers_nothing() {
        let mut p = world();
        let ip = group(&mut p, "ip");
        let instance = group(&mut p, "instance");
        let cases = [
            (
                &ip,
                json!([{"Id": "127.0.0.1", "Port": 80}, {"Id": "i-0123456789abcdef0"}]),
                "ValidationError",
                "The IP address 'i-0123456789abcdef0' is not a valid IPv4 address",
            ),
            (&ip, json!([{"Id": "8.8.8.8"}]), "InvalidTargetException", "publicly routable"),
            (&ip, json!([{"Id": "10.0.0.1", "Port": 0}]), "ValidationError", "greater than or equal to 1"),
            (&ip, json!([{"Id": "10.0.0.1", "Port": 65536}]), "ValidationError", "less than or equal to 65535"),
            (&ip, json!([{"Id": "10.0.0.1", "AvailabilityZone": "eu-west-1a"}]), "ValidationError", "not valid"),
            (&instance, json!([{"Id": "10.0.0.1"}]), "ValidationError", "Instance ID '10.0.0.1' is not valid"),
            (&instance, json!([{"Id": "i-xyz"}]), "ValidationError", "Instance ID 'i-xyz' is not valid"),
            (&instance, json!([{"Id": "i-0123abcd", "AvailabilityZone": "us-east-1a"}]), "ValidationError", "not supported"),
        ];
        for (arn, targets, code, message) in cases {
            let e = call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": targets}), 100.0).unwrap_err();
            assert_eq!(e.code, code, "{targets}");
            assert!(e.message.contains(message), "{targets}: {}", e.message);
        }
        assert!(p.target_groups.values().all(|g| g.targets.is_empty()));
        call(
            &mut p,
            "RegisterTargets",
            json!({"TargetGroupArn": ip, "Targets": [{"Id": "100.64.0.1"}, {"Id": "192.168.1.1", "AvailabilityZone": "all"}]}),
            100.0,
        )
        .unwrap();
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": instance, "Targets": [{"Id": "i-0123abcd"}]}), 100.0).unwrap();
        let missing = ip.replace("/g-ip/", "/gone/");
        for operation in ["RegisterTargets", "DeregisterTargets"] {
            let e = call(&mut p, operation, json!({"TargetGroupArn": missing, "Targets": [{"Id": "10.0.0.1"}]}), 100.0).unwrap_err();
            assert_eq!(e.code, "TargetGroupNotFoundException");
        }
        assert_eq!(
            call(&mut p, "DescribeTargetHealth", json!({"TargetGroupArn": missing}), 100.0).unwrap_err().code,
            "TargetGroupNotFoundException"
        );
    }

    #[test]
    fn more_than_a_thousand_targets_are_refused_whole() {
        let mut p = world();
        let arn = group(&mut p, "ip");
        let batch = |from: u32, n: u32| Value::Array((from..from + n).map(|port| json!({"Id": "127.0.0.1", "Port": port})).collect());
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": batch(1, 999)}), 100.0).unwrap();
        let e = call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": batch(1000, 2)}), 100.0).unwrap_err();
        assert_eq!(e.code, "TooManyTargetsException");
        assert_eq!(p.target_groups[&arn].targets.len(), 999);
        // Targets already registered do not count twice.
        call(&mut p, "RegisterTargets", json!({"TargetGroupArn": arn, "Targets": batch(990, 11)}), 100.0).unwrap();
        assert_eq!(p.target_groups[&arn].targets.len(), 1000);
    }
}
