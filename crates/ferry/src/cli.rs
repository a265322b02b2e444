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
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// The project's config file.
    #[arg(long, global = true, env = "FERRY_CONFIG", value_name = "FILE", default_value = "ferry.toml")]
    pub config: PathBuf,
    /// How to print: `text` (a live view on a terminal, timestamped lines otherwise) or
    /// `json` (JSON lines of events on stdout, then one result object).
    #[arg(long, global = true, env = "FERRY_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More detail: every progress change as a line, also on a terminal, with the new tasks'
    /// health (read with ListTasks + DescribeTasks while they run: every 2 s, and when the
    /// rollout moves).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors and the final result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The ledger of deployments and locks for this run: an SQLite file, or
    /// dynamodb://TABLE for a shared table (region and credentials from [ledger], else the
    /// default chain) [default: ferry.toml's [ledger], else $XDG_DATA_HOME/ferry/ledger.sqlite
    /// or ~/.local/share/ferry/ledger.sqlite].
    #[arg(long, global = true, env = "FERRY_LEDGER", value_name = "LEDGER")]
    pub ledger: Option<PathBuf>,
    /// Send every AWS call to this endpoint (e.g. ferry local's), overriding the
    /// environment's endpoint_url.
    #[arg(long, global = true, env = "FERRY_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Deploy versions of services to an environment, watch the exact ECS deployment,
    /// roll back on failure.
    ///
    /// Each SERVICE=VERSION is checked before anything changes (the image tag exists in the
    /// registry — ECR, or the service's `registry` — and is resolved to a digest; cluster and
    /// service are ACTIVE; the task definition renders and is valid), then the service is
    /// locked, one task definition revision is registered (tagged with ferry:version,
    /// ferry:digest, ferry:deployment, ferry:commit), one UpdateService is made, and the
    /// deployment it created is watched until ECS says COMPLETED. A circuit-breaker rollback,
    /// failing tasks, or the timeout is a failure: ferry rolls back to the previous revision
    /// and watches that too. Services with `strategy = "env-tag"` move their environment tag
    /// and force a new deployment instead of registering a revision. Services with
    /// `strategy = "blue-green"`, `"canary"` or `"linear"` get a new ECS service and target
    /// group beside the live version, checked through the preparing listener rule, then
    /// production traffic moves on the production rule's weights (at once after an overlap,
    /// or in held steps); the old version is retired (0 tasks) and kept for an instant way
    /// back; a failed gate puts traffic back on it first. Several services deploy
    /// in parallel. A service that already runs what is asked for (the same task definition,
    /// API defaults aside, and the same image digest) is left alone: nothing is registered or
    /// updated, it says "already running"; --force makes a new deployment of it instead.
    ///
    /// Exit codes: 0 deployed (or already running); 1 internal error; 2 invalid input; 3 AWS
    /// or registry error; 4 refused by preflight (nothing changed); 5 failed and rolled back;
    /// 6 failed and the rollback failed too; 7 another deploy holds the lock; 8 the ledger
    /// cannot be opened, read or written (nothing changed); 130 interrupted (Ctrl-C).
    #[command(
        after_help = "Examples:\n  ferry deploy dev web=1.4.2\n  ferry deploy prod web=1.4.2 worker=1.4.2 --timeout 15m\n  ferry deploy prod web=1.4.3 --skip-gates --reason \"INC-123 hotfix\"   # prod has promote_from\n  ferry deploy stage web=1.5.0 --dry-run --output json\n  ferry deploy dev web=1.4.2 --force      # replace every task even if nothing changed\n  ferry deploy dev web=1.4.2 --var BUILD_URL=\"$CI_JOB_URL\" --var FEATURE_X=on"
    )]
    Deploy(DeployArgs),
    /// Promote what runs (and ran healthy) in one environment into the next, as one release.
    ///
    /// The release is the set of image digests running in FROM — not whatever tags say now.
    /// TO's gates apply: the chain (TO's `promote_from` must name FROM; an environment that
    /// names none takes no release from one downstream of it, so `ferry promote prod dev` is
    /// refused), a `soak` time the release must have run healthy in FROM, an `approval`
    /// (interactive, or --approve by an allowed user). Before the approval question, and
    /// with --dry-run instead of any change, ferry prints the plan: per service, the version,
    /// image digest and task definition revision it runs in TO and the ones it will run.
    /// All services deploy in parallel with each one's strategy; with --atomic (the default
    /// where TO sets `atomic = true`) a failure rolls back the services that already moved.
    ///
    /// Exit codes: 0 promoted (or nothing to promote, or a dry run that would go ahead); 2
    /// invalid input (unknown environment or service); 4 refused by a gate or preflight,
    /// nothing changed (against the chain, unhealthy in FROM, rejected, not soaked, not
    /// approved); 5 failed and rolled back; 6 the rollback failed too; 7 a service is
    /// locked (see `ferry status`, `ferry unlock`); 8 the ledger cannot be opened, read or
    /// written; 130 interrupted.
    #[command(
        after_help = "Examples:\n  ferry promote dev stage --dry-run      # the plan, nothing changed\n  ferry promote dev stage\n  ferry promote stage prod --approve --atomic\n  ferry promote dev stage --services web,api"
    )]
    Promote(PromoteArgs),
    /// Releases: immutable sets of service → image digest that are promoted as one.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Move an environment's registry tag of a service to a version's digest (no layers copied).
    Tag(TagArgs),
    /// Preflight and plan only: what would be deployed, and the task definition diff
    /// against what runs (API defaults and list order are not differences). Changes nothing.
    Plan(PlanArgs),
    /// Put a service back on its previous good version (from the ledger, or the revision
    /// tags ferry wrote), watched like a deploy.
    ///
    /// With strategy = "ecs-native" and a deployment in progress (started with `ferry deploy
    /// --detach`, or left by a run that died; paused at a lifecycle hook or shifting), ECS
    /// rolls that deployment back itself (StopServiceDeployment ROLLBACK: production traffic
    /// first) and ferry follows it to its end; rolled back as asked exits 0.
    Rollback(RollbackArgs),
    /// The environment × service table: version, digest, revision, rollout, running/desired,
    /// deployed when and by whom; the release each environment runs and how it stands to
    /// the one it is promoted from; and the locks held (who, since when).
    Status(StatusArgs),
    /// Run a one-off task from a service's revision (a migration, a cron-like job), stream
    /// its output, wait for it, and exit with its container's exit code.
    ///
    /// The task runs the revision the service runs, or with --version V the one `ferry deploy
    /// ENV SERVICE=V` would run (the deploy's preflight: V resolved to its image digest, the
    /// template rendered, every image and role checked), reused when an ACTIVE revision is
    /// exactly that (the running one, or one an earlier run registered), else registered. It
    /// is started with RunTask the way the service runs its tasks (launch type or capacity
    /// provider strategy, platform version, network configuration), COMMAND replacing the
    /// command of one container: --container, else the service's `container` in ferry.toml
    /// when it is essential, else the first essential one (without COMMAND it runs its own).
    /// The service itself is never changed and no lock is taken. Each task carries
    /// `startedBy` = the run's id (ferry-run-<12 hex>) and the tags ferry:env, ferry:service,
    /// ferry:run and ferry:run-by.
    ///
    /// While it runs, ferry prints what the container writes (on stdout, read from CloudWatch
    /// Logs, where the awslogs driver puts it: the container's awslogs-group and stream
    /// PREFIX/CONTAINER/TASK-ID; a container that logs elsewhere is said to be not shown) and
    /// its progress on stderr. --count N starts N tasks (their lines prefixed by task id) and
    /// fails if any fails. --detach prints the task ARNs and returns at once. --timeout stops
    /// the tasks (StopTask, with the reason ECS shows) and fails. Ctrl-C (or SIGTERM, as a
    /// cancelled CI job sends) while attached stops the tasks too (StopTask: SIGTERM, then
    /// SIGKILL after the container's stopTimeout) and says so: nothing is left running unseen. `--output json` prints a JSON line per output
    /// line ({"type": "log", "at", "task", "container", "message"}) and per step ({"type":
    /// "event", "event": "started" | "status" | "stopped" | ...}), then a result object
    /// (task ARNs, exit_code, ending, duration_ms, per task its ending and run time).
    ///
    /// Exit codes: the container's exit code once every task ran (0 when all exited 0, else
    /// the first failed task's; a code outside 1..255 is 1); 5 a task stopped without an exit
    /// code for the container — it never ran it (ECS's stop code and reason are printed:
    /// TaskFailedToStart, CannotPullContainerError, ResourceInitializationError, RunTask's
    /// placement failures) or something else stopped it — or --timeout passed; before any
    /// task started: 2 invalid input (unknown environment, service or container, --count
    /// outside 1..10), 3 AWS error, 4 refused (no ACTIVE service, --version refused by
    /// preflight); 130 interrupted (the tasks were stopped).
    #[command(
        after_help = "Examples:\n  ferry run prod web -- bin/migrate --yes\n  ferry run stage web --version 1.5.0 -- bin/migrate --yes   # the revision 1.5.0 would deploy\n  ferry run prod worker --container jobs --timeout 2h -- bin/reindex\n  ferry run prod web --detach -- bin/send-digest            # prints the task ARN, returns\n  ferry run dev web --count 3 -- bin/warm-cache\n  ferry run prod web --output json -- bin/report | jq -r 'select(.type == \"log\") | .message'"
    )]
    Run(RunArgs),
    /// Set a service's desired count, within its Application Auto Scaling limits, and wait
    /// until the service settles.
    ///
    /// Reads the service's scalable target (`ecs:service:DesiredCount` of
    /// `service/CLUSTER/SERVICE`): a count outside its MinCapacity..MaxCapacity is refused with
    /// nothing changed, because Application Auto Scaling would bring the desired count back;
    /// --adjust-limits widens the limits to include N first (RegisterScalableTarget, said in
    /// the output). Then one UpdateService sets the desired count, and ferry waits until N
    /// tasks run in one deployment (--no-wait returns at once). The service's lock is held
    /// meanwhile, so a scale never races a deploy, rollback or promotion.
    ///
    /// Exit codes: 0 scaled (and settled, unless --no-wait); 2 invalid input (N not a whole
    /// number 0 or more, unknown environment or service); 3 AWS error, or the service did not
    /// settle within --timeout (the desired count stays set); 4 refused, nothing changed (N
    /// outside the limits without --adjust-limits, or no such ECS service); 7 a deploy holds
    /// the service's lock (nothing changed); 8 the ledger; 130 interrupted.
    #[command(
        after_help = "Examples:\n  ferry scale prod web 6\n  ferry scale prod web 12 --adjust-limits   # widen MaxCapacity to 12 first\n  ferry scale dev worker 0 --no-wait\n  ferry scale prod web 4 --timeout 5m --output json"
    )]
    Scale(ScaleArgs),
    /// A service's ECS events, oldest first like a log: deployments, tasks started and
    /// stopped, "has reached a steady state", placement failures.
    ///
    /// ECS keeps a service's newest 100 events (DescribeServices `events`). --follow prints
    /// new ones as they come (one DescribeServices every 2 s) until Ctrl-C. `--output json`
    /// prints a JSON line per event ({"type": "event", "at", "id", "message", "environment",
    /// "service"}), then, without --follow, a result object.
    ///
    /// Exit codes: 0 done; 2 invalid input (unknown environment or service); 3 AWS error; 4
    /// no such ECS service in the cluster.
    #[command(
        after_help = "Examples:\n  ferry events prod web\n  ferry events prod web --since 30m\n  ferry events prod web --limit 5 --follow\n  ferry events dev web --output json | jq -r .message"
    )]
    Events(EventsArgs),
    /// What a service's tasks printed (CloudWatch Logs, the awslogs driver), oldest first.
    ///
    /// One line per event: `HH:MM:SS.mmm TASK-ID/CONTAINER message` (times in UTC).
    /// Where to read comes from the revision the service runs (its PRIMARY deployment's task
    /// definition; with --task, that task's own revision): each container whose
    /// logConfiguration uses the awslogs driver writes to its `awslogs-group`, one stream per
    /// task named `PREFIX/CONTAINER/TASK-ID` after its `awslogs-stream-prefix`. Containers
    /// that log elsewhere (another driver, or awslogs without a stream prefix, whose streams
    /// are named after Docker container ids) are named on stderr as not shown; when none can
    /// be read, or the one asked for with --container cannot, ferry says why (exit 4).
    /// Events are read with FilterLogEvents, every page; --follow reads again every second
    /// from the newest event seen (each event printed once) until Ctrl-C. `--output json`
    /// prints a JSON line per event ({"type": "log", "at" (RFC 3339, in ms),
    /// "timestamp_ms", "task" (its id), "container", "group", "stream", "message", "id",
    /// "environment", "service"}), then a result object.
    ///
    /// Exit codes: 0 done (also when there were no events); 2 invalid input (unknown
    /// environment, service or container); 3 AWS error; 4 refused: no such ECS service, or
    /// nothing ferry can read (no container logs with awslogs and a stream prefix).
    #[command(
        after_help = "Examples:\n  ferry logs prod web                          # the last 10 minutes\n  ferry logs prod web --since 1h\n  ferry logs prod web --follow                 # new lines as they come, until Ctrl-C\n  ferry logs prod web --task 0f3e9a1c2b3d4e5f6a7b8c9d0e1f2a3b\n  ferry logs prod web --container envoy --limit 50\n  ferry logs dev web --output json | jq -r .message"
    )]
    Logs(LogsArgs),
    /// Free the lock on a service in an environment, saying why; the ledger records who
    /// freed whose lock, when and why.
    ///
    /// A deploy, rollback or promotion locks each service it changes, and frees the lock when
    /// it ends. A ferry process that was killed leaves its lock until its lease runs out (2
    /// minutes after it last renewed it); `ferry status` shows who holds which lock and since
    /// when. Free a lock only when its holder is no longer working on the service: a deploy
    /// that still runs stops watching when it next renews its lock, and the ECS deployment
    /// it started carries on by itself.
    ///
    /// Exit codes: 0 freed (or there was no lock); 2 invalid input (unknown environment or
    /// service, no reason); 8 the ledger could not be read or written.
    #[command(
        after_help = "Examples:\n  ferry status prod                        # who holds which lock, since when\n  ferry unlock prod web --reason \"deploy killed with the CI runner\""
    )]
    Unlock(UnlockArgs),
    /// Follow a service's deployment in progress to its end: one started with `ferry deploy
    /// --detach`, or one whose ferry run died.
    ///
    /// The deployment the ledger has in progress is resumed as the same deploy run again
    /// would resume it: its id, its journal, its lock; its ECS deployment watched, not
    /// started again; with strategy = "ecs-native", each PAUSE lifecycle hook checked and
    /// answered as the deploy would (or, with `approve = true`, left for `ferry continue`),
    /// and a rollback followed to its end. The deploy's timeout counts from now, and not
    /// while the deployment is paused at a hook. With nothing in progress it says how the
    /// service's last deployment ended, and exits as that deployment did.
    ///
    /// Exit codes: as `ferry deploy`: 0 deployed; 5 failed and rolled back; 6 the rollback
    /// failed too; 7 another ferry is watching it (it holds the lock); 8 the ledger.
    #[command(after_help = "Examples:
  ferry deploy prod web=1.4.2 --detach   # returns once ECS's deployment is started
  ferry watch prod web                   # follow it (from any runner that shares the ledger)")]
    Watch(WatchArgs),
    /// Answer an ECS-managed deployment paused at a PAUSE lifecycle hook: continue it, or
    /// with --rollback roll it back (ContinueServiceDeployment).
    ///
    /// For services deployed by ECS's BLUE_GREEN, LINEAR or CANARY strategy (ferry's
    /// strategy = "ecs-native"): the service deployment in progress whose hook awaits an
    /// action is answered. A `ferry deploy` or `ferry watch` following it sees the answer and
    /// carries on (or follows the rollback). With `approve = true` in
    /// [services.NAME.ecs_native], this is how a person approves at each hook.
    ///
    /// Exit codes: 0 answered; 2 invalid input; 3 AWS error; 4 the service is not paused at a
    /// hook (nothing changed).
    #[command(after_help = "Examples:
  ferry status prod               # web: paused at POST_TEST_TRAFFIC_SHIFT
  ferry continue prod web
  ferry continue prod web --rollback")]
    Continue(ContinueArgs),
    /// The ledger of deployments, locks, releases and approvals: create it where ferry.toml's
    /// [ledger] says (SQLite on this machine, or a DynamoDB table every runner shares), and
    /// move its history between stores.
    ///
    /// Exit codes: 0 done; 2 invalid input (a bad [ledger] setting, a file that is not an
    /// export); 8 the ledger could not be created, read or written.
    #[command(
        subcommand,
        after_help = "Examples:\n  ferry ledger init                                  # create the [ledger] table (or file)\n  ferry ledger export --ledger ~/.local/share/ferry/ledger.sqlite --file history.json\n  ferry ledger import history.json                   # into the [ledger] of ferry.toml\n  FERRY_LEDGER=dynamodb://ferry-ledger ferry history # one run against the shared table"
    )]
    Ledger(LedgerCommand),
    /// Deregister old task definition revisions ferry registered, keeping the newest N of
    /// each service's family and every revision something still needs.
    ///
    /// Only ACTIVE revisions carrying a `ferry:` tag (what ferry registers) are touched;
    /// besides the newest N of those, it never deregisters the revision the service runs
    /// (which is also what `ferry promote` reads from this environment: a promotion renders a
    /// new revision in the next one), one a deployment of the service uses (PRIMARY or
    /// ACTIVE), one an in-progress ferry deployment goes to or from, one a RUNNING or PENDING
    /// task of the cluster uses, or the one `ferry rollback` would return to. Each service is
    /// cleaned under its lock, taken and freed at once; a service a deploy holds is skipped
    /// and said so. Deregistered revisions become INACTIVE: running tasks carry on, and ECS
    /// still describes them.
    ///
    /// Exit codes: 0 done (also when some services were skipped, each said); 2 invalid
    /// input (unknown environment or service); 3 AWS refused a call; 7 every service asked
    /// for is locked by a deploy (nothing changed); 8 the ledger; 130 interrupted.
    #[command(
        after_help = "Examples:\n  ferry gc dev --keep 5 --dry-run          # what would go, and why each kept one stays\n  ferry gc dev --keep 5\n  ferry gc dev                             # keep_revisions from ferry.toml\n  ferry gc prod --keep 10 --services web,api --output json"
    )]
    Gc(GcArgs),
    /// Past deployments from the ledger, newest first.
    History(HistoryArgs),
    /// Validate ferry.toml and render every template for every environment, offline.
    ///
    /// Templates render with a placeholder version (0.0.0-check) and digest, the `--var`s
    /// given, and `env()` reading this process's environment, as a deploy would.
    ///
    /// Exit codes: 0 everything valid; 2 a problem (each printed, naming the file).
    #[command(after_help = "Examples:\n  ferry check\n  ferry check --var BUILD_URL=https://ci.example.com/build/90")]
    Check(CheckArgs),
    /// Write a starting ferry.toml and task definition template, optionally importing a
    /// running service's current revision.
    Init(InitArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run the embedded ECS, ECR and Application Auto Scaling endpoint on 127.0.0.1.
    ///
    /// The first hour: `ferry local up --detach` starts it and prints its endpoint;
    /// `ferry local push-image web:1.0.0` puts an image into its ECR; the aws CLI (with
    /// `--endpoint-url`) creates a cluster and a service; `ferry deploy` ships new versions;
    /// `ferry local status`, `logs TASK` and `down` find the instance `up` started wherever
    /// its state directory is. docs/local.md walks through it step by step.
    #[command(subcommand)]
    Local(LocalCommand),
    /// Real `ferry deploy`s of a sample service against an embedded ferry local: a first
    /// version, a new version, a broken version that ferry rolls back. Needs no AWS account.
    ///
    /// It keeps its example project (ferry.toml, the task definition template), ferry local's
    /// state and the ledger in its directory, and prints the commands that carry on from
    /// where it stopped.
    Demo(DemoArgs),
    /// The sample HTTP app that the demo and the tests run as a task.
    #[command(hide = true)]
    SampleApp(SampleAppArgs),
}

#[derive(Args, Debug, Clone)]
pub struct StateDirArg {
    /// Where ferry local keeps its state, task logs and pid file
    /// [default for `up`: $XDG_STATE_HOME/ferry/local or ~/.local/state/ferry/local;
    /// for the other commands: the running ferry local that `up` recorded].
    #[arg(long, env = "FERRY_LOCAL_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `--health-check-scale`: a positive factor, at most 10.
fn health_check_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 10.0 => Ok(s),
        _ => Err(format!("{text:?} is not a scale: give a number above 0 and at most 10 (0.05 checks a 5 s interval every 0.25 s)")),
    }
}

/// `--minute-seconds`: a positive number of seconds, at most 3600.
fn minute_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err(format!(
            "{text:?} is not a length of a minute: give seconds above 0 and at most 3600 (60 is AWS's minute, 0.5 suits tests)"
        )),
    }
}

#[derive(Subcommand, Debug)]
pub enum LocalCommand {
    /// Start ferry local. Prints the endpoint URL to give AWS clients (`--endpoint-url`).
    ///
    /// Runs in the foreground until interrupted, or with --detach in the background; either
    /// way it prints the command that stops it. State (clusters, services, task definitions,
    /// images, tags) is kept in the state directory and survives a restart; tasks that were
    /// running are started again by their services, as after a host restart.
    ///
    /// Each running ferry local is recorded (pid, endpoint, state directory) in
    /// $XDG_STATE_HOME/ferry/local-instances (else ~/.local/state/ferry/local-instances),
    /// so `down`, `status`, `logs` and `push-image` without flags find it.
    ///
    /// `-q` prints only the endpoint. `--output json` prints a result object once it listens
    /// (endpoint, pid, state_dir, stop); in the foreground, "stopping" and "stopped" events
    /// follow when it stops.
    #[command(
        after_help = "Examples:\n  ferry local up --detach\n  ferry local up --detach --state-dir ./local-aws --port 0\n  ferry local up                      # foreground; Ctrl-C stops it"
    )]
    Up {
        /// Port to listen on, on 127.0.0.1 (0 picks a free one). Commands without flags
        /// also look for a ferry local on this port when none is recorded.
        #[arg(long, env = "FERRY_LOCAL_PORT", default_value_t = ferry_local::DEFAULT_PORT)]
        port: u16,
        #[command(flatten)]
        state: StateDirArg,
        /// Run in the background and return once the endpoint answers; the log goes to
        /// STATE_DIR/ferry-local.log.
        #[arg(long)]
        detach: bool,
        /// Multiply target groups' health check intervals and timeouts by S, so that a
        /// target turns healthy or unhealthy in seconds instead of minutes: with 0.1 a group
        /// checked every 30 s with a 5 s timeout is checked every 3 s with a 0.5 s timeout.
        /// Thresholds are not scaled, and the API answers the values as configured. 1 is
        /// AWS's timing; 0.05 suits tests.
        #[arg(long, value_name = "S", env = "FERRY_LOCAL_HEALTH_CHECK_SCALE", default_value_t = 1.0, value_parser = health_check_scale)]
        health_check_scale: f64,
        /// How many seconds one minute of an ECS deployment's own timings lasts: bake times
        /// (bakeTimeInMinutes, LINEAR's stepBakeTimeInMinutes, CANARY's
        /// canaryBakeTimeInMinutes) and lifecycle hook timeouts. 60 is AWS's minute; 0.6 runs
        /// a 10-minute canary bake in 6 s. The configuration is answered as given; a hook's expiresAt is
        /// when it really expires.
        #[arg(long, value_name = "S", env = "FERRY_LOCAL_MINUTE_SECONDS", default_value_t = 60.0, value_parser = minute_seconds)]
        minute_seconds: f64,
    },
    /// Stop a ferry local started with `up`: its tasks are stopped and its state saved.
    ///
    /// Without --state-dir it stops the running ferry local that `up` recorded, and says
    /// which (pid, endpoint, state directory). When several run, it stops none and lists
    /// them with the command that stops each. None running is not an error.
    ///
    /// `-q` prints nothing; `--output json` a result object (stopped, pid, endpoint,
    /// state_dir).
    #[command(after_help = "Examples:\n  ferry local down\n  ferry local down --state-dir ./local-aws")]
    Down {
        #[command(flatten)]
        state: StateDirArg,
    },
    /// Is ferry local running, where (pid, endpoint, state directory), and with what in it.
    ///
    /// Without --state-dir it shows every running ferry local that `up` recorded. Exits 3
    /// when none runs.
    ///
    /// `-q` prints each running one's endpoint, a line each; `--output json` (or --json) a
    /// result object.
    Status {
        #[command(flatten)]
        state: StateDirArg,
        /// The same as `--output json`: one result object (running, instances and, for one
        /// instance, its pid, endpoint, state_dir and details).
        #[arg(long)]
        json: bool,
    },
    /// Print a task's container logs (stdout and stderr).
    ///
    /// Logs are files under STATE_DIR/logs/<task id>/<container>.log; without --state-dir
    /// they are looked for in the running ferry locals' state directories and the default
    /// one. Which instance they come from is said on stderr (not with `-q`).
    ///
    /// `--output json` prints a JSON line per log line ({"type": "log", "task", "container",
    /// "line"}), then a result object; with --access, a line per request ({"type": "access",
    /// "time", "listener", "port", "client", "method", "host", "path", "rule", "action",
    /// "target_group", "target", "status", "latency_ms", "error"}).
    #[command(
        after_help = "Examples:\n  ferry local logs 7c9e6679f4a54c2d8b1a0c3e5f7a9b1d\n  ferry local logs arn:aws:ecs:us-east-1:000000000000:task/dev/7c9e6679f4a54c2d8b1a0c3e5f7a9b1d --container web\n  ferry local logs --access\n\nTask ids: aws --endpoint-url URL ecs list-tasks --cluster CLUSTER"
    )]
    Logs {
        /// Task id or ARN.
        #[arg(required_unless_present = "access")]
        task: Option<String>,
        /// Only this container's log.
        #[arg(long)]
        container: Option<String>,
        /// The load balancers' access log instead of a task's: a line per request through a
        /// listener (time, listener port, request, matched rule, target group, target,
        /// status, latency), from STATE_DIR/logs/elb-access.log.
        #[arg(long, conflicts_with_all = ["task", "container"])]
        access: bool,
        #[command(flatten)]
        state: StateDirArg,
    },
    /// Put an image into ferry local's ECR (creating the repository if missing), so tasks
    /// and `ferry deploy` can use it. No Docker needed.
    ///
    /// ferry local has no registry API (`/v2/`): `docker push` and `skopeo copy` cannot reach
    /// it, and this command is the supported way in. It puts a small OCI image manifest
    /// under the tag — the same one every time for the same REPOSITORY:TAG, so running it
    /// twice changes nothing — or, with --manifest, the manifest you give (a real image's,
    /// e.g. from `skopeo inspect --raw docker://IMAGE`, so the digest is your build's).
    ///
    /// How an image becomes a process: ferry local runs no containers and never reads an
    /// image's content. A task runs its container definition's `entryPoint` followed by
    /// `command` as a host process; the image must only exist in ECR (a missing one fails
    /// the task with CannotPullContainerError, as on ECS). ferry ships a sample HTTP app
    /// for this: `"entryPoint": ["<path of the ferry binary>"], "command": ["sample-app"]`
    /// (its failure switches are in docs/local.md). The command prints such a container
    /// definition for the image it pushed.
    ///
    /// It talks to --endpoint-url if given, else to the running ferry local that `up`
    /// recorded. The image lands in the account and region the aws CLI would use there.
    ///
    /// `-q` prints only the image URI; `--output json` a result object (image, digest,
    /// repository, tag, account, region, endpoint, created_repository, changed).
    #[command(
        after_help = "Examples:\n  ferry local push-image web:1.0.0\n  ferry local push-image team/api:2.3.1 --region eu-west-1\n  ferry local push-image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.0.0\n  skopeo inspect --raw docker://ghcr.io/acme/web:1.0.0 > web.json\n  ferry local push-image web:1.0.0 --manifest web.json"
    )]
    PushImage(PushImageArgs),
}

#[derive(Args, Debug)]
pub struct PushImageArgs {
    /// The image: REPOSITORY:TAG, or the whole ECR image URI
    /// (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG, which sets account and region).
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Put this image manifest (a JSON file) instead of a generated one; its SHA-256 is the
    /// image's digest.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The region whose ECR gets the image [default: $AWS_DEFAULT_REGION, else us-east-1].
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// The account whose ECR gets the image [default: $AWS_ACCESS_KEY_ID when it is 12
    /// digits, as ferry local reads it, else 000000000000].
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Port for the embedded ferry local (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The demo's directory, kept afterwards: `project/` (ferry.toml and the task definition
    /// template), `local/` (ferry local's state) and `ledger.sqlite`. Each run starts
    /// afresh in it [default: $XDG_STATE_HOME/ferry/demo or ~/.local/state/ferry/demo].
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

/// A `SERVICE=VERSION` argument (parsed by its `FromStr`).
pub use ferry_app::ServiceVersion;
/// A `--var NAME=VALUE` argument (parsed by its `FromStr`).
pub use ferry_app::Var;

/// `--var NAME=VALUE`, on the commands that render task definition templates.
#[derive(Args, Debug, Clone, Default)]
pub struct VarArgs {
    /// A value only CI knows (a build URL, a feature flag) for the task definition template,
    /// which reads it as {{ vars.NAME }} (or {{ NAME }} when no built-in variable has that
    /// name). Repeatable. The value is a string; it wins over the environment's `vars` of
    /// the same NAME in ferry.toml, and a later --var over an earlier one. It ends up in
    /// the registered task definition: pass secrets as `secrets`, not here. Templates can
    /// also read the environment themselves: {{ env("CI_JOB", "local") }}.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<Var>,
}

impl VarArgs {
    /// NAME → VALUE, the last of each NAME.
    pub fn into_map(self) -> std::collections::BTreeMap<String, String> {
        self.vars.into_iter().map(|v| (v.name, v.value)).collect()
    }
}

#[derive(Args, Debug, Clone, Default)]
pub struct CheckArgs {
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// What to deploy: one or more SERVICE=VERSION.
    #[arg(required = true, value_name = "SERVICE=VERSION")]
    pub services: Vec<ServiceVersion>,
    /// Preflight and plan only; change nothing (same as `ferry plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Give up and roll back after this long (e.g. 90s, 10m) [default: the environment's
    /// timeout, else 10m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// When a service already runs what is asked for (same task definition after
    /// normalizing, same image digest), force a new deployment of its running revision
    /// (UpdateService forceNewDeployment: every task replaced, watched, rolled back on
    /// failure) instead of leaving it alone. No effect on a service that changes.
    #[arg(long, conflicts_with = "dry_run")]
    pub force: bool,
    /// Send no probe requests through the load balancers during this deploy (by default,
    /// each service behind one is probed through its production listener: see `probe` in
    /// ferry.toml).
    #[arg(long)]
    pub no_probe: bool,
    /// Deploy to an environment with promotion gates (promote_from, soak, approval) a
    /// version that has not passed them — a hotfix. Needs --reason; by one of the
    /// environment's approvers when it lists any. Recorded in the ledger (history) and on
    /// the revision (ferry:gates-skipped, shown by status). Without it such a deploy is
    /// refused, naming the gate and the `ferry promote` command that would ship it.
    #[arg(long, requires = "reason", conflicts_with = "dry_run")]
    pub skip_gates: bool,
    /// Why the gates are skipped (with --skip-gates).
    #[arg(long, value_name = "TEXT", requires = "skip_gates")]
    pub reason: Option<String>,
    /// Return once each ECS deployment is started and recorded, without watching it (exit
    /// 0); `ferry watch ENV SERVICE` follows it later, from any runner that shares the
    /// ledger. For rolling, env-tag and ecs-native (long pauses at lifecycle hooks); not for
    /// blue-green, canary and linear, where ferry itself moves the traffic.
    #[arg(long, conflicts_with = "dry_run")]
    pub detach: bool,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    #[arg(required = true, value_name = "SERVICE=VERSION")]
    pub services: Vec<ServiceVersion>,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RollbackArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service to roll back, as named in ferry.toml.
    pub service: String,
    /// A version deployed before (from the ledger, else the revisions' ferry:version tags), or
    /// a task definition revision (`family:12`, its ARN, or a bare number that is no version).
    /// Default: the good deploy before the one that put the running version in place.
    #[arg(long, value_name = "VERSION|REVISION")]
    pub to: Option<String>,
    /// Give up after this long watching the rollback's deployment (e.g. 90s, 10m) [default:
    /// the environment's timeout].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct StatusArgs {
    /// Only this environment.
    pub environment: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    pub environment: Option<String>,
    pub service: Option<String>,
    /// How many deployments to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Args, Debug, Clone)]
pub struct InitArgs {
    /// Import this running service's current revision as the template (CLUSTER/SERVICE).
    #[arg(long, value_name = "CLUSTER/SERVICE")]
    pub from_service: Option<String>,
    /// The first environment's name.
    #[arg(long, default_value = "dev")]
    pub environment: String,
    /// The first environment's region.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, ferry_core::error::Error> {
    ferry_core::config::parse_duration(text)
}

#[derive(Args, Debug, Clone)]
pub struct PromoteArgs {
    /// Where the tested release runs.
    pub from: String,
    /// Where it goes.
    pub to: String,
    /// Only these services (comma-separated) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "SERVICE,...")]
    pub services: Vec<String>,
    /// All or nothing: roll back the services that moved if one fails.
    #[arg(long, conflicts_with = "no_atomic")]
    pub atomic: bool,
    /// Promote service by service even where TO asks for atomic promotions.
    #[arg(long)]
    pub no_atomic: bool,
    /// Approve the promotion (as the user running ferry, who must be one of TO's approvers).
    #[arg(long)]
    pub approve: bool,
    /// Give up on a service and roll it back after this long [default: TO's timeout].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Print the plan — per service, the version, digest and revision TO runs and the ones
    /// it would run — and the gates' verdicts, and change nothing: no AWS resource, no
    /// ledger record, no lock.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service whose deployment to follow, as named in ferry.toml.
    pub service: String,
    /// How long the deployment may still take before ferry rolls it back [default: the
    /// environment's timeout].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Args, Debug, Clone)]
pub struct ContinueArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service whose paused deployment to answer, as named in ferry.toml.
    pub service: String,
    /// Roll the deployment back instead of continuing it (production traffic stays on, or
    /// goes back to, the running version).
    #[arg(long)]
    pub rollback: bool,
}

#[derive(Args, Debug, Clone)]
pub struct UnlockArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service whose lock to free, as named in ferry.toml.
    pub service: String,
    /// Why the lock may be freed (recorded in the ledger with who freed it).
    #[arg(long, required = true, value_name = "TEXT")]
    pub reason: String,
}

/// N of `ferry scale`: a whole number of tasks, 0 or more.
fn desired_count(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(format!("{text:?} is not a desired count: give a whole number of tasks, 0 or more (e.g. 3)")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct ScaleArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service, as named in ferry.toml.
    pub service: String,
    /// The desired count: how many tasks the service should run.
    #[arg(value_name = "N", allow_negative_numbers = true, value_parser = desired_count)]
    pub desired: i32,
    /// When N is outside the scalable target's limits, widen MinCapacity or MaxCapacity to
    /// include N (RegisterScalableTarget) instead of refusing.
    #[arg(long)]
    pub adjust_limits: bool,
    /// Give up waiting after this long (e.g. 90s, 10m); the desired count stays set.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: std::time::Duration,
    /// Return once the desired count is set, without waiting for the service to settle.
    #[arg(long)]
    pub no_wait: bool,
}

/// --count of `ferry run`: 1 to 10 tasks (RunTask's limit).
fn task_count(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(n) if (1..=10).contains(&n) => Ok(n),
        _ => Err(format!("{text:?} is not a task count: give a whole number from 1 to 10 (RunTask's limit)")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service whose revision and launch settings the task takes, as named in ferry.toml.
    pub service: String,
    /// Run the revision a deploy of this version (image tag) would run, registering it when
    /// no ACTIVE revision is exactly that [default: the service's running revision].
    #[arg(long, value_name = "V")]
    pub version: Option<String>,
    /// The container whose command COMMAND replaces and whose exit code is the run's
    /// [default: the service's container in ferry.toml, else the first essential one].
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Print the task ARN(s) and return once started, without waiting or showing output.
    #[arg(long)]
    pub detach: bool,
    /// Stop the task(s) after this long (StopTask) and fail (exit 5), e.g. 90s, 30m, 2h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30m", conflicts_with = "detach")]
    pub timeout: std::time::Duration,
    /// How many tasks to run (1 to 10); the run fails if any fails.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = task_count)]
    pub count: i32,
    /// The command, after `--` (each word one argument, no shell: use `-- sh -c "..."` for
    /// one). Everything after `--` is the command, so ferry's own options go before it
    /// [default: the container's own command].
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct EventsArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service, as named in ferry.toml.
    pub service: String,
    /// Only events at most this old (e.g. 10m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Only the newest N events.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Keep printing new events as ECS reports them, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// The service, as named in ferry.toml.
    pub service: String,
    /// Only events at most this old (e.g. 30s, 10m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub since: std::time::Duration,
    /// Only this task's lines: its id (or the start of it) or ARN (`ferry events` and the ECS
    /// console show them).
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,
    /// Only this container's lines [default: every container that logs with awslogs].
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Only the newest N lines (with --follow, of those already there).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Keep printing new lines as the tasks print them (read every second), until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Args, Debug, Clone)]
pub struct GcArgs {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// How many of the newest ferry revisions of each family to keep, besides those in use
    /// [default: the environment's keep_revisions in ferry.toml; refused when unset].
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Only these services (comma-separated) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "SERVICE,...")]
    pub services: Vec<String>,
    /// List what would be deregistered and why each kept revision stays; change nothing
    /// (no deregistration, no lock).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ReleaseCommand {
    /// Record a release: the digests running in an environment, or given versions resolved
    /// to digests in an environment's registry.
    Create {
        /// Take the digests running (and healthy) in this environment.
        #[arg(long, value_name = "ENV", conflicts_with_all = ["env", "versions"])]
        from_env: Option<String>,
        /// Resolve SERVICE=VERSION in this environment's registry [default: where the
        /// promote_from chain starts].
        #[arg(long, value_name = "ENV", requires = "versions")]
        env: Option<String>,
        #[arg(value_name = "SERVICE=VERSION")]
        versions: Vec<ServiceVersion>,
    },
    /// Releases, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// A release's services and digests, and where it was promoted.
    Show { id: String },
    /// Reject a release: it can never be promoted again.
    Reject {
        id: String,
        #[arg(long, default_value = "rejected")]
        reason: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum LedgerCommand {
    /// Create the ledger where [ledger] (or --ledger) says, or check the one there: a
    /// DynamoDB table with on-demand capacity and TTL on lock leases, waited for until
    /// ACTIVE; or the SQLite file. Running it again changes nothing.
    Init,
    /// Write every deployment (with its events and journaled steps), release (with its
    /// rejection) and promotion as one JSON document. Locks are not exported.
    Export {
        /// Write to this file (replaced whole, never half-written) instead of stdout.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Add what an export holds and the ledger lacks. Idempotent: what is there already is
    /// left as it is, so running it again after a failure finishes the job. A file that is
    /// not an export, or was damaged, is refused before anything is written.
    Import {
        /// The export (`ferry ledger export`), or - for stdin.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TagArgs {
    pub service: String,
    pub version: String,
    /// The environment whose tag (its `image_tag`) moves.
    pub environment: String,
}
