"""boto3 as a client of ferry local's Application Auto Scaling scaling policies: the calls
ferry's adapter makes (PutScalingPolicy of a target tracking and a step scaling policy,
DescribeScalingPolicies through its paginator, DeregisterScalableTarget), replacing a
policy by name, DeleteScalingPolicy, and the ObjectNotFoundException answers AWS gives.

ferry local stores policies and answers them back; it never executes them (no CloudWatch
alarm drives them), so nothing here waits for a desired count to move.
"""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, unique

DIMENSION = "ecs:service:DesiredCount"

TRACKING = {
    "TargetValue": 60.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    "ScaleOutCooldown": 60,
    "ScaleInCooldown": 120,
    "DisableScaleIn": False,
}

STEPS = {
    "AdjustmentType": "ChangeInCapacity",
    "StepAdjustments": [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 10.0, "ScalingAdjustment": 2},
    ],
    "Cooldown": 30,
    "MetricAggregationType": "Average",
}


@pytest.fixture(scope="module")
def cluster(ferry):
    name = unique("aas-policies")
    ferry.ecs.create_cluster(clusterName=name)
    family = unique("aas-web")
    ferry.ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64, "essential": True}]
    )
    return {"name": name, "family": family}


def scalable_service(ferry, cluster) -> dict:
    """A new service with no tasks and its scalable target registered: the target's key."""
    name = unique("svc")
    ferry.ecs.create_service(cluster=cluster["name"], serviceName=name, taskDefinition=cluster["family"], desiredCount=0)
    key = {"ServiceNamespace": "ecs", "ResourceId": f"service/{cluster['name']}/{name}", "ScalableDimension": DIMENSION}
    ferry.aas.register_scalable_target(**key, MinCapacity=0, MaxCapacity=4)
    return key


def policies(aas, key: dict, page_size: int = 10) -> list[dict]:
    """Every policy of the target, read as ferry's adapter reads them (the paginator)."""
    pages = aas.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace="ecs", ResourceId=key["ResourceId"], ScalableDimension=DIMENSION,
        PaginationConfig={"PageSize": page_size},
    )
    return [p for page in pages for p in page["ScalingPolicies"]]


def test_put_scaling_policy_answers_an_aws_arn_and_describe_returns_both_configurations_as_given(ferry, cluster):
    aas, key = ferry.aas, scalable_service(ferry, cluster)
    put = aas.put_scaling_policy(
        **key, PolicyName="cpu60", PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=TRACKING
    )
    arn_shape = (
        rf"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:"
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        rf":resource/ecs/{re.escape(key['ResourceId'])}:policyName/cpu60"
    )
    assert re.fullmatch(arn_shape, put["PolicyARN"]), put["PolicyARN"]
    assert put.get("Alarms", []) == [], "no CloudWatch alarms are created"
    step = aas.put_scaling_policy(**key, PolicyName="steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS)
    assert step["PolicyARN"].endswith(":policyName/steps")

    described = {p["PolicyName"]: p for p in policies(aas, key)}
    assert sorted(described) == ["cpu60", "steps"]
    cpu, steps = described["cpu60"], described["steps"]
    assert (cpu["PolicyARN"], cpu["PolicyType"]) == (put["PolicyARN"], "TargetTrackingScaling")
    assert cpu["TargetTrackingScalingPolicyConfiguration"] == TRACKING
    assert "StepScalingPolicyConfiguration" not in cpu
    assert (steps["PolicyARN"], steps["PolicyType"]) == (step["PolicyARN"], "StepScaling")
    assert steps["StepScalingPolicyConfiguration"] == STEPS
    for p in (cpu, steps):
        assert (p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"]) == ("ecs", key["ResourceId"], DIMENSION)
        assert p["CreationTime"].year >= 2024
        assert p.get("Alarms", []) == []


def test_putting_a_policy_name_again_replaces_it_and_keeps_its_arn(ferry, cluster):
    aas, key = ferry.aas, scalable_service(ferry, cluster)
    first = aas.put_scaling_policy(
        **key, PolicyName="cpu", PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=TRACKING
    )["PolicyARN"]
    second = aas.put_scaling_policy(
        **key, PolicyName="cpu", PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={**TRACKING, "TargetValue": 75.0},
    )["PolicyARN"]
    assert second == first
    [only] = policies(aas, key)
    assert only["PolicyARN"] == first
    assert only["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 75.0


def test_describe_scaling_policies_pages_and_filters_by_policy_name(ferry, cluster):
    aas, key = ferry.aas, scalable_service(ferry, cluster)
    names = [f"step-{i:02}" for i in range(12)]
    for name in names:
        aas.put_scaling_policy(**key, PolicyName=name, PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS)
    first = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=key["ResourceId"])
    assert len(first["ScalingPolicies"]) == 10, "10 to a page when MaxResults is absent"
    assert "NextToken" in first
    assert sorted(p["PolicyName"] for p in policies(aas, key, page_size=5)) == names
    picked = aas.describe_scaling_policies(ServiceNamespace="ecs", PolicyNames=["step-03", "step-07", "absent"])
    assert sorted(p["PolicyName"] for p in picked["ScalingPolicies"]) == ["step-03", "step-07"]
    with pytest.raises(ClientError) as bad_token:
        aas.describe_scaling_policies(ServiceNamespace="ecs", NextToken="not-a-token")
    assert bad_token.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_put_scaling_policy_without_a_registered_target_is_object_not_found(ferry, cluster):
    aas = ferry.aas
    resource = f"service/{cluster['name']}/{unique('unregistered')}"
    with pytest.raises(ClientError) as missing:
        aas.put_scaling_policy(
            ServiceNamespace="ecs", ResourceId=resource, ScalableDimension=DIMENSION, PolicyName="cpu",
            PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=TRACKING,
        )
    error = missing.value.response["Error"]
    assert error["Code"] == "ObjectNotFoundException"
    assert error["Message"] == (
        f"No scalable target registered for service namespace: ecs, resource ID: {resource}, scalable dimension: {DIMENSION}"
    )


def test_delete_scaling_policy_removes_it_and_a_missing_one_is_object_not_found(ferry, cluster):
    aas, key = ferry.aas, scalable_service(ferry, cluster)
    aas.put_scaling_policy(**key, PolicyName="steps", PolicyType="StepScaling", StepScalingPolicyConfiguration=STEPS)
    aas.delete_scaling_policy(**key, PolicyName="steps")
    assert policies(aas, key) == []
    with pytest.raises(ClientError) as missing:
        aas.delete_scaling_policy(**key, PolicyName="steps")
    error = missing.value.response["Error"]
    assert error["Code"] == "ObjectNotFoundException"
    assert error["Message"] == (
        f"No scaling policy found for service namespace: ecs, resource ID: {key['ResourceId']}, "
        f"scalable dimension: {DIMENSION}, policy name: steps"
    )


def test_deregistering_a_scalable_target_deletes_its_scaling_policies(ferry, cluster):
    aas, key = ferry.aas, scalable_service(ferry, cluster)
    aas.put_scaling_policy(
        **key, PolicyName="cpu", PolicyType="TargetTrackingScaling", TargetTrackingScalingPolicyConfiguration=TRACKING
    )
    # Registering again (a capacity change) keeps them.
    aas.register_scalable_target(**key, MaxCapacity=6)
    assert [p["PolicyName"] for p in policies(aas, key)] == ["cpu"]
    aas.deregister_scalable_target(**key)
    assert policies(aas, key) == []
    # Registered anew, the target starts with no policies.
    aas.register_scalable_target(**key, MinCapacity=0, MaxCapacity=2)
    assert policies(aas, key) == []
