"""The deployer: applies plans and replica counts, owns Ready, phase, replica counts, finalizer, deletion."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from arks_common.conventions import LABEL_APPLICATION
from arks_common.events.contract import DEPLOYER_ENDPOINT_PLANS, DEPLOYER_OBJECTS, DEPLOYER_PLANS, DEPLOYER_SCALE
from arks_common.kube.client import Kube, KubeError, load_api_client
from arks_common.kube.events import EventRecorder
from arks_common.kube.mirror import mirror
from arks_common.kube.resources import APPLICATIONS, ENDPOINTS, OWNED_KINDS, PODS
from arks_common.runner import ServiceContext
from arks_common.stopping import sleep_unless, unless_stopped
from arks_common.telemetry.logging import get_logger
from arks_deployer.core.endpoint_index import EndpointIndex
from arks_deployer.core.owned_index import missing_objects
from arks_deployer.core.terminating import TerminatingPods, trim_pod
from arks_deployer.endpoints import EndpointReconciler
from arks_deployer.handlers import Handlers
from arks_deployer.off_bus import OffBus
from arks_deployer.owned_cache import OWNED_PAGE, OwnedCache
from arks_deployer.reconcile import Reconciler
from arks_deployer.settings import DeployerSettings

log = get_logger(__name__)
START_LOOK_BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 60.0)
"""Waits between tries of the start-up look's list (about two minutes in all)."""
CONSUMERS = (DEPLOYER_PLANS, DEPLOYER_OBJECTS, DEPLOYER_SCALE, DEPLOYER_ENDPOINT_PLANS)


def make_setup(settings: DeployerSettings) -> Callable[[ServiceContext], Awaitable[Callable[[], Awaitable[None]]]]:
    async def setup(ctx: ServiceContext) -> Callable[[], Awaitable[None]]:
        kube = Kube(await load_api_client(settings.kubeconfig), "arks-deployer")
        ctx.kube = kube  # its partition Leases
        # news of another replica's partition is kept for 4 Lease durations: a take-over waits for the old holder's
        # Lease to run out, and rounds that fail (an API server throttling) are tried again a third of one later
        off_bus = OffBus(settings.bus_partitions, ctx.owned_partitions, 4 * settings.partition_lease_seconds)
        ctx.on_partition_taken(off_bus.taken)
        ctx.on_partition_given(off_bus.given)  # its reconciles there end before the Lease goes to another replica
        cache = OwnedCache(kube, OWNED_KINDS, settings.watch_timeout_seconds, settings.stall_seconds, off_bus.gone)
        ctx.add_task("owned objects cache", cache.run)
        ctx.add_task("objects missing at start", functools.partial(_missing_at_start, kube, cache, off_bus))
        endpoints = EndpointIndex()
        ctx.add_task("endpoints index", functools.partial(_watch_endpoints, kube, endpoints, settings))
        terminating = TerminatingPods(off_bus.pods_changed)
        ctx.add_task("terminating pods", functools.partial(_watch_pods, kube, terminating, settings))
        reconciler = Reconciler(
            kube, ctx.js, EventRecorder(kube, "deployer"), cache, lambda: ctx.partitions_taken, terminating.any
        )
        off_bus.reconciler = reconciler
        handlers = Handlers(reconciler, EndpointReconciler(kube, ctx.js, endpoints))
        for decl in CONSUMERS:
            ctx.consume(decl, handlers.on_event)

        async def close() -> None:
            await off_bus.close()
            await reconciler.close()  # its writes and dry runs in flight, before the client goes
            await kube.close()

        return close

    return setup


async def _missing_at_start(kube: Kube, cache: OwnedCache, off_bus: OffBus, stop: asyncio.Event) -> None:
    """Once the owned objects are listed: every application brought up that lacks an object it must hold (a
    LeaderWorkerSet of a role, its Service, a PD router's account: `missing_objects`) is news. Deleted while neither
    the watcher nor this deployer ran, no event tells it, and the first list knows of nothing to compare (before:
    the application said Running without it until its next change). Read from the cache and the applications'
    list alone: no plan is read for an application that lacks nothing."""
    while not cache.ready():
        await sleep_unless(stop, 0.5)
        if stop.is_set():
            return

    async def look() -> None:
        async for page, _ in kube.list_pages(APPLICATIONS, page_size=OWNED_PAGE):
            for app in page:
                meta = app["metadata"]
                missing = missing_objects(app, cache.index.owned(meta["namespace"], meta["name"]))
                if missing:
                    log.info("missing at start", application=f"{meta['namespace']}/{meta['name']}", missing=missing)
                    off_bus.missing(meta["namespace"], meta["name"])

    for wait in (*START_LOOK_BACKOFF, None):
        try:
            await unless_stopped(stop, look())
            break
        except KubeError as exc:  # an API server busy with every service's start: no application's change may come
            log.warning("applications not listed for objects deleted while away", error=str(exc)[:300], again_in=wait)
            if wait is None:
                break
            await sleep_unless(stop, wait)
            if stop.is_set():
                return
    await stop.wait()  # a task that ends stops the service


async def _watch_endpoints(kube: Kube, index: EndpointIndex, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(kube, "endpoint", ENDPOINTS, index, stop, settings.watch_timeout_seconds, settings.stall_seconds)


async def _watch_pods(kube: Kube, index: TerminatingPods, settings: DeployerSettings, stop: asyncio.Event) -> None:
    await mirror(
        kube,
        "pod",
        PODS,
        index,
        stop,
        settings.watch_timeout_seconds,
        settings.stall_seconds,
        label_selector=LABEL_APPLICATION,
        trim=trim_pod,
        page_size=OWNED_PAGE,  # a pod is as large as a LeaderWorkerSet's template: the owned cache's small pages
    )
