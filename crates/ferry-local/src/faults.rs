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
use serde::{Deserialize, Serialize};

use crate::wire::ApiError;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiFault {
    /// `ecs:DescribeServices`, `DescribeServices`, `ecs:*` or `*`.
    pub action: String,
    /// The error code to answer with, e.g. `ThrottlingException` or `ServiceUnavailableException`.
    #[serde(default)]
    pub error: Option<String>,
    /// HTTP status of the error (default 400 for ThrottlingException, else 500).
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
    /// Chance in [0, 1] that a matching request is affected (default 1).
    #[serde(default = "one")]
    pub probability: f64,
    /// Latency added before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
}

fn one() -> f64 {
    1.0
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFault {
    /// Task definition family the fault applies to (any when absent).
    #[serde(default)]
    pub family: Option<String>,
    /// Applies to containers whose image contains this string (any when absent).
    #[serde(default)]
    pub image_contains: Option<String>,
    /// Applies to containers whose image resolved to this digest (any when absent): how a
    /// test breaks one version behind a moving tag (`app:prod`).
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub fail_to_start: bool,
    #[serde(default)]
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
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
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
    pattern == "*"
        || pattern == action
        || pattern == format!("{service}:{action}")
        || pattern == format!("{service}:*")
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
            let bucket = self
                .buckets
                .entry((partition.to_string(), format!("{service}:{action}")))
                .or_insert((limit.burst, now));
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

    #[test]
    fn faults_match_by_action_service_or_everything() {
        let mut faults = Faults::default();
        faults.api.push(ApiFault { action: "ecs:DescribeServices".into(), error: Some("ServiceUnavailableException".into()), status: Some(503), probability: 1.0, ..Default::default() });
        let hit = faults.decide("p", "ecs", "DescribeServices", 0.0).error.unwrap();
        assert_eq!((hit.status, hit.code.as_str()), (503, "ServiceUnavailableException"));
        assert!(faults.decide("p", "ecs", "ListServices", 0.0).error.is_none());
        assert!(faults.decide("p", "ecr", "DescribeServices", 0.0).error.is_none());
    }
}
