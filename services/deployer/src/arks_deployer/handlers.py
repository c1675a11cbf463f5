"""Glue from events to reconciles: every event names an application or an endpoint; the reconcile does the rest."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery, PermanentError, require_named
from arks_common.conventions import LABEL_APPLICATION
from arks_common.events.payloads import (
    EndpointPlanReady,
    Envelope,
    ObjectChanged,
    ObjectKind,
    PlanReady,
    ScaleDecision,
)
from arks_common.kube.resources import LEADERWORKERSETS
from arks_deployer.endpoints import EndpointReconciler
from arks_deployer.reconcile import Reconciler


def application_of(event: ObjectChanged) -> str:
    """The application an owned object belongs to: its label (a role's LeaderWorkerSet is `<app>-<role>`), or
    its own name for objects from before roles were labelled."""
    labels = (event.object.get("metadata") or {}).get("labels") if isinstance(event.object, dict) else None
    name = labels.get(LABEL_APPLICATION) if isinstance(labels, dict) else None
    return name if isinstance(name, str) and name else event.ref.name


class Handlers:
    def __init__(self, reconciler: Reconciler, endpoints: EndpointReconciler) -> None:
        self._reconciler = reconciler
        self._endpoints = endpoints

    async def on_event(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        # last in each branch: while its groups are short of ready or on their way, the message comes back (`Later`)
        carrier = (delivery.subject, delivery.stream_sequence, delivery.attempt)
        if isinstance(data, ObjectChanged | PlanReady | ScaleDecision | EndpointPlanReady):
            require_named(data.ref.namespace, data.ref.name, delivery.subject)
        if isinstance(data, EndpointPlanReady) or (
            isinstance(data, ObjectChanged) and data.ref.kind is ObjectKind.ENDPOINT
        ):
            await self._endpoints.reconcile(data.ref.namespace, data.ref.name)
        elif isinstance(data, PlanReady | ScaleDecision):
            await self._reconciler.reconcile(data.ref.namespace, data.ref.name)
            self._reconciler.look_again(data.ref.namespace, data.ref.name, carrier)
        elif isinstance(data, ObjectChanged) and data.ref.kind is ObjectKind.APPLICATION:
            # a message delivered again (a look at the pods, a retry) brings no copy: its copy is from when it was
            # first published, perhaps of an application deleted since, whose plan it would apply again; the
            # reconcile takes the newest copy this replica holds, or reads it
            app = None if data.deleted or delivery.attempt > 1 else data.object
            await self._reconciler.reconcile(data.ref.namespace, data.ref.name, app=app, trust_copy=not data.deleted)
            await self._endpoints.namespace_changed(data.ref.namespace)
            self._reconciler.look_again(data.ref.namespace, data.ref.name, carrier)
        elif isinstance(data, ObjectChanged) and data.ref.kind is ObjectKind.LEADERWORKERSET:
            seen = (LEADERWORKERSETS.kind, data.ref.namespace, data.ref.name, data.resource_version)
            application = application_of(data)
            await self._reconciler.reconcile(
                data.ref.namespace, application, seen, trust_copy=application == data.ref.name
            )
            self._reconciler.look_again(data.ref.namespace, application, carrier)
        else:
            raise PermanentError(f"the deployer does not handle {type(data).__name__} on {delivery.subject}")
