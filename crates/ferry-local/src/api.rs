//! What every handler shares, whatever the wire protocol: the caller, the AWS error type,
//! timestamps as epoch seconds, and the small helpers to read an input value the way the
//! service model describes it and to write an output value. Handlers know nothing of the
//! wire: reading and writing it is `protocol`'s job, and who is calling is `wire`'s.

use serde_json::{Map, Value};

/// Who is calling and where: taken from the SigV4 credential scope of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub region: String,
}

impl Caller {
    /// The `account/region` key under which this caller's resources live.
    pub fn partition(&self) -> String {
        format!("{}/{}", self.account, self.region)
    }

    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{resource}", self.region, self.account)
    }
}

/// What every handler gets: the caller's partition, the caller, the clock.
pub struct Ctx<'a> {
    pub partition: &'a mut crate::state::Partition,
    pub caller: &'a Caller,
    pub now: f64,
}

/// An AWS error as handlers answer it: the HTTP status, the code (the error shape's name in
/// the service model, e.g. `ClusterNotFoundException`) and the message. The protocol writes
/// it on the wire (`protocol`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Members an error shape carries beside its message (DynamoDB's
    /// `ConditionalCheckFailedException.Item`, `TransactionCanceledException.CancellationReasons`),
    /// written into the AWS JSON error body.
    pub extra: Option<Box<Map<String, Value>>>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.to_string(), message: message.into(), extra: None }
    }
    /// A 400 client error with the given exception name.
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::client("InvalidParameterException", message)
    }
}

pub type ApiResult = Result<Value, ApiError>;

/// Seconds since the Unix epoch, as handlers keep and answer timestamps (the protocol writes
/// them: AWS JSON as these numbers, the Query protocol in ISO 8601).
pub fn now() -> f64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // Millisecond precision, like the real services.
    (d.as_millis() as f64) / 1000.0
}

/// Read access to a request body. The body was already checked against the service model,
/// so a present member has the right JSON type; these helpers only deal with absence.
pub struct Input<'a>(pub &'a Map<String, Value>);

impl<'a> Input<'a> {
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Value::as_str)
    }
    pub fn required_str(&self, key: &str) -> Result<&'a str, ApiError> {
        self.str(key).filter(|s| !s.is_empty()).ok_or_else(|| ApiError::invalid_parameter(format!("{key} can not be blank.")))
    }
    pub fn i64(&self, key: &str) -> Option<i64> {
        self.0.get(key).and_then(Value::as_i64)
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        self.0.get(key).and_then(Value::as_bool)
    }
    pub fn value(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }
    pub fn strings(&self, key: &str) -> Vec<String> {
        self.0
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }
    pub fn array(&self, key: &str) -> &'a [Value] {
        self.0.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// One page of a list, and the token for the next one (an opaque offset).
pub fn paginate<T: Clone>(
    items: &[T],
    next_token: Option<&str>,
    max_results: Option<i64>,
    default_max: usize,
    limit: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = match max_results {
        None => default_max,
        Some(m) if m >= 1 && (m as usize) <= limit => m as usize,
        Some(m) => {
            return Err(ApiError::invalid_parameter(format!("maxResults must be between 1 and {limit}, got {m}.")));
        }
    };
    let start = match next_token {
        None | Some("") => 0,
        Some(token) => {
            decode_token(token).filter(|offset| *offset <= items.len()).ok_or_else(|| ApiError::invalid_parameter("Invalid nextToken."))?
        }
    };
    let end = (start + max).min(items.len());
    let next = (end < items.len()).then(|| encode_token(end));
    Ok((items[start..end].to_vec(), next))
}

fn encode_token(offset: usize) -> String {
    format!("ferry-{}", hex::encode(offset.to_string()))
}

fn decode_token(token: &str) -> Option<usize> {
    let bytes = hex::decode(token.strip_prefix("ferry-")?).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// Puts `key: value` in `map` unless the value is null, so optional members that have no
/// value are left out of a response as AWS leaves them out.
pub fn put(map: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    let value = value.into();
    if !value.is_null() {
        map.insert(key.to_string(), value);
    }
}

/// A fresh id of `len` lowercase hex digits (task ids are 32, container runtime ids 64).
pub fn hex_id(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

/// A fresh id of `len` decimal digits, as ECS deployment ids (`ecs-svc/NNNN…`) have.
pub fn digit_id(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let first = char::from_digit(rng.random_range(1..10), 10).unwrap_or('1');
    std::iter::once(first).chain((1..len).map(|_| char::from_digit(rng.random_range(0..10), 10).unwrap_or('0'))).collect()
}

/// A fresh id of `len` alphanumeric characters (service deployment ids).
pub fn alnum_id(len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// The `Tags` of an SSM or Secrets Manager request (`[{"Key", "Value"}]`), a key given twice
/// keeping its last value. Keys of 1 to 128 characters and values of at most 256, else
/// `too_long`; no key may start with `aws:` (any case), else `reserved` (the services answer
/// these with different error codes: their API references, "Tag").
pub fn key_value_tags(
    input: &Input,
    too_long: impl Fn(&'static str) -> ApiError,
    reserved: impl Fn(&'static str) -> ApiError,
) -> Result<Vec<crate::state::Tag>, ApiError> {
    let mut tags: Vec<crate::state::Tag> = Vec::new();
    for tag in input.array("Tags") {
        let key = tag.get("Key").and_then(Value::as_str).unwrap_or_default();
        let value = tag.get("Value").and_then(Value::as_str).unwrap_or_default();
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(too_long("Tag keys must be 1 to 128 characters and tag values at most 256."));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(reserved("Tag keys with the prefix 'aws:' are reserved for AWS use."));
        }
        match tags.iter_mut().find(|t| t.key == key) {
            Some(t) => t.value = value.to_string(),
            None => tags.push(crate::state::Tag { key: key.to_string(), value: value.to_string() }),
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_tokens_to_the_end_and_reject_bad_ones() {
        let items: Vec<i32> = (0..25).collect();
        let (page, next) = paginate(&items, None, Some(10), 100, 100).unwrap();
        assert_eq!(page, (0..10).collect::<Vec<_>>());
        let (page, next) = paginate(&items, next.as_deref(), Some(10), 100, 100).unwrap();
        assert_eq!(page[0], 10);
        let (page, next) = paginate(&items, next.as_deref(), Some(10), 100, 100).unwrap();
        assert_eq!(page.len(), 5);
        assert!(next.is_none());
        assert!(paginate(&items, Some("garbage"), None, 100, 100).is_err());
        assert!(paginate(&items, None, Some(101), 100, 100).is_err());
    }
}
