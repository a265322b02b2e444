//! Application Auto Scaling's hold on a service's desired count: applied when a scalable
//! target is registered (RegisterScalableTarget) and on every tick of the engine, as the real
//! service keeps correcting a desired count set outside [MinCapacity, MaxCapacity].

use crate::state::Partition;

/// How long after a desired count leaves [min, max] the emulated Application Auto Scaling
/// brings it back (the real service reacts within its next evaluation, about a minute; a
/// short delay keeps the trap visible without slowing tests).
pub const REACTION_SECONDS: f64 = 2.0;

/// Keeps every service with a registered target inside [min, max]. A desired count that
/// left the range is brought back once it has been out for `REACTION_SECONDS` (or at once
/// when `immediately`). Returns whether anything changed.
pub fn enforce_scalable_targets(partition: &mut Partition, now: f64, immediately: bool) -> bool {
    let mut changed = false;
    let account = partition.account.clone();
    let region = partition.region.clone();
    for target in partition.scalable_targets.values() {
        let Some(rest) = target.resource_id.strip_prefix("service/") else { continue };
        let arn = format!("arn:aws:ecs:{region}:{account}:service/{rest}");
        let Some(service) = partition.services.get_mut(&arn).filter(|s| s.status == "ACTIVE") else { continue };
        let wanted = service.desired_count.clamp(target.min_capacity, target.max_capacity);
        if wanted == service.desired_count {
            service.autoscaling_adjusted_at = None;
            continue;
        }
        let since = *service.autoscaling_adjusted_at.get_or_insert(now);
        if immediately || now - since >= REACTION_SECONDS {
            service.desired_count = wanted;
            if let Some(primary) = service.deployments.first_mut() {
                primary.desired_count = wanted;
                primary.updated_at = now;
            }
            service.autoscaling_adjusted_at = None;
            service.steady = false;
            changed = true;
        }
    }
    changed
}
