//! The operations through `dispatch`, as a client sees them (inputs and outputs in wire form).

use serde_json::{Value, json};

use super::*;
use crate::api::{ApiResult, Caller};
use crate::state::Partition;

fn call(p: &mut Partition, operation: &str, input: Value) -> ApiResult {
    call_at(p, operation, input, 1_700_000_000.0)
}

fn call_at(p: &mut Partition, operation: &str, input: Value, now: f64) -> ApiResult {
    let caller = Caller { account: "123456789012".into(), region: "eu-west-1".into() };
    let map = input.as_object().cloned().unwrap_or_default();
    let mut ctx = Ctx { partition: p, caller: &caller, now };
    dispatch(operation, &mut ctx, &Input(&map)).unwrap()
}

fn partition() -> Partition {
    let mut p = Partition { account: "123456789012".into(), region: "eu-west-1".into(), ..Default::default() };
    call(
        &mut p,
        "CreateTable",
        json!({
            "TableName": "ledger",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
            "BillingMode": "PAY_PER_REQUEST"
        }),
    )
    .unwrap();
    p
}

fn put(p: &mut Partition, pk: &str, sk: i64, extra: Value) {
    let mut item = json!({"pk": {"S": pk}, "sk": {"N": sk.to_string()}});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        item[k] = v;
    }
    call(p, "PutItem", json!({"TableName": "ledger", "Item": item})).unwrap();
}

fn code(r: ApiResult) -> String {
    r.unwrap_err().code
}

#[test]
fn tables_are_created_described_listed_and_deleted() {
    let mut p = partition();
    let t = call(&mut p, "DescribeTable", json!({"TableName": "ledger"})).unwrap();
    assert_eq!(t["Table"]["TableStatus"], "ACTIVE");
    assert_eq!(t["Table"]["TableArn"], "arn:aws:dynamodb:eu-west-1:123456789012:table/ledger");
    assert_eq!(t["Table"]["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST");
    let dup = json!({"TableName": "ledger", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"});
    assert_eq!(code(call(&mut p, "CreateTable", dup.clone())), "ResourceInUseException");
    let mut undefined = dup.clone();
    undefined["TableName"] = json!("other");
    undefined["AttributeDefinitions"] = json!([{"AttributeName": "id", "AttributeType": "S"}]);
    let e = call(&mut p, "CreateTable", undefined).unwrap_err();
    assert!(e.message.contains("Some index key attributes are not defined in AttributeDefinitions"), "{}", e.message);
    let mut provisioned = dup.clone();
    provisioned["TableName"] = json!("prov");
    provisioned.as_object_mut().unwrap().remove("BillingMode");
    assert!(call(&mut p, "CreateTable", provisioned.clone()).unwrap_err().message.contains("must both be specified"));
    provisioned["ProvisionedThroughput"] = json!({"ReadCapacityUnits": 5, "WriteCapacityUnits": 5});
    call(&mut p, "CreateTable", provisioned).unwrap();
    let mut gsi = dup.clone();
    gsi["TableName"] = json!("gsi");
    gsi["GlobalSecondaryIndexes"] = json!([{"IndexName": "i"}]);
    assert!(call(&mut p, "CreateTable", gsi).unwrap_err().message.contains("secondary indexes"));
    let page = call(&mut p, "ListTables", json!({"Limit": 1})).unwrap();
    assert_eq!(page, json!({"TableNames": ["ledger"], "LastEvaluatedTableName": "ledger"}));
    let next = call(&mut p, "ListTables", json!({"ExclusiveStartTableName": "ledger"})).unwrap();
    assert_eq!(next, json!({"TableNames": ["prov"]}));
    let deleted = call(&mut p, "DeleteTable", json!({"TableName": "prov"})).unwrap();
    assert_eq!(deleted["TableDescription"]["TableStatus"], "DELETING");
    assert_eq!(code(call(&mut p, "DescribeTable", json!({"TableName": "prov"}))), "ResourceNotFoundException");
    assert_eq!(code(call(&mut p, "GetItem", json!({"TableName": "prov", "Key": {"pk": {"S": "a"}}}))), "ResourceNotFoundException");
}

#[test]
fn conditional_puts_fail_with_the_old_item_when_asked() {
    let mut p = partition();
    let lock = json!({"TableName": "ledger", "Item": {"pk": {"S": "lock"}, "sk": {"N": "0"}, "owner": {"S": "a"}},
        "ConditionExpression": "attribute_not_exists(pk)"});
    call(&mut p, "PutItem", lock.clone()).unwrap();
    let mut again = lock.clone();
    again["Item"]["owner"] = json!({"S": "b"});
    again["ReturnValuesOnConditionCheckFailure"] = json!("ALL_OLD");
    let e = call(&mut p, "PutItem", again).unwrap_err();
    assert_eq!((e.code.as_str(), e.message.as_str()), ("ConditionalCheckFailedException", "The conditional request failed"));
    assert_eq!(e.extra.unwrap()["Item"]["owner"], json!({"S": "a"}));
    let got = call(&mut p, "GetItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "lock"}, "sk": {"N": "0"}}})).unwrap();
    assert_eq!(got["Item"]["owner"], json!({"S": "a"}), "a failed condition changes nothing");
    let old = call(
        &mut p,
        "PutItem",
        json!({"TableName": "ledger", "Item": {"pk": {"S": "lock"}, "sk": {"N": "0"}, "owner": {"S": "c"}},
            "ConditionExpression": "#o = :me", "ExpressionAttributeNames": {"#o": "owner"},
            "ExpressionAttributeValues": {":me": {"S": "a"}}, "ReturnValues": "ALL_OLD"}),
    )
    .unwrap();
    assert_eq!(old["Attributes"]["owner"], json!({"S": "a"}));
    let bad =
        call(&mut p, "PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": "x"}, "sk": {"N": "1"}}, "ReturnValues": "ALL_NEW"}));
    assert_eq!(bad.unwrap_err().message, "Return values set to invalid value");
}

#[test]
fn keys_items_and_placeholders_are_validated_as_dynamodb_does() {
    let mut p = partition();
    let e = |p: &mut Partition, op: &str, v: Value| call(p, op, v).unwrap_err().message;
    assert_eq!(
        e(&mut p, "PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": "a"}}})),
        "One or more parameter values were invalid: Missing the key sk in the item"
    );
    assert_eq!(
        e(&mut p, "PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}}})),
        "One or more parameter values were invalid: Type mismatch for key sk expected: N actual: S"
    );
    assert!(
        e(&mut p, "PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": ""}, "sk": {"N": "1"}}}))
            .contains("cannot contain an empty string value")
    );
    assert_eq!(
        e(&mut p, "GetItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "a"}}})),
        "The provided key element does not match the schema"
    );
    assert_eq!(
        e(
            &mut p,
            "PutItem",
            json!({"TableName": "ledger", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":unused": {"S": "x"}}})
        ),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"
    );
    assert!(
        e(
            &mut p,
            "PutItem",
            json!({"TableName": "ledger", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "ConditionExpression": "a = :v",
        "ExpressionAttributeValues": {":v": {"NS": []}}})
        )
        .starts_with("ExpressionAttributeValues contains invalid value")
    );
    let big = "x".repeat(MAX_ITEM_SIZE);
    assert_eq!(
        e(&mut p, "PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "blob": {"S": big}}})),
        "Item size has exceeded the maximum allowed size"
    );
    assert!(
        e(&mut p, "PutItem", json!({"TableName": "ledger", "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}, "Expected": {}}))
            .contains("legacy parameter Expected")
    );
    assert!(p.dynamodb.tables["ledger"].items.is_empty(), "refused writes stored something");
}

#[test]
fn update_item_creates_updates_and_returns_what_was_asked() {
    let mut p = partition();
    let key = json!({"pk": {"S": "svc"}, "sk": {"N": "1"}});
    let out = call(
        &mut p,
        "UpdateItem",
        json!({"TableName": "ledger", "Key": key, "UpdateExpression": "SET #v = if_not_exists(#v, :zero) + :one, tags = :tags",
            "ExpressionAttributeNames": {"#v": "version"}, "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}, ":tags": {"SS": ["a"]}},
            "ReturnValues": "ALL_NEW"}),
    )
    .unwrap();
    assert_eq!(out["Attributes"]["version"], json!({"N": "1"}));
    assert_eq!(out["Attributes"]["pk"], json!({"S": "svc"}));
    let out = call(
        &mut p,
        "UpdateItem",
        json!({"TableName": "ledger", "Key": key, "UpdateExpression": "ADD version :one, tags :more",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":more": {"SS": ["b"]}}, "ReturnValues": "UPDATED_OLD"}),
    )
    .unwrap();
    assert_eq!(out["Attributes"], json!({"version": {"N": "1"}, "tags": {"SS": ["a"]}}));
    let out = call(
        &mut p,
        "UpdateItem",
        json!({"TableName": "ledger", "Key": key, "UpdateExpression": "REMOVE tags SET n.deep = :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}}, "ReturnValues": "UPDATED_NEW"}),
    );
    assert!(out.unwrap_err().message.contains("document path provided in the update expression is invalid"));
    let e = call(
        &mut p,
        "UpdateItem",
        json!({"TableName": "ledger", "Key": key, "UpdateExpression": "SET pk = :x", "ExpressionAttributeValues": {":x": {"S": "y"}}}),
    );
    assert!(e.unwrap_err().message.contains("Cannot update attribute pk. This attribute is part of the key"));
    let e = call(
        &mut p,
        "UpdateItem",
        json!({"TableName": "ledger", "Key": key, "UpdateExpression": "SET version = :two", "ConditionExpression": "version = :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "3"}}}),
    );
    assert_eq!(code(e), "ConditionalCheckFailedException", "version is 2 now");
    let deleted = call(&mut p, "DeleteItem", json!({"TableName": "ledger", "Key": key, "ReturnValues": "ALL_OLD"})).unwrap();
    assert_eq!(deleted["Attributes"]["version"], json!({"N": "2"}));
    assert_eq!(call(&mut p, "GetItem", json!({"TableName": "ledger", "Key": key})).unwrap(), json!({}));
}

#[test]
fn query_pages_in_sort_key_order_both_ways_with_filters_and_counts() {
    let mut p = partition();
    for sk in [10, 9, 1, 2, 100] {
        put(&mut p, "a", sk, json!({"even": {"BOOL": sk % 2 == 0}}));
    }
    put(&mut p, "b", 1, json!({}));
    let q = |p: &mut Partition, extra: Value| {
        let mut input =
            json!({"TableName": "ledger", "KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            if k == "values" {
                for (vk, vv) in v.as_object().cloned().unwrap_or_default() {
                    input["ExpressionAttributeValues"][vk] = vv;
                }
            } else {
                input[k] = v;
            }
        }
        call(p, "Query", input).unwrap()
    };
    let sks = |out: &Value| out["Items"].as_array().unwrap().iter().map(|i| i["sk"]["N"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(sks(&q(&mut p, json!({}))), ["1", "2", "9", "10", "100"], "numbers sort numerically");
    assert_eq!(sks(&q(&mut p, json!({"ScanIndexForward": false, "Limit": 2}))), ["100", "10"]);
    let first = q(&mut p, json!({"Limit": 2}));
    assert_eq!(first["LastEvaluatedKey"], json!({"pk": {"S": "a"}, "sk": {"N": "2"}}));
    let second = q(&mut p, json!({"Limit": 3, "ExclusiveStartKey": first["LastEvaluatedKey"]}));
    assert_eq!(sks(&second), ["9", "10", "100"]);
    assert!(second.get("LastEvaluatedKey").is_some(), "AWS answers a LastEvaluatedKey when it stopped at the Limit");
    let last = q(&mut p, json!({"ExclusiveStartKey": second["LastEvaluatedKey"]}));
    assert_eq!((last["Count"].as_i64(), last.get("LastEvaluatedKey")), (Some(0), None));
    let ranged = q(
        &mut p,
        json!({"KeyConditionExpression": "pk = :a AND sk BETWEEN :lo AND :hi", "values": {":lo": {"N": "2"}, ":hi": {"N": "10"}}}),
    );
    assert_eq!(sks(&ranged), ["2", "9", "10"]);
    let filtered = q(&mut p, json!({"FilterExpression": "even = :t", "values": {":t": {"BOOL": true}}, "Select": "COUNT"}));
    assert_eq!(filtered, json!({"Count": 3, "ScannedCount": 5}));
    let projected =
        q(&mut p, json!({"KeyConditionExpression": "sk > :n AND pk = :a", "ProjectionExpression": "sk", "values": {":n": {"N": "9"}}}));
    assert_eq!(projected["Items"], json!([{"sk": {"N": "10"}}, {"sk": {"N": "100"}}]));
    let err = |p: &mut Partition, extra: Value| {
        let mut input = json!({"TableName": "ledger", "ExpressionAttributeValues": {":a": {"S": "a"}}});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            input[k] = v;
        }
        call(p, "Query", input).unwrap_err().message
    };
    assert_eq!(err(&mut p, json!({"KeyConditionExpression": "sk = :a"})), "Query condition missed key schema element: pk");
    assert!(err(&mut p, json!({"KeyConditionExpression": "pk = :a OR pk = :a"})).contains("OR"));
    assert!(
        err(&mut p, json!({"KeyConditionExpression": "pk = :a", "FilterExpression": "sk = :a"}))
            .contains("Filter Expression can only contain non-primary key attributes")
    );
    assert!(
        err(&mut p, json!({"KeyConditionExpression": "pk = :a", "IndexName": "byOwner"})).contains("does not have the specified index")
    );
}

#[test]
fn a_page_stops_at_one_megabyte() {
    let mut p = partition();
    let blob = "x".repeat(300 * 1024);
    for sk in 0..5 {
        put(&mut p, "big", sk, json!({"blob": {"S": blob}}));
    }
    let out = call(
        &mut p,
        "Query",
        json!({"TableName": "ledger", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "big"}}}),
    )
    .unwrap();
    assert_eq!(out["Count"], 4, "the fourth item crosses 1 MB");
    assert_eq!(out["LastEvaluatedKey"]["sk"], json!({"N": "3"}));
    let scan = call(&mut p, "Scan", json!({"TableName": "ledger", "ExclusiveStartKey": out["LastEvaluatedKey"]})).unwrap();
    assert_eq!(scan["Count"], 1);
}

#[test]
fn scan_pages_through_everything_once() {
    let mut p = partition();
    for i in 0..7 {
        put(&mut p, &format!("k{i}"), i, json!({}));
    }
    let mut seen = Vec::new();
    let mut start: Option<Value> = None;
    for _ in 0..10 {
        let mut input = json!({"TableName": "ledger", "Limit": 3});
        if let Some(s) = &start {
            input["ExclusiveStartKey"] = s.clone();
        }
        let out = call(&mut p, "Scan", input).unwrap();
        seen.extend(out["Items"].as_array().unwrap().iter().map(|i| i["pk"]["S"].as_str().unwrap().to_string()));
        match out.get("LastEvaluatedKey") {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, (0..7).map(|i| format!("k{i}")).collect::<Vec<_>>());
    let total: i64 = (0..3)
        .map(|s| {
            call(&mut p, "Scan", json!({"TableName": "ledger", "Segment": s, "TotalSegments": 3, "Select": "COUNT"})).unwrap()["Count"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 7, "segments split the table");
}

#[test]
fn transactions_are_all_or_nothing_with_reasons_in_order() {
    let mut p = partition();
    put(&mut p, "acct", 1, json!({"balance": {"N": "10"}}));
    let tx = |cond: &str| {
        json!({"TransactItems": [
            {"Put": {"TableName": "ledger", "Item": {"pk": {"S": "new"}, "sk": {"N": "1"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": {"TableName": "ledger", "Key": {"pk": {"S": "acct"}, "sk": {"N": "1"}}, "UpdateExpression": "SET balance = balance - :five",
                "ConditionExpression": cond, "ExpressionAttributeValues": {":five": {"N": "5"}}, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        ]})
    };
    let e = call(&mut p, "TransactWriteItems", tx("balance > :five AND balance < :five")).unwrap_err();
    assert_eq!(e.code, "TransactionCanceledException");
    assert_eq!(e.message, "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]");
    let reasons = &e.extra.unwrap()["CancellationReasons"];
    assert_eq!(reasons[0], json!({"Code": "None"}));
    assert_eq!(reasons[1]["Code"], "ConditionalCheckFailed");
    assert_eq!(reasons[1]["Item"]["balance"], json!({"N": "10"}));
    assert_eq!(call(&mut p, "GetItem", json!({"TableName": "ledger", "Key": {"pk": {"S": "new"}, "sk": {"N": "1"}}})).unwrap(), json!({}));
    let mut ok = tx("balance >= :five");
    ok["ClientRequestToken"] = json!("token-1");
    call(&mut p, "TransactWriteItems", ok.clone()).unwrap();
    call(&mut p, "TransactWriteItems", ok.clone()).unwrap();
    let got = call(
        &mut p,
        "TransactGetItems",
        json!({"TransactItems": [
            {"Get": {"TableName": "ledger", "Key": {"pk": {"S": "acct"}, "sk": {"N": "1"}}}},
            {"Get": {"TableName": "ledger", "Key": {"pk": {"S": "none"}, "sk": {"N": "1"}}}}
        ]}),
    )
    .unwrap();
    assert_eq!(got["Responses"][0]["Item"]["balance"], json!({"N": "5"}), "the token made the retry a no-op");
    assert_eq!(got["Responses"][1], json!({}));
    let mut other = tx("balance >= :five");
    other["ClientRequestToken"] = json!("token-1");
    other["TransactItems"][0]["Put"]["Item"]["pk"] = json!({"S": "other"});
    assert_eq!(code(call(&mut p, "TransactWriteItems", other)), "IdempotentParameterMismatchException");
    let twice = json!({"TransactItems": [
        {"ConditionCheck": {"TableName": "ledger", "Key": {"pk": {"S": "acct"}, "sk": {"N": "1"}}, "ConditionExpression": "attribute_exists(pk)"}},
        {"Delete": {"TableName": "ledger", "Key": {"pk": {"S": "acct"}, "sk": {"N": "1"}}}}
    ]});
    assert!(call(&mut p, "TransactWriteItems", twice).unwrap_err().message.contains("multiple operations on one item"));
}

#[test]
fn batches_write_and_get_within_their_limits() {
    let mut p = partition();
    let puts: Vec<Value> = (0..3).map(|i| json!({"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": i.to_string()}}}})).collect();
    let out = call(&mut p, "BatchWriteItem", json!({"RequestItems": {"ledger": puts}})).unwrap();
    assert_eq!(out, json!({"UnprocessedItems": {}}));
    let keys: Vec<Value> = (0..4).map(|i| json!({"pk": {"S": "b"}, "sk": {"N": i.to_string()}})).collect();
    let got = call(&mut p, "BatchGetItem", json!({"RequestItems": {"ledger": {"Keys": keys, "ProjectionExpression": "sk"}}})).unwrap();
    assert_eq!(got["Responses"]["ledger"].as_array().unwrap().len(), 3);
    assert_eq!(got["UnprocessedKeys"], json!({}));
    let many: Vec<Value> = (0..26).map(|i| json!({"DeleteRequest": {"Key": {"pk": {"S": "b"}, "sk": {"N": i.to_string()}}}})).collect();
    assert_eq!(
        call(&mut p, "BatchWriteItem", json!({"RequestItems": {"ledger": many}})).unwrap_err().message,
        "Too many items requested for the BatchWriteItem call"
    );
    let dup = vec![json!({"DeleteRequest": {"Key": keys[0]}}), json!({"DeleteRequest": {"Key": keys[0]}})];
    assert_eq!(
        call(&mut p, "BatchWriteItem", json!({"RequestItems": {"ledger": dup}})).unwrap_err().message,
        "Provided list of item keys contains duplicates"
    );
}

#[test]
fn expired_items_are_gone_and_ttl_is_described() {
    let mut p = partition();
    call(
        &mut p,
        "UpdateTimeToLive",
        json!({"TableName": "ledger", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires"}}),
    )
    .unwrap();
    assert_eq!(
        call(
            &mut p,
            "UpdateTimeToLive",
            json!({"TableName": "ledger", "TimeToLiveSpecification": {"Enabled": true, "AttributeName": "expires"}})
        )
        .unwrap_err()
        .message,
        "TimeToLive is already enabled"
    );
    let ttl = call(&mut p, "DescribeTimeToLive", json!({"TableName": "ledger"})).unwrap();
    assert_eq!(ttl, json!({"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}}));
    put(&mut p, "t", 1, json!({"expires": {"N": "1700000100"}}));
    put(&mut p, "t", 2, json!({"expires": {"N": "1"}}));
    put(&mut p, "t", 3, json!({"expires": {"S": "not a number"}}));
    let scan =
        |p: &mut Partition, now: f64| call_at(p, "Scan", json!({"TableName": "ledger", "Select": "COUNT"}), now).unwrap()["Count"].clone();
    assert_eq!(scan(&mut p, 1_700_000_050.0), 3, "an expiry more than five years past is ignored, as AWS ignores it");
    assert_eq!(scan(&mut p, 1_700_000_200.0), 2);
    // The sweep skips the table until its earliest expiry: an item put later with an earlier
    // expiry, an item updated to expire, and the expiry itself are each seen in time.
    put(&mut p, "t", 4, json!({"expires": {"N": "1700001000"}}));
    assert_eq!(scan(&mut p, 1_700_000_300.0), 3);
    put(&mut p, "t", 5, json!({"expires": {"N": "1700000400"}}));
    assert_eq!(scan(&mut p, 1_700_000_399.0), 4);
    assert_eq!(scan(&mut p, 1_700_000_401.0), 3, "t/5 expired");
    call_at(
        &mut p,
        "UpdateItem",
        json!({"TableName": "ledger", "Key": {"pk": {"S": "t"}, "sk": {"N": "3"}}, "UpdateExpression": "SET expires = :at",
            "ExpressionAttributeValues": {":at": {"N": "1700000500"}}}),
        1_700_000_402.0,
    )
    .unwrap();
    assert_eq!(scan(&mut p, 1_700_000_501.0), 2, "t/3 expired");
    assert_eq!(scan(&mut p, 1_700_001_001.0), 1, "t/4 expired");
}

#[test]
fn tags_are_kept_on_tables() {
    let mut p = partition();
    let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/ledger";
    call(&mut p, "TagResource", json!({"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "ops"}]})).unwrap();
    assert_eq!(
        call(&mut p, "ListTagsOfResource", json!({"ResourceArn": arn})).unwrap(),
        json!({"Tags": [{"Key": "team", "Value": "ops"}]})
    );
    call(&mut p, "UntagResource", json!({"ResourceArn": arn, "TagKeys": ["team"]})).unwrap();
    assert_eq!(call(&mut p, "ListTagsOfResource", json!({"ResourceArn": arn})).unwrap(), json!({"Tags": []}));
}
