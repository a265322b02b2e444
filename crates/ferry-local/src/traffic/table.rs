//! The routing table: an immutable snapshot of what the listeners do, built from the ELB
//! records (by an ELBv2 write before it is answered, or by the reconcile loop when health
//! checks, draining or ECS changed them) and read by every proxied request without a lock
//! on the state (ferry local persists writes under the state lock; a request never waits behind
//! that).
//!
//! What is decided here, and where AWS says so (Elastic Load Balancing, *Application Load
//! Balancers* guide):
//! - rules are evaluated in priority order, the default rule last ("Listener rules");
//! - a forward action picks a target group by weight ("Forward actions": weights 0–999,
//!   optional target group stickiness with the `AWSALBTG` cookie);
//! - within a group only `healthy` targets take requests; when none is healthy the load
//!   balancer fails open to every registered target that is not draining ("Health checks
//!   for your target groups": "If a target group contains only unhealthy registered
//!   targets, the load balancer routes requests to all those targets");
//! - the group's `load_balancing.algorithm.type` (`round_robin`, the default,
//!   `least_outstanding_requests` or `weighted_random`) picks the target, and
//!   `stickiness.enabled` with `stickiness.type` = `lb_cookie` pins a client to one with
//!   the `AWSALB` cookie ("Sticky sessions");
//! - a redirect rebuilds the URL from `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without
//!   its leading `/`) and `#{query}` ("Redirect actions").

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::proxy::{Upstream, upstream};
use crate::state::{Partition, State, Target, TargetGroup};

/// AWS's default `idle_timeout.timeout_seconds` of an application load balancer.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// AWS's default `stickiness.lb_cookie.duration_seconds` (one day).
const DEFAULT_STICKINESS_SECONDS: u64 = 86_400;

/// A registered target's place in a group: ARN of the group, target id, port.
pub type TargetKey = (String, String, i64);

/// What the proxies and the reconcile loop share about one registered target, without a
/// lock: the requests in flight to it, and whether it drains.
///
/// The two flags make removal safe without a lock on the request path: a request claims a
/// slot with [`TargetSlot::try_acquire`] (count up, then check `draining`), the reconcile
/// loop with [`TargetSlot::drain`] (set `draining`, then read the count). With sequentially
/// consistent atomics one of the two sees the other, so a target found idle after `drain`
/// gets no request later.
#[derive(Debug, Default)]
pub struct TargetSlot {
    in_flight: AtomicUsize,
    draining: AtomicBool,
}

impl TargetSlot {
    /// Counts a request to this target; false (nothing counted) once it drains.
    pub fn try_acquire(&self) -> bool {
        if self.draining.load(Ordering::SeqCst) {
            return false;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.draining.load(Ordering::SeqCst) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Ends a request counted by [`TargetSlot::try_acquire`].
    pub fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Stops new requests and answers how many are still in flight.
    pub fn drain(&self) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        self.in_flight.load(Ordering::SeqCst)
    }

    /// A target registered again after it drained takes requests again.
    pub fn undrain(&self) {
        self.draining.store(false, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Every listener's routes, by listener ARN.
#[derive(Default)]
pub struct Table {
    pub listeners: HashMap<String, Arc<ListenerRoutes>>,
}

/// One listener: where it listens and its rules in priority order (the default rule last).
pub struct ListenerRoutes {
    pub ip: IpAddr,
    pub port: u16,
    /// The load balancer's `idle_timeout.timeout_seconds`: a client connection idle this
    /// long is closed, and a target that has not answered within it gets a 504.
    pub idle_timeout: Duration,
    pub rules: Vec<RouteRule>,
}

pub struct RouteRule {
    /// `1`…`50000`, or `default`.
    pub priority: Arc<str>,
    /// `Conditions` as the API answers them; empty for the default rule.
    pub conditions: Value,
    pub action: RouteAction,
}

pub enum RouteAction {
    Forward(Forward),
    Fixed(FixedResponse),
    Redirect(Redirect),
    /// A rule without a terminal action ferry local serves: answered 503.
    Unsupported,
}

impl RouteAction {
    /// The action's type as the access log names it (`actions_executed` of ALB's log).
    pub fn name(&self) -> &'static str {
        match self {
            RouteAction::Forward(_) => "forward",
            RouteAction::Fixed(_) => "fixed-response",
            RouteAction::Redirect(_) => "redirect",
            RouteAction::Unsupported => "unsupported",
        }
    }
}

/// A forward action: target groups and their weights (a single `TargetGroupArn` is one
/// group of weight 1).
pub struct Forward {
    pub groups: Vec<WeightedGroup>,
    /// The groups' weights, in order, for [`pick_weighted`].
    pub weights: Vec<u32>,
    /// Their sum: a roll is uniform in `0..total`.
    pub total: u64,
    /// `TargetGroupStickinessConfig`: seconds the `AWSALBTG` cookie keeps a client on the
    /// group it was sent to; None when disabled.
    pub stickiness: Option<u64>,
}

pub struct WeightedGroup {
    pub group: Arc<GroupRoutes>,
    pub weight: u32,
}

pub struct FixedResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// `RedirectConfig`, each component possibly holding `#{…}` keywords.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    pub protocol: String,
    pub host: String,
    pub port: String,
    pub path: String,
    pub query: String,
    /// 301 or 302.
    pub status: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
    WeightedRandom,
}

/// A target group as the proxy sees it: the targets that take new requests now.
pub struct GroupRoutes {
    pub name: Arc<str>,
    /// The `AWSALBTG` cookie value that names this group.
    pub cookie: String,
    /// Healthy targets; when none is healthy, every target that is not draining
    /// (fail-open). Draining targets are never here.
    pub targets: Vec<RouteTarget>,
    pub algorithm: Algorithm,
    /// `stickiness.lb_cookie.duration_seconds` when `lb_cookie` stickiness is on.
    pub stickiness: Option<u64>,
    next: AtomicUsize,
}

pub struct RouteTarget {
    /// `ip:port`, as the access log and the upstream URI write it.
    pub authority: Arc<str>,
    /// The `AWSALB` cookie value that names this target.
    pub cookie: String,
    pub slot: Arc<TargetSlot>,
    /// The pool of keep-alive connections to this target (one pool per registered target,
    /// so that a drained target's idle connections can be closed by dropping it).
    pub client: Upstream,
}

impl GroupRoutes {
    /// Picks a target for a new request and counts it in flight (the caller releases it):
    /// the sticky one if `sticky` names a target that takes requests, else by the group's
    /// algorithm. A target that began draining since this table was built is skipped. None
    /// when no target can take it (ALB answers 503).
    pub fn pick(&self, sticky: Option<&str>, roll: usize) -> Option<&RouteTarget> {
        let n = self.targets.len();
        if n == 0 {
            return None;
        }
        if let Some(cookie) = sticky
            && let Some(t) = self.targets.iter().find(|t| t.cookie == cookie)
            && t.slot.try_acquire()
        {
            return Some(t);
        }
        let start = match self.algorithm {
            Algorithm::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Algorithm::WeightedRandom => roll % n,
            Algorithm::LeastOutstandingRequests => {
                // The fewest in flight; ties go round robin.
                let offset = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|i| (i + offset) % n).min_by_key(|&i| self.targets[i].slot.in_flight()).unwrap_or(0)
            }
        };
        (0..n).map(|i| &self.targets[(start + i) % n]).find(|t| t.slot.try_acquire())
    }
}

/// The index of the weight `roll` falls in, `roll` being uniform in `0..sum(weights)`;
/// None when every weight is 0.
pub fn pick_weighted(weights: &[u32], roll: u64) -> Option<usize> {
    let mut acc = 0u64;
    for (i, &w) in weights.iter().enumerate() {
        acc += u64::from(w);
        if roll < acc {
            return Some(i);
        }
    }
    None
}

/// The request's parts a redirect may reuse.
pub struct Origin<'a> {
    /// `HTTP` (ferry local's listeners serve HTTP only).
    pub protocol: &'a str,
    /// The `Host` header without its port.
    pub host: &'a str,
    /// The listener's port.
    pub port: u16,
    /// The path, with its leading `/`.
    pub path: &'a str,
    /// The query string without `?`, possibly empty.
    pub query: &'a str,
}

/// The `Location` of a redirect: each component of `redirect` with the keywords replaced,
/// `protocol://host[:port]path[?query]`; the port is left out when it is the protocol's
/// default (80 for HTTP, 443 for HTTPS), the `?` when the query is empty.
pub fn redirect_location(redirect: &Redirect, origin: &Origin) -> String {
    let port = origin.port.to_string();
    let path = origin.path.strip_prefix('/').unwrap_or(origin.path);
    let fill = |text: &str| {
        text.replace("#{protocol}", &origin.protocol.to_ascii_lowercase())
            .replace("#{host}", origin.host)
            .replace("#{port}", &port)
            .replace("#{path}", path)
            .replace("#{query}", origin.query)
    };
    let protocol = fill(&redirect.protocol).to_ascii_lowercase();
    let (host, port, mut new_path, query) = (fill(&redirect.host), fill(&redirect.port), fill(&redirect.path), fill(&redirect.query));
    if !new_path.starts_with('/') {
        new_path.insert(0, '/');
    }
    let default_port = matches!((protocol.as_str(), port.as_str()), ("http", "80") | ("https", "443"));
    let mut location = format!("{protocol}://{host}");
    if !default_port && !port.is_empty() {
        location.push(':');
        location.push_str(&port);
    }
    location.push_str(&new_path);
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    location
}

/// A hash of everything in the ELB records that changes what the listeners do: when it is
/// unchanged, the published table is still right. Health-check counters and timestamps are
/// left out (they change on every check and route nothing).
pub fn fingerprint(state: &State) -> u64 {
    let mut h = DefaultHasher::new();
    for (key, p) in &state.partitions {
        key.hash(&mut h);
        for lb in p.load_balancers.values() {
            (&lb.arn, &lb.dns_name, &lb.attributes).hash(&mut h);
        }
        for l in p.listeners.values() {
            (&l.arn, &l.load_balancer_arn, l.port, &l.protocol).hash(&mut h);
        }
        for r in p.rules.values() {
            (&r.arn, &r.listener_arn, &r.priority, r.is_default).hash(&mut h);
            hash_value(&r.conditions, &mut h);
            hash_value(&r.actions, &mut h);
        }
        for g in p.target_groups.values() {
            (&g.arn, &g.name, &g.attributes).hash(&mut h);
            let hc = &g.health_check;
            (hc.enabled, &hc.protocol, &hc.port, &hc.path, hc.interval_seconds, hc.timeout_seconds).hash(&mut h);
            (hc.healthy_threshold, hc.unhealthy_threshold, &hc.matcher).hash(&mut h);
            for t in &g.targets {
                (&t.id, t.port, &t.state).hash(&mut h);
            }
        }
    }
    h.finish()
}

/// Hashes a JSON value through its serialization (no allocation).
fn hash_value(value: &Value, h: &mut DefaultHasher) {
    struct Writer<'a>(&'a mut DefaultHasher);
    impl std::io::Write for Writer<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let _ = serde_json::to_writer(Writer(h), value);
}

/// A short stable token for a cookie value.
fn token(parts: &[&str]) -> String {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Where a target is reached (`Target::address`: its IP address, or this host for an
/// instance id); None for one that does not read as an IPv4 address and port.
pub fn target_addr(target: &Target) -> Option<SocketAddr> {
    target.address().parse().ok()
}

/// The slot of a registered target, created on first sight and kept across tables (its
/// in-flight count must outlive any one table).
fn slot_for(slots: &mut HashMap<TargetKey, Arc<TargetSlot>>, group: &TargetGroup, target: &Target) -> Arc<TargetSlot> {
    let slot = slots.entry((group.arn.clone(), target.id.clone(), target.port)).or_default();
    if target.state == "draining" {
        slot.drain();
    } else {
        slot.undrain();
    }
    Arc::clone(slot)
}

/// The connection pool of a routed target, created on first sight and kept across tables.
fn client_for(clients: &mut HashMap<TargetKey, Upstream>, group: &TargetGroup, target: &Target) -> Upstream {
    clients.entry((group.arn.clone(), target.id.clone(), target.port)).or_insert_with(upstream).clone()
}

fn group_routes(
    group: &TargetGroup,
    slots: &mut HashMap<TargetKey, Arc<TargetSlot>>,
    clients: &mut HashMap<TargetKey, Upstream>,
) -> GroupRoutes {
    let live: Vec<&Target> = group.targets.iter().filter(|t| t.state != "draining").collect();
    let healthy: Vec<&Target> = live.iter().copied().filter(|t| t.state == "healthy").collect();
    // Health checks off: every registered target takes requests. Otherwise the healthy
    // ones, or all that are not draining when none is (fail-open).
    let routed = if !group.health_check.enabled || healthy.is_empty() { live } else { healthy };
    let targets = routed
        .into_iter()
        .filter_map(|t| {
            let addr = target_addr(t)?;
            Some(RouteTarget {
                authority: Arc::from(addr.to_string()),
                cookie: token(&[&group.arn, &t.id, &t.port.to_string()]),
                slot: slot_for(slots, group, t),
                client: client_for(clients, group, t),
            })
        })
        .collect();
    // Draining targets keep their slot (and its flag) while they drain.
    for t in group.targets.iter().filter(|t| t.state == "draining") {
        slot_for(slots, group, t);
    }
    let attr = |k: &str| group.attributes.get(k).map(String::as_str);
    let algorithm = match attr("load_balancing.algorithm.type") {
        Some("least_outstanding_requests") => Algorithm::LeastOutstandingRequests,
        Some("weighted_random") => Algorithm::WeightedRandom,
        _ => Algorithm::RoundRobin,
    };
    let stickiness = (attr("stickiness.enabled") == Some("true") && attr("stickiness.type").is_none_or(|t| t == "lb_cookie"))
        .then(|| attr("stickiness.lb_cookie.duration_seconds").and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_STICKINESS_SECONDS));
    GroupRoutes {
        name: Arc::from(group.name.as_str()),
        cookie: token(&[&group.arn]),
        targets,
        algorithm,
        stickiness,
        next: AtomicUsize::new(0),
    }
}

/// A number member that the API may have stored as a number or a numeric string.
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn boolean(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn text(value: &Value, key: &str, default: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or(default).to_string()
}

/// The terminal action of an action list (`forward`, `fixed-response` or `redirect`, after
/// any `authenticate-*` ones, in `Order`), as the proxy runs it.
pub fn route_action(actions: &Value, groups: &HashMap<&str, Arc<GroupRoutes>>) -> RouteAction {
    let mut list: Vec<&Value> = actions.as_array().map(|a| a.iter().collect()).unwrap_or_default();
    list.sort_by_key(|a| number(a.get("Order")).unwrap_or(u64::MAX));
    let Some(action) =
        list.into_iter().find(|a| matches!(a.get("Type").and_then(Value::as_str), Some("forward" | "fixed-response" | "redirect")))
    else {
        return RouteAction::Unsupported;
    };
    match action.get("Type").and_then(Value::as_str) {
        Some("fixed-response") => {
            let config = action.get("FixedResponseConfig").cloned().unwrap_or(Value::Null);
            RouteAction::Fixed(FixedResponse {
                status: number(config.get("StatusCode")).and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                content_type: config.get("ContentType").and_then(Value::as_str).map(str::to_string),
                body: Bytes::from(text(&config, "MessageBody", "")),
            })
        }
        Some("redirect") => {
            let config = action.get("RedirectConfig").cloned().unwrap_or(Value::Null);
            RouteAction::Redirect(Redirect {
                protocol: text(&config, "Protocol", "#{protocol}"),
                host: text(&config, "Host", "#{host}"),
                port: text(&config, "Port", "#{port}"),
                path: text(&config, "Path", "/#{path}"),
                query: text(&config, "Query", "#{query}"),
                status: if config.get("StatusCode").and_then(Value::as_str) == Some("HTTP_302") { 302 } else { 301 },
            })
        }
        _ => {
            let weighted = action.pointer("/ForwardConfig/TargetGroups").and_then(Value::as_array);
            let members: Vec<(&str, u32)> = match weighted {
                Some(list) if !list.is_empty() => list
                    .iter()
                    .filter_map(|g| {
                        let arn = g.get("TargetGroupArn").and_then(Value::as_str)?;
                        let weight = number(g.get("Weight")).map_or(1, |w| u32::try_from(w).unwrap_or(u32::MAX));
                        Some((arn, weight))
                    })
                    .collect(),
                _ => action.get("TargetGroupArn").and_then(Value::as_str).map(|arn| vec![(arn, 1)]).unwrap_or_default(),
            };
            let sticky = action.pointer("/ForwardConfig/TargetGroupStickinessConfig");
            let stickiness = sticky
                .filter(|s| boolean(s.get("Enabled")))
                .map(|s| number(s.get("DurationSeconds")).unwrap_or(DEFAULT_STICKINESS_SECONDS));
            let groups: Vec<WeightedGroup> = members
                .into_iter()
                .filter_map(|(arn, weight)| groups.get(arn).map(|g| WeightedGroup { group: Arc::clone(g), weight }))
                .collect();
            let weights: Vec<u32> = groups.iter().map(|g| g.weight).collect();
            let total = weights.iter().map(|&w| u64::from(w)).sum();
            RouteAction::Forward(Forward { groups, weights, total, stickiness })
        }
    }
}

/// The routing table of every listener of `partition`, added to `table`. Slots are kept
/// in `slots` (created for new targets, their draining flag set from the records), the
/// routed targets' connection pools in `clients` (created for new ones).
pub fn add_partition(
    table: &mut Table,
    partition: &Partition,
    slots: &mut HashMap<TargetKey, Arc<TargetSlot>>,
    clients: &mut HashMap<TargetKey, Upstream>,
) {
    let groups: HashMap<&str, Arc<GroupRoutes>> =
        partition.target_groups.values().map(|g| (g.arn.as_str(), Arc::new(group_routes(g, slots, clients)))).collect();
    for listener in partition.listeners.values() {
        let Some(lb) = partition.load_balancers.get(&listener.load_balancer_arn) else { continue };
        let (Ok(ip), Ok(port)) = (lb.dns_name.parse::<IpAddr>(), u16::try_from(listener.port)) else {
            continue;
        };
        let idle_timeout = lb
            .attributes
            .get("idle_timeout.timeout_seconds")
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_secs);
        let mut rules: Vec<_> = partition.rules.values().filter(|r| r.listener_arn == listener.arn).collect();
        rules.sort_by_key(|r| r.rank());
        let rules = rules
            .into_iter()
            .map(|r| RouteRule {
                priority: Arc::from(r.priority.as_str()),
                conditions: if r.is_default { Value::Array(Vec::new()) } else { r.conditions.clone() },
                action: route_action(&r.actions, &groups),
            })
            .collect();
        table.listeners.insert(listener.arn.clone(), Arc::new(ListenerRoutes { ip, port, idle_timeout, rules }));
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    use super::*;

    fn target(id: &str, port: i64, state: &str) -> Target {
        Target {
            id: id.into(),
            port,
            availability_zone: None,
            registered_at: 0.0,
            state: state.into(),
            reason: None,
            description: None,
            passes: 0,
            failures: 0,
            last_checked_at: None,
            draining_since: None,
            task_arn: None,
        }
    }

    fn group(targets: Vec<Target>) -> TargetGroup {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef";
        TargetGroup { vpc_id: None, ip_address_type: None, targets, ..TargetGroup::for_test(arn, "web") }
    }

    fn port(t: &RouteTarget) -> u16 {
        t.authority.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn routed(g: &GroupRoutes) -> Vec<u16> {
        g.targets.iter().map(port).collect()
    }

    #[test]
    fn weighted_choice_splits_by_weight_within_binomial_tolerance() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let weights = [90, 10];
        let n = 10_000;
        let mut counts = [0u32; 2];
        for _ in 0..n {
            counts[pick_weighted(&weights, rng.random_range(0..100)).unwrap()] += 1;
        }
        // Binomial(n, 0.1): standard deviation 30; four of them is far beyond chance.
        let expected = f64::from(n) * 0.1;
        let sd = (f64::from(n) * 0.1 * 0.9).sqrt();
        assert!((f64::from(counts[1]) - expected).abs() < 4.0 * sd, "{counts:?}");
        assert_eq!(counts[0] + counts[1], n);
    }

    #[test]
    fn a_zero_weight_group_is_never_picked_and_all_zero_picks_none() {
        for roll in 0..10 {
            assert_eq!(pick_weighted(&[0, 10, 0], roll), Some(1));
        }
        assert_eq!(pick_weighted(&[0, 0], 0), None);
        assert_eq!(pick_weighted(&[], 0), None);
    }

    #[test]
    fn only_healthy_targets_take_requests_while_one_is_healthy() {
        let mut slots = HashMap::new();
        let g = group(vec![target("127.0.0.1", 1, "healthy"), target("127.0.0.1", 2, "unhealthy"), target("127.0.0.1", 3, "initial")]);
        assert_eq!(routed(&group_routes(&g, &mut slots, &mut HashMap::new())), vec![1]);
    }

    #[test]
    fn with_no_healthy_target_the_group_fails_open_to_all_but_draining_ones() {
        let mut slots = HashMap::new();
        let g = group(vec![target("127.0.0.1", 1, "unhealthy"), target("127.0.0.1", 2, "initial"), target("127.0.0.1", 3, "draining")]);
        let routes = group_routes(&g, &mut slots, &mut HashMap::new());
        assert_eq!(routed(&routes), vec![1, 2]);
        // The draining one has its slot, marked draining.
        assert!(slots[&(g.arn.clone(), "127.0.0.1".to_string(), 3)].is_draining());
        let empty = group(vec![target("127.0.0.1", 3, "draining")]);
        assert!(group_routes(&empty, &mut slots, &mut HashMap::new()).pick(None, 0).is_none());
    }

    #[test]
    fn health_checks_off_route_to_every_target_not_draining() {
        let mut slots = HashMap::new();
        let mut g = group(vec![target("127.0.0.1", 1, "healthy"), target("127.0.0.1", 2, "initial")]);
        g.health_check.enabled = false;
        assert_eq!(routed(&group_routes(&g, &mut slots, &mut HashMap::new())), vec![1, 2]);
    }

    #[test]
    fn round_robin_alternates_and_skips_a_target_that_began_draining() {
        let mut slots = HashMap::new();
        let g = group(vec![target("127.0.0.1", 1, "healthy"), target("127.0.0.1", 2, "healthy")]);
        let routes = group_routes(&g, &mut slots, &mut HashMap::new());
        let picks: Vec<u16> = (0..4)
            .map(|_| {
                let t = routes.pick(None, 0).unwrap();
                t.slot.release();
                port(t)
            })
            .collect();
        assert_eq!(picks, vec![1, 2, 1, 2]);
        assert_eq!(routes.targets[0].slot.drain(), 0);
        for _ in 0..3 {
            let t = routes.pick(None, 0).unwrap();
            assert_eq!(port(t), 2);
            t.slot.release();
        }
    }

    #[test]
    fn a_draining_slot_refuses_new_requests_and_counts_those_in_flight() {
        let slot = TargetSlot::default();
        assert!(slot.try_acquire());
        assert_eq!(slot.drain(), 1);
        assert!(!slot.try_acquire());
        slot.release();
        assert_eq!(slot.drain(), 0);
        slot.undrain();
        assert!(slot.try_acquire());
    }

    #[test]
    fn a_sticky_cookie_keeps_the_target_and_least_outstanding_picks_the_idlest() {
        let mut slots = HashMap::new();
        let mut g = group(vec![target("127.0.0.1", 1, "healthy"), target("127.0.0.1", 2, "healthy")]);
        g.attributes.insert("load_balancing.algorithm.type".into(), "least_outstanding_requests".into());
        let routes = group_routes(&g, &mut slots, &mut HashMap::new());
        let cookie = routes.targets[1].cookie.clone();
        for _ in 0..3 {
            assert_eq!(port(routes.pick(Some(&cookie), 0).unwrap()), 2);
        }
        // Port 2 has 3 in flight: the least outstanding is port 1, every time.
        for _ in 0..3 {
            let t = routes.pick(None, 0).unwrap();
            assert_eq!(port(t), 1);
            t.slot.release();
        }
    }

    fn origin() -> Origin<'static> {
        Origin { protocol: "HTTP", host: "shop.example.com", port: 8080, path: "/cart/items", query: "a=1&b=2" }
    }

    fn redirect(protocol: &str, host: &str, port: &str, path: &str, query: &str) -> Redirect {
        Redirect { protocol: protocol.into(), host: host.into(), port: port.into(), path: path.into(), query: query.into(), status: 301 }
    }

    #[test]
    fn a_redirect_of_defaults_is_the_request_url() {
        let r = redirect("#{protocol}", "#{host}", "#{port}", "/#{path}", "#{query}");
        assert_eq!(redirect_location(&r, &origin()), "http://shop.example.com:8080/cart/items?a=1&b=2");
    }

    #[test]
    fn a_redirect_substitutes_keywords_and_drops_default_ports_and_empty_queries() {
        let r = redirect("HTTPS", "www.#{host}", "443", "/new/#{path}", "from=#{port}");
        assert_eq!(redirect_location(&r, &origin()), "https://www.shop.example.com/new/cart/items?from=8080");
        let r = redirect("#{protocol}", "#{host}", "80", "/", "");
        assert_eq!(redirect_location(&r, &origin()), "http://shop.example.com/");
    }

    #[test]
    fn actions_in_the_api_shape_become_routes() {
        let mut slots = HashMap::new();
        let tg = group(vec![]);
        let groups: HashMap<&str, Arc<GroupRoutes>> =
            [(tg.arn.as_str(), Arc::new(group_routes(&tg, &mut slots, &mut HashMap::new())))].into();
        let forward = json!([{"Type": "forward", "Order": 1, "TargetGroupArn": tg.arn,
            "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": tg.arn, "Weight": 7}, {"TargetGroupArn": "gone", "Weight": 3}],
                              "TargetGroupStickinessConfig": {"Enabled": true, "DurationSeconds": 60}}}]);
        match route_action(&forward, &groups) {
            RouteAction::Forward(f) => {
                assert_eq!(f.groups.len(), 1);
                assert_eq!(f.groups[0].weight, 7);
                assert_eq!(f.stickiness, Some(60));
            }
            _ => panic!("not a forward"),
        }
        let fixed = json!([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "tea"}}]);
        match route_action(&fixed, &groups) {
            RouteAction::Fixed(f) => assert_eq!((f.status, f.content_type.as_deref(), &f.body[..]), (418, Some("text/plain"), &b"tea"[..])),
            _ => panic!("not a fixed response"),
        }
        let redirect = json!([{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_302"}}]);
        match route_action(&redirect, &groups) {
            RouteAction::Redirect(r) => assert_eq!((r.status, r.host.as_str(), r.path.as_str()), (302, "#{host}", "/#{path}")),
            _ => panic!("not a redirect"),
        }
    }
}
