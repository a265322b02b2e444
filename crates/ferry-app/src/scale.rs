//! Set a service's desired count, within its Application Auto Scaling limits (or with them
//! widened, when asked), holding the service's deploy lock so that a scale never races a
//! deploy, and wait until the service settles.

use std::time::Duration;

use ferry_core::ExitKind;
use ferry_core::platform::{AutoScaling, Ecs, ScalableTarget, ServiceInfo};
use ferry_store::{LockHolder, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::{LOCK_LEASE_MS, now_ms};
use crate::project::{self, Context};

/// Which service, to how many tasks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleInput {
    pub environment: String,
    pub service: String,
    /// The desired count; 0 or more.
    pub desired: i32,
    /// Widen the scalable target's MinCapacity/MaxCapacity to include `desired` instead of
    /// refusing a count outside them.
    pub adjust_limits: bool,
    /// Wait until the service settles (running = desired, one deployment).
    pub wait: bool,
    /// How long to wait.
    pub timeout: Duration,
}

/// What was done.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleResult {
    pub environment: String,
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    /// The desired count before.
    pub from: i32,
    /// The desired count now.
    pub desired: i32,
    /// Tasks running when ferry stopped watching (= desired when it waited).
    pub running: i32,
    /// The service's scalable target as it was found; None when it has none.
    pub scalable_target: Option<ScalableTarget>,
    /// The limits registered to include `desired` (`--adjust-limits`); None when unchanged.
    pub adjusted_limits: Option<ScalableTarget>,
    /// Whether ferry waited for the service to settle.
    pub waited: bool,
}

/// Why a desired count cannot be set as it is: outside the scalable target's limits, where
/// Application Auto Scaling would bring it back.
pub fn outside_limits(target: &ScalableTarget, desired: i32, service: &str, environment: &str) -> Option<String> {
    (!target.allows(desired)).then(|| {
        format!(
            "{service} in {environment}: {desired} is outside its Application Auto Scaling limits (MinCapacity {}, MaxCapacity {} of the scalable target {}), so Application Auto Scaling would bring the desired count back; nothing was changed. Scale within {}..{}, pass --adjust-limits to widen the limits to include {desired}, or change them where the scalable target is managed (e.g. Terraform's aws_appautoscaling_target)",
            target.min_capacity, target.max_capacity, target.resource_id, target.min_capacity, target.max_capacity
        )
    })
}

/// Whether the service has settled at `desired`: that many tasks running, none pending, one
/// deployment.
pub fn settled(service: &ServiceInfo, desired: i32) -> bool {
    service.desired == desired && service.running == desired && service.pending == 0 && service.deployments.len() <= 1
}

/// Scales the service. Everything is checked before anything changes. Errors: a negative
/// count, an unknown environment or service (invalid input, exit 2); the ECS service not
/// found, or a count outside the Application Auto Scaling limits without `adjust_limits`
/// (refused, exit 4); AWS (3), also when the service does not settle within the timeout;
/// another deploy holds the lock (7); the ledger (8); Ctrl-C (130).
pub async fn scale(ctx: &Context<'_>, input: ScaleInput) -> Result<ScaleResult> {
    if input.desired < 0 {
        return Err(Error::input(format!("{} is not a desired count: give a whole number of tasks, 0 or more", input.desired)));
    }
    let config = project::load_config(ctx.project)?;
    let env = config.environment(&input.environment).map_err(Error::config)?;
    config.service(&input.service).map_err(Error::config)?;
    let ecs_service = config.ecs_service_name(&input.environment, &input.service).map_err(Error::config)?;
    let cluster = env.cluster.clone();
    let connected = project::connect(&config, &input.environment, ctx.project.endpoint_url.as_deref()).await?;
    let resource_id = ScalableTarget::resource_id(&cluster, &ecs_service);
    let (found, target) = ctx
        .before_changes("scale", async {
            let found = connected.ecs.describe_services(&cluster, std::slice::from_ref(&ecs_service)).await?;
            let target = connected.autoscaling.describe_scalable_target(&resource_id).await?;
            Ok((found, target))
        })
        .await?;
    let Some(before) = found.into_iter().find(|s| s.name == ecs_service && s.status == "ACTIVE") else {
        return Err(Error::refused(format!(
            "{} in {}: no ACTIVE service {ecs_service} in cluster {cluster} ({}); nothing was changed",
            input.service,
            input.environment,
            connected.location(&config, None)
        )));
    };
    let adjusted = match &target {
        Some(target) if !target.allows(input.desired) => match input.adjust_limits {
            true => Some(target.widened_to(input.desired)),
            false => {
                return Err(Error::refused(outside_limits(target, input.desired, &input.service, &input.environment).unwrap_or_default()));
            }
        },
        _ => None,
    };

    let ledger = project::open_ledger(ctx.project, ctx.sink).await?;
    let holder =
        LockHolder { deployment_id: project::new_id("fs"), who: ctx.actor.who.clone(), host: ctx.actor.host.clone(), pid: ctx.actor.pid };
    match ledger.take_lock(&input.environment, &input.service, &holder, LOCK_LEASE_MS, now_ms(), &crate::journal::holder_is_gone) {
        Ok(_) => {}
        Err(e @ StoreError::LockHeld(_)) => {
            return Err(Error::Run {
                kind: ExitKind::LockHeld,
                message: format!("scale of {}: locked by another deploy; nothing was changed", input.service),
                hint: Some(format!(
                    "{e}; if that deploy is gone, free the lock with `ferry unlock {} {} --reason TEXT` (`ferry status {}` lists the locks)",
                    input.environment, input.service, input.environment
                )),
            });
        }
        Err(e) => return Err(Error::from(e)),
    }
    let renew = || -> Result<()> {
        ledger.renew_lock(&input.environment, &input.service, &holder.deployment_id, LOCK_LEASE_MS, now_ms()).map_err(|e| Error::Run {
            kind: ExitKind::LockHeld,
            message: format!(
                "scale of {}: lost the lock while waiting ({e}); the desired count is {} and ECS carries on",
                input.service, input.desired
            ),
            hint: None,
        })
    };
    let outcome = apply(ctx, &connected.ecs, &connected.autoscaling, &input, &cluster, &ecs_service, adjusted.as_ref(), renew).await;
    if let Err(e) = ledger.release_lock(&input.environment, &input.service, &holder.deployment_id) {
        ctx.sink.warning(&format!("cannot release the lock of {} in {}: {e}", input.service, input.environment));
    }
    let running = outcome?;
    Ok(ScaleResult {
        environment: input.environment,
        service: input.service,
        cluster,
        ecs_service,
        from: before.desired,
        desired: input.desired,
        running,
        scalable_target: target,
        adjusted_limits: adjusted,
        waited: input.wait,
    })
}

/// The changes, under the lock: the limits when they must widen, the desired count, then the
/// wait. Returns the tasks running when it stopped watching.
#[allow(clippy::too_many_arguments)]
async fn apply(
    ctx: &Context<'_>,
    ecs: &impl Ecs,
    autoscaling: &impl AutoScaling,
    input: &ScaleInput,
    cluster: &str,
    ecs_service: &str,
    adjusted: Option<&ScalableTarget>,
    renew: impl Fn() -> Result<()>,
) -> Result<i32> {
    let note = |text: String| ctx.sink.note(Some(&input.service), &text);
    if let Some(limits) = adjusted {
        autoscaling.register_scalable_target(limits).await?;
        note(format!(
            "widened the Application Auto Scaling limits of {} to MinCapacity {}, MaxCapacity {}",
            limits.resource_id, limits.min_capacity, limits.max_capacity
        ));
    }
    let mut service = ecs.set_desired_count(cluster, ecs_service, input.desired).await?;
    note(format!("desired count set to {}", input.desired));
    if !input.wait {
        return Ok(service.running);
    }
    let deadline = tokio::time::Instant::now() + input.timeout;
    let mut last = None;
    loop {
        if settled(&service, input.desired) {
            note(format!("settled: {} of {} tasks running", service.running, input.desired));
            return Ok(service.running);
        }
        let progress = (service.running, service.pending, service.deployments.len());
        if last != Some(progress) {
            note(format!(
                "waiting: {} of {} tasks running, {} pending, {} deployment(s)",
                service.running,
                input.desired,
                service.pending,
                service.deployments.len()
            ));
            last = Some(progress);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::platform(format!(
                "{} in {} did not settle within {}: {} of {} tasks running, {} pending, {} deployment(s); the desired count stays {} and ECS carries on (see `ferry events {} {}`)",
                input.service,
                input.environment,
                humantime::format_duration(input.timeout),
                service.running,
                input.desired,
                service.pending,
                service.deployments.len(),
                input.desired,
                input.environment,
                input.service
            )));
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => {
                return Err(Error::new(ExitKind::Interrupted, format!(
                    "interrupted while waiting: the desired count of {} in {} is set to {} and ECS carries on",
                    input.service, input.environment, input.desired
                )));
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        renew()?;
        let found = ecs.describe_services(cluster, &[ecs_service.to_string()]).await?;
        service = found
            .into_iter()
            .find(|s| s.name == ecs_service)
            .ok_or_else(|| Error::platform(format!("{ecs_service} is gone from cluster {cluster} while ferry waited for it to settle")))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(min: i32, max: i32) -> ScalableTarget {
        ScalableTarget { resource_id: "service/test/web".into(), min_capacity: min, max_capacity: max }
    }

    #[test]
    fn a_count_outside_the_limits_is_refused_naming_them_and_the_way_out() {
        assert_eq!(outside_limits(&target(1, 4), 4, "web", "prod"), None);
        assert_eq!(outside_limits(&target(1, 4), 1, "web", "prod"), None);
        let text = outside_limits(&target(1, 4), 7, "web", "prod").unwrap_or_default();
        assert!(text.starts_with("web in prod: 7 is outside its Application Auto Scaling limits (MinCapacity 1, MaxCapacity 4"), "{text}");
        assert!(text.contains("--adjust-limits") && text.contains("service/test/web"), "{text}");
        assert!(outside_limits(&target(1, 4), 0, "web", "prod").is_some());
    }

    #[test]
    fn widening_the_limits_moves_only_the_side_the_count_is_beyond() {
        assert_eq!(target(1, 4).widened_to(7), target(1, 7));
        assert_eq!(target(2, 4).widened_to(0), target(0, 4));
        assert_eq!(target(1, 4).widened_to(3), target(1, 4));
    }

    #[test]
    fn a_service_is_settled_with_the_count_running_and_one_deployment() {
        let mut service = ServiceInfo { desired: 3, running: 3, deployments: vec![Default::default()], ..ServiceInfo::default() };
        assert!(settled(&service, 3));
        assert!(!settled(&service, 4));
        service.pending = 1;
        assert!(!settled(&service, 3));
        service.pending = 0;
        service.deployments.push(Default::default());
        assert!(!settled(&service, 3));
    }
}
