"""A metrics answer is read whole: a runtime's `/metrics` and a Prometheus answer come in many chunks, and reading
only the first one cut the text off without an error (every histogram after the cut read as missing, every
Prometheus answer as bad JSON). Real aiohttp servers on loopback, the body sent in small writes as a pod's network
delivers it."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import ClientSession, web
from prometheus_client.parser import text_string_to_metric_families

from arks_slo_scaler.adapters import metrics_source
from arks_slo_scaler.adapters.metrics_source import FetchError, PrometheusSource, ScrapeSource
from support.http import serving

WRITE = 16 * 1024


def _exposition(series: int) -> str:
    """A vLLM-like `/metrics` text of `series` counters, its latency histogram last (as the cut lost it)."""
    lines = [f'vllm:request_success_total{{model_name="m",finished_reason="r{i}"}} {i}' for i in range(series)]
    lines += [
        "# TYPE vllm:time_to_first_token_seconds histogram",
        'vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="m"} 7',
        'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 9',
        'vllm:time_to_first_token_seconds_count{model_name="m"} 9',
        'vllm:time_to_first_token_seconds_sum{model_name="m"} 2.5',
    ]
    return "\n".join(lines) + "\n"


def _streaming(body: bytes, path: str) -> web.Application:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(0, len(body), WRITE):
            await resp.write(body[i : i + WRITE])
            await asyncio.sleep(0.001)  # each write its own packet: what the client buffers is the first few
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get(path, handler)
    return app


def _pod(url: str) -> tuple[dict[str, object], int]:
    port = int(url.rsplit(":", 1)[1])
    return {"metadata": {"name": "chat-0"}, "status": {"podIP": "127.0.0.1"}}, port


async def test_a_runtimes_metrics_of_many_chunks_are_read_whole() -> None:
    text = _exposition(20_000)  # ~1.4 MB, as a busy runtime with many labelled series prints
    async with serving(_streaming(text.encode(), "/metrics"), access_log=False) as url, ClientSession() as session:
        pod, port = _pod(url)
        got = await ScrapeSource(session, port, "/metrics", 10.0).fetch("ns", "chat", "0", pod)
    assert len(got) == len(text)
    names = {f.name for f in text_string_to_metric_families(got)}
    assert "vllm:time_to_first_token_seconds" in names


async def test_a_prometheus_answer_of_many_chunks_is_read_whole() -> None:
    result = [
        {"metric": {"__name__": "vllm:num_requests_running", "pod": "chat-0", "i": str(i)}, "value": [1.0, "1"]}
        for i in range(3_000)
    ]
    answer = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
    assert len(answer) > 10 * WRITE
    async with serving(_streaming(answer, "/api/v1/query"), access_log=False) as url, ClientSession() as session:
        text = await PrometheusSource(session, url, 10.0).fetch("ns", "chat", "0", {"metadata": {"name": "chat-0"}})
    assert text.count("vllm:num_requests_running") == 3_000


async def test_a_body_over_the_cap_is_refused_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_source, "MAX_BODY_BYTES", 100_000)
    text = _exposition(5_000)  # ~350 KB
    async with serving(_streaming(text.encode(), "/metrics"), access_log=False) as url, ClientSession() as session:
        pod, port = _pod(url)
        with pytest.raises(FetchError, match="the body is larger than 100000 bytes"):
            await ScrapeSource(session, port, "/metrics", 10.0).fetch("ns", "chat", "0", pod)
