//! Amazon DynamoDB (AWS JSON 1.0, `DynamoDB_20120810`), per the botocore model
//! `models/dynamodb.json.gz` and the DynamoDB API reference: CreateTable, DescribeTable,
//! ListTables, DeleteTable, UpdateTimeToLive, DescribeTimeToLive, TagResource, UntagResource,
//! ListTagsOfResource (this file); PutItem, GetItem, UpdateItem, DeleteItem, Query, Scan
//! (`items`); BatchWriteItem, BatchGetItem, TransactWriteItems, TransactGetItems (`batch`).
//! The expression language is `expr` (parser) and `eval` (evaluation); attribute values are
//! `value`.
//!
//! A table lives in the caller's account and region; its ARN is
//! `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`. A new table is `ACTIVE` at once (AWS shows
//! `CREATING` for a few seconds; nothing here needs the wait). Secondary indexes and streams
//! are refused with a ValidationException naming them (docs/local.md). Every request runs
//! under the state lock, so a conditional write is atomic with respect to every other
//! request: of N clients racing a conditional PutItem on one key, exactly one succeeds.
//!
//! Time to live: an item whose TTL attribute is a number of epoch seconds in the past (and
//! not more than five years in the past, which AWS ignores too) is deleted before the next
//! request to its account and region is served. AWS deletes such items within days and may
//! return them until then; ferry local deletes them at once, so a read never sees one.
//!
//! Persistence: tables are not in `state.json`. Handlers change them only through
//! `DynamoDb`'s methods (`set_item`, `create_table`, …), which note each change; the server
//! appends a write's changes to the DynamoDB journal as one record, fsynced before the
//! answer, or undoes them (`crate::state::journal` says why and how, crash by crash).

mod batch;
pub mod eval;
pub mod expr;
mod items;
pub mod value;

use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Ctx, Input, put};
use crate::state::{Partition, Table, Tag};
use value::{AttrValue, Item};

/// The largest item DynamoDB stores: 400 KB.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;
/// Five years: TTL values further in the past are not expired (the Developer Guide, "Time to Live").
const TTL_HORIZON: f64 = 5.0 * 365.0 * 86400.0;

/// Runs one DynamoDB operation; None for an operation ferry local does not implement.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input) -> Option<ApiResult> {
    sweep_expired(ctx.partition, ctx.now);
    Some(match operation {
        "CreateTable" => create_table(ctx, input),
        "DescribeTable" => describe_table(ctx, input),
        "ListTables" => list_tables(ctx, input),
        "DeleteTable" => delete_table(ctx, input),
        "UpdateTimeToLive" => update_ttl(ctx, input),
        "DescribeTimeToLive" => describe_ttl(ctx, input),
        "TagResource" => tag_resource(ctx, input),
        "UntagResource" => untag_resource(ctx, input),
        "ListTagsOfResource" => list_tags(ctx, input),
        "PutItem" => items::put_item(ctx, input),
        "GetItem" => items::get_item(ctx, input),
        "UpdateItem" => items::update_item(ctx, input),
        "DeleteItem" => items::delete_item(ctx, input),
        "Query" => items::query(ctx, input),
        "Scan" => items::scan(ctx, input),
        "BatchWriteItem" => batch::batch_write(ctx, input),
        "BatchGetItem" => batch::batch_get(ctx, input),
        "TransactWriteItems" => batch::transact_write(ctx, input),
        "TransactGetItems" => batch::transact_get(ctx, input),
        _ => return None,
    })
}

/// Deletes the items whose time to live is over (noted as changes, see `DynamoDb::changes`).
/// A table is looked through only once its earliest expiry (`Table::next_expiry`) has passed,
/// so that a request does not cost a pass over every item.
fn sweep_expired(partition: &mut Partition, now: f64) {
    let mut expired = Vec::new();
    for table in partition.dynamodb.tables.values_mut() {
        let Some(attribute) = &table.ttl_attribute else { continue };
        if table.next_expiry.is_some_and(|at| now <= at) {
            continue;
        }
        let mut next = f64::INFINITY;
        for (key, item) in &table.items {
            let Some(AttrValue::N(n)) = item.get(attribute) else { continue };
            let Some(at) = n.to_f64() else { continue };
            if at < now && at >= now - TTL_HORIZON {
                expired.push((table.name.clone(), key.clone()));
            } else if at >= now {
                next = next.min(at);
            }
        }
        table.next_expiry = Some(next);
    }
    for (table, key) in expired {
        partition.dynamodb.set_item(&table, &key, None);
    }
}

/// A ValidationException (`com.amazon.coral.validate#ValidationException` on the wire).
pub fn validation(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

/// A one-member constraint failure in the words of DynamoDB's request validation.
fn constraint(value: impl std::fmt::Display, member: &str, constraint: &str) -> ApiError {
    validation(format!("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"))
}

/// The error of an operation on a table that does not exist (items, TTL).
pub fn not_found() -> ApiError {
    ApiError::client("ResourceNotFoundException", "Requested resource not found")
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::client("ResourceNotFoundException", format!("Requested resource not found: Table: {name} not found"))
}

/// The table name of a request: `TableName`, which may also be the table's ARN. Checks the
/// model's constraints the validator does not (3 to 255 characters of `[a-zA-Z0-9_.-]`).
pub fn table_name(input: &Input, member: &str) -> Result<String, ApiError> {
    let given = input.str(member).unwrap_or_default();
    check_table_name(given, &crate::model::lower_camel(member))
}

pub fn check_table_name(given: &str, member: &str) -> Result<String, ApiError> {
    let name = match given.strip_prefix("arn:") {
        Some(_) => given.rsplit_once(":table/").map(|(_, n)| n).unwrap_or(given),
        None => given,
    };
    if name.len() < 3 {
        return Err(constraint(name, member, "Member must have length greater than or equal to 3"));
    }
    if name.len() > 255 {
        return Err(constraint(name, member, "Member must have length less than or equal to 255"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
        return Err(constraint(name, member, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"));
    }
    Ok(name.to_string())
}

/// The table a request names, or ResourceNotFoundException.
pub fn table<'a>(partition: &'a Partition, name: &str) -> Result<&'a Table, ApiError> {
    partition.dynamodb.tables.get(name).ok_or_else(not_found)
}

/// The canonical encoding of a key (the hash key's value, then the range key's): equal keys
/// encode equally, as numbers and binaries are kept in one form.
pub fn key_string(table: &Table, item: &Item) -> String {
    let part = |name: &Option<&String>| name.and_then(|n| item.get(n)).map(AttrValue::to_json).unwrap_or(Value::Null);
    Value::Array(vec![part(&Some(&table.hash_key)), part(&table.range_key.as_ref())]).to_string()
}

/// The key attributes of an item.
pub fn key_of(table: &Table, item: &Item) -> Item {
    key_names(table).filter_map(|k| Some((k.clone(), item.get(k)?.clone()))).collect()
}

pub fn key_names(table: &Table) -> impl Iterator<Item = &String> {
    std::iter::once(&table.hash_key).chain(table.range_key.as_ref())
}

/// A key value must be non-empty: DynamoDB's words for an empty string or binary.
fn check_key_value(name: &str, value: &AttrValue) -> Result<(), ApiError> {
    let empty = match value {
        AttrValue::S(s) => s.is_empty().then_some("string"),
        AttrValue::B(b) => b.is_empty().then_some("binary"),
        _ => None,
    };
    match empty {
        Some(kind) => Err(validation(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {name}"
        ))),
        None => Ok(()),
    }
}

/// A `Key` parameter: exactly the table's key attributes, of their defined types.
pub fn exact_key(table: &Table, key: &Item) -> Result<Item, ApiError> {
    let mismatch = || validation("The provided key element does not match the schema");
    if key.len() != key_names(table).count() {
        return Err(mismatch());
    }
    for name in key_names(table) {
        let value = key.get(name).ok_or_else(mismatch)?;
        if table.attributes.get(name).map(String::as_str) != Some(value.type_name()) {
            return Err(mismatch());
        }
        check_key_value(name, value)?;
    }
    Ok(key.clone())
}

/// An `Item` to store: it must carry the key attributes, of their defined types.
pub fn check_item_key(table: &Table, item: &Item) -> Result<(), ApiError> {
    for name in key_names(table) {
        let Some(value) = item.get(name) else {
            return Err(validation(format!("One or more parameter values were invalid: Missing the key {name} in the item")));
        };
        let expected = table.attributes.get(name).map(String::as_str).unwrap_or("S");
        if value.type_name() != expected {
            return Err(validation(format!(
                "One or more parameter values were invalid: Type mismatch for key {name} expected: {expected} actual: {}",
                value.type_name()
            )));
        }
        check_key_value(name, value)?;
    }
    Ok(())
}

/// Reads an item-shaped member (`Item`, `Key`, `ExclusiveStartKey`).
pub fn item_member(value: Option<&Value>) -> Result<Item, ApiError> {
    value::item_from_json(value).map_err(validation)
}

fn create_table(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = table_name(input, "TableName")?;
    for refused in ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"] {
        if input.value(refused).and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            return Err(validation(format!(
                "ferry local does not emulate secondary indexes: {refused} is refused (docs/local.md, DynamoDB)"
            )));
        }
    }
    if input.value("StreamSpecification").and_then(|s| s.get("StreamEnabled")).and_then(Value::as_bool) == Some(true) {
        return Err(validation("ferry local does not emulate DynamoDB Streams: StreamSpecification.StreamEnabled true is refused"));
    }
    let schema = input.array("KeySchema");
    if schema.is_empty() || schema.len() > 2 {
        let bound = if schema.is_empty() { "greater than or equal to 1" } else { "less than or equal to 2" };
        return Err(constraint(Value::Array(schema.to_vec()), "keySchema", &format!("Member must have length {bound}")));
    }
    let element = |i: usize| {
        let e = &schema[i];
        (
            e.get("AttributeName").and_then(Value::as_str).unwrap_or_default().to_string(),
            e.get("KeyType").and_then(Value::as_str).unwrap_or_default(),
        )
    };
    let (hash, hash_type) = element(0);
    if hash_type != "HASH" {
        return Err(validation("Invalid KeySchema: The first KeySchemaElement is not a HASH key type"));
    }
    let range = if schema.len() == 2 {
        let (range, range_type) = element(1);
        if range_type != "RANGE" {
            return Err(validation("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"));
        }
        if range == hash {
            return Err(validation("Both the Hash Key and the Range Key element in the KeySchema have the same name"));
        }
        Some(range)
    } else {
        None
    };
    let mut attributes = std::collections::BTreeMap::new();
    for d in input.array("AttributeDefinitions") {
        let n = d.get("AttributeName").and_then(Value::as_str).unwrap_or_default();
        let t = d.get("AttributeType").and_then(Value::as_str).unwrap_or_default();
        if attributes.insert(n.to_string(), t.to_string()).is_some() {
            return Err(validation("Cannot have two attributes with the same name"));
        }
    }
    let keys: Vec<&String> = std::iter::once(&hash).chain(range.as_ref()).collect();
    if keys.iter().any(|k| !attributes.contains_key(*k)) {
        let shown = |v: Vec<&String>| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        return Err(validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            shown(keys.clone()),
            shown(attributes.keys().collect())
        )));
    }
    if attributes.len() != keys.len() {
        return Err(validation(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let billing_mode = input.str("BillingMode").unwrap_or("PROVISIONED").to_string();
    let throughput = input.value("ProvisionedThroughput");
    let (read, write) = match (billing_mode.as_str(), throughput) {
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        ("PAY_PER_REQUEST", None) => (0, 0),
        (_, None) => {
            return Err(validation(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ));
        }
        (_, Some(t)) => {
            let units = |k: &str| t.get(k).and_then(Value::as_i64).unwrap_or(0);
            let (r, w) = (units("ReadCapacityUnits"), units("WriteCapacityUnits"));
            for (v, member) in [(r, "provisionedThroughput.readCapacityUnits"), (w, "provisionedThroughput.writeCapacityUnits")] {
                if v < 1 {
                    return Err(constraint(v, member, "Member must have value greater than or equal to 1"));
                }
            }
            (r, w)
        }
    };
    let tags = tags_of(input)?;
    if ctx.partition.dynamodb.tables.contains_key(&name) {
        return Err(ApiError::client("ResourceInUseException", format!("Table already exists: {name}")));
    }
    let table = Table {
        arn: ctx.caller.arn("dynamodb", &format!("table/{name}")),
        name: name.clone(),
        id: uuid::Uuid::new_v4().to_string(),
        created_at: ctx.now,
        hash_key: hash,
        range_key: range,
        attributes,
        billing_mode,
        read_capacity: read,
        write_capacity: write,
        ttl_attribute: None,
        tags,
        deletion_protection: input.bool("DeletionProtectionEnabled").unwrap_or(false),
        table_class: input.str("TableClass").map(str::to_string),
        items: Default::default(),
        next_expiry: None,
    };
    let description = describe(&table, "ACTIVE");
    ctx.partition.dynamodb.create_table(table);
    Ok(json!({ "TableDescription": description }))
}

/// A `TableDescription`.
fn describe(table: &Table, status: &str) -> Value {
    let mut out = Map::new();
    let definitions: Vec<Value> = table.attributes.iter().map(|(n, t)| json!({"AttributeName": n, "AttributeType": t})).collect();
    out.insert("AttributeDefinitions".into(), json!(definitions));
    out.insert("TableName".into(), json!(table.name));
    let mut schema = vec![json!({"AttributeName": table.hash_key, "KeyType": "HASH"})];
    if let Some(range) = &table.range_key {
        schema.push(json!({"AttributeName": range, "KeyType": "RANGE"}));
    }
    out.insert("KeySchema".into(), json!(schema));
    out.insert("TableStatus".into(), json!(status));
    out.insert("CreationDateTime".into(), json!(table.created_at));
    out.insert(
        "ProvisionedThroughput".into(),
        json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": table.read_capacity, "WriteCapacityUnits": table.write_capacity}),
    );
    let size: usize = table.items.values().map(value::item_size).sum();
    out.insert("TableSizeBytes".into(), json!(size));
    out.insert("ItemCount".into(), json!(table.items.len()));
    out.insert("TableArn".into(), json!(table.arn));
    out.insert("TableId".into(), json!(table.id));
    if table.billing_mode == "PAY_PER_REQUEST" {
        out.insert(
            "BillingModeSummary".into(),
            json!({"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": table.created_at}),
        );
    }
    if let Some(class) = &table.table_class {
        out.insert("TableClassSummary".into(), json!({"TableClass": class}));
    }
    out.insert("DeletionProtectionEnabled".into(), json!(table.deletion_protection));
    // A new table's warm throughput, as DynamoDB describes every table since warm throughput
    // (API reference, TableWarmThroughputDescription): 12,000 reads and 4,000 writes a second.
    out.insert("WarmThroughput".into(), json!({"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": status}));
    Value::Object(out)
}

fn describe_table(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = table_name(input, "TableName")?;
    let table = ctx.partition.dynamodb.tables.get(&name).ok_or_else(|| table_not_found(&name))?;
    Ok(json!({ "Table": describe(table, "ACTIVE") }))
}

fn list_tables(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let limit = input.i64("Limit").unwrap_or(100);
    if !(1..=100).contains(&limit) {
        let bound = if limit < 1 { "greater than or equal to 1" } else { "less than or equal to 100" };
        return Err(constraint(limit, "limit", &format!("Member must have value {bound}")));
    }
    let start = input.str("ExclusiveStartTableName");
    let names: Vec<&String> = ctx.partition.dynamodb.tables.keys().filter(|n| start.is_none_or(|s| n.as_str() > s)).collect();
    let page: Vec<&String> = names.iter().take(limit as usize).copied().collect();
    let mut out = Map::new();
    out.insert("TableNames".into(), json!(page));
    if names.len() > page.len() {
        put(&mut out, "LastEvaluatedTableName", page.last().map(|s| s.to_string()));
    }
    Ok(Value::Object(out))
}

fn delete_table(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = table_name(input, "TableName")?;
    let table = ctx.partition.dynamodb.tables.get(&name).ok_or_else(|| table_not_found(&name))?;
    if table.deletion_protection {
        return Err(validation(
            "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
        ));
    }
    let description = describe(table, "DELETING");
    ctx.partition.dynamodb.delete_table(&name);
    Ok(json!({ "TableDescription": description }))
}

fn update_ttl(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = table_name(input, "TableName")?;
    let spec = input.value("TimeToLiveSpecification").cloned().unwrap_or(Value::Null);
    let enabled = spec.get("Enabled").and_then(Value::as_bool).unwrap_or(false);
    let attribute = spec.get("AttributeName").and_then(Value::as_str).unwrap_or_default().to_string();
    if attribute.is_empty() {
        return Err(constraint("", "timeToLiveSpecification.attributeName", "Member must have length greater than or equal to 1"));
    }
    let table = ctx.partition.dynamodb.tables.get(&name).ok_or_else(not_found)?;
    match (&table.ttl_attribute, enabled) {
        (Some(_), true) => return Err(validation("TimeToLive is already enabled")),
        (None, false) => return Err(validation("TimeToLive is already disabled")),
        (Some(current), false) if *current != attribute => {
            return Err(validation(format!("TimeToLive is active on a different AttributeName: current AttributeName is {current}")));
        }
        _ => {}
    }
    let tags = table.tags.clone();
    ctx.partition.dynamodb.set_settings(&name, enabled.then(|| attribute.clone()), tags);
    Ok(json!({ "TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute} }))
}

fn describe_ttl(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = table_name(input, "TableName")?;
    let table = ctx.partition.dynamodb.tables.get(&name).ok_or_else(|| table_not_found(&name))?;
    Ok(match &table.ttl_attribute {
        Some(attribute) => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}}),
        None => json!({"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}),
    })
}

fn tags_of(input: &Input) -> Result<Vec<Tag>, ApiError> {
    crate::api::key_value_tags(input, validation, validation)
}

/// The table a tagging request's `ResourceArn` names.
fn tagged<'a>(ctx: &'a Ctx, input: &Input) -> Result<&'a Table, ApiError> {
    let arn = input.str("ResourceArn").unwrap_or_default();
    let name = arn.rsplit_once(":table/").map(|(_, n)| n).unwrap_or_default();
    let own = ctx.caller.arn("dynamodb", &format!("table/{name}"));
    if name.is_empty() || own != arn {
        return Err(validation(format!("Invalid TableArn: Invalid ResourceArn provided as input {arn}")));
    }
    let name = name.to_string();
    ctx.partition
        .dynamodb
        .tables
        .get(&name)
        .ok_or_else(|| ApiError::client("ResourceNotFoundException", format!("Requested resource not found: ResourcArn: {arn} not found")))
}

fn tag_resource(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let tags = tags_of(input)?;
    let table = tagged(ctx, input)?;
    // A refused request changes nothing: merge first, then store.
    let (name, ttl, mut merged) = (table.name.clone(), table.ttl_attribute.clone(), table.tags.clone());
    for tag in tags {
        match merged.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => merged.push(tag),
        }
    }
    if merged.len() > 50 {
        return Err(ApiError::client("LimitExceededException", "A table can have at most 50 tags."));
    }
    ctx.partition.dynamodb.set_settings(&name, ttl, merged);
    Ok(json!({}))
}

fn untag_resource(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let keys = input.strings("TagKeys");
    let table = tagged(ctx, input)?;
    let (name, ttl) = (table.name.clone(), table.ttl_attribute.clone());
    let tags = table.tags.iter().filter(|t| !keys.contains(&t.key)).cloned().collect();
    ctx.partition.dynamodb.set_settings(&name, ttl, tags);
    Ok(json!({}))
}

fn list_tags(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let table = tagged(ctx, input)?;
    let tags: Vec<Value> = table.tags.iter().map(|t| json!({"Key": t.key, "Value": t.value})).collect();
    Ok(json!({ "Tags": tags }))
}

#[cfg(test)]
mod tests;
