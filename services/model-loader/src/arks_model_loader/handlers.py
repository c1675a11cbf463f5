"""Glue from events to the model-loader's work."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind
from arks_model_loader.gate import LoadedGate


class Handlers:
    def __init__(self, gate: LoadedGate) -> None:
        self._gate = gate

    async def on_object(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if not isinstance(data, ObjectChanged):
            return
        if data.ref.kind is ObjectKind.APPLICATION:
            await self._gate.application_changed(data.ref.namespace, data.ref.name)
        elif data.ref.kind is ObjectKind.MODEL:
            await self._gate.model_changed(data.ref.namespace, data.ref.name)
