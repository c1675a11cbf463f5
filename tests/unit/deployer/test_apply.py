"""What the deployer applies: owned objects, stamped with the plan hash, at the replica count of the one
writer (spec.replicas, or the slo-scaler under autoscaling)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from arks_common.api.application import ArksApplicationSpec
from arks_common.events.payloads import (
    ObjectKind,
    ObjectRef,
    PlanReady,
    PrecheckResult,
    ScaleDecision,
    ScaleDirection,
)
from arks_deployer.core.apply import PLAN_HASH_ANNOTATION, desired_objects, desired_replicas, is_current

REF = ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid="u1")
APP = {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "metadata": {"name": "a", "namespace": "d", "uid": "u1"}}
PLAN = PlanReady(
    ref=REF,
    generation=1,
    resource_version="1",
    precheck=PrecheckResult(passed=True, reason="PrecheckPass", message=""),
    plan_hash="abc",
    objects=[
        {
            "apiVersion": "leaderworkerset.x-k8s.io/v1",
            "kind": "LeaderWorkerSet",
            "metadata": {"name": "a"},
            "spec": {"replicas": 1},
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "arks-application-a"}, "spec": {}},
    ],
)


def spec(**kw: Any) -> ArksApplicationSpec:
    return ArksApplicationSpec.model_validate({"model": {"name": "m"}, **kw})


def decision(desired: int) -> ScaleDecision:
    return ScaleDecision(
        ref=REF,
        generation=1,
        desired_replicas=desired,
        current_replicas=1,
        direction=ScaleDirection.UP,
        reason="r",
        message="m",
        decided_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("case", "app_spec", "scale", "expected"),
    [
        ("spec.replicas without autoscaling", spec(replicas=3), decision(7), 3),
        ("the scaler's decision under autoscaling", spec(replicas=1, autoscaling={"maxReplicas": 8}), decision(5), 5),
        ("bounded by maxReplicas", spec(autoscaling={"maxReplicas": 4}), decision(9), 4),
        ("bounded by minReplicas", spec(autoscaling={"minReplicas": 2, "maxReplicas": 4}), decision(0), 2),
        ("spec.replicas until the scaler decided", spec(replicas=3, autoscaling={"maxReplicas": 4}), None, 3),
    ],
)
def test_one_writer_of_the_replica_count(
    case: str, app_spec: ArksApplicationSpec, scale: ScaleDecision | None, expected: int
) -> None:
    assert desired_replicas(app_spec, scale) == expected


def test_objects_are_owned_stamped_and_scaled() -> None:
    lws, svc = desired_objects(APP, PLAN, replicas=3)
    for obj in (lws, svc):
        [owner] = obj["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("ArksApplication", "u1", True)
        assert obj["metadata"]["annotations"][PLAN_HASH_ANNOTATION] == "abc"
    assert lws["spec"]["replicas"] == 3
    assert PLAN.objects[0]["spec"]["replicas"] == 1, "the plan itself is not modified"


def test_an_object_is_current_only_with_the_same_hash_and_replicas() -> None:
    lws, svc = desired_objects(APP, PLAN, replicas=2)
    assert not is_current(lws, None)
    assert is_current(lws, lws)
    assert not is_current(lws, {**lws, "spec": {"replicas": 1}})
    stale = {**svc, "metadata": {"annotations": {PLAN_HASH_ANNOTATION: "old"}}}
    assert not is_current(svc, stale)
