//! The rollback: ECS's own (circuit breaker, StopServiceDeployment ROLLBACK) followed, or
//! ferry's UpdateService to the previous revision; each journaled so a re-run finishes it.

use super::*;

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// Handles a failure: starts the rollback of a forward deploy, or ends a failed rollback.
    pub(super) async fn fail(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        a: &mut Active,
        cause: FailureCause,
        reason: String,
        ecs_rollback: EcsRollback,
    ) -> bool {
        if a.rolling_back {
            let (first_cause, first_reason) = a.failure.clone().unwrap_or((cause, reason.clone()));
            self.finish(
                report,
                Outcome::RollbackFailed,
                Some(first_cause),
                Some(format!("{first_reason}; the rollback failed too: {reason}")),
            );
            self.observer.record(report);
            return true;
        }
        let reason = match (&a.last_stop, cause) {
            (Some(stop), FailureCause::CircuitBreaker | FailureCause::Timeout | FailureCause::Replaced) => {
                format!("{reason} (last stopped task: {stop})")
            }
            _ => reason,
        };
        a.failure = Some((cause, reason.clone()));
        let data = json!({"cause": cause, "reason": reason});
        let Some(seq) = self.journal_started(report, names::ROLL_BACK, &data) else { return true };
        if let Some((tag, previous)) = a.tag_restore.clone().filter(|_| !a.tag_restored) {
            // env-tag: the tag goes back first, so the rollback's tasks pull the old digest.
            match self.restore_tag(request, report, &tag, &previous).await {
                Ok(()) => {
                    a.tag_restored = true;
                    let detail = Detail::TagRestored { repository: request.repository.clone(), tag: tag.clone(), to: previous.clone() };
                    self.phase(report, Phase::RollingBack, detail)
                }
                Err(e) => {
                    let reason = format!("{reason}; moving {}:{tag} back to {previous} failed: {e}", request.repository);
                    self.finish(report, Outcome::RollbackFailed, Some(cause), Some(reason));
                    self.observer.record(report);
                    return true;
                }
            }
        }
        let now = self.clock.now_ms();
        let how;
        let method;
        let watch = if let EcsRollback::Started(rollback) = &ecs_rollback {
            method = "ecs";
            how = RollbackMethod::Ecs { ecs_deployment_id: rollback.clone() };
            Watch::new(Some(rollback.clone()), a.previous.clone(), a.started, request.max_task_failures)
        } else if ecs_rollback == EcsRollback::Expected {
            (method, how) = match request.strategy {
                Strategy::EcsNative => ("ecs_lifecycle_hook", RollbackMethod::LifecycleHook),
                _ => ("ecs_circuit_breaker", RollbackMethod::CircuitBreaker),
            };
            self.ecs_reactivation(a, Watch::new(None, a.previous.clone(), a.started, request.max_task_failures))
        } else if cause == FailureCause::Replaced || cause == FailureCause::ServiceGone {
            // Someone else's deployment took over, or the service is gone: rolling back would
            // fight them. Report, and leave the service as it is.
            self.finish(
                report,
                Outcome::RollbackFailed,
                Some(cause),
                Some(format!("{reason}; not rolled back (the service was changed by someone else)")),
            );
            self.observer.record(report);
            return true;
        } else {
            let in_progress = a.watch.deployment_id.is_some();
            let stopped = in_progress && matches!(self.ecs.roll_back_in_progress(&request.cluster, &request.ecs_service).await, Ok(true));
            if stopped {
                method = "stop_service_deployment";
                how = RollbackMethod::StopServiceDeployment;
                self.ecs_reactivation(a, Watch::new(None, a.previous.clone(), now, request.max_task_failures))
            } else {
                match self.update_service_back(request, a).await {
                    Ok(id) => {
                        method = "update_service";
                        how = RollbackMethod::UpdateService;
                        Watch::new(id, a.previous.clone(), now, request.max_task_failures)
                    }
                    Err(e) => {
                        self.finish(
                            report,
                            Outcome::RollbackFailed,
                            Some(cause),
                            Some(format!("{reason}; the rollback could not start: {e}")),
                        );
                        self.observer.record(report);
                        return true;
                    }
                }
            }
        };
        kill_point(if method.starts_with("ecs") { "ecs-rollback" } else { "rollback-started" });
        self.journal_done(
            report,
            seq,
            &json!({"cause": cause, "reason": reason, "method": method, "ecs_deployment_id": watch.deployment_id}),
        );
        a.ecs_rollback_deadline = (ecs_rollback == EcsRollback::Expected).then(|| self.clock.now_ms() + ECS_ROLLBACK_GRACE_MS);
        self.watch_rollback(request, report, a, watch, Detail::RollingBack { reason, to_task_definition: a.previous.clone(), method: how });
        false
    }

    /// The circuit breaker failed ours but started no rollback within the grace period
    /// (ECS has no COMPLETED deployment to return to): ferry rolls back itself. Returns
    /// true when the deploy is over (the rollback could not start).
    pub(super) async fn take_over_rollback(&self, request: &Request, report: &mut ServiceReport, a: &mut Active) -> bool {
        a.ecs_rollback_deadline = None;
        let (cause, reason) = a.failure.clone().unwrap_or((FailureCause::CircuitBreaker, "failed".into()));
        let data = json!({"cause": cause, "reason": reason, "method": "update_service"});
        let Some(seq) = self.journal_started(report, names::ROLL_BACK, &data) else { return true };
        match self.update_service_back(request, a).await {
            Ok(id) => {
                self.journal_done(
                    report,
                    seq,
                    &json!({"cause": cause, "reason": reason, "method": "update_service", "ecs_deployment_id": id}),
                );
                let detail = Detail::RollingBack {
                    reason,
                    to_task_definition: a.previous.clone(),
                    method: RollbackMethod::UpdateServiceAfterGrace { grace_ms: ECS_ROLLBACK_GRACE_MS as u64 },
                };
                let watch = Watch::new(id, a.previous.clone(), self.clock.now_ms(), request.max_task_failures);
                self.watch_rollback(request, report, a, watch, detail);
                false
            }
            Err(e) => {
                self.finish(report, Outcome::RollbackFailed, Some(cause), Some(format!("{reason}; the rollback could not start: {e}")));
                self.observer.record(report);
                true
            }
        }
    }

    /// UpdateService back to the previous revision; the id of the deployment it created,
    /// when the answer shows it.
    pub(super) async fn update_service_back(&self, request: &Request, a: &Active) -> Result<Option<String>, PlatformError> {
        let service = self.ecs.update_service(&request.cluster, &request.ecs_service, &a.previous, a.tag_restore.is_some()).await?;
        Ok(service
            .deployments
            .iter()
            .filter(|d| {
                d.task_definition == a.previous
                    && d.status == "PRIMARY"
                    && !a.earlier_deployments.contains(&d.id)
                    && a.watch.deployment_id.as_ref() != Some(&d.id)
            })
            .max_by_key(|d| d.created_at)
            .map(|d| d.id.clone()))
    }

    /// A watch for a rollback ECS performs itself (circuit breaker, StopServiceDeployment
    /// ROLLBACK): ECS reactivates the last COMPLETED deployment, an earlier one, which the
    /// watch may then adopt. Not for ferry's own UpdateService rollback, which creates a new
    /// deployment while the old one stays ACTIVE.
    pub(super) fn ecs_reactivation(&self, a: &Active, mut watch: Watch) -> Watch {
        let failed = a.watch.deployment_id.clone();
        watch.may_reactivate(a.earlier_deployments.iter().filter(|id| Some(*id) != failed.as_ref()).cloned());
        watch
    }

    /// Switches the service's watch to its rollback, whose timeout starts now (starting it
    /// can take a while: the SDK retries).
    pub(super) fn watch_rollback(&self, request: &Request, report: &ServiceReport, a: &mut Active, mut watch: Watch, detail: Detail) {
        self.phase(report, Phase::RollingBack, detail);
        let now = self.clock.now_ms();
        watch.events_since = now;
        watch.inherit(&a.watch);
        watch.never_adopt(a.earlier_deployments.iter().cloned().chain(a.watch.deployment_id.clone()));
        a.watch = watch;
        a.rolling_back = true;
        a.deadline = now + request.rollback_timeout.as_millis() as i64;
        a.started = now;
        a.next_poll = now + 250;
        a.last_progress = None;
        a.quiet_polls = 0;
        a.health = None;
        a.health_read_at = None;
        a.health_read_for = None;
    }
}

/// Whether ECS itself is rolling a failed deployment back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum EcsRollback {
    /// No: ferry rolls back.
    None,
    /// Yes, with this deployment.
    Started(String),
    /// The circuit breaker will; its deployment is adopted when it appears.
    Expected,
}

/// How long ferry waits for ECS's circuit breaker to start the rollback it promised
/// before rolling back itself. ECS creates the rollback deployment as it fails ours; when
/// it cannot (no deployment ever COMPLETED to return to), none ever appears, and waiting
/// out the whole timeout would leave the failed revision in place for nothing.
pub(super) const ECS_ROLLBACK_GRACE_MS: i64 = 15_000;
