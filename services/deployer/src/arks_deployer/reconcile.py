"""One reconcile of one application: read the latest state, diff the newest plan against what the cluster
holds, apply what differs, prune what is no longer planned, write the status if it changed.

Level-triggered: whatever woke it (a plan, a change of the application or of an object it owns, a scale
decision), it acts on the newest state it knows — the application (spec, the `Precheck` verdict, the
slo-scaler's durable decision in its status: the newest copy its events and its own writes told of, any later
change being another event on its way here, else a GET), the newest plan, the owned objects by label (from the
deployer's own watch cache once it holds the change that woke it, else listed) — so a lost, duplicated or
reordered event cannot leave things wrong. Reconciles of one application are serialized, and the events that
arrive while one runs share the next run (`Coalescer`); different applications run concurrently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext

from arks_common.api.application import ConditionType
from arks_common.api.conditions import condition, condition_dict, set_condition
from arks_common.api.meta import Condition
from arks_common.bus.consumer import Later, TemporaryError
from arks_common.bus.plans import newest_plan
from arks_common.coalescing import Coalescer
from arks_common.conventions import FINALIZER, LABEL_APPLICATION, LABEL_COMPONENT, is_owned_by, owned_selector
from arks_common.events.payloads import PlanReady
from arks_common.kube.client import Kube, KubeError, NotFound, Undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.newest import NewestCopies, version_of
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import APPLICATIONS, OWNED_KINDS, PODS
from arks_common.kube.status import set_finalizer
from arks_common.stopping import cancel_firmly
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.desired import LWS_KIND, BadPlan, Desired, desired_objects, name_of, role_replicas
from arks_deployer.core.diff import (
    Diff,
    Verb,
    created_beside_sets,
    diff,
    held_scales,
    key_of,
    live_replicas,
    plan_hash_of,
    waits_for_model,
)
from arks_deployer.core.news import Step, phase_is_news, step_events
from arks_deployer.core.pod_checks import pods_to_check
from arks_deployer.core.pods import going_ready_groups, pods_account
from arks_deployer.core.refusals import ApplyProblem, ProblemKind, classify, held_by_others
from arks_deployer.core.status import (
    FIRST_PHASE_GRACE_SECONDS,
    DeployerStatus,
    Observed,
    RoleObserved,
    Verdict,
    compute,
    first_phase_waits,
    others_part,
)
from arks_deployer.owned_cache import APPLICATION_EVENTS, APPLICATION_READS, OWNED_READS, OwnedCache
from arks_deployer.pod_checker import PodChecker

log = get_logger(__name__)
CONTROLLER = "deployer"
Obj = dict[str, Any]
HELD_KEPT = 4096
"""Brand-new applications whose held-back phase is remembered at once (oldest out)."""
ECHOES_KEPT = 4096
"""Versions of applications this replica wrote whose event has not come back yet (oldest out: a lost one only
costs a reconcile)."""
COME_BACK_MARGIN_SECONDS = 0.1
Seen = tuple[str, str, str, str]
"""(kind, namespace, name, resourceVersion) of a change."""
Carrier = tuple[str, int, int]
"""(subject, stream sequence, delivery attempt) of the message a reconcile serves."""
LOOKS = 6
"""Looks at the pods of an application short of ready groups or on its way, after its last event (2, 4, 8, 16, 30
and 30 s on: about 90 s): below the consumers' `max_deliver` (8), so the looks end quietly, not as a dead letter."""
LOOK_CAP_SECONDS = 30.0
LOOKS_KEPT = 4096


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        js: JetStreamContext,
        events: EventRecorder,
        cache: OwnedCache | None = None,
        epoch: Callable[[], int] = lambda: 0,
        pods_going: Callable[[str, str], bool] = lambda namespace, name: False,
    ) -> None:
        self._kube = kube
        self._pods_going = pods_going
        """Whether a pod of the application is being deleted, by the deployer's watch of the pods."""
        self._js = js
        self._events = events
        self._coalescer = Coalescer()
        self._pod_checker = PodChecker(kube)
        self._cache = cache
        self._apps = NewestCopies()
        """The newest copy of each application this replica was told of (its events, its own writes)."""
        self._epoch = epoch
        self._must_see: dict[tuple[str, str], set[Seen]] = {}
        """Per application: changes of owned objects that woke it and that the cache has not shown yet."""
        self._echoes: OrderedDict[tuple[str, str, int], int] = OrderedDict()
        """(namespace, name, resourceVersion) of this replica's own writes of an application -> the epoch they were
        written in: their events are echoes, not news (`_is_echo`)."""
        self._finalizing: dict[tuple[str, str], tuple[str, asyncio.Task[Obj]]] = {}
        """Finalizer writes in flight, by application (with its uid): a reconcile that holds its phase back leaves its
        write running, and the next reconcile waits for that write instead of making a second."""
        self._unsettled: OrderedDict[tuple[str, str], tuple[str, int, int] | None] = OrderedDict()
        """Applications whose last reconcile found groups unsettled (`DeployerStatus.unsettled`) -> the message that
        looks at their pods again, by subject and stream sequence (None until one does)."""
        self._held: OrderedDict[tuple[str, str], float] = OrderedDict()
        """Brand-new applications whose first (waiting) phase is held back (`first_phase_waits`): when first seen
        (monotonic clock), oldest first."""

    async def close(self) -> None:
        """On shutdown: the finalizer writes held-back reconciles left in flight, and the pods' dry runs, are
        cancelled (a cancelled finalizer write is made again by the next reconcile, on whichever replica)."""
        running = [task for _, task in self._finalizing.values() if not task.done()]
        await asyncio.gather(*(cancel_firmly(task) for task in running), self._pod_checker.close())

    async def reconcile(
        self, namespace: str, name: str, seen: Seen | None = None, app: Obj | None = None, trust_copy: bool = True
    ) -> None:
        """`seen`: the owned object's change that woke this reconcile; the reconcile reads the owned objects from
        the cache only once the cache holds that version (or a newer one), else from the API server.
        `app`: the application as its event carried it. `trust_copy`: False when the event that woke us is keyed
        by another name (a PD role's LeaderWorkerSet is named after its role and may hash to a partition this
        replica holds without holding the application's, so its copy may be old) or tells of a deletion: the
        application is read afresh."""
        if seen is None and app is not None and trust_copy and self._is_echo(namespace, name, app):
            APPLICATION_EVENTS.labels("echo").inc()
            return
        if seen is not None and self._cache is not None:
            self._must_see.setdefault((namespace, name), set()).add(seen)
        if app is not None:
            self._apps.offer((namespace, name), app, self._epoch())
        if not trust_copy:
            self._apps.forget((namespace, name))

        async def run() -> None:
            async with reconciling(CONTROLLER):
                await self._reconcile(namespace, name)

        await self._coalescer.run((namespace, name), run)

    def looking(self, namespace: str, name: str) -> bool:
        """Whether a message looks at the application's pods again (`look_again`) for now."""
        held = self._unsettled.get((namespace, name))
        # only a look of this replica's current hold: after a partition went away and came back, another replica
        # may have finished the looks of that message
        return held is not None and held[2] == self._epoch()

    def look_again(self, namespace: str, name: str, carrier: Carrier) -> None:
        """After a reconcile the message `carrier` woke: while the application's groups are short of ready or on
        their way, its pods are looked at again (what holds a pod, such as the scheduler's verdict, a crash loop or a
        pod's deletion, changes no LeaderWorkerSet, so nothing else would wake it), by one message at a time: the
        newest to find it so (an older one that comes back is done), `LOOKS` times, sooner at first (a pod's trouble
        shows within seconds of its creation). Raises `Later` to send the message back."""
        key = (namespace, name)
        if key not in self._unsettled:
            return
        subject, sequence, attempt = carrier
        held = self._unsettled[key]
        if attempt > 1 and held is not None and held[:2] != (subject, sequence):
            return  # a newer message looks again
        if attempt > LOOKS:
            self._unsettled[key] = None
            return
        self._unsettled[key] = (subject, sequence, self._epoch())
        self._unsettled.move_to_end(key)
        while len(self._unsettled) > LOOKS_KEPT:
            self._unsettled.popitem(last=False)
        delay = min(LOOK_CAP_SECONDS, 2.0**attempt)
        raise Later(f"{namespace}/{name} is short of ready groups or on its way: its pods are looked at again", delay)

    async def _application(self, namespace: str, name: str, fresh: bool = False) -> Obj | None:
        """The newest copy this replica holds (no request), else (or `fresh`) the application as the API server
        has it."""
        app = None if fresh else self._apps.get((namespace, name), self._epoch())
        if app is not None:
            APPLICATION_READS.labels("copy").inc()
            return app
        APPLICATION_READS.labels("get").inc()
        try:
            app = await self._kube.get(APPLICATIONS, namespace, name)
        except Undecodable as exc:
            return exc.stub  # the planner fails its Precheck; the status and a deletion still work from the stub
        if app is not None:
            self._apps.offer((namespace, name), app, self._epoch())
        return app

    def _wrote(self, answer: Obj, acted_on: Obj) -> None:
        """The API server's answer to a write of the application made by a reconcile of `acted_on`: its newest
        version (the event of the write arrives later with the same resourceVersion). That event is a mere echo
        only when the answer differs from `acted_on` by the deployer's own writes alone: another writer's change
        that landed in between (a `Loaded` condition, a deletion) may have no event of its own to come (a
        watcher that relisted publishes the newest version only), so then the echo is news."""
        meta = answer.get("metadata") or {}
        if meta.get("name"):
            namespace = meta.get("namespace", "")
            self._apps.offer((namespace, meta["name"]), answer, self._epoch())
            version = version_of(answer)
            if version is not None and others_part(answer, FINALIZER) == others_part(acted_on, FINALIZER):
                self._echoes[(namespace, meta["name"], version)] = self._epoch()
                while len(self._echoes) > ECHOES_KEPT:
                    self._echoes.popitem(last=False)

    def _is_echo(self, namespace: str, name: str, app: Obj) -> bool:
        """Whether `app` is the version one of this replica's own writes made: that write's reconcile already acted
        on everything it holds (what changed since is another event), so it wakes no reconcile. Each echo counts
        once; a write made before this replica last took over a partition does not count (another replica may have
        acted since)."""
        version = version_of(app)
        if version is None:
            return False
        return self._echoes.pop((namespace, name, version), None) == self._epoch()

    async def _reconcile(self, namespace: str, name: str) -> None:
        try:
            await self._reconcile_copy(namespace, name, fresh=False)
        except StaleCopy as exc:
            # the copy was older than a deletion or a re-creation under the same name (the finalizer's apply was
            # refused or answered with another uid, or the status write found nothing): once more, from a fresh read
            log.debug("copy out of date, read again", application=f"{namespace}/{name}", why=str(exc)[:300])
            self._apps.forget((namespace, name))
            try:
                await self._reconcile_copy(namespace, name, fresh=True)
            except StaleCopy:  # gone since the fresh read too: its deletion's event follows
                self._apps.forget((namespace, name))

    async def _reconcile_copy(self, namespace: str, name: str, fresh: bool) -> None:
        app = await self._application(namespace, name, fresh=fresh)
        if app is None:
            self._apps.forget((namespace, name))
            self._held.pop((namespace, name), None)
            self._unsettled.pop((namespace, name), None)
            return  # gone: its finalizer already removed what it owned
        meta = app["metadata"]
        if meta.get("deletionTimestamp"):
            self._unsettled.pop((namespace, name), None)
            await self._finalize(app)
            return
        finalizer: asyncio.Task[Obj] | None = None
        if FINALIZER not in (meta.get("finalizers") or []):
            # in flight while the plan and the owned objects are read; objects and the status wait for it
            # (`_finalized`). No read before it: the copy may be older than a deletion, but the API server refuses
            # this apply then (spec is required, so nothing is created anew; no finalizer may join a deleting
            # object), an application created anew under the name answers with another uid, and one whose spec
            # changed or whose deletion began answers so; each sends the reconcile round once more from a fresh
            # read (`StaleCopy`)
            finalizer = self._finalizer_in_flight(app, from_event=not fresh)
        try:
            await self._reconcile_known(app, finalizer)  # it waits for the finalizer before any status is written
        except Later:
            raise  # a held-back phase: the write goes on, and the next reconcile waits for it
        except BaseException:
            _abandon(finalizer)  # a finished write stands; one in flight is cancelled
            raise

    def _finalizer_in_flight(self, app: Obj, from_event: bool) -> asyncio.Task[Obj]:
        """The finalizer's write for this copy of `app`: the one an earlier reconcile left in flight for the same
        application (not after a fresh read: that one was made from an older copy), else a new one."""
        meta = app["metadata"]
        key = (meta["namespace"], meta["name"])
        held = self._finalizing.get(key)
        if from_event and held is not None and held[0] == meta.get("uid") and not held[1].done():
            return held[1]
        task = asyncio.create_task(self._finalizer_written(app, from_event), name=f"finalizer {key[0]}/{key[1]}")
        self._finalizing[key] = (str(meta.get("uid")), task)

        def done(finished: asyncio.Task[Obj]) -> None:
            if key in self._finalizing and self._finalizing[key][1] is finished:
                del self._finalizing[key]
            if not finished.cancelled():
                finished.exception()  # seen here; a reconcile that waits for it still gets it

        task.add_done_callback(done)
        return task

    async def _finalizer_written(self, app: Obj, from_event: bool) -> Obj:
        """The finalizer's apply; its answer is the newest copy, taken once (however often the task is awaited: a
        second `_wrote` after the echo came would remember an echo that never comes again)."""
        answer = await _add_finalizer(self._kube, app, from_event)
        self._wrote(answer, app)
        return answer

    async def _finalized(self, finalizer: asyncio.Task[Obj] | None) -> None:
        """Waits for the finalizer's write, if one is in flight (a refusal that says the copy is stale raises)."""
        if finalizer is not None:
            await finalizer

    async def _reconcile_known(self, app: Obj, finalizer: asyncio.Task[Obj] | None) -> None:
        meta = app["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        uid, generation = meta["uid"], int(meta.get("generation", 1))
        _, plan = await newest_plan(self._js, namespace, name)
        plan = plan if plan is not None and plan.ref.uid == uid else None
        live = await self._labelled(namespace, name)
        loaded = _condition(app, ConditionType.LOADED.value)
        if plan is not None and plan.precheck.passed and not plan.roles:
            plan = None  # a plan from before roles: the planner re-plans every application when it starts
        usable = plan is not None and plan.generation >= generation and plan.precheck.passed
        has_groups = any(o["kind"] == LWS_KIND and is_owned_by(o, uid) for o in live)
        problem: ApplyProblem | None = None
        held_for_model = False
        roles: list[RoleObserved]
        if plan is not None and usable and (loaded.get("status") == "True" or has_groups):
            try:
                desired = desired_objects(app, plan)
            except BadPlan as exc:
                problem, roles = ApplyProblem(ProblemKind.REFUSED, str(exc), None), _live_roles(live, uid)
            else:
                # judged against the plan's generation: the copy may be older than the plan (its event still on its
                # way), and its Loaded condition then an older spec's, perhaps of another model
                changes = diff(desired, live, uid)
                held_for_model = waits_for_model(changes, loaded, plan.generation)
                if not held_for_model:
                    problem, live = await self._converge(app, plan, desired, live, finalizer)
                else:  # the groups keep the model they have (the gate's write wakes us); their count follows
                    if created_beside_sets(changes).changes:
                        problem, live = await self._converge(
                            app, plan, desired, live, finalizer, only=created_beside_sets
                        )
                    # the count does not wait for a Service the cluster refuses: the first problem is told
                    scaled, live = await self._scale_held(app, held_scales(changes, live), live)
                    problem = problem or scaled
                roles = _planned_roles(app, plan, live)
        else:
            if plan is not None and usable and loaded.get("status") != "False":
                self._check_pods_early(app, plan, live)
            roles = _live_roles(live, uid)
        observed = Observed(
            generation=generation,
            loaded_status=loaded.get("status"),
            loaded_reason=str(loaded.get("reason", "")),
            loaded_message=str(loaded.get("message", "")),
            loaded_generation=int(loaded.get("observedGeneration") or 0),
            waits_for_model=held_for_model,
            pods_going=self._pods_going(namespace, name),
            plan=plan,
            verdict=_verdict(app),
            roles=roles,
            problem=problem,
        )
        status = compute(name, observed)
        status = await self._told_by_pods(namespace, name, observed, status)
        if not self._hold_back_first_phase(app, status):  # held back: `Later`, with the finalizer's write in flight
            # the finalizer's answer may say the copy is out of date (`StaleCopy`): known before a status from it is
            # written; and every reconcile that returns has its finalizer on
            await self._finalized(finalizer)
            await self._write_status(app, status)
        if problem is not None and problem.retry_seconds is not None:
            raise TemporaryError(problem.message, delay_seconds=problem.retry_seconds, outage=problem.outage)

    async def _told_by_pods(
        self, namespace: str, name: str, observed: Observed, status: DeployerStatus
    ) -> DeployerStatus:
        """When groups are short of ready or on their way (`DeployerStatus.unsettled`), the status from the pods too
        (one list of the application's pods): a group counted ready whose pods are being deleted no longer counts,
        and the message tells why groups are not ready. The application is looked at again while this lasts."""
        key = (namespace, name)
        if not status.unsettled:
            self._unsettled.pop(key, None)
            return status
        self._unsettled.setdefault(key, None)
        pods, _ = await self._kube.list(PODS, namespace, label_selector=f"{LABEL_APPLICATION}={name}")
        going = going_ready_groups(pods)
        roles = [dataclasses.replace(r, going=going.get(_set_name(r.lws), 0)) for r in observed.roles]
        return compute(name, dataclasses.replace(observed, roles=roles, pods=pods_account(pods)))

    def _check_pods_early(self, app: Obj, plan: PlanReady, live: list[Obj]) -> None:
        """The plan is here before the model's gate: its pods' dry runs start now, and the reconcile the gate wakes
        finds their answers (`PodChecker`)."""
        try:
            desired = desired_objects(app, plan)
        except BadPlan:
            return  # said when the gate opens
        self._pod_checker.start(
            app["metadata"]["namespace"], pods_to_check(diff(desired, live, app["metadata"]["uid"]), desired)
        )

    def _hold_back_first_phase(self, app: Obj, status: DeployerStatus) -> bool:
        """Whether a brand-new application's waiting phase is written now (False) or held back for the grace:
        then every message that finds it held is sent back to come again just after the grace (raises `Later`,
        so the retry travels with the message, to whichever replica owns the application then). Every one, not
        the first only: a stream keeps a few messages per subject, and the newest survives."""
        meta = app["metadata"]
        key = (meta["namespace"], meta["name"])
        now = time.monotonic()
        first_seen = self._held.setdefault(key, now)
        if not first_phase_waits((app.get("status") or {}).get("phase"), status, now - first_seen):
            self._held.pop(key, None)
            return False
        while len(self._held) > HELD_KEPT:  # forgotten: held again for a grace on its next reconcile at most
            self._held.popitem(last=False)
        # a little after the grace ends: the message that comes back must find it over
        late = FIRST_PHASE_GRACE_SECONDS - (now - first_seen) + COME_BACK_MARGIN_SECONDS
        raise Later(f"{status.phase.value}: the planner's verdict and the model's gate may land meanwhile", late)

    def _from_cache(self, namespace: str, name: str) -> list[Obj] | None:
        """The owned objects as the cache holds them, when it has caught up with every change that woke us."""
        if self._cache is None or not self._cache.ready():
            return None
        index = self._cache.index
        pending = self._must_see.get((namespace, name), set())
        pending -= {s for s in pending if index.has_seen(*s)}
        if pending:
            return None
        self._must_see.pop((namespace, name), None)
        return index.owned(namespace, name)

    async def _labelled(self, namespace: str, name: str, cached: bool = True) -> list[Obj]:
        """Every object of a kind a plan may hold that carries the application's label (owned or not: a
        namesake held by someone else must be seen, not overwritten): from the cache when it is current."""
        found = self._from_cache(namespace, name) if cached else None
        if found is not None:
            OWNED_READS.labels("cache").inc()
            return found
        OWNED_READS.labels("list").inc()
        out: list[Obj] = []
        for res in OWNED_KINDS.values():
            items, _ = await self._kube.list(res, namespace, label_selector=owned_selector(name))
            out += items
        return out

    async def _converge(
        self,
        app: Obj,
        plan: PlanReady,
        desired: list[Desired],
        live: list[Obj],
        finalizer: asyncio.Task[Obj] | None,
        only: Callable[[Diff], Diff] = lambda changes: changes,
    ) -> tuple[ApplyProblem | None, list[Obj]]:
        """Applies the changes (those `only` keeps), then prunes; stops at the first refusal. Returns what the
        cluster now holds."""
        meta = app["metadata"]
        # the pods of a set about to be created or changed are checked while the namesakes are read, and while the
        # finalizer's write is in flight
        pods = pods_to_check(only(diff(desired, live, meta["uid"])), desired)
        checks = asyncio.ensure_future(self._pod_checker.first_refusal(meta["namespace"], pods))
        try:
            live = live + await self._unlabelled_namesakes(meta["namespace"], desired, live)
        except BaseException:
            await cancel_firmly(checks)
            raise
        refused = await checks
        changes = only(diff(desired, live, meta["uid"]))
        by_key = {key_of(o): o for o in live}
        if changes.held_by_others:
            return held_by_others([f"{kind} {name}" for kind, name in changes.held_by_others]), live
        if refused is not None:
            return refused, live
        await self._finalized(finalizer)  # nothing is created before the finalizer is on
        steps: list[Step] = []
        try:
            return await self._apply_changes(app, plan, changes, by_key, steps)
        finally:  # what was done is told, also when a later object failed
            suffix = {verb.value: f" (plan {plan.plan_hash[:12]})" for verb in (Verb.CREATED, Verb.UPDATED)}
            suffix["Deleted"] = ": no longer planned"
            for reason, message in step_events(steps, suffix):
                await self._events.record(app, "Normal", reason, message)

    async def _apply_changes(
        self, app: Obj, plan: PlanReady, changes: Diff, by_key: dict[tuple[str, str], Obj], steps: list[Step]
    ) -> tuple[ApplyProblem | None, list[Obj]]:
        """Applies, then prunes; appends each change made to `steps`."""
        meta = app["metadata"]
        for change in changes.changes:
            obj = change.desired.object
            try:
                applied, created = await self._kube.apply_created(OWNED_KINDS[obj["kind"]], obj)
                if self._cache is not None:
                    self._cache.index.observe(applied)  # the next reconcile must not create it again
            except KubeError as exc:
                problem = classify(exc.status, str(exc), exc.retry_after)
                log.warning(
                    "apply failed",
                    application=f"{meta['namespace']}/{meta['name']}",
                    what=change.what,
                    kind=problem.kind.value,
                    status=exc.status,
                    error=problem.message[:300],
                )
                return problem, list(by_key.values())
            by_key[key_of(applied)] = applied
            if change.verb is Verb.CREATED and not created:
                continue  # another replica created it first (and said so): applied here as an update, no news
            detail = f"to {change.desired.replicas} replica groups" if change.verb is Verb.SCALED else ""
            steps.append(Step(change.verb.value, change.what, detail))
        for kind, name in changes.prune:
            gone = by_key.pop((kind, name))
            if await self._kube.delete(OWNED_KINDS[kind], meta["namespace"], name, uid=gone["metadata"].get("uid")):
                steps.append(Step("Deleted", f"{kind} {name}"))  # one already gone (a lagging cache) is no news
        if changes.going:
            waiting = ", ".join(f"{kind} {name}" for kind, name in changes.going)
            return ApplyProblem(ProblemKind.RETRYING, f"waiting for the old {waiting} to be deleted", 1.0), list(
                by_key.values()
            )
        return None, list(by_key.values())

    async def _scale_held(
        self, app: Obj, scales: list[tuple[tuple[str, str], int]], live: list[Obj]
    ) -> tuple[ApplyProblem | None, list[Obj]]:
        """The replica counts of sets whose new templates wait for their model, applied alone (a merge patch of
        `spec.replicas`: an apply of the deployer's would take the templates it leaves out away). The next apply of
        the whole plan owns the count again."""
        meta = app["metadata"]
        by_key = {key_of(o): o for o in live}
        steps: list[Step] = []
        try:
            for (kind, name), replicas in scales:
                try:
                    patch = {"spec": {"replicas": replicas}}
                    applied = await self._kube.merge_patch(OWNED_KINDS[kind], meta["namespace"], name, patch)
                except KubeError as exc:
                    problem = classify(exc.status, str(exc), exc.retry_after)
                    log.warning(
                        "scale failed",
                        application=f"{meta['namespace']}/{meta['name']}",
                        what=f"{kind} {name}",
                        status=exc.status,
                        error=problem.message[:300],
                    )
                    return problem, list(by_key.values())
                if self._cache is not None:
                    self._cache.index.observe(applied)
                by_key[(kind, name)] = applied
                steps.append(Step(Verb.SCALED.value, f"{kind} {name}", f"to {replicas} replica groups"))
            return None, list(by_key.values())
        finally:
            suffix = {Verb.SCALED.value: " (the new spec waits for its model)"}
            for reason, message in step_events(steps, suffix):
                await self._events.record(app, "Normal", reason, message)

    async def _unlabelled_namesakes(self, namespace: str, desired: list[Desired], live: list[Obj]) -> list[Obj]:
        """Objects that already hold a desired name without the application's label (a user's own Service,
        say): the list by label misses them, and a forced apply would take them over."""
        listed = {key_of(o) for o in live}

        async def namesake(kind: str, name: str) -> Obj | None:
            try:
                obj = await self._kube.get(OWNED_KINDS[kind], namespace, name)
            except Undecodable as exc:
                obj = exc.stub
            return None if obj is None else {**obj, "kind": kind}

        # read at once: a new application's objects are all unlisted, and each read is a round trip
        wanted = [key_of(want.object) for want in desired]
        found = await asyncio.gather(*(namesake(kind, name) for kind, name in wanted if (kind, name) not in listed))
        return [obj for obj in found if obj is not None]

    async def _write_status(self, app: Obj, status: DeployerStatus) -> None:
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
        fields_changed = any(current.get(k, [] if k == "roles" else None) != v for k, v in fields.items())
        if not (cond_changed or fields_changed):
            return
        try:
            answer = await self._kube.apply_status(
                APPLICATIONS, meta["namespace"], meta["name"], {**fields, "conditions": [condition_dict(conditions[0])]}
            )
        except NotFound as exc:  # deleted since this copy was taken
            raise StaleCopy(str(exc)[:300]) from exc
        self._wrote(answer, app)
        if phase_is_news(current.get("phase"), status):
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

    async def _finalize(self, app: Obj) -> None:
        """Deletes everything the application owns (found by its label), waits until its LeaderWorkerSets are
        gone, then lets the application go."""
        meta = app["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        if FINALIZER not in (meta.get("finalizers") or []):
            return
        self._must_see.pop((namespace, name), None)
        self._held.pop((namespace, name), None)
        owned = [o for o in await self._labelled(namespace, name, cached=False) if is_owned_by(o, uid)]
        for obj in owned:
            if not obj["metadata"].get("deletionTimestamp"):
                await self._kube.delete(OWNED_KINDS[obj["kind"]], namespace, name_of(obj), uid=obj["metadata"]["uid"])
        groups = [name_of(o) for o in owned if o["kind"] == LWS_KIND]
        if groups:
            raise TemporaryError(f"waiting for LeaderWorkerSets {', '.join(groups)} to be deleted", delay_seconds=1.0)
        await self._events.record(app, "Normal", "Deleted", "Deleted everything the application owned")
        await set_finalizer(self._kube, APPLICATIONS, app, FINALIZER, present=False)
        self._apps.forget((namespace, name))


def _planned_roles(app: Obj, plan: PlanReady, live: list[Obj]) -> list[RoleObserved]:
    by_role = _groups_by_role(live, app["metadata"]["uid"])
    out = []
    for role in plan.roles:
        lws = by_role.get(role.name)
        out.append(
            RoleObserved(
                name=role.name,
                desired=role_replicas(app, role),
                lws=lws,
                on_plan=lws is not None and plan_hash_of(lws) == plan.plan_hash,
            )
        )
    return out


def _groups_by_role(live: list[Obj], uid: str) -> dict[str, Obj]:
    """The application's LeaderWorkerSets by role. One being deleted does not count: its status is the last one
    it had while its pods go, so the role is absent until its successor exists."""
    return {
        _role(o): o
        for o in live
        if o["kind"] == LWS_KIND and is_owned_by(o, uid) and not (o.get("metadata") or {}).get("deletionTimestamp")
    }


def _live_roles(live: list[Obj], uid: str) -> list[RoleObserved]:
    """Without a plan to apply: the roles as the cluster holds them (`compute` adds the ones it lacks)."""
    by_role = _groups_by_role(live, uid)
    return [RoleObserved(name=r, desired=live_replicas(o) or 0, lws=o, on_plan=False) for r, o in by_role.items()]


def _set_name(lws: Obj | None) -> str:
    return str(((lws or {}).get("metadata") or {}).get("name", ""))


def _role(obj: Obj) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_COMPONENT, "serve"))


def _verdict(app: Obj) -> Verdict | None:
    cond = _condition(app, ConditionType.PRECHECK.value)
    if not cond:
        return None
    return Verdict(
        generation=int(cond.get("observedGeneration", 0)),
        passed=cond.get("status") == "True",
        message=str(cond.get("message", "")),
    )


def _condition(app: Obj, type_: str) -> dict[str, Any]:
    for cond in (app.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def _abandon(finalizer: asyncio.Task[Obj] | None) -> None:
    """The reconcile failed: a finalizer write still in flight is cancelled (the next reconcile adds it again), a
    finished one's own error is marked seen (the reconcile's is the one raised)."""
    if finalizer is None:
        return
    if not finalizer.done():
        finalizer.cancel()
    elif not finalizer.cancelled():
        finalizer.exception()


class StaleCopy(Exception):
    """The application's copy is older than a deletion or a re-creation under the same name: read it again."""


STALE_REFUSALS = (403, 404, 409, 422)
"""What the API server answers the finalizer's apply on a copy that is out of date: the application is gone (404:
its namespace is; 422: the apply would create it, without the required spec; 403: in a namespace being deleted,
admission refuses any creation), is being deleted (422: no new finalizer then), or changed under a conflicting write
(409). A refusal for another reason costs one read: the apply on the fresh copy raises it as it is."""


async def _add_finalizer(kube: Kube, app: Obj, from_event: bool) -> Obj:
    """Puts the deployer's finalizer on `app` and returns the application as the API server wrote it. When `app`
    is an event's copy (`from_event`), a refusal that says the copy is out of date, an answer about another
    application of that name (a new uid), or one that shows a newer spec or a deletion the copy does not (a
    redelivered event's copy, from before the finalizer, that no newer copy held here replaced: the apply changes
    nothing and succeeds) raises `StaleCopy`; on a fresh read the refusal is a real error."""
    try:
        answer = await set_finalizer(kube, APPLICATIONS, app, FINALIZER, present=True)
    except KubeError as exc:
        if from_event and exc.status in STALE_REFUSALS:
            raise StaleCopy(str(exc)[:300]) from exc
        raise
    if not from_event:
        return answer
    meta, written = app["metadata"], answer.get("metadata") or {}
    if written.get("uid") != meta.get("uid"):
        raise StaleCopy("the application was created anew under the same name")
    if written.get("generation") != meta.get("generation") or (
        written.get("deletionTimestamp") and not meta.get("deletionTimestamp")
    ):
        raise StaleCopy("the application's spec changed or its deletion began after this copy")
    return answer
