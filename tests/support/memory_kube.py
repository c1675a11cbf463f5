"""An in-memory stand-in for `arks_common.kube.client.Kube`, just the verbs the model-loader's shell uses, for unit
tests of what it does to a cluster (which objects it creates, deletes and writes). Not a model of the API server:
no admission, no garbage collection; a test sets `refuse` (`refuse_get`) to make a create (a get) fail as the server
would."""

from __future__ import annotations

import builtins
import copy
import itertools
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from arks_common.kube.client import Conflict, Kube, KubeError, NotFound
from arks_common.kube.events import EventRecorder
from arks_common.kube.resources import Resource

Key = tuple[str, str, str]
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryKube:
    field_manager = "arks-model-loader"

    def __init__(self) -> None:
        self.store: dict[Key, dict[str, Any]] = {}
        self.refuse: dict[str, KubeError] = {}
        """plural -> the error a create of that kind raises."""
        self.refuse_get: dict[str, KubeError] = {}
        """plural -> the error a get of that kind raises (a 403 of a role without the rule)."""
        self.refuse_list: dict[str, KubeError] = {}
        """plural -> the error a list of that kind raises."""
        self.refuse_patch: dict[str, KubeError] = {}
        """plural -> the error a merge patch of that kind raises."""
        self.calls: list[tuple[str, str, str]] = []
        self._counter = itertools.count(1)

    def as_kube(self) -> Kube:
        return cast(Kube, self)

    def put(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Stores `obj` as the API server would: a uid, a new resourceVersion, a creation time."""
        obj = copy.deepcopy(obj)
        n = next(self._counter)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{n}")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", (_EPOCH + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"))
        meta["resourceVersion"] = str(n)
        obj.setdefault("kind", res.kind)
        obj.setdefault("apiVersion", res.api_version)
        self.store[(res.plural, meta["namespace"], meta["name"])] = obj
        return copy.deepcopy(obj)

    def objects(self, res: Resource) -> list[dict[str, Any]]:
        return [obj for (plural, _, _), obj in self.store.items() if plural == res.plural]

    def edit(self, res: Resource, namespace: str, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        obj = self.store[(res.plural, namespace, name)]
        change(obj)
        obj["metadata"]["resourceVersion"] = str(next(self._counter))

    async def get(self, res: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls.append(("get", res.plural, name))
        if res.plural in self.refuse_get:
            raise self.refuse_get[res.plural]
        obj = self.store.get((res.plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def create(self, res: Resource, namespace: str, obj: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        self.calls.append(("create", res.plural, obj["metadata"]["name"]))
        if res.plural in self.refuse:
            raise self.refuse[res.plural]
        if (res.plural, namespace, obj["metadata"]["name"]) in self.store:
            raise Conflict(f"{res.kind} {obj['metadata']['name']} already exists", 409)
        return self.put(res, {**obj, "metadata": {**obj["metadata"], "namespace": namespace}})

    async def list(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None, **_: Any
    ) -> tuple[list[dict[str, Any]], str]:
        if res.plural in self.refuse_list:
            raise self.refuse_list[res.plural]
        wanted = dict(term.split("=", 1) for term in label_selector.split(",")) if label_selector else {}
        found = [
            copy.deepcopy(obj)
            for (plural, ns, _), obj in self.store.items()
            if plural == res.plural
            and namespace in (None, ns)
            and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]
        return found, "1"

    async def list_pages(
        self, res: Resource, namespace: str | None = None, label_selector: str | None = None, **_: Any
    ) -> AsyncGenerator[tuple[builtins.list[dict[str, Any]], str], None]:
        """`list` as one page; each call is recorded (what a reconcile asks of the API server)."""
        self.calls.append(("list", res.plural, ""))
        yield await self.list(res, namespace, label_selector)

    async def merge_patch(self, res: Resource, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Only what the model-loader patches: spec fields."""
        self.calls.append(("patch", res.plural, name))
        if res.plural in self.refuse_patch:
            raise self.refuse_patch[res.plural]
        current = self.store.get((res.plural, namespace, name))
        if current is None:
            raise NotFound(f"{res.kind} {name} not found", 404)
        current.setdefault("spec", {}).update(patch.get("spec") or {})
        current["metadata"]["resourceVersion"] = str(next(self._counter))
        return copy.deepcopy(current)

    async def list_packed(self, res: Resource, namespace: str | None = None, **_: Any) -> tuple[Any, str]:
        return await self.list(res, namespace)

    async def delete(
        self, res: Resource, namespace: str, name: str, propagation: str = "Background", uid: str | None = None
    ) -> bool:
        self.calls.append(("delete", res.plural, name))
        return self.store.pop((res.plural, namespace, name), None) is not None

    async def apply(self, res: Resource, obj: dict[str, Any], force: bool = True) -> dict[str, Any]:
        """Only what the model-loader applies: finalizers (every one is the applier's: one left out goes, and an
        object being deleted goes with its last) and spec fields."""
        meta = obj["metadata"]
        key = (res.plural, meta["namespace"], meta["name"])
        current = self.store.get(key)
        if current is None:
            raise NotFound(f"{res.kind} {meta['name']} not found", 404)
        current["metadata"]["finalizers"] = list(meta.get("finalizers") or [])
        if not current["metadata"]["finalizers"] and current["metadata"].get("deletionTimestamp"):
            del self.store[key]
            return copy.deepcopy(current)
        for field in ("annotations", "labels"):
            if field in meta:
                current["metadata"].setdefault(field, {}).update(meta[field])
        if "spec" in obj:
            current.setdefault("spec", {}).update(obj["spec"])
        current["metadata"]["resourceVersion"] = str(next(self._counter))
        return copy.deepcopy(current)

    async def apply_status(
        self, res: Resource, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        """The service owns the whole status it applies: what it leaves out goes (server-side apply). A
        `resource_version` is a precondition, as the API server takes it (tests/e2e/test_kube_client.py)."""
        self.calls.append(("apply_status", res.plural, name))
        current = self.store.get((res.plural, namespace, name))
        if current is None:
            raise NotFound(f"{res.kind} {name} not found", 404)
        if resource_version and resource_version != current["metadata"].get("resourceVersion"):
            raise Conflict(f"Operation cannot be fulfilled on {res.plural} {name!r}: the object has been modified", 409)
        kept = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or []}
        kept.update({c["type"]: c for c in status.get("conditions") or []})
        current["status"] = {**copy.deepcopy(status), "conditions": list(kept.values())}
        current["metadata"]["resourceVersion"] = str(next(self._counter))
        return copy.deepcopy(current)


class MemoryEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def as_recorder(self) -> EventRecorder:
        return cast(EventRecorder, self)

    async def record(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> bool:
        self.recorded.append((type_, reason, message))
        return True
