"""CloudWatch Logs in ferry local: the aws CLI and boto3 as clients (their answers recorded
for test_response_shapes' check against botocore's output shapes), `aws logs tail` and
`--follow` (the FilterLogEvents polling of the aws CLI v2's customization, replayed with
boto3 where the CLI at hand is v1, which has no `logs tail`), an ECS task's output reaching
its awslogs stream, requests AWS refuses that change nothing, and the same requests sent to
moto's server with their answers compared by shape (every difference listed in EXPECTED, and
in docs/conformance.md).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import shapes
from conftest import ACCOUNT, RECORDER, REGION, aws_executable, make_client, raw_call, unique, wait_until

TARGET = "Logs_20140328"
DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
MISSING_GROUP = ("ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
                 "failed to create Cloudwatch log stream: ResourceNotFoundException: The specified log group does not "
                 "exist. : exit status 1")


@pytest.fixture(scope="module")
def logs(ferry_url, recorder):
    return make_client("logs", ferry_url, "ferry", recorder)


@pytest.fixture(scope="module")
def ecs(ferry_url, recorder):
    return make_client("ecs", ferry_url, "ferry", recorder)


def now_ms() -> int:
    return int(time.time() * 1000)


def code_of(call) -> str:
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call succeeded; an error was expected")


def messages(events) -> list[str]:
    return [e["message"] for e in events]


# --- the aws CLI ----------------------------------------------------------------------------


def test_groups_streams_and_events_with_the_aws_cli(aws):
    group = f"/cli/{unique('logs')}"
    aws.run("logs", "create-log-group", "--log-group-name", group, "--tags", "team=conformance")
    again = aws.run("logs", "create-log-group", "--log-group-name", group, check=False)
    assert again.returncode != 0 and "ResourceAlreadyExistsException" in again.stderr, again.stderr
    aws.run("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "web/1")
    aws.run("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "web/2")
    t = now_ms()
    put = aws.run("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "web/1", "--log-events",
                  f"timestamp={t - 2000},message=GET /health 200", f"timestamp={t - 1000},message=ERROR disk full")
    assert "nextSequenceToken" in put and "rejectedLogEventsInfo" not in put, put
    aws.run("logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "web/2", "--log-events",
            f"timestamp={t - 1500},message=WARN slow request")

    got = aws.run("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "web/1",
                  "--start-from-head")
    assert messages(got["events"]) == ["GET /health 200", "ERROR disk full"]
    assert [e["timestamp"] for e in got["events"]] == [t - 2000, t - 1000]
    again = aws.run("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "web/1",
                    "--next-token", got["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == got["nextForwardToken"], \
        "no more events: the same forward token comes back"

    everything = aws.run("logs", "filter-log-events", "--log-group-name", group)
    assert messages(everything["events"]) == ["GET /health 200", "WARN slow request", "ERROR disk full"], \
        "events of every stream, interleaved by time"
    assert [e["logStreamName"] for e in everything["events"]] == ["web/1", "web/2", "web/1"]
    phrase = aws.run("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", '"disk full"')
    assert messages(phrase["events"]) == ["ERROR disk full"]
    either = aws.run("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "?WARN ?ERROR",
                     "--log-stream-names", "web/2")
    assert messages(either["events"]) == ["WARN slow request"]

    groups = aws.run("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert groups[0]["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"
    assert groups[0]["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    streams = aws.run("logs", "describe-log-streams", "--log-group-name", group, "--order-by", "LastEventTime",
                      "--descending")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["web/1", "web/2"]
    assert streams[0]["lastEventTimestamp"] == t - 1000 and streams[0]["firstEventTimestamp"] == t - 2000

    aws.run("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "14")
    assert aws.run("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"][0]["retentionInDays"] == 14
    aws.run("logs", "delete-retention-policy", "--log-group-name", group)
    assert "retentionInDays" not in aws.run("logs", "describe-log-groups", "--log-group-name-prefix",
                                            group)["logGroups"][0]
    assert aws.run("logs", "list-tags-log-group", "--log-group-name", group)["tags"] == {"team": "conformance"}
    aws.run("logs", "delete-log-group", "--log-group-name", group)
    gone = aws.run("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "web/1", check=False)
    assert gone.returncode != 0 and "ResourceNotFoundException" in gone.stderr, gone.stderr


def tail_cli(aws) -> str | None:
    """An aws CLI with `logs tail` (v2): FERRY_AWS_CLI_V2 if set, else the venv's if it has the
    command (v1 has not), else None."""
    for candidate in (os.environ.get("FERRY_AWS_CLI_V2"), aws_executable()):
        if not candidate:
            continue
        proc = subprocess.run([candidate, "logs", "tail", "help"], capture_output=True, text=True, env=aws.env,
                              timeout=60)
        if proc.returncode == 0 and "Invalid choice" not in proc.stderr:
            return candidate
    return None


def test_aws_logs_tail_and_follow(aws, logs):
    """`aws logs tail GROUP` and `--follow` (aws CLI v2) against ferry local. The CLI of the
    suite's venv is v1, which has no `logs tail`: unless FERRY_AWS_CLI_V2 names a v2 `aws`, the
    same FilterLogEvents calls are made with boto3, as the CLI v2 makes them (interleaved,
    startTime ten minutes back, every page; with --follow, every 5 s from the newest timestamp
    seen, skipping event ids already shown)."""
    group = f"/tail/{unique('logs')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="a")
    logs.create_log_stream(logGroupName=group, logStreamName="b")
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="a",
                        logEvents=[{"timestamp": t - 20 * 60_000, "message": "too old for tail's default"},
                                   {"timestamp": t - 3000, "message": "one"}, {"timestamp": t - 1000, "message": "three"}])
    logs.put_log_events(logGroupName=group, logStreamName="b", logEvents=[{"timestamp": t - 2000, "message": "two"}])

    cli = tail_cli(aws)
    if cli:
        base = [cli, "--endpoint-url", aws.url, "--region", REGION, "logs", "tail", group, "--format", "short"]
        out = subprocess.run(base, capture_output=True, text=True, env=aws.env, timeout=60, check=True).stdout
        assert [line.split(" ", 1)[1] for line in out.splitlines()] == ["one", "two", "three"], out
        # --follow, bounded: it polls every 5 s; a line added meanwhile shows once, then it is stopped.
        follow = subprocess.Popen([*base, "--follow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=aws.env)
        try:
            time.sleep(2)
            logs.put_log_events(logGroupName=group, logStreamName="b",
                                logEvents=[{"timestamp": now_ms(), "message": "four"}])
            out, err = follow.communicate(timeout=13)
        except subprocess.TimeoutExpired:
            follow.kill()
            out, err = follow.communicate(timeout=10)
        assert [line.split(" ", 1)[1] for line in out.splitlines()] == ["one", "two", "three", "four"], (out, err)
        return

    # The CLI v2's tail, call for call.
    start = t - 10 * 60_000
    shown: list[str] = []
    seen = defaultdict(set)
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group, interleaved=True,
                                                                  startTime=start):
        shown += messages(page["events"])
    assert shown == ["one", "two", "three"], "tail: the last ten minutes, every stream, in time order"

    # --follow, bounded: poll without nextToken from the newest timestamp seen; an event
    # already shown (same id) is not shown again.
    kwargs = {"logGroupName": group, "interleaved": True, "startTime": start}
    followed: list[str] = []
    deadline = time.monotonic() + 20
    added = False
    polls = 0
    while time.monotonic() < deadline:
        response = logs.filter_log_events(**kwargs)
        polls += 1
        for event in response["events"]:
            if event["eventId"] not in seen[event["timestamp"]]:
                seen[event["timestamp"]].add(event["eventId"])
                followed.append(event["message"])
        if seen:
            newest = max(seen)
            seen = defaultdict(set, {newest: seen[newest]})
        if "nextToken" in response:
            kwargs["nextToken"] = response["nextToken"]
            continue
        kwargs.pop("nextToken", None)
        if seen:
            kwargs["startTime"] = max(seen)
        if "four" in followed:
            break
        if not added:
            # A line written while tail follows, in the same millisecond as the newest one shown.
            logs.put_log_events(logGroupName=group, logStreamName="b",
                                logEvents=[{"timestamp": t - 1000, "message": "three and a half"},
                                           {"timestamp": now_ms(), "message": "four"}])
            added = True
        time.sleep(0.5)  # the CLI sleeps 5 s; the calls are the same
    assert followed == ["one", "two", "three", "three and a half", "four"], followed
    assert polls >= 2


# --- boto3 and an ECS task with the awslogs driver ------------------------------------------


def test_boto3_paginators_and_tokens(logs):
    prefix = f"/boto3/{unique('logs')}"
    for i in range(3):
        logs.create_log_group(logGroupName=f"{prefix}/{i}", tags={"i": str(i)})
    pages = list(logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix,
                                                                    PaginationConfig={"PageSize": 1}))
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == [f"{prefix}/{i}" for i in range(3)]
    assert len(pages) == 3
    pattern = logs.describe_log_groups(logGroupNamePattern=prefix.split("/")[-1].upper())["logGroups"]
    assert len(pattern) == 3, "logGroupNamePattern matches case-insensitively"

    group = f"{prefix}/0"
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    logs.tag_resource(resourceArn=arn, tags={"team": "conformance"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"i": "0", "team": "conformance"}
    logs.untag_resource(resourceArn=arn, tagKeys=["i"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "conformance"}

    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms() - 60_000
    for batch in range(5):
        events = [{"timestamp": t + batch * 10 + i, "message": f"event {batch * 10 + i}"} for i in range(10)]
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    everything = [f"event {i}" for i in range(50)]

    # GetLogEvents: forward from the head in pages of 7, then the same token at the end.
    got, token = [], None
    for _ in range(20):
        kwargs = {"logGroupIdentifier": arn, "logStreamName": "s", "limit": 7}
        kwargs.update({"nextToken": token} if token else {"startFromHead": True})
        page = logs.get_log_events(**kwargs)
        got += messages(page["events"])
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert got == everything
    # Backward from the tail.
    latest = logs.get_log_events(logGroupName=group, logStreamName="s", limit=5)
    assert messages(latest["events"]) == everything[-5:]
    earlier = logs.get_log_events(logGroupName=group, logStreamName="s", limit=5, nextToken=latest["nextBackwardToken"])
    assert messages(earlier["events"]) == everything[-10:-5]

    pages = list(logs.get_paginator("filter_log_events").paginate(logGroupName=group, filterPattern="event",
                                                                  PaginationConfig={"PageSize": 8}))
    assert [m for p in pages for m in messages(p["events"])] == everything
    assert len(pages) == 7
    ids = [e["eventId"] for p in pages for e in p["events"]]
    assert len(set(ids)) == 50
    window = logs.filter_log_events(logGroupName=group, startTime=t + 12, endTime=t + 14)
    assert messages(window["events"]) == ["event 12", "event 13", "event 14"]

    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert streams[0]["arn"] == f"{arn}:log-stream:s"
    logs.delete_log_stream(logGroupName=group, logStreamName="s")
    assert logs.describe_log_streams(logGroupName=group)["logStreams"] == []
    for i in range(3):
        logs.delete_log_group(logGroupName=f"{prefix}/{i}")


def shell_task_definition(ecs, family: str, script: str, options: dict) -> str:
    container = {"name": "app", "image": "busybox", "essential": True, "memory": 16,
                 "entryPoint": ["/bin/sh", "-c"], "command": [script],
                 "logConfiguration": {"logDriver": "awslogs", "options": options}}
    out = ecs.register_task_definition(family=family, containerDefinitions=[container])
    return out["taskDefinition"]["taskDefinitionArn"]


def stopped(ecs, cluster: str, arn: str) -> dict:
    return wait_until(lambda: next((t for t in ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
                                    if t["lastStatus"] == "STOPPED"), None), timeout=30, what="the task to stop")


def test_an_ecs_tasks_output_reaches_its_awslogs_stream(logs, ecs):
    cluster, group = unique("logs"), f"/ecs/{unique('job')}"
    ecs.create_cluster(clusterName=cluster)
    logs.create_log_group(logGroupName=group)
    options = {"awslogs-group": group, "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"}
    td = shell_task_definition(ecs, unique("job"), "echo migrating; echo 'migration failed' >&2; exit 3", options)
    arn = ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    task = stopped(ecs, cluster, arn)
    assert task["containers"][0]["exitCode"] == 3
    stream = f"ecs/app/{arn.rsplit('/', 1)[1]}"
    events = wait_until(lambda: logs.get_log_events(logGroupName=group, logStreamName=stream,
                                                    startFromHead=True)["events"],
                        timeout=10, what="the task's events")
    assert sorted(messages(events)) == ["migrating", "migration failed"]
    filtered = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="ecs/app/", filterPattern="failed")
    assert [(e["logStreamName"], e["message"]) for e in filtered["events"]] == [(stream, "migration failed")]

    # A group that does not exist: the task never starts, as on Fargate.
    td = shell_task_definition(ecs, unique("job"), "echo never", {**options, "awslogs-group": f"{group}-missing"})
    arn = ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    task = stopped(ecs, cluster, arn)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == MISSING_GROUP
    assert code_of(lambda: logs.describe_log_streams(logGroupName=f"{group}-missing")) == "ResourceNotFoundException"

    # awslogs-create-group: the group is made.
    created = f"{group}-created"
    td = shell_task_definition(ecs, unique("job"), "echo made",
                               {**options, "awslogs-group": created, "awslogs-create-group": "true"})
    arn = ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    stopped(ecs, cluster, arn)
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=created)["logGroups"]] == [created]
    assert messages(wait_until(lambda: logs.filter_log_events(logGroupName=created)["events"], timeout=10,
                               what="the created group's event")) == ["made"]


# --- requests AWS refuses -----------------------------------------------------------------


def test_bad_requests_get_the_aws_error_and_change_nothing(logs, ferry_url):
    group = f"/bad/{unique('logs')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    t = now_ms()
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": t, "message": "kept"}])

    def snapshot():
        groups = logs.describe_log_groups(logGroupNamePrefix="/bad/")["logGroups"]
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        events = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)["events"]
        return groups, streams, events

    before = snapshot()
    assert code_of(lambda: logs.create_log_group(logGroupName=group)) == "ResourceAlreadyExistsException"
    assert code_of(lambda: logs.create_log_stream(logGroupName=group, logStreamName="s")) == \
        "ResourceAlreadyExistsException"
    assert code_of(lambda: logs.create_log_stream(logGroupName=f"{group}-x", logStreamName="s")) == \
        "ResourceNotFoundException"
    out_of_order = [{"timestamp": t + 2, "message": "b"}, {"timestamp": t + 1, "message": "a"}]
    try:
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=out_of_order)
        raise AssertionError("events out of order were accepted")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterException"
        assert e.response["Error"]["Message"] == \
            "Log events in a single PutLogEvents request must be in chronological order."
    wide = [{"timestamp": t - 25 * 3_600_000, "message": "a"}, {"timestamp": t, "message": "b"}]
    assert code_of(lambda: logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=wide)) == \
        "InvalidParameterException"
    assert code_of(lambda: logs.put_log_events(logGroupName=group, logStreamName="nope",
                                               logEvents=[{"timestamp": t, "message": "x"}])) == \
        "ResourceNotFoundException"
    assert code_of(lambda: logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="f/garbage")) == \
        "InvalidParameterException"
    assert code_of(lambda: logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "error" }')) == \
        "InvalidParameterException"
    assert code_of(lambda: logs.put_retention_policy(logGroupName=group, retentionInDays=2)) == \
        "InvalidParameterException"
    assert code_of(lambda: logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                                     logStreamNamePrefix="s")) == "InvalidParameterException"
    assert code_of(lambda: logs.delete_log_group(logGroupName=f"{group}-x")) == "ResourceNotFoundException"
    # What botocore would refuse before sending, sent by hand.
    for operation, body in [
        ("CreateLogGroup", {"logGroupName": "bad name!"}),
        ("CreateLogStream", {"logGroupName": group, "logStreamName": "a:b"}),
        ("PutLogEvents", {"logGroupName": group, "logStreamName": "s", "logEvents": [{"timestamp": t, "message": ""}]}),
        ("PutLogEvents", {"logGroupName": group, "logStreamName": "s", "logEvents": []}),
        ("DescribeLogGroups", {"limit": 0}),
        ("GetLogEvents", {"logGroupName": group, "logStreamName": "s", "limit": 10001}),
        ("PutLogEvents", {"logGroupName": group, "logStreamName": "s", "logEvents": [{"timestamp": "soon", "message": "x"}]}),
    ]:
        auth = RAW_AUTH_LOGS
        answer = raw_call(ferry_url, f"{TARGET}.{operation}", body, authorization=auth)
        assert answer.status == 400, (operation, body, answer)
        expected = "SerializationException" if body.get("logEvents") and body["logEvents"][0]["timestamp"] == "soon" \
            else "InvalidParameterException"
        assert answer.body["__type"] == expected, (operation, body, answer.body)
    assert snapshot() == before, "a refused request changed what ferry local answers"


RAW_AUTH_LOGS = (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/logs/aws4_request, "
                 "SignedHeaders=host, Signature=0")


# --- moto --------------------------------------------------------------------------------------

# (where, difference, follows AWS, why) -- as in test_moto_comparison.EXPECTED.
EXPECTED: list[tuple[str, str, str, str]] = [
    ("DescribeLogGroupsResponse.nextToken", "moto only", "ferry",
     "moto answers `nextToken: null` on the last page; AWS leaves nextToken out (null is not a String)"),
    ("DescribeLogStreamsResponse.nextToken", "moto only", "ferry", "as DescribeLogGroupsResponse.nextToken"),
    ("FilterLogEventsResponse.nextToken", "moto only", "ferry",
     "as DescribeLogGroupsResponse.nextToken; the aws CLI v2's `logs tail --follow` waits for new events only "
     "when nextToken is absent"),
    ("LogGroup.logGroupClass", "ferry only", "ferry",
     "a group's class (STANDARD unless created otherwise), in the API reference's LogGroup since log group "
     "classes (2023); moto leaves it out"),
]


@dataclass(repr=False)
class Comparison:
    ferry: object
    moto: object
    found: set = field(default_factory=set)
    log: list = field(default_factory=list)

    def _call(self, client, peer: str, operation: str, params: dict):
        try:
            getattr(client, xform_name(operation))(**params)
        except ClientError as e:
            last = RECORDER.responses[-1]
            assert (last.peer, last.operation) == (peer, operation)
            return False, last.body if isinstance(last.body, dict) else {}, e.response["Error"]["Code"]
        last = RECORDER.responses[-1]
        assert (last.peer, last.operation) == (peer, operation)
        return True, last.body, ""

    def call(self, operation: str, params: dict):
        f_ok, f_body, f_code = self._call(self.ferry, "ferry", operation, params)
        m_ok, m_body, m_code = self._call(self.moto, "moto", operation, params)
        if f_ok and m_ok:
            diffs = shapes.compare(shapes.signature("logs", operation, f_body), shapes.signature("logs", operation, m_body))
        elif f_ok != m_ok:
            diffs = [("<outcome>", f"ferry {'ok' if f_ok else f_code}, moto {'ok' if m_ok else m_code}")]
        elif f_code != m_code:
            diffs = [("<error>", f"error: ferry {f_code}, moto {m_code}")]
        else:
            diffs = []
        for path, difference in diffs:
            where = f"{operation} error" if path.startswith("<") else shapes.owner("logs", operation, path)
            self.found.add((where, difference))
            self.log.append((operation, where, difference, path))
        self.log.append((operation, None, None, None))
        return (f_ok, f_body, f_code), (m_ok, m_body, m_code)

    def unexpected(self) -> list[str]:
        listed = {(where, diff) for where, diff, _, _ in EXPECTED}
        return sorted({f"{where}  {diff}  (at {op}: {path})" for op, where, diff, path in self.log
                       if where is not None and (where, diff) not in listed})


@pytest.fixture(scope="module")
def compare(ferry_url, moto_url, recorder) -> Comparison:
    return Comparison(make_client("logs", ferry_url, "ferry", recorder), make_client("logs", moto_url, "moto", recorder))


def test_logs_answers_have_moto_shapes(compare):
    group = f"/cmp/{unique('logs')}"
    t = now_ms()
    f, m = compare.call("CreateLogGroup", {"logGroupName": group, "tags": {"team": "conformance"}})
    assert f[0] and m[0], (f, m)
    compare.call("CreateLogGroup", {"logGroupName": group})
    compare.call("DescribeLogGroups", {"logGroupNamePrefix": group})
    compare.call("PutRetentionPolicy", {"logGroupName": group, "retentionInDays": 30})
    compare.call("DescribeLogGroups", {"logGroupNamePrefix": group})
    compare.call("DeleteRetentionPolicy", {"logGroupName": group})
    compare.call("CreateLogStream", {"logGroupName": group, "logStreamName": "s"})
    compare.call("CreateLogStream", {"logGroupName": group, "logStreamName": "s"})
    compare.call("DescribeLogStreams", {"logGroupName": group})
    f, m = compare.call("PutLogEvents", {"logGroupName": group, "logStreamName": "s",
                                         "logEvents": [{"timestamp": t - 1000, "message": "hello"},
                                                       {"timestamp": t, "message": "ERROR world"}]})
    assert f[0] and m[0], (f, m)
    compare.call("PutLogEvents", {"logGroupName": group, "logStreamName": "s",
                                  "logEvents": [{"timestamp": t, "message": "b"}, {"timestamp": t - 5, "message": "a"}]})
    compare.call("PutLogEvents", {"logGroupName": group, "logStreamName": "missing",
                                  "logEvents": [{"timestamp": t, "message": "x"}]})
    compare.call("DescribeLogStreams", {"logGroupName": group, "orderBy": "LastEventTime", "descending": True})
    f, m = compare.call("GetLogEvents", {"logGroupName": group, "logStreamName": "s", "startFromHead": True})
    assert messages(f[1]["events"]) == messages(m[1]["events"]) == ["hello", "ERROR world"], (f, m)
    f, m = compare.call("FilterLogEvents", {"logGroupName": group, "filterPattern": "ERROR"})
    assert messages(f[1]["events"]) == messages(m[1]["events"]) == ["ERROR world"], (f, m)
    compare.call("FilterLogEvents", {"logGroupName": group})
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
    compare.call("TagResource", {"resourceArn": arn, "tags": {"env": "dev"}})
    f, m = compare.call("ListTagsForResource", {"resourceArn": arn})
    # CreateLogGroup's tags are the group's tags (API reference); moto keeps them apart from TagResource's.
    assert f[1]["tags"] == {"team": "conformance", "env": "dev"} and m[1]["tags"].get("env") == "dev", (f, m)
    compare.call("UntagResource", {"resourceArn": arn, "tagKeys": ["env"]})
    compare.call("ListTagsLogGroup", {"logGroupName": group})
    compare.call("GetLogEvents", {"logGroupName": group, "logStreamName": "missing"})
    compare.call("DescribeLogStreams", {"logGroupName": f"{group}-missing"})
    compare.call("FilterLogEvents", {"logGroupName": f"{group}-missing"})
    compare.call("DeleteLogStream", {"logGroupName": group, "logStreamName": "s"})
    compare.call("DeleteLogStream", {"logGroupName": group, "logStreamName": "s"})
    compare.call("DeleteLogGroup", {"logGroupName": group})
    compare.call("DeleteLogGroup", {"logGroupName": group})
    unexpected = compare.unexpected()
    assert not unexpected, ("differences from moto not listed in EXPECTED (add them with the side that follows "
                            "the AWS model, or fix ferry local):\n" + "\n".join(unexpected))
    stale = [f"{where}  {diff}" for where, diff, _, _ in EXPECTED if (where, diff) not in compare.found]
    assert not stale, "listed in EXPECTED but no longer different (remove them):\n" + "\n".join(stale)


def markdown_table() -> str:
    return shapes.differences_table(EXPECTED)


def test_docs_list_the_same_differences():
    text = DOC.read_text() if DOC.exists() else ""
    assert markdown_table() in text, (
        f"{DOC} must contain the table of EXPECTED differences; print it with "
        "`python -c 'import sys; sys.path[:0]=[\"tests/conformance\"]; import test_logs as t; "
        "print(t.markdown_table())'`"
    )
