"""A running service (ready, consuming, its tasks busy with the cluster) stops within 5 s of SIGTERM, exit 0,
when NATS went away while it ran, so nothing it could still drain or acknowledge is reachable (a clean stop
with NATS there ends every e2e session, which fails on a non-zero exit code).
(The phases before it is ready: tests/integration/test_service_shutdown.py; the images: `make image-test`.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arks_localcluster.cluster import LocalCluster
from support.arks_system import SERVICES, ServiceProcess, declare_bus
from support.e2e import ROOT, wait_until
from support.nats_server import NatsServer

PROMPT_SECONDS = 5.0


@pytest.fixture
def nats(local_cluster: LocalCluster, tmp_path: Path) -> Iterator[NatsServer]:
    local_cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
    server = NatsServer(tmp_path / "nats")
    server.workdir.mkdir()
    server.start()
    declare_bus(server.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def started() -> Iterator[list[ServiceProcess]]:
    """Processes a test started; stopped whatever happened."""
    processes: list[ServiceProcess] = []
    try:
        yield processes
    finally:
        for process in processes:
            process.stop()


def _running_service(
    name: str, cluster: LocalCluster, nats: NatsServer, tmp_path: Path, started: list[ServiceProcess]
) -> ServiceProcess:
    env = {
        "ARKS_NATS_URL": nats.url,
        "ARKS_KUBECONFIG": str(cluster.kubeconfig),
        "ARKS_LEASE_NAMESPACE": "default",
        "ARKS_LOG_FORMAT": "json",
    }
    service = ServiceProcess(name, env, tmp_path)
    started.append(service)
    service.start()  # ready: the bus verified, set up, its tasks running
    return service


def _stops_promptly(service: ServiceProcess) -> None:
    code, seconds = service.sigterm(within=PROMPT_SECONDS)
    assert code is not None, (
        f"arks-{service.name} still ran {PROMPT_SECONDS}s after SIGTERM:\n{service.log_text()[-2000:]}"
    )
    assert code == 0, f"arks-{service.name} exited with {code} after SIGTERM:\n{service.log_text()[-2000:]}"
    assert seconds < PROMPT_SECONDS


@pytest.mark.parametrize("name", SERVICES)
def test_a_running_service_stops_at_once_when_nats_went_away(
    name: str, local_cluster: LocalCluster, nats: NatsServer, tmp_path: Path, started: list[ServiceProcess]
) -> None:
    service = _running_service(name, local_cluster, nats, tmp_path, started)
    nats.kill9()
    wait_until(lambda: "nats disconnected" in service.log_text(), 30, f"arks-{name} to see NATS go")
    _stops_promptly(service)


def test_the_watcher_stops_at_once_with_a_publish_in_flight_to_a_nats_that_went_away(
    local_cluster: LocalCluster, nats: NatsServer, tmp_path: Path, started: list[ServiceProcess]
) -> None:
    """A change seen while NATS is away is retried until JetStream acknowledges it; each try waits out the
    publish timeout. A SIGTERM meanwhile must not wait for that try (the next watcher relists it anyway)."""
    service = _running_service("watcher", local_cluster, nats, tmp_path, started)
    nats.kill9()
    wait_until(lambda: "nats disconnected" in service.log_text(), 30, "arks-watcher to see NATS go")
    model = tmp_path / "model.yaml"
    model.write_text(
        "apiVersion: arks.ai/v1\nkind: ArksModel\nmetadata: {name: in-flight, namespace: default}\n"
        "spec: {model: Qwen/Qwen2.5-0.5B-Instruct}\n"
    )
    local_cluster.kubectl("apply", "-f", str(model))
    wait_until(lambda: "publish failed; retrying" in service.log_text(), 30, "arks-watcher to retry its publish")
    _stops_promptly(service)
