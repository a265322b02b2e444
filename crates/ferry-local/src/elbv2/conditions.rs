//! Listener rule conditions (`RuleCondition` in the botocore `elbv2` model): how CreateRule
//! and ModifyRule check and store them, and how the listener proxy decides whether a request
//! meets them. Both sides read the same stored value, so what DescribeRules answers is what
//! routes traffic.
//!
//! Semantics, from the ELBv2 API reference (`RuleCondition` and its `*ConditionConfig`
//! shapes) and the Application Load Balancer guide ("Condition types for listener rules",
//! "Quotas for your Application Load Balancers"):
//! - six fields: `host-header`, `path-pattern`, `http-header`, `http-request-method`,
//!   `query-string`, `source-ip`; a rule has at most one each of `host-header`,
//!   `path-pattern`, `http-request-method` and `source-ip`, and any number of `http-header`
//!   and `query-string` conditions;
//! - several values in one condition are alternatives (OR); several conditions must all
//!   hold (AND); a rule without conditions (the default rule) matches every request;
//! - `*` matches zero or more characters and `?` exactly one, in host names, paths, header
//!   values and query strings (`\*`, `\?` and `\\` are literal in query strings); host names,
//!   header names and values and query strings compare case-insensitively, paths and methods
//!   case-sensitively; a source IP condition holds CIDR blocks (IPv4 or IPv6);
//! - limits: at most 3 values per condition (5 for `source-ip`), 5 values and 5 wildcards
//!   per rule, 128 characters per value (40 for a header name or a method).
//!
//! Stored shape ([`normalize`]): each condition as DescribeRules answers it, with its typed
//! config always present (`HostHeaderConfig`, `PathPatternConfig`, `HttpHeaderConfig`,
//! `HttpRequestMethodConfig`, `QueryStringConfig`, `SourceIpConfig`); `host-header` and
//! `path-pattern` conditions also carry the legacy `Values`, as AWS answers them whichever
//! form the request used.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::validation;
use crate::api::ApiError;

/// The fields a condition may name, in the order AWS lists them in its messages.
const FIELDS: [&str; 6] = ["http-header", "http-request-method", "host-header", "path-pattern", "query-string", "source-ip"];

/// Values per condition (`source-ip` aside), values per rule, wildcards per rule.
const VALUES_PER_CONDITION: usize = 3;
const VALUES_PER_SOURCE_IP_CONDITION: usize = 5;
const VALUES_PER_RULE: usize = 5;
const WILDCARDS_PER_RULE: usize = 5;
/// Characters per value; per header name and per method.
const MAX_VALUE: usize = 128;
const MAX_NAME: usize = 40;

/// What the listener proxy knows of a request when it picks a rule.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestFacts<'a> {
    /// The `Host` header (or the authority of an absolute-form request target), with or
    /// without a `:port` (the port is not part of the match). None when the request has none.
    pub host: Option<&'a str>,
    /// The path of the request target as sent, without the query string.
    pub path: &'a str,
    /// The method as sent (`GET`).
    pub method: &'a str,
    /// The raw query string (what follows the first `?`, up to any `#`), if any.
    pub query: Option<&'a str>,
    /// The request headers in the order received, names as sent; a header sent several times
    /// appears several times.
    pub headers: &'a [(&'a str, &'a str)],
    /// The address of the client connected to the listener (not `X-Forwarded-For`).
    pub source_ip: Option<IpAddr>,
}

/// Whether `request` meets every condition of `conditions` (a stored rule's `Conditions`,
/// a JSON list of `RuleCondition`). An empty list matches every request. A condition this
/// module cannot read matches nothing, so a damaged rule never routes traffic by accident.
pub(crate) fn matches(conditions: &Value, request: &RequestFacts) -> bool {
    let Some(conditions) = conditions.as_array() else { return false };
    conditions.iter().all(|condition| condition_matches(condition, request))
}

fn condition_matches(condition: &Value, request: &RequestFacts) -> bool {
    let field = condition.get("Field").and_then(Value::as_str).unwrap_or_default();
    let config = |name: &str| condition.get(name);
    let strings = |value: Option<&Value>| -> Vec<String> {
        value.and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    // The typed config first; the legacy `Values` for host and path conditions stored without one.
    let values = |config_name: &str| {
        let typed = strings(config(config_name).and_then(|c| c.get("Values")));
        if typed.is_empty() { strings(condition.get("Values")) } else { typed }
    };
    match field {
        "host-header" => {
            let Some(host) = request.host.map(host_without_port) else { return false };
            values("HostHeaderConfig").iter().any(|p| glob(&tokens(p, false), host, true))
        }
        "path-pattern" => values("PathPatternConfig").iter().any(|p| glob(&tokens(p, false), request.path, false)),
        "http-header" => {
            let Some(header) = config("HttpHeaderConfig") else { return false };
            let name = header.get("HttpHeaderName").and_then(Value::as_str).unwrap_or_default();
            let patterns: Vec<Vec<Tok>> = strings(header.get("Values")).iter().map(|p| tokens(p, false)).collect();
            request
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, value)| patterns.iter().any(|p| glob(p, value, true)))
        }
        "http-request-method" => values("HttpRequestMethodConfig").iter().any(|m| m == request.method),
        "query-string" => {
            let pairs = query_pairs(request.query.unwrap_or_default());
            let wanted = config("QueryStringConfig").and_then(|c| c.get("Values")).and_then(Value::as_array);
            wanted.into_iter().flatten().any(|pair| {
                let key = pair.get("Key").and_then(Value::as_str).map(|k| tokens(k, true));
                let value = tokens(pair.get("Value").and_then(Value::as_str).unwrap_or_default(), true);
                pairs.iter().any(|(k, v)| {
                    let key_ok = match (&key, k) {
                        (None, _) => true,
                        (Some(pattern), Some(k)) => glob(pattern, k, true),
                        (Some(_), None) => false,
                    };
                    key_ok && glob(&value, v, true)
                })
            })
        }
        "source-ip" => {
            let Some(ip) = request.source_ip else { return false };
            values("SourceIpConfig").iter().any(|cidr| Cidr::parse(cidr).is_some_and(|c| c.contains(ip)))
        }
        _ => false,
    }
}

/// A `Host` header without its port: `example.com:8080` → `example.com`; `[::1]:80` →
/// `[::1]` (an IPv6 literal keeps its brackets); an unbracketed IPv6 address (`::1`) is left
/// whole. Used by the host-header condition and by the proxy's redirects (`#{host}`).
pub(crate) fn host_without_port(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => name,
        _ => host,
    }
}

/// The query string's parameters, percent-decoded: `a=1&b` → `[(Some("a"), "1"), (None, "b")]`
/// (a parameter without `=` is a value without a key).
fn query_pairs(query: &str) -> Vec<(Option<String>, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (Some(percent_decode(k)), percent_decode(v)),
            None => (None, percent_decode(p)),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A piece of a wildcard pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    /// `*`: zero or more characters.
    Any,
    /// `?`: exactly one character.
    One,
    Lit(char),
}

/// The pieces of `pattern`; with `escapes`, `\*`, `\?` and `\\` are literal characters.
fn tokens(pattern: &str, escapes: bool) -> Vec<Tok> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' if escapes => Tok::Lit(chars.next().unwrap_or('\\')),
            '*' => Tok::Any,
            '?' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    out
}

/// Whether `text` matches `pattern` as a whole, ASCII letters compared case-insensitively
/// with `fold`. Linear backtracking to the last `*`: no pattern can make it blow up.
fn glob(pattern: &[Tok], text: &str, fold: bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| if fold { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if same(*c, text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|tok| *tok == Tok::Any)
}

/// An IPv4 or IPv6 CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`; None for anything else (a bare address included).
    fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = text.trim().split_once('/')?;
        let network: IpAddr = address.parse().ok()?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // A client reaching an IPv6 socket from IPv4 shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Validation and normalization (CreateRule, ModifyRule)
// ---------------------------------------------------------------------------------------

/// The request's `Conditions`, checked and normalized into the stored shape (see the module
/// documentation). A rule other than the default rule needs at least one condition.
///
/// Errors (`ValidationError`, nothing stored): an unknown or missing `Field`; a config that
/// does not belong to the field; legacy `Values` with a field other than `host-header` and
/// `path-pattern`, or with more than one value, or together with the typed config; an empty
/// condition; a value that is too long or has characters the field does not allow; a second
/// `host-header`, `path-pattern`, `http-request-method` or `source-ip` condition; more than
/// 3 values in a condition (5 for `source-ip`), 5 values or 5 wildcards in the rule;
/// `RegexValues` (ferry local does not evaluate regular expressions).
pub(crate) fn normalize(conditions: &[Value]) -> Result<Value, ApiError> {
    if conditions.is_empty() {
        return Err(validation("A rule must have at least one condition"));
    }
    let mut out = Vec::with_capacity(conditions.len());
    let mut seen: Vec<&str> = Vec::new();
    let (mut total_values, mut total_wildcards) = (0, 0);
    for (i, condition) in conditions.iter().enumerate() {
        let at = format!("conditions.{}.member", i + 1);
        let (normalized, values, wildcards) = normalize_one(condition, &at)?;
        let field = FIELDS.iter().copied().find(|f| Some(*f) == condition.get("Field").and_then(Value::as_str)).unwrap_or_default();
        if ["host-header", "path-pattern", "http-request-method", "source-ip"].contains(&field) && seen.contains(&field) {
            return Err(validation(format!("A rule can only have one '{field}' condition")));
        }
        seen.push(field);
        total_values += values;
        total_wildcards += wildcards;
        out.push(normalized);
    }
    if total_values > VALUES_PER_RULE {
        return Err(validation(format!("A rule can only have '{VALUES_PER_RULE}' condition values")));
    }
    if total_wildcards > WILDCARDS_PER_RULE {
        return Err(validation(format!("A rule can only have '{WILDCARDS_PER_RULE}' wildcards")));
    }
    Ok(Value::Array(out))
}

/// One condition, normalized, with how many values and wildcards it counts for.
fn normalize_one(condition: &Value, at: &str) -> Result<(Value, usize, usize), ApiError> {
    let empty = Map::new();
    let object = condition.as_object().unwrap_or(&empty);
    let Some(field) = object.get("Field").and_then(Value::as_str) else {
        return Err(validation(format!("A condition field must be specified at '{at}.field'")));
    };
    if !FIELDS.contains(&field) {
        return Err(validation(format!("Condition field '{field}' must be one of '[{}]'", FIELDS.join(", "))));
    }
    let config_name = config_of(field);
    for other in FIELDS.iter().map(|f| config_of(f)).filter(|c| *c != config_name) {
        if object.get(other).is_some_and(|v| !v.is_null()) {
            return Err(validation(format!("'{other}' cannot be specified with condition field '{field}'; use '{config_name}'")));
        }
    }
    let regex = object.get("RegexValues").or_else(|| object.get(config_name).and_then(|c| c.get("RegexValues")));
    if regex.and_then(Value::as_array).is_some_and(|r| !r.is_empty()) {
        return Err(validation(
            "ferry local does not evaluate RegexValues in rule conditions; use Values with the * and ? wildcards".to_string(),
        ));
    }
    let legacy = object.get("Values").and_then(Value::as_array);
    let config = object.get(config_name).filter(|c| !c.is_null());
    if legacy.is_some() && !matches!(field, "host-header" | "path-pattern") {
        return Err(validation(format!("The 'Values' field is not compatible with '{field}'; use '{config_name}'")));
    }
    if legacy.is_some() && config.is_some() {
        return Err(validation(format!("You cannot provide both Values and '{config_name}' for a condition of type '{field}'")));
    }
    if let Some(values) = legacy
        && values.len() > 1
    {
        return Err(validation(format!("The '{field}' field contains too many values; the limit is '1'")));
    }
    let strings = |list: Option<&Value>| -> Vec<String> {
        list.and_then(Value::as_array).map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    let no_value = || validation(format!("A condition value must be specified at '{at}'"));
    let limit = if field == "source-ip" { VALUES_PER_SOURCE_IP_CONDITION } else { VALUES_PER_CONDITION };
    let too_many = || validation(format!("A '{field}' condition can only have '{limit}' values"));
    // Some values, and no more than the limit.
    let counted = |n: usize| match n {
        0 => Err(no_value()),
        n if n > limit => Err(too_many()),
        _ => Ok(()),
    };
    match field {
        "host-header" | "path-pattern" => {
            let values = match legacy {
                Some(list) => strings(Some(&Value::Array(list.clone()))),
                None => strings(config.and_then(|c| c.get("Values"))),
            };
            counted(values.len())?;
            for value in &values {
                check_length(field, value, MAX_VALUE)?;
                if field == "host-header" { check_host(value)? } else { check_path(value)? }
            }
            let wildcards = values.iter().map(|v| wildcard_count(v, false)).sum();
            let normalized = json!({"Field": field, "Values": values, config_name: {"Values": values}});
            Ok((normalized, values.len(), wildcards))
        }
        "http-header" => {
            let Some(config) = config else {
                return Err(validation("A 'HttpHeaderConfig' must be specified with 'http-header'"));
            };
            let name = config.get("HttpHeaderName").and_then(Value::as_str).unwrap_or_default();
            if name.is_empty() {
                return Err(validation(format!("An HTTP header name must be specified at '{at}.httpHeaderConfig.httpHeaderName'")));
            }
            check_length("HttpHeaderName", name, MAX_NAME)?;
            if !name.bytes().all(is_token_byte) {
                return Err(validation(format!(
                    "The HTTP header name '{name}' is not valid; the allowed characters are specified by RFC 7230"
                )));
            }
            if name.eq_ignore_ascii_case("host") {
                return Err(validation("You can't use an HTTP header condition to specify the host header; use a 'host-header' condition"));
            }
            let values = strings(config.get("Values"));
            counted(values.len())?;
            for value in &values {
                check_length(field, value, MAX_VALUE)?;
                check_visible(field, value)?;
            }
            let wildcards = values.iter().map(|v| wildcard_count(v, false)).sum();
            Ok((json!({"Field": field, config_name: {"HttpHeaderName": name, "Values": values}}), values.len(), wildcards))
        }
        "http-request-method" => {
            let Some(config) = config else {
                return Err(validation("A 'HttpRequestMethodConfig' must be specified with 'http-request-method'"));
            };
            let values = strings(config.get("Values"));
            counted(values.len())?;
            for value in &values {
                check_length(field, value, MAX_NAME)?;
                if !value.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_') {
                    return Err(validation(format!(
                        "The 'http-request-method' value '{value}' is invalid; the allowed characters are A-Z, hyphen and underscore"
                    )));
                }
            }
            Ok((json!({"Field": field, config_name: {"Values": values}}), values.len(), 0))
        }
        "query-string" => {
            let Some(config) = config else {
                return Err(validation("A 'QueryStringConfig' must be specified with 'query-string'"));
            };
            let pairs = config.get("Values").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            counted(pairs.len())?;
            let mut normalized = Vec::with_capacity(pairs.len());
            let mut wildcards = 0;
            for pair in pairs {
                let key = pair.get("Key").and_then(Value::as_str);
                let Some(value) = pair.get("Value").and_then(Value::as_str).filter(|v| !v.is_empty()) else {
                    return Err(validation("A 'Value' must be specified in 'QueryStringKeyValuePair'"));
                };
                check_length("Value", value, MAX_VALUE)?;
                check_visible(field, value)?;
                wildcards += wildcard_count(value, true);
                let mut entry = Map::new();
                if let Some(key) = key.filter(|k| !k.is_empty()) {
                    check_length("Key", key, MAX_VALUE)?;
                    check_visible(field, key)?;
                    wildcards += wildcard_count(key, true);
                    entry.insert("Key".into(), json!(key));
                }
                entry.insert("Value".into(), json!(value));
                normalized.push(Value::Object(entry));
            }
            Ok((json!({"Field": field, config_name: {"Values": normalized}}), pairs.len(), wildcards))
        }
        _ => {
            // source-ip
            let Some(config) = config else {
                return Err(validation("A 'SourceIpConfig' must be specified with 'source-ip'"));
            };
            let values = strings(config.get("Values"));
            if values.is_empty() {
                return Err(validation("A 'source-ip' value must be specified"));
            }
            if values.len() > limit {
                return Err(too_many());
            }
            for value in &values {
                if Cidr::parse(value).is_none() {
                    return Err(validation(format!("The 'source-ip' value '{value}' is not a valid CIDR block (for example 10.0.0.0/8)")));
                }
            }
            Ok((json!({"Field": field, config_name: {"Values": values}}), values.len(), 0))
        }
    }
}

/// The typed config member of a field.
fn config_of(field: &str) -> &'static str {
    match field {
        "host-header" => "HostHeaderConfig",
        "path-pattern" => "PathPatternConfig",
        "http-header" => "HttpHeaderConfig",
        "http-request-method" => "HttpRequestMethodConfig",
        "query-string" => "QueryStringConfig",
        _ => "SourceIpConfig",
    }
}

fn check_length(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(validation(format!("The '{what}' value must not be empty")));
    }
    if value.chars().count() > max {
        return Err(validation(format!("The '{what}' value is too long; the limit is '{max}'")));
    }
    Ok(())
}

/// Rules see visible ASCII only: control characters (0x00–0x1f, 0x7f) are refused.
fn check_visible(what: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().any(|c| c.is_control()) {
        return Err(validation(format!("The '{what}' value '{}' contains control characters", value.escape_debug())));
    }
    Ok(())
}

/// A host name pattern: A–Z, a–z, 0–9, `-`, `.`, `*`, `?`; at least one `.`; only letters
/// (or wildcards) after the last `.`.
fn check_host(value: &str) -> Result<(), ApiError> {
    let invalid = |why: &str| validation(format!("The 'host-header' value '{value}' is not valid: {why}"));
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "-.*?".contains(c)) {
        return Err(invalid("the allowed characters are A-Z, a-z, 0-9, '-', '.', '*' and '?'"));
    }
    let Some((_, last)) = value.rsplit_once('.') else {
        return Err(invalid("it must include at least one '.'"));
    };
    if !last.chars().all(|c| c.is_ascii_alphabetic() || c == '*' || c == '?') {
        return Err(invalid("only alphabetical characters are allowed after the final '.'"));
    }
    Ok(())
}

/// A path pattern: A–Z, a–z, 0–9, `_ - . $ / ~ " ' @ : + &`, `*`, `?`.
fn check_path(value: &str) -> Result<(), ApiError> {
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c)) {
        return Err(validation(format!(
            "The 'path-pattern' value '{value}' is not valid: the allowed characters are A-Z, a-z, 0-9, _ - . $ / ~ \" ' @ : + &, '*' and '?'"
        )));
    }
    Ok(())
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `*` and `?` of a value (escaped ones not counted where escapes exist).
fn wildcard_count(value: &str, escapes: bool) -> usize {
    tokens(value, escapes).iter().filter(|t| matches!(t, Tok::Any | Tok::One)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(headers: &'a [(&'a str, &'a str)]) -> RequestFacts<'a> {
        RequestFacts {
            host: Some("api.example.com:8080"),
            path: "/img/cat.png",
            method: "GET",
            query: Some("version=v2&Debug=ON&flag&q=a%2Ab"),
            headers,
            source_ip: Some("10.1.2.3".parse().unwrap()),
        }
    }

    fn normalized(conditions: Value) -> Value {
        normalize(conditions.as_array().unwrap()).unwrap()
    }

    fn refused(conditions: Value) -> String {
        let e = normalize(conditions.as_array().unwrap()).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        e.message
    }

    #[test]
    fn star_and_question_mark_match_as_alb_wildcards() {
        let g = |p: &str, t: &str| glob(&tokens(p, false), t, false);
        assert!(g("/img/*", "/img/"));
        assert!(g("/img/*", "/img/a/b.png"));
        assert!(!g("/img/*", "/img"));
        assert!(g("/a?c", "/abc"));
        assert!(!g("/a?c", "/ac"));
        assert!(g("*", ""));
        assert!(g("*.png", "/x.png"));
        assert!(!g("*.png", "/x.png.bak"));
        assert!(g("/*/b/*", "/a/b/c"));
        assert!(g("a*b*c", "aXbYbZc"));
        assert!(!g("a*b*c", "aXbYbZ"));
        // A pathological pattern ends quickly.
        assert!(!g("*a*a*a*a*a*a*a*a*b", &"a".repeat(2000)));
    }

    #[test]
    fn host_matches_case_insensitively_without_the_port() {
        let h = facts(&[]);
        let host = |v: &str| matches(&normalized(json!([{"Field": "host-header", "Values": [v]}])), &h);
        assert!(host("API.Example.com"));
        assert!(host("*.example.com"));
        assert!(!host("example.com"));
        assert!(!host("*.example.org"));
        let no_host = RequestFacts { host: None, ..facts(&[]) };
        assert!(!matches(&normalized(json!([{"Field": "host-header", "Values": ["*.com"]}])), &no_host));
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("::1"), "::1");
        assert_eq!(host_without_port("2001:db8::1:80"), "2001:db8::1:80");
    }

    #[test]
    fn path_matches_case_sensitively_and_ignores_the_query() {
        let h = facts(&[]);
        let path = |v: &str| matches(&normalized(json!([{"Field": "path-pattern", "PathPatternConfig": {"Values": [v]}}])), &h);
        assert!(path("/img/*"));
        assert!(!path("/IMG/*"));
        assert!(path("/img/cat.png"));
        assert!(!path("*version*"), "the query string is not part of the path");
    }

    #[test]
    fn several_values_are_or_and_several_conditions_are_and() {
        let h = facts(&[]);
        let either = normalized(json!([{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/img/*"]}}]));
        assert!(matches(&either, &h));
        let both = normalized(json!([
            {"Field": "path-pattern", "Values": ["/img/*"]},
            {"Field": "host-header", "Values": ["other.example.com"]}
        ]));
        assert!(!matches(&both, &h));
        let both_true = normalized(json!([
            {"Field": "path-pattern", "Values": ["/img/*"]},
            {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}}
        ]));
        assert!(matches(&both_true, &h));
        assert!(matches(&json!([]), &h), "no condition matches everything (the default rule)");
    }

    #[test]
    fn header_names_are_case_insensitive_and_every_occurrence_is_searched() {
        let headers = [("User-Agent", "curl/8.0"), ("X-Canary", "no"), ("x-canary", "Yes-Please")];
        let h = facts(&headers);
        let header = |name: &str, v: &str| {
            matches(&normalized(json!([{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": name, "Values": [v]}}])), &h)
        };
        assert!(header("x-CANARY", "yes*"));
        assert!(header("user-agent", "CURL/*"));
        assert!(!header("X-Absent", "*"));
        assert!(!header("X-Canary", "maybe"));
    }

    #[test]
    fn methods_match_exactly() {
        let h = facts(&[]);
        let method =
            |v: &str| matches(&normalized(json!([{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": [v]}}])), &h);
        assert!(method("GET"));
        assert!(!method("POST"));
        let lower = RequestFacts { method: "get", ..facts(&[]) };
        assert!(!matches(&normalized(json!([{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}}])), &lower));
    }

    #[test]
    fn query_pairs_match_keys_and_values_case_insensitively_with_escapes() {
        let h = facts(&[]);
        let query = |pairs: Value| matches(&normalized(json!([{"Field": "query-string", "QueryStringConfig": {"Values": pairs}}])), &h);
        assert!(query(json!([{"Key": "version", "Value": "v2"}])));
        assert!(query(json!([{"Key": "debug", "Value": "on"}])));
        assert!(query(json!([{"Key": "VER*", "Value": "v?"}])));
        assert!(!query(json!([{"Key": "version", "Value": "v3"}])));
        assert!(query(json!([{"Value": "flag"}])), "a value without a key matches a parameter without '='");
        assert!(query(json!([{"Value": "V2"}])), "a value without a key matches any parameter's value");
        assert!(!query(json!([{"Key": "flag", "Value": "*"}])));
        // Percent-decoded, and \* is a literal star.
        assert!(query(json!([{"Key": "q", "Value": "a\\*b"}])));
        assert!(!query(json!([{"Key": "q", "Value": "a\\*c"}])));
        assert!(query(json!([{"Key": "nope", "Value": "x"}, {"Key": "version", "Value": "v2"}])));
        let none = RequestFacts { query: None, ..facts(&[]) };
        assert!(!matches(&normalized(json!([{"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "*"}]}}])), &none));
    }

    #[test]
    fn source_ip_matches_cidr_blocks_of_both_families() {
        let h = facts(&[]);
        let source = |v: Value| matches(&normalized(json!([{"Field": "source-ip", "SourceIpConfig": {"Values": v}}])), &h);
        assert!(source(json!(["10.0.0.0/8"])));
        assert!(source(json!(["192.168.0.0/16", "10.1.2.3/32"])));
        assert!(!source(json!(["10.1.2.4/32"])));
        assert!(source(json!(["0.0.0.0/0"])));
        assert!(!source(json!(["::/0"])));
        let mapped = RequestFacts { source_ip: Some("::ffff:10.1.2.3".parse().unwrap()), ..facts(&[]) };
        assert!(matches(&normalized(json!([{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.1.0.0/16"]}}])), &mapped));
        let v6 = RequestFacts { source_ip: Some("2001:db8::1".parse().unwrap()), ..facts(&[]) };
        assert!(matches(&normalized(json!([{"Field": "source-ip", "SourceIpConfig": {"Values": ["2001:db8::/32"]}}])), &v6));
    }

    #[test]
    fn legacy_values_are_stored_with_their_typed_config_and_the_config_with_values() {
        assert_eq!(
            normalized(json!([{"Field": "host-header", "Values": ["a.example.com"]}])),
            json!([{"Field": "host-header", "Values": ["a.example.com"], "HostHeaderConfig": {"Values": ["a.example.com"]}}])
        );
        assert_eq!(
            normalized(json!([{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a", "/b"]}}])),
            json!([{"Field": "path-pattern", "Values": ["/a", "/b"], "PathPatternConfig": {"Values": ["/a", "/b"]}}])
        );
        assert_eq!(
            normalized(json!([{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "", "Value": "x"}]}}])),
            json!([{"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "x"}]}}])
        );
    }

    #[test]
    fn malformed_conditions_are_refused_with_what_is_wrong() {
        assert!(refused(json!([])).contains("at least one condition"));
        assert!(refused(json!([{"Values": ["/a"]}])).contains("field must be specified"));
        assert!(refused(json!([{"Field": "cookie", "Values": ["a"]}])).contains("must be one of"));
        assert!(refused(json!([{"Field": "http-header", "Values": ["a"]}])).contains("not compatible"));
        assert!(refused(json!([{"Field": "host-header", "Values": ["a.com", "b.com"]}])).contains("the limit is '1'"));
        assert!(
            refused(json!([{"Field": "host-header", "Values": ["a.com"], "HostHeaderConfig": {"Values": ["a.com"]}}])).contains("both")
        );
        assert!(refused(json!([{"Field": "host-header", "PathPatternConfig": {"Values": ["/a"]}}])).contains("cannot be specified"));
        assert!(refused(json!([{"Field": "host-header", "HostHeaderConfig": {"Values": []}}])).contains("must be specified"));
        assert!(refused(json!([{"Field": "host-header", "Values": ["localhost"]}])).contains("at least one '.'"));
        assert!(refused(json!([{"Field": "host-header", "Values": ["127.0.0.1"]}])).contains("final '.'"));
        assert!(refused(json!([{"Field": "host-header", "Values": ["a_b.com"]}])).contains("allowed characters"));
        assert!(refused(json!([{"Field": "path-pattern", "Values": ["/a b"]}])).contains("allowed characters"));
        assert!(refused(json!([{"Field": "path-pattern", "Values": [format!("/{}", "a".repeat(128))]}])).contains("limit is '128'"));
        assert!(
            refused(json!([{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "Host", "Values": ["a"]}}]))
                .contains("host header")
        );
        assert!(
            refused(json!([{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X Y", "Values": ["a"]}}])).contains("RFC 7230")
        );
        assert!(refused(json!([{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["get"]}}])).contains("A-Z"));
        assert!(refused(json!([{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "a"}]}}])).contains("'Value'"));
        assert!(refused(json!([{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.1"]}}])).contains("CIDR"));
        assert!(refused(json!([{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/33"]}}])).contains("CIDR"));
        assert!(refused(json!([{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/a$"]}}])).contains("RegexValues"));
    }

    #[test]
    fn aws_limits_on_values_wildcards_and_repeated_fields_hold() {
        assert!(
            refused(json!([{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a", "/b", "/c", "/d"]}}])).contains("'3' values")
        );
        // source-ip takes five.
        normalized(
            json!([{"Field": "source-ip", "SourceIpConfig": {"Values": ["1.0.0.0/8", "2.0.0.0/8", "3.0.0.0/8", "4.0.0.0/8", "5.0.0.0/8"]}}]),
        );
        let six_values = json!([
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a", "/b", "/c"]}},
            {"Field": "host-header", "HostHeaderConfig": {"Values": ["a.com", "b.com", "c.com"]}}
        ]);
        assert!(refused(six_values).contains("'5' condition values"));
        let six_wildcards = json!([
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a/*/*/*"]}},
            {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.*.?.com"]}}
        ]);
        assert!(refused(six_wildcards).contains("'5' wildcards"));
        let two_hosts = json!([{"Field": "host-header", "Values": ["a.com"]}, {"Field": "host-header", "Values": ["b.com"]}]);
        assert!(refused(two_hosts).contains("one 'host-header'"));
        // http-header and query-string may repeat.
        normalized(json!([
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "A", "Values": ["1"]}},
            {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "B", "Values": ["2"]}},
            {"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "x"}]}},
            {"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "y"}]}}
        ]));
        // An escaped star in a query string is no wildcard.
        normalized(json!([{"Field": "query-string", "QueryStringConfig": {"Values": [{"Value": "\\*\\*\\*\\*\\*\\*"}]}}]));
    }
}
