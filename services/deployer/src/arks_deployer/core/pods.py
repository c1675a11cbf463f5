"""Why an application's replica groups are not all ready, told from its pods in Kubernetes' words. Pure.

A LeaderWorkerSet counts ready groups and says nothing about the others, and its controller only logs what holds a
pod: a pod no node can take (the scheduler's `0/4 nodes are available: 4 Insufficient nvidia.com/gpu`), a
container that cannot start or keeps crashing, a worker not Ready while its leader is. Pods being deleted are not
counted: they are on their way out, whatever they still say.
"""

from __future__ import annotations

from typing import Any

from arks_common.kube.pods import CANNOT_START, CRASHING, is_ready, why_not_running

NAMED = 3
"""Pods a message names at most."""


def pods_account(pods: list[dict[str, Any]]) -> str | None:
    """The first pod (by name) that cannot be placed or started, in Kubernetes' words, and how many more cannot;
    else the pods not Ready yet; None when every pod is Ready (or there is none)."""
    live = sorted(
        (p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")),
        key=lambda p: str((p.get("metadata") or {}).get("name", "")),
    )
    blocked = [(_name(p), why) for p in live if (why := why_not_running(p, CANNOT_START | CRASHING))]
    if blocked:
        name, why = blocked[0]
        more = len(blocked) - 1
        return f"pod {name}: {why}" + (f" (and {more} more pod{'s' if more > 1 else ''})" if more else "")
    unready = [_name(p) for p in live if not is_ready(p)]
    if not unready:
        return None
    shown = ", ".join(unready[:NAMED]) + (f" and {len(unready) - NAMED} more" if len(unready) > NAMED else "")
    return f"pods not Ready yet: {shown}"


def _name(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))
