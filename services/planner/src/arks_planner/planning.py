"""The planner's shell around its pure core: read the application and its model, check, plan, publish the
verdict on `arks.plan.<ns>.<name>`, and keep the `Precheck` condition true to it."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec
from nats.js import JetStreamContext
from pydantic import ValidationError

from arks_common.api.application import ArksApplication, ConditionType
from arks_common.api.conditions import condition
from arks_common.api.model import ArksModel
from arks_common.bus.jetstream import publish
from arks_common.events.contract import PLANS, Service, plan_msg_id
from arks_common.events.payloads import ObjectKind, ObjectRef, PlanReady, PrecheckResult
from arks_common.kube.client import Kube
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, MODELS, NODES
from arks_common.kube.status import apply_condition
from arks_common.telemetry.logging import get_logger
from arks_planner.core.placement import placement_warning, pods_per_group, single_node_claim
from arks_planner.core.plan import build_plan
from arks_planner.core.precheck import LargestNode, parse_application, precheck
from arks_planner.core.profiles import RuntimeProfiles

log = get_logger(__name__)
CONTROLLER = "planner"


def verdict_digest(result: PrecheckResult, plan_hash: str) -> str:
    raw = msgspec.json.encode([result.passed, result.reason, result.message, plan_hash])
    return hashlib.sha256(raw).hexdigest()[:20]


class Planner:
    def __init__(self, kube: Kube, js: JetStreamContext, profiles: RuntimeProfiles, events: EventRecorder) -> None:
        self._kube = kube
        self._js = js
        self._profiles = profiles
        self._events = events

    async def application_changed(self, namespace: str, name: str) -> None:
        async with reconciling(CONTROLLER):
            app = await self._kube.get(APPLICATIONS, namespace, name)
            if app is not None and not app["metadata"].get("deletionTimestamp"):
                await self._plan(app)

    async def model_changed(self, namespace: str, model_name: str) -> None:
        """Re-plans the applications of a model from the list itself: it is as fresh as a GET of each."""
        async with reconciling(CONTROLLER):
            apps, _ = await self._kube.list(APPLICATIONS, namespace)
            for app in apps:
                uses = ((app.get("spec") or {}).get("model") or {}).get("name") == model_name
                if uses and not app["metadata"].get("deletionTimestamp"):
                    await self._plan(app)

    async def _plan(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        parsed = parse_application(raw)
        objects: list[dict[str, Any]] = []
        plan_hash = ""
        warning: str | None = None
        if isinstance(parsed, PrecheckResult):
            result = parsed
        else:
            model = await self._model(parsed)
            largest = await self._largest_node() if model is not None and _held_on_one_node(parsed, model) else None
            result = precheck(parsed, model, self._profiles, largest)
            if result.passed and model is not None:
                plan = build_plan(parsed, model, self._profiles)
                objects, plan_hash = plan.objects, plan.plan_hash
                warning = placement_warning(parsed, model)
        ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])
        generation = int(meta.get("generation", 1))
        verdict = PlanReady(
            ref=ref,
            generation=generation,
            resource_version=str(meta.get("resourceVersion", "")),
            precheck=result,
            plan_hash=plan_hash,
            objects=objects,
        )
        msg_id = plan_msg_id(ref, generation, verdict_digest(result, plan_hash))
        published = await publish(
            self._js, PLANS, PLANS.subject(ref.namespace, ref.name), msg_id, Service.PLANNER.value, verdict
        )
        if published:
            log.info(
                "plan published",
                application=f"{ref.namespace}/{ref.name}",
                generation=generation,
                passed=result.passed,
                reason=result.reason,
                plan_hash=plan_hash[:12],
            )
        await self._write_precheck(raw, result, generation, warning)

    async def _model(self, app: ArksApplication) -> ArksModel | None:
        raw = await self._kube.get(MODELS, app.metadata.namespace, app.spec.model.name)
        if raw is None:
            return None
        try:
            return ArksModel.model_validate(raw)
        except ValidationError:
            log.warning("model does not parse", model=f"{app.metadata.namespace}/{app.spec.model.name}")
            return None

    async def _largest_node(self) -> LargestNode | None:
        """The node with the most allocatable GPUs; asked only for groups held on one node."""
        nodes, _ = await self._kube.list(NODES)
        sized = [(_allocatable_gpus(n), str(n["metadata"]["name"])) for n in nodes]
        gpus, name = max(sized, default=(0, ""))
        return LargestNode(name=name, gpus=gpus) if name else None

    async def _write_precheck(
        self, app: dict[str, Any], result: PrecheckResult, generation: int, warning: str | None
    ) -> None:
        new = condition(ConditionType.PRECHECK.value, result.passed, result.reason, result.message, generation)
        if await apply_condition(self._kube, APPLICATIONS, app, new):
            await self._events.record(app, "Normal" if result.passed else "Warning", result.reason, result.message)
            if warning is not None:
                await self._events.record(app, "Warning", PLACED_ON_ONE_NODE, warning)


PLACED_ON_ONE_NODE = "PlacedOnOneNode"
"""The Event reason when the model's volume holds every pod of an application on one node."""


def _held_on_one_node(app: ArksApplication, model: ArksModel) -> bool:
    return single_node_claim(model) is not None and pods_per_group(app) > 1


def _allocatable_gpus(node: dict[str, Any]) -> int:
    raw = ((node.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0
