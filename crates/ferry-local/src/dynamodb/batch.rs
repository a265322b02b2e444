//! Many items at once: BatchWriteItem (at most 25 puts and deletes; every one is applied, so
//! `UnprocessedItems` is always empty), BatchGetItem (at most 100 keys; `UnprocessedKeys`
//! always empty), TransactWriteItems (at most 100 actions, all or nothing, cancelled with
//! `TransactionCanceledException` and one `CancellationReasons` entry per action in request
//! order; a `ClientRequestToken` makes it idempotent for 10 minutes) and TransactGetItems.

use serde_json::{Map, Value, json};

use super::items::{Failure, Read, Write, commit, consumed, evaluate, prepare, prepare_read, read, write_units};
use super::value::{item_size, item_to_json};
use super::{check_table_name, item_member, validation};
use crate::api::{ApiError, ApiResult, Ctx, Input};

const MAX_BATCH_WRITE: usize = 25;
const MAX_BATCH_GET: usize = 100;
const MAX_TRANSACT: usize = 100;
/// How long a transaction's ClientRequestToken is remembered: 10 minutes.
const TOKEN_LIFETIME: f64 = 600.0;

fn request_items<'a>(input: &Input<'a>) -> Result<&'a Map<String, Value>, ApiError> {
    match input.value("RequestItems").and_then(Value::as_object) {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(super::constraint("{}", "requestItems", "Member must have length greater than or equal to 1")),
    }
}

pub fn batch_write(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let tables = request_items(input)?;
    let total: usize = tables.values().map(|v| v.as_array().map_or(0, Vec::len)).sum();
    if total > MAX_BATCH_WRITE {
        return Err(validation("Too many items requested for the BatchWriteItem call"));
    }
    let mut writes: Vec<Write> = Vec::new();
    for (name, requests) in tables {
        let name = check_table_name(name, "requestItems")?;
        for request in requests.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let put = request.get("PutRequest").filter(|v| !v.is_null());
            let delete = request.get("DeleteRequest").filter(|v| !v.is_null());
            let (operation, member, body) = match (put, delete) {
                (Some(p), None) => ("PutItem", "Item", p),
                (None, Some(d)) => ("DeleteItem", "Key", d),
                _ => {
                    return Err(validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                    ));
                }
            };
            let mut single = Map::new();
            single.insert("TableName".into(), json!(name));
            single.insert(member.into(), body.get(member).cloned().unwrap_or(Value::Null));
            let write = prepare(ctx.partition, operation, &Input(&single))?;
            if writes.iter().any(|w| w.table == write.table && w.encoded == write.encoded) {
                return Err(validation("Provided list of item keys contains duplicates"));
            }
            writes.push(write);
        }
    }
    let mut capacity: std::collections::BTreeMap<String, f64> = Default::default();
    let mut results = Vec::new();
    for write in &writes {
        let (old, new) = evaluate(ctx.partition, write).map_err(super::items::failure_error)?;
        let size = new.as_ref().or(old.as_ref()).map(item_size).unwrap_or(0);
        *capacity.entry(write.table.clone()).or_default() += write_units(size);
        results.push(new);
    }
    for (write, new) in writes.iter().zip(results) {
        commit(ctx.partition, write, new);
    }
    let mut out = json!({"UnprocessedItems": {}});
    let consumed: Vec<Value> = capacity.iter().filter_map(|(t, u)| consumed(input, t, *u)).collect();
    if !consumed.is_empty() {
        out["ConsumedCapacity"] = json!(consumed);
    }
    Ok(out)
}

pub fn batch_get(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let tables = request_items(input)?;
    let total: usize = tables.values().map(|v| v.get("Keys").and_then(Value::as_array).map_or(0, Vec::len)).sum();
    if total > MAX_BATCH_GET {
        return Err(validation("Too many items requested for the BatchGetItem call"));
    }
    let mut reads: Vec<(Read, bool)> = Vec::new();
    for (name, spec) in tables {
        let name = check_table_name(name, "requestItems")?;
        let body = spec.as_object().cloned().unwrap_or_default();
        let keys = body.get("Keys").and_then(Value::as_array).cloned().unwrap_or_default();
        if keys.is_empty() {
            return Err(super::constraint("[]", "requestItems.keys", "Member must have length greater than or equal to 1"));
        }
        let consistent = body.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        reads.push((prepare_read(ctx.partition, &name, &keys, &Input(&body))?, consistent));
    }
    let mut responses = Map::new();
    let mut consumed_all = Vec::new();
    for (r, consistent) in &reads {
        let found: Vec<_> = read(ctx.partition, r).into_iter().flatten().collect();
        let size: usize = found.iter().map(item_size).sum();
        responses.insert(r.table.clone(), Value::Array(found.iter().map(|i| Value::Object(item_to_json(i))).collect()));
        if let Some(c) = consumed(input, &r.table, super::items::read_units(size, *consistent)) {
            consumed_all.push(c);
        }
    }
    let mut out = json!({"Responses": responses, "UnprocessedKeys": {}});
    if !consumed_all.is_empty() {
        out["ConsumedCapacity"] = json!(consumed_all);
    }
    Ok(out)
}

/// The one action of a TransactWriteItems entry: (`Put` | `Update` | `Delete` |
/// `ConditionCheck`, its body).
fn transact_action(entry: &Value) -> Result<(&'static str, &Map<String, Value>), ApiError> {
    let actions: Vec<(&'static str, &Map<String, Value>)> =
        [("Put", "PutItem"), ("Update", "UpdateItem"), ("Delete", "DeleteItem"), ("ConditionCheck", "ConditionCheck")]
            .into_iter()
            .filter_map(|(member, operation)| Some((operation, entry.get(member)?.as_object()?)))
            .collect();
    match actions.as_slice() {
        [one] => Ok(*one),
        _ => Err(validation("TransactItems can only contain one of Check, Put, Update or Delete")),
    }
}

fn transact_count<'a>(input: &Input<'a>) -> Result<&'a [Value], ApiError> {
    let items = input.array("TransactItems");
    if items.is_empty() || items.len() > MAX_TRANSACT {
        let bound = if items.is_empty() { "greater than or equal to 1" } else { "less than or equal to 100" };
        return Err(super::constraint(format!("{} items", items.len()), "transactItems", &format!("Member must have length {bound}")));
    }
    Ok(items)
}

pub fn transact_write(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let entries = transact_count(input)?;
    let now = ctx.now;
    ctx.partition.dynamodb.transaction_tokens.retain(|_, (_, at)| *at + TOKEN_LIFETIME > now);
    let token = input.str("ClientRequestToken").map(str::to_string);
    let digest = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(Value::Array(entries.to_vec()).to_string().as_bytes()))
    };
    if let Some(token) = &token
        && let Some((seen, _)) = ctx.partition.dynamodb.transaction_tokens.get(token)
    {
        if *seen == digest {
            // The same request again within 10 minutes: already done, answered as done.
            return Ok(json!({}));
        }
        return Err(ApiError::client(
            "IdempotentParameterMismatchException",
            "The request uses the same client token as a previous, but non-identical request.",
        ));
    }
    let mut writes = Vec::new();
    for entry in entries {
        let (operation, body) = transact_action(entry)?;
        let write = prepare(ctx.partition, operation, &Input(body))?;
        if writes.iter().any(|w: &Write| w.table == write.table && w.encoded == write.encoded) {
            return Err(validation("Transaction request cannot include multiple operations on one item"));
        }
        writes.push(write);
    }
    let mut outcomes = Vec::new();
    let mut failed = false;
    for write in &writes {
        let outcome = evaluate(ctx.partition, write);
        failed |= outcome.is_err();
        outcomes.push(outcome);
    }
    if failed {
        let mut codes = Vec::new();
        let reasons: Vec<Value> = outcomes
            .into_iter()
            .map(|o| match o {
                Ok(_) => {
                    codes.push("None");
                    json!({"Code": "None"})
                }
                Err(Failure::Condition(item)) => {
                    codes.push("ConditionalCheckFailed");
                    let mut r = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                    if let Some(item) = item {
                        r["Item"] = Value::Object(item_to_json(&item));
                    }
                    r
                }
                Err(Failure::Invalid(message)) => {
                    codes.push("ValidationError");
                    json!({"Code": "ValidationError", "Message": message})
                }
            })
            .collect();
        let mut e = ApiError::client(
            "TransactionCanceledException",
            format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
        );
        let mut extra = Map::new();
        extra.insert("CancellationReasons".into(), Value::Array(reasons));
        e.extra = Some(Box::new(extra));
        return Err(e);
    }
    let mut capacity: std::collections::BTreeMap<String, f64> = Default::default();
    for (write, outcome) in writes.iter().zip(outcomes) {
        let Ok((old, new)) = outcome else { continue };
        let size = new.as_ref().or(old.as_ref()).map(item_size).unwrap_or(0);
        // A transactional write costs two units per KB.
        *capacity.entry(write.table.clone()).or_default() += 2.0 * write_units(size);
        // (`commit` leaves a ConditionCheck's item as it is.)
        commit(ctx.partition, write, new);
    }
    if let Some(token) = token {
        ctx.partition.dynamodb.set_token(token, digest, now);
    }
    let consumed: Vec<Value> = capacity.iter().filter_map(|(t, u)| consumed(input, t, *u)).collect();
    Ok(if consumed.is_empty() { json!({}) } else { json!({"ConsumedCapacity": consumed}) })
}

pub fn transact_get(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let entries = transact_count(input)?;
    let mut reads = Vec::new();
    for entry in entries {
        let Some(get) = entry.get("Get").and_then(Value::as_object) else {
            return Err(validation(
                "1 validation error detected: Value null at 'transactItems.get' failed to satisfy constraint: Member must not be null",
            ));
        };
        let body = Input(get);
        let name = super::table_name(&body, "TableName")?;
        let key = get.get("Key").cloned().unwrap_or(Value::Null);
        item_member(Some(&key))?;
        reads.push(prepare_read(ctx.partition, &name, std::slice::from_ref(&key), &body)?);
    }
    let mut capacity: std::collections::BTreeMap<String, f64> = Default::default();
    let responses: Vec<Value> = reads
        .iter()
        .map(|r| {
            let found = read(ctx.partition, r).into_iter().next().flatten();
            *capacity.entry(r.table.clone()).or_default() +=
                2.0 * super::items::read_units(found.as_ref().map(item_size).unwrap_or(0), true);
            match found {
                Some(item) => json!({"Item": item_to_json(&item)}),
                None => json!({}),
            }
        })
        .collect();
    let mut out = json!({"Responses": responses});
    let consumed: Vec<Value> = capacity.iter().filter_map(|(t, u)| consumed(input, t, *u)).collect();
    if !consumed.is_empty() {
        out["ConsumedCapacity"] = json!(consumed);
    }
    Ok(out)
}
