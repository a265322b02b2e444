//! The prober: light HTTP requests sent through a service's production listener while a
//! deploy moves its traffic, counted so the deploy can say how many failed.
//!
//! Two pure parts live here, the I/O in the adapters and in ferry-app:
//!
//! - **Where to send** ([`choose_target`]): from what ELBv2 describes — the load balancer
//!   (`DescribeLoadBalancers`), its listeners (`DescribeListeners`) and their rules
//!   (`DescribeRules`) — the listener and rule that forward to the service's target group,
//!   and so the URL (`http://DNSName:Port/path`) and `Host` header of a request that the
//!   listener routes to that group; or why there is none ferry can send to ([`NoProbe`]).
//!   The rules are matched as the ELB user guide's "Listener rules" says: by priority,
//!   lowest first, the default rule last; a condition's values are alternatives; in a
//!   `path-pattern` or `host-header` value `*` matches any run of characters and `?` one;
//!   path patterns are case-sensitive, host names not.
//! - **What came back** ([`ProbeRecorder`]): each request's latency and outcome, turned into
//!   [`ProbeStats`] (sent, failed, p50/p99/max, the last failures) and, for the gates of
//!   later strategies, [`ProbeRecorder::failed_since`].

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// How many of the newest failures the stats keep, with their reasons.
pub const KEPT_FAILURES: usize = 5;

/// The most requests per second a probe may be configured to send: light on the service,
/// and bounded memory (one latency sample per request is kept, see [`ProbeRecorder`]).
pub const MAX_RATE: f64 = 50.0;

/// Requests per second unless configured.
pub const DEFAULT_RATE: f64 = 2.0;

/// How long one request may take unless configured; past it, it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a request's timeout may be configured.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The status codes a probe answer must have, unless configured: success or redirect.
pub const DEFAULT_EXPECT: &str = "200-399";

/// The status codes that count as success: ranges, as written in ferry.toml
/// (`"200-399"`, `"200,204"`, `"200-299,404"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedStatus {
    ranges: Vec<(u16, u16)>,
}

impl ExpectedStatus {
    /// Parses `200-399`, `200`, `200,204,301-302`: codes 100 to 599, a range low to high.
    /// The error says what was wrong and what is expected.
    pub fn parse(text: &str) -> Result<ExpectedStatus, String> {
        let example = "expected status codes like \"200-399\", \"200\" or \"200,204,301-302\"";
        let code = |part: &str| -> Result<u16, String> {
            match part.trim().parse::<u16>() {
                Ok(code) if (100..=599).contains(&code) => Ok(code),
                _ => Err(format!("{} is not an HTTP status code (100-599): {example}", crate::text::quoted(part.trim()))),
            }
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            if part.trim().is_empty() {
                return Err(format!("{} has an empty part: {example}", crate::text::quoted(text)));
            }
            let range = match part.split_once('-') {
                Some((low, high)) => (code(low)?, code(high)?),
                None => {
                    let code = code(part)?;
                    (code, code)
                }
            };
            if range.0 > range.1 {
                return Err(format!("{} goes from high to low: {example}", crate::text::quoted(part.trim())));
            }
            ranges.push(range);
        }
        Ok(ExpectedStatus { ranges })
    }

    /// Whether `status` is one of the expected codes.
    pub fn contains(&self, status: u16) -> bool {
        self.ranges.iter().any(|(low, high)| (*low..=*high).contains(&status))
    }
}

impl Default for ExpectedStatus {
    fn default() -> Self {
        ExpectedStatus { ranges: vec![(200, 399)] }
    }
}

impl fmt::Display for ExpectedStatus {
    /// As ferry.toml writes it: `200-399`, `200,204`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> =
            self.ranges.iter().map(|(low, high)| if low == high { low.to_string() } else { format!("{low}-{high}") }).collect();
        f.write_str(&parts.join(","))
    }
}

/// A load balancer as `DescribeLoadBalancers` describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadBalancerInfo {
    pub arn: String,
    /// The name in its ARN, for messages.
    pub name: String,
    /// `DNSName`: where its listeners listen (a loopback address on ferry local).
    pub dns_name: String,
    /// `internet-facing` or `internal` (reachable only from inside its VPC).
    pub scheme: String,
}

/// One action of a listener or rule (`Action`), as far as routing goes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionInfo {
    /// `forward`, `redirect`, `fixed-response`, `authenticate-oidc`, `authenticate-cognito`.
    pub kind: String,
    /// `Order`: actions run lowest first; the last one is the one that answers.
    pub order: Option<i32>,
    /// A forward's target groups with their weights: `TargetGroupArn` (weight 1), or each
    /// of `ForwardConfig.TargetGroups` (a missing weight is 1, as the API reference says).
    pub target_groups: Vec<(String, i32)>,
}

/// One condition of a rule (`RuleCondition`): its field and its values, from `Values` or
/// the field's own config (`PathPatternConfig.Values`, `HostHeaderConfig.Values`, ...;
/// a query string pair as `key=value`, or `value` alone).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConditionInfo {
    /// `path-pattern`, `host-header`, `http-request-method`, `http-header`, `query-string`
    /// or `source-ip`.
    pub field: String,
    pub values: Vec<String>,
}

/// A listener rule (`Rule`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleInfo {
    pub arn: String,
    /// `Priority`: `1` to `50000`, or `default`.
    pub priority: String,
    pub is_default: bool,
    pub conditions: Vec<ConditionInfo>,
    pub actions: Vec<ActionInfo>,
}

/// A listener (`Listener`) and its rules (`DescribeRules`, the default rule included or not).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListenerInfo {
    pub arn: String,
    pub port: i32,
    /// `HTTP`, `HTTPS`, `TCP`, `TLS`, `UDP`, `TCP_UDP`, `GENEVE`.
    pub protocol: String,
    pub default_actions: Vec<ActionInfo>,
    pub rules: Vec<RuleInfo>,
}

/// Where the prober sends its requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeTarget {
    /// `http://DNSName:Port/path`.
    pub url: String,
    /// The `Host` header the rule needs (its `host-header` condition), when it has one.
    pub host_header: Option<String>,
    /// How it was found, for messages: `listener 80 of web-lb, rule 10` or `probe.url`.
    pub via: String,
}

/// Why ferry cannot probe a service through its load balancer; said once, the deploy goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoProbe(pub String);

impl fmt::Display for NoProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The request the prober would send through a rule.
struct Probe {
    path: String,
    host: Option<String>,
}

/// Where to probe target group `target_group` of load balancer `lb`: the first listener (plain
/// HTTP ones first, port 80 first, then by port) with a rule — by priority, the default
/// rule last — whose action forwards to the group with a weight above zero, and whose
/// conditions name a request ferry can send that no rule before it catches. `path` is the
/// configured `probe.path`; it must match the rule's `path-pattern` when it has one. Without
/// it, the path is the rule's: a pattern without wildcards, or the part of one before a
/// trailing `*` (`/api/*` → `/api/`), else `/`.
///
/// The error says why not, for the listener and rule that came closest: an HTTPS listener
/// (the prober speaks plain HTTP), a rule that authenticates first, a path ferry would have
/// to guess, a condition it cannot satisfy (`source-ip`, `http-header`, `query-string`, a
/// method other than GET), an earlier rule that would catch the request, or no listener
/// that forwards to the group at all.
///
/// `via` (a listener or listener rule ARN): only that rule (or that listener's default
/// action) may be the one the request reaches, the others still catching it first when they
/// would — the production or preparing rule of a blue/green deploy, when both forward to
/// the same group.
pub fn choose_target(
    target_group: &str,
    lb: &LoadBalancerInfo,
    listeners: &[ListenerInfo],
    path: Option<&str>,
    via: Option<&str>,
) -> Result<ProbeTarget, NoProbe> {
    let group = crate::platform::target_group_name(target_group);
    let mut ordered: Vec<&ListenerInfo> = listeners.iter().collect();
    ordered.sort_by_key(|l| (l.protocol != "HTTP", l.port != 80, l.port));
    let mut first_reason: Option<String> = None;
    for listener in ordered {
        let rules = rules_in_order(listener);
        for (index, rule) in rules.iter().enumerate() {
            let is_default = rule.is_default || rule.priority == "default";
            if let Some(via) = via
                && !(rule.arn == via || (is_default && listener.arn == via))
            {
                continue;
            }
            let where_ = format!("listener {} ({}) of {}, {}", listener.port, listener.protocol, lb.name, rule_name(rule));
            let reason = match forwards_to(&rule.actions, target_group) {
                Forward::No => continue,
                Forward::WeightZero => format!("{where_} forwards to {group} with weight 0"),
                Forward::AfterAuthentication => {
                    format!("{where_} authenticates before it forwards to {group}: set probe.url to a URL that does not")
                }
                Forward::Yes if listener.protocol != "HTTP" => format!(
                    "{where_} forwards to {group} over {}; the prober sends plain HTTP: set probe.url to an http:// URL that reaches {group}",
                    listener.protocol
                ),
                Forward::Yes => match request_for(rule, path) {
                    Err(why) => format!("{where_}: {why}"),
                    Ok(probe) => match rules[..index].iter().find(|earlier| matches(earlier, &probe)) {
                        Some(earlier) => format!(
                            "{where_} forwards to {group}, but a request to {}{} would match {} first: set probe.path (or probe.url)",
                            probe.path,
                            probe.host.as_deref().map(|h| format!(" with Host {h}")).unwrap_or_default(),
                            rule_name(earlier)
                        ),
                        None => {
                            let host = if lb.dns_name.contains(':') { format!("[{}]", lb.dns_name) } else { lb.dns_name.clone() };
                            return Ok(ProbeTarget {
                                url: format!("http://{host}:{}{}", listener.port, probe.path),
                                host_header: probe.host,
                                via: format!("listener {} of {}, {}", listener.port, lb.name, rule_name(rule)),
                            });
                        }
                    },
                },
            };
            first_reason.get_or_insert(reason);
        }
    }
    Err(NoProbe(first_reason.unwrap_or_else(|| format!("no listener of load balancer {} forwards to target group {group}", lb.name))))
}

/// A listener's rules by priority, the default rule last (made from the listener's default
/// actions when DescribeRules did not return it).
fn rules_in_order(listener: &ListenerInfo) -> Vec<RuleInfo> {
    let mut rules: Vec<RuleInfo> = listener.rules.iter().filter(|r| !r.is_default && r.priority != "default").cloned().collect();
    rules.sort_by_key(|r| r.priority.parse::<u32>().unwrap_or(u32::MAX));
    let default = listener.rules.iter().find(|r| r.is_default || r.priority == "default").cloned().unwrap_or_else(|| RuleInfo {
        arn: String::new(),
        priority: "default".into(),
        is_default: true,
        conditions: Vec::new(),
        actions: listener.default_actions.clone(),
    });
    rules.push(default);
    rules
}

fn rule_name(rule: &RuleInfo) -> String {
    if rule.is_default || rule.priority == "default" { "its default action".to_string() } else { format!("rule {}", rule.priority) }
}

enum Forward {
    No,
    Yes,
    WeightZero,
    AfterAuthentication,
}

/// Whether the answering action (the last by `Order`) forwards to `target_group`.
fn forwards_to(actions: &[ActionInfo], target_group: &str) -> Forward {
    let mut ordered: Vec<&ActionInfo> = actions.iter().collect();
    ordered.sort_by_key(|a| a.order.unwrap_or(i32::MAX));
    let Some(last) = ordered.last() else { return Forward::No };
    if last.kind != "forward" {
        return Forward::No;
    }
    let Some((_, weight)) = last.target_groups.iter().find(|(arn, _)| arn == target_group) else { return Forward::No };
    if *weight <= 0 {
        return Forward::WeightZero;
    }
    if ordered.iter().any(|a| a.kind.starts_with("authenticate")) {
        return Forward::AfterAuthentication;
    }
    Forward::Yes
}

/// The request ferry sends through `rule`, or why its conditions leave none to send.
fn request_for(rule: &RuleInfo, configured_path: Option<&str>) -> Result<Probe, String> {
    let mut path = configured_path.map(str::to_string);
    let mut host = None;
    for condition in &rule.conditions {
        let values = condition.values.join(", ");
        match condition.field.as_str() {
            "path-pattern" => match configured_path {
                Some(configured) => {
                    if !condition.values.iter().any(|p| glob(p, path_only(configured), false)) {
                        return Err(format!(
                            "probe.path {configured} does not match its path patterns ({values}), so the requests would not reach the group"
                        ));
                    }
                }
                _ => {
                    path =
                        Some(path_from_patterns(&condition.values).ok_or_else(|| {
                            format!("its path patterns ({values}) name no path to send to without guessing: set probe.path")
                        })?);
                }
            },
            "host-header" => {
                let exact = condition.values.iter().find(|v| !v.contains(['*', '?']));
                let chosen = exact.or(condition.values.first()).ok_or("its host-header condition has no value")?;
                host = Some(chosen.replace('*', "ferry-probe").replace('?', "x"));
            }
            "http-request-method" => {
                if !condition.values.iter().any(|m| m == "GET") {
                    return Err(format!("it matches only {values} requests; the prober sends GET"));
                }
            }
            other => {
                return Err(format!("it matches on {other} ({values}), which the prober does not send: set probe.url"));
            }
        }
    }
    Ok(Probe { path: path.unwrap_or_else(|| "/".to_string()), host })
}

/// The path part of a configured path (`/health?full=1` → `/health`).
fn path_only(path: &str) -> &str {
    path.split(['?', '#']).next().unwrap_or(path)
}

/// A path that the patterns match, without guessing: one with no wildcard, else the part of
/// one before a trailing `*` (`/api/*` → `/api/`; `*` and `/*` → `/`).
fn path_from_patterns(patterns: &[String]) -> Option<String> {
    if let Some(exact) = patterns.iter().find(|p| !p.contains(['*', '?'])) {
        return Some(exact.clone());
    }
    patterns.iter().find_map(|p| {
        let prefix = p.strip_suffix('*')?;
        if prefix.contains(['*', '?']) {
            return None;
        }
        match prefix {
            "" | "/" => Some("/".to_string()),
            _ if prefix.starts_with('/') => Some(prefix.to_string()),
            _ => None,
        }
    })
}

/// Whether `probe` matches every condition of `rule` (a rule without conditions matches
/// everything). Conditions on what the prober does not send (headers, query strings) never
/// match it; a `source-ip` condition cannot be judged from here and is taken as not matching.
fn matches(rule: &RuleInfo, probe: &Probe) -> bool {
    rule.conditions.iter().all(|c| match c.field.as_str() {
        "path-pattern" => c.values.iter().any(|p| glob(p, path_only(&probe.path), false)),
        "host-header" => probe.host.as_deref().is_some_and(|h| c.values.iter().any(|p| glob(p, h, true))),
        "http-request-method" => c.values.iter().any(|m| m == "GET"),
        _ => false,
    })
}

/// ELB's wildcard match: `*` any run of characters (none included), `?` exactly one.
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The port through which a strategy's gate will ask the running prober about a deployment
/// (blue/green and canary: "did any request fail since the traffic shift?"). ferry-app's
/// `Probes` implements it; the rolling and env-tag strategies only report the figures.
pub trait ProbeGate: Send + Sync {
    /// How many of `deployment_id`'s probe requests failed at or after `since_ms` (ms since
    /// the Unix epoch); None when that deployment is not being probed (no load balancer,
    /// probing off, or nothing to probe), which a gate must not read as "none failed".
    fn failed_since(&self, deployment_id: &str, since_ms: i64) -> Option<u64>;
}

/// What one probe request came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The listener answered with this status code.
    Status(u16),
    /// No answer: the connection failed, or the request timed out (the words say which).
    NoAnswer(String),
}

/// A failed probe request: when, and why (`HTTP 502`, `timed out after 2s`, `connection refused`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeFailure {
    /// When its answer (or its failure) came, in milliseconds since the Unix epoch.
    pub at: i64,
    pub reason: String,
}

/// The prober's figures for one service's deploy, as the live view, the summary, the JSON
/// result (`services[].probe`) and the ledger report them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProbeStats {
    /// Where the requests went (`http://DNSName:Port/path`); None when nothing was probed.
    pub url: Option<String>,
    /// The `Host` header sent with them, when the rule needs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_header: Option<String>,
    /// How the URL was found: `listener 80 of web-lb, rule 10`, or `probe.url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The configured rate, in requests per second.
    pub rate: f64,
    /// The status codes that count as success (`200-399`).
    pub expect: String,
    /// Requests that finished (answered, failed or timed out) before the deploy ended; those
    /// still in flight then are not counted.
    pub sent: u64,
    /// Of those, the ones that failed: no connection, no answer within the timeout, or a
    /// status code outside `expect`.
    pub failed: u64,
    /// Latency percentiles of the finished requests (failed ones included), in
    /// milliseconds with a tenth's precision; None before any finished.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The newest failures (at most [`KEPT_FAILURES`]), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub last_failures: Vec<ProbeFailure>,
    /// When the first request was sent, and when probing stopped (ms since the Unix epoch).
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Why nothing was sent, when the service is behind a load balancer ferry could not
    /// probe (an HTTPS listener, a rule that needs what the prober does not send, the calls
    /// that find the listener failed); the counts are then zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// Counts a probe's requests as their answers come. Latencies are kept one sample per
/// request (microseconds, `u32`) and sorted when stats are asked for: a probe sends at
/// most [`MAX_RATE`] requests a second, so an hour's deploy keeps at most 180,000 samples
/// (720 kB), and copying and sorting that many takes 3.5 ms on these machines (measured:
/// release build, random latencies, `sort_unstable`) — once a second for the live view and
/// once at the end, exact percentiles without a histogram crate's approximation (such as
/// `hdrhistogram`) or a new dependency.
/// Failures keep their times, so a gate can ask how many failed since a traffic shift
/// ([`ProbeRecorder::failed_since`]).
#[derive(Clone, Debug, Default)]
pub struct ProbeRecorder {
    expect: ExpectedStatus,
    latencies_us: Vec<u32>,
    failures_at: Vec<i64>,
    last_failures: VecDeque<ProbeFailure>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
}

impl ProbeRecorder {
    /// A recorder judging answers by `expect`.
    pub fn new(expect: ExpectedStatus) -> Self {
        ProbeRecorder { expect, ..ProbeRecorder::default() }
    }

    /// Marks when probing started (the first request), in ms since the Unix epoch.
    pub fn started(&mut self, at_ms: i64) {
        self.started_at.get_or_insert(at_ms);
    }

    /// Marks when probing stopped.
    pub fn finished(&mut self, at_ms: i64) {
        self.finished_at = Some(at_ms);
    }

    /// Records one finished request: its answer, which came `latency` after it was sent, at
    /// `at_ms`. Returns whether it counted as failed.
    pub fn record(&mut self, at_ms: i64, latency: Duration, answer: &Answer) -> bool {
        self.latencies_us.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        let failure = match answer {
            Answer::Status(status) if self.expect.contains(*status) => None,
            Answer::Status(status) => Some(format!("HTTP {status} (expected {})", self.expect)),
            Answer::NoAnswer(why) => Some(why.clone()),
        };
        let Some(reason) = failure else { return false };
        self.failures_at.push(at_ms);
        if self.last_failures.len() == KEPT_FAILURES {
            self.last_failures.pop_front();
        }
        self.last_failures.push_back(ProbeFailure { at: at_ms, reason });
        true
    }

    /// Requests that finished.
    pub fn sent(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// Requests that failed.
    pub fn failed(&self) -> u64 {
        self.failures_at.len() as u64
    }

    /// How many requests failed at or after `since_ms` (ms since the Unix epoch): what a
    /// traffic shift's gate asks.
    pub fn failed_since(&self, since_ms: i64) -> u64 {
        // Answers are recorded as they come, so their times only grow.
        let first = self.failures_at.partition_point(|at| *at < since_ms);
        (self.failures_at.len() - first) as u64
    }

    /// The figures so far; `url`, `rate` and the rest of what was configured are the
    /// caller's to fill.
    pub fn stats(&self) -> ProbeStats {
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        ProbeStats {
            expect: self.expect.to_string(),
            sent: self.sent(),
            failed: self.failed(),
            p50_ms: percentile(&sorted, 50.0),
            p99_ms: percentile(&sorted, 99.0),
            max_ms: sorted.last().map(|us| tenths(*us)),
            last_failures: self.last_failures.iter().cloned().collect(),
            started_at: self.started_at,
            finished_at: self.finished_at,
            ..ProbeStats::default()
        }
    }
}

/// The nearest-rank percentile of sorted microseconds, in milliseconds.
fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).map(|us| tenths(*us))
}

/// Microseconds as milliseconds rounded to a tenth.
fn tenths(us: u32) -> f64 {
    (f64::from(us) / 100.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TG: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tg/0123456789abcdef";
    const OTHER: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api-tg/fedcba9876543210";

    fn lb() -> LoadBalancerInfo {
        LoadBalancerInfo {
            arn: "lb-arn".into(),
            name: "prod-lb".into(),
            dns_name: "prod-lb-1.eu-west-1.elb.amazonaws.com".into(),
            scheme: "internal".into(),
        }
    }

    fn forward(groups: &[(&str, i32)]) -> ActionInfo {
        ActionInfo { kind: "forward".into(), order: None, target_groups: groups.iter().map(|(g, w)| (g.to_string(), *w)).collect() }
    }

    fn fixed() -> ActionInfo {
        ActionInfo { kind: "fixed-response".into(), ..ActionInfo::default() }
    }

    fn condition(field: &str, values: &[&str]) -> ConditionInfo {
        ConditionInfo { field: field.into(), values: values.iter().map(|v| v.to_string()).collect() }
    }

    fn rule(priority: &str, conditions: Vec<ConditionInfo>, action: ActionInfo) -> RuleInfo {
        RuleInfo { arn: format!("rule-{priority}"), priority: priority.into(), is_default: false, conditions, actions: vec![action] }
    }

    fn listener(port: i32, protocol: &str, default: ActionInfo, rules: Vec<RuleInfo>) -> ListenerInfo {
        ListenerInfo { arn: format!("listener-{port}"), port, protocol: protocol.into(), default_actions: vec![default], rules }
    }

    fn choose(listeners: &[ListenerInfo], path: Option<&str>) -> Result<ProbeTarget, NoProbe> {
        choose_target(TG, &lb(), listeners, path, None)
    }

    #[test]
    fn through_a_named_rule_the_probe_goes_by_that_rule_when_another_forwards_to_the_group_first() {
        // The preparing rule (priority 90) and the production rule (100) both forward to the
        // live group, as before a blue/green deploy.
        let listeners = [listener(
            443,
            "HTTP",
            fixed(),
            vec![
                rule("90", vec![condition("host-header", &["web-preparing.example.com"])], forward(&[(TG, 1)])),
                rule("100", vec![condition("host-header", &["web.example.com"])], forward(&[(TG, 1)])),
            ],
        )];
        let first = choose(&listeners, None).expect("a target");
        assert_eq!(first.host_header.as_deref(), Some("web-preparing.example.com"));
        let production = choose_target(TG, &lb(), &listeners, None, Some("rule-100")).expect("through rule 100");
        assert_eq!(production.host_header.as_deref(), Some("web.example.com"));
        assert!(production.via.ends_with("rule 100"), "{}", production.via);
        // Through the listener: only its default action, which forwards elsewhere here.
        let why = choose_target(TG, &lb(), &listeners, None, Some("listener-443")).expect_err("the default action answers 404");
        assert!(why.0.contains("no listener") || why.0.contains("forward"), "{}", why.0);
    }

    #[test]
    fn a_default_action_forwarding_to_the_group_is_probed_at_the_root() {
        let target = choose(&[listener(80, "HTTP", forward(&[(TG, 1)]), vec![])], None).expect("a target");
        assert_eq!(target.url, "http://prod-lb-1.eu-west-1.elb.amazonaws.com:80/");
        assert_eq!(target.host_header, None);
        assert_eq!(target.via, "listener 80 of prod-lb, its default action");
        // A configured path is used as it is.
        let target = choose(&[listener(80, "HTTP", forward(&[(TG, 1)]), vec![])], Some("/health?deep=1")).expect("a target");
        assert_eq!(target.url, "http://prod-lb-1.eu-west-1.elb.amazonaws.com:80/health?deep=1");
    }

    #[test]
    fn a_rule_gives_its_path_and_host_and_rules_are_taken_by_priority() {
        let rules = vec![
            rule("20", vec![condition("path-pattern", &["/api/*"])], forward(&[(TG, 1)])),
            rule("10", vec![condition("path-pattern", &["/admin/*"])], forward(&[(OTHER, 1)])),
            rule(
                "5",
                vec![condition("path-pattern", &["/api/v1/*", "/api/health"]), condition("host-header", &["*.example.com"])],
                forward(&[(TG, 1)]),
            ),
        ];
        let target = choose(&[listener(8080, "HTTP", fixed(), rules)], None).expect("a target");
        assert_eq!(target.url, "http://prod-lb-1.eu-west-1.elb.amazonaws.com:8080/api/health");
        assert_eq!(target.host_header.as_deref(), Some("ferry-probe.example.com"));
        assert_eq!(target.via, "listener 8080 of prod-lb, rule 5");
    }

    #[test]
    fn a_weighted_forward_counts_only_with_a_weight_above_zero() {
        let rules = vec![rule("1", vec![condition("path-pattern", &["/*"])], forward(&[(OTHER, 100), (TG, 0)]))];
        let e = choose(&[listener(80, "HTTP", fixed(), rules)], None).expect_err("weight 0");
        assert_eq!(e.0, "listener 80 (HTTP) of prod-lb, rule 1 forwards to web-tg with weight 0");
        let rules = vec![rule("1", vec![condition("path-pattern", &["/*"])], forward(&[(OTHER, 90), (TG, 10)]))];
        let target = choose(&[listener(80, "HTTP", fixed(), rules)], None).expect("weight 10");
        assert_eq!(target.url, "http://prod-lb-1.eu-west-1.elb.amazonaws.com:80/");
    }

    #[test]
    fn an_https_listener_is_not_probed_and_says_to_set_probe_url() {
        let e = choose(&[listener(443, "HTTPS", forward(&[(TG, 1)]), vec![])], None).expect_err("https");
        assert!(
            e.0.starts_with(
                "listener 443 (HTTPS) of prod-lb, its default action forwards to web-tg over HTTPS; the prober sends plain HTTP"
            ),
            "{e}"
        );
        assert!(e.0.contains("set probe.url"), "{e}");
        // Beside an HTTP listener that forwards too, the HTTP one is taken.
        let both = [listener(443, "HTTPS", forward(&[(TG, 1)]), vec![]), listener(8080, "HTTP", forward(&[(TG, 1)]), vec![])];
        assert_eq!(choose(&both, None).expect("http").url, "http://prod-lb-1.eu-west-1.elb.amazonaws.com:8080/");
    }

    #[test]
    fn port_80_is_the_production_listener_before_a_test_listener() {
        let both = [listener(8443, "HTTP", forward(&[(TG, 1)]), vec![]), listener(80, "HTTP", forward(&[(TG, 1)]), vec![])];
        assert_eq!(choose(&both, None).expect("80").via, "listener 80 of prod-lb, its default action");
    }

    #[test]
    fn no_rule_forwarding_to_the_group_is_said() {
        let e = choose(&[listener(80, "HTTP", forward(&[(OTHER, 1)]), vec![])], None).expect_err("none");
        assert_eq!(e.0, "no listener of load balancer prod-lb forwards to target group web-tg");
        let e = choose(&[], None).expect_err("no listener");
        assert_eq!(e.0, "no listener of load balancer prod-lb forwards to target group web-tg");
    }

    #[test]
    fn a_wildcard_only_path_is_not_guessed() {
        let rules = vec![rule("3", vec![condition("path-pattern", &["*.php", "/v?/*"])], forward(&[(TG, 1)]))];
        let e = choose(&[listener(80, "HTTP", fixed(), rules.clone())], None).expect_err("wildcards");
        assert_eq!(
            e.0,
            "listener 80 (HTTP) of prod-lb, rule 3: its path patterns (*.php, /v?/*) name no path to send to without guessing: set probe.path"
        );
        // A configured path that matches is taken; one that does not is refused.
        let target = choose(&[listener(80, "HTTP", fixed(), rules.clone())], Some("/v2/health")).expect("configured");
        assert_eq!(target.url, "http://prod-lb-1.eu-west-1.elb.amazonaws.com:80/v2/health");
        let e = choose(&[listener(80, "HTTP", fixed(), rules)], Some("/health")).expect_err("no match");
        assert!(
            e.0.ends_with("probe.path /health does not match its path patterns (*.php, /v?/*), so the requests would not reach the group"),
            "{e}"
        );
    }

    #[test]
    fn an_earlier_rule_that_catches_the_request_is_named() {
        let rules = vec![
            rule("1", vec![condition("path-pattern", &["/*"]), condition("host-header", &["ADMIN.example.com"])], forward(&[(OTHER, 1)])),
            rule("2", vec![condition("host-header", &["admin.example.com"])], forward(&[(TG, 1)])),
        ];
        let e = choose(&[listener(80, "HTTP", fixed(), rules)], None).expect_err("shadowed");
        assert_eq!(
            e.0,
            "listener 80 (HTTP) of prod-lb, rule 2 forwards to web-tg, but a request to / with Host admin.example.com would match rule 1 first: set probe.path (or probe.url)"
        );
        // A rule on a header the prober does not send does not catch it.
        let rules = vec![
            rule("1", vec![condition("http-header", &["X-Canary"])], forward(&[(OTHER, 1)])),
            rule("2", vec![condition("path-pattern", &["/"])], forward(&[(TG, 1)])),
        ];
        assert_eq!(choose(&[listener(80, "HTTP", fixed(), rules)], None).expect("not shadowed").via, "listener 80 of prod-lb, rule 2");
    }

    #[test]
    fn conditions_the_prober_cannot_meet_and_authentication_are_said() {
        let rules = vec![rule("4", vec![condition("source-ip", &["10.0.0.0/8"])], forward(&[(TG, 1)]))];
        let e = choose(&[listener(80, "HTTP", fixed(), rules)], None).expect_err("source-ip");
        assert_eq!(
            e.0,
            "listener 80 (HTTP) of prod-lb, rule 4: it matches on source-ip (10.0.0.0/8), which the prober does not send: set probe.url"
        );
        let rules = vec![rule("4", vec![condition("http-request-method", &["POST"])], forward(&[(TG, 1)]))];
        let e = choose(&[listener(80, "HTTP", fixed(), rules)], None).expect_err("POST");
        assert!(e.0.ends_with("it matches only POST requests; the prober sends GET"), "{e}");
        let mut authenticated = listener(80, "HTTP", forward(&[(TG, 1)]), vec![]);
        authenticated.default_actions = vec![
            ActionInfo { kind: "authenticate-oidc".into(), order: Some(1), ..ActionInfo::default() },
            ActionInfo { order: Some(2), ..forward(&[(TG, 1)]) },
        ];
        let e = choose(&[authenticated], None).expect_err("auth");
        assert!(e.0.contains("authenticates before it forwards to web-tg"), "{e}");
    }

    #[test]
    fn the_default_rule_from_describe_rules_is_taken_last() {
        let mut default = rule("default", vec![], forward(&[(TG, 1)]));
        default.is_default = true;
        let rules = vec![default, rule("7", vec![condition("path-pattern", &["/static/*"])], forward(&[(OTHER, 1)]))];
        let target = choose(&[listener(80, "HTTP", fixed(), rules)], None).expect("default rule");
        assert_eq!(target.via, "listener 80 of prod-lb, its default action");
    }

    #[test]
    fn globs_match_as_elb_does() {
        assert!(glob("/api/*", "/api/", false));
        assert!(glob("/api/*", "/api/v1/x", false));
        assert!(!glob("/api/*", "/API/v1", false));
        assert!(glob("*.example.com", "A.Example.com", true));
        assert!(glob("/v?/x", "/v2/x", false));
        assert!(!glob("/v?/x", "/v22/x", false));
        assert!(glob("*", "", false));
        assert!(glob("/a*b*c", "/axxbyyc", false));
        assert!(!glob("/a*b*c", "/axxbyy", false));
    }

    #[test]
    fn expected_status_parses_ranges_and_says_what_is_wrong() {
        let expect = ExpectedStatus::parse("200-299, 404").expect("valid");
        assert!(expect.contains(204) && expect.contains(404) && !expect.contains(301) && !expect.contains(500));
        assert_eq!(expect.to_string(), "200-299,404");
        assert_eq!(ExpectedStatus::default().to_string(), DEFAULT_EXPECT);
        assert_eq!(ExpectedStatus::parse(DEFAULT_EXPECT).expect("default"), ExpectedStatus::default());
        let e = ExpectedStatus::parse("2xx").expect_err("2xx");
        assert_eq!(
            e,
            "\"2xx\" is not an HTTP status code (100-599): expected status codes like \"200-399\", \"200\" or \"200,204,301-302\""
        );
        assert!(ExpectedStatus::parse("399-200").expect_err("backwards").contains("goes from high to low"));
        assert!(ExpectedStatus::parse("200,").expect_err("empty").contains("empty part"));
        assert!(ExpectedStatus::parse("99").is_err() && ExpectedStatus::parse("600").is_err());
    }

    #[test]
    fn the_recorder_counts_failures_keeps_the_last_few_and_answers_failed_since() {
        let mut recorder = ProbeRecorder::new(ExpectedStatus::default());
        recorder.started(1_000);
        for i in 0..100u64 {
            let answer = match i {
                10 => Answer::Status(502),
                20..=26 => Answer::NoAnswer(format!("timed out after 2s ({i})")),
                _ => Answer::Status(200),
            };
            let failed = recorder.record(1_000 + i as i64 * 10, Duration::from_micros(1_000 + i * 100), &answer);
            assert_eq!(failed, answer != Answer::Status(200));
        }
        recorder.finished(3_000);
        let stats = recorder.stats();
        assert_eq!((stats.sent, stats.failed), (100, 8));
        assert_eq!(stats.last_failures.len(), KEPT_FAILURES);
        assert_eq!(stats.last_failures.last().map(|f| f.reason.as_str()), Some("timed out after 2s (26)"));
        assert_eq!(stats.last_failures.first().map(|f| f.reason.as_str()), Some("timed out after 2s (22)"));
        // 1.0 ms + i × 0.1 ms: the 50th is 5.9 ms, the 99th 10.8 ms, the last 10.9 ms.
        assert_eq!((stats.p50_ms, stats.p99_ms, stats.max_ms), (Some(5.9), Some(10.8), Some(10.9)));
        assert_eq!((stats.started_at, stats.finished_at), (Some(1_000), Some(3_000)));
        assert_eq!(recorder.failed_since(0), 8);
        assert_eq!(recorder.failed_since(1_100), 8, "the 502 came at 1100");
        assert_eq!(recorder.failed_since(1_101), 7);
        assert_eq!(recorder.failed_since(1_261), 0);
        let rejected = ProbeRecorder::new(ExpectedStatus::default()).record(0, Duration::ZERO, &Answer::Status(500));
        assert!(rejected);
        let mut one = ProbeRecorder::new(ExpectedStatus::parse("500").expect("500"));
        assert!(!one.record(0, Duration::ZERO, &Answer::Status(500)), "500 was expected");
        assert_eq!(one.stats().last_failures, vec![]);
        assert_eq!(ProbeRecorder::default().stats().p99_ms, None);
    }

    #[test]
    fn a_failed_answer_says_the_status_and_what_was_expected() {
        let mut recorder = ProbeRecorder::new(ExpectedStatus::default());
        recorder.record(5, Duration::from_millis(3), &Answer::Status(500));
        assert_eq!(recorder.stats().last_failures, vec![ProbeFailure { at: 5, reason: "HTTP 500 (expected 200-399)".into() }]);
    }
}
