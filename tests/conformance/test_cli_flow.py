"""The aws CLI as a client of ferry local: a rolling deploy and an ECR retag, done the way
people do them from a shell, with the CLI's own waiter deciding when a service is stable.
"""

from __future__ import annotations

import hashlib
import json

from conftest import http_get_json, host_ports, sample_container, unique, wait_until


def running_tasks(aws, cluster: str, service: str) -> list[dict]:
    arns = aws.run("ecs", "list-tasks", "--cluster", cluster, "--service-name", service,
                   "--desired-status", "RUNNING")["taskArns"]
    if not arns:
        return []
    tasks = aws.run("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *arns)["tasks"]
    return [t for t in tasks if t["lastStatus"] == "RUNNING"]


def describe_service(aws, cluster: str, service: str) -> dict:
    out = aws.run("ecs", "describe-services", "--cluster", cluster, "--services", service)
    assert out["failures"] == [], out["failures"]
    return out["services"][0]


def register(aws, ferry_bin: str, family: str, version: str) -> str:
    container = sample_container(ferry_bin, image=f"example.com/sample-app:{version}")
    out = aws.run(
        "ecs", "register-task-definition",
        "--family", family,
        "--container-definitions", json.dumps([container]),
    )
    td = out["taskDefinition"]
    assert td["family"] == family
    assert td["status"] == "ACTIVE"
    assert td["containerDefinitions"][0]["entryPoint"] == [ferry_bin]
    return td["taskDefinitionArn"]


def test_rolling_deploy_and_replacement_with_the_aws_cli(aws, ferry_bin):
    cluster, service, family = unique("cli"), "web", unique("cli-web")

    created = aws.run("ecs", "create-cluster", "--cluster-name", cluster)["cluster"]
    assert created["clusterName"] == cluster
    assert created["status"] == "ACTIVE"
    assert created["clusterArn"] == f"arn:aws:ecs:us-east-1:000000000000:cluster/{cluster}"

    first = register(aws, ferry_bin, family, "1.0")
    assert first.endswith(f":task-definition/{family}:1")

    svc = aws.run(
        "ecs", "create-service", "--cluster", cluster, "--service-name", service,
        "--task-definition", family, "--desired-count", "2",
    )["service"]
    assert svc["desiredCount"] == 2
    assert svc["taskDefinition"] == first
    assert [d["status"] for d in svc["deployments"]] == ["PRIMARY"]

    # The CLI's own waiter (botocore's services-stable acceptors, 15 s between polls).
    aws.run("ecs", "wait", "services-stable", "--cluster", cluster, "--services", service, timeout=180)

    svc = describe_service(aws, cluster, service)
    assert svc["runningCount"] == 2 and svc["pendingCount"] == 0
    old_tasks = running_tasks(aws, cluster, service)
    assert len(old_tasks) == 2
    for task in old_tasks:
        assert task["taskDefinitionArn"] == first
        ports = host_ports(task)
        assert len(ports) == 1, task["containers"]
        answer = http_get_json(ports[0])
        assert answer["version"] == "1.0"
        assert answer["task"] == task["taskArn"]

    second = register(aws, ferry_bin, family, "2.0")
    assert second.endswith(f":task-definition/{family}:2")
    updated = aws.run(
        "ecs", "update-service", "--cluster", cluster, "--service", service, "--task-definition", second,
    )["service"]
    assert updated["taskDefinition"] == second
    assert {d["status"] for d in updated["deployments"]} == {"PRIMARY", "ACTIVE"}

    aws.run("ecs", "wait", "services-stable", "--cluster", cluster, "--services", service, timeout=180)

    svc = describe_service(aws, cluster, service)
    assert len(svc["deployments"]) == 1
    deployment = svc["deployments"][0]
    assert deployment["status"] == "PRIMARY"
    assert deployment["taskDefinition"] == second
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["runningCount"] == 2

    old_arns = [t["taskArn"] for t in old_tasks]

    def old_tasks_stopped():
        tasks = aws.run("ecs", "describe-tasks", "--cluster", cluster, "--tasks", *old_arns)["tasks"]
        return all(t["lastStatus"] == "STOPPED" for t in tasks) and tasks

    stopped = wait_until(old_tasks_stopped, timeout=30, interval=0.5, what="the old revision's tasks to stop")
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}

    new_tasks = running_tasks(aws, cluster, service)
    assert len(new_tasks) == 2
    for task in new_tasks:
        assert task["taskDefinitionArn"] == second
        assert http_get_json(host_ports(task)[0])["version"] == "2.0"

    # A task stopped by hand is replaced by the scheduler.
    victim = new_tasks[0]["taskArn"]
    stopped = aws.run("ecs", "stop-task", "--cluster", cluster, "--task", victim, "--reason", "conformance")["task"]
    assert stopped["taskArn"] == victim
    assert stopped["desiredStatus"] == "STOPPED"
    aws.run("ecs", "wait", "tasks-stopped", "--cluster", cluster, "--tasks", victim, timeout=120)
    gone = aws.run("ecs", "describe-tasks", "--cluster", cluster, "--tasks", victim)["tasks"][0]
    assert gone["lastStatus"] == "STOPPED"
    assert gone["stopCode"] == "UserInitiated"
    assert gone["stoppedReason"] == "conformance"

    def replaced():
        tasks = running_tasks(aws, cluster, service)
        arns = {t["taskArn"] for t in tasks}
        svc = describe_service(aws, cluster, service)
        return len(tasks) == 2 and victim not in arns and svc["runningCount"] == 2 and (tasks, svc)

    tasks, svc = wait_until(replaced, timeout=30, interval=0.5, what="the stopped task to be replaced")
    replacement = [t for t in tasks if t["taskArn"] != new_tasks[1]["taskArn"]]
    assert len(replacement) == 1
    assert replacement[0]["taskDefinitionArn"] == second
    assert replacement[0]["startedBy"] == new_tasks[1]["startedBy"]
    assert svc["desiredCount"] == 2

    # Tear down: scale to zero and delete, as a pipeline would.
    aws.run("ecs", "update-service", "--cluster", cluster, "--service", service, "--desired-count", "0")
    deleted = aws.run("ecs", "delete-service", "--cluster", cluster, "--service", service)["service"]
    assert deleted["status"] == "DRAINING"
    aws.run("ecs", "wait", "services-inactive", "--cluster", cluster, "--services", service, timeout=120)



def test_stop_service_deployment_rollback_reactivates_the_last_completed_deployment(aws, ferry_bin):
    """A deployment that cannot progress (1 task, minimum healthy 100 %, maximum 100 %) is
    rolled back with `aws ecs stop-service-deployment --stop-type ROLLBACK`. As on ECS, the
    last COMPLETED deployment becomes PRIMARY again with its id and its running task; no
    third deployment is created and no healthy task is replaced."""
    cluster, service, family = unique("cli-rb"), "web", unique("cli-rb-web")
    aws.run("ecs", "create-cluster", "--cluster-name", cluster)
    first = register(aws, ferry_bin, family, "1.0")
    aws.run(
        "ecs", "create-service", "--cluster", cluster, "--service-name", service,
        "--task-definition", first, "--desired-count", "1",
        "--deployment-configuration", "minimumHealthyPercent=100,maximumPercent=100",
    )
    aws.run("ecs", "wait", "services-stable", "--cluster", cluster, "--services", service, timeout=180)
    before = describe_service(aws, cluster, service)
    good_id = before["deployments"][0]["id"]
    good_tasks = sorted(t["taskArn"] for t in running_tasks(aws, cluster, service))
    assert len(good_tasks) == 1

    second = register(aws, ferry_bin, family, "2.0")
    aws.run("ecs", "update-service", "--cluster", cluster, "--service", service, "--task-definition", second)
    listed = aws.run("ecs", "list-service-deployments", "--cluster", cluster, "--service", service,
                     "--status", "IN_PROGRESS", "PENDING")["serviceDeployments"]
    assert len(listed) == 1, listed
    stuck = listed[0]["serviceDeploymentArn"]

    stopped = aws.run("ecs", "stop-service-deployment", "--service-deployment-arn", stuck, "--stop-type", "ROLLBACK")
    assert stopped["serviceDeploymentArn"] == stuck

    def rolled_back():
        sd = aws.run("ecs", "describe-service-deployments", "--service-deployment-arns", stuck)["serviceDeployments"][0]
        return sd["status"] == "ROLLBACK_SUCCESSFUL" and sd

    sd = wait_until(rolled_back, timeout=60, interval=0.5, what="the rollback to succeed")
    assert "rollback" in sd and sd["rollback"]["serviceRevisionArn"]
    back_to = aws.run("ecs", "describe-service-revisions", "--service-revision-arns",
                      sd["rollback"]["serviceRevisionArn"])["serviceRevisions"][0]
    assert back_to["taskDefinition"] == first

    after = describe_service(aws, cluster, service)
    assert [d["id"] for d in after["deployments"]] == [good_id], after["deployments"]
    assert after["deployments"][0]["status"] == "PRIMARY"
    assert after["deployments"][0]["rolloutState"] == "COMPLETED"
    assert after["taskDefinition"] == first
    assert sorted(t["taskArn"] for t in running_tasks(aws, cluster, service)) == good_tasks

    aws.run("ecs", "update-service", "--cluster", cluster, "--service", service, "--desired-count", "0")
    aws.run("ecs", "delete-service", "--cluster", cluster, "--service", service)

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1469,
            "digest": "sha256:" + hashlib.sha256(b"conformance-config").hexdigest(),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 2811478,
                "digest": "sha256:" + hashlib.sha256(b"conformance-layer").hexdigest(),
            }
        ],
    },
    indent=3,
)


def test_ecr_retag_recipe_with_the_aws_cli(aws):
    repo = unique("cli-repo")
    created = aws.run("ecr", "create-repository", "--repository-name", repo)["repository"]
    assert created["repositoryName"] == repo
    assert created["repositoryUri"] == f"000000000000.dkr.ecr.us-east-1.amazonaws.com/{repo}"

    put = aws.run("ecr", "put-image", "--repository-name", repo, "--image-tag", "1.4.2", "--image-manifest", MANIFEST)
    digest = put["image"]["imageId"]["imageDigest"]
    assert digest == "sha256:" + hashlib.sha256(MANIFEST.encode()).hexdigest()

    # The classic retag: fetch the manifest as text, put it back under the new tag.
    manifest = aws.text(
        "ecr", "batch-get-image", "--repository-name", repo, "--image-ids", "imageTag=1.4.2",
        "--query", "images[].imageManifest",
    )
    manifest = manifest.rstrip("\n")
    assert manifest == MANIFEST
    retagged = aws.run("ecr", "put-image", "--repository-name", repo, "--image-tag", "prod", "--image-manifest", manifest)
    assert retagged["image"]["imageId"] == {"imageDigest": digest, "imageTag": "prod"}

    details = aws.run("ecr", "describe-images", "--repository-name", repo)["imageDetails"]
    assert len(details) == 1, details
    assert details[0]["imageDigest"] == digest
    assert sorted(details[0]["imageTags"]) == ["1.4.2", "prod"]
    fetched = aws.run("ecr", "batch-get-image", "--repository-name", repo, "--image-ids", "imageTag=prod")
    assert fetched["failures"] == []
    assert [(i["imageId"]["imageDigest"], i["imageManifest"]) for i in fetched["images"]] == [(digest, MANIFEST)]

    # Doing it again is refused the way ECR refuses it, and changes nothing.
    again = aws.run("ecr", "put-image", "--repository-name", repo, "--image-tag", "prod", "--image-manifest", manifest,
                    check=False)
    assert again.returncode != 0
    assert "ImageAlreadyExistsException" in again.stderr
    listed = aws.run("ecr", "list-images", "--repository-name", repo)["imageIds"]
    assert sorted(i["imageTag"] for i in listed) == ["1.4.2", "prod"]
    assert {i["imageDigest"] for i in listed} == {digest}
