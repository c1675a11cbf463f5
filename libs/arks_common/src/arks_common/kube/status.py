"""Writes Arks' own bookkeeping on objects: one status condition, a finalizer — each as a server-side apply
of just that field under the caller's field manager, so services owning other fields are never disturbed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arks_common.api.conditions import condition_dict, is_news, set_condition
from arks_common.api.meta import Condition
from arks_common.kube.client import Kube
from arks_common.kube.resources import Resource


async def apply_condition(
    kube: Kube, res: Resource, obj: dict[str, Any], new: Condition, force: bool = False, precondition: bool = False
) -> bool:
    """Sets the condition `new.type` on `obj` if anything a reader sees changed (or, with `force`, whatever `obj`
    shows: it may be older than a write over it); returns whether its status or reason changed (worth an Event).
    With `precondition`, only onto the version `obj` is: Conflict (409) when the object changed since."""
    existing = [
        Condition.model_validate(c)
        for c in (obj.get("status") or {}).get("conditions") or []
        if c.get("type") == new.type
    ]
    conditions, changed = set_condition(existing, new, datetime.now(UTC).replace(microsecond=0))
    if not changed and not force:
        return False
    meta = obj["metadata"]
    status = {"conditions": [condition_dict(conditions[0])]}
    if precondition:
        version = str(meta.get("resourceVersion") or "")
        await kube.apply_status(res, meta["namespace"], meta["name"], status, resource_version=version)
    else:
        await kube.apply_status(res, meta["namespace"], meta["name"], status)
    return is_news(existing, new)


async def set_finalizer(
    kube: Kube, res: Resource, obj: dict[str, Any], finalizer: str, present: bool
) -> dict[str, Any]:
    """Adds or removes this service's finalizer (server-side apply owns just that list entry); returns the
    object as the API server wrote it."""
    meta = obj["metadata"]
    body: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", res.api_version),
        "kind": obj.get("kind", res.kind),
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    if present:
        body["metadata"]["finalizers"] = [finalizer]
    return await kube.apply(res, body)
