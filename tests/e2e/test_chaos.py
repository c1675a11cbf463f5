"""Chaos on the real stack, each case converging with nothing lost: nats-server killed with SIGKILL in the middle
of a burst and restarted on its store; the slo-scaler killed while an autoscaled application arrives; two
replicas of every service at once through a burst with kills. "Converged" is `support.convergence`: every
application Running, exactly one LeaderWorkerSet and one Service each, none created twice, nothing left after
deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.arks_system import SERVICES, ServiceProcess
from support.builders import rwx_model
from support.convergence import assert_all_running_exactly_once, assert_deletion_leaves_nothing, cpu_app
from support.e2e import Env, wait_until

pytestmark = pytest.mark.cluster


def test_kill_9_of_nats_server_in_the_middle_of_a_burst_of_100_applications(arks: Env, ns: str) -> None:
    arks.ready_model(ns, rwx_model())
    apps, killed_at, down_for = 100, 40, 15  # nats stays dead while 15 applications arrive
    for i in range(apps):
        if i == killed_at:
            arks.nats.kill9()
        if i == killed_at + down_for:
            arks.nats.start()  # the same port and JetStream store
        arks.apply(ns, cpu_app(f"burst-{i:03d}"))

    assert_all_running_exactly_once(arks, ns, apps, 420)
    assert all(s.running() for s in arks.system.services.values()), "a service died with the bus"
    assert_deletion_leaves_nothing(arks, ns)


def _autoscaled(name: str) -> dict[str, Any]:
    slo = {"timeToFirstToken": {"targetMilliseconds": 500}}  # autoscaling needs a target (SLO_RULES)
    return cpu_app(name, autoscaling={"minReplicas": 1, "maxReplicas": 3, "slo": slo})


def _decision(arks: Env, ns: str, name: str) -> dict[str, Any] | None:
    app = arks.get("arksapplication", name, ns) or {}
    decision: dict[str, Any] | None = ((app.get("status") or {}).get("autoscaling") or {}).get("lastDecision")
    return decision


def test_kill_9_of_the_slo_scaler_loses_no_application(arks: Env, ns: str) -> None:
    """The killed leader's Lease is still held when it comes back: the new process waits it out, then decides for
    the application that arrived while no scaler ran (its start-up list, or its redelivered events)."""
    arks.ready_model(ns, rwx_model())
    arks.apply(ns, _autoscaled("before"))
    wait_until(lambda: _decision(arks, ns, "before"), 120, "a scaling decision for the first application")
    scaler = arks.system["slo-scaler"]
    scaler.kill9()
    arks.apply(ns, _autoscaled("while-dead"))
    arks.wait_phase("while-dead", ns, "Running")
    assert _decision(arks, ns, "while-dead") is None  # nobody decides while the scaler is down
    scaler.start()
    wait_until(lambda: _decision(arks, ns, "while-dead"), 120, "a decision for the application that came meanwhile")
    assert scaler.running()
    assert_all_running_exactly_once(arks, ns, 2, 60)
    assert_deletion_leaves_nothing(arks, ns)


@pytest.fixture
def second_replicas(arks: Env, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    """A second process of every service, with the first one's identity and settings (as a Deployment of 2)."""
    (tmp_path / "second").mkdir()
    replicas = {name: ServiceProcess(name, arks.system[name].env, tmp_path / "second") for name in SERVICES}
    try:
        for replica in replicas.values():
            replica.start()
        yield replicas
    finally:
        for replica in replicas.values():
            replica.stop()


def test_two_replicas_of_every_service_through_a_burst_with_kills(
    arks: Env, ns: str, second_replicas: dict[str, ServiceProcess]
) -> None:
    arks.ready_model(ns, rwx_model())
    apps = 60
    # (when, which copy, service): each service loses one copy for five applications while its twin carries on.
    kills = {8: ("first", "deployer"), 16: ("second", "planner"), 24: ("first", "watcher")}
    kills |= {32: ("second", "model-loader"), 40: ("first", "slo-scaler"), 48: ("second", "deployer")}
    copies = {"first": arks.system.services, "second": second_replicas}
    down: list[tuple[int, ServiceProcess]] = []
    for i in range(apps):
        if i in kills:
            copy, name = kills[i]
            victim = copies[copy][name]
            victim.kill9()
            down.append((i, victim))
        for killed_at, victim in list(down):
            if i == killed_at + 5:
                victim.start()
                down.remove((killed_at, victim))
        arks.apply(ns, cpu_app(f"twin-{i:02d}"))
    for _, victim in down:
        victim.start()

    assert_all_running_exactly_once(arks, ns, apps, 360, lost_events=2)  # two deployer kills
    assert all(p.running() for copy in copies.values() for p in copy.values()), "a replica died"
    assert_deletion_leaves_nothing(arks, ns)
