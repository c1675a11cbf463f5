"""Which pods the deployer sends to the API server as a dry run before it applies a LeaderWorkerSet."""

from __future__ import annotations

from typing import Any

import pytest

from arks_deployer.core.desired import LWS_KIND, Desired
from arks_deployer.core.diff import Change, Diff, Verb
from arks_deployer.core.pod_checks import PodCheck, is_refusal, pods_to_check, refusal_message


def _lws(name: str, leader: bool = True) -> dict[str, Any]:
    worker = {"metadata": {"labels": {"role": "worker"}}, "spec": {"containers": [{"name": "w", "image": "i"}]}}
    template: dict[str, Any] = {"size": 2 if leader else 1, "workerTemplate": worker}
    if leader:
        template["leaderTemplate"] = {
            "metadata": {"labels": {"team": "a b"}, "annotations": {"x": "y"}},
            "spec": {"serviceAccountName": "sa", "containers": [{"name": "l", "image": "i"}]},
        }
    return {
        "kind": LWS_KIND,
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"replicas": 1, "leaderWorkerTemplate": template},
    }


def _change(verb: Verb, obj: dict[str, Any]) -> Change:
    return Change(verb, Desired(role="serve", object=obj, replicas=1))


def test_a_created_or_changed_set_sends_one_pod_of_its_leaders_template() -> None:
    changes = Diff(changes=[_change(Verb.CREATED, _lws("app")), _change(Verb.UPDATED, _lws("other", leader=False))])
    [first, second] = pods_to_check(changes, [])
    assert (first.lws, first.created, second.lws, second.created) == ("app", True, "other", False)
    pod, worker_pod = first.pod, second.pod
    assert pod["kind"] == "Pod"
    assert pod["metadata"] == {
        "generateName": "app-check-",
        "namespace": "ns",
        "labels": {"team": "a b"},
        "annotations": {"x": "y"},
    }
    assert pod["spec"]["serviceAccountName"] == "sa"
    assert worker_pod["metadata"]["labels"] == {"role": "worker"}  # a group that is its leader alone


def test_a_scale_or_another_kind_sends_none() -> None:
    service = {"kind": "Service", "metadata": {"name": "svc", "namespace": "ns"}, "spec": {}}
    changes = Diff(changes=[_change(Verb.SCALED, _lws("app")), _change(Verb.CREATED, service)])
    assert pods_to_check(changes, []) == []


def test_a_long_name_still_makes_a_valid_pod_name_prefix() -> None:
    [check] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("a" * 63))]), [])
    assert len(check.pod["metadata"]["generateName"]) + 5 <= 63  # the server adds 5 characters


def test_an_account_the_plan_itself_holds_is_left_out_of_the_check() -> None:
    """A PD router's ServiceAccount is applied in the same round, before its set: checking the pod with it would
    refuse the set for an account that is about to exist, and the round would never apply it."""
    account = {"kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "ns"}}
    desired = [Desired(role="router", object=account, replicas=None)]
    [check] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("app"))]), desired)
    assert "serviceAccountName" not in check.pod["spec"]
    [check] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("app"))]), [])
    assert check.pod["spec"]["serviceAccountName"] == "sa"  # the user's own: checked


def test_a_set_of_no_groups_makes_no_pods_and_is_not_checked() -> None:
    none = Change(Verb.CREATED, Desired(role="serve", object=_lws("app"), replicas=0))
    assert pods_to_check(Diff(changes=[none]), []) == []


@pytest.mark.parametrize(
    ("created", "status", "message", "refused"),
    [
        (True, 422, 'Pod "a-check-x" is invalid: metadata.labels: Invalid value: "a b"', True),
        (True, 403, 'pods "a-check-" is forbidden: error looking up service account ns/sa', True),
        (True, 403, 'pods "a-check-" is forbidden: violates PodSecurity "restricted:latest"', True),
        (True, 403, 'pods "a-check-" is forbidden: exceeded quota: gpus, requested: nvidia.com/gpu=1', True),
        # the running pods use the quota up; a rolling update replaces them within it
        (False, 403, 'pods "a-check-" is forbidden: exceeded quota: gpus, requested: nvidia.com/gpu=1', False),
        # a policy on bare pods ("must have an owner") the set's own pods pass
        (True, 403, 'admission webhook "validate.kyverno.svc" denied the request: require-owner', False),
        (True, 400, 'admission webhook "x" does not support dry run', False),
        (True, 403, 'pods is forbidden: User "arks-deployer" cannot create resource "pods" in API group ""', False),
        (True, 503, "the server is currently unable to handle the request", False),
    ],
)
def test_what_a_dry_run_answer_says_of_the_sets_pods(created: bool, status: int, message: str, refused: bool) -> None:
    check = PodCheck("a", {}, created)
    assert is_refusal(check, status, message) is refused


def test_a_pd_roles_refusal_names_that_roles_instance_spec() -> None:
    """A PD application has no spec.instanceSpec: a refused prefill pod points at spec.prefill.instanceSpec."""
    changes = Diff(changes=[Change(Verb.CREATED, Desired(role="prefill", object=_lws("app-prefill"), replicas=1))])
    [check] = pods_to_check(changes, [])
    assert check.role == "prefill"
    message = refusal_message(check.lws, "metadata.labels: Invalid value", check.role)
    assert "the pod's fields come from the application's spec.prefill.instanceSpec (labels, " in message
    [serve] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("app"))]), [])
    assert "the pod's fields come from the application's instanceSpec (labels, " in (
        refusal_message(serve.lws, "metadata.labels: Invalid value", serve.role)
    )
