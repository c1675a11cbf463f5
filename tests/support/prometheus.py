"""A real Prometheus server (Debian's `prometheus` package) on a free loopback port, with a temporary config and
store, scraping the targets a test writes into a `file_sd_configs` file.

Each target carries hidden labels `__arks_namespace` and `__arks_pod`; relabeling turns them into the `namespace` and
`pod` series labels, as a `kubernetes_sd_configs` job turns `__meta_kubernetes_*` into them in a real cluster, so the
slo-scaler's PromQL is the one it runs in production. Installs the package when it is missing (`make test` on a fresh
machine needs no manual step) and fails, never skips, when it cannot.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.arks_system import ServiceProcess
from support.processes import terminate

PROMETHEUS = "/usr/bin/prometheus"


def ensure_installed() -> str:
    """The Prometheus binary, installing Debian's package first if needed; RuntimeError if that is impossible."""
    found = shutil.which("prometheus") or (PROMETHEUS if Path(PROMETHEUS).exists() else None)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError("Prometheus is not installed and there is no apt-get: install `prometheus` (Debian package)")
    sudo = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if sudo is None:
        raise RuntimeError("Prometheus is not installed and installing it needs root: `apt-get install -y prometheus`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, apt, "install", "-y", "--no-install-recommends", "prometheus"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:  # the package lists may be missing or old: refresh them once
        update = subprocess.run(
            [*sudo, apt, "update"], env=env, capture_output=True, text=True, timeout=600, check=False
        )
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            detail = update.stderr[-2000:] + done.stderr[-2000:]
            raise RuntimeError(f"`apt-get install -y prometheus` failed ({done.returncode}):\n{detail}")
    found = shutil.which("prometheus") or (PROMETHEUS if Path(PROMETHEUS).exists() else None)
    if found is None:
        raise RuntimeError("installed the `prometheus` package but found no prometheus binary")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Target:
    """One scrape target: `address` (host:port) and `metrics_path`, labelled as pod `pod` of `namespace`; `meta`
    adds discovery labels (`__meta_kubernetes_*`) for a job whose relabeling reads them."""

    address: str
    metrics_path: str
    namespace: str
    pod: str
    meta: tuple[tuple[str, str], ...] = ()


class PrometheusServer:
    """`relabel_configs` replaces the runtime job's relabeling (e.g. the one a chart ships), `rule_files` are
    evaluated every scrape interval, `extra_jobs` are more `scrape_configs` entries."""

    def __init__(
        self,
        workdir: Path,
        scrape_interval: str = "1s",
        *,
        relabel_configs: list[dict[str, Any]] | None = None,
        rule_files: list[Path] | None = None,
        extra_jobs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.workdir = workdir
        self.scrape_interval = scrape_interval
        self.relabel_configs = relabel_configs
        self.rule_files = rule_files or []
        self.extra_jobs = extra_jobs or []
        self.targets_file = workdir / "targets.json"
        self.log_file = workdir / "prometheus.log"
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        relabel = [
            {"source_labels": ["__arks_namespace"], "target_label": "namespace"},
            {"source_labels": ["__arks_pod"], "target_label": "pod"},
        ]
        interval = self.scrape_interval
        return {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [str(f) for f in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": "arks-runtime",
                    "file_sd_configs": [{"files": [str(self.targets_file)], "refresh_interval": "1s"}],
                    "relabel_configs": relabel if self.relabel_configs is None else self.relabel_configs,
                },
                *self.extra_jobs,
            ],
        }

    def start(self, timeout: float = 60.0) -> None:
        binary = ensure_installed()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.set_targets([])
        config_file = self.workdir / "prometheus.yml"
        config_file.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        args = [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        log = self.log_file.open("ab")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self._proc.returncode}; see {self.log_file}")
            if self.ready():
                return
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prometheus not ready within {timeout}s; see {self.log_file}")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def set_targets(self, targets: list[Target]) -> None:
        """Rewrite the file_sd file atomically (Prometheus may read it at any moment)."""
        groups = [
            {
                "targets": [t.address],
                "labels": {
                    "__metrics_path__": t.metrics_path,
                    "__arks_namespace": t.namespace,
                    "__arks_pod": t.pod,
                    **dict(t.meta),
                },
            }
            for t in targets
        ]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2))
        tmp.replace(self.targets_file)

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus answered {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def active_targets(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets?state=active", timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets

    def stop(self) -> int | None:
        return terminate(self._proc)


@contextmanager
def slo_scaler_reading(service: ServiceProcess, prometheus_url: str) -> Iterator[None]:
    """The slo-scaler restarted to read Prometheus every 2 s; restarted as it was afterwards."""
    saved = dict(service.env)
    service.stop()
    service.env.update(
        {
            "ARKS_METRICS_SOURCE": "prometheus",
            "ARKS_PROMETHEUS_URL": prometheus_url,
            "ARKS_SCRAPE_INTERVAL_SECONDS": "2",
        }
    )
    try:
        service.start()
        yield
    finally:
        service.stop()
        service.env.clear()
        service.env.update(saved)
        service.start()
