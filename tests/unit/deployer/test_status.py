"""The deployer's status is a pure function of what it observed; Ready tells whether the service serves."""

from __future__ import annotations

from typing import Any

import pytest

from arks_common.api.application import Phase
from arks_common.events.payloads import ObjectKind, ObjectRef, PlannedRole, PlanReady, PrecheckResult
from arks_deployer.core.refusals import ProblemKind, classify
from arks_deployer.core.status import Observed, ReadyReason, RoleObserved, Verdict, compute, first_phase_waits

REF = ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid="u")


def plan(generation: int = 1, passed: bool = True, message: str = "ok") -> PlanReady:
    return PlanReady(
        ref=REF,
        generation=generation,
        resource_version="1",
        precheck=PrecheckResult(passed=passed, reason="PrecheckPass" if passed else "ModelNotFound", message=message),
        plan_hash="h",
        roles=[PlannedRole(name="serve", replicas_from="/spec/replicas")],
    )


def role(
    replicas: int = 1, ready: int = 0, updated: int | None = None, desired: int = 1, name: str = "serve", **kw: Any
) -> RoleObserved:
    status = {"replicas": replicas, "readyReplicas": ready, "updatedReplicas": replicas if updated is None else updated}
    return RoleObserved(name=name, desired=desired, lws={"spec": {"replicas": desired}, "status": status}, **kw)


def absent(desired: int = 1) -> RoleObserved:
    return RoleObserved(name="serve", desired=desired, lws=None, on_plan=False)


def observed(**kw: Any) -> Observed:
    base: dict[str, Any] = dict(
        generation=1,
        loaded_status="True",
        loaded_reason="ModelLoadSucceeded",
        loaded_message="",
        plan=plan(),
        roles=[absent()],
    )
    base.update(kw)
    return Observed(**base)


REFUSED = classify(422, 'LeaderWorkerSet "a" is invalid: spec.x: Invalid value', None)
DENIED = classify(403, 'admission webhook "vleaderworkerset.kb.io" denied the request: spec.size: bad', None)
QUOTA = classify(403, 'leaderworkersets "a" is forbidden: exceeded quota: q', None)
BUSY = classify(429, "Too many requests", 7.0)
DOWN = classify(500, 'Internal error occurred: failed calling webhook "x": connection refused', None)

CASES = [
    ("no plan yet is Checking", observed(plan=None, roles=[]), Phase.CHECKING, False, ReadyReason.WAITING_FOR_PLAN),
    (
        "a plan of an older generation is Checking while nothing serves",
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
        "the Precheck condition says Failed when the plan message is gone",
        observed(plan=None, roles=[], verdict=Verdict(generation=1, passed=False, message="fix it")),
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
        observed(roles=[role(replicas=1, ready=0)]),
        Phase.CREATING,
        False,
        ReadyReason.NOT_READY,
    ),
    ("one group, all ready, is Running", observed(roles=[role(1, 1)]), Phase.RUNNING, True, ReadyReason.RUNNING),
    (
        "scale 1 -> 2 of a serving application keeps it Ready and Running",
        observed(roles=[role(replicas=2, ready=1, desired=2)]),
        Phase.RUNNING,
        True,
        ReadyReason.UPDATING,
    ),
    (
        "a spec edit waiting for its plan keeps a serving application Ready and Running",
        observed(generation=2, roles=[role(1, 1, on_plan=False)]),
        Phase.RUNNING,
        True,
        ReadyReason.UPDATING,
    ),
    (
        "a rolling update keeps a serving application Ready and Running",
        observed(roles=[role(replicas=2, ready=2, updated=1, desired=2, on_plan=True)]),
        Phase.RUNNING,
        True,
        ReadyReason.UPDATING,
    ),
    (
        "scaled to zero is Running but not Ready",
        observed(roles=[role(replicas=0, desired=0)]),
        Phase.RUNNING,
        False,
        ReadyReason.SCALED_TO_ZERO,
    ),
    ("a 422 is Failed", observed(problem=REFUSED), Phase.FAILED, False, ReadyReason.APPLY_REFUSED),
    ("a webhook's denial is Failed", observed(problem=DENIED), Phase.FAILED, False, ReadyReason.APPLY_REFUSED),
    ("a quota's 403 is retried", observed(problem=QUOTA), Phase.CREATING, False, ReadyReason.APPLY_FORBIDDEN),
    ("a 429 is retried", observed(problem=BUSY), Phase.CREATING, False, ReadyReason.APPLY_RETRYING),
    ("a webhook that is down is retried", observed(problem=DOWN), Phase.CREATING, False, ReadyReason.APPLY_RETRYING),
    (
        "a refused edit keeps a running service Ready but Failed",
        observed(problem=REFUSED, roles=[role(1, 1)]),
        Phase.FAILED,
        True,
        ReadyReason.RUNNING,
    ),
    (
        "a retried edit keeps a running service Running",
        observed(problem=DOWN, roles=[role(1, 1)]),
        Phase.RUNNING,
        True,
        ReadyReason.UPDATING,
    ),
    (
        "a bad edit keeps a running service Ready but Failed",
        observed(plan=plan(passed=False), roles=[role(1, 1)]),
        Phase.FAILED,
        True,
        ReadyReason.RUNNING,
    ),
    (
        "a model unloaded after creation keeps the groups",
        observed(loaded_status="False", roles=[role(1, 1)]),
        Phase.RUNNING,
        True,
        ReadyReason.RUNNING,
    ),
    (
        "two roles serve only when each has a ready group",
        observed(roles=[role(1, 1), role(1, 0, name="decode")]),
        Phase.CREATING,
        False,
        ReadyReason.NOT_READY,
    ),
    (
        "two roles, each with a ready group, serve",
        observed(roles=[role(1, 1), role(2, 2, desired=2, name="decode")]),
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
    status = compute("app", observed(roles=[role(replicas=1, ready=1, updated=1)]))
    assert status.ready_message == "The LLM service is running"
    assert status.to_k8s() == {
        "phase": "Running",
        "replicas": 1,
        "readyReplicas": 1,
        "updatedReplicas": 1,
        "observedGeneration": 1,
        "selector": "arks.ai/application=app,arks.ai/work-load-role=leader",
        "roles": [{"name": "serve", "desiredReplicas": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1}],
    }


def test_counts_add_up_over_roles() -> None:
    status = compute("a", observed(roles=[role(1, 1), role(3, 2, desired=3, name="decode")]))
    assert (status.replicas, status.ready_replicas) == (4, 3)
    assert [r["name"] for r in status.roles] == ["serve", "decode"]


def test_unready_message_counts_the_groups() -> None:
    status = compute("a", observed(roles=[role(replicas=3, ready=0, desired=3)]))
    assert status.ready_message == "Waiting for a replica group with every pod Ready: 0 of 3 replica groups ready"


@pytest.mark.parametrize("problem", [REFUSED, DENIED, QUOTA, BUSY, DOWN], ids=lambda p: p.kind.value)
def test_every_refusal_carries_the_servers_own_message(problem: Any) -> None:
    status = compute("a", observed(problem=problem))
    assert problem.message in status.ready_message


def test_refusal_classes_and_their_retries() -> None:
    assert (REFUSED.kind, REFUSED.retry_seconds) == (ProblemKind.REFUSED, None)
    assert (DENIED.kind, DENIED.retry_seconds) == (ProblemKind.REFUSED, None)
    assert (QUOTA.kind, QUOTA.retry_seconds) == (ProblemKind.FORBIDDEN, 30.0)
    assert (BUSY.kind, BUSY.retry_seconds) == (ProblemKind.RETRYING, 7.0), "Retry-After is honoured"
    assert classify(400, "bad", None).kind is ProblemKind.REFUSED
    typed = "failed to create typed patch object (d/a; leaderworkerset.x-k8s.io/v1): .spec.x: expected map"
    assert classify(500, f"apply LeaderWorkerSet d/a: {typed}", None).kind is ProblemKind.REFUSED
    assert classify(409, "conflict", None).retry_seconds == 1.0
    assert classify(0, "connection reset", None).kind is ProblemKind.RETRYING
    assert "(retrying in 7 s)" in compute("a", observed(problem=BUSY)).ready_message


def test_a_huge_server_message_is_bounded() -> None:
    problem = classify(422, "spec.x: " + "y" * 100_000, None)
    assert len(problem.message) == 1000  # a condition message's bound, the ellipsis included
    assert problem.message.startswith("spec.x: ")
    assert problem.message.endswith("y…")
    whole = "spec.x: " + "y" * 992
    assert classify(422, whole, None).message == whole  # 1,000 characters: kept as they are


@pytest.mark.parametrize(
    ("written", "obs", "seen_for", "waits"),
    [
        ("", observed(plan=None, roles=[]), 0.0, True),  # Checking, just seen
        ("Pending", observed(plan=None, roles=[]), 0.2, True),  # the CRD's default once a condition is written
        (None, observed(loaded_status="False", loaded_reason="ModelLoading"), 0.5, True),  # Loading
        ("", observed(plan=None, roles=[]), 1.0, False),  # the grace is over: Checking is written
        ("Checking", observed(loaded_status="False", loaded_reason="ModelLoading"), 0.0, False),  # not brand-new
        ("", observed(), 0.0, False),  # Creating: objects are being made, said at once
        ("", observed(plan=plan(passed=False, message="bad")), 0.0, False),  # Failed: said at once
        ("", observed(loaded_status="False", loaded_reason="ModelNotFound"), 0.0, False),
    ],
)
def test_a_brand_new_applications_waiting_phase_is_held_back_for_the_grace_only(
    written: str | None, obs: Observed, seen_for: float, waits: bool
) -> None:
    assert first_phase_waits(written, compute("a", obs), seen_for) is waits


def lws_at(generation: int, observed_generation: int, replicas: int = 2) -> dict[str, Any]:
    """A LeaderWorkerSet at `generation` whose controller last wrote its status for `observed_generation`."""
    status = {
        "replicas": replicas,
        "readyReplicas": replicas,
        "updatedReplicas": replicas,
        "observedGeneration": observed_generation,
    }
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas}, "status": status}


def test_a_sets_status_from_before_its_newest_spec_is_not_the_newest_spec_running() -> None:
    """Just after the deployer applied a changed template, the LeaderWorkerSet's status is still the one its
    controller wrote for the old template (every group ready and "updated"): the old groups serve, but the
    application has not reached its newest spec, so Ready says Updating, not Running."""
    stale = RoleObserved(name="serve", desired=2, lws=lws_at(generation=3, observed_generation=2))
    status = compute("a", observed(roles=[stale]))
    assert (status.phase, status.ready, status.ready_reason) == (Phase.RUNNING, True, ReadyReason.UPDATING)
    assert "LeaderWorkerSet controller" in status.ready_message
    current = RoleObserved(name="serve", desired=2, lws=lws_at(generation=3, observed_generation=3))
    assert compute("a", observed(roles=[current])).ready_reason is ReadyReason.RUNNING


def test_groups_held_on_their_model_while_the_newest_spec_waits_for_its_own_say_so_and_name_it() -> None:
    """A running application edited to a model not loaded yet keeps its groups (the deployer holds the new
    template back): Ready stays True, says Updating, and quotes the model's gate, which names the model."""
    gate = "Waiting for ArksModel slow to be loaded (phase StorageCreating)"
    held = observed(
        generation=2,
        plan=plan(generation=2),
        loaded_status="False",
        loaded_reason="ModelLoading",
        loaded_message=gate,
        loaded_generation=2,
        waits_for_model=True,
        roles=[role(1, 1, on_plan=False)],
    )
    status = compute("a", held)
    assert (status.phase, status.ready, status.ready_reason) == (Phase.RUNNING, True, ReadyReason.UPDATING)
    assert status.ready_message == f"1 of 1 replica groups ready on the previous spec; waiting for the model: {gate}"
    nothing_ready = compute("a", Observed(**{**held.__dict__, "roles": [role(1, 0, on_plan=False)]}))
    assert (nothing_ready.phase, nothing_ready.ready_reason) == (Phase.LOADING, ReadyReason.WAITING_FOR_MODEL)
    assert nothing_ready.ready_message == f"Waiting for the model: {gate}"
    unjudged = Observed(
        **{**held.__dict__, "loaded_status": "True", "loaded_message": "loaded", "loaded_generation": 1}
    )
    assert compute("a", unjudged).ready_message == (
        "1 of 1 replica groups ready on the previous spec; waiting for the model: "
        "the model-loader has not judged generation 2 yet"
    )


def test_what_failed_while_the_sets_wait_for_their_model_is_told_beside_the_wait() -> None:
    """While the new templates wait for their model, a count or a missing Service is still applied; a refusal or a
    retry of that is said after the wait (before: the wait alone, the failure hidden until the model came)."""
    quota = classify(403, 'services "arks-application-a" is forbidden: exceeded quota: count/services', None)
    held = observed(
        generation=2,
        plan=plan(generation=2),
        loaded_status="False",
        loaded_reason="ModelLoading",
        loaded_message="Waiting for ArksModel slow to be loaded",
        loaded_generation=2,
        waits_for_model=True,
        roles=[role(1, 1, on_plan=False)],
        problem=quota,
    )
    assert not quota.permanent  # a quota may free up: retried (a permanent refusal is told before any wait)
    serving = compute("a", held).ready_message
    assert serving.startswith("1 of 1 replica groups ready on the previous spec; waiting for the model: Waiting for")
    assert "; applying the newest plan failed: " in serving
    assert "exceeded quota" in serving
    idle = compute("a", Observed(**{**held.__dict__, "roles": [role(1, 0, on_plan=False)]})).ready_message
    assert idle.startswith("Waiting for the model: ")
    assert "exceeded quota" in idle


def test_a_copy_older_than_the_plan_waits_for_the_gates_verdict_on_the_plans_generation() -> None:
    """The plan of generation 2 came before the application's event of it: the copy is generation 1, and its
    `Loaded` (True, generation 1) is an older spec's. The message names the generation the gate has yet to judge."""
    held = observed(
        generation=1,
        plan=plan(generation=2),
        loaded_status="True",
        loaded_generation=1,
        waits_for_model=True,
        roles=[role(1, 1, on_plan=False)],
    )
    assert compute("a", held).ready_message == (
        "1 of 1 replica groups ready on the previous spec; waiting for the model: "
        "the model-loader has not judged generation 2 yet"
    )


def test_groups_of_an_older_plan_are_not_counted_updated_to_the_generation_reported() -> None:
    """observedGeneration names the newest plan; groups whose set still carries an older plan (held for the model,
    or its apply failed) run an older spec, so none of them is updated to it. While the planner has not judged
    the newest generation, the status describes the older plan, whose groups are updated."""
    held = observed(generation=2, plan=plan(generation=2), roles=[role(1, 1, updated=1, on_plan=False)])
    status = compute("a", held)
    assert (status.observed_generation, status.updated_replicas, status.roles[0]["updatedReplicas"]) == (2, 0, 0)
    refused = observed(problem=REFUSED, roles=[role(1, 1, updated=1, on_plan=False)])
    assert compute("a", refused).updated_replicas == 0
    checking = observed(generation=2, plan=plan(generation=1), roles=[role(1, 1, updated=1, on_plan=False)])
    assert (compute("a", checking).observed_generation, compute("a", checking).updated_replicas) == (1, 1)
