"""The same requests sent to ferry local and to moto's server, their answers compared by
shape: which members are present (at every depth) and their JSON types, or the error code.

Every difference found must be listed in EXPECTED below, with the side whose answer
follows the AWS model and API reference; an unlisted difference fails the suite, and so
does a listed one that no longer happens (the table stays true). docs/conformance.md
holds the same table (checked by the last test here).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore import xform_name

import shapes
from conftest import RECORDER, sample_container, unique, wait_until

# Every difference between ferry local's and moto's answers, named by the model shape
# and member it is about (so a member of `Service` is listed once, for CreateService,
# UpdateService, DescribeServices and DeleteService alike), or by the operation for errors:
#
#   (where, difference, follows AWS, why)
#
# `difference` is "ferry only" / "moto only" (a member one side leaves out; what is inside
# it goes with it), "type: ferry X, moto Y" (JSON types), or "error: ferry X, moto Y".
# `follows AWS` is the side whose answer is what AWS answers, by the botocore model (types,
# members) and where the model allows both, by the API reference and the example outputs
# that ship with the aws CLI (awscli/examples/ecs/*.rst).
EXPECTED: list[tuple[str, str, str, str]] = [
    # ECS clusters
    ("Cluster.capacityProviders", "ferry only", "ferry",
     "ECS answers an empty list for a cluster without capacity providers (describe-clusters example)"),
    ("Cluster.defaultCapacityProviderStrategy", "ferry only", "ferry",
     "as capacityProviders: an empty list, not an absent member"),
    ("Cluster.statistics", "ferry only", "ferry", "ECS answers `statistics: []` (create-cluster examples)"),
    ("Cluster.tags", "ferry only", "ferry", "CreateCluster echoes the tags it was given (create-cluster example)"),
    # ECS task definitions
    ("RegisterTaskDefinitionResponse.tags", "ferry only", "ferry",
     "the model's response carries the tags registered with the definition; moto drops them"),
    ("ContainerDefinition.systemControls", "ferry only", "ferry",
     "ECS answers `systemControls: []` for a container that sets none"),
    ("TaskDefinition.networkMode", "moto only", "ferry",
     "ECS leaves networkMode out when the definition did not set it (register/describe-task-definition "
     "examples); moto fills in `bridge`"),
    ("TaskDefinition.registeredAt", "ferry only", "ferry", "in the model and the describe-task-definition example"),
    ("TaskDefinition.registeredBy", "ferry only", "ferry", "in the model and the describe-task-definition example"),
    ("TaskDefinition.requiresAttributes", "ferry only", "ferry",
     "ECS lists the capabilities a definition needs (`com.amazonaws.ecs.capability.*`)"),
    # ECS services
    ("Service.createdAt", "ferry only", "ferry", "in every service example"),
    ("Service.createdBy", "ferry only", "ferry", "ECS names the principal that created the service"),
    ("Service.deploymentConfiguration", "ferry only", "ferry",
     "ECS answers the defaults (maximumPercent 200, minimumHealthyPercent 100, circuit breaker off)"),
    ("Service.enableECSManagedTags", "ferry only", "ferry", "`false` in the create-service example"),
    ("Service.enableExecuteCommand", "ferry only", "ferry", "ECS answers `false` when not enabled"),
    ("Service.placementConstraints", "ferry only", "ferry", "`[]` in the create-service example"),
    ("Service.placementStrategy", "ferry only", "ferry", "`[]` in the create-service example"),
    ("Service.networkConfiguration", "moto only", "ferry",
     "moto answers `{}` for a bridge-mode service; ECS leaves the member out when there is none"),
    ("Service.taskSets", "moto only", "ferry",
     "moto answers `[]`; ECS has task sets only under the EXTERNAL and CODE_DEPLOY controllers"),
    ("Service.tags", "moto only", "both",
     "moto answers `[]` for a service created without tags; ECS echoes tags when given and otherwise only with "
     "include=TAGS; the model allows either"),
    ("Deployment.platformFamily", "moto only", "ferry",
     "moto answers `EC2`, not a platform family; ECS sets it for Fargate deployments only (`Linux`, ...)"),
    # ECS tasks
    ("Task.attributes", "ferry only", "ferry", "`ecs.cpu-architecture` in the run-task and describe-tasks examples"),
    ("Task.availabilityZone", "ferry only", "ferry", "in the run-task and describe-tasks examples"),
    ("Task.connectivity", "ferry only", "ferry", "`CONNECTED` in the describe-tasks example"),
    ("Task.createdAt", "ferry only", "ferry", "in the run-task and describe-tasks examples"),
    ("Task.connectivityAt", "ferry only", "ferry", "set once a task is CONNECTED (describe-tasks example)"),
    ("Task.pullStartedAt", "ferry only", "ferry", "set once the image pull starts (describe-tasks example)"),
    ("Task.pullStoppedAt", "ferry only", "ferry", "set once the image pull ends (describe-tasks example)"),
    ("Task.startedAt", "ferry only", "ferry", "set once the task runs (describe-tasks example)"),
    ("Task.enableExecuteCommand", "ferry only", "ferry", "`false` in the run-task and describe-tasks examples"),
    ("Task.healthStatus", "ferry only", "ferry", "`UNKNOWN` without health checks (describe-tasks example)"),
    ("Task.version", "ferry only", "ferry", "in the run-task and describe-tasks examples"),
    ("TaskOverride.containerOverrides", "ferry only", "ferry", "ECS always answers the overrides object's lists"),
    ("TaskOverride.inferenceAcceleratorOverrides", "ferry only", "ferry", "`[]` in the run-task example"),
    ("Task.startedBy", "moto only", "ferry", "moto answers `\"\"`; ECS leaves it out when RunTask had no startedBy"),
    ("Task.stoppedReason", "moto only", "ferry", "moto answers `\"\"` for a running task; ECS sets it when stopping"),
    ("Task.tags", "moto only", "moto",
     "RunTask answers `tags: []` for an untagged task in the run-task example; ferry local leaves them out "
     "unless include=TAGS (weak evidence: the describe-tasks example also shows tags the API reference says "
     "come only with include=TAGS)"),
    ("Container.cpu", "type: ferry string, moto number", "ferry", "the model's Container.cpu is a String"),
    ("Container.memory", "type: ferry string, moto number", "ferry", "the model's Container.memory is a String"),
    ("Container.exitCode", "moto only", "ferry",
     "moto answers 0 for a container that has not run yet; ECS reports exitCode once the container exited"),
    ("Container.runtimeId", "ferry only", "ferry", "the container's runtime id once it runs (describe-tasks example)"),
    ("Container.networkBindings", "ferry only", "ferry",
     "a bridge-mode container's host ports (describe-tasks example); moto has no ports to report"),
    # ECR
    ("ImageDetail.artifactMediaType", "ferry only", "ferry",
     "ECR reports the config media type of an image manifest"),
    # Application Auto Scaling
    ("DescribeScalableTargetsResponse.NextToken", "moto only", "ferry",
     "moto answers `null`; AWS leaves NextToken out on the last page"),
    ("ScalableTarget.RoleARN", "type: ferry string, moto null", "ferry",
     "the service-linked role (describe-scalable-targets example); null is not a String"),
    ("ScalableTarget.SuspendedState", "type: ferry object, moto null", "ferry",
     "three `false` flags in the describe-scalable-targets example; null is not a structure"),
    ("DeregisterScalableTarget error", "error: ferry ObjectNotFoundException, moto ValidationException", "ferry",
     "deregistering a target that is not registered; the model lists ObjectNotFoundException"),
]

DOC = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


@dataclass
class Outcome:
    ok: bool
    body: dict
    code: str = ""


@dataclass(repr=False)
class Comparison:
    ferry: object
    moto: object
    found: set = field(default_factory=set)
    log: list = field(default_factory=list)

    def _call(self, clients, peer: str, service: str, operation: str, params: dict) -> Outcome:
        client = getattr(clients, {"ecs": "ecs", "ecr": "ecr", "application-autoscaling": "aas"}[service])
        try:
            getattr(client, xform_name(operation))(**params)
        except ClientError as e:
            last = RECORDER.responses[-1]
            assert (last.peer, last.operation) == (peer, operation)
            return Outcome(False, last.body if isinstance(last.body, dict) else {}, e.response["Error"]["Code"])
        last = RECORDER.responses[-1]
        assert (last.peer, last.operation) == (peer, operation)
        return Outcome(True, last.body)

    def call(self, service: str, operation: str, params: dict, moto_params: dict | None = None):
        """Sends `operation` to both (moto gets `moto_params` where its resources' names differ)."""
        f = self._call(self.ferry, "ferry", service, operation, params)
        m = self._call(self.moto, "moto", service, operation, params if moto_params is None else moto_params)
        if f.ok and m.ok:
            diffs = shapes.compare(shapes.signature(service, operation, f.body), shapes.signature(service, operation, m.body))
        elif f.ok != m.ok:
            diffs = [("<outcome>", f"ferry {'ok' if f.ok else f.code}, moto {'ok' if m.ok else m.code}")]
        elif f.code != m.code:
            diffs = [("<error>", f"error: ferry {f.code}, moto {m.code}")]
        else:
            diffs = []
        named = []
        for path, difference in diffs:
            where = f"{operation} error" if path.startswith("<") else shapes.owner(service, operation, path)
            named.append((where, difference, f"{operation}: {path}"))
            self.found.add((where, difference))
        self.log.append((operation, f.code or "ok", m.code or "ok", named))
        return f, m

    def unexpected(self, since: int = 0) -> list[str]:
        """Differences seen in calls since `since` (an index into the log) that EXPECTED lacks."""
        listed = {(where, diff) for where, diff, _, _ in EXPECTED}
        seen = {(where, diff, at) for _, _, _, named in self.log[since:] for where, diff, at in named}
        return sorted(f"{where}  {diff}  (at {at})" for where, diff, at in seen if (where, diff) not in listed)


@pytest.fixture(scope="module")
def compare(ferry, moto) -> Comparison:
    return Comparison(ferry, moto)


def check(compare: Comparison, since: int):
    unexpected = compare.unexpected(since)
    assert not unexpected, (
        "differences from moto not listed in EXPECTED (add them with the side that follows "
        "the AWS model, or fix ferry local):\n" + "\n".join(unexpected)
    )


def test_ecs_answers_have_moto_shapes(compare, ferry_bin):
    since = len(compare.log)
    cluster, family, name = unique("cmp"), unique("cmp-web"), "web"
    tags = [{"key": "team", "value": "conformance"}]
    f, m = compare.call("ecs", "CreateCluster", {"clusterName": cluster, "tags": tags})
    assert f.ok and m.ok, (f, m)
    compare.call("ecs", "DescribeClusters", {"clusters": [cluster]})
    compare.call("ecs", "DescribeClusters", {"clusters": [cluster], "include": ["TAGS", "SETTINGS"]})
    compare.call("ecs", "ListClusters", {})

    container = sample_container(ferry_bin, image="sample-app:1.0", health=False)
    f, m = compare.call("ecs", "RegisterTaskDefinition", {"family": family, "containerDefinitions": [container],
                                                          "tags": tags})
    assert f.ok and m.ok, (f, m)
    compare.call("ecs", "DescribeTaskDefinition", {"taskDefinition": family})
    compare.call("ecs", "DescribeTaskDefinition", {"taskDefinition": f"{family}:1", "include": ["TAGS"]})
    compare.call("ecs", "ListTaskDefinitions", {"familyPrefix": family})

    f, m = compare.call("ecs", "CreateService", {"cluster": cluster, "serviceName": name, "taskDefinition": family,
                                                 "desiredCount": 1})
    assert f.ok and m.ok, (f, m)
    ferry_arn, moto_arn = f.body["service"]["serviceArn"], m.body["service"]["serviceArn"]
    compare.call("ecs", "DescribeServices", {"cluster": cluster, "services": [name]})
    compare.call("ecs", "DescribeServices", {"cluster": cluster, "services": [name, "missing"], "include": ["TAGS"]})
    compare.call("ecs", "ListServices", {"cluster": cluster})
    compare.call("ecs", "UpdateService", {"cluster": cluster, "service": name, "desiredCount": 2})

    compare.call("ecs", "TagResource", {"resourceArn": ferry_arn, "tags": tags}, {"resourceArn": moto_arn, "tags": tags})
    compare.call("ecs", "ListTagsForResource", {"resourceArn": ferry_arn}, {"resourceArn": moto_arn})
    compare.call("ecs", "UntagResource", {"resourceArn": ferry_arn, "tagKeys": ["team"]},
                 {"resourceArn": moto_arn, "tagKeys": ["team"]})
    f, m = compare.call("ecs", "ListTagsForResource", {"resourceArn": ferry_arn}, {"resourceArn": moto_arn})
    assert f.body.get("tags") == [] and m.body.get("tags") == [], (f, m)

    # moto runs FARGATE tasks without network configuration only (its awsvpc path fails);
    # ferry local wants awsvpc for FARGATE, as ECS does. So each side gets the launch type
    # it can run this bridge-mode definition with.
    f, m = compare.call("ecs", "RunTask", {"cluster": cluster, "taskDefinition": family, "launchType": "EC2"},
                        {"cluster": cluster, "taskDefinition": family, "launchType": "FARGATE"})
    assert f.ok and m.ok, (f, m)
    ferry_task, moto_task = f.body["tasks"][0]["taskArn"], m.body["tasks"][0]["taskArn"]
    # moto's task is RUNNING at once; let ferry local's get there too, so that the members a
    # task gains on the way (pullStartedAt, connectivityAt, startedAt, ...) are all present.
    wait_until(
        lambda: compare.ferry.ecs.describe_tasks(cluster=cluster, tasks=[ferry_task])["tasks"][0]["lastStatus"]
        == "RUNNING",
        timeout=30, what="ferry local's task to run",
    )
    f, m = compare.call("ecs", "DescribeTasks", {"cluster": cluster, "tasks": [ferry_task]},
                        {"cluster": cluster, "tasks": [moto_task]})
    assert f.ok and m.ok and len(f.body["tasks"]) == len(m.body["tasks"]) == 1, (f, m)
    # ECS reports the health of a container without a health check as UNKNOWN (API
    # reference, Container.healthStatus); ferry local used to leave the member out.
    assert [c.get("healthStatus") for c in f.body["tasks"][0]["containers"]] == ["UNKNOWN"]
    compare.call("ecs", "DescribeTasks", {"cluster": cluster, "tasks": ["0123456789abcdef0123456789abcdef"]})

    f, m = compare.call("ecs", "DeleteService", {"cluster": cluster, "service": name, "force": True})
    assert f.ok and m.ok, (f, m)
    check(compare, since)


def test_errors_have_moto_codes(compare):
    since = len(compare.log)
    missing = unique("missing")
    f, m = compare.call("ecs", "DescribeServices", {"cluster": missing, "services": ["web"]})
    assert f.code == "ClusterNotFoundException", f
    f, m = compare.call("ecs", "DescribeTaskDefinition", {"taskDefinition": f"{missing}:7"})
    assert f.code == "ClientException", f
    f, m = compare.call("ecs", "DescribeClusters", {"clusters": [missing]})
    assert f.ok and f.body["failures"][0]["reason"] == "MISSING", f
    cluster = unique("cmp-err")
    compare.call("ecs", "CreateCluster", {"clusterName": cluster})
    f, m = compare.call("ecs", "UpdateService", {"cluster": cluster, "service": "absent", "desiredCount": 1})
    assert f.code == "ServiceNotFoundException", f
    f, m = compare.call("ecs", "DeleteService", {"cluster": cluster, "service": "absent"})
    assert f.code == "ServiceNotFoundException", f

    repo = unique("cmp-err")
    compare.call("ecr", "CreateRepository", {"repositoryName": repo})
    f, m = compare.call("ecr", "CreateRepository", {"repositoryName": repo})
    assert f.code == "RepositoryAlreadyExistsException", f
    f, m = compare.call("ecr", "DescribeRepositories", {"repositoryNames": [missing]})
    assert f.code == "RepositoryNotFoundException", f
    f, m = compare.call("ecr", "DescribeImages", {"repositoryName": repo, "imageIds": [{"imageTag": "nope"}]})
    assert f.code == "ImageNotFoundException", f

    f, m = compare.call("application-autoscaling", "DeregisterScalableTarget", {
        "ServiceNamespace": "ecs", "ResourceId": f"service/{cluster}/absent",
        "ScalableDimension": "ecs:service:DesiredCount"})
    assert f.code == "ObjectNotFoundException", f
    check(compare, since)


MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
               "digest": "sha256:" + hashlib.sha256(b"cmp").hexdigest()},
    "layers": [],
})


def test_ecr_answers_have_moto_shapes(compare):
    since = len(compare.log)
    repo = unique("cmp-repo")
    f, m = compare.call("ecr", "CreateRepository", {"repositoryName": repo})
    assert f.ok and m.ok, (f, m)
    compare.call("ecr", "DescribeRepositories", {"repositoryNames": [repo]})
    f, m = compare.call("ecr", "PutImage", {"repositoryName": repo, "imageManifest": MANIFEST, "imageTag": "1.0"})
    assert f.ok and m.ok, (f, m)
    compare.call("ecr", "PutImage", {"repositoryName": repo, "imageManifest": MANIFEST, "imageTag": "prod"})
    f, m = compare.call("ecr", "BatchGetImage", {"repositoryName": repo,
                                                 "imageIds": [{"imageTag": "1.0"}, {"imageTag": "absent"}]})
    assert len(f.body["images"]) == 1 and len(f.body["failures"]) == 1, f
    compare.call("ecr", "DescribeImages", {"repositoryName": repo})
    compare.call("ecr", "DescribeImages", {"repositoryName": repo, "imageIds": [{"imageTag": "prod"}]})
    compare.call("ecr", "ListImages", {"repositoryName": repo})
    f, m = compare.call("ecr", "BatchDeleteImage", {"repositoryName": repo,
                                                    "imageIds": [{"imageTag": "prod"}, {"imageTag": "absent"}]})
    assert f.ok and m.ok, (f, m)
    compare.call("ecr", "ListImages", {"repositoryName": repo})
    check(compare, since)


def test_auto_scaling_answers_have_moto_shapes(compare, ferry_bin):
    since = len(compare.log)
    cluster, family, name = unique("cmp-aas"), unique("cmp-aas"), "scaled"
    for clients in (compare.ferry, compare.moto):
        clients.ecs.create_cluster(clusterName=cluster)
        clients.ecs.register_task_definition(
            family=family, containerDefinitions=[sample_container(ferry_bin, health=False)])
        clients.ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=family, desiredCount=0)
    target = {"ServiceNamespace": "ecs", "ResourceId": f"service/{cluster}/{name}",
              "ScalableDimension": "ecs:service:DesiredCount"}
    f, m = compare.call("application-autoscaling", "RegisterScalableTarget", {**target, "MinCapacity": 0,
                                                                              "MaxCapacity": 2})
    assert f.ok and m.ok, (f, m)
    compare.call("application-autoscaling", "DescribeScalableTargets", {"ServiceNamespace": "ecs",
                                                                        "ResourceIds": [target["ResourceId"]]})
    f, m = compare.call("application-autoscaling", "DeregisterScalableTarget", target)
    assert f.ok and m.ok, (f, m)
    compare.call("application-autoscaling", "DescribeScalableTargets", {"ServiceNamespace": "ecs"})
    for clients in (compare.ferry, compare.moto):
        clients.ecs.delete_service(cluster=cluster, service=name, force=True)
    check(compare, since)


def test_every_listed_difference_still_happens(compare, request):
    ran = {r.nodeid.rsplit("::", 1)[-1] for r in request.session.items if r.module is request.module}
    names = {"test_ecs_answers_have_moto_shapes", "test_errors_have_moto_codes",
             "test_ecr_answers_have_moto_shapes", "test_auto_scaling_answers_have_moto_shapes"}
    if not names <= ran or request.session.testsfailed:
        pytest.skip("needs every comparison of this module to have run and passed")
    compared = {op for op, _, _, _ in compare.log}
    required = {
        "CreateCluster", "DescribeClusters", "ListClusters", "RegisterTaskDefinition", "DescribeTaskDefinition",
        "ListTaskDefinitions", "CreateService", "DescribeServices", "ListServices", "UpdateService", "DeleteService",
        "TagResource", "ListTagsForResource", "UntagResource", "DescribeTasks", "CreateRepository",
        "DescribeRepositories", "PutImage", "BatchGetImage", "DescribeImages", "ListImages", "BatchDeleteImage",
        "RegisterScalableTarget", "DescribeScalableTargets", "DeregisterScalableTarget",
    }
    assert required <= compared, f"not compared: {sorted(required - compared)}"
    stale = [f"{where}  {diff}" for where, diff, _, _ in EXPECTED if (where, diff) not in compare.found]
    assert not stale, "listed in EXPECTED but no longer different (remove them):\n" + "\n".join(stale)


def markdown_table() -> str:
    return shapes.differences_table(EXPECTED)


def test_docs_list_the_same_differences():
    text = DOC.read_text() if DOC.exists() else ""
    assert markdown_table() in text, (
        f"{DOC} must contain the table of EXPECTED differences; print it with "
        "`python -c 'import sys; sys.path[:0]=[\"tests/conformance\"]; import test_moto_comparison as t; "
        "print(t.markdown_table())'`"
    )

