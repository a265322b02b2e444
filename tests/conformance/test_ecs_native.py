"""boto3 and the aws CLI as clients of ferry local's ECS-managed BLUE_GREEN, LINEAR and CANARY
deployments, with real traffic: a service behind a production and a test listener, two target
groups, lifecycle hooks that pause the deployment until ContinueServiceDeployment answers,
listener-rule weights that really move, and rollbacks that put production back on blue.

run.sh starts ferry local with `--minute-seconds 0.5`: a minute of bake time or hook timeout
lasts half a second, so `bakeTimeInMinutes: 2` is one second here.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

import elb
from conftest import unique, wait_until

ROLE = "arn:aws:iam::000000000000:role/ecsInfrastructureRoleForLoadBalancers"


def target_group(ferry, name: str) -> str:
    arn = ferry.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, VpcId=elb.VPC, TargetType="instance",
                                          **elb.FAST_HEALTH)["TargetGroups"][0]["TargetGroupArn"]
    ferry.elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
    return arn


def both(blue: str, green: str, blue_weight: int = 100) -> list[dict]:
    return [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": blue, "Weight": blue_weight}, {"TargetGroupArn": green, "Weight": 100 - blue_weight}]}}]


class Stage:
    """One blue/green world: a load balancer with a production and a test listener, each
    forwarding to both target groups (blue 100, green 0), and a service on version 1."""

    def __init__(self, ferry, strategy: str, *, hooks=(), extra=None, count: int = 2):
        self.ferry, self.ecs, self.elbv2 = ferry, ferry.ecs, ferry.elbv2
        self.cluster = unique("native")
        self.ecs.create_cluster(clusterName=self.cluster)
        lb = self.elbv2.create_load_balancer(Name=unique("nat"), Subnets=elb.SUBNETS, Scheme="internal",
                                             Type="application")["LoadBalancers"][0]
        self.elbv2.get_waiter("load_balancer_available").wait(LoadBalancerArns=[lb["LoadBalancerArn"]],
                                                              WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        self.host = elb.address(lb["DNSName"])
        self.blue, self.green = target_group(ferry, unique("blue")), target_group(ferry, unique("green"))
        self.ports = {}
        self.rules = {}
        for role in ("production", "test"):
            port = elb.free_port(self.host)
            listener = self.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=port,
                                                  DefaultActions=both(self.blue, self.green))["Listeners"][0]
            rules = self.elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            self.ports[role] = port
            self.rules[role] = next(r["RuleArn"] for r in rules if r["IsDefault"])
        self.family = unique("native-echo")
        self.name = unique("svc")
        configuration = {"strategy": strategy, "bakeTimeInMinutes": 2, "maximumPercent": 200, "minimumHealthyPercent": 100,
                         "lifecycleHooks": list(hooks), **(extra or {})}
        self.ecs.create_service(
            cluster=self.cluster, serviceName=self.name, taskDefinition=self.revision("1"), desiredCount=count,
            healthCheckGracePeriodSeconds=5,
            loadBalancers=[{"targetGroupArn": self.blue, "containerName": "web", "containerPort": 8080,
                            "advancedConfiguration": {"alternateTargetGroupArn": self.green,
                                                      "productionListenerRule": self.rules["production"],
                                                      "testListenerRule": self.rules["test"], "roleArn": ROLE}}],
            deploymentConfiguration=configuration,
        )
        self.count = count
        wait_until(lambda: self.serves("production", "1"), timeout=60, what="version 1 behind the production listener")
        # Blue is the last completed deployment: a blue/green deployment shifts from it.
        wait_until(lambda: self.ecs.describe_services(cluster=self.cluster, services=[self.name])["services"][0][
            "deployments"][0]["rolloutState"] == "COMPLETED", timeout=60, what="version 1's deployment to complete")

    def revision(self, version: str) -> str:
        return self.ecs.register_task_definition(family=self.family, containerDefinitions=[elb.echo_container(version)])[
            "taskDefinition"]["taskDefinitionArn"]

    def who(self, role: str) -> str | None:
        answer = elb.get(self.host, self.ports[role], "/")
        return answer.json()["version"] if answer.status == 200 else None

    def serves(self, role: str, version: str, n: int = 6) -> bool:
        return all(self.who(role) == version for _ in range(n))

    def weights(self, role: str = "production") -> dict[str, int]:
        rule = self.elbv2.describe_rules(RuleArns=[self.rules[role]])["Rules"][0]
        groups = rule["Actions"][0]["ForwardConfig"]["TargetGroups"]
        by_arn = {g["TargetGroupArn"]: g["Weight"] for g in groups}
        return {"blue": by_arn.get(self.blue, 0), "green": by_arn.get(self.green, 0)}

    def deploy(self, version: str) -> str:
        self.ecs.update_service(cluster=self.cluster, service=self.name, taskDefinition=self.revision(version))
        return self.ecs.list_service_deployments(cluster=self.cluster, service=self.name)["serviceDeployments"][0][
            "serviceDeploymentArn"]

    def deployment(self, arn: str) -> dict:
        return self.ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]

    def paused(self, arn: str):
        def waiting():
            d = self.deployment(arn)
            hooks = [h for h in d.get("lifecycleHookDetails", []) if h["status"] == "AWAITING_ACTION"]
            return hooks and (d, hooks[0])
        return wait_until(waiting, timeout=60, interval=0.2, what="a lifecycle hook awaiting action")

    def finished(self, arn: str) -> dict:
        return wait_until(lambda: (d := self.deployment(arn))["status"] in ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "STOPPED",
                                                                             "ROLLBACK_FAILED") and d,
                          timeout=90, interval=0.2, what="the service deployment to finish")

    def running_versions(self) -> list[str]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=self.name, desiredStatus="RUNNING")["taskArns"]
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"] if arns else []
        return sorted(t["taskDefinitionArn"].rsplit(":", 1)[1] for t in tasks if t["lastStatus"] == "RUNNING")

    def close(self):
        try:
            self.ecs.update_service(cluster=self.cluster, service=self.name, desiredCount=0)
            self.ecs.delete_service(cluster=self.cluster, service=self.name, force=True)
        except ClientError:
            pass


PAUSE_AFTER_TEST = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                    "timeoutConfiguration": {"timeoutInMinutes": 600, "action": "ROLLBACK"}}


def test_blue_green_pauses_with_test_traffic_on_green_then_continue_moves_production(ferry):
    stage = Stage(ferry, "BLUE_GREEN", hooks=[PAUSE_AFTER_TEST])
    try:
        loop = elb.RequestLoop(stage.host, stage.ports["production"], "/", workers=4, seconds=90).start()
        arn = stage.deploy("2")
        deployment, hook = stage.paused(arn)
        assert deployment["status"] == "IN_PROGRESS"
        assert deployment["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
        assert hook["targetType"] == "PAUSE" and hook["timeoutAction"] == "ROLLBACK"
        assert deployment["targetServiceRevision"]["requestedTestTrafficWeight"] == 100.0
        assert deployment["targetServiceRevision"]["requestedProductionTrafficWeight"] == 0.0
        # The test listener serves green (once the proxies read the new weights, within a tick),
        # production still blue, and stays so while paused.
        wait_until(lambda: stage.serves("test", "2"), timeout=5, interval=0.1, what="the test listener on green")
        assert stage.serves("production", "1")
        assert stage.weights("test") == {"blue": 0, "green": 100}
        assert stage.weights("production") == {"blue": 100, "green": 0}
        time.sleep(1.5)
        assert stage.deployment(arn)["status"] == "IN_PROGRESS" and stage.serves("production", "1")
        assert stage.running_versions() == ["1", "1", "2", "2"]

        stage.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
        wait_until(lambda: stage.serves("production", "2"), timeout=30, what="production on green")
        done = stage.finished(arn)
        assert done["status"] == "SUCCESSFUL", done
        assert stage.weights("production") == {"blue": 0, "green": 100}
        wait_until(lambda: stage.running_versions() == ["2", "2"], timeout=30, what="blue scaled in")
        answered = [h for h in done["lifecycleHookDetails"] if h["hookId"] == hook["hookId"]]
        assert answered[0]["status"] == "SUCCEEDED"
        result = loop.stop()
        assert result.sent > 100 and not result.failures, result.failures[:5]
        # The groups swapped roles: the service now names green as its target group.
        service = stage.ecs.describe_services(cluster=stage.cluster, services=[stage.name])["services"][0]
        lb = service["loadBalancers"][0]
        assert lb["targetGroupArn"] == stage.green
        assert lb["advancedConfiguration"]["alternateTargetGroupArn"] == stage.blue
    finally:
        stage.close()


def test_blue_green_rollback_at_the_hook_keeps_production_on_blue(ferry):
    stage = Stage(ferry, "BLUE_GREEN", hooks=[PAUSE_AFTER_TEST])
    try:
        loop = elb.RequestLoop(stage.host, stage.ports["production"], "/", workers=4, seconds=90).start()
        arn = stage.deploy("2")
        _, hook = stage.paused(arn)
        stage.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="ROLLBACK")
        done = stage.finished(arn)
        assert done["status"] == "ROLLBACK_SUCCESSFUL", done
        assert "rollback" in done and done["rollback"]["serviceRevisionArn"] in [
            s["arn"] for s in done["sourceServiceRevisions"]]
        assert stage.weights("production") == {"blue": 100, "green": 0}
        assert stage.weights("test") == {"blue": 100, "green": 0}
        wait_until(lambda: stage.serves("test", "1"), timeout=5, interval=0.1, what="the test listener back on blue")
        assert stage.serves("production", "1")
        wait_until(lambda: stage.running_versions() == ["1", "1"], timeout=30, what="green scaled in")
        result = loop.stop()
        assert result.sent > 100 and not result.failures, result.failures[:5]
        # Answering the hook again is refused: the deployment is over.
        with pytest.raises(ClientError) as refused:
            stage.ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"])
        assert refused.value.response["Error"]["Code"] == "ClientException"
    finally:
        stage.close()


def observed_weights(stage: Stage, arn: str) -> list[int]:
    """The green weights the production rule showed, polled until the deployment ended."""
    seen: list[int] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        green = stage.weights()["green"]
        if not seen or seen[-1] != green:
            seen.append(green)
        if stage.deployment(arn)["status"] not in ("PENDING", "IN_PROGRESS"):
            break
        time.sleep(0.05)
    return seen


def test_linear_moves_production_weight_in_steps(ferry):
    stage = Stage(ferry, "LINEAR", extra={"bakeTimeInMinutes": 0,
                                          "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2}})
    try:
        arn = stage.deploy("2")
        seen = observed_weights(stage, arn)
        assert seen == [0, 25, 50, 75, 100], seen
        assert stage.finished(arn)["status"] == "SUCCESSFUL"
        assert stage.serves("production", "2")
    finally:
        stage.close()


def test_canary_gives_the_canary_percent_then_the_rest(ferry):
    stage = Stage(ferry, "CANARY", extra={"bakeTimeInMinutes": 0,
                                          "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 3}})
    try:
        arn = stage.deploy("2")
        seen = observed_weights(stage, arn)
        assert seen == [0, 20, 100], seen
        assert stage.finished(arn)["status"] == "SUCCESSFUL"
    finally:
        stage.close()


def test_stop_service_deployment_rolls_a_paused_blue_green_back(ferry, aws):
    stage = Stage(ferry, "BLUE_GREEN", hooks=[PAUSE_AFTER_TEST])
    try:
        arn = stage.deploy("2")
        stage.paused(arn)
        out = aws.run("ecs", "stop-service-deployment", "--service-deployment-arn", arn, "--stop-type", "ROLLBACK")
        assert out["serviceDeploymentArn"] == arn
        assert stage.finished(arn)["status"] == "ROLLBACK_SUCCESSFUL"
        wait_until(lambda: stage.serves("test", "1"), timeout=5, interval=0.1, what="the test listener back on blue")
        assert stage.serves("production", "1")
    finally:
        stage.close()


def test_hook_timeout_takes_its_action(ferry):
    hook = {"targetType": "PAUSE", "lifecycleStages": ["PRE_SCALE_UP"],
            "timeoutConfiguration": {"timeoutInMinutes": 2, "action": "CONTINUE"}}
    stage = Stage(ferry, "BLUE_GREEN", hooks=[hook], extra={"bakeTimeInMinutes": 0})
    try:
        arn = stage.deploy("2")
        done = stage.finished(arn)
        assert done["status"] == "SUCCESSFUL", done
        assert [h["status"] for h in done["lifecycleHookDetails"]] == ["TIMED_OUT"]
    finally:
        stage.close()


def test_bad_native_configurations_are_refused_and_change_nothing(ferry):
    stage = Stage(ferry, "BLUE_GREEN", count=1)
    try:
        before = stage.ecs.describe_services(cluster=stage.cluster, services=[stage.name])["services"][0]
        lambda_hook = {"targetType": "AWS_LAMBDA", "hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:check",
                       "roleArn": ROLE, "lifecycleStages": ["POST_SCALE_UP"]}
        cases = [
            ({"deploymentConfiguration": {"lifecycleHooks": [lambda_hook]}}, "UnsupportedFeatureException", "Lambda"),
            ({"deploymentConfiguration": {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 1.0}}},
             "InvalidParameterException", "stepPercent"),
            ({"deploymentConfiguration": {"strategy": "BLUE_GREEN", "canaryConfiguration": {"canaryPercent": 5.0}}},
             "InvalidParameterException", "canaryConfiguration"),
            ({"loadBalancers": [{"targetGroupArn": stage.blue, "containerName": "web", "containerPort": 8080}]},
             "InvalidParameterException", "advancedConfiguration"),
        ]
        # A production rule that forwards to the blue group only.
        only_blue = stage.elbv2.create_listener(
            LoadBalancerArn=stage.elbv2.describe_target_groups(TargetGroupArns=[stage.blue])["TargetGroups"][0][
                "LoadBalancerArns"][0], Protocol="HTTP", Port=elb.free_port(stage.host),
            DefaultActions=[{"Type": "forward", "TargetGroupArn": stage.blue}])["Listeners"][0]["ListenerArn"]
        cases.append(({"loadBalancers": [{"targetGroupArn": stage.blue, "containerName": "web", "containerPort": 8080,
                                          "advancedConfiguration": {"alternateTargetGroupArn": stage.green,
                                                                    "productionListenerRule": only_blue,
                                                                    "roleArn": ROLE}}]},
                      "InvalidParameterException", "both target groups"))
        for change, code, words in cases:
            with pytest.raises(ClientError) as refused:
                stage.ecs.update_service(cluster=stage.cluster, service=stage.name, taskDefinition=stage.revision("9"),
                                         **change)
            error = refused.value.response["Error"]
            assert error["Code"] == code and words in error["Message"], error
        after = stage.ecs.describe_services(cluster=stage.cluster, services=[stage.name])["services"][0]
        for key in ("taskDefinition", "deploymentConfiguration", "loadBalancers"):
            assert after[key] == before[key], key
        assert len(after["deployments"]) == len(before["deployments"])
    finally:
        stage.close()


def test_an_alarm_in_alarm_during_bake_rolls_back(ferry, ferry_url, recorder):
    from conftest import make_client

    cloudwatch = make_client("cloudwatch", ferry_url, "ferry", recorder)
    alarm = unique("native-5xx")
    cloudwatch.put_metric_alarm(AlarmName=alarm, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="quiet")
    stage = Stage(ferry, "BLUE_GREEN", extra={"bakeTimeInMinutes": 60,
                                              "alarms": {"alarmNames": [alarm], "enable": True, "rollback": True}})
    try:
        arn = stage.deploy("2")
        wait_until(lambda: stage.deployment(arn).get("lifecycleStage") == "BAKE_TIME", timeout=60, interval=0.2,
                   what="the bake time")
        wait_until(lambda: stage.serves("production", "2"), timeout=5, interval=0.1, what="production on green")
        assert stage.deployment(arn)["alarms"]["status"] == "MONITORING"
        cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx from the new version")
        done = stage.finished(arn)
        assert done["status"] == "ROLLBACK_SUCCESSFUL", done
        assert done["alarms"]["status"] == "TRIGGERED" and done["alarms"]["triggeredAlarmNames"] == [alarm]
        assert alarm in done["rollback"]["reason"]
        assert stage.weights("production") == {"blue": 100, "green": 0}
        wait_until(lambda: stage.serves("production", "1"), timeout=5, interval=0.1, what="production back on blue")
        wait_until(lambda: stage.running_versions() == ["1", "1"], timeout=30, what="green scaled in")
    finally:
        stage.close()
        cloudwatch.delete_alarms(AlarmNames=[alarm])
