"""The Arks services as separate real processes, against a real nats-server and the local cluster.

Each service runs its own console script from the virtualenv, with its own log file, and can be killed
with SIGKILL and started again — as a pod would be.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from support.processes import terminate

SERVICES = ("watcher", "planner", "deployer", "model-loader", "slo-scaler")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServiceProcess:
    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.env = {**os.environ, **env, "ARKS_HTTP_HOST": "127.0.0.1", "ARKS_HTTP_PORT": str(self.port)}
        self.log_file = log_dir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def executable(self) -> str:
        return str(Path(sys.executable).parent / f"arks-{self.name}")

    def launch(self) -> None:
        """Starts the process without waiting for anything (tests of the phases before it is ready)."""
        log = self.log_file.open("ab")
        self._proc = subprocess.Popen([self.executable], env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"arks-{self.name} exited with {self._proc.returncode}; see {self.log_file}")
            if self.ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"arks-{self.name} not ready within {timeout}s; see {self.log_file}")

    def ready(self) -> bool:
        return self._answers("/readyz")

    def alive(self) -> bool:
        """Its health endpoint answers (it does from the start, before NATS is reached)."""
        return self._answers("/healthz")

    def _answers(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
            body: bytes = resp.read()
            return body.decode()

    def kill9(self) -> None:
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=10)

    def stop(self) -> int | None:
        return terminate(self._proc)

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def sigterm(self, within: float) -> tuple[int | None, float]:
        """Sends SIGTERM and waits at most `within` seconds; returns the exit code (None: still running,
        then killed) and the seconds it took."""
        assert self._proc is not None
        started = time.monotonic()
        self._proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self._proc.wait(timeout=within)
        except subprocess.TimeoutExpired:
            code = None
            self._proc.kill()
            self._proc.wait(timeout=10)
        return code, time.monotonic() - started

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def declare_bus(nats_url: str, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> None:
    """Runs `arks-bus-bootstrap` (as the chart's pre-install Job does): the services only verify the bus."""
    executable = str(Path(sys.executable).parent / "arks-bus-bootstrap")
    proc = subprocess.run(
        [executable],
        env={**os.environ, **(env or {}), "ARKS_NATS_URL": nats_url},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-4000:]
        raise RuntimeError(f"arks-bus-bootstrap exited with {proc.returncode}: {output}")


class ArksSystem:
    """All services, sharing one NATS URL and one kubeconfig."""

    def __init__(self, nats_url: str, kubeconfig: Path, log_dir: Path, extra_env: Mapping[str, str] | None = None):
        env = {
            "ARKS_NATS_URL": nats_url,
            "ARKS_KUBECONFIG": str(kubeconfig),
            "ARKS_LOG_FORMAT": "json",
            "ARKS_LOG_LEVEL": "INFO",
            "ARKS_SHUTDOWN_GRACE_SECONDS": "5",
            **(extra_env or {}),
        }
        log_dir.mkdir(parents=True, exist_ok=True)
        self.services = {name: ServiceProcess(name, env, log_dir) for name in SERVICES}

    def start(self) -> None:
        for service in self.services.values():
            service.start()

    def stop(self) -> dict[str, int | None]:
        return {name: service.stop() for name, service in self.services.items()}

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]
