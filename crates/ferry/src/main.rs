//! The ferry binary: parses the command line, runs one command, reports errors once, here,
//! and exits with a code that says what kind of failure it was.

mod check;
mod cli;
mod demo;
mod deploy;
mod history;
mod init;
mod local;
mod output;
mod plan;
mod project;
mod promote;
mod release;
mod rollback;
mod sample_app;
mod status;
mod tag;
mod unlock;

use clap::Parser;
use ferry_core::ExitKind;

use crate::cli::{Cli, Command};

/// The system allocator, with a memory budget for template rendering: a runaway template is
/// a template error, not an aborted process (see ferry_core::memory).
#[global_allocator]
static ALLOCATOR: ferry_core::memory::BoundedAlloc = ferry_core::memory::BoundedAlloc;

/// An error as the user sees it: what went wrong and what kind of failure it is.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: ExitKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ExitKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into() }
    }
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ExitKind::InvalidInput, message)
    }
    pub fn platform(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Platform, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Internal, message)
    }
    /// The ledger could not be opened, read or written (exit 8).
    pub fn ledger(message: impl Into<String>) -> Self {
        Self::new(ExitKind::Ledger, message)
    }
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("FERRY_LOG")).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(ExitKind::Internal.code());
        }
    };
    let result = runtime.block_on(async {
        let global = &cli.global;
        match cli.command {
            Command::Deploy(args) => deploy::run(global, args).await,
            Command::Plan(args) => plan::run(global, args).await,
            Command::Promote(args) => promote::run(global, args).await,
            Command::Release(command) => release::run(global, command).await,
            Command::Tag(args) => tag::run(global, args).await,
            Command::Rollback(args) => rollback::run(global, args).await,
            Command::Status(args) => status::run(global, args).await,
            Command::Unlock(args) => unlock::run(global, args),
            Command::History(args) => history::run(global, args),
            Command::Check => check::run(global),
            Command::Init(args) => init::run(global, args).await,
            Command::Completions { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut command, "ferry", &mut std::io::stdout());
                Ok(())
            }
            Command::Local(command) => local::run(global, command).await,
            Command::Demo(args) => demo::run(global, args).await,
            Command::SampleApp(args) => sample_app::run(args).await,
        }
    });
    if let Err(failure) = result {
        eprintln!("error: {failure}");
        std::process::exit(failure.kind.code());
    }
}
