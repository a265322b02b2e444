//! Who is calling: the account and region of a request, read from its SigV4 credential
//! scope whatever the wire protocol, and refused the way AWS refuses a malformed one.

use crate::api::{ApiError, Caller};

/// The account used when the access key is not itself a 12-digit account id.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// What a request carries to say who signed it, as the HTTP layer found it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Signed<'a> {
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The raw query string (a presigned request carries `X-Amz-Credential` there).
    pub query: Option<&'a str>,
    /// The `X-Amz-Date` header.
    pub amz_date: Option<&'a str>,
}

/// The only SigV4 algorithm AWS JSON services take.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Reads the caller from the SigV4 credential scope — `Authorization: AWS4-HMAC-SHA256
/// Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=…, Signature=…`, or the
/// `X-Amz-*` parameters of a presigned request — and refuses it the way AWS does when it is
/// absent or malformed. `signing_name` is the service the request is for (the model's
/// `metadata.signingName`: `ecs`, `ecr`, `application-autoscaling`).
///
/// Signatures are not checked (any secret works), but the scope must be well formed: it
/// names the partition (account and region) the request reads and writes, so a scope AWS
/// would refuse must not create one. The error codes and messages are the ones AWS JSON
/// services answer (captured in public bug reports, e.g. aws-sdk-go#1042 for the 5-element
/// rule, aws/aws-sdk-ruby#431 and disneystreaming/smithy4s#1568 for the service scope,
/// fsouza/s3-upload-proxy#241 for the region, iann0036/cloud9-sync#10 and aws/chalice#828 for
/// a header that is not SigV4); AWS ends some of them with ". ", kept.
pub fn caller_from_auth(signed: Signed<'_>, signing_name: &str) -> Result<Caller, ApiError> {
    let (credential, amz_date) = match signed.authorization {
        Some(header) => (credential_from_header(header)?, signed.amz_date.map(str::to_string)),
        None => match presigned(signed.query)? {
            Some((credential, date)) => (credential, Some(date)),
            None => {
                return Err(ApiError::new(403, "MissingAuthenticationTokenException", "Missing Authentication Token"));
            }
        },
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = parts.as_slice() else {
        return Err(incomplete_signature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            shown(&credential)
        )));
    };
    if access_key.is_empty() {
        return Err(ApiError::client("UnrecognizedClientException", "The security token included in the request is invalid."));
    }
    match amz_date.as_deref() {
        Some(stamp) if stamp.get(..8) != Some(*date) => {
            return Err(invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                shown(date),
                shown(stamp.get(..8).unwrap_or(stamp)),
                shown(stamp)
            )));
        }
        _ if !is_calendar_date(date) => {
            // Without an X-Amz-Date to compare with (ferry local does not require one, as it
            // checks no signature), the scope's date must at least be one. Wording ours.
            return Err(invalid_signature(format!("Date in Credential scope is not a YYYYMMDD date: '{}'.", shown(date))));
        }
        _ => {}
    }
    if !valid_region(region) {
        return Err(invalid_signature(format!("Credential should be scoped to a valid region, not '{}'. ", shown(region))));
    }
    if *service != signing_name {
        return Err(invalid_signature(format!("Credential should be scoped to correct service: '{signing_name}'. ")));
    }
    if *terminator != "aws4_request" {
        return Err(invalid_signature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            shown(terminator)
        )));
    }
    let account = if access_key.len() == 12 && access_key.bytes().all(|b| b.is_ascii_digit()) {
        access_key.to_string()
    } else {
        DEFAULT_ACCOUNT.to_string()
    };
    Ok(Caller { account, region: region.to_string() })
}

fn incomplete_signature(message: String) -> ApiError {
    ApiError::client("IncompleteSignatureException", message)
}

fn invalid_signature(message: String) -> ApiError {
    ApiError::client("InvalidSignatureException", message)
}

/// A value echoed in an error, cut short: a 10,000-character region need not come back whole.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &value[..cut]),
        None => value.to_string(),
    }
}

/// The `Credential` of an `Authorization` header. AWS reads the header as the algorithm,
/// then `key=value` pairs separated by commas and spaces.
fn credential_from_header(header: &str) -> Result<String, ApiError> {
    let (algorithm, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params: Vec<(&str, &str)> = Vec::new();
    if algorithm == ALGORITHM {
        for token in rest.split([',', ' ']).filter(|t| !t.is_empty()) {
            let Some(pair) = token.split_once('=') else {
                return Err(incomplete_signature(format!(
                    "'{}' not a valid key=value pair (missing equal-sign) in Authorization header: '{}'.",
                    shown(token),
                    shown(header)
                )));
            };
            params.push(pair);
        }
    }
    let value = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let missing: Vec<&str> = ["Credential", "Signature", "SignedHeaders"].into_iter().filter(|k| value(k).is_none()).collect();
    if !missing.is_empty() {
        let needs: String = missing.iter().map(|k| format!("Authorization header requires '{k}' parameter. ")).collect();
        return Err(incomplete_signature(format!("{needs}Authorization={}", shown(header))));
    }
    Ok(value("Credential").unwrap_or_default().to_string())
}

/// Whether `date` is a YYYYMMDD day of the calendar (a month 13 or a 31 April is not).
fn is_calendar_date(date: &str) -> bool {
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let number = |range: std::ops::Range<usize>| date.get(range).and_then(|d| d.parse::<u32>().ok()).unwrap_or(0);
    let (year, month, day) = (number(0..4), number(4..6), number(6..8));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The credential and date of a presigned request (`X-Amz-Algorithm`, `X-Amz-Credential`,
/// `X-Amz-Date`, `X-Amz-SignedHeaders`, `X-Amz-Signature` in the query), or None when the
/// query carries none of them.
fn presigned(query: Option<&str>) -> Result<Option<(String, String)>, ApiError> {
    const PARAMETERS: [&str; 5] = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"];
    let pairs: Vec<(String, String)> = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect();
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if PARAMETERS.iter().all(|p| value(p).is_none()) {
        return Ok(None);
    }
    let missing: String =
        PARAMETERS.iter().filter(|p| value(p).is_none()).map(|p| format!("AWS query-string parameters must include '{p}'. ")).collect();
    if !missing.is_empty() {
        return Err(incomplete_signature(format!("{missing}Re-examine the query-string parameters.")));
    }
    if value("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(incomplete_signature(format!("X-Amz-Algorithm only supports \"{ALGORITHM}\"")));
    }
    Ok(Some((value("X-Amz-Credential").unwrap_or_default().to_string(), value("X-Amz-Date").unwrap_or_default().to_string())))
}

/// `%XX` escapes and `+` of a query-string component.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `region` has the shape of an AWS region name: one of the partitions' patterns
/// (`regionRegex` in botocore's `data/partitions.json`: `^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$`,
/// `^cn\-\w+\-\d+$`, `^us\-gov\-\w+\-\d+$`, `^us\-iso\-\w+\-\d+$`, `^us\-isob\-\w+\-\d+$`,
/// `^us\-isof\-\w+\-\d+$`, `^eu\-isoe\-\w+\-\d+$`, `^eusc\-(de)\-\w+\-\d+$`), in lowercase as
/// every region name is, and at most 32 characters (the longest today, `us-isof-south-1`,
/// has 15). AWS itself takes only its own regions; ferry local, one endpoint for all of
/// them, takes any name of that shape (`us-east-1`, `us-gov-west-1`, `cn-north-1`,
/// `ap-southeast-7`, `eusc-de-east-1`) and refuses the rest (`..`, ``, `US-EAST-1`).
pub fn valid_region(region: &str) -> bool {
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && match parts.as_slice() {
            [area, name, n] => ["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "cn"].contains(area) && word(name) && number(n),
            [area, partition, name, n] => {
                [("us", "gov"), ("us", "iso"), ("us", "isob"), ("us", "isof"), ("eu", "isoe"), ("eusc", "de")]
                    .contains(&(*area, *partition))
                    && word(name)
                    && number(n)
            }
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn header(authorization: &str) -> Signed<'_> {
        Signed { authorization: Some(authorization), ..Default::default() }
    }

    fn scope(credential: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host;x-amz-date, Signature=0")
    }

    #[test]
    fn account_comes_from_a_12_digit_access_key_and_region_from_the_scope() {
        let c = caller_from_auth(
            header("AWS4-HMAC-SHA256 Credential=123456789012/20260101/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=x"),
            "ecs",
        )
        .unwrap();
        assert_eq!(c, Caller { account: "123456789012".into(), region: "eu-west-1".into() });
        let c = caller_from_auth(
            header("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/ap-south-1/ecs/aws4_request,SignedHeaders=host,Signature=x"),
            "ecs",
        )
        .unwrap();
        assert_eq!(c.account, DEFAULT_ACCOUNT);
        assert_eq!(c.region, "ap-south-1");
    }

    #[test]
    fn a_request_without_credentials_is_refused() {
        let err = caller_from_auth(Signed::default(), "ecs").unwrap_err();
        assert_eq!(err.code, "MissingAuthenticationTokenException");
        assert_eq!(err.status, 403);
    }

    #[test]
    fn region_names_of_every_partition_are_accepted_and_nothing_else() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-7",
            "il-central-1",
            "mx-central-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "us-isof-south-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
        ] {
            assert!(valid_region(good), "{good}");
        }
        let long = format!("us-{}-1", "a".repeat(10_000));
        for bad in [
            "",
            "..",
            "us-east",
            "east-1",
            "us-east-1-",
            "US-EAST-1",
            "us_east_1",
            "xx-east-1",
            "us-east-x",
            "aws-global",
            "us-east-1/../x",
            "us-\u{e9}ast-1",
            long.as_str(),
        ] {
            assert!(!valid_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_malformed_credential_scope_is_refused_as_aws_refuses_it() {
        let refused = |credential: &str, service: &str| caller_from_auth(header(&scope(credential)), service).unwrap_err();
        let e = refused("AKID", "ecs");
        assert_eq!((e.status, e.code.as_str()), (400, "IncompleteSignatureException"));
        assert_eq!(e.message, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKID'");
        let e = refused("AKID/20260101/../ecs/aws4_request", "ecs");
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidSignatureException"));
        assert_eq!(e.message, "Credential should be scoped to a valid region, not '..'. ");
        let e = refused("AKID/20260101//ecs/aws4_request", "ecs");
        assert_eq!(e.message, "Credential should be scoped to a valid region, not ''. ");
        let long = "a".repeat(10_000);
        let e = refused(&format!("AKID/20260101/{long}/ecs/aws4_request"), "ecs");
        assert_eq!(e.code, "InvalidSignatureException");
        assert!(e.message.len() < 200, "the region is not echoed whole: {}", e.message.len());
        let e = refused("AKID/20260101/us-east-1/ecs/aws4_request", "ecr");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("InvalidSignatureException", "Credential should be scoped to correct service: 'ecr'. ")
        );
        let e = refused("AKID/20260101/us-east-1/ecs/aws5_request", "ecs");
        assert_eq!(e.message, "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ");
        let e = refused("AKID/2026-01-01/us-east-1/ecs/aws4_request", "ecs");
        assert_eq!(e.code, "InvalidSignatureException");
        let e = refused("/20260101/us-east-1/ecs/aws4_request", "ecs");
        assert_eq!(e.code, "UnrecognizedClientException");
        // A scope date must be a day of the calendar.
        for bad in ["20241399", "20240431", "20230229", "20240001"] {
            let e = refused(&format!("AKID/{bad}/us-east-1/ecs/aws4_request"), "ecs");
            assert_eq!(e.code, "InvalidSignatureException", "{bad}");
        }
        assert!(is_calendar_date("20240229"), "a leap day");
        // The date must be the one the request was signed at.
        let authorization = scope("AKID/20260101/us-east-1/ecs/aws4_request");
        let signed = Signed { amz_date: Some("20250102T030405Z"), ..header(&authorization) };
        let e = caller_from_auth(signed, "ecs").unwrap_err();
        assert_eq!(
            e.message,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260101' != '20250102', from '20250102T030405Z'."
        );
    }

    #[test]
    fn an_authorization_header_that_is_not_sigv4_is_refused() {
        let e = caller_from_auth(header("Bearer abc"), "ecs").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "IncompleteSignatureException"));
        assert_eq!(
            e.message,
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc"
        );
        let e = caller_from_auth(header("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request"), "ecs").unwrap_err();
        assert!(e.message.starts_with("Authorization header requires 'Signature' parameter."), "{}", e.message);
        let e = caller_from_auth(
            header("AWS4-HMAC-SHA256 Credential= AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0"),
            "ecs",
        )
        .unwrap_err();
        assert!(e.message.starts_with("'AKID/20260101/us-east-1/ecs/aws4_request' not a valid key=value pair"), "{}", e.message);
    }

    #[test]
    fn a_presigned_request_is_read_from_its_query() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=123456789012%2F20260101%2Feu-west-1%2Fecs%2Faws4_request\
                     &X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=0";
        let c = caller_from_auth(Signed { query: Some(query), ..Default::default() }, "ecs").unwrap();
        assert_eq!(c, Caller { account: "123456789012".into(), region: "eu-west-1".into() });
        let e = caller_from_auth(
            Signed { query: Some("X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fecs%2Faws4_request"), ..Default::default() },
            "ecs",
        )
        .unwrap_err();
        assert_eq!(e.code, "IncompleteSignatureException");
        assert!(e.message.contains("must include 'X-Amz-Algorithm'"), "{}", e.message);
        // A query without any of them is not a presigned request.
        let e = caller_from_auth(Signed { query: Some("a=b"), ..Default::default() }, "ecs").unwrap_err();
        assert_eq!(e.code, "MissingAuthenticationTokenException");
    }

    #[test]
    fn the_short_service_names_are_the_models_signing_names() {
        use crate::model::Service;
        use std::io::Read;
        let models: [(Service, &[u8]); 8] = [
            (Service::Ecs, include_bytes!("../models/ecs.json.gz")),
            (Service::Ecr, include_bytes!("../models/ecr.json.gz")),
            (Service::ApplicationAutoScaling, include_bytes!("../models/application-autoscaling.json.gz")),
            (Service::Elbv2, include_bytes!("../models/elbv2.json.gz")),
            (Service::Logs, include_bytes!("../models/logs.json.gz")),
            (Service::Ssm, include_bytes!("../models/ssm.json.gz")),
            (Service::SecretsManager, include_bytes!("../models/secretsmanager.json.gz")),
            (Service::CloudWatch, include_bytes!("../models/cloudwatch.json.gz")),
        ];
        for (service, gz) in models {
            let mut text = String::new();
            flate2::read::GzDecoder::new(gz).read_to_string(&mut text).unwrap();
            let model: Value = serde_json::from_str(&text).unwrap();
            let signing = model.pointer("/metadata/signingName").or_else(|| model.pointer("/metadata/endpointPrefix"));
            assert_eq!(signing.and_then(Value::as_str), Some(service.name()));
        }
    }
}
