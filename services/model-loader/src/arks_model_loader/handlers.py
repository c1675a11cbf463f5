"""Glue from events to the model-loader's two jobs: models (storage, download, status) and the `Loaded` gate."""

from __future__ import annotations

from arks_common.bus.consumer import Delivery, require_named
from arks_common.events.payloads import Envelope, ObjectChanged, ObjectKind, PlanReady, ScaleDecision
from arks_common.kube.resources import LABEL_MODEL
from arks_model_loader.gate import LoadedGate
from arks_model_loader.models import ModelReconciler


class Handlers:
    def __init__(self, models: ModelReconciler, gate: LoadedGate) -> None:
        self._models = models
        self._gate = gate

    async def on_object(self, envelope: Envelope, delivery: Delivery) -> None:
        data = envelope.data
        if isinstance(data, ObjectChanged | PlanReady | ScaleDecision):
            require_named(data.ref.namespace, data.ref.name, delivery.subject)
        if not isinstance(data, ObjectChanged):
            return
        ref = data.ref
        if ref.kind is ObjectKind.APPLICATION:
            judged = await self._gate.application_changed(
                ref.namespace, ref.name, None if data.deleted else data.object
            )
            # an application deleted, or one whose spec changed (it may have moved to another model): a model
            # waiting for its last user to go may now be released (a changed spec lists the models only when the
            # watch of models shows one being deleted in the namespace: a new application costs no list)
            gone = data.deleted or data.object.get("metadata", {}).get("deletionTimestamp")
            if gone or (judged and self._gate.may_have_deleting_models(ref.namespace)):
                await self._models.reconcile_deleting_models(ref.namespace)
        elif ref.kind is ObjectKind.MODEL:
            waits = await self._models.reconcile(ref.namespace, ref.name)
            await self._gate.model_changed(ref.namespace, ref.name)
            if waits:  # last: it sends the message back for later
                self._models.look_again(ref.namespace, ref.name, delivery.stream_sequence, delivery.attempt)
        elif ref.kind in (ObjectKind.JOB, ObjectKind.PVC):
            model = (data.object.get("metadata", {}).get("labels") or {}).get(LABEL_MODEL)
            if model and await self._models.reconcile(ref.namespace, model):
                self._models.look_again(ref.namespace, model, delivery.stream_sequence, delivery.attempt)
