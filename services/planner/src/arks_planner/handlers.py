"""Glue from events to planning."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind
from arks_planner.planning import Planner


class Handlers:
    def __init__(self, planner: Planner) -> None:
        self._planner = planner

    async def on_object(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if not isinstance(data, ObjectChanged):
            return
        if data.ref.kind is ObjectKind.APPLICATION:
            await self._planner.application_changed(data.ref.namespace, data.ref.name)
        elif data.ref.kind is ObjectKind.MODEL:
            await self._planner.model_changed(data.ref.namespace, data.ref.name)
