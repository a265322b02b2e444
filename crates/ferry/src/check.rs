//! `ferry check`: validate ferry.toml and every template, offline, for every environment.
//! Templates are rendered with placeholder image values and checked against the
//! RegisterTaskDefinition request shape, so a typo fails here rather than at deploy time.

use ferry_core::config::TaskDefinitionSource;
use ferry_core::taskdef;
use ferry_core::template::{self, Variables, toml_to_json};

use crate::Failure;
use crate::cli::GlobalArgs;
use crate::output::Printer;
use crate::project;

pub fn run(global: &GlobalArgs) -> Result<(), Failure> {
    let config = project::load_config(global)?;
    let printer = Printer::new(global);
    let mut problems = Vec::new();
    let mut checked = 0;
    for (env_name, env) in &config.environments {
        for (service_name, service) in &config.services {
            checked += 1;
            let ecs_service = match config.ecs_service_name(env_name, service_name) {
                Ok(name) => name,
                Err(e) => {
                    problems.push(format!("{env_name}/{service_name}: {e}"));
                    continue;
                }
            };
            let TaskDefinitionSource::Template(path) = service.source() else { continue };
            let full = config.root.join(&path);
            let text = match std::fs::read_to_string(&full) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(format!("{}: cannot read: {e}", full.display()));
                    continue;
                }
            };
            let uri = format!("{}.dkr.ecr.{}.amazonaws.com/{}", env.account.as_deref().unwrap_or("123456789012"), config.region(env).unwrap_or_else(|| "us-east-1".into()), service.repository_name());
            let variables = Variables {
                version: "0.0.0-check".into(),
                digest: format!("sha256:{}", "0".repeat(64)),
                image: format!("{uri}:0.0.0-check"),
                repository_uri: uri,
                environment: env_name.clone(),
                service: service_name.clone(),
                ecs_service,
                cluster: env.cluster.clone(),
                region: config.region(env).unwrap_or_default(),
                account: env.account.clone().unwrap_or_default(),
                vars: env.vars.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect(),
                tfstate: match project::load_tfstate(&config, env) {
                    Ok(state) => state,
                    Err(e) => {
                        problems.push(format!("environment {env_name}: {e}"));
                        continue;
                    }
                },
            };
            let name = full.display().to_string();
            let result = template::render_task_definition(&name, &text, &variables)
                .map_err(|e| e.to_string())
                .and_then(|mut td| {
                    taskdef::set_image(&mut td, &service.container, &variables.image).map_err(|e| format!("{name}: services.{service_name}.container: {e}"))?;
                    ferry_aws::taskdef::register_input(&td).map(|_| ()).map_err(|e| format!("{name}: {e}"))
                });
            if let Err(message) = result {
                problems.push(format!("environment {env_name}: {message}"));
            }
        }
    }
    if printer.json() {
        printer.json_line(&serde_json::json!({"type": "result", "command": "check", "ok": problems.is_empty(), "checked": checked, "problems": problems}));
    } else {
        for p in &problems {
            printer.out(&format!("✗ {p}"));
        }
        if problems.is_empty() {
            printer.out(&format!(
                "✓ {}: {} environment(s) × {} service(s) valid",
                config.path.display(),
                config.environments.len(),
                config.services.len()
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Failure::input(format!("{} problem(s) in {}", problems.len(), config.path.display()))) }
}
