"""CloudWatch metric alarms in ferry local, over each protocol a client picks.

CloudWatch's model (botocore 1.44.8) lists three protocols: `smithy-rpc-v2-cbor`, `json`,
`query`. botocore takes the first of its own preference order that the service lists, so boto3
and the aws CLI v1 send AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.Op`); the
aws CLI v2 of Debian 12 (2.9.19) carries a model that knows Query only and sends a form; the
AWS SDK for Rust sends CBOR (crates/ferry-aws/tests/it/cloudwatch_alarms.rs). Here: the aws CLI
v1, the CLI v2 when FERRY_AWS_CLI_V2 names one, boto3, and boto3 made to speak each protocol
(botocore's own CBOR and Query serializers and parsers, from a copy of the model that lists one
protocol), their answers recorded for test_response_shapes' check against the output shapes;
requests AWS refuses, refused with the model's codes and changing nothing; and the same
requests sent to moto's server (which serves CloudWatch over JSON and Query, not CBOR),
answers compared by shape, every difference listed in EXPECTED and in docs/conformance.md.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import shapes
from conftest import ACCOUNT, RECORDER, REGION, Recorded, make_client, raw_call, unique

TARGET = "GraniteServiceVersion20100801"
DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
AUTH = (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/monitoring/aws4_request, "
        "SignedHeaders=host, Signature=0")
PROTOCOLS = ["smithy-rpc-v2-cbor", "json", "query"]


def metric_alarm(name: str, **changes) -> dict:
    """A PutMetricAlarm on an ALB target group's 5xx count, as a deploy's alarm gate watches."""
    alarm = {
        "AlarmName": name, "MetricName": "HTTPCode_Target_5XX_Count", "Namespace": "AWS/ApplicationELB",
        "Statistic": "Sum", "Dimensions": [{"Name": "TargetGroup", "Value": "targetgroup/web/0123456789abcdef"}],
        "Period": 60, "EvaluationPeriods": 2, "DatapointsToAlarm": 1, "Threshold": 5.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:ops"], "Tags": [{"Key": "team", "Value": "web"}],
    }
    alarm.update(changes)
    return {k: v for k, v in alarm.items() if v is not None}


def code_of(call) -> str:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call succeeded; an error was expected")


@pytest.fixture(scope="module")
def cw(ferry_url, recorder):
    return make_client("cloudwatch", ferry_url, "ferry", recorder)


@pytest.fixture(scope="module")
def moto_cw(moto_url, recorder):
    return make_client("cloudwatch", moto_url, "moto", recorder)


def session_speaking(protocol: str, tmp: Path) -> boto3.session.Session:
    """A boto3 session whose CloudWatch model lists `protocol` alone, so that its clients send
    that protocol with botocore's own serializer and read the answers with its own parser."""
    model = copy.deepcopy(shapes.model("cloudwatch"))
    model["metadata"]["protocols"] = [protocol]
    model["metadata"]["protocol"] = protocol
    where = tmp / protocol / "cloudwatch" / model["metadata"]["apiVersion"]
    where.mkdir(parents=True)
    (where / "service-2.json").write_text(json.dumps(model))
    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.insert(0, str(tmp / protocol))
    return boto3.session.Session(botocore_session=core)


@pytest.fixture(scope="module")
def speaking(ferry_url, recorder, tmp_path_factory) -> dict:
    """protocol → a boto3 CloudWatch client of ferry local that speaks it."""
    tmp = tmp_path_factory.mktemp("models")
    clients = {p: make_client("cloudwatch", ferry_url, "ferry", recorder, session_speaking(p, tmp)) for p in PROTOCOLS}
    for protocol, client in clients.items():
        assert client.meta.service_model.resolved_protocol == protocol
    return clients


# --- the aws CLI ----------------------------------------------------------------------------


def test_alarms_with_the_aws_cli(aws):
    name = unique("cli")
    aws.run("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--metric-name", "CPUUtilization",
            "--namespace", "AWS/ECS", "--statistic", "Average", "--period", "60", "--evaluation-periods", "3",
            "--threshold", "80", "--comparison-operator", "GreaterThanOrEqualToThreshold",
            "--dimensions", "Name=ClusterName,Value=prod", "Name=ServiceName,Value=web",
            "--tags", "Key=team,Value=web")
    aws.run("cloudwatch", "wait", "alarm-exists", "--alarm-names", name)
    alarm = aws.run("cloudwatch", "describe-alarms", "--alarm-names", name)["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
    assert alarm["Dimensions"] == [{"Name": "ClusterName", "Value": "prod"}, {"Name": "ServiceName", "Value": "web"}]
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (80.0, 3)

    aws.run("cloudwatch", "set-alarm-state", "--alarm-name", name, "--state-value", "ALARM",
            "--state-reason", "Threshold Crossed: set by hand", "--state-reason-data", '{"version": "1.0"}')
    assert aws.text("cloudwatch", "describe-alarms", "--alarm-name-prefix", name, "--state-value", "ALARM",
                    "--query", "MetricAlarms[].StateValue") == "ALARM\n"
    refused = aws.run("cloudwatch", "set-alarm-state", "--alarm-name", f"{name}-nope", "--state-value", "OK",
                      "--state-reason", "x", check=False)
    assert refused.returncode != 0 and "(ResourceNotFound)" in refused.stderr, refused.stderr
    refused = aws.run("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--metric-name", "m", "--namespace", "n",
                      "--statistic", "Sum", "--period", "45", "--evaluation-periods", "1", "--threshold", "1",
                      "--comparison-operator", "GreaterThanThreshold", check=False)
    assert refused.returncode != 0 and "(ValidationError)" in refused.stderr and "multiple of 60" in refused.stderr

    aws.run("cloudwatch", "delete-alarms", "--alarm-names", name, f"{name}-never-created")
    assert aws.run("cloudwatch", "describe-alarms", "--alarm-names", name)["MetricAlarms"] == []


def cli_v2() -> str | None:
    """The aws CLI v2 that FERRY_AWS_CLI_V2 names (.ci/run sets /usr/bin/aws), if it runs."""
    candidate = os.environ.get("FERRY_AWS_CLI_V2")
    if not candidate or not os.access(candidate, os.X_OK):
        return None
    version = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=60)
    return candidate if version.returncode == 0 and version.stdout.startswith("aws-cli/2") else None


def test_alarms_with_the_aws_cli_v2(aws):
    """The CLI v2 (Debian 12's 2.9.19 carries a CloudWatch model of the Query protocol alone,
    so it sends forms and reads XML; newer ones pick JSON as botocore does)."""
    cli = cli_v2()
    if cli is None:
        pytest.skip("FERRY_AWS_CLI_V2 names no aws CLI v2")

    def run(*args: str, check: bool = True):
        command = [cli, "--endpoint-url", aws.url, "--region", REGION, "--output", "json", *args]
        proc = subprocess.run(command, capture_output=True, text=True, env=aws.env, timeout=120)
        if not check:
            return proc
        assert proc.returncode == 0, f"{' '.join(command)} exited {proc.returncode}:\n{proc.stderr}"
        body = json.loads(proc.stdout) if proc.stdout.strip() else {}
        operation = "".join(part.capitalize() for part in args[1].split("-"))
        RECORDER.add(Recorded("ferry", "cli", "cloudwatch", operation, 200, body))
        return body

    name = unique("cli2")
    run("cloudwatch", "put-metric-alarm", "--alarm-name", name, "--metric-name", "TargetResponseTime",
        "--namespace", "AWS/ApplicationELB", "--extended-statistic", "p99", "--period", "60",
        "--evaluation-periods", "5", "--datapoints-to-alarm", "3", "--threshold", "0.5",
        "--comparison-operator", "GreaterThanThreshold", "--treat-missing-data", "notBreaching")
    run("cloudwatch", "set-alarm-state", "--alarm-name", name, "--state-value", "ALARM", "--state-reason", "v2")
    alarm = run("cloudwatch", "describe-alarms", "--alarm-names", name)["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"], alarm["ExtendedStatistic"]) == ("ALARM", "v2", "p99")
    assert (alarm["Threshold"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (0.5, 3, "notBreaching")
    refused = run("cloudwatch", "set-alarm-state", "--alarm-name", f"{name}-nope", "--state-value", "OK",
                  "--state-reason", "x", check=False)
    assert refused.returncode != 0 and "(ResourceNotFound)" in refused.stderr, refused.stderr
    run("cloudwatch", "delete-alarms", "--alarm-names", name)
    assert run("cloudwatch", "describe-alarms", "--alarm-names", name)["MetricAlarms"] == []


# --- boto3 ----------------------------------------------------------------------------------


def test_boto3_pages_waits_and_maps_errors_to_the_models_exceptions(cw):
    prefix = unique("b3")
    for i in range(7):
        cw.put_metric_alarm(**metric_alarm(f"{prefix}-{i}"))
    cw.get_waiter("alarm_exists").wait(AlarmNames=[f"{prefix}-6"], WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    pages = list(cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix, PaginationConfig={"PageSize": 3}))
    assert [len(p["MetricAlarms"]) for p in pages] == [3, 3, 1]
    assert [a["AlarmName"] for p in pages for a in p["MetricAlarms"]] == [f"{prefix}-{i}" for i in range(7)]

    cw.set_alarm_state(AlarmName=f"{prefix}-3", StateValue="ALARM", StateReason="gate test")
    in_alarm = cw.describe_alarms(AlarmNamePrefix=prefix, StateValue="ALARM")["MetricAlarms"]
    assert [a["AlarmName"] for a in in_alarm] == [f"{prefix}-3"]
    # A second PutMetricAlarm replaces the configuration and leaves the state.
    cw.put_metric_alarm(**metric_alarm(f"{prefix}-3", Threshold=9.5, AlarmActions=None))
    updated = cw.describe_alarms(AlarmNames=[f"{prefix}-3"])["MetricAlarms"][0]
    assert (updated["StateValue"], updated["Threshold"], updated["AlarmActions"]) == ("ALARM", 9.5, [])
    assert updated["StateTransitionedTimestamp"] <= updated["AlarmConfigurationUpdatedTimestamp"]

    with pytest.raises(cw.exceptions.ResourceNotFound):
        cw.set_alarm_state(AlarmName=f"{prefix}-nope", StateValue="OK", StateReason="x")
    with pytest.raises(cw.exceptions.InvalidFormatFault):
        cw.set_alarm_state(AlarmName=f"{prefix}-0", StateValue="OK", StateReason="x", StateReasonData="{not json")
    with pytest.raises(cw.exceptions.InvalidNextToken):
        cw.describe_alarms(NextToken="garbage")

    cw.delete_alarms(AlarmNames=[f"{prefix}-{i}" for i in range(7)])
    assert cw.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_protocol_round_trips_an_alarm_and_its_errors(speaking, cw, protocol):
    client = speaking[protocol]
    name = unique(f"proto-{protocol}")
    client.put_metric_alarm(**metric_alarm(name, Threshold=80.0))
    client.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="r", StateReasonData='{"a": 1}')
    alarm = client.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    raw = RECORDER.responses[-1]
    assert (raw.peer, raw.operation, raw.status) == ("ferry", "DescribeAlarms", 200)
    if protocol == "smithy-rpc-v2-cbor":
        # A double is a CBOR float even when it is whole (the AWS SDK for Rust's decoder takes
        # nothing else), a timestamp tag 1 around epoch seconds.
        wire = raw.body["MetricAlarms"][0]
        assert isinstance(wire["Threshold"], float) and isinstance(wire["StateUpdatedTimestamp"], float), wire
    # The same alarm read over JSON (boto3's own protocol) parses to the same values.
    assert alarm == cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReasonData"], alarm["Threshold"]) == ("ALARM", '{"a": 1}', 80.0)

    assert code_of(lambda: client.set_alarm_state(AlarmName=f"{name}-nope", StateValue="OK", StateReason="x")) == \
        "ResourceNotFound"
    assert code_of(lambda: client.put_metric_alarm(**metric_alarm(name, Period=45))) == "ValidationError"
    assert code_of(lambda: client.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="x",
                                                  StateReasonData="{")) == "InvalidFormat"
    client.delete_alarms(AlarmNames=[name])
    assert client.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []


def test_cbor_answers_carry_the_protocol_header_and_errors_the_query_code(ferry_url):
    def post(operation: str, body: bytes, headers: dict):
        url = f"{ferry_url}/service/{TARGET}/operation/{operation}"
        request = urllib.request.Request(url, data=body, method="POST", headers={"Authorization": AUTH, **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    cbor = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
    # {} : an empty input map.
    status, headers, body = post("DescribeAlarms", b"\xa0", cbor)
    assert (status, headers["smithy-protocol"], headers["content-type"]) == (200, "rpc-v2-cbor", "application/cbor")
    assert "MetricAlarms" in shapes.from_cbor(body)
    # {"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"}
    request = (b"\xa3\x69AlarmName\x64nope\x6aStateValue\x62OK\x6bStateReason\x61x")
    status, headers, body = post("SetAlarmState", request, cbor)
    assert (status, headers["x-amzn-query-error"]) == (404, "ResourceNotFound;Sender")
    assert shapes.from_cbor(body)["__type"] == "com.amazonaws.cloudwatch#ResourceNotFound"
    # Not CBOR, no smithy-protocol header, an unknown operation.
    assert post("DescribeAlarms", b"{}", cbor)[0] == 400
    assert post("DescribeAlarms", b"\xa0", {"Content-Type": "application/cbor"})[0] == 400
    assert post("DescribeAlarmz", b"\xa0", cbor)[0] == 404


# --- bad requests change nothing --------------------------------------------------------------


@pytest.fixture(scope="module")
def kept(cw) -> str:
    name = unique("kept")
    cw.put_metric_alarm(**metric_alarm(name))
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="kept")
    return name


def snapshot(cw) -> list:
    return [a for page in cw.get_paginator("describe_alarms").paginate() for a in page["MetricAlarms"]]


def without(member: str) -> dict:
    alarm = metric_alarm("KEPT")
    del alarm[member]
    return alarm


# (what, operation, body, HTTP status, error shape in `__type`, Query code in x-amzn-query-error)
BAD = [
    ("wrong type", "PutMetricAlarm", metric_alarm("KEPT", Threshold="high"), 400, "SerializationException",
     "SerializationException"),
    ("missing name", "PutMetricAlarm", without("AlarmName"), 400, "ValidationException", "ValidationError"),
    ("name too long", "PutMetricAlarm", metric_alarm("x" * 256), 400, "ValidationException", "ValidationError"),
    ("no metric", "PutMetricAlarm", without("MetricName"), 400, "ValidationException", "ValidationError"),
    ("period 45", "PutMetricAlarm", metric_alarm("KEPT", Period=45), 400, "ValidationException", "ValidationError"),
    ("period 0", "PutMetricAlarm", metric_alarm("KEPT", Period=0), 400, "ValidationException", "ValidationError"),
    ("statistic and metrics", "PutMetricAlarm",
     metric_alarm("KEPT", Metrics=[{"Id": "e1", "Expression": "SUM(METRICS())"}]), 400, "ValidationException",
     "ValidationError"),
    ("bad operator", "PutMetricAlarm", metric_alarm("KEPT", ComparisonOperator="Above"), 400, "ValidationException",
     "ValidationError"),
    ("six actions", "PutMetricAlarm",
     metric_alarm("KEPT", OKActions=[f"arn:aws:sns:{REGION}:{ACCOUNT}:t{i}" for i in range(6)]), 400,
     "ValidationException", "ValidationError"),
    ("reserved tag", "PutMetricAlarm", metric_alarm("KEPT", Tags=[{"Key": "aws:x", "Value": "y"}]), 400,
     "InvalidParameterValueException", "InvalidParameterValue"),
    ("unknown alarm", "SetAlarmState", {"AlarmName": "never-created", "StateValue": "OK", "StateReason": "x"}, 404,
     "ResourceNotFound", "ResourceNotFound"),
    ("bad state", "SetAlarmState", {"AlarmName": "KEPT", "StateValue": "BROKEN", "StateReason": "x"}, 400,
     "ValidationException", "ValidationError"),
    ("no reason", "SetAlarmState", {"AlarmName": "KEPT", "StateValue": "OK"}, 400, "ValidationException",
     "ValidationError"),
    ("reason data not JSON", "SetAlarmState",
     {"AlarmName": "KEPT", "StateValue": "OK", "StateReason": "x", "StateReasonData": "{"}, 400, "InvalidFormatFault",
     "InvalidFormat"),
    ("max records 0", "DescribeAlarms", {"MaxRecords": 0}, 400, "ValidationException", "ValidationError"),
    ("bad token", "DescribeAlarms", {"NextToken": "garbage"}, 400, "InvalidNextToken", "InvalidNextToken"),
    ("names and prefix", "DescribeAlarms", {"AlarmNames": ["KEPT"], "AlarmNamePrefix": "k"}, 400, "ValidationException",
     "ValidationError"),
    ("101 names", "DeleteAlarms", {"AlarmNames": ["KEPT"] + [f"a{i}" for i in range(100)]}, 400, "ValidationException",
     "ValidationError"),
]


@pytest.mark.parametrize("what,operation,body,status,shape,code", BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_is_refused_and_changes_nothing(cw, ferry_url, kept, what, operation, body, status, shape, code):
    body = json.loads(json.dumps(body).replace('"KEPT"', json.dumps(kept)))
    before = snapshot(cw)
    r = raw_call(ferry_url, f"{TARGET}.{operation}", body, authorization=AUTH)
    assert r.status == status, (r.status, r.body)
    # A shape of the model is named with its namespace; a common error (not in it) as it is.
    declared = shape in shapes.model("cloudwatch")["shapes"]
    assert r.body.get("__type") == (f"com.amazonaws.cloudwatch#{shape}" if declared else shape), r.body
    assert r.headers.get("x-amzn-query-error") == f"{code};Sender", r.headers
    assert snapshot(cw) == before


def test_the_same_requests_well_formed_do_change_state(cw, kept):
    before = snapshot(cw)
    cw.set_alarm_state(AlarmName=kept, StateValue="OK", StateReason="fine now")
    after = {a["AlarmName"]: a for a in snapshot(cw)}
    assert after[kept]["StateValue"] == "OK" and before != list(after.values())


# --- moto comparison ------------------------------------------------------------------------

# (where, difference, follows AWS, why) -- as in test_moto_comparison.EXPECTED.
EXPECTED: list[tuple[str, str, str, str]] = [
    ("MetricAlarm.Metrics", "moto only", "ferry",
     "moto answers `Metrics: []` for an alarm on one metric; AWS leaves `Metrics` out of such an alarm "
     "(DescribeAlarms of a minimal alarm as recorded against AWS in LocalStack's snapshot "
     "`test_describe_minimal_metric_alarm`)"),
    ("MetricAlarm.StateReasonData", "moto only", "ferry",
     "moto answers `StateReasonData: \"{}\"` for a new alarm; AWS answers none until a state change gives some "
     "(same recording)"),
    ("MetricAlarm.StateTransitionedTimestamp", "ferry only", "ferry",
     "when the state value last changed: in the model, and answered by AWS for every alarm (same recording)"),
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

    @staticmethod
    def _call(client, peer: str, operation: str, params: dict) -> Outcome:
        try:
            getattr(client, xform_name(operation))(**params)
        except ClientError as e:
            last = RECORDER.responses[-1]
            assert (last.peer, last.operation) == (peer, operation)
            return Outcome(False, last.body if isinstance(last.body, dict) else {}, e.response["Error"]["Code"])
        last = RECORDER.responses[-1]
        assert (last.peer, last.operation) == (peer, operation)
        return Outcome(True, last.body)

    def call(self, operation: str, params: dict):
        f = self._call(self.ferry, "ferry", operation, params)
        m = self._call(self.moto, "moto", operation, params)
        if f.ok and m.ok:
            diffs = shapes.compare(shapes.signature("cloudwatch", operation, f.body),
                                   shapes.signature("cloudwatch", operation, m.body))
        elif f.ok != m.ok:
            diffs = [("<outcome>", f"ferry {'ok' if f.ok else f.code}, moto {'ok' if m.ok else m.code}")]
        elif f.code != m.code:
            diffs = [("<error>", f"error: ferry {f.code}, moto {m.code}")]
        else:
            diffs = []
        for path, difference in diffs:
            where = f"{operation} error" if path.startswith("<") else shapes.owner("cloudwatch", operation, path)
            self.found.add((where, difference))
            self.log.append((where, difference, f"{operation}: {path}"))
        return f, m

    def unexpected(self) -> list[str]:
        listed = {(where, diff) for where, diff, _, _ in EXPECTED}
        return sorted(f"{where}  {diff}  (at {at})" for where, diff, at in self.log if (where, diff) not in listed)


def test_cloudwatch_answers_have_moto_shapes(cw, moto_cw):
    compare = Comparison(cw, moto_cw)
    name = unique("cmp")
    f, m = compare.call("PutMetricAlarm", metric_alarm(name))
    assert f.ok and m.ok, (f, m)
    compare.call("PutMetricAlarm", {"AlarmName": f"{name}-math", "EvaluationPeriods": 1, "Threshold": 1.0,
                                    "ComparisonOperator": "GreaterThanThreshold",
                                    "Metrics": [{"Id": "e1", "Expression": "m1 * 100", "ReturnData": True},
                                                {"Id": "m1", "ReturnData": False,
                                                 "MetricStat": {"Metric": {"Namespace": "AWS/ApplicationELB",
                                                                           "MetricName": "HTTPCode_Target_5XX_Count"},
                                                                "Period": 60, "Stat": "Sum"}}]})
    compare.call("DescribeAlarms", {"AlarmNames": [name]})
    compare.call("DescribeAlarms", {"AlarmNames": [f"{name}-math"]})
    compare.call("SetAlarmState", {"AlarmName": name, "StateValue": "ALARM", "StateReason": "cmp",
                                   "StateReasonData": '{"version": "1.0"}'})
    compare.call("DescribeAlarms", {"AlarmNamePrefix": name, "StateValue": "ALARM"})
    compare.call("SetAlarmState", {"AlarmName": f"{name}-nope", "StateValue": "OK", "StateReason": "x"})
    compare.call("SetAlarmState", {"AlarmName": name, "StateValue": "OK", "StateReason": "x", "StateReasonData": "{"})
    compare.call("DeleteAlarms", {"AlarmNames": [name, f"{name}-math", f"{name}-never-created"]})
    compare.call("DescribeAlarms", {"AlarmNamePrefix": name})

    unexpected = compare.unexpected()
    assert not unexpected, (
        "differences from moto not listed in EXPECTED (add them with the side that follows the AWS model, or fix "
        "ferry local):\n" + "\n".join(unexpected))
    stale = [f"{where}  {diff}" for where, diff, _, _ in EXPECTED if (where, diff) not in compare.found]
    assert not stale, "listed in EXPECTED but no longer different (remove them):\n" + "\n".join(stale)


def markdown_table() -> str:
    return shapes.differences_table(EXPECTED)


def test_docs_list_the_same_cloudwatch_differences():
    text = DOC.read_text() if DOC.exists() else ""
    assert markdown_table() in text, (
        f"{DOC} must contain the table of CloudWatch differences; print it with "
        "`python -c 'import sys; sys.path[:0]=[\"tests/conformance\"]; import test_cloudwatch as t; "
        "print(t.markdown_table())'`"
    )
