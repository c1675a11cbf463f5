"""Kubernetes Events on Arks objects, so `kubectl describe` tells each step.

A repeated event (same object, reason and message) bumps the count of the existing Event instead of
creating another, as the kubelet's recorder does. Failing to record an event never fails the caller.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from typing import Any, Literal

from arks_common.kube.client import Conflict, Kube, KubeError
from arks_common.kube.resources import EVENTS
from arks_common.telemetry.logging import get_logger

log = get_logger(__name__)

EventType = Literal["Normal", "Warning"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, kube: Kube, component: str) -> None:
        self._kube = kube
        self._component = component
        self._instance = os.environ.get("HOSTNAME", component)

    async def record(self, obj: dict[str, Any], type_: EventType, reason: str, message: str) -> bool:
        """Whether the Event was recorded (created, or its count bumped); a failure is logged, never raised."""
        meta = obj.get("metadata", {})
        namespace, name, uid = meta.get("namespace", "default"), meta.get("name", ""), meta.get("uid", "")
        digest = hashlib.sha256(f"{uid}/{self._component}/{reason}/{message}".encode()).hexdigest()[:12]
        event_name = f"{name}.{digest}"
        now = _now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "name": name,
                "namespace": namespace,
                "uid": uid,
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": f"arks-{self._component}"},
            "reportingComponent": f"arks.ai/{self._component}",
            "reportingInstance": self._instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            try:
                await self._kube.create(EVENTS, namespace, event)
            except Conflict:
                existing = await self._kube.get(EVENTS, namespace, event_name)
                count = int((existing or {}).get("count", 1)) + 1
                await self._kube.merge_patch(EVENTS, namespace, event_name, {"count": count, "lastTimestamp": now})
        except KubeError as exc:
            log.warning("event not recorded", reason=reason, object=f"{namespace}/{name}", error=str(exc))
            return False
        return True
