//! The CloudWatch Logs handlers against a partition and an event store of their own.

use serde_json::{Value, json};

use super::*;
use crate::state::State;

const NOW: f64 = 1_800_000_000.0;
const NOW_MS: i64 = 1_800_000_000_000;

struct Logs {
    state: State,
    caller: Caller,
    store: EventStore,
    _dir: tempfile::TempDir,
}

impl Logs {
    fn new() -> Logs {
        let dir = tempfile::tempdir().unwrap();
        let mut state = State::default();
        state.partition("123456789012", "us-east-1");
        let caller = Caller { account: "123456789012".into(), region: "us-east-1".into() };
        Logs { state, caller, store: EventStore::new(dir.path()), _dir: dir }
    }

    fn call(&mut self, operation: &str, input: Value) -> ApiResult {
        let partition = self.state.partitions.get_mut("123456789012/us-east-1").unwrap();
        let mut ctx = Ctx { partition, caller: &self.caller, now: NOW };
        dispatch(operation, &mut ctx, &Input(input.as_object().unwrap()), &self.store).unwrap()
    }

    fn ok(&mut self, operation: &str, input: Value) -> Value {
        self.call(operation, input.clone()).unwrap_or_else(|e| panic!("{operation} {input}: {e:?}"))
    }

    fn err(&mut self, operation: &str, input: Value) -> ApiError {
        let before = serde_json::to_string(&self.state.partitions).unwrap();
        let e = self.call(operation, input.clone()).expect_err(&format!("{operation} {input} succeeded"));
        assert_eq!(serde_json::to_string(&self.state.partitions).unwrap(), before, "a refused {operation} changed the state");
        e
    }

    fn put(&mut self, group: &str, stream: &str, events: &[(i64, &str)]) -> Value {
        let events: Vec<Value> = events.iter().map(|(t, m)| json!({"timestamp": t, "message": m})).collect();
        self.ok("PutLogEvents", json!({"logGroupName": group, "logStreamName": stream, "logEvents": events}))
    }

    fn messages(out: &Value) -> Vec<String> {
        out["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_string()).collect()
    }
}

#[test]
fn groups_are_created_described_and_deleted_with_aws_errors() {
    let mut logs = Logs::new();
    logs.ok("CreateLogGroup", json!({"logGroupName": "/ecs/web", "tags": {"team": "a"}}));
    logs.ok("CreateLogGroup", json!({"logGroupName": "/ecs/worker"}));
    logs.ok("CreateLogGroup", json!({"logGroupName": "other"}));
    let e = logs.err("CreateLogGroup", json!({"logGroupName": "/ecs/web"}));
    assert_eq!((e.code.as_str(), e.message.as_str()), ("ResourceAlreadyExistsException", "The specified log group already exists"));
    let e = logs.err("CreateLogGroup", json!({"logGroupName": "bad name"}));
    assert_eq!(e.code, "InvalidParameterException");
    assert!(e.message.contains("regular expression pattern"), "{}", e.message);

    let out = logs.ok("DescribeLogGroups", json!({"logGroupNamePrefix": "/ecs/"}));
    let groups = out["logGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["logGroupName"], "/ecs/web");
    assert_eq!(groups[0]["arn"], "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web:*");
    assert_eq!(groups[0]["logGroupArn"], "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web");
    assert_eq!(groups[0]["creationTime"], NOW_MS);
    assert_eq!(groups[0]["logGroupClass"], "STANDARD");
    assert!(groups[0].get("retentionInDays").is_none());
    let out = logs.ok("DescribeLogGroups", json!({"logGroupNamePattern": "WORK"}));
    assert_eq!(out["logGroups"][0]["logGroupName"], "/ecs/worker", "patterns are case-insensitive");
    assert_eq!(out["logGroups"].as_array().unwrap().len(), 1);

    // Pages of one, to the end.
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"limit": 1});
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let out = logs.ok("DescribeLogGroups", input);
        names.push(out["logGroups"][0]["logGroupName"].as_str().unwrap().to_string());
        match out.get("nextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_string()),
            None => break,
        }
    }
    assert_eq!(names, vec!["/ecs/web", "/ecs/worker", "other"]);
    assert_eq!(logs.err("DescribeLogGroups", json!({"limit": 51})).code, "InvalidParameterException");
    assert_eq!(
        logs.err("DescribeLogGroups", json!({"logGroupNamePrefix": "a", "logGroupNamePattern": "b"})).code,
        "InvalidParameterException"
    );

    logs.ok("PutRetentionPolicy", json!({"logGroupName": "/ecs/web", "retentionInDays": 7}));
    assert_eq!(logs.ok("DescribeLogGroups", json!({"logGroupNamePrefix": "/ecs/web"}))["logGroups"][0]["retentionInDays"], 7);
    assert!(logs.err("PutRetentionPolicy", json!({"logGroupName": "/ecs/web", "retentionInDays": 2})).message.contains("enum value set"));
    logs.ok("DeleteRetentionPolicy", json!({"logGroupName": "/ecs/web"}));
    assert!(logs.ok("DescribeLogGroups", json!({"logGroupNamePrefix": "/ecs/web"}))["logGroups"][0].get("retentionInDays").is_none());

    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web";
    logs.ok("TagResource", json!({"resourceArn": arn, "tags": {"env": "dev"}}));
    assert_eq!(logs.ok("ListTagsForResource", json!({"resourceArn": arn}))["tags"], json!({"env": "dev", "team": "a"}));
    logs.ok("UntagResource", json!({"resourceArn": format!("{arn}:*"), "tagKeys": ["team"]}));
    assert_eq!(logs.ok("ListTagsLogGroup", json!({"logGroupName": "/ecs/web"}))["tags"], json!({"env": "dev"}));
    let e = logs.err("ListTagsForResource", json!({"resourceArn": "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/web"}));
    assert_eq!(e.code, "ResourceNotFoundException");

    logs.ok("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    let e = logs.err("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    assert_eq!((e.code.as_str(), e.message.as_str()), ("ResourceNotFoundException", "The specified log group does not exist."));
    let e = logs.err("PutRetentionPolicy", json!({"logGroupName": "/ecs/web", "retentionInDays": 7}));
    assert_eq!(e.code, "ResourceNotFoundException");
}

#[test]
fn streams_are_listed_by_name_or_last_event_time() {
    let mut logs = Logs::new();
    logs.ok("CreateLogGroup", json!({"logGroupName": "g"}));
    for s in ["b", "a", "c"] {
        logs.ok("CreateLogStream", json!({"logGroupName": "g", "logStreamName": s}));
    }
    let e = logs.err("CreateLogStream", json!({"logGroupName": "g", "logStreamName": "a"}));
    assert_eq!(e.code, "ResourceAlreadyExistsException");
    let e = logs.err("CreateLogStream", json!({"logGroupName": "nope", "logStreamName": "a"}));
    assert_eq!(e.message, "The specified log group does not exist.");
    assert_eq!(logs.err("CreateLogStream", json!({"logGroupName": "g", "logStreamName": "x:y"})).code, "InvalidParameterException");
    logs.put("g", "c", &[(NOW_MS - 3000, "old")]);
    logs.put("g", "a", &[(NOW_MS - 1000, "new")]);

    let names = |out: &Value| -> Vec<String> {
        out["logStreams"].as_array().unwrap().iter().map(|s| s["logStreamName"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&logs.ok("DescribeLogStreams", json!({"logGroupName": "g"}))), vec!["a", "b", "c"]);
    assert_eq!(names(&logs.ok("DescribeLogStreams", json!({"logGroupName": "g", "descending": true}))), vec!["c", "b", "a"]);
    let by_time = logs.ok("DescribeLogStreams", json!({"logGroupName": "g", "orderBy": "LastEventTime", "descending": true}));
    assert_eq!(names(&by_time), vec!["a", "c", "b"]);
    let a = &by_time["logStreams"][0];
    assert_eq!(a["firstEventTimestamp"], NOW_MS - 1000);
    assert_eq!(a["lastEventTimestamp"], NOW_MS - 1000);
    assert_eq!(a["lastIngestionTime"], NOW_MS);
    assert_eq!(a["arn"], "arn:aws:logs:us-east-1:123456789012:log-group:g:log-stream:a");
    assert!(a["uploadSequenceToken"].is_string());
    let b = &by_time["logStreams"][2];
    assert!(b.get("uploadSequenceToken").is_none() && b.get("lastEventTimestamp").is_none(), "no batch yet: {b}");
    let arn = "arn:aws:logs:us-east-1:123456789012:log-group:g:*";
    let prefixed = logs.ok("DescribeLogStreams", json!({"logGroupIdentifier": arn, "logStreamNamePrefix": "b"}));
    assert_eq!(names(&prefixed), vec!["b"]);
    let e = logs.err("DescribeLogStreams", json!({"logGroupName": "g", "orderBy": "LastEventTime", "logStreamNamePrefix": "b"}));
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(logs.err("DescribeLogStreams", json!({"logGroupName": "nope"})).code, "ResourceNotFoundException");
    assert_eq!(logs.err("DescribeLogStreams", json!({})).code, "InvalidParameterException");

    logs.ok("DeleteLogStream", json!({"logGroupName": "g", "logStreamName": "a"}));
    let e = logs.err("DeleteLogStream", json!({"logGroupName": "g", "logStreamName": "a"}));
    assert_eq!(e.message, "The specified log stream does not exist.");
    assert_eq!(names(&logs.ok("DescribeLogStreams", json!({"logGroupName": "g"}))), vec!["b", "c"]);
}

#[test]
fn put_log_events_refuses_bad_batches_and_rejects_events_out_of_range() {
    let mut logs = Logs::new();
    logs.ok("CreateLogGroup", json!({"logGroupName": "g"}));
    logs.ok("CreateLogStream", json!({"logGroupName": "g", "logStreamName": "s"}));
    let batch = |events: Value| json!({"logGroupName": "g", "logStreamName": "s", "logEvents": events});
    let e = logs.err("PutLogEvents", batch(json!([{"timestamp": NOW_MS, "message": "b"}, {"timestamp": NOW_MS - 1, "message": "a"}])));
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
    );
    let e = logs
        .err("PutLogEvents", batch(json!([{"timestamp": NOW_MS - 25 * HOUR_MS, "message": "a"}, {"timestamp": NOW_MS, "message": "b"}])));
    assert!(e.message.contains("cannot span more than 24 hours"), "{}", e.message);
    assert_eq!(logs.err("PutLogEvents", batch(json!([{"timestamp": NOW_MS, "message": ""}]))).code, "InvalidParameterException");
    assert_eq!(logs.err("PutLogEvents", batch(json!([]))).code, "InvalidParameterException");
    let e = logs
        .err("PutLogEvents", json!({"logGroupName": "g", "logStreamName": "nope", "logEvents": [{"timestamp": NOW_MS, "message": "a"}]}));
    assert_eq!(e.message, "The specified log stream does not exist.");
    let e = logs
        .err("PutLogEvents", json!({"logGroupName": "nope", "logStreamName": "s", "logEvents": [{"timestamp": NOW_MS, "message": "a"}]}));
    assert_eq!(e.message, "The specified log group does not exist.");
    let big = "x".repeat(600_000);
    let e = logs.err("PutLogEvents", batch(json!([{"timestamp": NOW_MS, "message": big}, {"timestamp": NOW_MS, "message": big}])));
    assert!(e.message.starts_with("Upload too large"), "{}", e.message);
    let out = logs.ok("GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s"}));
    assert!(Logs::messages(&out).is_empty(), "refused batches wrote nothing");

    let out = logs.put("g", "s", &[(NOW_MS - 14 * DAY_MS - HOUR_MS, "too old"), (NOW_MS - 14 * DAY_MS + HOUR_MS, "old but kept")]);
    assert_eq!(out["rejectedLogEventsInfo"], json!({"tooOldLogEventEndIndex": 0}));
    assert!(out["nextSequenceToken"].as_str().unwrap().len() >= 56);
    let out = logs.put("g", "s", &[(NOW_MS, "kept"), (NOW_MS + 3 * HOUR_MS, "too new")]);
    assert_eq!(out["rejectedLogEventsInfo"], json!({"tooNewLogEventStartIndex": 1}));
    logs.ok("PutRetentionPolicy", json!({"logGroupName": "g", "retentionInDays": 1}));
    let out = logs.put("g", "s", &[(NOW_MS - DAY_MS - HOUR_MS, "expired"), (NOW_MS - DAY_MS + HOUR_MS, "fine")]);
    assert_eq!(out["rejectedLogEventsInfo"], json!({"expiredLogEventEndIndex": 0}));
    let out = logs.put("g", "s", &[(NOW_MS + 2, "last")]);
    assert!(out.get("rejectedLogEventsInfo").is_none());
    let out = logs.ok("GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "startFromHead": true}));
    assert_eq!(Logs::messages(&out), vec!["old but kept", "fine", "kept", "last"]);
}

#[test]
fn get_log_events_pages_both_ways_and_gives_the_same_token_back_at_the_end() {
    let mut logs = Logs::new();
    logs.ok("CreateLogGroup", json!({"logGroupName": "g"}));
    logs.ok("CreateLogStream", json!({"logGroupName": "g", "logStreamName": "s"}));
    let base = NOW_MS - 60_000;
    logs.put("g", "s", &[(base + 2, "c"), (base + 3, "d"), (base + 4, "e")]);
    // An older batch after a newer one: answers are in timestamp order.
    logs.put("g", "s", &[(base, "a"), (base + 1, "b")]);
    let get = |logs: &mut Logs, extra: Value| {
        let mut input = json!({"logGroupName": "g", "logStreamName": "s"});
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        logs.ok("GetLogEvents", input)
    };

    let latest = get(&mut logs, json!({"limit": 2}));
    assert_eq!(Logs::messages(&latest), vec!["d", "e"], "without startFromHead: the newest events");
    let back = get(&mut logs, json!({"limit": 2, "nextToken": latest["nextBackwardToken"]}));
    assert_eq!(Logs::messages(&back), vec!["b", "c"]);
    let back = get(&mut logs, json!({"limit": 2, "nextToken": back["nextBackwardToken"]}));
    assert_eq!(Logs::messages(&back), vec!["a"]);
    let end = get(&mut logs, json!({"limit": 2, "nextToken": back["nextBackwardToken"]}));
    assert!(Logs::messages(&end).is_empty());
    assert_eq!(end["nextBackwardToken"], back["nextBackwardToken"], "the same token at the start");

    let head = get(&mut logs, json!({"limit": 3, "startFromHead": true}));
    assert_eq!(Logs::messages(&head), vec!["a", "b", "c"]);
    let next = get(&mut logs, json!({"limit": 3, "nextToken": head["nextForwardToken"]}));
    assert_eq!(Logs::messages(&next), vec!["d", "e"]);
    let last = get(&mut logs, json!({"limit": 3, "nextToken": next["nextForwardToken"]}));
    assert!(Logs::messages(&last).is_empty());
    assert_eq!(last["nextForwardToken"], next["nextForwardToken"], "the same token when no more events");
    // A new event: the forward token finds it.
    logs.put("g", "s", &[(base + 5, "f")]);
    let more = get(&mut logs, json!({"nextToken": last["nextForwardToken"]}));
    assert_eq!(Logs::messages(&more), vec!["f"]);
    assert_eq!(more["events"][0]["timestamp"], base + 5);
    assert_eq!(more["events"][0]["ingestionTime"], NOW_MS);

    let window = get(&mut logs, json!({"startTime": base + 1, "endTime": base + 3, "startFromHead": true}));
    assert_eq!(Logs::messages(&window), vec!["b", "c"], "startTime included, endTime excluded");
    assert_eq!(
        logs.err("GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "nextToken": "garbage"})).code,
        "InvalidParameterException"
    );
    assert_eq!(
        logs.err("GetLogEvents", json!({"logGroupName": "g", "logStreamName": "s", "limit": 10001})).code,
        "InvalidParameterException"
    );
    assert_eq!(logs.err("GetLogEvents", json!({"logGroupName": "g", "logStreamName": "t"})).code, "ResourceNotFoundException");
}

#[test]
fn filter_log_events_interleaves_streams_matches_patterns_and_pages() {
    let mut logs = Logs::new();
    logs.ok("CreateLogGroup", json!({"logGroupName": "g"}));
    for s in ["app/1", "app/2", "db/1"] {
        logs.ok("CreateLogStream", json!({"logGroupName": "g", "logStreamName": s}));
    }
    let base = NOW_MS - 60_000;
    logs.put("g", "app/1", &[(base, "GET /a 200"), (base + 2, "ERROR disk full"), (base + 4, "GET /b 500")]);
    logs.put("g", "app/2", &[(base + 1, "GET /c 200"), (base + 3, "WARN slow")]);
    logs.put("g", "db/1", &[(base + 2, "ERROR lock timeout")]);
    let filter = |logs: &mut Logs, extra: Value| {
        let mut input = json!({"logGroupName": "g"});
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        logs.ok("FilterLogEvents", input)
    };

    let all = filter(&mut logs, json!({}));
    assert_eq!(Logs::messages(&all), vec!["GET /a 200", "GET /c 200", "ERROR disk full", "ERROR lock timeout", "WARN slow", "GET /b 500"]);
    assert!(all.get("nextToken").is_none());
    let first = &all["events"][0];
    assert_eq!(first["logStreamName"], "app/1");
    assert_eq!(first["ingestionTime"], NOW_MS);
    let ids: std::collections::HashSet<&str> = all["events"].as_array().unwrap().iter().map(|e| e["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 6, "event ids are unique");
    assert!(ids.iter().all(|id| id.len() == 56 && id.bytes().all(|b| b.is_ascii_digit())));
    assert_eq!(filter(&mut logs, json!({}))["events"][0]["eventId"], first["eventId"], "event ids are stable");

    assert_eq!(Logs::messages(&filter(&mut logs, json!({"filterPattern": "ERROR"}))), vec!["ERROR disk full", "ERROR lock timeout"]);
    assert_eq!(Logs::messages(&filter(&mut logs, json!({"filterPattern": "\"disk full\""}))), vec!["ERROR disk full"]);
    assert_eq!(Logs::messages(&filter(&mut logs, json!({"filterPattern": "?WARN ?500"}))), vec!["WARN slow", "GET /b 500"]);
    assert_eq!(
        Logs::messages(&filter(&mut logs, json!({"logStreamNamePrefix": "app/", "filterPattern": "ERROR"}))),
        vec!["ERROR disk full"]
    );
    assert_eq!(Logs::messages(&filter(&mut logs, json!({"logStreamNames": ["db/1", "missing"]}))), vec!["ERROR lock timeout"]);
    let window = filter(&mut logs, json!({"startTime": base + 1, "endTime": base + 2}));
    assert_eq!(Logs::messages(&window), vec!["GET /c 200", "ERROR disk full", "ERROR lock timeout"], "both ends included");

    // Pages of two follow the same order, each event once.
    let mut seen = Vec::new();
    let mut token: Option<Value> = None;
    for _ in 0..10 {
        let mut extra = json!({"limit": 2});
        if let Some(t) = &token {
            extra["nextToken"] = t.clone();
        }
        let page = filter(&mut logs, extra);
        seen.extend(Logs::messages(&page));
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    assert_eq!(seen, Logs::messages(&all));

    let e = logs.err("FilterLogEvents", json!({"logGroupName": "g", "filterPattern": "{ $.level = \"x\" }"}));
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(
        logs.err("FilterLogEvents", json!({"logGroupName": "g", "logStreamNames": ["a"], "logStreamNamePrefix": "a"})).code,
        "InvalidParameterException"
    );
    assert_eq!(logs.err("FilterLogEvents", json!({"logGroupName": "nope"})).message, "The specified log group does not exist.");
    assert_eq!(logs.err("FilterLogEvents", json!({"logGroupName": "g", "nextToken": "x"})).code, "InvalidParameterException");
}

#[test]
fn deleting_a_group_deletes_its_event_files() {
    let mut logs = Logs::new();
    logs.ok("CreateLogGroup", json!({"logGroupName": "/ecs/web"}));
    logs.ok("CreateLogStream", json!({"logGroupName": "/ecs/web", "logStreamName": "s"}));
    logs.put("/ecs/web", "s", &[(NOW_MS, "hello")]);
    let file = logs.state.partitions["123456789012/us-east-1"].log_groups["/ecs/web"].streams["s"].file.clone();
    let path = logs._dir.path().join(store::DIR).join(&file);
    assert!(std::fs::read_to_string(&path).unwrap().contains("hello"));
    logs.ok("DeleteLogGroup", json!({"logGroupName": "/ecs/web"}));
    assert!(!path.exists());
    // A new group of the same name starts empty.
    logs.ok("CreateLogGroup", json!({"logGroupName": "/ecs/web"}));
    logs.ok("CreateLogStream", json!({"logGroupName": "/ecs/web", "logStreamName": "s"}));
    let out = logs.ok("GetLogEvents", json!({"logGroupName": "/ecs/web", "logStreamName": "s"}));
    assert!(Logs::messages(&out).is_empty());
}
