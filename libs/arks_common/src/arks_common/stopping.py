"""Waiting that a shutdown cuts short."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps `seconds`, or less when `stop` is set meanwhile (a loop's pause must not delay a shutdown)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))


async def unless_stopped(
    stop: asyncio.Event, work: Awaitable[T], give_up_after: float | None = None
) -> tuple[bool, T | None]:
    """Awaits `work` unless `stop` is set first, then cancels it: a step that can wait on the network (dialling
    NATS, asking JetStream, a setup call) must not hold a SIGTERM for its whole timeout.
    Returns (True, its result) when it finished, (False, None) when stopped; raises TimeoutError (after
    cancelling it) when `give_up_after` seconds pass first."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, timeout=give_up_after, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        await cancel_firmly(task)
        await asyncio.gather(stopper, return_exceptions=True)
    if not task.cancelled():
        return True, task.result()
    if stop.is_set():
        return False, None
    raise TimeoutError(f"not done within {give_up_after}s")


async def cancel_firmly(task: asyncio.Future[Any], within: float = 2.0, every: float = 0.1) -> None:
    """Cancels `task` and waits for it to end, cancelling again while it runs on: some library code swallows a
    cancellation (nats.py's connect drops one that lands while it closes a failed attempt, and dials again).
    Gives up waiting after `within` seconds; the caller is shutting down anyway."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    if task.done() and not task.cancelled():
        task.exception()  # retrieved: an error of work that was abandoned is not worth a warning at exit


async def until_done(
    stop: asyncio.Event, attempt: Callable[[], Awaitable[bool]], first_pause: float, longest_pause: float
) -> bool:
    """Runs `attempt` until it says it is done (True), pausing between tries (doubling from `first_pause` up to
    `longest_pause`); each try and each pause cut short by `stop`. Returns False when stopped first."""
    pause = first_pause
    while True:
        finished, done = await unless_stopped(stop, attempt())
        if not finished:
            return False
        if done:
            return True
        await sleep_unless(stop, pause)
        if stop.is_set():
            return False
        pause = min(pause * 2, longest_pause)
