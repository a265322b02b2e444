//! Deploy `SERVICE=VERSION...` to an environment: preflight, lock, register, one
//! UpdateService per service, watch the exact ECS deployment, roll back on failure; several
//! services in parallel. A service that already runs what is asked for is left alone
//! (outcome `unchanged`), unless `force`.

use std::time::Duration;

use ferry_core::deploy::Run;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::journal::SystemClock;
use crate::project::{Context, ServiceVersion, Session};
use crate::run::{RunResult, until_cancelled};

/// What to deploy where.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployInput {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// One or more services, each named once, with the version (image tag) to deploy.
    pub services: Vec<ServiceVersion>,
    /// How long to watch each deployment before it fails and is rolled back; None for the
    /// environment's `timeout`.
    pub timeout: Option<Duration>,
    /// When a service already runs what is asked for (the rendered task definition's
    /// normalized diff against the running one is empty, and the digest is the same), make
    /// a new ECS deployment of its running revision (UpdateService `forceNewDeployment`),
    /// watched like any deployment. False: such a service is left alone (outcome
    /// `unchanged`, no AWS call that changes anything).
    #[serde(default)]
    pub force: bool,
}

/// Deploys and watches until every service has succeeded or failed (and been rolled back).
///
/// The result holds every service's report, also when some failed ([`RunResult::error`]
/// says so). Errors before the run: invalid input (exit 2), the platform or the ledger
/// unusable (3, 8); [`crate::Error::Interrupted`] when `ctx.cancel` fires during it (130).
pub async fn deploy(ctx: &Context<'_>, input: DeployInput) -> Result<RunResult> {
    let mut session = ctx.before_changes("deploy", Session::open(ctx, &input.environment, &input.services, input.timeout, "run")).await?;
    for request in &mut session.requests {
        request.force = input.force;
    }
    let locks = session.locks();
    let journal = session.journal(ctx.sink);
    let run = Run {
        ecs: &session.connected.ecs,
        elb: &session.connected.elb,
        registry: &session.connected.registry,
        clock: &SystemClock,
        locks: &locks,
        observer: &journal,
    };
    let reports =
        until_cancelled(&ctx.cancel, &session.ledger, &session.requests, &session.run_id, "deploy", run.deploy(&session.requests)).await?;
    Ok(RunResult { command: "deploy", run_id: session.run_id, services: reports })
}
