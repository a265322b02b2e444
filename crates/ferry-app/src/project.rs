//! What the use cases share: where the project is ([`Project`]), who runs it ([`Actor`]),
//! loading ferry.toml, opening the ledger, connecting to an environment, and turning
//! `SERVICE=VERSION` into a deploy request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_aws::platform::{AwsEcs, AwsElb, EcrRegistry};
use ferry_aws::scaling::AwsAutoScaling;
use ferry_aws::workload::{AwsLogs, AwsSecrets};
use ferry_aws::{AssumeRole, Clients, Target};
use ferry_core::config::{Config, Credentials, Environment, LedgerKind};
use ferry_core::deploy::{Gates, Locks, Observer, Request, Run, Source, Trace, Traffic};
use ferry_core::platform::{ImageInfo, PlatformError, PlatformResult, Registry, TagMove};
use ferry_core::template::{Variables, toml_to_json};
use ferry_store::Ledger;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::journal::{Journal, LedgerLocks, SystemClock};
use crate::sink::EventSink;

/// Where a project is: its ferry.toml, its ledger, and an endpoint every AWS call goes to
/// instead of the environments' own.
#[derive(Clone, Debug)]
pub struct Project {
    /// The ferry.toml to load.
    pub config: PathBuf,
    /// The ledger's SQLite file; None for [`Ledger::default_path`].
    pub ledger: Option<PathBuf>,
    /// Overrides every environment's `endpoint_url` (`--endpoint-url`, `FERRY_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Template variables given on the command line (`--var NAME=VALUE`): strings, put into
    /// every environment's `vars` by [`load_config`] over any of the same name.
    pub vars: BTreeMap<String, String>,
}

impl Project {
    /// The ledger's path: the one given, else the default.
    pub fn ledger_path(&self) -> PathBuf {
        self.ledger.clone().unwrap_or_else(Ledger::default_path)
    }
}

/// What every use case runs with: the project, who runs it, where its events go, and the
/// token that stops it (Ctrl-C in the CLI, a cancelled request in a server).
pub struct Context<'a> {
    /// ferry.toml, the ledger, an endpoint override.
    pub project: &'a Project,
    /// Who the ledger records, and who holds the locks.
    pub actor: &'a Actor,
    /// Where events, notes and warnings go while the use case runs.
    pub sink: &'a dyn EventSink,
    /// Cancelled: a run under way stops watching, marks its deployments interrupted in the
    /// ledger and frees its locks; ECS carries on with what it was doing.
    pub cancel: CancellationToken,
}

impl Context<'_> {
    /// `work`, unless the token is cancelled first (or was already): then
    /// [`Error::interrupted_before`] for `command`, and `work` is dropped. For what comes
    /// before a run changes anything (reading the config, AWS and the ledger, preflight).
    pub async fn before_changes<T>(&self, command: &'static str, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Error::interrupted_before(command)),
            done = work => done,
        }
    }
}

/// A `SERVICE=VERSION` of a deploy or plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceVersion {
    /// A service of ferry.toml (`web`).
    pub service: String,
    /// An image tag (`1.4.2`, `build-90`).
    pub version: String,
}

/// A `SERVICE=VERSION` that is not one: the text given.
#[derive(Debug, thiserror::Error)]
#[error("expected SERVICE=VERSION (e.g. web=1.4.2), got {0:?}")]
pub struct NotServiceVersion(pub String);

impl std::str::FromStr for ServiceVersion {
    type Err = NotServiceVersion;
    /// `web=1.4.2`; the error says what was expected.
    fn from_str(text: &str) -> std::result::Result<Self, NotServiceVersion> {
        match text.split_once('=') {
            Some((service, version)) if !service.is_empty() && !version.is_empty() => {
                Ok(ServiceVersion { service: service.to_string(), version: version.to_string() })
            }
            _ => Err(NotServiceVersion(text.to_string())),
        }
    }
}

/// A `--var NAME=VALUE`: a template variable only the caller knows (a CI build URL, a
/// feature flag). NAME is a template identifier (a letter or `_`, then letters, digits,
/// `_`); VALUE any string, empty included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Var {
    /// `BUILD_URL`: templates read it as `{{ vars.BUILD_URL }}` (or `{{ BUILD_URL }}`).
    pub name: String,
    /// The value, always a string (`| int` in the template makes a number of it).
    pub value: String,
}

/// A `--var` that is not one: what was given and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotVar(String);

impl std::str::FromStr for Var {
    type Err = NotVar;
    /// `BUILD_URL=https://ci.example.com/90`; the error says what was expected.
    fn from_str(text: &str) -> std::result::Result<Self, NotVar> {
        let example = "e.g. BUILD_URL=https://ci.example.com/build/90";
        let Some((name, value)) = text.split_once('=') else {
            return Err(NotVar(format!("expected NAME=VALUE ({example}), got {text:?}")));
        };
        if name.is_empty() {
            return Err(NotVar(format!("{text:?} has no NAME before `=`: expected NAME=VALUE ({example})")));
        }
        let mut chars = name.chars();
        let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(NotVar(format!(
                "{name:?} is not a variable name: use letters, digits and `_`, not starting with a digit (templates read it as {{{{ vars.NAME }}}})"
            )));
        }
        Ok(Var { name: name.to_string(), value: value.to_string() })
    }
}

/// Loads ferry.toml, with the project's `--var`s put into every environment's `vars`.
/// Errors: no such file (with how to write one), or what the config loader found wrong
/// (invalid input, exit 2).
pub fn load_config(project: &Project) -> Result<Config> {
    if !project.config.exists() {
        return Err(Error::input(format!("{}: no such file (run `ferry init` to write one, or pass --config)", project.config.display())));
    }
    let mut config = Config::load(&project.config).map_err(|e| Error::input_from(e.to_string(), e))?;
    for env in config.environments.values_mut() {
        for (name, value) in &project.vars {
            env.vars.insert(name.clone(), toml::Value::String(value.clone()));
        }
    }
    Ok(config)
}

/// Where the ledger is: `--ledger` / `FERRY_LEDGER` first (a file, or `dynamodb://TABLE`),
/// then ferry.toml's `[ledger]`, then the per-user SQLite file.
#[derive(Clone, Debug)]
pub enum LedgerLocation {
    /// The embedded SQLite ledger in this file.
    Sqlite(PathBuf),
    /// The shared DynamoDB ledger: its table, and how to reach it.
    Dynamodb { table: String, target: Box<Target> },
}

impl LedgerLocation {
    /// For messages: the file, or `dynamodb://TABLE`.
    pub fn describe(&self) -> String {
        match self {
            LedgerLocation::Sqlite(path) => path.display().to_string(),
            LedgerLocation::Dynamodb { table, .. } => format!("dynamodb://{table}"),
        }
    }
}

/// The scheme of a shared ledger named by `--ledger` / `FERRY_LEDGER`.
const DYNAMODB_SCHEME: &str = "dynamodb://";

/// Whether a `--ledger` value starts with a URL scheme (`dynamo://`, `DynamoDB:/x`, `s3:`)
/// rather than naming a file: a mistyped shared ledger must not quietly become a new file.
fn looks_like_a_url(value: &str) -> bool {
    let Some((scheme, _)) = value.split_once(':') else { return false };
    scheme.len() > 1
        && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
}

/// Decides where the ledger is (see [`LedgerLocation`]). Reads ferry.toml when it exists
/// (its errors are the config's: exit 2); a missing ferry.toml means the per-user file.
/// Errors: a `dynamodb://` override without a valid table name (exit 2).
pub fn ledger_location(project: &Project) -> Result<LedgerLocation> {
    let config = if project.config.exists() { Some(load_config(project)?) } else { None };
    let configured = config.as_ref().and_then(|c| c.ledger.clone());
    let named = project.ledger.as_ref().map(|p| p.to_string_lossy().into_owned());
    let table = match (&named, &configured) {
        (Some(named), _) if named.starts_with(DYNAMODB_SCHEME) => {
            let table = named[DYNAMODB_SCHEME.len()..].trim_end_matches('/').to_string();
            ferry_core::config::check_table_name(&table).map_err(|m| Error::input(format!("--ledger / FERRY_LEDGER: {m}")))?;
            table
        }
        (Some(named), _) if looks_like_a_url(named) => {
            return Err(Error::input(format!(
                "--ledger / FERRY_LEDGER: {named:?} looks like a URL, but the only one ferry knows is {DYNAMODB_SCHEME}TABLE (lower case); \
                 anything else is a file path (write ./{named} for a file whose name has a colon); nothing was changed"
            )));
        }
        (Some(_), _) => return Ok(LedgerLocation::Sqlite(project.ledger_path())),
        (None, Some(ledger)) if ledger.backend == LedgerKind::Dynamodb => ledger.table.clone().unwrap_or_default(),
        (None, Some(ledger)) => {
            let path = match (&ledger.path, &config) {
                (Some(path), Some(config)) => config.root.join(path),
                _ => project.ledger_path(),
            };
            return Ok(LedgerLocation::Sqlite(path));
        }
        (None, None) => return Ok(LedgerLocation::Sqlite(project.ledger_path())),
    };
    // The table's region and credentials: [ledger]'s when it names a DynamoDB ledger, else
    // the default chain (what a CI runner's role gives).
    let configured_dynamodb = configured.as_ref().is_some_and(|l| l.backend == LedgerKind::Dynamodb);
    let settings = configured.filter(|l| l.backend == LedgerKind::Dynamodb).unwrap_or_default();
    let (credentials, file) = match &config {
        Some(config) => (config.ledger_credentials(&settings).map_err(|e| Error::input_from(e.to_string(), e))?, config_file_name(config)),
        None => (Credentials::DefaultChain, "ferry.toml".to_string()),
    };
    let region = settings.region.clone().or_else(|| config.as_ref().and_then(|c| c.defaults.region.clone()));
    let endpoint_override = project.endpoint_url.as_deref();
    let mut target = Target {
        region,
        endpoint_url: endpoint_override.map(str::to_string).or_else(|| settings.endpoint_url.clone()),
        endpoint_origin: match endpoint_override {
            Some(_) => Some("--endpoint-url or FERRY_ENDPOINT_URL".into()),
            None => settings.endpoint_url.as_ref().map(|_| format!("ledger.endpoint_url in {file}")),
        },
        ..Target::default()
    };
    let default_origin = if configured_dynamodb {
        format!("[ledger] in {file}, which sets no profile, role_arn or credentials")
    } else {
        format!("the default chain: no DynamoDB [ledger] in {file} says how to sign in")
    };
    apply_credentials(&mut target, credentials, &|key| format!("ledger.{key} in {file}"), &default_origin);
    Ok(LedgerLocation::Dynamodb { table, target: Box::new(target) })
}

/// Opens the ledger where [`ledger_location`] says (exit 8 when it cannot be opened or
/// fails its checks), and says through `sink` what opening it found: history that went
/// missing since ferry last used it.
pub async fn open_ledger(project: &Project, sink: &dyn EventSink) -> Result<Arc<Ledger>> {
    open_ledger_at(ledger_location(project)?, sink).await
}

/// [`open_ledger`] where `location` says (for a caller that decided it already).
pub async fn open_ledger_at(location: LedgerLocation, sink: &dyn EventSink) -> Result<Arc<Ledger>> {
    let ledger = match location {
        LedgerLocation::Sqlite(path) => {
            Ledger::open(&path).map_err(|e| Error::ledger_at(format!("cannot open the ledger {}: {e}", path.display()), &path, e))?
        }
        LedgerLocation::Dynamodb { table, target } => {
            let shared =
                ferry_aws::ledger::open(&target, &table).await.map_err(|e| Error::ledger(format!("cannot open the ledger: {e}")))?;
            Ledger::from_backend(Box::new(shared))
        }
    };
    for warning in ledger.warnings() {
        sink.warning(&warning.to_string());
    }
    Ok(Arc::new(ledger))
}

/// An environment's clients.
pub struct Connected {
    /// The environment's name in ferry.toml.
    pub name: String,
    /// Its AWS region (`eu-west-1`); empty when neither ferry.toml nor the AWS config says.
    pub region: String,
    /// The endpoint URL every call goes to, when not AWS's own (ferry local, a VPC endpoint).
    pub endpoint: Option<String>,
    /// ECS, with the environment's credentials.
    pub ecs: AwsEcs,
    /// Elastic Load Balancing v2 (the services' target groups), likewise.
    pub elb: AwsElb,
    /// ECR and the `[registries]` of ferry.toml, each repository routed to its own.
    pub registry: ProjectRegistry,
    /// Application Auto Scaling (the limits of the services' desired counts).
    pub autoscaling: AwsAutoScaling,
    /// CloudWatch Logs (the awslogs driver's groups and what tasks printed).
    pub logs: AwsLogs,
    /// SSM Parameter Store and Secrets Manager (that the tasks' `secrets` exist).
    pub secrets: AwsSecrets,
    /// CloudWatch alarms (the alarm gate), as the gates of a run that probes nothing read them.
    pub alarms: crate::probe::AlarmGates,
}

impl Connected {
    /// The deploy engine over this environment's adapters, with `locks` and `observer` (the
    /// ledger's, or none for a preflight seen by no one) and the system clock.
    pub fn run<'a, L: Locks, O: Observer>(
        &'a self,
        locks: &'a L,
        observer: &'a O,
    ) -> Run<'a, AwsEcs, AwsElb, ProjectRegistry, SystemClock, L, O, AwsLogs, AwsSecrets, AwsAutoScaling> {
        self.run_with_gates(locks, observer, &self.alarms)
    }

    /// [`Connected::run`] with the gates of blue-green, canary and linear deploys (the
    /// run's probes).
    pub fn run_with_gates<'a, L: Locks, O: Observer>(
        &'a self,
        locks: &'a L,
        observer: &'a O,
        gates: &'a dyn Gates,
    ) -> Run<'a, AwsEcs, AwsElb, ProjectRegistry, SystemClock, L, O, AwsLogs, AwsSecrets, AwsAutoScaling> {
        Run {
            scaling: &self.autoscaling,
            gates,
            ecs: &self.ecs,
            elb: &self.elb,
            registry: &self.registry,
            clock: &SystemClock,
            locks,
            observer,
            logs: &self.logs,
            secrets: &self.secrets,
        }
    }

    /// Where this environment's calls go, for "not found" messages (issue 8: say in which
    /// region, account and endpoint something was not found): `region eu-west-1, account
    /// 123456789012, endpoint http://127.0.0.1:4590`, or for a service's images, ECR's or the
    /// `[registries]` URL.
    pub fn location(&self, config: &Config, service: Option<&ferry_core::config::Service>) -> String {
        let account = config.environment(&self.name).ok().and_then(|env| config.known_account(env)).unwrap_or_default();
        let variables = Variables {
            region: self.region.clone(),
            account,
            endpoint: self.endpoint.clone(),
            registry_url: service.and_then(|s| config.registry_url(s)),
            ..Variables::default()
        };
        match service {
            Some(_) => variables.registry_location(),
            None => variables.ecs_location(),
        }
    }
}

/// The registries of a project: ECR through the SDK, and the `[registries]` of ferry.toml
/// through the OCI distribution API, each service's repository routed to its own.
pub struct ProjectRegistry {
    /// None when only `[registries]` are needed (`ferry tag` of such a service builds no
    /// AWS client at all).
    ecr: Option<EcrRegistry>,
    /// Repository → (the registry's host prefix for image references, its client).
    oci: HashMap<String, (String, ferry_registry::RegistryClient)>,
    /// Every `[registries]` entry whose client could be made, by host prefix
    /// (`registry.example.com[:port][/prefix]`), longest first: where preflight looks up a
    /// sidecar's image that is not in ECR.
    hosts: Vec<(String, ferry_registry::RegistryClient)>,
}

impl ProjectRegistry {
    /// The registries of `config`'s services. Errors (invalid input): a `password_env` that
    /// is not set, a registry the client refuses (its URL, its CA file).
    pub fn new(config: &Config, ecr: Option<EcrRegistry>) -> Result<ProjectRegistry> {
        let mut oci = HashMap::new();
        for service in config.services.values() {
            let Some(name) = config.registry_of(service) else { continue };
            let Some(registry) = config.registries.get(name) else { continue };
            let client = oci_client(config, name, registry)?;
            oci.insert(service.repository_name().to_string(), (registry.host().to_string(), client));
        }
        // A registry no service deploys from may lack its password here: its images are then
        // not checked, and nothing fails for it.
        let mut hosts: Vec<_> = config
            .registries
            .iter()
            .filter_map(|(name, registry)| Some((registry.host().to_string(), oci_client(config, name, registry).ok()?)))
            .collect();
        hosts.sort_by_key(|(host, _)| std::cmp::Reverse(host.len()));
        Ok(ProjectRegistry { ecr, oci, hosts })
    }

    fn ecr(&self, repository: &str) -> PlatformResult<&EcrRegistry> {
        self.ecr.as_ref().ok_or_else(|| PlatformError::new("ecr", None, format!("{repository} is not in any configured registry")))
    }
}

fn registry_error(operation: &str, e: ferry_registry::Error) -> PlatformError {
    PlatformError::new(operation, None, e.to_string())
}

/// The OCI client of `[registries.NAME]`. Errors (invalid input): a `password_env` that is
/// not set, a registry the client refuses (its URL, its CA file).
fn oci_client(config: &Config, name: &str, registry: &ferry_core::config::RegistryConfig) -> Result<ferry_registry::RegistryClient> {
    let credentials = match (&registry.username, &registry.password_env) {
        (Some(username), Some(variable)) => Some(ferry_registry::Credentials {
            username: username.clone(),
            password: std::env::var(variable)
                .map_err(|_| Error::input(format!("registries.{name}.password_env: the environment variable {variable} is not set")))?,
        }),
        _ => None,
    };
    ferry_registry::RegistryClient::new(ferry_registry::Registry {
        url: registry.url.clone(),
        insecure: registry.url.starts_with("http://"),
        credentials,
        ca_file: registry.ca_file.as_ref().map(|p| config.root.join(p)),
    })
    .map_err(|e| Error::input_from(format!("registries.{name}: {e}"), e))
}

/// An image reference's repository and tag or digest, once its registry's host prefix is
/// taken off: `envoy:v1.2` → (`envoy`, `v1.2`), `team/envoy@sha256:…` → (`team/envoy`,
/// `sha256:…`), `envoy` → (`envoy`, `latest`), as Docker reads a reference.
fn repository_and_reference(path: &str) -> (&str, &str) {
    if let Some((repository, digest)) = path.split_once('@') {
        return (repository, digest);
    }
    match path.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (path, "latest"),
    }
}

impl Registry for ProjectRegistry {
    async fn resolve(&self, repository: &str, tag: &str) -> PlatformResult<Option<ImageInfo>> {
        let Some((host, client)) = self.oci.get(repository) else { return self.ecr(repository)?.resolve(repository, tag).await };
        let resolved = client.resolve(repository, tag).await.map_err(|e| registry_error("registry:resolve", e))?;
        Ok(resolved.map(|r| ImageInfo { repository_uri: format!("{host}/{repository}"), digest: r.digest.to_string() }))
    }

    async fn resolve_digest(&self, repository: &str, digest: &str) -> PlatformResult<Option<ImageInfo>> {
        let Some((host, client)) = self.oci.get(repository) else { return self.ecr(repository)?.resolve_digest(repository, digest).await };
        let resolved = client.resolve(repository, digest).await.map_err(|e| registry_error("registry:resolve", e))?;
        Ok(resolved.map(|r| ImageInfo { repository_uri: format!("{host}/{repository}"), digest: r.digest.to_string() }))
    }

    /// A sidecar's image in a registry of `[registries]`, found by its host prefix: one
    /// manifest HEAD (a missing repository is "not found" too).
    async fn image_exists(&self, image: &str) -> Option<PlatformResult<bool>> {
        let (client, path) =
            self.hosts.iter().find_map(|(host, client)| Some((client, image.strip_prefix(host.as_str())?.strip_prefix('/')?)))?;
        let (repository, reference) = repository_and_reference(path);
        Some(client.exists(repository, reference).await.map_err(|e| registry_error("registry:exists", e)))
    }

    async fn move_tag(&self, repository: &str, digest: &str, tag: &str) -> PlatformResult<()> {
        let Some((_, client)) = self.oci.get(repository) else { return self.ecr(repository)?.move_tag(repository, digest, tag).await };
        client.retag(repository, digest, tag).await.map(|_| ()).map_err(|e| registry_error("registry:retag", e))
    }

    /// One GET, one HEAD and one PUT for a registry of `[registries]`, rather than the
    /// default's two resolves before the move.
    async fn copy_tag(&self, repository: &str, source: &str, tag: &str) -> PlatformResult<Option<TagMove>> {
        let Some((_, client)) = self.oci.get(repository) else { return self.ecr(repository)?.copy_tag(repository, source, tag).await };
        match client.retag(repository, source, tag).await {
            Ok(moved) => Ok(Some(TagMove { digest: moved.digest.to_string(), previous: moved.previous.map(|d| d.to_string()) })),
            // Not found is an answer only for the source; the client names the image it missed.
            Err(ferry_registry::Error::ManifestNotFound { image, .. })
                if ferry_registry::Reference::parse(source).is_ok_and(|r| r.qualify(repository) == image) =>
            {
                Ok(None)
            }
            Err(e) => Err(registry_error("registry:retag", e)),
        }
    }
}

/// The SDK target of an environment, with its own credentials, and where its endpoint and
/// credentials are configured (for the messages when they do not work).
pub fn target(config: &Config, name: &str, env: &Environment, endpoint_override: Option<&str>) -> Result<Target> {
    let credentials = config.credentials(name, env).map_err(|e| Error::input_from(e.to_string(), e))?;
    let file = config_file_name(config);
    let setting = |key: &str| format!("environments.{name}.{key} in {file}");
    let mut target = Target {
        region: config.region(env),
        endpoint_url: endpoint_override.map(str::to_string).or_else(|| env.endpoint_url.clone()),
        endpoint_origin: match endpoint_override {
            Some(_) => Some("--endpoint-url or FERRY_ENDPOINT_URL".into()),
            None => env.endpoint_url.as_ref().map(|_| setting("endpoint_url")),
        },
        ..Target::default()
    };
    apply_credentials(
        &mut target,
        credentials,
        &setting,
        &format!("environments.{name} in {file}, which sets no profile, role_arn or credentials"),
    );
    Ok(target)
}

/// Puts `credentials` on `target`, saying where each came from: `setting(key)` names a
/// setting, `default_origin` where the default chain was chosen.
fn apply_credentials(target: &mut Target, credentials: Credentials, setting: &dyn Fn(&str) -> String, default_origin: &str) {
    match credentials {
        Credentials::DefaultChain => target.credentials_origin = Some(default_origin.to_string()),
        Credentials::Profile(profile) => {
            target.profile = Some(profile);
            target.credentials_origin = Some(setting("profile"));
        }
        Credentials::AssumeRole { role_arn, external_id, session_name, source_profile } => {
            target.credentials_origin = Some(match source_profile {
                Some(_) => format!("{} and .profile", setting("role_arn")),
                None => setting("role_arn"),
            });
            target.profile = source_profile;
            target.assume_role = Some(AssumeRole { role_arn, external_id, session_name });
        }
        Credentials::FerryLocal { account } => {
            target.static_credentials = Some((account, "ferry-local".into()));
            target.credentials_origin = Some(setting("credentials"));
        }
    }
}

fn config_file_name(config: &Config) -> String {
    config.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "ferry.toml".into())
}

/// Refuses a profile the AWS config files do not define, before any call: the SDK would
/// fall through to other sources and end with an error about the instance metadata service.
async fn check_profile(config: &Config, name: &str, target: &Target) -> Result<()> {
    let file = config_file_name(config);
    let (profile, origin) = match (&target.profile, target.static_credentials.is_some()) {
        (_, true) => return Ok(()),
        (Some(profile), false) => (profile.clone(), format!("environments.{name}.profile in {file}")),
        // The default chain reads AWS_PROFILE only when no keys are in the environment.
        (None, false) => match std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()) {
            Some(profile) if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() => (profile, "AWS_PROFILE".to_string()),
            _ => return Ok(()),
        },
    };
    match ferry_aws::credentials::find_profile(&profile).await {
        Ok(()) => Ok(()),
        Err(missing) => Err(Error::input(format!(
            "{missing} (from {origin}); {}. Add it (`aws configure --profile {profile}`, or `aws configure sso` for SSO) or name an existing one",
            missing.known_in_words()
        ))),
    }
}

/// The clients of environment `name`: its credentials checked (a profile must exist), ECS
/// and the project's registries. Errors: an unknown environment, credentials or registries
/// misconfigured (invalid input). No call is made yet.
pub async fn connect(config: &Config, name: &str, endpoint_override: Option<&str>) -> Result<Connected> {
    let env = config.environment(name).map_err(Error::config)?;
    let target = target(config, name, env, endpoint_override)?;
    check_profile(config, name, &target).await?;
    let clients = Clients::new(&target).await;
    let region = target.region.clone().unwrap_or_default();
    let registry = ProjectRegistry::new(config, Some(EcrRegistry::new(clients.ecr).with_reach(clients.reach.clone())))?;
    let elb = AwsElb::new(clients.elbv2).with_reach(clients.reach.clone());
    let autoscaling = AwsAutoScaling::new(clients.autoscaling).with_reach(clients.reach.clone());
    let logs = AwsLogs::new(clients.logs).with_reach(clients.reach.clone());
    let secrets = AwsSecrets::new(clients.ssm, clients.secretsmanager).with_reach(clients.reach.clone());
    let alarms = crate::probe::AlarmGates(ferry_aws::alarms::AwsAlarms::new(clients.cloudwatch).with_reach(clients.reach.clone()));
    let ecs = AwsEcs::new(clients.ecs).with_reach(clients.reach);
    Ok(Connected {
        name: name.to_string(),
        region,
        endpoint: target.endpoint_url.clone(),
        ecs,
        elb,
        registry,
        autoscaling,
        logs,
        secrets,
        alarms,
    })
}

/// The commit and its subject, when ferry runs inside a git checkout.
pub fn git_commit(dir: &Path) -> (Option<String>, Option<String>) {
    let run = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).current_dir(dir).stderr(std::process::Stdio::null()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
    };
    (run(&["rev-parse", "HEAD"]), run(&["log", "-1", "--format=%s"]))
}

/// A fresh id: `prefix`, a dash and 12 hex digits (`fd-0123456789ab`).
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..12])
}

/// The deploy request for one service of the config in `connected`'s environment.
/// `source_override` replaces the service's template (a revision to go back to);
/// `timeout` the environment's. Errors (invalid input): an unknown service, a template or
/// Terraform state that cannot be read, an image tag that cannot be rendered.
pub fn request(
    config: &Config,
    connected: &Connected,
    service_name: &str,
    version: Option<String>,
    source_override: Option<Source>,
    timeout: Option<Duration>,
    trace: Trace,
) -> Result<Request> {
    let env = config.environment(&connected.name).map_err(Error::config)?;
    let service = config.service(service_name).map_err(Error::config)?;
    let ecs_service = config.ecs_service_name(&connected.name, service_name).map_err(Error::config)?;
    let source = match source_override {
        Some(source) => source,
        None => match config.template_path(service) {
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).map_err(|e| Error::input_from(format!("{}: cannot read: {e}", path.display()), e))?;
                Source::Template { name: display_path(&path), text }
            }
            None => Source::Live,
        },
    };
    let variables = Variables {
        environment: connected.name.clone(),
        service: service_name.to_string(),
        ecs_service: ecs_service.clone(),
        cluster: env.cluster.clone(),
        region: connected.region.clone(),
        // Known from the config or the credentials; else the deploy reads it from the
        // service's ARN.
        account: config.known_account(env).unwrap_or_default(),
        vars: env.vars.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect(),
        tfstate: load_tfstate(config, env)?,
        endpoint: connected.endpoint.clone(),
        registry_url: config.registry_url(service),
        ..Variables::default()
    };
    Ok(Request {
        environment: connected.name.clone(),
        service: service_name.to_string(),
        ecs_service,
        cluster: env.cluster.clone(),
        version,
        repository: service.repository_name().to_string(),
        container: service.container.clone(),
        source,
        variables,
        pin_digest: config.pin_digest(env, service),
        timeout: timeout.unwrap_or_else(|| config.timeout(env)),
        rollback_timeout: config.rollback_timeout(env),
        bake: config.bake(env),
        max_task_failures: config.max_task_failures(env),
        trace,
        kind: "deploy",
        digest: None,
        strategy: config.strategy(&connected.name, service_name),
        image_tag: config.image_tag(&connected.name, service).map_err(Error::config)?,
        lock_owner: None,
        force: false,
        before_deploy: service.before_deploy.clone(),
        after_deploy: service.after_deploy.clone(),
        traffic: traffic(config, &connected.name, service_name, service)?,
        ecs_native: service.ecs_native.clone(),
        detach: false,
        alarms: config.alarms(&connected.name, service_name).map_err(Error::config)?,
        gates_skipped: None,
    })
}

/// How a blue-green, canary or linear deploy of `service_name` in `environment` moves
/// traffic (`[services.NAME.blue_green]`, its rules rendered for the environment); None for
/// the other strategies.
pub(crate) fn traffic(
    config: &Config,
    environment: &str,
    service_name: &str,
    service: &ferry_core::config::Service,
) -> Result<Option<Traffic>> {
    let strategy = config.strategy(environment, service_name);
    let Some(table) = service.blue_green.as_ref().filter(|_| strategy.shifts_traffic()) else { return Ok(None) };
    let (production_rule, preparing_rule) = config.traffic_rules(environment, service_name)?;
    let shift = table
        .shift(strategy)
        .map_err(|(key, message)| Error::input(format!("services.{service_name}.blue_green.{key} in ferry.toml: {message}")))?;
    Ok(Some(Traffic {
        production_rule,
        preparing_rule,
        healthy: table.healthy,
        shift,
        keep: table.keep.unwrap_or(ferry_core::config::DEFAULT_KEEP_VERSIONS),
        check_command: table.check_command.clone(),
        check_body: table.check_body.clone(),
        check_json: table.check_json.clone(),
        roll_back: None,
    }))
}

/// A path as messages show it: relative to where ferry runs when it is below it, without
/// the `./` a config in the current directory puts in front.
pub fn display_path(path: &Path) -> String {
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let text = shown.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// The environment's Terraform state, when it names one, for `tfstate()` in templates.
/// Errors (invalid input): the file cannot be read, or is not JSON.
pub fn load_tfstate(config: &Config, env: &Environment) -> Result<Option<Arc<serde_json::Value>>> {
    let Some(path) = &env.tfstate else { return Ok(None) };
    let full = config.root.join(path);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| Error::input_from(format!("{}: cannot read the Terraform state: {e}", full.display()), e))?;
    let state =
        serde_json::from_str(&text).map_err(|e| Error::input_from(format!("{}: not a Terraform state (JSON): {e}", full.display()), e))?;
    Ok(Some(Arc::new(state)))
}

/// What `deploy` and `plan` set up alike: the environment's clients, the ledger, and one
/// request per `SERVICE=VERSION` (each named once).
pub struct Session {
    pub connected: Connected,
    pub ledger: Arc<Ledger>,
    pub actor: Actor,
    /// `run-` or `plan-` and 12 hex digits: the id the ledger groups the run's deployments by.
    pub run_id: String,
    /// One per `SERVICE=VERSION`, in the order given, each with its own deployment id.
    pub requests: Vec<Request>,
}

impl Session {
    /// Loads the config, checks the services (known, each named once), connects to
    /// `environment`, opens the ledger and builds the requests; `run_prefix` starts the
    /// run's id (`run`, `plan`).
    pub async fn open(
        ctx: &Context<'_>,
        environment: &str,
        services: &[ServiceVersion],
        timeout: Option<Duration>,
        run_prefix: &str,
    ) -> Result<Session> {
        let config = load_config(ctx.project)?;
        let mut seen = HashSet::new();
        for sv in services {
            config.service(&sv.service).map_err(Error::config)?;
            if !seen.insert(sv.service.clone()) {
                return Err(Error::input(format!("{} is given twice", sv.service)));
            }
        }
        let connected = connect(&config, environment, ctx.project.endpoint_url.as_deref()).await?;
        let ledger = open_ledger(ctx.project, ctx.sink).await?;
        let who = ctx.actor.who.clone();
        let (commit, commit_message) = git_commit(&config.root);
        let requests = services
            .iter()
            .map(|sv| {
                let trace =
                    Trace { deployment_id: new_id("fd"), who: who.clone(), commit: commit.clone(), commit_message: commit_message.clone() };
                request(&config, &connected, &sv.service, Some(sv.version.clone()), None, timeout, trace)
            })
            .collect::<Result<Vec<Request>>>()?;
        Ok(Session { connected, ledger, actor: ctx.actor.clone(), run_id: new_id(run_prefix), requests })
    }

    /// The ledger's locks, held as this session's actor.
    pub fn locks(&self) -> LedgerLocks {
        LedgerLocks { ledger: self.ledger.clone(), actor: self.actor.clone() }
    }

    /// The run's observer: events to `sink`, journaled in the ledger.
    pub fn journal<'a>(&self, sink: &'a dyn EventSink) -> Journal<'a> {
        Journal::new(self.ledger.clone(), sink, self.run_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::Silent;

    #[test]
    fn an_image_reference_splits_as_docker_reads_it() {
        assert_eq!(repository_and_reference("envoy:v1.2"), ("envoy", "v1.2"));
        assert_eq!(repository_and_reference("team/envoy"), ("team/envoy", "latest"));
        assert_eq!(repository_and_reference("team/envoy@sha256:abc"), ("team/envoy", "sha256:abc"));
        assert_eq!(repository_and_reference("team/envoy:1.0@sha256:abc"), ("team/envoy:1.0", "sha256:abc"));
    }

    #[tokio::test]
    async fn a_sidecar_image_is_routed_to_the_registry_its_host_names_and_others_are_not_checked() {
        let text = r#"
[environments.prod]
cluster = "main"
region = "eu-west-1"

[services.web]
repository = "web"
container = "web"
from = "live"

[registries.corp]
url = "https://registry.example.com"

[registries.team]
url = "https://registry.example.com/team"

[registries.locked]
url = "https://locked.example.com"
username = "ci"
password_env = "FERRY_TEST_UNSET_PASSWORD_OF_A_REGISTRY_NO_SERVICE_USES"
"#;
        let config = Config::parse(text, Path::new("ferry.toml")).expect("ferry.toml");
        let registry = ProjectRegistry::new(&config, None).expect("a registry no service uses may lack its password");
        let hosts: Vec<&str> = registry.hosts.iter().map(|(h, _)| h.as_str()).collect();
        assert_eq!(hosts, ["registry.example.com/team", "registry.example.com"], "the longest prefix first; locked has no password");
        assert!(registry.image_exists("docker.io/envoyproxy/envoy:v1.2").await.is_none(), "not a configured registry's");
        assert!(registry.image_exists("locked.example.com/envoy:v1.2").await.is_none(), "its client could not be made");
    }

    #[tokio::test]
    async fn a_cancelled_token_stops_a_use_case_before_it_changes_anything() {
        let project = Project { config: "ferry.toml".into(), ledger: None, endpoint_url: None, vars: BTreeMap::new() };
        let actor = Actor { who: "tester@vm".into(), host: "vm".into(), pid: 1 };
        let ctx = Context { project: &project, actor: &actor, sink: &Silent, cancel: CancellationToken::new() };
        assert_eq!(ctx.before_changes("deploy", async { Ok(7) }).await.ok(), Some(7));
        ctx.cancel.cancel();
        let ran = std::sync::atomic::AtomicBool::new(false);
        let stopped = ctx
            .before_changes("deploy", async {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(7)
            })
            .await;
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the work ran after the token was cancelled");
        let Err(e) = stopped else { panic!("not stopped") };
        assert_eq!((e.kind().code(), e.to_string()), (130, "interrupted: nothing was changed".to_string()));
    }

    #[test]
    fn service_version_says_what_it_expected() {
        assert_eq!("web=1.4.2".parse::<ServiceVersion>().ok(), Some(ServiceVersion { service: "web".into(), version: "1.4.2".into() }));
        let wrong = "web".parse::<ServiceVersion>().err().map(|e| e.to_string());
        assert_eq!(wrong.as_deref(), Some("expected SERVICE=VERSION (e.g. web=1.4.2), got \"web\""));
    }

    #[test]
    fn var_takes_name_equals_value_and_says_what_was_wrong() {
        let var = |name: &str, value: &str| Some(Var { name: name.into(), value: value.into() });
        assert_eq!("BUILD_URL=https://ci.example.com/b/9?x=1".parse::<Var>().ok(), var("BUILD_URL", "https://ci.example.com/b/9?x=1"));
        assert_eq!("_flag=".parse::<Var>().ok(), var("_flag", ""), "an empty value is a value");
        let wrong = |text: &str| text.parse::<Var>().err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(wrong("BUILD_URL"), "expected NAME=VALUE (e.g. BUILD_URL=https://ci.example.com/build/90), got \"BUILD_URL\"");
        assert_eq!(wrong("=x"), "\"=x\" has no NAME before `=`: expected NAME=VALUE (e.g. BUILD_URL=https://ci.example.com/build/90)");
        for name in ["9lives", "build-url", "a.b", "é"] {
            assert_eq!(
                wrong(&format!("{name}=1")),
                format!(
                    "{name:?} is not a variable name: use letters, digits and `_`, not starting with a digit (templates read it as {{{{ vars.NAME }}}})"
                )
            );
        }
    }

    #[test]
    fn vars_of_the_command_line_win_over_the_environments_vars() {
        let dir = std::env::temp_dir().join(new_id("ferry-vars-test"));
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("ferry.toml");
        std::fs::write(
            &config,
            "[environments.dev]\ncluster = \"c\"\nvars = { BUILD_URL = \"none\", log = \"info\" }\n\n[environments.prod]\ncluster = \"p\"\n\n\
             [services.web]\nrepository = \"web\"\ncontainer = \"web\"\nfrom = \"live\"\n",
        )
        .expect("write");
        let vars = BTreeMap::from([("BUILD_URL".to_string(), "https://ci/9".to_string())]);
        let loaded = load_config(&Project { config, ledger: None, endpoint_url: None, vars }).expect("loads");
        let dev = &loaded.environments["dev"].vars;
        assert_eq!(dev.get("BUILD_URL").and_then(|v| v.as_str()), Some("https://ci/9"));
        assert_eq!(dev.get("log").and_then(|v| v.as_str()), Some("info"));
        assert_eq!(loaded.environments["prod"].vars.get("BUILD_URL").and_then(|v| v.as_str()), Some("https://ci/9"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
