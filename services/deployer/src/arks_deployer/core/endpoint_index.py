"""Which ArksEndpoints each namespace has, as the deployer's own watch of them shows. Pure.

An application's change can move the status of every endpoint of its namespace, so the deployer needs their
names on every application event; listing them each time cost one API request per event. This index, fed by one
list+watch of ArksEndpoints (`arks_common.kube.mirror`), answers from memory. It must come from a watch, not from
the endpoint reconciles this replica runs: with several replicas, an endpoint's events go to whichever replica
holds its partition, so another replica's reconciles would never learn of it.
"""

from __future__ import annotations

from typing import Any


class EndpointIndex:
    def __init__(self) -> None:
        self._names: dict[str, set[str]] = {}
        self._listed = False

    def ready(self) -> bool:
        """Whether a list arrived: before that, an empty answer could be wrong."""
        return self._listed

    def replace(self, kind: str, objects: list[dict[str, Any]], list_version: str) -> None:
        """A fresh list of every endpoint: it becomes the truth."""
        self._names = {}
        for obj in objects:
            self.observe(obj)
        self._listed = True

    def observe(self, obj: dict[str, Any], deleted: bool = False) -> None:
        """A watch event; an endpoint being deleted counts as gone (its router goes with it)."""
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if not namespace or not name:
            return
        names = self._names.setdefault(namespace, set())
        if deleted or meta.get("deletionTimestamp"):
            names.discard(name)
            if not names:
                del self._names[namespace]
        else:
            names.add(name)

    def endpoints(self, namespace: str) -> list[str]:
        return sorted(self._names.get(namespace, ()))
