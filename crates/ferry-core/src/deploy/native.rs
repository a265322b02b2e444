//! The ecs-native watch: following the service deployment one UpdateService started through
//! its lifecycle stages (DescribeServiceDeployments), saying where it is and how traffic is
//! split, and answering each PAUSE lifecycle hook with the service's checks
//! (ContinueServiceDeployment CONTINUE, or ROLLBACK when a check failed).
//!
//! The rest of the judgement is the rolling watch's: ECS marks the legacy deployment
//! COMPLETED once CLEAN_UP ends, and a rollback (the hook's, the circuit breaker's, an
//! alarm's) reactivates the previous deployment, which the watch follows as ECS's own
//! rollback. A rollback or a replacement is a failure, never a success.

use super::*;

/// What the native watch knows of one service's deployment between looks.
#[derive(Clone, Debug, Default)]
pub(super) struct NativeWatch {
    /// The service deployment (ARN) our UpdateService started, once found.
    pub(super) service_deployment: Option<String>,
    /// The stage and weights last reported (to report each change once).
    pub(super) last: Option<(String, Option<f64>, Option<f64>)>,
    /// Hooks ferry checked (and answered, unless a person approves them): hook ids.
    pub(super) answered: Vec<String>,
    /// Each load balancer's target group → the alternate group the new tasks register in,
    /// as the service named them when the deployment was found (ECS swaps their roles in the
    /// service's `loadBalancers` once traffic moved).
    pub(super) green_groups: Vec<(String, String)>,
    /// A hook awaits an answer that is not ferry's to give (`approve = true`).
    pub(super) awaiting_other: bool,
}

/// How often ferry looks at an ecs-native deployment while ECS waits (bake time, a held
/// traffic step, a hook awaiting someone else's answer): the stage after the wait (CLEAN_UP)
/// takes at least the old tasks' draining, so the end is still seen within a second or so.
pub(super) const WAITING_POLL: Duration = Duration::from_secs(2);

impl NativeWatch {
    /// Whether the deployment, as last seen, waits on ECS's clock or on someone: baking,
    /// shifting production traffic (held steps), or paused at a hook ferry already answered
    /// or leaves to a person.
    pub(super) fn waits(&self) -> bool {
        self.last.as_ref().is_some_and(|(stage, ..)| matches!(stage.as_str(), "BAKE_TIME" | "PRODUCTION_TRAFFIC_SHIFT"))
            || self.awaiting_other
    }

    /// `service` as the new tasks see it: its load balancers' target groups are the green
    /// ones, so that target health is read where the new tasks register.
    pub(super) fn as_green(&self, service: &ServiceInfo) -> ServiceInfo {
        let mut view = service.clone();
        for lb in &mut view.load_balancers {
            let green = self.green_groups.iter().find(|(blue, _)| lb.target_group_arn.as_deref() == Some(blue.as_str()));
            if let Some((_, green)) = green {
                lb.target_group_arn = Some(green.clone());
            }
        }
        view
    }
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// One look at an ecs-native deployment's service deployment: reports a new stage or
    /// traffic split, and answers a PAUSE hook that awaits action. Some(done) when this look
    /// ended the deploy's forward part (a check failed: the hook was answered ROLLBACK and
    /// the watch now follows ECS's rollback); None to let the rolling judgement go on.
    pub(super) async fn native_look(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        a: &mut Active,
        service: &ServiceInfo,
    ) -> Option<bool> {
        let arn = match a.native.service_deployment.clone() {
            Some(arn) => arn,
            None => {
                let statuses = ["PENDING", "IN_PROGRESS"];
                let listed = self.ecs.list_service_deployments(&request.cluster, &request.ecs_service, &statuses).await.ok()?;
                // Ours is the newest one under way: the service's lock keeps other deploys out.
                let ours = listed.into_iter().max_by_key(|d| d.created_at)?;
                a.native.service_deployment = Some(ours.arn.clone());
                a.native.green_groups = service
                    .load_balancers
                    .iter()
                    .filter_map(|lb| Some((lb.target_group_arn.clone()?, lb.advanced.as_ref()?.alternate_target_group_arn.clone())))
                    .collect();
                ours.arn
            }
        };
        let deployment = self.ecs.describe_service_deployment(&arn).await.ok()??;
        let seen = (deployment.lifecycle_stage.clone().unwrap_or_default(), deployment.production_percent, deployment.test_percent);
        if a.native.last.as_ref() != Some(&seen) && !seen.0.is_empty() {
            a.native.last = Some(seen.clone());
            let detail =
                Detail::LifecycleStage { service_deployment: arn.clone(), stage: seen.0, production_percent: seen.1, test_percent: seen.2 };
            self.phase(report, Phase::Traffic, detail);
        }
        if deployment.status != "IN_PROGRESS" {
            return None;
        }
        // A deployment paused at a hook is not late: ECS's own hook timeout bounds the pause,
        // and the deploy's timeout counts again once it moves on.
        a.native.awaiting_other = deployment.hooks.iter().any(|h| h.status == "AWAITING_ACTION" && a.native.answered.contains(&h.hook_id));
        if deployment.hooks.iter().any(|h| h.status == "AWAITING_ACTION") {
            a.deadline = a.deadline.max(self.clock.now_ms() + request.timeout.as_millis() as i64);
        }
        let hook = deployment
            .hooks
            .iter()
            .find(|h| h.target_type == "PAUSE" && h.status == "AWAITING_ACTION" && !a.native.answered.contains(&h.hook_id))?
            .clone();
        let stage = deployment.lifecycle_stage.clone().unwrap_or_default();
        let approval = request.ecs_native.as_ref().is_some_and(|c| c.approve);
        self.phase(
            report,
            Phase::Traffic,
            Detail::LifecycleHookWaiting { hook_id: hook.hook_id.clone(), stage: stage.clone(), expires_at: hook.expires_at, approval },
        );
        let verdict = match test_route(service) {
            Some((rule, green)) => {
                let check = PreparingCheck {
                    environment: request.environment.clone(),
                    service: request.service.clone(),
                    preparing_rule: rule,
                    target_group: green,
                    command: request.ecs_native.as_ref().and_then(|c| c.check_command.clone()),
                    body: request.ecs_native.as_ref().and_then(|c| c.check_body.clone()),
                    json: request.ecs_native.as_ref().map(|c| c.check_json.clone()).unwrap_or_default(),
                };
                self.gates.check_preparing(&check).await
            }
            None => GateVerdict::Skipped(
                "the service's load balancer has no test listener rule (advancedConfiguration.testListenerRule)".into(),
            ),
        };
        let (rollback, summary) = match &verdict {
            GateVerdict::Passed(summary) => (false, summary.clone()),
            GateVerdict::Skipped(why) => (false, format!("not checked: {why}")),
            GateVerdict::Failed(why) => (true, why.clone()),
        };
        self.phase(
            report,
            Phase::Traffic,
            Detail::LifecycleHookChecked { stage: stage.clone(), passed: !rollback, summary: summary.clone() },
        );
        kill_point("native-after-checks");
        a.native.answered.push(hook.hook_id.clone());
        if approval && !rollback {
            // A person answers (`ferry continue`); the watch goes on until they do, or the
            // hook's timeout action.
            return None;
        }
        let answer = self.ecs.continue_service_deployment(&arn, &hook.hook_id, rollback).await;
        kill_point("native-after-answer");
        let action = if rollback { "ROLLBACK" } else { "CONTINUE" };
        match answer {
            Ok(()) => self.phase(
                report,
                Phase::Traffic,
                Detail::LifecycleHookAnswered { hook_id: hook.hook_id, stage: stage.clone(), action: action.into() },
            ),
            Err(e) => {
                let reason = format!("answering lifecycle hook {} at {stage} with {action} failed: {e}", hook.hook_id);
                return Some(self.fail(request, report, a, FailureCause::Platform, reason, EcsRollback::None).await);
            }
        }
        if rollback {
            let reason = format!("the checks at lifecycle stage {stage} failed: {summary}");
            return Some(self.fail(request, report, a, FailureCause::Gate, reason, EcsRollback::Expected).await);
        }
        None
    }
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// Why ECS rolled our service deployment back, from the deployment itself: a lifecycle
    /// hook answered ROLLBACK or timed out with it ([`FailureCause::LifecycleHook`]), one of
    /// its alarms ([`FailureCause::Alarm`]), a StopServiceDeployment ([`FailureCause::Stopped`]).
    /// None when it was the circuit breaker, or ECS cannot say.
    pub(super) async fn native_rollback_cause(&self, request: &Request, a: &Active) -> Option<(FailureCause, String)> {
        let arn = match a.native.service_deployment.clone() {
            Some(arn) => arn,
            None => {
                let statuses = ["ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"];
                let listed = self.ecs.list_service_deployments(&request.cluster, &request.ecs_service, &statuses).await.ok()?;
                listed.into_iter().max_by_key(|d| d.created_at)?.arn
            }
        };
        let deployment = self.ecs.describe_service_deployment(&arn).await.ok()??;
        if deployment.breaker.as_ref().is_some_and(|b| b.status == "TRIGGERED") {
            return None;
        }
        let stage = deployment.lifecycle_stage.as_deref().unwrap_or("?");
        if !deployment.alarms_triggered.is_empty() {
            let reason =
                format!("ECS's deployment alarms went off at {stage}: {}; ECS rolled back", deployment.alarms_triggered.join(", "));
            return Some((FailureCause::Alarm, reason));
        }
        if let Some(hook) = deployment.hooks.iter().find(|h| h.status == "FAILED") {
            let reason = format!("lifecycle hook {} at {stage} was answered ROLLBACK; ECS rolled the deployment back", hook.hook_id);
            return Some((FailureCause::LifecycleHook, reason));
        }
        if let Some(hook) = deployment.hooks.iter().find(|h| h.status == "TIMED_OUT" && h.timeout_action.as_deref() == Some("ROLLBACK")) {
            let reason = format!(
                "lifecycle hook {} at {stage} was not answered in time, and its timeout action is ROLLBACK; ECS rolled the deployment back",
                hook.hook_id
            );
            return Some((FailureCause::LifecycleHook, reason));
        }
        let said = deployment.status_reason.map(|r| format!(" ({r})")).unwrap_or_default();
        Some((FailureCause::Stopped, format!("the deployment was stopped with a rollback at {stage}{said}")))
    }
}

/// The test listener rule and the green target group of a service deployed by ECS's
/// blue/green (its first load balancer with an `advancedConfiguration` and a test rule):
/// where ferry's checks send their requests at a hook.
fn test_route(service: &ServiceInfo) -> Option<(String, String)> {
    service.load_balancers.iter().find_map(|lb| {
        let advanced = lb.advanced.as_ref()?;
        Some((advanced.test_listener_rule.clone()?, advanced.alternate_target_group_arn.clone()))
    })
}
