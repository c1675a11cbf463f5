"""Which pods the deployer sends to the API server as a dry run before it applies a LeaderWorkerSet."""

from __future__ import annotations

from typing import Any

from arks_deployer.core.desired import LWS_KIND, Desired
from arks_deployer.core.diff import Change, Diff, Verb
from arks_deployer.core.pod_checks import pods_to_check


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
    [(first, pod), (second, worker_pod)] = pods_to_check(changes, [])
    assert (first, second) == ("app", "other")
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
    [(_, pod)] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("a" * 63))]), [])
    assert len(pod["metadata"]["generateName"]) + 5 <= 63  # the server adds 5 characters


def test_an_account_the_plan_itself_holds_is_left_out_of_the_check() -> None:
    """A PD router's ServiceAccount is applied in the same round, before its set: checking the pod with it would
    refuse the set for an account that is about to exist, and the round would never apply it."""
    account = {"kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "ns"}}
    desired = [Desired(role="router", object=account, replicas=None)]
    [(_, pod)] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("app"))]), desired)
    assert "serviceAccountName" not in pod["spec"]
    [(_, pod)] = pods_to_check(Diff(changes=[_change(Verb.CREATED, _lws("app"))]), [])
    assert pod["spec"]["serviceAccountName"] == "sa"  # the user's own: checked
