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


def _oversized_app(options: int = 0) -> dict[str, Any]:
    """Environment values of 300,000 characters (the CRD bounds their count, not their length): the plan that
    carries them outgrows the bus's 1 MiB. `options`: that many extraOptions of the
    longest length the CRD allows."""
    env = [{"name": f"BIG_{i}", "value": "x" * 300_000} for i in range(4)]
    app = small_app("oversized", extraOptions=[f"--opt-{i:03}=".ljust(4096, "x") for i in range(options)])
    app["spec"]["instanceSpec"]["env"] = env
    return app


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


def _ready(app: dict[str, Any]) -> tuple[str, str, str]:
    cond = next(c for c in app["status"]["conditions"] if c["type"] == "Ready")
    return cond["status"], cond["reason"], cond["message"]


def test_pod_fields_the_cluster_would_refuse_fail_the_application_instead_of_a_silent_creating(
    arks: Env, ns: str
) -> None:
    """The LWS webhook does not validate its pod templates, and the StatefulSet controller only logs what refuses
    the pods: an invalid label value and a ServiceAccount that does not exist left an application `Creating` for
    good, with no reason. Each is now the application's status, in the API server's words; fixing the spec, or
    creating the account, brings it up."""
    arks.ready_model(ns, rwx_model())
    bad_label = small_app("bad-label")
    bad_label["spec"]["instanceSpec"]["labels"] = {"team": "a b"}
    no_account = small_app("no-account")
    no_account["spec"]["instanceSpec"]["serviceAccountName"] = "not-yet"
    arks.apply(ns, bad_label, no_account)

    app = arks.wait_phase("bad-label", ns, "Failed", within=60)
    status, reason, message = _ready(app)
    assert (status, reason) == ("False", "ApplyRefused")
    assert "the pods of LeaderWorkerSet bad-label would be refused" in message
    assert "metadata.labels" in message
    assert "a b" in message

    def forbidden() -> dict[str, Any] | None:  # a 403 is retried: the phase stays Creating, the reason says why
        app = arks.get("arkapp", "no-account", ns) or {}
        conditions = (app.get("status") or {}).get("conditions") or []
        return app if any(c["type"] == "Ready" and c["reason"] == "ApplyForbidden" for c in conditions) else None

    app = wait_until(forbidden, 60, "the missing account's refusal on the application")
    status, reason, message = _ready(app)
    assert (status, reason) == ("False", "ApplyForbidden")
    assert 'serviceaccount "not-yet" not found' in message
    assert "(retrying in 30 s)" in message
    assert not arks.items("leaderworkerset", ns), "nothing the cluster would refuse is applied"

    bad_label["spec"]["instanceSpec"]["labels"] = {"team": "a-b"}
    arks.apply(ns, bad_label)
    arks.wait_phase("bad-label", ns, "Running", within=90)
    arks.kubectl("create", "serviceaccount", "not-yet", "-n", ns)
    arks.wait_phase("no-account", ns, "Running", within=90)  # looked at again every 30 s
