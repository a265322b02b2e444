//! Preflight: everything checked before anything changes, from one batched snapshot of
//! the clusters and services; what becomes of a dead run's unfinished deployment (resumed or
//! superseded); the env-tag strategy's own checks; the tags ferry puts on a revision.

use super::*;
use crate::platform::PlatformResult;

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// Preflight of every request, eight at a time, from one batched snapshot.
    pub(super) async fn preflight_all(
        &self,
        requests: &[Request],
        reports: &mut [ServiceReport],
        interrupted: Vec<Option<Interrupted>>,
    ) -> Vec<Option<Prepared>> {
        let snapshot = &self.snapshot(requests).await;
        stream::iter(requests.iter().zip(reports.iter_mut()).zip(interrupted))
            // A request refused before preflight (the journal could not be read) stays so.
            .map(|((r, rep), dead)| async move {
                if rep.finished_at.is_some() {
                    return None;
                }
                self.preflight(r, rep, snapshot, dead).await
            })
            .buffered(MAX_PARALLEL)
            .collect()
            .await
    }

    /// Checks everything that can be checked without changing anything.
    pub(super) async fn preflight(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        snapshot: &Snapshot,
        dead: Option<Interrupted>,
    ) -> Option<Prepared> {
        // The undo of an atomic promotion runs inside the promotion: it resumes nothing.
        let dead = dead.filter(|_| request.lock_owner.is_none());
        match self.try_preflight(request, report, snapshot, dead).await {
            Ok(prepared) => {
                let detail = match &prepared.target {
                    Target::Register(_) => Detail::PreflightNewRevision {
                        from_version: report.from_version.clone(),
                        image: report.image.clone(),
                        changes: report.changes.len(),
                    },
                    Target::Running { definition, force } => {
                        Detail::PreflightUnchanged { task_definition: definition.arn.clone(), force: *force }
                    }
                    Target::Existing(td) => Detail::PreflightRevision {
                        from_task_definition: report.from_task_definition.clone(),
                        to_task_definition: td.arn.clone(),
                    },
                    Target::Force { tag, digest, previous_digest, .. } => Detail::PreflightTagMove {
                        from_version: report.from_version.clone(),
                        to_version: report.to_version.clone(),
                        repository: request.repository.clone(),
                        tag: tag.clone(),
                        from: previous_digest.clone(),
                        to: digest.clone(),
                    },
                };
                self.phase(report, Phase::Preflight, detail);
                Some(prepared)
            }
            Err(Refusal { reason, invalid_input, platform, .. }) => {
                report.invalid_input = invalid_input;
                if platform {
                    // A call that failed (access denied, endpoint down) is not a refusal on
                    // the merits: exit 3, as for any platform error.
                    self.finish(report, Outcome::Error, Some(FailureCause::Platform), Some(reason));
                } else {
                    self.finish(report, Outcome::Refused, None, Some(reason));
                }
                None
            }
        }
    }

    /// The clusters and services of a run, described once up front: one DescribeClusters per
    /// cluster and one DescribeServices per ten services, however many services deploy.
    pub(super) async fn snapshot(&self, requests: &[Request]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        // A request with a bad version is refused before any call, so it is not described.
        for r in requests.iter().filter(|r| r.version_error().is_none()) {
            let names = by_cluster.entry(r.cluster.as_str()).or_default();
            if !names.contains(&r.ecs_service) {
                names.push(r.ecs_service.clone());
            }
        }
        for (cluster, names) in by_cluster {
            let described = self.ecs.describe_cluster(cluster).await;
            // A cluster that could not be described (endpoint down, access denied) fails
            // its services' preflight anyway: do not spend another bounded call per ten.
            let reachable = described.is_ok();
            snapshot.clusters.insert(cluster.to_string(), described);
            if !reachable {
                continue;
            }
            for chunk in names.chunks(10) {
                let described = self.ecs.describe_services(cluster, chunk).await;
                for name in chunk {
                    let found = described.as_ref().map(|list| list.iter().find(|s| &s.name == name).cloned()).map_err(Clone::clone);
                    snapshot.services.insert((cluster.to_string(), name.clone()), found);
                }
            }
        }
        snapshot
    }

    pub(super) async fn try_preflight(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        snapshot: &Snapshot,
        dead: Option<Interrupted>,
    ) -> Result<Prepared, Refusal> {
        if let Some(error) = request.version_error() {
            return Err(Refusal::input(error));
        }
        let traffic = match (&request.traffic, request.strategy.shifts_traffic()) {
            (Some(traffic), true) => Some(traffic),
            (None, true) => {
                return Err(Refusal::input(format!(
                    "services.{}.strategy = \"{}\" needs a [services.{}.blue_green] table with production_rule and preparing_rule (nothing was changed)",
                    request.service,
                    request.strategy.name(),
                    request.service
                )));
            }
            _ => None,
        };
        let cluster = snapshot.clusters.get(&request.cluster).cloned().unwrap_or(Ok(None)).map_err(Refusal::platform)?;
        match cluster {
            None => return Err(Refusal::state(format!("cluster {} not found ({})", request.cluster, request.variables.ecs_location()))),
            Some(c) if c.status != "ACTIVE" => {
                return Err(Refusal::state(format!("cluster {} is {}, not ACTIVE", request.cluster, c.status)));
            }
            Some(_) => {}
        }
        // blue-green, canary, linear: what runs is the version the production rule sends
        // traffic to, whichever of the family's services that is.
        let current = match traffic {
            Some(traffic) => Some(self.live_version(request, traffic).await?),
            None => snapshot
                .services
                .get(&(request.cluster.clone(), request.ecs_service.clone()))
                .cloned()
                .unwrap_or(Ok(None))
                .map_err(Refusal::platform)?,
        };
        let Some(current) = current else {
            return Err(Refusal::state(format!(
                "service {} not found in cluster {} ({})",
                request.ecs_service,
                request.cluster,
                request.variables.ecs_location()
            )));
        };
        if current.status != "ACTIVE" {
            return Err(Refusal::state(format!("service {} is {}, not ACTIVE", request.ecs_service, current.status)));
        }
        // The new version runs as many tasks as the live one: more healthy ones never come.
        if let Some(healthy) = traffic.and_then(|t| t.healthy)
            && i64::from(healthy) > i64::from(current.desired.max(1))
        {
            return Err(Refusal::input(format!(
                "services.{}.blue_green.healthy = {healthy} in ferry.toml, but the live version ({}) runs {} task(s) and the new one runs as many: \
                 lower healthy, or scale the service first (nothing was changed)",
                request.service, current.name, current.desired
            )));
        }
        // A new version's service replaces the one target group the production rule moves;
        // more would be dropped from it, so they are refused rather than lost.
        if traffic.is_some() && current.load_balancers.len() > 1 {
            let groups: Vec<&str> = current
                .load_balancers
                .iter()
                .filter_map(|lb| lb.target_group_arn.as_deref())
                .map(crate::platform::target_group_name)
                .collect();
            return Err(Refusal::state(format!(
                "service {} registers its tasks with {} target groups ({}): the {} strategy moves one, and several per service are not supported yet (nothing was changed)",
                current.name,
                current.load_balancers.len(),
                groups.join(", "),
                request.strategy.name()
            )));
        }
        if current.deployment_controller != "ECS" {
            return Err(Refusal::state(format!(
                "service {} uses the {} deployment controller; the rolling strategy needs ECS",
                request.ecs_service, current.deployment_controller
            )));
        }
        let ecs_strategy = current.deployment_strategy.as_deref().unwrap_or("ROLLING");
        if request.strategy != Strategy::EcsNative && matches!(ecs_strategy, "BLUE_GREEN" | "LINEAR" | "CANARY") {
            return Err(Refusal::state(format!(
                "service {} is deployed by ECS's own {ecs_strategy} strategy (its deploymentConfiguration.strategy): ECS moves its \
                 traffic and pauses at its lifecycle hooks, which the {} strategy would neither follow nor answer. Set strategy = \"ecs-native\" \
                 for {} in ferry.toml (nothing was changed)",
                request.ecs_service,
                request.strategy.name(),
                request.service
            )));
        }
        if request.strategy == Strategy::EcsNative {
            let strategy = ecs_strategy;
            if !matches!(strategy, "BLUE_GREEN" | "LINEAR" | "CANARY") {
                return Err(Refusal::state(format!(
                    "service {} deploys with ECS's {strategy} deployment strategy, but strategy = \"ecs-native\" needs BLUE_GREEN, LINEAR or CANARY \
                     (the service's deploymentConfiguration.strategy, with loadBalancers[].advancedConfiguration; in Terraform, \
                     deployment_configuration {{ strategy = \"BLUE_GREEN\" }}); or deploy it with strategy = \"rolling\" (nothing was changed)",
                    request.ecs_service
                )));
            }
            if !current.load_balancers.iter().any(|lb| lb.advanced.is_some()) {
                return Err(Refusal::state(format!(
                    "service {} deploys with ECS's {strategy} strategy but none of its loadBalancers has an advancedConfiguration \
                     (alternateTargetGroupArn, productionListenerRule): ECS has nowhere to move traffic (nothing was changed)",
                    request.ecs_service
                )));
            }
            self.check_native_rules(request, &current).await?;
        }
        if let Some(reason) = crate::rolling::stuck_deployment_configuration(&current) {
            return Err(Refusal::state(reason));
        }
        // Behind a load balancer: the target groups the watch will read must exist (one
        // DescribeTargetGroups each). ECS would register the new tasks nowhere otherwise.
        for (arn, _) in crate::target_health::target_groups(&current.load_balancers) {
            if self.elb.describe_target_group(arn).await.map_err(Refusal::platform)?.is_none() {
                return Err(Refusal::state(format!(
                    "target group {} of service {} not found ({arn}; {})",
                    crate::platform::target_group_name(arn),
                    request.ecs_service,
                    request.variables.ecs_location()
                )));
            }
        }
        let current_definition = self.ecs.describe_task_definition(&current.task_definition).await.map_err(Refusal::platform)?;
        report.from_task_definition = Some(current_definition.arn.clone());
        report.from_version = current_definition.tag("ferry:version").map(str::to_string).or_else(|| {
            taskdef::container_image(&current_definition.definition, &request.container).and_then(crate::image_tag).map(str::to_string)
        });
        report.from_digest = current_definition.tag("ferry:digest").map(str::to_string);
        report.running = current.running;
        report.desired = current.desired;
        report.target_groups =
            crate::target_health::target_groups(&current.load_balancers).into_iter().map(|(arn, _)| arn.to_string()).collect();

        if let Source::Revision(revision) = &request.source {
            let target = self.ecs.describe_task_definition(revision).await.map_err(|e| match e.code.as_deref() {
                // ECS's answer for a revision that does not exist.
                Some("ClientException") => {
                    Refusal::state(format!("task definition {revision} not found ({}; {})", e.message, request.variables.ecs_location()))
                }
                _ => Refusal::platform(e),
            })?;
            // ECS refuses UpdateService to a deregistered revision (API reference,
            // DeregisterTaskDefinition: an INACTIVE revision cannot start new tasks or be
            // the target of a service update).
            if target.definition.get("status").and_then(Value::as_str) == Some("INACTIVE") && target.arn != current.task_definition {
                return Err(Refusal::state(format!(
                    "{} was deregistered (INACTIVE): ECS cannot deploy it again. Deploy its version instead (`ferry deploy {} {}=VERSION`), which registers a new revision",
                    short_task_definition(&target.arn),
                    request.environment,
                    request.service
                )));
            }
            if taskdef::family(&target.definition) != taskdef::family(&current_definition.definition) {
                return Err(Refusal::input(format!(
                    "{} is not a revision of {}",
                    short_task_definition(&target.arn),
                    taskdef::family(&current_definition.definition).unwrap_or("the service's family")
                )));
            }
            let not_checked = self.check_dependencies(request, &target.definition, &current).await?;
            self.not_checked(report, not_checked);
            report.to_task_definition = Some(target.arn.clone());
            report.to_version = target.tag("ferry:version").map(str::to_string).or(report.to_version.clone());
            report.to_digest = target.tag("ferry:digest").map(str::to_string);
            report.image = taskdef::container_image(&target.definition, &request.container).map(str::to_string);
            report.changes = taskdef::diff(&without_ferry_tags(&current_definition.definition), &without_ferry_tags(&target.definition));
            let same = dead.as_ref().is_some_and(|d| d.to_task_definition.as_deref() == Some(target.arn.as_str()));
            let (facts, resumed, supersedes) = self.resume_or_supersede(request, report, dead, same);
            if let Some(traffic) = traffic
                && resumed.is_none()
            {
                self.shift_can_start(request, traffic, supersedes.as_ref()).await?;
            }
            return Ok(Prepared { current, current_definition, target: Target::Existing(target), facts, resumed, supersedes });
        }

        let version = request.version.clone().unwrap_or_default();
        // A repository that does not exist is the platform's state, not a failed call.
        let registry_refusal = |e: PlatformError| {
            if e.code.as_deref() == Some("RepositoryNotFoundException") {
                Refusal::state(format!("{} ({})", e.message, request.variables.registry_location()))
            } else {
                Refusal::platform(e)
            }
        };
        let image = match &request.digest {
            Some(digest) => {
                self.registry.resolve_digest(&request.repository, digest).await.map_err(registry_refusal)?.ok_or_else(|| {
                    Refusal::state(format!(
                        "image {}@{digest} not found in the registry ({})",
                        request.repository,
                        request.variables.registry_location()
                    ))
                })?
            }
            None => self.registry.resolve(&request.repository, &version).await.map_err(registry_refusal)?.ok_or_else(|| {
                Refusal::state(format!(
                    "image {}:{version} not found in the registry ({})",
                    request.repository,
                    request.variables.registry_location()
                ))
            })?,
        };
        if request.strategy == Strategy::EnvTag {
            return self.prepare_env_tag(request, report, current, current_definition, image, dead).await;
        }
        // A promotion names the digest that was tested: deploy exactly it, whatever the tag
        // points at by now.
        let reference = if request.pin_digest || request.digest.is_some() {
            format!("{}@{}", image.repository_uri, image.digest)
        } else {
            format!("{}:{version}", image.repository_uri)
        };
        report.to_digest = Some(image.digest.clone());
        report.image = Some(reference.clone());

        let mut definition = match &request.source {
            Source::Template { name, text } => {
                let variables = Variables {
                    version: version.clone(),
                    digest: image.digest.clone(),
                    image: reference.clone(),
                    repository_uri: image.repository_uri.clone(),
                    // Not configured: the account the service lives in, from its ARN.
                    account: Some(request.variables.account.clone())
                        .filter(|a| !a.is_empty())
                        .or_else(|| crate::config::account_of_arn(&current.arn).map(str::to_string))
                        .unwrap_or_default(),
                    ..request.variables.clone()
                };
                let rendered = template::render_task_definition(name, text, &variables).map_err(|e| Refusal::input(e.to_string()))?;
                if let Some(warning) = taskdef::read_only_warning(&rendered) {
                    self.phase(report, Phase::Preflight, Detail::TemplateWarning { template: name.clone(), warning });
                }
                rendered
            }
            Source::Live | Source::Revision(_) => {
                let mut live = current_definition.definition.clone();
                taskdef::strip_read_only(&mut live);
                live
            }
        };
        // A template's errors name the template, as `ferry check` does.
        let in_template = |message: String| match &request.source {
            Source::Template { name, .. } => format!("{name}: {message}"),
            _ => message,
        };
        taskdef::set_image(&mut definition, &request.container, &reference)
            .map_err(|e| Refusal::input(in_template(format!("services.{}.container in ferry.toml: {e}", request.service))))?;
        let not_checked = self.check_dependencies(request, &definition, &current).await.map_err(|r| r.in_template(&in_template))?;
        self.not_checked(report, not_checked);
        // The same target is the same digest and the same task definition: a template or
        // ferry.toml edited since the dead run registered its revision makes a new one.
        let same = match dead.as_ref().filter(|d| d.to_digest.as_deref() == Some(image.digest.as_str())) {
            None => false,
            Some(d) => {
                let facts = Facts::from_steps(&d.steps);
                // The dead run's revision: journaled, or (its answer lost) the family's newest
                // if it carries the dead run's id.
                let theirs = match (&facts.registered, facts.register_started, taskdef::family(&definition)) {
                    (Some(arn), _, _) => self.ecs.describe_task_definition(arn).await.ok(),
                    (None, true, Some(family)) => self
                        .ecs
                        .describe_task_definition(family)
                        .await
                        .ok()
                        .filter(|td| td.tag("ferry:deployment") == Some(d.deployment_id.as_str())),
                    _ => None,
                };
                match theirs {
                    Some(theirs) => {
                        let mut theirs = theirs.definition;
                        taskdef::strip_read_only(&mut theirs);
                        taskdef::diff(&without_ferry_tags(&theirs), &without_ferry_tags(&definition)).is_empty()
                    }
                    // Nothing registered yet, or not readable: the definition decides nothing.
                    None => facts.registered.is_none(),
                }
            }
        };
        let (facts, resumed, supersedes) = self.resume_or_supersede(request, report, dead, same);
        let deployment_id = resumed.as_ref().map_or(request.trace.deployment_id.as_str(), |d| d.deployment_id.as_str());
        set_tags(&mut definition, ferry_tags(request, deployment_id, &version, &image.digest));
        self.ecs.validate_task_definition(&definition).map_err(|e| Refusal::input(in_template(e.message)))?;
        report.changes = taskdef::diff(&without_ferry_tags(&current_definition.definition), &without_ferry_tags(&definition));
        if let Some(force) = unchanged(request, report, &current, &current_definition, &image.digest, &facts) {
            report.to_task_definition = Some(current_definition.arn.clone());
            let target = Target::Running { definition: current_definition.clone(), force };
            return Ok(Prepared { current, current_definition, target, facts, resumed, supersedes });
        }
        if let Some(traffic) = traffic {
            if resumed.is_none() {
                self.shift_can_start(request, traffic, supersedes.as_ref()).await?;
            }
            // The version's service exists already (kept, or left by a stopped deploy, or
            // brought back by the dead run this one resumes): it is deployed again as it is
            // when it runs what ferry.toml renders now, else refused.
            if let Some(theirs) = self.version_service_revision(request, &current, &version).await? {
                let mut stripped = theirs.definition.clone();
                taskdef::strip_read_only(&mut stripped);
                let differences = taskdef::diff(&without_ferry_tags(&stripped), &without_ferry_tags(&definition));
                if differences.is_empty() && theirs.tag("ferry:digest") == Some(image.digest.as_str()) {
                    report.to_task_definition = Some(theirs.arn.clone());
                    return Ok(Prepared { current, current_definition, target: Target::Existing(theirs), facts, resumed, supersedes });
                }
                let name = crate::naming::version_service_name(&request.ecs_service, &version);
                return Err(Refusal::state(format!(
                    "service {name} already runs version {version} as {}, and ferry.toml now renders another task definition for it ({} change{}): \
                     it receives no production traffic, so delete it (aws ecs delete-service --cluster {} --service {name} --force) and its target group \
                     {}, or deploy the change as another version (nothing was changed)",
                    short_task_definition(&theirs.arn),
                    differences.len(),
                    if differences.len() == 1 { "" } else { "s" },
                    request.cluster,
                    crate::naming::target_group_name(&request.environment, &request.service, &version)
                )));
            }
        }
        Ok(Prepared { current, current_definition, target: Target::Register(definition), facts, resumed, supersedes })
    }

    /// A traffic shift starts from one live target group: refused (nothing changed) when the
    /// production rule forwards to several, saying what to do — finish or roll back a
    /// deployment a dead run left mid-shift (`dead`), or put all traffic on one group.
    async fn shift_can_start(&self, request: &Request, traffic: &Traffic, dead: Option<&Interrupted>) -> Result<(), Refusal> {
        let Some(production) = self.elb.describe_route(&traffic.production_rule).await.map_err(Refusal::platform)? else { return Ok(()) };
        let receiving: Vec<String> = production
            .weights()
            .iter()
            .filter(|(_, w)| *w > 0)
            .map(|(arn, _)| {
                format!("{} {}%", crate::platform::target_group_name(arn), crate::strategy::blue_green::share(&production, arn))
            })
            .collect();
        if receiving.len() < 2 {
            return Ok(());
        }
        let what = match dead {
            Some(dead) => format!(
                "a deploy of {} ({}) was left in the middle of its traffic shift: finish it with `ferry deploy {} {}={}`, or put traffic back with `ferry rollback {} {}`",
                dead.to_version.as_deref().unwrap_or("another version"),
                dead.deployment_id,
                request.environment,
                request.service,
                dead.to_version.as_deref().unwrap_or("VERSION"),
                request.environment,
                request.service
            ),
            None => {
                "put all traffic on one of them first (the rule's forward, in the console or with aws elbv2 modify-rule / modify-listener)"
                    .to_string()
            }
        };
        Err(Refusal::state(format!(
            "the production rule {} forwards {}: a blue/green, canary or linear deploy starts from one live target group; {what} (nothing was changed)",
            traffic.production_rule,
            receiving.join(", ")
        )))
    }

    /// The revision of the service that runs `version` of the request's service (named by
    /// [`crate::naming::version_service_name`]), when it exists, is ACTIVE and is not the live
    /// one (`current`).
    async fn version_service_revision(
        &self,
        request: &Request,
        current: &ServiceInfo,
        version: &str,
    ) -> Result<Option<TaskDefinitionInfo>, Refusal> {
        let name = crate::naming::version_service_name(&request.ecs_service, version);
        if name == current.name {
            return Ok(None);
        }
        let found = self.ecs.describe_services(&request.cluster, std::slice::from_ref(&name)).await.map_err(Refusal::platform)?;
        let Some(service) = found.into_iter().find(|s| s.name == name && s.status == "ACTIVE") else { return Ok(None) };
        self.ecs.describe_task_definition(&service.task_definition).await.map(Some).map_err(Refusal::platform)
    }

    /// Decides what becomes of a dead run's unfinished deployment of this service: resumed
    /// when it was deploying the same target (`same`) with the same kind and strategy —
    /// this deployment then takes its id — else superseded. Returns the journal's facts of
    /// the resumed deployment, and which of the two it is.
    pub(super) fn resume_or_supersede(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        dead: Option<Interrupted>,
        same: bool,
    ) -> (Facts, Option<Interrupted>, Option<Interrupted>) {
        let Some(dead) = dead else { return (Facts::default(), None, None) };
        let strategy = strategy::machine(request.strategy).name();
        let same = same && dead.kind == request.kind && dead.strategy.as_deref().is_none_or(|s| s == strategy);
        if !same {
            return (Facts::default(), None, Some(dead));
        }
        report.deployment_id = dead.deployment_id.clone();
        report.started_at = dead.started_at;
        report.resumed_at = Some(dead.stopped_at());
        // What ran before is what ran before the dead run changed anything.
        report.from_version = dead.from_version.clone().or(report.from_version.take());
        report.from_digest = dead.from_digest.clone().or(report.from_digest.take());
        report.from_task_definition = dead.from_task_definition.clone().or(report.from_task_definition.take());
        (Facts::from_steps(&dead.steps), Some(dead), None)
    }

    /// env-tag preflight: the running revision must name `repo:TAG`, and the tag must exist
    /// (its digest is what a rollback restores).
    pub(super) async fn prepare_env_tag(
        &self,
        request: &Request,
        report: &mut ServiceReport,
        current: ServiceInfo,
        current_definition: TaskDefinitionInfo,
        image: crate::platform::ImageInfo,
        dead: Option<Interrupted>,
    ) -> Result<Prepared, Refusal> {
        let tag = request.image_tag.clone().ok_or_else(|| Refusal::input("the env-tag strategy needs the environment's image_tag"))?;
        let expected = format!("{}:{tag}", image.repository_uri);
        let running = taskdef::container_image(&current_definition.definition, &request.container).ok_or_else(|| {
            Refusal::input(format!(
                "no container named {} in {}",
                crate::text::quoted(&request.container),
                short_task_definition(&current_definition.arn)
            ))
        })?;
        if running != expected {
            return Err(Refusal::state(format!(
                "the env-tag strategy needs container {} of {} to run {expected}, but it runs {running}",
                request.container,
                short_task_definition(&current_definition.arn)
            )));
        }
        let now_at = self.registry.resolve(&request.repository, &tag).await.map_err(Refusal::platform)?.ok_or_else(|| {
            Refusal::state(format!(
                "the environment tag {}:{tag} does not exist in the registry ({})",
                request.repository,
                request.variables.registry_location()
            ))
        })?;
        // The forced deployment starts new tasks of the running revision: what they need must
        // still be there.
        let not_checked = self.check_dependencies(request, &current_definition.definition, &current).await?;
        self.not_checked(report, not_checked);
        let same = dead.as_ref().is_some_and(|d| d.to_digest.as_deref() == Some(image.digest.as_str()));
        let (facts, resumed, supersedes) = self.resume_or_supersede(request, report, dead, same);
        // What ran before is what the tag names now — unless a dead run moved it and never
        // finished: then the digest it moved the tag from, as journaled (the tag may name
        // the dead run's digest, which nothing proved healthy).
        // A superseded dead run whose forced deployment completed left its digest running:
        // that one is what runs now.
        let forced_and_done = |f: &Facts| f.update_started_at.is_some() && super::execute::steady(&current);
        let moved_by_dead = resumed
            .as_ref()
            .map(|d| (d, Facts::from_steps(&d.steps)))
            .or_else(|| supersedes.as_ref().map(|d| (d, Facts::from_steps(&d.steps))).filter(|(_, f)| !forced_and_done(f)))
            .filter(|(_, f)| f.tag_move_started);
        let previous_digest = match moved_by_dead {
            Some((d, f)) => f.previous_digest.or(d.from_digest.clone()).unwrap_or(now_at.digest.clone()),
            None => now_at.digest.clone(),
        };
        // What runs is what the tag points at now; the revision's tags (if any) can be stale.
        report.from_digest = Some(previous_digest.clone());
        if report.from_version.as_deref() == Some(tag.as_str()) {
            report.from_version = None;
        }
        report.to_digest = Some(image.digest.clone());
        report.image = Some(expected.clone());
        report.to_task_definition = Some(current_definition.arn.clone());
        report.changes = if previous_digest == image.digest {
            Vec::new()
        } else {
            vec![Change {
                path: expected,
                old: Some(Value::String(previous_digest.clone())),
                new: Some(Value::String(image.digest.clone())),
            }]
        };
        let running_it = previous_digest == image.digest && now_at.digest == image.digest;
        if running_it
            && !request.force
            && request.kind == "deploy"
            && !facts.tag_move_started
            && facts.update_started_at.is_none()
            && super::execute::steady(&current)
        {
            let target = Target::Running { definition: current_definition.clone(), force: false };
            return Ok(Prepared { target, current, current_definition, facts, resumed, supersedes });
        }
        Ok(Prepared {
            target: Target::Force {
                definition: current_definition.clone(),
                tag,
                digest: image.digest,
                previous_digest,
                tag_now: now_at.digest,
            },
            current,
            current_definition,
            facts,
            resumed,
            supersedes,
        })
    }
}

/// Whether a deploy of a new revision is a no-op: the rendered definition equals the one the
/// service runs (`report.changes`, the normalized diff, is empty), the running revision
/// records the same digest (its `ferry:digest` tag), and nothing of this deployment has been
/// registered. Some(force) when it is: `force` asks for a new deployment of the running
/// revision (`--force`, or a resumed run whose forced UpdateService had started). None when
/// a revision must be registered — also while the service is still rolling out (not steady)
/// and nothing is forced. Only `ferry deploy` (a promotion or rollback is its own story).
fn unchanged(
    request: &Request,
    report: &ServiceReport,
    current: &ServiceInfo,
    current_definition: &TaskDefinitionInfo,
    digest: &str,
    facts: &Facts,
) -> Option<bool> {
    let same = request.kind == "deploy"
        && report.changes.is_empty()
        && report.from_digest.as_deref() == Some(digest)
        && current.task_definition == current_definition.arn
        && !facts.register_started;
    if !same {
        return None;
    }
    let force = request.force || facts.update_started_at.is_some();
    (force || super::execute::steady(current)).then_some(force)
}

/// What preflight reads about clusters and services, fetched in batches for the whole run.
#[derive(Default)]
pub(super) struct Snapshot {
    clusters: BTreeMap<String, Result<Option<ClusterInfo>, PlatformError>>,
    services: BTreeMap<(String, String), Result<Option<ServiceInfo>, PlatformError>>,
}

/// A refusal in preflight: the reason, and whether it was the user's input.
pub(super) struct Refusal {
    reason: String,
    invalid_input: bool,
    /// A platform call failed, rather than the platform's state refusing the deploy.
    platform: bool,
    /// About ferry.toml, not the template (its reason names the key): not prefixed with the
    /// template's name.
    config: bool,
}

impl Refusal {
    pub(super) fn input(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), invalid_input: true, platform: false, config: false }
    }
    pub(super) fn state(reason: impl Into<String>) -> Self {
        Refusal { reason: reason.into(), invalid_input: false, platform: false, config: false }
    }
    /// As [`Refusal::state`], about something ferry.toml names (its reason says where).
    pub(super) fn config_state(reason: impl Into<String>) -> Self {
        Refusal { config: true, ..Refusal::state(reason) }
    }
    pub(super) fn platform(e: PlatformError) -> Self {
        Refusal { reason: e.to_string(), invalid_input: false, platform: true, config: false }
    }
    /// The same refusal, its reason naming the template it came from; a failed call is the
    /// platform's words alone (the template did not cause it).
    fn in_template(self, name: &impl Fn(String) -> String) -> Self {
        if self.platform || self.config {
            return self;
        }
        Refusal { reason: name(self.reason), ..self }
    }
}

impl<E: Ecs, B: Elb, R: Registry, C: Clock, L: Locks, O: Observer, G: Logs, S: Secrets, A: AutoScaling> Run<'_, E, B, R, C, L, O, G, S, A> {
    /// ecs-native: the production and test listener rules of the service's
    /// `advancedConfiguration` exist, forward only, and forward to both target groups — ECS
    /// refuses UpdateService otherwise (ECS developer guide, "Application Load Balancer
    /// resources for blue/green deployments"), after ferry would have registered a revision.
    async fn check_native_rules(&self, request: &Request, current: &ServiceInfo) -> Result<(), Refusal> {
        for lb in &current.load_balancers {
            let (Some(advanced), Some(primary)) = (&lb.advanced, &lb.target_group_arn) else { continue };
            let rules = [
                ("productionListenerRule", Some(&advanced.production_listener_rule)),
                ("testListenerRule", advanced.test_listener_rule.as_ref()),
            ];
            for (member, rule) in rules {
                let Some(rule) = rule else { continue };
                let groups = [primary.as_str(), advanced.alternate_target_group_arn.as_str()];
                let problem = match self.elb.describe_route(rule).await.map_err(Refusal::platform)? {
                    None => Some("does not exist".to_string()),
                    Some(route) if route.actions.iter().any(|a| a.kind != "forward") => {
                        Some("has actions other than forward (ECS's blue/green needs forward actions only)".to_string())
                    }
                    Some(route) if !groups.iter().all(|g| route.weights().iter().any(|(arn, _)| arn == g)) => Some(format!(
                        "does not forward to both target groups ({} and {}), as ECS needs to move traffic between them",
                        crate::platform::target_group_name(groups[0]),
                        crate::platform::target_group_name(groups[1])
                    )),
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    return Err(Refusal::state(format!(
                        "the {member} of service {}'s advancedConfiguration ({rule}) {problem}; ECS would refuse the deployment (nothing was changed)",
                        request.ecs_service
                    )));
                }
            }
        }
        Ok(())
    }

    /// What the task definition needs besides the deployed container's image, checked
    /// before anything changes (issue 13), in the account and region of the environment:
    /// - `taskRoleArn` and `executionRoleArn` are IAM role ARNs (that the roles exist is not
    ///   read: ferry has no IAM port);
    /// - each of the service's `loadBalancers` names a container of the definition with a
    ///   `portMappings` entry of its `containerPort` (else ECS refuses UpdateService);
    /// - every other container's ECR image exists;
    /// - every `secrets[].valueFrom`, `logConfiguration.secretOptions[].valueFrom` and
    ///   `repositoryCredentials.credentialsParameter` exists: an SSM parameter (name, path or
    ///   ARN) or a Secrets Manager secret (ARN, with ECS's optional
    ///   `:json-key:version-stage:version-id` suffix), as the ECS developer guide's "Pass
    ///   sensitive data to an Amazon ECS container" reads them;
    /// - every awslogs `awslogs-group` exists in CloudWatch Logs, unless
    ///   `awslogs-create-group` is true (ECS developer guide, "Using the awslogs log driver").
    ///
    /// Whatever is missing is refused together: one reason, `; `-separated, each naming the
    /// container and field. What these credentials cannot check (another registry, account
    /// or region; access denied; IAM) is returned, one `field: value (why)` each, in the
    /// order of the containers. A lookup that fails otherwise is a platform refusal.
    pub(super) async fn check_dependencies(
        &self,
        request: &Request,
        definition: &Value,
        service: &ServiceInfo,
    ) -> Result<Vec<String>, Refusal> {
        hook_containers(request, definition)?;
        let mut roles = Vec::new();
        for field in ["taskRoleArn", "executionRoleArn"] {
            match definition.get(field) {
                None | Some(Value::Null) => {}
                Some(Value::String(arn)) if is_role_arn(arn) => roles.push(field),
                Some(other) => {
                    let shown = other.as_str().map_or_else(|| other.to_string(), str::to_string);
                    return Err(Refusal::state(format!(
                        "{field}: {shown} is not an IAM role ARN; expected arn:aws:iam::ACCOUNT:role/NAME \
                         (partition aws, aws-cn or aws-us-gov)"
                    )));
                }
            }
        }
        let mut missing = load_balancer_mismatches(definition, service);
        let account = Some(request.variables.account.as_str())
            .filter(|a| !a.is_empty())
            .or_else(|| crate::config::account_of_arn(&service.arn))
            .unwrap_or_default();
        // Where the environment's calls go: its region, else the service's (from its ARN).
        let region =
            Some(request.variables.region.as_str()).filter(|r| !r.is_empty()).or_else(|| region_of_arn(&service.arn)).unwrap_or_default();
        // Where ferry looked, for "not found": as the service's other messages say it.
        let endpoint = request.variables.endpoint.as_deref().unwrap_or_default();
        let place = [("region", region), ("account", account), ("endpoint", endpoint)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut answers = BTreeMap::new();
        let mut not_checked = Vec::new();
        let containers = definition.get("containerDefinitions").and_then(Value::as_array).into_iter().flatten();
        for container in containers {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("?");
            let at = format!("containerDefinitions[name={name}]");
            if let Some(image) = container.get("image").and_then(Value::as_str).filter(|_| name != request.container) {
                match (ecr_image(image), &request.variables.registry_url) {
                    (Some(_), Some(url)) => {
                        not_checked.push(format!("{at}.image: {image} (in ECR, while this service's images come from {url})"));
                    }
                    (Some(ecr), None) if ecr.account == account && !region.is_empty() && ecr.region == region => {
                        let found = match ecr.reference {
                            EcrReference::Digest(digest) => self.registry.resolve_digest(ecr.repository, digest).await,
                            EcrReference::Tag(tag) => self.registry.resolve(ecr.repository, tag).await,
                        };
                        let found = match found {
                            Err(e) if e.code.as_deref() == Some("RepositoryNotFoundException") => None,
                            other => other.map_err(Refusal::platform)?,
                        };
                        if found.is_none() {
                            missing.push(format!("{at}.image: {image} not found in ECR ({place}); push it, or fix the image"));
                        }
                    }
                    (Some(_), None) => not_checked.push(format!("{at}.image: {image} (ECR of another account or region than ferry's)")),
                    (None, _) => match self.registry.image_exists(image).await {
                        None => not_checked.push(format!("{at}.image: {image} (neither in ECR nor in a registry of [registries])")),
                        Some(Ok(true)) => {}
                        Some(Ok(false)) => missing.push(format!(
                            "{at}.image: {image} not found in its registry (ferry.toml's [registries]); push it, or fix the image"
                        )),
                        Some(Err(e)) => return Err(Refusal::platform(e)),
                    },
                }
            }

            let log = container.get("logConfiguration");
            let mut references = Vec::new();
            for (list, field) in
                [(container.get("secrets"), "secrets"), (log.and_then(|l| l.get("secretOptions")), "logConfiguration.secretOptions")]
            {
                for secret in list.and_then(Value::as_array).into_iter().flatten() {
                    let secret_name = secret.get("name").and_then(Value::as_str).unwrap_or("?");
                    let from = secret.get("valueFrom").and_then(Value::as_str).unwrap_or_default();
                    references.push((format!("{at}.{field}[name={secret_name}].valueFrom"), from, Store::Parameter));
                }
            }
            let credentials = container.get("repositoryCredentials").and_then(|c| c.get("credentialsParameter")).and_then(Value::as_str);
            if let Some(parameter) = credentials {
                // A name here is a Secrets Manager secret's (ECS API reference, RepositoryCredentials).
                references.push((format!("{at}.repositoryCredentials.credentialsParameter"), parameter, Store::Secret));
            }
            for (field, value, by_name) in references {
                let Some(reference) = secret_reference(value, by_name) else {
                    not_checked.push(format!("{field}: {value} (neither an SSM parameter nor a Secrets Manager secret ARN)"));
                    continue;
                };
                if let Some(elsewhere) = elsewhere(reference.region, reference.account, region, account) {
                    not_checked.push(format!("{field}: {value} ({elsewhere}: not checked with these credentials)"));
                    continue;
                }
                let leaf = field.rsplit('.').next().unwrap_or(&field);
                match self.exists(&mut answers, reference.store, reference.id).await {
                    Ok(true) => {}
                    Ok(false) if reference.store == Store::Parameter => {
                        // `name:3` reads as a parameter version, which ECS does not take in a
                        // valueFrom (aws/containers-roadmap#859): say so rather than "create it".
                        let versioned = value.rsplit_once(':').filter(|(name, version)| {
                            !name.is_empty() && !version.is_empty() && version.chars().all(|c| c.is_ascii_digit())
                        });
                        let fix = match versioned {
                            Some((name, _)) => format!(
                                "ECS reads a parameter's latest version and takes no version in {leaf}: name the parameter ({name})"
                            ),
                            None => format!("create it, or fix {leaf}"),
                        };
                        missing.push(format!("{field}: {value} not found in SSM Parameter Store ({place}); {fix}"));
                    }
                    Ok(false) => {
                        let id = if reference.id == value { String::new() } else { format!("secret {}, ", reference.id) };
                        missing.push(format!(
                            "{field}: {value} not found in Secrets Manager, or scheduled for deletion ({id}{place}); create it, or fix {leaf}"
                        ));
                    }
                    Err(e) if access_denied(&e) => {
                        not_checked.push(format!("{field}: {value} (access denied to {} with these credentials)", e.operation));
                    }
                    Err(e) => return Err(Refusal::platform(e)),
                }
            }

            let options = log.filter(|l| l.get("logDriver").and_then(Value::as_str) == Some("awslogs")).and_then(|l| l.get("options"));
            if let Some(group) = options.and_then(|o| o.get("awslogs-group")).and_then(Value::as_str) {
                let field = format!("{at}.logConfiguration.options.awslogs-group");
                let option = |name: &str| options.and_then(|o| o.get(name)).and_then(Value::as_str);
                // ECS creates the group then (with logs:CreateLogGroup in the execution role).
                // Docker reads the option as Go's strconv.ParseBool does.
                let created = option("awslogs-create-group").is_some_and(|v| ["1", "t", "T", "true", "TRUE", "True"].contains(&v));
                match option("awslogs-region").filter(|r| !r.is_empty() && *r != region) {
                    _ if created => {}
                    Some(other) => not_checked.push(format!(
                        "{field}: {group} (awslogs-region {other}, not the environment's {region}: not checked with these credentials)"
                    )),
                    None => match self.exists(&mut answers, Store::LogGroup, group).await {
                        Ok(true) => {}
                        Ok(false) => missing.push(format!(
                            "{field}: {group} not found in CloudWatch Logs ({place}); create it (Terraform aws_cloudwatch_log_group), \
                             or set awslogs-create-group = \"true\""
                        )),
                        Err(e) if access_denied(&e) => {
                            not_checked.push(format!("{field}: {group} (access denied to {} with these credentials)", e.operation));
                        }
                        Err(e) => return Err(Refusal::platform(e)),
                    },
                }
            }
        }
        if !missing.is_empty() {
            return Err(Refusal::state(missing.join("; ")));
        }
        match roles.as_slice() {
            [] => {}
            [role] => not_checked.push(format!("{role}: that the role exists (ferry does not read IAM)")),
            _ => not_checked.push(format!("{}: that the roles exist (ferry does not read IAM)", roles.join(" and "))),
        }
        // The alarm gate's alarms must exist: a misspelt name would never go into ALARM.
        if !request.alarms.is_empty() {
            match self.gates.alarms(&request.alarms).await {
                Ok(states) => {
                    let absent: Vec<&str> =
                        request.alarms.iter().filter(|n| !states.iter().any(|s| &s.name == *n)).map(String::as_str).collect();
                    if !absent.is_empty() {
                        return Err(Refusal::config_state(format!(
                            "services.{}.alarms in ferry.toml: no CloudWatch metric alarm named {} in {place} (nothing was changed)",
                            request.service,
                            absent.join(", ")
                        )));
                    }
                }
                Err(why) => not_checked.push(format!("services.{}.alarms: {} ({why})", request.service, request.alarms.join(", "))),
            }
        }
        Ok(not_checked)
    }

    /// Whether `id` exists in `store`, asked once per preflight (`answers` keeps each answer:
    /// a secret shared by several containers is one DescribeSecret).
    async fn exists(&self, answers: &mut BTreeMap<(Store, String), PlatformResult<bool>>, store: Store, id: &str) -> PlatformResult<bool> {
        if let Some(answer) = answers.get(&(store, id.to_string())) {
            return answer.clone();
        }
        let answer = match store {
            Store::Parameter => self.secrets.parameter_exists(id).await,
            Store::Secret => self.secrets.secret_exists(id).await,
            Store::LogGroup => self.logs.log_group_exists(id).await,
        };
        answers.insert((store, id.to_string()), answer.clone());
        answer
    }

    /// Says what preflight could not check (one event), and keeps it in the report.
    fn not_checked(&self, report: &mut ServiceReport, items: Vec<String>) {
        if !items.is_empty() {
            self.phase(report, Phase::Preflight, Detail::NotChecked { items: items.clone() });
        }
        report.not_checked = items;
    }
}

/// The deploy's hooks run in essential containers of the revision: a task ends when its
/// essential containers exit (ECS developer guide, "essential" in the container definition
/// parameters), so a hook's command in a non-essential one would never end the task, and
/// RunTask refuses an override of a container the definition does not have. Invalid input
/// (exit 2) naming the key, before anything is registered.
fn hook_containers(request: &Request, definition: &Value) -> Result<(), Refusal> {
    let containers = definition.get("containerDefinitions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (key, hook) in [("before_deploy", &request.before_deploy), ("after_deploy", &request.after_deploy)] {
        let Some(hook) = hook else { continue };
        let name = hook.container.as_deref().unwrap_or(&request.container);
        let at = format!("services.{}.{key}.container", request.service);
        match containers.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(name)) {
            None => {
                let names: Vec<&str> = containers.iter().filter_map(|c| c.get("name").and_then(Value::as_str)).collect();
                return Err(Refusal::input(format!(
                    "{at}: {} is not a container of the task definition (it has {})",
                    crate::text::quoted(name),
                    names.join(", ")
                )));
            }
            Some(c) if c.get("essential").and_then(Value::as_bool) == Some(false) => {
                return Err(Refusal::input(format!(
                    "{at}: {} is not essential, so the task would not end when the hook's command does \
                     (a task ends when its essential containers exit); name an essential container",
                    crate::text::quoted(name)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`, in one of the partitions ECS runs in.
fn is_role_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    ["aws", "aws-cn", "aws-us-gov"].contains(&partition)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
}

/// Where preflight looks something up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Store {
    /// SSM Parameter Store (DescribeParameters).
    Parameter,
    /// Secrets Manager (DescribeSecret).
    Secret,
    /// CloudWatch Logs' log groups (DescribeLogGroups).
    LogGroup,
}

/// A container's reference to a secret, as ECS reads it.
#[derive(Debug, PartialEq)]
struct SecretReference<'a> {
    store: Store,
    /// What is looked up: a parameter's name or ARN as written; a secret's name, or its ARN
    /// without ECS's `:json-key:version-stage:version-id` suffix.
    id: &'a str,
    /// The region and account of an ARN.
    region: Option<&'a str>,
    account: Option<&'a str>,
}

/// Reads `value` as ECS does: `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`,
/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME-abcdef[:json-key:version-stage:version-id]`,
/// or a bare name, which is in `by_name` (an SSM parameter for `secrets[].valueFrom`, a
/// Secrets Manager secret for `credentialsParameter`) in the task's region and account.
/// None when it is none of these (an ARN of another service, an empty string).
fn secret_reference(value: &str, by_name: Store) -> Option<SecretReference<'_>> {
    let Some(rest) = value.strip_prefix("arn:") else {
        return (!value.is_empty()).then_some(SecretReference { store: by_name, id: value, region: None, account: None });
    };
    let mut parts = rest.splitn(5, ':');
    let (Some(_partition), Some(service), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let arn = |store, id| Some(SecretReference { store, id, region: Some(region), account: Some(account) });
    match service {
        "ssm" if resource.len() > "parameter/".len() && resource.starts_with("parameter/") => arn(Store::Parameter, value),
        "secretsmanager" => {
            let name = resource.strip_prefix("secret:")?.split(':').next().filter(|n| !n.is_empty())?;
            let end = value.len() - resource.len() + "secret:".len() + name.len();
            arn(Store::Secret, &value[..end])
        }
        _ => None,
    }
}

/// Why an ARN of `region` and `account` cannot be looked up with the environment's
/// credentials (of `env_region`, `env_account`; either empty when unknown), or None when it
/// is theirs.
fn elsewhere(region: Option<&str>, account: Option<&str>, env_region: &str, env_account: &str) -> Option<String> {
    match (region, account) {
        (Some(r), _) if r != env_region => Some(format!("region {r}, not the environment's {env_region}")),
        (_, Some(a)) if !env_account.is_empty() && a != env_account => Some(format!("account {a}, not the environment's {env_account}")),
        _ => None,
    }
}

/// The region of an ARN (`arn:aws:ecs:eu-west-1:…` → `eu-west-1`), when it has one.
fn region_of_arn(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?.split(':').nth(2).filter(|r| !r.is_empty())
}

/// Whether AWS refused a call for want of permission (`AccessDeniedException`,
/// `AccessDenied`, `UnauthorizedOperation`): the thing could not be checked with these
/// credentials, which says nothing about whether it exists.
fn access_denied(e: &PlatformError) -> bool {
    e.code.as_deref().is_some_and(|c| c.starts_with("AccessDenied") || c == "UnauthorizedOperation")
}

/// The service's `loadBalancers` entries that `definition` cannot serve, one sentence each:
/// ECS registers the `containerPort` of the container `containerName` in the target group,
/// and refuses UpdateService to a revision without that container or without a
/// `portMappings` entry of that port (ECS API reference, LoadBalancer).
fn load_balancer_mismatches(definition: &Value, service: &ServiceInfo) -> Vec<String> {
    let containers: Vec<(&str, Vec<i64>)> = definition
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let ports = c.get("portMappings").and_then(Value::as_array).into_iter().flatten();
            let ports = ports.filter_map(|p| p.get("containerPort").and_then(Value::as_i64)).collect();
            (c.get("name").and_then(Value::as_str).unwrap_or("?"), ports)
        })
        .collect();
    let has = containers
        .iter()
        .map(|(name, ports)| match ports.as_slice() {
            [] => format!("{name} (no portMappings)"),
            _ => format!("{name} ({})", ports.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut mismatches = Vec::new();
    for lb in &service.load_balancers {
        let (name, port) = (lb.container_name.as_str(), lb.container_port);
        let problem = match containers.iter().find(|(n, _)| *n == name) {
            None => format!("has no container {name}"),
            Some((_, ports)) if !ports.contains(&i64::from(port)) => format!("maps no containerPort {port} in container {name}"),
            Some(_) => continue,
        };
        let group = match &lb.target_group_arn {
            Some(arn) => format!("target group {}", crate::platform::target_group_name(arn)),
            None => "a Classic Load Balancer".to_string(),
        };
        mismatches.push(format!(
            "service {}'s loadBalancers entry ({group}, containerName {name}, containerPort {port}): the task definition {problem} \
             (its containers: {has}); ECS would refuse UpdateService. Map the port in the task definition, or change the service's \
             loadBalancers",
            service.name
        ));
    }
    mismatches
}

/// An image in ECR: `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPOSITORY[:TAG|@DIGEST]`.
struct EcrImage<'a> {
    account: &'a str,
    region: &'a str,
    repository: &'a str,
    reference: EcrReference<'a>,
}

enum EcrReference<'a> {
    Tag(&'a str),
    Digest(&'a str),
}

fn ecr_image(image: &str) -> Option<EcrImage<'_>> {
    let (host, path) = image.split_once('/')?;
    let labels: Vec<&str> = host.split('.').collect();
    let [account, "dkr", "ecr", region, "amazonaws", "com", rest @ ..] = labels.as_slice() else { return None };
    if !(rest.is_empty() || rest == ["cn"]) || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (repository, reference) = match path.split_once('@') {
        Some((repository, digest)) => (repository, EcrReference::Digest(digest)),
        None => match path.rsplit_once(':') {
            Some((repository, tag)) => (repository, EcrReference::Tag(tag)),
            None => (path, EcrReference::Tag("latest")),
        },
    };
    (!repository.is_empty()).then_some(EcrImage { account, region, repository, reference })
}

/// The tags ferry puts on a revision it registers, for traceability in AWS itself.
pub(super) fn ferry_tags(request: &Request, deployment_id: &str, version: &str, digest: &str) -> Vec<(String, String)> {
    let mut tags = vec![
        ("ferry:version".to_string(), version.to_string()),
        ("ferry:digest".to_string(), digest.to_string()),
        ("ferry:deployment".to_string(), deployment_id.to_string()),
        ("ferry:env".to_string(), request.environment.clone()),
        ("ferry:deployed-by".to_string(), tag_value(&request.trace.who)),
    ];
    if let Some(commit) = &request.trace.commit {
        tags.push(("ferry:commit".into(), tag_value(commit)));
    }
    if let Some(message) = &request.trace.commit_message {
        tags.push(("ferry:commit-message".into(), tag_value(message)));
    }
    if let Some(skipped) = &request.gates_skipped {
        tags.push(("ferry:gates-skipped".into(), tag_value(skipped)));
    }
    tags
}

/// Merges ferry's tags into the definition's `tags`: ferry's win, the template's others stay.
pub(super) fn set_tags(definition: &mut Value, ours: Vec<(String, String)>) {
    let Some(object) = definition.as_object_mut() else { return };
    let mut tags: Vec<Value> = object
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter().filter(|t| !t.get("key").and_then(Value::as_str).is_some_and(|k| k.starts_with("ferry:"))).cloned().collect()
        })
        .unwrap_or_default();
    tags.extend(ours.into_iter().map(|(key, value)| serde_json::json!({"key": key, "value": value})));
    object.insert("tags".into(), Value::Array(tags));
}

/// The definition without ferry's own tags, which differ on every deploy by design.
pub(super) fn without_ferry_tags(definition: &Value) -> Value {
    let mut copy = definition.clone();
    set_tags(&mut copy, Vec::new());
    if copy.get("tags").and_then(Value::as_array).is_some_and(Vec::is_empty)
        && let Some(object) = copy.as_object_mut()
    {
        object.remove("tags");
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ServiceLoadBalancer;

    #[test]
    fn ferry_tags_replace_old_ones_and_keep_the_templates() {
        let mut td = serde_json::json!({"tags": [{"key": "team", "value": "a"}, {"key": "ferry:version", "value": "old"}]});
        set_tags(&mut td, vec![("ferry:version".into(), "new".into())]);
        assert_eq!(td["tags"], serde_json::json!([{"key": "team", "value": "a"}, {"key": "ferry:version", "value": "new"}]));
        assert_eq!(without_ferry_tags(&td)["tags"], serde_json::json!([{"key": "team", "value": "a"}]));
    }

    #[test]
    fn a_secret_reference_is_read_as_ecs_reads_value_from() {
        let read = |value, by_name| secret_reference(value, by_name).map(|r| (r.store, r.id, r.region, r.account));
        assert_eq!(read("/app/db/password", Store::Parameter), Some((Store::Parameter, "/app/db/password", None, None)));
        assert_eq!(read("dockerhub", Store::Secret), Some((Store::Secret, "dockerhub", None, None)));
        let parameter = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db";
        assert_eq!(read(parameter, Store::Parameter), Some((Store::Parameter, parameter, Some("eu-west-1"), Some("123456789012"))));
        let secret = "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app/db-AbCdEf";
        let found = Some((Store::Secret, secret, Some("cn-north-1"), Some("123456789012")));
        assert_eq!(read(secret, Store::Parameter), found, "the secret's ARN whole");
        let (with_key, with_stage) = (format!("{secret}:password:AWSPREVIOUS:"), format!("{secret}::AWSCURRENT:"));
        assert_eq!(read(&with_key, Store::Parameter), found, "without json-key:version-stage:version-id");
        assert_eq!(read(&with_stage, Store::Parameter), found);
        for other in
            ["", "arn:aws:s3:::bucket/key", "arn:aws:ssm:eu-west-1:123456789012:parameter/", "arn:aws:secretsmanager:eu-west-1:1:secret:"]
        {
            assert_eq!(read(other, Store::Parameter), None, "{other}");
        }
    }

    #[test]
    fn a_load_balancer_entry_names_a_missing_container_and_what_the_definition_has() {
        let service = ServiceInfo {
            name: "web".into(),
            load_balancers: vec![ServiceLoadBalancer {
                target_group_arn: None,
                container_name: "app".into(),
                container_port: 8080,
                advanced: None,
            }],
            ..ServiceInfo::default()
        };
        let definition = serde_json::json!({"containerDefinitions": [
            {"name": "web", "portMappings": [{"containerPort": 8080}, {"containerPort": 9090}]},
            {"name": "envoy"}
        ]});
        let found = load_balancer_mismatches(&definition, &service);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("service web's loadBalancers entry (a Classic Load Balancer, containerName app, containerPort 8080): "),
            "{found:?}"
        );
        assert!(found[0].contains("has no container app (its containers: web (8080, 9090), envoy (no portMappings))"), "{found:?}");
        let served = serde_json::json!({"containerDefinitions": [{"name": "app", "portMappings": [{"containerPort": 8080}]}]});
        assert!(load_balancer_mismatches(&served, &service).is_empty());
    }

    #[test]
    fn only_access_denied_codes_mean_not_checkable() {
        for code in ["AccessDeniedException", "AccessDenied", "UnauthorizedOperation"] {
            assert!(access_denied(&PlatformError::new("ssm:DescribeParameters", Some(code.into()), "no")), "{code}");
        }
        for code in [Some("ThrottlingException"), Some("UnrecognizedClientException"), None] {
            assert!(!access_denied(&PlatformError::new("ssm:DescribeParameters", code.map(str::to_string), "no")), "{code:?}");
        }
    }
}
