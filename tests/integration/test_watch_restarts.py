"""How a list+watch loop opens its next watch, against a real HTTP server that answers as an API server would
(a proxy closing every stream at once, a 429 with Retry-After, a watch broken by a 500), through the real
client, for both loops: the watcher's follower (publishing to a real nats-server) and `arks_common.kube.mirror`
(the deployer's and the model-loader's pictures)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
from aiohttp import web
from nats.aio.client import Client

from arks_common.bus.jetstream import ensure_stream
from arks_common.events.contract import STREAMS
from arks_common.events.payloads import ObjectKind
from arks_common.kube.client import Kube
from arks_common.kube.credentials import Credentials
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import APPLICATIONS
from arks_common.kube.transport import ApiClient
from arks_common.telemetry.liveness import LIVENESS
from arks_watcher.adapters.follow import Follower
from arks_watcher.core.kinds import WATCHED
from support.http import serving
from support.waiting import eventually

LIST_VERSION = "10"
Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]
Start = Callable[[Kube, asyncio.Event, int, float], Coroutine[Any, Any, None]]
"""The loop under test: (kube, stop, watch timeout, stall limit) -> its run."""


def app(name: str, rv: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": rv}
    return {"apiVersion": "arks.ai/v1", "kind": "ArksApplication", "metadata": meta, "spec": {}}


class ApiServer:
    """Lists one application at LIST_VERSION; answers the n-th watch with `watches[n]` (the last one again once
    they run out), and records when each watch came and the resourceVersion it asked for."""

    def __init__(self, script: Callable[[ApiServer], list[Answer]]) -> None:
        self.watches = script(self)
        self.lists = 0
        self.watched: list[tuple[float, str]] = []
        self.release = asyncio.Event()  # ends the watches `hold` keeps open

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            self.lists += 1
            return web.json_response({"metadata": {"resourceVersion": LIST_VERSION}, "items": [app("a", "9")]})
        self.watched.append((time.monotonic(), request.query.get("resourceVersion", "")))
        return await self.watches[min(len(self.watched), len(self.watches)) - 1](request)

    def gaps(self) -> list[float]:
        return [later[0] - earlier[0] for earlier, later in zip(self.watched, self.watched[1:], strict=False)]

    async def end(self, request: web.Request) -> web.StreamResponse:
        """A watch ended at once, cleanly, without a single event (a proxy's or a load balancer's close)."""
        return web.Response(status=200, content_type="application/json")

    def refuse(self, status: int, **headers: str) -> Answer:
        async def answer(request: web.Request) -> web.StreamResponse:
            body = {"kind": "Status", "code": status, "message": f"refused with {status}"}
            return web.json_response(body, status=status, headers=headers)

        return answer

    def send(self, *events: dict[str, Any]) -> Answer:
        """These events, one a line, then the end of the stream."""

        async def answer(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for event in events:
                await response.write(json.dumps(event).encode() + b"\n")
            await response.write_eof()
            return response

        return answer

    async def hold(self, request: web.Request) -> web.StreamResponse:
        """A watch kept open, silent, until the test is done."""
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await self.release.wait()
        return response


class Picture:
    def replace(self, kind: str, objects: list[dict[str, Any]], list_version: str) -> None:
        pass

    def observe(self, obj: dict[str, Any], deleted: bool = False) -> None:
        pass


@pytest.fixture(params=["watcher", "mirror"])
def loop(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def start(loop: str, nats_client: Client) -> Start:
    if loop == "mirror":
        return lambda kube, stop, timeout, stall: mirror(kube, "app", APPLICATIONS, Picture(), stop, timeout, stall)
    js = nats_client.jetstream(timeout=2)
    for stream in STREAMS:
        await ensure_stream(js, stream)
    watched = WATCHED[ObjectKind.APPLICATION]
    return lambda kube, stop, timeout, stall: Follower(kube, js, watched, 3600, timeout, stall).run(stop)


@pytest.fixture
async def api(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ApiServer, Kube]]:
    server = ApiServer(request.param)
    web_app = web.Application()
    web_app.router.add_route("GET", "/{tail:.*}", server.handle)
    async with serving(web_app, access_log=False) as url:
        kube = Kube(ApiClient(url, ssl.create_default_context(), Credentials(None)), "arks-test")
        try:
            yield server, kube
        finally:
            server.release.set()
            await kube.close()


def watches(script: Callable[[ApiServer], list[Answer]]) -> Any:
    return pytest.mark.parametrize("api", [script], indirect=True, ids=[""])


@watches(lambda s: [s.end])
async def test_a_watch_ended_at_once_without_events_is_not_reopened_at_once(
    api: tuple[ApiServer, Kube], start: Start
) -> None:
    """Reopened at once, it was thousands of watch requests a second until the next resync (a misbehaving
    proxy or aggregator): each one counts as a failure, and the next waits a growing pause."""
    server, kube = api
    stop = asyncio.Event()
    running = asyncio.create_task(start(kube, stop, 300, 300.0))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert 2 <= len(server.watched) <= 5, f"{len(server.watched)} watch requests in 1.5 s"
    assert {rv for _, rv in server.watched} == {LIST_VERSION}, "each from the list's version"
    assert server.lists == 1, "the version is still good: no relist"


@watches(lambda s: [s.refuse(429, **{"Retry-After": "2"}), s.hold])
async def test_a_429_waits_the_servers_retry_after_and_watches_on_from_the_same_version_and_stays_live(
    api: tuple[ApiServer, Kube], start: Start
) -> None:
    """The API server's priority and fairness asks for a pause with Retry-After: it was 0.5 s and a relist of
    everything. The wait the server asked for is no stall (it beats past the loop's own limit), while a watch
    that then hangs past the watch timeout is one."""
    server, kube = api
    stop = asyncio.Event()
    timeout, stall = 1, 0.5  # a beat is due within 1.5 s: less than the 2 s the server asks for
    running = asyncio.create_task(start(kube, stop, timeout, stall))
    try:
        await eventually(lambda: len(server.watched) == 1, within=5, what="the first watch")
        await asyncio.sleep(1.8)
        assert LIVENESS.overdue() == [], "waiting out the server's Retry-After is no stall"
        await eventually(lambda: len(server.watched) == 2, within=5, what="the second watch")
        assert server.gaps()[0] >= 1.95, f"the second watch came {server.gaps()[0]:.2f} s after the 429"
        assert server.watched[1][1] == LIST_VERSION
        assert server.lists == 1, "a 429 says nothing of the version: no relist"
        await eventually(lambda: LIVENESS.overdue() != [], within=5, what="a hung watch to fail liveness")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


@watches(
    lambda s: [
        s.send(
            {"type": "MODIFIED", "object": app("a", "11")},
            {"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "internal error"}},
        ),
        s.hold,
    ]
)
async def test_a_watch_broken_by_a_server_error_resumes_from_the_last_version_it_saw_without_a_relist(
    api: tuple[ApiServer, Kube], start: Start
) -> None:
    server, kube = api
    stop = asyncio.Event()
    running = asyncio.create_task(start(kube, stop, 300, 300.0))
    try:
        await eventually(lambda: len(server.watched) == 2, within=5, what="the second watch")
        assert [rv for _, rv in server.watched] == [LIST_VERSION, "11"]
        assert server.lists == 1
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
