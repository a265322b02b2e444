//! ferry local's SSM Parameter Store and Secrets Manager through the official AWS SDK for
//! Rust, and a container's `secrets` reaching its process's environment as ECS puts them
//! there: values from a SecureString parameter and from a JSON key of a secret, seen by the
//! task's own process; a missing one stops the task before it starts, with ECS's
//! ResourceInitializationError.

use crate::elb_support::{Local, code, eventually, start};
use ferry_aws::Clients;
use ferry_aws::ecs::types::{ContainerDefinition, KeyValuePair, Secret};
use ferry_aws::ssm::types::ParameterType;

const ACCOUNT: &str = "210987654321";
const REGION: &str = "eu-central-1";
const CLUSTER: &str = "secrets";
const PREFIX: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: ";

/// A one-container task definition (container "main") that runs `script` with /bin/sh, with
/// `secrets` as `(name, valueFrom)`; returns its ARN.
async fn register(c: &Clients, family: &str, script: &str, secrets: &[(&str, &str)]) -> String {
    let container = ContainerDefinition::builder()
        .name("main")
        .image("busybox")
        .memory(8)
        .entry_point("/bin/sh")
        .command("-c")
        .command(script)
        .environment(KeyValuePair::builder().name("PLAIN").value("from environment").build())
        .set_secrets(Some(secrets.iter().map(|(n, v)| Secret::builder().name(*n).value_from(*v).build().unwrap()).collect()))
        .stop_timeout(1)
        .build();
    let out = c
        .ecs
        .register_task_definition()
        .family(family)
        .execution_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"))
        .container_definitions(container)
        .send()
        .await
        .unwrap();
    out.task_definition().unwrap().task_definition_arn().unwrap().to_string()
}

/// The task `arn` once STOPPED.
async fn stopped(c: &Clients, arn: &str) -> ferry_aws::ecs::types::Task {
    eventually("the task to stop", 20, || async {
        let t = c.ecs.describe_tasks().cluster(CLUSTER).tasks(arn).send().await.unwrap().tasks()[0].clone();
        (t.last_status() == Some("STOPPED")).then_some(t)
    })
    .await
}

/// A task of `family`'s definition, run once; its ARN.
async fn run(c: &Clients, task_definition: &str) -> String {
    let out = c.ecs.run_task().cluster(CLUSTER).task_definition(task_definition).send().await.unwrap();
    out.tasks()[0].task_arn().unwrap().to_string()
}

fn log_of(local: &Local, task_arn: &str) -> std::path::PathBuf {
    ferry_local::task_log_dir(local.dir.path(), task_arn.rsplit('/').next().unwrap()).join("main.log")
}

/// A SecureString parameter and a JSON secret (version 2 current); returns the secret's ARN.
async fn put_values(c: &Clients) -> String {
    let put = c
        .ssm
        .put_parameter()
        .name("/web/db-url")
        .value("postgres://db.internal/app")
        .r#type(ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    assert_eq!(put.version(), 1);
    c.ssm.put_parameter().name("feature-flag").value("on").r#type(ParameterType::String).send().await.unwrap();
    let created = c.secretsmanager.create_secret().name("web/creds").secret_string(r#"{"password":"old"}"#).send().await.unwrap();
    let arn = created.arn().unwrap().to_string();
    c.secretsmanager.put_secret_value().secret_id(&arn).secret_string(r#"{"user":"app","password":"s3cret"}"#).send().await.unwrap();
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_task_gets_a_parameter_and_a_secrets_json_key_in_its_environment() {
    let local = start(ACCOUNT, REGION, 1.0).await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let secret_arn = put_values(c).await;
    let suffix = secret_arn.rsplit('-').next().unwrap();
    assert_eq!(suffix.len(), 6, "AWS's six random characters end the ARN: {secret_arn}");
    let flag_arn = format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/feature-flag");
    let password = format!("{secret_arn}:password::");
    let previous = format!("{secret_arn}:password:AWSPREVIOUS:");
    let td = register(
        c,
        "web",
        r#"echo "plain=$PLAIN db=$DB_URL flag=$FLAG password=$DB_PASSWORD previous=$OLD_PASSWORD"; sleep 600"#,
        &[("DB_URL", "/web/db-url"), ("FLAG", &flag_arn), ("DB_PASSWORD", &password), ("OLD_PASSWORD", &previous)],
    )
    .await;
    c.ecs.create_service().cluster(CLUSTER).service_name("web").task_definition(&td).desired_count(1).send().await.unwrap();
    let task_arn = eventually("the service's task to run", 30, || async {
        let arns = c.ecs.list_tasks().cluster(CLUSTER).service_name("web").send().await.unwrap().task_arns().to_vec();
        let tasks = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(arns)).send().await.ok()?;
        tasks.tasks().iter().find(|t| t.last_status() == Some("RUNNING")).and_then(|t| t.task_arn().map(str::to_string))
    })
    .await;
    let log = log_of(&local, &task_arn);
    let line = eventually("the process to print its environment", 20, || async {
        std::fs::read_to_string(&log).ok().filter(|l| l.ends_with('\n'))
    })
    .await;
    assert_eq!(
        line.trim(),
        "plain=from environment db=postgres://db.internal/app flag=on password=s3cret previous=old",
        "the SecureString decrypted, the current and previous versions' JSON key"
    );
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_parameter_secret_or_json_key_stops_the_task_before_it_starts() {
    let local = start(ACCOUNT, REGION, 1.0).await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    let secret_arn = put_values(c).await;
    let cases = [
        (
            "DB_URL",
            "/web/missing".to_string(),
            "unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /web/missing",
        ),
        (
            "TOKEN",
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:web/nope-AbCdEf"),
            "unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:eu-central-1:210987654321:secret:web/nope-AbCdEf from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret.",
        ),
        (
            "API_KEY",
            format!("{secret_arn}:api_key::"),
            "unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key api_key",
        ),
    ];
    for (i, (name, value_from, reason)) in cases.iter().enumerate() {
        let td = register(c, &format!("broken{i}"), "echo started; sleep 600", &[(name, value_from.as_str())]).await;
        let arn = run(c, &td).await;
        let task = stopped(c, &arn).await;
        assert_eq!(task.stop_code().map(|s| s.as_str()), Some("TaskFailedToStart"));
        assert_eq!(task.stopped_reason().unwrap(), format!("{PREFIX}{reason}"));
        let container = &task.containers()[0];
        assert_eq!(container.exit_code(), None, "the container never ran");
        assert!(task.started_at().is_none());
        assert!(!log_of(&local, &arn).exists(), "the process was started");
    }
    local.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_and_secrets_answer_as_aws_and_survive_a_restart() {
    let local = start(ACCOUNT, REGION, 1.0).await;
    let c = &local.clients;
    let secret_arn = put_values(c).await;
    let again = c.ssm.put_parameter().name("/web/db-url").value("x").r#type(ParameterType::SecureString).send().await;
    assert_eq!(code(again), "ParameterAlreadyExists");
    let hidden = c.ssm.get_parameter().name("/web/db-url").send().await.unwrap();
    assert_ne!(hidden.parameter().unwrap().value(), Some("postgres://db.internal/app"), "a SecureString read without decryption");
    let missing = c.ssm.get_parameter().name("/web/nothing").send().await;
    assert_eq!(code(missing), "ParameterNotFound");
    let exists = c.secretsmanager.create_secret().name("web/creds").secret_string("x").send().await;
    assert_eq!(code(exists), "ResourceExistsException");
    c.secretsmanager.delete_secret().secret_id("web/creds").recovery_window_in_days(7).send().await.unwrap();
    let deleted = c.secretsmanager.get_secret_value().secret_id(&secret_arn).send().await;
    assert_eq!(code(deleted), "InvalidRequestException");
    c.secretsmanager.restore_secret().secret_id("web/creds").send().await.unwrap();

    // A restart keeps every answered write.
    let Local { server, dir, .. } = local;
    server.shutdown().await;
    let options = ferry_local::Options { port: 0, state_dir: dir.path().to_path_buf(), ..Default::default() };
    let server = ferry_local::LocalServer::start(options).await.unwrap();
    let c = Clients::new(&ferry_aws::Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
    let got = c
        .ssm
        .get_parameter()
        .name(format!("arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/web/db-url"))
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    assert_eq!(got.parameter().unwrap().value(), Some("postgres://db.internal/app"));
    let by_path = c.ssm.get_parameters_by_path().path("/web").with_decryption(true).send().await.unwrap();
    assert_eq!(by_path.parameters().len(), 1);
    let partial = secret_arn[..secret_arn.len() - 7].to_string();
    let value = c.secretsmanager.get_secret_value().secret_id(partial).send().await.unwrap();
    assert_eq!(value.secret_string(), Some(r#"{"user":"app","password":"s3cret"}"#));
    assert_eq!(value.version_stages(), ["AWSCURRENT"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_whose_secret_is_missing_trips_the_circuit_breaker_and_rolls_back() {
    use ferry_aws::ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, ServiceDeploymentStatus};
    let local = start(ACCOUNT, REGION, 1.0).await;
    let c = &local.clients;
    c.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
    put_values(c).await;
    let good = register(c, "api", "echo $DB_URL; sleep 600", &[("DB_URL", "/web/db-url")]).await;
    let breaker = DeploymentConfiguration::builder()
        .minimum_healthy_percent(100)
        .maximum_percent(200)
        .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
        .build();
    c.ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name("api")
        .task_definition(&good)
        .desired_count(1)
        .deployment_configuration(breaker)
        .send()
        .await
        .unwrap();
    let newest = || async {
        let listed = c.ecs.list_service_deployments().cluster(CLUSTER).service("api").send().await.unwrap();
        listed.service_deployments().first().and_then(|d| d.status().cloned())
    };
    eventually("the first deployment to succeed", 60, || async { newest().await.filter(|s| *s == ServiceDeploymentStatus::Successful) })
        .await;
    let bad = register(c, "api", "echo $DB_URL; sleep 600", &[("DB_URL", "/web/renamed")]).await;
    c.ecs.update_service().cluster(CLUSTER).service("api").task_definition(&bad).send().await.unwrap();
    eventually("the circuit breaker to roll back", 90, || async {
        newest().await.filter(|s| matches!(s, ServiceDeploymentStatus::RollbackSuccessful | ServiceDeploymentStatus::RollbackFailed))
    })
    .await;
    assert_eq!(newest().await, Some(ServiceDeploymentStatus::RollbackSuccessful));
    let service = c.ecs.describe_services().cluster(CLUSTER).services("api").send().await.unwrap().services()[0].clone();
    assert_eq!(service.task_definition(), Some(good.as_str()), "rolled back to the revision whose secrets exist");
    let stopped = c
        .ecs
        .list_tasks()
        .cluster(CLUSTER)
        .service_name("api")
        .desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    let tasks = c.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(stopped.task_arns().to_vec())).send().await.unwrap();
    let failed = tasks.tasks().iter().find(|t| t.task_definition_arn() == Some(bad.as_str())).expect("a failed task of the bad revision");
    assert_eq!(failed.stop_code().map(|s| s.as_str()), Some("TaskFailedToStart"));
    assert!(failed.stopped_reason().unwrap().ends_with("invalid ssm parameters: /web/renamed"), "{:?}", failed.stopped_reason());
    local.server.shutdown().await;
}
