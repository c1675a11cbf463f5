"""Which changes of an application are the deployer's own: a version that differs from the copy a reconcile acted
on by those alone holds no news for it (its event is a mere echo); any other writer's change is news."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from arks_deployer.core.status import OWN_STATUS_FIELDS, Observed, compute, others_part

FINALIZER = "arks.ai/cleanup"


def app() -> dict[str, Any]:
    return {
        "apiVersion": "arks.ai/v1",
        "kind": "ArksApplication",
        "metadata": {"name": "a", "namespace": "d", "uid": "u", "generation": 1, "resourceVersion": "10"},
        "spec": {"replicas": 1, "model": {"name": "m"}},
        "status": {"conditions": [{"type": "Precheck", "status": "True", "reason": "PrecheckPass"}]},
    }


def test_the_fields_it_owns_are_the_ones_its_status_writes() -> None:
    seen = Observed(generation=1, loaded_status=None, loaded_reason="", loaded_message="", plan=None)
    written = compute("a", seen).to_k8s()
    assert set(written) == OWN_STATUS_FIELDS


def test_its_own_writes_are_no_news() -> None:
    acted_on = app()
    answer = copy.deepcopy(acted_on)
    answer["metadata"].update(resourceVersion="12", finalizers=[FINALIZER], managedFields=[{"manager": "x"}])
    answer["status"].update(phase="Running", replicas=1, readyReplicas=1, observedGeneration=1, roles=[])
    answer["status"]["conditions"].append({"type": "Ready", "status": "True", "reason": "Running"})
    assert others_part(answer, FINALIZER) == others_part(acted_on, FINALIZER)


def _loaded(a: dict[str, Any]) -> None:
    a["status"]["conditions"].append({"type": "Loaded", "status": "True", "reason": "ModelLoadSucceeded"})


def _deleting(a: dict[str, Any]) -> None:
    a["metadata"]["deletionTimestamp"] = "2026-12-06T00:00:00Z"


def _spec(a: dict[str, Any]) -> None:
    a["spec"]["replicas"] = 2
    a["metadata"]["generation"] = 2


def _scaled(a: dict[str, Any]) -> None:
    a["status"]["autoscaling"] = {"desiredReplicas": 3}


def _other_finalizer(a: dict[str, Any]) -> None:
    a["metadata"]["finalizers"] = [FINALIZER, "example.com/keep"]


@pytest.mark.parametrize("change", [_loaded, _deleting, _spec, _scaled, _other_finalizer])
def test_another_writers_change_is_news(change: Any) -> None:
    acted_on = app()
    answer = copy.deepcopy(acted_on)
    answer["metadata"]["resourceVersion"] = "12"
    change(answer)
    assert others_part(answer, FINALIZER) != others_part(acted_on, FINALIZER)
