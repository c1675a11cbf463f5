"""The newest copy of each object a consumer was told of: by the bus (an event carries the object's full state)
or by its own writes (an apply answers with the object as written). Pure: no I/O.

A consumer that keeps such a copy need not GET the object before each reconcile: every later change of the
object reaches it as another event, which triggers another reconcile with that newer copy (the bus carries the
news, the copy is the truth as of that news). The copy is trusted only while that holds:

- a copy is replaced only by a newer one (a larger resourceVersion: etcd's revision, an integer in every
  Kubernetes release; a version that is not an integer makes the copy unusable, so the caller GETs);
- a copy kept before this replica last took over a partition is not used (`epoch`): another replica may have
  seen newer changes of it while this one did not hold the partition;
- an undecodable stub (the watcher publishes one for an object too deep or too large) is never a copy;
- a copy is kept without what no consumer reads (managedFields, kubectl's last-applied-configuration, which
  repeats the spec): a write's answer carries both;
- at most `limit` copies and `budget_bytes` of them (their JSON size) are kept, least recently used out, and
  none larger than `max_copy_bytes` (a spec can be as large as the API server takes): a miss only costs a GET.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import msgspec

from arks_common.kube.decoding import undecodable

Obj = dict[str, Any]
LIMIT = 1024
BUDGET_BYTES = 16 * 1024 * 1024
"""All copies together (JSON size; Python's own objects take a few times that): bounded whatever the specs hold."""
MAX_COPY_BYTES = 256 * 1024
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def kept(obj: Obj) -> Obj:
    """`obj` without its managedFields and kubectl's last-applied-configuration (shallow: the rest is shared)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict) and LAST_APPLIED in annotations:
        meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return {**obj, "metadata": meta}


def version_of(obj: Obj) -> int | None:
    """The object's resourceVersion as an integer, or None when it has none or it is not one."""
    raw = (obj.get("metadata") or {}).get("resourceVersion")
    return int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() else None


@dataclass(frozen=True)
class _Copy:
    obj: Obj
    version: int
    epoch: int
    size: int


class NewestCopies:
    def __init__(
        self, limit: int = LIMIT, budget_bytes: int = BUDGET_BYTES, max_copy_bytes: int = MAX_COPY_BYTES
    ) -> None:
        self._limit = limit
        self._budget = budget_bytes
        self._max_copy = max_copy_bytes
        self._copies: OrderedDict[Hashable, _Copy] = OrderedDict()
        self._bytes = 0

    def offer(self, key: Hashable, obj: Obj, epoch: int) -> None:
        """Keeps `obj` if it is newer than the copy held (or none is held). A copy that cannot be compared
        (no integer resourceVersion, a stub) or one too large to keep drops the one held: the next use reads the
        object afresh."""
        version = version_of(obj)
        if version is None or undecodable(obj) is not None:
            self.forget(key)
            return
        held = self._copies.get(key)
        if held is not None and held.epoch == epoch and held.version >= version:
            self._copies.move_to_end(key)
            return
        copy = kept(obj)
        size = len(msgspec.json.encode(copy))
        self.forget(key)
        if size > self._max_copy:
            return
        self._copies[key] = _Copy(copy, version, epoch, size)
        self._bytes += size
        while len(self._copies) > self._limit or self._bytes > self._budget:
            _, evicted = self._copies.popitem(last=False)
            self._bytes -= evicted.size

    def get(self, key: Hashable, epoch: int) -> Obj | None:
        """The copy to act on, or None: read the object from the API server (and offer what it answers)."""
        held = self._copies.get(key)
        if held is None or held.epoch != epoch:
            return None
        self._copies.move_to_end(key)
        return held.obj

    def forget(self, key: Hashable) -> None:
        held = self._copies.pop(key, None)
        if held is not None:
            self._bytes -= held.size

    @property
    def bytes(self) -> int:
        """The JSON size of the copies held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._copies)
