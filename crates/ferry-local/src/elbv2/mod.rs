//! ELBv2 (Elastic Load Balancing version 2, API version 2015-12-01): the control plane of
//! application load balancers, served over the Query protocol (`protocol::AwsQuery`).
//!
//! Handlers only change state (`state::elb`), through `records::targets` where the ECS
//! scheduler changes the same records; the traffic engine (`traffic`: listener proxies,
//! health checks, draining) acts on it. The botocore `elbv2` model and the ELBv2 API
//! reference are the specification: member names, defaults, error codes and their wording.
//!
//! One file per kind of resource: `load_balancers`, `target_groups` (and their attributes),
//! `targets` (RegisterTargets, DeregisterTargets, DescribeTargetHealth), `listeners`,
//! `rules`, `tags`.

/// Listener and rule actions: checked and stored by the listener and rule handlers.
mod actions;
/// Rule conditions: checked and stored by the rule handlers, evaluated by the listener proxy.
pub(crate) mod conditions;
mod listeners;
mod load_balancers;
mod rules;
mod tags;
mod target_groups;
mod targets;

pub use crate::api::Ctx;
use crate::api::{ApiResult, Input};

/// The handler of an ELBv2 operation; None for one ferry local does not serve.
///
/// A listener or rule change that makes a target group used again (a rule forwards to it,
/// none did) sends its targets back to `initial`, to be health-checked afresh
/// (`records::targets::recheck_groups_back_in_use`).
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    let forwards_may_change = matches!(operation, "CreateListener" | "ModifyListener" | "CreateRule" | "ModifyRule");
    let used_before = forwards_may_change.then(|| crate::records::targets::groups_in_use(ctx.partition));
    let result = load_balancers::dispatch(operation, ctx, input)
        .or_else(|| target_groups::dispatch(operation, ctx, input))
        .or_else(|| targets::dispatch(operation, ctx, input))
        .or_else(|| listeners::dispatch(operation, ctx, input))
        .or_else(|| rules::dispatch(operation, ctx, input))
        .or_else(|| tags::dispatch(operation, ctx, input));
    if let (Some(before), Some(Ok(_))) = (&used_before, &result) {
        crate::records::targets::recheck_groups_back_in_use(ctx.partition, before);
    }
    result
}

// ---------------------------------------------------------------------------------------
// Shared helpers of the load balancer, target group, target and tag handlers (usable by
// every ELBv2 handler): AWS's validation wording, pagination, ARN kinds, not-found errors.
// ---------------------------------------------------------------------------------------

/// ELBv2's `ValidationError` (400): the code AWS answers for a request that breaks a
/// constraint of the API (a range, a name rule, a malformed ARN).
pub(crate) fn validation(message: impl Into<String>) -> crate::api::ApiError {
    crate::api::ApiError::client("ValidationError", message)
}

/// Checks that `value` lies in `min..=max`, the way AWS's model validation words it
/// (`1 validation error detected: Value '1' at 'healthCheckIntervalSeconds' failed to
/// satisfy constraint: Member must have value greater than or equal to 5`). `member` is
/// the member's name as the API spells it; the message gives it in lower camel case, as
/// AWS does.
pub(crate) fn check_range(member: &str, value: i64, min: i64, max: i64) -> Result<(), crate::api::ApiError> {
    let constraint = if value < min {
        format!("greater than or equal to {min}")
    } else if value > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(validation(format!(
        "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: Member must have value {constraint}",
        lower_camel(member)
    )))
}

/// `HealthCheckPath` → `healthCheckPath`, as AWS names members in validation messages.
pub(crate) fn lower_camel(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The page of `items` that the request's `Marker` and `PageSize` (1–400; all items up to
/// 400 when absent) select, and the `NextMarker` of the next page (None on the last).
///
/// Errors: `ValidationError` for a `PageSize` out of 1–400 or a `Marker` this endpoint did
/// not hand out.
pub(crate) fn page<T: Clone>(items: &[T], input: &Input) -> Result<(Vec<T>, Option<String>), crate::api::ApiError> {
    if let Some(size) = input.i64("PageSize") {
        check_range("PageSize", size, 1, 400)?;
    }
    let marker = input.str("Marker");
    crate::api::paginate(items, marker, input.i64("PageSize"), 400, 400)
        .map_err(|_| validation(format!("The marker '{}' is not valid", marker.unwrap_or_default())))
}

/// The kinds of ELBv2 resource an ARN can name (the first segment of its resource part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResourceKind {
    /// `loadbalancer/app/NAME/ID`
    LoadBalancer,
    /// `targetgroup/NAME/ID`
    TargetGroup,
    /// `listener/app/LB-NAME/LB-ID/ID`
    Listener,
    /// `listener-rule/app/LB-NAME/LB-ID/LISTENER-ID/ID`
    Rule,
}

impl ResourceKind {
    /// The kind of ELBv2 resource `arn` names, by its shape alone; None for anything that
    /// is not an `arn:aws:elasticloadbalancing:…` ARN of these kinds.
    pub(crate) fn of(arn: &str) -> Option<ResourceKind> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" {
            return None;
        }
        match parts[5].split('/').next() {
            Some("loadbalancer") => Some(ResourceKind::LoadBalancer),
            Some("targetgroup") => Some(ResourceKind::TargetGroup),
            Some("listener") => Some(ResourceKind::Listener),
            Some("listener-rule") => Some(ResourceKind::Rule),
            _ => None,
        }
    }

    /// Whether a resource of this kind with this ARN exists in the partition.
    pub(crate) fn exists(self, partition: &crate::state::Partition, arn: &str) -> bool {
        match self {
            ResourceKind::LoadBalancer => partition.load_balancers.contains_key(arn),
            ResourceKind::TargetGroup => partition.target_groups.contains_key(arn),
            ResourceKind::Listener => partition.listeners.contains_key(arn),
            ResourceKind::Rule => partition.rules.contains_key(arn),
        }
    }

    /// What AWS calls this kind in its messages (`target group`, …).
    pub(crate) fn noun(self) -> &'static str {
        match self {
            ResourceKind::LoadBalancer => "load balancer",
            ResourceKind::TargetGroup => "target group",
            ResourceKind::Listener => "listener",
            ResourceKind::Rule => "listener rule",
        }
    }

    /// Checks that `arn` is shaped as an ARN of this kind. Errors: `ValidationError`
    /// ("'web' is not a valid target group ARN", AWS's wording).
    pub(crate) fn check(self, arn: &str) -> Result<(), crate::api::ApiError> {
        if ResourceKind::of(arn) == Some(self) { Ok(()) } else { Err(validation(format!("'{arn}' is not a valid {} ARN", self.noun()))) }
    }

    /// The error AWS answers when a resource of this kind does not exist.
    pub(crate) fn not_found(self) -> crate::api::ApiError {
        match self {
            ResourceKind::LoadBalancer => load_balancer_not_found(),
            ResourceKind::TargetGroup => target_group_not_found(),
            ResourceKind::Listener => crate::api::ApiError::client("ListenerNotFoundException", "One or more listeners not found"),
            ResourceKind::Rule => crate::api::ApiError::client("RuleNotFoundException", "One or more rules not found"),
        }
    }
}

/// `LoadBalancerNotFound` (400), in AWS's words.
pub(crate) fn load_balancer_not_found() -> crate::api::ApiError {
    crate::api::ApiError::client("LoadBalancerNotFoundException", "One or more load balancers not found")
}

/// `TargetGroupNotFound` (400), in AWS's words.
pub(crate) fn target_group_not_found() -> crate::api::ApiError {
    crate::api::ApiError::client("TargetGroupNotFoundException", "One or more target groups not found")
}

/// `Tags` / `Attributes` style `[{Key, Value}]` list → (key, value) pairs.
pub(crate) fn key_values(list: &[serde_json::Value]) -> Vec<(String, String)> {
    list.iter()
        .map(|item| {
            let field = |name: &str| item.get(name).and_then(serde_json::Value::as_str).unwrap_or_default().to_string();
            (field("Key"), field("Value"))
        })
        .collect()
}

/// Checks a load balancer's or target group's name as AWS does: 1–32 characters,
/// alphanumerics and hyphens only, not beginning or ending with a hyphen. `what` opens
/// AWS's message (`Target group name`, `The load balancer name`).
///
/// Errors: `ValidationError` ("Target group name 'x…' cannot be longer than '32'
/// characters", AWS's wording).
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), crate::api::ApiError> {
    if name.is_empty() {
        return Err(validation(format!("{what} cannot be empty")));
    }
    if name.chars().count() > 32 {
        return Err(validation(format!("{what} '{name}' cannot be longer than '32' characters")));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(validation(format!("{what} '{name}' can only contain characters that are alphanumeric characters or hyphens(-)")));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(validation(format!("{what} '{name}' cannot begin or end with '-'")));
    }
    Ok(())
}

/// A stable 64-bit FNV-1a hash (the same on every build and platform), for ids ferry
/// local derives from names (VPC ids, loopback addresses).
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// What the handler tests share: a partition and a call through [`dispatch`], the input
/// checked against the model first as the server does.
#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::Value;

    use crate::api::{ApiResult, Caller, Ctx, Input};
    use crate::state::Partition;

    /// An empty partition of account 000000000000 in us-east-1.
    pub fn world() -> Partition {
        Partition { account: "000000000000".into(), region: "us-east-1".into(), ..Default::default() }
    }

    /// `operation` with `input` at time `now`, as the server runs it.
    pub fn call(partition: &mut Partition, operation: &str, input: Value, now: f64) -> ApiResult {
        let model = crate::model::Service::Elbv2.model().expect("the elbv2 model loads");
        model.validate(operation, &input)?;
        dispatch_at(partition, operation, &input, now)
    }

    /// `operation` with `input` straight to its handler at time 100, without the model's
    /// validation first, so that a test sees what the handler itself checks.
    pub fn handle(partition: &mut Partition, operation: &str, input: Value) -> ApiResult {
        dispatch_at(partition, operation, &input, 100.0)
    }

    fn dispatch_at(partition: &mut Partition, operation: &str, input: &Value, now: f64) -> ApiResult {
        let caller = Caller { account: "000000000000".into(), region: "us-east-1".into() };
        let mut ctx = Ctx { partition, caller: &caller, now };
        let map = input.as_object().cloned().unwrap_or_default();
        super::dispatch(operation, &mut ctx, &Input(&map)).expect("ferry local serves this operation")
    }

    /// A new load balancer `name` with a listener whose default rule forwards to `group`;
    /// returns the load balancer's ARN.
    pub fn forward_from_a_listener(p: &mut Partition, name: &str, group: &str) -> String {
        let created = call(p, "CreateLoadBalancer", serde_json::json!({"Name": name, "Subnets": ["subnet-1", "subnet-2"]}), 0.0).unwrap();
        let lb = created["LoadBalancers"][0]["LoadBalancerArn"].as_str().unwrap().to_string();
        let listener = format!("{}/fedcba9876543210", lb.replace(":loadbalancer/", ":listener/"));
        p.listeners.insert(
            listener.clone(),
            crate::state::Listener {
                arn: listener.clone(),
                load_balancer_arn: lb.clone(),
                port: 80,
                protocol: "HTTP".into(),
                created_at: 0.0,
                attributes: Default::default(),
            },
        );
        let rule = format!("{}/0011223344556677", listener.replace(":listener/", ":listener-rule/"));
        p.rules.insert(
            rule.clone(),
            crate::state::Rule {
                arn: rule,
                listener_arn: listener,
                priority: "default".into(),
                is_default: true,
                conditions: serde_json::json!([]),
                actions: serde_json::json!([{"Type": "forward", "TargetGroupArn": group}]),
                created_at: 0.0,
            },
        );
        lb
    }
}
