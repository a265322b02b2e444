//! The ledger's items: their keys (see the layout in [`super`]) and the conversion of ferry's
//! records to DynamoDB attributes and back.
//!
//! Records are stored as native attributes (a string is `S`, a number `N`, a list `L`, a
//! nested record `M`; a field with no value is left out), so the table reads well in the
//! console and in `aws dynamodb query`. A step's data is the exception: arbitrary JSON,
//! stored as its JSON text so it comes back exactly as written.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

/// An item, or a key, as the SDK takes it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// The partition key attribute.
pub(crate) const PK: &str = "pk";
/// The sort key attribute.
pub(crate) const SK: &str = "sk";
/// The TTL attribute (epoch seconds), on lock items only.
pub(crate) const EXPIRES_AT: &str = "expires_at";
/// What kind of record an item is (`deployment`, `event`, `lock`...), for people reading
/// the table.
pub(crate) const TYPE: &str = "type";
/// Where a record's copies sort in its listing partitions (see [`order_key`]).
pub(crate) const ORDER: &str = "order";

/// The partition of ferry's own items (schema version, insertion counter).
pub(crate) const META: &str = "ferry";
pub(crate) const SCHEMA_SK: &str = "schema";
pub(crate) const COUNTER_SK: &str = "counter";

/// The sort key of a deployment's record in its own partition; sorts before its events
/// (`event#…`) and steps (`step#…`), which is what [`super::records`] relies on to find
/// the last event or step and the record in one query.
pub(crate) const DEPLOYMENT_SK: &str = "deployment";
pub(crate) const EVENT_PREFIX: &str = "event#";
pub(crate) const STEP_PREFIX: &str = "step#";
pub(crate) const LOCK_SK: &str = "lock";
pub(crate) const PROMOTION_SK: &str = "promotion";
pub(crate) const RELEASES: &str = "releases";
pub(crate) const RELEASES_BY_TIME: &str = "releases-by-time";
pub(crate) const PROMOTIONS: &str = "promotions";
pub(crate) const SERVICES: &str = "services";
pub(crate) const HISTORY: &str = "history";

/// A name inside a key, with `%` and `#` escaped (`%25`, `%23`), so `#` separates the parts
/// of a key unambiguously whatever environments and services are called.
pub(crate) fn part(name: &str) -> String {
    name.replace('%', "%25").replace('#', "%23")
}

pub(crate) fn deployment_pk(id: &str) -> String {
    format!("deployment#{}", part(id))
}
pub(crate) fn lock_pk(environment: &str, service: &str) -> String {
    format!("lock#{}#{}", part(environment), part(service))
}
pub(crate) fn unlocks_pk(environment: &str, service: &str) -> String {
    format!("unlocks#{}#{}", part(environment), part(service))
}
pub(crate) fn service_pk(environment: &str, service: &str) -> String {
    format!("service#{}#{}", part(environment), part(service))
}
pub(crate) fn in_progress_pk(environment: &str, service: &str) -> String {
    format!("in-progress#{}#{}", part(environment), part(service))
}
pub(crate) fn succeeded_pk(environment: &str, service: &str) -> String {
    format!("succeeded#{}#{}", part(environment), part(service))
}
pub(crate) fn history_env_pk(environment: &str) -> String {
    format!("history-env#{}", part(environment))
}
pub(crate) fn history_service_pk(service: &str) -> String {
    format!("history-service#{}", part(service))
}
/// The sort key of (environment, service) in the [`SERVICES`] registry.
pub(crate) fn service_sk(environment: &str, service: &str) -> String {
    format!("{}#{}", part(environment), part(service))
}
pub(crate) fn promotion_pk(id: &str) -> String {
    format!("promotion#{}", part(id))
}
pub(crate) fn promotions_of_pk(release_id: &str) -> String {
    format!("promotions-of#{}", part(release_id))
}
pub(crate) fn event_sk(seq: i64) -> String {
    format!("{EVENT_PREFIX}{}", seq_digits(seq))
}
pub(crate) fn step_sk(seq: i64) -> String {
    format!("{STEP_PREFIX}{}", seq_digits(seq))
}

/// A sequence number as a fixed-width, sortable key part (12 digits).
pub(crate) fn seq_digits(seq: i64) -> String {
    format!("{seq:012}")
}

/// The sequence number of an `event#…` or `step#…` sort key.
pub(crate) fn seq_of(sk: &str) -> Option<i64> {
    sk.rsplit_once('#').and_then(|(_, digits)| digits.parse().ok())
}

/// A sort key that orders by `time` (milliseconds, any sign) and then by `seq` (the
/// table-wide insertion counter), as text: what SQLite's `ORDER BY time, seq` is here.
pub(crate) fn order_key(time: i64, seq: i64) -> String {
    // Offset binary: flipping the sign bit makes the two's complement order unsigned.
    let time = (time as u64) ^ (1 << 63);
    format!("{time:016x}#{:016x}", seq as u64)
}

pub(crate) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_string(), AttributeValue::S(pk.into())), (SK.to_string(), AttributeValue::S(sk.into()))])
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// The item of a record: `key` plus the record's fields as attributes (see the module's
/// docs). `record` is a JSON object (a record serialized with serde).
pub(crate) fn record_item(key: Item, kind: &str, record: Value) -> Item {
    let mut item = key;
    item.insert(TYPE.to_string(), s(kind));
    if let Value::Object(fields) = record {
        for (name, value) in fields {
            if !value.is_null() {
                item.insert(name, to_attribute(value));
            }
        }
    }
    item
}

/// The record fields of an item as a JSON object (the key, type and bookkeeping attributes
/// left out), for serde to read; a value of a type ferry never writes is an error.
pub(crate) fn record_value(item: &Item) -> Result<Value, String> {
    let mut fields = Map::new();
    for (name, value) in item {
        if [PK, SK, TYPE, ORDER, EXPIRES_AT].contains(&name.as_str()) {
            continue;
        }
        fields.insert(name.clone(), from_attribute(value).map_err(|e| format!("attribute {name}: {e}"))?);
    }
    Ok(Value::Object(fields))
}

/// A record (deployment, release, promotion) read back from its item; one ferry cannot read
/// is named by `noun` and its `key_attr` value in the error.
pub(crate) fn read_record<T: serde::de::DeserializeOwned>(
    table: &super::store::Table,
    item: &Item,
    noun: &str,
    key_attr: &str,
) -> super::store::CallResult<T> {
    let what = || format!("{noun} item ({})", get_s(item, key_attr).unwrap_or("?"));
    let value = record_value(item).map_err(|e| table.corrupt(&what(), e))?;
    serde_json::from_value(value).map_err(|e| table.corrupt(&what(), e))
}

pub(crate) fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(number) => AttributeValue::N(number.to_string()),
        Value::String(text) => AttributeValue::S(text),
        Value::Array(values) => AttributeValue::L(values.into_iter().map(to_attribute).collect()),
        Value::Object(fields) => AttributeValue::M(fields.into_iter().map(|(k, v)| (k, to_attribute(v))).collect()),
    }
}

pub(crate) fn from_attribute(value: &AttributeValue) -> Result<Value, String> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::N(text) => Value::Number(number(text)?),
        AttributeValue::L(values) => Value::Array(values.iter().map(from_attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(fields) => {
            Value::Object(fields.iter().map(|(k, v)| Ok((k.clone(), from_attribute(v)?))).collect::<Result<_, String>>()?)
        }
        other => return Err(format!("a value of a type ferry does not write ({other:?})")),
    })
}

fn number(text: &str) -> Result<Number, String> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(i.into());
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(u.into());
    }
    text.parse::<f64>().ok().and_then(Number::from_f64).ok_or_else(|| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_keys_sort_as_time_then_sequence() {
        let keys = [order_key(i64::MIN, 0), order_key(-1, 5), order_key(0, 0), order_key(0, 1), order_key(1_700_000_000_000, 0)];
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(sorted, keys);
    }

    #[test]
    fn names_with_separators_make_distinct_keys() {
        assert_ne!(service_pk("a#b", "c"), service_pk("a", "b#c"));
        assert_ne!(service_pk("a%23", "c"), service_pk("a#", "c"));
    }

    #[test]
    fn records_round_trip_through_attributes() {
        let value = serde_json::json!({"a": "x", "b": 1, "c": [1, -2, 3.5], "d": {"e": true, "f": null}, "g": null});
        let item = record_item(key("p", "s"), "test", value.clone());
        assert!(!item.contains_key("g"), "a field without a value is left out");
        let back = record_value(&item).expect("read");
        assert_eq!(back, serde_json::json!({"a": "x", "b": 1, "c": [1, -2, 3.5], "d": {"e": true, "f": null}}));
        assert_eq!(seq_of(&event_sk(42)), Some(42));
    }
}
