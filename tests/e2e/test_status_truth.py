"""Does an application's status tell the truth when things go wrong? An edit is not called done before its groups
roll, and pods that cannot be placed say why, in the scheduler's words."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from arks_common.conventions import service_name
from support.builders import rwx_model, slow_class_volume, small_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster


def ready_of(app: dict[str, Any] | None) -> dict[str, Any]:
    found = [c for c in ((app or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Ready"]
    return found[0] if found else {}


@contextmanager
def running_with_its_leader_held(arks: Env, ns: str, name: str) -> Iterator[None]:
    """A one-group application brought to Running, its leader held by a finalizer (as a real runtime draining its
    requests holds a terminating pod) for the block; released after it, and Running again."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app(name))
    wait_until(lambda: ready_of(arks.get("arksapplication", name, ns)).get("reason") == "Running", 90, "Running")
    hold = '{"metadata":{"finalizers":["e2e.arks.ai/hold"]}}'
    arks.kubectl("patch", "pod", f"{name}-0", "-n", ns, "--type=merge", "-p", hold)
    try:
        yield
    finally:
        release = '{"metadata":{"finalizers":null}}'
        arks.kubectl("patch", "pod", f"{name}-0", "-n", ns, "--type=merge", "-p", release)
    wait_until(lambda: ready_of(arks.get("arksapplication", name, ns)).get("reason") == "Running", 90, "Running")


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


def _model_of_the_groups(arks: Env, ns: str, name: str) -> str:
    lws = arks.get("leaderworkerset", name, ns) or {}
    template = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]  # a one-node group has no leaderTemplate
    return str(template["metadata"]["labels"]["arks.ai/model"])


def test_a_switch_to_a_model_not_loaded_yet_keeps_the_groups_on_the_old_one_and_says_so(arks: Env, ns: str) -> None:
    """A running application edited to another model that is still downloading: the groups keep serving the model
    they have (rolling them onto a volume without the model would take the service down), Ready says the
    application waits for the new model and names it; once the model is loaded, the groups roll onto it."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("switched"))
    arks.wait_phase("switched", ns, "Running")
    slow = rwx_model("slow")
    slow["spec"]["storage"]["pvc"]["spec"]["storageClassName"] = f"slow-{ns}"  # no volume yet: the download waits
    arks.apply(ns, slow)
    arks.apply(ns, small_app("switched", model="slow"))

    def judged() -> dict[str, Any] | None:
        app = arks.get("arksapplication", "switched", ns)
        loaded = [c for c in ((app or {}).get("status") or {}).get("conditions") or [] if c["type"] == "Loaded"]
        gate = loaded[0] if loaded else {}
        ready = ready_of(app)
        on_two = gate.get("observedGeneration") == 2 and ready.get("observedGeneration") == 2
        return app if on_two and gate.get("reason") == "ModelLoading" else None

    wait_until(judged, 60, "the model's gate and the deployer's verdict on generation 2")
    held = _model_of_the_groups(arks, ns, "switched")
    assert held == "qwen-7b", f"rolled onto a model not loaded: {ready_of(arks.get('arksapplication', 'switched', ns))}"

    def told() -> dict[str, Any] | None:
        app = arks.get("arksapplication", "switched", ns)
        return app if "ArksModel slow" in ready_of(app).get("message", "") else None

    app = wait_until(told, 30, "Ready to name the model it waits for")
    ready = ready_of(app)
    assert (app["status"]["phase"], ready["status"], ready["reason"]) == ("Running", "True", "Updating")
    assert _model_of_the_groups(arks, ns, "switched") == "qwen-7b"
    # generation 2 is what observedGeneration names: the held groups run generation 1's spec, none is updated
    assert (app["status"]["observedGeneration"], app["status"]["updatedReplicas"]) == (2, 0)
    # a new count meanwhile is applied (its groups run the template the others run), not held for the download
    arks.apply(ns, small_app("switched", model="slow", replicas=2))
    wait_until(
        lambda: ((arks.get("leaderworkerset", "switched", ns) or {}).get("spec") or {}).get("replicas") == 2,
        60,
        "the set scaled to 2 groups while its new template waits for the model",
    )
    assert _model_of_the_groups(arks, ns, "switched") == "qwen-7b"
    # the Service deleted by hand meanwhile is made again: the groups that keep serving need it, download or not
    service = service_name("switched")
    first = (arks.get("service", service, ns) or {}).get("metadata", {}).get("uid")
    arks.kubectl("delete", "service", service, "-n", ns)
    wait_until(
        lambda: ((arks.get("service", service, ns) or {}).get("metadata") or {}).get("uid") not in (None, first),
        60,
        "the Service made again while the set's new template waits for the model",
    )
    assert _model_of_the_groups(arks, ns, "switched") == "qwen-7b"

    arks.apply(ns, slow_class_volume(ns))
    wait_until(
        lambda: (
            ready_of(arks.get("arksapplication", "switched", ns)).get("reason") == "Running"
            and _model_of_the_groups(arks, ns, "switched") == "slow"
        ),
        120,
        "the groups rolled onto the loaded model",
    )
    arks.kubectl("delete", "persistentvolume", f"slow-{ns}", "--wait=false")


def test_a_group_whose_leader_is_being_deleted_is_not_counted_ready(arks: Env, ns: str) -> None:
    """A rolling update deletes a one-group application's leader; while that pod terminates (held here by a
    finalizer, as a real runtime draining its requests holds it) the LeaderWorkerSet still counts its group ready,
    but a pod being deleted serves nothing (the Service's endpoints drop it): Ready is False, and says why."""
    with running_with_its_leader_held(arks, ns, "held"):
        arks.apply(ns, small_app("held", runtimeImage="registry.example/vllm:custom"))
        wait_until(
            lambda: ((arks.get("pod", "held-0", ns) or {}).get("metadata") or {}).get("deletionTimestamp"),
            60,
            "the old leader to be deleted",
        )

        def told() -> dict[str, Any] | None:
            app = arks.get("arksapplication", "held", ns) or {}
            on_two = (app.get("status") or {}).get("observedGeneration") == 2
            return app if on_two and ready_of(app).get("status") == "False" else None

        try:
            app = wait_until(told, 30, "Ready False while the only group's leader is being deleted")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; Ready: {ready_of(arks.get('arksapplication', 'held', ns))}") from exc
        assert app["status"]["readyReplicas"] == 0


def test_a_steady_applications_pod_being_deleted_is_told_at_once(arks: Env, ns: str) -> None:
    """No spec change: the only group's leader is deleted (an eviction, a drain, `kubectl delete pod`) and, held by
    a finalizer as a runtime draining its requests holds it, terminates. Its LeaderWorkerSet still counts the group
    ready and changes nothing; the deployer's watch of the pods tells it, and Ready says False while it lasts."""
    with running_with_its_leader_held(arks, ns, "evicted"):
        arks.kubectl("delete", "pod", "evicted-0", "-n", ns, "--wait=false")

        def told() -> dict[str, Any] | None:
            app = arks.get("arksapplication", "evicted", ns) or {}
            return app if ready_of(app).get("status") == "False" else None

        try:
            app = wait_until(told, 30, "Ready False while the only group's leader is being deleted")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; Ready: {ready_of(arks.get('arksapplication', 'evicted', ns))}") from exc
        assert app["status"]["readyReplicas"] == 0
        assert "pods being deleted: evicted-0" in ready_of(app)["message"], ready_of(app)
