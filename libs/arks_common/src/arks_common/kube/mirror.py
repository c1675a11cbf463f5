"""Keeps an in-memory picture of one kind current: list, then watch from the list's version; a broken or expired
watch relists. What the picture is belongs to the caller (a `Picture`: replaced by a list, told of each change).

The loop beats liveness at every event, bookmark and restart, so a watch that hangs gets the service restarted
instead of serving an old picture; a shutdown cuts a quiet watch short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from arks_common.kube.client import LIST_PAGE, Gone, Kube, KubeError
from arks_common.kube.resources import Resource
from arks_common.stopping import sleep_unless, unless_stopped
from arks_common.telemetry.liveness import LIVENESS
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)


class Picture(Protocol):
    def replace(self, kind: str, objects: list[dict[str, Any]], list_version: str) -> None:
        """A fresh list of `kind`: it becomes the truth for that kind."""

    def observe(self, obj: dict[str, Any], deleted: bool = False) -> None:
        """One watch event."""


async def mirror(
    kube: Kube,
    kind: str,
    res: Resource,
    picture: Picture,
    stop: asyncio.Event,
    watch_timeout: int,
    stall_seconds: float,
    label_selector: str | None = None,
    trim: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    page_size: int = LIST_PAGE,
) -> None:
    """Feeds `picture` with `res` (cluster-wide, optionally by label) until `stop` is set. `trim` keeps of each
    listed object what the picture reads, page by page as they arrive: a relist of thousands of large objects
    (a LeaderWorkerSet's pod templates) never holds them all whole at once."""
    loop = f"mirror {kind}"
    beat_within = watch_timeout + stall_seconds
    backoff = 0.5
    try:
        while not stop.is_set():
            LIVENESS.beat(loop, beat_within)
            try:
                items, version = await kube.list(res, None, label_selector, True, trim, page_size)
                picture.replace(kind, items, version)
                del items
                while not stop.is_set():
                    watching = _watch(kube, res, version, picture, watch_timeout, label_selector, loop, beat_within)
                    finished, ended_at = await unless_stopped(stop, watching)
                    if not finished or ended_at is None:
                        return
                    version = ended_at
                backoff = 0.5
            except Gone:
                log.info("watch expired; relisting", kind=kind)
            except KubeError as exc:
                log.warning("list/watch failed; retrying", kind=kind, error=str(exc)[:300])
                await sleep_unless(stop, backoff)
                backoff = min(backoff * 2, 30)
    finally:
        LIVENESS.forget(loop)


async def _watch(
    kube: Kube,
    res: Resource,
    version: str,
    picture: Picture,
    watch_seconds: int,
    label_selector: str | None,
    loop: str,
    beat_within: float,
) -> str:
    """Applies watch events to the picture until the server ends the watch; returns the version reached."""
    async for event, obj in kube.watch(res, version, watch_seconds, label_selector):
        version = str((obj.get("metadata") or {}).get("resourceVersion", version))
        LIVENESS.beat(loop, beat_within)
        if event != "BOOKMARK":
            picture.observe(obj, deleted=event == "DELETED")
    return version
