//! CloudWatch Logs (AWS JSON 1.1, target prefix `Logs_20140328`), per the botocore model
//! `models/logs.json.gz` and the CloudWatch Logs API reference: log groups and streams,
//! PutLogEvents, GetLogEvents and FilterLogEvents (what `aws logs tail` polls), retention
//! policies and tags. ECS tasks whose containers use the `awslogs` driver write here
//! (`awslogs`).
//!
//! Groups and streams live in the partition state (`state::LogGroup`); events in the event
//! store (`store`), one append-only file per stream, read page by page (`query`) so that no
//! stream is ever held in memory whole. Times on this API are epoch milliseconds.

pub mod awslogs;
mod pattern;
mod query;
pub mod store;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::api::{ApiError, ApiResult, Caller, Ctx, Input, paginate, put};
use crate::state::{LogGroup, LogStream, Partition};
use pattern::Pattern;
use store::{EventStore, StoredEvent};

/// What PutLogEvents accepts at most in one batch: the messages' UTF-8 bytes plus 26 bytes
/// per event (CloudWatch Logs quotas).
const MAX_BATCH_BYTES: usize = 1_048_576;
/// The overhead CloudWatch Logs counts per event.
const EVENT_OVERHEAD: usize = 26;
/// The values PutRetentionPolicy accepts (the API reference's `retentionInDays`).
const RETENTION_DAYS: [i64; 22] = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Runs one CloudWatch Logs operation with the event store `events`; None for an operation
/// ferry local does not implement. The input was checked against the model's shapes; the
/// lengths, patterns and ranges the model states are checked here, before anything changes.
pub fn dispatch(operation: &str, ctx: &mut Ctx, input: &Input, events: &EventStore) -> Option<ApiResult> {
    Some(match operation {
        "CreateLogGroup" => create_log_group(ctx, input),
        "DeleteLogGroup" => delete_log_group(ctx, input, events),
        "DescribeLogGroups" => describe_log_groups(ctx, input),
        "CreateLogStream" => create_log_stream(ctx, input),
        "DeleteLogStream" => delete_log_stream(ctx, input, events),
        "DescribeLogStreams" => describe_log_streams(ctx, input),
        "PutLogEvents" => put_log_events(ctx, input, events),
        "GetLogEvents" => get_log_events(ctx, input, events),
        "FilterLogEvents" => filter_log_events(ctx, input, events),
        "PutRetentionPolicy" => put_retention_policy(ctx, input),
        "DeleteRetentionPolicy" => delete_retention_policy(ctx, input),
        "TagResource" => tag_resource(ctx, input),
        "UntagResource" => untag_resource(ctx, input),
        "ListTagsForResource" => list_tags_for_resource(ctx, input),
        "TagLogGroup" => tag_log_group(ctx, input),
        "UntagLogGroup" => untag_log_group(ctx, input),
        "ListTagsLogGroup" => list_tags_log_group(ctx, input),
        _ => return None,
    })
}

// --- errors and checks -----------------------------------------------------------------

/// `ResourceNotFoundException`, as AWS words it for a missing log group.
pub fn group_not_found() -> ApiError {
    ApiError::client("ResourceNotFoundException", "The specified log group does not exist.")
}

fn stream_not_found() -> ApiError {
    ApiError::client("ResourceNotFoundException", "The specified log stream does not exist.")
}

/// A model constraint the request breaks, in the words of AWS's validation errors.
fn validation(problem: String) -> ApiError {
    ApiError::invalid_parameter(format!("1 validation error detected: {problem}"))
}

/// `logGroupName`: 1 to 512 characters of `[.\-_/#A-Za-z0-9]`.
fn check_group_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_length(field, name, 512)?;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')) {
        return Err(validation(format!(
            "Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )));
    }
    Ok(())
}

/// `logStreamName` (and its prefix): 1 to 512 characters, no `:` or `*`.
fn check_stream_name(field: &str, name: &str) -> Result<(), ApiError> {
    check_length(field, name, 512)?;
    if name.contains([':', '*']) {
        return Err(validation(format!(
            "Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )));
    }
    Ok(())
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let len = value.chars().count();
    if len == 0 {
        return Err(validation(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )));
    }
    if len > max {
        return Err(validation(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    Ok(())
}

/// `limit` within 1..=max, or `default` when absent.
fn limit(input: &Input, max: i64, default: usize) -> Result<usize, ApiError> {
    match input.i64("limit") {
        None => Ok(default),
        Some(n) if n < 1 => Err(validation(format!(
            "Value '{n}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ))),
        Some(n) if n > max => Err(validation(format!(
            "Value '{n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {max}"
        ))),
        Some(n) => Ok(n as usize),
    }
}

/// A timestamp member (epoch milliseconds, at least 0).
fn time(input: &Input, field: &str) -> Result<Option<i64>, ApiError> {
    match input.i64(field) {
        Some(t) if t < 0 => Err(validation(format!(
            "Value '{t}' at '{field}' failed to satisfy constraint: Member must have value greater than or equal to 0"
        ))),
        t => Ok(t),
    }
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

// --- names and ARNs ----------------------------------------------------------------------

/// `arn:aws:logs:REGION:ACCOUNT:log-group:NAME` (`logGroupArn`; `arn` adds `:*`).
pub fn group_arn(caller: &Caller, name: &str) -> String {
    caller.arn("logs", &format!("log-group:{name}"))
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (a name or an ARN,
/// with or without `:*`). Errors: both or neither given (InvalidParameterException), a
/// malformed name, an ARN of another account or region (ResourceNotFoundException).
fn group_name_of(input: &Input, caller: &Caller) -> Result<String, ApiError> {
    match (input.str("logGroupName"), input.str("logGroupIdentifier")) {
        (Some(_), Some(_)) => Err(ApiError::invalid_parameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")),
        (Some(name), None) => {
            check_group_name("logGroupName", name)?;
            Ok(name.to_string())
        }
        (None, Some(identifier)) => {
            check_length("logGroupIdentifier", identifier, 2048)?;
            if identifier.starts_with("arn:") { group_of_arn(identifier, caller) } else { Ok(identifier.to_string()) }
        }
        (None, None) => Err(ApiError::invalid_parameter("Should provide either a log group name or a log group ARN.")),
    }
}

/// The group name of a log group ARN of the caller's account and region.
fn group_of_arn(arn: &str, caller: &Caller) -> Result<String, ApiError> {
    let prefix = format!("{}:", group_arn(caller, "").trim_end_matches(':'));
    let name = arn.strip_prefix(&prefix).ok_or_else(group_not_found)?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    if name.is_empty() || name.contains(':') {
        return Err(group_not_found());
    }
    Ok(name.to_string())
}

fn group<'p>(partition: &'p Partition, name: &str) -> Result<&'p LogGroup, ApiError> {
    partition.log_groups.get(name).ok_or_else(group_not_found)
}

fn group_mut<'p>(partition: &'p mut Partition, name: &str) -> Result<&'p mut LogGroup, ApiError> {
    partition.log_groups.get_mut(name).ok_or_else(group_not_found)
}

// --- what the awslogs driver shares ------------------------------------------------------

/// A new, empty log group `name` created at `now_ms` (class STANDARD, no retention).
pub fn new_group(name: &str, now_ms: i64) -> LogGroup {
    LogGroup {
        name: name.to_string(),
        created_at: now_ms,
        retention_in_days: None,
        kms_key_id: None,
        log_group_class: "STANDARD".into(),
        deletion_protection: false,
        tags: BTreeMap::new(),
        streams: BTreeMap::new(),
    }
}

/// A new, empty stream `stream` of `group` in `partition`, its event file not yet written.
pub fn new_stream(partition: &Partition, group: &str, stream: &str, now_ms: i64) -> LogStream {
    let number = u64::from_str_radix(&crate::api::hex_id(15), 16).unwrap_or_default();
    LogStream {
        name: stream.to_string(),
        created_at: now_ms,
        file: EventStore::new_file(&partition.account, &partition.region, group, stream),
        number,
        first_event: None,
        last_event: None,
        last_ingestion: None,
        stored_bytes: 0,
        batches: 0,
    }
}

/// Records in `stream` a batch of `events` just written to its file.
pub fn record_batch(stream: &mut LogStream, events: &[StoredEvent]) {
    for e in events {
        stream.first_event = Some(stream.first_event.map_or(e.timestamp, |f| f.min(e.timestamp)));
        stream.last_event = Some(stream.last_event.map_or(e.timestamp, |l| l.max(e.timestamp)));
        stream.last_ingestion = Some(stream.last_ingestion.map_or(e.ingestion_time, |l| l.max(e.ingestion_time)));
        stream.stored_bytes += (e.message.len() + EVENT_OVERHEAD) as u64;
    }
    stream.batches += 1;
}

/// The sequence token of a stream's next batch. AWS ignores sequence tokens since 2023 but
/// still answers them (`nextSequenceToken`, `uploadSequenceToken`).
fn sequence_token(stream: &LogStream) -> String {
    format!("49{:054}", stream.batches)
}

// --- log groups ----------------------------------------------------------------------------

fn create_log_group(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    let tags = tag_map(input.value("tags"))?;
    if ctx.partition.log_groups.contains_key(name) {
        return Err(ApiError::client("ResourceAlreadyExistsException", "The specified log group already exists"));
    }
    let mut group = new_group(name, millis(ctx.now));
    group.kms_key_id = input.str("kmsKeyId").map(str::to_string);
    group.log_group_class = input.str("logGroupClass").unwrap_or("STANDARD").to_string();
    group.deletion_protection = input.bool("deletionProtectionEnabled").unwrap_or(false);
    group.tags = tags;
    ctx.partition.log_groups.insert(name.to_string(), group);
    Ok(json!({}))
}

fn delete_log_group(ctx: &mut Ctx, input: &Input, events: &EventStore) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    if group(ctx.partition, name)?.deletion_protection {
        return Err(ApiError::client(
            "ValidationException",
            "Log group deletion is not allowed because deletion protection is enabled on the log group.",
        ));
    }
    let removed = ctx.partition.log_groups.remove(name).ok_or_else(group_not_found)?;
    // The events go with the group. Should persisting the deletion fail, the group comes
    // back (server.rs undoes the write) without its events: a failure the answer reports.
    let files: Vec<String> = removed.streams.values().map(|s| s.file.clone()).collect();
    events.remove(&files);
    Ok(json!({}))
}

fn group_json(caller: &Caller, g: &LogGroup) -> Value {
    let arn = group_arn(caller, &g.name);
    let mut out = Map::new();
    out.insert("logGroupName".into(), json!(g.name));
    out.insert("creationTime".into(), json!(g.created_at));
    put(&mut out, "retentionInDays", g.retention_in_days);
    out.insert("metricFilterCount".into(), json!(0));
    out.insert("arn".into(), json!(format!("{arn}:*")));
    out.insert("storedBytes".into(), json!(g.stored_bytes()));
    put(&mut out, "kmsKeyId", g.kms_key_id.clone());
    out.insert("logGroupClass".into(), json!(g.log_group_class));
    out.insert("logGroupArn".into(), json!(arn));
    if g.deletion_protection {
        out.insert("deletionProtectionEnabled".into(), json!(true));
    }
    Value::Object(out)
}

fn describe_log_groups(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let limit = limit(input, 50, 50)?;
    let prefix = input.str("logGroupNamePrefix");
    let pattern = input.str("logGroupNamePattern");
    let identifiers = input.strings("logGroupIdentifiers");
    if prefix.is_some() && pattern.is_some() {
        return Err(ApiError::invalid_parameter("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters."));
    }
    if !identifiers.is_empty() && (prefix.is_some() || pattern.is_some()) {
        return Err(ApiError::invalid_parameter("logGroupIdentifiers cannot be combined with logGroupNamePrefix or logGroupNamePattern."));
    }
    if let Some(p) = prefix {
        check_group_name("logGroupNamePrefix", p)?;
    }
    let wanted: Vec<String> = identifiers
        .iter()
        .map(|i| if i.starts_with("arn:") { group_of_arn(i, ctx.caller).unwrap_or_default() } else { i.clone() })
        .collect();
    let pattern = pattern.map(str::to_lowercase);
    let class = input.str("logGroupClass");
    let groups: Vec<Value> = ctx
        .partition
        .log_groups
        .values()
        .filter(|g| prefix.is_none_or(|p| g.name.starts_with(p)))
        .filter(|g| pattern.as_deref().is_none_or(|p| g.name.to_lowercase().contains(p)))
        .filter(|g| identifiers.is_empty() || wanted.contains(&g.name))
        .filter(|g| class.is_none_or(|c| g.log_group_class == c))
        .map(|g| group_json(ctx.caller, g))
        .collect();
    let (page, next) = paginate(&groups, input.str("nextToken"), Some(limit as i64), 50, 50)?;
    let mut out = Map::new();
    out.insert("logGroups".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

fn put_retention_policy(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    let days = input.i64("retentionInDays").unwrap_or_default();
    if !RETENTION_DAYS.contains(&days) {
        let allowed: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
        return Err(validation(format!(
            "Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        )));
    }
    group_mut(ctx.partition, name)?.retention_in_days = Some(days);
    Ok(json!({}))
}

fn delete_retention_policy(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    group_mut(ctx.partition, name)?.retention_in_days = None;
    Ok(json!({}))
}

// --- tags ------------------------------------------------------------------------------------

/// A `tags` map of the request (keys 1 to 128 characters, values at most 256, at most 50).
fn tag_map(value: Option<&Value>) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(map) = value.and_then(Value::as_object) else { return Ok(BTreeMap::new()) };
    if map.len() > 50 {
        return Err(ApiError::client("TooManyTagsException", "A resource can have no more than 50 tags."));
    }
    let mut tags = BTreeMap::new();
    for (k, v) in map {
        check_length("tags", k, 128)?;
        let v = v.as_str().unwrap_or_default();
        if v.chars().count() > 256 {
            return Err(validation(format!(
                "Value '{v}' at 'tags.{k}' failed to satisfy constraint: Member must have length less than or equal to 256"
            )));
        }
        tags.insert(k.clone(), v.to_string());
    }
    Ok(tags)
}

fn add_tags(group: &mut LogGroup, tags: BTreeMap<String, String>) -> Result<(), ApiError> {
    let mut merged = group.tags.clone();
    merged.extend(tags);
    if merged.len() > 50 {
        return Err(ApiError::client("TooManyTagsException", "A resource can have no more than 50 tags."));
    }
    group.tags = merged;
    Ok(())
}

/// The group a `resourceArn` names (log groups are the only taggable resource here).
fn tagged_group<'p>(ctx: &'p mut Ctx, input: &Input) -> Result<&'p mut LogGroup, ApiError> {
    let arn = input.required_str("resourceArn")?;
    let name = group_of_arn(arn, ctx.caller)?;
    group_mut(ctx.partition, &name)
}

fn tag_resource(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let tags = tag_map(input.value("tags"))?;
    add_tags(tagged_group(ctx, input)?, tags)?;
    Ok(json!({}))
}

fn untag_resource(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let keys = input.strings("tagKeys");
    let group = tagged_group(ctx, input)?;
    group.tags.retain(|k, _| !keys.contains(k));
    Ok(json!({}))
}

fn list_tags_for_resource(ctx: &mut Ctx, input: &Input) -> ApiResult {
    Ok(json!({ "tags": tagged_group(ctx, input)?.tags }))
}

fn tag_log_group(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    let tags = tag_map(input.value("tags"))?;
    add_tags(group_mut(ctx.partition, name)?, tags)?;
    Ok(json!({}))
}

fn untag_log_group(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    let keys = input.strings("tags");
    group_mut(ctx.partition, name)?.tags.retain(|k, _| !keys.contains(k));
    Ok(json!({}))
}

fn list_tags_log_group(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    check_group_name("logGroupName", name)?;
    Ok(json!({ "tags": group(ctx.partition, name)?.tags }))
}

// --- log streams -----------------------------------------------------------------------------

fn create_log_stream(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    let stream = input.required_str("logStreamName")?;
    check_group_name("logGroupName", name)?;
    check_stream_name("logStreamName", stream)?;
    let created = new_stream(ctx.partition, name, stream, millis(ctx.now));
    let group = group_mut(ctx.partition, name)?;
    if group.streams.contains_key(stream) {
        return Err(ApiError::client("ResourceAlreadyExistsException", "The specified log stream already exists"));
    }
    group.streams.insert(stream.to_string(), created);
    Ok(json!({}))
}

fn delete_log_stream(ctx: &mut Ctx, input: &Input, events: &EventStore) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    let stream = input.required_str("logStreamName")?;
    check_group_name("logGroupName", name)?;
    check_stream_name("logStreamName", stream)?;
    let removed = group_mut(ctx.partition, name)?.streams.remove(stream).ok_or_else(stream_not_found)?;
    events.remove(&[removed.file]);
    Ok(json!({}))
}

fn stream_json(caller: &Caller, group: &str, s: &LogStream) -> Value {
    let mut out = Map::new();
    out.insert("logStreamName".into(), json!(s.name));
    out.insert("creationTime".into(), json!(s.created_at));
    put(&mut out, "firstEventTimestamp", s.first_event);
    put(&mut out, "lastEventTimestamp", s.last_event);
    put(&mut out, "lastIngestionTime", s.last_ingestion);
    // A stream that never received a batch has no sequence token (describe-log-streams example).
    if s.batches > 0 {
        out.insert("uploadSequenceToken".into(), json!(sequence_token(s)));
    }
    out.insert("arn".into(), json!(format!("{}:log-stream:{}", group_arn(caller, group), s.name)));
    // Deprecated: AWS answers 0 for a stream's stored bytes.
    out.insert("storedBytes".into(), json!(0));
    Value::Object(out)
}

fn describe_log_streams(ctx: &mut Ctx, input: &Input) -> ApiResult {
    let name = group_name_of(input, ctx.caller)?;
    let limit = limit(input, 50, 50)?;
    let prefix = input.str("logStreamNamePrefix");
    if let Some(p) = prefix {
        check_stream_name("logStreamNamePrefix", p)?;
    }
    let by_time = input.str("orderBy") == Some("LastEventTime");
    if by_time && prefix.is_some() {
        return Err(ApiError::invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix."));
    }
    let group = group(ctx.partition, &name)?;
    let mut streams: Vec<&LogStream> = group.streams.values().filter(|s| prefix.is_none_or(|p| s.name.starts_with(p))).collect();
    if by_time {
        streams.sort_by(|a, b| (a.last_event, &a.name).cmp(&(b.last_event, &b.name)));
    }
    if input.bool("descending") == Some(true) {
        streams.reverse();
    }
    let values: Vec<Value> = streams.iter().map(|s| stream_json(ctx.caller, &name, s)).collect();
    let (page, next) = paginate(&values, input.str("nextToken"), Some(limit as i64), 50, 50)?;
    let mut out = Map::new();
    out.insert("logStreams".into(), json!(page));
    put(&mut out, "nextToken", next);
    Ok(Value::Object(out))
}

// --- events ----------------------------------------------------------------------------------

/// The store's failure to read or write, as an answer: nothing was changed.
fn store_error(e: &std::io::Error) -> ApiError {
    ApiError::new(
        503,
        "ServiceUnavailableException",
        format!("ferry local could not read or write log events ({e}); nothing was changed. Check the state directory and retry."),
    )
}

fn put_log_events(ctx: &mut Ctx, input: &Input, events: &EventStore) -> ApiResult {
    let name = input.required_str("logGroupName")?;
    let stream = input.required_str("logStreamName")?;
    check_group_name("logGroupName", name)?;
    check_stream_name("logStreamName", stream)?;
    let items = input.array("logEvents");
    if items.is_empty() || items.len() > 10_000 {
        let bound = if items.is_empty() { "greater than or equal to 1" } else { "less than or equal to 10000" };
        return Err(validation(format!("Value at 'logEvents' failed to satisfy constraint: Member must have length {bound}")));
    }
    let mut batch = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let timestamp = item.get("timestamp").and_then(Value::as_i64).unwrap_or_default();
        let message = item.get("message").and_then(Value::as_str).unwrap_or_default();
        if timestamp < 0 {
            return Err(validation(format!(
                "Value '{timestamp}' at 'logEvents.{}.member.timestamp' failed to satisfy constraint: Member must have value greater than or equal to 0",
                i + 1
            )));
        }
        if message.is_empty() {
            return Err(validation(format!(
                "Value '' at 'logEvents.{}.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1",
                i + 1
            )));
        }
        batch.push((timestamp, message));
    }
    let group = group(ctx.partition, name)?;
    let retention = group.retention_in_days;
    let file = group.streams.get(stream).ok_or_else(stream_not_found)?.file.clone();
    if batch.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(ApiError::invalid_parameter("Log events in a single PutLogEvents request must be in chronological order."));
    }
    let (first, last) = (batch[0].0, batch[batch.len() - 1].0);
    if last - first > DAY_MS {
        return Err(ApiError::invalid_parameter(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let size: usize = batch.iter().map(|(_, m)| m.len() + EVENT_OVERHEAD).sum();
    if size > MAX_BATCH_BYTES {
        return Err(ApiError::invalid_parameter(format!("Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")));
    }
    // Events over two hours ahead, over 14 days old or older than the retention period are
    // rejected one by one (rejectedLogEventsInfo), the rest kept. The batch is in order, so
    // the too-old ones lead and the too-new ones trail.
    let now = millis(ctx.now);
    let too_new = batch.iter().position(|(t, _)| *t > now + 2 * HOUR_MS);
    let too_old = batch.iter().rposition(|(t, _)| *t < now - 14 * DAY_MS);
    let expired = retention.and_then(|days| batch.iter().rposition(|(t, _)| *t < now - days * DAY_MS));
    let start = too_old.max(expired).map_or(0, |i| i + 1);
    let end = too_new.unwrap_or(batch.len()).max(start);
    let kept: Vec<StoredEvent> =
        batch[start..end].iter().map(|(t, m)| StoredEvent { timestamp: *t, ingestion_time: now, message: (*m).to_string() }).collect();
    events.append(&file, &kept, true).map_err(|e| store_error(&e))?;
    let record = group_mut(ctx.partition, name)?.streams.get_mut(stream).ok_or_else(stream_not_found)?;
    if kept.is_empty() {
        record.batches += 1;
    } else {
        record_batch(record, &kept);
    }
    let mut out = Map::new();
    out.insert("nextSequenceToken".into(), json!(sequence_token(record)));
    if too_new.is_some() || too_old.is_some() || expired.is_some() {
        let mut rejected = Map::new();
        put(&mut rejected, "tooNewLogEventStartIndex", too_new);
        put(&mut rejected, "tooOldLogEventEndIndex", too_old);
        put(&mut rejected, "expiredLogEventEndIndex", expired);
        out.insert("rejectedLogEventsInfo".into(), Value::Object(rejected));
    }
    Ok(Value::Object(out))
}

fn get_log_events(ctx: &mut Ctx, input: &Input, events: &EventStore) -> ApiResult {
    let name = group_name_of(input, ctx.caller)?;
    let stream = input.required_str("logStreamName")?;
    check_stream_name("logStreamName", stream)?;
    let limit = limit(input, 10_000, 10_000)?;
    let (start, end) = (time(input, "startTime")?, time(input, "endTime")?);
    let file = group(ctx.partition, &name)?.streams.get(stream).ok_or_else(stream_not_found)?.file.clone();
    let from = match input.str("nextToken") {
        Some(token) => query::StreamPosition::parse(token)?,
        None if input.bool("startFromHead") == Some(true) => query::StreamPosition::head(),
        None => query::StreamPosition::tail(),
    };
    let page = query::stream_page(events, &file, from, start, end, limit).map_err(|e| store_error(&e))?;
    let listed: Vec<Value> =
        page.events.iter().map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time})).collect();
    Ok(json!({
        "events": listed,
        "nextForwardToken": page.forward.token(),
        "nextBackwardToken": page.backward.token(),
    }))
}

fn filter_log_events(ctx: &mut Ctx, input: &Input, events: &EventStore) -> ApiResult {
    let name = group_name_of(input, ctx.caller)?;
    let names = input.strings("logStreamNames");
    let prefix = input.str("logStreamNamePrefix");
    if !names.is_empty() && prefix.is_some() {
        return Err(ApiError::invalid_parameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters."));
    }
    if names.len() > 100 {
        return Err(validation(
            "Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100".to_string(),
        ));
    }
    for n in &names {
        check_stream_name("logStreamNames", n)?;
    }
    if let Some(p) = prefix {
        check_stream_name("logStreamNamePrefix", p)?;
    }
    let limit = limit(input, 10_000, 10_000)?;
    let (start, end) = (time(input, "startTime")?, time(input, "endTime")?);
    let pattern = Pattern::parse(input.str("filterPattern").unwrap_or_default())?;
    let after = input.str("nextToken").map(query::GroupPosition::parse).transpose()?;
    let group = group(ctx.partition, &name)?;
    let streams: Vec<&LogStream> = group
        .streams
        .values()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .filter(|s| prefix.is_none_or(|p| s.name.starts_with(p)))
        .collect();
    let page = query::group_page(events, &streams, after.as_ref(), start, end, &pattern, limit).map_err(|e| store_error(&e))?;
    let listed: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            json!({
                "logStreamName": e.stream,
                "timestamp": e.event.timestamp,
                "message": e.event.message,
                "ingestionTime": e.event.ingestion_time,
                "eventId": e.event_id,
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert("events".into(), json!(listed));
    // Deprecated since every search is interleaved; AWS answers it empty.
    out.insert("searchedLogStreams".into(), json!([]));
    put(&mut out, "nextToken", page.next.map(|p| p.token()));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests;
