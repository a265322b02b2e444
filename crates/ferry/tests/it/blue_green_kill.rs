//! Kill tests of blue-green and canary deploys (issue 14): ferry is SIGKILLed at a named
//! step boundary of `ferry deploy test web=1.1.0` (`FERRY_KILL_POINT` holds it there until
//! the signal), and the same command is run again. It must converge to one live version with
//! nothing orphaned: the production listener forwards only to 1.1.0's target group, the
//! preparing listener only to it too, the services and target groups are exactly those
//! expected (no second green, no stray group or rule action), one task definition revision
//! for the deployment, nothing left in progress and no lock left behind.
//!
//! Every kill point is named by its test. The auto scaling points need a scalable target on
//! `web` (copied to green, deregistered from web); the clean-up points need a retired version
//! of ferry's beyond `keep` (two deploys before the killed one).

use ferry_aws::autoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use ferry_local::Options;
use ferry_store::{Ledger, Outcome};
use serde_json::json;

use crate::blue_green::{group_names, services, stage, weights};
use crate::common::*;
use crate::kill::killed_at;

/// What the world holds before the killed deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// Terraform's `web` running 1.0.0, nothing else.
    Plain,
    /// As `Plain`, with a scalable target (min 2, max 4) and a target tracking policy on `web`.
    Scaling,
    /// As `Plain`, then 1.0.1 and 1.0.2 deployed by ferry: the killed deploy retires 1.0.2
    /// (blue, kept: keep = 1) and deletes 1.0.1's service and target group.
    Previous,
}

const POLICY: &str = "cpu-50";

fn world_options() -> Options {
    Options { health_check_scale: 0.05, ..Options::default() }
}

fn resource(service: &str) -> String {
    format!("service/{CLUSTER}/{service}")
}

/// Pushes `version` of the sample image (its own config digest) to the repository.
async fn push_version(world: &World, version: &str) {
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{:0>64}", hex(version)), "size": 2},
        "layers": []
    });
    world.clients.ecr.put_image().repository_name(REPOSITORY).image_tag(version).image_manifest(manifest.to_string()).send().await.unwrap();
}

async fn add_scaling(world: &World, service: &str) {
    let scaling = &world.clients.autoscaling;
    scaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(resource(service))
        .min_capacity(2)
        .max_capacity(4)
        .send()
        .await
        .unwrap();
    let metric =
        PredefinedMetricSpecification::builder().predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization).build().unwrap();
    let tracking =
        TargetTrackingScalingPolicyConfiguration::builder().target_value(50.0).predefined_metric_specification(metric).build().unwrap();
    scaling
        .put_scaling_policy()
        .policy_name(POLICY)
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(resource(service))
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(tracking)
        .send()
        .await
        .unwrap();
}

/// A service's scalable target limits (min, max) and its policies' names; None without one.
async fn scaling_of(world: &World, service: &str) -> Option<((i32, i32), Vec<String>)> {
    let scaling = &world.clients.autoscaling;
    let targets =
        scaling.describe_scalable_targets().service_namespace(ServiceNamespace::Ecs).resource_ids(resource(service)).send().await.unwrap();
    let target = targets.scalable_targets().first()?;
    let policies =
        scaling.describe_scaling_policies().service_namespace(ServiceNamespace::Ecs).resource_id(resource(service)).send().await.unwrap();
    let names = policies.scaling_policies().iter().map(|p| p.policy_name().to_string()).collect();
    Some(((target.min_capacity(), target.max_capacity()), names))
}

/// Kills `ferry deploy test web=1.1.0` (`strategy`, with `extra` in
/// `[services.web.blue_green]`) at `point` after `setup`, runs it again, and checks that it
/// converged with nothing orphaned.
async fn killed_deploy_converges(strategy: &str, extra: &str, point: &str, setup: Setup) {
    let world = World::with_options("", &["web"], world_options()).await;
    let stage = stage(&world, strategy, extra).await;
    let mut retired = Vec::new();
    match setup {
        Setup::Plain => {}
        Setup::Scaling => add_scaling(&world, "web").await,
        Setup::Previous => {
            for version in ["1.0.1", "1.0.2"] {
                push_version(&world, version).await;
                let target = format!("web={version}");
                let output = world.ferry(&["deploy", "test", &target]).await;
                assert_eq!(output.status.code(), Some(0), "{point}: deploying {version} first: {}", text(&output));
            }
            retired.push("1.0.2");
        }
    }
    let revisions_before = world.revisions("web").await.len();
    world.reset_calls().await;

    let seen = killed_at(&world, point, &["deploy", "test", "web=1.1.0"]).await;
    let dead = {
        let ledger = Ledger::open(&world.ledger()).unwrap();
        let record =
            ledger.unfinished("test", "web").unwrap().unwrap_or_else(|| panic!("{point}: the dead run left its deployment in progress"));
        let lock = ledger.lock("test", "web").unwrap().unwrap_or_else(|| panic!("{point}: the dead run's lock is still there"));
        assert_eq!(lock.holder.deployment_id, record.id, "{point}");
        record.id
    };
    let rerun = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    let context = format!("killed at {point} ({strategy}); the dead run said:\n{seen}\nthe re-run said:\n{}", text(&rerun));
    assert_eq!(rerun.status.code(), Some(0), "{context}");
    assert_eq!(result_of(&rerun)["services"][0]["outcome"], "succeeded", "{context}");

    let green_group = ferry_core::naming::target_group_name("test", "web", "1.1.0");
    let green_service = ferry_core::naming::version_service_name("web", "1.1.0");
    assert_eq!(weights(&world, &stage.production).await, vec![(green_group.clone(), 100)], "production listener: {context}");
    let preparing: Vec<String> = weights(&world, &stage.preparing).await.into_iter().map(|(name, _)| name).collect();
    assert_eq!(preparing, vec![green_group.clone()], "preparing listener: {context}");

    let mut expected_services =
        vec![("web".to_string(), 0, Some("obsolete".to_string())), (green_service.clone(), 2, Some("live".to_string()))];
    let mut expected_groups = vec![green_group.clone(), "web-tg".to_string()];
    for version in &retired {
        expected_services.push((ferry_core::naming::version_service_name("web", version), 0, Some("obsolete".to_string())));
        expected_groups.push(ferry_core::naming::target_group_name("test", "web", version));
    }
    expected_services.sort();
    expected_groups.sort();
    assert_eq!(services(&world).await, expected_services, "services: {context}");
    assert_eq!(group_names(&world).await, expected_groups, "target groups: {context}");

    let calls = world.calls().await;
    assert_eq!(calls.get("ecs:RegisterTaskDefinition").copied().unwrap_or(0), 1, "one revision for the deployment: {context}");
    assert_eq!(world.revisions("web").await.len(), revisions_before + 1, "one revision for the deployment: {context}");

    let ledger = Ledger::open(&world.ledger()).unwrap();
    assert_eq!(ledger.unfinished("test", "web").unwrap(), None, "nothing left in progress: {context}");
    assert_eq!(ledger.lock("test", "web").unwrap(), None, "no lock left: {context}");
    // The re-run finished the dead run's deployment under its own id.
    let record = ledger.deployment(&dead).unwrap().expect("recorded");
    assert_eq!(record.outcome, Outcome::Succeeded, "the dead run's deployment {dead}: {context}");

    if setup == Setup::Scaling {
        assert_eq!(scaling_of(&world, &green_service).await, Some(((2, 4), vec![POLICY.to_string()])), "green's auto scaling: {context}");
        assert_eq!(scaling_of(&world, "web").await, None, "web's auto scaling: {context}");
    }
}

const BLUE_GREEN: &str = "overlap = \"1s\"";
const CANARY: &str = "steps = [\"25%/2s\", \"100%\"]";

async fn blue_green_killed_at(point: &str, setup: Setup) {
    killed_deploy_converges("blue-green", BLUE_GREEN, point, setup).await;
}

async fn canary_killed_at(point: &str, setup: Setup) {
    killed_deploy_converges("canary", CANARY, point, setup).await;
}

/// One test per kill point (they run side by side), each naming its point.
macro_rules! kill_tests {
    ($($name:ident => $runner:ident($point:literal, $setup:ident);)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $runner($point, Setup::$setup).await;
            }
        )*
    };
}

kill_tests! {
    blue_green_killed_after_preflight => blue_green_killed_at("after-preflight", Plain);
    blue_green_killed_after_register => blue_green_killed_at("after-register", Plain);
    blue_green_killed_after_create_target_group => blue_green_killed_at("bg-after-create-target-group", Plain);
    blue_green_killed_after_attach_preparing => blue_green_killed_at("bg-after-attach-preparing", Plain);
    blue_green_killed_after_create_service => blue_green_killed_at("bg-after-create-service", Plain);
    blue_green_killed_after_checks => blue_green_killed_at("bg-after-checks", Plain);
    blue_green_killed_after_shift_50 => blue_green_killed_at("bg-after-shift-50", Plain);
    blue_green_killed_after_shift_100 => blue_green_killed_at("bg-after-shift-100", Plain);
    blue_green_killed_after_copy_scaling => blue_green_killed_at("bg-after-copy-scaling", Scaling);
    blue_green_killed_after_deregister_scaling => blue_green_killed_at("bg-after-deregister-scaling", Scaling);
    blue_green_killed_after_retire => blue_green_killed_at("bg-after-retire", Plain);
    blue_green_killed_after_mark_live => blue_green_killed_at("bg-after-mark-live", Plain);
    blue_green_killed_after_delete_service => blue_green_killed_at("bg-after-delete-service", Previous);
    blue_green_killed_after_delete_target_group => blue_green_killed_at("bg-after-delete-target-group", Previous);

    canary_killed_after_register => canary_killed_at("after-register", Plain);
    canary_killed_after_create_target_group => canary_killed_at("bg-after-create-target-group", Plain);
    canary_killed_after_attach_preparing => canary_killed_at("bg-after-attach-preparing", Plain);
    canary_killed_after_create_service => canary_killed_at("bg-after-create-service", Plain);
    canary_killed_after_checks => canary_killed_at("bg-after-checks", Plain);
    canary_killed_after_shift_25 => canary_killed_at("bg-after-shift-25", Plain);
    canary_killed_after_shift_100 => canary_killed_at("bg-after-shift-100", Plain);
    canary_killed_after_copy_scaling => canary_killed_at("bg-after-copy-scaling", Scaling);
    canary_killed_after_deregister_scaling => canary_killed_at("bg-after-deregister-scaling", Scaling);
    canary_killed_after_retire => canary_killed_at("bg-after-retire", Plain);
    canary_killed_after_mark_live => canary_killed_at("bg-after-mark-live", Plain);
    canary_killed_after_delete_service => canary_killed_at("bg-after-delete-service", Previous);
    canary_killed_after_delete_target_group => canary_killed_at("bg-after-delete-target-group", Previous);
}
