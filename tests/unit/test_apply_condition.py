"""`apply_condition` writes only what a reader would see change, unless forced: the copy it compares with may be
older than a write over the condition (the planner's refusal written over by another replica)."""

from __future__ import annotations

import asyncio
from typing import Any

from arks_common.api.conditions import condition, condition_dict
from arks_common.kube.client import Kube
from arks_common.kube.resources import APPLICATIONS, Resource
from arks_common.kube.status import apply_condition


class _Recording(Kube):
    """Records the status writes instead of sending them (no API server needed for what is decided before)."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.versions: list[str | None] = []

    async def apply_status(
        self, res: Resource, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        self.writes.append(status)
        self.versions.append(resource_version)
        return {}


def _app_showing(cond: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": "a"}, "status": {"conditions": [cond]}}


def test_a_condition_already_shown_is_written_only_when_forced() -> None:
    refusal = condition("Precheck", False, "ModelNotFound", "model x not found", 2)
    app = _app_showing(condition_dict(refusal))
    kube = _Recording()
    asyncio.run(apply_condition(kube, APPLICATIONS, app, refusal))
    assert kube.writes == []
    asyncio.run(apply_condition(kube, APPLICATIONS, app, refusal, force=True))
    assert [w["conditions"][0]["observedGeneration"] for w in kube.writes] == [2]


def test_a_write_with_a_precondition_goes_onto_the_copys_version_only() -> None:
    """The API server refuses it (409) once the object changed since the copy (tests/e2e/test_kube_client.py)."""
    app = _app_showing(condition_dict(condition("Loaded", False, "ModelLoading", "waiting", 1)))
    app["metadata"]["resourceVersion"] = "41"
    kube = _Recording()
    loaded = condition("Loaded", True, "ModelLoadSucceeded", "The referenced model is loaded", 1)
    asyncio.run(apply_condition(kube, APPLICATIONS, app, loaded))
    asyncio.run(apply_condition(kube, APPLICATIONS, app, loaded, precondition=True))
    assert kube.versions == [None, "41"]
