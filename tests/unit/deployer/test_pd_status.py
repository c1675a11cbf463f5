"""Status of PD-separated serving (docs/pd.md): Ready only when the router and at least one prefill and one
decode group are ready; per-role counts in status.roles and totals for the whole service."""

from __future__ import annotations

from typing import Any

import pytest
from unit.deployer.test_status import REF, role

from arks_common.api.application import Phase
from arks_common.events.payloads import PlannedRole, PlanReady, PrecheckResult
from arks_deployer.core.status import Observed, ReadyReason, RoleObserved, compute

PD_PLAN = PlanReady(
    ref=REF,
    generation=1,
    resource_version="1",
    precheck=PrecheckResult(passed=True, reason="PrecheckPass", message="ok"),
    plan_hash="h",
    roles=[
        PlannedRole(name="router", replicas_from="/spec/router/replicas"),
        PlannedRole(name="prefill", replicas_from="/spec/prefill/replicas"),
        PlannedRole(name="decode", replicas_from="/spec/decode/replicas"),
    ],
)


def pd(router: int = 1, prefill: int = 1, decode: int = 1, desired: tuple[int, int, int] = (1, 1, 2)) -> Observed:
    """Ready groups per role; each role has `desired` groups, all created."""
    ready = {"router": router, "prefill": prefill, "decode": decode}
    roles = [
        role(replicas=want, ready=ready[name], desired=want, name=name)
        for name, want in zip(("router", "prefill", "decode"), desired, strict=True)
    ]
    return Observed(generation=1, loaded_status="True", loaded_reason="", loaded_message="", plan=PD_PLAN, roles=roles)


@pytest.mark.parametrize(
    ("router", "prefill", "decode"),
    [(0, 1, 2), (1, 0, 2), (1, 1, 0), (0, 0, 0)],
    ids=["no router", "no prefill", "no decode", "nothing"],
)
def test_a_missing_role_keeps_the_service_not_ready(router: int, prefill: int, decode: int) -> None:
    status = compute("a", pd(router, prefill, decode))
    assert (status.phase, status.ready, status.ready_reason) == (Phase.CREATING, False, ReadyReason.NOT_READY)
    assert "a replica group of every role" in status.ready_message


def test_the_message_says_which_role_is_short() -> None:
    status = compute("a", pd(router=1, prefill=0, decode=2))
    assert status.ready_message == (
        "Waiting for a replica group of every role with every pod Ready: "
        "3 of 4 replica groups ready (router 1/1, prefill 0/1, decode 2/2)"
    )


def test_one_ready_group_of_each_role_serves_while_the_rest_start() -> None:
    status = compute("a", pd(router=1, prefill=1, decode=1))
    assert (status.phase, status.ready, status.ready_reason) == (Phase.RUNNING, True, ReadyReason.UPDATING)
    assert "decode 1/2" in status.ready_message


def test_every_group_ready_is_running_with_per_role_and_total_counts() -> None:
    status = compute("a", pd(router=1, prefill=1, decode=2))
    assert (status.phase, status.ready, status.ready_reason) == (Phase.RUNNING, True, ReadyReason.RUNNING)
    assert (status.replicas, status.ready_replicas) == (4, 4)
    by_role: dict[str, dict[str, Any]] = {r["name"]: r for r in status.to_k8s()["roles"]}
    assert by_role["decode"] == {
        "name": "decode",
        "desiredReplicas": 2,
        "replicas": 2,
        "readyReplicas": 2,
        "updatedReplicas": 2,
    }
    assert [r["name"] for r in status.to_k8s()["roles"]] == ["router", "prefill", "decode"]


def test_a_role_whose_lws_is_missing_is_not_serving() -> None:
    obs = pd()
    roles = [*obs.roles[:2], RoleObserved(name="decode", desired=2, lws=None, on_plan=False)]
    status = compute("a", Observed(**{**obs.__dict__, "roles": roles}))
    assert not status.ready
