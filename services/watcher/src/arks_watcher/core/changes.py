"""Turns a watched object into its change event: subject, dedup id and payload. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arks_common.events.contract import object_msg_id, object_subject
from arks_common.events.payloads import ObjectChanged, ObjectKind, ObjectRef


@dataclass(frozen=True)
class Change:
    subject: str
    msg_id: str
    payload: ObjectChanged


def trim(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without managedFields: bulky bookkeeping no consumer reads."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def change_of(kind: ObjectKind, obj: dict[str, Any], deleted: bool) -> Change:
    meta = obj.get("metadata", {})
    ref = ObjectRef(kind=kind, namespace=meta.get("namespace", ""), name=meta.get("name", ""), uid=meta.get("uid", ""))
    rv = str(meta.get("resourceVersion", ""))
    payload = ObjectChanged(
        ref=ref,
        resource_version=rv,
        generation=int(meta.get("generation", 0) or 0),
        deleted=deleted,
        object=trim(obj),
    )
    return Change(object_subject(ref), object_msg_id(ref, rv, deleted), payload)


def key_of(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


REMEMBERED_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "labels",
    "ownerReferences",
    "deletionTimestamp",
)
"""What consumers read of a deletion the watcher announces itself (an object gone while its watch was away): who
it was, and what leads to its application (labels, owner). Not annotations, which can hold a whole spec
(`kubectl apply`'s last-applied-configuration)."""


def remembered(obj: dict[str, Any]) -> dict[str, Any]:
    """What the watcher keeps of a published object: enough to announce its deletion and to know its version,
    not its spec and status (memory grows with the number of objects, not with their size)."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in REMEMBERED_METADATA if k in meta}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept}


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def is_news(known: dict[str, Any] | None, listed: dict[str, Any]) -> bool:
    """Whether a listed object is new, or at another version than the one we published."""
    return known is None or _version(known) != _version(listed) or not _version(listed)


def vanished(known: dict[tuple[str, str], dict[str, Any]], present: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Objects we knew that a fresh list no longer has: deleted while our watch was away."""
    return [obj for key, obj in known.items() if key not in present]
