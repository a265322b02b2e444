"""ELBv2 requests AWS refuses are refused by ferry local the same way (the model's error code,
AWS's words), and change nothing: what DescribeLoadBalancers, DescribeTargetGroups (and
their attributes), DescribeListeners, DescribeRules, DescribeTargetHealth and DescribeTags
answer is identical before and after each.

Values outside the model's ranges never leave boto3 (it validates parameters first), so a
second client with parameter validation off sends them, as a client in another language
or a hand-written request would.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import elb
import shapes
from conftest import ACCOUNT, REGION, unique

INSTANCE = "i-0f0e0d0c0b0a09080"


@pytest.fixture(scope="module")
def raw_elbv2(ferry_url):
    """An ELBv2 client that sends what it is given (no client-side parameter validation)."""
    return boto3.client("elbv2", endpoint_url=ferry_url, region_name=REGION, aws_access_key_id=ACCOUNT,
                        aws_secret_access_key="conformance",
                        config=Config(parameter_validation=False, retries={"mode": "standard", "max_attempts": 1}))


@pytest.fixture(scope="module")
def world(ferry):
    """A load balancer with a listener and three rules (priorities 10, 20, 30) forwarding to one target group, and a
    second group no listener uses, holding a target. Nothing here changes by itself: the
    used group has no target to health-check, the unused group's target stays `unused`."""
    elbv2 = ferry.elbv2
    lb = elbv2.create_load_balancer(Name=unique("bad"), Subnets=elb.SUBNETS, Scheme="internal",
                                    Tags=[{"Key": "team", "Value": "conformance"}])["LoadBalancers"][0]
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    used = elbv2.create_target_group(Name=unique("bad-used"), Protocol="HTTP", Port=80, VpcId=elb.VPC)
    unused = elbv2.create_target_group(Name=unique("bad-unused"), Protocol="HTTP", Port=80, VpcId=elb.VPC)
    used, unused = used["TargetGroups"][0]["TargetGroupArn"], unused["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=unused, Targets=[{"Id": INSTANCE, "Port": 9}])
    port = elb.free_port(elb.address(lb["DNSName"]))
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                     DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                                         "StatusCode": "404", "ContentType": "text/plain"}}])["Listeners"][0]
    path = lambda value: [{"Field": "path-pattern", "PathPatternConfig": {"Values": [value]}}]  # noqa: E731
    rules = [elbv2.create_rule(ListenerArn=listener["ListenerArn"], Priority=priority, Conditions=path(f"/{priority}"),
                               Actions=[{"Type": "forward", "TargetGroupArn": used}])["Rules"][0]["RuleArn"]
             for priority in (10, 20, 30)]
    return {"lb": lb["LoadBalancerArn"], "listener": listener["ListenerArn"], "port": port, "used": used,
            "unused": unused, "rules": rules}


def snapshot(ferry, world) -> dict:
    elbv2 = ferry.elbv2
    strip = lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}  # noqa: E731
    groups = elbv2.get_paginator("describe_target_groups").paginate().build_full_result()["TargetGroups"]
    balancers = elbv2.get_paginator("describe_load_balancers").paginate().build_full_result()["LoadBalancers"]
    return {
        "load balancers": sorted((b["LoadBalancerArn"], b["State"]["Code"]) for b in balancers),
        "load balancer": strip(elbv2.describe_load_balancers(LoadBalancerArns=[world["lb"]])),
        "target groups": sorted((g["TargetGroupArn"], g["TargetGroupName"], g["Port"], g["HealthCheckPath"],
                                 g["HealthCheckIntervalSeconds"]) for g in groups),
        "attributes": [strip(elbv2.describe_target_group_attributes(TargetGroupArn=world[g])) for g in ("used", "unused")],
        "listeners": strip(elbv2.describe_listeners(LoadBalancerArn=world["lb"])),
        "rules": strip(elbv2.describe_rules(ListenerArn=world["listener"])),
        "targets": [strip(elbv2.describe_target_health(TargetGroupArn=world[g])) for g in ("used", "unused")],
        "tags": strip(elbv2.describe_tags(ResourceArns=[world["lb"], world["used"], world["listener"]])),
    }


@pytest.fixture
def refused(ferry, world):
    """Checks that a call is refused with `code` (and a message that contains `words`) and
    that the state read back is the same as before it."""

    def check(call, code: str, words: str = "", **params):
        before = snapshot(ferry, world)
        with pytest.raises(ClientError) as e:
            call(**params)
        error = e.value.response["Error"]
        assert error["Code"] == code, error
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.value.response
        assert words in error["Message"], error
        assert snapshot(ferry, world) == before
        return error["Message"]

    return check


@pytest.mark.parametrize("name, words", [
    ("under_score", "Target group name 'under_score' can only contain characters that are alphanumeric characters "
                    "or hyphens(-)"),
    ("-lead", "Target group name '-lead' cannot begin or end with '-'"),
    ("trail-", "Target group name 'trail-' cannot begin or end with '-'"),
    ("x" * 33, f"Target group name '{'x' * 33}' cannot be longer than '32' characters"),
], ids=["underscore", "leading-hyphen", "trailing-hyphen", "33-characters"])
def test_a_bad_target_group_name(ferry, refused, name, words):
    refused(ferry.elbv2.create_target_group, "ValidationError", words, Name=name, Protocol="HTTP", Port=80,
            VpcId=elb.VPC)


def test_a_health_check_out_of_range_or_longer_than_its_interval(ferry, raw_elbv2, refused):
    base = dict(Name=unique("hc"), Protocol="HTTP", Port=80, VpcId=elb.VPC)
    refused(raw_elbv2.create_target_group, "ValidationError",
            "Value '4' at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value greater "
            "than or equal to 5", **base, HealthCheckIntervalSeconds=4)
    refused(raw_elbv2.create_target_group, "ValidationError",
            "Value '11' at 'healthyThresholdCount' failed to satisfy constraint: Member must have value less than or "
            "equal to 10", **base, HealthyThresholdCount=11)
    refused(ferry.elbv2.create_target_group, "ValidationError", "Health check interval must be greater than the timeout",
            **base, HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=5)


def forward_to(*weighted) -> list[dict]:
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": arn, "Weight": weight} for arn, weight in weighted]}}]


def test_a_weight_out_of_0_to_999(ferry, raw_elbv2, world, refused):
    conditions = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/w"]}}]
    for weight in (1000, -1):
        refused(raw_elbv2.create_rule, "ValidationError", "The weight for each target group must be between 0 and 999",
                ListenerArn=world["listener"], Priority=35, Conditions=conditions,
                Actions=forward_to((world["used"], 80), (world["unused"], weight)))
    refused(raw_elbv2.modify_rule, "ValidationError", "The weight for each target group must be between 0 and 999",
            RuleArn=world["rules"][0], Actions=forward_to((world["used"], 1000)))


def test_an_unknown_target_group_in_a_rule(ferry, world, refused):
    absent = world["used"].rsplit("/", 1)[0] + "/0123456789abcdef"
    conditions = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/u"]}}]
    refused(ferry.elbv2.create_rule, "TargetGroupNotFound", "not found",
            ListenerArn=world["listener"], Priority=40, Conditions=conditions,
            Actions=[{"Type": "forward", "TargetGroupArn": absent}])
    refused(ferry.elbv2.modify_rule, "TargetGroupNotFound", "not found",
            RuleArn=world["rules"][0], Actions=forward_to((world["used"], 1), (absent, 1)))
    refused(ferry.elbv2.modify_listener, "TargetGroupNotFound", "not found",
            ListenerArn=world["listener"], DefaultActions=[{"Type": "forward", "TargetGroupArn": absent}])


def test_a_priority_in_use(ferry, world, refused):
    conditions = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/p"]}}]
    message = refused(ferry.elbv2.create_rule, "PriorityInUse", ListenerArn=world["listener"], Priority=10,
                      Conditions=conditions, Actions=[{"Type": "forward", "TargetGroupArn": world["used"]}])
    assert message == "Priority '10' is currently in use", message
    # SetRulePriorities is all or nothing: the first change (10 → 15) is not kept when the
    # second (20 → 30, the priority of a rule the request leaves where it is) fails.
    refused(ferry.elbv2.set_rule_priorities, "PriorityInUse", "Priority '30' is currently in use", RulePriorities=[
        {"RuleArn": world["rules"][0], "Priority": 15}, {"RuleArn": world["rules"][1], "Priority": 30}])


def test_a_priority_out_of_range(raw_elbv2, world, refused):
    conditions = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/r"]}}]
    for priority, bound in ((0, "greater than or equal to 1"), (50001, "less than or equal to 50000")):
        refused(raw_elbv2.create_rule, "ValidationError",
                f"Value '{priority}' at 'priority' failed to satisfy constraint: Member must have value {bound}",
                ListenerArn=world["listener"], Priority=priority, Conditions=conditions,
                Actions=[{"Type": "forward", "TargetGroupArn": world["used"]}])


def test_deleting_a_group_in_use_or_the_default_rule(ferry, world, refused):
    used = world["used"]
    message = refused(ferry.elbv2.delete_target_group, "ResourceInUse", TargetGroupArn=used)
    assert message == f"Target group '{used}' is currently in use by a listener or a rule", message
    default = next(r["RuleArn"] for r in ferry.elbv2.describe_rules(ListenerArn=world["listener"])["Rules"]
                   if r["IsDefault"])
    refused(ferry.elbv2.delete_rule, "OperationNotPermitted", RuleArn=default)


def test_a_second_listener_on_the_same_port(ferry, world, refused):
    refused(ferry.elbv2.create_listener, "DuplicateListener", LoadBalancerArn=world["lb"], Protocol="HTTP",
            Port=world["port"], DefaultActions=[{"Type": "forward", "TargetGroupArn": world["unused"]}])


def test_unknown_resources(ferry, raw_elbv2, world, refused):
    absent_group = world["used"].rsplit("/", 1)[0] + "/0123456789abcdef"
    refused(ferry.elbv2.register_targets, "TargetGroupNotFound", "One or more target groups not found",
            TargetGroupArn=absent_group, Targets=[{"Id": INSTANCE, "Port": 80}])
    refused(ferry.elbv2.modify_rule, "RuleNotFound", "One or more rules not found",
            RuleArn=world["rules"][0][:-4] + "0000", Conditions=[{"Field": "path-pattern", "Values": ["/x"]}])
    refused(ferry.elbv2.modify_listener, "ListenerNotFound", "One or more listeners not found",
            ListenerArn=world["listener"][:-4] + "0000", Port=81)
    refused(raw_elbv2.register_targets, "ValidationError",
            "Value '70000' at 'targets.1.member.port' failed to satisfy constraint: Member must have value less "
            "than or equal to 65535", TargetGroupArn=world["unused"], Targets=[{"Id": INSTANCE, "Port": 70000}])


def test_malformed_query_requests(ferry, ferry_url, world):
    before = snapshot(ferry, world)
    for params, code in [
        ({"Action": "DeleteEverything"}, "InvalidAction"),
        ({"Action": "CreateTargetGroup", "Protocol": "HTTP", "Port": "80", "VpcId": elb.VPC}, "ValidationError"),
        ({"Action": "CreateRule", "ListenerArn": world["listener"], "Priority": "ten",
          "Conditions.member.1.Field": "path-pattern", "Conditions.member.1.Values.member.1": "/q",
          "Actions.member.1.Type": "forward", "Actions.member.1.TargetGroupArn": world["used"]}, None),
    ]:
        action = params.pop("Action")
        status, text = elb.query(ferry_url, action, params)
        answer = shapes.from_query_xml("elbv2", action, text)
        assert status == 400, (action, status, text)
        assert isinstance(answer, dict) and answer.get("Type") == "Sender", text
        if code:
            assert answer["__type"] == code, (action, answer)
        else:
            assert answer["__type"] in shapes.common_errors("elbv2"), (action, answer)
    assert snapshot(ferry, world) == before


def test_the_same_requests_well_formed_do_change_state(ferry, world):
    """The control: corrected, the requests above are accepted and their effect shows."""
    elbv2 = ferry.elbv2
    before = snapshot(ferry, world)
    name = unique("good")
    elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=elb.VPC)
    rule = elbv2.create_rule(ListenerArn=world["listener"], Priority=35, Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/w"]}}],
        Actions=forward_to((world["used"], 999), (world["unused"], 0)))["Rules"][0]
    after = snapshot(ferry, world)
    assert name in {g[1] for g in after["target groups"]}
    assert after["rules"] != before["rules"]
    elbv2.delete_rule(RuleArn=rule["RuleArn"])
