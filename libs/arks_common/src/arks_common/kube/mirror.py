"""Keeps an in-memory picture of one kind current: list, then watch from the list's version; an expired watch
relists (`listwatch` says when a watch is renewed, resumed or given up for a relist). What the picture is belongs
to the caller (a `Picture`: replaced by a list, told of each change).

The loop beats liveness at every event, bookmark and restart, so a watch that hangs gets the service restarted
instead of serving an old picture; a shutdown cuts a quiet watch short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from arks_common.kube.client import LIST_PAGE, Kube
from arks_common.kube.listwatch import list_and_watch
from arks_common.kube.resources import Resource
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

    async def relist() -> str:
        items, version = await kube.list(res, None, label_selector, True, trim, page_size)
        picture.replace(kind, items, version)
        return version

    async def observe(event: str, obj: dict[str, Any]) -> None:
        picture.observe(obj, deleted=event == "DELETED")

    await list_and_watch(
        kube,
        res,
        relist,
        observe,
        stop,
        loop=f"mirror {kind}",
        log=log.bind(kind=kind),
        watch_timeout=watch_timeout,
        stall_seconds=stall_seconds,
        label_selector=label_selector,
    )
