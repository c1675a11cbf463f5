"""Connecting to NATS: reconnect forever, and tell the caller when the connection is closed for good."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client

from arks_common.events.contract import inbox_prefix
from arks_common.settings import CommonSettings
from arks_common.stopping import sleep_unless, unless_stopped
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)


async def connect(settings: CommonSettings, name: str, closed: asyncio.Event, stop: asyncio.Event) -> Client | None:
    """A connection that reconnects without limit; `closed` is set once it will never come back.
    None when `stop` is set before the first connection is made (an attempt under way is cut short)."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    async def on_disconnected() -> None:
        log.warning("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    async def on_closed() -> None:
        log.info("nats connection closed")
        closed.set()

    options: dict[str, Any] = {
        "name": f"arks-{name}",
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 1,
        "connect_timeout": settings.nats_connect_timeout_seconds,
        "allow_reconnect": True,
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
        "closed_cb": on_closed,
        "inbox_prefix": inbox_prefix(name),
    }
    if settings.nats_creds_file:
        options["user_credentials"] = settings.nats_creds_file
    elif settings.nats_user:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password.get_secret_value() if settings.nats_password else ""
    servers = settings.nats_url.split(",")
    delay = 0.5
    deadline = asyncio.get_running_loop().time() + settings.nats_connect_deadline_seconds
    while not stop.is_set():  # the first connection is retried too: NATS may start after us, or be slow to answer
        try:
            # nats.py retries the first connection by itself (max_reconnect_attempts=-1): the deadline is ours.
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            connected, nc = await unless_stopped(stop, nats.connect(servers, **options), give_up_after=left)
        except (nats.errors.Error, OSError, TimeoutError) as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.warning("nats not reachable yet; retrying", error=repr(exc), delay=delay)
            await sleep_unless(stop, delay)
            delay = min(delay * 2, 5.0)
            continue
        if connected:
            return nc
    return None
