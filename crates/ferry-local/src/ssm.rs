//! Systems Manager Parameter Store (AWS JSON 1.1, `AmazonSSM`), per the botocore model
//! `models/ssm.json.gz` and the SSM API reference: PutParameter, GetParameter, GetParameters,
//! GetParametersByPath, GetParameterHistory, DeleteParameter, DeleteParameters,
//! DescribeParameters, LabelParameterVersion, and the tags of parameters (AddTagsToResource,
//! RemoveTagsFromResource, ListTagsForResource with `ResourceType` `Parameter`).
//!
//! A parameter's ARN is `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`, where a name that starts
//! with `/` gives no second slash (`parameter/app/db`). Names take a version (`NAME:3`) or a
//! label (`NAME:live`) selector where AWS takes one. There is no KMS: a SecureString is kept in
//! plain text and answered decrypted with `WithDecryption`, otherwise as an opaque base64
//! string that stands for the ciphertext AWS would answer (it cannot be decrypted: it is a
//! digest, not the value). `AllowedPattern` and `Policies` are stored, not enforced.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::api::{ApiError, ApiResult, Ctx, Input, key_value_tags, paginate, put};
use crate::state::{Parameter, ParameterVersion, Partition, Tag};

/// SSM keeps the latest 100 versions of a parameter.
const MAX_VERSIONS: usize = 100;
/// The deepest hierarchy a name may have.
const MAX_HIERARCHY_LEVELS: usize = 15;
/// A Standard parameter's value is at most 4 KB, an Advanced one's 8 KB.
const STANDARD_MAX: usize = 4096;
const ADVANCED_MAX: usize = 8192;
/// At most 50 tags on a parameter, 10 labels on a version.
const MAX_TAGS: usize = 50;
const MAX_LABELS: usize = 10;
/// The KMS key a SecureString uses when the request names none.
pub const DEFAULT_KEY_ID: &str = "alias/aws/ssm";

/// Runs one Systems Manager Parameter Store operation; None for an operation ferry local does not implement.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    Some(match operation {
        "PutParameter" => put_parameter(ctx, input),
        "GetParameter" => get_parameter(ctx, input),
        "GetParameters" => get_parameters(ctx, input),
        "GetParametersByPath" => get_parameters_by_path(ctx, input),
        "GetParameterHistory" => get_parameter_history(ctx, input),
        "DeleteParameter" => delete_parameter(ctx, input),
        "DeleteParameters" => delete_parameters(ctx, input),
        "DescribeParameters" => describe_parameters(ctx, input),
        "LabelParameterVersion" => label_parameter_version(ctx, input),
        "AddTagsToResource" => add_tags(ctx, input),
        "RemoveTagsFromResource" => remove_tags(ctx, input),
        "ListTagsForResource" => list_tags(ctx, input),
        _ => return None,
    })
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

fn not_found(name: &str) -> ApiError {
    ApiError::client("ParameterNotFound", format!("Parameter {name} not found."))
}

/// The ARN of a parameter: `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME`, `/a/b` giving
/// `parameter/a/b`.
pub fn parameter_arn(partition: &Partition, name: &str) -> String {
    format!("arn:aws:ssm:{}:{}:parameter/{}", partition.region, partition.account, name.strip_prefix('/').unwrap_or(name))
}

/// A reference to a parameter as requests and `valueFrom` give it: a name or an ARN, with an
/// optional `:version` or `:label` selector.
#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    /// The name the reference resolves to (an ARN's resource part, a slash in front when it has
    /// a path).
    pub name: String,
    /// What follows the name's colon: a version number or a label.
    pub selector: Option<String>,
    /// Region and account of an ARN; None for a plain name.
    pub partition: Option<(String, String)>,
}

impl Reference {
    /// Parses `NAME`, `NAME:SELECTOR`, `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME[:SELECTOR]`.
    /// None for an ARN that is not a parameter's.
    pub fn parse(reference: &str) -> Option<Reference> {
        let (name, partition) = if reference.starts_with("arn:") {
            let parts: Vec<&str> = reference.splitn(6, ':').collect();
            if parts.len() != 6 || parts[2] != "ssm" {
                return None;
            }
            let rest = parts[5].strip_prefix("parameter/")?;
            let name = if rest.split(':').next().unwrap_or_default().contains('/') { format!("/{rest}") } else { rest.to_string() };
            (name, Some((parts[3].to_string(), parts[4].to_string())))
        } else {
            (reference.to_string(), None)
        };
        Some(match name.split_once(':') {
            Some((name, selector)) => Reference { name: name.to_string(), selector: Some(selector.to_string()), partition },
            None => Reference { name, selector: None, partition },
        })
    }
}

/// What a lookup found: the parameter, the version, and the selector that picked it.
struct Found<'a> {
    parameter: &'a Parameter,
    version: &'a ParameterVersion,
    selector: Option<String>,
}

/// Why a lookup found nothing.
enum Missing {
    Parameter,
    Version(String),
}

/// Looks a reference up in the partition: the latest version, or the one its selector names.
fn lookup<'a>(partition: &'a Partition, reference: &str) -> Result<Found<'a>, Missing> {
    let parsed = Reference::parse(reference).ok_or(Missing::Parameter)?;
    if parsed.partition.as_ref().is_some_and(|(region, account)| *region != partition.region || *account != partition.account) {
        return Err(Missing::Parameter);
    }
    let parameter = partition.parameters.get(&parsed.name).ok_or(Missing::Parameter)?;
    let version = match &parsed.selector {
        None => parameter.latest(),
        Some(selector) => match selector.parse::<i64>() {
            Ok(n) => parameter.versions.iter().find(|v| v.version == n),
            Err(_) => parameter.versions.iter().find(|v| v.labels.iter().any(|l| l == selector)),
        },
    };
    let version = version.ok_or_else(|| Missing::Version(parsed.selector.clone().unwrap_or_default()))?;
    Ok(Found { parameter, version, selector: parsed.selector.map(|s| format!(":{s}")) })
}

/// The decrypted value of the parameter a reference names (name or ARN, optional selector),
/// as ECS reads it for a container's `secrets`. None when there is no such parameter or
/// version in this partition.
pub fn value_of(partition: &Partition, reference: &str) -> Option<String> {
    lookup(partition, reference).ok().map(|found| found.version.value.clone())
}

/// Checks a parameter name as PutParameter does: 1 to 2048 characters of letters, digits and
/// `.-_/`, not starting with `aws` or `ssm`, a path starting with `/`, at most 15 levels.
fn check_name(name: &str) -> Result<(), ApiError> {
    let bad = || {
        validation(
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_",
        )
    };
    if name.is_empty() || name.len() > 2048 {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must have length between 1 and 2048"
        )));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(bad());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c)) {
        return Err(bad());
    }
    if name.contains('/') {
        if !name.starts_with('/') {
            return Err(validation("Parameter name must be a fully qualified name: a name with a path must begin with a slash (/)."));
        }
        if name.ends_with('/') || name.contains("//") {
            return Err(bad());
        }
        if name.matches('/').count() > MAX_HIERARCHY_LEVELS {
            return Err(ApiError::client(
                "HierarchyLevelLimitExceededException",
                format!("Parameter path hierarchy level exceeds maximum ({MAX_HIERARCHY_LEVELS}): {name}"),
            ));
        }
    }
    Ok(())
}

fn tags_from(input: &Input) -> Result<Vec<Tag>, ApiError> {
    key_value_tags(input, validation, |m| ApiError::client("InvalidParameterValue", m))
}

fn put_parameter(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default().to_string();
    check_name(&name)?;
    let value = input.str("Value").unwrap_or_default().to_string();
    if value.is_empty() {
        return Err(validation(
            "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let overwrite = input.bool("Overwrite").unwrap_or(false);
    let tags = tags_from(input)?;
    if overwrite && !tags.is_empty() {
        return Err(validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
        ));
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::client("TooManyTagsError", format!("A parameter can have at most {MAX_TAGS} tags.")));
    }
    let existing = ctx.partition.parameters.get(&name);
    if existing.is_some() && !overwrite {
        return Err(ApiError::client(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let previous = existing.and_then(Parameter::latest);
    let Some(kind) = input.str("Type").map(str::to_string).or_else(|| previous.map(|p| p.kind.clone())) else {
        return Err(validation("A parameter type is required when you create a parameter."));
    };
    let requested_tier = input.str("Tier");
    let tier = match requested_tier {
        Some("Advanced") => "Advanced",
        Some("Standard") => "Standard",
        // Intelligent-Tiering: Standard unless the value needs Advanced.
        Some(_) => {
            if value.len() > STANDARD_MAX || previous.is_some_and(|p| p.tier == "Advanced") {
                "Advanced"
            } else {
                "Standard"
            }
        }
        None => previous.map(|p| p.tier.as_str()).unwrap_or("Standard"),
    }
    .to_string();
    if tier == "Standard" && previous.is_some_and(|p| p.tier == "Advanced") {
        return Err(validation(
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.",
        ));
    }
    let max = if tier == "Advanced" { ADVANCED_MAX } else { STANDARD_MAX };
    if value.len() > max {
        return Err(validation(format!(
            "{tier} tier parameters support a maximum parameter value of {max} characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier."
        )));
    }
    if input.str("KeyId").is_some() && kind != "SecureString" {
        return Err(validation("KeyId is required for SecureString type parameter only."));
    }
    let key_id = (kind == "SecureString").then(|| {
        input
            .str("KeyId")
            .map(str::to_string)
            .or_else(|| previous.and_then(|p| p.key_id.clone()))
            .unwrap_or_else(|| DEFAULT_KEY_ID.to_string())
    });
    let data_type = input.str("DataType").map(str::to_string).or_else(|| previous.map(|p| p.data_type.clone())).unwrap_or("text".into());
    if !matches!(data_type.as_str(), "text" | "aws:ec2:image" | "aws:ssm:integration") {
        return Err(validation(format!(
            "The following data type is not supported: {data_type} (Data type names are all lowercase.). Supported data types are text, aws:ec2:image and aws:ssm:integration."
        )));
    }
    let version = ParameterVersion {
        version: previous.map(|p| p.version + 1).unwrap_or(1),
        kind,
        value,
        description: input.str("Description").map(str::to_string).or_else(|| previous.and_then(|p| p.description.clone())),
        allowed_pattern: input.str("AllowedPattern").map(str::to_string).or_else(|| previous.and_then(|p| p.allowed_pattern.clone())),
        key_id,
        tier: tier.clone(),
        data_type,
        last_modified: ctx.now,
        last_modified_user: format!("arn:aws:iam::{}:root", ctx.caller.account),
        labels: Vec::new(),
    };
    let number = version.version;
    let parameter =
        ctx.partition.parameters.entry(name.clone()).or_insert_with(|| Parameter { name: name.clone(), versions: Vec::new(), tags });
    if parameter.versions.len() >= MAX_VERSIONS {
        if parameter.versions.first().is_some_and(|v| !v.labels.is_empty()) {
            return Err(ApiError::client(
                "ParameterMaxVersionLimitExceeded",
                format!(
                    "You attempted to create a new version of {name} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                    parameter.versions[0].version
                ),
            ));
        }
        parameter.versions.remove(0);
    }
    parameter.versions.push(version);
    Ok(json!({ "Version": number, "Tier": tier }))
}

/// What AWS answers for a SecureString read without decryption: the ciphertext, base64. Here
/// an opaque stand-in of the same look (a digest of the version, never the value).
fn ciphertext(name: &str, version: &ParameterVersion) -> String {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(version.version.to_be_bytes());
    hasher.update(version.value.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = vec![1u8, 2, 2, 0, 0x78];
    bytes.extend_from_slice(&digest);
    bytes.extend_from_slice(&digest[..16]);
    crate::dynamodb::value::base64_encode(&bytes)
}

/// A `Parameter` of a Get answer.
fn render(partition: &Partition, found: &Found, decrypt: bool) -> Value {
    let (parameter, version) = (found.parameter, found.version);
    let value = if version.kind == "SecureString" && !decrypt { ciphertext(&parameter.name, version) } else { version.value.clone() };
    let mut out = Map::new();
    out.insert("Name".into(), json!(parameter.name));
    out.insert("Type".into(), json!(version.kind));
    out.insert("Value".into(), json!(value));
    out.insert("Version".into(), json!(version.version));
    put(&mut out, "Selector", found.selector.clone());
    out.insert("LastModifiedDate".into(), json!(version.last_modified));
    out.insert("ARN".into(), json!(parameter_arn(partition, &parameter.name)));
    out.insert("DataType".into(), json!(version.data_type));
    Value::Object(out)
}

fn get_parameter(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default();
    let decrypt = input.bool("WithDecryption").unwrap_or(false);
    match lookup(ctx.partition, name) {
        Ok(found) => Ok(json!({ "Parameter": render(ctx.partition, &found, decrypt) })),
        Err(Missing::Parameter) => Err(not_found(name)),
        Err(Missing::Version(selector)) => Err(version_not_found(name, &selector)),
    }
}

fn version_not_found(name: &str, selector: &str) -> ApiError {
    let base = name.rsplit_once(':').map(|(n, _)| n).unwrap_or(name);
    ApiError::client(
        "ParameterVersionNotFound",
        format!("Systems Manager could not find version {selector} of {base}. Verify the version and try again."),
    )
}

fn get_parameters(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let names = input.strings("Names");
    check_list_size(&names, "names")?;
    let decrypt = input.bool("WithDecryption").unwrap_or(false);
    let mut parameters = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for name in &names {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        match lookup(ctx.partition, name) {
            Ok(found) => parameters.push(render(ctx.partition, &found, decrypt)),
            Err(_) => invalid.push(name.clone()),
        }
    }
    Ok(json!({ "Parameters": parameters, "InvalidParameters": invalid }))
}

/// The model's 1..10 names of GetParameters and DeleteParameters (the model checker does not
/// check list lengths).
fn check_list_size(names: &[String], member: &str) -> Result<(), ApiError> {
    if names.is_empty() || names.len() > 10 {
        return Err(validation(format!(
            "1 validation error detected: Value '[{}]' at '{member}' failed to satisfy constraint: Member must have length less than or equal to 10, Member must have length greater than or equal to 1",
            names.join(", ")
        )));
    }
    Ok(())
}

/// One page of `items` by `MaxResults` (1 to `limit`) and `NextToken`, with SSM's errors.
fn page<T: Clone>(items: &[T], input: &Input, default_max: usize, limit: i64) -> Result<(Vec<T>, Option<String>), ApiError> {
    if let Some(m) = input.i64("MaxResults")
        && !(1..=limit).contains(&m)
    {
        let bound = if m < 1 { "greater than or equal to 1".to_string() } else { format!("less than or equal to {limit}") };
        return Err(validation(format!(
            "1 validation error detected: Value '{m}' at 'maxResults' failed to satisfy constraint: Member must have value {bound}"
        )));
    }
    paginate(items, input.str("NextToken"), input.i64("MaxResults"), default_max, limit as usize)
        .map_err(|_| ApiError::client("InvalidNextToken", "The specified token isn't valid."))
}

/// Whether `name` sits under `path` (which ends without a slash, `/` for the root): directly
/// or, when `recursive`, at any depth.
fn under_path(name: &str, path: &str, recursive: bool) -> bool {
    let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
    if path == "/" && !name.starts_with('/') {
        // A name without a path lives at the root.
        return true;
    }
    match name.strip_prefix(&prefix) {
        Some(rest) => !rest.is_empty() && (recursive || !rest.contains('/')),
        None => false,
    }
}

/// A checked `ParameterStringFilter`: key, option, values.
struct Filter {
    key: String,
    option: String,
    values: Vec<String>,
}

/// Reads and checks `ParameterFilters` as the API reference's ParameterStringFilter describes
/// them; `allowed` are the keys this operation takes, `tags` whether it takes `tag:KEY`
/// (DescribeParameters does, GetParametersByPath does not).
fn parameter_filters(input: &Input, allowed: &[&str], tags: bool) -> Result<Vec<Filter>, ApiError> {
    let mut filters = Vec::new();
    for f in input.array("ParameterFilters") {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or_default().to_string();
        let values: Vec<String> = f
            .get("Values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let is_tag = tags && key.starts_with("tag:") && key.len() > 4;
        if !is_tag && !allowed.contains(&key.as_str()) {
            return Err(ApiError::client(
                "InvalidFilterKey",
                format!("The following filter key is not valid: {key}. Valid filter keys include: [{}].", allowed.join(", ")),
            ));
        }
        let default_option = if key == "Path" { "OneLevel" } else { "Equals" };
        let option = f.get("Option").and_then(Value::as_str).unwrap_or(default_option).to_string();
        let options: &[&str] = match key.as_str() {
            "Path" => &["Recursive", "OneLevel"],
            "Name" => &["Equals", "BeginsWith", "Contains"],
            "Label" => &["Equals"],
            _ => &["Equals", "BeginsWith"],
        };
        if !options.contains(&option.as_str()) {
            return Err(ApiError::client(
                "InvalidFilterOption",
                format!("The following filter option is not valid: {option}. Valid options include: [{}].", options.join(", ")),
            ));
        }
        if values.is_empty() && !is_tag {
            return Err(ApiError::client(
                "InvalidFilterValue",
                format!("The following filter values are missing : null for filter key {key}."),
            ));
        }
        if key == "Path" && values.iter().any(|v| !v.starts_with('/')) {
            return Err(ApiError::client(
                "InvalidFilterValue",
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
            ));
        }
        filters.push(Filter { key, option, values });
    }
    Ok(filters)
}

fn compare(option: &str, actual: &str, wanted: &str) -> bool {
    match option {
        "BeginsWith" => actual.starts_with(wanted),
        "Contains" => actual.contains(wanted),
        _ => actual == wanted,
    }
}

fn matches(parameter: &Parameter, filter: &Filter) -> bool {
    let Some(latest) = parameter.latest() else { return false };
    let any = |actual: &str| filter.values.iter().any(|v| compare(&filter.option, actual, v));
    match filter.key.as_str() {
        "Name" => filter.values.iter().any(|v| {
            // A name filter matches with or without the leading slash, as on AWS.
            let (actual, wanted) = (parameter.name.trim_start_matches('/'), v.trim_start_matches('/'));
            compare(&filter.option, actual, wanted)
        }),
        "Path" => filter.values.iter().any(|p| under_path(&parameter.name, p.trim_end_matches('/').max("/"), filter.option == "Recursive")),
        "Type" => any(&latest.kind),
        "KeyId" => latest.key_id.as_deref().is_some_and(any),
        "Tier" => any(&latest.tier),
        "DataType" => any(&latest.data_type),
        "Label" => parameter.versions.iter().any(|v| v.labels.iter().any(|l| any(l))),
        key => {
            let tag_key = key.trim_start_matches("tag:");
            parameter.tags.iter().any(|t| t.key == tag_key && (filter.values.is_empty() || any(&t.value)))
        }
    }
}

fn get_parameters_by_path(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let path = input.str("Path").unwrap_or_default();
    if !path.starts_with('/') {
        return Err(validation(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".",
        ));
    }
    if path.len() > 1 {
        check_name(path.trim_end_matches('/'))?;
    }
    let path = if path == "/" { "/" } else { path.trim_end_matches('/') };
    let recursive = input.bool("Recursive").unwrap_or(false);
    let filters = parameter_filters(input, &["Type", "KeyId", "Label"], false)?;
    let decrypt = input.bool("WithDecryption").unwrap_or(false);
    let label = filters.iter().find(|f| f.key == "Label").map(|f| f.values.clone());
    let partition: &Partition = ctx.partition;
    let mut found = Vec::new();
    for parameter in partition.parameters.values() {
        if !under_path(&parameter.name, path, recursive) || !filters.iter().all(|f| matches(parameter, f)) {
            continue;
        }
        // A label filter answers the labelled version, with the label as selector.
        let (version, selector) = match &label {
            Some(labels) => match parameter.versions.iter().find_map(|v| v.labels.iter().find(|l| labels.contains(l)).map(|l| (v, l))) {
                Some((v, l)) => (v, Some(format!(":{l}"))),
                None => continue,
            },
            None => match parameter.latest() {
                Some(v) => (v, None),
                None => continue,
            },
        };
        found.push(render(partition, &Found { parameter, version, selector }, decrypt));
    }
    let (items, next) = page(&found, input, 10, 10)?;
    let mut out = Map::new();
    out.insert("Parameters".into(), json!(items));
    put(&mut out, "NextToken", next);
    Ok(Value::Object(out))
}

fn get_parameter_history(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default();
    let decrypt = input.bool("WithDecryption").unwrap_or(false);
    let parameter = match Reference::parse(name) {
        Some(r) if r.selector.is_none() => ctx.partition.parameters.get(&r.name),
        _ => None,
    }
    .ok_or_else(|| not_found(name))?;
    let history: Vec<Value> = parameter
        .versions
        .iter()
        .map(|v| {
            let mut out = Map::new();
            out.insert("Name".into(), json!(parameter.name));
            out.insert("Type".into(), json!(v.kind));
            put(&mut out, "KeyId", v.key_id.clone());
            out.insert("LastModifiedDate".into(), json!(v.last_modified));
            out.insert("LastModifiedUser".into(), json!(v.last_modified_user));
            put(&mut out, "Description", v.description.clone());
            let value = if v.kind == "SecureString" && !decrypt { ciphertext(&parameter.name, v) } else { v.value.clone() };
            out.insert("Value".into(), json!(value));
            put(&mut out, "AllowedPattern", v.allowed_pattern.clone());
            out.insert("Version".into(), json!(v.version));
            out.insert("Labels".into(), json!(v.labels));
            out.insert("Tier".into(), json!(v.tier));
            out.insert("Policies".into(), json!([]));
            out.insert("DataType".into(), json!(v.data_type));
            Value::Object(out)
        })
        .collect();
    let (items, next) = page(&history, input, 50, 50)?;
    let mut out = Map::new();
    out.insert("Parameters".into(), json!(items));
    put(&mut out, "NextToken", next);
    Ok(Value::Object(out))
}

/// The name a Delete or tag request names (a name or an ARN of this partition, no selector).
fn existing_name(partition: &Partition, reference: &str) -> Option<String> {
    let parsed = Reference::parse(reference)?;
    if parsed.selector.is_some()
        || parsed.partition.as_ref().is_some_and(|(region, account)| *region != partition.region || *account != partition.account)
    {
        return None;
    }
    partition.parameters.contains_key(&parsed.name).then_some(parsed.name)
}

fn delete_parameter(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default();
    let key = existing_name(ctx.partition, name).ok_or_else(|| not_found(name))?;
    ctx.partition.parameters.remove(&key);
    Ok(json!({}))
}

fn delete_parameters(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let names = input.strings("Names");
    check_list_size(&names, "names")?;
    let mut deleted: Vec<String> = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    for name in names {
        match existing_name(ctx.partition, &name) {
            Some(key) => {
                ctx.partition.parameters.remove(&key);
                deleted.push(name);
            }
            None if !deleted.contains(&name) && !invalid.contains(&name) => invalid.push(name),
            None => {}
        }
    }
    Ok(json!({ "DeletedParameters": deleted, "InvalidParameters": invalid }))
}

fn describe_parameters(ctx: &mut Ctx, input: &Input) -> ApiResult {
    if input.value("Filters").is_some() && input.value("ParameterFilters").is_some() {
        return Err(validation("You can use either Filters or ParameterFilters in a single request."));
    }
    let mut filters = parameter_filters(input, &["Name", "Path", "Type", "KeyId", "Tier", "DataType"], true)?;
    // The older `Filters` (Name, Type, KeyId): a name matches by its beginning.
    for f in input.array("Filters") {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or_default().to_string();
        let values = f
            .get("Values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let option = if key == "Name" { "BeginsWith" } else { "Equals" }.to_string();
        filters.push(Filter { key, option, values });
    }
    let partition: &Partition = ctx.partition;
    let described: Vec<Value> = partition
        .parameters
        .values()
        .filter(|p| filters.iter().all(|f| matches(p, f)))
        .filter_map(|p| {
            let v = p.latest()?;
            let mut out = Map::new();
            out.insert("Name".into(), json!(p.name));
            out.insert("ARN".into(), json!(parameter_arn(partition, &p.name)));
            out.insert("Type".into(), json!(v.kind));
            put(&mut out, "KeyId", v.key_id.clone());
            out.insert("LastModifiedDate".into(), json!(v.last_modified));
            out.insert("LastModifiedUser".into(), json!(v.last_modified_user));
            put(&mut out, "Description", v.description.clone());
            put(&mut out, "AllowedPattern", v.allowed_pattern.clone());
            out.insert("Version".into(), json!(v.version));
            out.insert("Tier".into(), json!(v.tier));
            out.insert("Policies".into(), json!([]));
            out.insert("DataType".into(), json!(v.data_type));
            Some(Value::Object(out))
        })
        .collect();
    let (items, next) = page(&described, input, 10, 50)?;
    let mut out = Map::new();
    out.insert("Parameters".into(), json!(items));
    put(&mut out, "NextToken", next);
    Ok(Value::Object(out))
}

/// Whether a label meets SSM's rules: 1 to 100 letters, digits, `.-_`, not a number first, not
/// `aws` or `ssm` first.
fn valid_label(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    (1..=100).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !label.starts_with(|c: char| c.is_ascii_digit())
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

fn label_parameter_version(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default();
    let labels = input.strings("Labels");
    if labels.is_empty() || labels.len() > MAX_LABELS {
        return Err(validation(format!(
            "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and {MAX_LABELS}"
        )));
    }
    let key = existing_name(ctx.partition, name).ok_or_else(|| not_found(name))?;
    let Some(parameter) = ctx.partition.parameters.get_mut(&key) else { return Err(not_found(name)) };
    let number = match input.i64("ParameterVersion") {
        Some(n) => n,
        None => parameter.latest().map(|v| v.version).unwrap_or(1),
    };
    if !parameter.versions.iter().any(|v| v.version == number) {
        return Err(version_not_found(&key, &number.to_string()));
    }
    let (valid, invalid): (Vec<String>, Vec<String>) = labels.into_iter().partition(|l| valid_label(l));
    let current = parameter.versions.iter().find(|v| v.version == number).map(|v| v.labels.clone()).unwrap_or_default();
    let total = current.iter().chain(valid.iter().filter(|l| !current.contains(l))).count();
    if total > MAX_LABELS {
        return Err(ApiError::client(
            "ParameterVersionLabelLimitExceeded",
            format!("A parameter version can have maximum {MAX_LABELS} labels.Move one or more labels to another version and try again."),
        ));
    }
    for v in &mut parameter.versions {
        if v.version == number {
            for l in &valid {
                if !v.labels.contains(l) {
                    v.labels.push(l.clone());
                }
            }
        } else {
            // A label names one version at most: it moves.
            v.labels.retain(|l| !valid.contains(l));
        }
    }
    Ok(json!({ "InvalidLabels": invalid, "ParameterVersion": number }))
}

/// The parameter a tagging request names (`ResourceType` must be `Parameter`).
fn tagged<'a>(ctx: &'a mut Ctx, input: &Input) -> Result<&'a mut Parameter, ApiError> {
    let kind = input.str("ResourceType").unwrap_or_default();
    if kind != "Parameter" {
        return Err(ApiError::client(
            "InvalidResourceType",
            format!("ferry local tags parameters only (ResourceType Parameter), not {kind}."),
        ));
    }
    let id = input.str("ResourceId").unwrap_or_default();
    let invalid =
        || ApiError::client("InvalidResourceId", "The resource ID is not valid. Verify that you entered the correct ID and try again.");
    let key = existing_name(ctx.partition, id).ok_or_else(invalid)?;
    ctx.partition.parameters.get_mut(&key).ok_or_else(invalid)
}

fn add_tags(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let tags = tags_from(input)?;
    let parameter = tagged(ctx, input)?;
    let mut merged = parameter.tags.clone();
    for tag in tags {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => merged.push(tag),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(ApiError::client("TooManyTagsError", format!("A parameter can have at most {MAX_TAGS} tags.")));
    }
    parameter.tags = merged;
    Ok(json!({}))
}

fn remove_tags(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let keys = input.strings("TagKeys");
    let parameter = tagged(ctx, input)?;
    parameter.tags.retain(|t| !keys.contains(&t.key));
    Ok(json!({}))
}

fn list_tags(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let parameter = tagged(ctx, input)?;
    let tags: Vec<Value> = parameter.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect();
    Ok(json!({ "TagList": tags }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Caller;

    fn call(partition: &mut Partition, operation: &str, input: Value) -> ApiResult {
        let caller = Caller { account: "123456789012".into(), region: "eu-west-1".into() };
        let map = input.as_object().cloned().unwrap_or_default();
        let mut ctx = Ctx { partition, caller: &caller, now: 1_700_000_000.0 };
        dispatch(operation, &mut ctx, &Input(&map)).unwrap()
    }

    fn partition() -> Partition {
        Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() }
    }

    #[test]
    fn versions_grow_with_overwrite_and_an_existing_name_without_it_is_refused() {
        let mut p = partition();
        let out = call(&mut p, "PutParameter", json!({"Name": "/app/db/url", "Value": "one", "Type": "String"})).unwrap();
        assert_eq!(out, json!({"Version": 1, "Tier": "Standard"}));
        let err = call(&mut p, "PutParameter", json!({"Name": "/app/db/url", "Value": "two", "Type": "String"})).unwrap_err();
        assert_eq!(err.code, "ParameterAlreadyExists");
        let out = call(&mut p, "PutParameter", json!({"Name": "/app/db/url", "Value": "two", "Overwrite": true})).unwrap();
        assert_eq!(out["Version"], 2);
        let got = call(&mut p, "GetParameter", json!({"Name": "/app/db/url"})).unwrap();
        assert_eq!(got["Parameter"]["Value"], "two");
        assert_eq!(got["Parameter"]["ARN"], "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db/url");
        let old = call(&mut p, "GetParameter", json!({"Name": "/app/db/url:1"})).unwrap();
        assert_eq!((old["Parameter"]["Value"].as_str(), old["Parameter"]["Selector"].as_str()), (Some("one"), Some(":1")));
        let err = call(&mut p, "GetParameter", json!({"Name": "/app/db/url:9"})).unwrap_err();
        assert_eq!(err.code, "ParameterVersionNotFound");
        let err = call(&mut p, "GetParameter", json!({"Name": "/app/nope"})).unwrap_err();
        assert_eq!(err.code, "ParameterNotFound");
    }

    #[test]
    fn a_new_parameter_needs_a_type_and_a_valid_name() {
        let mut p = partition();
        assert_eq!(call(&mut p, "PutParameter", json!({"Name": "x", "Value": "v"})).unwrap_err().code, "ValidationException");
        for name in ["aws-thing", "/ssm/x", "a/b", "/a//b", "/bad name"] {
            let err = call(&mut p, "PutParameter", json!({"Name": name, "Value": "v", "Type": "String"})).unwrap_err();
            assert_eq!(err.code, "ValidationException", "{name}");
        }
        let deep = format!("/{}", vec!["l"; 16].join("/"));
        let err = call(&mut p, "PutParameter", json!({"Name": deep, "Value": "v", "Type": "String"})).unwrap_err();
        assert_eq!(err.code, "HierarchyLevelLimitExceededException");
        assert!(p.parameters.is_empty(), "a refused put stored something");
    }

    #[test]
    fn a_secure_string_is_answered_decrypted_only_when_asked() {
        let mut p = partition();
        call(&mut p, "PutParameter", json!({"Name": "pw", "Value": "hunter2", "Type": "SecureString"})).unwrap();
        let plain = call(&mut p, "GetParameter", json!({"Name": "pw", "WithDecryption": true})).unwrap();
        assert_eq!(plain["Parameter"]["Value"], "hunter2");
        let hidden = call(&mut p, "GetParameter", json!({"Name": "pw"})).unwrap();
        let cipher = hidden["Parameter"]["Value"].as_str().unwrap();
        assert!(!cipher.contains("hunter2") && cipher.len() > 40, "{cipher}");
        let described = call(&mut p, "DescribeParameters", json!({})).unwrap();
        assert_eq!(described["Parameters"][0]["KeyId"], DEFAULT_KEY_ID);
        assert_eq!(value_of(&p, "arn:aws:ssm:eu-west-1:123456789012:parameter/pw").as_deref(), Some("hunter2"));
        assert_eq!(value_of(&p, "arn:aws:ssm:us-east-1:123456789012:parameter/pw"), None, "another region's parameter");
    }

    #[test]
    fn get_parameters_lists_the_invalid_and_by_path_follows_recursive() {
        let mut p = partition();
        for name in ["/app/a", "/app/b", "/app/deep/c", "/other/d", "root"] {
            call(&mut p, "PutParameter", json!({"Name": name, "Value": "v", "Type": "String"})).unwrap();
        }
        let got = call(&mut p, "GetParameters", json!({"Names": ["/app/a", "/app/missing"]})).unwrap();
        assert_eq!(got["Parameters"].as_array().unwrap().len(), 1);
        assert_eq!(got["InvalidParameters"], json!(["/app/missing"]));
        let names =
            |v: &Value| v["Parameters"].as_array().unwrap().iter().map(|p| p["Name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let one = call(&mut p, "GetParametersByPath", json!({"Path": "/app"})).unwrap();
        assert_eq!(names(&one), ["/app/a", "/app/b"]);
        let all = call(&mut p, "GetParametersByPath", json!({"Path": "/app/", "Recursive": true})).unwrap();
        assert_eq!(names(&all), ["/app/a", "/app/b", "/app/deep/c"]);
        let err = call(&mut p, "GetParametersByPath", json!({"Path": "app"})).unwrap_err();
        assert_eq!(err.code, "ValidationException");
        let err = call(&mut p, "GetParametersByPath", json!({"Path": "/app", "ParameterFilters": [{"Key": "Name", "Values": ["x"]}]}))
            .unwrap_err();
        assert_eq!(err.code, "InvalidFilterKey");
        let err = call(&mut p, "GetParametersByPath", json!({"Path": "/app", "ParameterFilters": [{"Key": "tag:team"}]})).unwrap_err();
        assert_eq!(err.code, "InvalidFilterKey", "GetParametersByPath takes no tag filter");
        let paged = call(&mut p, "GetParametersByPath", json!({"Path": "/", "Recursive": true, "MaxResults": 2})).unwrap();
        assert_eq!(names(&paged).len(), 2);
        assert!(paged["NextToken"].is_string());
        let err = call(&mut p, "GetParametersByPath", json!({"Path": "/", "MaxResults": 11})).unwrap_err();
        assert_eq!(err.code, "ValidationException");
    }

    #[test]
    fn describe_filters_by_name_and_deletes_report_what_they_did() {
        let mut p = partition();
        for name in ["/app/a", "/app/b", "/web/c"] {
            call(&mut p, "PutParameter", json!({"Name": name, "Value": "v", "Type": "String"})).unwrap();
        }
        let names =
            |v: &Value| v["Parameters"].as_array().unwrap().iter().map(|p| p["Name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let begins =
            call(&mut p, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app/"]}]}))
                .unwrap();
        assert_eq!(names(&begins), ["/app/a", "/app/b"]);
        let equals = call(&mut p, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Name", "Values": ["/web/c"]}]})).unwrap();
        assert_eq!(names(&equals), ["/web/c"]);
        let err = call(&mut p, "DescribeParameters", json!({"ParameterFilters": [{"Key": "Name", "Option": "Near", "Values": ["x"]}]}))
            .unwrap_err();
        assert_eq!(err.code, "InvalidFilterOption");
        let out = call(&mut p, "DeleteParameters", json!({"Names": ["/app/a", "/nope"]})).unwrap();
        assert_eq!(out, json!({"DeletedParameters": ["/app/a"], "InvalidParameters": ["/nope"]}));
        assert_eq!(call(&mut p, "DeleteParameter", json!({"Name": "/app/a"})).unwrap_err().code, "ParameterNotFound");
        call(&mut p, "DeleteParameter", json!({"Name": "/app/b"})).unwrap();
        assert_eq!(p.parameters.keys().collect::<Vec<_>>(), ["/web/c"]);
    }

    #[test]
    fn tags_and_labels() {
        let mut p = partition();
        call(&mut p, "PutParameter", json!({"Name": "/t", "Value": "1", "Type": "String", "Tags": [{"Key": "team", "Value": "a"}]}))
            .unwrap();
        let err =
            call(&mut p, "PutParameter", json!({"Name": "/t", "Value": "2", "Overwrite": true, "Tags": [{"Key": "k", "Value": "v"}]}))
                .unwrap_err();
        assert_eq!(err.code, "ValidationException");
        call(&mut p, "PutParameter", json!({"Name": "/t", "Value": "2", "Overwrite": true})).unwrap();
        call(
            &mut p,
            "AddTagsToResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/t", "Tags": [{"Key": "env", "Value": "dev"}]}),
        )
        .unwrap();
        let tags = call(&mut p, "ListTagsForResource", json!({"ResourceType": "Parameter", "ResourceId": "/t"})).unwrap();
        assert_eq!(tags["TagList"], json!([{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}]));
        let err = call(&mut p, "ListTagsForResource", json!({"ResourceType": "Parameter", "ResourceId": "/none"})).unwrap_err();
        assert_eq!(err.code, "InvalidResourceId");
        let out = call(&mut p, "LabelParameterVersion", json!({"Name": "/t", "ParameterVersion": 1, "Labels": ["live", "9bad"]})).unwrap();
        assert_eq!(out, json!({"InvalidLabels": ["9bad"], "ParameterVersion": 1}));
        assert_eq!(value_of(&p, "/t:live").as_deref(), Some("1"));
        call(&mut p, "LabelParameterVersion", json!({"Name": "/t", "Labels": ["live"]})).unwrap();
        assert_eq!(value_of(&p, "/t:live").as_deref(), Some("2"), "a label moves to the version it is put on");
    }

    #[test]
    fn references_parse_names_arns_and_selectors() {
        let r = Reference::parse("arn:aws:ssm:eu-west-1:123456789012:parameter/app/db:3").unwrap();
        assert_eq!(r.name, "/app/db");
        assert_eq!(r.selector.as_deref(), Some("3"));
        assert_eq!(r.partition, Some(("eu-west-1".to_string(), "123456789012".to_string())));
        assert_eq!(Reference::parse("arn:aws:ssm:eu-west-1:1:parameter/flat").unwrap().name, "flat");
        assert!(Reference::parse("arn:aws:secretsmanager:eu-west-1:1:secret:x").is_none());
        assert_eq!(crate::dynamodb::value::base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(crate::dynamodb::value::base64_encode(b"fo"), "Zm8=");
    }
}
