"""Does an application's status tell the truth when things go wrong? An edit is not called done before its groups
roll, and pods that cannot be placed say why, in the scheduler's words."""

from __future__ import annotations

from typing import Any

import pytest

from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster


def ready_of(app: dict[str, Any] | None) -> dict[str, Any]:
    found = [c for c in ((app or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
    return found[0] if found else {}


def test_an_edit_is_not_called_running_before_its_groups_roll(arks: Env, ns: str) -> None:
    """Just after the deployer applies a changed template, the LeaderWorkerSet's status is still the old
    template's (every group ready and "updated"): no version of the application may call the new generation
    Running before the LeaderWorkerSet controller has taken it."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("edited"))
    wait_until(lambda: ready_of(arks.get("arksapplication", "edited", ns)).get("reason") == "Running", 90, "Running")
    since = arks.applications_version(ns)
    arks.apply(ns, small_app("edited", runtimeImage="registry.example/vllm:custom"))

    def rolled() -> dict[str, Any] | None:
        pods = arks.items("pods", ns, "arks.ai/application=edited")
        images = {p["spec"]["containers"][0]["image"] for p in pods}
        app = arks.get("arksapplication", "edited", ns) or {}
        on_two = (app.get("status") or {}).get("observedGeneration") == 2
        done = images == {"registry.example/vllm:custom"} and on_two and ready_of(app).get("reason") == "Running"
        return app if done else None

    final = wait_until(rolled, 120, "the new image rolled out and Running")
    history = arks.application_history(ns, "edited", since, final["metadata"]["resourceVersion"])
    on_two = [ready_of(v) for v in history if (v.get("status") or {}).get("observedGeneration") == 2]
    assert on_two, "no version described generation 2"
    first = on_two[0]
    told = [
        (
            v["metadata"]["resourceVersion"],
            (v.get("status") or {}).get("observedGeneration"),
            ready_of(v).get("reason"),
            ready_of(v).get("message"),
        )
        for v in history
    ]
    told.append(("since", since, "final", final["metadata"]["resourceVersion"]))
    assert first["reason"] != "Running", f"generation 2 was called running before it rolled: {first}; all: {told}"


def test_pods_that_cannot_be_scheduled_say_why(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    app = small_app("too-big")
    app["spec"]["instanceSpec"]["resources"] = {"limits": {"nvidia.com/gpu": "64"}}  # no node has 64
    arks.apply(ns, app)

    def told() -> dict[str, Any] | None:
        got = arks.get("arksapplication", "too-big", ns)
        return got if "Insufficient nvidia.com/gpu" in ready_of(got).get("message", "") else None

    try:
        stuck = wait_until(told, 60, "the scheduler's reason in the Ready condition")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Ready: {ready_of(arks.get('arksapplication', 'too-big', ns))}") from exc
    ready = ready_of(stuck)
    assert (stuck["status"]["phase"], ready["status"], ready["reason"]) == ("Creating", "False", "ReplicasNotReady")
    assert "pod too-big-0" in ready["message"]
    assert "Unschedulable" in ready["message"]
    assert len(ready["message"]) <= 1000


def test_groups_beyond_what_the_nodes_hold_say_why_while_the_others_serve(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    app = small_app("crowded", replicas=5)  # 4 nodes of 8 GPUs: at most 4 groups of 8 GPUs fit
    app["spec"]["instanceSpec"]["resources"] = {"limits": {"nvidia.com/gpu": "8"}}
    arks.apply(ns, app)

    def told() -> dict[str, Any] | None:
        got = arks.get("arksapplication", "crowded", ns)
        ready = ready_of(got)
        return got if ready.get("status") == "True" and "Insufficient nvidia.com/gpu" in ready["message"] else None

    try:
        crowded = wait_until(told, 90, "the scheduler's reason in the Ready condition")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; Ready: {ready_of(arks.get('arksapplication', 'crowded', ns))}") from exc
    ready = ready_of(crowded)
    assert (crowded["status"]["phase"], ready["reason"]) == ("Running", "Updating")
    assert 1 <= crowded["status"]["readyReplicas"] < 5
    arks.kubectl("delete", "arkapp", "crowded", "-n", ns, "--timeout=60s")  # frees the GPUs for other tests
