"""The SGLang PD router's metrics, end to end on real parts: the router pod Arks plans for the SGLang PD sample, its
command run as it stands by the real sglang-router 0.3.2 (the release the profile targets), and a real Prometheus
(Debian's package) with the monitoring chart's runtime relabeling (the plain job `arks-runtime`, the PodMonitor's
ports) scraping the pod's declared container ports, one target per port as Kubernetes pod discovery gives them.

sglang-router serves its Prometheus exporter on --prometheus-port only; its --port has no /metrics (404). Every
target the chart keeps on the router pod must be up, and the router's own series (smg_*) must arrive labelled as
the application's router.
"""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from unit.planner.builders import APP_UID, NAMESPACE, group_pod, shared_model

from arks_common.api.application import ArksApplication
from arks_monitoring.scrape import runtime_relabel_configs
from arks_planner.core.plan import build_plan
from arks_planner.core.precheck import parse_application, precheck
from arks_planner.core.profiles import load_profiles
from support.builders import sample
from support.e2e import wait_until
from support.processes import terminate
from support.prometheus import PrometheusServer, Target
from support.sglang_router import sglang_router_python

APP = "app-qwen-pd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _router_pod() -> dict[str, Any]:
    """The SGLang PD sample's router pod, planned with the default profile on free ports (this machine's 8080 and
    29000 may be taken): the serving port and the router's metrics port moved by an installation's override."""
    port, metrics = _free_port(), _free_port()
    profiles = load_profiles(
        f"runtimes: {{sglang: {{port: {port}, disaggregation: {{routerMetricsPort: {metrics}}}}}}}"
    )
    obj = sample("application-sglang-pd.yaml")
    obj["metadata"] |= {"namespace": NAMESPACE, "uid": APP_UID}
    application = parse_application(obj)
    assert isinstance(application, ArksApplication), application
    assert precheck(application, shared_model(), profiles).passed
    plan = build_plan(application, shared_model(), profiles)
    router = next(o for o in plan.objects if o["metadata"]["name"] == f"{APP}-router")
    return group_pod(router)


def _targets(pod: dict[str, Any], name: str) -> list[Target]:
    """Kubernetes pod discovery's targets of `pod`: one per container port, its labels as `__meta_kubernetes_*`."""
    meta = {
        "__meta_kubernetes_namespace": NAMESPACE,
        "__meta_kubernetes_pod_name": name,
        "__meta_kubernetes_pod_container_name": "main",
    }
    for key, value in pod["metadata"]["labels"].items():
        label = "".join(c if c.isalnum() else "_" for c in key)
        meta[f"__meta_kubernetes_pod_label_{label}"] = value
        meta[f"__meta_kubernetes_pod_labelpresent_{label}"] = "true"
    return [
        Target(
            f"127.0.0.1:{port['containerPort']}",
            "/metrics",  # the chart's path; the relabeling keeps or drops the target by its port's name
            NAMESPACE,
            name,
            tuple(sorted({**meta, "__meta_kubernetes_pod_container_port_name": port["name"]}.items())),
        )
        for container in pod["spec"]["containers"]
        for port in container["ports"]
    ]


@pytest.fixture
def router(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The planned router pod, its container's command run by the real sglang-router (no cluster to discover
    engines in: it says so and serves on)."""
    pod = _router_pod()
    container = pod["spec"]["containers"][0]
    argv = [*container["command"], *container["args"]]
    assert argv[:3] == ["python3", "-m", "sglang_router.launch_router"], argv
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    log = (tmp_path / "router.log").open("ab")
    proc = subprocess.Popen([str(sglang_router_python()), *argv[1:]], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        serving = next(p["containerPort"] for p in container["ports"] if p["name"] != "metrics")

        def live() -> bool | None:
            assert proc.poll() is None, f"the router exited {proc.returncode}; see {tmp_path / 'router.log'}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{serving}/liveness", timeout=1) as resp:
                    return resp.status == 200 or None
            except OSError:
                return None

        wait_until(live, 60, "the router's /liveness")
        yield pod
    finally:
        terminate(proc)


def test_the_chart_scrapes_the_real_sglang_router_where_it_serves_its_metrics(
    tmp_path: Path, router: dict[str, Any]
) -> None:
    prometheus = PrometheusServer(tmp_path / "prometheus", relabel_configs=runtime_relabel_configs())
    prometheus.start()
    try:
        prometheus.set_targets(_targets(router, f"{APP}-router-0"))

        def scraped() -> list[dict[str, Any]] | None:
            found = prometheus.query(f'up{{job="arks-runtime",application="{APP}"}}')
            return found if found and all(r["value"][1] != "NaN" for r in found) else None

        ups = wait_until(scraped, 60, "a scrape of the router pod's kept targets")
        wait_until(lambda: len(prometheus.query("up")) == len(ups) or None, 10, "every kept target scraped")
        down = {r["metric"]["endpoint"]: r["value"][1] for r in ups if r["value"][1] != "1"}
        assert not down, f"targets of the router pod down (port name: up): {down}"
        assert {r["metric"]["endpoint"] for r in ups} == {"metrics"}
        own = f'smg_http_requests_total{{job="arks-runtime",application="{APP}",role="router",path="/liveness"}}'
        assert wait_until(lambda: prometheus.query(own) or None, 30, "the router's own series")
    finally:
        prometheus.stop()
