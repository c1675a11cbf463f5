"""List, then watch with bookmarks, relisting on 410 Gone and every resync period; publish each change, many
at once but each object's in order (`OrderedPipeline`).

Publishing retries until JetStream acknowledges, so a change is never dropped while NATS is away; the
dedup id makes the retries (and other watcher replicas) harmless. A publish that has not gone through for the
stall limit fails liveness, so the watcher is restarted and relists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import nats.errors
from nats.js import JetStreamContext

from arks_common.bus.jetstream import publish
from arks_common.bus.pipeline import OrderedPipeline
from arks_common.events.contract import OBJECTS, Service
from arks_common.kube.client import Gone, Kube, KubeError
from arks_common.kube.decoding import stub, undecodable
from arks_common.stopping import sleep_unless
from arks_common.telemetry.liveness import LIVENESS
from arks_common.telemetry.logging import get_logger
from arks_watcher.core.changes import change_of, is_news, key_of, remembered, vanished
from arks_watcher.core.kinds import Watched
from arks_watcher.metrics import WATCH_EVENTS, WATCH_RESTARTS

log = get_logger(__name__)
TOO_LARGE = "the object is larger than a bus message may be (NATS max_payload); read it from the API server"
PUBLISH_WINDOW = 128
"""Publishes in flight at once (one object's in order): a burst is bounded by the bus, not by round trips."""
PIPELINE_DRAIN_SECONDS = 1.0
"""At a stop, how long publishes in flight may still finish. Short: a successor's first list republishes
everything anyway, and a publish to a NATS that went away waits out its whole ack timeout."""


class Follower:
    def __init__(
        self,
        kube: Kube,
        js: JetStreamContext,
        watched: Watched,
        resync_seconds: float,
        watch_timeout: int,
        stall_seconds: float = 300.0,
    ) -> None:
        self._kube = kube
        self._js = js
        self._watched = watched
        self._resync = resync_seconds
        self._watch_timeout = watch_timeout
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        self._pipeline = OrderedPipeline(PUBLISH_WINDOW)
        self._log = log.bind(kind=watched.kind.value)
        self._loop = f"follower {watched.kind.value}"
        # a quiet watch is ended by the server after watch_timeout: a beat is due by then, plus the stall limit
        self._beat_within = watch_timeout + stall_seconds

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._run(stop)
        finally:
            LIVENESS.forget(self._loop)
            try:  # what is in flight goes out (a send gives up once stop is set and the bus fails it)
                await asyncio.wait_for(self._pipeline.drain(), PIPELINE_DRAIN_SECONDS)
            except (TimeoutError, nats.errors.Error):
                await self._pipeline.cancel()

    def _beat(self) -> None:
        LIVENESS.beat(self._loop, self._beat_within)

    async def _run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            self._beat()  # a failing list or watch is retried: an API server away is not a stall of ours
            try:
                await self._list_and_watch(stop)
                backoff = 0.5
            except Gone:
                self._log.info("watch expired; relisting")
            except KubeError as exc:
                self._log.warning("list/watch failed; retrying", error=str(exc), delay=backoff)
                WATCH_RESTARTS.labels(self._watched.kind.value, "error").inc()
                await sleep_unless(stop, backoff)
                backoff = min(backoff * 2, 30)

    async def _list_and_watch(self, stop: asyncio.Event) -> None:
        res, selector = self._watched.resource, self._watched.label_selector
        # page by page: a relist of thousands of objects never holds them all (the watcher's peak memory)
        before, self._known = self._known, {}
        rv, count, changed = "", 0, 0
        try:
            async for page, page_version in self._kube.list_pages(res, label_selector=selector, stubs=True):
                rv = page_version
                for obj in page:
                    key = key_of(obj)
                    count += 1
                    if is_news(before.get(key), obj):
                        changed += 1
                        await self._publish(obj, deleted=False, stop=stop)
                    else:
                        self._known[key] = before[key]
            for obj in vanished(before, set(self._known)):
                await self._publish(obj, deleted=True, stop=stop)
        except BaseException:
            # a relist cut short (a later page refused, an expired continue token, a stop): what it did not reach
            # is still known as before, so the next relist still tells what vanished meanwhile (a vanished
            # object already told again is the same event: its dedup id drops it)
            for key, last in before.items():
                self._known.setdefault(key, last)
            raise
        self._log.info("listed", count=count, changed=changed, resource_version=rv)
        resync_at = time.monotonic() + self._resync
        while not stop.is_set() and time.monotonic() < resync_at:
            self._beat()
            stream = self._kube.watch(res, rv, self._watch_timeout, selector)
            watch_task = asyncio.ensure_future(self._consume(stream, stop, rv))
            stop_task = asyncio.ensure_future(stop.wait())
            try:
                done, _ = await asyncio.wait(
                    {watch_task, stop_task},
                    timeout=max(0.0, resync_at - time.monotonic()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for task in (watch_task, stop_task):
                    task.cancel()
                await asyncio.gather(watch_task, stop_task, return_exceptions=True)
                await stream.aclose()
            if watch_task in done and watch_task.exception() is None:
                rv = watch_task.result()
                WATCH_RESTARTS.labels(self._watched.kind.value, "timeout").inc()
            elif watch_task in done:
                raise watch_task.exception()  # type: ignore[misc]
        WATCH_RESTARTS.labels(self._watched.kind.value, "resync").inc()

    async def _consume(
        self, stream: AsyncGenerator[tuple[str, dict[str, Any]], None], stop: asyncio.Event, rv: str
    ) -> str:
        """Publishes watch events until the server ends the watch; returns the last resourceVersion seen (`rv`, the
        one it started from, when it ended before any event: "" would ask for the newest state and skip the gap)."""
        async for event_type, obj in stream:
            rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
            self._beat()
            if event_type == "BOOKMARK":
                continue
            await self._publish(obj, deleted=event_type == "DELETED", stop=stop)
        return rv

    async def _publish(self, obj: dict[str, Any], deleted: bool, stop: asyncio.Event) -> None:
        if not obj.get("metadata", {}).get("name"):
            self._log.error("watch gave an object without a name; skipped", object=str(obj)[:300])
            return
        reason = undecodable(obj)
        if reason is not None:  # consumers read the object themselves and report it
            self._log.warning(
                "object too deep to carry; its event names it only", name=obj["metadata"]["name"], reason=reason
            )
        await self._pipeline.submit(key_of(obj), lambda: self._send(obj, deleted, stop))
        # remembered once its publish is queued: a wait for a slot cut short (the resync's deadline, a stop)
        # leaves it unknown, so the next relist tells it
        if deleted:
            self._known.pop(key_of(obj), None)
        else:
            self._known[key_of(obj)] = remembered(obj)

    async def _send(self, obj: dict[str, Any], deleted: bool, stop: asyncio.Event) -> None:
        change = change_of(self._watched.kind, obj, deleted)
        delay = 0.2
        while True:
            try:
                await publish(self._js, OBJECTS, change.subject, change.msg_id, Service.WATCHER.value, change.payload)
                WATCH_EVENTS.labels(self._watched.kind.value, "deleted" if deleted else "changed").inc()
                self._beat()
                return
            except nats.errors.MaxPayloadError:
                # Too large for the bus: the event carries the object's identity (and status) only, and
                # consumers read the rest from the API server. Never retried as it is: that would stall all.
                slim = change.payload.object or {}
                if undecodable(slim) is not None and "status" not in slim:
                    self._log.error("object too large even as a stub; not published", name=change.payload.ref.name)
                    return
                smaller = stub(obj, TOO_LARGE)
                if undecodable(slim) is not None:
                    smaller.pop("status", None)
                self._log.warning("object too large to carry; its event names it only", name=change.payload.ref.name)
                change = change_of(self._watched.kind, smaller, deleted)
                WATCH_EVENTS.labels(self._watched.kind.value, "too_large").inc()
            except (nats.errors.Error, TimeoutError) as exc:
                if stop.is_set():
                    raise
                self._log.warning("publish failed; retrying", subject=change.subject, error=str(exc))
                await sleep_unless(stop, delay)
                if stop.is_set():
                    raise
                delay = min(delay * 2, 5)
