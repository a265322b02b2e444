//! `ferry scale` against ferry local: the desired count set and waited for, Application Auto
//! Scaling's limits respected (refused with nothing changed) or widened when asked, and the
//! deploy lock honoured.

use ferry_aws::autoscaling::types::{ScalableDimension, ServiceNamespace};
use ferry_store::{Ledger, LockHolder};

use crate::common::*;

const RESOURCE: &str = "service/test/bigweb";

async fn world_with_limits(min: i32, max: i32) -> World {
    let world = World::new("", &["bigweb"]).await;
    world.create_service("bigweb", 1, "1.0.0", false).await;
    world
        .clients
        .autoscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .resource_id(RESOURCE)
        .min_capacity(min)
        .max_capacity(max)
        .send()
        .await
        .unwrap();
    world
}

async fn limits(world: &World) -> (i32, i32) {
    let out = world
        .clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(RESOURCE)
        .send()
        .await
        .unwrap();
    let target = &out.scalable_targets()[0];
    (target.min_capacity(), target.max_capacity())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_within_the_limits_sets_the_desired_count_and_returns_once_that_many_run() {
    let world = world_with_limits(1, 4).await;
    let out = world.ferry(&["scale", "test", "bigweb", "3"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("bigweb in test: desired count 1 → 3, 3 running (settled)"), "{}", text(&out));
    // Read as soon as ferry returned: it waited for the tasks.
    let service = world.service("bigweb").await;
    assert_eq!((service.desired_count(), service.running_count(), service.deployments().len()), (3, 3, 1));
    assert_eq!(limits(&world).await, (1, 4));
    // The lock was freed: a deploy can take it.
    let ledger = Ledger::open(&world.ledger()).unwrap();
    assert!(ledger.lock("test", "bigweb").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_outside_the_limits_is_refused_with_exit_4_and_nothing_changed() {
    let world = world_with_limits(1, 4).await;
    world.reset_calls().await;
    let out = world.ferry(&["scale", "test", "bigweb", "6"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("6 is outside its Application Auto Scaling limits (MinCapacity 1, MaxCapacity 4"), "{said}");
    assert!(said.contains("--adjust-limits"), "{said}");
    assert_eq!(mutations(&world.calls().await), 0, "{:?}", world.calls().await);
    assert_eq!(world.service("bigweb").await.desired_count(), 1);
    assert_eq!(limits(&world).await, (1, 4));

    let out = world.ferry(&["scale", "test", "bigweb", "0", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(result_of(&out)["exit_code"], 4);
    assert_eq!(mutations(&world.calls().await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjust_limits_widens_the_scalable_target_and_scales() {
    let world = world_with_limits(1, 4).await;
    let out = world.ferry(&["scale", "test", "bigweb", "6", "--adjust-limits", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let result = result_of(&out);
    assert_eq!((result["command"].as_str(), result["desired"].as_i64(), result["from"].as_i64()), (Some("scale"), Some(6), Some(1)));
    assert_eq!(result["adjusted_limits"]["maxCapacity"], 6);
    assert_eq!(result["scalable_target"]["maxCapacity"], 4);
    assert_eq!(limits(&world).await, (1, 6));
    let service = world.service("bigweb").await;
    assert_eq!((service.desired_count(), service.running_count()), (6, 6));
    // Application Auto Scaling leaves a count within its (new) limits alone.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(world.service("bigweb").await.desired_count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_while_a_deploy_holds_the_lock_exits_7_and_changes_nothing() {
    let world = world_with_limits(1, 4).await;
    let ledger = Ledger::open(&world.ledger()).unwrap();
    let holder = LockHolder { deployment_id: "fd-elsewhere".into(), who: "alice".into(), host: "ci-runner-7".into(), pid: 4242 };
    ledger.acquire_lock("test", "bigweb", &holder, 120_000, ferry_app::journal::now_ms()).unwrap();
    world.reset_calls().await;
    let out = world.ferry(&["scale", "test", "bigweb", "3"]).await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("alice@ci-runner-7"), "{}", text(&out));
    assert!(text(&out).contains("ferry unlock test bigweb"), "{}", text(&out));
    assert_eq!(mutations(&world.calls().await), 0);
    assert_eq!(world.service("bigweb").await.desired_count(), 1);
    // The deploy's lock is still its own.
    assert_eq!(ledger.lock("test", "bigweb").unwrap().map(|l| l.holder.deployment_id), Some("fd-elsewhere".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_that_is_not_a_whole_number_or_an_unknown_service_exits_2_with_nothing_changed() {
    let world = world_with_limits(1, 4).await;
    world.reset_calls().await;
    for (args, says) in [
        (vec!["scale", "test", "bigweb", "-1"], "\"-1\" is not a desired count"),
        (vec!["scale", "test", "bigweb", "three"], "\"three\" is not a desired count"),
        (vec!["scale", "test", "nosuch", "2"], "nosuch"),
        (vec!["scale", "nowhere", "bigweb", "2"], "nowhere"),
    ] {
        let out = world.ferry(&args).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    assert_eq!(mutations(&world.calls().await), 0);
    assert_eq!(world.service("bigweb").await.desired_count(), 1);
}
