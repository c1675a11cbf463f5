"""The slo-scaler's shell: every scrape interval, for each application with `autoscaling`, observe its
replica groups, run the pure decision, publish the unified samples and the decision, and tell the user why
(status and Events). Decisions that change the replica count go out on `arks.scale.<ns>.<name>`; the
deployer is the only writer of the LeaderWorkerSet's replicas."""

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
from arks_common.conventions import ROLE_SERVE, group_set_name, leader_selector
from arks_common.events.contract import METRICS, SCALE, Service, scale_msg_id
from arks_common.events.payloads import ObjectKind, ObjectRef, ScaleDecision, ScaleDirection
from arks_common.kube.client import Kube, KubeError
from arks_common.kube.decoding import undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.resources import APPLICATIONS, LEADERWORKERSETS, PODS
from arks_common.stopping import sleep_unless
from arks_common.telemetry.logging import get_logger
from arks_slo_scaler.adapters.metrics_source import FetchError, MetricsSource
from arks_slo_scaler.core.decide import Decision, GroupSample, Observation, ScalerConfig, ScalerState, decide
from arks_slo_scaler.core.metrics import parse_metrics
from arks_slo_scaler.core.samples import group_of, ready_since, to_sample
from arks_slo_scaler.metrics import (
    DECISIONS,
    LEADER,
    SCRAPE_PROBLEMS,
    STEP_FAILURES,
    export_application,
    forget_all,
    forget_application,
)

log = get_logger(__name__)


@dataclass
class Tracked:
    """An autoscaled application and what its scaler remembers."""

    namespace: str
    name: str
    state: ScalerState = field(default_factory=ScalerState)
    last: tuple[int, str, str] | None = None  # (desired, direction, reason) last reported
    uid: str = ""  # as last read, so a failure's Event lands on the very object


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
    ) -> None:
        self._config = config
        self._is_leader = is_leader
        self._kube = kube
        self._js = js
        self._source = source
        self._events = events
        self._interval = interval
        self._apps: dict[tuple[str, str], Tracked] = {}

    def application_changed(self, namespace: str, name: str, obj: dict[str, Any], deleted: bool) -> None:
        """Track applications with autoscaling; forget the others (level-triggered on the latest object)."""
        key = (namespace, name)
        # a copy without its spec (too deep or too large for the bus) is tracked: the next step reads it
        has_autoscaling = undecodable(obj) is not None or bool((obj.get("spec") or {}).get("autoscaling"))
        if deleted or not has_autoscaling or obj.get("metadata", {}).get("deletionTimestamp"):
            self._apps.pop(key, None)
            forget_application(namespace, name)
        elif key not in self._apps:
            self._apps[key] = Tracked(namespace, name)

    async def run(self, stop: asyncio.Event) -> None:
        await self._discover()
        while not stop.is_set():
            started = time.monotonic()
            leading = self._is_leader()
            LEADER.set(1 if leading else 0)
            if not leading:
                forget_all()  # the leader's series are the application's; a follower's would be stale doubles
            # only the leader decides: two replicas must never issue competing decisions
            for tracked in list(self._apps.values()) if leading else []:
                try:
                    await self._tick(tracked)
                except (KubeError, nats.errors.Error, TimeoutError) as exc:
                    log.warning(
                        "scaling step failed", application=f"{tracked.namespace}/{tracked.name}", error=str(exc)
                    )
                except Exception as exc:  # one application's bad metrics or spec never stops the others
                    await self._broke(tracked, exc)
            await sleep_unless(stop, self._interval - (time.monotonic() - started))

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

    async def _discover(self) -> None:
        """At start, find the autoscaled applications without waiting for their next change."""
        try:
            apps, _ = await self._kube.list(APPLICATIONS)
        except KubeError as exc:
            log.warning("initial list failed; relying on events", error=str(exc))
            return
        for app in apps:
            meta = app["metadata"]
            self.application_changed(meta["namespace"], meta["name"], app, deleted=False)

    async def _tick(self, tracked: Tracked) -> None:
        raw = await self._kube.get(APPLICATIONS, tracked.namespace, tracked.name)
        if raw is None:
            self._apps.pop((tracked.namespace, tracked.name), None)
            forget_application(tracked.namespace, tracked.name)
            return
        tracked.uid = str(raw["metadata"].get("uid", ""))
        try:
            app = ArksApplication.model_validate(raw)
        except ValidationError:
            return  # the planner reports an invalid spec
        spec = app.spec.autoscaling
        if spec is None:
            self._apps.pop((tracked.namespace, tracked.name), None)
            forget_application(tracked.namespace, tracked.name)
            return
        lws = await self._kube.get(LEADERWORKERSETS, tracked.namespace, group_set_name(tracked.name, ROLE_SERVE))
        if lws is None:
            return  # nothing runs yet: nothing to scale
        current = int((lws.get("spec") or {}).get("replicas", app.spec.replicas))
        groups = await self._observe(app, raw["metadata"]["uid"])
        decision, tracked.state = decide(
            spec, Observation(time.time(), current, tuple(groups)), tracked.state, self._config
        )
        DECISIONS.labels(tracked.namespace, tracked.name, decision.direction.value, decision.reason.value).inc()
        ready = sum(1 for g in groups if g.ready_seconds is not None)
        export_application(
            tracked.namespace, tracked.name, spec, desired=decision.desired_replicas, current=current, ready=ready
        )
        await self._report(tracked, raw, decision)

    async def _observe(self, app: ArksApplication, uid: str) -> list[GroupSample]:
        ns, name = app.metadata.namespace, app.metadata.name
        pods, _ = await self._kube.list(PODS, ns, label_selector=leader_selector(name))
        now = time.time()
        groups = []
        for pod in pods:
            group = group_of(pod)
            since = ready_since(pod)
            ready_seconds = None if since is None else max(0.0, now - since.timestamp())
            snapshot, scraped_at = None, None
            if since is not None:
                try:
                    text = await self._source.fetch(ns, name, group, pod)
                    parsed = parse_metrics(text, app.spec.runtime)
                    snapshot, scraped_at = parsed.snapshot, time.time()
                    problems = [str(p) for p in parsed.problems]
                    if problems:
                        SCRAPE_PROBLEMS.labels("garbled").inc(len(problems))
                        log.warning(
                            "metric text had problems", application=f"{ns}/{name}", group=group, problems=problems[:5]
                        )
                    sample = to_sample(ns, name, uid, group, app.spec.runtime.value, scraped_at, snapshot, problems)
                    await publish(
                        self._js,
                        METRICS,
                        METRICS.subject(ns, name),
                        f"metrics:{uid}:{group}:{scraped_at:.3f}",
                        Service.SLO_SCALER.value,
                        sample,
                    )
                except FetchError as exc:
                    SCRAPE_PROBLEMS.labels("unreachable").inc()
                    log.warning("metrics not reachable", application=f"{ns}/{name}", group=group, error=str(exc))
            groups.append(
                GroupSample(
                    group=group,
                    ready_seconds=ready_seconds,
                    scraped_at=scraped_at,
                    metrics=snapshot,
                    nodes=app.spec.instance_spec.replicas,
                )
            )
        return groups

    async def _report(self, tracked: Tracked, raw: dict[str, Any], decision: Decision) -> None:
        meta = raw["metadata"]
        now = datetime.now(UTC).replace(microsecond=0)
        key = (decision.desired_replicas, decision.direction.value, decision.reason.value)
        if decision.direction is not ScaleDirection.HOLD:
            ref = ObjectRef(
                kind=ObjectKind.APPLICATION, namespace=meta["namespace"], name=meta["name"], uid=meta["uid"]
            )
            event = ScaleDecision(
                ref=ref,
                generation=int(meta.get("generation", 0)),
                desired_replicas=decision.desired_replicas,
                current_replicas=decision.current_replicas,
                direction=decision.direction,
                reason=decision.reason.value,
                message=decision.message,
                decided_at=now,
            )
            msg_id = scale_msg_id(ref, event.generation, decision.desired_replicas, time.time_ns())
            await publish(
                self._js, SCALE, SCALE.subject(ref.namespace, ref.name), msg_id, Service.SLO_SCALER.value, event
            )
        if key == tracked.last or _states(raw, decision):
            tracked.last = key
            return
        tracked.last = key
        status: dict[str, Any] = {
            "autoscaling": {
                "desiredReplicas": decision.desired_replicas,
                "lastDecision": {
                    "desiredReplicas": decision.desired_replicas,
                    "direction": decision.direction.value,
                    "reason": decision.reason.value,
                    "message": decision.message,
                    "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            }
        }
        if decision.direction is not ScaleDirection.HOLD:
            status["autoscaling"]["lastScaleTime"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        await self._kube.apply_status(APPLICATIONS, meta["namespace"], meta["name"], status)
        await self._events.record(
            raw, "Normal", f"Scale{decision.direction.value}", f"{decision.reason}: {decision.message}"
        )
        log.info(
            "decision",
            application=f"{meta['namespace']}/{meta['name']}",
            desired=decision.desired_replicas,
            direction=decision.direction.value,
            reason=decision.reason.value,
            message=decision.message,
        )


def _states(raw: dict[str, Any], decision: Decision) -> bool:
    """The application's status already holds this decision (written before a restart, say): no write."""
    status = ((raw.get("status") or {}).get("autoscaling") or {}) if isinstance(raw.get("status"), dict) else {}
    last = status.get("lastDecision") or {}
    return (
        status.get("desiredReplicas") == decision.desired_replicas
        and last.get("direction") == decision.direction.value
        and last.get("reason") == decision.reason.value
        and last.get("message") == decision.message
    )
