//! ferry local: an embedded, wire-compatible ECS (with ECR and Application Auto Scaling)
//! that runs tasks as host processes.
//!
//! It is what ferry's README demo and integration tests run against, and a place for users
//! to rehearse a pipeline with the aws CLI, boto3 or any AWS SDK: point the client's
//! endpoint URL at it and nothing else changes. The botocore service models in `models/`
//! are its specification; where it cannot do what ECS does (no containers, one host) the
//! README of ferry local (`docs/local.md`) says so.
//!
//! Layout: `server` (HTTP, dispatch, admin path) → `protocol` (the wire: AWS JSON 1.1, the
//! Query protocol with XML answers, Smithy RPC v2 CBOR; `wire`: the caller from SigV4) → `model` (validation against the service models) →
//! `ecs`, `ecr`, `autoscaling`, `ssm`, `secretsmanager`, `dynamodb`, `cloudwatch` (control plane handlers: input value in, output value or
//! `ApiError` out, with `api`'s helpers, changing only `state`) → `records` (the changes to state that handlers
//! and the scheduler share) ← `scheduler` (rolling deployments, circuit breaker: decisions
//! from state and time, applied through `records`) ← `runtime` (processes, health checks,
//! the task lifecycle). `logs` is CloudWatch Logs: its handlers, and the event store (one
//! append-only file per log stream beside the state, not in it) that the awslogs driver of
//! `runtime` writes container output to.

mod api;
mod autoscaling;
mod cloudwatch;
mod dynamodb;
mod ecr;
mod ecs;
mod elbv2;
pub mod faults;
mod logs;
mod model;
mod native;
mod protocol;
mod records;
mod runtime;
mod scheduler;
mod secretsmanager;
mod server;
mod ssm;
mod state;
mod traffic;
pub mod wire;

pub use ecr::valid_repository_name;
pub use server::{DEFAULT_PORT, LocalError, LocalServer, Options};
/// The load balancers' access log, a file under `<state dir>/logs/`.
pub use traffic::access_log::FILE_NAME as ACCESS_LOG;

/// Where a task's container logs are kept under the state directory:
/// `logs/<task id>/<container name>.log`.
pub fn task_log_dir(state_dir: &std::path::Path, task_id: &str) -> std::path::PathBuf {
    state_dir.join("logs").join(task_id)
}
