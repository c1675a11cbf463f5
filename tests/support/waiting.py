"""Waiting for a condition with a deadline — never sleep-and-hope."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(check: Callable[[], bool], within: float = 20.0, interval: float = 0.05, what: str = "") -> None:
    """Returns once `check()` is true; fails the test when `within` seconds pass first."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(interval)
