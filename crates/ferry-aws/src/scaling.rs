//! The [`AutoScaling`] port over the Application Auto Scaling SDK: the limits of an ECS
//! service's desired count (its `ecs:service:DesiredCount` scalable target).

use std::sync::Arc;

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use ferry_core::platform::{AutoScaling, PlatformResult, ScalableTarget};

use crate::autoscaling;
use crate::pacer::Pacer;
use crate::reach::{Reach, platform_error};

/// Application Auto Scaling through the SDK, paced well below its request rates.
#[derive(Clone, Debug)]
pub struct AwsAutoScaling {
    pub client: autoscaling::Client,
    pub(crate) calls: Arc<Pacer>,
    reach: Option<Arc<Reach>>,
}

impl AwsAutoScaling {
    pub fn new(client: autoscaling::Client) -> Self {
        AwsAutoScaling { client, calls: Arc::new(Pacer::new(10, 5)), reach: None }
    }

    /// Errors name the endpoint, the cause and the fix when a call cannot reach it.
    pub fn with_reach(mut self, reach: Arc<Reach>) -> Self {
        self.reach = Some(reach);
        self
    }

    pub(crate) fn error<E, R>(
        &self,
        operation: &str,
        error: aws_sdk_applicationautoscaling::error::SdkError<E, R>,
    ) -> ferry_core::platform::PlatformError
    where
        E: aws_sdk_applicationautoscaling::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + crate::reach::AsResponse,
    {
        match &self.reach {
            Some(reach) => reach.error(operation, error),
            None => platform_error(operation, error),
        }
    }
}

impl AutoScaling for AwsAutoScaling {
    // Blue/green's calls ([`crate::traffic`]).
    async fn describe_scaling_policies(&self, resource_id: &str) -> PlatformResult<Vec<ferry_core::platform::ScalingPolicy>> {
        self.sdk_describe_scaling_policies(resource_id).await
    }
    async fn deregister_scalable_target(&self, resource_id: &str) -> PlatformResult<()> {
        self.sdk_deregister_scalable_target(resource_id).await
    }
    async fn put_scaling_policy(&self, resource_id: &str, policy: &ferry_core::platform::ScalingPolicy) -> PlatformResult<()> {
        self.sdk_put_scaling_policy(resource_id, policy).await
    }

    async fn describe_scalable_target(&self, resource_id: &str) -> PlatformResult<Option<ScalableTarget>> {
        self.calls.take().await;
        let out = self
            .client
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_ids(resource_id)
            .send()
            .await
            .map_err(|e| self.error("application-autoscaling:DescribeScalableTargets", e))?;
        Ok(out.scalable_targets().iter().find(|t| t.resource_id() == resource_id).map(|t| ScalableTarget {
            resource_id: t.resource_id().to_string(),
            min_capacity: t.min_capacity(),
            max_capacity: t.max_capacity(),
        }))
    }

    async fn register_scalable_target(&self, target: &ScalableTarget) -> PlatformResult<()> {
        self.calls.take().await;
        self.client
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(&target.resource_id)
            .min_capacity(target.min_capacity)
            .max_capacity(target.max_capacity)
            .send()
            .await
            .map_err(|e| self.error("application-autoscaling:RegisterScalableTarget", e))?;
        Ok(())
    }
}
