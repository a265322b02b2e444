"""Requests AWS refuses are refused by ferry local the same way, and change nothing: the
state read back after each is identical to the state before it.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, RAW_AUTH, REGION, raw_call, sample_container, unique, wait_until

ECS = "AmazonEC2ContainerServiceV20141113"


@pytest.fixture(scope="module")
def world(ferry, ferry_bin):
    cluster, family, service = unique("bad"), unique("bad-web"), "web"
    ferry.ecs.create_cluster(clusterName=cluster)
    ferry.ecs.register_task_definition(family=family, containerDefinitions=[sample_container(ferry_bin, health=False)])
    ferry.ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=family, desiredCount=0)
    ferry.ecs.get_waiter("services_stable").wait(cluster=cluster, services=[service],
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return {"cluster": cluster, "family": family, "service": service}


def snapshot(ferry, world) -> dict:
    """What a client can see of the state the bad requests aim at."""
    ecs = ferry.ecs
    strip = lambda r: {k: v for k, v in r.items() if k != "ResponseMetadata"}  # noqa: E731
    return {
        "clusters": sorted(a for p in ecs.get_paginator("list_clusters").paginate() for a in p["clusterArns"]),
        "cluster": strip(ecs.describe_clusters(clusters=[world["cluster"]], include=["TAGS", "SETTINGS"])),
        "services": strip(ecs.describe_services(cluster=world["cluster"], services=[world["service"]],
                                                include=["TAGS"])),
        "service list": strip(ecs.list_services(cluster=world["cluster"])),
        "task definitions": sorted(
            a for p in ecs.get_paginator("list_task_definitions").paginate() for a in p["taskDefinitionArns"]
        ),
        "families": sorted(
            f for p in ecs.get_paginator("list_task_definition_families").paginate() for f in p["families"]
        ),
    }


@pytest.fixture
def baseline(ferry, world):
    """The state once it has settled (two reads a second apart agree)."""
    state = {"last": snapshot(ferry, world)}

    def settled():
        time.sleep(1)
        current = snapshot(ferry, world)
        same = current == state["last"]
        state["last"] = current
        return same

    wait_until(settled, timeout=20, interval=0, what="ferry local's state to settle")
    return state["last"]


def assert_unchanged(ferry, world, before):
    time.sleep(0.5)  # the scheduler acts every 100 ms: give a change time to show
    after = snapshot(ferry, world)
    assert after == before


def test_unknown_cluster(ferry, world, baseline):
    with pytest.raises(ClientError) as e:
        ferry.ecs.update_service(cluster=unique("nowhere"), service=world["service"], desiredCount=3)
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        ferry.ecs.create_service(cluster=unique("nowhere"), serviceName="web", taskDefinition=world["family"],
                                 desiredCount=1)
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"
    assert_unchanged(ferry, world, baseline)


def test_wrong_type_is_a_serialization_exception(ferry, ferry_url, world, baseline):
    r = raw_call(ferry_url, f"{ECS}.UpdateService",
                 {"cluster": world["cluster"], "service": world["service"], "desiredCount": "3"})
    assert r.status == 400, r
    assert r.body["__type"].endswith("SerializationException"), r.body
    assert "desiredCount" in r.body["message"], r.body
    assert r.headers.get("x-amzn-errortype", "").startswith("SerializationException"), r.headers
    assert_unchanged(ferry, world, baseline)


def test_missing_required_member_is_invalid_parameter(ferry, ferry_url, world, baseline, ferry_bin):
    container = sample_container(ferry_bin, health=False)
    r = raw_call(ferry_url, f"{ECS}.RegisterTaskDefinition", {"containerDefinitions": [container]})
    assert r.status == 400, r
    assert r.body["__type"].endswith("InvalidParameterException"), r.body
    assert "'family'" in r.body["message"], r.body
    assert_unchanged(ferry, world, baseline)


def test_unknown_action(ferry, ferry_url, world, baseline):
    r = raw_call(ferry_url, f"{ECS}.DeleteEverything", {"cluster": world["cluster"]})
    assert r.status == 400, r
    assert r.body["__type"].endswith("UnknownOperationException"), r.body
    assert_unchanged(ferry, world, baseline)


def test_missing_authorization(ferry, ferry_url, world, baseline):
    body = {"cluster": world["cluster"], "service": world["service"], "force": True}
    r = raw_call(ferry_url, f"{ECS}.DeleteService", body, authorization=None)
    assert r.status == 403, r
    assert r.body["__type"].endswith("MissingAuthenticationTokenException"), r.body
    assert_unchanged(ferry, world, baseline)


def test_the_same_requests_well_formed_do_change_state(ferry, ferry_url, world, baseline, ferry_bin):
    """The control: the raw requests above, corrected, are accepted and their effect shows."""
    r = raw_call(ferry_url, f"{ECS}.UpdateService",
                 {"cluster": world["cluster"], "service": world["service"], "desiredCount": 0,
                  "forceNewDeployment": True}, authorization=RAW_AUTH)
    assert r.status == 200, r
    assert r.body["service"]["serviceName"] == world["service"]
    container = sample_container(ferry_bin, health=False)
    r = raw_call(ferry_url, f"{ECS}.RegisterTaskDefinition",
                 {"family": world["family"], "containerDefinitions": [container]})
    assert r.status == 200, r
    after = snapshot(ferry, world)
    assert after["task definitions"] != baseline["task definitions"]
    assert after["services"] != baseline["services"]


# --- strict like AWS (issue 15 §3): no operation off POST /, a well-formed credential scope,
# --- manifests ECR can read, an admin path that refuses nonsense ----------------------------


def ferry_status(ferry_url) -> dict:
    with urllib.request.urlopen(f"{ferry_url}/_ferry/status", timeout=10) as response:
        return json.loads(response.read())


def test_a_get_on_a_traversal_path_is_not_an_operation(ferry, ferry_url, world, baseline):
    """AWS JSON 1.1 is POST on / only; anything else is a 404 UnknownOperationException, even
    a well-formed CreateCluster. http.client sends the path as written (no normalizing)."""
    url = urllib.parse.urlparse(ferry_url)
    partitions = ferry_status(ferry_url)["partitions"]
    for method, path in [("GET", "/../../etc/passwd"), ("POST", "/../../etc/passwd"), ("GET", "/"), ("PUT", "/")]:
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        connection.request(method, path, body=json.dumps({"clusterName": unique("sneaky")}), headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{ECS}.CreateCluster",
            "Authorization": RAW_AUTH})
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        assert response.status == 404, (method, path, body)
        assert body["__type"] == "UnknownOperationException", body
        assert response.getheader("x-amzn-errortype") == "UnknownOperationException"
    assert ferry_status(ferry_url)["partitions"] == partitions
    assert_unchanged(ferry, world, baseline)


@pytest.mark.parametrize("region", ["..", "", "x" * 10_000], ids=["dotdot", "empty", "10000-characters"])
def test_a_cluster_cannot_be_created_in_a_malformed_region(ferry, ferry_url, world, baseline, region):
    before = ferry_status(ferry_url)
    auth = f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{region}/ecs/aws4_request, SignedHeaders=host, Signature=0"
    r = raw_call(ferry_url, f"{ECS}.CreateCluster", {"clusterName": unique("region")}, authorization=auth)
    assert r.status == 400, r
    assert r.body["__type"] == "InvalidSignatureException", r.body
    assert r.body["message"].startswith("Credential should be scoped to a valid region, not '"), r.body
    after = ferry_status(ferry_url)
    assert (after["partitions"], after["clusters"]) == (before["partitions"], before["clusters"])
    assert_unchanged(ferry, world, baseline)


def test_a_missing_credential_scope_is_refused_not_put_in_us_east_1(ferry, ferry_url, world, baseline):
    before = ferry_status(ferry_url)
    for auth, code in [
        (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}, SignedHeaders=host, Signature=0", "IncompleteSignatureException"),
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=0", "IncompleteSignatureException"),
        (f"AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/{REGION}/ecr/aws4_request, SignedHeaders=host, Signature=0",
         "InvalidSignatureException"),
    ]:
        r = raw_call(ferry_url, f"{ECS}.CreateCluster", {"clusterName": unique("scope")}, authorization=auth)
        assert (r.status, r.body["__type"]) == (400, code), (auth, r)
    assert ferry_status(ferry_url)["clusters"] == before["clusters"]
    assert_unchanged(ferry, world, baseline)


def test_clients_configured_with_a_region_that_is_no_region_are_refused(ferry, ferry_url, aws, world, baseline):
    """boto3 and the aws CLI sign with whatever region they are given; ferry local, like AWS,
    refuses a scope that names no region instead of creating one."""
    nowhere = boto3.client("ecs", endpoint_url=ferry_url, region_name="nowhere", aws_access_key_id=ACCOUNT,
                           aws_secret_access_key="conformance")
    with pytest.raises(ClientError) as e:
        nowhere.create_cluster(clusterName=unique("nowhere"))
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert e.value.response["Error"]["Message"].startswith("Credential should be scoped to a valid region, not 'nowhere'")
    proc = aws.run("ecs", "create-cluster", "--cluster-name", unique("nowhere"), "--region", "nowhere", check=False)
    assert proc.returncode != 0 and "InvalidSignatureException" in proc.stderr, proc.stderr
    assert_unchanged(ferry, world, baseline)


@pytest.mark.parametrize("manifest", ["{}", "[]", '{"schemaVersion": 2}'], ids=["empty-object", "array", "only-schema-version"])
def test_put_image_refuses_a_manifest_ecr_cannot_read(ferry, aws, manifest):
    repository = unique("strict")
    ferry.ecr.create_repository(repositoryName=repository)
    with pytest.raises(ClientError) as e:
        ferry.ecr.put_image(repositoryName=repository, imageTag="1.0", imageManifest=manifest)
    assert e.value.response["Error"]["Code"] == "InvalidParameterException"
    assert e.value.response["Error"]["Message"].startswith(
        "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'")
    proc = aws.run("ecr", "put-image", "--repository-name", repository, "--image-tag", "1.0",
                   "--image-manifest", manifest, check=False)
    assert proc.returncode != 0 and "InvalidParameterException" in proc.stderr, proc.stderr
    assert ferry.ecr.list_images(repositoryName=repository)["imageIds"] == []
    ferry.ecr.delete_repository(repositoryName=repository)


def test_an_admin_fault_with_status_200_is_refused(ferry_url):
    def faults():
        with urllib.request.urlopen(f"{ferry_url}/_ferry/faults", timeout=10) as response:
            return json.loads(response.read())

    before = faults()
    for fault, field in [({"action": "*", "error": "ServiceUnavailableException", "status": 200}, "status"),
                         ({"action": "*", "error": "ServiceUnavailableException", "status": 0}, "status"),
                         ({"action": "*", "latencyMs": -1}, "latencyMs")]:
        request = urllib.request.Request(f"{ferry_url}/_ferry/faults", data=json.dumps(fault).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)
        assert e.value.code == 400
        assert json.loads(e.value.read())["field"] == field
    assert faults() == before
