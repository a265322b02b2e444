//! Health checks of registered targets, as an application load balancer runs them
//! (Elastic Load Balancing, *Application Load Balancers* guide, "Health checks for your
//! target groups"; ELBv2 API reference, `TargetHealth`).
//!
//! Every target of a group that a listener rule forwards to (`records::targets::group_in_use`),
//! whose health checks are enabled and that is not draining, gets an HTTP `GET` of the
//! group's `HealthCheckPath` on its address (port: `traffic-port`, the port it was
//! registered with, or the group's `HealthCheckPort`), every `HealthCheckIntervalSeconds`,
//! given `HealthCheckTimeoutSeconds` to answer, on a fresh connection closed after each
//! check, with `User-Agent: ELB-HealthChecker/2.0`. The status must match
//! `Matcher.HttpCode` (`200`, `200,202`, `200-299`). Targets of a group nobody uses keep
//! what is stored of them but are not checked; when a rule forwards to the group again they
//! are `initial` once more and checked afresh (`records::targets::recheck_groups_back_in_use`),
//! and a check that was in flight when the group went unused counts for nothing.
//!
//! State changes ([`next_state`]):
//! - `initial` → `healthy` after one passed check ("After your target is registered, it must
//!   pass one health check to be considered healthy"); its reason is
//!   `Elb.RegistrationInProgress` until the first check starts, then
//!   `Elb.InitialHealthChecking`;
//! - `unhealthy` → `healthy` after `HealthyThresholdCount` consecutive passes;
//! - `initial` or `healthy` → `unhealthy` after `UnhealthyThresholdCount` consecutive
//!   failures, with the last failure's reason: `Target.ResponseCodeMismatch` ("Health checks
//!   failed with these codes: [500]"), `Target.Timeout` ("Request timed out") or
//!   `Target.FailedHealthChecks` ("Health checks failed": the connection was refused or the
//!   answer was not HTTP).
//!
//! `ferry local up --health-check-scale S` multiplies the interval and the timeout by S (0.1:
//! a 5 s interval becomes 0.5 s) so tests run in seconds; thresholds are not scaled, and
//! what the API answers is never scaled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::table::{TargetKey, target_addr};
use crate::state::{HealthCheck, Partition, Target};

pub const INITIAL_HEALTH_CHECKING: (&str, &str) = ("Elb.InitialHealthChecking", "Initial health checks in progress");
const RESPONSE_CODE_MISMATCH: &str = "Target.ResponseCodeMismatch";
const TIMEOUT: (&str, &str) = ("Target.Timeout", "Request timed out");
const FAILED_HEALTH_CHECKS: (&str, &str) = ("Target.FailedHealthChecks", "Health checks failed");
/// The shortest scaled interval and timeout: below this a check is mostly scheduling noise.
const MIN_SCALED: Duration = Duration::from_millis(20);

/// `Matcher.HttpCode`: codes and ranges of codes, e.g. `200`, `200,202`, `200-299`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher(Vec<(u16, u16)>);

impl Matcher {
    /// None for text that is not a list of codes and ranges (the API validates it first).
    pub fn parse(text: &str) -> Option<Matcher> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (low, high) = part.split_once('-').unwrap_or((part, part));
            let (low, high): (u16, u16) = (low.trim().parse().ok()?, high.trim().parse().ok()?);
            if low > high {
                return None;
            }
            ranges.push((low, high));
        }
        Some(Matcher(ranges))
    }

    pub fn matches(&self, code: u16) -> bool {
        self.0.iter().any(|&(low, high)| (low..=high).contains(&code))
    }
}

/// What one health check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// An answer whose status the matcher accepts.
    Passed,
    /// An answer with another status.
    Code(u16),
    /// No answer within the timeout.
    Timeout,
    /// The connection was refused or broken, or the answer was not HTTP.
    Failed,
}

/// A target's health after a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub state: &'static str,
    pub reason: Option<&'static str>,
    pub description: Option<String>,
    pub passes: u32,
    pub failures: u32,
}

fn threshold(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(1).max(1)
}

/// The health of `target` (in state `initial`, `healthy` or `unhealthy`) after a check
/// that found `result`, with the group's `settings` (see the module docs). Counters are
/// consecutive passes and failures since the last change of state.
pub fn next_state(target: &Target, result: CheckResult, settings: &HealthCheck) -> Verdict {
    let state = match target.state.as_str() {
        "healthy" => "healthy",
        "unhealthy" => "unhealthy",
        _ => "initial",
    };
    if result == CheckResult::Passed {
        let passes = target.passes + 1;
        let healthy = match state {
            "unhealthy" => passes >= threshold(settings.healthy_threshold),
            // One pass makes a new target healthy; a healthy one stays so.
            _ => true,
        };
        return if healthy {
            Verdict { state: "healthy", reason: None, description: None, passes: if state == "healthy" { passes } else { 0 }, failures: 0 }
        } else {
            let description = target.description.clone();
            Verdict { state, reason: target.reason_code(), description, passes, failures: 0 }
        };
    }
    let (reason, description) = match result {
        CheckResult::Code(code) => (RESPONSE_CODE_MISMATCH, format!("Health checks failed with these codes: [{code}]")),
        CheckResult::Timeout => (TIMEOUT.0, TIMEOUT.1.to_string()),
        _ => (FAILED_HEALTH_CHECKS.0, FAILED_HEALTH_CHECKS.1.to_string()),
    };
    let failures = target.failures + 1;
    match state {
        "unhealthy" => Verdict { state, reason: Some(reason), description: Some(description), passes: 0, failures },
        _ if failures >= threshold(settings.unhealthy_threshold) => {
            Verdict { state: "unhealthy", reason: Some(reason), description: Some(description), passes: 0, failures: 0 }
        }
        "healthy" => Verdict { state, reason: None, description: None, passes: 0, failures },
        _ => Verdict {
            state,
            reason: Some(INITIAL_HEALTH_CHECKING.0),
            description: Some(INITIAL_HEALTH_CHECKING.1.to_string()),
            passes: 0,
            failures,
        },
    }
}

trait ReasonCode {
    fn reason_code(&self) -> Option<&'static str>;
}

impl ReasonCode for Target {
    /// The stored reason as one of the codes a check can give (others read as
    /// `Elb.InitialHealthChecking` for an initial target).
    fn reason_code(&self) -> Option<&'static str> {
        match self.reason.as_deref() {
            Some(RESPONSE_CODE_MISMATCH) => Some(RESPONSE_CODE_MISMATCH),
            Some(r) if r == TIMEOUT.0 => Some(TIMEOUT.0),
            Some(r) if r == FAILED_HEALTH_CHECKS.0 => Some(FAILED_HEALTH_CHECKS.0),
            _ if self.state == "initial" => Some(INITIAL_HEALTH_CHECKING.0),
            _ => None,
        }
    }
}

/// Writes `verdict` into `target`; true when what DescribeTargetHealth shows changed
/// (state, reason or description), which is what must be persisted.
pub fn apply(target: &mut Target, verdict: Verdict, now: f64) -> bool {
    let changed = target.state != verdict.state
        || target.reason.as_deref() != verdict.reason
        || target.description.as_deref() != verdict.description.as_deref();
    target.state = verdict.state.to_string();
    target.reason = verdict.reason.map(str::to_string);
    target.description = verdict.description;
    target.passes = verdict.passes;
    target.failures = verdict.failures;
    target.last_checked_at = Some(now);
    changed
}

/// One target's health check, as scheduled.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The partition (`partition_key`) of the group.
    pub partition: String,
    pub key: TargetKey,
    /// Where the check connects: the target's address, at the health check port.
    pub addr: SocketAddr,
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub matcher: Arc<Matcher>,
}

fn scaled(seconds: i64, scale: f64) -> Duration {
    let seconds = seconds.max(1) as f64 * scale;
    Duration::try_from_secs_f64(seconds).unwrap_or(MIN_SCALED).max(MIN_SCALED)
}

/// The health checks to run in `partition`: each target not draining of each group in use
/// with HTTP health checks enabled.
pub fn plans(partition_key: &str, partition: &Partition, scale: f64) -> Vec<Plan> {
    let mut plans = Vec::new();
    for group in partition.target_groups.values() {
        let hc = &group.health_check;
        if !hc.enabled || !hc.protocol.eq_ignore_ascii_case("HTTP") || !crate::records::targets::group_in_use(partition, &group.arn) {
            continue;
        }
        let matcher = Arc::new(Matcher::parse(&hc.matcher).unwrap_or(Matcher(vec![(200, 200)])));
        let path = if hc.path.starts_with('/') { hc.path.clone() } else { format!("/{}", hc.path) };
        let fixed_port: Option<u16> = hc.port.parse().ok();
        for target in group.targets.iter().filter(|t| t.state != "draining") {
            let Some(mut addr) = target_addr(target) else { continue };
            if let Some(port) = fixed_port {
                addr.set_port(port);
            }
            plans.push(Plan {
                partition: partition_key.to_string(),
                key: (group.arn.clone(), target.id.clone(), target.port),
                addr,
                path: path.clone(),
                interval: scaled(hc.interval_seconds, scale),
                timeout: scaled(hc.timeout_seconds, scale),
                matcher: Arc::clone(&matcher),
            });
        }
    }
    plans
}

pub type HealthClient = Client<HttpConnector, Empty<Bytes>>;

/// The client of health checks: a fresh connection per check, closed after it (no pool).
pub fn client() -> HealthClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector)
}

/// Runs one health check.
pub async fn check(client: &HealthClient, plan: &Plan) -> CheckResult {
    let request = Request::get(format!("http://{}{}", plan.addr, plan.path))
        .header(hyper::header::HOST, plan.addr.to_string())
        .header(hyper::header::USER_AGENT, "ELB-HealthChecker/2.0")
        .body(Empty::new());
    let Ok(request) = request else { return CheckResult::Failed };
    match tokio::time::timeout(plan.timeout, client.request(request)).await {
        Err(_) => CheckResult::Timeout,
        Ok(Err(_)) => CheckResult::Failed,
        Ok(Ok(response)) => {
            let code = response.status().as_u16();
            if plan.matcher.matches(code) { CheckResult::Passed } else { CheckResult::Code(code) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(state: &str) -> Target {
        Target {
            id: "127.0.0.1".into(),
            port: 8080,
            availability_zone: None,
            registered_at: 0.0,
            state: state.into(),
            reason: Some("Elb.RegistrationInProgress".into()),
            description: Some("Target registration is in progress".into()),
            passes: 0,
            failures: 0,
            last_checked_at: None,
            draining_since: None,
            task_arn: None,
        }
    }

    fn settings() -> HealthCheck {
        HealthCheck { healthy_threshold: 3, unhealthy_threshold: 2, ..HealthCheck::default() }
    }

    /// Feeds results one by one, as the checks would.
    fn run(mut t: Target, results: &[CheckResult]) -> Target {
        for &r in results {
            let v = next_state(&t, r, &settings());
            apply(&mut t, v, 1.0);
        }
        t
    }

    #[test]
    fn matcher_reads_codes_lists_and_ranges() {
        let m = Matcher::parse("200").unwrap();
        assert!(m.matches(200) && !m.matches(204));
        let m = Matcher::parse("200,202").unwrap();
        assert!(m.matches(202) && !m.matches(201));
        let m = Matcher::parse("200-299").unwrap();
        assert!(m.matches(200) && m.matches(299) && !m.matches(300) && !m.matches(199));
        let m = Matcher::parse("200-204, 301").unwrap();
        assert!(m.matches(203) && m.matches(301));
        assert_eq!(Matcher::parse("ok"), None);
        assert_eq!(Matcher::parse("299-200"), None);
        assert_eq!(Matcher::parse(""), None);
    }

    #[test]
    fn a_new_target_is_healthy_after_one_passed_check() {
        let t = run(target("initial"), &[CheckResult::Passed]);
        assert_eq!((t.state.as_str(), t.reason, t.description), ("healthy", None, None));
    }

    #[test]
    fn a_new_target_whose_checks_fail_turns_unhealthy_at_the_unhealthy_threshold() {
        let t = run(target("initial"), &[CheckResult::Code(502)]);
        assert_eq!((t.state.as_str(), t.reason.as_deref()), ("initial", Some("Elb.InitialHealthChecking")));
        let t = run(t, &[CheckResult::Code(502)]);
        assert_eq!(t.state, "unhealthy");
        assert_eq!(t.reason.as_deref(), Some("Target.ResponseCodeMismatch"));
        assert_eq!(t.description.as_deref(), Some("Health checks failed with these codes: [502]"));
    }

    #[test]
    fn each_kind_of_failure_has_its_reason_code() {
        let t = run(target("healthy"), &[CheckResult::Timeout, CheckResult::Timeout]);
        assert_eq!((t.reason.as_deref(), t.description.as_deref()), (Some("Target.Timeout"), Some("Request timed out")));
        let t = run(t, &[CheckResult::Failed]);
        assert_eq!(t.state, "unhealthy");
        assert_eq!((t.reason.as_deref(), t.description.as_deref()), (Some("Target.FailedHealthChecks"), Some("Health checks failed")));
    }

    #[test]
    fn a_healthy_target_survives_fewer_failures_than_the_threshold() {
        let t = run(target("healthy"), &[CheckResult::Code(500), CheckResult::Passed, CheckResult::Code(500)]);
        assert_eq!((t.state.as_str(), t.failures), ("healthy", 1));
    }

    #[test]
    fn an_unhealthy_target_needs_the_healthy_threshold_of_consecutive_passes() {
        let mut t = target("unhealthy");
        t.reason = Some("Target.Timeout".into());
        let t = run(t, &[CheckResult::Passed, CheckResult::Passed, CheckResult::Timeout, CheckResult::Passed, CheckResult::Passed]);
        assert_eq!((t.state.as_str(), t.passes), ("unhealthy", 2));
        let t = run(t, &[CheckResult::Passed]);
        assert_eq!(t.state, "healthy");
    }

    #[test]
    fn apply_reports_a_change_only_when_describe_target_health_would_show_one() {
        let mut t = target("healthy");
        t.reason = None;
        t.description = None;
        let step = |t: &mut Target, r: CheckResult| {
            let v = next_state(t, r, &settings());
            apply(t, v, 1.0)
        };
        assert!(!step(&mut t, CheckResult::Passed));
        // One failure: still healthy, nothing to show; the second: unhealthy.
        assert!(!step(&mut t, CheckResult::Code(500)));
        assert!(step(&mut t, CheckResult::Code(500)));
        // Another code while unhealthy changes the description.
        assert!(step(&mut t, CheckResult::Code(503)));
        assert!(!step(&mut t, CheckResult::Code(503)));
    }

    #[test]
    fn scaled_timings_have_a_floor() {
        assert_eq!(scaled(30, 1.0), Duration::from_secs(30));
        assert_eq!(scaled(5, 0.1), Duration::from_millis(500));
        assert_eq!(scaled(5, 0.0), MIN_SCALED);
    }
}
