//! The records: the operations on state that the API handlers and the engine (scheduler,
//! runtime) share.
//!
//! A handler (UpdateService, StopServiceDeployment, RunTask, StopTask,
//! RegisterScalableTarget) and the engine (a rolling update, the circuit breaker, a task
//! start, the auto scaling hold) change or read the same records — a deployment and its
//! service deployment, a task, a service event, an image reference, a desired count — in
//! the same way. Those operations live here, apart from both, so neither reaches into the
//! other: handlers know the API, the engine knows when, and this module knows what a change
//! does to the records.

mod deployments;
mod images;
mod scaling;
mod secrets;
pub mod targets;
pub mod task_targets;
mod tasks;

use std::collections::BTreeMap;

use crate::state::{Partition, Service, ServiceEvent, TaskDefinition};

pub use deployments::{circuit_breaker_threshold, new_deployment, start_rollback};
pub use images::{ImageRef, resolve_image};
pub use scaling::enforce_scalable_targets;
pub use secrets::resolve_secrets;
pub use tasks::{Placement, new_task, stop_task};

/// The registered task definition an ARN (`…:task-definition/family:revision`) names, of any
/// status; None for an ARN without a revision or a revision never registered.
pub fn find_definition<'a>(partition: &'a Partition, arn: &str) -> Option<&'a TaskDefinition> {
    definition_in(&partition.task_definitions, arn)
}

/// The revision a task definition ARN names, in a family → revisions map.
pub fn definition_in<'a>(definitions: &'a BTreeMap<String, Vec<TaskDefinition>>, arn: &str) -> Option<&'a TaskDefinition> {
    let short = arn.rsplit('/').next()?;
    let (family, revision) = short.rsplit_once(':')?;
    let revision: i64 = revision.parse().ok()?;
    definitions.get(family)?.iter().find(|t| t.revision == revision)
}

/// Adds a service event (newest first; ECS keeps the latest 100, as DescribeServices
/// `events` shows them).
pub fn record_event(service: &mut Service, now: f64, message: String) {
    service.events.push_front(ServiceEvent { id: uuid::Uuid::new_v4().to_string(), created_at: now, message });
    service.events.truncate(100);
}
