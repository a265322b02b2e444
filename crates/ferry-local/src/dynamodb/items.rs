//! The item operations: PutItem, GetItem, UpdateItem, DeleteItem (each write prepared in
//! full, then evaluated against the current item, then committed, so that a refused request
//! changes nothing and transactions can reuse the steps), Query and Scan (pages of at most
//! `Limit` evaluated items and 1 MB, `LastEvaluatedKey` to go on).

use serde_json::{Map, Value, json};

use super::eval::{apply, matches, project};
use super::expr::{Action, Cond, Kind, Operand, Path, Placeholders, Step, parse_condition, parse_projection, parse_update};
use super::value::{AttrValue, Item, item_size, item_to_json};
use super::{MAX_ITEM_SIZE, check_item_key, exact_key, item_member, key_names, key_of, key_string, table, table_name, validation};
use crate::api::{ApiError, ApiResult, Ctx, Input};
use crate::state::{Partition, Table};

/// The most a Query or Scan page reads: 1 MB.
const PAGE_BYTES: usize = 1024 * 1024;

/// Refuses the legacy (pre-expression) parameters, which ferry local does not implement.
pub fn refuse_legacy(input: &Input, names: &[(&str, &str)]) -> Result<(), ApiError> {
    for (legacy, instead) in names {
        if input.value(legacy).is_some() {
            return Err(validation(format!(
                "ferry local supports expressions only: the legacy parameter {legacy} is not implemented; use {instead} (docs/local.md, DynamoDB)"
            )));
        }
    }
    Ok(())
}

/// The request's `ExpressionAttributeNames` and `ExpressionAttributeValues`.
pub fn placeholders(input: &Input) -> Result<Placeholders, ApiError> {
    let mut names = std::collections::BTreeMap::new();
    if let Some(map) = input.value("ExpressionAttributeNames").and_then(Value::as_object) {
        if map.is_empty() {
            return Err(validation("ExpressionAttributeNames must not be empty"));
        }
        for (k, v) in map {
            names.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    let mut values = std::collections::BTreeMap::new();
    if let Some(map) = input.value("ExpressionAttributeValues").and_then(Value::as_object) {
        if map.is_empty() {
            return Err(validation("ExpressionAttributeValues must not be empty"));
        }
        for (k, v) in map {
            let value = AttrValue::from_json(v)
                .map_err(|e| validation(format!("ExpressionAttributeValues contains invalid value: {e} for key {k}")))?;
            values.insert(k.clone(), value);
        }
    }
    Ok(Placeholders::new(names, values))
}

/// After every expression of a request is parsed: placeholders given without any expression,
/// or not used by one, are refused.
pub fn finish(input: &Input, ph: &Placeholders, expressions: &[&str]) -> Result<(), ApiError> {
    let any = expressions.iter().any(|e| input.value(e).is_some());
    if !any {
        for member in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
            if input.value(member).is_some() {
                return Err(validation(format!("{member} can only be specified when using expressions")));
            }
        }
    }
    ph.check_all_used().map_err(validation)
}

fn condition(input: &Input, member: &str, kind: Kind, ph: &mut Placeholders) -> Result<Option<Cond>, ApiError> {
    match input.str(member) {
        Some(text) => parse_condition(text, kind, ph).map(Some).map_err(validation),
        None => Ok(None),
    }
}

pub fn projection(input: &Input, ph: &mut Placeholders) -> Result<Option<Vec<Path>>, ApiError> {
    match input.str("ProjectionExpression") {
        Some(text) => parse_projection(text, ph).map(Some).map_err(validation),
        None => Ok(None),
    }
}

/// An `AttributeMap` member of an answer.
fn attributes(item: &Item) -> Value {
    Value::Object(item_to_json(item))
}

/// `ConsumedCapacity` when the request asked for it (`ReturnConsumedCapacity` `TOTAL` or
/// `INDEXES`): a write unit per started KB, a read unit per started 4 KB (half for an
/// eventually consistent read), as the Developer Guide counts them.
pub fn consumed(input: &Input, table: &str, units: f64) -> Option<Value> {
    match input.str("ReturnConsumedCapacity") {
        Some("TOTAL") => Some(json!({"TableName": table, "CapacityUnits": units})),
        Some("INDEXES") => Some(json!({"TableName": table, "CapacityUnits": units, "Table": {"CapacityUnits": units}})),
        _ => None,
    }
}

pub fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

/// What a write does to its item.
pub enum Change {
    Put(Item),
    Update(Vec<Action>),
    Delete,
    /// TransactWriteItems' ConditionCheck: nothing.
    Check,
}

/// A write, parsed and checked against its table, not yet applied.
pub struct Write {
    pub table: String,
    pub key: Item,
    /// The key's encoding (`key_string`).
    pub encoded: String,
    pub change: Change,
    pub condition: Option<Cond>,
    /// `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`.
    pub old_on_failure: bool,
}

/// Why a write was not applied.
pub enum Failure {
    /// The condition did not hold; the item as it was, when asked for.
    Condition(Option<Item>),
    /// The change cannot be made (a ValidationException's message).
    Invalid(String),
}

/// Parses a write (`operation` is `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheck`)
/// and checks it against its table; nothing is changed.
pub fn prepare(partition: &Partition, operation: &str, input: &Input) -> Result<Write, ApiError> {
    refuse_legacy(
        input,
        &[("Expected", "ConditionExpression"), ("ConditionalOperator", "ConditionExpression"), ("AttributeUpdates", "UpdateExpression")],
    )?;
    let name = table_name(input, "TableName")?;
    let table = table(partition, &name)?;
    let mut ph = placeholders(input)?;
    let (key, change) = match operation {
        "PutItem" => {
            let item = item_member(input.value("Item"))?;
            check_item_key(table, &item)?;
            if item_size(&item) > MAX_ITEM_SIZE {
                return Err(validation("Item size has exceeded the maximum allowed size"));
            }
            (key_of(table, &item), Change::Put(item))
        }
        "UpdateItem" => {
            let key = exact_key(table, &item_member(input.value("Key"))?)?;
            let actions = match input.str("UpdateExpression") {
                Some(text) => parse_update(text, &mut ph).map_err(validation)?,
                None => Vec::new(),
            };
            for action in &actions {
                if let Some(Step::Attr(first)) = action.path().first()
                    && key_names(table).any(|k| k == first)
                {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Cannot update attribute {first}. This attribute is part of the key"
                    )));
                }
            }
            (key, Change::Update(actions))
        }
        "ConditionCheck" => (exact_key(table, &item_member(input.value("Key"))?)?, Change::Check),
        _ => (exact_key(table, &item_member(input.value("Key"))?)?, Change::Delete),
    };
    let condition = condition(input, "ConditionExpression", Kind::Condition, &mut ph)?;
    if operation == "ConditionCheck" && condition.is_none() {
        return Err(validation(
            "1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null",
        ));
    }
    finish(input, &ph, &["ConditionExpression", "UpdateExpression"])?;
    let encoded = key_string(table, &key);
    Ok(Write {
        table: name,
        key,
        encoded,
        change,
        condition,
        old_on_failure: input.str("ReturnValuesOnConditionCheckFailure") == Some("ALL_OLD"),
    })
}

/// The item before and after a prepared write, without changing anything.
pub fn evaluate(partition: &Partition, write: &Write) -> Result<(Option<Item>, Option<Item>), Failure> {
    let Some(table) = partition.dynamodb.tables.get(&write.table) else {
        return Err(Failure::Invalid("Requested resource not found".into()));
    };
    let old = table.items.get(&write.encoded).cloned();
    if let Some(cond) = &write.condition {
        let empty = Item::new();
        if !matches(old.as_ref().unwrap_or(&empty), cond) {
            return Err(Failure::Condition(if write.old_on_failure { old } else { None }));
        }
    }
    let new = match &write.change {
        Change::Put(item) => Some(item.clone()),
        Change::Delete => None,
        Change::Check => old.clone(),
        Change::Update(actions) => {
            let before = old.clone().unwrap_or_else(|| write.key.clone());
            let mut after = before.clone();
            apply(&mut after, &before, actions).map_err(Failure::Invalid)?;
            if item_size(&after) > MAX_ITEM_SIZE {
                return Err(Failure::Invalid("Item size to update has exceeded the maximum allowed size".into()));
            }
            Some(after)
        }
    };
    Ok((old, new))
}

/// Stores the item after a write (or deletes it).
pub fn commit(partition: &mut Partition, write: &Write, new: Option<Item>) {
    if matches!(write.change, Change::Check) {
        return;
    }
    partition.dynamodb.set_item(&write.table, &write.encoded, new);
}

/// The error of a failed single-item write.
pub fn failure_error(failure: Failure) -> ApiError {
    match failure {
        Failure::Condition(item) => {
            let mut e = ApiError::client("ConditionalCheckFailedException", "The conditional request failed");
            if let Some(item) = item {
                let mut extra = Map::new();
                extra.insert("Item".into(), attributes(&item));
                e.extra = Some(Box::new(extra));
            }
            e
        }
        Failure::Invalid(message) => validation(message),
    }
}

fn single_write(ctx: &mut Ctx, input: &Input, operation: &str, allowed: &[&str]) -> ApiResult {
    let return_values = input.str("ReturnValues").unwrap_or("NONE");
    if !allowed.contains(&return_values) {
        return Err(validation("Return values set to invalid value"));
    }
    let write = prepare(ctx.partition, operation, input)?;
    let (old, new) = evaluate(ctx.partition, &write).map_err(failure_error)?;
    let size = new.as_ref().or(old.as_ref()).map(item_size).unwrap_or(0).max(old.as_ref().map(item_size).unwrap_or(0));
    let mut out = Map::new();
    let returned = match return_values {
        "ALL_OLD" => old.clone(),
        "ALL_NEW" => new.clone(),
        "UPDATED_OLD" | "UPDATED_NEW" => {
            let paths: Vec<Path> = match &write.change {
                Change::Update(actions) => actions.iter().map(|a| a.path().clone()).collect(),
                _ => Vec::new(),
            };
            let source = if return_values == "UPDATED_OLD" { old.as_ref() } else { new.as_ref() };
            source.map(|item| project(item, &paths)).filter(|i| !i.is_empty())
        }
        _ => None,
    };
    if let Some(item) = returned {
        out.insert("Attributes".into(), attributes(&item));
    }
    if let Some(c) = consumed(input, &write.table, write_units(size)) {
        out.insert("ConsumedCapacity".into(), c);
    }
    commit(ctx.partition, &write, new);
    Ok(Value::Object(out))
}

pub fn put_item(ctx: &mut Ctx, input: &Input) -> ApiResult {
    single_write(ctx, input, "PutItem", &["NONE", "ALL_OLD"])
}

pub fn update_item(ctx: &mut Ctx, input: &Input) -> ApiResult {
    single_write(ctx, input, "UpdateItem", &["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"])
}

pub fn delete_item(ctx: &mut Ctx, input: &Input) -> ApiResult {
    single_write(ctx, input, "DeleteItem", &["NONE", "ALL_OLD"])
}

/// A read of one item by key: GetItem, a BatchGetItem table's keys, a TransactGetItems Get.
pub struct Read {
    pub table: String,
    pub encoded: Vec<String>,
    pub projection: Option<Vec<Path>>,
}

/// Parses a read of `keys` (the request's `Key`, or a BatchGetItem table's `Keys`).
pub fn prepare_read(partition: &Partition, name: &str, keys: &[Value], input: &Input) -> Result<Read, ApiError> {
    refuse_legacy(input, &[("AttributesToGet", "ProjectionExpression")])?;
    let table = table(partition, name)?;
    let mut ph = placeholders(input)?;
    let projection = projection(input, &mut ph)?;
    finish(input, &ph, &["ProjectionExpression"])?;
    let mut encoded = Vec::new();
    for key in keys {
        let key = exact_key(table, &item_member(Some(key))?)?;
        let e = key_string(table, &key);
        if encoded.contains(&e) {
            return Err(validation("Provided list of item keys contains duplicates"));
        }
        encoded.push(e);
    }
    Ok(Read { table: name.to_string(), encoded, projection })
}

/// The items a read finds, projected, in the order of its keys (missing ones left out).
pub fn read(partition: &Partition, r: &Read) -> Vec<Option<Item>> {
    let Some(table) = partition.dynamodb.tables.get(&r.table) else { return Vec::new() };
    r.encoded
        .iter()
        .map(|e| table.items.get(e).map(|item| r.projection.as_ref().map(|p| project(item, p)).unwrap_or_else(|| item.clone())))
        .collect()
}

pub fn get_item(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = table_name(input, "TableName")?;
    let key = input.value("Key").cloned().unwrap_or(Value::Null);
    let r = prepare_read(ctx.partition, &name, std::slice::from_ref(&key), input)?;
    let found = read(ctx.partition, &r).into_iter().next().flatten();
    let mut out = Map::new();
    let size = found.as_ref().map(item_size).unwrap_or(0);
    if let Some(item) = found {
        out.insert("Item".into(), attributes(&item));
    }
    if let Some(c) = consumed(input, &name, read_units(size, input.bool("ConsistentRead").unwrap_or(false))) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Ok(Value::Object(out))
}

/// The sort key condition of a Query.
enum RangeCond {
    Cmp(super::expr::Cmp, AttrValue),
    Between(AttrValue, AttrValue),
    BeginsWith(AttrValue),
}

/// Reads a KeyConditionExpression: `hash = :v`, optionally AND one condition on the sort key.
fn key_condition(table: &Table, cond: Cond) -> Result<(AttrValue, Option<RangeCond>), ApiError> {
    let invalid = |why: &str| validation(format!("Invalid KeyConditionExpression: {why}"));
    let mut parts = Vec::new();
    let mut stack = vec![cond];
    while let Some(c) = stack.pop() {
        match c {
            Cond::And(a, b) => {
                stack.push(*b);
                stack.push(*a);
            }
            Cond::Or(..) => return Err(invalid("Invalid operator used in KeyConditionExpression: OR")),
            Cond::Not(..) => return Err(invalid("Invalid operator used in KeyConditionExpression: NOT")),
            other => parts.push(other),
        }
    }
    if parts.len() > 2 {
        return Err(validation("Query key condition not supported"));
    }
    let key_path = |o: &Operand| match o {
        Operand::Path(p) if p.len() == 1 => match &p[0] {
            Step::Attr(a) => Some(a.clone()),
            Step::Index(_) => None,
        },
        _ => None,
    };
    let mut hash = None;
    let mut range = None;
    // A value of the wrong type is refused once the structure is known to be right.
    let mut type_mismatch = false;
    for part in parts {
        let (attribute, value) = match part {
            Cond::Compare(a, cmp, Operand::Value(v)) => {
                let attribute = key_path(&a).ok_or_else(|| validation("Query key condition not supported"))?;
                if cmp == super::expr::Cmp::Ne {
                    return Err(invalid("Unsupported operator on KeyConditionExpression: operator: <>"));
                }
                (attribute, (Some(cmp), v.clone(), RangeKind::Cmp(cmp, v)))
            }
            Cond::Between(a, Operand::Value(lo), Operand::Value(hi)) => {
                let attribute = key_path(&a).ok_or_else(|| validation("Query key condition not supported"))?;
                (attribute, (None, lo.clone(), RangeKind::Between(lo, hi)))
            }
            Cond::BeginsWith(a, Operand::Value(prefix)) => {
                let attribute = key_path(&a).ok_or_else(|| validation("Query key condition not supported"))?;
                (attribute, (None, prefix.clone(), RangeKind::BeginsWith(prefix)))
            }
            Cond::Exists(_) | Cond::NotExists(_) | Cond::Type(..) | Cond::Contains(..) | Cond::In(..) => {
                return Err(invalid("Invalid operator used in KeyConditionExpression"));
            }
            _ => return Err(validation("Query key condition not supported")),
        };
        let (cmp, value, kind) = value;
        let expected = table.attributes.get(&attribute).cloned().unwrap_or_default();
        if attribute == table.hash_key {
            if hash.is_some() {
                return Err(validation("KeyConditionExpressions must only contain one condition per key"));
            }
            if cmp != Some(super::expr::Cmp::Eq) {
                return Err(validation("Query key condition not supported"));
            }
            type_mismatch |= value.type_name() != expected;
            hash = Some(value);
        } else if Some(&attribute) == table.range_key.as_ref() {
            if range.is_some() {
                return Err(validation("KeyConditionExpressions must only contain one condition per key"));
            }
            let r = match kind {
                RangeKind::Cmp(c, v) => RangeCond::Cmp(c, v),
                RangeKind::Between(lo, hi) => {
                    type_mismatch |= hi.type_name() != expected;
                    RangeCond::Between(lo, hi)
                }
                RangeKind::BeginsWith(p) => {
                    if expected == "N" {
                        return Err(invalid(
                            "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                        ));
                    }
                    RangeCond::BeginsWith(p)
                }
            };
            type_mismatch |= value.type_name() != expected;
            range = Some(r);
        } else {
            return Err(validation(format!("Query condition missed key schema element: {}", table.hash_key)));
        }
    }
    let hash = hash.ok_or_else(|| validation(format!("Query condition missed key schema element: {}", table.hash_key)))?;
    if type_mismatch {
        return Err(validation("One or more parameter values were invalid: Condition parameter type does not match schema type"));
    }
    Ok((hash, range))
}

enum RangeKind {
    Cmp(super::expr::Cmp, AttrValue),
    Between(AttrValue, AttrValue),
    BeginsWith(AttrValue),
}

fn range_matches(cond: &RangeCond, v: &AttrValue) -> bool {
    use super::expr::Cmp;
    use std::cmp::Ordering;
    match cond {
        RangeCond::Cmp(cmp, w) => {
            let o = v.order(w);
            match cmp {
                Cmp::Eq => o == Some(Ordering::Equal),
                Cmp::Lt => o == Some(Ordering::Less),
                Cmp::Le => matches!(o, Some(Ordering::Less | Ordering::Equal)),
                Cmp::Gt => o == Some(Ordering::Greater),
                Cmp::Ge => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
                Cmp::Ne => false,
            }
        }
        RangeCond::Between(lo, hi) => {
            matches!(v.order(lo), Some(Ordering::Greater | Ordering::Equal))
                && matches!(v.order(hi), Some(Ordering::Less | Ordering::Equal))
        }
        RangeCond::BeginsWith(p) => match (v, p) {
            (AttrValue::S(a), AttrValue::S(b)) => a.starts_with(b.as_str()),
            (AttrValue::B(a), AttrValue::B(b)) => a.starts_with(b),
            _ => false,
        },
    }
}

/// Whether a filter names a key attribute (which DynamoDB refuses).
fn filter_key_attribute(table: &Table, cond: &Cond) -> Option<String> {
    let mut found = None;
    let mut check = |p: &Path| {
        if let Some(Step::Attr(a)) = p.first()
            && key_names(table).any(|k| k == a)
        {
            found = Some(a.clone());
        }
    };
    visit_paths(cond, &mut check);
    found
}

fn visit_paths(cond: &Cond, f: &mut impl FnMut(&Path)) {
    let operand = |o: &Operand, f: &mut dyn FnMut(&Path)| match o {
        Operand::Path(p) | Operand::Size(p) => f(p),
        Operand::Value(_) => {}
    };
    match cond {
        Cond::And(a, b) | Cond::Or(a, b) => {
            visit_paths(a, f);
            visit_paths(b, f);
        }
        Cond::Not(c) => visit_paths(c, f),
        Cond::Exists(p) | Cond::NotExists(p) => f(p),
        Cond::Type(p, o) => {
            f(p);
            operand(o, f);
        }
        Cond::Compare(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
            operand(a, f);
            operand(b, f);
        }
        Cond::Between(a, b, c) => {
            for o in [a, b, c] {
                operand(o, f);
            }
        }
        Cond::In(a, list) => {
            operand(a, f);
            for o in list {
                operand(o, f);
            }
        }
    }
}

/// What Query and Scan share: `Select`, `Limit`, `ProjectionExpression`, `FilterExpression`
/// and `ExclusiveStartKey`, read from the request.
struct PageRequest {
    limit: Option<usize>,
    count_only: bool,
    projection: Option<Vec<Path>>,
    filter: Option<Cond>,
    start: Option<Item>,
}

fn page_request(table: &Table, input: &Input, ph: &mut Placeholders) -> Result<PageRequest, ApiError> {
    if let Some(index) = input.str("IndexName") {
        return Err(validation(format!("The table does not have the specified index: {index}")));
    }
    let limit = match input.i64("Limit") {
        Some(l) if l < 1 => return Err(super::constraint(l, "limit", "Member must have value greater than or equal to 1")),
        Some(l) => Some(l as usize),
        None => None,
    };
    let projection = projection(input, ph)?;
    let count_only = match input.str("Select") {
        Some("ALL_ATTRIBUTES") if projection.is_some() => {
            return Err(validation("Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES"));
        }
        Some("COUNT") if projection.is_some() => {
            return Err(validation("Cannot specify the ProjectionExpression when choosing to get COUNT"));
        }
        Some("ALL_PROJECTED_ATTRIBUTES") => {
            return Err(validation("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"));
        }
        Some("SPECIFIC_ATTRIBUTES") if projection.is_none() => {
            return Err(validation("Select type SPECIFIC_ATTRIBUTES requires AttributesToGet or ProjectionExpression"));
        }
        Some("COUNT") => true,
        _ => false,
    };
    let filter = condition(input, "FilterExpression", Kind::Filter, ph)?;
    if let Some(f) = &filter
        && let Some(key) = filter_key_attribute(table, f)
    {
        return Err(validation(format!("Filter Expression can only contain non-primary key attributes: Primary key attribute: {key}")));
    }
    let start = match input.value("ExclusiveStartKey") {
        Some(v) => {
            let key = item_member(Some(v))?;
            Some(
                exact_key(table, &key)
                    .map_err(|_| validation("The provided starting key is invalid: The provided key element does not match the schema"))?,
            )
        }
        None => None,
    };
    Ok(PageRequest { limit, count_only, projection, filter, start })
}

/// Walks `candidates` (already after the start key) into one page.
fn page<'a>(table: &Table, request: &PageRequest, candidates: impl Iterator<Item = &'a Item>, input: &Input) -> Value {
    let mut items = Vec::new();
    let (mut scanned, mut count, mut bytes) = (0usize, 0usize, 0usize);
    let mut last = None;
    let mut candidates = candidates.peekable();
    while let Some(item) = candidates.next() {
        scanned += 1;
        bytes += item_size(item);
        if request.filter.as_ref().is_none_or(|f| matches(item, f)) {
            count += 1;
            if !request.count_only {
                items.push(request.projection.as_ref().map(|p| project(item, p)).unwrap_or_else(|| item.clone()));
            }
        }
        // AWS answers a LastEvaluatedKey when it stopped at the Limit, even at the last item.
        if request.limit.is_some_and(|l| scanned >= l) || (bytes >= PAGE_BYTES && candidates.peek().is_some()) {
            last = Some(key_of(table, item));
            break;
        }
    }
    let mut out = Map::new();
    if !request.count_only {
        out.insert("Items".into(), Value::Array(items.iter().map(attributes).collect()));
    }
    out.insert("Count".into(), json!(count));
    out.insert("ScannedCount".into(), json!(scanned));
    if let Some(key) = last {
        out.insert("LastEvaluatedKey".into(), attributes(&key));
    }
    if let Some(c) = consumed(input, &table.name, read_units(bytes, input.bool("ConsistentRead").unwrap_or(false))) {
        out.insert("ConsumedCapacity".into(), c);
    }
    Value::Object(out)
}

pub fn query(ctx: &mut Ctx, input: &Input) -> ApiResult {
    refuse_legacy(
        input,
        &[
            ("KeyConditions", "KeyConditionExpression"),
            ("QueryFilter", "FilterExpression"),
            ("AttributesToGet", "ProjectionExpression"),
            ("ConditionalOperator", "FilterExpression"),
        ],
    )?;
    let name = table_name(input, "TableName")?;
    let table = table(ctx.partition, &name)?;
    let mut ph = placeholders(input)?;
    let Some(text) = input.str("KeyConditionExpression") else {
        return Err(validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."));
    };
    let cond = parse_condition(text, Kind::KeyCondition, &mut ph).map_err(validation)?;
    let (hash, range) = key_condition(table, cond)?;
    let request = page_request(table, input, &mut ph)?;
    finish(input, &ph, &["KeyConditionExpression", "FilterExpression", "ProjectionExpression"])?;
    let forward = input.bool("ScanIndexForward").unwrap_or(true);
    if let Some(start) = &request.start
        && start.get(&table.hash_key).is_none_or(|v| !v.same(&hash))
    {
        return Err(validation("The provided starting key is invalid: The provided key element does not match the schema"));
    }
    let range_key = table.range_key.clone();
    let sort_of = |item: &Item| range_key.as_ref().and_then(|r| item.get(r)).cloned();
    // The items of one hash key are adjacent in the table (its encoding leads the key's,
    // `key_string`): a Query reads them, not the whole table.
    let prefix = format!("[{},", hash.to_json());
    let mut matching: Vec<&Item> = table
        .items
        .range(prefix.clone()..)
        .take_while(|(encoded, _)| encoded.starts_with(&prefix))
        .map(|(_, item)| item)
        .filter(|item| item.get(&table.hash_key).is_some_and(|v| v.same(&hash)))
        .filter(|item| match (&range, sort_of(item)) {
            (Some(cond), Some(v)) => range_matches(cond, &v),
            (Some(_), None) => false,
            (None, _) => true,
        })
        .collect();
    let order = |a: &&Item, b: &&Item| match (sort_of(a), sort_of(b)) {
        (Some(x), Some(y)) => x.order(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => std::cmp::Ordering::Equal,
    };
    matching.sort_by(order);
    if !forward {
        matching.reverse();
    }
    let start_sort = request.start.as_ref().and_then(&sort_of);
    let after_start = matching.into_iter().filter(|item| match (&start_sort, sort_of(item)) {
        (Some(s), Some(v)) => {
            let o = v.order(s);
            if forward { o == Some(std::cmp::Ordering::Greater) } else { o == Some(std::cmp::Ordering::Less) }
        }
        // A table without a sort key has one item per hash key: a start key is past it.
        _ => request.start.is_none(),
    });
    Ok(page(table, &request, after_start, input))
}

/// A stable hash of a key's encoding, for Scan segments (FNV-1a).
fn segment_of(encoded: &str, total: u64) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in encoded.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h % total
}

pub fn scan(ctx: &mut Ctx, input: &Input) -> ApiResult {
    refuse_legacy(
        input,
        &[("ScanFilter", "FilterExpression"), ("AttributesToGet", "ProjectionExpression"), ("ConditionalOperator", "FilterExpression")],
    )?;
    let name = table_name(input, "TableName")?;
    let table = table(ctx.partition, &name)?;
    let mut ph = placeholders(input)?;
    let request = page_request_scan(table, input, &mut ph)?;
    finish(input, &ph, &["FilterExpression", "ProjectionExpression"])?;
    let segment = match (input.i64("Segment"), input.i64("TotalSegments")) {
        (None, None) => None,
        (Some(s), Some(t)) => {
            if !(1..=1_000_000).contains(&t) {
                return Err(super::constraint(t, "totalSegments", "Member must have value less than or equal to 1000000"));
            }
            if s < 0 || s >= t {
                return Err(validation(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                )));
            }
            Some((s as u64, t as u64))
        }
        (Some(_), None) => {
            return Err(validation(
                "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
            ));
        }
        (None, Some(_)) => {
            return Err(validation(
                "The Segment parameter is required but was not present in the request when parameter TotalSegments is present",
            ));
        }
    };
    // After the start key: the map is ordered by key, so the walk begins there.
    let start = request.start.as_ref().map(|s| key_string(table, s));
    let after: Box<dyn Iterator<Item = (&String, &Item)>> = match &start {
        Some(s) => Box::new(table.items.range::<str, _>((std::ops::Bound::Excluded(s.as_str()), std::ops::Bound::Unbounded))),
        None => Box::new(table.items.iter()),
    };
    let candidates = after.filter(|(k, _)| segment.is_none_or(|(s, t)| segment_of(k, t) == s)).map(|(_, item)| item);
    Ok(page(table, &request, candidates, input))
}

fn page_request_scan(table: &Table, input: &Input, ph: &mut Placeholders) -> Result<PageRequest, ApiError> {
    // A Scan's filter may name key attributes (only a Query's may not).
    let filter = input.str("FilterExpression").map(|t| parse_condition(t, Kind::Filter, ph)).transpose().map_err(validation)?;
    let without_filter: Map<String, Value> =
        input.0.iter().filter(|(k, _)| k.as_str() != "FilterExpression").map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut request = page_request(table, &Input(&without_filter), ph)?;
    request.filter = filter;
    Ok(request)
}
