"""Which applications have a pod being deleted, as the deployer's own watch of their pods shows. Pure.

A LeaderWorkerSet counts a group ready while its pods terminate, and its status does not move until they are gone:
with a runtime draining its requests that is the whole grace period, while the Service's endpoints have dropped
the pod at once. In a rollout the deployer looks at the pods itself (`core.pods`), but nothing of the application's
changes when a pod of a steady one is evicted, its node drained, or the pod deleted by hand. This index, fed by a
list+watch of the pods that carry the application label, tells when a pod of an application starts terminating and
when the application no longer has one (`changed`; the deployer merges an application's news while a reconcile of
it waits, and leaves it alone while its events look at its pods anyway), and whether it has one (`any`). It keeps
the names of terminating pods only; a listed pod that is not terminating is kept as nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from arks_common.conventions import LABEL_APPLICATION

Changed = Callable[[str, str], None]
"""Told (namespace, application) when a pod of the application starts terminating, or it no longer has one."""


_NOTHING: dict[str, Any] = {}


def trim_pod(pod: dict[str, Any]) -> dict[str, Any]:
    """What the index reads of a listed pod: a list of thousands keeps no more (of a pod not terminating, nothing:
    the index keeps terminating pods only)."""
    meta = pod.get("metadata") or {}
    if not meta.get("deletionTimestamp"):
        return _NOTHING
    kept = {k: meta[k] for k in ("namespace", "name", "deletionTimestamp") if k in meta}
    application = (meta.get("labels") or {}).get(LABEL_APPLICATION)
    if application is not None:
        kept["labels"] = {LABEL_APPLICATION: application}
    return {"metadata": kept}


def _key(pod: dict[str, Any]) -> tuple[tuple[str, str], str, bool] | None:
    meta = pod.get("metadata") or {}
    application = (meta.get("labels") or {}).get(LABEL_APPLICATION)
    namespace, name = meta.get("namespace"), meta.get("name")
    if not (isinstance(application, str) and isinstance(namespace, str) and isinstance(name, str)):
        return None
    return (namespace, application), name, bool(meta.get("deletionTimestamp"))


class TerminatingPods:
    def __init__(self, changed: Changed | None = None) -> None:
        self._changed = changed
        self._going: dict[tuple[str, str], set[str]] = {}

    def replace(self, kind: str, objects: list[dict[str, Any]], list_version: str) -> None:
        """A fresh list of the pods: it becomes the truth; an application with a pod terminating that was not, or
        with none left, is told (a watch that broke may have missed it)."""
        before, self._going = self._going, {}
        for pod in objects:
            found = _key(pod)
            if found is not None and found[2]:
                self._going.setdefault(found[0], set()).add(found[1])
        for key in before.keys() - self._going.keys():
            self._tell(key)
        for key, names in self._going.items():
            if names - before.get(key, set()):
                self._tell(key)

    def observe(self, obj: dict[str, Any], deleted: bool = False) -> None:
        found = _key(obj)
        if found is None:
            return
        key, name, terminating = found
        names = self._going.get(key)
        if deleted or not terminating:
            if names is not None and name in names:
                names.discard(name)
                if not names:
                    del self._going[key]
                    self._tell(key)
            return
        if names is None:
            self._going[key] = {name}
            self._tell(key)
        elif name not in names:  # another group's pod may be going: its set still counts that group ready
            names.add(name)
            self._tell(key)

    def any(self, namespace: str, application: str) -> bool:
        return (namespace, application) in self._going

    def _tell(self, key: tuple[str, str]) -> None:
        if self._changed is not None:
            self._changed(*key)
