"""boto3 as a client of ferry local's ELBv2, with real traffic: an application load balancer
whose listener's rules route by host and path and split by weight, ECS services registered
in its target groups, and a rolling deployment under a request loop that loses no request
while DescribeTargetHealth shows the old targets draining.

Every request goes to the address the API gave (the load balancer's DNSName and the
listener's Port) and is answered by a task: the echo app (elb.ECHO_APP) says which.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError

import elb
from conftest import host_ports, unique, wait_until

INSTANCE = "i-0f0e0d0c0b0a09080"  # the one "instance" of ferry local: its host


def binomial_bounds(n: int, p: float, sigmas: float = 4.0) -> tuple[float, float]:
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    return mean - sigmas * sd, mean + sigmas * sd


def running_tasks(ecs, cluster: str, service: str) -> list[dict]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def health(elbv2, group: str) -> dict[int, str]:
    """Port of each registered target → its state."""
    out = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return {d["Target"]["Port"]: d["TargetHealth"]["State"] for d in out}


def wait_in_service(ferry, cluster: str, service: str, group: str, count: int) -> list[dict]:
    """Waits until `count` tasks of `service` run and each is a healthy target of `group`."""

    def ready():
        tasks = running_tasks(ferry.ecs, cluster, service)
        ports = {p for t in tasks for p in host_ports(t)}
        states = health(ferry.elbv2, group)
        ok = len(tasks) == count and len(ports) == count and all(states.get(p) == "healthy" for p in ports)
        return ok and tasks

    return wait_until(ready, timeout=60, interval=0.25, what=f"{count} healthy targets of {service} in {group}")


@pytest.fixture(scope="module")
def world(ferry):
    """A cluster, an internal ALB that is active, and its listener on a free port."""
    elbv2 = ferry.elbv2
    cluster = unique("elb-b3")
    ferry.ecs.create_cluster(clusterName=cluster)
    name = unique("b3")
    created = elbv2.create_load_balancer(Name=name, Subnets=elb.SUBNETS, Scheme="internal", Type="application",
                                         Tags=[{"Key": "team", "Value": "conformance"}])["LoadBalancers"]
    assert len(created) == 1
    lb = created[0]
    assert lb["LoadBalancerName"] == name and lb["Scheme"] == "internal" and lb["Type"] == "application"
    assert lb["LoadBalancerArn"].startswith(f"arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/{name}/")
    assert lb["State"]["Code"] in ("provisioning", "active"), lb["State"]
    # botocore's own waiter (DescribeLoadBalancers until State.Code is active).
    elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                     WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    host = elb.address(lb["DNSName"])
    port = elb.free_port(host)
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no route"}}],
    )["Listeners"][0]
    assert listener["Port"] == port and listener["Protocol"] == "HTTP"
    world = {"cluster": cluster, "lb": lb, "dns": lb["DNSName"], "host": host, "port": port,
             "listener": listener["ListenerArn"], "services": []}
    yield world
    # Leave nothing running for the rest of the suite.
    for service in world["services"]:
        try:
            ferry.ecs.update_service(cluster=cluster, service=service, desiredCount=0)
            ferry.ecs.delete_service(cluster=cluster, service=service, force=True)
        except ClientError:
            pass


def target_group(ferry, name: str, **extra) -> str:
    out = ferry.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=elb.VPC, TargetType="instance",
                                          **elb.FAST_HEALTH, **extra)["TargetGroups"][0]
    arn = out["TargetGroupArn"]
    ferry.elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "3"}])
    return arn


def echo_service(ferry, world, name: str, version: str, group: str, count: int) -> str:
    family = unique(f"echo-{name}")
    rev = ferry.ecs.register_task_definition(family=family, containerDefinitions=[elb.echo_container(version)])
    ferry.ecs.create_service(
        cluster=world["cluster"], serviceName=name, taskDefinition=rev["taskDefinition"]["taskDefinitionArn"],
        desiredCount=count, healthCheckGracePeriodSeconds=5,
        loadBalancers=[{"targetGroupArn": group, "containerName": "web", "containerPort": 8080}],
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    world["services"].append(name)
    return family


def forward(group: str) -> list[dict]:
    return [{"Type": "forward", "TargetGroupArn": group}]


def test_rules_route_by_host_and_path_and_split_by_weight(ferry, world):
    elbv2, cluster = ferry.elbv2, world["cluster"]
    blue_tg, green_tg = target_group(ferry, unique("blue")), target_group(ferry, unique("green"))
    listener = world["listener"]
    path = lambda *values: {"Field": "path-pattern", "PathPatternConfig": {"Values": list(values)}}  # noqa: E731
    rules = {
        10: ([{"Field": "host-header", "HostHeaderConfig": {"Values": ["green.example.com"]}}], forward(green_tg)),
        20: ([path("/blue/*")], forward(blue_tg)),
        30: ([path("/green/*")], forward(green_tg)),
        40: ([path("/split/*")], [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": blue_tg, "Weight": 80}, {"TargetGroupArn": green_tg, "Weight": 20}]}}]),
        50: ([path("/old/*")], [{"Type": "redirect", "RedirectConfig": {"Path": "/blue/moved", "StatusCode": "HTTP_302"}}]),
    }
    for priority, (conditions, actions) in rules.items():
        rule = elbv2.create_rule(ListenerArn=listener, Priority=priority, Conditions=conditions, Actions=actions)
        rule = rule["Rules"][0]
        assert rule["Priority"] == str(priority) and rule["IsDefault"] is False
    described = elbv2.describe_rules(ListenerArn=listener)["Rules"]
    assert [r["Priority"] for r in described] == ["10", "20", "30", "40", "50", "default"]
    assert described[-1]["IsDefault"] is True
    split = next(r for r in described if r["Priority"] == "40")["Actions"][0]["ForwardConfig"]["TargetGroups"]
    assert sorted((g["TargetGroupArn"], g["Weight"]) for g in split) == sorted([(blue_tg, 80), (green_tg, 20)])
    groups = elbv2.describe_target_groups(LoadBalancerArn=world["lb"]["LoadBalancerArn"])["TargetGroups"]
    assert {blue_tg, green_tg} <= {g["TargetGroupArn"] for g in groups}
    for g in groups:
        assert g["LoadBalancerArns"] == [world["lb"]["LoadBalancerArn"]]

    echo_service(ferry, world, "blue", "blue", blue_tg, 2)
    echo_service(ferry, world, "green", "green", green_tg, 1)
    blue_tasks = wait_in_service(ferry, cluster, "blue", blue_tg, 2)
    green_tasks = wait_in_service(ferry, cluster, "green", green_tg, 1)
    blue_arns = {t["taskArn"] for t in blue_tasks}
    green_arns = {t["taskArn"] for t in green_tasks}

    # The targets are the tasks' host ports on ferry local's one instance.
    described = elbv2.describe_target_health(TargetGroupArn=blue_tg)["TargetHealthDescriptions"]
    assert sorted(d["Target"]["Port"] for d in described) == sorted(p for t in blue_tasks for p in host_ports(t))
    for d in described:
        assert d["Target"]["Id"] == INSTANCE, d
        assert d["TargetHealth"] == {"State": "healthy"}, d
        assert d["HealthCheckPort"] == str(d["Target"]["Port"]), d

    host, port = world["dns"], world["port"]

    def who(path: str, **headers) -> dict:
        answer = elb.get(host, port, path, headers=headers)
        assert answer.status == 200, (path, headers, answer)
        return answer.json()

    # Nothing matches: the listener's default action answers itself.
    fixed = elb.get(host, port, "/nowhere")
    assert (fixed.status, fixed.body) == (404, b"no route"), fixed
    assert fixed.headers["content-type"].startswith("text/plain"), fixed.headers
    # Path rules.
    seen_blue = set()
    for _ in range(20):
        answer = who("/blue/page?x=1")
        assert answer["version"] == "blue" and answer["path"] == "/blue/page", answer
        seen_blue.add(answer["task"])
    assert seen_blue == blue_arns, "both blue tasks get requests"
    answer = who("/green/page")
    assert answer["version"] == "green" and answer["task"] in green_arns, answer
    # The host rule (priority 10) comes before the path rule (priority 20).
    answer = who("/blue/page", Host="green.example.com")
    assert answer["version"] == "green" and answer["host"] == "green.example.com", answer
    # A redirect is answered by the load balancer.
    moved = elb.get(host, port, "/old/page")
    assert moved.status == 302, moved
    assert moved.headers["location"].split("?")[0].endswith("/blue/moved"), moved.headers

    # Weighted forward: 80/20 within 4 standard deviations of the binomial.
    n = 500
    versions = {"blue": 0, "green": 0}
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for _ in range(n):
            connection.request("GET", "/split/x")
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, body
            versions[json.loads(body)["version"]] += 1
            if response.will_close:
                connection.close()
    finally:
        connection.close()
    low, high = binomial_bounds(n, 0.2)
    assert sum(versions.values()) == n
    assert low <= versions["green"] <= high, versions

    # A rule's weights changed take effect (shortly after the call, as on AWS, whose changes
    # propagate within seconds): all of it to green, and then nothing to blue.
    rule_arn = next(r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=listener)["Rules"] if r["Priority"] == "40")
    elbv2.modify_rule(RuleArn=rule_arn, Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue_tg, "Weight": 0}, {"TargetGroupArn": green_tg, "Weight": 1}]}}])
    wait_until(lambda: all(who("/split/y")["version"] == "green" for _ in range(10)), timeout=10, interval=0.1,
               what="the new weights to take effect")
    assert {who("/split/y")["version"] for _ in range(50)} == {"green"}

    # A group in use is not deleted (by the listener's rules and by the service).
    with pytest.raises(ClientError) as e:
        elbv2.delete_target_group(TargetGroupArn=blue_tg)
    error = e.value.response["Error"]
    assert error["Code"] == "ResourceInUse", error
    assert error["Message"] == f"Target group '{blue_tg}' is currently in use by a listener or a rule", error
    assert blue_tg in {g["TargetGroupArn"] for g in elbv2.describe_target_groups(TargetGroupArns=[blue_tg])["TargetGroups"]}


def test_rolling_deployment_behind_the_listener_loses_no_request(ferry, world):
    """An update_service to a new revision, under a request loop through the listener:
    every request answered 200, first by revision 1, then by revision 2; the old tasks'
    targets are seen `draining` before they leave; the new ones end healthy."""
    ecs, elbv2, cluster = ferry.ecs, ferry.elbv2, world["cluster"]
    group = target_group(ferry, unique("roll"))
    elbv2.create_rule(ListenerArn=world["listener"], Priority=5,
                      Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/roll/*"]}}],
                      Actions=forward(group))
    family = echo_service(ferry, world, "roll", "1", group, 2)
    old_tasks = wait_in_service(ferry, cluster, "roll", group, 2)
    old_ports = {p for t in old_tasks for p in host_ports(t)}

    # Watch target health while the deployment runs.
    seen: dict[int, list[str]] = {}
    watching = threading.Event()
    watching.set()

    def watch():
        deadline = time.monotonic() + 120
        while watching.is_set() and time.monotonic() < deadline:
            for port, state in health(elbv2, group).items():
                states = seen.setdefault(port, [])
                if not states or states[-1] != state:
                    states.append(state)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    fast = elb.RequestLoop(world["dns"], world["port"], "/roll/x", workers=4, seconds=120).start()
    # Slow requests are in flight on the old targets when they are deregistered: draining
    # must let them finish (any that fails counts).
    slow = elb.RequestLoop(world["dns"], world["port"], "/roll/slow?s=2", workers=6, seconds=120).start()
    try:
        time.sleep(1.0)
        rev2 = ecs.register_task_definition(family=family, containerDefinitions=[elb.echo_container("2")])
        deployment_started = time.monotonic()
        ecs.update_service(cluster=cluster, service="roll", taskDefinition=rev2["taskDefinition"]["taskDefinitionArn"])

        def done():
            svc = ecs.describe_services(cluster=cluster, services=["roll"])["services"][0]
            stopped = ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"] for t in old_tasks])["tasks"]
            return (len(svc["deployments"]) == 1 and svc["deployments"][0]["rolloutState"] == "COMPLETED"
                    and svc["runningCount"] == 2 and all(t["lastStatus"] == "STOPPED" for t in stopped) and svc)

        svc = wait_until(done, timeout=90, interval=0.25, what="the rolling deployment to complete")
        completed = time.monotonic()
        time.sleep(1.0)  # traffic after the deployment, to the new tasks only
    finally:
        fast_result, slow_result = fast.stop(), slow.stop()
        watching.clear()
        watcher.join(timeout=10)

    failures = fast_result.failures + slow_result.failures
    assert not failures, f"{len(failures)} of {fast_result.sent + slow_result.sent} requests failed: {failures[:10]}"
    assert fast_result.sent >= 100 and slow_result.sent >= 12, (fast_result.sent, slow_result.sent)
    answers = sorted(fast_result.answers + slow_result.answers)
    versions = [body["version"] for _, _, body in answers]
    assert "1" in versions and "2" in versions, set(versions)
    first_v2 = next(at for at, _, body in answers if body["version"] == "2")
    assert first_v2 > deployment_started
    # Once the deployment completed, only revision 2 answers.
    after = {body["version"] for at, _, body in answers if at > completed}
    assert after == {"2"}, after

    new_tasks = running_tasks(ecs, cluster, "roll")
    new_ports = {p for t in new_tasks for p in host_ports(t)}
    assert len(new_tasks) == 2 and not (new_ports & old_ports)
    assert health(elbv2, group) == {p: "healthy" for p in new_ports}
    drained = [p for p in old_ports if "draining" in seen.get(p, [])]
    assert drained, f"no old target was seen draining: {seen}"
    for p in old_ports:
        assert seen.get(p, [None])[-1] in ("draining", "healthy"), (p, seen.get(p))
    for p in new_ports:
        assert seen.get(p, [None])[-1] == "healthy", (p, seen.get(p))
        assert "draining" not in seen[p], (p, seen[p])

    # ECS tells the story in AWS's words.
    messages = [e["message"] for e in svc["events"]]
    for pattern in (rf"\(service roll\) (?<!de)registered [12] targets in \(target-group {re.escape(group)}\)",
                    r"\(service roll\) has begun draining connections on [12] tasks",
                    rf"\(service roll\) deregistered [12] targets in \(target-group {re.escape(group)}\)"):
        assert any(re.search(pattern, m) for m in messages), (pattern, messages[:15])
