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

mod listeners;
mod load_balancers;
mod rules;
mod tags;
mod target_groups;
mod targets;

pub use crate::api::Ctx;
use crate::api::{ApiResult, Input};

/// The handler of an ELBv2 operation; None for one ferry local does not serve.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    load_balancers::dispatch(operation, ctx, input)
        .or_else(|| target_groups::dispatch(operation, ctx, input))
        .or_else(|| targets::dispatch(operation, ctx, input))
        .or_else(|| listeners::dispatch(operation, ctx, input))
        .or_else(|| rules::dispatch(operation, ctx, input))
        .or_else(|| tags::dispatch(operation, ctx, input))
}
