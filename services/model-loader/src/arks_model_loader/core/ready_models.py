"""Which ArksModels are Ready, as the model-loader's own watch shows them: the `Loaded` gate judges a new
application from here instead of reading its model first. Pure (fed by `arks_common.kube.mirror`).

Only what `loaded_verdict` reads of a Ready model is kept (identity, resourceVersion, deletion, status phase), so
thousands of models cost little. A model the picture does not show as Ready is read from the API server as
before: one created a moment ago may not have reached the watch yet, and "not found" or "still loading" must
not be said from an old picture. A Ready model that changed since the watch showed it is caught by the gate's
second look after its write (it compares resourceVersions), as for a read. It also names every model (names
only), for the schedule that reconciles them all.
"""

from __future__ import annotations

from typing import Any

from arks_common.api.model import ModelPhase
from arks_model_loader.core.loaded import describes_its_spec

Obj = dict[str, Any]


class ReadyModels:
    def __init__(self) -> None:
        self._ready: dict[tuple[str, str], Obj] = {}
        self._deleting: set[tuple[str, str]] = set()
        self._known: set[tuple[str, str]] = set()
        """Every model, Ready or not (names only): the schedule that reconciles them all."""
        self._listed = False

    def replace(self, kind: str, objects: list[Obj], list_version: str) -> None:
        """A fresh list of every model: it becomes the truth."""
        self._ready = {}
        self._deleting = set()
        self._known = set()
        for obj in objects:
            self.observe(obj)
        self._listed = True

    def observe(self, obj: Obj, deleted: bool = False) -> None:
        """A watch event."""
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if meta.get("deletionTimestamp") and not deleted:
            self._deleting.add(key)
        else:
            self._deleting.discard(key)
        if deleted:
            self._known.discard(key)
        else:
            self._known.add(key)
        status = obj.get("status")
        phase = status.get("phase") if isinstance(status, dict) else None
        if deleted or meta.get("deletionTimestamp") or phase != ModelPhase.READY.value or not describes_its_spec(obj):
            self._ready.pop(key, None)  # a Ready of an older generation is no Ready: read instead
            return
        self._ready[key] = {
            "metadata": {"namespace": key[0], "name": key[1], "resourceVersion": meta.get("resourceVersion")},
            "status": {"phase": phase},
        }

    def get(self, namespace: str, name: str) -> Obj | None:
        """The model as last watched, when it was Ready; None when unknown or not Ready (read it instead)."""
        return self._ready.get((namespace, name)) if self._listed else None

    def may_be_deleting(self, namespace: str) -> bool:
        """Whether a model of `namespace` may be waiting for its deletion (its last user to go): False only when the
        watch has listed and shows none, so an application's change costs no list of the namespace's models."""
        return not self._listed or any(ns == namespace for ns, _ in self._deleting)

    def known(self) -> list[tuple[str, str]] | None:
        """Every model the watch shows, as (namespace, name); None before the first list (unknown)."""
        return sorted(self._known) if self._listed else None
