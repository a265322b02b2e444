//! The watch: one loop over every started deployment (and rollback) of the run, batching
//! DescribeServices; the judgement of each look; the bake; the environment tag after success.

use super::*;

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// The alarm gate: the reason the deploy fails when one of the service's alarms is in
    /// ALARM (`name is in ALARM: reason`); None when none is, or when they cannot be read
    /// this time (a read that fails is tried again at the next look, not a failure).
    pub(super) async fn alarm_gate(&self, request: &Request) -> Option<String> {
        let states = self.gates.alarms(&request.alarms).await.ok()?;
        let firing: Vec<String> = states
            .iter()
            .filter(|s| s.state == "ALARM")
            .map(|s| format!("CloudWatch alarm {} is in ALARM: {}", s.name, s.reason))
            .collect();
        (!firing.is_empty()).then(|| firing.join("; "))
    }

    /// What ECS's circuit breaker counted for the service's newest service deployment:
    /// `circuit breaker: 3 failed tasks, threshold 3 (thresholdConfiguration COUNT 3)`; None
    /// when the platform cannot say.
    pub(super) async fn breaker_count(&self, request: &Request) -> Option<String> {
        let statuses = ["ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED", "IN_PROGRESS"];
        let listed = self.ecs.list_service_deployments(&request.cluster, &request.ecs_service, &statuses).await.ok()?;
        let newest = listed.into_iter().max_by_key(|d| d.created_at)?;
        let breaker = self.ecs.describe_service_deployment(&newest.arn).await.ok()??.breaker.filter(|b| b.status == "TRIGGERED")?;
        let tasks = if breaker.failure_count == 1 { "task" } else { "tasks" };
        let configured = match (&breaker.configuration, breaker.reset_on_healthy_task) {
            (Some(c), Some(false)) => format!(" (thresholdConfiguration {c}, failures not reset by a healthy task)"),
            (Some(c), _) => format!(" (thresholdConfiguration {c})"),
            (None, Some(false)) => " (failures not reset by a healthy task)".to_string(),
            (None, _) => String::new(),
        };
        Some(format!("circuit breaker: {} failed {tasks}, threshold {}{configured}", breaker.failure_count, breaker.threshold))
    }

    /// The one loop that watches every started deployment (and rollback) of the run.
    pub(super) async fn watch_all(&self, requests: &[Request], reports: &mut [ServiceReport], mut active: Vec<Active>) {
        while !active.is_empty() {
            let now = self.clock.now_ms();
            let earliest = active.iter().map(|a| a.next_poll).min().unwrap_or(now);
            if earliest > now {
                self.clock.sleep(Duration::from_millis((earliest - now) as u64)).await;
                continue;
            }
            // Everything due (or nearly) is looked at now, grouped by cluster, 10 per call.
            let mut by_cluster: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
            for (slot, a) in active.iter().enumerate() {
                if a.next_poll <= now + COALESCE_MS {
                    by_cluster.entry(requests[a.index].cluster.as_str()).or_default().push(slot);
                }
            }
            let mut observed: Vec<(usize, Result<Option<ServiceInfo>, PlatformError>)> = Vec::new();
            for (cluster, slots) in by_cluster {
                for chunk in slots.chunks(10) {
                    let names: Vec<String> = chunk.iter().map(|&s| requests[active[s].index].ecs_service.clone()).collect();
                    // A call in flight does not hold the watch past a deadline.
                    let deadline = chunk.iter().map(|&s| active[s].watch_deadline()).min().unwrap_or(now);
                    match self.before(deadline, "ecs:DescribeServices", self.ecs.describe_services(cluster, &names)).await {
                        Ok(services) => {
                            for &slot in chunk {
                                let name = &requests[active[slot].index].ecs_service;
                                observed.push((slot, Ok(services.iter().find(|s| &s.name == name).cloned())));
                            }
                        }
                        Err(e) => observed.extend(chunk.iter().map(|&slot| (slot, Err(e.clone())))),
                    }
                }
            }
            let mut done = Vec::new();
            for (slot, observation) in observed {
                let a = &mut active[slot];
                let request = &requests[a.index];
                let report = &mut reports[a.index];
                if self.step(request, report, a, observation).await {
                    done.push(slot);
                }
            }
            if !done.is_empty() && done.len() < active.len() {
                kill_point("service-finished");
            }
            done.sort_unstable_by(|x, y| y.cmp(x));
            for slot in done {
                active.remove(slot);
            }
        }
    }

    /// One look at one service. Returns true when its deploy is over.
    pub(super) async fn step(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        a: &mut Active,
        observation: Result<Option<ServiceInfo>, PlatformError>,
    ) -> bool {
        let now = self.clock.now_ms();
        if now - a.last_renew > 30_000 {
            a.last_renew = now;
            match self.locks.renew(&request.environment, &request.service, request.lock_id()) {
                Ok(()) => {}
                // Another deploy took the service over (our lease ran out): stop, and do not
                // roll back over it.
                Err(LockRefusal::Held(holder)) => {
                    let reason = format!("lost the lock while watching, stopped: {holder}");
                    self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                    self.observer.record(report);
                    return true;
                }
                // The lock is gone (the ledger was deleted or replaced, or the lock freed):
                // another deploy may be running unseen. Stop, without rolling back over it.
                Err(LockRefusal::Lost(message)) => {
                    let reason = match &report.ecs_deployment_id {
                        Some(id) => format!("lost the lock while watching, stopped; ECS deployment {id} continues on its own: {message}"),
                        None => format!("lost the lock while watching, stopped; the ECS deployment continues on its own: {message}"),
                    };
                    self.finish(report, Outcome::Error, Some(FailureCause::Ledger), Some(reason));
                    self.observer.record(report);
                    return true;
                }
                Err(LockRefusal::Error(error)) => self.phase(report, Phase::Locked, Detail::LockNotRenewed { error }),
            }
        }
        let service = match observation {
            Ok(Some(service)) => {
                a.errors = 0;
                service
            }
            Ok(None) => {
                let reason = format!("service {} disappeared", request.ecs_service);
                return self.fail(request, report, a, FailureCause::ServiceGone, reason, EcsRollback::None).await;
            }
            Err(e) => {
                a.errors += 1;
                // Past the deadline, a service that cannot be looked at has not completed
                // (one already COMPLETED and baking has: the bake's errors count as usual).
                if now > a.deadline && a.bake_until.is_none() {
                    let what = if a.rolling_back { "the rollback" } else { "the deployment" };
                    let reason = format!(
                        "{what} was not seen to complete within {}: {e}",
                        humantime::format_duration(Duration::from_millis((a.deadline - a.started).max(0) as u64))
                    );
                    return self.fail(request, report, a, FailureCause::Timeout, reason, EcsRollback::None).await;
                }
                if a.errors >= MAX_OBSERVATION_ERRORS {
                    return self.fail(request, report, a, FailureCause::Platform, e.to_string(), EcsRollback::None).await;
                }
                a.next_poll = now + 1000 * i64::from(a.errors);
                return false;
            }
        };
        if request.strategy == Strategy::EcsNative
            && !a.rolling_back
            && let Some(done) = self.native_look(request, report, a, &service).await
        {
            return done;
        }
        if !a.rolling_back && !request.alarms.is_empty() && now - a.alarms_read_at >= ALARM_INTERVAL_MS {
            a.alarms_read_at = now;
            if let Some(reason) = self.alarm_gate(request).await {
                return self.fail(request, report, a, FailureCause::Alarm, reason, EcsRollback::None).await;
            }
        }
        report.running = service.running;
        report.desired = service.desired;
        for event in a.watch.new_events(&service) {
            let ServiceEvent { created_at, message, .. } = event;
            self.emit(report, Event::EcsEvent { service: request.service.clone(), created_at, message });
        }
        let mut verdict = None;
        // While baking, a task short of the desired count is worth a look too: ECS's
        // failedTasks counter is the deployment's, and the circuit breaker stops counting
        // once it is COMPLETED.
        let running_now = a.watch.deployment_id.as_deref().and_then(|id| service.deployment(id)).map(|d| d.running);
        let dropped_while_baking = a.bake_until.is_some() && a.baked_running.zip(running_now).is_some_and(|(before, now)| now < before);
        if a.bake_until.is_some() {
            a.baked_running = running_now;
        }
        let mut looked = false;
        if a.watch.failures_grew(&service) || dropped_while_baking {
            looked = true;
            if let Some(fresh) = self.read_stopped(request, report, a).await {
                verdict = a.watch.judge_stopped(&fresh).map(|(cause, reason)| Assessment::Failed { cause, reason, ecs_rollback: None });
                // ECS stopped a new task for failing its load balancer health checks: it
                // does so only past the grace period, so one is enough, and its reason is
                // the health check's when ferry saw it.
                if let Some(reason) = a.targets.judge_stopped(&fresh) {
                    verdict = Some(Assessment::Failed { cause: FailureCause::UnhealthyTargets, reason, ecs_rollback: None });
                }
                // While baking, one failure is enough: the deployment said it was done.
                if let (Some(until), None) = (a.bake_until, &verdict)
                    && let Some(task) = fresh.iter().find(|t| crate::rolling::is_task_failure(t))
                {
                    let baked = request.bake.as_millis() as i64 - (until - now).max(0);
                    let reason = format!(
                        "a new task failed {} after the deployment completed, during the bake period: {}",
                        humantime::format_duration(Duration::from_secs((baked.max(0) / 1000) as u64)),
                        stop_reason(task)
                    );
                    verdict = Some(Assessment::Failed { cause: FailureCause::TaskFailures, reason, ecs_rollback: None });
                }
            }
        }
        let verdict = match verdict {
            Some(v) if !a.rolling_back => v,
            _ => a.watch.assess(&service),
        };
        // ecs-native: the new tasks register in the alternate (green) target groups.
        let verdict = if request.strategy == Strategy::EcsNative && !a.rolling_back {
            let green = a.native.as_green(&service);
            self.judge_targets(request, a, &green, verdict, now).await
        } else {
            self.judge_targets(request, a, &service, verdict, now).await
        };
        // A failure with no stopped task quoted yet (ECS failed and rolled back between two
        // looks): read our stopped tasks once, so the reason cites a real failure.
        if let (Assessment::Failed { cause: FailureCause::CircuitBreaker | FailureCause::Replaced, .. }, None, false, false) =
            (&verdict, &a.last_stop, a.rolling_back, looked)
        {
            self.read_stopped(request, report, a).await;
        }
        match verdict {
            Assessment::InProgress(_) if a.watch.deployment_id.is_none() && a.ecs_rollback_deadline.is_some_and(|t| now > t) => {
                self.take_over_rollback(request, report, a).await
            }
            Assessment::InProgress(mut progress) => {
                progress.health = self.task_health(request, a, &progress, now).await;
                if now > a.deadline {
                    let what = if a.rolling_back { "the rollback" } else { "the deployment" };
                    // Behind a load balancer, how far the targets got says why (a COMPLETED
                    // deployment whose targets never turned healthy, too).
                    let targets: String = progress
                        .targets
                        .iter()
                        .map(|g| format!(", {}/{} targets healthy in {}", g.healthy, g.expected, g.target_group))
                        .collect();
                    let reason = format!(
                        "{what} did not complete within {} ({} of {} new tasks running{targets})",
                        humantime::format_duration(Duration::from_millis((a.deadline - a.started).max(0) as u64)),
                        progress.new_running,
                        progress.new_desired
                    );
                    return self.fail(request, report, a, FailureCause::Timeout, reason, EcsRollback::None).await;
                }
                if progress.new_running > 0 && !a.rolling_back {
                    kill_point("mid-rollout");
                }
                if a.last_progress.as_ref() != Some(&progress) {
                    a.quiet_polls = 0;
                    self.emit(
                        report,
                        Event::Progress { service: request.service.clone(), rolling_back: a.rolling_back, progress: progress.clone() },
                    );
                    a.last_progress = Some(progress.clone());
                } else if now - a.started >= 10_000 {
                    // Quiet looks during the fast start do not count: the back-off starts
                    // at 1 s when the fast start ends.
                    a.quiet_polls += 1;
                }
                let mut interval = poll_interval(Duration::from_millis((now - a.started).max(0) as u64), Some(&progress), a.quiet_polls);
                // ecs-native: every new task is up long before the end while ECS bakes, shifts in
                // held steps or waits at a hook; fast looks then only spend the read budget.
                if request.strategy == Strategy::EcsNative && a.native.waits() {
                    interval = interval.max(super::native::WAITING_POLL);
                }
                a.next_poll = now + interval.as_millis() as i64;
                let known = (report.ecs_deployment_id.clone(), report.rollback_deployment_id.clone());
                if a.rolling_back {
                    report.rollback_deployment_id = a.watch.deployment_id.clone();
                } else {
                    report.ecs_deployment_id = a.watch.deployment_id.clone().or(report.ecs_deployment_id.take());
                }
                if known != (report.ecs_deployment_id.clone(), report.rollback_deployment_id.clone()) {
                    self.observer.record(report);
                }
                false
            }
            Assessment::Succeeded(progress) if !a.rolling_back && !request.bake.is_zero() && a.bake_until.is_none_or(|t| now < t) => {
                // COMPLETED, but done means stable: watch the new tasks for the bake period.
                if a.bake_until.is_none() {
                    a.bake_until = Some(now + request.bake.as_millis() as i64);
                    a.baked_running = Some(progress.new_running);
                    report.ecs_deployment_id = a.watch.deployment_id.clone();
                    self.emit(report, Event::Progress { service: request.service.clone(), rolling_back: false, progress });
                    let detail =
                        Detail::Baking { ecs_deployment_id: a.watch.deployment_id.clone(), bake_ms: request.bake.as_millis() as u64 };
                    self.phase(report, Phase::Baking, detail);
                }
                let until = a.bake_until.unwrap_or(now);
                a.next_poll = (now + BAKE_POLL_MS).min(until).max(now + 1);
                false
            }
            Assessment::Succeeded(progress) => {
                self.emit(report, Event::Progress { service: request.service.clone(), rolling_back: a.rolling_back, progress });
                if a.rolling_back {
                    kill_point("rolled-back");
                    report.rollback_deployment_id = a.watch.deployment_id.clone();
                    let (cause, reason) = a.failure.clone().unwrap_or((FailureCause::Platform, "failed".into()));
                    self.finish(
                        report,
                        Outcome::FailedRolledBack,
                        Some(cause),
                        Some(format!("{reason}; rolled back to {}", short_task_definition(&a.previous))),
                    );
                } else {
                    report.ecs_deployment_id = a.watch.deployment_id.clone();
                    if let Some(hook) = request.after_deploy.as_ref().filter(|_| !a.after_deploy.passed) {
                        let task_definition = a.watch.task_definition.clone();
                        let started_before = a.after_deploy.started;
                        a.after_deploy.started = true;
                        match self
                            .run_hook(request, report, HookKind::AfterDeploy, hook, &task_definition, &service.launch, started_before)
                            .await
                        {
                            HookVerdict::Passed => a.after_deploy.passed = true,
                            HookVerdict::Stopped => return true,
                            HookVerdict::Failed(reason) => {
                                return self.fail(request, report, a, FailureCause::Hook, reason, EcsRollback::None).await;
                            }
                        }
                    }
                    let note = self.move_environment_tag(request, report).await;
                    self.finish(report, Outcome::Succeeded, None, note);
                }
                self.observer.record(report);
                true
            }
            Assessment::Failed { cause, reason, ecs_rollback } => {
                // ecs-native: a rollback ECS made at a hook, on an alarm or on request looks like
                // a circuit-breaker failure from DescribeServices; the service deployment says
                // which it was.
                let (cause, reason) = match (request.strategy, cause) {
                    (Strategy::EcsNative, FailureCause::CircuitBreaker) => {
                        self.native_rollback_cause(request, a).await.unwrap_or((cause, reason))
                    }
                    _ => (cause, reason),
                };
                // The circuit breaker's count and threshold, as ECS judged them, in the reason.
                let reason = match (cause, self.breaker_count(request).await) {
                    (FailureCause::CircuitBreaker, Some(said)) => format!("{reason} ({said})"),
                    _ => reason,
                };
                // Whatever ferry concluded first (its own count of failed tasks, the
                // timeout), ECS's circuit breaker may have tripped in the same moment: a
                // second rollback of ferry's would race ECS's reactivation.
                let ours_failed = a
                    .watch
                    .deployment_id
                    .as_deref()
                    .and_then(|id| service.deployment(id))
                    .is_some_and(|d| d.rollout_state.as_deref() == Some("FAILED"));
                let ecs = match ecs_rollback {
                    Some(id) => EcsRollback::Started(id),
                    None => {
                        match service.primary().filter(|p| p.task_definition == a.previous && Some(&p.id) != a.watch.deployment_id.as_ref())
                        {
                            // ECS already put the previous revision back.
                            Some(p) => EcsRollback::Started(p.id.clone()),
                            // The circuit breaker failed ours and will roll back by itself.
                            None if service.circuit_breaker_rollback && (cause == FailureCause::CircuitBreaker || ours_failed) => {
                                EcsRollback::Expected
                            }
                            None => EcsRollback::None,
                        }
                    }
                };
                self.fail(request, report, a, cause, reason, ecs).await
            }
        }
    }

    /// A platform call, given until `deadline` (or [`LATE_CALL_MS`] when that has passed):
    /// an endpoint that stalls must not hold the watch past it. The SDK bounds each call
    /// too, but by its own clock, not the deploy's.
    pub(super) async fn before<T>(
        &self,
        deadline: i64,
        operation: &str,
        call: impl Future<Output = Result<T, PlatformError>>,
    ) -> Result<T, PlatformError> {
        let allowed = (deadline - self.clock.now_ms()).max(LATE_CALL_MS);
        let call = std::pin::pin!(call);
        let timer = std::pin::pin!(self.clock.sleep(Duration::from_millis(allowed as u64)));
        match futures::future::select(call, timer).await {
            futures::future::Either::Left((result, _)) => result,
            futures::future::Either::Right(_) => {
                Err(PlatformError::new(operation, None, format!("no answer before the deadline (waited {}s)", (allowed + 999) / 1000)))
            }
        }
    }

    /// Reads the stopped tasks of our deployment and reports each new failure (a scale-in
    /// stop says nothing about the version, so only failures are reported and quoted).
    /// Returns the stopped tasks not seen before; None when there is no deployment to ask
    /// about or the call failed (the next look tries again).
    pub(super) async fn read_stopped(&self, request: &Request, report: &ServiceReport, a: &mut Active) -> Option<Vec<StoppedTask>> {
        let id = a.watch.deployment_id.clone()?;
        let stopped = match self.before(a.watch_deadline(), "ecs:ListTasks", self.ecs.stopped_tasks(&request.cluster, &id)).await {
            Ok(stopped) => stopped,
            Err(e) => {
                tracing::debug!("cannot list stopped tasks: {e}");
                return None;
            }
        };
        let ours: Vec<StoppedTask> = stopped.into_iter().filter(|t| t.task_definition == a.watch.task_definition).collect();
        let fresh = a.watch.take_new_stopped(ours);
        for task in fresh.iter().filter(|t| crate::rolling::is_task_failure(t)) {
            let reason = stop_reason(task);
            a.last_stop = Some(reason.clone());
            self.emit(report, Event::TaskStopped { service: request.service.clone(), task: task.arn.clone(), reason });
        }
        Some(fresh)
    }

    /// The new tasks' health for the progress line, only when the observer shows it and
    /// new tasks run: every `HEALTH_INTERVAL_MS`, and at once when the rollout moved, since
    /// tasks turning healthy is what moves it (old tasks stop, the deployment completes).
    pub(super) async fn task_health(&self, request: &Request, a: &mut Active, progress: &Progress, now: i64) -> Option<TaskHealth> {
        let deployment = a.watch.deployment_id.as_deref()?;
        if !self.observer.wants_task_health() || progress.new_running == 0 {
            return None;
        }
        let since = a.health_read_at.map_or(i64::MAX, |at| now - at);
        let moved = a.health_read_for.as_ref() != Some(progress);
        if since >= HEALTH_INTERVAL_MS || moved {
            a.health_read_at = Some(now);
            a.health_read_for = Some(progress.clone());
            match self.ecs.task_health(&request.cluster, deployment).await {
                Ok(health) => a.health = Some(health),
                Err(e) => tracing::debug!("cannot read task health: {e}"),
            }
        }
        a.health
    }

    /// Behind a load balancer, the new tasks' targets are part of the verdict (see
    /// [`crate::target_health`]): the progress carries each target group's healthy count; a
    /// target unhealthy past the grace period fails the deploy with the health check's
    /// reason; and COMPLETED is success only once a read made at or after the look that
    /// found it shows every new task healthy in every group (ECS waits for that too, but a
    /// stale answer must not end the deploy). Read every [`TARGET_INTERVAL_MS`] while new
    /// tasks run, and at once when the deployment is first seen COMPLETED. Not for a
    /// rollback, which ECS's own judgement and the timeout watch.
    pub(super) async fn judge_targets(
        &self,
        request: &Request,
        a: &mut Active,
        service: &ServiceInfo,
        verdict: Assessment,
        now: i64,
    ) -> Assessment {
        let (mut progress, succeeded) = match verdict {
            Assessment::InProgress(p) => (p, false),
            Assessment::Succeeded(p) => (p, true),
            failed => return failed,
        };
        let groups = crate::target_health::target_groups(&service.load_balancers);
        let deployment = a.watch.deployment_id.clone();
        let (false, false, Some(deployment)) = (a.rolling_back, groups.is_empty(), deployment) else {
            return if succeeded { Assessment::Succeeded(progress) } else { Assessment::InProgress(progress) };
        };
        // Success is judged once, before the bake; while baking, targets are still read
        // (an unhealthy one fails the deploy) but do not hold success back.
        let judging_success = succeeded && a.bake_until.is_none();
        if judging_success && a.targets.completed_seen_at.is_none() {
            a.targets.completed_seen_at = Some(now);
        }
        let fresh_enough = a.targets.read_at.zip(a.targets.completed_seen_at).is_some_and(|(read, completed)| read >= completed);
        let due = a.targets.read_at.is_none_or(|at| now - at >= TARGET_INTERVAL_MS) || (judging_success && !fresh_enough);
        if due && (progress.new_running > 0 || succeeded) {
            let counts = (progress.new_running, progress.new_pending, progress.new_desired, progress.failed_tasks);
            match self.read_targets(request, a, service, &deployment, counts).await {
                Ok((tasks, health)) => {
                    let grace_ms = i64::from(service.health_check_grace_period_seconds.unwrap_or(0).max(0)) * 1000;
                    let expected = progress.new_desired.max(0) as u32;
                    if let Some(reason) = a.targets.observe(now, &tasks, &service.load_balancers, &health, expected, grace_ms) {
                        return Assessment::Failed { cause: FailureCause::UnhealthyTargets, reason, ecs_rollback: None };
                    }
                }
                Err(e) => {
                    a.targets.errors += 1;
                    if a.targets.errors >= MAX_OBSERVATION_ERRORS {
                        let reason = format!("cannot read the health of the new tasks in their target groups: {e}");
                        return Assessment::Failed { cause: FailureCause::Platform, reason, ecs_rollback: None };
                    }
                }
            }
        }
        // Before the first read too: the line names the groups the new tasks must turn
        // healthy in (`web-tg 0/4 healthy`).
        let expected = progress.new_desired.max(0) as u32;
        progress.targets = if a.targets.groups.is_empty() {
            crate::target_health::summarize(&service.load_balancers, &[], expected)
        } else {
            a.targets.groups.iter().cloned().map(|g| crate::target_health::GroupHealth { expected, ..g }).collect()
        };
        let fresh_enough = a.targets.read_at.zip(a.targets.completed_seen_at).is_some_and(|(read, completed)| read >= completed);
        match (succeeded, judging_success) {
            (true, false) => Assessment::Succeeded(progress),
            (true, true) if fresh_enough && crate::target_health::all_healthy(&progress.targets) => Assessment::Succeeded(progress),
            _ => Assessment::InProgress(progress),
        }
    }

    /// The running tasks of our deployment and the health of every target of the service's
    /// target groups: a DescribeTargetHealth per group, and a ListTasks and DescribeTasks
    /// when the tasks may have changed: the deployment's counts moved since they were
    /// listed, fewer were listed than ECS counts running, or the targets say so (a target
    /// no listed task explains appeared, or a listed task's target left: a task replaced
    /// between two looks without a failure counted; see
    /// [`crate::target_health::TargetWatch::tasks_outdated`]). A task keeps its address.
    async fn read_targets(
        &self,
        request: &Request,
        a: &mut Active,
        service: &ServiceInfo,
        deployment: &str,
        counts: crate::target_health::DeploymentCounts,
    ) -> Result<(Vec<RunningTask>, BTreeMap<String, Vec<TargetHealthInfo>>), PlatformError> {
        let deadline = a.watch_deadline();
        let mut health = BTreeMap::new();
        for (arn, _) in crate::target_health::target_groups(&service.load_balancers) {
            let targets = self.before(deadline, "elasticloadbalancing:DescribeTargetHealth", self.elb.describe_target_health(arn)).await?;
            health.insert(arn.to_string(), targets);
        }
        let tasks = match &a.targets.tasks {
            Some((listed_at, tasks))
                if *listed_at == counts
                    && tasks.len() as i32 >= counts.0
                    && !a.targets.tasks_outdated(tasks, &service.load_balancers, &health) =>
            {
                tasks.clone()
            }
            _ => {
                let tasks = self.before(deadline, "ecs:DescribeTasks", self.ecs.running_tasks(&request.cluster, deployment)).await?;
                a.targets.tasks = Some((counts, tasks.clone()));
                tasks
            }
        };
        Ok((tasks, health))
    }

    /// After a rolling deploy: point the environment's registry tag at what now runs, so
    /// whatever names `repo:ENV` (Terraform, a person) sees the deployed digest. A failure
    /// here does not undo the deploy; it is said in the report.
    pub(super) async fn move_environment_tag(&self, request: &Request, report: &ServiceReport) -> Option<String> {
        let (Some(tag), Some(digest), Strategy::Rolling) = (&request.image_tag, &report.to_digest, request.strategy) else {
            return None;
        };
        match self.registry.move_tag(&request.repository, digest, tag).await {
            Ok(()) => {
                let detail =
                    Detail::EnvironmentTagMoved { repository: request.repository.clone(), tag: tag.clone(), digest: digest.clone() };
                self.phase(report, Phase::Done, detail);
                None
            }
            Err(e) => {
                let detail =
                    Detail::EnvironmentTagNotMoved { repository: request.repository.clone(), tag: tag.clone(), error: e.to_string() };
                self.phase(report, Phase::Done, detail);
                // The report's reason says it too: the deploy succeeded with a warning.
                Some(format!("deployed, but the environment tag {}:{tag} was not moved: {e}", request.repository))
            }
        }
    }
}

/// The in-flight state of one service in the watch loop.
pub(super) struct Active {
    pub(super) index: usize,
    pub(super) watch: Watch,
    pub(super) rolling_back: bool,
    /// The revision to return to on failure.
    pub(super) previous: String,
    pub(super) deadline: i64,
    pub(super) next_poll: i64,
    pub(super) started: i64,
    pub(super) last_progress: Option<Progress>,
    pub(super) quiet_polls: u32,
    pub(super) errors: u32,
    pub(super) last_renew: i64,
    /// Why the forward deploy failed, once it has.
    pub(super) failure: Option<(FailureCause, String)>,
    /// The last stop reason seen for a task of ours: the evidence a failure report cites.
    pub(super) last_stop: Option<String>,
    /// Deployments that existed when ours started (and ours): a rollback adopts none of them.
    pub(super) earlier_deployments: Vec<String>,
    /// env-tag: the tag and the digest it pointed at before, restored on rollback; and the
    /// rollback must force a new deployment (the revision does not change).
    pub(super) tag_restore: Option<(String, String)>,
    /// env-tag: the tag is back on the previous digest (journaled), so it is not moved again.
    pub(super) tag_restored: bool,
    /// While waiting for the circuit breaker's own rollback: when ferry stops waiting.
    pub(super) ecs_rollback_deadline: Option<i64>,
    /// Once our deployment is COMPLETED: when the bake period ends.
    pub(super) bake_until: Option<i64>,
    /// While baking: our deployment's running count at the last look (a drop is worth
    /// reading the stopped tasks for).
    pub(super) baked_running: Option<i32>,
    /// The new tasks' health as last read, when, and the progress it was read for.
    pub(super) health: Option<TaskHealth>,
    pub(super) health_read_at: Option<i64>,
    pub(super) health_read_for: Option<Progress>,
    /// Behind a load balancer: the new tasks' targets as last read.
    pub(super) targets: TargetWatch,
    /// The `after_deploy` hook: started (by this run or a dead one), passed.
    pub(super) after_deploy: journal::HookFacts,
    /// ecs-native: the service deployment followed, and the hooks answered.
    pub(super) native: super::native::NativeWatch,
    /// The alarm gate: when its alarms were last read (epoch ms; 0: never).
    pub(super) alarms_read_at: i64,
}

impl Active {
    /// How long a look at this service may take: its deadline, or the end of its bake
    /// when that is later (a COMPLETED deployment is not held to the deploy's timeout).
    fn watch_deadline(&self) -> i64 {
        self.bake_until.map_or(self.deadline, |until| until.max(self.deadline))
    }
}

/// Looks that fall due within this window are made together, to batch DescribeServices.
pub(super) const COALESCE_MS: i64 = 300;

/// Consecutive failed observations (after the SDK's own retries) before giving up on a watch.
pub(super) const MAX_OBSERVATION_ERRORS: u32 = 5;

/// How often ferry looks at a baking deployment (ECS relaunches a crashed task within
/// seconds; its failedTasks counter tells).
pub(super) const BAKE_POLL_MS: i64 = 2_000;

/// How often the new tasks' health is read for someone watching: health checks run every
/// 5 to 300 s (30 s by default), so reading more often would show nothing new.
pub(super) const HEALTH_INTERVAL_MS: i64 = 2_000;

/// How often the alarm gate's alarms are read while a deploy runs or bakes (an alarm's
/// period is 10 s at the shortest, 60 s for most metrics).
pub(super) const ALARM_INTERVAL_MS: i64 = 2_000;

/// How often the new tasks' targets are read: a health check runs every 5 to 300 s (30 s
/// by default), and a target changes state only after several in a row.
pub(super) const TARGET_INTERVAL_MS: i64 = 2_000;

/// How long a call made after the deadline has passed may take: one last look before the
/// deploy is given up on (an endpoint that answers is not cut off mid-answer).
pub(super) const LATE_CALL_MS: i64 = 2_000;
