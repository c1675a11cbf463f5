"""The HTTP endpoint every service exposes: `/metrics` (Prometheus), `/healthz` (alive: no loop stalled, see
`liveness`), `/readyz` (ready)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from arks_common.telemetry.liveness import LIVENESS, Liveness


def build_app(is_ready: Callable[[], bool], liveness: Liveness = LIVENESS) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        stalled = liveness.overdue()
        if stalled:
            return web.Response(status=503, text="stalled: " + "; ".join(map(str, stalled)))
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if is_ready() else web.Response(status=503, text="not ready")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_http(host: str, port: int, is_ready: Callable[[], bool]) -> web.AppRunner:
    """Starts the endpoint; the caller awaits `runner.cleanup()` on shutdown."""
    runner = web.AppRunner(build_app(is_ready), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
