//! What every command hands ferry-app: the project from the global arguments, who runs it
//! (this user on this host, this process), and Ctrl-C as a cancellation token.

use ferry_app::{Actor, CancellationToken, Project};

use crate::cli::{GlobalArgs, VarArgs};

/// The project the global arguments name.
pub fn project(global: &GlobalArgs) -> Project {
    Project {
        config: global.config.clone(),
        ledger: global.ledger.clone(),
        endpoint_url: global.endpoint_url.clone(),
        vars: Default::default(),
    }
}

/// The project, with the command's `--var`s for its templates.
pub fn project_with_vars(global: &GlobalArgs, vars: VarArgs) -> Project {
    Project { vars: vars.into_map(), ..project(global) }
}

/// Who runs this process: `$FERRY_USER`, else user@host, on this host, as this process.
pub fn actor() -> Actor {
    Actor::this_process()
}

/// A token cancelled on Ctrl-C (SIGINT) or SIGTERM: what a CI job's cancellation and
/// `timeout(1)` send. For `ferry run`, whose task must not run on unseen; a deploy killed by
/// SIGTERM is finished by running it again (its steps are journaled), so it keeps Ctrl-C's.
pub fn cancel_on_ctrl_c_or_term() -> CancellationToken {
    let token = cancel_on_ctrl_c();
    let cancel = token.clone();
    tokio::spawn(async move {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            && term.recv().await.is_some()
        {
            cancel.cancel();
        }
    });
    token
}

/// A token cancelled by the first Ctrl-C (SIGINT) from now on: a run under way stops
/// watching, marks its deployments interrupted and frees its locks (exit 130).
pub fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            cancel.cancel();
        }
    });
    token
}
