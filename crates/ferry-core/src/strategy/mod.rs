//! Strategies: how a deployment changes a service, each a step machine.
//!
//! A strategy decides the next [`Step`] from what is desired (the [`Desired`] target
//! preflight prepared) and what is observed (the journal's [`Facts`] and the service as ECS
//! describes it), in the shape of kube-runtime's `reconcile(desired, observed) -> action`.
//! The executor ([`crate::deploy`]) journals each step before and after applying it, and
//! asks again. Because the decision reads the journal and AWS's state rather than a
//! program counter, a run killed at any moment is finished by the same command: a revision
//! the dead run registered is adopted, not registered again; its ECS deployment is watched,
//! not started again; a tag it moved is not moved twice.
//!
//! Once a strategy answers [`Step::Watch`], the executor watches that ECS deployment to its
//! end (the rollout judgement of [`crate::rolling`]) and rolls back on failure.
//!
//! [`blue_green`] (blue-green, canary, linear) is a machine of its own steps (a service and a
//! target group per version, traffic moved on listener rules): once the revision is
//! registered, these strategies answer [`Step::ShiftTraffic`] and the executor runs that
//! machine to its end instead of one UpdateService.

pub mod blue_green;
pub mod ecs_native;
pub mod env_tag;
pub mod rolling;

use crate::config::Strategy;
use crate::journal::Facts;
use crate::platform::{DeploymentInfo, ServiceInfo};

/// The next thing to do, as a strategy decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// env-tag: move the environment's registry tag to the new digest.
    MoveTag,
    /// Register the new revision (a rendered template or the live one with a new image).
    RegisterTaskDefinition,
    /// UpdateService to this revision (`force`: a new deployment of the same revision).
    UpdateService { task_definition: String, force: bool },
    /// Nothing more to change: watch this ECS deployment of this revision (None: ECS has not
    /// listed it yet; the watch finds it).
    Watch { task_definition: String, ecs_deployment_id: Option<String> },
    /// Nothing to do: the service already runs what is desired (no-op deploy). No call is made.
    Unchanged { task_definition: String },
    /// Run the deploy's `before_deploy` task with this revision, before the service changes.
    RunBeforeDeploy { task_definition: String },
    /// blue-green, canary, linear: bring this revision up beside the live version and move
    /// traffic to it ([`blue_green`]'s steps, run to their end).
    ShiftTraffic { task_definition: String },
}

/// A strategy's step with the deploy's `before_deploy` hook put in front of the change to
/// the service: the UpdateService waits until the hook's task passed (journaled, so a
/// re-run neither runs a passed hook again nor skips one that never finished). The same
/// for every strategy; env-tag's tag has moved by then, so the task runs the new image.
pub fn with_before_deploy(step: Step, configured: bool, facts: &Facts) -> Step {
    match step {
        Step::UpdateService { task_definition, .. } | Step::ShiftTraffic { task_definition }
            if configured && !facts.before_deploy.passed =>
        {
            Step::RunBeforeDeploy { task_definition }
        }
        other => other,
    }
}

/// What the deployment should reach, as preflight prepared it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Desired {
    /// A new revision to register.
    NewRevision,
    /// An existing revision (a rollback to a known revision).
    Revision(String),
    /// A new deployment of this revision, the one the service runs (UpdateService
    /// `forceNewDeployment`): env-tag after its tag moved; rolling with `--force` when
    /// nothing changed.
    ForcedRevision(String),
    /// The service already runs this revision with the desired digest, steady, and the
    /// rendered task definition equals it (normalized diff empty): nothing to change.
    Running(String),
}

/// What is observed when the next step is chosen.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// What the journal says this deployment has done (empty for a fresh deployment).
    pub facts: &'a Facts,
    /// The service as ECS describes it now.
    pub service: &'a ServiceInfo,
    /// The revision this deployment registered, from the journal or, when the answer was
    /// lost, found in AWS by its `ferry:deployment` tag.
    pub registered: Option<&'a str>,
    /// env-tag: whether the tag names the new digest now (from the journal, or the registry).
    pub tag_at_target: bool,
}

/// A strategy's decision, given what is desired and what is observed.
pub trait StepMachine: Send + Sync {
    /// The strategy's name as configured and journaled (`rolling`, `env-tag`).
    fn name(&self) -> &'static str;
    /// The next step. Never a step the journal says is done.
    fn next(&self, desired: &Desired, observed: &Observed<'_>) -> Step;
}

/// The step machine of a configured strategy.
pub fn machine(strategy: Strategy) -> &'static dyn StepMachine {
    match strategy {
        Strategy::Rolling => &rolling::Rolling,
        Strategy::EnvTag => &env_tag::EnvTag,
        Strategy::BlueGreen => &Shifting("blue-green"),
        Strategy::Canary => &Shifting("canary"),
        Strategy::Linear => &Shifting("linear"),
        Strategy::EcsNative => &ecs_native::EcsNative,
    }
}

/// blue-green, canary and linear, up to the hand-over to [`blue_green`]: register the
/// revision (unless a known one is deployed), then [`Step::ShiftTraffic`]. A version already
/// live with the same definition and digest changes nothing.
struct Shifting(&'static str);

impl StepMachine for Shifting {
    fn name(&self) -> &'static str {
        self.0
    }

    fn next(&self, desired: &Desired, observed: &Observed<'_>) -> Step {
        match desired {
            Desired::Running(arn) => Step::Unchanged { task_definition: arn.clone() },
            Desired::Revision(arn) | Desired::ForcedRevision(arn) => Step::ShiftTraffic { task_definition: arn.clone() },
            Desired::NewRevision => match observed.registered {
                Some(arn) => Step::ShiftTraffic { task_definition: arn.to_string() },
                None => Step::RegisterTaskDefinition,
            },
        }
    }
}

/// The ECS deployment of `task_definition` that this deployment's UpdateService created,
/// when the answer was lost (the run died right after the call): the newest deployment of
/// that revision that was not there before the deployment started, created no earlier than
/// the journaled start of the call (less a second of clock skew between us and ECS).
pub fn started_by_us<'a>(observed: &Observed<'a>, task_definition: &str) -> Option<&'a DeploymentInfo> {
    let since = observed.facts.update_started_at?;
    observed
        .service
        .deployments
        .iter()
        .filter(|d| d.task_definition == task_definition && !observed.facts.earlier_deployments.contains(&d.id))
        .filter(|d| d.created_at >= since - 1_000)
        .max_by_key(|d| d.created_at)
}

/// The watch step once UpdateService is known to have happened (journaled done, or its
/// deployment found in ECS); None when it has not.
pub(crate) fn updated(observed: &Observed<'_>, task_definition: &str) -> Option<Step> {
    let facts = observed.facts;
    if facts.update_done {
        return Some(Step::Watch { task_definition: task_definition.to_string(), ecs_deployment_id: facts.updated.clone() });
    }
    started_by_us(observed, task_definition)
        .map(|d| Step::Watch { task_definition: task_definition.to_string(), ecs_deployment_id: Some(d.id.clone()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_deploy_runs_in_front_of_the_update_until_it_passed() {
        let update = Step::UpdateService { task_definition: "web:2".into(), force: false };
        let mut facts = Facts::default();
        assert_eq!(with_before_deploy(update.clone(), false, &facts), update);
        assert_eq!(with_before_deploy(update.clone(), true, &facts), Step::RunBeforeDeploy { task_definition: "web:2".into() });
        // Started by a dead run, not passed: run (or adopt) it again.
        facts.before_deploy.started = true;
        assert_eq!(with_before_deploy(update.clone(), true, &facts), Step::RunBeforeDeploy { task_definition: "web:2".into() });
        facts.before_deploy.passed = true;
        assert_eq!(with_before_deploy(update.clone(), true, &facts), update);
        // Only the change to the service waits for it.
        assert_eq!(with_before_deploy(Step::RegisterTaskDefinition, true, &Facts::default()), Step::RegisterTaskDefinition);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::platform::{DeploymentInfo, ServiceInfo};

    pub fn deployment(id: &str, task_definition: &str, status: &str, created_at: i64) -> DeploymentInfo {
        DeploymentInfo {
            id: id.into(),
            status: status.into(),
            task_definition: task_definition.into(),
            rollout_state: Some("IN_PROGRESS".into()),
            created_at,
            ..Default::default()
        }
    }

    pub fn service(deployments: Vec<DeploymentInfo>) -> ServiceInfo {
        ServiceInfo {
            name: "web".into(),
            status: "ACTIVE".into(),
            task_definition: deployments.first().map(|d| d.task_definition.clone()).unwrap_or_default(),
            deployment_controller: "ECS".into(),
            deployments,
            ..Default::default()
        }
    }
}
