"""boto3 as a client of ferry local's rolling deployments with the newer deployment-configuration
members (botocore 1.44.8): the circuit breaker's `thresholdConfiguration` (COUNT,
BOUNDED_PERCENT, UNBOUNDED_PERCENT) tripping at the threshold it computes, with the rollback
that follows and the `deploymentCircuitBreaker` DescribeServiceDeployments shows; the early
success criteria completing a deployment before all its tasks are healthy, the source
revision's tasks stopped before (BLOCKING) or after (DEFERRED) it succeeds; and the bad
configurations refused with nothing changed.

Tasks are host processes: a revision whose command is `exit 1` fails every task it starts.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import unique, wait_until

WAIT = {"Delay": 1, "MaxAttempts": 90}
DONE = ("SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "STOPPED", "ROLLBACK_FAILED")


def container(command: str) -> dict:
    return {"name": "main", "image": "busybox", "essential": True, "memory": 16, "entryPoint": ["/bin/sh", "-c"],
            "command": [command]}


@pytest.fixture(scope="module")
def world(ferry):
    """A cluster and a family with a revision that runs (`good`) and one whose tasks exit 1 at
    once (`bad`); `make` creates a service of `good` and waits until it is stable."""
    ecs = ferry.ecs
    cluster, family = unique("breaker"), unique("breaker")
    ecs.create_cluster(clusterName=cluster)

    def register(command: str) -> str:
        return ecs.register_task_definition(family=family, containerDefinitions=[container(command)])["taskDefinition"][
            "taskDefinitionArn"]

    good, bad = register("exec sleep 600"), register("exit 1")

    def make(desired: int, configuration: dict) -> str:
        name = unique("svc")
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=good, desiredCount=desired,
                           deploymentConfiguration=configuration)
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=WAIT)
        return name

    return {"cluster": cluster, "good": good, "bad": bad, "make": make}


def deploy(ecs, cluster: str, name: str, revision: str) -> str:
    """UpdateService to `revision`; the ARN of the service deployment it started."""
    ecs.update_service(cluster=cluster, service=name, taskDefinition=revision)
    return ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"][0]["serviceDeploymentArn"]


def service_deployment(ecs, arn: str) -> dict:
    described = ecs.describe_service_deployments(serviceDeploymentArns=[arn])
    assert described["failures"] == []
    return described["serviceDeployments"][0]


def finished(ecs, arn: str) -> dict:
    return wait_until(lambda: (d := service_deployment(ecs, arn))["status"] in DONE and d, timeout=120, interval=0.2,
                      what="the service deployment to finish")


def tasks_of(ecs, cluster: str, name: str) -> list[dict]:
    """Every task of the service, running or stopped."""
    arns = [arn for status in ("RUNNING", "STOPPED")
            for arn in ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=status)["taskArns"]]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


# --- the threshold ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "threshold"),
    [
        ("COUNT", 2, 2),  # the value itself
        ("BOUNDED_PERCENT", 100, 3),  # 100 % of 2 is 2, raised to the bound of 3
        ("BOUNDED_PERCENT", 200, 4),  # 200 % of 2, within the bounds
        ("UNBOUNDED_PERCENT", 50, 1),  # 50 % of 2, no bound
    ],
)
def test_failing_tasks_trip_the_breaker_at_the_threshold_of_its_type_and_roll_back(ferry, world, kind, value, threshold):
    ecs, cluster = ferry.ecs, world["cluster"]
    configuration = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True,
                                     "thresholdConfiguration": {"type": kind, "value": value}},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    name = world["make"](2, configuration)
    kept = sorted(t["taskArn"] for t in tasks_of(ecs, cluster, name) if t["lastStatus"] == "RUNNING")
    assert len(kept) == 2
    echoed = ecs.describe_services(cluster=cluster, services=[name])["services"][0]["deploymentConfiguration"]
    assert echoed["deploymentCircuitBreaker"]["thresholdConfiguration"] == {"type": kind, "value": value}

    arn = deploy(ecs, cluster, name, world["bad"])
    # The threshold is known from the start, computed on the desired count.
    breaker = service_deployment(ecs, arn)["deploymentCircuitBreaker"]
    assert breaker["threshold"] == threshold, breaker
    assert breaker["status"] in ("MONITORING", "TRIGGERED") and breaker["failureCount"] <= threshold, breaker

    done = finished(ecs, arn)
    assert done["status"] == "ROLLBACK_SUCCESSFUL", done
    assert done["deploymentCircuitBreaker"] == {"status": "TRIGGERED", "failureCount": threshold, "threshold": threshold}
    assert done["deploymentConfiguration"]["deploymentCircuitBreaker"]["thresholdConfiguration"] == {"type": kind,
                                                                                                      "value": value}
    assert "circuit breaker" in done["statusReason"], done
    svc = wait_until(lambda: (s := ecs.describe_services(cluster=cluster, services=[name])["services"][0])["deployments"][0][
        "rolloutState"] == "COMPLETED" and s, timeout=60, what="the rolled-back deployment to complete")
    assert svc["taskDefinition"] == world["good"]
    # Rolled back by reactivation: the tasks that ran before still run, and nothing else.
    running = sorted(t["taskArn"] for t in tasks_of(ecs, cluster, name) if t["desiredStatus"] == "RUNNING")
    assert running == kept
    # Those that exited failed; any still starting when the breaker tripped were stopped by the rollback.
    failed = [t for t in tasks_of(ecs, cluster, name) if t["taskDefinitionArn"] == world["bad"]]
    assert sum(t.get("stopCode") == "EssentialContainerExited" for t in failed) >= threshold, failed
    assert all(t["lastStatus"] == "STOPPED" for t in failed), failed
    ecs.delete_service(cluster=cluster, service=name, force=True)


# --- early success ----------------------------------------------------------------------------


@pytest.mark.parametrize("cleanup", ["BLOCKING", "DEFERRED"])
def test_early_success_marks_the_deployment_successful_before_all_its_tasks_are_healthy(ferry, world, cleanup):
    ecs, cluster = ferry.ecs, world["cluster"]
    # Two tasks, one at a time (maximumPercent 100): the second new task can only start once the
    # old tasks are gone, while one healthy new task (50 %) is enough to succeed.
    configuration = {
        "maximumPercent": 100,
        "minimumHealthyPercent": 50,
        "earlySuccessCriteria": {"enable": True, "healthyPercent": 50, "sourceServiceRevisionCleanup": cleanup},
    }
    name = world["make"](2, configuration)
    old = {t["taskArn"] for t in tasks_of(ecs, cluster, name)}
    second = ecs.register_task_definition(family=world["good"].rsplit("/", 1)[1].rsplit(":", 1)[0],
                                          containerDefinitions=[container("exec sleep 601")])["taskDefinition"][
        "taskDefinitionArn"]
    arn = deploy(ecs, cluster, name, second)
    done = finished(ecs, arn)
    assert done["status"] == "SUCCESSFUL", done
    assert done["deploymentConfiguration"]["earlySuccessCriteria"] == configuration["earlySuccessCriteria"]
    assert done["deploymentCircuitBreaker"]["status"] == "DISABLED"
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=WAIT)
    svc = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    assert [(d["taskDefinition"], d["rolloutState"]) for d in svc["deployments"]] == [(second, "COMPLETED")]

    at = done["finishedAt"]
    tasks = tasks_of(ecs, cluster, name)
    new = [t for t in tasks if t["taskDefinitionArn"] == second and t["desiredStatus"] == "RUNNING"]
    assert len(new) == 2
    # Successful with one of its two tasks running: the other started after.
    assert sorted(t["startedAt"] < at for t in new) == [False, True], (at, [t["startedAt"] for t in new])
    stopped = [t for t in tasks if t["taskArn"] in old]
    assert len(stopped) == 2 and all(t["lastStatus"] == "STOPPED" for t in stopped)
    last_stop = max(t["stoppedAt"] for t in stopped)
    messages = [e["message"] for e in svc["events"]]  # newest first
    completed = next(i for i, m in enumerate(messages) if m.endswith("deployment completed."))
    last_old = max(stopped, key=lambda t: t["stoppedAt"])["taskArn"].rsplit("/", 1)[1]
    stopping = next(i for i, m in enumerate(messages) if "has stopped" in m and last_old in m)
    if cleanup == "BLOCKING":
        # The old tasks stopped before it succeeded.
        assert last_stop <= at, (last_stop, at)
        assert stopping > completed, messages
    else:
        # It succeeded first; the last old task was asked to stop after, and stopped after.
        assert last_stop >= at, (last_stop, at)
        assert stopping < completed, messages
    ecs.delete_service(cluster=cluster, service=name, force=True)


# --- bad configurations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "configuration",
    [
        {"deploymentCircuitBreaker": {"enable": True, "rollback": True,
                                      "thresholdConfiguration": {"type": "COUNT", "value": 0}}},
        {"deploymentCircuitBreaker": {"enable": True, "rollback": True,
                                      "thresholdConfiguration": {"type": "PERCENT", "value": 50}}},
        {"minimumHealthyPercent": 50,
         "earlySuccessCriteria": {"enable": True, "healthyPercent": 40, "sourceServiceRevisionCleanup": "BLOCKING"}},
        {"minimumHealthyPercent": 50, "earlySuccessCriteria": {"enable": True, "healthyPercent": 60}},
    ],
    ids=["count-0", "unknown-type", "healthy-percent-below-minimum", "no-cleanup"],
)
def test_a_bad_configuration_is_refused_and_changes_nothing(ferry, world, configuration):
    ecs, cluster = ferry.ecs, world["cluster"]
    name = world["make"](1, {"maximumPercent": 200, "minimumHealthyPercent": 100})
    before = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    with pytest.raises(ClientError) as refused:
        ecs.update_service(cluster=cluster, service=name, taskDefinition=world["bad"], deploymentConfiguration=configuration)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException", refused.value.response
    after = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    assert after["deploymentConfiguration"] == before["deploymentConfiguration"]
    assert after["taskDefinition"] == before["taskDefinition"] == world["good"]
    assert [d["id"] for d in after["deployments"]] == [d["id"] for d in before["deployments"]]
    with pytest.raises(ClientError) as refused:
        ecs.create_service(cluster=cluster, serviceName=unique("never"), taskDefinition=world["good"], desiredCount=1,
                           deploymentConfiguration=configuration)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    ecs.delete_service(cluster=cluster, service=name, force=True)
