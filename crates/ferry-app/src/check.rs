//! Validate ferry.toml and every template, offline, for every environment × service.
//! Templates are rendered with placeholder image values and checked against the
//! RegisterTaskDefinition request shape, so a typo fails here rather than at deploy time.
//! No call is made, no ledger opened.

use ferry_core::config::TaskDefinitionSource;
use ferry_core::taskdef;
use ferry_core::template::{self, Variables, toml_to_json};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::project::{self, Context};

/// What `check` found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckResult {
    /// ferry.toml as messages name it (relative to the working directory when below it).
    pub config: String,
    /// How many environments and services ferry.toml defines.
    pub environments: usize,
    pub services: usize,
    /// How many environment × service pairs were checked.
    pub checked: usize,
    /// What would fail a deploy, each with the file it is in (in the order found).
    pub problems: Vec<Problem>,
    /// What will not fail a deploy but is probably not meant (read-only fields that are
    /// ignored), each said once.
    pub warnings: Vec<String>,
}

/// One problem: the file it is in, and what is wrong (`environment dev: web.json: ...`).
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    pub file: String,
    pub message: String,
}

impl CheckResult {
    /// Problems are invalid input (exit 2): `N problem(s) in FILE, FILE`.
    pub fn error(&self) -> Option<Error> {
        if self.problems.is_empty() {
            return None;
        }
        let files = self.problems.iter().fold(Vec::<&str>::new(), |mut files, p| {
            if !files.contains(&p.file.as_str()) {
                files.push(&p.file);
            }
            files
        });
        Some(Error::input(format!("{} problem(s) in {}", self.problems.len(), files.join(", "))))
    }
}

/// Checks every environment × service. Errors: ferry.toml missing or invalid (invalid
/// input, exit 2); what is wrong beyond that is in the result's problems.
pub fn check(ctx: &Context<'_>) -> Result<CheckResult> {
    let config = project::load_config(ctx.project)?;
    let config_name = project::display_path(&config.path);
    let mut problems: Vec<Problem> = Vec::new();
    let mut warnings = Vec::new();
    let mut checked = 0;
    let problem = |file: &str, message: String| Problem { file: file.to_string(), message };
    for (env_name, env) in &config.environments {
        for (service_name, service) in &config.services {
            checked += 1;
            let ecs_service = match config.ecs_service_name(env_name, service_name) {
                Ok(name) => name,
                Err(e) => {
                    problems.push(problem(&config_name, format!("{env_name}/{service_name}: {e}")));
                    continue;
                }
            };
            let TaskDefinitionSource::Template(path) = service.source() else { continue };
            let full = config.root.join(&path);
            let name = project::display_path(&full);
            let text = match std::fs::read_to_string(&full) {
                Ok(text) => text,
                Err(e) => {
                    problems.push(problem(&name, format!("{name}: cannot read: {e}")));
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
                        problems.push(problem(&config_name, format!("environment {env_name}: {e}")));
                        continue;
                    }
                },
                ..Variables::default()
            };
            let wrong = match template::render_task_definition(&name, &text, &variables) {
                Err(e) => Some(e.to_string()),
                Ok(mut td) => {
                    if let Some(warning) = taskdef::read_only_warning(&td) {
                        let warning = format!("environment {env_name}: {name}: {warning}");
                        if !warnings.contains(&warning) {
                            warnings.push(warning);
                        }
                    }
                    match taskdef::set_image(&mut td, &service.container, &variables.image) {
                        Err(e) => Some(format!("{name}: services.{service_name}.container in {config_name}: {e}")),
                        Ok(_) => ferry_aws::taskdef::register_input(&td).err().map(|e| format!("{name}: {e}")),
                    }
                }
            };
            if let Some(message) = wrong {
                problems.push(problem(&name, format!("environment {env_name}: {message}")));
            }
        }
    }
    Ok(CheckResult {
        config: config_name,
        environments: config.environments.len(),
        services: config.services.len(),
        checked,
        problems,
        warnings,
    })
}
