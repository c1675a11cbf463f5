"""Why an application's replica groups are not all ready, told from its pods in Kubernetes' words. Pure.

A LeaderWorkerSet counts ready groups and says nothing about the others, and its controller only logs what holds a
pod: a pod no node can take (the scheduler's `0/4 nodes are available: 4 Insufficient nvidia.com/gpu`), a
container that cannot start or keeps crashing, a worker not Ready while its leader is. Pods being deleted are not
counted as blocked or unready: they are on their way out, whatever they still say; they are named as such, and
a group the LeaderWorkerSet counts ready while one of its pods is being deleted is not counted ready.
"""

from __future__ import annotations

from typing import Any

from arks_common.kube.pods import CANNOT_START, CRASHING, is_ready, why_not_running

NAMED = 3
"""Pods a message names at most."""
SET_LABEL = "leaderworkerset.sigs.k8s.io/name"
GROUP_LABEL = "leaderworkerset.sigs.k8s.io/group-index"
WORKER_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
"""The LeaderWorkerSet's labels on every pod: its set, its group, and its place in the group (`0`: the leader)."""


def pods_account(pods: list[dict[str, Any]]) -> str | None:
    """The first pod (by name) that cannot be placed or started, in Kubernetes' words, and how many more cannot;
    else the pods not Ready yet and the pods being deleted; None when every pod is Ready (or there is none)."""
    pods = sorted(pods, key=_name)
    going = [_name(p) for p in pods if (p.get("metadata") or {}).get("deletionTimestamp")]
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    blocked = [(_name(p), why) for p in live if (why := why_not_running(p, CANNOT_START | CRASHING))]
    if blocked:
        name, why = blocked[0]
        more = len(blocked) - 1
        return f"pod {name}: {why}" + (f" (and {more} more pod{'s' if more > 1 else ''})" if more else "")
    unready = [_name(p) for p in live if not is_ready(p)]
    parts = [f"pods not Ready yet: {_names(unready)}"] if unready else []
    parts += [f"pods being deleted: {_names(going)}"] if going else []
    return "; ".join(parts) or None


def going_ready_groups(pods: list[dict[str, Any]]) -> dict[str, int]:
    """Per LeaderWorkerSet (by name), the groups it counts ready while a pod of theirs is being deleted. The set
    counts a group ready when its leader is Running and Ready and every worker is Ready (LWS `updateConditions`),
    also while those pods terminate (a rolling update, a scale down, an eviction), but the Service's endpoints drop a
    terminating pod at once and the runtime is draining: such a group does not serve. A group with a pod not Ready
    the set has already left out; it is not subtracted again."""
    leader_ready: set[tuple[str, str]] = set()
    unready: set[tuple[str, str]] = set()
    going: set[tuple[str, str]] = set()
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        group = (str(labels.get(SET_LABEL, "")), str(labels.get(GROUP_LABEL, "")))
        if not all(group):
            continue
        if meta.get("deletionTimestamp"):
            going.add(group)
        if not is_ready(pod):
            unready.add(group)
        elif labels.get(WORKER_LABEL) == "0" and (pod.get("status") or {}).get("phase") == "Running":
            leader_ready.add(group)
    counts: dict[str, int] = {}
    for name, _ in (going & leader_ready) - unready:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _names(names: list[str]) -> str:
    return ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def _name(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))
