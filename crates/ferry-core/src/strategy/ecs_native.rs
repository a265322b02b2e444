//! The ecs-native strategy: ECS moves the traffic itself (`deploymentConfiguration.strategy`
//! BLUE_GREEN, LINEAR or CANARY, ECS developer guide "Amazon ECS blue/green deployments");
//! ferry's part is the same change as a rolling deploy's — register the revision, one
//! UpdateService — and then following *that* service deployment through its lifecycle
//! stages, answering each PAUSE lifecycle hook with the service's checks
//! (`crate::deploy::native`).
//!
//! Steps: RegisterTaskDefinition (skipped for a rollback to a known revision) →
//! UpdateService → Watch, exactly as [`super::rolling`]; only the watch differs.

use super::{Desired, Observed, Step, StepMachine, rolling::Rolling};

/// See the module documentation.
pub struct EcsNative;

impl StepMachine for EcsNative {
    fn name(&self) -> &'static str {
        "ecs-native"
    }

    fn next(&self, desired: &Desired, observed: &Observed<'_>) -> Step {
        Rolling.next(desired, observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Facts;
    use crate::strategy::test_support::{deployment, service};

    #[test]
    fn registers_then_makes_one_update_then_watches_that_deployment() {
        let old = service(vec![deployment("ecs-svc/1", "web:1", "PRIMARY", 10)]);
        let facts = Facts::default();
        let observed = |registered| Observed { facts: &facts, service: &old, registered, tag_at_target: false };
        assert_eq!(EcsNative.next(&Desired::NewRevision, &observed(None)), Step::RegisterTaskDefinition);
        assert_eq!(
            EcsNative.next(&Desired::NewRevision, &observed(Some("web:2"))),
            Step::UpdateService { task_definition: "web:2".into(), force: false }
        );
        let done = Facts { update_done: true, updated: Some("ecs-svc/2".into()), ..Facts::default() };
        let observed = Observed { facts: &done, service: &old, registered: Some("web:2"), tag_at_target: false };
        assert_eq!(
            EcsNative.next(&Desired::NewRevision, &observed),
            Step::Watch { task_definition: "web:2".into(), ecs_deployment_id: Some("ecs-svc/2".into()) }
        );
        assert_eq!(EcsNative.name(), "ecs-native");
    }
}
