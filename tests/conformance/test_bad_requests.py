"""Requests AWS refuses are refused by ferry local the same way, and change nothing: the
state read back after each is identical to the state before it.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from conftest import RAW_AUTH, raw_call, sample_container, unique, wait_until

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
