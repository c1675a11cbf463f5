"""What the slo-scaler's shell makes of its scrapes: an answer that holds nothing of the runtime's (an empty
Prometheus vector, a proxy's HTML page) is a failed scrape, never a group without traffic; a Prometheus answer is
dated when Prometheus scraped it, not when it was asked; a leader's ports are scraped as one, and every scrape slot
has a connection of its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import ClientSession, web
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from unit.slo_scaler.shell import Runtime, Shell, application, shell, track

from arks_slo_scaler.adapters.metrics_source import FetchError, PrometheusSource, ScrapeSource, scrape_session
from arks_slo_scaler.core.decide import ScalerConfig
from support.http import serving
from support.waiting import eventually

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


def _leader_at(metrics_port: int | None = None) -> dict[str, Any]:
    """A leader pod on this host, with a `metrics` port when given (its HTTP port is the source's)."""
    ports = [] if metrics_port is None else [{"name": "metrics", "containerPort": metrics_port}]
    return {
        "metadata": {"name": "chat-0"},
        "spec": {"containers": [{"name": "runtime", "ports": ports}]},
        "status": {"podIP": "127.0.0.1"},
    }


@asynccontextmanager
async def hanging_port() -> AsyncIterator[tuple[int, asyncio.Event, asyncio.Event]]:
    """A port that takes the connection and never answers: (its number, set once a scraper connected, set once the
    scraper closed the connection)."""
    connected, closed = asyncio.Event(), asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # until the scraper closes its end
        closed.set()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], connected, closed
    finally:
        server.close()


async def test_a_leader_port_that_fails_ends_the_scrape_of_its_other_ports() -> None:
    # gathered, the hung port's request ran on for the whole scrape timeout after the scrape had failed and freed its
    # slot, holding a connection: 150 such leaders held 100 connections, and other applications' scrapes waited
    async with hanging_port() as (hung, connected, closed):

        async def refuse(request: web.Request) -> web.Response:
            await connected.wait()  # the other port's request is on its way
            return web.Response(status=503)

        app = web.Application()
        app.router.add_get("/metrics", refuse)
        async with serving(app) as url, ClientSession() as session:
            source = ScrapeSource(session, int(url.rsplit(":", 1)[1]), "/metrics", timeout=60.0)
            with pytest.raises(FetchError, match="answered 503"):
                await source.fetch("ns", "chat", "0", _leader_at(metrics_port=hung))
            await asyncio.wait_for(closed.wait(), timeout=5.0)  # not after the 60 s timeout


async def test_every_scrape_slot_has_a_connection_of_its_own() -> None:
    # aiohttp's default pool holds 100 connections: with 150 scrape slots (ARKS_CONCURRENT_SCRAPES takes up to 10000)
    # 50 scrapes waited in the pool for a connection, on their own timeout
    answering = 0
    release = asyncio.Event()

    async def metrics(request: web.Request) -> web.Response:
        nonlocal answering
        answering += 1
        await release.wait()
        return web.Response(text=Runtime().text())

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    async with serving(app, access_log=False) as url, scrape_session() as session:
        source = ScrapeSource(session, int(url.rsplit(":", 1)[1]), "/metrics", timeout=60.0)
        scrapes = [asyncio.create_task(source.fetch("ns", "chat", "0", _leader_at())) for _ in range(150)]
        try:
            await eventually(lambda: answering == 150, within=10.0, what="150 requests at once")
        finally:
            release.set()
            texts = await asyncio.gather(*scrapes)
    assert all("vllm:num_requests_running" in text for text in texts)
