//! Plan `SERVICE=VERSION...` in an environment (and `deploy --dry-run`): preflight every
//! service and say what would change, as a normalized task definition diff. Changes
//! nothing: no revision is registered, no service updated, no lock taken.

use ferry_core::config::Strategy;
use ferry_core::deploy::Outcome;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::project::{Context, ServiceVersion, Session};
use crate::run::RunResult;

/// What to plan where.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanInput {
    /// The environment, as named in ferry.toml.
    pub environment: String,
    /// One or more services, each named once, with the version to plan.
    pub services: Vec<ServiceVersion>,
}

/// The plan: each service's preflight report (outcome `planned` when it would deploy, with
/// its task definition changes), and the steps a deploy of it takes.
#[derive(Clone, Debug, Serialize)]
pub struct PlanResult {
    /// The preflight reports (outcome `planned`, or why not), as a run's.
    pub run: RunResult,
    /// One per service, in the order of `run.services`.
    pub steps: Vec<Steps>,
}

/// How a deploy of one service goes: its strategy, and the environment tag it moves.
#[derive(Clone, Debug, Serialize)]
pub struct Steps {
    pub service: String,
    /// Rolling (a new revision) or env-tag (the running revision, its tag moved).
    #[serde(skip)]
    pub strategy: Strategy,
    /// The image repository (`app`, `team/web`).
    pub repository: String,
    /// The registry tag moved to the deployed digest (before the deployment for env-tag,
    /// after it succeeds otherwise).
    pub image_tag: Option<String>,
    /// The command of the `before_deploy` task (run with the new revision before the
    /// service changes), when there is one.
    pub before_deploy: Option<Vec<String>>,
    /// The command of the `after_deploy` task (once the deployment completed and baked).
    pub after_deploy: Option<Vec<String>>,
    /// blue-green, canary, linear: what the deploy creates and how traffic moves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficSteps>,
}

/// The names a blue-green, canary or linear deploy will create, and its traffic schedule.
#[derive(Clone, Debug, Serialize)]
pub struct TrafficSteps {
    /// The new version's target group (≤ 32 characters, `ferry_core::naming`).
    pub target_group: String,
    /// The new version's ECS service.
    pub ecs_service: String,
    pub production_rule: String,
    pub preparing_rule: String,
    /// The new version's share of the production rule at each step (percent) and how long
    /// each is held (seconds).
    pub schedule: Vec<(u32, u64)>,
    /// Seconds at 100 % before the old version is retired.
    pub bake_s: u64,
    /// Retired versions kept.
    pub keep: u32,
    /// The revision of the version's existing service (kept warm, or left by a stopped
    /// deploy) that the deploy scales up again, registering nothing; None: a new revision,
    /// service and target group.
    pub kept: Option<String>,
}

/// Preflights every service. Errors as [`crate::deploy::deploy`]'s before its run.
pub async fn plan(ctx: &Context<'_>, input: PlanInput) -> Result<PlanResult> {
    let mut session = ctx.before_changes("plan", Session::open(ctx, &input.environment, &input.services, None, "plan")).await?;
    // A deploy the environment's promotion gates would refuse is refused here too.
    let config = crate::project::load_config(ctx.project)?;
    ctx.before_changes("plan", crate::deploy::check_gates(&config, &mut session, None, ctx.project.endpoint_url.as_deref())).await?;
    let locks = session.locks();
    let journal = session.journal(ctx.sink);
    let run = session.connected.run(&locks, &journal);
    let reports = run.plan(&session.requests).await;
    let steps = session
        .requests
        .iter()
        .zip(&reports)
        .map(|(r, report)| Steps {
            service: r.service.clone(),
            strategy: r.strategy,
            repository: r.repository.clone(),
            image_tag: r.image_tag.clone(),
            before_deploy: r.before_deploy.as_ref().map(|h| h.command.clone()),
            after_deploy: r.after_deploy.as_ref().map(|h| h.command.clone()),
            traffic: r.traffic.as_ref().map(|t| {
                let version = r.version.clone().unwrap_or_default();
                TrafficSteps {
                    target_group: ferry_core::naming::target_group_name(&r.environment, &r.service, &version),
                    ecs_service: ferry_core::naming::version_service_name(&r.ecs_service, &version),
                    production_rule: t.production_rule.clone(),
                    preparing_rule: t.preparing_rule.clone(),
                    schedule: t.shift.schedule().iter().map(|s| (s.percent, s.hold.as_secs())).collect(),
                    bake_s: r.bake.as_secs(),
                    keep: t.keep,
                    // Preflight chose an existing revision: the version's service, kept, runs it.
                    kept: report.to_task_definition.clone(),
                }
            }),
        })
        .collect();
    Ok(PlanResult { run: RunResult { command: "plan", run_id: session.run_id, services: reports }, steps })
}

impl PlanResult {
    /// The services that passed preflight, with their steps: those that would deploy
    /// (outcome `planned`) and those that already run what was asked for (`unchanged`: a
    /// deploy would change nothing).
    pub fn planned(&self) -> impl Iterator<Item = (&ferry_core::deploy::ServiceReport, &Steps)> {
        self.run.services.iter().zip(&self.steps).filter(|(r, _)| matches!(r.outcome, Outcome::Planned | Outcome::Unchanged))
    }
}
