"""Keeps `OwnedIndex` current: one list+watch per kind a plan may hold, selected by the application label.

A broken or expired watch relists; a shutdown cuts a quiet watch short. The loop beats liveness at every event,
bookmark and restart, so a watch that hangs gets the deployer restarted instead of serving an old picture.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Counter

from arks_common.conventions import LABEL_APPLICATION
from arks_common.kube.client import Gone, Kube, KubeError
from arks_common.kube.resources import Resource
from arks_common.stopping import sleep_unless, unless_stopped
from arks_common.telemetry.liveness import LIVENESS
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.owned_index import OwnedIndex

log = get_logger(__name__)
OWNED_READS = Counter(
    "arks_deployer_owned_reads_total",
    "Reads of an application's owned objects, by source: the watch cache, or a list (cache behind or not ready).",
    ["source"],
)


class OwnedCache:
    def __init__(self, kube: Kube, kinds: dict[str, Resource], watch_timeout: int, stall_seconds: float) -> None:
        self.index = OwnedIndex()
        self._kube = kube
        self._kinds = kinds
        self._watch_timeout = watch_timeout
        self._beat_within = watch_timeout + stall_seconds

    def ready(self) -> bool:
        return self.index.listed(set(self._kinds))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._follow(kind, res, stop) for kind, res in self._kinds.items()))

    async def _follow(self, kind: str, res: Resource, stop: asyncio.Event) -> None:
        loop = f"owned cache {kind}"
        backoff = 0.5
        try:
            while not stop.is_set():
                LIVENESS.beat(loop, self._beat_within)
                try:
                    items, version = await self._kube.list(res, label_selector=LABEL_APPLICATION, stubs=True)
                    self.index.replace(kind, items, version)
                    while not stop.is_set():
                        finished, ended_at = await unless_stopped(stop, self._watch(res, version, loop))
                        if not finished or ended_at is None:
                            return
                        version = ended_at
                    backoff = 0.5
                except Gone:
                    log.info("owned objects' watch expired; relisting", kind=kind)
                except KubeError as exc:
                    log.warning("owned objects' list/watch failed; retrying", kind=kind, error=str(exc)[:300])
                    await sleep_unless(stop, backoff)
                    backoff = min(backoff * 2, 30)
        finally:
            LIVENESS.forget(loop)

    async def _watch(self, res: Resource, version: str, loop: str) -> str:
        """Applies watch events to the index until the server ends the watch; returns the version reached."""
        async for event, obj in self._kube.watch(res, version, self._watch_timeout, LABEL_APPLICATION):
            version = str((obj.get("metadata") or {}).get("resourceVersion", version))
            LIVENESS.beat(loop, self._beat_within)
            if event != "BOOKMARK":
                self.index.observe(obj, deleted=event == "DELETED")
        return version
