//! `ferry promote` end to end: two environments (clusters `dev` and `stage` of one ferry
//! local), three services, the ferry binary moving dev's release into stage.

use crate::common::*;
use serde_json::{Value, json};

const SERVICES: [&str; 3] = ["api", "web", "worker"];

/// dev and stage, each with api, web and worker on 1.0.0; `stage_extra` adds keys to stage.
pub(crate) async fn two_environments(stage_extra: &str) -> World {
    let world = World::new("", &[]).await;
    let endpoint = world.server.endpoint();
    let mut config = String::new();
    for (env, extra) in [("dev", ""), ("stage", stage_extra)] {
        config.push_str(&format!(
            "[environments.{env}]\nregion = \"{REGION}\"\ncluster = \"{env}\"\nendpoint_url = \"{endpoint}\"\ncredentials = \"ferry-local\"\nbake = \"0s\"\n{extra}\n\n"
        ));
    }
    for service in SERVICES {
        config.push_str(&format!("[services.{service}]\nrepository = \"{REPOSITORY}\"\ncontainer = \"app\"\ntemplate = \"app.json\"\n\n"));
    }
    std::fs::write(world.config(), config).unwrap();
    for cluster in ["dev", "stage"] {
        world.clients.ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
        for service in SERVICES {
            world.create_service_in(cluster, service, 1, "1.0.0", true).await;
        }
    }
    world
}

async fn stage_digests(world: &World) -> Vec<String> {
    let mut digests = Vec::new();
    for service in SERVICES {
        let td = world.service_in("stage", service).await.task_definition().unwrap().to_string();
        let described = world
            .clients
            .ecs
            .describe_task_definition()
            .task_definition(td)
            .include(ferry_aws::ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        let digest = described.tags().iter().find(|t| t.key() == Some("ferry:digest")).and_then(|t| t.value()).unwrap_or("-");
        digests.push(digest.to_string());
    }
    digests
}

pub(crate) async fn stage_revisions(world: &World) -> Vec<String> {
    let mut revisions = Vec::new();
    for service in SERVICES {
        revisions.push(world.service_in("stage", service).await.task_definition().unwrap().to_string());
    }
    revisions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_ends_with_exactly_devs_digests() {
    let world = two_environments("promote_from = \"dev\"").await;
    let deployed = world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.1.0-slow"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    // The tag 1.1.0 moves after dev was deployed: promotion ships what was tested, not the tag.
    let tested = world.digest_of("1.1.0").await;
    let moved = world.digest_of("2.0.0-crash").await;
    let manifest = world
        .clients
        .ecr
        .batch_get_image()
        .repository_name(REPOSITORY)
        .image_ids(ferry_aws::ecr::types::ImageIdentifier::builder().image_digest(&moved).build())
        .send()
        .await
        .unwrap();
    world
        .clients
        .ecr
        .put_image()
        .repository_name(REPOSITORY)
        .image_tag("1.1.0")
        .image_manifest(manifest.images()[0].image_manifest().unwrap())
        .send()
        .await
        .unwrap();

    let status = result_of(&world.ferry(&["status", "--output", "json"]).await);
    assert_eq!(status["environments"][1]["environment"], "stage");
    assert_eq!(status["environments"][1]["behind"], json!(["api", "web", "worker"]), "{status}");

    let output = world.ferry(&["promote", "dev", "stage", "--output", "json"]).await;
    assert!(output.status.success(), "{}", text(&output));
    let result = result_of(&output);
    assert_eq!(result["command"], "promote");
    let status = result_of(&world.ferry(&["status", "--output", "json"]).await);
    assert_eq!(status["environments"][1]["behind"], json!([]), "{status}");
    assert_eq!(status["environments"][0]["release"], status["environments"][1]["release"], "{status}");
    let human = world.ferry(&["status"]).await;
    assert!(text(&human).contains("up to date with dev"), "{}", text(&human));
    assert_eq!(result["services"].as_array().unwrap().len(), 3);
    let slow = world.digest_of("1.1.0-slow").await;
    assert_eq!(stage_digests(&world).await, vec![tested.clone(), tested.clone(), slow.clone()]);
    assert_eq!(world.answering_digests_in("stage", "api").await, vec![tested.clone()]);

    // The release is recorded, and promoting it again changes nothing.
    let releases = world.ferry(&["release", "list", "--output", "json"]).await;
    let releases = result_of(&releases);
    assert_eq!(releases["releases"].as_array().unwrap().len(), 1);
    let again = world.ferry(&["promote", "dev", "stage"]).await;
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("nothing to promote"), "{}", text(&again));
    // With --output json, nothing to do still ends with the result object (it printed 0 bytes).
    let again = world.ferry(&["promote", "dev", "stage", "--output", "json"]).await;
    assert!(again.status.success(), "{}", text(&again));
    let result = result_of(&again);
    assert_eq!((result["command"].clone(), result["exit_code"].clone()), (json!("promote"), json!(0)), "{result}");
    assert_eq!(result["services"], json!([]), "{result}");

    // stage is promoted from dev only.
    let config = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(
        world.config(),
        format!(
            "{config}\n[environments.qa]\nregion = \"{REGION}\"\ncluster = \"dev\"\nendpoint_url = \"{}\"\ncredentials = \"ferry-local\"\n",
            world.server.endpoint()
        ),
    )
    .unwrap();
    let wrong = world.ferry(&["promote", "qa", "stage"]).await;
    assert_eq!(wrong.status.code(), Some(4), "{}", text(&wrong));
    assert!(text(&wrong).contains("stage is promoted from dev, not from qa"), "{}", text(&wrong));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_atomic_promotion_with_one_broken_service_leaves_stage_exactly_as_before() {
    let world = two_environments("promote_from = \"dev\"\natomic = true\nmax_task_failures = 2").await;
    let deployed = world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.1.0"]).await;
    assert!(deployed.status.success(), "{}", text(&deployed));
    let before = stage_revisions(&world).await;
    // worker's tasks on 1.1.0 cannot start from now on (dev's are already running; the
    // rollback's, on 1.0.0, can).
    let fault = json!({"family": "worker", "digest": world.digest_of("1.1.0").await, "failToStart": true});
    world.http.post(format!("{}/_ferry/task-faults", world.server.endpoint())).json(&fault).send().await.unwrap();

    let output = world.ferry(&["promote", "dev", "stage", "--output", "json"]).await;
    assert_eq!(output.status.code(), Some(5), "{}", text(&output));
    let result = result_of(&output);
    let by_service: std::collections::BTreeMap<String, Value> =
        result["services"].as_array().unwrap().iter().map(|r| (r["service"].as_str().unwrap().to_string(), r.clone())).collect();
    assert_eq!(by_service["worker"]["outcome"], "failed_rolled_back");
    for moved in ["api", "web"] {
        assert_eq!(by_service[moved]["outcome"], "failed_rolled_back", "{}", by_service[moved]);
        let reason = by_service[moved]["reason"].as_str().unwrap();
        assert!(reason.contains("the promotion is atomic and worker failed"), "{reason}");
    }
    assert_eq!(stage_revisions(&world).await, before, "stage runs exactly what it ran before");
    assert_eq!(world.answering_versions_in("stage", "api").await, vec!["1.0.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_time_and_approval_refuse_with_a_clear_reason() {
    let world = two_environments("promote_from = \"dev\"\nsoak = \"1h\"").await;
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.1.0"]).await.status.success());
    let before = stage_revisions(&world).await;
    let soaking = world.ferry(&["promote", "dev", "stage"]).await;
    assert_eq!(soaking.status.code(), Some(4), "{}", text(&soaking));
    assert!(text(&soaking).contains("has not soaked for 1h in dev: api: has run"), "{}", text(&soaking));
    assert!(text(&soaking).contains("worker: has run") && text(&soaking).contains("more"), "{}", text(&soaking));

    let config = std::fs::read_to_string(world.config()).unwrap().replace("soak = \"1h\"", "approval = true\napprovers = [\"alice\"]");
    std::fs::write(world.config(), config).unwrap();
    let unapproved = world.ferry(&["promote", "dev", "stage"]).await;
    assert_eq!(unapproved.status.code(), Some(4), "{}", text(&unapproved));
    assert!(
        text(&unapproved).contains("stage needs an approval") && text(&unapproved).contains("--approve as one of: alice"),
        "{}",
        text(&unapproved)
    );
    let not_allowed = world.ferry(&["promote", "dev", "stage", "--approve"]).await;
    assert_eq!(not_allowed.status.code(), Some(4), "{}", text(&not_allowed));
    assert!(text(&not_allowed).contains("tester may not approve promotions into stage (approvers: alice)"), "{}", text(&not_allowed));
    assert_eq!(stage_revisions(&world).await, before, "refusals change nothing");

    let approved = world.ferry_as("alice", &["promote", "dev", "stage", "--approve"]).await;
    assert!(approved.status.success(), "{}", text(&approved));
    let shown = world.ferry(&["release", "list", "--output", "json"]).await;
    let id = result_of(&shown)["releases"][0]["id"].as_str().unwrap().to_string();
    let show = world.ferry(&["release", "show", &id]).await;
    assert!(text(&show).contains("promoted dev → stage") && text(&show).contains("(approved by alice)"), "{}", text(&show));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_release_can_never_be_promoted() {
    let world = two_environments("promote_from = \"dev\"").await;
    assert!(world.ferry(&["deploy", "dev", "api=1.1.0", "web=1.1.0", "worker=1.1.0"]).await.status.success());
    let created = world.ferry(&["release", "create", "--from-env", "dev", "--output", "json"]).await;
    assert!(created.status.success(), "{}", text(&created));
    let id = result_of(&created)["release"]["id"].as_str().unwrap().to_string();
    let rejected = world.ferry(&["release", "reject", &id[..10], "--reason", "fails the load test"]).await;
    assert!(rejected.status.success(), "{}", text(&rejected));
    let before = stage_revisions(&world).await;

    let output = world.ferry(&["promote", "dev", "stage"]).await;
    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("release {id} was rejected by tester")) && text(&output).contains("fails the load test"),
        "{}",
        text(&output)
    );
    // Nor can a part of it.
    let part = world.ferry(&["promote", "dev", "stage", "--services", "api,web"]).await;
    assert_eq!(part.status.code(), Some(4), "{}", text(&part));
    assert!(text(&part).contains(&format!("part of release {id}, which was rejected")), "{}", text(&part));
    assert_eq!(stage_revisions(&world).await, before);

    // Versions resolve where the chain starts (dev) without --env, to the same content id
    // as what runs there; a version that is not in the registry records nothing.
    let by_versions = world.ferry(&["release", "create", "api=1.1.0", "web=1.1.0", "worker=1.1.0", "--output", "json"]).await;
    assert!(by_versions.status.success(), "{}", text(&by_versions));
    assert_eq!(result_of(&by_versions)["release"]["id"].as_str(), Some(id.as_str()), "same digests, same release");
    let releases = async || result_of(&world.ferry(&["release", "list", "--output", "json"]).await)["releases"].clone();
    let before = releases().await;
    let missing = world.ferry(&["release", "create", "api=9.9.9"]).await;
    assert_eq!(missing.status.code(), Some(4), "{}", text(&missing));
    assert!(text(&missing).contains("image app:9.9.9 not found"), "{}", text(&missing));
    assert_eq!(releases().await, before);
}
