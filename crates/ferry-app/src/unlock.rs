//! Free a lock a deploy left behind, saying why. The ledger records whose lock it was, who
//! freed it, when and why, in the same transaction that frees it.

use ferry_store::Unlock;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::now_ms;
use crate::project::{self, Context};

/// Which lock, and why it may be freed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnlockInput {
    pub environment: String,
    pub service: String,
    /// Recorded with the actor's name; must not be empty.
    pub reason: String,
}

/// What was freed: None when the service was not locked (nothing recorded).
#[derive(Clone, Debug, Serialize)]
pub struct UnlockResult {
    pub environment: String,
    pub service: String,
    pub freed: Option<Unlock>,
    /// When it was freed (milliseconds since the epoch): a lease past this had run out.
    #[serde(skip)]
    pub at: i64,
}

/// Frees the lock. Everything the input says is checked before the ledger is opened.
/// Errors: an unknown environment or service, an empty reason (invalid input, exit 2);
/// the ledger (8).
pub async fn unlock(ctx: &Context<'_>, input: UnlockInput) -> Result<UnlockResult> {
    let config = project::load_config(ctx.project)?;
    config.environment(&input.environment).map_err(Error::config)?;
    config.service(&input.service).map_err(Error::config)?;
    let reason = input.reason.trim();
    if reason.is_empty() {
        return Err(Error::input(format!(
            "--reason is empty: say why the lock on {} in {} may be freed (it is recorded with your name), e.g. --reason \"deploy killed with its CI runner\"",
            input.service, input.environment
        )));
    }
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let now = now_ms();
    let freed = ledger.unlock(&input.environment, &input.service, &ctx.actor.who, reason, now)?;
    Ok(UnlockResult { environment: input.environment, service: input.service, freed, at: now })
}
