"""One reconcile of one application: read the latest state, apply the plan, write the status if it changed.

Level-triggered: whatever woke it (a plan, a change of the application or its LeaderWorkerSet, a scale
decision), it reads everything afresh, so a lost, duplicated or reordered event cannot leave things wrong.
Reconciles of one application are serialized; different applications run concurrently.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from arks_common.api.application import ArksApplicationSpec, ConditionType
from arks_common.api.conditions import condition, condition_dict, set_condition
from arks_common.api.meta import Condition
from arks_common.bus.consumer import TemporaryError
from arks_common.kube.client import Invalid, Kube
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, FINALIZER, LEADERWORKERSETS, SERVICES, service_name
from arks_common.kube.status import set_finalizer
from arks_common.telemetry.logging import get_logger
from arks_deployer.adapters.bus_state import BusState
from arks_deployer.core.apply import LWS_KIND, desired_objects, desired_replicas, is_current
from arks_deployer.core.status import DeployerStatus, Observed, compute

log = get_logger(__name__)
CONTROLLER = "deployer"


class Reconciler:
    def __init__(self, kube: Kube, state: BusState, events: EventRecorder) -> None:
        self._kube = kube
        self._state = state
        self._events = events
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def reconcile(self, namespace: str, name: str) -> None:
        async with reconciling(CONTROLLER), self._locks[(namespace, name)]:
            await self._reconcile(namespace, name)

    async def _reconcile(self, namespace: str, name: str) -> None:
        app = await self._kube.get(APPLICATIONS, namespace, name)
        if app is None:
            return  # gone: owner references let the garbage collector remove what it owned
        meta = app["metadata"]
        if meta.get("deletionTimestamp"):
            await self._finalize(app)
            return
        if FINALIZER not in (meta.get("finalizers") or []):
            await set_finalizer(self._kube, APPLICATIONS, app, FINALIZER, present=True)
        uid, generation = meta["uid"], int(meta.get("generation", 1))
        plan = await self._state.plan(namespace, name, uid)
        lws = await self._kube.get(LEADERWORKERSETS, namespace, name)
        loaded = _condition(app, ConditionType.LOADED.value)
        apply_error = None
        plan_ok = plan is not None and plan.generation >= generation and plan.precheck.passed
        if plan is not None and plan_ok and (loaded.get("status") == "True" or lws is not None):
            try:
                lws = await self._apply_plan(app, plan, lws)
            except Invalid as exc:
                apply_error = str(exc)
        observed = Observed(
            generation=generation,
            loaded_status=loaded.get("status"),
            loaded_reason=str(loaded.get("reason", "")),
            loaded_message=str(loaded.get("message", "")),
            plan=plan,
            lws=lws,
            apply_error=apply_error,
        )
        await self._write_status(app, compute(name, observed))

    async def _apply_plan(self, app: dict[str, Any], plan: Any, lws: dict[str, Any] | None) -> dict[str, Any] | None:
        meta = app["metadata"]
        try:
            spec = ArksApplicationSpec.model_validate(app.get("spec", {}))
        except ValidationError:
            return lws  # the planner reports an invalid spec; there is nothing to apply
        decision = await self._state.scale(meta["namespace"], meta["name"], meta["uid"])
        replicas = desired_replicas(spec, decision)
        for obj in desired_objects(app, plan, replicas):
            is_lws = obj["kind"] == LWS_KIND
            live = lws if is_lws else await self._kube.get(SERVICES, meta["namespace"], service_name(meta["name"]))
            if is_current(obj, live):
                continue
            applied = await self._kube.apply(LEADERWORKERSETS if is_lws else SERVICES, obj)
            verb = "Created" if live is None else "Updated"
            if is_lws and live is not None and (live.get("spec") or {}).get("replicas") != replicas:
                verb = "Scaled"
            what = f"{obj['kind']} {obj['metadata']['name']}"
            detail = f" to {replicas} replica groups" if verb == "Scaled" else f" (plan {plan.plan_hash[:12]})"
            await self._events.record(app, "Normal", verb, f"{verb} {what}{detail}")
            if is_lws:
                lws = applied
        return lws

    async def _write_status(self, app: dict[str, Any], status: DeployerStatus) -> None:
        meta = app["metadata"]
        current = app.get("status") or {}
        now = datetime.now(UTC).replace(microsecond=0)
        ready = condition(
            ConditionType.READY.value,
            status.ready,
            status.ready_reason.value,
            status.ready_message,
            status.observed_generation or int(meta.get("generation", 0)),
        )
        existing = [Condition.model_validate(c) for c in current.get("conditions", []) if c.get("type") == ready.type]
        conditions, cond_changed = set_condition(existing, ready, now)
        fields = status.to_k8s()
        fields_changed = any(current.get(k) != v for k, v in fields.items())
        if not (cond_changed or fields_changed):
            return
        await self._kube.apply_status(
            APPLICATIONS, meta["namespace"], meta["name"], {**fields, "conditions": [condition_dict(conditions[0])]}
        )
        if current.get("phase") != status.phase.value:
            warning = status.phase.value == "Failed"
            await self._events.record(
                app,
                "Warning" if warning else "Normal",
                status.ready_reason.value if warning else status.phase.value,
                status.ready_message,
            )
        log.info(
            "status written",
            application=f"{meta['namespace']}/{meta['name']}",
            phase=status.phase.value,
            ready=status.ready,
            reason=status.ready_reason.value,
        )

    async def _finalize(self, app: dict[str, Any]) -> None:
        """Deletes what the application owns, waits until it is gone, then lets the application go."""
        meta = app["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return
        await self._kube.delete(LEADERWORKERSETS, namespace, name)
        await self._kube.delete(SERVICES, namespace, service_name(name))
        if await self._kube.get(LEADERWORKERSETS, namespace, name) is not None:
            raise TemporaryError(f"waiting for LeaderWorkerSet {namespace}/{name} to be deleted", delay_seconds=1.0)
        await self._events.record(app, "Normal", "Deleted", f"Deleted LeaderWorkerSet {name} and its Service")
        await set_finalizer(self._kube, APPLICATIONS, app, FINALIZER, present=False)


def _condition(app: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (app.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}
