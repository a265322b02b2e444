//! `ferry demo`: the README's first command. It starts an embedded ferry local, sets up
//! what Terraform would own (an ECR repository with three versions of a sample image, a
//! cluster, a two-task service), writes a ferry.toml and a task definition template, and
//! then runs real `ferry deploy`s against it: a first version, a new version, and a broken
//! version that ferry detects and rolls back — with the progress a user would see.
//!
//! It keeps what it made in its directory (the project, ferry local's state, the ledger) and
//! ends with the commands that carry on from there, which must work as printed.

use std::path::Path;

use ferry_aws::ecs::types::{ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration};
use ferry_aws::{Clients, Target};
use ferry_core::ExitKind;
use ferry_local::{LocalServer, Options};

use crate::Failure;
use crate::cli::{DemoArgs, DeployArgs, GlobalArgs, HistoryArgs, ServiceVersion, StatusArgs};
use crate::local::instances::{self, shell_word};
use crate::local::push_image;
use crate::output::Printer;

const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";
const CLUSTER: &str = "demo";
const SERVICE: &str = "web";
const REPOSITORY: &str = "demo/web";
/// Marks a directory as the demo's, so a new run may clear what an earlier one left.
const MARKER: &str = ".ferry-demo";

fn aws(e: impl std::fmt::Display) -> Failure {
    Failure::platform(e.to_string())
}

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> Result<(), Failure> {
    let dir = match args.state_dir {
        Some(dir) => dir,
        None => instances::ferry_state_home()
            .map(|home| home.join("demo"))
            .ok_or_else(|| Failure::input("cannot find a directory for the demo: set --state-dir DIR, XDG_STATE_HOME or HOME"))?,
    };
    prepare(&dir).await?;
    let dir = instances::absolute(&dir);
    let printer = Printer::new(global);
    let server = LocalServer::start(Options { port: args.port, state_dir: dir.join("local"), ..Default::default() })
        .await
        .map_err(|e| Failure::platform(e.to_string()))?;
    printer.narrate("ferry demo: real `ferry deploy`s against an embedded ferry local (no AWS account needed)");
    printer.narrate(&format!("  ferry local at {} (state, task logs and the demo project in {})", server.endpoint(), dir.display()));
    let endpoint = server.endpoint();
    let result = scenario(&printer, global, &endpoint, &dir, !args.no_failure).await;
    server.shutdown().await;
    if result.is_ok() {
        carry_on(&printer, &dir);
        if printer.json() {
            // The commands the demo ran printed their own lines; this is the demo's result.
            printer.json_line(&serde_json::json!({
                "type": "result",
                "command": "demo",
                "exit_code": 0,
                "outcome": ExitKind::Ok,
                "project": dir.join("project"),
                "state_dir": dir.join("local"),
            }));
        }
    }
    result
}

/// Makes `dir` ready for a fresh run: new, empty, or an earlier demo's (then cleared; a
/// ferry local still running on it is refused). Anything else is refused, untouched.
async fn prepare(dir: &Path) -> Result<(), Failure> {
    let is_empty = std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()).unwrap_or(true);
    if !is_empty {
        if !dir.join(MARKER).exists() {
            return Err(Failure::input(format!(
                "{} is not empty and holds no earlier demo; give the demo a new or empty directory with --state-dir DIR",
                dir.display()
            )));
        }
        if let (Some((record, _)), _) = instances::at_state_dir(&dir.join("local")).await {
            return Err(Failure::input(format!(
                "a ferry local runs on the demo's state ({}); stop it with `ferry local down --state-dir {}` before running the demo again",
                record.describe(),
                shell_word(&instances::absolute(&dir.join("local")))
            )));
        }
        let cleared = |e: std::io::Error| Failure::platform(format!("cannot clear the last demo in {}: {e}", dir.display()));
        for sub in ["local", "project"] {
            if dir.join(sub).exists() {
                std::fs::remove_dir_all(dir.join(sub)).map_err(cleared)?;
            }
        }
        for entry in std::fs::read_dir(dir).map_err(cleared)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with("ledger.sqlite") {
                std::fs::remove_file(entry.path()).map_err(cleared)?;
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Failure::platform(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::write(
        dir.join(MARKER),
        "ferry demo's directory: `ferry demo` clears local/, project/ and the ledger here when it runs again.\n",
    )
    .map_err(|e| Failure::platform(format!("cannot write in {}: {e}", dir.display())))
}

/// Where the demo left its project, and the commands that carry on from there.
fn carry_on(printer: &Printer, dir: &Path) {
    let project = dir.join("project");
    let ledger = shell_word(&dir.join("ledger.sqlite"));
    printer.narrate(&format!(
        "\nthe example project is kept in {}: ferry.toml and web.json (the task definition template);",
        project.display()
    ));
    printer.narrate(&format!(
        "ferry local's state (cluster {CLUSTER}, service {SERVICE}, images {REPOSITORY}:*) in {}.",
        dir.join("local").display()
    ));
    printer.narrate("To carry on where the demo stopped:");
    printer.narrate(&format!("  ferry local up --detach --state-dir {}", shell_word(&dir.join("local"))));
    printer.narrate(&format!("  cd {}", shell_word(&project)));
    printer.narrate(&format!("  ferry status --ledger {ledger}"));
    printer.narrate(&format!("  ferry deploy demo {SERVICE}=1.0.0 --ledger {ledger}"));
    printer.narrate(&format!("  ferry local down --state-dir {}", shell_word(&dir.join("local"))));
}

async fn scenario(printer: &Printer, global: &GlobalArgs, endpoint: &str, dir: &Path, with_failure: bool) -> Result<(), Failure> {
    let clients = Clients::new(&Target::local(endpoint, ACCOUNT, REGION)).await;
    let exe = crate::local::ferry_exe()?;
    let exe = exe.to_string_lossy().to_string();

    printer.narrate(&format!(
        "\nstep 0: what Terraform owns: ECR repository {REPOSITORY} with images, cluster {CLUSTER}, service {SERVICE} (2 tasks, placeholder image)"
    ));
    let mut uri = String::new();
    for version in ["bootstrap", "1.0.0", "1.1.0", "1.2.0"] {
        // What `ferry local push-image demo/web:VERSION` does.
        let manifest = push_image::sample_manifest(REPOSITORY, version);
        let pushed = push_image::push(&clients, REPOSITORY, version, &manifest, push_image::OCI_MANIFEST).await?;
        printer.narrate(&format!("  pushed {REPOSITORY}:{version} → {}", ferry_core::short_digest(&pushed.digest)));
        if version == "bootstrap" {
            uri = pushed.image.trim_end_matches(":bootstrap").to_string();
        }
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
    let bootstrap_arn = registered.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string();
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
    let up_endpoint = format!("http://127.0.0.1:{}", instances::default_port());
    std::fs::write(project.join("ferry.toml"), demo_config(&up_endpoint)).map_err(|e| Failure::internal(e.to_string()))?;
    std::fs::write(project.join("web.json"), demo_template(&exe)).map_err(|e| Failure::internal(e.to_string()))?;
    printer.narrate(&format!("  wrote {} and web.json (the task definition template)", project.join("ferry.toml").display()));
    let global = GlobalArgs {
        config: project.join("ferry.toml"),
        ledger: Some(dir.join("ledger.sqlite")),
        // ferry.toml names where `ferry local up` listens, for after the demo; the demo's
        // own ferry local listens elsewhere.
        endpoint_url: Some(endpoint.to_string()),
        ..global.clone()
    };

    step(printer, &global, "step 1: the first version", "1.0.0", ExitKind::Ok).await?;
    answer(printer, &clients).await?;
    step(printer, &global, "step 2: a new version", "1.1.0", ExitKind::Ok).await?;
    answer(printer, &clients).await?;
    if with_failure {
        step(
            printer,
            &global,
            "step 3: a broken version (its process exits at start); ferry rolls it back",
            "1.2.0",
            ExitKind::FailedRolledBack,
        )
        .await?;
        answer(printer, &clients).await?;
    }
    printer.narrate("\n$ ferry status");
    crate::status::run(&global, StatusArgs { environment: None }).await?;
    printer.narrate("\n$ ferry history");
    crate::history::run(&global, HistoryArgs { environment: None, service: None, limit: 10 }).await?;
    printer.narrate("\ndone: the same ferry.toml works against AWS once endpoint_url and credentials point there.");
    Ok(())
}

/// Runs `ferry deploy demo web=VERSION` and checks it ended as expected.
async fn step(printer: &Printer, global: &GlobalArgs, title: &str, version: &str, expected: ExitKind) -> Result<(), Failure> {
    printer.narrate(&format!("\n{title}\n$ ferry deploy demo {SERVICE}={version}"));
    let args = DeployArgs {
        environment: "demo".into(),
        services: vec![ServiceVersion { service: SERVICE.into(), version: version.into() }],
        dry_run: false,
        timeout: None,
        force: false,
        no_probe: false,
        skip_gates: false,
        reason: None,
        detach: false,
        vars: Default::default(),
    };
    let result = crate::deploy::run(global, args).await;
    let kind = match &result {
        Ok(()) => ExitKind::Ok,
        Err(failure) => failure.kind(),
    };
    if kind != expected {
        return Err(result
            .err()
            .unwrap_or_else(|| Failure::internal(format!("ferry deploy {SERVICE}={version} succeeded, but it should have failed"))));
    }
    if let Err(failure) = result {
        printer.narrate(&format!("(as expected: {failure}; exit code {})", failure.kind().code()));
    }
    Ok(())
}

fn demo_config(endpoint: &str) -> String {
    format!(
        r#"# Written by `ferry demo`. endpoint_url is where `ferry local up` listens; against AWS,
# remove it and credentials, and set the account's region and cluster.
[environments.demo]
region = "{REGION}"
cluster = "{CLUSTER}"
endpoint_url = "{endpoint}"
credentials = "ferry-local"
timeout = "2m"
bake = "3s"              # keep watching 3 s after COMPLETED (30 s unless set): the demo stays short
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

/// Asks each running task over HTTP which version it runs.
async fn answer(printer: &Printer, clients: &Clients) -> Result<(), Failure> {
    let listed = clients.ecs.list_tasks().cluster(CLUSTER).service_name(SERVICE).send().await.map_err(aws)?;
    let described = clients.ecs.describe_tasks().cluster(CLUSTER).set_tasks(Some(listed.task_arns().to_vec())).send().await.map_err(aws)?;
    for task in described.tasks() {
        let port = task.containers().first().and_then(|c| c.network_bindings().first()).and_then(|b| b.host_port());
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
        printer.narrate(&format!("  task {} on 127.0.0.1:{port} answers version {version}", &id[..8.min(id.len())]));
    }
    Ok(())
}
