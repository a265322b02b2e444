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
    /// The environment's Terraform state, read by `tfstate("type.name.attribute")`.
    #[serde(skip)]
    pub tfstate: Option<std::sync::Arc<serde_json::Value>>,
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
    let mut env = environment();
    let state = variables.tfstate.clone();
    env.add_function("tfstate", move |address: String| -> Result<Value, minijinja::Error> {
        let Some(state) = &state else {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "tfstate() needs the environment's tfstate = \"path/to/terraform.tfstate\" in ferry.toml",
            ));
        };
        tfstate_lookup(state, &address)
            .map(|v| Value::from_serialize(&v))
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e))
    });
    let template = env.template_from_named_str(name, source).map_err(|e| describe(name, &e))?;
    let rendered = template.render(variables.context()).map_err(|e| describe(name, &e))?;
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

/// Reads a value from a Terraform state (format version 4) by address:
/// `aws_lb_target_group.api.arn`, `module.net.aws_subnet.a.id`, `data.aws_vpc.main.id`,
/// `aws_subnet.private[1].id`, `aws_route53_record.www["prod"].fqdn`, and nested attributes
/// (`aws_lb.main.subnet_mapping.0.subnet_id`). ARNs are then never copied by hand.
pub fn tfstate_lookup(state: &serde_json::Value, address: &str) -> Result<serde_json::Value, String> {
    let version = state.get("version").and_then(serde_json::Value::as_i64).unwrap_or(0);
    if version != 4 {
        return Err(format!("tfstate: expected a Terraform state of format version 4, got version {version}"));
    }
    let mut parts: Vec<&str> = address.split('.').collect();
    let mut module = Vec::new();
    while parts.first() == Some(&"module") && parts.len() > 1 {
        module.push(format!("module.{}", parts[1]));
        parts.drain(..2);
    }
    let mode = if parts.first() == Some(&"data") {
        parts.remove(0);
        "data"
    } else {
        "managed"
    };
    if parts.len() < 3 {
        return Err(format!("tfstate: {address:?} is not an address like \"aws_lb_target_group.api.arn\" (TYPE.NAME.ATTRIBUTE)"));
    }
    let kind = parts[0];
    let (name, index) = match parts[1].split_once('[') {
        Some((name, rest)) => (name, Some(rest.trim_end_matches(']').trim_matches('"'))),
        None => (parts[1], None),
    };
    let module = module.join(".");
    let resources = state.get("resources").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    let resource = resources
        .iter()
        .find(|r| {
            r.get("type").and_then(serde_json::Value::as_str) == Some(kind)
                && r.get("name").and_then(serde_json::Value::as_str) == Some(name)
                && r.get("mode").and_then(serde_json::Value::as_str).unwrap_or("managed") == mode
                && r.get("module").and_then(serde_json::Value::as_str).unwrap_or("") == module
        })
        .ok_or_else(|| {
            let known: Vec<String> = resources
                .iter()
                .filter_map(|r| Some(format!("{}.{}", r.get("type")?.as_str()?, r.get("name")?.as_str()?)))
                .collect();
            format!("tfstate: no resource {kind}.{name} in the state (it has: {})", known.join(", "))
        })?;
    let instances = resource.get("instances").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    let instance = match index {
        None if instances.len() == 1 => instances.first(),
        None => return Err(format!("tfstate: {kind}.{name} has {} instances; say which, e.g. {kind}.{name}[0]", instances.len())),
        Some(key) => instances.iter().find(|i| match i.get("index_key") {
            Some(serde_json::Value::Number(n)) => n.to_string() == key,
            Some(serde_json::Value::String(s)) => s == key,
            _ => false,
        }),
    }
    .ok_or_else(|| format!("tfstate: {kind}.{name} has no instance {}", index.unwrap_or("")))?;
    let mut value = instance.get("attributes").ok_or_else(|| format!("tfstate: {kind}.{name} has no attributes"))?;
    for step in &parts[2..] {
        value = match value {
            serde_json::Value::Object(map) => map.get(*step),
            serde_json::Value::Array(list) => step.parse::<usize>().ok().and_then(|i| list.get(i)),
            _ => None,
        }
        .ok_or_else(|| format!("tfstate: {kind}.{name} has no attribute {}", parts[2..].join(".")))?;
    }
    Ok(value.clone())
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

    fn state() -> serde_json::Value {
        serde_json::json!({"version": 4, "resources": [
            {"mode": "managed", "type": "aws_lb_target_group", "name": "api", "instances": [{"attributes": {"arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/abc", "port": 8080}}]},
            {"mode": "managed", "type": "aws_subnet", "name": "private", "instances": [{"index_key": 0, "attributes": {"id": "subnet-a"}}, {"index_key": 1, "attributes": {"id": "subnet-b"}}]},
            {"module": "module.net", "mode": "data", "type": "aws_vpc", "name": "main", "instances": [{"attributes": {"id": "vpc-1", "tags": {"Name": "main"}}}]}
        ]})
    }

    #[test]
    fn tfstate_reads_resources_modules_data_and_indexes() {
        let s = state();
        assert_eq!(tfstate_lookup(&s, "aws_lb_target_group.api.arn").unwrap(), "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/abc");
        assert_eq!(tfstate_lookup(&s, "aws_subnet.private[1].id").unwrap(), "subnet-b");
        assert_eq!(tfstate_lookup(&s, "module.net.data.aws_vpc.main.tags.Name").unwrap(), "main");
        assert!(tfstate_lookup(&s, "aws_subnet.private.id").unwrap_err().contains("2 instances"));
        assert!(tfstate_lookup(&s, "aws_lb_target_group.web.arn").unwrap_err().contains("no resource aws_lb_target_group.web"));
        assert!(tfstate_lookup(&s, "aws_lb_target_group.api.nope").unwrap_err().contains("no attribute nope"));
    }

    #[test]
    fn templates_call_tfstate_and_say_when_there_is_no_state() {
        let mut v = vars();
        let source = r#"{"family": "x", "tg": "{{ tfstate('aws_lb_target_group.api.arn') }}"}"#;
        let err = render_task_definition("web.json", source, &v).expect_err("no state");
        assert!(err.to_string().contains("tfstate = "), "{err}");
        v.tfstate = Some(std::sync::Arc::new(state()));
        let td = render_task_definition("web.json", source, &v).expect("renders");
        assert!(td["tg"].as_str().unwrap().ends_with("targetgroup/api/abc"));
    }

    #[test]
    fn rendered_output_must_be_a_json_object() {
        let err = render_task_definition("web.json", "{\"family\": {{ version }}}", &vars()).expect_err("not json");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = render_task_definition("web.json", "[]", &vars()).expect_err("array");
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
    }
}
