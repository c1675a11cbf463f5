"""The planner's shell for ArksEndpoints: read the endpoint, plan its router, publish the plan on
`arks.endpointplan.<ns>.<name>` (the stream keeps the newest per endpoint), remove it when the endpoint goes."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection

import nats.errors
from nats.js import JetStreamContext
from pydantic import ValidationError

from arks_common.api.endpoint import ArksEndpoint
from arks_common.bus.consumer import TemporaryError
from arks_common.bus.jetstream import WrongLastSequence, publish, purge_subject
from arks_common.bus.plans import PUBLISH_ATTEMPTS, newest_endpoint_plan
from arks_common.events.contract import ENDPOINT_PLANS, ENDPOINT_PLANS_STREAM, Service, plan_msg_id
from arks_common.events.partitions import DEFAULT_PARTITIONS
from arks_common.events.payloads import EndpointPlanReady, ObjectKind, ObjectRef
from arks_common.kube.client import Kube, KubeError, Undecodable
from arks_common.kube.events import EventRecorder
from arks_common.kube.reconciling import reconciling
from arks_common.kube.resources import ENDPOINTS
from arks_common.telemetry.logging import get_logger
from arks_planner.adapters.orphan_plans import OrphanPlans
from arks_planner.core.endpoint import EndpointPlanError, RouterSettings, build_endpoint_plan

log = get_logger(__name__)
CONTROLLER = "planner"


class EndpointPlanner:
    def __init__(
        self,
        kube: Kube,
        js: JetStreamContext,
        router: RouterSettings,
        events: EventRecorder,
        partitions: int = DEFAULT_PARTITIONS,
    ) -> None:
        self._kube = kube
        self._js = js
        self._router = router
        self._events = events
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._orphans = OrphanPlans(js, kube, ENDPOINT_PLANS_STREAM, ENDPOINTS, "endpoint", partitions)

    async def recheck_all(self) -> bool:
        """Once at start: every endpoint against this planner's settings (a changed router image re-plans, and an
        endpoint whose newest plan is of an older generation gets one of its own: the deployer reports only such a
        plan), and the plans of endpoints deleted while no planner ran removed, of every partition (the API server
        holds the desired state; the bus only carried the news of the delete, which this planner may never have
        seen). False when the endpoints could not be listed: the caller tries again (no event may ever come)."""
        try:
            last_sequence, planned = await self._orphans.stored()
            endpoints, _ = await self._kube.list(ENDPOINTS, stubs=True)
        except (KubeError, nats.errors.Error) as exc:
            log.warning("start-up endpoint re-check not done; tried again", error=str(exc)[:300])
            return False
        live = {(e["metadata"]["namespace"], e["metadata"]["name"]) for e in endpoints}
        await self._orphans.purge(last_sequence, planned, live)
        for endpoint in endpoints:
            meta = endpoint["metadata"]
            try:
                await self.endpoint_changed(meta["namespace"], meta["name"])
            except (KubeError, TemporaryError, nats.errors.Error) as exc:
                log.warning(
                    "start-up endpoint re-check failed", endpoint=f"{meta['namespace']}/{meta['name']}", error=str(exc)
                )
        return True

    async def sweep_orphans(self, owned: Collection[int]) -> None:
        """On a schedule: the plans of endpoints that no longer exist are removed, as at start, for the partitions
        this replica holds (`owned`): an endpoint deleted while the watcher was down is never told deleted (a
        restarted watcher remembers nothing to tell gone)."""
        await self._orphans.sweep(owned)

    async def endpoint_changed(self, namespace: str, name: str) -> None:
        async with reconciling(CONTROLLER), self._locks[(namespace, name)]:
            try:
                raw = await self._kube.get(ENDPOINTS, namespace, name)
            except Undecodable:
                log.warning("endpoint does not decode", endpoint=f"{namespace}/{name}")
                return
            if raw is None or raw["metadata"].get("deletionTimestamp"):
                sequence, _ = await newest_endpoint_plan(self._js, namespace, name)
                if sequence:
                    await purge_subject(
                        self._js, ENDPOINT_PLANS_STREAM.name, ENDPOINT_PLANS.stored(namespace, name), sequence + 1
                    )
                    log.info("endpoint plan removed", endpoint=f"{namespace}/{name}")
                return
            try:
                endpoint = ArksEndpoint.model_validate(raw)
                plan = build_endpoint_plan(endpoint, self._router)
            except (ValidationError, EndpointPlanError) as exc:
                await self._events.record(raw, "Warning", "EndpointNotPlanned", str(exc)[:1000])
                return
            meta = endpoint.metadata
            ref = ObjectRef(kind=ObjectKind.ENDPOINT, namespace=namespace, name=name, uid=meta.uid)
            ready = EndpointPlanReady(
                ref=ref, generation=meta.generation, plan_hash=plan.plan_hash, objects=plan.objects
            )
            if await self._publish(ready) and self._router.port_problem is not None:
                await self._events.record(raw, "Warning", "RuntimePortsDiffer", self._router.port_problem[:1000])

    async def _publish(self, ready: EndpointPlanReady) -> bool:
        """Publishes the plan unless the stream's newest already is it, or is of a newer generation (this read of the
        endpoint is stale): a compare-and-set on the subject, as application plans are published, so across
        replicas an older generation never replaces a newer one, and an id carrying the predecessor's sequence, so
        a plan that returns (router image 1 -> 2 -> 1) is no duplicate of the first. One for every generation, even
        with the same objects: the deployer reports a generation only from a plan of it. True when it went out."""
        ref = ready.ref
        subject = ENDPOINT_PLANS.subject(ref.namespace, ref.name)
        for _ in range(PUBLISH_ATTEMPTS):
            sequence, last = await newest_endpoint_plan(self._js, ref.namespace, ref.name)
            last = last if last is not None and last.ref.uid == ref.uid else None
            if last is not None and last.generation > ready.generation:
                return False  # a newer generation is planned: its own event brought it
            if last is not None and (last.generation, last.plan_hash) == (ready.generation, ready.plan_hash):
                return False  # already planned: only the status or nothing that matters changed
            msg_id = plan_msg_id(ref, ready.generation, ready.plan_hash, sequence)
            try:
                published = await publish(
                    self._js, ENDPOINT_PLANS, subject, msg_id, Service.PLANNER.value, ready, after_sequence=sequence
                )
            except WrongLastSequence:
                continue  # published meanwhile (another replica): read it and decide again
            if published:
                log.info(
                    "endpoint plan published",
                    endpoint=f"{ref.namespace}/{ref.name}",
                    generation=ready.generation,
                    plan_hash=ready.plan_hash[:12],
                )
            return published  # False: this very message is stored already (a retry after a lost answer)
        raise TemporaryError(f"the plan subject of endpoint {ref.namespace}/{ref.name} kept changing while planning it")
