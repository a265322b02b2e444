//! The AWS Query protocol (smithy's `awsQuery`), as botocore speaks it: ELBv2 and the other
//! services whose model says `"protocol": "query"`.
//!
//! A request is `POST /` with `Content-Type: application/x-www-form-urlencoded` and the body
//! `Action=<Operation>&Version=<apiVersion>&<parameters>`, the parameters flattened from
//! the input by botocore's `QuerySerializer` (botocore/serialize.py) along the input shape:
//! - a structure member is `<Prefix>.<Name>` (its `locationName` if it has one);
//! - a list is `<Prefix>.member.<N>` counting from 1 (`<Prefix>.<N>` when `flattened`, the
//!   member's `locationName` replacing the last name if it has one), and an empty list the
//!   single parameter `<Prefix>=` with no value;
//! - a map is `<Prefix>.entry.<N>.key` and `<Prefix>.entry.<N>.value` (without `.entry`
//!   when flattened; `key`/`value` renamed by their `locationName`);
//! - booleans are `true`/`false`, timestamps ISO 8601, blobs base64.
//!
//! An output is answered 200 in XML, read by botocore's `QueryParser`:
//! `<OpResponse xmlns="<xmlNamespace>"><OpResult>…</OpResult><ResponseMetadata><RequestId>…
//! </RequestId></ResponseMetadata></OpResponse>` (`OpResult` is the output's
//! `resultWrapper`); lists as `<Name><member>…</member></Name>`, maps as
//! `<Name><entry><key>…</key><value>…</value></entry></Name>`. An error is answered with its
//! status and `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…
//! </Message></Error><RequestId>…</RequestId></ErrorResponse>`, the code being the error
//! shape's `error.code` in the model (ELBv2's `TargetGroupNotFoundException` is answered
//! `TargetGroupNotFound`), which is how botocore maps it back to the exception.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Number, Value};

use super::{Protocol, Reply, Request, Route, iso8601, parse_timestamp};
use crate::api::ApiError;
use crate::model::{Service, ServiceModel};

const CONTENT_TYPE: &str = "text/xml";

/// The AWS Query protocol.
pub struct AwsQuery;

/// Whether a request is a Query-protocol request for a service ferry local serves over
/// Query: a form body, and a credential scope naming such a service.
pub fn is_query_request(request: &Request) -> bool {
    let form = request.content_type.is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    form && scope_service(request).and_then(|s| Service::from_query_signing_name(&s)).is_some()
}

/// The service of the SigV4 credential scope (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`
/// in the `Authorization` header, or `X-Amz-Credential` of a presigned request). Whether the
/// scope is well formed is checked later, with the caller.
fn scope_service(request: &Request) -> Option<String> {
    let credential = match request.authorization {
        Some(header) => header.split([',', ' ']).find_map(|p| p.strip_prefix("Credential="))?.to_string(),
        None => form_urlencoded::parse(request.query?.as_bytes()).find(|(k, _)| k == "X-Amz-Credential")?.1.into_owned(),
    };
    credential.split('/').nth(3).map(str::to_string)
}

/// A parameter's name as Query services write it in a validation message: lower camel case,
/// a list item `member.N` written `N.member` (`Targets.member.1.Port` → `targets.1.member.port`,
/// as in ELBv2's "Value '0' at 'targets.1.member.port' failed to satisfy constraint").
fn member_path(parameter: &str) -> String {
    let parts: Vec<&str> = parameter.split('.').collect();
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    let mut i = 0;
    while i < parts.len() {
        if parts[i] == "member" && parts.get(i + 1).is_some_and(|n| n.parse::<u32>().is_ok()) {
            out.push(parts[i + 1].to_string());
            out.push("member".into());
            i += 2;
            continue;
        }
        out.push(crate::model::lower_camel(parts[i]));
        i += 1;
    }
    out.join(".")
}

/// A Query request's parameters, by name (the last of a repeated name wins).
fn parameters(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

impl Protocol for AwsQuery {
    /// Errors: `MissingAction` (400) without an `Action`; `InvalidAction` (400) for an action
    /// the service's model does not have (the Query services' common errors).
    fn route(&self, request: &Request) -> Result<Route, ApiError> {
        let service = scope_service(request).and_then(|s| Service::from_query_signing_name(&s));
        let Some(service) = service else {
            return Err(ApiError::client("InvalidAction", "ferry local serves no Query-protocol service for this credential scope."));
        };
        let params = parameters(request.body);
        let action = params.get("Action").map(String::as_str).unwrap_or_default();
        if action.is_empty() {
            return Err(ApiError::client("MissingAction", "The request must contain the parameter Action."));
        }
        if !service.model().is_some_and(|m| m.has_operation(action)) {
            return Err(ApiError::client("InvalidAction", format!("The action {action} is not valid for this web service.")));
        }
        Ok(Route { service, operation: action.to_string() })
    }

    fn input(&self, route: &Route, request: &Request) -> Result<Value, ApiError> {
        let Some(model) = route.service.model() else {
            return Err(ApiError::new(500, "InternalFailure", "service model unavailable"));
        };
        decode(model, &route.operation, &parameters(request.body))
    }

    fn output(&self, route: &Route, output: &Value, request_id: &str) -> Reply {
        let body = match route.service.model() {
            Some(model) => encode_output(model, &route.operation, output, request_id),
            None => String::new(),
        };
        Reply { status: 200, content_type: CONTENT_TYPE, error_type: None, headers: Vec::new(), body: body.into_bytes() }
    }

    fn error(&self, route: Option<&Route>, error: &ApiError, request_id: &str) -> Reply {
        let model = route.and_then(|r| r.service.model());
        let (status, body) = encode_error(model, error, request_id);
        Reply { status, content_type: CONTENT_TYPE, error_type: None, headers: Vec::new(), body: body.into_bytes() }
    }
}

/// The input of `operation` from a Query request's parameters, as a JSON value shaped like
/// the input shape (see the module documentation for the names). `Action`, `Version` and
/// parameters the shape does not name are ignored, as AWS ignores unknown parameters.
///
/// Errors: the model's validation error (400) for a value that is not of its member's type
/// (`Port=eighty`).
pub fn decode(model: &ServiceModel, operation: &str, params: &BTreeMap<String, String>) -> Result<Value, ApiError> {
    let Some(shape) = model.input_shape(operation) else {
        return Ok(Value::Object(Map::new()));
    };
    let decoder = Decoder { model, params };
    decoder.structure(shape, "").map(Value::Object)
}

struct Decoder<'a> {
    model: &'a ServiceModel,
    params: &'a BTreeMap<String, String>,
}

/// `prefix.name`, or `name` at the top.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// A member's or list member's serialized name (`locationName`), if the model gives one.
fn location_name(reference: Option<&Value>) -> Option<&str> {
    reference?.get("locationName").and_then(Value::as_str)
}

fn is_flattened(shape: &Value) -> bool {
    shape.get("flattened").and_then(Value::as_bool) == Some(true)
}

impl Decoder<'_> {
    /// Whether any parameter is `path` or lies under it (`path.…`).
    fn present(&self, path: &str) -> bool {
        self.params
            .range(path.to_string()..)
            .take_while(|(k, _)| k.starts_with(path))
            .any(|(k, _)| k.len() == path.len() || k.as_bytes().get(path.len()) == Some(&b'.'))
    }

    /// The indices N of the parameters `prefix.N[.…]`, in order.
    fn indices(&self, prefix: &str) -> BTreeSet<usize> {
        let dotted = format!("{prefix}.");
        self.params
            .range(dotted.clone()..)
            .take_while(|(k, _)| k.starts_with(&dotted))
            .filter_map(|(k, _)| k[dotted.len()..].split('.').next()?.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .collect()
    }

    fn shape(&self, name: &str) -> &Value {
        static EMPTY: Value = Value::Null;
        self.model.shape(name).unwrap_or(&EMPTY)
    }

    fn structure(&self, shape_name: &str, prefix: &str) -> Result<Map<String, Value>, ApiError> {
        let mut object = Map::new();
        let members = self.shape(shape_name).get("members").and_then(Value::as_object);
        for (name, member) in members.into_iter().flatten() {
            let Some(member_shape) = member.get("shape").and_then(Value::as_str) else { continue };
            let path = join(prefix, location_name(Some(member)).unwrap_or(name));
            if self.present(&path) {
                object.insert(name.clone(), self.value(member_shape, &path)?);
            }
        }
        Ok(object)
    }

    fn value(&self, shape_name: &str, path: &str) -> Result<Value, ApiError> {
        let shape = self.shape(shape_name);
        match shape.get("type").and_then(Value::as_str).unwrap_or("structure") {
            "structure" => self.structure(shape_name, path).map(Value::Object),
            "list" => {
                // botocore sends an empty list as the bare name with no value.
                if self.params.get(path).is_some_and(String::is_empty) {
                    return Ok(Value::Array(Vec::new()));
                }
                let member = shape.get("member");
                let member_shape = member.and_then(|m| m.get("shape")).and_then(Value::as_str).unwrap_or_default();
                let list_prefix = if is_flattened(shape) {
                    match (location_name(member), path.rsplit_once('.')) {
                        (Some(name), Some((parent, _))) => format!("{parent}.{name}"),
                        (Some(name), None) => name.to_string(),
                        (None, _) => path.to_string(),
                    }
                } else {
                    format!("{path}.{}", location_name(member).unwrap_or("member"))
                };
                let items = self.indices(&list_prefix).into_iter().map(|n| self.value(member_shape, &format!("{list_prefix}.{n}")));
                items.collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            "map" => {
                let entries = if is_flattened(shape) { path.to_string() } else { format!("{path}.entry") };
                let key_name = location_name(shape.get("key")).unwrap_or("key");
                let value_name = location_name(shape.get("value")).unwrap_or("value");
                let value_shape = shape.pointer("/value/shape").and_then(Value::as_str).unwrap_or_default();
                let mut map = Map::new();
                for n in self.indices(&entries) {
                    let Some(key) = self.params.get(&format!("{entries}.{n}.{key_name}")) else { continue };
                    let value_path = format!("{entries}.{n}.{value_name}");
                    if self.present(&value_path) {
                        map.insert(key.clone(), self.value(value_shape, &value_path)?);
                    }
                }
                Ok(Value::Object(map))
            }
            kind => self.scalar(kind, path),
        }
    }

    fn scalar(&self, kind: &str, path: &str) -> Result<Value, ApiError> {
        let text = self.params.get(path).map(String::as_str).unwrap_or_default();
        let invalid = |expected: &str| {
            let at = member_path(path);
            ApiError::client(
                self.model.validation_error(),
                format!("1 validation error detected: Value '{text}' at '{at}' failed to satisfy constraint: Member must be {expected}"),
            )
        };
        match kind {
            "integer" | "long" => text.parse::<i64>().map(Value::from).map_err(|_| invalid("an integer")),
            "float" | "double" => text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).ok_or_else(|| invalid("a number")),
            "boolean" => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(invalid("a boolean (true or false)")),
            },
            "timestamp" => {
                parse_timestamp(text).and_then(Number::from_f64).map(Value::Number).ok_or_else(|| invalid("an ISO 8601 timestamp"))
            }
            // Strings, enums, and blobs (base64 text, as in the JSON protocols).
            _ => Ok(Value::String(text.to_string())),
        }
    }
}

/// The XML document answering `operation` with `output` (see the module documentation).
/// Members of `output` the output shape does not name are left out.
pub fn encode_output(model: &ServiceModel, operation: &str, output: &Value, request_id: &str) -> String {
    let mut xml = String::new();
    xml.push_str(&format!("<{operation}Response xmlns=\"{}\">", escape(&model.xml_namespace)));
    if let (Some(shape), Some(wrapper)) = model.output_shape(operation) {
        xml.push_str(&format!("<{wrapper}>"));
        Encoder { model, xml: &mut xml }.members(shape, output);
        xml.push_str(&format!("</{wrapper}>"));
    }
    xml.push_str(&format!("<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>", escape(request_id)));
    xml.push_str(&format!("</{operation}Response>"));
    xml
}

/// The status and XML document answering `error`. With the service's model, the code is
/// the error shape's `error.code` (the Query protocol's own name for it) and the status its
/// `error.httpStatusCode`; `Type` is `Receiver` for a 5xx status, `Sender` otherwise.
pub fn encode_error(model: Option<&ServiceModel>, error: &ApiError, request_id: &str) -> (u16, String) {
    let declared = model.and_then(|m| m.shape(&error.code)).and_then(|s| s.get("error"));
    let code = declared.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or(&error.code);
    let status =
        declared.and_then(|e| e.get("httpStatusCode")).and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(error.status);
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let namespace = model.map(|m| format!(" xmlns=\"{}\"", escape(&m.xml_namespace))).unwrap_or_default();
    let body = format!(
        "<ErrorResponse{namespace}><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(code),
        escape(&error.message),
        escape(request_id)
    );
    (status, body)
}

struct Encoder<'a> {
    model: &'a ServiceModel,
    xml: &'a mut String,
}

impl Encoder<'_> {
    /// The members of a structure value, in the model's order, each as `<Name>…</Name>`.
    fn members(&mut self, shape_name: &str, value: &Value) {
        let model = self.model;
        let Some(members) = model.shape(shape_name).and_then(|s| s.get("members")).and_then(Value::as_object) else { return };
        for (name, member) in members {
            let Some(member_value) = value.get(name).filter(|v| !v.is_null()) else { continue };
            let Some(member_shape) = member.get("shape").and_then(Value::as_str) else { continue };
            let element = location_name(Some(member)).unwrap_or(name);
            self.element(element, member_shape, member_value);
        }
    }

    /// `<element>value</element>`; a flattened list or map repeats the element instead.
    fn element(&mut self, element: &str, shape_name: &str, value: &Value) {
        static EMPTY: Value = Value::Null;
        let model = self.model;
        let shape = model.shape(shape_name).unwrap_or(&EMPTY);
        let kind = shape.get("type").and_then(Value::as_str).unwrap_or("structure");
        match (kind, value) {
            ("list", Value::Array(items)) => {
                let member_shape = shape.pointer("/member/shape").and_then(Value::as_str).unwrap_or_default();
                let member_name = location_name(shape.get("member"));
                if is_flattened(shape) {
                    for item in items {
                        self.element(member_name.unwrap_or(element), member_shape, item);
                    }
                } else {
                    self.open(element);
                    for item in items {
                        self.element(member_name.unwrap_or("member"), member_shape, item);
                    }
                    self.close(element);
                }
            }
            ("map", Value::Object(entries)) => {
                let key_name = location_name(shape.get("key")).unwrap_or("key");
                let value_name = location_name(shape.get("value")).unwrap_or("value");
                let key_shape = shape.pointer("/key/shape").and_then(Value::as_str).unwrap_or_default();
                let value_shape = shape.pointer("/value/shape").and_then(Value::as_str).unwrap_or_default();
                let flattened = is_flattened(shape);
                if !flattened {
                    self.open(element);
                }
                for (key, item) in entries {
                    self.open(if flattened { element } else { "entry" });
                    self.element(key_name, key_shape, &Value::String(key.clone()));
                    self.element(value_name, value_shape, item);
                    self.close(if flattened { element } else { "entry" });
                }
                if !flattened {
                    self.close(element);
                }
            }
            ("structure", _) => {
                self.open(element);
                self.members(shape_name, value);
                self.close(element);
            }
            _ => {
                self.open(element);
                let text = scalar_text(kind, value);
                self.xml.push_str(&escape(&text));
                self.close(element);
            }
        }
    }

    fn open(&mut self, element: &str) {
        self.xml.push('<');
        self.xml.push_str(element);
        self.xml.push('>');
    }

    fn close(&mut self, element: &str) {
        self.xml.push_str("</");
        self.xml.push_str(element);
        self.xml.push('>');
    }
}

/// A scalar's text: timestamps (epoch seconds) in ISO 8601, strings as they are, numbers
/// and booleans as JSON writes them.
fn scalar_text(kind: &str, value: &Value) -> String {
    match (kind, value) {
        ("timestamp", Value::Number(n)) => n.as_f64().map(iso8601).unwrap_or_default(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// XML character data or attribute text with `&`, `<`, `>`, `"` and `'` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// ELBv2's botocore model: the Query service ferry local is to serve next. Loaded here to
    /// test the protocol against real shapes.
    fn elbv2() -> ServiceModel {
        ServiceModel::load(include_bytes!("../../models/elbv2.json.gz"), "ValidationError").unwrap()
    }

    fn params(body: &str) -> BTreeMap<String, String> {
        parameters(body.as_bytes())
    }

    // The bodies below are what botocore 1.43.11's QuerySerializer sends for the inputs in
    // the comments (measured with `serialize_to_request` on the elbv2 model), and the XML
    // documents expected below are read by botocore's QueryParser into the outputs given
    // (measured: the same values back, `TargetGroupNotFound` mapped to
    // `TargetGroupNotFoundException`).

    #[test]
    fn validation_messages_name_members_in_lower_camel_case_with_list_indices_first() {
        assert_eq!(member_path("Port"), "port");
        assert_eq!(member_path("Targets.member.1.Port"), "targets.1.member.port");
        assert_eq!(member_path("Actions.member.2.RedirectConfig.StatusCode"), "actions.2.member.redirectConfig.statusCode");
        let e = elbv2().validate("CreateTargetGroup", &json!({"Name": "web", "Protocol": "SMTP"})).unwrap_err();
        assert!(e.message.contains("at 'protocol' failed to satisfy constraint"), "{}", e.message);
        let e = elbv2().validate("RegisterTargets", &json!({"TargetGroupArn": "a", "Targets": [{"Port": 80}]})).unwrap_err();
        assert!(e.message.contains("at 'targets.1.member.id'"), "{}", e.message);
    }

    #[test]
    fn nested_structures_lists_and_scalars_decode_along_the_input_shape() {
        // {"Name": "web", "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1", "HealthCheckEnabled": true,
        //  "HealthCheckPath": "/health?a=b&c", "Matcher": {"HttpCode": "200-299"},
        //  "Tags": [{"Key": "ferry:env", "Value": "prod"}, {"Key": "team", "Value": "a b"}]}
        let body = "Action=CreateTargetGroup&Version=2015-12-01&Name=web&Protocol=HTTP&Port=8080&VpcId=vpc-1&HealthCheckEnabled=true\
                    &HealthCheckPath=%2Fhealth%3Fa%3Db%26c&Matcher.HttpCode=200-299&Tags.member.1.Key=ferry%3Aenv&Tags.member.1.Value=prod\
                    &Tags.member.2.Key=team&Tags.member.2.Value=a+b";
        let input = decode(&elbv2(), "CreateTargetGroup", &params(body)).unwrap();
        assert_eq!(
            input,
            json!({"Name": "web", "Protocol": "HTTP", "Port": 8080, "VpcId": "vpc-1", "HealthCheckEnabled": true,
                   "HealthCheckPath": "/health?a=b&c", "Matcher": {"HttpCode": "200-299"},
                   "Tags": [{"Key": "ferry:env", "Value": "prod"}, {"Key": "team", "Value": "a b"}]})
        );
    }

    #[test]
    fn lists_of_structures_holding_lists_and_maps_decode() {
        // {"ListenerArn": "arn:l", "Priority": 10, "Conditions": [{"Field": "path-pattern", "Values": ["/a/*", "/b"]}],
        //  "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "arn:blue", "Weight": 90},
        //    {"TargetGroupArn": "arn:green", "Weight": 10}], "TargetGroupStickinessConfig": {"Enabled": false}}},
        //   {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {"Issuer": "i", "AuthorizationEndpoint": "a",
        //    "TokenEndpoint": "t", "UserInfoEndpoint": "u", "ClientId": "c",
        //    "AuthenticationRequestExtraParams": {"prompt": "login", "display": "page"}}}]}
        let body = "Action=CreateRule&Version=2015-12-01&ListenerArn=arn%3Al&Priority=10&Conditions.member.1.Field=path-pattern\
            &Conditions.member.1.Values.member.1=%2Fa%2F%2A&Conditions.member.1.Values.member.2=%2Fb&Actions.member.1.Type=forward\
            &Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=arn%3Ablue&Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight=90\
            &Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn=arn%3Agreen&Actions.member.1.ForwardConfig.TargetGroups.member.2.Weight=10\
            &Actions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled=false&Actions.member.2.Type=authenticate-oidc&Actions.member.2.Order=1\
            &Actions.member.2.AuthenticateOidcConfig.Issuer=i&Actions.member.2.AuthenticateOidcConfig.AuthorizationEndpoint=a\
            &Actions.member.2.AuthenticateOidcConfig.TokenEndpoint=t&Actions.member.2.AuthenticateOidcConfig.UserInfoEndpoint=u\
            &Actions.member.2.AuthenticateOidcConfig.ClientId=c\
            &Actions.member.2.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.key=prompt\
            &Actions.member.2.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.1.value=login\
            &Actions.member.2.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.2.key=display\
            &Actions.member.2.AuthenticateOidcConfig.AuthenticationRequestExtraParams.entry.2.value=page";
        let input = decode(&elbv2(), "CreateRule", &params(body)).unwrap();
        assert_eq!(input["Conditions"], json!([{"Field": "path-pattern", "Values": ["/a/*", "/b"]}]));
        assert_eq!(
            input["Actions"][0],
            json!({"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": "arn:blue", "Weight": 90},
                   {"TargetGroupArn": "arn:green", "Weight": 10}], "TargetGroupStickinessConfig": {"Enabled": false}}})
        );
        assert_eq!(input["Actions"][1]["Order"], json!(1));
        assert_eq!(
            input["Actions"][1]["AuthenticateOidcConfig"]["AuthenticationRequestExtraParams"],
            json!({"prompt": "login", "display": "page"})
        );
        assert_eq!(input["Priority"], json!(10));
        // What decodes is what the model validates: the required members are there.
        elbv2().validate("CreateRule", &input).unwrap();
    }

    #[test]
    fn an_empty_list_and_list_items_out_of_order_decode() {
        // {"Names": []}
        let input = decode(&elbv2(), "DescribeTargetGroups", &params("Action=DescribeTargetGroups&Version=2015-12-01&Names=")).unwrap();
        assert_eq!(input, json!({"Names": []}));
        // Items are ordered by their index, not by where they appear (10 after 2).
        let mut body = String::from("Action=DescribeTargetGroups&Version=2015-12-01");
        for n in [10, 2, 1, 3, 4, 5, 6, 7, 8, 9] {
            body.push_str(&format!("&Names.member.{n}=tg{n}"));
        }
        let input = decode(&elbv2(), "DescribeTargetGroups", &params(&body)).unwrap();
        let names: Vec<String> = (1..=10).map(|n| format!("tg{n}")).collect();
        assert_eq!(input, json!({ "Names": names }));
    }

    #[test]
    fn a_value_not_of_its_members_type_is_a_validation_error() {
        let e = decode(&elbv2(), "CreateTargetGroup", &params("Action=CreateTargetGroup&Name=web&Port=eighty")).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "ValidationError"));
        assert!(e.message.contains("'eighty' at 'port'"), "{}", e.message);
        let e = decode(&elbv2(), "CreateTargetGroup", &params("Name=web&HealthCheckEnabled=yes")).unwrap_err();
        assert!(e.message.contains("'healthCheckEnabled'"), "{}", e.message);
    }

    #[test]
    fn outputs_are_xml_with_result_wrapper_members_and_request_id() {
        let output = json!({
            "TargetGroups": [{
                "TargetGroupArn": "arn:tg", "TargetGroupName": "web", "Port": 8080, "HealthCheckEnabled": true,
                "Matcher": {"HttpCode": "200"}, "LoadBalancerArns": ["arn:lb1", "arn:lb2"], "Unknown": "left out"
            }],
            "NextMarker": "m<&>"
        });
        let xml = encode_output(&elbv2(), "DescribeTargetGroups", &output, "rid-1");
        assert_eq!(
            xml,
            "<DescribeTargetGroupsResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <DescribeTargetGroupsResult><TargetGroups><member><TargetGroupArn>arn:tg</TargetGroupArn>\
             <TargetGroupName>web</TargetGroupName><Port>8080</Port><HealthCheckEnabled>true</HealthCheckEnabled>\
             <Matcher><HttpCode>200</HttpCode></Matcher><LoadBalancerArns><member>arn:lb1</member><member>arn:lb2</member>\
             </LoadBalancerArns></member></TargetGroups><NextMarker>m&lt;&amp;&gt;</NextMarker></DescribeTargetGroupsResult>\
             <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>"
        );
        well_formed(&xml);
    }

    #[test]
    fn an_output_without_members_is_the_response_and_its_metadata() {
        let xml = encode_output(&elbv2(), "DeleteTargetGroup", &json!({}), "rid-2");
        assert_eq!(
            xml,
            "<DeleteTargetGroupResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <DeleteTargetGroupResult></DeleteTargetGroupResult>\
             <ResponseMetadata><RequestId>rid-2</RequestId></ResponseMetadata></DeleteTargetGroupResponse>"
        );
        well_formed(&xml);
    }

    #[test]
    fn maps_and_timestamps_encode_as_botocore_reads_them() {
        // DescribeListeners' Listeners[].DefaultActions[].AuthenticateOidcConfig holds a map;
        // DescribeLoadBalancers' CreatedTime is a timestamp.
        let output = json!({"Listeners": [{"ListenerArn": "arn:l", "DefaultActions": [{"Type": "authenticate-oidc",
            "AuthenticateOidcConfig": {"Issuer": "i", "AuthenticationRequestExtraParams": {"prompt": "login"}}}]}]});
        let xml = encode_output(&elbv2(), "DescribeListeners", &output, "r");
        assert!(
            xml.contains(
                "<AuthenticationRequestExtraParams><entry><key>prompt</key><value>login</value></entry></AuthenticationRequestExtraParams>"
            ),
            "{xml}"
        );
        let output = json!({"LoadBalancers": [{"LoadBalancerName": "lb", "CreatedTime": 1_795_998_600.25}]});
        let xml = encode_output(&elbv2(), "DescribeLoadBalancers", &output, "r");
        assert!(xml.contains("<CreatedTime>2026-11-30T00:30:00.250Z</CreatedTime>"), "{xml}");
        well_formed(&xml);
    }

    #[test]
    fn errors_are_error_responses_with_the_models_query_error_code() {
        let error = ApiError::client("TargetGroupNotFoundException", "One or more target groups not found");
        let (status, xml) = encode_error(Some(&elbv2()), &error, "rid-3");
        assert_eq!(status, 400);
        assert_eq!(
            xml,
            "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\"><Error><Type>Sender</Type>\
             <Code>TargetGroupNotFound</Code><Message>One or more target groups not found</Message></Error>\
             <RequestId>rid-3</RequestId></ErrorResponse>"
        );
        well_formed(&xml);
        // A code the model does not declare (a common error) is sent as it is; a 5xx is the
        // receiver's fault.
        let (status, xml) = encode_error(Some(&elbv2()), &ApiError::new(503, "ServiceUnavailable", "try <again>"), "r");
        assert_eq!(status, 503);
        assert!(xml.contains("<Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try &lt;again&gt;</Message>"), "{xml}");
        let (_, xml) = encode_error(None, &ApiError::client("MissingAction", "m"), "r");
        assert!(xml.starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>MissingAction</Code>"), "{xml}");
    }

    #[test]
    fn the_credential_scope_names_the_service() {
        let request = Request {
            authorization: Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=0",
            ),
            ..Default::default()
        };
        assert_eq!(scope_service(&request).as_deref(), Some("elasticloadbalancing"));
        let presigned = Request {
            query: Some("X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Felasticloadbalancing%2Faws4_request"),
            ..Default::default()
        };
        assert_eq!(scope_service(&presigned).as_deref(), Some("elasticloadbalancing"));
        assert_eq!(scope_service(&Request::default()), None);
    }

    /// The document parses as XML, every element closed.
    fn well_formed(xml: &str) {
        let mut depth = 0i32;
        for token in xmlparser::Tokenizer::from(xml) {
            match token.unwrap() {
                xmlparser::Token::ElementStart { .. } => depth += 1,
                xmlparser::Token::ElementEnd { end: xmlparser::ElementEnd::Close(..) | xmlparser::ElementEnd::Empty, .. } => depth -= 1,
                _ => {}
            }
        }
        assert_eq!(depth, 0, "{xml}");
    }
}
