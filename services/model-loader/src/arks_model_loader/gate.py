"""Keeps every application's `Loaded` condition true to its model: on an application change, and for every
application of a model when the model changes. Writes only when the condition changed.

An application event whose own copy already shows a current condition, or that is from before this replica's
own write of it, costs no request (`loaded_is_current`, the remembered generation); otherwise the copy is judged.
A write made from a model that changed meanwhile could overwrite the newer verdict the model's own event wrote
a moment before, so every write is followed by a second look at the model: if it moved, the verdict is redone.
A new application's model comes from the service's watch of Ready models when that shows it (`core.ready_models`),
else from a read.

A model's change is judged on another replica than the application's own events (the model's partition, not the
application's), from a listed copy that may be older than a verdict the application's replica has written since
(for a newer generation); that replica remembers its write and would skip the event of an older verdict written
over it, leaving `Loaded` for a generation the spec has left (the deployer then holds a new template back). So
those writes go only onto the version judged (its resourceVersion as the precondition): a conflict reads the
application again (one GET per conflict) and judges it anew. An application's own events need none: a newer
version of it is an event on its way to the same replica, judged after this write."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from arks_common.api.application import ConditionType
from arks_common.api.conditions import condition
from arks_common.api.meta import Condition
from arks_common.conventions import is_object_name
from arks_common.kube.client import Conflict, Kube, NotFound, Undecodable
from arks_common.kube.decoding import undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, MODELS
from arks_common.kube.status import apply_condition
from arks_common.telemetry.logging import get_logger
from arks_model_loader.core.loaded import loaded_is_current, loaded_verdict, model_name_of
from arks_model_loader.core.ready_models import ReadyModels
from arks_model_loader.metrics import MODEL_READS

log = get_logger(__name__)
CONTROLLER = "loaded-gate"
RECHECKS = 3
"""Writes in a row from a model that keeps moving; its next event finishes the job after that."""
CONFLICTS = 3
"""Reads of an application again after a write from an older copy was refused; then the bus retries the model's
event (an application changing that fast)."""


class LoadedGate:
    def __init__(
        self,
        kube: Kube,
        events: EventRecorder,
        epoch: Callable[[], int] = lambda: 0,
        ready_models: ReadyModels | None = None,
    ) -> None:
        self._kube = kube
        self._ready_models = ready_models
        self._events = events
        self._epoch = epoch
        self._judged: OrderedDict[str, tuple[int, int]] = OrderedDict()
        """Per application uid: (epoch, generation) of the last `Loaded` condition this replica wrote or found
        current. An event in flight from before that write shows no condition for the generation yet."""

    async def application_changed(self, namespace: str, name: str, seen: dict[str, Any] | None = None) -> bool:
        """`seen`: the application as the event carried it, to skip the reads when its condition is current
        (in the copy, or written here since the copy was taken), and else to judge without a GET: a newer
        version is an event on its way, and the verdict depends only on the model, read afresh.

        False when skipped: the application's spec (so its model) is the one already judged."""
        if seen is not None and (loaded_is_current(seen) or self._judged_here(seen)):
            return False
        async with reconciling(CONTROLLER):
            app: dict[str, Any] | None = seen
            if seen is None or undecodable(seen) is not None:
                try:
                    app = await self._kube.get(APPLICATIONS, namespace, name)
                except Undecodable:
                    return True  # the planner reports it on the application
            model_name = None if app is None else model_name_of(app)
            if app is None or model_name is None or app["metadata"].get("deletionTimestamp"):
                return True
            await self._update(app, model_name, await self._model(namespace, model_name))
            return True

    def may_have_deleting_models(self, namespace: str) -> bool:
        """Whether a model of `namespace` may be waiting for its last user to go (True when no watch tells)."""
        return self._ready_models is None or self._ready_models.may_be_deleting(namespace)

    async def _model(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The model as the watch of Ready models shows it, else as the API server has it (None for a name that
        can name no model: `loaded_verdict` says so)."""
        if not is_object_name(name):
            return None
        model = self._ready_models.get(namespace, name) if self._ready_models is not None else None
        MODEL_READS.labels("watch" if model is not None else "get").inc()
        return model if model is not None else await self._kube.get(MODELS, namespace, name)

    async def model_changed(self, namespace: str, model_name: str) -> None:
        async with reconciling(CONTROLLER):
            model = await self._kube.get(MODELS, namespace, model_name)
            apps, _ = await self._kube.list_packed(APPLICATIONS, namespace)  # never all held decoded at once
            for app in apps:
                if model_name_of(app) == model_name and not app["metadata"].get("deletionTimestamp"):
                    await self._update(app, model_name, model, elsewhere=True)

    async def _update(
        self, app: dict[str, Any], model_name: str, model: dict[str, Any] | None, elsewhere: bool = False
    ) -> None:
        """`elsewhere`: judged on a model's event, so written only onto the version of `app` (see the module)."""
        rechecks = conflicts = 0
        while rechecks < RECHECKS:
            try:
                wrote = await self._write(app, model_name, model, precondition=elsewhere)
            except Conflict:
                conflicts += 1
                if conflicts >= CONFLICTS:
                    raise  # temporary: the model's event is handled again
                fresh = await self._kube.get(APPLICATIONS, app["metadata"]["namespace"], app["metadata"]["name"])
                if fresh is None or fresh["metadata"].get("deletionTimestamp") or model_name_of(fresh) != model_name:
                    return  # gone, or moved to another model: its own event judges it
                app = fresh
                continue
            if not wrote:
                return
            rechecks += 1
            again = await self._kube.get(MODELS, app["metadata"]["namespace"], model_name)
            if _version(again) == _version(model):
                # remembered only now: a verdict from a model that moved (the watch lags) must not let a
                # redelivery of this event skip the application before the second look has confirmed it
                self._remember(app)
                return
            fresh = await self._kube.get(APPLICATIONS, app["metadata"]["namespace"], app["metadata"]["name"])
            if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                return
            app, model = fresh, again

    async def _write(
        self, app: dict[str, Any], model_name: str, model: dict[str, Any] | None, precondition: bool = False
    ) -> bool:
        """Sets the condition from `model`; whether anything was written. With `precondition`, onto the version
        `app` is only (Conflict otherwise)."""
        meta = app["metadata"]
        verdict = loaded_verdict(meta["namespace"], model_name, model)
        generation = int(meta.get("generation", 0))
        new = condition(ConditionType.LOADED.value, verdict.ok, verdict.reason.value, verdict.message, generation)
        if _shows(app, new):
            self._remember(app)
            return False
        try:
            news = await apply_condition(self._kube, APPLICATIONS, app, new, precondition=precondition)
        except NotFound:
            return False  # deleted since the event was published: nothing to gate
        if news:
            await self._events.record(app, "Normal" if verdict.ok else "Warning", verdict.reason.value, verdict.message)
            log.info(
                "loaded condition changed",
                application=f"{meta['namespace']}/{meta['name']}",
                reason=verdict.reason.value,
            )
        return True

    def _judged_here(self, app: dict[str, Any]) -> bool:
        meta = app.get("metadata") or {}
        held = self._judged.get(str(meta.get("uid", "")))
        return held is not None and held == (self._epoch(), meta.get("generation"))

    def _remember(self, app: dict[str, Any]) -> None:
        meta = app["metadata"]
        uid = str(meta.get("uid", ""))
        self._judged[uid] = (self._epoch(), meta.get("generation"))
        self._judged.move_to_end(uid)
        while len(self._judged) > JUDGED_KEPT:
            self._judged.popitem(last=False)


JUDGED_KEPT = 4096
"""Applications whose last judged generation is remembered (least recently used out; a miss costs reads)."""


def _shows(app: dict[str, Any], new: Condition) -> bool:
    """Whether the application already carries `new` as a reader sees it."""
    for cond in (app.get("status") or {}).get("conditions") or []:
        if cond.get("type") == new.type:
            return bool(
                cond.get("status") == new.status.value
                and cond.get("reason") == new.reason
                and cond.get("message") == new.message
                and cond.get("observedGeneration") == new.observed_generation
            )
    return False


def _version(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else str(obj.get("metadata", {}).get("resourceVersion", ""))
