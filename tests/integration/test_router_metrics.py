"""The routers' unified metrics on real parts: the real smg 1.13.0 router in front of two runtime emulators (one
twice as slow), a real Prometheus (Debian's package) scraping the router with the monitoring chart's router
relabeling and the emulators as runtime pods, evaluating the chart's rules. The per-application request rate the
rules derive (smg's per-worker counter joined on the runtime pods' targets) splits as the requests did, the
unknown model shows as errors and 404s, and the latency quantiles exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from arks_monitoring.router import router_relabel_configs
from arks_monitoring.scrape import runtime_relabel_configs
from support.e2e import wait_until
from support.emulator import Emulator
from support.prometheus import PrometheusServer, Target
from support.router import Router, running_emulators, send

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/charts/arks-monitoring/files/arks-rules.yaml"
BACKENDS = {"a-h100": ("model-a", 1.0), "a-l40s": ("model-a", 2.0)}
NS = "team"


def pod_meta(labels: dict[str, str], pod: str, port: str) -> tuple[tuple[str, str], ...]:
    """What Kubernetes pod discovery would say of a pod with `labels`, for the chart's relabeling."""
    meta = {
        "__meta_kubernetes_namespace": NS,
        "__meta_kubernetes_pod_name": pod,
        "__meta_kubernetes_pod_container_name": "main",
        "__meta_kubernetes_pod_container_port_name": port,
    }
    for key, value in labels.items():
        name = "".join(c if c.isalnum() else "_" for c in key)
        meta[f"__meta_kubernetes_pod_label_{name}"] = value
        meta[f"__meta_kubernetes_pod_labelpresent_{name}"] = "true"
    return tuple(sorted(meta.items()))


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[dict[str, Emulator]]:
    with running_emulators(tmp_path, BACKENDS) as started:
        yield started


def values(prometheus: PrometheusServer, promql: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prometheus.query(promql)}


async def test_router_series_map_to_applications_errors_and_latency(
    tmp_path: Path, emulators: dict[str, Emulator]
) -> None:
    router = Router(tmp_path / "router")
    router_job: dict[str, Any] = {
        "job_name": "arks-router",
        "static_configs": [
            {
                "targets": [f"127.0.0.1:{router.metrics_port}"],
                "labels": dict(pod_meta({"arks.ai/endpoint": "qwen"}, "arks-endpoint-qwen-0", "metrics")),
            }
        ],
        "relabel_configs": router_relabel_configs(),  # the chart's plain job, as for pods found by discovery
    }
    prometheus = PrometheusServer(
        tmp_path / "prometheus",
        relabel_configs=runtime_relabel_configs(),
        rule_files=[RULES],
        extra_jobs=[router_job],
    )
    prometheus.start()
    try:
        prometheus.set_targets(
            [
                Target(
                    urlsplit(emu.url).netloc,
                    "/groups/0/metrics",
                    NS,
                    f"{name}-0",
                    pod_meta(
                        {
                            "arks.ai/application": name,
                            "arks.ai/role": "serve",
                            "leaderworkerset.sigs.k8s.io/group-index": "0",
                        },
                        f"{name}-0",
                        "http",
                    ),
                )
                for name, emu in emulators.items()
            ]
        )
        router.start([e.url for e in emulators.values()])
        router.wait_workers({e.url for e in emulators.values()})
        async with aiohttp.ClientSession() as session:
            split = await send(session, router, "model-a", 600, 16)
            # a counter is born at its first increment, which no rate sees: once Prometheus holds the error
            # series, the next unknown-model requests show in the rates
            unknown = await send(session, router, "no-such-model", 5, 1)
            wait_until(lambda: prometheus.query("smg_router_request_errors_total") or None, 30, "the error series")
            unknown += await send(session, router, "no-such-model", 15, 3)
        assert sum(split.values()) == 600
        assert unknown == {"HTTP 404": 20}

        per_app = "arks_endpoint:arks_router_application_requests:rate2m"

        def both_apps() -> dict[str, float] | None:
            got = values(
                prometheus, f'{per_app}{{namespace="{NS}",arks_endpoint="qwen",model="model-a"}}', "application"
            )
            return got if set(got) == set(BACKENDS) and all(v > 0 for v in got.values()) else None

        rates = wait_until(both_apps, 60, "requests per application from the router's series")
        share = rates["a-h100"] / sum(rates.values())
        assert abs(share - split["a-h100"] / 600) < 0.05, (rates, split)

        def present(promql: str, label: str, *keys: str) -> dict[str, float] | None:
            got = values(prometheus, promql, label)
            return got if all(got.get(k, 0) > 0 for k in keys) else None

        errors = "arks_endpoint:arks_router_request_errors:rate2m"
        wait_until(lambda: present(errors, "error_type", "no_workers"), 30, "the unknown model's errors")
        responses = 'arks_endpoint:arks_router_responses:rate2m{arks_endpoint="qwen"}'
        wait_until(lambda: present(responses, "status_code", "200", "404"), 30, "the client status codes")
        p50 = 'arks_endpoint:arks_router_request_duration_seconds:quantile_rate2m{quantile="0.5",model="model-a"}'
        latency = wait_until(lambda: present(p50, "model", "model-a"), 30, "the routed requests' p50")
        assert latency["model-a"] < 5, latency
        healthy = "arks_endpoint:arks_router_backends_healthy"
        assert wait_until(lambda: present(healthy, "arks_endpoint", "qwen"), 30, "healthy backends") == {"qwen": 2.0}
    finally:
        router.stop()
        prometheus.stop()
