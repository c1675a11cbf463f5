"""Total decoding of what the API server sends: no object, however nested, can break a service.

The API server stores objects nested up to 10,000 levels deep in free-form fields (an affinity, a probe), but
Python's C decoders and every recursive step after them (msgspec, deepcopy, pydantic) stop near 1,000 with
RecursionError. So every object is measured once, right after decoding: one nested deeper than MAX_DEPTH
(far beyond any real Kubernetes object) is replaced by a *stub* holding only its identity and status, marked
with UNDECODABLE and the path of the field that goes too deep. Callers that read a stub report it on the
object instead of acting on it.
"""

from __future__ import annotations

import json
import json.scanner
import sys
from typing import Any

MAX_DEPTH = 64
"""Nesting Arks reads (an object is level 1). The deepest real pod template, with managedFields, is ~20."""

UNDECODABLE = "arks.ai/undecodable"
"""The key a stub carries: why the object was not read (the field path and the limit)."""

_DEEP_RECURSION_LIMIT = 60_000
_IDENTITY = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp")


def loads(raw: bytes | str) -> Any:
    """json.loads; for nesting the C decoder refuses, Python's own decoder, whose recursion stays off the C
    stack (CPython 3.11+), with a limit above the API server's 10,000 levels."""
    try:
        return json.loads(raw)
    except RecursionError:
        pass
    decoder = json.JSONDecoder()
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, _DEEP_RECURSION_LIMIT))
    try:
        return decoder.decode(raw if isinstance(raw, str) else raw.decode("utf-8"))
    finally:
        sys.setrecursionlimit(previous)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> str | None:
    """The path of the first container nested deeper than `limit`, or None. Iterative: any depth is safe."""
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            return _describe(path, limit)
        if type(node) is dict:
            stack.extend((v, depth + 1, (*path, str(k))) for k, v in node.items() if type(v) in (dict, list))
        elif type(node) is list:
            stack.extend((v, depth + 1, (*path, f"[{i}]")) for i, v in enumerate(node) if type(v) in (dict, list))
    return None


def _describe(path: tuple[str, ...], limit: int) -> str:
    shown = ".".join(path[:6]).replace(".[", "[")
    return f"{shown}... is nested deeper than {limit} levels, more than Arks reads; flatten this field"


def checked(obj: Any) -> Any:
    """`obj` itself, or its stub when it is nested too deep (non-objects pass unchanged)."""
    if not isinstance(obj, dict):
        return obj
    path = too_deep(obj)
    return obj if path is None else stub(obj, path)


def stub(obj: dict[str, Any], reason: str) -> dict[str, Any]:
    """The object's identity, labels, finalizers and (if shallow enough) status, marked undecodable."""
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    slim: dict[str, Any] = {k: meta[k] for k in _IDENTITY if k in meta and not isinstance(meta[k], dict | list)}
    for key in ("labels", "finalizers"):
        if too_deep(meta.get(key), 2) is None and key in meta:
            slim[key] = meta[key]
    out: dict[str, Any] = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": slim}
    status = obj.get("status")
    if isinstance(status, dict) and too_deep(status, MAX_DEPTH - 1) is None:
        out["status"] = status
    out[UNDECODABLE] = reason[:500]
    return out


def undecodable(obj: dict[str, Any]) -> str | None:
    """Why `obj` is a stub, or None for a real object."""
    reason = obj.get(UNDECODABLE)
    return str(reason) if reason is not None else None
