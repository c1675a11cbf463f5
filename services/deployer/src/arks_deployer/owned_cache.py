"""Keeps `OwnedIndex` current: one list+watch per kind a plan may hold, selected by the application label."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter

from arks_common.conventions import LABEL_APPLICATION
from arks_common.kube.client import Kube
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import Resource
from arks_deployer.core.owned_index import OwnedIndex, application_to_restore, trimmed

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


Gone = Callable[[str, str], None]
"""Told (namespace, application) when a watch reports an owned object deleted that no event may tell of."""


class _Index:
    """The index as the watches feed it, telling `gone` of a deletion no event may report (`application_to_restore`),
    after the index dropped the object."""

    def __init__(self, index: OwnedIndex, gone: Gone | None) -> None:
        self._index = index
        self._gone = gone

    def replace(self, kind: str, objects: list[dict[str, Any]], list_version: str) -> None:
        for obj in self._index.replace(kind, objects, list_version):  # deleted while the watch was away
            self._tell(obj)

    def observe(self, obj: dict[str, Any], deleted: bool = False) -> None:
        self._index.observe(obj, deleted)
        if deleted:
            self._tell(obj)

    def _tell(self, deleted: dict[str, Any]) -> None:
        application = application_to_restore(deleted) if self._gone is not None else None
        if application is not None and self._gone is not None:
            self._gone(str((deleted.get("metadata") or {}).get("namespace", "")), application)


class OwnedCache:
    def __init__(
        self,
        kube: Kube,
        kinds: dict[str, Resource],
        watch_timeout: int,
        stall_seconds: float,
        gone: Gone | None = None,
    ) -> None:
        self.index = OwnedIndex()
        self._kube = kube
        self._kinds = kinds
        self._watch_timeout = watch_timeout
        self._stall = stall_seconds
        self._fed = _Index(self.index, gone)

    def ready(self) -> bool:
        return self.index.listed(set(self._kinds))

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(
            *(
                mirror(
                    self._kube,
                    kind,
                    res,
                    self._fed,
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
