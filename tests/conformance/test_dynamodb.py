"""DynamoDB in ferry local: the aws CLI and boto3 as clients (their answers recorded for
test_response_shapes' check against botocore's output shapes), the same requests sent to
moto's server and compared -- outcome, error code, the shape of each answer, and the values a
client decides on (conditional failures, paging, transaction cancellation reasons). Every
difference is listed in EXPECTED (and in docs/conformance.md) with the side that follows AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import shapes
from conftest import RECORDER, make_client, unique

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


@pytest.fixture(scope="module")
def ddb(ferry_url, recorder):
    return make_client("dynamodb", ferry_url, "ferry", recorder)


@pytest.fixture(scope="module")
def moto_ddb(moto_url, recorder):
    return make_client("dynamodb", moto_url, "moto", recorder)


def create_table(client, name: str, *, range_type: str | None = "S") -> None:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    definitions = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_type:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        definitions.append({"AttributeName": "sk", "AttributeType": range_type})
    client.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=definitions,
                        BillingMode="PAY_PER_REQUEST")


def code_of(call) -> str:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call succeeded; an error was expected")


# --- the aws CLI ----------------------------------------------------------------------------


def test_a_table_with_the_aws_cli(aws):
    table = unique("cli")
    created = aws.run("dynamodb", "create-table", "--table-name", table,
                      "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                      "--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    assert created["TableDescription"]["TableStatus"] == "ACTIVE"
    aws.run("dynamodb", "wait", "table-exists", "--table-name", table)
    aws.run("dynamodb", "put-item", "--table-name", table, "--item", '{"pk": {"S": "a"}, "n": {"N": "1"}}')
    refused = aws.run("dynamodb", "put-item", "--table-name", table, "--item", '{"pk": {"S": "a"}}',
                      "--condition-expression", "attribute_not_exists(pk)", check=False)
    assert refused.returncode != 0 and "ConditionalCheckFailedException" in refused.stderr, refused.stderr
    got = aws.run("dynamodb", "get-item", "--table-name", table, "--key", '{"pk": {"S": "a"}}')
    assert got["Item"] == {"pk": {"S": "a"}, "n": {"N": "1"}}
    updated = aws.run("dynamodb", "update-item", "--table-name", table, "--key", '{"pk": {"S": "a"}}',
                      "--update-expression", "SET n = n + :one", "--expression-attribute-values",
                      '{":one": {"N": "1"}}', "--return-values", "UPDATED_NEW")
    assert updated["Attributes"] == {"n": {"N": "2"}}
    scanned = aws.run("dynamodb", "scan", "--table-name", table, "--no-paginate")
    assert scanned["Count"] == 1
    assert table in aws.run("dynamodb", "list-tables")["TableNames"]
    aws.run("dynamodb", "delete-table", "--table-name", table)
    gone = aws.run("dynamodb", "describe-table", "--table-name", table, check=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr


# --- boto3 ----------------------------------------------------------------------------------


def test_boto3_conditional_writes_queries_and_transactions(ddb):
    table = unique("b3")
    create_table(ddb, table)
    assert code_of(lambda: create_table(ddb, table)) == "ResourceInUseException"
    for i in range(12):
        ddb.put_item(TableName=table, Item={"pk": {"S": "deploys"}, "sk": {"S": f"v{i:03}"}, "n": {"N": str(i)}})
    pages = list(ddb.get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :p", FilterExpression="n >= :five",
        ExpressionAttributeValues={":p": {"S": "deploys"}, ":five": {"N": "5"}}, PaginationConfig={"PageSize": 5}))
    assert [p["ScannedCount"] for p in pages][:3] == [5, 5, 2]
    assert [i["sk"]["S"] for p in pages for i in p["Items"]] == [f"v{i:03}" for i in range(5, 12)]

    try:
        ddb.put_item(TableName=table, Item={"pk": {"S": "deploys"}, "sk": {"S": "v000"}},
                     ConditionExpression="attribute_not_exists(pk)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        raise AssertionError("the put succeeded")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert e.response["Item"]["n"] == {"N": "0"}, e.response

    try:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "1"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "deploys"}, "sk": {"S": "v001"}},
                                "ConditionExpression": "n = :nine", "ExpressionAttributeValues": {":nine": {"N": "9"}}}},
        ])
        raise AssertionError("the transaction succeeded")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "TransactionCanceledException"
        assert [r["Code"] for r in e.response["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "tx"}, "sk": {"S": "1"}})

    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": {"S": "deploys"}, "sk": {"S": f"v{i:03}"}}}}
                                               for i in range(10)]})
    got = ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "deploys"}, "sk": {"S": f"v{i:03}"}}
                                                            for i in range(8, 12)]}})
    assert sorted(i["sk"]["S"] for i in got["Responses"][table]) == ["v010", "v011"]
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    ddb.put_item(TableName=table, Item={"pk": {"S": "old"}, "sk": {"S": "1"}, "expires": {"N": "1800000000"}})
    assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ops"}])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ops"}]
    ddb.delete_table(TableName=table)


# --- moto comparison ------------------------------------------------------------------------

# (where, difference, follows AWS, why) -- as in test_moto_comparison.EXPECTED.
EXPECTED: list[tuple[str, str, str, str]] = [
    ("PutItem error", "error: ferry ValidationException, moto ConditionalCheckFailedException", "ferry",
     "an ExpressionAttributeValues entry no expression uses is refused before anything is evaluated "
     "(\"Value provided in ExpressionAttributeValues unused in expressions\"); moto evaluates the condition"),
    ("BatchWriteItem error", "ferry ValidationException, moto ok", "ferry",
     "a BatchWriteItem takes at most 25 requests (API reference); moto writes 26"),
    ("BatchGetItemOutput.ConsumedCapacity", "moto only", "ferry",
     "answered only when ReturnConsumedCapacity is TOTAL or INDEXES (its default is NONE)"),
    ("BatchWriteItemOutput.ConsumedCapacity", "moto only", "ferry", "as BatchGetItemOutput.ConsumedCapacity"),
    ("TransactWriteItemsOutput.ConsumedCapacity", "moto only", "ferry", "as BatchGetItemOutput.ConsumedCapacity"),
    ("UpdateItemOutput.ConsumedCapacity", "moto only", "ferry", "as BatchGetItemOutput.ConsumedCapacity"),
    ("BatchWriteItemOutput.ItemCollectionMetrics", "moto only", "ferry",
     "answered only with ReturnItemCollectionMetrics SIZE on a table with local secondary indexes"),
    ("TransactWriteItemsOutput.ItemCollectionMetrics", "moto only", "ferry",
     "as BatchWriteItemOutput.ItemCollectionMetrics"),
    ("BillingModeSummary.LastUpdateToPayPerRequestDateTime", "ferry only", "ferry",
     "an on-demand table says since when it is on demand (API reference, BillingModeSummary)"),
    ("TableDescription.GlobalSecondaryIndexes", "moto only", "ferry",
     "moto answers `[]` for a table without indexes; AWS leaves the member out"),
    ("TableDescription.LocalSecondaryIndexes", "moto only", "ferry", "as TableDescription.GlobalSecondaryIndexes"),
    ("TableDescription.TableId", "ferry only", "ferry", "every table has a TableId (API reference, TableDescription)"),
]


@dataclass
class Outcome:
    ok: bool
    body: dict
    code: str = ""


@dataclass(repr=False)
class Comparison:
    ferry: object
    moto: object
    found: set = field(default_factory=set)
    log: list = field(default_factory=list)

    def _call(self, client, peer: str, operation: str, params: dict) -> Outcome:
        try:
            getattr(client, xform_name(operation))(**params)
        except ClientError as e:
            last = RECORDER.responses[-1]
            assert (last.peer, last.operation) == (peer, operation)
            return Outcome(False, last.body if isinstance(last.body, dict) else {}, e.response["Error"]["Code"])
        last = RECORDER.responses[-1]
        assert (last.peer, last.operation) == (peer, operation)
        return Outcome(True, last.body)

    def call(self, operation: str, params: dict, *, same: tuple[str, ...] = ()):
        """Sends `params` to both; `same` names members of the answers (or the error body) whose
        values must be equal too (`Count`, `LastEvaluatedKey`, `CancellationReasons[].Code`)."""
        f = self._call(self.ferry, "ferry", operation, params)
        m = self._call(self.moto, "moto", operation, params)
        if f.ok and m.ok:
            diffs = shapes.compare(shapes.signature("dynamodb", operation, f.body),
                                   shapes.signature("dynamodb", operation, m.body))
        elif f.ok != m.ok:
            diffs = [("<outcome>", f"ferry {'ok' if f.ok else f.code}, moto {'ok' if m.ok else m.code}")]
        elif f.code != m.code:
            diffs = [("<error>", f"error: ferry {f.code}, moto {m.code}")]
        else:
            diffs = []
        for member in same:
            fv, mv = value_at(f.body, member), value_at(m.body, member)
            if fv != mv:
                diffs.append((f"<value {member}>", f"value: ferry {fv!r}, moto {mv!r}"))
        named = []
        for path, difference in diffs:
            if path.startswith("<value"):
                where = f"{operation} {path[7:-1]}"
            elif path.startswith("<"):
                where = f"{operation} error"
            else:
                where = shapes.owner("dynamodb", operation, path)
            named.append((where, difference, f"{operation}: {path}"))
            self.found.add((where, difference))
        self.log.append((operation, f.code or "ok", m.code or "ok", named))
        return f, m

    def unexpected(self) -> list[str]:
        listed = {(where, diff) for where, diff, _, _ in EXPECTED}
        seen = {(where, diff, at) for _, _, _, named in self.log for where, diff, at in named}
        return sorted(f"{where}  {diff}  (at {at})" for where, diff, at in seen if (where, diff) not in listed)


def value_at(body, member: str):
    """`A.B`, with `[]` mapping over a list: `CancellationReasons[].Code`."""
    value = body
    for part in member.split("."):
        if part.endswith("[]"):
            value = value.get(part[:-2]) if isinstance(value, dict) else None
            continue
        if isinstance(value, list):
            value = [v.get(part) if isinstance(v, dict) else None for v in value]
        else:
            value = value.get(part) if isinstance(value, dict) else None
    return value


def key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def test_dynamodb_answers_match_moto_or_follow_aws(ddb, moto_ddb):
    compare = Comparison(ddb, moto_ddb)
    table = unique("cmp")
    schema = {"TableName": table, "BillingMode": "PAY_PER_REQUEST",
              "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                       {"AttributeName": "sk", "AttributeType": "S"}]}
    f, m = compare.call("CreateTable", schema)
    assert f.ok and m.ok, (f, m)
    compare.call("CreateTable", schema)
    compare.call("CreateTable", {**schema, "TableName": unique("bad"),
                                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
    compare.call("DescribeTable", {"TableName": table})
    compare.call("DescribeTable", {"TableName": unique("missing")})

    # Conditional writes: the lock a ledger takes, taken twice.
    lock = {"TableName": table, "Item": {**key("lock", "web"), "owner": {"S": "a"}},
            "ConditionExpression": "attribute_not_exists(pk)"}
    f, m = compare.call("PutItem", lock)
    assert f.ok and m.ok, (f, m)
    compare.call("PutItem", {**lock, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}, same=("Item",))
    compare.call("PutItem", {**lock, "ConditionExpression": "#o = :me", "ExpressionAttributeNames": {"#o": "owner"},
                             "ExpressionAttributeValues": {":me": {"S": "a"}}, "ReturnValues": "ALL_OLD"},
                 same=("Attributes",))
    compare.call("PutItem", {"TableName": table, "Item": {"pk": {"S": "only"}}})
    compare.call("PutItem", {**lock, "ExpressionAttributeValues": {":unused": {"S": "x"}}})
    compare.call("GetItem", {"TableName": table, "Key": key("lock", "web"), "ProjectionExpression": "#o",
                             "ExpressionAttributeNames": {"#o": "owner"}}, same=("Item",))
    compare.call("GetItem", {"TableName": table, "Key": {"pk": {"S": "lock"}}})
    compare.call("UpdateItem", {"TableName": table, "Key": key("counter", "c"),
                                "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one, tags = :tags",
                                "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"},
                                                              ":tags": {"SS": ["a"]}},
                                "ReturnValues": "ALL_NEW"}, same=("Attributes",))
    compare.call("UpdateItem", {"TableName": table, "Key": key("counter", "c"), "UpdateExpression": "ADD n :one",
                                "ConditionExpression": "n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}},
                                "ReturnValues": "UPDATED_OLD"}, same=("Attributes",))
    compare.call("UpdateItem", {"TableName": table, "Key": key("counter", "c"), "UpdateExpression": "SET n = :one",
                                "ConditionExpression": "n = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}})
    compare.call("UpdateItem", {"TableName": table, "Key": key("counter", "c"), "UpdateExpression": "SET pk = :x",
                                "ExpressionAttributeValues": {":x": {"S": "x"}}})
    compare.call("DeleteItem", {"TableName": table, "Key": key("counter", "c"), "ReturnValues": "ALL_OLD",
                                "ConditionExpression": "contains(tags, :a)",
                                "ExpressionAttributeValues": {":a": {"S": "a"}}}, same=("Attributes",))

    # Paging: 7 items of one partition, 3 at a time, numbers in the filter.
    for i in range(7):
        compare.call("PutItem", {"TableName": table, "Item": {**key("deploys", f"v{i}"), "n": {"N": str(i * 10)}}})
    query = {"TableName": table, "KeyConditionExpression": "pk = :p AND begins_with(sk, :v)",
             "ExpressionAttributeValues": {":p": {"S": "deploys"}, ":v": {"S": "v"}}, "Limit": 3}
    f, _ = compare.call("Query", query, same=("Count", "ScannedCount", "LastEvaluatedKey", "Items"))
    f, _ = compare.call("Query", {**query, "ExclusiveStartKey": f.body["LastEvaluatedKey"]},
                        same=("Count", "LastEvaluatedKey", "Items"))
    compare.call("Query", {**query, "ExclusiveStartKey": f.body["LastEvaluatedKey"]}, same=("Count", "LastEvaluatedKey"))
    compare.call("Query", {**query, "Limit": 10, "ScanIndexForward": False, "FilterExpression": "n BETWEEN :a AND :b",
                           "ExpressionAttributeValues": {**query["ExpressionAttributeValues"],
                                                         ":a": {"N": "9"}, ":b": {"N": "40"}}},
                 same=("Count", "ScannedCount", "Items"))
    compare.call("Query", {**query, "Select": "COUNT", "Limit": 10}, same=("Count", "ScannedCount"))
    compare.call("Query", {"TableName": table, "KeyConditionExpression": "sk = :v",
                           "ExpressionAttributeValues": {":v": {"S": "v"}}})
    compare.call("Scan", {"TableName": table, "FilterExpression": "n > :x", "ExpressionAttributeValues": {":x": {"N": "25"}}},
                 same=("Count", "ScannedCount"))

    # Transactions and batches.
    reasons = ("CancellationReasons[].Code",)
    compare.call("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": table, "Item": key("tx", "1")}},
        {"Update": {"TableName": table, "Key": key("lock", "web"), "UpdateExpression": "SET owner2 = :b",
                    "ConditionExpression": "#o = :b", "ExpressionAttributeNames": {"#o": "owner"},
                    "ExpressionAttributeValues": {":b": {"S": "b"}}}},
    ]}, same=reasons)
    compare.call("GetItem", {"TableName": table, "Key": key("tx", "1")}, same=("Item",))
    compare.call("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": table, "Item": key("tx", "1"), "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": table, "Key": key("deploys", "v0")}},
        {"ConditionCheck": {"TableName": table, "Key": key("lock", "web"), "ConditionExpression": "attribute_exists(pk)"}},
    ]})
    compare.call("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": table, "Item": key("tx", "1"), "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": table, "Key": key("tx", "1")}},
    ]})
    compare.call("TransactGetItems", {"TransactItems": [{"Get": {"TableName": table, "Key": key("tx", "1")}},
                                                        {"Get": {"TableName": table, "Key": key("none", "1")}}]},
                 same=("Responses",))
    compare.call("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": key("batch", str(i))}} for i in range(3)]}})
    compare.call("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": key("batch", str(i))}} for i in range(26)]}})
    compare.call("BatchGetItem", {"RequestItems": {table: {"Keys": [key("batch", str(i)) for i in range(4)]}}})
    compare.call("UpdateTimeToLive", {"TableName": table,
                                      "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"}})
    compare.call("DescribeTimeToLive", {"TableName": table})
    compare.call("ListTables", {"Limit": 100})
    compare.call("DeleteTable", {"TableName": table})

    unexpected = compare.unexpected()
    assert not unexpected, (
        "differences from moto not listed in EXPECTED (add them with the side that follows the AWS model, or fix "
        "ferry local):\n" + "\n".join(unexpected))
    stale = [f"{where}  {diff}" for where, diff, _, _ in EXPECTED if (where, diff) not in compare.found]
    assert not stale, "listed in EXPECTED but no longer different (remove them):\n" + "\n".join(stale)


def markdown_table() -> str:
    return shapes.differences_table(EXPECTED)


def test_docs_list_the_same_dynamodb_differences():
    text = DOC.read_text() if DOC.exists() else ""
    assert markdown_table() in text, (
        f"{DOC} must contain the table of DynamoDB differences; print it with "
        "`python -c 'import sys; sys.path[:0]=[\"tests/conformance\"]; import test_dynamodb as t; "
        "print(t.markdown_table())'`"
    )
