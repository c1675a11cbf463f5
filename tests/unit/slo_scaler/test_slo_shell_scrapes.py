"""What the slo-scaler's shell makes of its scrapes: an answer that holds nothing of the runtime's (an empty
Prometheus vector, a proxy's HTML page) is a failed scrape, never a group without traffic; a Prometheus answer is
dated when Prometheus scraped it, not when it was asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import ClientSession, web
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from unit.slo_scaler.shell import Runtime, Shell, application, shell, track

from arks_slo_scaler.adapters.metrics_source import FetchError, PrometheusSource
from arks_slo_scaler.core.decide import ScalerConfig
from support.http import serving

EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}


def _problems(kind: str) -> float:
    return REGISTRY.get_sample_value("arks_slo_scaler_scrape_problems_total", {"kind": kind}) or 0.0


async def test_a_prometheus_without_a_series_of_the_pod_answers_no_scrape() -> None:
    async def query(request: web.Request) -> web.Response:
        return web.json_response(EMPTY_VECTOR)

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    async with serving(app) as url, ClientSession() as session:
        source = PrometheusSource(session, url, 5.0)
        with pytest.raises(FetchError, match="prometheus has no series of ns/chat-0") as caught:
            await source.fetch("ns", "chat", "0", {"metadata": {"name": "chat-0"}})
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


class Prometheus:
    """A Prometheus answering instant queries for the leader pods it scraped: their last scrape, until the next
    (`scrape`), as a real one does within its lookback."""

    def __init__(self, s: Shell) -> None:
        self._shell = s
        self.scraped: dict[str, tuple[float, str]] = {}  # pod -> (when, exposition text)

    def scrape(self) -> None:
        for pod, runtime in self._shell.source.runtimes.items():
            self.scraped[pod] = (self._shell.clock.t, runtime.text())

    async def query(self, request: web.Request) -> web.Response:
        query = request.query["query"]
        pod = query.split('pod="', 1)[1].split('"', 1)[0]
        now = self._shell.clock.t
        if pod not in self.scraped:
            return web.json_response(EMPTY_VECTOR)
        at, text = self.scraped[pod]
        if query.startswith("max(timestamp(up{"):
            result: list[dict[str, Any]] = [{"metric": {}, "value": [now, str(at)]}]
        else:
            result = [
                {
                    "metric": {"__name__": s.name, **s.labels, "namespace": "ns", "pod": pod},
                    "value": [now, repr(s.value)],
                }
                for family in text_string_to_metric_families(text)
                for s in family.samples
            ]
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})


async def test_a_steady_load_read_through_prometheus_reads_steady() -> None:
    # Prometheus scrapes every 60 s (its default) and answers its last scrape until the next one; stamped with the
    # scaler's own clock, a steady 6 req/s per group read as 0 and 24 req/s in turns, scaling up on the peaks
    s = shell(config=ScalerConfig(initial_capacity_per_group=10.0))
    prometheus = Prometheus(s)
    app = web.Application()
    app.router.add_get("/api/v1/query", prometheus.query)
    async with serving(app) as url, ClientSession() as session:
        s.scaler._source = PrometheusSource(session, url, 5.0)
        s.cluster.add(application(), groups=2)
        track(s)
        s.source.runtimes = {f"chat-{i}": Runtime() for i in range(2)}  # what Prometheus scrapes
        reasons = []
        # ten minutes in steps of 5 s: Prometheus scrapes at 10 s past each minute, out of phase with the ticks at
        # 0, 15, 30 and 45 s, so a tick reads a scrape up to 50 s old (scraped on the tick, it read none older
        # than 45 s and hid that a fixed 45 s staleness limit flips such a group to StaleMetrics)
        for second in range(0, 600, 5):
            s.source.serve_all(30)  # 6 req/s per group, 60% of the capacity
            if second % 60 == 10:
                prometheus.scrape()
            if second % 15 == 0:
                await s.scaler._tick(s.scaler._apps[("ns", "chat")])
                reasons.append(s.cluster.autoscaling()["lastDecision"]["reason"])
            s.clock.t += 5.0
    assert set(reasons[8:]) == {"WithinSLO"}, reasons
    assert s.cluster.autoscaling()["desiredReplicas"] == 2
    assert len(s.bus.subjects("arks.metrics.")) == 2 * 10  # each scrape told once, not once per query
