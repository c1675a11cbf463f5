"""Glue from events to reconciles: every event names an application; the reconcile does the rest."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery, PermanentError, require_named
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, PlanReady, ScaleDecision
from arks_deployer.reconcile import Reconciler


class Handlers:
    def __init__(self, reconciler: Reconciler) -> None:
        self._reconciler = reconciler

    async def on_event(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if isinstance(data, ObjectChanged | PlanReady | ScaleDecision):
            require_named(data.ref.namespace, data.ref.name, delivery.subject)
        if isinstance(data, PlanReady | ScaleDecision):
            await self._reconciler.reconcile(data.ref.namespace, data.ref.name)
        elif isinstance(data, ObjectChanged) and data.ref.kind in (ObjectKind.APPLICATION, ObjectKind.LEADERWORKERSET):
            # a LeaderWorkerSet carries its application's name
            await self._reconciler.reconcile(data.ref.namespace, data.ref.name)
        else:
            raise PermanentError(f"the deployer does not handle {type(data).__name__} on {delivery.subject}")
