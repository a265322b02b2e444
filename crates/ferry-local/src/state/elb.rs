//! The records of ELBv2 (Elastic Load Balancing version 2, the botocore `elbv2` model):
//! application load balancers, their listeners and rules, target groups and the targets
//! registered in them with their health.
//!
//! The API handlers (`elbv2`) create and change them; the traffic engine (`traffic`:
//! listener proxies, health checks, draining) reads them and writes target health; the ECS
//! scheduler registers and deregisters a service's tasks through `records::targets`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An application load balancer (`LoadBalancer` in the model).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    /// What `DNSName` answers: the loopback address its listeners listen on, which resolves
    /// on this machine without any DNS (see docs/local.md).
    pub dns_name: String,
    pub canonical_hosted_zone_id: String,
    pub created_at: f64,
    /// `internet-facing` or `internal`.
    pub scheme: String,
    pub vpc_id: String,
    /// `provisioning` until shortly after creation, then `active` (`LoadBalancerStateEnum`).
    pub state: String,
    /// `application` (the only type ferry local serves).
    pub lb_type: String,
    /// `AvailabilityZones` as the API answers them (zone names and subnet ids).
    pub availability_zones: Value,
    pub security_groups: Vec<String>,
    /// `ipv4` or `dualstack`.
    pub ip_address_type: String,
    /// Load balancer attributes (`idle_timeout.timeout_seconds`, …), key → value, with AWS's
    /// defaults filled in at creation.
    pub attributes: BTreeMap<String, String>,
}

/// A listener (`Listener`): a port of its load balancer's address, served by a proxy. Its
/// default actions are those of its default rule (a [`Rule`] with `is_default`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub port: i64,
    /// `HTTP` (the only protocol ferry local serves).
    pub protocol: String,
    pub created_at: f64,
    /// Listener attributes, key → value.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A listener rule (`Rule`). The listener's default rule has `priority` "default" and
/// `is_default`; the others a priority 1–50000 as a decimal string, as the API answers it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rule {
    pub arn: String,
    pub listener_arn: String,
    pub priority: String,
    pub is_default: bool,
    /// `Conditions` as the API answers them (a list of `RuleCondition`).
    pub conditions: Value,
    /// `Actions` as the API answers them (a list of `Action`, each `forward` with a
    /// `ForwardConfig`, `fixed-response` or `redirect`).
    pub actions: Value,
    pub created_at: f64,
}

impl Rule {
    /// The priority as a number; the default rule sorts last.
    pub fn rank(&self) -> u32 {
        if self.is_default { u32::MAX } else { self.priority.parse().unwrap_or(u32::MAX - 1) }
    }
}

/// A target group (`TargetGroup`) and the targets registered in it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    /// `HTTP` for `instance` and `ip` target groups.
    pub protocol: Option<String>,
    /// `HTTP1` (default), `HTTP2` or `GRPC`.
    pub protocol_version: Option<String>,
    pub port: Option<i64>,
    pub vpc_id: Option<String>,
    /// `instance` (default), `ip`, `lambda` or `alb`.
    pub target_type: String,
    pub ip_address_type: Option<String>,
    pub health_check: HealthCheck,
    /// Target group attributes (`deregistration_delay.timeout_seconds` = "300",
    /// `slow_start.duration_seconds` = "0", …), key → value, with AWS's defaults.
    pub attributes: BTreeMap<String, String>,
    pub targets: Vec<Target>,
    pub created_at: f64,
}

impl TargetGroup {
    /// `deregistration_delay.timeout_seconds` in seconds (AWS's default 300).
    pub fn deregistration_delay(&self) -> f64 {
        self.attributes.get("deregistration_delay.timeout_seconds").and_then(|v| v.parse().ok()).unwrap_or(300.0)
    }

    /// The registered target with this id and port.
    pub fn target_mut(&mut self, id: &str, port: i64) -> Option<&mut Target> {
        self.targets.iter_mut().find(|t| t.id == id && t.port == port)
    }
}

#[cfg(test)]
impl TargetGroup {
    /// For tests: an HTTP:80 (`HTTP1`) group `name` of `ip` targets in vpc-1, IPv4, with the
    /// default health check, no attributes set and no targets, created at 0.
    pub fn for_test(arn: &str, name: &str) -> Self {
        TargetGroup {
            arn: arn.into(),
            name: name.into(),
            protocol: Some("HTTP".into()),
            protocol_version: Some("HTTP1".into()),
            port: Some(80),
            vpc_id: Some("vpc-1".into()),
            target_type: "ip".into(),
            ip_address_type: Some("ipv4".into()),
            health_check: HealthCheck::default(),
            attributes: Default::default(),
            targets: Vec::new(),
            created_at: 0.0,
        }
    }
}

/// A target group's health check settings, with AWS's defaults for an HTTP target group
/// when the request omits them (`CreateTargetGroup` in the ELBv2 API reference).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HealthCheck {
    pub enabled: bool,
    /// `HTTP` (default: the target group's protocol).
    pub protocol: String,
    /// A port number, or `traffic-port` (default): the port the target was registered with.
    pub port: String,
    /// Default `/`.
    pub path: String,
    /// Seconds, 5–300, default 30.
    pub interval_seconds: i64,
    /// Seconds, 2–120, default 5.
    pub timeout_seconds: i64,
    /// 2–10, default 5.
    pub healthy_threshold: i64,
    /// 2–10, default 2.
    pub unhealthy_threshold: i64,
    /// `Matcher.HttpCode`: "200" (default), "200,202", "200-299".
    pub matcher: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            enabled: true,
            protocol: "HTTP".into(),
            port: "traffic-port".into(),
            path: "/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: "200".into(),
        }
    }
}

/// A registered target and its health (`TargetHealthDescription`).
///
/// `state` is what the health checks and registration made of it: `initial`, `healthy`,
/// `unhealthy` or `draining`. `unused` (the group takes no traffic from any listener) and
/// `unavailable` (health checks disabled) are not stored: DescribeTargetHealth derives them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// An IP address (`ip` target groups) or an instance id (`instance`).
    pub id: String,
    pub port: i64,
    pub availability_zone: Option<String>,
    pub registered_at: f64,
    pub state: String,
    /// `TargetHealthReasonEnum` (`Elb.RegistrationInProgress`, `Target.ResponseCodeMismatch`, …).
    pub reason: Option<String>,
    pub description: Option<String>,
    /// Consecutive passed and failed health checks since the last change of state.
    pub passes: u32,
    pub failures: u32,
    /// When the last health check finished.
    pub last_checked_at: Option<f64>,
    /// When deregistration started: the target leaves the group once it has no request in
    /// flight, or at this time plus the group's deregistration delay.
    pub draining_since: Option<f64>,
    /// The ECS task that registered this target, for targets ECS manages for a service.
    pub task_arn: Option<String>,
}

/// `Target.Id` of an `instance` target group that ferry local answers for: its one host.
/// A target registered with it is reached on 127.0.0.1 at its port.
pub const LOCAL_INSTANCE_ID: &str = "i-0f0e0d0c0b0a09080";

impl Target {
    /// Where the proxy and the health checks reach this target: `ip:port`; instance targets
    /// live on this host (127.0.0.1).
    pub fn address(&self) -> String {
        if self.id.starts_with("i-") { format!("127.0.0.1:{}", self.port) } else { format!("{}:{}", self.id, self.port) }
    }
}
