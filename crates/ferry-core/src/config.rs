//! `ferry.toml`: the services a project deploys and the environments it deploys them to.
//!
//! Parsing is strict on purpose: an unknown key is almost always a typo that would
//! otherwise silently fall back to a default in production, so every table denies unknown
//! fields and every error names the file, the key (with its line) and what was expected.
//!
//! ```toml
//! [defaults]
//! timeout = "10m"
//!
//! [environments.prod]
//! region = "eu-west-1"
//! cluster = "prod"
//! service_name = "{{ service }}-prod"
//! role_arn = "arn:aws:iam::123456789012:role/deployer"
//! vars = { log_level = "warn" }
//!
//! [services.web]
//! repository = "web"
//! container = "web"
//! template = "deploy/web.json"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::text;

/// The default name of the config file, looked up in the current directory.
pub const FILE_NAME: &str = "ferry.toml";
/// How long a deploy may take before ferry rolls it back, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How many failed tasks of the new deployment ferry tolerates before rolling back.
pub const DEFAULT_MAX_TASK_FAILURES: u32 = 3;
/// How long a rollback may take, on its own clock (not what is left of the deploy's).
pub const DEFAULT_ROLLBACK_TIMEOUT: Duration = Duration::from_secs(600);
/// How long ferry keeps watching the new tasks after ECS reports the deployment COMPLETED
/// (rolling and env-tag strategies): a new task that fails in it fails the deploy.
pub const DEFAULT_BAKE: Duration = Duration::from_secs(30);

/// The account ferry local's static credentials act as when `account` is not set.
pub const FERRY_LOCAL_ACCOUNT: &str = "000000000000";

/// The 12-digit account of an ARN (`arn:aws:ecs:eu-west-1:123456789012:service/...`,
/// `arn:aws:iam::123456789012:role/deployer`), when it has one.
pub fn account_of_arn(arn: &str) -> Option<&str> {
    let account = arn.strip_prefix("arn:")?.split(':').nth(3)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// A configuration error: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// A TOML syntax or type error; toml's message already shows the line, the key and what
    /// was expected.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value that parses but makes no sense, named by its dotted key.
    #[error("{path}: {key}: {message}")]
    Invalid { path: PathBuf, key: String, message: String },
}

const KEEP_REVISIONS_ZERO: &str =
    "must be at least 1: the newest revisions to keep besides those in use (remove the setting to turn the clean-up off)";

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Image registries other than ECR (Nexus, Harbor, Distribution), by name.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryConfig>,
    /// Where the ledger lives (`[ledger]`); the embedded SQLite file of the machine when absent.
    #[serde(default)]
    pub ledger: Option<LedgerConfig>,
    /// The directory the file is in: template paths are relative to it.
    #[serde(skip)]
    pub root: PathBuf,
    /// The file itself, for error messages.
    #[serde(skip)]
    pub path: PathBuf,
}

/// Settings every environment inherits unless it sets its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    pub rollback_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration_or_zero")]
    pub bake: Option<Duration>,
    pub max_task_failures: Option<u32>,
    pub service_name: Option<String>,
    pub region: Option<String>,
    /// The registry (from `[registries]`) of every service that does not name its own;
    /// ECR when unset.
    pub registry: Option<String>,
    /// After each successful deploy, deregister the deployed services' old ferry revisions,
    /// keeping the newest N and every one in use (`ferry gc`); unset: no clean-up.
    pub keep_revisions: Option<u32>,
    /// The prober's settings for every environment and service (see [`ProbeConfig`]).
    pub probe: Option<ProbeConfig>,
}

/// How ferry gets credentials for an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// The SDK's default chain (environment variables, profile, SSO, instance role...).
    DefaultChain,
    /// A named profile from the AWS config files.
    Profile(String),
    /// A role assumed with the default chain's (or a profile's) credentials.
    AssumeRole { role_arn: String, external_id: Option<String>, session_name: Option<String>, source_profile: Option<String> },
    /// Static test credentials for `ferry local`: the access key is the account to act as.
    FerryLocal { account: String },
}

/// A named place to deploy to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub region: Option<String>,
    pub cluster: String,
    /// The ECS service name, a template over `service` (ferry's name) and `environment`;
    /// `{{ service }}` when unset.
    pub service_name: Option<String>,
    /// Points every AWS call at this endpoint (`ferry local`, or a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// `"default"` (the SDK's chain) or `"ferry-local"` (static test credentials).
    pub credentials: Option<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub role_session_name: Option<String>,
    /// The AWS account this environment lives in; with `credentials = "ferry-local"`, the
    /// account ferry local files resources under.
    pub account: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// How long a rollback may take (its own clock; 10 minutes unless set).
    #[serde(default, deserialize_with = "duration")]
    pub rollback_timeout: Option<Duration>,
    /// How long to keep watching after the deployment is COMPLETED (30 s unless set; "0s"
    /// turns it off): a new task that fails in it fails the deploy and rolls it back.
    #[serde(default, deserialize_with = "duration_or_zero")]
    pub bake: Option<Duration>,
    pub max_task_failures: Option<u32>,
    /// Deploy `repo@digest` instead of `repo:version` in this environment.
    pub pin_digest: Option<bool>,
    /// Anything else templates may use, as `{{ vars.name }}` or `{{ name }}`.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// The environment releases are promoted from into this one.
    pub promote_from: Option<String>,
    /// How long a release must have run healthy in `promote_from` before it may come in.
    #[serde(default, deserialize_with = "duration")]
    pub soak: Option<Duration>,
    /// A person must approve promotions into this environment.
    #[serde(default)]
    pub approval: bool,
    /// Who may approve with `--approve` (anyone who can run ferry when empty).
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Promotions into this environment are all-or-nothing unless `--no-atomic`.
    #[serde(default)]
    pub atomic: bool,
    /// After a successful deploy, move this registry tag (a template over `environment`,
    /// e.g. "{{ environment }}") to the deployed digest. The env-tag strategy's tag.
    pub image_tag: Option<String>,
    /// A Terraform state file templates read with `tfstate("type.name.attribute")`,
    /// relative to ferry.toml.
    pub tfstate: Option<PathBuf>,
    /// The clean-up after each successful deploy, and `ferry gc` without `--keep`: keep
    /// the newest N ferry revisions of each family; overrides `[defaults]`.
    pub keep_revisions: Option<u32>,
    /// The prober's settings in this environment, over `[defaults.probe]` (see [`ProbeConfig`]).
    pub probe: Option<ProbeConfig>,
    /// A strategy per service in this environment, over the service's own
    /// (`strategies = { web = "canary" }`): rolling, blue-green, canary or linear.
    #[serde(default)]
    pub strategies: BTreeMap<String, Strategy>,
}

/// An image registry that is not ECR, reached over the OCI distribution API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `https://registry.example.com[/prefix]`, or `http://` for a registry on a trusted
    /// network (credentials then travel in clear).
    pub url: String,
    pub username: Option<String>,
    /// The environment variable holding the password (never the password itself).
    pub password_env: Option<String>,
    /// A PEM file of extra CA certificates to trust, relative to ferry.toml.
    pub ca_file: Option<PathBuf>,
}

impl RegistryConfig {
    /// `registry.example.com[:port][/prefix]`: what image references start with.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/')
    }
}

/// `[ledger]`: where history, locks, releases and approvals are kept. SQLite (one file per
/// machine) by default; a DynamoDB table when several machines (CI runners, laptops) deploy
/// the same services and must see each other's locks, promotions and rejections.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// `"sqlite"` (the default) or `"dynamodb"`.
    #[serde(default)]
    pub backend: LedgerKind,
    /// SQLite: the file, relative to ferry.toml (default: the per-user ledger).
    pub path: Option<PathBuf>,
    /// DynamoDB: the table (3 to 255 of `a-z A-Z 0-9 _ - .`), created by `ferry ledger init`
    /// or by Terraform as docs/ledger.md shows.
    pub table: Option<String>,
    /// DynamoDB: the table's region (default: `defaults.region`, then the AWS config's).
    pub region: Option<String>,
    /// DynamoDB: an endpoint other than AWS's (ferry local, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// DynamoDB: `"default"` or `"ferry-local"`, as for environments.
    pub credentials: Option<String>,
    /// DynamoDB: a named profile (a tooling account's), as for environments.
    pub profile: Option<String>,
    /// DynamoDB: a role to assume for the ledger (a tooling account's), as for environments.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    /// DynamoDB with `credentials = "ferry-local"`: the ferry local account.
    pub account: Option<String>,
}

/// The settings that say how to sign in, wherever they are (an environment, `[ledger]`).
struct CredentialSettings<'a> {
    endpoint_url: Option<&'a str>,
    credentials: Option<&'a str>,
    profile: Option<&'a str>,
    role_arn: Option<&'a str>,
    external_id: Option<&'a str>,
    role_session_name: Option<&'a str>,
    account: Option<&'a str>,
}

/// Which store the ledger is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    /// One SQLite file on the machine that runs ferry.
    #[default]
    Sqlite,
    /// One DynamoDB table shared by every machine.
    Dynamodb,
}

/// Checks a DynamoDB table name as CreateTable does: 3 to 255 characters of `a-z`, `A-Z`,
/// `0-9`, `_`, `-` and `.` (DynamoDB developer guide, "Naming rules").
pub fn check_table_name(name: &str) -> Result<(), String> {
    let valid = (3..=255).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!("expected a DynamoDB table name (3 to 255 of a-z, A-Z, 0-9, _, - and .), got {}", text::quoted(name)))
    }
}

/// How a service's new version reaches ECS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Register a revision with the new image, update the service.
    Rolling,
    /// The task definition names `repo:ENV`; move that tag to the version's digest and force
    /// a new deployment.
    EnvTag,
    /// A service and a target
    /// group per version, tested behind a preparing rule, then both versions on the
    /// production rule for `overlap`, then only the new one ([`BlueGreenConfig`]).
    BlueGreen,
    /// Like `blue-green` with the production rule's weights shifted in `steps`.
    Canary,
    /// Like `blue-green` with the weights shifted by the same step (`linear`).
    Linear,
    /// ECS shifts traffic itself: the service's `deploymentConfiguration.strategy` is
    /// BLUE_GREEN, LINEAR or CANARY (Terraform sets it). ferry registers the revision, makes
    /// one UpdateService, follows that service deployment through its lifecycle stages, and
    /// answers each PAUSE lifecycle hook with its checks ([`EcsNativeConfig`]).
    EcsNative,
}

impl Strategy {
    /// The name as written in ferry.toml and journaled (`rolling`, `blue-green`).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::EnvTag => "env-tag",
            Strategy::BlueGreen => "blue-green",
            Strategy::Canary => "canary",
            Strategy::Linear => "linear",
            Strategy::EcsNative => "ecs-native",
        }
    }

    /// Whether the strategy moves traffic between a service per version (blue-green,
    /// canary, linear), configured by `[services.NAME.blue_green]`.
    pub fn shifts_traffic(self) -> bool {
        matches!(self, Strategy::BlueGreen | Strategy::Canary | Strategy::Linear)
    }
}

/// A blue/green, canary or linear deploy's settings (`[services.NAME.blue_green]`), run by
/// [`crate::strategy::blue_green`]:
///
/// ```toml
/// [services.web]
/// strategy = "canary"                 # or "blue-green", "linear"
///
/// [services.web.blue_green]
/// production_rule = "{{ vars.web_rule }}"  # a listener rule or listener ARN (a template)
/// preparing_rule = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/0123/4567/89ab"
/// healthy = 4                         # healthy targets required before checks (default: the desired count)
/// overlap = "60s"                     # blue-green: both versions live this long (default 60s, "0s" none)
/// keep = 1                            # retired versions kept for an instant rollback (default 1)
/// steps = ["10%/5m", "50%/5m", "100%"]   # canary: the new version's share, then how long to hold it
/// linear = "20%/2m"                   # linear: +20% every 2 minutes up to 100%
/// check_command = ["./smoke-test.sh"]  # run before any production traffic moves; exit 0 passes
/// check_body = "ok"                    # every check's answer contains this
/// check_json = { "/status" = "ok" }    # every check's answer holds these (JSON Pointer = value)
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlueGreenConfig {
    /// The listener rule (or listener) users' traffic goes through, whose forward ferry
    /// shifts from the old version's target group to the new one's. Terraform owns it.
    pub production_rule: Option<String>,
    /// The listener rule (or listener) the new version is tested behind before it gets any
    /// production traffic.
    pub preparing_rule: Option<String>,
    /// How many healthy targets the new version's target group needs before its checks run.
    pub healthy: Option<u32>,
    /// blue-green: how long both versions share the production rule.
    #[serde(default, deserialize_with = "duration_or_zero")]
    pub overlap: Option<Duration>,
    /// How many retired versions (services scaled to 0, with their target groups) are kept.
    pub keep: Option<u32>,
    /// canary: the new version's share of production traffic, step by step, each held for a
    /// while (`"10%/5m"`), the last `"100%"`.
    pub steps: Option<Vec<String>>,
    /// linear: the share added at each step and how long each is held (`"20%/2m"`).
    pub linear: Option<String>,
    /// A command run where ferry runs, after the HTTP checks through the preparing rule
    /// passed and before any production traffic moves (a smoke test): exit 0 passes, anything
    /// else rolls back. Its environment has `FERRY_CHECK_URL` (the preparing listener's URL,
    /// when ferry can send to it), `FERRY_CHECK_HOST` (the Host header its rule needs),
    /// `FERRY_ENVIRONMENT`, `FERRY_SERVICE` and `FERRY_TARGET_GROUP_ARN`. At most
    /// [`CHECK_COMMAND_TIMEOUT`].
    pub check_command: Option<Vec<String>>,
    /// Text every answer of the checks through the preparing rule must contain (`"ok"`).
    pub check_body: Option<String>,
    /// Values every answer of the checks through the preparing rule must hold, by JSON
    /// Pointer (RFC 6901): `{ "/status" = "ok" }`. A string value is compared as it is, any
    /// other JSON value by its JSON text (`"/ready" = "true"`, `"/count" = "3"`).
    #[serde(default)]
    pub check_json: BTreeMap<String, String>,
}

impl BlueGreenConfig {
    /// How production traffic moves under `strategy`: blue-green all at once after the
    /// overlap, canary by `steps`, linear by `linear`. The error names the key (`steps`,
    /// `linear`) and says what is wrong.
    pub fn shift(&self, strategy: Strategy) -> Result<crate::strategy::blue_green::Shift, (&'static str, String)> {
        use crate::strategy::blue_green::{Shift, parse_linear, parse_steps};
        match strategy {
            Strategy::Canary => parse_steps(self.steps.as_deref().unwrap_or_default()).map(Shift::Steps).map_err(|m| ("steps", m)),
            Strategy::Linear => parse_linear(self.linear.as_deref().unwrap_or_default()).map(Shift::Steps).map_err(|m| ("linear", m)),
            _ => Ok(Shift::AllAtOnce { overlap: self.overlap.unwrap_or(DEFAULT_OVERLAP) }),
        }
    }
}

/// The checks ferry runs at each PAUSE lifecycle hook of an `ecs-native` deploy
/// (`[services.NAME.ecs_native]`), before it answers ContinueServiceDeployment:
///
/// ```toml
/// [services.web]
/// strategy = "ecs-native"
///
/// [services.web.ecs_native]
/// check_command = ["./smoke-test.sh"]  # exit 0 continues, anything else rolls back
/// check_body = "ok"                    # every probe answer through the test listener contains this
/// check_json = { "/status" = "ok" }    # and holds these (JSON Pointer = value)
/// approve = true                       # then wait for `ferry continue` (default: answer at once)
/// ```
///
/// The HTTP probes go through the service's test listener rule to the green target group
/// (`loadBalancers[].advancedConfiguration`), with the service's `[services.NAME.probe]`
/// settings; without a test listener rule they are skipped (and said so).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EcsNativeConfig {
    /// A command run where ferry runs at each PAUSE hook, after the HTTP checks: exit 0
    /// continues the deployment, anything else rolls it back. Its environment is the one of
    /// [`BlueGreenConfig::check_command`] (`FERRY_CHECK_URL` is the test listener's URL).
    pub check_command: Option<Vec<String>>,
    /// Text every answer of the checks through the test listener must contain.
    pub check_body: Option<String>,
    /// Values every answer of the checks through the test listener must hold, by JSON Pointer.
    #[serde(default)]
    pub check_json: BTreeMap<String, String>,
    /// A person approves at each PAUSE hook: once the checks passed, ferry waits (it does not
    /// answer) until `ferry continue ENV SERVICE` (or `--rollback`) does, or the hook's own
    /// timeout action. Pairs with `ferry deploy --detach` and `ferry watch` for long pauses.
    #[serde(default)]
    pub approve: bool,
}

/// The longest a `check_command` may run before it counts as failed.
pub const CHECK_COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// How long both versions share the production rule under blue-green, unless configured.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(60);
/// How many retired versions are kept for an instant rollback, unless configured.
pub const DEFAULT_KEEP_VERSIONS: u32 = 1;

/// Where a service's task definition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionSource {
    /// A template file in native ECS JSON, rendered with minijinja.
    Template(PathBuf),
    /// The service's running revision, with only the container's image swapped.
    Live,
}

/// A deployable unit: an ECS service and its task definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The ECR repository: its name (`web`, `team/web`) or its URI.
    pub repository: String,
    /// The container that gets the new image.
    pub container: String,
    /// A task definition template (native ECS JSON), relative to ferry.toml.
    pub template: Option<PathBuf>,
    /// `"live"`: take the running revision and swap the image.
    pub from: Option<String>,
    /// Overrides the environment's `service_name` for this service.
    pub service_name: Option<String>,
    /// Deploy `repo@digest` rather than `repo:version`.
    pub pin_digest: Option<bool>,
    /// `rolling` (default), `env-tag`, `blue-green`, `canary` or `linear`.
    pub strategy: Option<Strategy>,
    /// The settings of the blue-green, canary and linear strategies.
    pub blue_green: Option<BlueGreenConfig>,
    /// The checks of the ecs-native strategy at each PAUSE lifecycle hook.
    pub ecs_native: Option<EcsNativeConfig>,
    /// The alarm gate: CloudWatch alarm names (templates: `"{{ environment }}-web-5xx"`), read
    /// while a deploy of this service runs, moves traffic and bakes; one in ALARM fails the
    /// deploy, which is rolled back. Every strategy.
    #[serde(default)]
    pub alarms: Vec<String>,
    /// A registry from `[registries]` instead of ECR.
    pub registry: Option<String>,
    /// A one-off task of the new revision run before the service is changed (a database
    /// migration): its failure stops the deploy with the service untouched.
    pub before_deploy: Option<Hook>,
    /// A one-off task of the new revision run once the deployment completed (and baked):
    /// its failure rolls the deploy back (smoke tests).
    pub after_deploy: Option<Hook>,
    /// The prober's settings for this service, over the environment's and `[defaults.probe]`
    /// (see [`ProbeConfig`]); the only place `url` may be set.
    pub probe: Option<ProbeConfig>,
}

/// A one-off task around a deploy, started with ECS RunTask from the deploy's new revision
/// and the service's network and capacity settings, its exit code deciding:
///
/// ```toml
/// [services.web.before_deploy]
/// command = ["bin/migrate", "--yes"]   # replaces the container's command
/// container = "web"                    # default: the service's container
/// timeout = "15m"                      # default: 30m; the task is stopped after it
/// ```
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The container's new command (`overrides.containerOverrides[].command`); at least
    /// one word.
    pub command: Vec<String>,
    /// The container whose command is replaced and whose exit code counts.
    pub container: Option<String>,
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
}

/// How long a hook's task may run unless its `timeout` says.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The prober (`ferry_core::probe`): light GET requests sent through a service's production
/// listener while a deploy moves its traffic, counted and reported. On by default for every
/// service behind a load balancer. Each key may be set in `[defaults.probe]`,
/// `[environments.NAME.probe]` or `[services.NAME.probe]`; the narrowest table that sets a
/// key wins (service over environment over defaults):
///
/// ```toml
/// [defaults.probe]
/// rate = 5              # requests per second, more than 0 and at most 50 (default 2)
/// expect = "200-299"    # status codes that count as success (default "200-399")
/// timeout = "1s"        # per request; past it the request failed (default 2s, at most 60s)
///
/// [environments.prod.probe]
/// enabled = false       # this environment's CI runners cannot reach its load balancer
///
/// [services.web.probe]
/// path = "/health"      # default: the listener rule's path, else "/"
/// url = "http://web.{{ environment }}.example.com/health"  # instead of finding the listener
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Off: no request is sent (`ferry deploy --no-probe` turns it off for one run).
    pub enabled: Option<bool>,
    /// The path (and query) requests go to, starting with `/`; it must match the rule's
    /// path pattern when the rule has one.
    pub path: Option<String>,
    /// Requests per second.
    pub rate: Option<f64>,
    /// Status codes that count as success: `"200-399"`, `"200,204"`, `"200-299,404"`.
    pub expect: Option<String>,
    /// How long one request may take.
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// Send here (an `http://` URL, a template over `environment` and `service`) instead of
    /// the load balancer's listener ferry would find: CI runners often cannot reach an
    /// internal load balancer, but can reach another way in. Only in `[services.NAME.probe]`.
    pub url: Option<String>,
}

/// A service's probe settings in one environment, every key resolved ([`Config::probe`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    pub enabled: bool,
    /// The configured path; None: the rule's, else `/`.
    pub path: Option<String>,
    /// Requests per second.
    pub rate: f64,
    pub expect: crate::probe::ExpectedStatus,
    /// Per request.
    pub timeout: Duration,
    /// The rendered `url`, when set: sent to instead of the listener ferry would find.
    pub url: Option<String>,
}

impl Service {
    pub fn strategy(&self) -> Strategy {
        self.strategy.unwrap_or(Strategy::Rolling)
    }

    pub fn source(&self) -> TaskDefinitionSource {
        match &self.template {
            Some(path) => TaskDefinitionSource::Template(path.clone()),
            None => TaskDefinitionSource::Live,
        }
    }

    /// The repository's name, whether it was given as a name or as a URI
    /// (`123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web`).
    pub fn repository_name(&self) -> &str {
        match self.repository.split_once('/') {
            Some((host, rest)) if host.contains('.') || host.contains(':') => rest,
            _ => &self.repository,
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map(Some).map_err(serde::de::Error::custom)
}

/// A duration where zero means "off" (`bake = "0s"`).
fn duration_or_zero<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_humantime(&text, "\"0s\" (off), \"30s\" or \"2m\"").map(Some).map_err(serde::de::Error::custom)
}

/// Parses `90s`, `10m`, `1h30m`; the error says what a duration looks like.
pub fn parse_duration(text: &str) -> Result<Duration, crate::error::Error> {
    match parse_humantime(text, "\"90s\", \"10m\" or \"1h30m\"")? {
        d if d.is_zero() => {
            Err(crate::error::Error::invalid(format!("invalid duration {}: must be more than zero", crate::text::quoted(text))))
        }
        d => Ok(d),
    }
}

/// `text` as a humantime duration; the error shows `examples` of what is expected.
fn parse_humantime(text: &str, examples: &str) -> Result<Duration, crate::error::Error> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        crate::error::Error::invalid(format!("invalid duration {} ({e}): expected something like {examples}", crate::text::quoted(text)))
    })
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` names it in errors and anchors templates.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: text::excerpt_lines(e.to_string().trim_end(), 200) })?;
        config.path = path.to_path_buf();
        config.root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if config.root.as_os_str().is_empty() {
            config.root = PathBuf::from(".");
        }
        config.validate()?;
        Ok(config)
    }

    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { path: self.path.clone(), key: text::excerpt(&key.into()), message: message.into() }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(ledger) = &self.ledger {
            self.check_ledger(ledger)?;
        }
        if self.services.is_empty() {
            return Err(self.invalid("services", "no services: add a [services.NAME] table with repository, container and template"));
        }
        if self.environments.is_empty() {
            return Err(self.invalid("environments", "no environments: add an [environments.NAME] table with at least a cluster"));
        }
        for (name, env) in &self.environments {
            let key = |k: &str| format!("environments.{name}.{k}");
            check_name(name).map_err(|m| self.invalid(format!("environments.{name}"), m))?;
            if env.cluster.trim().is_empty() {
                return Err(self.invalid(key("cluster"), "must not be empty"));
            }
            // endpoint_url, account, role_arn and how they combine.
            self.credentials(name, env)?;
            if let Some(region) = &env.region {
                crate::region::check_region(region).map_err(|m| self.invalid(key("region"), m))?;
            }
            if env.max_task_failures == Some(0) {
                return Err(self.invalid(key("max_task_failures"), "must be at least 1"));
            }
            if env.keep_revisions == Some(0) {
                return Err(self.invalid(key("keep_revisions"), KEEP_REVISIONS_ZERO));
            }
            if let Some(from) = &env.promote_from
                && !self.environments.contains_key(from)
            {
                return Err(self.invalid(
                    key("promote_from"),
                    format!(
                        "no environment named {} (environments: {})",
                        text::quoted(from),
                        self.environments.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if let Some(path) = &env.tfstate
                && !self.root.join(path).is_file()
            {
                return Err(self.invalid(
                    key("tfstate"),
                    format!("Terraform state {} not found (looked for {})", path.display(), self.root.join(path).display()),
                ));
            }
            if !env.approvers.is_empty() && !env.approval {
                return Err(self.invalid(key("approvers"), "only makes sense with approval = true"));
            }
            if env.region.is_none() && self.defaults.region.is_none() && env.endpoint_url.is_some() {
                // ferry local needs a region for the SigV4 scope; the default chain may have none.
                return Err(self.invalid(key("region"), "required with endpoint_url (the region signs every request)"));
            }
        }
        if let Some(region) = &self.defaults.region {
            crate::region::check_region(region).map_err(|m| self.invalid("defaults.region", m))?;
        }
        if self.defaults.keep_revisions == Some(0) {
            return Err(self.invalid("defaults.keep_revisions", KEEP_REVISIONS_ZERO));
        }
        self.check_promotion_chain()?;
        self.check_strategy_overrides()?;
        if let Some(registry) = &self.defaults.registry
            && !self.registries.contains_key(registry)
        {
            return Err(self.invalid("defaults.registry", format!("no [registries.{registry}] table")));
        }
        for (name, registry) in &self.registries {
            check_name(name).map_err(|m| self.invalid(format!("registries.{name}"), m))?;
            if !(registry.url.starts_with("http://") || registry.url.starts_with("https://")) {
                return Err(self.invalid(
                    format!("registries.{name}.url"),
                    format!("expected an http:// or https:// URL, got {}", text::quoted(&registry.url)),
                ));
            }
            if registry.password_env.is_some() != registry.username.is_some() {
                return Err(self.invalid(format!("registries.{name}"), "username and password_env go together"));
            }
        }
        for (name, service) in &self.services {
            let key = |k: &str| format!("services.{name}.{k}");
            check_name(name).map_err(|m| self.invalid(format!("services.{name}"), m))?;
            if let Some(registry) = &service.registry
                && !self.registries.contains_key(registry)
            {
                return Err(self.invalid(key("registry"), format!("no [registries.{registry}] table")));
            }
            if service.strategy() == Strategy::EnvTag && service.template.is_some() {
                return Err(self.invalid(
                    key("strategy"),
                    "env-tag deploys the running task definition (it names repo:TAG); use from = \"live\", not a template",
                ));
            }
            if service.repository.trim().is_empty() {
                return Err(self.invalid(key("repository"), "must not be empty"));
            }
            for (field, hook) in [("before_deploy", &service.before_deploy), ("after_deploy", &service.after_deploy)] {
                let Some(hook) = hook else { continue };
                if hook.command.is_empty() || hook.command.iter().all(|w| w.trim().is_empty()) {
                    return Err(
                        self.invalid(key(&format!("{field}.command")), "must name a command, e.g. command = [\"bin/migrate\", \"--yes\"]")
                    );
                }
                if hook.container.as_deref().is_some_and(|c| c.trim().is_empty()) {
                    return Err(
                        self.invalid(key(&format!("{field}.container")), "must not be empty (leave it out for the service's container)")
                    );
                }
            }
            if service.container.trim().is_empty() {
                return Err(self.invalid(key("container"), "must not be empty"));
            }
            match (&service.template, &service.from) {
                (Some(_), Some(_)) => {
                    return Err(self.invalid(key("from"), "set either template or from = \"live\", not both"));
                }
                (None, None) => {
                    return Err(self.invalid(
                        format!("services.{name}"),
                        "no task definition: set template = \"path/to/taskdef.json\" or from = \"live\"",
                    ));
                }
                (None, Some(from)) if from != "live" => {
                    return Err(self.invalid(key("from"), format!("expected \"live\", got {}", text::quoted(from))));
                }
                (Some(template), None) => {
                    let full = self.root.join(template);
                    if !full.is_file() {
                        return Err(self.invalid(
                            key("template"),
                            format!("template file {} not found (looked for {})", template.display(), full.display()),
                        ));
                    }
                }
                _ => {}
            }
            if let Some(probe) = &service.probe {
                self.check_probe(&format!("services.{name}.probe"), probe)?;
            }
            self.check_blue_green(name, service)?;
        }
        if let Some(probe) = &self.defaults.probe {
            self.check_probe("defaults.probe", probe)?;
            if probe.url.is_some() {
                return Err(self.invalid("defaults.probe.url", "each service has its own URL: set it in [services.NAME.probe]"));
            }
        }
        for (name, env) in &self.environments {
            if let Some(probe) = &env.probe {
                self.check_probe(&format!("environments.{name}.probe"), probe)?;
                if probe.url.is_some() {
                    return Err(self.invalid(
                        format!("environments.{name}.probe.url"),
                        "each service has its own URL: set it in [services.NAME.probe] (a template over {{ environment }})",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The values of one probe table (`key` names it, e.g. `services.web.probe`).
    fn check_ledger(&self, ledger: &LedgerConfig) -> Result<(), ConfigError> {
        let dynamodb_only = [
            ("table", ledger.table.is_some()),
            ("region", ledger.region.is_some()),
            ("endpoint_url", ledger.endpoint_url.is_some()),
            ("credentials", ledger.credentials.is_some()),
            ("profile", ledger.profile.is_some()),
            ("role_arn", ledger.role_arn.is_some()),
            ("external_id", ledger.external_id.is_some()),
            ("account", ledger.account.is_some()),
        ];
        match ledger.backend {
            LedgerKind::Sqlite => {
                if let Some((key, _)) = dynamodb_only.iter().find(|(_, set)| *set) {
                    return Err(
                        self.invalid(format!("ledger.{key}"), "only for backend = \"dynamodb\"; the backend is \"sqlite\" (a file: set path) unless [ledger] says backend = \"dynamodb\"")
                    );
                }
            }
            LedgerKind::Dynamodb => {
                if ledger.path.is_some() {
                    return Err(self.invalid("ledger.path", "only for backend = \"sqlite\" (a DynamoDB ledger is a table: set table)"));
                }
                let Some(table) = &ledger.table else {
                    return Err(
                        self.invalid("ledger.table", "backend = \"dynamodb\" needs the table's name (create it with `ferry ledger init`)")
                    );
                };
                check_table_name(table).map_err(|m| self.invalid("ledger.table", m))?;
                if let Some(region) = &ledger.region {
                    crate::region::check_region(region).map_err(|m| self.invalid("ledger.region", m))?;
                }
                self.ledger_credentials(ledger)?;
            }
        }
        Ok(())
    }

    /// The DynamoDB ledger's credentials, checked as an environment's are (see
    /// [`Config::credentials`]): its endpoint, its account, a role or a profile.
    pub fn ledger_credentials(&self, ledger: &LedgerConfig) -> Result<Credentials, ConfigError> {
        let settings = CredentialSettings {
            endpoint_url: ledger.endpoint_url.as_deref(),
            credentials: ledger.credentials.as_deref(),
            profile: ledger.profile.as_deref(),
            role_arn: ledger.role_arn.as_deref(),
            external_id: ledger.external_id.as_deref(),
            role_session_name: None,
            account: ledger.account.as_deref(),
        };
        self.credentials_of("ledger", &settings)
    }

    fn check_probe(&self, key: &str, probe: &ProbeConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{key}.{k}");
        if let Some(path) = &probe.path
            && (!path.starts_with('/') || path.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(
                self.invalid(key("path"), format!("expected a path starting with / and without spaces, got {}", text::quoted(path)))
            );
        }
        if let Some(rate) = probe.rate
            && !(rate > 0.0 && rate <= crate::probe::MAX_RATE)
        {
            return Err(self.invalid(
                key("rate"),
                format!("expected requests per second, more than 0 and at most {}, got {rate}", crate::probe::MAX_RATE),
            ));
        }
        if let Some(expect) = &probe.expect {
            crate::probe::ExpectedStatus::parse(expect).map_err(|m| self.invalid(key("expect"), m))?;
        }
        if let Some(timeout) = probe.timeout
            && timeout > crate::probe::MAX_TIMEOUT
        {
            return Err(
                self.invalid(key("timeout"), format!("at most {} per request", humantime::format_duration(crate::probe::MAX_TIMEOUT)))
            );
        }
        if let Some(url) = &probe.url {
            if url.starts_with("https://") {
                return Err(self.invalid(key("url"), "the prober sends plain HTTP: expected an http:// URL"));
            }
            if !url.starts_with("http://") {
                return Err(self.invalid(key("url"), format!("expected an http:// URL, got {}", text::quoted(url))));
            }
        }
        Ok(())
    }

    /// A service's `[services.NAME.blue_green]` against the strategies it is deployed with
    /// (its own, and each environment's `strategies` override): the table goes with
    /// blue-green, canary or linear, which need both rules; `steps` goes with canary,
    /// `linear` with linear, `overlap` with blue-green.
    fn check_blue_green(&self, name: &str, service: &Service) -> Result<(), ConfigError> {
        let key = |k: &str| format!("services.{name}.blue_green.{k}");
        // Each strategy used, with where it is set (for messages).
        let mut used: Vec<(Strategy, String)> = vec![(service.strategy(), format!("services.{name}.strategy"))];
        for (env_name, env) in &self.environments {
            if let Some(strategy) = env.strategies.get(name) {
                used.push((*strategy, format!("environments.{env_name}.strategies.{name}")));
            }
        }
        let shifting = used.iter().find(|(s, _)| s.shifts_traffic());
        if let (Some((strategy, at)), Some(_)) = (shifting, &service.after_deploy) {
            return Err(self.invalid(
                format!("services.{name}.after_deploy"),
                format!(
                    "the {} strategy ({at}) does not run after_deploy tasks yet: its check_command runs before any production traffic moves instead ([services.{name}.blue_green] check_command)",
                    strategy.name()
                ),
            ));
        }
        let native = used.iter().any(|(s, _)| *s == Strategy::EcsNative);
        if let (false, Some(_)) = (native, &service.ecs_native) {
            return Err(self.invalid(
                format!("services.{name}.ecs_native"),
                format!("only used by strategy = \"ecs-native\" (this service's strategy is \"{}\")", service.strategy().name()),
            ));
        }
        if let (true, Some(_)) = (native, &service.after_deploy) {
            return Err(self.invalid(
                format!("services.{name}.after_deploy"),
                format!(
                    "the ecs-native strategy does not run after_deploy tasks: ECS ends the deployment itself; check the new version at a PAUSE lifecycle hook instead ([services.{name}.ecs_native] check_command)"
                ),
            ));
        }
        let Some(table) = &service.blue_green else {
            if let Some((strategy, at)) = shifting {
                return Err(self.invalid(
                    format!("services.{name}.blue_green"),
                    format!(
                        "strategy = \"{}\" ({at}) needs a [services.{name}.blue_green] table with production_rule and preparing_rule (listener rule or listener ARNs)",
                        strategy.name()
                    ),
                ));
            }
            return Ok(());
        };
        if shifting.is_none() {
            return Err(self.invalid(
                format!("services.{name}.blue_green"),
                format!(
                    "only used by strategy = \"blue-green\", \"canary\" or \"linear\" (this service's strategy is \"{}\")",
                    service.strategy().name()
                ),
            ));
        }
        for (field, value) in [("production_rule", &table.production_rule), ("preparing_rule", &table.preparing_rule)] {
            let Some(arn) = value else {
                return Err(self.invalid(
                    key(field),
                    "required: the ARN of a listener rule (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/...) or listener, or a template naming one",
                ));
            };
            // A template (`{{ vars.web_rule }}`) is checked once rendered (`traffic_rules`).
            if !arn.contains("{{") && crate::platform::RouteKind::of(arn.trim()).is_none() {
                return Err(self.invalid(
                    key(field),
                    format!(
                        "expected the ARN of a listener rule (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/LB/ID/LISTENER/RULE) or of a listener (…:listener/app/LB/ID/LISTENER), got {}",
                        text::quoted(arn)
                    ),
                ));
            }
        }
        if table.production_rule.as_deref().map(str::trim) == table.preparing_rule.as_deref().map(str::trim) {
            return Err(
                self.invalid(key("preparing_rule"), "must differ from production_rule: the new version is tested where users are not")
            );
        }
        if table.healthy == Some(0) {
            return Err(self.invalid(key("healthy"), "must be at least 1: traffic never moves toward zero healthy targets"));
        }
        let uses = |wanted: Strategy| used.iter().find(|(s, _)| *s == wanted);
        let others = || used.iter().map(|(s, _)| format!("\"{}\"", s.name())).collect::<Vec<_>>().join(", ");
        if let (Some((_, at)), None) = (uses(Strategy::Canary), &table.steps) {
            return Err(self.invalid(
                key("steps"),
                format!("required with strategy = \"canary\" ({at}), e.g. steps = [\"10%/5m\", \"50%/5m\", \"100%\"]"),
            ));
        }
        if let (Some((_, at)), None) = (uses(Strategy::Linear), &table.linear) {
            return Err(self.invalid(key("linear"), format!("required with strategy = \"linear\" ({at}), e.g. linear = \"20%/2m\"")));
        }
        if table.linear.is_some() && uses(Strategy::Linear).is_none() {
            return Err(
                self.invalid(key("linear"), format!("only used by strategy = \"linear\" (this service is deployed with {})", others()))
            );
        }
        if table.steps.is_some() && uses(Strategy::Canary).is_none() {
            return Err(
                self.invalid(key("steps"), format!("only used by strategy = \"canary\" (this service is deployed with {})", others()))
            );
        }
        if table.overlap.is_some() && uses(Strategy::BlueGreen).is_none() {
            return Err(self.invalid(
                key("overlap"),
                format!("only used by strategy = \"blue-green\" (this service is deployed with {}: each step is held instead)", others()),
            ));
        }
        for (strategy, _) in used.iter().filter(|(s, _)| s.shifts_traffic()) {
            table.shift(*strategy).map_err(|(field, message)| self.invalid(key(field), message))?;
        }
        if let Some(pointer) = table.check_json.keys().find(|p| !p.is_empty() && !p.starts_with('/')) {
            return Err(self.invalid(
                key("check_json"),
                format!(
                    "{} is not a JSON Pointer: it starts with / (\"/status\", \"/checks/0/ok\"), or is \"\" for the whole answer",
                    crate::text::quoted(pointer)
                ),
            ));
        }
        if table.check_command.as_ref().is_some_and(|c| c.first().is_none_or(|program| program.trim().is_empty())) {
            return Err(self.invalid(key("check_command"), "needs a program to run, like [\"./smoke-test.sh\", \"--quick\"]".to_string()));
        }
        Ok(())
    }

    /// Each environment's `strategies`: a service of ferry.toml each, rolling, blue-green,
    /// canary or linear (env-tag's task definition names the tag in every environment, so it
    /// is chosen for the service, not per environment).
    fn check_strategy_overrides(&self) -> Result<(), ConfigError> {
        for (env_name, env) in &self.environments {
            for (service_name, strategy) in &env.strategies {
                let key = format!("environments.{env_name}.strategies.{service_name}");
                let Some(service) = self.services.get(service_name) else {
                    return Err(self.invalid(
                        key,
                        format!(
                            "no service named {} (services: {})",
                            text::quoted(service_name),
                            self.services.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                };
                if *strategy == Strategy::EnvTag || service.strategy() == Strategy::EnvTag {
                    return Err(self.invalid(
                        key,
                        "env-tag is chosen for the service (services.NAME.strategy), not per environment: its task definition names the environment's tag everywhere",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The strategy `service_name` is deployed with in `env_name`: the environment's
    /// `strategies` override, else the service's own (rolling by default).
    pub fn strategy(&self, env_name: &str, service_name: &str) -> Strategy {
        let own = self.services.get(service_name).map(Service::strategy).unwrap_or(Strategy::Rolling);
        self.environments.get(env_name).and_then(|e| e.strategies.get(service_name).copied()).unwrap_or(own)
    }

    /// `promote_from` links must not loop (dev → stage → dev).
    fn check_promotion_chain(&self) -> Result<(), ConfigError> {
        for start in self.environments.keys() {
            let mut seen = vec![start.as_str()];
            let mut current = start.as_str();
            while let Some(from) = self.environments.get(current).and_then(|e| e.promote_from.as_deref()) {
                if seen.contains(&from) {
                    seen.push(from);
                    return Err(
                        self.invalid(format!("environments.{start}.promote_from"), format!("promotion loops: {}", seen.join(" ← ")))
                    );
                }
                seen.push(from);
                current = from;
            }
        }
        Ok(())
    }

    /// The alarm gate of `service_name` in `env_name`: its `alarms`, each rendered with
    /// `environment`, `service` and the environment's `vars`. The error names the entry.
    pub fn alarms(&self, env_name: &str, service_name: &str) -> Result<Vec<String>, crate::error::Error> {
        let env = self.environment(env_name)?;
        let service = self.service(service_name)?;
        let vars: BTreeMap<String, serde_json::Value> =
            env.vars.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(serde_json::Value::Null))).collect();
        let mut names = Vec::new();
        for (i, pattern) in service.alarms.iter().enumerate() {
            let context = minijinja::context! { environment => env_name, service => service_name, vars => vars.clone() };
            let name = crate::template::render_str("alarms", pattern, context)
                .map_err(|e| format!("services.{service_name}.alarms[{i}]: {e}"))?
                .trim()
                .to_string();
            if name.is_empty() || name.len() > 255 {
                return Err(format!("services.{service_name}.alarms[{i}]: renders to {name:?} in {env_name}, not a CloudWatch alarm name (1 to 255 characters)").into());
            }
            names.push(name);
        }
        Ok(names)
    }

    /// The environment tag of an environment, rendered (`image_tag`, or the environment's name
    /// for the env-tag strategy).
    pub fn image_tag(&self, env_name: &str, service: &Service) -> Result<Option<String>, crate::error::Error> {
        let env = self.environment(env_name)?;
        let pattern = match (&env.image_tag, service.strategy()) {
            (Some(pattern), _) => pattern.clone(),
            (None, Strategy::EnvTag) => "{{ environment }}".to_string(),
            (None, Strategy::Rolling | Strategy::BlueGreen | Strategy::Canary | Strategy::Linear | Strategy::EcsNative) => return Ok(None),
        };
        let tag = crate::template::render_str("image_tag", &pattern, minijinja::context! { environment => env_name })
            .map_err(|e| e.to_string())?
            .trim()
            .to_string();
        crate::check_version(&tag).map_err(|e| format!("environments.{env_name}.image_tag: {e}"))?;
        Ok(Some(tag))
    }

    /// How to get credentials for an environment, with conflicting settings refused.
    pub fn credentials(&self, name: &str, env: &Environment) -> Result<Credentials, ConfigError> {
        let settings = CredentialSettings {
            endpoint_url: env.endpoint_url.as_deref(),
            credentials: env.credentials.as_deref(),
            profile: env.profile.as_deref(),
            role_arn: env.role_arn.as_deref(),
            external_id: env.external_id.as_deref(),
            role_session_name: env.role_session_name.as_deref(),
            account: env.account.as_deref(),
        };
        self.credentials_of(&format!("environments.{name}"), &settings)
    }

    /// [`Config::credentials`] over settings found at `table` (`environments.prod`, `ledger`).
    fn credentials_of(&self, table: &str, s: &CredentialSettings<'_>) -> Result<Credentials, ConfigError> {
        let key = |k: &str| format!("{table}.{k}");
        if let Some(url) = s.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(self.invalid(key("endpoint_url"), format!("expected an http:// or https:// URL, got {}", text::quoted(url))));
        }
        if let Some(account) = s.account
            && !(account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(self.invalid(key("account"), format!("expected a 12-digit AWS account id, got {}", text::quoted(account))));
        }
        if let Some(role) = s.role_arn
            && !(role.starts_with("arn:") && role.contains(":role/"))
        {
            return Err(
                self.invalid(key("role_arn"), format!("expected a role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {}", text::quoted(role)))
            );
        }
        let mode = s.credentials.unwrap_or("default");
        match mode {
            "default" => {}
            "ferry-local" => {
                if s.endpoint_url.is_none() {
                    return Err(self.invalid(key("credentials"), "\"ferry-local\" needs endpoint_url (the ferry local endpoint)"));
                }
                if s.profile.is_some() || s.role_arn.is_some() {
                    return Err(self.invalid(key("credentials"), "\"ferry-local\" cannot be combined with profile or role_arn"));
                }
                return Ok(Credentials::FerryLocal { account: s.account.unwrap_or(FERRY_LOCAL_ACCOUNT).to_string() });
            }
            other => {
                return Err(
                    self.invalid(key("credentials"), format!("expected \"default\" or \"ferry-local\", got {}", text::quoted(other)))
                );
            }
        }
        if s.external_id.is_some() && s.role_arn.is_none() {
            return Err(self.invalid(key("external_id"), "only makes sense with role_arn"));
        }
        if s.role_session_name.is_some() && s.role_arn.is_none() {
            return Err(self.invalid(key("role_session_name"), "only makes sense with role_arn"));
        }
        Ok(match (s.role_arn, s.profile) {
            (Some(role_arn), source_profile) => Credentials::AssumeRole {
                role_arn: role_arn.to_string(),
                external_id: s.external_id.map(str::to_string),
                session_name: s.role_session_name.map(str::to_string),
                source_profile: source_profile.map(str::to_string),
            },
            (None, Some(profile)) => Credentials::Profile(profile.to_string()),
            (None, None) => Credentials::DefaultChain,
        })
    }

    /// The environment by name, or an error listing the ones there are.
    pub fn environment(&self, name: &str) -> Result<&Environment, crate::error::Error> {
        self.environments.get(name).ok_or_else(|| {
            crate::error::Error::invalid(format!(
                "no environment named {} in {} (environments: {})",
                text::quoted(name),
                self.path.display(),
                self.environments.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The service by name, or an error listing the ones there are.
    pub fn service(&self, name: &str) -> Result<&Service, crate::error::Error> {
        self.services.get(name).ok_or_else(|| {
            crate::error::Error::invalid(format!(
                "no service named {} in {} (services: {})",
                text::quoted(name),
                self.path.display(),
                self.services.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    pub fn timeout(&self, env: &Environment) -> Duration {
        env.timeout.or(self.defaults.timeout).unwrap_or(DEFAULT_TIMEOUT)
    }

    /// The rollback's own timeout: the environment's, the defaults', or 10 minutes.
    pub fn rollback_timeout(&self, env: &Environment) -> Duration {
        env.rollback_timeout.or(self.defaults.rollback_timeout).unwrap_or(DEFAULT_ROLLBACK_TIMEOUT)
    }

    /// The bake period after COMPLETED: the environment's, the defaults', or 30 s.
    pub fn bake(&self, env: &Environment) -> Duration {
        env.bake.or(self.defaults.bake).unwrap_or(DEFAULT_BAKE)
    }

    /// How many ferry revisions of each family to keep after a successful deploy (and for
    /// `ferry gc` without `--keep`): the environment's, the defaults', or None (no clean-up).
    pub fn keep_revisions(&self, env: &Environment) -> Option<usize> {
        env.keep_revisions.or(self.defaults.keep_revisions).map(|n| n as usize)
    }

    pub fn max_task_failures(&self, env: &Environment) -> u32 {
        env.max_task_failures.or(self.defaults.max_task_failures).unwrap_or(DEFAULT_MAX_TASK_FAILURES)
    }

    /// The probe settings of `service_name` in `env_name`: each key from the narrowest of
    /// `[services.NAME.probe]`, `[environments.NAME.probe]` and `[defaults.probe]` that sets
    /// it, else its default (on, rate 2, expect 200-399, timeout 2s, the rule's path).
    /// Errors (invalid input): an unknown environment or service, a `url` template that does
    /// not render.
    pub fn probe(&self, env_name: &str, service_name: &str) -> Result<ProbeSettings, crate::error::Error> {
        let env = self.environment(env_name)?;
        let service = self.service(service_name)?;
        let tables: Vec<&ProbeConfig> =
            [service.probe.as_ref(), env.probe.as_ref(), self.defaults.probe.as_ref()].into_iter().flatten().collect();
        let pick = |get: &dyn Fn(&ProbeConfig) -> Option<String>| tables.iter().find_map(|t| get(t));
        let expect = match pick(&|t| t.expect.clone()) {
            Some(text) => crate::probe::ExpectedStatus::parse(&text).map_err(crate::error::Error::invalid)?,
            None => crate::probe::ExpectedStatus::default(),
        };
        let url = match service.probe.as_ref().and_then(|p| p.url.as_deref()) {
            Some(pattern) => {
                let context = minijinja::context! { service => service_name, environment => env_name };
                let url = crate::template::render_str("probe.url", pattern, context)
                    .map_err(|e| format!("services.{service_name}.probe.url: {e}"))?
                    .trim()
                    .to_string();
                if !url.starts_with("http://") {
                    return Err(crate::error::Error::invalid(format!(
                        "services.{service_name}.probe.url renders to {}: expected an http:// URL",
                        text::quoted(&url)
                    )));
                }
                Some(url)
            }
            None => None,
        };
        Ok(ProbeSettings {
            enabled: tables.iter().find_map(|t| t.enabled).unwrap_or(true),
            path: pick(&|t| t.path.clone()),
            rate: tables.iter().find_map(|t| t.rate).unwrap_or(crate::probe::DEFAULT_RATE),
            expect,
            timeout: tables.iter().find_map(|t| t.timeout).unwrap_or(crate::probe::DEFAULT_TIMEOUT),
            url,
        })
    }

    /// The AWS account of an environment when it is known without asking AWS: `account`,
    /// ferry local's (the account its static credentials act as), or the account of the
    /// role it assumes (`arn:aws:iam::ACCOUNT:role/...`). None when only AWS can say.
    pub fn known_account(&self, env: &Environment) -> Option<String> {
        if let Some(account) = &env.account {
            return Some(account.clone());
        }
        if env.credentials.as_deref() == Some("ferry-local") {
            return Some(FERRY_LOCAL_ACCOUNT.to_string());
        }
        env.role_arn.as_deref().and_then(account_of_arn).map(str::to_string)
    }

    pub fn region(&self, env: &Environment) -> Option<String> {
        env.region.clone().or_else(|| self.defaults.region.clone())
    }

    pub fn pin_digest(&self, env: &Environment, service: &Service) -> bool {
        service.pin_digest.or(env.pin_digest).unwrap_or(false)
    }

    /// The ECS service name of `service` in environment `env_name`.
    pub fn ecs_service_name(&self, env_name: &str, service_name: &str) -> Result<String, crate::error::Error> {
        let env = self.environment(env_name)?;
        let service = self.service(service_name)?;
        let pattern = service
            .service_name
            .as_deref()
            .or(env.service_name.as_deref())
            .or(self.defaults.service_name.as_deref())
            .unwrap_or("{{ service }}");
        let context = minijinja::context! { service => service_name, environment => env_name };
        let name = crate::template::render_str("service_name", pattern, context).map_err(|e| e.to_string())?;
        let name = name.trim().to_string();
        if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(crate::error::Error::invalid(format!(
                "service_name for {service_name} in {env_name} renders to {}: an ECS service name has 1-255 letters, digits, hyphens and underscores",
                text::quoted(&name)
            )));
        }
        Ok(name)
    }

    /// A blue-green, canary or linear service's production and preparing rules in an
    /// environment, rendered (templates over `environment`, `service` and the environment's
    /// `vars`) and checked to be listener rule or listener ARNs; the error names the key.
    pub fn traffic_rules(&self, env_name: &str, service_name: &str) -> Result<(String, String), crate::error::Error> {
        let env = self.environment(env_name)?;
        let service = self.service(service_name)?;
        let table = service.blue_green.as_ref().ok_or_else(|| {
            crate::error::Error::invalid(format!(
                "services.{service_name}.blue_green: no such table (strategy {})",
                service.strategy().name()
            ))
        })?;
        let render = |field: &str, value: &Option<String>| -> Result<String, crate::error::Error> {
            let key = format!("services.{service_name}.blue_green.{field}");
            let pattern = value.as_deref().ok_or_else(|| crate::error::Error::invalid(format!("{key}: required")))?;
            let context = minijinja::context! {
                service => service_name,
                environment => env_name,
                vars => minijinja::Value::from_serialize(&env.vars),
            };
            let arn =
                crate::template::render_str(field, pattern, context).map_err(|e| format!("services.{service_name}.blue_green.{e}"))?;
            let arn = arn.trim().to_string();
            if crate::platform::RouteKind::of(&arn).is_none() {
                return Err(crate::error::Error::invalid(format!(
                    "{key} renders to {} in {env_name}: expected a listener rule's or a listener's ARN",
                    text::quoted(&arn)
                )));
            }
            Ok(arn)
        };
        let production = render("production_rule", &table.production_rule)?;
        let preparing = render("preparing_rule", &table.preparing_rule)?;
        if production == preparing {
            return Err(crate::error::Error::invalid(format!(
                "services.{service_name}.blue_green.preparing_rule renders to the production rule in {env_name}: the new version is tested where users are not"
            )));
        }
        Ok((production, preparing))
    }

    /// The registry a service's images live in (a `[registries]` name), None for ECR.
    pub fn registry_of<'a>(&'a self, service: &'a Service) -> Option<&'a str> {
        service.registry.as_deref().or(self.defaults.registry.as_deref())
    }

    /// The URL of the `[registries]` entry a service's images live in; None for ECR.
    pub fn registry_url(&self, service: &Service) -> Option<String> {
        self.registry_of(service).and_then(|r| self.registries.get(r)).map(|r| r.url.clone())
    }

    /// The template file of a service, resolved against the config's directory.
    pub fn template_path(&self, service: &Service) -> Option<PathBuf> {
        service.template.as_ref().map(|t| self.root.join(t))
    }
}

/// Environment and service names appear in ECS names, tags and the ledger: keep them plain.
fn check_name(name: &str) -> Result<(), crate::error::Error> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(crate::error::Error::invalid(format!("the name {} must be 1-64 letters, digits, '-' or '_'", text::quoted(name))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(config: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("deploy")).expect("mkdir");
        std::fs::write(dir.path().join("deploy/web.json"), "{}").expect("write template");
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, config).expect("write config");
        let result = Config::load(&path);
        (dir, result)
    }

    fn error_of(config: &str) -> String {
        let (_dir, result) = project(config);
        match result {
            Ok(_) => panic!("expected an error for:\n{config}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn keep_revisions_is_the_environments_else_the_defaults_else_unset() {
        let with = |defaults: &str, prod: &str| {
            let config = GOOD
                .replace("timeout = \"5m\"", &format!("timeout = \"5m\"\n{defaults}"))
                .replace("timeout = \"20m\"", &format!("timeout = \"20m\"\n{prod}"));
            let (_dir, result) = project(&config);
            let config = result.expect("valid config");
            let keep = |name: &str| config.keep_revisions(config.environment(name).expect("environment"));
            (keep("dev"), keep("prod"))
        };
        assert_eq!(with("", ""), (None, None));
        assert_eq!(with("keep_revisions = 5", ""), (Some(5), Some(5)));
        assert_eq!(with("keep_revisions = 5", "keep_revisions = 2"), (Some(5), Some(2)));
        assert_eq!(with("", "keep_revisions = 3"), (None, Some(3)));
    }

    #[test]
    fn keep_revisions_below_one_is_refused_naming_the_field() {
        let zero_env = GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\nkeep_revisions = 0");
        let e = error_of(&zero_env);
        assert!(e.contains("environments.prod.keep_revisions: must be at least 1"), "{e}");
        let zero_defaults = GOOD.replace("timeout = \"5m\"", "timeout = \"5m\"\nkeep_revisions = 0");
        let e = error_of(&zero_defaults);
        assert!(e.contains("defaults.keep_revisions: must be at least 1"), "{e}");
        let negative = GOOD.replace("timeout = \"5m\"", "timeout = \"5m\"\nkeep_revisions = -2");
        let e = error_of(&negative);
        assert!(e.contains("keep_revisions"), "{e}");
        let text = GOOD.replace("timeout = \"5m\"", "timeout = \"5m\"\nkeep_revisions = \"five\"");
        let e = error_of(&text);
        assert!(e.contains("keep_revisions"), "{e}");
    }

    const GOOD: &str = r#"
[defaults]
timeout = "5m"

[environments.dev]
region = "us-east-1"
cluster = "dev"
service_name = "{{ service }}-{{ environment }}"
endpoint_url = "http://127.0.0.1:4590"
credentials = "ferry-local"
vars = { replicas = 2 }

[environments.prod]
region = "eu-west-1"
cluster = "prod"
role_arn = "arn:aws:iam::123456789012:role/deployer"
timeout = "20m"

[services.web]
repository = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/web"
container = "web"
template = "deploy/web.json"

[services.worker]
repository = "worker"
container = "app"
from = "live"
"#;

    #[test]
    fn a_good_config_loads_with_its_defaults() {
        let (_dir, config) = project(GOOD);
        let config = config.expect("good config");
        let dev = config.environment("dev").expect("dev");
        let prod = config.environment("prod").expect("prod");
        assert_eq!(config.timeout(dev), Duration::from_secs(300));
        assert_eq!(config.timeout(prod), Duration::from_secs(1200));
        assert_eq!(config.max_task_failures(dev), DEFAULT_MAX_TASK_FAILURES);
        assert_eq!(config.credentials("dev", dev).expect("dev creds"), Credentials::FerryLocal { account: "000000000000".into() });
        assert!(matches!(config.credentials("prod", prod).expect("prod creds"), Credentials::AssumeRole { .. }));
        assert_eq!(config.ecs_service_name("dev", "web").expect("name"), "web-dev");
        assert_eq!(config.ecs_service_name("prod", "web").expect("name"), "web");
        assert_eq!(config.services["web"].repository_name(), "team/web");
        assert_eq!(config.services["worker"].repository_name(), "worker");
        assert_eq!(config.services["worker"].source(), TaskDefinitionSource::Live);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_the_keys_expected() {
        let message = error_of(&GOOD.replace("cluster = \"prod\"", "clustr = \"prod\""));
        assert!(message.contains("ferry.toml"), "{message}");
        assert!(message.contains("clustr"), "{message}");
        assert!(message.contains("line 15"), "{message}");
        assert!(message.contains("expected one of"), "{message}");
    }

    #[test]
    fn a_wrong_type_names_the_key_and_the_type_expected() {
        let message = error_of(&GOOD.replace("container = \"app\"", "container = 3"));
        assert!(message.contains("container"), "{message}");
        assert!(message.contains("expected a string"), "{message}");
    }

    #[test]
    fn a_missing_required_key_is_named() {
        let message = error_of(&GOOD.replace("cluster = \"prod\"\n", ""));
        assert!(message.contains("missing field `cluster`"), "{message}");
        assert!(message.contains("environments.prod") || message.contains("prod"), "{message}");
    }

    #[test]
    fn a_missing_template_file_names_the_key_and_the_path() {
        let message = error_of(&GOOD.replace("deploy/web.json", "deploy/api.json"));
        assert!(message.contains("services.web.template"), "{message}");
        assert!(message.contains("deploy/api.json"), "{message}");
        assert!(message.contains("not found"), "{message}");
    }

    #[test]
    fn a_bad_duration_says_what_a_duration_looks_like() {
        let message = error_of(&GOOD.replace("\"5m\"", "\"5 minutes please\""));
        assert!(message.contains("timeout"), "{message}");
        assert!(message.contains("\"10m\""), "{message}");
    }

    #[test]
    fn template_and_from_live_are_exclusive_and_one_is_required() {
        let both = error_of(&GOOD.replace("from = \"live\"", "from = \"live\"\ntemplate = \"deploy/web.json\""));
        assert!(both.contains("services.worker.from"), "{both}");
        let neither = error_of(&GOOD.replace("from = \"live\"\n", ""));
        assert!(neither.contains("services.worker: no task definition"), "{neither}");
        let wrong = error_of(&GOOD.replace("from = \"live\"", "from = \"latest\""));
        assert!(wrong.contains("expected \"live\""), "{wrong}");
    }

    #[test]
    fn credentials_settings_that_conflict_are_refused() {
        let message = error_of(&GOOD.replace("credentials = \"ferry-local\"", "credentials = \"ferry-local\"\nprofile = \"dev\""));
        assert!(message.contains("environments.dev.credentials"), "{message}");
        let message = error_of(&GOOD.replace("credentials = \"ferry-local\"", "credentials = \"static\""));
        assert!(message.contains("expected \"default\" or \"ferry-local\""), "{message}");
        let message = error_of(&GOOD.replace("role_arn = \"arn:aws:iam::123456789012:role/deployer\"", "role_arn = \"deployer\""));
        assert!(message.contains("environments.prod.role_arn"), "{message}");
    }

    #[test]
    fn a_bad_service_name_pattern_is_reported_when_used() {
        let (_dir, config) = project(&GOOD.replace("{{ service }}-{{ environment }}", "{{ service }} {{ nope }}"));
        let config = config.expect("config");
        let message = config.ecs_service_name("dev", "web").expect_err("bad pattern");
        assert!(message.contains("nope") || message.contains("undefined"), "{message}");
    }

    #[test]
    fn promotion_settings_are_checked() {
        let message = error_of(&GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\npromote_from = \"qa\""));
        assert!(message.contains("environments.prod.promote_from: no environment named \"qa\""), "{message}");
        let looped = GOOD
            .replace("credentials = \"ferry-local\"", "credentials = \"ferry-local\"\npromote_from = \"prod\"")
            .replace("timeout = \"20m\"", "timeout = \"20m\"\npromote_from = \"dev\"");
        let message = error_of(&looped);
        assert!(message.contains("promotion loops"), "{message}");
        let message = error_of(&GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\napprovers = [\"alice\"]"));
        assert!(message.contains("environments.prod.approvers: only makes sense with approval = true"), "{message}");
        let message = error_of(&GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\nsoak = \"a while\""));
        assert!(message.contains("soak") && message.contains("invalid duration"), "{message}");
        let message = error_of(&GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\ntfstate = \"missing.tfstate\""));
        assert!(message.contains("environments.prod.tfstate: Terraform state missing.tfstate not found"), "{message}");
    }

    #[test]
    fn strategies_and_registries_are_checked() {
        let message = error_of(&GOOD.replace("container = \"app\"", "container = \"app\"\nstrategy = \"green\""));
        assert!(message.contains("unknown variant `green`") && message.contains("env-tag") && message.contains("canary"), "{message}");
        let message = error_of(&GOOD.replace("container = \"web\"", "container = \"web\"\nstrategy = \"env-tag\""));
        assert!(message.contains("services.web.strategy: env-tag deploys the running task definition"), "{message}");
        let message = error_of(&GOOD.replace("container = \"app\"", "container = \"app\"\nregistry = \"nexus\""));
        assert!(message.contains("services.worker.registry: no [registries.nexus] table"), "{message}");
        let with_registry = format!("{GOOD}\n[registries.nexus]\nurl = \"nexus.example.com\"\n");
        let message = error_of(&with_registry);
        assert!(message.contains("registries.nexus.url: expected an http:// or https:// URL"), "{message}");
        let (_dir, config) = project(&GOOD.replace("container = \"app\"", "container = \"app\"\nstrategy = \"env-tag\""));
        let config = config.expect("env-tag with from = live");
        assert_eq!(config.image_tag("dev", &config.services["worker"]).expect("tag"), Some("dev".to_string()));
        assert_eq!(config.image_tag("dev", &config.services["web"]).expect("tag"), None);
    }

    #[test]
    fn a_region_typo_us_east1_is_refused_naming_the_key_and_the_region_meant() {
        let message = error_of(&GOOD.replace("region = \"us-east-1\"", "region = \"us-east1\""));
        let expected = "environments.dev.region: \"us-east1\" is not an AWS region name (they look like \"us-east-1\", \"eu-central-2\" or \"us-gov-west-1\"); did you mean \"us-east-1\"?";
        assert!(message.ends_with(expected), "{message}");
        let message = error_of(&GOOD.replace("[defaults]", "[defaults]\nregion = \"eu-west1\""));
        assert!(message.contains("defaults.region: \"eu-west1\" is not an AWS region name"), "{message}");
        assert!(message.ends_with("did you mean \"eu-west-1\"?"), "{message}");
        for region in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "ap-southeast-7", "il-central-1", "mx-central-1"] {
            let (_dir, config) = project(&GOOD.replace("region = \"us-east-1\"", &format!("region = \"{region}\"")));
            assert!(config.is_ok(), "{region}");
        }
    }

    #[test]
    fn a_100000_character_value_in_ferry_toml_is_not_echoed_whole() {
        let long = "1".repeat(100_000);
        for config in [
            GOOD.replace("timeout = \"20m\"", &format!("timeout = \"20m\"\naccount = \"{long}\"")),
            GOOD.replace("region = \"eu-west-1\"", &format!("region = \"{long}\"")),
            GOOD.replace("cluster = \"prod\"", &format!("cluster = \"prod\"\n{} = 1", "k".repeat(100_000))),
            format!("{GOOD}\n[environments.{}]\ncluster = \"x\"\n", "e".repeat(100_000)),
        ] {
            let message = error_of(&config);
            assert!(message.len() < 1_000, "{} characters: {}", message.len(), &message[..300]);
            assert!(message.contains("… (100000 characters)") || message.contains("characters)"), "{message}");
        }
        let message = error_of(&GOOD.replace("timeout = \"20m\"", &format!("timeout = \"20m\"\naccount = \"{long}\"")));
        assert!(
            message.ends_with(&format!(
                "environments.prod.account: expected a 12-digit AWS account id, got \"{}…\" (100000 characters)",
                "1".repeat(80)
            )),
            "{message}"
        );
    }

    #[test]
    fn the_account_is_known_offline_from_account_ferry_local_or_the_role() {
        let (_dir, config) = project(GOOD);
        let config = config.expect("good config");
        assert_eq!(config.known_account(config.environment("dev").expect("dev")), Some(FERRY_LOCAL_ACCOUNT.to_string()));
        assert_eq!(config.known_account(config.environment("prod").expect("prod")), Some("123456789012".to_string()));
        let (_dir, config) = project(&GOOD.replace("role_arn = \"arn:aws:iam::123456789012:role/deployer\"\n", ""));
        let config = config.expect("no role");
        assert_eq!(config.known_account(config.environment("prod").expect("prod")), None);
        assert_eq!(account_of_arn("arn:aws:ecs:us-east-1:000000000000:service/test/web"), Some("000000000000"));
        assert_eq!(account_of_arn("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn probe_settings_default_to_on_and_the_narrowest_table_wins_key_by_key() {
        let (_dir, config) = project(GOOD);
        let config = config.expect("good config");
        let settings = config.probe("dev", "web").expect("defaults");
        assert_eq!(
            settings,
            ProbeSettings {
                enabled: true,
                path: None,
                rate: 2.0,
                expect: crate::probe::ExpectedStatus::default(),
                timeout: Duration::from_secs(2),
                url: None
            }
        );
        let layered = GOOD
            .replace("timeout = \"5m\"", "timeout = \"5m\"\nprobe = { rate = 5, expect = \"200\", path = \"/ping\" }")
            .replace("timeout = \"20m\"", "timeout = \"20m\"\nprobe = { enabled = false, timeout = \"500ms\" }")
            .replace(
                "template = \"deploy/web.json\"",
                "template = \"deploy/web.json\"\nprobe = { enabled = true, path = \"/health\", url = \"http://web.{{ environment }}.internal{{ '/' }}health\" }",
            );
        let (_dir, config) = project(&layered);
        let config = config.expect("layered");
        let web = config.probe("prod", "web").expect("web in prod");
        assert!(web.enabled, "the service's enabled = true wins over the environment's false");
        assert_eq!(web.path.as_deref(), Some("/health"));
        assert_eq!(web.rate, 5.0);
        assert_eq!(web.expect.to_string(), "200");
        assert_eq!(web.timeout, Duration::from_millis(500));
        assert_eq!(web.url.as_deref(), Some("http://web.prod.internal/health"));
        let worker = config.probe("prod", "worker").expect("worker in prod");
        assert!(!worker.enabled);
        assert_eq!((worker.path.as_deref(), worker.url.as_deref()), (Some("/ping"), None));
        let worker = config.probe("dev", "worker").expect("worker in dev");
        assert!(worker.enabled);
        assert_eq!(worker.timeout, Duration::from_secs(2));
    }

    #[test]
    fn probe_keys_are_checked_naming_the_key() {
        let with_web = |probe: &str| {
            error_of(
                &GOOD.replace("template = \"deploy/web.json\"", &format!("template = \"deploy/web.json\"\n[services.web.probe]\n{probe}")),
            )
        };
        let e = with_web("rate = 0");
        assert!(e.ends_with("services.web.probe.rate: expected requests per second, more than 0 and at most 50, got 0"), "{e}");
        let e = with_web("rate = 51");
        assert!(e.contains("services.web.probe.rate"), "{e}");
        let e = with_web("expect = \"2xx\"");
        assert!(e.contains("services.web.probe.expect: \"2xx\" is not an HTTP status code"), "{e}");
        let e = with_web("path = \"health\"");
        assert!(e.contains("services.web.probe.path: expected a path starting with /"), "{e}");
        let e = with_web("timeout = \"2m\"");
        assert!(e.ends_with("services.web.probe.timeout: at most 1m per request"), "{e}");
        let e = with_web("timeout = \"soon\"");
        assert!(e.contains("timeout") && e.contains("invalid duration"), "{e}");
        let e = with_web("url = \"https://web.example.com/\"");
        assert!(e.ends_with("services.web.probe.url: the prober sends plain HTTP: expected an http:// URL"), "{e}");
        let e = with_web("url = \"web.example.com\"");
        assert!(e.contains("services.web.probe.url: expected an http:// URL"), "{e}");
        let e = with_web("rat = 3");
        assert!(e.contains("rat") && e.contains("expected one of"), "{e}");
        let e = with_web("enabled = \"yes\"");
        assert!(e.contains("enabled") && e.contains("expected a boolean"), "{e}");
        let e = error_of(&GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\nprobe = { url = \"http://prod/\" }"));
        assert!(e.contains("environments.prod.probe.url: each service has its own URL"), "{e}");
        let e = error_of(&GOOD.replace("timeout = \"5m\"", "timeout = \"5m\"\nprobe = { url = \"http://x/\" }"));
        assert!(e.contains("defaults.probe.url: each service has its own URL"), "{e}");
        let e = error_of(&GOOD.replace("timeout = \"5m\"", "timeout = \"5m\"\nprobe = { rate = -1 }"));
        assert!(e.contains("defaults.probe.rate"), "{e}");
    }

    const PROD_RULE: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
    const PREP_RULE: &str = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/0467ef3c8400ae65";

    /// GOOD with web's strategy and its `[services.web.blue_green]` table (both rules set,
    /// then `extra` lines).
    fn blue_green(strategy: &str, extra: &str) -> String {
        GOOD.replace(
            "template = \"deploy/web.json\"",
            &format!(
                "template = \"deploy/web.json\"\nstrategy = \"{strategy}\"\n[services.web.blue_green]\nproduction_rule = \"{PROD_RULE}\"\npreparing_rule = \"{PREP_RULE}\"\n{extra}"
            ),
        )
    }

    #[test]
    fn blue_green_canary_and_linear_load_with_their_defaults_and_shifts() {
        use crate::strategy::blue_green::{Shift, WeightStep};
        let step = |percent, secs| WeightStep { percent, hold: Duration::from_secs(secs) };
        let (_dir, config) = project(&blue_green("blue-green", ""));
        let config = config.expect("blue-green");
        let web = &config.services["web"];
        assert_eq!(web.strategy(), Strategy::BlueGreen);
        let table = web.blue_green.clone().expect("table");
        assert_eq!(table.shift(Strategy::BlueGreen), Ok(Shift::AllAtOnce { overlap: DEFAULT_OVERLAP }));
        assert_eq!(table.keep, None, "default applied by the deploy: DEFAULT_KEEP_VERSIONS");

        let (_dir, config) = project(&blue_green("canary", "steps = [\"10%/5m\", \"50%/90s\", \"100%\"]\nhealthy = 3\nkeep = 2"));
        let config = config.expect("canary");
        let table = config.services["web"].blue_green.clone().expect("table");
        assert_eq!(table.shift(Strategy::Canary), Ok(Shift::Steps(vec![step(10, 300), step(50, 90), step(100, 0)])));
        assert_eq!((table.healthy, table.keep), (Some(3), Some(2)));

        let (_dir, config) = project(&blue_green("linear", "linear = \"30%/2m\""));
        let table = config.expect("linear").services["web"].blue_green.clone().expect("table");
        assert_eq!(table.shift(Strategy::Linear), Ok(Shift::Steps(vec![step(30, 120), step(60, 120), step(90, 120), step(100, 0)])));
        // A template is checked once rendered.
        let templated = blue_green("blue-green", "").replace(PROD_RULE, "{{ vars.web_rule }}");
        assert!(project(&templated).1.is_ok());
    }

    #[test]
    fn blue_green_keys_are_checked_naming_the_key() {
        let e = error_of(&GOOD.replace("template = \"deploy/web.json\"", "template = \"deploy/web.json\"\nstrategy = \"canary\""));
        assert!(
            e.contains("services.web.blue_green: strategy = \"canary\" (services.web.strategy) needs a [services.web.blue_green] table"),
            "{e}"
        );
        let e = error_of(&blue_green("blue-green", "").replace("strategy = \"blue-green\"", "strategy = \"rolling\""));
        assert!(e.contains("services.web.blue_green: only used by strategy = \"blue-green\""), "{e}");
        let e = error_of(&blue_green("blue-green", "").replace(&format!("preparing_rule = \"{PREP_RULE}\""), ""));
        assert!(e.contains("services.web.blue_green.preparing_rule: required"), "{e}");
        let e = error_of(
            &blue_green("blue-green", "").replace(PROD_RULE, "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/1"),
        );
        assert!(e.contains("services.web.blue_green.production_rule: expected the ARN of a listener rule"), "{e}");
        let e = error_of(&blue_green("blue-green", "").replace(PREP_RULE, PROD_RULE));
        assert!(e.contains("services.web.blue_green.preparing_rule: must differ from production_rule"), "{e}");
        let e = error_of(&blue_green("blue-green", "healthy = 0"));
        assert!(e.contains("services.web.blue_green.healthy: must be at least 1"), "{e}");
        let e = error_of(&blue_green("blue-green", "check_json = { \"status\" = \"ok\" }"));
        assert!(e.contains("services.web.blue_green.check_json: \"status\" is not a JSON Pointer"), "{e}");
        let e = error_of(&blue_green("blue-green", "check_command = []"));
        assert!(e.contains("services.web.blue_green.check_command: needs a program to run"), "{e}");
        let e = error_of(&format!("{}\n[services.web.after_deploy]\ncommand = [\"true\"]\n", blue_green("canary", "steps = [\"100%\"]")));
        assert!(
            e.contains("services.web.after_deploy: the canary strategy (services.web.strategy) does not run after_deploy tasks yet"),
            "{e}"
        );
        let e = error_of(&blue_green("blue-green", "overlap = \"soon\""));
        assert!(e.contains("overlap") && e.contains("invalid duration"), "{e}");
        let e = error_of(&blue_green("blue-green", "steps = [\"100%\"]"));
        assert!(
            e.contains("services.web.blue_green.steps: only used by strategy = \"canary\" (this service is deployed with \"blue-green\")"),
            "{e}"
        );
        let e = error_of(&blue_green("canary", ""));
        assert!(e.contains("services.web.blue_green.steps: required with strategy = \"canary\" (services.web.strategy)"), "{e}");
        let e = error_of(&blue_green("canary", "steps = [\"10%/5m\", \"100%\"]\noverlap = \"1m\""));
        assert!(e.contains("services.web.blue_green.overlap: only used by strategy = \"blue-green\""), "{e}");
        let e = error_of(&blue_green("linear", ""));
        assert!(e.contains("services.web.blue_green.linear: required with strategy = \"linear\" (services.web.strategy)"), "{e}");
        let e = error_of(&blue_green("linear", "linear = \"100%/1m\""));
        assert!(e.contains("services.web.blue_green.linear: \"100%/1m\": expected the share added at each step"), "{e}");
        let e = error_of(&blue_green("blue-green", "keep = -1"));
        assert!(e.contains("keep"), "{e}");
        let e = error_of(&blue_green("blue-green", "production = \"x\""));
        assert!(e.contains("production") && e.contains("expected one of"), "{e}");
    }

    #[test]
    fn an_environment_may_deploy_a_service_with_another_strategy() {
        // web: rolling in dev, canary in prod.
        let config = GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\nstrategies = { web = \"canary\" }").replace(
            "template = \"deploy/web.json\"",
            &format!(
                "template = \"deploy/web.json\"\n[services.web.blue_green]\nproduction_rule = \"{PROD_RULE}\"\npreparing_rule = \"{PREP_RULE}\"\nsteps = [\"25%/1m\", \"100%\"]"
            ),
        );
        let (_dir, loaded) = project(&config);
        let loaded = loaded.expect("override");
        assert_eq!(loaded.strategy("prod", "web"), Strategy::Canary);
        assert_eq!(loaded.strategy("dev", "web"), Strategy::Rolling);
        assert_eq!(loaded.strategy("dev", "worker"), Strategy::Rolling);

        let e = error_of(&config.replace("web = \"canary\"", "api = \"canary\""));
        assert!(e.contains("environments.prod.strategies.api: no service named \"api\""), "{e}");
        let e = error_of(&config.replace("web = \"canary\"", "web = \"env-tag\""));
        assert!(e.contains("environments.prod.strategies.web: env-tag is chosen for the service"), "{e}");
        let e = error_of(&config.replace("web = \"canary\"", "web = \"linear\""));
        assert!(
            e.contains("services.web.blue_green.linear: required with strategy = \"linear\" (environments.prod.strategies.web)"),
            "{e}"
        );
        let e = error_of(&config.replace("web = \"canary\"", "web = \"rolling\""));
        assert!(e.contains("services.web.blue_green: only used by strategy"), "{e}");
        let without_table = GOOD.replace("timeout = \"20m\"", "timeout = \"20m\"\nstrategies = { web = \"blue-green\" }");
        let e = error_of(&without_table);
        assert!(e.contains("strategy = \"blue-green\" (environments.prod.strategies.web) needs a [services.web.blue_green] table"), "{e}");
    }

    #[test]
    fn the_rules_render_per_environment_from_its_vars() {
        let config = blue_green("blue-green", "")
            .replace(PROD_RULE, "{{ vars.web_rule }}")
            .replace("vars = { replicas = 2 }", &format!("vars = {{ replicas = 2, web_rule = \"{PROD_RULE}\" }}"));
        let (_dir, config) = project(&config);
        let config = config.expect("config");
        assert_eq!(config.traffic_rules("dev", "web"), Ok((PROD_RULE.to_string(), PREP_RULE.to_string())));
        // prod has no web_rule: the error names the key and the variable.
        let e = config.traffic_rules("prod", "web").expect_err("prod");
        assert!(e.message.starts_with("services.web.blue_green.production_rule"), "{e}");
        assert!(e.message.ends_with("undefined variable `vars.web_rule`"), "{e}");
        let e = config.traffic_rules("dev", "worker").expect_err("worker");
        assert!(e.message.contains("services.worker.blue_green: no such table"), "{e}");
    }

    #[test]
    fn canary_steps_are_parsed_with_errors_that_say_what_is_wrong() {
        let steps = |list: &str| error_of(&blue_green("canary", &format!("steps = [{list}]")));
        let e = steps("");
        assert!(e.contains("services.web.blue_green.steps: must list at least one step"), "{e}");
        let e = steps("\"10/5m\", \"100%\"");
        assert!(e.contains("step 1: \"10/5m\": the share must be a percentage from 1% to 100%"), "{e}");
        let e = steps("\"0%/5m\", \"100%\"");
        assert!(e.contains("step 1: \"0%/5m\": the share must be a percentage"), "{e}");
        let e = steps("\"10%/later\", \"100%\"");
        assert!(e.contains("step 1: \"10%/later\": invalid duration"), "{e}");
        let e = steps("\"50%/5m\", \"10%/5m\", \"100%\"");
        assert!(e.contains("step 2 (\"10%/5m\"): the shares must rise, 10% follows 50%"), "{e}");
        let e = steps("\"10%\", \"100%\"");
        assert!(e.contains("step 1 (\"10%\"): say how long to hold it, like \"10%/5m\""), "{e}");
        let e = steps("\"10%/5m\", \"50%/5m\"");
        assert!(e.contains("the last step must be \"100%\""), "{e}");
        let e = steps("\"10%/5m\", \"100%/5m\"");
        assert!(e.contains("step 2 (\"100%/5m\"): the last step is not held"), "{e}");
    }

    #[test]
    fn a_toml_syntax_error_names_the_line() {
        let message = error_of("[services.web\nrepository = 1");
        assert!(message.contains("line 1"), "{message}");
    }
}
