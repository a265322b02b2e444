#![allow(dead_code)]
//! The harness of the end-to-end tests: an embedded ferry local, a project directory and a
//! ledger per test, and the ferry binary run against them.
//!
//! Each test builds a small project (ferry.toml + a task definition template), sets up
//! what Terraform would own (ECR images, cluster, service) with the SDK, runs `ferry`, and
//! checks what ECS ended up running, what ferry reported, and what the ledger recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use ferry_aws::ecs::types::{ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration};
use ferry_aws::{Clients, Target};
use ferry_local::{LocalServer, Options};
use serde_json::{Value, json};

pub const ACCOUNT: &str = "000000000000";
pub const REGION: &str = "us-east-1";
pub const CLUSTER: &str = "test";
pub const REPOSITORY: &str = "app";

pub fn ferry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferry")
}

/// A ferry local, a project directory and a ledger, for one test.
pub struct World {
    pub server: LocalServer,
    pub clients: Clients,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

/// The sample app's template: the version decides how it behaves, so one template serves
/// every scenario (`-crash` exits at start, `-unhealthy` fails its health check, `-slow`
/// starts after 1.5 s, `-flaky` runs healthy, then exits 6 s after it started).
pub fn template() -> String {
    let exe = serde_json::to_string(ferry_bin()).unwrap();
    format!(
        r#"{{
  "family": "{{{{ service }}}}",
  "containerDefinitions": [{{
    "name": "app",
    "image": "{{{{ image }}}}",
    "essential": true,
    "memory": 64,
    "entryPoint": [{exe}],
    "command": ["sample-app"],
    "portMappings": [{{"containerPort": 8080}}],
    "environment": [
      {{"name": "VERSION", "value": "{{{{ version }}}}"}},
      {{"name": "SAMPLE_FAIL_AT_START", "value": "{{{{ '1' if '-crash' in version else '' }}}}"}},
      {{"name": "SAMPLE_FAIL_HEALTH", "value": "{{{{ '1' if '-unhealthy' in version else '' }}}}"}},
      {{"name": "SAMPLE_START_DELAY_MS", "value": "{{{{ '1500' if '-slow' in version else '0' }}}}"}},
      {{"name": "SAMPLE_CRASH_AFTER", "value": "{{{{ '6' if '-flaky' in version else '' }}}}"}}
    ],
    "healthCheck": {{"command": ["CMD", {exe}, "sample-app", "--check"], "interval": 1, "timeout": 2, "retries": 2}},
    "stopTimeout": 2
  }}]
}}
"#
    )
}

/// A template for many light tasks: a shell that sleeps.
pub const SLEEPER: &str = r#"{
  "family": "{{ service }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essential": true,
    "memory": 16,
    "entryPoint": ["/bin/sh", "-c"],
    "command": ["exec sleep 600"],
    "environment": [{"name": "VERSION", "value": "{{ version }}"}],
    "stopTimeout": 1
  }]
}
"#;

pub const VERSIONS: &[&str] = &["1.0.0", "1.1.0", "1.1.0-slow", "2.0.0-crash", "2.0.0-unhealthy", "2.0.0-flaky"];

impl World {
    /// Starts ferry local, pushes the sample image's versions, creates the cluster, and
    /// writes a ferry.toml with `env_extra` added to the environment and the given services.
    pub async fn new(env_extra: &str, services: &[&str]) -> World {
        World::with_options(env_extra, services, Options::default()).await
    }

    /// As [`World::new`], with ferry local started with `options` (a health check scale);
    /// its port and state directory are the world's own.
    pub async fn with_options(env_extra: &str, services: &[&str], options: Options) -> World {
        let dir = tempfile::tempdir().unwrap();
        let server = LocalServer::start(Options { port: 0, state_dir: dir.path().join("local"), ..options }).await.unwrap();
        let clients = Clients::new(&Target::local(&server.endpoint(), ACCOUNT, REGION)).await;
        clients.ecr.create_repository().repository_name(REPOSITORY).send().await.unwrap();
        for version in VERSIONS {
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{:0>64}", hex(version)), "size": 2},
                "layers": []
            });
            clients
                .ecr
                .put_image()
                .repository_name(REPOSITORY)
                .image_tag(*version)
                .image_manifest(manifest.to_string())
                .send()
                .await
                .unwrap();
        }
        // The environment tag the env-tag strategy moves starts on 1.0.0.
        let first = clients
            .ecr
            .batch_get_image()
            .repository_name(REPOSITORY)
            .image_ids(ferry_aws::ecr::types::ImageIdentifier::builder().image_tag("1.0.0").build())
            .send()
            .await
            .unwrap();
        let manifest = first.images()[0].image_manifest().unwrap().to_string();
        clients.ecr.put_image().repository_name(REPOSITORY).image_tag("test").image_manifest(manifest).send().await.unwrap();
        clients.ecs.create_cluster().cluster_name(CLUSTER).send().await.unwrap();
        let world = World { server, clients, dir, http: reqwest::Client::new() };
        world.write_config(env_extra, services);
        std::fs::write(world.dir.path().join("app.json"), template()).unwrap();
        std::fs::write(world.dir.path().join("sleeper.json"), SLEEPER).unwrap();
        world
    }

    pub fn write_config(&self, env_extra: &str, services: &[&str]) {
        // No bake unless a test asks for one: most tests are about what comes before it.
        let bake = if env_extra.contains("bake") { "" } else { "bake = \"0s\"\n" };
        let mut config = format!(
            "[environments.test]\nregion = \"{REGION}\"\ncluster = \"{CLUSTER}\"\nendpoint_url = \"{}\"\ncredentials = \"ferry-local\"\n{bake}{env_extra}\n",
            self.server.endpoint()
        );
        for service in services {
            let source = if service.starts_with("tagged") {
                "from = \"live\"\nstrategy = \"env-tag\"".to_string()
            } else if service.starts_with("big") {
                "template = \"sleeper.json\"".to_string()
            } else {
                "template = \"app.json\"".to_string()
            };
            config.push_str(&format!("\n[services.{service}]\nrepository = \"{REPOSITORY}\"\ncontainer = \"app\"\n{source}\n"));
        }
        std::fs::write(self.config(), config).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("ferry.toml")
    }

    pub fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.sqlite")
    }

    /// What Terraform does: a service on a bootstrap revision running `version`.
    pub async fn create_service(&self, name: &str, desired: i32, version: &str, circuit_breaker: bool) -> String {
        self.create_service_in(CLUSTER, name, desired, version, circuit_breaker).await
    }

    pub async fn create_service_in(&self, cluster: &str, name: &str, desired: i32, version: &str, circuit_breaker: bool) -> String {
        let uri = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}");
        let container = if name.starts_with("big") {
            ContainerDefinition::builder()
                .name("app")
                .image(format!("{uri}:{version}"))
                .essential(true)
                .memory(16)
                .entry_point("/bin/sh")
                .entry_point("-c")
                .command("exec sleep 600")
                .stop_timeout(1)
                .build()
        } else {
            ContainerDefinition::builder()
                .name("app")
                .image(format!("{uri}:{version}"))
                .essential(true)
                .memory(64)
                .entry_point(ferry_bin())
                .command("sample-app")
                .environment(ferry_aws::ecs::types::KeyValuePair::builder().name("VERSION").value(version).build())
                .port_mappings(ferry_aws::ecs::types::PortMapping::builder().container_port(8080).build())
                .stop_timeout(2)
                .build()
        };
        let registered = self.clients.ecs.register_task_definition().family(name).container_definitions(container).send().await.unwrap();
        let arn = registered.task_definition().unwrap().task_definition_arn().unwrap().to_string();
        self.clients
            .ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(&arn)
            .desired_count(desired)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .minimum_healthy_percent(100)
                    .maximum_percent(200)
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder().enable(circuit_breaker).rollback(circuit_breaker).build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        self.wait_running_in(cluster, name, desired).await;
        arn
    }

    pub async fn wait_running(&self, name: &str, desired: i32) {
        self.wait_running_in(CLUSTER, name, desired).await
    }

    pub async fn wait_running_in(&self, cluster: &str, name: &str, desired: i32) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let s = self.service_in(cluster, name).await;
            // COMPLETED, as Terraform's wait_for_steady_state waits: a deploy started
            // before would leave ECS's circuit breaker nothing to roll back to.
            let completed = s.deployments().first().and_then(|d| d.rollout_state()).map(|r| r.as_str()) == Some("COMPLETED");
            if s.running_count() == desired && s.deployments().len() == 1 && completed {
                return;
            }
            assert!(Instant::now() < deadline, "{name} never reached {desired} running tasks");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn service(&self, name: &str) -> ferry_aws::ecs::types::Service {
        self.service_in(CLUSTER, name).await
    }

    pub async fn service_in(&self, cluster: &str, name: &str) -> ferry_aws::ecs::types::Service {
        let out = self.clients.ecs.describe_services().cluster(cluster).services(name).send().await.unwrap();
        out.services()[0].clone()
    }

    /// The ARNs of the service's RUNNING tasks, sorted.
    pub async fn running_task_arns(&self, name: &str) -> Vec<String> {
        let listed = self.clients.ecs.list_tasks().cluster(CLUSTER).service_name(name).send().await.unwrap();
        let described =
            self.clients.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(listed.task_arns().to_vec())).send().await.unwrap();
        let mut arns: Vec<String> = described
            .tasks()
            .iter()
            .filter(|t| t.last_status() == Some("RUNNING"))
            .filter_map(|t| t.task_arn().map(str::to_string))
            .collect();
        arns.sort();
        arns
    }

    pub async fn revisions(&self, family: &str) -> Vec<String> {
        let out = self.clients.ecs.list_task_definitions().family_prefix(family).send().await.unwrap();
        out.task_definition_arns().to_vec()
    }

    /// Runs the ferry binary in the project, off the main thread.
    pub async fn ferry(&self, args: &[&str]) -> Output {
        self.ferry_as("tester", args).await
    }

    /// Runs the ferry binary as `user` (FERRY_USER).
    pub async fn ferry_as(&self, user: &str, args: &[&str]) -> Output {
        let mut command = std::process::Command::new(ferry_bin());
        command
            .args(args)
            .arg("--config")
            .arg(self.config())
            .arg("--ledger")
            .arg(self.ledger())
            .env("FERRY_USER", user)
            .env("NO_COLOR", "1")
            .env_remove("FERRY_OUTPUT")
            .current_dir(self.dir.path());
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }

    /// Runs the ferry binary as [`World::ferry`] does, in the background: the test goes on
    /// while it runs (a deploy or watch waiting for something the test then does).
    pub fn ferry_in_background(&self, args: &[&str]) -> tokio::task::JoinHandle<Output> {
        let mut command = std::process::Command::new(ferry_bin());
        command
            .args(args)
            .arg("--config")
            .arg(self.config())
            .arg("--ledger")
            .arg(self.ledger())
            .env("FERRY_USER", "tester")
            .env("NO_COLOR", "1")
            .env_remove("FERRY_OUTPUT")
            .current_dir(self.dir.path());
        tokio::task::spawn_blocking(move || command.output().unwrap())
    }

    pub async fn calls(&self) -> BTreeMap<String, u64> {
        let body: Value = self.http.get(format!("{}/_ferry/calls", self.server.endpoint())).send().await.unwrap().json().await.unwrap();
        serde_json::from_value(body["calls"].clone()).unwrap()
    }

    pub async fn reset_calls(&self) {
        self.http.delete(format!("{}/_ferry/calls", self.server.endpoint())).send().await.unwrap();
    }

    /// The versions the service's running tasks answer with over HTTP.
    pub async fn answering_versions(&self, name: &str) -> Vec<String> {
        self.answering_versions_in(CLUSTER, name).await
    }

    pub async fn answering_versions_in(&self, cluster: &str, name: &str) -> Vec<String> {
        let listed = self.clients.ecs.list_tasks().cluster(cluster).service_name(name).send().await.unwrap();
        let described =
            self.clients.ecs.describe_tasks().cluster(cluster).set_tasks(Some(listed.task_arns().to_vec())).send().await.unwrap();
        let mut versions = Vec::new();
        for task in described.tasks().iter().filter(|t| t.last_status() == Some("RUNNING")) {
            let port = task.containers()[0].network_bindings()[0].host_port().unwrap();
            let body: Value = self.http.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap().json().await.unwrap();
            versions.push(body["version"].as_str().unwrap().to_string());
        }
        versions.sort();
        versions
    }

    pub async fn digest_of(&self, tag: &str) -> String {
        let out = self
            .clients
            .ecr
            .describe_images()
            .repository_name(REPOSITORY)
            .image_ids(ferry_aws::ecr::types::ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await
            .unwrap();
        out.image_details()[0].image_digest().unwrap().to_string()
    }

    /// The image digests the service's running tasks report over HTTP.
    pub async fn answering_digests(&self, name: &str) -> Vec<String> {
        self.answering_digests_in(CLUSTER, name).await
    }

    pub async fn answering_digests_in(&self, cluster: &str, name: &str) -> Vec<String> {
        let listed = self.clients.ecs.list_tasks().cluster(cluster).service_name(name).send().await.unwrap();
        let described =
            self.clients.ecs.describe_tasks().cluster(cluster).set_tasks(Some(listed.task_arns().to_vec())).send().await.unwrap();
        let mut digests = Vec::new();
        for task in described.tasks().iter().filter(|t| t.last_status() == Some("RUNNING")) {
            let port = task.containers()[0].network_bindings()[0].host_port().unwrap();
            let body: Value = self.http.get(format!("http://127.0.0.1:{port}/")).send().await.unwrap().json().await.unwrap();
            digests.push(body["digest"].as_str().unwrap_or_default().to_string());
        }
        digests
    }

    pub fn ledger_records(&self) -> Vec<ferry_store::DeploymentRecord> {
        let ledger = ferry_store::Ledger::open(&self.ledger()).unwrap();
        ledger.history(&ferry_store::HistoryFilter::default()).unwrap()
    }
}

pub fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect::<String>().chars().take(64).collect()
}

/// The result object: the last JSON line ferry printed.
pub fn result_of(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no output; stderr: {}", String::from_utf8_lossy(&output.stderr)));
    let value: Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(value["type"], "result", "{last}");
    value
}

pub fn events_of(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "event")
        .collect()
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

pub fn mutations(calls: &BTreeMap<String, u64>) -> u64 {
    calls.iter().filter(|(op, _)| !op.contains(":Describe") && !op.contains(":List") && !op.contains(":BatchGet")).map(|(_, n)| n).sum()
}
