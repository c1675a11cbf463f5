"""Keeps `OwnedIndex` current: one list+watch per kind a plan may hold, selected by the application label."""

from __future__ import annotations

import asyncio

from prometheus_client import Counter

from arks_common.conventions import LABEL_APPLICATION
from arks_common.kube.client import Kube
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import Resource
from arks_deployer.core.owned_index import OwnedIndex, trimmed

OWNED_PAGE = 100
"""Objects per list request of an owned kind: a LeaderWorkerSet with its pod templates is a few KB of JSON and
several times that decoded, so a smaller page than the default 500 keeps a relist's peak low."""

OWNED_READS = Counter(
    "arks_deployer_owned_reads_total",
    "Reads of an application's owned objects, by source: the watch cache, or a list (cache behind or not ready).",
    ["source"],
)
APPLICATION_EVENTS = Counter(
    "arks_deployer_application_events_skipped_total",
    "Application events that woke no reconcile, by why: the echo of this replica's own write.",
    ["why"],
)
APPLICATION_READS = Counter(
    "arks_deployer_application_reads_total",
    "Reads of an application by a reconcile, by source: the newest copy the events and writes told of, or a GET.",
    ["source"],
)

POD_CHECKS = Counter(
    "arks_deployer_pod_checks_total",
    "Dry-run creates of a LeaderWorkerSet's pod before the set is applied, by result: admitted, refused (the "
    "application's status says why), or unchecked (the check could not be made; the set is applied as before).",
    ["result"],
)


class OwnedCache:
    def __init__(self, kube: Kube, kinds: dict[str, Resource], watch_timeout: int, stall_seconds: float) -> None:
        self.index = OwnedIndex()
        self._kube = kube
        self._kinds = kinds
        self._watch_timeout = watch_timeout
        self._stall = stall_seconds

    def ready(self) -> bool:
        return self.index.listed(set(self._kinds))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(
            *(
                mirror(
                    self._kube,
                    kind,
                    res,
                    self.index,
                    stop,
                    self._watch_timeout,
                    self._stall,
                    LABEL_APPLICATION,
                    trim=trimmed,
                    page_size=OWNED_PAGE,
                )
                for kind, res in self._kinds.items()
            )
        )
