"""What the slo-scaler's shell makes of its scrapes: an answer that holds nothing of the runtime's (an empty
Prometheus vector, a proxy's HTML page) is a failed scrape, never a group without traffic."""

from __future__ import annotations

import json

import pytest
from aiohttp import ClientSession, web
from prometheus_client import REGISTRY
from unit.slo_scaler.shell import application, shell, track

from arks_slo_scaler.adapters.metrics_source import FetchError, PrometheusSource

EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}


def _problems(kind: str) -> float:
    return REGISTRY.get_sample_value("arks_slo_scaler_scrape_problems_total", {"kind": kind}) or 0.0


async def test_a_prometheus_without_a_series_of_the_pod_answers_no_scrape() -> None:
    async def query(request: web.Request) -> web.Response:
        return web.json_response(EMPTY_VECTOR)

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as session:
            source = PrometheusSource(session, f"http://127.0.0.1:{port}", 5.0)
            with pytest.raises(FetchError, match="prometheus has no series of ns/chat-0") as caught:
                await source.fetch("ns", "chat", "0", {"metadata": {"name": "chat-0"}})
    finally:
        await runner.cleanup()
    assert caught.value.kind == "empty"


@pytest.mark.parametrize(
    "answer",
    ["\n", "<html><body>502 Bad Gateway</body></html>\n", json.dumps(EMPTY_VECTOR)],
    ids=["empty vector rendered", "HTML", "JSON"],
)
async def test_an_answer_with_none_of_the_runtimes_metrics_is_no_scrape(answer: str) -> None:
    # read as groups without traffic, an application serving 10 req/s per group was told "no requests" and went to
    # minReplicas once the scale-down window was over
    s = shell()
    s.cluster.add(application(), groups=2)
    track(s)
    s.source.answers = {"chat-0": answer, "chat-1": answer}
    before = _problems("empty")
    await s.ticks(3)
    assert s.bus.subjects("arks.metrics.") == []
    decision = s.cluster.autoscaling()["lastDecision"]
    assert (decision["reason"], decision["desiredReplicas"]) == ("NoMetrics", 2)
    assert decision["message"] == "no metrics from any group: hold at 2"
    assert _problems("empty") - before == 6
