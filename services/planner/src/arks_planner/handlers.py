"""Glue from events to planning."""

from __future__ import annotations

from arks_common.api.application import ConditionType
from arks_common.bus.consumer import Delivery, require_named
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, PlanReady, ScaleDecision
from arks_planner.planning import Planner


class Handlers:
    def __init__(self, planner: Planner) -> None:
        self._planner = planner

    async def on_object(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if isinstance(data, ObjectChanged | PlanReady | ScaleDecision):
            require_named(data.ref.namespace, data.ref.name, delivery.subject)
        if not isinstance(data, ObjectChanged):
            return
        if data.ref.kind is ObjectKind.APPLICATION:
            if _status_only(data):
                return  # a status write (ours or another service's) changes nothing the plan depends on
            await self._planner.application_changed(data.ref.namespace, data.ref.name)
        elif data.ref.kind is ObjectKind.MODEL:
            await self._planner.model_changed(data.ref.namespace, data.ref.name)


def _status_only(event: ObjectChanged) -> bool:
    """The event's object already has its generation planned and judged, so only its status moved.

    Judged from the event's own copy, which is at least as new as the change it reports; anything unsure
    (no copy, no condition) plans."""
    if event.deleted or not event.object:
        return False
    generation = int((event.object.get("metadata") or {}).get("generation", 0))
    conditions = (event.object.get("status") or {}).get("conditions") or []
    for cond in conditions if isinstance(conditions, list) else []:
        if isinstance(cond, dict) and cond.get("type") == ConditionType.PRECHECK.value:
            return generation > 0 and cond.get("observedGeneration") == generation
    return False
