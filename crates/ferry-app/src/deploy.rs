//! Deploy `SERVICE=VERSION...` to an environment: preflight, lock, register, one
//! UpdateService per service, watch the exact ECS deployment, roll back on failure; several
//! services in parallel. A service that already runs what is asked for is left alone
//! (outcome `unchanged`), unless `force`.

use std::time::Duration;

use ferry_core::deploy::Outcome;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::gc::{FamilyResult, GcInput, Skipped};
use ferry_core::platform::Registry;
use ferry_core::promote::Upstream;

use crate::probe::Probes;
use crate::project::{self, Context, ServiceVersion, Session};
use crate::run::{RunResult, until_cancelled};

/// What to deploy where.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeployInput {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// One or more services, each named once, with the version (image tag) to deploy.
    pub services: Vec<ServiceVersion>,
    /// How long to watch each deployment before it fails and is rolled back; None for the
    /// environment's `timeout`.
    pub timeout: Option<Duration>,
    /// When a service already runs what is asked for (the rendered task definition's
    /// normalized diff against the running one is empty, and the digest is the same), make
    /// a new ECS deployment of its running revision (UpdateService `forceNewDeployment`),
    /// watched like any deployment. False: such a service is left alone (outcome
    /// `unchanged`, no AWS call that changes anything).
    #[serde(default)]
    pub force: bool,
    /// Send no probe requests through the load balancers this run (`--no-probe`), whatever
    /// ferry.toml's `probe` settings say.
    #[serde(default)]
    pub no_probe: bool,
    /// Deploy to an environment with promotion gates (`promote_from`, `soak`, `approval`)
    /// a version that has not passed them, for this reason (`--skip-gates --reason TEXT`):
    /// recorded in the ledger and on the revision. None: the gates apply ([`check_gates`]).
    #[serde(default)]
    pub skip_gates: Option<String>,
    /// Stop once each ECS deployment is started and recorded (`--detach`): the ledger keeps
    /// it in progress and `ferry watch` follows it to its end. Not for blue-green, canary
    /// and linear, where ferry itself moves the traffic (refused, invalid input).
    #[serde(default)]
    pub detach: bool,
    /// Resuming a deployment the ledger has in progress (`ferry watch`): it passed the
    /// environment's promotion gates when it started, so they are not asked again.
    #[serde(default)]
    pub resuming: bool,
}

/// A deploy's run, and the clean-up of old revisions that followed it.
#[derive(Clone, Debug)]
pub struct Deployed {
    pub run: RunResult,
    /// With `keep_revisions` set and the run a success: what the clean-up did (or why it
    /// did not). None otherwise.
    pub revisions: Option<RevisionCleanup>,
}

/// The clean-up after a successful deploy (`keep_revisions`), over the services it deployed.
/// It never fails the deploy: a failure is `warning`.
#[derive(Clone, Debug, Serialize)]
pub struct RevisionCleanup {
    pub keep: usize,
    pub families: Vec<FamilyResult>,
    pub skipped: Vec<Skipped>,
    /// The clean-up failed (the deploy did not): why, and what to run.
    pub warning: Option<String>,
}

/// [`deploy`], then, when every service succeeded and `keep_revisions` is set for the
/// environment, the clean-up of [`crate::gc`] for the services that were deployed (not the
/// unchanged ones), after the deploy's locks are freed. A clean-up failure is a warning in
/// the result, never an error.
pub async fn deploy_and_clean_up(ctx: &Context<'_>, input: DeployInput) -> Result<Deployed> {
    let environment = input.environment.clone();
    let run = deploy(ctx, input).await?;
    let revisions = clean_up_after(ctx, &environment, &run).await;
    Ok(Deployed { run, revisions })
}

async fn clean_up_after(ctx: &Context<'_>, environment: &str, run: &RunResult) -> Option<RevisionCleanup> {
    if run.error().is_some() {
        return None;
    }
    let deployed: Vec<String> = run.services.iter().filter(|r| r.outcome == Outcome::Succeeded).map(|r| r.service.clone()).collect();
    if deployed.is_empty() {
        return None;
    }
    let config = project::load_config(ctx.project).ok()?;
    let keep = config.keep_revisions(config.environment(environment).ok()?)?;
    let input = GcInput { environment: environment.to_string(), services: deployed, keep: Some(keep), dry_run: false };
    Some(match crate::gc::gc(ctx, input).await {
        Ok(result) => RevisionCleanup { keep, families: result.families, skipped: result.skipped, warning: None },
        Err(e) => {
            let warning = format!(
                "the deploy succeeded, but the clean-up of old revisions (keep_revisions = {keep}) failed: {e}; `ferry gc {environment}` carries on"
            );
            RevisionCleanup { keep, families: vec![], skipped: vec![], warning: Some(warning) }
        }
    })
}

/// Deploys and watches until every service has succeeded or failed (and been rolled back),
/// probing each service behind a load balancer through its production listener meanwhile
/// ([`crate::probe`]; its figures in each report's `probe`).
///
/// The result holds every service's report, also when some failed ([`RunResult::error`]
/// says so). Errors before the run: invalid input (exit 2), the platform or the ledger
/// unusable (3, 8); [`crate::Error::Interrupted`] when `ctx.cancel` fires during it (130).
pub async fn deploy(ctx: &Context<'_>, input: DeployInput) -> Result<RunResult> {
    let mut session = ctx.before_changes("deploy", Session::open(ctx, &input.environment, &input.services, input.timeout, "run")).await?;
    for request in &mut session.requests {
        request.force = input.force;
        request.detach = input.detach;
        if input.detach && request.strategy.shifts_traffic() {
            return Err(crate::Error::input(format!(
                "--detach: ferry itself moves {}'s traffic (strategy {}), so it cannot stop watching once the deploy started; \
                 deploy it without --detach, or with strategy = \"ecs-native\" where ECS moves it",
                request.service,
                request.strategy.name()
            )));
        }
    }
    let config = project::load_config(ctx.project)?;
    let endpoint = ctx.project.endpoint_url.as_deref();
    if !input.resuming {
        ctx.before_changes("deploy", check_gates(&config, &mut session, input.skip_gates.as_deref(), endpoint)).await?;
    }
    let locks = session.locks();
    let probes = Probes::new(
        &config,
        &input.environment,
        &session.requests,
        session.connected.elb.clone(),
        session.connected.alarms.0.clone(),
        !input.no_probe,
        ctx.cancel.child_token(),
    )?;
    let journal = session.journal(ctx.sink).with_probes(&probes);
    let run = session.connected.run_with_gates(&locks, &journal, &probes);
    let deploying = probes.while_running(ctx.sink, run.deploy(&session.requests));
    let reports =
        until_cancelled(&ctx.cancel, &session.ledger, &session.requests, &session.run_id, "deploy", &session.connected.ecs, deploying)
            .await?;
    let reports = probes.finish(reports, &session.ledger, ctx.sink);
    Ok(RunResult { command: "deploy", run_id: session.run_id, services: reports })
}

/// A direct deploy to an environment with promotion gates (`promote_from`, `soak`,
/// `approval`; docs/promote.md) is refused — nothing changed, exit 4 — unless each version
/// has passed them: its digest runs healthy in `promote_from` by ECS (the service's rollout
/// COMPLETED, its tasks running; the live version of a blue-green, canary or linear
/// service), for at least `soak` counted from the `finishedAt` of the ECS service deployment
/// that rolled it out there (else its COMPLETED deployment's `updatedAt`, else the ledger's
/// record: [`crate::upstream`], as `ferry promote` reads it), is in no rejected release, and
/// the environment asks no approval (which only `ferry promote --approve` gives). The
/// refusal names the gate and the `ferry promote` command that would ship it. `skip_gates`
/// (a reason) lets the deploy through, by one of the environment's `approvers` when it lists
/// any, recorded as `WHO: REASON` on each request (ledger and revision tag). `endpoint` is
/// the run's endpoint override (`--endpoint-url`), for connecting to `promote_from`.
/// Errors besides the refusals: `promote_from`'s platform (exit 3), the ledger (8).
pub async fn check_gates(
    config: &ferry_core::config::Config,
    session: &mut Session,
    skip_gates: Option<&str>,
    endpoint: Option<&str>,
) -> Result<()> {
    let environment = session.connected.name.clone();
    let env = config.environment(&environment).map_err(crate::error::Error::config)?;
    let gated = env.promote_from.is_some() || env.approval || env.soak.is_some();
    let who = session.actor.who.clone();
    if let Some(reason) = skip_gates {
        if reason.trim().is_empty() {
            return Err(crate::error::Error::input("--reason is empty: say why the gates are skipped (it is recorded)"));
        }
        if !gated {
            return Err(crate::error::Error::input(format!(
                "--skip-gates: {environment} has no promotion gates (promote_from, soak, approval) to skip; deploy without it"
            )));
        }
        if !env.approvers.is_empty() && !env.approvers.iter().any(|a| a == &who) {
            return Err(crate::error::Error::refused(format!(
                "{who} may not skip {environment}'s gates: only its approvers may ({}); nothing was changed",
                env.approvers.join(", ")
            )));
        }
        for request in &mut session.requests {
            request.gates_skipped = Some(format!("{who}: {}", reason.trim()));
        }
        return Ok(());
    }
    if !gated {
        return Ok(());
    }
    let ledger = session.ledger.clone();
    let releases = ledger.releases(10_000).map_err(crate::error::Error::from_store)?;
    // FROM, connected once, and what runs there (read at the first service that needs it).
    let mut upstream: Option<(project::Connected, String, Vec<crate::release::Running>)> = None;
    let now = crate::journal::now_ms();
    let skip = "or skip the gates explicitly, recorded: --skip-gates --reason TEXT";
    for request in &session.requests {
        let version = request.version.clone().unwrap_or_default();
        let promote = |from: &str| format!("`ferry promote {from} {environment} --services {}`", request.service);
        if env.approval {
            let how = match &env.promote_from {
                Some(from) => format!("{} --approve", promote(from).trim_end_matches('`')) + "`",
                None => format!("`ferry promote FROM {environment} --services {} --approve`", request.service),
            };
            return Err(crate::error::Error::refused(format!(
                "{environment} requires an approval, which a deploy cannot give: ship {} {version} with {how}; {skip} (nothing was changed)",
                request.service
            )));
        }
        // What the version resolves to now; a version that does not exist is preflight's to refuse.
        let Some(image) = session.connected.registry.resolve(&request.repository, &version).await? else { continue };
        let digest = image.digest;
        let short = ferry_core::short_digest(&digest);
        if let Some(release) =
            releases.iter().find(|r| r.rejected.is_some() && r.entries.iter().any(|e| e.service == request.service && e.digest == digest))
        {
            let rejection = release.rejected.as_ref().map(|x| format!("{}: {}", x.by, x.reason)).unwrap_or_default();
            return Err(crate::error::Error::refused(format!(
                "{} {version} ({short}) is part of release {}, which was rejected ({rejection}); {skip} (nothing was changed)",
                request.service, release.id
            )));
        }
        let Some(from) = &env.promote_from else { continue };
        // What runs in FROM and since when, by ECS first (crate::upstream), as `ferry
        // promote` reads it: a runner with an empty ledger decides as the one that deployed.
        let (connected, cluster, running) = match &upstream {
            Some(known) => known,
            None => {
                let connected = project::connect(config, from, endpoint).await?;
                let cluster = config.environment(from).map_err(crate::error::Error::config)?.cluster.clone();
                let gated: Vec<String> = session.requests.iter().map(|r| r.service.clone()).collect();
                let running = crate::release::running(config, &connected, &gated).await?;
                upstream.insert((connected, cluster, running))
            }
        };
        let wanted = [(request.service.clone(), digest.clone())];
        let candidate = crate::upstream::candidates(connected, cluster, running, &ledger, &wanted).await?.into_iter().next();
        let since = match candidate.map(|c| c.upstream) {
            Some(Upstream::Healthy(since)) => since,
            Some(Upstream::NotHealthy(why)) => {
                return Err(crate::error::Error::refused(format!(
                    "{environment} takes what ran healthy in {from} (promote_from), and {} {version} ({short}) has not ({why}): deploy it to {from}, then {}; {skip} (nothing was changed)",
                    request.service,
                    promote(from)
                )));
            }
            None => None,
        };
        let Some(soak) = env.soak else { continue };
        let Some(since) = since else {
            return Err(crate::error::Error::refused(format!(
                "{} {version} ({short}) runs healthy in {from}, but neither ECS nor this ledger says since when, so {environment}'s soak of {} cannot be told to have passed: redeploy it to {from} (`ferry deploy {from} {}={version} --force`) to start a soak clock ECS keeps; {skip} (nothing was changed)",
                request.service,
                humantime::format_duration(soak),
                request.service
            )));
        };
        if now - since.at() < soak.as_millis() as i64 {
            let ran = std::time::Duration::from_secs(((now - since.at()).max(0) / 1000) as u64);
            return Err(crate::error::Error::refused(format!(
                "{} {version} ({short}) has run healthy in {from} for {} (since {}, {}) of {environment}'s soak of {}: {} once it has; {skip} (nothing was changed)",
                request.service,
                humantime::format_duration(ran),
                ferry_store::format_rfc3339(since.at()),
                since.source(),
                humantime::format_duration(soak),
                promote(from)
            )));
        }
    }
    Ok(())
}
