"""Publishing many changes at once while each object's changes keep their order.

A publisher that awaits every JetStream acknowledgement before sending the next is bounded by one round trip
per event. Here up to `window` publishes are in flight; a publish for a key starts only after the previous one
for the same key has finished, so one object's events are stored in the order they came (its retries included).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class OrderedPipeline:
    def __init__(self, window: int = 128) -> None:
        self._window = window
        self._slots = asyncio.Semaphore(window)
        self._last: dict[Hashable, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def submit(self, key: Hashable, send: Callable[[], Awaitable[None]]) -> None:
        """Waits for a free slot, then starts `send` after the key's previous send. A failure of an earlier
        send is raised here (and by `drain`): the caller stops, as it would have with a sequential publish."""
        self._raise_failure()
        await self._slots.acquire()
        task = asyncio.create_task(self._after(self._last.get(key), send))
        self._last[key] = task
        self._running.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    async def room(self) -> int:
        """Waits until at least one slot is free; how many are."""
        while len(self._running) >= self._window:
            await asyncio.wait(set(self._running), return_when=asyncio.FIRST_COMPLETED)
        return self._window - len(self._running)

    async def drain(self) -> None:
        """Waits until everything submitted has been sent."""
        while self._running:
            await asyncio.wait(set(self._running))
        self._raise_failure()

    async def cancel(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    @staticmethod
    async def _after(previous: asyncio.Task[None] | None, send: Callable[[], Awaitable[None]]) -> None:
        if previous is not None:
            await asyncio.wait({previous})  # its outcome is its own; our cancellation still reaches us
        await send()

    def _finished(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._slots.release()
        self._running.discard(task)
        if self._last.get(key) is task:
            del self._last[key]
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
