//! A container's `secrets` (`[{name, valueFrom}]`), resolved when its task starts, as the ECS
//! agent resolves them before any container runs: each `valueFrom` is read from the task's own
//! partition (its account and region) and becomes an environment variable of the container's
//! process, after its `environment`.
//!
//! `valueFrom` is, as ECS documents it (Amazon ECS developer guide, "Pass sensitive data to a
//! container"):
//! - an SSM parameter: its name (`/app/db/password`) or ARN
//!   (`arn:aws:ssm:REGION:ACCOUNT:parameter/app/db/password`), optionally with a `:version` or
//!   `:label` selector as GetParameters takes them; the value is read decrypted;
//! - a Secrets Manager secret: its full or partial ARN, optionally followed by
//!   `:json-key:version-stage:version-id` (each part may be empty); a JSON key picks a field of
//!   a secret whose value is a JSON object (a string field as is, another value as JSON).
//!
//! A value that cannot be read fails the task before any container starts, with the stopped
//! reason the ECS agent writes (`ResourceInitializationError: unable to pull secrets or
//! registry auth: …`, the SSM and Secrets Manager wordings below). An ARN of another region or
//! account is looked up nowhere else: ferry local answers as if the parameter or secret did not
//! exist there (ECS would read it across regions when the execution role allows).

use std::collections::HashMap;

use serde_json::Value;

use crate::state::{Partition, TaskDefinition};

/// What every stopped reason of a failed secret starts with.
const PREFIX: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed";

/// The secret environment of each container of `definition`, by container name, in the order
/// of its `secrets`: `(name, value)` pairs. Errors: the stopped reason of the task, naming the
/// first parameter or secret that could not be read (every missing SSM parameter of the task
/// at once, as GetParameters reports them).
pub fn resolve_secrets(partition: &Partition, definition: &TaskDefinition) -> Result<HashMap<String, Vec<(String, String)>>, String> {
    let mut resolved = HashMap::new();
    let mut invalid_ssm: Vec<String> = Vec::new();
    for container in definition.containers() {
        let name = container.get("name").and_then(Value::as_str).unwrap_or_default();
        let mut env = Vec::new();
        for secret in container.get("secrets").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            let variable = secret.get("name").and_then(Value::as_str).unwrap_or_default();
            let value_from = secret.get("valueFrom").and_then(Value::as_str).unwrap_or_default();
            if is_secrets_manager(value_from) {
                env.push((variable.to_string(), secrets_manager_value(partition, value_from)?));
            } else {
                match crate::ssm::value_of(partition, value_from) {
                    Some(value) => env.push((variable.to_string(), value)),
                    None => {
                        if !invalid_ssm.iter().any(|v| v == value_from) {
                            invalid_ssm.push(value_from.to_string());
                        }
                    }
                }
            }
        }
        resolved.insert(name.to_string(), env);
    }
    if !invalid_ssm.is_empty() {
        return Err(format!(
            "{PREFIX}: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: {}",
            invalid_ssm.join(" ")
        ));
    }
    Ok(resolved)
}

fn is_secrets_manager(value_from: &str) -> bool {
    value_from.starts_with("arn:") && value_from.split(':').nth(2) == Some("secretsmanager")
}

/// The value a Secrets Manager `valueFrom` names: `SECRET-ARN[:json-key[:version-stage[:version-id]]]`.
fn secrets_manager_value(partition: &Partition, value_from: &str) -> Result<String, String> {
    let parts: Vec<&str> = value_from.split(':').collect();
    let arn = parts[..parts.len().min(7)].join(":");
    let part = |i: usize| parts.get(i).copied().filter(|s| !s.is_empty());
    let (json_key, stage, version_id) = (part(7), part(8), part(9));
    let asm = format!("{PREFIX}: unable to retrieve secret from asm: service call has been retried 1 time(s)");
    let fetch_failed = |error: &str| format!("{asm}: failed to fetch secret {arn} from secrets manager: {error}");
    let Some(secret) = crate::secretsmanager::find(partition, &arn) else {
        return Err(fetch_failed("ResourceNotFoundException: Secrets Manager can't find the specified secret."));
    };
    if secret.deleted_at.is_some() {
        return Err(fetch_failed(
            "InvalidRequestException: You can't perform this operation on the secret because it was marked for deletion.",
        ));
    }
    let version =
        crate::secretsmanager::pick_version(secret, version_id, stage).map_err(|e| fetch_failed(&format!("{}: {}", e.code, e.message)))?;
    let Some(text) = version.string.as_deref() else {
        return Err(format!("{asm}: secret {arn} has no SecretString: ECS injects string secrets only"));
    };
    let Some(key) = json_key else { return Ok(text.to_string()) };
    let missing = || format!("{asm}: retrieved secret from Secrets Manager did not contain json key {key}");
    let object: serde_json::Map<String, Value> = serde_json::from_str(text).map_err(|_| missing())?;
    match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Caller, Ctx, Input};
    use serde_json::json;

    fn partition() -> Partition {
        Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() }
    }

    fn call(p: &mut Partition, service: &str, operation: &str, input: Value) -> Value {
        let caller = Caller { account: "123456789012".into(), region: "eu-west-1".into() };
        let map = input.as_object().cloned().unwrap_or_default();
        let mut ctx = Ctx { partition: p, caller: &caller, now: 1_700_000_000.0 };
        let out = match service {
            "ssm" => crate::ssm::dispatch(operation, &mut ctx, &Input(&map)),
            _ => crate::secretsmanager::dispatch(operation, &mut ctx, &Input(&map)),
        };
        out.unwrap().unwrap()
    }

    fn definition(secrets: Value) -> TaskDefinition {
        let body = json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "busybox", "secrets": secrets}]});
        TaskDefinition {
            arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:1".into(),
            family: "web".into(),
            revision: 1,
            status: "ACTIVE".into(),
            registered_at: 0.0,
            deregistered_at: None,
            registered_by: String::new(),
            body: body.as_object().cloned().unwrap(),
        }
    }

    #[test]
    fn parameters_and_json_keys_of_secrets_become_the_container_environment() {
        let mut p = partition();
        call(&mut p, "ssm", "PutParameter", json!({"Name": "/web/db", "Value": "postgres://db", "Type": "SecureString"}));
        call(&mut p, "ssm", "PutParameter", json!({"Name": "flag", "Value": "on", "Type": "String"}));
        let arn =
            call(&mut p, "asm", "CreateSecret", json!({"Name": "web/creds", "SecretString": "{\"user\":\"u\",\"port\":5432}"}))["ARN"]
                .as_str()
                .unwrap()
                .to_string();
        call(&mut p, "asm", "PutSecretValue", json!({"SecretId": "web/creds", "SecretString": "{\"user\":\"u2\"}"}));
        let env = resolve_secrets(
            &p,
            &definition(json!([
                {"name": "DB", "valueFrom": "/web/db"},
                {"name": "FLAG", "valueFrom": "arn:aws:ssm:eu-west-1:123456789012:parameter/flag"},
                {"name": "USER", "valueFrom": format!("{arn}:user::")},
                {"name": "OLD_PORT", "valueFrom": format!("{arn}:port:AWSPREVIOUS:")},
                {"name": "WHOLE", "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:web/creds"},
            ])),
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = env["app"].iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("DB", "postgres://db"), ("FLAG", "on"), ("USER", "u2"), ("OLD_PORT", "5432"), ("WHOLE", "{\"user\":\"u2\"}")]);
    }

    #[test]
    fn a_missing_parameter_secret_or_key_is_the_agents_resource_initialization_error() {
        let mut p = partition();
        let arn =
            call(&mut p, "asm", "CreateSecret", json!({"Name": "s", "SecretString": "{\"a\":\"1\"}"}))["ARN"].as_str().unwrap().to_string();
        let err = resolve_secrets(&p, &definition(json!([{"name": "X", "valueFrom": "/missing/one"}]))).unwrap_err();
        assert_eq!(
            err,
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid ssm parameters: /missing/one"
        );
        let gone = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope-AbCdEf";
        let err = resolve_secrets(&p, &definition(json!([{"name": "X", "valueFrom": gone}]))).unwrap_err();
        assert!(err.starts_with("ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:nope-AbCdEf from secrets manager: ResourceNotFoundException"), "{err}");
        let err = resolve_secrets(&p, &definition(json!([{"name": "X", "valueFrom": format!("{arn}:b::")}]))).unwrap_err();
        assert!(err.ends_with("unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key b"), "{err}");
        let other_region = arn.replace("eu-west-1", "us-east-1");
        assert!(resolve_secrets(&p, &definition(json!([{"name": "X", "valueFrom": other_region}]))).is_err());
        call(&mut p, "asm", "DeleteSecret", json!({"SecretId": "s"}));
        let err = resolve_secrets(&p, &definition(json!([{"name": "X", "valueFrom": arn}]))).unwrap_err();
        assert!(err.contains("InvalidRequestException"), "{err}");
    }
}
