//! The ferry binary: parses the command line, runs one command (most through ferry-app's
//! use cases), reports errors once, here, and exits with a code that says what kind of
//! failure it was.

mod app;
mod check;
mod cli;
mod continue_cmd;
mod demo;
mod deploy;
mod events;
mod gc;
mod history;
mod init;
mod ledger;
mod local;
mod logs;
mod output;
mod plan;
mod promote;
mod release;
mod rollback;
mod run;
mod sample_app;
mod scale;
mod status;
mod tag;
mod unlock;
mod watch;

use clap::Parser;
use ferry_core::ExitKind;

use crate::cli::{Cli, Command};

/// The system allocator, with a memory budget for template rendering: a runaway template is
/// a template error, not an aborted process (see ferry_core::memory).
#[global_allocator]
static ALLOCATOR: ferry_core::memory::BoundedAlloc = ferry_core::memory::BoundedAlloc;

/// An error as the user sees it: ferry-app's one error type, for the binary's own commands
/// too. Its kind is the exit code; [`report`] says it.
pub type Failure = ferry_app::Error;

/// Says an error, the one place that does: `error: ` and the message, the causes the
/// message does not already say, and a hint when ferry has one; then exits with the code
/// of its kind.
fn report(failure: &Failure) -> ! {
    eprintln!("error: {failure}");
    for cause in ferry_app::error::unsaid_causes(failure) {
        eprintln!("  caused by: {cause}");
    }
    if let Some(hint) = failure.hint() {
        eprintln!("hint: {hint}");
    }
    std::process::exit(failure.kind().code());
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
    let name = command_name(&cli.command);
    let global = &cli.global;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Deploy(args) => deploy::run(global, args).await,
            Command::Plan(args) => plan::run(global, args).await,
            Command::Promote(args) => promote::run(global, args).await,
            Command::Release(command) => release::run(global, command).await,
            Command::Ledger(command) => ledger::run(global, command).await,
            Command::Tag(args) => tag::run(global, args).await,
            Command::Rollback(args) => rollback::run(global, args).await,
            Command::Status(args) => status::run(global, args).await,
            Command::Run(args) => run::run(global, args).await,
            Command::Scale(args) => scale::run(global, args).await,
            Command::Events(args) => events::run(global, args).await,
            Command::Logs(args) => logs::run(global, args).await,
            Command::Unlock(args) => unlock::run(global, args).await,
            Command::Watch(args) => watch::run(global, args).await,
            Command::Continue(args) => continue_cmd::run(global, args).await,
            Command::Gc(args) => gc::run(global, args).await,
            Command::History(args) => history::run(global, args).await,
            Command::Check(args) => check::run(global, args),
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
        // `--output json` ends with a result object, also when the command failed before
        // it could print its own.
        if !output::result_written() {
            output::failure_result(global, name, &failure);
        }
        report(&failure);
    }
}

/// The command's name in a JSON result object (`deploy`, `release`, `local`).
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Deploy(_) => "deploy",
        Command::Plan(_) => "plan",
        Command::Promote(_) => "promote",
        Command::Release(_) => "release",
        Command::Ledger(_) => "ledger",
        Command::Tag(_) => "tag",
        Command::Rollback(_) => "rollback",
        Command::Status(_) => "status",
        Command::Run(_) => "run",
        Command::Scale(_) => "scale",
        Command::Events(_) => "events",
        Command::Logs(_) => "logs",
        Command::Unlock(_) => "unlock",
        Command::Watch(_) => "watch",
        Command::Continue(_) => "continue",
        Command::Gc(_) => "gc",
        Command::History(_) => "history",
        Command::Check(_) => "check",
        Command::Init(_) => "init",
        Command::Completions { .. } => "completions",
        Command::Local(_) => "local",
        Command::Demo(_) => "demo",
        Command::SampleApp(_) => "sample-app",
    }
}
