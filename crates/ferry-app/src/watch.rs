//! Follow a deployment the ledger has in progress — one started with `ferry deploy
//! --detach`, or whose run died — to its end (`ferry watch ENV SERVICE`). It is resumed as
//! the same deploy run again would resume it: same deployment id, journal and lock; its ECS
//! deployment watched, not started again; an ecs-native deployment's PAUSE hooks checked and
//! answered as the deploy would. Nothing in progress: the last deployment is said.

use std::time::Duration;

use ferry_store::{DeploymentRecord, HistoryFilter};
use serde::{Deserialize, Serialize};

use crate::deploy::{DeployInput, Deployed};
use crate::error::{Error, Result};
use crate::project::{self, Context, ServiceVersion};

/// Which service's deployment to follow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WatchInput {
    pub environment: String,
    pub service: String,
    /// How long the deployment may still take; None for the environment's `timeout`.
    pub timeout: Option<Duration>,
}

/// What `watch` found.
#[derive(Debug)]
pub enum Watched {
    /// A deployment was in progress: followed to its end.
    Followed(Box<Deployed>),
    /// Nothing in progress: the newest deployment of the service, if any.
    NothingInProgress(Option<Box<DeploymentRecord>>),
}

/// Follows the service's deployment in progress to its end. Errors: an unknown environment
/// or service (exit 2), a deployment in progress that names no version (it cannot be
/// resumed: invalid input), and those of [`crate::deploy::deploy`].
pub async fn watch(ctx: &Context<'_>, input: WatchInput) -> Result<Watched> {
    let config = project::load_config(ctx.project)?;
    config.environment(&input.environment).map_err(Error::config)?;
    config.service(&input.service).map_err(Error::config)?;
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let Some(record) = ledger.unfinished(&input.environment, &input.service)? else {
        let filter = HistoryFilter { environment: Some(input.environment.clone()), service: Some(input.service.clone()), limit: 1 };
        let last = ledger.history(&filter)?.into_iter().next().map(Box::new);
        return Ok(Watched::NothingInProgress(last));
    };
    let Some(version) = record.to_version.clone() else {
        return Err(Error::input(format!(
            "deployment {} of {} in {} is in progress but names no version, so it cannot be followed; `ferry status {}` shows it",
            record.id, input.service, input.environment, input.environment
        )));
    };
    let deploy = DeployInput {
        environment: input.environment,
        services: vec![ServiceVersion { service: input.service, version }],
        timeout: input.timeout,
        force: false,
        no_probe: false,
        skip_gates: None,
        detach: false,
        resuming: true,
    };
    Ok(Watched::Followed(Box::new(crate::deploy::deploy_and_clean_up(ctx, deploy).await?)))
}
