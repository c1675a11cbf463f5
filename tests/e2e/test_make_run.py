"""The README's two commands for running Arks, exactly as a user types them: `make run` and `make stop`.

Each test runs `make` from the repository root in a fresh `ARKS_CACHE` whose binary cache (and uv) is
linked from the real one, so nothing rebuilds but no run state is shared with anything else. The stack's
ports are moved to free ones (`ARKS_NATS_PORT`, `ARKS_HTTP_PORT_BASE`) so a developer's own `make run`
cannot collide with the suite's.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from arks_localcluster.build import build_all
from arks_localcluster.versions import cache_dir

ROOT = Path(__file__).resolve().parents[2]
RUNNING_1_1 = re.compile(r"^app-qwen-vllm\s+Running\s+1\s+1\s", re.MULTILINE)


def free_port_run(length: int) -> int:
    """The first of `length` consecutive free loopback ports, below Linux's ephemeral range (32768 and up), so
    no outgoing connection and no cluster component (they bind port 0) can take one before the stack does."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32000 - length)
        if not any(listening(base + i) for i in range(length)):
            return base
    raise AssertionError("no run of free ports found")


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    """`make` in the repository root with its own ARKS_CACHE and ports."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.nats_port = free_port_run(1)
        self.http_base = free_port_run(5)
        self.env = {
            **os.environ,
            "ARKS_CACHE": str(cache),
            "ARKS_NATS_PORT": str(self.nats_port),
            "ARKS_HTTP_PORT_BASE": str(self.http_base),
        }

    def make(self, target: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", target], cwd=ROOT, env=self.env, text=True, capture_output=True, timeout=timeout, check=False
        )

    def ports(self) -> list[int]:
        """Every port the stack listens on: NATS, the services, and the cluster's own (from its state file)."""
        state = self.cache / "run" / "state.json"
        cluster = list(json.loads(state.read_text())["ports"].values()) if state.exists() else []
        return [self.nats_port, *range(self.http_base, self.http_base + 5), *cluster]

    def processes(self) -> dict[int, str]:
        """Every process on this machine started for this ARKS_CACHE (they all inherit it), pid → name."""
        marker = f"ARKS_CACHE={self.cache}".encode()
        found: dict[int, str] = {}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0") and (proc / "cmdline").read_bytes():
                    found[int(proc.name)] = (proc / "comm").read_text().strip()
            except OSError:
                continue
        return found

    def kubectl(self, *args: str) -> str:
        kubectl = next((self.cache / "bin").glob("kubectl-*/kubectl"), None) or "kubectl"
        return subprocess.run(
            [str(kubectl), "--kubeconfig", str(self.cache / "run" / "kubeconfig"), *args],
            text=True, capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    build_all()  # the shared binary cache, built once (a no-op when it is warm)
    cache = tmp_path / "cache"
    cache.mkdir()
    for shared in ("bin", "uv"):
        if (cache_dir() / shared).exists():
            (cache / shared).symlink_to(cache_dir() / shared)
    s = Stack(cache)
    try:
        yield s
    finally:
        s.make("stop", timeout=180)


def test_make_run_brings_the_quickstart_to_running_again_after_stop_and_stop_leaves_nothing(stack: Stack) -> None:
    first = stack.make("run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert RUNNING_1_1.search(first.stdout), first.stdout
    assert RUNNING_1_1.search(stack.kubectl("get", "arksapplications", "-n", "default"))
    assert "fake GPU nodes" in first.stdout
    started = stack.processes()
    names = sorted(started.values())
    assert {"nats-server", "etcd", "kube-apiserver"} <= set(names), names

    again = stack.make("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    for name in (
        "nats-server",
        "arks-watcher",
        "arks-planner",
        "arks-deployer",
        "arks-model-loader",
        "arks-slo-scaler",
    ):
        assert f"{name} already running" in again.stdout, again.stdout
    assert RUNNING_1_1.search(again.stdout), again.stdout
    assert stack.processes() == started, "a second `make run` started or stopped something"

    ports = stack.ports()
    stopped = stack.make("stop", timeout=180)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stack.processes() == {}, "processes left after `make stop`"
    assert [p for p in ports if listening(p)] == [], "ports still listening after `make stop`"

    # A stack stopped with `make stop` starts again from nothing.
    restarted = stack.make("run")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert RUNNING_1_1.search(restarted.stdout), restarted.stdout
    assert "already running" not in restarted.stdout
    ports = stack.ports()
    assert stack.make("stop", timeout=180).returncode == 0
    assert stack.processes() == {}
    assert [p for p in ports if listening(p)] == []


@pytest.mark.parametrize("which", ["nats", "service"])
def test_make_run_fails_at_once_naming_a_port_another_program_holds(stack: Stack, which: str) -> None:
    port = stack.nats_port if which == "nats" else stack.http_base + 2
    setting = "ARKS_NATS_PORT" if which == "nats" else "ARKS_HTTP_PORT_BASE"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = stack.make("run", timeout=120)
    assert result.returncode != 0
    assert f"port {port}" in result.stderr, result.stderr
    assert setting in result.stderr, result.stderr
    assert f"pid {os.getpid()}" in result.stderr, result.stderr  # the holder is named
    assert "Traceback" not in result.stderr, result.stderr
    assert not (stack.cache / "run" / "state.json").exists(), "the cluster was started before the ports were checked"
    assert stack.processes() == {}
