//! ELBv2: CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DeleteTargetGroup,
//! DescribeTargetGroupAttributes, ModifyTargetGroupAttributes.
//!
//! ferry local's application load balancers serve HTTP/1.1: a target group is `HTTP` (with
//! `HTTP` health checks and protocol version `HTTP1`) and its targets are `instance` or
//! `ip` targets. Other protocols, protocol versions and target types are refused with a
//! `ValidationError` that says so, rather than accepted and served as something else.
//! Health checks are always on for `instance` and `ip` target groups, as on AWS.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::tags::{put_tags, tags_from};
use super::{Ctx, ResourceKind, check_name, check_range, key_values, load_balancer_not_found, page, target_group_not_found, validation};
use crate::api::{ApiError, ApiResult, Input, hex_id, put};
use crate::records::targets::{group_in_use, rules_using};
use crate::state::{HealthCheck, Partition, TargetGroup};

/// AWS's default quota of target groups per region.
const MAX_TARGET_GROUPS: usize = 3000;

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "CreateTargetGroup" => create(ctx, input),
        "DescribeTargetGroups" => describe(ctx, input),
        "ModifyTargetGroup" => modify(ctx, input),
        "DeleteTargetGroup" => delete(ctx, input),
        "DescribeTargetGroupAttributes" => describe_attributes(ctx, input),
        "ModifyTargetGroupAttributes" => modify_attributes(ctx, input),
        _ => return None,
    })
}

/// The target group `TargetGroupArn` names. Errors: `ValidationError` for a malformed ARN,
/// `TargetGroupNotFound`.
pub(crate) fn existing<'a>(partition: &'a Partition, input: &Input) -> Result<&'a TargetGroup, ApiError> {
    let arn = input.str("TargetGroupArn").unwrap_or_default();
    ResourceKind::TargetGroup.check(arn)?;
    partition.target_groups.get(arn).ok_or_else(target_group_not_found)
}

/// The load balancers whose listener rules forward to `group_arn`, each once, sorted.
pub(crate) fn load_balancers_of(partition: &Partition, group_arn: &str) -> Vec<String> {
    let mut arns: Vec<String> = rules_using(partition, group_arn)
        .filter_map(|rule| partition.listeners.get(&rule.listener_arn))
        .map(|listener| listener.load_balancer_arn.clone())
        .collect();
    arns.sort();
    arns.dedup();
    arns
}

/// The `TargetGroup` structure the API answers.
pub(crate) fn render(partition: &Partition, group: &TargetGroup) -> Value {
    let hc = &group.health_check;
    let mut out = Map::new();
    out.insert("TargetGroupArn".into(), json!(group.arn));
    out.insert("TargetGroupName".into(), json!(group.name));
    put(&mut out, "Protocol", group.protocol.clone());
    put(&mut out, "Port", group.port);
    put(&mut out, "VpcId", group.vpc_id.clone());
    out.insert("HealthCheckProtocol".into(), json!(hc.protocol));
    out.insert("HealthCheckPort".into(), json!(hc.port));
    out.insert("HealthCheckEnabled".into(), json!(hc.enabled));
    out.insert("HealthCheckIntervalSeconds".into(), json!(hc.interval_seconds));
    out.insert("HealthCheckTimeoutSeconds".into(), json!(hc.timeout_seconds));
    out.insert("HealthyThresholdCount".into(), json!(hc.healthy_threshold));
    out.insert("UnhealthyThresholdCount".into(), json!(hc.unhealthy_threshold));
    out.insert("HealthCheckPath".into(), json!(hc.path));
    out.insert("Matcher".into(), json!({"HttpCode": hc.matcher}));
    out.insert("LoadBalancerArns".into(), json!(load_balancers_of(partition, &group.arn)));
    out.insert("TargetType".into(), json!(group.target_type));
    put(&mut out, "ProtocolVersion", group.protocol_version.clone());
    put(&mut out, "IpAddressType", group.ip_address_type.clone());
    Value::Object(out)
}

/// CreateTargetGroup. A target group with the name and settings of an existing one
/// returns that one, as AWS does; the same name with other settings is
/// `DuplicateTargetGroupName`.
///
/// Health check settings default to AWS's for HTTP: path `/`, port `traffic-port`,
/// interval 30 s, timeout 5 s, healthy threshold 5, unhealthy threshold 2, matcher `200`.
///
/// Errors: `ValidationError` (name rules; a protocol, protocol version, target type or IP
/// address type ferry local does not serve; a missing `Protocol`, `Port` or `VpcId`; health
/// check settings out of AWS's ranges), `DuplicateTargetGroupName`, `TooManyTargetGroups`
/// (3000), and the tag errors (`TooManyTags`, `DuplicateTagKeys`).
fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default();
    check_name("Target group name", name)?;
    let target_type = input.str("TargetType").unwrap_or("instance");
    if target_type != "instance" && target_type != "ip" {
        return Err(validation(format!(
            "ferry local serves target groups of type 'instance' and 'ip' only: target type '{target_type}' is not supported"
        )));
    }
    let protocol = input.str("Protocol").ok_or_else(|| validation("A protocol must be specified"))?;
    check_protocol("target group protocol", protocol)?;
    let port = input.i64("Port").ok_or_else(|| validation("A port must be specified"))?;
    check_range("Port", port, 1, 65535)?;
    let vpc_id = input.str("VpcId").filter(|v| !v.is_empty()).ok_or_else(|| validation("A VPC ID must be specified"))?;
    let protocol_version = input.str("ProtocolVersion").unwrap_or("HTTP1");
    if protocol_version != "HTTP1" {
        return Err(validation(format!(
            "ferry local's load balancers speak HTTP/1.1 to targets: protocol version '{protocol_version}' is not supported"
        )));
    }
    let ip_address_type = input.str("IpAddressType").unwrap_or("ipv4");
    if ip_address_type != "ipv4" {
        return Err(validation(format!("ferry local reaches targets over IPv4: IP address type '{ip_address_type}' is not supported")));
    }
    if input.value("TargetControlPort").is_some() {
        return Err(validation("A target control port can be specified only for target groups of a Network Load Balancer"));
    }
    let health_check = health_check_from(input, HealthCheck::default(), target_type)?;
    let tags = tags_from(input)?;

    if let Some(existing) = ctx.partition.target_groups.values().find(|g| g.name == name) {
        let same = existing.protocol.as_deref() == Some(protocol)
            && existing.port == Some(port)
            && existing.vpc_id.as_deref() == Some(vpc_id)
            && existing.target_type == target_type
            && existing.protocol_version.as_deref() == Some(protocol_version)
            && existing.ip_address_type.as_deref() == Some(ip_address_type)
            && existing.health_check == health_check;
        if same {
            return Ok(json!({ "TargetGroups": [render(ctx.partition, existing)] }));
        }
        return Err(ApiError::client(
            "DuplicateTargetGroupNameException",
            format!("A target group with the same name '{name}' exists, but with different settings"),
        ));
    }
    if ctx.partition.target_groups.len() >= MAX_TARGET_GROUPS {
        return Err(ApiError::client(
            "TooManyTargetGroupsException",
            format!("The quota for the number of target groups has been reached ({MAX_TARGET_GROUPS})"),
        ));
    }
    let group = TargetGroup {
        arn: ctx.caller.arn("elasticloadbalancing", &format!("targetgroup/{name}/{}", hex_id(16))),
        name: name.to_string(),
        protocol: Some(protocol.to_string()),
        protocol_version: Some(protocol_version.to_string()),
        port: Some(port),
        vpc_id: Some(vpc_id.to_string()),
        target_type: target_type.to_string(),
        ip_address_type: Some(ip_address_type.to_string()),
        health_check,
        attributes: default_attributes(),
        targets: Vec::new(),
        created_at: ctx.now,
    };
    let out = json!({ "TargetGroups": [render(ctx.partition, &group)] });
    put_tags(ctx.partition, &group.arn, tags);
    ctx.partition.target_groups.insert(group.arn.clone(), group);
    Ok(out)
}

/// DescribeTargetGroups: those named by `TargetGroupArns` or `Names` (in request order),
/// those `LoadBalancerArn`'s listener rules forward to, or all of them (oldest first), a
/// page at a time (`Marker`, `PageSize` 1–400). Each lists in `LoadBalancerArns` the load
/// balancers whose rules forward to it.
///
/// Errors: `TargetGroupNotFound` when any named one does not exist, `LoadBalancerNotFound`
/// for an unknown load balancer; `ValidationError` for more than one filter, a malformed
/// ARN, or a bad page.
fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = input.strings("TargetGroupArns");
    let names = input.strings("Names");
    let lb_arn = input.str("LoadBalancerArn");
    let filters = usize::from(!arns.is_empty()) + usize::from(!names.is_empty()) + usize::from(lb_arn.is_some());
    if filters > 1 {
        return Err(validation("Only one of LoadBalancerArn, TargetGroupArns or Names can be specified"));
    }
    let partition = &*ctx.partition;
    let mut found: Vec<&TargetGroup> = Vec::new();
    if !arns.is_empty() {
        for arn in &arns {
            ResourceKind::TargetGroup.check(arn)?;
            found.push(partition.target_groups.get(arn).ok_or_else(target_group_not_found)?);
        }
    } else if !names.is_empty() {
        for name in &names {
            found.push(partition.target_groups.values().find(|g| &g.name == name).ok_or_else(target_group_not_found)?);
        }
    } else {
        found = partition.target_groups.values().collect();
        found.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.arn.cmp(&b.arn)));
        if let Some(lb_arn) = lb_arn {
            ResourceKind::LoadBalancer.check(lb_arn)?;
            if !partition.load_balancers.contains_key(lb_arn) {
                return Err(load_balancer_not_found());
            }
            found.retain(|g| load_balancers_of(partition, &g.arn).iter().any(|a| a == lb_arn));
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|g| seen.insert(g.arn.clone()));
    let (items, next) = page(&found, input)?;
    let mut out = Map::new();
    out.insert("TargetGroups".into(), Value::Array(items.iter().map(|g| render(partition, g)).collect()));
    put(&mut out, "NextMarker", next);
    Ok(Value::Object(out))
}

/// ModifyTargetGroup: changes the health check settings given, checked together with
/// those kept (the timeout must stay below the interval).
fn modify(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let group = existing(ctx.partition, input)?;
    let arn = group.arn.clone();
    let health_check = health_check_from(input, group.health_check.clone(), &group.target_type)?;
    if let Some(group) = ctx.partition.target_groups.get_mut(&arn) {
        group.health_check = health_check;
    }
    let group = ctx.partition.target_groups.get(&arn).ok_or_else(target_group_not_found)?;
    Ok(json!({ "TargetGroups": [render(ctx.partition, group)] }))
}

/// DeleteTargetGroup: removes the group, its targets and its tags. Deleting one that does
/// not exist succeeds (the operation declares no not-found error).
///
/// Errors: `ResourceInUse` while a listener rule forwards to it (AWS's wording) or while an
/// ACTIVE or DRAINING ECS service is registered with it (`loadBalancers`); `ValidationError`
/// for a malformed ARN.
fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("TargetGroupArn").unwrap_or_default().to_string();
    ResourceKind::TargetGroup.check(&arn)?;
    if !ctx.partition.target_groups.contains_key(&arn) {
        return Ok(json!({}));
    }
    if group_in_use(ctx.partition, &arn) {
        return Err(ApiError::client(
            "ResourceInUseException",
            format!("Target group '{arn}' is currently in use by a listener or a rule"),
        ));
    }
    if let Some(service) = ctx.partition.services.values().find(|s| {
        (s.status == "ACTIVE" || s.status == "DRAINING")
            && s.passthrough
                .get("loadBalancers")
                .and_then(Value::as_array)
                .is_some_and(|lbs| lbs.iter().any(|lb| lb.get("targetGroupArn").and_then(Value::as_str) == Some(arn.as_str())))
    }) {
        return Err(ApiError::client(
            "ResourceInUseException",
            format!("Target group '{arn}' is currently in use by ECS service '{}'", service.arn),
        ));
    }
    ctx.partition.target_groups.remove(&arn);
    ctx.partition.elb_tags.remove(&arn);
    Ok(json!({}))
}

fn describe_attributes(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let group = existing(ctx.partition, input)?;
    Ok(json!({ "Attributes": render_attributes(&group.attributes) }))
}

/// ModifyTargetGroupAttributes: sets the given attributes and answers all of them. Every
/// key and value is checked, and the result as a whole, before any is set.
///
/// Errors: `TargetGroupNotFound`; `ValidationError` for a key an HTTP target group does not
/// have or a value out of its range (`deregistration_delay.timeout_seconds` 0–3600,
/// `slow_start.duration_seconds` 0 or 30–900, …); `InvalidConfigurationRequest` for
/// settings that do not go together (app-cookie stickiness without a cookie name, anomaly
/// mitigation without `weighted_random`, slow start with `weighted_random`).
fn modify_attributes(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let group = existing(ctx.partition, input)?;
    let arn = group.arn.clone();
    let mut attributes = group.attributes.clone();
    for (key, value) in key_values(input.array("Attributes")) {
        check_attribute(&key, &value)?;
        attributes.insert(key, value);
    }
    check_combination(&attributes)?;
    let out = json!({ "Attributes": render_attributes(&attributes) });
    if let Some(group) = ctx.partition.target_groups.get_mut(&arn) {
        group.attributes = attributes;
    }
    Ok(out)
}

/// A protocol ferry local serves (HTTP); `what` names it in the message.
fn check_protocol(what: &str, protocol: &str) -> Result<(), ApiError> {
    if protocol == "HTTP" {
        return Ok(());
    }
    Err(validation(format!("ferry local's application load balancers serve HTTP: {what} '{protocol}' is not supported")))
}

/// `base` with the request's health check members applied, checked as AWS checks them:
/// interval 5–300 s, timeout 2–120 s and below the interval, thresholds 2–10, a path of
/// 1–1024 characters starting with `/`, a port 1–65535 or `traffic-port`, a matcher of
/// codes 200–499 (`200`, `200,202`, `200-299`). Health checks cannot be disabled for
/// `instance` and `ip` target groups.
fn health_check_from(input: &Input, base: HealthCheck, target_type: &str) -> Result<HealthCheck, ApiError> {
    let mut hc = base;
    if let Some(enabled) = input.bool("HealthCheckEnabled") {
        if !enabled {
            return Err(validation(format!("Health checks cannot be disabled for target groups with target type '{target_type}'")));
        }
        hc.enabled = true;
    }
    if let Some(protocol) = input.str("HealthCheckProtocol") {
        check_protocol("health check protocol", protocol)?;
        hc.protocol = protocol.to_string();
    }
    if let Some(port) = input.str("HealthCheckPort") {
        let valid = port == "traffic-port" || port.parse::<i64>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(validation(format!("Health check port '{port}' must be 'traffic-port' or a port number from 1 to 65535")));
        }
        hc.port = port.to_string();
    }
    if let Some(path) = input.str("HealthCheckPath") {
        if path.is_empty() || path.chars().count() > 1024 {
            return Err(validation(format!(
                "1 validation error detected: Value '{path}' at 'healthCheckPath' failed to satisfy constraint: Member must have length between 1 and 1024"
            )));
        }
        if !path.starts_with('/') {
            return Err(validation(format!("Health check path '{path}' must begin with a '/' character")));
        }
        hc.path = path.to_string();
    }
    let ranges = [
        ("HealthCheckIntervalSeconds", 5, 300, &mut hc.interval_seconds),
        ("HealthCheckTimeoutSeconds", 2, 120, &mut hc.timeout_seconds),
        ("HealthyThresholdCount", 2, 10, &mut hc.healthy_threshold),
        ("UnhealthyThresholdCount", 2, 10, &mut hc.unhealthy_threshold),
    ];
    for (member, min, max, field) in ranges {
        if let Some(value) = input.i64(member) {
            check_range(member, value, min, max)?;
            *field = value;
        }
    }
    if hc.timeout_seconds >= hc.interval_seconds {
        return Err(validation("Health check interval must be greater than the timeout."));
    }
    if let Some(matcher) = input.value("Matcher") {
        if matcher.get("GrpcCode").is_some() {
            return Err(validation("A gRPC code matcher applies only to target groups of protocol version 'GRPC'"));
        }
        let code = matcher.get("HttpCode").and_then(Value::as_str).unwrap_or_default();
        check_matcher(code)?;
        hc.matcher = code.to_string();
    }
    Ok(hc)
}

/// `200`, `200,202`, `200-299`: codes from 200 to 499, ranges low to high.
fn check_matcher(code: &str) -> Result<(), ApiError> {
    let invalid = || {
        validation(format!(
            "Health check matcher HTTP code '{code}' must be one or more HTTP codes from 200 to 499, as '200', '200,202' or '200-299'"
        ))
    };
    let status = |s: &str| s.trim().parse::<u16>().ok().filter(|c| (200..=499).contains(c));
    if code.is_empty() {
        return Err(invalid());
    }
    for part in code.split(',') {
        match part.split_once('-') {
            Some((low, high)) => match (status(low), status(high)) {
                (Some(low), Some(high)) if low <= high => {}
                _ => return Err(invalid()),
            },
            None => {
                status(part).ok_or_else(invalid)?;
            }
        }
    }
    Ok(())
}

/// What values an attribute takes.
enum Values {
    Bool,
    /// An integer in this range.
    Range(i64, i64),
    /// 0, or an integer in this range.
    ZeroOr(i64, i64),
    OneOf(&'static [&'static str]),
    /// `off`, or an integer in this range.
    OffOr(i64, i64),
    /// A cookie name (not starting with AWSALB, AWSALBAPP or AWSALBTG), or empty.
    CookieName,
}

/// The attributes of an `instance` or `ip` target group of an application load balancer
/// (the ELBv2 API reference, `TargetGroupAttribute`), their defaults and their values.
const ATTRIBUTES: &[(&str, &str, Values)] = &[
    ("deregistration_delay.timeout_seconds", "300", Values::Range(0, 3600)),
    ("load_balancing.algorithm.anomaly_mitigation", "off", Values::OneOf(&["on", "off"])),
    ("load_balancing.algorithm.type", "round_robin", Values::OneOf(&["round_robin", "least_outstanding_requests", "weighted_random"])),
    (
        "load_balancing.cross_zone.enabled",
        "use_load_balancer_configuration",
        Values::OneOf(&["true", "false", "use_load_balancer_configuration"]),
    ),
    ("slow_start.duration_seconds", "0", Values::ZeroOr(30, 900)),
    ("stickiness.app_cookie.cookie_name", "", Values::CookieName),
    ("stickiness.app_cookie.duration_seconds", "86400", Values::Range(1, 604_800)),
    ("stickiness.enabled", "false", Values::Bool),
    ("stickiness.lb_cookie.duration_seconds", "86400", Values::Range(1, 604_800)),
    ("stickiness.type", "lb_cookie", Values::OneOf(&["lb_cookie", "app_cookie"])),
    ("target_group_health.dns_failover.minimum_healthy_targets.count", "1", Values::OffOr(1, 1000)),
    ("target_group_health.dns_failover.minimum_healthy_targets.percentage", "off", Values::OffOr(1, 100)),
    ("target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", "1", Values::Range(1, 1000)),
    ("target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", "off", Values::OffOr(1, 100)),
];

/// AWS's attributes of a new HTTP target group.
pub(crate) fn default_attributes() -> BTreeMap<String, String> {
    ATTRIBUTES.iter().map(|(k, v, _)| (k.to_string(), v.to_string())).collect()
}

fn render_attributes(attributes: &BTreeMap<String, String>) -> Value {
    Value::Array(attributes.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect())
}

fn check_attribute(key: &str, value: &str) -> Result<(), ApiError> {
    let Some((_, _, values)) = ATTRIBUTES.iter().find(|(k, _, _)| *k == key) else {
        return Err(validation(format!("Target group attribute key '{key}' is not recognized")));
    };
    let invalid = |expected: String| validation(format!("Target group attribute '{key}' has an invalid value '{value}': {expected}"));
    let in_range = |min: &i64, max: &i64| value.parse::<i64>().is_ok_and(|n| (*min..=*max).contains(&n));
    match values {
        Values::Bool if value != "true" && value != "false" => Err(invalid("it must be true or false".into())),
        Values::Range(min, max) if !in_range(min, max) => Err(invalid(format!("it must be an integer from {min} to {max}"))),
        Values::ZeroOr(min, max) if value != "0" && !in_range(min, max) => {
            Err(invalid(format!("it must be 0 (off) or an integer from {min} to {max}")))
        }
        Values::OffOr(min, max) if value != "off" && !in_range(min, max) => {
            Err(invalid(format!("it must be 'off' or an integer from {min} to {max}")))
        }
        Values::OneOf(allowed) if !allowed.contains(&value) => Err(invalid(format!("it must be one of {}", allowed.join(", ")))),
        Values::CookieName if ["AWSALB", "AWSALBAPP", "AWSALBTG"].iter().any(|p| value.starts_with(p)) => {
            Err(invalid("cookie names starting with AWSALB, AWSALBAPP or AWSALBTG are reserved for the load balancer".into()))
        }
        _ => Ok(()),
    }
}

/// Settings that do not go together (the ELBv2 API reference, `TargetGroupAttribute`).
fn check_combination(attributes: &BTreeMap<String, String>) -> Result<(), ApiError> {
    let get = |key: &str| attributes.get(key).map(String::as_str).unwrap_or_default();
    let conflict = |message: &str| ApiError::client("InvalidConfigurationRequestException", message);
    let algorithm = get("load_balancing.algorithm.type");
    if get("load_balancing.algorithm.anomaly_mitigation") == "on" && algorithm != "weighted_random" {
        return Err(conflict("Anomaly mitigation can be turned on only with the 'weighted_random' load balancing algorithm"));
    }
    if get("slow_start.duration_seconds") != "0" && algorithm == "weighted_random" {
        return Err(conflict("Slow start mode is not supported with the 'weighted_random' load balancing algorithm"));
    }
    if get("stickiness.enabled") == "true" && get("stickiness.type") == "app_cookie" && get("stickiness.app_cookie.cookie_name").is_empty()
    {
        return Err(conflict("Application cookie stickiness needs 'stickiness.app_cookie.cookie_name'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{call, forward_from_a_listener, world};
    use super::*;

    fn tg_input(name: &str) -> Value {
        json!({"Name": name, "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1", "TargetType": "ip"})
    }

    fn create_tg(p: &mut Partition, input: Value) -> Value {
        call(p, "CreateTargetGroup", input, 100.0).unwrap()["TargetGroups"][0].clone()
    }

    #[test]
    fn a_new_target_group_has_aws_health_check_defaults_and_attributes() {
        let mut p = world();
        let tg = create_tg(&mut p, json!({"Name": "web", "Protocol": "HTTP", "Port": 80, "VpcId": "vpc-1"}));
        let arn = tg["TargetGroupArn"].as_str().unwrap();
        assert!(arn.starts_with("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/"), "{arn}");
        assert_eq!(arn.rsplit('/').next().unwrap().len(), 16);
        assert_eq!(tg["TargetType"], "instance");
        assert_eq!(
            (
                &tg["HealthCheckProtocol"],
                &tg["HealthCheckPort"],
                &tg["HealthCheckPath"],
                &tg["HealthCheckIntervalSeconds"],
                &tg["HealthCheckTimeoutSeconds"],
                &tg["HealthyThresholdCount"],
                &tg["UnhealthyThresholdCount"],
                &tg["Matcher"],
                &tg["HealthCheckEnabled"]
            ),
            (
                &json!("HTTP"),
                &json!("traffic-port"),
                &json!("/"),
                &json!(30),
                &json!(5),
                &json!(5),
                &json!(2),
                &json!({"HttpCode": "200"}),
                &json!(true)
            )
        );
        assert_eq!(tg["LoadBalancerArns"], json!([]));
        assert_eq!((&tg["ProtocolVersion"], &tg["IpAddressType"]), (&json!("HTTP1"), &json!("ipv4")));
        let attrs = call(&mut p, "DescribeTargetGroupAttributes", json!({"TargetGroupArn": arn}), 100.0).unwrap();
        let attrs = attrs["Attributes"].as_array().unwrap();
        for (k, v) in [
            ("deregistration_delay.timeout_seconds", "300"),
            ("slow_start.duration_seconds", "0"),
            ("stickiness.enabled", "false"),
            ("stickiness.type", "lb_cookie"),
            ("stickiness.lb_cookie.duration_seconds", "86400"),
            ("load_balancing.algorithm.type", "round_robin"),
        ] {
            assert!(attrs.contains(&json!({"Key": k, "Value": v})), "{k}");
        }
    }

    #[test]
    fn an_identical_create_returns_the_existing_group_and_a_different_one_is_a_duplicate() {
        let mut p = world();
        let first = create_tg(&mut p, tg_input("web"));
        assert_eq!(create_tg(&mut p, tg_input("web"))["TargetGroupArn"], first["TargetGroupArn"]);
        let mut other = tg_input("web");
        other["Port"] = json!(9090);
        let e = call(&mut p, "CreateTargetGroup", other, 100.0).unwrap_err();
        assert_eq!(e.code, "DuplicateTargetGroupNameException");
        assert_eq!(e.message, "A target group with the same name 'web' exists, but with different settings");
        assert_eq!(p.target_groups.len(), 1);
        assert_eq!(p.target_groups.values().next().unwrap().port, Some(8080));
    }

    #[test]
    fn what_ferry_local_does_not_serve_and_what_aws_refuses_is_refused_and_nothing_is_created() {
        let mut p = world();
        let with = |key: &str, value: Value| {
            let mut input = tg_input("web");
            input[key] = value;
            input
        };
        let cases = [
            (tg_input(&"a".repeat(33)), "cannot be longer than '32' characters"),
            (tg_input("we_b"), "alphanumeric characters or hyphens"),
            (tg_input("-web"), "cannot begin or end with '-'"),
            (with("Protocol", json!("HTTPS")), "serve HTTP"),
            (with("Protocol", json!("TCP")), "serve HTTP"),
            (with("TargetType", json!("lambda")), "'instance' and 'ip' only"),
            (with("ProtocolVersion", json!("GRPC")), "HTTP/1.1"),
            (with("IpAddressType", json!("ipv6")), "IPv4"),
            (with("HealthCheckProtocol", json!("HTTPS")), "serve HTTP"),
            (with("HealthCheckIntervalSeconds", json!(4)), "greater than or equal to 5"),
            (with("HealthCheckTimeoutSeconds", json!(121)), "less than or equal to 120"),
            (with("HealthyThresholdCount", json!(11)), "less than or equal to 10"),
            (with("UnhealthyThresholdCount", json!(1)), "greater than or equal to 2"),
            (with("HealthCheckTimeoutSeconds", json!(30)), "interval must be greater than the timeout"),
            (with("HealthCheckPath", json!("health")), "must begin with a '/'"),
            (with("HealthCheckPort", json!("0")), "traffic-port"),
            (with("HealthCheckEnabled", json!(false)), "cannot be disabled"),
            (with("Matcher", json!({"HttpCode": "500"})), "from 200 to 499"),
            (with("Matcher", json!({"HttpCode": "299-200"})), "from 200 to 499"),
            (with("Matcher", json!({"HttpCode": "200,abc"})), "from 200 to 499"),
            (with("Port", json!(0)), "greater than or equal to 1"),
            (with("Tags", json!([{"Key": "a"}, {"Key": "a"}])), "more than once"),
        ];
        for (input, expected) in cases {
            let e = call(&mut p, "CreateTargetGroup", input.clone(), 100.0).unwrap_err();
            assert!(e.message.contains(expected), "{input}: {} {}", e.code, e.message);
        }
        let mut no_vpc = tg_input("web");
        no_vpc.as_object_mut().unwrap().remove("VpcId");
        assert_eq!(call(&mut p, "CreateTargetGroup", no_vpc, 100.0).unwrap_err().message, "A VPC ID must be specified");
        assert!(p.target_groups.is_empty() && p.elb_tags.is_empty());
        // Matchers AWS accepts.
        for code in ["200", "200,202", "200-299", "200-299,404"] {
            create_tg(&mut p, with("Matcher", json!({"HttpCode": code})).clone());
            p.target_groups.clear();
        }
    }

    #[test]
    fn describe_by_arn_name_or_load_balancer_and_pages() {
        let mut p = world();
        let arns: Vec<String> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                call(&mut p, "CreateTargetGroup", tg_input(n), 100.0 + i as f64).unwrap()["TargetGroups"][0]["TargetGroupArn"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let first = call(&mut p, "DescribeTargetGroups", json!({"PageSize": 2}), 200.0).unwrap();
        assert_eq!(first["TargetGroups"].as_array().unwrap().len(), 2);
        let next = call(&mut p, "DescribeTargetGroups", json!({"PageSize": 2, "Marker": first["NextMarker"]}), 200.0).unwrap();
        assert_eq!(next["TargetGroups"][0]["TargetGroupName"], "c");
        assert!(next.get("NextMarker").is_none());
        let by_name = call(&mut p, "DescribeTargetGroups", json!({"Names": ["c", "a"]}), 200.0).unwrap();
        assert_eq!(by_name["TargetGroups"][1]["TargetGroupArn"], arns[0].as_str());
        let e = call(&mut p, "DescribeTargetGroups", json!({"Names": ["zzz"]}), 200.0).unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("TargetGroupNotFoundException", "One or more target groups not found"));
        let missing = arns[0].replace("/a/", "/gone/");
        assert_eq!(
            call(&mut p, "DescribeTargetGroups", json!({"TargetGroupArns": [missing]}), 200.0).unwrap_err().code,
            "TargetGroupNotFoundException"
        );
        let e = call(&mut p, "DescribeTargetGroups", json!({"TargetGroupArns": ["a"]}), 200.0).unwrap_err();
        assert_eq!(e.message, "'a' is not a valid target group ARN");
        let gone = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/lb/0123456789abcdef";
        let e = call(&mut p, "DescribeTargetGroups", json!({"LoadBalancerArn": gone}), 200.0).unwrap_err();
        assert_eq!(e.code, "LoadBalancerNotFoundException");
        let lb = forward_from_a_listener(&mut p, "lb", &arns[1]);
        let out = call(&mut p, "DescribeTargetGroups", json!({"LoadBalancerArn": lb}), 200.0).unwrap();
        let groups = out["TargetGroups"].as_array().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!((&groups[0]["TargetGroupArn"], &groups[0]["LoadBalancerArns"]), (&json!(arns[1]), &json!([lb])));
        let e = call(&mut p, "DescribeTargetGroups", json!({"LoadBalancerArn": lb, "Names": ["a"]}), 200.0).unwrap_err();
        assert_eq!(e.code, "ValidationError");
    }

    #[test]
    fn modify_changes_health_checks_checked_with_the_settings_kept() {
        let mut p = world();
        let arn = create_tg(&mut p, tg_input("web"))["TargetGroupArn"].as_str().unwrap().to_string();
        let out = call(
            &mut p,
            "ModifyTargetGroup",
            json!({"TargetGroupArn": arn, "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 10, "Matcher": {"HttpCode": "200-299"}}),
            100.0,
        )
        .unwrap();
        assert_eq!(
            (&out["TargetGroups"][0]["HealthCheckPath"], &out["TargetGroups"][0]["HealthCheckIntervalSeconds"]),
            (&json!("/health"), &json!(10))
        );
        // The kept timeout (5) must stay below a new interval.
        let e = call(&mut p, "ModifyTargetGroup", json!({"TargetGroupArn": arn, "HealthCheckIntervalSeconds": 5}), 100.0).unwrap_err();
        assert_eq!(e.message, "Health check interval must be greater than the timeout.");
        assert_eq!(p.target_groups[&arn].health_check.interval_seconds, 10);
        assert_eq!(p.target_groups[&arn].health_check.matcher, "200-299");
        let missing = arn.replace("/web/", "/gone/");
        let e = call(&mut p, "ModifyTargetGroup", json!({"TargetGroupArn": missing, "HealthCheckPath": "/"}), 100.0).unwrap_err();
        assert_eq!(e.code, "TargetGroupNotFoundException");
    }

    #[test]
    fn attributes_are_checked_one_by_one_and_together_before_any_is_set() {
        let mut p = world();
        let arn = create_tg(&mut p, tg_input("web"))["TargetGroupArn"].as_str().unwrap().to_string();
        let modify = |p: &mut Partition, attrs: Value| {
            call(p, "ModifyTargetGroupAttributes", json!({"TargetGroupArn": arn, "Attributes": attrs}), 100.0)
        };
        let out = modify(
            &mut p,
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}, {"Key": "slow_start.duration_seconds", "Value": "30"}]),
        )
        .unwrap();
        assert!(out["Attributes"].as_array().unwrap().contains(&json!({"Key": "deregistration_delay.timeout_seconds", "Value": "30"})));
        assert_eq!(p.target_groups[&arn].deregistration_delay(), 30.0);
        for bad in [
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}]),
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}, {"Key": "slow_start.duration_seconds", "Value": "29"}]),
            json!([{"Key": "slow_start.duration_seconds", "Value": "901"}]),
            json!([{"Key": "stickiness.enabled", "Value": "1"}]),
            json!([{"Key": "stickiness.type", "Value": "source_ip"}]),
            json!([{"Key": "stickiness.app_cookie.cookie_name", "Value": "AWSALBAPP-1"}]),
            json!([{"Key": "no.such.attribute", "Value": "1"}]),
        ] {
            assert_eq!(modify(&mut p, bad.clone()).unwrap_err().code, "ValidationError", "{bad}");
        }
        for bad in [
            json!([{"Key": "load_balancing.algorithm.anomaly_mitigation", "Value": "on"}]),
            json!([{"Key": "load_balancing.algorithm.type", "Value": "weighted_random"}]),
            json!([{"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "app_cookie"}]),
        ] {
            assert_eq!(modify(&mut p, bad.clone()).unwrap_err().code, "InvalidConfigurationRequestException", "{bad}");
        }
        let attributes = &p.target_groups[&arn].attributes;
        assert_eq!(
            (
                attributes["deregistration_delay.timeout_seconds"].as_str(),
                attributes["slow_start.duration_seconds"].as_str(),
                attributes["stickiness.enabled"].as_str()
            ),
            ("30", "30", "false")
        );
        modify(&mut p, json!([{"Key": "slow_start.duration_seconds", "Value": "0"}])).unwrap();
    }

    /// An ACTIVE ECS service whose `loadBalancers` name `group`.
    fn ecs_service_using(group: &str) -> crate::state::Service {
        let mut passthrough = Map::new();
        passthrough.insert("loadBalancers".into(), json!([{"targetGroupArn": group, "containerName": "web", "containerPort": 80}]));
        crate::state::Service {
            arn: "arn:aws:ecs:us-east-1:000000000000:service/default/web".into(),
            name: "web".into(),
            cluster_arn: "arn:aws:ecs:us-east-1:000000000000:cluster/default".into(),
            status: "ACTIVE".into(),
            desired_count: 1,
            task_definition: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1".into(),
            launch_type: None,
            deployment_configuration: json!({}),
            deployment_controller: json!({"type": "ECS"}),
            health_check_grace_period_seconds: None,
            scheduling_strategy: "REPLICA".into(),
            created_at: 0.0,
            created_by: String::new(),
            passthrough,
            deployments: Vec::new(),
            events: Default::default(),
            service_deployments: Vec::new(),
            revisions: Vec::new(),
            last_completed: None,
            steady: false,
            launch_backoff_until: 0.0,
            consecutive_failures: 0,
            autoscaling_adjusted_at: None,
        }
    }

    #[test]
    fn a_group_a_rule_or_an_ecs_service_uses_cannot_be_deleted() {
        let mut p = world();
        let arn = create_tg(&mut p, tg_input("web"))["TargetGroupArn"].as_str().unwrap().to_string();
        p.elb_tags.insert(arn.clone(), vec![]);
        forward_from_a_listener(&mut p, "lb", &arn);
        let e = call(&mut p, "DeleteTargetGroup", json!({"TargetGroupArn": arn}), 100.0).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.clone()),
            ("ResourceInUseException", format!("Target group '{arn}' is currently in use by a listener or a rule"))
        );
        p.rules.clear();
        let service = ecs_service_using(&arn);
        p.services.insert(service.arn.clone(), service);
        let e = call(&mut p, "DeleteTargetGroup", json!({"TargetGroupArn": arn}), 100.0).unwrap_err();
        assert_eq!(e.code, "ResourceInUseException");
        assert!(p.target_groups.contains_key(&arn));
        p.services.values_mut().for_each(|s| s.status = "INACTIVE".into());
        call(&mut p, "DeleteTargetGroup", json!({"TargetGroupArn": arn}), 100.0).unwrap();
        assert!(p.target_groups.is_empty() && !p.elb_tags.contains_key(&arn));
        // Again: nothing to delete, and AWS answers success.
        call(&mut p, "DeleteTargetGroup", json!({"TargetGroupArn": arn}), 100.0).unwrap();
    }
}
