"""Every response ferry local gave the suite's clients, checked against the operation's
output shape in botocore's service-2.json: no member the model lacks, the JSON type the
model says, enum values the model lists. Error answers must name an error the operation's
model lists (or one of the protocol's common errors).

conftest runs this module last, so it sees what the flows recorded.
"""

from __future__ import annotations

import pytest

import shapes
from conftest import RECORDER


def test_the_validator_catches_what_it_should():
    good = {
        "services": [
            {
                "serviceName": "web",
                "desiredCount": 2,
                "createdAt": 1767225600.5,
                "deployments": [{"status": "PRIMARY", "rolloutState": "COMPLETED"}],
                "tags": [{"key": "k", "value": "v"}],
            }
        ],
        "failures": [],
    }
    assert shapes.validate("ecs", "DescribeServices", good) == []
    bad = {
        "services": [
            {
                "serviceName": "web",
                "desiredCount": "2",
                "createdAt": "yesterday",
                "deployments": [{"status": "PRIMARY", "rolloutState": "DONE", "extra": 1}],
                "launchType": None,
            }
        ],
        "failures": {},
    }
    problems = shapes.validate("ecs", "DescribeServices", bad)
    joined = "\n".join(problems)
    assert "services[0].desiredCount: string where the model has integer" in joined
    assert "services[0].createdAt: string where the model has timestamp" in joined
    assert "services[0].deployments[0].rolloutState: 'DONE' is not one of" in joined
    assert "services[0].deployments[0].extra: not a member of Deployment" in joined
    assert "services[0].launchType: null" in joined
    assert "failures: object where the model has list" in joined
    assert len(problems) == 6, problems
    # The CLI may print timestamps as text; wire JSON carries numbers.
    assert shapes.validate("ecs", "DescribeServices", {"services": [{"createdAt": "2026-01-01T00:00:00+00:00"}]},
                           timestamps="any") == []
    # Maps: keys and values are checked against the map's shapes.
    assert shapes.validate("ecs", "DescribeTasks", {"tasks": [{"overrides": {}}]}) == []


def test_signatures_compare_shape_not_data():
    a = shapes.signature("ecs", "ListClusters", {"clusterArns": ["x", "y"]})
    b = shapes.signature("ecs", "ListClusters", {"clusterArns": [], "nextToken": "t"})
    assert shapes.compare(a, b) == [("nextToken", "moto only")]
    c = shapes.signature("ecs", "DescribeClusters", {"clusters": [{"clusterName": "a", "tags": []}]})
    d = shapes.signature("ecs", "DescribeClusters", {"clusters": [{"clusterName": 1, "settings": [{"name": "n"}]}]})
    assert shapes.compare(c, d) == [
        ("clusters[].clusterName", "type: ferry string, moto number"),
        ("clusters[].settings", "moto only"),
        ("clusters[].tags", "ferry only"),
    ]


def test_query_answers_are_read_by_the_model():
    ok = b"""<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
      <DescribeTargetHealthResult><TargetHealthDescriptions>
        <member><Target><Id>i-0f0e0d0c0b0a09080</Id><Port>32768</Port></Target><HealthCheckPort>32768</HealthCheckPort>
          <TargetHealth><State>draining</State><Reason>Target.DeregistrationInProgress</Reason></TargetHealth></member>
      </TargetHealthDescriptions></DescribeTargetHealthResult>
      <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeTargetHealthResponse>"""
    body = shapes.from_query_xml("elbv2", "DescribeTargetHealth", ok)
    assert body == {"TargetHealthDescriptions": [{
        "Target": {"Id": "i-0f0e0d0c0b0a09080", "Port": 32768}, "HealthCheckPort": "32768",
        "TargetHealth": {"State": "draining", "Reason": "Target.DeregistrationInProgress"}}]}
    assert shapes.validate("elbv2", "DescribeTargetHealth", body) == []
    bad = b"""<DescribeLoadBalancersResponse><DescribeLoadBalancersResult><LoadBalancers><member>
      <CreatedTime>yesterday</CreatedTime><Extra>1</Extra><State><Code>warming</Code></State></member>
      </LoadBalancers></DescribeLoadBalancersResult></DescribeLoadBalancersResponse>"""
    problems = "\n".join(shapes.validate("elbv2", "DescribeLoadBalancers",
                                         shapes.from_query_xml("elbv2", "DescribeLoadBalancers", bad)))
    assert "LoadBalancers[0].CreatedTime: string where the model has timestamp" in problems
    assert "LoadBalancers[0].Extra: not a member of LoadBalancer" in problems
    assert "'warming' is not one of" in problems
    error = b"""<ErrorResponse><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>
      <Message>One or more target groups not found</Message></Error><RequestId>2</RequestId></ErrorResponse>"""
    body = shapes.from_query_xml("elbv2", "DescribeTargetGroups", error)
    assert body["__type"] == "TargetGroupNotFound" and body["message"] == "One or more target groups not found"
    # ELBv2's errors are answered by their code, not their shape's name.
    assert "TargetGroupNotFound" in shapes.operation_errors("elbv2", "DescribeTargetGroups")
    assert "ValidationError" in shapes.common_errors("elbv2") and "ValidationError" not in shapes.common_errors("ecs")


def _ferry_responses():
    return [r for r in RECORDER.responses if r.peer == "ferry"]


def test_every_ferry_local_response_follows_the_botocore_model():
    responses = _ferry_responses()
    if not responses:
        pytest.skip("no flow ran in this session, so there is nothing to check")
    problems = []
    checked = set()
    for r in responses:
        where = f"{r.client} {r.service}:{r.operation} ({r.test})"
        if r.status >= 400 or (isinstance(r.body, dict) and "__type" in r.body and r.status != 200):
            code = r.body.get("__type", "") if isinstance(r.body, dict) else ""
            code = code.rsplit("#", 1)[-1]
            allowed = shapes.operation_errors(r.service, r.operation) | shapes.common_errors(r.service)
            if code not in allowed:
                problems.append(f"{where}: error {code!r} is not one the model lists for the operation")
            continue
        timestamps = "any" if r.client == "cli" else "number"
        for problem in shapes.validate(r.service, r.operation, r.body, timestamps=timestamps):
            problems.append(f"{where}: {problem}")
        checked.add((r.service, r.operation))
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    # The flows cover the operations a deploy pipeline uses; make sure they were checked.
    expected = {
        ("ecs", op) for op in (
            "CreateCluster", "RegisterTaskDefinition", "CreateService", "DescribeServices", "UpdateService",
            "ListTasks", "DescribeTasks", "StopTask", "ListServiceDeployments", "DescribeServiceDeployments",
        )
    } | {("ecr", op) for op in ("CreateRepository", "PutImage", "BatchGetImage", "DescribeImages")} | {
        ("application-autoscaling", op) for op in ("RegisterScalableTarget", "DescribeScalableTargets")
    }
    ran_flows = {r.test.split("::")[0].rsplit("/", 1)[-1] for r in responses}
    if {"test_cli_flow.py", "test_boto3_flow.py"} <= ran_flows:
        assert expected <= checked, f"not checked: {sorted(expected - checked)}"
    # The ELBv2 flows: what a load balancer set-up and a deploy behind it call.
    elbv2 = {
        ("elbv2", op) for op in (
            "CreateLoadBalancer", "DescribeLoadBalancers", "CreateTargetGroup", "DescribeTargetGroups",
            "ModifyTargetGroupAttributes", "DescribeTargetGroupAttributes", "CreateListener", "DescribeListeners",
            "CreateRule", "DescribeRules", "ModifyRule", "DescribeTargetHealth", "DescribeTags", "DeleteListener",
            "DeleteLoadBalancer", "DeleteTargetGroup",
        )
    }
    if {"test_elbv2_cli_flow.py", "test_elbv2_boto3_flow.py"} <= ran_flows:
        assert elbv2 <= checked, f"not checked: {sorted(elbv2 - checked)}"
    # CloudWatch's alarms, answered in CBOR, JSON and Query.
    cloudwatch = {("cloudwatch", op) for op in ("PutMetricAlarm", "DescribeAlarms", "SetAlarmState", "DeleteAlarms")}
    if "test_cloudwatch.py" in ran_flows:
        assert cloudwatch <= checked, f"not checked: {sorted(cloudwatch - checked)}"
