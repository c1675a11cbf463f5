"""Which live backend pods of a namespace must gain or lose an ArksEndpoint's member label (spec.applications).
Pure.

smg 1.13.0 discovers backends by equal labels only (`--selector key=value ...`), so "these applications" cannot
be a selector of its own. The deployer puts `endpoint.arks.ai/<endpoint>: "true"` on the backend pods of the
listed applications and takes it off the others; the router's selector includes it. Labels on live pods change
no template, so editing the list restarts nothing. A pod created since (a new replica group, a restart) gains it
at the next reconcile of the endpoint, which its application's status change brings; until then it is simply not
a backend of this endpoint.
"""

from __future__ import annotations

from typing import Any

from arks_common.conventions import LABEL_APPLICATION, endpoint_member_label

Obj = dict[str, Any]


def member_label_changes(endpoint: str, members: set[str], pods: list[Obj]) -> dict[str, str | None]:
    """Pod name -> the member label's new value (`"true"`, or None to remove it) for every backend pod whose
    label is not what `members` (the application names behind the endpoint) says. Pods being deleted are left."""
    key = endpoint_member_label(endpoint)
    changes: dict[str, str | None] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        labels = meta.get("labels") or {}
        wanted = labels.get(LABEL_APPLICATION) in members
        has = labels.get(key) == "true"
        if wanted != has:
            changes[str(meta.get("name"))] = "true" if wanted else None
    return changes
