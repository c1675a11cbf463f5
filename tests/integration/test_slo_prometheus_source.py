"""The slo-scaler's Prometheus source against a real Prometheus (Debian's package): an answer is dated when
Prometheus scraped the pod, so two queries between two scrapes read as one scrape, not as two."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from unit.slo_scaler.builders import vllm_text

from arks_common.api.application import Runtime
from arks_slo_scaler.adapters.metrics_source import FetchError, PrometheusSource
from arks_slo_scaler.core.metrics import parse_metrics
from support.http import serving
from support.prometheus import PrometheusServer, Target

SCRAPE_SECONDS = 2.0
POD = {"metadata": {"name": "chat-0"}}


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path / "prometheus", scrape_interval=f"{SCRAPE_SECONDS:g}s")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def runtime() -> AsyncIterator[str]:
    """A leader pod's /metrics (vLLM's text); its address."""
    app = web.Application()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=vllm_text())

    app.router.add_get("/metrics", metrics)
    async with serving(app) as url:
        yield url.removeprefix("http://")


async def test_an_answer_is_dated_when_prometheus_scraped_the_pod(prometheus: PrometheusServer, runtime: str) -> None:
    prometheus.set_targets([Target(runtime, "/metrics", "ns", "chat-0")])
    async with ClientSession() as session:
        source = PrometheusSource(session, prometheus.url, 5.0)

        async def scraped_at() -> float | None:
            try:
                return parse_metrics(await source.fetch("ns", "chat", "0", POD), Runtime.VLLM).sampled_at
            except FetchError:  # not scraped yet
                return None

        deadline = time.monotonic() + 30
        first = await scraped_at()
        while first is None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            first = await scraped_at()
        assert first is not None, "Prometheus never scraped the pod"
        again = await scraped_at()
        assert again is not None
        assert again == first or abs(again - first - SCRAPE_SECONDS) < 0.5  # the same scrape, or the next one
        assert first <= time.time() + 0.5
        await asyncio.sleep(SCRAPE_SECONDS * 1.5)
        later = await scraped_at()
        assert later is not None
        assert later - again >= SCRAPE_SECONDS * 0.75  # a newer scrape, dated by Prometheus
