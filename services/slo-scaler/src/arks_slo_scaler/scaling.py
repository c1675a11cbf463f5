"""The slo-scaler's shell: every scrape interval, for each application with `autoscaling`, observe its
replica groups, run the pure decision, publish the unified samples and the decision, and tell the user why
(status and Events). Decisions that change the replica count go out on `arks.scale.<ns>.<name>`; the
deployer is the only writer of the LeaderWorkerSet's replicas.

A PD-separated application is decided per role (`core/roles.py`): prefill and decode each with its own spec,
groups, signals and remembered state, and each decision in `status.autoscaling.<role>`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from pydantic import ValidationError

from arks_common.api.application import ArksApplication
from arks_common.bus.jetstream import publish
from arks_common.conventions import ROLE_DECODE, ROLE_PREFILL, ROLE_SERVE, group_set_name, leader_selector
from arks_common.events.contract import METRICS, SCALE, Service, scale_msg_id
from arks_common.events.payloads import MetricsSample, ObjectKind, ObjectRef, ScaleDecision, ScaleDirection
from arks_common.kube.client import Kube, KubeError, Undecodable
from arks_common.kube.decoding import undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.resources import APPLICATIONS, LEADERWORKERSETS, PODS
from arks_common.stopping import sleep_unless
from arks_common.telemetry.logging import get_logger
from arks_slo_scaler.adapters.metrics_source import FetchError, MetricsSource
from arks_slo_scaler.core.decide import Decision, GroupSample, Observation, ScalerConfig, ScalerState, decide
from arks_slo_scaler.core.metrics import MetricsSnapshot, parse_metrics
from arks_slo_scaler.core.roles import ScaledRole, engine_runtime, role_config, role_signals, scaled_roles
from arks_slo_scaler.core.samples import group_of, ready_since, runtime_started, started_in, to_sample
from arks_slo_scaler.metrics import (
    LEADER,
    PUBLISH_FAILURES,
    SCRAPE_PROBLEMS,
    STEP_FAILURES,
    count_decision,
    export_application,
    forget_all,
    forget_application,
)

log = get_logger(__name__)


@dataclass
class Tracked:
    """An autoscaled application and what its scaler remembers, per scaled role (`serve`, or prefill/decode)."""

    namespace: str
    name: str
    states: dict[str, ScalerState] = field(default_factory=dict)
    last: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # (desired, direction, reason) reported
    uid: str = ""  # as last read: a failure's Event lands on the very object, and another uid is another application
    # the last round whose step began (it had a step slot before the round's scrapes were over) and the last whose
    # step finished with every scrape it tried: the order of the next round
    began: int = -1
    finished: int = -1
    cut: int = 0  # scrapes of this step cut off at the end of the round's scrapes
    # per role, when each group's scrape last had a slot: the order its groups get one in (longest ago first)
    tried: dict[str, dict[str, float]] = field(default_factory=dict)


SCRAPE_PART = 0.8
"""The part of a round its scrapes may take; the rest is for the decisions and their writes."""


class _CutOff(Exception):
    """The round's scrapes are over before this one ended (or got a slot)."""


class SloScaler:
    def __init__(
        self,
        kube: Kube,
        js: JetStreamContext,
        source: MetricsSource,
        events: EventRecorder,
        interval: float,
        config: ScalerConfig,
        is_leader: Callable[[], bool],
        clock: Callable[[], float] | None = None,
        concurrent_steps: int = 32,
        concurrent_scrapes: int = 64,
        relist_seconds: float = 300.0,
    ) -> None:
        self._config = config
        self._clock = clock or _wall_clock  # of decisions and scrapes (tests move their own)
        self._is_leader = is_leader
        # one round runs every application's step at once, at most this many at a time (API calls), and at most
        # this many scrapes in flight across them (a hung leader holds one slot for its scrape timeout); one
        # application's scrapes take at most half the slots, so its hung leaders never queue every other
        # application's scrapes behind theirs
        self._steps = asyncio.Semaphore(concurrent_steps)
        self._scrapes = asyncio.Semaphore(concurrent_scrapes)
        self._scrape_share = max(1, concurrent_scrapes // 2)
        self._rounds = 0
        self._scrapes_until: float | None = None  # time.monotonic() at which this round's scrapes end (in a round)
        self._kube = kube
        self._js = js
        self._source = source
        self._events = events
        self._interval = interval
        self._apps: dict[tuple[str, str], Tracked] = {}
        self._leading = False  # whether this replica led in the last round
        # the replicas share one durable, so an application's events reach one of them: the leader lists the
        # applications when it takes the lead and every `relist_seconds` while it leads
        self._relist = relist_seconds
        self._listed_at: float | None = None  # time.monotonic() of the leader's last list

    def application_changed(self, namespace: str, name: str, obj: dict[str, Any], deleted: bool) -> None:
        """Track applications with autoscaling, and those whose `status.autoscaling` outlived it (the next step
        clears it); forget the others (level-triggered on the latest object)."""
        key = (namespace, name)
        # a copy without its spec (too deep or too large for the bus) is tracked: the next step reads it, or drops
        # it when it is too deep to read
        raw_spec = obj.get("spec")
        spec: dict[str, Any] = raw_spec if isinstance(raw_spec, dict) else {}
        has_autoscaling = undecodable(obj) is not None or any(
            bool(part.get("autoscaling")) if isinstance(part, dict) else False
            for part in (spec, spec.get("prefill"), spec.get("decode"))
        )
        gone = deleted or bool(obj.get("metadata", {}).get("deletionTimestamp"))
        if gone or not has_autoscaling:
            _forget_series(namespace, name)
        if gone or not (has_autoscaling or _written(obj)):
            self._apps.pop(key, None)
        elif key not in self._apps:
            self._apps[key] = Tracked(namespace, name)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            # only the leader decides: two replicas must never issue competing decisions
            if self._leadership(self._is_leader()):
                if (self._listed_at is None or started - self._listed_at >= self._relist) and await self._discover():
                    self._listed_at = started
                # the round's interval begins after the list: counted from before it, a list of thousands of
                # applications (at a takeover, at every relist) used up the round, and every step was given up
                await self._round(time.monotonic() + self._interval)
            await sleep_unless(stop, self._interval - (time.monotonic() - started))

    async def _round(self, deadline: float) -> None:
        """Every tracked application's step at once (bounded by the semaphores): one application's hung leaders
        or slow calls never hold another's decision back. A step still running at the deadline, when the next
        round is due, is abandoned (its application is decided again next round) and told in the log. Scrapes end
        earlier, at `SCRAPE_PART` of the round: one not finished is a failed scrape, and the step decides from the
        others (a group without a fresh scrape does not count, docs/autoscaling.md §2 step 2); a role none of whose
        scrapes finished is not decided, and a step whose slot comes after that point does not begin.

        The semaphores serve in the order the steps start, so that order decides who waits: the applications whose
        step finished (with every scrape it tried) longest ago start first (one never finished before all), and of
        those the one whose step began longest ago. One given up at the deadline, or never begun, goes ahead of every
        application decided in the last round; the same order every round gave up the same applications every
        round."""
        self._rounds += 1
        round_ = self._rounds
        order = sorted(self._apps.values(), key=lambda tracked: (tracked.finished, tracked.began))
        if not order:
            return
        now = time.monotonic()
        self._scrapes_until = now + SCRAPE_PART * max(0.0, deadline - now)
        steps = {asyncio.create_task(self._step(t, round_), name=f"scale {t.namespace}/{t.name}"): t for t in order}
        try:
            done, late = await asyncio.wait(steps, timeout=max(0.0, deadline - now))
        finally:  # also when the scale loop itself is cancelled (a shutdown): no step is left running behind it
            self._scrapes_until = None
            running = [task for task in steps if not task.done()]
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
        # too late to begin (a step cancelled on its own is late too: its exception() would raise out of the round)
        late |= {task for task in done if task.cancelled() or (task.exception() is None and not task.result())}
        if late:
            STEP_FAILURES.labels("RoundDeadline").inc(len(late))
            names = sorted(f"{steps[t].namespace}/{steps[t].name}" for t in late)
            log.warning("scaling steps did not finish within the round", applications=names[:20], count=len(late))

    async def _step(self, tracked: Tracked, round_: int) -> bool:
        """False when its slot came after the round's scrapes: it did not begin, and goes first next round."""
        async with self._steps:
            if not self._is_leader():  # the lease may have gone while earlier steps ran
                return True
            if self._scrapes_until is not None and time.monotonic() >= self._scrapes_until:
                return False  # begun, it would decide from no scrape at all, and go behind the others next round
            tracked.began = round_
            try:
                await self._tick(tracked)
            except (KubeError, nats.errors.Error, TimeoutError) as exc:
                log.warning("scaling step failed", application=f"{tracked.namespace}/{tracked.name}", error=str(exc))
            except Exception as exc:  # one application's bad metrics or spec never stops the others
                await self._broke(tracked, exc)
            if not tracked.cut:  # not when given up at the deadline (cancelled), nor when scrapes were cut off
                tracked.finished = round_
            return True

    def _leadership(self, leading: bool) -> bool:
        """Whether this replica decides this round. Taking the lead (again) starts every application afresh, as a
        restarted scaler does: what it remembered from an earlier lead (a pressure's start, the decisions it
        reported) is older than another leader's decisions since."""
        LEADER.set(1 if leading else 0)
        if not leading:
            forget_all()  # the leader's series are the application's; a follower's would be stale doubles
            self._listed_at = None  # taking the lead lists the applications again
        elif not self._leading:
            for tracked in self._apps.values():
                tracked.states.clear()
                tracked.last.clear()
        self._leading = leading
        return leading

    async def _broke(self, tracked: Tracked, exc: Exception) -> None:
        """Reported on the application (a Warning Event) and in the log; its group count stays as it is."""
        STEP_FAILURES.labels(type(exc).__name__).inc()
        what = f"{type(exc).__name__}: {str(exc)[:500]}"
        log.exception("scaling step broke", application=f"{tracked.namespace}/{tracked.name}", error=what)
        subject: dict[str, Any] = {
            "apiVersion": APPLICATIONS.api_version,
            "kind": APPLICATIONS.kind,
            "metadata": {"namespace": tracked.namespace, "name": tracked.name, "uid": tracked.uid},
        }
        try:
            await self._events.record(subject, "Warning", "AutoscalingFailed", f"No scaling decision: {what}")
        except KubeError as record_error:
            log.warning("event not recorded", error=str(record_error)[:300])

    async def _discover(self) -> bool:
        """Find the autoscaled applications without waiting for their next change: their events may have gone to
        another replica (one durable for all), or before this one started."""
        try:
            async for page, _ in self._kube.list_pages(APPLICATIONS):  # page by page: thousands are never held at once
                for app in page:
                    meta = app["metadata"]
                    self.application_changed(meta["namespace"], meta["name"], app, deleted=False)
                del page
        except KubeError as exc:
            log.warning("listing the applications failed; listing again next round", error=str(exc))
            return False
        return True

    async def _tick(self, tracked: Tracked) -> None:
        tracked.cut = 0
        try:
            raw = await self._kube.get(APPLICATIONS, tracked.namespace, tracked.name)
        except Undecodable as exc:
            await self._unreadable(tracked, exc)
            return
        if raw is None:
            self._apps.pop((tracked.namespace, tracked.name), None)
            _forget_series(tracked.namespace, tracked.name)
            return
        uid = str(raw["metadata"].get("uid", ""))
        if tracked.uid and uid != tracked.uid:
            # deleted and made again under the same name (its delete unseen: a relisting watcher, a follower's
            # event): another application, which inherits nothing of the old one's capacity, bursts or window
            tracked.states.clear()
            tracked.last.clear()
            _forget_series(tracked.namespace, tracked.name)
            log.info("application re-created; starting afresh", application=f"{tracked.namespace}/{tracked.name}")
        tracked.uid = uid
        try:
            app = ArksApplication.model_validate(raw)
        except ValidationError:
            return  # the planner reports an invalid spec
        roles = scaled_roles(app.spec)
        if not roles:
            await self._retire(tracked, raw)
            return
        for gone in set(tracked.states) - {r.name for r in roles}:  # a role whose autoscaling was removed
            tracked.states.pop(gone, None)
            tracked.last.pop(gone, None)
            tracked.tried.pop(gone, None)
            forget_application(tracked.namespace, _series_name(tracked.name, gone))
        decisions: list[tuple[ScaledRole, Decision]] = []
        for role in roles:
            decision = await self._decide_role(tracked, app, raw, role)
            if decision is not None:
                decisions.append((role, decision))
        await self._report(tracked, raw, decisions, roles, rewrite=_outlived(raw, roles))

    async def _unreadable(self, tracked: Tracked, exc: Undecodable) -> None:
        """An application nested too deep to read (`kube.decoding`): nothing to decide it from until it changes,
        and its next event tracks it again. Said once: in the log, and in a Warning Event when its status holds a
        decision (it was autoscaled); the planner's status names the field too. Kept, it cost a GET and a warning
        every round, for good, whether it asked for autoscaling or not."""
        self._apps.pop((tracked.namespace, tracked.name), None)
        _forget_series(tracked.namespace, tracked.name)
        reason = undecodable(exc.stub) or str(exc)
        log.warning(
            "application unreadable; not scaled until it changes",
            application=f"{tracked.namespace}/{tracked.name}",
            reason=reason,
        )
        if _written(exc.stub) and self._still_leading(tracked):
            message = f"No scaling decision until it changes: the application cannot be read: {reason}"
            await self._events.record(exc.stub, "Warning", "AutoscalingFailed", message)

    async def _retire(self, tracked: Tracked, raw: dict[str, Any]) -> None:
        """An application no longer autoscaled: its `status.autoscaling` goes (an empty apply under this manager
        removes the fields it owns), or the deployer would apply that old count again the moment autoscaling is
        switched back on. Then it is forgotten; a failed write is tried again next round."""
        if _written(raw):
            if not self._still_leading(tracked):
                return
            await self._kube.apply_status(APPLICATIONS, tracked.namespace, tracked.name, {})
            log.info("autoscaling removed; its status cleared", application=f"{tracked.namespace}/{tracked.name}")
        self._apps.pop((tracked.namespace, tracked.name), None)
        _forget_series(tracked.namespace, tracked.name)

    async def _decide_role(
        self, tracked: Tracked, app: ArksApplication, raw: dict[str, Any], role: ScaledRole
    ) -> Decision | None:
        lws = await self._kube.get(LEADERWORKERSETS, tracked.namespace, group_set_name(tracked.name, role.name))
        if lws is None:
            return None  # nothing runs yet: nothing to scale
        running = int((lws.get("spec") or {}).get("replicas", role.spec_replicas))
        # decided from the count it last decided, as the deployer applies it, not from the LeaderWorkerSet: while the
        # deployer has not applied a scale-up yet, a Hold from the set's count wrote the old count back, reversing it
        decided = _decided(raw, role)
        current = running if decided is None else decided
        state = tracked.states.get(role.name, ScalerState())
        seen = {group: entries[-1][0] for group, entries in state.history.items() if entries}
        groups = await self._observe(tracked, app, raw["metadata"]["uid"], role, seen)
        if groups is None:
            return None  # none of its scrapes finished within the round: nothing new to decide from
        decision, tracked.states[role.name] = decide(
            role.spec, Observation(self._clock(), current, tuple(groups)), state, role_config(role.name, self._config)
        )
        # a PD role's series carry its LeaderWorkerSet's name (A-prefill, A-decode) as the application label
        series = _series_name(tracked.name, role.name)
        count_decision(tracked.namespace, series, decision.direction.value, decision.reason.value)
        ready = sum(1 for g in groups if g.ready_seconds is not None)
        export_application(
            tracked.namespace, series, role.spec, desired=decision.desired_replicas, current=running, ready=ready
        )
        return decision

    async def _observe(
        self, tracked: Tracked, app: ArksApplication, uid: str, role: ScaledRole, seen: dict[str, float]
    ) -> list[GroupSample] | None:
        """Each group of the role, scraped; `seen` holds when each group's last scrape the decision kept was made.
        None when the round's scrapes ended before any of the role's finished."""
        ns, name = app.metadata.namespace, app.metadata.name
        # `serve` pods made before roles lack the role label: select them by application only
        selector = leader_selector(name) if role.name == ROLE_SERVE else leader_selector(name, role.name)
        pods, _ = await self._kube.list(PODS, ns, label_selector=selector)
        now = self._clock()
        # the groups whose scrape had a slot longest ago first: with more leaders than a round has slots for, the
        # same ones (the first listed) were scraped every round and the others never
        names = [_group_name(role, pod) for pod in pods]
        before = tracked.tried.get(role.name, {})
        tried = tracked.tried[role.name] = {group: before.get(group, 0.0) for group in names}
        first = sorted(range(len(pods)), key=lambda i: tried[names[i]])
        # every group at once: a hung leader costs its scrape timeout once, not once per group after it; within the
        # application's share of the scrape slots (its scrapes wait on it before they queue for a slot)
        share = asyncio.Semaphore(self._scrape_share)
        results = await asyncio.gather(*(self._group(app, uid, role, pods[i], now, seen, share, tried) for i in first))
        by_pod = dict(zip(first, results, strict=True))
        observed = [by_pod[i] for i in range(len(pods))]  # as listed: the decision's messages name groups in order
        cut = [sample.group for sample, cut_off in observed if cut_off]
        if not cut:
            return [sample for sample, _ in observed]
        tracked.cut += len(cut)
        SCRAPE_PROBLEMS.labels("late").inc(len(cut))
        scraped = sum(1 for sample, cut_off in observed if sample.ready_seconds is not None and not cut_off)
        log.warning(
            "scrapes not finished within the round",
            application=f"{ns}/{name}",
            role=role.name,
            groups=sorted(cut)[:20],
            count=len(cut),
            decided_from=scraped,
        )
        return [sample for sample, _ in observed] if scraped else None

    async def _group(
        self,
        app: ArksApplication,
        uid: str,
        role: ScaledRole,
        pod: dict[str, Any],
        now: float,
        seen: dict[str, float],
        share: asyncio.Semaphore,
        tried: dict[str, float],
    ) -> tuple[GroupSample, bool]:
        """One replica group as its leader pod shows it, with a scrape of its metrics while it is Ready; and whether
        that scrape was cut off at the end of the round's scrapes."""
        group = _group_name(role, pod)
        since = ready_since(pod)
        started = runtime_started(pod)
        scrape, cut = None, False
        if since is not None:
            try:
                scrape = await self._scrape(app, uid, role, group, pod, seen.get(group), share, tried)
            except _CutOff:
                cut = True
        sample = GroupSample(
            group=group,
            ready_seconds=None if since is None else max(0.0, now - since.timestamp()),
            scraped_at=None if scrape is None else scrape[0],
            metrics=None if scrape is None else role_signals(role.name, scrape[1]),
            nodes=role.nodes_per_group,
            start_seconds=started_in(pod, since),
            started_at=None if started is None else started.timestamp(),
        )
        return sample, cut

    async def _scrape(
        self,
        app: ArksApplication,
        uid: str,
        role: ScaledRole,
        group: str,
        pod: dict[str, Any],
        seen: float | None,
        share: asyncio.Semaphore,
        tried: dict[str, float],
    ) -> tuple[float, MetricsSnapshot] | None:
        """When the group's metrics were scraped and what they say, published for subscribers; None when they
        could not be read. `seen`: when the scrape the decision last kept was made; `share`: the application's
        part of the scrape slots; `tried`: when each group's scrape last had a slot. Raises _CutOff when the
        round's scrapes end before it does."""
        ns, name = app.metadata.namespace, app.metadata.name
        until = self._scrapes_until
        try:
            async with asyncio.timeout(None if until is None else until - time.monotonic()) as budget:
                async with share, self._scrapes:
                    if until is not None and time.monotonic() >= until:
                        raise _CutOff  # its slot came too late: it keeps its place ahead of the groups scraped
                    tried[group] = time.monotonic()
                    text = await self._source.fetch(ns, name, group, pod)
        except TimeoutError:
            if budget.expired():
                raise _CutOff from None
            raise
        except FetchError as exc:
            SCRAPE_PROBLEMS.labels(exc.kind).inc()
            log.warning("metrics not read", application=f"{ns}/{name}", group=group, error=str(exc))
            return None
        runtime = engine_runtime(app.spec, role.name)
        parsed = parse_metrics(text, runtime)
        if parsed.snapshot.blank:  # an HTML page, an empty answer: no scrape, never an idle runtime
            SCRAPE_PROBLEMS.labels("empty").inc()
            log.warning(
                "metrics not read",
                application=f"{ns}/{name}",
                group=group,
                error=f"the answer holds none of the {runtime.value} metrics",
            )
            return None
        # when the numbers were scraped: Prometheus says so (it answers its last scrape until the next one); a
        # runtime's own /metrics is scraped now
        scraped_at = parsed.sampled_at if parsed.sampled_at is not None else self._clock()
        if seen is not None and scraped_at <= seen:
            return scraped_at, parsed.snapshot  # the same scrape again: nothing new to tell
        problems = [str(p) for p in parsed.problems]
        if problems:
            SCRAPE_PROBLEMS.labels("garbled").inc(len(problems))
            log.warning("metric text had problems", application=f"{ns}/{name}", group=group, problems=problems[:5])
        sample = to_sample(ns, name, uid, group, app.spec.runtime.value, scraped_at, parsed.snapshot, problems)
        await self._tell(sample, f"metrics:{uid}:{group}:{scraped_at:.3f}")
        return scraped_at, parsed.snapshot

    async def _tell(self, sample: MetricsSample, msg_id: str) -> None:
        """Publishes a group's unified metrics for subscribers, best-effort: the decision goes on without the news.
        One too large for a bus message (a hostile text's histogram of a hundred thousand buckets) is left out; a
        stream that refuses it (full, its JetStream leader being elected) or a publish that times out is counted and
        logged (before, such a failure broke every application's tick while it lasted)."""
        subject = METRICS.subject(sample.ref.namespace, sample.ref.name)
        try:
            await publish(self._js, METRICS, subject, msg_id, Service.SLO_SCALER.value, sample)
        except nats.errors.MaxPayloadError as exc:
            SCRAPE_PROBLEMS.labels("too_large").inc()
            log.warning("metrics event too large for the bus; not published", subject=subject, error=str(exc)[:200])
        except (nats.errors.Error, TimeoutError) as exc:
            _not_published(METRICS.name, subject, exc)

    async def _report(
        self,
        tracked: Tracked,
        raw: dict[str, Any],
        decisions: list[tuple[ScaledRole, Decision]],
        scaled: list[ScaledRole],
        rewrite: bool = False,
    ) -> None:
        """The decisions into the status (when they changed, or `rewrite`: it holds a role no longer scaled), then
        the scale messages, then an Event for each that changed. `scaled`: every role with autoscaling on, decided
        this round or not."""
        meta = raw["metadata"]
        now = datetime.fromtimestamp(self._clock(), UTC).replace(microsecond=0)
        changed = []
        reported: dict[str, tuple[int, str, str]] = {}
        for role, decision in decisions:
            key = reported[role.name] = (decision.desired_replicas, decision.direction.value, decision.reason.value)
            if key != tracked.last.get(role.name) and not _states(raw, role, decision):
                changed.append((role, decision))
        # the status first: it is the decision's home (the deployer applies it); the scale message only wakes the
        # deployer and explains, so a bus that refuses it must not keep the decision from the status
        if changed or (rewrite and decisions):
            if not self._still_leading(tracked):
                return
            status = _status(raw, decisions, now, scaled)
            await self._kube.apply_status(APPLICATIONS, meta["namespace"], meta["name"], status)
        tracked.last.update(reported)  # only once the status holds them: a failed write is tried again next tick
        for role, decision in decisions:
            if decision.direction is not ScaleDirection.HOLD:
                if not self._still_leading(tracked):
                    return
                await self._publish(meta, role, decision, now)
        for role, decision in changed:
            if not self._still_leading(tracked):
                return
            who = "" if role.status_key is None else f"{role.name}: "
            await self._events.record(
                raw, "Normal", f"Scale{decision.direction.value}", f"{decision.reason}: {who}{decision.message}"
            )
            log.info(
                "decision",
                application=f"{meta['namespace']}/{meta['name']}",
                role=role.name,
                desired=decision.desired_replicas,
                direction=decision.direction.value,
                reason=decision.reason.value,
                message=decision.message,
            )

    def _still_leading(self, tracked: Tracked) -> bool:
        """Asked before every write: a round outlasts the lease it began under (scrapes wait on timeouts), and a
        replica that lost it must not write what the new leader decides."""
        if self._is_leader():
            return True
        log.info("lease lost during the step; nothing written", application=f"{tracked.namespace}/{tracked.name}")
        return False

    async def _publish(self, meta: dict[str, Any], role: ScaledRole, decision: Decision, now: datetime) -> None:
        ref = ObjectRef(kind=ObjectKind.APPLICATION, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])
        event = ScaleDecision(
            ref=ref,
            generation=int(meta.get("generation", 0)),
            desired_replicas=decision.desired_replicas,
            current_replicas=decision.current_replicas,
            direction=decision.direction,
            reason=decision.reason.value,
            message=decision.message,
            decided_at=now,
            role=role.name,
        )
        msg_id = scale_msg_id(ref, event.generation, decision.desired_replicas, int(self._clock() * 1e9))
        subject = SCALE.subject(ref.namespace, ref.name)
        try:
            await publish(self._js, SCALE, subject, msg_id, Service.SLO_SCALER.value, event)
        except (nats.errors.Error, TimeoutError) as exc:  # the deployer still reads the status on its next wake-up
            _not_published(SCALE.name, subject, exc)


def _not_published(channel: str, subject: str, exc: Exception) -> None:
    PUBLISH_FAILURES.labels(channel, type(exc).__name__).inc()
    log.warning("not published", subject=subject, error=f"{type(exc).__name__}: {str(exc)[:200]}")


def _wall_clock() -> float:
    return time.time()


def _group_name(role: ScaledRole, pod: dict[str, Any]) -> str:
    return group_of(pod) if role.name == ROLE_SERVE else f"{role.name}-{group_of(pod)}"


def _series_name(application: str, role: str) -> str:
    return application if role == ROLE_SERVE else group_set_name(application, role)


def _forget_series(namespace: str, application: str) -> None:
    """An application's series: its own (`serve`) and its PD roles' (`A-prefill`, `A-decode`)."""
    for role in (ROLE_SERVE, ROLE_PREFILL, ROLE_DECODE):
        forget_application(namespace, _series_name(application, role))


def _stamp(time_: datetime) -> str:
    return time_.strftime("%Y-%m-%dT%H:%M:%SZ")


ENTRY_FIELDS = ("desiredReplicas", "lastDecision", "lastScaleTime")
"""One role's fields under `status.autoscaling` (the top level for `serve`, `prefill`/`decode` for PD)."""


def _entry(decision: Decision, now: datetime, before: dict[str, Any]) -> dict[str, Any]:
    """One role's `status.autoscaling` fields; a decision the status already states keeps its time there."""
    if _same(before, decision):
        return {k: before[k] for k in ENTRY_FIELDS if k in before}
    entry: dict[str, Any] = {
        "desiredReplicas": decision.desired_replicas,
        "lastDecision": {
            "desiredReplicas": decision.desired_replicas,
            "direction": decision.direction.value,
            "reason": decision.reason.value,
            "message": decision.message,
            "time": _stamp(now),
        },
    }
    if decision.direction is not ScaleDirection.HOLD:
        entry["lastScaleTime"] = _stamp(now)
    elif "lastScaleTime" in before:
        entry["lastScaleTime"] = before["lastScaleTime"]
    return entry


def _status(
    raw: dict[str, Any], decisions: list[tuple[ScaledRole, Decision]], now: datetime, scaled: list[ScaledRole]
) -> dict[str, Any]:
    """`status.autoscaling` with every scaled role's decision: one apply holds all the fields this manager owns
    (server-side apply would remove a role left out). A scaled role with no decision this round (its LeaderWorkerSet
    missing for a moment: deleted by hand, made again by the deployer) keeps the one the status holds: left out, it
    was dropped while the other role's decision changed, and the deployer made the set again at its spec count."""
    written = _written(raw)
    autoscaling: dict[str, Any] = {}
    decided = {role.name for role, _ in decisions}
    for role in scaled:
        before = written.get(role.status_key) if role.status_key is not None else None
        if role.name not in decided and isinstance(before, dict):
            autoscaling[str(role.status_key)] = {k: before[k] for k in ENTRY_FIELDS if k in before}
    for role, decision in decisions:
        if role.status_key is None:
            autoscaling.update(_entry(decision, now, written))
        else:
            before = written.get(role.status_key)
            autoscaling[role.status_key] = _entry(decision, now, before if isinstance(before, dict) else {})
    return {"autoscaling": autoscaling}


def _written(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    autoscaling = status.get("autoscaling") if isinstance(status, dict) else None
    return autoscaling if isinstance(autoscaling, dict) else {}


def _decided(raw: dict[str, Any], role: ScaledRole) -> int | None:
    """The role's `status.autoscaling` desiredReplicas within its min..max, as the deployer applies it; None before
    the first decision (the deployer applies `spec.replicas` until then)."""
    written = _written(raw)
    if role.status_key is not None:
        part = written.get(role.status_key)
        written = part if isinstance(part, dict) else {}
    value = written.get("desiredReplicas")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    return max(min(value, role.spec.max_replicas), role.spec.min_replicas)


def _outlived(raw: dict[str, Any], roles: list[ScaledRole]) -> bool:
    """The status holds the decision of a role whose autoscaling was removed (an apply without it removes it)."""
    written = _written(raw)
    keys = {role.status_key for role in roles}
    return any(isinstance(written.get(key), dict) for key in (ROLE_PREFILL, ROLE_DECODE) if key not in keys) or (
        None not in keys and "desiredReplicas" in written
    )


def _same(written: dict[str, Any], decision: Decision) -> bool:
    raw_last = written.get("lastDecision")
    last: dict[str, Any] = raw_last if isinstance(raw_last, dict) else {}
    return (
        written.get("desiredReplicas") == decision.desired_replicas
        and last.get("direction") == decision.direction.value
        and last.get("reason") == decision.reason.value
        and last.get("message") == decision.message
    )


def _states(raw: dict[str, Any], role: ScaledRole, decision: Decision) -> bool:
    """The application's status already holds this role's decision (written before a restart, say): no write."""
    written = _written(raw)
    if role.status_key is not None:
        part = written.get(role.status_key)
        written = part if isinstance(part, dict) else {}
    return _same(written, decision)
