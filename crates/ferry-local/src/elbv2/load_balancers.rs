//! ELBv2: CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer,
//! DescribeLoadBalancerAttributes, ModifyLoadBalancerAttributes, SetSecurityGroups,
//! SetSubnets, SetIpAddressType.
//!
//! ferry local serves application load balancers only (`Type` `application`); network and
//! gateway load balancers are refused with a `ValidationError` that says so.
//!
//! Where a real load balancer has a DNS name resolving to its nodes, ferry local's has a
//! loopback IPv4 address of its own, answered as `DNSName`: its listeners listen on
//! `<DNSName>:<Port>`, which any client on this machine reaches without DNS. The address is
//! `127.<P>.<n / 254>.<n % 254 + 1>`, with `P = 1 + (a stable hash of "account/region") mod
//! 250` and `n` the smallest index no other load balancer of the account and region uses.
//!
//! There are no VPCs or subnets behind ferry local: subnet ids (`subnet-…`) and security
//! group ids (`sg-…`) are taken as given and echoed; each subnet gets an Availability Zone
//! of its own (`<region>a`, `<region>b`, … in request order); the VPC id is derived from
//! the account and region (one VPC per partition), as is the default security group given
//! to a load balancer created without any.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::tags::{put_tags, tags_from};
use super::{Ctx, ResourceKind, check_name, check_range, key_values, load_balancer_not_found, page, stable_hash, validation};
use crate::api::{ApiError, ApiResult, Input, hex_id, put};
use crate::state::{LoadBalancer, Partition};

/// AWS's default quota of application load balancers per region.
const MAX_LOAD_BALANCERS: usize = 50;

/// How long a new load balancer stays `provisioning` before it is `active`, in seconds.
pub(crate) const PROVISIONING_SECONDS: f64 = 1.0;

/// DescribeLoadBalancers takes at most 20 ARNs or names.
const MAX_DESCRIBED: usize = 20;

pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "CreateLoadBalancer" => create(ctx, input),
        "DescribeLoadBalancers" => describe(ctx, input),
        "DeleteLoadBalancer" => delete(ctx, input),
        "DescribeLoadBalancerAttributes" => describe_attributes(ctx, input),
        "ModifyLoadBalancerAttributes" => modify_attributes(ctx, input),
        "SetSecurityGroups" => set_security_groups(ctx, input),
        "SetSubnets" => set_subnets(ctx, input),
        "SetIpAddressType" => set_ip_address_type(ctx, input),
        _ => return None,
    })
}

/// The state a load balancer is in at `now`: stored as `provisioning` at creation, it is
/// `active` once [`PROVISIONING_SECONDS`] have passed since `created_at` (computed when
/// asked, so a Describe call changes nothing). A real ALB takes a minute or two; one
/// second keeps a client's wait for `active` (the `load_balancer_available` waiter) real
/// but short.
pub(crate) fn state(lb: &LoadBalancer, now: f64) -> &str {
    if lb.state == "provisioning" && now - lb.created_at >= PROVISIONING_SECONDS { "active" } else { &lb.state }
}

/// The `LoadBalancer` structure the API answers.
pub(crate) fn render(lb: &LoadBalancer, now: f64) -> Value {
    json!({
        "LoadBalancerArn": lb.arn,
        "DNSName": lb.dns_name,
        "CanonicalHostedZoneId": lb.canonical_hosted_zone_id,
        "CreatedTime": lb.created_at,
        "LoadBalancerName": lb.name,
        "Scheme": lb.scheme,
        "VpcId": lb.vpc_id,
        "State": {"Code": state(lb, now)},
        "Type": lb.lb_type,
        "AvailabilityZones": lb.availability_zones,
        "SecurityGroups": lb.security_groups,
        "IpAddressType": lb.ip_address_type,
    })
}

/// The load balancer `LoadBalancerArn` names. Errors: `ValidationError` for a malformed
/// ARN, `LoadBalancerNotFound`.
fn existing<'a>(partition: &'a Partition, input: &Input) -> Result<&'a LoadBalancer, ApiError> {
    let arn = input.str("LoadBalancerArn").unwrap_or_default();
    ResourceKind::LoadBalancer.check(arn)?;
    partition.load_balancers.get(arn).ok_or_else(load_balancer_not_found)
}

/// CreateLoadBalancer. Creating one with the name and settings (type, scheme, subnets,
/// security groups, IP address type) of an existing one returns that one, as AWS does;
/// the same name with other settings is `DuplicateLoadBalancerName`.
///
/// Errors: `ValidationError` (name rules, a type other than `application`, fewer than two
/// subnets, both `Subnets` and `SubnetMappings`), `SubnetNotFound`, `InvalidSecurityGroup`,
/// `InvalidConfigurationRequest`, `DuplicateLoadBalancerName`, `TooManyLoadBalancers` (50),
/// and the tag errors (`TooManyTags`, `DuplicateTagKeys`).
fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default();
    check_name("The load balancer name", name)?;
    if name.starts_with("internal-") {
        return Err(validation(format!("The load balancer name '{name}' cannot begin with 'internal-'")));
    }
    let lb_type = input.str("Type").unwrap_or("application");
    if lb_type != "application" {
        return Err(validation(format!(
            "ferry local serves application load balancers only: load balancer type '{lb_type}' is not supported"
        )));
    }
    let scheme = input.str("Scheme").unwrap_or("internet-facing");
    let ip_address_type = input.str("IpAddressType").unwrap_or("ipv4");
    check_ip_address_type(scheme, ip_address_type)?;
    let subnets = subnets_from(input)?;
    let security_groups = match input.value("SecurityGroups") {
        Some(_) => security_groups_from(input)?,
        None => vec![default_security_group(ctx)],
    };
    let tags = tags_from(input)?;

    if let Some(existing) = ctx.partition.load_balancers.values().find(|lb| lb.name == name) {
        let same = existing.lb_type == lb_type
            && existing.scheme == scheme
            && existing.ip_address_type == ip_address_type
            && sorted(subnet_ids(existing)) == sorted(subnets.clone())
            && sorted(existing.security_groups.clone()) == sorted(security_groups.clone());
        if same {
            return Ok(json!({ "LoadBalancers": [render(existing, ctx.now)] }));
        }
        return Err(ApiError::client(
            "DuplicateLoadBalancerNameException",
            format!("A load balancer with the same name '{name}' exists, but with different settings"),
        ));
    }
    if ctx.partition.load_balancers.len() >= MAX_LOAD_BALANCERS {
        return Err(ApiError::client(
            "TooManyLoadBalancersException",
            format!("The quota for the number of load balancers has been reached ({MAX_LOAD_BALANCERS})"),
        ));
    }
    let dns_name = allocate_address(ctx)?;
    let lb = LoadBalancer {
        arn: ctx.caller.arn("elasticloadbalancing", &format!("loadbalancer/app/{name}/{}", hex_id(16))),
        name: name.to_string(),
        dns_name,
        canonical_hosted_zone_id: hosted_zone_id(&ctx.caller.region).to_string(),
        created_at: ctx.now,
        scheme: scheme.to_string(),
        vpc_id: vpc_id(ctx),
        state: "provisioning".into(),
        lb_type: lb_type.to_string(),
        availability_zones: availability_zones(&ctx.caller.region, &subnets),
        security_groups,
        ip_address_type: ip_address_type.to_string(),
        attributes: default_attributes(scheme),
    };
    let out = json!({ "LoadBalancers": [render(&lb, ctx.now)] });
    put_tags(ctx.partition, &lb.arn, tags);
    ctx.partition.load_balancers.insert(lb.arn.clone(), lb);
    Ok(out)
}

/// DescribeLoadBalancers: those named by `LoadBalancerArns` or `Names` (in request order),
/// or all of them (oldest first), a page at a time (`Marker`, `PageSize` 1–400).
///
/// Errors: `LoadBalancerNotFound` when any named one does not exist; `ValidationError` for
/// both ARNs and names, more than 20 of either, a malformed ARN, or a bad page.
fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arns = input.strings("LoadBalancerArns");
    let names = input.strings("Names");
    if !arns.is_empty() && !names.is_empty() {
        return Err(validation("Load balancer names and load balancer ARNs cannot be specified at the same time"));
    }
    for (member, list) in [("loadBalancerArns", &arns), ("names", &names)] {
        if list.len() > MAX_DESCRIBED {
            return Err(validation(format!(
                "1 validation error detected: Value '[{}]' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {MAX_DESCRIBED}",
                list.join(", ")
            )));
        }
    }
    let partition = &*ctx.partition;
    let mut found: Vec<&LoadBalancer> = Vec::new();
    if !arns.is_empty() {
        for arn in &arns {
            ResourceKind::LoadBalancer.check(arn)?;
            found.push(partition.load_balancers.get(arn).ok_or_else(load_balancer_not_found)?);
        }
    } else if !names.is_empty() {
        let missing: Vec<&str> =
            names.iter().filter(|n| !partition.load_balancers.values().any(|lb| &lb.name == *n)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(ApiError::client("LoadBalancerNotFoundException", format!("Load balancers '[{}]' not found", missing.join(", "))));
        }
        found = names.iter().filter_map(|n| partition.load_balancers.values().find(|lb| &lb.name == n)).collect();
    } else {
        found = partition.load_balancers.values().collect();
        found.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then_with(|| a.arn.cmp(&b.arn)));
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|lb| seen.insert(lb.arn.clone()));
    let (items, next) = page(&found, input)?;
    let mut out = Map::new();
    out.insert("LoadBalancers".into(), Value::Array(items.iter().map(|lb| render(lb, ctx.now)).collect()));
    put(&mut out, "NextMarker", next);
    Ok(Value::Object(out))
}

/// DeleteLoadBalancer: removes the load balancer with its listeners, their rules and all
/// their tags (targets stay registered in their target groups, as on AWS). Deleting one
/// that does not exist succeeds, as AWS documents.
///
/// Errors: `OperationNotPermitted` while `deletion_protection.enabled` is true;
/// `ValidationError` for a malformed ARN.
fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = input.str("LoadBalancerArn").unwrap_or_default().to_string();
    ResourceKind::LoadBalancer.check(&arn)?;
    let Some(lb) = ctx.partition.load_balancers.get(&arn) else {
        return Ok(json!({}));
    };
    if lb.attributes.get("deletion_protection.enabled").is_some_and(|v| v == "true") {
        return Err(ApiError::client(
            "OperationNotPermittedException",
            format!("Load balancer '{arn}' cannot be deleted because deletion protection is enabled"),
        ));
    }
    let partition = &mut *ctx.partition;
    let listeners: Vec<String> = partition.listeners.values().filter(|l| l.load_balancer_arn == arn).map(|l| l.arn.clone()).collect();
    let rules: Vec<String> = partition.rules.values().filter(|r| listeners.contains(&r.listener_arn)).map(|r| r.arn.clone()).collect();
    for rule in &rules {
        partition.rules.remove(rule);
        partition.elb_tags.remove(rule);
    }
    for listener in &listeners {
        partition.listeners.remove(listener);
        partition.elb_tags.remove(listener);
    }
    partition.load_balancers.remove(&arn);
    partition.elb_tags.remove(&arn);
    Ok(json!({}))
}

fn describe_attributes(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let lb = existing(ctx.partition, input)?;
    Ok(json!({ "Attributes": render_attributes(&lb.attributes) }))
}

/// ModifyLoadBalancerAttributes: sets the given attributes (at most 20) and answers all of
/// them. Every key and value is checked before any is set.
///
/// Errors: `LoadBalancerNotFound`; `ValidationError` for a key an application load
/// balancer does not have or a value out of its range; `InvalidConfigurationRequest` for
/// turning off cross-zone load balancing (always on for an ALB).
fn modify_attributes(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let lb = existing(ctx.partition, input)?;
    let arn = lb.arn.clone();
    let changes = key_values(input.array("Attributes"));
    if changes.len() > 20 {
        return Err(validation(
            "1 validation error detected: Value at 'attributes' failed to satisfy constraint: Member must have length less than or equal to 20",
        ));
    }
    let mut attributes = lb.attributes.clone();
    for (key, value) in changes {
        check_attribute(&key, &value)?;
        attributes.insert(key, value);
    }
    let out = json!({ "Attributes": render_attributes(&attributes) });
    if let Some(lb) = ctx.partition.load_balancers.get_mut(&arn) {
        lb.attributes = attributes;
    }
    Ok(out)
}

/// SetSecurityGroups: replaces the load balancer's security groups (at least one).
fn set_security_groups(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let arn = existing(ctx.partition, input)?.arn.clone();
    let groups = security_groups_from(input)?;
    if groups.is_empty() {
        return Err(validation("At least one security group must be specified for an application load balancer"));
    }
    if let Some(lb) = ctx.partition.load_balancers.get_mut(&arn) {
        lb.security_groups = groups.clone();
    }
    Ok(json!({ "SecurityGroupIds": groups }))
}

/// SetSubnets: replaces the load balancer's subnets (at least two) and so its Availability
/// Zones; `IpAddressType` may change with them.
fn set_subnets(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let lb = existing(ctx.partition, input)?;
    let arn = lb.arn.clone();
    let ip_address_type = input.str("IpAddressType").unwrap_or(&lb.ip_address_type).to_string();
    check_ip_address_type(&lb.scheme, &ip_address_type)?;
    let subnets = subnets_from(input)?;
    let zones = availability_zones(&ctx.caller.region, &subnets);
    if let Some(lb) = ctx.partition.load_balancers.get_mut(&arn) {
        lb.availability_zones = zones.clone();
        lb.ip_address_type = ip_address_type.clone();
    }
    Ok(json!({ "AvailabilityZones": zones, "IpAddressType": ip_address_type }))
}

/// SetIpAddressType: `ipv4`, `dualstack` or (internet-facing only)
/// `dualstack-without-public-ipv4`. ferry local's listeners listen on IPv4 loopback
/// whatever the type.
fn set_ip_address_type(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let lb = existing(ctx.partition, input)?;
    let arn = lb.arn.clone();
    let ip_address_type = input.str("IpAddressType").unwrap_or_default().to_string();
    check_ip_address_type(&lb.scheme, &ip_address_type)?;
    if let Some(lb) = ctx.partition.load_balancers.get_mut(&arn) {
        lb.ip_address_type = ip_address_type.clone();
    }
    Ok(json!({ "IpAddressType": ip_address_type }))
}

fn check_ip_address_type(scheme: &str, ip_address_type: &str) -> Result<(), ApiError> {
    if ip_address_type == "dualstack-without-public-ipv4" && scheme == "internal" {
        return Err(ApiError::client(
            "InvalidConfigurationRequestException",
            "The IP address type 'dualstack-without-public-ipv4' is supported only for internet-facing load balancers",
        ));
    }
    Ok(())
}

/// The subnets of `Subnets` or `SubnetMappings` (not both), each once, in request order:
/// at least two, as an application load balancer needs two Availability Zones.
fn subnets_from(input: &Input) -> Result<Vec<String>, ApiError> {
    if input.value("Subnets").is_some() && input.value("SubnetMappings").is_some() {
        return Err(validation("You can specify subnets or subnet mappings, but not both"));
    }
    let mut ids = input.strings("Subnets");
    for mapping in input.array("SubnetMappings") {
        if mapping.get("AllocationId").is_some() {
            return Err(ApiError::client(
                "InvalidConfigurationRequestException",
                "Elastic IP addresses (AllocationId) can be specified only for Network Load Balancers",
            ));
        }
        ids.push(mapping.get("SubnetId").and_then(Value::as_str).unwrap_or_default().to_string());
    }
    let mut subnets: Vec<String> = Vec::new();
    for id in ids {
        if id.len() <= "subnet-".len() || !id.starts_with("subnet-") || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::client("SubnetNotFoundException", format!("The subnet ID '{id}' is not valid")));
        }
        if !subnets.contains(&id) {
            subnets.push(id);
        }
    }
    if subnets.len() < 2 {
        return Err(validation("At least two subnets in two different Availability Zones must be specified"));
    }
    if subnets.len() > 26 {
        return Err(validation("You can specify at most one subnet per Availability Zone"));
    }
    Ok(subnets)
}

/// `SecurityGroups`, each `sg-…`, each once.
fn security_groups_from(input: &Input) -> Result<Vec<String>, ApiError> {
    let mut groups: Vec<String> = Vec::new();
    for id in input.strings("SecurityGroups") {
        if id.len() <= "sg-".len() || !id.starts_with("sg-") || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ApiError::client("InvalidSecurityGroupException", format!("The security group '{id}' does not exist")));
        }
        if !groups.contains(&id) {
            groups.push(id);
        }
    }
    Ok(groups)
}

/// One Availability Zone per subnet: `<region>a`, `<region>b`, … in order.
fn availability_zones(region: &str, subnets: &[String]) -> Value {
    let zones = subnets
        .iter()
        .zip('a'..='z')
        .map(|(subnet, letter)| json!({"ZoneName": format!("{region}{letter}"), "SubnetId": subnet, "LoadBalancerAddresses": []}));
    Value::Array(zones.collect())
}

fn subnet_ids(lb: &LoadBalancer) -> Vec<String> {
    let zones = lb.availability_zones.as_array().map(Vec::as_slice).unwrap_or(&[]);
    zones.iter().filter_map(|z| z.get("SubnetId").and_then(Value::as_str).map(str::to_string)).collect()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// The partition's one VPC: `vpc-` and 17 hex digits derived from the account and region.
fn vpc_id(ctx: &Ctx) -> String {
    format!("vpc-0{:016x}", stable_hash(&ctx.caller.partition()))
}

/// The VPC's default security group, given to a load balancer created without any.
fn default_security_group(ctx: &Ctx) -> String {
    format!("sg-0{:016x}", stable_hash(&format!("{}/default-security-group", ctx.caller.partition())))
}

/// A loopback address no other load balancer of the partition has (see the module
/// documentation). Errors: `TooManyLoadBalancers` when all 65,024 are taken.
fn allocate_address(ctx: &Ctx) -> Result<String, ApiError> {
    let second = 1 + stable_hash(&ctx.caller.partition()) % 250;
    let used: std::collections::HashSet<&str> = ctx.partition.load_balancers.values().map(|lb| lb.dns_name.as_str()).collect();
    (0..256 * 254)
        .map(|n| format!("127.{second}.{}.{}", n / 254, n % 254 + 1))
        .find(|address| !used.contains(address.as_str()))
        .ok_or_else(|| ApiError::client("TooManyLoadBalancersException", "No loopback address is left for another load balancer"))
}

/// The Route 53 hosted zone of application load balancers in `region` (AWS's published
/// values; us-east-1's for a region not listed).
fn hosted_zone_id(region: &str) -> &'static str {
    match region {
        "us-east-2" => "Z3AADJGX6KTTL2",
        "us-west-1" => "Z368ELLRRE2KJ0",
        "us-west-2" => "Z1H1FL5HABSF5",
        "eu-west-1" => "Z32O12XQLNTSW2",
        "eu-west-2" => "ZHURV8PSTC4K8",
        "eu-central-1" => "Z215JYRZR1TBD5",
        "ap-northeast-1" => "Z14GRHDCWA56QT",
        "ap-southeast-1" => "Z1LMS91P8CMLE5",
        "ap-southeast-2" => "Z1GM3OXH4ZPM65",
        _ => "Z35SXDOTRQ7X7K",
    }
}

/// What values an attribute takes.
enum Values {
    Bool,
    /// An integer in this range.
    Range(i64, i64),
    OneOf(&'static [&'static str]),
    /// Any text (S3 bucket names and prefixes; ferry local writes no S3 logs).
    Text,
}

/// The attributes of an application load balancer (the ELBv2 API reference,
/// `LoadBalancerAttribute`), their defaults and their values. `ipv6.deny_all_igw_traffic`'s
/// default depends on the scheme ([`default_attributes`]).
const ATTRIBUTES: &[(&str, &str, Values)] = &[
    ("access_logs.s3.enabled", "false", Values::Bool),
    ("access_logs.s3.bucket", "", Values::Text),
    ("access_logs.s3.prefix", "", Values::Text),
    ("client_keep_alive.seconds", "3600", Values::Range(60, 604_800)),
    ("connection_logs.s3.enabled", "false", Values::Bool),
    ("connection_logs.s3.bucket", "", Values::Text),
    ("connection_logs.s3.prefix", "", Values::Text),
    ("deletion_protection.enabled", "false", Values::Bool),
    ("health_check_logs.s3.enabled", "false", Values::Bool),
    ("health_check_logs.s3.bucket", "", Values::Text),
    ("health_check_logs.s3.prefix", "", Values::Text),
    ("idle_timeout.timeout_seconds", "60", Values::Range(1, 4000)),
    ("ipv6.deny_all_igw_traffic", "false", Values::Bool),
    ("load_balancing.cross_zone.enabled", "true", Values::Bool),
    ("routing.http.desync_mitigation_mode", "defensive", Values::OneOf(&["monitor", "defensive", "strictest"])),
    ("routing.http.drop_invalid_header_fields.enabled", "false", Values::Bool),
    ("routing.http.preserve_host_header.enabled", "false", Values::Bool),
    ("routing.http.x_amzn_tls_version_and_cipher_suite.enabled", "false", Values::Bool),
    ("routing.http.xff_client_port.enabled", "false", Values::Bool),
    ("routing.http.xff_header_processing.mode", "append", Values::OneOf(&["append", "preserve", "remove"])),
    ("routing.http2.enabled", "true", Values::Bool),
    ("waf.fail_open.enabled", "false", Values::Bool),
    ("zonal_shift.config.enabled", "false", Values::Bool),
];

/// AWS's attributes of a new application load balancer.
fn default_attributes(scheme: &str) -> BTreeMap<String, String> {
    let mut attributes: BTreeMap<String, String> = ATTRIBUTES.iter().map(|(k, v, _)| (k.to_string(), v.to_string())).collect();
    // Internet-facing load balancers accept internet gateway traffic; internal ones deny it.
    attributes.insert("ipv6.deny_all_igw_traffic".into(), (scheme == "internal").to_string());
    attributes
}

fn render_attributes(attributes: &BTreeMap<String, String>) -> Value {
    Value::Array(attributes.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect())
}

fn check_attribute(key: &str, value: &str) -> Result<(), ApiError> {
    let Some((_, _, values)) = ATTRIBUTES.iter().find(|(k, _, _)| *k == key) else {
        return Err(validation(format!("Load balancer attribute key '{key}' is not recognized")));
    };
    let invalid = |expected: &str| validation(format!("Load balancer attribute '{key}' has an invalid value '{value}': {expected}"));
    match values {
        Values::Bool if value != "true" && value != "false" => Err(invalid("it must be true or false")),
        Values::Range(min, max) => {
            let n: i64 = value.parse().map_err(|_| invalid(&format!("it must be an integer from {min} to {max}")))?;
            check_range(key, n, *min, *max).map_err(|_| invalid(&format!("it must be an integer from {min} to {max}")))
        }
        Values::OneOf(allowed) if !allowed.contains(&value) => Err(invalid(&format!("it must be one of {}", allowed.join(", ")))),
        _ if key == "load_balancing.cross_zone.enabled" && value != "true" => Err(ApiError::client(
            "InvalidConfigurationRequestException",
            "Cross-zone load balancing is always enabled for application load balancers",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{call, world};
    use super::*;

    fn create_input(name: &str) -> Value {
        json!({"Name": name, "Subnets": ["subnet-aaaa", "subnet-bbbb"], "SecurityGroups": ["sg-1234"]})
    }

    fn create_lb(p: &mut Partition, name: &str) -> Value {
        call(p, "CreateLoadBalancer", create_input(name), 100.0).unwrap()["LoadBalancers"][0].clone()
    }

    #[test]
    fn a_new_load_balancer_answers_aws_shapes_and_becomes_active_after_a_second() {
        let mut p = world();
        let lb = create_lb(&mut p, "web");
        let arn = lb["LoadBalancerArn"].as_str().unwrap();
        assert!(arn.starts_with("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/web/"), "{arn}");
        assert_eq!(arn.rsplit('/').next().unwrap().len(), 16);
        assert_eq!(lb["State"], json!({"Code": "provisioning"}));
        assert_eq!(
            (lb["Scheme"].as_str(), lb["Type"].as_str(), lb["IpAddressType"].as_str()),
            (Some("internet-facing"), Some("application"), Some("ipv4"))
        );
        assert_eq!(lb["CanonicalHostedZoneId"], "Z35SXDOTRQ7X7K");
        assert_eq!(
            lb["AvailabilityZones"],
            json!([{"ZoneName": "us-east-1a", "SubnetId": "subnet-aaaa", "LoadBalancerAddresses": []},
                   {"ZoneName": "us-east-1b", "SubnetId": "subnet-bbbb", "LoadBalancerAddresses": []}])
        );
        assert!(lb["VpcId"].as_str().unwrap().starts_with("vpc-"));
        let described = call(&mut p, "DescribeLoadBalancers", json!({"LoadBalancerArns": [arn]}), 100.5).unwrap();
        assert_eq!(described["LoadBalancers"][0]["State"]["Code"], "provisioning");
        let described = call(&mut p, "DescribeLoadBalancers", json!({"Names": ["web"]}), 101.0).unwrap();
        assert_eq!(described["LoadBalancers"][0]["State"]["Code"], "active");
        assert_eq!(p.load_balancers[arn].state, "provisioning", "a describe changes nothing");
    }

    #[test]
    fn each_load_balancer_gets_its_own_loopback_address_and_a_freed_one_is_reused() {
        let mut p = world();
        let a = create_lb(&mut p, "a");
        let b = create_lb(&mut p, "b");
        let (a_ip, b_ip) = (a["DNSName"].as_str().unwrap().to_string(), b["DNSName"].as_str().unwrap().to_string());
        let second = 1 + stable_hash("000000000000/us-east-1") % 250;
        assert_eq!(a_ip, format!("127.{second}.0.1"));
        assert_eq!(b_ip, format!("127.{second}.0.2"));
        assert!(a_ip.parse::<std::net::Ipv4Addr>().unwrap().is_loopback());
        call(&mut p, "DeleteLoadBalancer", json!({"LoadBalancerArn": a["LoadBalancerArn"]}), 100.0).unwrap();
        let c = create_lb(&mut p, "c");
        assert_eq!(c["DNSName"], a_ip.as_str());
    }

    #[test]
    fn the_same_name_and_settings_return_the_existing_one_and_other_settings_are_a_duplicate() {
        let mut p = world();
        let first = create_lb(&mut p, "web");
        let again = create_lb(&mut p, "web");
        assert_eq!(first["LoadBalancerArn"], again["LoadBalancerArn"]);
        assert_eq!(p.load_balancers.len(), 1);
        let mut internal = create_input("web");
        internal["Scheme"] = json!("internal");
        let e = call(&mut p, "CreateLoadBalancer", internal, 100.0).unwrap_err();
        assert_eq!(e.code, "DuplicateLoadBalancerNameException");
        assert!(e.message.contains("'web'"), "{}", e.message);
        assert_eq!(p.load_balancers.len(), 1);
    }

    #[test]
    fn names_types_and_subnets_are_checked_and_a_refused_create_changes_nothing() {
        let mut p = world();
        let refused = |p: &mut Partition, input: Value| call(p, "CreateLoadBalancer", input, 100.0).unwrap_err();
        let e = refused(&mut p, create_input(&"a".repeat(33)));
        assert_eq!((e.code.as_str(), e.message.contains("cannot be longer than '32' characters")), ("ValidationError", true));
        for bad in ["-web", "web-", "we_b", "internal-web"] {
            assert_eq!(refused(&mut p, create_input(bad)).code, "ValidationError", "{bad}");
        }
        let mut network = create_input("nlb");
        network["Type"] = json!("network");
        assert!(refused(&mut p, network).message.contains("application load balancers only"));
        let mut one_subnet = create_input("one");
        one_subnet["Subnets"] = json!(["subnet-aaaa", "subnet-aaaa"]);
        assert!(refused(&mut p, one_subnet).message.contains("At least two subnets"));
        let mut both = create_input("both");
        both["SubnetMappings"] = json!([{"SubnetId": "subnet-cccc"}]);
        assert_eq!(refused(&mut p, both).code, "ValidationError");
        let mut bad_subnet = create_input("bad");
        bad_subnet["Subnets"] = json!(["subnet-aaaa", "net-1"]);
        assert_eq!(refused(&mut p, bad_subnet).code, "SubnetNotFoundException");
        let mut bad_sg = create_input("bad");
        bad_sg["SecurityGroups"] = json!(["group"]);
        assert_eq!(refused(&mut p, bad_sg).code, "InvalidSecurityGroupException");
        let mut bad_tags = create_input("tagged");
        bad_tags["Tags"] = json!([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]);
        assert_eq!(refused(&mut p, bad_tags).code, "DuplicateTagKeysException");
        assert!(p.load_balancers.is_empty() && p.elb_tags.is_empty());
    }

    #[test]
    fn subnet_mappings_and_a_default_security_group_are_accepted() {
        let mut p = world();
        let input = json!({"Name": "mapped", "SubnetMappings": [{"SubnetId": "subnet-1"}, {"SubnetId": "subnet-2"}], "Scheme": "internal",
                           "Tags": [{"Key": "team", "Value": "a"}]});
        let lb = call(&mut p, "CreateLoadBalancer", input, 100.0).unwrap()["LoadBalancers"][0].clone();
        assert_eq!(lb["AvailabilityZones"][1]["SubnetId"], "subnet-2");
        assert!(lb["SecurityGroups"][0].as_str().unwrap().starts_with("sg-"));
        let arn = lb["LoadBalancerArn"].as_str().unwrap();
        assert_eq!(p.elb_tags[arn].len(), 1);
        let attributes = call(&mut p, "DescribeLoadBalancerAttributes", json!({"LoadBalancerArn": arn}), 100.0).unwrap();
        assert!(attributes["Attributes"].as_array().unwrap().contains(&json!({"Key": "ipv6.deny_all_igw_traffic", "Value": "true"})));
    }

    #[test]
    fn describe_pages_with_markers_and_refuses_unknown_names_and_arns() {
        let mut p = world();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            call(&mut p, "CreateLoadBalancer", create_input(name), 100.0 + i as f64).unwrap();
        }
        let first = call(&mut p, "DescribeLoadBalancers", json!({"PageSize": 2}), 200.0).unwrap();
        let names: Vec<&str> =
            first["LoadBalancers"].as_array().unwrap().iter().map(|lb| lb["LoadBalancerName"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "b"]);
        let marker = first["NextMarker"].as_str().unwrap();
        let second = call(&mut p, "DescribeLoadBalancers", json!({"PageSize": 2, "Marker": marker}), 200.0).unwrap();
        assert_eq!(second["LoadBalancers"][0]["LoadBalancerName"], "c");
        assert!(second.get("NextMarker").is_none());
        assert_eq!(call(&mut p, "DescribeLoadBalancers", json!({"PageSize": 401}), 200.0).unwrap_err().code, "ValidationError");
        assert_eq!(call(&mut p, "DescribeLoadBalancers", json!({"Marker": "nope"}), 200.0).unwrap_err().code, "ValidationError");
        let e = call(&mut p, "DescribeLoadBalancers", json!({"Names": ["a", "zzz"]}), 200.0).unwrap_err();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("LoadBalancerNotFoundException", "Load balancers '[zzz]' not found"));
        let missing = "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/zzz/0123456789abcdef";
        let e = call(&mut p, "DescribeLoadBalancers", json!({"LoadBalancerArns": [missing]}), 200.0).unwrap_err();
        assert_eq!(e.code, "LoadBalancerNotFoundException");
        assert_eq!(call(&mut p, "DescribeLoadBalancers", json!({"LoadBalancerArns": ["a"]}), 200.0).unwrap_err().code, "ValidationError");
    }

    #[test]
    fn attributes_have_aws_defaults_and_modify_checks_every_key_before_setting_any() {
        let mut p = world();
        let arn = create_lb(&mut p, "web")["LoadBalancerArn"].as_str().unwrap().to_string();
        let get = |p: &mut Partition, key: &str| -> String {
            let out = call(p, "DescribeLoadBalancerAttributes", json!({"LoadBalancerArn": arn}), 100.0).unwrap();
            let attrs = out["Attributes"].as_array().unwrap().clone();
            attrs.iter().find(|a| a["Key"] == key).map(|a| a["Value"].as_str().unwrap().to_string()).unwrap()
        };
        assert_eq!(get(&mut p, "idle_timeout.timeout_seconds"), "60");
        assert_eq!(get(&mut p, "deletion_protection.enabled"), "false");
        assert_eq!(get(&mut p, "routing.http2.enabled"), "true");
        let out = call(
            &mut p,
            "ModifyLoadBalancerAttributes",
            json!({"LoadBalancerArn": arn, "Attributes": [{"Key": "idle_timeout.timeout_seconds", "Value": "120"}]}),
            100.0,
        )
        .unwrap();
        assert!(out["Attributes"].as_array().unwrap().len() > 10, "all attributes are answered");
        assert_eq!(get(&mut p, "idle_timeout.timeout_seconds"), "120");
        for bad in [
            json!([{"Key": "idle_timeout.timeout_seconds", "Value": "30"}, {"Key": "idle_timeout.timeout_seconds", "Value": "4001"}]),
            json!([{"Key": "deletion_protection.enabled", "Value": "true"}, {"Key": "no.such.key", "Value": "1"}]),
            json!([{"Key": "deletion_protection.enabled", "Value": "yes"}]),
            json!([{"Key": "routing.http.xff_header_processing.mode", "Value": "drop"}]),
        ] {
            let e = call(&mut p, "ModifyLoadBalancerAttributes", json!({"LoadBalancerArn": arn, "Attributes": bad}), 100.0).unwrap_err();
            assert_eq!(e.code, "ValidationError", "{bad}");
        }
        let e = call(
            &mut p,
            "ModifyLoadBalancerAttributes",
            json!({"LoadBalancerArn": arn, "Attributes": [{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}]}),
            100.0,
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidConfigurationRequestException");
        assert_eq!(get(&mut p, "idle_timeout.timeout_seconds"), "120");
        assert_eq!(get(&mut p, "deletion_protection.enabled"), "false");
    }

    #[test]
    fn deletion_protection_refuses_delete_and_delete_takes_listeners_rules_and_tags_along() {
        let mut p = world();
        let arn = create_lb(&mut p, "web")["LoadBalancerArn"].as_str().unwrap().to_string();
        let protect = |p: &mut Partition, on: bool| {
            let attrs = json!([{"Key": "deletion_protection.enabled", "Value": on.to_string()}]);
            call(p, "ModifyLoadBalancerAttributes", json!({"LoadBalancerArn": arn, "Attributes": attrs}), 100.0).unwrap();
        };
        protect(&mut p, true);
        let e = call(&mut p, "DeleteLoadBalancer", json!({"LoadBalancerArn": arn}), 100.0).unwrap_err();
        assert_eq!(e.code, "OperationNotPermittedException");
        assert!(p.load_balancers.contains_key(&arn));
        protect(&mut p, false);
        let listener = format!("{}/fedcba9876543210", arn.replace(":loadbalancer/", ":listener/"));
        let rule = format!("{}/0011223344556677", listener.replace(":listener/", ":listener-rule/"));
        p.listeners.insert(
            listener.clone(),
            crate::state::Listener {
                arn: listener.clone(),
                load_balancer_arn: arn.clone(),
                port: 80,
                protocol: "HTTP".into(),
                created_at: 0.0,
                attributes: Default::default(),
            },
        );
        p.rules.insert(
            rule.clone(),
            crate::state::Rule {
                arn: rule.clone(),
                listener_arn: listener.clone(),
                priority: "default".into(),
                is_default: true,
                conditions: json!([]),
                actions: json!([]),
                created_at: 0.0,
            },
        );
        p.elb_tags.insert(listener.clone(), vec![]);
        p.elb_tags.insert(arn.clone(), vec![]);
        call(&mut p, "DeleteLoadBalancer", json!({"LoadBalancerArn": arn}), 100.0).unwrap();
        assert!(p.load_balancers.is_empty() && p.listeners.is_empty() && p.rules.is_empty() && p.elb_tags.is_empty());
        // Deleting it again succeeds, as AWS documents; a malformed ARN does not.
        call(&mut p, "DeleteLoadBalancer", json!({"LoadBalancerArn": arn}), 100.0).unwrap();
        assert_eq!(call(&mut p, "DeleteLoadBalancer", json!({"LoadBalancerArn": "web"}), 100.0).unwrap_err().code, "ValidationError");
    }

    #[test]
    fn security_groups_subnets_and_ip_address_type_can_be_replaced() {
        let mut p = world();
        let arn = create_lb(&mut p, "web")["LoadBalancerArn"].as_str().unwrap().to_string();
        let out = call(&mut p, "SetSecurityGroups", json!({"LoadBalancerArn": arn, "SecurityGroups": ["sg-9", "sg-8"]}), 100.0).unwrap();
        assert_eq!(out, json!({"SecurityGroupIds": ["sg-9", "sg-8"]}));
        let e = call(&mut p, "SetSecurityGroups", json!({"LoadBalancerArn": arn, "SecurityGroups": []}), 100.0).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        let out =
            call(&mut p, "SetSubnets", json!({"LoadBalancerArn": arn, "Subnets": ["subnet-x", "subnet-y", "subnet-z"]}), 100.0).unwrap();
        assert_eq!(out["AvailabilityZones"][2]["ZoneName"], "us-east-1c");
        let e = call(&mut p, "SetSubnets", json!({"LoadBalancerArn": arn, "Subnets": ["subnet-x"]}), 100.0).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert_eq!(p.load_balancers[&arn].availability_zones.as_array().unwrap().len(), 3);
        let out = call(&mut p, "SetIpAddressType", json!({"LoadBalancerArn": arn, "IpAddressType": "dualstack"}), 100.0).unwrap();
        assert_eq!(out, json!({"IpAddressType": "dualstack"}));
        assert_eq!(p.load_balancers[&arn].security_groups, ["sg-9", "sg-8"]);
        let missing = arn.replace("/web/", "/gone/");
        let e = call(&mut p, "SetIpAddressType", json!({"LoadBalancerArn": missing, "IpAddressType": "ipv4"}), 100.0).unwrap_err();
        assert_eq!(e.code, "LoadBalancerNotFoundException");
    }
}
