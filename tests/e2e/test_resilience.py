"""Arks keeps the cluster right when its own parts break: a service killed with SIGKILL in the middle of
work, and one trace following a change across the services."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from support.builders import rwx_model, small_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

APPS = 50


def _cpu_app(name: str) -> dict[str, Any]:
    app: dict[str, Any] = small_app(name)
    app["spec"]["instanceSpec"]["resources"] = {"requests": {"cpu": "10m"}}
    return app


def test_kill_9_of_each_service_while_creating_50_applications(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    victims = {10: "watcher", 20: "planner", 30: "deployer", 40: "model-loader"}
    down: list[tuple[int, str]] = []
    for i in range(APPS):
        if i in victims:
            arks.system[victims[i]].kill9()
            down.append((i, victims[i]))
        for killed_at, name in list(down):
            if i == killed_at + 4:  # it stays dead while four more applications arrive
                arks.system[name].start()
                down.remove((killed_at, name))
        arks.apply(ns, _cpu_app(f"app-{i:02d}"))
    for _, name in down:
        arks.system[name].start()

    def all_running() -> bool:
        apps = arks.items("arksapplications", ns)
        return len(apps) == APPS and all((a.get("status") or {}).get("phase") == "Running" for a in apps)

    wait_until(all_running, 300, f"all {APPS} applications Running")
    apps = {a["metadata"]["name"]: a for a in arks.items("arksapplications", ns)}
    lwss = arks.items("leaderworkersets", ns)
    services = [s for s in arks.items("services", ns) if s["metadata"]["name"].startswith("arks-application-")]
    assert sorted(lws["metadata"]["name"] for lws in lwss) == sorted(apps)
    assert sorted(s["metadata"]["name"] for s in services) == sorted(f"arks-application-{n}" for n in apps)
    for obj in [*lwss, *services]:
        [owner] = obj["metadata"]["ownerReferences"]
        assert owner["uid"] == apps[owner["name"]]["metadata"]["uid"]

    created: defaultdict[str, int] = defaultdict(int)
    for event in arks.items("events", ns):
        if event["reason"] == "Created" and event["message"].startswith("Created LeaderWorkerSet"):
            created[event["involvedObject"]["name"]] += int(event.get("count", 1))
    # Events are best effort (one may be lost with a killed service), but none says a LeaderWorkerSet was created twice
    twice = {name: count for name, count in created.items() if count > 1}
    assert not twice, f"LeaderWorkerSets created more than once: {twice}"
    assert len(created) >= APPS - len(victims), f"only {len(created)} creations were recorded"

    arks.kubectl("delete", "arksapplications", "--all", "-n", ns, "--timeout=120s")
    wait_until(lambda: not arks.items("leaderworkersets", ns), 60, "every LeaderWorkerSet deleted")
    wait_until(
        lambda: not [s for s in arks.items("services", ns) if s["metadata"]["name"].startswith("arks-application-")],
        60,
        "every Service deleted",
    )
    wait_until(lambda: not arks.items("pods", ns, "arks.ai/application"), 120, "every application pod deleted")


def _spans(arks: Env) -> list[dict[str, Any]]:
    if not arks.trace_file.exists():
        return []
    return [json.loads(line) for line in arks.trace_file.read_text().splitlines() if line.strip()]


def test_one_trace_follows_a_change_from_watcher_through_planner_to_deployer(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, small_app("traced"))
    arks.wait_phase("traced", ns, "Running")
    plan_subject = f"arks.plan.{ns}.traced"

    def traced() -> set[str] | None:
        by_trace: defaultdict[str, set[str]] = defaultdict(set)
        subjects: defaultdict[str, set[str]] = defaultdict(set)
        for span in _spans(arks):
            by_trace[span["trace_id"]].add(span["service"])
            subjects[span["trace_id"]].add(str(span["attributes"].get("messaging.destination", "")))
        for trace_id, services in by_trace.items():
            wanted = {"arks-watcher", "arks-planner", "arks-deployer"}
            if wanted <= services and plan_subject in subjects[trace_id]:
                return services
        return None

    services = wait_until(traced, 30, "one trace spanning watcher, planner and deployer")
    assert {"arks-watcher", "arks-planner", "arks-deployer"} <= services


def test_changes_around_an_api_server_restart_are_not_missed(arks: Env, ns: str) -> None:
    """The API server crashes and comes back: watches break and resume (or relist), nothing is missed."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, _cpu_app("steady"))
    arks.wait_phase("steady", ns, "Running")
    arks.cluster.restart("kube-apiserver", down_seconds=5)
    arks.kubectl("patch", "arkapp", "steady", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":2}}')
    arks.apply(ns, _cpu_app("newcomer"))

    def applied() -> bool:
        steady = arks.get("leaderworkerset", "steady", ns) or {}
        newcomer = arks.get("leaderworkerset", "newcomer", ns)
        return (steady.get("spec") or {}).get("replicas") == 2 and newcomer is not None

    # Arks' part: both changes reach their LeaderWorkerSets. (How fast the pods then become Ready depends on the
    # scheduler and KWOK recovering from the crash — RBAC re-bootstrap, watch backoff — not on Arks.)
    wait_until(applied, 120, "the changes made right after the restart to reach the LeaderWorkerSets")

    def observed() -> bool:
        apps = [arks.get("arksapplication", n, ns) or {} for n in ("steady", "newcomer")]
        return all((a.get("status") or {}).get("observedGeneration") == a["metadata"]["generation"] for a in apps)

    wait_until(observed, 120, "the status to describe the changed specs")
    assert all(service.running() for service in arks.system.services.values()), "a service died with the API server"
