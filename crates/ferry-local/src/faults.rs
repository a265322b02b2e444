//! Faults and limits for tests, set through the admin path (`/_ferry/…`, never an AWS
//! path). All off by default.
//!
//! - API faults: per action (or `*`), with a probability, answer with an error
//!   (`ThrottlingException`, a 5xx, …) and/or add latency.
//! - Rate limits: AWS-like token buckets per account, region and action; an empty bucket
//!   answers `ThrottlingException: Rate exceeded` as ECS does.
//! - Task faults: tasks of a family (or with an image containing a string) fail to start,
//!   or crash after N seconds.

use std::collections::HashMap;

use rand::Rng;
use serde::Serialize;

use crate::api::ApiError;

/// An injected API fault, as `POST /_ferry/faults` takes it (parsed field by field by
/// [`ApiFault::from_json`], which names a bad field) and `GET` shows it.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiFault {
    /// `ecs:DescribeServices`, `DescribeServices`, `ecs:*` or `*`.
    pub action: String,
    /// The error code to answer with, e.g. `ThrottlingException` or `ServiceUnavailableException`.
    pub error: Option<String>,
    /// HTTP status of the error (default 400 for ThrottlingException, else 500).
    pub status: Option<u16>,
    pub message: Option<String>,
    /// Chance in [0, 1] that a matching request is affected (default 1).
    pub probability: f64,
    /// Latency added before answering, in milliseconds.
    pub latency_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFault {
    /// Task definition family the fault applies to (any when absent).
    pub family: Option<String>,
    /// Applies to containers whose image contains this string (any when absent).
    pub image_contains: Option<String>,
    /// Applies to containers whose image resolved to this digest (any when absent): how a
    /// test breaks one version behind a moving tag (`app:prod`).
    pub digest: Option<String>,
    pub fail_to_start: bool,
    pub crash_after_seconds: Option<f64>,
}

impl TaskFault {
    pub fn applies(&self, family: &str, image: &str, digest: Option<&str>) -> bool {
        self.family.as_deref().is_none_or(|f| f == family)
            && self.image_contains.as_deref().is_none_or(|s| image.contains(s))
            && self.digest.as_deref().is_none_or(|d| digest == Some(d))
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RateLimit {
    pub burst: f64,
    pub rate: f64,
}

/// The default limits when rate limiting is turned on, modelled on the categories of the
/// ECS request-throttling page: reads get a large bucket, writes a small one.
pub fn default_limit(action: &str) -> RateLimit {
    let read = ["Describe", "List", "Get", "BatchGet"].iter().any(|p| action.starts_with(p));
    if read { RateLimit { burst: 50.0, rate: 20.0 } } else { RateLimit { burst: 20.0, rate: 5.0 } }
}

#[derive(Default)]
pub struct Faults {
    pub api: Vec<ApiFault>,
    pub tasks: Vec<TaskFault>,
    pub rate_limits_enabled: bool,
    /// Per-action overrides of the default limits (`ecs:UpdateService` or `UpdateService`).
    pub rate_limits: HashMap<String, RateLimit>,
    /// (partition, service:action) → (tokens, last refill)
    buckets: HashMap<(String, String), (f64, f64)>,
    /// Counters for `GET /_ferry/status`.
    pub injected: u64,
    pub throttled: u64,
}

/// What the fault layer decided for one request.
pub struct Decision {
    pub latency_ms: u64,
    pub error: Option<ApiError>,
}

fn matches(pattern: &str, service: &str, action: &str) -> bool {
    pattern == "*" || pattern == action || pattern == format!("{service}:{action}") || pattern == format!("{service}:*")
}

impl Faults {
    pub fn decide(&mut self, partition: &str, service: &str, action: &str, now: f64) -> Decision {
        let mut decision = Decision { latency_ms: 0, error: None };
        if self.rate_limits_enabled {
            let limit = self
                .rate_limits
                .get(&format!("{service}:{action}"))
                .or_else(|| self.rate_limits.get(action))
                .copied()
                .unwrap_or_else(|| default_limit(action));
            let bucket = self.buckets.entry((partition.to_string(), format!("{service}:{action}"))).or_insert((limit.burst, now));
            bucket.0 = (bucket.0 + (now - bucket.1) * limit.rate).min(limit.burst);
            bucket.1 = now;
            if bucket.0 < 1.0 {
                self.throttled += 1;
                decision.error = Some(ApiError::client("ThrottlingException", "Rate exceeded"));
                return decision;
            }
            bucket.0 -= 1.0;
        }
        let mut rng = rand::rng();
        for fault in self.api.iter().filter(|f| matches(&f.action, service, action)) {
            if rng.random::<f64>() >= fault.probability {
                continue;
            }
            decision.latency_ms += fault.latency_ms;
            if decision.error.is_none()
                && let Some(code) = &fault.error
            {
                let status = fault.status.unwrap_or(if code.contains("Throttl") { 400 } else { 500 });
                let message = fault.message.clone().unwrap_or_else(|| match code.as_str() {
                    "ThrottlingException" => "Rate exceeded".to_string(),
                    _ => "Injected by ferry local".to_string(),
                });
                decision.error = Some(ApiError::new(status, code, message));
                self.injected += 1;
            }
        }
        decision
    }

    pub fn task_fault(&self, family: &str, image: &str, digest: Option<&str>) -> Option<&TaskFault> {
        self.tasks.iter().find(|f| f.applies(family, image, digest))
    }
}

/// An admin request that makes no sense, refused with nothing changed: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct AdminError {
    /// The JSON member at fault (`status`, `limits.ecs:UpdateService.rate`), or `body`.
    pub field: String,
    pub problem: String,
}

fn refuse<T>(field: &str, problem: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError { field: field.to_string(), problem: problem.into() })
}

/// The longest latency a fault may add: longer than any client waits for an answer.
pub const MAX_LATENCY_MS: u64 = 600_000;
/// The longest a task may run before an injected crash: a day.
pub const MAX_CRASH_AFTER_SECONDS: f64 = 86_400.0;

/// The members of a JSON object, taken one by one so that each problem names its member
/// and a member nobody took (a typo) is refused rather than ignored.
struct Members {
    prefix: String,
    map: serde_json::Map<String, serde_json::Value>,
}

impl Members {
    fn of(value: serde_json::Value, prefix: &str, what: &str) -> Result<Members, AdminError> {
        match value {
            serde_json::Value::Object(map) => Ok(Members { prefix: prefix.to_string(), map }),
            other => refuse(if prefix.is_empty() { "body" } else { prefix.trim_end_matches('.') }, format!("must be {what}, got {other}")),
        }
    }

    fn parse(body: &[u8], what: &str) -> Result<Members, AdminError> {
        let value = serde_json::from_slice(body).or_else(|e| refuse("body", format!("not JSON: {e}")))?;
        Members::of(value, "", what)
    }

    fn field(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The member, or None when it is absent or null.
    fn take(&mut self, key: &str) -> Option<serde_json::Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, AdminError> {
        match self.take(key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => refuse(&self.field(key), "must not be empty (leave it out instead)"),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(other) => refuse(&self.field(key), format!("must be a string, got {other}")),
        }
    }

    fn number(&mut self, key: &str) -> Result<Option<f64>, AdminError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() => Ok(Some(n)),
                _ => refuse(&self.field(key), format!("must be a finite number, got {v}")),
            },
        }
    }

    fn bool(&mut self, key: &str) -> Result<Option<bool>, AdminError> {
        match self.take(key) {
            None => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
            Some(other) => refuse(&self.field(key), format!("must be true or false, got {other}")),
        }
    }

    /// Refuses members nobody asked for.
    fn finish(self, known: &str) -> Result<(), AdminError> {
        match self.map.keys().next() {
            Some(key) => refuse(&self.field(key), format!("unknown member (known: {known})")),
            None => Ok(()),
        }
    }
}

/// The services a fault or a limit may name, by their short names.
const SERVICES: [crate::model::Service; crate::model::Service::ALL.len()] = crate::model::Service::ALL;

fn has_operation(service: crate::model::Service, operation: &str) -> bool {
    service.model().is_some_and(|m| m.has_operation(operation))
}

/// Checks an action pattern against the models, so that a typo (`ecs:DescribeService`) is
/// refused rather than never matching: `service:Operation`, `Operation` (of any service),
/// and with `wildcards` also `service:*` and `*`.
fn check_action(field: &str, action: &str, wildcards: bool) -> Result<(), AdminError> {
    let names = || SERVICES.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ");
    let known = match action.split_once(':') {
        _ if wildcards && action == "*" => true,
        Some((service, operation)) => {
            let Some(service) = SERVICES.into_iter().find(|s| s.name() == service) else {
                return refuse(field, format!("unknown service '{service}' in '{action}' (services: {})", names()));
            };
            (wildcards && operation == "*") || has_operation(service, operation)
        }
        None => SERVICES.into_iter().any(|s| has_operation(s, action)),
    };
    if known {
        return Ok(());
    }
    let forms = if wildcards { "service:Operation, Operation, service:* or *" } else { "service:Operation or Operation" };
    refuse(field, format!("'{action}' names no operation of ferry local's services; expected {forms}"))
}

impl ApiFault {
    /// Reads and checks a `POST /_ferry/faults` body.
    pub fn from_json(body: &[u8]) -> Result<ApiFault, AdminError> {
        let mut m = Members::parse(body, "an object like {\"action\": \"ecs:DescribeServices\", \"error\": \"ThrottlingException\"}")?;
        let Some(action) = m.string("action")? else {
            return refuse("action", "is required: service:Operation, Operation, service:* or *");
        };
        check_action("action", &action, true)?;
        let error = m.string("error")?;
        if let Some(code) = &error
            && (code.len() > 128 || !code.chars().all(|c| c.is_ascii_alphanumeric() || "_.:#-".contains(c)))
        {
            return refuse("error", format!("must be an error code such as ThrottlingException, got '{code}'"));
        }
        let status = match m.number("status")? {
            None => None,
            Some(s) if s.fract() == 0.0 && (400.0..=599.0).contains(&s) => Some(s as u16),
            Some(s) => return refuse("status", format!("must be an HTTP error status from 400 to 599, got {s}")),
        };
        let message = m.string("message")?;
        if error.is_none() && (status.is_some() || message.is_some()) {
            let which = if status.is_some() { "status" } else { "message" };
            return refuse(which, "belongs to an injected error: give error (the code) too");
        }
        let probability = match m.number("probability")? {
            None => 1.0,
            Some(p) if (0.0..=1.0).contains(&p) => p,
            Some(p) => return refuse("probability", format!("must be within [0, 1], got {p}")),
        };
        let latency_ms = match m.number("latencyMs")? {
            None => 0,
            Some(ms) if ms.fract() == 0.0 && (0.0..=MAX_LATENCY_MS as f64).contains(&ms) => ms as u64,
            Some(ms) => {
                return refuse("latencyMs", format!("must be a whole number of milliseconds from 0 to {MAX_LATENCY_MS}, got {ms}"));
            }
        };
        m.finish("action, error, status, message, probability, latencyMs")?;
        if error.is_none() && latency_ms == 0 {
            return refuse("error", "a fault needs an error to answer with, a latencyMs to add, or both");
        }
        Ok(ApiFault { action, error, status, message, probability, latency_ms })
    }
}

impl TaskFault {
    /// Reads and checks a `POST /_ferry/task-faults` body.
    pub fn from_json(body: &[u8]) -> Result<TaskFault, AdminError> {
        let mut m = Members::parse(body, "an object like {\"family\": \"web\", \"failToStart\": true}")?;
        let family = m.string("family")?;
        let image_contains = m.string("imageContains")?;
        let digest = m.string("digest")?;
        if let Some(d) = &digest
            && !crate::ecr::is_digest(d)
        {
            return refuse("digest", format!("must be an image digest (sha256: and 64 lowercase hex digits), got '{d}'"));
        }
        let fail_to_start = m.bool("failToStart")?.unwrap_or(false);
        let crash_after_seconds = match m.number("crashAfterSeconds")? {
            None => None,
            Some(s) if (0.0..=MAX_CRASH_AFTER_SECONDS).contains(&s) => Some(s),
            Some(s) => {
                return refuse("crashAfterSeconds", format!("must be a number of seconds from 0 to {MAX_CRASH_AFTER_SECONDS}, got {s}"));
            }
        };
        m.finish("family, imageContains, digest, failToStart, crashAfterSeconds")?;
        match (fail_to_start, crash_after_seconds) {
            (false, None) => refuse("failToStart", "a task fault needs failToStart: true or crashAfterSeconds"),
            (true, Some(_)) => {
                refuse("crashAfterSeconds", "a task that fails to start cannot crash later: give failToStart or crashAfterSeconds")
            }
            _ => Ok(TaskFault { family, image_contains, digest, fail_to_start, crash_after_seconds }),
        }
    }
}

/// Reads and checks a `POST /_ferry/rate-limits` body: `{"limits": {"ecs:UpdateService":
/// {"burst": 20, "rate": 1}}}`; an empty body turns on the default buckets.
pub fn rate_limits_from_json(body: &[u8]) -> Result<HashMap<String, RateLimit>, AdminError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(HashMap::new());
    }
    let mut m = Members::parse(body, "an object like {\"limits\": {\"ecs:UpdateService\": {\"burst\": 20, \"rate\": 1}}}")?;
    let limits = match m.take("limits") {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map,
        Some(other) => return refuse("limits", format!("must be an object of action → {{burst, rate}}, got {other}")),
    };
    m.finish("limits")?;
    let mut out = HashMap::new();
    for (action, limit) in limits {
        let field = format!("limits.{action}");
        check_action(&field, &action, false)?;
        let mut l = Members::of(limit, &format!("{field}."), "an object {\"burst\": N, \"rate\": N}")?;
        let burst = match l.number("burst")? {
            Some(b) if (1.0..=1e6).contains(&b) => b,
            Some(b) => {
                return refuse(
                    &format!("{field}.burst"),
                    format!("must be from 1 to 1000000 requests (a bucket smaller than one request admits none), got {b}"),
                );
            }
            None => return refuse(&format!("{field}.burst"), "is required"),
        };
        let rate = match l.number("rate")? {
            Some(r) if r > 0.0 && r <= 1e6 => r,
            Some(r) => {
                return refuse(&format!("{field}.rate"), format!("must be more than 0 and at most 1000000 requests per second, got {r}"));
            }
            None => return refuse(&format!("{field}.rate"), "is required"),
        };
        l.finish("burst, rate")?;
        out.insert(action, RateLimit { burst, rate });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_throttles_until_it_refills() {
        let mut faults = Faults { rate_limits_enabled: true, ..Default::default() };
        faults.rate_limits.insert("UpdateService".into(), RateLimit { burst: 2.0, rate: 1.0 });
        let t = 100.0;
        assert!(faults.decide("p", "ecs", "UpdateService", t).error.is_none());
        assert!(faults.decide("p", "ecs", "UpdateService", t).error.is_none());
        let third = faults.decide("p", "ecs", "UpdateService", t).error.unwrap();
        assert_eq!(third.code, "ThrottlingException");
        assert!(faults.decide("p", "ecs", "UpdateService", t + 1.0).error.is_none());
        // Another partition has its own bucket.
        assert!(faults.decide("q", "ecs", "UpdateService", t).error.is_none());
    }

    fn fault(body: serde_json::Value) -> Result<ApiFault, AdminError> {
        ApiFault::from_json(body.to_string().as_bytes())
    }

    fn task_fault(body: serde_json::Value) -> Result<TaskFault, AdminError> {
        TaskFault::from_json(body.to_string().as_bytes())
    }

    #[test]
    fn an_admin_fault_with_status_200_is_refused() {
        use serde_json::json;
        let e = fault(json!({"action": "*", "error": "ServiceUnavailableException", "status": 200})).unwrap_err();
        assert_eq!(e.field, "status");
        assert_eq!(e.to_string(), "status: must be an HTTP error status from 400 to 599, got 200");
        for status in [json!(0), json!(399), json!(600), json!(503.5), json!(-500), json!("503")] {
            let e = fault(json!({"action": "*", "error": "X", "status": status})).unwrap_err();
            assert_eq!(e.field, "status", "{status}");
        }
        let ok = fault(json!({"action": "ecs:DescribeServices", "error": "ServiceUnavailableException", "status": 503})).unwrap();
        assert_eq!((ok.status, ok.probability, ok.latency_ms), (Some(503), 1.0, 0));
    }

    #[test]
    fn admin_faults_with_nonsense_are_refused_naming_the_field() {
        use serde_json::json;
        let field = |body: serde_json::Value| fault(body).unwrap_err().field;
        assert_eq!(field(json!({"action": "*", "latencyMs": -5})), "latencyMs");
        assert_eq!(field(json!({"action": "*", "latencyMs": 1.5})), "latencyMs");
        assert_eq!(field(json!({"action": "*", "latencyMs": 1e12})), "latencyMs");
        assert_eq!(field(json!({"action": "*", "error": "X", "probability": 3})), "probability");
        assert_eq!(field(json!({"action": "*", "error": "X", "probability": -0.1})), "probability");
        assert_eq!(field(json!({"error": "X"})), "action");
        assert_eq!(field(json!({"action": "ecs:DescribeService", "error": "X"})), "action");
        assert_eq!(field(json!({"action": "ec2:*", "error": "X"})), "action");
        assert_eq!(field(json!({"action": "*", "error": "Bad Code\n"})), "error");
        assert_eq!(field(json!({"action": "*", "status": 503})), "status");
        assert_eq!(field(json!({"action": "*"})), "error");
        assert_eq!(field(json!({"action": "*", "error": "X", "latency": 5})), "latency");
        assert_eq!(fault(json!([1])).unwrap_err().field, "body");
        assert_eq!(ApiFault::from_json(b"{").unwrap_err().field, "body");
        // Every documented form of action is taken.
        for action in ["*", "ecs:*", "ecr:PutImage", "DescribeServices", "application-autoscaling:RegisterScalableTarget"] {
            assert!(fault(json!({"action": action, "latencyMs": 10})).is_ok(), "{action}");
        }
    }

    #[test]
    fn a_task_fault_with_a_negative_or_endless_duration_is_refused() {
        use serde_json::json;
        for seconds in [json!(-1), json!(1e300), json!("5")] {
            let e = task_fault(json!({"family": "web", "crashAfterSeconds": seconds})).unwrap_err();
            assert_eq!(e.field, "crashAfterSeconds", "{seconds}");
        }
        // JSON has no Infinity or NaN: such a body is not JSON.
        assert_eq!(TaskFault::from_json(br#"{"crashAfterSeconds": Infinity}"#).unwrap_err().field, "body");
        assert_eq!(TaskFault::from_json(br#"{"crashAfterSeconds": 1e999}"#).unwrap_err().field, "body");
        assert_eq!(task_fault(json!({"family": "web"})).unwrap_err().field, "failToStart");
        assert_eq!(task_fault(json!({"failToStart": true, "crashAfterSeconds": 1})).unwrap_err().field, "crashAfterSeconds");
        assert_eq!(task_fault(json!({"digest": "abc", "failToStart": true})).unwrap_err().field, "digest");
        assert_eq!(task_fault(json!({"family": "", "failToStart": true})).unwrap_err().field, "family");
        assert_eq!(task_fault(json!({"failToStart": "yes"})).unwrap_err().field, "failToStart");
        let ok = task_fault(json!({"family": "flaky", "crashAfterSeconds": 1})).unwrap();
        assert_eq!(ok.crash_after_seconds, Some(1.0));
    }

    #[test]
    fn rate_limits_with_nonsense_values_are_refused() {
        let refused = |body: &str| rate_limits_from_json(body.as_bytes()).unwrap_err().field;
        assert_eq!(refused(r#"{"limits": {"ecs:UpdateService": {"burst": 0, "rate": 1}}}"#), "limits.ecs:UpdateService.burst");
        assert_eq!(refused(r#"{"limits": {"ecs:UpdateService": {"burst": 5, "rate": -1}}}"#), "limits.ecs:UpdateService.rate");
        assert_eq!(refused(r#"{"limits": {"ecs:UpdateService": {"burst": 5, "rate": 0}}}"#), "limits.ecs:UpdateService.rate");
        assert_eq!(refused(r#"{"limits": {"ecs:UpdateService": {"burst": 5}}}"#), "limits.ecs:UpdateService.rate");
        assert_eq!(refused(r#"{"limits": {"ecs:UpdateService": {"burst": 5, "rate": 1, "x": 1}}}"#), "limits.ecs:UpdateService.x");
        assert_eq!(refused(r#"{"limits": {"ecs:UpdateServices": {"burst": 5, "rate": 1}}}"#), "limits.ecs:UpdateServices");
        assert_eq!(refused(r#"{"limits": {"ecs:*": {"burst": 5, "rate": 1}}}"#), "limits.ecs:*");
        assert_eq!(refused(r#"{"limits": []}"#), "limits");
        assert_eq!(refused(r#"{"limit": {}}"#), "limit");
        assert!(rate_limits_from_json(b"").unwrap().is_empty());
        assert!(rate_limits_from_json(b"{}").unwrap().is_empty());
        let limits = rate_limits_from_json(
            br#"{"limits": {"ecs:UpdateService": {"burst": 20, "rate": 1}, "DescribeServices": {"burst": 1, "rate": 0.5}}}"#,
        )
        .unwrap();
        assert_eq!(limits.len(), 2);
    }

    #[test]
    fn faults_match_by_action_service_or_everything() {
        let mut faults = Faults::default();
        faults.api.push(ApiFault {
            action: "ecs:DescribeServices".into(),
            error: Some("ServiceUnavailableException".into()),
            status: Some(503),
            probability: 1.0,
            ..Default::default()
        });
        let hit = faults.decide("p", "ecs", "DescribeServices", 0.0).error.unwrap();
        assert_eq!((hit.status, hit.code.as_str()), (503, "ServiceUnavailableException"));
        assert!(faults.decide("p", "ecs", "ListServices", 0.0).error.is_none());
        assert!(faults.decide("p", "ecr", "DescribeServices", 0.0).error.is_none());
    }
}
