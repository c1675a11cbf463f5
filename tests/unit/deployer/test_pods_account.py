"""Why an application's groups are not ready, told from its pods in Kubernetes' words; and the pods of an
application short of ready groups are looked at again, by one message at a time, a bounded number of times."""

from __future__ import annotations

from typing import Any

import pytest
from unit.deployer.test_status import observed, plan, role

from arks_common.api.application import Phase
from arks_common.bus.consumer import Later
from arks_deployer.core.pods import going_ready_groups, pods_account
from arks_deployer.core.refusals import ApplyProblem, ProblemKind
from arks_deployer.core.status import Observed, ReadyReason, RoleObserved, compute
from arks_deployer.reconcile import LOOKS, Reconciler

NO_ROOM = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
}


def pod(name: str, ready: bool = False, deleting: bool = False, **status: Any) -> dict[str, Any]:
    """A pod whose Ready condition is `ready`, with `status` fields added (conditions appended to)."""
    conditions = list(status.pop("conditions", []))
    conditions.append({"type": "Ready", "status": "True" if ready else "False"})
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-07T10:00:00Z"
    return {"metadata": meta, "status": {"conditions": conditions, **status}}


def crashing(container: str) -> dict[str, Any]:
    waiting = {"reason": "CrashLoopBackOff", "message": f"back-off 40s restarting failed container={container}"}
    return {"name": container, "state": {"waiting": waiting}}


def test_a_pod_no_node_can_take_is_told_in_the_schedulers_words() -> None:
    assert pods_account([pod("a-0", conditions=[NO_ROOM])]) == (
        "pod a-0: Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    )


def test_a_worker_crash_looping_under_a_ready_leader_is_named() -> None:
    pods = [pod("a-0", ready=True), pod("a-0-1", containerStatuses=[crashing("worker")])]
    assert pods_account(pods) == "pod a-0-1: CrashLoopBackOff: back-off 40s restarting failed container=worker"


def test_a_worker_not_ready_under_a_ready_leader_is_named() -> None:
    assert pods_account([pod("a-0", ready=True), pod("a-0-1")]) == "pods not Ready yet: a-0-1"


def test_the_first_blocked_pod_is_told_and_the_others_counted() -> None:
    pods = [pod(f"a-{i}", conditions=[NO_ROOM]) for i in (3, 1, 2)]
    assert pods_account(pods) == (
        "pod a-1: Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu. (and 2 more pods)"
    )
    many = [pod(f"a-{i}") for i in range(5)]
    assert pods_account(many) == "pods not Ready yet: a-0, a-1, a-2 and 2 more"


def test_pods_being_deleted_are_named_as_such_not_for_their_trouble() -> None:
    going = pod("a-1", deleting=True, conditions=[NO_ROOM])
    assert pods_account([pod("a-0", ready=True), going]) == "pods being deleted: a-1"
    assert pods_account([pod("a-0"), going]) == "pods not Ready yet: a-0; pods being deleted: a-1"
    assert pods_account([pod("a-0", ready=True)]) is None
    assert pods_account([]) is None


def lws_pod(set_name: str, group: int, worker: int, ready: bool = True, deleting: bool = False) -> dict[str, Any]:
    name = f"{set_name}-{group}" + (f"-{worker}" if worker else "")
    out = pod(name, ready=ready, deleting=deleting, phase="Running")
    labels = {
        "leaderworkerset.sigs.k8s.io/name": set_name,
        "leaderworkerset.sigs.k8s.io/group-index": str(group),
        "leaderworkerset.sigs.k8s.io/worker-index": str(worker),
    }
    out["metadata"]["labels"] = labels
    return out


def test_a_group_counted_ready_while_a_pod_of_it_is_deleted_does_not_serve() -> None:
    """The LeaderWorkerSet counts a group ready while its Ready leader terminates (a rolling update, a scale down);
    a group whose worker goes is no whole group either. A group whose leader is not Ready it does not count."""
    pods = [
        lws_pod("a", 0, 0, deleting=True),  # counted ready by the set, going
        lws_pod("a", 1, 0),
        lws_pod("a", 1, 1, deleting=True),  # its worker goes
        lws_pod("a", 2, 0),  # a whole group
        lws_pod("a", 3, 0, ready=False, deleting=True),  # not counted ready anyway
        # a Ready leader whose worker already stopped being Ready: the set counts a group ready only when its leader
        # and every worker are (LWS updateConditions), so it left this one out itself; subtracted again, it would
        # come off another group's count
        lws_pod("a", 4, 0, deleting=True),
        lws_pod("a", 4, 1, ready=False, deleting=True),
        lws_pod("a-decode", 0, 0),
    ]
    assert going_ready_groups(pods) == {"a": 2}
    rolling = RoleObserved(name="serve", desired=1, lws={"status": {"replicas": 1, "readyReplicas": 1}}, going=1)
    status = compute("a", observed(roles=[rolling], pods="pods being deleted: a-0"))
    assert (status.phase, status.ready, status.ready_reason, status.ready_replicas) == (
        Phase.CREATING,
        False,
        ReadyReason.NOT_READY,
        0,
    )
    assert status.ready_message.endswith("0 of 1 replica groups ready; pods being deleted: a-0")
    assert status.unsettled


def test_the_ready_condition_carries_the_account_bounded() -> None:
    unready = observed(roles=[role(replicas=1, ready=0)])
    status = compute("a", unready)
    assert status.unsettled
    assert status.ready_message == "Waiting for a replica group with every pod Ready: 0 of 1 replica groups ready"
    told = compute("a", Observed(**{**unready.__dict__, "pods": "pod a-0: Unschedulable: 0/4 nodes ..."}))
    assert (told.phase, told.ready_reason) == (Phase.CREATING, ReadyReason.NOT_READY)
    assert told.ready_message.endswith("0 of 1 replica groups ready; pod a-0: Unschedulable: 0/4 nodes ...")
    huge = compute("a", Observed(**{**unready.__dict__, "pods": "x" * 5000}))
    assert len(huge.ready_message) == 1000


def test_a_group_short_while_others_serve_is_told_too() -> None:
    partial = observed(roles=[role(replicas=5, ready=4, desired=5)], pods="pod a-4: Unschedulable: no room")
    status = compute("a", partial)
    assert (status.phase, status.ready, status.ready_reason, status.unsettled) == (
        Phase.RUNNING,
        True,
        ReadyReason.UPDATING,
        True,
    )
    assert (
        status.ready_message
        == "4 of 5 replica groups ready; pod a-4: Unschedulable: no room"  # the spec is out: nothing to move to
    )
    steady = compute("a", observed(roles=[role(replicas=1, ready=1)]))
    assert not steady.unsettled
    rolling = compute("a", observed(roles=[role(replicas=1, ready=1, updated=0)]))
    assert rolling.unsettled  # a rollout: its old group's pods go any moment, and its set still counts them
    going = compute("a", observed(roles=[RoleObserved(name="serve", desired=1, lws=None, on_plan=False)]))
    assert not going.unsettled  # nothing created yet: no pods to ask


def test_a_steady_application_with_a_pod_being_deleted_asks_its_pods_and_then_tells_the_truth() -> None:
    """An eviction changes nothing in the set's status while the pod terminates: the watch of the pods says one is
    going, and the pods then say which group no longer serves."""
    evicted = observed(roles=[role(replicas=2, ready=2, desired=2)], pods_going=True)
    first = compute("a", evicted)
    assert (first.ready_reason, first.unsettled) == (ReadyReason.RUNNING, True)
    told = compute(
        "a",
        observed(
            roles=[role(replicas=2, ready=2, desired=2, going=1)], pods_going=True, pods="pods being deleted: a-1"
        ),
    )
    assert (told.phase, told.ready, told.ready_reason, told.ready_replicas) == (
        Phase.RUNNING,
        True,
        ReadyReason.UPDATING,
        1,
    )
    assert told.ready_message == "1 of 2 replica groups ready; pods being deleted: a-1"
    alone = compute(
        "a", observed(roles=[role(replicas=1, ready=1, going=1)], pods_going=True, pods="pods being deleted: a-0")
    )
    assert (alone.ready, alone.ready_reason, alone.ready_replicas) == (False, ReadyReason.NOT_READY, 0)


def test_the_pods_are_looked_at_again_by_the_newest_message_a_bounded_number_of_times() -> None:
    reconciler = Reconciler(None, None, None)  # type: ignore[arg-type]
    reconciler.look_again("ns", "a", ("s", 1, 1))  # not short: nothing to look at
    reconciler._unsettled[("ns", "a")] = None
    delays = []
    for attempt in range(1, LOOKS + 1):
        with pytest.raises(Later) as later:
            reconciler.look_again("ns", "a", ("s", 1, attempt))
        delays.append(later.value.delay_seconds)
    assert delays == [2, 4, 8, 16, 30, 30]
    reconciler.look_again("ns", "a", ("s", 1, LOOKS + 1))  # done: no more looks
    with pytest.raises(Later):
        reconciler.look_again("ns", "a", ("s", 2, 1))  # a new event starts them again
    with pytest.raises(Later):
        reconciler.look_again("ns", "a", ("t", 9, 1))  # a newer message takes over
    reconciler.look_again("ns", "a", ("s", 2, 2))  # the older one that comes back is done


@pytest.mark.parametrize(
    "obs",
    [
        observed(roles=[role(replicas=1, ready=1)], pods_going=True),
        observed(
            generation=2,
            plan=plan(generation=2, passed=False, message="bad"),
            roles=[role(replicas=1, ready=1, on_plan=False)],
            pods_going=True,
        ),
        observed(generation=2, roles=[role(replicas=1, ready=1)], pods_going=True),
        observed(roles=[role(replicas=1, ready=1, on_plan=False)], waits_for_model=True, pods_going=True),
        observed(
            roles=[role(replicas=1, ready=1)], problem=ApplyProblem(ProblemKind.RETRYING, "busy", 5.0), pods_going=True
        ),
    ],
    ids=["steady", "newest spec refused", "planner checking", "held for its model", "apply retrying"],
)
def test_a_serving_application_with_a_pod_terminating_asks_its_pods_whatever_else_it_says(obs: Observed) -> None:
    assert compute("a", obs).unsettled
