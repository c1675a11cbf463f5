"""A PD application is not Ready while a role has no LeaderWorkerSet of its own, whichever generation is being
checked, nor while a role's LeaderWorkerSet is being deleted (its last status counts groups whose pods go)."""

from __future__ import annotations

from typing import Any

from arks_common.api.application import Phase
from arks_common.conventions import LABEL_APPLICATION, LABEL_COMPONENT, PLAN_HASH_ANNOTATION
from arks_common.events.payloads import ObjectKind, ObjectRef, PlannedRole, PlanReady, PrecheckResult
from arks_deployer.core.refusals import ApplyProblem, ProblemKind
from arks_deployer.core.status import Observed, compute
from arks_deployer.reconcile import _live_roles, _planned_roles

UID = "u"
REF = ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid=UID)


def pd_plan(generation: int = 1, passed: bool = True) -> PlanReady:
    if not passed:  # a refused generation's plan carries no objects and no roles (planner/planning.py:310)
        return PlanReady(
            ref=REF,
            generation=generation,
            resource_version="1",
            precheck=PrecheckResult(passed=False, reason="InvalidSpec", message="m"),
            plan_hash="",
            roles=[],
        )
    return PlanReady(
        ref=REF,
        generation=generation,
        resource_version="1",
        precheck=PrecheckResult(passed=passed, reason="PrecheckPass" if passed else "InvalidSpec", message="m"),
        plan_hash="h",
        roles=[
            PlannedRole(name="router", replicas_from="/spec/router/replicas"),
            PlannedRole(name="prefill", replicas_from="/spec/prefill/replicas"),
            PlannedRole(name="decode", replicas_from="/spec/decode/replicas"),
        ],
    )


def lws(role: str, ready: int, **meta: Any) -> dict[str, Any]:
    return {
        "kind": "LeaderWorkerSet",
        "metadata": {
            "name": f"a-{role}",
            "namespace": "d",
            "uid": f"lws-{role}",
            "labels": {LABEL_APPLICATION: "a", LABEL_COMPONENT: role},
            "annotations": {PLAN_HASH_ANNOTATION: "h"},
            "ownerReferences": [{"uid": UID, "controller": True}],
            **meta,
        },
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "readyReplicas": ready, "updatedReplicas": 1},
    }


def app(generation: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "a", "namespace": "d", "uid": UID, "generation": generation},
        "spec": {"prefill": {"replicas": 1}, "decode": {"replicas": 1}},
    }


def test_pd_without_a_decode_leaderworkerset_is_not_ready_while_the_next_generation_is_checked() -> None:
    # generation 1 got router and prefill created, decode's apply was refused (a webhook, a quota); the user edits
    # the spec: generation 2 is not planned yet, so the roles are the ones the cluster holds
    roles = _live_roles([lws("router", 1), lws("prefill", 1)], UID)
    obs = Observed(
        generation=2, loaded_status="True", loaded_reason="", loaded_message="", plan=pd_plan(1), roles=roles
    )
    status = compute("a", obs)
    assert not status.ready, (status.phase, status.ready_reason, status.ready_message)
    assert status.phase is not Phase.RUNNING


def test_pd_with_a_failed_new_generation_does_not_claim_the_previous_one_serves_without_decode() -> None:
    roles = _live_roles([lws("router", 1), lws("prefill", 1)], UID)
    obs = Observed(
        generation=2,
        loaded_status="True",
        loaded_reason="",
        loaded_message="",
        plan=pd_plan(2, passed=False),
        roles=roles,
    )
    status = compute("a", obs)
    assert not status.ready, status.ready_message


def test_a_decode_leaderworkerset_being_deleted_does_not_count_as_serving() -> None:
    # `kubectl delete lws a-decode --cascade=foreground` (or a foreign finalizer): the object lingers with
    # deletionTimestamp and the stale status of its last groups while its pods are torn down; diff() files it
    # under `going` and waits, but the status still counts it
    going = lws("decode", 1, deletionTimestamp="2026-01-01T00:00:00Z")
    live = [lws("router", 1), lws("prefill", 1), going]
    roles = _planned_roles(app(1), pd_plan(1), live)
    # what _converge returns for diff().going
    waiting = ApplyProblem(ProblemKind.RETRYING, "waiting for the old LeaderWorkerSet a-decode to be deleted", 1.0)
    obs = Observed(
        generation=1,
        loaded_status="True",
        loaded_reason="",
        loaded_message="",
        plan=pd_plan(1),
        roles=roles,
        problem=waiting,
    )
    status = compute("a", obs)
    assert not status.ready, (status.phase, status.ready_reason, status.ready_message)
    assert status.ready_replicas == 2
