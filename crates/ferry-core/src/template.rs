//! Task definition templates: native ECS JSON rendered with minijinja.
//!
//! Undefined variables are errors (minijinja's strict mode), not empty strings: an empty
//! `executionRoleArn` discovered by ECS at deploy time is worse than a refusal at `ferry check`.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, Value};

/// What went wrong rendering a template, with the file and line.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{name}: {message}")]
    Render { name: String, message: String },
    #[error("{name}: the rendered template is not valid JSON: {message}")]
    Json { name: String, message: String },
    #[error("{name}: the rendered template must be a JSON object (a task definition), got {got}")]
    NotAnObject { name: String, got: &'static str },
}

/// The variables a task definition template can use.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Variables {
    /// The version being deployed (the image tag).
    pub version: String,
    /// The image digest the version resolved to (`sha256:...`).
    pub digest: String,
    /// The image reference to deploy: `repo:version`, or `repo@digest` with pin_digest.
    pub image: String,
    /// The repository URI, without tag or digest.
    pub repository_uri: String,
    /// The environment's name.
    pub environment: String,
    /// ferry's name of the service.
    pub service: String,
    /// The ECS service name.
    pub ecs_service: String,
    pub cluster: String,
    pub region: String,
    pub account: String,
    /// The environment's `vars`, also available at top level.
    pub vars: BTreeMap<String, serde_json::Value>,
}

impl Variables {
    fn context(&self) -> Value {
        let mut map: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in &self.vars {
            map.insert(k.clone(), Value::from_serialize(v));
        }
        // The named variables win over a var of the same name: `version` must be the version.
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(self) {
            for (k, v) in fields {
                map.insert(k, Value::from_serialize(&v));
            }
        }
        Value::from(map)
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // Templates are named `*.json`, which minijinja would escape as JSON by default, turning
    // `"{{ image }}"` into `""repo:1.0""`. Values go in as text; `| tojson` is there for more.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

fn describe(name: &str, e: &minijinja::Error) -> TemplateError {
    let mut message = e.kind().to_string();
    if let Some(detail) = e.detail() {
        message = format!("{message}: {detail}");
    }
    if let Some(line) = e.line() {
        message = format!("line {line}: {message}");
    }
    if let Some(source) = e.template_source()
        && let Some(range) = e.range()
        && let Some(text) = source.get(range)
    {
        message = format!("{message} (at `{text}`)");
    }
    TemplateError::Render { name: name.to_string(), message }
}

/// Renders a small template string (a name pattern) with a context.
pub fn render_str(name: &str, source: &str, context: Value) -> Result<String, TemplateError> {
    let env = environment();
    let template = env.template_from_named_str(name, source).map_err(|e| describe(name, &e))?;
    template.render(context).map_err(|e| describe(name, &e))
}

/// Renders a task definition template and parses the result as a JSON object.
pub fn render_task_definition(name: &str, source: &str, variables: &Variables) -> Result<serde_json::Value, TemplateError> {
    let rendered = render_str(name, source, variables.context())?;
    let value: serde_json::Value = serde_json::from_str(&rendered).map_err(|e| TemplateError::Json {
        name: name.to_string(),
        message: format!("{e} (line {} of the rendered output)", e.line()),
    })?;
    if !value.is_object() {
        let got = match value {
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::String(_) => "a string",
            _ => "a scalar",
        };
        return Err(TemplateError::NotAnObject { name: name.to_string(), got });
    }
    Ok(value)
}

/// Converts a TOML value (an environment's `vars`) to JSON for the template context.
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        Variables {
            version: "1.4.2".into(),
            digest: "sha256:abc".into(),
            image: "repo/web:1.4.2".into(),
            environment: "prod".into(),
            vars: BTreeMap::from([("log_level".to_string(), serde_json::json!("warn")), ("version".to_string(), serde_json::json!("x"))]),
            ..Variables::default()
        }
    }

    #[test]
    fn variables_and_vars_render() {
        let td = render_task_definition(
            "web.json",
            r#"{"family": "web-{{ environment }}", "containerDefinitions": [{"name": "web", "image": "{{ image }}",
               "environment": [{"name": "LOG", "value": "{{ vars.log_level }}/{{ log_level }}"}, {"name": "V", "value": "{{ version }}"}]}]}"#,
            &vars(),
        )
        .expect("renders");
        assert_eq!(td["family"], "web-prod");
        assert_eq!(td["containerDefinitions"][0]["image"], "repo/web:1.4.2");
        assert_eq!(td["containerDefinitions"][0]["environment"][0]["value"], "warn/warn");
        assert_eq!(td["containerDefinitions"][0]["environment"][1]["value"], "1.4.2", "named variables win over vars");
    }

    #[test]
    fn an_undefined_variable_names_the_file_the_line_and_the_name() {
        let err = render_task_definition("web.json", "{\n\"family\": \"{{ famly }}\"}", &vars()).expect_err("undefined");
        let message = err.to_string();
        assert!(message.starts_with("web.json: line 2"), "{message}");
        assert!(message.contains("undefined"), "{message}");
        assert!(message.contains("famly"), "{message}");
    }

    #[test]
    fn rendered_output_must_be_a_json_object() {
        let err = render_task_definition("web.json", "{\"family\": {{ version }}}", &vars()).expect_err("not json");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = render_task_definition("web.json", "[]", &vars()).expect_err("array");
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
    }
}
