"""A test's own small HTTP server (aiohttp) on a free local port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serving(app: web.Application, access_log: bool = True) -> AsyncIterator[str]:
    """Serves `app` on 127.0.0.1 at a port the system picks; yields its base URL (`http://127.0.0.1:PORT`) and
    stops it on the way out."""
    runner = web.AppRunner(app) if access_log else web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
