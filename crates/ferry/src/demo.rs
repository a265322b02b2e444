//! `ferry demo`: the README's first command. It starts an embedded ferry local, sets up
//! what Terraform would own (an ECR repository with three versions of a sample image, a
//! cluster, a two-task service), writes a ferry.toml and a task definition template, and
//! then runs real `ferry deploy`s against it: a first version, a new version, and a broken
//! version that ferry detects and rolls back — with the progress a user would see.

use std::path::Path;

use ferry_aws::ecs::types::{ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration};
use ferry_aws::{Clients, Target};
use ferry_core::ExitKind;
use ferry_local::{LocalServer, Options};

use crate::Failure;
use crate::cli::{DemoArgs, DeployArgs, GlobalArgs, HistoryArgs, ServiceVersion, StatusArgs};

const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";
const CLUSTER: &str = "demo";
const SERVICE: &str = "web";
const REPOSITORY: &str = "demo/web";

fn aws(e: impl std::fmt::Display) -> Failure {
    Failure::platform(e.to_string())
}

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> Result<(), Failure> {
    let temporary = args.state_dir.is_none();
    let state_dir =
        args.state_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("ferry-demo-{}", std::process::id())));
    let server = LocalServer::start(Options { port: args.port, state_dir: state_dir.join("local") })
        .await
        .map_err(|e| Failure::platform(e.to_string()))?;
    println!("ferry demo: real `ferry deploy`s against an embedded ferry local (no AWS account needed)");
    println!("  ferry local at {} (state, task logs and the demo project in {})", server.endpoint(), state_dir.display());
    let result = scenario(global, &server.endpoint(), &state_dir, !args.no_failure).await;
    server.shutdown().await;
    if temporary {
        let _ = std::fs::remove_dir_all(&state_dir);
    }
    result
}

async fn scenario(global: &GlobalArgs, endpoint: &str, dir: &Path, with_failure: bool) -> Result<(), Failure> {
    let clients = Clients::new(&Target::local(endpoint, ACCOUNT, REGION)).await;
    let exe = std::env::current_exe().map_err(|e| Failure::platform(format!("cannot find the ferry binary: {e}")))?;
    let exe = exe.to_string_lossy().to_string();

    println!("\nstep 0: what Terraform owns: ECR repository {REPOSITORY} with images, cluster {CLUSTER}, service {SERVICE} (2 tasks, placeholder image)");
    let repo = clients.ecr.create_repository().repository_name(REPOSITORY).send().await.map_err(aws)?;
    let uri = repo.repository().and_then(|r| r.repository_uri()).unwrap_or_default().to_string();
    for version in ["bootstrap", "1.0.0", "1.1.0", "1.2.0"] {
        let pushed = clients
            .ecr
            .put_image()
            .repository_name(REPOSITORY)
            .image_tag(version)
            .image_manifest(sample_manifest(version))
            .send()
            .await
            .map_err(aws)?;
        let digest = pushed.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest()).unwrap_or_default();
        println!("  pushed {REPOSITORY}:{version} → {}", ferry_core::short_digest(digest));
    }
    clients.ecs.create_cluster().cluster_name(CLUSTER).send().await.map_err(aws)?;
    let bootstrap = ContainerDefinition::builder()
        .name("web")
        .image(format!("{uri}:bootstrap"))
        .essential(true)
        .memory(128)
        .entry_point(&exe)
        .command("sample-app")
        .build();
    let registered =
        clients.ecs.register_task_definition().family("demo-web").container_definitions(bootstrap).send().await.map_err(aws)?;
    let bootstrap_arn =
        registered.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string();
    clients
        .ecs
        .create_service()
        .cluster(CLUSTER)
        .service_name(SERVICE)
        .task_definition(&bootstrap_arn)
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

    let project = dir.join("project");
    std::fs::create_dir_all(&project).map_err(|e| Failure::internal(e.to_string()))?;
    std::fs::write(project.join("ferry.toml"), demo_config(endpoint)).map_err(|e| Failure::internal(e.to_string()))?;
    std::fs::write(project.join("web.json"), demo_template(&exe)).map_err(|e| Failure::internal(e.to_string()))?;
    println!("  wrote {} and web.json (the task definition template)", project.join("ferry.toml").display());
    let global = GlobalArgs {
        config: project.join("ferry.toml"),
        ledger: Some(dir.join("ledger.sqlite")),
        endpoint_url: None,
        ..global.clone()
    };

    step(&global, "step 1: the first version", "1.0.0", ExitKind::Ok).await?;
    answer(&clients).await?;
    step(&global, "step 2: a new version", "1.1.0", ExitKind::Ok).await?;
    answer(&clients).await?;
    if with_failure {
        step(&global, "step 3: a broken version (its process exits at start); ferry rolls it back", "1.2.0", ExitKind::FailedRolledBack).await?;
        answer(&clients).await?;
    }
    println!("\n$ ferry status");
    crate::status::run(&global, StatusArgs { environment: None }).await?;
    println!("\n$ ferry history");
    crate::history::run(&global, HistoryArgs { environment: None, service: None, limit: 10 })?;
    println!("\ndone: the same ferry.toml works against AWS once endpoint_url and credentials point there.");
    Ok(())
}

/// Runs `ferry deploy demo web=VERSION` and checks it ended as expected.
async fn step(global: &GlobalArgs, title: &str, version: &str, expected: ExitKind) -> Result<(), Failure> {
    println!("\n{title}\n$ ferry deploy demo {SERVICE}={version}");
    let args = DeployArgs {
        environment: "demo".into(),
        services: vec![ServiceVersion { service: SERVICE.into(), version: version.into() }],
        dry_run: false,
        timeout: None,
    };
    let result = crate::deploy::run(global, args).await;
    let kind = match &result {
        Ok(()) => ExitKind::Ok,
        Err(failure) => failure.kind,
    };
    if kind != expected {
        return Err(result.err().unwrap_or_else(|| Failure::internal(format!("ferry deploy {SERVICE}={version} succeeded, but it should have failed"))));
    }
    if let Err(failure) = result {
        println!("(as expected: {failure}; exit code {})", failure.kind.code());
    }
    Ok(())
}

fn demo_config(endpoint: &str) -> String {
    format!(
        r#"[environments.demo]
region = "{REGION}"
cluster = "{CLUSTER}"
endpoint_url = "{endpoint}"
credentials = "ferry-local"
timeout = "2m"
max_task_failures = 2

[services.{SERVICE}]
repository = "{REPOSITORY}"
container = "web"
template = "web.json"
"#
    )
}

/// The sample app's task definition template. Version 1.2.0 plays a build that crashes at
/// start: the template turns on the sample app's failure switch for it.
fn demo_template(exe: &str) -> String {
    let exe = serde_json::to_string(exe).unwrap_or_default();
    format!(
        r#"{{
  "family": "demo-web",
  "containerDefinitions": [{{
    "name": "web",
    "image": "{{{{ image }}}}",
    "essential": true,
    "memory": 128,
    "entryPoint": [{exe}],
    "command": ["sample-app"],
    "portMappings": [{{"containerPort": 8080}}],
    "environment": [
      {{"name": "VERSION", "value": "{{{{ version }}}}"}},
      {{"name": "SAMPLE_FAIL_AT_START", "value": "{{{{ '1' if version == '1.2.0' else '' }}}}"}}
    ],
    "healthCheck": {{"command": ["CMD", {exe}, "sample-app", "--check"], "interval": 1, "timeout": 2, "retries": 2}},
    "stopTimeout": 5
  }}]
}}
"#
    )
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



/// Asks each running task over HTTP which version it runs.
async fn answer(clients: &Clients) -> Result<(), Failure> {
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
        println!("  task {} on 127.0.0.1:{port} answers version {version}", &id[..8.min(id.len())]);
    }
    Ok(())
}
