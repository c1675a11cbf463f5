"""Keeps every application's `Loaded` condition true to its model: on an application change, and for every
application of a model when the model changes. Writes only when the condition changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from arks_common.api.application import ConditionType
from arks_common.api.conditions import condition, condition_dict, is_news, set_condition
from arks_common.api.meta import Condition
from arks_common.bus.consumer import TemporaryError
from arks_common.kube.client import Kube, KubeError
from arks_common.kube.events import EventRecorder
from arks_common.kube.resources import APPLICATIONS, MODELS
from arks_common.telemetry.logging import get_logger
from arks_common.telemetry.metrics import RECONCILES
from arks_model_loader.core.loaded import loaded_verdict, model_name_of

log = get_logger(__name__)
CONTROLLER = "loaded-gate"


class LoadedGate:
    def __init__(self, kube: Kube, events: EventRecorder) -> None:
        self._kube = kube
        self._events = events

    async def application_changed(self, namespace: str, name: str) -> None:
        try:
            app = await self._kube.get(APPLICATIONS, namespace, name)
            if app is None or app["metadata"].get("deletionTimestamp"):
                return
            model_name = model_name_of(app)
            if model_name is None:
                return
            model = await self._kube.get(MODELS, namespace, model_name)
            await self._update(app, model_name, model)
        except KubeError as exc:
            RECONCILES.labels(CONTROLLER, "error").inc()
            raise TemporaryError(str(exc)) from exc

    async def model_changed(self, namespace: str, model_name: str) -> None:
        try:
            model = await self._kube.get(MODELS, namespace, model_name)
            apps, _ = await self._kube.list(APPLICATIONS, namespace)
            for app in apps:
                if model_name_of(app) == model_name and not app["metadata"].get("deletionTimestamp"):
                    await self._update(app, model_name, model)
        except KubeError as exc:
            RECONCILES.labels(CONTROLLER, "error").inc()
            raise TemporaryError(str(exc)) from exc

    async def _update(self, app: dict[str, Any], model_name: str, model: dict[str, Any] | None) -> None:
        meta = app["metadata"]
        verdict = loaded_verdict(meta["namespace"], model_name, model)
        new = condition(
            ConditionType.LOADED.value,
            verdict.ok,
            verdict.reason.value,
            verdict.message,
            int(meta.get("generation", 0)),
        )
        existing = [
            Condition.model_validate(c)
            for c in (app.get("status") or {}).get("conditions") or []
            if c.get("type") == new.type
        ]
        conditions, changed = set_condition(existing, new, datetime.now(UTC).replace(microsecond=0))
        RECONCILES.labels(CONTROLLER, "success").inc()
        if not changed:
            return
        await self._kube.apply_status(
            APPLICATIONS, meta["namespace"], meta["name"], {"conditions": [condition_dict(conditions[0])]}
        )
        if is_news(existing, new):
            await self._events.record(app, "Normal" if verdict.ok else "Warning", verdict.reason.value, verdict.message)
        log.info(
            "loaded condition written", application=f"{meta['namespace']}/{meta['name']}", reason=verdict.reason.value
        )
