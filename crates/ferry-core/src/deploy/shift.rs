//! The executor of blue-green, canary and linear deploys: observes what AWS holds (the
//! production and preparing rules, the service's per-version ECS services and target groups
//! found by name and `ferry:*` tags, their target health and auto scaling), asks
//! [`crate::strategy::blue_green::next`] for the next step, journals it before and after
//! applying it, and asks again, until the machine says done.
//!
//! A run killed at any moment is finished by the same command: the journal holds what AWS
//! cannot say (which version was live, the checks' verdict, the weights ferry set and when,
//! the old version's auto scaling), AWS holds the rest.

use std::collections::HashMap;

use super::preflight::Refusal;
use super::*;
use crate::journal::JournalStep;
use crate::platform::{NewService, PlatformResult, ScalableTarget, ScalingSettings, TaggedService};
use crate::strategy::blue_green::{self as bg, Ending, Plan, VersionService, VersionTargetGroup};

/// How often a waiting step (health, hold, bake) looks again.
const POLL: Duration = Duration::from_secs(1);
/// How often a waiting step says it is still waiting.
const SAY_EVERY_MS: i64 = 10_000;
/// The most steps one run applies: a bound against a decision that loops.
const MAX_STEPS: usize = 200;

/// What the executor remembers between looks: the services and target groups of the
/// service's versions (only ferry creates or deletes them during a deploy), and each
/// service's auto scaling (read once, again after ferry changed it).
struct Seen {
    services: Vec<String>,
    groups: Vec<VersionTargetGroup>,
    scaling: HashMap<String, Option<ScalingSettings>>,
}

/// Why a traffic-shifting deploy ended before its end.
struct Stopped {
    outcome: Outcome,
    cause: FailureCause,
    reason: String,
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// The service's live version for a traffic-shifting deploy ([`live_version`]), as a
    /// preflight refusal when there is none.
    pub(super) async fn live_version(&self, request: &Request, traffic: &Traffic) -> Result<ServiceInfo, Refusal> {
        let location = request.variables.ecs_location();
        if self.elb.describe_route(&traffic.preparing_rule).await.map_err(Refusal::platform)?.is_none() {
            return Err(Refusal::state(format!("the preparing rule {} was not found ({location})", traffic.preparing_rule)));
        }
        let family = Family {
            cluster: &request.cluster,
            environment: &request.environment,
            service: &request.service,
            ecs_service: &request.ecs_service,
        };
        match live_version(self.ecs, self.elb, &family, &traffic.production_rule).await.map_err(Refusal::platform)? {
            Live::Found(service) => Ok(*service),
            Live::NoRule => Err(Refusal::state(format!("the production rule {} was not found ({location})", traffic.production_rule))),
            Live::NoForward => Err(Refusal::state(format!(
                "the production rule {} does not forward to a target group with a weight above 0: ferry moves traffic between target groups",
                traffic.production_rule
            ))),
            Live::NoService(group) => Err(Refusal::state(format!(
                "no ACTIVE service of {} in cluster {} registers its tasks with {}, which the production rule forwards to",
                request.service,
                request.cluster,
                crate::platform::target_group_name(&group)
            ))),
        }
    }

    async fn family(&self, request: &Request, names: Option<&[String]>) -> PlatformResult<Vec<TaggedService>> {
        let family = Family {
            cluster: &request.cluster,
            environment: &request.environment,
            service: &request.service,
            ecs_service: &request.ecs_service,
        };
        family_services(self.ecs, &family, names).await
    }

    /// The target groups of the family: green's by its name, and every group tagged
    /// `ferry:env` and `ferry:service` like the services (DescribeTargetGroups, then
    /// DescribeTags 20 at a time).
    async fn family_groups(&self, plan: &Plan) -> PlatformResult<Vec<VersionTargetGroup>> {
        family_groups(self.elb, plan).await
    }

    /// A service's auto scaling: its scalable target's limits and its policies; None when it
    /// has no scalable target.
    async fn scaling_of(&self, cluster: &str, service: &str) -> PlatformResult<Option<ScalingSettings>> {
        let resource_id = ScalableTarget::resource_id(cluster, service);
        let Some(target) = self.scaling.describe_scalable_target(&resource_id).await? else { return Ok(None) };
        let policies = self.scaling.describe_scaling_policies(&resource_id).await?;
        Ok(Some(ScalingSettings { min_capacity: target.min_capacity, max_capacity: target.max_capacity, policies }))
    }

    /// Runs a blue-green, canary or linear deploy of `task_definition` (registered, or a
    /// known revision) to its end, and finishes the report: succeeded (or unchanged when the
    /// version was live already), failed and rolled back (production traffic back on the old
    /// version, the new one removed), or stopped for a person (someone else changed the
    /// rules, a rollback that could not finish).
    pub(super) async fn shift_traffic(&self, request: &Request, report: &mut ServiceReport, prepared: &Prepared, task_definition: String) {
        report.to_task_definition = Some(task_definition.clone());
        report.outcome = Outcome::Error;
        self.observer.record(report);
        let ended = match &request.traffic {
            Some(traffic) => self.shift(request, report, prepared, traffic, &task_definition).await,
            None => Err(Stopped {
                outcome: Outcome::Error,
                cause: FailureCause::Platform,
                reason: format!("services.{}.blue_green is missing: ferry cannot tell where traffic moves", request.service),
            }),
        };
        match ended {
            Ok(Ending::Deployed) => self.finish(report, Outcome::Succeeded, None, None),
            Ok(Ending::AlreadyLive) => self.finish(report, Outcome::Unchanged, None, None),
            // Never returned: a rollback ends as a failure (below) with its reason.
            Ok(Ending::RolledBack) => self.finish(report, Outcome::FailedRolledBack, Some(FailureCause::Gate), None),
            Err(Stopped { outcome, cause, reason }) => self.finish(report, outcome, Some(cause), Some(reason)),
        }
        self.observer.record(report);
    }

    async fn shift(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        prepared: &Prepared,
        traffic: &Traffic,
        task_definition: &str,
    ) -> Result<Ending, Stopped> {
        let platform = |e: PlatformError| Stopped {
            outcome: Outcome::Error,
            cause: FailureCause::Platform,
            reason: format!("{e}; run the same command again to carry on from where it stopped"),
        };
        let version = report.to_version.clone().or_else(|| request.version.clone()).unwrap_or_default();
        let plan = Plan {
            environment: request.environment.clone(),
            service: request.service.clone(),
            ecs_service: request.ecs_service.clone(),
            version,
            deployment_id: report.deployment_id.clone(),
            task_definition: task_definition.to_string(),
            production_rule: traffic.production_rule.clone(),
            preparing_rule: traffic.preparing_rule.clone(),
            healthy: traffic.healthy,
            shift: traffic.shift.clone(),
            bake: request.bake,
            keep: traffic.keep,
            reuse: None,
        };
        let mut steps: Vec<JournalStep> = prepared.resumed.as_ref().map(|d| d.steps.clone()).unwrap_or_default();
        let family = self.family(request, None).await.map_err(platform)?;
        // A service of the family that runs this very revision (a kept version, or the
        // environment's own service rolled back to) is brought back, not made again.
        let mut plan = plan;
        if let Some(existing) = family
            .iter()
            .filter(|s| s.service.status == "ACTIVE" && s.service.task_definition == task_definition)
            .max_by_key(|s| s.created_at)
            && let Some(group) = existing.service.load_balancers.iter().find_map(|lb| lb.target_group_arn.as_deref())
        {
            plan.reuse = Some(bg::Reuse {
                service: existing.service.name.clone(),
                target_group_name: crate::platform::target_group_name(group).to_string(),
            });
        }
        let plan = plan;
        let mut seen = Seen {
            services: family.iter().map(|s| s.service.name.clone()).collect(),
            groups: self.family_groups(&plan).await.map_err(platform)?,
            scaling: HashMap::new(),
        };
        if !seen.services.contains(&plan.green_service()) {
            seen.services.push(plan.green_service());
        }
        let started = self.clock.now_ms();
        let deadline = started + request.timeout.as_millis() as i64;
        let mut rollback_deadline: Option<i64> = None;
        if let Some(reason) = &traffic.roll_back
            && bg::Facts::from_steps(&steps).rollback.is_none()
        {
            rollback_deadline = Some(self.decide_rollback(request, report, &mut steps, reason.clone())?);
        }
        let mut last_said: Option<(String, i64)> = None;
        for _ in 0..MAX_STEPS * 100 {
            let facts = bg::Facts::from_steps(&steps);
            let production = self.elb.describe_route(&plan.production_rule).await.map_err(platform)?;
            let preparing = self.elb.describe_route(&plan.preparing_rule).await.map_err(platform)?;
            let mut services = Vec::new();
            for tagged in self.family(request, Some(&seen.services)).await.map_err(platform)? {
                let name = tagged.service.name.clone();
                let scaling = match seen.scaling.get(&name) {
                    Some(known) => known.clone(),
                    None => {
                        let read = self.scaling_of(&request.cluster, &name).await.map_err(platform)?;
                        seen.scaling.insert(name.clone(), read.clone());
                        read
                    }
                };
                services.push(VersionService::from_tagged(&tagged, scaling));
            }
            let mut healthy = Vec::new();
            let mut arns: Vec<&str> = seen.groups.iter().map(|g| g.arn.as_str()).collect();
            if let Some(blue) = &facts.blue {
                arns.push(blue.target_group.as_str());
            }
            for route in [&production, &preparing].into_iter().flatten() {
                arns.extend(route.weights().iter().map(|(a, _)| a.as_str()));
            }
            arns.sort_unstable();
            arns.dedup();
            for arn in arns {
                let targets = self.elb.describe_target_health(arn).await.map_err(platform)?;
                healthy.push((arn.to_string(), targets.iter().filter(|t| t.state == "healthy").count() as u32));
            }
            let now = self.clock.now_ms();
            let observed = bg::Observed {
                facts: &facts,
                now_ms: now,
                production: production.as_ref(),
                preparing: preparing.as_ref(),
                services: &services,
                target_groups: &seen.groups,
                healthy: &healthy,
            };
            let step = bg::next(&plan, &observed);
            // Gates that read the running deploy: a failed production probe, or green with
            // no healthy target, while traffic is on it.
            if facts.rollback.is_none()
                && let bg::Step::Hold { .. } | bg::Step::Bake { .. } = &step
                && let Some(reason) = match self.production_gate(report, &plan, &facts, &observed) {
                    Some(reason) => Some(reason),
                    None if !request.alarms.is_empty() => self.alarm_gate(request).await,
                    None => None,
                }
            {
                rollback_deadline = Some(self.decide_rollback(request, report, &mut steps, reason.clone())?);
                continue;
            }
            match &step {
                bg::Step::Done { ending: Ending::RolledBack } => {
                    self.say(report, &step);
                    let why = facts.rollback.clone().unwrap_or_else(|| "the deploy failed".into());
                    let back_on = facts.blue.as_ref().map_or("the old version".to_string(), |b| format!("service {}", b.service));
                    return Err(Stopped {
                        outcome: Outcome::FailedRolledBack,
                        cause: if traffic.roll_back.is_some() { FailureCause::Requested } else { FailureCause::Gate },
                        reason: format!("{why}; production traffic is back on {back_on}, and the new version was removed"),
                    });
                }
                bg::Step::Done { ending } => {
                    self.say(report, &step);
                    return Ok(*ending);
                }
                bg::Step::Stop { reason } => {
                    return Err(Stopped {
                        outcome: Outcome::RollbackFailed,
                        cause: FailureCause::RuleChanged,
                        reason: format!("{reason} (nothing more was changed; see `ferry status {}`)", request.environment),
                    });
                }
                bg::Step::WaitHealthy { target_group, required } => {
                    let have = observed_healthy(&healthy, target_group);
                    let rolling_back = facts.rollback.is_some();
                    let until = if rolling_back {
                        *rollback_deadline.get_or_insert(now + request.rollback_timeout.as_millis() as i64)
                    } else {
                        deadline
                    };
                    if now >= until {
                        let what = format!(
                            "{} has {have} of {required} healthy targets after {}",
                            crate::platform::target_group_name(target_group),
                            humantime::format_duration(Duration::from_secs(((now - started) / 1000) as u64))
                        );
                        if rolling_back {
                            return Err(Stopped {
                                outcome: Outcome::RollbackFailed,
                                cause: FailureCause::Timeout,
                                reason: format!("rolling back: {what}; production traffic was not moved back"),
                            });
                        }
                        rollback_deadline = Some(self.decide_rollback(request, report, &mut steps, what)?);
                        continue;
                    }
                    self.say_waiting(report, &step, &mut last_said, now);
                    self.clock.sleep(POLL).await;
                }
                bg::Step::WaitDrained { service } => {
                    let until = *rollback_deadline.get_or_insert(now + request.rollback_timeout.as_millis() as i64);
                    if now >= until {
                        return Err(Stopped {
                            outcome: Outcome::RollbackFailed,
                            cause: FailureCause::Timeout,
                            reason: format!(
                                "service {service} is still DRAINING, so its target group cannot be deleted yet; run the same command again later"
                            ),
                        });
                    }
                    self.say_waiting(report, &step, &mut last_said, now);
                    self.clock.sleep(POLL).await;
                }
                bg::Step::Hold { until_ms, .. } | bg::Step::Bake { until_ms } => {
                    self.say_waiting(report, &step, &mut last_said, now);
                    self.clock.sleep(Duration::from_millis((*until_ms - now).clamp(1, POLL.as_millis() as i64) as u64)).await;
                }
                bg::Step::RunChecks { rule, target_group } => {
                    let data = step.journal_data();
                    let seq = self.journal_mirrored(report, &mut steps, bg::names::CHECKS, &data)?;
                    let verdict = self.gates.check_preparing(&preparing_check(request, traffic, rule, target_group)).await;
                    kill_point("bg-after-checks");
                    let (passed, said) = match &verdict {
                        GateVerdict::Passed(what) => (true, what.clone()),
                        GateVerdict::Skipped(why) => (true, format!("not probed ({why}); target health passed")),
                        GateVerdict::Failed(why) => (false, why.clone()),
                    };
                    self.finish_mirrored(report, &mut steps, seq, &json!({"passed": passed, "reason": said}));
                    self.phase(report, Phase::Traffic, Detail::Checked { passed, summary: said.clone() });
                    if !passed {
                        let reason = format!("the checks through the preparing rule failed: {said}");
                        rollback_deadline = Some(self.decide_rollback(request, report, &mut steps, reason)?);
                    }
                }
                _ => {
                    last_said = None;
                    // Every later step of a canary or linear shift is gated like the first: the
                    // checks through the preparing rule (and check_command) again.
                    if let bg::Step::ShiftWeights { forward, green_percent, .. } = &step
                        && facts.rollback.is_none()
                        && !facts.shifts.is_empty()
                        && *green_percent > 0
                        && let Some(blue) = &facts.blue
                        && let Some((green, _)) = forward.iter().find(|(arn, _)| *arn != blue.target_group)
                    {
                        let verdict = self.gates.check_preparing(&preparing_check(request, traffic, &plan.preparing_rule, green)).await;
                        if let GateVerdict::Failed(why) = verdict {
                            self.phase(report, Phase::Traffic, Detail::Checked { passed: false, summary: why.clone() });
                            let reason = format!("the checks through the preparing rule failed before {green_percent}%: {why}");
                            rollback_deadline = Some(self.decide_rollback(request, report, &mut steps, reason)?);
                            continue;
                        }
                    }
                    self.apply(request, report, &mut steps, &mut seen, &step, &services).await?;
                    if let bg::Step::RollBack { .. } = step {
                        rollback_deadline = Some(self.clock.now_ms() + request.rollback_timeout.as_millis() as i64);
                    }
                }
            }
        }
        Err(Stopped {
            outcome: Outcome::Error,
            cause: FailureCause::Platform,
            reason: "the blue/green steps did not come to an end (a bug in ferry; the same command resumes)".into(),
        })
    }

    /// The gates of a running shift (hold or bake): production probe requests that failed
    /// since traffic first moved, or green with no healthy target. The reason, when one fails.
    fn production_gate(&self, report: &ServiceReport, plan: &Plan, facts: &bg::Facts, observed: &bg::Observed<'_>) -> Option<String> {
        let first_shift = facts.shifts.first()?.at;
        if let Some(failed) = self.gates.failed_since(&report.deployment_id, first_shift)
            && failed > 0
        {
            return Some(format!("{failed} probe request(s) through the production listener failed since traffic started moving"));
        }
        let green = observed.target_groups.iter().find(|g| g.name == plan.green_target_group())?;
        (observed_healthy(observed.healthy, &green.arn) == 0)
            .then(|| format!("{} has no healthy target while it receives production traffic", green.name))
    }

    /// Applies one step that changes something in AWS (or journals a decision), journaled
    /// before and after.
    async fn apply(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        steps: &mut Vec<JournalStep>,
        seen: &mut Seen,
        step: &bg::Step,
        services: &[VersionService],
    ) -> Result<(), Stopped> {
        let failed = |e: PlatformError| Stopped {
            outcome: Outcome::Error,
            cause: FailureCause::Platform,
            reason: format!("{e}; run the same command again to carry on from where it stopped"),
        };
        let Some(name) = step.journal_name() else { return Ok(()) };
        let rolling_back = bg::Facts::from_steps(steps).rollback.is_some();
        let data = step.journal_data();
        let seq = self.journal_mirrored(report, steps, name, &data)?;
        let mut done = data.clone();
        let result: PlatformResult<()> = async {
            match step {
                bg::Step::Begin { .. } | bg::Step::RollBack { .. } => {}
                bg::Step::CreateTargetGroup { name, like, tags } => {
                    let group = self.elb.create_target_group(name, like, tags).await?;
                    kill_point("bg-after-create-target-group");
                    done["arn"] = json!(group.arn);
                    seen.groups.retain(|g| g.arn != group.arn);
                    seen.groups.push(VersionTargetGroup {
                        arn: group.arn,
                        name: group.name,
                        deployment: Some(report.deployment_id.clone()),
                    });
                }
                bg::Step::CreateService { name, like, task_definition, desired, target_group, tags } => {
                    let live = self.ecs.describe_services(&request.cluster, std::slice::from_ref(like)).await?;
                    let live = live.into_iter().find(|s| &s.name == like).ok_or_else(|| {
                        PlatformError::new("ecs:DescribeServices", None, format!("service {like} not found in cluster {}", request.cluster))
                    })?;
                    let mut spec = NewService::like(
                        &live,
                        &request.cluster,
                        name,
                        task_definition,
                        *desired,
                        std::slice::from_ref(target_group),
                        tags.clone(),
                    );
                    // The same call with the same token makes no second service.
                    spec.client_token = Some(crate::naming::client_token(&report.deployment_id, name));
                    let created = self.ecs.create_service(&spec).await?;
                    kill_point("bg-after-create-service");
                    done["arn"] = json!(created.arn);
                    if !seen.services.contains(name) {
                        seen.services.push(name.clone());
                    }
                }
                bg::Step::AttachToPreparing { rule, target_group } => {
                    self.elb.set_forward(rule, &[(target_group.clone(), 1)]).await?;
                    kill_point("bg-after-attach-preparing");
                }
                bg::Step::ShiftWeights { rule, forward, green_percent } => {
                    self.elb.set_forward(rule, forward).await?;
                    kill_point(&format!("bg-after-shift-{green_percent}"));
                }
                bg::Step::RestorePreparing { rule, forward } => {
                    self.elb.set_forward(rule, forward).await?;
                    kill_point("bg-after-restore-preparing");
                }
                bg::Step::CopyScaling { service, settings } => {
                    let resource_id = ScalableTarget::resource_id(&request.cluster, service);
                    let target = ScalableTarget {
                        resource_id: resource_id.clone(),
                        min_capacity: settings.min_capacity,
                        max_capacity: settings.max_capacity,
                    };
                    self.scaling.register_scalable_target(&target).await?;
                    for policy in &settings.policies {
                        self.scaling.put_scaling_policy(&resource_id, policy).await?;
                    }
                    seen.scaling.remove(service);
                    kill_point("bg-after-copy-scaling");
                }
                bg::Step::RetireOld { service, arn, .. } => {
                    // Auto scaling first (remembered in the journal's data), so it does not put
                    // the desired count back; then 0 tasks; then the tag.
                    self.scaling.deregister_scalable_target(&ScalableTarget::resource_id(&request.cluster, service)).await?;
                    seen.scaling.remove(service);
                    kill_point("bg-after-deregister-scaling");
                    self.ecs.set_desired_count(&request.cluster, service, 0).await?;
                    self.ecs.tag_service(arn, &[(bg::tags::STATUS.to_string(), bg::tags::OBSOLETE.to_string())]).await?;
                    kill_point("bg-after-retire");
                }
                bg::Step::MarkLive { arn, .. } => {
                    self.ecs.tag_service(arn, &[(bg::tags::STATUS.to_string(), bg::tags::LIVE.to_string())]).await?;
                    kill_point("bg-after-mark-live");
                }
                bg::Step::ScaleUp { service, desired } => {
                    self.ecs.set_desired_count(&request.cluster, service, *desired).await?;
                    // A retired version brought back is no longer obsolete: it is about to take
                    // traffic — as the new version (a deploy marks it live at the end), or as the
                    // live one again (a rollback).
                    if let Some(arn) = services.iter().find(|s| &s.name == service).map(|s| s.arn.clone())
                        && services.iter().any(|s| &s.name == service && s.ferry_status.as_deref() == Some(bg::tags::OBSOLETE))
                    {
                        let status = if rolling_back { bg::tags::LIVE } else { bg::tags::NEW };
                        self.ecs.tag_service(&arn, &[(bg::tags::STATUS.to_string(), status.to_string())]).await?;
                    }
                    kill_point("bg-after-scale-up");
                }
                bg::Step::DeleteService { service } => {
                    // Retired first when it still runs tasks (ECS refuses to delete a service
                    // with a desired count unless forced; ferry scales it in).
                    if let Some(s) = services.iter().find(|s| &s.name == service)
                        && s.scaling.is_some()
                    {
                        self.scaling.deregister_scalable_target(&ScalableTarget::resource_id(&request.cluster, service)).await?;
                        seen.scaling.remove(service);
                    }
                    self.ecs.delete_service(&request.cluster, service).await?;
                    kill_point("bg-after-delete-service");
                }
                bg::Step::DeleteTargetGroup { arn } => {
                    match self.elb.delete_target_group(arn).await {
                        // A rule ferry is not configured with (an earlier preparing rule, say)
                        // still forwards to it: left for a person, said, not a failed deploy.
                        Err(e) if e.code.as_deref() == Some("ResourceInUse") => {
                            done["left"] = json!(e.message);
                            let detail = Detail::TargetGroupLeft {
                                target_group: crate::platform::target_group_name(arn).to_string(),
                                why: e.message,
                            };
                            self.phase(report, Phase::Traffic, detail);
                        }
                        other => other?,
                    }
                    seen.groups.retain(|g| &g.arn != arn);
                    kill_point("bg-after-delete-target-group");
                }
                bg::Step::WaitHealthy { .. }
                | bg::Step::WaitDrained { .. }
                | bg::Step::RunChecks { .. }
                | bg::Step::Hold { .. }
                | bg::Step::Bake { .. }
                | bg::Step::Stop { .. }
                | bg::Step::Done { .. } => {}
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                self.finish_mirrored(report, steps, seq, &done);
                // A group left in use was said as such, not as deleted.
                if done.get("left").is_none() {
                    self.say(report, step);
                }
                Ok(())
            }
            Err(e) => {
                if let Err(journal) = self.observer.step_finished(report, seq, StepState::Failed, &data) {
                    tracing::warn!("cannot journal the failure of a step of {}: {journal}", report.deployment_id);
                }
                if let Some(mirrored) = steps.iter_mut().find(|s| s.seq == seq) {
                    mirrored.state = StepState::Failed;
                }
                Err(failed(e))
            }
        }
    }

    /// Journals the decision to roll back and why; returns when the rollback must be done by
    /// (the request's `rollback_timeout` from now, epoch ms).
    fn decide_rollback(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        steps: &mut Vec<JournalStep>,
        reason: String,
    ) -> Result<i64, Stopped> {
        self.journal_step(report, steps, &bg::Step::RollBack { reason })?;
        Ok(self.clock.now_ms() + request.rollback_timeout.as_millis() as i64)
    }

    /// Journals a journal-only step (a decision: begin, roll back) as started and done.
    fn journal_step(&self, report: &mut ServiceReport, steps: &mut Vec<JournalStep>, step: &bg::Step) -> Result<(), Stopped> {
        let Some(name) = step.journal_name() else { return Ok(()) };
        let data = step.journal_data();
        let seq = self.journal_mirrored(report, steps, name, &data)?;
        self.finish_mirrored(report, steps, seq, &data);
        self.say(report, step);
        Ok(())
    }

    /// Journals a step's start, and keeps it in `steps` (this run's copy of the journal,
    /// which the machine's facts are read from).
    fn journal_mirrored(&self, report: &mut ServiceReport, steps: &mut Vec<JournalStep>, name: &str, data: &Value) -> Result<i64, Stopped> {
        let at = self.clock.now_ms();
        let seq = self.observer.step_started(report, name, data).map_err(|e| Stopped {
            outcome: Outcome::Error,
            cause: FailureCause::Ledger,
            reason: format!("cannot journal the step {name} in the ledger, so ferry stopped before it: {e}; run the same command again"),
        })?;
        steps.push(JournalStep {
            seq,
            name: name.to_string(),
            state: StepState::Started,
            started_at: at,
            finished_at: None,
            data: data.clone(),
        });
        Ok(seq)
    }

    fn finish_mirrored(&self, report: &ServiceReport, steps: &mut [JournalStep], seq: i64, data: &Value) {
        self.journal_done(report, seq, data);
        if let Some(step) = steps.iter_mut().find(|s| s.seq == seq) {
            step.state = StepState::Done;
            step.finished_at = Some(self.clock.now_ms());
            step.data = data.clone();
        }
    }

    /// Tells the observer about a step (the live view, the JSON lines, the ledger's events).
    fn say(&self, report: &ServiceReport, step: &bg::Step) {
        self.phase(report, Phase::Traffic, Detail::Traffic { step: step.clone() });
    }

    /// A waiting step is said when it starts, and every [`SAY_EVERY_MS`] while it lasts.
    fn say_waiting(&self, report: &ServiceReport, step: &bg::Step, last: &mut Option<(String, i64)>, now: i64) {
        let key = format!("{:?}", std::mem::discriminant(step));
        let due = match last {
            Some((said, at)) => *said != key || now - *at >= SAY_EVERY_MS,
            None => true,
        };
        if due {
            *last = Some((key, now));
            self.say(report, step);
        }
    }
}

/// Healthy targets of `arn` as observed (0 when not read).
fn observed_healthy(healthy: &[(String, u32)], arn: &str) -> u32 {
    healthy.iter().find(|(a, _)| a == arn).map(|(_, n)| *n).unwrap_or(0)
}

/// A service's versions, as blue-green finds them: in `cluster`, the environment's own ECS
/// service `ecs_service` and every service tagged `ferry:env` = `environment` and
/// `ferry:service` = `service`.
pub struct Family<'a> {
    pub cluster: &'a str,
    pub environment: &'a str,
    pub service: &'a str,
    pub ecs_service: &'a str,
}

/// The services of the family (`names`: only these, as known; None: all of the cluster's,
/// listed), described with their tags ten at a time.
pub async fn family_services<E: Ecs>(ecs: &E, family: &Family<'_>, names: Option<&[String]>) -> PlatformResult<Vec<TaggedService>> {
    let listed;
    let names = match names {
        Some(names) => names,
        None => {
            listed = ecs.list_services(family.cluster).await?;
            &listed[..]
        }
    };
    let mut found = Vec::new();
    for chunk in names.chunks(10) {
        for tagged in ecs.describe_tagged_services(family.cluster, chunk).await? {
            let ours = tagged.service.name == family.ecs_service
                || (tagged.tag(bg::tags::ENV) == Some(family.environment) && tagged.tag(bg::tags::SERVICE) == Some(family.service));
            if ours {
                found.push(tagged);
            }
        }
    }
    Ok(found)
}

/// What [`live_version`] found.
pub enum Live {
    /// The live version's service.
    Found(Box<ServiceInfo>),
    /// The production rule does not exist.
    NoRule,
    /// It forwards to no target group with a weight above 0.
    NoForward,
    /// No ACTIVE service of the family registers with the group it forwards to most (ARN).
    NoService(String),
}

/// The live version of a blue-green, canary or linear service: the ACTIVE service of the
/// family whose tasks register with the target group the production rule (a listener or
/// listener rule ARN) gives the largest weight (the newest on a tie).
pub async fn live_version<E: Ecs, B: Elb>(ecs: &E, elb: &B, family: &Family<'_>, production_rule: &str) -> PlatformResult<Live> {
    let Some(production) = elb.describe_route(production_rule).await? else { return Ok(Live::NoRule) };
    let Some((live_group, _)) = production.weights().iter().filter(|(_, w)| *w > 0).max_by_key(|(_, w)| *w) else {
        return Ok(Live::NoForward);
    };
    let found = family_services(ecs, family, None)
        .await?
        .into_iter()
        .filter(|s| s.service.status == "ACTIVE")
        .filter(|s| s.service.load_balancers.iter().any(|lb| lb.target_group_arn.as_deref() == Some(live_group.as_str())))
        .max_by_key(|s| (s.service.desired, s.created_at));
    Ok(match found {
        Some(tagged) => Live::Found(Box::new(tagged.service)),
        None => Live::NoService(live_group.clone()),
    })
}

/// What the checks through the preparing rule check for a request.
fn preparing_check(request: &Request, traffic: &Traffic, rule: &str, target_group: &str) -> PreparingCheck {
    PreparingCheck {
        environment: request.environment.clone(),
        service: request.service.clone(),
        preparing_rule: rule.to_string(),
        target_group: target_group.to_string(),
        command: traffic.check_command.clone(),
        body: traffic.check_body.clone(),
        json: traffic.check_json.clone(),
    }
}

/// The target groups of a plan's family: green's by its name, and every group tagged
/// `ferry:env` and `ferry:service` like the services (DescribeTargetGroups, then DescribeTags
/// 20 at a time).
async fn family_groups<B: Elb>(elb: &B, plan: &Plan) -> PlatformResult<Vec<VersionTargetGroup>> {
    let all = elb.list_target_groups().await?;
    let mut found = Vec::new();
    for chunk in all.chunks(20) {
        let arns: Vec<String> = chunk.iter().map(|g| g.arn.clone()).collect();
        let tags = elb.describe_tags(&arns).await?;
        for group in chunk {
            let group_tags = tags.iter().find(|t| t.arn == group.arn).map(|t| t.tags.as_slice()).unwrap_or_default();
            if bg::is_group_of(plan, &group.name, group_tags) {
                found.push(VersionTargetGroup::from_tagged(group, group_tags));
            }
        }
    }
    Ok(found)
}

/// What [`clean_up_versions`] did (or, dry, would do).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionCleanUp {
    /// Services deleted, in order (names).
    pub services: Vec<String>,
    /// Target groups deleted, in order (names).
    pub target_groups: Vec<String>,
    /// Why it stopped before the end: production traffic split between groups, or a deleted
    /// service still draining past [`DRAIN_WAIT`] (its target group is left for next time).
    pub left: Option<String>,
}

/// How long [`clean_up_versions`] waits for a deleted service to drain before it leaves its
/// target group for the next clean-up.
pub const DRAIN_WAIT: Duration = Duration::from_secs(120);

/// `ferry gc`: the clean-up a blue-green, canary or linear deploy ends with
/// ([`bg::next_clean_up`]), outside a deploy — retired versions of `family` beyond the
/// `keep` newest and ferry-made target groups nothing uses are deleted (DeleteService with
/// `force`, then DeleteTargetGroup once the service drained); never the version behind the
/// production rule, a group a rule forwards to, or a service ferry did not create. With
/// `dry_run`, nothing is deleted and what would be is returned. The caller holds the
/// service's lock.
pub async fn clean_up_versions<E: Ecs, B: Elb, C: Clock>(
    ecs: &E,
    elb: &B,
    clock: &C,
    family: &Family<'_>,
    traffic: &Traffic,
    dry_run: bool,
) -> PlatformResult<VersionCleanUp> {
    let plan = Plan {
        environment: family.environment.to_string(),
        service: family.service.to_string(),
        ecs_service: family.ecs_service.to_string(),
        version: String::new(),
        deployment_id: String::new(),
        task_definition: String::new(),
        production_rule: traffic.production_rule.clone(),
        preparing_rule: traffic.preparing_rule.clone(),
        healthy: None,
        shift: traffic.shift.clone(),
        bake: Duration::ZERO,
        keep: traffic.keep,
        reuse: None,
    };
    let facts = bg::Facts::default();
    let mut done = VersionCleanUp::default();
    let production = elb.describe_route(&plan.production_rule).await?;
    let preparing = elb.describe_route(&plan.preparing_rule).await?;
    if production.as_ref().is_some_and(|p| p.weights().iter().filter(|(_, w)| *w > 0).count() > 1) {
        done.left = Some("production traffic is split between target groups (a shift under way or stopped): nothing judged".into());
        return Ok(done);
    }
    let mut groups = family_groups(elb, &plan).await?;
    let mut services: Vec<VersionService> =
        family_services(ecs, family, None).await?.iter().map(|tagged| VersionService::from_tagged(tagged, None)).collect();
    let started = clock.now_ms();
    for _ in 0..MAX_STEPS {
        let observed = bg::Observed {
            facts: &facts,
            now_ms: clock.now_ms(),
            production: production.as_ref(),
            preparing: preparing.as_ref(),
            services: &services,
            target_groups: &groups,
            healthy: &[],
        };
        let Some(step) = bg::next_clean_up(&plan, &observed) else { break };
        match step {
            bg::Step::DeleteService { service } => {
                if !dry_run {
                    ecs.delete_service(family.cluster, &service).await?;
                }
                done.services.push(service.clone());
                // Dry: as if gone at once. Else: DRAINING, as ECS will say.
                match dry_run {
                    true => services.retain(|s| s.name != service),
                    false => services.iter_mut().filter(|s| s.name == service).for_each(|s| s.status = "DRAINING".into()),
                }
            }
            bg::Step::WaitDrained { service } => {
                if clock.now_ms() - started > DRAIN_WAIT.as_millis() as i64 {
                    done.left = Some(format!("service {service} is still draining; its target group goes at the next clean-up"));
                    break;
                }
                clock.sleep(POLL).await;
                let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
                services = family_services(ecs, family, Some(&names))
                    .await?
                    .iter()
                    .filter(|tagged| tagged.service.status != "INACTIVE")
                    .map(|tagged| VersionService::from_tagged(tagged, None))
                    .collect();
            }
            bg::Step::DeleteTargetGroup { arn } => {
                let name = crate::platform::target_group_name(&arn).to_string();
                let deleted = match dry_run {
                    true => Ok(()),
                    false => elb.delete_target_group(&arn).await,
                };
                match deleted {
                    Ok(()) => done.target_groups.push(name),
                    // A rule ferry is not configured with still forwards to it: left, said.
                    Err(e) if e.code.as_deref() == Some("ResourceInUse") => {
                        done.left = Some(format!("target group {name} is still in use ({}): left for a person", e.message));
                    }
                    Err(e) => return Err(e),
                }
                groups.retain(|g| g.arn != arn);
            }
            // The clean-up decides only these.
            _ => break,
        }
    }
    Ok(done)
}
