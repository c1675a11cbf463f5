"""Which ArksEndpoints each namespace has, as the deployer last saw them. Pure.

An application's change can move the status of every endpoint of its namespace, so the deployer needs their
names on every application event. Listing them each time costs one API request per event; this index answers
from memory. A namespace is listed once, the first time it is asked for (so a restarted deployer, whose durable
consumer does not replay old endpoint events, still knows the endpoints that already exist); after that every
endpoint reconcile, which reads its endpoint afresh, says whether it exists. An endpoint created after the list
but not reconciled yet is missed by an application event in between; its own reconcile, which the watcher's
event for it brings, computes its status from the applications then.
"""

from __future__ import annotations


class EndpointIndex:
    def __init__(self) -> None:
        self._names: dict[str, set[str]] = {}

    def known(self, namespace: str) -> bool:
        """Whether the namespace was listed (its endpoints can be answered from memory)."""
        return namespace in self._names

    def listed(self, namespace: str, names: list[str]) -> None:
        """A fresh list of the namespace's endpoints: it becomes the truth for that namespace."""
        self._names[namespace] = set(names)

    def observe(self, namespace: str, name: str, exists: bool) -> None:
        """A reconcile read the endpoint: it exists (and is not being deleted) or not. Namespaces not listed yet
        are left for their first list, so a partial picture is never taken for the whole."""
        names = self._names.get(namespace)
        if names is None:
            return
        if exists:
            names.add(name)
        else:
            names.discard(name)

    def endpoints(self, namespace: str) -> list[str]:
        """The namespace's endpoints by name ([] for a namespace not listed: ask `known` first)."""
        return sorted(self._names.get(namespace, ()))
