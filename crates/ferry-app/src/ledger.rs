//! The ledger itself: create it where ferry.toml says (`ferry ledger init`), and move its
//! history between stores (`ferry ledger export`, `ferry ledger import`).

use serde::Serialize;

use ferry_aws::ledger::InitOutcome;
use ferry_store::transfer::{self, Export, ImportCounts, ImportRun};

use crate::error::{Error, Result};
use crate::journal::now_ms;
use crate::project::{self, Context, LedgerLocation};

/// What `ferry ledger init` found or made.
#[derive(Clone, Debug, Serialize)]
pub struct InitResult {
    /// The file, or `dynamodb://TABLE`.
    pub ledger: String,
    /// `sqlite` or `dynamodb`.
    pub backend: &'static str,
    /// False when it was there already (init changes nothing then).
    pub created: bool,
    /// What was done or found, in words.
    pub detail: String,
}

/// Creates the ledger where [`project::ledger_location`] says, or checks the one there:
/// SQLite opens (creating or upgrading) the file; DynamoDB creates the table (on-demand
/// capacity, TTL on lock leases) and waits until it is ACTIVE. Idempotent. Errors: the
/// config (exit 2); a store that refuses (no permission, a table that is not ferry's: 8).
pub async fn init(ctx: &Context<'_>) -> Result<InitResult> {
    match project::ledger_location(ctx.project)? {
        LedgerLocation::Sqlite(path) => {
            let existed = path.exists();
            let ledger = ferry_store::Ledger::open(&path)
                .map_err(|e| Error::ledger_at(format!("cannot open the ledger {}: {e}", path.display()), &path, e))?;
            for warning in ledger.warnings() {
                ctx.sink.warning(&warning.to_string());
            }
            Ok(InitResult {
                ledger: path.display().to_string(),
                backend: "sqlite",
                created: !existed,
                detail: format!(
                    "{} SQLite ledger, schema version {}",
                    if existed { "an existing" } else { "a new" },
                    ferry_store::SCHEMA_VERSION
                ),
            })
        }
        LedgerLocation::Dynamodb { table, target } => {
            let report =
                ferry_aws::ledger::init(&target, &table).await.map_err(|e| Error::ledger(format!("cannot create the ledger: {e}")))?;
            let (created, what) = match report.outcome {
                InitOutcome::Created => (true, "created the table (on-demand capacity, TTL on lock leases)"),
                InitOutcome::AlreadyThere => (false, "the table was there already; nothing was changed"),
                InitOutcome::Adopted => (true, "an empty table with ferry's keys (made by Terraform?) got its schema item"),
            };
            Ok(InitResult {
                ledger: report.location,
                backend: "dynamodb",
                created,
                detail: format!("{what}; schema version {}", report.schema_version),
            })
        }
    }
}

/// Every deployment (with its events and steps), release and promotion of the ledger.
pub async fn export(ctx: &Context<'_>) -> Result<Export> {
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    Ok(transfer::export(&ledger, now_ms())?)
}

/// Adds what `export` holds and the ledger lacks (see [`ferry_store::transfer::import`]).
/// Errors: an export that is not one, is newer, or was damaged (exit 2, checked before the
/// ledger is opened, nothing written); the ledger (8).
pub async fn import(ctx: &Context<'_>, export: &Export) -> Result<ImportCounts> {
    transfer::check(export).map_err(|e| Error::input(e.to_string()))?;
    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let holder = ferry_store::LockHolder {
        deployment_id: project::new_id("import"),
        who: ctx.actor.who.clone(),
        host: ctx.actor.host.clone(),
        pid: ctx.actor.pid,
    };
    // A line every tenth of the way (and at least every 25 deployments), for imports that take minutes.
    let mut said = 0;
    let mut progress = |done: usize, total: usize| {
        let step = (total / 10).clamp(1, 25);
        if done == total || done >= said + step {
            said = done;
            ctx.sink.note(None, &format!("imported {done} of {total} deployments"));
        }
    };
    let run = ImportRun { holder, holder_is_gone: &crate::journal::holder_is_gone, now: &now_ms, progress: &mut progress };
    transfer::import(&ledger, export, run).map_err(|e| match e {
        ferry_store::StoreError::Invalid(message) => Error::input(message),
        ferry_store::StoreError::LockHeld(info) => Error::new(
            ferry_core::ExitKind::LockHeld,
            format!(
                "another import into {} is running: {} holds it since {}; wait for it to end, then run the same command again (it adds only what is still missing)",
                ledger.location(),
                info.holder.name(),
                ferry_store::format_rfc3339(info.acquired_at)
            ),
        ),
        other => Error::from(other),
    })
}
