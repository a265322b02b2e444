"""The aws CLI as a client of ferry local's ELBv2, the way a shell script sets up an
application load balancer: a load balancer, target groups, a listener and rules (host
header, path pattern, a weighted forward), ECS services behind them with `--load-balancers`,
traffic to the listener's DNSName and Port answered by the sample app's tasks, and the
errors the CLI prints in AWS's words.
"""

from __future__ import annotations

import json
import math

import elb
from conftest import host_ports, sample_container, unique, wait_until

INSTANCE = "i-0f0e0d0c0b0a09080"


def cli_error(proc, code: str, operation: str) -> str:
    """The message of the error the CLI printed, checked to be `code` from `operation`."""
    assert proc.returncode != 0
    prefix = f"An error occurred ({code}) when calling the {operation} operation: "
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(prefix), proc.stderr
    return lines[-1][len(prefix):]


def running_tasks(aws, cluster: str, service: str) -> list[dict]:
    arns = aws.run("ecs", "list-tasks", "--cluster", cluster, "--service-name", service,
                   "--desired-status", "RUNNING")["taskArns"]
    if not arns:
        return []
    return [t for t in aws.run("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns)["tasks"]
            if t["lastStatus"] == "RUNNING"]


def test_an_alb_with_rules_in_front_of_ecs_services_with_the_aws_cli(aws, ferry_bin):
    cluster, name = unique("elb-cli"), unique("cli")
    aws.run("ecs", "create-cluster", "--cluster-name", cluster)

    # --- the load balancer --------------------------------------------------------------
    lb = aws.run("elbv2", "create-load-balancer", "--name", name, "--subnets", *elb.SUBNETS,
                 "--scheme", "internal", "--tags", "Key=team,Value=conformance")["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    assert lb_arn.startswith(f"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/{name}/")
    assert (lb["LoadBalancerName"], lb["Scheme"], lb["Type"], lb["IpAddressType"]) == (
        name, "internal", "application", "ipv4")
    assert lb["State"]["Code"] in ("provisioning", "active")
    host = elb.address(lb["DNSName"])

    def active():
        out = aws.run("elbv2", "describe-load-balancers", "--names", name)["LoadBalancers"]
        return out[0]["State"]["Code"] == "active" and out[0]

    described = wait_until(active, timeout=30, interval=0.5, what="the load balancer to be active")
    assert described["DNSName"] == lb["DNSName"] and described["LoadBalancerArn"] == lb_arn
    tags = aws.run("elbv2", "describe-tags", "--resource-arns", lb_arn)["TagDescriptions"]
    assert tags == [{"ResourceArn": lb_arn, "Tags": [{"Key": "team", "Value": "conformance"}]}]

    # --- target groups: AWS's defaults when nothing is said, and fast ones for the tasks ---
    plain = aws.run("elbv2", "create-target-group", "--name", unique("plain"), "--protocol", "HTTP",
                    "--port", "80", "--vpc-id", elb.VPC)["TargetGroups"][0]
    assert {k: plain[k] for k in ("Protocol", "Port", "TargetType", "HealthCheckProtocol", "HealthCheckPort",
                                  "HealthCheckEnabled", "HealthCheckPath", "HealthCheckIntervalSeconds",
                                  "HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount",
                                  "Matcher", "ProtocolVersion")} == {
        "Protocol": "HTTP", "Port": 80, "TargetType": "instance", "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port", "HealthCheckEnabled": True, "HealthCheckPath": "/",
        "HealthCheckIntervalSeconds": 30, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"}, "ProtocolVersion": "HTTP1"}
    attributes = {a["Key"]: a["Value"] for a in aws.run(
        "elbv2", "describe-target-group-attributes", "--target-group-arn", plain["TargetGroupArn"])["Attributes"]}
    assert attributes["deregistration_delay.timeout_seconds"] == "300"
    assert attributes["slow_start.duration_seconds"] == "0"
    aws.run("elbv2", "delete-target-group", "--target-group-arn", plain["TargetGroupArn"])

    groups = {}
    for color in ("blue", "green"):
        tg = aws.run("elbv2", "create-target-group", "--name", unique(color), "--protocol", "HTTP", "--port", "8080",
                     "--vpc-id", elb.VPC, "--target-type", "instance", "--health-check-path", "/health",
                     "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
                     "--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2")["TargetGroups"][0]
        assert tg["HealthCheckPath"] == "/health" and tg["HealthCheckIntervalSeconds"] == 5
        assert tg["LoadBalancerArns"] == []
        changed = aws.run("elbv2", "modify-target-group-attributes", "--target-group-arn", tg["TargetGroupArn"],
                          "--attributes", "Key=deregistration_delay.timeout_seconds,Value=5")["Attributes"]
        assert {"Key": "deregistration_delay.timeout_seconds", "Value": "5"} in changed
        groups[color] = tg["TargetGroupArn"]

    # --- a listener and its rules ---------------------------------------------------------
    port = elb.free_port(host)
    default = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503", "ContentType": "text/plain",
                                                                  "MessageBody": "no route"}}]
    listener = aws.run("elbv2", "create-listener", "--load-balancer-arn", lb_arn, "--protocol", "HTTP",
                       "--port", str(port), "--default-actions", json.dumps(default))["Listeners"][0]
    listener_arn = listener["ListenerArn"]
    assert (listener["Port"], listener["Protocol"], listener["LoadBalancerArn"]) == (port, "HTTP", lb_arn)
    assert listener["DefaultActions"][0]["Type"] == "fixed-response"

    def rule(priority: int, conditions: list, actions: list) -> dict:
        out = aws.run("elbv2", "create-rule", "--listener-arn", listener_arn, "--priority", str(priority),
                      "--conditions", json.dumps(conditions), "--actions", json.dumps(actions))["Rules"][0]
        assert out["Priority"] == str(priority) and out["IsDefault"] is False
        return out

    weighted = rule(5, [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["yes"]}}],
                    [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
                        {"TargetGroupArn": groups["blue"], "Weight": 80},
                        {"TargetGroupArn": groups["green"], "Weight": 20}]}}])
    rule(10, [{"Field": "host-header", "Values": ["blue.example.com"]}],
         [{"Type": "forward", "TargetGroupArn": groups["blue"]}])
    rule(20, [{"Field": "path-pattern", "Values": ["/"]}], [{"Type": "forward", "TargetGroupArn": groups["green"]}])

    listeners = aws.run("elbv2", "describe-listeners", "--load-balancer-arn", lb_arn)["Listeners"]
    assert [item["ListenerArn"] for item in listeners] == [listener_arn]
    rules = aws.run("elbv2", "describe-rules", "--listener-arn", listener_arn)["Rules"]
    assert [r["Priority"] for r in rules] == ["5", "10", "20", "default"]
    assert [r["IsDefault"] for r in rules] == [False, False, False, True]
    host_rule = rules[1]["Conditions"][0]
    assert host_rule["Field"] == "host-header" and host_rule["Values"] == ["blue.example.com"], host_rule
    split = rules[0]["Actions"][0]["ForwardConfig"]["TargetGroups"]
    assert sorted((g["TargetGroupArn"], g["Weight"]) for g in split) == sorted(
        [(groups["blue"], 80), (groups["green"], 20)])
    in_use = aws.run("elbv2", "describe-target-groups", "--load-balancer-arn", lb_arn)["TargetGroups"]
    assert sorted(g["TargetGroupArn"] for g in in_use) == sorted(groups.values())
    assert all(g["LoadBalancerArns"] == [lb_arn] for g in in_use)

    # --- ECS services behind the target groups --------------------------------------------
    for color, count in (("blue", 2), ("green", 1)):
        family = unique(f"cli-{color}")
        container = sample_container(ferry_bin, image=f"example.com/sample-app:{color}", health=False)
        aws.run("ecs", "register-task-definition", "--family", family, "--container-definitions", json.dumps([container]))
        svc = aws.run("ecs", "create-service", "--cluster", cluster, "--service-name", color,
                      "--task-definition", family, "--desired-count", str(count),
                      "--health-check-grace-period-seconds", "5",
                      "--load-balancers", f"targetGroupArn={groups[color]},containerName=web,containerPort=8080")["service"]
        assert svc["loadBalancers"] == [{"targetGroupArn": groups[color], "containerName": "web", "containerPort": 8080}]
        assert svc["healthCheckGracePeriodSeconds"] == 5

    def in_service(color: str, count: int):
        def check():
            tasks = running_tasks(aws, cluster, color)
            ports = sorted(p for t in tasks for p in host_ports(t))
            targets = aws.run("elbv2", "describe-target-health", "--target-group-arn",
                              groups[color])["TargetHealthDescriptions"]
            healthy = sorted(d["Target"]["Port"] for d in targets if d["TargetHealth"]["State"] == "healthy")
            return len(tasks) == count and healthy == ports and len(targets) == count and (tasks, targets)
        return wait_until(check, timeout=60, interval=0.5, what=f"{count} healthy {color} targets")

    blue_tasks, blue_targets = in_service("blue", 2)
    green_tasks, _ = in_service("green", 1)
    for target in blue_targets:
        assert target["Target"]["Id"] == INSTANCE
        assert target["HealthCheckPort"] == str(target["Target"]["Port"])

    # --- traffic to DNSName:Port --------------------------------------------------------
    dns = lb["DNSName"]
    answer = elb.get(dns, port, "/")
    assert answer.status == 200, answer
    assert answer.json()["version"] == "green" and answer.json()["task"] == green_tasks[0]["taskArn"]

    blue_seen = set()
    for _ in range(40):
        answer = elb.get(dns, port, "/", headers={"Host": "blue.example.com"})
        assert answer.status == 200 and answer.json()["version"] == "blue", answer
        blue_seen.add(answer.json()["task"])
    assert blue_seen == {t["taskArn"] for t in blue_tasks}

    unmatched = elb.get(dns, port, "/health")
    assert (unmatched.status, unmatched.body) == (503, b"no route"), unmatched

    n, green = 200, 0
    for _ in range(n):
        answer = elb.get(dns, port, "/", headers={"X-Canary": "yes"})
        assert answer.status == 200, answer
        green += answer.json()["version"] == "green"
    mean, sd = n * 0.2, math.sqrt(n * 0.2 * 0.8)
    assert mean - 4 * sd <= green <= mean + 4 * sd, (green, n)

    # --- refusals, worded as AWS words them -------------------------------------------
    proc = aws.run("elbv2", "delete-target-group", "--target-group-arn", groups["blue"], check=False)
    assert cli_error(proc, "ResourceInUse", "DeleteTargetGroup") == (
        f"Target group '{groups['blue']}' is currently in use by a listener or a rule")
    proc = aws.run("elbv2", "create-rule", "--listener-arn", listener_arn, "--priority", "10",
                   "--conditions", json.dumps([{"Field": "path-pattern", "Values": ["/other"]}]),
                   "--actions", json.dumps([{"Type": "forward", "TargetGroupArn": groups["green"]}]), check=False)
    assert cli_error(proc, "PriorityInUse", "CreateRule") == "Priority '10' is currently in use"
    proc = aws.run("elbv2", "describe-target-groups", "--names", unique("absent"), check=False)
    assert cli_error(proc, "TargetGroupNotFound", "DescribeTargetGroups") == "One or more target groups not found"
    absent = unique("absent")
    proc = aws.run("elbv2", "describe-load-balancers", "--names", absent, check=False)
    assert cli_error(proc, "LoadBalancerNotFound", "DescribeLoadBalancers") == f"Load balancers '[{absent}]' not found"
    proc = aws.run("elbv2", "describe-rules", "--rule-arns", weighted["RuleArn"] + "0", check=False)
    assert cli_error(proc, "RuleNotFound", "DescribeRules") == "One or more rules not found"
    proc = aws.run("elbv2", "describe-listeners", "--listener-arns", listener_arn + "0", check=False)
    assert cli_error(proc, "ListenerNotFound", "DescribeListeners") == "One or more listeners not found"
    proc = aws.run("elbv2", "create-target-group", "--name", "under_score", "--protocol", "HTTP", "--port", "80",
                   "--vpc-id", elb.VPC, check=False)
    assert cli_error(proc, "ValidationError", "CreateTargetGroup") == (
        "Target group name 'under_score' can only contain characters that are alphanumeric characters or hyphens(-)")
    # Nothing of that changed the listener.
    assert [r["Priority"] for r in aws.run("elbv2", "describe-rules", "--listener-arn", listener_arn)["Rules"]] == [
        "5", "10", "20", "default"]

    # --- tear down, as a script would -------------------------------------------------
    for color in ("blue", "green"):
        aws.run("ecs", "update-service", "--cluster", cluster, "--service", color, "--desired-count", "0")
        aws.run("ecs", "delete-service", "--cluster", cluster, "--service", color, "--force")
    aws.run("elbv2", "delete-listener", "--listener-arn", listener_arn)
    assert aws.run("elbv2", "describe-listeners", "--load-balancer-arn", lb_arn)["Listeners"] == []
    aws.run("elbv2", "delete-load-balancer", "--load-balancer-arn", lb_arn)
    proc = aws.run("elbv2", "describe-load-balancers", "--load-balancer-arns", lb_arn, check=False)
    assert cli_error(proc, "LoadBalancerNotFound", "DescribeLoadBalancers") == "One or more load balancers not found"
