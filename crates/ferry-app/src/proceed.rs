//! Answer an ECS-managed deployment paused at a lifecycle hook (`ferry continue ENV SERVICE
//! [--rollback]`): the service's service deployment in progress with a PAUSE hook awaiting
//! action is continued, or rolled back (ContinueServiceDeployment, ECS API reference). What
//! ferry's own checks do at a hook when `[services.NAME.ecs_native] approve = true` leaves
//! the answer to a person.

use ferry_core::platform::Ecs;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::{self, Context};

/// Which service, and the answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ContinueInput {
    pub environment: String,
    pub service: String,
    /// Roll back instead of continuing.
    #[serde(default)]
    pub rollback: bool,
}

/// The hook answered.
#[derive(Clone, Debug, Serialize)]
pub struct Continued {
    pub environment: String,
    pub service: String,
    pub service_deployment: String,
    pub hook_id: String,
    /// The lifecycle stage the deployment was paused at.
    pub stage: Option<String>,
    /// CONTINUE or ROLLBACK.
    pub action: String,
}

/// Answers the hook. Errors: an unknown environment or service (exit 2); no service
/// deployment of it waiting at a PAUSE hook (exit 4, nothing changed); AWS (3).
pub async fn proceed(ctx: &Context<'_>, input: ContinueInput) -> Result<Continued> {
    let config = project::load_config(ctx.project)?;
    config.environment(&input.environment).map_err(Error::config)?;
    config.service(&input.service).map_err(Error::config)?;
    let cluster = config.environment(&input.environment).map_err(Error::config)?.cluster.clone();
    let ecs_service = config.ecs_service_name(&input.environment, &input.service).map_err(Error::config)?;
    let connected = project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref()).await?;
    let listed = connected.ecs.list_service_deployments(&cluster, &ecs_service, &["IN_PROGRESS"]).await?;
    let mut waiting = None;
    for brief in &listed {
        let Some(deployment) = connected.ecs.describe_service_deployment(&brief.arn).await? else { continue };
        if let Some(hook) = deployment.hooks.iter().find(|h| h.target_type == "PAUSE" && h.status == "AWAITING_ACTION") {
            waiting = Some((deployment.clone(), hook.clone()));
            break;
        }
    }
    let Some((deployment, hook)) = waiting else {
        let what = match listed.first() {
            Some(d) => format!("its service deployment in progress ({}) is not waiting at a lifecycle hook", d.arn),
            None => "it has no service deployment in progress".to_string(),
        };
        return Err(Error::refused(format!(
            "nothing to continue: {} ({ecs_service} in {cluster}) is not paused: {what} (nothing was changed)",
            input.service
        )));
    };
    connected.ecs.continue_service_deployment(&deployment.arn, &hook.hook_id, input.rollback).await?;
    Ok(Continued {
        environment: input.environment,
        service: input.service,
        service_deployment: deployment.arn,
        hook_id: hook.hook_id,
        stage: deployment.lifecycle_stage,
        action: if input.rollback { "ROLLBACK" } else { "CONTINUE" }.into(),
    })
}
