"""ELBv2: the same requests sent to ferry local and to moto's server, their answers compared
by shape (the members present at every depth and their types, read from the XML by the
botocore model) or by error code, for every ELBv2 operation both implement.

As in test_moto_comparison.py, every difference found must be listed in EXPECTED with the
side whose answer follows the AWS model and API reference; an unlisted difference fails,
and so does a listed one that no longer happens. docs/conformance.md holds the same table.
Each side gets the same request but for the ids its resources got (ARNs, and moto's VPC
and subnets, which must exist in moto's EC2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import elb
import shapes
from conftest import ACCOUNT, RECORDER, REGION, unique

# (where, difference, follows AWS, why) -- as in test_moto_comparison.EXPECTED.
EXPECTED: list[tuple[str, str, str, str]] = [
    # Load balancers
    ("AvailabilityZone.LoadBalancerAddresses", "ferry only", "both",
     "ferry local answers `LoadBalancerAddresses: []` for each zone of an ALB; the model allows either, and the "
     "CLI's ALB examples (create-load-balancer, set-subnets) leave the member out (it carries a Network Load "
     "Balancer's Elastic IPs)"),
    ("SetSubnetsOutput.IpAddressType", "ferry only", "ferry",
     "a member of SetSubnets' output in the model; moto leaves it out"),
    # Target groups and targets
    ("TargetGroup.LoadBalancerArns", "ferry only", "both",
     "ferry local answers `LoadBalancerArns: []` for a group no listener uses yet, moto leaves the member out; "
     "the model allows either (the create-target-group example has none, describe-target-groups lists the ARNs)"),
    ("CreateTargetGroup error", "ferry ok, moto DuplicateTargetGroupName", "ferry",
     "creating a target group that exists with the same settings: ELBv2's operations are idempotent "
     "(\"If you repeat an operation, it succeeds\", the model's documentation) and CreateTargetGroup "
     "answers the existing group; DuplicateTargetGroupName is for the same name with other settings"),
    ("CreateTargetGroup error", "ferry ValidationError, moto ok", "ferry",
     "a health check interval (5 s) no longer than its timeout (5 s, the default) is refused by AWS "
     "(\"Health check interval must be greater than the timeout.\"); moto accepts it"),
    ("TargetHealthDescription.AdministrativeOverride", "ferry only", "ferry",
     "in the model's TargetHealthDescription (`no_override` unless an override is active); moto leaves it out"),
    ("TargetDescription.AvailabilityZone", "ferry only", "both",
     "ferry local names its one zone for a target; the model allows either (the describe-target-health "
     "examples show it only for a Lambda target's `all`)"),
    ("TargetHealth.Reason", "ferry only", "ferry",
     "ferry local health-checks the target (nothing listens on port 9: `unused`/`Target.NotInUse` before a "
     "listener uses the group, then `initial`, `unhealthy`, with AWS's reason codes); moto answers `healthy` "
     "for any registered target, so has no reason to give"),
    ("TargetHealth.Description", "ferry only", "ferry", "as TargetHealth.Reason: AWS describes every state but healthy"),
    ("DeregisterTargets error", "ferry ok, moto InvalidTarget", "ferry",
     "deregistering a target that is no longer registered: ELBv2's operations are idempotent (the model's "
     "documentation); InvalidTarget is for a target that does not exist or is in another VPC"),
    # Listeners
    ("Listener.SslPolicy", "moto only", "ferry",
     "moto answers `ELBSecurityPolicy-2016-08` for an HTTP listener; AWS has a security policy only for "
     "HTTPS and TLS listeners (describe-listeners and modify-listener examples)"),
    ("Listener.AlpnPolicy", "moto only", "ferry", "moto answers `[]` for an HTTP listener; ALPN policies are for TLS listeners"),
    # Rules and actions
    ("Action.ForwardConfig", "ferry only", "ferry",
     "AWS answers a forward to one target group in both forms, TargetGroupArn and a ForwardConfig holding "
     "that group (create-listener example 6); moto echoes TargetGroupArn only"),
    ("RedirectActionConfig.Host", "ferry only", "ferry",
     "AWS fills in the redirect's defaults (`#{host}`, `#{query}`) in what it answers (modify-listener example 2)"),
    ("RedirectActionConfig.Query", "ferry only", "ferry", "as RedirectActionConfig.Host"),
    ("RuleCondition.Values", "ferry only", "ferry",
     "AWS answers a path-pattern or host-header condition in both forms, `Values` and its `…Config`; moto "
     "answers only the form it was given"),
    ("RuleCondition.PathPatternConfig", "ferry only", "ferry", "as RuleCondition.Values, the other way round"),
    ("CreateRule error", "ferry ValidationError, moto ok", "ferry",
     "a weight of 1000 in a ForwardConfig: AWS refuses it (\"The weight for each target group must be between "
     "0 and 999, inclusive\"); moto accepts it"),
]

# ELBv2 operations moto's server implements (moto 5.2.1, moto/elbv2/responses.py) that this
# module sends to both. Those ferry local does not serve are listed in NOT_SERVED below.
MOTO_OPERATIONS = {
    "CreateLoadBalancer", "DescribeLoadBalancers", "DeleteLoadBalancer", "DescribeLoadBalancerAttributes",
    "ModifyLoadBalancerAttributes", "SetSecurityGroups", "SetSubnets", "SetIpAddressType",
    "CreateTargetGroup", "DescribeTargetGroups", "ModifyTargetGroup", "DeleteTargetGroup",
    "DescribeTargetGroupAttributes", "ModifyTargetGroupAttributes",
    "RegisterTargets", "DeregisterTargets", "DescribeTargetHealth",
    "CreateListener", "DescribeListeners", "ModifyListener", "DeleteListener",
    "DescribeListenerAttributes", "ModifyListenerAttributes", "DescribeListenerCertificates",
    "CreateRule", "DescribeRules", "ModifyRule", "SetRulePriorities", "DeleteRule",
    "AddTags", "RemoveTags", "DescribeTags", "DescribeAccountLimits", "DescribeSSLPolicies",
    "DescribeCapacityReservation",
}

# Those of MOTO_OPERATIONS ferry local answers with UnsupportedOperation (docs/conformance.md).
NOT_SERVED = ["DescribeAccountLimits", "DescribeCapacityReservation", "DescribeListenerCertificates",
              "DescribeSSLPolicies"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"
INSTANCE = "i-0f0e0d0c0b0a09080"


@dataclass
class Outcome:
    ok: bool
    body: dict
    code: str = ""


@dataclass
class Side:
    """One peer: its ELBv2 client and the ids its resources got."""

    peer: str
    client: object
    vpc: str
    subnets: list[str]
    ids: dict = field(default_factory=dict)


@dataclass(repr=False)
class Comparison:
    ferry: Side
    moto: Side
    served: set = field(default_factory=set)  # operations ferry local served
    not_served: set = field(default_factory=set)
    found: set = field(default_factory=set)
    log: list = field(default_factory=list)

    def _call(self, side: Side, operation: str, params: dict) -> Outcome:
        try:
            getattr(side.client, xform_name(operation))(**params)
        except ClientError as e:
            last = RECORDER.responses[-1]
            assert (last.peer, last.operation) == (side.peer, operation)
            return Outcome(False, last.body if isinstance(last.body, dict) else {}, e.response["Error"]["Code"])
        last = RECORDER.responses[-1]
        assert (last.peer, last.operation) == (side.peer, operation)
        return Outcome(True, last.body if isinstance(last.body, dict) else {"<body>": last.body})

    def call(self, operation: str, params):
        """Sends `operation` to both; `params` is a dict, or a function of the Side.

        An operation ferry local does not serve (UnsupportedOperation) is not sent to moto:
        it is noted in `not_served` (docs/conformance.md lists them) and its answer is not
        kept for the shape check (the code is ferry local's own, in no model).
        """
        f = self._call(self.ferry, operation, params(self.ferry) if callable(params) else params)
        if f.code == "UnsupportedOperation":
            RECORDER.responses.pop()
            self.not_served.add(operation)
            return f, Outcome(False, {}, "not sent")
        self.served.add(operation)
        m = self._call(self.moto, operation, params(self.moto) if callable(params) else params)
        if f.ok and m.ok:
            diffs = shapes.compare(shapes.signature("elbv2", operation, f.body),
                                   shapes.signature("elbv2", operation, m.body))
        elif f.ok != m.ok:
            diffs = [("<outcome>", f"ferry {'ok' if f.ok else f.code}, moto {'ok' if m.ok else m.code}")]
        elif f.code != m.code:
            diffs = [("<error>", f"error: ferry {f.code}, moto {m.code}")]
        else:
            diffs = []
        named = []
        for path, difference in diffs:
            where = f"{operation} error" if path.startswith("<") else shapes.owner("elbv2", operation, path)
            named.append((where, difference, f"{operation}: {path}"))
            self.found.add((where, difference))
        self.log.append((operation, f.code or "ok", m.code or "ok", named))
        return f, m

    def unexpected(self, since: int = 0) -> list[str]:
        listed = {(where, diff) for where, diff, _, _ in EXPECTED}
        seen = {(where, diff, at) for _, _, _, named in self.log[since:] for where, diff, at in named}
        return sorted(f"{where}  {diff}  (at {at})" for where, diff, at in seen if (where, diff) not in listed)


@pytest.fixture(scope="module")
def compare(ferry, moto, moto_url) -> Comparison:
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=REGION, aws_access_key_id=ACCOUNT,
                       aws_secret_access_key="conformance")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")
               ["Subnet"]["SubnetId"] for i, zone in ((1, "a"), (2, "b"))]
    group = ec2.create_security_group(GroupName=unique("cmp"), Description="conformance", VpcId=vpc)["GroupId"]
    return Comparison(Side("ferry", ferry.elbv2, elb.VPC, list(elb.SUBNETS), {"sg": "sg-0a1b2c3d4e5f60003"}),
                      Side("moto", moto.elbv2, vpc, subnets, {"sg": group}))


def check(compare: Comparison, since: int):
    unexpected = compare.unexpected(since)
    assert not unexpected, (
        "differences from moto not listed in EXPECTED (add them with the side that follows "
        "the AWS model, or fix ferry local):\n" + "\n".join(unexpected)
    )


def both_ok(f: Outcome, m: Outcome):
    assert f.ok and m.ok, (f, m)


def test_load_balancers_target_groups_listeners_and_rules_have_moto_shapes(compare):
    since = len(compare.log)
    c = compare
    name, tg_name = unique("cmp"), unique("cmp-tg")
    tags = [{"Key": "team", "Value": "conformance"}]

    # Load balancers.
    f, m = c.call("CreateLoadBalancer", lambda s: {"Name": name, "Subnets": s.subnets, "Scheme": "internal",
                                                   "Type": "application", "Tags": tags})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["lb"] = out.body["LoadBalancers"][0]["LoadBalancerArn"]
    c.call("DescribeLoadBalancers", {"Names": [name]})
    c.call("DescribeLoadBalancers", lambda s: {"LoadBalancerArns": [s.ids["lb"]]})
    # A page of one, with a second load balancer on each side (so that both have a next page).
    f, m = c.call("CreateLoadBalancer", lambda s: {"Name": name + "-2", "Subnets": s.subnets, "Scheme": "internal"})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["lb2"] = out.body["LoadBalancers"][0]["LoadBalancerArn"]
    f, m = c.call("DescribeLoadBalancers", {"PageSize": 1})
    assert "NextMarker" in f.body and "NextMarker" in m.body, (f, m)
    c.call("DeleteLoadBalancer", lambda s: {"LoadBalancerArn": s.ids["lb2"]})
    c.call("DescribeLoadBalancerAttributes", lambda s: {"LoadBalancerArn": s.ids["lb"]})
    c.call("ModifyLoadBalancerAttributes", lambda s: {"LoadBalancerArn": s.ids["lb"], "Attributes": [
        {"Key": "idle_timeout.timeout_seconds", "Value": "30"}]})

    # Target groups: AWS's defaults, and one with every health check setting given.
    f, m = c.call("CreateTargetGroup", lambda s: {"Name": tg_name, "Protocol": "HTTP", "Port": 8080, "VpcId": s.vpc})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["tg"] = out.body["TargetGroups"][0]["TargetGroupArn"]
    # The same request again answers the same group (ELBv2 is idempotent).
    f, m = c.call("CreateTargetGroup", lambda s: {"Name": tg_name, "Protocol": "HTTP", "Port": 8080, "VpcId": s.vpc})
    assert f.ok and f.body["TargetGroups"][0]["TargetGroupArn"] == c.ferry.ids["tg"], f
    f, m = c.call("CreateTargetGroup", lambda s: {
        "Name": unique("cmp-ip"), "Protocol": "HTTP", "Port": 80, "VpcId": s.vpc, "TargetType": "ip",
        "HealthCheckProtocol": "HTTP", "HealthCheckPort": "8081", "HealthCheckPath": "/ready",
        "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 3, "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 4, "Matcher": {"HttpCode": "200-299"}, "Tags": tags})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["tg2"] = out.body["TargetGroups"][0]["TargetGroupArn"]
    c.call("DescribeTargetGroups", {"Names": [tg_name]})
    c.call("DescribeTargetGroups", lambda s: {"TargetGroupArns": [s.ids["tg"], s.ids["tg2"]]})
    c.call("DescribeTargetGroupAttributes", lambda s: {"TargetGroupArn": s.ids["tg"]})
    c.call("ModifyTargetGroupAttributes", lambda s: {"TargetGroupArn": s.ids["tg"], "Attributes": [
        {"Key": "deregistration_delay.timeout_seconds", "Value": "5"},
        {"Key": "slow_start.duration_seconds", "Value": "30"}]})
    c.call("ModifyTargetGroup", lambda s: {"TargetGroupArn": s.ids["tg"], "HealthCheckPath": "/health",
                                           "HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 2,
                                           "Matcher": {"HttpCode": "200,204"}})

    # Targets (nothing listens on port 9: health checks fail on ferry local; moto says healthy).
    target = [{"Id": INSTANCE, "Port": 9}]
    c.call("RegisterTargets", lambda s: {"TargetGroupArn": s.ids["tg"], "Targets": target})
    c.call("DescribeTargetHealth", lambda s: {"TargetGroupArn": s.ids["tg"]})
    c.call("DescribeTargetHealth", lambda s: {"TargetGroupArn": s.ids["tg"], "Targets": target})

    # A listener, forwarding to the group; the group now belongs to the load balancer.
    f, m = c.call("CreateListener", lambda s: {"LoadBalancerArn": s.ids["lb"], "Protocol": "HTTP",
                                               "Port": elb.free_port("127.0.0.1") if s is c.ferry else 80,
                                               "DefaultActions": [{"Type": "forward", "TargetGroupArn": s.ids["tg"]}]})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["listener"] = out.body["Listeners"][0]["ListenerArn"]
    c.call("DescribeListeners", lambda s: {"LoadBalancerArn": s.ids["lb"]})
    c.call("DescribeListeners", lambda s: {"ListenerArns": [s.ids["listener"]]})
    c.call("DescribeTargetGroups", lambda s: {"LoadBalancerArn": s.ids["lb"]})
    c.call("DescribeTargetHealth", lambda s: {"TargetGroupArn": s.ids["tg"]})
    c.call("ModifyListener", lambda s: {"ListenerArn": s.ids["listener"], "DefaultActions": [
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain",
                                                           "MessageBody": "none"}}]})
    c.call("DescribeListenerAttributes", lambda s: {"ListenerArn": s.ids["listener"]})
    c.call("ModifyListenerAttributes", lambda s: {"ListenerArn": s.ids["listener"], "Attributes": [
        {"Key": "routing.http.response.server.enabled", "Value": "false"}]})
    c.call("DescribeListenerCertificates", lambda s: {"ListenerArn": s.ids["listener"]})

    # Rules: each kind of condition and action.
    weighted = lambda s: [{"Type": "forward", "ForwardConfig": {  # noqa: E731
        "TargetGroups": [{"TargetGroupArn": s.ids["tg"], "Weight": 80}, {"TargetGroupArn": s.ids["tg2"], "Weight": 20}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60}}}]
    rules = [
        (10, lambda s: [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}],
         lambda s: [{"Type": "forward", "TargetGroupArn": s.ids["tg"]}]),
        (20, lambda s: [{"Field": "host-header", "HostHeaderConfig": {"Values": ["api.example.com"]}}], weighted),
        (30, lambda s: [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["qa"]}},
                        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}}],
         lambda s: [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain",
                                                                         "MessageBody": "qa"}}]),
        (40, lambda s: [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}},
                        {"Field": "source-ip", "SourceIpConfig": {"Values": ["127.0.0.0/8"]}}],
         lambda s: [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTP", "Port": "80", "Path": "/v2/#{path}",
                                                            "StatusCode": "HTTP_301"}}]),
        (50, lambda s: [{"Field": "path-pattern", "Values": ["/legacy"]}],
         lambda s: [{"Type": "forward", "TargetGroupArn": s.ids["tg2"]}]),
    ]
    for priority, conditions, actions in rules:
        f, m = c.call("CreateRule", lambda s: {"ListenerArn": s.ids["listener"], "Priority": priority,
                                               "Conditions": conditions(s), "Actions": actions(s)})
        both_ok(f, m)
        for side, out in ((c.ferry, f), (c.moto, m)):
            side.ids[f"rule{priority}"] = out.body["Rules"][0]["RuleArn"]
    c.call("DescribeRules", lambda s: {"ListenerArn": s.ids["listener"]})
    c.call("DescribeRules", lambda s: {"RuleArns": [s.ids["rule20"]]})
    c.call("DescribeRules", lambda s: {"ListenerArn": s.ids["listener"], "PageSize": 2})
    c.call("ModifyRule", lambda s: {"RuleArn": s.ids["rule10"], "Conditions": [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/v2/*"]}}]})
    c.call("ModifyRule", lambda s: {"RuleArn": s.ids["rule20"], "Actions": [{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": s.ids["tg"], "Weight": 0}, {"TargetGroupArn": s.ids["tg2"], "Weight": 100}]}}]})
    c.call("SetRulePriorities", lambda s: {"RulePriorities": [{"RuleArn": s.ids["rule10"], "Priority": 15},
                                                               {"RuleArn": s.ids["rule50"], "Priority": 55}]})

    # Tags on every kind of resource.
    for key in ("lb", "tg", "listener", "rule20"):
        c.call("AddTags", lambda s: {"ResourceArns": [s.ids[key]], "Tags": [{"Key": "env", "Value": "qa"}]})
    c.call("DescribeTags", lambda s: {"ResourceArns": [s.ids["lb"], s.ids["tg"], s.ids["listener"], s.ids["rule20"]]})
    c.call("RemoveTags", lambda s: {"ResourceArns": [s.ids["tg"]], "TagKeys": ["env"]})
    c.call("DescribeTags", lambda s: {"ResourceArns": [s.ids["tg"]]})

    # The load balancer's own settings, and what the account may have.
    c.call("SetSecurityGroups", lambda s: {"LoadBalancerArn": s.ids["lb"], "SecurityGroups": [s.ids["sg"]]})
    c.call("SetIpAddressType", lambda s: {"LoadBalancerArn": s.ids["lb"], "IpAddressType": "ipv4"})
    c.call("SetSubnets", lambda s: {"LoadBalancerArn": s.ids["lb"], "Subnets": s.subnets})
    c.call("DescribeAccountLimits", {})
    c.call("DescribeSSLPolicies", {"Names": ["ELBSecurityPolicy-2016-08"]})
    c.call("DescribeCapacityReservation", lambda s: {"LoadBalancerArn": s.ids["lb"]})

    # Undo it all.
    c.call("DeregisterTargets", lambda s: {"TargetGroupArn": s.ids["tg"], "Targets": target})
    c.call("DeleteRule", lambda s: {"RuleArn": s.ids["rule30"]})
    both_ok(*c.call("DeleteListener", lambda s: {"ListenerArn": s.ids["listener"]}))
    both_ok(*c.call("DeleteTargetGroup", lambda s: {"TargetGroupArn": s.ids["tg2"]}))
    both_ok(*c.call("DeleteLoadBalancer", lambda s: {"LoadBalancerArn": s.ids["lb"]}))
    c.call("DescribeLoadBalancers", {"Names": [name]})
    check(compare, since)


def test_elbv2_errors_have_moto_codes(compare):
    since = len(compare.log)
    c = compare
    absent = unique("absent")
    f, _ = c.call("DescribeLoadBalancers", {"Names": [absent]})
    assert f.code == "LoadBalancerNotFound", f
    f, _ = c.call("DescribeTargetGroups", {"Names": [absent]})
    assert f.code == "TargetGroupNotFound", f
    f, _ = c.call("CreateTargetGroup", lambda s: {"Name": "x" * 33, "Protocol": "HTTP", "Port": 80, "VpcId": s.vpc})
    assert f.code == "ValidationError", f
    f, _ = c.call("CreateTargetGroup", lambda s: {"Name": "-lead", "Protocol": "HTTP", "Port": 80, "VpcId": s.vpc})
    assert f.code == "ValidationError", f
    # An interval no longer than the timeout (5 s, the default).
    f, _ = c.call("CreateTargetGroup", lambda s: {"Name": unique("hc"), "Protocol": "HTTP", "Port": 80, "VpcId": s.vpc,
                                                  "HealthCheckIntervalSeconds": 5})
    assert f.code == "ValidationError", f

    name, tg_name = unique("cmp-err"), unique("cmp-err")
    f, m = c.call("CreateLoadBalancer", lambda s: {"Name": name, "Subnets": s.subnets, "Scheme": "internal"})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["elb"] = out.body["LoadBalancers"][0]["LoadBalancerArn"]
    f, m = c.call("CreateTargetGroup", lambda s: {"Name": tg_name, "Protocol": "HTTP", "Port": 80, "VpcId": s.vpc})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["etg"] = out.body["TargetGroups"][0]["TargetGroupArn"]
    # The same name with other settings.
    f, _ = c.call("CreateTargetGroup", lambda s: {"Name": tg_name, "Protocol": "HTTP", "Port": 81, "VpcId": s.vpc})
    assert f.code == "DuplicateTargetGroupName", f
    f, m = c.call("CreateListener", lambda s: {"LoadBalancerArn": s.ids["elb"], "Protocol": "HTTP",
                                               "Port": elb.free_port("127.0.0.1") if s is c.ferry else 80,
                                               "DefaultActions": [{"Type": "forward", "TargetGroupArn": s.ids["etg"]}]})
    both_ok(f, m)
    for side, out in ((c.ferry, f), (c.moto, m)):
        side.ids["elistener"] = out.body["Listeners"][0]["ListenerArn"]
    f, _ = c.call("DeleteTargetGroup", lambda s: {"TargetGroupArn": s.ids["etg"]})
    assert f.code == "ResourceInUse", f
    path = [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a"]}}]
    f, _ = c.call("CreateRule", lambda s: {"ListenerArn": s.ids["elistener"], "Priority": 7, "Conditions": path,
                                           "Actions": [{"Type": "forward", "TargetGroupArn": s.ids["etg"]}]})
    assert f.ok, f
    f, _ = c.call("CreateRule", lambda s: {"ListenerArn": s.ids["elistener"], "Priority": 7, "Conditions": path,
                                           "Actions": [{"Type": "forward", "TargetGroupArn": s.ids["etg"]}]})
    assert f.code == "PriorityInUse", f
    f, _ = c.call("CreateRule", lambda s: {"ListenerArn": s.ids["elistener"], "Priority": 8, "Conditions": path,
                                           "Actions": [{"Type": "forward",
                                                        "TargetGroupArn": s.ids["etg"][:-4] + "0000"}]})
    assert f.code == "TargetGroupNotFound", f
    f, _ = c.call("CreateRule", lambda s: {"ListenerArn": s.ids["elistener"], "Priority": 9, "Conditions": path,
                                           "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                                               {"TargetGroupArn": s.ids["etg"], "Weight": 1000}]}}]})
    assert f.code == "ValidationError", f
    f, _ = c.call("DescribeListeners", lambda s: {"ListenerArns": [s.ids["elistener"][:-4] + "0000"]})
    assert f.code == "ListenerNotFound", f
    f, _ = c.call("DescribeRules", lambda s: {"RuleArns": [s.ids["elistener"].replace(":listener/", ":listener-rule/")
                                                           + "/0123456789abcdef"]})
    assert f.code == "RuleNotFound", f
    f, _ = c.call("DescribeTargetHealth", lambda s: {"TargetGroupArn": s.ids["etg"][:-4] + "0000"})
    assert f.code == "TargetGroupNotFound", f
    f, _ = c.call("DeregisterTargets", lambda s: {"TargetGroupArn": s.ids["etg"], "Targets": [{"Id": INSTANCE,
                                                                                                 "Port": 9}]})
    # (Values out of the model's ranges never leave boto3: test_bad_requests sends them raw.)
    c.call("DeleteListener", lambda s: {"ListenerArn": s.ids["elistener"]})
    c.call("DeleteLoadBalancer", lambda s: {"LoadBalancerArn": s.ids["elb"]})
    check(compare, since)


def test_every_listed_elbv2_difference_still_happens(compare, request):
    ran = {r.nodeid.rsplit("::", 1)[-1] for r in request.session.items if r.module is request.module}
    names = {"test_load_balancers_target_groups_listeners_and_rules_have_moto_shapes",
             "test_elbv2_errors_have_moto_codes"}
    if not names <= ran or request.session.testsfailed:
        pytest.skip("needs every comparison of this module to have run and passed")
    compared = {op for op, _, _, _ in compare.log} | compare.not_served
    missing = MOTO_OPERATIONS - compared
    assert not missing, f"implemented by moto but not compared: {sorted(missing)}"
    assert sorted(compare.not_served) == NOT_SERVED, (
        f"the operations moto implements and ferry local does not are {sorted(compare.not_served)}; "
        "update NOT_SERVED and docs/conformance.md")
    stale = [f"{where}  {diff}" for where, diff, _, _ in EXPECTED if (where, diff) not in compare.found]
    assert not stale, "listed in EXPECTED but no longer different (remove them):\n" + "\n".join(stale)


def markdown_table() -> str:
    return shapes.differences_table(EXPECTED)


def test_docs_list_the_same_elbv2_differences():
    text = DOC.read_text() if DOC.exists() else ""
    for operation in NOT_SERVED:
        assert operation in text, f"{DOC} must name {operation} among the operations ferry local does not serve"
    assert markdown_table() in text, (
        f"{DOC} must contain the table of ELBv2 differences; print it with "
        "`python -c 'import sys; sys.path[:0]=[\"tests/conformance\"]; import test_elbv2_moto as t; "
        "print(t.markdown_table())'`"
    )
