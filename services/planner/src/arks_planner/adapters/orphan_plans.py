"""The sweep of one plan stream (the applications' or the ArksEndpoints'): the plans it stores, the objects the API
server has, and a purge of the plans of gone objects up to the stream sequence read before the list, so the plan
of an object created since survives. One object's deletion may never be told (deleted while the watcher was
down). It decides nothing else: which plans go is `core.orphans`."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import nats.errors
from nats.js import JetStreamContext

from arks_common.bus.jetstream import purge_subject
from arks_common.bus.plans import stored_keys
from arks_common.events.contract import StreamDecl
from arks_common.kube.client import Kube, KubeError
from arks_common.kube.resources import Resource
from arks_common.telemetry.logging import get_logger
from arks_planner.core.orphans import Key, orphans

log = get_logger(__name__)


class OrphanPlans:
    def __init__(
        self, js: JetStreamContext, kube: Kube, stream: StreamDecl, resource: Resource, what: str, partitions: int
    ) -> None:
        self._js = js
        self._kube = kube
        self._stream = stream
        self._resource = resource
        self._what = what
        """The log field that names an object: `application` or `endpoint`."""
        self._partitions = partitions

    async def stored(self) -> tuple[int, set[Key]]:
        """The stream's last sequence, then every key with a plan: read before the list the purge is judged by."""
        return await stored_keys(self._js, self._stream)

    async def purge(
        self, last_sequence: int, stored: Iterable[Key], live: Iterable[Key], owned: Collection[int] | None = None
    ) -> None:
        """Removes the plans of `stored` keys not `live` (of the `owned` partitions only, unless None), each up to
        `last_sequence`: a plan published after it is of an object the list could not have shown."""
        for namespace, name in orphans(stored, live, owned, self._partitions):
            subject = self._stream.channel.stored(namespace, name)
            try:
                await purge_subject(self._js, self._stream.name, subject, before=last_sequence + 1)
            except nats.errors.Error as exc:
                log.warning("orphan plan not removed", **{self._what: f"{namespace}/{name}"}, error=str(exc)[:300])
            else:
                log.info("orphan plan removed", **{self._what: f"{namespace}/{name}"})

    async def sweep(self, owned: Collection[int]) -> None:
        """On a schedule, for the partitions this replica holds now (none: nothing to do). Failures are logged:
        the next sweep tries again."""
        if not owned:
            return
        try:
            last_sequence, stored = await self.stored()
            if not orphans(stored, (), owned, self._partitions):
                return  # no plan of ours stored: no list needed
            found, _ = await self._kube.list(self._resource, stubs=True, trim=_name_only)
        except (KubeError, nats.errors.Error) as exc:
            log.warning("orphan plans not looked for", stream=self._stream.name, error=str(exc)[:300])
            return
        live = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in found}
        await self.purge(last_sequence, stored, live, owned)


def _name_only(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"metadata": {"namespace": meta["namespace"], "name": meta["name"]}}
