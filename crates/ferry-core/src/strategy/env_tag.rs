//! The env-tag strategy: the task definition names `repo:ENV`; a release moves that registry
//! tag to the new digest (no image is pulled or pushed: the manifest is retagged) and forces
//! a new deployment of the same revision, whose tasks pull the tag again
//! (UpdateService `forceNewDeployment`, ECS API reference).
//!
//! Steps: MoveTag → UpdateService (force) → Watch; Unchanged when the tag already names the
//! digest and the service runs it, steady (without `--force`). On failure the tag moves back first, so
//! the rollback's tasks pull the old digest.

use super::{Desired, Observed, Step, StepMachine, updated};

/// See the module documentation.
pub struct EnvTag;

impl StepMachine for EnvTag {
    fn name(&self) -> &'static str {
        "env-tag"
    }

    fn next(&self, desired: &Desired, observed: &Observed<'_>) -> Step {
        let task_definition = match desired {
            // The tag already names the digest the service runs: nothing to move or force.
            Desired::Running(arn) => return Step::Unchanged { task_definition: arn.clone() },
            Desired::ForcedRevision(arn) | Desired::Revision(arn) => arn.clone(),
            // env-tag never registers: preflight names the running revision.
            Desired::NewRevision => observed.service.task_definition.clone(),
        };
        if !observed.tag_at_target {
            return Step::MoveTag;
        }
        if let Some(watch) = updated(observed, &task_definition) {
            return watch;
        }
        Step::UpdateService { task_definition, force: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Facts;
    use crate::strategy::test_support::{deployment, service};

    fn next(facts: &Facts, tag_at_target: bool, deployments: Vec<crate::platform::DeploymentInfo>) -> Step {
        let service = service(deployments);
        EnvTag.next(&Desired::ForcedRevision("web:3".into()), &Observed { facts, service: &service, registered: None, tag_at_target })
    }

    #[test]
    fn the_tag_moves_before_the_forced_deployment() {
        let running = vec![deployment("ecs-svc/1", "web:3", "PRIMARY", 10)];
        assert_eq!(next(&Facts::default(), false, running.clone()), Step::MoveTag);
        assert_eq!(next(&Facts::default(), true, running), Step::UpdateService { task_definition: "web:3".into(), force: true });
    }

    #[test]
    fn a_forced_deployment_of_the_same_revision_is_told_apart_by_time() {
        // Same revision before and after: the dead run's deployment is the one created after
        // its UpdateService started, not the one that ran before.
        let facts =
            Facts { tag_moved: true, update_started_at: Some(2_000), earlier_deployments: vec!["ecs-svc/1".into()], ..Facts::default() };
        let deployments = vec![deployment("ecs-svc/2", "web:3", "PRIMARY", 2_100), deployment("ecs-svc/1", "web:3", "ACTIVE", 10)];
        assert_eq!(
            next(&facts, true, deployments),
            Step::Watch { task_definition: "web:3".into(), ecs_deployment_id: Some("ecs-svc/2".into()) }
        );
        let only_old = vec![deployment("ecs-svc/1", "web:3", "PRIMARY", 10)];
        assert_eq!(next(&facts, true, only_old), Step::UpdateService { task_definition: "web:3".into(), force: true });
    }
}
