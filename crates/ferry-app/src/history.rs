//! Past deployments from the ledger, newest first.

use ferry_store::{DeploymentRecord, HistoryFilter};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::project::{self, Context};

/// Which deployments.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryInput {
    /// Only this environment's; None for all.
    pub environment: Option<String>,
    /// Only this service's; None for all.
    pub service: Option<String>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// The deployments found, and the ledger they were read from.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryResult {
    /// Newest first (times in milliseconds since the Unix epoch).
    pub deployments: Vec<DeploymentRecord>,
    /// Where the ledger is: its file, or its shared store (`dynamodb://TABLE (REGION)`).
    #[serde(skip)]
    pub ledger: String,
}

/// Reads the ledger's deployments. Errors: an environment ferry.toml does not define (a
/// typo, not an empty history: invalid input, exit 2); the ledger (8). Without a readable
/// ferry.toml the environment is not checked: history is the ledger's.
pub async fn history(ctx: &Context<'_>, input: HistoryInput) -> Result<HistoryResult> {
    if let Some(env) = &input.environment
        && let Ok(config) = project::load_config(ctx.project)
        && !config.environments.contains_key(env)
    {
        let known: Vec<&str> = config.environments.keys().map(String::as_str).collect();
        return Err(Error::input(format!("no environment {env:?} in {} (known: {})", ctx.project.config.display(), known.join(", "))));
    }
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let filter = HistoryFilter { environment: input.environment, service: input.service, limit: input.limit };
    // A deployment a dead run left "in progress" is shown as interrupted, at its step.
    let now = crate::journal::now_ms();
    let deployments = ledger.history(&filter)?.into_iter().map(|r| crate::journal::as_seen(&ledger, r, now)).collect();
    Ok(HistoryResult { deployments, ledger: ledger.location() })
}
