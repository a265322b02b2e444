//! The rolling strategy: register a revision with the new image, one UpdateService, and let
//! ECS replace the tasks within the service's minimumHealthyPercent/maximumPercent (ECS
//! developer guide, "Deploy Amazon ECS services by replacing tasks").
//!
//! Steps: RegisterTaskDefinition (skipped for a rollback to a known revision) →
//! UpdateService → Watch. When the service already runs what is desired (a no-op deploy):
//! Unchanged, and nothing is called; with `--force`, UpdateService `forceNewDeployment` of
//! the running revision → Watch.

use super::{Desired, Observed, Step, StepMachine, updated};

/// See the module documentation.
pub struct Rolling;

impl StepMachine for Rolling {
    fn name(&self) -> &'static str {
        "rolling"
    }

    fn next(&self, desired: &Desired, observed: &Observed<'_>) -> Step {
        let (task_definition, force) = match desired {
            Desired::Running(arn) => return Step::Unchanged { task_definition: arn.clone() },
            Desired::Revision(arn) => (arn.clone(), false),
            Desired::ForcedRevision(arn) => (arn.clone(), true),
            Desired::NewRevision => match observed.registered {
                Some(arn) => (arn.to_string(), false),
                None => return Step::RegisterTaskDefinition,
            },
        };
        if let Some(watch) = updated(observed, &task_definition) {
            return watch;
        }
        Step::UpdateService { task_definition, force }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Facts;
    use crate::strategy::test_support::{deployment, service};

    fn next(desired: &Desired, facts: &Facts, registered: Option<&str>, deployments: Vec<crate::platform::DeploymentInfo>) -> Step {
        let service = service(deployments);
        Rolling.next(desired, &Observed { facts, service: &service, registered, tag_at_target: false })
    }

    #[test]
    fn a_fresh_deploy_registers_then_updates_then_watches() {
        let old = vec![deployment("ecs-svc/1", "web:1", "PRIMARY", 10)];
        assert_eq!(next(&Desired::NewRevision, &Facts::default(), None, old.clone()), Step::RegisterTaskDefinition);
        assert_eq!(
            next(&Desired::NewRevision, &Facts::default(), Some("web:2"), old),
            Step::UpdateService { task_definition: "web:2".into(), force: false }
        );
        let facts = Facts { update_done: true, updated: Some("ecs-svc/2".into()), ..Facts::default() };
        assert_eq!(
            next(&Desired::NewRevision, &facts, Some("web:2"), vec![]),
            Step::Watch { task_definition: "web:2".into(), ecs_deployment_id: Some("ecs-svc/2".into()) }
        );
    }

    #[test]
    fn a_service_that_already_runs_the_revision_is_left_alone() {
        let running = vec![deployment("ecs-svc/1", "web:2", "PRIMARY", 10)];
        assert_eq!(
            next(&Desired::Running("web:2".into()), &Facts::default(), None, running),
            Step::Unchanged { task_definition: "web:2".into() }
        );
    }

    #[test]
    fn a_forced_deploy_of_the_running_revision_forces_a_new_deployment_then_watches_it() {
        let running = vec![deployment("ecs-svc/1", "web:2", "PRIMARY", 10)];
        assert_eq!(
            next(&Desired::ForcedRevision("web:2".into()), &Facts::default(), None, running.clone()),
            Step::UpdateService { task_definition: "web:2".into(), force: true }
        );
        // Resumed after the forced UpdateService reached ECS: its deployment is adopted.
        let facts = Facts { update_started_at: Some(1_000), earlier_deployments: vec!["ecs-svc/1".into()], ..Facts::default() };
        let deployments = vec![deployment("ecs-svc/2", "web:2", "PRIMARY", 1_100), running[0].clone()];
        assert_eq!(
            next(&Desired::ForcedRevision("web:2".into()), &facts, None, deployments),
            Step::Watch { task_definition: "web:2".into(), ecs_deployment_id: Some("ecs-svc/2".into()) }
        );
    }

    #[test]
    fn an_update_whose_answer_was_lost_is_adopted_not_repeated() {
        // The dead run journaled UpdateService as started at t=1000 and died before the answer.
        let facts = Facts { update_started_at: Some(1_000), earlier_deployments: vec!["ecs-svc/1".into()], ..Facts::default() };
        let deployments = vec![deployment("ecs-svc/2", "web:2", "PRIMARY", 1_200), deployment("ecs-svc/1", "web:1", "ACTIVE", 10)];
        assert_eq!(
            next(&Desired::NewRevision, &facts, Some("web:2"), deployments),
            Step::Watch { task_definition: "web:2".into(), ecs_deployment_id: Some("ecs-svc/2".into()) }
        );
    }

    #[test]
    fn an_update_that_never_reached_ecs_is_made() {
        // Journaled as started, but ECS has no deployment of the revision: the call never arrived.
        let facts = Facts { update_started_at: Some(1_000), earlier_deployments: vec!["ecs-svc/1".into()], ..Facts::default() };
        let deployments = vec![deployment("ecs-svc/1", "web:1", "PRIMARY", 10)];
        assert_eq!(
            next(&Desired::NewRevision, &facts, Some("web:2"), deployments),
            Step::UpdateService { task_definition: "web:2".into(), force: false }
        );
    }

    #[test]
    fn an_earlier_deployment_of_the_same_revision_is_not_ours() {
        // web:2 already ran before this deployment (ecs-svc/1): it is not adopted.
        let facts = Facts { update_started_at: Some(5_000), earlier_deployments: vec!["ecs-svc/1".into()], ..Facts::default() };
        let deployments = vec![deployment("ecs-svc/1", "web:2", "PRIMARY", 6_000)];
        assert_eq!(
            next(&Desired::Revision("web:2".into()), &facts, None, deployments),
            Step::UpdateService { task_definition: "web:2".into(), force: false }
        );
    }
}
