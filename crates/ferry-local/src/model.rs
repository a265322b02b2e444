//! The botocore service models, embedded, and the validation of every request against its
//! operation's input shape. This is how ferry local refuses a bad request the way AWS does
//! (before anything changes): a JSON type the model does not allow is a
//! `SerializationException`; a missing required member or a value outside the model's enum
//! is the service's validation error.

use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::api::ApiError;

/// One AWS service ferry local speaks, as its model describes it.
pub struct ServiceModel {
    /// `metadata.targetPrefix`: what the `X-Amz-Target` of an AWS JSON request starts with
    /// (None for a Query-protocol service).
    pub target_prefix: Option<String>,
    /// `metadata.protocol`: `json` (AWS JSON 1.0/1.1), `query` (AWS Query, XML answers) or
    /// `smithy-rpc-v2-cbor` (CloudWatch).
    pub protocol: String,
    /// `metadata.protocols`: every protocol the service answers (CloudWatch's
    /// `smithy-rpc-v2-cbor`, `json` and `query`); `[protocol]` when the model lists none.
    pub protocols: Vec<String>,
    /// `metadata.awsQueryCompatible`: a service that spoke Query before it spoke JSON or CBOR.
    /// Its JSON and CBOR errors carry `x-amzn-query-error: <Query code>;Sender|Receiver`
    /// (smithy's `aws.protocols#awsQueryCompatible` trait), by which clients map them back to
    /// the Query protocol's error codes.
    pub aws_query_compatible: bool,
    /// The Smithy namespace of the service's shapes, `com.amazonaws.<serviceId in lower case,
    /// spaces removed>` (`com.amazonaws.cloudwatch`): what qualifies the error shape names of
    /// JSON and CBOR errors (`com.amazonaws.cloudwatch#ResourceNotFound`).
    pub namespace: String,
    /// `metadata.jsonVersion` of an AWS JSON service: `1.0` (DynamoDB) or `1.1`.
    pub json_version: String,
    /// `metadata.signingName` (or `endpointPrefix`): the service of a SigV4 credential scope.
    pub signing_name: String,
    /// `metadata.xmlNamespace`, or the namespace AWS derives from the endpoint prefix and
    /// API version: what XML answers of the Query protocol declare.
    pub xml_namespace: String,
    shapes: Map<String, Value>,
    /// operation name → input shape name
    inputs: HashMap<String, Option<String>>,
    /// operation name → (output shape name, the Query protocol's `resultWrapper`)
    outputs: HashMap<String, (Option<String>, Option<String>)>,
    /// The exception this service uses for a request that breaks the model's constraints.
    validation_error: &'static str,
    /// Whether validation also checks the model's `min`/`max` (string and list lengths,
    /// integer ranges), as CloudWatch's validation does (`Member must have length less than
    /// or equal to 255`). Off for the services emulated before it, whose handlers check what
    /// they need.
    constraints: bool,
}

/// The services ferry local serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Ecs,
    Ecr,
    ApplicationAutoScaling,
    /// Elastic Load Balancing v2 (the Query protocol, XML answers).
    Elbv2,
    /// CloudWatch Logs (AWS JSON 1.1, `Logs_20140328`).
    Logs,
    /// Systems Manager, its Parameter Store (AWS JSON 1.1, `AmazonSSM`).
    Ssm,
    /// Secrets Manager (AWS JSON 1.1, `secretsmanager`).
    SecretsManager,
    /// DynamoDB (AWS JSON 1.0, `DynamoDB_20120810`).
    DynamoDb,
    /// CloudWatch (metric alarms): Smithy RPC v2 CBOR, AWS JSON 1.0 and Query, all three
    /// (`GraniteServiceVersion20100801`, signing name `monitoring`).
    CloudWatch,
}

static ECS: OnceLock<Option<ServiceModel>> = OnceLock::new();
static ECR: OnceLock<Option<ServiceModel>> = OnceLock::new();
static AAS: OnceLock<Option<ServiceModel>> = OnceLock::new();
static ELBV2: OnceLock<Option<ServiceModel>> = OnceLock::new();
static LOGS: OnceLock<Option<ServiceModel>> = OnceLock::new();
static SSM: OnceLock<Option<ServiceModel>> = OnceLock::new();
static SECRETS_MANAGER: OnceLock<Option<ServiceModel>> = OnceLock::new();
static DYNAMODB: OnceLock<Option<ServiceModel>> = OnceLock::new();
static CLOUDWATCH: OnceLock<Option<ServiceModel>> = OnceLock::new();

impl Service {
    pub fn model(self) -> Option<&'static ServiceModel> {
        match self {
            Service::Ecs => {
                ECS.get_or_init(|| ServiceModel::load(include_bytes!("../models/ecs.json.gz"), "InvalidParameterException")).as_ref()
            }
            Service::Ecr => {
                ECR.get_or_init(|| ServiceModel::load(include_bytes!("../models/ecr.json.gz"), "InvalidParameterException")).as_ref()
            }
            Service::ApplicationAutoScaling => AAS
                .get_or_init(|| ServiceModel::load(include_bytes!("../models/application-autoscaling.json.gz"), "ValidationException"))
                .as_ref(),
            Service::Elbv2 => {
                ELBV2.get_or_init(|| ServiceModel::load(include_bytes!("../models/elbv2.json.gz"), "ValidationError")).as_ref()
            }
            Service::Logs => {
                LOGS.get_or_init(|| ServiceModel::load(include_bytes!("../models/logs.json.gz"), "InvalidParameterException")).as_ref()
            }
            Service::Ssm => SSM.get_or_init(|| ServiceModel::load(include_bytes!("../models/ssm.json.gz"), "ValidationException")).as_ref(),
            Service::SecretsManager => SECRETS_MANAGER
                .get_or_init(|| ServiceModel::load(include_bytes!("../models/secretsmanager.json.gz"), "InvalidParameterException"))
                .as_ref(),
            Service::DynamoDb => {
                DYNAMODB.get_or_init(|| ServiceModel::load(include_bytes!("../models/dynamodb.json.gz"), "ValidationException")).as_ref()
            }
            // `ValidationException` is the model's (synthetic) shape of the Query error
            // `ValidationError`.
            Service::CloudWatch => CLOUDWATCH
                .get_or_init(|| {
                    ServiceModel::load(include_bytes!("../models/cloudwatch.json.gz"), "ValidationException")
                        .map(ServiceModel::checking_constraints)
                })
                .as_ref(),
        }
    }

    /// Every service ferry local serves.
    pub const ALL: [Service; 9] = [
        Service::Ecs,
        Service::Ecr,
        Service::ApplicationAutoScaling,
        Service::Elbv2,
        Service::Logs,
        Service::Ssm,
        Service::SecretsManager,
        Service::DynamoDb,
        Service::CloudWatch,
    ];

    /// Which service an `X-Amz-Target` prefix names.
    pub fn from_target_prefix(prefix: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.model().is_some_and(|m| m.target_prefix.as_deref() == Some(prefix)))
    }

    /// Which service a Query-protocol request is for, by the service of its SigV4 credential
    /// scope (Query requests carry no target header): ELBv2 for `elasticloadbalancing`,
    /// CloudWatch for `monitoring` (Query is one of its `protocols`).
    pub fn from_query_signing_name(signing_name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.model().is_some_and(|m| m.speaks("query") && m.signing_name == signing_name))
    }

    /// The short name used in ARNs, fault rules and logs.
    pub fn name(self) -> &'static str {
        match self {
            Service::Ecs => "ecs",
            Service::Ecr => "ecr",
            Service::ApplicationAutoScaling => "application-autoscaling",
            Service::Elbv2 => "elasticloadbalancing",
            Service::Logs => "logs",
            Service::Ssm => "ssm",
            Service::SecretsManager => "secretsmanager",
            Service::DynamoDb => "dynamodb",
            Service::CloudWatch => "monitoring",
        }
    }
}

impl ServiceModel {
    /// Reads a gzipped botocore `service-2.json`; None when it is not one.
    pub(crate) fn load(gz: &[u8], validation_error: &'static str) -> Option<ServiceModel> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz).read_to_string(&mut text).ok()?;
        let mut model: Value = serde_json::from_str(&text).ok()?;
        let metadata = |key: &str| model.pointer(&format!("/metadata/{key}")).and_then(Value::as_str).map(str::to_string);
        let target_prefix = metadata("targetPrefix");
        let json_version = metadata("jsonVersion").unwrap_or_else(|| "1.1".to_string());
        let protocol = metadata("protocol")?;
        let protocols = match model.pointer("/metadata/protocols").and_then(Value::as_array) {
            Some(list) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            None => vec![protocol.clone()],
        };
        let aws_query_compatible = model.pointer("/metadata/awsQueryCompatible").is_some();
        let namespace = format!(
            "com.amazonaws.{}",
            metadata("serviceId").unwrap_or_default().to_ascii_lowercase().chars().filter(|c| !c.is_whitespace()).collect::<String>()
        );
        let endpoint_prefix = metadata("endpointPrefix")?;
        let signing_name = metadata("signingName").unwrap_or_else(|| endpoint_prefix.clone());
        let api_version = metadata("apiVersion")?;
        let xml_namespace =
            metadata("xmlNamespace").unwrap_or_else(|| format!("http://{endpoint_prefix}.amazonaws.com/doc/{api_version}/"));
        let operations = model.get("operations")?.as_object()?;
        let shape_of = |op: &Value, pointer: &str| op.pointer(pointer).and_then(Value::as_str).map(str::to_string);
        let inputs = operations.iter().map(|(name, op)| (name.clone(), shape_of(op, "/input/shape"))).collect();
        let outputs = operations
            .iter()
            .map(|(name, op)| (name.clone(), (shape_of(op, "/output/shape"), shape_of(op, "/output/resultWrapper"))))
            .collect();
        let shapes = model.get_mut("shapes")?.as_object_mut().map(std::mem::take)?;
        Some(ServiceModel {
            target_prefix,
            protocol,
            protocols,
            aws_query_compatible,
            namespace,
            json_version,
            signing_name,
            xml_namespace,
            shapes,
            inputs,
            outputs,
            validation_error,
            constraints: false,
        })
    }

    /// The same model, validating the `min`/`max` of its shapes too (see `constraints`).
    fn checking_constraints(self) -> ServiceModel {
        ServiceModel { constraints: true, ..self }
    }

    /// Whether the service answers `protocol` (one of its `metadata.protocols`).
    pub fn speaks(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p == protocol)
    }

    /// A shape of the model by name (`{"type": "structure", "members": …}` and so on).
    pub fn shape(&self, name: &str) -> Option<&Value> {
        self.shapes.get(name)
    }

    /// The input shape of an operation (None for an operation without input).
    pub fn input_shape(&self, operation: &str) -> Option<&str> {
        self.inputs.get(operation)?.as_deref()
    }

    /// The output shape of an operation and the element the Query protocol wraps it in
    /// (`output.resultWrapper`, e.g. `DescribeTargetGroupsResult`).
    pub fn output_shape(&self, operation: &str) -> (Option<&str>, Option<&str>) {
        match self.outputs.get(operation) {
            Some((shape, wrapper)) => (shape.as_deref(), wrapper.as_deref()),
            None => (None, None),
        }
    }

    /// The exception a request that breaks the model's constraints is answered with.
    pub fn validation_error(&self) -> &'static str {
        self.validation_error
    }

    pub fn has_operation(&self, operation: &str) -> bool {
        self.inputs.contains_key(operation)
    }

    /// Checks `body` against `operation`'s input shape.
    pub fn validate(&self, operation: &str, body: &Value) -> Result<(), ApiError> {
        let Some(Some(shape)) = self.inputs.get(operation) else {
            return Ok(());
        };
        let mut problems = Vec::new();
        self.check(shape, body, String::new(), &mut problems)?;
        if problems.is_empty() {
            return Ok(());
        }
        let count = problems.len();
        let noun = if count == 1 { "error" } else { "errors" };
        Err(ApiError::client(self.validation_error, format!("{count} validation {noun} detected: {}", problems.join("; "))))
    }

    fn check(&self, shape_name: &str, value: &Value, path: String, problems: &mut Vec<String>) -> Result<(), ApiError> {
        let Some(shape) = self.shapes.get(shape_name) else {
            return Ok(());
        };
        let kind = shape.get("type").and_then(Value::as_str).unwrap_or("structure");
        let mismatch = |expected: &str| {
            Err(ApiError::client(
                "SerializationException",
                format!("{} can not be converted to {expected} (at '{path}')", json_kind(value)),
            ))
        };
        match kind {
            "structure" => {
                let Some(object) = value.as_object() else {
                    return mismatch("a structure");
                };
                let members = shape.get("members").and_then(Value::as_object);
                for required in shape.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let Some(name) = required.as_str() else { continue };
                    if object.get(name).is_none_or(Value::is_null) {
                        let at = join(&path, &self.member_name(name));
                        problems.push(format!("Value null at '{at}' failed to satisfy constraint: Member must not be null"));
                    }
                }
                for (name, member_value) in object {
                    if member_value.is_null() {
                        continue;
                    }
                    let member_shape = members.and_then(|m| m.get(name)).and_then(|m| m.get("shape")).and_then(Value::as_str);
                    // Members the model does not know are ignored, as the real services do.
                    if let Some(member_shape) = member_shape {
                        self.check(member_shape, member_value, join(&path, &self.member_name(name)), problems)?;
                    }
                }
            }
            "list" => {
                let Some(items) = value.as_array() else {
                    return mismatch("a list");
                };
                let member = shape.pointer("/member/shape").and_then(Value::as_str).unwrap_or_default();
                for (i, item) in items.iter().enumerate() {
                    self.check(member, item, format!("{path}.{}.member", i + 1), problems)?;
                }
                if self.constraints {
                    let shown = || {
                        format!(
                            "[{}]",
                            items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string)).collect::<Vec<_>>().join(", ")
                        )
                    };
                    length_problem(shape, items.len(), &path, shown, problems);
                }
            }
            "map" => {
                let Some(entries) = value.as_object() else {
                    return mismatch("a map");
                };
                let member = shape.pointer("/value/shape").and_then(Value::as_str).unwrap_or_default();
                for (key, item) in entries {
                    self.check(member, item, join(&path, key), problems)?;
                }
            }
            "string" => {
                let Some(s) = value.as_str() else {
                    return mismatch("a String");
                };
                if let Some(allowed) = shape.get("enum").and_then(Value::as_array)
                    && !allowed.iter().any(|a| a.as_str() == Some(s))
                {
                    let set: Vec<&str> = allowed.iter().filter_map(Value::as_str).collect();
                    problems.push(format!(
                        "Value '{s}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        set.join(", ")
                    ));
                }
                if self.constraints {
                    length_problem(shape, s.chars().count(), &path, || s.to_string(), problems);
                }
            }
            "integer" | "long" if self.constraints && (value.is_i64() || value.is_u64()) => {
                let n = value.as_i64().unwrap_or(i64::MAX);
                let bound = |key: &str| shape.get(key).and_then(Value::as_i64);
                let problem = |relation: &str, bound: i64| {
                    format!(
                        "Value '{value}' at '{path}' failed to satisfy constraint: Member must have value {relation} or equal to {bound}"
                    )
                };
                if let Some(min) = bound("min").filter(|min| n < *min) {
                    problems.push(problem("greater than", min));
                } else if let Some(max) = bound("max").filter(|max| n > *max) {
                    problems.push(problem("less than", max));
                }
            }
            "integer" | "long" if !(value.is_i64() || value.is_u64()) => return mismatch("an Integer"),
            "double" | "float" if !value.is_number() => return mismatch("a Double"),
            "boolean" if !value.is_boolean() => return mismatch("a Boolean"),
            "timestamp" if !(value.is_number() || value.is_string()) => return mismatch("a Timestamp"),
            "blob" if !value.is_string() => return mismatch("a Blob"),
            _ => {}
        }
        Ok(())
    }
}

impl ServiceModel {
    /// A member's name as the service's validation messages write it: as the model names it
    /// for AWS JSON services (`taskDefinition`); in lower camel case for Query services
    /// (ELBv2 answers `Value '1' at 'healthCheckIntervalSeconds' failed to satisfy …`).
    fn member_name(&self, name: &str) -> String {
        // DynamoDB's validation also writes members in lower camel case (`Value null at
        // 'tableName' failed to satisfy constraint: …`).
        if self.protocol == "query" || self.json_version == "1.0" { lower_camel(name) } else { name.to_string() }
    }
}

/// A string's or list's `length` outside its shape's `min`/`max`, in Coral's words (`Value
/// 'x…' at 'alarmName' failed to satisfy constraint: Member must have length less than or
/// equal to 255`); `shown` writes the value.
fn length_problem(shape: &Value, length: usize, path: &str, shown: impl Fn() -> String, problems: &mut Vec<String>) {
    let bound = |key: &str| shape.get(key).and_then(Value::as_u64).and_then(|b| usize::try_from(b).ok());
    let problem = |relation: &str, bound: usize| {
        format!("Value '{}' at '{path}' failed to satisfy constraint: Member must have length {relation} or equal to {bound}", shown())
    };
    if let Some(min) = bound("min").filter(|min| length < *min) {
        problems.push(problem("greater than", min));
    } else if let Some(max) = bound("max").filter(|max| length > *max) {
        problems.push(problem("less than", max));
    }
}

/// `HealthCheckPort` → `healthCheckPort`.
pub fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// How Coral names a JSON value's type in a `SerializationException`.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL_VALUE",
        Value::Bool(_) => "BOOLEAN_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "STRING_VALUE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_embedded_models_load_and_know_their_operations() {
        let ecs = Service::Ecs.model().unwrap();
        assert_eq!(ecs.target_prefix.as_deref(), Some("AmazonEC2ContainerServiceV20141113"));
        assert_eq!((ecs.protocol.as_str(), ecs.signing_name.as_str()), ("json", "ecs"));
        assert!(ecs.has_operation("CreateService"));
        assert!(Service::Ecr.model().unwrap().has_operation("PutImage"));
        assert_eq!(Service::from_target_prefix("AnyScaleFrontendService"), Some(Service::ApplicationAutoScaling));
    }

    #[test]
    fn a_wrong_type_is_a_serialization_exception() {
        let ecs = Service::Ecs.model().unwrap();
        let err = ecs.validate("UpdateService", &json!({"service": "web", "desiredCount": "two"})).unwrap_err();
        assert_eq!(err.code, "SerializationException");
        assert!(err.message.contains("desiredCount"), "{}", err.message);
    }

    #[test]
    fn cloudwatch_speaks_three_protocols_and_validates_the_models_lengths_and_ranges() {
        let cloudwatch = Service::CloudWatch.model().unwrap();
        assert!(["smithy-rpc-v2-cbor", "json", "query"].iter().all(|p| cloudwatch.speaks(p)));
        assert!(cloudwatch.aws_query_compatible && !Service::Ecs.model().unwrap().aws_query_compatible);
        assert_eq!(cloudwatch.namespace, "com.amazonaws.cloudwatch");
        assert_eq!(Service::from_query_signing_name("monitoring"), Some(Service::CloudWatch));
        assert_eq!(Service::from_target_prefix("GraniteServiceVersion20100801"), Some(Service::CloudWatch));
        let e = cloudwatch.validate("DescribeAlarms", &json!({"AlarmNamePrefix": "", "MaxRecords": 0})).unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "2 validation errors detected: Value '' at 'alarmNamePrefix' failed to satisfy constraint: Member must have length \
             greater than or equal to 1; Value '0' at 'maxRecords' failed to satisfy constraint: Member must have value greater \
             than or equal to 1"
        );
        cloudwatch.validate("DescribeAlarms", &json!({"MaxRecords": 100, "AlarmNamePrefix": "é"})).unwrap();
        // The services emulated before keep to enums and required members.
        assert!(!Service::Ecs.model().unwrap().constraints);
    }

    #[test]
    fn a_missing_required_member_and_a_bad_enum_are_named() {
        let ecs = Service::Ecs.model().unwrap();
        let err = ecs.validate("RegisterTaskDefinition", &json!({"containerDefinitions": [], "networkMode": "weird"})).unwrap_err();
        assert_eq!(err.code, "InvalidParameterException");
        assert!(err.message.contains("'family'"), "{}", err.message);
        assert!(err.message.contains("'networkMode'"), "{}", err.message);
        assert!(err.message.starts_with("2 validation errors"), "{}", err.message);
    }
}
