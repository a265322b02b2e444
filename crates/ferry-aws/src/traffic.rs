//! What blue/green, canary and linear deploys need from AWS beyond a rolling deploy (issue
//! 14), over the SDK: a service per version (ECS CreateService, DeleteService, TagResource,
//! UntagResource, ListServices, DescribeServices with tags), a target group per version and
//! the weights of a listener rule's forward (ELBv2 CreateTargetGroup, DeleteTargetGroup,
//! DescribeTargetGroups, DescribeRules, DescribeListeners, ModifyRule, ModifyListener,
//! DescribeTags), and a service's auto scaling (Application Auto Scaling
//! DescribeScalingPolicies, DeregisterScalableTarget, PutScalingPolicy).
//!
//! The bodies of the ports' methods ([`ferry_core::platform::Ecs`], [`Elb`](ferry_core::platform::Elb),
//! [`AutoScaling`](ferry_core::platform::AutoScaling)) live here as inherent functions; the
//! trait impls call them. Each call is paced like the adapters' others ([`crate::pacer`]):
//! reads with the reads, changes with a bucket of their own.

use aws_sdk_applicationautoscaling::types::{
    AdjustmentType, CustomizedMetricSpecification, MetricAggregationType, MetricDimension, MetricStatistic, MetricType, PolicyType,
    PredefinedMetricSpecification, ScalableDimension, ServiceNamespace, StepAdjustment, StepScalingPolicyConfiguration,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use ferry_core::platform::{
    NewService, PlatformError, PlatformResult, ResourceTags, Route, RouteKind, ScalingPolicy, ServiceInfo, TaggedService, TargetGroupInfo,
};
use serde_json::{Value, json};

use crate::platform::{AwsEcs, AwsElb, action_info, sdk_launch, service_info};
use crate::scaling::AwsAutoScaling;
use crate::{ecs, elbv2};

fn millis(time: Option<&aws_sdk_ecs::primitives::DateTime>) -> i64 {
    time.and_then(|t| t.to_millis().ok()).unwrap_or(0)
}

impl AwsEcs {
    /// [`ferry_core::platform::Ecs::create_service`]: one CreateService.
    pub async fn sdk_create_service(&self, spec: &NewService) -> PlatformResult<ServiceInfo> {
        let mut call = self
            .client
            .create_service()
            .cluster(&spec.cluster)
            .service_name(&spec.name)
            .task_definition(&spec.task_definition)
            .desired_count(spec.desired_count)
            .set_health_check_grace_period_seconds(spec.health_check_grace_period_seconds)
            .set_client_token(spec.client_token.clone());
        for lb in &spec.load_balancers {
            call = call.load_balancers(
                ecs::types::LoadBalancer::builder()
                    .set_target_group_arn(lb.target_group_arn.clone())
                    .container_name(&lb.container_name)
                    .container_port(lb.container_port)
                    .build(),
            );
        }
        let launch = sdk_launch(&spec.launch, "ecs:CreateService")?;
        call = call
            .set_launch_type(launch.launch_type)
            .set_capacity_provider_strategy(launch.capacity_provider_strategy)
            .set_platform_version(launch.platform_version)
            .set_network_configuration(launch.network_configuration);
        let mut deployment = ecs::types::DeploymentConfiguration::builder()
            .set_minimum_healthy_percent(spec.minimum_healthy_percent)
            .set_maximum_percent(spec.maximum_percent);
        if spec.circuit_breaker_rollback {
            deployment =
                deployment.deployment_circuit_breaker(ecs::types::DeploymentCircuitBreaker::builder().enable(true).rollback(true).build());
        }
        call = call.deployment_configuration(deployment.build());
        for (key, value) in &spec.tags {
            call = call.tags(ecs::types::Tag::builder().key(key).value(value).build());
        }
        self.changes.take().await;
        let out = call.send().await.map_err(|e| self.reach.error("ecs:CreateService", e))?;
        out.service().map(service_info).ok_or_else(|| PlatformError::new("ecs:CreateService", None, "the answer holds no service"))
    }

    /// [`ferry_core::platform::Ecs::delete_service`]: DeleteService with `force`; a service
    /// that is gone (or no longer ACTIVE) is no error.
    pub async fn sdk_delete_service(&self, cluster: &str, service: &str) -> PlatformResult<()> {
        self.changes.take().await;
        match self.client.delete_service().cluster(cluster).service(service).force(true).send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.code(), Some("ServiceNotFoundException" | "ServiceNotActiveException")) => Ok(()),
            Err(e) => Err(self.reach.error("ecs:DeleteService", e)),
        }
    }

    /// [`ferry_core::platform::Ecs::tag_service`]: one TagResource.
    pub async fn sdk_tag_service(&self, service_arn: &str, tags: &[(String, String)]) -> PlatformResult<()> {
        let tags = tags.iter().map(|(k, v)| ecs::types::Tag::builder().key(k).value(v).build()).collect();
        self.changes.take().await;
        self.client
            .tag_resource()
            .resource_arn(service_arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:TagResource", e))?;
        Ok(())
    }

    /// [`ferry_core::platform::Ecs::untag_service`]: one UntagResource.
    pub async fn sdk_untag_service(&self, service_arn: &str, keys: &[String]) -> PlatformResult<()> {
        self.changes.take().await;
        self.client
            .untag_resource()
            .resource_arn(service_arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:UntagResource", e))?;
        Ok(())
    }

    /// [`ferry_core::platform::Ecs::list_services`]: ListServices, every page, each paced.
    pub async fn sdk_list_services(&self, cluster: &str) -> PlatformResult<Vec<String>> {
        let mut arns = Vec::new();
        let mut pages = self.client.list_services().cluster(cluster).into_paginator().send();
        loop {
            self.reads.take().await;
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|e| self.reach.error("ecs:ListServices", e))?;
            arns.extend(page.service_arns().iter().cloned());
        }
        Ok(arns)
    }

    /// [`ferry_core::platform::Ecs::describe_tagged_services`]: DescribeServices with TAGS.
    pub async fn sdk_describe_tagged_services(&self, cluster: &str, services: &[String]) -> PlatformResult<Vec<TaggedService>> {
        self.reads.take().await;
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .include(ecs::types::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| self.reach.error("ecs:DescribeServices", e))?;
        Ok(out
            .services()
            .iter()
            .map(|s| TaggedService {
                service: service_info(s),
                created_at: millis(s.created_at()),
                tags: crate::platform::tag_pairs(s.tags()),
            })
            .collect())
    }
}

/// A target group as DescribeTargetGroups answered it.
pub(crate) fn target_group_info(g: &elbv2::types::TargetGroup) -> TargetGroupInfo {
    TargetGroupInfo {
        arn: g.target_group_arn().unwrap_or_default().to_string(),
        name: g.target_group_name().unwrap_or_default().to_string(),
        target_type: g.target_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
    }
}

impl AwsElb {
    /// [`ferry_core::platform::Elb::create_target_group`]: DescribeTargetGroups and
    /// DescribeTargetGroupAttributes of `like`, then CreateTargetGroup with its settings, named
    /// `name`, tagged, and ModifyTargetGroupAttributes with its attributes.
    pub async fn sdk_create_target_group(&self, name: &str, like: &str, tags: &[(String, String)]) -> PlatformResult<TargetGroupInfo> {
        self.reads.take().await;
        let found = self
            .client
            .describe_target_groups()
            .target_group_arns(like)
            .send()
            .await
            .map_err(|e| self.reach.error("elasticloadbalancing:DescribeTargetGroups", e))?;
        let Some(like) = found.target_groups().first() else {
            return Err(PlatformError::new(
                "elasticloadbalancing:DescribeTargetGroups",
                None,
                format!("target group {like} not found: there are no settings to copy"),
            ));
        };
        let call = self
            .client
            .create_target_group()
            .name(name)
            .set_protocol(like.protocol().cloned())
            .set_protocol_version(like.protocol_version().map(str::to_string))
            .set_port(like.port())
            .set_vpc_id(like.vpc_id().map(str::to_string))
            .set_target_type(like.target_type().cloned())
            .set_ip_address_type(like.ip_address_type().cloned())
            .set_health_check_protocol(like.health_check_protocol().cloned())
            .set_health_check_port(like.health_check_port().map(str::to_string))
            .set_health_check_enabled(like.health_check_enabled())
            .set_health_check_path(like.health_check_path().map(str::to_string))
            .set_health_check_interval_seconds(like.health_check_interval_seconds())
            .set_health_check_timeout_seconds(like.health_check_timeout_seconds())
            .set_healthy_threshold_count(like.healthy_threshold_count())
            .set_unhealthy_threshold_count(like.unhealthy_threshold_count())
            .set_matcher(like.matcher().cloned())
            .set_tags(Some(tags.iter().map(|(k, v)| elbv2::types::Tag::builder().key(k).value(v).build()).collect()));
        // Its attributes too (deregistration delay, stickiness, slow start, the algorithm):
        // a new version drains and balances as the live one does.
        self.reads.take().await;
        let attributes = self
            .client
            .describe_target_group_attributes()
            .set_target_group_arn(like.target_group_arn().map(str::to_string))
            .send()
            .await
            .map_err(|e| self.reach.error("elasticloadbalancing:DescribeTargetGroupAttributes", e))?;
        self.writes.take().await;
        let out = call.send().await.map_err(|e| self.reach.error("elasticloadbalancing:CreateTargetGroup", e))?;
        let created = out
            .target_groups()
            .first()
            .map(target_group_info)
            .ok_or_else(|| PlatformError::new("elasticloadbalancing:CreateTargetGroup", None, "the answer holds no target group"))?;
        if !attributes.attributes().is_empty() {
            self.writes.take().await;
            self.client
                .modify_target_group_attributes()
                .target_group_arn(&created.arn)
                .set_attributes(Some(attributes.attributes().to_vec()))
                .send()
                .await
                .map_err(|e| self.reach.error("elasticloadbalancing:ModifyTargetGroupAttributes", e))?;
        }
        Ok(created)
    }

    /// [`ferry_core::platform::Elb::delete_target_group`]: one DeleteTargetGroup; a group that
    /// is gone is no error.
    pub async fn sdk_delete_target_group(&self, arn: &str) -> PlatformResult<()> {
        self.writes.take().await;
        match self.client.delete_target_group().target_group_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("TargetGroupNotFound") => Ok(()),
            Err(e) => Err(self.reach.error("elasticloadbalancing:DeleteTargetGroup", e)),
        }
    }

    /// [`ferry_core::platform::Elb::target_groups_named`]: DescribeTargetGroups one name at a
    /// time (a name that does not exist fails the whole call).
    pub async fn sdk_target_groups_named(&self, names: &[String]) -> PlatformResult<Vec<TargetGroupInfo>> {
        let mut found = Vec::new();
        for name in names {
            self.reads.take().await;
            match self.client.describe_target_groups().names(name).send().await {
                Ok(out) => found.extend(out.target_groups().iter().map(target_group_info)),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_target_group_not_found_exception()) => {}
                Err(e) => return Err(self.reach.error("elasticloadbalancing:DescribeTargetGroups", e)),
            }
        }
        Ok(found)
    }

    /// [`ferry_core::platform::Elb::list_target_groups`]: DescribeTargetGroups, every page.
    pub async fn sdk_list_target_groups(&self) -> PlatformResult<Vec<TargetGroupInfo>> {
        let mut found = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.reads.take().await;
            let out = self
                .client
                .describe_target_groups()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.reach.error("elasticloadbalancing:DescribeTargetGroups", e))?;
            found.extend(out.target_groups().iter().map(target_group_info));
            marker = out.next_marker().filter(|m| !m.is_empty()).map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// The SDK actions of a rule or a listener; None when it does not exist.
    async fn sdk_actions(&self, arn: &str) -> PlatformResult<Option<Vec<elbv2::types::Action>>> {
        let kind = RouteKind::of(arn).ok_or_else(|| {
            PlatformError::new(
                "elasticloadbalancing:DescribeRules",
                None,
                format!("{arn} is neither a listener rule's ARN nor a listener's"),
            )
        })?;
        self.reads.take().await;
        match kind {
            RouteKind::Rule => match self.client.describe_rules().rule_arns(arn).send().await {
                Ok(out) => Ok(out.rules().first().map(|r| r.actions().to_vec())),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_rule_not_found_exception()) => Ok(None),
                Err(e) => Err(self.reach.error("elasticloadbalancing:DescribeRules", e)),
            },
            RouteKind::Listener => match self.client.describe_listeners().listener_arns(arn).send().await {
                Ok(out) => Ok(out.listeners().first().map(|l| l.default_actions().to_vec())),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_listener_not_found_exception()) => Ok(None),
                Err(e) => Err(self.reach.error("elasticloadbalancing:DescribeListeners", e)),
            },
        }
    }

    /// [`ferry_core::platform::Elb::describe_route`]: DescribeRules or DescribeListeners.
    pub async fn sdk_describe_route(&self, arn: &str) -> PlatformResult<Option<Route>> {
        Ok(self.sdk_actions(arn).await?.map(|actions| Route { arn: arn.to_string(), actions: actions.iter().map(action_info).collect() }))
    }

    /// [`ferry_core::platform::Elb::set_forward`]: the route's actions read, its forward (the
    /// last action) replaced by one to `target_groups` with their weights (its order and
    /// stickiness kept, the other actions untouched), then ModifyRule or ModifyListener.
    pub async fn sdk_set_forward(&self, arn: &str, target_groups: &[(String, i32)]) -> PlatformResult<Route> {
        let operation = match RouteKind::of(arn) {
            Some(RouteKind::Listener) => "elasticloadbalancing:ModifyListener",
            _ => "elasticloadbalancing:ModifyRule",
        };
        let Some(mut actions) = self.sdk_actions(arn).await? else {
            return Err(PlatformError::new(operation, None, format!("{arn} not found")));
        };
        actions.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
        let last = actions.pop();
        if last.as_ref().is_some_and(|a| a.r#type() != Some(&elbv2::types::ActionTypeEnum::Forward)) {
            return Err(PlatformError::new(operation, None, format!("{arn} does not end in a forward action: ferry does not replace it")));
        }
        let tuples = target_groups
            .iter()
            .map(|(group, weight)| elbv2::types::TargetGroupTuple::builder().target_group_arn(group).weight(*weight).build())
            .collect();
        let config = elbv2::types::ForwardActionConfig::builder()
            .set_target_groups(Some(tuples))
            .set_target_group_stickiness_config(
                last.as_ref().and_then(|a| a.forward_config()).and_then(|c| c.target_group_stickiness_config()).cloned(),
            )
            .build();
        actions.push(
            elbv2::types::Action::builder()
                .r#type(elbv2::types::ActionTypeEnum::Forward)
                .set_order(last.as_ref().and_then(|a| a.order()))
                .forward_config(config)
                .build(),
        );
        self.writes.take().await;
        let answered = match RouteKind::of(arn) {
            Some(RouteKind::Listener) => self
                .client
                .modify_listener()
                .listener_arn(arn)
                .set_default_actions(Some(actions))
                .send()
                .await
                .map_err(|e| self.reach.error(operation, e))?
                .listeners()
                .first()
                .map(|l| l.default_actions().to_vec()),
            _ => self
                .client
                .modify_rule()
                .rule_arn(arn)
                .set_actions(Some(actions))
                .send()
                .await
                .map_err(|e| self.reach.error(operation, e))?
                .rules()
                .first()
                .map(|r| r.actions().to_vec()),
        };
        let actions = answered.ok_or_else(|| PlatformError::new(operation, None, "the answer holds no rule or listener"))?;
        Ok(Route { arn: arn.to_string(), actions: actions.iter().map(action_info).collect() })
    }

    /// [`ferry_core::platform::Elb::describe_tags`]: one DescribeTags.
    pub async fn sdk_describe_tags(&self, arns: &[String]) -> PlatformResult<Vec<ResourceTags>> {
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        self.reads.take().await;
        let out = self
            .client
            .describe_tags()
            .set_resource_arns(Some(arns.to_vec()))
            .send()
            .await
            .map_err(|e| self.reach.error("elasticloadbalancing:DescribeTags", e))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .map(|d| ResourceTags {
                arn: d.resource_arn().unwrap_or_default().to_string(),
                tags: d
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
                    .collect(),
            })
            .collect())
    }
}

impl AwsAutoScaling {
    /// [`ferry_core::platform::AutoScaling::describe_scaling_policies`]: every page.
    pub async fn sdk_describe_scaling_policies(&self, resource_id: &str) -> PlatformResult<Vec<ScalingPolicy>> {
        let mut policies = Vec::new();
        let mut pages = self
            .client
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .into_paginator()
            .send();
        loop {
            self.calls.take().await;
            let Some(page) = pages.next().await else { break };
            let page = page.map_err(|e| self.error("application-autoscaling:DescribeScalingPolicies", e))?;
            policies.extend(page.scaling_policies().iter().map(|p| ScalingPolicy {
                name: p.policy_name().to_string(),
                policy_type: p.policy_type().as_str().to_string(),
                configuration: match (p.target_tracking_scaling_policy_configuration(), p.step_scaling_policy_configuration()) {
                    (Some(t), _) => target_tracking_json(t),
                    (None, Some(s)) => step_scaling_json(s),
                    (None, None) => Value::Null,
                },
            }));
        }
        Ok(policies)
    }

    /// [`ferry_core::platform::AutoScaling::deregister_scalable_target`]: none is no error.
    pub async fn sdk_deregister_scalable_target(&self, resource_id: &str) -> PlatformResult<()> {
        self.calls.take().await;
        match self
            .client
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_object_not_found_exception()) => Ok(()),
            Err(e) => Err(self.error("application-autoscaling:DeregisterScalableTarget", e)),
        }
    }

    /// [`ferry_core::platform::AutoScaling::put_scaling_policy`]: one PutScalingPolicy of a
    /// target tracking or step scaling policy (a metric-math customized metric and predictive
    /// scaling are refused, naming the policy).
    pub async fn sdk_put_scaling_policy(&self, resource_id: &str, policy: &ScalingPolicy) -> PlatformResult<()> {
        let op = "application-autoscaling:PutScalingPolicy";
        let invalid = |m: String| PlatformError::new(op, None, format!("policy {}: {m}", policy.name));
        let mut call = self
            .client
            .put_scaling_policy()
            .policy_name(&policy.name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource_id)
            .policy_type(PolicyType::from(policy.policy_type.as_str()));
        match policy.policy_type.as_str() {
            "TargetTrackingScaling" => {
                call = call.target_tracking_scaling_policy_configuration(target_tracking(&policy.configuration).map_err(invalid)?)
            }
            "StepScaling" => call = call.step_scaling_policy_configuration(step_scaling(&policy.configuration).map_err(invalid)?),
            other => return Err(invalid(format!("ferry cannot put back a {other} policy"))),
        }
        self.calls.take().await;
        call.send().await.map_err(|e| self.error(op, e))?;
        Ok(())
    }
}

/// A target tracking configuration as the API's JSON names it.
fn target_tracking_json(t: &TargetTrackingScalingPolicyConfiguration) -> Value {
    let mut v = json!({"TargetValue": t.target_value()});
    if let Some(p) = t.predefined_metric_specification() {
        v["PredefinedMetricSpecification"] =
            json!({"PredefinedMetricType": p.predefined_metric_type().as_str(), "ResourceLabel": p.resource_label()});
    }
    if let Some(c) = t.customized_metric_specification() {
        v["CustomizedMetricSpecification"] = json!({
            "MetricName": c.metric_name(),
            "Namespace": c.namespace(),
            "Dimensions": c.dimensions().iter().map(|d| json!({"Name": d.name(), "Value": d.value()})).collect::<Vec<_>>(),
            "Statistic": c.statistic().map(|s| s.as_str()),
            "Unit": c.unit(),
            // Metric math is not carried: PutScalingPolicy of it is refused below.
            "Metrics": c.metrics().len(),
        });
    }
    v["ScaleOutCooldown"] = json!(t.scale_out_cooldown());
    v["ScaleInCooldown"] = json!(t.scale_in_cooldown());
    v["DisableScaleIn"] = json!(t.disable_scale_in());
    v
}

fn step_scaling_json(s: &StepScalingPolicyConfiguration) -> Value {
    json!({
        "AdjustmentType": s.adjustment_type().map(|a| a.as_str()),
        "StepAdjustments": s.step_adjustments().iter().map(|a| json!({
            "MetricIntervalLowerBound": a.metric_interval_lower_bound(),
            "MetricIntervalUpperBound": a.metric_interval_upper_bound(),
            "ScalingAdjustment": a.scaling_adjustment(),
        })).collect::<Vec<_>>(),
        "MinAdjustmentMagnitude": s.min_adjustment_magnitude(),
        "Cooldown": s.cooldown(),
        "MetricAggregationType": s.metric_aggregation_type().map(|m| m.as_str()),
    })
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn int(v: &Value, key: &str) -> Option<i32> {
    v.get(key).and_then(Value::as_i64).map(|n| n as i32)
}

/// The SDK's target tracking configuration from [`target_tracking_json`]'s JSON.
fn target_tracking(v: &Value) -> Result<TargetTrackingScalingPolicyConfiguration, String> {
    let mut config = TargetTrackingScalingPolicyConfiguration::builder()
        .set_target_value(v.get("TargetValue").and_then(Value::as_f64))
        .set_scale_out_cooldown(int(v, "ScaleOutCooldown"))
        .set_scale_in_cooldown(int(v, "ScaleInCooldown"))
        .set_disable_scale_in(v.get("DisableScaleIn").and_then(Value::as_bool));
    if let Some(p) = v.get("PredefinedMetricSpecification").filter(|p| !p.is_null()) {
        let metric = text(p, "PredefinedMetricType").ok_or("PredefinedMetricSpecification without PredefinedMetricType")?;
        config = config.predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::from(metric.as_str()))
                .set_resource_label(text(p, "ResourceLabel"))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    if let Some(c) = v.get("CustomizedMetricSpecification").filter(|c| !c.is_null()) {
        if c.get("Metrics").and_then(Value::as_u64).unwrap_or(0) > 0 {
            return Err("a customized metric with metric math cannot be put back by ferry".into());
        }
        let mut dimensions = Vec::new();
        for d in c.get("Dimensions").and_then(Value::as_array).into_iter().flatten() {
            dimensions
                .push(MetricDimension::builder().set_name(text(d, "Name")).set_value(text(d, "Value")).build().map_err(|e| e.to_string())?);
        }
        config = config.customized_metric_specification(
            CustomizedMetricSpecification::builder()
                .set_metric_name(text(c, "MetricName"))
                .set_namespace(text(c, "Namespace"))
                .set_dimensions(Some(dimensions))
                .set_statistic(text(c, "Statistic").map(|s| MetricStatistic::from(s.as_str())))
                .set_unit(text(c, "Unit"))
                .build(),
        );
    }
    config.build().map_err(|e| e.to_string())
}

/// The SDK's step scaling configuration from [`step_scaling_json`]'s JSON.
fn step_scaling(v: &Value) -> Result<StepScalingPolicyConfiguration, String> {
    let mut steps = Vec::new();
    for a in v.get("StepAdjustments").and_then(Value::as_array).into_iter().flatten() {
        steps.push(
            StepAdjustment::builder()
                .set_metric_interval_lower_bound(a.get("MetricIntervalLowerBound").and_then(Value::as_f64))
                .set_metric_interval_upper_bound(a.get("MetricIntervalUpperBound").and_then(Value::as_f64))
                .set_scaling_adjustment(int(a, "ScalingAdjustment"))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(StepScalingPolicyConfiguration::builder()
        .set_adjustment_type(text(v, "AdjustmentType").map(|a| AdjustmentType::from(a.as_str())))
        .set_step_adjustments(Some(steps))
        .set_min_adjustment_magnitude(int(v, "MinAdjustmentMagnitude"))
        .set_cooldown(int(v, "Cooldown"))
        .set_metric_aggregation_type(text(v, "MetricAggregationType").map(|m| MetricAggregationType::from(m.as_str())))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_tracking_policy_goes_to_json_and_back_unchanged() {
        let policy = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(60.0)
            .predefined_metric_specification(
                PredefinedMetricSpecification::builder()
                    .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                    .build()
                    .unwrap(),
            )
            .scale_in_cooldown(120)
            .build()
            .unwrap();
        let json = target_tracking_json(&policy);
        assert_eq!(json["PredefinedMetricSpecification"]["PredefinedMetricType"], "ECSServiceAverageCPUUtilization");
        assert_eq!(target_tracking(&json), Ok(policy));
    }

    #[test]
    fn a_step_scaling_policy_goes_to_json_and_back_unchanged() {
        let policy = StepScalingPolicyConfiguration::builder()
            .adjustment_type(AdjustmentType::ChangeInCapacity)
            .step_adjustments(StepAdjustment::builder().metric_interval_lower_bound(0.0).scaling_adjustment(2).build().unwrap())
            .cooldown(60)
            .build();
        assert_eq!(step_scaling(&step_scaling_json(&policy)), Ok(policy));
    }

    #[test]
    fn a_metric_math_policy_is_refused_by_name() {
        let json = json!({"TargetValue": 1.0, "CustomizedMetricSpecification": {"Metrics": 2}});
        assert!(target_tracking(&json).is_err_and(|e| e.contains("metric math")));
    }
}
