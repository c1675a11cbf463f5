"""The list+watch loop of the watcher's followers and of `mirror` (the deployer's and the model-loader's pictures):
list, then watch from the list's version, one watch after another, until a stop; and when to open the next one.

As client-go's reflector does, and for its reasons:
- A watch that delivered events, or that the server ended after a while (its timeout), is renewed at once from
  the version reached.
- A watch that ended within `SHORT_WATCH_SECONDS` without a single event (a proxy or load balancer closing every
  stream, a misbehaving aggregator) is a failure: renewed at once, it was thousands of requests a second.
- After a transient error (no answer, a broken or garbled stream, 429, 5xx) the next watch starts from the last
  version seen, without a relist. That version is still good: one the server no longer has answers 410, which
  relists. And a relist of every object by every service the moment an API server comes back is the load it can
  least take. After `FAILED_WATCHES_BEFORE_RELIST` failed watches in a row it relists anyway: watches that keep
  failing (or ending at once) deliver nothing, and a picture that is never listed again would only age.
- 410 Gone, or any other refusal (403, 404, ...), relists.
Each failure in a row, of a list or a watch, lengthens the pause before the next request (`Backoff`); a watch that
delivers an event, or lasts, resets it. The loop beats liveness at every event and every (re)start, and before a
pause promises its next beat that much later: waiting out a server that is away is not a stall, a hung watch is.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import structlog

from arks_common.kube.client import Gone, Kube, KubeError
from arks_common.kube.resources import Resource
from arks_common.stopping import sleep_unless, unless_stopped
from arks_common.telemetry.liveness import LIVENESS

SHORT_WATCH_SECONDS = 1.0
"""A watch that ends sooner without an event was not a watch (client-go's "very short watch")."""
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 60.0
"""The most of a server's Retry-After a loop waits: beyond it a picture ages more than the server is spared."""
FAILED_WATCHES_BEFORE_RELIST = 5

Relist = Callable[[], Awaitable[str]]
"""Lists the kind afresh and returns the list's resourceVersion; a list cut short raises."""
Observe = Callable[[str, dict[str, Any]], Awaitable[None]]
"""One watch event: its type (ADDED, MODIFIED or DELETED) and its object. Bookmarks are not passed on."""


class Backoff:
    """The pause before the next request after failures in a row: doubling from FIRST_PAUSE_SECONDS up to
    MAX_PAUSE_SECONDS, each drawn between half and all of that (the replicas of a service, and a service's loops,
    do not come back in step), and never shorter than what the server asked for (Retry-After, up to
    MAX_RETRY_AFTER_SECONDS)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self.failures = 0

    def reset(self) -> None:
        self.failures = 0

    def pause(self, retry_after: float | None = None) -> float:
        """One more failure in a row: the seconds to wait before the next request."""
        ceiling = min(FIRST_PAUSE_SECONDS * 2 ** min(self.failures, 16), MAX_PAUSE_SECONDS)
        self.failures += 1
        drawn = self._rng.uniform(ceiling / 2, ceiling)
        return drawn if retry_after is None else max(drawn, min(retry_after, MAX_RETRY_AFTER_SECONDS))


@dataclass
class _Reached:
    """How far one watch got, kept outside it so a watch that breaks still tells: the version of the last event
    handled, or the one it began at ("" would ask for the newest state and skip the gap)."""

    version: str
    events: int = 0


async def list_and_watch(
    kube: Kube,
    res: Resource,
    relist: Relist,
    observe: Observe,
    stop: asyncio.Event,
    *,
    loop: str,
    log: structlog.stdlib.BoundLogger,
    watch_timeout: int,
    stall_seconds: float,
    label_selector: str | None = None,
    resync_seconds: float | None = None,
    restarted: Callable[[str], None] | None = None,
    backoff: Backoff | None = None,
) -> None:
    """Lists `res` (with `relist`) and passes each watch event on to `observe` until `stop` is set; relists every
    `resync_seconds` when given. `loop` names it for liveness; `restarted` is told each restart's cause: timeout
    (a watch renewed), short (a watch that ended at once without events), error (a list or watch that failed),
    expired (410 Gone) or resync."""
    watcher = _Watcher(kube, res, observe, stop, loop, log, watch_timeout, stall_seconds, label_selector, backoff)
    count = restarted or (lambda cause: None)
    try:
        while not stop.is_set():
            watcher.beat()  # a failing list or watch is retried: an API server away is not a stall of ours
            try:
                version = await relist()
                deadline = None if resync_seconds is None else time.monotonic() + resync_seconds
                await watcher.watch_on(version, deadline, count)
                if not stop.is_set():
                    count("resync")
            except Gone as exc:
                pause = watcher.backoff.pause()
                log.info("watch expired; relisting", error=str(exc)[:300], delay=round(pause, 2))
                count("expired")
                await watcher.pause(pause)
            except KubeError as exc:
                pause = watcher.backoff.pause(exc.retry_after)
                log.warning("list/watch failed; relisting", error=str(exc)[:300], delay=round(pause, 2))
                count("error")
                await watcher.pause(pause)
    finally:
        LIVENESS.forget(loop)


class _Watcher:
    def __init__(
        self,
        kube: Kube,
        res: Resource,
        observe: Observe,
        stop: asyncio.Event,
        loop: str,
        log: structlog.stdlib.BoundLogger,
        watch_timeout: int,
        stall_seconds: float,
        label_selector: str | None,
        backoff: Backoff | None,
    ) -> None:
        self._kube = kube
        self._res = res
        self._observe = observe
        self._stop = stop
        self._loop = loop
        self._log = log
        self._timeout = watch_timeout
        self._selector = label_selector
        self.backoff = backoff or Backoff()
        # a quiet watch is ended by the server after watch_timeout: a beat is due by then, plus the stall limit
        self._beat_within = watch_timeout + stall_seconds

    def beat(self, later: float = 0.0) -> None:
        LIVENESS.beat(self._loop, self._beat_within + later)

    async def pause(self, seconds: float) -> None:
        self.beat(later=seconds)
        await sleep_unless(self._stop, seconds)

    async def watch_on(self, version: str, deadline: float | None, count: Callable[[str], None]) -> None:
        """Watches from `version`, one watch after another, until the stop or the deadline; raises what needs a
        relist (410, a refusal, failures in a row)."""
        failed = 0
        while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            self.beat()
            reached = _Reached(version)
            began = time.monotonic()
            ended, error = await self._one(reached, deadline)
            version = reached.version
            if not ended:  # stopped, or the deadline came
                return
            if reached.events or (error is None and time.monotonic() - began >= SHORT_WATCH_SECONDS):
                self.backoff.reset()
                failed = 0
                if error is None:
                    count("timeout")
                    continue
            if error is not None and (isinstance(error, Gone) or not error.outage):
                raise error  # the version is gone, or a refusal a rewatch would only repeat: relist
            failed += 1
            if failed >= FAILED_WATCHES_BEFORE_RELIST:  # watches that deliver nothing: a list at least shows the kind
                raise error or KubeError(f"watch {self._res.plural}: {failed} in a row ended at once without events")
            if error is None:
                pause = self.backoff.pause()
                self._log.warning("watch ended at once without events; watching again", delay=round(pause, 2))
                count("short")
            else:
                pause = self.backoff.pause(error.retry_after)
                self._log.warning(
                    "watch failed; watching again from the last version",
                    error=str(error)[:300],
                    resource_version=version,
                    delay=round(pause, 2),
                )
                count("error")
            await self.pause(pause)

    async def _one(self, reached: _Reached, deadline: float | None) -> tuple[bool, KubeError | None]:
        """One watch: (False, None) when the stop or the deadline cut it short, else (True, the error it ended
        with, None when the server ended it)."""
        give_up = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            finished, _ = await unless_stopped(self._stop, self._events(reached), give_up_after=give_up)
        except TimeoutError:
            return False, None
        except KubeError as exc:
            return True, exc
        return finished, None

    async def _events(self, reached: _Reached) -> None:
        stream = self._kube.watch(self._res, reached.version, self._timeout, self._selector)
        async with aclosing(stream) as events:
            async for kind, obj in events:
                self.beat()
                if kind != "BOOKMARK":
                    await self._observe(kind, obj)
                # after it was handled: a rewatch after an error starts at the last event handled
                reached.version = str((obj.get("metadata") or {}).get("resourceVersion", reached.version))
                reached.events += 1
