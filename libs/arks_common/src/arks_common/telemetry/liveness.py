"""Liveness from real progress: every long-running loop (a consumer's fetch-and-handle cycle, a watcher's
follower) beats when it completes a cycle and says by when the next beat is due. `/healthz` fails, naming the
loop, once a beat is overdue, so Kubernetes restarts a service that is stuck (a handler that never returns, a
publish that never goes through) instead of leaving it answering "ok" while nothing moves.

A loop that ends (the service stops) or never started is not watched. Process-wide, like the Prometheus
registry: the loops and the HTTP endpoint meet here without being passed to each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Overdue:
    loop: str
    silent_seconds: float
    limit_seconds: float

    def __str__(self) -> str:
        return f"{self.loop}: no progress for {self.silent_seconds:.0f} s (limit {self.limit_seconds:.0f} s)"


class Liveness:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[str, tuple[float, float]] = {}  # loop -> (last beat, next beat due by)
        self._lock = threading.Lock()  # /healthz may be read from another thread than the loops' event loop

    def beat(self, loop: str, within: float) -> None:
        """`loop` made progress now; it promises its next beat within `within` seconds. A longer promise made
        before stands: a loop that pauses for a while (a server's Retry-After) says so, and a beat of the work it
        left running meanwhile (a publish) does not take that back."""
        with self._lock:
            now = self._clock()
            _, due = self._due.get(loop, (now, now))
            self._due[loop] = (now, max(due, now + within))

    def forget(self, loop: str) -> None:
        with self._lock:
            self._due.pop(loop, None)

    def overdue(self) -> list[Overdue]:
        now = self._clock()
        with self._lock:
            due = dict(self._due)
        return [Overdue(loop, now - last, by - last) for loop, (last, by) in sorted(due.items()) if now > by]


LIVENESS = Liveness()
