"""The deployer's status is a pure function of what it observed; Ready is never a guess."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api.application import Phase
from arks_common.events.payloads import ObjectKind, ObjectRef, PlanReady, PrecheckResult
from arks_deployer.core.status import Observed, ReadyReason, compute

REF = ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid="u")


def plan(generation: int = 1, passed: bool = True, message: str = "ok") -> PlanReady:
    return PlanReady(
        ref=REF,
        generation=generation,
        resource_version="1",
        precheck=PrecheckResult(passed=passed, reason="PrecheckPass" if passed else "ModelNotFound", message=message),
        plan_hash="h",
    )


def lws(replicas: int = 1, ready: int = 0, updated: int = 0, desired: int = 1) -> dict[str, Any]:
    return {
        "spec": {"replicas": desired},
        "status": {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": updated},
    }


def observed(**kw: Any) -> Observed:
    base: dict[str, Any] = dict(
        generation=1, loaded_status="True", loaded_reason="ModelLoadSucceeded", loaded_message="", plan=plan(), lws=None
    )
    base.update(kw)
    return Observed(**base)


CASES = [
    ("no plan yet is Checking", observed(plan=None), Phase.CHECKING, False, ReadyReason.WAITING_FOR_PLAN),
    (
        "a plan of an older generation is Checking",
        observed(generation=2),
        Phase.CHECKING,
        False,
        ReadyReason.WAITING_FOR_PLAN,
    ),
    (
        "a failed precheck is Failed",
        observed(plan=plan(passed=False, message="fix spec.model.name")),
        Phase.FAILED,
        False,
        ReadyReason.PRECHECK_FAILED,
    ),
    (
        "a model still loading is Loading",
        observed(loaded_status="False", loaded_reason="ModelLoading"),
        Phase.LOADING,
        False,
        ReadyReason.WAITING_FOR_MODEL,
    ),
    (
        "a model that failed to load is Failed",
        observed(loaded_status="False", loaded_reason="ModelLoadFailed"),
        Phase.FAILED,
        False,
        ReadyReason.WAITING_FOR_MODEL,
    ),
    ("no LeaderWorkerSet yet is Creating", observed(), Phase.CREATING, False, ReadyReason.CREATING),
    (
        "a group with an unready pod is not Ready",
        observed(lws=lws(replicas=1, ready=0)),
        Phase.CREATING,
        False,
        ReadyReason.NOT_READY,
    ),
    (
        "one fully ready group is Running",
        observed(lws=lws(replicas=2, ready=1, desired=2)),
        Phase.RUNNING,
        True,
        ReadyReason.RUNNING,
    ),
    (
        "scaled to zero is Running but not Ready",
        observed(lws=lws(replicas=0, desired=0)),
        Phase.RUNNING,
        False,
        ReadyReason.SCALED_TO_ZERO,
    ),
    ("a refused apply is Failed", observed(apply_error="spec.x: bad"), Phase.FAILED, False, ReadyReason.APPLY_FAILED),
    (
        "a bad edit keeps a running service Ready but Failed",
        observed(plan=plan(passed=False), lws=lws(1, 1)),
        Phase.FAILED,
        True,
        ReadyReason.RUNNING,
    ),
    (
        "a model unloaded after creation keeps the groups",
        observed(loaded_status="False", lws=lws(1, 1)),
        Phase.RUNNING,
        True,
        ReadyReason.RUNNING,
    ),
]


@pytest.mark.parametrize(("case", "obs", "phase", "ready", "reason"), CASES, ids=[c[0] for c in CASES])
def test_phase_and_ready(case: str, obs: Observed, phase: Phase, ready: bool, reason: ReadyReason) -> None:
    status = compute("a", obs)
    assert (status.phase, status.ready, status.ready_reason) == (phase, ready, reason)


def test_running_status_reads_as_in_the_guide() -> None:
    status = compute("app", observed(lws=lws(replicas=1, ready=1, updated=1)))
    assert status.ready_message == "The LLM service is running"
    assert status.to_k8s() == {
        "phase": "Running",
        "replicas": 1,
        "readyReplicas": 1,
        "updatedReplicas": 1,
        "observedGeneration": 1,
        "selector": "arks.ai/application=app,arks.ai/work-load-role=leader",
    }


def test_unready_message_counts_the_groups() -> None:
    status = compute("a", observed(lws=lws(replicas=3, ready=0, desired=3)))
    assert status.ready_message == "Waiting for a replica group with every pod Ready: 0 of 3 replica groups ready"
