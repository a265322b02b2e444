//! ELBv2: CreateListener, DescribeListeners, ModifyListener, DeleteListener,
//! DescribeListenerAttributes, ModifyListenerAttributes.
//!
//! A listener's default actions are those of its default rule, a [`Rule`] with `is_default`
//! and priority `default` (what DescribeRules lists last): CreateListener creates both, and
//! ModifyListener's `DefaultActions` replace the default rule's actions. Actions are checked
//! and stored by `actions` (the shape DescribeListeners answers).
//!
//! ferry local serves HTTP listeners: `HTTPS` (certificates), and the network load balancer
//! protocols, are refused with a `ValidationError` that says so.
//!
//! A listener really listens: the traffic engine serves it on `<load balancer DNSName>:<Port>`
//! (a loopback address, see `load_balancers`). So CreateListener, and ModifyListener when the
//! port changes, first check that this address and port can be bound right now, and refuse
//! with a `ValidationError` saying why when they cannot: a port below 1024 needs root or
//! `CAP_NET_BIND_SERVICE`; a port another process listens on is in use. Nothing is created
//! or changed then. (The engine binds a moment later; a process that takes the port in
//! between makes the listener fail to serve, which the engine reports.)
//!
//! AWS's behaviour followed here: CreateListener is idempotent (the same port with the same
//! settings returns the existing listener, as the API reference says); another listener on
//! the port is `DuplicateListener` ("A listener already exists on this port for this load
//! balancer '…'"); moving a listener to a port in use is a `ValidationError` ("Listener port
//! '…' is already in use"), as AWS answers it; a load balancer has at most 50 listeners.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::tags::{put_tags, tags_from};
use super::{Ctx, ResourceKind, actions, check_range, key_values, load_balancer_not_found, page, validation};
use crate::api::{ApiError, ApiResult, Input, hex_id, put};
use crate::state::{Listener, Partition, Rule};

/// Listeners per application load balancer (AWS's default quota).
const MAX_LISTENERS: usize = 50;

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "CreateListener" => create(ctx, input),
        "DescribeListeners" => describe(ctx, input),
        "ModifyListener" => modify(ctx, input),
        "DeleteListener" => delete(ctx, input),
        "DescribeListenerAttributes" => describe_attributes(ctx, input),
        "ModifyListenerAttributes" => modify_attributes(ctx, input),
        _ => return None,
    })
}

/// The `Listener` structure the API answers: its default actions are its default rule's.
pub(crate) fn render(partition: &Partition, listener: &Listener) -> Value {
    let default_actions = default_rule(partition, &listener.arn).map(|r| r.actions.clone()).unwrap_or_else(|| json!([]));
    json!({
        "ListenerArn": listener.arn,
        "LoadBalancerArn": listener.load_balancer_arn,
        "Port": listener.port,
        "Protocol": listener.protocol,
        "DefaultActions": default_actions,
    })
}

/// The default rule of a listener.
pub(crate) fn default_rule<'a>(partition: &'a Partition, listener_arn: &str) -> Option<&'a Rule> {
    partition.rules.values().find(|r| r.is_default && r.listener_arn == listener_arn)
}

/// The listener an ARN names. Errors: `ValidationError` for a malformed ARN,
/// `ListenerNotFound`.
pub(crate) fn existing<'a>(partition: &'a Partition, arn: &str) -> Result<&'a Listener, ApiError> {
    ResourceKind::Listener.check(arn)?;
    partition.listeners.get(arn).ok_or_else(|| ResourceKind::Listener.not_found())
}

/// CreateListener: an HTTP listener on `Port` of the load balancer, with its default rule.
/// The same port with the same protocol and default actions returns the existing listener.
///
/// Errors: `LoadBalancerNotFound`; `ValidationError` (a protocol other than HTTP,
/// certificates or TLS settings, a port out of 1–65535 or one that cannot be bound, bad
/// default actions); `DuplicateListener`; `TooManyListeners` (50); the action errors of
/// `actions::normalize` and the tag errors.
fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let lb_arn = input.str("LoadBalancerArn").unwrap_or_default().to_string();
    ResourceKind::LoadBalancer.check(&lb_arn)?;
    let Some(lb) = ctx.partition.load_balancers.get(&lb_arn) else {
        return Err(load_balancer_not_found());
    };
    let address = lb.dns_name.clone();
    let Some(protocol) = input.str("Protocol") else {
        return Err(validation("A listener protocol must be specified"));
    };
    check_http(protocol)?;
    check_no_tls(input)?;
    let Some(port) = input.i64("Port") else {
        return Err(validation("A listener port must be specified"));
    };
    check_range("Port", port, 1, 65535)?;
    let tags = tags_from(input)?;
    let same_port = ctx.partition.listeners.values().find(|l| l.load_balancer_arn == lb_arn && l.port == port);
    let default_actions = actions::normalize(
        input.array("DefaultActions"),
        "defaultActions",
        ctx.partition,
        &lb_arn,
        same_port.and_then(|l| default_rule(ctx.partition, &l.arn)).map(|r| r.arn.as_str()),
    )?;
    if let Some(listener) = same_port {
        let same_actions = default_rule(ctx.partition, &listener.arn).is_some_and(|r| r.actions == default_actions);
        if listener.protocol == protocol && same_actions {
            return Ok(json!({ "Listeners": [render(ctx.partition, listener)] }));
        }
        return Err(ApiError::client(
            "DuplicateListenerException",
            format!("A listener already exists on this port for this load balancer '{lb_arn}'"),
        ));
    }
    if ctx.partition.listeners.values().filter(|l| l.load_balancer_arn == lb_arn).count() >= MAX_LISTENERS {
        return Err(ApiError::client(
            "TooManyListenersException",
            format!("A load balancer can have at most {MAX_LISTENERS} listeners; '{lb_arn}' has {MAX_LISTENERS}"),
        ));
    }
    check_bindable(&address, port)?;
    let arn = listener_arn(&lb_arn);
    let listener = Listener {
        arn: arn.clone(),
        load_balancer_arn: lb_arn,
        port,
        protocol: protocol.to_string(),
        created_at: ctx.now,
        attributes: default_attributes(),
    };
    let rule = Rule {
        arn: super::rules::rule_arn(&arn),
        listener_arn: arn.clone(),
        priority: "default".into(),
        is_default: true,
        conditions: json!([]),
        actions: default_actions,
        created_at: ctx.now,
    };
    ctx.partition.rules.insert(rule.arn.clone(), rule);
    ctx.partition.listeners.insert(arn.clone(), listener);
    put_tags(ctx.partition, &arn, tags);
    let listener = &ctx.partition.listeners[&arn];
    Ok(json!({ "Listeners": [render(ctx.partition, listener)] }))
}

/// DescribeListeners: the listeners of `LoadBalancerArn` (by port), or those named in
/// `ListenerArns` (in request order), a page at a time (`Marker`, `PageSize` 1–400).
///
/// Errors: `ValidationError` for both or neither, a malformed ARN or a bad page;
/// `LoadBalancerNotFound`; `ListenerNotFound` when any named listener does not exist.
fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let lb_arn = input.str("LoadBalancerArn");
    let arns = input.strings("ListenerArns");
    let partition = &*ctx.partition;
    let mut found: Vec<&Listener> = match (lb_arn, arns.is_empty()) {
        (Some(_), false) => return Err(validation("Listener ARNs and a load balancer ARN cannot be specified at the same time")),
        (None, true) => return Err(validation("You must specify either listener ARNs or a load balancer ARN")),
        (Some(lb_arn), true) => {
            ResourceKind::LoadBalancer.check(lb_arn)?;
            if !partition.load_balancers.contains_key(lb_arn) {
                return Err(load_balancer_not_found());
            }
            let mut listeners: Vec<&Listener> = partition.listeners.values().filter(|l| l.load_balancer_arn == lb_arn).collect();
            listeners.sort_by_key(|l| l.port);
            listeners
        }
        (None, false) => arns.iter().map(|arn| existing(partition, arn)).collect::<Result<_, _>>()?,
    };
    let mut seen = std::collections::HashSet::new();
    found.retain(|l| seen.insert(l.arn.clone()));
    let (items, next) = page(&found, input)?;
    let mut out = Map::new();
    out.insert("Listeners".into(), Value::Array(items.iter().map(|l| render(partition, l)).collect()));
    put(&mut out, "NextMarker", next);
    Ok(Value::Object(out))
}

/// ModifyListener: a new port and/or new default actions; what the request leaves out stays.
///
/// Errors: `ListenerNotFound`; `ValidationError` (a protocol other than HTTP, certificates
/// or TLS settings, a port out of range, in use by another listener of the load balancer or
/// that cannot be bound, bad default actions); the action errors of `actions::normalize`.
fn modify(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("ListenerArn").unwrap_or_default().to_string();
    let listener = existing(ctx.partition, &arn)?;
    let lb_arn = listener.load_balancer_arn.clone();
    let current_port = listener.port;
    if let Some(protocol) = input.str("Protocol") {
        check_http(protocol)?;
    }
    check_no_tls(input)?;
    let port = input.i64("Port");
    if let Some(port) = port {
        check_range("Port", port, 1, 65535)?;
        if port != current_port {
            if ctx.partition.listeners.values().any(|l| l.load_balancer_arn == lb_arn && l.port == port) {
                return Err(validation(format!("Listener port '{port}' is already in use")));
            }
            let address = ctx.partition.load_balancers.get(&lb_arn).map(|lb| lb.dns_name.clone()).unwrap_or_default();
            check_bindable(&address, port)?;
        }
    }
    let default_rule_arn = default_rule(ctx.partition, &arn).map(|r| r.arn.clone());
    let new_actions = match input.value("DefaultActions") {
        Some(_) => {
            Some(actions::normalize(input.array("DefaultActions"), "defaultActions", ctx.partition, &lb_arn, default_rule_arn.as_deref())?)
        }
        None => None,
    };
    if let (Some(actions), Some(rule_arn)) = (new_actions, &default_rule_arn)
        && let Some(rule) = ctx.partition.rules.get_mut(rule_arn)
    {
        rule.actions = actions;
    }
    let Some(listener) = ctx.partition.listeners.get_mut(&arn) else {
        return Err(ResourceKind::Listener.not_found());
    };
    if let Some(port) = port {
        listener.port = port;
    }
    let listener = &ctx.partition.listeners[&arn];
    Ok(json!({ "Listeners": [render(ctx.partition, listener)] }))
}

/// DeleteListener: removes the listener, its rules (the default rule included) and their
/// tags. Errors: `ListenerNotFound`, `ValidationError` for a malformed ARN.
fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("ListenerArn").unwrap_or_default().to_string();
    existing(ctx.partition, &arn)?;
    let partition = &mut *ctx.partition;
    let rules: Vec<String> = partition.rules.values().filter(|r| r.listener_arn == arn).map(|r| r.arn.clone()).collect();
    for rule in &rules {
        partition.rules.remove(rule);
        partition.elb_tags.remove(rule);
    }
    partition.listeners.remove(&arn);
    partition.elb_tags.remove(&arn);
    Ok(json!({}))
}

fn describe_attributes(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let listener = existing(ctx.partition, input.str("ListenerArn").unwrap_or_default())?;
    Ok(json!({ "Attributes": render_attributes(&listener.attributes) }))
}

/// ModifyListenerAttributes: sets the given attributes (all checked before any is set) and
/// answers all of the listener's attributes.
///
/// Errors: `ListenerNotFound`; `ValidationError` for no attribute, an unknown key or a bad
/// value; `InvalidConfigurationRequest` for a key of HTTPS listeners or of network load
/// balancers.
fn modify_attributes(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("ListenerArn").unwrap_or_default().to_string();
    existing(ctx.partition, &arn)?;
    let attributes = key_values(input.array("Attributes"));
    if attributes.is_empty() {
        return Err(validation("At least one attribute must be specified"));
    }
    for (key, value) in &attributes {
        check_attribute(key, value)?;
    }
    let Some(listener) = ctx.partition.listeners.get_mut(&arn) else {
        return Err(ResourceKind::Listener.not_found());
    };
    listener.attributes.extend(attributes);
    Ok(json!({ "Attributes": render_attributes(&listener.attributes) }))
}

/// `arn:…:loadbalancer/app/NAME/ID` → `arn:…:listener/app/NAME/ID/<16 hex digits>`.
fn listener_arn(load_balancer_arn: &str) -> String {
    format!("{}/{}", load_balancer_arn.replacen(":loadbalancer/", ":listener/", 1), hex_id(16))
}

fn check_http(protocol: &str) -> Result<(), ApiError> {
    match protocol {
        "HTTP" => Ok(()),
        "HTTPS" => Err(validation(
            "ferry local serves HTTP listeners only: HTTPS needs certificates, which are out of scope for ferry local; use Protocol HTTP",
        )),
        other => Err(validation(format!(
            "Protocol '{other}' is not supported by application load balancers (HTTP or HTTPS), and ferry local serves HTTP listeners only; use Protocol HTTP"
        ))),
    }
}

/// Certificates, a security policy, an ALPN policy or mutual TLS belong to HTTPS and TLS
/// listeners.
fn check_no_tls(input: &Input) -> Result<(), ApiError> {
    for member in ["Certificates", "SslPolicy", "AlpnPolicy", "MutualAuthentication"] {
        let given = match input.value(member) {
            Some(Value::Array(items)) => !items.is_empty(),
            Some(_) => true,
            None => false,
        };
        if given {
            return Err(validation(format!(
                "'{member}' can be specified only for HTTPS and TLS listeners; ferry local serves HTTP listeners only"
            )));
        }
    }
    Ok(())
}

/// Whether `address:port` can be bound right now: a listening socket is opened and closed
/// at once. Errors: `ValidationError` saying why not (privileges, in use, no such address).
fn check_bindable(address: &str, port: i64) -> Result<(), ApiError> {
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return Err(validation(format!("ferry local cannot listen on {address}:{port}: the load balancer has no loopback address")));
    };
    let Ok(port_number) = u16::try_from(port) else {
        return Err(validation(format!("ferry local cannot listen on {address}:{port}: not a port")));
    };
    match std::net::TcpListener::bind((ip, port_number)) {
        Ok(socket) => {
            drop(socket);
            Ok(())
        }
        Err(e) => Err(cannot_listen(address, port, &e)),
    }
}

/// The `ValidationError` for a listener address and port that cannot be bound, saying why
/// and what to do.
fn cannot_listen(address: &str, port: i64, e: &std::io::Error) -> ApiError {
    let why = match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE — use a port ≥ 1024 (the listener's Port is where clients connect: http://{address}:<Port>)"
        ),
        std::io::ErrorKind::AddrInUse => "address in use: another process listens on this port; stop it or choose another Port".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "address not available on this machine (is the loopback interface up?)".to_string(),
        _ => e.to_string(),
    };
    validation(format!("ferry local cannot listen on {address}:{port}: {why}"))
}

/// Listener attributes of application load balancers: key, default (None when unset),
/// and whether only HTTPS listeners take it. From `ListenerAttribute` in the API reference.
const ATTRIBUTES: &[(&str, Option<&str>, bool)] = &[
    ("routing.http.response.server.enabled", Some("true"), false),
    ("routing.http.response.access_control_allow_origin.header_value", None, false),
    ("routing.http.response.access_control_allow_methods.header_value", None, false),
    ("routing.http.response.access_control_allow_headers.header_value", None, false),
    ("routing.http.response.access_control_allow_credentials.header_value", None, false),
    ("routing.http.response.access_control_expose_headers.header_value", None, false),
    ("routing.http.response.access_control_max_age.header_value", None, false),
    ("routing.http.response.content_security_policy.header_value", None, false),
    ("routing.http.response.x_content_type_options.header_value", None, false),
    ("routing.http.response.x_frame_options.header_value", None, false),
    ("routing.http.response.strict_transport_security.header_value", None, true),
    ("routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name", None, true),
    ("routing.http.request.x_amzn_mtls_clientcert_issuer.header_name", None, true),
    ("routing.http.request.x_amzn_mtls_clientcert_subject.header_name", None, true),
    ("routing.http.request.x_amzn_mtls_clientcert_validity.header_name", None, true),
    ("routing.http.request.x_amzn_mtls_clientcert_leaf.header_name", None, true),
    ("routing.http.request.x_amzn_mtls_clientcert.header_name", None, true),
    ("routing.http.request.x_amzn_tls_version.header_name", None, true),
    ("routing.http.request.x_amzn_tls_cipher_suite.header_name", None, true),
];

fn default_attributes() -> BTreeMap<String, String> {
    ATTRIBUTES.iter().filter_map(|(k, v, _)| v.map(|v| (k.to_string(), v.to_string()))).collect()
}

fn render_attributes(attributes: &BTreeMap<String, String>) -> Value {
    Value::Array(attributes.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect())
}

fn check_attribute(key: &str, value: &str) -> Result<(), ApiError> {
    if key == "tcp.idle_timeout.seconds" {
        return Err(ApiError::client(
            "InvalidConfigurationRequestException",
            "Listener attribute 'tcp.idle_timeout.seconds' is supported by network and gateway load balancers only",
        ));
    }
    let Some((_, _, https_only)) = ATTRIBUTES.iter().find(|(k, _, _)| *k == key) else {
        return Err(validation(format!("Listener attribute key '{key}' is not recognized")));
    };
    if *https_only {
        return Err(ApiError::client(
            "InvalidConfigurationRequestException",
            format!("Listener attribute '{key}' is supported by HTTPS listeners only; ferry local serves HTTP listeners"),
        ));
    }
    if key == "routing.http.response.server.enabled" && value != "true" && value != "false" {
        return Err(validation(format!("Listener attribute '{key}' has an invalid value '{value}': it must be true or false")));
    }
    if value.chars().count() > 1024 {
        return Err(validation(format!("Listener attribute '{key}' has a value longer than 1024 characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{handle, world};
    use super::*;
    use crate::state::{LoadBalancer, TargetGroup};

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/lb/1111111111111111";

    fn tg(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/{name}/0123456789abcdef")
    }

    fn partition() -> Partition {
        let mut p = world();
        p.load_balancers.insert(
            LB.into(),
            LoadBalancer {
                arn: LB.into(),
                name: "lb".into(),
                dns_name: "127.0.0.1".into(),
                canonical_hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
                created_at: 0.0,
                scheme: "internet-facing".into(),
                vpc_id: "vpc-1".into(),
                state: "active".into(),
                lb_type: "application".into(),
                availability_zones: json!([]),
                security_groups: vec![],
                ip_address_type: "ipv4".into(),
                attributes: Default::default(),
            },
        );
        for name in ["blue", "green"] {
            p.target_groups.insert(tg(name), TargetGroup::for_test(&tg(name), name));
        }
        p
    }

    /// A port nobody listens on at 127.0.0.1 right now.
    fn free_port() -> i64 {
        i64::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
    }

    fn create(p: &mut Partition, port: i64, group: &str) -> ApiResult {
        handle(
            p,
            "CreateListener",
            json!({"LoadBalancerArn": LB, "Protocol": "HTTP", "Port": port, "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg(group)}]}),
        )
    }

    fn snapshot(p: &Partition) -> String {
        serde_json::to_string(&(&p.listeners, &p.rules, &p.elb_tags)).unwrap()
    }

    #[test]
    fn a_listener_is_created_with_its_default_rule_and_described_by_load_balancer_or_arn() {
        let mut p = partition();
        let port = free_port();
        let out = create(&mut p, port, "blue").unwrap();
        let listener = &out["Listeners"][0];
        let arn = listener["ListenerArn"].as_str().unwrap().to_string();
        assert!(arn.starts_with("arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/lb/1111111111111111/"));
        assert_eq!((listener["Port"].as_i64(), listener["Protocol"].as_str()), (Some(port), Some("HTTP")));
        assert_eq!(listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"][0]["Weight"], 1);
        let rule = default_rule(&p, &arn).unwrap();
        assert_eq!((rule.priority.as_str(), rule.is_default, &rule.conditions), ("default", true, &json!([])));
        assert!(rule.arn.contains(":listener-rule/app/lb/1111111111111111/"));
        let by_lb = handle(&mut p, "DescribeListeners", json!({"LoadBalancerArn": LB})).unwrap();
        let by_arn = handle(&mut p, "DescribeListeners", json!({"ListenerArns": [arn]})).unwrap();
        assert_eq!(by_lb, by_arn);
        assert_eq!(by_lb["Listeners"][0], *listener);
    }

    #[test]
    fn the_same_listener_twice_is_the_same_listener_and_other_settings_are_a_duplicate() {
        let mut p = partition();
        let port = free_port();
        let first = create(&mut p, port, "blue").unwrap();
        assert_eq!(create(&mut p, port, "blue").unwrap(), first);
        let before = snapshot(&p);
        let e = create(&mut p, port, "green").unwrap_err();
        assert_eq!(e.code, "DuplicateListenerException");
        assert!(e.message.contains(LB));
        assert_eq!(snapshot(&p), before);
    }

    #[test]
    fn a_port_in_use_or_out_of_range_and_other_protocols_are_refused_and_change_nothing() {
        let mut p = partition();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = i64::from(taken.local_addr().unwrap().port());
        let e = create(&mut p, port, "blue").unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains(&format!("ferry local cannot listen on 127.0.0.1:{port}: address in use")), "{}", e.message);
        for bad in [0, 65536] {
            assert_eq!(create(&mut p, bad, "blue").unwrap_err().code, "ValidationError");
        }
        for protocol in ["HTTPS", "TCP"] {
            let e = handle(
                &mut p,
                "CreateListener",
                json!({"LoadBalancerArn": LB, "Protocol": protocol, "Port": free_port(), "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg("blue")}]}),
            )
            .unwrap_err();
            assert!(e.message.contains("HTTP listeners only"), "{}", e.message);
        }
        let missing_lb = LB.replace("1111111111111111", "2222222222222222");
        let e =
            handle(&mut p, "CreateListener", json!({"LoadBalancerArn": missing_lb, "Protocol": "HTTP", "Port": 80, "DefaultActions": []}))
                .unwrap_err();
        assert_eq!(e.code, "LoadBalancerNotFoundException");
        assert_eq!(create(&mut p, free_port(), "missing").unwrap_err().code, "TargetGroupNotFoundException");
        assert!(p.listeners.is_empty() && p.rules.is_empty() && p.elb_tags.is_empty());
    }

    #[test]
    fn a_port_that_needs_privileges_is_refused_with_the_reason_and_what_to_do() {
        let e = cannot_listen("127.42.0.1", 80, &std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(e.code, "ValidationError");
        assert!(
            e.message.starts_with(
                "ferry local cannot listen on 127.42.0.1:80: permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE — use a port ≥ 1024"
            ),
            "{}",
            e.message
        );
        // And for real, when this process has no privileges.
        let mut p = partition();
        if std::net::TcpListener::bind("127.0.0.1:81").err().map(|e| e.kind()) == Some(std::io::ErrorKind::PermissionDenied) {
            assert!(create(&mut p, 81, "blue").unwrap_err().message.contains("permission denied"));
            assert!(p.listeners.is_empty());
        }
    }

    #[test]
    fn modify_changes_port_and_default_actions_and_refuses_a_port_in_use() {
        let mut p = partition();
        let (a, b, c) = (free_port(), free_port(), free_port());
        let first = create(&mut p, a, "blue").unwrap()["Listeners"][0]["ListenerArn"].as_str().unwrap().to_string();
        create(&mut p, b, "blue").unwrap();
        let before = snapshot(&p);
        let e = handle(&mut p, "ModifyListener", json!({"ListenerArn": first, "Port": b})).unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ValidationError", format!("Listener port '{b}' is already in use").as_str()));
        let e = handle(
            &mut p,
            "ModifyListener",
            json!({"ListenerArn": first, "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg("gone")}]}),
        )
        .unwrap_err();
        assert_eq!(e.code, "TargetGroupNotFoundException");
        assert_eq!(snapshot(&p), before);
        // The same port again skips the bind check (the engine holds it).
        let out = handle(
            &mut p,
            "ModifyListener",
            json!({"ListenerArn": first, "Port": a, "DefaultActions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]}),
        )
        .unwrap();
        assert_eq!(
            out["Listeners"][0]["DefaultActions"],
            json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])
        );
        let out = handle(&mut p, "ModifyListener", json!({"ListenerArn": first, "Port": c})).unwrap();
        assert_eq!(out["Listeners"][0]["Port"], c);
        assert_eq!(p.listeners[&first].port, c);
        let missing = format!("{first}0");
        assert_eq!(
            handle(&mut p, "ModifyListener", json!({"ListenerArn": missing, "Port": c})).unwrap_err().code,
            "ListenerNotFoundException"
        );
    }

    #[test]
    fn delete_removes_the_listener_its_rules_and_tags() {
        let mut p = partition();
        let arn = create(&mut p, free_port(), "blue").unwrap()["Listeners"][0]["ListenerArn"].as_str().unwrap().to_string();
        p.elb_tags.insert(arn.clone(), vec![]);
        handle(&mut p, "DeleteListener", json!({"ListenerArn": arn})).unwrap();
        assert!(p.listeners.is_empty() && p.rules.is_empty() && p.elb_tags.is_empty());
        assert_eq!(handle(&mut p, "DeleteListener", json!({"ListenerArn": arn})).unwrap_err().code, "ListenerNotFoundException");
        assert_eq!(handle(&mut p, "DescribeListeners", json!({"ListenerArns": [arn]})).unwrap_err().code, "ListenerNotFoundException");
        assert_eq!(handle(&mut p, "DescribeListeners", json!({})).unwrap_err().code, "ValidationError");
    }

    #[test]
    fn listener_attributes_have_albs_default_and_refuse_keys_of_other_listeners() {
        let mut p = partition();
        let arn = create(&mut p, free_port(), "blue").unwrap()["Listeners"][0]["ListenerArn"].as_str().unwrap().to_string();
        let out = handle(&mut p, "DescribeListenerAttributes", json!({"ListenerArn": arn})).unwrap();
        assert_eq!(out, json!({"Attributes": [{"Key": "routing.http.response.server.enabled", "Value": "true"}]}));
        let set = |key: &str, value: &str| json!({"ListenerArn": arn, "Attributes": [{"Key": key, "Value": value}]});
        let out = handle(&mut p, "ModifyListenerAttributes", set("routing.http.response.server.enabled", "false")).unwrap();
        assert_eq!(out["Attributes"][0]["Value"], "false");
        let before = snapshot(&p);
        assert_eq!(
            handle(&mut p, "ModifyListenerAttributes", set("routing.http.response.server.enabled", "no")).unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            handle(&mut p, "ModifyListenerAttributes", set("tcp.idle_timeout.seconds", "400")).unwrap_err().code,
            "InvalidConfigurationRequestException"
        );
        assert_eq!(
            handle(&mut p, "ModifyListenerAttributes", set("routing.http.response.strict_transport_security.header_value", "max-age=1"))
                .unwrap_err()
                .code,
            "InvalidConfigurationRequestException"
        );
        assert_eq!(handle(&mut p, "ModifyListenerAttributes", set("nope", "1")).unwrap_err().code, "ValidationError");
        assert_eq!(snapshot(&p), before);
    }
}
