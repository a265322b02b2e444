//! `ferry ledger init|export|import`: create the ledger where ferry.toml says, and move its
//! history between a machine's SQLite file and the shared DynamoDB table.

use std::io::{Read, Write};
use std::path::Path;

use ferry_app::{Context, Error};
use ferry_store::transfer::Export;

use crate::Failure;
use crate::cli::{GlobalArgs, LedgerCommand};
use crate::output::Printer;

pub async fn run(global: &GlobalArgs, command: LedgerCommand) -> Result<(), Failure> {
    let name = match &command {
        LedgerCommand::Init => "ledger init",
        LedgerCommand::Export { .. } => "ledger export",
        LedgerCommand::Import { .. } => "ledger import",
    };
    // `--output json` ends with a result object, also when the command is refused.
    ledger(global, command).await.inspect_err(|failure| crate::output::failure_result(global, name, failure))
}

async fn ledger(global: &GlobalArgs, command: LedgerCommand) -> Result<(), Failure> {
    let printer = Printer::new(global);
    let (project, actor) = (crate::app::project(global), crate::app::actor());
    let ctx = Context { project: &project, actor: &actor, sink: &printer, cancel: Default::default() };
    match command {
        LedgerCommand::Init => {
            let result = ferry_app::ledger::init(&ctx).await?;
            if printer.json() {
                printer.json_line(&serde_json::json!({"type": "result", "command": "ledger init", "exit_code": 0, "result": result}));
            } else {
                let verb = if result.created { "created" } else { "ready" };
                printer.out(&format!("{verb}: {} ({})", result.ledger, result.detail));
            }
        }
        LedgerCommand::Export { file } => {
            let export = ferry_app::ledger::export(&ctx).await?;
            let text = serde_json::to_string_pretty(&export).map_err(|e| Error::internal(format!("cannot write the export: {e}")))?;
            let summary = format!(
                "exported {} deployments, {} releases and {} promotions from {}",
                export.deployments.len(),
                export.releases.len(),
                export.promotions.len(),
                export.source
            );
            match file {
                Some(path) => {
                    write_whole(&path, text.as_bytes())?;
                    if printer.json() {
                        printer.json_line(&serde_json::json!({
                            "type": "result", "command": "ledger export", "exit_code": 0,
                            "file": path, "source": export.source,
                            "deployments": export.deployments.len(), "releases": export.releases.len(), "promotions": export.promotions.len(),
                        }));
                    } else {
                        printer.out(&format!("{summary} to {}", path.display()));
                    }
                }
                // The document itself is the output; the summary goes to stderr.
                None => {
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "{text}").map_err(|e| Error::internal(format!("cannot write the export to stdout: {e}")))?;
                    printer.note(None, &summary);
                }
            }
        }
        LedgerCommand::Import { file } => {
            let export = read_export(&file)?;
            let counts = ferry_app::ledger::import(&ctx, &export).await?;
            if printer.json() {
                printer.json_line(&serde_json::json!({"type": "result", "command": "ledger import", "exit_code": 0, "counts": counts}));
            } else {
                printer.out(&format!(
                    "imported {} deployments ({} were there already), {} events, {} steps, {} releases ({} there already, {} rejections), {} promotions ({} there already)",
                    counts.deployments_added,
                    counts.deployments_present,
                    counts.events_added,
                    counts.steps_added,
                    counts.releases_added,
                    counts.releases_present,
                    counts.rejections_added,
                    counts.promotions_added,
                    counts.promotions_present
                ));
            }
        }
    }
    Ok(())
}

/// Reads an export from `file` (`-`: stdin). Errors (invalid input, exit 2): a file that
/// cannot be read or is not an export's JSON.
fn read_export(file: &Path) -> Result<Export, Failure> {
    let (text, name) = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| Error::input(format!("cannot read the export from stdin: {e}")))?;
        (text, "stdin".to_string())
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| Error::input(format!("cannot read {}: {e}", file.display())))?;
        (text, file.display().to_string())
    };
    serde_json::from_str(&text).map_err(|e| {
        Error::input(format!("{name} is not a ferry ledger export ({e}); write one with `ferry ledger export`; nothing was imported"))
    })
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed into place: a
/// failure or a kill leaves the old file (or none), never half an export.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let failed = |e: std::io::Error| Error::input(format!("cannot write {}: {e}", path.display()));
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    temp.write_all(bytes).map_err(failed)?;
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}
