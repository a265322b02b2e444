//! Listener and rule actions (`Action` in the botocore `elbv2` model): how CreateListener,
//! ModifyListener (`DefaultActions`), CreateRule and ModifyRule (`Actions`) check them and
//! store them, in the shape DescribeListeners and DescribeRules answer, which is also what
//! the listener proxy reads.
//!
//! From the ELBv2 API reference (`Action`, `ForwardActionConfig`, `TargetGroupTuple`,
//! `TargetGroupStickinessConfig`, `FixedResponseActionConfig`, `RedirectActionConfig`) and
//! the Application Load Balancer quotas:
//! - a rule has exactly one routing action: `forward`, `fixed-response` or `redirect`; the
//!   authentication actions (`authenticate-oidc`, `authenticate-cognito`, `jwt-validation`)
//!   need an HTTPS listener, which ferry local does not serve;
//! - `forward` names one target group (`TargetGroupArn`) or up to 5 weighted ones
//!   (`ForwardConfig.TargetGroups`, weights 0–999, 1 when omitted), optionally sticky
//!   (`DurationSeconds` 1–604800, required when enabled). Every group must exist, be an `ip`
//!   or `instance` target group, and belong to no other load balancer; a load balancer
//!   forwards to at most 100 distinct groups. AWS answers a single-group forward with both
//!   forms: `TargetGroupArn` and a `ForwardConfig` holding that group with weight 1 and
//!   stickiness disabled — so do we, whichever form the request used;
//! - `fixed-response`: a `StatusCode` 2XX, 4XX or 5XX, an optional `ContentType` among
//!   `text/plain`, `text/css`, `text/html`, `application/javascript`, `application/json`,
//!   and a `MessageBody` of at most 1024 characters;
//! - `redirect`: `StatusCode` `HTTP_301` or `HTTP_302`; `Protocol` (`HTTP`, `HTTPS`,
//!   `#{protocol}`), `Port` (1–65535 or `#{port}`), `Host`, `Path` (starting with `/`) and
//!   `Query` default to `#{protocol}`, `#{port}`, `#{host}`, `/#{path}` and `#{query}` (the
//!   request's own), and at least one of protocol, host, port and path must change, or the
//!   redirect would loop.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::{check_range, lower_camel, validation};
use crate::api::ApiError;
use crate::records::targets::forwarded_groups;
use crate::state::Partition;

const ROUTING: [&str; 3] = ["forward", "fixed-response", "redirect"];
const AUTHENTICATION: [&str; 3] = ["authenticate-oidc", "authenticate-cognito", "jwt-validation"];
const CONTENT_TYPES: [&str; 5] = ["text/plain", "text/css", "text/html", "application/javascript", "application/json"];
/// Target groups per forward action, distinct target groups per load balancer.
const GROUPS_PER_ACTION: usize = 5;
const GROUPS_PER_LOAD_BALANCER: usize = 100;

/// The request's actions (`member` names the list in messages: `actions` or
/// `defaultActions`), checked and normalized into the stored shape, for a listener of load
/// balancer `load_balancer_arn`. `replacing` is the rule whose actions these replace (none
/// for a new rule or listener), so that its own groups do not count twice toward the limit
/// of distinct groups.
///
/// Errors, nothing stored: `ValidationError` (no action, a missing or misplaced config, a
/// value out of range or not matching its pattern); `InvalidLoadBalancerAction` (an
/// authentication action, a content type AWS does not serve, a redirect to itself);
/// `TooManyActions` (more than one routing action); `TargetGroupNotFound`;
/// `TooManyTargetGroups` (more than 5 groups in one forward);
/// `TargetGroupAssociationLimit` (a group of another load balancer);
/// `TooManyUniqueTargetGroupsPerLoadBalancer`; `InvalidConfigurationRequest` (a target
/// group ferry local cannot send traffic to).
pub(crate) fn normalize(
    actions: &[Value],
    member: &str,
    partition: &Partition,
    load_balancer_arn: &str,
    replacing: Option<&str>,
) -> Result<Value, ApiError> {
    if actions.is_empty() {
        return Err(validation(format!("At least one action must be specified in '{member}'")));
    }
    let mut out = Vec::with_capacity(actions.len());
    let mut routing = 0;
    for (i, action) in actions.iter().enumerate() {
        let at = format!("{member}.{}.member", i + 1);
        let kind = action.get("Type").and_then(Value::as_str).unwrap_or_default();
        if AUTHENTICATION.contains(&kind) {
            return Err(invalid_action(format!(
                "The '{kind}' action needs an HTTPS listener; ferry local serves HTTP listeners only (certificates are out of scope)"
            )));
        }
        if !ROUTING.contains(&kind) {
            return Err(validation(format!(
                "1 validation error detected: Value '{kind}' at '{at}.type' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                ROUTING.join(", ")
            )));
        }
        routing += 1;
        if routing > 1 {
            return Err(ApiError::client(
                "TooManyActionsException",
                format!("'{member}' can have only one forward, fixed-response or redirect action"),
            ));
        }
        let object = action.as_object().cloned().unwrap_or_default();
        for (config, owner) in [("ForwardConfig", "forward"), ("FixedResponseConfig", "fixed-response"), ("RedirectConfig", "redirect")] {
            if owner != kind && object.get(config).is_some_and(|v| !v.is_null()) {
                return Err(validation(format!("'{config}' can be specified only for a '{owner}' action, not for '{kind}' (at '{at}')")));
            }
        }
        if kind != "forward" && object.get("TargetGroupArn").is_some_and(|v| !v.is_null()) {
            return Err(validation(format!("'TargetGroupArn' can be specified only for a 'forward' action (at '{at}')")));
        }
        let mut normalized = Map::new();
        normalized.insert("Type".into(), json!(kind));
        if let Some(order) = object.get("Order").and_then(Value::as_i64) {
            check_range(&format!("{at}.order"), order, 1, 50000)?;
            normalized.insert("Order".into(), json!(order));
        }
        match kind {
            "forward" => forward(&object, &at, partition, load_balancer_arn, &mut normalized)?,
            "fixed-response" => fixed_response(&object, &at, &mut normalized)?,
            _ => redirect(&object, &at, &mut normalized)?,
        }
        out.push(Value::Object(normalized));
    }
    let out = Value::Array(out);
    check_unique_groups(&out, partition, load_balancer_arn, replacing)?;
    Ok(out)
}

fn forward(
    action: &Map<String, Value>,
    at: &str,
    partition: &Partition,
    load_balancer_arn: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let single = action.get("TargetGroupArn").and_then(Value::as_str).filter(|s| !s.is_empty());
    let config = action.get("ForwardConfig").filter(|c| !c.is_null());
    let tuples = config.and_then(|c| c.get("TargetGroups")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut groups: Vec<(String, i64)> = Vec::new();
    for (i, tuple) in tuples.iter().enumerate() {
        let tuple_at = format!("{at}.forwardConfig.targetGroups.{}.member", i + 1);
        let Some(arn) = tuple.get("TargetGroupArn").and_then(Value::as_str).filter(|s| !s.is_empty()) else {
            return Err(validation(format!("A target group ARN must be specified at '{tuple_at}.targetGroupArn'")));
        };
        let weight = tuple.get("Weight").and_then(Value::as_i64).unwrap_or(1);
        // The model puts no range on TargetGroupWeight: the check and its words are the
        // service's own (as CloudTrail shows them, aws/aws-cdk#24805).
        if !(0..=999).contains(&weight) {
            return Err(validation("The weight for each target group must be between 0 and 999, inclusive"));
        }
        if groups.iter().any(|(g, _)| g == arn) {
            return Err(validation(format!("Target group '{arn}' is specified more than once in the forward action at '{at}'")));
        }
        groups.push((arn.to_string(), weight));
    }
    match (single, groups.as_slice()) {
        (None, []) => {
            return Err(validation(format!(
                "A forward action needs a 'TargetGroupArn' or a 'ForwardConfig' with at least one target group (at '{at}')"
            )));
        }
        (Some(arn), []) => groups.push((arn.to_string(), 1)),
        (Some(arn), [(only, _)]) if only == arn => {}
        (Some(_), _) => {
            return Err(validation(format!(
                "With both 'TargetGroupArn' and 'ForwardConfig', the forward config must hold only that target group (at '{at}')"
            )));
        }
        (None, _) => {}
    }
    if groups.len() > GROUPS_PER_ACTION {
        return Err(ApiError::client(
            "TooManyTargetGroupsException",
            format!("A forward action can have at most {GROUPS_PER_ACTION} target groups; '{at}' has {}", groups.len()),
        ));
    }
    for (arn, _) in &groups {
        check_group(partition, arn, load_balancer_arn)?;
    }
    let stickiness = config.and_then(|c| c.get("TargetGroupStickinessConfig")).filter(|s| !s.is_null());
    let enabled = stickiness.and_then(|s| s.get("Enabled")).and_then(Value::as_bool).unwrap_or(false);
    let mut sticky = Map::new();
    sticky.insert("Enabled".into(), json!(enabled));
    if enabled {
        let Some(duration) = stickiness.and_then(|s| s.get("DurationSeconds")).and_then(Value::as_i64) else {
            return Err(validation(format!(
                "A stickiness duration must be specified when target group stickiness is enabled (at '{at}.forwardConfig.targetGroupStickinessConfig.durationSeconds')"
            )));
        };
        check_range(&format!("{at}.forwardConfig.targetGroupStickinessConfig.durationSeconds"), duration, 1, 604_800)?;
        sticky.insert("DurationSeconds".into(), json!(duration));
    }
    if let [(only, _)] = groups.as_slice() {
        out.insert("TargetGroupArn".into(), json!(only));
    }
    let tuples: Vec<Value> = groups.iter().map(|(arn, weight)| json!({"TargetGroupArn": arn, "Weight": weight})).collect();
    out.insert("ForwardConfig".into(), json!({"TargetGroups": tuples, "TargetGroupStickinessConfig": sticky}));
    Ok(())
}

/// A target group a listener of `load_balancer_arn` may forward to.
fn check_group(partition: &Partition, arn: &str, load_balancer_arn: &str) -> Result<(), ApiError> {
    let Some(group) = partition.target_groups.get(arn) else {
        return Err(ApiError::client("TargetGroupNotFoundException", format!("Target group '{arn}' not found")));
    };
    if !matches!(group.target_type.as_str(), "ip" | "instance") {
        return Err(ApiError::client(
            "InvalidConfigurationRequestException",
            format!(
                "ferry local forwards only to target groups of target type 'ip' or 'instance'; '{arn}' has target type '{}'",
                group.target_type
            ),
        ));
    }
    if let Some(protocol) = group.protocol.as_deref().filter(|p| !matches!(*p, "HTTP" | "HTTPS")) {
        return Err(ApiError::client(
            "IncompatibleProtocolsException",
            format!("The target group '{arn}' uses protocol {protocol}, which an application load balancer listener cannot forward to"),
        ));
    }
    let other = crate::records::targets::rules_using(partition, arn)
        .filter_map(|rule| partition.listeners.get(&rule.listener_arn))
        .any(|listener| listener.load_balancer_arn != load_balancer_arn);
    if other {
        return Err(ApiError::client(
            "TargetGroupAssociationLimitException",
            format!("The following target groups cannot be associated with more than one load balancer: {arn}"),
        ));
    }
    Ok(())
}

/// At most 100 distinct target groups across the rules of a load balancer, counting these
/// actions instead of those of the rule they replace.
fn check_unique_groups(actions: &Value, partition: &Partition, load_balancer_arn: &str, replacing: Option<&str>) -> Result<(), ApiError> {
    let mut groups: BTreeSet<&str> = forwarded_groups(actions).into_iter().collect();
    for rule in partition.rules.values() {
        let on_this_load_balancer = partition.listeners.get(&rule.listener_arn).is_some_and(|l| l.load_balancer_arn == load_balancer_arn);
        if on_this_load_balancer && Some(rule.arn.as_str()) != replacing {
            groups.extend(forwarded_groups(&rule.actions));
        }
    }
    if groups.len() > GROUPS_PER_LOAD_BALANCER {
        return Err(ApiError::client(
            "TooManyUniqueTargetGroupsPerLoadBalancerException",
            format!("A load balancer can forward to at most {GROUPS_PER_LOAD_BALANCER} distinct target groups"),
        ));
    }
    Ok(())
}

fn fixed_response(action: &Map<String, Value>, at: &str, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let Some(config) = action.get("FixedResponseConfig").and_then(Value::as_object) else {
        return Err(validation(format!("A 'FixedResponseConfig' must be specified for a 'fixed-response' action (at '{at}')")));
    };
    let at = format!("{at}.fixedResponseConfig");
    let status = config.get("StatusCode").and_then(Value::as_str).unwrap_or_default();
    let b = status.as_bytes();
    if !(b.len() == 3 && matches!(b[0], b'2' | b'4' | b'5') && b[1].is_ascii_digit() && b[2].is_ascii_digit()) {
        return Err(validation(format!(
            "1 validation error detected: Value '{status}' at '{at}.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$"
        )));
    }
    let mut fixed = Map::new();
    if let Some(body) = config.get("MessageBody").and_then(Value::as_str) {
        if body.chars().count() > 1024 {
            return Err(too_long(&format!("{at}.messageBody"), 1024));
        }
        fixed.insert("MessageBody".into(), json!(body));
    }
    fixed.insert("StatusCode".into(), json!(status));
    if let Some(content_type) = config.get("ContentType").and_then(Value::as_str).filter(|c| !c.is_empty()) {
        if !CONTENT_TYPES.contains(&content_type) {
            return Err(invalid_action(format!(
                "The ContentType must be one of: {}",
                CONTENT_TYPES.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
            )));
        }
        fixed.insert("ContentType".into(), json!(content_type));
    }
    out.insert("FixedResponseConfig".into(), Value::Object(fixed));
    Ok(())
}

fn redirect(action: &Map<String, Value>, at: &str, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let Some(config) = action.get("RedirectConfig").and_then(Value::as_object) else {
        return Err(validation(format!("A 'RedirectConfig' must be specified for a 'redirect' action (at '{at}')")));
    };
    let at = format!("{at}.redirectConfig");
    let part = |name: &str| config.get(name).and_then(Value::as_str);
    let protocol = part("Protocol").unwrap_or("#{protocol}");
    if !matches!(protocol, "HTTP" | "HTTPS" | "#{protocol}") {
        return Err(validation(format!(
            "1 validation error detected: Value '{protocol}' at '{at}.protocol' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(HTTPS?|#\\{{protocol\\}})$"
        )));
    }
    let port = part("Port").unwrap_or("#{port}");
    let numeric_port = port.parse::<u32>().ok().filter(|p| (1..=65535).contains(p) && !port.starts_with('0'));
    if port != "#{port}" && numeric_port.is_none() {
        return Err(invalid_action(format!("The redirect port '{port}' is not valid: specify a port from 1 to 65535, or #{{port}}")));
    }
    let host = part("Host").unwrap_or("#{host}");
    check_length(host, &format!("{at}.host"), 1, 128)?;
    let path = part("Path").unwrap_or("/#{path}");
    check_length(path, &format!("{at}.path"), 1, 128)?;
    if !path.starts_with('/') {
        return Err(invalid_action(format!("The redirect path '{path}' is not valid: it must begin with '/'")));
    }
    let query = part("Query").unwrap_or("#{query}");
    check_length(query, &format!("{at}.query"), 0, 128)?;
    if query.starts_with('?') {
        return Err(invalid_action(format!("The redirect query '{query}' is not valid: leave out the leading '?', it is added")));
    }
    if protocol == "#{protocol}" && port == "#{port}" && host == "#{host}" && path == "/#{path}" {
        return Err(invalid_action(
            "The redirect must change at least one of the protocol, host, port or path; otherwise it redirects to the same URL",
        ));
    }
    let status = part("StatusCode").unwrap_or_default();
    out.insert(
        "RedirectConfig".into(),
        json!({"Protocol": protocol, "Port": port, "Host": host, "Path": path, "Query": query, "StatusCode": status}),
    );
    Ok(())
}

fn check_length(value: &str, at: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let length = value.chars().count();
    if length < min {
        return Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{at}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
        )));
    }
    if length > max {
        return Err(too_long(at, max));
    }
    Ok(())
}

fn too_long(at: &str, max: usize) -> ApiError {
    validation(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length less than or equal to {max}",
        lower_camel(at)
    ))
}

fn invalid_action(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidLoadBalancerActionException", message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Listener, Rule, TargetGroup};

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/lb/1111111111111111";
    const OTHER_LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/other/2222222222222222";

    fn tg(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/{name}/0123456789abcdef")
    }

    fn partition() -> Partition {
        let mut p = Partition::default();
        for (name, target_type, protocol) in
            [("blue", "ip", "HTTP"), ("green", "instance", "HTTP"), ("fn", "lambda", ""), ("tcp", "ip", "TCP"), ("c", "ip", "HTTP")]
        {
            let arn = tg(name);
            p.target_groups.insert(
                arn.clone(),
                TargetGroup {
                    protocol: (!protocol.is_empty()).then(|| protocol.to_string()),
                    protocol_version: None,
                    vpc_id: None,
                    target_type: target_type.into(),
                    ip_address_type: None,
                    ..TargetGroup::for_test(&arn, name)
                },
            );
        }
        p
    }

    fn ok(p: &Partition, actions: Value) -> Value {
        normalize(actions.as_array().unwrap(), "actions", p, LB, None).unwrap()
    }

    fn err(p: &Partition, actions: Value) -> ApiError {
        normalize(actions.as_array().unwrap(), "actions", p, LB, None).unwrap_err()
    }

    #[test]
    fn a_single_target_group_is_answered_in_both_forms_with_weight_one() {
        let p = partition();
        let expected = json!([{
            "Type": "forward",
            "TargetGroupArn": tg("blue"),
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg("blue"), "Weight": 1}], "TargetGroupStickinessConfig": {"Enabled": false}}
        }]);
        assert_eq!(ok(&p, json!([{"Type": "forward", "TargetGroupArn": tg("blue")}])), expected);
        assert_eq!(ok(&p, json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg("blue")}]}}])), expected);
        let both = json!([{"Type": "forward", "TargetGroupArn": tg("blue"), "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg("blue"), "Weight": 1}]}}]);
        assert_eq!(ok(&p, both), expected);
    }

    #[test]
    fn weighted_groups_keep_their_weights_and_stickiness() {
        let p = partition();
        let action = json!([{"Type": "forward", "Order": 1, "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tg("blue"), "Weight": 90}, {"TargetGroupArn": tg("green"), "Weight": 0}],
            "TargetGroupStickinessConfig": {"Enabled": true, "DurationSeconds": 300}
        }}]);
        assert_eq!(
            ok(&p, action),
            json!([{"Type": "forward", "Order": 1, "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": tg("blue"), "Weight": 90}, {"TargetGroupArn": tg("green"), "Weight": 0}],
                "TargetGroupStickinessConfig": {"Enabled": true, "DurationSeconds": 300}
            }}])
        );
        // Disabled stickiness drops a duration (Terraform sends 0 with it).
        let disabled = json!([{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tg("blue")}], "TargetGroupStickinessConfig": {"Enabled": false, "DurationSeconds": 0}
        }}]);
        assert_eq!(ok(&p, disabled)[0]["ForwardConfig"]["TargetGroupStickinessConfig"], json!({"Enabled": false}));
    }

    #[test]
    fn forwards_aws_refuses_are_refused_with_its_codes() {
        let mut p = partition();
        let weighted = |groups: Vec<(String, i64)>| {
            let tuples: Vec<Value> = groups.into_iter().map(|(arn, w)| json!({"TargetGroupArn": arn, "Weight": w})).collect();
            json!([{"Type": "forward", "ForwardConfig": {"TargetGroups": tuples}}])
        };
        let e = err(&p, weighted(vec![(tg("blue"), 1000)]));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ValidationError", "The weight for each target group must be between 0 and 999, inclusive")
        );
        assert_eq!(err(&p, weighted(vec![(tg("blue"), -1)])).code, "ValidationError");
        assert_eq!(err(&p, weighted(vec![(tg("blue"), 1), (tg("blue"), 2)])).code, "ValidationError");
        let e = err(&p, weighted(vec![(tg("missing"), 1)]));
        assert_eq!((e.code.as_str(), e.message.contains("missing")), ("TargetGroupNotFoundException", true));
        assert_eq!(err(&p, weighted(vec![(tg("fn"), 1)])).code, "InvalidConfigurationRequestException");
        assert_eq!(err(&p, weighted(vec![(tg("tcp"), 1)])).code, "IncompatibleProtocolsException");
        let six: Vec<(String, i64)> = ["blue", "green", "c", "d", "e", "f"].iter().map(|n| (tg(n), 1)).collect();
        assert_eq!(err(&p, weighted(six)).code, "TooManyTargetGroupsException");
        assert_eq!(err(&p, json!([{"Type": "forward"}])).code, "ValidationError");
        let mismatch = json!([{"Type": "forward", "TargetGroupArn": tg("blue"), "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg("green")}]}}]);
        assert_eq!(err(&p, mismatch).code, "ValidationError");
        let sticky_without_duration = json!([{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tg("blue")}], "TargetGroupStickinessConfig": {"Enabled": true}
        }}]);
        assert_eq!(err(&p, sticky_without_duration).code, "ValidationError");
        let sticky_too_long = json!([{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": tg("blue")}], "TargetGroupStickinessConfig": {"Enabled": true, "DurationSeconds": 604_801}
        }}]);
        assert_eq!(err(&p, sticky_too_long).code, "ValidationError");
        // A group another load balancer forwards to cannot join this one.
        let listener = "arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/other/2222222222222222/3333333333333333";
        p.listeners.insert(
            listener.into(),
            Listener {
                arn: listener.into(),
                load_balancer_arn: OTHER_LB.into(),
                port: 80,
                protocol: "HTTP".into(),
                created_at: 0.0,
                attributes: Default::default(),
            },
        );
        p.rules.insert(
            "r".into(),
            Rule {
                arn: "r".into(),
                listener_arn: listener.into(),
                priority: "default".into(),
                is_default: true,
                conditions: json!([]),
                actions: json!([{"Type": "forward", "TargetGroupArn": tg("green")}]),
                created_at: 0.0,
            },
        );
        assert_eq!(err(&p, weighted(vec![(tg("green"), 1)])).code, "TargetGroupAssociationLimitException");
        assert!(
            normalize(json!([{"Type": "forward", "TargetGroupArn": tg("green")}]).as_array().unwrap(), "actions", &p, OTHER_LB, None)
                .is_ok()
        );
    }

    #[test]
    fn one_routing_action_and_no_authentication() {
        let p = partition();
        assert_eq!(err(&p, json!([])).code, "ValidationError");
        let two = json!([
            {"Type": "fixed-response", "Order": 1, "FixedResponseConfig": {"StatusCode": "200"}},
            {"Type": "forward", "Order": 2, "TargetGroupArn": tg("blue")}
        ]);
        assert_eq!(err(&p, two).code, "TooManyActionsException");
        let oidc = json!([{"Type": "authenticate-oidc", "Order": 1}, {"Type": "forward", "Order": 2, "TargetGroupArn": tg("blue")}]);
        let e = err(&p, oidc);
        assert_eq!(e.code, "InvalidLoadBalancerActionException");
        assert!(e.message.contains("HTTPS"));
        assert_eq!(err(&p, json!([{"Type": "forward", "TargetGroupArn": tg("blue"), "Order": 50001}])).code, "ValidationError");
        let misplaced = json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}, "TargetGroupArn": tg("blue")}]);
        assert_eq!(err(&p, misplaced).code, "ValidationError");
    }

    #[test]
    fn fixed_responses_follow_the_status_pattern_content_types_and_body_limit() {
        let p = partition();
        let fixed = |config: Value| json!([{"Type": "fixed-response", "FixedResponseConfig": config}]);
        assert_eq!(
            ok(&p, fixed(json!({"StatusCode": "503", "ContentType": "application/json", "MessageBody": "{}"}))),
            json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "application/json", "MessageBody": "{}"}}])
        );
        assert_eq!(ok(&p, fixed(json!({"StatusCode": "204"})))[0]["FixedResponseConfig"], json!({"StatusCode": "204"}));
        for status in ["301", "600", "20", "2000", "abc"] {
            assert_eq!(err(&p, fixed(json!({"StatusCode": status}))).code, "ValidationError", "{status}");
        }
        assert_eq!(err(&p, fixed(json!({"StatusCode": "200", "ContentType": "text/xml"}))).code, "InvalidLoadBalancerActionException");
        assert_eq!(err(&p, fixed(json!({"StatusCode": "200", "MessageBody": "x".repeat(1025)}))).code, "ValidationError");
        ok(&p, fixed(json!({"StatusCode": "200", "MessageBody": "x".repeat(1024)})));
        assert_eq!(err(&p, json!([{"Type": "fixed-response"}])).code, "ValidationError");
    }

    #[test]
    fn redirects_get_awss_defaults_and_must_change_something() {
        let p = partition();
        let redirect = |config: Value| json!([{"Type": "redirect", "RedirectConfig": config}]);
        assert_eq!(
            ok(&p, redirect(json!({"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"})))[0]["RedirectConfig"],
            json!({"Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"})
        );
        ok(&p, redirect(json!({"Path": "/new/#{path}", "Query": "#{query}&v=2", "StatusCode": "HTTP_302"})));
        assert_eq!(err(&p, redirect(json!({"StatusCode": "HTTP_301"}))).code, "InvalidLoadBalancerActionException");
        assert_eq!(err(&p, redirect(json!({"Protocol": "FTP", "Host": "a.com", "StatusCode": "HTTP_301"}))).code, "ValidationError");
        assert_eq!(err(&p, redirect(json!({"Port": "70000", "StatusCode": "HTTP_301"}))).code, "InvalidLoadBalancerActionException");
        assert_eq!(err(&p, redirect(json!({"Path": "new", "StatusCode": "HTTP_301"}))).code, "InvalidLoadBalancerActionException");
        assert_eq!(err(&p, redirect(json!({"Host": "", "StatusCode": "HTTP_301"}))).code, "ValidationError");
        assert_eq!(
            err(&p, redirect(json!({"Host": "a.com", "Query": "?a=1", "StatusCode": "HTTP_301"}))).code,
            "InvalidLoadBalancerActionException"
        );
    }
}
