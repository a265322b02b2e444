//! `ferry demo`: the README's first command until `ferry deploy` exists. It starts an
//! embedded ferry local, pushes three versions of a sample image to its ECR, and rolls a
//! two-task service through them with the real AWS SDK — a first version, a new version,
//! and a broken version that the deployment circuit breaker rolls back — printing what a
//! person would want to see while it happens.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ferry_aws::ecs::types::{
    ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration, HealthCheck, KeyValuePair, PortMapping,
};
use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};

use crate::Failure;
use crate::cli::DemoArgs;

const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";
const CLUSTER: &str = "demo";
const SERVICE: &str = "web";
const REPOSITORY: &str = "demo/web";
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

fn aws(e: impl std::fmt::Display) -> Failure {
    Failure::platform(e.to_string())
}

struct Progress {
    start: Instant,
}

impl Progress {
    fn line(&self, text: impl AsRef<str>) {
        println!("[{:>5.1}s] {}", self.start.elapsed().as_secs_f64(), text.as_ref());
    }
}

pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    let temporary = args.state_dir.is_none();
    let state_dir =
        args.state_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("ferry-demo-{}", std::process::id())));
    let server = LocalServer::start(Options { port: args.port, state_dir: state_dir.clone() })
        .await
        .map_err(|e| Failure::platform(e.to_string()))?;
    println!("ferry demo: a sample service rolled through ferry local, with the AWS SDK for Rust");
    println!("  ferry local at {} (state and task logs in {})", server.endpoint(), state_dir.display());
    let result = scenario(&server.endpoint(), !args.no_failure).await;
    server.shutdown().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&state_dir);
    }
    result
}

async fn scenario(endpoint: &str, with_failure: bool) -> Result<(), Failure> {
    let p = Progress { start: Instant::now() };
    let clients = Clients::new(&Target::local(endpoint, ACCOUNT, REGION)).await;
    let exe = std::env::current_exe().map_err(|e| Failure::platform(format!("cannot find the ferry binary: {e}")))?;
    let exe = exe.to_string_lossy().to_string();

    let repo = clients.ecr.create_repository().repository_name(REPOSITORY).send().await.map_err(aws)?;
    let uri = repo.repository().and_then(|r| r.repository_uri()).unwrap_or_default().to_string();
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let manifest = sample_manifest(version);
        let pushed = clients
            .ecr
            .put_image()
            .repository_name(REPOSITORY)
            .image_tag(version)
            .image_manifest(manifest)
            .send()
            .await
            .map_err(aws)?;
        let digest = pushed.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest()).unwrap_or_default();
        p.line(format!("pushed {REPOSITORY}:{version} → {}", short(digest)));
    }
    clients.ecs.create_cluster().cluster_name(CLUSTER).send().await.map_err(aws)?;
    p.line(format!("cluster {CLUSTER} is ACTIVE"));

    println!("\nstep 1: create service {SERVICE} running {REPOSITORY}:1.0.0, 2 tasks, circuit breaker with rollback");
    let rev1 = register(&clients, &uri, &exe, "1.0.0", false).await?;
    clients
        .ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .task_definition(&rev1)
        .desired_count(2)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .deployment_circuit_breaker(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build())
                .build(),
        )
        .send()
        .await
        .map_err(aws)?;
    let outcome = watch(&clients, &p).await?;
    p.line(format!("service deployment {outcome}"));
    answer(&clients, &p).await?;

    println!("\nstep 2: update {SERVICE} to {REPOSITORY}:1.1.0 (rolling: new tasks first, old ones stopped once healthy)");
    let rev2 = register(&clients, &uri, &exe, "1.1.0", false).await?;
    clients.ecs.update_service().cluster(CLUSTER).service(SERVICE).task_definition(&rev2).send().await.map_err(aws)?;
    let outcome = watch(&clients, &p).await?;
    p.line(format!("service deployment {outcome}"));
    answer(&clients, &p).await?;

    if with_failure {
        println!("\nstep 3: update {SERVICE} to {REPOSITORY}:1.2.0, a version whose process exits 1 at start");
        let rev3 = register(&clients, &uri, &exe, "1.2.0", true).await?;
        clients.ecs.update_service().cluster(CLUSTER).service(SERVICE).task_definition(&rev3).send().await.map_err(aws)?;
        let outcome = watch(&clients, &p).await?;
        p.line(format!("service deployment {outcome}"));
        let stopped = clients
            .ecs
            .list_tasks()
            .cluster(CLUSTER)
            .service_name(SERVICE)
            .desired_status(ferry_aws::ecs::types::DesiredStatus::Stopped)
            .send()
            .await
            .map_err(aws)?;
        let described = clients
            .ecs
            .describe_tasks()
            .cluster(CLUSTER)
            .set_tasks(Some(stopped.task_arns().to_vec()))
            .send()
            .await
            .map_err(aws)?;
        if let Some(failed) = described.tasks().iter().find(|t| t.task_definition_arn() == Some(rev3.as_str())) {
            let exit = failed.containers().first().and_then(|c| c.exit_code()).map(|c| format!(" (exit code {c})")).unwrap_or_default();
            p.line(format!("why: {}{exit}", failed.stopped_reason().unwrap_or("unknown")));
        }
        answer(&clients, &p).await?;
    }
    println!("\ndone: the same calls work against AWS; only the endpoint URL changed.");
    Ok(())
}

fn short(digest: &str) -> String {
    digest.chars().take(19).collect()
}

/// A small, well-formed OCI image manifest, different per version.
fn sample_manifest(version: &str) -> String {
    let fill = |seed: &str| -> String {
        let hex: String = seed.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{hex:0<64}").chars().take(64).collect()
    };
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", fill(&format!("config-{version}"))), "size": 512},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", fill(&format!("layer-{version}"))), "size": 1048576}]
    })
    .to_string()
}

/// Registers a revision of the sample app's task definition; returns its ARN.
async fn register(clients: &Clients, uri: &str, exe: &str, version: &str, broken: bool) -> Result<String, Failure> {
    let mut environment = vec![KeyValuePair::builder().name("APP_NAME").value("demo-web").build()];
    if broken {
        environment.push(KeyValuePair::builder().name("SAMPLE_FAIL_AT_START").value("1").build());
    }
    let container = ContainerDefinition::builder()
        .name("web")
        .image(format!("{uri}:{version}"))
        .essential(true)
        .memory(128)
        .entry_point(exe)
        .command("sample-app")
        .port_mappings(PortMapping::builder().container_port(8080).build())
        .set_environment(Some(environment))
        .health_check(
            HealthCheck::builder()
                .command("CMD")
                .command(exe)
                .command("sample-app")
                .command("--check")
                .interval(1)
                .timeout(2)
                .retries(2)
                .build()
                .map_err(aws)?,
        )
        .stop_timeout(5)
        .build();
    let registered = clients
        .ecs
        .register_task_definition()
        .family("demo-web")
        .container_definitions(container)
        .send()
        .await
        .map_err(aws)?;
    let definition = registered.task_definition().ok_or_else(|| Failure::platform("no task definition returned"))?;
    Ok(definition.task_definition_arn().unwrap_or_default().to_string())
}

/// Follows the newest service deployment to a terminal status, printing service events as
/// they arrive and a line whenever the rollout's shape changes.
async fn watch(clients: &Clients, p: &Progress) -> Result<String, Failure> {
    let listed = clients.ecs.list_service_deployments().cluster(CLUSTER).service(SERVICE).send().await.map_err(aws)?;
    let arn = listed
        .service_deployments()
        .first()
        .and_then(|d| d.service_deployment_arn())
        .ok_or_else(|| Failure::platform("no service deployment found"))?
        .to_string();
    let mut seen: HashSet<String> = HashSet::new();
    let mut first = true;
    let mut last_shape = String::new();
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let described = clients.ecs.describe_services().cluster(CLUSTER).services(SERVICE).send().await.map_err(aws)?;
        if let Some(service) = described.services().first() {
            let mut events: Vec<_> = service.events().iter().filter(|e| !seen.contains(e.id().unwrap_or_default())).collect();
            events.reverse();
            for e in events {
                seen.insert(e.id().unwrap_or_default().to_string());
                if !first {
                    p.line(format!("event: {}", e.message().unwrap_or_default()));
                }
            }
            first = false;
            let shape: Vec<String> = service
                .deployments()
                .iter()
                .map(|d| {
                    let revision = d.task_definition().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_string();
                    format!(
                        "{} rev {revision}: {}/{} running ({})",
                        d.status().unwrap_or_default(),
                        d.running_count(),
                        d.desired_count(),
                        d.rollout_state().map(|s| s.as_str().to_string()).unwrap_or_default()
                    )
                })
                .collect();
            let shape = shape.join(" | ");
            if shape != last_shape {
                p.line(format!("{SERVICE}: {shape}"));
                last_shape = shape;
            }
        }
        let sd = clients.ecs.describe_service_deployments().service_deployment_arns(&arn).send().await.map_err(aws)?;
        if let Some(status) = sd.service_deployments().first().and_then(|d| d.status()) {
            use ferry_aws::ecs::types::ServiceDeploymentStatus as S;
            if matches!(status, S::Successful | S::RollbackSuccessful | S::RollbackFailed | S::Stopped) {
                return Ok(status.as_str().to_string());
            }
        }
        if Instant::now() >= deadline {
            return Err(Failure::platform(format!("the deployment did not finish within {} s", STEP_TIMEOUT.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asks each running task over HTTP which version it runs.
async fn answer(clients: &Clients, p: &Progress) -> Result<(), Failure> {
    let listed = clients.ecs.list_tasks().cluster(CLUSTER).service_name(SERVICE).send().await.map_err(aws)?;
    let described = clients
        .ecs
        .describe_tasks()
        .cluster(CLUSTER)
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await
        .map_err(aws)?;
    for task in described.tasks() {
        let port = task
            .containers()
            .first()
            .and_then(|c| c.network_bindings().first())
            .and_then(|b| b.host_port());
        let Some(port) = port else { continue };
        let body = match reqwest::get(format!("http://127.0.0.1:{port}/")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("no answer: {e}"),
        };
        let id = task.task_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default();
        let version = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_string))
            .unwrap_or(body);
        p.line(format!("task {} on 127.0.0.1:{port} answers version {version}", &id[..8.min(id.len())]));
    }
    Ok(())
}
