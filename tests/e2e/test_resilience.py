"""Arks keeps the cluster right when its own parts break: a service killed with SIGKILL in the middle of
work, and one trace following a change across the services."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from support.builders import rwx_model, small_app
from support.convergence import assert_all_running_exactly_once, assert_deletion_leaves_nothing, cpu_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster

APPS = 50


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
        arks.apply(ns, cpu_app(f"app-{i:02d}"))
    for _, name in down:
        arks.system[name].start()

    assert_all_running_exactly_once(arks, ns, APPS, 300, lost_events=len(victims))
    assert_deletion_leaves_nothing(arks, ns)


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
    arks.apply(ns, cpu_app("steady"))
    arks.wait_phase("steady", ns, "Running")
    arks.cluster.restart("kube-apiserver", down_seconds=5)
    arks.kubectl("patch", "arkapp", "steady", "-n", ns, "--type=merge", "-p", '{"spec":{"replicas":2}}')
    arks.apply(ns, cpu_app("newcomer"))

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
