"""Waiting that a shutdown cuts short."""

from __future__ import annotations

import asyncio
import contextlib


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps `seconds`, or less when `stop` is set meanwhile (a loop's pause must not delay a shutdown)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
