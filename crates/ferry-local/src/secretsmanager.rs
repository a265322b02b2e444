//! Secrets Manager (AWS JSON 1.1, `secretsmanager`), per the botocore model
//! `models/secretsmanager.json.gz` and the Secrets Manager API reference: CreateSecret,
//! GetSecretValue, PutSecretValue, UpdateSecret, DescribeSecret, ListSecrets,
//! ListSecretVersionIds, DeleteSecret, RestoreSecret, TagResource, UntagResource.
//!
//! A secret's ARN is `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX`, six random
//! characters after the name as AWS adds them; a `SecretId` is the name, the full ARN or the
//! partial ARN (without the six characters). Versions carry staging labels: a new value takes
//! `AWSCURRENT` and the version that had it becomes `AWSPREVIOUS`. A deleted secret stays,
//! answering `InvalidRequestException`, until its recovery window is over (or at once with
//! `ForceDeleteWithoutRecovery`). No KMS: values are kept in plain text in the state file.

use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Ctx, Input, alnum_id, key_value_tags, paginate, put};
use crate::state::{Partition, Secret, SecretVersion, Tag};

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
/// The largest value Secrets Manager takes: 65,536 bytes.
const MAX_VALUE: usize = 65536;
/// Versions without a staging label (deprecated) beyond this many are dropped, oldest first.
const MAX_DEPRECATED: usize = 100;
const DAY: f64 = 86400.0;

/// Runs one Secrets Manager operation; None for an operation ferry local does not implement.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    purge_expired(ctx.partition, ctx.now);
    Some(match operation {
        "CreateSecret" => create(ctx, input),
        "GetSecretValue" => get_value(ctx, input),
        "PutSecretValue" => put_value(ctx, input),
        "UpdateSecret" => update(ctx, input),
        "DescribeSecret" => describe(ctx, input),
        "ListSecrets" => list(ctx, input),
        "ListSecretVersionIds" => list_versions(ctx, input),
        "DeleteSecret" => delete(ctx, input),
        "RestoreSecret" => restore(ctx, input),
        "TagResource" => tag(ctx, input),
        "UntagResource" => untag(ctx, input),
        _ => return None,
    })
}

/// Secrets whose recovery window is over are gone.
fn purge_expired(partition: &mut Partition, now: f64) {
    partition.secrets.retain(|_, s| s.deletion_date.is_none_or(|d| d > now));
}

fn invalid_parameter(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterException", message)
}

fn not_found() -> ApiError {
    ApiError::client("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

fn marked_for_deletion() -> ApiError {
    ApiError::client("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
}

/// The secret a `SecretId` names in a partition: its name, its ARN, or its partial ARN (the
/// ARN without the `-XXXXXX` AWS adds), scheduled for deletion or not; None when there is no
/// such secret (an ARN of another region or account included).
pub fn find<'a>(partition: &'a Partition, id: &str) -> Option<&'a Secret> {
    if !id.starts_with("arn:") {
        return partition.secrets.get(id);
    }
    partition.secrets.values().find(|s| s.arn == id || s.arn.len() > 7 && s.arn[..s.arn.len() - 7] == *id)
}

/// The name of the secret a `SecretId` names, to change it.
fn key_of(ctx: &Ctx, input: &Input) -> Result<String, ApiError> {
    let id = input.str("SecretId").unwrap_or_default();
    find(ctx.partition, id).map(|s| s.name.clone()).ok_or_else(not_found)
}

/// The secret a request names, which must not be scheduled for deletion.
fn live<'a>(ctx: &'a mut Ctx, input: &Input) -> Result<&'a mut Secret, ApiError> {
    let key = key_of(ctx, input)?;
    let secret = ctx.partition.secrets.get_mut(&key).ok_or_else(not_found)?;
    if secret.deleted_at.is_some() {
        return Err(marked_for_deletion());
    }
    Ok(secret)
}

/// Checks a secret name: 1 to 512 ASCII letters, digits and `/_+=.@-`.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 512 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c)) {
        return Err(invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ));
    }
    Ok(())
}

/// The value of a Create, Put or Update request: (SecretString, SecretBinary as base64), at
/// most one of them.
fn value_from(input: &Input) -> Result<(Option<String>, Option<String>), ApiError> {
    let string = input.str("SecretString").map(str::to_string);
    let binary = input.str("SecretBinary").map(str::to_string);
    if string.is_some() && binary.is_some() {
        return Err(invalid_parameter("You can't specify both a binary secret value and a string secret value in the same secret."));
    }
    let size = string.as_ref().map(String::len).or(binary.as_ref().map(|b| b.len() / 4 * 3)).unwrap_or(1);
    if size == 0 || size > MAX_VALUE {
        return Err(invalid_parameter(format!("The secret value must be 1 to {MAX_VALUE} bytes.")));
    }
    Ok((string, binary))
}

fn token(input: &Input) -> Result<Option<String>, ApiError> {
    match input.str("ClientRequestToken") {
        Some(t) if !(32..=64).contains(&t.len()) => Err(invalid_parameter("ClientRequestToken must be 32 to 64 characters long.")),
        t => Ok(t.map(str::to_string)),
    }
}

fn tags_from(input: &Input) -> Result<Vec<Tag>, ApiError> {
    key_value_tags(input, invalid_parameter, invalid_parameter)
}

/// What adding a version did: created it, or found the same one already there (a retried
/// request with the same ClientRequestToken and value).
enum Added {
    New,
    Same,
}

/// Adds version `id` with `stages` (`AWSCURRENT` when none): each stage moves to it, and the
/// version that was `AWSCURRENT` becomes `AWSPREVIOUS`. Errors: `id` names a version with
/// another value (`ResourceExistsException`).
fn add_version(secret: &mut Secret, version: SecretVersion) -> Result<Added, ApiError> {
    if let Some(existing) = secret.versions.get(&version.id) {
        if existing.string == version.string && existing.binary == version.binary {
            return Ok(Added::Same);
        }
        return Err(ApiError::client(
            "ResourceExistsException",
            "You can't modify an existing version, you can only create a new version.",
        ));
    }
    let moves_current = version.stages.iter().any(|s| s == CURRENT);
    let old_current = secret.version_with_stage(CURRENT).map(|v| v.id.clone());
    for other in secret.versions.values_mut() {
        other.stages.retain(|s| !version.stages.contains(s));
        if moves_current {
            other.stages.retain(|s| s != PREVIOUS);
        }
    }
    if moves_current && let Some(old) = old_current.and_then(|id| secret.versions.get_mut(&id)) {
        old.stages.push(PREVIOUS.into());
    }
    secret.last_changed_at = version.created_at;
    secret.versions.insert(version.id.clone(), version);
    // Deprecated versions (no staging label) beyond the limit go, oldest first.
    let mut deprecated: Vec<(f64, String)> =
        secret.versions.values().filter(|v| v.stages.is_empty()).map(|v| (v.created_at, v.id.clone())).collect();
    if deprecated.len() > MAX_DEPRECATED {
        deprecated.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, id) in deprecated.iter().take(deprecated.len() - MAX_DEPRECATED) {
            secret.versions.remove(id);
        }
    }
    Ok(Added::New)
}

fn create(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.str("Name").unwrap_or_default().to_string();
    check_name(&name)?;
    let (string, binary) = value_from(input)?;
    let token = token(input)?;
    let tags = tags_from(input)?;
    if let Some(existing) = ctx.partition.secrets.get(&name) {
        if existing.deleted_at.is_some() {
            return Err(ApiError::client(
                "InvalidRequestException",
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        // A retried CreateSecret (same token, same value) answers what the first one did.
        let same = token.as_ref().and_then(|t| existing.versions.get(t)).is_some_and(|v| v.string == string && v.binary == binary);
        if !same {
            return Err(ApiError::client(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            ));
        }
        return Ok(json!({ "ARN": existing.arn, "Name": existing.name, "VersionId": token }));
    }
    let mut secret = Secret {
        arn: ctx.caller.arn("secretsmanager", &format!("secret:{name}-{}", alnum_id(6))),
        name: name.clone(),
        description: input.str("Description").map(str::to_string),
        kms_key_id: input.str("KmsKeyId").map(str::to_string),
        tags,
        created_at: ctx.now,
        last_changed_at: ctx.now,
        last_accessed_at: None,
        deleted_at: None,
        deletion_date: None,
        versions: Default::default(),
    };
    let mut out = Map::new();
    out.insert("ARN".into(), json!(secret.arn));
    out.insert("Name".into(), json!(name));
    if string.is_some() || binary.is_some() {
        let id = token.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        add_version(
            &mut secret,
            SecretVersion { id: id.clone(), string, binary, stages: vec![CURRENT.into()], created_at: ctx.now, last_accessed_at: None },
        )?;
        out.insert("VersionId".into(), json!(id));
    }
    ctx.partition.secrets.insert(name, secret);
    Ok(Value::Object(out))
}

/// Which version a GetSecretValue names: by `VersionId`, by `VersionStage`, or `AWSCURRENT`.
/// Errors: `ResourceNotFoundException` with Secrets Manager's wording.
pub fn pick_version<'a>(secret: &'a Secret, version_id: Option<&str>, stage: Option<&str>) -> Result<&'a SecretVersion, ApiError> {
    let version = match (version_id, stage) {
        (Some(id), stage) => secret
            .versions
            .get(id)
            .filter(|v| stage.is_none_or(|s| v.stages.iter().any(|x| x == s)))
            .ok_or_else(|| format!("Secrets Manager can't find the specified secret value for VersionId: {id}")),
        (None, stage) => {
            let stage = stage.unwrap_or(CURRENT);
            secret
                .version_with_stage(stage)
                .ok_or_else(|| format!("Secrets Manager can't find the specified secret value for staging label: {stage}"))
        }
    };
    version.map_err(|m| ApiError::client("ResourceNotFoundException", m))
}

fn get_value(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let now = ctx.now;
    let secret = live(ctx, input)?;
    let version = pick_version(secret, input.str("VersionId"), input.str("VersionStage"))?.clone();
    let day = Some((now / DAY).floor() * DAY);
    secret.last_accessed_at = day;
    if let Some(v) = secret.versions.get_mut(&version.id) {
        v.last_accessed_at = day;
    }
    let mut out = Map::new();
    out.insert("ARN".into(), json!(secret.arn));
    out.insert("Name".into(), json!(secret.name));
    out.insert("VersionId".into(), json!(version.id));
    put(&mut out, "SecretString", version.string);
    put(&mut out, "SecretBinary", version.binary);
    out.insert("VersionStages".into(), json!(version.stages));
    out.insert("CreatedDate".into(), json!(version.created_at));
    Ok(Value::Object(out))
}

fn put_value(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let (string, binary) = value_from(input)?;
    if string.is_none() && binary.is_none() {
        return Err(invalid_parameter("You must provide either SecretString or SecretBinary."));
    }
    let token = token(input)?;
    let stages = match input.strings("VersionStages") {
        s if s.is_empty() => vec![CURRENT.to_string()],
        s => s,
    };
    let now = ctx.now;
    let secret = live(ctx, input)?;
    let id = token.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    add_version(secret, SecretVersion { id: id.clone(), string, binary, stages, created_at: now, last_accessed_at: None })?;
    let stages = secret.versions.get(&id).map(|v| v.stages.clone()).unwrap_or_default();
    Ok(json!({ "ARN": secret.arn, "Name": secret.name, "VersionId": id, "VersionStages": stages }))
}

fn update(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let (string, binary) = value_from(input)?;
    let token = token(input)?;
    let now = ctx.now;
    let secret = live(ctx, input)?;
    if let Some(d) = input.str("Description") {
        secret.description = Some(d.to_string());
        secret.last_changed_at = now;
    }
    if let Some(k) = input.str("KmsKeyId") {
        secret.kms_key_id = Some(k.to_string());
        secret.last_changed_at = now;
    }
    let mut out = Map::new();
    out.insert("ARN".into(), json!(secret.arn));
    out.insert("Name".into(), json!(secret.name));
    if string.is_some() || binary.is_some() {
        let id = token.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        add_version(
            secret,
            SecretVersion { id: id.clone(), string, binary, stages: vec![CURRENT.into()], created_at: now, last_accessed_at: None },
        )?;
        out.insert("VersionId".into(), json!(id));
    }
    Ok(Value::Object(out))
}

/// The staging labels of the versions that have any: `{version id: [stage, …]}`.
fn versions_to_stages(secret: &Secret) -> Value {
    let map: Map<String, Value> =
        secret.versions.values().filter(|v| !v.stages.is_empty()).map(|v| (v.id.clone(), json!(v.stages))).collect();
    Value::Object(map)
}

/// What DescribeSecret and ListSecrets say of a secret; `versions_key` is the member the
/// stages go in (`VersionIdsToStages`, `SecretVersionsToStages`).
fn render(secret: &Secret, versions_key: &str) -> Value {
    let mut out = Map::new();
    out.insert("ARN".into(), json!(secret.arn));
    out.insert("Name".into(), json!(secret.name));
    put(&mut out, "Description", secret.description.clone());
    put(&mut out, "KmsKeyId", secret.kms_key_id.clone());
    out.insert("LastChangedDate".into(), json!(secret.last_changed_at));
    put(&mut out, "LastAccessedDate", secret.last_accessed_at);
    put(&mut out, "DeletedDate", secret.deleted_at);
    if !secret.tags.is_empty() {
        out.insert("Tags".into(), json!(secret.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect::<Vec<_>>()));
    }
    out.insert(versions_key.into(), versions_to_stages(secret));
    out.insert("CreatedDate".into(), json!(secret.created_at));
    Value::Object(out)
}

fn describe(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let key = key_of(ctx, input)?;
    let secret = ctx.partition.secrets.get(&key).ok_or_else(not_found)?;
    Ok(render(secret, "VersionIdsToStages"))
}

/// Whether a secret passes one ListSecrets filter (its values ORed; a `!` value negates).
fn passes(secret: &Secret, key: &str, values: &[String]) -> bool {
    let prefix = |actual: &str, wanted: &str, fold: bool| {
        if fold { actual.to_lowercase().starts_with(&wanted.to_lowercase()) } else { actual.starts_with(wanted) }
    };
    values.iter().any(|value| {
        let (negate, wanted) = match value.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, value.as_str()),
        };
        let hit = match key {
            "name" => prefix(&secret.name, wanted, false),
            "description" => secret.description.as_deref().is_some_and(|d| prefix(d, wanted, true)),
            "tag-key" => secret.tags.iter().any(|t| prefix(&t.key, wanted, false)),
            "tag-value" => secret.tags.iter().any(|t| prefix(&t.value, wanted, false)),
            "all" => {
                prefix(&secret.name, wanted, true)
                    || secret.description.as_deref().is_some_and(|d| prefix(d, wanted, true))
                    || secret.tags.iter().any(|t| prefix(&t.key, wanted, true) || prefix(&t.value, wanted, true))
            }
            // No replicas and no owning services here.
            _ => false,
        };
        hit != negate
    })
}

fn list(ctx: &mut Ctx, input: &Input) -> ApiResult {
    if let Some(m) = input.i64("MaxResults")
        && !(1..=100).contains(&m)
    {
        return Err(invalid_parameter(format!("MaxResults must be between 1 and 100, got {m}.")));
    }
    let include_deleted = input.bool("IncludePlannedDeletion").unwrap_or(false);
    let mut filters = Vec::new();
    for f in input.array("Filters") {
        let key = f.get("Key").and_then(Value::as_str).unwrap_or_default().to_string();
        let values: Vec<String> = f
            .get("Values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if key.is_empty() || values.is_empty() {
            return Err(invalid_parameter("A filter must have a Key and at least one value."));
        }
        filters.push((key, values));
    }
    let mut secrets: Vec<&Secret> = ctx
        .partition
        .secrets
        .values()
        .filter(|s| include_deleted || s.deleted_at.is_none())
        .filter(|s| filters.iter().all(|(k, v)| passes(s, k, v)))
        .collect();
    match input.str("SortBy").unwrap_or("created-date") {
        "name" => secrets.sort_by(|a, b| a.name.cmp(&b.name)),
        "last-changed-date" => secrets.sort_by(|a, b| a.last_changed_at.total_cmp(&b.last_changed_at)),
        "last-accessed-date" => secrets.sort_by(|a, b| a.last_accessed_at.unwrap_or(0.0).total_cmp(&b.last_accessed_at.unwrap_or(0.0))),
        _ => secrets.sort_by(|a, b| a.created_at.total_cmp(&b.created_at).then(a.name.cmp(&b.name))),
    }
    if input.str("SortOrder").unwrap_or("desc") == "desc" {
        secrets.reverse();
    }
    let rendered: Vec<Value> = secrets.into_iter().map(|s| render(s, "SecretVersionsToStages")).collect();
    let (items, next) = paginate(&rendered, input.str("NextToken"), input.i64("MaxResults"), 100, 100)
        .map_err(|_| ApiError::client("InvalidNextTokenException", "The NextToken value is invalid."))?;
    let mut out = Map::new();
    out.insert("SecretList".into(), json!(items));
    put(&mut out, "NextToken", next);
    Ok(Value::Object(out))
}

fn list_versions(ctx: &mut Ctx, input: &Input) -> ApiResult {
    if let Some(m) = input.i64("MaxResults")
        && !(1..=100).contains(&m)
    {
        return Err(invalid_parameter(format!("MaxResults must be between 1 and 100, got {m}.")));
    }
    let key = key_of(ctx, input)?;
    let secret = ctx.partition.secrets.get(&key).ok_or_else(not_found)?;
    let include_deprecated = input.bool("IncludeDeprecated").unwrap_or(false);
    let mut versions: Vec<&SecretVersion> = secret.versions.values().filter(|v| include_deprecated || !v.stages.is_empty()).collect();
    versions.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
    let rendered: Vec<Value> = versions
        .into_iter()
        .map(|v| {
            let mut out = Map::new();
            out.insert("VersionId".into(), json!(v.id));
            out.insert("VersionStages".into(), json!(v.stages));
            put(&mut out, "LastAccessedDate", v.last_accessed_at);
            out.insert("CreatedDate".into(), json!(v.created_at));
            Value::Object(out)
        })
        .collect();
    let (items, next) = paginate(&rendered, input.str("NextToken"), input.i64("MaxResults"), 100, 100)
        .map_err(|_| ApiError::client("InvalidNextTokenException", "The NextToken value is invalid."))?;
    let mut out = Map::new();
    out.insert("Versions".into(), json!(items));
    put(&mut out, "NextToken", next);
    out.insert("ARN".into(), json!(secret.arn));
    out.insert("Name".into(), json!(secret.name));
    Ok(Value::Object(out))
}

fn delete(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let force = input.bool("ForceDeleteWithoutRecovery").unwrap_or(false);
    let window = input.i64("RecoveryWindowInDays");
    if force && window.is_some() {
        return Err(invalid_parameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."));
    }
    let days = window.unwrap_or(30);
    if !(7..=30).contains(&days) {
        return Err(invalid_parameter("The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."));
    }
    let key = key_of(ctx, input)?;
    let now = ctx.now;
    let Some(secret) = ctx.partition.secrets.get_mut(&key) else { return Err(not_found()) };
    if force {
        let out = json!({ "ARN": secret.arn, "Name": secret.name, "DeletionDate": now });
        ctx.partition.secrets.remove(&key);
        return Ok(out);
    }
    if secret.deleted_at.is_some() {
        return Err(marked_for_deletion());
    }
    let deletion_date = now + days as f64 * DAY;
    secret.deleted_at = Some(now);
    secret.deletion_date = Some(deletion_date);
    Ok(json!({ "ARN": secret.arn, "Name": secret.name, "DeletionDate": deletion_date }))
}

fn restore(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let key = key_of(ctx, input)?;
    let Some(secret) = ctx.partition.secrets.get_mut(&key) else { return Err(not_found()) };
    secret.deleted_at = None;
    secret.deletion_date = None;
    Ok(json!({ "ARN": secret.arn, "Name": secret.name }))
}

fn tag(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let tags = tags_from(input)?;
    let secret = live(ctx, input)?;
    let mut merged = secret.tags.clone();
    for t in tags {
        match merged.iter_mut().find(|m| m.key == t.key) {
            Some(m) => m.value = t.value,
            None => merged.push(t),
        }
    }
    if merged.len() > 50 {
        return Err(invalid_parameter("A secret can have at most 50 tags."));
    }
    secret.tags = merged;
    Ok(json!({}))
}

fn untag(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let keys = input.strings("TagKeys");
    let secret = live(ctx, input)?;
    secret.tags.retain(|t| !keys.contains(&t.key));
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Caller;

    fn call_at(partition: &mut Partition, now: f64, operation: &str, input: Value) -> ApiResult {
        let caller = Caller { account: "123456789012".into(), region: "eu-west-1".into() };
        let map = input.as_object().cloned().unwrap_or_default();
        let mut ctx = Ctx { partition, caller: &caller, now };
        dispatch(operation, &mut ctx, &Input(&map)).unwrap()
    }

    fn call(partition: &mut Partition, operation: &str, input: Value) -> ApiResult {
        call_at(partition, 1_700_000_000.0, operation, input)
    }

    fn partition() -> Partition {
        Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() }
    }

    #[test]
    fn a_secret_is_found_by_name_arn_and_partial_arn_with_a_six_character_suffix() {
        let mut p = partition();
        let out = call(&mut p, "CreateSecret", json!({"Name": "prod/db", "SecretString": "{\"password\":\"s3cret\"}"})).unwrap();
        let arn = out["ARN"].as_str().unwrap().to_string();
        let suffix = arn.strip_prefix("arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-").unwrap();
        assert_eq!(suffix.len(), 6);
        assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
        let partial = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db".to_string();
        for id in ["prod/db", arn.as_str(), partial.as_str()] {
            let got = call(&mut p, "GetSecretValue", json!({"SecretId": id})).unwrap();
            assert_eq!(got["SecretString"], "{\"password\":\"s3cret\"}", "{id}");
            assert_eq!(got["VersionStages"], json!(["AWSCURRENT"]));
        }
        let err = call(&mut p, "GetSecretValue", json!({"SecretId": "prod/nope"})).unwrap_err();
        assert_eq!(err.code, "ResourceNotFoundException");
        let err = call(&mut p, "CreateSecret", json!({"Name": "prod/db", "SecretString": "x"})).unwrap_err();
        assert_eq!(err.code, "ResourceExistsException");
        let err = call(&mut p, "CreateSecret", json!({"Name": "two", "SecretString": "x", "SecretBinary": "eA=="})).unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert_eq!(p.secrets.len(), 1);
    }

    #[test]
    fn a_new_value_becomes_current_and_the_old_one_previous() {
        let mut p = partition();
        let first = call(&mut p, "CreateSecret", json!({"Name": "s", "SecretString": "one"})).unwrap();
        let v1 = first["VersionId"].as_str().unwrap().to_string();
        let token = "0123456789abcdef0123456789abcdef";
        let put = call(&mut p, "PutSecretValue", json!({"SecretId": "s", "SecretString": "two", "ClientRequestToken": token})).unwrap();
        assert_eq!(put["VersionId"], token);
        assert_eq!(put["VersionStages"], json!(["AWSCURRENT"]));
        // A retry with the same token and value changes nothing; another value is refused.
        call(&mut p, "PutSecretValue", json!({"SecretId": "s", "SecretString": "two", "ClientRequestToken": token})).unwrap();
        let err =
            call(&mut p, "PutSecretValue", json!({"SecretId": "s", "SecretString": "three", "ClientRequestToken": token})).unwrap_err();
        assert_eq!(err.code, "ResourceExistsException");
        assert_eq!(call(&mut p, "GetSecretValue", json!({"SecretId": "s"})).unwrap()["SecretString"], "two");
        let previous = call(&mut p, "GetSecretValue", json!({"SecretId": "s", "VersionStage": "AWSPREVIOUS"})).unwrap();
        assert_eq!((previous["SecretString"].as_str(), previous["VersionId"].as_str()), (Some("one"), Some(v1.as_str())));
        let by_id = call(&mut p, "GetSecretValue", json!({"SecretId": "s", "VersionId": v1})).unwrap();
        assert_eq!(by_id["SecretString"], "one");
        let described = call(&mut p, "DescribeSecret", json!({"SecretId": "s"})).unwrap();
        assert_eq!(described["VersionIdsToStages"].as_object().unwrap().len(), 2);
        let err = call(&mut p, "GetSecretValue", json!({"SecretId": "s", "VersionStage": "AWSPENDING"})).unwrap_err();
        assert_eq!(err.message, "Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
    }

    #[test]
    fn a_deleted_secret_answers_invalid_request_until_restored_or_its_window_is_over() {
        let mut p = partition();
        call(&mut p, "CreateSecret", json!({"Name": "s", "SecretString": "v"})).unwrap();
        let err = call(&mut p, "DeleteSecret", json!({"SecretId": "s", "RecoveryWindowInDays": 3})).unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        let err = call(&mut p, "DeleteSecret", json!({"SecretId": "s", "RecoveryWindowInDays": 7, "ForceDeleteWithoutRecovery": true}))
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert!(p.secrets["s"].deleted_at.is_none(), "a refused delete changed the secret");
        let out = call(&mut p, "DeleteSecret", json!({"SecretId": "s", "RecoveryWindowInDays": 7})).unwrap();
        assert_eq!(out["DeletionDate"], json!(1_700_000_000.0 + 7.0 * DAY));
        assert_eq!(call(&mut p, "GetSecretValue", json!({"SecretId": "s"})).unwrap_err().code, "InvalidRequestException");
        assert_eq!(call(&mut p, "CreateSecret", json!({"Name": "s", "SecretString": "x"})).unwrap_err().code, "InvalidRequestException");
        assert!(call(&mut p, "ListSecrets", json!({})).unwrap()["SecretList"].as_array().unwrap().is_empty());
        let listed = call(&mut p, "ListSecrets", json!({"IncludePlannedDeletion": true})).unwrap();
        assert!(listed["SecretList"][0]["DeletedDate"].is_number());
        call(&mut p, "RestoreSecret", json!({"SecretId": "s"})).unwrap();
        assert_eq!(call(&mut p, "GetSecretValue", json!({"SecretId": "s"})).unwrap()["SecretString"], "v");
        call(&mut p, "DeleteSecret", json!({"SecretId": "s", "RecoveryWindowInDays": 7})).unwrap();
        let later = 1_700_000_000.0 + 8.0 * DAY;
        assert_eq!(call_at(&mut p, later, "DescribeSecret", json!({"SecretId": "s"})).unwrap_err().code, "ResourceNotFoundException");
        call_at(&mut p, later, "CreateSecret", json!({"Name": "s", "SecretString": "again"})).unwrap();
        call_at(&mut p, later, "DeleteSecret", json!({"SecretId": "s", "ForceDeleteWithoutRecovery": true})).unwrap();
        assert!(p.secrets.is_empty());
    }

    #[test]
    fn list_filters_and_tags() {
        let mut p = partition();
        call(&mut p, "CreateSecret", json!({"Name": "app/a", "SecretString": "1", "Tags": [{"Key": "team", "Value": "x"}]})).unwrap();
        call_at(&mut p, 1_700_000_001.0, "CreateSecret", json!({"Name": "app/b", "SecretString": "2"})).unwrap();
        call_at(&mut p, 1_700_000_002.0, "CreateSecret", json!({"Name": "web/c", "SecretString": "3"})).unwrap();
        let names =
            |v: &Value| v["SecretList"].as_array().unwrap().iter().map(|s| s["Name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(names(&call(&mut p, "ListSecrets", json!({})).unwrap()), ["web/c", "app/b", "app/a"]);
        let app = call(&mut p, "ListSecrets", json!({"Filters": [{"Key": "name", "Values": ["app/"]}], "SortOrder": "asc"})).unwrap();
        assert_eq!(names(&app), ["app/a", "app/b"]);
        let not_app = call(&mut p, "ListSecrets", json!({"Filters": [{"Key": "name", "Values": ["!app/"]}]})).unwrap();
        assert_eq!(names(&not_app), ["web/c"]);
        call(&mut p, "TagResource", json!({"SecretId": "web/c", "Tags": [{"Key": "team", "Value": "y"}]})).unwrap();
        let team = call(&mut p, "ListSecrets", json!({"Filters": [{"Key": "tag-key", "Values": ["team"]}]})).unwrap();
        assert_eq!(names(&team), ["web/c", "app/a"]);
        call(&mut p, "UntagResource", json!({"SecretId": "web/c", "TagKeys": ["team"]})).unwrap();
        assert!(call(&mut p, "DescribeSecret", json!({"SecretId": "web/c"})).unwrap().get("Tags").is_none());
    }
}
