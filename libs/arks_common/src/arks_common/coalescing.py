"""Reconciles of one key run one at a time, and requests that pile up while one runs share the next run.

A reconcile reads everything afresh, so a request is served by any run that *started* after it was made. When
ten events about one application arrive while it is being reconciled, one more run serves all ten instead of
ten runs in a row: a burst costs API requests per application, not per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field


@dataclass
class _Key:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    requested: int = 0
    started_for: int = 0
    """The newest request that a run had already seen when it started."""
    users: int = 0


class Coalescer:
    def __init__(self) -> None:
        self._keys: dict[Hashable, _Key] = {}

    async def run(self, key: Hashable, reconcile: Callable[[], Awaitable[None]]) -> bool:
        """Runs `reconcile` for `key` unless a run that started after this call has finished meanwhile.
        Returns whether this call ran it. A run's error is raised to its own caller only, and the requests it
        would have served run on their own."""
        state = self._keys.setdefault(key, _Key())
        state.requested += 1
        ticket = state.requested
        state.users += 1
        try:
            async with state.lock:
                if state.started_for >= ticket:
                    return False  # a run that started after our request has completed: it read what we'd read
                covered, state.started_for = state.started_for, state.requested
                try:
                    await reconcile()
                except BaseException:
                    state.started_for = covered  # a failed run served no one: those waiting run themselves
                    raise
                return True
        finally:
            state.users -= 1
            if state.users == 0:
                del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)
