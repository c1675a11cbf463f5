"""List, then watch with bookmarks, relisting on 410 Gone and every resync period (`arks_common.kube.listwatch`
says when a watch is renewed, resumed or given up for a relist); publish each change, many at once but each
object's in order (`OrderedPipeline`).

Publishing retries until JetStream acknowledges, so a change is never dropped while NATS is away; the
dedup id makes the retries (and other watcher replicas) harmless. A publish that has not gone through for the
stall limit fails liveness, so the watcher is restarted and relists.
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
from nats.js import JetStreamContext

from arks_common.bus.jetstream import publish
from arks_common.bus.pipeline import OrderedPipeline
from arks_common.events.contract import OBJECTS, Service
from arks_common.kube.client import Kube
from arks_common.kube.decoding import stub, undecodable
from arks_common.kube.listwatch import list_and_watch
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
        self._stall = stall_seconds
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
        kind = self._watched.kind.value

        async def observe(event: str, obj: dict[str, Any]) -> None:
            await self._publish(obj, deleted=event == "DELETED", stop=stop)

        await list_and_watch(
            self._kube,
            self._watched.resource,
            lambda: self._relist(stop),
            observe,
            stop,
            loop=self._loop,
            log=self._log,
            watch_timeout=self._watch_timeout,
            stall_seconds=self._stall,
            label_selector=self._watched.label_selector,
            resync_seconds=self._resync,
            restarted=lambda cause: WATCH_RESTARTS.labels(kind, cause).inc(),
        )

    async def _relist(self, stop: asyncio.Event) -> str:
        """Lists, publishes what changed since last told and what vanished; returns the list's version."""
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
