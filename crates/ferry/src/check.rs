//! `ferry check`: validate ferry.toml and every template, offline, for every environment.
//! Templates are rendered with placeholder image values and checked against the
//! RegisterTaskDefinition request shape, so a typo fails here rather than at deploy time.

use ferry_app::project;
use ferry_core::config::TaskDefinitionSource;
use ferry_core::taskdef;
use ferry_core::template::{self, Variables, toml_to_json};

use crate::Failure;
use crate::cli::GlobalArgs;
use crate::output::Printer;

pub fn run(global: &GlobalArgs) -> Result<(), Failure> {
    let config = project::load_config(&crate::app::project(global))?;
    let printer = Printer::new(global);
    // (the file a problem is in, the problem)
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut warnings = Vec::new();
    let mut checked = 0;
    let config_name = project::display_path(&config.path);
    for (env_name, env) in &config.environments {
        for (service_name, service) in &config.services {
            checked += 1;
            let ecs_service = match config.ecs_service_name(env_name, service_name) {
                Ok(name) => name,
                Err(e) => {
                    problems.push((config_name.clone(), format!("{env_name}/{service_name}: {e}")));
                    continue;
                }
            };
            let TaskDefinitionSource::Template(path) = service.source() else { continue };
            let full = config.root.join(&path);
            let name = project::display_path(&full);
            let text = match std::fs::read_to_string(&full) {
                Ok(text) => text,
                Err(e) => {
                    problems.push((name.clone(), format!("{name}: cannot read: {e}")));
                    continue;
                }
            };
            let region = config.region(env).unwrap_or_else(|| "us-east-1".into());
            // The account only when it is known offline: a template that uses an unknown
            // one is refused, naming the variable and how to set it.
            let account = config.known_account(env);
            let uri =
                format!("{}.dkr.ecr.{region}.amazonaws.com/{}", account.as_deref().unwrap_or("123456789012"), service.repository_name());
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
                account: account.unwrap_or_default(),
                vars: env.vars.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect(),
                tfstate: match project::load_tfstate(&config, env) {
                    Ok(state) => state,
                    Err(e) => {
                        problems.push((config_name.clone(), format!("environment {env_name}: {e}")));
                        continue;
                    }
                },
                ..Variables::default()
            };
            let result = template::render_task_definition(&name, &text, &variables).map_err(|e| e.to_string()).and_then(|mut td| {
                if let Some(warning) = taskdef::read_only_warning(&td) {
                    let warning = format!("environment {env_name}: {name}: {warning}");
                    if !warnings.contains(&warning) {
                        warnings.push(warning);
                    }
                }
                taskdef::set_image(&mut td, &service.container, &variables.image)
                    .map_err(|e| format!("{name}: services.{service_name}.container in {config_name}: {e}"))?;
                ferry_aws::taskdef::register_input(&td).map(|_| ()).map_err(|e| format!("{name}: {e}"))
            });
            if let Err(message) = result {
                problems.push((name.clone(), format!("environment {env_name}: {message}")));
            }
        }
    }
    let files = problems.iter().fold(Vec::<&str>::new(), |mut files, (file, _)| {
        if !files.contains(&file.as_str()) {
            files.push(file);
        }
        files
    });
    let summary = format!("{} problem(s) in {}", problems.len(), files.join(", "));
    if printer.json() {
        let messages: Vec<&String> = problems.iter().map(|(_, m)| m).collect();
        printer.json_line(&serde_json::json!({"type": "result", "command": "check", "ok": problems.is_empty(), "checked": checked, "problems": messages, "warnings": warnings}));
    } else {
        for (_, p) in &problems {
            printer.out(&format!("✗ {p}"));
        }
        for w in &warnings {
            printer.out(&format!("! {w}"));
        }
        if problems.is_empty() {
            printer.out(&format!(
                "✓ {config_name}: {} environment(s) × {} service(s) valid",
                config.environments.len(),
                config.services.len()
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Failure::input(summary)) }
}
