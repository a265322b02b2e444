//! The executor: applies the strategy's steps ([`crate::strategy`]) one by one, each
//! journaled before and after, until the strategy says to watch an ECS deployment.

use super::*;

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// The mutations, as the strategy's step machine decides them ([`crate::strategy`]),
    /// each journaled before and after it is applied. Returns the watch of the ECS
    /// deployment, or None when the deploy is over (a step failed, or a resumed rollback
    /// could not start).
    pub(super) async fn start(
        &self,
        index: usize,
        request: &Request,
        report: &mut ServiceReport,
        prepared: Option<Prepared>,
    ) -> Option<Active> {
        let prepared = prepared?;
        let machine = strategy::machine(request.strategy);
        let mut facts = prepared.facts.clone();
        let resumed = prepared.resumed.is_some();
        // A superseded dead run may have changed the service: what ran before it is the last
        // state anything proved, so a failure returns there.
        // ... unless the service is steady again: then the dead run's change completed (or
        // never reached ECS), what runs is what ECS would return to, and it is "previous".
        let dead_changed = prepared.supersedes.as_ref().filter(|d| {
            let f = Facts::from_steps(&d.steps);
            (f.update_started_at.is_some() || f.tag_move_started) && !steady(&prepared.current)
        });
        let previous = facts
            .previous_task_definition
            .clone()
            .or_else(|| prepared.resumed.as_ref().and_then(|d| d.from_task_definition.clone()))
            .or_else(|| dead_changed.and_then(|d| d.from_task_definition.clone()))
            .unwrap_or_else(|| prepared.current_definition.arn.clone());
        if let Some(dead) = dead_changed {
            report.from_task_definition = Some(previous.clone());
            report.from_version = dead.from_version.clone().or(report.from_version.take());
        }
        let earlier: Vec<String> = if resumed && facts.previous_task_definition.is_some() {
            facts.earlier_deployments.clone()
        } else {
            prepared.current.deployments.iter().map(|d| d.id.clone()).collect()
        };
        let (desired, tag_restore, mut tag_at_target, digest) = match &prepared.target {
            Target::Register(_) => (Desired::NewRevision, None, false, None),
            Target::Existing(td) => (Desired::Revision(td.arn.clone()), None, false, None),
            Target::Running { definition, force: true } => (Desired::ForcedRevision(definition.arn.clone()), None, false, None),
            Target::Running { definition, force: false } => (Desired::Running(definition.arn.clone()), None, false, None),
            Target::Force { definition, tag, digest, previous_digest, tag_now } => (
                Desired::ForcedRevision(definition.arn.clone()),
                Some((tag.clone(), previous_digest.clone())),
                facts.tag_moved || tag_now == digest,
                Some(digest.clone()),
            ),
        };
        if facts.previous_task_definition.is_none() {
            let target = report.to_digest.clone().or(report.to_task_definition.clone());
            let data = journal::preflight_data(&previous, tag_restore.as_ref().map(|(_, d)| d.as_str()), &earlier, target.as_deref());
            let seq = self.journal_started(report, names::PREFLIGHT, &data)?;
            self.journal_done(report, seq, &data);
            facts.previous_task_definition = Some(previous.clone());
            facts.earlier_deployments = earlier.clone();
        }
        kill_point("after-preflight");
        // A registration whose answer the dead run never journaled: the family's newest
        // revision is ours if it carries our deployment id.
        let mut registered = facts.registered.clone();
        if let (None, true, Target::Register(definition)) = (&registered, facts.register_started, &prepared.target)
            && let Some(family) = taskdef::family(definition)
            && let Ok(latest) = self.ecs.describe_task_definition(family).await
            && latest.tag("ferry:deployment") == Some(report.deployment_id.as_str())
        {
            registered = Some(latest.arn.clone());
        }
        let mut service = prepared.current.clone();
        if let Some(reason) = rolled_back_while_dead(&facts, &service, &previous, registered.as_deref(), &desired) {
            // The dead run's UpdateService reached ECS, its deployment failed and ECS's circuit
            // breaker reactivated the previous one, which no longer lists ours: doing the
            // UpdateService again would roll a known-bad revision out a second time.
            report.to_task_definition = registered.clone().or(report.to_task_definition.take());
            report.rollback_deployment_id = service.primary().map(|p| p.id.clone());
            self.finish(report, Outcome::FailedRolledBack, Some(FailureCause::CircuitBreaker), Some(reason));
            self.observer.record(report);
            return None;
        }
        let mut before = facts.update_started_at.unwrap_or_else(|| self.clock.now_ms());
        // Each step is one of a handful; the bound only guards against a decision that loops.
        for _ in 0..8 {
            let observed = Observed { facts: &facts, service: &service, registered: registered.as_deref(), tag_at_target };
            let step = strategy::with_before_deploy(machine.next(&desired, &observed), request.before_deploy.is_some(), &facts);
            match step {
                Step::MoveTag => {
                    let (Some((tag, previous_digest)), Some(digest)) = (&tag_restore, &digest) else { break };
                    let data = json!({"tag": tag, "from": previous_digest, "to": digest});
                    let seq = self.journal_started(report, names::MOVE_TAG, &data)?;
                    if let Err(e) = self.registry.move_tag(&request.repository, digest, tag).await {
                        self.journal_failed(report, seq, &data);
                        let reason = format!("{e} (the tag and the service were not changed)");
                        self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                        self.observer.record(report);
                        return None;
                    }
                    kill_point("env-tag-after-move");
                    self.journal_done(report, seq, &data);
                    tag_at_target = true;
                    facts.tag_moved = true;
                    let detail = Detail::TagMoved {
                        repository: request.repository.clone(),
                        tag: tag.clone(),
                        from: previous_digest.clone(),
                        to: digest.clone(),
                    };
                    self.phase(report, Phase::Registered, detail);
                }
                Step::RegisterTaskDefinition => {
                    let Target::Register(definition) = &prepared.target else { break };
                    let data = json!({"family": taskdef::family(definition)});
                    let seq = self.journal_started(report, names::REGISTER_TASK_DEFINITION, &data)?;
                    match self.ecs.register_task_definition(definition).await {
                        Ok(td) => {
                            kill_point("after-register");
                            self.journal_done(report, seq, &json!({"family": td.family, "task_definition": td.arn}));
                            self.phase(report, Phase::Registered, Detail::Registered { task_definition: td.arn.clone() });
                            registered = Some(td.arn);
                        }
                        Err(e) => {
                            self.journal_failed(report, seq, &data);
                            self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(e.to_string()));
                            self.observer.record(report);
                            return None;
                        }
                    }
                }
                Step::UpdateService { task_definition, force } => {
                    report.to_task_definition = Some(task_definition.clone());
                    report.outcome = Outcome::Error;
                    self.observer.record(report);
                    let data = json!({"task_definition": task_definition, "force": force});
                    let seq = self.journal_started(report, names::UPDATE_SERVICE, &data)?;
                    before = self.clock.now_ms();
                    facts.update_started_at = Some(before);
                    match self.ecs.update_service(&request.cluster, &request.ecs_service, &task_definition, force).await {
                        Ok(updated) => {
                            kill_point("after-update-service");
                            // Our deployment: the PRIMARY one running our revision, the newest such.
                            let ours = updated
                                .deployments
                                .iter()
                                .filter(|d| d.task_definition == task_definition && d.status == "PRIMARY" && !earlier.contains(&d.id))
                                .max_by_key(|d| d.created_at)
                                .map(|d| d.id.clone());
                            self.journal_done(
                                report,
                                seq,
                                &json!({"task_definition": task_definition, "force": force, "ecs_deployment_id": ours}),
                            );
                            facts.update_done = true;
                            facts.updated = ours;
                            service = updated;
                        }
                        Err(e) => {
                            self.journal_failed(report, seq, &data);
                            let mut reason = format!("{e} (the service was not changed)");
                            if let (Some((tag, previous)), true) = (&tag_restore, facts.tag_moved)
                                && let Err(e) = self.restore_tag(request, report, tag, previous).await
                            {
                                reason = format!("{reason}; moving {}:{tag} back to {previous} failed too: {e}", request.repository);
                            }
                            self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                            self.observer.record(report);
                            return None;
                        }
                    }
                }
                Step::RunBeforeDeploy { task_definition } => {
                    let Some(hook) = &request.before_deploy else { break };
                    report.to_task_definition = Some(task_definition.clone());
                    let started_before = facts.before_deploy.started;
                    match self
                        .run_hook(request, report, HookKind::BeforeDeploy, hook, &task_definition, &service.launch, started_before)
                        .await
                    {
                        HookVerdict::Passed => facts.before_deploy.passed = true,
                        HookVerdict::Stopped => return None,
                        HookVerdict::Failed(reason) => {
                            // Nothing of the service changed; env-tag's tag goes back first. Exit 5
                            // (failed, the service on its previous revision), never 4: a revision
                            // was registered and the task ran, and with several services others
                            // may have deployed.
                            let mut outcome = Outcome::FailedRolledBack;
                            let mut reason = format!(
                                "{reason}; the service was not changed (it runs {})",
                                short_task_definition(&service.task_definition)
                            );
                            if let (Some((tag, previous)), true) = (&tag_restore, facts.tag_moved) {
                                reason = match self.restore_tag(request, report, tag, previous).await {
                                    Ok(()) => format!("{reason}; {}:{tag} moved back to {previous}", request.repository),
                                    Err(e) => {
                                        outcome = Outcome::RollbackFailed;
                                        format!("{reason}; moving {}:{tag} back to {previous} failed: {e}", request.repository)
                                    }
                                };
                            }
                            self.finish(report, outcome, Some(FailureCause::Hook), Some(reason));
                            self.observer.record(report);
                            return None;
                        }
                    }
                }
                Step::ShiftTraffic { task_definition } => {
                    self.shift_traffic(request, report, &prepared, task_definition).await;
                    return None;
                }
                Step::Unchanged { task_definition } => {
                    // A no-op deploy: nothing registered, no UpdateService, no tag moved.
                    report.to_task_definition = Some(task_definition);
                    self.finish(report, Outcome::Unchanged, None, None);
                    self.observer.record(report);
                    return None;
                }
                Step::Watch { task_definition, ecs_deployment_id } => {
                    return self
                        .watch_from(
                            index,
                            request,
                            report,
                            &prepared,
                            facts,
                            previous,
                            earlier,
                            tag_restore,
                            task_definition,
                            ecs_deployment_id,
                            before,
                        )
                        .await;
                }
            }
        }
        let reason = "the strategy did not reach a deployment to watch (a bug in ferry; the same command resumes)".to_string();
        self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
        self.observer.record(report);
        None
    }

    /// Starts watching our ECS deployment (just created, or adopted from a dead run), or
    /// resumes the rollback a dead run had started.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn watch_from(
        &self,
        index: usize,
        request: &Request,
        report: &mut ServiceReport,
        prepared: &Prepared,
        facts: Facts,
        previous: String,
        earlier: Vec<String>,
        tag_restore: Option<(String, String)>,
        task_definition: String,
        ours: Option<String>,
        before: i64,
    ) -> Option<Active> {
        report.to_task_definition = Some(task_definition.clone());
        report.ecs_deployment_id = ours.clone().or(report.ecs_deployment_id.take());
        report.outcome = Outcome::Error;
        // Journaled at once: whoever looks (Ctrl-C, `ferry status`, a re-run) can name the
        // ECS deployment that now exists.
        self.observer.record(report);
        // Adopted: the dead run had called UpdateService; this run did not.
        let resumed = prepared.resumed.as_ref().is_some_and(|d| Facts::from_steps(&d.steps).update_started_at.is_some());
        let detail = Detail::Updated {
            ecs_service: request.ecs_service.clone(),
            task_definition: task_definition.clone(),
            ecs_deployment_id: ours.clone(),
            resumed,
        };
        self.phase(report, Phase::Updated, detail);
        let mut watch = Watch::new(ours.clone(), task_definition, before, request.max_task_failures);
        watch.never_adopt(earlier.iter().cloned());
        watch.ignore_events(&prepared.current);
        let now = self.clock.now_ms();
        let mut active = Active {
            index,
            watch,
            rolling_back: false,
            previous: previous.clone(),
            deadline: now + request.timeout.as_millis() as i64,
            next_poll: now + 250,
            started: now,
            last_progress: None,
            quiet_polls: 0,
            errors: 0,
            last_renew: now,
            failure: None,
            last_stop: None,
            earlier_deployments: earlier.clone(),
            tag_restore,
            // A restore journaled as started is done when the tag names the previous digest.
            tag_restored: facts.tag_restored
                || (facts.tag_restore_started
                    && matches!(&prepared.target, Target::Force { tag_now, previous_digest, .. } if tag_now == previous_digest)),
            ecs_rollback_deadline: None,
            bake_until: None,
            baked_running: None,
            health: None,
            health_read_at: None,
            health_read_for: None,
            targets: TargetWatch::default(),
            after_deploy: facts.after_deploy.clone(),
            native: Default::default(),
            alarms_read_at: 0,
        };
        if request.detach && facts.rollback_started_at.is_none() {
            // The ledger keeps the deployment in progress (no end time), the lock is let go
            // with the run's: `ferry watch` resumes it as an interrupted deployment.
            let data = json!({"ecs_deployment_id": ours});
            let seq = self.journal_started(report, names::DETACHED, &data)?;
            self.journal_done(report, seq, &data);
            report.outcome = Outcome::Detached;
            report.ecs_deployment_id = ours.clone();
            self.phase(report, Phase::Updated, Detail::Detached { ecs_deployment_id: ours.clone() });
            self.observer.record(report);
            return None;
        }
        if facts.rollback_started_at.is_none() {
            return Some(active);
        }
        // The dead run was rolling back: finish its rollback, adopting the rollback
        // deployment it (or ECS) started when there is one.
        let cause = facts.rollback_cause.as_deref().and_then(|c| serde_json::from_value(json!(c)).ok()).unwrap_or(FailureCause::Platform);
        let reason = facts.rollback_reason.clone().unwrap_or_else(|| "the deployment failed".into());
        let current = &prepared.current;
        let rollback = facts.rollback_deployment.clone().or_else(|| {
            current
                .deployments
                .iter()
                // The journal says a rollback started; ECS running the previous revision as
                // PRIMARY again (a new deployment, or the old one reactivated) is that rollback.
                .filter(|d| d.task_definition == previous && d.status == "PRIMARY" && Some(&d.id) != ours.as_ref())
                .max_by_key(|d| d.created_at)
                .map(|d| d.id.clone())
        });
        let ecs = match rollback {
            Some(id) => EcsRollback::Started(id),
            None => EcsRollback::None,
        };
        if self.fail(request, report, &mut active, cause, reason, ecs).await { None } else { Some(active) }
    }

    /// Journals the start of a step; on failure, ends the deploy before the step (nothing
    /// the step would change is changed) and returns None.
    pub(super) fn journal_started(&self, report: &mut ServiceReport, name: &str, data: &Value) -> Option<i64> {
        match self.observer.step_started(report, name, data) {
            Ok(seq) => Some(seq),
            Err(e) => {
                let reason = format!(
                    "cannot journal the step {name} in the ledger, so ferry stopped before it: {e}; run the same command again to finish the deployment"
                );
                self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(reason));
                self.observer.record(report);
                None
            }
        }
    }

    /// Journals that step `seq` is done. A failure here is said but does not stop the deploy:
    /// the step happened, and a re-run finds its effect in AWS.
    pub(super) fn journal_done(&self, report: &ServiceReport, seq: i64, data: &Value) {
        if let Err(e) = self.observer.step_finished(report, seq, StepState::Done, data) {
            tracing::warn!("cannot journal the end of a step of {}: {e}", report.deployment_id);
        }
    }

    pub(super) fn journal_failed(&self, report: &ServiceReport, seq: i64, data: &Value) {
        if let Err(e) = self.observer.step_finished(report, seq, StepState::Failed, data) {
            tracing::warn!("cannot journal the failure of a step of {}: {e}", report.deployment_id);
        }
    }

    /// env-tag: moves the tag back to the digest it named before, journaled.
    pub(super) async fn restore_tag(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        tag: &str,
        previous: &str,
    ) -> Result<(), PlatformError> {
        let data = json!({"tag": tag, "to": previous});
        // Putting the tag back is not held up by a ledger that cannot journal it: a re-run
        // finds the tag where the registry says it is.
        let seq = match self.observer.step_started(report, names::RESTORE_TAG, &data) {
            Ok(seq) => Some(seq),
            Err(e) => {
                tracing::warn!("cannot journal the restore of {}:{tag} for {}: {e}", request.repository, report.deployment_id);
                None
            }
        };
        match self.registry.move_tag(&request.repository, previous, tag).await {
            Ok(()) => {
                kill_point("env-tag-after-restore");
                if let Some(seq) = seq {
                    self.journal_done(report, seq, &data);
                }
                Ok(())
            }
            Err(e) => {
                if let Some(seq) = seq {
                    self.journal_failed(report, seq, &data);
                }
                Err(e)
            }
        }
    }
}

/// Whether a service is steady: its PRIMARY deployment runs its task definition and has
/// COMPLETED, with no other deployment left (ECS's `deployments` list).
pub(super) fn steady(service: &ServiceInfo) -> bool {
    service.deployments.len() == 1
        && service
            .primary()
            .is_some_and(|p| p.task_definition == service.task_definition && p.rollout_state.as_deref() == Some("COMPLETED"))
}

/// Why a resumed deployment is over before anything is done: the dead run's UpdateService
/// (journaled as started) reached ECS, no deployment of ours is listed any more, and the
/// service's PRIMARY deployment runs `previous` again, reactivated after that UpdateService
/// (its `updatedAt`). ECS's circuit breaker rolled it back while ferry was not running.
fn rolled_back_while_dead(
    facts: &Facts,
    service: &ServiceInfo,
    previous: &str,
    registered: Option<&str>,
    desired: &Desired,
) -> Option<String> {
    let since = facts.update_started_at?;
    let ours = match desired {
        Desired::NewRevision => registered?.to_string(),
        Desired::Revision(arn) | Desired::ForcedRevision(arn) | Desired::Running(arn) => arn.clone(),
    };
    // A forced deployment of the same revision (env-tag) cannot be told from the one before it.
    if ours == previous || service.deployments.iter().any(|d| d.task_definition == ours && !facts.earlier_deployments.contains(&d.id)) {
        return None;
    }
    let primary = service.primary().filter(|p| p.task_definition == previous && p.updated_at >= since - 1_000)?;
    Some(format!(
        "the deployment of {} that a dead run started failed while ferry was not running: ECS's circuit breaker rolled back to {} (deployment {}, reactivated)",
        short_task_definition(&ours),
        short_task_definition(previous),
        primary.id
    ))
}
