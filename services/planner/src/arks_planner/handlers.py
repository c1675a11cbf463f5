"""Glue from events to planning."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery, require_named
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, PlanReady, ScaleDecision
from arks_planner.endpoints import EndpointPlanner
from arks_planner.planning import Planner


class Handlers:
    def __init__(self, planner: Planner, endpoints: EndpointPlanner) -> None:
        self._planner = planner
        self._endpoints = endpoints

    async def on_object(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if isinstance(data, ObjectChanged | PlanReady | ScaleDecision):
            require_named(data.ref.namespace, data.ref.name, delivery.subject)
        if not isinstance(data, ObjectChanged):
            return
        if data.ref.kind is ObjectKind.APPLICATION:
            seen = None if data.deleted or not data.object else data.object
            await self._planner.application_changed(data.ref.namespace, data.ref.name, data.ref.uid, seen)
        elif data.ref.kind is ObjectKind.MODEL:
            await self._planner.model_changed(data.ref.namespace, data.ref.name)
        elif data.ref.kind is ObjectKind.ENDPOINT:
            await self._endpoints.endpoint_changed(data.ref.namespace, data.ref.name)
