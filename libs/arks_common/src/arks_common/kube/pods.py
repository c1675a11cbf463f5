"""Why a pod does not run, in Kubernetes' own words (the kubelet's waiting reason, the scheduler's verdict). Pure."""

from __future__ import annotations

from typing import Any

CANNOT_START = frozenset(
    {
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "RunContainerError",
    }
)
"""Waiting reasons of a container the kubelet cannot start (Kubernetes' own words, pkg/kubelet): each stays until
someone acts."""

CRASHING = frozenset({"CrashLoopBackOff"})
"""The waiting reason of a container that starts and exits, again and again."""

PART = 500
"""Characters of one pod's message kept: a status quotes several, and each fits its condition."""


def why_not_running(pod: dict[str, Any], reasons: frozenset[str], container: str | None = None) -> str | None:
    """`REASON: message` of a container of `pod` (only `container`, when given) waiting for one of `reasons`, else
    of the scheduler's refusal to place the pod (`Unschedulable: 0/4 nodes are available: ...`); None when the pod
    is starting or running."""
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if (container is None or cs.get("name") == container) and waiting.get("reason") in reasons:
            return f"{waiting['reason']}: {str(waiting.get('message') or '')[:PART]}".rstrip(": ")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return f"{cond.get('reason') or 'Unschedulable'}: {str(cond.get('message') or '')[:PART]}".rstrip(": ")
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    """The pod's Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
