//! ferry local never loses a write it answered: each kind of write survives a SIGKILL right
//! after its answer, ARNs and revision numbers are never handed out twice, and a write that
//! cannot be persisted (disk full) is answered 503 and changes nothing.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_aws::ecs::error::ProvideErrorMetadata;
use ferry_aws::ecs::types::ContainerDefinition;
use ferry_aws::{Clients, Target};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

/// A `ferry local up` process on a free port, with a state directory that outlives it.
struct Process {
    child: Child,
    endpoint: String,
}

impl Process {
    fn start(state_dir: &std::path::Path) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["local", "up", "--port", &port.to_string(), "--state-dir"])
            .arg(state_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "ferry local did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Process { child, endpoint }
    }

    /// SIGKILL: no shutdown, no final save.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn clients(&self) -> Clients {
        Clients::new(&Target::local(&self.endpoint, ACCOUNT, REGION)).await
    }
}

fn container(image: &str) -> ContainerDefinition {
    ContainerDefinition::builder().name("app").image(image).memory(16).entry_point("/bin/true").build()
}

/// Each kind of write, made against a fresh process that is killed the moment the answer
/// arrives; the restarted process must show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_acknowledged_write_survives_a_sigkill_right_after_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();

    // CreateCluster
    let p = Process::start(state);
    p.clients().await.ecs.create_cluster().cluster_name("main").send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let clusters = c.ecs.list_clusters().send().await.unwrap();
    assert_eq!(clusters.cluster_arns().len(), 1, "CreateCluster lost");

    // RegisterTaskDefinition
    let registered = c.ecs.register_task_definition().family("web").container_definitions(container("web:1")).send().await.unwrap();
    let td = registered.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let described = c.ecs.describe_task_definition().task_definition(&td).send().await.unwrap();
    assert_eq!(described.task_definition().unwrap().container_definitions()[0].image(), Some("web:1"), "RegisterTaskDefinition lost");

    // CreateService (desired 0: no task processes to care about)
    c.ecs.create_service().cluster("main").service_name("web").task_definition(&td).desired_count(0).send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let services = c.ecs.describe_services().cluster("main").services("web").send().await.unwrap();
    assert_eq!(services.services().len(), 1, "CreateService lost: {:?}", services.failures());

    // UpdateService
    c.ecs.update_service().cluster("main").service("web").health_check_grace_period_seconds(42).send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let services = c.ecs.describe_services().cluster("main").services("web").send().await.unwrap();
    assert_eq!(services.services()[0].health_check_grace_period_seconds(), Some(42), "UpdateService lost");

    // TagResource
    let service_arn = services.services()[0].service_arn().unwrap().to_string();
    let tag = ferry_aws::ecs::types::Tag::builder().key("team").value("payments").build();
    c.ecs.tag_resource().resource_arn(&service_arn).tags(tag).send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let tags = c.ecs.list_tags_for_resource().resource_arn(&service_arn).send().await.unwrap();
    assert_eq!(tags.tags().len(), 1, "TagResource lost");

    // CreateRepository + PutImage (ECR)
    c.ecr.create_repository().repository_name("web").send().await.unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", "a".repeat(64)), "size": 2},
        "layers": []
    })
    .to_string();
    c.ecr.put_image().repository_name("web").image_tag("1.0.0").image_manifest(&manifest).send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let images = c.ecr.list_images().repository_name("web").send().await.unwrap();
    assert_eq!(images.image_ids().len(), 1, "CreateRepository/PutImage lost");
    assert_eq!(images.image_ids()[0].image_tag(), Some("1.0.0"));

    // RegisterScalableTarget (Application Auto Scaling)
    c.autoscaling
        .register_scalable_target()
        .service_namespace(ferry_aws::autoscaling::types::ServiceNamespace::Ecs)
        .resource_id("service/main/web")
        .scalable_dimension(ferry_aws::autoscaling::types::ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(0)
        .max_capacity(3)
        .send()
        .await
        .unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let targets = c
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(ferry_aws::autoscaling::types::ServiceNamespace::Ecs)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.scalable_targets().len(), 1, "RegisterScalableTarget lost");

    // DeregisterTaskDefinition
    c.ecs.deregister_task_definition().task_definition(&td).send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let described = c.ecs.describe_task_definition().task_definition(&td).send().await.unwrap();
    assert_eq!(described.task_definition().unwrap().status().map(|s| s.as_str()), Some("INACTIVE"), "DeregisterTaskDefinition lost");

    // DeleteService
    c.ecs.delete_service().cluster("main").service("web").force(true).send().await.unwrap();
    p.kill();
    let p = Process::start(state);
    let c = p.clients().await;
    let listed = c.ecs.list_services().cluster("main").send().await.unwrap();
    assert!(listed.service_arns().is_empty(), "DeleteService lost: {:?}", listed.service_arns());
    p.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_number_is_never_handed_out_twice_across_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(dir.path());
    let c = p.clients().await;
    let first = c.ecs.register_task_definition().family("web").container_definitions(container("web:1")).send().await.unwrap();
    let first_arn = first.task_definition().unwrap().task_definition_arn().unwrap().to_string();
    p.kill();

    let p = Process::start(dir.path());
    let c = p.clients().await;
    let second = c.ecs.register_task_definition().family("web").container_definitions(container("web:2")).send().await.unwrap();
    let second = second.task_definition().unwrap();
    assert_eq!(second.revision(), 2, "revision 1 was handed out before the kill");
    assert_ne!(second.task_definition_arn(), Some(first_arn.as_str()));
    let again = c.ecs.describe_task_definition().task_definition(&first_arn).send().await.unwrap();
    assert_eq!(again.task_definition().unwrap().container_definitions()[0].image(), Some("web:1"), "the ARN still names the first content");
    p.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_be_persisted_is_answered_503_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        ferry_local::LocalServer::start(ferry_local::Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() })
            .await
            .unwrap();
    let config = ferry_aws::sdk_config(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    // No retries: the test reads the first answer.
    let ecs = ferry_aws::ecs::Client::from_conf(
        ferry_aws::ecs::config::Builder::from(&config).retry_config(ferry_aws::ecs::config::retry::RetryConfig::disabled()).build(),
    );
    ecs.create_cluster().cluster_name("kept").send().await.unwrap();

    // The state directory refuses new files as a full disk would: the temporary file's
    // name is taken by a directory.
    let blocker = dir.path().join("state.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let err = ecs.create_cluster().cluster_name("lost").send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailableException"), "{err:?}");
    assert!(err.message().is_some_and(|m| m.contains("nothing was changed")), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    let err = ecs.register_task_definition().family("web").container_definitions(container("web:1")).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ServiceUnavailableException"), "{err:?}");

    // Nothing changed: no cluster "lost", no task definition family, and the next
    // registration once the disk has room is revision 1.
    let clusters = ecs.describe_clusters().clusters("lost").clusters("kept").send().await.unwrap();
    let names: Vec<&str> = clusters.clusters().iter().filter_map(|c| c.cluster_name()).collect();
    assert_eq!(names, vec!["kept"]);
    assert!(ecs.list_task_definition_families().send().await.unwrap().families().is_empty());

    std::fs::remove_dir(&blocker).unwrap();
    let registered = ecs.register_task_definition().family("web").container_definitions(container("web:1")).send().await.unwrap();
    assert_eq!(registered.task_definition().unwrap().revision(), 1);
    server.shutdown().await;
}

/// DynamoDB writes are journaled (not rewritten with the whole state): every acknowledged
/// PutItem, UpdateItem and transaction survives a SIGKILL right after its answer, also across
/// a compaction of the journal into its snapshot (the large items below pass its 4 MiB bound).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_dynamodb_write_survives_a_sigkill() {
    use ferry_aws::dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, ScalarAttributeType, TransactWriteItem,
    };
    let dir = tempfile::tempdir().unwrap();
    let dynamodb = |endpoint: String| async move {
        ferry_aws::dynamodb::Client::new(&ferry_aws::sdk_config(&Target::local(&endpoint, ACCOUNT, REGION)).await)
    };
    let s = |v: &str| AttributeValue::S(v.to_string());

    let p = Process::start(dir.path());
    let db = dynamodb(p.endpoint.clone()).await;
    db.create_table()
        .table_name("ledger")
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .attribute_definitions(AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    const SMALL: usize = 300;
    const LARGE: usize = 60;
    let big = "x".repeat(80 * 1024);
    for i in 0..SMALL {
        db.put_item()
            .table_name("ledger")
            .item("pk", s(&format!("small-{i}")))
            .item("n", AttributeValue::N(i.to_string()))
            .send()
            .await
            .unwrap();
    }
    for i in 0..LARGE {
        db.put_item().table_name("ledger").item("pk", s(&format!("large-{i}"))).item("payload", s(&big)).send().await.unwrap();
    }
    db.update_item()
        .table_name("ledger")
        .key("pk", s("small-0"))
        .update_expression("SET n = :n")
        .expression_attribute_values(":n", AttributeValue::N("1000".into()))
        .send()
        .await
        .unwrap();
    let put = |pk: &str| TransactWriteItem::builder().put(Put::builder().table_name("ledger").item("pk", s(pk)).build().unwrap()).build();
    db.transact_write_items().transact_items(put("tx-a")).transact_items(put("tx-b")).send().await.unwrap();
    p.kill();
    assert!(dir.path().join("dynamodb.snapshot.json").exists(), "the journal was compacted on the way");

    let p = Process::start(dir.path());
    let db = dynamodb(p.endpoint.clone()).await;
    let mut found = std::collections::BTreeMap::new();
    let mut start = None;
    loop {
        let page = db.scan().table_name("ledger").set_exclusive_start_key(start).send().await.unwrap();
        for item in page.items() {
            let pk = item["pk"].as_s().unwrap().clone();
            found.insert(pk, item.clone());
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(found.len(), SMALL + LARGE + 2, "every acknowledged item is back");
    for i in 0..SMALL {
        let expected = if i == 0 { "1000".to_string() } else { i.to_string() };
        assert_eq!(found[&format!("small-{i}")]["n"].as_n().unwrap(), &expected, "small-{i}");
    }
    for i in 0..LARGE {
        assert_eq!(found[&format!("large-{i}")]["payload"].as_s().unwrap().len(), big.len(), "large-{i}");
    }
    assert!(found.contains_key("tx-a") && found.contains_key("tx-b"), "the transaction, whole");

    // And once more right after a single answer.
    db.delete_item().table_name("ledger").key("pk", s("large-0")).send().await.unwrap();
    db.put_item().table_name("ledger").item("pk", s("last")).send().await.unwrap();
    p.kill();
    let p = Process::start(dir.path());
    let db = dynamodb(p.endpoint.clone()).await;
    let last = db.get_item().table_name("ledger").key("pk", s("last")).consistent_read(true).send().await.unwrap();
    assert!(last.item().is_some(), "the last PutItem is back");
    let gone = db.get_item().table_name("ledger").key("pk", s("large-0")).send().await.unwrap();
    assert!(gone.item().is_none(), "the DeleteItem is back");
    p.kill();
}
