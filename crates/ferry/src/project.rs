//! What the deploy-family commands share: loading ferry.toml, connecting to an environment,
//! turning `SERVICE=VERSION` into a deploy request, and the ledger behind the run (locks,
//! records, events) together with the printer as the run's observer.

use std::sync::Arc;
use std::time::Duration;

use ferry_aws::platform::{AwsEcs, EcrRegistry};
use ferry_aws::{AssumeRole, Clients, Target};
use ferry_core::config::{Config, Credentials, Environment};
use ferry_core::deploy::{Event, LockRefusal, Locks, Observer, Outcome, Request, ServiceReport, Source, Trace};
use ferry_core::platform::{Clock, ImageInfo, PlatformError, PlatformResult, Registry, TagMove};
use ferry_core::template::{Variables, toml_to_json};
use ferry_store::{DeploymentRecord, EventRecord, Ledger, LockHolder, StoreError};

use crate::Failure;
use crate::cli::GlobalArgs;
use crate::output::{Printer, now_ms};

/// How long a lock lasts without renewal: a crashed ferry frees the service after this.
const LOCK_LEASE_MS: i64 = 120_000;

pub fn load_config(global: &GlobalArgs) -> Result<Config, Failure> {
    if !global.config.exists() {
        return Err(Failure::input(format!("{}: no such file (run `ferry init` to write one, or pass --config)", global.config.display())));
    }
    Config::load(&global.config).map_err(|e| Failure::input(e.to_string()))
}

/// Opens the ledger (exit 8 when it cannot be opened or fails its checks), and says out loud
/// what opening it found: history that went missing since ferry last used it.
pub fn open_ledger(global: &GlobalArgs) -> Result<Arc<Ledger>, Failure> {
    let path = global.ledger.clone().unwrap_or_else(Ledger::default_path);
    let ledger = Ledger::open(&path).map_err(|e| Failure::ledger(format!("cannot open the ledger {}: {e}", path.display())))?;
    for warning in ledger.warnings() {
        // On stderr whatever the output format: stdout may be JSON a pipeline parses.
        eprintln!("warning: {warning}");
    }
    Ok(Arc::new(ledger))
}

/// An environment's clients.
pub struct Connected {
    pub name: String,
    pub region: String,
    /// The endpoint URL every call goes to, when not AWS's own (ferry local, a VPC endpoint).
    pub endpoint: Option<String>,
    pub ecs: AwsEcs,
    pub registry: ProjectRegistry,
}

impl Connected {
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
    oci: std::collections::HashMap<String, (String, ferry_registry::RegistryClient)>,
}

impl ProjectRegistry {
    pub fn new(config: &Config, ecr: Option<EcrRegistry>) -> Result<ProjectRegistry, Failure> {
        let mut oci = std::collections::HashMap::new();
        for service in config.services.values() {
            let Some(name) = config.registry_of(service) else { continue };
            let Some(registry) = config.registries.get(name) else { continue };
            let credentials = match (&registry.username, &registry.password_env) {
                (Some(username), Some(variable)) => Some(ferry_registry::Credentials {
                    username: username.clone(),
                    password: std::env::var(variable).map_err(|_| {
                        Failure::input(format!("registries.{name}.password_env: the environment variable {variable} is not set"))
                    })?,
                }),
                _ => None,
            };
            let client = ferry_registry::RegistryClient::new(ferry_registry::Registry {
                url: registry.url.clone(),
                insecure: registry.url.starts_with("http://"),
                credentials,
                ca_file: registry.ca_file.as_ref().map(|p| config.root.join(p)),
            })
            .map_err(|e| Failure::input(format!("registries.{name}: {e}")))?;
            oci.insert(service.repository_name().to_string(), (registry.host().to_string(), client));
        }
        Ok(ProjectRegistry { ecr, oci })
    }
}

fn registry_error(operation: &str, e: ferry_registry::Error) -> PlatformError {
    PlatformError::new(operation, None, e.to_string())
}

impl ProjectRegistry {
    fn ecr(&self, repository: &str) -> PlatformResult<&EcrRegistry> {
        self.ecr.as_ref().ok_or_else(|| PlatformError::new("ecr", None, format!("{repository} is not in any configured registry")))
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
pub fn target(config: &Config, name: &str, env: &Environment, endpoint_override: Option<&str>) -> Result<Target, Failure> {
    let credentials = config.credentials(name, env).map_err(|e| Failure::input(e.to_string()))?;
    let file = config.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "ferry.toml".into());
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
    match credentials {
        Credentials::DefaultChain => {
            target.credentials_origin = Some(format!("environments.{name} in {file}, which sets no profile, role_arn or credentials"));
        }
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
    Ok(target)
}

/// Refuses a profile the AWS config files do not define, before any call: the SDK would
/// fall through to other sources and end with an error about the instance metadata service.
async fn check_profile(config: &Config, name: &str, target: &Target) -> Result<(), Failure> {
    let file = config.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| "ferry.toml".into());
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
        Err(missing) => Err(Failure::input(format!(
            "{missing} (from {origin}); {}. Add it (`aws configure --profile {profile}`, or `aws configure sso` for SSO) or name an existing one",
            missing.known_in_words()
        ))),
    }
}

pub async fn connect(config: &Config, name: &str, endpoint_override: Option<&str>) -> Result<Connected, Failure> {
    let env = config.environment(name).map_err(Failure::input)?;
    let target = target(config, name, env, endpoint_override)?;
    check_profile(config, name, &target).await?;
    let clients = Clients::new(&target).await;
    let region = target.region.clone().unwrap_or_default();
    let registry = ProjectRegistry::new(config, Some(EcrRegistry::new(clients.ecr).with_reach(clients.reach.clone())))?;
    let ecs = AwsEcs::new(clients.ecs).with_reach(clients.reach);
    Ok(Connected { name: name.to_string(), region, endpoint: target.endpoint_url.clone(), ecs, registry })
}

/// Who is deploying: $FERRY_USER, else user@host.
pub fn who() -> String {
    if let Ok(user) = std::env::var("FERRY_USER")
        && !user.is_empty()
    {
        return user;
    }
    // Containers and CI runners often have no $USER: then the login name of this process's
    // uid, as the system's user database (passwd, NSS) knows it.
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(|| whoami::username().ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", host())
}

/// This machine's host name (gethostname), else $HOSTNAME, else `localhost`.
pub fn host() -> String {
    whoami::hostname()
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether a process with this pid exists, ours or another user's (`kill(pid, 0)`, where
/// EPERM means it exists but is not ours to signal). A zombie counts as existing; pid 0 and
/// pids beyond the kernel's range do not exist.
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().filter(|p| *p > 0).and_then(rustix::process::Pid::from_raw) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// The commit and its subject, when ferry runs inside a git checkout.
pub fn git_commit(dir: &std::path::Path) -> (Option<String>, Option<String>) {
    let run = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git").args(args).current_dir(dir).stderr(std::process::Stdio::null()).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
    };
    (run(&["rev-parse", "HEAD"]), run(&["log", "-1", "--format=%s"]))
}

/// A fresh id: `fd-` and 12 hex digits.
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..12])
}

/// The deploy request for one service of the config.
pub fn request(
    config: &Config,
    connected: &Connected,
    service_name: &str,
    version: Option<String>,
    source_override: Option<Source>,
    timeout: Option<Duration>,
    trace: Trace,
) -> Result<Request, Failure> {
    let env = config.environment(&connected.name).map_err(Failure::input)?;
    let service = config.service(service_name).map_err(Failure::input)?;
    let ecs_service = config.ecs_service_name(&connected.name, service_name).map_err(Failure::input)?;
    let source = match source_override {
        Some(source) => source,
        None => match config.template_path(service) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| Failure::input(format!("{}: cannot read: {e}", path.display())))?;
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
        strategy: service.strategy(),
        image_tag: config.image_tag(&connected.name, service).map_err(Failure::input)?,
        lock_owner: None,
    })
}

/// A path as messages show it: relative to where ferry runs when it is below it, without
/// the `./` a config in the current directory puts in front.
pub fn display_path(path: &std::path::Path) -> String {
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(std::path::Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let text = shown.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// The environment's Terraform state, when it names one, for `tfstate()` in templates.
pub fn load_tfstate(config: &Config, env: &Environment) -> Result<Option<Arc<serde_json::Value>>, Failure> {
    let Some(path) = &env.tfstate else { return Ok(None) };
    let full = config.root.join(path);
    let text =
        std::fs::read_to_string(&full).map_err(|e| Failure::input(format!("{}: cannot read the Terraform state: {e}", full.display())))?;
    let state =
        serde_json::from_str(&text).map_err(|e| Failure::input(format!("{}: not a Terraform state (JSON): {e}", full.display())))?;
    Ok(Some(Arc::new(state)))
}

/// What `deploy` and `plan` set up alike: the environment's clients, the ledger,
/// the printer, and one request per `SERVICE=VERSION` (each named once).
pub struct Session {
    pub connected: Connected,
    pub ledger: Arc<Ledger>,
    pub printer: Printer,
    pub who: String,
    pub run_id: String,
    pub requests: Vec<Request>,
}

impl Session {
    pub async fn open(
        global: &GlobalArgs,
        environment: &str,
        services: &[crate::cli::ServiceVersion],
        timeout: Option<Duration>,
        run_prefix: &str,
    ) -> Result<Session, Failure> {
        let config = load_config(global)?;
        let mut seen = std::collections::HashSet::new();
        for sv in services {
            config.service(&sv.service).map_err(Failure::input)?;
            if !seen.insert(sv.service.clone()) {
                return Err(Failure::input(format!("{} is given twice", sv.service)));
            }
        }
        let connected = connect(&config, environment, global.endpoint_url.as_deref()).await?;
        let ledger = open_ledger(global)?;
        let printer = Printer::new(global);
        let who = who();
        let (commit, commit_message) = git_commit(&config.root);
        let requests = services
            .iter()
            .map(|sv| {
                let trace =
                    Trace { deployment_id: new_id("fd"), who: who.clone(), commit: commit.clone(), commit_message: commit_message.clone() };
                request(&config, &connected, &sv.service, Some(sv.version.clone()), None, timeout, trace)
            })
            .collect::<Result<Vec<Request>, Failure>>()?;
        Ok(Session { connected, ledger, printer, who, run_id: new_id(run_prefix), requests })
    }

    pub fn locks(&self) -> LedgerLocks {
        LedgerLocks { ledger: self.ledger.clone(), who: self.who.clone() }
    }

    pub fn journal(&self) -> Journal<'_> {
        Journal::new(self.ledger.clone(), &self.printer, self.run_id.clone())
    }
}

/// The wall clock and tokio's timer.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Locks in the ledger, held by this process.
pub struct LedgerLocks {
    pub ledger: Arc<Ledger>,
    pub who: String,
}

impl LedgerLocks {
    fn holder(&self, deployment_id: &str) -> LockHolder {
        LockHolder { deployment_id: deployment_id.to_string(), who: self.who.clone(), host: host(), pid: std::process::id() }
    }
}

impl Locks for LedgerLocks {
    fn lock(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal> {
        match self.ledger.acquire_lock(environment, service, &self.holder(deployment_id), LOCK_LEASE_MS, now_ms()) {
            Ok(()) => Ok(()),
            Err(e @ StoreError::LockHeld(_)) => Err(LockRefusal::Held(e.to_string())),
            Err(e) => Err(LockRefusal::Error(e.to_string())),
        }
    }
    fn renew(&self, environment: &str, service: &str, deployment_id: &str) -> Result<(), LockRefusal> {
        self.ledger.renew_lock(environment, service, deployment_id, LOCK_LEASE_MS, now_ms()).map_err(|e| match e {
            StoreError::LockHeld(_) => LockRefusal::Held(e.to_string()),
            // The file is not the one the lock was taken in, or the lock row is gone: nobody
            // else can see this deploy's lock any more, so it must not carry on as if it had it.
            StoreError::Replaced { .. } => LockRefusal::Lost(e.to_string()),
            StoreError::NotFound(_) => LockRefusal::Lost(format!(
                "the lock on {service} in {environment} is gone from the ledger {} (freed with `ferry unlock`, or the ledger was edited), so another deploy may have started; check `ferry status {environment}`",
                self.ledger.path().display()
            )),
            other => LockRefusal::Error(other.to_string()),
        })
    }
    fn unlock(&self, environment: &str, service: &str, deployment_id: &str) {
        if let Err(e) = self.ledger.release_lock(environment, service, deployment_id) {
            tracing::warn!("cannot release the lock of {service} in {environment}: {e}");
        }
    }
}

/// The run's observer: prints every event and journals it in the ledger.
pub struct Journal<'a> {
    pub ledger: Arc<Ledger>,
    pub printer: &'a Printer,
    pub run_id: String,
    /// Deployments already in the ledger, so events and updates need no lookup.
    pub recorded: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Whether an event could not be journaled yet: the first failure is said on the
    /// terminal, the rest only in the log.
    pub event_failed: std::sync::atomic::AtomicBool,
}

impl<'a> Journal<'a> {
    pub fn new(ledger: Arc<Ledger>, printer: &'a Printer, run_id: String) -> Self {
        Journal { ledger, printer, run_id, recorded: Default::default(), event_failed: Default::default() }
    }

    fn is_recorded(&self, id: &str) -> bool {
        self.recorded.lock().map(|r| r.contains(id)).unwrap_or(false)
    }
}

pub fn record_of(report: &ServiceReport, run_id: &str) -> DeploymentRecord {
    DeploymentRecord {
        id: report.deployment_id.clone(),
        run_id: run_id.to_string(),
        kind: report.kind.to_string(),
        environment: report.environment.clone(),
        service: report.service.clone(),
        cluster: report.cluster.clone(),
        ecs_service: report.ecs_service.clone(),
        from_version: report.from_version.clone(),
        from_digest: report.from_digest.clone(),
        from_task_definition: report.from_task_definition.clone(),
        to_version: report.to_version.clone(),
        to_digest: report.to_digest.clone(),
        to_task_definition: report.to_task_definition.clone(),
        image: report.image.clone(),
        ecs_deployment_id: report.ecs_deployment_id.clone(),
        who: report.who.clone(),
        commit: report.commit.clone(),
        commit_message: report.commit_message.clone(),
        started_at: report.started_at,
        finished_at: report.finished_at,
        outcome: match report.outcome {
            _ if report.finished_at.is_none() => ferry_store::Outcome::InProgress,
            Outcome::Succeeded => ferry_store::Outcome::Succeeded,
            Outcome::FailedRolledBack => ferry_store::Outcome::FailedRolledBack,
            Outcome::RollbackFailed => ferry_store::Outcome::FailedRollbackFailed,
            Outcome::Planned | Outcome::Refused | Outcome::LockHeld | Outcome::Error => ferry_store::Outcome::Failed,
        },
        reason: report.reason.clone(),
    }
}

impl Observer for Journal<'_> {
    fn wants_task_health(&self) -> bool {
        self.printer.shows_task_health()
    }

    fn event(&self, report: &ServiceReport, event: &Event) {
        self.printer.event(report, event);
        // Only deploys that took their lock are in the ledger (see `record`).
        if !self.is_recorded(&report.deployment_id) {
            return;
        }
        let (kind, message) = match event {
            Event::Phase { phase, message, .. } => (
                format!("phase:{}", serde_json::to_value(phase).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
                message.clone(),
            ),
            Event::Progress { progress, rolling_back, .. } => {
                (if *rolling_back { "rollback-progress" } else { "progress" }.to_string(), crate::output::progress_text(progress))
            }
            Event::EcsEvent { message, .. } => ("ecs-event".into(), message.clone()),
            Event::TaskStopped { task, reason, .. } => ("task-stopped".into(), format!("{task}: {reason}")),
            Event::Finished { outcome, reason, .. } => {
                // Worded as the printer words it: the outcome said once.
                ("finished".into(), crate::output::finish_text(*outcome, reason.as_deref()))
            }
        };
        if let Err(e) = self.ledger.record_event(&report.deployment_id, &EventRecord { at: now_ms(), kind, message }) {
            if self.event_failed.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!("cannot record an event in the ledger: {e}");
            } else {
                self.printer.note(Some(&report.service), &format!("warning: cannot record events in the ledger: {e}"));
            }
        }
    }

    fn record(&self, report: &ServiceReport) {
        if let Err(e) = self.record_start(report) {
            self.printer.note(Some(&report.service), &format!("warning: cannot record the deployment in the ledger: {e}"));
        }
    }

    fn record_start(&self, report: &ServiceReport) -> Result<(), String> {
        let record = record_of(report, &self.run_id);
        match self.is_recorded(&record.id) {
            true => self.ledger.update_deployment(&record),
            false => self.start(report, &record),
        }
        .map_err(|e| e.to_string())
    }
}

impl Journal<'_> {
    /// Records a deployment and its first event (what preflight found) in one transaction.
    fn start(&self, report: &ServiceReport, record: &DeploymentRecord) -> Result<(), StoreError> {
        let message = format!(
            "preflight passed: {} → {} ({} task definition change(s))",
            report.from_task_definition.as_deref().unwrap_or("?"),
            report.image.as_deref().or(report.to_task_definition.as_deref()).unwrap_or("?"),
            report.changes.len()
        );
        self.ledger.start_deployment(record, &EventRecord { at: report.started_at, kind: "phase:preflight".into(), message })?;
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.insert(record.id.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_alive_tells_a_running_process_from_a_reaped_one() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid), "pid {pid} was reaped");
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn host_is_the_kernel_host_name() {
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(host(), name.trim());
        }
    }
}
