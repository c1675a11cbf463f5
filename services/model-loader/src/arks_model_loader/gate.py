"""Keeps every application's `Loaded` condition true to its model: on an application change, and for every
application of a model when the model changes. Writes only when the condition changed."""

from __future__ import annotations

from typing import Any

from arks_common.api.application import ConditionType
from arks_common.api.conditions import condition
from arks_common.kube.client import Kube, Undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, MODELS
from arks_common.kube.status import apply_condition
from arks_common.telemetry.logging import get_logger
from arks_model_loader.core.loaded import loaded_verdict, model_name_of

log = get_logger(__name__)
CONTROLLER = "loaded-gate"


class LoadedGate:
    def __init__(self, kube: Kube, events: EventRecorder) -> None:
        self._kube = kube
        self._events = events

    async def application_changed(self, namespace: str, name: str) -> None:
        async with reconciling(CONTROLLER):
            try:
                app = await self._kube.get(APPLICATIONS, namespace, name)
            except Undecodable:
                return  # the planner reports it on the application
            model_name = None if app is None else model_name_of(app)
            if app is None or model_name is None or app["metadata"].get("deletionTimestamp"):
                return
            await self._update(app, model_name, await self._kube.get(MODELS, namespace, model_name))

    async def model_changed(self, namespace: str, model_name: str) -> None:
        async with reconciling(CONTROLLER):
            model = await self._kube.get(MODELS, namespace, model_name)
            apps, _ = await self._kube.list(APPLICATIONS, namespace)
            for app in apps:
                if model_name_of(app) == model_name and not app["metadata"].get("deletionTimestamp"):
                    await self._update(app, model_name, model)

    async def _update(self, app: dict[str, Any], model_name: str, model: dict[str, Any] | None) -> None:
        meta = app["metadata"]
        verdict = loaded_verdict(meta["namespace"], model_name, model)
        generation = int(meta.get("generation", 0))
        new = condition(ConditionType.LOADED.value, verdict.ok, verdict.reason.value, verdict.message, generation)
        if await apply_condition(self._kube, APPLICATIONS, app, new):
            await self._events.record(app, "Normal" if verdict.ok else "Warning", verdict.reason.value, verdict.message)
            log.info(
                "loaded condition changed",
                application=f"{meta['namespace']}/{meta['name']}",
                reason=verdict.reason.value,
            )
