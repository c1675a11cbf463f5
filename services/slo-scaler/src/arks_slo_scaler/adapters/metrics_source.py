"""Where metrics text comes from: each leader pod's endpoint, or a Prometheus server over PromQL.

Either way the result is Prometheus exposition text per group, fed to the same parser, so both paths give
the same unified metrics.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Protocol

import aiohttp

from arks_common.conventions import LABEL_COMPONENT, ROLE_DECODE, ROLE_PREFILL


class MetricsSource(Protocol):
    async def fetch(self, namespace: str, app: str, group: str, pod: dict[str, Any]) -> str: ...


class FetchError(Exception):
    """No scrape of the group this time; `kind` labels `arks_slo_scaler_scrape_problems_total`."""

    def __init__(self, message: str, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind


MAX_BODY_BYTES = 8 * 1024 * 1024
"""A runtime's /metrics is tens of KiB; a body beyond this is refused (and never read whole into memory)."""


METRICS_PORT_NAME = "metrics"
"""A container port of this name serves more of the runtime's metrics (Dynamo's engine system status server:
KV usage), scraped beside the HTTP port; the planner names it so."""


def extra_metrics_ports(pod: dict[str, Any]) -> list[int]:
    return [
        int(port["containerPort"])
        for container in (pod.get("spec") or {}).get("containers") or []
        for port in container.get("ports") or []
        if port.get("name") == METRICS_PORT_NAME and isinstance(port.get("containerPort"), int)
    ]


def scrape_ports(pod: dict[str, Any], port: int) -> list[int]:
    """The ports to scrape on a leader pod: its HTTP port and its `metrics` ports. A PD prefill or decode pod with
    a `metrics` port is scraped there only: a Dynamo worker serves no HTTP on the service port, only its system
    status server (docs/pd.md)."""
    extra = extra_metrics_ports(pod)
    role = ((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT)
    if extra and role in (ROLE_PREFILL, ROLE_DECODE):
        return extra
    return [port, *(p for p in extra if p != port)]


def scrape_session() -> aiohttp.ClientSession:
    """The scrapes' HTTP client, with no pool limit of its own: the scrape slots (`ARKS_CONCURRENT_SCRAPES`, a
    leader's ports at once within one) bound the requests in flight. aiohttp's default pool of 100 connections capped
    a larger setting silently, and a scrape waited there for a connection on its own timeout."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


class ScrapeSource:
    """GET http://<leader pod IP>:<port><path> (and the pod's `metrics` port), as Prometheus itself would."""

    def __init__(self, session: aiohttp.ClientSession, port: int, path: str, timeout: float) -> None:
        self._session = session
        self._port = port
        self._path = path
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def fetch(self, namespace: str, app: str, group: str, pod: dict[str, Any]) -> str:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            raise FetchError(f"pod {pod['metadata']['name']} has no IP yet")
        urls = [f"http://{ip}:{port}{self._path}" for port in scrape_ports(pod, self._port)]
        if len(urls) == 1:
            return await self._get(urls[0])
        # at once: a leader that hangs on both ports costs one timeout, not two; and as one: a port that fails ends
        # the others (gathered, they ran on for the whole timeout, each holding a connection, after the scrape had
        # failed and freed its slot)
        try:
            async with asyncio.TaskGroup() as together:
                gets = [together.create_task(self._get(url)) for url in urls]
        except ExceptionGroup as failed:
            raise failed.exceptions[0]  # noqa: B904 - the failed port's own error (with its cause), not the group
        return "\n".join(get.result() for get in gets)

    async def _get(self, url: str) -> str:
        try:
            async with self._session.get(url, timeout=self._timeout) as resp:
                if resp.status != 200:
                    raise FetchError(f"{url} answered {resp.status}")
                body = await read_capped(resp, MAX_BODY_BYTES)
                if body is None:
                    raise FetchError(f"{url}: the body is larger than {MAX_BODY_BYTES} bytes")
                return body.decode("utf-8", "replace")  # a bad byte garbles one line, which the parser skips
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit` bytes (the rest is not read). `content.read(n)` is not that:
    it answers what is buffered, at most n bytes, so a body longer than its first chunk (a runtime's `/metrics` is
    tens to hundreds of KB) was cut off without an error, and every histogram after the cut read as missing."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class PrometheusSource:
    """The leader pod's series from Prometheus (instant query), rendered back as exposition text stamped with when
    Prometheus scraped them: an instant query answers the last scrape's counters for as long as its lookback, so
    the time of this call would read one scrape as several (a steady load as 0 and 12 req/s in turns)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/api/v1/query"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def fetch(self, namespace: str, app: str, group: str, pod: dict[str, Any]) -> str:
        pod_name = pod["metadata"]["name"]
        target = f'namespace="{namespace}",pod="{pod_name}"'
        # the scrape's time first, from its `up` series (timestamp() of the runtime's own series would drop their
        # names and collide): a scrape landing between the two queries makes the values newer than it, never older
        # (the next call sees the time move on). No `up` (federated series): dated now, as before
        stamps = await self._query(f"max(timestamp(up{{{target}}}))", namespace, pod_name)
        result = await self._query(f'{{{target},__name__=~"(vllm|sglang):.+|dynamo_.+"}}', namespace, pod_name)
        if not result:
            # no sample of the pod: Prometheus does not scrape it (yet), lost it past its lookback, or relabels
            # without `pod`. Rendered, it would read as a runtime with nothing to say: an idle one.
            raise FetchError(f"prometheus has no series of {namespace}/{pod_name}", kind="empty")
        return render_exposition(result, at=_scraped_at(stamps))

    async def _query(self, query: str, namespace: str, pod_name: str) -> list[Any]:
        try:
            async with self._session.get(self._url, params={"query": query}, timeout=self._timeout) as resp:
                raw = await read_capped(resp, MAX_BODY_BYTES)
            if raw is None:
                raise FetchError(f"prometheus answer for {namespace}/{pod_name} is larger than {MAX_BODY_BYTES} bytes")
            body = json.loads(raw)
        except (aiohttp.ClientError, TimeoutError, ValueError, RecursionError) as exc:
            raise FetchError(f"prometheus query for {namespace}/{pod_name}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            what = body if not isinstance(body, dict) else f"{body.get('errorType')}: {body.get('error')}"
            raise FetchError(f"prometheus answered {str(what)[:300]}")
        result = (body.get("data") or {}).get("result") if isinstance(body.get("data"), dict) else None
        return result if isinstance(result, list) else []


def _scraped_at(result: list[Any]) -> float | None:
    """The value of `max(timestamp(up{...}))`: when Prometheus last scraped the pod (None without an answer)."""
    for series in result:
        pair = series.get("value") if isinstance(series, dict) else None
        if isinstance(pair, list) and len(pair) == 2:
            try:
                at = float(pair[1])
            except (TypeError, ValueError, OverflowError):
                return None
            return at if math.isfinite(at) and at > 0 else None
    return None


_DROP = {"__name__", "namespace", "pod", "instance", "job", "container", "endpoint", "service"}


def _escaped(value: object) -> str:
    """A label value as the exposition format writes it: backslash, double quote and line feed escaped (a model
    name with a quote would otherwise end its line early and be dropped as garbled)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_exposition(result: list[dict[str, Any]], at: float | None = None) -> str:
    """Instant-vector results as exposition lines, without the labels Prometheus adds when scraping; with `at`,
    each line carries it as its timestamp (the exposition format's milliseconds), which the parser reads back."""
    stamp = "" if at is None else f" {round(at * 1000)}"
    lines = []
    for series in result:
        metric = series.get("metric") if isinstance(series, dict) else None
        pair = series.get("value") if isinstance(series, dict) else None
        if not isinstance(metric, dict) or not isinstance(pair, list) or len(pair) != 2:
            continue  # not an instant-vector sample
        try:
            value = float(pair[1])
        except (TypeError, ValueError, OverflowError):
            continue
        name = metric.get("__name__", "")
        labels = ",".join(f'{k}="{_escaped(v)}"' for k, v in sorted(metric.items()) if k not in _DROP)
        text = ("+Inf" if value > 0 else "-Inf") if math.isinf(value) else repr(value)
        lines.append(f"{name}{{{labels}}} {text}{stamp}" if labels else f"{name} {text}{stamp}")
    return "\n".join(lines) + "\n"
