"""Hostile objects on the real stack: an application nested deeper than anything decodes and one too large for
the bus sit in a namespace beside a good one. The good one reaches Running on time, the bad ones are reported
on their own status, every service keeps running, and all three delete cleanly."""

from __future__ import annotations

import json
from typing import Any

from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until


def _deep_app(levels: int) -> str:
    """As JSON text: Python's own encoder stops near 1,000 levels."""
    app = small_app("deep")
    app["spec"]["instanceSpec"]["affinity"] = "AFFINITY"
    return json.dumps(app).replace('"AFFINITY"', '{"a": ' * levels + '{"leaf": true}' + "}" * levels)


def _oversized_app(options: int = 256) -> dict[str, Any]:
    # options of the longest length the CRD allows: 256 of them pass the schema and outgrow the bus's 1 MiB
    return small_app("oversized", extraOptions=[f"--opt-{i:03}=".ljust(4096, "x") for i in range(options)])


def _status(arks: Env, ns: str, name: str) -> dict[str, Any]:
    # only the status: the object itself is too deep for a JSON decoder with a recursion limit
    raw = arks.kubectl("get", "arkapp", name, "-n", ns, "-o", "jsonpath={.status}", check=False)
    return json.loads(raw) if raw.strip().startswith("{") else {}


def _precheck(arks: Env, ns: str, name: str) -> dict[str, Any] | None:
    status = _status(arks, ns, name)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Precheck" and cond.get("status") == "False" and status.get("phase") == "Failed":
            return dict(cond)
    return None


def test_a_deep_and_an_oversized_application_are_reported_and_never_stop_a_good_one(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    refused = arks.cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(_oversized_app(257)), check=False)
    assert refused.returncode != 0
    assert "spec.extraOptions: Too many: 257: must have at most 256 items" in refused.stderr
    for bad in (_deep_app(1_500), json.dumps(_oversized_app())):
        # `create` (not client-side apply, which would copy the object into an annotation and double it)
        arks.kubectl("create", "-n", ns, "-f", "-", input=bad)
    arks.apply(ns, small_app("good"))
    arks.wait_phase("good", ns, "Running", within=60)

    deep = wait_until(lambda: _precheck(arks, ns, "deep"), 60, "the deep application's Precheck failure")
    assert deep["reason"] == "InvalidSpec"
    assert "spec.instanceSpec.affinity.a.a" in deep["message"]
    assert "deeper than 64 levels" in deep["message"]
    big = wait_until(lambda: _precheck(arks, ns, "oversized"), 60, "the oversized application's Precheck failure")
    assert big["reason"] == "PlanTooLarge"
    assert "spec.extraOptions" in big["message"]
    assert not arks.items("leaderworkerset", ns, "arks.ai/application in (deep,oversized)")

    for name, service in arks.system.services.items():
        assert service.running(), f"{name} stopped"
    arks.kubectl("delete", "arkapp", "deep", "oversized", "good", "-n", ns, "--wait=false")
    wait_until(
        lambda: not arks.kubectl("get", "arkapp", "-n", ns, "-o", "name").strip(), 60, "every application deleted"
    )
    wait_until(lambda: not arks.items("leaderworkerset", ns), 60, "the good application's LeaderWorkerSet gone")
