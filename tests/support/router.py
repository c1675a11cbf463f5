"""The ArksEndpoint router (smg 1.13.0, the PyPI wheel's binary) as a local process.

It reads its workers from a file-discovery manifest (`--discovery-provider file`), rewritten by the test as the
endpoint's selection changes: pods on the local cluster's fake nodes have no reachable IPs, so the manifest maps
each selected application to its emulator instead of the router discovering pods by label.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from arks_common.api import RouterPolicy
from arks_planner.core.endpoint import discovery_manifest, policy_args
from support.e2e import wait_until
from support.emulator import Emulator
from support.processes import terminate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Router:
    def __init__(self, workdir: Path, policy: RouterPolicy = RouterPolicy.POWER_OF_TWO) -> None:
        self.workdir = workdir
        self.policy = policy
        self.manifest = workdir / "workers.json"
        self.log_file = workdir / "router.log"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_port = _free_port()
        """smg's Prometheus exporter (`--prometheus-port`)."""
        self._proc: subprocess.Popen[bytes] | None = None

    def set_workers(self, urls: list[str]) -> None:
        """Replaces the manifest atomically (smg rereads it when it changes)."""
        tmp = self.manifest.with_suffix(".tmp")
        tmp.write_text(discovery_manifest(urls))
        tmp.replace(self.manifest)

    def start(self, urls: list[str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.set_workers(urls)
        smg = Path(sys.executable).with_name("smg")
        args = [str(smg), "launch", *policy_args(self.policy), "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--prometheus-port", str(self.metrics_port), "--log-level", "warn"]
        args += ["--discovery-provider", "file", "--discovery-file", str(self.manifest)]
        args += ["--discovery-check-interval-secs", "1"]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log_file.open("ab"))

    def workers(self) -> list[dict[str, Any]]:
        """The router's registered workers (its `/workers` admin route), [] while it is not answering."""
        try:
            with urllib.request.urlopen(f"{self.url}/workers", timeout=5) as resp:
                return list(json.load(resp)["workers"])
        except (urllib.error.URLError, ConnectionError):
            return []

    def wait_workers(self, urls: set[str], within: float = 30.0) -> None:
        def ready() -> bool:
            got = {w["url"] for w in self.workers() if w.get("is_healthy")}
            return got == urls

        wait_until(ready, within, f"the router's healthy workers to be {sorted(urls)}; log: {self.log_file}")

    def stop(self) -> None:
        terminate(self._proc, grace=10)


INSTANCE_HEADER = "X-Emulator-Instance"


@contextlib.contextmanager
def running_emulators(workdir: Path, backends: dict[str, tuple[str, float]]) -> Iterator[dict[str, Emulator]]:
    """One emulator per backend name: (served model, slowdown); each answers with its name in a header. All are
    stopped on leaving, whatever happened (one already stopped by the test included)."""
    started: dict[str, Emulator] = {}
    try:
        for name, (model, slowdown) in backends.items():
            args = ["--served-model-name", model, "--instance", name, "--slowdown", str(slowdown)]
            emu = Emulator(workdir / name, 1, args)
            emu.start()
            started[name] = emu
        yield started
    finally:
        for emu in started.values():
            emu.stop()


async def send(
    session: aiohttp.ClientSession, router: Router, model: str, n: int, concurrency: int
) -> collections.Counter[str]:
    """`n` completions for `model` through the router: how many each backend answered (`HTTP <code>` for
    the failed ones)."""
    counts: collections.Counter[str] = collections.Counter()
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            body = {"model": model, "prompt": "hello world", "max_tokens": 32}
            async with session.post(f"{router.url}/v1/completions", json=body) as resp:
                await resp.read()
                counts[resp.headers.get(INSTANCE_HEADER, "") if resp.status == 200 else f"HTTP {resp.status}"] += 1

    await asyncio.gather(*(one() for _ in range(n)))
    return counts
