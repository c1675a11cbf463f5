"""A service stops promptly on SIGTERM in every phase before it is ready: while it waits for NATS (nothing
listening, or a server that accepts and never answers), while it waits for the bus to be declared, and when
NATS goes away meanwhile. A pod that cannot reach NATS must not sit out its whole termination grace period.

Each test runs the real console script as a process (as a pod runs it) against a real nats-server, or against a
port where none listens. (Once ready, the consuming phase is tested on the local cluster: tests/e2e.)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.arks_system import SERVICES, ServiceProcess
from support.e2e import wait_until
from support.nats_server import NatsServer

PROMPT_SECONDS = 5.0
"""The promise: out within this after SIGTERM (the services' own grace period is 20 s by default)."""


def _service(name: str, nats_url: str, tmp_path: Path) -> ServiceProcess:
    env = {
        "ARKS_NATS_URL": nats_url,
        "ARKS_KUBECONFIG": str(tmp_path / "never-read-before-ready.yaml"),
        "ARKS_LOG_FORMAT": "json",
    }
    return ServiceProcess(name, env, tmp_path)


def _closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP listener that accepts connections (the kernel's backlog) and never says a word, as a hung NATS or
    a half-open proxy would: each connection attempt waits for its whole connect timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        port: int = s.getsockname()[1]
        yield port


def _stops_promptly(service: ServiceProcess) -> None:
    code, seconds = service.sigterm(within=PROMPT_SECONDS)
    assert code is not None, (
        f"arks-{service.name} still ran {PROMPT_SECONDS}s after SIGTERM; log tail:\n{service.log_text()[-2000:]}"
    )
    assert code == 0, f"arks-{service.name} exited with {code} after SIGTERM; log tail:\n{service.log_text()[-2000:]}"
    assert seconds < PROMPT_SECONDS


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_waiting_for_an_absent_nats_stops_at_once_on_sigterm(name: str, tmp_path: Path) -> None:
    service = _service(name, f"nats://127.0.0.1:{_closed_port()}", tmp_path)
    service.launch()
    wait_until(lambda: "Connect call failed" in service.log_text(), 30, f"arks-{name} to try NATS and fail")
    _stops_promptly(service)


def test_a_service_stuck_connecting_to_a_silent_server_stops_at_once(silent_server: int, tmp_path: Path) -> None:
    service = _service("planner", f"nats://127.0.0.1:{silent_server}", tmp_path)
    # A connect timeout longer than the promise: only cutting the attempt short can keep it.
    service.env["ARKS_NATS_CONNECT_TIMEOUT_SECONDS"] = "30"
    service.launch()
    wait_until(service.alive, 30, "the planner to start (its health endpoint comes up before NATS is dialled)")
    _stops_promptly(service)


def test_a_service_waiting_for_the_bus_stops_at_once(nats_server: NatsServer, tmp_path: Path) -> None:
    service = _service("planner", nats_server.url, tmp_path)
    service.launch()
    wait_until(lambda: "waiting for the bus to be declared" in service.log_text(), 30, "the planner to wait")
    _stops_promptly(service)


def test_a_service_whose_nats_went_away_while_it_waited_stops_at_once(nats_server: NatsServer, tmp_path: Path) -> None:
    service = _service("deployer", nats_server.url, tmp_path)
    service.launch()
    wait_until(lambda: "waiting for the bus to be declared" in service.log_text(), 30, "the deployer to wait")
    nats_server.kill9()
    wait_until(lambda: "nats disconnected" in service.log_text(), 30, "the deployer to see NATS go")
    _stops_promptly(service)
