"""The deployer's pure diff: desired objects (role-keyed, replicas per role) against what the cluster holds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from arks_common.events.payloads import ObjectKind, ObjectRef, PlannedRole, PlanReady, PrecheckResult
from arks_deployer.core.desired import BadPlan, desired_objects, role_replicas
from arks_deployer.core.diff import Verb, created_beside_sets, diff, held_scales, waits_for_model

UID = "app-uid"
Obj = dict[str, Any]
OWNER = {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "name": "a", "uid": UID, "controller": True}


def obj(kind: str, name: str, role: str = "serve", plan_hash: str = "h1", owner: dict[str, Any] | None = None) -> Obj:
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1" if kind == "LeaderWorkerSet" else "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "d",
            "labels": {"arks.ai/application": "a", "arks.ai/role": role},
            "annotations": {"arks.ai/plan-hash": plan_hash},
            "ownerReferences": [owner or OWNER],
        },
        "spec": {},
    }


def plan(objects: list[dict[str, Any]], roles: list[PlannedRole] | None = None) -> PlanReady:
    return PlanReady(
        ref=ObjectRef(kind=ObjectKind.APPLICATION, namespace="d", name="a", uid=UID),
        generation=1,
        resource_version="1",
        precheck=PrecheckResult(passed=True, reason="PrecheckPass", message=""),
        plan_hash="h1",
        objects=objects,
        roles=roles or [PlannedRole(name="serve", replicas_from="/spec/replicas", autoscaled=True)],
    )


def app(replicas: int | None = 1, autoscaling: dict[str, Any] | None = None, decided: int | None = None) -> Obj:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    status = {} if decided is None else {"autoscaling": {"desiredReplicas": decided}}
    return {"metadata": {"name": "a", "namespace": "d", "uid": UID}, "spec": spec, "status": status}


def live(o: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
    out = copy.deepcopy(o)
    if replicas is not None:
        out["spec"]["replicas"] = replicas
    return out


TWO_ROLES = [
    PlannedRole(name="serve", replicas_from="/spec/replicas"),
    PlannedRole(name="decode", replicas_from="/metadata/annotations/test.arks.ai~1decode-replicas"),
]


def test_nothing_live_creates_everything_with_the_roles_replicas() -> None:
    desired = desired_objects(app(3), plan([obj("LeaderWorkerSet", "a"), obj("Service", "arks-application-a")]))
    changes = diff(desired, [], UID)
    assert [(c.verb, c.what) for c in changes.changes] == [
        (Verb.CREATED, "LeaderWorkerSet a"),
        (Verb.CREATED, "Service arks-application-a"),
    ]
    assert desired[0].object["spec"]["replicas"] == 3
    assert "replicas" not in desired[1].object["spec"]
    assert changes.prune == []


def test_the_same_plan_and_count_changes_nothing() -> None:
    objects = [obj("LeaderWorkerSet", "a"), obj("Service", "s")]
    desired = desired_objects(app(2), plan(objects))
    assert diff(desired, [live(objects[0], 2), live(objects[1])], UID).changes == []


def test_a_new_count_scales_and_a_new_hash_updates() -> None:
    old = obj("LeaderWorkerSet", "a", plan_hash="h0")
    svc = obj("Service", "s", plan_hash="h0")
    desired = desired_objects(app(2), plan([obj("LeaderWorkerSet", "a"), obj("Service", "s")]))
    assert [c.verb for c in diff(desired, [old, svc], UID).changes] == [Verb.UPDATED, Verb.UPDATED]
    same_hash = obj("LeaderWorkerSet", "a")
    assert [c.verb for c in diff(desired, [live(same_hash, 1), obj("Service", "s")], UID).changes] == [Verb.SCALED]


def test_objects_no_longer_planned_are_pruned_but_only_our_own() -> None:
    desired = desired_objects(app(1), plan([obj("LeaderWorkerSet", "a")]))
    ours = obj("LeaderWorkerSet", "a-decode", role="decode")
    someone_elses = obj("Service", "x", owner={**OWNER, "uid": "other"})
    going = {**obj("Service", "y"), "metadata": {**obj("Service", "y")["metadata"], "deletionTimestamp": "t"}}
    changes = diff(desired, [live(obj("LeaderWorkerSet", "a"), 1), ours, someone_elses, going], UID)
    assert changes.prune == [("LeaderWorkerSet", "a-decode")]


def test_a_namesake_held_by_someone_else_is_never_touched() -> None:
    desired = desired_objects(app(1), plan([obj("Service", "s")]))
    foreign = obj("Service", "s", owner={**OWNER, "uid": "other"})
    changes = diff(desired, [foreign], UID)
    assert changes.held_by_others == [("Service", "s")]
    assert changes.changes == []


def test_an_old_object_being_deleted_is_waited_for() -> None:
    desired = desired_objects(app(1), plan([obj("LeaderWorkerSet", "a")]))
    old = obj("LeaderWorkerSet", "a", owner={**OWNER, "uid": "old"})
    old["metadata"]["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    assert diff(desired, [old], UID).going == [("LeaderWorkerSet", "a")]


def test_each_role_has_its_own_replica_count() -> None:
    application = app(2)
    application["metadata"]["annotations"] = {"test.arks.ai/decode-replicas": "5"}
    objects = [obj("LeaderWorkerSet", "a"), obj("LeaderWorkerSet", "a-decode", role="decode")]
    desired = desired_objects(application, plan(objects, TWO_ROLES))
    assert [(d.role, d.replicas) for d in desired] == [("serve", 2), ("decode", 5)]
    changes = diff(desired, [live(objects[0], 2), live(objects[1], 4)], UID)
    assert [(c.verb, c.what) for c in changes.changes] == [(Verb.SCALED, "LeaderWorkerSet a-decode")]


@pytest.mark.parametrize(
    ("application", "expected"),
    [
        (app(1), 1),
        (app(None), 1),  # the CRD's default
        (app(0), 0),
        (app(2, autoscaling={"minReplicas": 1, "maxReplicas": 4}), 2),  # no decision yet: the spec's count
        (app(2, autoscaling={"minReplicas": 1, "maxReplicas": 4}, decided=3), 3),  # the durable decision
        (app(2, autoscaling={"minReplicas": 1, "maxReplicas": 4}, decided=9), 4),  # within the bounds
        (app(2, autoscaling={"minReplicas": 2, "maxReplicas": 4}, decided=0), 2),
        (app(2, decided=3), 2),  # autoscaling off: the decision is not used
    ],
)
def test_replicas_come_from_the_spec_or_the_scalers_durable_decision(application: Obj, expected: int) -> None:
    assert role_replicas(application, PlannedRole(name="serve", replicas_from="/spec/replicas", autoscaled=True)) == (
        expected
    )


def test_a_role_whose_count_is_not_a_count_is_a_bad_plan() -> None:
    with pytest.raises(BadPlan, match="/spec/replicas"):
        role_replicas({"spec": {"replicas": "many"}}, PlannedRole(name="serve", replicas_from="/spec/replicas"))
    with pytest.raises(BadPlan, match="'ConfigMap'"):
        desired_objects(app(1), plan([obj("ConfigMap", "a")]))
    with pytest.raises(BadPlan, match="does not list"):
        desired_objects(app(1), plan([obj("LeaderWorkerSet", "a-x", role="x")]))


def moved(o: Obj, **meta: Any) -> Obj:
    out = copy.deepcopy(o)
    out["metadata"].update(meta)
    return out


@pytest.mark.parametrize(
    ("planned", "refusal"),
    [
        (moved(obj("LeaderWorkerSet", "a"), namespace="kube-system"), "namespace 'kube-system'"),
        (moved(obj("Service", "a"), namespace=None), "namespace 'None'"),
        (moved(obj("LeaderWorkerSet", "a"), labels={"arks.ai/application": "b", "arks.ai/role": "serve"}), "label"),
        (moved(obj("LeaderWorkerSet", "a"), ownerReferences=[{**OWNER, "uid": "other"}]), "not owned"),
        (moved(obj("Service", "a"), ownerReferences=[]), "not owned"),
        (moved(obj("Service", "a"), name=""), "without a name"),
    ],
    ids=["another namespace", "no namespace", "another application's label", "another owner", "no owner", "no name"],
)
def test_a_plan_naming_an_object_outside_its_application_is_refused(planned: Obj, refusal: str) -> None:
    with pytest.raises(BadPlan, match=refusal):
        desired_objects(app(1), plan([obj("Service", "a-ok"), planned]))


def _pd_role(name: str) -> PlannedRole:
    return PlannedRole(
        name=name,
        replicas_from=f"/spec/{name}/replicas",
        autoscaled=True,
        autoscaling_from=f"/spec/{name}/autoscaling",
        decision_from=f"/status/autoscaling/{name}/desiredReplicas",
    )


def test_each_pd_role_takes_its_own_durable_decision_within_its_own_bounds() -> None:
    application: Obj = {
        "metadata": {"name": "a", "namespace": "ns", "uid": UID},
        "spec": {
            "prefill": {"replicas": 1, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}},
            "decode": {"replicas": 2, "autoscaling": {"minReplicas": 2, "maxReplicas": 6}},
            "router": {"replicas": 1},
        },
        "status": {"autoscaling": {"prefill": {"desiredReplicas": 9}, "decode": {"desiredReplicas": 5}}},
    }
    router = PlannedRole(name="router", replicas_from="/spec/router/replicas")
    assert [role_replicas(application, r) for r in (router, _pd_role("prefill"), _pd_role("decode"))] == [1, 3, 5]
    # the aggregated decision is not a PD role's, and a role without autoscaling keeps its spec count
    application["status"] = {"autoscaling": {"desiredReplicas": 4}}
    del application["spec"]["decode"]["autoscaling"]
    assert [role_replicas(application, _pd_role(r)) for r in ("prefill", "decode")] == [1, 2]


def test_new_pod_templates_wait_for_the_model_of_this_generation_and_a_new_count_does_not() -> None:
    """A running application edited to another model: its LeaderWorkerSet's new templates (pods mounting that
    model) wait until `Loaded` says this generation's model is loaded; a scale never waits."""
    desired = desired_objects(app(2), plan([obj("LeaderWorkerSet", "a"), obj("Service", "s")]))
    template = diff(desired, [live(obj("LeaderWorkerSet", "a", plan_hash="h0"), 2), obj("Service", "s")], UID)
    scale = diff(desired, [live(obj("LeaderWorkerSet", "a"), 1), obj("Service", "s")], UID)
    create = diff(desired, [], UID)
    loading = {"status": "False", "reason": "ModelLoading", "observedGeneration": 2}
    older = {"status": "True", "reason": "ModelLoadSucceeded", "observedGeneration": 1}  # perhaps another model's
    loaded = {"status": "True", "reason": "ModelLoadSucceeded", "observedGeneration": 2}
    assert waits_for_model(template, loading, 2)
    assert waits_for_model(template, older, 2)
    assert waits_for_model(create, older, 2)
    assert not waits_for_model(template, loaded, 2)
    assert not waits_for_model(scale, loading, 2)
    assert not waits_for_model(diff(desired, [live(obj("LeaderWorkerSet", "a"), 2), obj("Service", "s")], UID), {}, 2)


def test_while_new_templates_wait_for_their_model_the_count_still_follows_the_spec() -> None:
    """A plan's hash covers every object, so an edit of the model and of the count marks the set `Updated`: while its
    templates wait for the model, the count alone is applied (its new groups run the template the others run), not
    held for the whole download; a set not made yet is not scaled, and a count already there is no change."""
    desired = desired_objects(app(2), plan([obj("LeaderWorkerSet", "a"), obj("Service", "s")]))
    held = diff(desired, [live(obj("LeaderWorkerSet", "a", plan_hash="h0"), 1), obj("Service", "s")], UID)
    assert held_scales(held, [live(obj("LeaderWorkerSet", "a", plan_hash="h0"), 1)]) == [(("LeaderWorkerSet", "a"), 2)]
    same = diff(desired, [live(obj("LeaderWorkerSet", "a", plan_hash="h0"), 2), obj("Service", "s")], UID)
    assert held_scales(same, [live(obj("LeaderWorkerSet", "a", plan_hash="h0"), 2)]) == []
    assert held_scales(diff(desired, [], UID), []) == []


def test_while_new_templates_wait_for_their_model_a_missing_service_is_still_made() -> None:
    """A Service (or a PD router's account) deleted while the sets' new templates wait for their model is made again
    as the plan has it (before: only the counts were applied, and the serving groups had no Service until the
    download ended); the sets' own changes, updates and prunes keep waiting."""
    desired = desired_objects(app(2), plan([obj("LeaderWorkerSet", "a"), obj("Service", "s"), obj("Role", "r")]))
    old_set = live(obj("LeaderWorkerSet", "a", plan_hash="h0"), 1)
    held = diff(desired, [old_set, obj("Role", "r", plan_hash="h0"), obj("ConfigMap", "gone")], UID)
    assert waits_for_model(held, {}, 2)
    made = created_beside_sets(held)
    assert [(c.verb, c.what) for c in made.changes] == [(Verb.CREATED, "Service s")]
    assert (made.prune, made.going) == ([], [])
    # a plan that changes which sets there are (PD to aggregated, say): the Service would pick the other shape's
    # pods, so only the account is made meanwhile
    assert [c.what for c in created_beside_sets(diff(desired, [], UID)).changes] == ["Role r"]
    pd_sets = [live(obj("LeaderWorkerSet", f"a-{r}", role=r, plan_hash="h0"), 1) for r in ("prefill", "decode")]
    to_aggregated = diff(desired, pd_sets, UID)
    assert [c.what for c in created_beside_sets(to_aggregated).changes] == ["Role r"]
