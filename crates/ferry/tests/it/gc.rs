//! `ferry gc` end to end against ferry local: it deregisters old revisions ferry registered,
//! keeping the newest N and every one in use, and never one registered without ferry.

use crate::common::*;
use ferry_aws::ecs::types::ContainerDefinition;

async fn active(world: &World) -> Vec<String> {
    let out = world
        .clients
        .ecs
        .list_task_definitions()
        .family_prefix("web")
        .status(ferry_aws::ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    let mut short: Vec<String> = out.task_definition_arns().iter().map(|a| a.rsplit('/').next().unwrap().to_string()).collect();
    short.sort_by_key(|s| s.rsplit(':').next().unwrap().parse::<i32>().unwrap());
    short
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deregisters_old_ferry_revisions_but_never_one_in_use_or_not_ferrys() {
    let world = World::new("", &["web"]).await;
    // web:1, registered by "Terraform": no ferry tags.
    world.create_service("web", 1, "1.0.0", false).await;
    // web:2 .. web:7, registered by ferry; the service ends on web:7 (1.0.0), and
    // `ferry rollback` would return to web:6 (1.1.0).
    for version in ["1.1.0", "1.0.0", "1.1.0", "1.0.0", "1.1.0", "1.0.0"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}"), "-q"]).await;
        assert!(output.status.success(), "{}", text(&output));
    }
    // A one-off task of an old revision still runs.
    world.clients.ecs.run_task().cluster(CLUSTER).task_definition("web:3").started_by("migration").send().await.unwrap();
    // web:8, registered by hand, newest of all, without ferry tags.
    let container = ContainerDefinition::builder().name("app").image("busybox").memory(16).essential(true).build();
    world.clients.ecs.register_task_definition().family("web").container_definitions(container).send().await.unwrap();
    let before = active(&world).await;
    assert_eq!(before, ["web:1", "web:2", "web:3", "web:4", "web:5", "web:6", "web:7", "web:8"]);

    let dry = world.ferry(&["gc", "test", "--keep", "2", "--dry-run", "--output", "json"]).await;
    assert!(dry.status.success(), "{}", text(&dry));
    let result = result_of(&dry);
    assert_eq!(result["dry_run"], true);
    assert_eq!(result["families"][0]["deregistered"], serde_json::json!(["web:2", "web:4", "web:5"]), "{result}");
    assert_eq!(active(&world).await, before, "a dry run deregisters nothing");
    let text_dry = text(&world.ferry(&["gc", "test", "--keep", "2", "--dry-run"]).await);
    assert!(text_dry.contains("web (family web): would deregister 3: web:2, web:4, web:5; kept 5"), "{text_dry}");
    assert!(text_dry.contains("kept web:3: used by task"), "{text_dry}");
    assert!(text_dry.contains("kept web:8: not registered by ferry"), "{text_dry}");
    assert_eq!(active(&world).await, before, "a dry run deregisters nothing");

    let output = world.ferry(&["gc", "test", "--keep", "2", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    let family = &result["families"][0];
    assert_eq!(family["deregistered"], serde_json::json!(["web:2", "web:4", "web:5"]), "{result}");
    let kept: Vec<(&str, Vec<&str>)> = family["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (k["revision"].as_str().unwrap(), k["reasons"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect())
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("web:8", vec!["not_ferry"]),
            ("web:7", vec!["newest", "service", "deployment", "task"]),
            ("web:6", vec!["newest", "rollback"]),
            ("web:3", vec!["task"]),
            ("web:1", vec!["not_ferry"]),
        ]
    );
    assert_eq!(active(&world).await, ["web:1", "web:3", "web:6", "web:7", "web:8"]);
    // The service still runs its revision, and the lock was freed.
    assert!(world.service("web").await.task_definition().unwrap().ends_with("/web:7"));
    let again = world.ferry(&["deploy", "test", "web=1.1.0", "-q"]).await;
    assert!(again.status.success(), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_of_an_unknown_service_is_refused_and_changes_nothing() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    world.reset_calls().await;
    let output = world.ferry(&["gc", "test", "--keep", "0", "--services", "nope"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("nope"), "{}", text(&output));
    assert_eq!(mutations(&world.calls().await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_revisions_cleans_up_after_each_successful_deploy_and_never_after_a_failed_one() {
    let world = World::new("keep_revisions = 2", &["web"]).await;
    // web:1, registered without ferry: never touched.
    world.create_service("web", 1, "1.0.0", false).await;
    for version in ["1.1.0", "1.0.0", "1.1.0"] {
        let output = world.ferry(&["deploy", "test", &format!("web={version}"), "-q"]).await;
        assert!(output.status.success(), "{}", text(&output));
    }
    assert_eq!(active(&world).await, ["web:1", "web:3", "web:4"], "web:2 went after the third deploy");

    let output = world.ferry(&["deploy", "test", "web=1.0.0", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    let family = &result["revisions"]["families"][0];
    assert_eq!(result["revisions"]["keep"], 2, "{result}");
    assert_eq!(family["service"], "web", "{result}");
    assert_eq!(family["deregistered"], serde_json::json!(["web:3"]), "{result}");
    let kept: Vec<(&str, Vec<&str>)> = family["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (k["revision"].as_str().unwrap(), k["reasons"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect())
        })
        .collect();
    assert_eq!(kept[0].0, "web:5");
    assert!(kept[0].1.contains(&"service"), "the service's revision: {kept:?}");
    assert_eq!(kept[1], ("web:4", vec!["newest", "rollback"]), "what rollback returns to");
    assert_eq!(kept[2], ("web:1", vec!["not_ferry"]));
    assert_eq!(active(&world).await, ["web:1", "web:4", "web:5"]);
    assert!(world.service("web").await.task_definition().unwrap().ends_with("/web:5"));

    // In words: one line per service.
    let output = world.ferry(&["deploy", "test", "web=1.1.0"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("removed 1 old revision of web (kept 3)"), "{}", text(&output));
    assert_eq!(active(&world).await, ["web:1", "web:5", "web:6"]);

    // A failed, rolled-back deploy cleans nothing up: its revision and all the others stay.
    let output = world.ferry(&["deploy", "test", "web=2.0.0-crash", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    assert!(result_of(&output).get("revisions").is_none(), "{}", text(&output));
    assert_eq!(active(&world).await, ["web:1", "web:5", "web:6", "web:7"]);

    // `ferry gc` without --keep uses keep_revisions.
    let output = world.ferry(&["gc", "test", "--dry-run", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    assert_eq!(result["keep"], 2, "{result}");
    // web:7 (the failed one) and web:6 are the newest two, web:5 is what rollback returns to.
    assert_eq!(result["families"][0]["deregistered"], serde_json::json!([]), "{result}");
    assert_eq!(result["families"][0]["kept"].as_array().map(Vec::len), Some(4), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_without_keep_or_keep_revisions_is_refused_and_changes_nothing() {
    let world = World::new("", &["web"]).await;
    world.create_service("web", 1, "1.0.0", false).await;
    let output = world.ferry(&["deploy", "test", "web=1.1.0", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(result_of(&output).get("revisions").is_none(), "no keep_revisions, no clean-up: {}", text(&output));
    world.reset_calls().await;
    let output = world.ferry(&["gc", "test"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("--keep") && text(&output).contains("keep_revisions"), "{}", text(&output));
    assert_eq!(mutations(&world.calls().await), 0);
}
