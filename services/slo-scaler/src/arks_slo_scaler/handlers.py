"""Glue from application events to the scaler's registry."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery, require_named
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, PlanReady, ScaleDecision
from arks_slo_scaler.scaling import SloScaler


class Handlers:
    def __init__(self, scaler: SloScaler) -> None:
        self._scaler = scaler

    async def on_object(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if isinstance(data, ObjectChanged | PlanReady | ScaleDecision):
            require_named(data.ref.namespace, data.ref.name, delivery.subject)
        if isinstance(data, ObjectChanged) and data.ref.kind is ObjectKind.APPLICATION:
            self._scaler.application_changed(data.ref.namespace, data.ref.name, data.object, data.deleted)
