//! AWS JSON 1.1 (smithy's `awsJson1_1`): `POST /` with `X-Amz-Target: <prefix>.<Operation>`
//! and `Content-Type: application/x-amz-json-1.1`; the body is the input as JSON (an empty
//! body is `{}`); an output is answered 200 with its JSON; an error with its status, the
//! body `{"__type": "<Code>", "message": "…"}` and the header `X-Amzn-ErrorType: <Code>`.
//!
//! AWS JSON 1.0 (`awsJson1_0`, DynamoDB) is the same on the wire but for the content type
//! `application/x-amz-json-1.0`, which answers carry when the service's model says
//! `jsonVersion` 1.0. DynamoDB's errors name their shape with its namespace, as the service
//! does and botocore and the AWS SDKs strip: `com.amazonaws.dynamodb.v20120810#<Code>`, and
//! `com.amazon.coral.validate#ValidationException` / `com.amazon.coral.service#<Code>` for the
//! errors of its request layer; `TransactionCanceledException` writes `Message` (its model's
//! member), the others `message`. An error's other members (`Item`, `CancellationReasons`)
//! go into the body beside the message.
//!
//! CloudWatch speaks AWS JSON 1.0 too (`GraniteServiceVersion20100801`; boto3 and the aws CLI
//! v1 pick it from the model's `protocols`). Its model is `awsQueryCompatible`: an error names
//! its shape qualified with the namespace (`com.amazonaws.cloudwatch#ResourceNotFound`) and
//! carries `x-amzn-query-error: <Query code>;Sender` (`ValidationError;Sender` for the shape
//! `ValidationException`), which botocore reads for the error code (its `parsers.py`,
//! `_do_query_compatible_error_parse`).

use serde_json::{Value, json};

use super::{Protocol, Reply, Request, Route, qualified_error_type, query_error_header};
use crate::api::ApiError;
use crate::model::Service;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const CONTENT_TYPE_1_0: &str = "application/x-amz-json-1.0";

/// The content type of a routed service's answers.
fn content_type(route: Option<&Route>) -> &'static str {
    match route.and_then(|r| r.service.model()) {
        Some(model) if model.json_version == "1.0" => CONTENT_TYPE_1_0,
        _ => CONTENT_TYPE,
    }
}

/// DynamoDB's `__type` for an error code (see the module documentation).
fn dynamodb_error_type(code: &str) -> String {
    match code {
        "ValidationException" => "com.amazon.coral.validate#ValidationException".to_string(),
        "SerializationException"
        | "UnknownOperationException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "AccessDeniedException"
        | "ThrottlingException"
        | "InternalFailure"
        | "ServiceUnavailableException" => format!("com.amazon.coral.service#{code}"),
        _ => format!("com.amazonaws.dynamodb.v20120810#{code}"),
    }
}

/// The AWS JSON 1.1 protocol.
pub struct AwsJson11;

impl Protocol for AwsJson11 {
    /// Errors: `UnknownOperationException` (400) for a request without a target, a target
    /// naming no service ferry local serves, or an operation the service's model does not
    /// have; `InternalFailure` (500) when the embedded model cannot be read.
    fn route(&self, request: &Request) -> Result<Route, ApiError> {
        let Some(target) = request.target else {
            return Err(ApiError::client(
                "UnknownOperationException",
                "ferry local serves AWS JSON 1.1 requests (X-Amz-Target); this request has none",
            ));
        };
        let (prefix, operation) = target.split_once('.').unwrap_or((target, ""));
        let Some(service) = Service::from_target_prefix(prefix) else {
            return Err(ApiError::client("UnknownOperationException", format!("Unknown service: {prefix}")));
        };
        let Some(model) = service.model() else {
            return Err(ApiError::new(500, "InternalFailure", "service model unavailable"));
        };
        if !model.has_operation(operation) {
            return Err(ApiError::client("UnknownOperationException", format!("Unknown operation {operation}")));
        }
        Ok(Route { service, operation: operation.to_string() })
    }

    /// Errors: `SerializationException` (400) for a body that is not JSON.
    fn input(&self, _route: &Route, request: &Request) -> Result<Value, ApiError> {
        if request.body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(request.body).map_err(|e| ApiError::client("SerializationException", format!("Malformed JSON body: {e}")))
    }

    fn output(&self, route: &Route, output: &Value, _request_id: &str) -> Reply {
        Reply {
            status: 200,
            content_type: content_type(Some(route)),
            error_type: None,
            headers: Vec::new(),
            body: output.to_string().into_bytes(),
        }
    }

    fn error(&self, route: Option<&Route>, error: &ApiError, _request_id: &str) -> Reply {
        let dynamodb = route.is_some_and(|r| r.service == Service::DynamoDb);
        let mut body = serde_json::Map::new();
        let query_error = query_error_header(route, error);
        let error_type = match (dynamodb, &query_error) {
            (true, _) => dynamodb_error_type(&error.code),
            (false, Some(_)) => qualified_error_type(route, &error.code),
            (false, None) => error.code.clone(),
        };
        body.insert("__type".into(), json!(error_type));
        let message_key = if dynamodb && error.code == "TransactionCanceledException" { "Message" } else { "message" };
        body.insert(message_key.into(), json!(error.message));
        for (k, v) in error.extra.iter().flat_map(|m| m.iter()) {
            body.insert(k.clone(), v.clone());
        }
        Reply {
            status: error.status,
            content_type: content_type(route),
            error_type: Some(error.code.clone()),
            headers: query_error.into_iter().collect(),
            body: Value::Object(body).to_string().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &'static str, body: &'static [u8]) -> Request<'static> {
        Request { target: Some(target), body, ..Default::default() }
    }

    #[test]
    fn the_target_names_service_and_operation_and_the_body_is_the_input() {
        let r = request("AmazonEC2ContainerRegistry_V20150921.DescribeRepositories", b"");
        let route = AwsJson11.route(&r).unwrap();
        assert_eq!(route, Route { service: Service::Ecr, operation: "DescribeRepositories".into() });
        assert_eq!(AwsJson11.input(&route, &r).unwrap(), json!({}));
        let r = request("AmazonEC2ContainerServiceV20141113.DescribeClusters", br#"{"clusters":["a"]}"#);
        let route = AwsJson11.route(&r).unwrap();
        assert_eq!(AwsJson11.input(&route, &r).unwrap(), json!({"clusters": ["a"]}));
        let bad = request("AmazonEC2ContainerServiceV20141113.DescribeClusters", b"{");
        assert_eq!(AwsJson11.input(&route, &bad).unwrap_err().code, "SerializationException");
    }

    #[test]
    fn unknown_targets_are_unknown_operations() {
        for target in ["Nope.ListClusters", "AmazonEC2ContainerServiceV20141113.Nope", "AmazonEC2ContainerServiceV20141113"] {
            let e = AwsJson11.route(&request(target, b"")).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "UnknownOperationException"), "{target}");
        }
        let e = AwsJson11.route(&Request::default()).unwrap_err();
        assert_eq!(e.code, "UnknownOperationException");
    }

    #[test]
    fn dynamodb_speaks_json_1_0_with_namespaced_error_types() {
        let r = request("DynamoDB_20120810.PutItem", br#"{"TableName":"t"}"#);
        let route = AwsJson11.route(&r).unwrap();
        assert_eq!(route, Route { service: Service::DynamoDb, operation: "PutItem".into() });
        assert_eq!(AwsJson11.output(&route, &json!({}), "rid").content_type, "application/x-amz-json-1.0");
        let mut e = ApiError::client("ConditionalCheckFailedException", "The conditional request failed");
        e.extra = Some(Box::new(serde_json::Map::from_iter([("Item".to_string(), json!({"pk": {"S": "a"}}))])));
        let reply = AwsJson11.error(Some(&route), &e, "rid");
        assert_eq!(reply.content_type, "application/x-amz-json-1.0");
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            body,
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "The conditional request failed", "Item": {"pk": {"S": "a"}}})
        );
        let reply = AwsJson11.error(Some(&route), &ApiError::client("ValidationException", "bad"), "rid");
        let text = String::from_utf8_lossy(&reply.body);
        assert!(text.contains("com.amazon.coral.validate#ValidationException"), "{text}");
        let reply = AwsJson11.error(Some(&route), &ApiError::client("TransactionCanceledException", "cancelled"), "rid");
        assert_eq!(serde_json::from_slice::<Value>(&reply.body).unwrap()["Message"], "cancelled");
    }

    #[test]
    fn errors_carry_type_and_message_in_body_and_header() {
        let reply = AwsJson11.error(None, &ApiError::client("ClusterNotFoundException", "Cluster not found."), "rid");
        assert_eq!(reply.status, 400);
        assert_eq!(reply.content_type, "application/x-amz-json-1.1");
        assert_eq!(reply.error_type.as_deref(), Some("ClusterNotFoundException"));
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body, json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."}));
    }
}
