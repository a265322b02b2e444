//! The command line, as clap sees it. Commands live in a file each.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ferry",
    version,
    about = "Ship container releases to AWS ECS and carry them through environments.",
    long_about = "ferry ships container releases to AWS ECS and carries them through environments, \
safely: verified before anything changes, watched to the exact deployment, rolled back on failure.\n\n\
`ferry local` runs an embedded, wire-compatible ECS (with ECR and Application Auto Scaling) on \
this machine, so everything can be tried and tested with no AWS account. Start with `ferry demo`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the embedded ECS, ECR and Application Auto Scaling endpoint on 127.0.0.1.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Roll a sample service through ferry local: first version, a new version, a broken
    /// version the circuit breaker rolls back. Needs no AWS account.
    Demo(DemoArgs),
    /// The sample HTTP app that the demo and the tests run as a task.
    #[command(hide = true)]
    SampleApp(SampleAppArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StateDirArg {
    /// Where ferry local keeps its state, task logs and pid file
    /// [default: $XDG_STATE_HOME/ferry/local or ~/.local/state/ferry/local]
    #[arg(long, env = "FERRY_LOCAL_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// Start ferry local. Prints the endpoint URL to give AWS clients (`--endpoint-url`).
    ///
    /// Runs in the foreground until interrupted, or with --detach in the background (stop it
    /// with `ferry local down`). State (clusters, services, task definitions, images, tags)
    /// is kept in the state directory and survives a restart; tasks that were running are
    /// started again by their services, as after a host restart.
    Up {
        /// Port to listen on, on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = ferry_local::DEFAULT_PORT)]
        port: u16,
        #[command(flatten)]
        state: StateDirArg,
        /// Run in the background and return once the endpoint answers.
        #[arg(long)]
        detach: bool,
    },
    /// Stop a ferry local started with `up`: its tasks are stopped and its state saved.
    Down {
        #[command(flatten)]
        state: StateDirArg,
    },
    /// Is ferry local running, where, and with what in it.
    Status {
        #[command(flatten)]
        state: StateDirArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a task's container logs (stdout and stderr).
    Logs {
        /// Task id or ARN.
        task: String,
        /// Only this container's log.
        #[arg(long)]
        container: Option<String>,
        #[command(flatten)]
        state: StateDirArg,
    },
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Port for the embedded ferry local (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Keep ferry local's state here instead of a temporary directory.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Skip the broken-version step.
    #[arg(long)]
    pub no_failure: bool,
}

#[derive(Args, Debug)]
pub struct SampleAppArgs {
    /// Probe the app's /health on 127.0.0.1:$PORT and exit 0 if it answers 200
    /// (for container healthCheck commands).
    #[arg(long)]
    pub check: bool,
}
