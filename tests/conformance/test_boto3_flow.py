"""boto3 as a client of ferry local: a rolling deploy of ECR images, a failing revision the
deployment circuit breaker rolls back, paginators, and Application Auto Scaling holding a
service's desired count inside its scalable target's range.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from conftest import http_get_json, host_ports, sample_container, unique, wait_until

WAIT = {"Delay": 1, "MaxAttempts": 90}


def manifest(version: str) -> str:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 100,
                "digest": "sha256:" + hashlib.sha256(f"config {version}".encode()).hexdigest(),
            },
            "layers": [],
        }
    )


def service(ecs, cluster: str, name: str) -> dict:
    out = ecs.describe_services(cluster=cluster, services=[name])
    assert out["failures"] == []
    return out["services"][0]


def paginated_tasks(ecs, cluster: str, name: str) -> list[str]:
    arns, pages = [], 0
    for page in ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, serviceName=name, desiredStatus="RUNNING", PaginationConfig={"PageSize": 1}
    ):
        pages += 1
        arns += page["taskArns"]
    assert pages >= len(arns), "a page of one holds one task"
    return arns


def running(ecs, cluster: str, name: str) -> list[dict]:
    arns = paginated_tasks(ecs, cluster, name)
    if not arns:
        return []
    return [t for t in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if t["lastStatus"] == "RUNNING"]


def versions(tasks: list[dict]) -> list[str]:
    return sorted(http_get_json(host_ports(t)[0])["version"] for t in tasks)


@pytest.fixture(scope="module")
def world(ferry, ferry_bin):
    """A cluster, an ECR repository with images 1.0 and 2.0, and a family to deploy them."""
    cluster, repo, family = unique("boto"), unique("sample"), unique("boto-web")
    ferry.ecs.create_cluster(clusterName=cluster)
    uri = ferry.ecr.create_repository(repositoryName=repo)["repository"]["repositoryUri"]
    digests = {}
    for version in ("1.0", "2.0"):
        put = ferry.ecr.put_image(repositoryName=repo, imageTag=version, imageManifest=manifest(version))
        digests[version] = put["image"]["imageId"]["imageDigest"]

    def register(version: str, environment=None) -> str:
        container = sample_container(ferry_bin, image=f"{uri}:{version}", environment=environment)
        out = ferry.ecs.register_task_definition(family=family, containerDefinitions=[container])
        return out["taskDefinition"]["taskDefinitionArn"]

    return {"cluster": cluster, "family": family, "digests": digests, "register": register}


def test_rolling_update_then_circuit_breaker_rollback(ferry, world):
    ecs, cluster = ferry.ecs, world["cluster"]
    name = "web"
    rev1 = world["register"]("1.0")
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=rev1,
        desiredCount=2,
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
    )
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=WAIT)
    first_tasks = running(ecs, cluster, name)
    assert len(first_tasks) == 2
    assert versions(first_tasks) == ["1.0", "1.0"]
    # Each task runs the digest the tag resolved to when the deployment started.
    assert {http_get_json(host_ports(t)[0])["digest"] for t in first_tasks} == {world["digests"]["1.0"]}
    assert {c["imageDigest"] for t in first_tasks for c in t["containers"]} == {world["digests"]["1.0"]}

    # A good revision rolls out.
    rev2 = world["register"]("2.0")
    ecs.update_service(cluster=cluster, service=name, taskDefinition=rev2)
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=[name], WaiterConfig=WAIT)
    svc = service(ecs, cluster, name)
    assert [(d["status"], d["taskDefinition"], d["rolloutState"]) for d in svc["deployments"]] == [
        ("PRIMARY", rev2, "COMPLETED")
    ]
    old = ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"] for t in first_tasks])["tasks"]
    wait_until(
        lambda: all(t["lastStatus"] == "STOPPED"
                    for t in ecs.describe_tasks(cluster=cluster, tasks=[t["taskArn"] for t in old])["tasks"]),
        timeout=30, what="revision 1's tasks to stop",
    )
    good_tasks = running(ecs, cluster, name)
    assert versions(good_tasks) == ["2.0", "2.0"]
    good_id = service(ecs, cluster, name)["deployments"][0]["id"]

    # A revision whose process exits at once trips the circuit breaker and rolls back.
    rev3 = world["register"]("2.0", environment=[{"name": "SAMPLE_FAIL_AT_START", "value": "1"}])
    updated = ecs.update_service(cluster=cluster, service=name, taskDefinition=rev3)["service"]
    failing = next(d for d in updated["deployments"] if d["status"] == "PRIMARY")
    assert failing["taskDefinition"] == rev3
    assert failing["rolloutState"] == "IN_PROGRESS"

    def failed():
        svc = service(ecs, cluster, name)
        match = [d for d in svc["deployments"] if d["id"] == failing["id"]]
        assert match, "the failed deployment left the list before it was seen FAILED"
        return match[0]["rolloutState"] == "FAILED" and match[0]

    tripped = wait_until(failed, timeout=90, interval=0.2, what="the circuit breaker to fail the deployment")
    assert tripped["failedTasks"] >= 3
    assert tripped["taskDefinition"] == rev3
    # As ECS does it: the failed deployment is ACTIVE with 0 desired, and the last COMPLETED
    # deployment is PRIMARY again under its own id (not a new rollback deployment).
    assert tripped["status"] == "ACTIVE" and tripped["desiredCount"] == 0, tripped
    primary = next(d for d in service(ecs, cluster, name)["deployments"] if d["status"] == "PRIMARY")
    assert primary["id"] == good_id, primary
    assert primary["taskDefinition"] == rev2

    def rolled_back():
        svc = service(ecs, cluster, name)
        return (
            len(svc["deployments"]) == 1
            and svc["deployments"][0]["rolloutState"] == "COMPLETED"
            and svc["runningCount"] == svc["desiredCount"]
            and svc
        )

    svc = wait_until(rolled_back, timeout=90, interval=0.5, what="the rollback to complete")
    assert svc["taskDefinition"] == rev2
    assert svc["deployments"][0]["taskDefinition"] == rev2
    assert svc["runningCount"] == svc["desiredCount"] == 2
    assert svc["deployments"][0]["id"] == good_id, "the reactivated deployment keeps its id"
    after = running(ecs, cluster, name)
    assert versions(after) == ["2.0", "2.0"]
    assert sorted(t["taskArn"] for t in after) == sorted(t["taskArn"] for t in good_tasks), "the healthy tasks were kept"
    messages = [e["message"] for e in svc["events"]]
    assert any("circuit breaker" in m or "rolling back" in m.lower() for m in messages), messages[:10]

    # The newer API tells the same story.
    listed = ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"]
    by_revision = {}
    for brief in listed:
        by_revision.setdefault(brief["status"], []).append(brief)
    assert "ROLLBACK_SUCCESSFUL" in by_revision, listed
    arns = [b["serviceDeploymentArn"] for b in listed]
    described = ecs.describe_service_deployments(serviceDeploymentArns=arns)
    assert described["failures"] == []
    rolled = [d for d in described["serviceDeployments"] if d["status"] == "ROLLBACK_SUCCESSFUL"]
    assert len(rolled) == 1, described["serviceDeployments"]
    rolled = rolled[0]
    assert rolled["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert rolled["deploymentCircuitBreaker"]["failureCount"] >= rolled["deploymentCircuitBreaker"]["threshold"]
    assert "rollback" in rolled
    target = ecs.describe_service_revisions(serviceRevisionArns=[rolled["targetServiceRevision"]["arn"]])
    assert target["serviceRevisions"][0]["taskDefinition"] == rev3
    rollback_to = ecs.describe_service_revisions(serviceRevisionArns=[rolled["rollback"]["serviceRevisionArn"]])
    assert rollback_to["serviceRevisions"][0]["taskDefinition"] == rev2
    successful = [d for d in described["serviceDeployments"] if d["status"] == "SUCCESSFUL"]
    assert {d["targetServiceRevision"]["arn"] for d in successful}, "the good rollout is SUCCESSFUL"


def test_paginators_walk_every_page(ferry, world):
    ecs, cluster = ferry.ecs, world["cluster"]
    rev = world["register"]("1.0")
    names = [f"idle-{i}" for i in range(3)]
    for name in names:
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=rev, desiredCount=0)
    pages = list(ecs.get_paginator("list_services").paginate(cluster=cluster, PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 2
    assert all(len(p["serviceArns"]) <= 2 for p in pages)
    assert all("nextToken" in p for p in pages[:-1]) and "nextToken" not in pages[-1]
    listed = {arn.rsplit("/", 1)[1] for p in pages for arn in p["serviceArns"]}
    assert set(names) <= listed
    assert len([a for p in pages for a in p["serviceArns"]]) == len(listed), "no service listed twice"

    everything = ecs.get_paginator("list_task_definitions").paginate(
        familyPrefix=world["family"], PaginationConfig={"PageSize": 1}
    ).build_full_result()["taskDefinitionArns"]
    assert everything == sorted(everything, key=lambda a: int(a.rsplit(":", 1)[1]))
    assert everything[-1] == rev
    for name in names:
        ecs.delete_service(cluster=cluster, service=name)


def test_auto_scaling_holds_the_desired_count_in_range(ferry, world):
    ecs, aas, cluster = ferry.ecs, ferry.aas, world["cluster"]
    name = "scaled"
    rev = world["register"]("1.0")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=rev, desiredCount=2)
    resource = f"service/{cluster}/{name}"
    target = dict(ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount")
    arn = aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/")
    described = aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"], t["ScalableTargetARN"]) for t in described] == [(1, 3, arn)]

    # Scaling to zero under a registered target does not stick: the target brings it back.
    assert ecs.update_service(cluster=cluster, service=name, desiredCount=0)["service"]["desiredCount"] == 0
    wait_until(lambda: service(ecs, cluster, name)["desiredCount"] == 1, timeout=10, interval=0.5,
               what="Application Auto Scaling to bring desiredCount back to MinCapacity")

    # Deregistered first, zero sticks.
    aas.deregister_scalable_target(**target)
    assert aas.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[resource])["ScalableTargets"] == []
    ecs.update_service(cluster=cluster, service=name, desiredCount=0)
    deadline = time.monotonic() + 5  # longer than the 2 s the scaler takes to react
    while time.monotonic() < deadline:
        assert service(ecs, cluster, name)["desiredCount"] == 0
        time.sleep(0.5)
    ecs.delete_service(cluster=cluster, service=name)
