//! Smithy RPC v2 CBOR (smithy's `smithy.protocols#rpcv2Cbor`, botocore's
//! `smithy-rpc-v2-cbor`): what the AWS SDK for Rust sends CloudWatch (aws-sdk-cloudwatch
//! 1.140), the first of the `protocols` in CloudWatch's model.
//!
//! A request is `POST /service/<ServiceName>/operation/<OperationName>`, the service named by
//! the shape name of its Smithy service (`GraniteServiceVersion20100801`, which is also its
//! AWS JSON target prefix; a namespace in front, `com.amazonaws.cloudwatch.Granite…`, is
//! accepted, as the protocol asks of servers), with `smithy-protocol: rpc-v2-cbor`,
//! `Content-Type: application/cbor` and the input structure as one CBOR data item (RFC 8949):
//! a structure is a map from member names to values (definite or indefinite length), a list an
//! array, a timestamp tag 1 around epoch seconds (an integer or a float), a blob a byte string,
//! a `null` member the same as an absent one. An operation without input may send no body. A
//! request with `X-Amz-Target` is malformed; so is one whose `smithy-protocol` is not
//! `rpc-v2-cbor`.
//!
//! An answer carries `smithy-protocol: rpc-v2-cbor` and `Content-Type: application/cbor`; its
//! body is the output structure in CBOR, encoded along the output shape: definite lengths,
//! every `double`/`float` as a 64-bit float (the SDK's decoder takes no integer for a double),
//! integers as integers, timestamps as tag 1 around a 64-bit float of epoch seconds, blobs as
//! byte strings. An operation without an output shape answers 200 with an empty body. An error
//! is answered with its status and a map `{"__type": "<namespace>#<ErrorShape>", "message":
//! …}` (Smithy names an error by its shape id; clients keep what follows `#`); a service whose
//! model is `awsQueryCompatible` adds `x-amzn-query-error: <Query code>;Sender|Receiver`,
//! which the SDK takes for the error code (aws-sdk-cloudwatch's `parse_http_error_metadata`).
//!
//! The input reaches handlers as the JSON value every protocol gives them (`protocol`'s module
//! documentation): timestamps as epoch seconds, blobs as base64 text.

use std::convert::Infallible;

use minicbor::data::{Tag, Type};
use serde_json::{Map, Number, Value};

use super::{Protocol, Reply, Request, Route, qualified_error_type, query_error_header};
use crate::api::ApiError;
use crate::dynamodb::value::{base64_decode, base64_encode};
use crate::model::{Service, ServiceModel};

const CONTENT_TYPE: &str = "application/cbor";
/// The `smithy-protocol` value of this protocol, on requests and answers.
const SMITHY_PROTOCOL: &str = "rpc-v2-cbor";
/// How deeply input values may nest: far deeper than any AWS input shape, and a bound on the
/// decoder's recursion whatever a client sends.
const MAX_DEPTH: u32 = 64;
/// The tag of an epoch-seconds timestamp (RFC 8949 §3.4.2).
const EPOCH_SECONDS: u64 = 1;

/// The Smithy RPC v2 CBOR protocol.
pub struct RpcV2Cbor;

/// Whether a request speaks RPC v2 CBOR: its path is under `/service/`, or it names a Smithy
/// protocol. (Whether it does so correctly is [`RpcV2Cbor::route`]'s question.)
pub fn is_cbor_request(request: &Request) -> bool {
    request.path.starts_with("/service/") || request.smithy_protocol.is_some()
}

/// The service shape name and operation of a `/service/<Service>/operation/<Operation>` path;
/// a namespace before the service name (`com.amazonaws.cloudwatch.Name`) is dropped.
fn service_and_operation(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/service/")?;
    let (service, operation) = rest.split_once("/operation/")?;
    let service = service.rsplit('.').next().unwrap_or(service);
    let identifier = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (identifier(service) && identifier(operation)).then_some((service, operation))
}

fn unknown_operation(message: impl Into<String>) -> ApiError {
    ApiError::new(404, "UnknownOperationException", message)
}

fn serialization(message: impl Into<String>) -> ApiError {
    ApiError::client("SerializationException", message)
}

impl Protocol for RpcV2Cbor {
    /// Errors: `UnknownOperationException` (404, as Smithy's reference server answers) for a
    /// path of another form, a service ferry local does not serve over this protocol or an
    /// operation its model does not have; `SerializationException` (400) for a request with
    /// a target header or without `smithy-protocol: rpc-v2-cbor`.
    fn route(&self, request: &Request) -> Result<Route, ApiError> {
        if request.target.is_some() {
            return Err(serialization("An RPC v2 CBOR request must not have an X-Amz-Target header."));
        }
        if request.smithy_protocol.map(str::trim) != Some(SMITHY_PROTOCOL) {
            return Err(serialization(format!(
                "An RPC v2 CBOR request has the header smithy-protocol: {SMITHY_PROTOCOL}; this one has {}.",
                request.smithy_protocol.map_or_else(|| "none".to_string(), |p| format!("'{p}'"))
            )));
        }
        let shown: String = request.path.chars().take(128).collect();
        let Some((name, operation)) = service_and_operation(request.path) else {
            return Err(unknown_operation(format!("{shown} is not /service/<Service>/operation/<Operation>")));
        };
        let service = Service::from_target_prefix(name).filter(|s| s.model().is_some_and(|m| m.speaks("smithy-rpc-v2-cbor")));
        let Some(service) = service else {
            return Err(unknown_operation(format!("ferry local serves no service {name} over RPC v2 CBOR")));
        };
        if !service.model().is_some_and(|m| m.has_operation(operation)) {
            return Err(unknown_operation(format!("Unknown operation {operation}")));
        }
        Ok(Route { service, operation: operation.to_string() })
    }

    /// Errors: `SerializationException` (400) for a body that is not one CBOR map, or holds
    /// what has no JSON value (a non-string map key, a tag other than 1, a non-finite number).
    fn input(&self, _route: &Route, request: &Request) -> Result<Value, ApiError> {
        decode(request.body).map_err(serialization)
    }

    fn output(&self, route: &Route, output: &Value, _request_id: &str) -> Reply {
        let Some(model) = route.service.model() else {
            return reply(500, Vec::new(), Vec::new());
        };
        let body = match model.output_shape(&route.operation) {
            (Some(shape), _) => encode(model, Some(shape), output),
            (None, _) => Ok(Vec::new()),
        };
        match body {
            Ok(body) => reply(200, Vec::new(), body),
            Err(e) => unencodable(&e),
        }
    }

    fn error(&self, route: Option<&Route>, error: &ApiError, _request_id: &str) -> Reply {
        let mut body = Map::new();
        body.insert("__type".into(), Value::String(qualified_error_type(route, &error.code)));
        body.insert("message".into(), Value::String(error.message.clone()));
        for (k, v) in error.extra.iter().flat_map(|m| m.iter()) {
            body.insert(k.clone(), v.clone());
        }
        let model = route.and_then(|r| r.service.model());
        let headers = query_error_header(route, error).into_iter().collect();
        let body = Value::Object(body);
        match model.map_or_else(|| encode_untyped(&body), |m| encode(m, None, &body)) {
            Ok(body) => reply(error.status, headers, body),
            Err(e) => unencodable(&e),
        }
    }
}

/// A 500 for an answer that could not be written (encoding into memory does not fail; this is
/// the answer should it ever).
fn unencodable(e: &dyn std::fmt::Display) -> Reply {
    tracing::error!("cannot encode a CBOR answer: {e}");
    reply(500, Vec::new(), Vec::new())
}

fn reply(status: u16, mut headers: Vec<(&'static str, String)>, body: Vec<u8>) -> Reply {
    headers.insert(0, ("smithy-protocol", SMITHY_PROTOCOL.to_string()));
    Reply { status, content_type: CONTENT_TYPE, error_type: None, headers, body }
}

// --- decoding -------------------------------------------------------------------------

/// The JSON value of a request body: `{}` for an empty body, else its one CBOR data item,
/// which must be a map. Errors say what is wrong, for a `SerializationException`.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut decoder = minicbor::Decoder::new(body);
    let value = item(&mut decoder, 0)?;
    if decoder.position() != body.len() {
        return Err(format!("CBOR body has {} bytes after its data item", body.len() - decoder.position()));
    }
    if !value.is_object() {
        return Err("CBOR body is not a map (the input structure)".to_string());
    }
    Ok(value)
}

fn cbor_error(e: minicbor::decode::Error) -> String {
    format!("malformed CBOR: {e}")
}

/// One data item and what it holds.
fn item(d: &mut minicbor::Decoder, depth: u32) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("CBOR nested deeper than {MAX_DEPTH} levels"));
    }
    let at = d.position();
    match d.datatype().map_err(cbor_error)? {
        Type::Bool => d.bool().map(Value::Bool).map_err(cbor_error),
        Type::Null | Type::Undefined => d.skip().map(|()| Value::Null).map_err(cbor_error),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64().map(Value::from).map_err(cbor_error),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => d.i64().map(Value::from).map_err(cbor_error),
        Type::Int => Err(format!("integer out of range at byte {at}")),
        Type::F16 | Type::F32 | Type::F64 => {
            let x = d.f64().map_err(cbor_error)?;
            Number::from_f64(x).map(Value::Number).ok_or_else(|| format!("{x} at byte {at} is not a finite number"))
        }
        Type::Bytes | Type::BytesIndef => {
            let mut bytes = Vec::new();
            for chunk in d.bytes_iter().map_err(cbor_error)? {
                bytes.extend_from_slice(chunk.map_err(cbor_error)?);
            }
            Ok(Value::String(base64_encode(&bytes)))
        }
        Type::String | Type::StringIndef => {
            let mut text = String::new();
            for chunk in d.str_iter().map_err(cbor_error)? {
                text.push_str(chunk.map_err(cbor_error)?);
            }
            Ok(Value::String(text))
        }
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.array().map_err(cbor_error)? {
                Some(n) => {
                    for _ in 0..n {
                        items.push(item(d, depth + 1)?);
                    }
                }
                None => {
                    while d.datatype().map_err(cbor_error)? != Type::Break {
                        items.push(item(d, depth + 1)?);
                    }
                    d.skip().map_err(cbor_error)?;
                }
            }
            Ok(Value::Array(items))
        }
        Type::Map | Type::MapIndef => {
            let mut map = Map::new();
            let mut entry = |d: &mut minicbor::Decoder| -> Result<(), String> {
                let key = match item(d, depth + 1)? {
                    Value::String(key) => key,
                    other => return Err(format!("map key {other} is not a string")),
                };
                let value = item(d, depth + 1)?;
                map.insert(key, value);
                Ok(())
            };
            match d.map().map_err(cbor_error)? {
                Some(n) => {
                    for _ in 0..n {
                        entry(d)?;
                    }
                }
                None => {
                    while d.datatype().map_err(cbor_error)? != Type::Break {
                        entry(d)?;
                    }
                    d.skip().map_err(cbor_error)?;
                }
            }
            Ok(Value::Object(map))
        }
        Type::Tag => {
            let tag = d.tag().map_err(cbor_error)?;
            if tag != Tag::new(EPOCH_SECONDS) {
                return Err(format!("CBOR tag {} at byte {at} is not one ferry local reads (only 1, epoch seconds)", tag.as_u64()));
            }
            match item(d, depth + 1)? {
                number @ Value::Number(_) => Ok(number),
                other => Err(format!("timestamp (tag 1) at byte {at} holds {other}, not epoch seconds")),
            }
        }
        other => Err(format!("unexpected CBOR {other} at byte {at}")),
    }
}

// --- encoding -------------------------------------------------------------------------

type Encoder = minicbor::Encoder<Vec<u8>>;
type EncodeResult = Result<(), minicbor::encode::Error<Infallible>>;

/// `value` in CBOR along the model's shape `shape` (see the module documentation); members a
/// structure shape does not name are left out, as the other protocols leave them out. With no
/// shape (an error body), the value is encoded as it is, strings as strings and numbers as
/// integers or 64-bit floats.
pub fn encode(model: &ServiceModel, shape: Option<&str>, value: &Value) -> Result<Vec<u8>, minicbor::encode::Error<Infallible>> {
    let mut e = minicbor::Encoder::new(Vec::new());
    Shaped { model }.value(&mut e, shape, value)?;
    Ok(e.into_writer())
}

fn encode_untyped(value: &Value) -> Result<Vec<u8>, minicbor::encode::Error<Infallible>> {
    let mut e = minicbor::Encoder::new(Vec::new());
    untyped(&mut e, value)?;
    Ok(e.into_writer())
}

struct Shaped<'a> {
    model: &'a ServiceModel,
}

impl Shaped<'_> {
    fn value(&self, e: &mut Encoder, shape_name: Option<&str>, value: &Value) -> EncodeResult {
        let Some(shape) = shape_name.and_then(|n| self.model.shape(n)) else {
            return untyped(e, value);
        };
        let kind = shape.get("type").and_then(Value::as_str).unwrap_or("structure");
        match (kind, value) {
            ("structure", Value::Object(object)) => {
                let members = shape.get("members").and_then(Value::as_object);
                let present: Vec<(&String, &Value, Option<&str>)> = object
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .filter_map(|(k, v)| {
                        let member = members?.get(k)?;
                        Some((k, v, member.get("shape").and_then(Value::as_str)))
                    })
                    .collect();
                e.map(present.len() as u64)?;
                for (key, item, member_shape) in present {
                    e.str(key)?;
                    self.value(e, member_shape, item)?;
                }
                Ok(())
            }
            ("list", Value::Array(items)) => {
                let member = shape.pointer("/member/shape").and_then(Value::as_str);
                e.array(items.len() as u64)?;
                for item in items {
                    self.value(e, member, item)?;
                }
                Ok(())
            }
            ("map", Value::Object(entries)) => {
                let member = shape.pointer("/value/shape").and_then(Value::as_str);
                e.map(entries.len() as u64)?;
                for (key, item) in entries {
                    e.str(key)?;
                    self.value(e, member, item)?;
                }
                Ok(())
            }
            ("double" | "float", Value::Number(n)) => e.f64(n.as_f64().unwrap_or_default()).map(drop),
            ("timestamp", Value::Number(n)) => e.tag(Tag::new(EPOCH_SECONDS))?.f64(n.as_f64().unwrap_or_default()).map(drop),
            ("timestamp", Value::String(text)) => match super::parse_timestamp(text) {
                Some(seconds) => e.tag(Tag::new(EPOCH_SECONDS))?.f64(seconds).map(drop),
                None => e.str(text).map(drop),
            },
            ("blob", Value::String(text)) => match base64_decode(text) {
                Some(bytes) => e.bytes(&bytes).map(drop),
                None => e.str(text).map(drop),
            },
            _ => untyped(e, value),
        }
    }
}

/// A value without a shape: JSON's types as CBOR's (integers as integers, other numbers as
/// 64-bit floats).
fn untyped(e: &mut Encoder, value: &Value) -> EncodeResult {
    match value {
        Value::Null => e.null().map(drop),
        Value::Bool(b) => e.bool(*b).map(drop),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => e.u64(u).map(drop),
            (None, Some(i)) => e.i64(i).map(drop),
            _ => e.f64(n.as_f64().unwrap_or_default()).map(drop),
        },
        Value::String(s) => e.str(s).map(drop),
        Value::Array(items) => {
            e.array(items.len() as u64)?;
            items.iter().try_for_each(|item| untyped(e, item))
        }
        Value::Object(entries) => {
            e.map(entries.len() as u64)?;
            for (key, item) in entries {
                e.str(key)?;
                untyped(e, item)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloudwatch() -> &'static ServiceModel {
        Service::CloudWatch.model().unwrap()
    }

    fn request<'a>(path: &'a str, body: &'a [u8]) -> Request<'a> {
        Request { path, smithy_protocol: Some("rpc-v2-cbor"), content_type: Some(CONTENT_TYPE), body, ..Default::default() }
    }

    /// Hex without spaces, from a readable form with spaces.
    fn bytes(hex_text: &str) -> Vec<u8> {
        hex::decode(hex_text.replace([' ', '\n'], "")).unwrap()
    }

    #[test]
    fn the_path_names_service_and_operation_and_the_header_is_required() {
        let r = request("/service/GraniteServiceVersion20100801/operation/SetAlarmState", b"");
        assert!(is_cbor_request(&r));
        assert_eq!(RpcV2Cbor.route(&r).unwrap(), Route { service: Service::CloudWatch, operation: "SetAlarmState".into() });
        // A namespace before the service name is accepted (the protocol asks servers to).
        let r = request("/service/com.amazonaws.cloudwatch.GraniteServiceVersion20100801/operation/DescribeAlarms", b"");
        assert_eq!(RpcV2Cbor.route(&r).unwrap().operation, "DescribeAlarms");
        for path in [
            "/service/GraniteServiceVersion20100801/operation/Nope",
            "/service/AmazonEC2ContainerServiceV20141113/operation/ListClusters",
            "/service/GraniteServiceVersion20100801",
            "/service/Granite-Service/operation/DescribeAlarms",
        ] {
            let e = RpcV2Cbor.route(&request(path, b"")).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (404, "UnknownOperationException"), "{path}");
        }
        let path = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms";
        let no_header = Request { smithy_protocol: None, ..request(path, b"") };
        assert!(is_cbor_request(&no_header));
        assert_eq!(RpcV2Cbor.route(&no_header).unwrap_err().code, "SerializationException");
        let json = Request { smithy_protocol: Some("rpc-v2-json"), ..request(path, b"") };
        assert_eq!(RpcV2Cbor.route(&json).unwrap_err().code, "SerializationException");
        let targeted = Request { target: Some("GraniteServiceVersion20100801.DescribeAlarms"), ..request(path, b"") };
        assert_eq!(RpcV2Cbor.route(&targeted).unwrap_err().code, "SerializationException");
        assert!(!is_cbor_request(&Request { path: "/", ..Default::default() }));
    }

    #[test]
    fn definite_and_indefinite_maps_arrays_and_strings_decode_to_the_input_value() {
        // {"AlarmName": "a", "Threshold": 80.5, "EvaluationPeriods": 2, "ActionsEnabled": false,
        //  "Dimensions": [{"Name": "ServiceName", "Value": "web"}]}: an indefinite-length map
        // (as the SDK writes structures), a definite array, an f64, an indefinite string.
        let body = bytes(
            "bf 69 416c61726d4e616d65 61 61
                69 5468726573686f6c64 fb 4054200000000000
                71 4576616c756174696f6e506572696f6473 02
                6e 416374696f6e73456e61626c6564 f4
                6a 44696d656e73696f6e73 81 a2 64 4e616d65 6b 536572766963654e616d65 65 56616c7565 7f 62 7765 61 62 ff
             ff",
        );
        assert_eq!(
            decode(&body).unwrap(),
            json!({"AlarmName": "a", "Threshold": 80.5, "EvaluationPeriods": 2, "ActionsEnabled": false,
                   "Dimensions": [{"Name": "ServiceName", "Value": "web"}]})
        );
        // An empty body is an empty input; null members are kept as null (absent to handlers).
        assert_eq!(decode(b"").unwrap(), json!({}));
        assert_eq!(decode(&bytes("a1 61 61 f6")).unwrap(), json!({"a": null}));
    }

    #[test]
    fn timestamps_half_floats_negative_integers_and_byte_strings_decode() {
        // {"t": 1(1700000000), "u": 1(1700000000.5), "h": 1.5 (f16), "n": -3, "b": h'0001'}
        let body = bytes("a5 61 74 c1 1a 6553f100 61 75 c1 fb 41d954fc40200000 61 68 f9 3e00 61 6e 22 61 62 42 0001");
        assert_eq!(decode(&body).unwrap(), json!({"t": 1_700_000_000, "u": 1_700_000_000.5, "h": 1.5, "n": -3, "b": "AAE="}));
    }

    #[test]
    fn what_is_not_one_cbor_map_with_json_values_is_refused() {
        for (what, hex_text) in [
            ("not a map", "83 01 02 03"),
            ("truncated", "a1 61 61"),
            ("trailing bytes", "a0 00"),
            ("integer key", "a1 01 02"),
            ("bignum tag", "a1 61 61 c2 41 01"),
            ("timestamp of a string", "a1 61 61 c1 61 78"),
            ("NaN", "a1 61 61 f9 7e00"),
            ("break outside", "ff"),
            ("u64 beyond i64 negative", "a1 61 61 3b ffffffffffffffff"),
        ] {
            assert!(decode(&bytes(hex_text)).is_err(), "{what}");
        }
        // Nesting is bounded: 100 nested arrays under a map.
        let mut deep = vec![0xa1, 0x61, b'a'];
        deep.extend(std::iter::repeat_n(0x81, 100));
        deep.push(0x00);
        assert!(decode(&deep).unwrap_err().contains("nested"));
        let r = request("/service/GraniteServiceVersion20100801/operation/DescribeAlarms", b"\x83\x01");
        let route = RpcV2Cbor.route(&r).unwrap();
        assert_eq!(RpcV2Cbor.input(&route, &r).unwrap_err().code, "SerializationException");
    }

    #[test]
    fn outputs_follow_the_output_shape_doubles_as_floats_timestamps_tagged() {
        let output = json!({"MetricAlarms": [{"AlarmName": "a", "Threshold": 80, "EvaluationPeriods": 2,
            "StateUpdatedTimestamp": 1_700_000_000.5, "ActionsEnabled": true, "OKActions": [], "NotInTheModel": 1}],
            "CompositeAlarms": []});
        let body = encode(cloudwatch(), Some("DescribeAlarmsOutput"), &output).unwrap();
        // Members in the order given; an integral Threshold is still a double; the unknown
        // member is left out.
        let expected = bytes(
            "a2 6c 4d6574726963416c61726d73 81 a6
                69 416c61726d4e616d65 61 61
                69 5468726573686f6c64 fb 4054000000000000
                71 4576616c756174696f6e506572696f6473 02
                75 5374617465557064617465645469 6d657374616d70 c1 fb 41d954fc40200000
                6e 416374696f6e73456e61626c6564 f5
                69 4f4b416374696f6e73 80
             6f 436f6d706f73697465416c61726d73 80",
        );
        assert_eq!(hex::encode(&body), hex::encode(&expected));
        // What is encoded decodes back to the same value (doubles as numbers).
        assert_eq!(decode(&body).unwrap()["MetricAlarms"][0]["Threshold"], json!(80.0));
    }

    #[test]
    fn answers_carry_the_protocol_header_and_an_operation_without_output_an_empty_body() {
        let route = Route { service: Service::CloudWatch, operation: "PutMetricAlarm".into() };
        let reply = RpcV2Cbor.output(&route, &json!({}), "rid");
        assert_eq!((reply.status, reply.content_type, reply.body.len()), (200, CONTENT_TYPE, 0));
        assert_eq!(reply.headers, vec![("smithy-protocol", "rpc-v2-cbor".to_string())]);
        let route = Route { service: Service::CloudWatch, operation: "DescribeAlarms".into() };
        let reply = RpcV2Cbor.output(&route, &json!({}), "rid");
        assert_eq!(reply.body, vec![0xa0]);
    }

    #[test]
    fn errors_name_the_shape_and_carry_the_query_code() {
        let route = Route { service: Service::CloudWatch, operation: "SetAlarmState".into() };
        let reply = RpcV2Cbor.error(Some(&route), &ApiError::new(404, "ResourceNotFound", "Alarm x does not exist."), "rid");
        assert_eq!(reply.status, 404);
        assert_eq!(
            decode(&reply.body).unwrap(),
            json!({"__type": "com.amazonaws.cloudwatch#ResourceNotFound", "message": "Alarm x does not exist."})
        );
        assert!(reply.headers.contains(&("x-amzn-query-error", "ResourceNotFound;Sender".to_string())), "{:?}", reply.headers);
        // The shape ValidationException is the Query error ValidationError.
        let reply = RpcV2Cbor.error(Some(&route), &ApiError::client("ValidationException", "1 validation error detected"), "rid");
        assert_eq!(decode(&reply.body).unwrap()["__type"], "com.amazonaws.cloudwatch#ValidationException");
        assert!(reply.headers.contains(&("x-amzn-query-error", "ValidationError;Sender".to_string())));
        let reply = RpcV2Cbor.error(Some(&route), &ApiError::client("InvalidFormatFault", "Data was not syntactically valid JSON"), "r");
        assert!(reply.headers.contains(&("x-amzn-query-error", "InvalidFormat;Sender".to_string())));
        // A common error the model does not declare keeps its plain name; unrouted, no header.
        let reply = RpcV2Cbor.error(None, &unknown_operation("nope"), "rid");
        assert_eq!(decode(&reply.body).unwrap()["__type"], "UnknownOperationException");
        assert_eq!(reply.headers, vec![("smithy-protocol", "rpc-v2-cbor".to_string())]);
    }
}
