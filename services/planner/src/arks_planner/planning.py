"""The planner's shell around its pure core: read the application and its model, check, plan, publish the
verdict on `arks.plan.<ns>.<name>`, and keep the `Precheck` condition true to it.

Plans of one application are made one at a time here, and published with a compare-and-set on the subject
(`Nats-Expected-Last-Subject-Sequence`), so across planner replicas too the stream's newest plan is always
the newest verdict: an older generation never replaces a newer one, and A -> B -> A ends on A.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection
from typing import Any

import msgspec
import nats.errors
from nats.js import JetStreamContext
from pydantic import ValidationError

from arks_common.api.application import ArksApplication, ConditionType
from arks_common.api.conditions import condition
from arks_common.api.model import ArksModel
from arks_common.bus.consumer import TemporaryError
from arks_common.bus.jetstream import WrongLastSequence, publish, purge_subject
from arks_common.bus.plans import PUBLISH_ATTEMPTS, newest_plan
from arks_common.events.contract import PLANS, PLANS_STREAM, Service, plan_msg_id
from arks_common.events.partitions import DEFAULT_PARTITIONS
from arks_common.events.payloads import ObjectKind, ObjectRef, PlanReady, PrecheckResult
from arks_common.kube.client import Kube, KubeError, NotFound, Undecodable
from arks_common.kube.decoding import undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, MODELS, NODES
from arks_common.kube.status import apply_condition
from arks_common.stopping import cancel_firmly
from arks_common.telemetry.logging import get_logger
from arks_planner.adapters.orphan_plans import OrphanPlans
from arks_planner.core.placement import placement_warning, pods_per_group, single_node_claim
from arks_planner.core.plan import build_plan
from arks_planner.core.precheck import LargestNode, parse_application, plan_too_large, precheck
from arks_planner.core.profiles import RuntimeProfiles
from arks_planner.core.reasons import PrecheckReason
from arks_planner.core.roles import role_views

log = get_logger(__name__)
CONTROLLER = "planner"


def verdict_digest(result: PrecheckResult, plan_hash: str) -> str:
    raw = msgspec.json.encode([result.passed, result.reason, result.message, plan_hash])
    return hashlib.sha256(raw).hexdigest()[:20]


def inputs_digest(uid: str, generation: int, model_resource_version: str, profiles: str) -> str:
    return hashlib.sha256(f"{uid}/{generation}/{model_resource_version}/{profiles}".encode()).hexdigest()[:20]


class Planner:
    def __init__(
        self,
        kube: Kube,
        js: JetStreamContext,
        profiles: RuntimeProfiles,
        events: EventRecorder,
        epoch: Callable[[], int] = lambda: 0,
        partitions: int = DEFAULT_PARTITIONS,
    ) -> None:
        self._kube = kube
        self._js = js
        self._profiles = profiles
        self._profiles_fingerprint = profiles.fingerprint()
        self._events = events
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._epoch = epoch
        self._orphans = OrphanPlans(js, kube, PLANS_STREAM, APPLICATIONS, "application", partitions)
        self._written: OrderedDict[str, tuple[int, Written]] = OrderedDict()
        """Per application uid: the `Precheck` condition this replica last wrote (or found) for it, and from what;
        kept since its last partition take-over (epoch). An event in flight from before that write shows no
        condition: this memory spares re-reading the application and its model to find the write already made."""

    async def application_changed(
        self, namespace: str, name: str, uid: str = "", seen: dict[str, Any] | None = None
    ) -> None:
        """`uid` is the application the event is about; `seen` its copy (None on delete): when it says this
        generation was judged and the stored plan is that verdict, only the status moved: nothing to do.
        Otherwise the copy is planned as it is (a newer version is an event still on its way, which plans again;
        the plan's compare-and-set and generation check keep an older one from replacing a newer plan); only a
        deletion or a stub (an object the watcher could not carry) is read from the API server."""
        async with reconciling(CONTROLLER), self._locks[(namespace, name)]:
            if seen is not None and await self._already_planned(namespace, name, seen):
                return
            app: dict[str, Any] | None = seen
            if seen is None or undecodable(seen) is not None:
                try:
                    app = await self._kube.get(APPLICATIONS, namespace, name)
                except Undecodable as exc:
                    app = exc.stub  # judged like any spec: a failed Precheck naming the field
            if app is None:
                await self._forget(namespace, name, uid)
            elif not app["metadata"].get("deletionTimestamp"):
                await self._plan(app)

    async def model_changed(self, namespace: str, model_name: str) -> None:
        """Re-plans the applications of a model from the list itself: it is as fresh as a GET of each."""
        async with reconciling(CONTROLLER):
            apps, _ = await self._kube.list_packed(APPLICATIONS, namespace)
            for app in apps:
                uses = ((app.get("spec") or {}).get("model") or {}).get("name") == model_name
                if uses and not app["metadata"].get("deletionTimestamp"):
                    async with self._locks[(namespace, app["metadata"]["name"])]:
                        await self._plan(app)

    async def recheck_all(self) -> bool:
        """Once at start: every application against this planner's profiles. Unchanged inputs cost no write;
        a changed profile (an upgrade, an installation's override) re-plans what it affects. The list is kept
        packed (`Kube.list_packed`): thousands of applications are never held decoded at once. The plans of
        applications deleted while no planner ran are removed, of every partition: this replica's share is not
        known yet (each purge is bounded by the sequence read before the list, so a second replica's is harmless).
        False when the applications could not be listed: the caller tries again (a watcher's resync republishes
        only changed objects, so an unchanged application's next event may never come)."""
        try:
            last_sequence, planned = await self._orphans.stored()
            apps, _ = await self._kube.list_packed(APPLICATIONS, stubs=True)
        except (KubeError, nats.errors.Error) as exc:
            log.warning("start-up re-check not done: applications not listed; tried again", error=str(exc)[:300])
            return False
        listed: set[tuple[str, str]] = set()
        for app in apps:  # each decoded once: named for the sweep and re-checked
            listed.add((app["metadata"]["namespace"], app["metadata"]["name"]))
            await self._recheck(app)
        await self._orphans.purge(last_sequence, planned, listed)  # bounded by the sequence read before the list
        log.info("start-up re-check done", applications=len(apps))
        return True

    async def sweep_orphans(self, owned: Collection[int]) -> None:
        """On a schedule: the plans of applications that no longer exist are removed, as at start, for the
        partitions this replica holds (`owned`). An application's deletion may never be told while this planner
        runs: one without the deployer's finalizer deleted while the watcher was down (a restarted watcher
        remembers nothing to tell gone), or the final delete of one with it when the watcher went down between the
        finalizer's removal and the watch event."""
        await self._orphans.sweep(owned)

    async def _recheck(self, app: dict[str, Any]) -> None:
        meta = app["metadata"]
        if meta.get("deletionTimestamp"):
            return
        try:
            async with reconciling(CONTROLLER), self._locks[(meta["namespace"], meta["name"])]:
                await self._plan(app)
        except (KubeError, TemporaryError, nats.errors.Error) as exc:
            # the application's next event plans it again
            log.warning("start-up re-check failed", application=f"{meta['namespace']}/{meta['name']}", error=str(exc))

    def _remembered(self, uid: str) -> Written | None:
        held = self._written.get(uid)
        return held[1] if held is not None and held[0] == self._epoch() else None

    def _remember(self, uid: str, written: Written) -> None:
        self._written[uid] = (self._epoch(), written)
        self._written.move_to_end(uid)
        while len(self._written) > WRITTEN_KEPT:
            self._written.popitem(last=False)

    async def _already_planned(self, namespace: str, name: str, seen: dict[str, Any]) -> bool:
        meta = seen.get("metadata") or {}
        generation = int(meta.get("generation", 0) or 0)
        written = self._remembered(str(meta.get("uid", "")))
        if generation <= 0 or not (_judged(seen, generation) or (written is not None and written[0] == generation)):
            return False
        _, last = await newest_plan(self._js, namespace, name)
        return (
            last is not None
            and last.ref.uid == meta.get("uid")
            and last.generation == generation
            and (bool(last.roles) or not last.precheck.passed)  # a passed plan from before roles is re-made
        )

    async def _forget(self, namespace: str, name: str, uid: str) -> None:
        """The application `uid` is gone: remove its last plan, but never a plan of a namesake created since
        (another replica may already have planned it) nor one published after this read."""
        sequence, last = await newest_plan(self._js, namespace, name)
        if sequence and (last is None or not uid or last.ref.uid == uid):
            await purge_subject(self._js, PLANS_STREAM.name, PLANS.stored(namespace, name), before=sequence + 1)
            log.info("plan removed", application=f"{namespace}/{name}")

    async def _plan(self, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])
        generation = int(meta.get("generation", 1))
        parsed = parse_application(raw)
        model_raw = None
        # the first round's read of the newest plan goes out alongside the model's: neither depends on the other
        # (the compare-and-set on publishing guards the plan read), and they are the path to a new plan
        first_read = asyncio.ensure_future(newest_plan(self._js, ref.namespace, ref.name))
        try:
            if not isinstance(parsed, PrecheckResult):
                try:
                    model_raw = await self._kube.get(MODELS, ref.namespace, parsed.spec.model.name)
                except Undecodable as exc:
                    parsed = PrecheckResult(passed=False, reason=PrecheckReason.MODEL_UNREADABLE, message=str(exc))
        except BaseException:
            await cancel_firmly(first_read)
            raise
        model_rv = str(((model_raw or {}).get("metadata") or {}).get("resourceVersion", ""))
        inputs = inputs_digest(ref.uid, generation, model_rv, self._profiles_fingerprint)
        too_large: PrecheckResult | None = None
        prewritten = False
        for attempt in range(PUBLISH_ATTEMPTS):
            sequence, last = await (first_read if attempt == 0 else newest_plan(self._js, ref.namespace, ref.name))
            last = last if last is not None and last.ref.uid == ref.uid else None
            if last is not None and last.generation > generation:
                if prewritten:  # lost to a replica that planned a newer generation: its verdict is the truth
                    await self._restore_precheck(ref, last)
                return  # a newer generation is already planned: this read of the application is stale
            if last is not None and last.inputs == inputs and self._precheck_shown(raw, last.precheck, generation):
                return  # nothing this verdict depends on has changed, and the condition already says it
            verdict, warning = await self._verdict(raw, parsed, model_raw, ref, generation, inputs)
            if too_large is not None:
                verdict = msgspec.structs.replace(verdict, precheck=too_large, plan_hash="", objects=[], roles=[])
                warning = None
            if not verdict.precheck.passed:
                # the condition before the plan: the deployer turns a failed plan into phase Failed, and no copy
                # of the application may show Failed without the Precheck condition that says why
                await self._write_precheck(raw, verdict.precheck, generation, warning)
                prewritten = True
            if last is not None and _same_verdict(last, verdict):
                if prewritten and (await newest_plan(self._js, ref.namespace, ref.name))[0] != sequence:
                    continue  # published meanwhile: maybe a newer generation, whose verdict the pre-write hid
                if await self._write_precheck(raw, verdict.precheck, generation, None):
                    await self._newer_wins(ref, generation)
                return
            msg_id = plan_msg_id(ref, generation, verdict_digest(verdict.precheck, verdict.plan_hash), sequence)
            try:
                published = await publish(
                    self._js,
                    PLANS,
                    PLANS.subject(ref.namespace, ref.name),
                    msg_id,
                    Service.PLANNER.value,
                    verdict,
                    after_sequence=sequence,
                )
            except WrongLastSequence:
                continue  # another planner published meanwhile: read its verdict and decide again
            except nats.errors.MaxPayloadError:
                if too_large is not None:
                    raise  # even the refusal does not fit: a bus limit below any sane setting
                too_large = plan_too_large(len(msgspec.json.encode(verdict)), verdict.objects)
                continue
            if published:
                log.info(
                    "plan published",
                    application=f"{ref.namespace}/{ref.name}",
                    generation=generation,
                    passed=verdict.precheck.passed,
                    reason=verdict.precheck.reason,
                    plan_hash=verdict.plan_hash[:12],
                )
            # after a pre-write, written even if this replica remembers writing it: a replica judging an older
            # generation may have written over it since (it then sees this plan and puts it back, or this write does)
            if await self._write_precheck(raw, verdict.precheck, generation, warning, force=prewritten):
                await self._newer_wins(ref, generation)
            return
        raise TemporaryError(f"the plan subject of {ref.namespace}/{ref.name} kept changing while planning it")

    async def _newer_wins(self, ref: ObjectRef, generation: int) -> None:
        """After a condition write for `generation`: a newer generation planned meanwhile (by another replica, which
        may have written its condition just before this write landed) gets its verdict back. Every write, passing or
        not, forced or not: a replica re-planning an older generation for a model change writes late as well."""
        _, newer = await newest_plan(self._js, ref.namespace, ref.name)
        if newer is not None and newer.ref.uid == ref.uid and newer.generation > generation:
            await self._restore_precheck(ref, newer)

    async def _restore_precheck(self, ref: ObjectRef, newest: PlanReady) -> None:
        """Puts back the newest plan's verdict over a condition this replica wrote for an older generation, both read
        fresh (the application, then the plan): a still newer generation is left to the replica that plans it."""
        try:
            fresh = await self._kube.get(APPLICATIONS, ref.namespace, ref.name)
        except Undecodable:
            return  # its own event reports it
        if fresh is None or fresh["metadata"].get("uid") != ref.uid:
            return
        # the plan read again after the application: a re-plan of that same generation (a model change, on another
        # replica) may have been published since the first read, and its verdict is the one to show
        _, latest = await newest_plan(self._js, ref.namespace, ref.name)
        if latest is not None and latest.ref.uid == ref.uid and latest.generation >= newest.generation:
            newest = latest
        if int(fresh["metadata"].get("generation", 1)) == newest.generation:
            await self._write_precheck(fresh, newest.precheck, newest.generation, None)

    async def _verdict(
        self,
        raw: dict[str, Any],
        parsed: ArksApplication | PrecheckResult,
        model_raw: dict[str, Any] | None,
        ref: ObjectRef,
        generation: int,
        inputs: str,
    ) -> tuple[PlanReady, str | None]:
        """Precheck and, when it passes, the plan: the verdict to publish, and a placement warning if any."""
        plan = None
        warning: str | None = None
        if isinstance(parsed, PrecheckResult):
            result = parsed
        else:
            model = _parse_model(model_raw, ref.namespace, parsed.spec.model.name)
            largest = await self._largest_node() if model is not None and _held_on_one_node(parsed, model) else None
            result = precheck(parsed, model, self._profiles, largest)
            if result.passed and model is not None:
                plan = build_plan(parsed, model, self._profiles)
                warning = placement_warning(parsed, model)
        verdict = PlanReady(
            ref=ref,
            generation=generation,
            resource_version=str(raw["metadata"].get("resourceVersion", "")),
            precheck=result,
            plan_hash=plan.plan_hash if plan is not None else "",
            objects=plan.objects if plan is not None else [],
            roles=plan.roles if plan is not None else [],
            inputs=inputs,
        )
        return verdict, warning

    async def _largest_node(self) -> LargestNode | None:
        """The node with the most allocatable GPUs; asked only for groups held on one node."""
        nodes, _ = await self._kube.list(NODES)
        sized = [(_allocatable_gpus(n), str(n["metadata"]["name"])) for n in nodes]
        gpus, name = max(sized, default=(0, ""))
        return LargestNode(name=name, gpus=gpus) if name else None

    async def _write_precheck(
        self, app: dict[str, Any], result: PrecheckResult, generation: int, warning: str | None, force: bool = False
    ) -> bool:
        """Writes the `Precheck` condition unless it is shown already (or `force`). False when nothing went out for
        it: shown by the copy or this replica's memory, or the application gone (True may still mean that the
        copy's condition matched and `apply_condition` sent nothing: then the look after it costs a read only)."""
        uid = str(app["metadata"].get("uid", ""))
        if not force and self._precheck_shown(app, result, generation):
            return False
        new = condition(ConditionType.PRECHECK.value, result.passed, result.reason, result.message, generation)
        try:
            news = await apply_condition(self._kube, APPLICATIONS, app, new, force=force)
        except NotFound:
            return False  # deleted since the event was published: its deletion's event removes the plan
        self._remember(uid, _written(result, generation))
        if news:
            await self._events.record(app, "Normal" if result.passed else "Warning", result.reason, result.message)
            if warning is not None:
                await self._events.record(app, "Warning", PLACED_ON_ONE_NODE, warning)
        return True

    def _precheck_shown(self, app: dict[str, Any], result: PrecheckResult, generation: int) -> bool:
        """The application's `Precheck` condition states `result` for `generation`: its copy says so, or the copy
        has no condition for this generation yet (it is from before the write) and this replica wrote just this
        since its last take-over. A copy that shows a condition for this generation is believed over the memory:
        another replica, re-planning for a model change, may have written since."""
        uid = str(app["metadata"].get("uid", ""))
        if _judged(app, generation):
            shown = _precheck_is(app, result, generation)
            if shown:
                self._remember(uid, _written(result, generation))
            return shown
        return self._remembered(uid) == _written(result, generation)


Written = tuple[int, bool, str, str]
"""A `Precheck` condition as written: generation, passed, reason, message."""
WRITTEN_KEPT = 4096
"""Applications whose last written condition is remembered (least recently used out; a miss costs a write)."""


def _written(result: PrecheckResult, generation: int) -> Written:
    return (generation, result.passed, result.reason, result.message)


PLACED_ON_ONE_NODE = "PlacedOnOneNode"
"""The Event reason when the model's volume holds every pod of an application on one node."""


def _parse_model(raw: dict[str, Any] | None, namespace: str, name: str) -> ArksModel | None:
    if raw is None:
        return None
    try:
        return ArksModel.model_validate(raw)
    except ValidationError:
        log.warning("model does not parse", model=f"{namespace}/{name}")
        return None


def _same_verdict(last: PlanReady, new: PlanReady) -> bool:
    """Same generation and the same outcome: publishing it again would tell nobody anything."""
    return last.generation == new.generation and verdict_digest(last.precheck, last.plan_hash) == verdict_digest(
        new.precheck, new.plan_hash
    )


def _precheck_is(app: dict[str, Any], result: PrecheckResult, generation: int) -> bool:
    """True when the application's `Precheck` condition already states `result` for `generation`."""
    for cond in (app.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ConditionType.PRECHECK.value:
            return (
                int(cond.get("observedGeneration", 0)) == generation
                and cond.get("status") == ("True" if result.passed else "False")
                and cond.get("reason") == result.reason
                and cond.get("message") == result.message
            )
    return False


def _judged(app: dict[str, Any], generation: int) -> bool:
    """The application's `Precheck` condition is about `generation`."""
    for cond in (app.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ConditionType.PRECHECK.value:
            return cond.get("observedGeneration") == generation
    return False


def _held_on_one_node(app: ArksApplication, model: ArksModel) -> bool:
    # each role's groups (a PD application's prefill and decode have their own instanceSpec)
    return single_node_claim(model) is not None and any(pods_per_group(view) > 1 for _, view in role_views(app))


def _allocatable_gpus(node: dict[str, Any]) -> int:
    raw = ((node.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0
