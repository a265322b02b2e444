//! Task definition templates: native ECS JSON rendered with minijinja.
//!
//! Undefined variables are errors (minijinja's strict mode), not empty strings: an empty
//! `executionRoleArn` discovered by ECS at deploy time is worse than a refusal at `ferry check`.
//! The error names the variable (and the closest known one, for a typo).
//!
//! Values only CI knows reach a template two ways: `--var NAME=VALUE` on the command line,
//! which lands in [`Variables::vars`] (over the environment's `vars` of the same name), and
//! `env("NAME", default)`, which reads the process environment while rendering; a variable
//! that is not set and has no default is an error naming it, the file and the line.
//!
//! Rendering is bounded, so a runaway template is a template error, never a hung or aborted
//! ferry: at most [`FUEL`] instructions, [`RECURSION_LIMIT`] levels of recursion,
//! [`MAX_OUTPUT_BYTES`] of output and [`MEMORY_BUDGET`] bytes of memory (see [`crate::memory`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

use crate::memory;
use crate::text;

/// How many instructions a render may execute: a task definition takes a few thousand; a
/// loop over a Terraform list of a thousand entries, some tens of thousands.
pub const FUEL: u64 = 1_000_000;
/// How deep loops, macros and includes may nest while rendering.
pub const RECURSION_LIMIT: usize = 100;
/// How much a render may write: a task definition is a few KiB (ECS takes at most 64 KiB).
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// How much memory a render may allocate, all values included.
pub const MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// What went wrong rendering a template, with the file and line.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{name}: {message}")]
    Render { name: String, message: String },
    #[error("{name}: the rendered template is not valid JSON: {message}")]
    Json { name: String, message: String },
    #[error("{name}: the rendered template must be a JSON object (a task definition), got {got}")]
    NotAnObject { name: String, got: &'static str },
    /// A bound on rendering was reached (see the module's documentation).
    #[error("{name}: rendering stopped: {message}")]
    Limit { name: String, message: String },
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
    /// The AWS account: configured, known from the credentials, or read from the service's
    /// ARN. Empty when unknown, and then undefined to templates (never an empty string).
    pub account: String,
    /// The environment's `vars`, with the command line's `--var NAME=VALUE` (strings) over
    /// those of the same name; also available at top level, under the named variables.
    pub vars: BTreeMap<String, serde_json::Value>,
    /// The environment's Terraform state, read by `tfstate("type.name.attribute")`.
    #[serde(skip)]
    pub tfstate: Option<std::sync::Arc<serde_json::Value>>,
    /// Not a template variable: the endpoint URL every AWS call of the environment goes to,
    /// when it is not AWS's own (ferry local, a VPC endpoint), for messages.
    #[serde(skip)]
    pub endpoint: Option<String>,
    /// Not a template variable: the URL of the service's registry when it is not ECR (a
    /// `[registries]` entry), for messages.
    #[serde(skip)]
    pub registry_url: Option<String>,
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
        // An account nobody knows is undefined, so strict mode refuses it by name, rather
        // than an `arn:aws:iam:::role/...` that ECS refuses at deploy time.
        if self.account.is_empty() {
            map.remove("account");
        }
        Value::from(map)
    }

    /// Where the environment's ECS calls go, for "not found" messages:
    /// `region eu-west-1, account 123456789012, endpoint http://127.0.0.1:4590`.
    pub fn ecs_location(&self) -> String {
        self.location("ecs")
    }

    /// Where the service's images are looked up, for "not found" messages: ECR's region,
    /// account and endpoint, or the `[registries]` URL.
    pub fn registry_location(&self) -> String {
        match &self.registry_url {
            Some(url) => format!("registry {url}"),
            None => format!("ECR: {}", self.location("api.ecr")),
        }
    }

    fn location(&self, host: &str) -> String {
        let region = if self.region.is_empty() { "the default chain's" } else { self.region.as_str() };
        let mut parts = vec![format!("region {region}")];
        if !self.account.is_empty() {
            parts.push(format!("account {}", self.account));
        }
        match &self.endpoint {
            Some(url) => parts.push(format!("endpoint {url}")),
            None if !self.region.is_empty() => {
                let suffix = if self.region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
                parts.push(format!("endpoint https://{host}.{}.{suffix}", self.region));
            }
            None => {}
        }
        parts.join(", ")
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    // Templates are named `*.json`, which minijinja would escape as JSON by default, turning
    // `"{{ image }}"` into `""repo:1.0""`. Values go in as text; `| tojson` is there for more.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

/// Output that refuses to grow past [`MAX_OUTPUT_BYTES`].
struct BoundedOutput {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("the output limit was reached"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders `source` under every bound, on a thread of its own (the memory budget's).
/// `setup` adds functions to the environment.
fn render_bounded(
    name: &str,
    source: &str,
    context: impl FnOnce() -> Value + Send + 'static,
    setup: impl FnOnce(&mut Environment<'static>) + Send + 'static,
    environment_name: Option<String>,
) -> Result<String, TemplateError> {
    let (owned_name, owned_source) = (name.to_string(), source.to_string());
    let rendered = memory::run_bounded(MEMORY_BUDGET, move || {
        let (name, source) = (owned_name, owned_source);
        let mut env = environment();
        setup(&mut env);
        let context = context();
        let template = env.template_from_named_str(&name, &source).map_err(|e| describe(&name, &e, None))?;
        let mut output = BoundedOutput { bytes: Vec::new(), overflowed: false };
        if let Err(e) = template.render_captured_to(&context, &mut output) {
            if output.overflowed {
                return Err(TemplateError::Limit {
                    name: name.clone(),
                    message: format!(
                        "the output passed {} KiB (a task definition is a few KiB); look for a loop or a repeated string",
                        MAX_OUTPUT_BYTES / 1024
                    ),
                });
            }
            let undefined = Undefined { env: &env, template: &template, context: &context, environment: environment_name.as_deref() };
            return Err(describe(&name, &e, Some(&undefined)));
        }
        String::from_utf8(output.bytes)
            .map_err(|e| TemplateError::Render { name: name.clone(), message: format!("the output is not UTF-8: {e}") })
    });
    match rendered {
        Ok(result) => result,
        Err(memory::Exceeded::Memory(_)) => Err(TemplateError::Limit {
            name: name.to_string(),
            message: format!(
                "it needed more than {} MiB of memory; look for a string repeated or doubled in a loop",
                MEMORY_BUDGET / (1024 * 1024)
            ),
        }),
        Err(e) => Err(TemplateError::Render { name: name.to_string(), message: format!("rendering {e}") }),
    }
}

/// The functions a task definition template can call (ferry's and minijinja's).
const FUNCTIONS: [&str; 5] = ["tfstate", "env", "range", "namespace", "dict"];

/// What an undefined-variable error needs to name the variable.
struct Undefined<'a, 'env> {
    env: &'a Environment<'env>,
    template: &'a minijinja::Template<'env, 'env>,
    context: &'a Value,
    /// The environment rendered for, for the hint on `account`.
    environment: Option<&'a str>,
}

impl Undefined<'_, '_> {
    /// The value at a dotted path (`vars.log_level`), the context's or a global's.
    fn lookup(&self, path: &str) -> Option<Value> {
        let mut segments = path.split('.');
        let first = segments.next()?;
        let mut value = self.context.get_attr(first).ok().filter(|v| !v.is_undefined());
        if value.is_none() {
            value = self.env.globals().find(|(k, _)| *k == first).map(|(_, v)| v);
        }
        let mut value = value?;
        for segment in segments {
            value = value.get_attr(segment).ok().filter(|v| !v.is_undefined())?;
        }
        Some(value)
    }

    /// The names a path could have meant: the keys next to its last segment.
    fn neighbours(&self, path: &str) -> Vec<String> {
        match path.rsplit_once('.') {
            Some((parent, _)) => self
                .lookup(parent)
                .and_then(|v| v.try_iter().ok().map(|keys| keys.filter_map(|k| k.as_str().map(str::to_string)).collect()))
                .unwrap_or_default(),
            None => {
                let mut names: Vec<String> =
                    self.context.try_iter().map(|keys| keys.filter_map(|k| k.as_str().map(str::to_string)).collect()).unwrap_or_default();
                names.extend(FUNCTIONS.map(str::to_string));
                names
            }
        }
    }

    /// What went wrong at `line` (1-based), in words: the undefined variables there, with a
    /// suggestion for a typo; None when no variable of the template is undefined.
    fn explain(&self, line: Option<usize>, at: Option<&str>) -> Option<String> {
        let mut missing: Vec<String> =
            self.template.undeclared_variables(true).into_iter().filter(|path| self.lookup(path).is_none()).collect();
        missing.sort();
        // A nested path is reported at its first undefined step (`vars.nope`, not `vars.nope.x`).
        let missing: Vec<String> = missing
            .into_iter()
            .map(|path| {
                let segments: Vec<&str> = path.split('.').collect();
                (1..=segments.len()).map(|n| segments[..n].join(".")).find(|prefix| self.lookup(prefix).is_none()).unwrap_or(path)
            })
            .fold(Vec::new(), |mut acc, p| {
                if !acc.contains(&p) {
                    acc.push(p);
                }
                acc
            });
        let source = self.template.source();
        let line_text = line.and_then(|n| source.lines().nth(n.saturating_sub(1))).unwrap_or("");
        let mentioned = |text: &str| -> Vec<String> { missing.iter().filter(|p| contains_name(text, p)).cloned().collect() };
        let mut names = at.map(&mentioned).unwrap_or_default();
        if names.is_empty() {
            names = mentioned(line_text);
        }
        if names.is_empty() {
            names = missing.clone();
        }
        let first = names.first()?;
        let listed = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let mut message = format!("undefined variable{} {listed}", if names.len() == 1 { "" } else { "s" });
        if let Some(at) = at.filter(|at| *at != first.as_str() && contains_name(at, first)) {
            message.push_str(&format!(" in `{}`", text::excerpt(at)));
        }
        if first == "account" {
            let env = self.environment.unwrap_or("NAME");
            message.push_str(&format!(
                ": the AWS account is not known here; set account = \"123456789012\" (your 12-digit account id, \
                 `aws sts get-caller-identity` prints it) in [environments.{env}] of ferry.toml"
            ));
        } else {
            let last = first.rsplit('.').next().unwrap_or(first);
            let neighbours = self.neighbours(first);
            if let Some(suggestion) = text::closest(last, neighbours.iter().map(String::as_str)) {
                let suggestion = match first.rsplit_once('.') {
                    Some((parent, _)) => format!("{parent}.{suggestion}"),
                    None => suggestion.to_string(),
                };
                message.push_str(&format!(" (did you mean `{suggestion}`?)"));
            } else if let Some((parent, _)) = first.rsplit_once('.') {
                let mut keys = neighbours.clone();
                keys.sort();
                if !keys.is_empty() {
                    message.push_str(&format!(" ({parent} has: {})", text::excerpt(&keys.join(", "))));
                }
            }
        }
        Some(message)
    }
}

/// Whether `text` mentions the variable `path` as a whole name (not inside a longer one).
fn contains_name(text: &str, path: &str) -> bool {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    text.match_indices(path).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + path.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

fn describe(name: &str, e: &minijinja::Error, undefined: Option<&Undefined>) -> TemplateError {
    let line = e.line();
    let at = e.template_source().zip(e.range()).and_then(|(source, range)| source.get(range)).map(str::trim);
    let at_suffix = at.map(|text| format!(" (at `{}`)", text::excerpt(text))).unwrap_or_default();
    let line_prefix = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    let detail = e.detail().unwrap_or_default();
    if e.kind() == ErrorKind::OutOfFuel {
        return TemplateError::Limit {
            name: name.to_string(),
            message: format!("{line_prefix}it ran more than {FUEL} instructions; look for a loop that runs too long{at_suffix}"),
        };
    }
    if detail.contains("recursion limit") {
        return TemplateError::Limit {
            name: name.to_string(),
            message: format!("{line_prefix}it nested deeper than {RECURSION_LIMIT} levels; look for a macro that calls itself{at_suffix}"),
        };
    }
    if let Some(said) = std::error::Error::source(e).and_then(|source| source.downcast_ref::<Said>()) {
        return TemplateError::Render { name: name.to_string(), message: format!("{line_prefix}{said}") };
    }
    if e.kind() == ErrorKind::UnknownFunction
        && let Some(function) = at.and_then(|at| at.split('(').next()).map(str::trim).filter(|f| !f.is_empty())
    {
        let mut message = format!("{line_prefix}unknown function `{function}`");
        if let Some(suggestion) = text::closest(function, FUNCTIONS.iter().copied()) {
            message.push_str(&format!(" (did you mean `{suggestion}`?)"));
        }
        return TemplateError::Render { name: name.to_string(), message };
    }
    if e.kind() == ErrorKind::UndefinedError
        && let Some(explained) = undefined.and_then(|u| u.explain(line, at))
    {
        return TemplateError::Render { name: name.to_string(), message: format!("{line_prefix}{explained}") };
    }
    let mut message = e.kind().to_string();
    if !detail.is_empty() {
        message = format!("{message}: {}", text::excerpt_to(detail, 200));
    }
    TemplateError::Render { name: name.to_string(), message: format!("{line_prefix}{message}{at_suffix}") }
}

/// Renders a small template string (a name pattern) with a context.
pub fn render_str(name: &str, source: &str, context: Value) -> Result<String, TemplateError> {
    render_bounded(name, source, move || context, |_| {}, None)
}

/// Renders a task definition template and parses the result as a JSON object.
///
/// Besides the [`Variables`], the template may call `tfstate("type.name.attribute")` and
/// `env("NAME")` / `env("NAME", default)`: the process environment's `NAME` (a string),
/// else `default` (any value); unset without a default is a [`TemplateError::Render`]
/// naming the variable, the file and the line.
pub fn render_task_definition(name: &str, source: &str, variables: &Variables) -> Result<serde_json::Value, TemplateError> {
    render_task_definition_with(name, source, variables, Arc::new(|name: &str| std::env::var(name).ok()))
}

/// How `env()` reads a variable: the process environment, or a map in tests.
type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// An error a ferry template function says in words of its own (no minijinja error kind
/// before it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Said(String);

/// `env(name, default)` of a template, reading through `lookup`.
fn env_function(lookup: &Lookup, name: &str, default: Option<Value>) -> Result<Value, minijinja::Error> {
    let said = |message: String| minijinja::Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Said(message));
    if name.is_empty() {
        return Err(said("env(\"\") names no variable: give the environment variable's name, e.g. env(\"BUILD_URL\")".into()));
    }
    match (lookup(name), default) {
        (Some(value), _) => Ok(Value::from(value)),
        (None, Some(default)) => Ok(default),
        (None, None) => Err(said(format!(
            "the environment variable {name} is not set, and env(\"{name}\") has no default: set {name} where ferry runs, \
             or give a default: env(\"{name}\", \"...\")"
        ))),
    }
}

fn render_task_definition_with(
    name: &str,
    source: &str,
    variables: &Variables,
    lookup: Lookup,
) -> Result<serde_json::Value, TemplateError> {
    let state = variables.tfstate.clone();
    let for_context = variables.clone();
    let setup = move |env: &mut Environment<'static>| {
        env.add_function("env", move |name: String, default: Option<Value>| env_function(&lookup, &name, default));
        env.add_function("tfstate", move |address: String| -> Result<Value, minijinja::Error> {
            let Some(state) = &state else {
                return Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    "tfstate() needs the environment's tfstate = \"path/to/terraform.tfstate\" in ferry.toml",
                ));
            };
            tfstate_lookup(state, &address)
                .map(|v| Value::from_serialize(&v))
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.message))
        });
    };
    let environment_name = Some(variables.environment.clone()).filter(|e| !e.is_empty());
    let rendered = render_bounded(name, source, move || for_context.context(), setup, environment_name)?;
    let value: serde_json::Value = serde_json::from_str(&rendered)
        .map_err(|e| TemplateError::Json { name: name.to_string(), message: format!("{e} (line {} of the rendered output)", e.line()) })?;
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
pub fn tfstate_lookup(state: &serde_json::Value, address: &str) -> Result<serde_json::Value, crate::error::Error> {
    let version = state.get("version").and_then(serde_json::Value::as_i64).unwrap_or(0);
    if version != 4 {
        return Err(crate::error::Error::invalid(format!(
            "tfstate: expected a Terraform state of format version 4, got version {version}"
        )));
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
        return Err(crate::error::Error::invalid(format!(
            "tfstate: {address:?} is not an address like \"aws_lb_target_group.api.arn\" (TYPE.NAME.ATTRIBUTE)"
        )));
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
            let known: Vec<String> =
                resources.iter().filter_map(|r| Some(format!("{}.{}", r.get("type")?.as_str()?, r.get("name")?.as_str()?))).collect();
            format!("tfstate: no resource {kind}.{name} in the state (it has: {})", known.join(", "))
        })?;
    let instances = resource.get("instances").and_then(serde_json::Value::as_array).cloned().unwrap_or_default();
    let instance = match index {
        None if instances.len() == 1 => instances.first(),
        None => {
            return Err(crate::error::Error::invalid(format!(
                "tfstate: {kind}.{name} has {} instances; say which, e.g. {kind}.{name}[0]",
                instances.len()
            )));
        }
        Some(key) => instances.iter().find(|i| match i.get("index_key") {
            Some(serde_json::Value::Number(n)) => n.to_string() == key,
            Some(serde_json::Value::String(s)) => s == key,
            _ => false,
        }),
    }
    .ok_or_else(|| crate::error::Error::invalid(format!("tfstate: {kind}.{name} has no instance {}", index.unwrap_or(""))))?;
    let mut value =
        instance.get("attributes").ok_or_else(|| crate::error::Error::invalid(format!("tfstate: {kind}.{name} has no attributes")))?;
    for step in &parts[2..] {
        value = match value {
            serde_json::Value::Object(map) => map.get(*step),
            serde_json::Value::Array(list) => step.parse::<usize>().ok().and_then(|i| list.get(i)),
            _ => None,
        }
        .ok_or_else(|| crate::error::Error::invalid(format!("tfstate: {kind}.{name} has no attribute {}", parts[2..].join("."))))?;
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
        assert_eq!(err.to_string(), "web.json: line 2: undefined variable `famly`");
    }

    #[test]
    fn an_undefined_variable_verison_is_named_with_the_variable_meant() {
        let source = "{\n  \"family\": \"web\",\n  \"v\": \"{{ verison }}\"\n}";
        let err = render_task_definition("deploy/web.json", source, &vars()).expect_err("undefined");
        assert_eq!(err.to_string(), "deploy/web.json: line 3: undefined variable `verison` (did you mean `version`?)");
        // minijinja points a filter's error at the filter; the variable is still the one named.
        let source = "{\"v\": \"{{ verison | upper }}\"}";
        let err = render_task_definition("deploy/web.json", source, &vars()).expect_err("undefined");
        assert_eq!(err.to_string(), "deploy/web.json: line 1: undefined variable `verison` (did you mean `version`?)");
        let source = "{\"v\": \"{{ verison ~ '-x' }}\"}";
        let err = render_task_definition("deploy/web.json", source, &vars()).expect_err("undefined");
        assert_eq!(err.to_string(), "deploy/web.json: line 1: undefined variable `verison` in `verison ~ '-x'` (did you mean `version`?)");
    }

    #[test]
    fn an_undefined_var_is_named_with_the_vars_there_are() {
        let err = render_task_definition("web.json", "{\"v\": \"{{ vars.log_levl }}\"}", &vars()).expect_err("undefined");
        assert_eq!(err.to_string(), "web.json: line 1: undefined variable `vars.log_levl` (did you mean `vars.log_level`?)");
        let err = render_task_definition("web.json", "{\"v\": \"{{ vars.replicas.count }}\"}", &vars()).expect_err("undefined");
        assert_eq!(err.to_string(), "web.json: line 1: undefined variable `vars.replicas` (vars has: log_level, version)");
    }

    #[test]
    fn an_unknown_account_is_refused_naming_it_and_how_to_set_it() {
        let source = "{\"executionRoleArn\": \"arn:aws:iam::{{ account }}:role/ecsTaskExecutionRole\"}";
        let err = render_task_definition("deploy/web.json", source, &vars()).expect_err("no account");
        assert_eq!(
            err.to_string(),
            "deploy/web.json: line 1: undefined variable `account`: the AWS account is not known here; set account = \"123456789012\" \
             (your 12-digit account id, `aws sts get-caller-identity` prints it) in [environments.prod] of ferry.toml"
        );
        let known = Variables { account: "123456789012".into(), ..vars() };
        let td = render_task_definition("deploy/web.json", source, &known).expect("renders");
        assert_eq!(td["executionRoleArn"], "arn:aws:iam::123456789012:role/ecsTaskExecutionRole");
    }

    #[test]
    fn a_template_that_multiplies_a_string_5000_times_is_a_template_error_not_an_abort() {
        // Each turn doubles the string: without a memory bound the process aborts at ~35 turns.
        let source =
            "{% set ns = namespace(s='x') %}{% for i in range(5000) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{\"v\": \"{{ ns.s }}\"}";
        let err = render_task_definition("deploy/web.json", source, &vars()).expect_err("bounded");
        assert_eq!(
            err.to_string(),
            "deploy/web.json: rendering stopped: it needed more than 64 MiB of memory; look for a string repeated or doubled in a loop"
        );
        let err = render_task_definition("deploy/web.json", "{\"v\": \"{{ 'x' * 100000000 }}\"}", &vars()).expect_err("bounded");
        assert!(matches!(err, TemplateError::Limit { .. }), "{err}");
    }

    #[test]
    fn a_loop_that_runs_too_long_runs_out_of_fuel() {
        let source = "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}{}";
        let err = render_task_definition("web.json", source, &vars()).expect_err("fuel");
        assert_eq!(
            err.to_string(),
            "web.json: rendering stopped: line 1: it ran more than 1000000 instructions; look for a loop that runs too long (at `range(5000)`)"
        );
    }

    #[test]
    fn recursion_is_bounded() {
        let source = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{\"v\": \"{{ f(0) }}\"}";
        let err = render_task_definition("web.json", source, &vars()).expect_err("recursion");
        assert!(err.to_string().starts_with("web.json: rendering stopped: line 1: it nested deeper than 100 levels"), "{err}");
    }

    #[test]
    fn the_output_is_bounded() {
        let source = "{\"v\": \"{% for i in range(50000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}\"}";
        let err = render_task_definition("web.json", source, &vars()).expect_err("output");
        assert_eq!(
            err.to_string(),
            "web.json: rendering stopped: the output passed 1024 KiB (a task definition is a few KiB); look for a loop or a repeated string"
        );
    }

    #[test]
    fn a_huge_expression_is_not_echoed_whole() {
        let long = "x".repeat(100_000);
        let source = format!("{{\"v\": \"{{{{ nope ~ '{long}' }}}}\"}}");
        let message = render_task_definition("web.json", &source, &vars()).expect_err("undefined").to_string();
        assert!(message.len() < 300, "{}", message.len());
        assert!(message.ends_with("… (100009 characters)`"), "{message}");
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
        assert_eq!(
            tfstate_lookup(&s, "aws_lb_target_group.api.arn").unwrap(),
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/abc"
        );
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

    fn ci(pairs: &[(&str, &str)]) -> Lookup {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Arc::new(move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn env_reads_the_environment_and_falls_back_to_its_default() {
        let source = "{\"job\": \"{{ env('CI_JOB') }}\", \"flag\": \"{{ env('FEATURE_X', 'off') }}\", \"n\": {{ env('RETRIES', 3) }}}";
        let td =
            render_task_definition_with("web.json", source, &vars(), ci(&[("CI_JOB", "build-90"), ("RETRIES", "5")])).expect("renders");
        assert_eq!(td, serde_json::json!({"job": "build-90", "flag": "off", "n": 5}));
        // Set, even to the empty string, wins over the default.
        let td = render_task_definition_with("web.json", source, &vars(), ci(&[("CI_JOB", ""), ("FEATURE_X", "on")])).expect("renders");
        assert_eq!(td, serde_json::json!({"job": "", "flag": "on", "n": 3}));
        // A var nobody gave can have a default too, as docs/deploy.md shows.
        let td = render_task_definition_with("web.json", "{\"x\": \"{{ vars.FEATURE_X | default('off') }}\"}", &vars(), ci(&[]))
            .expect("renders");
        assert_eq!(td["x"], "off");
    }

    #[test]
    fn env_of_a_variable_not_set_without_a_default_names_it_the_file_and_the_line() {
        let source = "{\n  \"family\": \"web\",\n  \"job\": \"{{ env('CI_JOB') }}\"\n}";
        let err = render_task_definition_with("deploy/web.json", source, &vars(), ci(&[])).expect_err("not set");
        assert_eq!(
            err.to_string(),
            "deploy/web.json: line 3: the environment variable CI_JOB is not set, and env(\"CI_JOB\") has no default: \
             set CI_JOB where ferry runs, or give a default: env(\"CI_JOB\", \"...\")"
        );
        let err = render_task_definition_with("web.json", "{\"v\": \"{{ env('') }}\"}", &vars(), ci(&[])).expect_err("no name");
        assert!(err.to_string().starts_with("web.json: line 1: env(\"\") names no variable"), "{err}");
    }

    #[test]
    fn a_misspelt_env_function_is_named_with_env() {
        let err = render_task_definition_with("web.json", "{\"v\": \"{{ emv('X', 'y') }}\"}", &vars(), ci(&[])).expect_err("undefined");
        assert_eq!(err.to_string(), "web.json: line 1: unknown function `emv` (did you mean `env`?)");
    }

    #[test]
    fn rendered_output_must_be_a_json_object() {
        let err = render_task_definition("web.json", "{\"family\": {{ version }}}", &vars()).expect_err("not json");
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        let err = render_task_definition("web.json", "[]", &vars()).expect_err("array");
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
    }
}
