//! The wire protocols: how an HTTP request becomes (service, operation, input) and how an
//! output or an error becomes an HTTP response, so that handlers never see the wire.
//!
//! Handlers take their input as a JSON value shaped like the operation's input shape (member
//! names as keys, lists as arrays, maps as objects, timestamps as epoch seconds, blobs as
//! base64 strings) and answer an output value of the same kind or an [`ApiError`]. Each
//! protocol translates between that and what clients send:
//!
//! - [`AwsJson11`] (`json.rs`): ECS, ECR and Application Auto Scaling. `POST /` with
//!   `X-Amz-Target: <targetPrefix>.<Operation>` and a JSON body; errors as
//!   `{"__type", "message"}` (smithy's `awsJson1_1` protocol).
//! - [`AwsQuery`] (`query.rs`): the Query protocol (ELBv2, CloudWatch, …). A form-encoded
//!   `Action=<Operation>&Version=<apiVersion>&…` body serialized as botocore's
//!   `QuerySerializer` does, answered in XML (`<OperationResponse>`), errors as
//!   `<ErrorResponse>` (smithy's `awsQuery` protocol).
//! - [`RpcV2Cbor`] (`rpcv2_cbor.rs`): Smithy RPC v2 CBOR (CloudWatch, as the AWS SDK for Rust
//!   speaks it). `POST /service/<Service>/operation/<Operation>` with `smithy-protocol:
//!   rpc-v2-cbor` and a CBOR body; answers in CBOR.
//!
//! Which protocol a request speaks is read from the request itself ([`detect`]): a
//! `/service/…` path or a `smithy-protocol` header means RPC v2 CBOR; a target header means
//! AWS JSON; a form body for a service served over Query means the Query protocol. Anything
//! else is answered as AWS JSON answers a request it cannot route.

mod json;
mod query;
mod rpcv2_cbor;

use serde_json::Value;

use crate::api::ApiError;
use crate::model::Service;

pub use json::AwsJson11;
pub use query::AwsQuery;
pub use rpcv2_cbor::RpcV2Cbor;

/// What the protocols read of an HTTP request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    /// `X-Amz-Target`.
    pub target: Option<&'a str>,
    /// `Content-Type`.
    pub content_type: Option<&'a str>,
    /// `Authorization` (the SigV4 credential scope names the service of a Query request).
    pub authorization: Option<&'a str>,
    /// The raw query string.
    pub query: Option<&'a str>,
    /// The URI path (`/`, or `/service/<Service>/operation/<Operation>` for RPC v2 CBOR).
    pub path: &'a str,
    /// `smithy-protocol` (`rpc-v2-cbor`).
    pub smithy_protocol: Option<&'a str>,
    pub body: &'a [u8],
}

/// The service and operation a request calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub service: Service,
    pub operation: String,
}

/// An HTTP response as a protocol writes it; the server adds the request id header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    /// `X-Amzn-ErrorType`, which AWS JSON services send with an error.
    pub error_type: Option<String>,
    /// Other headers the protocol answers with (`smithy-protocol`, `x-amzn-query-error`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// One wire protocol.
pub trait Protocol: Sync {
    /// The service and operation a request calls; an error (answered in this protocol)
    /// when it names none that ferry local serves.
    fn route(&self, request: &Request) -> Result<Route, ApiError>;

    /// The operation's input as a JSON value (see the module documentation), or the error
    /// AWS answers a body it cannot read with.
    fn input(&self, route: &Route, request: &Request) -> Result<Value, ApiError>;

    /// The response carrying a handler's output.
    fn output(&self, route: &Route, output: &Value, request_id: &str) -> Reply;

    /// The response carrying an error; `route` is None when the request could not be routed.
    fn error(&self, route: Option<&Route>, error: &ApiError, request_id: &str) -> Reply;
}

/// The protocol a request speaks: RPC v2 CBOR for a `/service/…` path or a request with a
/// `smithy-protocol` header; the Query protocol for a form-encoded request without a target
/// header whose credential scope names a service ferry local serves over Query; AWS JSON 1.1
/// otherwise (which answers a request without a target as AWS JSON endpoints do).
pub fn detect(request: &Request) -> &'static dyn Protocol {
    if rpcv2_cbor::is_cbor_request(request) {
        &RpcV2Cbor
    } else if request.target.is_none() && query::is_query_request(request) {
        &AwsQuery
    } else {
        &AwsJson11
    }
}

/// `x-amzn-query-error: <Query code>;Sender|Receiver` for an error of an
/// `awsQueryCompatible` service answered over JSON or CBOR: the code the Query protocol
/// answers it with (the error shape's `error.code`, `ValidationError` for the shape
/// `ValidationException`), and whose fault it is. None for other services.
pub fn query_error_header(route: Option<&Route>, error: &ApiError) -> Option<(&'static str, String)> {
    let model = route.and_then(|r| r.service.model()).filter(|m| m.aws_query_compatible)?;
    let declared = model.shape(&error.code).and_then(|s| s.get("error"));
    let code = declared.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or(&error.code);
    let fault = if error.status >= 500 { "Receiver" } else { "Sender" };
    Some(("x-amzn-query-error", format!("{code};{fault}")))
}

/// The `__type` of an error of a service's JSON or CBOR answer: the error shape's name,
/// qualified with the service's namespace when the model declares the shape
/// (`com.amazonaws.cloudwatch#ResourceNotFound`, as Smithy protocols name errors; clients
/// keep what follows `#`), as it is otherwise (a common error: `SerializationException`).
pub fn qualified_error_type(route: Option<&Route>, code: &str) -> String {
    match route.and_then(|r| r.service.model()) {
        Some(model) if model.shape(code).is_some_and(|s| s.get("exception").is_some()) => format!("{}#{code}", model.namespace),
        _ => code.to_string(),
    }
}

/// `seconds` since the epoch as ISO 8601 in UTC with milliseconds (`2026-11-30T12:00:00.000Z`),
/// the timestamp format of the Query protocol (botocore's `_timestamp_iso8601`).
pub fn iso8601(seconds: f64) -> String {
    let millis = (seconds * 1000.0).round() as i64;
    let (days, ms_of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Seconds since the epoch of an ISO 8601 UTC timestamp as Query clients send them
/// (`2026-11-30T12:00:00Z`, with optional fractional seconds, `Z` or `+00:00`), or of a
/// number of epoch seconds; None for anything else.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Some(seconds);
    }
    let text = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00")).unwrap_or(text);
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date_parts.next()??, date_parts.next()??, date_parts.next()??);
    let mut time_parts = time.splitn(3, ':');
    let hour: i64 = time_parts.next()?.parse().ok()?;
    let minute: i64 = time_parts.next()?.parse().ok()?;
    let second: f64 = time_parts.next()?.parse().ok()?;
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && (0.0..61.0).contains(&second);
    valid.then(|| (days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60) as f64 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_go_to_iso8601_and_back() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_998_600.25), "2026-11-30T00:30:00.250Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_timestamp("2026-11-30T00:30:00.250Z"), Some(1_795_998_600.25));
        assert_eq!(parse_timestamp("2000-02-29T00:00:00+00:00"), Some(951_782_400.0));
        assert_eq!(parse_timestamp("1795998600"), Some(1_795_998_600.0));
        assert_eq!(parse_timestamp("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn a_form_request_signed_for_elbv2_is_query_and_anything_else_aws_json() {
        let form = Request {
            content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
            authorization: Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=0",
            ),
            body: b"Action=DescribeTargetGroups&Version=2015-12-01",
            ..Default::default()
        };
        // ELBv2 is served over Query: the credential scope names it.
        assert_eq!(detect(&form).route(&form).unwrap(), Route { service: Service::Elbv2, operation: "DescribeTargetGroups".into() });
        // A form body for a service ferry local serves over AWS JSON is not a Query request.
        let ecs_form = Request {
            authorization: Some("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0"),
            ..form
        };
        assert_eq!(detect(&ecs_form).route(&ecs_form).unwrap_err().code, "UnknownOperationException");
        let json = Request { target: Some("AmazonEC2ContainerServiceV20141113.ListClusters"), ..form };
        assert_eq!(detect(&json).route(&json).unwrap(), Route { service: Service::Ecs, operation: "ListClusters".into() });
    }
}
